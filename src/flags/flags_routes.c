/* flags_routes.c - instance-admin flag management and the per-org evaluation
 * route. Every change bumps flags_version in its transaction and rebuilds
 * this instance's snapshot once the transaction has ended (pl_req_defer). */
#include <string.h>

#define PL_FLAGS_INTERNAL
#include "platform/audit/audit.h"
#include "flags/flags.h"

#define DESCRIPTION_MAX 1000
#define ORG_REF_MAX     64

/* flag.updated in the instance chain, in the change's transaction. */
static int audit_flag(pl_db_t *db, pl_req_t *req, const char *key, const char *change,
                      const char *org_id, bool enabled)
{
    json_t *d =
        json_pack("{s:s, s:s?, s:b}", "change", change, "org_id", org_id, "enabled", enabled);
    int rc = pl_audit_append(db, &req->ctx, NULL, "flag.updated", "flag", key, d);
    json_decref(d);
    return rc;
}

static const char *fmt_time(pl_req_t *req, int64_t ms)
{
    char *out = pl_arena_alloc(req->ctx.arena, 32);
    pl_time_format(ms, out);
    return out;
}

static int no_flag(pl_req_t *req)
{
    return pl_req_fail(req, 404, "not_found", "No such flag.");
}

/* Runs after the request's transaction ended: the rebuild reads what was
 * committed (a rolled-back change rebuilds the same flags, harmlessly). */
static void rebuild_snapshot(pl_req_t *req, void *arg)
{
    PL_UNUSED(req);
    PL_UNUSED(arg);
    /* on failure the poller retries within a second: the version moved */
    pl_flags_reload(pl_db_thread());
}

/* A Flag; takes a reference to overrides (an array of {org_id, enabled}). */
static json_t *flag_json(pl_req_t *req, const pl_flag_row_t *f, json_t *overrides)
{
    return json_pack("{s:s, s:s, s:b, s:i, s:O, s:s, s:s}", "key", f->key, "description",
                     f->description, "enabled", f->enabled, "rollout_percent", f->rollout_percent,
                     "overrides", overrides, "created_at", fmt_time(req, f->created_at),
                     "updated_at", fmt_time(req, f->updated_at));
}

static json_t *override_json(const pl_flag_override_row_t *o)
{
    return json_pack("{s:s, s:b}", "org_id", o->org_id, "enabled", o->enabled);
}

/* ---- GET /v1/admin/flags ---- */

typedef struct {
    pl_req_t *req;
    json_t *list;
    json_t *by_key; /* key -> the flag's overrides array */
    int count, limit;
    const char *first, *last;
} page_t;

static void add_flag(void *ctx, const pl_flag_row_t *f)
{
    page_t *p = ctx;
    if (++p->count > p->limit)
        return; /* the extra row only tells that another page exists */
    json_t *overrides = json_array();
    json_array_append_new(p->list, flag_json(p->req, f, overrides));
    json_object_set_new(p->by_key, f->key, overrides);
    p->last = pl_arena_strdup(p->req->ctx.arena, f->key);
    if (!p->first)
        p->first = p->last;
}

static void add_override(void *ctx, const pl_flag_override_row_t *o)
{
    page_t *p = ctx;
    json_t *overrides = json_object_get(p->by_key, o->flag_key);
    if (overrides)
        json_array_append_new(overrides, override_json(o));
}

int pl_flags_admin_list(pl_req_t *req)
{
    int limit;
    const char *cursor;
    int rc = pl_req_page(req, &limit, &cursor);
    if (rc)
        return rc;
    if (cursor && !pl_flags_key_valid(cursor))
        return pl_req_fail(req, 400, "bad_request", "cursor is malformed.");
    pl_db_t *db = pl_db_thread();
    if (!db)
        return PL_EDB;
    page_t p = {req, json_array(), json_object(), 0, limit, NULL, NULL};
    rc = pl_flags_store_list(db, cursor, limit + 1, add_flag, &p);
    /* the page's keys are exactly those in [first, last], in the same
     * (database) order the page was cut in */
    if (!rc && p.first)
        rc = pl_flags_store_overrides(db, p.first, p.last, add_override, &p);
    json_decref(p.by_key);
    if (rc) {
        json_decref(p.list);
        return rc;
    }
    return pl_resp_list(req, p.list, p.count > limit ? p.last : NULL);
}

