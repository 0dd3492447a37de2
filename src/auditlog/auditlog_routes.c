/* auditlog_routes.c - the HTTP face of the audit log: an org's events,
 * their streamed export and verification, and a user's security events;
 * the same for instance admins over any org's chain and the instance
 * chain; and the module's descriptor. */
#include <stdio.h>
#include <string.h>

#include "auditlog/auditlog.h"
#include "core/module.h"
#include "web/web.h"

static void write_verification(pl_jw_t *w, const void *item)
{
    const pl_auditlog_verification_t *v = item;
    pl_jw_object_open(w, NULL);
    pl_jw_bool(w, "valid", v->valid);
    if (v->valid) {
        pl_jw_int(w, "events", v->events);
        pl_jw_string(w, "head", v->head);
    } else {
        pl_jw_int(w, "first_invalid_seq", v->first_invalid_seq);
    }
    pl_jw_object_close(w);
}

static int verify(pl_req_t *req)
{
    PL_DB_THREAD(db);
    pl_auditlog_verification_t v;
    int rc = pl_auditlog_verify(db, &req->ctx, &v);
    return rc ? rc : pl_resp_object(req, 200, write_verification, &v);
}

/* Parses an RFC 3339 UTC time query parameter into ms; PL_EINVAL when bad. */
static int query_time(pl_req_t *req, const char *name, int64_t *out)
{
    const char *v = pl_req_query(req, name);
    if (!v)
        return PL_OK;
    if (strlen(v) > 40 || pl_time_parse(v, out))
        return pl_req_fail(
            req, 400, "bad_request",
            pl_arena_printf(req->ctx.arena, "%s must be an RFC 3339 UTC time.", name));
    return PL_OK;
}

/* ?limit= and ?cursor= (a seq). */
static int page_args(pl_req_t *req, pl_auditlog_filter_t *f)
{
    const char *cursor;
    int rc = pl_req_page(req, &f->limit, &cursor);
    if (rc)
        return rc;
    f->before = 0;
    if (cursor && pl_parse_int64(cursor, 1, INT64_MAX, &f->before))
        return pl_req_fail(req, 400, "bad_request", "cursor is malformed.");
    return PL_OK;
}

static int filter_arg(pl_req_t *req, const char *name, const char **out)
{
    const char *v = pl_req_query(req, name);
    if (v && strlen(v) > 128)
        return pl_req_fail(req, 400, "bad_request",
                           pl_arena_printf(req->ctx.arena, "%s is too long.", name));
    *out = v;
    return PL_OK;
}

static int render_page(pl_req_t *req, int rc, pl_auditlog_page_t *page)
{
    if (rc)
        return rc;
    char cursor[24];
    snprintf(cursor, sizeof(cursor), "%lld", (long long)page->next);
    return pl_resp_list(req, page->events, page->next ? cursor : NULL);
}

/* The filters of a list: page, action, actor_id, target_id, since, until. */
static int list_filter(pl_req_t *req, pl_auditlog_filter_t *f)
{
    *f = (pl_auditlog_filter_t){.since = 0, .until = INT64_MAX};
    int rc = page_args(req, f);
    if (!rc)
        rc = filter_arg(req, "action", &f->action);
    if (!rc)
        rc = filter_arg(req, "actor_id", &f->actor_id);
    if (!rc)
        rc = filter_arg(req, "target_id", &f->target_id);
    if (!rc)
        rc = query_time(req, "since", &f->since);
    if (!rc)
        rc = query_time(req, "until", &f->until);
    return rc;
}

static int list(pl_req_t *req)
{
    pl_auditlog_filter_t f;
    int rc = list_filter(req, &f);
    if (rc)
        return rc;
    PL_DB_THREAD(db);
    pl_auditlog_page_t page;
    return render_page(req, pl_auditlog_list(db, &req->ctx, &f, &page), &page);
}

static int security_events(pl_req_t *req)
{
    pl_auditlog_filter_t f = {0};
    int rc = page_args(req, &f);
    if (rc)
        return rc;
    PL_DB_THREAD(db);
    pl_auditlog_page_t page;
    return render_page(req, pl_auditlog_security_events(db, &req->ctx, &f, &page), &page);
}

