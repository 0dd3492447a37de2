"""Passkeys in a real browser (issue 20): Debian's Chromium, driven by npm
`playwright-core` (never a downloaded browser), with the DevTools virtual
authenticator (CDP WebAuthn domain). A small page served by this test from
http://localhost:PORT (listed in PLINTH_WEBAUTHN_ORIGINS and PLINTH_CORS_ORIGINS)
calls the API with fetch and the browser's own WebAuthn: options go through
PublicKeyCredential.parse*OptionsFromJSON, credentials back through toJSON().

A passkey registered in the browser signs in (discoverable and by email); with an
authenticator that cannot verify the user, an account with TOTP on is still asked
for its code.

Runs against the release build only: the sanitizer build gets the same flows from
test_passkeys.py's emulated authenticator (a browser under an ASan server adds
minutes and no coverage)."""

import http.server
import json
import os
import shutil
import subprocess
import tempfile
import threading

import pytest

import plinth
from accounts_util import FAST_ARGON2, register, unique_email
from test_mfa import Totp

CHROMIUM = "/usr/bin/chromium"
NODE_DEPS = os.path.join(plinth.ROOT, "scripts", "test-node-deps")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]

PAGE = r"""<!doctype html>
<html lang="en"><meta charset="utf-8"><title>plinth passkeys</title>
<script>
const api = new URLSearchParams(location.search).get("api");
async function call(method, path, body, token) {
  const headers = {"Content-Type": "application/json"};
  if (token) headers["Authorization"] = "Bearer " + token;
  const r = await fetch(api + path, {method, headers,
                                     body: body === undefined ? undefined : JSON.stringify(body)});
  return {status: r.status, body: await r.json().catch(() => null)};
}
async function registerPasskey(token, name) {
  const o = await call("POST", "/v1/me/passkeys/register/options", {}, token);
  if (o.status !== 200) return o;
  const publicKey = PublicKeyCredential.parseCreationOptionsFromJSON(o.body.publicKey);
  const cred = await navigator.credentials.create({publicKey});
  return call("POST", "/v1/me/passkeys", {name, credential: cred.toJSON()}, token);
}
async function signIn(email) {
  const o = await call("POST", "/v1/auth/passkey/options", email ? {email} : {});
  if (o.status !== 200) return o;
  const publicKey = PublicKeyCredential.parseRequestOptionsFromJSON(o.body.publicKey);
  const cred = await navigator.credentials.get({publicKey});
  return call("POST", "/v1/auth/passkey", {credential: cred.toJSON()});
}
</script>
<body><p>passkeys test page</p></body></html>
"""

# For each user: a fresh page and virtual authenticator (with or without user
# verification), registration, a discoverable sign-in (Chromium offers those only
# with user verification) and an email-bound one.
DRIVER = r"""
const { chromium } = require("playwright-core");
(async () => {
  const cfg = JSON.parse(require("fs").readFileSync(0, "utf8"));
  const context = await chromium.launchPersistentContext(cfg.userDataDir, {
    executablePath: cfg.chromium, headless: true, args: cfg.flags, timeout: 60000,
  });
  const out = [];
  try {
    for (const u of cfg.users) {
      const page = await context.newPage();
      page.setDefaultTimeout(30000);
      await page.goto(cfg.pageUrl);
      const cdp = await context.newCDPSession(page);
      await cdp.send("WebAuthn.enable", { enableUI: false });
      const { authenticatorId } = await cdp.send("WebAuthn.addVirtualAuthenticator", {
        options: { protocol: "ctap2", transport: "internal", hasResidentKey: true,
                   hasUserVerification: u.uv, isUserVerified: u.uv,
                   automaticPresenceSimulation: true },
      });
      const r = { email: u.email };
      r.registered = await page.evaluate(([t]) => registerPasskey(t, "Chromium"), [u.token]);
      const { credentials } = await cdp.send("WebAuthn.getCredentials", { authenticatorId });
      r.credentials = credentials.map((c) => ({ id: c.credentialId, resident: c.isResidentCredential,
                                                rpId: c.rpId, signCount: c.signCount }));
      // Chromium picks a discoverable credential only with user verification
      if (u.uv) r.discoverable = await page.evaluate(() => signIn(null));
      r.byEmail = await page.evaluate(([e]) => signIn(e), [u.email]);
      const after = await cdp.send("WebAuthn.getCredentials", { authenticatorId });
      r.signCount = after.credentials[0] && after.credentials[0].signCount;
      await cdp.send("WebAuthn.removeVirtualAuthenticator", { authenticatorId });
      await page.close();
      out.push(r);
    }
  } finally {
    await context.close();
  }
  console.log(JSON.stringify(out));
})().catch((e) => { console.error(e && e.stack || e); process.exit(1); });
"""


