"""Black-box tests of the durable job queue (issue 4): `plinth jobs enqueue`,
`plinth worker`, the admin job routes, dead jobs and retries, metrics, and
exactly-once execution across processes sharing one PostgreSQL database."""

import collections
import os
import re
import signal
import subprocess
import time
import uuid

import pytest

import plinth
from plinth import assert_problem, metric_value, parse_metrics
from accounts_util import (FAST_ARGON2, TIME_RE, admin_create, db_scalar, login_ok, register,
                           unique_email)

ADMIN_PASSWORD = "admin passphrase for job tests"
JOB_KEYS = {"id", "kind", "status", "attempts", "max_attempts", "run_at", "last_error",
            "created_at", "updated_at", "finished_at"}
NOOP_RAN = re.compile(r"job noop (\S+) done")


# --- helpers ---------------------------------------------------------------------------------

def storage_args(server):
    """(args, env) that point a CLI command at server's storage."""
    env = {"PLINTH_DATABASE_URL": server.pg_url} if server.pg_url else {}
    return ["--data", server.data_dir], env


def enqueue(server, kind, count, max_attempts=None):
    args, env = storage_args(server)
    cmd = ["jobs", "enqueue", "--kind", kind, "--count", str(count)] + args
    if max_attempts is not None:
        cmd += ["--max-attempts", str(max_attempts)]
    p = plinth.run_cli(cmd, env=env, timeout=60)
    assert p.returncode == 0, (p.returncode, p.stdout, p.stderr)
    assert p.stdout.startswith("enqueued %d " % count), p.stdout
    return p


def make_admin(server):
    addr = unique_email("jobadmin")
    p = admin_create(server, addr, ADMIN_PASSWORD)
    assert p.returncode == 0, (p.returncode, p.stdout, p.stderr)
    return login_ok(server, addr, ADMIN_PASSWORD)["access_token"]


def list_jobs(server, token, status=None, limit=200):
    """Every job of the listing (following next_cursor)."""
    out, cursor = [], None
    for _ in range(10000):
        q = {"limit": limit}
        if status:
            q["status"] = status
        if cursor:
            q["cursor"] = cursor
        r = server.get("/v1/admin/jobs", token=token, params=q)
        assert r.status_code == 200, r.text
        body = r.json()
        assert set(body) == {"data", "next_cursor"}, body
        assert len(body["data"]) <= limit, len(body["data"])
        for j in body["data"]:
            if status:
                assert j["status"] == status, j
        out += body["data"]
        cursor = body["next_cursor"]
        if cursor is None:
            return out
    raise AssertionError("pagination does not end")


def poll(fn, timeout, what, interval=0.1):
    """Calls fn until it returns a truthy value; returns it. AssertionError after timeout."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = fn()
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.0f s waiting for %s (last: %r)"
                                 % (timeout, what, last))
        time.sleep(interval)


def job_counts(server):
    """{status: count} straight from the database."""
    out = {}
    for st in ("queued", "running", "done", "dead"):
        out[st] = int(db_scalar(server, "SELECT count(*) FROM jobs WHERE kind = 'noop' AND "
                                        "status = '%s'" % st))
    return out


class Worker:
    """A `plinth worker` process on a server's storage."""

    def __init__(self, server, workers=2):
        self.server = server
        self.log_path = os.path.join(server.tmp, "worker-%s.log" % uuid.uuid4().hex[:8])
        args, env = storage_args(server)
        self.cmd = [plinth.binary(), "worker"] + args
        if workers is not None:
            self.cmd += ["--workers", str(workers)]
        self.env = plinth.base_env(env)
        self.proc = None

    def start(self):
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(self.cmd, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, env=self.env,
                                         cwd=self.server.tmp)
        return self

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def stop(self, timeout=10):
        """SIGTERM; returns the exit code (None if it had to be killed)."""
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None


@pytest.fixture
def workers():
    started = []

    def make(server, n=2):
        w = Worker(server, n).start()
        started.append(w)
        return w

    yield make
    for w in started:
        if w.proc and w.proc.poll() is None:
            w.proc.kill()
            w.proc.wait()


# --- fixtures --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def srv(make_module_server):
    return make_module_server(args=FAST_ARGON2, workers=2)


@pytest.fixture(scope="module")
def admin(srv):
    return make_admin(srv)


# --- readiness, access, validation -------------------------------------------------------------

