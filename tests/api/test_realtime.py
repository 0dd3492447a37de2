"""Realtime event streams, tickets and the activity feed (issue 14).

Streams are read with a raw-socket SSE client (sse_util.Stream) on a reader
thread; every wait has a generous deadline, so the tests hold on a loaded
machine. The two-instance fan-out runs on PostgreSQL only; the 2,000-stream
test raises this process's descriptor limit.
"""

import os
import resource
import selectors
import socket
import sqlite3
import time
import uuid

import pytest

import plinth
from plinth import assert_problem
from accounts_util import FAST_ARGON2, login_ok
from orgs_util import _pg_tenant, add_member, create_org, new_user
from smtp_sink import mail_server, smtp_sink  # noqa: F401
from sse_util import Stream

DEADLINE = 10.0   # waiting for something that must happen
CLOSE_WITHIN = 3.0  # a stream ends "within 1 s": measured, with room for a loaded machine


@pytest.fixture(scope="module")
def srv(make_module_server, smtp_sink):  # noqa: F811
    return mail_server(make_module_server, smtp_sink, workers=2,
                       args=["--sse-heartbeat", "1"])


@pytest.fixture(scope="module")
def owner(srv):
    return new_user(srv, "rt-owner")


@pytest.fixture(scope="module")
def org(srv, owner):
    return create_org(srv, owner)


def stream_path(org_id):
    return "/v1/orgs/%s/events/stream" % org_id


def rename(srv, user, org_id, name=None):
    r = srv.patch("/v1/orgs/%s" % org_id, json={"name": name or "Org " + uuid.uuid4().hex[:8]},
                  token=user.token)
    assert r.status_code == 200, r.text
    return r.json()


def open_stream(srv, org_id, token, **kw):
    s = Stream(srv, stream_path(org_id), token=token, **kw)
    assert s.status == 200, (s.status, s.body)
    return s


def events(msgs):
    return [m for m in msgs if m["event"] != "message"]


def current_session(srv, token):
    r = srv.get("/v1/auth/sessions", token=token)
    assert r.status_code == 200, r.text
    return [s for s in r.json()["data"] if s["current"]][0]["id"]


def new_session(srv, user):
    """Another signed-in session of user: (access token, session id)."""
    tok = login_ok(srv, user.email)["access_token"]
    return tok, current_session(srv, tok)


# --- the stream ---------------------------------------------------------------------

def test_stream_shape_and_headers(srv, owner, org):
    with open_stream(srv, org["id"], owner.token) as s:
        assert s.headers["content-type"].startswith("text/event-stream"), s.headers
        assert s.headers.get("cache-control") == "no-store", s.headers
        assert s.headers.get("x-request-id"), s.headers
        rename(srv, owner, org["id"], "Shape Check")
        m, _ = s.wait_for(lambda m: m["event"] == "org.updated", DEADLINE)
        d = m["data"]
        assert m["id"] == str(d["seq"]), m
        assert set(d) == {"id", "seq", "org_id", "action", "actor", "target", "request_id",
                          "data", "created_at"}, d
        assert d["org_id"] == org["id"] and d["action"] == "org.updated", d
        assert d["actor"] == {"type": "user", "id": owner.id}, d
        assert d["target"] == {"type": "org", "id": org["id"]}, d
        assert d["data"]["name"] == "Shape Check", d
        assert "\n" not in m["raw"], m   # the event object on one line


def test_stream_sees_its_orgs_events_in_order_and_no_other(srv, owner, org):
    other_owner = new_user(srv, "rt-other")
    other = create_org(srv, other_owner)
    with open_stream(srv, org["id"], owner.token) as s:
        names = ["In order %d" % i for i in range(5)]
        for i, n in enumerate(names):
            rename(srv, owner, org["id"], n)
            rename(srv, other_owner, other["id"], "Elsewhere %d" % i)
        got = []
        deadline = time.monotonic() + DEADLINE
        while len(got) < 5 and time.monotonic() < deadline:
            got.append(s.next(deadline - time.monotonic()))
        got += s.drain(0.5)
    assert [m["data"]["data"]["name"] for m in got] == names, got
    assert all(m["data"]["org_id"] == org["id"] for m in got), got
    seqs = [int(m["id"]) for m in got]
    assert seqs == sorted(seqs) and len(set(seqs)) == 5, seqs


