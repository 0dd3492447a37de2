/* mfa.c - TOTP two-factor sign-in (RFC 6238 with liboath: SHA-1, 6 digits,
 * 30 s, +-1 step), recovery codes, and the second step of sign-in. The TOTP
 * secret is sealed at rest under the instance data key (platform/keys),
 * bound to "totp/<user id>"; a code is accepted at most once per user (the
 * last used time step is kept); recovery codes are single use. */
#include <ctype.h>
#include <liboath/oath.h>
#include <qrencode.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth_int.h"
#include "auth/password.h"
#include "core/crypto.h"
#include "core/keyring.h"
#include "core/rows.h"
#include "platform/keys/keys.h"
#include "platform/audit/audit.h"
#include "platform/mail/mail.h"

#define SECRET_BYTES           20
#define CHALLENGE_TTL_MS       (5 * 60 * 1000)
#define CHALLENGE_MAX_FAILURES 5

/* ---- TOTP ---- */

/* Checks code against the secret at now, within +-1 step, and returns the
 * matched time step (>= 0), or -1. */
static int64_t totp_step(const unsigned char *secret, size_t n, const char *code, int64_t now_s)
{
    if (strlen(code) != 6)
        return -1;
    for (int i = 0; i < 6; i++)
        if (!isdigit((unsigned char)code[i]))
            return -1;
    int pos = 0;
    uint64_t counter = 0;
    int rc = oath_totp_validate4((const char *)secret, n, (time_t)now_s,
                                 OATH_TOTP_DEFAULT_TIME_STEP_SIZE, 0, 1, &pos, &counter, 0, code);
    return rc >= 0 ? (int64_t)counter : -1;
}

/* The associated data a user's TOTP seed is sealed with. */
static void totp_ad(const char *user_id, char out[64])
{
    snprintf(out, 64, "totp/%s", user_id);
}

static int open_secret(pl_db_t *db, pl_arena_t *a, const pl_totp_row_t *row, const char *user_id,
                       unsigned char out[64], size_t *n)
{
    long len = -1;
    if (pl_keys_is_legacy(row->secret_sealed)) {
        /* sealed under the master key before data keys existed (re-sealed
         * at start; a row an older instance wrote since still opens) */
        len = pl_keyring_open(row->secret_sealed, user_id, out, 64);
    } else {
        char ad[64], *plain = NULL;
        size_t pn = 0;
        totp_ad(user_id, ad);
        int rc = pl_keys_open(db, a, NULL, row->secret_sealed, ad, &plain, &pn);
        if (rc == PL_EDB)
            return rc;
        if (!rc && pn <= 64) {
            memcpy(out, plain, pn);
            len = (long)pn;
        }
        if (plain)
            pl_memzero(plain, pn);
    }
    if (len < 0) {
        pl_log("error", "mfa: the TOTP secret of %s cannot be opened (wrong master key?)", user_id);
        return PL_EINTERNAL;
    }
    *n = (size_t)len;
    return PL_OK;
}

int pl_auth_mfa_upgrade_seals(pl_db_t *db)
{
    pl_arena_t *a = pl_arena_create();
    pl_rows_t rows;
    pl_rows_init(&rows, a, sizeof(pl_totp_sealed_t), 0);
    int rc = pl_db_begin(db);
    if (!rc)
        rc = pl_store_totp_legacy(db, a, &rows);
    for (int i = 0; !rc && i < rows.n; i++) {
        const pl_totp_sealed_t *t = pl_rows_at(&rows, i);
        char ad[64], *box = NULL;
        totp_ad(t->user_id, ad);
        rc = pl_keys_reseal_legacy(db, a, NULL, t->sealed, t->user_id, ad, &box);
        if (!rc)
            rc = pl_store_totp_reseal(db, t->user_id, t->sealed, box);
    }
    rc = pl_db_finish(db, rc);
    if (!rc && rows.n)
        pl_log("info", "mfa: %d TOTP secrets moved under the instance data key", rows.n);
    pl_arena_destroy(a);
    return rc;
}

