/* flags_routes.c - the HTTP face of feature flags: instance-admin
 * management, and the per-org evaluation route; and the module's
 * descriptor. A change rebuilds this instance's snapshot once the
 * request's transaction has ended (pl_req_defer). */
#include "core/module.h"
#include "flags/flags.h"
#include "web/web.h"

#define DESCRIPTION_MAX 1000

/* Runs after the request's transaction ended: the rebuild reads what was
 * committed (a rolled-back change rebuilds the same flags, harmlessly). */
static void rebuild_snapshot(pl_req_t *req, void *arg)
{
    PL_UNUSED(req);
    PL_UNUSED(arg);
    /* on failure the poller retries within a second: the version moved */
    pl_flags_reload(pl_db_thread());
}

static void write_override(pl_jw_t *w, const pl_flag_org_t *o, bool with_key)
{
    pl_jw_object_open(w, NULL);
    if (with_key)
        pl_jw_string(w, "flag_key", o->flag_key);
    pl_jw_string(w, "org_id", o->org_id);
    pl_jw_bool(w, "enabled", o->enabled);
    pl_jw_object_close(w);
}

static void write_flag(pl_jw_t *w, const void *item)
{
    const pl_flag_t *f = item;
    pl_jw_object_open(w, NULL);
    pl_jw_string(w, "key", f->key);
    pl_jw_string(w, "description", f->description);
    pl_jw_bool(w, "enabled", f->enabled);
    pl_jw_int(w, "rollout_percent", f->rollout_percent);
    pl_jw_array_open(w, "overrides");
    for (int i = 0; i < f->noverrides; i++)
        write_override(w, &f->overrides[i], false);
    pl_jw_array_close(w);
    pl_jw_time(w, "created_at", f->created_at);
    pl_jw_time(w, "updated_at", f->updated_at);
    pl_jw_object_close(w);
}

static void write_org_override(pl_jw_t *w, const void *item)
{
    write_override(w, item, true);
}

static int admin_list(pl_req_t *req)
{
    int limit;
    const char *cursor;
    int rc = pl_req_page(req, &limit, &cursor);
    if (rc)
        return rc;
    if (cursor && !pl_flags_key_valid(cursor))
        return pl_req_fail(req, 400, "bad_request", "cursor is malformed.");
    PL_DB_THREAD(db);
    pl_flag_page_t page;
    rc = pl_flags_list(db, &req->ctx, cursor, limit, &page);
    return rc ? rc
              : pl_resp_page(req, page.items, (size_t)page.n, sizeof(*page.items), write_flag,
                             page.next_cursor);
}

static int admin_put(pl_req_t *req)
{
    const char *key = pl_req_param(req, "key");
    const char *description = NULL;
    bool enabled = false;
    int64_t rollout = 100;
    pl_flags_check_key(&req->ctx, key);
    pl_json_get_string(req, "description", false, 0, DESCRIPTION_MAX, &description);
    pl_json_get_bool(req, "enabled", true, &enabled);
    pl_json_get_int(req, "rollout_percent", false, 0, 100, &rollout);
    if (pl_req_validated(req))
        return PL_EINVAL;
    PL_DB_THREAD(db);
    pl_flag_t f;
    int rc = pl_flags_put(db, &req->ctx, key, description, enabled, (int)rollout, &f);
    if (rc)
        return rc;
    pl_req_defer(req, rebuild_snapshot, NULL);
    return pl_resp_object(req, 200, write_flag, &f);
}

static int admin_delete(pl_req_t *req)
{
    PL_DB_THREAD(db);
    int rc = pl_flags_delete(db, &req->ctx, pl_req_param(req, "key"));
    if (rc)
        return rc;
    pl_req_defer(req, rebuild_snapshot, NULL);
    return pl_resp_status(req, 204);
}

static int override_put(pl_req_t *req)
{
    bool enabled = false;
    pl_json_get_bool(req, "enabled", true, &enabled);
    if (pl_req_validated(req))
        return PL_EINVAL;
    PL_DB_THREAD(db);
    pl_flag_org_t o;
    int rc = pl_flags_override_set(db, &req->ctx, pl_req_param(req, "key"),
                                   pl_req_param(req, "org"), enabled, &o);
    if (rc)
        return rc;
    pl_req_defer(req, rebuild_snapshot, NULL);
    return pl_resp_object(req, 200, write_org_override, &o);
}

static int override_delete(pl_req_t *req)
{
    PL_DB_THREAD(db);
    int rc =
        pl_flags_override_delete(db, &req->ctx, pl_req_param(req, "key"), pl_req_param(req, "org"));
    if (rc)
        return rc;
    pl_req_defer(req, rebuild_snapshot, NULL);
    return pl_resp_status(req, 204);
}

/* The acting org's flags, evaluated from the snapshot alone: no query. */
static void write_evaluated(pl_jw_t *w, const void *item)
{
    const char *org_id = item;
    pl_flags_snapshot_t *s = pl_flags_acquire();
    pl_jw_object_open(w, NULL);
    pl_jw_object_open(w, "flags");
    for (size_t i = 0; i < pl_flags_count(s); i++)
        pl_jw_bool(w, pl_flags_key(s, i), pl_flags_eval(s, i, org_id));
    pl_jw_object_close(w);
    pl_jw_object_close(w);
    pl_flags_release(s);
}

static int org_list(pl_req_t *req)
{
    return pl_resp_object(req, 200, write_evaluated, req->ctx.tenant.org_id);
}

/* ---- the module ---- */

#define J PL_ROUTE_JSON

static pl_route_t routes[] = {
    {PL_M_GET, "/v1/orgs/{org}/flags", org_list, PL_AUTH_ORG, "flag.read", 0},
    {PL_M_GET, "/v1/admin/flags", admin_list, PL_AUTH_ADMIN, NULL, 0},
    {PL_M_PUT, "/v1/admin/flags/{key}", admin_put, PL_AUTH_ADMIN, NULL, J},
    {PL_M_DELETE, "/v1/admin/flags/{key}", admin_delete, PL_AUTH_ADMIN, NULL, 0},
    {PL_M_PUT, "/v1/admin/flags/{key}/orgs/{org}", override_put, PL_AUTH_ADMIN, NULL, J},
    {PL_M_DELETE, "/v1/admin/flags/{key}/orgs/{org}", override_delete, PL_AUTH_ADMIN, NULL, 0},
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
