/* billing_stripe.c - Stripe: applying webhook events, Checkout and
 * customer-portal sessions, and the sync job that repairs what a missed
 * event left behind.
 *
 * Every change to an organization's subscription goes through
 * apply_state: the org's billing row is locked, the state is applied only
 * when it is at least as new as the one stored (state_at: an event's
 * creation time, or the time of a sync's read), billing_version is bumped
 * when the plan changes, and subscription.updated goes to the org's audit
 * chain, all in one transaction. Event ids are recorded in the same
 * transaction, so a replay finds its id and changes nothing. */
#include <stdio.h>
#include <string.h>

#include "billing/billing_int.h"
#include "billing/billing_store.h"
#include "billing/stripe.h"
#include "core/rows.h"
#include "orgs/orgs.h"
#include "platform/audit/audit.h"
#include "platform/jobs/jobs.h"
#include "platform/mail/mail.h"

#define EVENT_RETENTION_MS (30LL * 24 * 3600 * 1000) /* Stripe retries for 3 days */
#define SYNC_PAGE          200

char pl_billing_stripe_api_key[512];
char pl_billing_stripe_webhook_secret[512];
char pl_billing_stripe_api_base[512] = "https://api.stripe.com";

int pl_billing_check_api_base(void)
{
    const char *b = pl_billing_stripe_api_base;
    size_t n = strlen(b);
    bool ok = (!strncmp(b, "https://", 8) || !strncmp(b, "http://", 7)) && n < 400 &&
              b[n - 1] != '/' && !strstr(b + 8, "/");
    if (ok)
        return PL_OK;
    fprintf(stderr, "PLINTH_STRIPE_API_BASE: a scheme and host (and port), without a path or a "
                    "trailing slash, e.g. https://api.stripe.com\n");
    return PL_EINVAL;
}

static bool stripe_configured(void)
{
    return pl_billing_stripe_api_key[0] != '\0';
}

static pl_stripe_api_t stripe_api(void)
{
    return (pl_stripe_api_t){pl_billing_stripe_api_base, pl_billing_stripe_api_key};
}

/* ---- applying a subscription state ---- */

typedef struct {
    const char *source;   /* "stripe" or "sync" */
    const char *event_id; /* the Stripe event, or NULL */
    int64_t state_at;     /* when the state was true (ms) */
} origin_t;

/* Makes org_id the transaction's tenant and ctx's organization. */
static int enter_org(pl_db_t *db, pl_ctx_t *ctx, const char *org_id)
{
    pl_org_t o;
    int rc = pl_orgs_lookup(db, ctx->arena, org_id, &o);
    return rc ? rc : pl_orgs_enter(db, ctx, &o);
}

/* The org's billing row, locked; made on the default plan when missing. */
static int locked_row(pl_db_t *db, pl_ctx_t *ctx, const char *org_id, pl_billing_row_t *row)
{
    int rc = pl_billing_store_get(db, ctx->arena, org_id, true, row);
    if (rc == PL_ENOTFOUND) {
        rc = pl_billing_store_insert(db, org_id, pl_billing_default_plan, pl_now_ms());
        if (!rc)
            rc = pl_billing_store_get(db, ctx->arena, org_id, true, row);
    }
    return rc;
}

/* Stores next (plan, status, period, subscription) as of o->state_at and
 * audits it, in the caller's transaction, unless it changes nothing. */
static int store_state(pl_db_t *db, pl_ctx_t *ctx, const pl_billing_row_t *cur,
                       pl_billing_row_t *next, const origin_t *o)
{
    next->state_at = o->state_at;
    bool plan_changed = strcmp(cur->plan_key, next->plan_key) != 0;
    bool changed = plan_changed || strcmp(cur->status, next->status) ||
                   cur->current_period_end != next->current_period_end ||
                   cur->cancel_at_period_end != next->cancel_at_period_end ||
                   !cur->subscription != !next->subscription ||
                   (cur->subscription && strcmp(cur->subscription, next->subscription));
    int64_t now = pl_now_ms();
    int rc = pl_billing_store_set_state(db, next, now); /* state_at moves on either way */
    if (rc || !changed)
        return rc;
    if (plan_changed)
        rc = pl_billing_store_bump(db, now);
    if (!rc) {
        json_t *d =
            json_pack("{s:s, s:s, s:s, s:s, s:s, s:b}", "source", o->source, "plan", next->plan_key,
                      "previous_plan", cur->plan_key, "status", next->status, "previous_status",
                      cur->status, "cancel_at_period_end", next->cancel_at_period_end);
        if (next->current_period_end)
            json_object_set_new(d, "current_period_end",
                                json_string(pl_ctx_time(ctx, next->current_period_end)));
        if (next->subscription)
            json_object_set_new(d, "stripe_subscription_id", json_string(next->subscription));
        if (o->event_id)
            json_object_set_new(d, "stripe_event_id", json_string(o->event_id));
        rc = pl_audit_append(db, ctx, next->org_id, "subscription.updated", "org", next->org_id, d);
        json_decref(d);
    }
    return rc;
}

