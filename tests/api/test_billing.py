"""Plans, limits and Stripe billing (issue 17), black-box on both engines:
plan administration and the free plan; each limit at its max answers 402 with
the documented body (members counting pending invitations, API keys) and
concurrent invitations never overshoot; plan features switch flags on (an org
override still wins); requests_per_minute answers 429 with Retry-After; Stripe
webhooks signed by the npm `stripe` package (bad, tampered and expired ones are
400 and change nothing; a replay changes nothing; an older event does not roll
the state back; past_due emails the owners); Checkout and portal sessions and
the sync job against a local stand-in for Stripe's API."""

import json
import threading
import time
import uuid

import pytest
import requests

import plinth
from plinth import assert_problem
from accounts_util import admin_create, db_scalar, login_ok, unique_email
from orgs_util import add_member, create_org, invite, new_user, tenant_count
from smtp_sink import mail_server, smtp_sink  # noqa: F401
from stripe_util import (WEBHOOK_SECRET, StripeStandIn, event, sign, sign_events, stripe_env,
                         subscription)

ADMIN_PASSWORD = "admin passphrase for billing tests"
LIMITS = ["members", "projects", "api_keys", "webhooks", "storage_bytes", "records",
          "requests_per_minute"]
PLAN_KEYS = {"key", "name", "public", "limits", "features", "stripe_price_ids", "created_at",
             "updated_at"}
BILLING_KEYS = {"plan", "status", "current_period_end", "cancel_at_period_end"}
USAGE_KEYS = {"members", "projects", "api_keys", "webhooks", "storage_bytes", "records"}
WEBHOOK = "/v1/billing/stripe/webhook"


def unique(prefix):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:8])


# --- the world -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def standin():
    s = StripeStandIn().start()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def srv(make_module_server, smtp_sink, standin):  # noqa: F811
    return mail_server(make_module_server, smtp_sink, workers=2, threads=8,
                       env=stripe_env(standin))


@pytest.fixture(scope="module")
def admin(srv):
    email = unique_email("billingadmin")
    p = admin_create(srv, email, ADMIN_PASSWORD)
    assert p.returncode == 0, (p.returncode, p.stdout, p.stderr)
    return login_ok(srv, email, ADMIN_PASSWORD)["access_token"]


@pytest.fixture(scope="module")
def alice(srv):
    return new_user(srv, "alice", name="Alice")


def limits(**kw):
    out = {k: None for k in LIMITS}
    out.update(kw)
    return out


def put_plan(srv, admin, key, **body):
    body.setdefault("name", key.title())
    return srv.put("/v1/admin/plans/" + key, json=body, token=admin)


def plan_ok(srv, admin, key=None, **body):
    key = key or unique("plan")
    r = put_plan(srv, admin, key, **body)
    assert r.status_code in (200, 201), (r.status_code, r.text)
    return assert_plan(r.json(), key)


def assert_plan(p, key=None):
    assert set(p) == PLAN_KEYS, p
    assert set(p["limits"]) == set(LIMITS), p
    for v in p["limits"].values():
        assert v is None or (isinstance(v, int) and v >= 0), p
    assert isinstance(p["features"], list) and isinstance(p["stripe_price_ids"], list), p
    assert isinstance(p["public"], bool), p
    if key:
        assert p["key"] == key, p
    return p


def assign(srv, admin, org_id, plan):
    r = srv.put("/v1/admin/orgs/%s/plan" % org_id, json={"plan": plan}, token=admin)
    assert r.status_code == 200, (r.status_code, r.text)
    return assert_billing(r.json())


def assert_billing(b):
    assert set(b) == BILLING_KEYS, b
    assert_plan(b["plan"])
    assert b["status"] in ("none", "trialing", "active", "past_due", "canceled"), b
    assert isinstance(b["cancel_at_period_end"], bool), b
    return b


def billing(srv, user, org_id):
    r = srv.get("/v1/orgs/%s/billing" % org_id, token=user.token)
    assert r.status_code == 200, (r.status_code, r.text)
    return assert_billing(r.json())


def usage(srv, user, org_id):
    r = srv.get("/v1/orgs/%s/usage" % org_id, token=user.token)
    assert r.status_code == 200, (r.status_code, r.text)
    body = r.json()
    assert set(body) == USAGE_KEYS, body
    for v in body.values():
        assert set(v) == {"used", "max"}, body
    return body


def assert_limit(r, limit, used, mx):
    body = assert_problem(r, 402, "plan_limit_reached")
    assert (body["limit"], body["used"], body["max"]) == (limit, used, mx), body
    return body


def audit(srv, user, org_id, action):
    r = srv.get("/v1/orgs/%s/audit-events" % org_id, params={"action": action, "limit": 200},
                token=user.token)
    assert r.status_code == 200, r.text
    return r.json()["data"]


def instance_events(srv, target_id):
    """Actions of the instance chain's events about target_id, oldest first."""
    out = []
    rows = plinth.psql("SELECT action FROM audit_events WHERE chain = 'instance' AND "
                       "target_id = '%s' ORDER BY seq" % target_id, url=srv.pg_url) \
        if srv.pg_url else None
    if rows is not None:
        out = [x for x in rows.split() if x]
    else:
        import sqlite3
        con = sqlite3.connect(srv.data_dir + "/plinth.db", timeout=10)
        try:
            out = [r[0] for r in con.execute(
                "SELECT action FROM audit_events WHERE chain = 'instance' AND target_id = ? "
                "ORDER BY seq", (target_id,))]
        finally:
            con.close()
    return out


