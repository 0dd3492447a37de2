// overview.js - the instance at a glance: counts, the instance audit chain,
// and charts of the last hours and days.
//
// The API has no aggregate routes yet, so the numbers are derived from the
// lists: users and organizations by their created_at, the job backlog from
// each job's created_at and finished_at, sign-ins from the instance audit
// events when the server offers GET /v1/admin/audit-events. Lists are read
// up to LIMIT items; beyond that the counts say "N+" (a server-side
// aggregate would make them exact and cheap).

import { h } from "./common/dom.js";
import { api } from "./common/api.js";
import { header, section, badge, notice, num } from "./common/ui.js";
import { barChart, lineChart, buckets } from "./common/chart.js";

const LIMIT = 2000;
const HOUR = 3600e3;

function count(list) {
  return list.complete ? num(list.items.length) : `${num(list.items.length)}+`;
}

function stat(label, value, href) {
  return h("div", { class: "stat" }, h("dt", null, label), h("dd", null, href ? h("a", { href }, value) : value));
}

// Instance audit events of one action since a time, or null when this
// server has no admin audit route.
async function instanceEvents(action, since) {
  try {
    return (await api.all("/v1/admin/audit-events", { action, since: new Date(since).toISOString() }, LIMIT)).items;
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

export async function overview() {
  const now = Date.now();
  const [users, orgs, queued, running, dead, jobs, chain, signIns, failures] = await Promise.all([
    api.all("/v1/admin/users", {}, LIMIT),
    api.all("/v1/admin/orgs", {}, LIMIT),
    api.all("/v1/admin/jobs", { status: "queued" }, LIMIT),
    api.all("/v1/admin/jobs", { status: "running" }, LIMIT),
    api.all("/v1/admin/jobs", { status: "dead" }, LIMIT),
    recentJobs(now - 24 * HOUR),
    chainStatus(),
    instanceEvents("user.logged_in", now - 24 * HOUR),
    instanceEvents("user.login_failed", now - 24 * HOUR),
  ]);

  const hours = buckets(24, "hour", now);
  const days = buckets(14, "day", now);
  // the backlog also counts jobs queued before the window that are still waiting
  const byId = new Map(jobs.map((j) => [j.id, j]));
  for (const j of queued.items) byId.set(j.id, j);

  const signInChart = signIns && failures
    ? barChart({
      title: "Sign-ins per hour, last 24 hours", labels: hours.labels, longLabels: hours.longLabels, axisLabel: "Hour",
      series: [
        { name: "Sign-ins", values: hours.count(signIns.map((e) => Date.parse(e.created_at))) },
        { name: "Failed sign-ins", values: hours.count(failures.map((e) => Date.parse(e.created_at))) },
      ],
    })
    : h("div", null, h("p", { class: "chart-title" }, h("strong", null, "Sign-ins per hour, last 24 hours")),
      notice("info", "This server does not offer the instance audit log to the dashboard yet (GET /v1/admin/audit-events); sign-ins and failed sign-ins appear here once it does."));

  return [
    header("Overview", { lead: "The state of this instance." }),
    h("dl", { class: "stats" },
      stat("Users", count(users), "/_/users"),
      stat("Organizations", count(orgs), "/_/orgs"),
      stat("Jobs queued", count(queued), "/_/jobs?status=queued"),
      stat("Jobs running", count(running), "/_/jobs?status=running"),
      stat("Dead jobs", count(dead), "/_/jobs?status=dead")),
    section("Audit log", h("p", { class: "row" }, "Instance chain: ", chain)),
    h("div", { class: "grid" },
      h("div", { class: "card" }, signInChart),
      h("div", { class: "card" }, lineChart({
        title: "Job backlog, last 24 hours", labels: hours.labels, longLabels: hours.longLabels, axisLabel: "Hour",
        series: [{ name: "Queued or running", values: backlog([...byId.values()], hours) }],
        note: "Jobs created and not yet finished at the end of each hour.",
      })),
      h("div", { class: "card" }, barChart({
        title: "New organizations per day, last 14 days", labels: days.labels, longLabels: days.longLabels, axisLabel: "Day",
        series: [{ name: "New organizations", values: days.count(orgs.items.filter((o) => !o.personal).map((o) => Date.parse(o.created_at))) }],
        note: "Personal organizations, made with every account, are left out.",
      })),
      h("div", { class: "card" }, barChart({
        title: "New accounts per day, last 14 days", labels: days.labels, longLabels: days.longLabels, axisLabel: "Day",
        series: [{ name: "New accounts", values: days.count(users.items.map((u) => Date.parse(u.created_at))) }],
      }))),
    users.complete && orgs.complete ? null
      : h("p", { class: "hint" }, `Counts and charts read at most ${num(LIMIT)} users and organizations.`),
  ];
}
