"""Black-box tests of magic links (issue 20): the email and its link, single use, the
15-minute expiry (the token's row is aged in the database, as other tests age
theirs), the per-address and per-IP email caps, two-factor still asked, and failed
verifies counted as failed sign-ins. Mail goes through a real SMTP sink; each test
acts from its own client IP (X-Forwarded-For through a trusted proxy)."""

import itertools
import os
import sqlite3

import pytest

import plinth
from plinth import assert_problem
from accounts_util import FAST_ARGON2, PASSWORD, login, me, register, unique_email
from smtp_sink import PUBLIC_URL, mail_env, smtp_sink  # noqa: F401
from test_mfa import Totp

_ips = itertools.count(1)


def new_ip():
    n = next(_ips)
    return "192.0.%d.%d" % (n // 250 + 2, n % 250 + 1)


def xff(ip):
    return {"X-Forwarded-For": ip}


@pytest.fixture(scope="module")
def srv(make_module_server, smtp_sink):  # noqa: F811
    return make_module_server(args=FAST_ARGON2, workers=2,
                              env=mail_env(smtp_sink, {"PLINTH_TRUSTED_PROXIES": "127.0.0.1/32"}))


def db_exec(server, sql):
    if server.pg_url:
        plinth.psql(sql, url=server.pg_url)
        return
    con = sqlite3.connect(os.path.join(server.data_dir, "plinth.db"), timeout=10)
    try:
        con.execute(sql)
        con.commit()
    finally:
        con.close()


def request(srv, email, ip):
    r = srv.post("/v1/auth/magic-link/request", json={"email": email}, headers=xff(ip))
    assert r.status_code == 202, r.text
    return r


def verify(srv, token, ip):
    return srv.post("/v1/auth/magic-link/verify", json={"token": token}, headers=xff(ip))


def link_token(sink, email, after=0):
    m = sink.wait_for_to(email, path="/magic-link", after=after)
    assert m.link("/magic-link").startswith(PUBLIC_URL + "/magic-link?token=")
    return m.token("/magic-link")


def links_to(sink, email, wait=0.0):
    """How many sign-in links went to email (after waiting `wait` s)."""
    import time
    time.sleep(wait)
    return len([m for m in sink.messages(to=email)
                if PUBLIC_URL + "/magic-link?token=" in (m.part("text/plain") or "")])


def test_link_signs_in_once(srv, smtp_sink):  # noqa: F811
    email = unique_email("ml")
    reg = register(srv, email)
    assert reg["user"]["email_verified"] is False
    ip = new_ip()
    request(srv, email.upper(), ip)      # addresses compare case-insensitively
    msg = smtp_sink.wait_for_to(email, path="/magic-link")
    assert "15 minutes" in msg.text()
    token = msg.token("/magic-link")
    r = verify(srv, token, ip)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["token_type"] == "Bearer" and body["user"]["id"] == reg["user"]["id"]
    # the link proved the mailbox
    assert body["user"]["email_verified"] is True
    assert me(srv, body["access_token"]).json()["email_verified"] is True
    # single use
    b = assert_problem(verify(srv, token, ip), 422, "invalid_token")
    assert b["errors"][0]["field"] == "token"
    evs = srv.get("/v1/me/security-events", token=body["access_token"]).json()["data"]
    ev = [e for e in evs if e["action"] == "user.logged_in"][0]
    assert ev["data"] == {"method": "magic_link", "mfa": False}, ev
    assert token not in str(evs)


def test_link_opens_a_browser_session(srv, smtp_sink):  # noqa: F811
    """The account portal's /magic-link page asks for a browser session: the
    refresh token comes as the plinth_refresh cookie, not in the body."""
    email = unique_email("mlcookie")
    register(srv, email)
    ip = new_ip()
    request(srv, email, ip)
    token = link_token(smtp_sink, email)
    r = srv.post("/v1/auth/magic-link/verify", json={"token": token, "session_cookie": "yes"},
                 headers=xff(ip))
    assert_problem(r, 422, "validation_failed")
    r = srv.post("/v1/auth/magic-link/verify", json={"token": token, "session_cookie": True},
                 headers=xff(ip))
    assert r.status_code == 200, r.text
    assert "refresh_token" not in r.json() and r.json()["access_token"]
    cookie = r.headers.get("Set-Cookie", "")
    assert cookie.startswith("plinth_refresh=") and "HttpOnly" in cookie, cookie


def test_link_expires_after_15_minutes(srv, smtp_sink):  # noqa: F811
    email = unique_email("mlexp")
    register(srv, email)
    ip = new_ip()
    request(srv, email, ip)
    token = link_token(smtp_sink, email)
    # 15 minutes pass: the row is aged as time would age it
    db_exec(srv, "UPDATE magic_links SET created_at = created_at - 901000, "
                 "expires_at = expires_at - 901000 WHERE email = '%s'" % email)
    assert_problem(verify(srv, token, ip), 422, "invalid_token")
    # a fresh link still works (the aged one does not count toward the cap either way)
    request(srv, email, ip)
    r = verify(srv, link_token(smtp_sink, email, after=1), ip)
    assert r.status_code == 200, r.text


def test_per_address_cap(srv, smtp_sink):  # noqa: F811
    email = unique_email("mlcap")
    register(srv, email)
    for _ in range(7):
        request(srv, email, new_ip())    # 202 every time
    link_token(smtp_sink, email, after=4)
    assert links_to(smtp_sink, email, wait=2.0) == 5
    # an hour later the address may get links again
    db_exec(srv, "UPDATE magic_links SET created_at = created_at - 3601000 "
                 "WHERE email = '%s'" % email)
    request(srv, email, new_ip())
    link_token(smtp_sink, email, after=5)


def test_per_ip_cap(srv, smtp_sink):  # noqa: F811
    ip = new_ip()
    emails = [unique_email("mlip") for _ in range(22)]
    for e in emails:
        register(srv, e)
    for e in emails:
        request(srv, e, ip)
    for e in emails[:20]:
        link_token(smtp_sink, e)
    assert links_to(smtp_sink, emails[20], wait=2.0) == 0
    assert links_to(smtp_sink, emails[21]) == 0
    # another client IP is not capped
    request(srv, emails[21], new_ip())
    link_token(smtp_sink, emails[21])


def test_unknown_and_malformed_addresses(srv, smtp_sink):  # noqa: F811
    nobody = unique_email("nobody")
    request(srv, nobody, new_ip())
    assert links_to(smtp_sink, nobody, wait=1.0) == 0
    for bad in ("not-an-email", "a@b"):
        r = srv.post("/v1/auth/magic-link/request", json={"email": bad})
        assert_problem(r, 422, "validation_failed")
    assert_problem(srv.post("/v1/auth/magic-link/request", json={}), 422, "validation_failed")
    assert_problem(srv.post("/v1/auth/magic-link/verify", json={}), 422, "validation_failed")


def test_two_factor_still_asked(srv, smtp_sink):  # noqa: F811
    email = unique_email("mlmfa")
    reg = register(srv, email)
    tok = reg["access_token"]
    setup = srv.post("/v1/me/mfa/totp/setup", json={}, token=tok).json()
    totp = Totp(setup["secret"])
    assert srv.post("/v1/me/mfa/totp/enable", json={"code": totp.next_code()},
                    token=tok).status_code == 200
    ip = new_ip()
    request(srv, email, ip)
    r = verify(srv, link_token(smtp_sink, email), ip)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body == {"mfa_required": True, "mfa_token": body["mfa_token"],
                    "mfa_methods": ["totp", "recovery_code"]}, body
    r = srv.post("/v1/auth/login/mfa", json={"mfa_token": body["mfa_token"],
                                            "code": totp.next_code()}, headers=xff(ip))
    assert r.status_code == 200, r.text
    evs = srv.get("/v1/me/security-events", token=r.json()["access_token"]).json()["data"]
    ev = [e for e in evs if e["action"] == "user.logged_in"][0]
    assert ev["data"] == {"method": "magic_link", "mfa": True}, ev


def test_failed_verify_counts_as_failed_sign_in(srv):
    email = unique_email("mlthr")
    register(srv, email)
    ip = new_ip()
    # 50 failed sign-ins per client IP per 10 minutes, whatever the way in
    for i in range(50):
        assert_problem(verify(srv, "x" * 43 + str(i), ip), 422, "invalid_token")
    assert_problem(verify(srv, "y" * 43, ip), 429, "rate_limited")
    r = login(srv, email, PASSWORD, headers=xff(ip))
    assert_problem(r, 429, "rate_limited")
    # another IP signs in
    assert login(srv, email, PASSWORD, headers=xff(new_ip())).status_code == 200
