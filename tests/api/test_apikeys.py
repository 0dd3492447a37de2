"""Black-box tests of org-scoped API keys (issue 6): creation (permissions a
subset of the creator's, expiry validation), listing without secrets, a key's
scope (exactly its permissions, only its org, never user routes), revocation
and expiry effective at once, garbage keys, and the level rules (a key acts
only on members strictly below its creator's level at creation, and never
assigns owner)."""

import datetime
import re
import time

import pytest

from plinth import assert_problem
from accounts_util import TIME_RE
from orgs_util import (ALL_PERMISSIONS, BUILTIN_ROLES, add_member, create_org, members, new_user)
from smtp_sink import mail_server, smtp_sink  # noqa: F401

KEY_RE = re.compile(r"^plk_[0-9A-Za-z]{43}$")
KEY_FIELDS = {"id", "name", "prefix", "permissions", "created_by", "expires_at", "last_used_at",
              "created_at"}
BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


@pytest.fixture(scope="module")
def srv(make_module_server, smtp_sink):  # noqa: F811
    return mail_server(make_module_server, smtp_sink, workers=2)


class World:
    pass


@pytest.fixture(scope="module")
def w(srv, smtp_sink):  # noqa: F811
    """Org A with an owner, an admin, a member and a viewer; org B of the same owner."""
    x = World()
    x.owner = new_user(srv, "owner")
    x.org = create_org(srv, x.owner, name="Keys A")["id"]
    x.org_b = create_org(srv, x.owner, name="Keys B")["id"]
    for role in ("admin", "member", "viewer"):
        setattr(x, role, add_member(srv, smtp_sink, x.owner, x.org, role=role, prefix=role))
    return x


def kpath(org, key_id=None):
    return "/v1/orgs/%s/api-keys" % org + ("/%s" % key_id if key_id else "")


def create(srv, user, org, permissions, name="ci key", expires_at=None, token=None):
    body = {"name": name, "permissions": permissions}
    if expires_at is not None:
        body["expires_at"] = expires_at
    return srv.post(kpath(org), json=body, token=token or user.token)


def create_ok(srv, user, org, permissions, **kw):
    r = create(srv, user, org, permissions, **kw)
    assert r.status_code == 201, (r.status_code, r.text)
    return r.json()


def list_keys(srv, token, org):
    r = srv.get(kpath(org), token=token, params={"limit": 200})
    assert r.status_code == 200, (r.status_code, r.text)
    body = r.json()
    assert set(body) >= {"data", "next_cursor"}, body
    return {k["id"]: k for k in body["data"]}


def rfc3339(t):
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (int(t * 1000) % 1000)


def assert_401(r):
    assert r.status_code == 401, (r.request.method, r.url, r.status_code, r.text)
    body = r.json()
    assert body["code"] in ("unauthenticated", "invalid_token"), body
    assert_problem(r, 401, body["code"])
    return body


# --- creation ------------------------------------------------------------------------------

def test_create_and_list(srv, w):
    perms = ["member.read", "team.read"]
    k = create_ok(srv, w.owner, w.org, perms, name="Deploy bot")
    assert set(k) == KEY_FIELDS | {"key"}, k
    assert KEY_RE.match(k["key"]), k["key"]
    assert k["prefix"] == k["key"][:12], k
    assert k["name"] == "Deploy bot" and sorted(k["permissions"]) == perms, k
    assert k["created_by"] == w.owner.id, k
    assert k["expires_at"] is None and k["last_used_at"] is None, k
    assert TIME_RE.match(k["created_at"]), k

    keys = list_keys(srv, w.owner.token, w.org)
    got = keys[k["id"]]
    assert "key" not in got, got
    assert set(got) >= KEY_FIELDS, got
    assert {f: got[f] for f in KEY_FIELDS} == {f: k[f] for f in KEY_FIELDS}, (got, k)
    # The secret shows up nowhere after creation; prefix is only 12 characters.
    r = srv.get(kpath(w.org), token=w.owner.token)
    assert k["key"] not in r.text and k["key"][:20] not in r.text
    # Another org's list does not show it; keys differ every time.
    assert k["id"] not in list_keys(srv, w.owner.token, w.org_b)
    k2 = create_ok(srv, w.owner, w.org, perms, name="Deploy bot")
    assert k2["key"] != k["key"] and k2["id"] != k["id"]
    # An admin (apikey.read) sees them too.
    assert {k["id"], k2["id"]} <= set(list_keys(srv, w.admin.token, w.org))


