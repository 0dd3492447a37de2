/* webhooks.c - endpoint rules and transactions, the event subscriber that
 * queues deliveries, and the delivery job (signing, sending, retries,
 * per-endpoint concurrency, disabling). docs/webhooks.md tells the design. */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "billing/billing.h"
#include "core/crypto.h"
#include "core/httpc.h"
#include "core/metrics.h"
#include "platform/stats/stats.h"
#include "platform/audit/audit.h"
#include "platform/events/events.h"
#include "platform/jobs/jobs.h"
#include "platform/keys/keys.h"
#include "platform/mail/mail.h"
#define PL_WEBHOOKS_INTERNAL
#include "webhooks/webhooks.h"

#define DELIVER_JOB "webhooks.deliver"
#define PURGE_JOB   "webhooks.purge"
/* A lease outlives its attempt's timeout by this, and ends before the job
 * queue's lease of the job does (PLINTH_WEBHOOK_TIMEOUT is at most 25 s). */
#define LEASE_MARGIN_MS   4000
#define TIMEOUT_MAX_S     25
#define LOOP_BUDGET_US    (5LL * 1000000) /* a job keeps taking due deliveries this long */
#define PUMP_GRACE_MS     60000           /* a queued or running pump looks again within this */
#define ORGS_PAGE         200             /* organizations read at once when walking them all */
#define TEMPLATE_DISABLED "webhook_disabled"

/* ---- settings ---- */

static int timeout_s = 10;                                  /* PLINTH_WEBHOOK_TIMEOUT */
static char schedule_text[256] = "5s,5m,30m,2h,5h,10h,10h"; /* PLINTH_WEBHOOK_RETRY_SCHEDULE */
static int disable_after = 20;                              /* PLINTH_WEBHOOK_DISABLE_AFTER */
static int concurrency = 1;                                 /* PLINTH_WEBHOOK_CONCURRENCY */
static int retention_days = 30;                             /* PLINTH_WEBHOOK_RETENTION_DAYS */
static int64_t schedule[PL_WEBHOOK_SCHEDULE_MAX];
static int nschedule;

static int kick(pl_db_t *db, const char *org_id, const char *endpoint_id);

/* The most endpoints an owner may have, whatever its plan: an
 * organization's plan may set a lower `webhooks` limit. */
static int64_t webhooks_limit(const char *org_id)
{
    PL_UNUSED(org_id);
    return PL_WEBHOOK_MAX_ENDPOINTS;
}

/* ---- metrics ---- */

static pl_counter_t outcome_success = {"plinth_webhook_deliveries_total",
                                       "Webhook delivery attempts by outcome.",
                                       "outcome=\"success\"", 0, 0};
static pl_counter_t outcome_retry = {"plinth_webhook_deliveries_total",
                                     "Webhook delivery attempts by outcome.", "outcome=\"retry\"",
                                     0, 0};
static pl_counter_t outcome_failed = {"plinth_webhook_deliveries_total",
                                      "Webhook delivery attempts by outcome.", "outcome=\"failed\"",
                                      0, 0};
static const double duration_bounds[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                         1,     2.5,  5,     10,   30,  60};
static pl_histogram_t duration = {
    .name = "plinth_webhook_delivery_duration_seconds",
    .help = "Duration of webhook delivery attempts (DNS, connect, TLS, request, answer).",
    .labels = "",
    .bounds = duration_bounds,
    .nbounds = PL_ARRAY_LEN(duration_bounds),
};

/* ---- pure rules ---- */

bool pl_webhooks_event_valid(const char *p)
{
    size_t n = p ? strlen(p) : 0;
    if (n == 1 && p[0] == '*')
        return true;
    if (n > 2 && p[n - 1] == '*' && p[n - 2] == '.')
        return pl_events_noun_known(p, n - 2);
    return pl_events_action_known(p);
}

bool pl_webhooks_event_matches(const char *pattern, const char *action)
{
    size_t n = strlen(pattern);
    if (n == 1 && pattern[0] == '*')
        return true;
    if (n > 2 && pattern[n - 1] == '*' && pattern[n - 2] == '.')
        return !strncmp(pattern, action, n - 1); /* "member." */
    return !strcmp(pattern, action);
}

int pl_webhooks_parse_schedule(const char *s, int64_t out[PL_WEBHOOK_SCHEDULE_MAX])
{
    int n = 0;
    const char *p = s;
    if (!s || !*s)
        return -1;
    for (;;) {
        int64_t v = 0;
        int digits = 0;
        while (*p >= '0' && *p <= '9') {
            if (++digits > 9)
                return -1;
            v = v * 10 + (*p++ - '0');
        }
        if (!digits)
            return -1;
        int64_t unit;
        if (p[0] == 'm' && p[1] == 's')
            unit = 1, p += 2;
        else if (*p == 's')
            unit = 1000, p++;
        else if (*p == 'm')
            unit = 60 * 1000, p++;
        else if (*p == 'h')
            unit = 3600 * 1000, p++;
        else if (*p == 'd')
            unit = 24 * 3600 * 1000, p++;
        else
            return -1;
        if (n == PL_WEBHOOK_SCHEDULE_MAX || v * unit > 7LL * 24 * 3600 * 1000)
            return -1;
        out[n++] = v * unit;
        if (!*p)
            return n;
        if (*p++ != ',')
            return -1;
    }
}

void pl_webhooks_sign(const unsigned char *key, size_t keylen, const char *msg_id,
                      int64_t timestamp, const char *body, size_t body_len, char *out)
{
    crypto_auth_hmacsha256_state st;
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    char ts[24];
    int tn = snprintf(ts, sizeof(ts), ".%lld.", (long long)timestamp);
    crypto_auth_hmacsha256_init(&st, key, keylen);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)msg_id, strlen(msg_id));
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)ts, (unsigned long long)tn);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)body, body_len);
    crypto_auth_hmacsha256_final(&st, mac);
    memcpy(out, "v1,", 3);
    sodium_bin2base64(out + 3, 48 - 3, mac, sizeof(mac), sodium_base64_VARIANT_ORIGINAL);
    pl_memzero(&st, sizeof(st));
}

void pl_webhooks_secret_new(char out[PL_WEBHOOK_SECRET_LEN],
                            unsigned char key[PL_WEBHOOK_SECRET_BYTES])
{
    pl_random_bytes(key, PL_WEBHOOK_SECRET_BYTES);
    size_t p = strlen(PL_WEBHOOK_SECRET_PREFIX);
    memcpy(out, PL_WEBHOOK_SECRET_PREFIX, p);
    sodium_bin2base64(out + p, PL_WEBHOOK_SECRET_LEN - p, key, PL_WEBHOOK_SECRET_BYTES,
                      sodium_base64_VARIANT_ORIGINAL);
}

/* The associated data a secret is sealed with: its owner and endpoint. The
 * previous secret keeps the box it was sealed in, so it uses the same. */
static const char *secret_ad(pl_arena_t *a, const char *org_id, const char *id)
{
    return pl_arena_printf(a, "webhook:%s:%s", org_id ? org_id : "instance", id);
}

/* scheme://host[:port] of a URL: what audit data and emails show of it (the
 * path and query may carry a receiver's token). */
static const char *url_origin(pl_arena_t *a, const char *url)
{
    const char *p = strstr(url, "://");
    if (!p)
        return "";
    p += 3;
    size_t n = strcspn(p, "/?#");
    return pl_arena_strndup(a, url, (size_t)(p - url) + n);
}

/* ---- endpoints: the service ---- */

