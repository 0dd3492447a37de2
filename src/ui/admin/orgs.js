// orgs.js - every organization of the instance, and one organization's
// members, roles and audit log.
//
// The admin API lists organizations; their members, roles and audit log are
// read through the organization's own routes when the admin is a member,
// else through the admin audit routes when this server has them.

import { h, mount } from "./common/dom.js";
import { api, p } from "./common/api.js";
import { header, section, badge, table, time, pagedList, notice, loading, errorNotice } from "./common/ui.js";
import { auditLog, verifyBadge } from "./common/audit.js";

export async function orgsPage(ctx) {
  await ctx.app.loadMe();
  const list = pagedList(
    (cursor) => api.get("/v1/admin/orgs", { cursor, limit: 50 }),
    (orgs) => table([
      { label: "Name", render: (o) => h("a", { href: `/_/orgs/${encodeURIComponent(o.id)}` }, o.name), cls: "wrap" },
      { label: "Slug", render: (o) => h("span", { class: "mono" }, o.slug) },
      { label: "Kind", render: (o) => (o.personal ? badge("Personal", "neutral") : badge("Team", "info")) },
      { label: "Your role", render: (o) => ctx.app.roleIn(o.id) || h("span", { class: "muted" }, "not a member") },
      { label: "Created", render: (o) => time(o.created_at) },
    ], orgs, { caption: "Organizations, oldest first", empty: "No organizations yet." }));
  return [header("Organizations", { lead: "Every organization (tenant) of this instance." }), list];
}

async function findOrg(orgId) {
  let cursor = null;
  do {
    const page = await api.get("/v1/admin/orgs", { limit: 200, cursor });
    const o = page.data.find((x) => x.id === orgId || x.slug === orgId);
    if (o) return o;
    cursor = page.next_cursor;
  } while (cursor);
  return null;
}

// Whether the admin audit routes exist (GET answers anything but a 404 of
// an unknown route).
async function adminAuditBase(orgId) {
  const base = p`/v1/admin/orgs/${orgId}/audit-events`;
  try {
    await api.get(base, { limit: 1 });
    return base;
  } catch (err) {
    return api.missing(err) ? null : base;
  }
}

function lazy(load) {
  const box = h("div", null, loading());
  load().then((n) => mount(box, n)).catch((err) => mount(box, errorNotice(err)));
  return box;
}

export async function orgPage(ctx) {
  const me = await ctx.app.loadMe(); // memberships may have changed since sign-in
  const org = await findOrg(ctx.params.org);
  if (!org) return [header("Organization not found"), notice("error", "No organization has this id.")];
  ctx.setTitle(org.name);
  const role = (me.organizations.find((o) => o.id === org.id) || {}).role || null;
  const props = section("Organization", h("dl", { class: "props" },
    h("dt", null, "Id"), h("dd", { class: "mono" }, org.id),
    h("dt", null, "Slug"), h("dd", { class: "mono" }, org.slug),
    h("dt", null, "Kind"), h("dd", null, org.personal ? "Personal" : "Team"),
    h("dt", null, "Created"), h("dd", null, time(org.created_at)),
    h("dt", null, "Your role"), h("dd", null, role || "Not a member")));

  const parts = [header(org.name, { lead: org.slug }), props];
  if (role) {
    const base = p`/v1/orgs/${org.id}`;
    parts.push(
      section("Members", lazy(async () => table([
        { label: "Email", render: (m) => m.email, cls: "wrap" },
        { label: "Name", render: (m) => m.name || "—" },
        { label: "Role", render: (m) => m.role },
        { label: "Joined", render: (m) => time(m.joined_at) },
      ], (await api.all(`${base}/members`)).items, { caption: "Members" }))),
      section("Roles", lazy(async () => table([
        { label: "Role", render: (r) => h("span", null, r.name, " ", h("code", null, r.key)) },
        { label: "Level", render: (r) => String(r.level), cls: "num" },
        { label: "Kind", render: (r) => (r.builtin ? "Built-in" : "Custom") },
        { label: "Permissions", render: (r) => r.permissions.join(", "), cls: "wrap" },
      ], (await api.all(`${base}/roles`)).items, { caption: "Roles" }))),
      section("Audit log", verifyBadge(`${base}/audit-events`, "Organization chain"), auditLog(`${base}/audit-events`, `audit-${org.slug}`)));
  } else {
    const auditBase = await adminAuditBase(org.id);
    if (auditBase) {
      parts.push(section("Audit log", verifyBadge(auditBase, "Organization chain"), auditLog(auditBase, `audit-${org.slug}`)));
    } else {
      parts.push(notice("info", "You are not a member of this organization. Its members, roles and audit log are shown to its members; this server does not offer them to instance admins yet."));
    }
  }
  return parts;
}
