"""Black-box tests of roles and the rules about who may grant what (issue 5):
escalation attempts (self-promotion, admins granting admin or owner, acting on
members of equal level, custom roles with permissions their creator lacks),
the last-owner rule, each built-in role's reach, and custom role CRUD."""

import re
import threading
import uuid

import pytest

import plinth
from plinth import assert_problem
from orgs_util import (ALL_PERMISSIONS, BUILTIN_ROLES, ROLE_KEYS, add_member, create_org, invite,
                       members, new_user, tenant_count)
from smtp_sink import mail_server, smtp_sink  # noqa: F401


@pytest.fixture(scope="module")
def srv(make_module_server, smtp_sink):  # noqa: F811
    return mail_server(make_module_server, smtp_sink, workers=2)


class World:
    pass


@pytest.fixture(scope="module")
def w(srv, smtp_sink):  # noqa: F811
    """One org with an owner, two admins, two members and a viewer."""
    x = World()
    x.owner = new_user(srv, "owner")
    x.org = create_org(srv, x.owner, name="RBAC")["id"]
    for name, role in (("admin", "admin"), ("admin2", "admin"), ("member", "member"),
                       ("member2", "member"), ("viewer", "viewer")):
        setattr(x, name, add_member(srv, smtp_sink, x.owner, x.org, role=role, prefix=name))
    return x


def mpath(w, user):
    return "/v1/orgs/%s/members/%s" % (w.org, user.id)


def role_of(srv, w, user):
    return members(srv, w.owner.token, w.org)[user.id]["role"]


def set_role(srv, actor, w, user, role):
    return srv.patch(mpath(w, user), json={"role": role}, token=actor.token)


def fresh_member(srv, sink, w, role="member"):
    return add_member(srv, sink, w.owner, w.org, role=role, prefix="fresh")


def new_email():
    return "invitee-%s@example.com" % uuid.uuid4().hex[:10]


def make_role(srv, actor, org, key, level, perms, name=None):
    return srv.post("/v1/orgs/%s/roles" % org, json={
        "key": key, "name": name or key.title(), "level": level, "permissions": perms},
        token=actor.token)


def role_key(prefix="r"):
    return "%s_%s" % (prefix, uuid.uuid4().hex[:8])


# --- escalation ------------------------------------------------------------------------------

def test_self_promotion_forbidden(srv, w):
    for role in ("admin", "owner"):
        assert_problem(set_role(srv, w.member, w, w.member, role), 403, "forbidden")
        assert_problem(set_role(srv, w.viewer, w, w.viewer, role), 403, "forbidden")
    assert_problem(set_role(srv, w.admin, w, w.admin, "owner"), 403, "forbidden")
    assert role_of(srv, w, w.member) == "member"
    assert role_of(srv, w, w.viewer) == "viewer"
    assert role_of(srv, w, w.admin) == "admin"


def test_admin_cannot_grant_admin_or_owner(srv, w):
    for role in ("admin", "owner"):
        assert_problem(set_role(srv, w.admin, w, w.member, role), 403, "forbidden")
        assert_problem(invite(srv, w.admin, w.org, new_email(), role), 403, "forbidden")
    assert role_of(srv, w, w.member) == "member"


def test_admin_manages_lower_levels(srv, smtp_sink, w):  # noqa: F811
    u = fresh_member(srv, smtp_sink, w)
    r = set_role(srv, w.admin, w, u, "viewer")
    assert r.status_code == 200, r.text
    assert r.json()["role"] == "viewer"
    r = set_role(srv, w.admin, w, u, "member")
    assert r.status_code == 200, r.text
    r = invite(srv, w.admin, w.org, new_email(), "member")
    assert r.status_code == 201, r.text
    assert r.json()["invited_by"] == w.admin.id
    r = srv.delete(mpath(w, u), token=w.admin.token)
    assert r.status_code == 204, r.text
    assert u.id not in members(srv, w.owner.token, w.org)


def test_admin_cannot_act_on_equal_or_higher(srv, w):
    # Another admin (equal level).
    assert_problem(set_role(srv, w.admin, w, w.admin2, "member"), 403, "forbidden")
    assert_problem(set_role(srv, w.admin, w, w.admin2, "viewer"), 403, "forbidden")
    assert_problem(srv.delete(mpath(w, w.admin2), token=w.admin.token), 403, "forbidden")
    # The owner.
    assert_problem(set_role(srv, w.admin, w, w.owner, "member"), 403, "forbidden")
    assert_problem(srv.delete(mpath(w, w.owner), token=w.admin.token), 403, "forbidden")
    ms = members(srv, w.owner.token, w.org)
    assert ms[w.admin2.id]["role"] == "admin" and ms[w.owner.id]["role"] == "owner"


