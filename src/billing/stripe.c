/* stripe.c - Stripe's protocol: the webhook signature (Stripe's own scheme,
 * not Standard Webhooks: the HMAC key is the whole "whsec_..." string), the
 * form-encoded API calls, and subscriptions read from its JSON, whichever of
 * the API versions that moved current_period_end wrote them. */
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "billing/stripe.h"
#include "core/crypto.h"
#include "core/httpc.h"

/* ---- Stripe-Signature ---- */

static bool all_digits(const char *s, size_t n)
{
    if (!n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

/* 64 hex digits into 32 bytes. */
static bool hex32(const char *s, size_t n, unsigned char out[32])
{
    if (n != 64)
        return false;
    size_t bin_len = 0;
    const char *end = NULL;
    return sodium_hex2bin(out, 32, s, n, NULL, &bin_len, &end) == 0 && bin_len == 32 &&
           end == s + n;
}

int pl_stripe_sig_parse(const char *h, size_t len, pl_stripe_sig_t *out)
{
    memset(out, 0, sizeof(*out));
    if (!h || !len || len > PL_STRIPE_SIG_HEADER_MAX || memchr(h, '\0', len))
        return PL_EINVAL;
    bool have_t = false;
    int v1_seen = 0;
    size_t i = 0;
    while (i <= len) {
        size_t j = i;
        while (j < len && h[j] != ',')
            j++;
        /* the item h[i, j), trimmed of spaces */
        size_t a = i, b = j;
        while (a < b && (h[a] == ' ' || h[a] == '\t'))
            a++;
        while (b > a && (h[b - 1] == ' ' || h[b - 1] == '\t'))
            b--;
        const char *eq = memchr(h + a, '=', b - a);
        if (!eq)
            return PL_EINVAL; /* also an empty item ("t=1,,v1=...") */
        size_t klen = (size_t)(eq - (h + a));
        const char *v = eq + 1;
        size_t vlen = (size_t)(h + b - v);
        if (klen == 1 && h[a] == 't') {
            int64_t t;
            char num[16];
            if (have_t || vlen > 15 || !all_digits(v, vlen))
                return PL_EINVAL;
            memcpy(num, v, vlen);
            num[vlen] = '\0';
            if (pl_parse_int64(num, 0, INT64_MAX, &t))
                return PL_EINVAL;
            out->t = t;
            have_t = true;
        } else if (klen == 2 && h[a] == 'v' && h[a + 1] == '1') {
            unsigned char sig[32];
            if (!hex32(v, vlen, sig))
                return PL_EINVAL;
            if (out->nsigs < PL_STRIPE_SIG_MAX)
                memcpy(out->sigs[out->nsigs++], sig, 32);
            v1_seen++;
        } else if (klen == 0) {
            return PL_EINVAL;
        } /* other schemes (v0) and keys are not ours to judge */
        i = j + 1;
    }
    return have_t && v1_seen ? PL_OK : PL_EINVAL;
}

int pl_stripe_sig_verify(const char *header, size_t header_len, const char *body, size_t n,
                         const char *secret, int64_t now_s, int64_t tolerance_s)
{
    pl_stripe_sig_t sig;
    if (!secret || !*secret || pl_stripe_sig_parse(header, header_len, &sig))
        return PL_EINVAL;
    int64_t age = now_s - sig.t;
    if (age > tolerance_s || age < -tolerance_s)
        return PL_EINVAL;
    /* "<t>.<body>" without copying the body: HMAC over the parts */
    char prefix[24];
    int plen = snprintf(prefix, sizeof(prefix), "%lld.", (long long)sig.t);
    crypto_auth_hmacsha256_state st;
    unsigned char mac[32];
    crypto_auth_hmacsha256_init(&st, (const unsigned char *)secret, strlen(secret));
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)prefix, (unsigned long long)plen);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)body, (unsigned long long)n);
    crypto_auth_hmacsha256_final(&st, mac);
    bool ok = false;
    for (int i = 0; i < sig.nsigs; i++)
        ok |= pl_ct_equal(mac, sig.sigs[i], 32); /* every one compared: no early exit */
    pl_memzero(&st, sizeof(st));
    return ok ? PL_OK : PL_EINVAL;
}

/* ---- form encoding ---- */

static int form_escape(pl_buf_t *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        unsigned char c = *p;
        int rc;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~') {
            rc = pl_buf_append(b, (const char *)p, 1);
        } else if (c == ' ') {
            rc = pl_buf_append(b, "+", 1);
        } else {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            rc = pl_buf_append(b, e, 3);
        }
        if (rc)
            return rc;
    }
    return PL_OK;
}

int pl_stripe_form_add(pl_buf_t *b, const char *name, const char *value)
{
    size_t mark = b->len;
    int rc = b->len ? pl_buf_append(b, "&", 1) : PL_OK;
    if (!rc)
        rc = form_escape(b, name);
    if (!rc)
        rc = pl_buf_append(b, "=", 1);
    if (!rc)
        rc = form_escape(b, value ? value : "");
    if (rc && b->ptr) { /* all or nothing */
        b->len = mark;
        b->ptr[mark] = '\0';
    }
    return rc;
}

/* ---- objects ---- */

bool pl_stripe_id_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n < 1 || n > 255)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
              (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
            return false;
    return true;
}