# --- plans ------------------------------------------------------------------------------

def test_free_plan_exists_without_limits(srv, alice, admin):
    r = srv.get("/v1/plans", token=alice.token)
    assert r.status_code == 200, r.text
    plans = {p["key"]: assert_plan(p) for p in r.json()["data"]}
    assert set(r.json()) == {"data", "next_cursor"}
    assert plans["free"]["limits"] == limits() and plans["free"]["public"] is True
    r = srv.get("/v1/admin/plans", token=admin)
    assert r.status_code == 200 and "free" in {p["key"] for p in r.json()["data"]}, r.text


def test_new_org_is_on_the_free_plan(srv, alice):
    org = create_org(srv, alice)
    b = billing(srv, alice, org["id"])
    assert b["plan"]["key"] == "free" and b["status"] == "none", b
    assert b["current_period_end"] is None and b["cancel_at_period_end"] is False, b
    u = usage(srv, alice, org["id"])
    assert u["members"] == {"used": 1, "max": None}, u
    assert u["api_keys"] == {"used": 0, "max": None}, u
    # the personal org made at registration too
    assert billing(srv, alice, alice.personal_org)["plan"]["key"] == "free"


def test_plan_routes_need_an_instance_admin(srv, alice):
    assert_problem(srv.get("/v1/admin/plans"), 401, "unauthenticated")
    assert_problem(srv.get("/v1/admin/plans", token=alice.token), 403, "forbidden")
    assert_problem(put_plan(srv, alice.token, "nope"), 403, "forbidden")
    assert_problem(srv.delete("/v1/admin/plans/free", token=alice.token), 403, "forbidden")
    assert_problem(srv.put("/v1/admin/orgs/%s/plan" % alice.personal_org, json={"plan": "free"},
                           token=alice.token), 403, "forbidden")
    assert_problem(srv.post("/v1/admin/billing/sync", token=alice.token), 403, "forbidden")
    assert_problem(srv.get("/v1/plans"), 401, "unauthenticated")


def test_put_plan_creates_then_replaces(srv, admin, alice):
    key = unique("pro")
    body = {"name": "Pro", "public": True, "limits": {"members": 10, "api_keys": 5},
            "features": ["zeta", "alpha"], "stripe_price_ids": ["price_" + uuid.uuid4().hex[:8]]}
    r = put_plan(srv, admin, key, **body)
    assert r.status_code == 201, r.text
    p = assert_plan(r.json(), key)
    assert p["limits"] == limits(members=10, api_keys=5), p
    assert p["features"] == ["alpha", "zeta"], p
    assert p["stripe_price_ids"] == body["stripe_price_ids"], p
    r = put_plan(srv, admin, key, name="Pro 2", limits={"members": 20})
    assert r.status_code == 200, r.text
    p2 = assert_plan(r.json(), key)
    assert p2["name"] == "Pro 2" and p2["limits"] == limits(members=20), p2
    assert p2["features"] == [] and p2["stripe_price_ids"] == [] and p2["public"] is False, p2
    assert p2["created_at"] == p["created_at"], (p, p2)
    # not public any more: gone from the public list
    public = {x["key"] for x in srv.get("/v1/plans", token=alice.token).json()["data"]}
    assert key not in public
    assert instance_events(srv, key) == ["plan.created", "plan.updated"]


def test_put_plan_validation(srv, admin):
    bad = [
        ("Bad_Key", {"name": "x"}, "key"),
        (unique("v"), {}, "name"),
        (unique("v"), {"name": "x", "limits": {"members": -1}}, "limits.members"),
        (unique("v"), {"name": "x", "limits": {"records": 1.5}}, "limits.records"),
        (unique("v"), {"name": "x", "limits": [1]}, "limits"),
        (unique("v"), {"name": "x", "features": ["Not A Flag"]}, "features"),
        (unique("v"), {"name": "x", "features": "beta"}, "features"),
        (unique("v"), {"name": "x", "stripe_price_ids": ["price with space"]}, "stripe_price_ids"),
        (unique("v"), {"name": "x", "stripe_price_ids": ["price_a", "price_a"]},
         "stripe_price_ids"),
        (unique("v"), {"name": "x", "public": "yes"}, "public"),
    ]
    for key, body, field in bad:
        r = srv.put("/v1/admin/plans/" + key, json=body, token=admin)
        b = assert_problem(r, 422, "validation_failed")
        assert field in [e["field"] for e in b["errors"]], (body, b)


def test_a_price_belongs_to_one_plan(srv, admin):
    price = "price_" + uuid.uuid4().hex[:10]
    plan_ok(srv, admin, stripe_price_ids=[price])
    r = put_plan(srv, admin, unique("other"), stripe_price_ids=[price])
    assert_problem(r, 409, "conflict")


def test_delete_plan(srv, admin, alice):
    assert_problem(srv.delete("/v1/admin/plans/free", token=admin), 409, "conflict")
    assert_problem(srv.delete("/v1/admin/plans/" + unique("none"), token=admin), 404,
                   "not_found")
    p = plan_ok(srv, admin)
    org = create_org(srv, alice)
    assign(srv, admin, org["id"], p["key"])
    assert_problem(srv.delete("/v1/admin/plans/" + p["key"], token=admin), 409, "conflict")
    assign(srv, admin, org["id"], "free")
    r = srv.delete("/v1/admin/plans/" + p["key"], token=admin)
    assert r.status_code == 204, r.text
    keys = {x["key"] for x in srv.get("/v1/admin/plans", params={"limit": 200},
                                      token=admin).json()["data"]}
    assert p["key"] not in keys