int pl_auth_mfa_check_seals(pl_db_t *db, pl_keys_check_t *chk)
{
    pl_arena_t *a = pl_arena_create();
    pl_rows_t rows;
    pl_rows_init(&rows, a, sizeof(pl_totp_sealed_t), 0);
    int rc = pl_store_totp_all(db, a, &rows);
    for (int i = 0; !rc && i < rows.n; i++) {
        const pl_totp_sealed_t *t = pl_rows_at(&rows, i);
        char ad[64];
        totp_ad(t->user_id, ad);
        rc = pl_keys_check_box(chk, NULL, t->sealed, ad, t->user_id,
                               pl_arena_printf(a, "the TOTP secret of user %s", t->user_id));
    }
    pl_arena_destroy(a);
    return rc;
}

/* A fresh TOTP code for an enabled user: the step must be newer than the last
 * accepted one, so a code is never accepted twice. PL_EINVAL when wrong. */
static int use_totp(pl_db_t *db, pl_arena_t *a, const char *user_id, const char *code)
{
    pl_totp_row_t row;
    int rc = pl_store_totp_get(db, a, user_id, &row);
    if (rc == PL_ENOTFOUND || (!rc && !row.enabled_at))
        return PL_EINVAL;
    if (rc)
        return rc;
    unsigned char secret[64];
    size_t n = 0;
    if ((rc = open_secret(db, a, &row, user_id, secret, &n)))
        return rc;
    int64_t step = totp_step(secret, n, code, pl_now_ms() / 1000);
    pl_memzero(secret, sizeof(secret));
    if (step < 0)
        return PL_EINVAL;
    rc = pl_store_totp_use_step(db, user_id, step, pl_now_ms());
    return rc < 0 ? rc : rc == 1 ? PL_OK : PL_EINVAL;
}

bool pl_auth_recovery_hash(const char *code, char out[65])
{
    char norm[32];
    size_t k = 0;
    for (const char *p = code; *p; p++) {
        if (*p == '-' || *p == ' ')
            continue;
        if (k >= sizeof(norm) - 1)
            return false;
        norm[k++] = (char)tolower((unsigned char)*p);
    }
    norm[k] = '\0';
    if (k != 10)
        return false;
    pl_sha256_hex(norm, k, out);
    pl_memzero(norm, sizeof(norm));
    return true;
}

/* A TOTP code or an unused recovery code of user. PL_EINVAL when neither. */
static int use_second_factor(pl_db_t *db, pl_arena_t *a, const char *user_id, const char *code)
{
    int rc = use_totp(db, a, user_id, code);
    if (rc != PL_EINVAL)
        return rc;
    char hash[65];
    if (!pl_auth_recovery_hash(code, hash))
        return PL_EINVAL;
    rc = pl_store_recovery_use(db, user_id, hash, pl_now_ms());
    return rc == PL_ENOTFOUND ? PL_EINVAL : rc;
}

/* New recovery codes ("xxxxx-xxxxx"), stored hashed; the old ones void. */
static int new_recovery_codes(pl_db_t *db, const char *user_id, pl_auth_recovery_codes_t *out)
{
    static const char alphabet[] = "abcdefghjkmnpqrstuvwxyz23456789";
    char hashes[PL_AUTH_RECOVERY_CODES][65];
    for (int i = 0; i < PL_AUTH_RECOVERY_CODES; i++) {
        unsigned char rnd[10];
        char *code = out->codes[i];
        pl_random_bytes(rnd, sizeof(rnd));
        for (int k = 0, j = 0; k < 10; k++) {
            if (k == 5)
                code[j++] = '-';
            code[j++] = alphabet[rnd[k] % (sizeof(alphabet) - 1)];
        }
        code[11] = '\0';
        pl_auth_recovery_hash(code, hashes[i]);
    }
    int rc = pl_store_recovery_replace(db, user_id, hashes, PL_AUTH_RECOVERY_CODES, pl_now_ms());
    if (rc)
        pl_memzero(out, sizeof(*out));
    return rc;
}

