"""Black-box tests of sign-in with identity providers (issue 19): a real OpenID provider
on loopback (the npm `oidc-provider` package, tests/api/oidc_provider.js), a provider
that forges id_tokens (wrong signature, wrong audience, a replayed nonce, expired), and
a plain OAuth 2 provider in GitHub's shape. The browser's part of the flow is walked
with an HTTP client: oidc-provider's interaction signs in and consents for the account
the test chose. Also per-organization SSO (just-in-time membership, enforcement of a
domain), 2FA after a social sign-in, and the organization's two-factor policy."""

import json
import os
import subprocess
import urllib.parse

import pytest
import requests

import plinth
from plinth import assert_problem
from accounts_util import FAST_ARGON2, PASSWORD, admin_create, login, register, unique_email
from smtp_sink import mail_env, smtp_sink  # noqa: F401
from test_mfa import Totp
from webhooks_util import node_path

HERE = os.path.dirname(os.path.abspath(__file__))
APP = "http://app.example/after"
OP_SECRET = "op client secret for plinth"
SSO_SECRET = "acme client secret"


class Providers:
    """The three loopback providers (one Node.js process)."""

    def __init__(self, plinth_port):
        base = "http://127.0.0.1:%d" % plinth_port
        clients = [
            {"client_id": "plinth", "client_secret": OP_SECRET,
             "redirect_uris": [base + "/v1/auth/oauth/op/callback"],
             "grant_types": ["authorization_code"], "response_types": ["code"],
             "token_endpoint_auth_method": "client_secret_basic"},
            {"client_id": "acme", "client_secret": SSO_SECRET,
             "redirect_uris": [base + "/v1/auth/sso/callback"],
             "grant_types": ["authorization_code"], "response_types": ["code"],
             "token_endpoint_auth_method": "client_secret_basic"},
        ]
        env = plinth.base_env({"NODE_PATH": node_path(), "OP_CLIENTS": json.dumps(clients)})
        self.proc = subprocess.Popen(["node", os.path.join(HERE, "oidc_provider.js")],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     stdin=subprocess.DEVNULL, env=env, text=True)
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("providers did not start: %s" % self.proc.stderr.read())
        info = json.loads(line)
        self.op = info["op"]["issuer"]
        self.forged = info["forged"]["issuer"]
        self.gh = info["gh"]["base"]
        self.http = requests.Session()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.http.close()

    def control(self, base, path, body):
        r = self.http.post(base + path, json=body, timeout=10)
        assert r.status_code == 204, r.text

    def op_account(self, sub, email, verified=True, name="Op Person"):
        self.control(self.op, "/_control/account",
                     {"sub": sub, "email": email, "email_verified": verified, "name": name})
        self.control(self.op, "/_control/login", {"sub": sub})

    def forge(self, mode, person=None):
        self.control(self.forged, "/_control/forge", {"mode": mode, "person": person})

    def gh_person(self, pid, email, verified, primary_email=None):
        emails = [{"email": primary_email or email, "primary": True, "verified": verified}]
        self.control(self.gh, "/_control/person",
                     {"id": pid, "login": "u%d" % pid, "name": "Gh Person", "email": email,
                      "emails": emails})


