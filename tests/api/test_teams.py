"""Black-box tests of teams (issue 5): CRUD, name validation, team members who
must be org members, member_count, and leaving the org leaving its teams."""

import uuid

import pytest

from plinth import assert_problem
from accounts_util import TIME_RE
from orgs_util import TEAM_KEYS, add_member, create_org, list_all, new_user
from smtp_sink import mail_server, smtp_sink  # noqa: F401


@pytest.fixture(scope="module")
def srv(make_module_server, smtp_sink):  # noqa: F811
    return mail_server(make_module_server, smtp_sink, workers=2)


class World:
    pass


@pytest.fixture(scope="module")
def w(srv, smtp_sink):  # noqa: F811
    x = World()
    x.owner = new_user(srv, "team-owner")
    x.org = create_org(srv, x.owner, name="Teams")["id"]
    x.admin = add_member(srv, smtp_sink, x.owner, x.org, role="admin", prefix="team-admin")
    x.member = add_member(srv, smtp_sink, x.owner, x.org, role="member", prefix="team-member")
    x.viewer = add_member(srv, smtp_sink, x.owner, x.org, role="viewer", prefix="team-viewer")
    return x


def tpath(w, team_id="", rest=""):
    p = "/v1/orgs/%s/teams" % w.org
    if team_id:
        p += "/" + team_id
    return p + rest


def create_team(srv, w, name="Team", actor=None):
    r = srv.post(tpath(w), json={"name": name}, token=(actor or w.owner).token)
    assert r.status_code == 201, r.text
    t = r.json()
    assert set(t) >= TEAM_KEYS, t
    assert t["name"] == name and t["member_count"] == 0, t
    assert isinstance(t["id"], str) and t["id"] and TIME_RE.match(t["created_at"]), t
    return t


def get_team(srv, w, team_id, actor=None):
    r = srv.get(tpath(w, team_id), token=(actor or w.owner).token)
    assert r.status_code == 200, r.text
    return r.json()


def put_member(srv, w, team_id, user_id, actor=None):
    return srv.put(tpath(w, team_id, "/members/" + user_id), token=(actor or w.owner).token)


def del_member(srv, w, team_id, user_id, actor=None):
    return srv.delete(tpath(w, team_id, "/members/" + user_id), token=(actor or w.owner).token)


def test_team_crud(srv, w):
    t = create_team(srv, w, name="Platform")
    assert get_team(srv, w, t["id"]) == t
    listed = {x["id"]: x for x in list_all(srv, w.owner.token, tpath(w))}
    assert listed[t["id"]] == t
    r = srv.patch(tpath(w, t["id"]), json={"name": "Platform & Infra"}, token=w.owner.token)
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "Platform & Infra" and r.json()["id"] == t["id"], r.json()
    assert get_team(srv, w, t["id"])["name"] == "Platform & Infra"
    r = srv.delete(tpath(w, t["id"]), token=w.owner.token)
    assert r.status_code == 204, r.text
    assert r.content == b""
    assert_problem(srv.get(tpath(w, t["id"]), token=w.owner.token), 404, "not_found")
    assert_problem(srv.patch(tpath(w, t["id"]), json={"name": "x"}, token=w.owner.token), 404,
                   "not_found")
    assert_problem(srv.delete(tpath(w, t["id"]), token=w.owner.token), 404, "not_found")
    assert t["id"] not in {x["id"] for x in list_all(srv, w.owner.token, tpath(w))}


def test_team_list_pagination(srv, w):
    org = create_org(srv, w.owner)["id"]
    ids = set()
    for i in range(5):
        r = srv.post("/v1/orgs/%s/teams" % org, json={"name": "T%d" % i}, token=w.owner.token)
        assert r.status_code == 201, r.text
        ids.add(r.json()["id"])
    got = list_all(srv, w.owner.token, "/v1/orgs/%s/teams" % org, limit=2)
    assert len(got) == 5 and {x["id"] for x in got} == ids, got


@pytest.mark.parametrize("name", ["", None, 5, "x" * 201, "é" * 101, ["t"]])
def test_team_name_validation(srv, w, name):
    body = {} if name is None else {"name": name}
    assert_problem(srv.post(tpath(w), json=body, token=w.owner.token), 422, "validation_failed")
    t = create_team(srv, w, name="Valid")
    if name is not None:
        assert_problem(srv.patch(tpath(w, t["id"]), json=body, token=w.owner.token), 422,
                       "validation_failed")
    assert get_team(srv, w, t["id"])["name"] == "Valid"


