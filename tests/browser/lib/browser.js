// browser.js - Debian's Chromium driven by playwright-core (never a
// downloaded browser), plus the checks every page gets: axe-core finds no
// serious or critical violation, and screenshots at 1280 px and 375 px go
// to build/test-results/screenshots/.
"use strict";

const fs = require("node:fs");
const path = require("node:path");
const { chromium } = require("playwright-core");
const { AxeBuilder } = require("@axe-core/playwright");
const { ROOT } = require("./server.js");

const CHROMIUM = process.env.PLINTH_TEST_CHROMIUM || "/usr/bin/chromium";
const ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync"];
const SHOTS = path.join(ROOT, "build", "test-results", "screenshots");
const WIDE = { width: 1280, height: 860 };
const NARROW = { width: 375, height: 740 };

// A browser with a fresh profile (playwright makes a temporary user-data-dir
// and removes it at close). Each user of a test gets a context of their own
// (own cookies: a browser session is per context); pages of one context
// share the session as tabs do.
async function launch() {
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ARGS });
  const errors = [];
  const watch = (page) => {
    page.on("pageerror", (e) => errors.push(`${page.url()}: ${e.message}`));
    page.on("console", (m) => {
      // CSP violations are reported on the console: any is a bug
      if (m.type() === "error" && /Content Security Policy|Refused to/.test(m.text())) errors.push(`${page.url()}: ${m.text()}`);
    });
  };
  async function context() {
    const c = await browser.newContext({ viewport: WIDE, reducedMotion: "reduce", locale: "en-US", timezoneId: "UTC" });
    c.setDefaultTimeout(15000);
    c.on("page", watch);
    return c;
  }
  const first = await context();
  return {
    browser,
    errors,
    // the first user's page, and more tabs of that user
    async page() {
      return first.pages()[0] || first.newPage();
    },
    async newPage() {
      return first.newPage();
    },
    // a page of another user: a fresh context, signed out
    async otherPage() {
      return (await context()).newPage();
    },
    async close() {
      await browser.close();
    },
  };
}

// Fails when axe-core reports a serious or critical violation on the page
// as it is now. Returns the violations of lower impact (for the log). axe
// runs inside the page (legacy mode: the pages have no frames, and it saves
// opening a page per check).
async function checkA11y(page, name, { contrast = true } = {}) {
  let axe = new AxeBuilder({ page }).setLegacyMode(true).options({ resultTypes: ["violations"] });
  if (!contrast) axe = axe.disableRules(["color-contrast"]);
  const result = await axe.analyze();
  const bad = result.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  if (bad.length) {
    const text = bad.map((v) => `${v.impact} ${v.id}: ${v.help}\n${v.nodes.slice(0, 5).map((n) => `    ${n.target.join(" ")} ${n.failureSummary}`).join("\n")}`).join("\n");
    throw new Error(`axe: ${bad.length} serious/critical violation(s) on ${name}:\n${text}`);
  }
  return result.violations;
}

// Screenshots of the page at 1280 px and 375 px (full page), named
// <name>-1280.png and <name>-375.png; the accessibility check runs at both
// widths (colour contrast, the slow rule, once: colours do not depend on the
// width). The viewport is wide again afterwards.
async function capture(page, name, { a11y = true } = {}) {
  fs.mkdirSync(SHOTS, { recursive: true });
  const t0 = Date.now();
  const times = [];
  for (const [vp, suffix] of [[WIDE, "1280"], [NARROW, "375"]]) {
    await page.setViewportSize(vp);
    await page.waitForTimeout(50);
    if (a11y) await checkA11y(page, `${name} at ${suffix} px`, { contrast: suffix === "1280" });
    // nothing may stick out sideways at 375 px
    if (suffix === "375") {
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
      if (overflow > 1) {
        const culprits = await page.evaluate(() => Array.from(document.querySelectorAll("body *"))
          .filter((e) => e.getBoundingClientRect().right > document.documentElement.clientWidth + 1 && !e.closest(".table-wrap"))
          .slice(0, 5).map((e) => `${e.tagName.toLowerCase()}.${e.className}`));
        throw new Error(`${name}: the page is ${overflow} px wider than a 375 px screen (${culprits.join(", ")})`);
      }
    }
    times.push(Date.now());
    await page.screenshot({ path: path.join(SHOTS, `${name}-${suffix}.png`), fullPage: true });
    times.push(Date.now());
  }
  if (process.env.PLINTH_TEST_PROFILE) console.log(`capture ${name}: ${times.map((t) => t - t0).join(" ")}`);
  await page.setViewportSize(WIDE);
}

// Signs in through the form at url (/_/ or /account/...): email and
// password, then the TOTP code when the account has 2FA. Waits for the
// first view after sign-in (its h1).
async function signIn(page, url, { email, password, totp = null }, { landing = null } = {}) {
  await page.goto(url);
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
  if (totp) {
    await page.getByRole("heading", { name: "Two-factor authentication" }).waitFor();
    await page.getByLabel("Authentication code").fill(await totp.next());
    await page.getByRole("button", { name: "Verify" }).click();
  }
  if (landing) await page.getByRole("heading", { level: 1, name: landing }).waitFor();
}

module.exports = { launch, checkA11y, capture, signIn, SHOTS };