static int not_found(pl_ctx_t *ctx)
{
    return pl_fail(ctx, 404, "not_found", "No such webhook endpoint.");
}

static void row_events(pl_arena_t *a, pl_webhook_row_t *r)
{
    json_t *arr = json_loads(r->events_json ? r->events_json : "[]", 0, NULL);
    size_t n = json_is_array(arr) ? json_array_size(arr) : 0;
    r->w.events = pl_arena_alloc(a, (n + 1) * sizeof(char *));
    r->w.nevents = 0;
    for (size_t i = 0; i < n; i++) {
        const char *s = json_string_value(json_array_get(arr, i));
        if (s)
            r->w.events[r->w.nevents++] = pl_arena_strdup(a, s);
    }
    json_decref(arr);
}

static void check_url(pl_ctx_t *ctx, const char *url)
{
    const char *code = NULL;
    /* a name that does not resolve now is accepted: every attempt checks
     * its addresses again, and answers forbidden_address if they are not
     * public */
    if (pl_httpc_check_url(url, true, &code) == PL_OK || !strcmp(code, "unresolvable"))
        return;
    if (!strcmp(code, "forbidden_address"))
        pl_field_error(ctx, "url", "forbidden_address",
                       "The host is, or resolves to, an address that is not public.");
    else
        pl_field_error(ctx, "url", "invalid",
                       "Use an http:// or https:// URL of at most 2048 bytes, without user "
                       "info or fragment.");
}

/* Validates the events and returns them as a JSON array text (duplicates
 * dropped), or NULL after recording a field error. */
static const char *events_json(pl_ctx_t *ctx, const char *const *ev, int n)
{
    if (n < 1) {
        pl_field_error(ctx, "events", "required", "Subscribe to at least one event.");
        return NULL;
    }
    if (n > PL_WEBHOOK_EVENTS_MAX) {
        pl_field_error(ctx, "events", "too_long",
                       pl_arena_printf(ctx->arena, "At most %d entries.", PL_WEBHOOK_EVENTS_MAX));
        return NULL;
    }
    json_t *arr = json_array();
    for (int i = 0; i < n; i++) {
        if (!pl_webhooks_event_valid(ev[i])) {
            pl_field_error(ctx, "events", "unknown_event",
                           pl_arena_printf(ctx->arena, "Unknown event: %s.", ev[i]));
            json_decref(arr);
            return NULL;
        }
        bool seen = false;
        for (size_t j = 0; j < json_array_size(arr); j++)
            if (!strcmp(json_string_value(json_array_get(arr, j)), ev[i]))
                seen = true;
        if (!seen)
            json_array_append_new(arr, json_string(ev[i]));
    }
    char *text = json_dumps(arr, JSON_COMPACT);
    json_decref(arr);
    const char *out = pl_arena_strdup(ctx->arena, text);
    free(text);
    return out;
}

static int validate(pl_ctx_t *ctx, const pl_webhook_input_t *in, const char **events)
{
    *events = NULL;
    if (in->url)
        check_url(ctx, in->url);
    if (in->nevents >= 0)
        *events = events_json(ctx, in->events, in->nevents);
    if (in->description && strlen(in->description) > PL_WEBHOOK_DESCRIPTION_MAX)
        pl_field_error(ctx, "description", "too_long", "At most 1024 bytes.");
    return pl_validated(ctx);
}

/* webhook.* in the owner's chain, in the caller's transaction. */
static int audit(pl_db_t *db, pl_ctx_t *ctx, const pl_webhook_row_t *r, const char *action,
                 json_t *data)
{
    return pl_audit_append(db, ctx, r->w.org_id, action, "webhook", r->w.id, data);
}

static json_t *events_array(const pl_webhook_t *w)
{
    json_t *arr = json_array();
    for (int i = 0; i < w->nevents; i++)
        json_array_append_new(arr, json_string(w->events[i]));
    return arr;
}

int pl_webhooks_create(pl_db_t *db, pl_ctx_t *ctx, const char *org_id, const pl_webhook_input_t *in,
                       pl_webhook_t *out, char secret[PL_WEBHOOK_SECRET_LEN])
{
    const char *events;
    if (!in->url)
        pl_field_error(ctx, "url", "required", "This field is required.");
    if (in->nevents < 0)
        pl_field_error(ctx, "events", "required", "This field is required.");
    if (validate(ctx, in, &events))
        return PL_EINVAL;
    char id[PL_ID_LEN];
    pl_uuid7(id);
    unsigned char key[PL_WEBHOOK_SECRET_BYTES];
    pl_webhooks_secret_new(secret, key);
    pl_webhook_row_t r = {
        .w = {.id = pl_arena_strdup(ctx->arena, id),
              .org_id = org_id,
              .url = in->url,
              .description = in->description ? in->description : "",
              .enabled = in->enabled != 0,
              .disabled_reason = in->enabled == 0 ? "manual" : NULL,
              .created_at = pl_now_ms()},
        .events_json = events,
    };
    r.w.updated_at = r.w.created_at;
    row_events(ctx->arena, &r);

    int rc = pl_db_begin(db);
    if (rc) {
        pl_memzero(key, sizeof(key));
        pl_memzero(secret, PL_WEBHOOK_SECRET_LEN);
        return rc;
    }
    int64_t used = 0, max = webhooks_limit(org_id);
    /* an organization's: its plan's limit or the fixed cap, whichever is
     * lower, counted once (count_endpoints) under the org's lock, taken
     * before any write; the instance's: the cap under the owner's lock */
    if (org_id)
        rc = pl_billing_reserve_capped(db, ctx, org_id, "webhooks", 1, max);
    if (!rc && !org_id)
        rc = pl_webhooks_store_lock_owner(db, org_id);
    if (!rc && !org_id)
        rc = pl_webhooks_store_count(db, org_id, &used);
    if (!rc && !org_id && used >= max) {
        ctx->err.extra_json =
            pl_arena_printf(ctx->arena, "\"limit\":\"webhooks\",\"used\":%lld,\"max\":%lld",
                            (long long)used, (long long)max);
        rc =
            pl_fail(ctx, 402, "plan_limit_reached",
                    pl_arena_printf(ctx->arena, "At most %lld webhook endpoints.", (long long)max));
    }
    /* audited first, so the new endpoint is not sent its own creation */
    json_t *d = json_pack("{s:s, s:o, s:b}", "url", url_origin(ctx->arena, r.w.url), "events",
                          events_array(&r.w), "enabled", r.w.enabled);
    if (!rc)
        rc = audit(db, ctx, &r, "webhook.created", d);
    json_decref(d);
    /* under the owner's data key, made in this transaction if it is the
     * owner's first sealed value */
    char *sealed = NULL;
    if (!rc)
        rc = pl_keys_seal(db, ctx->arena, org_id, key, sizeof(key),
                          secret_ad(ctx->arena, org_id, id), &sealed);
    pl_memzero(key, sizeof(key));
    r.secret_sealed = sealed;
    if (!rc)
        rc = pl_webhooks_store_insert(db, &r);
    if ((rc = pl_db_finish(db, rc))) {
        pl_memzero(secret, PL_WEBHOOK_SECRET_LEN);
        return rc;
    }
    *out = r.w;
    return PL_OK;
}

typedef struct {
    pl_ctx_t *ctx;
    void (*fn)(void *arg, const pl_webhook_t *w);
    void *arg;
} list_t;

static void list_row(void *arg, const pl_webhook_row_t *r)
{
    list_t *l = arg;
    pl_webhook_row_t copy = *r;
    row_events(l->ctx->arena, &copy);
    l->fn(l->arg, &copy.w);
}

