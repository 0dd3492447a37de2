"""Black-box tests of invitations (issue 5) through a real SMTP server on
loopback: invite -> email -> accept, register with the token, revoked,
expired, used and foreign tokens, duplicate and already-member invitations,
and the token never reaching the server log."""

import datetime
import threading
import time
import uuid

import pytest

from plinth import assert_problem
from accounts_util import PASSWORD, TIME_RE, login, me, unique_email
from orgs_util import (INVITATION_KEYS, INVITE_PATH, accept, create_org, invite, invite_ok,
                       list_all, members, my_orgs, new_user, set_invitation_expires,
                       tenant_count)
from smtp_sink import PUBLIC_URL, mail_server, smtp_sink  # noqa: F401

# Every invitation token this module sees; none may show up in the server log.
TOKENS = []


@pytest.fixture(scope="module")
def srv(make_module_server, smtp_sink):  # noqa: F811
    return mail_server(make_module_server, smtp_sink, workers=2)


@pytest.fixture(scope="module")
def owner(srv):
    return new_user(srv, "inv-owner", name="Olivia Owner")


@pytest.fixture(scope="module")
def org(srv, owner):
    return create_org(srv, owner, name="Inviting Org")


def invited(srv, sink, owner, org, email=None, role="member"):
    email = email or unique_email("invitee")
    inv, token = invite_ok(srv, sink, owner, org["id"], email, role)
    TOKENS.append(token)
    return email, inv, token


def invitations(srv, owner, org):
    return {i["id"]: i for i in list_all(srv, owner.token,
                                         "/v1/orgs/%s/invitations" % org["id"], limit=200)}


def ms_of(ts):
    return datetime.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()


# --- invite -> email -> accept -----------------------------------------------------------

def test_invite_email_accept(srv, smtp_sink, owner, org):  # noqa: F811
    u = new_user(srv, "joiner")
    r = invite(srv, owner, org["id"], u.email.upper(), "admin")
    assert r.status_code == 201, r.text
    inv = r.json()
    assert set(inv) >= INVITATION_KEYS, inv
    assert inv["email"] == u.email, inv     # stored lower-cased
    assert inv["role"] == "admin" and inv["status"] == "pending", inv
    assert inv["invited_by"] == owner.id, inv
    assert TIME_RE.match(inv["created_at"]) and TIME_RE.match(inv["expires_at"]), inv
    ttl = ms_of(inv["expires_at"]) - ms_of(inv["created_at"])
    assert abs(ttl - 7 * 86400) < 60, inv
    assert abs(ms_of(inv["created_at"]) - time.time()) < 300, inv
    assert "token" not in inv and "token_hash" not in inv, inv

    # The email: to the invitee, with an /accept-invite link in the text part.
    m = smtp_sink.wait_for_to(u.email, path=INVITE_PATH)
    link = m.link(INVITE_PATH)
    assert link.startswith(PUBLIC_URL + INVITE_PATH + "?token="), link
    token = m.token(INVITE_PATH)
    TOKENS.append(token)
    assert len(token) >= 20, token
    assert "Inviting Org" in m.text() or "Inviting Org" in m.subject(), m.text()
    html = m.html()
    assert html is None or "accept-invite?token=" in html

    # Not a member yet.
    assert_problem(srv.get("/v1/orgs/" + org["id"], token=u.token), 404, "not_found")

    r = accept(srv, u, token)
    assert r.status_code == 200, r.text
    o = r.json()
    assert o["id"] == org["id"] and o["role"] == "admin" and o["personal"] is False, o
    assert o["slug"] == org["slug"] and o["name"] == org["name"], o
    assert my_orgs(srv, u)[org["id"]]["role"] == "admin"
    assert members(srv, owner.token, org["id"])[u.id]["role"] == "admin"
    assert srv.get("/v1/orgs/%s/members" % org["id"], token=u.token).status_code == 200
    assert invitations(srv, owner, org)[inv["id"]]["status"] == "accepted"

    # Single use.
    assert_problem(accept(srv, u, token), 422, "invalid_token")
    other = new_user(srv, "latecomer")
    assert_problem(accept(srv, other, token), 422, "invalid_token")


