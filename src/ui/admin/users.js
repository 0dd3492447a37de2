// users.js - every user of the instance: search, a user's details, and
// disabling or enabling an account (which also revokes its sessions).

import { h, mount } from "./common/dom.js";
import { api, p } from "./common/api.js";
import { header, section, badge, button, confirm, field, form, table, time, pagedList, notice, loading, errorNotice } from "./common/ui.js";
import { announce } from "./common/router.js";

const LIMIT = 2000;

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

// The user with this id: the list is ordered by id, so it is read page by
// page until found (the API has no single-user admin route).
async function findUser(userId) {
  let cursor = null;
  let seen = 0;
  do {
    const page = await api.get("/v1/admin/users", { limit: 200, cursor });
    const u = page.data.find((x) => x.id === userId);
    if (u) return u;
    cursor = page.next_cursor;
    seen += page.data.length;
  } while (cursor && seen < LIMIT * 5);
  return null;
}

// The organizations the user shares with the admin (members are listed only
// to members).
async function sharedOrgs(app, userId) {
  const me = app.me || await app.loadMe();
  const out = [];
  for (const o of me.organizations.slice(0, 25)) {
    try {
      const members = await api.all(p`/v1/orgs/${o.id}/members`, {}, LIMIT);
      const m = members.items.find((x) => x.user_id === userId);
      if (m) out.push({ ...o, member_role: m.role, joined_at: m.joined_at });
    } catch { /* no member.read there */ }
  }
  return out;
}

export async function userPage(ctx) {
  const user = await findUser(ctx.params.id);
  if (!user) return [header("User not found"), notice("error", "No user has this id.")];
  ctx.setTitle(user.email);
  const box = h("div");

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
      orgsSection,
      section("Sessions", h("p", { class: "hint" },
        "This server does not list another user's sessions to admins. Disabling the account signs it out everywhere.")));
  }

  const orgsBody = h("div", null, loading());
  const orgsSection = section("Organizations", h("p", { class: "hint" },
    "Organizations list their members to members only: shown are those you belong to as well."), orgsBody);
  draw(user);
  sharedOrgs(ctx.app, user.id).then((orgs) => mount(orgsBody, table([
    { label: "Organization", render: (o) => h("a", { href: `/_/orgs/${encodeURIComponent(o.id)}` }, o.name) },
    { label: "Slug", render: (o) => h("span", { class: "mono" }, o.slug) },
    { label: "Role", render: (o) => o.member_role },
    { label: "Joined", render: (o) => time(o.joined_at) },
  ], orgs, { caption: "Shared organizations", empty: "No organization you belong to has this user." })))
    .catch((err) => mount(orgsBody, errorNotice(err)));
  return box;
}