/* The plan a subscription in Stripe status s with price_id gives, from
 * the current one. */
static const char *plan_for(pl_db_t *db, pl_ctx_t *ctx, const pl_billing_row_t *cur, const char *s,
                            const char *price_id, const char **status)
{
    bool applies, keep;
    *status = pl_stripe_status(s, &applies, &keep);
    if (keep)
        return cur->plan_key;
    if (!applies)
        return pl_billing_default_plan;
    const char *key = NULL;
    if (price_id && pl_plans_store_by_price(db, ctx->arena, price_id, &key) == PL_OK)
        return key;
    pl_log("warn", "billing: no plan has Stripe price %s (org %s); its plan stays",
           price_id ? price_id : "(none)", cur->org_id);
    return cur->plan_key;
}

static bool live(const char *status)
{
    return !strcmp(status, "active") || !strcmp(status, "trialing") || !strcmp(status, "past_due");
}

/* Applies a subscription to its organization (whose row is cur, locked). */
static int apply_subscription(pl_db_t *db, pl_ctx_t *ctx, const pl_billing_row_t *cur,
                              const pl_stripe_sub_t *sub, bool deleted, const origin_t *o)
{
    if (o->state_at < cur->state_at) {
        pl_log("info", "billing: %s for org %s is older than its state: ignored",
               o->event_id ? o->event_id : "a subscription read", cur->org_id);
        return PL_OK;
    }
    const char *status;
    const char *plan = deleted ? pl_billing_default_plan
                               : plan_for(db, ctx, cur, sub->status, sub->price_id, &status);
    if (deleted)
        status = "canceled";
    /* an older subscription that ends does not end the one that replaced it */
    if (cur->subscription && strcmp(cur->subscription, sub->id) && live(cur->status) &&
        !live(status)) {
        pl_log("info", "billing: subscription %s of org %s is not its current one: ignored",
               sub->id, cur->org_id);
        return PL_OK;
    }
    pl_billing_row_t next = *cur;
    next.plan_key = plan;
    next.status = status;
    next.current_period_end = sub->current_period_end;
    next.cancel_at_period_end = sub->cancel_at_period_end;
    next.subscription = sub->id;
    return store_state(db, ctx, cur, &next, o);
}

/* ---- webhook events ---- */

/* The organization linked to customer, entered; PL_ENOTFOUND when none. */
static int org_by_customer(pl_db_t *db, pl_ctx_t *ctx, const char *customer, pl_billing_row_t *row)
{
    const char *org_id = NULL;
    int rc = pl_db_set_context(db, "app.stripe_customer", customer);
    if (!rc)
        rc = pl_billing_store_by_customer(db, ctx->arena, customer, &org_id);
    if (!rc)
        rc = enter_org(db, ctx, org_id);
    if (!rc)
        rc = locked_row(db, ctx, org_id, row);
    return rc;
}

/* Links customer (and subscription) to org_id when the customer is nobody
 * else's; the org is entered and *row is its locked row after. */
