"""plinth.py - start the real plinth binary for black-box tests.

    with Server(args=["--max-body", "1024"]) as s:
        r = s.get("/healthz")

The binary is $PLINTH_BIN (default build/plinth under the repository root). When
$PLINTH_TEST_PG_ADMIN_URL is set (see scripts/pg-start) every server gets a
fresh PostgreSQL database through psql, otherwise SQLite in a fresh --data dir.
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.parse
import uuid

import requests

import contract

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PSQL = "/usr/bin/psql"

# Markers that make a test fail when they show up in a server's output.
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "runtime error:", "LeakSanitizer")


def binary():
    """Absolute path of the plinth binary under test."""
    b = os.environ.get("PLINTH_BIN") or os.path.join(ROOT, "build", "plinth")
    return os.path.abspath(b)


_sanitized = None


def sanitized():
    """True when the binary under test is a sanitizer build (ASan/UBSan): the
    heaviest tests (thousands of connections, floods) skip it."""
    global _sanitized
    if _sanitized is None:
        try:
            with open(binary(), "rb") as f:
                _sanitized = b"AddressSanitizer" in f.read()
        except OSError:
            _sanitized = False
    return _sanitized


def engine():
    """'postgres' when the suite runs against PostgreSQL, else 'sqlite'."""
    return "postgres" if os.environ.get("PLINTH_TEST_PG_ADMIN_URL") else "sqlite"


def free_port():
    """A loopback TCP port that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def closed_port():
    """A loopback port with (very likely) nothing listening on it."""
    return free_port()


