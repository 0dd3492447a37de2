// Identity providers on loopback for tests/api/test_identity.py, in one Node.js
// process, each on a port of its own (printed as one JSON line on stdout):
//
//   op      a real OpenID provider: the npm `oidc-provider` package (a certified
//           implementation), with clients and accounts configured by the test and an
//           interaction that signs in and consents for the account the test chose
//           (POST /_control/login), so a plain HTTP client can walk the flow;
//   forged  a minimal OpenID provider whose id_tokens are forged the way the test
//           says (POST /_control/forge {"mode": "signature" | "aud" | "nonce" |
//           "expired" | "none"}), signed with `jose`;
//   gh      a plain OAuth 2 provider in GitHub's shape (/user, /user/emails) whose
//           person the test sets (POST /_control/person).
//
// Every provider speaks to the test's control routes with JSON.
"use strict";

const http = require("http");
const crypto = require("crypto");
const path = require("path");
const jose = require("jose");

function readJson(req) {
  return new Promise((resolve) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      try {
        resolve(body ? JSON.parse(body) : {});
      } catch (e) {
        resolve(null);
      }
    });
  });
}

function readForm(req) {
  return new Promise((resolve) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => resolve(new URLSearchParams(body)));
  });
}

function send(res, status, body, headers) {
  res.writeHead(status, Object.assign({ "Content-Type": "application/json" }, headers || {}));
  res.end(body === undefined ? "" : JSON.stringify(body));
}

function listen(server) {
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server.address().port)));
}

async function startOp() {
  const nodePath = process.env.NODE_PATH.split(path.delimiter)[0];
  const { default: Provider } = await import(path.join(nodePath, "oidc-provider", "lib", "index.js"));
  const accounts = new Map(); // sub -> claims
  const clients = [];
  let nextLogin = null;
  let provider = null;
  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url, "http://x");
    if (url.pathname === "/_control/account" && req.method === "POST") {
      const a = await readJson(req);
      accounts.set(a.sub, a);
      return send(res, 204);
    }
    if (url.pathname === "/_control/login" && req.method === "POST") {
      nextLogin = (await readJson(req)).sub;
      return send(res, 204);
    }
    if (url.pathname.startsWith("/interaction/")) {
      // sign in and consent at once for the account the test chose
      try {
        const details = await provider.interactionDetails(req, res);
        const accountId = nextLogin;
        let grant = details.grantId
          ? await provider.Grant.find(details.grantId)
          : new provider.Grant({ accountId, clientId: details.params.client_id });
        grant.addOIDCScope(details.params.scope);
        const grantId = await grant.save();
        return await provider.interactionFinished(
          req,
          res,
          { login: { accountId }, consent: { grantId } },
          { mergeWithLastSubmission: false }
        );
      } catch (e) {
        return send(res, 500, { error: String(e) });
      }
    }
    return provider.callback()(req, res);
  });
  const port = await listen(server);
  const issuer = "http://127.0.0.1:" + port;
  // the clients are known before the provider starts: the test passes them in
  const cfg = JSON.parse(process.env.OP_CLIENTS || "[]");
  for (const c of cfg) clients.push(c);
  provider = new Provider(issuer, {
    clients,
    pkce: { required: () => true, methods: ["S256"] },
    scopes: ["openid", "email", "profile"],
    claims: { openid: ["sub"], email: ["email", "email_verified"], profile: ["name"] },
    findAccount: async (ctx, sub) => {
      const a = accounts.get(sub);
      if (!a) return undefined;
      return {
        accountId: sub,
        claims: async () => ({
          sub,
          email: a.email,
          email_verified: a.email_verified,
          name: a.name,
        }),
      };
    },
    interactions: { url: (ctx, interaction) => "/interaction/" + interaction.uid },
    features: { devInteractions: { enabled: false } },
    cookies: { keys: ["test cookie key for the loopback provider"] },
    ttl: { AccessToken: 600, AuthorizationCode: 60, IdToken: 600, Interaction: 600, Session: 600, Grant: 600 },
  });
  provider.proxy = false;
  return { port, issuer };
}

