/* billing_store.c - SQL for plans, organizations' billing rows, usage
 * counters, applied Stripe events and the billing_version counter. */
#include <string.h>

#include "billing/billing_store.h"

static int done_rc(int rc)
{
    return rc < 0 ? rc : PL_OK;
}

static int64_t col_opt(pl_stmt_t *st, int col, int64_t none)
{
    return pl_stmt_col_is_null(st, col) ? none : pl_stmt_col_int64(st, col);
}

static void bind_opt(pl_stmt_t *st, int pos, int64_t v, int64_t none)
{
    if (v == none)
        pl_stmt_bind_null(st, pos);
    else
        pl_stmt_bind_int64(st, pos, v);
}

/* ---- billing_version ---- */

static const char sql_version[] = "SELECT value FROM kv WHERE key = 'billing_version'";

int pl_billing_store_version(pl_db_t *db, int64_t *out)
{
    PL_PREPARE(st, db, sql_version);
    int rc = pl_stmt_step(st);
    *out = 0;
    if (rc == 1) {
        const char *v = pl_stmt_col_text(st, 0);
        if (!v || pl_parse_int64(v, 0, INT64_MAX, out))
            rc = PL_EDB; /* only this file writes the row */
    }
    return pl_stmt_list_done(st, rc);
}

static const char sql_bump[] =
    "INSERT INTO kv (key, value, updated_at) VALUES ('billing_version', '1', $1) "
    "ON CONFLICT (key) DO UPDATE SET value = CAST(CAST(kv.value AS BIGINT) + 1 AS TEXT), "
    "updated_at = excluded.updated_at";

int pl_billing_store_bump(pl_db_t *db, int64_t now)
{
    PL_PREPARE(st, db, sql_bump);
    pl_stmt_bind_int64(st, 1, now);
    return done_rc(pl_stmt_exec(st));
}

/* ---- plans ---- */

#define PLAN_COLS                                                                                  \
    "p.key, p.name, p.public, p.max_members, p.max_projects, p.max_api_keys, p.max_webhooks, "     \
    "p.max_storage_bytes, p.max_records, p.requests_per_minute, p.features, p.created_at, "        \
    "p.updated_at"
#define PLAN_NCOLS 13

/* "a b c" into a sorted array of strings in a (the writer sorted them). */
static void split_features(pl_arena_t *a, const char *text, pl_plan_t *p)
{
    p->features = NULL;
    p->nfeatures = 0;
    if (!text || !*text)
        return;
    int n = 1;
    for (const char *c = text; *c; c++)
        n += *c == ' ';
    const char **out = pl_arena_alloc(a, sizeof(char *) * (size_t)n);
    int k = 0;
    const char *s = text;
    while (*s && k < n) {
        const char *e = strchr(s, ' ');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        if (len)
            out[k++] = pl_arena_strndup(a, s, len);
        s += len + (e ? 1 : 0);
    }
    p->features = out;
    p->nfeatures = k;
}

/* The plan's columns from col on; with a NULL arena, strings are the
 * statement's (valid until the next step). */
static void read_plan(pl_stmt_t *st, pl_arena_t *a, pl_plan_t *p)
{
    memset(p, 0, sizeof(*p));
    p->key = pl_stmt_col_dup(st, a, 0);
    p->name = pl_stmt_col_dup(st, a, 1);
    p->public = pl_stmt_col_bool(st, 2);
    for (int i = 0; i < PL_LIMIT_COUNT; i++)
        p->limits[i] = col_opt(st, 3 + i, PL_BILLING_UNLIMITED);
    p->created_at = pl_stmt_col_int64(st, 11);
    p->updated_at = pl_stmt_col_int64(st, 12);
}

static const char sql_plans_page[] = "SELECT " PLAN_COLS " FROM plans p "
                                     "WHERE (NOT $1 OR p.public) AND ($2 = '' OR p.key > $2) "
                                     "ORDER BY p.key LIMIT $3";