def test_stream_needs_membership(srv, org):
    stranger = new_user(srv, "rt-stranger")
    s = Stream(srv, stream_path(org["id"]), token=stranger.token)
    assert s.status == 404, s.status
    s = Stream(srv, stream_path(org["id"]))
    assert s.status == 401, s.status


def test_types_filter(srv, owner, org):
    with open_stream(srv, org["id"], owner.token, params={"types": "team.*,role.created"}) as s:
        rename(srv, owner, org["id"])
        r = srv.post("/v1/orgs/%s/teams" % org["id"], json={"name": "Filtered"}, token=owner.token)
        assert r.status_code == 201, r.text
        m = s.next(DEADLINE)
        assert m["event"] == "team.created", m
        assert s.drain(0.5) == []
    s = Stream(srv, stream_path(org["id"]), token=owner.token, params={"types": "bad type"})
    assert s.status == 400, s.status


def test_viewer_does_not_see_apikey_events(srv, smtp_sink, owner):  # noqa: F811
    o = create_org(srv, owner)
    viewer = add_member(srv, smtp_sink, owner, o["id"], role="viewer", prefix="rt-viewer")
    with open_stream(srv, o["id"], viewer.token) as vs, \
            open_stream(srv, o["id"], owner.token) as os_:
        r = srv.post("/v1/orgs/%s/api-keys" % o["id"], json={"name": "k", "permissions":
                                                            ["org.read"]}, token=owner.token)
        assert r.status_code == 201, r.text
        rename(srv, owner, o["id"], "After the key")
        seen_owner = [m["event"] for m in os_.wait_for(
            lambda m: m["event"] == "org.updated", DEADLINE)[1]]
        assert "apikey.created" in seen_owner, seen_owner
        m, skipped = vs.wait_for(lambda m: m["event"] == "org.updated", DEADLINE)
        assert [x["event"] for x in skipped] == [], skipped
        # audit-only actions (no rule) are not shown to a viewer either
        assert all(not x["event"].startswith("apikey.") for x in vs.drain(0.3))


def test_activity_feed_filters_like_streams(srv, smtp_sink, owner):  # noqa: F811
    o = create_org(srv, owner)
    viewer = add_member(srv, smtp_sink, owner, o["id"], role="viewer", prefix="rt-feed")
    r = srv.post("/v1/orgs/%s/api-keys" % o["id"], json={"name": "k", "permissions":
                                                        ["org.read"]}, token=owner.token)
    assert r.status_code == 201, r.text
    rename(srv, owner, o["id"], "Feed 1")
    rename(srv, owner, o["id"], "Feed 2")

    def feed(user, **q):
        items, cursor = [], None
        for _ in range(50):
            params = dict(q)
            if cursor:
                params["cursor"] = cursor
            r = srv.get("/v1/orgs/%s/activity" % o["id"], token=user.token, params=params)
            assert r.status_code == 200, r.text
            items += r.json()["data"]
            cursor = r.json()["next_cursor"]
            if not cursor:
                return items
        raise AssertionError("too many pages")

    mine = feed(owner)
    seqs = [e["seq"] for e in mine]
    assert seqs == sorted(seqs, reverse=True), seqs
    assert "apikey.created" in [e["action"] for e in mine]
    assert all("ip" not in e and "hash" not in e for e in mine)
    theirs = feed(viewer)
    assert "apikey.created" not in [e["action"] for e in theirs]
    assert "org.updated" in [e["action"] for e in theirs]
    paged = feed(owner, limit=1)
    assert [e["seq"] for e in paged] == seqs
    only = feed(owner, types="org.*")
    assert only and all(e["action"].startswith("org.") for e in only)
    since = mine[1]["created_at"]
    recent = feed(owner, since=since)
    assert [e["seq"] for e in recent] == [e["seq"] for e in mine if e["created_at"] >= since]
    r = srv.get("/v1/orgs/%s/activity" % o["id"], token=owner.token, params={"since": "yesterday"})
    assert_problem(r, 400, "bad_request")


