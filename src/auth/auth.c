/* auth.c - signing keys, the per-request token check, and sessions: issuing,
 * refreshing (rotation with reuse detection), ending and listing them, and
 * their maintenance. */
#include <liboath/oath.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth_int.h"
#include "auth/jwt.h"
#include "auth/password.h"
#include "core/config.h"
#include "core/crypto.h"
#include "core/keyring.h"
#include "core/metrics.h"
#include "db/db.h"
#include "platform/audit/audit.h"
#include "platform/jobs/jobs.h"

#define TOUCH_INTERVAL_MS (60 * 1000)

_Static_assert(PL_AUTH_ACCESS_TOKEN_MAX >= PL_JWT_MAX, "an access token fits its buffer");
_Static_assert(PL_AUTH_KID_MAX == PL_JWT_KID_MAX, "a key id fits its buffer");

static pl_counter_t auth_counters[] = {
    {"plinth_auth_attempts_total", "Sign-in attempts by outcome.", "outcome=\"success\"", 0, 0},
    {"plinth_auth_attempts_total", "Sign-in attempts by outcome.", "outcome=\"failure\"", 0, 0},
    {"plinth_auth_attempts_total", "Sign-in attempts by outcome.", "outcome=\"throttled\"", 0, 0},
    {"plinth_auth_attempts_total", "Sign-in attempts by outcome.", "outcome=\"locked\"", 0, 0},
    {"plinth_auth_attempts_total", "Sign-in attempts by outcome.", "outcome=\"disabled\"", 0, 0},
};

static pl_counter_t hashes = {"plinth_password_hashes_total", "New passwords hashed (Argon2id).",
                              "", 0, 0};

int pl_auth_password_hash(const char *password, char out[PL_AUTH_PASSWORD_HASH_MAX])
{
    pl_counter_inc(&hashes);
    return pl_password_hash(password, strlen(password), out) ? PL_EINTERNAL : PL_OK;
}

void pl_auth_count(const char *outcome)
{
    for (size_t i = 0; i < PL_ARRAY_LEN(auth_counters); i++)
        if (strstr(auth_counters[i].labels, outcome))
            pl_counter_inc(&auth_counters[i]);
}

static int check_jwt_alg(void)
{
    const char *a = pl_auth_cfg.jwt_alg;
    if (a[0] && strcmp(a, "HS256") && strcmp(a, "ES256")) {
        fprintf(stderr, "plinth: PLINTH_JWT_ALG: expected HS256 or ES256\n");
        return PL_EINVAL;
    }
    return PL_OK;
}

pl_auth_config_t pl_auth_cfg = {
    .access_ttl = 900,
    .argon2_memory = 19LL * 1024 * 1024,
    .argon2_ops = 2,
    .mfa_issuer = "plinth",
    .register_limit = 20,
    .reset_limit = 20,
    .verify_limit = 20,
};

