"""Black-box tests of database faults (API.md "Account data and operations"):
connections found dead before a transaction wrote anything are replaced and
the request retried, an unreachable database answers 503 `unavailable` with
Retry-After, /readyz reports a database that cannot commit and a job backlog
(`--jobs-stall-seconds`, gauge plinth_jobs_oldest_queued_seconds), and a
worker-only instance drains that backlog.

The faults are made on PostgreSQL (connections terminated, the database made
read-only or dropped under the server); the backlog checks run on both
engines. Waits poll for the expected state up to a generous deadline, never
for a fixed time.
"""

import signal
import subprocess
import time

import pytest
import requests

import plinth
from plinth import assert_problem, metric_value, parse_metrics
from accounts_util import FAST_ARGON2, register

DEADLINE = 60.0


def wait_for(check, what, deadline=DEADLINE):
    """Polls check() until it returns something other than None or False
    (a Response counts, whatever its status); returns it."""
    end = time.monotonic() + deadline
    while True:
        v = check()
        if v is not None and v is not False:
            return v
        if time.monotonic() > end:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(0.1)


def storage(server):
    env = {"PLINTH_DATABASE_URL": server.pg_url} if server.pg_url else {}
    return ["--data", server.data_dir], env


def gauge(server, name):
    return metric_value(parse_metrics(server.get("/metrics").text), name)


def terminate_connections(server):
    """Ends every connection to the server's database, as a database restart
    does, and waits until those backends are gone (pg_terminate_backend only
    signals them), so no request of the test races with their exit."""
    pids = plinth.psql("SELECT pid FROM pg_stat_activity WHERE datname = '%s' "
                       "AND pid <> pg_backend_pid()" % server.pg_db).split()
    if not pids:
        return
    plinth.psql("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE pid IN (%s)" % ",".join(pids))
    wait_for(lambda: plinth.psql("SELECT count(*) FROM pg_stat_activity WHERE pid IN (%s)"
                                 % ",".join(pids)).strip() == "0",
             "the terminated backends to exit")


def need_postgres(engine):
    if engine != "postgres":
        pytest.skip("PostgreSQL only: the fault is made on the database server")


# --- the job backlog (both engines) --------------------------------------------------------

def test_job_backlog_fails_readyz_until_a_worker_drains_it(make_server):
    s = make_server(args=["--jobs-stall-seconds", "1"], workers=0)
    assert s.get("/readyz").json()["checks"]["jobs"] == "ok"
    assert gauge(s, "plinth_jobs_oldest_queued_seconds") == 0
    args, env = storage(s)
    p = plinth.run_cli(["jobs", "enqueue", "--kind", "noop", "--count", "3"] + args, env=env,
                       timeout=60)
    assert p.returncode == 0, p.stderr

    def stalled():
        r = s.get("/readyz")
        return r if r.status_code == 503 else None
    r = wait_for(stalled, "/readyz to report the backlog")
    assert r.json() == {"status": "unavailable",
                        "checks": {"database": "ok", "migrations": "ok", "jobs": "stalled"}}
    assert gauge(s, "plinth_jobs_oldest_queued_seconds") > 1

    # a worker-only instance on the same storage runs them
    worker = subprocess.Popen([plinth.binary(), "worker", "--workers", "1"] + args,
                              env=plinth.base_env(env), stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: s.get("/readyz").status_code == 200, "the worker to drain the queue")
        assert gauge(s, "plinth_jobs_oldest_queued_seconds") == 0
    finally:
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=60) == 0


# --- PostgreSQL faults ----------------------------------------------------------------------

def test_dead_connections_are_replaced_and_the_request_retried(make_server, engine):
    need_postgres(engine)
    s = make_server(args=FAST_ARGON2, threads=4)
    body = register(s)
    token = body["access_token"]
    # open a connection on every HTTP thread
    for _ in range(20):
        assert s.get("/v1/me", token=token).status_code == 200
        assert s.get("/readyz").status_code == 200
    terminate_connections(s)
    # no request sees the dead connections: reads, writes, unauthenticated routes
    for i in range(30):
        assert s.get("/v1/me", token=token).status_code == 200
        r = s.patch("/v1/me", json={"name": "Renamed %d" % i}, token=token)
        assert r.status_code == 200, r.text
        assert s.get("/readyz").status_code == 200
    assert s.get("/v1/me", token=token).json()["name"] == "Renamed 29"


