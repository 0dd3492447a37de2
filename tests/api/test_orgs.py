"""Black-box tests of organizations and memberships (issue 5): create, list,
get (by id and slug), update, delete with its cascade, slug and name
validation, the member list with its cursor pagination, role changes, removal
and leaving, and the permission catalog."""

import uuid

import pytest

from plinth import assert_problem
from accounts_util import PASSWORD, TIME_RE
from orgs_util import (ALL_PERMISSIONS, MEMBER_KEYS, SLUG_RE, add_member, assert_org, create_org,
                       invite_ok, list_all, members, my_orgs, new_user, tenant_count,
                       unique_slug)
from smtp_sink import mail_server, smtp_sink  # noqa: F401


@pytest.fixture(scope="module")
def srv(make_module_server, smtp_sink):  # noqa: F811
    return mail_server(make_module_server, smtp_sink, workers=2)


@pytest.fixture(scope="module")
def alice(srv):
    return new_user(srv, "alice", name="Alice")


# --- create -------------------------------------------------------------------------------

def test_create_org_with_slug(srv, alice):
    slug = unique_slug("acme")
    r = srv.post("/v1/orgs", json={"name": "Acme Inc.", "slug": slug}, token=alice.token)
    assert r.status_code == 201, r.text
    o = assert_org(r.json(), role="owner", name="Acme Inc.", slug=slug)
    assert o["id"] != alice.personal_org
    # The creator is its only member, as owner.
    ms = members(srv, alice.token, o["id"])
    assert list(ms) == [alice.id], ms
    assert ms[alice.id]["role"] == "owner"
    assert my_orgs(srv, alice)[o["id"]]["role"] == "owner"


def test_create_org_derives_a_slug(srv, alice):
    a = create_org(srv, alice, name="My  Great Org! 2000")
    b = create_org(srv, alice, name="My  Great Org! 2000")
    for o in (a, b):
        assert SLUG_RE.match(o["slug"]) and 3 <= len(o["slug"]) <= 48, o
    assert a["slug"] != b["slug"]
    # Names that leave nothing URL-safe still get a valid slug.
    for name in ("!!", "日本語の組織", "x", "A" * 200):
        o = create_org(srv, alice, name=name)
        assert SLUG_RE.match(o["slug"]) and 3 <= len(o["slug"]) <= 48, o


def test_create_org_needs_auth(srv):
    assert_problem(srv.post("/v1/orgs", json={"name": "x"}), 401, "unauthenticated")
    assert_problem(srv.get("/v1/orgs"), 401, "unauthenticated")


@pytest.mark.parametrize("slug", [
    "ab", "a" * 49, "Acme", "-acme", "acme-", "ac--me", "ac_me", "ac me", "acmé", "ac.me",
    "", "123e4567-e89b-12d3-a456-426614174000", "123E4567-E89B-12D3-A456-426614174000",
    123, None, ["acme"],
])
def test_create_org_bad_slug(srv, alice, slug):
    r = srv.post("/v1/orgs", json={"name": "Bad slug", "slug": slug}, token=alice.token)
    if slug is None and r.status_code == 201:
        return    # a null slug may mean "derive one"
    body = assert_problem(r, 422, "validation_failed")
    assert any(e.get("field") == "slug" for e in body.get("errors", [])), body


@pytest.mark.parametrize("slug", ["abc", "a" * 48, "a-b-c", "a1-b2", "123", "x9y"])
def test_create_org_good_slug(srv, alice, slug):
    # Slugs are global: make each run's slug unique but keep the shape.
    suffix = uuid.uuid4().hex[:6]
    s = slug if len(slug) + 7 > 48 else slug + "-" + suffix
    if slug == "a" * 48:
        s = "a" * 41 + "-" + suffix
    r = srv.post("/v1/orgs", json={"name": "Good", "slug": s}, token=alice.token)
    assert r.status_code == 201, (s, r.text)
    assert r.json()["slug"] == s


@pytest.mark.parametrize("name", ["", None, 42, "x" * 201, "é" * 101, ["a"]])
def test_create_org_bad_name(srv, alice, name):
    body = {"slug": unique_slug()}
    if name is not None:
        body["name"] = name
    b = assert_problem(srv.post("/v1/orgs", json=body, token=alice.token), 422,
                       "validation_failed")
    assert any(e.get("field") == "name" for e in b.get("errors", [])), b


