// The instance admin dashboard (/_/) in Chromium against the real binary:
// sign-in with TOTP, disabling a user, a flag's rollout, retrying a dead job,
// and the audit verify badge of a tampered organization.
"use strict";

const assert = require("node:assert/strict");
const { describe, it, before, after } = require("node:test");
const { Server } = require("./lib/server.js");
const { launch, signIn } = require("./lib/browser.js");
const { register, admin, enableTotp, createOrg, ok, eventually, bucket, login } = require("./lib/world.js");

const T = { timeout: 120000 };

describe("admin dashboard", () => {
  let s;
  let b;
  let page;
  let adm;
  let totp;

  before(async () => {
    s = await new Server({ workers: 1 }).start();
    adm = await admin(s);
    totp = await enableTotp(s, adm.token);
    b = await launch();
    page = await b.page();
  });

  after(async () => {
    if (b) await b.close();
    if (s) await s.stop();
  });

  it("signs in with the password and then a TOTP code", T, async () => {
    await signIn(page, `${s.url}/_/`, { email: adm.email, password: adm.password, totp }, { landing: "Overview" });
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Users" }).waitFor();
    assert.equal(new URL(page.url()).pathname, "/_/");
    // the overview's charts (GET /v1/admin/stats) and the instance chain's badge
    await page.getByRole("img", { name: "Sign-ins per hour, last 24 hours" }).waitFor();
    await page.getByRole("img", { name: "Webhook failure rate per hour, last 24 hours (%)" }).waitFor();
    await page.getByRole("main").getByText(/^Verified · \d+ events$/).waitFor();
    // a reload keeps the admin signed in (the browser session's cookie)
    await page.goto(`${s.url}/_/jobs`);
    await page.getByRole("heading", { level: 1, name: "Jobs" }).waitFor();
    assert.deepEqual(b.errors, []);
  });

  it("refuses accounts that are not instance admins", T, async () => {
    const u = await register(s, { prefix: "plain" });
    const other = await b.otherPage();
    await signIn(other, `${s.url}/_/users`, { email: u.email, password: u.password });
    await other.getByText("This account is not an instance admin.").waitFor();
    await other.close();
  });

  it("disables a user, whose token is then refused, and enables them again", T, async () => {
    const u = await register(s, { prefix: "victim", name: "Victor Tim" });
    await ok(s.api("GET", "/v1/me", { token: u.token }));

    await page.getByRole("link", { name: "Users", exact: true }).click();
    await page.getByLabel("Email or name contains").fill("victim-");
    await page.getByRole("button", { name: "Search" }).click();
    await page.getByRole("link", { name: u.email }).click();
    await page.getByRole("heading", { level: 1, name: u.email }).waitFor();
    // its organizations and live sessions; signed out everywhere first
    await page.getByRole("table", { name: "Organizations" }).getByText("Personal").waitFor();
    await page.getByRole("table", { name: "Live sessions" }).waitFor();
    await page.getByRole("button", { name: "Sign out everywhere" }).click();
    await page.getByRole("dialog", { name: "Sign this account out everywhere?" }).getByRole("button", { name: "Sign out everywhere" }).click();
    await page.getByText("No live session").waitFor();
    assert.equal((await s.api("GET", "/v1/me", { token: u.token })).body.code, "session_revoked");
    u.token = (await login(s, u.email)).access_token;
    await page.getByRole("button", { name: "Disable account" }).click();
    const dialog = page.getByRole("dialog", { name: "Disable this account?" });
    await dialog.getByRole("button", { name: "Disable" }).click();
    await page.getByRole("button", { name: "Enable account" }).waitFor();
    await page.getByText("This account is disabled").waitFor();

    const r = await s.api("GET", "/v1/me", { token: u.token });
    assert.ok([401, 403].includes(r.status), JSON.stringify(r.body));
    assert.ok(["account_disabled", "session_revoked"].includes(r.body.code), r.body.code);
    assert.equal((await s.api("POST", "/v1/auth/login", { body: { email: u.email, password: u.password } })).body.code, "account_disabled");

    await page.getByRole("button", { name: "Enable account" }).click();
    await page.getByRole("button", { name: "Disable account" }).waitFor();
    await login(s, u.email);
  });

  it("edits a flag's rollout and previews how many organizations it turns on", T, async () => {
    const owner = await register(s, { prefix: "owner" });
    for (let i = 0; i < 12; i++) await createOrg(s, owner.token, `Rollout Org ${i}`);
    const orgs = (await ok(s.api("GET", "/v1/admin/orgs?limit=200", { token: adm.token }))).data;

    await page.getByRole("link", { name: "Feature flags" }).click();
    await page.getByLabel("Key").fill("new-billing");
    await page.getByLabel("Description").fill("The new billing pages");
    await page.getByLabel("Enabled").check();
    await page.getByRole("button", { name: "Create flag" }).click();
    await page.getByRole("heading", { level: 1, name: "new-billing" }).waitFor();

    const preview = page.locator("#rollout-preview");
    await preview.getByText(`on for ${orgs.length} of ${orgs.length} organizations`).waitFor();
    await page.getByRole("spinbutton", { name: "Rollout (%)" }).fill("30");
    const want = orgs.filter((o) => bucket("new-billing", o.id) < 30).length;
    await preview.getByText(`on for ${want} of ${orgs.length} organizations`).waitFor();
    await page.getByRole("button", { name: "Save", exact: true }).click();
    await page.getByText("Saved: on, rollout 30%.").waitFor();

    const flags = (await ok(s.api("GET", "/v1/admin/flags", { token: adm.token }))).data;
    const f = flags.find((x) => x.key === "new-billing");
    assert.equal(f.rollout_percent, 30);
    assert.equal(f.enabled, true);
    // the preview is the server's own evaluation
    const mine = (await ok(s.api("GET", "/v1/orgs", { token: owner.token }))).data.map((o) => o.id);
    const on = orgs.filter((o) => bucket("new-billing", o.id) < 30 && mine.includes(o.id));
    if (on.length) {
      const r = await ok(s.api("GET", `/v1/orgs/${on[0].id}/flags`, { token: owner.token }));
      assert.equal(r.flags["new-billing"], true);
    }

    // an override counts in the preview at once
    const off = orgs.find((o) => bucket("new-billing", o.id) >= 30);
    await page.getByRole("combobox", { name: "Organization" }).selectOption(off.id);
    await page.getByLabel("Value").selectOption("true");
    await page.getByRole("button", { name: "Set override" }).click();
    await page.getByText("Override set.").waitFor();
    await preview.getByText(`on for ${want + 1} of ${orgs.length} organizations`).waitFor();
  });

  it("retries a dead job", T, async () => {
    s.cli(["jobs", "enqueue", "--kind", "fail", "--max-attempts", "1"]);
    const dead = await eventually(async () => {
      const r = await ok(s.api("GET", "/v1/admin/jobs?status=dead", { token: adm.token }));
      return r.data.find((j) => j.kind === "fail");
    }, { what: "the fail job to die" });

    await page.getByRole("link", { name: "Jobs" }).click();
    await page.getByLabel("Status").selectOption("dead");
    await page.getByRole("button", { name: "Show" }).click();
    await page.getByRole("button", { name: `Retry job fail ${dead.id}` }).click();
    await page.getByText("retried").waitFor();

    // queued again and run again (a drill job that fails dies again)
    await eventually(async () => {
      const r = await ok(s.api("GET", "/v1/admin/jobs", { token: adm.token }));
      const j = r.data.find((x) => x.id === dead.id);
      return j && j.status === "dead" && j.finished_at > dead.finished_at ? j : j && j.status !== "dead";
    }, { what: "the retried job to run" });
  });

  it("shows an organization's audit chain as tampered after a row is changed", T, async () => {
    // an organization the admin is not a member of: read through the admin audit routes
    const owner = await register(s, { prefix: "ledger" });
    const o = await createOrg(s, owner.token, "Ledger Inc");
    for (const name of ["Red", "Blue", "Green"]) {
      await ok(s.api("POST", `/v1/orgs/${o.id}/teams`, { token: owner.token, body: { name } }), 201);
    }
    await page.getByRole("link", { name: "Organizations" }).click();
    await page.getByRole("link", { name: "Ledger Inc" }).click();
    await page.getByRole("heading", { level: 1, name: "Ledger Inc" }).waitFor();
    // members, roles and plan through the admin routes, without membership
    await page.getByRole("table", { name: "Members" }).getByText(owner.email).waitFor();
    await page.getByRole("table", { name: "Roles" }).getByText("owner", { exact: true }).first().waitFor();
    await page.getByRole("table", { name: "Usage against the plan's limits" }).waitFor();
    const badge = page.locator(".verify .badge");
    await badge.getByText("Verified · 4 events").waitFor();
    assert.match(await badge.getAttribute("class"), /badge-ok/);

    s.sql(`UPDATE audit_events SET data = '{"name":"forged"}' WHERE chain = '${o.id}' AND seq = 2`, o.id);
    await page.getByRole("button", { name: "Verify again" }).click();
    await badge.getByText("Tampered · first bad event #2").waitFor();
    assert.match(await badge.getAttribute("class"), /badge-bad/);
    const color = await badge.evaluate((el) => getComputedStyle(el).backgroundColor);
    assert.equal(color, "rgb(254, 226, 226)"); // the red of --bad-bg
    assert.deepEqual(b.errors, []);
  });
});