def test_accept_needs_auth_and_a_real_token(srv, owner):
    assert_problem(srv.post("/v1/invitations/accept", json={"token": "x" * 43}), 401,
                   "unauthenticated")
    for t in ("garbage", "x" * 43, "A" * 256):
        assert_problem(accept(srv, owner, t), 422, "invalid_token")
    # Absurdly long: refused as a field (or as a token).
    r = accept(srv, owner, "A" * 5000)
    assert r.status_code == 422 and r.json()["code"] in ("invalid_token", "validation_failed"), \
        r.text
    r = srv.post("/v1/invitations/accept", json={}, token=owner.token)
    assert r.status_code == 422, r.text
    assert r.json()["code"] in ("validation_failed", "invalid_token"), r.text


def test_invitation_list(srv, smtp_sink, owner):  # noqa: F811
    o = create_org(srv, owner, name="Listing")
    ids = []
    for role in ("member", "viewer", "admin"):
        r = invite(srv, owner, o["id"], unique_email("listed"), role)
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    r = srv.get("/v1/orgs/%s/invitations" % o["id"], token=owner.token)
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) >= {"data", "next_cursor"}, body
    got = {i["id"]: i for i in body["data"]}
    assert set(got) == set(ids), got
    for i in got.values():
        assert set(i) >= INVITATION_KEYS and i["status"] == "pending", i
        assert "token" not in i and "token_hash" not in i, i
    assert len(list_all(srv, owner.token, "/v1/orgs/%s/invitations" % o["id"], limit=1)) == 3


def test_invitation_validation(srv, owner, org):
    for body in ({"email": "not-an-email", "role": "member"}, {"email": "", "role": "member"},
                 {"role": "member"}, {"email": unique_email(), "role": "wizard"},
                 {"email": unique_email(), "role": ""}, {"email": unique_email()},
                 {"email": 7, "role": "member"}):
        r = srv.post("/v1/orgs/%s/invitations" % org["id"], json=body, token=owner.token)
        assert_problem(r, 422, "validation_failed")
    # An owner may invite an owner.
    r = invite(srv, owner, org["id"], unique_email("co-owner"), "owner")
    assert r.status_code == 201, r.text


# --- register with the token ------------------------------------------------------------------

def test_register_with_invitation_token(srv, smtp_sink, owner, org):  # noqa: F811
    email, inv, token = invited(srv, smtp_sink, owner, org, role="viewer")
    r = srv.post("/v1/auth/register", json={"email": email.upper(), "password": PASSWORD,
                                            "name": "Invited", "invitation_token": token})
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["user"]["email"] == email and body["user"]["email_verified"] is True, body
    assert body["organization"]["personal"] is True, body
    access = body["access_token"]
    m = me(srv, access).json()
    assert m["email_verified"] is True, m
    orgs = {o["id"]: o for o in m["organizations"]}
    assert orgs[org["id"]]["role"] == "viewer", orgs
    assert orgs[body["organization"]["id"]]["role"] == "owner", orgs
    assert srv.get("/v1/orgs/" + org["id"], token=access).json()["role"] == "viewer"
    assert invitations(srv, owner, org)[inv["id"]]["status"] == "accepted"
    assert members(srv, owner.token, org["id"])[body["user"]["id"]]["role"] == "viewer"
    # Used now.
    assert_problem(srv.post("/v1/invitations/accept", json={"token": token}, token=access), 422,
                   "invalid_token")
    # No verification email (the invitation proved the address).
    time.sleep(1.0)
    assert [x for x in smtp_sink.messages(to=email)
            if "/verify-email?token=" in (x.part("text/plain") or "")] == []


