"""The sign-in throttles under concurrency: the decision and the count are one
step, so parallel attempts are evaluated no more often than the limits allow
(5 failures per email and address per minute, 50 per address per 10 minutes,
5 codes per two-factor challenge), on both engines. 32 threads each.

An attempt that was evaluated answers 401 (invalid_credentials,
invalid_mfa_code); one the throttles refused answers 429 without being
evaluated. The module server trusts 127.0.0.1 as a proxy, so each test signs
in from client addresses of its own (X-Forwarded-For)."""

import base64
import hashlib
import hmac
import itertools
import struct
import threading
import time

import pytest

import plinth
from plinth import assert_problem
from accounts_util import PASSWORD, register, unique_email

THREADS = 32
WRONG = "Definitely wrong password 9"

_ips = itertools.count(1)


def new_ip():
    n = next(_ips)
    return "192.0.%d.%d" % (n // 250 + 2, n % 250 + 1)


@pytest.fixture(scope="module")
def srv(make_module_server):
    # a hash of a few milliseconds: long enough for the attempts to overlap
    return make_module_server(args=["--argon2-memory", str(4 * 1024 * 1024), "--argon2-ops", "1"],
                              env={"PLINTH_TRUSTED_PROXIES": "127.0.0.1/32"}, threads=8)


def parallel(n, fn):
    """Runs fn(i) on n threads released together; returns the results in order."""
    barrier = threading.Barrier(n)
    out = [None] * n

    def run(i):
        barrier.wait()
        out[i] = fn(i)

    ts = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return out


def codes(responses):
    out = {}
    for r in responses:
        key = (r.status_code, r.json().get("code") if r.content else None)
        out[key] = out.get(key, 0) + 1
    return out


def test_parallel_wrong_passwords_for_one_email_and_address(srv):
    email = register(srv)["user"]["email"]
    ip = new_ip()
    rs = parallel(THREADS, lambda i: srv.request_once(
        "POST", "/v1/auth/login", json={"email": email, "password": WRONG},
        headers={"X-Forwarded-For": ip}, timeout=60))
    seen = codes(rs)
    assert seen.get((401, "invalid_credentials"), 0) <= 5, seen
    assert seen.get((429, "rate_limited"), 0) >= THREADS - 5, seen
    assert set(seen) <= {(401, "invalid_credentials"), (429, "rate_limited")}, seen
    # the right password is refused too now: the email is throttled from there
    r = srv.post("/v1/auth/login", json={"email": email, "password": PASSWORD},
                 headers={"X-Forwarded-For": ip})
    assert_problem(r, 429, "rate_limited")


def test_burst_past_the_per_address_limit(srv):
    ip = new_ip()
    emails = [unique_email("burst") for _ in range(80)]
    lock = threading.Lock()
    queue = list(emails)
    results = []

    def worker(_):
        while True:
            with lock:
                if not queue:
                    return
                e = queue.pop()
            results.append(srv.request_once("POST", "/v1/auth/login",
                                            json={"email": e, "password": WRONG},
                                            headers={"X-Forwarded-For": ip}, timeout=60))

    parallel(THREADS, worker)
    seen = codes(results)
    assert len(results) == 80
    assert seen.get((401, "invalid_credentials"), 0) <= 50, seen
    assert seen.get((429, "rate_limited"), 0) >= 30, seen


def totp(secret, at):
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    mac = hmac.new(key, struct.pack(">Q", int(at) // 30), hashlib.sha1).digest()
    o = mac[-1] & 15
    return "%06d" % ((struct.unpack(">I", mac[o:o + 4])[0] & 0x7fffffff) % 1000000)


class Codes:
    """Codes of strictly increasing time steps, each inside plinth's +-1 step
    window when sent right away (plinth accepts a step once)."""

    def __init__(self, secret):
        self.secret = secret
        self.last = -10

    def next(self):
        while True:
            now = time.time()
            cur = int(now // 30)
            lo = cur - 1 if 30 - now % 30 > 3 else cur
            step = max(self.last + 1, lo)
            if step <= cur + 1:
                self.last = step
                return totp(self.secret, step * 30 + 1)
            time.sleep(1.0)


def wrong_code(secret):
    now = time.time()
    valid = {totp(secret, now + d * 30) for d in (-2, -1, 0, 1, 2)}
    return next(c for c in ("000000", "111111", "123456", "999999") if c not in valid)


def mfa_account(srv):
    body = register(srv)
    token = body["access_token"]
    setup = srv.post("/v1/me/mfa/totp/setup", json={}, token=token).json()
    codes = Codes(setup["secret"])
    r = srv.post("/v1/me/mfa/totp/enable", json={"code": codes.next()}, token=token)
    assert r.status_code == 200, r.text
    return body["user"]["email"], codes


def test_parallel_wrong_codes_against_one_challenge(srv):
    email, codes_ = mfa_account(srv)
    r = srv.post("/v1/auth/login", json={"email": email, "password": PASSWORD},
                 headers={"X-Forwarded-For": new_ip()})
    assert r.status_code == 200 and r.json()["mfa_required"], r.text
    mfa_token = r.json()["mfa_token"]
    bad = wrong_code(codes_.secret)
    # every attempt from an address of its own: only the challenge's own
    # count stands between them and the code
    ips = [new_ip() for _ in range(THREADS)]
    rs = parallel(THREADS, lambda i: srv.request_once(
        "POST", "/v1/auth/login/mfa", json={"mfa_token": mfa_token, "code": bad},
        headers={"X-Forwarded-For": ips[i]}, timeout=60))
    seen = codes(rs)
    assert seen.get((401, "invalid_mfa_code"), 0) <= 5, seen
    assert set(seen) <= {(401, "invalid_mfa_code"), (401, "invalid_token")}, seen
    # the challenge is void now, even with the right code
    r = srv.post("/v1/auth/login/mfa", json={"mfa_token": mfa_token, "code": codes_.next()},
                 headers={"X-Forwarded-For": new_ip()})
    assert_problem(r, 401, "invalid_token")


def test_parallel_wrong_codes_from_one_address(srv):
    """From one address, the sign-in throttles bound the codes checked too."""
    email, codes_ = mfa_account(srv)
    ip = new_ip()
    tokens = []
    for _ in range(4):   # several challenges, one address
        r = srv.post("/v1/auth/login", json={"email": email, "password": PASSWORD},
                     headers={"X-Forwarded-For": ip})
        tokens.append(r.json()["mfa_token"])
    bad = wrong_code(codes_.secret)
    rs = parallel(THREADS, lambda i: srv.request_once(
        "POST", "/v1/auth/login/mfa", json={"mfa_token": tokens[i % 4], "code": bad},
        headers={"X-Forwarded-For": ip}, timeout=60))
    seen = codes(rs)
    assert seen.get((401, "invalid_mfa_code"), 0) <= 5, seen


def test_parallel_wrong_current_passwords_count_as_failed_sign_ins(srv):
    body = register(srv)
    token, email = body["access_token"], body["user"]["email"]
    ip = new_ip()
    rs = parallel(THREADS, lambda i: srv.request_once(
        "POST", "/v1/me/password", json={"current_password": WRONG,
                                         "new_password": "another good password 7"},
        token=token, headers={"X-Forwarded-For": ip}, timeout=60))
    seen = codes(rs)
    assert seen.get((422, "validation_failed"), 0) <= 5, seen
    assert seen.get((429, "rate_limited"), 0) >= THREADS - 5, seen
    # and they count against sign-in from that address
    r = srv.post("/v1/auth/login", json={"email": email, "password": PASSWORD},
                 headers={"X-Forwarded-For": ip})
    assert_problem(r, 429, "rate_limited")


def test_parallel_wrong_passwords_on_account_deletion_count_as_failed_sign_ins(srv):
    body = register(srv)
    token, email = body["access_token"], body["user"]["email"]
    ip = new_ip()
    rs = parallel(THREADS, lambda i: srv.request_once(
        "DELETE", "/v1/me", json={"password": WRONG}, token=token,
        headers={"X-Forwarded-For": ip}, timeout=60))
    seen = codes(rs)
    assert seen.get((422, "validation_failed"), 0) <= 5, seen
    assert seen.get((429, "rate_limited"), 0) >= THREADS - 5, seen
    r = srv.post("/v1/auth/login", json={"email": email, "password": PASSWORD},
                 headers={"X-Forwarded-For": ip})
    assert_problem(r, 429, "rate_limited")
    # the account is still there
    assert srv.get("/v1/me", token=token).status_code == 200


def test_wrong_password_on_two_factor_routes_counts(srv):
    email, codes_ = mfa_account(srv)
    r = srv.post("/v1/auth/login", json={"email": email, "password": PASSWORD},
                 headers={"X-Forwarded-For": new_ip()})
    mfa_token = r.json()["mfa_token"]
    r = srv.post("/v1/auth/login/mfa", json={"mfa_token": mfa_token, "code": codes_.next()},
                 headers={"X-Forwarded-For": new_ip()})
    assert r.status_code == 200, r.text
    token = r.json()["access_token"]
    ip = new_ip()
    for i in range(5):
        path = "/v1/me/mfa/recovery-codes" if i % 2 else "/v1/me/mfa/totp/disable"
        r = srv.post(path, json={"password": WRONG, "code": "000000"}, token=token,
                     headers={"X-Forwarded-For": ip})
        assert r.status_code == 422, r.text
    r = srv.post("/v1/me/mfa/recovery-codes", json={"password": PASSWORD}, token=token,
                 headers={"X-Forwarded-For": ip})
    assert_problem(r, 429, "rate_limited")
    assert r.headers.get("Retry-After")
    # from elsewhere the right password still works
    r = srv.post("/v1/me/mfa/recovery-codes", json={"password": PASSWORD}, token=token,
                 headers={"X-Forwarded-For": new_ip()})
    assert r.status_code == 200, r.text


def test_wrong_codes_when_turning_two_factor_on_count(srv):
    body = register(srv)
    token = body["access_token"]
    setup = srv.post("/v1/me/mfa/totp/setup", json={}, token=token).json()
    bad = wrong_code(setup["secret"])
    ip = new_ip()
    for _ in range(5):
        r = srv.post("/v1/me/mfa/totp/enable", json={"code": bad}, token=token,
                     headers={"X-Forwarded-For": ip})
        assert_problem(r, 422, "validation_failed")
    r = srv.post("/v1/me/mfa/totp/enable", json={"code": Codes(setup["secret"]).next()},
                 token=token, headers={"X-Forwarded-For": ip})
    assert_problem(r, 429, "rate_limited")


def test_parallel_magic_link_guesses_from_one_address(srv):
    """A failed magic-link verification counts as a failed sign-in from the
    client address, decided and counted in one step like a password."""
    import secrets
    ip = new_ip()
    guess = lambda: srv.request_once(
        "POST", "/v1/auth/magic-link/verify", json={"token": secrets.token_urlsafe(32)},
        headers={"X-Forwarded-For": ip}, timeout=60)
    for _ in range(45):  # 45 of the address's 50 failures per 10 minutes
        r = guess()
        assert_problem(r, 422, "invalid_token")
    seen = codes(parallel(THREADS, lambda i: guess()))
    assert seen.get((422, "invalid_token"), 0) <= 5, seen
    assert seen.get((429, "rate_limited"), 0) >= THREADS - 5, seen
    assert set(seen) <= {(422, "invalid_token"), (429, "rate_limited")}, seen