def test_create_org_name_limits(srv, alice):
    create_org(srv, alice, name="x" * 200)
    create_org(srv, alice, name="é" * 100)     # 200 bytes
    create_org(srv, alice, name="x")


def test_slug_taken(srv, alice):
    slug = unique_slug("taken")
    create_org(srv, alice, slug=slug)
    other = new_user(srv, "bob")
    assert_problem(srv.post("/v1/orgs", json={"name": "Again", "slug": slug}, token=other.token),
                   409, "slug_taken")
    assert_problem(srv.post("/v1/orgs", json={"name": "Again", "slug": slug}, token=alice.token),
                   409, "slug_taken")


def test_create_org_bad_json(srv, alice):
    r = srv.post("/v1/orgs", data="{not json", token=alice.token,
                 headers={"Content-Type": "application/json"})
    assert_problem(r, 400, "invalid_json")


# --- list and get ---------------------------------------------------------------------------

def test_list_my_orgs(srv):
    u = new_user(srv, "lister")
    other = new_user(srv, "other")
    a = create_org(srv, u, name="List A")
    b = create_org(srv, u, name="List B")
    foreign = create_org(srv, other, name="Foreign")
    r = srv.get("/v1/orgs", token=u.token)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["next_cursor"] is None, body
    got = {o["id"]: o for o in body["data"]}
    assert set(got) == {u.personal_org, a["id"], b["id"]}, got
    for o in body["data"]:
        assert_org(o, role="owner", personal=(o["id"] == u.personal_org))
    assert foreign["id"] not in got


def test_get_org_by_id_and_slug(srv, alice):
    o = create_org(srv, alice, name="Gettable", slug=unique_slug("get"))
    for ref in (o["id"], o["slug"]):
        r = srv.get("/v1/orgs/" + ref, token=alice.token)
        assert r.status_code == 200, r.text
        assert r.json() == o, (r.json(), o)
    r = srv.get("/v1/orgs/" + alice.personal_org, token=alice.token)
    assert r.status_code == 200, r.text
    assert_org(r.json(), role="owner", personal=True)


def test_get_unknown_org(srv, alice):
    for ref in (str(uuid.uuid4()), "no-such-org-here", "x"):
        assert_problem(srv.get("/v1/orgs/" + ref, token=alice.token), 404, "not_found")


def test_org_role_is_the_callers(srv, smtp_sink, alice):  # noqa: F811
    o = create_org(srv, alice)
    v = add_member(srv, smtp_sink, alice, o["id"], role="viewer")
    r = srv.get("/v1/orgs/" + o["id"], token=v.token)
    assert r.status_code == 200, r.text
    assert r.json()["role"] == "viewer"
    listed = {x["id"]: x for x in srv.get("/v1/orgs", token=v.token).json()["data"]}
    assert listed[o["id"]]["role"] == "viewer"
    assert listed[v.personal_org]["role"] == "owner"
    assert my_orgs(srv, v)[o["id"]]["role"] == "viewer"


# --- update -------------------------------------------------------------------------------

def test_update_org(srv, alice):
    o = create_org(srv, alice, name="Before", slug=unique_slug("before"))
    new_slug = unique_slug("after")
    r = srv.patch("/v1/orgs/" + o["id"], json={"name": "After", "slug": new_slug},
                  token=alice.token)
    assert r.status_code == 200, r.text
    assert_org(r.json(), role="owner", name="After", slug=new_slug)
    assert r.json()["id"] == o["id"]
    # The new slug addresses it, the old one no longer does.
    assert srv.get("/v1/orgs/" + new_slug, token=alice.token).json()["name"] == "After"
    assert_problem(srv.get("/v1/orgs/" + o["slug"], token=alice.token), 404, "not_found")
    # Only the name; the slug stays.
    r = srv.patch("/v1/orgs/" + o["id"], json={"name": "Again"}, token=alice.token)
    assert r.status_code == 200, r.text
    assert r.json()["slug"] == new_slug and r.json()["name"] == "Again"
    # Its own slug again is fine.
    r = srv.patch("/v1/orgs/" + o["id"], json={"slug": new_slug}, token=alice.token)
    assert r.status_code == 200, r.text


