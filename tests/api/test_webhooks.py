"""Black-box tests of signed outgoing webhooks (issue 13, API.md "Webhooks").

Every delivery is received by tests/api/webhook_receiver.js, which checks the
signature with the npm `standardwebhooks` package (an independent
implementation), never with plinth's code. Waits poll conditions with generous
deadlines; "nothing else arrived" is read from the delivery log, where every
delivery is queued in the same transaction as the change that causes it.
"""

import base64
import hashlib
import hmac
import json
import os
import re
import signal
import sqlite3
import time
import uuid

import pytest

import plinth
from plinth import assert_problem
from accounts_util import (FAST_ARGON2, PASSWORD, TIME_RE, admin_create, login, login_ok,
                           unique_email)
from orgs_util import add_member, create_org, invite_ok, new_user, tenant_count
from projects_util import q, sql_rows, storage
from smtp_sink import mail_env, smtp_sink  # noqa: F401
from webhooks_util import Receiver, receiver, wait_until  # noqa: F401

SCHEDULE = "200ms,200ms,200ms,200ms"   # 5 attempts, fast
ADMIN_PASSWORD = "admin passphrase for webhook tests"
ENDPOINT_KEYS = {"id", "url", "events", "description", "enabled", "disabled_reason",
                 "created_at", "updated_at"}
DELIVERY_KEYS = {"id", "event_id", "event_type", "status", "attempt_count", "next_attempt_at",
                 "last_response_status", "last_error", "created_at", "completed_at"}
OLD_MASTER_KEY = "old master key of the webhook tests " + "o" * 16
NEW_MASTER_KEY = "new master key of the webhook tests " + "n" * 16
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")

# What API.md's guard refuses, spelled the ways an attacker would.
FORBIDDEN_URLS = [
    "http://127.0.0.1/hook",
    "http://0x7f.1/hook",
    "http://2130706433/hook",
    "http://[::1]/hook",
    "http://[::ffff:127.0.0.1]/hook",
    "http://10.0.0.1/hook",
    "http://169.254.169.254/latest/meta-data",
    "http://100.64.0.1/hook",
    "http://[fc00::1]/hook",
    "http://224.0.0.1/hook",
    "http://0.0.0.0/hook",
    "https://localhost/hook",        # a name that resolves to loopback
    "http://localhost:8080/hook",
]


def server_env(sink, extra=None):
    env = {"PLINTH_ALLOW_PRIVATE_TARGETS": "1", "PLINTH_WEBHOOK_RETRY_SCHEDULE": SCHEDULE,
           "PLINTH_WEBHOOK_TIMEOUT": "5"}
    env.update(extra or {})
    return mail_env(sink, env)


@pytest.fixture(scope="module")
def srv(make_module_server, smtp_sink):  # noqa: F811
    return make_module_server(args=FAST_ARGON2, workers=2, env=server_env(smtp_sink))


@pytest.fixture(scope="module")
def admin(srv):
    email = unique_email("whadmin")
    p = admin_create(srv, email, ADMIN_PASSWORD)
    assert p.returncode == 0, (p.stdout, p.stderr)
    body = login_ok(srv, email, ADMIN_PASSWORD)
    return {"email": email, "token": body["access_token"], "id": body["user"]["id"]}


# --- helpers ------------------------------------------------------------------------------

def org_base(org_id):
    return "/v1/orgs/%s" % org_id


def create_endpoint(srv, token, base, url, events, status=201, **extra):
    body = {"url": url, "events": events}
    body.update(extra)
    r = srv.post(base + "/webhooks", json=body, token=token)
    assert r.status_code == status, (r.status_code, r.text)
    return r.json()


def hook(srv, token, base, rx, name, events, **extra):
    """An endpoint posting to the receiver's /hooks/<name>, whose secret the
    receiver verifies with."""
    ep = create_endpoint(srv, token, base, rx.url(name), events, **extra)
    rx.configure(name, secrets=[ep["secret"]])
    return ep


def list_deliveries(srv, token, base, ep_id, **params):
    out, cursor = [], None
    for _ in range(100):
        q = dict(params)
        if cursor:
            q["cursor"] = cursor
        r = srv.get(base + "/webhooks/%s/deliveries" % ep_id, token=token, params=q)
        assert r.status_code == 200, r.text
        body = r.json()
        out += body["data"]
        cursor = body["next_cursor"]
        if cursor is None:
            return out
    raise AssertionError("delivery pages do not end")


def delivery(srv, token, base, ep_id, d_id):
    r = srv.get(base + "/webhooks/%s/deliveries/%s" % (ep_id, d_id), token=token)
    assert r.status_code == 200, r.text
    return r.json()


def settled(srv, token, base, ep_id, n=None, timeout=60):
    """Waits until the endpoint has (n, when given) deliveries, none pending;
    returns them."""
    def done():
        ds = list_deliveries(srv, token, base, ep_id)
        if n is not None and len(ds) < n:
            return None
        return ds if ds and all(d["status"] != "pending" for d in ds) else None
    return wait_until(done, timeout=timeout, what="deliveries of %s settled" % ep_id)


def types(ds):
    return sorted(d["event_type"] for d in ds)


def body_of(d):
    return json.loads(d["body"])


def audit_events(srv, token, org_id, action):
    r = srv.get("/v1/orgs/%s/audit-events" % org_id, token=token, params={"action": action})
    assert r.status_code == 200, r.text
    return r.json()["data"]


def keys_cli(server, args, env=None):
    """`plinth keys ARGS` against the server's storage."""
    argv, senv = storage(server)
    senv.update(env or {})
    return plinth.run_cli(["keys"] + args + argv, env=senv, timeout=60)


def sealed_secrets(server, org_id, ep_id):
    """(secret_sealed, previous_secret_sealed) of an endpoint ("" for NULL)."""
    rows = sql_rows(server, "SELECT secret_sealed, previous_secret_sealed FROM webhook_endpoints "
                            "WHERE id = %s" % q(ep_id), org_id)
    assert len(rows) == 1, rows
    return rows[0][0], rows[0][1]


def db_exec(server, org_id, sql):
    """Runs a write on the server's database as the org's tenant (PostgreSQL
    row-level security) and returns the affected row count."""
    if server.pg_url:
        ctx = "SELECT set_config('app.org_id', '%s', true);" % org_id if org_id else ""
        out = plinth.psql("BEGIN; %s %s; COMMIT;" % (ctx, sql), url=server.pg_url)
        return out
    con = sqlite3.connect(os.path.join(server.data_dir, "plinth.db"), timeout=10)
    try:
        cur = con.execute(sql)
        con.commit()
        return cur.rowcount
    finally:
        con.close()


# --- endpoints ----------------------------------------------------------------------------

def test_create_answers_the_secret_once(srv):
    u = new_user(srv)
    org = create_org(srv, u)
    base = org_base(org["id"])
    ep = create_endpoint(srv, u.token, base, "https://hooks.example.com/in?x=1",
                         ["member.*", "org.updated"], description="CRM sync")
    assert set(ep) == ENDPOINT_KEYS | {"secret"}, ep
    assert UUID_RE.match(ep["id"]), ep
    assert ep["url"] == "https://hooks.example.com/in?x=1"
    assert ep["events"] == ["member.*", "org.updated"]
    assert ep["description"] == "CRM sync" and ep["enabled"] is True
    assert ep["disabled_reason"] is None
    assert TIME_RE.match(ep["created_at"]) and ep["created_at"] == ep["updated_at"]
    assert ep["secret"].startswith("whsec_")
    assert len(base64.b64decode(ep["secret"][len("whsec_"):], validate=True)) == 32
    got = srv.get(base + "/webhooks/" + ep["id"], token=u.token)
    assert got.status_code == 200 and got.json() == {k: ep[k] for k in ENDPOINT_KEYS}, got.text
    listed = srv.get(base + "/webhooks", token=u.token).json()
    assert listed["next_cursor"] is None and [e["id"] for e in listed["data"]] == [ep["id"]]
    assert "secret" not in listed["data"][0]
    # audited, without the secret or the URL's path and query
    ev = audit_events(srv, u.token, org["id"], "webhook.created")
    assert len(ev) == 1 and ev[0]["target"] == {"type": "webhook", "id": ep["id"]}, ev
    assert ev[0]["data"]["url"] == "https://hooks.example.com", ev
    assert ep["secret"][6:] not in json.dumps(ev)


