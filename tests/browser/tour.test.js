// Every page of both dashboards, with data on them: axe-core reports no
// serious or critical violation at 1280 px and at 375 px, nothing is wider
// than a 375 px screen, no script error or CSP violation happens, and a
// screenshot of each goes to build/test-results/screenshots/ (the README's
// "Dashboards" section links them).
//
// The pages look the same on both engines, so the tour runs on SQLite only;
// the functional tests (admin.test.js, account.test.js) run on both.
"use strict";

const assert = require("node:assert/strict");
const { describe, it, before, after } = require("node:test");
const { Server, engine } = require("./lib/server.js");
const { SmtpSink } = require("./lib/smtp.js");
const { Totp } = require("./lib/totp.js");
const { launch, capture, checkA11y, signIn } = require("./lib/browser.js");
const { register, admin, enableTotp, createOrg, ok, eventually, email, PASSWORD } = require("./lib/world.js");

const T = { timeout: 300000 };
const SKIP = engine() !== "sqlite" ? "pages are checked and captured on SQLite only" : false;

// Waits until the view has finished loading (no loading notice, nothing busy).
async function settle(page, heading) {
  if (heading) await page.getByRole("heading", { level: 1, name: heading }).first().waitFor();
  await page.waitForFunction(() => !document.querySelector(".loading, [aria-busy=true]"));
}

async function visit(page, url, heading, name) {
  await page.goto(url);
  await settle(page, heading);
  await capture(page, name);
}

// Navigates inside the app (the page keeps its in-memory session).
async function open(page, href, heading, name) {
  await page.evaluate((h) => {
    const a = document.createElement("a");
    a.href = h;
    document.body.append(a);
    a.click();
    a.remove();
  }, href);
  await settle(page, heading);
  await capture(page, name);
}

