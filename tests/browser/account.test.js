// The account portal (/account/) in Chromium against the real binary:
// registration, 2FA set up from the shown secret, an invitation accepted from
// the emailed link, an API key created and revoked.
"use strict";

const assert = require("node:assert/strict");
const { describe, it, before, after } = require("node:test");
const { Server } = require("./lib/server.js");
const { SmtpSink } = require("./lib/smtp.js");
const { Totp } = require("./lib/totp.js");
const { launch, signIn } = require("./lib/browser.js");
const { register, email, PASSWORD } = require("./lib/world.js");

const T = { timeout: 120000 };

describe("account portal", () => {
  let s;
  let sink;
  let b;
  let page;
  const ada = { email: email("ada"), password: PASSWORD, totp: null };

  before(async () => {
    sink = await new SmtpSink().start();
    s = await new Server({
      workers: 2, publicPath: "/account",
      env: { PLINTH_SMTP_URL: sink.url, PLINTH_MAIL_FROM: "noreply@plinth.test", PLINTH_PRODUCT_NAME: "Engine Works" },
    }).start();
    b = await launch();
    page = await b.page();
  });

  after(async () => {
    if (b) await b.close();
    if (s) await s.stop();
    if (sink) await sink.stop();
  });

  it("registers an account", T, async () => {
    await page.goto(`${s.url}/account/sign-up`);
    await page.getByLabel("Name").fill("Ada Lovelace");
    await page.getByLabel("Email").fill(ada.email);
    await page.getByLabel("Password").fill(ada.password);
    await page.getByRole("button", { name: "Create account" }).click();
    await page.getByRole("heading", { level: 1, name: "Your account" }).waitFor();
    await page.getByRole("main").getByText(ada.email).first().waitFor();
    // the access token lives in memory only; the refresh token in an
    // HttpOnly cookie that script cannot read
    const stored = await page.evaluate(() => [localStorage.length, sessionStorage.length, document.cookie]);
    assert.deepEqual(stored, [0, 0, ""]);
    const cookies = await page.context().cookies();
    const c = cookies.find((x) => x.name === "plinth_refresh");
    assert.ok(c && c.httpOnly && c.sameSite === "Strict" && c.path === "/v1/auth", JSON.stringify(cookies));

    // a reload, or another tab, signs back in from the cookie
    await page.reload();
    await page.getByRole("heading", { level: 1, name: "Your account" }).waitFor();
    const tab = await b.newPage();
    await tab.goto(`${s.url}/account/sessions`);
    await tab.getByRole("heading", { level: 1, name: "Sessions" }).waitFor();
    await tab.close();
  });

  it("moves focus for keyboard and screen-reader users", T, async () => {
    // a route change focuses the new page's heading
    await page.getByRole("link", { name: "Sessions" }).focus();
    await page.keyboard.press("Enter");
    await page.getByRole("heading", { level: 1, name: "Sessions" }).waitFor();
    await page.waitForFunction(() => document.activeElement.tagName === "H1" && document.activeElement.textContent === "Sessions");
    assert.equal(await page.title(), "Sessions · Engine Works");
    await page.getByRole("banner").getByRole("link", { name: /Engine Works/ }).waitFor();

    // the skip link is the first stop and leads to the main content
    const tab = await b.otherPage();
    await tab.goto(`${s.url}/account/sign-in`);
    await tab.getByRole("heading", { level: 1, name: "Sign in" }).waitFor();
    await tab.keyboard.press("Tab");
    assert.equal(await tab.evaluate(() => document.activeElement.textContent), "Skip to main content");
    await tab.keyboard.press("Enter");
    assert.equal(await tab.evaluate(() => document.activeElement.id), "main");
    // a form with a missing field: the error is tied to the field, which gets focus
    await tab.getByRole("button", { name: "Sign in" }).click();
    assert.equal(await tab.evaluate(() => document.activeElement.name), "email");
    assert.equal(await tab.getByLabel("Email").getAttribute("aria-invalid"), "true");
    // a wrong password: an alert names the problem
    await tab.getByLabel("Email").fill(ada.email);
    await tab.getByLabel("Password").fill("not the password at all");
    await tab.getByRole("button", { name: "Sign in" }).click();
    await tab.getByRole("alert").waitFor();
    await tab.close();
  });

  it("turns on 2FA from the shown secret and signs in with a code", T, async () => {
    await page.getByRole("link", { name: "Password and 2FA" }).click();
    await page.getByRole("button", { name: "Set up two-factor authentication" }).click();
    await page.getByRole("img", { name: "QR code for your authenticator app" }).waitFor();
    const secret = await page.getByRole("textbox", { name: "Setup key" }).inputValue();
    assert.match(secret, /^[A-Z2-7]+=*$/);
    ada.totp = new Totp(secret);
    await page.getByLabel("Code from the app").fill(await ada.totp.next());
    await page.getByRole("button", { name: "Turn on 2FA" }).click();
    const codes = page.getByRole("list", { name: "Recovery codes" }).getByRole("listitem");
    await codes.first().waitFor();
    assert.equal(await codes.count(), 10);
    await page.getByRole("button", { name: "I have saved them" }).click();
    await page.getByRole("main").getByText("Two-factor authentication is on.", { exact: true }).waitFor();

    // signing in (in another browser) now asks for the second factor
    const tab = await b.otherPage();
    await signIn(tab, `${s.url}/account/security`, ada, { landing: "Password and 2FA" });
    await tab.close();
  });

  it("invites a member who accepts from the emailed link", T, async () => {
    await page.getByRole("link", { name: "New organization" }).click();
    await page.getByLabel("Name").fill("Analytical Engines");
    await page.getByRole("button", { name: "Create organization" }).click();
    await page.getByRole("heading", { level: 1, name: "Analytical Engines" }).waitFor();

    const bob = await register(s, { prefix: "bob", name: "Bob Babbage" });
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Members" }).click();
    await page.getByLabel("Email").fill(bob.email);
    await page.getByLabel("Role").selectOption("member");
    await page.getByRole("button", { name: "Send invitation" }).click();
    await page.getByText(`Invitation sent to ${bob.email}.`).waitFor();
    await page.getByRole("table", { name: "Invitations" }).getByText(bob.email).waitFor();

    const msg = await sink.waitFor(bob.email, { contains: "/accept-invite?token=" });
    assert.match(msg.text, /invited you to join Analytical Engines on Engine Works as Member\./);
    const link = msg.link("/account/accept-invite");
    assert.ok(link.startsWith(`${s.url}/account/accept-invite?token=`), link);

    // Bob opens the link in his own browser: signs in there, then accepts
    const tab = await b.otherPage();
    await tab.goto(link);
    await tab.getByRole("heading", { level: 1, name: "Join an organization" }).waitFor();
    await tab.getByLabel("Email").fill(bob.email);
    await tab.getByLabel("Password").fill(bob.password);
    await tab.getByRole("button", { name: "Sign in" }).click();
    await tab.getByRole("button", { name: "Accept invitation" }).click();
    await tab.getByRole("heading", { level: 1, name: "Analytical Engines" }).waitFor();
    await tab.close();

    // Carol has no account yet: she creates one from the link and joins
    const carol = email("carol");
    await page.getByLabel("Email").fill(carol);
    await page.getByLabel("Role").selectOption("viewer");
    await page.getByRole("button", { name: "Send invitation" }).click();
    const link2 = (await sink.waitFor(carol, { contains: "/accept-invite?token=" })).link("/account/accept-invite");
    const tab2 = await b.otherPage();
    await tab2.goto(link2);
    await tab2.getByRole("link", { name: "Create an account and join" }).click();
    await tab2.getByLabel("Name").fill("Carol Countess");
    await tab2.getByLabel("Email").fill(carol);
    await tab2.getByLabel("Password").fill(PASSWORD);
    await tab2.getByRole("button", { name: "Create account" }).click();
    await tab2.getByRole("heading", { level: 1, name: "Analytical Engines" }).waitFor();
    // a viewer sees no page her role does not allow
    const nav = tab2.getByRole("navigation", { name: "Main" });
    await nav.getByRole("link", { name: "Members" }).waitFor();
    assert.equal(await nav.getByRole("link", { name: "API keys" }).count(), 0);
    assert.equal(await nav.getByRole("link", { name: "Audit log" }).count(), 0);
    await tab2.close();

    await page.getByRole("link", { name: "Members" }).click();
    const members = page.getByRole("table", { name: "Members of Analytical Engines" });
    await members.getByText(bob.email).waitFor();
    await members.getByText(carol).waitFor();
  });

  it("creates an API key, shown once, and revokes it", T, async () => {
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "API keys" }).click();
    await page.getByLabel("Name").fill("CI deploys");
    await page.getByRole("checkbox", { name: "member.read" }).check();
    await page.getByRole("button", { name: "Create key" }).click();
    const key = await page.getByRole("textbox", { name: "API key CI deploys" }).inputValue();
    assert.match(key, /^plk_[0-9A-Za-z]{43}$/);

    const slug = await page.evaluate(() => location.pathname.split("/")[3]);
    const r = await s.api("GET", `/v1/orgs/${slug}/members`, { token: key });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal((await s.api("GET", `/v1/orgs/${slug}/api-keys`, { token: key })).status, 403);

    await page.getByRole("button", { name: "Revoke the API key CI deploys" }).click();
    await page.getByRole("dialog", { name: "Revoke this API key?" }).getByRole("button", { name: "Revoke" }).click();
    await page.getByText("No API keys.").waitFor();
    assert.equal((await s.api("GET", `/v1/orgs/${slug}/members`, { token: key })).status, 401);
    assert.deepEqual(b.errors, []);
  });
});