int pl_webhooks_list(pl_db_t *db, pl_ctx_t *ctx, const char *org_id, const char *after, int limit,
                     void (*fn)(void *arg, const pl_webhook_t *w), void *arg)
{
    list_t l = {ctx, fn, arg};
    return pl_webhooks_store_list(db, ctx->arena, org_id, after, limit, list_row, &l);
}

static int get_row(pl_db_t *db, pl_ctx_t *ctx, const char *org_id, const char *id, int lock,
                   pl_webhook_row_t *r)
{
    if (!id || !pl_uuid_valid(id))
        return not_found(ctx);
    int rc = pl_webhooks_store_get(db, ctx->arena, org_id, id, lock, r);
    if (rc == PL_ENOTFOUND)
        return not_found(ctx);
    if (!rc)
        row_events(ctx->arena, r);
    return rc;
}

int pl_webhooks_get(pl_db_t *db, pl_ctx_t *ctx, const char *org_id, const char *id,
                    pl_webhook_t *out)
{
    pl_webhook_row_t r;
    int rc = get_row(db, ctx, org_id, id, PL_WEBHOOK_NO_LOCK, &r);
    if (!rc)
        *out = r.w;
    return rc;
}

int pl_webhooks_update(pl_db_t *db, pl_ctx_t *ctx, const char *org_id, const char *id,
                       const pl_webhook_input_t *in, pl_webhook_t *out)
{
    const char *events;
    if (validate(ctx, in, &events))
        return PL_EINVAL;
    int rc = pl_db_begin(db);
    if (rc)
        return rc;
    pl_webhook_row_t r;
    rc = pl_webhooks_store_lock_owner(db, org_id); /* one endpoint writer per owner */
    if (!rc)
        rc = get_row(db, ctx, org_id, id, PL_WEBHOOK_LOCK, &r);
    json_t *changed = json_array();
    if (!rc && in->url && strcmp(in->url, r.w.url)) {
        r.w.url = in->url;
        json_array_append_new(changed, json_string("url"));
    }
    if (!rc && events && strcmp(events, r.events_json)) {
        r.events_json = events;
        row_events(ctx->arena, &r);
        json_array_append_new(changed, json_string("events"));
    }
    if (!rc && in->description && strcmp(in->description, r.w.description)) {
        r.w.description = in->description;
        json_array_append_new(changed, json_string("description"));
    }
    if (!rc && in->enabled >= 0 && (in->enabled != 0) != r.w.enabled) {
        r.w.enabled = in->enabled != 0;
        r.w.disabled_reason = r.w.enabled ? NULL : "manual";
        r.failed_deliveries = 0;
        json_array_append_new(changed, json_string("enabled"));
    }
    if (!rc && json_array_size(changed)) {
        int64_t now = pl_now_ms();
        rc = pl_webhooks_store_update(db, &r, now);
        r.w.updated_at = now;
        json_t *d =
            json_pack("{s:s, s:o, s:b, s:O}", "url", url_origin(ctx->arena, r.w.url), "events",
                      events_array(&r.w), "enabled", r.w.enabled, "changed", changed);
        if (!rc)
            rc = audit(db, ctx, &r, "webhook.updated", d);
        json_decref(d);
        /* disabled: what waits for it fails now; in flight ends on its own */
        if (!rc && !r.w.enabled)
            rc = pl_webhooks_store_abandon_pending(db, org_id, id, "endpoint_disabled", now);
    }
    json_decref(changed);
    if (!rc) /* it held the endpoint's row: a pump may have skipped it */
        rc = kick(db, org_id, id);
    if ((rc = pl_db_finish(db, rc)))
        return rc;
    *out = r.w;
    return PL_OK;
}

int pl_webhooks_delete(pl_db_t *db, pl_ctx_t *ctx, const char *org_id, const char *id)
{
    int rc = pl_db_begin(db);
    if (rc)
        return rc;
    pl_webhook_row_t r;
    rc = pl_webhooks_store_lock_owner(db, org_id);
    /* The row is held (FOR NO KEY UPDATE) before the audit event key-shares
     * it and the delete locks it whole: a pump that is ending waits for
     * key-sharers, so holding only the key share while waiting for the pump
     * would deadlock. The audit comes before the delete: changes lock their
     * chain head first and key-share the endpoints after. */
    if (!rc)
        rc = get_row(db, ctx, org_id, id, PL_WEBHOOK_LOCK, &r);
    json_t *d = json_pack("{s:s}", "url", rc ? "" : url_origin(ctx->arena, r.w.url));
    if (!rc)
        rc = audit(db, ctx, &r, "webhook.deleted", d);
    json_decref(d);
    if (!rc)
        rc = pl_webhooks_store_delete(db, org_id, id); /* its deliveries go with it */
    if (rc == PL_ENOTFOUND && !ctx->err.status)
        rc = not_found(ctx);
    return pl_db_finish(db, rc);
}

int pl_webhooks_rotate_secret(pl_db_t *db, pl_ctx_t *ctx, const char *org_id, const char *id,
                              char secret[PL_WEBHOOK_SECRET_LEN])
{
    int rc = pl_db_begin(db);
    if (rc)
        return rc;
    pl_webhook_row_t r;
    rc = pl_webhooks_store_lock_owner(db, org_id);
    if (!rc)
        rc = get_row(db, ctx, org_id, id, PL_WEBHOOK_LOCK, &r);
    if (!rc) {
        unsigned char key[PL_WEBHOOK_SECRET_BYTES];
        char *sealed = NULL;
        pl_webhooks_secret_new(secret, key);
        rc = pl_keys_seal(db, ctx->arena, org_id, key, sizeof(key),
                          secret_ad(ctx->arena, org_id, id), &sealed);
        pl_memzero(key, sizeof(key));
        int64_t now = pl_now_ms();
        /* the secret in use keeps signing through the overlap, in the box
         * it has; one rotated out earlier (a second rotation within it)
         * stops now */
        if (!rc)
            rc = pl_webhooks_store_set_secret(db, org_id, id, sealed, r.secret_sealed,
                                              now + PL_WEBHOOK_ROTATION_OVERLAP_MS, now);
    }
    if (!rc)
        rc = audit(db, ctx, &r, "webhook.secret_rotated", NULL);
    if (!rc) /* it held the endpoint's row: a pump may have skipped it */
        rc = kick(db, org_id, id);
    if ((rc = pl_db_finish(db, rc)))
        pl_memzero(secret, PL_WEBHOOK_SECRET_LEN);
    return rc;
}

/* ---- queueing deliveries ---- */

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

/* The message body: {"type","timestamp","data"} where data is the event as
 * exported without ip, user_agent, prev_hash and hash. A body over
 * PL_WEBHOOK_PAYLOAD_MAX sends the event without its own data, marked
 * "data_truncated". malloc'd; NULL when it cannot be built. */
static char *message_body(const char *type, int64_t at, json_t *event)
{
    char ts[32];
    pl_time_format(at, ts);
    json_t *body = json_pack("{s:s, s:s, s:O}", "type", type, "timestamp", ts, "data", event);
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    if (text && strlen(text) > PL_WEBHOOK_PAYLOAD_MAX) {
        free(text);
        json_t *ev = json_object_get(body, "data");
        json_object_set_new(ev, "data", json_object());
        json_object_set_new(ev, "data_truncated", json_true());
        text = json_dumps(body, JSON_COMPACT);
    }
    json_decref(body);
    return text;
}

