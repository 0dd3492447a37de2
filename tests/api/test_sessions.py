"""Black-box tests of access tokens, refresh-token rotation and sessions (issue 3)."""

import hashlib
import hmac
import os
import threading
import time
import uuid

import pytest
import requests

from plinth import assert_problem
from accounts_util import (FAST_ARGON2, TIME_RE, b64url, jwt_encode, jwt_parts,
                           key_from_secret, login_ok, me, refresh, register)

SECRET = "test-secret-0123456789-abcdefghijklmnopq"     # 40 characters
KEY = key_from_secret(SECRET)


@pytest.fixture(scope="module")
def srv(make_module_server):
    return make_module_server(args=FAST_ARGON2, env={"PLINTH_JWT_SECRET": SECRET})


@pytest.fixture(scope="module")
def short_ttl(make_module_server):
    return make_module_server(args=FAST_ARGON2 + ["--access-ttl", "1"])


# --- token shape --------------------------------------------------------------------

def test_access_token_claims(srv):
    reg = register(srv)
    header, claims, _ = jwt_parts(reg["access_token"])
    assert header["alg"] == "HS256", header
    assert claims["iss"] == srv.url          # PLINTH_PUBLIC_API_URL, by default from --http
    assert claims["sub"] == reg["user"]["id"]
    assert isinstance(claims["sid"], str) and claims["sid"]
    assert isinstance(claims["jti"], str) and claims["jti"]
    assert isinstance(claims["iat"], int) and isinstance(claims["exp"], int)
    assert claims["exp"] - claims["iat"] == 900
    assert abs(claims["iat"] - time.time()) < 30
    # The key is SHA-256(PLINTH_JWT_SECRET): our own signature matches the server's.
    assert jwt_encode(header, claims, key=KEY).split(".")[2] == reg["access_token"].split(".")[2]
    # Another sign-in: another session and another jti.
    other = login_ok(srv, reg["user"]["email"])
    _, c2, _ = jwt_parts(other["access_token"])
    assert c2["sid"] != claims["sid"] and c2["jti"] != claims["jti"]
    # The session id appears in the session list as the current one.
    sessions = srv.get("/v1/auth/sessions", token=reg["access_token"]).json()["data"]
    cur = [s for s in sessions if s["current"]]
    assert [s["id"] for s in cur] == [claims["sid"]], sessions


def test_generated_key_in_data_dir(make_server):
    # An installation made before ES256 has a jwt.key: it keeps HS256 with it
    # (new data directories sign with ES256 keys kept in the database instead).
    s = make_server(args=FAST_ARGON2, env={"PLINTH_JWT_ALG": "HS256"})
    reg = register(s)
    path = os.path.join(s.data_dir, "jwt.key")
    with open(path) as f:
        key = bytes.fromhex(f.read().strip())
    assert len(key) >= 32
    if os.name == "posix":
        assert os.stat(path).st_mode & 0o077 == 0, oct(os.stat(path).st_mode)
    header, claims, sig = jwt_parts(reg["access_token"])
    assert header["alg"] == "HS256", header
    assert jwt_encode(header, claims, key=key).split(".")[2] == sig
    # Real key, session that does not exist.
    forged = jwt_encode(header, dict(claims, sid=str(uuid.uuid4())), key=key)
    assert_problem(me(s, forged), 401, "session_revoked")
    # The key survives a restart: old tokens stay valid, and without
    # PLINTH_JWT_ALG the existing jwt.key keeps the installation on HS256.
    s.extra_env.pop("PLINTH_JWT_ALG")
    s.restart()
    assert me(s, reg["access_token"]).status_code == 200
    header, _, _ = jwt_parts(login_ok(s, reg["user"]["email"])["access_token"])
    assert header["alg"] == "HS256", header


# --- forged and broken tokens ---------------------------------------------------------