describe("every page", () => {
  if (SKIP) {
    for (const name of ["admin dashboard", "account portal, signed out", "account portal, signed in"]) it(name, { skip: SKIP }, () => {});
    return;
  }
  let s;
  let sink;
  let b;
  const w = {};

  before(async () => {
    sink = await new SmtpSink().start();
    s = await new Server({ workers: 1, publicPath: "/account", env: { PLINTH_SMTP_URL: sink.url, PLINTH_MAIL_FROM: "noreply@plinth.test", PLINTH_ALLOW_PRIVATE_TARGETS: "1" } }).start();
    // the admin, with 2FA, a few flags, jobs (one dead) and an org of their own
    w.admin = await admin(s);
    w.adminTotp = await enableTotp(s, w.admin.token);
    const at = w.admin.token;
    w.ledger = await createOrg(s, at, "Ledger Inc");
    for (const name of ["Audit", "Finance"]) await ok(s.api("POST", `/v1/orgs/${w.ledger.id}/teams`, { token: at, body: { name } }), 201);
    // Ada's team organization, with members of every role, an invitation,
    // a custom role and an API key
    w.ada = await register(s, { prefix: "ada", name: "Ada Lovelace" });
    w.acme = await createOrg(s, w.ada.token, "Acme Rockets");
    for (let i = 0; i < 6; i++) await createOrg(s, w.ada.token, `Side Project ${i}`);
    const invite = async (role, who) => {
      await ok(s.api("POST", `/v1/orgs/${w.acme.id}/invitations`, { token: w.ada.token, body: { email: who.email, role } }), 201);
      const token = new URL((await sink.waitFor(who.email, { contains: "accept-invite" })).link("/account/accept-invite")).searchParams.get("token");
      await ok(s.api("POST", "/v1/invitations/accept", { token: who.token, body: { token } }));
    };
    w.bob = await register(s, { prefix: "bob", name: "Bob Babbage" });
    w.carol = await register(s, { prefix: "carol", name: "Carol Countess" });
    await invite("admin", w.bob);
    await invite("viewer", w.carol);
    await ok(s.api("POST", `/v1/orgs/${w.acme.id}/invitations`, { token: w.ada.token, body: { email: email("dave"), role: "member" } }), 201);
    await ok(s.api("POST", `/v1/orgs/${w.acme.id}/roles`, { token: w.ada.token, body: { key: "auditor", name: "Auditor", level: 1, permissions: ["org.read", "audit.read"] } }), 201);
    await ok(s.api("POST", `/v1/orgs/${w.acme.id}/api-keys`, { token: w.ada.token, body: { name: "Deploy bot", permissions: ["member.read"] } }), 201);
    // a webhook endpoint nobody listens at, so its deliveries fail
    w.hook = await ok(s.api("POST", `/v1/orgs/${w.acme.id}/webhooks`, { token: w.ada.token, body: { url: "http://127.0.0.1:9/hooks", events: ["member.*", "apikey.*"], description: "Audit mirror" } }), 201);
    await ok(s.api("PUT", "/v1/admin/flags/new-billing", { token: at, body: { description: "The new billing pages", enabled: true, rollout_percent: 40 } }));
    await ok(s.api("PUT", "/v1/admin/flags/dark-mode", { token: at, body: { description: "", enabled: false, rollout_percent: 100 } }));
    await ok(s.api("PUT", `/v1/admin/flags/new-billing/orgs/${w.acme.id}`, { token: at, body: { enabled: true } }));
    // a collection with a record of Acme's
    await ok(s.api("PUT", "/v1/admin/collections/tasks", { token: at, body: { name: "tasks", scope: "org", schema: { type: "object", required: ["title"], properties: { title: { type: "string", maxLength: 200 }, status: { enum: ["todo", "doing", "done"] } } }, indexes: [["status"]], search: ["title"] } }), 201);
    await ok(s.api("POST", `/v1/orgs/${w.acme.id}/collections/tasks/records`, { token: w.ada.token, body: { title: "Launch the rocket", status: "doing" } }), 201);
    await ok(s.api("POST", `/v1/auth/login`, { body: { email: w.bob.email, password: "not the password" } }), 401);
    s.cli(["jobs", "enqueue", "--kind", "fail", "--max-attempts", "1"]);
    s.cli(["jobs", "enqueue", "--kind", "noop", "--count", "3"]);
    await eventually(async () => (await ok(s.api("GET", "/v1/admin/jobs?status=dead", { token: at }))).data.length, { what: "a dead job" });
    b = await launch();
  });

  after(async () => {
    if (b) await b.close();
    if (s) await s.stop();
    if (sink) await sink.stop();
  });

  it("admin dashboard", T, async () => {
    const page = await b.otherPage();
    const base = `${s.url}/_`;
    await visit(page, `${base}/`, "Sign in", "admin-sign-in");
    await page.getByLabel("Email").fill(w.admin.email);
    await page.getByLabel("Password").fill(w.admin.password);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByLabel("Authentication code").waitFor();
    await capture(page, "admin-sign-in-2fa");
    await page.getByLabel("Authentication code").fill(await w.adminTotp.next());
    await page.getByRole("button", { name: "Verify" }).click();
    await settle(page, "Overview");
    await capture(page, "admin-overview");
    await open(page, "/_/users", "Users", "admin-users");
    await open(page, `/_/users/${w.ada.user.id}`, w.ada.email, "admin-user");
    await open(page, "/_/orgs", "Organizations", "admin-orgs");
    await open(page, `/_/orgs/${w.ledger.id}`, "Ledger Inc", "admin-org");
    await open(page, `/_/orgs/${w.acme.id}`, "Acme Rockets", "admin-org-not-member");
    await open(page, "/_/flags", "Feature flags", "admin-flags");
    await open(page, "/_/flags/new-billing", "new-billing", "admin-flag");
    await open(page, "/_/jobs", "Jobs", "admin-jobs");
    await open(page, "/_/jobs?status=dead", "Jobs", "admin-jobs-dead");
    await open(page, "/_/emails", "Emails", "admin-emails");
    await open(page, "/_/collections", "Collections", "admin-collections");
    await open(page, `/_/collections/tasks?org=${w.acme.id}`, "tasks", "admin-collection");
    await page.getByText("Launch the rocket", { exact: false }).waitFor();
    await open(page, "/_/nowhere", "Page not found", "admin-not-found");

    // the navigation folds behind a button on a phone, and opens
    await page.setViewportSize({ width: 375, height: 740 });
    const nav = page.getByRole("navigation", { name: "Main" });
    assert.equal(await nav.isVisible(), false);
    await page.getByRole("button", { name: "Menu" }).click();
    await nav.getByRole("link", { name: "Jobs" }).waitFor();
    await checkA11y(page, "admin menu at 375 px");
    await page.screenshot({ path: require("node:path").join(require("./lib/browser.js").SHOTS, "admin-menu-375.png") });
    await nav.getByRole("link", { name: "Users" }).click();
    await settle(page, "Users");
    assert.equal(await nav.isVisible(), false);
    assert.deepEqual(b.errors, []);
    await page.close();
  });

  it("account portal, signed out", T, async () => {
    const page = await b.otherPage();
    const base = `${s.url}/account`;
    await visit(page, `${base}/`, "Sign in", "account-sign-in");
    await visit(page, `${base}/sign-up`, "Create your account", "account-sign-up");
    await visit(page, `${base}/forgot-password`, "Reset your password", "account-forgot-password");
    await visit(page, `${base}/reset-password?token=abc`, "Choose a new password", "account-reset-password");
    await visit(page, `${base}/verify-email?token=abc`, "Verify your email", "account-verify-email");
    await visit(page, `${base}/accept-invite?token=abc`, "Join an organization", "account-accept-invite");
    await visit(page, `${base}/magic-link?token=abc`, "Sign in with a link", "account-magic-link");
    // a form that failed: errors next to their fields
    await page.goto(`${base}/sign-up`);
    await page.getByLabel("Name").fill("X");
    await page.getByLabel("Email").fill("someone@example.com");
    await page.getByLabel("Password").fill("password123");
    await page.getByRole("button", { name: "Create account" }).click();
    await page.locator("[aria-invalid=true]").first().waitFor();
    await capture(page, "account-sign-up-error");
    assert.deepEqual(b.errors, []);
    await page.close();
  });

  it("account portal, signed in", T, async () => {
    const page = await b.otherPage();
    await signIn(page, `${s.url}/account/`, w.ada, { landing: "Your account" });
    await settle(page);
    await capture(page, "account-profile");
    await open(page, "/account/security", "Password and 2FA", "account-security");
    await page.getByRole("button", { name: "Set up two-factor authentication" }).click();
    await page.getByRole("img", { name: "QR code for your authenticator app" }).waitFor();
    await capture(page, "account-2fa-setup");
    const totp = new Totp(await page.getByRole("textbox", { name: "Setup key" }).inputValue());
    await page.getByLabel("Code from the app").fill(await totp.next());
    await page.getByRole("button", { name: "Turn on 2FA" }).click();
    await page.getByRole("list", { name: "Recovery codes" }).waitFor();
    await capture(page, "account-2fa-recovery-codes");
    await page.getByRole("button", { name: "I have saved them" }).click();
    await settle(page);
    await capture(page, "account-2fa-on");
    await open(page, "/account/sessions", "Sessions", "account-sessions");
    await open(page, "/account/activity", "Security activity", "account-activity");
    await open(page, "/account/orgs/new", "New organization", "account-new-org");
    const acme = `/account/orgs/${w.acme.slug}`;
    await open(page, acme, "Acme Rockets", "account-org");
    await open(page, `${acme}/members`, "Members", "account-members");
    await open(page, `${acme}/roles`, "Roles", "account-roles");
    await open(page, `${acme}/api-keys`, "API keys", "account-api-keys");
    await page.getByLabel("Name").fill("CI deploys");
    await page.getByRole("checkbox", { name: "audit.read" }).check();
    await page.getByRole("button", { name: "Create key" }).click();
    await page.getByRole("textbox", { name: "API key CI deploys" }).waitFor();
    await settle(page);
    await capture(page, "account-api-key-created");
    await open(page, `${acme}/audit`, "Audit log", "account-audit");
    await open(page, `${acme}/webhooks`, "Webhooks", "account-webhooks");
    await page.getByLabel("URL").fill("http://127.0.0.1:9/other");
    await page.getByLabel("Events").fill("org.*");
    await page.getByRole("button", { name: "Create webhook" }).click();
    await page.getByRole("textbox", { name: "Signing secret of http://127.0.0.1:9/other" }).waitFor();
    await settle(page);
    await capture(page, "account-webhook-created");
    await open(page, `${acme}/webhooks/${w.hook.id}`, "Webhook", "account-webhook");
    await open(page, "/account/nowhere", "Page not found", "account-not-found");
    assert.deepEqual(b.errors, []);
    await page.close();

    // a viewer on a page her role does not include
    const viewer = await b.otherPage();
    await signIn(viewer, `${s.url}/account${acme.slice("/account".length)}/roles`, { email: w.carol.email, password: PASSWORD }, { landing: "Roles" });
    await settle(viewer);
    await viewer.getByText("does not include this page").waitFor();
    await capture(viewer, "account-not-allowed");
    assert.deepEqual(b.errors, []);
    await viewer.close();
  });
});