def test_manual_assignment(srv, admin, alice):
    p = plan_ok(srv, admin, limits={"members": 50})
    org = create_org(srv, alice)
    b = assign(srv, admin, org["slug"], p["key"])
    assert b["plan"]["key"] == p["key"] and b["status"] == "none", b
    assert billing(srv, alice, org["id"]) == b
    assert usage(srv, alice, org["id"])["members"] == {"used": 1, "max": 50}
    ev = audit(srv, alice, org["id"], "subscription.updated")
    assert ev and ev[0]["data"]["plan"] == p["key"] and ev[0]["data"]["source"] == "admin", ev
    r = srv.put("/v1/admin/orgs/%s/plan" % org["id"], json={"plan": unique("missing")},
                token=admin)
    assert_problem(r, 422, "validation_failed")
    r = srv.put("/v1/admin/orgs/%s/plan" % uuid.uuid4(), json={"plan": "free"}, token=admin)
    assert_problem(r, 404, "not_found")


def test_default_plan_for_new_orgs(make_server, standin):
    with_default = make_server(env=dict(stripe_env(standin), PLINTH_DEFAULT_PLAN="starter"))
    email = unique_email("defaultplan")
    assert admin_create(with_default, email, ADMIN_PASSWORD).returncode == 0
    adm = login_ok(with_default, email, ADMIN_PASSWORD)["access_token"]
    u = new_user(with_default, "early")
    # no starter plan yet: the personal org went to free
    assert billing(with_default, u, u.personal_org)["plan"]["key"] == "free"
    plan_ok(with_default, adm, "starter", limits={"members": 3})
    org = create_org(with_default, u)
    assert billing(with_default, u, org["id"])["plan"]["key"] == "starter"
    assert_problem(with_default.delete("/v1/admin/plans/starter", token=adm), 409, "conflict")


# --- limits -----------------------------------------------------------------------------

def test_members_limit_counts_pending_invitations(srv, smtp_sink, admin, alice):  # noqa: F811
    p = plan_ok(srv, admin, limits={"members": 3})
    org = create_org(srv, alice)
    add_member(srv, smtp_sink, alice, org["id"])          # 2 members
    r = invite(srv, alice, org["id"], unique_email("pending"))
    assert r.status_code == 201, r.text                   # + 1 pending = 3 (no limit yet)
    pending = r.json()
    assign(srv, admin, org["id"], p["key"])
    assert usage(srv, alice, org["id"])["members"] == {"used": 3, "max": 3}
    assert_limit(invite(srv, alice, org["id"], unique_email("over")), "members", 3, 3)
    # revoking the pending invitation frees its seat
    r = srv.delete("/v1/orgs/%s/invitations/%s" % (org["id"], pending["id"]), token=alice.token)
    assert r.status_code == 204, r.text
    r = invite(srv, alice, org["id"], unique_email("fits"))
    assert r.status_code == 201, r.text
    assert_limit(invite(srv, alice, org["id"], unique_email("over2")), "members", 3, 3)
    # the refused invitations left nothing behind
    assert tenant_count(srv, "invitations", org["id"], "status = 'pending'") == 1


def test_api_keys_limit(srv, admin, alice):
    p = plan_ok(srv, admin, limits={"api_keys": 2})
    org = create_org(srv, alice)
    assign(srv, admin, org["id"], p["key"])
    path = "/v1/orgs/%s/api-keys" % org["id"]
    ids = []
    for i in range(2):
        r = srv.post(path, json={"name": "k%d" % i, "permissions": ["org.read"]},
                     token=alice.token)
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    r = srv.post(path, json={"name": "k3", "permissions": ["org.read"]}, token=alice.token)
    assert_limit(r, "api_keys", 2, 2)
    assert usage(srv, alice, org["id"])["api_keys"] == {"used": 2, "max": 2}
    assert len(srv.get(path, token=alice.token).json()["data"]) == 2
    assert srv.delete("%s/%s" % (path, ids[0]), token=alice.token).status_code == 204
    r = srv.post(path, json={"name": "k4", "permissions": ["org.read"]}, token=alice.token)
    assert r.status_code == 201, r.text


def test_limit_of_zero_and_unlimited(srv, admin, alice):
    p = plan_ok(srv, admin, limits={"api_keys": 0, "members": None})
    org = create_org(srv, alice)
    assign(srv, admin, org["id"], p["key"])
    r = srv.post("/v1/orgs/%s/api-keys" % org["id"], json={"name": "k", "permissions": []},
                 token=alice.token)
    assert_limit(r, "api_keys", 0, 0)
    for _ in range(3):
        assert invite(srv, alice, org["id"], unique_email("many")).status_code == 201