def test_create_with_expiry(srv, w):
    at = rfc3339(time.time() + 86400)
    k = create_ok(srv, w.owner, w.org, ["org.read"], expires_at=at)
    assert k["expires_at"] == at, k
    assert list_keys(srv, w.owner.token, w.org)[k["id"]]["expires_at"] == at


def test_create_validation(srv, w):
    def bad(field, **body):
        r = srv.post(kpath(w.org), json=body, token=w.owner.token)
        b = assert_problem(r, 422, "validation_failed")
        assert field in {e["field"] for e in b["errors"]}, b
        return b

    bad("permissions", name="k", permissions=["org.read", "org.explode"])
    bad("permissions", name="k", permissions="org.read")
    bad("permissions", name="k")
    bad("name", permissions=["org.read"])
    bad("name", name="", permissions=["org.read"])
    now = time.time()
    bad("expires_at", name="k", permissions=["org.read"], expires_at=rfc3339(now - 60))
    bad("expires_at", name="k", permissions=["org.read"], expires_at="tomorrow")
    bad("expires_at", name="k", permissions=["org.read"], expires_at="2999-01-01")
    bad("expires_at", name="k", permissions=["org.read"],
        expires_at=datetime.datetime.fromtimestamp(now + 86400).strftime("%Y-%m-%dT%H:%M:%S+02:00"))
    bad("expires_at", name="k", permissions=["org.read"], expires_at="2999-13-01T00:00:00Z")
    # Nothing was created.
    assert all(k["name"] != "k" for k in list_keys(srv, w.owner.token, w.org).values())


def test_expires_at_must_be_a_real_rfc3339_time(srv, w):
    # Not dates at all, or not in RFC 3339 form: 422, not silently normalised.
    for bad in ("2030-02-31T00:00:00Z", "2030-04-31T00:00:00Z", "2030-1-01T00:00:00Z",
                "2030-01-01T0:00:00Z", " 2030-01-01T00:00:00Z"):
        r = create(srv, w.owner, w.org, ["org.read"], name="bad date", expires_at=bad)
        b = assert_problem(r, 422, "validation_failed")
        assert {e["field"] for e in b["errors"]} == {"expires_at"}, (bad, b)


def test_permissions_subset_of_creator(srv, w):
    # An admin holds everything but org.delete.
    assert_problem(create(srv, w.admin, w.org, ["org.delete"]), 403, "forbidden")
    assert_problem(create(srv, w.admin, w.org, ["member.read", "org.delete"]), 403, "forbidden")
    admin_perms = sorted(BUILTIN_ROLES["admin"][1])
    k = create_ok(srv, w.admin, w.org, admin_perms)
    assert sorted(k["permissions"]) == admin_perms and k["created_by"] == w.admin.id, k
    # The owner may give a key everything.
    k = create_ok(srv, w.owner, w.org, ALL_PERMISSIONS)
    assert sorted(k["permissions"]) == sorted(ALL_PERMISSIONS), k


