/* auth_routes.h - what other route files reuse from the HTTP side of
 * accounts: the public User object and the answer of a sign-in step. */
#ifndef PL_AUTH_ROUTES_H
#define PL_AUTH_ROUTES_H

#include <jansson.h>

#include "auth/auth.h"
#include "web/web.h"

/* The User object of API.md ({"id","email","name","email_verified",
 * "mfa_enabled","created_at"}) as a new reference; strings are copied, the
 * time formatted in ctx->arena. */
json_t *pl_auth_user_json(pl_ctx_t *ctx, const pl_user_t *u);

/* The answer of a sign-in step as a new reference: a TokenPair, or
 * {"mfa_required":true,"mfa_token","mfa_methods"} when out->mfa_required.
 * With cookie (a browser session), the refresh token goes into the
 * plinth_refresh cookie instead of the body. The secrets in *out are
 * wiped. */
json_t *pl_auth_login_json(pl_req_t *req, pl_auth_login_t *out, bool cookie);

/* Whether the request's body asks for a browser session
 * ("session_cookie": true); a non-boolean value records a field error. */
bool pl_auth_wants_cookie(pl_req_t *req);

#endif
