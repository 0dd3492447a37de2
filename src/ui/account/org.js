// org.js - an organization's pages in the portal: overview and settings,
// members and invitations, roles, API keys and the audit log. The app shows
// each page only to roles holding its permission (ctx.access); actions
// inside a page are offered by the same rule, and the server decides.

import { h, mount, id } from "./common/dom.js";
import { api, p } from "./common/api.js";
import { header, section, badge, button, checkboxes, confirm, copyable, field, form, notice, table, time, loading, errorNotice } from "./common/ui.js";
import { auditLog, verifyBadge } from "./common/audit.js";
import { announce } from "./common/router.js";

const BUILTIN_ROLES = ["owner", "admin", "member", "viewer"];

function orgHref(o, suffix = "") {
  return `/account/orgs/${encodeURIComponent(o.slug)}${suffix}`;
}

// Role keys the caller may offer in a role picker (the server enforces
// the rules: only owners grant owner, others grant roles below their own).
function roleOptions(access) {
  const roles = access.roles ? access.roles.slice().sort((a, b) => b.level - a.level) : BUILTIN_ROLES.map((k) => ({ key: k, name: k }));
  return roles.map((r) => [r.key, r.name.toLowerCase() === r.key ? r.name : `${r.name} (${r.key})`]);
}

async function refreshMe(ctx) {
  await ctx.app.loadMe();
  ctx.app.forget();
}

export function newOrgPage(ctx) {
  const f = form({
    label: "New organization", submit: "Create organization",
    fields: [
      field({ name: "name", label: "Name", required: true, attrs: { maxlength: 200 } }),
      field({ name: "slug", label: "Address (slug)", hint: "Optional: 3 to 48 lower-case letters, digits and single hyphens. Made from the name when empty.", spellcheck: "false", attrs: { maxlength: 48 } }),
    ],
    async onSubmit(v) {
      const body = { name: v.name };
      if (v.slug) body.slug = v.slug;
      const o = await api.post("/v1/orgs", body);
      await refreshMe(ctx);
      announce(`${o.name} created.`);
      return ctx.router.go(`/orgs/${encodeURIComponent(o.slug)}`);
    },
  });
  return [header("New organization", { lead: "An organization holds members, roles, API keys and an audit log. You will be its owner." }), f.el];
}

export async function orgPage(ctx) {
  const { org, access } = ctx;
  ctx.setTitle(org.name);
  const full = await api.get(p`/v1/orgs/${org.id}`);
  const parts = [header(full.name, { lead: full.personal ? "Your personal organization" : full.slug })];
  parts.push(section("Details", h("dl", { class: "props" },
    h("dt", null, "Name"), h("dd", null, full.name),
    h("dt", null, "Address"), h("dd", { class: "mono" }, full.slug),
    h("dt", null, "Your role"), h("dd", null, full.role),
    h("dt", null, "Created"), h("dd", null, time(full.created_at)),
    h("dt", null, "Id"), h("dd", { class: "mono" }, full.id))));

  if (access.can("flag.read")) {
    const box = h("div", null, loading());
    api.get(p`/v1/orgs/${org.id}/flags`).then((r) => {
      const on = Object.entries(r.flags).filter(([, v]) => v).map(([k]) => k).sort();
      mount(box, on.length ? h("ul", { class: "row" }, on.map((k) => h("li", { class: "badge badge-info" }, k))) : h("p", { class: "empty" }, "No feature is turned on for this organization."));
    }).catch((err) => mount(box, errorNotice(err)));
    parts.push(section("Features", box));
  }

  if (access.can("org.update")) {
    const f = form({
      label: "Organization settings", submit: "Save",
      fields: [
        field({ name: "name", label: "Name", value: full.name, required: true, attrs: { maxlength: 200 } }),
        field({ name: "slug", label: "Address (slug)", value: full.slug, required: true, spellcheck: "false", attrs: { maxlength: 48 } }),
      ],
      async onSubmit(v) {
        const o = await api.patch(p`/v1/orgs/${org.id}`, { name: v.name, slug: v.slug });
        await refreshMe(ctx);
        announce("Saved.");
        return ctx.router.go(`/orgs/${encodeURIComponent(o.slug)}`, { replace: true });
      },
    });
    parts.push(section("Settings", f.el));
  }

  if (!full.personal) {
    const actions = [];
    actions.push(button("Leave organization", async () => {
      if (!await confirm(`You will lose access to ${full.name}.`, { title: "Leave this organization?", confirmLabel: "Leave", danger: true })) return;
      await api.del(p`/v1/orgs/${org.id}/members/${ctx.app.me.id}`);
      await refreshMe(ctx);
      ctx.app.lastOrg = null;
      return ctx.router.go("/");
    }));
    if (access.can("org.delete")) {
      actions.push(button("Delete organization", async () => {
        if (!await confirm(`${full.name}, its members, roles, API keys and invitations will be deleted. This cannot be undone.`, { title: "Delete this organization?", confirmLabel: "Delete", danger: true })) return;
        await api.del(p`/v1/orgs/${org.id}`);
        await refreshMe(ctx);
        ctx.app.lastOrg = null;
        return ctx.router.go("/");
      }, { kind: "danger" }));
    }
    parts.push(section("Leave or delete", h("div", { class: "row" }, actions)));
  }
  return parts;
}

