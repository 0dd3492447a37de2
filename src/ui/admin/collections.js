// collections.js - the collections defined on this instance (GET
// /v1/admin/collections) and, for one of them, the records of any
// organization (and project, for project-scoped ones) through the admin
// routes /v1/admin/orgs/{org}[/projects/{project}]/collections/{name}/records.

import { h } from "./common/dom.js";
import { api, p } from "./common/api.js";
import { header, section, badge, field, form, table, time, pagedList, notice } from "./common/ui.js";

const ORG_LIMIT = 2000;

function fields(d) {
  return Object.keys((d.schema && d.schema.properties) || {});
}

export async function collectionsPage() {
  const defs = (await api.all("/v1/admin/collections")).items;
  return [
    header("Collections", { lead: "The data types this instance's products store per organization. Definitions are applied with plinth collections apply or the admin API." }),
    table([
      { label: "Name", render: (d) => h("a", { href: `/_/collections/${encodeURIComponent(d.name)}` }, d.name) },
      { label: "Scope", render: (d) => badge(d.scope === "project" ? "Project" : "Organization", d.scope === "project" ? "info" : "neutral") },
      { label: "Fields", render: (d) => fields(d).join(", ") || "—", cls: "wrap" },
      { label: "Indexes", render: (d) => (d.indexes || []).map((i) => i.join("+")).join(", ") || "—", cls: "wrap" },
      { label: "Search", render: (d) => (d.search || []).join(", ") || "—", cls: "wrap" },
    ], defs, { caption: "Collections", empty: "No collections are defined." }),
  ];
}

function recordsList(path) {
  return pagedList(
    (cursor) => api.get(path, { cursor, limit: 50 }),
    (records) => table([
      { label: "Id", render: (r) => h("span", { class: "mono" }, r.id) },
      { label: "Data", render: (r) => h("code", { class: "wrap" }, JSON.stringify(r.data).slice(0, 240)), cls: "wrap" },
      { label: "Version", render: (r) => String(r.version), cls: "num" },
      { label: "Updated", render: (r) => time(r.updated_at) },
    ], records, { caption: "Records, in id order", empty: "No records." }));
}

export async function collectionPage(ctx) {
  const name = ctx.params.name;
  const d = await api.get(p`/v1/admin/collections/${name}`);
  ctx.setTitle(d.name);
  const orgs = (await api.all("/v1/admin/orgs", {}, ORG_LIMIT)).items;
  const org = ctx.query.get("org") || "";
  const project = ctx.query.get("project") || "";
  const projects = d.scope === "project" && org
    ? (await api.all(p`/v1/admin/orgs/${org}/projects`)).items : [];
  const pick = form({
    cls: "inline-form", label: "Show the records of", submit: "Show records", submitKind: "secondary",
    fields: [
      field({ name: "org", label: "Organization", type: "select", value: org, options: [["", "Choose an organization"], ...orgs.map((o) => [o.id, `${o.name} (${o.slug})`])] }),
      ...(d.scope === "project" && org
        ? [field({ name: "project", label: "Project", type: "select", value: project, options: [["", "Choose a project"], ...projects.map((x) => [x.id, x.name])] })]
        : []),
    ],
    onSubmit: (v) => {
      const q = new URLSearchParams();
      if (v.org) q.set("org", v.org);
      if (v.project && v.org === org) q.set("project", v.project);
      return ctx.router.go(`/collections/${encodeURIComponent(name)}${q.toString() ? `?${q}` : ""}`);
    },
  });
  let records;
  if (!org) records = notice("info", "Choose an organization to see its records.");
  else if (d.scope === "project" && !project) records = notice("info", projects.length ? "Choose one of its projects." : "This organization has no projects.");
  else if (d.scope === "project") records = recordsList(p`/v1/admin/orgs/${org}/projects/${project}/collections/${name}/records`);
  else records = recordsList(p`/v1/admin/orgs/${org}/collections/${name}/records`);
  return [
    header(d.name, { lead: d.scope === "project" ? "A project-scoped collection." : "An organization-scoped collection." }),
    section("Definition", h("dl", { class: "props" },
      h("dt", null, "Fields"), h("dd", null, fields(d).join(", ") || "—"),
      h("dt", null, "Indexes"), h("dd", null, (d.indexes || []).map((i) => i.join("+")).join(", ") || "—"),
      h("dt", null, "Search"), h("dd", null, (d.search || []).join(", ") || "—"),
      h("dt", null, "Rules"), h("dd", null, `update: ${(d.rules && d.rules.update) || "permission"}, delete: ${(d.rules && d.rules.delete) || "permission"}`)),
    h("pre", { class: "code", tabindex: "0", "aria-label": "Schema" }, JSON.stringify(d.schema, null, 2))),
    section("Records", pick.el, records),
  ];
}