const pl_option_t pl_auth_options[] = {
    {"access-ttl", "PLINTH_ACCESS_TTL", PL_OPT_INT, &pl_auth_cfg.access_ttl, 0, 1, 86400,
     PL_OPT_SERVE, "SECONDS", "access token lifetime (default 900)", NULL},
    {"argon2-memory", "PLINTH_ARGON2_MEMORY", PL_OPT_INT64, &pl_auth_cfg.argon2_memory, 0, 8192,
     4LL * 1024 * 1024 * 1024, PL_OPT_STORAGE, "BYTES", "Argon2id memory cost (default 19922944)",
     NULL},
    {"argon2-ops", "PLINTH_ARGON2_OPS", PL_OPT_INT, &pl_auth_cfg.argon2_ops, 0, 1, 64,
     PL_OPT_STORAGE, "N", "Argon2id iterations (default 2)", NULL},
    {NULL, "PLINTH_MFA_ISSUER", PL_OPT_STR, PL_OPT_S(pl_auth_cfg.mfa_issuer), 0, 0, PL_OPT_SERVE,
     "NAME", "issuer shown by authenticator apps (default plinth)", NULL},
    {NULL, "PLINTH_JWT_SECRET", PL_OPT_STR, PL_OPT_S(pl_auth_cfg.jwt_secret), 0, 0, PL_OPT_STORAGE,
     "SECRET", "HS256 access-token signing secret, >= 32 bytes (installations that use HS256)",
     NULL},
    {NULL, "PLINTH_JWT_ALG", PL_OPT_STR, PL_OPT_S(pl_auth_cfg.jwt_alg), 0, 0, PL_OPT_STORAGE,
     "HS256|ES256",
     "access-token signatures (default: ES256 for new data directories, HS256 where "
     "PLINTH_JWT_SECRET or jwt.key exists)",
     check_jwt_alg},
    {"register-limit", "PLINTH_REGISTER_LIMIT", PL_OPT_INT, &pl_auth_cfg.register_limit, 0, 0,
     1000000, PL_OPT_SERVE, "N",
     "registrations per client address per hour, 0 for no limit (default 20)", NULL},
    {"reset-limit", "PLINTH_RESET_LIMIT", PL_OPT_INT, &pl_auth_cfg.reset_limit, 0, 0, 1000000,
     PL_OPT_SERVE, "N",
     "password reset requests and submissions per client address per hour, 0 for no limit "
     "(default 20)",
     NULL},
    {"verify-limit", "PLINTH_VERIFY_LIMIT", PL_OPT_INT, &pl_auth_cfg.verify_limit, 0, 0, 1000000,
     PL_OPT_SERVE, "N",
     "email verification requests and submissions per client address per hour, 0 for no limit "
     "(default 20)",
     NULL},
    {0},
};

int pl_auth_init(void)
{
    for (size_t i = 0; i < PL_ARRAY_LEN(auth_counters); i++)
        pl_metrics_register_counter(&auth_counters[i]);
    pl_metrics_register_counter(&hashes);
    int rc = pl_auth_keys_init();
    if (rc)
        return rc;
    if (oath_init() != OATH_OK) {
        fprintf(stderr, "plinth: cannot initialise liboath\n");
        return PL_EINTERNAL;
    }
    if (pl_password_init(pl_auth_cfg.argon2_memory, pl_auth_cfg.argon2_ops)) {
        fprintf(stderr, "plinth: cannot hash passwords with --argon2-memory %lld\n",
                (long long)pl_auth_cfg.argon2_memory);
        return PL_EINVAL;
    }
    /* TOTP secrets sealed before data keys existed move under the instance
     * data key; `plinth keys verify` opens every one */
    pl_keys_add_source("totp", pl_auth_mfa_check_seals);
    pl_keys_add_source("jwt", pl_auth_keys_check_seals);
    pl_db_t *db = pl_db_thread();
    if (!db || pl_auth_mfa_upgrade_seals(db)) {
        fprintf(stderr, "plinth: cannot re-seal the TOTP secrets under the instance data key\n");
        return PL_EINTERNAL;
    }
    return PL_OK;
}

int pl_auth_access_token(const char *user_id, const char *session_id, char *out, size_t size)
{
    pl_jwt_claims_t c = {0};
    snprintf(c.sub, sizeof(c.sub), "%s", user_id);
    snprintf(c.sid, sizeof(c.sid), "%s", session_id);
    pl_uuid7(c.jti);
    c.iat = pl_now_ms() / 1000;
    c.exp = c.iat + pl_auth_cfg.access_ttl;
    return pl_auth_keys_sign(&c, out, size);
}

int pl_auth_start(void)
{
    return pl_auth_keys_start();
}

void pl_auth_stop(void)
{
    pl_auth_keys_stop();
}