def test_key_routes_need_permissions(srv, w, smtp_sink):  # noqa: F811
    k = create_ok(srv, w.owner, w.org, ["org.read"])
    for u in (w.member, w.viewer):
        assert_problem(create(srv, u, w.org, ["org.read"]), 403, "forbidden")
        assert_problem(srv.delete(kpath(w.org, k["id"]), token=u.token), 403, "forbidden")
    assert_problem(srv.get(kpath(w.org), token=w.viewer.token), 403, "forbidden")
    assert_problem(srv.get(kpath(w.org), token=w.member.token), 403, "forbidden")
    stranger = new_user(srv, "stranger")
    assert_problem(srv.get(kpath(w.org), token=stranger.token), 404, "not_found")
    assert_problem(create(srv, stranger, w.org, ["org.read"]), 404, "not_found")
    assert_problem(srv.delete(kpath(w.org, k["id"]), token=stranger.token), 404, "not_found")
    assert srv.get(kpath(w.org)).status_code == 401
    # Still there.
    assert k["id"] in list_keys(srv, w.owner.token, w.org)


# --- using a key ---------------------------------------------------------------------------

def test_key_acts_with_exactly_its_permissions(srv, w):
    k = create_ok(srv, w.owner, w.org, ["member.read"])
    key = k["key"]
    r = srv.get("/v1/orgs/%s/members" % w.org, token=key)
    assert r.status_code == 200, r.text
    ids = {m["user_id"] for m in r.json()["data"]}
    assert {w.owner.id, w.admin.id, w.member.id, w.viewer.id} <= ids, ids
    # Everything else is forbidden, even what every member may do.
    for method, path, body in (
            ("GET", "/v1/orgs/%s/teams" % w.org, None),
            ("GET", "/v1/orgs/%s" % w.org, None),
            ("GET", "/v1/orgs/%s/roles" % w.org, None),
            ("GET", kpath(w.org), None),
            ("POST", kpath(w.org), {"name": "x", "permissions": ["member.read"]}),
            ("POST", "/v1/orgs/%s/teams" % w.org, {"name": "t"}),
            ("POST", "/v1/orgs/%s/invitations" % w.org, {"email": "x@example.com",
                                                          "role": "viewer"}),
            ("PATCH", "/v1/orgs/%s/members/%s" % (w.org, w.viewer.id), {"role": "member"}),
            ("DELETE", "/v1/orgs/%s/members/%s" % (w.org, w.viewer.id), None),
            ("DELETE", "/v1/orgs/%s" % w.org, None)):
        r = srv.request(method, path, json=body, token=key)
        assert_problem(r, 403, "forbidden")
    assert members(srv, w.owner.token, w.org)[w.viewer.id]["role"] == "viewer"

    # A key with more permissions can do more, by slug too.
    k2 = create_ok(srv, w.owner, w.org, ["org.read", "team.read", "team.manage"])
    r = srv.get("/v1/orgs/%s" % w.org, token=k2["key"])
    assert r.status_code == 200 and r.json()["id"] == w.org, r.text
    slug = r.json()["slug"]
    assert srv.get("/v1/orgs/%s" % slug, token=k2["key"]).status_code == 200
    r = srv.post("/v1/orgs/%s/teams" % w.org, json={"name": "Made by a key"}, token=k2["key"])
    assert r.status_code == 201, r.text
    assert srv.get("/v1/orgs/%s/teams" % w.org, token=k2["key"]).status_code == 200
    assert_problem(srv.get("/v1/orgs/%s/members" % w.org, token=k2["key"]), 403, "forbidden")


def test_key_is_404_under_other_orgs(srv, w):
    key = create_ok(srv, w.owner, w.org, ALL_PERMISSIONS)["key"]
    # Org B belongs to the same owner; the key still sees nothing of it.
    other = create_org(srv, new_user(srv, "other"), name="Elsewhere")["id"]
    for org in (w.org_b, other, "no-such-org", "0190c0de-0000-7000-8000-000000000000"):
        for method, path in (("GET", "/v1/orgs/%s" % org), ("GET", "/v1/orgs/%s/members" % org),
                             ("GET", kpath(org)), ("GET", "/v1/orgs/%s/teams" % org),
                             ("DELETE", "/v1/orgs/%s" % org)):
            assert_problem(srv.request(method, path, token=key), 404, "not_found")
    assert srv.get("/v1/orgs/%s" % w.org_b, token=w.owner.token).status_code == 200


