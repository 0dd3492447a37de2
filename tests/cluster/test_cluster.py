"""The cluster test: plinth as a scaled-out deployment on loopback.

Two API instances (`plinth serve --workers 0`) and one job worker (`plinth
worker`) on one PostgreSQL database, behind Debian's nginx (the configuration
docs/deploy.md shows). It checks what only several instances can show:

- a session revoked through one instance is refused by the other at once;
- a flag change made through one instance is seen by the other;
- 5,000 jobs run exactly once while the worker is killed with SIGKILL and
  restarted: none is lost, none ends dead, and none is done twice (the drill
  kind is transactional: a job the kill interrupted rolls back with its claim,
  so every job ends with one attempt);
- a rolling restart (SIGTERM one instance, start it, then the other) under
  continuous load through nginx loses no request.

Needs PLINTH_TEST_PG_ADMIN_URL (tests/run's cluster phase starts PostgreSQL)
and /usr/sbin/nginx. Waits poll for the expected state up to generous
deadlines; nothing depends on the machine being fast.
"""

import collections
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid

import pytest
import requests

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "api"))

import plinth  # noqa: E402

NGINX = "/usr/sbin/nginx"
FAST_ARGON2 = ["--argon2-memory", "65536", "--argon2-ops", "1"]
PASSWORD = "correct horse battery staple"
NOOP_DONE = re.compile(r"job noop (\S+) done")
JOBS = 5000

NGINX_CONF = """\
{user}worker_processes 1;
error_log {dir}/error.log warn;
pid {dir}/nginx.pid;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;

    upstream plinth {{
        server 127.0.0.1:{a} max_fails=0;
        server 127.0.0.1:{b} max_fails=0;
        keepalive 32;
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://plinth;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            # an instance that is stopping refuses connections: the request
            # goes to the other one (it never reached the first)
            proxy_next_upstream error timeout non_idempotent;
            proxy_buffering off;
            proxy_read_timeout 3600s;
        }}
    }}
}}
"""


def wait_for(check, what, deadline=60.0, interval=0.05):
    end = time.monotonic() + deadline
    while True:
        v = check()
        if v is not None and v is not False:
            return v
        if time.monotonic() > end:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(interval)


class Nginx:
    def __init__(self, port, a, b):
        self.dir = tempfile.mkdtemp(prefix="plinth-nginx-")
        self.port = port
        self.url = "http://127.0.0.1:%d" % self.port
        user = "user root;\n" if os.geteuid() == 0 else ""
        with open(os.path.join(self.dir, "nginx.conf"), "w") as f:
            f.write(NGINX_CONF.format(user=user, dir=self.dir, a=a, b=b, port=self.port))
        self.proc = subprocess.Popen(
            [NGINX, "-p", self.dir, "-c", os.path.join(self.dir, "nginx.conf"), "-g",
             "daemon off;"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(self.up, "nginx to listen", deadline=30)

    def up(self):
        try:
            requests.get(self.url + "/healthz", timeout=2)
            return True
        except requests.RequestException:
            return self.proc.poll() is None and None

    def close(self):
        self.proc.send_signal(signal.SIGQUIT)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


class Worker:
    """`plinth worker` on the cluster's database, its log in a file."""

    def __init__(self, cluster, n):
        self.log_path = os.path.join(cluster.tmp, "worker-%d.log" % n)
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [plinth.binary(), "worker", "--workers", "2", "--data", cluster.data_dir],
            env=plinth.base_env(cluster.env), stdout=self.log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL)

    def ran(self):
        with open(self.log_path, encoding="utf-8", errors="replace") as f:
            return NOOP_DONE.findall(f.read())

    def kill(self):
        self.proc.kill()
        self.proc.wait()
        self.log.close()

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout=60)
        self.log.close()
        return rc