def test_update_org_validation(srv, alice):
    o = create_org(srv, alice)
    taken = create_org(srv, alice, slug=unique_slug("taken"))
    assert_problem(srv.patch("/v1/orgs/" + o["id"], json={"slug": taken["slug"]},
                             token=alice.token), 409, "slug_taken")
    for body in ({"slug": "Bad Slug"}, {"slug": "ab"}, {"slug": "a--b"},
                 {"slug": str(uuid.uuid4())}, {"name": ""}, {"name": "x" * 201},
                 {"name": 7}):
        assert_problem(srv.patch("/v1/orgs/" + o["id"], json=body, token=alice.token), 422,
                       "validation_failed")
    # Nothing changed.
    assert srv.get("/v1/orgs/" + o["id"], token=alice.token).json() == o


def test_update_org_permissions(srv, smtp_sink, alice):  # noqa: F811
    o = create_org(srv, alice)
    admin = add_member(srv, smtp_sink, alice, o["id"], role="admin")
    member = add_member(srv, smtp_sink, alice, o["id"], role="member")
    r = srv.patch("/v1/orgs/" + o["id"], json={"name": "By admin"}, token=admin.token)
    assert r.status_code == 200, r.text
    assert r.json()["role"] == "admin"
    assert_problem(srv.patch("/v1/orgs/" + o["id"], json={"name": "By member"},
                             token=member.token), 403, "forbidden")
    # Deleting needs org.delete: owners only.
    assert_problem(srv.delete("/v1/orgs/" + o["id"], token=admin.token), 403, "forbidden")
    assert_problem(srv.delete("/v1/orgs/" + o["id"], token=member.token), 403, "forbidden")
    assert srv.get("/v1/orgs/" + o["id"], token=alice.token).json()["name"] == "By admin"


# --- delete -------------------------------------------------------------------------------

def test_personal_org_cannot_be_deleted(srv):
    u = new_user(srv, "personal")
    assert_problem(srv.delete("/v1/orgs/" + u.personal_org, token=u.token), 409, "personal_org")
    assert srv.get("/v1/orgs/" + u.personal_org, token=u.token).status_code == 200


def test_delete_org_cascades(srv, smtp_sink, alice):  # noqa: F811
    o = create_org(srv, alice, slug=unique_slug("doomed"))
    oid = o["id"]
    m = add_member(srv, smtp_sink, alice, oid, role="member")
    pending_email = "pending-%s@example.com" % uuid.uuid4().hex[:8]
    _, pending_token = invite_ok(srv, smtp_sink, alice, oid, pending_email)
    r = srv.post("/v1/orgs/%s/roles" % oid, json={"key": "doomed_role", "name": "Doomed",
                                                  "level": 1, "permissions": ["org.read"]},
                 token=alice.token)
    assert r.status_code == 201, r.text
    r = srv.post("/v1/orgs/%s/teams" % oid, json={"name": "Doomed team"}, token=alice.token)
    assert r.status_code == 201, r.text
    team = r.json()
    assert srv.put("/v1/orgs/%s/teams/%s/members/%s" % (oid, team["id"], m.id),
                   token=alice.token).status_code == 204
    # A second org that must be untouched.
    keep = create_org(srv, alice)
    r = srv.post("/v1/orgs/%s/teams" % keep["id"], json={"name": "Kept"}, token=alice.token)
    assert r.status_code == 201, r.text

    before = {t: tenant_count(srv, t, oid) for t in
              ("memberships", "invitations", "roles", "teams", "team_members")}
    assert before == {"memberships": 2, "invitations": 2, "roles": 1, "teams": 1,
                      "team_members": 1}, before

    r = srv.delete("/v1/orgs/" + oid, token=alice.token)
    assert r.status_code == 204, r.text
    assert r.content == b""

    for t in before:
        assert tenant_count(srv, t, oid) == 0, t
    assert_problem(srv.get("/v1/orgs/" + oid, token=alice.token), 404, "not_found")
    assert_problem(srv.get("/v1/orgs/" + o["slug"], token=alice.token), 404, "not_found")
    assert_problem(srv.get("/v1/orgs/%s/members" % oid, token=m.token), 404, "not_found")
    assert_problem(srv.delete("/v1/orgs/" + oid, token=alice.token), 404, "not_found")
    assert oid not in my_orgs(srv, m) and oid not in my_orgs(srv, alice)
    assert oid not in {x["id"] for x in srv.get("/v1/orgs", token=alice.token).json()["data"]}
    # The pending invitation died with the org: for accept and register alike.
    r = srv.post("/v1/auth/register", json={"email": pending_email, "password": PASSWORD,
                                            "name": "Late", "invitation_token": pending_token})
    assert_problem(r, 422, "invalid_token")
    late = new_user(srv, "late")
    assert_problem(srv.post("/v1/invitations/accept", json={"token": pending_token},
                            token=late.token), 422, "invalid_token")
    # The other org is intact; the slug is free again.
    assert tenant_count(srv, "teams", keep["id"]) == 1
    assert tenant_count(srv, "memberships", keep["id"]) == 1
    create_org(srv, alice, slug=o["slug"])


