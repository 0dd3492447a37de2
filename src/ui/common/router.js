// router.js - client-side routing under a base path (/_ or /account) with the
// History API; the server answers every path below the base with the app's
// page, so deep links and reloads land on the right view.
//
// On every route change the new view's heading receives focus and its title
// is announced, as a page load would be for a screen reader user.

import { h } from "./dom.js";

export class Router {
  // base: "/account"; routes: [{path: "/orgs/:org/members", view, title, ...}];
  // render(match) draws a view (the app decides layout and guards).
  constructor(base, routes, render) {
    this.base = base;
    this.routes = routes.map((r) => ({ ...r, re: compile(r.path) }));
    this.render = render;
    this.current = null;
    this.seq = 0;
  }

  start() {
    window.addEventListener("popstate", () => {
      // a jump to a fragment (the skip link) is not a new page
      if (location.pathname + location.search !== this.key) this.resolve(false);
    });
    document.addEventListener("click", (e) => this.#onClick(e));
    return this.resolve(false);
  }

  // The app-relative path ("/orgs/acme") of the current location.
  path() {
    const p = location.pathname.slice(this.base.length) || "/";
    return p.startsWith("/") ? p : `/${p}`;
  }

  href(path) {
    return this.base + path;
  }

  // Navigates to an app-relative path ("/users?query=ann").
  go(path, { replace = false, state = null } = {}) {
    const target = this.href(path);
    if (replace) history.replaceState(state, "", target);
    else history.pushState(state, "", target);
    return this.resolve(true);
  }

  // Re-renders the current location (after sign-in, an org switch, ...).
  reload() {
    return this.resolve(true);
  }

  async resolve(focus) {
    this.key = location.pathname + location.search;
    const path = this.path();
    const query = new URLSearchParams(location.search);
    let match = null;
    for (const r of this.routes) {
      const m = r.re.exec(path);
      if (m) {
        match = { route: r, params: { ...m.groups }, query, path, state: history.state };
        for (const k of Object.keys(match.params)) match.params[k] = decodeURIComponent(match.params[k]);
        break;
      }
    }
    if (!match) match = { route: null, params: {}, query, path, state: history.state };
    const seq = ++this.seq;
    this.current = match;
    await this.render(match, () => seq === this.seq);
    if (seq === this.seq && focus) focusView();
  }

  #onClick(e) {
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    const a = e.target.closest("a[href]");
    if (!a || a.target || a.hasAttribute("download") || a.getAttribute("href").startsWith("#")) return;
    const u = new URL(a.href, location.href);
    if (u.origin !== location.origin) return;
    if (u.pathname !== this.base && !u.pathname.startsWith(`${this.base}/`)) return;
    e.preventDefault();
    this.go(u.pathname.slice(this.base.length) + u.search);
  }
}

function compile(path) {
  const src = path.replace(/[.*+?^${}()|[\]\\]/g, "\\$&").replace(/:(\w+)/g, "(?<$1>[^/]+)");
  return new RegExp(`^${src}/?$`);
}

// Moves focus to the view's heading and announces the new page.
export function focusView() {
  const h1 = document.querySelector("main h1");
  if (h1) {
    h1.setAttribute("tabindex", "-1");
    h1.focus({ preventScroll: false });
  }
  announce(document.title);
}

let live = null;
// Says text through a polite live region.
export function announce(text) {
  if (!live) {
    live = h("div", { class: "visually-hidden", "aria-live": "polite", "aria-atomic": "true" });
    document.body.append(live);
  }
  live.textContent = "";
  setTimeout(() => { live.textContent = text; }, 50);
}
