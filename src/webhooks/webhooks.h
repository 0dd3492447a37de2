/* webhooks.h - signed outgoing webhooks (Standard Webhooks v1), for the
 * endpoints of an organization and for those of the instance.
 *
 * An endpoint has a URL, the events it subscribes to (action names,
 * "noun.*" patterns or "*"), and a signing secret ("whsec_" + base64 of 32
 * random bytes) that is shown once and stored sealed under its owner's data
 * key (platform/keys: the organization's, or the instance data key), bound
 * to the endpoint's owner and id, so rotating the master key leaves it
 * readable. Rotating the secret keeps the old one signing for
 * PL_WEBHOOK_ROTATION_OVERLAP_MS: both signatures are sent.
 *
 * Delivery: the module's event subscriber (pl_webhooks_on_event) runs inside
 * the transaction of every audited change; for each enabled endpoint whose
 * events match, it stores a delivery (the message body, fixed from then on)
 * and enqueues a "webhooks.deliver" job in that same transaction. The job
 * POSTs the body with the webhook-id (the delivery id, the same on every
 * retry), webhook-timestamp (of this attempt) and webhook-signature
 * headers through core/httpc (public-address guard, no redirects), reads
 * at most PL_WEBHOOK_RESPONSE_MAX bytes of the answer, records the attempt
 * and schedules the next one on the retry schedule. At most
 * pl_webhooks_concurrency attempts run at once per endpoint, across
 * instances: a job that finds its endpoint busy leaves the delivery to the
 * attempt in flight (which takes the endpoint's next due delivery when it
 * ends) and checks back when that attempt's lease runs out. A 410 answer
 * disables the endpoint ("gone"); PLINTH_WEBHOOK_DISABLE_AFTER consecutive
 * deliveries that ended failed disable it ("failing"). Either writes
 * webhook.disabled and emails the owners (instance admins for the
 * instance's endpoints). docs/webhooks.md has the details.
 *
 * Owners: org_id names an organization; NULL means the instance. Every
 * function that reads or writes endpoints binds it, so an endpoint or
 * delivery of another owner is "not found".
 *
 * Services take the acting context and record client errors on it
 * (pl_fail); they return PL_OK or a negative PL_E* code. Strings they return
 * live in ctx->arena. Thread-safe. */
#ifndef PL_WEBHOOKS_H
#define PL_WEBHOOKS_H

#include <jansson.h>

#include "core/ctx.h"
#include "core/module.h"
#include "core/rows.h"
#include "db/db.h"

/* Endpoints per owner. One place, so a plan's `webhooks` limit can replace
 * it: see webhooks_limit() in webhooks.c. */
#define PL_WEBHOOK_MAX_ENDPOINTS       20
#define PL_WEBHOOK_EVENTS_MAX          64   /* entries of an endpoint's events */
#define PL_WEBHOOK_DESCRIPTION_MAX     1024 /* bytes */
#define PL_WEBHOOK_SECRET_PREFIX       "whsec_"
#define PL_WEBHOOK_SECRET_BYTES        32
#define PL_WEBHOOK_SECRET_LEN          64 /* room for "whsec_" + base64 of 32 bytes + NUL */
#define PL_WEBHOOK_PAYLOAD_MAX         (256 * 1024) /* bytes of a message body */
#define PL_WEBHOOK_RESPONSE_MAX        4096         /* bytes of an answer read */
#define PL_WEBHOOK_ROTATION_OVERLAP_MS (24LL * 3600 * 1000)
#define PL_WEBHOOK_SCHEDULE_MAX        20 /* retries in PLINTH_WEBHOOK_RETRY_SCHEDULE */
#define PL_WEBHOOK_TEST_EVENT          "webhook.test"

/* An endpoint as the API shows it (never its secret). */
typedef struct {
    const char *id;
    const char *org_id; /* NULL: the instance's */
    const char *url;
    const char **events; /* nevents action names or patterns */
    int nevents;
    const char *description;
    bool enabled;
    const char *disabled_reason; /* NULL, "manual", "failing" or "gone" */
    int64_t created_at, updated_at;
} pl_webhook_t;

/* What a create or an update sets. For an update, NULL strings, nevents < 0
 * and enabled < 0 leave the field as it is; a create needs url and events. */
typedef struct {
    const char *url;
    const char *const *events;
    int nevents;
    const char *description;
    int enabled; /* -1: unchanged (create: true), 0, 1 */
} pl_webhook_input_t;

typedef struct {
    const char *id;
    const char *endpoint_id;
    const char *event_id;
    const char *event_type;
    const char *status; /* "pending", "succeeded", "failed" */
    int attempt_count;
    int64_t next_attempt_at;  /* 0: none */
    int last_response_status; /* 0: none */
    const char *last_error;   /* NULL: none */
    int64_t created_at;
    int64_t completed_at; /* 0: not completed */
    const char *payload;  /* the message body; only from pl_webhooks_delivery */
} pl_webhook_delivery_t;