def test_concurrent_invitations_do_not_overshoot(srv, admin, alice):
    """20 invitations at once into an org one seat below its limit: exactly
    one gets it."""
    p = plan_ok(srv, admin, limits={"members": 5})
    org = create_org(srv, alice)
    for _ in range(3):
        assert invite(srv, alice, org["id"], unique_email("seat")).status_code == 201
    assign(srv, admin, org["id"], p["key"])
    assert usage(srv, alice, org["id"])["members"]["used"] == 4
    results = [None] * 20
    barrier = threading.Barrier(20)

    def one(i):
        # a connection per thread, all sent at once
        with requests.Session() as s:
            barrier.wait()
            results[i] = s.post(srv.url + "/v1/orgs/%s/invitations" % org["id"],
                                json={"email": unique_email("race%d" % i), "role": "member"},
                                headers={"Authorization": "Bearer " + alice.token}, timeout=30)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    codes = sorted(r.status_code for r in results)
    assert codes.count(201) == 1 and codes.count(402) == 19, codes
    for r in results:
        if r.status_code == 402:
            assert_limit(r, "members", 5, 5)
    assert tenant_count(srv, "invitations", org["id"], "status = 'pending'") == 4
    assert usage(srv, alice, org["id"])["members"] == {"used": 5, "max": 5}


def test_concurrent_api_keys_do_not_overshoot(srv, admin, alice):
    p = plan_ok(srv, admin, limits={"api_keys": 3})
    org = create_org(srv, alice)
    assign(srv, admin, org["id"], p["key"])
    path = "/v1/orgs/%s/api-keys" % org["id"]
    for i in range(2):
        r = srv.post(path, json={"name": "k%d" % i, "permissions": []}, token=alice.token)
        assert r.status_code == 201, r.text
    results = [None] * 20
    barrier = threading.Barrier(20)

    def one(i):
        with requests.Session() as s:
            barrier.wait()
            results[i] = s.post(srv.url + path, json={"name": "race%d" % i, "permissions": []},
                                headers={"Authorization": "Bearer " + alice.token}, timeout=30)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    codes = sorted(r.status_code for r in results)
    assert codes.count(201) == 1 and codes.count(402) == 19, codes
    assert len(srv.get(path, token=alice.token).json()["data"]) == 3


def test_projects_limit_and_concurrent_creates(srv, admin, alice):
    p = plan_ok(srv, admin, limits={"projects": 3})
    org = create_org(srv, alice)
    assign(srv, admin, org["id"], p["key"])
    path = "/v1/orgs/%s/projects" % org["id"]
    ids = []
    for i in range(2):
        r = srv.post(path, json={"name": "p%d" % i, "environments": []}, token=alice.token)
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    assert usage(srv, alice, org["id"])["projects"] == {"used": 2, "max": 3}
    results = [None] * 12
    barrier = threading.Barrier(12)

    def one(i):
        with requests.Session() as s:
            barrier.wait()
            results[i] = s.post(srv.url + path, json={"name": "race%d" % i, "environments": []},
                                headers={"Authorization": "Bearer " + alice.token}, timeout=30)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    codes = sorted(r.status_code for r in results)
    assert codes.count(201) == 1 and codes.count(402) == 11, codes
    assert_limit(srv.post(path, json={"name": "over"}, token=alice.token), "projects", 3, 3)
    assert len(srv.get(path, token=alice.token).json()["data"]) == 3
    # deleting a project frees its place
    assert srv.delete("%s/%s" % (path, ids[0]), token=alice.token).status_code == 204
    r = srv.post(path, json={"name": "fits", "environments": []}, token=alice.token)
    assert r.status_code == 201, r.text


def test_webhooks_limit(srv, admin, alice):
    p = plan_ok(srv, admin, limits={"webhooks": 2})
    org = create_org(srv, alice)
    assign(srv, admin, org["id"], p["key"])
    path = "/v1/orgs/%s/webhooks" % org["id"]
    body = {"url": "https://93.184.216.34/hook", "events": ["*"]}
    ids = []
    for _ in range(2):
        r = srv.post(path, json=body, token=alice.token)
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    assert usage(srv, alice, org["id"])["webhooks"] == {"used": 2, "max": 2}
    assert_limit(srv.post(path, json=body, token=alice.token), "webhooks", 2, 2)
    assert srv.delete("%s/%s" % (path, ids[0]), token=alice.token).status_code == 204
    r = srv.post(path, json=body, token=alice.token)
    assert r.status_code == 201, r.text


# --- permissions ------------------------------------------------------------------------

def test_billing_permissions(srv, smtp_sink, alice):  # noqa: F811
    org = create_org(srv, alice)
    adm = add_member(srv, smtp_sink, alice, org["id"], role="admin")
    mem = add_member(srv, smtp_sink, alice, org["id"], role="member")
    viewer = add_member(srv, smtp_sink, alice, org["id"], role="viewer")
    assert billing(srv, adm, org["id"])["plan"]["key"] == "free"
    assert_problem(srv.get("/v1/orgs/%s/billing" % org["id"], token=mem.token), 403, "forbidden")
    for u in (adm, mem, viewer):
        usage(srv, u, org["id"])
    body = {"plan": "free", "success_url": "https://app.example/ok",
            "cancel_url": "https://app.example/no"}
    for u in (adm, mem):
        assert_problem(srv.post("/v1/orgs/%s/billing/checkout" % org["id"], json=body,
                                token=u.token), 403, "forbidden")
        assert_problem(srv.post("/v1/orgs/%s/billing/portal" % org["id"],
                                json={"return_url": "https://app.example/"}, token=u.token),
                       403, "forbidden")
    perms = {p["key"] for p in srv.get("/v1/permissions", token=alice.token).json()["data"]}
    assert {"billing.read", "billing.manage"} <= perms
    roles = {x["key"]: set(x["permissions"]) for x in
             srv.get("/v1/orgs/%s/roles" % org["id"], token=alice.token).json()["data"]}
    assert {"billing.read", "billing.manage"} <= roles["owner"]
    assert "billing.read" in roles["admin"] and "billing.manage" not in roles["admin"]
    assert not {"billing.read", "billing.manage"} & (roles["member"] | roles["viewer"])