def test_register_with_bad_token_creates_nothing(srv, smtp_sink, owner, org):  # noqa: F811
    email = unique_email("badtoken")
    r = srv.post("/v1/auth/register", json={"email": email, "password": PASSWORD,
                                            "name": "Nope", "invitation_token": "garbage" * 6})
    assert_problem(r, 422, "invalid_token")
    assert_problem(login(srv, email), 401, "invalid_credentials")
    # A token addressed to another email is no good either.
    _, inv, token = invited(srv, smtp_sink, owner, org)
    r = srv.post("/v1/auth/register", json={"email": email, "password": PASSWORD,
                                            "name": "Thief", "invitation_token": token})
    assert r.status_code in (403, 422), r.text
    assert r.json()["code"] in ("invalid_token", "forbidden"), r.text
    assert_problem(login(srv, email), 401, "invalid_credentials")
    assert invitations(srv, owner, org)[inv["id"]]["status"] == "pending"
    # The email is still free.
    r = srv.post("/v1/auth/register", json={"email": email, "password": PASSWORD,
                                            "name": "Plain"})
    assert r.status_code == 201, r.text
    assert r.json()["user"]["email_verified"] is False
    assert org["id"] not in {o["id"] for o in me(srv, r.json()["access_token"]).json()
                             ["organizations"]}


# --- revoked, expired, wrong user ----------------------------------------------------------------

def test_revoked_invitation(srv, smtp_sink, owner, org):  # noqa: F811
    email, inv, token = invited(srv, smtp_sink, owner, org)
    path = "/v1/orgs/%s/invitations/%s" % (org["id"], inv["id"])
    r = srv.delete(path, token=owner.token)
    assert r.status_code == 204, r.text
    assert invitations(srv, owner, org)[inv["id"]]["status"] == "revoked"
    assert_problem(srv.delete(path, token=owner.token), 409, "conflict")
    # The token is dead for register and accept alike.
    r = srv.post("/v1/auth/register", json={"email": email, "password": PASSWORD,
                                            "name": "Late", "invitation_token": token})
    assert_problem(r, 422, "invalid_token")
    reg = srv.post("/v1/auth/register", json={"email": email, "password": PASSWORD,
                                              "name": "Late"})
    assert reg.status_code == 201, reg.text
    access = reg.json()["access_token"]
    assert_problem(srv.post("/v1/invitations/accept", json={"token": token}, token=access), 422,
                   "invalid_token")
    assert_problem(srv.get("/v1/orgs/" + org["id"], token=access), 404, "not_found")
    # Unknown invitation ids.
    assert_problem(srv.delete("/v1/orgs/%s/invitations/%s" % (org["id"], uuid.uuid4()),
                              token=owner.token), 404, "not_found")
    # A new invitation to the same email is fine once the old one is revoked.
    r = invite(srv, owner, org["id"], email, "member")
    assert r.status_code == 201, r.text


def test_accepted_invitation_cannot_be_revoked(srv, smtp_sink, owner, org):  # noqa: F811
    u = new_user(srv, "accepted")
    _, inv, token = invited(srv, smtp_sink, owner, org, email=u.email)
    assert accept(srv, u, token).status_code == 200
    assert_problem(srv.delete("/v1/orgs/%s/invitations/%s" % (org["id"], inv["id"]),
                              token=owner.token), 409, "conflict")
    assert u.id in members(srv, owner.token, org["id"])


def test_expired_invitation(srv, smtp_sink, owner, org):  # noqa: F811
    u = new_user(srv, "expired")
    _, inv, token = invited(srv, smtp_sink, owner, org, email=u.email)
    set_invitation_expires(srv, org["id"], inv["id"], int((time.time() - 60) * 1000))
    assert_problem(accept(srv, u, token), 422, "invalid_token")
    assert_problem(srv.get("/v1/orgs/" + org["id"], token=u.token), 404, "not_found")
    assert invitations(srv, owner, org)[inv["id"]]["status"] == "expired"
    # Expired is not pending: a new invitation may be sent, and it works.
    _, inv2, token2 = invited(srv, smtp_sink, owner, org, email=u.email, role="viewer")
    assert inv2["id"] != inv["id"] and token2 != token
    r = accept(srv, u, token2)
    assert r.status_code == 200, r.text
    assert r.json()["role"] == "viewer"
    # The expired one stays dead.
    assert_problem(accept(srv, u, token), 422, "invalid_token")