/* ---- QR code ---- */

static char *qr_svg(pl_arena_t *a, const char *text)
{
    QRcode *qr = QRcode_encodeString(text, 0, QR_ECLEVEL_M, QR_MODE_8, 1);
    if (!qr)
        return NULL;
    const int border = 4, size = qr->width + 2 * border;
    pl_buf_t b;
    pl_buf_init(&b, 512 * 1024);
    pl_buf_appendf(&b,
                   "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %d %d\" "
                   "shape-rendering=\"crispEdges\"><rect width=\"%d\" height=\"%d\" "
                   "fill=\"#fff\"/><path fill=\"#000\" d=\"",
                   size, size, size, size);
    for (int y = 0; y < qr->width; y++)
        for (int x = 0; x < qr->width; x++)
            if (qr->data[y * qr->width + x] & 1)
                pl_buf_appendf(&b, "M%d %dh1v1h-1z", x + border, y + border);
    pl_buf_append(&b, "\"/></svg>", 9);
    QRcode_free(qr);
    char *out = b.ptr ? pl_arena_strndup(a, b.ptr, b.len) : NULL;
    pl_buf_free(&b);
    return out;
}

/* RFC 3986 escaping for the otpauth label and issuer. */
static char *uri_escape(pl_arena_t *a, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(s);
    char *out = pl_arena_alloc(a, 3 * n + 1);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || c == '@') {
            out[k++] = (char)c;
        } else {
            out[k++] = '%';
            out[k++] = hex[c >> 4];
            out[k++] = hex[c & 15];
        }
    }
    out[k] = '\0';
    return out;
}

/* ---- the caller's two-factor settings ---- */

static int code_incorrect(pl_ctx_t *ctx)
{
    pl_field_error(ctx, "code", "incorrect", "The code is wrong or was already used.");
    return PL_EINVAL;
}

static int already_on(pl_ctx_t *ctx)
{
    return pl_fail(ctx, 409, "mfa_already_enabled", "Two-factor sign-in is already on.");
}

static int not_on(pl_ctx_t *ctx)
{
    return pl_fail(ctx, 409, "conflict", "Two-factor sign-in is not on.");
}

int pl_auth_mfa_setup(pl_db_t *db, pl_ctx_t *ctx, pl_auth_totp_setup_t *out)
{
    int rc = pl_auth_need_user(ctx);
    if (rc)
        return rc;
    const pl_principal_t *p = &ctx->principal;
    if (p->mfa_enabled)
        return already_on(ctx);
    unsigned char secret[SECRET_BYTES];
    pl_random_bytes(secret, sizeof(secret));
    char *b32 = NULL;
    size_t b32len = 0;
    if (oath_base32_encode((const char *)secret, sizeof(secret), &b32, &b32len) != OATH_OK) {
        pl_memzero(secret, sizeof(secret));
        return PL_EINTERNAL;
    }
    char *secret_text = pl_arena_strndup(ctx->arena, b32, b32len);
    pl_memzero(b32, b32len);
    free(b32);
    char ad[64], *sealed = NULL;
    totp_ad(p->user_id, ad);
    if (!(rc = pl_db_begin(db))) {
        rc = pl_keys_seal(db, ctx->arena, NULL, secret, sizeof(secret), ad, &sealed);
        if (!rc)
            rc = pl_store_totp_put_pending(db, p->user_id, sealed, pl_now_ms());
        rc = pl_db_finish(db, rc);
    }
    pl_memzero(secret, sizeof(secret));
    if (rc)
        return rc;
    const char *issuer = uri_escape(ctx->arena, pl_auth_cfg.mfa_issuer);
    out->secret = secret_text;
    out->otpauth_uri = pl_arena_printf(
        ctx->arena, "otpauth://totp/%s:%s?secret=%s&issuer=%s&algorithm=SHA1&digits=6&period=30",
        issuer, uri_escape(ctx->arena, p->email ? p->email : ""), secret_text, issuer);
    out->qr_svg = qr_svg(ctx->arena, out->otpauth_uri);
    return out->qr_svg ? PL_OK : PL_EINTERNAL;
}

