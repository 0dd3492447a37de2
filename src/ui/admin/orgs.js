// orgs.js - every organization of the instance, and one organization's
// plan and usage, members, roles, webhooks and audit log.
//
// The admin API lists organizations and assigns plans; an organization's
// billing, usage, members, roles and webhooks are read through its own routes
// when the admin is a member (with the permission each needs), the audit log
// through the admin audit routes otherwise.

import { h, mount } from "./common/dom.js";
import { api, p } from "./common/api.js";
import { header, section, badge, field, form, num, table, time, pagedList, notice, loading, errorNotice } from "./common/ui.js";
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

const USAGE = [
  ["members", "Members"], ["projects", "Projects"], ["api_keys", "API keys"],
  ["webhooks", "Webhook endpoints"], ["records", "Records"], ["storage_bytes", "Storage (bytes)"],
];

function planProps(b) {
  return h("dl", { class: "props" },
    h("dt", null, "Plan"), h("dd", null, b.plan.name, " ", h("code", null, b.plan.key)),
    h("dt", null, "Subscription"), h("dd", null, b.status === "none" ? "None" : b.status),
    h("dt", null, "Period ends"), h("dd", null, b.current_period_end ? time(b.current_period_end) : "—"));
}

// Plan and usage: read with the org's routes when the admin is a member
// (billing.read, org.read); a plan can be assigned in any case.
function planSection(org, member) {
  const current = h("div");
  const usage = h("div");
  let picker = null; // the plan select, once the plans are loaded
  let currentPlan = null;
  const showPlan = (b) => {
    currentPlan = b.plan.key;
    if (picker) picker.value = currentPlan;
    mount(current, planProps(b));
  };
  if (member) {
    api.get(p`/v1/orgs/${org.id}/billing`).then(showPlan).catch((err) =>
      mount(current, err.status === 403 ? notice("info", "Your role in this organization does not show its billing.") : errorNotice(err)));
    api.get(p`/v1/orgs/${org.id}/usage`).then((u) => mount(usage, table([
      { label: "Resource", render: ([, label]) => label },
      { label: "Used", render: ([key]) => num(u[key].used), cls: "num" },
      { label: "Limit", render: ([key]) => (u[key].max === null ? "Unlimited" : num(u[key].max)), cls: "num" },
    ], USAGE.filter(([key]) => u[key]), { caption: "Usage against the plan's limits" }))).catch((err) => mount(usage, errorNotice(err)));
  } else {
    mount(current, notice("info", "An organization's current plan and usage are shown to its members; assigning a plan below shows the result."));
  }
  const box = h("div");
  api.all("/v1/admin/plans").then(({ items }) => {
    if (!items.length) return mount(box, h("p", { class: "hint" }, "No plans are defined on this instance."));
    const f = form({
      label: "Assign a plan", submit: "Assign plan", submitKind: "secondary",
      fields: [field({ name: "plan", label: "Plan", type: "select", value: currentPlan, options: items.map((x) => [x.key, `${x.name} (${x.key})`]) })],
      async onSubmit(v) {
        const b = await api.put(p`/v1/admin/orgs/${org.id}/plan`, { plan: v.plan });
        showPlan(b);
        f.success(`${org.name} is on ${b.plan.name} now.`);
      },
    });
    picker = f.field("plan").control;
    return mount(box, f.el);
  }).catch((err) => mount(box, api.missing(err) ? null : errorNotice(err)));
  return section("Plan and usage", current, usage, box);
}

// The org's webhook endpoints, for a member allowed webhook.read.
function webhooksSection(org) {
  return section("Webhooks", lazy(async () => {
    let hooks;
    try {
      hooks = (await api.all(p`/v1/orgs/${org.id}/webhooks`)).items;
    } catch (err) {
      if (err.status === 403) return notice("info", "Your role in this organization does not show its webhooks.");
      throw err;
    }
    return table([
      { label: "URL", render: (w) => w.url, cls: "wrap" },
      { label: "Events", render: (w) => w.events.join(", "), cls: "wrap" },
      { label: "State", render: (w) => (w.enabled ? badge("Enabled", "ok") : badge(w.disabled_reason === "manual" ? "Disabled" : `Disabled: ${w.disabled_reason}`, w.disabled_reason === "manual" ? "neutral" : "bad")) },
      { label: "Created", render: (w) => time(w.created_at) },
    ], hooks, { caption: "Webhook endpoints", empty: "No webhooks." });
  }));
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

  const parts = [header(org.name, { lead: org.slug }), props, planSection(org, !!role)];
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
      webhooksSection(org),
      section("Audit log", verifyBadge(`${base}/audit-events`, "Organization chain"), auditLog(`${base}/audit-events`, `audit-${org.slug}`)));
  } else {
    const auditBase = await adminAuditBase(org.id);
    if (auditBase) {
      parts.push(section("Audit log", verifyBadge(auditBase, "Organization chain"), auditLog(auditBase, `audit-${org.slug}`)));
    } else {
      parts.push(notice("info", "You are not a member of this organization. Its members, roles, webhooks and audit log are shown to its members; this server does not offer them to instance admins yet."));
    }
  }
  return parts;
}
