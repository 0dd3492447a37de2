/* auth_store.h - SQL for users, their organizations list, sessions, refresh
 * tokens, sign-in attempts, email tokens and two-factor: the only place
 * accounts have any. For the files of src/auth; the services call these
 * inside their transactions.
 *
 * Functions take the calling thread's connection; strings they return are
 * copied into the given arena. Errors are PL_E* codes from db.h (PL_ENOTFOUND
 * when a lookup finds nothing). Passwords arrive hashed, tokens as SHA-256
 * hex.
 * The user's list of organizations (GET /v1/me) is read here, joined with
 * memberships; organizations are written by orgs' own store. */
#ifndef PL_AUTH_STORE_H
#define PL_AUTH_STORE_H

#include "auth/auth.h"
#include "core/rows.h"
#include "db/db.h"

/* What an authenticated request needs to know about its session. */
typedef struct {
    int64_t revoked_at, expires_at, last_used_at, created_at;
    bool user_disabled;
    bool is_admin;
    pl_user_t user;       /* without password_hash */
    int64_t orgs_version; /* changes with the user's list of organizations */
} pl_session_state_t;

typedef struct {
    const char *session_id;
    const char *user_id;
    int64_t spent_at; /* 0: unspent */
    int64_t session_revoked_at, session_expires_at;
    bool user_disabled;
} pl_refresh_state_t;

int pl_store_user_insert(pl_db_t *db, const pl_user_t *u, int64_t now);
int pl_store_user_by_email(pl_db_t *db, pl_arena_t *a, const char *email, pl_user_t *out);
int pl_store_user_by_id(pl_db_t *db, pl_arena_t *a, const char *id, pl_user_t *out);
int pl_store_user_set_name(pl_db_t *db, const char *id, const char *name, int64_t now);
/* Sets (locale NULL: clears) the user's preferred locale. */
int pl_store_user_set_locale(pl_db_t *db, const char *id, const char *locale, int64_t now);
int pl_store_user_set_password(pl_db_t *db, const char *id, const char *hash, int64_t now);
/* The user's organizations with the user's role, oldest membership first;
 * the strings are valid during fn only. */
int pl_store_user_orgs(pl_db_t *db, const char *user_id,
                       void (*fn)(void *arg, const pl_auth_org_t *o), void *arg);

int pl_store_session_insert(pl_db_t *db, const pl_session_t *s);
/* The session and its user; with org_ref (an id or a slug), that
 * organization's row too, in the same statement (org->read; org->found). */
int pl_store_session_state(pl_db_t *db, pl_arena_t *a, const char *session_id, const char *user_id,
                           const char *org_ref, pl_session_state_t *out, pl_org_row_t *org);
int pl_store_session_touch(pl_db_t *db, const char *session_id, int64_t now);
int pl_store_session_extend(pl_db_t *db, const char *session_id, int64_t now, int64_t expires_at);
/* Revokes one live session of user; PL_ENOTFOUND when there is none. */
int pl_store_session_revoke(pl_db_t *db, const char *session_id, const char *user_id,
                            const char *reason, int64_t now);
/* Revokes every live session of user except keep (may be NULL). */
int pl_store_sessions_revoke_all(pl_db_t *db, const char *user_id, const char *keep,
                                 const char *reason, int64_t now);
/* Revokes the least recently used live sessions so that at most keep remain. */
int pl_store_sessions_trim(pl_db_t *db, const char *user_id, int keep, int64_t now);
int pl_store_sessions_live(pl_db_t *db, pl_arena_t *a, const char *user_id, int64_t now,
                           void (*fn)(void *ctx, const pl_session_t *s), void *ctx);

int pl_store_refresh_insert(pl_db_t *db, const char *token_hash, const char *session_id,
                            int64_t now);
int pl_store_refresh_lookup(pl_db_t *db, pl_arena_t *a, const char *token_hash,
                            pl_refresh_state_t *out);
