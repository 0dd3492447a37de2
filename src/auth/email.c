/* email.c - email verification and password reset: single-use tokens
 * stored as SHA-256, mailed through the job queue in the same transaction. */
#include <stdio.h>
#include <string.h>

#include "auth/auth_int.h"
#include "auth/password.h"
#include "core/crypto.h"
#include "platform/audit/audit.h"
#include "platform/mail/mail.h"

#define VERIFY_TTL_MS      (24LL * 3600 * 1000)
#define RESET_TTL_MS       (3600LL * 1000)
#define RESEND_INTERVAL_MS (60LL * 1000) /* one email per purpose and user per minute */

/* Issues a token of purpose for u and queues its email, inside the caller's
 * write transaction. */
static int issue_token(pl_db_t *db, pl_ctx_t *ctx, const pl_user_t *u, const char *purpose)
{
    bool verify = !strcmp(purpose, "verify_email");
    char token[PL_AUTH_TOKEN_LEN], hash[65];
    pl_token_new(32, token, sizeof(token));
    pl_sha256_hex(token, strlen(token), hash);
    int64_t now = pl_now_ms();
    int rc = pl_store_email_token_insert(db, hash, u->id, purpose, u->email,
                                         now + (verify ? VERIFY_TTL_MS : RESET_TTL_MS), now);
    if (rc == PL_OK) {
        const char *link =
            pl_mail_link(ctx->arena, verify ? "/verify-email" : "/reset-password", token);
        json_t *vars =
            json_pack("{s:s, s:s, s:s?}", "name", u->name, "link", link, "locale", u->locale);
        rc = pl_mail_enqueue(db, verify ? "verify_email" : "password_reset", u->email, vars);
        json_decref(vars);
    }
    pl_memzero(token, sizeof(token));
    return rc;
}

int pl_auth_send_verification(pl_db_t *db, pl_ctx_t *ctx, const pl_user_t *u)
{
    return issue_token(db, ctx, u, "verify_email");
}

/* Sends a token email unless one of the same purpose went out in the last
 * minute (a brake on mail bombing; the caller answers the same either way). */
static int send_throttled(pl_db_t *db, pl_ctx_t *ctx, const pl_user_t *u, const char *purpose)
{
    int rc = pl_db_begin(db);
    if (rc)
        return rc;
    int recent = 0;
    rc =
        pl_store_email_tokens_recent(db, u->id, purpose, pl_now_ms() - RESEND_INTERVAL_MS, &recent);
    if (rc == PL_OK && recent == 0)
        rc = issue_token(db, ctx, u, purpose);
    return pl_db_finish(db, rc);
}

static int invalid_token(pl_ctx_t *ctx)
{
    pl_field_error(ctx, "token", "invalid", "The token is unknown, used or expired.");
    return pl_fail(ctx, 422, "invalid_token", "The token is unknown, used or expired.");
}

int pl_auth_verification_request(pl_db_t *db, pl_ctx_t *ctx)
{
    int rc = pl_auth_need_user(ctx);
    if (rc)
        return rc;
    if ((rc = pl_auth_address_quota(ctx, "verify", pl_auth_cfg.verify_limit)))
        return rc;
    pl_user_t u;
    if ((rc = pl_store_user_by_id(db, ctx->arena, ctx->principal.user_id, &u)))
        return rc;
    return u.email_verified ? PL_OK : send_throttled(db, ctx, &u, "verify_email");
}

static pl_auth_verified_hook_fn verified_hook;

void pl_auth_set_verified_hook(pl_auth_verified_hook_fn fn)
{
    verified_hook = fn;
}

int pl_auth_email_verify(pl_db_t *db, pl_ctx_t *ctx, const char *token)
{
    int rc = pl_auth_address_quota(ctx, "verify", pl_auth_cfg.verify_limit);
    if (rc)
        return rc;
    char hash[65];
    pl_sha256_hex(token, strlen(token), hash);
    rc = pl_db_begin(db);
    if (rc)
        return rc;
    const char *user_id = NULL, *email = NULL;
    int64_t now = pl_now_ms();
    rc = pl_store_email_token_consume(db, ctx->arena, hash, "verify_email", now, &user_id, &email);
    if (rc == PL_OK) /* PL_ENOTFOUND when the account's address changed since */
        rc = pl_store_user_set_verified(db, user_id, email, now);
    if (rc == PL_OK)
        rc = pl_audit_append(db, ctx, NULL, "user.email_verified", "user", user_id, NULL);
    if (rc == PL_OK && verified_hook)
        rc = verified_hook(db, ctx, user_id, email);
    rc = pl_db_finish(db, rc);
    return rc == PL_ENOTFOUND ? invalid_token(ctx) : rc;
}