def test_no_token(srv):
    r = me(srv, None)
    assert_problem(r, 401, "unauthenticated")
    for path in ("/v1/auth/sessions", "/v1/auth/logout", "/v1/auth/logout-all"):
        method = "GET" if path.endswith("sessions") else "POST"
        assert_problem(srv.request(method, path), 401, "unauthenticated")


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
def test_alg_none_rejected(srv, alg):
    reg = register(srv)
    _, claims, sig = jwt_parts(reg["access_token"])
    for header in ({"alg": alg, "typ": "JWT"}, {"alg": alg}):
        for signature in ("", sig):          # empty, and the real token's signature
            forged = jwt_encode(header, claims, signature=signature)
            assert_problem(me(srv, forged), 401, "invalid_token")
    # Without the trailing dot too.
    head = b64url(b'{"alg":"none"}')
    assert me(srv, head + "." + reg["access_token"].split(".")[1]).status_code == 401


def test_other_algorithms_rejected(srv):
    reg = register(srv)
    header, claims, _ = jwt_parts(reg["access_token"])
    signing_input = lambda h: (jwt_encode(h, claims).rsplit(".", 1)[0]).encode()  # noqa
    for alg, digest in (("HS512", hashlib.sha512), ("HS384", hashlib.sha384)):
        h = {"alg": alg, "typ": "JWT"}
        sig = b64url(hmac.new(KEY, signing_input(h), digest).digest())
        assert_problem(me(srv, jwt_encode(h, claims, signature=sig)), 401, "invalid_token")
    # RS256 header with an HMAC signature (key confusion).
    h = {"alg": "RS256", "typ": "JWT"}
    sig = b64url(hmac.new(KEY, signing_input(h), hashlib.sha256).digest())
    assert_problem(me(srv, jwt_encode(h, claims, signature=sig)), 401, "invalid_token")
    # Control: HS256 with the real key verifies.
    assert me(srv, jwt_encode({"alg": "HS256", "typ": "JWT"}, claims, key=KEY)).status_code == 200


def test_wrong_key_rejected(srv):
    reg = register(srv)
    header, claims, _ = jwt_parts(reg["access_token"])
    for key in (key_from_secret(SECRET + "x"), b"", SECRET.encode(), os.urandom(32)):
        assert_problem(me(srv, jwt_encode(header, claims, key=key)), 401, "invalid_token")


def test_altered_payload_rejected(srv):
    a = register(srv)
    b = register(srv)
    header, claims, sig = jwt_parts(a["access_token"])
    _, claims_b, _ = jwt_parts(b["access_token"])
    for change in ({"sub": b["user"]["id"]}, {"sid": claims_b["sid"]},
                   {"exp": claims["exp"] + 3600}, {"iat": claims["iat"] - 1}):
        forged = jwt_encode(header, dict(claims, **change), signature=sig)
        assert_problem(me(srv, forged), 401, "invalid_token")
    # Both real tokens still work.
    assert me(srv, a["access_token"]).json()["id"] == a["user"]["id"]
    assert me(srv, b["access_token"]).json()["id"] == b["user"]["id"]


def test_real_key_unknown_session(srv):
    reg = register(srv)
    header, claims, _ = jwt_parts(reg["access_token"])
    forged = jwt_encode(header, dict(claims, sid=str(uuid.uuid4()), jti=str(uuid.uuid4())),
                        key=KEY)
    assert_problem(me(srv, forged), 401, "session_revoked")


def test_real_key_session_of_another_user(srv):
    a = register(srv)
    b = register(srv)
    header, claims, _ = jwt_parts(a["access_token"])
    _, claims_b, _ = jwt_parts(b["access_token"])
    # a's sub with b's session: the session does not belong to that user.
    forged = jwt_encode(header, dict(claims, sid=claims_b["sid"]), key=KEY)
    r = me(srv, forged)
    assert r.status_code == 401, r.text
    assert r.json()["code"] in ("session_revoked", "invalid_token"), r.text


def test_real_key_wrong_issuer_and_expired(srv):
    reg = register(srv)
    header, claims, _ = jwt_parts(reg["access_token"])
    assert_problem(me(srv, jwt_encode(header, dict(claims, iss="evil"), key=KEY)),
                   401, "invalid_token")
    now = int(time.time())
    expired = jwt_encode(header, dict(claims, iat=now - 1000, exp=now - 100), key=KEY)
    assert_problem(me(srv, expired), 401, "token_expired")