static const char sql_prices_range[] = "SELECT plan_key, price_id FROM plan_prices "
                                       "WHERE plan_key >= $1 AND plan_key <= $2 "
                                       "ORDER BY plan_key, position";

/* Hands each plan of plans[0..n) (in key order) its prices. */
static int attach_prices(pl_db_t *db, pl_arena_t *a, pl_plan_t *plans, int n)
{
    if (!n)
        return PL_OK;
    PL_PREPARE(st, db, sql_prices_range);
    pl_stmt_bind_text(st, 1, plans[0].key);
    pl_stmt_bind_text(st, 2, plans[n - 1].key);
    int rc;
    /* collected per plan into arena arrays sized for the worst case */
    const char ***ids = pl_arena_alloc(a, sizeof(char **) * (size_t)n);
    while ((rc = pl_stmt_step(st)) == 1) {
        const char *key = pl_stmt_col_text(st, 0);
        for (int i = 0; i < n; i++) {
            if (strcmp(plans[i].key, key))
                continue;
            if (!ids[i])
                ids[i] = pl_arena_alloc(a, sizeof(char *) * PL_PLAN_PRICES_MAX);
            if (plans[i].nprices < PL_PLAN_PRICES_MAX)
                ids[i][plans[i].nprices++] = pl_stmt_col_dup(st, a, 1);
            break;
        }
    }
    pl_stmt_reset(st);
    for (int i = 0; i < n; i++)
        plans[i].price_ids = ids[i];
    return done_rc(rc);
}

int pl_plans_store_list(pl_db_t *db, pl_arena_t *a, bool public_only, const char *after,
                        pl_rows_t *out)
{
    PL_PREPARE(st, db, sql_plans_page);
    pl_stmt_bind_bool(st, 1, public_only);
    pl_stmt_bind_text(st, 2, after ? after : "");
    pl_stmt_bind_int64(st, 3, out->limit + 1);
    int rc;
    while ((rc = pl_stmt_step(st)) == 1) {
        pl_plan_t *p = pl_rows_add(out);
        if (!p)
            break;
        read_plan(st, a, p);
        split_features(a, pl_stmt_col_text(st, 10), p);
    }
    pl_stmt_reset(st);
    if (rc < 0)
        return rc;
    return attach_prices(db, a, out->items, out->n);
}

static const char sql_plan_get[] = "SELECT " PLAN_COLS " FROM plans p WHERE p.key = $1";

int pl_plans_store_get(pl_db_t *db, pl_arena_t *a, const char *key, pl_plan_t *out)
{
    PL_PREPARE(st, db, sql_plan_get);
    pl_stmt_bind_text(st, 1, key);
    int rc = pl_stmt_step(st);
    if (rc == 1) {
        read_plan(st, a, out);
        split_features(a, pl_stmt_col_text(st, 10), out);
    }
    if ((rc = pl_stmt_one_done(st, rc)))
        return rc;
    return attach_prices(db, a, out, 1);
}

static const char sql_plan_insert[] =
    "INSERT INTO plans (key, name, public, max_members, max_projects, max_api_keys, "
    "max_webhooks, max_storage_bytes, max_records, requests_per_minute, features, created_at, "
    "updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12)";
static const char sql_plan_update[] =
    "UPDATE plans SET name = $2, public = $3, max_members = $4, max_projects = $5, "
    "max_api_keys = $6, max_webhooks = $7, max_storage_bytes = $8, max_records = $9, "
    "requests_per_minute = $10, features = $11, updated_at = $12 WHERE key = $1";
static const char sql_plan_exists[] = "SELECT 1 FROM plans WHERE key = $1";

