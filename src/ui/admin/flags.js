// flags.js - feature flags: list, create, edit (with a preview of how many
// organizations the rollout turns the flag on for), per-organization
// overrides, delete.
//
// The preview applies API.md's evaluation rule in the browser: an override
// wins; else a disabled flag is off; else the flag is on when the org's
// bucket (SHA-256 of "key:org_id", first 4 bytes big-endian, mod 100) is
// below rollout_percent.

import { h, mount } from "./common/dom.js";
import { api, p } from "./common/api.js";
import { header, section, badge, button, confirm, field, form, table, time, notice, num } from "./common/ui.js";
import { flagBucket } from "./common/sha256.js";
import { announce } from "./common/router.js";

const KEY_RE = "[a-z][a-z0-9._\\-]{0,63}";
const ORG_LIMIT = 2000;

function stateBadge(f) {
  return f.enabled ? badge("On", "ok") : badge("Off", "neutral");
}

export async function flagsPage(ctx) {
  const flags = (await api.all("/v1/admin/flags")).items;
  const create = form({
    label: "New flag", submit: "Create flag",
    fields: [
      field({ name: "key", label: "Key", required: true, hint: "Lower-case letters, digits, dot, dash and underscore; starts with a letter.", attrs: { pattern: KEY_RE, maxlength: 64 }, spellcheck: "false" }),
      field({ name: "description", label: "Description", attrs: { maxlength: 1000 } }),
      field({ name: "enabled", label: "Enabled", type: "checkbox", value: false }),
      field({ name: "rollout_percent", label: "Rollout (%)", type: "number", value: 100, min: 0, max: 100, step: 1, required: true }),
    ],
    async onSubmit(v) {
      const f = await api.put(p`/v1/admin/flags/${v.key}`, { description: v.description, enabled: v.enabled, rollout_percent: v.rollout_percent });
      announce(`Flag ${f.key} created.`);
      return ctx.router.go(`/flags/${encodeURIComponent(f.key)}`);
    },
  });
  return [
    header("Feature flags", { lead: "Turn features on for all organizations, a share of them, or one by one." }),
    section("Flags", table([
      { label: "Key", render: (f) => h("a", { href: `/_/flags/${encodeURIComponent(f.key)}` }, h("code", null, f.key)) },
      { label: "Description", render: (f) => f.description || h("span", { class: "muted" }, "—"), cls: "wrap" },
      { label: "State", render: stateBadge },
      { label: "Rollout", render: (f) => `${f.rollout_percent}%`, cls: "num" },
      { label: "Overrides", render: (f) => String(f.overrides.length), cls: "num" },
      { label: "Updated", render: (f) => time(f.updated_at) },
    ], flags, { caption: "Flags", empty: "No flags yet." })),
    section("New flag", create.el),
  ];
}

async function findFlag(key) {
  let cursor = null;
  do {
    const page = await api.get("/v1/admin/flags", { limit: 200, cursor });
    const f = page.data.find((x) => x.key === key);
    if (f) return f;
    cursor = page.next_cursor;
  } while (cursor);
  return null;
}

// How many orgs the flag is on for, with these settings.
function countOn(orgs, buckets, overrides, enabled, rollout) {
  let on = 0;
  for (const o of orgs) {
    const ov = overrides.get(o.id);
    if (ov !== undefined ? ov : enabled && buckets.get(o.id) < rollout) on += 1;
  }
  return on;
}

