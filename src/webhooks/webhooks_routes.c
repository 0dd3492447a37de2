/* webhooks_routes.c - the webhook routes of an organization
 * (/v1/orgs/{org}/webhooks...) and of the instance (/v1/admin/webhooks...,
 * instance admins), and the module's descriptor. The same handlers serve
 * both: the owner is the route's org, or the instance on admin routes. */
#include <string.h>

#include "core/crypto.h"
#include "core/httpc.h"
#include "platform/events/events.h"
#include "web/web.h"
#include "webhooks/webhooks.h"

/* The owner of the endpoints a route acts on: NULL for the instance. */
static const char *owner(pl_req_t *req)
{
    /* /v1/admin/orgs/{org}/webhooks...: the org PL_ROUTE_ADMIN_ORG made the tenant */
    if (req->route->auth == PL_AUTH_ADMIN && !pl_req_param(req, "org"))
        return NULL;
    return req->ctx.tenant.org_id;
}

static json_t *time_or_null(pl_req_t *req, int64_t ms)
{
    return ms ? json_string(pl_req_time(req, ms)) : json_null();
}

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

static json_t *endpoint_json(pl_req_t *req, const pl_webhook_t *w)
{
    json_t *events = json_array();
    for (int i = 0; i < w->nevents; i++)
        json_array_append_new(events, json_string(w->events[i]));
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(w->id));
    json_object_set_new(o, "url", json_string(w->url));
    json_object_set_new(o, "events", events);
    json_object_set_new(o, "description", json_string(w->description ? w->description : ""));
    json_object_set_new(o, "enabled", json_boolean(w->enabled));
    json_object_set_new(o, "disabled_reason", str_or_null(w->disabled_reason));
    json_object_set_new(o, "created_at", json_string(pl_req_time(req, w->created_at)));
    json_object_set_new(o, "updated_at", json_string(pl_req_time(req, w->updated_at)));
    return o;
}

static json_t *delivery_json(pl_req_t *req, const pl_webhook_delivery_t *d)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(d->id));
    json_object_set_new(o, "endpoint_id", json_string(d->endpoint_id));
    json_object_set_new(o, "event_id", json_string(d->event_id));
    json_object_set_new(o, "event_type", json_string(d->event_type));
    json_object_set_new(o, "status", json_string(d->status));
    json_object_set_new(o, "attempt_count", json_integer(d->attempt_count));
    json_object_set_new(o, "next_attempt_at", time_or_null(req, d->next_attempt_at));
    json_object_set_new(o, "last_response_status",
                        d->last_response_status ? json_integer(d->last_response_status)
                                                : json_null());
    json_object_set_new(o, "last_error", str_or_null(d->last_error));
    json_object_set_new(o, "created_at", json_string(pl_req_time(req, d->created_at)));
    json_object_set_new(o, "completed_at", time_or_null(req, d->completed_at));
    return o;
}

/* ---- input ---- */

/* "events": an array of 1..PL_WEBHOOK_EVENTS_MAX strings; which of them
 * exist is the service's rule. */
static void parse_events(pl_req_t *req, bool required, pl_webhook_input_t *in)
{
    json_t *v = json_object_get(req->json, "events");
    in->nevents = -1;
    if (!v || json_is_null(v)) {
        if (required)
            pl_req_field_error(req, "events", "required", "This field is required.");
        return;
    }
    if (!json_is_array(v)) {
        pl_req_field_error(req, "events", "invalid", "Must be an array of event names.");
        return;
    }
    size_t n = json_array_size(v);
    if (n > PL_WEBHOOK_EVENTS_MAX) {
        pl_req_field_error(
            req, "events", "too_long",
            pl_arena_printf(req->ctx.arena, "At most %d entries.", PL_WEBHOOK_EVENTS_MAX));
        return;
    }
    const char **list = pl_arena_alloc(req->ctx.arena, (n + 1) * sizeof(char *));
    for (size_t i = 0; i < n; i++) {
        json_t *s = json_array_get(v, i);
        size_t len = json_string_length(s);
        if (!json_is_string(s) || len < 1 || len > PL_EVENTS_ACTION_MAX ||
            memchr(json_string_value(s), '\0', len)) {
            pl_req_field_error(req, "events", "invalid",
                               "Each entry is an event name, \"noun.*\" or \"*\".");
            return;
        }
        list[i] = json_string_value(s);
    }
    in->events = list;
    in->nevents = (int)n;
}

