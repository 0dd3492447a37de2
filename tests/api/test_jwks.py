"""Access tokens other services verify (issue 20): ES256 tokens with a kid, checked by
an independent implementation (npm `jose`, pinned in tests/package.json) against
GET /.well-known/jwks.json, before and after `plinth keys rotate-jwt`, and refused
once the old key has left the set; the OpenID configuration; HS256 installations
keep working."""

import json
import os
import subprocess
import time

import pytest

import plinth
from plinth import assert_problem
from accounts_util import (FAST_ARGON2, jwt_parts, key_from_secret, login_ok, me, register,
                           unique_email)

NODE_DEPS = os.path.join(plinth.ROOT, "scripts", "test-node-deps")

# Verifies each token with jose against a JWK Set (or an HS256 secret), at the time
# `at` (so an expired token still shows whether its signature verifies); prints one
# result per token: {"ok": true, "kid", "sub"} or {"ok": false, "code"}.
VERIFY = r"""
const jose = require("jose");
(async () => {
  const input = JSON.parse(require("fs").readFileSync(0, "utf8"));
  const key = input.jwks ? jose.createLocalJWKSet(input.jwks)
                         : new Uint8Array(Buffer.from(input.secret_hex, "hex"));
  const out = [];
  for (const t of input.tokens) {
    try {
      const { payload, protectedHeader } = await jose.jwtVerify(t, key, {
        issuer: input.issuer, algorithms: input.algorithms,
        currentDate: new Date(input.at * 1000),
      });
      out.push({ ok: true, kid: protectedHeader.kid || null, sub: payload.sub });
    } catch (e) {
      out.push({ ok: false, code: e.code || String(e) });
    }
  }
  console.log(JSON.stringify(out));
})().catch((e) => { console.error(e && e.stack || e); process.exit(1); });
"""


@pytest.fixture(scope="module")
def node_path():
    p = subprocess.run([NODE_DEPS], capture_output=True, text=True, timeout=900)
    assert p.returncode == 0, p.stderr[-4000:]
    return p.stdout.strip()


def jose_verify(node_path, tokens, issuer, jwks=None, secret=None, algorithms=("ES256",), at=None):
    payload = {"tokens": tokens, "issuer": issuer, "algorithms": list(algorithms),
               "at": at or int(time.time())}
    if jwks is not None:
        payload["jwks"] = jwks
    else:
        payload["secret_hex"] = secret.hex()
    r = subprocess.run(["node", "-e", VERIFY], input=json.dumps(payload), capture_output=True,
                       text=True, timeout=60, env=dict(os.environ, NODE_PATH=node_path))
    assert r.returncode == 0, r.stderr[-4000:]
    return json.loads(r.stdout)


def cli_env(server):
    env = {}
    if server.pg_url:
        env["PLINTH_DATABASE_URL"] = server.pg_url
    return env


def rotate(server):
    return plinth.run_cli(["keys", "rotate-jwt", "--data", server.data_dir], env=cli_env(server),
                          timeout=30)


def jwks(server):
    r = server.get("/.well-known/jwks.json")
    assert r.status_code == 200, r.text
    return r.json()


def test_es256_tokens_and_discovery(make_server, node_path):
    s = make_server(args=FAST_ARGON2)
    reg = register(s)
    header, claims, _ = jwt_parts(reg["access_token"])
    assert header["alg"] == "ES256" and header["typ"] == "JWT" and header["kid"], header
    assert claims["iss"] == s.url and claims["sub"] == reg["user"]["id"], claims
    # no shared secret in the data directory: the keys live in the database
    assert not os.path.exists(os.path.join(s.data_dir, "jwt.key"))

    conf = s.get("/.well-known/openid-configuration").json()
    assert conf["issuer"] == s.url
    assert conf["jwks_uri"] == s.url + "/.well-known/jwks.json"
    assert conf["id_token_signing_alg_values_supported"] == ["ES256"]
    keys = jwks(s)["keys"]
    assert len(keys) == 1, keys
    k = keys[0]
    assert k["kty"] == "EC" and k["crv"] == "P-256" and k["alg"] == "ES256" and k["use"] == "sig"
    assert k["kid"] == header["kid"] and "d" not in k, k

    out = jose_verify(node_path, [reg["access_token"]], s.url, jwks=jwks(s))
    assert out == [{"ok": True, "kid": header["kid"], "sub": reg["user"]["id"]}], out
    # another issuer, or HS256 against this key set, is refused by jose
    assert not jose_verify(node_path, [reg["access_token"]], "https://other.example",
                           jwks=jwks(s))[0]["ok"]

    # the keys survive a restart: the token stays valid, the key the same; a
    # secret added later does not turn the installation back to HS256
    s.extra_env["PLINTH_JWT_SECRET"] = "late-secret-0123456789-abcdefghijklmnop"
    s.restart()
    assert me(s, reg["access_token"]).status_code == 200
    assert jwks(s)["keys"] == keys
    assert jwt_parts(login_ok(s, reg["user"]["email"])["access_token"])[0]["alg"] == "ES256"
    # a token signed by another key with the same kid is refused
    parts = reg["access_token"].split(".")
    other = register(make_server(args=FAST_ARGON2))["access_token"].split(".")
    forged = ".".join([parts[0], parts[1], other[2]])
    assert_problem(me(s, forged), 401, "invalid_token")