def test_members_and_viewers_cannot_manage(srv, w):
    assert_problem(invite(srv, w.member, w.org, new_email(), "viewer"), 403, "forbidden")
    assert_problem(invite(srv, w.viewer, w.org, new_email(), "viewer"), 403, "forbidden")
    assert_problem(set_role(srv, w.member, w, w.viewer, "viewer"), 403, "forbidden")
    assert_problem(srv.delete(mpath(w, w.viewer), token=w.member.token), 403, "forbidden")
    assert_problem(srv.delete(mpath(w, w.member2), token=w.member.token), 403, "forbidden")
    assert_problem(srv.get("/v1/orgs/%s/invitations" % w.org, token=w.member.token), 403,
                   "forbidden")
    assert_problem(srv.patch("/v1/orgs/" + w.org, json={"name": "Mine"}, token=w.member.token),
                   403, "forbidden")
    assert set(members(srv, w.owner.token, w.org)) >= {w.viewer.id, w.member2.id}


def test_unknown_role_is_422(srv, w):
    assert_problem(set_role(srv, w.owner, w, w.member, "root"), 422, "validation_failed")
    assert_problem(invite(srv, w.owner, w.org, new_email(), "root"), 422, "validation_failed")


def test_viewer_reads_members_only(srv, w):
    r = srv.get("/v1/orgs/%s/members" % w.org, token=w.viewer.token)
    assert r.status_code == 200, r.text
    assert srv.get("/v1/orgs/" + w.org, token=w.viewer.token).status_code == 200
    assert_problem(srv.get("/v1/orgs/%s/roles" % w.org, token=w.viewer.token), 403, "forbidden")
    assert_problem(srv.get("/v1/orgs/%s/teams" % w.org, token=w.viewer.token), 403, "forbidden")
    assert_problem(srv.get("/v1/orgs/%s/invitations" % w.org, token=w.viewer.token), 403,
                   "forbidden")
    # A member reads roles and teams but cannot manage them.
    assert srv.get("/v1/orgs/%s/roles" % w.org, token=w.member.token).status_code == 200
    assert srv.get("/v1/orgs/%s/teams" % w.org, token=w.member.token).status_code == 200
    assert_problem(srv.post("/v1/orgs/%s/teams" % w.org, json={"name": "t"},
                            token=w.member.token), 403, "forbidden")
    assert_problem(make_role(srv, w.member, w.org, role_key(), 1, ["org.read"]), 403,
                   "forbidden")


# --- custom roles and escalation ---------------------------------------------------------------

def test_custom_role_with_permissions_the_creator_lacks(srv, w):
    key = role_key("esc")
    assert_problem(make_role(srv, w.admin, w.org, key, 1, ["org.read", "org.delete"]), 403,
                   "forbidden")
    assert_problem(make_role(srv, w.admin, w.org, key, 2, ALL_PERMISSIONS), 403, "forbidden")
    assert key not in [r["key"] for r in srv.get("/v1/orgs/%s/roles" % w.org,
                                                   token=w.owner.token).json()["data"]]
    # Within the admin's permissions it is fine.
    r = make_role(srv, w.admin, w.org, key, 1, ["org.read", "member.read"])
    assert r.status_code == 201, r.text


def test_edit_custom_role_to_add_a_permission_the_editor_lacks(srv, w):
    key = role_key("edit")
    r = make_role(srv, w.admin, w.org, key, 1, ["org.read"])
    assert r.status_code == 201, r.text
    path = "/v1/orgs/%s/roles/%s" % (w.org, key)
    assert_problem(srv.patch(path, json={"permissions": ["org.read", "org.delete"]},
                             token=w.admin.token), 403, "forbidden")
    got = {x["key"]: x for x in srv.get("/v1/orgs/%s/roles" % w.org,
                                          token=w.owner.token).json()["data"]}[key]
    assert got["permissions"] == ["org.read"], got
    # Within reach it works; the owner may add org.delete.
    r = srv.patch(path, json={"permissions": ["org.read", "team.read"]}, token=w.admin.token)
    assert r.status_code == 200, r.text
    assert sorted(r.json()["permissions"]) == ["org.read", "team.read"], r.json()
    r = srv.patch(path, json={"permissions": ["org.read", "org.delete"]}, token=w.owner.token)
    assert r.status_code == 200, r.text
    # Now the role holds a permission the admin lacks: the admin may not edit
    # it to keep it, nor assign it.
    assert_problem(srv.patch(path, json={"permissions": ["org.read", "org.delete"],
                                         "name": "Mine"}, token=w.admin.token), 403, "forbidden")
    assert_problem(set_role(srv, w.admin, w, w.viewer, key), 403, "forbidden")
    assert_problem(invite(srv, w.admin, w.org, new_email(), key), 403, "forbidden")
    assert role_of(srv, w, w.viewer) == "viewer"


