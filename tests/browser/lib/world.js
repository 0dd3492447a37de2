// world.js - accounts, organizations and data made through the API, so a
// browser test starts from the state it needs.
"use strict";

const assert = require("node:assert/strict");
const crypto = require("node:crypto");
const { Totp } = require("./totp.js");

const PASSWORD = "correct horse battery staple";

function email(prefix = "user") {
  return `${prefix}-${crypto.randomBytes(5).toString("hex")}@example.com`;
}

async function ok(res, status = 200) {
  const r = await res;
  assert.equal(r.status, status, JSON.stringify(r.body));
  return r.body;
}

// Registers an account: {email, password, token, user, org (personal)}.
async function register(s, { prefix = "user", name = "Test User", address = null } = {}) {
  const e = address || email(prefix);
  const b = await ok(s.api("POST", "/v1/auth/register", { body: { email: e, password: PASSWORD, name } }), 201);
  return { email: e, password: PASSWORD, token: b.access_token, user: b.user, org: b.organization };
}

async function login(s, address, password = PASSWORD) {
  return ok(s.api("POST", "/v1/auth/login", { body: { email: address, password } }));
}

// An instance admin made with `plinth admin create`, signed in through the
// API: {email, password, token}.
async function admin(s, address = email("admin")) {
  s.cli(["admin", "create", "--email", address], { input: `${PASSWORD}\n` });
  const b = await login(s, address);
  return { email: address, password: PASSWORD, token: b.access_token, user: b.user };
}

// Turns TOTP on for the account behind token; returns the Totp generator
// (its codes already used steps are skipped).
async function enableTotp(s, token) {
  const setup = await ok(s.api("POST", "/v1/me/mfa/totp/setup", { token }));
  const totp = new Totp(setup.secret);
  await ok(s.api("POST", "/v1/me/mfa/totp/enable", { token, body: { code: await totp.next() } }));
  return totp;
}

async function createOrg(s, token, name) {
  return ok(s.api("POST", "/v1/orgs", { token, body: { name } }), 201);
}

// Waits until fn() returns a truthy value (polling), or fails.
async function eventually(fn, { timeout = 15000, what = "condition" } = {}) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

// The rollout bucket of API.md, computed independently of the dashboard.
function bucket(key, orgId) {
  const d = crypto.createHash("sha256").update(`${key}:${orgId}`).digest();
  return d.readUInt32BE(0) % 100;
}

module.exports = { PASSWORD, email, ok, register, login, admin, enableTotp, createOrg, eventually, bucket };
