// jobs.js - the background job queue: filter by status, retry dead jobs.

import { h } from "./common/dom.js";
import { api, p } from "./common/api.js";
import { header, badge, button, field, form, table, time, pagedList } from "./common/ui.js";
import { announce } from "./common/router.js";

const STATUSES = [["", "All"], ["queued", "Queued (incl. waiting to retry)"], ["running", "Running"], ["done", "Done"], ["dead", "Dead"]];
const KIND = { queued: "info", running: "warn", done: "ok", dead: "bad" };

export function jobsPage(ctx) {
  const status = ctx.query.get("status") || "";
  const filter = form({
    cls: "inline-form", label: "Filter jobs", submit: "Show", submitKind: "secondary",
    fields: [field({ name: "status", label: "Status", type: "select", value: status, options: STATUSES })],
    onSubmit: (v) => ctx.router.go(v.status ? `/jobs?status=${v.status}` : "/jobs"),
  });
  const list = pagedList(
    (cursor) => api.get("/v1/admin/jobs", { status, cursor, limit: 50 }),
    (jobs) => table([
      { label: "Kind", render: (j) => h("code", null, j.kind) },
      { label: "Status", render: (j) => statusCell(j) },
      { label: "Attempts", render: (j) => `${j.attempts} / ${j.max_attempts}`, cls: "num" },
      { label: "Last error", render: (j) => j.last_error || h("span", { class: "muted" }, "—"), cls: "wrap" },
      { label: "Due", render: (j) => time(j.run_at) },
      { label: "Created", render: (j) => time(j.created_at) },
      { label: "Id", render: (j) => h("span", { class: "mono muted" }, j.id) },
    ], jobs, { caption: status ? `Jobs: ${status}` : "Jobs, newest first", empty: "No jobs." }));
  return [header("Jobs", { lead: "The background job queue: emails, purges and every deferred task." }), filter.el, list];
}

function statusCell(j) {
  const cell = h("span", { class: "row" }, badge(j.status, KIND[j.status] || "neutral"));
  if (j.status === "dead") {
    cell.append(button("Retry", async () => {
      const r = await api.post(p`/v1/admin/jobs/${j.id}/retry`);
      cell.replaceChildren(badge(r.status, KIND[r.status] || "neutral"), h("span", { class: "muted" }, "retried"));
      announce(`Job ${r.kind} queued again.`);
    }, { small: true, aria: `Retry job ${j.kind} ${j.id}` }));
  }
  return cell;
}