# --- members --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def crowd(srv, smtp_sink, alice):  # noqa: F811
    """An org of alice (owner) and five members added by invitation."""
    o = create_org(srv, alice, name="Crowd")
    users = [add_member(srv, smtp_sink, alice, o["id"], role=role, prefix="crowd")
             for role in ("admin", "member", "member", "viewer", "member")]
    return o, users


def test_member_list_shape(srv, alice, crowd):
    o, users = crowd
    ms = members(srv, alice.token, o["id"])
    assert set(ms) == {alice.id} | {u.id for u in users}, ms
    for m in ms.values():
        assert set(m) >= MEMBER_KEYS, m
        assert m["status"] == "active", m
        assert TIME_RE.match(m["joined_at"]), m
    assert ms[alice.id]["email"] == alice.email and ms[alice.id]["name"] == "Alice"
    assert [ms[u.id]["role"] for u in users] == ["admin", "member", "member", "viewer", "member"]
    assert ms[users[0].id]["email"] == users[0].email


def test_member_pagination(srv, alice, crowd):
    o, users = crowd
    path = "/v1/orgs/%s/members" % o["id"]
    r = srv.get(path, token=alice.token, params={"limit": 2})
    assert r.status_code == 200, r.text
    first = r.json()
    assert len(first["data"]) == 2 and isinstance(first["next_cursor"], str), first
    pages, cursor = [first["data"]], first["next_cursor"]
    while cursor:
        r = srv.get(path, token=alice.token, params={"limit": 2, "cursor": cursor})
        assert r.status_code == 200, r.text
        pages.append(r.json()["data"])
        cursor = r.json()["next_cursor"]
        assert len(pages) <= 4, pages
    assert [len(p) for p in pages] == [2, 2, 2], pages
    ids = [m["user_id"] for p in pages for m in p]
    assert len(ids) == len(set(ids)) == 6, ids
    assert set(ids) == {alice.id} | {u.id for u in users}
    # The default and a large limit give everything on one page.
    for q in ({}, {"limit": 200}):
        body = srv.get(path, token=alice.token, params=q).json()
        assert body["next_cursor"] is None and len(body["data"]) == 6, body
    # The same listing for a viewer (member.read).
    assert len(list_all(srv, users[3].token, path, limit=4)) == 6


@pytest.mark.parametrize("limit", ["0", "201", "-1", "ten"])
def test_member_list_bad_limit(srv, alice, crowd, limit):
    o, _ = crowd
    assert_problem(srv.get("/v1/orgs/%s/members" % o["id"], token=alice.token,
                           params={"limit": limit}), 400, "bad_request")


def test_member_list_bad_cursor(srv, alice, crowd):
    o, _ = crowd
    r = srv.get("/v1/orgs/%s/members" % o["id"], token=alice.token,
                params={"cursor": "not-a-cursor"})
    assert r.status_code in (400, 422), r.text
    assert r.json()["code"] in ("bad_request", "validation_failed"), r.text