class Cluster:
    def __init__(self):
        self.db, self.db_url = plinth.create_database()
        self.tmp = tempfile.mkdtemp(prefix="plinth-cluster-")
        self.data_dir = os.path.join(self.tmp, "data")  # shared by the CLI commands
        # the address clients use (the access tokens' issuer) and the keys
        # every instance shares, as a deployment sets them
        self.port = plinth.free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        self.env = {
            "PLINTH_PUBLIC_API_URL": self.url,
            "PLINTH_DATABASE_URL": self.db_url,
            "PLINTH_JWT_SECRET": secrets.token_hex(32),
            "PLINTH_MASTER_KEY": secrets.token_hex(32),
            "PLINTH_TRUSTED_PROXIES": "127.0.0.1/32",
        }
        p = plinth.run_cli(["migrate", "--data", self.data_dir], env=self.env, timeout=60)
        assert p.returncode == 0, p.stderr
        self.api = [plinth.Server(args=FAST_ARGON2, env=self.env, workers=0, threads=4,
                                  start=False) for _ in range(2)]
        for s in self.api:
            s.start()
        self.nginx = Nginx(self.port, self.api[0].port, self.api[1].port)
        self.workers = []

    def worker(self):
        w = Worker(self, len(self.workers))
        self.workers.append(w)
        return w

    def psql(self, sql):
        admin = urllib.parse.urlsplit(plinth.admin_url()).username
        return plinth.psql(sql, url=plinth.db_url(self.db, user=admin)).strip()

    def close(self):
        problems = []
        for w in self.workers:
            if w.proc.poll() is None:
                w.stop()
        self.nginx.close()
        for s in self.api:
            problems += s.close()
        plinth.drop_database(self.db)
        shutil.rmtree(self.tmp, ignore_errors=True)
        return problems


@pytest.fixture(scope="module")
def cluster():
    if not os.environ.get("PLINTH_TEST_PG_ADMIN_URL"):
        pytest.skip("the cluster runs on PostgreSQL: set PLINTH_TEST_PG_ADMIN_URL")
    if not os.access(NGINX, os.X_OK):
        pytest.skip("nginx is not installed (scripts/install-deps)")
    c = Cluster()
    try:
        yield c
    finally:
        problems = c.close()
        if problems:
            pytest.fail("\n\n".join(problems), pytrace=False)


def bearer(token):
    return {"Authorization": "Bearer " + token}


def register(url):
    email = "cluster-%s@example.com" % uuid.uuid4().hex[:12]
    r = requests.post(url + "/v1/auth/register",
                      json={"email": email, "password": PASSWORD, "name": "Cluster"}, timeout=30)
    assert r.status_code == 201, r.text
    return email, r.json()


# --- the checks -----------------------------------------------------------------------------

def test_a_session_revoked_on_one_instance_is_refused_by_the_other(cluster):
    a, b = cluster.api
    email, body = register(cluster.url)
    r = requests.post(a.url + "/v1/auth/login", json={"email": email, "password": PASSWORD},
                      timeout=30)
    assert r.status_code == 200, r.text
    token = r.json()["access_token"]
    for s in (a, b):
        assert requests.get(s.url + "/v1/me", headers=bearer(token), timeout=30).status_code == 200
    # revoked through B, refused by A with no wait
    r = requests.post(b.url + "/v1/auth/logout", json={}, headers=bearer(token), timeout=30)
    assert r.status_code == 204, r.text
    r = requests.get(a.url + "/v1/me", headers=bearer(token), timeout=30)
    assert r.status_code == 401 and r.json()["code"] == "session_revoked", r.text
    # the other session of the account is untouched everywhere
    other = body["access_token"]
    for s in (a, b):
        assert requests.get(s.url + "/v1/me", headers=bearer(other), timeout=30).status_code == 200


def test_a_flag_change_is_seen_by_every_instance(cluster):
    a, b = cluster.api
    admin = "cluster-admin-%s@example.com" % uuid.uuid4().hex[:8]
    p = plinth.run_cli(["admin", "create", "--email", admin, "--data", cluster.data_dir]
                       + FAST_ARGON2, env=cluster.env, input=PASSWORD + "\n", timeout=60)
    assert p.returncode == 0, p.stderr
    r = requests.post(cluster.url + "/v1/auth/login",
                      json={"email": admin, "password": PASSWORD}, timeout=30)
    assert r.status_code == 200, r.text
    admin_token = r.json()["access_token"]
    _, body = register(cluster.url)
    org, token = body["organization"]["id"], body["access_token"]
    key = "cluster-%s" % uuid.uuid4().hex[:8]

    def seen(enabled):
        r = requests.get(b.url + "/v1/orgs/%s/flags" % org, headers=bearer(token), timeout=30)
        assert r.status_code == 200, r.text
        return True if r.json()["flags"].get(key, False) == enabled else None

    for enabled in (True, False, True):
        r = requests.put(a.url + "/v1/admin/flags/" + key, headers=bearer(admin_token),
                         json={"description": "cluster check", "enabled": enabled,
                               "rollout_percent": 100}, timeout=30)
        assert r.status_code in (200, 201), r.text
        t0 = time.monotonic()
        wait_for(lambda: seen(enabled), "instance B to see %s=%s" % (key, enabled),
                 deadline=30)
        print("flag %s=%s seen by the other instance after %.3f s"
              % (key, enabled, time.monotonic() - t0))


