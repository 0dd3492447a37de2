"""Black-box tests of the caller's own data (API.md "Account data and
operations"): GET /v1/me/export returns everything the account holds, and
DELETE /v1/me, confirmed by the password (and a code with two-factor on),
refuses while the caller is an organization's only owner with other members,
else ends every session, leaves or deletes the caller's organizations and
erases name and email from every table but the audit log, whose chains still
verify afterwards.
"""

import os
import re
import sqlite3
import subprocess
import time
import urllib.parse
import uuid

import pytest

import plinth
from plinth import assert_problem
from accounts_util import FAST_ARGON2, PASSWORD, TIME_RE, login, register, unique_email
from orgs_util import User, add_member, create_org, members, new_user
from smtp_sink import mail_env, smtp_sink  # noqa: F401

OATHTOOL = "/usr/bin/oathtool"
EXPORT_KEYS = {"exported_at", "profile", "sessions", "memberships", "identities", "passkeys",
               "notifications", "security_events"}


@pytest.fixture(scope="module")
def srv(make_module_server, smtp_sink):  # noqa: F811
    return make_module_server(args=FAST_ARGON2, workers=2, env=mail_env(smtp_sink))


def named_user(srv):
    """A new account with a name nothing else in the database contains."""
    name = "Erasable Person %s" % uuid.uuid4().hex[:10]
    email = unique_email("erase")
    return User(register(srv, email, name=name), email), name


def delete_me(srv, user, password=PASSWORD, **extra):
    body = {"password": password} if password is not None else {}
    body.update(extra)
    return srv.delete("/v1/me", json=body, token=user.token)


def cli_verify(server):
    env = {"PLINTH_DATABASE_URL": server.pg_url} if server.pg_url else {}
    return plinth.run_cli(["audit", "verify", "--data", server.data_dir], env=env, timeout=60)


def superuser_url(server):
    """The server's PostgreSQL database as the admin role, which row-level
    security does not restrict: the erasure check must see every row."""
    user = urllib.parse.urlsplit(plinth.admin_url()).username
    return plinth.db_url(server.pg_db, user=user)


def tables_mentioning(server, needle):
    """Names of the tables with a row whose text contains needle."""
    found = set()
    if server.pg_url:
        url = superuser_url(server)
        names = plinth.psql("SELECT tablename FROM pg_tables WHERE schemaname = 'public'",
                            url=url).split()
        lit = needle.replace("'", "''")
        for t in names:
            n = plinth.psql("SELECT count(*) FROM \"%s\" t WHERE strpos(t::text, '%s') > 0"
                            % (t, lit), url=url).strip()
            if int(n):
                found.add(t)
        return found
    con = sqlite3.connect(os.path.join(server.data_dir, "plinth.db"), timeout=10)
    try:
        names = [r[0] for r in con.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")]
        for t in names:
            for row in con.execute('SELECT * FROM "%s"' % t):
                if any(isinstance(v, str) and needle in v for v in row):
                    found.add(t)
                    break
    finally:
        con.close()
    return found


# --- export -------------------------------------------------------------------------------

def test_export_holds_the_account(srv):
    u, name = named_user(srv)
    org = create_org(srv, u)
    r = srv.get("/v1/me/export", token=u.token)
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) >= EXPORT_KEYS, body
    assert TIME_RE.match(body["exported_at"]), body
    p = body["profile"]
    assert p["id"] == u.id and p["email"] == u.email and p["name"] == name, p
    assert p["locale"] is None, p
    assert [s for s in body["sessions"] if s["current"]], body["sessions"]
    roles = {m["organization"]["id"]: m["role"] for m in body["memberships"]}
    assert roles == {u.personal_org: "owner", org["id"]: "owner"}, body["memberships"]
    assert body["identities"] == [] and body["passkeys"] == [], body
    assert isinstance(body["notifications"], list), body
    actions = [e["action"] for e in body["security_events"]]
    # newest first: the export's own event leads
    assert actions[0] == "user.data_exported", actions
    assert "user.registered" in actions, actions
    for e in body["security_events"]:
        assert u.id in (e["actor"]["id"], e["target"]["id"]), e


def test_export_needs_a_user(srv):
    assert_problem(srv.get("/v1/me/export"), 401, "unauthenticated")


def test_export_shows_only_the_callers_data(srv):
    a, _ = named_user(srv)
    b, _ = named_user(srv)
    body = srv.get("/v1/me/export", token=a.token).json()
    text = str(body)
    assert b.id not in text and b.email not in text


# --- deletion: confirmation and the last-owner rule -----------------------------------------

@pytest.mark.parametrize("password, field, code", [
    ("not the password at all", "password", "incorrect"),
    (None, "password", None),
])
def test_delete_needs_the_password(srv, password, field, code):
    u, _ = named_user(srv)
    r = delete_me(srv, u, password=password)
    assert_problem(r, 422, "validation_failed")
    errs = {e["field"]: e["code"] for e in r.json()["errors"]}
    assert field in errs, errs
    if code:
        assert errs[field] == code, errs
    assert srv.get("/v1/me", token=u.token).status_code == 200