async function startForged() {
  const { privateKey, publicKey } = await jose.generateKeyPair("RS256");
  const other = await jose.generateKeyPair("RS256"); // a key the JWKS does not hold
  const jwk = Object.assign(await jose.exportJWK(publicKey), { kid: "k1", alg: "RS256", use: "sig" });
  const pending = new Map(); // code -> {nonce, client_id}
  let mode = "none";
  let lastNonce = null;
  let person = { sub: "forged-1", email: "forged@example.com", email_verified: true };
  let issuer = null;
  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url, "http://x");
    if (url.pathname === "/_control/forge" && req.method === "POST") {
      const b = await readJson(req);
      mode = b.mode;
      if (b.person) person = b.person;
      return send(res, 204);
    }
    if (url.pathname === "/.well-known/openid-configuration") {
      return send(res, 200, {
        issuer,
        authorization_endpoint: issuer + "/authorize",
        token_endpoint: issuer + "/token",
        userinfo_endpoint: issuer + "/userinfo",
        jwks_uri: issuer + "/jwks",
        response_types_supported: ["code"],
        subject_types_supported: ["public"],
        id_token_signing_alg_values_supported: ["RS256"],
      });
    }
    if (url.pathname === "/jwks") return send(res, 200, { keys: [jwk] });
    if (url.pathname === "/authorize") {
      const q = url.searchParams;
      const code = crypto.randomBytes(16).toString("hex");
      pending.set(code, { nonce: q.get("nonce"), client_id: q.get("client_id") });
      const to = new URL(q.get("redirect_uri"));
      to.searchParams.set("code", code);
      to.searchParams.set("state", q.get("state"));
      res.writeHead(302, { Location: to.toString() });
      return res.end();
    }
    if (url.pathname === "/token" && req.method === "POST") {
      const form = await readForm(req);
      const p = pending.get(form.get("code"));
      if (!p) return send(res, 400, { error: "invalid_grant" });
      pending.delete(form.get("code"));
      const now = Math.floor(Date.now() / 1000);
      let nonce = p.nonce;
      if (mode === "nonce") nonce = lastNonce || "a nonce from another sign-in";
      lastNonce = p.nonce;
      const claims = Object.assign({}, person, { nonce });
      let jwt = new jose.SignJWT(claims)
        .setProtectedHeader({ alg: "RS256", kid: "k1" })
        .setIssuer(issuer)
        .setAudience(mode === "aud" ? "someone-else" : p.client_id)
        .setIssuedAt(mode === "expired" ? now - 7200 : now)
        .setExpirationTime(mode === "expired" ? now - 3600 : now + 600);
      const id_token = await jwt.sign(mode === "signature" ? other.privateKey : privateKey);
      return send(res, 200, { access_token: "at-" + crypto.randomBytes(8).toString("hex"), token_type: "Bearer", id_token });
    }
    if (url.pathname === "/userinfo") return send(res, 200, person);
    return send(res, 404, { error: "not_found" });
  });
  const port = await listen(server);
  issuer = "http://127.0.0.1:" + port;
  return { port, issuer };
}

async function startGitHub() {
  const codes = new Map();
  const tokens = new Map();
  let person = { id: 1, login: "octo", name: "Octo Cat", email: null, emails: [] };
  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url, "http://x");
    if (url.pathname === "/_control/person" && req.method === "POST") {
      person = await readJson(req);
      return send(res, 204);
    }
    if (url.pathname === "/login/oauth/authorize") {
      const q = url.searchParams;
      if (q.get("code_challenge_method") !== "S256") return send(res, 400, { error: "pkce" });
      const code = crypto.randomBytes(16).toString("hex");
      codes.set(code, { challenge: q.get("code_challenge"), person });
      const to = new URL(q.get("redirect_uri"));
      to.searchParams.set("code", code);
      to.searchParams.set("state", q.get("state"));
      res.writeHead(302, { Location: to.toString() });
      return res.end();
    }
    if (url.pathname === "/login/oauth/access_token" && req.method === "POST") {
      const form = await readForm(req);
      const c = codes.get(form.get("code"));
      if (!c) return send(res, 400, { error: "bad_verification_code" });
      codes.delete(form.get("code"));
      const digest = crypto.createHash("sha256").update(form.get("code_verifier") || "").digest("base64url");
      if (digest !== c.challenge) return send(res, 400, { error: "pkce_mismatch" });
      const auth = req.headers.authorization || "";
      if (!auth.startsWith("Basic ")) return send(res, 401, { error: "no_client_auth" });
      const token = "gho_" + crypto.randomBytes(12).toString("hex");
      tokens.set(token, c.person);
      return send(res, 200, { access_token: token, token_type: "bearer", scope: "user:email" });
    }
    const who = tokens.get((req.headers.authorization || "").replace(/^Bearer /, ""));
    if (url.pathname === "/user") {
      if (!who) return send(res, 401, { message: "Bad credentials" });
      return send(res, 200, { id: who.id, login: who.login, name: who.name, email: who.email });
    }
    if (url.pathname === "/user/emails") {
      if (!who) return send(res, 401, { message: "Bad credentials" });
      return send(res, 200, who.emails);
    }
    return send(res, 404, { message: "Not Found" });
  });
  const port = await listen(server);
  return { port, base: "http://127.0.0.1:" + port };
}

(async () => {
  const op = await startOp();
  const forged = await startForged();
  const gh = await startGitHub();
  process.stdout.write(JSON.stringify({ op, forged, gh }) + "\n");
})().catch((e) => {
  process.stderr.write(String(e && e.stack ? e.stack : e) + "\n");
  process.exit(1);
});
