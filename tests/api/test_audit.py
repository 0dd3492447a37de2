"""Black-box tests of the tamper-evident audit log (issue 7): every action writes
its event (and a failing request none), the per-org and instance hash chains are
re-verified here with Python's hashlib, tampering with stored rows (update,
delete, swap) is caught by both `plinth audit verify` and the verify route,
concurrent writers keep one linear chain, and the query filters, cursor
pagination and JSON Lines / CSV exports behave as API.md says.

Feature flags (flag.updated) are tested elsewhere.
"""

import csv
import hashlib
import io
import itertools
import json
import os
import re
import sqlite3
import subprocess
import threading
import time
import uuid

import pytest

import plinth
from plinth import assert_problem
from accounts_util import (PASSWORD, FAST_ARGON2, admin_create, db_scalar, login, login_ok,
                           unique_email)
from orgs_util import add_member, create_org, invite, invite_ok, new_user
from smtp_sink import mail_env, smtp_sink  # noqa: F401

ZERO = "0" * 64
HEX64 = re.compile(r"^[0-9a-f]{64}$")
EVENT_KEYS = {"id", "seq", "org_id", "action", "actor", "target", "ip", "user_agent",
              "request_id", "data", "created_at", "prev_hash", "hash"}
CSV_HEADER = ["id", "seq", "org_id", "action", "actor_type", "actor_id", "target_type",
              "target_id", "ip", "user_agent", "request_id", "data", "created_at",
              "prev_hash", "hash"]
UA = "audit-tests/1.0 (plinth)"
NEW_PASSWORD = "an entirely new passphrase 77"
OATHTOOL = "/usr/bin/oathtool"

_ips = itertools.count(1)


