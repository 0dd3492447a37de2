/* auth.h - accounts, sessions, email verification, password reset and
 * two-factor sign-in: the service API (API.md "Accounts and sessions" and
 * "Two-factor authentication").
 *
 * Every service takes the calling thread's connection and the caller's
 * context (core/ctx.h): the signed-in user (ctx->principal), the client IP,
 * user agent and request id (written to the audit log), and the arena. A
 * service validates its input (email syntax and normalisation, names, the
 * password policy), runs its own transaction (pl_db_begin/pl_db_finish, so
 * inside a request's scope it joins it), writes its audit events and queues
 * its email in that transaction, and returns PL_OK or a negative PL_E* code.
 * A client error is recorded on ctx (status, code, field errors; see
 * pl_fail) before it is returned; PL_EDB, PL_EBUSY and PL_EINTERNAL record
 * nothing.
 *
 * Memory: strings in results live in ctx->arena unless said otherwise.
 * Results that hold secrets (tokens, recovery codes) are plain arrays the
 * caller wipes with pl_memzero once they are rendered.
 *
 * Thread-safety: after the module's init, any thread may call any service,
 * each with its own connection and context. */
#ifndef PL_AUTH_H
#define PL_AUTH_H

#include "core/ctx.h"
#include "core/module.h"
#include "db/db.h"

/* Input limits a caller checks before calling (request shape). */
#define PL_AUTH_EMAIL_INPUT_MAX    320  /* bytes of an email as typed */
#define PL_AUTH_NAME_MAX           200  /* bytes of a display name */
#define PL_AUTH_PASSWORD_INPUT_MAX 4096 /* longer input is refused before hashing */
#define PL_AUTH_TOKEN_INPUT_MAX    256  /* refresh, email and sign-in step tokens */
#define PL_AUTH_CODE_INPUT_MAX     32   /* a TOTP or recovery code */

#define PL_AUTH_ACCESS_TOKEN_MAX  1024 /* an access token and its NUL */
#define PL_AUTH_TOKEN_LEN         64   /* a 32-byte random token (base64url) and its NUL */
#define PL_AUTH_PASSWORD_HASH_MAX 128  /* an Argon2id PHC string and its NUL */
#define PL_AUTH_RECOVERY_CODES    10
#define PL_AUTH_RECOVERY_CODE_LEN 12 /* "xxxxx-xxxxx" and its NUL */

/* An account. password_hash is NULL in every result a service returns. */
typedef struct {
    const char *id;
    const char *email;
    const char *name;
    const char *password_hash;
    bool email_verified;
    bool mfa_enabled;
    bool is_admin;
    bool disabled;
    int64_t created_at;
    const char *locale; /* BCP 47 tag ("de", "pt-BR"); NULL: not set */
} pl_user_t;

/* A session (a sign-in on one device). */
typedef struct {
    const char *id;
    const char *user_id;
    int64_t created_at, last_used_at, expires_at, revoked_at; /* revoked_at 0: live */
    const char *ip;
    const char *user_agent;
    bool current; /* the caller's own session (listings) */
} pl_session_t;

/* An organization as its member sees it. */
typedef struct {
    const char *id;
    const char *name;
    const char *slug;
    bool personal;
    const char *role; /* the member's role key */
    int64_t created_at;
} pl_auth_org_t;

/* What a completed sign-in hands out (API.md TokenPair). Secret: wipe it. */
typedef struct {
    char access_token[PL_AUTH_ACCESS_TOKEN_MAX];
    char refresh_token[PL_AUTH_TOKEN_LEN];
    int expires_in; /* seconds the access token lives */
    pl_user_t user;
} pl_auth_tokens_t;

/* What a sign-in step answers: the tokens, or (two-factor on) a single-use
 * mfa_token for pl_auth_login_mfa. Secret: wipe it. */
typedef struct {
    bool mfa_required;
    char mfa_token[PL_AUTH_TOKEN_LEN];
    pl_auth_tokens_t tokens;
} pl_auth_login_t;

/* ---- the per-request check (http/dispatch) ---- */

/* Verifies an access token (len bytes) and the session behind it, filling
 * ctx->principal and the transaction's user context (row-level security).
 * 401 token_expired, invalid_token or session_revoked, 403 account_disabled
 * (detail on ctx). *touch tells that the session's last use should be
 * recorded (pl_auth_touch_session, after the request's snapshot). early,
 * when not NULL, runs once the token's signature and expiry check out,
 * with its user and arg, before the session is read: what it prefetches
 * (pl_stmt_prefetch) travels with that read. */
