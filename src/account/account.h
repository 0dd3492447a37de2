/* account.h - a user's own data: the export of everything plinth holds
 * about the caller and the deletion of the account (API.md "Account data
 * and operations").
 *
 * Services take the calling thread's connection and the caller's context
 * (a signed-in user), run their own transaction (joining the request's
 * scope), audit in the instance chain and return PL_OK or a negative PL_E*
 * code with any client error recorded on ctx.
 *
 * Thread-safety: any thread, each with its own connection and context. */
#ifndef PL_ACCOUNT_H
#define PL_ACCOUNT_H

#include <jansson.h>

#include "core/ctx.h"
#include "core/module.h"
#include "db/db.h"

/* Everything the caller's account holds, as one object (a new reference in
 * *out): profile, sessions, memberships, identities, passkeys (names),
 * notifications and security events (the instance chain's events whose
 * actor or target is the caller). Audits user.data_exported first, so the
 * export shows its own event. */
int pl_account_export(pl_db_t *db, pl_ctx_t *ctx, json_t **out);

/* Deletes the caller's account, confirmed with the password and, with
 * two-factor on, a code (pl_auth_confirm: 422 password or code). In one
 * transaction: every session ends, memberships go (member.removed in each
 * organization's chain), organizations nobody else belongs to (the personal
 * one included) are deleted, invitations to the address, sign-in records
 * and mail not yet sent or kept for it are removed, and the user row with
 * its name and email is erased; audit events stay as written, so every
 * chain still verifies. user.deleted goes to the instance chain. 409
 * last_owner while the caller is the only owner of an organization with
 * other members. */
int pl_account_delete(pl_db_t *db, pl_ctx_t *ctx, const char *password, const char *code);

extern const pl_module_t pl_account_module;

#endif
