// The account portal's passkeys and webhooks, in Debian's Chromium with the
// DevTools virtual authenticator (CDP WebAuthn domain): a passkey added on
// the security page signs in from the sign-in page and is removed again; a
// webhook created on the organization's page shows its secret once, its
// failed delivery is retried from the endpoint's page and succeeds, and the
// endpoint is disabled and deleted.
//
// Passkeys need a domain as relying party: the pages are opened at
// http://localhost:PORT, which PLINTH_WEBAUTHN_ORIGINS lists.
"use strict";

const assert = require("node:assert/strict");
const http = require("node:http");
const { describe, it, before, after } = require("node:test");
const { Server, freePort } = require("./lib/server.js");
const { launch, signIn } = require("./lib/browser.js");
const { register, createOrg, ok, eventually } = require("./lib/world.js");

const T = { timeout: 180000 };

describe("account portal: passkeys and webhooks", () => {
  let s;
  let b;
  let base;
  let receiver;
  let answer = 500; // what the webhook receiver answers
  const received = [];

  before(async () => {
    receiver = http.createServer((req, res) => {
      let body = "";
      req.on("data", (c) => { body += c; });
      req.on("end", () => {
        received.push({ body, status: answer });
        res.writeHead(answer);
        res.end();
      });
    });
    await new Promise((r) => receiver.listen(0, "127.0.0.1", r));
    const port = await freePort();
    base = `http://localhost:${port}`;
    s = new Server({
      workers: 1,
      env: {
        PLINTH_ALLOW_PRIVATE_TARGETS: "1",
        PLINTH_WEBAUTHN_RP_ID: "localhost",
        PLINTH_WEBAUTHN_ORIGINS: base,
        PLINTH_WEBHOOK_RETRY_SCHEDULE: "100ms",
      },
    });
    s.port = port;
    await s.start();
    b = await launch();
  });

  after(async () => {
    if (b) await b.close();
    if (s) await s.stop();
    if (receiver) await new Promise((r) => receiver.close(r));
  });

  it("adds a passkey, signs in with it and removes it", T, async () => {
    const ada = await register(s, { prefix: "ada", name: "Ada Lovelace" });
    const page = await b.otherPage();
    const cdp = await page.context().newCDPSession(page);
    await cdp.send("WebAuthn.enable");
    await cdp.send("WebAuthn.addVirtualAuthenticator", {
      options: { protocol: "ctap2", transport: "internal", hasResidentKey: true, hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true },
    });
    await signIn(page, `${base}/account/security`, ada, { landing: "Password and 2FA" });
    await page.getByText("No passkeys yet.").waitFor();
    await page.getByRole("textbox", { name: "Name", exact: true }).fill("Laptop");
    await page.getByRole("button", { name: "Add a passkey" }).click();
    await page.getByRole("cell", { name: "Laptop" }).waitFor();
    await page.getByText("Passkey Laptop added").waitFor();
    const keys = await ok(s.api("GET", "/v1/me/passkeys", { token: ada.token }));
    assert.deepEqual(keys.data.map((k) => k.name), ["Laptop"]);

    // signed out, the passkey alone signs back in
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.getByRole("heading", { level: 1, name: "Sign in" }).waitFor();
    await page.getByRole("button", { name: "Use a passkey" }).click();
    await page.getByRole("heading", { level: 1, name: "Your account" }).waitFor();
    await page.getByText(ada.email).first().waitFor();

    // removed, it is gone from the account
    await page.goto(`${base}/account/security`);
    await page.getByRole("button", { name: "Remove the passkey Laptop" }).click();
    await page.getByRole("dialog", { name: "Remove this passkey?" }).getByRole("button", { name: "Remove" }).click();
    await page.getByText("No passkeys yet.").waitFor();
    assert.deepEqual((await ok(s.api("GET", "/v1/me/passkeys", { token: ada.token }))).data, []);
    assert.deepEqual(b.errors, []);
    await page.close();
  });

  it("creates a webhook, retries its failed delivery, disables and deletes it", T, async () => {
    const ada = await register(s, { prefix: "hooks", name: "Ada Hooks" });
    const org = await createOrg(s, ada.token, "Hook Works");
    const page = await b.otherPage();
    await signIn(page, `${base}/account/orgs/${org.slug}/webhooks`, ada, { landing: "Webhooks" });
    await page.getByText("No webhooks.").waitFor();
    const url = `http://127.0.0.1:${receiver.address().port}/hook`;
    await page.getByLabel("URL").fill(url);
    await page.getByLabel("Events").fill("org.*");
    await page.getByRole("button", { name: "Create webhook" }).click();
    const secret = page.getByRole("textbox", { name: `Signing secret of ${url}` });
    await secret.waitFor();
    assert.match(await secret.inputValue(), /^whsec_/);
    const [hook] = (await ok(s.api("GET", `/v1/orgs/${org.id}/webhooks`, { token: ada.token }))).data;
    assert.equal(hook.url, url);
    assert.equal("secret" in hook, false);

    // an event the receiver refuses: the delivery fails after its retry
    await ok(s.api("PATCH", `/v1/orgs/${org.id}`, { token: ada.token, body: { name: "Hook Works Ltd" } }));
    const deliveries = () => s.api("GET", `/v1/orgs/${org.id}/webhooks/${hook.id}/deliveries`, { token: ada.token });
    await eventually(async () => (await ok(deliveries())).data.some((d) => d.status === "failed"), { what: "a failed delivery", timeout: 30000 });

    // retried from the endpoint's page, it succeeds
    await page.getByRole("link", { name: url }).click();
    await page.getByRole("heading", { level: 1, name: "Webhook" }).waitFor();
    answer = 200;
    await page.getByRole("button", { name: /^Retry the delivery of org\.updated/ }).click();
    await eventually(async () => (await ok(deliveries())).data.some((d) => d.status === "succeeded"), { what: "a successful delivery", timeout: 30000 });
    await page.reload();
    await page.getByText("Succeeded").first().waitFor();
    assert.ok(received.some((r) => r.status === 200 && r.body.includes("org.updated")));

    // disabled, then deleted
    await page.getByRole("link", { name: "All webhooks" }).click();
    await page.getByRole("button", { name: `Disable the webhook ${url}` }).click();
    await page.getByRole("button", { name: `Enable the webhook ${url}` }).waitFor();
    assert.equal((await ok(s.api("GET", `/v1/orgs/${org.id}/webhooks/${hook.id}`, { token: ada.token }))).disabled_reason, "manual");
    await page.getByRole("button", { name: `Delete the webhook ${url}` }).click();
    await page.getByRole("dialog", { name: "Delete this webhook?" }).getByRole("button", { name: "Delete" }).click();
    await page.getByText("No webhooks.").waitFor();
    assert.deepEqual((await ok(s.api("GET", `/v1/orgs/${org.id}/webhooks`, { token: ada.token }))).data, []);
    assert.deepEqual(b.errors, []);
    await page.close();
  });
});