static int link_customer(pl_db_t *db, pl_ctx_t *ctx, const char *org_id, const char *customer,
                         const char *subscription, const char *event_id, pl_billing_row_t *row)
{
    const char *owner = NULL;
    int rc = pl_db_set_context(db, "app.stripe_customer", customer);
    if (!rc && (rc = pl_billing_store_by_customer(db, ctx->arena, customer, &owner)) == PL_OK &&
        strcmp(owner, org_id)) {
        pl_log("warn", "billing: Stripe customer %s belongs to org %s, not %s: not linked",
               customer, owner, org_id);
        return PL_ENOTFOUND;
    }
    if (rc && rc != PL_ENOTFOUND)
        return rc;
    if ((rc = enter_org(db, ctx, org_id)) || (rc = locked_row(db, ctx, org_id, row)))
        return rc;
    if (row->customer && !strcmp(row->customer, customer) &&
        (!subscription || (row->subscription && !strcmp(row->subscription, subscription))))
        return PL_OK; /* already linked */
    if ((rc = pl_billing_store_link(db, org_id, customer, subscription, pl_now_ms())))
        return rc;
    json_t *d = json_pack("{s:s, s:s, s:s, s:s}", "source", "stripe", "change", "customer_linked",
                          "stripe_customer_id", customer, "stripe_event_id", event_id);
    rc = pl_audit_append(db, ctx, org_id, "subscription.updated", "org", org_id, d);
    json_decref(d);
    row->customer = customer;
    if (subscription)
        row->subscription = subscription;
    return rc;
}

static int on_checkout_completed(pl_db_t *db, pl_ctx_t *ctx, json_t *obj, const char *event_id)
{
    const char *org_id = json_string_value(json_object_get(obj, "client_reference_id"));
    const char *customer = pl_stripe_id_of(obj, "customer");
    const char *subscription = pl_stripe_id_of(obj, "subscription");
    if (!org_id || !pl_uuid_valid(org_id) || !pl_stripe_id_ok(customer) ||
        (subscription && !pl_stripe_id_ok(subscription))) {
        pl_log("info", "billing: %s has no organization or customer: ignored", event_id);
        return PL_OK;
    }
    pl_billing_row_t row;
    int rc = link_customer(db, ctx, org_id, customer, subscription, event_id, &row);
    return rc == PL_ENOTFOUND ? PL_OK : rc;
}

static int on_subscription(pl_db_t *db, pl_ctx_t *ctx, json_t *obj, bool deleted, const origin_t *o)
{
    pl_stripe_sub_t sub;
    if (pl_stripe_sub_read(obj, &sub)) {
        pl_log("warn", "billing: %s holds no readable subscription: ignored", o->event_id);
        return PL_OK;
    }
    pl_billing_row_t row;
    int rc = org_by_customer(db, ctx, sub.customer, &row);
    /* the checkout's completion may come after its subscription: the
     * subscription carries the org id plinth put in its metadata */
    if (rc == PL_ENOTFOUND && sub.org_id && pl_uuid_valid(sub.org_id))
        rc = link_customer(db, ctx, sub.org_id, sub.customer, NULL, o->event_id, &row);
    if (rc == PL_ENOTFOUND) {
        pl_log("info", "billing: %s is for a customer of no organization: ignored", o->event_id);
        return PL_OK;
    }
    return rc ? rc : apply_subscription(db, ctx, &row, &sub, deleted, o);
}

/* invoice.subscription, or parent.subscription_details.subscription in API
 * versions from 2025-03-31. */
static const char *invoice_subscription(json_t *inv)
{
    const char *s = pl_stripe_id_of(inv, "subscription");
    if (!s)
        s = pl_stripe_id_of(json_object_get(json_object_get(inv, "parent"), "subscription_details"),
                            "subscription");
    return s;
}

static int email_owners(pl_db_t *db, pl_ctx_t *ctx)
{
    const char *cursor = NULL;
    int rc;
    do {
        pl_member_page_t page;
        if ((rc = pl_members_list(db, ctx, cursor, 200, &page)))
            return rc;
        for (int i = 0; !rc && i < page.n; i++) {
            if (strcmp(page.items[i].role, "owner"))
                continue;
            json_t *vars =
                json_pack("{s:s, s:s}", "name", page.items[i].name, "org_name", ctx->tenant.name);
            rc = pl_mail_enqueue(db, "billing_payment_failed", page.items[i].email, vars);
            json_decref(vars);
        }
        cursor = page.next_cursor;
    } while (!rc && cursor);
    return rc;
}

