// users.js - every user of the instance: search, a user's details (its
// organizations and live sessions), signing it out everywhere, and disabling
// or enabling an account (which also revokes its sessions).

import { h, mount } from "./common/dom.js";
import { api, p } from "./common/api.js";
import { header, section, badge, button, confirm, field, form, table, time, pagedList, notice, loading, errorNotice } from "./common/ui.js";
import { announce } from "./common/router.js";


export function userBadges(u) {
  return h("span", { class: "row" },
    u.disabled ? badge("Disabled", "bad") : badge("Active", "ok"),
    u.is_admin ? badge("Admin", "info") : null,
    u.mfa_enabled ? badge("2FA", "neutral", "Two-factor authentication on") : null,
    u.email_verified ? null : badge("Unverified", "warn", "Email not verified"));
}

export function usersPage(ctx) {
  const query = ctx.query.get("query") || "";
  const search = form({
    cls: "inline-form", label: "Search users", submit: "Search", submitKind: "secondary",
    fields: [field({ name: "query", label: "Email or name contains", type: "search", value: query, attrs: { maxlength: 320 } })],
    onSubmit: (v) => ctx.router.go(v.query ? `/users?query=${encodeURIComponent(v.query)}` : "/users"),
  });
  const list = pagedList(
    (cursor) => api.get("/v1/admin/users", { query, cursor, limit: 50 }),
    (users) => table([
      { label: "Email", render: (u) => h("a", { href: `/_/users/${encodeURIComponent(u.id)}` }, u.email), cls: "wrap" },
      { label: "Name", render: (u) => u.name || h("span", { class: "muted" }, "—") },
      { label: "Status", render: userBadges },
      { label: "Created", render: (u) => time(u.created_at) },
    ], users, { caption: query ? `Users matching “${query}”` : "All users", empty: query ? "No user matches." : "No users yet." }));
  return [header("Users", { lead: "Every account of this instance." }), search.el, list];
}

export async function userPage(ctx) {
  let user;
  try {
    user = await api.get(p`/v1/admin/users/${ctx.params.id}`);
  } catch (err) {
    if (err.status === 404) return [header("User not found"), notice("error", "No user has this id.")];
    throw err;
  }
  ctx.setTitle(user.email);
  const box = h("div");
  const orgs = user.organizations;
  const sessionsBody = h("div", null, loading());

  function loadSessions(u) {
    api.get(p`/v1/admin/users/${u.id}/sessions`).then((r) => mount(sessionsBody,
      table([
        { label: "Signed in", render: (x) => time(x.created_at) },
        { label: "Last used", render: (x) => time(x.last_used_at) },
        { label: "Expires", render: (x) => time(x.expires_at) },
        { label: "IP", render: (x) => x.ip || "—", cls: "mono" },
        { label: "Device", render: (x) => x.user_agent || "—", cls: "wrap" },
      ], r.data, { caption: "Live sessions", empty: "No live session: the account is signed out everywhere." }),
      r.data.length ? h("p", null, button("Sign out everywhere", async () => {
        if (!await confirm(`Every session of ${u.email} ends now; the account stays enabled and may sign in again.`,
          { title: "Sign this account out everywhere?", confirmLabel: "Sign out everywhere", danger: true })) return;
        await api.del(p`/v1/admin/users/${u.id}/sessions`);
        announce(`${u.email} is signed out everywhere.`);
        loadSessions(u);
      }, { kind: "danger" })) : null)).catch((err) => mount(sessionsBody, errorNotice(err)));
  }

  function draw(u) {
    const toggle = u.disabled
      ? button("Enable account", async () => {
        const r = await api.post(p`/v1/admin/users/${u.id}/enable`);
        draw(r);
        announce(`${r.email} is enabled.`);
      }, { kind: "primary" })
      : button("Disable account", async () => {
        if (!await confirm(`${u.email} will be signed out everywhere and cannot sign in until enabled again.`,
          { title: "Disable this account?", confirmLabel: "Disable", danger: true })) return;
        const r = await api.post(p`/v1/admin/users/${u.id}/disable`);
        draw(r);
        announce(`${r.email} is disabled.`);
      }, { kind: "danger" });
    mount(box,
      header(u.email, { lead: u.name || null, actions: [toggle] }),
      u.disabled ? notice("warning", "This account is disabled: it cannot sign in and its tokens are refused.") : null,
      section("Account", h("dl", { class: "props" },
        h("dt", null, "Id"), h("dd", { class: "mono" }, u.id),
        h("dt", null, "Email"), h("dd", null, u.email, " ", u.email_verified ? badge("Verified", "ok") : badge("Unverified", "warn")),
        h("dt", null, "Name"), h("dd", null, u.name || "—"),
        h("dt", null, "Status"), h("dd", null, userBadges(u)),
        h("dt", null, "Two-factor"), h("dd", null, u.mfa_enabled ? "On" : "Off"),
        h("dt", null, "Created"), h("dd", null, time(u.created_at)))),
      section("Organizations", table([
        { label: "Organization", render: (o) => h("a", { href: `/_/orgs/${encodeURIComponent(o.id)}` }, o.name) },
        { label: "Slug", render: (o) => h("span", { class: "mono" }, o.slug) },
        { label: "Kind", render: (o) => (o.personal ? "Personal" : "Team") },
        { label: "Role", render: (o) => o.role },
      ], orgs, { caption: "Organizations", empty: "No organization." })),
      section("Sessions", sessionsBody));
    loadSessions(u);
  }

  draw(user);
  return box;
}
