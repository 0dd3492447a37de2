"""Black-box tests of registration, sign-in, /v1/me and password changes (issue 3)."""

import statistics
import time

import pytest

import plinth
from plinth import assert_problem
from accounts_util import (FAST_ARGON2, PASSWORD, TIME_RE, assert_token_pair, assert_user,
                           db_scalar, login, login_ok, me, register, unique_email)


@pytest.fixture(scope="module")
def srv(make_module_server):
    return make_module_server(args=FAST_ARGON2)


def field_errors(body):
    assert isinstance(body.get("errors"), list) and body["errors"], body
    return {e["field"] for e in body["errors"]}


# --- register -----------------------------------------------------------------

def test_register_returns_token_pair_and_personal_org(srv):
    email = unique_email("reg")
    r = srv.post("/v1/auth/register", json={"email": email, "password": PASSWORD,
                                            "name": "Ada Lovelace"})
    assert r.status_code == 201, r.text
    assert r.headers["Content-Type"].split(";")[0] == "application/json"
    body = r.json()
    assert_token_pair(body, ttl=900, email=email)
    assert body["user"]["name"] == "Ada Lovelace"
    org = body["organization"]
    assert set(org) >= {"id", "name", "slug", "personal", "created_at", "role"}, org
    assert org["personal"] is True
    assert org["role"] == "owner"
    assert isinstance(org["slug"], str) and org["slug"]
    assert TIME_RE.match(org["created_at"]), org
    assert org["id"] != body["user"]["id"]
    # The access token works at once and shows the same user and org.
    m = me(srv, body["access_token"])
    assert m.status_code == 200, m.text
    mb = m.json()
    assert_user(mb, email=email, name="Ada Lovelace")
    assert mb["id"] == body["user"]["id"]
    orgs = [{k: o.get(k) for k in ("id", "name", "slug", "personal", "role")}
            for o in mb["organizations"]]
    assert orgs == [{"id": org["id"], "name": org["name"], "slug": org["slug"],
                     "personal": True, "role": "owner"}], mb


def test_register_access_ttl_follows_flag(make_server):
    s = make_server(args=FAST_ARGON2 + ["--access-ttl", "120"])
    body = register(s)
    assert body["expires_in"] == 120
    r = login(s, body["user"]["email"])
    assert r.status_code == 200 and r.json()["expires_in"] == 120, r.text


def test_register_normalises_email(srv):
    local = unique_email("Norm").split("@")[0]
    raw = "  %s@EXAMPLE.Com \t" % local.upper()
    body = register(srv, email=raw)
    assert body["user"]["email"] == "%s@example.com" % local.lower()
    # Sign-in with any case/whitespace variant works.
    r = login(srv, " %s@Example.COM " % local.upper())
    assert r.status_code == 200, r.text
    assert r.json()["user"]["id"] == body["user"]["id"]


@pytest.mark.parametrize("variant", ["same", "upper", "spaces"])
def test_register_duplicate_email(srv, variant):
    email = unique_email("dup")
    register(srv, email=email)
    other = {"same": email, "upper": email.upper(), "spaces": "  %s  " % email}[variant]
    r = srv.post("/v1/auth/register", json={"email": other, "password": PASSWORD,
                                            "name": "Second"})
    assert_problem(r, 409, "email_taken")
    # The original password still works: nothing was overwritten.
    assert login(srv, email).status_code == 200


@pytest.mark.parametrize("body,field", [
    ({"password": PASSWORD, "name": "N"}, "email"),
    ({"email": "", "password": PASSWORD, "name": "N"}, "email"),
    ({"email": "not-an-email", "password": PASSWORD, "name": "N"}, "email"),
    ({"email": "a@", "password": PASSWORD, "name": "N"}, "email"),
    ({"email": 42, "password": PASSWORD, "name": "N"}, "email"),
    ({"email": "@", "password": PASSWORD, "name": "N"}, "email"),
    ({"email": "EMAIL", "name": "N"}, "password"),
    ({"email": "EMAIL", "password": 1234567890123, "name": "N"}, "password"),
    ({"email": "EMAIL", "password": PASSWORD}, "name"),
    ({"email": "EMAIL", "password": PASSWORD, "name": ""}, "name"),
    ({"email": "EMAIL", "password": PASSWORD, "name": "x" * 201}, "name"),
    ({"email": "EMAIL", "password": PASSWORD, "name": None}, "name"),
    ({"email": "EMAIL", "password": PASSWORD, "name": "\u00e9" * 101}, "name"),
], ids=["no-email", "empty-email", "no-at", "no-domain", "email-number", "bare-at",
        "no-password", "password-number", "no-name", "empty-name", "long-name",
        "null-name", "long-name-utf8"])
