"""Projects, environments and their members (issue 15).

The role matrix: every organization role (owner, admin, member, viewer,
guest) x project role (owner, member) x environment role (administrator,
manager, viewer, none), plus each organization role outside the project, is
one user of one organization, and every project,
environment and secret route is called by each of them; the expected answer
comes from the rules of API.md written once below (`expect`). One world per
module keeps the run time down. Then: guests (project invitations, what a
guest sees of the organization), API keys, slugs and references, the
last-owner rule, events, cascades and row-level security."""

import uuid

import pytest

import plinth
from plinth import assert_problem
from orgs_util import accept, add_member, create_org, members, my_orgs, new_user
from projects_util import (ENV_KEYS, PMEMBER_KEYS, PROJECT_KEYS, SECRET_KEYS, create_project,
                           envs_of, epath, invite_many, ppath, put_secret_ok, register_with,
                           spath, sql_rows, unique_email)
from smtp_sink import mail_server, smtp_sink  # noqa: F401

ORG_ROLES = ["owner", "admin", "member", "viewer", "guest"]
PROJECT_ROLES = ["owner", "member", None]
ENV_ROLES = ["administrator", "manager", "viewer", None]
ENV_RANK = {None: 0, "viewer": 1, "manager": 2, "administrator": 3}


@pytest.fixture(scope="module")
def srv(make_module_server, smtp_sink):  # noqa: F811
    return mail_server(make_module_server, smtp_sink, workers=2)


class Actor:
    def __init__(self, n, org_role, project_role, env_role):
        self.n = n
        self.org_role = org_role
        self.project_role = project_role
        self.env_role = env_role
        self.user = None

    @property
    def token(self):
        return self.user.token

    @property
    def id(self):
        return self.user.id

    def __repr__(self):
        return "%s/%s/%s" % (self.org_role, self.project_role, self.env_role or "none")


# --- the rules, as API.md states them ------------------------------------------------------

def effective(a):
    """(project role, environment role) of an actor on the matrix project and
    environment: project.admin (owner, admin) acts as project owner, project
    owners administer every environment, members have their grant."""
    prole = "owner" if a.org_role in ("owner", "admin") else a.project_role
    erole = "administrator" if prole == "owner" else a.env_role
    return prole, erole


def on_project(a, need):
    """None when allowed; else the status: 404 without access, 403 below need."""
    prole, _ = effective(a)
    if prole is None:
        return 404
    if need == "owner" and prole != "owner":
        return 403
    return None


def on_env(a, need):
    prole, erole = effective(a)
    if prole is None or erole is None:
        return 404
    if ENV_RANK[erole] < ENV_RANK[need]:
        return 403
    return None


def expect(route, a):
    """The status route answers actor a."""
    ok = ROUTES[route][0]
    kind, need = ROUTES[route][1]
    if kind == "any":
        denied = None
    elif kind == "org":
        denied = None if a.org_role in need else 403
    elif kind == "project":
        denied = on_project(a, need)
    elif kind == "invite":
        # member.invite is checked before the project (owner, admin hold it)
        denied = 403 if a.org_role not in ("owner", "admin") else on_project(a, "owner")
    else:
        denied = on_env(a, need)
    return denied or ok


# route name -> (success status, (kind, need))
ROUTES = {
    "list_projects": (200, ("any", None)),
    "create_project": (201, ("org", ("owner", "admin", "member"))),
    "get_project": (200, ("project", "member")),
    "patch_project": (200, ("project", "owner")),
    "delete_project": (204, ("project", "owner")),
    "list_project_members": (200, ("project", "member")),
    "put_project_member": (200, ("project", "owner")),
    "delete_project_member": (204, ("project", "owner")),
    "invite": (201, ("invite", None)),
    "list_envs": (200, ("project", "member")),
    "create_env": (201, ("project", "owner")),
    "get_env": (200, ("env", "viewer")),
    "patch_env": (200, ("env", "administrator")),
    "delete_env": (204, ("env", "administrator")),
    "list_env_members": (200, ("env", "viewer")),
    "put_env_member": (200, ("env", "administrator")),
    "delete_env_member": (204, ("env", "administrator")),
    "list_secrets": (200, ("env", "viewer")),
    "read_secret": (200, ("env", "manager")),
    "put_secret": (200, ("env", "manager")),
    "delete_secret": (204, ("env", "manager")),
    "export": (200, ("env", "manager")),
    "import": (200, ("env", "manager")),
}


# --- the world -----------------------------------------------------------------------------

class World:
    pass


SHARED_VALUE = "shared value \u00e9"


