/* billing.c - plans, an organization's plan and usage, and the limit check
 * every guarded insert makes (pl_billing_reserve). Stripe's side (events,
 * checkout, the sync job) is in billing_stripe.c; the in-memory plan cache
 * and the rate limit in billing_cache.c. docs/billing.md has the design. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apikeys/apikeys.h"
#include "billing/billing_int.h"
#include "billing/billing_store.h"
#include "core/rows.h"
#include "flags/flags.h"
#include "orgs/orgs.h"
#include "platform/audit/audit.h"
#include "platform/events/events.h"

const char *const pl_limit_names[PL_LIMIT_COUNT] = {
    "members",
    "projects",
    "api_keys",
    "webhooks",
    "storage_bytes",
    "records",
    "requests_per_minute",
};

char pl_billing_default_plan[PL_PLAN_KEY_MAX + 1] = "free";

int pl_limit_from_name(const char *name)
{
    for (int i = 0; name && i < PL_LIMIT_COUNT; i++)
        if (!strcmp(pl_limit_names[i], name))
            return i;
    return -1;
}

bool pl_plans_key_valid(const char *key)
{
    /* the same alphabet as flag keys: plans name flags, flags name plans */
    return pl_flags_key_valid(key) && strlen(key) <= PL_PLAN_KEY_MAX;
}

int pl_billing_check_default_plan(void)
{
    if (pl_plans_key_valid(pl_billing_default_plan))
        return PL_OK;
    fprintf(stderr, "PLINTH_DEFAULT_PLAN: not a plan key (1 to 64 of a-z 0-9 . _ -, starting "
                    "with a letter)\n");
    return PL_EINVAL;
}

/* ---- limits ---- */

/* Counted limits; the others are stored counters (billing_usage). Filled
 * at start, read-only after. */
static pl_billing_count_fn counters[PL_LIMIT_COUNT] = {
    [PL_LIMIT_MEMBERS] = pl_orgs_count_seats,
    [PL_LIMIT_API_KEYS] = pl_apikeys_count_live,
};

void pl_billing_counter(const char *limit, pl_billing_count_fn fn)
{
    int i = pl_limit_from_name(limit);
    if (i < 0 || i == PL_LIMIT_RPM)
        pl_log("error", "billing: no limit called %s to count", limit ? limit : "(null)");
    else
        counters[i] = fn;
}

static int limit_reached(pl_ctx_t *ctx, int limit, int64_t used, int64_t max)
{
    const char *name = pl_limit_names[limit];
    ctx->err.extra_json = pl_arena_printf(ctx->arena, "\"limit\":\"%s\",\"used\":%lld,\"max\":%lld",
                                          name, (long long)used, (long long)max);
    const char *what = limit == PL_LIMIT_STORAGE_BYTES ? "bytes of storage" : name;
    if (limit == PL_LIMIT_API_KEYS)
        what = "API keys";
    return pl_fail(ctx, 402, "plan_limit_reached",
                   pl_arena_printf(ctx->arena,
                                   "The organization's plan allows %lld %s; upgrade the plan "
                                   "for more.",
                                   (long long)max, what));
}

int pl_billing_reserve(pl_db_t *db, pl_ctx_t *ctx, const char *org_id, const char *limit,
                       int64_t add)
{
    return pl_billing_reserve_capped(db, ctx, org_id, limit, add, PL_BILLING_UNLIMITED);
}