def test_register_validation(srv, body, field):
    email = unique_email("val")
    body = {k: (email if v == "EMAIL" else v) for k, v in body.items()}
    r = srv.post("/v1/auth/register", json=body)
    problem = assert_problem(r, 422, "validation_failed")
    assert field in field_errors(problem), problem
    for e in problem["errors"]:
        assert set(e) >= {"field", "code", "message"}, e
    # Nothing was created: if the email was valid, it is still free.
    if body.get("email") == email:
        register(srv, email=email)


def test_register_name_limits(srv):
    body = register(srv, name="x" * 200)
    assert body["user"]["name"] == "x" * 200
    body = register(srv, name="Z")
    assert body["user"]["name"] == "Z"
    body = register(srv, name="\u00e9" * 100)          # 100 characters, 200 bytes
    assert body["user"]["name"] == "\u00e9" * 100


def test_register_bad_json(srv):
    r = srv.post("/v1/auth/register", data=b'{"email": ', headers={
        "Content-Type": "application/json"})
    assert_problem(r, 400, "invalid_json")
    r = srv.post("/v1/auth/register", json=["not", "an", "object"])
    assert r.status_code in (400, 422), r.text


WEAK = [
    ("short", "Sh0rt!pw9"),                        # 9 characters
    ("short-utf8", "\u00e9\u00e8\u00ea\u00eb\u00e0\u00e2\u00e4\u00f4\u00f6"),  # 9 chars, 18 bytes
    ("too-long", "Ab1!" * 64 + "x"),               # 257 bytes
    ("too-long-utf8", "\u00e9" * 129),             # 129 characters, 258 bytes
    ("common-1", "password123"),
    ("common-2", "qwertyuiop"),
    ("common-3", "1234567890"),
    ("two-distinct", "abababababab"),
    ("one-distinct", "aaaaaaaaaaaaaaaa"),
]


@pytest.mark.parametrize("password", [p for _, p in WEAK], ids=[i for i, _ in WEAK])
def test_register_weak_password(srv, password):
    email = unique_email("weak")
    r = srv.post("/v1/auth/register", json={"email": email, "password": password, "name": "W"})
    problem = assert_problem(r, 422, "weak_password")
    assert "password" in field_errors(problem), problem
    # Nothing created.
    register(srv, email=email)


def test_register_password_equal_to_email(srv):
    email = unique_email("same")
    r = srv.post("/v1/auth/register", json={"email": email, "password": email, "name": "S"})
    problem = assert_problem(r, 422, "weak_password")
    assert "password" in field_errors(problem), problem


@pytest.mark.parametrize("password", [
    "\u00e9\u00e8\u00ea\u00eb\u00e0\u00e2\u00e4\u00f4\u00f6\u00fc",  # 10 characters (20 bytes)
    "Ab1!cdEF9x",                                                      # exactly 10
    "Ab1!" * 64,                                                       # exactly 256 bytes
], ids=["utf8-10-chars", "ten-ascii", "256-bytes"])
def test_register_password_boundaries_accepted(srv, password):
    body = register(srv, password=password)
    assert login(srv, body["user"]["email"], password).status_code == 200


def test_register_with_invitation_token_creates_nothing(srv):
    email = unique_email("inv")
    r = srv.post("/v1/auth/register", json={"email": email, "password": PASSWORD, "name": "I",
                                            "invitation_token": "no-such-invitation"})
    assert_problem(r, 422, "invalid_token")
    assert_problem(login(srv, email), 401, "invalid_credentials")
    # The email is still free.
    register(srv, email=email)