/* Features as stored: space-separated. */
static const char *join_features(pl_arena_t *a, const pl_plan_t *p)
{
    size_t n = 1;
    for (int i = 0; i < p->nfeatures; i++)
        n += strlen(p->features[i]) + 1;
    char *s = pl_arena_alloc(a, n);
    size_t k = 0;
    for (int i = 0; i < p->nfeatures; i++) {
        size_t len = strlen(p->features[i]);
        if (k)
            s[k++] = ' ';
        memcpy(s + k, p->features[i], len);
        k += len;
    }
    s[k] = '\0';
    return s;
}

int pl_plans_store_upsert(pl_db_t *db, pl_arena_t *a, const pl_plan_t *p, int64_t now,
                          bool *created)
{
    PL_PREPARE(ex, db, sql_plan_exists);
    pl_stmt_bind_text(ex, 1, p->key);
    int rc = pl_stmt_step(ex);
    pl_stmt_reset(ex);
    if (rc < 0)
        return rc;
    *created = rc == 0;
    PL_PREPARE(st, db, *created ? sql_plan_insert : sql_plan_update);
    pl_stmt_bind_text(st, 1, p->key);
    pl_stmt_bind_text(st, 2, p->name);
    pl_stmt_bind_bool(st, 3, p->public);
    for (int i = 0; i < PL_LIMIT_COUNT; i++)
        bind_opt(st, 4 + i, p->limits[i], PL_BILLING_UNLIMITED);
    pl_stmt_bind_text(st, 11, join_features(a, p));
    pl_stmt_bind_int64(st, 12, now);
    return pl_stmt_exec_found(st);
}

static const char sql_prices_delete[] = "DELETE FROM plan_prices WHERE plan_key = $1";
static const char sql_price_insert[] =
    "INSERT INTO plan_prices (price_id, plan_key, position) VALUES ($1, $2, $3)";

int pl_plans_store_set_prices(pl_db_t *db, const char *key, const char *const *ids, int n)
{
    PL_PREPARE(del, db, sql_prices_delete);
    pl_stmt_bind_text(del, 1, key);
    int rc = pl_stmt_exec(del);
    if (rc < 0)
        return rc;
    for (int i = 0; i < n; i++) {
        PL_PREPARE(st, db, sql_price_insert);
        pl_stmt_bind_text(st, 1, ids[i]);
        pl_stmt_bind_text(st, 2, key);
        pl_stmt_bind_int64(st, 3, i);
        if ((rc = pl_stmt_exec(st)) < 0)
            return rc;
    }
    return PL_OK;
}

static const char sql_plan_delete[] = "DELETE FROM plans WHERE key = $1";

int pl_plans_store_delete(pl_db_t *db, const char *key)
{
    PL_PREPARE(st, db, sql_plan_delete);
    pl_stmt_bind_text(st, 1, key);
    return pl_stmt_exec_found(st);
}

static const char sql_plan_by_price[] = "SELECT plan_key FROM plan_prices WHERE price_id = $1";

int pl_plans_store_by_price(pl_db_t *db, pl_arena_t *a, const char *price_id, const char **key)
{
    PL_PREPARE(st, db, sql_plan_by_price);
    pl_stmt_bind_text(st, 1, price_id);
    int rc = pl_stmt_step(st);
    if (rc == 1)
        *key = pl_stmt_col_dup(st, a, 0);
    return pl_stmt_one_done(st, rc);
}

static const char sql_plans_all[] = "SELECT " PLAN_COLS " FROM plans p ORDER BY p.key";

int pl_plans_store_all(pl_db_t *db, void (*fn)(void *cls, const pl_plan_t *p), void *cls)
{
    PL_PREPARE(st, db, sql_plans_all);
    pl_arena_t *a = pl_arena_create();
    int rc;
    while ((rc = pl_stmt_step(st)) == 1) {
        pl_plan_t p;
        read_plan(st, NULL, &p);
        split_features(a, pl_stmt_col_text(st, 10), &p);
        fn(cls, &p);
    }
    pl_stmt_reset(st);
    pl_arena_destroy(a);
    return done_rc(rc);
}