def test_custom_role_level_bounds_assignment(srv, smtp_sink, w):  # noqa: F811
    # A level-3 role within the admin's permissions still is not strictly
    # below the admin: it cannot be assigned by an admin.
    key = role_key("lvl3")
    r = make_role(srv, w.owner, w.org, key, 3, ["org.read", "member.read"])
    assert r.status_code == 201, r.text
    u = fresh_member(srv, smtp_sink, w, role="viewer")
    assert_problem(set_role(srv, w.admin, w, u, key), 403, "forbidden")
    assert_problem(invite(srv, w.admin, w.org, new_email(), key), 403, "forbidden")
    # The owner may.
    r = set_role(srv, w.owner, w, u, key)
    assert r.status_code == 200, r.text
    assert r.json()["role"] == key
    # And now u (level 3) is out of the admin's reach.
    assert_problem(set_role(srv, w.admin, w, u, "viewer"), 403, "forbidden")
    assert_problem(srv.delete(mpath(w, u), token=w.admin.token), 403, "forbidden")


def test_custom_manager_role_acts_only_below_its_level(srv, smtp_sink, w):  # noqa: F811
    key = role_key("mgr")
    perms = ["org.read", "member.read", "member.update_role", "member.remove", "flag.read",
             "file.read"]
    r = make_role(srv, w.owner, w.org, key, 2, perms)
    assert r.status_code == 201, r.text
    mgr = fresh_member(srv, smtp_sink, w, role=key)
    peer = fresh_member(srv, smtp_sink, w, role="member")
    low = fresh_member(srv, smtp_sink, w, role="viewer")
    # Equal level (member is 2): neither change nor removal.
    assert_problem(set_role(srv, mgr, w, peer, "viewer"), 403, "forbidden")
    assert_problem(srv.delete(mpath(w, peer), token=mgr.token), 403, "forbidden")
    # Not a role of its own level.
    assert_problem(set_role(srv, mgr, w, low, "member"), 403, "forbidden")
    # Self-promotion.
    assert_problem(set_role(srv, mgr, w, mgr, "admin"), 403, "forbidden")
    # Lower level, viewer's permissions within the manager's: fine.
    r = set_role(srv, mgr, w, low, "viewer")
    assert r.status_code == 200, r.text
    # No member.invite: no invitations, even with a low role.
    assert_problem(invite(srv, mgr, w.org, new_email(), "viewer"), 403, "forbidden")
    r = srv.delete(mpath(w, low), token=mgr.token)
    assert r.status_code == 204, r.text
    ms = members(srv, w.owner.token, w.org)
    assert ms[peer.id]["role"] == "member" and low.id not in ms


def test_lower_level_role_with_foreign_permissions_not_assignable(srv, w):
    # Level 1, but with a permission the admin lacks.
    key = role_key("odd")
    r = make_role(srv, w.owner, w.org, key, 1, ["org.delete"])
    assert r.status_code == 201, r.text
    assert_problem(set_role(srv, w.admin, w, w.viewer, key), 403, "forbidden")
    r = set_role(srv, w.owner, w, w.member2, key)
    assert r.status_code == 200, r.text
    r = set_role(srv, w.owner, w, w.member2, "member")
    assert r.status_code == 200, r.text


# --- the last owner ----------------------------------------------------------------------------

def test_last_owner_cannot_be_demoted_or_removed(srv):
    u = new_user(srv, "solo")
    org = create_org(srv, u)["id"]
    for role in ("admin", "member", "viewer"):
        assert_problem(srv.patch("/v1/orgs/%s/members/%s" % (org, u.id), json={"role": role},
                                 token=u.token), 409, "last_owner")
    assert_problem(srv.delete("/v1/orgs/%s/members/%s" % (org, u.id), token=u.token), 409,
                   "last_owner")
    # Personal orgs follow the same rule.
    assert_problem(srv.delete("/v1/orgs/%s/members/%s" % (u.personal_org, u.id),
                              token=u.token), 409, "last_owner")
    r = srv.get("/v1/orgs/" + org, token=u.token)
    assert r.status_code == 200 and r.json()["role"] == "owner", r.text


