/* account.c - accounts: the rules for emails, names and passwords, creating
 * an account with its personal organization, registration, the password
 * step of sign-in with its throttles, and the profile. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unicase.h>
#include <unictype.h>
#include <uninorm.h>
#include <unistr.h>

#include "auth/auth_int.h"
#include "auth/password.h"
#include "auth/throttle.h"
#include "core/crypto.h"
#include "core/quota.h"
#include "platform/audit/audit.h"
#include "orgs/orgs.h"
#include "platform/mail/mail.h"

_Static_assert(PL_AUTH_PASSWORD_HASH_MAX >= PL_PASSWORD_HASH_MAX, "a hash fits its buffer");

/* ---- rules ---- */

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Whether s holds a character one cannot see or that controls text: the
 * Unicode categories C (controls, format characters such as the zero-width
 * ones and bidirectional marks, private use, unassigned) and Z (spaces:
 * NBSP and the line separators; no space belongs in an address). */
static bool has_invisible(const uint8_t *s, size_t n)
{
    const uint8_t *end = s + n;
    ucs4_t uc;
    for (int len; s < end; s += len) {
        len = u8_mbtouc(&uc, s, (size_t)(end - s));
        if (len <= 0 || uc == 0xfffd)
            return true;
        if (uc_is_general_category(uc, UC_CATEGORY_C) || uc_is_general_category(uc, UC_CATEGORY_Z))
            return true;
    }
    return false;
}

char *pl_auth_email_normalize(pl_arena_t *a, const char *in)
{
    size_t n = strlen(in);
    while (n && is_space(in[n - 1]))
        n--;
    while (n && is_space(*in))
        in++, n--;
    if (n > 1024 || !pl_utf8_valid(in, n) || has_invisible((const uint8_t *)in, n))
        return NULL;
    /* look-alikes are one address: NFC, then full Unicode case folding */
    size_t folded_len = 0;
    uint8_t *folded = u8_casefold((const uint8_t *)in, n, NULL, UNINORM_NFC, NULL, &folded_len);
    if (!folded)
        return NULL;
    char *e = pl_arena_strndup(a, (const char *)folded, folded_len);
    free(folded);
    n = strlen(e);
    const char *at = strchr(e, '@');
    bool ok = n >= 3 && n <= 254 && at && at != e && at[1] && !strchr(at + 1, '@') &&
              (size_t)(at - e) <= 64 && strchr(at + 1, '.') && at[strlen(at) - 1] != '.' &&
              at[1] != '.';
    for (size_t i = 0; ok && i < n; i++) {
        unsigned char c = (unsigned char)e[i];
        if (c <= 0x20 || c == 0x7f || strchr("<>(),;:\\\"[]", c))
            ok = false;
        else if (c >= 'A' && c <= 'Z')
            e[i] = (char)(c - 'A' + 'a');
    }
    return ok ? e : NULL;
}

int pl_auth_check_email(pl_ctx_t *ctx, const char *field, const char *in, const char **out)
{
    char *e = in ? pl_auth_email_normalize(ctx->arena, in) : NULL;
    if (!e) {
        pl_field_error(ctx, field, "invalid", "Must be a valid email address.");
        return PL_EINVAL;
    }
    *out = e;
    return PL_OK;
}

bool pl_auth_name_valid(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    return n >= 1 && n <= PL_AUTH_NAME_MAX;
}

static int check_name(pl_ctx_t *ctx, const char *field, const char *name)
{
    if (pl_auth_name_valid(name))
        return PL_OK;
    pl_field_error(ctx, field, "invalid", "Must be 1 to 200 bytes.");
    return PL_EINVAL;
}

/* A BCP 47 tag in its conventional case ("pt-BR", "zh-Hant-TW") as a new
 * string in the arena; else a 422 field error. */
