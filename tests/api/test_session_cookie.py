"""Browser sessions (API.md, Dashboards): sign-in with "session_cookie": true puts
the refresh token in the HttpOnly cookie plinth_refresh (SameSite=Strict,
Path=/v1/auth) instead of the body; POST /v1/auth/refresh without a body token
reads it when the request carries X-Plinth-CSRF: 1, and rotates it."""

import re

import pytest
import requests

from plinth import assert_problem
from accounts_util import FAST_ARGON2, PASSWORD, register
from test_audit import Totp

COOKIE = "plinth_refresh"


@pytest.fixture(scope="module")
def srv(make_module_server):
    return make_module_server(args=FAST_ARGON2)


def set_cookie(r):
    """(value, attributes) of the plinth_refresh Set-Cookie of r, or None."""
    h = r.headers.get("Set-Cookie")
    if not h:
        return None
    m = re.match(r"plinth_refresh=([^;]*)((?:;.*)?)$", h)
    assert m, h
    attrs = [a.strip() for a in m.group(2).split(";") if a.strip()]
    return m.group(1), attrs


def cookie_refresh(srv, value, csrf=True):
    h = {"Cookie": "%s=%s" % (COOKIE, value)}
    if csrf:
        h["X-Plinth-CSRF"] = "1"
    return requests.post(srv.url + "/v1/auth/refresh", json={}, headers=h, timeout=10)


def test_login_sets_the_cookie_and_refresh_rotates_it(srv):
    u = register(srv)
    r = srv.post("/v1/auth/login", json={"email": u["user"]["email"], "password": PASSWORD,
                                         "session_cookie": True})
    assert r.status_code == 200, r.text
    body = r.json()
    assert "refresh_token" not in body and body["access_token"] and body["user"]["id"]
    value, attrs = set_cookie(r)
    assert value
    assert {"Path=/v1/auth", "HttpOnly", "SameSite=Strict"} <= set(attrs), attrs
    assert "Max-Age=2592000" in attrs and "Secure" not in attrs

    # without the CSRF header the cookie is not read
    assert_problem(cookie_refresh(srv, value, csrf=False), 422, "validation_failed")
    r2 = cookie_refresh(srv, value)
    assert r2.status_code == 200, r2.text
    assert "refresh_token" not in r2.json()
    new, _ = set_cookie(r2)
    assert new and new != value
    assert srv.get("/v1/me", token=r2.json()["access_token"]).status_code == 200

    # the spent cookie is a reuse: the session is revoked and the cookie removed
    r3 = cookie_refresh(srv, value)
    assert_problem(r3, 401, "refresh_token_reused")
    gone, attrs = set_cookie(r3)
    assert gone == "" and "Max-Age=0" in attrs
    assert_problem(cookie_refresh(srv, new), 401, "session_revoked")


def test_body_tokens_are_unchanged(srv):
    u = register(srv)
    r = srv.post("/v1/auth/login", json={"email": u["user"]["email"], "password": PASSWORD})
    assert "refresh_token" in r.json() and "Set-Cookie" not in r.headers
    r2 = srv.post("/v1/auth/refresh", json={"refresh_token": r.json()["refresh_token"]},
                  headers={"X-Plinth-CSRF": "1"})
    assert r2.status_code == 200 and "refresh_token" in r2.json()
    assert "Set-Cookie" not in r2.headers


def test_mfa_and_register_and_logout(srv):
    reg = srv.post("/v1/auth/register", json={"email": "cookie-%s@example.com" % id(srv),
                                              "password": PASSWORD, "name": "C",
                                              "session_cookie": True})
    assert reg.status_code == 201 and "refresh_token" not in reg.json()
    assert set_cookie(reg)[0]
    token = reg.json()["access_token"]
    setup = srv.post("/v1/me/mfa/totp/setup", token=token).json()
    totp = Totp(setup["secret"])
    assert srv.post("/v1/me/mfa/totp/enable", json={"code": totp.next_code()},
                    token=token).status_code == 200
    r = srv.post("/v1/auth/login", json={"email": reg.json()["user"]["email"],
                                         "password": PASSWORD, "session_cookie": True})
    assert r.json()["mfa_required"] and "Set-Cookie" not in r.headers
    r = srv.post("/v1/auth/login/mfa", json={"mfa_token": r.json()["mfa_token"],
                                             "code": totp.next_code(), "session_cookie": True})
    assert r.status_code == 200 and "refresh_token" not in r.json()
    value = set_cookie(r)[0]
    out = srv.post("/v1/auth/logout", token=r.json()["access_token"])
    assert out.status_code == 204
    assert set_cookie(out) == ("", ["Path=/v1/auth", "Max-Age=0", "HttpOnly", "SameSite=Strict"])
    assert_problem(cookie_refresh(srv, value), 401, "session_revoked")


def test_secure_over_https(make_server):
    s = make_server(args=FAST_ARGON2, env={"PLINTH_PUBLIC_URL": "https://app.example"})
    u = register(s)
    r = s.post("/v1/auth/login", json={"email": u["user"]["email"], "password": PASSWORD,
                                       "session_cookie": True})
    assert "Secure" in set_cookie(r)[1]