static char *event_body(const pl_event_t *ev)
{
    char created[32];
    pl_time_format(ev->created_at, created);
    json_t *e = json_object();
    json_object_set_new(e, "id", json_string(ev->id));
    json_object_set_new(e, "seq", json_integer(ev->seq));
    json_object_set_new(e, "org_id", str_or_null(ev->org_id));
    json_object_set_new(e, "action", json_string(ev->action));
    json_object_set_new(
        e, "actor",
        json_pack("{s:s, s:o}", "type", ev->actor_type, "id", str_or_null(ev->actor_id)));
    json_object_set_new(e, "target",
                        ev->target_type ? json_pack("{s:s, s:o}", "type", ev->target_type, "id",
                                                    str_or_null(ev->target_id))
                                        : json_null());
    json_object_set_new(e, "request_id", str_or_null(ev->request_id));
    json_object_set_new(e, "data", ev->data ? json_incref(ev->data) : json_object());
    json_object_set_new(e, "created_at", json_string(created));
    char *text = message_body(ev->action, ev->created_at, e);
    json_decref(e);
    return text;
}

static int enqueue_pump(pl_db_t *db, const char *org_id, const char *endpoint_id, int64_t at)
{
    json_t *p = json_pack("{s:s, s:o}", "endpoint_id", endpoint_id, "org_id", str_or_null(org_id));
    pl_job_opts_t opts = {.run_at = at};
    int rc = pl_jobs_enqueue(db, DELIVER_JOB, p, &opts);
    json_decref(p);
    return rc;
}

/* Makes sure a pump looks at the endpoint's due deliveries after the
 * caller's transaction: queues a pump job unless one is queued or running
 * (pump_until ahead). */
static int kick(pl_db_t *db, const char *org_id, const char *endpoint_id)
{
    int64_t now = pl_now_ms();
    int rc = pl_webhooks_store_kick(db, org_id, endpoint_id, now, now + PUMP_GRACE_MS);
    return rc == 1 ? enqueue_pump(db, org_id, endpoint_id, 0) : rc;
}

/* Stores one delivery (due now), in the caller's transaction; the caller
 * kicks the endpoint's pump. */
static int queue_delivery(pl_db_t *db, const char *org_id, const char *endpoint_id,
                          const char *event_id, const char *type, const char *body, bool is_test,
                          char *id_out)
{
    char id[PL_ID_LEN];
    pl_uuid7(id);
    int rc = pl_webhooks_store_delivery_insert(db, id, org_id, endpoint_id, event_id, type, body,
                                               is_test, pl_now_ms());
    if (!rc && id_out)
        memcpy(id_out, id, PL_ID_LEN);
    return rc;
}

typedef struct {
    const pl_event_t *ev;
    char (*ids)[PL_ID_LEN];
    int n, cap;
} matches_t;

static void collect(void *arg, const char *id, const char *events)
{
    matches_t *m = arg;
    json_t *arr = json_loads(events, 0, NULL);
    bool match = false;
    for (size_t i = 0; !match && i < json_array_size(arr); i++) {
        const char *p = json_string_value(json_array_get(arr, i));
        match = p && pl_webhooks_event_matches(p, m->ev->action);
    }
    json_decref(arr);
    if (!match)
        return;
    if (m->n == m->cap) {
        m->cap = m->cap ? 2 * m->cap : 8;
        m->ids = pl_xrealloc(m->ids, (size_t)m->cap * sizeof(*m->ids));
    }
    snprintf(m->ids[m->n++], PL_ID_LEN, "%s", id);
}

/* Queues ev for every matching enabled endpoint of one owner. *body is
 * built on the first match and reused. */
static int fan_out(pl_db_t *db, const pl_event_t *ev, const char *owner, char **body)
{
    matches_t m = {.ev = ev};
    int rc = pl_webhooks_store_subscribers(db, owner, collect, &m);
    for (int i = 0; !rc && i < m.n; i++) {
        if (!*body && !(*body = event_body(ev)))
            rc = PL_EINTERNAL;
        if (!rc)
            rc = queue_delivery(db, owner, m.ids[i], ev->id, ev->action, *body, false, NULL);
        if (!rc)
            rc = kick(db, owner, m.ids[i]);
    }
    free(m.ids);
    return rc;
}

int pl_webhooks_on_event(pl_db_t *db, pl_ctx_t *ctx, const pl_event_t *ev)
{
    PL_UNUSED(ctx);
    bool lifecycle = !strcmp(ev->action, "org.created") || !strcmp(ev->action, "org.deleted");
    /* the instance chain's copy of an org's creation or deletion: its
     * endpoints get the org chain's event instead (it names the org) */
    if (!ev->org_id && lifecycle)
        return PL_OK;
    char *body = NULL;
    int rc = PL_OK;
    /* a deleted org's endpoints go with it in this transaction */
    if (ev->org_id && strcmp(ev->action, "org.deleted"))
        rc = fan_out(db, ev, ev->org_id, &body);
    if (!rc && (!ev->org_id || lifecycle))
        rc = fan_out(db, ev, NULL, &body);
    free(body);
    return rc;
}

int pl_webhooks_send_test(pl_db_t *db, pl_ctx_t *ctx, const char *org_id, const char *id,
                          char *delivery_id)
{
    int rc = pl_db_begin(db);
    if (rc)
        return rc;
    pl_webhook_row_t r;
    rc = get_row(db, ctx, org_id, id, PL_WEBHOOK_LOCK, &r);
    char event_id[PL_ID_LEN], created[32];
    pl_uuid7(event_id);
    int64_t now = pl_now_ms();
    pl_time_format(now, created);
    const char *actor_type = ctx->principal.api_key_id[0] ? "api_key"
                             : ctx->principal.user_id[0]  ? "user"
                                                          : "system";
    const char *actor_id = ctx->principal.api_key_id[0] ? ctx->principal.api_key_id
                           : ctx->principal.user_id[0]  ? ctx->principal.user_id
                                                        : NULL;
    json_t *e = json_object();
    json_object_set_new(e, "id", json_string(event_id));
    json_object_set_new(e, "org_id", str_or_null(org_id));
    json_object_set_new(e, "action", json_string(PL_WEBHOOK_TEST_EVENT));
    json_object_set_new(e, "actor",
                        json_pack("{s:s, s:o}", "type", actor_type, "id", str_or_null(actor_id)));
    json_object_set_new(e, "target", json_pack("{s:s, s:s}", "type", "webhook", "id", id));
    json_object_set_new(e, "request_id", str_or_null(ctx->request_id));
    json_object_set_new(e, "data", json_object());
    json_object_set_new(e, "created_at", json_string(created));
    char *body = rc ? NULL : message_body(PL_WEBHOOK_TEST_EVENT, now, e);
    json_decref(e);
    if (!rc && !body)
        rc = PL_EINTERNAL;
    if (!rc)
        rc = queue_delivery(db, org_id, id, event_id, PL_WEBHOOK_TEST_EVENT, body, true,
                            delivery_id);
    if (!rc)
        rc = kick(db, org_id, id);
    free(body);
    return pl_db_finish(db, rc);
}

/* ---- deliveries: the service ---- */

static int delivery_not_found(pl_ctx_t *ctx)
{
    return pl_fail(ctx, 404, "not_found", "No such delivery.");
}