@pytest.fixture(scope="module")
def w(srv, smtp_sink):  # noqa: F811
    x = World()
    x.boss = new_user(srv, "boss")
    x.org = create_org(srv, x.boss, name="Matrix")["id"]
    x.project = create_project(srv, x.boss, x.org, name="Matrix project")
    x.pid = x.project["id"]
    x.env = envs_of(srv, x.boss, x.org, x.pid)["production"]
    x.eid = x.env["id"]
    x.other = create_project(srv, x.boss, x.org, name="Other project")
    put_secret_ok(srv, x.boss, x.org, x.pid, x.eid, "SHARED", "first")
    put_secret_ok(srv, x.boss, x.org, x.pid, x.eid, "SHARED", SHARED_VALUE)
    # every combination, each a user of the organization
    x.actors = []
    for o in ORG_ROLES:
        for p in PROJECT_ROLES:
            for e in ENV_ROLES:
                if p or not e:   # a grant needs a project membership
                    x.actors.append(Actor(len(x.actors), o, p, e))
    specs = []
    for a in x.actors:
        a.email = unique_email("m%d-%s" % (a.n, a.org_role))
        if a.org_role == "guest":   # a project invitation makes a guest
            # (of another project, for the guest outside the matrix project)
            specs.append((ppath(x.org, x.pid if a.project_role else x.other["id"],
                                "/invitations"), a.email, a.project_role or "member"))
        else:
            specs.append(("/v1/orgs/%s/invitations" % x.org, a.email, a.org_role))
    x.target_email = unique_email("target")
    specs.append(("/v1/orgs/%s/invitations" % x.org, x.target_email, "member"))
    tokens = invite_many(srv, smtp_sink, x.boss, specs)
    for a in x.actors:
        a.user = register_with(srv, a.email, tokens[a.email], name="Actor %d" % a.n)
    x.target = register_with(srv, x.target_email, tokens[x.target_email], name="Target")
    for a in x.actors:
        if a.org_role != "guest" and a.project_role:
            r = srv.put(ppath(x.org, x.pid, "/members/" + a.id), json={"role": a.project_role},
                        token=x.boss.token)
            assert r.status_code == 200, r.text
        if a.env_role:
            grant(srv, x, x.eid, a.user, a.env_role)
    restore_target(srv, x)
    return x


def grant(srv, w, env_id, user, role):
    r = srv.put(epath(w.org, w.pid, env_id, "/members/" + user.id), json={"role": role},
                token=w.boss.token)
    assert r.status_code == 200, (r.status_code, r.text)


def restore_target(srv, w):
    """The target user: a member of the project with a viewer grant."""
    r = srv.put(ppath(w.org, w.pid, "/members/" + w.target.id), json={"role": "member"},
                token=w.boss.token)
    assert r.status_code == 200, r.text
    grant(srv, w, w.eid, w.target, "viewer")


def test_world_as_set_up(srv, w):
    """The matrix is what it says: roles as the owner sees them."""
    orgm = members(srv, w.boss.token, w.org)
    r = srv.get(ppath(w.org, w.pid, "/members"), token=w.boss.token, params={"limit": 200})
    pm = {m["user_id"]: m["role"] for m in r.json()["data"]}
    r = srv.get(epath(w.org, w.pid, w.eid, "/members"), token=w.boss.token, params={"limit": 200})
    em = {m["user_id"]: m["role"] for m in r.json()["data"]}
    for a in w.actors:
        assert orgm[a.id]["role"] == a.org_role, a
        assert pm.get(a.id) == a.project_role, a
        assert em.get(a.id) == a.env_role, a


def test_activity_shows_project_events_to_those_with_access(srv, w):
    """project.*, environment.* and secret.* events reach the callers with
    access to their project (and environment), as the objects themselves do."""
    def actions(a, types):
        items, cursor = [], None
        for _ in range(50):
            params = {"types": types, "limit": 200}
            if cursor:
                params["cursor"] = cursor
            r = srv.get("/v1/orgs/%s/activity" % w.org, token=a.token, params=params)
            assert r.status_code == 200, r.text
            items += r.json()["data"]
            cursor = r.json()["next_cursor"]
            if not cursor:
                return items
        raise AssertionError("too many pages")

    other = w.other["id"]
    for a in w.actors:
        _, erole = effective(a)
        secrets = [e for e in actions(a, "secret.*") if e["data"].get("environment_id") == w.eid]
        assert bool(secrets) == (erole is not None), (a, secrets)
        projects = [e for e in actions(a, "project.*") if e["data"].get("project_id") == other]
        sees_other = a.org_role in ("owner", "admin") or (a.org_role == "guest"
                                                           and not a.project_role)
        assert bool(projects) == sees_other, (a, projects)
        for e in actions(a, "secret.*"):
            assert SHARED_VALUE not in str(e), e