int pl_billing_reserve_capped(pl_db_t *db, pl_ctx_t *ctx, const char *org_id, const char *limit,
                              int64_t add, int64_t cap)
{
    int i = pl_limit_from_name(limit);
    if (i < 0 || i == PL_LIMIT_RPM || add < 0) {
        pl_log("error", "billing: reserve of an unknown limit or a negative amount (%s)",
               limit ? limit : "(null)");
        return PL_EINVAL;
    }
    int rc = pl_db_begin(db);
    if (rc)
        return rc;
    int64_t limits[PL_LIMIT_COUNT], used = 0;
    rc = pl_billing_store_limits(db, org_id, pl_billing_default_plan, limits);
    int64_t max = limits[i];
    if (!rc && counters[i]) {
        /* the product's own ceiling, when the plan allows more */
        bool by_cap = cap != PL_BILLING_UNLIMITED && (max == PL_BILLING_UNLIMITED || cap < max);
        if (by_cap)
            max = cap;
        /* nothing to guard without a limit: no lock, no count */
        if (max != PL_BILLING_UNLIMITED) {
            rc = pl_orgs_lock(db, org_id);
            if (!rc)
                rc = counters[i](db, org_id, pl_now_ms(), &used);
            if (!rc && used + add > max && by_cap) {
                ctx->err.extra_json =
                    pl_arena_printf(ctx->arena, "\"limit\":\"%s\",\"used\":%lld,\"max\":%lld",
                                    pl_limit_names[i], (long long)used, (long long)max);
                rc = pl_fail(ctx, 402, "plan_limit_reached",
                             pl_arena_printf(ctx->arena, "At most %lld %s per organization.",
                                             (long long)max, pl_limit_names[i]));
            } else if (!rc && used + add > max) {
                rc = limit_reached(ctx, i, used, max);
            }
        }
    } else if (!rc) {
        rc = pl_billing_store_usage_add(db, org_id, limit, add, max);
        if (rc == PL_ELIMIT) {
            rc = pl_billing_store_usage_get(db, org_id, limit, &used);
            if (!rc)
                rc = limit_reached(ctx, i, used, max);
        }
    }
    return pl_db_finish(db, rc);
}

int pl_billing_has_room(pl_db_t *db, const char *org_id, const char *limit, int64_t add, bool *room)
{
    int i = pl_limit_from_name(limit);
    *room = false;
    if (i < 0 || i == PL_LIMIT_RPM || add < 0 || !counters[i])
        return PL_EINVAL;
    int64_t limits[PL_LIMIT_COUNT], used = 0;
    int rc = pl_billing_store_limits(db, org_id, pl_billing_default_plan, limits);
    if (!rc && limits[i] != PL_BILLING_UNLIMITED)
        rc = counters[i](db, org_id, pl_now_ms(), &used);
    if (!rc)
        *room = limits[i] == PL_BILLING_UNLIMITED || used + add <= limits[i];
    return rc;
}

int pl_billing_release(pl_db_t *db, const char *org_id, const char *limit, int64_t n)
{
    int i = pl_limit_from_name(limit);
    if (i < 0 || i == PL_LIMIT_RPM || n < 0)
        return PL_EINVAL;
    if (counters[i] || n == 0)
        return PL_OK;
    return pl_billing_store_usage_sub(db, org_id, limit, n);
}

int pl_billing_usage(pl_db_t *db, pl_ctx_t *ctx, pl_usage_t *out)
{
    const char *org_id = ctx->tenant.org_id;
    int rc = pl_billing_store_limits(db, org_id, pl_billing_default_plan, out->max);
    int64_t now = pl_now_ms();
    for (int i = 0; !rc && i < PL_LIMIT_COUNT; i++) {
        out->used[i] = 0;
        if (i == PL_LIMIT_RPM)
            continue;
        rc = counters[i] ? counters[i](db, org_id, now, &out->used[i])
                         : pl_billing_store_usage_get(db, org_id, pl_limit_names[i], &out->used[i]);
    }
    return rc;
}

/* ---- plans ---- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The plan's meaning (its JSON shape was checked by the route): key,
 * limits, features and prices. Sorts the features into a copy. */
