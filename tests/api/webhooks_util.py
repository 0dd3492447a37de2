"""Helpers for the webhook tests: a receiver (tests/api/webhook_receiver.js, on
Node.js) that verifies every delivery with the npm `standardwebhooks` package,
and waits on conditions with generous deadlines.

    rx = Receiver().start()
    rx.configure("a", secrets=[secret], script=[500, 500, 500])
    ... create an endpoint with url rx.url("a") ...
    d = rx.wait_for("a", lambda ds: len(ds) >= 4)
"""

import json
import os
import subprocess
import time

import pytest
import requests

import plinth

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(HERE, "webhook_receiver.js")
NODE_DEPS = os.path.join(plinth.ROOT, "scripts", "test-node-deps")

_node_path = None


def node_path():
    """NODE_PATH of the pinned test-only npm packages (installed once)."""
    global _node_path
    if _node_path is None:
        p = subprocess.run([NODE_DEPS], capture_output=True, text=True, timeout=900)
        assert p.returncode == 0, p.stderr
        _node_path = p.stdout.strip()
    return _node_path


class Receiver:
    def __init__(self):
        self.proc = None
        self.port = None
        self.base = None
        self.http = requests.Session()

    def start(self):
        env = plinth.base_env({"NODE_PATH": node_path()})
        self.proc = subprocess.Popen(["node", SCRIPT], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                                     env=env, text=True)
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("webhook receiver did not start: %s" % self.proc.stderr.read())
        self.port = json.loads(line)["port"]
        self.base = "http://127.0.0.1:%d" % self.port
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.http.close()

    def url(self, name):
        return "%s/hooks/%s" % (self.base, name)

    def configure(self, name, **kw):
        """secrets=[whsec_...], script=[status, ...] (answered in turn, then
        status), status=200, delay_ms=0, body_bytes=0."""
        body = dict(kw, name=name)
        r = self.http.post(self.base + "/_control/config", json=body, timeout=10)
        assert r.status_code == 204, r.text

    def received(self, name):
        r = self.http.get(self.base + "/_control/received", params={"name": name}, timeout=10)
        assert r.status_code == 200, r.text
        return r.json()

    def wait_for(self, name, cond=None, timeout=30.0, what=None):
        """Polls until cond(deliveries) holds (default: at least one); returns
        the deliveries. Fails with what it has after timeout seconds."""
        cond = cond or (lambda ds: len(ds) >= 1)
        deadline = time.monotonic() + timeout
        while True:
            ds = self.received(name)
            if cond(ds):
                return ds
            if time.monotonic() > deadline:
                raise AssertionError("receiver %r: %s not reached within %.0f s; got %r"
                                     % (name, what or "condition", timeout,
                                        [(d["id"], d["answered"],
                                          json.loads(d["body"]).get("type")) for d in ds]))
            time.sleep(0.05)


def wait_until(fn, timeout=30.0, interval=0.1, what="condition"):
    """Calls fn until it returns a truthy value; returns it. AssertionError with
    the last value after timeout seconds."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = fn()
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError("%s not reached within %.0f s (last: %r)" % (what, timeout, last))
        time.sleep(interval)


@pytest.fixture(scope="module")
def receiver():
    rx = Receiver().start()
    try:
        yield rx
    finally:
        rx.stop()