# --- features switch flags on ------------------------------------------------------------

def flags_of(srv, user, org_id):
    r = srv.get("/v1/orgs/%s/flags" % org_id, token=user.token)
    assert r.status_code == 200, r.text
    return r.json()["flags"]


def test_plan_features_turn_flags_on(srv, admin, alice):
    flag, other = unique("beta"), unique("gamma")
    for k in (flag, other):
        r = srv.put("/v1/admin/flags/" + k, json={"enabled": False}, token=admin)
        assert r.status_code == 200, r.text
    p = plan_ok(srv, admin, features=[flag])
    on, off = create_org(srv, alice), create_org(srv, alice)
    assert flags_of(srv, alice, on["id"])[flag] is False
    assign(srv, admin, on["id"], p["key"])
    assert flags_of(srv, alice, on["id"])[flag] is True
    assert flags_of(srv, alice, on["id"])[other] is False
    assert flags_of(srv, alice, off["id"])[flag] is False
    # an org override still wins
    r = srv.put("/v1/admin/flags/%s/orgs/%s" % (flag, on["id"]), json={"enabled": False},
                token=admin)
    assert r.status_code == 200, r.text
    assert flags_of(srv, alice, on["id"])[flag] is False
    r = srv.put("/v1/admin/flags/%s/orgs/%s" % (other, off["id"]), json={"enabled": True},
                token=admin)
    assert flags_of(srv, alice, off["id"])[other] is True
    assert srv.delete("/v1/admin/flags/%s/orgs/%s" % (flag, on["id"]),
                      token=admin).status_code == 204
    assert flags_of(srv, alice, on["id"])[flag] is True
    # the plan loses the feature: off again at once
    plan_ok(srv, admin, p["key"], features=[])
    assert flags_of(srv, alice, on["id"])[flag] is False


def test_another_instance_follows_plan_changes(srv, admin, alice, make_server):
    """A second process on the same storage: its plan cache follows changes
    made through the first within its poll interval."""
    other = make_server(args=srv.args, start=False)
    if other.pg_db:
        plinth.drop_database(other.pg_db)
        other.pg_db = None
    other.pg_url = srv.pg_url
    other.data_dir = srv.data_dir
    other.start()
    flag = unique("remote")
    assert srv.put("/v1/admin/flags/" + flag, json={"enabled": False},
                   token=admin).status_code == 200
    p = plan_ok(srv, admin, features=[flag])
    org = create_org(srv, alice)
    # the flag reaches the other instance's flags within a second; the org's
    # plan is then in its cache
    wait_for(lambda: flags_of(other, alice, org["id"]).get(flag) is False, timeout=5)
    assign(srv, admin, org["id"], p["key"])
    wait_for(lambda: flags_of(other, alice, org["id"])[flag] is True, timeout=5)
    plan_ok(srv, admin, p["key"], features=[], limits={"requests_per_minute": 2})
    wait_for(lambda: flags_of(other, alice, org["id"])[flag] is False, timeout=5)
    wait_for(lambda: other.get("/v1/orgs/" + org["id"], token=alice.token).status_code == 429,
             timeout=5)


# --- requests_per_minute ------------------------------------------------------------------

def test_requests_per_minute(srv, admin, alice):
    p = plan_ok(srv, admin, limits={"requests_per_minute": 5})
    org, other = create_org(srv, alice), create_org(srv, alice)
    assign(srv, admin, org["id"], p["key"])
    r = srv.post("/v1/orgs/%s/api-keys" % other["id"], json={"name": "k",
                                                              "permissions": ["org.read"]},
                 token=alice.token)
    assert r.status_code == 201
    codes = []
    for _ in range(5):
        codes.append(srv.get("/v1/orgs/" + org["id"], token=alice.token).status_code)
    assert codes == [200] * 5, codes
    r = srv.get("/v1/orgs/%s/members" % org["id"], token=alice.token)
    body = assert_problem(r, 429, "rate_limited")
    retry = int(r.headers["Retry-After"])
    assert 1 <= retry <= 60, r.headers
    assert "5" in body["detail"]
    # other orgs and routes outside the org are not counted against it
    for _ in range(10):
        assert srv.get("/v1/orgs/" + other["id"], token=alice.token).status_code == 200
    assert srv.get("/v1/me", token=alice.token).status_code == 200
    # API-key requests into the org count too
    key = srv.post("/v1/orgs/%s/api-keys" % org["id"], json={"name": "k",
                                                             "permissions": ["org.read"]},
                   token=alice.token)
    assert_problem(key, 429, "rate_limited")
    # back on an unlimited plan: through at once
    assign(srv, admin, org["id"], "free")
    assert srv.get("/v1/orgs/" + org["id"], token=alice.token).status_code == 200


# --- Stripe: webhooks ---------------------------------------------------------------------