def test_key_is_401_on_user_routes(srv, w):
    key = create_ok(srv, w.owner, w.org, ALL_PERMISSIONS)["key"]
    for method, path, body in (
            ("GET", "/v1/me", None),
            ("PATCH", "/v1/me", {"name": "Key"}),
            ("POST", "/v1/me/password", {"current_password": "x", "new_password": "y" * 12}),
            ("POST", "/v1/me/mfa/totp/setup", {}),
            ("GET", "/v1/auth/sessions", None),
            ("POST", "/v1/auth/logout", None),
            ("POST", "/v1/auth/logout-all", None),
            ("POST", "/v1/auth/verify-email/request", None),
            ("GET", "/v1/orgs", None),
            ("POST", "/v1/orgs", {"name": "Made by a key"}),
            ("GET", "/v1/permissions", None),
            ("POST", "/v1/invitations/accept", {"token": "x" * 32}),
            ("GET", "/v1/admin/users", None),
            ("GET", "/v1/admin/orgs", None)):
        assert_401(srv.request(method, path, json=body, token=key))
    # The key survived all that, and the owner's account is untouched.
    assert srv.get("/v1/orgs/%s/members" % w.org, token=key).status_code == 200
    assert srv.get("/v1/me", token=w.owner.token).json()["name"] != "Key"
    assert all(o["name"] != "Made by a key" for o in
               srv.get("/v1/orgs", token=w.owner.token).json()["data"])


def test_garbage_keys(srv, w):
    key = create_ok(srv, w.owner, w.org, ["member.read"])["key"]
    flipped = key[:-1] + ("a" if key[-1] != "a" else "b")
    path = "/v1/orgs/%s/members" % w.org
    for bad in ("plk_", "plk_x", "plk_" + "A" * 42, "plk_" + "A" * 44, key + "A", key[:-1],
                "plk_" + "A" * 43, flipped, "plk_" + "!" * 43, "plk_" + "-" * 43,
                "plk_" + "A" * 42 + "/", "plk_" + "é" * 21 + "A", "PLK_" + key[4:],
                "plk" + key[4:] + "A", "plk_" + key[4:].swapcase()):
        r = srv.get(path, token=bad)
        assert_problem(r, 401, "invalid_token")
        assert "Bearer" in r.headers.get("WWW-Authenticate", ""), r.headers
    assert srv.get(path, token=key).status_code == 200


def test_revocation_is_immediate(srv, w):
    k = create_ok(srv, w.owner, w.org, ["member.read"])
    other = create_ok(srv, w.owner, w.org, ["member.read"])
    path = "/v1/orgs/%s/members" % w.org
    assert srv.get(path, token=k["key"]).status_code == 200
    r = srv.delete(kpath(w.org, k["id"]), token=w.admin.token)
    assert r.status_code == 204, r.text
    assert_problem(srv.get(path, token=k["key"]), 401, "invalid_token")
    assert k["id"] not in list_keys(srv, w.owner.token, w.org)
    assert_problem(srv.delete(kpath(w.org, k["id"]), token=w.owner.token), 404, "not_found")
    # The other key is unaffected.
    assert srv.get(path, token=other["key"]).status_code == 200