# --- resuming -----------------------------------------------------------------------

def test_resume_replays_exactly_the_missed_events(srv, owner, org):
    with open_stream(srv, org["id"], owner.token) as s:
        rename(srv, owner, org["id"], "Before the cut")
        last = s.wait_for(lambda m: m["event"] == "org.updated", DEADLINE)[0]
    missed = ["Missed %d" % i for i in range(3)]
    for n in missed:
        rename(srv, owner, org["id"], n)
    for how in ("query", "header"):
        kw = {"headers": {"Last-Event-ID": last["id"]}} if how == "header" else \
            {"params": {"last_event_id": last["id"]}}
        with open_stream(srv, org["id"], owner.token, **kw) as s:
            got = [s.next(DEADLINE) for _ in range(3)]
            assert [m["data"]["data"]["name"] for m in got] == missed, (how, got)
            assert [int(m["id"]) for m in got] == [int(last["id"]) + i for i in (1, 2, 3)]
            assert s.drain(0.3) == []
    with open_stream(srv, org["id"], owner.token, headers={"Last-Event-ID": got[-1]["id"]}) as s:
        assert s.drain(0.3) == []   # nothing missed
        rename(srv, owner, org["id"], "Live again")   # then it goes on live
        assert s.next(DEADLINE)["data"]["data"]["name"] == "Live again"


def org_sql(srv, engine, org_id, sql):
    """Runs sql on the server's database with the org's row-level context."""
    if engine == "postgres":
        _pg_tenant(srv, org_id, sql)
        return
    con = sqlite3.connect(os.path.join(srv.data_dir, "plinth.db"), timeout=10)
    con.executescript(sql)
    con.commit()
    con.close()


def test_resume_too_far_back_is_a_reset(srv, engine, owner):
    o = create_org(srv, owner)
    for i in range(3):
        rename(srv, owner, o["id"], "Old %d" % i)
    # an id past the end of the chain
    with open_stream(srv, o["id"], owner.token, headers={"Last-Event-ID": "999999"}) as s:
        m = s.next(DEADLINE)
        assert m["event"] == "reset", m
        head = int(m["id"])
        assert head == 4, m     # org.created and three renames
        rename(srv, owner, o["id"], "After reset")
        m = s.next(DEADLINE)
        assert m["event"] == "org.updated" and int(m["id"]) == head + 1, m
    # older than 24 hours: age the events
    org_sql(srv, engine, o["id"], "UPDATE audit_events SET created_at = created_at - 90000000 "
                                  "WHERE chain = '%s'" % o["id"])
    with open_stream(srv, o["id"], owner.token, headers={"Last-Event-ID": "1"}) as s:
        assert s.next(DEADLINE)["event"] == "reset"
    # more than 1,000 events behind: 1,001 more events (copies of the last one;
    # the chain's hashes do not matter here, and writing them one by one
    # through the API would take the suite seconds)
    org_sql(srv, engine, o["id"], """
        WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1001)
        INSERT INTO audit_events (chain, seq, id, org_id, action, actor_type, actor_id,
            target_type, target_id, ip, user_agent, request_id, data, created_at, prev_hash, hash)
        SELECT chain, seq + i, id || '-' || i, org_id, action, actor_type, actor_id, target_type,
            target_id, ip, user_agent, request_id, data, created_at + 90000000, prev_hash, hash
        FROM audit_events, n WHERE chain = '%(org)s' AND seq = 5;
        UPDATE audit_heads SET seq = seq + 1001 WHERE chain = '%(org)s';
        """ % {"org": o["id"]})
    rename(srv, owner, o["id"], "The newest")     # seq 1007
    with open_stream(srv, o["id"], owner.token, headers={"Last-Event-ID": "5"}) as s:
        m = s.next(DEADLINE)
        assert m["event"] == "reset" and m["id"] == "1007", m
    # 1,000 behind is still a replay
    with open_stream(srv, o["id"], owner.token, headers={"Last-Event-ID": "7"}) as s:
        got = [s.next(DEADLINE) for _ in range(1000)]
        assert [int(m["id"]) for m in got] == list(range(8, 1008)), got[:3]
        assert got[-1]["data"]["data"]["name"] == "The newest"
    r = srv.get(stream_path(o["id"]), token=owner.token, params={"last_event_id": "x"})
    assert_problem(r, 400, "bad_request")