/* ---- organizations' billing rows ---- */

#define ROW_COLS                                                                                   \
    "org_id, plan_key, status, current_period_end, cancel_at_period_end, stripe_customer_id, "     \
    "stripe_subscription_id, state_at"

static void read_row(pl_stmt_t *st, pl_arena_t *a, pl_billing_row_t *r)
{
    r->org_id = pl_stmt_col_dup(st, a, 0);
    r->plan_key = pl_stmt_col_dup(st, a, 1);
    r->status = pl_stmt_col_dup(st, a, 2);
    r->current_period_end = col_opt(st, 3, 0);
    r->cancel_at_period_end = pl_stmt_col_bool(st, 4);
    r->customer = pl_stmt_col_dup(st, a, 5);
    r->subscription = pl_stmt_col_dup(st, a, 6);
    r->state_at = pl_stmt_col_int64(st, 7);
}

static const char sql_row_insert[] =
    "INSERT INTO org_billing (org_id, plan_key, created_at, updated_at) VALUES ($1, $2, $3, $3) "
    "ON CONFLICT (org_id) DO NOTHING";

int pl_billing_store_insert(pl_db_t *db, const char *org_id, const char *plan_key, int64_t now)
{
    PL_PREPARE(st, db, sql_row_insert);
    pl_stmt_bind_text(st, 1, org_id);
    pl_stmt_bind_text(st, 2, plan_key);
    pl_stmt_bind_int64(st, 3, now);
    return done_rc(pl_stmt_exec(st));
}

static const char sql_row_get[] = "SELECT " ROW_COLS " FROM org_billing WHERE org_id = $1";
static const char sql_row_lock[] =
    "SELECT " ROW_COLS " FROM org_billing WHERE org_id = $1 FOR UPDATE";

int pl_billing_store_get(pl_db_t *db, pl_arena_t *a, const char *org_id, bool lock,
                         pl_billing_row_t *out)
{
    PL_PREPARE(st, db, lock && pl_db_engine() == PL_DB_POSTGRES ? sql_row_lock : sql_row_get);
    pl_stmt_bind_text(st, 1, org_id);
    int rc = pl_stmt_step(st);
    if (rc == 1)
        read_row(st, a, out);
    return pl_stmt_one_done(st, rc);
}

static const char sql_row_plan_key[] = "SELECT plan_key FROM org_billing WHERE org_id = $1";

int pl_billing_store_plan_key(pl_db_t *db, pl_arena_t *a, const char *org_id, const char **key)
{
    PL_PREPARE(st, db, sql_row_plan_key);
    pl_stmt_bind_text(st, 1, org_id);
    int rc = pl_stmt_step(st);
    if (rc == 1)
        *key = pl_stmt_col_dup(st, a, 0);
    return pl_stmt_one_done(st, rc);
}

#define LIMIT_COLS                                                                                 \
    "p.max_members, p.max_projects, p.max_api_keys, p.max_webhooks, p.max_storage_bytes, "         \
    "p.max_records, p.requests_per_minute"

static const char sql_org_limits[] = "SELECT " LIMIT_COLS " FROM org_billing b "
                                     "JOIN plans p ON p.key = b.plan_key WHERE b.org_id = $1";
static const char sql_plan_limits[] = "SELECT " LIMIT_COLS " FROM plans p WHERE p.key = $1";

static int read_limits(pl_db_t *db, const char *sql, const char *arg,
                       int64_t limits[PL_LIMIT_COUNT])
{
    pl_stmt_t *st = pl_db_prepare(db, sql);
    if (!st)
        return PL_EDB;
    pl_stmt_bind_text(st, 1, arg);
    int rc = pl_stmt_step(st);
    for (int i = 0; i < PL_LIMIT_COUNT; i++)
        limits[i] = rc == 1 ? col_opt(st, i, PL_BILLING_UNLIMITED) : PL_BILLING_UNLIMITED;
    return pl_stmt_one_done(st, rc);
}