def test_update_rotate_delete(srv):
    u = new_user(srv)
    org = create_org(srv, u)
    base = org_base(org["id"])
    ep = create_endpoint(srv, u.token, base, "https://a.example/x", ["*"])
    path = base + "/webhooks/" + ep["id"]
    r = srv.patch(path, json={"url": "https://b.example/y", "events": ["team.created"],
                              "description": "d", "enabled": False}, token=u.token)
    assert r.status_code == 200, r.text
    e = r.json()
    assert (e["url"], e["events"], e["description"], e["enabled"], e["disabled_reason"]) == \
        ("https://b.example/y", ["team.created"], "d", False, "manual"), e
    r = srv.patch(path, json={"enabled": True}, token=u.token)
    assert r.json()["enabled"] is True and r.json()["disabled_reason"] is None, r.text
    r = srv.post(path + "/rotate-secret", token=u.token)
    assert r.status_code == 200 and set(r.json()) == {"secret"}, r.text
    assert r.json()["secret"].startswith("whsec_") and r.json()["secret"] != ep["secret"]
    actions = [a["action"] for a in srv.get("/v1/orgs/%s/audit-events" % org["id"],
                                            token=u.token).json()["data"]]
    assert actions[:4] == ["webhook.secret_rotated", "webhook.updated", "webhook.updated",
                           "webhook.created"], actions
    r = srv.delete(path, token=u.token)
    assert r.status_code == 204, r.text
    assert_problem(srv.get(path, token=u.token), 404, "not_found")
    assert_problem(srv.delete(path, token=u.token), 404, "not_found")
    assert audit_events(srv, u.token, org["id"], "webhook.deleted")[0]["target"]["id"] == ep["id"]


@pytest.mark.parametrize("body,field,code", [
    ({"events": ["*"]}, "url", "required"),
    ({"url": "https://a.example/x"}, "events", "required"),
    ({"url": "ftp://a.example/x", "events": ["*"]}, "url", "invalid"),
    ({"url": "https://user:pw@a.example/x", "events": ["*"]}, "url", "invalid"),
    ({"url": "https://a.example/x#frag", "events": ["*"]}, "url", "invalid"),
    ({"url": "not a url", "events": ["*"]}, "url", "invalid"),
    ({"url": "https://a.example/" + "x" * 2040, "events": ["*"]}, "url", "too_long"),
    ({"url": 5, "events": ["*"]}, "url", "invalid"),
    ({"url": "https://a.example/x", "events": []}, "events", "required"),
    ({"url": "https://a.example/x", "events": "member.*"}, "events", "invalid"),
    ({"url": "https://a.example/x", "events": ["member.nope"]}, "events", "unknown_event"),
    ({"url": "https://a.example/x", "events": ["nosuchnoun.*"]}, "events", "unknown_event"),
    ({"url": "https://a.example/x", "events": ["member"]}, "events", "unknown_event"),
    ({"url": "https://a.example/x", "events": ["member.*", 3]}, "events", "invalid"),
    ({"url": "https://a.example/x", "events": ["x" * 65]}, "events", "invalid"),
    ({"url": "https://a.example/x", "events": ["org.updated"] * 65}, "events", "too_long"),
    ({"url": "https://a.example/x", "events": ["*"], "description": "d" * 1025},
     "description", "too_long"),
    ({"url": "https://a.example/x", "events": ["*"], "enabled": "yes"}, "enabled", "invalid"),
])
def test_create_validates(srv, body, field, code):
    u = new_user(srv)
    org = create_org(srv, u)
    r = srv.post(org_base(org["id"]) + "/webhooks", json=body, token=u.token)
    p = assert_problem(r, 422, "validation_failed")
    assert {"field": field, "code": code} in [{"field": e["field"], "code": e["code"]}
                                              for e in p["errors"]], p
    assert srv.get(org_base(org["id"]) + "/webhooks", token=u.token).json()["data"] == []


def test_limit_of_endpoints(srv):
    u = new_user(srv)
    org = create_org(srv, u)
    base = org_base(org["id"])
    for i in range(20):
        create_endpoint(srv, u.token, base, "https://h%d.example/x" % i, ["team.deleted"])
    r = srv.post(base + "/webhooks", json={"url": "https://h20.example/x", "events": ["*"]},
                 token=u.token)
    p = assert_problem(r, 402, "plan_limit_reached")
    assert (p["limit"], p["used"], p["max"]) == ("webhooks", 20, 20), p
    assert len(list(srv.get(base + "/webhooks", token=u.token, params={"limit": 200})
                    .json()["data"])) == 20
    # paging
    first = srv.get(base + "/webhooks", token=u.token, params={"limit": 15}).json()
    assert len(first["data"]) == 15 and first["next_cursor"], first
    rest = srv.get(base + "/webhooks", token=u.token,
                   params={"limit": 15, "cursor": first["next_cursor"]}).json()
    assert len(rest["data"]) == 5 and rest["next_cursor"] is None
    # another org has its own allowance
    other = create_org(srv, u)
    create_endpoint(srv, u.token, org_base(other["id"]), "https://h.example/x", ["*"])


def test_permissions(srv, smtp_sink):  # noqa: F811
    owner = new_user(srv, "owner")
    org = create_org(srv, owner)
    base = org_base(org["id"])
    ep = create_endpoint(srv, owner.token, base, "https://a.example/x", ["*"])
    path = base + "/webhooks/" + ep["id"]
    d_id = srv.post(path + "/test", token=owner.token).json()["delivery_id"]
    admin_user = add_member(srv, smtp_sink, owner, org["id"], role="admin", prefix="wa")
    assert srv.get(base + "/webhooks", token=admin_user.token).status_code == 200
    create_endpoint(srv, admin_user.token, base, "https://b.example/x", ["org.updated"])
    for role in ("member", "viewer"):
        m = add_member(srv, smtp_sink, owner, org["id"], role=role, prefix="w" + role)
        for method, p, body in (("GET", base + "/webhooks", None),
                                ("POST", base + "/webhooks",
                                 {"url": "https://c.example/x", "events": ["*"]}),
                                ("GET", path, None), ("PATCH", path, {"enabled": False}),
                                ("DELETE", path, None), ("POST", path + "/rotate-secret", None),
                                ("POST", path + "/test", None),
                                ("GET", path + "/deliveries", None),
                                ("GET", path + "/deliveries/" + d_id, None),
                                ("POST", path + "/deliveries/%s/retry" % d_id, None)):
            assert_problem(srv.request(method, p, json=body, token=m.token), 403, "forbidden")
    stranger = new_user(srv, "stranger")
    assert_problem(srv.get(base + "/webhooks", token=stranger.token), 404, "not_found")
    assert_problem(srv.get(path, token=stranger.token), 404, "not_found")
    # API keys act with exactly their permissions
    r = srv.post(base + "/api-keys", json={"name": "read", "permissions": ["webhook.read"]},
                 token=owner.token)
    key = r.json()["key"]
    assert srv.get(base + "/webhooks", token=key).status_code == 200
    assert srv.get(path + "/deliveries", token=key).status_code == 200
    assert_problem(srv.post(path + "/test", token=key), 403, "forbidden")
    assert_problem(srv.get("/v1/admin/webhooks", token=key), 401, "unauthenticated")
    # the instance's endpoints are for instance admins only
    assert_problem(srv.get("/v1/admin/webhooks"), 401, "unauthenticated")
    assert_problem(srv.get("/v1/admin/webhooks", token=owner.token), 403, "forbidden")
    assert_problem(srv.post("/v1/admin/webhooks", json={"url": "https://a.example/x",
                                                         "events": ["*"]}, token=owner.token),
                   403, "forbidden")
    # nothing was changed by the refused calls
    assert srv.get(path, token=owner.token).json()["enabled"] is True