int pl_webhooks_deliveries(pl_db_t *db, pl_ctx_t *ctx, const char *org_id, const char *endpoint_id,
                           const char *status, const char *before, int limit,
                           void (*fn)(void *arg, const pl_webhook_delivery_t *d), void *arg)
{
    pl_webhook_row_t r;
    int rc = get_row(db, ctx, org_id, endpoint_id, PL_WEBHOOK_NO_LOCK, &r);
    if (!rc)
        rc = pl_webhooks_store_delivery_list(db, ctx->arena, org_id, endpoint_id, status, before,
                                             limit, fn, arg);
    return rc;
}

int pl_webhooks_delivery(pl_db_t *db, pl_ctx_t *ctx, const char *org_id, const char *endpoint_id,
                         const char *id, pl_webhook_delivery_t *out,
                         void (*fn)(void *arg, const pl_webhook_attempt_t *a), void *arg)
{
    pl_webhook_row_t r;
    int rc = get_row(db, ctx, org_id, endpoint_id, PL_WEBHOOK_NO_LOCK, &r);
    if (rc)
        return rc;
    if (!id || !pl_uuid_valid(id))
        return delivery_not_found(ctx);
    pl_webhook_job_row_t d;
    rc = pl_webhooks_store_delivery_get(db, ctx->arena, org_id, endpoint_id, id, true, &d);
    if (rc == PL_ENOTFOUND)
        return delivery_not_found(ctx);
    if (!rc)
        rc = pl_webhooks_store_attempts(db, ctx->arena, org_id, id, fn, arg);
    if (!rc)
        *out = d.d;
    return rc;
}

int pl_webhooks_retry(pl_db_t *db, pl_ctx_t *ctx, const char *org_id, const char *endpoint_id,
                      const char *id, pl_webhook_delivery_t *out)
{
    int rc = pl_db_begin(db);
    if (rc)
        return rc;
    pl_webhook_row_t r;
    pl_webhook_job_row_t d;
    rc = get_row(db, ctx, org_id, endpoint_id, PL_WEBHOOK_LOCK, &r);
    if (!rc && (!id || !pl_uuid_valid(id)))
        rc = delivery_not_found(ctx);
    if (!rc) {
        rc = pl_webhooks_store_delivery_get(db, ctx->arena, org_id, endpoint_id, id, false, &d);
        if (rc == PL_ENOTFOUND)
            rc = delivery_not_found(ctx);
    }
    if (!rc && !r.w.enabled && !d.is_test)
        rc = pl_fail(ctx, 409, "conflict", "The endpoint is disabled; enable it first.");
    int64_t now = pl_now_ms();
    if (!rc)
        rc = pl_webhooks_store_delivery_requeue(db, org_id, id, now);
    if (!rc)
        rc = kick(db, org_id, endpoint_id);
    if (!rc)
        rc = pl_webhooks_store_delivery_get(db, ctx->arena, org_id, endpoint_id, id, false, &d);
    if ((rc = pl_db_finish(db, rc)))
        return rc;
    *out = d.d;
    return PL_OK;
}

/* ---- the delivery job: a pump per endpoint ----
 *
 * A "webhooks.deliver" job pumps one endpoint: each step (one transaction,
 * the endpoint's row locked) records the last attempt, then leases the
 * endpoint's next due delivery to the job; the message is sent between
 * steps, outside any transaction. A pump runs while deliveries are due and
 * its time budget lasts, then leaves a fresh job for the rest (so a backlog
 * takes turns with the queue's other work). pump_until on the endpoint says
 * a pump is queued or running: changes that queue deliveries start one only
 * when none is (kick), so a burst of events costs one job, not one per
 * delivery. At most `concurrency` deliveries of an endpoint hold a lease at
 * once; a pump that finds the endpoint at its cap ends, the ones in flight
 * go on. Leases name their job and end before the job queue's lease of the
 * job does, so a pump that died or failed is run again by the queue and takes
 * its deliveries back. docs/webhooks.md has the race analysis. */

typedef struct {
    const char *org_id;
    const char *endpoint_id;
    const char *delivery_id;
    const char *url;
    const char *body;
    int attempt; /* this attempt's number, from 1 */
    int64_t lease_until;
    bool is_test;
    int nkeys;
    unsigned char keys[2][PL_WEBHOOK_SECRET_BYTES];
} attempt_t;

typedef struct {
    int64_t at;
    int status;        /* HTTP status; 0: no answer */
    const char *error; /* static; NULL when an answer arrived whole */
    int64_t duration_us;
} result_t;

static int begin_owner(pl_db_t *db, const char *org_id)
{
    int rc = pl_db_begin(db);
    if (!rc && org_id && (rc = pl_db_set_context(db, "app.org_id", org_id)))
        pl_db_rollback(db);
    return rc;
}

/* Ends a job transaction: PL_EEXISTS ("nothing more to do") commits too. */
static int finish(pl_db_t *db, int rc)
{
    if (rc != PL_EEXISTS)
        return pl_db_finish(db, rc);
    int c = pl_db_finish(db, PL_OK);
    return c ? c : PL_EEXISTS;
}

/* Opens e's current secret, and its previous one while the overlap lasts,
 * into a->keys under the owner's data key: one read of the key, in the
 * step's transaction (which set the owner's tenant context). */
static int open_secrets(pl_db_t *db, pl_arena_t *ar, const pl_webhook_row_t *e, int64_t now,
                        attempt_t *a)
{
    pl_datakey_t k;
    int rc = pl_keys_load(db, e->w.org_id, false, &k);
    if (rc == PL_ENOTFOUND) {
        pl_log("error", "webhooks: endpoint %s has a sealed secret but its owner no data key",
               e->w.id);
        return PL_EINTERNAL;
    }
    if (rc)
        return rc;
    const char *ad = secret_ad(ar, e->w.org_id, e->w.id);
    if (pl_keys_open_into(&k, e->secret_sealed, ad, a->keys[0], sizeof(a->keys[0])) !=
        PL_WEBHOOK_SECRET_BYTES) {
        pl_log("error", "webhooks: the secret of endpoint %s does not open", e->w.id);
        rc = PL_EINTERNAL;
    } else {
        a->nkeys = 1;
        if (e->previous_sealed && e->previous_expires_at > now &&
            pl_keys_open_into(&k, e->previous_sealed, ad, a->keys[1], sizeof(a->keys[1])) ==
                PL_WEBHOOK_SECRET_BYTES)
            a->nkeys = 2;
    }
    pl_keys_release(&k);
    return rc;
}

/* Leases delivery id of endpoint e to job and fills a with what to send. */
static int take(pl_db_t *db, pl_arena_t *ar, const pl_webhook_row_t *e, const char *id,
                const char *job, int64_t now, attempt_t *a)
{
    memset(a, 0, sizeof(*a));
    a->lease_until = now + (int64_t)timeout_s * 1000 + LEASE_MARGIN_MS;
    pl_webhook_job_row_t d;
    int rc = pl_webhooks_store_delivery_lease(db, ar, e->w.org_id, id, a->lease_until, job, &d);
    if (rc)
        return rc;
    a->org_id = e->w.org_id;
    a->endpoint_id = e->w.id;
    a->delivery_id = d.d.id;
    a->url = e->w.url;
    a->body = d.d.payload;
    a->attempt = d.d.attempt_count + 1;
    a->is_test = d.is_test;
    return open_secrets(db, ar, e, now, a);
}

typedef struct {
    size_t received;
    bool stopped;
} reader_t;

/* Reads at most PL_WEBHOOK_RESPONSE_MAX bytes of the answer, then stops. */
static int read_answer(void *cls, const char *data, size_t n)
{
    PL_UNUSED(data);
    reader_t *r = cls;
    r->received += n;
    if (r->received > PL_WEBHOOK_RESPONSE_MAX) {
        r->stopped = true;
        return 1;
    }
    return 0;
}