def test_revoke_unknown_or_foreign_key_is_404(srv, w):
    mine = create_ok(srv, w.owner, w.org, ["member.read"])
    b_key = create_ok(srv, w.owner, w.org_b, ["member.read"])
    for key_id in (b_key["id"], "0190c0de-0000-7000-8000-000000000000", "nope", mine["prefix"]):
        assert_problem(srv.delete(kpath(w.org, key_id), token=w.owner.token), 404, "not_found")
    # Org A's id under org B: 404 too, and both keys still work.
    assert_problem(srv.delete(kpath(w.org_b, mine["id"]), token=w.owner.token), 404, "not_found")
    assert srv.get("/v1/orgs/%s/members" % w.org, token=mine["key"]).status_code == 200
    assert srv.get("/v1/orgs/%s/members" % w.org_b, token=b_key["key"]).status_code == 200
    # A key with apikey.manage makes keys only within its own permissions, and
    # cannot reach org B's keys either.
    mgr = create_ok(srv, w.owner, w.org, ["apikey.manage", "apikey.read"])["key"]
    assert_problem(create(srv, None, w.org, ["member.read"], token=mgr), 403, "forbidden")
    r = create(srv, None, w.org, ["apikey.read"], token=mgr)
    assert r.status_code == 201 and KEY_RE.match(r.json()["key"]), r.text
    assert_problem(srv.delete(kpath(w.org_b, b_key["id"]), token=mgr), 404, "not_found")
    assert_problem(srv.delete(kpath(w.org, b_key["id"]), token=mgr), 404, "not_found")
    assert srv.get("/v1/orgs/%s/members" % w.org_b, token=b_key["key"]).status_code == 200


def test_expired_key(srv, w):
    expires = time.time() + 3
    k = create_ok(srv, w.owner, w.org, ["member.read"], expires_at=rfc3339(expires))
    path = "/v1/orgs/%s/members" % w.org
    assert srv.get(path, token=k["key"]).status_code == 200
    time.sleep(max(0.0, expires - time.time()) + 0.3)
    deadline = time.monotonic() + 5
    while True:
        r = srv.get(path, token=k["key"])
        if r.status_code != 200 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert_problem(r, 401, "token_expired")
    assert_problem(srv.get(kpath(w.org), token=k["key"]), 401, "token_expired")