static int check_locale(pl_ctx_t *ctx, const char *field, const char *in, const char **out)
{
    if (!pl_mail_locale_valid(in)) {
        pl_field_error(ctx, field, "invalid",
                       "Must be a BCP 47 language tag such as \"de\" or \"pt-BR\" (at most 35 "
                       "bytes).");
        return PL_EINVAL;
    }
    size_t n = strlen(in);
    char *t = pl_arena_strndup(ctx->arena, in, n);
    bool first = true;
    for (char *sub = t; sub;) {
        char *end = strchr(sub, '-');
        size_t len = end ? (size_t)(end - sub) : strlen(sub);
        bool alpha = true;
        for (size_t i = 0; i < len; i++)
            alpha = alpha && !(sub[i] >= '0' && sub[i] <= '9');
        for (size_t i = 0; i < len; i++) {
            char c = sub[i];
            bool upper = !first && alpha && (len == 2 || (len == 4 && i == 0));
            if (upper && c >= 'a' && c <= 'z')
                sub[i] = (char)(c - 'a' + 'A');
            else if (!upper && c >= 'A' && c <= 'Z')
                sub[i] = (char)(c - 'A' + 'a');
        }
        first = false;
        sub = end ? end + 1 : NULL;
    }
    *out = t;
    return PL_OK;
}

int pl_auth_hash_password(pl_ctx_t *ctx, const char *field, const char *password, const char *email,
                          char hash[PL_AUTH_PASSWORD_HASH_MAX])
{
    const char *reason = NULL;
    if (pl_password_check(password, strlen(password), email, &reason)) {
        pl_field_error(ctx, field, "weak_password", reason);
        return pl_fail(ctx, 422, "weak_password", reason);
    }
    return pl_auth_password_hash(password, hash);
}

int pl_auth_address_quota(pl_ctx_t *ctx, const char *action, int limit)
{
    char key[PL_QUOTA_KEY_MAX + 1];
    snprintf(key, sizeof(key), "%s %s", action, ctx->ip ? ctx->ip : "");
    int retry = 0;
    if (pl_quota_take(key, limit, 3600 * 1000, pl_now_ms(), &retry))
        return PL_OK;
    ctx->err.retry_after = retry;
    return pl_fail(ctx, 429, "rate_limited",
                   "Too many requests from this address; try again later.");
}

/* ---- creating accounts ---- */

/* Inserts the account of u (its id is made here) into the caller's
 * transaction, audits user.registered, then creates its personal
 * organization (orgs audits org.created). With self, the new user becomes
 * the actor of the context (self-registration) before anything is audited. */
static int insert_account(pl_db_t *db, pl_ctx_t *ctx, pl_user_t *u, bool self, pl_auth_org_t *org)
{
    char *id = pl_arena_alloc(ctx->arena, PL_ID_LEN);
    pl_uuid7(id);
    u->id = id;
    u->created_at = pl_now_ms();
    int rc = pl_store_user_insert(db, u, u->created_at);
    if (rc == PL_ECONFLICT)
        return pl_fail(ctx, 409, "email_taken", "An account with this email already exists.");
    if (!rc)
        rc = pl_db_set_context(db, "app.user_id", u->id);
    if (!rc && self)
        snprintf(ctx->principal.user_id, sizeof(ctx->principal.user_id), "%s", u->id);
    json_t *d = json_pack("{s:s}", "email", u->email);
    if (!rc)
        rc = pl_audit_append(db, ctx, NULL, "user.registered", "user", u->id, d);
    json_decref(d);
    pl_org_t o;
    if (!rc)
        rc = pl_orgs_create_personal(db, ctx, u->id, u->name, &o);
    if (rc)
        return rc;
    *org = (pl_auth_org_t){
        .id = o.id,
        .name = o.name,
        .slug = o.slug,
        .personal = true,
        .role = "owner",
        .created_at = o.created_at,
    };
    return PL_OK;
}

