/* auth_int.h - what the files of src/auth share and nothing else includes:
 * the settings, the pure rules, and the steps the services compose (issuing a session, the sign-in
 * throttle, the two-factor challenge). Same conventions as auth.h: a db connection and a context,
 * errors recorded on ctx. */
#ifndef PL_AUTH_INT_H
#define PL_AUTH_INT_H

#include "auth/auth.h"
#include "auth/auth_store.h"
#include "platform/keys/keys.h"
#include "auth/jwt.h"

#define PL_SESSION_TTL_MS (30LL * 24 * 3600 * 1000) /* refresh tokens live 30 days */
#define PL_MAX_SESSIONS   5

/* The settings of accounts (flags and PLINTH_* variables in
 * pl_auth_options), read-only after start. */
typedef struct {
    int access_ttl;        /* --access-ttl seconds */
    int64_t argon2_memory; /* --argon2-memory bytes */
    int argon2_ops;        /* --argon2-ops */
    char jwt_secret[512];  /* PLINTH_JWT_SECRET */
    char jwt_alg[8];       /* PLINTH_JWT_ALG: "" (by installation), HS256 or ES256 */
    char mfa_issuer[64];   /* PLINTH_MFA_ISSUER */
    int register_limit;    /* --register-limit per client address per hour */
    int reset_limit;       /* --reset-limit per client address per hour */
    int verify_limit;      /* --verify-limit per client address per hour */
} pl_auth_config_t;
extern pl_auth_config_t pl_auth_cfg;

/* ---- pure rules (unit-tested) ---- */

/* A display name: 1..PL_AUTH_NAME_MAX bytes. */
bool pl_auth_name_valid(const char *name);
/* A recovery code as typed (any case, '-' and ' ' ignored) hashed as
 * stored; false when it cannot be one (not 10 characters). */
bool pl_auth_recovery_hash(const char *code, char out[65]);

/* ---- steps the services compose (inside the caller's transaction) ---- */

/* Counts one use of action ("register", "reset", "verify") by ctx->ip
 * against limit per hour (in memory, per instance; <= 0: none): PL_OK, or
 * 429 rate_limited with retry_after when the address used them up. */
int pl_auth_address_quota(pl_ctx_t *ctx, const char *action, int limit);

/* Counts an authentication outcome in /metrics ("success", "failure",
 * "throttled", "locked", "disabled"). */
void pl_auth_count(const char *outcome);
/* Hashes a new password into out (counted in /metrics as
 * plinth_password_hashes_total): PL_OK or PL_EINTERNAL. */
int pl_auth_password_hash(const char *password, char out[PL_AUTH_PASSWORD_HASH_MAX]);

/* Creates a session for user (the least recently used ones beyond the cap
 * are revoked) and fills *out; the user becomes ctx's caller. */
int pl_auth_issue_session(pl_db_t *db, pl_ctx_t *ctx, const pl_user_t *user, pl_auth_tokens_t *out);

/* Mints an access token for (user, session). */
int pl_auth_access_token(const char *user_id, const char *session_id, char *out, size_t size);

/* The sign-in throttles for (email, ctx->ip): 429 rate_limited or
 * account_locked (with retry_after) when the attempt must not be
 * evaluated. Reads only: a check followed by a separate record races with
 * concurrent attempts; pl_auth_attempt_begin does both at once. */
int pl_auth_throttle(pl_db_t *db, pl_ctx_t *ctx, const char *email);

/* (pl_auth_attempt_begin: auth.h) */
/* Settles an attempt inside the caller's transaction: it succeeded, or
 * (void_it) it was no attempt at all (the password step of a two-factor
 * sign-in). Left alone, it stays a failure. */
int pl_auth_attempt_settle(pl_db_t *db, int64_t attempt, bool void_it);

/* Records user.logged_in for u (after the session was issued) with data
 * {method, mfa}. */
int pl_auth_audit_login(pl_db_t *db, pl_ctx_t *ctx, const pl_user_t *u, const char *method,
                        bool mfa);

/* ---- the keys that sign access tokens (tokenkeys.c) ---- */

/* Chooses HS256 or ES256 (PLINTH_JWT_ALG; else HS256 for installations with
 * PLINTH_JWT_SECRET or a jwt.key file, ES256 for new ones) and loads the
 * keys, creating the database's first ES256 key. PL_OK or an error. */
int pl_auth_keys_init(void);
/* A `plinth keys verify` source: every ES256 signing key opens. */
int pl_auth_keys_check_seals(pl_db_t *db, pl_keys_check_t *chk);
int pl_auth_keys_start(void);
void pl_auth_keys_stop(void);
/* Signs claims with the current key (iss: pl_auth_issuer()). */
int pl_auth_keys_sign(const pl_jwt_claims_t *c, char *out, size_t size);
/* Verifies a token with the loaded keys (an unknown kid reloads them, at
 * most once a second) and reads its claims. *epoch: the generation of the
 * key set that verified it; *deadline_ms: when its key stops being accepted
 * (0: no end known). Both for the verified-token cache. */
pl_jwt_result_t pl_auth_keys_verify(const char *tok, size_t len, int64_t now, pl_jwt_claims_t *c,
                                    uint64_t *epoch, int64_t *deadline_ms);
/* The generation of the loaded key set; changes with every reload. */
uint64_t pl_auth_keys_epoch(void);

/* Issues an email-verification token for u and queues its email. */
int pl_auth_send_verification(pl_db_t *db, pl_ctx_t *ctx, const pl_user_t *u);

/* The first step's answer with two-factor on: a single-use challenge (5
 * minutes) remembering the first step's method, stored in its own
 * transaction (or the caller's); its token into token. */
int pl_auth_mfa_challenge(pl_db_t *db, pl_ctx_t *ctx, const pl_user_t *u, const char *method,
                          char token[PL_AUTH_TOKEN_LEN]);

/* PL_OK when a signed-in user calls; else 401 (routes guarantee one, so
 * this only keeps a misrouted call from acting as nobody). */
/* TOTP secrets at rest (mfa.c): moves those still sealed under the master
 * key directly under the instance data key, in one transaction (at start;
 * idempotent, and safe with several instances starting at once); and the
 * `plinth keys verify` source that opens every one. */
int pl_auth_mfa_upgrade_seals(pl_db_t *db);
int pl_auth_mfa_check_seals(pl_db_t *db, pl_keys_check_t *chk);

static inline int pl_auth_need_user(pl_ctx_t *ctx)
{
    return pl_ctx_user(ctx) ? PL_OK : pl_fail(ctx, 401, "unauthenticated", "Sign in first.");
}

/* A user as services return it: without its password hash. */
static inline void pl_auth_public_user(pl_user_t *u)
{
    u->password_hash = NULL;
}

#endif