@pytest.fixture(scope="module")
def ctx(smtp_sink):  # noqa: F811
    port = plinth.free_port()
    providers = Providers(port)
    env = mail_env(smtp_sink, {
        "PLINTH_PUBLIC_API_URL": "http://127.0.0.1:%d" % port,
        "PLINTH_REDIRECT_ALLOWLIST": "http://app.example/after, http://other.example",
        "PLINTH_ALLOW_PRIVATE_TARGETS": "1",
        "PLINTH_TRUSTED_PROXIES": "127.0.0.1/32",
    })
    srv = plinth.Server(args=FAST_ARGON2, env=env, port=port, start=False)
    try:
        srv.start()
        email = unique_email("idadmin")
        p = admin_create(srv, email, PASSWORD)
        assert p.returncode == 0, p.stderr
        admin = login(srv, email).json()["access_token"]
        put_provider(srv, admin, "op", {"type": "oidc", "name": "Loopback OP",
                                        "issuer": providers.op, "client_id": "plinth",
                                        "client_secret": OP_SECRET})
        put_provider(srv, admin, "forged", {"type": "oidc", "name": "Forger",
                                            "issuer": providers.forged, "client_id": "plinth",
                                            "client_secret": "x"})
        put_provider(srv, admin, "gh", {
            "type": "oauth2", "name": "GitHub-like", "client_id": "ghclient",
            "client_secret": "ghsecret", "scopes": ["user:email"],
            "authorization_url": providers.gh + "/login/oauth/authorize",
            "token_url": providers.gh + "/login/oauth/access_token",
            "userinfo_url": providers.gh + "/user"})
        yield {"srv": srv, "p": providers, "admin": admin, "sink": smtp_sink}
    finally:
        problems = srv.close()
        providers.stop()
        if problems:
            pytest.fail("\n\n".join(problems), pytrace=False)


def put_provider(srv, admin, key, body):
    r = srv.put("/v1/admin/identity-providers/" + key, json=body, token=admin)
    assert r.status_code == 200, r.text
    assert "client_secret" not in r.json()
    return r.json()


def walk(srv, start, redirect=APP):
    """Follows a sign-in from start (a URL) through the provider and plinth's
    callback to redirect_to; returns its query as a dict (code or error)."""
    browser = requests.Session()
    url = start
    for _ in range(20):
        if url.startswith(redirect):
            q = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
            return {k: v[0] for k, v in q.items()}
        if url.startswith(srv.url):
            r = srv.get(url[len(srv.url):], allow_redirects=False)
        else:
            r = browser.get(url, allow_redirects=False, timeout=15)
        assert r.status_code in (302, 303), (url, r.status_code, r.text[:500],
                                             srv.log_tail(8) if r.status_code >= 500 else "")
        url = urllib.parse.urljoin(url, r.headers["Location"])
    raise AssertionError("the sign-in did not end at redirect_to")


def start_url(srv, key, redirect=APP):
    r = srv.get("/v1/auth/oauth/%s/start" % key, params={"redirect_to": redirect},
                allow_redirects=False)
    assert r.status_code == 302, r.text
    return r.headers["Location"]


def social(srv, key):
    return walk(srv, start_url(srv, key))


def exchange(srv, code, **kw):
    return srv.post("/v1/auth/oauth/exchange", json={"code": code}, **kw)


def me(srv, token):
    r = srv.get("/v1/me", token=token)
    assert r.status_code == 200, r.text
    return r.json()


# ---- providers ----

def test_providers_listed_without_secrets(ctx):
    srv, admin = ctx["srv"], ctx["admin"]
    r = srv.get("/v1/admin/identity-providers", token=admin)
    assert r.status_code == 200
    keys = {p["key"]: p for p in r.json()["data"]}
    assert {"op", "forged", "gh"} <= set(keys)
    assert all("client_secret" not in p for p in keys.values())
    assert keys["op"]["scopes"] == ["openid", "email", "profile"]
    r = srv.get("/v1/auth/providers")
    assert r.status_code == 200
    assert {"key": "op", "name": "Loopback OP", "type": "oidc"} in r.json()["data"]
    # the secret is kept when left out, and only admins configure providers
    r = srv.put("/v1/admin/identity-providers/tmp", json={"type": "oauth2", "name": "T",
                                                          "client_id": "c"}, token=admin)
    assert_problem(r, 422, "validation_failed")
    user = register(srv, unique_email("plain"))["access_token"]
    r = srv.get("/v1/admin/identity-providers", token=user)
    assert_problem(r, 403, "forbidden")
    r = srv.delete("/v1/admin/identity-providers/nope", token=admin)
    assert_problem(r, 404, "not_found")