/* org_ref, when not NULL, is the organization an org route names (id or
 * slug): its row is read with the session, into ctx->path_org. */
typedef void (*pl_auth_early_fn)(pl_db_t *db, const char *user_id, void *arg);
int pl_auth_authenticate(pl_db_t *db, pl_ctx_t *ctx, const char *token, size_t len, bool *touch,
                         const char *org_ref, pl_auth_early_fn early, void *arg);
/* Records the session's last use now (best effort: errors are dropped). */
void pl_auth_touch_session(pl_db_t *db, const char *session_id);

/* ---- validation other modules share ---- */

/* The canonical form of an email address (surrounding white space trimmed,
 * lower-cased) as a new string in a, or NULL when it is not a plausible
 * address (one '@', a dotted domain, 3..254 bytes, a local part of at most
 * 64, no spaces, controls or RFC 5322 specials). Pure. */
char *pl_auth_email_normalize(pl_arena_t *a, const char *in);
/* The same for a service's input: *out is the canonical address; else a 422
 * field error (invalid) on field and PL_EINVAL. */
int pl_auth_check_email(pl_ctx_t *ctx, const char *field, const char *in, const char **out);

/* ---- sign-in steps every way in shares ----
 * Password sign-in, magic links, passkeys and identity providers end the
 * same way, so the rules of API.md hold for each (the throttles, 2FA on
 * every way in, the audit trail). A module that adds a way in calls, in
 * order: pl_auth_attempt_begin (or, where no secret is guessed,
 * pl_auth_throttle) before it evaluates an attempt, pl_auth_signin_failed
 * when the attempt fails, and pl_auth_signin_complete once it knows who
 * signs in, both given the attempt. It never issues sessions itself. */

/* The sign-in throttles for an attempt from ctx->ip on the account of email
 * (canonical): 429 rate_limited or account_locked, with
 * ctx->err.retry_after, when the attempt must not be evaluated. email NULL
 * (the account is not known yet): the limit of the client IP alone. Reads
 * only. */
int pl_auth_throttle(pl_db_t *db, pl_ctx_t *ctx, const char *email);

/* Begins an attempt to prove who one is (a password, a code, a link, a
 * passkey) for (email, ctx->ip): in one transaction under a lock on the
 * address, decides as pl_auth_throttle and, when allowed, records the
 * attempt as a failure before anything is evaluated (*attempt: its id), so
 * concurrent attempts are evaluated no more often than the limits say, on
 * every instance. A request that then fails keeps the failure. 429 as
 * pl_auth_throttle when refused (nothing recorded). */
int pl_auth_attempt_begin(pl_db_t *db, pl_ctx_t *ctx, const char *email, int64_t *attempt);

/* Records a failed sign-in from ctx->ip: it counts toward the throttles of
 * email (NULL: of the IP alone), unless attempt is the id of an attempt
 * begun under the throttles' lock (counted as a failure already; 0: none),
 * and when user_id is known, user.login_failed is audited with data
 * {method, reason} (reason may be NULL). Joins the caller's transaction or
 * commits its own. */
int pl_auth_signin_failed(pl_db_t *db, pl_ctx_t *ctx, const char *email, const char *user_id,
                          const char *method, const char *reason, int64_t attempt);

/* Finishes a sign-in whose first step (method: "password", "magic_link",
 * "passkey", "oauth", "sso") proved u (as read from the store, with email
 * and mfa_enabled): 403 account_disabled for a disabled account; with
 * two-factor on and !two_factors, out->mfa_required and a single-use
 * out->mfa_token (pl_auth_login_mfa finishes that sign-in and audits this
 * method); else the attempt counts as a success, a session is issued
 * (out->tokens, u becomes ctx's caller) and user.logged_in is audited with
 * data {method, mfa}. two_factors: the proof already was two factors (a
 * user-verified passkey). Joins the caller's transaction, if any.
 * attempt: the id of an attempt begun under the throttles' lock (the
 * password and code steps), settled here; 0 records the outcome anew. */
int pl_auth_signin_complete(pl_db_t *db, pl_ctx_t *ctx, const pl_user_t *u, const char *method,
                            bool two_factors, int64_t attempt, pl_auth_login_t *out);

