// webhooks.js - an organization's webhook endpoints in the portal: list,
// create (the signing secret shown once), enable and disable, delete, and
// an endpoint's deliveries with retry. Reading needs webhook.read; every
// change needs webhook.manage (offered only then; the server decides).

import { h, mount } from "./common/dom.js";
import { api, p } from "./common/api.js";
import { header, section, badge, button, confirm, copyable, field, form, notice, pagedList, table, time } from "./common/ui.js";
import { announce } from "./common/router.js";

function hooksHref(o, suffix = "") {
  return `/account/orgs/${encodeURIComponent(o.slug)}/webhooks${suffix}`;
}

const REASONS = {
  manual: "Disabled",
  failing: "Disabled: failing",
  gone: "Disabled: endpoint gone",
};

function state(w) {
  return w.enabled ? badge("Enabled", "ok") : badge(REASONS[w.disabled_reason] || "Disabled", w.disabled_reason === "manual" ? "neutral" : "bad");
}

function events(list) {
  return list.join(", ");
}

export async function webhooksPage(ctx) {
  const { org, access } = ctx;
  ctx.setTitle(`Webhooks · ${org.name}`);
  const manage = access.can("webhook.manage");
  const box = h("div");
  async function draw() {
    const hooks = (await api.all(p`/v1/orgs/${org.id}/webhooks`)).items;
    mount(box, table([
      { label: "URL", render: (w) => h("a", { href: hooksHref(org, `/${encodeURIComponent(w.id)}`) }, w.url), cls: "wrap" },
      { label: "Events", render: (w) => events(w.events), cls: "wrap" },
      { label: "Description", render: (w) => w.description || "—", cls: "wrap" },
      { label: "State", render: (w) => state(w) },
      { label: "Created", render: (w) => time(w.created_at) },
      { label: "", render: (w) => (manage ? h("span", { class: "row" },
        button(w.enabled ? "Disable" : "Enable", async () => {
          await api.patch(p`/v1/orgs/${org.id}/webhooks/${w.id}`, { enabled: !w.enabled });
          announce(`Webhook ${w.url} ${w.enabled ? "disabled" : "enabled"}.`);
          await draw();
        }, { small: true, aria: `${w.enabled ? "Disable" : "Enable"} the webhook ${w.url}` }),
        button("Delete", async () => {
          if (!await confirm(`Events will no longer be sent to ${w.url}, and its deliveries are deleted.`, { title: "Delete this webhook?", confirmLabel: "Delete", danger: true })) return;
          await api.del(p`/v1/orgs/${org.id}/webhooks/${w.id}`);
          announce(`Webhook ${w.url} deleted.`);
          await draw();
        }, { small: true, kind: "danger", aria: `Delete the webhook ${w.url}` })) : "") },
    ], hooks, { caption: `Webhook endpoints of ${org.name}`, empty: "No webhooks." }));
  }
  await draw();
  const parts = [
    header("Webhooks", { lead: "Endpoints that receive this organization's events as signed HTTP requests." }),
    section("Endpoints", box),
  ];
  if (manage) {
    const shown = h("div");
    const f = form({
      label: "New webhook", submit: "Create webhook",
      fields: [
        field({ name: "url", label: "URL", type: "url", required: true, hint: "An https address on the public internet.", placeholder: "https://hooks.example.com/events", spellcheck: "false", attrs: { maxlength: 2048 } }),
        field({ name: "events", label: "Events", required: true, value: "*", spellcheck: "false", hint: "Comma-separated: event names (org.updated), patterns (member.*) or * for all." }),
        field({ name: "description", label: "Description", hint: "Optional.", attrs: { maxlength: 1024 } }),
      ],
      async onSubmit(v) {
        const list = v.events.split(",").map((x) => x.trim()).filter(Boolean);
        const body = { url: v.url.trim(), events: list };
        if (v.description.trim()) body.description = v.description.trim();
        const w = await api.post(p`/v1/orgs/${org.id}/webhooks`, body);
        mount(shown, notice("warning", "Copy the signing secret now: it is shown only once."), copyable(`Signing secret of ${w.url}`, w.secret, { secret: true }));
        f.field("url").control.value = "";
        f.field("description").control.value = "";
        announce("Webhook created. Copy its signing secret now: it is shown only once.");
        shown.querySelector("input").focus();
        await draw();
      },
    });
    parts.push(section("New webhook", shown, f.el));
  }
  return parts;
}

const DELIVERY = {
  succeeded: ["Succeeded", "ok"],
  failed: ["Failed", "bad"],
  pending: ["Pending", "info"],
};

export async function webhookPage(ctx) {
  const { org, access } = ctx;
  const manage = access.can("webhook.manage");
  const w = await api.get(p`/v1/orgs/${org.id}/webhooks/${ctx.params.id}`);
  ctx.setTitle(`Webhook ${w.url} · ${org.name}`);
  const list = h("div");
  function draw() {
    mount(list, pagedList((cursor) => api.get(p`/v1/orgs/${org.id}/webhooks/${w.id}/deliveries`, { cursor, limit: 50 }), (rows) => table([
      { label: "Event", render: (d) => h("code", null, d.event_type) },
      { label: "State", render: (d) => badge(...(DELIVERY[d.status] || [d.status, "neutral"])) },
      { label: "Attempts", render: (d) => String(d.attempt_count) },
      { label: "Last answer", render: (d) => (d.last_response_status ? `HTTP ${d.last_response_status}` : d.last_error || "—"), cls: "wrap" },
      { label: "Next attempt", render: (d) => (d.next_attempt_at ? time(d.next_attempt_at) : "—") },
      { label: "Created", render: (d) => time(d.created_at) },
      { label: "", render: (d) => (manage && d.status === "failed" ? button("Retry", async () => {
        await api.post(p`/v1/orgs/${org.id}/webhooks/${w.id}/deliveries/${d.id}/retry`);
        announce(`Delivery of ${d.event_type} queued again.`);
        draw();
      }, { small: true, aria: `Retry the delivery of ${d.event_type} created ${new Date(d.created_at).toLocaleString()}` }) : "") },
    ], rows, { caption: `Deliveries to ${w.url}, newest first`, empty: "No deliveries yet." })));
  }
  draw();
  return [
    header("Webhook", { lead: w.url }),
    h("p", null, h("a", { href: hooksHref(org) }, "All webhooks")),
    section("Endpoint", h("dl", { class: "props" },
      h("dt", null, "URL"), h("dd", null, w.url),
      h("dt", null, "Events"), h("dd", null, events(w.events)),
      h("dt", null, "Description"), h("dd", null, w.description || "—"),
      h("dt", null, "State"), h("dd", null, state(w)),
      h("dt", null, "Created"), h("dd", null, time(w.created_at)))),
    section("Deliveries", list),
  ];
}