def test_readyz_reports_jobs(srv):
    r = srv.get("/readyz")
    assert r.status_code == 200, r.text
    assert r.json()["checks"]["jobs"] == "ok", r.json()


def test_admin_jobs_requires_instance_admin(srv):
    assert_problem(srv.get("/v1/admin/jobs"), 401, "unauthenticated")
    user = register(srv, unique_email("plain"))["access_token"]
    assert_problem(srv.get("/v1/admin/jobs", token=user), 403, "forbidden")
    assert_problem(srv.get("/v1/admin/jobs?status=dead", token=user), 403, "forbidden")
    assert_problem(srv.post("/v1/admin/jobs/%s/retry" % uuid.uuid4(), token=user), 403,
                   "forbidden")
    assert_problem(srv.post("/v1/admin/jobs/%s/retry" % uuid.uuid4()), 401, "unauthenticated")


@pytest.mark.parametrize("status", ["bogus", "DONE", "failed", ""])
def test_admin_jobs_bad_status(srv, admin, status):
    r = srv.get("/v1/admin/jobs", token=admin, params={"status": status})
    if status == "":
        # An empty filter may mean "no filter"; it must not be a server error.
        assert r.status_code in (200, 400), r.text
        return
    assert_problem(r, 400, "bad_request")


def test_admin_jobs_bad_cursor(srv, admin):
    r = srv.get("/v1/admin/jobs", token=admin, params={"cursor": "not-a-cursor"})
    assert r.status_code in (400, 422), r.text
    assert r.json()["code"] in ("bad_request", "validation_failed"), r.text


@pytest.mark.parametrize("limit", ["0", "201", "-1", "ten"])
def test_admin_jobs_bad_limit(srv, admin, limit):
    assert_problem(srv.get("/v1/admin/jobs", token=admin, params={"limit": limit}), 400,
                   "bad_request")


@pytest.mark.parametrize("args", [
    ["--kind", "bogus", "--count", "1"],
    ["--kind", "noop", "--count", "0"],
    ["--kind", "noop", "--count", "-3"],
    ["--kind", "noop", "--count", "many"],
    ["--count", "1"],
])
def test_jobs_enqueue_cli_rejects_bad_arguments(srv, args):
    sargs, env = storage_args(srv)
    p = plinth.run_cli(["jobs", "enqueue"] + args + sargs, env=env)
    assert p.returncode != 0, (p.stdout, p.stderr)
    assert not p.stdout.startswith("enqueued"), p.stdout
    assert p.stderr.strip(), "no error message"


def test_jobs_cli_requires_subcommand(srv):
    sargs, env = storage_args(srv)
    p = plinth.run_cli(["jobs"] + sargs, env=env)
    assert p.returncode != 0


# --- running jobs ------------------------------------------------------------------------------

def test_noop_jobs_run_once_and_are_listed(srv, admin):
    before = {j["id"] for j in list_jobs(srv, admin) if j["kind"] == "noop"}
    enqueue(srv, "noop", 7)

    def done():
        ids = {j["id"] for j in list_jobs(srv, admin, "done") if j["kind"] == "noop"}
        new = ids - before
        return new if len(new) >= 7 else None

    ids = poll(done, 15, "7 noop jobs done")
    assert len(ids) == 7, ids
    jobs = {j["id"]: j for j in list_jobs(srv, admin) if j["id"] in ids}
    for j in jobs.values():
        assert set(j) == JOB_KEYS, j
        assert j["status"] == "done" and j["kind"] == "noop", j
        assert j["attempts"] == 1, j
        assert j["max_attempts"] >= 1, j
        assert j["last_error"] is None, j
        for k in ("run_at", "created_at", "updated_at", "finished_at"):
            assert isinstance(j[k], str) and TIME_RE.match(j[k]), (k, j)
        assert j["created_at"] <= j["finished_at"], j
    # Each ran exactly once (one log line per job).
    poll(lambda: ids <= set(NOOP_RAN.findall(srv.log())), 5, "noop log lines")
    ran = collections.Counter(NOOP_RAN.findall(srv.log()))
    assert all(ran[i] == 1 for i in ids), {i: ran[i] for i in ids}
    assert [j for j in list_jobs(srv, admin, "queued") if j["id"] in ids] == []
    assert [j for j in list_jobs(srv, admin, "running") if j["id"] in ids] == []