/* ---- PUT /v1/admin/flags/{key} ---- */

static void collect_override(void *ctx, const pl_flag_override_row_t *o)
{
    json_array_append_new(ctx, override_json(o));
}

/* The flag as stored now, inside the caller's transaction. */
static int read_flag(pl_req_t *req, pl_db_t *db, const char *key, json_t **out)
{
    pl_flag_row_t f;
    int rc = pl_flags_store_get(db, req->ctx.arena, key, &f);
    if (rc)
        return rc;
    json_t *overrides = json_array();
    rc = pl_flags_store_overrides(db, key, key, collect_override, overrides);
    if (rc == PL_OK)
        *out = flag_json(req, &f, overrides);
    json_decref(overrides);
    return rc;
}

int pl_flags_admin_put(pl_req_t *req)
{
    const char *key = pl_req_param(req, "key");
    const char *description = NULL;
    bool enabled = false;
    int64_t rollout = 100;
    if (!pl_flags_key_valid(key))
        pl_req_field_error(req, "key", "invalid",
                           "Use 1 to 64 of a-z, 0-9, '.', '_' and '-', starting with a letter.");
    pl_json_get_string(req, "description", false, 0, DESCRIPTION_MAX, &description);
    pl_json_get_bool(req, "enabled", true, &enabled);
    pl_json_get_int(req, "rollout_percent", false, 0, 100, &rollout);
    if (pl_req_validated(req))
        return PL_EINVAL;
    pl_db_t *db = pl_db_thread();
    if (!db)
        return PL_EDB;
    int rc = pl_db_begin(db);
    if (rc)
        return rc;
    int64_t now = pl_now_ms();
    json_t *flag = NULL;
    rc = pl_flags_store_bump(db, now);
    if (!rc)
        rc = pl_flags_store_upsert(db, key, description ? description : "", enabled, (int)rollout,
                                   now);
    if (!rc)
        rc = audit_flag(db, req, key, "upserted", NULL, enabled);
    if (!rc)
        rc = read_flag(req, db, key, &flag);
    if ((rc = pl_db_finish(db, rc))) {
        json_decref(flag);
        return rc;
    }
    pl_req_defer(req, rebuild_snapshot, NULL);
    return pl_resp_json(req, 200, flag);
}

/* ---- DELETE /v1/admin/flags/{key} ---- */

int pl_flags_admin_delete(pl_req_t *req)
{
    const char *key = pl_req_param(req, "key");
    if (!pl_flags_key_valid(key))
        return no_flag(req);
    pl_db_t *db = pl_db_thread();
    if (!db)
        return PL_EDB;
    int rc = pl_db_begin(db);
    if (rc)
        return rc;
    rc = pl_flags_store_bump(db, pl_now_ms());
    if (!rc)
        rc = pl_flags_store_delete(db, key); /* its overrides go with it */
    if (!rc)
        rc = audit_flag(db, req, key, "deleted", NULL, false);
    if ((rc = pl_db_finish(db, rc)))
        return rc == PL_ENOTFOUND ? no_flag(req) : rc;
    pl_req_defer(req, rebuild_snapshot, NULL);
    return pl_resp_status(req, 204);
}

/* ---- PUT/DELETE /v1/admin/flags/{key}/orgs/{org} ---- */

/* The flag exists and {org} (id or slug) names an organization: its id. */
static int resolve_target(pl_req_t *req, pl_db_t *db, const char *key, const char **org_id)
{
    const char *ref = pl_req_param(req, "org");
    if (!pl_flags_key_valid(key))
        return no_flag(req);
    pl_flag_row_t f;
    int rc = pl_flags_store_get(db, req->ctx.arena, key, &f);
    if (rc)
        return rc == PL_ENOTFOUND ? no_flag(req) : rc;
    if (!ref || strlen(ref) > ORG_REF_MAX)
        rc = PL_ENOTFOUND;
    else
        rc = pl_flags_store_org_id(db, req->ctx.arena, ref, org_id);
    if (rc == PL_ENOTFOUND)
        return pl_req_fail(req, 404, "not_found", "No such organization.");
    return rc;
}