static int check_plan(pl_ctx_t *ctx, const pl_plan_t *in, pl_plan_t *p)
{
    *p = *in;
    if (!pl_plans_key_valid(in->key))
        pl_field_error(ctx, "key", "invalid",
                       "Use 1 to 64 of a-z, 0-9, '.', '_' and '-', starting with a letter.");
    for (int i = 0; i < PL_LIMIT_COUNT; i++)
        if (in->limits[i] < PL_BILLING_UNLIMITED)
            pl_field_error(ctx, pl_arena_printf(ctx->arena, "limits.%s", pl_limit_names[i]),
                           "invalid", "Must be null (unlimited) or an integer >= 0.");
    if (in->nfeatures > PL_PLAN_FEATURES_MAX)
        pl_field_error(ctx, "features", "too_long", "At most 100 features.");
    const char **f = pl_arena_alloc(ctx->arena, sizeof(char *) * (size_t)(in->nfeatures + 1));
    for (int i = 0; i < in->nfeatures; i++) {
        if (!pl_flags_key_valid(in->features[i]))
            pl_field_error(ctx, "features", "invalid", "Each feature is a flag key.");
        f[i] = in->features[i];
    }
    if (in->nfeatures > 1)
        qsort(f, (size_t)in->nfeatures, sizeof(char *), cmp_str);
    for (int i = 1; i < in->nfeatures; i++)
        if (!strcmp(f[i - 1], f[i]))
            pl_field_error(ctx, "features", "invalid", "A feature is listed twice.");
    p->features = f;
    if (in->nprices > PL_PLAN_PRICES_MAX)
        pl_field_error(ctx, "stripe_price_ids", "too_long", "At most 20 prices.");
    for (int i = 0; i < in->nprices; i++) {
        const char *id = in->price_ids[i];
        size_t n = strlen(id);
        bool ok = n >= 1 && n <= PL_STRIPE_ID_MAX;
        for (size_t k = 0; ok && k < n; k++)
            ok = (id[k] >= 'a' && id[k] <= 'z') || (id[k] >= 'A' && id[k] <= 'Z') ||
                 (id[k] >= '0' && id[k] <= '9') || id[k] == '_';
        for (int j = 0; ok && j < i; j++)
            ok = strcmp(in->price_ids[j], id) != 0;
        if (!ok) {
            pl_field_error(ctx, "stripe_price_ids", "invalid",
                           "Each price id is 1 to 255 of A-Z a-z 0-9 _, listed once.");
            break;
        }
    }
    return pl_validated(ctx);
}

/* The plan as audit data (no timestamps). */
static json_t *plan_json(const pl_plan_t *p)
{
    json_t *limits = json_object(), *features = json_array(), *prices = json_array();
    for (int i = 0; i < PL_LIMIT_COUNT; i++)
        json_object_set_new(limits, pl_limit_names[i],
                            p->limits[i] == PL_BILLING_UNLIMITED ? json_null()
                                                                 : json_integer(p->limits[i]));
    for (int i = 0; i < p->nfeatures; i++)
        json_array_append_new(features, json_string(p->features[i]));
    for (int i = 0; i < p->nprices; i++)
        json_array_append_new(prices, json_string(p->price_ids[i]));
    return json_pack("{s:s, s:b, s:o, s:o, s:o}", "name", p->name, "public", p->public, "limits",
                     limits, "features", features, "stripe_price_ids", prices);
}

int pl_plans_list(pl_db_t *db, pl_ctx_t *ctx, bool public_only, const char *cursor, int limit,
                  pl_plan_page_t *out)
{
    pl_rows_t rows;
    pl_rows_init(&rows, ctx->arena, sizeof(pl_plan_t), limit);
    int rc = pl_plans_store_list(db, ctx->arena, public_only, cursor, &rows);
    if (rc)
        return rc;
    out->items = rows.items;
    out->n = rows.n;
    out->next_cursor = rows.more ? out->items[out->n - 1].key : NULL;
    return PL_OK;
}

