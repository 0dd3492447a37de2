/* billing_store.h - the SQL of plans, organizations' billing rows, usage
 * counters and applied Stripe events, for the files of src/billing alone.
 *
 * Plans, their prices and Stripe events are instance data; org_billing and
 * billing_usage are tenant rows (row-level security on PostgreSQL, see
 * 0008_billing.sql): every query on them binds the org id, except the
 * lookups by Stripe customer (app.stripe_customer set) and the sync job's
 * list of linked organizations (app.billing_sync set). Strings are copied
 * into the arena given; errors are PL_E* codes from db.h; PL_ENOTFOUND when
 * a lookup finds nothing or a change hits no row. */
#ifndef PL_BILLING_STORE_H
#define PL_BILLING_STORE_H

#include "billing/billing.h"
#include "core/rows.h"

/* An organization's billing row as stored. */
typedef struct {
    const char *org_id, *plan_key, *status;
    int64_t current_period_end; /* 0: none */
    bool cancel_at_period_end;
    const char *customer, *subscription; /* NULL: none */
    int64_t state_at;
} pl_billing_row_t;

/* ---- billing_version (kv) ---- */
int pl_billing_store_version(pl_db_t *db, int64_t *out);
/* Bumps it; the row lock this takes (PostgreSQL) also orders the writers. */
int pl_billing_store_bump(pl_db_t *db, int64_t now);

/* ---- plans ---- */
/* Plans (pl_plan_t, with their prices and features) in key order after
 * `after` (NULL: first). */
int pl_plans_store_list(pl_db_t *db, pl_arena_t *a, bool public_only, const char *after,
                        pl_rows_t *out);
int pl_plans_store_get(pl_db_t *db, pl_arena_t *a, const char *key, pl_plan_t *out);
/* Inserts or updates the plan's row (not its prices); *created tells which. */
int pl_plans_store_upsert(pl_db_t *db, pl_arena_t *a, const pl_plan_t *p, int64_t now,
                          bool *created);
/* Replaces the plan's prices; PL_ECONFLICT when one belongs to another plan. */
int pl_plans_store_set_prices(pl_db_t *db, const char *key, const char *const *ids, int n);
/* PL_ENOTFOUND, or PL_EFKEY while organizations are on it. */
int pl_plans_store_delete(pl_db_t *db, const char *key);
/* The key of the plan that has price_id (in a). */
int pl_plans_store_by_price(pl_db_t *db, pl_arena_t *a, const char *price_id, const char **key);
/* Every plan (key, limits, features; prices left out) for the cache; the
 * plan's strings are valid only during fn. */
int pl_plans_store_all(pl_db_t *db, void (*fn)(void *cls, const pl_plan_t *p), void *cls);

/* ---- organizations' billing rows ---- */
int pl_billing_store_insert(pl_db_t *db, const char *org_id, const char *plan_key, int64_t now);
/* The row; with lock, locked for the rest of the transaction (PostgreSQL
 * FOR UPDATE; SQLite's write transaction holds the database). */
int pl_billing_store_get(pl_db_t *db, pl_arena_t *a, const char *org_id, bool lock,
                         pl_billing_row_t *out);
/* The row's plan key only (the plan cache's miss). */
int pl_billing_store_plan_key(pl_db_t *db, pl_arena_t *a, const char *org_id, const char **key);
/* The limits of the organization's plan, or of fallback_plan when the
 * organization has no row. PL_BILLING_UNLIMITED for none. */
int pl_billing_store_limits(pl_db_t *db, const char *org_id, const char *fallback_plan,
                            int64_t limits[PL_LIMIT_COUNT]);
int pl_billing_store_set_plan(pl_db_t *db, const char *org_id, const char *plan_key, int64_t now);
/* Writes plan, status, period end, cancel flag, subscription and state_at. */
int pl_billing_store_set_state(pl_db_t *db, const pl_billing_row_t *r, int64_t now);
/* Links the customer (and the subscription, when not NULL). PL_ECONFLICT
 * when another organization has the customer. */
int pl_billing_store_link(pl_db_t *db, const char *org_id, const char *customer,
                          const char *subscription, int64_t now);
/* The organization linked to customer (the caller set app.stripe_customer). */
int pl_billing_store_by_customer(pl_db_t *db, pl_arena_t *a, const char *customer,
                                 const char **org_id);
/* Linked rows (pl_billing_row_t) by org id after `after`; the caller set
 * app.billing_sync in a read transaction of its own. */
int pl_billing_store_linked(pl_db_t *db, pl_arena_t *a, const char *after, pl_rows_t *out);

/* ---- stored usage counters ---- */
/* Adds add to the counter when max < 0 or the result stays <= max; returns
 * PL_OK, or PL_ELIMIT when it would not. */
int pl_billing_store_usage_add(pl_db_t *db, const char *org_id, const char *metric, int64_t add,
                               int64_t max);
int pl_billing_store_usage_sub(pl_db_t *db, const char *org_id, const char *metric, int64_t n);
/* The counter (0 when absent). */
int pl_billing_store_usage_get(pl_db_t *db, const char *org_id, const char *metric, int64_t *out);

/* ---- Stripe events ---- */
/* Records an event id; PL_ECONFLICT when it was recorded before. */
int pl_billing_store_event_insert(pl_db_t *db, const char *id, const char *type, int64_t created,
                                  int64_t now);
/* Forgets events received before cutoff. */
int pl_billing_store_events_purge(pl_db_t *db, int64_t cutoff);

#endif
