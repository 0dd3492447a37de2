/* billing_routes.c - the HTTP face of plans, limits and Stripe billing,
 * and the module's descriptor. A change to a plan or to an organization's
 * plan reloads this instance's plan cache once the request's transaction
 * has ended (pl_req_defer). */
#include <string.h>

#include "billing/billing.h"
#include "billing/billing_int.h"
#include "core/module.h"
#include "web/web.h"

#define URL_MAX 2048

/* Runs after the request's transaction ended (a rolled-back change
 * reloads the same plans, harmlessly). */
static void reload_cache(pl_req_t *req, void *arg)
{
    PL_UNUSED(req);
    PL_UNUSED(arg);
    /* on failure the poller retries within a second: the version moved */
    pl_billing_reload(pl_db_thread());
}

/* ---- rendering ---- */

static void write_plan_fields(pl_jw_t *w, const pl_plan_t *p)
{
    pl_jw_string(w, "key", p->key);
    pl_jw_string(w, "name", p->name);
    pl_jw_bool(w, "public", p->public);
    pl_jw_object_open(w, "limits");
    for (int i = 0; i < PL_LIMIT_COUNT; i++) {
        if (p->limits[i] == PL_BILLING_UNLIMITED)
            pl_jw_string(w, pl_limit_names[i], NULL);
        else
            pl_jw_int(w, pl_limit_names[i], p->limits[i]);
    }
    pl_jw_object_close(w);
    pl_jw_array_open(w, "features");
    for (int i = 0; i < p->nfeatures; i++)
        pl_jw_string(w, NULL, p->features[i]);
    pl_jw_array_close(w);
    pl_jw_array_open(w, "stripe_price_ids");
    for (int i = 0; i < p->nprices; i++)
        pl_jw_string(w, NULL, p->price_ids[i]);
    pl_jw_array_close(w);
    pl_jw_time(w, "created_at", p->created_at);
    pl_jw_time(w, "updated_at", p->updated_at);
}

static void write_plan(pl_jw_t *w, const void *item)
{
    pl_jw_object_open(w, NULL);
    write_plan_fields(w, item);
    pl_jw_object_close(w);
}

static void write_billing(pl_jw_t *w, const void *item)
{
    const pl_billing_t *b = item;
    pl_jw_object_open(w, NULL);
    pl_jw_object_open(w, "plan");
    write_plan_fields(w, &b->plan);
    pl_jw_object_close(w);
    pl_jw_string(w, "status", b->status);
    pl_jw_time_or_null(w, "current_period_end", b->current_period_end);
    pl_jw_bool(w, "cancel_at_period_end", b->cancel_at_period_end);
    pl_jw_object_close(w);
}

static void write_usage(pl_jw_t *w, const void *item)
{
    const pl_usage_t *u = item;
    pl_jw_object_open(w, NULL);
    for (int i = 0; i < PL_LIMIT_COUNT; i++) {
        if (i == PL_LIMIT_RPM)
            continue;
        pl_jw_object_open(w, pl_limit_names[i]);
        pl_jw_int(w, "used", u->used[i]);
        if (u->max[i] == PL_BILLING_UNLIMITED)
            pl_jw_string(w, "max", NULL);
        else
            pl_jw_int(w, "max", u->max[i]);
        pl_jw_object_close(w);
    }
    pl_jw_object_close(w);
}

static void write_url(pl_jw_t *w, const void *item)
{
    pl_jw_object_open(w, NULL);
    pl_jw_string(w, "url", item);
    pl_jw_object_close(w);
}

/* ---- input ---- */

/* An array of strings of the body (absent: none) into the arena. */
static int string_array(pl_req_t *req, const char *field, size_t max_len, const char *const **out,
                        int *n)
{
    json_t *v = req->json ? json_object_get(req->json, field) : NULL;
    *out = NULL;
    *n = 0;
    if (!v || json_is_null(v))
        return PL_OK;
    if (!json_is_array(v) || json_array_size(v) > 1000) {
        pl_req_field_error(req, field, "invalid", "Must be an array of strings.");
        return PL_EINVAL;
    }
    const char **a = pl_arena_alloc(req->ctx.arena, sizeof(char *) * (json_array_size(v) + 1));
    size_t i;
    json_t *s;
    json_array_foreach(v, i, s)
    {
        if (!json_is_string(s) || json_string_length(s) > max_len ||
            memchr(json_string_value(s), '\0', json_string_length(s))) {
            pl_req_field_error(req, field, "invalid", "Must be an array of strings.");
            return PL_EINVAL;
        }
        a[i] = json_string_value(s); /* the body lives as long as the request */
    }
    *out = a;
    *n = (int)json_array_size(v);
    return PL_OK;
}