# --- one route per test, every actor -----------------------------------------------------------

def call(srv, w, route, a):
    """Calls route as a; returns the response (after any set-up the route
    needs) and a check to run on success."""
    org, pid, eid, boss = w.org, w.pid, w.eid, w.boss
    tag = "a%d" % a.n
    if route == "list_projects":
        r = srv.get(ppath(org), token=a.token, params={"limit": 200})
        if r.status_code == 200:
            ids = {p["id"] for p in r.json()["data"]}
            assert (pid in ids) == (effective(a)[0] is not None), (a, ids)
            in_other = a.org_role in ("owner", "admin") or (a.org_role == "guest" and
                                                             not a.project_role)
            assert (w.other["id"] in ids) == in_other, (a, ids)
            for p in r.json()["data"]:
                assert set(p) >= PROJECT_KEYS, p
                if p["id"] == pid:
                    assert p["role"] == effective(a)[0], (a, p)
        return r
    if route == "create_project":
        return srv.post(ppath(org), json={"name": "By " + tag, "environments": []},
                        token=a.token)
    if route == "get_project":
        r = srv.get(ppath(org, pid), token=a.token)
        if r.status_code == 200:
            assert r.json()["role"] == effective(a)[0], (a, r.json())
        return r
    if route == "patch_project":
        return srv.patch(ppath(org, pid), json={"description": "by " + tag}, token=a.token)
    if route == "delete_project":
        # a project of its own, where a has the matrix project's roles
        scratch = create_project(srv, boss, org, name="Scratch " + tag, environments=[])
        if a.project_role:
            r = srv.put(ppath(org, scratch["id"], "/members/" + a.id),
                        json={"role": a.project_role}, token=boss.token)
            assert r.status_code == 200, r.text
        r = srv.delete(ppath(org, scratch["id"]), token=a.token)
        still = srv.get(ppath(org, scratch["id"]), token=boss.token).status_code
        assert still == (404 if r.status_code == 204 else 200), (a, r.status_code, still)
        return r
    if route == "list_project_members":
        r = srv.get(ppath(org, pid, "/members"), token=a.token, params={"limit": 200})
        if r.status_code == 200:
            for m in r.json()["data"]:
                assert set(m) >= PMEMBER_KEYS, m
        return r
    if route == "put_project_member":
        return srv.put(ppath(org, pid, "/members/" + w.target.id), json={"role": "member"},
                       token=a.token)
    if route == "delete_project_member":
        r = srv.delete(ppath(org, pid, "/members/" + w.target.id), token=a.token)
        if r.status_code == 204:
            restore_target(srv, w)
        return r
    if route == "invite":
        return srv.post(ppath(org, pid, "/invitations"),
                        json={"email": unique_email("inv-" + tag), "role": "member"},
                        token=a.token)
    if route == "list_envs":
        r = srv.get(epath(org, pid), token=a.token)
        if r.status_code == 200:
            got = {e["id"]: e for e in r.json()["data"]}
            assert (eid in got) == (effective(a)[1] is not None), (a, got)
            if eid in got:
                assert set(got[eid]) >= ENV_KEYS and got[eid]["role"] == effective(a)[1], a
        return r
    if route == "create_env":
        return srv.post(epath(org, pid), json={"name": "env " + tag}, token=a.token)
    if route == "get_env":
        r = srv.get(epath(org, pid, eid), token=a.token)
        if r.status_code == 200:
            assert r.json()["role"] == effective(a)[1], (a, r.json())
        return r
    if route == "patch_env":
        return srv.patch(epath(org, pid, eid), json={"name": "production"}, token=a.token)
    if route == "delete_env":
        # an environment of its own, with a's grant of the matrix environment
        r = srv.post(epath(org, pid), json={"name": "scratch " + tag}, token=boss.token)
        assert r.status_code == 201, r.text
        x = r.json()["id"]
        if a.env_role and effective(a)[0] == "member":
            grant(srv, w, x, a.user, a.env_role)
        r = srv.delete(epath(org, pid, x), token=a.token)
        still = srv.get(epath(org, pid, x), token=boss.token).status_code
        assert still == (404 if r.status_code == 204 else 200), (a, r.status_code, still)
        if still == 200:
            srv.delete(epath(org, pid, x), token=boss.token)
        return r
    if route == "list_env_members":
        return srv.get(epath(org, pid, eid, "/members"), token=a.token)
    if route == "put_env_member":
        return srv.put(epath(org, pid, eid, "/members/" + w.target.id), json={"role": "viewer"},
                       token=a.token)
    if route == "delete_env_member":
        r = srv.delete(epath(org, pid, eid, "/members/" + w.target.id), token=a.token)
        if r.status_code == 204:
            restore_target(srv, w)
        return r
    if route == "list_secrets":
        r = srv.get(spath(org, pid, eid), token=a.token, params={"limit": 200})
        if r.status_code == 200:
            for s in r.json()["data"]:
                assert set(s) == SECRET_KEYS, s   # never a value
        return r
    if route == "read_secret":
        r = srv.get(spath(org, pid, eid, "SHARED"), token=a.token)
        if r.status_code == 200:
            assert r.json()["value"] == SHARED_VALUE, r.json()
        else:
            assert SHARED_VALUE not in r.text
        return r
    if route == "put_secret":
        return srv.put(spath(org, pid, eid, "PUT_" + tag.upper()), json={"value": "v " + tag},
                       token=a.token)
    if route == "delete_secret":
        key = "DEL_" + tag.upper()
        put_secret_ok(srv, boss, org, pid, eid, key, "doomed")
        r = srv.delete(spath(org, pid, eid, key), token=a.token)
        still = srv.get(spath(org, pid, eid, key), token=boss.token).status_code
        assert still == (404 if r.status_code == 204 else 200), (a, r.status_code, still)
        return r
    if route == "export":
        r = srv.get(spath(org, pid, eid, rest="/export"), token=a.token,
                    params={"format": "json"})
        if r.status_code == 200:
            assert r.json()["secrets"]["SHARED"] == SHARED_VALUE
        else:
            assert SHARED_VALUE not in r.text
        return r
    if route == "import":
        return srv.post(spath(org, pid, eid, rest="/import"),
                        json={"secrets": {"IMP_" + tag.upper(): "i " + tag}}, token=a.token)
    raise AssertionError("unknown route " + route)