def test_sealed_secret_not_in_database(ctx):
    srv = ctx["srv"]
    if srv.pg_url:
        stored = plinth.psql("SELECT client_secret_sealed FROM identity_providers "
                             "WHERE key = 'op'", url=srv.pg_url).strip()
    else:
        import sqlite3
        con = sqlite3.connect(os.path.join(srv.data_dir, "plinth.db"))
        stored = con.execute("SELECT client_secret_sealed FROM identity_providers "
                             "WHERE key = 'op'").fetchone()[0]
        con.close()
    assert stored.startswith("dk1.") and OP_SECRET not in stored


# ---- the flow ----

def test_new_user_via_oidc_gets_personal_org(ctx):
    srv, p = ctx["srv"], ctx["p"]
    email = unique_email("newop")
    p.op_account("sub-" + email, email, verified=True, name="New Op")
    start = start_url(srv, "op")
    q = urllib.parse.parse_qs(urllib.parse.urlsplit(start).query)
    assert q["code_challenge_method"] == ["S256"] and q["state"] and q["nonce"]
    assert q["redirect_uri"] == [srv.url + "/v1/auth/oauth/op/callback"]
    out = walk(srv, start)
    assert "code" in out, out
    r = exchange(srv, out["code"])
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["user"]["email"] == email and body["user"]["email_verified"] is True
    assert body["organization"]["personal"] is True and body["organization"]["role"] == "owner"
    ids = srv.get("/v1/me/identities", token=body["access_token"]).json()["data"]
    assert [(i["provider"], i["email"]) for i in ids] == [("op", email)]
    # the code is single use
    assert_problem(exchange(srv, out["code"]), 422, "invalid_token")
    # the same person again: the same account, no new organization
    p.op_account("sub-" + email, email)
    r = exchange(srv, social(srv, "op")["code"])
    assert r.status_code == 200 and "organization" not in r.json()
    assert r.json()["user"]["id"] == body["user"]["id"]
    # the only way in cannot be unlinked
    r = srv.delete("/v1/me/identities/" + ids[0]["id"], token=body["access_token"])
    assert_problem(r, 409, "conflict")


def test_existing_account_linked_on_verified_email(ctx):
    srv, p = ctx["srv"], ctx["p"]
    email = unique_email("linkme")
    reg = register(srv, email)
    p.op_account("sub-" + email, email, verified=True)
    r = exchange(srv, social(srv, "op")["code"])
    assert r.status_code == 200, r.text
    assert r.json()["user"]["id"] == reg["user"]["id"] and "organization" not in r.json()
    token = r.json()["access_token"]
    ids = srv.get("/v1/me/identities", token=token).json()["data"]
    assert len(ids) == 1
    # the account's export lists it
    exported = srv.get("/v1/me/export", token=token).json()["identities"]
    assert [(i["id"], i["provider"], i["email"]) for i in exported] == [(ids[0]["id"], "op", email)]
    # a password remains: the identity can go
    assert srv.delete("/v1/me/identities/" + ids[0]["id"], token=token).status_code == 204
    assert srv.get("/v1/me/identities", token=token).json()["data"] == []
    r = srv.delete("/v1/me/identities/" + ids[0]["id"], token=token)
    assert_problem(r, 404, "not_found")


def test_unverified_provider_email_not_linked(ctx):
    srv, p = ctx["srv"], ctx["p"]
    email = unique_email("taken")
    register(srv, email)
    p.op_account("sub-" + email, email, verified=False)
    assert social(srv, "op") == {"error": "email_taken"}
    # GitHub's shape: the primary address unverified
    p.gh_person(4242, email, verified=False)
    assert social(srv, "gh") == {"error": "email_taken"}


def test_github_shape_primary_verified_email(ctx):
    srv, p = ctx["srv"], ctx["p"]
    email = unique_email("octo")
    p.gh_person(5151, None, verified=True, primary_email=email)
    out = social(srv, "gh")
    r = exchange(srv, out["code"])
    assert r.status_code == 200, r.text
    assert r.json()["user"]["email"] == email and r.json()["organization"]["personal"]