@pytest.mark.parametrize("value", [
    "Bearer", "Bearer ", "Bearer garbage", "Bearer a.b.c", "Bearer ...",
    "Bearer eyJhbGciOiJIUzI1NiJ9.e30.", "Basic dXNlcjpwYXNz", "Token abc",
    "Bearer plk_0123456789abcdef0123456789abcdef",
    "Bearer plk_", "Bearer " + "A" * 5000,
], ids=["bare-bearer", "empty", "garbage", "abc", "dots", "empty-payload", "basic", "token",
        "api-key", "api-key-prefix", "huge"])
def test_malformed_authorization(srv, value):
    r = srv.get("/v1/me", headers={"Authorization": value})
    assert r.status_code == 401, (r.status_code, r.text)
    assert r.json()["code"] in ("unauthenticated", "invalid_token"), r.text
    assert_problem(r, 401, r.json()["code"])


def test_expired_token(short_ttl):
    reg = register(short_ttl)
    assert reg["expires_in"] == 1
    time.sleep(2.1)
    assert_problem(me(short_ttl, reg["access_token"]), 401, "token_expired")
    # The refresh token still renews the session.
    r = refresh(short_ttl, reg["refresh_token"])
    assert r.status_code == 200, r.text
    assert me(short_ttl, r.json()["access_token"]).status_code == 200


# --- refresh ------------------------------------------------------------------------

def test_refresh_rotates(srv):
    reg = register(srv)
    r = refresh(srv, reg["refresh_token"])
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 900
    assert body["user"]["id"] == reg["user"]["id"]
    assert body["refresh_token"] != reg["refresh_token"]
    assert body["access_token"] != reg["access_token"]
    # Same session.
    assert jwt_parts(body["access_token"])[1]["sid"] == jwt_parts(reg["access_token"])[1]["sid"]
    assert me(srv, body["access_token"]).status_code == 200
    # The previous access token of the session still works until it expires.
    assert me(srv, reg["access_token"]).status_code == 200
    # The new refresh token rotates again.
    r2 = refresh(srv, body["refresh_token"])
    assert r2.status_code == 200, r2.text


def test_refresh_replay_revokes_session(srv):
    reg = register(srv)
    old = reg["refresh_token"]
    first = refresh(srv, old).json()
    second = refresh(srv, first["refresh_token"]).json()
    # A second, unrelated session of the same user is untouched by the replay.
    other = login_ok(srv, reg["user"]["email"])
    # Replaying the very first (spent) refresh token.
    assert_problem(refresh(srv, old), 401, "refresh_token_reused")
    # The whole session is gone: the newest access and refresh tokens fail.
    assert_problem(me(srv, second["access_token"]), 401, "session_revoked")
    assert_problem(me(srv, reg["access_token"]), 401, "session_revoked")
    # The newest refresh token was never spent: its session is simply over.
    assert_problem(refresh(srv, second["refresh_token"]), 401, "session_revoked")
    # The other session lives.
    assert me(srv, other["access_token"]).status_code == 200
    assert refresh(srv, other["refresh_token"]).status_code == 200


def test_refresh_unknown_and_invalid(srv):
    assert_problem(refresh(srv, "no-such-refresh-token-" + uuid.uuid4().hex), 401,
                   "invalid_token")
    assert_problem(refresh(srv, b64url(os.urandom(32))), 401, "invalid_token")
    # An access token is not a refresh token.
    reg = register(srv)
    r = refresh(srv, reg["access_token"])
    if r.status_code == 422:      # longer than any refresh token: a field error is fine
        assert_problem(r, 422, "validation_failed")
    else:
        assert_problem(r, 401, "invalid_token")
    assert_problem(refresh(srv, reg["access_token"][:200]), 401, "invalid_token")
    r = srv.post("/v1/auth/refresh", json={})
    assert r.status_code in (401, 422), r.text
    assert_problem(r, r.status_code, "validation_failed" if r.status_code == 422
                   else "invalid_token")