def test_two_owners(srv, smtp_sink):  # noqa: F811
    a = new_user(srv, "owner-a")
    org = create_org(srv, a)["id"]
    b = add_member(srv, smtp_sink, a, org, role="owner", prefix="owner-b")
    c = add_member(srv, smtp_sink, a, org, role="admin", prefix="admin-c")
    # Owners may act on owners: a demotes b.
    r = srv.patch("/v1/orgs/%s/members/%s" % (org, b.id), json={"role": "admin"}, token=a.token)
    assert r.status_code == 200, r.text
    assert r.json()["role"] == "admin"
    # a is the last owner again.
    assert_problem(srv.patch("/v1/orgs/%s/members/%s" % (org, a.id), json={"role": "admin"},
                             token=a.token), 409, "last_owner")
    # An owner promotes; then the first owner may step down, and leave.
    r = srv.patch("/v1/orgs/%s/members/%s" % (org, c.id), json={"role": "owner"}, token=a.token)
    assert r.status_code == 200, r.text
    r = srv.patch("/v1/orgs/%s/members/%s" % (org, a.id), json={"role": "admin"}, token=a.token)
    assert r.status_code == 200, r.text
    assert_problem(srv.delete("/v1/orgs/%s/members/%s" % (org, c.id), token=c.token), 409,
                   "last_owner")
    r = srv.delete("/v1/orgs/%s/members/%s" % (org, a.id), token=a.token)
    assert r.status_code == 204, r.text
    ms = members(srv, c.token, org)
    assert {k: v["role"] for k, v in ms.items()} == {b.id: "admin", c.id: "owner"}, ms
    # An owner removes another owner.
    r = srv.patch("/v1/orgs/%s/members/%s" % (org, b.id), json={"role": "owner"}, token=c.token)
    assert r.status_code == 200, r.text
    r = srv.delete("/v1/orgs/%s/members/%s" % (org, c.id), token=b.token)
    assert r.status_code == 204, r.text
    assert list(members(srv, b.token, org)) == [b.id]


# --- custom role CRUD -------------------------------------------------------------------------

def test_list_roles_builtins_first(srv, w):
    r = srv.get("/v1/orgs/%s/roles" % w.org, token=w.member.token)
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    for x in data:
        assert set(x) >= ROLE_KEYS, x
        assert isinstance(x["id"], str) and x["id"], x
        assert isinstance(x["permissions"], list), x
        assert set(x["permissions"]) <= set(ALL_PERMISSIONS), x
    nb = len(BUILTIN_ROLES)
    assert [x["key"] for x in data[:nb]] == list(BUILTIN_ROLES), data
    for x in data[:nb]:
        level, perms = BUILTIN_ROLES[x["key"]]
        assert x["builtin"] is True and x["level"] == level, x
        assert set(x["permissions"]) == perms, x
        assert isinstance(x["name"], str) and x["name"], x
    assert all(x["builtin"] is False for x in data[nb:]), data


def test_create_custom_role(srv, w):
    key = role_key("crud")
    r = make_role(srv, w.owner, w.org, key, 2, ["team.read", "org.read", "org.read"],
                  name="Team reader")
    assert r.status_code == 201, r.text
    x = r.json()
    assert set(x) >= ROLE_KEYS, x
    assert x["key"] == key and x["name"] == "Team reader" and x["level"] == 2, x
    assert x["builtin"] is False
    assert sorted(x["permissions"]) == ["org.read", "team.read"], x
    listed = {y["key"]: y for y in srv.get("/v1/orgs/%s/roles" % w.org,
                                             token=w.owner.token).json()["data"]}
    assert listed[key] == x, (listed[key], x)
    # Duplicate key.
    assert_problem(make_role(srv, w.owner, w.org, key, 1, ["org.read"]), 409, "conflict")
    # Built-in keys.
    for b in ("owner", "admin", "member", "viewer"):
        assert_problem(make_role(srv, w.owner, w.org, b, 1, ["org.read"]), 409, "builtin_role")
    # The same key in another org is independent.
    other = create_org(srv, w.owner)["id"]
    assert make_role(srv, w.owner, other, key, 1, ["org.read"]).status_code == 201


@pytest.mark.parametrize("body", [
    {"key": "a", "level": 1},
    {"key": "1abc", "level": 1},
    {"key": "_abc", "level": 1},
    {"key": "Abc", "level": 1},
    {"key": "ab c", "level": 1},
    {"key": "ab.c", "level": 1},
    {"key": "a" * 33, "level": 1},
    {"key": "", "level": 1},
    {"key": 5, "level": 1},
    {"level": 1},
    {"key": "okkey", "level": 0},
    {"key": "okkey", "level": 4},
    {"key": "okkey", "level": "2"},
    {"key": "okkey", "level": 1.5},
    {"key": "okkey"},
    {"key": "okkey", "level": 1, "permissions": ["org.read", "org.fly"]},
    {"key": "okkey", "level": 1, "permissions": "org.read"},
    {"key": "okkey", "level": 1, "permissions": [1]},
    {"key": "okkey", "level": 1, "name": ""},
    {"key": "okkey", "level": 1, "name": "x" * 201},
])
def test_create_custom_role_validation(srv, w, body):
    b = {"name": "Role", "permissions": ["org.read"]}
    b.update(body)
    r = srv.post("/v1/orgs/%s/roles" % w.org, json=b, token=w.owner.token)
    assert_problem(r, 422, "validation_failed")