int pl_flags_override_put(pl_req_t *req)
{
    const char *key = pl_req_param(req, "key");
    bool enabled = false;
    pl_json_get_bool(req, "enabled", true, &enabled);
    if (pl_req_validated(req))
        return PL_EINVAL;
    pl_db_t *db = pl_db_thread();
    if (!db)
        return PL_EDB;
    int rc = pl_db_begin(db);
    if (rc)
        return rc;
    const char *org_id = NULL;
    int64_t now = pl_now_ms();
    rc = resolve_target(req, db, key, &org_id);
    if (!rc)
        rc = pl_flags_store_bump(db, now);
    if (!rc)
        rc = pl_flags_store_override_upsert(db, key, org_id, enabled, now);
    if (!rc)
        rc = audit_flag(db, req, key, "override_set", org_id, enabled);
    if ((rc = pl_db_finish(db, rc))) {
        if (rc == PL_EFKEY) /* the flag or the org went away meanwhile */
            return pl_req_fail(req, 404, "not_found", "No such flag or organization.");
        return rc;
    }
    pl_req_defer(req, rebuild_snapshot, NULL);
    return pl_resp_json(
        req, 200,
        json_pack("{s:s, s:s, s:b}", "flag_key", key, "org_id", org_id, "enabled", enabled));
}

int pl_flags_override_delete(pl_req_t *req)
{
    const char *key = pl_req_param(req, "key");
    pl_db_t *db = pl_db_thread();
    if (!db)
        return PL_EDB;
    int rc = pl_db_begin(db);
    if (rc)
        return rc;
    const char *org_id = NULL;
    rc = resolve_target(req, db, key, &org_id);
    if (!rc)
        rc = pl_flags_store_bump(db, pl_now_ms());
    if (!rc)
        rc = pl_flags_store_override_delete(db, key, org_id);
    if (!rc)
        rc = audit_flag(db, req, key, "override_deleted", org_id, false);
    if ((rc = pl_db_finish(db, rc))) {
        if (rc == PL_ENOTFOUND && !req->ctx.err.status)
            return pl_req_fail(req, 404, "not_found", "This organization has no override.");
        return rc;
    }
    pl_req_defer(req, rebuild_snapshot, NULL);
    return pl_resp_status(req, 204);
}

/* ---- GET /v1/orgs/{org}/flags ---- */

/* Evaluated from the snapshot alone: no query. */
int pl_flags_org_list(pl_req_t *req)
{
    json_t *flags = json_object();
    pl_flags_snapshot_t *s = pl_flags_acquire();
    for (size_t i = 0; i < pl_flags_count(s); i++)
        json_object_set_new(flags, pl_flags_key(s, i),
                            json_boolean(pl_flags_eval(s, i, req->ctx.tenant.org_id)));
    pl_flags_release(s);
    return pl_resp_json(req, 200, json_pack("{s:o}", "flags", flags));
}

/* ---- the module ---- */

#define J PL_ROUTE_JSON

static pl_route_t routes[] = {
    {PL_M_GET, "/v1/orgs/{org}/flags", pl_flags_org_list, PL_AUTH_ORG, "flag.read", 0},
    {PL_M_GET, "/v1/admin/flags", pl_flags_admin_list, PL_AUTH_ADMIN, NULL, 0},
    {PL_M_PUT, "/v1/admin/flags/{key}", pl_flags_admin_put, PL_AUTH_ADMIN, NULL, J},
    {PL_M_DELETE, "/v1/admin/flags/{key}", pl_flags_admin_delete, PL_AUTH_ADMIN, NULL, 0},
    {PL_M_PUT, "/v1/admin/flags/{key}/orgs/{org}", pl_flags_override_put, PL_AUTH_ADMIN, NULL, J},
    {PL_M_DELETE, "/v1/admin/flags/{key}/orgs/{org}", pl_flags_override_delete, PL_AUTH_ADMIN, NULL,
     0},
    {0},
};

static const pl_perm_def_t perms[] = {
    {"flag.read", "Read feature flags evaluated for the organization", PL_ROLES_VIEWER},
    {0},
};

const pl_module_t pl_flags_module = {
    .name = "flags",
    .routes = routes,
    .perms = perms,
    .start = pl_flags_init,
    .stop = pl_flags_stop,
};