# --- ending streams -----------------------------------------------------------------

def test_revoking_the_session_ends_the_stream(srv, owner, org):
    tok, sid = new_session(srv, owner)
    with open_stream(srv, org["id"], tok) as s:
        t0 = time.monotonic()
        r = srv.delete("/v1/auth/sessions/" + sid, token=owner.token)
        assert r.status_code == 204, r.text
        assert s.wait_closed(CLOSE_WITHIN), "stream still open %.1f s after revocation" % (
            time.monotonic() - t0)
    tok, _ = new_session(srv, owner)
    with open_stream(srv, org["id"], tok) as s:
        assert srv.post("/v1/auth/logout", token=tok).status_code == 204
        assert s.wait_closed(CLOSE_WITHIN)


def test_leaving_the_org_ends_the_stream(srv, smtp_sink, owner):  # noqa: F811
    o = create_org(srv, owner)
    leaver = add_member(srv, smtp_sink, owner, o["id"], role="member", prefix="rt-leaver")
    removed = add_member(srv, smtp_sink, owner, o["id"], role="member", prefix="rt-removed")
    with open_stream(srv, o["id"], leaver.token) as s1, \
            open_stream(srv, o["id"], removed.token) as s2:
        r = srv.delete("/v1/orgs/%s/members/%s" % (o["id"], leaver.id), token=leaver.token)
        assert r.status_code == 204, r.text
        assert s1.wait_closed(CLOSE_WITHIN)
        r = srv.delete("/v1/orgs/%s/members/%s" % (o["id"], removed.id), token=owner.token)
        assert r.status_code == 204, r.text
        assert s2.wait_closed(CLOSE_WITHIN)
        # their last message was their own removal
        rest = events(s2.drain(0.2))
        assert rest and rest[-1]["event"] == "member.removed", rest


def test_role_change_applies_to_the_next_event(srv, smtp_sink, owner):  # noqa: F811
    o = create_org(srv, owner)
    admin = add_member(srv, smtp_sink, owner, o["id"], role="admin", prefix="rt-demoted")
    with open_stream(srv, o["id"], admin.token) as s:
        r = srv.patch("/v1/orgs/%s/members/%s" % (o["id"], admin.id), json={"role": "viewer"},
                      token=owner.token)
        assert r.status_code == 200, r.text
        r = srv.post("/v1/orgs/%s/api-keys" % o["id"], json={"name": "k", "permissions":
                                                            ["org.read"]}, token=owner.token)
        assert r.status_code == 201, r.text
        rename(srv, owner, o["id"], "After demotion")
        _, skipped = s.wait_for(lambda m: m["event"] == "org.updated", DEADLINE)
        assert "apikey.created" not in [m["event"] for m in skipped], skipped


def test_api_key_stream_and_revocation(srv, owner):
    o = create_org(srv, owner)
    r = srv.post("/v1/orgs/%s/api-keys" % o["id"], json={"name": "k", "permissions":
                                                        ["org.read"]}, token=owner.token)
    assert r.status_code == 201, r.text
    key = r.json()
    with open_stream(srv, o["id"], key["key"]) as s:
        rename(srv, owner, o["id"], "Seen by the key")
        assert s.next(DEADLINE)["event"] == "org.updated"
        r = srv.delete("/v1/orgs/%s/api-keys/%s" % (o["id"], key["id"]), token=owner.token)
        assert r.status_code == 204, r.text
        assert s.wait_closed(CLOSE_WITHIN)


# --- tickets ------------------------------------------------------------------------

def ticket(srv, org_id, token):
    r = srv.post("/v1/orgs/%s/events/ticket" % org_id, token=token)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["expires_in"] == 60 and isinstance(body["ticket"], str), body
    return body["ticket"]


