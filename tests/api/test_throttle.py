"""Black-box tests of the sign-in brute-force throttles (issue 3).

The module server trusts 127.0.0.1 as a proxy, so every test signs in from its own
client IP (X-Forwarded-For) and the per-IP counters of one test do not leak into
another. test_lockout_after_ten_consecutive_failures waits out the one-minute window
once (61 s).
"""

import itertools
import time

import pytest

import plinth
from plinth import assert_problem
from accounts_util import (FAST_ARGON2, PASSWORD, jwt_parts, login, login_ok, register,
                           unique_email)

WRONG = "Definitely wrong password 9"

_ips = itertools.count(1)


def new_ip():
    n = next(_ips)
    return "198.51.%d.%d" % (n // 250, n % 250 + 1)


def xff(ip):
    return {"X-Forwarded-For": ip}


@pytest.fixture(scope="module")
def srv(make_module_server):
    return make_module_server(args=FAST_ARGON2,
                              env={"PLINTH_TRUSTED_PROXIES": "127.0.0.1/32"})


def fail(server, email, ip, n=1):
    for _ in range(n):
        assert_problem(login(server, email, WRONG, headers=xff(ip)), 401, "invalid_credentials")


def assert_throttled(r, code, lo=1, hi=60):
    body = assert_problem(r, 429, code)
    ra = r.headers.get("Retry-After")
    assert ra is not None and ra.strip().isdigit(), r.headers
    assert lo <= int(ra) <= hi, (ra, body)
    assert "access_token" not in r.text
    return int(ra)


def test_client_ip_from_trusted_proxy(srv):
    ip = new_ip()
    reg = register(srv)
    tok = login_ok(srv, reg["user"]["email"], headers=xff(ip))["access_token"]
    sid = jwt_parts(tok)[1]["sid"]
    data = srv.get("/v1/auth/sessions", token=tok).json()["data"]
    assert {s["id"]: s["ip"] for s in data}[sid] == ip, data


def test_five_failures_per_minute_then_rate_limited(srv):
    ip = new_ip()
    email = register(srv)["user"]["email"]
    fail(srv, email, ip, 5)
    # The 6th attempt in the minute is refused whatever the password.
    assert_throttled(login(srv, email, PASSWORD, headers=xff(ip)), "rate_limited")
    assert_throttled(login(srv, email, WRONG, headers=xff(ip)), "rate_limited")
    # Same email from another IP: unaffected (no locking victims out).
    assert login(srv, email, PASSWORD, headers=xff(new_ip())).status_code == 200
    # Another email from the same IP: unaffected.
    other = register(srv)["user"]["email"]
    assert login(srv, other, PASSWORD, headers=xff(ip)).status_code == 200


def test_four_failures_still_allow_sign_in(srv):
    ip = new_ip()
    email = register(srv)["user"]["email"]
    fail(srv, email, ip, 4)
    assert login(srv, email, PASSWORD, headers=xff(ip)).status_code == 200
    # Successes are not failures: one more failure is still a plain 401.
    fail(srv, email, ip, 1)


def test_unknown_email_throttled_the_same_way(srv):
    ip = new_ip()
    ghost = unique_email("ghost")
    fail(srv, ghost, ip, 5)
    assert_throttled(login(srv, ghost, WRONG, headers=xff(ip)), "rate_limited")


def test_throttle_is_case_insensitive_on_email(srv):
    ip = new_ip()
    email = register(srv)["user"]["email"]
    variants = [email, email.upper(), " " + email, email.capitalize(), email + " "]
    for v in variants:
        fail(srv, v, ip)
    assert_throttled(login(srv, email.upper(), PASSWORD, headers=xff(ip)), "rate_limited")


def test_fifty_failures_per_ip_across_emails(srv):
    ip = new_ip()
    victim = register(srv)["user"]["email"]
    for _ in range(10):
        fail(srv, unique_email("stuff"), ip, 5)
    # Credential stuffing: every email from this IP is refused now.
    assert_throttled(login(srv, unique_email("stuff"), WRONG, headers=xff(ip)),
                     "rate_limited", hi=600)
    assert_throttled(login(srv, victim, PASSWORD, headers=xff(ip)), "rate_limited", hi=600)
    # Other IPs are not affected.
    assert login(srv, victim, PASSWORD, headers=xff(new_ip())).status_code == 200


def test_forty_nine_failures_per_ip_still_allowed(srv):
    ip = new_ip()
    victim = register(srv)["user"]["email"]
    for i in range(10):
        fail(srv, unique_email("stuff"), ip, 5 if i < 9 else 4)
    assert login(srv, victim, PASSWORD, headers=xff(ip)).status_code == 200


def test_throttle_survives_restart(make_server):
    s = make_server(args=FAST_ARGON2)
    email = register(s)["user"]["email"]
    for _ in range(5):
        assert_problem(login(s, email, WRONG), 401, "invalid_credentials")
    s.restart()
    assert_throttled(login(s, email, PASSWORD), "rate_limited")


def test_throttle_metrics(srv):
    def failures():
        samples = plinth.parse_metrics(srv.get("/metrics").text)
        return plinth.metric_value(samples, "plinth_auth_attempts_total",
                                   outcome="failure") or 0.0

    ip = new_ip()
    email = register(srv)["user"]["email"]
    f0 = failures()
    fail(srv, email, ip, 5)
    assert failures() == f0 + 5


def test_lockout_after_ten_consecutive_failures(srv):
    """The one slow test: waits out the one-minute window once."""
    ip = new_ip()
    locked = register(srv)["user"]["email"]
    streak_broken = register(srv)["user"]["email"]
    # locked: 5 failures, then attempts answered 429, which must not count.
    fail(srv, locked, ip, 5)
    for pw in (PASSWORD, WRONG, WRONG):
        assert_throttled(login(srv, locked, pw, headers=xff(ip)), "rate_limited")
    # streak_broken: 4 failures, a success, 1 failure (5 failures, 1 consecutive).
    fail(srv, streak_broken, ip, 4)
    assert login(srv, streak_broken, PASSWORD, headers=xff(ip)).status_code == 200
    fail(srv, streak_broken, ip, 1)
    assert_throttled(login(srv, streak_broken, PASSWORD, headers=xff(ip)), "rate_limited")

    time.sleep(61)

    # The minute has passed: five more plain failures each (the 429s did not count).
    fail(srv, locked, ip, 5)
    fail(srv, streak_broken, ip, 5)
    # 10 consecutive failures: locked for 15 minutes, even with the right password.
    ra = assert_throttled(login(srv, locked, PASSWORD, headers=xff(ip)), "account_locked",
                          lo=800, hi=900)
    assert ra >= 800
    assert_throttled(login(srv, locked, WRONG, headers=xff(ip)), "account_locked",
                     lo=800, hi=900)
    # Only for that IP.
    assert login(srv, locked, PASSWORD, headers=xff(new_ip())).status_code == 200
    # 6 consecutive failures (10 in total): rate limited, not locked.
    assert_throttled(login(srv, streak_broken, PASSWORD, headers=xff(ip)), "rate_limited")