int pl_plans_put(pl_db_t *db, pl_ctx_t *ctx, const pl_plan_t *in, pl_plan_t *out, bool *created)
{
    pl_plan_t p;
    int rc = check_plan(ctx, in, &p);
    if (rc || (rc = pl_db_begin(db)))
        return rc;
    int64_t now = pl_now_ms();
    rc = pl_billing_store_bump(db, now);
    if (!rc)
        rc = pl_plans_store_upsert(db, ctx->arena, &p, now, created);
    if (!rc &&
        (rc = pl_plans_store_set_prices(db, p.key, p.price_ids, p.nprices)) == PL_ECONFLICT) {
        pl_field_error(ctx, "stripe_price_ids", "taken", "A price belongs to another plan.");
        rc = pl_fail(ctx, 409, "conflict", "A Stripe price belongs to another plan.");
    }
    if (!rc) {
        json_t *d = plan_json(&p);
        rc = pl_audit_append(db, ctx, NULL, *created ? "plan.created" : "plan.updated", "plan",
                             p.key, d);
        json_decref(d);
    }
    if (!rc)
        rc = pl_plans_store_get(db, ctx->arena, p.key, out);
    return pl_db_finish(db, rc);
}

int pl_plans_delete(pl_db_t *db, pl_ctx_t *ctx, const char *key)
{
    if (!pl_plans_key_valid(key))
        return pl_fail(ctx, 404, "not_found", "No such plan.");
    if (!strcmp(key, "free") || !strcmp(key, pl_billing_default_plan))
        return pl_fail(ctx, 409, "conflict",
                       "The free plan and the default plan cannot be deleted.");
    int rc = pl_db_begin(db);
    if (rc)
        return rc;
    rc = pl_billing_store_bump(db, pl_now_ms());
    if (!rc)
        rc = pl_plans_store_delete(db, key);
    if (!rc)
        rc = pl_audit_append(db, ctx, NULL, "plan.deleted", "plan", key, NULL);
    rc = pl_db_finish(db, rc);
    if (rc == PL_ENOTFOUND)
        return pl_fail(ctx, 404, "not_found", "No such plan.");
    if (rc == PL_EFKEY)
        return pl_fail(ctx, 409, "conflict", "Organizations are on this plan: move them first.");
    return rc;
}

/* ---- an organization's billing ---- */

/* The billing of org_id as stored, with its plan; an organization without a
 * row (none is made before this module's migration ran) reads as the
 * default plan without a subscription. */
static int read_billing(pl_db_t *db, pl_ctx_t *ctx, const char *org_id, pl_billing_t *out)
{
    pl_billing_row_t row = {
        .org_id = org_id, .plan_key = pl_billing_default_plan, .status = "none"};
    int rc = pl_billing_store_get(db, ctx->arena, org_id, false, &row);
    if (rc && rc != PL_ENOTFOUND)
        return rc;
    memset(out, 0, sizeof(*out));
    out->org_id = org_id;
    out->status = row.status;
    out->current_period_end = row.current_period_end;
    out->cancel_at_period_end = row.cancel_at_period_end;
    out->stripe_customer_id = row.customer;
    out->stripe_subscription_id = row.subscription;
    rc = pl_plans_store_get(db, ctx->arena, row.plan_key, &out->plan);
    return rc == PL_ENOTFOUND ? PL_EINTERNAL : rc; /* a foreign key keeps the plan */
}

int pl_billing_get(pl_db_t *db, pl_ctx_t *ctx, pl_billing_t *out)
{
    return read_billing(db, ctx, ctx->tenant.org_id, out);
}