def test_tampered_state_and_bad_redirects_refused(ctx):
    srv, p = ctx["srv"], ctx["p"]
    r = srv.get("/v1/auth/oauth/op/callback", params={"state": "forged", "code": "x"},
                allow_redirects=False)
    assert_problem(r, 400, "bad_request")
    # a real state altered by one character
    start = start_url(srv, "op")
    state = urllib.parse.parse_qs(urllib.parse.urlsplit(start).query)["state"][0]
    tampered = state[:-1] + ("B" if state.endswith("A") else "A")
    r = srv.get("/v1/auth/oauth/op/callback", params={"state": tampered, "code": "x"},
                allow_redirects=False)
    assert_problem(r, 400, "bad_request")
    # a state is for its own provider and spent once
    r = srv.get("/v1/auth/oauth/gh/callback", params={"state": state, "code": "x"},
                allow_redirects=False)
    assert_problem(r, 400, "bad_request")
    for bad in ("http://evil.example/after", "http://app.example/afterwards",
                "https://app.example/after", "http://app.example/after/../admin",
                "http://app.example:8080/after", "//app.example/after", "javascript:alert(1)",
                "http://user@app.example/after"):
        r = srv.get("/v1/auth/oauth/op/start", params={"redirect_to": bad},
                    allow_redirects=False)
        assert_problem(r, 422, "validation_failed")
    for good in ("http://app.example/after/x?y=1", "http://other.example/anything"):
        r = srv.get("/v1/auth/oauth/op/start", params={"redirect_to": good},
                    allow_redirects=False)
        assert r.status_code == 302
    r = srv.get("/v1/auth/oauth/nope/start", params={"redirect_to": APP},
                allow_redirects=False)
    assert_problem(r, 404, "not_found")
    # a refusal at the provider comes back as ?error=
    start = start_url(srv, "op")
    state = urllib.parse.parse_qs(urllib.parse.urlsplit(start).query)["state"][0]
    r = srv.get("/v1/auth/oauth/op/callback",
                params={"state": state, "error": "access_denied"}, allow_redirects=False)
    assert r.status_code == 302 and r.headers["Location"] == APP + "?error=access_denied"


@pytest.mark.parametrize("mode", ["signature", "aud", "nonce", "expired"])
def test_forged_id_tokens_refused(ctx, mode):
    srv, p = ctx["srv"], ctx["p"]
    email = unique_email("forged")
    person = {"sub": "f-" + email, "email": email, "email_verified": True}
    if mode == "nonce":  # a nonce of an earlier sign-in replayed
        p.forge("none", person)
        assert "code" in social(srv, "forged")
    p.forge(mode, person)
    assert social(srv, "forged") == {"error": "access_denied"}
    # refused for the check the forgery breaks (the log says which, never the token)
    reason = {"signature": "id_token_signature", "aud": "id_token_aud",
              "nonce": "id_token_nonce", "expired": "id_token_expired"}[mode]
    assert srv.log().count("refused: %s " % reason) >= 1
    p.forge("none", person)
    assert "code" in social(srv, "forged")


def test_2fa_asked_after_social_sign_in(ctx):
    srv, p = ctx["srv"], ctx["p"]
    email = unique_email("mfa")
    p.op_account("sub-" + email, email)
    token = exchange(srv, social(srv, "op")["code"]).json()["access_token"]
    setup = srv.post("/v1/me/mfa/totp/setup", json={}, token=token).json()
    totp = Totp(setup["secret"])
    r = srv.post("/v1/me/mfa/totp/enable", json={"code": totp.next_code()}, token=token)
    assert r.status_code == 200, r.text
    p.op_account("sub-" + email, email)
    r = exchange(srv, social(srv, "op")["code"])
    assert r.status_code == 200 and r.json()["mfa_required"] is True, r.text
    r = srv.post("/v1/auth/login/mfa", json={"mfa_token": r.json()["mfa_token"],
                                             "code": totp.next_code()})
    assert r.status_code == 200, r.text
    assert r.json()["user"]["email"] == email


# ---- organization SSO ----

