/* email_routes.c - email verification and password reset: single-use tokens
 * stored as SHA-256, sent through the job queue in the same transaction. */
#include <stdio.h>
#include <string.h>

#include "platform/audit/audit.h"
#include "auth/auth.h"
#include "auth/auth_routes.h"
#include "auth/password.h"
#include "core/crypto.h"
#include "platform/jobs/jobs.h"
#include "platform/mail/mail.h"

#define VERIFY_TTL_MS      (24LL * 3600 * 1000)
#define RESET_TTL_MS       (3600LL * 1000)
#define RESEND_INTERVAL_MS (60LL * 1000) /* one email per purpose and user per minute */

static int accepted(pl_req_t *req)
{
    return pl_resp_json(req, 202, json_pack("{s:s}", "status", "accepted"));
}

/* Issues a token of purpose for user and enqueues its email, inside the
 * caller's write transaction. */
static int issue_token(pl_req_t *req, pl_db_t *db, const pl_user_t *u, const char *purpose)
{
    bool verify = !strcmp(purpose, "verify_email");
    char token[64], hash[65];
    pl_token_new(32, token, sizeof(token));
    pl_sha256_hex(token, strlen(token), hash);
    int64_t now = pl_now_ms();
    int rc = pl_store_email_token_insert(db, hash, u->id, purpose, u->email,
                                         now + (verify ? VERIFY_TTL_MS : RESET_TTL_MS), now);
    if (rc == PL_OK) {
        const char *link =
            pl_mail_link(req->ctx.arena, verify ? "/verify-email" : "/reset-password", token);
        json_t *vars = json_pack("{s:s, s:s}", "name", u->name, "link", link);
        rc = pl_mail_enqueue(db, verify ? "verify_email" : "password_reset", u->email, vars);
        json_decref(vars);
    }
    pl_memzero(token, sizeof(token));
    return rc;
}

int pl_auth_send_verification(pl_req_t *req, pl_db_t *db, const pl_user_t *u)
{
    return issue_token(req, db, u, "verify_email");
}

/* Sends a token email unless one of the same purpose went out in the last
 * minute (a brake on mail bombing; the caller answers 202 either way). */
static int send_throttled(pl_req_t *req, pl_db_t *db, const pl_user_t *u, const char *purpose)
{
    int rc = pl_db_begin(db);
    if (rc)
        return rc;
    int recent = 0;
    rc =
        pl_store_email_tokens_recent(db, u->id, purpose, pl_now_ms() - RESEND_INTERVAL_MS, &recent);
    if (rc == PL_OK && recent == 0)
        rc = issue_token(req, db, u, purpose);
    rc = pl_db_finish(db, rc);
    return rc;
}

int pl_auth_verify_email_request(pl_req_t *req)
{
    pl_db_t *db = pl_db_thread();
    if (!db)
        return PL_EDB;
    pl_user_t u;
    int rc = pl_store_user_by_id(db, req->ctx.arena, req->ctx.principal.user_id, &u);
    if (rc)
        return rc;
    if (!u.email_verified && (rc = send_throttled(req, db, &u, "verify_email")))
        return rc;
    return accepted(req);
}

static int invalid_token(pl_req_t *req)
{
    pl_req_field_error(req, "token", "invalid", "The token is unknown, used or expired.");
    return pl_req_fail(req, 422, "invalid_token", "The token is unknown, used or expired.");
}

int pl_auth_verify_email(pl_req_t *req)
{
    const char *token = NULL;
    if (pl_json_get_string(req, "token", true, 1, 256, &token))
        return PL_EINVAL;
    char hash[65];
    pl_sha256_hex(token, strlen(token), hash);
    pl_db_t *db = pl_db_thread();
    if (!db)
        return PL_EDB;
    int rc = pl_db_begin(db);
    if (rc)
        return rc;
    const char *user_id = NULL, *email = NULL;
    int64_t now = pl_now_ms();
    rc = pl_store_email_token_consume(db, req->ctx.arena, hash, "verify_email", now, &user_id,
                                      &email);
    if (rc == PL_OK)
        rc = pl_store_user_set_verified(db, user_id, email, now);
    if (rc == PL_OK)
        rc = pl_audit_append(db, &req->ctx, NULL, "user.email_verified", "user", user_id, NULL);
    if ((rc = pl_db_finish(db, rc)))
        return rc == PL_ENOTFOUND ? invalid_token(req) : rc;
    return pl_resp_status(req, 204);
}

int pl_auth_password_reset_request(pl_req_t *req)
{
    const char *email_in = NULL, *email = NULL;
    pl_json_get_string(req, "email", true, 1, 320, &email_in);
    if (email_in)
        pl_auth_email(req, "email", email_in, &email);
    if (pl_req_validated(req))
        return PL_EINVAL;
    pl_db_t *db = pl_db_thread();
    if (!db)
        return PL_EDB;
    pl_user_t u;
    int rc = pl_store_user_by_email(db, req->ctx.arena, email, &u);
    if (rc == PL_OK)
        rc = send_throttled(req, db, &u, "password_reset");
    if (rc && rc != PL_ENOTFOUND)
        return rc;
    return accepted(req); /* the same answer whether or not the account exists */
}

int pl_auth_password_reset(pl_req_t *req)
{
    const char *token = NULL, *fresh = NULL;
    pl_json_get_string(req, "token", true, 1, 256, &token);
    pl_json_get_string(req, "new_password", true, 1, 4096, &fresh);
    if (pl_req_validated(req))
        return PL_EINVAL;
    const char *reason = NULL;
    if (pl_password_check(fresh, strlen(fresh), NULL, &reason)) {
        pl_req_field_error(req, "new_password", "weak_password", reason);
        return pl_req_fail(req, 422, "weak_password", reason);
    }
    char hash[65], pw_hash[PL_PASSWORD_HASH_MAX];
    pl_sha256_hex(token, strlen(token), hash);
    if (pl_password_hash(fresh, strlen(fresh), pw_hash))
        return PL_EINTERNAL;
    pl_db_t *db = pl_db_thread();
    if (!db)
        return PL_EDB;
    int rc = pl_db_begin(db);
    if (rc)
        return rc;
    const char *user_id = NULL, *email = NULL;
    int64_t now = pl_now_ms();
    pl_user_t u;
    rc = pl_store_email_token_consume(db, req->ctx.arena, hash, "password_reset", now, &user_id,
                                      &email);
    if (rc == PL_OK)
        rc = pl_store_user_by_id(db, req->ctx.arena, user_id, &u);
    if (rc == PL_OK && strcmp(u.email, email))
        rc = PL_ENOTFOUND; /* issued to an address the account no longer has */
    if (rc == PL_OK && pl_password_check(fresh, strlen(fresh), u.email, &reason)) {
        pl_db_rollback(db);
        pl_req_field_error(req, "new_password", "weak_password", reason);
        return pl_req_fail(req, 422, "weak_password", reason);
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
        rc = pl_audit_append(db, &req->ctx, NULL, "user.password_reset", "user", u.id, NULL);
    if (rc == PL_OK) {
        json_t *vars = json_pack("{s:s}", "name", u.name);
        rc = pl_mail_enqueue(db, "password_changed", u.email, vars);
        json_decref(vars);
    }
    if ((rc = pl_db_finish(db, rc)))
        return rc == PL_ENOTFOUND ? invalid_token(req) : rc;
    return pl_resp_status(req, 204);
}