int pl_billing_store_limits(pl_db_t *db, const char *org_id, const char *fallback_plan,
                            int64_t limits[PL_LIMIT_COUNT])
{
    int rc = read_limits(db, sql_org_limits, org_id, limits);
    if (rc == PL_ENOTFOUND)
        rc = read_limits(db, sql_plan_limits, fallback_plan, limits);
    return rc == PL_ENOTFOUND ? PL_OK : rc; /* no plan at all: unlimited */
}

static const char sql_row_set_plan[] =
    "UPDATE org_billing SET plan_key = $2, updated_at = $3 WHERE org_id = $1";

int pl_billing_store_set_plan(pl_db_t *db, const char *org_id, const char *plan_key, int64_t now)
{
    PL_PREPARE(st, db, sql_row_set_plan);
    pl_stmt_bind_text(st, 1, org_id);
    pl_stmt_bind_text(st, 2, plan_key);
    pl_stmt_bind_int64(st, 3, now);
    return pl_stmt_exec_found(st);
}

static const char sql_row_set_state[] =
    "UPDATE org_billing SET plan_key = $2, status = $3, current_period_end = $4, "
    "cancel_at_period_end = $5, stripe_subscription_id = $6, state_at = $7, updated_at = $8 "
    "WHERE org_id = $1";

int pl_billing_store_set_state(pl_db_t *db, const pl_billing_row_t *r, int64_t now)
{
    PL_PREPARE(st, db, sql_row_set_state);
    pl_stmt_bind_text(st, 1, r->org_id);
    pl_stmt_bind_text(st, 2, r->plan_key);
    pl_stmt_bind_text(st, 3, r->status);
    bind_opt(st, 4, r->current_period_end, 0);
    pl_stmt_bind_bool(st, 5, r->cancel_at_period_end);
    pl_stmt_bind_text(st, 6, r->subscription);
    pl_stmt_bind_int64(st, 7, r->state_at);
    pl_stmt_bind_int64(st, 8, now);
    return pl_stmt_exec_found(st);
}

static const char sql_row_link[] =
    "UPDATE org_billing SET stripe_customer_id = $2, "
    "stripe_subscription_id = COALESCE($3, stripe_subscription_id), updated_at = $4 "
    "WHERE org_id = $1";

int pl_billing_store_link(pl_db_t *db, const char *org_id, const char *customer,
                          const char *subscription, int64_t now)
{
    PL_PREPARE(st, db, sql_row_link);
    pl_stmt_bind_text(st, 1, org_id);
    pl_stmt_bind_text(st, 2, customer);
    pl_stmt_bind_text(st, 3, subscription);
    pl_stmt_bind_int64(st, 4, now);
    return pl_stmt_exec_found(st);
}

static const char sql_row_by_customer[] =
    "SELECT org_id FROM org_billing WHERE stripe_customer_id = $1";

int pl_billing_store_by_customer(pl_db_t *db, pl_arena_t *a, const char *customer,
                                 const char **org_id)
{
    PL_PREPARE(st, db, sql_row_by_customer);
    pl_stmt_bind_text(st, 1, customer);
    int rc = pl_stmt_step(st);
    if (rc == 1)
        *org_id = pl_stmt_col_dup(st, a, 0);
    return pl_stmt_one_done(st, rc);
}

static const char sql_rows_linked[] =
    "SELECT " ROW_COLS " FROM org_billing WHERE stripe_customer_id IS NOT NULL "
    "AND ($1 = '' OR org_id > $1) ORDER BY org_id LIMIT $2";