int pl_auth_issue_session(pl_db_t *db, pl_ctx_t *ctx, const pl_user_t *user, pl_auth_tokens_t *out)
{
    int64_t now = pl_now_ms();
    int rc = pl_store_sessions_trim(db, user->id, PL_MAX_SESSIONS - 1, now);
    if (rc)
        return rc;
    char sid[PL_ID_LEN];
    pl_uuid7(sid);
    pl_session_t s = {
        .id = sid,
        .user_id = user->id,
        .created_at = now,
        .expires_at = now + PL_SESSION_TTL_MS,
        .ip = ctx->ip,
        .user_agent = ctx->user_agent ? ctx->user_agent : "",
    };
    if ((rc = pl_store_session_insert(db, &s)))
        return rc;
    char hash[65];
    pl_token_new(32, out->refresh_token, sizeof(out->refresh_token));
    pl_sha256_hex(out->refresh_token, strlen(out->refresh_token), hash);
    rc = pl_store_refresh_insert(db, hash, sid, now);
    if (!rc)
        rc = pl_auth_access_token(user->id, sid, out->access_token, sizeof(out->access_token));
    if (rc) {
        pl_memzero(out, sizeof(*out));
        return rc;
    }
    out->expires_in = pl_auth_cfg.access_ttl;
    out->user = *user;
    pl_auth_public_user(&out->user);
    snprintf(ctx->principal.user_id, sizeof(ctx->principal.user_id), "%s", user->id);
    return PL_OK;
}

/* ---- the per-request check ---- */

/* Verified-token cache: a per-thread direct-mapped table of tokens whose
 * signature was already checked, so a client reusing its token skips the
 * base64, JSON and HMAC or ECDSA work. Entries hold only tokens signed with
 * one of our keys; expiry is checked on every hit, and the session check
 * below still runs on every request, so revocation is unaffected. A hit is
 * verified again when the signing keys were reloaded since (a key may have
 * left) or its key's acceptance ended. Losing the cache is harmless. */
#define TOKEN_CACHE_SLOTS 64
#define TOKEN_CACHE_MAX   PL_JWT_MAX

typedef struct {
    uint16_t len;
    uint64_t epoch;      /* of the key set that verified it */
    int64_t deadline_ms; /* when its key stops being accepted; 0: never */
    char token[TOKEN_CACHE_MAX];
    pl_jwt_claims_t claims;
} token_slot_t;

static __thread token_slot_t *token_cache;

static uint64_t fnv1a(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ULL;
    }
    return h;
}

static void free_token_cache(void *p)
{
    free(p);
}

static pthread_key_t token_cache_key;
static pthread_once_t token_cache_once = PTHREAD_ONCE_INIT;

static void token_cache_key_init(void)
{
    pthread_key_create(&token_cache_key, free_token_cache);
}

static pl_jwt_result_t verify_cached(const char *tok, size_t len, int64_t now, pl_jwt_claims_t *c)
{
    token_slot_t *slot = NULL;
    if (len > 0 && len <= TOKEN_CACHE_MAX) {
        if (!token_cache) {
            pthread_once(&token_cache_once, token_cache_key_init);
            token_cache = pl_xcalloc(TOKEN_CACHE_SLOTS, sizeof(token_slot_t));
            pthread_setspecific(token_cache_key, token_cache);
        }
        slot = &token_cache[fnv1a(tok, len) % TOKEN_CACHE_SLOTS];
        if (slot->len == len && pl_ct_equal(slot->token, tok, len) &&
            slot->epoch == pl_auth_keys_epoch() &&
            (!slot->deadline_ms || pl_now_ms() < slot->deadline_ms)) {
            *c = slot->claims;
            return c->exp <= now ? PL_JWT_EXPIRED : PL_JWT_OK;
        }
    }
    uint64_t epoch = 0;
    int64_t deadline = 0;
    pl_jwt_result_t rc = pl_auth_keys_verify(tok, len, now, c, &epoch, &deadline);
    if (slot) {
        slot->len = 0;
        if (rc == PL_JWT_OK) {
            memcpy(slot->token, tok, len);
            slot->len = (uint16_t)len;
            slot->epoch = epoch;
            slot->deadline_ms = deadline;
            slot->claims = *c;
        }
    }
    return rc;
}

