"""Instance admins read any organization for the dashboard's org page
(openapi.yaml, tag admin): GET /v1/admin/orgs/{org}, its members, roles, plan,
usage, webhook endpoints and deliveries, member or not, with the same shapes
as the organization's own routes; nobody else may."""

import pytest

from plinth import assert_problem
from accounts_util import FAST_ARGON2, admin_create, login_ok, register, unique_email


@pytest.fixture(scope="module")
def srv(make_module_server):
    return make_module_server(args=FAST_ARGON2, env={"PLINTH_ALLOW_PRIVATE_TARGETS": "1"})


@pytest.fixture(scope="module")
def admin(srv):
    email = unique_email("admin")
    admin_create(srv, email)
    return login_ok(srv, email)["access_token"]


@pytest.fixture(scope="module")
def owner(srv):
    """A user (not an admin) with an organization the admin is not in: a
    second member, a webhook endpoint and one delivery of its test event."""
    token = register(srv, name="Org Owner")["access_token"]
    org = srv.post("/v1/orgs", json={"name": "Far Away"}, token=token).json()
    r = srv.post("/v1/orgs/%s/invitations" % org["id"],
                 json={"email": unique_email("invitee"), "role": "viewer"}, token=token)
    assert r.status_code == 201, r.text
    r = srv.post("/v1/orgs/%s/webhooks" % org["id"], token=token,
                 json={"url": "http://127.0.0.1:9/hook", "events": ["member.*"]})
    assert r.status_code == 201, r.text
    hook = r.json()
    r = srv.post("/v1/orgs/%s/webhooks/%s/test" % (org["id"], hook["id"]), token=token)
    assert r.status_code in (200, 201, 202), r.text
    return token, org, hook


SAME = ["", "/members", "/roles", "/billing", "/usage", "/webhooks"]


def test_admin_reads_an_org_it_is_not_in(srv, admin, owner):
    token, org, hook = owner
    for ref in (org["id"], org["slug"]):
        for tail in SAME:
            mine = srv.get("/v1/orgs/%s%s" % (org["id"], tail), token=token)
            theirs = srv.get("/v1/admin/orgs/%s%s" % (ref, tail), token=admin)
            assert mine.status_code == 200 and theirs.status_code == 200, (tail, theirs.text)
            a, b = mine.json(), theirs.json()
            if tail == "":
                assert a.pop("role") == "owner" and b.pop("role") is None
            assert a == b, tail
    # the admin is still not a member: the org's own routes stay 404
    assert_problem(srv.get("/v1/orgs/%s/members" % org["id"], token=admin), 404, "not_found")
    hooks = srv.get("/v1/admin/orgs/%s/webhooks" % org["id"], token=admin).json()["data"]
    assert [h["id"] for h in hooks] == [hook["id"]]
    assert all("secret" not in h for h in hooks)
    base = "/v1/admin/orgs/%s/webhooks/%s" % (org["id"], hook["id"])
    assert srv.get(base, token=admin).json()["id"] == hook["id"]
    deliveries = srv.get(base + "/deliveries", token=admin).json()["data"]
    mine = srv.get("/v1/orgs/%s/webhooks/%s/deliveries" % (org["id"], hook["id"]),
                   token=token).json()["data"]
    assert [d["id"] for d in deliveries] == [d["id"] for d in mine] and deliveries
    one = srv.get(base + "/deliveries/%s" % deliveries[0]["id"], token=admin)
    assert one.status_code == 200 and one.json()["id"] == deliveries[0]["id"], one.text


def test_members_and_strangers_are_refused(srv, owner):
    token, org, hook = owner
    stranger = register(srv, name="Stranger")["access_token"]
    for who in (token, stranger):
        for tail in SAME + ["/webhooks/%s" % hook["id"], "/webhooks/%s/deliveries" % hook["id"]]:
            assert_problem(srv.get("/v1/admin/orgs/%s%s" % (org["id"], tail), token=who), 403,
                           "forbidden")
    for tail in SAME:
        assert_problem(srv.get("/v1/admin/orgs/%s%s" % (org["id"], tail)), 401,
                       "unauthenticated")


def test_unknown_org_and_objects(srv, admin, owner):
    token, org, hook = owner
    for tail in SAME:
        assert_problem(srv.get("/v1/admin/orgs/no-such-org%s" % tail, token=admin), 404,
                       "not_found")
    # another org's endpoint through this org's path is not found
    other = srv.post("/v1/orgs", json={"name": "Elsewhere"}, token=token).json()
    assert_problem(srv.get("/v1/admin/orgs/%s/webhooks/%s" % (other["id"], hook["id"]),
                           token=admin), 404, "not_found")
    assert_problem(srv.get("/v1/admin/orgs/%s/webhooks/%s/deliveries" % (other["id"], hook["id"]),
                           token=admin), 404, "not_found")


def test_admin_reads_any_orgs_projects_and_records(srv, admin, owner):
    token, org, _ = owner
    r = srv.put("/v1/admin/collections/notes", token=admin, json={
        "name": "notes", "scope": "org",
        "schema": {"type": "object", "properties": {"text": {"type": "string"}}}})
    assert r.status_code in (200, 201), r.text
    r = srv.put("/v1/admin/collections/pnotes", token=admin, json={
        "name": "pnotes", "scope": "project",
        "schema": {"type": "object", "properties": {"text": {"type": "string"}}}})
    assert r.status_code in (200, 201), r.text
    proj = srv.post("/v1/orgs/%s/projects" % org["id"], token=token, json={"name": "Moon"})
    assert proj.status_code == 201, proj.text
    proj = proj.json()
    base = "/v1/orgs/%s/collections/notes/records" % org["id"]
    pbase = "/v1/orgs/%s/projects/%s/collections/pnotes/records" % (org["id"], proj["id"])
    for b in (base, pbase):
        for text in ("one", "two"):
            assert srv.post(b, token=token, json={"text": text}).status_code == 201
    for path in ("/projects", "/collections/notes/records",
                 "/projects/%s/collections/pnotes/records" % proj["id"]):
        mine = srv.get("/v1/orgs/%s%s" % (org["id"], path), token=token)
        theirs = srv.get("/v1/admin/orgs/%s%s" % (org["slug"], path), token=admin)
        assert theirs.status_code == 200, theirs.text
        assert [x["id"] for x in theirs.json()["data"]] == [x["id"] for x in mine.json()["data"]]
        assert theirs.json()["data"], path
    # filters work the same way
    r = srv.get("/v1/admin/orgs/%s/collections/notes/records" % org["id"], token=admin,
                params={"sort": "-created_at", "limit": 1})
    assert r.status_code == 200 and len(r.json()["data"]) == 1, r.text
    stranger = register(srv, name="Nosy")["access_token"]
    for path in ("/projects", "/collections/notes/records"):
        assert_problem(srv.get("/v1/admin/orgs/%s%s" % (org["id"], path), token=stranger), 403,
                       "forbidden")