int pl_auth_password_reset_request(pl_db_t *db, pl_ctx_t *ctx, const char *email_in)
{
    const char *email = NULL;
    if (pl_auth_check_email(ctx, "email", email_in, &email))
        return PL_EINVAL;
    int rc = pl_auth_address_quota(ctx, "reset", pl_auth_cfg.reset_limit);
    if (rc)
        return rc;
    pl_user_t u;
    rc = pl_store_user_by_email(db, ctx->arena, email, &u);
    if (rc == PL_OK)
        rc = send_throttled(db, ctx, &u, "password_reset");
    return rc == PL_ENOTFOUND ? PL_OK : rc; /* the same whether or not the account exists */
}

int pl_auth_password_reset(pl_db_t *db, pl_ctx_t *ctx, const char *token, const char *new_password)
{
    /* the policy without the email first, so a weak password costs no lookup */
    const char *reason = NULL;
    if (pl_password_check(new_password, strlen(new_password), NULL, &reason)) {
        pl_field_error(ctx, "new_password", "weak_password", reason);
        return pl_fail(ctx, 422, "weak_password", reason);
    }
    int rc = pl_auth_address_quota(ctx, "reset", pl_auth_cfg.reset_limit);
    if (rc)
        return rc;
    char hash[65], pw_hash[PL_PASSWORD_HASH_MAX];
    pl_sha256_hex(token, strlen(token), hash);
    const char *user_id = NULL, *email = NULL;
    int64_t now = pl_now_ms();
    /* the token before the hash: a bogus token costs a lookup, not Argon2id
     * (the consume below decides; this only spares the work) */
    rc = pl_store_email_token_live(db, hash, "password_reset", now);
    if (rc)
        return rc == PL_ENOTFOUND ? invalid_token(ctx) : rc;
    if ((rc = pl_auth_password_hash(new_password, pw_hash)))
        return rc;
    if ((rc = pl_db_begin(db)))
        return rc;
    pl_user_t u;
    rc =
        pl_store_email_token_consume(db, ctx->arena, hash, "password_reset", now, &user_id, &email);
    if (rc == PL_OK)
        rc = pl_store_user_by_id(db, ctx->arena, user_id, &u);
    if (rc == PL_OK && strcmp(u.email, email))
        rc = PL_ENOTFOUND; /* issued to an address the account no longer has */
    if (rc == PL_OK && pl_password_check(new_password, strlen(new_password), u.email, &reason)) {
        pl_field_error(ctx, "new_password", "weak_password", reason);
        rc = pl_fail(ctx, 422, "weak_password", reason);
    }
    if (rc == PL_OK)
        rc = pl_store_user_set_password(db, u.id, pw_hash, now);
    if (rc == PL_OK)
        rc = pl_store_email_tokens_void(db, u.id, "password_reset", now);
    if (rc == PL_OK)
        rc = pl_store_sessions_revoke_all(db, u.id, NULL, "password_reset", now);
    if (rc == PL_OK)
        rc = pl_store_attempts_clear_email(db, u.email);
    if (rc == PL_OK)
        rc = pl_audit_append(db, ctx, NULL, "user.password_reset", "user", u.id, NULL);
    if (rc == PL_OK) {
        json_t *vars = json_pack("{s:s, s:s?}", "name", u.name, "locale", u.locale);
        rc = pl_mail_enqueue(db, "password_changed", u.email, vars);
        json_decref(vars);
    }
    pl_memzero(pw_hash, sizeof(pw_hash));
    rc = pl_db_finish(db, rc);
    return rc == PL_ENOTFOUND ? invalid_token(ctx) : rc;
}