def test_sso_jit_membership_and_enforce(ctx):
    srv, p, admin, sink = ctx["srv"], ctx["p"], ctx["admin"], ctx["sink"]
    domain = unique_email("acme").split("@")[0].replace("_", "-").replace(".", "-") + ".test"
    owner = register(srv, unique_email("owner"))["access_token"]
    org = srv.post("/v1/orgs", json={"name": "Acme"}, token=owner).json()
    body = {"issuer": p.op, "client_id": "acme", "client_secret": SSO_SECRET,
            "domains": [domain], "default_role": "viewer"}
    r = srv.put("/v1/orgs/%s/sso" % org["id"], json=body, token=owner)
    assert r.status_code == 200, r.text
    assert "client_secret" not in r.json() and r.json()["approved_domains"] == []
    # an account of the domain, made before enforcement
    early = "early@" + domain
    register(srv, early)
    # not approved yet: no organization signs this domain in
    r = srv.post("/v1/auth/sso/start", json={"email": "bob@" + domain, "redirect_to": APP})
    assert_problem(r, 404, "not_found")
    r = srv.post("/v1/admin/sso-domains/%s/approve" % domain, token=admin)
    assert r.status_code == 204, r.text
    # re-saving keeps the approval of unchanged domains
    r = srv.put("/v1/orgs/%s/sso" % org["id"], json=dict(body, client_secret=None), token=owner)
    assert r.status_code == 200 and r.json()["approved_domains"] == [domain], r.text
    # another org cannot claim it
    other = srv.post("/v1/orgs", json={"name": "Other"}, token=owner).json()
    r = srv.put("/v1/orgs/%s/sso" % other["id"], json=body, token=owner)
    assert_problem(r, 409, "conflict")

    bob = "bob@" + domain
    p.op_account("sso-bob-" + domain, bob, verified=True)
    r = srv.post("/v1/auth/sso/start", json={"email": bob, "redirect_to": APP})
    assert r.status_code == 200, r.text
    out = walk(srv, r.json()["url"])
    r = exchange(srv, out["code"])
    assert r.status_code == 200, r.text
    orgs = {o["id"]: o for o in me(srv, r.json()["access_token"])["organizations"]}
    assert orgs[org["id"]]["role"] == "viewer"

    # enforce: password, magic-link and social sign-in of the domain are refused
    r = srv.put("/v1/orgs/%s/sso" % org["id"], json=dict(body, enforce=True), token=owner)
    assert r.status_code == 200 and r.json()["enforce"] is True
    assert_problem(login(srv, early), 403, "sso_required")
    srv.post("/v1/auth/magic-link/request", json={"email": early})
    m = sink.wait_for_to(early, path="/magic-link")
    r = srv.post("/v1/auth/magic-link/verify", json={"token": m.token("/magic-link")})
    assert_problem(r, 403, "sso_required")
    p.gh_person(777001, None, verified=True, primary_email="carol@" + domain)
    assert social(srv, "gh") == {"error": "sso_required"}
    # but not for other domains
    outsider = unique_email("outsider")
    register(srv, outsider)
    assert login(srv, outsider).status_code == 200
    p.op_account("sub-" + outsider, outsider)
    assert "code" in social(srv, "op")
    # and SSO itself still works
    p.op_account("sso-bob-" + domain, bob, verified=True)
    r = srv.post("/v1/auth/sso/start", json={"email": bob, "redirect_to": APP})
    r = exchange(srv, walk(srv, r.json()["url"])["code"])
    assert r.status_code == 200, r.text
    r = srv.get("/v1/orgs/%s/sso" % org["id"], token=owner)
    assert r.status_code == 200 and r.json()["domains"] == [domain]
    assert srv.delete("/v1/orgs/%s/sso" % org["id"], token=owner).status_code == 204
    assert login(srv, early).status_code == 200


def test_sso_start_unknown_domain(ctx):
    srv = ctx["srv"]
    r = srv.post("/v1/auth/sso/start", json={"email": "x@unclaimed.test", "redirect_to": APP})
    assert_problem(r, 404, "not_found")
    r = srv.post("/v1/auth/sso/start",
                 json={"email": "x@unclaimed.test", "redirect_to": "http://evil.example/"})
    assert_problem(r, 422, "validation_failed")


def new_domain():
    return unique_email("dom").split("@")[0].replace("_", "-").replace(".", "-") + ".test"