def test_change_member_role(srv, smtp_sink, alice):  # noqa: F811
    o = create_org(srv, alice)
    u = add_member(srv, smtp_sink, alice, o["id"], role="member")
    r = srv.patch("/v1/orgs/%s/members/%s" % (o["id"], u.id), json={"role": "viewer"},
                  token=alice.token)
    assert r.status_code == 200, r.text
    m = r.json()
    assert set(m) >= MEMBER_KEYS and m["user_id"] == u.id and m["role"] == "viewer", m
    assert members(srv, alice.token, o["id"])[u.id]["role"] == "viewer"
    assert srv.get("/v1/orgs/" + o["id"], token=u.token).json()["role"] == "viewer"
    # The new role takes effect at once: viewers lack role.read.
    assert_problem(srv.get("/v1/orgs/%s/roles" % o["id"], token=u.token), 403, "forbidden")
    # Unknown and malformed roles.
    for body in ({"role": "superuser"}, {"role": ""}, {"role": 3}, {}):
        assert_problem(srv.patch("/v1/orgs/%s/members/%s" % (o["id"], u.id), json=body,
                                 token=alice.token), 422, "validation_failed")
    # Someone who is not a member: 404.
    stranger = new_user(srv, "stranger")
    for ref in (stranger.id, str(uuid.uuid4())):
        assert_problem(srv.patch("/v1/orgs/%s/members/%s" % (o["id"], ref),
                                 json={"role": "viewer"}, token=alice.token), 404, "not_found")
        assert_problem(srv.delete("/v1/orgs/%s/members/%s" % (o["id"], ref),
                                  token=alice.token), 404, "not_found")


def test_remove_member(srv, smtp_sink, alice):  # noqa: F811
    o = create_org(srv, alice)
    u = add_member(srv, smtp_sink, alice, o["id"], role="member")
    r = srv.delete("/v1/orgs/%s/members/%s" % (o["id"], u.id), token=alice.token)
    assert r.status_code == 204, r.text
    assert u.id not in members(srv, alice.token, o["id"])
    assert_problem(srv.get("/v1/orgs/" + o["id"], token=u.token), 404, "not_found")
    assert o["id"] not in my_orgs(srv, u)
    assert_problem(srv.delete("/v1/orgs/%s/members/%s" % (o["id"], u.id), token=alice.token),
                   404, "not_found")
    # A removed member may be invited again.
    add_member(srv, smtp_sink, alice, o["id"], role="viewer", user=u)
    assert members(srv, alice.token, o["id"])[u.id]["role"] == "viewer"


def _warm(srv, user, ref, n=16):
    """Requests enough to pass through every HTTP thread of the server (each
    keeps its own copy of what it learned of the caller's role)."""
    for _ in range(n):
        r = srv.get("/v1/orgs/" + ref, token=user.token)
        assert r.status_code == 200, r.text