def test_delete_refused_for_the_last_owner(srv, smtp_sink):  # noqa: F811
    owner, _ = named_user(srv)
    org = create_org(srv, owner)
    member = add_member(srv, smtp_sink, owner, org["id"])
    assert_problem(delete_me(srv, owner), 409, "last_owner")
    # nothing changed: the owner still works, the org is intact
    assert srv.get("/v1/me", token=owner.token).status_code == 200
    assert set(members(srv, owner.token, org["id"])) == {owner.id, member.id}
    # with a second owner the account can go; the org stays with its other member
    r = srv.patch("/v1/orgs/%s/members/%s" % (org["id"], member.id), json={"role": "owner"},
                  token=owner.token)
    assert r.status_code == 200, r.text
    r = delete_me(srv, owner)
    assert r.status_code == 204, r.text
    assert set(members(srv, member.token, org["id"])) == {member.id}
    # the org's chain shows the departure and still verifies
    r = srv.get("/v1/orgs/%s/audit-events/verify" % org["id"], token=member.token)
    assert r.status_code == 200 and r.json()["valid"] is True, r.text
    events = srv.get("/v1/orgs/%s/audit-events" % org["id"], token=member.token,
                     params={"action": "member.removed"}).json()["data"]
    assert [e["target"]["id"] for e in events] == [owner.id], events


def test_plain_member_can_delete(srv, smtp_sink):  # noqa: F811
    owner = new_user(srv, "owner")
    org = create_org(srv, owner)
    member = add_member(srv, smtp_sink, owner, org["id"])
    assert delete_me(srv, member).status_code == 204
    assert set(members(srv, owner.token, org["id"])) == {owner.id}


# --- deletion: what goes --------------------------------------------------------------------

def test_delete_erases_the_account(srv, smtp_sink):  # noqa: F811
    u, name = named_user(srv)
    alone = create_org(srv, u)
    # an organization that invited the address, and a failed sign-in with it
    other = new_user(srv, "inviter")
    other_org = create_org(srv, other)
    r = srv.post("/v1/orgs/%s/invitations" % other_org["id"],
                 json={"email": u.email, "role": "member"}, token=other.token)
    assert r.status_code == 201, r.text
    assert login(srv, u.email, "a wrong password entirely").status_code == 401
    assert tables_mentioning(srv, u.email) >= {"users", "invitations", "login_attempts"}

    r = delete_me(srv, u)
    assert r.status_code == 204, r.text
    assert r.content == b""

    # name and email remain only in the audit log (a mail job that was being
    # sent at the moment of the deletion drops its payload when it is done)
    deadline = time.monotonic() + 60
    while tables_mentioning(srv, u.email) - {"audit_events"} and time.monotonic() < deadline:
        time.sleep(0.2)
    assert tables_mentioning(srv, u.email) <= {"audit_events"}
    assert tables_mentioning(srv, name) <= {"audit_events"}
    # every session ended, the credentials are gone
    assert_problem(srv.get("/v1/me", token=u.token), 401, "session_revoked")
    assert_problem(login(srv, u.email), 401, "invalid_credentials")
    # the organizations nobody else belonged to are gone
    for oid in (u.personal_org, alone["id"]):
        assert_problem(srv.get("/v1/orgs/%s" % oid, token=other.token), 404, "not_found")
    # the inviting org lost the invitation
    r = srv.get("/v1/orgs/%s/invitations" % other_org["id"], token=other.token)
    assert r.status_code == 200 and r.json()["data"] == [], r.text
    # every chain still verifies
    p = cli_verify(srv)
    assert p.returncode == 0, (p.stdout, p.stderr)
    # and the address can register again as a new account
    again = register(srv, u.email)
    assert again["user"]["id"] != u.id


def test_delete_is_audited(srv, make_server):
    u, _ = named_user(srv)
    assert delete_me(srv, u).status_code == 204
    email = unique_email("admin")
    from accounts_util import admin_create, login_ok
    p = admin_create(srv, email)
    assert p.returncode == 0, p.stderr
    token = login_ok(srv, email)["access_token"]
    r = srv.get("/v1/admin/audit-events", token=token, params={"target_id": u.id})
    assert r.status_code == 200, r.text
    actions = [e["action"] for e in r.json()["data"]]
    assert "user.deleted" in actions, actions
    deleted = [e for e in r.json()["data"] if e["action"] == "user.deleted"][0]
    assert deleted["data"]["orgs_deleted"] == [u.personal_org], deleted
    r = srv.get("/v1/admin/audit-events/verify", token=token)
    assert r.status_code == 200 and r.json()["valid"] is True, r.text


@pytest.mark.skipif(not os.access(OATHTOOL, os.X_OK), reason="oathtool not installed")
def test_delete_with_two_factor_needs_a_code(srv):
    u, _ = named_user(srv)
    r = srv.post("/v1/me/mfa/totp/setup", json={}, token=u.token)
    assert r.status_code == 200, r.text
    code = subprocess.run([OATHTOOL, "--totp", "-b", r.json()["secret"]], capture_output=True,
                          text=True, timeout=10).stdout.strip()
    assert re.match(r"^\d{6}$", code), code
    r = srv.post("/v1/me/mfa/totp/enable", json={"code": code}, token=u.token)
    assert r.status_code == 200, r.text
    recovery = r.json()["recovery_codes"]
    r = delete_me(srv, u)
    assert_problem(r, 422, "validation_failed")
    assert {e["field"] for e in r.json()["errors"]} == {"code"}, r.json()
    r = delete_me(srv, u, code="00000-00000")
    assert_problem(r, 422, "validation_failed")
    assert {e["field"]: e["code"] for e in r.json()["errors"]} == {"code": "incorrect"}
    assert srv.get("/v1/me", token=u.token).status_code == 200
    assert delete_me(srv, u, code=recovery[0]).status_code == 204
    assert_problem(srv.get("/v1/me", token=u.token), 401, "session_revoked")