@pytest.mark.parametrize("route", list(ROUTES))
def test_role_matrix(srv, w, route):
    wrong = []
    for a in w.actors:
        want = expect(route, a)
        r = call(srv, w, route, a)
        if r.status_code != want:
            wrong.append("%r: %d (want %d) %s" % (a, r.status_code, want, r.text[:160]))
        elif want >= 400:
            assert_problem(r, want, {403: "forbidden", 404: "not_found"}[want])
    assert not wrong, "\n".join(wrong)


def test_matrix_covers_every_route():
    """Every project, environment and secret route of the route table has a
    matrix row (the instance admin's read of an org's projects is tested in
    test_admin_orgs.py)."""
    mine = {(r["method"], r["path"]) for r in plinth.routes()
            if r["module"] == "projects" and not r["path"].startswith("/v1/admin/")}
    assert len(mine) == len(ROUTES), (len(mine), len(ROUTES), sorted(mine))


# --- guests --------------------------------------------------------------------------------

def guests(w):
    return [a for a in w.actors if a.org_role == "guest" and a.project_role]


def test_guest_sees_the_org_and_nothing_else(srv, w):
    g = guests(w)[0]
    orgs = {o["id"]: o for o in srv.get("/v1/orgs", token=g.token).json()["data"]}
    assert orgs[w.org]["role"] == "guest", orgs
    assert my_orgs(srv, g.user)[w.org]["role"] == "guest"
    base = "/v1/orgs/" + w.org
    for path in ("", "/members", "/teams", "/roles", "/invitations", "/api-keys",
                 "/audit-events", "/flags"):
        assert_problem(srv.get(base + path, token=g.token), 403, "forbidden")
    # only the projects given to them
    ids = [p["id"] for p in srv.get(ppath(w.org), token=g.token).json()["data"]]
    assert ids == [w.pid], ids
    assert_problem(srv.get(ppath(w.org, w.other["id"]), token=g.token), 404, "not_found")
    assert_problem(srv.get(ppath(w.org, w.other["slug"]), token=g.token), 404, "not_found")
    assert_problem(srv.post(ppath(w.org), json={"name": "Nope"}, token=g.token), 403, "forbidden")
    # the guest role: level 0, no permission
    roles = {x["key"]: x for x in srv.get(base + "/roles", token=w.boss.token).json()["data"]}
    assert roles["guest"]["level"] == 0 and roles["guest"]["permissions"] == [], roles["guest"]