# --- sign-in ----------------------------------------------------------------------

def test_login_returns_token_pair(srv):
    reg = register(srv, name="Login Me")
    email = reg["user"]["email"]
    r = login(srv, email)
    assert r.status_code == 200, r.text
    body = r.json()
    assert_token_pair(body, email=email)
    assert body["user"]["id"] == reg["user"]["id"]
    assert body["user"]["name"] == "Login Me"
    assert body["access_token"] != reg["access_token"]
    assert body["refresh_token"] != reg["refresh_token"]
    assert me(srv, body["access_token"]).status_code == 200


@pytest.mark.parametrize("body,field", [
    ({"password": PASSWORD}, "email"),
    ({"email": "EMAIL"}, "password"),
], ids=["no-email", "no-password"])
def test_login_validation(srv, body, field):
    email = unique_email("lv")
    body = {k: (email if v == "EMAIL" else v) for k, v in body.items()}
    r = srv.post("/v1/auth/login", json=body)
    problem = assert_problem(r, 422, "validation_failed")
    assert field in field_errors(problem), problem


PUBLIC = ("type", "title", "status", "code", "detail")


def test_login_no_enumeration_same_body(srv):
    email = register(srv)["user"]["email"]
    wrong = login(srv, email, "Not the password 42")
    unknown = login(srv, unique_email("nobody"), "Not the password 42")
    a = assert_problem(wrong, 401, "invalid_credentials")
    b = assert_problem(unknown, 401, "invalid_credentials")
    assert {k: a[k] for k in PUBLIC} == {k: b[k] for k in PUBLIC}
    assert set(a) == set(b), (a, b)
    assert a["request_id"] != b["request_id"]
    assert wrong.headers.get("WWW-Authenticate") == unknown.headers.get("WWW-Authenticate")


def test_login_no_enumeration_timing(make_server):
    # Default Argon2 parameters: the hash dominates the time of both paths.
    s = make_server()
    emails = [register(s)["user"]["email"] for _ in range(3)]
    login_ok(s, emails[0])          # warm up

    def timed(email):
        t = time.perf_counter()
        r = login(s, email, "Not the password 42")
        d = time.perf_counter() - t
        assert_problem(r, 401, "invalid_credentials")
        return d

    wrong = []
    unknown = []
    for i in range(6):
        # Each (email, IP) pair gets at most 2 failures: far from the 5/min throttle.
        wrong.append(timed(emails[i % 3]))
        unknown.append(timed(unique_email("ghost")))
    mw, mu = statistics.median(wrong), statistics.median(unknown)
    assert mu >= 0.5 * mw, "unknown email %.1f ms vs wrong password %.1f ms" % (
        mu * 1000, mw * 1000)


def test_login_wrong_password_case_sensitive(srv):
    email = register(srv)["user"]["email"]
    assert_problem(login(srv, email, PASSWORD.upper()), 401, "invalid_credentials")
    assert login(srv, email).status_code == 200


# --- /v1/me ---------------------------------------------------------------------

def test_me_requires_auth(srv):
    assert_problem(srv.get("/v1/me"), 401, "unauthenticated")
    assert_problem(srv.patch("/v1/me", json={"name": "x"}), 401, "unauthenticated")
    assert_problem(srv.post("/v1/me/password", json={"current_password": PASSWORD,
                                                     "new_password": "x" * 20}),
                   401, "unauthenticated")


def test_patch_me_name(srv):
    reg = register(srv, name="Old Name")
    tok = reg["access_token"]
    r = srv.patch("/v1/me", json={"name": "New Name"}, token=tok)
    assert r.status_code == 200, r.text
    assert_user(r.json(), email=reg["user"]["email"], name="New Name")
    assert r.json()["id"] == reg["user"]["id"]
    assert me(srv, tok).json()["name"] == "New Name"
    # Sign-in reports the new name too.
    assert login_ok(srv, reg["user"]["email"])["user"]["name"] == "New Name"