/* httpc's error codes as static strings (the response's buffer dies first). */
static const char *error_code(const char *e)
{
    static const char *const known[] = {
        "forbidden_address", "timeout",   "connect_failed", "dns", "tls",
        "invalid_url",       "too_large", "failed"};
    for (size_t i = 0; i < PL_ARRAY_LEN(known); i++)
        if (!strcmp(e, known[i]))
            return known[i];
    return "failed";
}

static void send_attempt(const attempt_t *a, result_t *res)
{
    char id_hdr[64], ts_hdr[48], sig_hdr[160];
    char sigs[2][48];
    int64_t ts = (int64_t)time(NULL);
    size_t body_len = strlen(a->body);
    for (int i = 0; i < a->nkeys; i++)
        pl_webhooks_sign(a->keys[i], sizeof(a->keys[i]), a->delivery_id, ts, a->body, body_len,
                         sigs[i]);
    snprintf(id_hdr, sizeof(id_hdr), "webhook-id: %s", a->delivery_id);
    snprintf(ts_hdr, sizeof(ts_hdr), "webhook-timestamp: %lld", (long long)ts);
    if (a->nkeys == 2)
        snprintf(sig_hdr, sizeof(sig_hdr), "webhook-signature: %s %s", sigs[0], sigs[1]);
    else
        snprintf(sig_hdr, sizeof(sig_hdr), "webhook-signature: %s", sigs[0]);
    const char *headers[] = {"Content-Type: application/json", id_hdr, ts_hdr, sig_hdr, NULL};
    reader_t reader = {0};
    pl_httpc_req_t req = {
        .method = "POST",
        .url = a->url,
        .headers = headers,
        .body = a->body,
        .body_len = body_len,
        .on_data = read_answer,
        .data_cls = &reader,
        .timeout_ms = timeout_s * 1000,
    };
    pl_httpc_resp_t resp;
    res->at = pl_now_ms();
    int64_t t0 = pl_monotonic_us();
    int rc = pl_httpc_do(&req, &resp);
    res->duration_us = pl_monotonic_us() - t0;
    res->status = resp.status;
    res->error = rc == PL_OK || (reader.stopped && resp.status) ? NULL : error_code(resp.error);
    pl_httpc_resp_free(&resp);
    pl_memzero(sigs, sizeof(sigs));
    pl_histogram_observe(&duration, res->duration_us);
}

static void add_recipient(void *arg, const char *email, const char *name)
{
    json_array_append_new(arg, json_pack("{s:s, s:s}", "email", email, "name", name ? name : ""));
}

/* Disables endpoint e for reason ("gone", "failing"): webhook.disabled in
 * its owner's chain, an email to its owners (instance admins for the
 * instance's), in the caller's transaction. */
static int disable(pl_db_t *db, pl_arena_t *ar, pl_webhook_row_t *e, const char *reason)
{
    e->w.enabled = false;
    e->w.disabled_reason = reason;
    int rc = pl_webhooks_store_update(db, e, pl_now_ms());
    pl_ctx_t ctx;
    pl_ctx_system(&ctx, ar);
    json_t *d = json_pack("{s:s, s:s, s:i}", "reason", reason, "url", url_origin(ar, e->w.url),
                          "failed_deliveries", e->failed_deliveries);
    if (!rc)
        rc = audit(db, &ctx, e, "webhook.disabled", d);
    json_decref(d);
    const char *org_name = "this plinth instance";
    if (!rc && e->w.org_id)
        rc = pl_webhooks_store_org_name(db, ar, e->w.org_id, &org_name);
    json_t *to = json_array();
    if (!rc)
        rc = pl_webhooks_store_recipients(db, e->w.org_id, add_recipient, to);
    const char *why = !strcmp(reason, "gone") ? "it answered 410 Gone"
                                              : pl_arena_printf(ar, "%d deliveries in a row failed",
                                                                e->failed_deliveries);
    for (size_t i = 0; !rc && i < json_array_size(to); i++) {
        json_t *r = json_array_get(to, i);
        json_t *vars = json_pack("{s:O, s:s, s:s, s:s, s:s}", "name", json_object_get(r, "name"),
                                 "org_name", org_name, "url", url_origin(ar, e->w.url),
                                 "endpoint_id", e->w.id, "reason", why);
        rc = pl_mail_enqueue(db, TEMPLATE_DISABLED, json_string_value(json_object_get(r, "email")),
                             vars);
        json_decref(vars);
        if (rc == PL_EINVAL) /* an address mail cannot take: skip it */
            rc = PL_OK;
    }
    json_decref(to);
    /* what waits for it fails now; what is in flight ends on its own */
    if (!rc)
        rc = pl_webhooks_store_abandon_pending(db, e->w.org_id, e->w.id, "endpoint_disabled",
                                               pl_now_ms());
    if (!rc)
        pl_log("warn", "webhooks: endpoint %s disabled (%s)", e->w.id, reason);
    return rc;
}

/* Records a's result in the step's transaction (e locked): the attempt, the
 * delivery's state, the retry's wake-up, the endpoint's health. *outcome is
 * the counter to bump once committed, NULL when the lease was lost. */
static int record(pl_db_t *db, pl_arena_t *ar, pl_webhook_row_t *e, const attempt_t *a,
                  const result_t *res, int64_t now, pl_counter_t **outcome)
{
    bool ok = !res->error && res->status >= 200 && res->status < 300;
    bool gone = !res->error && res->status == 410;
    bool may_retry = !gone && a->attempt <= nschedule && (e->w.enabled || a->is_test);
    const char *status = ok ? "succeeded" : may_retry ? "pending" : "failed";
    int64_t next_at = !ok && may_retry ? now + schedule[a->attempt - 1] : 0;
    int rc = pl_webhooks_store_attempt_record(
        db, a->org_id, a->delivery_id, a->lease_until, a->attempt, res->at, res->status,
        (res->duration_us + 500) / 1000, res->error, status, next_at, next_at ? 0 : now);
    *outcome = NULL;
    if (rc == PL_ENOTFOUND) { /* the lease ran out and another attempt took over */
        pl_log("warn", "webhooks: delivery %s: attempt %d outlived its lease", a->delivery_id,
               a->attempt);
        return PL_OK;
    }
    if (rc)
        return rc;
    *outcome = ok ? &outcome_success : next_at ? &outcome_retry : &outcome_failed;
    if (next_at) /* a pump wakes up for the retry */
        rc = enqueue_pump(db, a->org_id, a->endpoint_id, next_at);
    if (rc || a->is_test)
        return rc;
    /* the admin overview's failure rate (platform/stats) */
    rc = pl_stats_add(db, PL_STATS_WEBHOOK_ATTEMPT, now, 1);
    if (!rc && !ok)
        rc = pl_stats_add(db, PL_STATS_WEBHOOK_FAILED, now, 1);
    if (rc)
        return rc;
    if (ok && e->failed_deliveries)
        rc = pl_webhooks_store_set_failures(db, a->org_id, e->w.id, e->failed_deliveries = 0);
    else if (!ok && !next_at) {
        e->failed_deliveries++;
        rc = pl_webhooks_store_set_failures(db, a->org_id, e->w.id, e->failed_deliveries);
        if (!rc && e->w.enabled && gone)
            rc = disable(db, ar, e, "gone");
        else if (!rc && e->w.enabled && disable_after > 0 && e->failed_deliveries >= disable_after)
            rc = disable(db, ar, e, "failing");
    }
    return rc;
}