def test_last_used_at(srv, w):
    k = create_ok(srv, w.owner, w.org, ["member.read"])
    assert list_keys(srv, w.owner.token, w.org)[k["id"]]["last_used_at"] is None
    before = time.time()
    assert srv.get("/v1/orgs/%s/members" % w.org, token=k["key"]).status_code == 200
    deadline = time.monotonic() + 5
    while True:
        got = list_keys(srv, w.owner.token, w.org)[k["id"]]["last_used_at"]
        if got is not None or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert got is not None and TIME_RE.match(got), got
    t = datetime.datetime.strptime(got, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()
    assert before - 1 <= t <= time.time() + 1, (got, before)
    # Written at most once a minute: another use right away leaves it alone.
    assert srv.get("/v1/orgs/%s/members" % w.org, token=k["key"]).status_code == 200
    time.sleep(0.5)
    assert list_keys(srv, w.owner.token, w.org)[k["id"]]["last_used_at"] == got
    # A refused use (missing permission) is still a use of a valid key; either way
    # the key keeps working.
    assert srv.get("/v1/orgs/%s/members" % w.org, token=k["key"]).status_code == 200


# --- levels --------------------------------------------------------------------------------

def test_key_never_assigns_owner(srv, w, smtp_sink):  # noqa: F811
    # Even a key holding every permission, made by an owner.
    key = create_ok(srv, w.owner, w.org, ALL_PERMISSIONS)["key"]
    target = add_member(srv, smtp_sink, w.owner, w.org, role="viewer", prefix="target")
    mp = "/v1/orgs/%s/members/%s" % (w.org, target.id)
    assert_problem(srv.patch(mp, json={"role": "owner"}, token=key), 403, "forbidden")
    assert members(srv, w.owner.token, w.org)[target.id]["role"] == "viewer"
    # Its creator's level (owner) lets it set admin, below owner.
    r = srv.patch(mp, json={"role": "admin"}, token=key)
    assert r.status_code == 200 and r.json()["role"] == "admin", r.text
    assert_problem(srv.patch(mp, json={"role": "owner"}, token=key), 403, "forbidden")
    # ... but not touch the owner.
    assert_problem(srv.patch("/v1/orgs/%s/members/%s" % (w.org, w.owner.id),
                             json={"role": "admin"}, token=key), 403, "forbidden")
    assert_problem(srv.delete("/v1/orgs/%s/members/%s" % (w.org, w.owner.id), token=key), 403,
                   "forbidden")
    assert members(srv, w.owner.token, w.org)[w.owner.id]["role"] == "owner"
    assert members(srv, w.owner.token, w.org)[target.id]["role"] == "admin"


def test_key_grants_only_roles_within_its_permissions(srv, w, smtp_sink):  # noqa: F811
    # A key's own permissions bound the roles it may assign (the same rule as for
    # people): member.update_role alone cannot hand out viewer (org.read, flag.read).
    key = create_ok(srv, w.owner, w.org, ["member.read", "member.update_role"])["key"]
    target = add_member(srv, smtp_sink, w.owner, w.org, role="member", prefix="target")
    mp = "/v1/orgs/%s/members/%s" % (w.org, target.id)
    for role in ("viewer", "admin", "owner"):
        assert_problem(srv.patch(mp, json={"role": role}, token=key), 403, "forbidden")
    assert members(srv, w.owner.token, w.org)[target.id]["role"] == "member"
    key2 = create_ok(srv, w.owner, w.org, sorted(BUILTIN_ROLES["member"][1] | {
        "member.update_role"}))["key"]
    r = srv.patch(mp, json={"role": "viewer"}, token=key2)
    assert r.status_code == 200 and r.json()["role"] == "viewer", r.text
    assert_problem(srv.patch(mp, json={"role": "admin"}, token=key2), 403, "forbidden")


def test_key_level_is_its_creators_at_creation(srv, w, smtp_sink):  # noqa: F811
    boss = add_member(srv, smtp_sink, w.owner, w.org, role="admin", prefix="boss")
    peer = add_member(srv, smtp_sink, w.owner, w.org, role="admin", prefix="peer")
    low = add_member(srv, smtp_sink, w.owner, w.org, role="member", prefix="low")
    key = create_ok(srv, boss, w.org, sorted(BUILTIN_ROLES["admin"][1]))["key"]

    def role_path(u):
        return "/v1/orgs/%s/members/%s" % (w.org, u.id)

    # Level 3: not on another admin, not to admin or owner.
    assert_problem(srv.patch(role_path(peer), json={"role": "member"}, token=key), 403, "forbidden")
    assert_problem(srv.delete(role_path(peer), token=key), 403, "forbidden")
    assert_problem(srv.patch(role_path(low), json={"role": "admin"}, token=key), 403, "forbidden")
    assert_problem(srv.patch(role_path(low), json={"role": "owner"}, token=key), 403, "forbidden")
    assert_problem(srv.patch(role_path(w.owner), json={"role": "member"}, token=key), 403,
                   "forbidden")
    roles = {u: m["role"] for u, m in members(srv, w.owner.token, w.org).items()}
    assert (roles[peer.id], roles[low.id], roles[w.owner.id]) == ("admin", "member", "owner")
    # Below: fine.
    r = srv.patch(role_path(low), json={"role": "viewer"}, token=key)
    assert r.status_code == 200 and r.json()["role"] == "viewer", r.text

    # The creator is demoted: the key keeps the level it was made with (API.md).
    r = srv.patch(role_path(boss), json={"role": "member"}, token=w.owner.token)
    assert r.status_code == 200, r.text
    r = srv.patch(role_path(low), json={"role": "member"}, token=key)
    assert r.status_code == 200 and r.json()["role"] == "member", r.text
    assert_problem(srv.patch(role_path(peer), json={"role": "member"}, token=key), 403, "forbidden")
    # It cannot raise anyone to its own level.
    assert_problem(srv.patch(role_path(boss), json={"role": "admin"}, token=key), 403, "forbidden")
    r = srv.delete(role_path(low), token=key)
    assert r.status_code == 204, r.text
    assert low.id not in members(srv, w.owner.token, w.org)