static int read_limits(pl_req_t *req, int64_t limits[PL_LIMIT_COUNT])
{
    for (int i = 0; i < PL_LIMIT_COUNT; i++)
        limits[i] = PL_BILLING_UNLIMITED;
    json_t *o = req->json ? json_object_get(req->json, "limits") : NULL;
    if (!o || json_is_null(o))
        return PL_OK;
    if (!json_is_object(o)) {
        pl_req_field_error(req, "limits", "invalid", "Must be an object of limits.");
        return PL_EINVAL;
    }
    int rc = PL_OK;
    for (int i = 0; i < PL_LIMIT_COUNT; i++) {
        json_t *v = json_object_get(o, pl_limit_names[i]);
        if (!v || json_is_null(v))
            continue;
        if (json_is_integer(v) && json_integer_value(v) >= 0) {
            limits[i] = json_integer_value(v);
            continue;
        }
        pl_req_field_error(req, pl_arena_printf(req->ctx.arena, "limits.%s", pl_limit_names[i]),
                           "invalid", "Must be null (unlimited) or an integer >= 0.");
        rc = PL_EINVAL;
    }
    return rc;
}

/* An absolute http(s) URL Stripe sends the customer back to. */
static int redirect_url(pl_req_t *req, const char *field, const char **out)
{
    if (pl_json_get_string(req, field, true, 1, URL_MAX, out))
        return PL_EINVAL;
    const char *u = *out;
    bool ok = !strncmp(u, "https://", 8) || !strncmp(u, "http://", 7);
    for (const unsigned char *p = (const unsigned char *)u; ok && *p; p++)
        ok = *p > 0x20 && *p < 0x7f;
    if (!ok) {
        pl_req_field_error(req, field, "invalid", "Must be an absolute http(s) URL.");
        return PL_EINVAL;
    }
    return PL_OK;
}

static int plans_page(pl_req_t *req, bool public_only)
{
    int limit;
    const char *cursor;
    int rc = pl_req_page(req, &limit, &cursor);
    if (rc)
        return rc;
    if (cursor && !pl_plans_key_valid(cursor))
        return pl_req_fail(req, 400, "bad_request", "cursor is malformed.");
    PL_DB_THREAD(db);
    pl_plan_page_t page;
    rc = pl_plans_list(db, &req->ctx, public_only, cursor, limit, &page);
    return rc ? rc
              : pl_resp_page(req, page.items, (size_t)page.n, sizeof(*page.items), write_plan,
                             page.next_cursor);
}

/* ---- handlers ---- */

static int plans_public(pl_req_t *req)
{
    return plans_page(req, true);
}

static int plans_admin_list(pl_req_t *req)
{
    return plans_page(req, false);
}

static int plan_put(pl_req_t *req)
{
    pl_plan_t p = {.key = pl_req_param(req, "key")};
    pl_json_get_name(req, "name", true, 1, PL_PLAN_NAME_MAX, &p.name);
    pl_json_get_bool(req, "public", false, &p.public);
    read_limits(req, p.limits);
    string_array(req, "features", 256, &p.features, &p.nfeatures);
    string_array(req, "stripe_price_ids", 512, &p.price_ids, &p.nprices);
    if (pl_req_validated(req))
        return PL_EINVAL;
    PL_DB_THREAD(db);
    pl_plan_t out;
    bool created = false;
    int rc = pl_plans_put(db, &req->ctx, &p, &out, &created);
    if (rc)
        return rc;
    pl_req_defer(req, reload_cache, NULL);
    return pl_resp_object(req, created ? 201 : 200, write_plan, &out);
}