static long export_read(void *cls, uint64_t pos, char *out, size_t max)
{
    PL_UNUSED(pos);
    long n = pl_audit_export_read(cls, out, max);
    return n < 0 ? PL_STREAM_ERROR : n == 0 ? PL_STREAM_END : n;
}

static void export_free(void *cls)
{
    pl_audit_export_free(cls);
}

static int export(pl_req_t *req)
{
    const char *format = pl_req_query(req, "format");
    if (format && strcmp(format, "jsonl") && strcmp(format, "csv"))
        return pl_req_fail(req, 400, "bad_request", "format must be jsonl or csv.");
    bool csv = format && !strcmp(format, "csv");
    pl_audit_export_t *x = pl_auditlog_export(&req->ctx, csv);
    pl_resp_header(req, "Content-Disposition",
                   csv ? "attachment; filename=\"audit-events.csv\""
                       : "attachment; filename=\"audit-events.jsonl\"");
    return pl_resp_stream(req, 200, csv ? "text/csv; charset=utf-8" : "application/x-ndjson",
                          export_read, x, export_free);
}

/* ---- instance admins: any organization's chain, and the instance chain ---- */

static int instance_list(pl_req_t *req)
{
    pl_auditlog_filter_t f;
    int rc = list_filter(req, &f);
    if (rc)
        return rc;
    PL_DB_THREAD(db);
    pl_auditlog_page_t page;
    return render_page(req, pl_auditlog_instance_list(db, &req->ctx, &f, &page), &page);
}

static int instance_verify(pl_req_t *req)
{
    PL_DB_THREAD(db);
    pl_auditlog_verification_t v;
    int rc = pl_auditlog_instance_verify(db, &req->ctx, &v);
    return rc ? rc : pl_resp_object(req, 200, write_verification, &v);
}

static int instance_export(pl_req_t *req)
{
    const char *format = pl_req_query(req, "format");
    if (format && strcmp(format, "jsonl") && strcmp(format, "csv"))
        return pl_req_fail(req, 400, "bad_request", "format must be jsonl or csv.");
    bool csv = format && !strcmp(format, "csv");
    pl_audit_export_t *x = pl_auditlog_instance_export(&req->ctx, csv);
    if (!x)
        return PL_EFORBIDDEN;
    pl_resp_header(req, "Content-Disposition",
                   csv ? "attachment; filename=\"audit-events-instance.csv\""
                       : "attachment; filename=\"audit-events-instance.jsonl\"");
    return pl_resp_stream(req, 200, csv ? "text/csv; charset=utf-8" : "application/x-ndjson",
                          export_read, x, export_free);
}

static pl_route_t routes[] = {
    {PL_M_GET, "/v1/orgs/{org}/audit-events", list, PL_AUTH_ORG, "audit.read", 0},
    {PL_M_GET, "/v1/orgs/{org}/audit-events/export", export, PL_AUTH_ORG, "audit.read", 0},
    {PL_M_GET, "/v1/orgs/{org}/audit-events/verify", verify, PL_AUTH_ORG, "audit.read", 0},
    {PL_M_GET, "/v1/me/security-events", security_events, PL_AUTH_USER, NULL, 0},
    /* any organization's chain, member or not (the dashboard) */
    {PL_M_GET, "/v1/admin/orgs/{org}/audit-events", list, PL_AUTH_ADMIN, NULL, PL_ROUTE_ADMIN_ORG},
    {PL_M_GET, "/v1/admin/orgs/{org}/audit-events/export", export, PL_AUTH_ADMIN, NULL,
     PL_ROUTE_ADMIN_ORG},
    {PL_M_GET, "/v1/admin/orgs/{org}/audit-events/verify", verify, PL_AUTH_ADMIN, NULL,
     PL_ROUTE_ADMIN_ORG},
    {PL_M_GET, "/v1/admin/audit-events", instance_list, PL_AUTH_ADMIN, NULL, 0},
    {PL_M_GET, "/v1/admin/audit-events/export", instance_export, PL_AUTH_ADMIN, NULL, 0},
    {PL_M_GET, "/v1/admin/audit-events/verify", instance_verify, PL_AUTH_ADMIN, NULL, 0},
    {0},
};

static const pl_perm_def_t perms[] = {
    {"audit.read", "Read and export the audit log", PL_ROLES_ADMIN},
    {0},
};

const pl_module_t pl_auditlog_module = {
    .name = "auditlog",
    .routes = routes,
    .perms = perms,
};
