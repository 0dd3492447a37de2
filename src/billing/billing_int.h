/* billing_int.h - what the files of src/billing share and nobody else
 * needs: the configuration, the jobs, and the plan cache's invalidation. */
#ifndef PL_BILLING_INT_H
#define PL_BILLING_INT_H

#include <jansson.h>

#include "billing/billing.h"

/* PLINTH_STRIPE_API_KEY, PLINTH_STRIPE_WEBHOOK_SECRET, PLINTH_STRIPE_API_BASE,
 * PLINTH_BILLING_SYNC_INTERVAL (as written, and in milliseconds once
 * checked). Read-only after start. */
extern char pl_billing_stripe_api_key[512];
extern char pl_billing_stripe_webhook_secret[512];
extern char pl_billing_stripe_api_base[512];
extern char pl_billing_sync_interval[32];
extern int64_t pl_billing_sync_interval_ms;

/* Option checks (core/config.h): print and return PL_EINVAL on a bad value. */
int pl_billing_check_default_plan(void);
int pl_billing_check_api_base(void);
int pl_billing_check_sync_interval(void);
/* The sync schedule's period (0: off). */
int64_t pl_billing_sync_period(void);

/* Parses an interval: whole seconds ("900"), or a number with the unit s,
 * m or h ("15m"). 0 turns the sync off. PL_EINVAL otherwise. Pure. */
int pl_billing_parse_interval(const char *s, int64_t *ms);

/* The jobs: billing.sync (queues billing.sync_org for every linked
 * organization, purges old Stripe event ids) and billing.sync_org
 * ({"org_id"}: reconciles one organization from Stripe's API). */
int pl_billing_sync_job(const char *job_id, json_t *payload, char *err, size_t errlen);
int pl_billing_sync_org_job(const char *job_id, json_t *payload, char *err, size_t errlen);

/* The event subscriber: a new organization gets its billing row on the
 * default plan, in the transaction that created it. */
int pl_billing_on_event(pl_db_t *db, pl_ctx_t *ctx, const struct pl_event *ev);

/* GCRA for requests_per_minute, pure: *tat_us is the bucket's theoretical
 * arrival time (0: full bucket), now_us the monotonic time. Lets rpm
 * requests through at once and then one every 60/rpm s. Returns true and
 * advances *tat_us when the request may pass; false with *retry_after_s
 * (whole seconds, >= 1) when it may not. rpm 0 passes nothing. */
bool pl_billing_gcra(int64_t *tat_us, int64_t now_us, int64_t rpm, int *retry_after_s);

#endif