def post_event(srv, payload, header):
    h = {"Content-Type": "application/json"}
    if header is not None:
        h["Stripe-Signature"] = header
    return srv.session.post(srv.url + WEBHOOK, data=payload.encode(), headers=h, timeout=10)


def deliver(srv, payload, timestamp=None):
    r = post_event(srv, payload, sign(payload, timestamp=timestamp))
    assert r.status_code == 200, (r.status_code, r.text)
    return r.json()


def stripe_events_count(srv):
    return int(db_scalar(srv, "SELECT count(*) FROM stripe_events"))


class Paid:
    """An org with a paid plan (priced) and a linked Stripe customer."""


@pytest.fixture
def paid(srv, admin, alice):
    x = Paid()
    x.price = "price_" + uuid.uuid4().hex[:12]
    x.price2 = "price_" + uuid.uuid4().hex[:12]
    x.plan = plan_ok(srv, admin, unique("pro"), public=True, limits={"members": 25},
                     stripe_price_ids=[x.price])
    x.plan2 = plan_ok(srv, admin, unique("team"), stripe_price_ids=[x.price2])
    x.org = create_org(srv, alice)
    x.id = x.org["id"]
    x.customer = "cus_" + uuid.uuid4().hex[:14]
    x.sub = "sub_" + uuid.uuid4().hex[:14]
    session = {"id": "cs_test_" + uuid.uuid4().hex[:10], "object": "checkout.session",
               "mode": "subscription", "client_reference_id": x.id, "customer": x.customer,
               "subscription": x.sub, "status": "complete"}
    deliver(srv, event("checkout.session.completed", session))
    return x


def test_bad_signatures_are_400_and_change_nothing(srv, alice, paid):
    before = (stripe_events_count(srv), billing(srv, alice, paid.id))
    now = int(time.time())
    good = event("customer.subscription.created",
                 subscription(paid.sub, paid.customer, paid.price), created=now)
    tampered = good.replace('"active"', '"trialing"')
    headers = sign_events([(good, WEBHOOK_SECRET, now),                # for the tampered body
                           (good, "whsec_not_the_secret", now),        # wrong secret
                           (good, WEBHOOK_SECRET, now - 301),          # expired
                           (good, WEBHOOK_SECRET, now + 400)])         # from the future
    cases = [(tampered, headers[0]), (good, headers[1]), (good, headers[2]), (good, headers[3]),
             (good, None), (good, ""), (good, "t=%d" % now), (good, "v1=" + "0" * 64),
             (good, headers[0].replace("v1=", "v0=")),
             (good, "t=%d,v1=%s" % (now, "zz" * 32)), (good, "garbage")]
    for payload, header in cases:
        assert_problem(post_event(srv, payload, header), 400, "bad_request")
    # a signature over the body of another event does not carry over
    other = event("customer.subscription.created",
                  subscription(paid.sub, paid.customer, paid.price), created=now)
    assert_problem(post_event(srv, other, headers[0]), 400, "bad_request")
    assert (stripe_events_count(srv), billing(srv, alice, paid.id)) == before


def test_several_v1_signatures_one_valid(srv, alice, paid):
    payload = event("customer.subscription.created",
                    subscription(paid.sub, paid.customer, paid.price))
    header = sign(payload)
    t, v1 = header.split(",")
    mixed = "%s,v1=%s,%s,v0=%s" % (t, "ab" * 32, v1, "cd" * 32)
    r = post_event(srv, payload, mixed)
    assert r.status_code == 200, r.text
    assert billing(srv, alice, paid.id)["plan"]["key"] == paid.plan["key"]


def test_subscription_lifecycle(srv, smtp_sink, alice, paid):  # noqa: F811
    co_owner = add_member(srv, smtp_sink, alice, paid.id, role="owner", prefix="coowner")
    plain = add_member(srv, smtp_sink, alice, paid.id, role="admin", prefix="notowner")
    t0 = int(time.time()) - 100
    end = t0 + 30 * 86400
    deliver(srv, event("customer.subscription.created",
                       subscription(paid.sub, paid.customer, paid.price, status="trialing",
                                    period_end=end), created=t0))
    b = billing(srv, alice, paid.id)
    assert (b["plan"]["key"], b["status"]) == (paid.plan["key"], "trialing"), b
    assert b["current_period_end"].startswith(
        time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(end))), b
    assert usage(srv, alice, paid.id)["members"]["max"] == 25
    # upgraded to the other price, in the API version that moved the period
    deliver(srv, event("customer.subscription.updated",
                       subscription(paid.sub, paid.customer, paid.price2, status="active",
                                    period_end=end + 86400, new_shape=True,
                                    cancel_at_period_end=True), created=t0 + 10))
    b = billing(srv, alice, paid.id)
    assert (b["plan"]["key"], b["status"], b["cancel_at_period_end"]) == \
        (paid.plan2["key"], "active", True), b
    assert b["current_period_end"].startswith(
        time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(end + 86400))), b
    # a payment fails: past due, and every owner (only owners) gets an email
    deliver(srv, event("invoice.payment_failed",
                       {"id": "in_1", "object": "invoice", "customer": paid.customer,
                        "subscription": paid.sub, "status": "open"}, created=t0 + 20))
    assert billing(srv, alice, paid.id)["status"] == "past_due"
    for owner in (alice, co_owner):
        m = smtp_sink.wait_for_to(owner.email, subject="Payment failed")
        assert paid.org["name"] in m.subject() and "past due" in m.text(), m.text()
    time.sleep(0.5)
    assert not [m for m in smtp_sink.messages(to=plain.email) if "Payment failed" in m.subject()]
    # paid after all (newer API shape: the subscription under parent)
    deliver(srv, event("invoice.paid",
                       {"id": "in_2", "object": "invoice", "customer": paid.customer,
                        "parent": {"type": "subscription_details",
                                   "subscription_details": {"subscription": paid.sub}},
                        "status": "paid"}, created=t0 + 30))
    assert billing(srv, alice, paid.id)["status"] == "active"
    # other types are acknowledged and ignored
    r = deliver(srv, event("customer.created", {"id": paid.customer, "object": "customer"}))
    assert r == {"received": True, "duplicate": False}, r
    # canceled: the default plan from then
    deliver(srv, event("customer.subscription.deleted",
                       subscription(paid.sub, paid.customer, paid.price2, status="canceled"),
                       created=t0 + 40))
    b = billing(srv, alice, paid.id)
    assert (b["plan"]["key"], b["status"]) == ("free", "canceled"), b
    ev = audit(srv, alice, paid.id, "subscription.updated")
    assert [e["data"].get("status") for e in ev[:5]] == \
        ["canceled", "active", "past_due", "active", "trialing"], ev
    assert ev[0]["actor"]["type"] == "system", ev[0]