static int unauthenticated(pl_ctx_t *ctx, const char *code, const char *detail)
{
    return pl_fail(ctx, 401, code, detail);
}

void pl_auth_touch_session(pl_db_t *db, const char *session_id)
{
    pl_store_session_touch(db, session_id, pl_now_ms());
}

int pl_auth_authenticate(pl_db_t *db, pl_ctx_t *ctx, const char *tok, size_t len, bool *touch,
                         const char *org_ref, pl_auth_early_fn early, void *arg)
{
    *touch = false;
    pl_jwt_claims_t c;
    switch (verify_cached(tok, len, pl_now_ms() / 1000, &c)) {
    case PL_JWT_OK:
        break;
    case PL_JWT_EXPIRED:
        return unauthenticated(ctx, "token_expired", "The access token has expired.");
    default:
        return unauthenticated(ctx, "invalid_token", "The access token is not valid.");
    }
    /* row-level security lets a user see their own memberships across
     * orgs: the session check sets the user's context as it reads the
     * session (sessions and users are not filtered), so that what follows
     * it, early's prefetches too, sees them (a request whose session fails
     * ends with nothing read) */
    int rc = pl_db_set_context_by_next(db, "app.user_id", c.sub);
    if (rc)
        return rc;
    if (early)
        early(db, c.sub, arg);
    pl_session_state_t s;
    rc = pl_store_session_state(db, ctx->arena, c.sid, c.sub, org_ref, &s, &ctx->path_org);
    if (rc == PL_ENOTFOUND)
        return unauthenticated(ctx, "session_revoked", "The session has ended.");
    if (rc)
        return rc;
    if (s.user_disabled)
        return pl_fail(ctx, 403, "account_disabled", "This account is disabled.");
    int64_t now = pl_now_ms();
    if (s.revoked_at || s.expires_at <= now)
        return unauthenticated(ctx, "session_revoked", "The session has ended.");
    /* last_used_at: written on the first use after sign-in, then at most once
     * a minute, so reads stay reads */
    *touch = s.last_used_at == s.created_at || now - s.last_used_at >= TOUCH_INTERVAL_MS;

    pl_principal_t *p = &ctx->principal;
    p->authenticated = true;
    memcpy(p->user_id, c.sub, sizeof(c.sub));
    memcpy(p->session_id, c.sid, sizeof(c.sid));
    p->is_admin = s.is_admin;
    p->email = s.user.email;
    p->name = s.user.name;
    p->locale = s.user.locale;
    p->email_verified = s.user.email_verified;
    p->mfa_enabled = s.user.mfa_enabled;
    p->user_created_at = s.user.created_at;
    p->orgs_version = s.orgs_version;
    return PL_OK;
}

/* ---- sessions ---- */

/* Revokes a session after its refresh token was presented twice, and
 * commits that even though the caller is refused. */
static int refresh_reused(pl_db_t *db, pl_ctx_t *ctx, const pl_refresh_state_t *st)
{
    int rc = pl_store_session_revoke(db, st->session_id, st->user_id, "refresh_token_reused",
                                     pl_now_ms());
    if (!rc) {
        json_t *d =
            json_pack("{s:s, s:s}", "session_id", st->session_id, "reason", "refresh_token_reused");
        rc = pl_audit_append(db, ctx, NULL, "session.revoked", "user", st->user_id, d);
        json_decref(d);
    }
    if ((rc = pl_db_finish(db, rc == PL_ENOTFOUND ? PL_OK : rc)))
        return rc;
    pl_log("warn", "refresh token reused; session %s revoked (request_id %s)", st->session_id,
           ctx->request_id ? ctx->request_id : "");
    return pl_fail(ctx, 401, "refresh_token_reused",
                   "This refresh token was already used; the session is revoked.");
}