def base_env(extra=None):
    """os.environ without any PLINTH_* variable, plus extra."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLINTH_")}
    if extra:
        env.update({k: str(v) for k, v in extra.items()})
    return env


def sanitizer_report(text):
    """The first sanitizer marker found in text, or None."""
    for m in SANITIZER_MARKERS:
        if m in text:
            return m
    return None


# --- PostgreSQL -----------------------------------------------------------

def admin_url():
    return os.environ["PLINTH_TEST_PG_ADMIN_URL"]


# plinth connects as an ordinary role that owns its database, as in production:
# PostgreSQL superusers bypass row-level security, so the tenant policies are
# only exercised for a non-superuser.
APP_ROLE = "plinth_app"


def db_url(name, user=APP_ROLE):
    """The URL of database `name` on the test cluster, as `user`."""
    u = urllib.parse.urlsplit(admin_url())
    host = u.netloc.split("@", 1)[-1]
    return urllib.parse.urlunsplit((u.scheme, "%s@%s" % (user, host), "/" + name, "", ""))


def psql(sql, url=None, check=True):
    """Runs sql through psql on url (default: the admin database). Returns stdout."""
    p = subprocess.run(
        [PSQL, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", url or admin_url(), "-c", sql],
        capture_output=True, text=True, timeout=60,
        env=base_env({"PGCONNECT_TIMEOUT": "10"}))
    if check and p.returncode != 0:
        raise RuntimeError("psql failed (%d): %s\n%s" % (p.returncode, sql, p.stderr))
    return p.stdout


def create_database():
    """Creates a fresh database; returns (name, url)."""
    name = "plinth_t_" + uuid.uuid4().hex[:16]
    psql("DO $$ BEGIN CREATE ROLE %s LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$"
         % APP_ROLE)
    psql('CREATE DATABASE "%s" OWNER %s' % (name, APP_ROLE))
    return name, db_url(name)


def drop_database(name):
    psql('DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % name, check=False)


# --- the server -----------------------------------------------------------

class ServerError(Exception):
    pass


class Server:
    """One plinth process.

    args: extra command-line arguments after `serve ...`; env: extra environment.
    http_flag / data_flag: pass --http / --data (tests of the env vars and the
    defaults turn them off and provide PLINTH_HTTP or a cwd instead).
    """

    def __init__(self, args=(), env=None, http_flag=True, data_flag=True, cwd=None,
                 threads=4, workers=1, start=True, port=None):
        self.args = list(args)
        self.extra_env = dict(env or {})
        self.http_flag = http_flag
        self.data_flag = data_flag
        self.cwd = cwd
        self.threads = threads
        self.workers = workers
        self.port = port or free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        self.pg_db = None
        self.pg_url = None
        if engine() == "postgres":
            self.pg_db, self.pg_url = create_database()
        self.tmp = tempfile.mkdtemp(prefix="plinth-api-")
        self.data_dir = os.path.join(self.tmp, "data")
        self.log_path = os.path.join(self.tmp, "server.log")
        self.proc = None
        self.session = None
        self.exit_codes = []      # exit code of every stop() so far
        self.check_exit = True    # teardown fails on a non-zero exit after SIGTERM
        self.contract_errors = []  # contract violations seen by request_once
        if start:
            self.start()

    # -- lifecycle --

    def command(self):
        cmd = [binary(), "serve"]
        if self.http_flag:
            cmd += ["--http", "127.0.0.1:%d" % self.port]
        if self.data_flag:
            cmd += ["--data", self.data_dir]
        if self.threads is not None:
            cmd += ["--threads", str(self.threads)]
        if self.workers is not None:
            cmd += ["--workers", str(self.workers)]
        return cmd + self.args

    # The suite registers and resets from 127.0.0.1 far more often than a
    # person would: no per-address hourly limits unless a test sets them.
    UNLIMITED = {"PLINTH_REGISTER_LIMIT": "0", "PLINTH_RESET_LIMIT": "0",
                 "PLINTH_VERIFY_LIMIT": "0", "PLINTH_INVITE_LIMIT": "0",
                 "PLINTH_INVITE_RECIPIENT_LIMIT": "0"}

    def environment(self):
        extra = dict(self.UNLIMITED)
        if self.pg_url:
            extra["PLINTH_DATABASE_URL"] = self.pg_url
        extra.update(self.extra_env)
        return base_env(extra)

    def start(self, wait=True):
        assert self.proc is None or self.proc.poll() is not None
        with open(self.log_path, "ab") as log:
            log.write(b"=== plinth start: %s\n" % " ".join(self.command()).encode())
            log.flush()
            self.proc = subprocess.Popen(
                self.command(), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=self.environment(), cwd=self.cwd or self.tmp)
        self._reaped = False
        self.session = requests.Session()
        if wait:
            try:
                self.wait_ready()
            except ServerError:
                self._reaped = True   # already reported by the exception
                raise
        return self

    def wait_ready(self, timeout=10.0):
        """Polls GET /healthz every 20 ms until it answers 200."""
        deadline = time.monotonic() + timeout
        while True:
            code = self.proc.poll()
            if code is not None:
                raise ServerError("plinth exited with %d during start:\n%s"
                                  % (code, self.log_tail()))
            try:
                r = requests.get(self.url + "/healthz", timeout=1)
                if r.status_code == 200:
                    return
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise ServerError("plinth did not answer /healthz within %.0f s:\n%s"
                                  % (timeout, self.log_tail()))
            time.sleep(0.02)

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def send_signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, sig=signal.SIGTERM, timeout=30.0):
        """Sends sig, waits up to timeout (the default --shutdown-timeout: a server may
        finish in-flight work that long); returns the exit code (-9 if it had to be
        killed). Idempotent: a stopped server returns its last exit code."""
        if self.session is not None:
            self.session.close()
            self.session = None
        if self.proc is None:
            return None
        if self.proc.poll() is not None and not self._reaped:
            # It exited without being asked to: a crash or an unexpected exit.
            self._reaped = True
            self.exit_codes.append("exited by itself with status %d" % self.proc.returncode)
            return self.proc.returncode
        if self.proc.poll() is None:
            self._reaped = True
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                self.exit_codes.append("killed: no exit within %.0f s of signal %d"
                                       % (timeout, sig))
                return -9
            self.exit_codes.append(self.proc.returncode)
        return self.proc.returncode

    def restart(self, wait=True):
        """Stops (SIGTERM) and starts again on the same port, data dir and database."""
        self.stop()
        return self.start(wait=wait)

    def close(self):
        """Stops the server, drops its database, removes its files. Returns a list
        of problems (sanitizer reports, bad exit codes) for the caller to fail on."""
        problems = []
        try:
            self.stop()
        finally:
            text = self.log()
            marker = sanitizer_report(text)
            if marker:
                problems.append("sanitizer report (%s) in server log:\n%s"
                                % (marker, self.log_tail(200)))
            problems += self.contract_errors
            if self.check_exit:
                bad = [c for c in self.exit_codes if c != 0]
                if bad:
                    problems.append("plinth exit status after SIGTERM/SIGINT: %r (want 0):\n%s"
                                    % (bad, self.log_tail()))
            if self.pg_db:
                drop_database(self.pg_db)
            if problems:
                keep = os.environ.get("PLINTH_TEST_KEEP_LOGS")
                if keep:
                    os.makedirs(keep, exist_ok=True)
                    shutil.copy(self.log_path, os.path.join(
                        keep, "server-%d-%d.log" % (self.port, int(time.time()))))
            shutil.rmtree(self.tmp, ignore_errors=True)
        return problems

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        problems = self.close()
        if problems and exc[0] is None:
            raise ServerError("\n".join(problems))

    # -- logs --

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, n=60):
        return "\n".join(self.log().splitlines()[-n:])

    # -- HTTP --

    def request(self, method, path, json=None, token=None, headers=None, timeout=10, **kw):
        """Sends one request and checks the response against openapi.yaml (see
        contract.py): an undocumented status, media type or body fails the test."""
        h = dict(headers or {})
        if token is not None:
            h["Authorization"] = "Bearer " + token
        if self.session is None:
            self.session = requests.Session()
        r = self.session.request(method, self.url + path, json=json, headers=h,
                                 timeout=timeout, **kw)
        contract.check(method, path, r)
        return r

    def request_once(self, method, path, json=None, token=None, headers=None, timeout=10,
                     **kw):
        """Like request, on a connection of its own: safe from several threads at once.
        A contract violation raises and is also reported when the server closes, since
        an exception in a thread alone does not fail the test."""
        h = dict(headers or {})
        if token is not None:
            h["Authorization"] = "Bearer " + token
        r = requests.request(method, self.url + path, json=json, headers=h, timeout=timeout,
                             **kw)
        try:
            contract.check(method, path, r)
        except contract.ContractError as e:
            self.contract_errors.append(str(e))
            raise
        return r

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, **kw):
        return self.request("POST", path, **kw)

    def patch(self, path, **kw):
        return self.request("PATCH", path, **kw)

    def put(self, path, **kw):
        return self.request("PUT", path, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)

    def options(self, path, **kw):
        return self.request("OPTIONS", path, **kw)


def run_cli(args, env=None, cwd=None, timeout=10, input=None):
    """Runs `plinth ARGS` to completion with a clean PLINTH_* environment plus env.
    Returns the CompletedProcess (text). Raises AssertionError on a sanitizer
    report or on a timeout (a CLI command that should exit must not hang)."""
    try:
        p = subprocess.run([binary()] + list(args), capture_output=True, text=True,
                           env=base_env(env), cwd=cwd, timeout=timeout, input=input,
                           errors="replace")
    except subprocess.TimeoutExpired as e:
        raise AssertionError("plinth %s did not exit within %s s (stderr: %r)"
                             % (" ".join(args), timeout, e.stderr)) from None
    marker = sanitizer_report(p.stdout + p.stderr)
    assert marker is None, "sanitizer report (%s):\n%s" % (marker, p.stderr)
    return p


_PROBLEM_KEYS = {"type", "title", "status", "code", "detail", "request_id"}


def assert_problem(r, status, code):
    """Asserts r is an application/problem+json error with this status and code,
    carrying the API.md fields and request_id == X-Request-Id. Returns the body."""
    assert r.status_code == status, (r.status_code, r.text)
    ct = r.headers.get("Content-Type", "")
    assert ct.split(";")[0].strip() == "application/problem+json", ct
    body = r.json()
    missing = _PROBLEM_KEYS - set(body)
    assert not missing, "problem body lacks %s: %r" % (sorted(missing), body)
    assert body["code"] == code, body
    assert body["status"] == status, body
    assert body["type"] == "urn:plinth:error:" + code, body
    assert isinstance(body["title"], str) and body["title"], body
    assert isinstance(body["detail"], str), body
    assert body["request_id"] == r.headers.get("X-Request-Id"), (body, r.headers)
    return body


_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+\S+)?$')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?\s*')


def parse_metrics(text):
    """Prometheus text format -> list of (name, {label: value}, float)."""
    out = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        if not m:
            raise AssertionError("unparseable metrics line: %r" % line)
        labels = {}
        if m.group(3):
            pos = 0
            s = m.group(3)
            while pos < len(s):
                lm = _LABEL.match(s, pos)
                if not lm:
                    raise AssertionError("bad labels in metrics line: %r" % line)
                labels[lm.group(1)] = lm.group(2)
                pos = lm.end()
        out.append((m.group(1), labels, float(m.group(4))))
    return out


def metric_value(samples, name, **labels):
    """The value of the sample name{labels} whose label set is exactly labels, or None."""
    for n, l, v in samples:
        if n == name and all(l.get(k) == val for k, val in labels.items()) \
                and set(l) == set(labels):
            return v
    return None


# --- the route table ------------------------------------------------------

def routes():
    """The route table the binary assembles from its modules (`plinth routes`):
    a list of dicts with method, path, auth (none|user|admin|org), perm (None
    when the route names none), module, json (the body must be an object) and
    hashing (the route runs on the password hashing pool)."""
    out = subprocess.run([binary(), "routes"], capture_output=True, text=True, timeout=30,
                         env=base_env(), check=True).stdout
    lines = out.splitlines()
    assert lines and lines[0].startswith("METHOD"), out[:200]
    table = []
    for line in lines[1:]:
        method, path, auth, perm, module, flags = line.split()
        table.append({"method": method, "path": path, "auth": auth,
                      "perm": None if perm == "-" else perm, "module": module,
                      "json": "json" in flags.split(","),
                      "hashing": "hashing" in flags.split(","),
                      "flags": [] if flags == "-" else flags.split(",")})
    return table