int pl_auth_create_user(pl_db_t *db, pl_ctx_t *ctx, const pl_auth_new_user_t *in, pl_user_t *user,
                        pl_auth_org_t *org)
{
    const char *email = NULL;
    pl_auth_check_email(ctx, "email", in->email, &email);
    check_name(ctx, "name", in->name);
    if (pl_validated(ctx))
        return PL_EINVAL;
    pl_user_t u = {.email = email,
                   .name = in->name,
                   .password_hash = in->password_hash,
                   .email_verified = in->email_verified,
                   .is_admin = in->is_admin};
    pl_auth_org_t o;
    int rc = pl_db_begin(db);
    if (rc)
        return rc;
    rc = insert_account(db, ctx, &u, false, &o);
    if ((rc = pl_db_finish(db, rc)))
        return rc;
    pl_auth_public_user(&u);
    if (user)
        *user = u;
    if (org)
        *org = o;
    return PL_OK;
}

int pl_auth_register(pl_db_t *db, pl_ctx_t *ctx, const pl_auth_registration_t *in,
                     pl_auth_tokens_t *tokens, pl_auth_org_t *org)
{
    const char *email = NULL;
    pl_auth_check_email(ctx, "email", in->email, &email);
    check_name(ctx, "name", in->name);
    if (pl_validated(ctx))
        return PL_EINVAL;
    int rc = pl_auth_address_quota(ctx, "register", pl_auth_cfg.register_limit);
    if (rc)
        return rc;
    char hash[PL_AUTH_PASSWORD_HASH_MAX];
    rc = pl_auth_hash_password(ctx, "password", in->password, email, hash);
    if (rc)
        return rc;
    /* an invited user proves the address with the token: verified at once */
    bool invited = in->invitation_token != NULL;
    pl_user_t u = {
        .email = email, .name = in->name, .password_hash = hash, .email_verified = invited};
    pl_auth_org_t o;
    if ((rc = pl_db_begin(db)))
        return rc;
    rc = insert_account(db, ctx, &u, true, &o);
    if (!rc && invited) {
        rc = pl_orgs_join_by_invitation(db, ctx, u.id, u.email, in->invitation_token);
        if (rc == PL_ENOTFOUND) {
            pl_field_error(ctx, "invitation_token", "invalid",
                           "The invitation is unknown, used, expired or for another email.");
            rc = pl_fail(ctx, 422, "invalid_token", "The invitation token is not valid.");
        }
    }
    if (!rc && !invited)
        rc = pl_auth_send_verification(db, ctx, &u);
    if (!rc)
        rc = pl_auth_issue_session(db, ctx, &u, tokens);
    if ((rc = pl_db_finish(db, rc)))
        pl_memzero(tokens, sizeof(*tokens));
    else if (org)
        *org = o;
    pl_memzero(hash, sizeof(hash));
    return rc;
}

/* ---- the sign-in steps every way in shares ---- */

/* The throttles' decision for an attempt by (email, ctx->ip) at now: PL_OK,
 * or 429 rate_limited / account_locked with retry_after. Reads only. */
static int decide(pl_db_t *db, pl_ctx_t *ctx, const char *email, int64_t now)
{
    pl_throttle_input_t in = {0};
    int rc = PL_OK;
    if (email) {
        rc = pl_store_attempts_recent(db, email, ctx->ip, PL_THROTTLE_LOCK_FAILS, in.recent_success,
                                      in.recent_at, &in.nrecent);
        if (!rc)
            rc = pl_store_attempts_failed_email_ip(db, email, ctx->ip, now - 60 * 1000,
                                                   &in.minute_fails, &in.minute_oldest);
    }
    if (!rc)
        rc = pl_store_attempts_failed_ip(db, ctx->ip, now - PL_THROTTLE_IP_WINDOW_MS, &in.ip_fails,
                                         &in.ip_oldest);
    if (rc)
        return rc;
    int retry = 0;
    switch (pl_throttle_decide(&in, now, &retry)) {
    case PL_THROTTLE_ALLOW:
        return PL_OK;
    case PL_THROTTLE_LOCKED:
        pl_auth_count("locked");
        ctx->err.retry_after = retry;
        return pl_fail(ctx, 429, "account_locked",
                       "Too many failed sign-ins; this account is locked for a while.");
    case PL_THROTTLE_RATE_LIMITED:
        break;
    }
    pl_auth_count("throttled");
    ctx->err.retry_after = retry;
    return pl_fail(ctx, 429, "rate_limited", "Too many sign-in attempts; try again later.");
}

