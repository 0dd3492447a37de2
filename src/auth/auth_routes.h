/* auth_routes.h - what other route files reuse from the HTTP side of
 * accounts: the public User object and the answer of a sign-in step. */
#ifndef PL_AUTH_ROUTES_H
#define PL_AUTH_ROUTES_H

#include <jansson.h>

#include "auth/auth.h"

/* The User object of API.md ({"id","email","name","email_verified",
 * "mfa_enabled","created_at"}) as a new reference; strings are copied, the
 * time formatted in ctx->arena. */
json_t *pl_auth_user_json(pl_ctx_t *ctx, const pl_user_t *u);

/* The answer of a sign-in step as a new reference: a TokenPair, or
 * {"mfa_required":true,"mfa_token","mfa_methods"} when out->mfa_required.
 * The secrets in *out are wiped. */
json_t *pl_auth_login_json(pl_ctx_t *ctx, pl_auth_login_t *out);

#endif
