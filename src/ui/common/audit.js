// audit.js - an audit log view: the chain's verify badge, the events
// (filtered by action, newest first, page by page) and exports. base is the
// route of the events: /v1/orgs/{org}/audit-events, or an admin route of the
// same shape.

import { h, mount } from "./dom.js";
import { api } from "./api.js";
import { badge, button, download, field, form, pagedList, table, time } from "./ui.js";
import { announce } from "./router.js";

// The verify badge of a chain, with a button to check again.
export function verifyBadge(base, label = "Audit chain") {
  const out = h("span", { class: "verify", "aria-live": "polite" }, h("span", { class: "loading" }, "Verifying…"));
  async function check() {
    try {
      const v = await api.get(`${base}/verify`);
      mount(out, v.valid
        ? badge(`Verified · ${v.events} events`, "ok", `${label}: verified, ${v.events} events, intact`)
        : badge(`Tampered · first bad event #${v.first_invalid_seq}`, "bad", `${label}: verification failed at event ${v.first_invalid_seq}`));
      return v;
    } catch (err) {
      mount(out, badge("Cannot verify", "warn", `${label}: ${err.message}`));
      return null;
    }
  }
  check();
  const again = button("Verify again", async () => {
    const v = await check();
    if (v) announce(v.valid ? "The audit chain is intact." : "The audit chain does not verify.");
  }, { small: true });
  return h("div", { class: "row verify-row" }, h("strong", null, `${label}:`), out, again);
}

function actor(e) {
  if (!e.actor) return "—";
  return h("span", null, e.actor.type, e.actor.id ? h("span", { class: "muted mono" }, ` ${e.actor.id.slice(0, 8)}…`) : null);
}

function target(e) {
  if (!e.target || !e.target.type) return "—";
  return h("span", null, e.target.type, e.target.id ? h("span", { class: "muted mono" }, ` ${String(e.target.id).slice(0, 8)}…`) : null);
}

// The events table with its filter and export buttons. filename: the
// export's file name without extension.
export function auditLog(base, filename) {
  const body = h("div");
  let action = "";
  function load() {
    mount(body, pagedList(
      (cursor) => api.get(base, { action, cursor, limit: 50 }),
      (events) => table([
        { label: "#", render: (e) => String(e.seq), cls: "num" },
        { label: "Action", render: (e) => h("code", null, e.action) },
        { label: "Actor", render: actor },
        { label: "Target", render: target },
        { label: "IP", render: (e) => e.ip || "—" },
        { label: "When", render: (e) => time(e.created_at) },
      ], events, { caption: action ? `Events “${action}”` : "Events, newest first", empty: "No events." })));
  }
  const filter = form({
    cls: "inline-form", label: "Filter events", submit: "Filter", submitKind: "secondary",
    fields: [field({ name: "action", label: "Action", placeholder: "member.invited", attrs: { maxlength: 64 }, spellcheck: "false" })],
    onSubmit(v) {
      action = v.action.trim();
      load();
    },
  });
  const exportBtn = (fmt) => button(`Export ${fmt.toUpperCase()}`, async () => {
    const r = await api.fetch(`${base}/export`, { format: fmt });
    download(await r.blob(), `${filename}.${fmt}`);
  }, { small: true });
  load();
  return h("div", null, filter.el, h("div", { class: "row export-row" }, exportBtn("jsonl"), exportBtn("csv")), body);
}