// ---- members and invitations ----

function roleCell(ctx, m, redraw) {
  const { org, access } = ctx;
  if (!access.can("member.update_role") || m.user_id === ctx.app.me.id) return m.role;
  const sid = id("role");
  const sel = h("select", { id: sid, "aria-label": `Role of ${m.email}` }, roleOptions(access).map(([k, l]) => h("option", { value: k, selected: k === m.role }, l)));
  const save = button("Change", async () => {
    if (sel.value === m.role) return;
    await api.patch(p`/v1/orgs/${org.id}/members/${m.user_id}`, { role: sel.value });
    announce(`${m.email} is now ${sel.value}.`);
    await redraw();
  }, { small: true, aria: `Change the role of ${m.email}` });
  return h("div", { class: "role-cell" }, sel, save);
}

export async function membersPage(ctx) {
  const { org, access } = ctx;
  ctx.setTitle(`Members · ${org.name}`);
  const membersBox = h("div");
  async function drawMembers() {
    const members = (await api.all(p`/v1/orgs/${org.id}/members`)).items;
    mount(membersBox, table([
      { label: "Member", render: (m) => h("span", null, m.name || m.email, m.name ? h("span", { class: "muted" }, ` ${m.email}`) : null), cls: "wrap" },
      { label: "Role", render: (m) => roleCell(ctx, m, drawMembers) },
      { label: "Joined", render: (m) => time(m.joined_at) },
      { label: "", render: (m) => (access.can("member.remove") && m.user_id !== ctx.app.me.id
        ? button("Remove", async () => {
          if (!await confirm(`${m.email} will lose access to ${org.name}.`, { title: "Remove this member?", confirmLabel: "Remove", danger: true })) return;
          await api.del(p`/v1/orgs/${org.id}/members/${m.user_id}`);
          announce(`${m.email} removed.`);
          await drawMembers();
        }, { small: true, aria: `Remove ${m.email}` })
        : "") },
    ], members, { caption: `Members of ${org.name}` }));
  }
  await drawMembers();
  const parts = [header("Members", { lead: org.name }), section("Members", membersBox)];

  if (access.can("member.invite")) {
    const invBox = h("div");
    const drawInvitations = async () => {
      const invs = (await api.all(p`/v1/orgs/${org.id}/invitations`)).items;
      mount(invBox, table([
        { label: "Email", render: (i) => i.email, cls: "wrap" },
        { label: "Role", render: (i) => i.role },
        { label: "Status", render: (i) => badge(i.status, { pending: "info", accepted: "ok", revoked: "neutral", expired: "warn" }[i.status] || "neutral") },
        { label: "Expires", render: (i) => time(i.expires_at) },
        { label: "", render: (i) => (i.status === "pending" ? button("Revoke", async () => {
          await api.del(p`/v1/orgs/${org.id}/invitations/${i.id}`);
          announce(`Invitation to ${i.email} revoked.`);
          await drawInvitations();
        }, { small: true, aria: `Revoke the invitation to ${i.email}` }) : "") },
      ], invs, { caption: "Invitations", empty: "No invitations." }));
    };
    const invite = form({
      label: "Invite a member", submit: "Send invitation",
      fields: [
        field({ name: "email", label: "Email", type: "email", required: true, spellcheck: "false" }),
        field({ name: "role", label: "Role", type: "select", value: "member", options: roleOptions(access) }),
      ],
      async onSubmit(v) {
        const i = await api.post(p`/v1/orgs/${org.id}/invitations`, v);
        invite.field("email").control.value = "";
        invite.success(`Invitation sent to ${i.email}. It is valid for 7 days.`);
        await drawInvitations();
      },
    });
    await drawInvitations();
    parts.push(section("Invite", invite.el), section("Invitations", invBox));
  }
  return parts;
}

// ---- roles ----

async function catalog() {
  return (await api.get("/v1/permissions")).data;
}

