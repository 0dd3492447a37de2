// overview.js - the instance at a glance: counts, the instance audit chain,
// and charts of the last hours and days.
//
// Totals and the per-hour and per-day counts (sign-ins, failed sign-ins, new
// accounts and organizations, webhook delivery attempts and failures) come
// from GET /v1/admin/stats, exact at any size; the job backlog is derived
// from the jobs' created_at and finished_at (read up to LIMIT), failing
// instance webhooks from GET /v1/admin/webhooks.

import { h } from "./common/dom.js";
import { api } from "./common/api.js";
import { header, section, badge, num } from "./common/ui.js";
import { barChart, lineChart, buckets } from "./common/chart.js";

const LIMIT = 2000;
const HOUR = 3600e3;

function count(list) {
  return list.complete ? num(list.items.length) : `${num(list.items.length)}+`;
}

function stat(label, value, href) {
  return h("div", { class: "stat" }, h("dt", null, label), h("dd", null, href ? h("a", { href }, value) : value));
}

// The instance's own webhook endpoints (GET /v1/admin/webhooks) that were
// disabled for failing or answering 410; null when the server has no such
// route. Organizations' endpoints are shown to their members only.
async function failingWebhooks() {
  try {
    const all = await api.all("/v1/admin/webhooks", {}, LIMIT);
    const bad = all.items.filter((w) => !w.enabled && (w.disabled_reason === "failing" || w.disabled_reason === "gone"));
    return { items: bad, complete: all.complete };
  } catch (err) {
    if (api.missing(err)) return null;
    throw err;
  }
}

async function chainStatus() {
  try {
    const v = await api.get("/v1/admin/audit-events/verify");
    return v.valid
      ? badge(`Verified · ${v.events} events`, "ok", `Instance chain: verified, ${v.events} events, intact`)
      : badge(`Tampered · first bad event #${v.first_invalid_seq}`, "bad", `Instance chain: verification failed at event ${v.first_invalid_seq}`);
  } catch (err) {
    if (api.missing(err)) return h("span", { class: "muted" }, "Not available on this server");
    return badge("Unknown", "warn");
  }
}

// Queued jobs at the end of each hour of the last 24: jobs created by then
// and not finished by then.
function backlog(jobs, b) {
  const out = new Array(b.labels.length).fill(0);
  for (const j of jobs) {
    const created = Date.parse(j.created_at);
    const finished = j.finished_at ? Date.parse(j.finished_at) : Infinity;
    for (let i = 0; i < out.length; i++) {
      const t = Math.min(b.start + (i + 1) * b.size, Date.now());
      if (created <= t && finished > t) out[i] += 1;
    }
  }
  return out;
}

async function recentJobs(since) {
  // newest first: stop once a page reaches back past `since`
  const items = [];
  let cursor = null;
  do {
    const page = await api.get("/v1/admin/jobs", { limit: 200, cursor });
    items.push(...page.data);
    cursor = page.next_cursor;
    if (page.data.length && Date.parse(page.data[page.data.length - 1].created_at) < since) break;
  } while (cursor && items.length < LIMIT);
  return items;
}

function pct(failed, attempts) {
  return attempts ? Math.round((failed / attempts) * 1000) / 10 : 0;
}

export async function overview() {
  const now = Date.now();
  const hours = buckets(24, "hour", now);
  const days = buckets(14, "day", now);
  const at = (ms) => new Date(ms).toISOString();
  const [hourly, daily, queued, jobs, chain, hooks] = await Promise.all([
    api.get("/v1/admin/stats", { interval: "hour", count: 24, from: at(hours.start) }),
    api.get("/v1/admin/stats", { interval: "day", count: 14, from: at(days.start) }),
    api.all("/v1/admin/jobs", { status: "queued" }, LIMIT),
    recentJobs(now - 24 * HOUR),
    chainStatus(),
    failingWebhooks(),
  ]);
  // the backlog also counts jobs queued before the window that are still waiting
  const byId = new Map(jobs.map((j) => [j.id, j]));
  for (const j of queued.items) byId.set(j.id, j);
  const hs = hourly.series;
  const attempts = hs.webhook_attempts.reduce((a, b) => a + b, 0);
  const failed = hs.webhook_failures.reduce((a, b) => a + b, 0);

  return [
    header("Overview", { lead: "The state of this instance." }),
    h("dl", { class: "stats" },
      stat("Users", num(hourly.users), "/_/users"),
      stat("Organizations", num(hourly.organizations), "/_/orgs"),
      stat("Jobs queued", num(hourly.jobs.queued), "/_/jobs?status=queued"),
      stat("Jobs running", num(hourly.jobs.running), "/_/jobs?status=running"),
      stat("Dead jobs", num(hourly.jobs.dead), "/_/jobs?status=dead"),
      hooks ? stat("Failing instance webhooks", count(hooks)) : null),
    section("Audit log", h("p", { class: "row" }, "Instance chain: ", chain)),
    h("div", { class: "grid" },
      h("div", { class: "card" }, barChart({
        title: "Sign-ins per hour, last 24 hours", labels: hours.labels, longLabels: hours.longLabels, axisLabel: "Hour",
        series: [
          { name: "Sign-ins", values: hs.sign_ins },
          { name: "Failed sign-ins", values: hs.failed_sign_ins },
        ],
      })),
      h("div", { class: "card" }, lineChart({
        title: "Job backlog, last 24 hours", labels: hours.labels, longLabels: hours.longLabels, axisLabel: "Hour",
        series: [{ name: "Queued or running", values: backlog([...byId.values()], hours) }],
        note: "Jobs created and not yet finished at the end of each hour.",
      })),
      h("div", { class: "card" }, lineChart({
        title: "Webhook failure rate per hour, last 24 hours (%)", labels: hours.labels, longLabels: hours.longLabels, axisLabel: "Hour",
        series: [{ name: "Failed attempts (%)", values: hs.webhook_attempts.map((n, i) => pct(hs.webhook_failures[i], n)) }],
        note: attempts
          ? `${num(failed)} of ${num(attempts)} delivery attempts failed (${pct(failed, attempts)}%), every organization's endpoints included.`
          : "No webhook delivery was attempted in the last 24 hours.",
      })),
      h("div", { class: "card" }, barChart({
        title: "New organizations per day, last 14 days", labels: days.labels, longLabels: days.longLabels, axisLabel: "Day",
        series: [{ name: "New organizations", values: daily.series.new_organizations }],
        note: "Personal organizations, made with every account, are left out.",
      })),
      h("div", { class: "card" }, barChart({
        title: "New accounts per day, last 14 days", labels: days.labels, longLabels: days.longLabels, axisLabel: "Day",
        series: [{ name: "New accounts", values: daily.series.new_users }],
      }))),
  ];
}