/* One step of a pump: records done's result (NULL on the first step), then
 * leases the endpoint's next due delivery into next. PL_OK: send next;
 * PL_EEXISTS: the pump ends; else a database error (the job is retried). */
static int step(pl_db_t *db, pl_arena_t *ar, const char *job, const char *org_id,
                const char *endpoint_id, const attempt_t *done, const result_t *res,
                bool budget_left, attempt_t *next)
{
    int rc = begin_owner(db, org_id);
    if (rc)
        return rc;
    int64_t now = pl_now_ms(), leases = 0;
    pl_webhook_row_t e;
    pl_counter_t *outcome = NULL;
    const char *id = NULL;
    bool audited = false;
    rc = pl_webhooks_store_get(db, ar, org_id, endpoint_id, PL_WEBHOOK_LOCK, &e);
    if (rc == PL_ENOTFOUND) /* deleted, with its deliveries */
        return finish(db, PL_EEXISTS);
    if (!rc && done) {
        bool was_enabled = e.w.enabled;
        rc = record(db, ar, &e, done, res, now, &outcome);
        audited = was_enabled && !e.w.enabled;
    }
    if (!rc && !budget_left) { /* a fresh job goes on after the queue's other work */
        rc = pl_webhooks_store_set_pump(db, org_id, endpoint_id, now + PUMP_GRACE_MS);
        if (!rc)
            rc = enqueue_pump(db, org_id, endpoint_id, 0);
        if (!rc)
            rc = PL_EEXISTS;
    }
    if (!rc)
        rc = pl_webhooks_store_leases(db, org_id, endpoint_id, now, job, &leases);
    if (!rc && leases >= concurrency)
        rc = PL_EEXISTS; /* the attempts in flight go on */
    if (!rc) {
        rc = pl_webhooks_store_next_due(db, ar, org_id, endpoint_id, !e.w.enabled, now, job, NULL,
                                        &id);
        /* Before ending, wait for the transactions that are queueing
         * deliveries for this endpoint (they key-share its row; their kick
         * skipped it while this pump held it) and look once more, at the
         * time after the wait. Not after this step wrote an audit event:
         * they may be waiting for its chain. */
        if (rc == PL_ENOTFOUND && pl_db_engine() == PL_DB_POSTGRES && !audited) {
            rc = pl_webhooks_store_get(db, ar, org_id, endpoint_id, PL_WEBHOOK_LOCK_ALL, &e);
            now = pl_now_ms();
            if (!rc)
                rc = pl_webhooks_store_next_due(db, ar, org_id, endpoint_id, !e.w.enabled, now, job,
                                                NULL, &id);
        }
        if (rc == PL_ENOTFOUND) {
            /* one queued a moment ahead of this clock (another instance's)
             * gets a pump of its own; retries have theirs already */
            int64_t at = 0;
            rc = pl_webhooks_store_next_pending_at(db, org_id, endpoint_id, !e.w.enabled, now, &at);
            if (!rc && at - now < PUMP_GRACE_MS)
                rc = enqueue_pump(db, org_id, endpoint_id, at);
            else if (rc == PL_ENOTFOUND || !rc)
                rc = PL_OK;
            if (!rc)
                rc = pl_webhooks_store_set_pump(db, org_id, endpoint_id, 0);
            if (!rc)
                rc = PL_EEXISTS;
        }
    }
    /* pump_until stays ahead while the pump runs (refreshed once half of it
     * went by) */
    if (!rc && e.pump_until < now + PUMP_GRACE_MS / 2)
        rc = pl_webhooks_store_set_pump(db, org_id, endpoint_id, now + PUMP_GRACE_MS);
    if (!rc)
        rc = take(db, ar, &e, id, job, now, next);
    /* room for more attempts at once and more due: a second pump, once per
     * pump (the second may start a third, up to the cap) */
    if (!rc && !done && leases + 1 < concurrency) {
        const char *other;
        int found = pl_webhooks_store_next_due(db, ar, org_id, endpoint_id, !e.w.enabled, now, job,
                                               id, &other);
        rc = found == PL_OK          ? enqueue_pump(db, org_id, endpoint_id, 0)
             : found == PL_ENOTFOUND ? PL_OK
                                     : found;
    }
    rc = finish(db, rc);
    if (outcome && (rc == PL_OK || rc == PL_EEXISTS))
        pl_counter_inc(outcome);
    return rc;
}

static int deliver_job(const char *job_id, json_t *payload, char *err, size_t errlen)
{
    const char *endpoint_id = json_string_value(json_object_get(payload, "endpoint_id"));
    const char *org_id = json_string_value(json_object_get(payload, "org_id"));
    if (!endpoint_id || !pl_uuid_valid(endpoint_id) || (org_id && !pl_uuid_valid(org_id))) {
        snprintf(err, errlen, "malformed payload");
        return PL_EINVAL;
    }
    pl_db_t *db = pl_db_thread();
    if (!db) {
        snprintf(err, errlen, "no database connection");
        return PL_EDB;
    }
    pl_arena_t *ar = pl_arena_create();
    attempt_t a;
    int rc = step(db, ar, job_id, org_id, endpoint_id, NULL, NULL, true, &a);
    int64_t start = pl_monotonic_us();
    while (rc == PL_OK) {
        result_t res;
        send_attempt(&a, &res);
        /* each round's strings live in a fresh arena */
        pl_arena_t *next_ar = pl_arena_create();
        attempt_t next;
        bool more = pl_monotonic_us() - start < LOOP_BUDGET_US && !pl_jobs_stopping();
        rc = step(db, next_ar, job_id, org_id, endpoint_id, &a, &res, more, &next);
        pl_memzero(a.keys, sizeof(a.keys));
        pl_arena_destroy(ar);
        ar = next_ar;
        if (rc == PL_OK)
            a = next;
        pl_memzero(next.keys, sizeof(next.keys));
        pl_jobs_after_commit();
        pl_events_after_commit();
    }
    pl_arena_destroy(ar);
    pl_memzero(a.keys, sizeof(a.keys)); /* a first step that failed after opening them */
    if (rc == PL_EEXISTS)
        return PL_OK;
    snprintf(err, errlen, "endpoint %s: database error (%d)", endpoint_id, rc);
    return rc;
}

/* ---- retention ---- */

static int purge_owner(pl_db_t *db, const char *org_id, int64_t before)
{
    int rc = begin_owner(db, org_id);
    if (!rc)
        rc = pl_db_finish(db, pl_webhooks_store_purge(db, org_id, before));
    return rc;
}

/* Completed deliveries older than PLINTH_WEBHOOK_RETENTION_DAYS go, owner by
 * owner (each in its tenant context). */
static int purge_job(const char *job_id, json_t *payload, char *err, size_t errlen)
{
    PL_UNUSED(job_id);
    PL_UNUSED(payload);
    pl_db_t *db = pl_db_thread();
    if (!db)
        return PL_EDB;
    int64_t before = pl_now_ms() - (int64_t)retention_days * 24 * 3600 * 1000;
    int rc = purge_owner(db, NULL, before);
    char last[PL_ID_LEN] = "";
    while (!rc) {
        pl_arena_t *ar = pl_arena_create();
        const char *ids[ORGS_PAGE];
        int n = 0;
        rc = pl_webhooks_store_orgs(db, ar, last, ORGS_PAGE, ids, &n);
        for (int i = 0; !rc && i < n; i++)
            rc = purge_owner(db, ids[i], before);
        if (n)
            snprintf(last, sizeof(last), "%s", ids[n - 1]);
        pl_arena_destroy(ar);
        if (n < ORGS_PAGE)
            break;
    }
    if (rc)
        snprintf(err, errlen, "purge failed (%d)", rc);
    return rc;
}

