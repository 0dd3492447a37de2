// emails.js - recent emails and their status (GET /v1/admin/emails): the
// template, the recipient masked, and the state of the send job. A failed
// message is retried from its job (the Jobs page, status dead).

import { h } from "./common/dom.js";
import { api } from "./common/api.js";
import { header, badge, table, time, pagedList } from "./common/ui.js";

const KIND = { queued: "info", sending: "warn", retrying: "warn", sent: "ok", failed: "bad", unknown: "neutral" };

export function emailsPage() {
  const list = pagedList(
    (cursor) => api.get("/v1/admin/emails", { cursor, limit: 50 }),
    (messages) => table([
      { label: "Template", render: (m) => h("code", null, m.template) },
      { label: "To", render: (m) => m.to, cls: "wrap" },
      { label: "Status", render: (m) => badge(m.status, KIND[m.status] || "neutral") },
      { label: "Attempts", render: (m) => String(m.attempts), cls: "num" },
      { label: "Last error", render: (m) => m.last_error || h("span", { class: "muted" }, "—"), cls: "wrap" },
      { label: "Queued", render: (m) => time(m.created_at) },
      { label: "Sent", render: (m) => (m.sent_at ? time(m.sent_at) : h("span", { class: "muted" }, "—")) },
    ], messages, { caption: "Emails, newest first", empty: "No emails in the last 7 days." }));
  return [header("Emails", { lead: "Messages of the last 7 days: which template went to whom (masked) and whether it was sent." }), list];
}