static int on_invoice(pl_db_t *db, pl_ctx_t *ctx, json_t *obj, bool paid, const origin_t *o)
{
    const char *customer = pl_stripe_id_of(obj, "customer");
    pl_billing_row_t row;
    int rc = customer ? org_by_customer(db, ctx, customer, &row) : PL_ENOTFOUND;
    if (rc == PL_ENOTFOUND) {
        pl_log("info", "billing: %s is for a customer of no organization: ignored", o->event_id);
        return PL_OK;
    }
    if (rc)
        return rc;
    const char *sub = invoice_subscription(obj);
    if (sub && !pl_stripe_id_ok(sub))
        sub = NULL;
    if (o->state_at < row.state_at || (sub && row.subscription && strcmp(sub, row.subscription)) ||
        !strcmp(row.status, "canceled")) {
        pl_log("info",
               "billing: %s is stale, for another subscription, or after the end: "
               "ignored",
               o->event_id);
        return PL_OK;
    }
    pl_billing_row_t next = row;
    if (paid) {
        /* a paid invoice ends a payment problem; a trial stays a trial */
        if (!strcmp(row.status, "past_due") || !strcmp(row.status, "none"))
            next.status = "active";
    } else {
        next.status = "past_due";
    }
    if (sub && !next.subscription)
        next.subscription = sub;
    rc = store_state(db, ctx, &row, &next, o);
    if (!rc && !paid)
        rc = email_owners(db, ctx);
    return rc;
}

int pl_billing_stripe_event(pl_db_t *db, pl_ctx_t *ctx, const char *body, size_t n,
                            const char *sig_header, bool *replayed)
{
    *replayed = false;
    if (!pl_billing_stripe_webhook_secret[0]) {
        pl_log("warn", "billing: a Stripe event arrived but PLINTH_STRIPE_WEBHOOK_SECRET is not "
                       "set");
        return pl_fail(ctx, 400, "bad_request", "Stripe events are not configured here.");
    }
    if (!sig_header || pl_stripe_sig_verify(sig_header, strlen(sig_header), body ? body : "", n,
                                            pl_billing_stripe_webhook_secret, pl_now_ms() / 1000,
                                            PL_STRIPE_TOLERANCE_S))
        return pl_fail(ctx, 400, "bad_request",
                       "The Stripe-Signature header is missing, malformed, expired or wrong.");
    json_t *ev = body ? json_loadb(body, n, JSON_REJECT_DUPLICATES, NULL) : NULL;
    pl_arena_cleanup_add(ctx->arena, (void (*)(void *))json_decref, ev);
    const char *id = json_string_value(json_object_get(ev, "id"));
    const char *type = json_string_value(json_object_get(ev, "type"));
    json_t *created = json_object_get(ev, "created");
    json_t *obj = json_object_get(json_object_get(ev, "data"), "object");
    if (!id || !*id || strlen(id) > PL_STRIPE_ID_MAX || !type || !json_is_integer(created) ||
        !json_is_object(obj))
        return pl_fail(ctx, 400, "bad_request", "The body is not a Stripe event.");
    origin_t o = {"stripe", id, json_integer_value(created) * 1000};

    /* Stripe acts, not the caller: the changes are the system's */
    pl_ctx_t sys;
    pl_ctx_system(&sys, ctx->arena);
    int rc = pl_db_begin(db);
    if (rc)
        return rc;
    if ((rc = pl_billing_store_event_insert(db, id, type, o.state_at, pl_now_ms())) ==
        PL_ECONFLICT) {
        *replayed = true;
        rc = PL_OK;
    } else if (rc) {
        /* fall through to the rollback */
    } else if (!strcmp(type, "checkout.session.completed")) {
        rc = on_checkout_completed(db, &sys, obj, id);
    } else if (!strcmp(type, "customer.subscription.created") ||
               !strcmp(type, "customer.subscription.updated")) {
        rc = on_subscription(db, &sys, obj, false, &o);
    } else if (!strcmp(type, "customer.subscription.deleted")) {
        rc = on_subscription(db, &sys, obj, true, &o);
    } else if (!strcmp(type, "invoice.payment_failed")) {
        rc = on_invoice(db, &sys, obj, false, &o);
    } else if (!strcmp(type, "invoice.paid")) {
        rc = on_invoice(db, &sys, obj, true, &o);
    } /* other types: acknowledged (their id recorded) and ignored */
    rc = pl_db_finish(db, rc);
    if (rc && sys.err.status) /* a refusal of ours (none expected): keep its answer */
        ctx->err = sys.err;
    return rc;
}

