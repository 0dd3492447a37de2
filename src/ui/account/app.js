// app.js - the account portal (/account/): the pages a product links its
// users to. Routes, the frame with the organization switcher, the
// signed-in guard, and the caller's permissions in the current organization
// (which decide the pages shown).

import { h, mount } from "./common/dom.js";
import { api, p } from "./common/api.js";
import { session } from "./common/session.js";
import { Router } from "./common/router.js";
import { frame, switcher } from "./common/shell.js";
import { button, header, errorNotice, loading, notice } from "./common/ui.js";
import * as auth from "./auth.js";
import * as me from "./me.js";
import * as org from "./org.js";
import * as webhooks from "./webhooks.js";

const BASE = "/account";
// The product's name (PLINTH_PRODUCT_NAME), which the server writes into the page.
const PRODUCT = (document.querySelector('meta[name="product"]') || {}).content || "plinth";

// Wave-1 built-in roles, used only when the caller may not read the roles
// (no role.read, e.g. a viewer): the pages then follow these defaults.
const BUILTIN = {
  owner: ["org.read", "org.update", "org.delete", "member.read", "member.invite", "member.update_role", "member.remove", "team.read", "team.manage", "role.read", "role.manage", "apikey.read", "apikey.manage", "audit.read", "flag.read", "webhook.read", "webhook.manage"],
  admin: ["org.read", "org.update", "member.read", "member.invite", "member.update_role", "member.remove", "team.read", "team.manage", "role.read", "role.manage", "apikey.read", "apikey.manage", "audit.read", "flag.read", "webhook.read", "webhook.manage"],
  member: ["org.read", "member.read", "team.read", "role.read", "flag.read"],
  viewer: ["org.read", "member.read", "flag.read"],
};

// State shared by the pages (ctx.app).
const app = {
  me: null, // GET /v1/me
  reason: null, // why the user was signed out
  lastOrg: null, // the org last shown, for the switcher
  perms: new Map(), // org id -> {role, roles, set}
  async loadMe() {
    this.me = await api.get("/v1/me");
    session.user = this.me;
    return this.me;
  },
  // The org of a route parameter (id or slug) among the caller's.
  org(ref) {
    return this.me ? this.me.organizations.find((o) => o.id === ref || o.slug === ref) || null : null;
  },
  // The caller's role and permissions in org (cached until forget()).
  async access(o) {
    if (this.perms.has(o.id)) return this.perms.get(o.id);
    let roles = null;
    try {
      roles = (await api.all(p`/v1/orgs/${o.id}/roles`)).items;
    } catch (err) {
      if (err.status !== 403) throw err;
    }
    const mine = roles && roles.find((r) => r.key === o.role);
    const set = new Set(mine ? mine.permissions : BUILTIN[o.role] || ["org.read"]);
    const out = { role: o.role, roles, set, can: (perm) => set.has(perm) };
    this.perms.set(o.id, out);
    return out;
  },
  forget() {
    this.perms.clear();
  },
};

const R = (path, view, title, extra = {}) => ({ path, view, title, ...extra });
const routes = [
  R("/sign-in", auth.signInPage, "Sign in", { public: true }),
  R("/sign-up", auth.signUpPage, "Create your account", { public: true }),
  R("/forgot-password", auth.forgotPage, "Reset your password", { public: true }),
  R("/reset-password", auth.resetPage, "Choose a new password", { public: true }),
  R("/verify-email", auth.verifyPage, "Verify your email", { public: true, any: true }),
  R("/accept-invite", auth.acceptPage, "Join an organization", { public: true, any: true }),
  R("/magic-link", auth.magicPage, "Sign in with a link", { public: true }),
  R("/oauth", auth.oauthPage, "Signing in", { public: true }),
  R("/", me.profilePage, "Your account", { nav: "profile" }),
  R("/security", me.securityPage, "Password and 2FA", { nav: "security" }),
  R("/sessions", me.sessionsPage, "Sessions", { nav: "sessions" }),
  R("/activity", me.activityPage, "Security activity", { nav: "activity" }),
  R("/orgs/new", org.newOrgPage, "New organization", { nav: "new-org" }),
  R("/orgs/:org", org.orgPage, "Organization", { nav: "org", perm: "org.read" }),
  R("/orgs/:org/members", org.membersPage, "Members", { nav: "members", perm: "member.read" }),
  R("/orgs/:org/roles", org.rolesPage, "Roles", { nav: "roles", perm: "role.read" }),
  R("/orgs/:org/api-keys", org.apiKeysPage, "API keys", { nav: "api-keys", perm: "apikey.read" }),
  R("/orgs/:org/audit", org.auditPage, "Audit log", { nav: "audit", perm: "audit.read" }),
  R("/orgs/:org/webhooks", webhooks.webhooksPage, "Webhooks", { nav: "webhooks", perm: "webhook.read" }),
  R("/orgs/:org/webhooks/:id", webhooks.webhookPage, "Webhook", { nav: "webhooks", perm: "webhook.read" }),
];