/* A policy every sign-in passes (the identity module's: SSO enforcement
 * and joining organizations by email domain): called by
 * pl_auth_signin_complete once it knows who signs in (u) and how (method),
 * before a session or a two-factor step is issued. Returns PL_OK, or an
 * error recorded on ctx (403 sso_required) that refuses the sign-in. */
typedef int (*pl_auth_signin_hook_fn)(pl_db_t *db, pl_ctx_t *ctx, const pl_user_t *u,
                                      const char *method);
/* Installs the hook (once, at init; NULL: none). */
void pl_auth_set_signin_hook(pl_auth_signin_hook_fn fn);
/* A hook run when an account's email becomes verified by its verification
 * link, inside that transaction (the identity module's: joining an
 * organization by email domain). An error rolls the verification back. */
typedef int (*pl_auth_verified_hook_fn)(pl_db_t *db, pl_ctx_t *ctx, const char *user_id,
                                        const char *email);
void pl_auth_set_verified_hook(pl_auth_verified_hook_fn fn);

/* ---- magic links ---- */

/* Mails the account of email a sign-in link ({PLINTH_PUBLIC_URL}/magic-link
 * ?token=..., 15 minutes, single use), unless the caps are reached: 5 emails
 * per address and 20 per client IP per hour. PL_OK whether or not an email
 * went out or the account exists (no enumeration); 422 on a malformed
 * email. */
int pl_auth_magic_link_request(pl_db_t *db, pl_ctx_t *ctx, const char *email);
/* Spends a magic-link token and signs in (pl_auth_signin_complete, method
 * "magic_link"): *out holds the tokens or the two-factor step. 422
 * invalid_token when unknown, used or expired (a failed sign-in from
 * ctx->ip); 403 account_disabled; 429 as for pl_auth_login. */
int pl_auth_magic_link_verify(pl_db_t *db, pl_ctx_t *ctx, const char *token, pl_auth_login_t *out);

/* ---- tokens other services verify ---- */

#define PL_AUTH_KID_MAX 64 /* a signing key's id and its NUL */

/* The access tokens' issuer (PLINTH_PUBLIC_API_URL); static. */
const char *pl_auth_issuer(void);
/* The JWK Set of the keys access tokens are signed with now or may still
 * carry ({"keys":[]} with HS256, whose key is secret). New reference. */
int pl_auth_jwks(pl_db_t *db, pl_ctx_t *ctx, json_t **out);
/* The OpenID Provider metadata of the issuer (issuer, jwks_uri, ...). New
 * reference. */
json_t *pl_auth_openid_configuration(void);
/* Adds a new ES256 signing key and retires the others (they stay published
 * until the tokens they signed expire); running instances sign with it
 * within seconds. Audits jwt_key.rotated. 409 conflict when tokens are
 * signed with HS256. */
int pl_auth_keys_rotate(pl_db_t *db, pl_ctx_t *ctx, char kid[PL_AUTH_KID_MAX]);

/* ---- accounts ---- */

/* Applies the password policy to password (checked against email too, which
 * may be NULL) and hashes it with Argon2id into hash. 422 weak_password with
 * a field error on field; PL_EINTERNAL when hashing fails. Slow on purpose
 * (tens of milliseconds): call it before opening a transaction. */
int pl_auth_hash_password(pl_ctx_t *ctx, const char *field, const char *password, const char *email,
                          char hash[PL_AUTH_PASSWORD_HASH_MAX]);

/* A new account. */
typedef struct {
    const char *email;         /* normalised here */
    const char *name;          /* 1..PL_AUTH_NAME_MAX bytes */
    const char *password_hash; /* from pl_auth_hash_password */
    bool email_verified;
    bool is_admin;
} pl_auth_new_user_t;

/* Creates an account with its personal organization (the user its owner) and
 * audits user.registered and org.created, with ctx's caller as the actor.
 * *user and *org (either may be NULL) describe what was created. 422 on a
 * malformed email or name, 409 email_taken; PL_EBUSY when the personal
 * org's slug collided (retry). */
int pl_auth_create_user(pl_db_t *db, pl_ctx_t *ctx, const pl_auth_new_user_t *in, pl_user_t *user,
                        pl_auth_org_t *org);

typedef struct {
    const char *email;
    const char *password;
    const char *name;
    const char *invitation_token; /* optional: joins the inviting organization */
} pl_auth_registration_t;