typedef struct {
    int64_t at;
    int response_status; /* 0: no answer */
    int64_t duration_ms;
    const char *error; /* NULL when an answer arrived */
} pl_webhook_attempt_t;

/* ---- endpoints ---- */

/* Validates in (the URL guard, known events, sizes), stores a new endpoint
 * with a fresh secret, audits webhook.created. *out is the endpoint and
 * secret its "whsec_..." secret (shown this once). 422 with field errors;
 * 402 plan_limit_reached past PL_WEBHOOK_MAX_ENDPOINTS. */
int pl_webhooks_create(pl_db_t *db, pl_ctx_t *ctx, const char *org_id, const pl_webhook_input_t *in,
                       pl_webhook_t *out, char secret[PL_WEBHOOK_SECRET_LEN]);

/* Calls fn for up to limit endpoints of the owner whose id is after `after`
 * (NULL: from the first), in id (creation) order. */
int pl_webhooks_list(pl_db_t *db, pl_ctx_t *ctx, const char *org_id, const char *after, int limit,
                     void (*fn)(void *arg, const pl_webhook_t *w), void *arg);

/* 404 not_found for an endpoint of another owner or none. */
int pl_webhooks_get(pl_db_t *db, pl_ctx_t *ctx, const char *org_id, const char *id,
                    pl_webhook_t *out);

/* Changes what in sets, audits webhook.updated. Disabling sets the reason
 * "manual"; enabling clears it and the failure count. */
int pl_webhooks_update(pl_db_t *db, pl_ctx_t *ctx, const char *org_id, const char *id,
                       const pl_webhook_input_t *in, pl_webhook_t *out);

/* Deletes the endpoint with its deliveries, audits webhook.deleted. */
int pl_webhooks_delete(pl_db_t *db, pl_ctx_t *ctx, const char *org_id, const char *id);

/* A new secret; the previous one keeps signing for the overlap. Audits
 * webhook.secret_rotated (without either secret). */
int pl_webhooks_rotate_secret(pl_db_t *db, pl_ctx_t *ctx, const char *org_id, const char *id,
                              char secret[PL_WEBHOOK_SECRET_LEN]);

/* Queues a webhook.test message to this endpoint alone (also when it is
 * disabled); *delivery_id (PL_ID_LEN bytes) is its delivery. */
int pl_webhooks_send_test(pl_db_t *db, pl_ctx_t *ctx, const char *org_id, const char *id,
                          char *delivery_id);

/* ---- deliveries ---- */

/* Calls fn for up to limit deliveries of the endpoint, newest first, with an
 * id below `before` (NULL: from the newest), of status (NULL: any). 404
 * when the endpoint is not the owner's. */
int pl_webhooks_deliveries(pl_db_t *db, pl_ctx_t *ctx, const char *org_id, const char *endpoint_id,
                           const char *status, const char *before, int limit,
                           void (*fn)(void *arg, const pl_webhook_delivery_t *d), void *arg);

/* One delivery with its payload, and its attempts in order through fn. */
int pl_webhooks_delivery(pl_db_t *db, pl_ctx_t *ctx, const char *org_id, const char *endpoint_id,
                         const char *id, pl_webhook_delivery_t *out,
                         void (*fn)(void *arg, const pl_webhook_attempt_t *a), void *arg);

/* A new attempt of the delivery now (pending again until it ends). 409
 * conflict when the endpoint is disabled (test messages excepted). */
int pl_webhooks_retry(pl_db_t *db, pl_ctx_t *ctx, const char *org_id, const char *endpoint_id,
                      const char *id, pl_webhook_delivery_t *out);

/* ---- rules, pure and exposed for tests ---- */

/* True when pattern is "*", a known action, or "noun.*" for a noun some
 * known action has (platform/events' catalog). */
bool pl_webhooks_event_valid(const char *pattern);
/* True when pattern ("*", "noun.*" or an action) covers action. */
bool pl_webhooks_event_matches(const char *pattern, const char *action);

/* Parses a retry schedule: comma-separated durations, each digits then
 * "ms", "s", "m", "h" or "d" (at most 7 days), no spaces, 1 to
 * PL_WEBHOOK_SCHEDULE_MAX of them, into out (ms). Returns their count, or
 * -1 when s is malformed. */
int pl_webhooks_parse_schedule(const char *s, int64_t out[PL_WEBHOOK_SCHEDULE_MAX]);

/* The Standard Webhooks v1 signature "v1,<base64 HMAC-SHA256>" of
 * "{msg_id}.{timestamp}.{body}" under key (the decoded secret) into out
 * (at least 48 bytes). */