/* Mails the caller a notice of a two-factor change. */
static int send_notice(pl_db_t *db, pl_ctx_t *ctx, const char *template_name)
{
    const pl_principal_t *p = &ctx->principal;
    json_t *vars = json_pack("{s:s, s:s?}", "name", p->name ? p->name : "", "locale", p->locale);
    int rc = pl_mail_enqueue(db, template_name, p->email, vars);
    json_decref(vars);
    return rc;
}

int pl_auth_mfa_enable(pl_db_t *db, pl_ctx_t *ctx, const char *code, pl_auth_recovery_codes_t *out)
{
    int rc = pl_auth_need_user(ctx);
    if (rc)
        return rc;
    const char *user_id = ctx->principal.user_id;
    if (ctx->principal.mfa_enabled)
        return already_on(ctx);
    /* a wrong code counts as a failed sign-in */
    int64_t attempt = 0;
    if ((rc = pl_auth_attempt_begin(db, ctx, ctx->principal.email, &attempt)))
        return rc;
    if ((rc = pl_db_begin(db)))
        return rc;
    pl_totp_row_t row;
    unsigned char secret[64];
    size_t n = 0;
    int64_t step = -1;
    rc = pl_store_totp_get(db, ctx->arena, user_id, &row);
    if (rc == PL_ENOTFOUND) { /* no code was checked: no attempt */
        if ((rc = pl_db_finish(db, pl_auth_attempt_settle(db, attempt, true))))
            return rc;
        return pl_fail(ctx, 409, "conflict", "Start with POST /v1/me/mfa/totp/setup.");
    }
    if (!rc && !(rc = open_secret(db, ctx->arena, &row, user_id, secret, &n))) {
        step = totp_step(secret, n, code, pl_now_ms() / 1000);
        pl_memzero(secret, sizeof(secret));
        if (step < 0) {
            /* nothing written: ending well keeps the failed attempt when
             * this joins the request's transaction */
            if ((rc = pl_db_finish(db, PL_OK)))
                return rc;
            return code_incorrect(ctx);
        }
    }
    int64_t now = pl_now_ms();
    if (!rc)
        rc = pl_auth_attempt_settle(db, attempt, false);
    if (!rc)
        rc = pl_store_totp_enable(db, user_id, step, now);
    if (!rc)
        rc = pl_store_user_set_mfa(db, user_id, true, now);
    if (!rc)
        rc = new_recovery_codes(db, user_id, out);
    if (!rc)
        rc = send_notice(db, ctx, "mfa_enabled");
    if (!rc)
        rc = pl_audit_append(db, ctx, NULL, "user.mfa_enabled", "user", user_id, NULL);
    if ((rc = pl_db_finish(db, rc)))
        pl_memzero(out, sizeof(*out));
    return rc;
}

/* Checks the caller's password for the two-factor settings: 422 on field
 * "password" when wrong. The check is an attempt of the sign-in throttles
 * (*attempt), a failure unless the caller settles it. */
#define RECENT_SIGNIN_MS (10LL * 60 * 1000)

typedef struct {
    const char *session_id;
    int64_t created_at;
} session_find_t;

static void find_session(void *arg, const pl_session_t *s)
{
    session_find_t *f = arg;
    if (!strcmp(s->id, f->session_id))
        f->created_at = s->created_at;
}

/* An account without a password (made by an identity provider) confirms
 * with a recent sign-in: the caller's session began within 10 minutes. */
static int check_recent_signin(pl_db_t *db, pl_ctx_t *ctx)
{
    session_find_t f = {ctx->principal.session_id, 0};
    int64_t now = pl_now_ms();
    int rc = f.session_id[0] ? pl_store_sessions_live(db, ctx->arena, ctx->principal.user_id, now,
                                                      find_session, &f)
                             : PL_OK;
    if (rc)
        return rc;
    if (!f.created_at || now - f.created_at > RECENT_SIGNIN_MS) {
        pl_field_error(ctx, "password", "required",
                       "This account has no password: sign in again, then confirm within 10 "
                       "minutes.");
        return PL_EINVAL;
    }
    return PL_OK;
}