def test_project_invitation_for_an_existing_account(srv, smtp_sink, w):  # noqa: F811
    u = new_user(srv, "existing")
    r = srv.post(ppath(w.org, w.other["id"], "/invitations"), json={"email": u.email,
                                                                    "role": "owner"},
                 token=w.boss.token)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["role"] == "owner" and body["project_id"] == w.other["id"], body
    assert body["status"] == "pending", body
    m = smtp_sink.wait_for_to(u.email, path="/accept-invite")
    assert "Other project" in m.subject() and "Other project" in m.text(), m.subject()
    listed = srv.get("/v1/orgs/%s/invitations" % w.org, token=w.boss.token).json()["data"]
    assert [i["project_id"] for i in listed if i["id"] == body["id"]] == [w.other["id"]]
    r = accept(srv, u, m.token("/accept-invite"))
    assert r.status_code == 200, r.text
    assert r.json()["id"] == w.org and r.json()["role"] == "guest", r.json()
    ids = {p["id"]: p["role"] for p in srv.get(ppath(w.org), token=u.token).json()["data"]}
    assert ids == {w.other["id"]: "owner"}, ids


def test_project_invitation_for_an_org_member_keeps_their_role(srv, smtp_sink, w):  # noqa: F811
    v = add_member(srv, smtp_sink, w.boss, w.org, role="viewer", prefix="viewer2")
    r = srv.post(ppath(w.org, w.other["id"], "/invitations"),
                 json={"email": v.email, "role": "member"}, token=w.boss.token)
    assert r.status_code == 201, r.text
    m = smtp_sink.wait_for_to(v.email, path="/accept-invite", after=1)  # after the org's
    r = accept(srv, v, m.token("/accept-invite"))
    assert r.status_code == 200 and r.json()["role"] == "viewer", r.text
    p = srv.get(ppath(w.org, w.other["id"]), token=v.token)
    assert p.status_code == 200 and p.json()["role"] == "member", p.text
    # already in the project: 409
    r = srv.post(ppath(w.org, w.other["id"], "/invitations"),
                 json={"email": v.email, "role": "owner"}, token=w.boss.token)
    assert_problem(r, 409, "already_member")


def test_project_invitation_rules(srv, w):
    path = ppath(w.org, w.pid, "/invitations")
    email = unique_email("twice")
    r = srv.post(path, json={"email": email, "role": "member"}, token=w.boss.token)
    assert r.status_code == 201, r.text
    assert_problem(srv.post(path, json={"email": email, "role": "member"}, token=w.boss.token),
                   409, "invitation_pending")
    # another project may invite the same email at the same time
    r = srv.post(ppath(w.org, w.other["id"], "/invitations"),
                 json={"email": email, "role": "member"}, token=w.boss.token)
    assert r.status_code == 201, r.text
    for bad in ({"email": unique_email("x"), "role": "admin"},
                {"email": unique_email("x"), "role": "guest"},
                {"email": "not-an-email", "role": "member"}, {"role": "member"}):
        assert_problem(srv.post(path, json=bad, token=w.boss.token), 422, "validation_failed")


def test_guest_who_leaves_the_project_keeps_the_org(srv, smtp_sink, w):  # noqa: F811
    email = unique_email("leaver")
    tokens = invite_many(srv, smtp_sink, w.boss,
                         [(ppath(w.org, w.other["id"], "/invitations"), email, "member")])
    g = register_with(srv, email, tokens[email])
    assert my_orgs(srv, g)[w.org]["role"] == "guest"
    r = srv.delete(ppath(w.org, w.other["id"], "/members/" + g.id), token=g.token)
    assert r.status_code == 204, r.text
    assert srv.get(ppath(w.org), token=g.token).json()["data"] == []
    assert my_orgs(srv, g)[w.org]["role"] == "guest"


def test_leaving_the_org_leaves_its_projects(srv, smtp_sink, w):  # noqa: F811
    u = add_member(srv, smtp_sink, w.boss, w.org, role="member", prefix="goner")
    r = srv.put(ppath(w.org, w.pid, "/members/" + u.id), json={"role": "member"},
                token=w.boss.token)
    assert r.status_code == 200, r.text
    grant(srv, w, w.eid, u, "manager")
    assert srv.delete("/v1/orgs/%s/members/%s" % (w.org, u.id), token=w.boss.token).status_code \
        == 204
    pm = [m["user_id"] for m in srv.get(ppath(w.org, w.pid, "/members"), token=w.boss.token,
                                        params={"limit": 200}).json()["data"]]
    em = [m["user_id"] for m in srv.get(epath(w.org, w.pid, w.eid, "/members"),
                                        token=w.boss.token, params={"limit": 200}).json()["data"]]
    assert u.id not in pm and u.id not in em


# --- members and owners ----------------------------------------------------------------------