def test_admin_jobs_pagination(srv, admin):
    enqueue(srv, "noop", 5)
    poll(lambda: len([j for j in list_jobs(srv, admin, "done") if j["kind"] == "noop"]) >= 5,
         15, "5 noop jobs done")
    full = list_jobs(srv, admin, "done", limit=200)
    paged = list_jobs(srv, admin, "done", limit=2)
    assert len(full) >= 5
    ids = [j["id"] for j in paged]
    assert len(set(ids)) == len(ids), "a job appears on two pages"
    # other jobs (emails of other tests) may finish between the two listings;
    # a done job stays done, so every job of the first listing is paged
    assert {j["id"] for j in full} <= set(ids)
    r = srv.get("/v1/admin/jobs", token=admin, params={"status": "done", "limit": 1})
    assert r.status_code == 200 and len(r.json()["data"]) == 1, r.text
    assert r.json()["next_cursor"], r.json()
    # Without a status every job is listed.
    everything = list_jobs(srv, admin)
    assert {j["id"] for j in full} <= {j["id"] for j in everything}


def test_failing_job_ends_dead_and_can_be_retried(srv, admin):
    enqueue(srv, "fail", 1, max_attempts=3)

    def dead_fail_job():
        d = [j for j in list_jobs(srv, admin, "dead") if j["kind"] == "fail"]
        return d[0] if d else None

    # Backoff 1 s x 2^attempt with jitter: attempts at ~0, ~1, ~3 s.
    j = poll(dead_fail_job, 25, "the fail job to be dead", interval=0.2)
    assert j["attempts"] == 3, j
    assert j["max_attempts"] == 3, j
    assert isinstance(j["last_error"], str) and j["last_error"], j
    assert j["finished_at"] and TIME_RE.match(j["finished_at"]), j
    # It never runs again by itself.
    time.sleep(1.5)
    again = [x for x in list_jobs(srv, admin, "dead") if x["id"] == j["id"]]
    assert again and again[0]["attempts"] == 3, again

    samples = parse_metrics(srv.get("/metrics").text)
    assert (metric_value(samples, "plinth_jobs_total", kind="fail", outcome="dead") or 0) >= 1
    assert (metric_value(samples, "plinth_jobs_total", kind="fail", outcome="retry") or 0) >= 2

    r = srv.post("/v1/admin/jobs/%s/retry" % j["id"], token=admin)
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == JOB_KEYS, body
    assert body["id"] == j["id"] and body["kind"] == "fail", body
    assert body["status"] == "queued", body
    assert body["max_attempts"] == 3, body
    # Not dead any more: a second retry conflicts.
    assert_problem(srv.post("/v1/admin/jobs/%s/retry" % j["id"], token=admin), 409, "conflict")

    def dead_again():
        d = [x for x in list_jobs(srv, admin, "dead") if x["id"] == j["id"]]
        return d[0] if d and d[0]["attempts"] == 3 and d[0]["updated_at"] > j["updated_at"] \
            else None

    j2 = poll(dead_again, 25, "the retried job to be dead again", interval=0.2)
    assert j2["last_error"], j2
    assert [x for x in list_jobs(srv, admin, "queued") if x["id"] == j["id"]] == []


def test_retry_rejects_live_and_unknown_jobs(srv, admin):
    enqueue(srv, "noop", 1)
    done = poll(lambda: [j for j in list_jobs(srv, admin, "done") if j["kind"] == "noop"], 15,
                "a done noop job")
    assert_problem(srv.post("/v1/admin/jobs/%s/retry" % done[0]["id"], token=admin), 409,
                   "conflict")
    assert_problem(srv.post("/v1/admin/jobs/%s/retry" % uuid.uuid4(), token=admin), 404,
                   "not_found")
    assert_problem(srv.post("/v1/admin/jobs/nope/retry", token=admin), 404, "not_found")


def test_job_metrics(srv, admin):
    enqueue(srv, "noop", 3)
    poll(lambda: len([j for j in list_jobs(srv, admin, "done") if j["kind"] == "noop"]) >= 3,
         15, "noop jobs done")
    r = srv.get("/metrics")
    assert r.status_code == 200
    samples = parse_metrics(r.text)
    q = metric_value(samples, "plinth_jobs_queued")
    assert q is not None and q >= 0, "plinth_jobs_queued missing"
    done = metric_value(samples, "plinth_jobs_total", kind="noop", outcome="done")
    assert done is not None and done >= 3, done
    assert "# TYPE plinth_jobs_total counter" in r.text
    assert "# TYPE plinth_jobs_queued gauge" in r.text
    p = subprocess.run(["/usr/bin/promtool", "check", "metrics"], input=r.content,
                       capture_output=True, timeout=30)
    assert p.returncode == 0, "promtool check metrics failed:\n%s%s" % (
        p.stdout.decode(), p.stderr.decode())


