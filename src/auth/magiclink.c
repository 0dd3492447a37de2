/* magiclink.c - sign-in by a link mailed to the account's address: tokens of
 * 32 random bytes stored as SHA-256, 15 minutes, single use, at most 5
 * emails per address and 20 per client IP per hour. The link proves the
 * mailbox, so an unverified address becomes verified. Verifying is a
 * sign-in like any other: throttled, a failure counts against the client IP,
 * and two-factor is still asked (pl_auth_signin_complete). */
#include <string.h>

#include "auth/auth_int.h"
#include "core/crypto.h"
#include "platform/audit/audit.h"
#include "platform/mail/mail.h"

#define MAGIC_TTL_MS    (15LL * 60 * 1000)
#define MAGIC_WINDOW_MS (3600LL * 1000)
#define MAGIC_PER_EMAIL 5
#define MAGIC_PER_IP    20

int pl_auth_magic_link_request(pl_db_t *db, pl_ctx_t *ctx, const char *email_in)
{
    const char *email = NULL;
    if (pl_auth_check_email(ctx, "email", email_in, &email))
        return PL_EINVAL;
    pl_user_t u;
    int rc = pl_store_user_by_email(db, ctx->arena, email, &u);
    if (rc == PL_ENOTFOUND || (rc == PL_OK && u.disabled))
        return PL_OK; /* the same answer whether or not the account exists */
    if (rc)
        return rc;
    if ((rc = pl_db_begin(db)))
        return rc;
    int64_t now = pl_now_ms();
    int by_email = 0, by_ip = 0;
    rc = pl_store_magic_links_sent(db, email, ctx->ip, now - MAGIC_WINDOW_MS, &by_email, &by_ip);
    if (rc || by_email >= MAGIC_PER_EMAIL || by_ip >= MAGIC_PER_IP) {
        if (!rc)
            pl_log("info", "magic link not sent: hourly cap reached (request_id %s)",
                   ctx->request_id ? ctx->request_id : "");
        return pl_db_finish(db, rc);
    }
    char token[PL_AUTH_TOKEN_LEN], hash[65];
    pl_token_new(32, token, sizeof(token));
    pl_sha256_hex(token, strlen(token), hash);
    rc = pl_store_magic_link_insert(db, hash, u.id, email, ctx->ip, now + MAGIC_TTL_MS, now);
    if (!rc) {
        const char *link = pl_mail_link(ctx->arena, "/magic-link", token);
        json_t *vars =
            json_pack("{s:s, s:s, s:s?}", "name", u.name, "link", link, "locale", u.locale);
        rc = pl_mail_enqueue(db, "magic_link", u.email, vars);
        json_decref(vars);
    }
    pl_memzero(token, sizeof(token));
    return pl_db_finish(db, rc);
}

static int invalid_token(pl_ctx_t *ctx)
{
    pl_field_error(ctx, "token", "invalid", "The link is unknown, used or expired.");
    return pl_fail(ctx, 422, "invalid_token", "The link is unknown, used or expired.");
}

int pl_auth_magic_link_verify(pl_db_t *db, pl_ctx_t *ctx, const char *token, pl_auth_login_t *out)
{
    memset(out, 0, sizeof(*out));
    char hash[65];
    pl_sha256_hex(token, strlen(token), hash);
    int64_t now = pl_now_ms();
    const char *user_id = NULL, *email = NULL;
    pl_user_t u;
    int rc = pl_store_magic_link_find(db, ctx->arena, hash, now, &user_id, &email);
    if (rc && rc != PL_ENOTFOUND)
        return rc;
    bool found = rc == PL_OK;
    if (found && (rc = pl_store_user_by_id(db, ctx->arena, user_id, &u)))
        return rc;
    /* an unknown token names no account: the client IP's limit alone; the
     * attempt counts as a failure until it succeeds (atomic across
     * instances) */
    int64_t attempt = 0;
    if ((rc = pl_auth_attempt_begin(db, ctx, found ? u.email : NULL, &attempt)))
        return rc;
    /* a link sent to an address the account no longer has is void */
    if (!found || strcmp(u.email, email) != 0) {
        rc = pl_auth_signin_failed(db, ctx, found ? u.email : NULL, found ? u.id : NULL,
                                   "magic_link", "invalid_token", attempt);
        return rc ? rc : invalid_token(ctx);
    }
    if ((rc = pl_db_begin(db)))
        return rc;
    rc = pl_store_magic_link_use(db, hash, now);
    if (rc == PL_ENOTFOUND) /* spent by a concurrent request */
        rc = invalid_token(ctx);
    if (!rc && !u.email_verified && u.disabled == false) {
        rc = pl_store_user_set_verified(db, u.id, u.email, now);
        if (!rc)
            rc = pl_audit_append(db, ctx, NULL, "user.email_verified", "user", u.id, NULL);
        u.email_verified = true;
    }
    if (!rc)
        rc = pl_auth_signin_complete(db, ctx, &u, "magic_link", false, attempt, out);
    if ((rc = pl_db_finish(db, rc)))
        pl_memzero(out, sizeof(*out));
    return rc;
}
