// shell.js - the frame around every view: skip link, banner, navigation and
// the main landmark. Views render into main; the frame is redrawn when the
// route or the signed-in state changes.

import { h, id, mount } from "./dom.js";

// root: the app's element. opts:
//   brand: text, home: href, sub: the app's name ("Admin", "Account")
//   nav: [{href, label, current}] (null: no navigation, e.g. sign-in)
//   tools: nodes for the banner's right side (org switcher, user, sign out)
// Returns the <main> element to render the view into.
export function frame(root, { brand, home, sub, nav = null, tools = [] }) {
  const navId = "site-nav";
  const toggle = nav ? h("button", {
    type: "button", class: "btn btn-ghost nav-toggle", "aria-expanded": "false", "aria-controls": navId,
  }, h("span", { class: "burger", "aria-hidden": "true" }), "Menu") : null;
  const navEl = nav ? h("nav", { id: navId, class: "site-nav", "aria-label": "Main" },
    h("ul", null, nav.map((n) => n.heading
      ? h("li", { class: "nav-heading" }, n.heading)
      : h("li", null, h("a", { href: n.href, "aria-current": n.current ? "page" : null }, n.label))))) : null;
  if (toggle) {
    toggle.addEventListener("click", () => {
      const open = toggle.getAttribute("aria-expanded") !== "true";
      toggle.setAttribute("aria-expanded", String(open));
      navEl.classList.toggle("open", open);
    });
    // choosing a page closes the menu on small screens
    navEl.addEventListener("click", (e) => {
      if (e.target.closest("a")) {
        toggle.setAttribute("aria-expanded", "false");
        navEl.classList.remove("open");
      }
    });
  }
  const main = h("main", { id: "main", class: "main", tabindex: "-1" });
  mount(root,
    h("a", { class: "skip-link", href: "#main" }, "Skip to main content"),
    h("header", { class: "topbar" },
      h("a", { class: "brand", href: home }, h("span", { class: "brand-mark", "aria-hidden": "true" }, "▚"), brand,
        sub ? h("span", { class: "brand-sub" }, sub) : null),
      toggle,
      tools.length ? h("div", { class: "tools" }, tools) : null),
    h("div", { class: ["layout", nav ? "with-nav" : "no-nav"] }, navEl, main));
  return main;
}

// A <select> that navigates (the org switcher). options: [[value, label]].
export function switcher(label, options, value, onChange) {
  const sid = id("switch");
  const sel = h("select", { id: sid, class: "switcher-select" },
    options.map(([v, l]) => h("option", { value: v, selected: v === value }, l)));
  sel.addEventListener("change", () => onChange(sel.value));
  return h("div", { class: "switcher" }, h("label", { for: sid }, label), sel);
}