def sanitizer_build(path):
    """True when the binary under test is the ASan + UBSan build."""
    with open(path, "rb") as f:
        return b"__asan_init" in f.read()


pytestmark = pytest.mark.skipif(
    sanitizer_build(plinth.binary()), reason="browser flows run against the release build only")


class _Page(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = PAGE.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def page_server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Page)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    yield httpd.server_address[1]
    httpd.shutdown()
    httpd.server_close()


def run_browser(page_url, users):
    assert os.access(CHROMIUM, os.X_OK), "Debian's chromium is missing (scripts/install-deps)"
    p = subprocess.run([NODE_DEPS], capture_output=True, text=True, timeout=900)
    assert p.returncode == 0, p.stderr[-4000:]
    node_path = p.stdout.strip()
    profile = tempfile.mkdtemp(prefix="plinth-chromium-")
    try:
        cfg = {"chromium": CHROMIUM, "flags": FLAGS, "userDataDir": profile,
               "pageUrl": page_url, "users": users}
        env = dict(os.environ, NODE_PATH=node_path, PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD="1")
        r = subprocess.run(["node", "-e", DRIVER], input=json.dumps(cfg), capture_output=True,
                           text=True, timeout=300, env=env, cwd=os.path.dirname(node_path))
        assert r.returncode == 0, r.stderr[-6000:]
        return json.loads(r.stdout.strip().splitlines()[-1])
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def test_browser_passkeys(make_server, page_server):
    origin = "http://localhost:%d" % page_server
    s = make_server(args=FAST_ARGON2, env={
        "PLINTH_WEBAUTHN_RP_ID": "localhost", "PLINTH_WEBAUTHN_ORIGINS": origin,
        "PLINTH_CORS_ORIGINS": origin})

    verified = register(s, unique_email("browser"))
    # an account with TOTP on, whose authenticator cannot verify the user
    plain = register(s, unique_email("browser-nouv"))
    setup = s.post("/v1/me/mfa/totp/setup", json={}, token=plain["access_token"]).json()
    totp = Totp(setup["secret"])
    r = s.post("/v1/me/mfa/totp/enable", json={"code": totp.next_code()},
               token=plain["access_token"])
    assert r.status_code == 200, r.text

    users = [{"email": verified["user"]["email"], "token": verified["access_token"], "uv": True},
             {"email": plain["user"]["email"], "token": plain["access_token"], "uv": False}]
    page_url = "%s/?api=%s" % (origin, s.url)
    a, b = run_browser(page_url, users)

    # registered in the browser, as a discoverable credential of this RP
    assert a["registered"]["status"] == 201, a
    assert a["registered"]["body"]["name"] == "Chromium", a
    assert len(a["credentials"]) == 1 and a["credentials"][0]["resident"] is True, a
    assert a["credentials"][0]["rpId"] == "localhost", a
    listed = s.get("/v1/me/passkeys", token=verified["access_token"]).json()["data"]
    assert [p["id"] for p in listed] == [a["registered"]["body"]["id"]]
    # ... and it signs in: user verified, so no second factor
    for step in ("discoverable", "byEmail"):
        assert a[step]["status"] == 200, (step, a[step])
        assert a[step]["body"]["user"]["id"] == verified["user"]["id"], a[step]
        assert "access_token" in a[step]["body"], a[step]
    assert a["signCount"] >= 2, a
    me = s.get("/v1/me", token=a["byEmail"]["body"]["access_token"])
    assert me.status_code == 200 and me.json()["email"] == verified["user"]["email"]

    # without user verification, TOTP is still asked
    assert b["registered"]["status"] == 201, b
    assert b["byEmail"]["status"] == 200, b["byEmail"]
    assert b["byEmail"]["body"]["mfa_required"] is True, b["byEmail"]
    assert "access_token" not in b["byEmail"]["body"], b["byEmail"]
    r = s.post("/v1/auth/login/mfa", json={"mfa_token": b["byEmail"]["body"]["mfa_token"],
                                          "code": totp.next_code()})
    assert r.status_code == 200, r.text
    assert r.json()["user"]["id"] == plain["user"]["id"]