def test_concurrent_refresh_exactly_one_wins(srv):
    reg = register(srv)
    token = reg["refresh_token"]
    n = 8
    barrier = threading.Barrier(n)
    results = [None] * n

    def worker(i):
        with requests.Session() as s:
            barrier.wait()
            try:
                results[i] = s.post(srv.url + "/v1/auth/refresh",
                                    json={"refresh_token": token}, timeout=20)
            except Exception as e:  # noqa: BLE001
                results[i] = e

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    statuses = sorted(getattr(r, "status_code", r) for r in results)
    assert statuses.count(200) == 1, [(getattr(r, "status_code", r), getattr(r, "text", ""))
                                      for r in results]
    for r in results:
        if r.status_code != 200:
            assert_problem(r, 401, "refresh_token_reused")
    # The losers replayed a spent token, so the session is revoked, winner included.
    winner = [r for r in results if r.status_code == 200][0].json()
    assert_problem(me(srv, winner["access_token"]), 401, "session_revoked")


# --- logout and session management ------------------------------------------------------

def test_logout(srv):
    reg = register(srv)
    other = login_ok(srv, reg["user"]["email"])
    r = srv.post("/v1/auth/logout", token=reg["access_token"])
    assert r.status_code == 204, r.text
    assert r.content == b""
    assert_problem(me(srv, reg["access_token"]), 401, "session_revoked")
    r = refresh(srv, reg["refresh_token"])
    assert r.status_code == 401, r.text
    assert r.json()["code"] in ("session_revoked", "invalid_token", "refresh_token_reused"), r.text
    # Logging out again with the dead token: 401.
    assert_problem(srv.post("/v1/auth/logout", token=reg["access_token"]), 401,
                   "session_revoked")
    # Other sessions are untouched.
    assert me(srv, other["access_token"]).status_code == 200


def test_logout_all(srv):
    reg = register(srv)
    email = reg["user"]["email"]
    sessions = [reg] + [login_ok(srv, email) for _ in range(2)]
    bystander = register(srv)
    r = srv.post("/v1/auth/logout-all", token=sessions[1]["access_token"])
    assert r.status_code == 204, r.text
    for s in sessions:
        assert_problem(me(srv, s["access_token"]), 401, "session_revoked")
        assert refresh(srv, s["refresh_token"]).status_code == 401
    assert me(srv, bystander["access_token"]).status_code == 200
    # Signing in again works.
    assert me(srv, login_ok(srv, email)["access_token"]).status_code == 200


def test_list_sessions(srv):
    reg = register(srv, headers={"User-Agent": "agent-register/1.0"})
    email = reg["user"]["email"]
    second = login_ok(srv, email, headers={"User-Agent": "agent-login/2.0"})
    r = srv.get("/v1/auth/sessions", token=second["access_token"])
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["next_cursor"] is None
    data = body["data"]
    assert len(data) == 2, data
    sid_reg = jwt_parts(reg["access_token"])[1]["sid"]
    sid_second = jwt_parts(second["access_token"])[1]["sid"]
    by_id = {s["id"]: s for s in data}
    assert set(by_id) == {sid_reg, sid_second}
    for s in data:
        assert set(s) >= {"id", "created_at", "last_used_at", "expires_at", "ip",
                          "user_agent", "current"}, s
        assert TIME_RE.match(s["created_at"]) and TIME_RE.match(s["expires_at"]), s
        assert s["last_used_at"] is None or TIME_RE.match(s["last_used_at"]), s
        assert s["ip"] == "127.0.0.1"
        assert s["expires_at"] > s["created_at"]
    assert by_id[sid_second]["current"] is True
    assert by_id[sid_reg]["current"] is False
    assert by_id[sid_reg]["user_agent"] == "agent-register/1.0"
    assert by_id[sid_second]["user_agent"] == "agent-login/2.0"
    # The listed session was just used.
    assert by_id[sid_second]["last_used_at"] is not None
    # From the other session's point of view, the flags swap.
    data2 = srv.get("/v1/auth/sessions", token=reg["access_token"]).json()["data"]
    assert {s["id"]: s["current"] for s in data2} == {sid_reg: True, sid_second: False}
    # Another user's list does not show them.
    other = register(srv)
    ids = [s["id"] for s in srv.get("/v1/auth/sessions", token=other["access_token"]).json()
           ["data"]]
    assert sid_reg not in ids and sid_second not in ids and len(ids) == 1