/* Marks the token spent; returns 1 when this call spent it, 0 when it was
 * already spent (a concurrent refresh won). */
int pl_store_refresh_spend(pl_db_t *db, const char *token_hash, int64_t now);

int pl_store_attempt_insert(pl_db_t *db, const char *email, const char *ip, bool success,
                            int64_t now);
/* Failed attempts for (email, ip) since `since`, and the oldest one's time. */
int pl_store_attempts_failed_email_ip(pl_db_t *db, const char *email, const char *ip, int64_t since,
                                      int *count, int64_t *oldest);
int pl_store_attempts_failed_ip(pl_db_t *db, const char *ip, int64_t since, int *count,
                                int64_t *oldest);
/* The latest n attempts for (email, ip), newest first: success flags and times. */
int pl_store_attempts_recent(pl_db_t *db, const char *email, const char *ip, int n, bool *success,
                             int64_t *at, int *found);
int pl_store_attempts_clear_email(pl_db_t *db, const char *email);
/* Records an attempt about to be evaluated, as a failure until settled;
 * its id into *id. */
int pl_store_attempt_reserve(pl_db_t *db, const char *email, const char *ip, int64_t now,
                             int64_t *id);
/* Settles a reserved attempt: a success, or (void) no attempt at all. */
int pl_store_attempt_settle(pl_db_t *db, int64_t id, bool void_it);

/* Single-use email tokens (SHA-256 hashes). purpose: "verify_email" or
 * "password_reset". */
int pl_store_email_token_insert(pl_db_t *db, const char *hash, const char *user_id,
                                const char *purpose, const char *email, int64_t expires_at,
                                int64_t now);
/* Marks an unused, unexpired token used and returns its user and email
 * (arena strings); PL_ENOTFOUND when it is unknown, used or expired. */
int pl_store_email_token_consume(pl_db_t *db, pl_arena_t *a, const char *hash, const char *purpose,
                                 int64_t now, const char **user_id, const char **email);
/* PL_OK when an unused, unexpired token of purpose has this hash, else
 * PL_ENOTFOUND. Reads only. */
int pl_store_email_token_live(pl_db_t *db, const char *hash, const char *purpose, int64_t now);
/* Tokens of purpose issued to user since `since`. */
int pl_store_email_tokens_recent(pl_db_t *db, const char *user_id, const char *purpose,
                                 int64_t since, int *count);
/* Voids every unused token of purpose for user. */
int pl_store_email_tokens_void(pl_db_t *db, const char *user_id, const char *purpose, int64_t now);
/* Marks the user's email verified when it is still `email`. */
int pl_store_user_set_verified(pl_db_t *db, const char *id, const char *email, int64_t now);

/* Two-factor: the TOTP row (sealed secret; enabled_at 0 while pending) */
typedef struct {
    const char *secret_sealed;
    int64_t enabled_at;
    int64_t last_step;
} pl_totp_row_t;
int pl_store_totp_get(pl_db_t *db, pl_arena_t *a, const char *user_id, pl_totp_row_t *out);
int pl_store_totp_put_pending(pl_db_t *db, const char *user_id, const char *sealed, int64_t now);
int pl_store_totp_enable(pl_db_t *db, const char *user_id, int64_t step, int64_t now);
/* Records step as used; returns 1 when it was newer than the last used step
 * (the code is fresh), 0 when it was not (a replay). */
int pl_store_totp_use_step(pl_db_t *db, const char *user_id, int64_t step, int64_t now);
int pl_store_totp_delete(pl_db_t *db, const char *user_id);
/* A user's sealed TOTP secret, for the key checks and the upgrade. */
typedef struct {
    const char *user_id, *sealed;
} pl_totp_sealed_t;
/* Every TOTP row (pl_totp_sealed_t), or those still sealed under the master
 * key directly (before data keys), by user id. */