def test_issuer_from_public_api_url(make_server):
    s = make_server(args=FAST_ARGON2, env={"PLINTH_PUBLIC_API_URL": "https://api.example.com/"})
    reg = register(s)
    _, claims, _ = jwt_parts(reg["access_token"])
    assert claims["iss"] == "https://api.example.com"
    conf = s.get("/.well-known/openid-configuration").json()
    assert conf["jwks_uri"] == "https://api.example.com/.well-known/jwks.json"
    assert me(s, reg["access_token"]).status_code == 200


class Refresher:
    """One session of email on server s, refreshed for new access tokens (signing in
    again each time would end older sessions: at most 5 are live)."""

    def __init__(self, s, email):
        self.s = s
        self.refresh_token = login_ok(s, email)["refresh_token"]

    def token(self):
        r = self.s.post("/v1/auth/refresh", json={"refresh_token": self.refresh_token})
        assert r.status_code == 200, r.text
        self.refresh_token = r.json()["refresh_token"]
        return r.json()["access_token"]


def wait_for_kid(s, email, kid, timeout=30):
    """Fresh tokens until one carries kid (instances notice a new key within
    seconds); returns that token."""
    deadline = time.monotonic() + timeout
    session = Refresher(s, email)
    while True:
        tok = session.token()
        if jwt_parts(tok)[0]["kid"] == kid:
            return tok
        assert time.monotonic() < deadline, "the server did not switch to the new key"
        time.sleep(0.5)


def test_rotation(make_server, node_path):
    ttl = 8
    s = make_server(args=FAST_ARGON2 + ["--access-ttl", str(ttl)])
    email = unique_email("rot")
    reg = register(s, email)
    old_token = reg["access_token"]
    old_kid = jwt_parts(old_token)[0]["kid"]
    iat_old = jwt_parts(old_token)[1]["iat"]

    p = rotate(s)
    assert p.returncode == 0, p.stderr
    rotated_at = time.time()
    keys = jwks(s)["keys"]
    kids = [k["kid"] for k in keys]
    assert len(kids) == 2 and old_kid in kids, keys    # published at once
    new_kid = [k for k in kids if k != old_kid][0]
    assert new_kid in p.stdout

    new_token = wait_for_kid(s, email, new_kid)
    assert time.time() - rotated_at < 60
    # both verify with jose against the published set, and with plinth itself
    out = jose_verify(node_path, [old_token, new_token], s.url, jwks=jwks(s), at=iat_old + 1)
    assert [o["ok"] for o in out] == [True, True], out
    assert [o["kid"] for o in out] == [old_kid, new_kid]
    r = me(s, new_token)
    assert r.status_code == 200, r.text
    if time.time() < iat_old + ttl - 1:
        assert me(s, old_token).status_code == 200

    # the old key leaves once every token it signed has expired (grace + ttl)
    deadline = time.monotonic() + 15 + ttl + 30
    while old_kid in [k["kid"] for k in jwks(s)["keys"]]:
        assert time.monotonic() < deadline, "the retired key stayed in the JWKS"
        time.sleep(1)
    assert time.time() - rotated_at >= ttl, "the retired key left before its tokens expired"
    out = jose_verify(node_path, [old_token, new_token], s.url, jwks=jwks(s), at=iat_old + 1)
    assert out[0] == {"ok": False, "code": "ERR_JWKS_NO_MATCHING_KEY"}, out
    # plinth refuses it too (it had expired anyway); fresh tokens work
    assert me(s, old_token).status_code == 401
    assert me(s, login_ok(s, email)["access_token"]).status_code == 200

    # the audit trail names the new key
    p = plinth.run_cli(["audit", "verify", "--data", s.data_dir], env=cli_env(s), timeout=30)
    assert p.returncode == 0, p.stderr