def test_custom_role_key_limits(srv, w):
    org = create_org(srv, w.owner)["id"]
    for key in ("ab", "z0", "a-b_c9", "a" * 32):
        r = make_role(srv, w.owner, org, key, 1, [])
        assert r.status_code == 201, (key, r.text)
        assert r.json()["key"] == key and r.json()["permissions"] == [], r.json()


def test_update_custom_role(srv, w):
    key = role_key("upd")
    assert make_role(srv, w.owner, w.org, key, 1, ["org.read"]).status_code == 201
    path = "/v1/orgs/%s/roles/%s" % (w.org, key)
    r = srv.patch(path, json={"name": "Renamed", "level": 2}, token=w.owner.token)
    assert r.status_code == 200, r.text
    x = r.json()
    assert x["key"] == key and x["name"] == "Renamed" and x["level"] == 2, x
    assert x["permissions"] == ["org.read"], x
    for body in ({"level": 4}, {"level": 0}, {"permissions": ["nope"]}, {"name": ""}):
        assert_problem(srv.patch(path, json=body, token=w.owner.token), 422,
                       "validation_failed")
    assert_problem(srv.patch("/v1/orgs/%s/roles/%s" % (w.org, role_key("none")),
                             json={"name": "x"}, token=w.owner.token), 404, "not_found")
    for b in ("owner", "admin", "member", "viewer"):
        assert_problem(srv.patch("/v1/orgs/%s/roles/%s" % (w.org, b), json={"name": "Boss"},
                                 token=w.owner.token), 409, "builtin_role")
    # Members cannot edit roles.
    assert_problem(srv.patch(path, json={"name": "x"}, token=w.member.token), 403, "forbidden")


def test_role_changes_apply_to_holders(srv, smtp_sink, w):  # noqa: F811
    key = role_key("live")
    assert make_role(srv, w.owner, w.org, key, 1, ["org.read"]).status_code == 201
    u = fresh_member(srv, smtp_sink, w, role=key)
    assert_problem(srv.get("/v1/orgs/%s/members" % w.org, token=u.token), 403, "forbidden")
    r = srv.patch("/v1/orgs/%s/roles/%s" % (w.org, key),
                  json={"permissions": ["org.read", "member.read"]}, token=w.owner.token)
    assert r.status_code == 200, r.text
    assert srv.get("/v1/orgs/%s/members" % w.org, token=u.token).status_code == 200


def test_delete_custom_role(srv, smtp_sink, w):  # noqa: F811
    key = role_key("del")
    assert make_role(srv, w.owner, w.org, key, 1, ["org.read"]).status_code == 201
    path = "/v1/orgs/%s/roles/%s" % (w.org, key)
    # In use by a member.
    u = fresh_member(srv, smtp_sink, w, role=key)
    assert_problem(srv.delete(path, token=w.owner.token), 409, "role_in_use")
    assert set_role(srv, w.owner, w, u, "viewer").status_code == 200
    # In use by a pending invitation.
    r = invite(srv, w.owner, w.org, new_email(), key)
    assert r.status_code == 201, r.text
    assert_problem(srv.delete(path, token=w.owner.token), 409, "role_in_use")
    assert srv.delete("/v1/orgs/%s/invitations/%s" % (w.org, r.json()["id"]),
                      token=w.owner.token).status_code == 204
    # Free now.
    assert_problem(srv.delete(path, token=w.member.token), 403, "forbidden")
    r = srv.delete(path, token=w.owner.token)
    assert r.status_code == 204, r.text
    assert key not in [x["key"] for x in srv.get("/v1/orgs/%s/roles" % w.org,
                                                   token=w.owner.token).json()["data"]]
    assert_problem(srv.delete(path, token=w.owner.token), 404, "not_found")
    for b in ("owner", "admin", "member", "viewer"):
        assert_problem(srv.delete("/v1/orgs/%s/roles/%s" % (w.org, b), token=w.owner.token),
                       409, "builtin_role")
    # Its key is free again.
    assert make_role(srv, w.owner, w.org, key, 1, []).status_code == 201