int pl_store_totp_all(pl_db_t *db, pl_arena_t *a, pl_rows_t *out);
int pl_store_totp_legacy(pl_db_t *db, pl_arena_t *a, pl_rows_t *out);
/* Replaces the sealed secret when it is still `from`. */
int pl_store_totp_reseal(pl_db_t *db, const char *user_id, const char *from, const char *to);
int pl_store_user_set_mfa(pl_db_t *db, const char *user_id, bool enabled, int64_t now);
int pl_store_recovery_replace(pl_db_t *db, const char *user_id, char hashes[][65], int n,
                              int64_t now);
/* Spends an unused recovery code; PL_ENOTFOUND when there is none. */
int pl_store_recovery_use(pl_db_t *db, const char *user_id, const char *hash, int64_t now);
int pl_store_challenge_insert(pl_db_t *db, const char *hash, const char *user_id,
                              const char *method, int64_t expires_at, int64_t now);
/* A live challenge (unused, unexpired, under max_failures), its user and
 * the method of the first step. */
int pl_store_challenge_get(pl_db_t *db, pl_arena_t *a, const char *hash, int64_t now,
                           int max_failures, const char **user_id, const char **method);
int pl_store_challenge_fail(pl_db_t *db, const char *hash);
/* Takes one of a live challenge's attempts before its code is checked
 * (failures + 1, in one statement, so concurrent takes never exceed
 * max_failures), its user into *user_id and first step into *method. PL_ENOTFOUND when the
 * challenge is used, expired, unknown or out of attempts. */
int pl_store_challenge_take(pl_db_t *db, pl_arena_t *a, const char *hash, int64_t now,
                            int max_failures, const char **user_id, const char **method);
/* Marks it used; 1 when this call did, 0 when it was already used. */
int pl_store_challenge_use(pl_db_t *db, const char *hash, int64_t now);

/* Magic links (token hashes). */
int pl_store_magic_link_insert(pl_db_t *db, const char *hash, const char *user_id,
                               const char *email, const char *ip, int64_t expires_at, int64_t now);
/* Links sent since `since` to email, and from ip. */
int pl_store_magic_links_sent(pl_db_t *db, const char *email, const char *ip, int64_t since,
                              int *by_email, int *by_ip);
/* An unused, unexpired link: its user and the address it went to (arena
 * strings); PL_ENOTFOUND otherwise. Reads only. */
int pl_store_magic_link_find(pl_db_t *db, pl_arena_t *a, const char *hash, int64_t now,
                             const char **user_id, const char **email);
/* Spends it: PL_OK when this call did, PL_ENOTFOUND when it was spent (or
 * expired) already. */
int pl_store_magic_link_use(pl_db_t *db, const char *hash, int64_t now);

/* Access-token signing keys: every row, newest first (strings valid during
 * fn); the figures that change with any rotation; a new key; retiring every
 * current key but keep, and deleting keys retired before purge_before. */
typedef struct {
    const char *kid, *alg, *private_sealed, *public_jwk;
    int64_t created_at, retired_at; /* retired_at 0: current */
} pl_jwt_key_row_t;
int pl_store_jwt_keys(pl_db_t *db, void (*fn)(void *arg, const pl_jwt_key_row_t *row), void *arg);
int pl_store_jwt_keys_state(pl_db_t *db, int64_t *count, int64_t *newest, int64_t *last_retired);
int pl_store_jwt_key_insert(pl_db_t *db, const char *kid, const char *alg, const char *sealed,
                            const char *public_jwk, int64_t now);
int pl_store_jwt_keys_retire(pl_db_t *db, const char *keep, int64_t now, int64_t purge_before);

/* Maintenance: deletes sessions (with their refresh tokens) expired before
 * sessions_before, sign-in attempts older than attempts_before, and email
 * tokens, sign-in steps and magic links expired before tokens_before. */
int pl_store_purge(pl_db_t *db, int64_t sessions_before, int64_t attempts_before,
                   int64_t tokens_before);

#endif
