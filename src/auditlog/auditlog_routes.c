/* auditlog_routes.c - reading the audit log over HTTP: an org's events,
 * their streamed export and verification, and a user's security events.
 * The log itself (append, chains, verification) is platform/audit. */
#include <stdio.h>
#include <string.h>

#include "core/module.h"
#include "db/db.h"
#include "platform/audit/audit.h"
#include "web/web.h"

static int verify(pl_req_t *req)
{
    pl_db_t *db = pl_db_thread();
    if (!db)
        return PL_EDB;
    bool valid;
    int64_t events, bad;
    char head[65];
    int rc = pl_audit_verify_chain(db, req->ctx.tenant.org_id, &valid, &events, &bad, head);
    if (rc)
        return rc;
    if (valid)
        return pl_resp_json(
            req, 200,
            json_pack("{s:b, s:I, s:s}", "valid", 1, "events", (json_int_t)events, "head", head));
    return pl_resp_json(req, 200,
                        json_pack("{s:b, s:I}", "valid", 0, "first_invalid_seq", (json_int_t)bad));
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

static int page_args(pl_req_t *req, pl_audit_query_t *q)
{
    const char *cursor;
    int rc = pl_req_page(req, &q->limit, &cursor);
    if (rc)
        return rc;
    q->before = 0;
    if (cursor && pl_parse_int64(cursor, 1, INT64_MAX, &q->before))
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

static int write_page(pl_req_t *req, const pl_audit_query_t *q)
{
    pl_db_t *db = pl_db_thread();
    if (!db)
        return PL_EDB;
    json_t *list;
    int64_t next;
    int rc = pl_audit_page(db, q, &list, &next);
    if (rc)
        return rc;
    char cursor[24];
    snprintf(cursor, sizeof(cursor), "%lld", (long long)next);
    return pl_resp_list(req, list, next ? cursor : NULL);
}

static int list(pl_req_t *req)
{
    pl_audit_query_t q = {.chain = req->ctx.tenant.org_id, .since = 0, .until = INT64_MAX};
    int rc = page_args(req, &q);
    if (!rc)
        rc = filter_arg(req, "action", &q.action);
    if (!rc)
        rc = filter_arg(req, "actor_id", &q.actor_id);
    if (!rc)
        rc = filter_arg(req, "target_id", &q.target_id);
    if (!rc)
        rc = query_time(req, "since", &q.since);
    if (!rc)
        rc = query_time(req, "until", &q.until);
    return rc ? rc : write_page(req, &q);
}

static int security_events(pl_req_t *req)
{
    pl_audit_query_t q = {.chain = PL_AUDIT_INSTANCE, .subject = req->ctx.principal.user_id};
    int rc = page_args(req, &q);
    return rc ? rc : write_page(req, &q);
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
    pl_audit_export_t *x = pl_audit_export_open(req->ctx.tenant.org_id, csv);
    pl_resp_header(req, "Content-Disposition",
                   csv ? "attachment; filename=\"audit-events.csv\""
                       : "attachment; filename=\"audit-events.jsonl\"");
    return pl_resp_stream(req, 200, csv ? "text/csv; charset=utf-8" : "application/x-ndjson",
                          export_read, x, export_free);
}

static pl_route_t routes[] = {
    {PL_M_GET, "/v1/orgs/{org}/audit-events", list, PL_AUTH_ORG, "audit.read", 0},
    {PL_M_GET, "/v1/orgs/{org}/audit-events/export", export, PL_AUTH_ORG, "audit.read", 0},
    {PL_M_GET, "/v1/orgs/{org}/audit-events/verify", verify, PL_AUTH_ORG, "audit.read", 0},
    {PL_M_GET, "/v1/me/security-events", security_events, PL_AUTH_USER, NULL, 0},
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