def test_jobs_run_once_across_a_killed_worker(cluster):
    p = plinth.run_cli(["jobs", "enqueue", "--kind", "noop", "--count", str(JOBS), "--data",
                        cluster.data_dir], env=cluster.env, timeout=120)
    assert p.returncode == 0, p.stderr
    first = cluster.worker()
    wait_for(lambda: len(first.ran()) >= JOBS // 10, "the worker to run some jobs",
             deadline=300)
    first.kill()
    killed_ran = collections.Counter(first.ran())
    second = cluster.worker()

    def all_done():
        out = cluster.psql("SELECT status || ' ' || count(*) FROM jobs WHERE kind = 'noop' "
                           "GROUP BY status")
        counts = dict(line.split() for line in out.splitlines() if line.strip())
        return counts if counts == {"done": str(JOBS)} else None
    # a job the kill interrupted was rolled back with its claim: queued as before
    wait_for(all_done, "every job to be done", deadline=600, interval=0.5)
    assert second.stop() == 0
    again = collections.Counter(second.ran())
    ids = cluster.psql("SELECT id FROM jobs WHERE kind = 'noop'").split()
    assert len(ids) == JOBS
    assert all(c == 1 for c in killed_ran.values()), "a job done twice in one worker"
    assert all(c == 1 for c in again.values()), "a job done twice in one worker"
    assert not set(killed_ran) & set(again), "a job done by both workers"
    assert (set(killed_ran) | set(again)) <= set(ids)
    # every job is logged done once, except one whose commit the kill caught
    # before its log line (at most one per job thread)
    assert len(set(ids) - set(killed_ran) - set(again)) <= 2
    attempts = cluster.psql("SELECT attempts || ' ' || count(*) FROM jobs WHERE kind = 'noop' "
                            "GROUP BY attempts")
    assert attempts.split() == ["1", str(JOBS)], attempts
    dead = cluster.psql("SELECT count(*) FROM jobs WHERE status = 'dead'")
    assert dead == "0"


def test_rolling_restart_under_load_loses_no_request(cluster):
    _, body = register(cluster.url)
    token = body["access_token"]
    stop = threading.Event()
    results = collections.Counter()
    failures = []
    lock = threading.Lock()

    def load(i):
        session = requests.Session()
        n = 0
        while not stop.is_set():
            n += 1
            try:
                if n % 5 == 0:
                    r = session.patch(cluster.url + "/v1/me", json={"name": "L%d-%d" % (i, n)},
                                      headers=bearer(token), timeout=60)
                else:
                    r = session.get(cluster.url + "/v1/me", headers=bearer(token), timeout=60)
                code = r.status_code
            except requests.RequestException as e:
                code = "error: %s" % type(e).__name__
            with lock:
                results[code] += 1
                if code != 200 and len(failures) < 20:
                    failures.append(code)

    threads = [threading.Thread(target=load, args=(i,), daemon=True) for i in range(4)]
    for t in threads:
        t.start()
    try:
        wait_for(lambda: results[200] >= 200 or None, "load to start", deadline=60)
        for s in cluster.api:
            before = results[200]
            assert s.stop(signal.SIGTERM, timeout=60) == 0
            wait_for(lambda: results[200] >= before + 100 or None,
                     "requests to flow through the other instance", deadline=60)
            s.start()
            before = results[200]
            wait_for(lambda: results[200] >= before + 100 or None,
                     "requests after the restart", deadline=60)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=120)
    print("rolling restart: %r" % dict(results))
    assert set(results) == {200}, failures