int pl_auth_refresh(pl_db_t *db, pl_ctx_t *ctx, const char *refresh_token, pl_auth_tokens_t *out)
{
    char hash[65];
    pl_sha256_hex(refresh_token, strlen(refresh_token), hash);
    int rc = pl_db_begin(db);
    if (rc)
        return rc;
    pl_refresh_state_t st;
    int64_t now = pl_now_ms();
    rc = pl_store_refresh_lookup(db, ctx->arena, hash, &st);
    if (rc == PL_ENOTFOUND)
        rc = pl_fail(ctx, 401, "invalid_token", "The refresh token is not valid.");
    if (rc)
        return pl_db_finish(db, rc);
    if (st.spent_at)
        return refresh_reused(db, ctx, &st);
    if (st.user_disabled)
        return pl_db_finish(db, pl_fail(ctx, 403, "account_disabled", "This account is disabled."));
    if (st.session_revoked_at || st.session_expires_at <= now)
        return pl_db_finish(db, pl_fail(ctx, 401, "session_revoked", "The session has ended."));
    rc = pl_store_refresh_spend(db, hash, now);
    if (rc == 0) /* a concurrent refresh spent it first */
        return refresh_reused(db, ctx, &st);
    if (rc < 0)
        return pl_db_finish(db, rc);
    char fresh_hash[65];
    pl_token_new(32, out->refresh_token, sizeof(out->refresh_token));
    pl_sha256_hex(out->refresh_token, strlen(out->refresh_token), fresh_hash);
    rc = pl_store_refresh_insert(db, fresh_hash, st.session_id, now);
    if (!rc)
        rc = pl_store_session_extend(db, st.session_id, now, now + PL_SESSION_TTL_MS);
    if (!rc)
        rc = pl_store_user_by_id(db, ctx->arena, st.user_id, &out->user);
    if (!rc)
        rc = pl_auth_access_token(st.user_id, st.session_id, out->access_token,
                                  sizeof(out->access_token));
    if ((rc = pl_db_finish(db, rc))) {
        pl_memzero(out, sizeof(*out));
        return rc;
    }
    out->expires_in = pl_auth_cfg.access_ttl;
    pl_auth_public_user(&out->user);
    snprintf(ctx->principal.user_id, sizeof(ctx->principal.user_id), "%s", st.user_id);
    return PL_OK;
}

int pl_auth_logout(pl_db_t *db, pl_ctx_t *ctx)
{
    int rc = pl_auth_need_user(ctx);
    if (!rc)
        rc = pl_db_begin(db);
    if (rc)
        return rc;
    const pl_principal_t *p = &ctx->principal;
    rc = pl_store_session_revoke(db, p->session_id, p->user_id, "logout", pl_now_ms());
    if (!rc)
        rc = pl_audit_append(db, ctx, NULL, "user.logged_out", "session", p->session_id, NULL);
    /* a session that already ended ends again quietly */
    return pl_db_finish(db, rc == PL_ENOTFOUND ? PL_OK : rc);
}

int pl_auth_logout_all(pl_db_t *db, pl_ctx_t *ctx)
{
    int rc = pl_auth_need_user(ctx);
    if (!rc)
        rc = pl_db_begin(db);
    if (rc)
        return rc;
    rc = pl_store_sessions_revoke_all(db, ctx->principal.user_id, NULL, "logout_all", pl_now_ms());
    json_t *d = json_pack("{s:b}", "all", 1);
    if (!rc)
        rc = pl_audit_append(db, ctx, NULL, "session.revoked", "user", ctx->principal.user_id, d);
    json_decref(d);
    return pl_db_finish(db, rc);
}