def test_ticket_works_once(srv, owner, org):
    t = ticket(srv, org["id"], owner.token)
    with open_stream(srv, org["id"], None, params={"ticket": t}) as s:
        rename(srv, owner, org["id"], "Via ticket")
        assert s.next(DEADLINE)["event"] == "org.updated"
        again = Stream(srv, stream_path(org["id"]), params={"ticket": t})
        assert again.status == 401, again.status
        assert again.json()["code"] == "invalid_token"
    other = create_org(srv, owner)
    t = ticket(srv, org["id"], owner.token)
    s = Stream(srv, stream_path(other["id"]), params={"ticket": t})
    assert s.status == 401, s.status
    s = Stream(srv, stream_path(org["id"]), params={"ticket": "nonsense"})
    assert s.status == 401, s.status
    s = Stream(srv, "/v1/me/notifications/stream", params={"ticket": ticket(srv, org["id"],
                                                                              owner.token)})
    assert s.status == 401, s.status


def test_ticket_stream_ends_with_the_minting_session(srv, owner, org):
    tok, sid = new_session(srv, owner)
    t = ticket(srv, org["id"], tok)
    with open_stream(srv, org["id"], None, params={"ticket": t}) as s:
        assert srv.delete("/v1/auth/sessions/" + sid, token=owner.token).status_code == 204
        assert s.wait_closed(CLOSE_WITHIN)
    # a ticket of a revoked session does not open a stream
    tok, sid = new_session(srv, owner)
    t = ticket(srv, org["id"], tok)
    assert srv.delete("/v1/auth/sessions/" + sid, token=owner.token).status_code == 204
    s = Stream(srv, stream_path(org["id"]), params={"ticket": t})
    assert s.status == 401, s.status


def test_api_key_ticket(srv, owner):
    o = create_org(srv, owner)
    r = srv.post("/v1/orgs/%s/api-keys" % o["id"], json={"name": "k", "permissions":
                                                        ["org.read"]}, token=owner.token)
    key = r.json()["key"]
    t = ticket(srv, o["id"], key)
    with open_stream(srv, o["id"], None, params={"ticket": t}) as s:
        rename(srv, owner, o["id"], "Key ticket")
        assert s.next(DEADLINE)["event"] == "org.updated"


# --- heartbeats, limits, shutdown ----------------------------------------------------

def metric(srv, name):
    return plinth.metric_value(plinth.parse_metrics(srv.get("/metrics").text), name)


def wait_metric(srv, name, value, timeout=DEADLINE):
    deadline = time.monotonic() + timeout
    while metric(srv, name) != value and time.monotonic() < deadline:
        time.sleep(0.2)
    return metric(srv, name)


def test_heartbeat_and_the_slot_of_a_gone_client(srv, owner, org):
    # streams of earlier tests are gone by the next heartbeat (1 s here)
    base = wait_metric(srv, "plinth_sse_streams", 0)
    s = open_stream(srv, org["id"], owner.token)
    deadline = time.monotonic() + DEADLINE
    while s.comments < 2 and time.monotonic() < deadline:   # ": connected", then a ping
        time.sleep(0.1)
    assert s.comments >= 2
    assert metric(srv, "plinth_sse_streams") == base + 1
    s.close()
    assert wait_metric(srv, "plinth_sse_streams", base) == base


def test_max_streams(make_server):
    s = make_server(args=FAST_ARGON2 + ["--max-streams", "2"])
    u = new_user(s, "rt-max")
    o = create_org(s, u)
    a = open_stream(s, o["id"], u.token)
    b = open_stream(s, o["id"], u.token)
    r = s.get(stream_path(o["id"]), token=u.token)
    assert_problem(r, 503, "unavailable")
    assert r.headers.get("Retry-After"), r.headers
    a.close()
    b.close()


def test_shutdown_closes_streams(make_server):
    s = make_server(args=FAST_ARGON2)
    u = new_user(s, "rt-stop")
    o = create_org(s, u)
    streams = [open_stream(s, o["id"], u.token) for _ in range(5)]
    t0 = time.monotonic()
    assert s.stop() == 0
    assert time.monotonic() - t0 < 5
    assert all(x.wait_closed(2) for x in streams)