def test_other_orgs_endpoints_and_deliveries_are_404(srv, receiver):  # noqa: F811
    u = new_user(srv)
    a, b = create_org(srv, u), create_org(srv, u)
    ea = hook(srv, u.token, org_base(a["id"]), receiver, "iso-" + a["id"], ["*"])
    da = srv.post(org_base(a["id"]) + "/webhooks/%s/test" % ea["id"],
                  token=u.token).json()["delivery_id"]
    eb = create_endpoint(srv, u.token, org_base(b["id"]), "https://b.example/x", ["*"])
    db_ = srv.post(org_base(b["id"]) + "/webhooks/%s/test" % eb["id"],
                   token=u.token).json()["delivery_id"]
    # a's endpoint through b's path, and b's delivery under a's endpoint
    bpath = org_base(b["id"]) + "/webhooks/" + ea["id"]
    for method, p in (("GET", bpath), ("PATCH", bpath), ("DELETE", bpath),
                      ("POST", bpath + "/test"), ("POST", bpath + "/rotate-secret"),
                      ("GET", bpath + "/deliveries"), ("GET", bpath + "/deliveries/" + da),
                      ("POST", bpath + "/deliveries/%s/retry" % da),
                      ("GET", org_base(a["id"]) + "/webhooks/%s/deliveries/%s" % (ea["id"], db_)),
                      ("GET", org_base(b["id"]) + "/webhooks/%s/deliveries/%s" % (eb["id"], da)),
                      ("GET", "/v1/admin/webhooks/" + ea["id"])):
        r = srv.request(method, p, json={"enabled": False} if method == "PATCH" else None,
                        token=u.token)
        assert r.status_code in (403, 404), (method, p, r.text)
        if not p.startswith("/v1/admin"):
            assert_problem(r, 404, "not_found")
    assert srv.get(org_base(a["id"]) + "/webhooks/" + ea["id"],
                   token=u.token).json()["enabled"] is True
    for bad in ("nope", str(uuid.uuid4())):
        assert_problem(srv.get(org_base(a["id"]) + "/webhooks/" + bad, token=u.token), 404,
                       "not_found")
        assert_problem(srv.get(org_base(a["id"]) + "/webhooks/%s/deliveries/%s"
                               % (ea["id"], bad), token=u.token), 404, "not_found")


# --- the guard ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def guarded(make_module_server):
    """A server with PLINTH_ALLOW_PRIVATE_TARGETS unset."""
    return make_module_server(args=FAST_ARGON2, workers=1)


@pytest.mark.parametrize("url", FORBIDDEN_URLS)
def test_guard_refuses_private_targets(guarded, url):
    u = new_user(guarded)
    org = create_org(guarded, u)
    base = org_base(org["id"])
    r = guarded.post(base + "/webhooks", json={"url": url, "events": ["*"]}, token=u.token)
    p = assert_problem(r, 422, "validation_failed")
    assert {"field": "url", "code": "forbidden_address"} in \
        [{"field": e["field"], "code": e["code"]} for e in p["errors"]], p
    ep = create_endpoint(guarded, u.token, base, "https://ok.example/in", ["*"])
    r = guarded.patch(base + "/webhooks/" + ep["id"], json={"url": url}, token=u.token)
    assert_problem(r, 422, "validation_failed")
    assert guarded.get(base + "/webhooks/" + ep["id"], token=u.token).json()["url"] == \
        "https://ok.example/in"


def test_guard_applies_at_send_time(make_server, smtp_sink, receiver):  # noqa: F811
    """An endpoint stored while private targets were allowed gets
    forbidden_address attempts once they are not, and nothing reaches it."""
    s = make_server(args=FAST_ARGON2, workers=1, env=server_env(smtp_sink, {
        "PLINTH_WEBHOOK_RETRY_SCHEDULE": "100ms"}))
    u = new_user(s)
    org = create_org(s, u)
    base = org_base(org["id"])
    name = "guard-" + org["id"]
    ep = hook(s, u.token, base, receiver, name, ["org.updated"])
    s.extra_env.pop("PLINTH_ALLOW_PRIVATE_TARGETS")
    s.restart()
    u.token = login_ok(s, u.email)["access_token"]
    assert s.patch(base, json={"name": "Renamed"}, token=u.token).status_code == 200
    ds = settled(s, u.token, base, ep["id"], 1)
    d = delivery(s, u.token, base, ep["id"], ds[0]["id"])
    assert d["status"] == "failed" and d["last_error"] == "forbidden_address", d
    assert [a["error"] for a in d["attempts"]] == ["forbidden_address"] * 2, d
    assert all(a["response_status"] is None for a in d["attempts"]), d
    assert receiver.received(name) == []


# --- delivery -----------------------------------------------------------------------------

def test_message_is_standard_webhooks(srv, receiver):  # noqa: F811
    u = new_user(srv)
    org = create_org(srv, u)
    base = org_base(org["id"])
    name = "std-" + org["id"]
    ep = hook(srv, u.token, base, receiver, name, ["org.updated"])
    t0 = time.time()
    r = srv.patch(base, json={"name": "Ünïcode name ✓"}, token=u.token)
    assert r.status_code == 200
    got = receiver.wait_for(name)
    assert len(got) == 1, got
    d = got[0]
    assert d["verified"] == [True], d
    assert d["content_type"] == "application/json"
    assert abs(int(d["timestamp"]) - t0) < 120, d
    assert re.fullmatch(r"v1,[A-Za-z0-9+/]{43}=", d["signature"]), d
    ds = settled(srv, u.token, base, ep["id"], 1)
    assert [x["id"] for x in ds] == [d["id"]]       # webhook-id is the delivery id
    body = body_of(d)
    assert list(body) == ["type", "timestamp", "data"], body
    assert body["type"] == "org.updated" and TIME_RE.match(body["timestamp"]), body
    # data is the audit event as exported, without ip, user_agent, prev_hash, hash
    ev = audit_events(srv, u.token, org["id"], "org.updated")[0]
    for k in ("ip", "user_agent", "prev_hash", "hash"):
        ev.pop(k)
    assert body["data"] == ev, (body["data"], ev)
    assert body["timestamp"] == ev["created_at"]
    assert body["data"]["data"]["name"] == "Ünïcode name ✓"
    full = delivery(srv, u.token, base, ep["id"], d["id"])
    assert set(full) >= DELIVERY_KEYS | {"attempts", "payload"}, full
    assert full["payload"] == body
    assert full["status"] == "succeeded" and full["attempt_count"] == 1
    assert full["last_response_status"] == 200 and full["last_error"] is None
    assert full["event_id"] == ev["id"] and full["event_type"] == "org.updated"
    assert full["next_attempt_at"] is None and TIME_RE.match(full["completed_at"])
    assert len(full["attempts"]) == 1, full
    a = full["attempts"][0]
    assert set(a) == {"at", "response_status", "duration_ms", "error"}, a
    assert a["response_status"] == 200 and a["error"] is None and a["duration_ms"] >= 0


