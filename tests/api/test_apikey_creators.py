"""API keys act for their creator (issue 11): while the creator's account is
disabled their keys answer 401; when the creator leaves the organization or
is removed from it, their keys are revoked, each revocation audited
(apikey.revoked with the reason)."""

import uuid

import pytest

from plinth import assert_problem
from accounts_util import PASSWORD, admin_create, login_ok, unique_email
from orgs_util import add_member, create_org, new_user
from smtp_sink import mail_server, smtp_sink  # noqa: F401


@pytest.fixture(scope="module")
def srv(make_module_server, smtp_sink):  # noqa: F811
    return mail_server(make_module_server, smtp_sink, workers=2)


@pytest.fixture(scope="module")
def admin_token(srv):
    email = unique_email("admin")
    p = admin_create(srv, email, PASSWORD)
    assert p.returncode == 0, (p.stdout, p.stderr)
    return login_ok(srv, email)["access_token"]


@pytest.fixture(scope="module")
def owner(srv):
    return new_user(srv, "owner")


def new_org(srv, owner):
    return create_org(srv, owner, name="Keys " + uuid.uuid4().hex[:6])["id"]


def key_of(srv, user, org):
    r = srv.post("/v1/orgs/%s/api-keys" % org, json={"name": "ci",
                                                    "permissions": ["org.read"]},
                 token=user.token)
    assert r.status_code == 201, r.text
    return r.json()["key"]


def works(srv, key, org):
    return srv.get("/v1/orgs/%s" % org, token=key)


def revocations(srv, owner, org):
    r = srv.get("/v1/orgs/%s/audit-events" % org, token=owner.token,
                params={"limit": 100})
    assert r.status_code == 200, r.text
    return [e for e in r.json()["data"] if e["action"] == "apikey.revoked"]


def test_disabled_creators_keys_answer_401_until_enabled(srv, smtp_sink, owner,  # noqa: F811
                                                         admin_token):
    org = new_org(srv, owner)
    admin = add_member(srv, smtp_sink, owner, org, role="admin", prefix="keymaker")
    key = key_of(srv, admin, org)
    assert works(srv, key, org).status_code == 200
    r = srv.post("/v1/admin/users/%s/disable" % admin.id, token=admin_token)
    assert r.status_code == 200, r.text
    assert_problem(works(srv, key, org), 401, "invalid_token")
    r = srv.post("/v1/admin/users/%s/enable" % admin.id, token=admin_token)
    assert r.status_code == 200, r.text
    assert works(srv, key, org).status_code == 200


@pytest.mark.parametrize("how", ["leaves", "is_removed"])
def test_leaving_or_removal_revokes_the_creators_keys(srv, smtp_sink, owner, how):  # noqa: F811
    org = new_org(srv, owner)
    admin = add_member(srv, smtp_sink, owner, org, role="admin", prefix="keymaker")
    keys = [key_of(srv, admin, org) for _ in range(2)]
    kept = key_of(srv, owner, org)
    by = admin if how == "leaves" else owner
    r = srv.delete("/v1/orgs/%s/members/%s" % (org, admin.id), token=by.token)
    assert r.status_code in (200, 204), r.text
    for key in keys:
        assert_problem(works(srv, key, org), 401, "invalid_token")
    assert works(srv, kept, org).status_code == 200
    events = revocations(srv, owner, org)
    assert len(events) == 2, events
    reason = "creator_left" if how == "leaves" else "creator_removed"
    for e in events:
        assert e["data"]["reason"] == reason and e["data"]["created_by"] == admin.id, e
    r = srv.get("/v1/orgs/%s/api-keys" % org, token=owner.token)
    assert len(r.json()["data"]) == 1, r.text
