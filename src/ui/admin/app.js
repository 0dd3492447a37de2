// app.js - the instance admin dashboard (/_/): routes, the frame and the
// signed-in guard. Every page uses the public API with the admin's access
// token; only instance admins get past sign-in.

import { h, mount } from "./common/dom.js";
import { api } from "./common/api.js";
import { session } from "./common/session.js";
import { Router } from "./common/router.js";
import { frame } from "./common/shell.js";
import { button, header, errorNotice, loading } from "./common/ui.js";
import { signInForm } from "./common/auth.js";
import { overview } from "./overview.js";
import { usersPage, userPage } from "./users.js";
import { orgsPage, orgPage } from "./orgs.js";
import { flagsPage, flagPage } from "./flags.js";
import { jobsPage } from "./jobs.js";
import { emailsPage } from "./emails.js";
import { collectionsPage, collectionPage } from "./collections.js";

const BASE = "/_";
// The product's name (PLINTH_PRODUCT_NAME), which the server writes into the page.
const PRODUCT = (document.querySelector('meta[name="product"]') || {}).content || "plinth";

const REASONS = {
  signed_out: "You are signed out.",
  expired: "Your session has ended. Sign in again.",
  session_revoked: "Your session was revoked. Sign in again.",
  account_disabled: "This account is disabled.",
  not_admin: "This account is not an instance admin.",
  invalid_token: "Your session has ended. Sign in again.",
};

// What every view receives besides the route (ctx.app).
const app = {
  me: null, // GET /v1/me: the admin and their organizations
  reason: null,
  async loadMe() {
    this.me = await api.get("/v1/me");
    return this.me;
  },
  // The admin's role in an org, or null when they are not a member.
  roleIn(orgId) {
    const o = this.me && this.me.organizations.find((x) => x.id === orgId);
    return o ? o.role : null;
  },
};

const routes = [
  { path: "/sign-in", view: signInPage, title: "Sign in", public: true },
  { path: "/", view: overview, title: "Overview", nav: "/" },
  { path: "/users", view: usersPage, title: "Users", nav: "/users" },
  { path: "/users/:id", view: userPage, title: "User", nav: "/users" },
  { path: "/orgs", view: orgsPage, title: "Organizations", nav: "/orgs" },
  { path: "/orgs/:org", view: orgPage, title: "Organization", nav: "/orgs" },
  { path: "/flags", view: flagsPage, title: "Feature flags", nav: "/flags" },
  { path: "/flags/:key", view: flagPage, title: "Feature flag", nav: "/flags" },
  { path: "/jobs", view: jobsPage, title: "Jobs", nav: "/jobs" },
  { path: "/emails", view: emailsPage, title: "Emails", nav: "/emails" },
  { path: "/collections", view: collectionsPage, title: "Collections", nav: "/collections" },
  { path: "/collections/:name", view: collectionPage, title: "Collection", nav: "/collections" },
];

const NAV = [
  ["/", "Overview"],
  ["/users", "Users"],
  ["/orgs", "Organizations"],
  ["/flags", "Feature flags"],
  ["/jobs", "Jobs"],
  ["/collections", "Collections"],
  ["/emails", "Emails"],
];

const root = document.getElementById("app");
const router = new Router(BASE, routes, render);

function setTitle(t) {
  document.title = `${t} · Admin · ${PRODUCT}`;
}

async function render(match, current) {
  const r = match.route;
  if (r && !r.public && !session.signedIn) {
    const next = match.path + (match.query.toString() ? `?${match.query}` : "");
    return router.go(`/sign-in?next=${encodeURIComponent(next)}`, { replace: true });
  }
  const signedIn = session.signedIn;
  const main = frame(root, {
    brand: PRODUCT, home: `${BASE}/`, sub: "Admin",
    nav: signedIn ? NAV.map(([p, label]) => ({ href: BASE + p, label, current: r && r.nav === p })) : null,
    tools: signedIn ? [
      h("span", { class: "who" }, session.user ? session.user.email : ""),
      button("Sign out", async () => {
        await session.signOut();
      }, { kind: "ghost", small: true }),
    ] : [],
  });
  if (!r) {
    setTitle("Page not found");
    mount(main, header("Page not found"), h("p", null, "There is no page at this address. ", h("a", { href: `${BASE}/` }, "Go to the overview.")));
    return;
  }
  setTitle(r.title);
  mount(main, header(r.title), loading());
  try {
    const view = await r.view({ ...match, router, app, setTitle, main });
    if (!current()) return;
    mount(main, view);
  } catch (err) {
    if (!current()) return;
    mount(main, header(r.title), errorNotice(err));
  }
}

function signInPage(ctx) {
  const reason = app.reason ? REASONS[app.reason] || null : null;
  app.reason = null;
  const next = ctx.query.get("next");
  return [
    header("Sign in", { lead: "The instance administration of this server." }),
    signInForm(async () => {
      // only instance admins may use the dashboard
      try {
        await api.get("/v1/admin/users", { limit: 1 });
      } catch (err) {
        if (err.status === 403) {
          await session.signOut();
          app.reason = "not_admin";
          return router.go("/sign-in", { replace: true });
        }
        throw err;
      }
      await app.loadMe();
      return router.go(next && next.startsWith("/") && !next.startsWith("//") ? next : "/", { replace: true });
    }, { reason }),
  ];
}

session.addEventListener("change", (e) => {
  if (!e.detail.signedIn) {
    app.me = null;
    app.reason = e.detail.reason || "signed_out";
    if (router.current) router.go("/sign-in", { replace: true }); // else start() draws it
  }
});

(async () => {
  if (await session.restore()) {
    // the browser session may be a user's of the account portal: the
    // dashboard is for instance admins only (the session stays theirs)
    try {
      await api.get("/v1/admin/users", { limit: 1 });
      await app.loadMe();
    } catch {
      session.forget("not_admin");
    }
  }
  await router.start();
})();

export { app };
