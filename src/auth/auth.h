/* auth.h - authentication and authorization of requests, and account setup.
 * Thread-safe. */
#ifndef PL_AUTH_H
#define PL_AUTH_H

#include "core/ctx.h"
#include "core/module.h"
#include "db/db.h"
#include "web/web.h"

/* Loads or generates the token signing key (PLINTH_JWT_SECRET, else a 0600
 * file in the data directory). Call once at start, after the config. */
int pl_auth_init(void);

/* Verifies an access token (len bytes) and the session behind it, filling
 * ctx->principal and the transaction's user context (row-level security).
 * 401 token_expired, invalid_token or session_revoked, 403 account_disabled
 * (detail on ctx). *touch tells that the session's last use should be
 * recorded (pl_auth_touch_session, after the request's snapshot). */
int pl_auth_authenticate(pl_db_t *db, pl_ctx_t *ctx, const char *token, size_t len, bool *touch);
void pl_auth_touch_session(pl_db_t *db, const char *session_id);

#endif

#ifndef PL_AUTH_INTERNAL_DONE
#define PL_AUTH_INTERNAL_DONE
#include "auth/auth_store.h"

#define PL_SESSION_TTL_MS (30LL * 24 * 3600 * 1000) /* refresh tokens live 30 days */
#define PL_MAX_SESSIONS   5

/* The hourly purge of expired sessions, old sign-in attempts and expired
 * email tokens. */
extern const pl_job_def_t pl_auth_jobs[];
extern const pl_schedule_def_t pl_auth_schedules[];

/* Normalises an email (trim, lower-case) into the arena and validates it;
 * records a 422 field error on `field` and returns PL_EINVAL when malformed. */
int pl_auth_email(pl_req_t *req, const char *field, const char *in, const char **out);

/* Creates a session for user inside the caller's write transaction and
 * renders nothing: fills the TokenPair object (access + refresh token). The
 * least recently used sessions beyond the cap are revoked. */
int pl_auth_issue_session(pl_req_t *req, pl_db_t *db, const pl_user_t *user, json_t **pair);

/* Mints an access token for (user, session). */
int pl_auth_access_token(const char *user_id, const char *session_id, char *out, size_t size);

/* The public User object. */
json_t *pl_auth_user_json(const pl_user_t *u);

/* The settings of accounts (flags and PLINTH_* variables in
 * pl_auth_options), read-only after start. */
typedef struct {
    int access_ttl;        /* --access-ttl seconds */
    int64_t argon2_memory; /* --argon2-memory bytes */
    int argon2_ops;        /* --argon2-ops */
    char jwt_secret[512];  /* PLINTH_JWT_SECRET */
    char mfa_issuer[64];   /* PLINTH_MFA_ISSUER */
} pl_auth_config_t;
extern pl_auth_config_t pl_auth_cfg;
extern const pl_option_t pl_auth_options[];
extern const pl_mail_template_def_t pl_auth_templates[];

/* Counts an authentication outcome in /metrics ("success", "failure",
 * "throttled", "locked"). */
void pl_auth_count(const char *outcome);
#endif