def sso_org(ctx, **settings):
    """An organization (its owner's token, the org) whose SSO claims a new approved
    domain (returned too)."""
    srv, p, admin = ctx["srv"], ctx["p"], ctx["admin"]
    domain = new_domain()
    owner = register(srv, unique_email("owner"))["access_token"]
    org = srv.post("/v1/orgs", json={"name": "Org"}, token=owner).json()
    body = dict({"issuer": p.op, "client_id": "acme", "client_secret": SSO_SECRET,
                 "domains": [domain]}, **settings)
    r = srv.put("/v1/orgs/%s/sso" % org["id"], json=body, token=owner)
    assert r.status_code == 200, r.text
    assert srv.post("/v1/admin/sso-domains/%s/approve" % domain, token=admin).status_code == 204
    return owner, org, domain


def sso_sign_in(ctx, email):
    srv, p = ctx["srv"], ctx["p"]
    p.op_account("sso-" + email, email)
    r = srv.post("/v1/auth/sso/start", json={"email": email, "redirect_to": APP})
    assert r.status_code == 200, r.text
    r = exchange(srv, walk(srv, r.json()["url"])["code"])
    assert r.status_code == 200, r.text
    return r.json()


def test_join_by_email_domain(ctx):
    srv, sink = ctx["srv"], ctx["sink"]
    owner, org, domain = sso_org(ctx, join_by_email_domain=True)
    email = "dana@" + domain
    reg = register(srv, email)
    # not verified yet: no membership at sign-in
    token = login(srv, email).json()["access_token"]
    assert org["id"] not in {o["id"] for o in me(srv, token)["organizations"]}
    m = sink.wait_for_to(email, path="/verify-email")
    r = srv.post("/v1/auth/verify-email", json={"token": m.token("/verify-email")})
    assert r.status_code == 204, r.text
    # a member from the moment the email is verified
    assert org["id"] in {o["id"] for o in me(srv, token)["organizations"]}
    token = login(srv, email).json()["access_token"]
    orgs = {o["id"]: o for o in me(srv, token)["organizations"]}
    assert orgs[org["id"]]["role"] == "member"
    assert reg["user"]["id"] == me(srv, token)["id"]


def test_require_mfa_gates_org_routes(ctx):
    srv = ctx["srv"]
    owner, org, domain = sso_org(ctx)
    member = sso_sign_in(ctx, "erin@" + domain)
    mtoken, mid = member["access_token"], member["user"]["id"]
    assert srv.get("/v1/orgs/%s" % org["id"], token=mtoken).status_code == 200
    # the owner turns 2FA on, then demands it; nobody else may
    setup = srv.post("/v1/me/mfa/totp/setup", json={}, token=owner).json()
    r = srv.post("/v1/me/mfa/totp/enable", json={"code": Totp(setup["secret"]).next_code()},
                 token=owner)
    assert r.status_code == 200, r.text
    key = srv.post("/v1/orgs/%s/api-keys" % org["id"],
                   json={"name": "ci", "permissions": ["member.read"]}, token=owner).json()["key"]
    r = srv.patch("/v1/orgs/%s" % org["id"], json={"require_mfa": True}, token=mtoken)
    assert_problem(r, 403, "forbidden")
    r = srv.patch("/v1/orgs/%s" % org["id"], json={"require_mfa": True}, token=owner)
    assert r.status_code == 200 and r.json()["require_mfa"] is True, r.text
    # members without 2FA: every route of the org but leaving it
    assert_problem(srv.get("/v1/orgs/%s" % org["id"], token=mtoken), 403, "mfa_setup_required")
    assert_problem(srv.get("/v1/orgs/%s/members" % org["id"], token=mtoken), 403,
                   "mfa_setup_required")
    assert srv.get("/v1/orgs", token=mtoken).status_code == 200
    # the owner (with 2FA) and API keys are unaffected
    assert srv.get("/v1/orgs/%s/members" % org["id"], token=owner).status_code == 200
    assert srv.get("/v1/orgs/%s/members" % org["id"], token=key).status_code == 200
    r = srv.delete("/v1/orgs/%s/members/%s" % (org["id"], mid), token=mtoken)
    assert r.status_code == 204, r.text