/* ---- Checkout and the customer portal ---- */

static int stripe_failed(pl_ctx_t *ctx, int rc)
{
    if (rc == PL_EBUSY || rc == PL_EINVAL)
        return pl_fail(ctx, 502, "bad_gateway",
                       rc == PL_EBUSY ? "Stripe could not be reached; try again."
                                      : "Stripe refused the request; the log has its reason.");
    return rc;
}

static int not_configured(pl_ctx_t *ctx)
{
    return pl_fail(ctx, 503, "unavailable", "Payments with Stripe are not configured here.");
}

static int session_url(pl_ctx_t *ctx, json_t *resp, const char **url)
{
    const char *u = json_string_value(json_object_get(resp, "url"));
    if (!u || strncmp(u, "http", 4)) {
        json_decref(resp);
        return stripe_failed(ctx, PL_EINVAL);
    }
    *url = pl_arena_strdup(ctx->arena, u);
    json_decref(resp);
    return PL_OK;
}

int pl_billing_checkout(pl_db_t *db, pl_ctx_t *ctx, const char *plan_key, const char *success_url,
                        const char *cancel_url, const char **url)
{
    pl_plan_t plan;
    int rc = pl_plans_key_valid(plan_key) ? pl_plans_store_get(db, ctx->arena, plan_key, &plan)
                                          : PL_ENOTFOUND;
    if (rc == PL_ENOTFOUND || (!rc && !plan.nprices)) {
        pl_field_error(ctx, "plan", "invalid",
                       rc ? "No such plan." : "This plan has no Stripe price to subscribe to.");
        return PL_EINVAL;
    }
    if (rc)
        return rc;
    if (!stripe_configured())
        return not_configured(ctx);
    const char *org_id = ctx->tenant.org_id;
    pl_billing_row_t row = {0};
    if ((rc = pl_billing_store_get(db, ctx->arena, org_id, false, &row)) && rc != PL_ENOTFOUND)
        return rc;
    pl_buf_t f;
    pl_buf_init(&f, 16 * 1024);
    pl_stripe_form_add(&f, "mode", "subscription");
    pl_stripe_form_add(&f, "line_items[0][price]", plan.price_ids[0]);
    pl_stripe_form_add(&f, "line_items[0][quantity]", "1");
    pl_stripe_form_add(&f, "success_url", success_url);
    pl_stripe_form_add(&f, "cancel_url", cancel_url);
    pl_stripe_form_add(&f, "client_reference_id", org_id);
    pl_stripe_form_add(&f, "metadata[org_id]", org_id);
    pl_stripe_form_add(&f, "subscription_data[metadata][org_id]", org_id);
    if (row.customer)
        pl_stripe_form_add(&f, "customer", row.customer);
    else if (ctx->principal.email)
        rc = pl_stripe_form_add(&f, "customer_email", ctx->principal.email);
    json_t *resp = NULL;
    pl_stripe_api_t api = stripe_api();
    if (!rc)
        rc = pl_stripe_call(&api, "POST", "/v1/checkout/sessions", f.ptr, NULL, &resp);
    pl_buf_free(&f);
    return rc ? stripe_failed(ctx, rc) : session_url(ctx, resp, url);
}

int pl_billing_portal(pl_db_t *db, pl_ctx_t *ctx, const char *return_url, const char **url)
{
    pl_billing_row_t row = {0};
    int rc = pl_billing_store_get(db, ctx->arena, ctx->tenant.org_id, false, &row);
    if (rc && rc != PL_ENOTFOUND)
        return rc;
    if (!row.customer)
        return pl_fail(ctx, 409, "conflict",
                       "The organization has no Stripe customer yet: subscribe through checkout "
                       "first.");
    if (!stripe_configured())
        return not_configured(ctx);
    pl_buf_t f;
    pl_buf_init(&f, 8 * 1024);
    pl_stripe_form_add(&f, "customer", row.customer);
    rc = pl_stripe_form_add(&f, "return_url", return_url);
    json_t *resp = NULL;
    pl_stripe_api_t api = stripe_api();
    if (!rc)
        rc = pl_stripe_call(&api, "POST", "/v1/billing_portal/sessions", f.ptr, NULL, &resp);
    pl_buf_free(&f);
    return rc ? stripe_failed(ctx, rc) : session_url(ctx, resp, url);
}