def test_queued_gauge_counts_waiting_jobs(make_server):
    s = make_server(args=FAST_ARGON2, workers=0)   # nothing runs the jobs
    enqueue(s, "noop", 4)
    samples = parse_metrics(s.get("/metrics").text)
    assert metric_value(samples, "plinth_jobs_queued") == 4, \
        [x for x in samples if x[0].startswith("plinth_jobs")]
    r = s.get("/readyz")
    assert r.status_code == 200 and r.json()["checks"]["jobs"] == "ok", r.text


# --- plinth worker ---------------------------------------------------------------------------

def test_worker_subcommand_runs_jobs(make_server, workers):
    s = make_server(args=FAST_ARGON2, workers=0)   # API only
    enqueue(s, "noop", 20)
    time.sleep(0.5)
    assert job_counts(s)["queued"] == 20
    w = workers(s, None)   # default --workers
    poll(lambda: job_counts(s)["done"] == 20, 20, "20 jobs done by plinth worker",
         interval=0.2)
    assert job_counts(s) == {"queued": 0, "running": 0, "done": 20, "dead": 0}
    # It keeps running until SIGTERM, then exits 0.
    assert w.proc.poll() is None
    assert w.stop() == 0, w.log()[-3000:]
    text = w.log()
    assert plinth.sanitizer_report(text) is None, text[-5000:]
    ran = collections.Counter(NOOP_RAN.findall(text))
    assert len(ran) == 20 and set(ran.values()) == {1}, ran


def test_worker_exits_0_on_sigint(make_server, workers):
    s = make_server(args=FAST_ARGON2, workers=0)
    w = workers(s, 1)
    enqueue(s, "noop", 1)
    poll(lambda: job_counts(s)["done"] == 1, 15, "the job done")
    w.proc.send_signal(signal.SIGINT)
    assert w.proc.wait(10) == 0, w.log()[-3000:]


def test_worker_needs_workers(srv):
    sargs, env = storage_args(srv)
    p = plinth.run_cli(["worker", "--workers", "0"] + sargs, env=env)
    assert p.returncode != 0
    assert p.stderr.strip()


def test_exactly_once_across_two_processes(engine, make_server, workers):
    if engine != "postgres":
        pytest.skip("two processes on one database: PostgreSQL only")
    n = 1000
    s = make_server(args=FAST_ARGON2, workers=0)
    token = make_admin(s)
    w1, w2 = workers(s, 2), workers(s, 2)
    time.sleep(0.3)
    enqueue(s, "noop", n)

    poll(lambda: job_counts(s)["done"] == n, 25, "%d jobs done" % n, interval=0.2)
    counts = job_counts(s)
    assert counts == {"queued": 0, "running": 0, "done": n, "dead": 0}, counts
    assert int(db_scalar(s, "SELECT count(*) FROM jobs WHERE kind = 'noop' AND attempts <> 1")) \
        == 0
    done = [j for j in list_jobs(s, token, "done") if j["kind"] == "noop"]
    assert len(done) == n
    assert [j for j in list_jobs(s, token, "queued") if j["kind"] == "noop"] == []
    assert [j for j in list_jobs(s, token, "running") if j["kind"] == "noop"] == []

    assert w1.stop() == 0, w1.log()[-3000:]
    assert w2.stop() == 0, w2.log()[-3000:]
    logs = [w1.log(), w2.log()]
    for text in logs:
        assert plinth.sanitizer_report(text) is None, text[-5000:]
    per = [collections.Counter(NOOP_RAN.findall(t)) for t in logs]
    ran = per[0] + per[1]
    ids = {j["id"] for j in done}
    assert set(ran) == ids, (len(set(ran)), len(ids))
    twice = {i: c for i, c in ran.items() if c != 1}
    assert not twice, "jobs run more than once: %r" % list(twice.items())[:10]
    assert not (set(per[0]) & set(per[1])), "a job ran in both processes"
    # Both processes took part (else the check above says little).
    assert per[0] and per[1], (len(per[0]), len(per[1]))