def test_last_owner(srv, smtp_sink, w):  # noqa: F811
    owner = add_member(srv, smtp_sink, w.boss, w.org, role="member", prefix="powner")
    p = create_project(srv, owner, w.org, name="Solo")
    mp = ppath(w.org, p["id"], "/members/" + owner.id)
    assert_problem(srv.put(mp, json={"role": "member"}, token=owner.token), 409, "last_owner")
    assert_problem(srv.delete(mp, token=owner.token), 409, "last_owner")
    # org admins act as owners but are not members: still the last owner
    assert_problem(srv.delete(mp, token=w.boss.token), 409, "last_owner")
    second = add_member(srv, smtp_sink, w.boss, w.org, role="viewer", prefix="powner2")
    r = srv.put(ppath(w.org, p["id"], "/members/" + second.id), json={"role": "owner"},
                token=owner.token)
    assert r.status_code == 200 and r.json()["role"] == "owner", r.text
    assert srv.delete(mp, token=owner.token).status_code == 204
    assert_problem(srv.get(ppath(w.org, p["id"]), token=owner.token), 404, "not_found")


def test_member_rules(srv, w):
    stranger = new_user(srv, "stranger")
    mp = ppath(w.org, w.pid, "/members/")
    r = srv.put(mp + stranger.id, json={"role": "member"}, token=w.boss.token)
    body = assert_problem(r, 422, "validation_failed")
    assert body["errors"][0]["field"] == "user", body
    assert_problem(srv.put(mp + "not-a-user", json={"role": "member"}, token=w.boss.token),
                   422, "validation_failed")
    for role in ("admin", "administrator", "", None, 3):
        assert_problem(srv.put(mp + w.target.id, json={"role": role}, token=w.boss.token),
                       422, "validation_failed")
    assert_problem(srv.delete(mp + stranger.id, token=w.boss.token), 404, "not_found")
    # environment grants go to project members only
    other = [a for a in w.actors if a.org_role == "member" and a.project_role][0]
    om = epath(w.org, w.other["id"], "production", "/members/")
    r = srv.put(om + other.id, json={"role": "viewer"}, token=w.boss.token)
    body = assert_problem(r, 422, "validation_failed")
    assert body["errors"][0]["field"] == "user", body
    r = srv.put(epath(w.org, w.pid, w.eid, "/members/" + w.target.id), json={"role": "owner"},
                token=w.boss.token)
    assert_problem(r, 422, "validation_failed")
    assert_problem(srv.delete(om + other.id, token=w.boss.token), 404, "not_found")


# --- API keys --------------------------------------------------------------------------------

def make_key(srv, w, perms):
    r = srv.post("/v1/orgs/%s/api-keys" % w.org, json={"name": "k", "permissions": perms},
                 token=w.boss.token)
    assert r.status_code == 201, r.text
    return r.json()["key"]


def test_api_keys(srv, w):
    admin = make_key(srv, w, ["project.admin", "project.create"])
    plain = make_key(srv, w, ["project.create", "org.read"])
    ids = {p["id"]: p["role"] for p in srv.get(ppath(w.org), token=admin).json()["data"]}
    assert ids[w.pid] == "owner" and ids[w.other["id"]] == "owner", ids
    assert srv.get(ppath(w.org), token=plain).json()["data"] == []
    assert_problem(srv.get(ppath(w.org, w.pid), token=plain), 404, "not_found")
    assert_problem(srv.get(spath(w.org, w.pid, w.eid, "SHARED"), token=plain), 404, "not_found")
    r = srv.get(spath(w.org, w.pid, w.eid, "SHARED"), token=admin)
    assert r.status_code == 200 and r.json()["value"] == SHARED_VALUE, r.text
    assert_problem(srv.post(ppath(w.org), json={"name": "By key"}, token=plain), 403, "forbidden")
    r = srv.post(ppath(w.org), json={"name": "By admin key"}, token=admin)
    assert r.status_code == 201 and r.json()["role"] == "owner", r.text
    r = srv.put(spath(w.org, w.pid, w.eid, "BY_KEY"), json={"value": "k"}, token=admin)
    assert r.status_code == 200 and r.json()["updated_by"], r.text


# --- creation, slugs, references -------------------------------------------------------------