def test_org_issuers_pass_the_public_address_guard(make_server):
    """Without PLINTH_ALLOW_PRIVATE_TARGETS an organization's issuer must be https and
    public: an address literal is refused when saved, a name that resolves to a
    private address when it is used. Also the cap on sign-ins begun per address."""
    srv = make_server(args=FAST_ARGON2,
                      env={"PLINTH_REDIRECT_ALLOWLIST": APP, "PLINTH_ALLOW_PRIVATE_TARGETS": "0",
                           "PLINTH_OAUTH_START_LIMIT": "3"})
    email = unique_email("guardadmin")
    assert admin_create(srv, email, PASSWORD).returncode == 0
    admin = login(srv, email).json()["access_token"]
    owner = register(srv, unique_email("guardowner"))["access_token"]
    org = srv.post("/v1/orgs", json={"name": "Guarded"}, token=owner).json()
    domain = new_domain()
    body = {"client_id": "c", "client_secret": "s", "domains": [domain]}
    for issuer in ("http://sso.example", "https://127.0.0.1", "https://[::1]:8443",
                   "https://169.254.169.254"):
        r = srv.put("/v1/orgs/%s/sso" % org["id"], json=dict(body, issuer=issuer), token=owner)
        assert_problem(r, 422, "validation_failed")
    r = srv.put("/v1/orgs/%s/sso" % org["id"], json=dict(body, issuer="https://localhost:9"),
                token=owner)
    assert r.status_code == 200, r.text
    assert srv.post("/v1/admin/sso-domains/%s/approve" % domain, token=admin).status_code == 204
    r = srv.post("/v1/auth/sso/start", json={"email": "x@" + domain, "redirect_to": APP})
    assert_problem(r, 503, "unavailable")
    assert "forbidden_address" in srv.log()
    # sign-ins begun per client address are capped (each is a row until it expires)
    for _ in range(2):
        r = srv.post("/v1/auth/sso/start", json={"email": "x@unclaimed.test", "redirect_to": APP})
        assert_problem(r, 404, "not_found")
    r = srv.post("/v1/auth/sso/start", json={"email": "x@unclaimed.test", "redirect_to": APP})
    assert_problem(r, 429, "rate_limited")
    assert int(r.headers["Retry-After"]) > 0


def test_answer_lands_in_the_query_before_a_fragment(ctx):
    srv = ctx["srv"]
    start = start_url(srv, "op", redirect=APP + "/x?y=1#frag")
    state = urllib.parse.parse_qs(urllib.parse.urlsplit(start).query)["state"][0]
    r = srv.get("/v1/auth/oauth/op/callback", params={"state": state, "error": "login_required"},
                allow_redirects=False)
    assert r.status_code == 302
    assert r.headers["Location"] == APP + "/x?y=1&error=access_denied#frag"
    # spent: the same state again has nowhere to go
    r = srv.get("/v1/auth/oauth/op/callback", params={"state": state, "error": "x"},
                allow_redirects=False)
    assert_problem(r, 400, "bad_request")


def test_jit_membership_takes_a_seat_of_the_plan(ctx):
    srv, admin = ctx["srv"], ctx["admin"]
    owner, org, domain = sso_org(ctx)
    limits = {k: None for k in ("members", "projects", "api_keys", "webhooks", "storage_bytes",
                                "records", "requests_per_minute")}
    limits["members"] = 1
    key = "one-seat-" + domain.split(".")[0][-8:]
    r = srv.put("/v1/admin/plans/" + key, json={"name": "One seat", "limits": limits},
                token=admin)
    assert r.status_code in (200, 201), r.text
    r = srv.put("/v1/admin/orgs/%s/plan" % org["id"], json={"plan": key}, token=admin)
    assert r.status_code == 200, r.text
    # the owner holds the only seat: the sign-in works, the membership waits
    body = sso_sign_in(ctx, "fay@" + domain)
    assert org["id"] not in {o["id"] for o in me(srv, body["access_token"])["organizations"]}
    assert "plan has no seat left" in srv.log()


