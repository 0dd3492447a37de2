"""Helpers shared by the accounts / sessions / throttle / admin API tests."""

import base64
import hashlib
import hmac
import json
import os
import re
import sqlite3
import uuid

import plinth

# Cheap Argon2id parameters: tests that are not about hashing use these.
FAST_ARGON2 = ["--argon2-memory", "65536", "--argon2-ops", "1"]

PASSWORD = "correct horse battery staple"

TIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


def unique_email(prefix="user"):
    return "%s-%s@example.com" % (prefix, uuid.uuid4().hex[:12])


def register(server, email=None, password=PASSWORD, name="Test User", headers=None):
    """Registers an account (asserting 201); returns the response body."""
    email = email or unique_email()
    r = server.post("/v1/auth/register", json={"email": email, "password": password,
                                               "name": name}, headers=headers)
    assert r.status_code == 201, (r.status_code, r.text)
    return r.json()


def login(server, email, password=PASSWORD, headers=None):
    return server.post("/v1/auth/login", json={"email": email, "password": password},
                       headers=headers)


def login_ok(server, email, password=PASSWORD, headers=None):
    r = login(server, email, password, headers=headers)
    assert r.status_code == 200, (r.status_code, r.text)
    return r.json()


def refresh(server, refresh_token):
    return server.post("/v1/auth/refresh", json={"refresh_token": refresh_token})


def me(server, token):
    return server.get("/v1/me", token=token)


def assert_user(u, email=None, name=None):
    assert set(u) >= {"id", "email", "name", "email_verified", "mfa_enabled", "created_at"}, u
    assert isinstance(u["id"], str) and u["id"], u
    assert u["email_verified"] is False, u
    assert u["mfa_enabled"] is False, u
    assert TIME_RE.match(u["created_at"]), u
    if email is not None:
        assert u["email"] == email, u
    if name is not None:
        assert u["name"] == name, u


def assert_token_pair(body, ttl=900, email=None):
    assert body["token_type"] == "Bearer", body
    assert isinstance(body["access_token"], str) and body["access_token"].count(".") == 2, body
    assert body["expires_in"] == ttl, body
    assert isinstance(body["refresh_token"], str) and len(body["refresh_token"]) >= 32, body
    assert_user(body["user"], email=email)


# --- JWT ------------------------------------------------------------------

def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def jwt_parts(token):
    h, p, s = token.split(".")
    return json.loads(b64url_decode(h)), json.loads(b64url_decode(p)), s


def jwt_encode(header, payload, key=None, signature=None):
    """header/payload dicts -> compact JWT. With key: HS256 signature over the two
    parts; with signature: that literal third part; else empty."""
    head = b64url(json.dumps(header, separators=(",", ":")).encode())
    body = b64url(json.dumps(payload, separators=(",", ":")).encode())
    signing_input = (head + "." + body).encode()
    if key is not None:
        sig = b64url(hmac.new(key, signing_input, hashlib.sha256).digest())
    else:
        sig = signature or ""
    return head + "." + body + "." + sig


def key_from_secret(secret):
    """PLINTH_JWT_SECRET -> HS256 key (SHA-256 of the secret)."""
    return hashlib.sha256(secret.encode()).digest()


# --- CLI / database ---------------------------------------------------------

def admin_create(server, email, password=PASSWORD, extra_args=()):
    """Runs `plinth admin create --email E --data <server's dir>` with the password
    on stdin, against the server's database. Returns the CompletedProcess."""
    env = {}
    if server.pg_url:
        env["PLINTH_DATABASE_URL"] = server.pg_url
    return plinth.run_cli(["admin", "create", "--email", email, "--data", server.data_dir]
                          + list(FAST_ARGON2) + list(extra_args),
                          env=env, input=password + "\n", timeout=30)


def db_scalar(server, sql):
    """One value from the server's database (SQLite file or PostgreSQL)."""
    if server.pg_url:
        return plinth.psql(sql, url=server.pg_url).strip()
    con = sqlite3.connect(os.path.join(server.data_dir, "plinth.db"), timeout=10)
    try:
        row = con.execute(sql).fetchone()
    finally:
        con.close()
    return None if row is None else row[0]