def test_rotation_reaches_a_second_instance(make_server, engine):
    """Two instances on one PostgreSQL database share the keys: a rotation made with
    the CLI is used by both, and each accepts the other's tokens."""
    if engine != "postgres":
        pytest.skip("two instances share a database on PostgreSQL")
    a = make_server(args=FAST_ARGON2, env={"PLINTH_MASTER_KEY": "k" * 40,
                                           "PLINTH_PUBLIC_API_URL": "https://api.example"})
    b = plinth.Server(start=False, args=FAST_ARGON2,
                      env={"PLINTH_MASTER_KEY": "k" * 40,
                           "PLINTH_PUBLIC_API_URL": "https://api.example"})
    plinth.drop_database(b.pg_db)
    b.pg_db, b.pg_url = None, a.pg_url
    try:
        b.start()
        email = unique_email("two")
        reg = register(a, email)
        assert me(b, reg["access_token"]).status_code == 200
        p = plinth.run_cli(["keys", "rotate-jwt", "--data", a.data_dir],
                           env={"PLINTH_DATABASE_URL": a.pg_url, "PLINTH_MASTER_KEY": "k" * 40},
                           timeout=30)
        assert p.returncode == 0, p.stderr
        new_kid = [k["kid"] for k in jwks(a)["keys"]
                   if k["kid"] != jwt_parts(reg["access_token"])[0]["kid"]][0]
        tok_b = wait_for_kid(b, email, new_kid)
        tok_a = wait_for_kid(a, email, new_kid)
        assert me(a, tok_b).status_code == 200 and me(b, tok_a).status_code == 200
    finally:
        problems = b.close()
        assert not problems, problems


def test_hs256_installations_keep_working(make_server, node_path):
    secret = "hs256-secret-0123456789-abcdefghijklmnop"
    s = make_server(args=FAST_ARGON2, env={"PLINTH_JWT_SECRET": secret})
    reg = register(s)
    header, claims, _ = jwt_parts(reg["access_token"])
    assert header == {"alg": "HS256", "typ": "JWT"}, header
    assert claims["iss"] == s.url
    assert me(s, reg["access_token"]).status_code == 200
    out = jose_verify(node_path, [reg["access_token"]], s.url, secret=key_from_secret(secret),
                      algorithms=("HS256",))
    assert out[0]["ok"] is True, out
    # the key is secret: nothing to publish, and nothing to rotate
    assert jwks(s) == {"keys": []}
    assert s.get("/.well-known/openid-configuration").json()[
        "id_token_signing_alg_values_supported"] == ["HS256"]
    p = plinth.run_cli(["keys", "rotate-jwt", "--data", s.data_dir],
                       env=dict(cli_env(s), PLINTH_JWT_SECRET=secret), timeout=30)
    assert p.returncode == 2 and "HS256" in p.stderr, (p.returncode, p.stderr)
    # an ES256 token is not accepted by an HS256 installation
    es = make_server(args=FAST_ARGON2)
    assert_problem(me(s, register(es)["access_token"]), 401, "invalid_token")


def test_switching_an_hs256_installation_to_es256(make_server):
    secret = "hs256-secret-0123456789-abcdefghijklmnop"
    s = make_server(args=FAST_ARGON2, env={"PLINTH_JWT_SECRET": secret})
    email = unique_email("switch")
    old = register(s, email)["access_token"]
    s.extra_env["PLINTH_JWT_ALG"] = "ES256"
    s.restart()
    new = login_ok(s, email)["access_token"]
    assert jwt_parts(new)[0]["alg"] == "ES256"
    # tokens signed before the switch stay valid while the secret is configured
    assert me(s, old).status_code == 200 and me(s, new).status_code == 200
    assert len(jwks(s)["keys"]) == 1


def test_bad_settings_refused(make_server):
    for env in ({"PLINTH_JWT_ALG": "RS256"}, {"PLINTH_PUBLIC_API_URL": "ftp://x"},
                {"PLINTH_PUBLIC_API_URL": 'https://a"b'}):
        s = make_server(args=FAST_ARGON2, env=env, start=False)
        with pytest.raises(plinth.ServerError):
            s.start()
        s.check_exit = False