def test_create_with_environments_and_slugs(srv, w):
    p = create_project(srv, w.boss, w.org, name="Shop Front", slug="shop-" + uuid.uuid4().hex[:6],
                       description="The shop", environments=["QA", "Pre Prod", "live"])
    assert p["description"] == "The shop" and p["name"] == "Shop Front", p
    envs = srv.get(epath(w.org, p["slug"]), token=w.boss.token).json()["data"]
    assert [e["name"] for e in envs] == ["QA", "Pre Prod", "live"], envs
    slugs = [e["slug"] for e in envs]
    assert slugs[1:] == ["pre-prod", "live"] and slugs[0].startswith("qa-"), slugs
    assert all(e["role"] == "administrator" for e in envs), envs
    assert_problem(srv.post(ppath(w.org), json={"name": "Again", "slug": p["slug"]},
                            token=w.boss.token), 409, "slug_taken")
    # a derived slug that is taken gets a suffix
    q = create_project(srv, w.boss, w.org, name="Shop Front")
    q2 = create_project(srv, w.boss, w.org, name="Shop Front")
    assert q["slug"] == "shop-front" or q["slug"].startswith("shop-front-"), q
    assert q2["slug"] != q["slug"] and q2["slug"].startswith("shop-front"), (q, q2)
    # defaults
    d = envs_of(srv, w.boss, w.org, q["id"])
    assert list(d) == ["development", "staging", "production"], d
    # by slug or id, project and environment alike
    for pref in (p["id"], p["slug"]):
        for eref in (envs[2]["id"], "live"):
            r = srv.get(epath(w.org, pref, eref), token=w.boss.token)
            assert r.status_code == 200 and r.json()["id"] == envs[2]["id"], r.text
    # environment slugs are per project
    r = srv.post(epath(w.org, p["id"]), json={"name": "Live again", "slug": "live"},
                 token=w.boss.token)
    assert_problem(r, 409, "slug_taken")
    r = srv.post(epath(w.org, q["id"]), json={"name": "live", "slug": "live"}, token=w.boss.token)
    assert r.status_code == 201, r.text
    # renames
    r = srv.patch(ppath(w.org, p["id"]), json={"slug": q["slug"]}, token=w.boss.token)
    assert_problem(r, 409, "slug_taken")
    r = srv.patch(ppath(w.org, p["id"]), json={"name": "Renamed", "slug": p["slug"]},
                  token=w.boss.token)
    assert r.status_code == 200 and r.json()["name"] == "Renamed", r.text
    r = srv.patch(epath(w.org, p["id"], "live"), json={"slug": "pre-prod"}, token=w.boss.token)
    assert_problem(r, 409, "slug_taken")
    r = srv.patch(epath(w.org, p["id"], "live"), json={"name": "Live", "slug": "prod"},
                  token=w.boss.token)
    assert r.status_code == 200 and r.json()["slug"] == "prod", r.text


@pytest.mark.parametrize("body", [
    {}, {"name": ""}, {"name": "x" * 201}, {"name": 5}, {"name": "ok", "slug": "A B"},
    {"name": "ok", "slug": "ab"}, {"name": "ok", "slug": str(uuid.uuid4())},
    {"name": "ok", "environments": "dev"}, {"name": "ok", "environments": [""]},
    {"name": "ok", "environments": [1]}, {"name": "ok", "environments": ["Dev", "dev"]},
    {"name": "ok", "environments": ["e%d" % i for i in range(21)]},
    {"name": "ok", "description": "x" * 2001},
])
def test_create_validation(srv, w, body):
    assert_problem(srv.post(ppath(w.org), json=body, token=w.boss.token), 422, "validation_failed")


def test_unknown_references_are_404(srv, w):
    for path in (ppath(w.org, str(uuid.uuid4())), ppath(w.org, "no-such-project"),
                 ppath(w.org, "x" * 300), epath(w.org, w.pid, str(uuid.uuid4())),
                 epath(w.org, w.pid, "nope"), epath(w.org, w.other["id"], w.eid),
                 spath(w.org, w.pid, w.eid, "NOPE"), spath(w.org, w.pid, w.eid, "bad-key")):
        assert_problem(srv.get(path, token=w.boss.token), 404, "not_found")


# --- events ----------------------------------------------------------------------------------

def test_events_carry_project_and_environment(srv, w):
    events = []
    for action in ("project.created", "project.updated", "project.member_added",
                   "project.member_removed", "environment.created", "environment.updated",
                   "environment.deleted", "environment.member_added",
                   "environment.member_removed", "secret.created", "secret.updated",
                   "secret.deleted", "secret.read", "secret.exported", "secret.imported"):
        r = srv.get("/v1/orgs/%s/audit-events" % w.org, token=w.boss.token,
                    params={"limit": 20, "action": action})
        assert r.status_code == 200, r.text
        assert r.json()["data"], action
        events += r.json()["data"]
    for e in events:
        a = e["action"]
        if a.startswith(("project.", "environment.", "secret.")):
            assert e["data"]["project_id"], e
        if a.startswith(("environment.", "secret.")):
            assert e["data"]["environment_id"], e
        if a.startswith("secret.") and a not in ("secret.exported", "secret.imported"):
            assert e["data"]["key"] and "value" not in e["data"], e
        assert SHARED_VALUE not in str(e["data"]), e


