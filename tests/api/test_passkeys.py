"""Black-box tests of passkeys (issue 20) with an emulated authenticator
(webauthn_util: python3-cryptography keys, CBOR written by the test): registration,
listing and removal, sign-in with discoverable and email-bound options, two-factor
(a user-verified passkey is two factors; without user verification TOTP is still
asked), and every forged assertion refused. The browser flows are in
test_passkeys_browser.py.

The relying party comes from PLINTH_PUBLIC_URL (https://app.example): RP id
app.example, origin https://app.example. Each test signs in from its own client IP
(X-Forwarded-For through a trusted proxy), since refused assertions count as failed
sign-ins."""

import itertools
import json
import uuid

import pytest

from plinth import assert_problem
from accounts_util import FAST_ARGON2, PASSWORD, db_scalar, login_ok, me, register, unique_email
from test_mfa import Totp
from webauthn_util import Authenticator, Credential, b64u, cbor

ORIGIN = "https://app.example"
RP_ID = "app.example"

_ips = itertools.count(1)


def new_ip():
    n = next(_ips)
    return "198.51.%d.%d" % (100 + n // 250, n % 250 + 1)


@pytest.fixture(scope="module")
def srv(make_module_server):
    return make_module_server(args=FAST_ARGON2, env={
        "PLINTH_PUBLIC_URL": ORIGIN, "PLINTH_TRUSTED_PROXIES": "127.0.0.1/32"})


class User:
    def __init__(self, srv, alg="ES256", uv=True, counting=True):
        self.srv = srv
        self.email = unique_email("pk")
        body = register(srv, self.email)
        self.token = body["access_token"]
        self.id = body["user"]["id"]
        self.ip = new_ip()
        self.auth = Authenticator(alg, uv=uv, counting=counting)

    def h(self):
        return {"X-Forwarded-For": self.ip}

    def options(self):
        r = self.srv.post("/v1/me/passkeys/register/options", json={}, token=self.token)
        assert r.status_code == 200, r.text
        return r.json()["publicKey"]

    def add(self, name="My key", fmt="none", **kw):
        cred = self.auth.create(self.options(), ORIGIN, fmt=fmt, **kw)
        r = self.srv.post("/v1/me/passkeys", json={"name": name, "credential": cred},
                          token=self.token)
        assert r.status_code == 201, r.text
        return r.json()

    def signin_options(self, email=None):
        body = {} if email is None else {"email": email}
        r = self.srv.post("/v1/auth/passkey/options", json=body, headers=self.h())
        assert r.status_code == 200, r.text
        return r.json()["publicKey"]

    def signin(self, assertion):
        return self.srv.post("/v1/auth/passkey", json={"credential": assertion}, headers=self.h())


def security_events(srv, token, action):
    r = srv.get("/v1/me/security-events?limit=200", token=token)
    assert r.status_code == 200, r.text
    return [e for e in r.json()["data"] if e["action"] == action]


# --- registration and listing ------------------------------------------------------------

def test_creation_options_shape(srv):
    u = User(srv)
    pk = u.options()
    assert pk["rp"] == {"id": RP_ID, "name": "plinth"}
    assert pk["user"]["name"] == u.email and pk["user"]["displayName"] == "Test User"
    assert pk["user"]["id"] == b64u(u.id.encode())
    assert [p["alg"] for p in pk["pubKeyCredParams"]] == [-7, -8]
    assert all(p["type"] == "public-key" for p in pk["pubKeyCredParams"])
    assert len(pk["challenge"]) >= 43 and "=" not in pk["challenge"]
    assert pk["timeout"] == 300000 and pk["attestation"] == "none"
    assert pk["authenticatorSelection"]["residentKey"] == "required"
    assert pk["excludeCredentials"] == []
    u.add()
    assert [c["id"] for c in u.options()["excludeCredentials"]] == [b64u(u.auth.last.id)]
    # signed in only
    assert_problem(srv.post("/v1/me/passkeys/register/options", json={}), 401, "unauthenticated")


@pytest.mark.parametrize("alg,fmt", [("ES256", "none"), ("EdDSA", "none"),
                                     ("ES256", "packed"), ("EdDSA", "packed")])
def test_register_list_and_sign_in(srv, alg, fmt):
    u = User(srv, alg=alg)
    pk = u.add(name="Laptop", fmt=fmt)
    assert set(pk) >= {"id", "name", "created_at", "last_used_at"}, pk
    assert pk["name"] == "Laptop" and pk["last_used_at"] is None
    lst = srv.get("/v1/me/passkeys", token=u.token).json()
    assert lst["next_cursor"] is None and [p["id"] for p in lst["data"]] == [pk["id"]]

    # discoverable sign-in: no email
    r = u.signin(u.auth.get(u.signin_options(), ORIGIN))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["token_type"] == "Bearer" and body["user"]["id"] == u.id
    assert me(srv, body["access_token"]).json()["email"] == u.email
    # email-bound options allow exactly that credential
    opts = u.signin_options(u.email)
    assert [c["id"] for c in opts["allowCredentials"]] == [b64u(u.auth.last.id)]
    assert opts["rpId"] == RP_ID
    assert u.signin(u.auth.get(opts, ORIGIN)).status_code == 200
    lst = srv.get("/v1/me/passkeys", token=u.token).json()["data"]
    assert lst[0]["last_used_at"] is not None

    added = security_events(srv, u.token, "user.passkey_added")
    assert added and added[0]["data"]["passkey_id"] == pk["id"], added
    logins = [e for e in security_events(srv, u.token, "user.logged_in")
              if e["data"].get("method") == "passkey"]
    assert len(logins) == 2 and logins[0]["data"]["mfa"] is True, logins


def test_remove(srv):
    u = User(srv)
    other = User(srv)
    pk = u.add()
    opk = other.add()
    assert_problem(srv.delete("/v1/me/passkeys/" + opk["id"], token=u.token), 404, "not_found")
    assert_problem(srv.delete("/v1/me/passkeys/" + str(uuid.uuid4()), token=u.token), 404,
                   "not_found")
    assert_problem(srv.delete("/v1/me/passkeys/not-an-id", token=u.token), 404, "not_found")
    assert srv.delete("/v1/me/passkeys/" + pk["id"], token=u.token).status_code == 204
    assert srv.get("/v1/me/passkeys", token=u.token).json()["data"] == []
    assert security_events(srv, u.token, "user.passkey_removed")[0]["data"] == \
        {"passkey_id": pk["id"]}
    # the removed passkey no longer signs in
    assert_problem(u.signin(u.auth.get(u.signin_options(), ORIGIN)), 401, "invalid_credentials")
    # the other user's is untouched
    assert other.signin(other.auth.get(other.signin_options(), ORIGIN)).status_code == 200


def test_registration_refusals(srv):
    u = User(srv)
    v = User(srv)

    def post(cred, token=u.token):
        return srv.post("/v1/me/passkeys", json={"name": "k", "credential": cred}, token=token)

    def refused(r):
        body = assert_problem(r, 422, "validation_failed")
        assert body["errors"][0]["field"] == "credential", body

    refused(post(u.auth.create(u.options(), "https://evil.example", keep=False)))
    refused(post(u.auth.create(u.options(), ORIGIN, challenge=b64u(b"x" * 32), keep=False)))
    refused(post(u.auth.create(u.options(), ORIGIN, rp_id="evil.example", keep=False)))
    refused(post(u.auth.create(u.options(), ORIGIN, up=False, keep=False)))
    refused(post(u.auth.create(u.options(), ORIGIN, type_="webauthn.get", keep=False)))
    # a challenge issued to another user
    refused(post(u.auth.create(v.options(), ORIGIN, keep=False)))
    # a challenge used once
    opts = u.options()
    assert post(u.auth.create(opts, ORIGIN)).status_code == 201
    refused(post(u.auth.create(opts, ORIGIN, keep=False)))
    # the same credential twice
    r = post(u.auth.create(u.options(), ORIGIN, cred=u.auth.credentials[-1]))
    assert_problem(r, 409, "conflict")
    # shapes
    for bad in ({}, {"credential": "x"}, {"credential": {"id": "AA", "type": "public-key"}}):
        r = srv.post("/v1/me/passkeys", json=bad, token=u.token)
        assert_problem(r, 422, "validation_failed")
    cred = u.auth.create(u.options(), ORIGIN, keep=False)
    cred["response"]["attestationObject"] = b64u(cbor({"fmt": "tpm", "attStmt": {},
                                                       "authData": b"\0" * 37}))
    refused(post(cred))
    cred = u.auth.create(u.options(), ORIGIN, keep=False)
    cred["response"]["attestationObject"] = "!!!"
    refused(post(cred))
    assert len(srv.get("/v1/me/passkeys", token=u.token).json()["data"]) == 1


# --- two factors -------------------------------------------------------------------------

def enable_totp(srv, u):
    r = srv.post("/v1/me/mfa/totp/setup", json={}, token=u.token)
    assert r.status_code == 200, r.text
    totp = Totp(r.json()["secret"])
    r = srv.post("/v1/me/mfa/totp/enable", json={"code": totp.next_code()}, token=u.token)
    assert r.status_code == 200, r.text
    return totp


def test_user_verified_passkey_is_two_factors(srv):
    u = User(srv, uv=True)
    u.add()
    enable_totp(srv, u)
    r = u.signin(u.auth.get(u.signin_options(), ORIGIN))
    assert r.status_code == 200, r.text
    assert "access_token" in r.json() and r.json()["user"]["mfa_enabled"] is True


def test_without_user_verification_totp_is_asked(srv):
    u = User(srv, uv=False)
    u.add()
    totp = enable_totp(srv, u)
    r = u.signin(u.auth.get(u.signin_options(), ORIGIN))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["mfa_required"] is True and "access_token" not in body, body
    assert body["mfa_methods"] == ["totp", "recovery_code"]
    r = srv.post("/v1/auth/login/mfa", json={"mfa_token": body["mfa_token"],
                                            "code": totp.next_code()}, headers=u.h())
    assert r.status_code == 200, r.text
    ev = security_events(srv, r.json()["access_token"], "user.logged_in")[0]
    assert ev["data"] == {"method": "passkey", "mfa": True}, ev
    # without 2FA a passkey without user verification is enough
    v = User(srv, uv=False)
    v.add()
    r = v.signin(v.auth.get(v.signin_options(), ORIGIN))
    assert r.status_code == 200 and "access_token" in r.json(), r.text
    ev = security_events(srv, v.token, "user.logged_in")[0]
    assert ev["data"] == {"method": "passkey", "mfa": False}, ev


# --- forged assertions --------------------------------------------------------------------

def test_forged_assertions_refused(srv):
    u = User(srv)
    u.add()
    other = User(srv)
    other.add()
    a = u.auth

    def refused(assertion):
        # refusals are failed sign-ins: each from its own client IP, so that
        # the throttle (5 per minute per account and IP) stays out of the way
        u.ip = new_ip()
        assert_problem(u.signin(assertion), 401, "invalid_credentials")

    refused(a.get(u.signin_options(), "https://evil.example"))                 # wrong origin
    refused(a.get(u.signin_options(), "https://app.example:8443"))
    refused(a.get(u.signin_options(), ORIGIN, challenge=b64u(b"\x01" * 32)))   # wrong challenge
    refused(a.get(u.signin_options(), ORIGIN, rp_id="evil.example"))           # wrong RP id hash
    refused(a.get(u.signin_options(), ORIGIN, bad_signature=True))             # bad signature
    refused(a.get(u.signin_options(), ORIGIN, sign_with=Credential("ES256", b"", RP_ID)))
    refused(a.get(u.signin_options(), ORIGIN, up=False))                       # nobody present
    refused(a.get(u.signin_options(), ORIGIN, type_="webauthn.create"))
    refused(a.get(u.signin_options(), ORIGIN, user_handle=other.id.encode()))  # other user handle

    # a reused challenge: the first use succeeds, the second is refused
    opts = u.signin_options()
    assert u.signin(a.get(opts, ORIGIN)).status_code == 200
    refused(a.get(opts, ORIGIN))

    # a replayed assertion (same counter), and a lower counter
    opts = u.signin_options()
    good = a.get(opts, ORIGIN)
    assert u.signin(good).status_code == 200
    refused(good)
    # ... the same counter under a fresh challenge (a cloned authenticator), a lower one
    refused(a.get(u.signin_options(), ORIGIN, counter=a.credentials[-1].counter))
    refused(a.get(u.signin_options(), ORIGIN, counter=1))

    # another user's credential against options asked for this user's email
    refused(other.auth.get(u.signin_options(u.email), ORIGIN))
    # an unknown credential
    stranger = Authenticator()
    stranger.credentials.append(Credential("ES256", u.id.encode(), RP_ID))
    refused(stranger.get(u.signin_options(), ORIGIN))
    # a malformed one
    r = srv.post("/v1/auth/passkey", json={"credential": {"type": "public-key"}},
                 headers=u.h())
    assert_problem(r, 422, "validation_failed")
    assert_problem(srv.post("/v1/auth/passkey", json={}, headers=u.h()), 422,
                   "validation_failed")

    # after all of that, a proper assertion still signs in
    r = u.signin(a.get(u.signin_options(u.email), ORIGIN))
    assert r.status_code == 200, r.text
    failed = security_events(srv, r.json()["access_token"], "user.login_failed")
    reasons = {e["data"]["reason"] for e in failed if e["data"].get("method") == "passkey"}
    assert {"client_data", "challenge", "rp_id", "signature", "user_presence", "user_handle",
            "sign_count"} <= reasons, reasons
    # the other account's credential was refused as such (its owner sees it)
    failed = security_events(srv, other.token, "user.login_failed")
    assert [e["data"]["reason"] for e in failed] == ["other_account"], failed


def test_counters_of_zero_are_accepted(srv):
    # an authenticator that keeps no counter (synced passkeys) reports 0 every time
    u = User(srv, counting=False)
    u.add()
    for _ in range(3):
        assert u.signin(u.auth.get(u.signin_options(), ORIGIN)).status_code == 200
    # once a counter was seen, it must move forward
    v = User(srv)
    v.add()
    assert v.signin(v.auth.get(v.signin_options(), ORIGIN)).status_code == 200
    assert_problem(v.signin(v.auth.get(v.signin_options(), ORIGIN, counter=0)), 401,
                   "invalid_credentials")


def test_expired_challenge(srv):
    u = User(srv)
    u.add()
    opts = u.signin_options()
    db_exec(srv, "UPDATE webauthn_challenges SET expires_at = created_at - 1")
    assert_problem(u.signin(u.auth.get(opts, ORIGIN)), 401, "invalid_credentials")


def test_unknown_email_gets_the_same_shape(srv):
    u = User(srv)
    u.add()
    known = u.signin_options(u.email)
    nobody = unique_email("nobody")
    unknown = u.signin_options(nobody)
    assert set(known) == set(unknown), (known, unknown)
    assert len(unknown["allowCredentials"]) == 1
    assert set(unknown["allowCredentials"][0]) == set(known["allowCredentials"][0])
    # the same address gets the same decoy, another address another one
    assert u.signin_options(nobody)["allowCredentials"] == unknown["allowCredentials"]
    assert u.signin_options(unique_email())["allowCredentials"] != unknown["allowCredentials"]
    assert_problem(srv.post("/v1/auth/passkey/options", json={"email": "nope"}), 422,
                   "validation_failed")


def test_refused_assertions_are_throttled(srv):
    u = User(srv)
    u.add()
    for _ in range(5):
        assert_problem(u.signin(u.auth.get(u.signin_options(), ORIGIN, bad_signature=True)),
                       401, "invalid_credentials")
    r = u.signin(u.auth.get(u.signin_options(), ORIGIN))
    assert_problem(r, 429, "rate_limited")
    assert int(r.headers["Retry-After"]) > 0
    # another client IP is not affected
    u.ip = new_ip()
    assert u.signin(u.auth.get(u.signin_options(), ORIGIN)).status_code == 200


def test_disabled_account(srv):
    u = User(srv)
    u.add()
    import accounts_util
    adm = unique_email("admin")
    assert accounts_util.admin_create(srv, adm).returncode == 0
    atok = login_ok(srv, adm)["access_token"]
    assert srv.post("/v1/admin/users/%s/disable" % u.id, token=atok).status_code in (200, 204)
    assert_problem(u.signin(u.auth.get(u.signin_options(), ORIGIN)), 403, "account_disabled")


def db_exec(server, sql):
    if server.pg_url:
        import plinth
        plinth.psql(sql, url=server.pg_url)
        return
    import os
    import sqlite3
    con = sqlite3.connect(os.path.join(server.data_dir, "plinth.db"), timeout=10)
    try:
        con.execute(sql)
        con.commit()
    finally:
        con.close()