/* ---- `plinth keys verify` ---- */

/* Opens the secrets of every endpoint of one owner, in the caller's read
 * transaction (with the owner's tenant context). */
static int check_owner(pl_db_t *db, pl_keys_check_t *chk, const char *org_id)
{
    pl_arena_t *a = pl_arena_create();
    pl_rows_t rows;
    pl_rows_init(&rows, a, sizeof(pl_webhook_sealed_t), 0);
    const char *owner = org_id ? pl_arena_printf(a, "organization %s", org_id) : "the instance";
    int rc = pl_webhooks_store_sealed(db, a, org_id, &rows);
    for (int i = 0; !rc && i < rows.n; i++) {
        const pl_webhook_sealed_t *r = pl_rows_at(&rows, i);
        const char *ad = secret_ad(a, org_id, r->id);
        rc = pl_keys_check_box(
            chk, org_id, r->secret_sealed, ad, NULL,
            pl_arena_printf(a, "the signing secret of webhook endpoint %s (%s)", r->id, owner));
        if (!rc && r->previous_sealed)
            rc = pl_keys_check_box(chk, org_id, r->previous_sealed, ad, NULL,
                                   pl_arena_printf(a,
                                                   "the previous signing secret of webhook "
                                                   "endpoint %s (%s)",
                                                   r->id, owner));
    }
    pl_arena_destroy(a);
    return rc;
}

/* The "webhooks" source: the instance's endpoints, then each
 * organization's in its tenant context. */
static int check_sealed(pl_db_t *db, pl_keys_check_t *chk)
{
    int rc = check_owner(db, chk, NULL);
    char last[PL_ID_LEN] = "";
    while (!rc) {
        pl_arena_t *ar = pl_arena_create();
        const char *ids[ORGS_PAGE];
        int n = 0;
        rc = pl_webhooks_store_orgs(db, ar, last, ORGS_PAGE, ids, &n);
        for (int i = 0; !rc && i < n; i++) {
            rc = pl_db_set_context(db, "app.org_id", ids[i]);
            if (!rc)
                rc = check_owner(db, chk, ids[i]);
        }
        if (n)
            snprintf(last, sizeof(last), "%s", ids[n - 1]);
        pl_arena_destroy(ar);
        if (n < ORGS_PAGE)
            break;
    }
    return rc;
}

static int64_t purge_period(void)
{
    return retention_days > 0 ? 24LL * 3600 * 1000 : 0;
}

/* ---- the module's declarations ---- */

static int check_schedule(void)
{
    int64_t tmp[PL_WEBHOOK_SCHEDULE_MAX];
    if (pl_webhooks_parse_schedule(schedule_text, tmp) > 0)
        return PL_OK;
    fprintf(stderr,
            "plinth: PLINTH_WEBHOOK_RETRY_SCHEDULE must be 1 to %d comma-separated delays such "
            "as 5s,5m,2h (units ms, s, m, h, d; at most 7 days each; no spaces)\n",
            PL_WEBHOOK_SCHEDULE_MAX);
    return PL_EINVAL;
}

_Static_assert(TIMEOUT_MAX_S * 1000 + LEASE_MARGIN_MS < PL_JOB_LEASE_MS,
               "a delivery's lease must end before its job's");

static int count_endpoints(pl_db_t *db, const char *org_id, int64_t now, int64_t *out)
{
    PL_UNUSED(now);
    return pl_webhooks_store_count(db, org_id, out);
}

int pl_webhooks_init(void)
{
    static bool registered;
    pl_billing_counter("webhooks", count_endpoints);
    pl_keys_add_source("webhooks", check_sealed);
    nschedule = pl_webhooks_parse_schedule(schedule_text, schedule);
    if (nschedule < 0 && check_schedule())
        return PL_EINVAL;
    if (!registered) {
        registered = true;
        pl_metrics_register_counter(&outcome_success);
        pl_metrics_register_counter(&outcome_retry);
        pl_metrics_register_counter(&outcome_failed);
        pl_metrics_register_histogram(&duration);
    }
    return pl_httpc_init();
}

const pl_option_t pl_webhooks_options[] = {
    {"webhook-timeout", "PLINTH_WEBHOOK_TIMEOUT", PL_OPT_INT, &timeout_s, 0, 1, TIMEOUT_MAX_S,
     PL_OPT_RUN, "SECONDS", "time allowed for one webhook delivery attempt, 1-25 (default 10)",
     NULL},
    {"webhook-retry-schedule", "PLINTH_WEBHOOK_RETRY_SCHEDULE", PL_OPT_STR, PL_OPT_S(schedule_text),
     0, 0, PL_OPT_RUN, "LIST", "delays before each webhook retry (default 5s,5m,30m,2h,5h,10h,10h)",
     check_schedule},
    {"webhook-disable-after", "PLINTH_WEBHOOK_DISABLE_AFTER", PL_OPT_INT, &disable_after, 0, 0,
     100000, PL_OPT_RUN, "N",
     "consecutive failed deliveries that disable an endpoint, 0 never (default 20)", NULL},
    {"webhook-concurrency", "PLINTH_WEBHOOK_CONCURRENCY", PL_OPT_INT, &concurrency, 0, 1, 64,
     PL_OPT_RUN, "N", "delivery attempts in flight per endpoint, across instances (default 1)",
     NULL},
    {"webhook-retention-days", "PLINTH_WEBHOOK_RETENTION_DAYS", PL_OPT_INT, &retention_days, 0, 0,
     3650, PL_OPT_RUN, "DAYS", "days completed deliveries are kept, 0 forever (default 30)", NULL},
    {0},
};

const pl_job_def_t pl_webhooks_jobs[] = {
    {DELIVER_JOB, deliver_job},
    {PURGE_JOB, purge_job},
    {0},
};

const pl_schedule_def_t pl_webhooks_schedules[] = {
    {PURGE_JOB, PURGE_JOB, 0, purge_period},
    {0},
};

const char *const pl_webhooks_actions[] = {
    "webhook.created",        "webhook.updated",  "webhook.deleted",
    "webhook.secret_rotated", "webhook.disabled", NULL,
};

static const char *const disabled_vars[] = {"org_name", "url", "endpoint_id", "reason", NULL};

const pl_mail_template_def_t pl_webhooks_templates[] = {
    {
        TEMPLATE_DISABLED,
        "A webhook endpoint of {{org_name}} was disabled",
        "{{greeting}}\n\n"
        "{{product}} stopped sending events to the webhook endpoint {{url}} ({{endpoint_id}}) of "
        "{{org_name}}, because {{reason}}.\n\n"
        "Events are no longer queued for it. Once the receiver works again, enable the "
        "endpoint (PATCH it with \"enabled\": true) and retry the deliveries that failed; a "
        "test event checks the receiver first.\n",
        "<p>{{greeting}}</p>\n"
        "<p>{{product}} stopped sending events to the webhook endpoint <strong>{{url}}</strong> "
        "({{endpoint_id}}) of {{org_name}}, because {{reason}}.</p>\n"
        "<p>Events are no longer queued for it. Once the receiver works again, enable the "
        "endpoint (PATCH it with <code>\"enabled\": true</code>) and retry the deliveries "
        "that failed; a test event checks the receiver first.</p>\n",
        disabled_vars,
    },
    {0},
};