const char *pl_stripe_id_of(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    if (json_is_object(v))
        v = json_object_get(v, "id");
    const char *s = json_string_value(v);
    return s && *s ? s : NULL;
}

static int64_t seconds_ms(json_t *v)
{
    return json_is_integer(v) && json_integer_value(v) > 0 ? json_integer_value(v) * 1000 : 0;
}

int pl_stripe_sub_read(json_t *o, pl_stripe_sub_t *out)
{
    memset(out, 0, sizeof(*out));
    if (!json_is_object(o))
        return PL_EINVAL;
    const char *object = json_string_value(json_object_get(o, "object"));
    if (object && strcmp(object, "subscription"))
        return PL_EINVAL;
    out->id = pl_stripe_id_of(o, "id");
    out->customer = pl_stripe_id_of(o, "customer");
    out->status = json_string_value(json_object_get(o, "status"));
    if (!pl_stripe_id_ok(out->id) || !pl_stripe_id_ok(out->customer) || !out->status)
        return PL_EINVAL;
    out->cancel_at_period_end = json_is_true(json_object_get(o, "cancel_at_period_end"));
    out->created = seconds_ms(json_object_get(o, "created"));
    out->current_period_end = seconds_ms(json_object_get(o, "current_period_end"));
    json_t *items = json_object_get(json_object_get(o, "items"), "data");
    size_t i;
    json_t *item;
    json_array_foreach(items, i, item)
    {
        const char *price = pl_stripe_id_of(item, "price");
        if (!out->price_id && pl_stripe_id_ok(price))
            out->price_id = price;
        /* API versions from 2025-03-31 keep the period on each item */
        int64_t end = seconds_ms(json_object_get(item, "current_period_end"));
        if (!json_object_get(o, "current_period_end") && end > out->current_period_end)
            out->current_period_end = end;
    }
    out->org_id = json_string_value(json_object_get(json_object_get(o, "metadata"), "org_id"));
    return PL_OK;
}

const char *pl_stripe_status(const char *s, bool *plan_applies, bool *keep_plan)
{
    *plan_applies = false;
    *keep_plan = false;
    if (s && !strcmp(s, "active")) {
        *plan_applies = true;
        return "active";
    }
    if (s && !strcmp(s, "trialing")) {
        *plan_applies = true;
        return "trialing";
    }
    if (s && (!strcmp(s, "past_due") || !strcmp(s, "unpaid"))) {
        *plan_applies = true; /* a grace period: Stripe retries, then cancels or not */
        return "past_due";
    }
    if (s && (!strcmp(s, "canceled") || !strcmp(s, "incomplete_expired")))
        return "canceled";
    if (s && !strcmp(s, "paused"))
        return "none";
    *keep_plan = true; /* incomplete: not paid yet */
    return "none";
}

/* ---- the API ---- */

int pl_stripe_call(const pl_stripe_api_t *api, const char *method, const char *path,
                   const char *form, const char *idempotency_key, json_t **out)
{
    *out = NULL;
    char url[PL_HTTPC_REQUEST_URL_MAX];
    int n = snprintf(url, sizeof(url), "%s%s", api->base, path);
    if (n < 0 || (size_t)n >= sizeof(url))
        return PL_EINVAL;
    char auth[640];
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", api->api_key);
    char idem[160];
    const char *headers[5];
    int h = 0;
    headers[h++] = auth;
    headers[h++] = "Accept: application/json";
    if (form)
        headers[h++] = "Content-Type: application/x-www-form-urlencoded";
    if (idempotency_key && form) {
        snprintf(idem, sizeof(idem), "Idempotency-Key: %s", idempotency_key);
        headers[h++] = idem;
    }
    headers[h] = NULL;
    pl_httpc_req_t req = {
        .method = method,
        .url = url,
        .headers = headers,
        .body = form,
        .body_len = form ? strlen(form) : 0,
        .max_response = 1 << 20,
        /* the operator configures PLINTH_STRIPE_API_BASE (a private stand-in
         * or proxy is theirs to choose); no tenant input reaches this URL
         * but ids that Stripe itself issued */
        .allow_private = true,
    };
    pl_httpc_resp_t resp;
    int rc = pl_httpc_do(&req, &resp);
    pl_memzero(auth, sizeof(auth));
    if (rc) {
        pl_log("warn", "stripe: %s %s failed: %s", method, path, resp.error);
        pl_httpc_resp_free(&resp);
        return rc == PL_EINVAL || rc == PL_EFORBIDDEN ? PL_EINVAL : PL_EBUSY;
    }
    json_error_t jerr;
    json_t *body = resp.body && !resp.truncated ? json_loads(resp.body, 0, &jerr) : NULL;
    int status = resp.status;
    pl_httpc_resp_free(&resp);
    if (status >= 200 && status < 300 && json_is_object(body)) {
        *out = body;
        return PL_OK;
    }
    const char *msg = json_string_value(json_object_get(json_object_get(body, "error"), "message"));
    pl_log("warn", "stripe: %s %s answered %d: %.200s", method, path, status,
           msg ? msg : "(no error message)");
    json_decref(body);
    return status >= 400 && status < 500 ? PL_EINVAL : PL_EBUSY;
}