static int parse_input(pl_req_t *req, bool create, pl_webhook_input_t *in)
{
    bool enabled = true;
    memset(in, 0, sizeof(*in));
    in->enabled = -1;
    pl_json_get_string(req, "url", create, 1, PL_HTTPC_URL_MAX, &in->url);
    parse_events(req, create, in);
    pl_json_get_string(req, "description", false, 0, PL_WEBHOOK_DESCRIPTION_MAX, &in->description);
    if (json_object_get(req->json, "enabled") &&
        pl_json_get_bool(req, "enabled", false, &enabled) == PL_OK &&
        !json_is_null(json_object_get(req->json, "enabled")))
        in->enabled = enabled;
    return pl_req_validated(req);
}

/* ---- endpoints ---- */

typedef struct {
    pl_req_t *req;
    json_t *list;
    int count, limit;
    const char *last;
} page_t;

static void add_endpoint(void *arg, const pl_webhook_t *w)
{
    page_t *p = arg;
    if (++p->count > p->limit)
        return; /* only tells that another page exists */
    json_array_append_new(p->list, endpoint_json(p->req, w));
    p->last = w->id;
}

static int list(pl_req_t *req)
{
    int limit;
    const char *cursor;
    int rc = pl_req_page_id(req, &limit, &cursor);
    if (rc)
        return rc;
    PL_DB_THREAD(db);
    page_t p = {req, json_array(), 0, limit, NULL};
    if ((rc = pl_webhooks_list(db, &req->ctx, owner(req), cursor, limit + 1, add_endpoint, &p))) {
        json_decref(p.list);
        return rc;
    }
    return pl_resp_list(req, p.list, p.count > limit ? p.last : NULL);
}

static int create(pl_req_t *req)
{
    pl_webhook_input_t in;
    if (parse_input(req, true, &in))
        return PL_EINVAL;
    PL_DB_THREAD(db);
    pl_webhook_t w;
    char secret[PL_WEBHOOK_SECRET_LEN];
    int rc = pl_webhooks_create(db, &req->ctx, owner(req), &in, &w, secret);
    if (rc)
        return rc;
    json_t *o = endpoint_json(req, &w);
    json_object_set_new(o, "secret", json_string(secret));
    pl_memzero(secret, sizeof(secret));
    pl_resp_header(req, "Location", pl_arena_printf(req->ctx.arena, "%s/%s", req->path, w.id));
    return pl_resp_json(req, 201, o);
}

static int get(pl_req_t *req)
{
    PL_DB_THREAD(db);
    pl_webhook_t w;
    int rc = pl_webhooks_get(db, &req->ctx, owner(req), pl_req_param(req, "id"), &w);
    return rc ? rc : pl_resp_json(req, 200, endpoint_json(req, &w));
}

static int update(pl_req_t *req)
{
    pl_webhook_input_t in;
    if (parse_input(req, false, &in))
        return PL_EINVAL;
    PL_DB_THREAD(db);
    pl_webhook_t w;
    int rc = pl_webhooks_update(db, &req->ctx, owner(req), pl_req_param(req, "id"), &in, &w);
    return rc ? rc : pl_resp_json(req, 200, endpoint_json(req, &w));
}

static int delete (pl_req_t *req)
{
    PL_DB_THREAD(db);
    int rc = pl_webhooks_delete(db, &req->ctx, owner(req), pl_req_param(req, "id"));
    return rc ? rc : pl_resp_status(req, 204);
}

