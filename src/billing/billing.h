/* billing.h - plans, their limits, each organization's plan and
 * subscription, and Stripe: the service API.
 *
 * A plan has limits (members, projects, api_keys, webhooks, storage_bytes,
 * records: checked in the transaction of the insert they guard;
 * requests_per_minute: counted in memory per instance), features (flag keys
 * its organizations get switched on) and Stripe price ids (a subscription to
 * one of them puts the organization on the plan). The "free" plan exists
 * from the first start; a new organization gets PLINTH_DEFAULT_PLAN.
 *
 * Functions take the calling thread's connection and the acting context.
 * Writers run their own transaction (pl_db_begin/pl_db_finish, which joins
 * the caller's), write the audit event in it and bump billing_version so
 * every instance's plan cache follows (this one at once after
 * pl_billing_reload, the others within a second). Refusals are recorded on
 * ctx and returned as negative PL_E* codes; database errors are returned as
 * is. Structs filled for the caller point into ctx->arena. Thread-safe. */
#ifndef PL_BILLING_H
#define PL_BILLING_H

#include "core/ctx.h"
#include "core/module.h"
#include "db/db.h"

#define PL_PLAN_KEY_MAX      64
#define PL_PLAN_NAME_MAX     200
#define PL_PLAN_FEATURES_MAX 100
#define PL_PLAN_PRICES_MAX   20
#define PL_STRIPE_ID_MAX     255
#define PL_BILLING_UNLIMITED (-1)

/* The limits of a plan, in the order API.md lists them. */
typedef enum {
    PL_LIMIT_MEMBERS, /* members plus pending invitations */
    PL_LIMIT_PROJECTS,
    PL_LIMIT_API_KEYS, /* live (neither revoked nor expired) keys */
    PL_LIMIT_WEBHOOKS,
    PL_LIMIT_STORAGE_BYTES,
    PL_LIMIT_RECORDS,
    PL_LIMIT_RPM, /* requests_per_minute: not reserved, counted in memory */
    PL_LIMIT_COUNT
} pl_limit_t;

/* "members", "projects", ..., "requests_per_minute". */
extern const char *const pl_limit_names[PL_LIMIT_COUNT];
/* The limit called name, or -1. */
int pl_limit_from_name(const char *name);

typedef struct {
    const char *key, *name;
    bool public;
    int64_t limits[PL_LIMIT_COUNT]; /* PL_BILLING_UNLIMITED or >= 0 */
    const char *const *features;    /* flag keys, sorted */
    int nfeatures;
    const char *const *price_ids; /* in the order given */
    int nprices;
    int64_t created_at, updated_at;
} pl_plan_t;

typedef struct {
    const pl_plan_t *items;
    int n;
    const char *next_cursor; /* the last key when another page follows */
} pl_plan_page_t;

/* An organization's billing: its plan and its subscription as last known. */
typedef struct {
    const char *org_id;
    pl_plan_t plan;
    const char *status;         /* none, trialing, active, past_due, canceled */
    int64_t current_period_end; /* 0: none */
    bool cancel_at_period_end;
    const char *stripe_customer_id; /* NULL until linked */
    const char *stripe_subscription_id;
} pl_billing_t;

/* An organization's usage against its plan; max PL_BILLING_UNLIMITED when
 * the plan has no limit. requests_per_minute is not a usage. */
typedef struct {
    int64_t used[PL_LIMIT_COUNT];
    int64_t max[PL_LIMIT_COUNT];
} pl_usage_t;

/* ---- limits: the call every guarded insert makes ---- */