int pl_billing_store_linked(pl_db_t *db, pl_arena_t *a, const char *after, pl_rows_t *out)
{
    PL_PREPARE(st, db, sql_rows_linked);
    pl_stmt_bind_text(st, 1, after ? after : "");
    pl_stmt_bind_int64(st, 2, out->limit + 1);
    int rc;
    while ((rc = pl_stmt_step(st)) == 1) {
        pl_billing_row_t *r = pl_rows_add(out);
        if (!r)
            break;
        read_row(st, a, r);
    }
    return pl_stmt_list_done(st, rc);
}

/* ---- stored usage counters ---- */

/* One statement: the row lock of the upsert serialises concurrent
 * reservations, and PostgreSQL evaluates the WHERE on the row version it
 * locked, so the counter never passes max. */
static const char sql_usage_add[] =
    "INSERT INTO billing_usage (org_id, metric, used) VALUES ($1, $2, $3) "
    "ON CONFLICT (org_id, metric) DO UPDATE SET used = billing_usage.used + excluded.used "
    "WHERE CAST($4 AS BIGINT) < 0 OR billing_usage.used + excluded.used <= $4";

int pl_billing_store_usage_add(pl_db_t *db, const char *org_id, const char *metric, int64_t add,
                               int64_t max)
{
    if (max >= 0 && add > max)
        return PL_ELIMIT; /* not even into an empty counter */
    PL_PREPARE(st, db, sql_usage_add);
    pl_stmt_bind_text(st, 1, org_id);
    pl_stmt_bind_text(st, 2, metric);
    pl_stmt_bind_int64(st, 3, add);
    pl_stmt_bind_int64(st, 4, max);
    int rc = pl_stmt_exec(st);
    return rc < 0 ? rc : rc == 0 ? PL_ELIMIT : PL_OK;
}

static const char sql_usage_sub[] =
    "UPDATE billing_usage SET used = CASE WHEN used > $3 THEN used - $3 ELSE 0 END "
    "WHERE org_id = $1 AND metric = $2";

int pl_billing_store_usage_sub(pl_db_t *db, const char *org_id, const char *metric, int64_t n)
{
    PL_PREPARE(st, db, sql_usage_sub);
    pl_stmt_bind_text(st, 1, org_id);
    pl_stmt_bind_text(st, 2, metric);
    pl_stmt_bind_int64(st, 3, n);
    return done_rc(pl_stmt_exec(st));
}

static const char sql_usage_get[] =
    "SELECT used FROM billing_usage WHERE org_id = $1 AND metric = $2";

int pl_billing_store_usage_get(pl_db_t *db, const char *org_id, const char *metric, int64_t *out)
{
    PL_PREPARE(st, db, sql_usage_get);
    pl_stmt_bind_text(st, 1, org_id);
    pl_stmt_bind_text(st, 2, metric);
    int rc = pl_stmt_step(st);
    *out = rc == 1 ? pl_stmt_col_int64(st, 0) : 0;
    return pl_stmt_list_done(st, rc);
}

/* ---- Stripe events ---- */

static const char sql_event_insert[] =
    "INSERT INTO stripe_events (id, type, created, received_at) VALUES ($1, $2, $3, $4) "
    "ON CONFLICT (id) DO NOTHING";

int pl_billing_store_event_insert(pl_db_t *db, const char *id, const char *type, int64_t created,
                                  int64_t now)
{
    PL_PREPARE(st, db, sql_event_insert);
    pl_stmt_bind_text(st, 1, id);
    pl_stmt_bind_text(st, 2, type);
    pl_stmt_bind_int64(st, 3, created);
    pl_stmt_bind_int64(st, 4, now);
    int rc = pl_stmt_exec(st);
    return rc < 0 ? rc : rc == 0 ? PL_ECONFLICT : PL_OK;
}

static const char sql_events_purge[] = "DELETE FROM stripe_events WHERE received_at < $1";

int pl_billing_store_events_purge(pl_db_t *db, int64_t cutoff)
{
    PL_PREPARE(st, db, sql_events_purge);
    pl_stmt_bind_int64(st, 1, cutoff);
    return done_rc(pl_stmt_exec(st));
}