def test_authorization_follows_every_change_at_once(srv, smtp_sink, alice):  # noqa: F811
    """Every change to a membership, to the org's address or to the org itself
    holds for the very next request, on every thread, by id and by slug."""
    o = create_org(srv, alice, slug=unique_slug("at-once"))
    u = add_member(srv, smtp_sink, alice, o["id"], role="admin")
    refs = (o["id"], o["slug"])
    for ref in refs:
        _warm(srv, u, ref)
        assert srv.get("/v1/orgs/" + ref, token=u.token).json()["role"] == "admin"
    # A demotion: the next request of every thread has the new role.
    r = srv.patch("/v1/orgs/%s/members/%s" % (o["id"], u.id), json={"role": "viewer"},
                  token=alice.token)
    assert r.status_code == 200, r.text
    for _ in range(16):
        for ref in refs:
            assert srv.get("/v1/orgs/" + ref, token=u.token).json()["role"] == "viewer"
            assert_problem(srv.get("/v1/orgs/%s/roles" % ref, token=u.token), 403, "forbidden")
    # A new slug: the old one names nothing, the new one the same org.
    new_slug = unique_slug("moved")
    r = srv.patch("/v1/orgs/" + o["id"], json={"slug": new_slug}, token=alice.token)
    assert r.status_code == 200, r.text
    for _ in range(16):
        assert_problem(srv.get("/v1/orgs/" + o["slug"], token=u.token), 404, "not_found")
        assert srv.get("/v1/orgs/" + new_slug, token=u.token).json()["id"] == o["id"]
    # The old slug taken by another org the member is in, with another role.
    other = create_org(srv, alice, slug=o["slug"])
    add_member(srv, smtp_sink, alice, other["id"], role="member", user=u)
    for _ in range(16):
        got = srv.get("/v1/orgs/" + o["slug"], token=u.token).json()
        assert (got["id"], got["role"]) == (other["id"], "member"), got
    # Settings the org row holds: seen by the next request.
    _warm(srv, u, new_slug)
    r = srv.patch("/v1/orgs/" + o["id"], json={"name": "Renamed at once"}, token=alice.token)
    assert r.status_code == 200, r.text
    for _ in range(16):
        assert srv.get("/v1/orgs/" + new_slug, token=u.token).json()["name"] == "Renamed at once"
    # The member list a member reads is the current one.
    for _ in range(16):
        members(srv, u.token, o["id"])
    v = add_member(srv, smtp_sink, alice, o["id"], role="viewer")
    for _ in range(16):
        assert v.id in members(srv, u.token, o["id"])
    # Removal, then deletion: 404 at once, by id and by slug.
    r = srv.delete("/v1/orgs/%s/members/%s" % (o["id"], u.id), token=alice.token)
    assert r.status_code == 204, r.text
    for _ in range(16):
        for ref in (o["id"], new_slug):
            assert_problem(srv.get("/v1/orgs/" + ref, token=u.token), 404, "not_found")
    _warm(srv, v, o["id"])
    _warm(srv, v, new_slug)
    r = srv.delete("/v1/orgs/" + o["id"], token=alice.token)
    assert r.status_code == 204, r.text
    for _ in range(16):
        for ref in (o["id"], new_slug):
            assert_problem(srv.get("/v1/orgs/" + ref, token=v.token), 404, "not_found")


def test_slug_addresses_every_org_route(srv, alice):
    o = create_org(srv, alice, slug=unique_slug("by-slug"))
    base = "/v1/orgs/" + o["slug"]
    for sub in ("", "/members", "/invitations", "/teams", "/roles"):
        r = srv.get(base + sub, token=alice.token)
        assert r.status_code == 200, (sub, r.text)
    r = srv.post(base + "/teams", json={"name": "Slugged"}, token=alice.token)
    assert r.status_code == 201, r.text
    t = r.json()
    assert srv.get("/v1/orgs/%s/teams/%s" % (o["id"], t["id"]), token=alice.token).json() == t
    r = srv.put("%s/teams/%s/members/%s" % (base, t["id"], alice.id), token=alice.token)
    assert r.status_code == 204, r.text
    r = srv.patch(base, json={"name": "Renamed by slug"}, token=alice.token)
    assert r.status_code == 200 and r.json()["id"] == o["id"], r.text
    r = srv.delete(base, token=alice.token)
    assert r.status_code == 204, r.text
    assert_problem(srv.get("/v1/orgs/" + o["id"], token=alice.token), 404, "not_found")


def test_leave_org(srv, smtp_sink, alice):  # noqa: F811
    o = create_org(srv, alice)
    viewer = add_member(srv, smtp_sink, alice, o["id"], role="viewer")
    admin = add_member(srv, smtp_sink, alice, o["id"], role="admin")
    # Anyone may leave, whatever their role's permissions.
    for u in (viewer, admin):
        r = srv.delete("/v1/orgs/%s/members/%s" % (o["id"], u.id), token=u.token)
        assert r.status_code == 204, r.text
        assert_problem(srv.get("/v1/orgs/" + o["id"], token=u.token), 404, "not_found")
    assert set(members(srv, alice.token, o["id"])) == {alice.id}
    # The last owner cannot leave.
    assert_problem(srv.delete("/v1/orgs/%s/members/%s" % (o["id"], alice.id),
                              token=alice.token), 409, "last_owner")


# --- the permission catalog -----------------------------------------------------------------

def test_permission_catalog(srv, alice):
    r = srv.get("/v1/permissions", token=alice.token)
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    assert [p["key"] for p in data] == ALL_PERMISSIONS or \
        sorted(p["key"] for p in data) == sorted(ALL_PERMISSIONS), data
    for p in data:
        assert isinstance(p["description"], str) and p["description"].strip(), p
    assert_problem(srv.get("/v1/permissions"), 401, "unauthenticated")