def test_unreachable_database_answers_503_with_retry_after(make_server, engine):
    need_postgres(engine)
    s = make_server(args=FAST_ARGON2, threads=2)
    token = register(s)["access_token"]
    plinth.psql('DROP DATABASE "%s" WITH (FORCE)' % s.pg_db)
    for _ in range(4):
        r = s.get("/v1/me", token=token)
        assert_problem(r, 503, "unavailable")
        assert int(r.headers["Retry-After"]) >= 1, r.headers
        r = s.post("/v1/auth/login", json={"email": "x@example.com", "password": "y" * 12})
        assert_problem(r, 503, "unavailable")
        assert int(r.headers["Retry-After"]) >= 1, r.headers
    # the routes that need no sign-in answer the same, whichever module serves them
    for method, path, body in (("POST", "/v1/auth/refresh", {"refresh_token": "x" * 43}),
                               ("POST", "/v1/auth/register", {"email": "n@example.com",
                                                              "password": "z" * 14,
                                                              "name": "N"}),
                               ("GET", "/v1/auth/providers", None),
                               ("POST", "/v1/auth/password-reset/request",
                                {"email": "n@example.com"}),
                               ("POST", "/v1/auth/magic-link/request", {"email": "n@example.com"})):
        r = s.request(method, path, json=body)
        assert_problem(r, 503, "unavailable")
        assert int(r.headers["Retry-After"]) >= 1, (path, r.headers)
    assert s.get("/healthz").status_code == 200


def test_readyz_fails_when_the_database_cannot_commit(make_server, engine):
    need_postgres(engine)
    s = make_server(threads=2)
    assert s.get("/readyz").status_code == 200
    plinth.psql('ALTER DATABASE "%s" SET default_transaction_read_only = on' % s.pg_db)
    try:
        terminate_connections(s)

        def refused():
            r = s.get("/readyz")
            return r if r.status_code == 503 else None
        r = wait_for(refused, "/readyz to see the read-only database")
        assert r.json()["checks"]["database"] == "cannot_commit", r.json()
        assert r.json()["status"] == "unavailable"
    finally:
        plinth.psql('ALTER DATABASE "%s" RESET default_transaction_read_only' % s.pg_db)
    terminate_connections(s)
    wait_for(lambda: s.get("/readyz").status_code == 200, "/readyz to recover")


# --- a worker-only instance's metrics ---------------------------------------------------------

def test_worker_metrics_http_counts_the_jobs_it_runs(make_server):
    s = make_server(workers=0)
    args, env = storage(s)
    port = plinth.free_port()
    url = "http://127.0.0.1:%d" % port
    worker = subprocess.Popen([plinth.binary(), "worker", "--workers", "1", "--metrics-http",
                               "127.0.0.1:%d" % port] + args, env=plinth.base_env(env),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        def up():
            try:
                return requests.get(url + "/healthz", timeout=5)
            except requests.RequestException:
                return None
        r = wait_for(up, "the worker's metrics listener")
        assert r.status_code == 200 and r.json() == {"status": "ok"}
        p = plinth.run_cli(["jobs", "enqueue", "--kind", "noop", "--count", "3"] + args,
                           env=env, timeout=60)
        assert p.returncode == 0, p.stderr

        def done():
            text = requests.get(url + "/metrics", timeout=5).text
            v = metric_value(parse_metrics(text), "plinth_jobs_total", kind="noop",
                             outcome="done")
            return v if v == 3 else None
        wait_for(done, "the worker's metrics to count 3 noop jobs")
        r = requests.get(url + "/readyz", timeout=5)
        assert r.status_code == 200, r.text
        assert r.json()["checks"] == {"database": "ok", "migrations": "ok", "jobs": "ok"}
        # the API is not served there
        assert requests.get(url + "/v1/me", timeout=5).status_code == 404
    finally:
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=60) == 0