export async function flagPage(ctx) {
  let flag = await findFlag(ctx.params.key);
  if (!flag) return [header("Flag not found"), notice("error", `There is no flag “${ctx.params.key}”.`)];
  ctx.setTitle(flag.key);
  const orgs = await api.all("/v1/admin/orgs", {}, ORG_LIMIT);
  const buckets = new Map();
  await Promise.all(orgs.items.map(async (o) => buckets.set(o.id, await flagBucket(flag.key, o.id))));
  const orgById = new Map(orgs.items.map((o) => [o.id, o]));

  const preview = h("div", { class: "meter" });
  const previewText = h("p", { id: "rollout-preview", "aria-live": "polite" });
  const edit = form({
    label: "Flag settings", submit: "Save",
    fields: [
      field({ name: "description", label: "Description", type: "textarea", value: flag.description, attrs: { maxlength: 1000 } }),
      field({ name: "enabled", label: "Enabled", type: "checkbox", value: flag.enabled, hint: "Off: the flag is off for every organization without an override." }),
      field({ name: "rollout_percent", label: "Rollout (%)", type: "number", value: flag.rollout_percent, min: 0, max: 100, step: 1, required: true,
        hint: "The share of organizations the flag is on for, by a stable hash of the flag key and the organization id.",
        attrs: { "aria-controls": "rollout-preview" } }),
    ],
    async onSubmit(v) {
      flag = await api.put(p`/v1/admin/flags/${flag.key}`, { description: v.description, enabled: v.enabled, rollout_percent: v.rollout_percent });
      edit.success(`Saved: ${flag.enabled ? "on" : "off"}, rollout ${flag.rollout_percent}%.`);
      drawOverrides();
      update();
    },
  });
  const slider = h("input", { type: "range", min: 0, max: 100, step: 1, value: flag.rollout_percent, id: "rollout-slider", "aria-label": "Rollout (%) slider", "aria-controls": "rollout-preview" });
  const number = edit.field("rollout_percent").control;
  slider.addEventListener("input", () => { number.value = slider.value; update(); });
  number.addEventListener("input", () => { slider.value = number.value; update(); });
  edit.field("enabled").control.addEventListener("change", update);
  number.after(slider);

  function update() {
    const v = edit.values();
    const rollout = Math.max(0, Math.min(100, Number(v.rollout_percent) || 0));
    const overrides = new Map(flag.overrides.map((o) => [o.org_id, o.enabled]));
    const on = countOn(orgs.items, buckets, overrides, v.enabled, rollout);
    const total = orgs.items.length;
    mount(preview, h("meter", { min: 0, max: Math.max(total, 1), value: on, "aria-labelledby": "rollout-preview" }));
    previewText.textContent = `With these settings the flag is on for ${num(on)} of ${num(total)}${orgs.complete ? "" : "+"} organizations (${total ? Math.round((on / total) * 100) : 0}%).`;
  }

  const overridesBox = h("div");
  function drawOverrides() {
    mount(overridesBox, table([
      { label: "Organization", render: (o) => { const org = orgById.get(o.org_id); return org ? h("a", { href: `/_/orgs/${encodeURIComponent(org.id)}` }, org.name) : h("span", { class: "mono" }, o.org_id); } },
      { label: "Override", render: (o) => (o.enabled ? badge("On", "ok") : badge("Off", "neutral")) },
      { label: "", render: (o) => button("Remove", async () => {
        await api.del(p`/v1/admin/flags/${flag.key}/orgs/${o.org_id}`);
        flag.overrides = flag.overrides.filter((x) => x.org_id !== o.org_id);
        drawOverrides();
        update();
        announce("Override removed.");
      }, { small: true, aria: `Remove the override of ${(orgById.get(o.org_id) || { name: o.org_id }).name}` }) },
    ], flag.overrides, { caption: "Overrides", empty: "No organization has an override." }));
  }
  const orgChoices = orgs.items.filter((o) => !flag.overrides.some((x) => x.org_id === o.id));
  const addOverride = form({
    cls: "inline-form", label: "Add an override", submit: "Set override", submitKind: "secondary",
    fields: [
      orgs.items.length <= 200
        ? field({ name: "org", label: "Organization", type: "select", required: true, options: [["", "Choose…"], ...orgChoices.map((o) => [o.id, `${o.name} (${o.slug})`])] })
        : field({ name: "org", label: "Organization id or slug", required: true }),
      field({ name: "enabled", label: "Value", type: "select", value: "true", options: [["true", "On"], ["false", "Off"]] }),
    ],
    async onSubmit(v) {
      const r = await api.put(p`/v1/admin/flags/${flag.key}/orgs/${v.org}`, { enabled: v.enabled === "true" });
      flag.overrides = flag.overrides.filter((x) => x.org_id !== r.org_id).concat([{ org_id: r.org_id, enabled: r.enabled }]);
      drawOverrides();
      update();
      addOverride.success("Override set.");
    },
  });
  drawOverrides();
  update();

  const del = button("Delete flag", async () => {
    if (!await confirm(`The flag “${flag.key}” and its overrides will be deleted; it then evaluates as off.`, { title: "Delete this flag?", confirmLabel: "Delete", danger: true })) return;
    await api.del(p`/v1/admin/flags/${flag.key}`);
    announce("Flag deleted.");
    ctx.router.go("/flags");
  }, { kind: "danger" });

  return [
    header(flag.key, { lead: flag.description || null, actions: [del] }),
    h("p", { class: "row" }, stateBadge(flag), `Created `, time(flag.created_at), ` · updated `, time(flag.updated_at)),
    section("Settings", edit.el, h("div", { class: "preview" }, h("h3", null, "Rollout preview"), previewText, preview,
      orgs.complete ? null : h("p", { class: "hint" }, `Counted over the first ${num(ORG_LIMIT)} organizations.`))),
    section("Overrides", overridesBox, addOverride.el),
  ];
}