def test_expired_token_on_register(srv, smtp_sink, owner, org):  # noqa: F811
    email, inv, token = invited(srv, smtp_sink, owner, org)
    set_invitation_expires(srv, org["id"], inv["id"], int((time.time() - 1) * 1000))
    r = srv.post("/v1/auth/register", json={"email": email, "password": PASSWORD,
                                            "name": "Late", "invitation_token": token})
    assert_problem(r, 422, "invalid_token")
    assert_problem(login(srv, email), 401, "invalid_credentials")


def test_wrong_user_cannot_accept(srv, smtp_sink, owner, org):  # noqa: F811
    target = new_user(srv, "target")
    thief = new_user(srv, "thief")
    _, inv, token = invited(srv, smtp_sink, owner, org, email=target.email, role="admin")
    assert_problem(accept(srv, thief, token), 403, "forbidden")
    assert_problem(srv.get("/v1/orgs/" + org["id"], token=thief.token), 404, "not_found")
    assert thief.id not in members(srv, owner.token, org["id"])
    assert invitations(srv, owner, org)[inv["id"]]["status"] == "pending"
    # The right user still can.
    r = accept(srv, target, token)
    assert r.status_code == 200, r.text
    assert r.json()["role"] == "admin"


# --- duplicates ----------------------------------------------------------------------------

def test_duplicate_pending_invitation(srv, smtp_sink, owner, org):  # noqa: F811
    email, inv, _ = invited(srv, smtp_sink, owner, org)
    for e in (email, email.upper(), "  %s " % email):
        r = invite(srv, owner, org["id"], e, "viewer")
        assert_problem(r, 409, "invitation_pending")
    # One email only.
    smtp_sink.assert_none_to(email, wait=1.0, already=1)
    # Another org may invite the same email.
    other = create_org(srv, owner)
    assert invite(srv, owner, other["id"], email, "member").status_code == 201


def test_already_member(srv, smtp_sink, owner, org):  # noqa: F811
    u = new_user(srv, "member")
    _, _, token = invited(srv, smtp_sink, owner, org, email=u.email)
    assert accept(srv, u, token).status_code == 200
    for e in (u.email, u.email.upper()):
        assert_problem(invite(srv, owner, org["id"], e, "viewer"), 409, "already_member")
    assert_problem(invite(srv, owner, org["id"], owner.email, "member"), 409, "already_member")


# --- races ---------------------------------------------------------------------------------

def _together(calls):
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


def _raw(srv, method, path, token, body):
    return srv.request_once(method, path, json=body, token=token)


def test_token_used_once_under_concurrency(srv, smtp_sink, owner, org):  # noqa: F811
    """Several accepts of one token at the same moment: one joins, the rest
    find a used token (422 invalid_token), whatever the interleaving."""
    for _ in range(3):
        u = new_user(srv, "double")
        _, inv, token = invited(srv, smtp_sink, owner, org, email=u.email)
        rs = _together([lambda: _raw(srv, "POST", "/v1/invitations/accept", u.token,
                                     {"token": token})] * 6)
        codes = sorted(r.status_code for r in rs)
        assert codes == [200] + [422] * 5, [(r.status_code, r.text) for r in rs]
        for r in rs[1:]:
            if r.status_code == 422:
                assert_problem(r, 422, "invalid_token")
        assert members(srv, owner.token, org["id"])[u.id]["role"] == "member"