/* ---- the sync ---- */

int pl_billing_sync_now(pl_db_t *db, pl_ctx_t *ctx)
{
    int rc = pl_db_begin(db);
    if (rc)
        return rc;
    PL_UNUSED(ctx);
    rc = pl_jobs_enqueue(db, "billing.sync", NULL, NULL);
    return pl_db_finish(db, rc);
}

/* The linked organizations, a page at a time, in a read transaction that
 * may see every linked row (app.billing_sync). */
static int linked_page(pl_db_t *db, pl_arena_t *a, const char *after, pl_rows_t *rows)
{
    int rc = pl_db_begin_read(db);
    if (rc)
        return rc;
    rc = pl_db_set_context(db, "app.billing_sync", "on");
    if (!rc)
        rc = pl_billing_store_linked(db, a, after, rows);
    return pl_db_finish(db, rc);
}

int pl_billing_sync_job(const char *job_id, json_t *payload, char *err, size_t errlen)
{
    PL_UNUSED(job_id);
    PL_UNUSED(payload);
    pl_db_t *db = pl_db_thread();
    if (!db) {
        snprintf(err, errlen, "database unavailable");
        return PL_EDB;
    }
    int rc = pl_db_begin(db);
    if (!rc)
        rc = pl_billing_store_events_purge(db, pl_now_ms() - EVENT_RETENTION_MS);
    if ((rc = pl_db_finish(db, rc))) {
        snprintf(err, errlen, "purge failed (%d)", rc);
        return rc;
    }
    if (!stripe_configured())
        return PL_OK;
    pl_arena_t *a = pl_arena_create();
    const char *after = NULL;
    int queued = 0;
    do {
        pl_rows_t rows;
        pl_rows_init(&rows, a, sizeof(pl_billing_row_t), SYNC_PAGE);
        if ((rc = linked_page(db, a, after, &rows)) || (rc = pl_db_begin(db)))
            break;
        const pl_billing_row_t *r = rows.items;
        for (int i = 0; !rc && i < rows.n; i++) {
            json_t *p = json_pack("{s:s}", "org_id", r[i].org_id);
            rc = pl_jobs_enqueue(db, "billing.sync_org", p, NULL);
            json_decref(p);
        }
        if ((rc = pl_db_finish(db, rc)))
            break;
        queued += rows.n;
        after = rows.more ? r[rows.n - 1].org_id : NULL;
    } while (after);
    pl_arena_destroy(a);
    pl_jobs_after_commit();
    if (rc)
        snprintf(err, errlen, "listing linked organizations failed (%d)", rc);
    else
        pl_log("info", "billing: sync queued for %d organizations", queued);
    return rc;
}

/* The subscription to reconcile org's row with, read from Stripe: the
 * known one, unless it ended and the customer has a live one; NULL when the
 * customer has none at all. *out is the API answer holding it. */
static int fetch_subscription(const pl_billing_row_t *row, json_t **out, json_t **sub)
{
    pl_stripe_api_t api = stripe_api();
    char path[600];
    int rc = PL_ENOTFOUND;
    *out = *sub = NULL;
    if (row->subscription) {
        snprintf(path, sizeof(path), "/v1/subscriptions/%s", row->subscription);
        rc = pl_stripe_call(&api, "GET", path, NULL, NULL, out);
        bool plan_applies, keep;
        if (!rc) {
            pl_stripe_status(json_string_value(json_object_get(*out, "status")), &plan_applies,
                             &keep);
            if (plan_applies || keep) {
                *sub = *out;
                return PL_OK;
            }
        } else if (rc != PL_EINVAL) { /* a 404 (deleted) goes on to the list */
            return rc;
        }
    }
    /* every subscription of the customer: a live one first, else the newest */
    json_t *list = NULL;
    snprintf(path, sizeof(path), "/v1/subscriptions?customer=%s&status=all&limit=20",
             row->customer);
    if ((rc = pl_stripe_call(&api, "GET", path, NULL, NULL, &list)))
        return rc;
    json_t *best = NULL, *s;
    int64_t best_created = -1;
    bool best_live = false;
    size_t i;
    json_array_foreach(json_object_get(list, "data"), i, s)
    {
        bool applies, keep;
        pl_stripe_status(json_string_value(json_object_get(s, "status")), &applies, &keep);
        int64_t created = json_integer_value(json_object_get(s, "created"));
        if (!best || (applies && !best_live) || (applies == best_live && created > best_created)) {
            best = s;
            best_live = applies;
            best_created = created;
        }
    }
    if (best) {
        json_decref(*out);
        *out = list;
        *sub = best;
        return PL_OK;
    }
    json_decref(list);
    if (*out) { /* only the known one, ended */
        *sub = *out;
        return PL_OK;
    }
    return PL_ENOTFOUND;
}