int pl_auth_throttle(pl_db_t *db, pl_ctx_t *ctx, const char *email)
{
    return decide(db, ctx, email, pl_now_ms());
}

/* The decision and the record are one step: under a lock on the client
 * address (every instance: pl_db_lock), in one write transaction, so of
 * concurrent attempts exactly as many are evaluated as the limits allow.
 * The lock is per address because both limits count per address. */
int pl_auth_attempt_begin(pl_db_t *db, pl_ctx_t *ctx, const char *email, int64_t *attempt)
{
    int64_t now = pl_now_ms();
    int rc = pl_db_begin(db);
    if (rc)
        return rc;
    rc = pl_db_lock(db, pl_arena_printf(ctx->arena, "signin:%s", ctx->ip ? ctx->ip : ""));
    if (!rc)
        rc = decide(db, ctx, email, now);
    if (!rc)
        rc = pl_store_attempt_reserve(db, email ? email : "", ctx->ip ? ctx->ip : "", now, attempt);
    if (!rc) /* the failure stays counted when the request then fails */
        pl_db_keep_on_error(db);
    return pl_db_finish(db, rc);
}

int pl_auth_attempt_settle(pl_db_t *db, int64_t attempt, bool void_it)
{
    return pl_store_attempt_settle(db, attempt, void_it);
}

/* Settles an attempt in a transaction of its own. */
static int settle_alone(pl_db_t *db, int64_t attempt, bool void_it)
{
    int rc = pl_db_begin(db);
    return rc ? rc : pl_db_finish(db, pl_store_attempt_settle(db, attempt, void_it));
}

int pl_auth_audit_login(pl_db_t *db, pl_ctx_t *ctx, const pl_user_t *u, const char *method,
                        bool mfa)
{
    json_t *d = json_pack("{s:s, s:b}", "method", method, "mfa", mfa);
    int rc = pl_audit_append(db, ctx, NULL, "user.logged_in", "user", u->id, d);
    json_decref(d);
    return rc;
}

int pl_auth_signin_failed(pl_db_t *db, pl_ctx_t *ctx, const char *email, const char *user_id,
                          const char *method, const char *reason, int64_t attempt)
{
    int rc = pl_db_begin(db);
    if (rc)
        return rc;
    /* an unknown account counts toward the client IP's limit alone; an
     * attempt begun with pl_auth_attempt_begin is counted already */
    if (!attempt)
        rc = pl_store_attempt_insert(db, email ? email : "", ctx->ip, false, pl_now_ms());
    if (!rc && user_id) { /* unknown accounts have nobody to tell */
        json_t *d = json_pack("{s:s}", "method", method);
        if (reason)
            json_object_set_new(d, "reason", json_string(reason));
        rc = pl_audit_append(db, ctx, NULL, "user.login_failed", "user", user_id, d);
        json_decref(d);
    }
    if ((rc = pl_db_finish(db, rc)))
        return rc;
    pl_auth_count("failure");
    return PL_OK;
}

static pl_auth_signin_hook_fn signin_hook;

void pl_auth_set_signin_hook(pl_auth_signin_hook_fn fn)
{
    signin_hook = fn;
}