def test_delete_session(srv):
    reg = register(srv)
    email = reg["user"]["email"]
    second = login_ok(srv, email)
    sid_second = jwt_parts(second["access_token"])[1]["sid"]
    r = srv.delete("/v1/auth/sessions/" + sid_second, token=reg["access_token"])
    assert r.status_code == 204, r.text
    assert_problem(me(srv, second["access_token"]), 401, "session_revoked")
    assert refresh(srv, second["refresh_token"]).status_code == 401
    assert me(srv, reg["access_token"]).status_code == 200
    ids = [s["id"] for s in srv.get("/v1/auth/sessions", token=reg["access_token"]).json()
           ["data"]]
    assert sid_second not in ids
    # Deleting it again: gone.
    assert_problem(srv.delete("/v1/auth/sessions/" + sid_second, token=reg["access_token"]),
                   404, "not_found")


def test_delete_session_of_another_user(srv):
    a = register(srv)
    b = register(srv)
    sid_b = jwt_parts(b["access_token"])[1]["sid"]
    assert_problem(srv.delete("/v1/auth/sessions/" + sid_b, token=a["access_token"]),
                   404, "not_found")
    assert me(srv, b["access_token"]).status_code == 200
    for garbage in ("nope", str(uuid.uuid4()), "x" * 300, "%27%20OR%201%3D1"):
        assert_problem(srv.delete("/v1/auth/sessions/" + garbage, token=a["access_token"]),
                       404, "not_found")
    assert_problem(srv.delete("/v1/auth/sessions/" + sid_b), 401, "unauthenticated")


def test_delete_current_session(srv):
    reg = register(srv)
    sid = jwt_parts(reg["access_token"])[1]["sid"]
    r = srv.delete("/v1/auth/sessions/" + sid, token=reg["access_token"])
    assert r.status_code == 204, r.text
    assert_problem(me(srv, reg["access_token"]), 401, "session_revoked")


def test_session_cap_evicts_least_recently_used(srv):
    reg = register(srv)      # session A
    email = reg["user"]["email"]
    tokens = [reg]
    for _ in range(4):       # B, C, D, E
        time.sleep(0.01)
        tokens.append(login_ok(srv, email))
    a, b, c, d, e = tokens
    time.sleep(0.01)
    assert me(srv, a["access_token"]).status_code == 200       # A is now the most recent
    time.sleep(0.01)
    f = login_ok(srv, email)                                   # the 6th
    assert_problem(me(srv, b["access_token"]), 401, "session_revoked")
    assert refresh(srv, b["refresh_token"]).status_code == 401
    for t in (a, c, d, e, f):
        assert me(srv, t["access_token"]).status_code == 200
    data = srv.get("/v1/auth/sessions", token=f["access_token"]).json()["data"]
    assert len(data) == 5, data
    sid_b = jwt_parts(b["access_token"])[1]["sid"]
    assert sid_b not in {s["id"] for s in data}


def test_session_cap_counts_only_live_sessions(srv):
    reg = register(srv)
    email = reg["user"]["email"]
    tokens = [reg] + [login_ok(srv, email) for _ in range(4)]
    # Log out two of them: three live.
    for t in tokens[:2]:
        assert srv.post("/v1/auth/logout", token=t["access_token"]).status_code == 204
    new = [login_ok(srv, email) for _ in range(2)]            # five live, nobody evicted
    for t in tokens[2:] + new:
        assert me(srv, t["access_token"]).status_code == 200
    assert len(srv.get("/v1/auth/sessions", token=new[0]["access_token"]).json()["data"]) == 5


def test_last_used_at_recorded_then_throttled(srv):
    reg = register(srv)
    x = login_ok(srv, reg["user"]["email"])
    sid_x = jwt_parts(x["access_token"])[1]["sid"]

    def last_used():
        data = srv.get("/v1/auth/sessions", token=reg["access_token"]).json()["data"]
        return {s["id"]: s for s in data}[sid_x]["last_used_at"]

    assert me(srv, x["access_token"]).status_code == 200       # first use: recorded
    first = last_used()
    assert first is not None and TIME_RE.match(first), first
    time.sleep(0.05)
    assert me(srv, x["access_token"]).status_code == 200       # within the minute: no write
    assert last_used() == first