def test_the_same_event_twice_changes_state_once(srv, alice, paid):
    payload = event("customer.subscription.created",
                    subscription(paid.sub, paid.customer, paid.price))
    header = sign(payload)
    first = post_event(srv, payload, header)
    assert first.status_code == 200 and first.json()["duplicate"] is False, first.text
    n_events = len(audit(srv, alice, paid.id, "subscription.updated"))
    state = billing(srv, alice, paid.id)
    assert state["plan"]["key"] == paid.plan["key"] and state["status"] == "active"
    # the replay, and the same event re-signed later (Stripe's retry)
    second = post_event(srv, payload, header)
    assert second.status_code == 200 and second.json()["duplicate"] is True, second.text
    assert deliver(srv, payload)["duplicate"] is True
    assert len(audit(srv, alice, paid.id, "subscription.updated")) == n_events
    assert billing(srv, alice, paid.id) == state


def test_replay_after_a_change_changes_nothing(srv, alice, paid):
    """The replay of an old event after a newer one: still nothing."""
    created = event("customer.subscription.created",
                    subscription(paid.sub, paid.customer, paid.price), created=time.time() - 50)
    deliver(srv, created)
    deliver(srv, event("customer.subscription.updated",
                       subscription(paid.sub, paid.customer, paid.price2),
                       created=time.time() - 10))
    assert deliver(srv, created)["duplicate"] is True
    assert billing(srv, alice, paid.id)["plan"]["key"] == paid.plan2["key"]


def test_an_older_update_does_not_roll_back(srv, alice, paid):
    t = int(time.time())
    newer = event("customer.subscription.updated",
                  subscription(paid.sub, paid.customer, paid.price2, status="active"),
                  created=t - 5)
    older = event("customer.subscription.updated",
                  subscription(paid.sub, paid.customer, paid.price, status="past_due"),
                  created=t - 60)
    deliver(srv, newer)
    state = billing(srv, alice, paid.id)
    assert (state["plan"]["key"], state["status"]) == (paid.plan2["key"], "active"), state
    n = len(audit(srv, alice, paid.id, "subscription.updated"))
    r = deliver(srv, older)
    assert r["duplicate"] is False, r
    assert billing(srv, alice, paid.id) == state
    assert len(audit(srv, alice, paid.id, "subscription.updated")) == n
    # older invoice events are stale as well
    deliver(srv, event("invoice.payment_failed",
                       {"id": "in_x", "object": "invoice", "customer": paid.customer,
                        "subscription": paid.sub}, created=t - 30))
    assert billing(srv, alice, paid.id) == state


def test_subscription_before_checkout_completion(srv, alice, admin):
    """Stripe does not order events: the subscription may come first; its
    metadata names the org."""
    price = "price_" + uuid.uuid4().hex[:12]
    p = plan_ok(srv, admin, stripe_price_ids=[price])
    org = create_org(srv, alice)
    cus, sub = "cus_" + uuid.uuid4().hex[:12], "sub_" + uuid.uuid4().hex[:12]
    deliver(srv, event("customer.subscription.created",
                       subscription(sub, cus, price, org_id=org["id"])))
    assert billing(srv, alice, org["id"])["plan"]["key"] == p["key"]
    # an unknown customer without metadata: acknowledged, nothing happens
    r = deliver(srv, event("customer.subscription.created",
                           subscription("sub_" + uuid.uuid4().hex[:8],
                                        "cus_" + uuid.uuid4().hex[:8], price)))
    assert r["received"] is True


# --- Stripe: Checkout, portal, sync ---------------------------------------------------------