static int check_password(pl_db_t *db, pl_ctx_t *ctx, const char *password, int64_t *attempt)
{
    pl_user_t u;
    int rc = pl_store_user_by_id(db, ctx->arena, ctx->principal.user_id, &u);
    if (rc)
        return rc;
    if (!u.password_hash || !u.password_hash[0])
        return check_recent_signin(db, ctx);
    if (!password) {
        pl_field_error(ctx, "password", "required", "Give the account's password.");
        return PL_EINVAL;
    }
    if ((rc = pl_auth_attempt_begin(db, ctx, u.email, attempt)))
        return rc;
    if (!pl_password_verify(u.password_hash, password, strlen(password))) {
        pl_auth_count("failure");
        pl_field_error(ctx, "password", "incorrect", "The password is wrong.");
        return PL_EINVAL;
    }
    return PL_OK;
}

int pl_auth_confirm(pl_db_t *db, pl_ctx_t *ctx, const char *password, const char *code)
{
    int rc = pl_auth_need_user(ctx);
    if (rc)
        return rc;
    int64_t attempt = 0;
    if ((rc = check_password(db, ctx, password, &attempt)))
        return rc;
    bool mfa = ctx->principal.mfa_enabled, no_code = mfa && (!code || !*code);
    if ((rc = pl_db_begin(db)))
        return rc;
    if (no_code) { /* the password was right: that was no attempt */
        if ((rc = pl_db_finish(db, pl_auth_attempt_settle(db, attempt, true))))
            return rc;
        pl_field_error(ctx, "code", "required", "Two-factor sign-in is on: give a current code.");
        return PL_EINVAL;
    }
    if (mfa && (rc = use_second_factor(db, ctx->arena, ctx->principal.user_id, code)) ==
                   PL_EINVAL) { /* nothing written: keep the failed attempt */
        if ((rc = pl_db_finish(db, PL_OK)))
            return rc;
        return code_incorrect(ctx);
    }
    if (!rc)
        rc = pl_auth_attempt_settle(db, attempt, false);
    return pl_db_finish(db, rc);
}

int pl_auth_mfa_disable(pl_db_t *db, pl_ctx_t *ctx, const char *password, const char *code)
{
    int rc = pl_auth_need_user(ctx);
    if (rc)
        return rc;
    const char *user_id = ctx->principal.user_id;
    if (!ctx->principal.mfa_enabled)
        return not_on(ctx);
    int64_t attempt = 0;
    if ((rc = check_password(db, ctx, password, &attempt)) || (rc = pl_db_begin(db)))
        return rc;
    rc = use_second_factor(db, ctx->arena, user_id, code);
    if (rc == PL_EINVAL) { /* nothing written: keep the failed attempt */
        if ((rc = pl_db_finish(db, PL_OK)))
            return rc;
        return code_incorrect(ctx);
    }
    int64_t now = pl_now_ms();
    if (!rc)
        rc = pl_auth_attempt_settle(db, attempt, false);
    if (!rc)
        rc = pl_store_totp_delete(db, user_id);
    if (!rc)
        rc = pl_store_recovery_replace(db, user_id, NULL, 0, now);
    if (!rc)
        rc = pl_store_user_set_mfa(db, user_id, false, now);
    if (!rc)
        rc = send_notice(db, ctx, "mfa_disabled");
    if (!rc)
        rc = pl_audit_append(db, ctx, NULL, "user.mfa_disabled", "user", user_id, NULL);
    return pl_db_finish(db, rc);
}