def test_roles_need_role_manage(srv, w):
    assert_problem(make_role(srv, w.viewer, w.org, role_key(), 1, []), 403, "forbidden")
    # Admins hold role.manage.
    r = make_role(srv, w.admin, w.org, role_key("adm"), 2, ["team.read"])
    assert r.status_code == 201, r.text


def test_raising_a_role_level_is_granting_it(srv, smtp_sink, w):  # noqa: F811
    """An admin may not lift a custom role held by members to its own level:
    that would make them admins' peers, which assigning could not."""
    key = role_key("lift")
    r = make_role(srv, w.admin, w.org, key, 1, ["org.read", "member.read"])
    assert r.status_code == 201, r.text
    u = fresh_member(srv, smtp_sink, w, role="viewer")
    assert set_role(srv, w.admin, w, u, key).status_code == 200
    path = "/v1/orgs/%s/roles/%s" % (w.org, key)
    assert_problem(srv.patch(path, json={"level": 3}, token=w.admin.token), 403, "forbidden")
    # Still within the admin's reach.
    assert set_role(srv, w.admin, w, u, "viewer").status_code == 200


# --- races ---------------------------------------------------------------------------------

def _together(calls):
    """Runs the callables at the same moment; returns their results in order."""
    barrier = threading.Barrier(len(calls))
    out = [None] * len(calls)

    def run(i, f):
        barrier.wait()
        out[i] = f()

    ts = [threading.Thread(target=run, args=(i, f)) for i, f in enumerate(calls)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return out


def _raw(srv, method, path, user, body=None):
    # One request on its own connection (a requests.Session is not thread-safe).
    return srv.request_once(method, path, json=body, token=user.token)


@pytest.mark.parametrize("how", ["demote", "leave", "remove"])
def test_two_owners_at_once_never_leave_zero(srv, smtp_sink, how):  # noqa: F811
    """The last-owner rule holds under concurrency: two owners demoting each
    other, both leaving, or removing each other at the same moment leave
    exactly one owner."""
    for _ in range(5):
        a = new_user(srv, "race-a")
        org = create_org(srv, a)["id"]
        b = add_member(srv, smtp_sink, a, org, role="owner", prefix="race-b")
        mp = "/v1/orgs/%s/members/%%s" % org
        if how == "demote":
            calls = [lambda: _raw(srv, "PATCH", mp % b.id, a, {"role": "admin"}),
                     lambda: _raw(srv, "PATCH", mp % a.id, b, {"role": "admin"})]
        elif how == "leave":
            calls = [lambda: _raw(srv, "DELETE", mp % a.id, a),
                     lambda: _raw(srv, "DELETE", mp % b.id, b)]
        else:
            calls = [lambda: _raw(srv, "DELETE", mp % b.id, a),
                     lambda: _raw(srv, "DELETE", mp % a.id, b)]
        rs = _together(calls)
        owners = tenant_count(srv, "memberships", org, "role = 'owner'")
        assert owners == 1, (owners, [(r.status_code, r.text) for r in rs])
        codes = sorted(r.status_code for r in rs)
        # The loser either hit the rule (409) or, serialized after the winner,
        # no longer is an owner (403) or a member (404).
        assert codes in ([200, 403], [200, 409], [204, 403], [204, 404], [204, 409]), \
            [(r.status_code, r.text) for r in rs]


@pytest.mark.parametrize("via", ["member", "invitation"])
def test_role_deleted_while_being_assigned(srv, smtp_sink, w, via):  # noqa: F811
    """Deleting a custom role races assigning it: never both succeed (no
    member or invitation left holding a role that does not exist)."""
    u = fresh_member(srv, smtp_sink, w, role="viewer")
    for _ in range(8):
        key = role_key("race")
        assert make_role(srv, w.owner, w.org, key, 1, ["org.read"]).status_code == 201
        if via == "member":
            assign = lambda: _raw(srv, "PATCH", mpath(w, u), w.owner,  # noqa: E731
                                  {"role": key})
        else:
            assign = lambda: _raw(srv, "POST", "/v1/orgs/%s/invitations" % w.org,  # noqa: E731
                                  w.owner, {"email": new_email(), "role": key})
        rs = _together([assign, lambda: _raw(srv, "DELETE", "/v1/orgs/%s/roles/%s"
                                             % (w.org, key), w.owner)])
        a, d = rs[0].status_code, rs[1].status_code
        assert (a, d) in ((200, 409), (201, 409), (422, 204)), (rs[0].text, rs[1].text)
        if a in (200, 201):
            set_role(srv, w.owner, w, u, "viewer")
            if a == 201:
                srv.delete("/v1/orgs/%s/invitations/%s" % (w.org, rs[0].json()["id"]),
                           token=w.owner.token)


# --- the route table -----------------------------------------------------------------------------

# API.md's permission of each route under /v1/orgs/{org} (None: decided in the
# handler — member.remove, or the member themself).
ROUTE_PERMISSIONS = {
    ("GET", "/v1/orgs/{}"): "org.read",
    ("PATCH", "/v1/orgs/{}"): "org.update",
    ("DELETE", "/v1/orgs/{}"): "org.delete",
    ("GET", "/v1/orgs/{}/members"): "member.read",
    ("PATCH", "/v1/orgs/{}/members/{}"): "member.update_role",
    ("DELETE", "/v1/orgs/{}/members/{}"): None,
    ("POST", "/v1/orgs/{}/invitations"): "member.invite",
    ("GET", "/v1/orgs/{}/invitations"): "member.invite",
    ("DELETE", "/v1/orgs/{}/invitations/{}"): "member.invite",
    ("GET", "/v1/orgs/{}/teams"): "team.read",
    ("POST", "/v1/orgs/{}/teams"): "team.manage",
    ("GET", "/v1/orgs/{}/teams/{}"): "team.read",
    ("PATCH", "/v1/orgs/{}/teams/{}"): "team.manage",
    ("DELETE", "/v1/orgs/{}/teams/{}"): "team.manage",
    ("PUT", "/v1/orgs/{}/teams/{}/members/{}"): "team.manage",
    ("DELETE", "/v1/orgs/{}/teams/{}/members/{}"): "team.manage",
    ("GET", "/v1/orgs/{}/roles"): "role.read",
    ("POST", "/v1/orgs/{}/roles"): "role.manage",
    ("PATCH", "/v1/orgs/{}/roles/{}"): "role.manage",
    ("DELETE", "/v1/orgs/{}/roles/{}"): "role.manage",
    ("POST", "/v1/orgs/{}/api-keys"): "apikey.manage",
    ("GET", "/v1/orgs/{}/api-keys"): "apikey.read",
    ("DELETE", "/v1/orgs/{}/api-keys/{}"): "apikey.manage",
    ("GET", "/v1/orgs/{}/flags"): "flag.read",
    # projects: any member (guests included) reaches the routes; the project
    # and environment roles decide inside (test_projects.py)
    ("GET", "/v1/orgs/{}/projects"): None,
    ("POST", "/v1/orgs/{}/projects"): "project.create",
    ("GET", "/v1/orgs/{}/projects/{}"): None,
    ("PATCH", "/v1/orgs/{}/projects/{}"): None,
    ("DELETE", "/v1/orgs/{}/projects/{}"): None,
    ("GET", "/v1/orgs/{}/projects/{}/members"): None,
    ("PUT", "/v1/orgs/{}/projects/{}/members/{}"): None,
    ("DELETE", "/v1/orgs/{}/projects/{}/members/{}"): None,
    ("POST", "/v1/orgs/{}/projects/{}/invitations"): "member.invite",
    ("GET", "/v1/orgs/{}/projects/{}/environments"): None,
    ("POST", "/v1/orgs/{}/projects/{}/environments"): None,
    ("GET", "/v1/orgs/{}/projects/{}/environments/{}"): None,
    ("PATCH", "/v1/orgs/{}/projects/{}/environments/{}"): None,
    ("DELETE", "/v1/orgs/{}/projects/{}/environments/{}"): None,
    ("GET", "/v1/orgs/{}/projects/{}/environments/{}/members"): None,
    ("PUT", "/v1/orgs/{}/projects/{}/environments/{}/members/{}"): None,
    ("DELETE", "/v1/orgs/{}/projects/{}/environments/{}/members/{}"): None,
    ("GET", "/v1/orgs/{}/projects/{}/environments/{}/secrets"): None,
    ("GET", "/v1/orgs/{}/projects/{}/environments/{}/secrets/export"): None,
    ("POST", "/v1/orgs/{}/projects/{}/environments/{}/secrets/import"): None,
    ("GET", "/v1/orgs/{}/projects/{}/environments/{}/secrets/{}"): None,
    ("PUT", "/v1/orgs/{}/projects/{}/environments/{}/secrets/{}"): None,
    ("DELETE", "/v1/orgs/{}/projects/{}/environments/{}/secrets/{}"): None,
    ("GET", "/v1/orgs/{}/audit-events"): "audit.read",
    ("GET", "/v1/orgs/{}/audit-events/export"): "audit.read",
    ("GET", "/v1/orgs/{}/audit-events/verify"): "audit.read",
    # realtime: any member (or key); each event is filtered by its own rule
    ("POST", "/v1/orgs/{}/events/ticket"): None,
    ("GET", "/v1/orgs/{}/events/stream"): None,
    ("GET", "/v1/orgs/{}/activity"): None,
    ("GET", "/v1/orgs/{}/billing"): "billing.read",
    ("GET", "/v1/orgs/{}/usage"): "org.read",
    ("POST", "/v1/orgs/{}/billing/checkout"): "billing.manage",
    ("POST", "/v1/orgs/{}/billing/portal"): "billing.manage",
    ("GET", "/v1/orgs/{}/webhooks"): "webhook.read",
    ("POST", "/v1/orgs/{}/webhooks"): "webhook.manage",
    ("GET", "/v1/orgs/{}/webhooks/{}"): "webhook.read",
    ("PATCH", "/v1/orgs/{}/webhooks/{}"): "webhook.manage",
    ("DELETE", "/v1/orgs/{}/webhooks/{}"): "webhook.manage",
    ("POST", "/v1/orgs/{}/webhooks/{}/rotate-secret"): "webhook.manage",
    ("POST", "/v1/orgs/{}/webhooks/{}/test"): "webhook.manage",
    ("GET", "/v1/orgs/{}/webhooks/{}/deliveries"): "webhook.read",
    ("GET", "/v1/orgs/{}/webhooks/{}/deliveries/{}"): "webhook.read",
    ("POST", "/v1/orgs/{}/webhooks/{}/deliveries/{}/retry"): "webhook.manage",
    ("GET", "/v1/orgs/{}/files"): "file.read",
    ("POST", "/v1/orgs/{}/files"): "file.write",
    ("GET", "/v1/orgs/{}/files/{}"): "file.read",
    ("DELETE", "/v1/orgs/{}/files/{}"): "file.read",
    ("GET", "/v1/orgs/{}/files/{}/content"): "file.read",
    ("POST", "/v1/orgs/{}/files/{}/url"): "file.read",
    # collections: the permission ({name}.read, ...) is per collection, so the
    # service checks it (tests/api/test_collections.py)
    ("GET", "/v1/orgs/{}/collections/{}/records"): None,
    ("POST", "/v1/orgs/{}/collections/{}/records"): None,
    ("GET", "/v1/orgs/{}/collections/{}/records/{}"): None,
    ("PATCH", "/v1/orgs/{}/collections/{}/records/{}"): None,
    ("PUT", "/v1/orgs/{}/collections/{}/records/{}"): None,
    ("DELETE", "/v1/orgs/{}/collections/{}/records/{}"): None,
    ("GET", "/v1/orgs/{}/collections/{}/records/{}/grants"): None,
    ("PUT", "/v1/orgs/{}/collections/{}/records/{}/grants/{}"): None,
    ("DELETE", "/v1/orgs/{}/collections/{}/records/{}/grants/{}"): None,
    ("GET", "/v1/orgs/{}/projects/{}/collections/{}/records"): None,
    ("POST", "/v1/orgs/{}/projects/{}/collections/{}/records"): None,
    ("GET", "/v1/orgs/{}/projects/{}/collections/{}/records/{}"): None,
    ("PATCH", "/v1/orgs/{}/projects/{}/collections/{}/records/{}"): None,
    ("PUT", "/v1/orgs/{}/projects/{}/collections/{}/records/{}"): None,
    ("DELETE", "/v1/orgs/{}/projects/{}/collections/{}/records/{}"): None,
    ("GET", "/v1/orgs/{}/projects/{}/collections/{}/records/{}/grants"): None,
    ("PUT", "/v1/orgs/{}/projects/{}/collections/{}/records/{}/grants/{}"): None,
    ("DELETE", "/v1/orgs/{}/projects/{}/collections/{}/records/{}/grants/{}"): None,
    ("GET", "/v1/orgs/{}/sso"): "sso.manage",
    ("PUT", "/v1/orgs/{}/sso"): "sso.manage",
    ("DELETE", "/v1/orgs/{}/sso"): "sso.manage",
}


def test_route_table_declares_the_permissions():
    """Every /v1/orgs/{org} route is an org route (membership resolved before
    the handler) declaring a catalog permission, the one API.md names."""
    seen = {}
    for r in plinth.routes():
        if not r["path"].startswith("/v1/orgs/{"):
            continue
        key = (r["method"], re.sub(r"\{[^}]*\}", "{}", r["path"]))
        assert r["auth"] == "org", (key, r["auth"])
        seen[key] = r["perm"]
    assert seen, "no org routes parsed"
    for key, perm in seen.items():
        assert key in ROUTE_PERMISSIONS, "route not in API.md's table: %s" % (key,)
        assert perm is None or perm in ALL_PERMISSIONS, (key, perm)
        assert perm == ROUTE_PERMISSIONS[key], (key, perm, ROUTE_PERMISSIONS[key])