@pytest.mark.parametrize("body", [{"name": ""}, {"name": "y" * 201}, {"name": 7}],
                         ids=["empty", "too-long", "number"])
def test_patch_me_invalid(srv, body):
    reg = register(srv, name="Keep")
    r = srv.patch("/v1/me", json=body, token=reg["access_token"])
    problem = assert_problem(r, 422, "validation_failed")
    assert "name" in field_errors(problem), problem
    assert me(srv, reg["access_token"]).json()["name"] == "Keep"


def test_change_password(srv):
    reg = register(srv)
    email = reg["user"]["email"]
    keep = reg["access_token"]
    other = login_ok(srv, email)
    new = "a brand new passphrase 7"
    r = srv.post("/v1/me/password", json={"current_password": PASSWORD, "new_password": new},
                 token=keep)
    assert r.status_code == 204, r.text
    assert r.content == b""
    # The calling session survives; every other one is revoked.
    assert me(srv, keep).status_code == 200
    assert_problem(me(srv, other["access_token"]), 401, "session_revoked")
    r = srv.post("/v1/auth/refresh", json={"refresh_token": other["refresh_token"]})
    assert r.status_code == 401, r.text
    assert_problem(login(srv, email, PASSWORD), 401, "invalid_credentials")
    assert login(srv, email, new).status_code == 200


def test_change_password_wrong_current(srv):
    reg = register(srv)
    r = srv.post("/v1/me/password", json={"current_password": "Wrong password 1",
                                          "new_password": "another good passphrase"},
                 token=reg["access_token"])
    problem = assert_problem(r, 422, "validation_failed")
    errs = [e for e in problem["errors"] if e["field"] == "current_password"]
    assert errs and errs[0]["code"] == "incorrect", problem
    # Unchanged.
    assert login(srv, reg["user"]["email"]).status_code == 200


@pytest.mark.parametrize("new", ["short", "password123", "qwertyuiop", "aaaaaaaaaaaa"])
def test_change_password_weak(srv, new):
    reg = register(srv)
    r = srv.post("/v1/me/password", json={"current_password": PASSWORD, "new_password": new},
                 token=reg["access_token"])
    problem = assert_problem(r, 422, "weak_password")
    assert "new_password" in field_errors(problem) or "password" in field_errors(problem)
    assert login(srv, reg["user"]["email"]).status_code == 200


# --- hashing parameters -----------------------------------------------------------

def test_argon2_rehash_on_login(make_server):
    s = make_server(args=FAST_ARGON2)
    email = register(s)["user"]["email"]
    sql = "SELECT password_hash FROM users WHERE email = '%s'" % email
    before = db_scalar(s, sql)
    assert before.startswith("$argon2id$"), before
    assert "t=1" in before, before
    s.args = ["--argon2-memory", "65536", "--argon2-ops", "2"]
    s.restart()
    assert db_scalar(s, sql) == before       # nothing rehashed until the next sign-in
    login_ok(s, email)
    after = db_scalar(s, sql)
    assert after.startswith("$argon2id$") and "t=2" in after, after
    # The new hash verifies.
    login_ok(s, email)
    assert_problem(login(s, email, "Wrong password 77"), 401, "invalid_credentials")


# --- metrics ------------------------------------------------------------------------

def test_auth_attempt_metrics(srv):
    def values():
        samples = plinth.parse_metrics(srv.get("/metrics").text)
        return (plinth.metric_value(samples, "plinth_auth_attempts_total", outcome="success")
                or 0.0,
                plinth.metric_value(samples, "plinth_auth_attempts_total", outcome="failure")
                or 0.0)

    email = register(srv)["user"]["email"]
    s0, f0 = values()
    login_ok(srv, email)
    assert_problem(login(srv, email, "Wrong password 77"), 401, "invalid_credentials")
    assert_problem(login(srv, email, "Wrong password 78"), 401, "invalid_credentials")
    s1, f1 = values()
    assert s1 == s0 + 1, (s0, s1)
    assert f1 == f0 + 2, (f0, f1)
