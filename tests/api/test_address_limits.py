"""Per-address hourly limits on the unauthenticated actions that cost the
server work or mail (issue 11): registration (--register-limit), password
reset requests and submissions (--reset-limit), and email verification
(--verify-limit); and a password reset checks its token before it hashes the
new password, so a bogus token costs no Argon2id.

The module server trusts 127.0.0.1 as a proxy and sets each limit to 3, so
every test acts from client addresses of its own (X-Forwarded-For)."""

import itertools
import re

import pytest

import plinth
from plinth import assert_problem
from accounts_util import FAST_ARGON2, PASSWORD, register, unique_email

LIMIT = 3
NEW_PASSWORD = "a brand new passphrase 42"

_ips = itertools.count(1)


def new_ip():
    n = next(_ips)
    return "198.51.100.%d" % n


@pytest.fixture(scope="module")
def srv(make_module_server):
    return make_module_server(args=FAST_ARGON2, env={
        "PLINTH_TRUSTED_PROXIES": "127.0.0.1/32",
        "PLINTH_REGISTER_LIMIT": str(LIMIT), "PLINTH_RESET_LIMIT": str(LIMIT),
        "PLINTH_VERIFY_LIMIT": str(LIMIT)})


def xff(ip):
    return {"X-Forwarded-For": ip}


def assert_limited(r):
    assert_problem(r, 429, "rate_limited")
    assert int(r.headers["Retry-After"]) >= 1


def hashes(srv):
    text = srv.get("/metrics").text
    m = re.search(r"^plinth_password_hashes_total(?:\{\})? (\d+)$", text, re.M)
    assert m, text
    return int(m.group(1))


def test_registrations_per_address(srv):
    ip = new_ip()
    for _ in range(LIMIT):
        register(srv, headers=xff(ip))
    r = srv.post("/v1/auth/register", json={"email": unique_email(), "password": PASSWORD,
                                           "name": "One Too Many"}, headers=xff(ip))
    assert_limited(r)
    register(srv, headers=xff(new_ip()))     # another address is not held back


def test_reset_requests_and_submissions_share_a_limit(srv):
    ip = new_ip()
    for _ in range(LIMIT - 1):
        r = srv.post("/v1/auth/password-reset/request", json={"email": unique_email()},
                     headers=xff(ip))
        assert r.status_code == 202, r.text
    r = srv.post("/v1/auth/password-reset", json={"token": "bogus-token",
                                                 "new_password": NEW_PASSWORD}, headers=xff(ip))
    assert_problem(r, 422, "invalid_token")
    assert_limited(srv.post("/v1/auth/password-reset/request", json={"email": unique_email()},
                            headers=xff(ip)))
    assert_limited(srv.post("/v1/auth/password-reset",
                            json={"token": "bogus-token", "new_password": NEW_PASSWORD},
                            headers=xff(ip)))
    r = srv.post("/v1/auth/password-reset/request", json={"email": unique_email()},
                 headers=xff(new_ip()))
    assert r.status_code == 202, r.text


def test_verification_per_address(srv):
    ip = new_ip()
    for _ in range(LIMIT):
        r = srv.post("/v1/auth/verify-email", json={"token": "bogus-token"}, headers=xff(ip))
        assert_problem(r, 422, "invalid_token")
    assert_limited(srv.post("/v1/auth/verify-email", json={"token": "bogus-token"},
                            headers=xff(ip)))
    token = register(srv, headers=xff(new_ip()))["access_token"]
    assert_limited(srv.post("/v1/auth/verify-email/request", json={}, token=token,
                            headers=xff(ip)))


def test_bogus_reset_token_costs_no_hash(srv):
    before = hashes(srv)
    for _ in range(LIMIT):
        r = srv.post("/v1/auth/password-reset", json={"token": "x" * 43,
                                                     "new_password": NEW_PASSWORD},
                     headers=xff(new_ip()))
        assert_problem(r, 422, "invalid_token")
    assert hashes(srv) == before
    register(srv, headers=xff(new_ip()))     # the counter does count hashes
    assert hashes(srv) == before + 1


def test_limits_in_help():
    out = plinth.run_cli(["serve", "--help"]).stdout
    for flag in ("--register-limit", "--reset-limit", "--verify-limit"):
        assert flag in out, out