static int rotate_secret(pl_req_t *req)
{
    PL_DB_THREAD(db);
    char secret[PL_WEBHOOK_SECRET_LEN];
    int rc = pl_webhooks_rotate_secret(db, &req->ctx, owner(req), pl_req_param(req, "id"), secret);
    if (rc)
        return rc;
    json_t *o = json_pack("{s:s}", "secret", secret);
    pl_memzero(secret, sizeof(secret));
    return pl_resp_json(req, 200, o);
}

static int send_test(pl_req_t *req)
{
    PL_DB_THREAD(db);
    char id[PL_ID_LEN];
    int rc = pl_webhooks_send_test(db, &req->ctx, owner(req), pl_req_param(req, "id"), id);
    return rc ? rc : pl_resp_json(req, 202, json_pack("{s:s}", "delivery_id", id));
}

/* ---- deliveries ---- */

static void add_delivery(void *arg, const pl_webhook_delivery_t *d)
{
    page_t *p = arg;
    if (++p->count > p->limit)
        return;
    json_array_append_new(p->list, delivery_json(p->req, d));
    p->last = d->id;
}

static int deliveries(pl_req_t *req)
{
    int limit;
    const char *cursor;
    int rc = pl_req_page_id(req, &limit, &cursor);
    if (rc)
        return rc;
    const char *status = pl_req_query(req, "status");
    if (status && strcmp(status, "pending") && strcmp(status, "succeeded") &&
        strcmp(status, "failed"))
        return pl_req_fail(req, 400, "bad_request", "status must be pending, succeeded or failed.");
    PL_DB_THREAD(db);
    page_t p = {req, json_array(), 0, limit, NULL};
    rc = pl_webhooks_deliveries(db, &req->ctx, owner(req), pl_req_param(req, "id"), status, cursor,
                                limit + 1, add_delivery, &p);
    if (rc) {
        json_decref(p.list);
        return rc;
    }
    return pl_resp_list(req, p.list, p.count > limit ? p.last : NULL);
}

typedef struct {
    pl_req_t *req;
    json_t *list;
} attempts_t;

static void add_attempt(void *arg, const pl_webhook_attempt_t *t)
{
    attempts_t *a = arg;
    json_t *o = json_object();
    json_object_set_new(o, "at", json_string(pl_req_time(a->req, t->at)));
    json_object_set_new(o, "response_status",
                        t->response_status ? json_integer(t->response_status) : json_null());
    json_object_set_new(o, "duration_ms", json_integer(t->duration_ms));
    json_object_set_new(o, "error", str_or_null(t->error));
    json_array_append_new(a->list, o);
}

static int delivery(pl_req_t *req)
{
    PL_DB_THREAD(db);
    attempts_t at = {req, json_array()};
    pl_webhook_delivery_t d;
    int rc = pl_webhooks_delivery(db, &req->ctx, owner(req), pl_req_param(req, "id"),
                                  pl_req_param(req, "delivery"), &d, add_attempt, &at);
    if (rc) {
        json_decref(at.list);
        return rc;
    }
    json_t *o = delivery_json(req, &d);
    json_object_set_new(o, "attempts", at.list);
    json_t *payload = d.payload ? json_loads(d.payload, 0, NULL) : NULL;
    json_object_set_new(o, "payload", payload ? payload : json_null());
    return pl_resp_json(req, 200, o);
}

static int retry(pl_req_t *req)
{
    PL_DB_THREAD(db);
    pl_webhook_delivery_t d;
    int rc = pl_webhooks_retry(db, &req->ctx, owner(req), pl_req_param(req, "id"),
                               pl_req_param(req, "delivery"), &d);
    return rc ? rc : pl_resp_json(req, 202, delivery_json(req, &d));
}

/* ---- the module ---- */

#define J   PL_ROUTE_JSON
#define ORG PL_AUTH_ORG
#define ADM PL_AUTH_ADMIN
#define AO  PL_ROUTE_ADMIN_ORG
#define R   "webhook.read"
#define M   "webhook.manage"