static int plan_delete(pl_req_t *req)
{
    PL_DB_THREAD(db);
    int rc = pl_plans_delete(db, &req->ctx, pl_req_param(req, "key"));
    if (rc)
        return rc;
    pl_req_defer(req, reload_cache, NULL);
    return pl_resp_status(req, 204);
}

static int org_plan_put(pl_req_t *req)
{
    const char *plan = NULL;
    if (pl_json_get_string(req, "plan", true, 1, PL_PLAN_KEY_MAX, &plan))
        return PL_EINVAL;
    PL_DB_THREAD(db);
    pl_billing_t b;
    int rc = pl_billing_assign(db, &req->ctx, pl_req_param(req, "org"), plan, &b);
    if (rc)
        return rc;
    pl_req_defer(req, reload_cache, NULL);
    return pl_resp_object(req, 200, write_billing, &b);
}

static void write_queued(pl_jw_t *w, const void *item)
{
    PL_UNUSED(item);
    pl_jw_object_open(w, NULL);
    pl_jw_string(w, "status", "queued");
    pl_jw_object_close(w);
}

static int sync_now(pl_req_t *req)
{
    PL_DB_THREAD(db);
    int rc = pl_billing_sync_now(db, &req->ctx);
    return rc ? rc : pl_resp_object(req, 202, write_queued, NULL);
}

static int billing_get(pl_req_t *req)
{
    PL_DB_THREAD(db);
    pl_billing_t b;
    int rc = pl_billing_get(db, &req->ctx, &b);
    return rc ? rc : pl_resp_object(req, 200, write_billing, &b);
}

static int usage_get(pl_req_t *req)
{
    PL_DB_THREAD(db);
    pl_usage_t u;
    int rc = pl_billing_usage(db, &req->ctx, &u);
    return rc ? rc : pl_resp_object(req, 200, write_usage, &u);
}

static int checkout(pl_req_t *req)
{
    const char *plan = NULL, *success = NULL, *cancel = NULL;
    pl_json_get_string(req, "plan", true, 1, PL_PLAN_KEY_MAX, &plan);
    redirect_url(req, "success_url", &success);
    redirect_url(req, "cancel_url", &cancel);
    if (pl_req_validated(req))
        return PL_EINVAL;
    PL_DB_THREAD(db);
    const char *url = NULL;
    int rc = pl_billing_checkout(db, &req->ctx, plan, success, cancel, &url);
    return rc ? rc : pl_resp_object(req, 200, write_url, url);
}

static int portal(pl_req_t *req)
{
    const char *ret = NULL;
    if (redirect_url(req, "return_url", &ret))
        return PL_EINVAL;
    PL_DB_THREAD(db);
    const char *url = NULL;
    int rc = pl_billing_portal(db, &req->ctx, ret, &url);
    return rc ? rc : pl_resp_object(req, 200, write_url, url);
}

static void write_received(pl_jw_t *w, const void *item)
{
    pl_jw_object_open(w, NULL);
    pl_jw_bool(w, "received", true);
    pl_jw_bool(w, "duplicate", *(const bool *)item);
    pl_jw_object_close(w);
}

static int stripe_webhook(pl_req_t *req)
{
    PL_DB_THREAD(db);
    bool replayed = false;
    int rc = pl_billing_stripe_event(db, &req->ctx, req->body, req->body_len,
                                     pl_req_header(req, "Stripe-Signature"), &replayed);
    if (rc)
        return rc;
    if (!replayed)
        pl_req_defer(req, reload_cache, NULL);
    return pl_resp_object(req, 200, write_received, &replayed);
}

/* ---- the module ---- */