int pl_auth_signin_complete(pl_db_t *db, pl_ctx_t *ctx, const pl_user_t *u, const char *method,
                            bool two_factors, int64_t attempt, pl_auth_login_t *out)
{
    memset(out, 0, sizeof(*out));
    if (u->disabled) {
        if (attempt) /* not a sign-in: as before it began */
            settle_alone(db, attempt, true);
        pl_auth_count("disabled");
        return pl_fail(ctx, 403, "account_disabled", "This account is disabled.");
    }
    if (signin_hook) {
        int rc = signin_hook(db, ctx, u, method);
        if (rc) {
            if (attempt) /* refused by policy, not a wrong secret */
                settle_alone(db, attempt, true);
            return rc;
        }
    }
    /* the one way to a session: with two-factor on, only a challenge comes
     * back unless the proof was two factors already, and pl_auth_login_mfa
     * finishes the sign-in (the first step alone is neither a failure nor a
     * success) */
    if (u->mfa_enabled && !two_factors) {
        int rc = attempt ? settle_alone(db, attempt, true) : PL_OK;
        if (rc)
            return rc;
        out->mfa_required = true;
        return pl_auth_mfa_challenge(db, ctx, u, method, out->mfa_token);
    }
    int rc = pl_db_begin(db);
    if (rc)
        return rc;
    rc = attempt ? pl_store_attempt_settle(db, attempt, false)
                 : pl_store_attempt_insert(db, u->email, ctx->ip, true, pl_now_ms());
    if (!rc)
        rc = pl_auth_issue_session(db, ctx, u, &out->tokens);
    if (!rc)
        rc = pl_auth_audit_login(db, ctx, u, method, two_factors);
    if ((rc = pl_db_finish(db, rc))) {
        pl_memzero(out, sizeof(*out));
        return rc;
    }
    pl_auth_count("success");
    return PL_OK;
}

/* ---- the password step of sign-in ---- */

int pl_auth_login(pl_db_t *db, pl_ctx_t *ctx, const char *email_in, const char *password,
                  pl_auth_login_t *out)
{
    const char *email = NULL;
    if (pl_auth_check_email(ctx, "email", email_in, &email))
        return PL_EINVAL;
    int64_t attempt = 0;
    int rc = pl_auth_attempt_begin(db, ctx, email, &attempt);
    if (rc)
        return rc;
    pl_user_t u;
    rc = pl_store_user_by_email(db, ctx->arena, email, &u);
    if (rc && rc != PL_ENOTFOUND)
        return rc;
    bool found = rc == PL_OK;
    /* unknown emails are checked against a dummy hash: the same time */
    if (!pl_password_verify(found ? u.password_hash : NULL, password, strlen(password))) {
        if ((rc = pl_auth_signin_failed(db, ctx, email, found ? u.id : NULL, "password", NULL,
                                        attempt)))
            return rc;
        return pl_fail(ctx, 401, "invalid_credentials", "The email or password is wrong.");
    }
    if (!u.disabled && pl_password_needs_rehash(u.password_hash)) {
        char hash[PL_PASSWORD_HASH_MAX];
        if (pl_password_hash(password, strlen(password), hash) == PL_OK &&
            pl_db_begin(db) == PL_OK) /* best effort: the old hash still works */
            pl_db_finish(db, pl_store_user_set_password(db, u.id, hash, pl_now_ms()));
    }
    return pl_auth_signin_complete(db, ctx, &u, "password", false, attempt, out);
}

/* ---- profiles ---- */

int pl_auth_user_get(pl_db_t *db, pl_ctx_t *ctx, const char *user_id, pl_user_t *out)
{
    int rc = pl_store_user_by_id(db, ctx->arena, user_id, out);
    if (!rc)
        pl_auth_public_user(out);
    return rc;
}

int pl_auth_user_by_email(pl_db_t *db, pl_ctx_t *ctx, const char *email, pl_user_t *out)
{
    int rc = pl_store_user_by_email(db, ctx->arena, email, out);
    if (!rc)
        pl_auth_public_user(out);
    return rc;
}

