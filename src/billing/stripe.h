/* stripe.h - Stripe's protocol, for the files of src/billing: the
 * Stripe-Signature header, form-encoded requests to Stripe's API through
 * core/httpc, and reading subscriptions out of Stripe's JSON. No storage,
 * no HTTP server types. Thread-safe. */
#ifndef PL_STRIPE_H
#define PL_STRIPE_H

#include <jansson.h>

#include "core/core.h"

#define PL_STRIPE_SIG_HEADER_MAX 4096 /* bytes of a Stripe-Signature header */
#define PL_STRIPE_SIG_MAX        8    /* v1 signatures considered */
#define PL_STRIPE_TOLERANCE_S    300

/* A parsed Stripe-Signature header: "t=<unix seconds>,v1=<64 hex>[,v1=...]".
 * Other schemes (v0) and unknown keys are ignored. */
typedef struct {
    int64_t t;
    int nsigs;
    unsigned char sigs[PL_STRIPE_SIG_MAX][32];
} pl_stripe_sig_t;

/* Parses header (len bytes, not necessarily NUL-terminated): items separated
 * by ',', each "key=value" (spaces around items ignored); exactly one t (1..15
 * digits) and at least one v1 of 64 hex digits; v1 values past
 * PL_STRIPE_SIG_MAX are ignored. PL_OK, or PL_EINVAL for anything else
 * (also an empty or over-long header, an item without '=', a malformed v1).
 * Pure. */
int pl_stripe_sig_parse(const char *header, size_t len, pl_stripe_sig_t *out);

/* Verifies body (n bytes) against header: the HMAC-SHA256 of "<t>.<body>"
 * keyed with the whole secret string ("whsec_..." as written) must equal
 * one of the v1 signatures (constant-time compare), and t must be within
 * tolerance_s of now_s (either way). PL_OK, or PL_EINVAL. Pure. */
int pl_stripe_sig_verify(const char *header, size_t header_len, const char *body, size_t n,
                         const char *secret, int64_t now_s, int64_t tolerance_s);

/* Appends "name=value" (application/x-www-form-urlencoded: unreserved
 * characters as they are, space as '+', everything else %XX), with '&'
 * before it unless b is empty. PL_ELIMIT past b's cap. */
int pl_stripe_form_add(pl_buf_t *b, const char *name, const char *value);

/* A subscription as plinth needs it. Strings are borrowed from the JSON
 * object it was read from. */
typedef struct {
    const char *id;
    const char *customer;
    const char *status;         /* Stripe's: active, trialing, past_due, ... */
    const char *price_id;       /* the first item's price; NULL when none */
    int64_t current_period_end; /* ms; 0 when absent */
    bool cancel_at_period_end;
    const char *org_id; /* metadata.org_id, or NULL */
    int64_t created;    /* ms */
} pl_stripe_sub_t;

/* Reads a subscription object (a webhook event's data.object, or an API
 * answer). current_period_end is the subscription's or, in newer API
 * versions where it moved to the items, the latest of its items'.
 * PL_EINVAL when o is not a subscription with an id and a customer
 * (pl_stripe_id_ok). */
int pl_stripe_sub_read(json_t *o, pl_stripe_sub_t *out);

/* plinth's status for a Stripe subscription status, and whether the
 * subscription's plan applies (trialing, active, past_due, unpaid) or the
 * default plan does (canceled, incomplete_expired, paused). incomplete
 * (the first payment has not gone through) keeps the organization's plan:
 * *keep_plan. Unknown statuses read as incomplete. Pure. */
const char *pl_stripe_status(const char *stripe_status, bool *plan_applies, bool *keep_plan);

/* True when s looks like an id Stripe issues ("cus_...", "sub_...",
 * "price_..."): 1..255 of A-Z a-z 0-9 _. Ids that go into paths, queries
 * and storage are checked with it. Pure. */
bool pl_stripe_id_ok(const char *s);

/* The string member key of o, or NULL; "customer" and the like may also be
 * expanded objects, whose "id" is then returned. */
const char *pl_stripe_id_of(json_t *o, const char *key);

/* Stripe's API, at PLINTH_STRIPE_API_BASE with PLINTH_STRIPE_API_KEY. */
typedef struct {
    const char *base;    /* scheme and host, no /v1 */
    const char *api_key; /* sk_... */
} pl_stripe_api_t;

/* One call: method "GET" or "POST", path from "/v1/...", form the
 * form-encoded body of a POST (NULL for GET; put GET parameters in path),
 * idempotency_key (POST, may be NULL). On a 2xx answer *out gets the parsed
 * JSON object (the caller decrefs it) and PL_OK is returned. A transport
 * failure or a 5xx is PL_EBUSY, a 4xx PL_EINVAL (both logged with Stripe's
 * error message, never the key). The base is the operator's configuration,
 * so it is called even when it is a private address. Blocks up to 10 s. */
int pl_stripe_call(const pl_stripe_api_t *api, const char *method, const char *path,
                   const char *form, const char *idempotency_key, json_t **out);

#endif