def test_checkout_and_portal(srv, standin, admin, alice, paid):
    before = len(standin.seen("POST", "/v1/checkout/sessions"))
    body = {"plan": paid.plan["key"], "success_url": "https://app.example/billing?ok=1",
            "cancel_url": "https://app.example/billing"}
    r = srv.post("/v1/orgs/%s/billing/checkout" % paid.id, json=body, token=alice.token)
    assert r.status_code == 200, r.text
    assert set(r.json()) == {"url"} and r.json()["url"].startswith(
        "https://checkout.stripe.test/"), r.json()
    reqs = standin.seen("POST", "/v1/checkout/sessions")
    assert len(reqs) == before + 1
    f = reqs[-1]["form"]
    assert f["mode"] == "subscription" and f["line_items[0][price]"] == paid.price, f
    assert f["client_reference_id"] == paid.id and f["metadata[org_id]"] == paid.id, f
    assert f["subscription_data[metadata][org_id]"] == paid.id, f
    assert f["success_url"] == body["success_url"] and f["customer"] == paid.customer, f
    # a fresh org has no customer yet: Stripe gets the owner's email
    org = create_org(srv, alice)
    r = srv.post("/v1/orgs/%s/billing/checkout" % org["id"], json=body, token=alice.token)
    assert r.status_code == 200, r.text
    f = standin.seen("POST", "/v1/checkout/sessions")[-1]["form"]
    assert "customer" not in f and f["customer_email"] == alice.email, f
    # a plan without a price, an unknown plan, bad URLs
    for bad, field in (({"plan": "free"}, "plan"), ({"plan": unique("nope")}, "plan"),
                       ({"success_url": "javascript:alert(1)"}, "success_url"),
                       ({"cancel_url": None}, "cancel_url")):
        b = assert_problem(srv.post("/v1/orgs/%s/billing/checkout" % paid.id,
                                    json=dict(body, **bad), token=alice.token), 422,
                           "validation_failed")
        assert field in [e["field"] for e in b["errors"]], b
    # the portal: only once a customer is linked
    assert_problem(srv.post("/v1/orgs/%s/billing/portal" % org["id"],
                            json={"return_url": "https://app.example/"}, token=alice.token),
                   409, "conflict")
    r = srv.post("/v1/orgs/%s/billing/portal" % paid.id,
                 json={"return_url": "https://app.example/billing"}, token=alice.token)
    assert r.status_code == 200, r.text
    assert r.json()["url"].startswith("https://billing.stripe.test/"), r.json()
    f = standin.seen("POST", "/v1/billing_portal/sessions")[-1]["form"]
    assert f == {"customer": paid.customer, "return_url": "https://app.example/billing"}, f


def test_checkout_without_stripe(make_server, alice):
    plain = make_server()
    u = new_user(plain, "nostripe")
    r = plain.post("/v1/orgs/%s/billing/portal" % u.personal_org,
                   json={"return_url": "https://app.example/"}, token=u.token)
    assert_problem(r, 409, "conflict")
    payload = event("customer.created", {"id": "cus_x"})
    assert_problem(post_event(plain, payload, sign(payload)), 400, "bad_request")


def wait_for(fn, timeout=15.0):
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v:
            return v
        assert time.monotonic() < deadline, "condition not met within %.0f s" % timeout
        time.sleep(0.1)


def test_sync_repairs_a_missed_webhook(srv, standin, admin, alice, paid):
    """The subscription's events never arrived; the sync job reads it from
    Stripe's API (the stand-in) and applies it."""
    assert billing(srv, alice, paid.id)["plan"]["key"] == "free"
    standin.put_subscription(subscription(paid.sub, paid.customer, paid.price, status="active"))
    r = srv.post("/v1/admin/billing/sync", token=admin)
    assert r.status_code == 202, r.text
    b = wait_for(lambda: (lambda b: b if b["plan"]["key"] == paid.plan["key"] else None)(
        billing(srv, alice, paid.id)))
    assert b["status"] == "active", b
    assert standin.seen("GET", "/v1/subscriptions/" + paid.sub)
    ev = audit(srv, alice, paid.id, "subscription.updated")
    assert ev[0]["data"]["source"] == "sync", ev[0]
    # canceled on Stripe's side, and a new subscription replaced it: the new one wins
    new_sub = "sub_" + uuid.uuid4().hex[:14]
    standin.put_subscription(subscription(paid.sub, paid.customer, paid.price,
                                          status="canceled", created=time.time() - 100))
    standin.put_subscription(subscription(new_sub, paid.customer, paid.price2,
                                          status="trialing"))
    assert srv.post("/v1/admin/billing/sync", token=admin).status_code == 202
    b = wait_for(lambda: (lambda b: b if b["plan"]["key"] == paid.plan2["key"] else None)(
        billing(srv, alice, paid.id)))
    assert b["status"] == "trialing", b
    assert standin.seen("GET", "/v1/subscriptions")
    # an event older than what the sync read is stale
    deliver(srv, event("customer.subscription.deleted",
                       subscription(new_sub, paid.customer, paid.price2, status="canceled"),
                       created=time.time() - 60))
    assert billing(srv, alice, paid.id)["status"] == "trialing"


# --- row-level security -------------------------------------------------------------------

def test_billing_rows_are_tenant_rows(srv, alice, engine):
    if engine != "postgres":
        pytest.skip("row-level security is PostgreSQL only")
    org = create_org(srv, alice)
    assert plinth.psql("SELECT count(*) FROM org_billing", url=srv.pg_url).strip() == "0"
    assert tenant_count(srv, "org_billing", org["id"]) == 1
    out = plinth.psql("UPDATE org_billing SET plan_key = 'free'", url=srv.pg_url)
    assert out.strip() == "", out