int pl_billing_assign(pl_db_t *db, pl_ctx_t *ctx, const char *org_ref, const char *plan_key,
                      pl_billing_t *out)
{
    pl_org_t o;
    int rc = pl_orgs_lookup(db, ctx->arena, org_ref, &o);
    if (rc == PL_ENOTFOUND)
        return pl_fail(ctx, 404, "not_found", "No such organization.");
    if (rc)
        return rc;
    pl_plan_t plan;
    rc = pl_plans_key_valid(plan_key) ? pl_plans_store_get(db, ctx->arena, plan_key, &plan)
                                      : PL_ENOTFOUND;
    if (rc == PL_ENOTFOUND) {
        pl_field_error(ctx, "plan", "invalid", "No such plan.");
        return PL_EINVAL;
    }
    if (rc || (rc = pl_db_begin(db)))
        return rc;
    int64_t now = pl_now_ms();
    pl_billing_row_t row;
    rc = pl_orgs_enter(db, ctx, &o);
    if (!rc && (rc = pl_billing_store_get(db, ctx->arena, o.id, true, &row)) == PL_ENOTFOUND) {
        /* an organization older than billing: its row starts here */
        row = (pl_billing_row_t){.org_id = o.id, .plan_key = "free", .status = "none"};
        rc = pl_billing_store_insert(db, o.id, plan.key, now);
    }
    if (!rc)
        rc = pl_billing_store_bump(db, now);
    if (!rc)
        rc = pl_billing_store_set_plan(db, o.id, plan.key, now);
    if (!rc) {
        json_t *d = json_pack("{s:s, s:s, s:s}", "org_id", o.id, "plan", plan.key, "previous_plan",
                              row.plan_key);
        rc = pl_audit_append(db, ctx, NULL, "plan.assigned", "org", o.id, d);
        json_decref(d);
    }
    if (!rc) {
        json_t *d = json_pack("{s:s, s:s, s:s, s:s}", "source", "admin", "plan", plan.key,
                              "previous_plan", row.plan_key, "status", row.status);
        rc = pl_audit_append(db, ctx, o.id, "subscription.updated", "org", o.id, d);
        json_decref(d);
    }
    if (!rc)
        rc = read_billing(db, ctx, o.id, out);
    return pl_db_finish(db, rc);
}

/* ---- new organizations ---- */

int pl_billing_on_event(pl_db_t *db, pl_ctx_t *ctx, const struct pl_event *ev)
{
    PL_UNUSED(ctx);
    if (!ev->org_id || strcmp(ev->action, "org.created"))
        return PL_OK;
    int64_t now = pl_now_ms();
    /* the org's creation set app.org_id (row-level security) already */
    pl_plan_t p;
    pl_arena_t *a = pl_arena_create();
    int rc = pl_plans_store_get(db, a, pl_billing_default_plan, &p);
    pl_arena_destroy(a);
    if (rc && rc != PL_ENOTFOUND)
        return rc;
    if (rc == PL_ENOTFOUND)
        pl_log("warn",
               "billing: PLINTH_DEFAULT_PLAN %s does not exist; the new organization "
               "is on the free plan",
               pl_billing_default_plan);
    return pl_billing_store_insert(db, ev->org_id, rc ? "free" : pl_billing_default_plan, now);
}

/* ---- the sync interval ---- */

char pl_billing_sync_interval[32] = "15m";
int64_t pl_billing_sync_interval_ms = 15 * 60 * 1000;

int pl_billing_parse_interval(const char *s, int64_t *ms)
{
    size_t n = s ? strlen(s) : 0;
    if (!n || n >= 24)
        return PL_EINVAL;
    int64_t unit = 1000;
    char num[24];
    memcpy(num, s, n + 1);
    switch (num[n - 1]) {
    case 'h':
        unit *= 60;
        /* fall through */
    case 'm':
        unit *= 60;
        /* fall through */
    case 's':
        num[--n] = '\0';
        break;
    default:
        break;
    }
    for (size_t i = 0; i < n; i++)
        if (num[i] < '0' || num[i] > '9')
            return PL_EINVAL;
    int64_t v;
    if (!n || pl_parse_int64(num, 0, 366LL * 24 * 3600, &v) || v * unit / 1000 > 366LL * 24 * 3600)
        return PL_EINVAL;
    *ms = v * unit;
    return PL_OK;
}

int pl_billing_check_sync_interval(void)
{
    if (pl_billing_parse_interval(pl_billing_sync_interval, &pl_billing_sync_interval_ms) == PL_OK)
        return PL_OK;
    fprintf(stderr, "PLINTH_BILLING_SYNC_INTERVAL: use seconds (900) or a number with s, m or h "
                    "(15m); 0 turns the sync off\n");
    return PL_EINVAL;
}

int64_t pl_billing_sync_period(void)
{
    return pl_billing_sync_interval_ms;
}