void pl_webhooks_sign(const unsigned char *key, size_t keylen, const char *msg_id,
                      int64_t timestamp, const char *body, size_t body_len, char *out);

/* A new secret "whsec_" + base64(32 random bytes) into out, and its key
 * bytes into key. */
void pl_webhooks_secret_new(char out[PL_WEBHOOK_SECRET_LEN],
                            unsigned char key[PL_WEBHOOK_SECRET_BYTES]);

/* ---- what the module descriptor (webhooks_routes.c) wires up ---- */

/* The event subscriber: queues deliveries in the change's transaction. */
int pl_webhooks_on_event(pl_db_t *db, pl_ctx_t *ctx, const struct pl_event *ev);
/* Checks the options, registers the metrics and the "webhooks" source of
 * `plinth keys verify`. */
int pl_webhooks_init(void);
extern const pl_job_def_t pl_webhooks_jobs[];
extern const pl_schedule_def_t pl_webhooks_schedules[];
extern const pl_mail_template_def_t pl_webhooks_templates[];
extern const pl_option_t pl_webhooks_options[];
extern const char *const pl_webhooks_actions[];

/* ---- SQL (webhooks_store.c): for the files in src/webhooks, which define
 * PL_WEBHOOKS_INTERNAL. Each runs in the caller's transaction, with the
 * owner's tenant context set. Strings go into the arena. ---- */
#ifdef PL_WEBHOOKS_INTERNAL

/* An endpoint row, with what the API never shows. */
typedef struct {
    pl_webhook_t w;
    const char *events_json;
    const char *secret_sealed;
    const char *previous_sealed; /* NULL: none */
    int64_t previous_expires_at; /* 0: none */
    int failed_deliveries;
    int64_t pump_until; /* 0: no pump queued or running */
} pl_webhook_row_t;

/* A delivery as the job sees it. */
typedef struct {
    pl_webhook_delivery_t d;
    const char *org_id;
    bool is_test;
    int64_t lease_until;     /* 0: none */
    const char *lease_owner; /* the job holding the lease, or NULL */
} pl_webhook_job_row_t;

/* Serialises the endpoint writers of one owner until the transaction ends
 * (PostgreSQL advisory lock; SQLite writers are serial already): the limit
 * check of a create, and the lock order of updates and deletes. */
int pl_webhooks_store_lock_owner(pl_db_t *db, const char *org_id);
int pl_webhooks_store_count(pl_db_t *db, const char *org_id, int64_t *out);
int pl_webhooks_store_insert(pl_db_t *db, const pl_webhook_row_t *r);
/* Row locks an endpoint read may take (PostgreSQL; SQLite writers are
 * serial): none, FOR NO KEY UPDATE (changes, the delivery job), FOR UPDATE
 * (waits for the transactions that key-share it: those queueing
 * deliveries). */
enum { PL_WEBHOOK_NO_LOCK, PL_WEBHOOK_LOCK, PL_WEBHOOK_LOCK_ALL };
int pl_webhooks_store_get(pl_db_t *db, pl_arena_t *a, const char *org_id, const char *id, int lock,
                          pl_webhook_row_t *out);
int pl_webhooks_store_list(pl_db_t *db, pl_arena_t *a, const char *org_id, const char *after,
                           int limit, void (*fn)(void *arg, const pl_webhook_row_t *r), void *arg);
/* Writes url, events, description, enabled, disabled_reason and
 * failed_deliveries of r. */
int pl_webhooks_store_update(pl_db_t *db, const pl_webhook_row_t *r, int64_t now);
int pl_webhooks_store_delete(pl_db_t *db, const char *org_id, const char *id);
int pl_webhooks_store_set_secret(pl_db_t *db, const char *org_id, const char *id,
                                 const char *sealed, const char *previous_sealed,
                                 int64_t previous_expires_at, int64_t now);
/* The sealed secrets of every endpoint of the owner, by id, into out
 * (pl_webhook_sealed_t rows): for `plinth keys verify`. */
typedef struct {
    const char *id;
    const char *secret_sealed;
    const char *previous_sealed; /* NULL: none */
} pl_webhook_sealed_t;
int pl_webhooks_store_sealed(pl_db_t *db, pl_arena_t *a, const char *org_id, pl_rows_t *out);
int pl_webhooks_store_set_failures(pl_db_t *db, const char *org_id, const char *id, int failures);
/* Claims the endpoint's pump: sets pump_until to until when it is unset or
 * before now, and returns 1 then (the caller queues a pump job), else 0. On
 * PostgreSQL an endpoint row locked by another transaction is skipped (0):
 * that transaction is a pump, or kicks one itself. */
