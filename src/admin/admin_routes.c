/* admin_routes.c - the HTTP side of instance administration: accounts
 * (listing, disabling, enabling) and the module's descriptor. */
#include <stdlib.h>
#include <string.h>

#include "admin/admin.h"
#include "admin/admin_routes.h"
#include "auth/auth_routes.h"
#include "platform/stats/stats.h"
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
    PL_DB_THREAD(db);
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
    PL_DB_THREAD(db);
    pl_user_t u;
    int rc = pl_admin_user_set_disabled(db, &req->ctx, pl_req_param(req, "id"), disabled, &u);
    return rc ? rc : pl_resp_json(req, 200, admin_user_json(&req->ctx, &u));
}

typedef struct {
    pl_req_t *req;
    json_t *sessions, *orgs;
} user_out_t;

static void add_session(void *arg, const pl_session_t *s)
{
    user_out_t *o = arg;
    json_array_append_new(
        o->sessions, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:b}", "id", s->id, "created_at",
                               pl_req_time(o->req, s->created_at), "last_used_at",
                               pl_req_time(o->req, s->last_used_at), "expires_at",
                               pl_req_time(o->req, s->expires_at), "ip", s->ip ? s->ip : "",
                               "user_agent", s->user_agent ? s->user_agent : "", "current", false));
}

static void add_org(void *arg, const pl_auth_org_t *org)
{
    user_out_t *o = arg;
    json_array_append_new(o->orgs, json_pack("{s:s, s:s, s:s, s:b, s:s}", "id", org->id, "name",
                                             org->name, "slug", org->slug, "personal",
                                             org->personal, "role", org->role));
}

/* GET /v1/admin/users/{id}: the account with its organizations. */
static int user_get(pl_req_t *req)
{
    PL_DB_THREAD(db);
    pl_user_t u;
    user_out_t o = {req, NULL, json_array()};
    int rc = pl_admin_user_get(db, &req->ctx, pl_req_param(req, "id"), &u, NULL, add_org, &o);
    if (rc) {
        json_decref(o.orgs);
        return rc;
    }
    json_t *j = admin_user_json(&req->ctx, &u);
    json_object_set_new(j, "organizations", o.orgs);
    return pl_resp_json(req, 200, j);
}

/* GET /v1/admin/users/{id}/sessions: its live sessions. */
static int user_sessions(pl_req_t *req)
{
    PL_DB_THREAD(db);
    pl_user_t u;
    user_out_t o = {req, json_array(), NULL};
    int rc = pl_admin_user_get(db, &req->ctx, pl_req_param(req, "id"), &u, add_session, NULL, &o);
    if (rc) {
        json_decref(o.sessions);
        return rc;
    }
    return pl_resp_list(req, o.sessions, NULL);
}

/* DELETE /v1/admin/users/{id}/sessions: signed out everywhere. */
static int user_sessions_revoke(pl_req_t *req)
{
    PL_DB_THREAD(db);
    int rc = pl_admin_user_revoke_sessions(db, &req->ctx, pl_req_param(req, "id"));
    return rc ? rc : pl_resp_status(req, 204);
}

static int user_disable(pl_req_t *req)
{
    return set_disabled(req, true);
}

static int user_enable(pl_req_t *req)
{
    return set_disabled(req, false);
}