def test_concurrent_invitations_to_one_email(srv, smtp_sink, owner, org):  # noqa: F811
    email = unique_email("twice")
    rs = _together([lambda: _raw(srv, "POST", "/v1/orgs/%s/invitations" % org["id"],
                                 owner.token, {"email": email, "role": "member"})] * 4)
    codes = sorted(r.status_code for r in rs)
    assert codes == [201, 409, 409, 409], [(r.status_code, r.text) for r in rs]
    for r in rs:
        if r.status_code == 409:
            assert_problem(r, 409, "invitation_pending")
    smtp_sink.wait_for_to(email, path=INVITE_PATH)
    smtp_sink.assert_none_to(email, wait=1.0, already=1)


# --- the email itself ------------------------------------------------------------------------

def test_invitation_email_is_safe(srv, smtp_sink, owner):  # noqa: F811
    evil = unique_email("bcc-evil")
    r = srv.post("/v1/orgs", json={"name": "<b>Evil</b>\r\nBcc: %s" % evil}, token=owner.token)
    if r.status_code == 422:
        return    # refusing such a name is fine too
    assert r.status_code == 201, r.text
    o = r.json()
    email = unique_email("safe")
    invite_ok(srv, smtp_sink, owner, o["id"], email)
    m = smtp_sink.wait_for_to(email, path=INVITE_PATH)
    TOKENS.append(m.token(INVITE_PATH))
    assert [x.lower() for x in m.rcpt_tos] == [email], m.rcpt_tos
    assert m.msg.get_all("Bcc") is None, m.raw[:2000]
    assert len(m.msg.get_all("Subject")) == 1, m.raw[:2000]
    html = m.html()
    if html is not None:
        assert "<b>Evil</b>" not in html, html
    smtp_sink.assert_none_to(evil, wait=0.5, already=0)


def test_token_stored_hashed(srv, smtp_sink, owner, org):  # noqa: F811
    _, inv, token = invited(srv, smtp_sink, owner, org)
    assert tenant_count(srv, "invitations", org["id"], "id = '%s'" % inv["id"]) == 1
    assert tenant_count(srv, "invitations", org["id"],
                        "token_hash = '%s'" % token.replace("'", "''")) == 0


# --- PLINTH_REQUIRE_VERIFIED_EMAIL ------------------------------------------------------------

def test_require_verified_email(make_server, smtp_sink):  # noqa: F811
    s = mail_server(make_server, smtp_sink, env={"PLINTH_REQUIRE_VERIFIED_EMAIL": "1"})
    boss = new_user(s, "unverified")
    assert_problem(s.post("/v1/orgs", json={"name": "Nope"}, token=boss.token), 403,
                   "email_not_verified")
    # Not even into the personal org it owns.
    assert_problem(invite(s, boss, boss.personal_org, unique_email("x"), "member"), 403,
                   "email_not_verified")
    # Verified through the email link: now it may create and invite.
    vt = smtp_sink.wait_for_to(boss.email, path="/verify-email").token("/verify-email")
    assert s.post("/v1/auth/verify-email", json={"token": vt}).status_code == 204
    o = create_org(s, boss)
    # Accepting an invitation proves the address too.
    adm = new_user(s, "unverified-admin")
    _, token = invite_ok(s, smtp_sink, boss, o["id"], adm.email, "admin")
    assert accept(s, adm, token).status_code == 200
    assert me(s, adm.token).json()["email_verified"] is True
    assert invite(s, adm, o["id"], unique_email("x"), "member").status_code == 201
    # Registering with an invitation token verifies the email.
    email, _, token = invited(s, smtp_sink, boss, o)
    r = s.post("/v1/auth/register", json={"email": email, "password": PASSWORD, "name": "Inv",
                                          "invitation_token": token})
    assert r.status_code == 201, r.text
    r = s.post("/v1/orgs", json={"name": "Mine"}, token=r.json()["access_token"])
    assert r.status_code == 201, r.text


# --- the token stays secret --------------------------------------------------------------------

def test_tokens_never_logged(srv, smtp_sink, owner, org):  # noqa: F811
    # One more, so this test has a token even when run alone.
    invited(srv, smtp_sink, owner, org)
    time.sleep(0.3)
    log = srv.log()
    assert TOKENS
    for t in TOKENS:
        assert t not in log, "invitation token in the server log"