def test_team_name_limits(srv, w):
    create_team(srv, w, name="x" * 200)
    create_team(srv, w, name="é" * 100)
    create_team(srv, w, name="t")


def test_unknown_team(srv, w):
    for tid in (str(uuid.uuid4()), "nope"):
        assert_problem(srv.get(tpath(w, tid), token=w.owner.token), 404, "not_found")
        assert_problem(put_member(srv, w, tid, w.member.id), 404, "not_found")


def test_team_members(srv, w):
    t = create_team(srv, w, name="Members")
    for u in (w.member, w.viewer):
        r = put_member(srv, w, t["id"], u.id)
        assert r.status_code == 204, r.text
        assert r.content == b""
    assert get_team(srv, w, t["id"])["member_count"] == 2
    # Idempotent.
    assert put_member(srv, w, t["id"], w.member.id).status_code == 204
    assert get_team(srv, w, t["id"])["member_count"] == 2
    listed = {x["id"]: x for x in list_all(srv, w.owner.token, tpath(w))}
    assert listed[t["id"]]["member_count"] == 2
    r = del_member(srv, w, t["id"], w.viewer.id)
    assert r.status_code == 204, r.text
    assert get_team(srv, w, t["id"])["member_count"] == 1


def test_team_member_must_be_org_member(srv, w):
    t = create_team(srv, w, name="Closed")
    stranger = new_user(srv, "stranger")
    for uid in (stranger.id, str(uuid.uuid4()), "nobody"):
        assert_problem(put_member(srv, w, t["id"], uid), 422, "validation_failed")
    assert get_team(srv, w, t["id"])["member_count"] == 0


def test_leaving_the_org_leaves_its_teams(srv, smtp_sink, w):  # noqa: F811
    a = add_member(srv, smtp_sink, w.owner, w.org, role="member", prefix="leaver")
    b = add_member(srv, smtp_sink, w.owner, w.org, role="member", prefix="removed")
    t1 = create_team(srv, w, name="One")
    t2 = create_team(srv, w, name="Two")
    for t in (t1, t2):
        for u in (a, b, w.member):
            assert put_member(srv, w, t["id"], u.id).status_code == 204
        assert get_team(srv, w, t["id"])["member_count"] == 3
    # a leaves; b is removed.
    assert srv.delete("/v1/orgs/%s/members/%s" % (w.org, a.id), token=a.token).status_code == 204
    assert get_team(srv, w, t1["id"])["member_count"] == 2
    r = srv.delete("/v1/orgs/%s/members/%s" % (w.org, b.id), token=w.owner.token)
    assert r.status_code == 204, r.text
    for t in (t1, t2):
        assert get_team(srv, w, t["id"])["member_count"] == 1
    # Gone from the org: cannot be put back into a team.
    assert_problem(put_member(srv, w, t1["id"], a.id), 422, "validation_failed")


def test_team_permissions(srv, w):
    t = create_team(srv, w, name="Perms")
    # member: team.read only.
    assert get_team(srv, w, t["id"], actor=w.member)["id"] == t["id"]
    assert srv.get(tpath(w), token=w.member.token).status_code == 200
    for r in (srv.post(tpath(w), json={"name": "x"}, token=w.member.token),
              srv.patch(tpath(w, t["id"]), json={"name": "x"}, token=w.member.token),
              srv.delete(tpath(w, t["id"]), token=w.member.token),
              put_member(srv, w, t["id"], w.member.id, actor=w.member),
              del_member(srv, w, t["id"], w.member.id, actor=w.member)):
        assert_problem(r, 403, "forbidden")
    # viewer: not even team.read.
    assert_problem(srv.get(tpath(w), token=w.viewer.token), 403, "forbidden")
    assert_problem(srv.get(tpath(w, t["id"]), token=w.viewer.token), 403, "forbidden")
    # admin: team.manage.
    a = create_team(srv, w, name="By admin", actor=w.admin)
    assert put_member(srv, w, a["id"], w.viewer.id, actor=w.admin).status_code == 204
    r = srv.delete(tpath(w, a["id"]), token=w.admin.token)
    assert r.status_code == 204, r.text
    assert get_team(srv, w, t["id"])["name"] == "Perms"