def test_account_without_password_confirms_with_a_recent_sign_in(ctx):
    srv, p = ctx["srv"], ctx["p"]
    email = unique_email("leaver")
    p.op_account("sub-" + email, email)
    body = exchange(srv, social(srv, "op")["code"]).json()
    token = body["access_token"]
    # a password it does not have proves nothing, and is not needed
    r = srv.delete("/v1/me", json={}, token=token)
    assert r.status_code == 204, r.text
    assert_problem(srv.get("/v1/me", token=token), 401, "session_revoked")


def test_keys_verify_opens_every_client_secret(ctx):
    """`plinth keys verify` opens the instance providers' and the organizations'
    sealed client secrets, and names one that was moved to another row."""
    from projects_util import sql_exec, sql_rows, storage
    srv = ctx["srv"]
    _, org, _ = sso_org(ctx)  # an organization's secret too
    argv, env = storage(srv)
    p = plinth.run_cli(["keys", "verify"] + argv, env=env, timeout=60)
    assert p.returncode == 0, (p.stdout, p.stderr)
    rows = sql_rows(srv, "SELECT key, client_secret_sealed FROM identity_providers "
                         "WHERE key IN ('op', 'forged') ORDER BY key")
    sealed = {k: v for k, v in rows}
    try:
        sql_exec(srv, "UPDATE identity_providers SET client_secret_sealed = '%s' "
                      "WHERE key = 'op'" % sealed["forged"])
        p = plinth.run_cli(["keys", "verify"] + argv, env=env, timeout=60)
        assert p.returncode == 1, (p.stdout, p.stderr)
        assert "identity provider op" in p.stderr, p.stderr
        assert OP_SECRET not in p.stderr + p.stdout
    finally:
        sql_exec(srv, "UPDATE identity_providers SET client_secret_sealed = '%s' "
                      "WHERE key = 'op'" % sealed["op"])
    # an organization's secret moved to another organization does not open either
    mine = sql_rows(srv, "SELECT client_secret_sealed FROM org_sso WHERE org_id = '%s'"
                    % org["id"], org_id=org["id"])[0][0]
    sql_exec(srv, "UPDATE org_sso SET client_secret_sealed = '%s' WHERE org_id = '%s'"
             % (sealed["op"], org["id"]), org_id=org["id"])
    try:
        p = plinth.run_cli(["keys", "verify"] + argv, env=env, timeout=60)
        assert p.returncode == 1, (p.stdout, p.stderr)
        assert "SSO client secret of organization %s" % org["id"] in p.stderr, p.stderr
    finally:
        sql_exec(srv, "UPDATE org_sso SET client_secret_sealed = '%s' WHERE org_id = '%s'"
                 % (mine, org["id"]), org_id=org["id"])


def test_purge_removes_expired_sign_ins_of_every_kind(ctx):
    from projects_util import sql_exec, sql_rows
    from webhooks_util import wait_until
    srv = ctx["srv"]
    _, org, _ = sso_org(ctx)
    row = ("INSERT INTO oauth_states (state_hash, provider_key, org_id, nonce, code_verifier, "
           "redirect_to, expires_at, created_at) VALUES ('%s', %s, %s, 'n', 'v', 'x', 1, 1)")
    sql_exec(srv, row % ("purge-sso-" + org["id"], "NULL", "'%s'" % org["id"]), org_id=org["id"])
    sql_exec(srv, row % ("purge-op-" + org["id"], "'op'", "NULL"))

    def left():
        return int(sql_rows(srv, "SELECT count(*) FROM oauth_states WHERE state_hash LIKE "
                                 "'purge-%%-%s'" % org["id"], org_id=org["id"])[0][0])
    assert left() == 2
    # the hourly schedule, due now
    sql_exec(srv, "UPDATE schedules SET next_run_at = 0 WHERE name = 'identity.purge'")
    wait_until(lambda: left() == 0, timeout=60, what="expired sign-ins purged")