# --- storage: cascades and row-level security ----------------------------------------------

PROJECT_TABLES = ("projects", "project_members", "environments", "environment_members",
                  "secrets", "secret_versions", "data_keys")


def test_deleting_the_org_deletes_its_projects(srv, smtp_sink):  # noqa: F811
    owner = new_user(srv, "cascade")
    org = create_org(srv, owner, name="Cascade")["id"]
    p = create_project(srv, owner, org)
    put_secret_ok(srv, owner, org, p["id"], "production", "GONE", "soon")
    counts = {t: int(sql_rows(srv, "SELECT count(*) FROM %s WHERE org_id = '%s'" % (t, org),
                              org)[0][0]) for t in PROJECT_TABLES}
    assert all(counts[t] > 0 for t in ("projects", "environments", "secrets", "data_keys")), counts
    assert srv.delete("/v1/orgs/" + org, token=owner.token).status_code == 204
    for t in PROJECT_TABLES:
        n = int(sql_rows(srv, "SELECT count(*) FROM %s WHERE org_id = '%s'" % (t, org), org)[0][0])
        assert n == 0, t


def test_rls_hides_project_rows(srv, w, engine):
    if engine != "postgres":
        pytest.skip("row-level security is PostgreSQL only")
    for t in PROJECT_TABLES:
        where = "org_id IS NOT NULL" if t == "data_keys" else "TRUE"
        assert sql_rows(srv, "SELECT count(*) FROM %s WHERE %s" % (t, where)) == [["0"]], t
        # (the instance's data key, org_id NULL, is no organization's row)
        n = int(sql_rows(srv, "SELECT count(*) FROM %s WHERE %s" % (t, where), w.org)[0][0])
        assert n > 0, t
        total = int(sql_rows(srv, "SELECT count(*) FROM %s WHERE org_id = '%s'" % (t, w.org),
                             w.org)[0][0])
        assert total == n, t


# --- the contract ------------------------------------------------------------------------------

def test_responses_match_the_openapi_schemas(srv, w):
    import jsonschema
    import yaml
    spec = yaml.safe_load(srv.get("/v1/openapi.yaml").text)
    resolver = jsonschema.RefResolver.from_schema(spec)

    def check(r, path, method, status="200", ctype="application/json"):
        assert r.status_code == int(status), (path, r.status_code, r.text)
        op = spec["paths"][path][method]
        schema = op["responses"][status]["content"][ctype]["schema"]
        jsonschema.Draft202012Validator(schema, resolver=resolver).validate(r.json())

    o, p, e = w.org, w.pid, w.eid
    P = "/v1/orgs/{org}/projects"
    E = P + "/{project}/environments/{env}"
    check(srv.get(ppath(o), token=w.boss.token), P, "get")
    check(srv.get(ppath(o, p), token=w.boss.token), P + "/{project}", "get")
    check(srv.get(ppath(o, p, "/members"), token=w.boss.token), P + "/{project}/members", "get")
    check(srv.get(epath(o, p), token=w.boss.token), P + "/{project}/environments", "get")
    check(srv.get(epath(o, p, e), token=w.boss.token), E, "get")
    check(srv.get(epath(o, p, e, "/members"), token=w.boss.token), E + "/members", "get")
    check(srv.get(spath(o, p, e), token=w.boss.token), E + "/secrets", "get")
    check(srv.get(spath(o, p, e, "SHARED"), token=w.boss.token), E + "/secrets/{key}", "get")
    check(srv.put(spath(o, p, e, "CONTRACT"), json={"value": "c"}, token=w.boss.token),
          E + "/secrets/{key}", "put")
    check(srv.get(spath(o, p, e, rest="/export"), token=w.boss.token, params={"format": "json"}),
          E + "/secrets/export", "get")
    check(srv.post(spath(o, p, e, rest="/import"), json={"secrets": {"CONTRACT": "d"}},
                   token=w.boss.token), E + "/secrets/import", "post")
    check(srv.post(ppath(o, p, "/invitations"), json={"email": unique_email("c"),
                                                      "role": "member"}, token=w.boss.token),
          P + "/{project}/invitations", "post", "201")
    check(srv.post(ppath(o), json={"name": "Contract"}, token=w.boss.token), P, "post", "201")
    check(srv.get("/v1/orgs/%s/roles" % o, token=w.boss.token), "/v1/orgs/{org}/roles", "get")