int pl_webhooks_store_kick(pl_db_t *db, const char *org_id, const char *id, int64_t now,
                           int64_t until);
/* Sets pump_until (0: none) of an endpoint the caller has locked. */
int pl_webhooks_store_set_pump(pl_db_t *db, const char *org_id, const char *id, int64_t until);
/* Fails the endpoint's pending deliveries that are not in flight (test
 * messages excepted) with last_error error. */
int pl_webhooks_store_abandon_pending(pl_db_t *db, const char *org_id, const char *endpoint_id,
                                      const char *error, int64_t now);

/* The enabled endpoints of the owner (id, events), locked against deletion
 * until the transaction ends (FOR KEY SHARE on PostgreSQL). */
int pl_webhooks_store_subscribers(pl_db_t *db, const char *org_id,
                                  void (*fn)(void *arg, const char *id, const char *events_json),
                                  void *arg);

int pl_webhooks_store_delivery_insert(pl_db_t *db, const char *id, const char *org_id,
                                      const char *endpoint_id, const char *event_id,
                                      const char *event_type, const char *payload, bool is_test,
                                      int64_t now);
int pl_webhooks_store_delivery_get(pl_db_t *db, pl_arena_t *a, const char *org_id,
                                   const char *endpoint_id, const char *id, bool with_payload,
                                   pl_webhook_job_row_t *out);
int pl_webhooks_store_delivery_list(pl_db_t *db, pl_arena_t *a, const char *org_id,
                                    const char *endpoint_id, const char *status, const char *before,
                                    int limit,
                                    void (*fn)(void *arg, const pl_webhook_delivery_t *d),
                                    void *arg);
int pl_webhooks_store_attempts(pl_db_t *db, pl_arena_t *a, const char *org_id,
                               const char *delivery_id,
                               void (*fn)(void *arg, const pl_webhook_attempt_t *t), void *arg);
/* Makes the delivery pending and due at `at`. */
int pl_webhooks_store_delivery_requeue(pl_db_t *db, const char *org_id, const char *id, int64_t at);
/* Leases a delivery to job owner until lease_until, and reads what to send
 * (id, attempt_count, is_test, payload of *out; strings in a). */
int pl_webhooks_store_delivery_lease(pl_db_t *db, pl_arena_t *a, const char *org_id, const char *id,
                                     int64_t lease_until, const char *owner,
                                     pl_webhook_job_row_t *out);
/* How many deliveries of the endpoint hold a lease past now, leases of
 * job `owner` not counted. */
int pl_webhooks_store_leases(pl_db_t *db, const char *org_id, const char *endpoint_id, int64_t now,
                             const char *owner, int64_t *count);
/* The endpoint's next due delivery (pending, due by now, not leased, or
 * leased by job `owner`) other than `except` (may be NULL), oldest first;
 * test messages only when tests_only. PL_ENOTFOUND when none. */
int pl_webhooks_store_next_due(pl_db_t *db, pl_arena_t *a, const char *org_id,
                               const char *endpoint_id, bool tests_only, int64_t now,
                               const char *owner, const char *except, const char **id);
/* When the endpoint's first pending delivery that is not in flight falls
 * due (test messages only when tests_only); PL_ENOTFOUND when none. */
int pl_webhooks_store_next_pending_at(pl_db_t *db, const char *org_id, const char *endpoint_id,
                                      bool tests_only, int64_t now, int64_t *at);
/* Records attempt n and the delivery's state after it, if the caller's
 * lease still holds (PL_ENOTFOUND otherwise). status is the delivery's new
 * status; next_at 0 and completed_at 0 store NULL. */
int pl_webhooks_store_attempt_record(pl_db_t *db, const char *org_id, const char *id,
                                     int64_t lease_until, int n, int64_t at, int response_status,
                                     int64_t duration_ms, const char *error, const char *status,
                                     int64_t next_at, int64_t completed_at);

/* Recipients of the "endpoint disabled" email: the owners of org_id, or the
 * instance admins when org_id is NULL; fn gets each email and name. */
int pl_webhooks_store_recipients(pl_db_t *db, const char *org_id,
                                 void (*fn)(void *arg, const char *email, const char *name),
                                 void *arg);
/* The organization's name ("" when gone). */
int pl_webhooks_store_org_name(pl_db_t *db, pl_arena_t *a, const char *org_id, const char **name);
/* Organizations after `after` (NULL: from the first), up to limit, for the
 * retention job. */
int pl_webhooks_store_orgs(pl_db_t *db, pl_arena_t *a, const char *after, int limit,
                           const char **ids, int *n);
/* Deletes the owner's completed deliveries created before `before`. */
int pl_webhooks_store_purge(pl_db_t *db, const char *org_id, int64_t before);

#endif /* PL_WEBHOOKS_INTERNAL */

#endif
