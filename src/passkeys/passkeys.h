/* passkeys.h - passkeys (WebAuthn Level 3): registering, listing and
 * removing the caller's passkeys, and signing in with one (API.md
 * "Identity providers, magic links, passkeys, tokens for your services").
 *
 * Options are WebAuthn's JSON forms (base64url) wrapped as
 * {"publicKey":{...}}; credentials are the browser's
 * PublicKeyCredential.toJSON(). The relying party is PLINTH_WEBAUTHN_RP_ID
 * and the origins PLINTH_WEBAUTHN_ORIGINS. Challenges are single use and
 * live 5 minutes. Sign-in ends through auth's shared steps
 * (pl_auth_signin_complete): a user-verified assertion counts as two
 * factors; without user verification, two-factor users get mfa_required.
 *
 * Services take the thread's connection and the caller's context, record
 * client errors on ctx and return PL_OK or a negative PL_E* code. Strings
 * in results live in ctx->arena. Thread-safe after init. */
#ifndef PL_PASSKEYS_H
#define PL_PASSKEYS_H

#include <jansson.h>

#include "auth/auth.h"
#include "core/ctx.h"
#include "core/module.h"
#include "db/db.h"

#define PL_PASSKEY_NAME_MAX 100 /* bytes of a passkey's name */

/* A registered passkey as its owner sees it. */
typedef struct {
    const char *id;
    const char *name;
    bool user_verified; /* the authenticator verified the user at registration */
    bool backed_up;     /* a synced passkey (backup state) */
    int64_t created_at;
    int64_t last_used_at; /* 0: never */
} pl_passkey_t;

/* Creation options for the signed-in caller ({"publicKey":{...}}, a new
 * reference); the challenge is stored for pl_passkeys_register. */
int pl_passkeys_register_options(pl_db_t *db, pl_ctx_t *ctx, json_t **out);

/* Registers the caller's new passkey from a RegistrationResponseJSON
 * (credential, borrowed). name: NULL for a default; 1..PL_PASSKEY_NAME_MAX
 * bytes. Audits user.passkey_added. 422 validation_failed on field
 * "credential" (its message says what was wrong: challenge, origin, RP id,
 * flags, attestation) or "name"; 409 conflict when the credential is
 * registered already. */
int pl_passkeys_register(pl_db_t *db, pl_ctx_t *ctx, const char *name, json_t *credential,
                         pl_passkey_t *out);

/* The caller's passkeys, oldest first, each passed to fn. */
int pl_passkeys_list(pl_db_t *db, pl_ctx_t *ctx, void (*fn)(void *arg, const pl_passkey_t *p),
                     void *arg);
/* Removes one of the caller's passkeys (404 not_found otherwise); audits
 * user.passkey_removed. */
int pl_passkeys_remove(pl_db_t *db, pl_ctx_t *ctx, const char *id);
/* How many passkeys user_id has (identities' "last way in" rule). */
int pl_passkeys_count(pl_db_t *db, const char *user_id, int *count);

/* Request options for signing in ({"publicKey":{...}}, a new reference):
 * email NULL asks for any discoverable credential; with an email, the
 * credentials of that account are allowed (an unknown address gets options
 * of the same shape that no credential satisfies). 422 on a malformed
 * email. */
int pl_passkeys_signin_options(pl_db_t *db, pl_ctx_t *ctx, const char *email, json_t **out);

/* Signs in with an AuthenticationResponseJSON (credential, borrowed): *out
 * holds the tokens, or the two-factor step when the assertion lacks user
 * verification and the account has 2FA on. 401 invalid_credentials for any
 * assertion that does not verify (unknown credential, challenge unknown,
 * spent, expired or asked for another account, origin, RP id, user
 * presence, signature, user handle, a counter not above the stored one); it
 * counts as a failed sign-in from ctx->ip. 422 when credential is not
 * shaped like one; 403 account_disabled; 429 as for password sign-in. */
int pl_passkeys_signin(pl_db_t *db, pl_ctx_t *ctx, json_t *credential, pl_auth_login_t *out);

/* ---- the module (descriptor in passkeys_routes.c) ---- */
extern const pl_option_t pl_passkeys_options[];
extern const pl_job_def_t pl_passkeys_jobs[];
extern const pl_schedule_def_t pl_passkeys_schedules[];
/* Derives the relying party from the configuration. PL_OK or PL_EINVAL
 * (printed). */
int pl_passkeys_init(void);

#endif