/* GET /v1/admin/stats?from=&interval=hour|day&count=N */
static int stats_get(pl_req_t *req)
{
    const char *interval = pl_req_query(req, "interval"), *from = pl_req_query(req, "from");
    const char *count = pl_req_query(req, "count");
    static pl_admin_stats_t zero;
    pl_admin_stats_t *st = pl_arena_alloc(req->ctx.arena, sizeof(*st));
    *st = zero;
    bool day = interval && !strcmp(interval, "day");
    st->step = (day ? 24 : 1) * PL_STATS_HOUR_MS;
    int max = day ? 90 : PL_ADMIN_STATS_MAX;
    char *end = NULL;
    long n = count ? strtol(count, &end, 10) : (day ? 14 : 24);
    if (interval && !day && strcmp(interval, "hour"))
        return pl_req_fail(req, 400, "bad_request", "interval must be hour or day.");
    if (count && (!*count || *end || n < 1 || n > max))
        return pl_req_fail(req, 400, "bad_request",
                           day ? "count must be an integer from 1 to 90."
                               : "count must be an integer from 1 to 168.");
    st->n = (int)n;
    int64_t now = pl_now_ms();
    if (from) {
        if (strlen(from) > 40 || pl_time_parse(from, &st->from))
            return pl_req_fail(req, 400, "bad_request", "from must be an RFC 3339 UTC time.");
    } else { /* the last n intervals, the current one included */
        st->from = now - now % st->step + st->step - st->step * n;
    }
    PL_DB_THREAD(db);
    int rc = pl_admin_stats(db, &req->ctx, st);
    if (rc)
        return rc;
    json_t *series = json_object();
    const struct {
        const char *name;
        const int64_t *v;
    } cols[] = {
        {"sign_ins", st->sign_ins},
        {"failed_sign_ins", st->failed_sign_ins},
        {"new_users", st->new_users},
        {"new_organizations", st->new_organizations},
        {"webhook_attempts", st->webhook_attempts},
        {"webhook_failures", st->webhook_failures},
    };
    for (size_t i = 0; i < PL_ARRAY_LEN(cols); i++) {
        json_t *a = json_array();
        for (int k = 0; k < st->n; k++)
            json_array_append_new(a, json_integer(cols[i].v[k]));
        json_object_set_new(series, cols[i].name, a);
    }
    json_t *o =
        json_pack("{s:I, s:I, s:{s:I, s:I, s:I}, s:s, s:s, s:i, s:o}", "users",
                  (json_int_t)st->users, "organizations", (json_int_t)st->organizations, "jobs",
                  "queued", (json_int_t)st->jobs_queued, "running", (json_int_t)st->jobs_running,
                  "dead", (json_int_t)st->jobs_dead, "from", pl_req_time(req, st->from), "interval",
                  day ? "day" : "hour", "count", st->n, "series", series);
    return pl_resp_json(req, 200, o);
}

/* ---- the module ---- */

#define J PL_ROUTE_JSON

static pl_route_t routes[] = {
    {PL_M_GET, "/v1/admin/users", users_list, PL_AUTH_ADMIN, NULL, 0},
    {PL_M_GET, "/v1/admin/users/{id}", user_get, PL_AUTH_ADMIN, NULL, 0},
    {PL_M_GET, "/v1/admin/users/{id}/sessions", user_sessions, PL_AUTH_ADMIN, NULL, 0},
    {PL_M_DELETE, "/v1/admin/users/{id}/sessions", user_sessions_revoke, PL_AUTH_ADMIN, NULL, 0},
    {PL_M_POST, "/v1/admin/users/{id}/disable", user_disable, PL_AUTH_ADMIN, NULL, J},
    {PL_M_POST, "/v1/admin/users/{id}/enable", user_enable, PL_AUTH_ADMIN, NULL, J},
    {PL_M_GET, "/v1/admin/jobs", pl_admin_jobs_list, PL_AUTH_ADMIN, NULL, 0},
    {PL_M_POST, "/v1/admin/jobs/{id}/retry", pl_admin_jobs_retry, PL_AUTH_ADMIN, NULL, J},
    {PL_M_GET, "/v1/admin/stats", stats_get, PL_AUTH_ADMIN, NULL, 0},
    {PL_M_GET, "/v1/admin/emails", pl_admin_emails_list, PL_AUTH_ADMIN, NULL, 0},
    {0},
};

const pl_module_t pl_admin_module = {
    .name = "admin",
    .routes = routes,
    .commands = pl_admin_commands,
};
