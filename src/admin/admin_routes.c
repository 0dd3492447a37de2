/* admin_routes.c - the HTTP side of instance administration: accounts
 * (listing, disabling, enabling) and the module's descriptor. */
#include "admin/admin.h"
#include "admin/admin_routes.h"
#include "auth/auth_routes.h"
#include "web/web.h"

static json_t *admin_user_json(pl_ctx_t *ctx, const pl_user_t *u)
{
    json_t *o = pl_auth_user_json(ctx, u);
    json_object_set_new(o, "is_admin", json_boolean(u->is_admin));
    json_object_set_new(o, "disabled", json_boolean(u->disabled));
    return o;
}

typedef struct {
    pl_ctx_t *ctx;
    json_t *list;
} users_out_t;

static void add_user(void *arg, const pl_user_t *u)
{
    users_out_t *o = arg;
    json_array_append_new(o->list, admin_user_json(o->ctx, u));
}

static int users_list(pl_req_t *req)
{
    pl_admin_users_query_t q = {.query = pl_req_query(req, "query")};
    int rc = pl_req_page(req, &q.limit, &q.after);
    if (rc)
        return rc;
    pl_db_t *db = pl_db_thread();
    if (!db)
        return PL_EDB;
    users_out_t o = {&req->ctx, json_array()};
    const char *next = NULL;
    if ((rc = pl_admin_users_list(db, &req->ctx, &q, add_user, &o, &next))) {
        json_decref(o.list);
        return rc;
    }
    return pl_resp_list(req, o.list, next);
}

static int set_disabled(pl_req_t *req, bool disabled)
{
    pl_db_t *db = pl_db_thread();
    if (!db)
        return PL_EDB;
    pl_user_t u;
    int rc = pl_admin_user_set_disabled(db, &req->ctx, pl_req_param(req, "id"), disabled, &u);
    return rc ? rc : pl_resp_json(req, 200, admin_user_json(&req->ctx, &u));
}

static int user_disable(pl_req_t *req)
{
    return set_disabled(req, true);
}

static int user_enable(pl_req_t *req)
{
    return set_disabled(req, false);
}

/* ---- the module ---- */

#define J PL_ROUTE_JSON

static pl_route_t routes[] = {
    {PL_M_GET, "/v1/admin/users", users_list, PL_AUTH_ADMIN, NULL, 0},
    {PL_M_POST, "/v1/admin/users/{id}/disable", user_disable, PL_AUTH_ADMIN, NULL, J},
    {PL_M_POST, "/v1/admin/users/{id}/enable", user_enable, PL_AUTH_ADMIN, NULL, J},
    {PL_M_GET, "/v1/admin/jobs", pl_admin_jobs_list, PL_AUTH_ADMIN, NULL, 0},
    {PL_M_POST, "/v1/admin/jobs/{id}/retry", pl_admin_jobs_retry, PL_AUTH_ADMIN, NULL, J},
    {0},
};

const pl_module_t pl_admin_module = {
    .name = "admin",
    .routes = routes,
    .commands = pl_admin_commands,
};