int pl_auth_mfa_recovery_codes(pl_db_t *db, pl_ctx_t *ctx, const char *password,
                               pl_auth_recovery_codes_t *out)
{
    int rc = pl_auth_need_user(ctx);
    if (rc)
        return rc;
    const char *user_id = ctx->principal.user_id;
    if (!ctx->principal.mfa_enabled)
        return not_on(ctx);
    int64_t attempt = 0;
    if ((rc = check_password(db, ctx, password, &attempt)) || (rc = pl_db_begin(db)))
        return rc;
    rc = pl_auth_attempt_settle(db, attempt, false);
    if (!rc)
        rc = new_recovery_codes(db, user_id, out);
    if (!rc)
        rc = pl_audit_append(db, ctx, NULL, "user.recovery_codes_regenerated", "user", user_id,
                             NULL);
    if ((rc = pl_db_finish(db, rc)))
        pl_memzero(out, sizeof(*out));
    return rc;
}

/* ---- the second step of sign-in ---- */

int pl_auth_mfa_challenge(pl_db_t *db, pl_ctx_t *ctx, const pl_user_t *u, const char *method,
                          char token[PL_AUTH_TOKEN_LEN])
{
    PL_UNUSED(ctx);
    char hash[65];
    pl_token_new(32, token, PL_AUTH_TOKEN_LEN);
    pl_sha256_hex(token, strlen(token), hash);
    int64_t now = pl_now_ms();
    int rc = pl_db_begin(db);
    if (!rc)
        rc = pl_db_finish(
            db, pl_store_challenge_insert(db, hash, u->id, method, now + CHALLENGE_TTL_MS, now));
    if (rc)
        pl_memzero(token, PL_AUTH_TOKEN_LEN);
    return rc;
}

static int step_expired(pl_ctx_t *ctx)
{
    return pl_fail(ctx, 401, "invalid_token", "The sign-in step expired; start again.");
}

int pl_auth_login_mfa(pl_db_t *db, pl_ctx_t *ctx, const char *mfa_token, const char *code,
                      pl_auth_tokens_t *out)
{
    char hash[65];
    pl_sha256_hex(mfa_token, strlen(mfa_token), hash);
    const char *user_id = NULL, *method = NULL;
    pl_user_t u;
    int64_t now = pl_now_ms(), attempt = 0;
    /* One step before the code is checked: one of the challenge's attempts
     * is taken, and the sign-in throttles, which guard this step too, count
     * it; so concurrent codes against one challenge are checked at most
     * CHALLENGE_MAX_FAILURES times. */
    int rc = pl_db_begin(db);
    if (rc)
        return rc;
    rc = pl_store_challenge_take(db, ctx->arena, hash, now, CHALLENGE_MAX_FAILURES, &user_id,
                                 &method);
    if (rc == PL_ENOTFOUND) {
        pl_db_rollback(db);
        return step_expired(ctx);
    }
    if (!rc)
        rc = pl_store_user_by_id(db, ctx->arena, user_id, &u);
    if (!rc)
        rc = pl_auth_attempt_begin(db, ctx, u.email, &attempt);
    if ((rc = pl_db_finish(db, rc)))
        return rc;

    if ((rc = pl_db_begin(db)))
        return rc;
    rc = use_second_factor(db, ctx->arena, u.id, code);
    if (rc == PL_EINVAL) { /* the attempt stays a failure; the challenge's too */
        rc = pl_auth_signin_failed(db, ctx, u.email, u.id, method, "invalid_mfa_code", attempt);
        if ((rc = pl_db_finish(db, rc)))
            return rc;
        return pl_fail(ctx, 401, "invalid_mfa_code", "The code is wrong or was already used.");
    }
    if (!rc && u.disabled)
        rc = pl_fail(ctx, 403, "account_disabled", "This account is disabled.");
    if (!rc && pl_store_challenge_use(db, hash, now) != 1)
        rc = step_expired(ctx);
    pl_auth_login_t done;
    if (!rc)
        rc = pl_auth_signin_complete(db, ctx, &u, method, true, attempt, &done);
    if ((rc = pl_db_finish(db, rc))) {
        pl_memzero(&done, sizeof(done));
        return rc;
    }
    *out = done.tokens;
    pl_memzero(&done, sizeof(done));
    return PL_OK;
}