def test_events_reach_subscribed_endpoints_and_no_others(srv, smtp_sink, receiver):  # noqa: F811
    """Exact names, noun.* and * on one org; every org-chain action the product
    writes is triggered once or more."""
    owner = new_user(srv, "router")
    org = create_org(srv, owner)
    base = org_base(org["id"])
    oid = org["id"]
    subs = {
        "all": ["*"],
        "members": ["member.*"],
        "exact": ["org.updated", "team.created"],
        "teams-roles": ["team.*", "role.*"],
        "keys-invites": ["apikey.*", "invitation.revoked", "invitation.accepted"],
        "hooks": ["webhook.*"],
    }
    eps = {k: hook(srv, owner.token, base, receiver, "route-%s-%s" % (k, oid), v)
           for k, v in subs.items()}
    other_org = create_org(srv, owner)   # its events go to its own endpoints only
    # every org-chain action
    assert srv.patch(base, json={"name": "Routed"}, token=owner.token).status_code == 200
    member = add_member(srv, smtp_sink, owner, oid, role="viewer", prefix="routed")
    inv, _ = invite_ok(srv, smtp_sink, owner, oid, unique_email("revoked"), "viewer")
    assert srv.delete(base + "/invitations/" + inv["id"], token=owner.token).status_code == 204
    assert srv.patch(base + "/members/" + member.id, json={"role": "member"},
                     token=owner.token).status_code == 200
    team = srv.post(base + "/teams", json={"name": "T"}, token=owner.token).json()["id"]
    assert srv.patch(base + "/teams/" + team, json={"name": "T2"},
                     token=owner.token).status_code == 200
    assert srv.put(base + "/teams/%s/members/%s" % (team, member.id),
                   token=owner.token).status_code == 204
    assert srv.delete(base + "/teams/%s/members/%s" % (team, member.id),
                      token=owner.token).status_code == 204
    assert srv.delete(base + "/teams/" + team, token=owner.token).status_code == 204
    assert srv.post(base + "/roles", json={"key": "auditor", "name": "Auditor", "level": 1,
                                           "permissions": ["org.read"]},
                    token=owner.token).status_code == 201
    assert srv.patch(base + "/roles/auditor", json={"name": "Auditors"},
                     token=owner.token).status_code == 200
    assert srv.delete(base + "/roles/auditor", token=owner.token).status_code == 204
    key = srv.post(base + "/api-keys", json={"name": "k", "permissions": ["org.read"]},
                   token=owner.token).json()["id"]
    assert srv.delete(base + "/api-keys/" + key, token=owner.token).status_code == 204
    extra = create_endpoint(srv, owner.token, base, "https://x.example/h", ["org.deleted"])
    xpath = base + "/webhooks/" + extra["id"]
    assert srv.patch(xpath, json={"description": "x"}, token=owner.token).status_code == 200
    assert srv.post(xpath + "/rotate-secret", token=owner.token).status_code == 200
    assert srv.delete(xpath, token=owner.token).status_code == 204
    assert srv.delete("/v1/orgs/%s/members/%s" % (oid, member.id),
                      token=owner.token).status_code == 204
    assert srv.patch(org_base(other_org["id"]), json={"name": "Elsewhere"},
                     token=owner.token).status_code == 200

    expected_all = sorted([
        "org.updated", "member.invited", "invitation.accepted", "member.invited",
        "invitation.revoked", "member.role_updated", "team.created", "team.updated",
        "team.member_added", "team.member_removed", "team.deleted", "role.created",
        "role.updated", "role.deleted", "apikey.created", "apikey.revoked", "webhook.created",
        "webhook.updated", "webhook.secret_rotated", "webhook.deleted", "member.removed"])
    want = {
        "all": expected_all,
        "members": sorted(t for t in expected_all if t.startswith("member.")),
        "exact": ["org.updated", "team.created"],
        "teams-roles": sorted(t for t in expected_all if t.split(".")[0] in ("team", "role")),
        "keys-invites": sorted(t for t in expected_all
                               if t.startswith("apikey.") or t.startswith("invitation.")),
        "hooks": sorted(t for t in expected_all if t.startswith("webhook.")),
    }
    # "all" was created first: it also saw the creation of the five others
    want["all"] = sorted(want["all"] + ["webhook.created"] * 5)
    for k, ep in eps.items():
        # queued in the changes' transactions: the log is complete already
        assert types(list_deliveries(srv, owner.token, base, ep["id"])) == want[k], k
    for k, ep in eps.items():
        ds = settled(srv, owner.token, base, ep["id"], len(want[k]))
        assert all(d["status"] == "succeeded" and d["attempt_count"] == 1 for d in ds), ds
        name = "route-%s-%s" % (k, oid)
        got = receiver.wait_for(name, lambda r, n=len(want[k]): len(r) >= n)
        assert sorted(body_of(d)["type"] for d in got) == want[k], k
        assert all(d["verified"] == [True] for d in got), got
        assert sorted(d["id"] for d in got) == sorted(d["id"] for d in ds)
        assert all(body_of(d)["data"]["org_id"] == oid for d in got)


def test_instance_endpoints(srv, admin, smtp_sink, receiver):  # noqa: F811
    """Instance-chain events and every org's org.created / org.deleted go to the
    instance's endpoints; org endpoints never see instance events."""
    base = "/v1/admin"
    tag = uuid.uuid4().hex[:8]
    ep_all = hook(srv, admin["token"], base, receiver, "inst-all-" + tag, ["*"])
    ep_orgs = hook(srv, admin["token"], base, receiver, "inst-orgs-" + tag, ["org.*"])
    ep_users = hook(srv, admin["token"], base, receiver, "inst-users-" + tag,
                    ["user.registered", "user.logged_in"])
    assert set(ep_all) == ENDPOINT_KEYS | {"secret"}
    listed = [e["id"] for e in srv.get(base + "/webhooks", token=admin["token"]).json()["data"]]
    assert {ep_all["id"], ep_orgs["id"], ep_users["id"]} <= set(listed)

    email = unique_email("inst")
    r = srv.post("/v1/auth/register", json={"email": email, "password": PASSWORD, "name": "I"})
    assert r.status_code == 201
    user_id, personal = r.json()["user"]["id"], r.json()["organization"]["id"]
    token = r.json()["access_token"]
    org_hook = hook(srv, token, org_base(personal), receiver, "inst-orgside-" + tag, ["*"])
    r = srv.post("/v1/orgs", json={"name": "Short-lived"}, token=token)
    assert r.status_code == 201, r.text
    team_org = r.json()
    assert login(srv, email, "wrong password!!").status_code == 401
    token2 = login_ok(srv, email)["access_token"]
    assert srv.patch("/v1/me", json={"name": "Renamed"}, token=token2).status_code == 200
    assert srv.post("/v1/auth/logout", token=token2).status_code == 204
    assert srv.delete(org_base(team_org["id"]), token=token).status_code == 204
    assert srv.put("/v1/admin/flags/wh-" + tag, json={"enabled": True},
                   token=admin["token"]).status_code == 200
    assert srv.post("/v1/admin/users/%s/disable" % user_id,
                    token=admin["token"]).status_code in (200, 204)
    assert srv.post("/v1/admin/users/%s/enable" % user_id,
                    token=admin["token"]).status_code in (200, 204)

    def mine(ds):
        """Deliveries about this test's user and orgs."""
        keep = []
        for d in ds:
            data = body_of(d)["data"]
            subject = {data["actor"]["id"], (data["target"] or {}).get("id"), data["org_id"]}
            if subject & {user_id, personal, team_org["id"], "wh-" + tag}:
                keep.append(body_of(d)["type"])
        return sorted(keep)

    want_all = sorted(["user.registered", "org.created", "org.created", "user.login_failed",
                       "user.logged_in", "user.updated", "user.logged_out", "org.deleted",
                       "flag.updated", "user.disabled", "user.enabled"])
    got = receiver.wait_for("inst-all-" + tag, lambda ds: mine(ds) == want_all, timeout=60,
                            what="instance events")
    assert all(d["verified"] == [True] for d in got)
    # org.created/org.deleted carry the org's own chain event (naming the org)
    created = [body_of(d)["data"] for d in got if body_of(d)["type"] == "org.created"
               and body_of(d)["data"]["org_id"] in (personal, team_org["id"])]
    assert sorted(c["org_id"] for c in created) == sorted([personal, team_org["id"]]), created
    deleted = [body_of(d)["data"] for d in got if body_of(d)["type"] == "org.deleted"
               and body_of(d)["data"]["target"]["id"] == team_org["id"]]
    assert len(deleted) == 1 and deleted[0]["org_id"] == team_org["id"], deleted
    receiver.wait_for("inst-orgs-" + tag,
                      lambda ds: mine(ds) == ["org.created", "org.created", "org.deleted"],
                      what="org lifecycle")
    receiver.wait_for("inst-users-" + tag,
                      lambda ds: mine(ds) == ["user.logged_in", "user.registered"],
                      what="user events")
    for ep in (ep_orgs, ep_users):
        ds = list_deliveries(srv, admin["token"], base, ep["id"])
        allowed = ep["events"]
        assert all(any(d["event_type"] == e or (e.endswith(".*") and
                                                d["event_type"].startswith(e[:-1]))
                       for e in allowed) for d in ds), (allowed, types(ds))
    # the personal org's endpoint saw none of the instance events
    token = login_ok(srv, email)["access_token"]     # disabling ended the sessions
    assert list_deliveries(srv, token, org_base(personal), org_hook["id"]) == []
    # instance routes: read, change, test, deliveries, delete
    path = base + "/webhooks/" + ep_users["id"]
    assert srv.get(path, token=admin["token"]).json()["id"] == ep_users["id"]
    r = srv.post(path + "/test", token=admin["token"])
    assert r.status_code == 202, r.text
    d_id = r.json()["delivery_id"]
    got = receiver.wait_for("inst-users-" + tag,
                            lambda ds: any(d["id"] == d_id for d in ds), what="test event")
    t = [d for d in got if d["id"] == d_id][0]
    assert body_of(t)["type"] == "webhook.test" and t["verified"] == [True]
    assert body_of(t)["data"]["org_id"] is None
    assert srv.delete(path, token=admin["token"]).status_code == 204
    assert_problem(srv.get(path, token=admin["token"]), 404, "not_found")
    for ep in (ep_all, ep_orgs):
        assert srv.delete(base + "/webhooks/" + ep["id"], token=admin["token"]).status_code == 204


