"""Instance admins read any organization's audit chain and the instance chain
(API.md, Dashboards): GET /v1/admin/orgs/{org}/audit-events[/verify|/export] and
GET /v1/admin/audit-events[/verify|/export], the same shapes as the org routes."""

import json
import os
import sqlite3

import pytest

import plinth
from plinth import assert_problem
from accounts_util import FAST_ARGON2, admin_create, login_ok, register, unique_email


@pytest.fixture(scope="module")
def srv(make_module_server):
    return make_module_server(args=FAST_ARGON2)


@pytest.fixture(scope="module")
def admin(srv):
    email = unique_email("admin")
    admin_create(srv, email)
    return login_ok(srv, email)["access_token"]


@pytest.fixture(scope="module")
def owner(srv):
    """A user (not an admin) with an organization the admin is not in."""
    u = register(srv, name="Org Owner")
    token = u["access_token"]
    org = srv.post("/v1/orgs", json={"name": "Outer Space"}, token=token).json()
    for name in ("One", "Two"):
        assert srv.post("/v1/orgs/%s/teams" % org["id"], json={"name": name},
                        token=token).status_code == 201
    return token, org


def test_org_chain_of_a_non_member(srv, admin, owner):
    token, org = owner
    mine = srv.get("/v1/orgs/%s/audit-events" % org["id"], token=token).json()
    for ref in (org["id"], org["slug"]):
        r = srv.get("/v1/admin/orgs/%s/audit-events" % ref, token=admin)
        assert r.status_code == 200, r.text
        assert r.json() == mine
    r = srv.get("/v1/admin/orgs/%s/audit-events" % org["id"], token=admin,
                params={"action": "team.created", "limit": 1})
    page = r.json()
    assert [e["action"] for e in page["data"]] == ["team.created"]
    assert page["next_cursor"]
    v = srv.get("/v1/admin/orgs/%s/audit-events/verify" % org["slug"], token=admin).json()
    assert v == srv.get("/v1/orgs/%s/audit-events/verify" % org["id"], token=token).json()
    assert v["valid"] is True and v["events"] == 3
    x = srv.get("/v1/admin/orgs/%s/audit-events/export" % org["id"], token=admin)
    assert x.status_code == 200
    assert x.headers["Content-Type"] == "application/x-ndjson"
    assert [json.loads(line)["seq"] for line in x.text.splitlines()] == [1, 2, 3]


def test_instance_chain(srv, admin):
    u = register(srv)
    login_ok(srv, u["user"]["email"])
    r = srv.get("/v1/admin/audit-events", token=admin, params={"action": "user.logged_in"})
    assert r.status_code == 200, r.text
    events = r.json()["data"]
    assert events and all(e["action"] == "user.logged_in" and e["org_id"] is None for e in events)
    assert u["user"]["id"] in {e["actor"]["id"] for e in events}
    v = srv.get("/v1/admin/audit-events/verify", token=admin).json()
    assert v["valid"] is True and v["events"] >= len(events)
    x = srv.get("/v1/admin/audit-events/export", token=admin, params={"format": "csv"})
    assert x.status_code == 200
    assert x.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert x.text.startswith("id,seq,org_id,action")


def test_only_instance_admins(srv, owner):
    token, org = owner
    for path in ["/v1/admin/orgs/%s/audit-events" % org["id"],
                 "/v1/admin/orgs/%s/audit-events/verify" % org["id"],
                 "/v1/admin/orgs/%s/audit-events/export" % org["id"],
                 "/v1/admin/audit-events", "/v1/admin/audit-events/verify",
                 "/v1/admin/audit-events/export"]:
        assert_problem(srv.get(path, token=token), 403, "forbidden")
        assert_problem(srv.get(path), 401, "unauthenticated")


def test_unknown_org_and_bad_input(srv, admin):
    assert_problem(srv.get("/v1/admin/orgs/no-such-org/audit-events/verify", token=admin),
                   404, "not_found")
    assert_problem(srv.get("/v1/admin/audit-events", token=admin, params={"cursor": "x"}),
                   400, "bad_request")
    assert_problem(srv.get("/v1/admin/audit-events", token=admin, params={"since": "yesterday"}),
                   400, "bad_request")
    assert_problem(srv.get("/v1/admin/audit-events/export", token=admin,
                           params={"format": "xml"}), 400, "bad_request")


def test_tampering_shows_in_the_admin_verify(srv, admin):
    u = register(srv)
    org = srv.post("/v1/orgs", json={"name": "Tampered"}, token=u["access_token"]).json()
    srv.post("/v1/orgs/%s/teams" % org["id"], json={"name": "T"}, token=u["access_token"])
    sql = "UPDATE audit_events SET data = '{\"name\":\"forged\"}' WHERE chain = '%s' AND seq = 2" \
        % org["id"]
    if srv.pg_url:
        plinth.psql("BEGIN; SELECT set_config('app.org_id', '%s', true); %s; COMMIT;"
                    % (org["id"], sql), url=srv.pg_url)
    else:
        con = sqlite3.connect(os.path.join(srv.data_dir, "plinth.db"), timeout=10)
        con.execute(sql)
        con.commit()
        con.close()
    v = srv.get("/v1/admin/orgs/%s/audit-events/verify" % org["id"], token=admin).json()
    assert v == {"valid": False, "first_invalid_seq": 2}