int pl_auth_user_orgs(pl_db_t *db, pl_ctx_t *ctx, void (*fn)(void *arg, const pl_auth_org_t *o),
                      void *arg)
{
    int rc = pl_auth_need_user(ctx);
    return rc ? rc : pl_store_user_orgs(db, ctx->principal.user_id, fn, arg);
}

int pl_auth_profile_update(pl_db_t *db, pl_ctx_t *ctx, const char *name, const char *locale,
                           pl_user_t *out)
{
    int rc = pl_auth_need_user(ctx);
    if (rc)
        return rc;
    const char *user_id = ctx->principal.user_id;
    if (name && check_name(ctx, "name", name))
        return PL_EINVAL;
    if (locale && locale[0] && check_locale(ctx, "locale", locale, &locale))
        return PL_EINVAL;
    if (!name && !locale)
        return pl_auth_user_get(db, ctx, user_id, out);
    if ((rc = pl_db_begin(db)))
        return rc;
    int64_t now = pl_now_ms();
    json_t *d = json_object();
    if (name) {
        rc = pl_store_user_set_name(db, user_id, name, now);
        json_object_set_new(d, "name", json_string(name));
    }
    if (!rc && locale) {
        rc = pl_store_user_set_locale(db, user_id, locale[0] ? locale : NULL, now);
        json_object_set_new(d, "locale", locale[0] ? json_string(locale) : json_null());
    }
    if (!rc)
        rc = pl_audit_append(db, ctx, NULL, "user.updated", "user", user_id, d);
    json_decref(d);
    if ((rc = pl_db_finish(db, rc)))
        return rc;
    return pl_auth_user_get(db, ctx, user_id, out);
}

int pl_auth_password_change(pl_db_t *db, pl_ctx_t *ctx, const char *current,
                            const char *new_password)
{
    int rc = pl_auth_need_user(ctx);
    if (rc)
        return rc;
    pl_user_t u;
    if ((rc = pl_store_user_by_id(db, ctx->arena, ctx->principal.user_id, &u)))
        return rc;
    /* a wrong current password counts as a failed sign-in */
    int64_t attempt = 0;
    if ((rc = pl_auth_attempt_begin(db, ctx, u.email, &attempt)))
        return rc;
    if (!pl_password_verify(u.password_hash, current, strlen(current))) {
        pl_auth_count("failure");
        pl_field_error(ctx, "current_password", "incorrect", "The current password is wrong.");
        return PL_EINVAL;
    }
    char hash[PL_AUTH_PASSWORD_HASH_MAX];
    if ((rc = pl_auth_hash_password(ctx, "new_password", new_password, u.email, hash))) {
        settle_alone(db, attempt, false); /* the current password was right */
        return rc;
    }
    if ((rc = pl_db_begin(db)))
        return rc;
    int64_t now = pl_now_ms();
    rc = pl_store_attempt_settle(db, attempt, false);
    if (!rc)
        rc = pl_store_user_set_password(db, u.id, hash, now);
    if (!rc)
        rc = pl_store_sessions_revoke_all(db, u.id, ctx->principal.session_id, "password_changed",
                                          now);
    if (!rc)
        rc = pl_audit_append(db, ctx, NULL, "user.password_changed", "user", u.id, NULL);
    if (!rc) {
        json_t *vars = json_pack("{s:s, s:s?}", "name", u.name, "locale", u.locale);
        rc = pl_mail_enqueue(db, "password_changed", u.email, vars);
        json_decref(vars);
    }
    pl_memzero(hash, sizeof(hash));
    return pl_db_finish(db, rc);
}

int pl_auth_mark_email_verified(pl_db_t *db, pl_ctx_t *ctx, const char *user_id, const char *email)
{
    PL_UNUSED(ctx);
    int rc = pl_db_begin(db);
    if (rc)
        return rc;
    return pl_db_finish(db, pl_store_user_set_verified(db, user_id, email, pl_now_ms()));
}