static const pl_option_t options[] = {
    {NULL, "PLINTH_DEFAULT_PLAN", PL_OPT_STR, PL_OPT_S(pl_billing_default_plan), 0, 0, PL_OPT_ALL,
     "KEY", "the plan new organizations get (default free)", pl_billing_check_default_plan},
    {NULL, "PLINTH_STRIPE_API_KEY", PL_OPT_STR, PL_OPT_S(pl_billing_stripe_api_key), 0, 0,
     PL_OPT_RUN, "KEY",
     "Stripe secret key (sk_...) for Checkout, the portal and the sync (default: "
     "none, payments off)",
     NULL},
    {NULL, "PLINTH_STRIPE_WEBHOOK_SECRET", PL_OPT_STR, PL_OPT_S(pl_billing_stripe_webhook_secret),
     0, 0, PL_OPT_RUN, "whsec_...",
     "signing secret of the Stripe webhook endpoint /v1/billing/stripe/webhook (default: none)",
     NULL},
    {NULL, "PLINTH_STRIPE_API_BASE", PL_OPT_STR, PL_OPT_S(pl_billing_stripe_api_base), 0, 0,
     PL_OPT_RUN, "URL",
     "scheme and host of Stripe's API, without /v1 (default "
     "https://api.stripe.com)",
     pl_billing_check_api_base},
    {NULL, "PLINTH_BILLING_SYNC_INTERVAL", PL_OPT_STR, PL_OPT_S(pl_billing_sync_interval), 0, 0,
     PL_OPT_RUN, "DURATION",
     "how often every linked organization is reconciled from Stripe (default 15m; 0: never)",
     pl_billing_check_sync_interval},
    {0},
};

#define J PL_ROUTE_JSON

static pl_route_t routes[] = {
    {PL_M_GET, "/v1/plans", plans_public, PL_AUTH_USER, NULL, 0},
    {PL_M_GET, "/v1/admin/plans", plans_admin_list, PL_AUTH_ADMIN, NULL, 0},
    {PL_M_PUT, "/v1/admin/plans/{key}", plan_put, PL_AUTH_ADMIN, NULL, J},
    {PL_M_DELETE, "/v1/admin/plans/{key}", plan_delete, PL_AUTH_ADMIN, NULL, 0},
    {PL_M_PUT, "/v1/admin/orgs/{org}/plan", org_plan_put, PL_AUTH_ADMIN, NULL, J},
    {PL_M_POST, "/v1/admin/billing/sync", sync_now, PL_AUTH_ADMIN, NULL, 0},
    {PL_M_GET, "/v1/admin/orgs/{org}/billing", billing_get, PL_AUTH_ADMIN, NULL,
     PL_ROUTE_ADMIN_ORG},
    {PL_M_GET, "/v1/admin/orgs/{org}/usage", usage_get, PL_AUTH_ADMIN, NULL, PL_ROUTE_ADMIN_ORG},
    {PL_M_GET, "/v1/orgs/{org}/billing", billing_get, PL_AUTH_ORG, "billing.read", 0},
    {PL_M_GET, "/v1/orgs/{org}/usage", usage_get, PL_AUTH_ORG, "org.read", 0},
    {PL_M_POST, "/v1/orgs/{org}/billing/checkout", checkout, PL_AUTH_ORG, "billing.manage", J},
    {PL_M_POST, "/v1/orgs/{org}/billing/portal", portal, PL_AUTH_ORG, "billing.manage", J},
    /* signed by Stripe: the body is read raw, as signed */
    {PL_M_POST, "/v1/billing/stripe/webhook", stripe_webhook, PL_AUTH_NONE, NULL, 0},
    {0},
};

static const pl_perm_def_t perms[] = {
    {"billing.read", "See the organization's plan and subscription", PL_ROLES_ADMIN},
    {"billing.manage", "Subscribe, change the subscription and open the billing portal",
     PL_ROLES_OWNER},
    {0},
};

static const pl_error_def_t errors[] = {
    {"plan_limit_reached", "Plan limit reached"},
    {"bad_gateway", "Payment provider error"},
    {0},
};

static const pl_job_def_t jobs[] = {
    {"billing.sync", pl_billing_sync_job},
    {"billing.sync_org", pl_billing_sync_org_job},
    {0},
};

static const pl_schedule_def_t schedules[] = {
    {"billing.sync", "billing.sync", 0, pl_billing_sync_period},
    {0},
};

const pl_module_t pl_billing_module = {
    .name = "billing",
    .routes = routes,
    .perms = perms,
    .errors = errors,
    .jobs = jobs,
    .schedules = schedules,
    .templates = pl_billing_templates,
    .options = options,
    .on_event = pl_billing_on_event,
    .on_tenant = pl_billing_on_tenant,
    .start = pl_billing_start,
    .stop = pl_billing_stop,
};