/* Self-registration: creates the account (pl_auth_create_user, the new user
 * acting), joins the inviting organization when an invitation token is
 * given (the email then counts as verified) or else queues the verification
 * email, and signs in. 422 validation_failed (email, name), weak_password,
 * invalid_token (invitation_token); 409 email_taken. org may be NULL. */
int pl_auth_register(pl_db_t *db, pl_ctx_t *ctx, const pl_auth_registration_t *in,
                     pl_auth_tokens_t *tokens, pl_auth_org_t *org);

/* The first step of sign-in. Without two-factor, *out holds the tokens;
 * with it, out->mfa_required and a single-use out->mfa_token (5 minutes)
 * for pl_auth_login_mfa. 401 invalid_credentials (unknown email and wrong
 * password alike), 403 account_disabled, 429 rate_limited or account_locked
 * (ctx->err.retry_after set), 422 on a malformed email. */
int pl_auth_login(pl_db_t *db, pl_ctx_t *ctx, const char *email, const char *password,
                  pl_auth_login_t *out);

/* The second step: a current TOTP code or an unused recovery code. 401
 * invalid_token (unknown, spent or expired step, or 5 wrong codes),
 * invalid_mfa_code, 403 account_disabled, 429 as for pl_auth_login. */
int pl_auth_login_mfa(pl_db_t *db, pl_ctx_t *ctx, const char *mfa_token, const char *code,
                      pl_auth_tokens_t *out);

/* Spends a refresh token for a new pair. A spent token presented again
 * revokes its session: 401 refresh_token_reused. 401 invalid_token,
 * session_revoked; 403 account_disabled. */
int pl_auth_refresh(pl_db_t *db, pl_ctx_t *ctx, const char *refresh_token, pl_auth_tokens_t *out);

/* The signed-in caller's sessions: ending the current one, all of them,
 * one by id (404 not_found unless it is a live session of the caller), and
 * the live ones, each passed to fn (valid during the call). */
int pl_auth_logout(pl_db_t *db, pl_ctx_t *ctx);
int pl_auth_logout_all(pl_db_t *db, pl_ctx_t *ctx);
int pl_auth_session_revoke(pl_db_t *db, pl_ctx_t *ctx, const char *session_id);
int pl_auth_sessions(pl_db_t *db, pl_ctx_t *ctx, void (*fn)(void *arg, const pl_session_t *s),
                     void *arg);

/* The live sessions and the organizations (with its role) of another
 * account, for the instance admin's view (the caller checked who may see
 * them; on PostgreSQL the transaction's app.user_id becomes user_id, so
 * call it last in a read). */
int pl_auth_sessions_of(pl_db_t *db, pl_ctx_t *ctx, const char *user_id,
                        void (*fn)(void *arg, const pl_session_t *s), void *arg);
int pl_auth_orgs_of(pl_db_t *db, const char *user_id, void (*fn)(void *arg, const pl_auth_org_t *o),
                    void *arg);

/* Revokes every live session of user_id but keep (may be NULL), with reason
 * ("disabled", ...), inside the caller's transaction or one of its own. No
 * audit event: the caller records why. */
int pl_auth_revoke_user_sessions(pl_db_t *db, pl_ctx_t *ctx, const char *user_id, const char *keep,
                                 const char *reason);

/* ---- profiles ---- */

/* An account by id or by (canonical) email. PL_ENOTFOUND, nothing recorded. */
int pl_auth_user_get(pl_db_t *db, pl_ctx_t *ctx, const char *user_id, pl_user_t *out);
int pl_auth_user_by_email(pl_db_t *db, pl_ctx_t *ctx, const char *email, pl_user_t *out);

/* The caller's organizations with the caller's role, oldest membership
 * first, each passed to fn (valid during the call). */
int pl_auth_user_orgs(pl_db_t *db, pl_ctx_t *ctx, void (*fn)(void *arg, const pl_auth_org_t *o),
                      void *arg);

/* Renames the caller when name is not NULL (422 on field "name") and sets
 * the caller's locale when locale is not NULL ("" clears it; else a BCP 47
 * tag, stored in its conventional case, 422 on field "locale"), in one
 * transaction; then reads the caller's account into *out. */
int pl_auth_profile_update(pl_db_t *db, pl_ctx_t *ctx, const char *name, const char *locale,
                           pl_user_t *out);

/* Changes the caller's password: 422 current_password incorrect, 422
 * weak_password on new_password. Every other session of the caller ends and
 * a notice is mailed. */