def test_many_idle_streams_and_healthz(make_server):
    n = 2000
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = n + 512
    if soft < want:
        if hard != resource.RLIM_INFINITY and hard < want:
            pytest.skip("descriptor limit %d is below %d" % (hard, want))
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    # every stream comes from this test's one address: no per-address cap
    s = make_server(args=FAST_ARGON2 + ["--sse-heartbeat", "2", "--max-conns-per-ip", "0"])
    u = new_user(s, "rt-many")
    o = create_org(s, u)
    req = ("GET %s HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\nAuthorization: Bearer %s"
           "\r\n\r\n" % (stream_path(o["id"]), u.token)).encode()
    sel = selectors.DefaultSelector()
    socks, heads = [], {}
    t0 = time.monotonic()
    try:
        for i in range(n):
            c = socket.create_connection(("127.0.0.1", s.port), timeout=10)
            c.sendall(req)
            c.setblocking(False)
            socks.append(c)
            sel.register(c, selectors.EVENT_READ, i)
        ok = 0
        deadline = time.monotonic() + 45
        while ok < n and time.monotonic() < deadline:
            for key, _ in sel.select(timeout=1):
                data = key.fileobj.recv(4096)
                heads[key.data] = heads.get(key.data, b"") + data
                if b": connected" in heads[key.data]:
                    assert heads[key.data].startswith(b"HTTP/1.1 200"), heads[key.data][:200]
                    sel.unregister(key.fileobj)
                    ok += 1
        assert ok == n, "%d of %d streams opened in %.1f s" % (ok, n, time.monotonic() - t0)
        assert metric(s, "plinth_sse_streams") == n
        # the server keeps answering while every stream is open
        worst = 0.0
        for _ in range(20):
            t = time.monotonic()
            r = s.get("/healthz", timeout=5)
            worst = max(worst, time.monotonic() - t)
            assert r.status_code == 200
        assert worst < 1.0, "GET /healthz took %.3f s with %d streams open" % (worst, n)
        # and every stream still receives events
        rename(s, u, o["id"], "To all")
        for c in socks[:: n // 20]:
            c.setblocking(True)
            c.settimeout(DEADLINE)
            got = b""
            while b"org.updated" not in got:
                got += c.recv(65536)
    finally:
        for c in socks:
            c.close()
        sel.close()
    deadline = time.monotonic() + 20
    while metric(s, "plinth_sse_streams") > 0 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert metric(s, "plinth_sse_streams") == 0


# --- several instances ------------------------------------------------------------------

def test_two_instances_fan_out_to_each_other(make_server, engine):
    if engine != "postgres":
        pytest.skip("several instances share a PostgreSQL database")
    # HS256 tokens name their issuer, which both instances must share
    env = {"PLINTH_JWT_SECRET": "realtime-test-secret-0123456789abcdef",
           "PLINTH_PUBLIC_API_URL": "https://api.example.test"}
    a = make_server(args=FAST_ARGON2, env=env)
    b = make_server(args=FAST_ARGON2, env=env, start=False)
    plinth.drop_database(b.pg_db)
    b.pg_db, b.pg_url = None, a.pg_url     # the same database as a
    b.start()
    u = new_user(a, "rt-two")
    o = create_org(a, u)
    with open_stream(b, o["id"], u.token) as on_b, open_stream(a, o["id"], u.token) as on_a:
        t0 = time.monotonic()
        rename(a, u, o["id"], "From A")
        assert on_b.next(DEADLINE)["data"]["data"]["name"] == "From A"
        took = time.monotonic() - t0
        assert took < CLOSE_WITHIN, took
        assert on_a.next(DEADLINE)["data"]["data"]["name"] == "From A"
        rename(b, u, o["id"], "From B")
        assert on_a.next(DEADLINE)["data"]["data"]["name"] == "From B"
        assert on_b.next(DEADLINE)["data"]["data"]["name"] == "From B"
        # a session revoked through A ends the stream on B
        tok, sid = new_session(a, u)
        with open_stream(b, o["id"], tok) as s:
            assert a.delete("/v1/auth/sessions/" + sid, token=u.token).status_code == 204
            assert s.wait_closed(CLOSE_WITHIN)
    assert b.stop() == 0   # before a's teardown drops the shared database