// The org pages and the permission each needs, in menu order.
const ORG_PAGES = [
  ["", "Overview", "org.read", "org"],
  ["/members", "Members", "member.read", "members"],
  ["/roles", "Roles", "role.read", "roles"],
  ["/api-keys", "API keys", "apikey.read", "api-keys"],
  ["/audit", "Audit log", "audit.read", "audit"],
  ["/webhooks", "Webhooks", "webhook.read", "webhooks"],
];

const root = document.getElementById("app");
const router = new Router(BASE, routes, render);

function setTitle(t) {
  document.title = `${t} · ${PRODUCT}`;
}

function currentOrg(match) {
  const ref = match.params.org;
  const o = (ref && app.org(ref)) || (app.lastOrg && app.org(app.lastOrg)) ||
    (app.me && (app.me.organizations.find((x) => !x.personal) || app.me.organizations[0])) || null;
  if (o) app.lastOrg = o.id;
  return o;
}

async function navFor(match, o) {
  const r = match.route;
  const here = r ? r.nav : null;
  const items = [
    { heading: "Account" },
    { href: `${BASE}/`, label: "Profile", current: here === "profile" },
    { href: `${BASE}/security`, label: "Password and 2FA", current: here === "security" },
    { href: `${BASE}/sessions`, label: "Sessions", current: here === "sessions" },
    { href: `${BASE}/activity`, label: "Security activity", current: here === "activity" },
  ];
  if (o) {
    const acc = await app.access(o).catch(() => null);
    items.push({ heading: o.name });
    for (const [suffix, label, perm, key] of ORG_PAGES) {
      if (acc && !acc.can(perm)) continue;
      items.push({ href: `${BASE}/orgs/${encodeURIComponent(o.slug)}${suffix}`, label, current: here === key && match.params.org !== undefined });
    }
  }
  items.push({ href: `${BASE}/orgs/new`, label: "New organization", current: here === "new-org" });
  return items;
}

async function render(match, current) {
  const r = match.route;
  if (r && !r.public && !session.signedIn) {
    const next = match.path + (match.query.toString() ? `?${match.query}` : "");
    return router.go(`/sign-in?next=${encodeURIComponent(next)}`, { replace: true });
  }
  if (r && r.public && !r.any && session.signedIn) return router.go("/", { replace: true });
  if (session.signedIn && !app.me) {
    try { await app.loadMe(); } catch (err) { /* shown by the view */ }
    if (!current()) return;
  }
  const signedIn = session.signedIn && app.me;
  const o = signedIn ? currentOrg(match) : null;
  const tools = [];
  if (signedIn) {
    if (app.me.organizations.length) {
      tools.push(switcher("Organization", app.me.organizations.map((x) => [x.slug, x.personal ? `${x.name} (personal)` : x.name]), o ? o.slug : "", (slug) => {
        const page = ORG_PAGES.find(([, , , key]) => r && key === r.nav);
        router.go(`/orgs/${encodeURIComponent(slug)}${page ? page[0] : ""}`);
      }));
    }
    tools.push(h("span", { class: "who" }, app.me.email));
    tools.push(button("Sign out", () => session.signOut(), { kind: "ghost", small: true }));
  }
  const nav = signedIn ? await navFor(match, o) : null;
  if (!current()) return;
  const main = frame(root, { brand: PRODUCT, home: `${BASE}/`, sub: "Account", nav, tools });
  if (!r) {
    setTitle("Page not found");
    mount(main, header("Page not found"), h("p", null, "There is no page at this address. ", h("a", { href: `${BASE}/` }, "Go to your account.")));
    return;
  }
  setTitle(r.title);
  mount(main, header(r.title), loading());
  try {
    let view;
    if (match.params.org !== undefined) {
      const target = app.org(match.params.org);
      if (!target) {
        view = [header("Organization not found"), notice("error", "You are not a member of an organization with this address.")];
      } else {
        const acc = await app.access(target);
        view = r.perm && !acc.can(r.perm)
          ? [header(r.title), notice("warning", `Your role (${acc.role}) in ${target.name} does not include this page.`)]
          : await r.view({ ...match, router, app, setTitle, main, org: target, access: acc });
      }
    } else {
      view = await r.view({ ...match, router, app, setTitle, main });
    }
    if (!current()) return;
    mount(main, view);
  } catch (err) {
    if (!current()) return;
    mount(main, header(r.title), errorNotice(err));
  }
}

session.addEventListener("change", (e) => {
  if (!e.detail.signedIn) {
    app.me = null;
    app.forget();
    app.lastOrg = null;
    app.reason = e.detail.reason || "signed_out";
    const r = router.current && router.current.route;
    if (!r || !r.public || !r.any) router.go("/sign-in", { replace: true });
  }
});

(async () => {
  if (await session.restore()) {
    try { await app.loadMe(); } catch { /* the views load it again */ }
  }
  await router.start();
})();
