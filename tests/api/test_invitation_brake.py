"""The brake on invitation emails (issue 11): an invite/revoke loop sent
20 emails to one outside address in seconds. Now an organization sends at
most --invite-recipient-limit invitations to one address per hour (revoked
ones count) and at most --invite-limit in all, counted in the database;
beyond, 429 rate_limited with Retry-After and no email."""

import pytest

from plinth import assert_problem
from accounts_util import unique_email
from orgs_util import create_org, new_user
from smtp_sink import mail_server, smtp_sink  # noqa: F401

PER_RECIPIENT = 2
PER_ORG = 4


@pytest.fixture(scope="module")
def srv(make_module_server, smtp_sink):  # noqa: F811
    return mail_server(make_module_server, smtp_sink, workers=1, env={
        "PLINTH_INVITE_LIMIT": str(PER_ORG),
        "PLINTH_INVITE_RECIPIENT_LIMIT": str(PER_RECIPIENT)})


def invite(srv, owner, org, email):
    return srv.post("/v1/orgs/%s/invitations" % org, json={"email": email, "role": "member"},
                    token=owner.token)


def revoke(srv, owner, org, inv_id):
    r = srv.delete("/v1/orgs/%s/invitations/%s" % (org, inv_id), token=owner.token)
    assert r.status_code in (200, 204), r.text


def assert_braked(r):
    assert_problem(r, 429, "rate_limited")
    assert int(r.headers["Retry-After"]) >= 1


def test_invite_revoke_loop_is_braked_per_recipient(srv, smtp_sink):  # noqa: F811
    owner = new_user(srv, "brake")
    org = create_org(srv, owner)["id"]
    victim = unique_email("victim")
    for _ in range(PER_RECIPIENT):
        r = invite(srv, owner, org, victim)
        assert r.status_code == 201, r.text
        revoke(srv, owner, org, r.json()["id"])
    assert_braked(invite(srv, owner, org, victim))
    # another address is still welcome
    other = unique_email("other")
    assert invite(srv, owner, org, other).status_code == 201
    smtp_sink.wait_for_to(other, timeout=30)   # every email of the test is out
    sent = [m for m in smtp_sink.messages(to=victim)]
    assert len(sent) <= PER_RECIPIENT, len(sent)


def test_invitations_are_braked_per_organization(srv, smtp_sink):  # noqa: F811
    owner = new_user(srv, "brake-org")
    org = create_org(srv, owner)["id"]
    for _ in range(PER_ORG):
        assert invite(srv, owner, org, unique_email("many")).status_code == 201
    assert_braked(invite(srv, owner, org, unique_email("many")))
    # another organization has its own allowance
    org2 = create_org(srv, owner)["id"]
    last = unique_email("many")
    assert invite(srv, owner, org2, last).status_code == 201
    smtp_sink.wait_for_to(last, timeout=30)   # no email in flight at teardown