/* Reserves add units of limit ("members", "projects", "api_keys",
 * "webhooks", "storage_bytes", "records") for org_id in the caller's write
 * transaction, before the insert it guards: when the organization's plan
 * has a limit and used + add would exceed it, records 402
 * plan_limit_reached on ctx (the body adds "limit", "used", "max") and
 * returns PL_ELIMIT; the caller then rolls back. Concurrent reservations for
 * one organization are serialised until their transactions end, so
 * together they never overshoot:
 *  - a limit counted from its own table (members: memberships plus pending,
 *    unexpired invitations; api_keys: live keys; any limit a module gave a
 *    counter with pl_billing_counter) takes the organization's lock
 *    (pl_orgs_lock: the org row FOR UPDATE on PostgreSQL, the write lock on
 *    SQLite) and counts; nothing to do and no lock when the plan has no
 *    limit. Call it before the transaction's first write that references the
 *    organization, so the lock is never taken after a foreign-key share lock
 *    on the same row (which could deadlock with another reserver).
 *  - any other limit is a stored counter (billing_usage), raised by add with
 *    one conditional upsert (a row lock; PostgreSQL re-checks the condition
 *    on the latest row version), also on unlimited plans, so a later
 *    downgrade knows the usage; the module lowers it with pl_billing_release
 *    in the transaction of the delete.
 * add is >= 0 (0 checks without reserving). PL_EINVAL (nothing recorded)
 * for an unknown limit: a programming error. */
int pl_billing_reserve(pl_db_t *db, pl_ctx_t *ctx, const char *org_id, const char *limit,
                       int64_t add);
/* The same with the product's own ceiling cap on a counted limit (e.g. 20
 * webhook endpoints whatever the plan; PL_BILLING_UNLIMITED: none): one
 * count under the lock serves both; over the cap it is 402
 * plan_limit_reached too, with "at most N per organization". */
int pl_billing_reserve_capped(pl_db_t *db, pl_ctx_t *ctx, const char *org_id, const char *limit,
                              int64_t add, int64_t cap);
/* Whether add more units of a counted limit ("members", "api_keys") fit the
 * organization's plan, read in the caller's transaction without recording
 * anything: for callers that go on without the insert when it does not fit
 * (pl_billing_reserve then still guards it). The caller holds the org's
 * lock (pl_orgs_lock) for the answer to stay true. PL_EINVAL for a limit
 * that is not counted. */
int pl_billing_has_room(pl_db_t *db, const char *org_id, const char *limit, int64_t add,
                        bool *room);

/* Lowers the stored counter of limit for org_id by n (not below 0), in the
 * caller's transaction of the delete. A no-op for counted limits. */
int pl_billing_release(pl_db_t *db, const char *org_id, const char *limit, int64_t n);

/* Counts limit for org_id at now into *out, in the caller's transaction. */
typedef int (*pl_billing_count_fn)(pl_db_t *db, const char *org_id, int64_t now, int64_t *out);

/* Makes limit counted by fn instead of a stored counter (for a module whose
 * rows are few and cheap to count, e.g. projects or webhook endpoints).
 * Call at start (a module's init), before any request. */
void pl_billing_counter(const char *limit, pl_billing_count_fn fn);

/* ---- plans (instance admins; the public list for everyone signed in) ---- */

/* True when key is a valid plan key: 1..64 of [a-z0-9._-], starting with a
 * letter. */
bool pl_plans_key_valid(const char *key);

/* Plans in key order after cursor (NULL: first); only public ones when
 * public_only. */
int pl_plans_list(pl_db_t *db, pl_ctx_t *ctx, bool public_only, const char *cursor, int limit,
                  pl_plan_page_t *out);

/* Creates or replaces plan->key (created_at stays); *created tells which.
 * Validates the key (422 "key"), name, limits (>= 0 or unlimited), features
 * (flag keys, 422 "features") and price ids (422 "stripe_price_ids"); 409
 * conflict when a price id belongs to another plan. Audited as plan.created
 * or plan.updated (instance chain). out gets the plan as stored. */
int pl_plans_put(pl_db_t *db, pl_ctx_t *ctx, const pl_plan_t *plan, pl_plan_t *out, bool *created);

/* Deletes a plan. 404 not_found; 409 conflict for the free plan, the
 * default plan, or a plan organizations are on. Audited as plan.deleted. */
int pl_plans_delete(pl_db_t *db, pl_ctx_t *ctx, const char *key);