int pl_auth_password_change(pl_db_t *db, pl_ctx_t *ctx, const char *current,
                            const char *new_password);

/* Marks user_id's email verified when it is still email (an invitation
 * proved the mailbox). PL_ENOTFOUND when the address changed. */
int pl_auth_mark_email_verified(pl_db_t *db, pl_ctx_t *ctx, const char *user_id, const char *email);

/* ---- email verification and password reset ---- */

/* Mails the caller a verification link (24 h) unless the address is
 * verified or a link went out in the last minute. */
int pl_auth_verification_request(pl_db_t *db, pl_ctx_t *ctx);
/* Spends a verification token: 422 invalid_token when unknown, used,
 * expired, or issued to an address the account no longer has. */
int pl_auth_email_verify(pl_db_t *db, pl_ctx_t *ctx, const char *token);
/* Mails a reset link (1 h) to the account of email, if there is one and no
 * link went out in the last minute: PL_OK either way (no enumeration); 422
 * on a malformed email. */
int pl_auth_password_reset_request(pl_db_t *db, pl_ctx_t *ctx, const char *email);
/* Spends a reset token and sets the password: every session ends, the
 * sign-in counters of the email clear, a notice is mailed. 422 invalid_token,
 * weak_password (field new_password). */
int pl_auth_password_reset(pl_db_t *db, pl_ctx_t *ctx, const char *token, const char *new_password);

/* Confirms the signed-in caller before an irreversible change: the
 * password (422 password incorrect; NULL: 422 password required) or, for an
 * account without one (made by an identity provider), a recent sign-in
 * (the caller's session began within 10 minutes; else 422 password
 * required), and, with two-factor on, a current code
 * or an unused recovery code (422 code required or incorrect), which is
 * spent in the caller's transaction when one is open (a rollback gives it
 * back). */
int pl_auth_confirm(pl_db_t *db, pl_ctx_t *ctx, const char *password, const char *code);

/* ---- two-factor (the caller's) ---- */

/* A new pending TOTP secret; strings in ctx->arena. 409 mfa_already_enabled. */
typedef struct {
    const char *secret; /* base32 */
    const char *otpauth_uri;
    const char *qr_svg;
} pl_auth_totp_setup_t;
int pl_auth_mfa_setup(pl_db_t *db, pl_ctx_t *ctx, pl_auth_totp_setup_t *out);

/* Fresh recovery codes, the old ones void. Secret: wipe it. */
typedef struct {
    char codes[PL_AUTH_RECOVERY_CODES][PL_AUTH_RECOVERY_CODE_LEN];
} pl_auth_recovery_codes_t;

/* Turns two-factor on with a code of the pending secret (422 code
 * incorrect; 409 without a pending secret or when already on). */
int pl_auth_mfa_enable(pl_db_t *db, pl_ctx_t *ctx, const char *code, pl_auth_recovery_codes_t *out);
/* Turns it off: the password (422 password incorrect) and a current code
 * or recovery code (422 code incorrect). 409 conflict when it is off. */
int pl_auth_mfa_disable(pl_db_t *db, pl_ctx_t *ctx, const char *password, const char *code);
/* New recovery codes, given the password. 409 conflict when it is off. */
int pl_auth_mfa_recovery_codes(pl_db_t *db, pl_ctx_t *ctx, const char *password,
                               pl_auth_recovery_codes_t *out);

/* ---- the module's parts (its descriptor is in auth_routes.c) ---- */

/* Loads the token signing keys (HS256: PLINTH_JWT_SECRET or a 0600 file in
 * the data directory; ES256: the database's, creating the first), sets the
 * Argon2id cost and registers the metrics. Once at start, after the
 * configuration and storage; PL_OK or an error (printed). */
int pl_auth_init(void);
/* Starts (and stops) the thread that notices other instances' new signing
 * keys. */
int pl_auth_start(void);
void pl_auth_stop(void);
/* `plinth keys rotate-jwt` */
extern const pl_command_t pl_auth_commands[];
extern const pl_option_t pl_auth_options[];
/* verify_email, password_reset, password_changed, mfa_enabled, mfa_disabled,
 * magic_link */
extern const pl_mail_template_def_t pl_auth_templates[];
/* auth.purge: the hourly purge of expired sessions, old sign-in attempts
 * and expired email tokens and sign-in steps. */
extern const pl_job_def_t pl_auth_jobs[];
extern const pl_schedule_def_t pl_auth_schedules[];

#endif