def totp(secret, step):
    """RFC 6238 (SHA-1, 6 digits, 30 s) code of a base32 secret at a time step."""
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    mac = hmac.new(key, step.to_bytes(8, "big"), hashlib.sha1).digest()
    off = mac[-1] & 15
    return "%06d" % ((int.from_bytes(mac[off:off + 4], "big") & 0x7FFFFFFF) % 1000000)


def test_account_and_instance_admin_events(srv, admin, smtp_sink, receiver):  # noqa: F811
    """The rest of the instance chain: email verification, sessions, password
    change and reset, two-factor changes, promotion, job retries."""
    base = "/v1/admin"
    tag = uuid.uuid4().hex[:8]
    users = hook(srv, admin["token"], base, receiver, "acct-users-" + tag, ["user.*"])
    others = hook(srv, admin["token"], base, receiver, "acct-other-" + tag,
                  ["session.revoked", "job.*"])
    email = unique_email("acct")
    r = srv.post("/v1/auth/register", json={"email": email, "password": PASSWORD, "name": "A"})
    assert r.status_code == 201
    uid, token = r.json()["user"]["id"], r.json()["access_token"]
    vtoken = smtp_sink.wait_for_to(email, path="/verify-email").token("/verify-email")
    assert srv.post("/v1/auth/verify-email", json={"token": vtoken}).status_code == 204
    token2 = login_ok(srv, email)["access_token"]
    sessions = srv.get("/v1/auth/sessions", token=token).json()["data"]
    other = [x["id"] for x in sessions if not x["current"]][0]
    assert srv.delete("/v1/auth/sessions/" + other, token=token).status_code == 204
    new_pw = PASSWORD + " two"
    assert srv.post("/v1/me/password", json={"current_password": PASSWORD,
                                             "new_password": new_pw},
                    token=token).status_code == 204
    assert srv.post("/v1/auth/password-reset/request", json={"email": email}).status_code == 202
    rtoken = smtp_sink.wait_for_to(email, path="/reset-password").token("/reset-password")
    new_pw = PASSWORD + " three"
    assert srv.post("/v1/auth/password-reset", json={"token": rtoken,
                                                     "new_password": new_pw}).status_code == 204
    token = login_ok(srv, email, new_pw)["access_token"]
    secret = srv.post("/v1/me/mfa/totp/setup", json={}, token=token).json()["secret"]
    step = int(time.time() // 30)
    assert srv.post("/v1/me/mfa/totp/enable", json={"code": totp(secret, step)},
                    token=token).status_code == 200
    assert srv.post("/v1/me/mfa/recovery-codes", json={"password": new_pw},
                    token=token).status_code == 200
    assert srv.post("/v1/me/mfa/totp/disable", json={"password": new_pw,
                                                     "code": totp(secret, step + 1)},
                    token=token).status_code == 204
    p = admin_create(srv, email, "unused password 123")
    assert p.returncode == 0, p.stderr
    # a job that dies, retried by an admin
    env = {"PLINTH_DATABASE_URL": srv.pg_url} if srv.pg_url else {}
    p = plinth.run_cli(["jobs", "enqueue", "--kind", "fail", "--max-attempts", "1", "--data",
                        srv.data_dir], env=env, timeout=30)
    assert p.returncode == 0, p.stderr
    dead = wait_until(lambda: [j for j in srv.get("/v1/admin/jobs", token=admin["token"],
                                                  params={"status": "dead"}).json()["data"]
                               if j["kind"] == "fail"], what="a dead job")
    assert srv.post("/v1/admin/jobs/%s/retry" % dead[0]["id"],
                    token=admin["token"]).status_code == 200

    want_user = {"user.registered", "user.email_verified", "user.logged_in",
                 "user.password_changed", "user.password_reset", "user.mfa_enabled",
                 "user.recovery_codes_regenerated", "user.mfa_disabled", "user.promoted_admin"}

    def about(ds, who):
        out = set()
        for d in ds:
            data = body_of(d)["data"]
            if who in (data["actor"]["id"], (data["target"] or {}).get("id")):
                out.add(body_of(d)["type"])
        return out

    got = receiver.wait_for("acct-users-" + tag, lambda ds: about(ds, uid) >= want_user,
                            timeout=60, what="account events")
    assert all(body_of(d)["type"].startswith("user.") and d["verified"] == [True] for d in got)
    got = receiver.wait_for("acct-other-" + tag,
                            lambda ds: "session.revoked" in about(ds, uid) and
                            "job.retried" in about(ds, dead[0]["id"]),
                            timeout=60, what="session and job events")
    assert {body_of(d)["type"] for d in got} <= {"session.revoked", "job.retried"}
    assert token2
    for ep in (users, others):
        assert srv.delete(base + "/webhooks/" + ep["id"], token=admin["token"]).status_code == 204


def test_three_failures_then_success_is_one_success_with_one_id(srv, receiver):  # noqa: F811
    u = new_user(srv)
    org = create_org(srv, u)
    base = org_base(org["id"])
    name = "flaky-" + org["id"]
    ep = hook(srv, u.token, base, receiver, name, ["org.updated"])
    receiver.configure(name, script=[500, 503, 429])
    assert srv.patch(base, json={"name": "Flaky"}, token=u.token).status_code == 200
    got = receiver.wait_for(name, lambda ds: any(d["answered"] == 200 for d in ds), timeout=60)
    ds = settled(srv, u.token, base, ep["id"], 1)
    assert len(ds) == 1, ds
    d = delivery(srv, u.token, base, ep["id"], ds[0]["id"])
    assert d["status"] == "succeeded" and d["attempt_count"] == 4, d
    assert [a["response_status"] for a in d["attempts"]] == [500, 503, 429, 200], d
    got = receiver.received(name)
    assert [g["answered"] for g in got] == [500, 503, 429, 200], got
    assert {g["id"] for g in got} == {ds[0]["id"]}
    assert len({g["body"] for g in got}) == 1           # the same message every time
    assert all(g["verified"] == [True] for g in got)
    assert len([g for g in got if 200 <= g["answered"] < 300]) == 1


def test_attempts_follow_the_schedule_then_fail(srv, receiver):  # noqa: F811
    u = new_user(srv)
    org = create_org(srv, u)
    base = org_base(org["id"])
    name = "down-" + org["id"]
    ep = hook(srv, u.token, base, receiver, name, ["org.updated"])
    receiver.configure(name, status=500)
    assert srv.patch(base, json={"name": "Down"}, token=u.token).status_code == 200
    ds = settled(srv, u.token, base, ep["id"], 1)
    d = delivery(srv, u.token, base, ep["id"], ds[0]["id"])
    # 1 + the 4 retries of SCHEDULE
    assert d["status"] == "failed" and d["attempt_count"] == 5, d
    assert d["last_response_status"] == 500 and d["completed_at"], d
    assert len(receiver.received(name)) == 5
    ats = [a["at"] for a in d["attempts"]]
    assert ats == sorted(ats)
    # a failed delivery, retried by hand once the receiver works
    receiver.configure(name, status=200)
    r = srv.post(base + "/webhooks/%s/deliveries/%s/retry" % (ep["id"], d["id"]), token=u.token)
    assert r.status_code == 202, r.text
    assert r.json()["id"] == d["id"] and r.json()["status"] == "pending", r.json()
    got = receiver.wait_for(name, lambda g: len(g) >= 6)
    assert got[-1]["id"] == d["id"] and got[-1]["answered"] == 200 and got[-1]["verified"] == [True]
    wait_until(lambda: delivery(srv, u.token, base, ep["id"], d["id"])["status"] == "succeeded")
    d = delivery(srv, u.token, base, ep["id"], d["id"])
    assert d["attempt_count"] == 6 and len(d["attempts"]) == 6, d
    # the status filter
    assert [x["id"] for x in list_deliveries(srv, u.token, base, ep["id"],
                                             status="succeeded")] == [d["id"]]
    assert list_deliveries(srv, u.token, base, ep["id"], status="failed") == []
    assert_problem(srv.get(base + "/webhooks/%s/deliveries" % ep["id"], token=u.token,
                           params={"status": "bogus"}), 400, "bad_request")


def test_deliveries_newest_first_with_paging(srv, receiver):  # noqa: F811
    u = new_user(srv)
    org = create_org(srv, u)
    base = org_base(org["id"])
    ep = hook(srv, u.token, base, receiver, "page-" + org["id"], ["org.updated"])
    for i in range(5):
        assert srv.patch(base, json={"name": "P%d" % i}, token=u.token).status_code == 200
    all_ = list_deliveries(srv, u.token, base, ep["id"])
    assert len(all_) == 5 and [d["id"] for d in all_] == sorted((d["id"] for d in all_),
                                                                reverse=True)
    paged = list_deliveries(srv, u.token, base, ep["id"], limit=2)
    assert [d["id"] for d in paged] == [d["id"] for d in all_]
    settled(srv, u.token, base, ep["id"], 5)


def test_test_event_and_retry(srv, receiver):  # noqa: F811
    u = new_user(srv)
    org = create_org(srv, u)
    base = org_base(org["id"])
    name = "test-" + org["id"]
    ep = hook(srv, u.token, base, receiver, name, ["member.removed"])
    r = srv.post(base + "/webhooks/%s/test" % ep["id"], token=u.token)
    assert r.status_code == 202 and set(r.json()) == {"delivery_id"}, r.text
    d_id = r.json()["delivery_id"]
    got = receiver.wait_for(name)
    assert got[0]["id"] == d_id and got[0]["verified"] == [True]
    b = body_of(got[0])
    assert b["type"] == "webhook.test" and b["data"]["target"] == {"type": "webhook",
                                                                   "id": ep["id"]}, b
    assert b["data"]["actor"] == {"type": "user", "id": u.id}, b
    ds = settled(srv, u.token, base, ep["id"], 1)
    assert ds[0]["event_type"] == "webhook.test" and ds[0]["id"] == d_id
    # a succeeded delivery sent again: same webhook-id, same body
    r = srv.post(base + "/webhooks/%s/deliveries/%s/retry" % (ep["id"], d_id), token=u.token)
    assert r.status_code == 202, r.text
    got = receiver.wait_for(name, lambda g: len(g) == 2)
    assert got[1]["id"] == d_id and got[1]["body"] == got[0]["body"]
    # disabled: tests still go out, retries of events are refused
    assert srv.patch(base + "/webhooks/" + ep["id"], json={"enabled": False},
                     token=u.token).json()["enabled"] is False
    r = srv.post(base + "/webhooks/%s/test" % ep["id"], token=u.token)
    assert r.status_code == 202
    receiver.wait_for(name, lambda g: len(g) == 3)


def test_response_body_is_read_at_most_4k(srv, receiver):  # noqa: F811
    u = new_user(srv)
    org = create_org(srv, u)
    base = org_base(org["id"])
    name = "big-" + org["id"]
    ep = hook(srv, u.token, base, receiver, name, ["org.updated"])
    receiver.configure(name, body_bytes=8 * 1024 * 1024)
    assert srv.patch(base, json={"name": "Big"}, token=u.token).status_code == 200
    ds = settled(srv, u.token, base, ep["id"], 1)
    d = delivery(srv, u.token, base, ep["id"], ds[0]["id"])
    assert d["status"] == "succeeded" and d["last_response_status"] == 200, d


def test_rotation_overlap(srv, receiver):  # noqa: F811
    u = new_user(srv)
    org = create_org(srv, u)
    base = org_base(org["id"])
    name = "rot-" + org["id"]
    ep = hook(srv, u.token, base, receiver, name, ["org.updated"])
    old = ep["secret"]
    new = srv.post(base + "/webhooks/%s/rotate-secret" % ep["id"], token=u.token).json()["secret"]
    receiver.configure(name, secrets=[old, new])
    assert srv.patch(base, json={"name": "R1"}, token=u.token).status_code == 200
    got = receiver.wait_for(name)
    assert got[0]["verified"] == [True, True], got[0]
    assert len(got[0]["signature"].split(" ")) == 2, got[0]["signature"]
    # each secret alone verifies too (a receiver that knows only one of them)
    receiver.configure(name, secrets=[old])
    assert srv.patch(base, json={"name": "R2"}, token=u.token).status_code == 200
    assert receiver.wait_for(name, lambda g: len(g) == 2)[1]["verified"] == [True]
    # after the overlap only the new secret signs
    db_exec(srv, org["id"], "UPDATE webhook_endpoints SET previous_secret_expires_at = %d "
            "WHERE id = '%s'" % (int(time.time() * 1000) - 1, ep["id"]))
    receiver.configure(name, secrets=[old, new])
    assert srv.patch(base, json={"name": "R3"}, token=u.token).status_code == 200
    got = receiver.wait_for(name, lambda g: len(g) == 3)
    assert got[2]["verified"] == [False, True], got[2]
    assert len(got[2]["signature"].split(" ")) == 1


def test_410_disables_the_endpoint(srv, smtp_sink, receiver):  # noqa: F811
    u = new_user(srv, "gone")
    org = create_org(srv, u)
    base = org_base(org["id"])
    name = "gone-" + org["id"]
    ep = hook(srv, u.token, base, receiver, name, ["org.updated"])
    watcher = hook(srv, u.token, base, receiver, "gone-watch-" + org["id"], ["webhook.disabled"])
    receiver.configure(name, status=410)
    assert srv.patch(base, json={"name": "G1"}, token=u.token).status_code == 200
    e = wait_until(lambda: (lambda x: x if not x["enabled"] else None)(
        srv.get(base + "/webhooks/" + ep["id"], token=u.token).json()), what="disabled")
    assert e["disabled_reason"] == "gone", e
    ds = settled(srv, u.token, base, ep["id"], 1)
    assert ds[0]["status"] == "failed" and ds[0]["attempt_count"] == 1, ds
    assert ds[0]["last_response_status"] == 410
    ev = audit_events(srv, u.token, org["id"], "webhook.disabled")
    assert len(ev) == 1 and ev[0]["data"]["reason"] == "gone", ev
    assert ev[0]["actor"] == {"type": "system", "id": None}, ev
    m = smtp_sink.wait_for_to(u.email, subject="disabled")
    assert "410" in m.text() and "G1" in m.subject(), m.text()
    # the event reached the endpoints subscribed to it
    w = receiver.wait_for("gone-watch-" + org["id"])
    assert body_of(w[0])["type"] == "webhook.disabled" and w[0]["verified"] == [True]
    # nothing more is queued for it; a retry is refused until it is enabled
    assert srv.patch(base, json={"name": "G2"}, token=u.token).status_code == 200
    assert len(list_deliveries(srv, u.token, base, ep["id"])) == 1
    assert_problem(srv.post(base + "/webhooks/%s/deliveries/%s/retry" % (ep["id"], ds[0]["id"]),
                            token=u.token), 409, "conflict")
    receiver.configure(name, status=200)
    r = srv.patch(base + "/webhooks/" + ep["id"], json={"enabled": True}, token=u.token)
    assert r.json()["enabled"] is True and r.json()["disabled_reason"] is None
    assert srv.patch(base, json={"name": "G3"}, token=u.token).status_code == 200
    settled(srv, u.token, base, ep["id"], 2)
    assert len(list_deliveries(srv, u.token, base, ep["id"])) == 2
    assert watcher["id"]


def test_repeated_failures_disable_with_audit_and_email(make_server, smtp_sink,  # noqa: F811
                                                        receiver):  # noqa: F811
    s = make_server(args=FAST_ARGON2, workers=2, env=server_env(smtp_sink, {
        "PLINTH_WEBHOOK_RETRY_SCHEDULE": "100ms", "PLINTH_WEBHOOK_DISABLE_AFTER": "3",
        "PLINTH_WEBHOOK_TIMEOUT": "1"}))
    owner = new_user(s, "failing-owner")
    org = create_org(s, owner)
    base = org_base(org["id"])
    co_owner = add_member(s, smtp_sink, owner, org["id"], role="owner", prefix="co-owner")
    admin_m = add_member(s, smtp_sink, owner, org["id"], role="admin", prefix="not-owner")
    name = "failing-" + org["id"]
    ep = hook(s, owner.token, base, receiver, name, ["org.updated"])
    receiver.configure(name, status=500)
    for i in range(2):
        assert s.patch(base, json={"name": "F%d" % i}, token=owner.token).status_code == 200
    settled(s, owner.token, base, ep["id"], 2)
    assert s.get(base + "/webhooks/" + ep["id"], token=owner.token).json()["enabled"] is True
    # the third failed delivery disables; a timeout counts as a failure
    receiver.configure(name, status=200, delay_ms=1500)
    assert s.patch(base, json={"name": "F2"}, token=owner.token).status_code == 200
    ds = settled(s, owner.token, base, ep["id"], 3)
    last = delivery(s, owner.token, base, ep["id"], ds[0]["id"])
    assert last["status"] == "failed" and last["last_error"] == "timeout", last
    e = s.get(base + "/webhooks/" + ep["id"], token=owner.token).json()
    assert (e["enabled"], e["disabled_reason"]) == (False, "failing"), e
    ev = audit_events(s, owner.token, org["id"], "webhook.disabled")
    assert len(ev) == 1 and ev[0]["data"]["reason"] == "failing", ev
    for o in (owner, co_owner):
        m = smtp_sink.wait_for_to(o.email, subject="disabled")
        assert "3 deliveries in a row failed" in m.text(), m.text()
        assert ep["secret"][6:] not in m.text()
    assert not [m for m in smtp_sink.messages(to=admin_m.email) if "disabled" in m.subject()]
    # nothing is queued for it any more
    assert s.patch(base, json={"name": "F3"}, token=owner.token).status_code == 200
    assert len(list_deliveries(s, owner.token, base, ep["id"])) == 3


def test_one_slow_endpoint_does_not_hold_the_others(srv, receiver):  # noqa: F811
    u = new_user(srv)
    org = create_org(srv, u)
    base = org_base(org["id"])
    slow, fast = "slow-" + org["id"], "fast-" + org["id"]
    ep_slow = hook(srv, u.token, base, receiver, slow, ["org.updated"])
    ep_fast = hook(srv, u.token, base, receiver, fast, ["team.created"])
    receiver.configure(slow, delay_ms=1000)
    for i in range(4):
        assert srv.patch(base, json={"name": "S%d" % i}, token=u.token).status_code == 200
    receiver.wait_for(slow)   # the slow receiver is busy
    assert srv.post(base + "/teams", json={"name": "T"}, token=u.token).status_code == 201
    f = receiver.wait_for(fast, timeout=30)
    s = receiver.wait_for(slow, lambda g: len(g) == 4, timeout=60)
    # one attempt at a time reached the slow receiver (the per-endpoint cap) ...
    arrivals = [g["at"] for g in s]
    assert all(b - a >= 900 for a, b in zip(arrivals, arrivals[1:])), arrivals
    # ... and the other endpoint did not wait for its backlog
    assert f[0]["at"] < arrivals[-1], (f[0]["at"], arrivals)
    settled(srv, u.token, base, ep_slow["id"], 4)
    settled(srv, u.token, base, ep_fast["id"], 1)


def test_kill9_before_the_delivery_still_delivers(make_server, smtp_sink,  # noqa: F811
                                                  receiver):  # noqa: F811
    s = make_server(args=FAST_ARGON2, workers=0, env=server_env(smtp_sink))
    u = new_user(s)
    org = create_org(s, u)
    base = org_base(org["id"])
    name = "kill-" + org["id"]
    ep = hook(s, u.token, base, receiver, name, ["org.updated"])
    assert s.patch(base, json={"name": "Committed"}, token=u.token).status_code == 200
    ds = list_deliveries(s, u.token, base, ep["id"])
    assert len(ds) == 1 and ds[0]["status"] == "pending", ds
    s.stop(signal.SIGKILL)
    s.exit_codes = []     # killed on purpose
    assert receiver.received(name) == []
    s.workers = 1
    s.start()
    got = receiver.wait_for(name, timeout=60)
    assert [g["id"] for g in got] == [ds[0]["id"]] and got[0]["verified"] == [True]
    assert body_of(got[0])["data"]["data"]["name"] == "Committed"


def test_kill9_during_an_attempt_delivers_again_with_the_same_id(make_server,  # noqa: F811
                                                                 smtp_sink,  # noqa: F811
                                                                 receiver):  # noqa: F811
    s = make_server(args=FAST_ARGON2, workers=1, env=server_env(smtp_sink))
    u = new_user(s)
    org = create_org(s, u)
    base = org_base(org["id"])
    name = "killmid-" + org["id"]
    ep = hook(s, u.token, base, receiver, name, ["org.updated"])
    receiver.configure(name, delay_ms=4000)
    assert s.patch(base, json={"name": "Mid"}, token=u.token).status_code == 200
    receiver.wait_for(name)           # the attempt is in flight
    s.stop(signal.SIGKILL)
    s.exit_codes = []
    receiver.configure(name, delay_ms=0)
    s.start()
    # the job's lease (30 s) runs out, and it is sent again
    got = receiver.wait_for(name, lambda g: len(g) >= 2, timeout=120)
    assert len({g["id"] for g in got}) == 1 and all(g["verified"] == [True] for g in got)
    u.token = login_ok(s, u.email)["access_token"]
    ds = settled(s, u.token, base, ep["id"], 1, timeout=60)
    assert ds[0]["status"] == "succeeded" and ds[0]["id"] == got[0]["id"], ds


def test_secrets_survive_a_master_key_rotation(make_server, smtp_sink,  # noqa: F811
                                               receiver):  # noqa: F811
    """Signing secrets are sealed under the owner's data key, which a master
    key rotation re-seals: afterwards an organization's endpoint (current and
    previous secret) and an instance endpoint still sign what the receiver
    verifies, and `plinth keys verify` opens them all."""
    old_env = {"PLINTH_MASTER_KEY": OLD_MASTER_KEY}
    s = make_server(args=FAST_ARGON2, workers=1, env=server_env(smtp_sink, old_env))
    u = new_user(s)
    org = create_org(s, u)
    base = org_base(org["id"])
    name = "master-" + org["id"]
    ep = hook(s, u.token, base, receiver, name, ["org.updated"])
    new = s.post(base + "/webhooks/%s/rotate-secret" % ep["id"], token=u.token).json()["secret"]
    receiver.configure(name, secrets=[ep["secret"], new])
    email = unique_email("whmaster")
    env = dict(old_env, PLINTH_DATABASE_URL=s.pg_url) if s.pg_url else dict(old_env)
    p = plinth.run_cli(["admin", "create", "--email", email, "--data", s.data_dir]
                       + list(FAST_ARGON2), env=env, input=ADMIN_PASSWORD + "\n", timeout=30)
    assert p.returncode == 0, (p.stdout, p.stderr)
    admin_token = login_ok(s, email, ADMIN_PASSWORD)["access_token"]
    iname = "master-inst-" + org["id"]
    inst = hook(s, admin_token, "/v1/admin", receiver, iname, ["flag.updated"])
    # sealed under the data keys (the org's, the instance's), not the master key
    current, previous = sealed_secrets(s, org["id"], ep["id"])
    assert current.startswith("dk1.") and previous.startswith("dk1."), (current, previous)
    assert sealed_secrets(s, None, inst["id"])[0].startswith("dk1.")
    assert sql_rows(s, "SELECT count(*) FROM data_keys WHERE scope = %s" % q(org["id"]),
                    org["id"]) == [["1"]]
    assert sql_rows(s, "SELECT count(*) FROM data_keys WHERE scope = 'instance'") == [["1"]]
    assert keys_cli(s, ["verify"], old_env).returncode == 0

    s.stop()
    p = keys_cli(s, ["rotate-master"], dict(old_env, PLINTH_MASTER_KEY_NEW=NEW_MASTER_KEY))
    assert p.returncode == 0, p.stderr
    assert sealed_secrets(s, org["id"], ep["id"]) == (current, previous)   # left as they were
    p = keys_cli(s, ["verify"], {"PLINTH_MASTER_KEY": NEW_MASTER_KEY})
    assert p.returncode == 0, p.stderr
    assert int(re.match(r"^\d+ data keys and (\d+) sealed values open", p.stdout).group(1)) >= 3
    s.extra_env["PLINTH_MASTER_KEY"] = NEW_MASTER_KEY
    s.start()
    assert s.patch(base, json={"name": "After rotation"}, token=u.token).status_code == 200
    got = receiver.wait_for(name, timeout=60)
    assert len(got) == 1 and got[0]["verified"] == [True, True], got
    assert body_of(got[0])["data"]["data"]["name"] == "After rotation"
    assert s.put("/v1/admin/flags/wh-master-" + org["id"][:8], json={"enabled": True},
                 token=admin_token).status_code == 200
    got = receiver.wait_for(iname, timeout=60)
    assert got[0]["verified"] == [True] and body_of(got[0])["type"] == "flag.updated", got
    r = s.post("/v1/admin/webhooks/%s/test" % inst["id"], token=admin_token)
    assert r.status_code == 202, r.text
    d_id = r.json()["delivery_id"]
    got = receiver.wait_for(iname, lambda ds: any(d["id"] == d_id for d in ds), timeout=60)
    assert [d["verified"] for d in got if d["id"] == d_id] == [[True]], got
    ds = settled(s, u.token, base, ep["id"], 1)
    assert ds[0]["status"] == "succeeded", ds


@pytest.mark.parametrize("owner", ["org", "instance"])
@pytest.mark.parametrize("case", ["flipped", "other_endpoint"])
def test_keys_verify_names_a_broken_secret(srv, admin, owner, case):
    """A webhook signing secret that was altered, or moved into another
    endpoint's row, does not open: `plinth keys verify` exits 1 naming it."""
    if owner == "org":
        u = new_user(srv)
        org_id = create_org(srv, u)["id"]
        token, base = u.token, org_base(org_id)
    else:
        org_id, token, base = None, admin["token"], "/v1/admin"
    ep = create_endpoint(srv, token, base, "https://v.example/a", ["org.updated"])
    other = create_endpoint(srv, token, base, "https://v.example/b", ["org.updated"])
    orig, _ = sealed_secrets(srv, org_id, ep["id"])
    if case == "flipped":
        body = orig[4:]
        box = orig[:4] + body[:-3] + ("A" if body[-3] != "A" else "B") + body[-2:]
    else:
        box = sealed_secrets(srv, org_id, other["id"])[0]
    db_exec(srv, org_id, "UPDATE webhook_endpoints SET secret_sealed = %s WHERE id = %s"
            % (q(box), q(ep["id"])))
    try:
        p = keys_cli(srv, ["verify"])
        assert p.returncode == 1, (p.returncode, p.stdout, p.stderr)
        assert "webhook endpoint %s" % ep["id"] in p.stderr and "does not open" in p.stderr, \
            p.stderr
        assert (org_id or "the instance") in p.stderr, p.stderr
    finally:
        db_exec(srv, org_id, "UPDATE webhook_endpoints SET secret_sealed = %s WHERE id = %s"
                % (q(orig), q(ep["id"])))
        for e in (ep, other):
            srv.delete(base + "/webhooks/" + e["id"], token=token)
    p = keys_cli(srv, ["verify"])
    assert p.returncode == 0, p.stderr


def test_deleting_an_org_deletes_its_endpoints_and_deliveries(srv, receiver):  # noqa: F811
    u = new_user(srv)
    org = create_org(srv, u)
    base = org_base(org["id"])
    ep = hook(srv, u.token, base, receiver, "del-" + org["id"], ["org.updated"])
    assert srv.patch(base, json={"name": "Doomed"}, token=u.token).status_code == 200
    settled(srv, u.token, base, ep["id"], 1)
    assert srv.delete(base, token=u.token).status_code == 204
    for table in ("webhook_endpoints", "webhook_deliveries", "webhook_attempts"):
        assert tenant_count(srv, table, org["id"]) == 0, table


def test_metrics(srv, receiver):  # noqa: F811
    u = new_user(srv)
    org = create_org(srv, u)
    base = org_base(org["id"])
    ep = hook(srv, u.token, base, receiver, "metrics-" + org["id"], ["org.updated"])
    assert srv.patch(base, json={"name": "M"}, token=u.token).status_code == 200
    settled(srv, u.token, base, ep["id"], 1)
    text = srv.get("/metrics").text
    samples = plinth.parse_metrics(text)
    ok = [v for n, labels, v in samples
          if n == "plinth_webhook_deliveries_total" and labels.get("outcome") == "success"]
    assert ok and ok[0] >= 1, text
    assert "# TYPE plinth_webhook_delivery_duration_seconds histogram" in text
    counts = [v for n, _, v in samples if n == "plinth_webhook_delivery_duration_seconds_count"]
    assert counts and counts[0] >= 1


def test_secrets_never_reach_logs_or_audit(srv, admin):
    """Run late: every secret made in this module's server stays out of its log
    and out of the audit log."""
    u = new_user(srv)
    org = create_org(srv, u)
    base = org_base(org["id"])
    ep = create_endpoint(srv, u.token, base, "https://s.example/x", ["*"])
    rot = srv.post(base + "/webhooks/%s/rotate-secret" % ep["id"], token=u.token).json()["secret"]
    inst = create_endpoint(srv, admin["token"], "/v1/admin", "https://s.example/i", ["*"])
    secrets = [ep["secret"], rot, inst["secret"]]
    log = srv.log()
    export = srv.get("/v1/orgs/%s/audit-events/export" % org["id"], token=u.token).text
    for sec in secrets:
        for part in (sec, sec[6:], sec[6:30]):
            assert part not in log
            assert part not in export
    assert srv.delete("/v1/admin/webhooks/" + inst["id"], token=admin["token"]).status_code == 204