/* ---- an organization's billing ---- */

/* The acting organization's billing (ctx->tenant). */
int pl_billing_get(pl_db_t *db, pl_ctx_t *ctx, pl_billing_t *out);

/* Puts organization org_ref (id or slug) on plan_key (manual assignment by
 * an instance admin; the subscription state stays). 404 not_found for the
 * organization, 422 (field "plan") for an unknown plan. Audited as
 * plan.assigned (instance chain) and subscription.updated (the org's
 * chain). out gets the organization's billing. */
int pl_billing_assign(pl_db_t *db, pl_ctx_t *ctx, const char *org_ref, const char *plan_key,
                      pl_billing_t *out);

/* The acting organization's usage and limits. */
int pl_billing_usage(pl_db_t *db, pl_ctx_t *ctx, pl_usage_t *out);

/* ---- Stripe ---- */

/* A Checkout session for the acting organization to subscribe to plan_key
 * (its first price), through Stripe's API; *url gets the session's URL (in
 * ctx->arena). 422 (field "plan") for an unknown plan or one without a
 * price, 503 unavailable when Stripe is not configured, 502 bad_gateway
 * when Stripe fails. Runs no transaction of its own around the call. */
int pl_billing_checkout(pl_db_t *db, pl_ctx_t *ctx, const char *plan_key, const char *success_url,
                        const char *cancel_url, const char **url);

/* A customer-portal session for the acting organization; 409 conflict when
 * it has no Stripe customer yet; otherwise as pl_billing_checkout. */
int pl_billing_portal(pl_db_t *db, pl_ctx_t *ctx, const char *return_url, const char **url);

/* Applies a Stripe webhook event: body (n bytes) signed in sig_header
 * (Stripe-Signature) with PLINTH_STRIPE_WEBHOOK_SECRET. 400 bad_request for
 * a missing, malformed, wrong or expired (300 s) signature, or an event that
 * is not a Stripe event; then nothing changes. An event id seen before is
 * acknowledged without any change (*replayed set), so is an event older
 * than the state it would replace. Changes run in their own transaction as
 * the system (the audit actor). */
int pl_billing_stripe_event(pl_db_t *db, pl_ctx_t *ctx, const char *body, size_t n,
                            const char *sig_header, bool *replayed);

/* Queues the billing sync now (the job that reconciles every linked
 * organization from Stripe's API), in its own transaction. */
int pl_billing_sync_now(pl_db_t *db, pl_ctx_t *ctx);

/* ---- the plan cache (billing_cache.c) ----
 * Every instance keeps the plans and, per organization, the key of its plan
 * in memory, valid while billing_version is unchanged: exact on this
 * instance (pl_billing_reload after each change), within a second on the
 * others (a poller thread). It serves the per-organization rate limit and
 * the flags a plan switches on. */

/* Rebuilds the plans from the database on db (outside any transaction of
 * the caller's) when billing_version moved. PL_OK or a db error. */
int pl_billing_reload(pl_db_t *db);

/* The rate limit of requests_per_minute: counts one request authenticated
 * into ctx->tenant's organization; 429 rate_limited with retry_after when
 * its plan's budget is spent. In the request's scope (a cache miss reads
 * the org's plan on db). The tenant hook of the module descriptor. */
int pl_billing_on_tenant(pl_db_t *db, pl_ctx_t *ctx);

/* True when org_id's plan lists flag key among its features (the flag
 * provider flags asks). May read the organization's plan on the thread's
 * connection on a cache miss. */
bool pl_billing_plan_has_feature(const char *key, const char *org_id);

/* The module's start and stop: loads the cache, starts its poller, and
 * registers the feature provider with flags. */
int pl_billing_start(void);
void pl_billing_stop(void);

/* ---- configuration (read-only after start) ---- */
extern char pl_billing_default_plan[PL_PLAN_KEY_MAX + 1];
extern const pl_mail_template_def_t pl_billing_templates[];

#endif
