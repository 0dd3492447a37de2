// orgs.js - every organization of the instance, and one organization's
// plan and usage, members, roles, webhooks and audit log.
//
// Everything is read through the admin routes (/v1/admin/orgs/{org}/...),
// which answer for any organization, member or not; a plan is assigned with
// PUT /v1/admin/orgs/{org}/plan.

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

// Plan and usage, and the plan picker.
function planSection(org, base) {
  const current = h("div", null, loading());
  const usage = h("div", null, loading());
  let picker = null; // the plan select, once the plans are loaded
  let currentPlan = null;
  const showPlan = (b) => {
    currentPlan = b.plan.key;
    if (picker) picker.value = currentPlan;
    mount(current, planProps(b));
  };
  api.get(`${base}/billing`).then(showPlan).catch((err) => mount(current, errorNotice(err)));
  api.get(`${base}/usage`).then((u) => mount(usage, table([
    { label: "Resource", render: ([, label]) => label },
    { label: "Used", render: ([key]) => num(u[key].used), cls: "num" },
    { label: "Limit", render: ([key]) => (u[key].max === null ? "Unlimited" : num(u[key].max)), cls: "num" },
  ], USAGE.filter(([key]) => u[key]), { caption: "Usage against the plan's limits" }))).catch((err) => mount(usage, errorNotice(err)));
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
  }).catch((err) => mount(box, errorNotice(err)));
  return section("Plan and usage", current, usage, box);
}

const DELIVERY_KIND = { succeeded: "ok", pending: "info", failed: "bad" };

// The org's webhook endpoints and each one's latest deliveries.
function webhooksSection(base) {
  return section("Webhooks", lazy(async () => {
    const hooks = (await api.all(`${base}/webhooks`)).items;
    const endpoints = table([
      { label: "URL", render: (w) => w.url, cls: "wrap" },
      { label: "Events", render: (w) => w.events.join(", "), cls: "wrap" },
      { label: "State", render: (w) => (w.enabled ? badge("Enabled", "ok") : badge(w.disabled_reason === "manual" ? "Disabled" : `Disabled: ${w.disabled_reason}`, w.disabled_reason === "manual" ? "neutral" : "bad")) },
      { label: "Created", render: (w) => time(w.created_at) },
    ], hooks, { caption: "Webhook endpoints", empty: "No webhooks." });
    const deliveries = hooks.map((w) => lazy(async () => table([
      { label: "Event", render: (d) => h("code", null, d.event_type) },
      { label: "Status", render: (d) => badge(d.status, DELIVERY_KIND[d.status] || "neutral") },
      { label: "Attempts", render: (d) => String(d.attempt_count), cls: "num" },
      { label: "Last answer", render: (d) => (d.last_response_status ? String(d.last_response_status) : d.last_error || "—"), cls: "wrap" },
      { label: "Created", render: (d) => time(d.created_at) },
    ], (await api.get(base + p`/webhooks/${w.id}/deliveries`, { limit: 20 })).data,
    { caption: `Latest deliveries to ${w.url}`, empty: "No deliveries yet." })));
    return h("div", null, endpoints, ...deliveries);
  }));
}

export async function orgPage(ctx) {
  const me = await ctx.app.loadMe(); // memberships may have changed since sign-in
  const base = p`/v1/admin/orgs/${ctx.params.org}`;
  let org;
  try {
    org = await api.get(base);
  } catch (err) {
    if (err.status === 404) return [header("Organization not found"), notice("error", "No organization has this id.")];
    throw err;
  }
  ctx.setTitle(org.name);
  const role = (me.organizations.find((o) => o.id === org.id) || {}).role || null;
  const props = section("Organization", h("dl", { class: "props" },
    h("dt", null, "Id"), h("dd", { class: "mono" }, org.id),
    h("dt", null, "Slug"), h("dd", { class: "mono" }, org.slug),
    h("dt", null, "Kind"), h("dd", null, org.personal ? "Personal" : "Team"),
    h("dt", null, "Created"), h("dd", null, time(org.created_at)),
    h("dt", null, "Your role"), h("dd", null, role || "Not a member")));
  const orgBase = p`/v1/admin/orgs/${org.id}`;
  return [
    header(org.name, { lead: org.slug }), props, planSection(org, orgBase),
    section("Members", lazy(async () => table([
      { label: "Email", render: (m) => m.email, cls: "wrap" },
      { label: "Name", render: (m) => m.name || "—" },
      { label: "Role", render: (m) => m.role },
      { label: "Joined", render: (m) => time(m.joined_at) },
    ], (await api.all(`${orgBase}/members`)).items, { caption: "Members" }))),
    section("Roles", lazy(async () => table([
      { label: "Role", render: (r) => h("span", null, r.name, " ", h("code", null, r.key)) },
      { label: "Level", render: (r) => String(r.level), cls: "num" },
      { label: "Kind", render: (r) => (r.builtin ? "Built-in" : "Custom") },
      { label: "Permissions", render: (r) => r.permissions.join(", "), cls: "wrap" },
    ], (await api.all(`${orgBase}/roles`)).items, { caption: "Roles" }))),
    webhooksSection(orgBase),
    section("Audit log", verifyBadge(`${orgBase}/audit-events`, "Organization chain"), auditLog(`${orgBase}/audit-events`, `audit-${org.slug}`)),
  ];
}