int pl_auth_revoke_user_sessions(pl_db_t *db, pl_ctx_t *ctx, const char *user_id, const char *keep,
                                 const char *reason)
{
    PL_UNUSED(ctx);
    int rc = pl_db_begin(db);
    if (rc)
        return rc;
    return pl_db_finish(db, pl_store_sessions_revoke_all(db, user_id, keep, reason, pl_now_ms()));
}

static int no_such_session(pl_ctx_t *ctx)
{
    return pl_fail(ctx, 404, "not_found", "No such session.");
}

int pl_auth_session_revoke(pl_db_t *db, pl_ctx_t *ctx, const char *session_id)
{
    int rc = pl_auth_need_user(ctx);
    if (rc)
        return rc;
    if (!session_id || !pl_uuid_valid(session_id))
        return no_such_session(ctx);
    if ((rc = pl_db_begin(db)))
        return rc;
    rc = pl_store_session_revoke(db, session_id, ctx->principal.user_id, "revoked", pl_now_ms());
    if (!rc)
        rc = pl_audit_append(db, ctx, NULL, "session.revoked", "session", session_id, NULL);
    if ((rc = pl_db_finish(db, rc)) == PL_ENOTFOUND)
        return no_such_session(ctx);
    return rc;
}

typedef struct {
    const char *current;
    void (*fn)(void *arg, const pl_session_t *s);
    void *arg;
} sessions_walk_t;

static void mark_current(void *arg, const pl_session_t *s)
{
    sessions_walk_t *w = arg;
    pl_session_t copy = *s;
    copy.current = !strcmp(s->id, w->current);
    w->fn(w->arg, &copy);
}

int pl_auth_sessions(pl_db_t *db, pl_ctx_t *ctx, void (*fn)(void *arg, const pl_session_t *s),
                     void *arg)
{
    int rc = pl_auth_need_user(ctx);
    if (rc)
        return rc;
    sessions_walk_t w = {ctx->principal.session_id, fn, arg};
    return pl_store_sessions_live(db, ctx->arena, ctx->principal.user_id, pl_now_ms(), mark_current,
                                  &w);
}

int pl_auth_sessions_of(pl_db_t *db, pl_ctx_t *ctx, const char *user_id,
                        void (*fn)(void *arg, const pl_session_t *s), void *arg)
{
    return pl_store_sessions_live(db, ctx->arena, user_id, pl_now_ms(), fn, arg);
}

int pl_auth_orgs_of(pl_db_t *db, const char *user_id, void (*fn)(void *arg, const pl_auth_org_t *o),
                    void *arg)
{
    /* row-level security shows a user's own memberships across orgs */
    int rc = pl_db_set_context(db, "app.user_id", user_id);
    return rc ? rc : pl_store_user_orgs(db, user_id, fn, arg);
}

/* ---- maintenance (a scheduled job) ---- */

/* Purges sessions a day after they expire (their spent refresh tokens go
 * with them; a late replay then reads as an unknown token), sign-in attempts
 * older than 90 days, and expired email tokens. */
static int purge_job(const char *id, json_t *payload, char *err, size_t errlen)
{
    PL_UNUSED(id);
    PL_UNUSED(payload);
    pl_db_t *db = pl_db_thread();
    if (!db) {
        snprintf(err, errlen, "database unavailable");
        return PL_EDB;
    }
    int64_t now = pl_now_ms();
    int rc = pl_db_begin(db);
    if (rc == PL_OK)
        rc = pl_db_finish(db,
                          pl_store_purge(db, now - 24LL * 3600 * 1000,
                                         now - 90LL * 24 * 3600 * 1000, now - 24LL * 3600 * 1000));
    if (rc)
        snprintf(err, errlen, "purge failed (%d)", rc);
    return rc;
}

const pl_job_def_t pl_auth_jobs[] = {
    {"auth.purge", purge_job},
    {0},
};

const pl_schedule_def_t pl_auth_schedules[] = {
    {"auth.purge", "auth.purge", 3600LL * 1000, NULL},
    {0},
};