export async function rolesPage(ctx) {
  const { org, access } = ctx;
  ctx.setTitle(`Roles · ${org.name}`);
  const box = h("div");
  async function draw() {
    const roles = (await api.all(p`/v1/orgs/${org.id}/roles`)).items;
    mount(box, table([
      { label: "Role", render: (r) => h("span", null, r.name, " ", h("code", null, r.key)) },
      { label: "Level", render: (r) => String(r.level), cls: "num" },
      { label: "Kind", render: (r) => (r.builtin ? badge("Built-in", "neutral") : badge("Custom", "info")) },
      { label: "Permissions", render: (r) => r.permissions.join(", "), cls: "wrap" },
      { label: "", render: (r) => (access.can("role.manage") && !r.builtin ? button("Delete", async () => {
        if (!await confirm(`The role ${r.name} will be deleted.`, { title: "Delete this role?", confirmLabel: "Delete", danger: true })) return;
        await api.del(p`/v1/orgs/${org.id}/roles/${r.key}`);
        ctx.app.forget();
        announce(`Role ${r.name} deleted.`);
        await draw();
      }, { small: true, aria: `Delete the role ${r.name}` }) : "") },
    ], roles, { caption: `Roles of ${org.name}` }));
  }
  await draw();
  const parts = [header("Roles", { lead: "What each role of this organization may do." }), section("Roles", box)];
  if (access.can("role.manage")) {
    const perms = await catalog();
    const group = checkboxes({
      name: "permissions", legend: "Permissions",
      hint: "You can grant only permissions you hold.",
      options: perms.map((x) => ({ value: x.key, label: x.key, hint: x.description, disabled: !access.can(x.key) })),
    });
    const f = form({
      label: "New role", submit: "Create role",
      fields: [
        field({ name: "key", label: "Key", required: true, hint: "2 to 32 of a-z, 0-9, _ and -, starting with a letter.", spellcheck: "false", attrs: { maxlength: 32 } }),
        field({ name: "name", label: "Name", required: true, attrs: { maxlength: 100 } }),
        field({ name: "level", label: "Level", type: "select", value: "1", options: [["1", "1 (like viewer)"], ["2", "2 (like member)"], ["3", "3 (like admin)"]] }),
        group,
      ],
      async onSubmit(v) {
        await api.post(p`/v1/orgs/${org.id}/roles`, { key: v.key, name: v.name, level: Number(v.level), permissions: v.permissions });
        ctx.app.forget();
        f.success(`Role ${v.name} created.`);
        await draw();
      },
    });
    parts.push(section("New role", f.el));
  }
  return parts;
}

// ---- API keys ----

export async function apiKeysPage(ctx) {
  const { org, access } = ctx;
  ctx.setTitle(`API keys · ${org.name}`);
  const box = h("div");
  async function draw() {
    const keys = (await api.all(p`/v1/orgs/${org.id}/api-keys`)).items;
    mount(box, table([
      { label: "Name", render: (k) => k.name },
      { label: "Key", render: (k) => h("code", null, `${k.prefix}…`) },
      { label: "Permissions", render: (k) => k.permissions.join(", ") || "—", cls: "wrap" },
      { label: "Last used", render: (k) => time(k.last_used_at) },
      { label: "Expires", render: (k) => (k.expires_at ? time(k.expires_at) : "Never") },
      { label: "Created", render: (k) => time(k.created_at) },
      { label: "", render: (k) => (access.can("apikey.manage") ? button("Revoke", async () => {
        if (!await confirm(`Programs using “${k.name}” will be refused at once.`, { title: "Revoke this API key?", confirmLabel: "Revoke", danger: true })) return;
        await api.del(p`/v1/orgs/${org.id}/api-keys/${k.id}`);
        announce(`API key ${k.name} revoked.`);
        await draw();
      }, { small: true, aria: `Revoke the API key ${k.name}` }) : "") },
    ], keys, { caption: `API keys of ${org.name}`, empty: "No API keys." }));
  }
  await draw();
  const parts = [header("API keys", { lead: "Keys let programs call the API as this organization, with the permissions you choose." }), section("Keys", box)];
  if (access.can("apikey.manage")) {
    const perms = await catalog();
    const shown = h("div");
    const group = checkboxes({
      name: "permissions", legend: "Permissions", hint: "A key holds at most the permissions you hold.",
      options: perms.filter((x) => access.can(x.key)).map((x) => ({ value: x.key, label: x.key, hint: x.description })),
    });
    const f = form({
      label: "New API key", submit: "Create key",
      fields: [
        field({ name: "name", label: "Name", required: true, hint: "What uses the key, e.g. “CI deploys”.", attrs: { maxlength: 100 } }),
        field({ name: "expires", label: "Expires on", type: "date", hint: "Optional. Without a date the key works until revoked." }),
        group,
      ],
      async onSubmit(v) {
        const body = { name: v.name, permissions: v.permissions };
        if (v.expires) body.expires_at = new Date(`${v.expires}T23:59:59Z`).toISOString();
        const k = await api.post(p`/v1/orgs/${org.id}/api-keys`, body);
        mount(shown, notice("warning", "Copy the key now: it is shown only once."), copyable(`API key ${k.name}`, k.key, { secret: true }));
        f.field("name").control.value = "";
        announce("API key created. Copy it now: it is shown only once.");
        shown.querySelector("input").focus();
        await draw();
      },
    });
    parts.push(section("New API key", shown, f.el));
  }
  return parts;
}

// ---- audit log ----

export function auditPage(ctx) {
  const { org } = ctx;
  ctx.setTitle(`Audit log · ${org.name}`);
  const base = p`/v1/orgs/${org.id}/audit-events`;
  return [
    header("Audit log", { lead: "Every change to this organization, in a tamper-evident chain." }),
    section("Integrity", verifyBadge(base, "Audit chain"), h("p", { class: "hint" }, "Each event carries the hash of the one before it; verifying recomputes the chain on the server.")),
    section("Events", auditLog(base, `audit-${org.slug}`)),
  ];
}