def new_ip():
    n = next(_ips)
    return "198.51.%d.%d" % (100 + n // 250, n % 250 + 1)


def hdrs(ip=None):
    return {"X-Forwarded-For": ip or new_ip(), "User-Agent": UA}


@pytest.fixture(scope="module")
def srv(make_module_server, smtp_sink):  # noqa: F811
    return make_module_server(args=FAST_ARGON2, workers=2, threads=8,
                              env=mail_env(smtp_sink, {"PLINTH_TRUSTED_PROXIES": "127.0.0.1/32"}))


class World:
    pass


@pytest.fixture(scope="module")
def w(srv, smtp_sink):  # noqa: F811
    x = World()
    x.owner = new_user(srv, "owner")
    x.org = create_org(srv, x.owner, name="Audit Org")["id"]
    x.admin = add_member(srv, smtp_sink, x.owner, x.org, role="admin", prefix="admin")
    x.member = add_member(srv, smtp_sink, x.owner, x.org, role="member", prefix="member")
    x.viewer = add_member(srv, smtp_sink, x.owner, x.org, role="viewer", prefix="viewer")
    return x


# --- helpers ---------------------------------------------------------------------------------

def canonical(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def event_hash(e):
    body = {k: v for k, v in e.items() if k != "hash"}
    return hashlib.sha256((e["prev_hash"] + canonical(body)).encode("utf-8")).hexdigest()


def reverify(events):
    """Independent re-verification of a chain (oldest first); returns the head."""
    prev = ZERO
    for i, e in enumerate(events, 1):
        assert e["seq"] == i, (i, e)
        assert e["prev_hash"] == prev, e
        assert HEX64.match(e["hash"]), e
        assert event_hash(e) == e["hash"], e
        prev = e["hash"]
    return prev


def apath(org, suffix=""):
    return "/v1/orgs/%s/audit-events%s" % (org, suffix)


def events(srv, token, org, **params):
    """Every event of org's chain that matches params (newest first, all pages)."""
    out, cursor = [], None
    for _ in range(1000):
        q = dict(params)
        q.setdefault("limit", 100)
        if cursor:
            q["cursor"] = cursor
        r = srv.get(apath(org), token=token, params=q)
        assert r.status_code == 200, (r.status_code, r.text)
        body = r.json()
        assert set(body) >= {"data", "next_cursor"}, body
        out += body["data"]
        cursor = body["next_cursor"]
        if cursor is None:
            return out
    raise AssertionError("too many pages")


def security_events(srv, token):
    out, cursor = [], None
    for _ in range(100):
        q = {"limit": 100}
        if cursor:
            q["cursor"] = cursor
        r = srv.get("/v1/me/security-events", token=token, params=q)
        assert r.status_code == 200, (r.status_code, r.text)
        out += r.json()["data"]
        cursor = r.json()["next_cursor"]
        if cursor is None:
            return out
    raise AssertionError("too many pages")


def export(srv, token, org, fmt="jsonl"):
    r = srv.get(apath(org, "/export"), token=token, params={"format": fmt})
    assert r.status_code == 200, (r.status_code, r.text)
    return r


def export_events(srv, token, org):
    r = export(srv, token, org)
    assert r.headers["Content-Type"].startswith("application/x-ndjson"), r.headers
    text = r.content.decode("utf-8")
    assert text == "" or text.endswith("\n"), text[-100:]
    lines = text.splitlines()
    evs = [json.loads(x) for x in lines]
    # every line is already in canonical form, hash included
    for line, e in zip(lines, evs):
        assert line == canonical(e), line
    return evs, text


def verify(srv, token, org):
    r = srv.get(apath(org, "/verify"), token=token)
    assert r.status_code == 200, (r.status_code, r.text)
    return r.json()


def assert_event(e, action, actor=None, actor_type="user", target_type=None, target_id=None,
                 data=None, org=None):
    assert set(e) == EVENT_KEYS, e
    assert e["action"] == action, e
    assert e["actor"]["type"] == actor_type, e
    if actor is not None:
        assert e["actor"]["id"] == actor, e
    if target_type is not None:
        assert e["target"] == {"type": target_type, "id": target_id}, e
    if data is not None:
        assert e["data"] == data, e
    if org is not None:
        assert e["org_id"] == org, e
    assert HEX64.match(e["hash"]) and HEX64.match(e["prev_hash"]), e
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", e["created_at"]), e
    return e


def find(evs, action, **match):
    """The newest event of evs with action whose target id / actor id match."""
    for e in evs:
        if e["action"] != action:
            continue
        if "target_id" in match and (e["target"] or {}).get("id") != match["target_id"]:
            continue
        if "actor_id" in match and e["actor"]["id"] != match["actor_id"]:
            continue
        return e
    raise AssertionError("no %s event matching %r in %r"
                         % (action, match, [(x["seq"], x["action"]) for x in evs]))


def storage(server):
    env = {"PLINTH_DATABASE_URL": server.pg_url} if server.pg_url else {}
    return ["--data", server.data_dir], env


def cli_verify(server, org=None):
    args, env = storage(server)
    cmd = ["audit", "verify"] + args + (["--org", org] if org else [])
    return plinth.run_cli(cmd, env=env, timeout=60)


def chain_count(server, chain):
    """Rows of a chain, read straight from the database."""
    if server.pg_url and chain != "instance":
        out = plinth.psql("BEGIN; SELECT set_config('app.org_id', '%s', true); "
                          "SELECT count(*) FROM audit_events WHERE chain = '%s'; COMMIT;"
                          % (chain, chain), url=server.pg_url)
        return int([x for x in out.split() if x.strip()][-1])
    return int(db_scalar(server, "SELECT count(*) FROM audit_events WHERE chain = '%s'" % chain))


def tamper(server, org, statements):
    """Runs SQL statements against the org's audit rows (RLS context on PostgreSQL)."""
    if server.pg_url:
        plinth.psql("BEGIN; SELECT set_config('app.org_id', '%s', true); %s; COMMIT;"
                    % (org, "; ".join(statements)), url=server.pg_url)
        return
    con = sqlite3.connect(os.path.join(server.data_dir, "plinth.db"), timeout=10)
    try:
        for s in statements:
            con.execute(s)
        con.commit()
    finally:
        con.close()


def make_teams(srv, user, org, n, prefix="team"):
    ids = []
    for i in range(n):
        r = srv.post("/v1/orgs/%s/teams" % org, json={"name": "%s %d" % (prefix, i)},
                     token=user.token)
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    return ids


def oath(secret, at):
    p = subprocess.run([OATHTOOL, "--totp", "-b", "-N", "@%d" % int(at), secret],
                       capture_output=True, text=True, timeout=10)
    assert p.returncode == 0, p.stderr
    return p.stdout.strip()


class Totp:
    """Codes of strictly increasing 30 s steps (plinth accepts +-1 step)."""

    def __init__(self, secret):
        self.secret, self.last = secret, -10

    def next_code(self, max_wait=35.0):
        deadline = time.monotonic() + max_wait
        while True:
            now = int(time.time() // 30)
            for step in (now - 1, now, now + 1):
                if step > self.last:
                    self.last = step
                    return oath(self.secret, step * 30 + 1)
            assert time.monotonic() < deadline
            time.sleep(0.5)

    def wrong_code(self):
        now = time.time()
        valid = {oath(self.secret, now + d * 30) for d in (-2, -1, 0, 1, 2)}
        return next(c for c in ("000000", "111111", "123456", "999999") if c not in valid)


# --- the events of the org chain -------------------------------------------------------------

def test_org_actions_produce_their_events(srv, smtp_sink, w):  # noqa: F811
    o, own = w.org, w.owner
    h = hdrs()
    secrets = []

    # org.created / invitation flow of the fixture
    evs = events(srv, own.token, o)
    first = evs[-1]
    assert_event(first, "org.created", own.id, "user", "org", o,
                 {"name": "Audit Org", "slug": first["data"]["slug"], "personal": False}, org=o)
    assert first["seq"] == 1 and first["prev_hash"] == ZERO, first
    for u, role in ((w.admin, "admin"), (w.member, "member"), (w.viewer, "viewer")):
        acc = find(evs, "invitation.accepted", actor_id=u.id)
        assert acc["data"] == {"user_id": u.id, "role": role}, acc
        assert acc["target"]["type"] == "invitation", acc
        inv = find(evs, "member.invited", target_id=acc["target"]["id"])
        assert_event(inv, "member.invited", own.id, data={"email": u.email, "role": role})

    # org.updated: with ip, user agent and request id
    r = srv.patch("/v1/orgs/%s" % o, json={"name": "Audit Org Renamed"}, token=own.token,
                  headers=h)
    assert r.status_code == 200, r.text
    e = events(srv, own.token, o, limit=1)[0]
    assert_event(e, "org.updated", own.id, "user", "org", o,
                 {"name": "Audit Org Renamed", "slug": r.json()["slug"]}, org=o)
    assert e["ip"] == h["X-Forwarded-For"] and e["user_agent"] == UA, e
    assert e["request_id"] == r.headers["X-Request-Id"], (e, r.headers)

    # member.invited + invitation.revoked (the token never in the data)
    email = unique_email("revoked")
    inv, tok = invite_ok(srv, smtp_sink, own, o, email, "viewer")
    secrets.append(tok)
    e = events(srv, own.token, o, limit=1)[0]
    assert_event(e, "member.invited", own.id, "user", "invitation", inv["id"],
                 {"email": email, "role": "viewer"})
    r = srv.delete("/v1/orgs/%s/invitations/%s" % (o, inv["id"]), token=w.admin.token)
    assert r.status_code in (200, 204), r.text
    e = events(srv, own.token, o, limit=1)[0]
    assert_event(e, "invitation.revoked", w.admin.id, "user", "invitation", inv["id"])

    # member.role_updated, member.removed (by someone else, and leaving)
    u = add_member(srv, smtp_sink, own, o, role="member", prefix="moved")
    r = srv.patch("/v1/orgs/%s/members/%s" % (o, u.id), json={"role": "viewer"},
                  token=w.admin.token)
    assert r.status_code == 200, r.text
    e = events(srv, own.token, o, limit=1)[0]
    assert_event(e, "member.role_updated", w.admin.id, "user", "user", u.id,
                 {"from": "member", "to": "viewer"})
    r = srv.delete("/v1/orgs/%s/members/%s" % (o, u.id), token=own.token)
    assert r.status_code == 204, r.text
    e = events(srv, own.token, o, limit=1)[0]
    assert_event(e, "member.removed", own.id, "user", "user", u.id,
                 {"role": "viewer", "left": False})
    u2 = add_member(srv, smtp_sink, own, o, role="viewer", prefix="leaver")
    assert srv.delete("/v1/orgs/%s/members/%s" % (o, u2.id), token=u2.token).status_code == 204
    e = events(srv, own.token, o, limit=1)[0]
    assert_event(e, "member.removed", u2.id, "user", "user", u2.id,
                 {"role": "viewer", "left": True})

    # teams
    tp = "/v1/orgs/%s/teams" % o
    r = srv.post(tp, json={"name": "Platform"}, token=w.admin.token)
    assert r.status_code == 201, r.text
    t = r.json()["id"]
    assert_event(events(srv, own.token, o, limit=1)[0], "team.created", w.admin.id, "user",
                 "team", t, {"name": "Platform"})
    assert srv.patch(tp + "/" + t, json={"name": "Platform 2"},
                     token=own.token).status_code == 200
    assert_event(events(srv, own.token, o, limit=1)[0], "team.updated", own.id, "user",
                 "team", t, {"name": "Platform 2"})
    assert srv.put(tp + "/%s/members/%s" % (t, w.member.id),
                   token=own.token).status_code in (200, 204)
    assert_event(events(srv, own.token, o, limit=1)[0], "team.member_added", own.id, "user",
                 "team", t, {"user_id": w.member.id})
    assert srv.delete(tp + "/%s/members/%s" % (t, w.member.id),
                      token=own.token).status_code in (200, 204)
    assert_event(events(srv, own.token, o, limit=1)[0], "team.member_removed", own.id, "user",
                 "team", t, {"user_id": w.member.id})
    assert srv.delete(tp + "/" + t, token=own.token).status_code in (200, 204)
    assert_event(events(srv, own.token, o, limit=1)[0], "team.deleted", own.id, "user",
                 "team", t, {"name": "Platform 2"})

    # custom roles
    rp = "/v1/orgs/%s/roles" % o
    r = srv.post(rp, json={"key": "auditor", "name": "Auditor", "level": 2,
                           "permissions": ["org.read", "audit.read"]}, token=own.token)
    assert r.status_code == 201, r.text
    e = events(srv, own.token, o, limit=1)[0]
    assert_event(e, "role.created", own.id, "user", "role", "auditor")
    assert e["data"]["key"] == "auditor" and e["data"]["name"] == "Auditor", e
    assert e["data"]["level"] == 2 and sorted(e["data"]["permissions"]) == \
        ["audit.read", "org.read"], e
    r = srv.patch(rp + "/auditor", json={"name": "Auditor II"}, token=own.token)
    assert r.status_code == 200, r.text
    e = events(srv, own.token, o, limit=1)[0]
    assert_event(e, "role.updated", own.id, "user", "role", "auditor")
    assert e["data"]["name"] == "Auditor II", e
    assert srv.delete(rp + "/auditor", token=own.token).status_code in (200, 204)
    assert_event(events(srv, own.token, o, limit=1)[0], "role.deleted", own.id, "user",
                 "role", "auditor")

    # API keys: created (never the key), used (actor api_key), revoked
    kp = "/v1/orgs/%s/api-keys" % o
    r = srv.post(kp, json={"name": "ci", "permissions": ["team.manage", "team.read",
                                                         "audit.read"]}, token=own.token)
    assert r.status_code == 201, r.text
    key = r.json()
    secrets.append(key["key"])
    e = events(srv, own.token, o, limit=1)[0]
    assert_event(e, "apikey.created", own.id, "user", "api_key", key["id"])
    assert e["data"]["name"] == "ci" and e["data"]["prefix"] == key["prefix"], e
    assert sorted(e["data"]["permissions"]) == ["audit.read", "team.manage", "team.read"], e
    r = srv.post(tp, json={"name": "Made by a key"}, token=key["key"], headers=h)
    assert r.status_code == 201, r.text
    e = events(srv, key["key"], o, limit=1)[0]    # audit.read through the key
    assert_event(e, "team.created", key["id"], "api_key", "team", r.json()["id"],
                 {"name": "Made by a key"})
    assert srv.delete(kp + "/" + key["id"], token=own.token).status_code in (200, 204)
    assert_event(events(srv, own.token, o, limit=1)[0], "apikey.revoked", own.id, "user",
                 "api_key", key["id"])

    # the whole chain: one org, contiguous, re-verifiable; no secret anywhere
    evs = events(srv, own.token, o)
    assert [e["seq"] for e in evs] == list(range(len(evs), 0, -1))
    assert all(e["org_id"] == o for e in evs)
    exp, text = export_events(srv, own.token, o)
    assert exp == list(reversed(evs))
    assert reverify(exp) == verify(srv, own.token, o)["head"]
    csv_text = export(srv, own.token, o, "csv").text
    for s in secrets + [PASSWORD, own.token, key["key"][:20]]:
        assert s not in text and s not in csv_text, s


def test_org_deleted_goes_to_both_chains(srv, w):
    u = new_user(srv, "deleter")
    o = create_org(srv, u, name="Short lived")
    make_teams(srv, u, o["id"], 2)
    before = verify(srv, u.token, o["id"])
    assert before["valid"] and before["events"] == 3, before
    r = srv.delete("/v1/orgs/%s" % o["id"], token=u.token)
    assert r.status_code in (200, 204), r.text
    # the org chain keeps its events and its last is org.deleted
    p = cli_verify(srv, o["id"])
    assert p.returncode == 0, (p.stdout, p.stderr)
    assert re.search(r"chain %s: valid, 4 events, head [0-9a-f]{64}" % o["id"], p.stdout), p.stdout
    assert chain_count(srv, o["id"]) == 4
    # the instance chain too: the caller sees it among their security events
    e = find(security_events(srv, u.token), "org.deleted", target_id=o["id"])
    assert_event(e, "org.deleted", u.id, "user", "org", o["id"],
                 {"name": "Short lived", "slug": o["slug"]})
    assert e["org_id"] is None, e


# --- the instance chain: security events -----------------------------------------------------

def test_security_events_of_a_user(srv, smtp_sink):  # noqa: F811
    ip = new_ip()
    h = hdrs(ip)
    email = unique_email("sec")
    r = srv.post("/v1/auth/register", json={"email": email, "password": PASSWORD,
                                            "name": "Sec"}, headers=h)
    assert r.status_code == 201, r.text
    reg = r.json()
    uid, tok = reg["user"]["id"], reg["access_token"]
    secrets = [PASSWORD, NEW_PASSWORD, reg["refresh_token"], tok]

    evs = security_events(srv, tok)
    e = find(evs, "user.registered")
    assert_event(e, "user.registered", uid, "user", "user", uid, {"email": email}, org=None)
    assert e["ip"] == ip and e["user_agent"] == UA, e
    assert e["request_id"] == r.headers["X-Request-Id"], e

    # sign-in, a failed one (actor anonymous), a profile change
    body = login_ok(srv, email, headers=h)
    secrets.append(body["refresh_token"])
    assert login(srv, email, "wrong password entirely", headers=h).status_code == 401
    assert srv.patch("/v1/me", json={"name": "Sec 2"}, token=tok).status_code == 200
    evs = security_events(srv, tok)
    assert_event(find(evs, "user.logged_in"), "user.logged_in", uid, "user", "user", uid,
                 {"method": "password", "mfa": False})
    f = assert_event(find(evs, "user.login_failed"), "user.login_failed", None, "anonymous",
                     "user", uid)
    assert f["actor"]["id"] is None and f["ip"] == ip, f
    assert_event(find(evs, "user.updated"), "user.updated", uid, "user", "user", uid,
                 {"name": "Sec 2"})

    # sessions: logout, revoke one, logout-all
    assert srv.post("/v1/auth/logout", json={}, token=body["access_token"]).status_code == 204
    b2 = login_ok(srv, email, headers=h)
    sessions = srv.get("/v1/auth/sessions", token=tok).json()["data"]
    other = [s["id"] for s in sessions if not s.get("current")]
    assert other, sessions
    r = srv.delete("/v1/auth/sessions/%s" % other[0], token=tok)
    assert r.status_code in (200, 204), r.text
    evs = security_events(srv, tok)
    lo = find(evs, "user.logged_out")
    assert lo["actor"] == {"type": "user", "id": uid} and lo["target"]["type"] == "session", lo
    rv = find(evs, "session.revoked", target_id=other[0])
    assert rv["actor"] == {"type": "user", "id": uid}, rv
    secrets.append(b2["refresh_token"])

    # email verification and password change
    m = smtp_sink.wait_for_to(email, path="/verify-email")
    vt = m.token("/verify-email")
    secrets.append(vt)
    assert srv.post("/v1/auth/verify-email", json={"token": vt}).status_code == 204
    r = srv.post("/v1/me/password", json={"current_password": PASSWORD,
                                          "new_password": NEW_PASSWORD}, token=tok)
    assert r.status_code == 204, r.text
    evs = security_events(srv, tok)
    ev = find(evs, "user.email_verified")
    assert ev["target"] == {"type": "user", "id": uid}, ev
    assert_event(find(evs, "user.password_changed"), "user.password_changed", uid, "user",
                 "user", uid)

    # password reset (anonymous request with a mailed token)
    assert srv.post("/v1/auth/password-reset/request", json={"email": email}).status_code == 202
    rt = smtp_sink.wait_for_to(email, path="/reset-password").token("/reset-password")
    secrets.append(rt)
    r = srv.post("/v1/auth/password-reset", json={"token": rt, "new_password": PASSWORD})
    assert r.status_code in (200, 204), r.text
    tok = login_ok(srv, email, headers=h)["access_token"]
    evs = security_events(srv, tok)
    pr = find(evs, "user.password_reset")
    assert pr["target"] == {"type": "user", "id": uid}, pr
    r = srv.post("/v1/auth/logout-all", json={}, token=tok)
    assert r.status_code == 204, r.text
    tok = login_ok(srv, email, headers=h)["access_token"]
    evs = security_events(srv, tok)
    la = find(evs, "session.revoked", target_id=uid)
    assert la["data"] == {"all": True}, la

    # only the caller's own events, newest first, all in the instance chain
    assert all(e["org_id"] is None for e in evs)
    assert all(e["actor"]["id"] == uid or (e["target"] or {}).get("id") == uid for e in evs)
    seqs = [e["seq"] for e in evs]
    assert seqs == sorted(seqs, reverse=True) and len(set(seqs)) == len(seqs)
    other_user = new_user(srv, "other")
    mine = security_events(srv, other_user.token)
    assert {e["action"] for e in mine} == {"user.registered"}, mine
    blob = json.dumps(evs)
    for s in secrets:
        assert s not in blob, s
    assert_problem(srv.get("/v1/me/security-events"), 401, "unauthenticated")


def test_mfa_events(srv):
    ip = new_ip()
    u = new_user(srv, "mfa")
    t = u.token
    r = srv.post("/v1/me/mfa/totp/setup", json={}, token=t)
    assert r.status_code == 200, r.text
    secret = r.json()["secret"]
    totp = Totp(secret)
    r = srv.post("/v1/me/mfa/totp/enable", json={"code": totp.next_code()}, token=t)
    assert r.status_code == 200, r.text
    codes = r.json()["recovery_codes"]
    r = srv.post("/v1/me/mfa/recovery-codes", json={"password": PASSWORD}, token=t)
    assert r.status_code == 200, r.text
    codes += r.json()["recovery_codes"]
    # a wrong second factor, then a good one
    step1 = login(srv, u.email, headers=hdrs(ip)).json()
    r = srv.post("/v1/auth/login/mfa", json={"mfa_token": step1["mfa_token"],
                                             "code": totp.wrong_code()}, headers=hdrs(ip))
    assert r.status_code in (401, 422), r.text
    step1 = login(srv, u.email, headers=hdrs(ip)).json()
    r = srv.post("/v1/auth/login/mfa", json={"mfa_token": step1["mfa_token"],
                                             "code": totp.next_code()}, headers=hdrs(ip))
    assert r.status_code == 200, r.text
    r = srv.post("/v1/me/mfa/totp/disable", json={"password": PASSWORD,
                                                  "code": totp.next_code()}, token=t)
    assert r.status_code in (200, 204), r.text
    evs = security_events(srv, t)
    for a in ("user.mfa_enabled", "user.recovery_codes_regenerated", "user.mfa_disabled"):
        assert_event(find(evs, a), a, u.id, "user", "user", u.id)
    bad = find(evs, "user.login_failed")
    assert bad["data"] == {"method": "password", "reason": "invalid_mfa_code"}, bad
    assert bad["ip"] == ip, bad
    assert bad["actor"]["type"] == "anonymous", bad
    good = find(evs, "user.logged_in")    # newest: the one with 2FA
    assert good["data"] == {"method": "password", "mfa": True}, good
    blob = json.dumps(evs)
    for s in [secret, step1["mfa_token"]] + codes:
        assert s not in blob, s


def test_admin_events(srv, w):
    email = unique_email("admin")
    p = admin_create(srv, email)
    assert p.returncode == 0, (p.stdout, p.stderr)
    adm = login_ok(srv, email)
    at, aid = adm["access_token"], adm["user"]["id"]
    evs = security_events(srv, at)
    for a in ("user.registered", "user.promoted_admin"):
        e = find(evs, a)
        assert e["actor"] == {"type": "system", "id": None}, e
        assert e["target"] == {"type": "user", "id": aid}, e
        assert e["ip"] is None and e["request_id"] is None, e

    u = new_user(srv, "victim")
    assert srv.post("/v1/admin/users/%s/disable" % u.id, json={}, token=at).status_code == 200
    assert srv.post("/v1/admin/users/%s/enable" % u.id, json={}, token=at).status_code == 200
    ut = login_ok(srv, u.email)["access_token"]
    mine = security_events(srv, ut)
    for a in ("user.disabled", "user.enabled"):
        assert_event(find(mine, a), a, aid, "user", "user", u.id)

    # job.retried: a job that fails once is dead at once
    args, env = storage(srv)
    p = plinth.run_cli(["jobs", "enqueue", "--kind", "fail", "--count", "1",
                        "--max-attempts", "1"] + args, env=env, timeout=60)
    assert p.returncode == 0, (p.stdout, p.stderr)
    deadline = time.monotonic() + 15
    while True:
        dead = [j for j in srv.get("/v1/admin/jobs", params={"status": "dead", "limit": 200},
                                   token=at).json()["data"] if j["kind"] == "fail"]
        if dead:
            break
        assert time.monotonic() < deadline, "no dead job"
        time.sleep(0.2)
    r = srv.post("/v1/admin/jobs/%s/retry" % dead[0]["id"], json={}, token=at)
    assert r.status_code == 200, r.text
    e = find(security_events(srv, at), "job.retried")
    assert_event(e, "job.retried", aid, "user", "job", dead[0]["id"])
    # the whole instance chain is valid
    p = cli_verify(srv)
    assert p.returncode in (0, 1), (p.stdout, p.stderr)
    assert re.search(r"^chain instance: valid, \d+ events, head [0-9a-f]{64}$", p.stdout,
                     re.M), p.stdout


# --- rollback: a failing request writes nothing ----------------------------------------------

def test_failed_requests_write_no_event(srv, smtp_sink, w):  # noqa: F811
    o = w.org
    other = create_org(srv, w.owner, name="Slug holder")
    before = verify(srv, w.owner.token, o)
    n_before = chain_count(srv, o)
    inst_before = chain_count(srv, "instance")
    assert before["valid"] and before["events"] == n_before

    assert_problem(srv.patch("/v1/orgs/%s" % o, json={"slug": other["slug"]},
                             token=w.owner.token), 409, "slug_taken")
    assert_problem(srv.post("/v1/orgs/%s/teams" % o, json={"name": "nope"},
                            token=w.viewer.token), 403, "forbidden")
    assert_problem(srv.post("/v1/orgs/%s/teams" % o, json={"name": "nope"},
                            token=w.member.token), 403, "forbidden")
    assert_problem(invite(srv, w.owner, o, w.member.email, "viewer"), 409, "already_member")
    r = srv.patch("/v1/orgs/%s/members/%s" % (o, w.owner.id), json={"role": "admin"},
                  token=w.owner.token)
    assert r.status_code in (403, 409), r.text    # the last owner stays
    r = srv.post("/v1/orgs/%s/api-keys" % o, json={"name": "x", "permissions": ["org.delete"]},
                 token=w.admin.token)
    assert r.status_code in (403, 422), r.text
    r = srv.delete("/v1/orgs/%s/invitations/%s" % (o, uuid.uuid4()), token=w.owner.token)
    assert r.status_code == 404, r.text
    # instance chain: unknown email, bad token requests
    assert login(srv, unique_email("ghost"), headers=hdrs()).status_code == 401
    r = srv.post("/v1/auth/register", json={"email": w.member.email, "password": PASSWORD,
                                            "name": "dup"}, headers=hdrs())
    assert_problem(r, 409, "email_taken")

    after = verify(srv, w.owner.token, o)
    assert after == before, (before, after)
    assert chain_count(srv, o) == n_before
    assert chain_count(srv, "instance") == inst_before


# --- verification: an independent script and the routes agree --------------------------------

def test_export_reverified_independently(srv, w):
    o = w.org
    # names that exercise the canonical form: non-ASCII, quotes, backslashes, emoji
    r = srv.post("/v1/orgs/%s/teams" % o, json={"name": 'Zürich "東京" \\ 🚀 ünïcode'},
                 token=w.owner.token)
    assert r.status_code == 201, r.text
    v = verify(srv, w.owner.token, o)
    assert v["valid"] is True and set(v) == {"valid", "events", "head"}, v
    exp, text = export_events(srv, w.owner.token, o)
    assert len(exp) == v["events"]
    # the few lines a customer would write
    prev = "0" * 64
    for line in text.splitlines():
        ev = json.loads(line)
        h = ev.pop("hash")
        assert ev["prev_hash"] == prev
        canon = json.dumps(ev, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        assert hashlib.sha256((prev + canon).encode()).hexdigest() == h
        prev = h
    assert prev == v["head"]
    assert "Zürich" in text and "🚀" in text    # not \u-escaped
    # every listed event is its exported self
    listed = events(srv, w.owner.token, o, limit=7)
    assert listed == list(reversed(exp))
    # the CLI names the same head
    p = cli_verify(srv, o)
    assert p.returncode == 0, (p.stdout, p.stderr)
    assert p.stdout.strip() == "chain %s: valid, %d events, head %s" % (o, v["events"],
                                                                        v["head"]), p.stdout


def test_csv_export(srv, w):
    o = w.org
    r = srv.patch("/v1/orgs/%s" % o, json={"name": 'Comma, "quote" and\nnewline'},
                  token=w.owner.token, headers={"User-Agent": "=cmd|' /C calc'!A0"})
    if r.status_code != 200:    # a newline in a name may be refused: keep the rest
        r = srv.patch("/v1/orgs/%s" % o, json={"name": 'Comma, "quote"'}, token=w.owner.token,
                      headers={"User-Agent": "=cmd|' /C calc'!A0"})
        assert r.status_code == 200, r.text
    c = export(srv, w.owner.token, o, "csv")
    assert c.headers["Content-Type"].startswith("text/csv"), c.headers
    rows = list(csv.reader(io.StringIO(c.content.decode("utf-8"), newline="")))
    assert rows[0] == CSV_HEADER, rows[0]
    exp, _ = export_events(srv, w.owner.token, o)
    assert len(rows) - 1 == len(exp)
    for row, e in zip(rows[1:], exp):
        d = dict(zip(CSV_HEADER, row))
        assert d["id"] == e["id"] and int(d["seq"]) == e["seq"], (d, e)
        assert d["action"] == e["action"] and d["org_id"] == e["org_id"], (d, e)
        assert d["actor_type"] == e["actor"]["type"], (d, e)
        assert d["actor_id"] == (e["actor"]["id"] or ""), (d, e)
        assert d["target_id"] == ((e["target"] or {}).get("id") or ""), (d, e)
        assert json.loads(d["data"]) == e["data"], (d, e)
        assert d["created_at"] == e["created_at"], (d, e)
        assert d["prev_hash"] == e["prev_hash"] and d["hash"] == e["hash"], (d, e)
    last = dict(zip(CSV_HEADER, rows[-1]))
    assert last["action"] == "org.updated" and "quote" in json.loads(last["data"])["name"]
    # a formula is not run by a spreadsheet
    assert not last["user_agent"].startswith("="), last
    assert_problem(srv.get(apath(o, "/export"), token=w.owner.token,
                           params={"format": "xml"}), 400, "bad_request")


# --- tampering ---------------------------------------------------------------------------------

def _seq_update(seq, **cols):
    sets = ", ".join("%s = %s" % (k, v) for k, v in cols.items())
    return "UPDATE audit_events SET %s WHERE chain = '{o}' AND seq = %d" % (sets, seq)


SWAP_COLS = ["id", "action", "actor_type", "actor_id", "target_type", "target_id", "ip",
             "user_agent", "request_id", "data", "created_at", "prev_hash", "hash"]


def _swap_contents(a, b):
    """Exchanges everything but (chain, seq) between rows a and b."""
    def take(src):
        return ", ".join("%s = (SELECT %s FROM swp WHERE seq = %d)" % (c, c, src)
                         for c in SWAP_COLS)
    return [
        "CREATE TEMP TABLE swp AS SELECT * FROM audit_events "
        "WHERE chain = '{o}' AND seq IN (%d, %d)" % (a, b),
        "UPDATE audit_events SET id = id || '-tmp' WHERE chain = '{o}' AND seq IN (%d, %d)"
        % (a, b),
        "UPDATE audit_events SET %s WHERE chain = '{o}' AND seq = %d" % (take(b), a),
        "UPDATE audit_events SET %s WHERE chain = '{o}' AND seq = %d" % (take(a), b),
    ]


def _swap_positions(a, b):
    return [
        "UPDATE audit_events SET seq = -1 WHERE chain = '{o}' AND seq = %d" % a,
        "UPDATE audit_events SET seq = %d WHERE chain = '{o}' AND seq = %d" % (a, b),
        "UPDATE audit_events SET seq = %d WHERE chain = '{o}' AND seq = -1" % b,
    ]


# name -> (statements with {o} for the org id, first bad seq); the chain has seqs 1..6
TAMPERING = {
    "update_data": ([_seq_update(3, data="'{{\"name\":\"forged\"}}'")], 3),
    "update_action": ([_seq_update(4, action="'team.deleted'")], 4),
    "update_actor": ([_seq_update(2, actor_id="'someone-else'")], 2),
    "delete_middle": (["DELETE FROM audit_events WHERE chain = '{o}' AND seq = 3"], 3),
    "delete_first": (["DELETE FROM audit_events WHERE chain = '{o}' AND seq = 1"], 1),
    "delete_last": (["DELETE FROM audit_events WHERE chain = '{o}' AND seq = 6"], 6),
    "swap_contents": (_swap_contents(2, 5), 2),
    "swap_positions": (_swap_positions(3, 5), 3),
}


@pytest.mark.parametrize("kind", sorted(TAMPERING))
def test_tampering_is_detected(srv, w, kind):
    u = w.owner
    bad_org = create_org(srv, u, name="Tampered %s" % kind)["id"]
    good_org = create_org(srv, u, name="Untouched %s" % kind)["id"]
    make_teams(srv, u, bad_org, 5)
    make_teams(srv, u, good_org, 2)
    v = verify(srv, u.token, bad_org)
    assert v["valid"] is True and v["events"] == 6, v
    exported, _ = export_events(srv, u.token, bad_org)

    stmts, first_bad = TAMPERING[kind]
    tamper(srv, bad_org, [s.replace("{o}", bad_org).replace("{{", "{").replace("}}", "}")
                          for s in stmts])
    if kind.startswith("swap"):
        # the same rows are still there, in another order or with other contents
        now, _ = export_events(srv, u.token, bad_org)
        assert sorted(e["hash"] for e in now) == sorted(e["hash"] for e in exported)

    assert verify(srv, u.token, bad_org) == {"valid": False, "first_invalid_seq": first_bad}
    p = cli_verify(srv, bad_org)
    assert p.returncode == 1, (p.returncode, p.stdout, p.stderr)
    assert "chain %s: INVALID at seq %d" % (bad_org, first_bad) in p.stdout, p.stdout
    # the other chains are unaffected
    v = verify(srv, u.token, good_org)
    assert v["valid"] is True and v["events"] == 3, v
    p = cli_verify(srv, good_org)
    assert p.returncode == 0 and "chain %s: valid, 3 events" % good_org in p.stdout, p.stdout
    p = cli_verify(srv)
    assert p.returncode == 1, (p.returncode, p.stdout, p.stderr)
    lines = p.stdout.splitlines()
    assert "chain %s: INVALID at seq %d" % (bad_org, first_bad) in lines, p.stdout
    assert any(x.startswith("chain %s: valid, 3 events, head " % good_org) for x in lines), lines
    assert any(x.startswith("chain %s: valid, " % w.org) for x in lines), lines
    assert any(x.startswith("chain instance: valid, ") for x in lines), lines


def _rehashed_tail(exp, o, from_seq, forge):
    """UPDATEs that rewrite event from_seq with forge(e) and re-hash every later row."""
    prev = exp[from_seq - 1]["prev_hash"]
    stmts = []
    for e in exp[from_seq - 1:]:
        e = dict(e)
        if e["seq"] == from_seq:
            forge(e)
        e["prev_hash"] = prev
        e["hash"] = event_hash(e)
        prev = e["hash"]
        stmts.append("UPDATE audit_events SET data = '%s', prev_hash = '%s', hash = '%s' "
                     "WHERE chain = '%s' AND seq = %d"
                     % (canonical(e["data"]), e["prev_hash"], e["hash"], o, e["seq"]))
    return stmts, prev


def _forged_append(exp, o):
    """An extra, correctly hashed event after the last one (the head row untouched)."""
    last = exp[-1]
    e = dict(last, seq=last["seq"] + 1, id=str(uuid.uuid4()), prev_hash=last["hash"],
             data={"name": "smuggled"})
    e["hash"] = event_hash(e)
    created = int(time.time() * 1000)
    return ["INSERT INTO audit_events (chain, seq, id, org_id, action, actor_type, actor_id, "
            "target_type, target_id, ip, user_agent, request_id, data, created_at, prev_hash, "
            "hash) SELECT chain, %d, '%s', org_id, action, actor_type, actor_id, target_type, "
            "target_id, ip, user_agent, request_id, '%s', created_at, '%s', '%s' FROM "
            "audit_events WHERE chain = '%s' AND seq = %d"
            % (e["seq"], e["id"], canonical(e["data"]), e["prev_hash"], e["hash"], o,
               last["seq"])], created


@pytest.mark.parametrize("kind", ["rewrite_tail", "forged_append", "head_row"])
def test_rewrites_that_keep_the_rows_consistent_are_detected(srv, w, kind):
    """Re-hashing every later row, or appending a well-hashed row, still leaves the
    head row behind; altering the head row alone is noticed too."""
    u = w.owner
    o = create_org(srv, u, name="Rewritten %s" % kind)["id"]
    make_teams(srv, u, o, 3)
    exp, _ = export_events(srv, u.token, o)
    if kind == "rewrite_tail":
        stmts, _ = _rehashed_tail(exp, o, 2, lambda e: e.update(data={"name": "forged"}))
    elif kind == "forged_append":
        stmts, _ = _forged_append(exp, o)
    else:
        stmts = ["UPDATE audit_heads SET hash = '%s' WHERE chain = '%s'" % ("ab" * 32, o)]
    tamper(srv, o, stmts)
    if kind != "head_row":
        # the rows themselves chain correctly: only the head row tells
        now, _ = export_events(srv, u.token, o)
        reverify(now)
    v = verify(srv, u.token, o)
    assert v["valid"] is False and set(v) == {"valid", "first_invalid_seq"}, v
    # The first row that disagrees with the head row: the smuggled seq N+1 after a
    # forged append; the last row (seq N, whose hash is not the head's) otherwise.
    # Never a seq past the end of what is stored.
    n = len(exp)
    assert v["first_invalid_seq"] == (n + 1 if kind == "forged_append" else n), v
    p = cli_verify(srv, o)
    assert p.returncode == 1, (p.stdout, p.stderr)
    assert "chain %s: INVALID at seq %d" % (o, v["first_invalid_seq"]) in p.stdout, p.stdout


def test_cli_usage_and_storage_errors(srv, tmp_path):
    for args in (["audit", "verify", "--bogus"], ["audit"], ["audit", "frobnicate"],
                 ["audit", "verify", "--org"]):
        p = plinth.run_cli(args, cwd=str(tmp_path))
        assert p.returncode == 2, (args, p.returncode, p.stdout, p.stderr)
        assert p.stdout == "", (args, p.stdout)
    if srv.pg_url:
        p = plinth.run_cli(["audit", "verify", "--data", str(tmp_path)],
                           env={"PLINTH_DATABASE_URL": "postgresql://nobody@127.0.0.1:%d/x"
                                % plinth.closed_port()})
    else:
        f = tmp_path / "a-file"
        f.write_text("not a directory")
        p = plinth.run_cli(["audit", "verify", "--data", str(f)])
    assert p.returncode == 2, (p.returncode, p.stdout, p.stderr)
    assert "valid" not in p.stdout, p.stdout


# --- concurrency ---------------------------------------------------------------------------------

def test_concurrent_writers_keep_one_chain(srv, w):
    u = w.owner
    o = create_org(srv, u, name="Busy")["id"]
    n = 20
    codes, barrier = [], threading.Barrier(n)

    def run(i):
        barrier.wait()
        r = srv.request_once("POST", "/v1/orgs/%s/teams" % o, json={"name": "t%d" % i},
                             token=u.token, timeout=30)
        codes.append(r.status_code)

    ts = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert codes == [201] * n, codes
    exp, _ = export_events(srv, u.token, o)
    assert [e["seq"] for e in exp] == list(range(1, n + 2))
    assert sorted(e["data"]["name"] for e in exp[1:]) == sorted("t%d" % i for i in range(n))
    head = reverify(exp)
    v = verify(srv, u.token, o)
    assert v == {"valid": True, "events": n + 1, "head": head}, v


# --- query: filters, pagination, permissions ---------------------------------------------------

def test_filters_and_pagination(srv, w):
    o, t = w.org, w.owner.token
    made = make_teams(srv, w.admin, o, 4, prefix="filter")
    everything = events(srv, t, o)
    assert [e["seq"] for e in everything] == list(range(len(everything), 0, -1))

    teams = events(srv, t, o, action="team.created")
    assert teams and all(e["action"] == "team.created" for e in teams)
    assert {e["target"]["id"] for e in teams} >= set(made)
    assert teams == [e for e in everything if e["action"] == "team.created"]

    by_admin = events(srv, t, o, actor_id=w.admin.id)
    assert by_admin == [e for e in everything if e["actor"]["id"] == w.admin.id]
    assert len(by_admin) >= 5     # accepted the invitation + 4 teams

    one = events(srv, t, o, target_id=made[2])
    assert [e["target"]["id"] for e in one] == [made[2]] and one[0]["action"] == "team.created"
    both = events(srv, t, o, action="team.created", actor_id=w.admin.id)
    assert [e["target"]["id"] for e in both[:4]] == list(reversed(made))
    assert events(srv, t, o, action="no.such") == []

    # since / until are inclusive, RFC 3339 UTC
    mid = everything[len(everything) // 2]
    since = events(srv, t, o, since=mid["created_at"])
    assert since == [e for e in everything if e["created_at"] >= mid["created_at"]]
    until = events(srv, t, o, until=mid["created_at"])
    assert until == [e for e in everything if e["created_at"] <= mid["created_at"]]
    assert events(srv, t, o, since="2999-01-01T00:00:00Z") == []
    assert events(srv, t, o, until="1971-01-01T00:00:00Z") == []
    assert events(srv, t, o, since="1970-01-01T00:00:00Z",
                  until="2999-01-01T00:00:00.000Z") == everything
    for bad in ("yesterday", "2024-13-01T00:00:00Z", "2024-01-01 00:00:00", "2024-01-01",
                "2024-01-01T00:00:00+02:00"):
        for name in ("since", "until"):
            assert_problem(srv.get(apath(o), token=t, params={name: bad}), 400, "bad_request")

    # limit + next_cursor walk the same list
    pages, cursor, seen = 0, None, []
    while True:
        q = {"limit": 3}
        if cursor:
            q["cursor"] = cursor
        body = srv.get(apath(o), token=t, params=q).json()
        assert len(body["data"]) <= 3
        seen += body["data"]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
        assert cursor == str(body["data"][-1]["seq"]), body
    assert seen == everything and pages == -(-len(everything) // 3)
    filtered = events(srv, t, o, action="team.created", limit=1)
    assert filtered == teams
    assert_problem(srv.get(apath(o), token=t, params={"cursor": "garbage"}), 400, "bad_request")
    for lim in ("0", "-1", "abc"):
        r = srv.get(apath(o), token=t, params={"limit": lim})
        assert r.status_code == 400, (lim, r.status_code, r.text)


def test_audit_routes_need_audit_read(srv, w):
    o = w.org
    for path in ("", "/export", "/verify"):
        assert srv.get(apath(o, path), token=w.admin.token).status_code == 200
        for u in (w.member, w.viewer):
            assert_problem(srv.get(apath(o, path), token=u.token), 403, "forbidden")
        assert_problem(srv.get(apath(o, path)), 401, "unauthenticated")
    # an outsider does not learn the org exists; their own org's log is theirs only
    outsider = new_user(srv, "outsider")
    r = srv.get(apath(o), token=outsider.token)
    assert r.status_code in (403, 404), r.text
    mine = events(srv, outsider.token, outsider.personal_org)
    assert [e["action"] for e in mine] == ["org.created"], mine
    assert mine[0]["data"]["personal"] is True, mine
    # an API key without audit.read
    r = srv.post("/v1/orgs/%s/api-keys" % o, json={"name": "ro", "permissions": ["org.read"]},
                 token=w.owner.token)
    assert r.status_code == 201, r.text
    assert_problem(srv.get(apath(o), token=r.json()["key"]), 403, "forbidden")


def test_retention_flag_is_accepted(make_server):
    s = make_server(args=FAST_ARGON2 + ["--audit-retention-days", "30"])
    u = new_user(s, "ret")
    v = verify(s, u.token, u.personal_org)
    assert v["valid"] is True and v["events"] == 1, v