static pl_route_t routes[] = {
    {PL_M_GET, "/v1/orgs/{org}/webhooks", list, ORG, R, 0},
    {PL_M_POST, "/v1/orgs/{org}/webhooks", create, ORG, M, J},
    {PL_M_GET, "/v1/orgs/{org}/webhooks/{id}", get, ORG, R, 0},
    {PL_M_PATCH, "/v1/orgs/{org}/webhooks/{id}", update, ORG, M, J},
    {PL_M_DELETE, "/v1/orgs/{org}/webhooks/{id}", delete, ORG, M, 0},
    {PL_M_POST, "/v1/orgs/{org}/webhooks/{id}/rotate-secret", rotate_secret, ORG, M, 0},
    {PL_M_POST, "/v1/orgs/{org}/webhooks/{id}/test", send_test, ORG, M, 0},
    {PL_M_GET, "/v1/orgs/{org}/webhooks/{id}/deliveries", deliveries, ORG, R, 0},
    {PL_M_GET, "/v1/orgs/{org}/webhooks/{id}/deliveries/{delivery}", delivery, ORG, R, 0},
    {PL_M_POST, "/v1/orgs/{org}/webhooks/{id}/deliveries/{delivery}/retry", retry, ORG, M, 0},
    {PL_M_GET, "/v1/admin/orgs/{org}/webhooks", list, ADM, NULL, AO},
    {PL_M_GET, "/v1/admin/orgs/{org}/webhooks/{id}", get, ADM, NULL, AO},
    {PL_M_GET, "/v1/admin/orgs/{org}/webhooks/{id}/deliveries", deliveries, ADM, NULL, AO},
    {PL_M_GET, "/v1/admin/orgs/{org}/webhooks/{id}/deliveries/{delivery}", delivery, ADM, NULL, AO},
    {PL_M_GET, "/v1/admin/webhooks", list, ADM, NULL, 0},
    {PL_M_POST, "/v1/admin/webhooks", create, ADM, NULL, J},
    {PL_M_GET, "/v1/admin/webhooks/{id}", get, ADM, NULL, 0},
    {PL_M_PATCH, "/v1/admin/webhooks/{id}", update, ADM, NULL, J},
    {PL_M_DELETE, "/v1/admin/webhooks/{id}", delete, ADM, NULL, 0},
    {PL_M_POST, "/v1/admin/webhooks/{id}/rotate-secret", rotate_secret, ADM, NULL, 0},
    {PL_M_POST, "/v1/admin/webhooks/{id}/test", send_test, ADM, NULL, 0},
    {PL_M_GET, "/v1/admin/webhooks/{id}/deliveries", deliveries, ADM, NULL, 0},
    {PL_M_GET, "/v1/admin/webhooks/{id}/deliveries/{delivery}", delivery, ADM, NULL, 0},
    {PL_M_POST, "/v1/admin/webhooks/{id}/deliveries/{delivery}/retry", retry, ADM, NULL, 0},
    {0},
};

static const pl_perm_def_t perms[] = {
    {R, "See webhook endpoints and their deliveries", PL_ROLES_ADMIN},
    {M, "Create, change, test and delete webhook endpoints; retry deliveries", PL_ROLES_ADMIN},
    {0},
};

static const pl_error_def_t errors[] = {
    {"plan_limit_reached", "Plan limit reached"},
    {0},
};

const pl_module_t pl_webhooks_module = {
    .name = "webhooks",
    .routes = routes,
    .perms = perms,
    .errors = errors,
    .jobs = pl_webhooks_jobs,
    .schedules = pl_webhooks_schedules,
    .templates = pl_webhooks_templates,
    .options = pl_webhooks_options,
    .actions = pl_webhooks_actions,
    .on_event = pl_webhooks_on_event,
    .init = pl_webhooks_init,
};