int pl_billing_sync_org_job(const char *job_id, json_t *payload, char *err, size_t errlen)
{
    PL_UNUSED(job_id);
    const char *org_id = json_string_value(json_object_get(payload, "org_id"));
    pl_db_t *db = pl_db_thread();
    if (!org_id || !pl_uuid_valid(org_id)) {
        snprintf(err, errlen, "no org_id");
        return PL_EINVAL;
    }
    if (!db) {
        snprintf(err, errlen, "database unavailable");
        return PL_EDB;
    }
    if (!stripe_configured())
        return PL_OK;
    pl_arena_t *a = pl_arena_create();
    pl_ctx_t ctx;
    pl_ctx_system(&ctx, a);
    pl_billing_row_t row;
    int rc = pl_db_begin_read(db);
    if (!rc && !(rc = pl_db_set_context(db, "app.org_id", org_id)))
        rc = pl_billing_store_get(db, a, org_id, false, &row);
    rc = pl_db_finish(db, rc);
    if (rc || !row.customer) { /* gone, or unlinked since */
        pl_arena_destroy(a);
        return rc == PL_ENOTFOUND ? PL_OK : rc;
    }
    /* the state read is true from the second the read began */
    origin_t o = {"sync", NULL, pl_now_ms() / 1000 * 1000};
    json_t *resp = NULL, *obj = NULL;
    pl_stripe_sub_t sub;
    rc = fetch_subscription(&row, &resp, &obj);
    bool none = rc == PL_ENOTFOUND;
    if (!rc && pl_stripe_sub_read(obj, &sub))
        rc = PL_EINVAL;
    if (!rc || none) {
        pl_billing_row_t cur;
        rc = pl_db_begin(db);
        if (!rc && !(rc = enter_org(db, &ctx, org_id)))
            rc = locked_row(db, &ctx, org_id, &cur);
        if (!rc && none && cur.subscription) {
            /* Stripe has no subscription for the customer any more */
            pl_stripe_sub_t gone = {.id = cur.subscription, .customer = cur.customer};
            rc = apply_subscription(db, &ctx, &cur, &gone, true, &o);
        } else if (!rc && !none) {
            rc = apply_subscription(db, &ctx, &cur, &sub, false, &o);
        }
        rc = pl_db_finish(db, rc);
        if (!rc)
            pl_billing_reload(db);
    }
    json_decref(resp);
    pl_arena_destroy(a);
    if (rc)
        snprintf(err, errlen, "reconciling org %s failed (%d)", org_id, rc);
    return rc == PL_EBUSY ? PL_EBUSY : rc ? PL_EINVAL : PL_OK;
}

/* ---- email ---- */

static const char *const payment_failed_vars[] = {"org_name", NULL};

const pl_mail_template_def_t pl_billing_templates[] = {
    {
        "billing_payment_failed",
        "Payment failed for {{org_name}}",
        "{{greeting}}\n\n"
        "A payment for the subscription of {{org_name}} failed, and the subscription is now "
        "past due. Stripe will try again; to keep the plan, update the payment method in the "
        "billing portal of {{org_name}}.\n\n"
        "You receive this email as an owner of {{org_name}}.\n",
        "<p>{{greeting}}</p>\n"
        "<p>A payment for the subscription of <strong>{{org_name}}</strong> failed, and the "
        "subscription is now past due. Stripe will try again; to keep the plan, update the "
        "payment method in the billing portal of {{org_name}}.</p>\n"
        "<p>You receive this email as an owner of {{org_name}}.</p>\n",
        payment_failed_vars,
    },
    {0},
};
