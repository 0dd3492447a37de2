/* identity_int.h - what the files of src/identity share and nothing else
 * includes: the settings, the pure rules (unit-tested), and the OpenID
 * Connect / OAuth 2 client steps (oidc.c). */
#ifndef PL_IDENTITY_INT_H
#define PL_IDENTITY_INT_H

#include <jansson.h>

#include "core/ctx.h"
#include "identity/identity.h"

/* The settings of the module, read-only after start. */
typedef struct {
    char redirect_allowlist[4096]; /* PLINTH_REDIRECT_ALLOWLIST: comma-separated URLs */
    int start_limit;               /* --oauth-start-limit per client address per hour */
} pl_identity_config_t;
extern pl_identity_config_t pl_identity_cfg;

/* ---- pure rules ---- */

/* Whether url may be a redirect_to under allowlist (comma-separated URLs):
 * url is an absolute http(s) URL without user info, backslashes, controls
 * or spaces, its origin (scheme, host, port; the default port implied)
 * equals an entry's, and its path starts with the entry's path at a '/'
 * boundary, without dot segments. Pure. */
bool pl_identity_redirect_allowed(const char *allowlist, const char *url);

/* The domain of a canonical email (after the '@'), or NULL. */
const char *pl_identity_email_domain(const char *email);

/* A domain name as claimed for SSO: lower-case letters, digits, '-' and at
 * least one '.', labels of 1..63 bytes, at most 253 bytes. Pure. */
bool pl_identity_domain_valid(const char *d);

/* ---- the provider side of a sign-in (oidc.c) ---- */

/* One provider's endpoints and client, as the flow needs them. Strings in
 * the request's arena. */
typedef struct {
    bool oidc;
    const char *issuer;
    const char *authorization_url, *token_url, *userinfo_url, *jwks_url;
    const char *client_id, *client_secret;
    const char *scopes; /* space-separated */
    bool guarded;       /* a tenant's issuer: the public-address guard applies */
    bool github_emails; /* oauth2: read {userinfo_url}/emails when no verified email */
} pl_oidc_provider_t;

/* What the provider says of the person. */
typedef struct {
    const char *subject;
    const char *email; /* canonical, or NULL */
    bool email_verified;
    const char *name; /* may be NULL */
} pl_oidc_person_t;

/* Fills the endpoints of an OpenID issuer from its discovery document
 * ({issuer}/.well-known/openid-configuration, whose "issuer" must equal
 * p->issuer); endpoints already set are kept. PL_OK, or PL_EBUSY (logged)
 * when the issuer cannot be read. */
int pl_oidc_discover(pl_arena_t *a, pl_oidc_provider_t *p);

/* The authorization URL to send the browser to, in a. */
const char *pl_oidc_authorize_url(pl_arena_t *a, const pl_oidc_provider_t *p,
                                  const char *redirect_uri, const char *state, const char *nonce,
                                  const char *code_challenge);

/* The PKCE S256 challenge of verifier (base64url of its SHA-256). */
void pl_oidc_pkce_challenge(const char *verifier, char out[64]);

/* Redeems code at the token endpoint (with the PKCE verifier), verifies the
 * id_token of an OpenID provider (signature from its JWKS, RS256 or ES256;
 * iss, aud, exp, nonce) and reads the person (id_token claims, the userinfo
 * endpoint for what they lack; GitHub's shape for plain OAuth 2). PL_OK, or
 * PL_EINVAL with *why (a static reason for the log: "token_exchange",
 * "id_token_signature", "id_token_claims", "nonce", "userinfo", ...). */
int pl_oidc_redeem(pl_arena_t *a, const pl_oidc_provider_t *p, const char *code,
                   const char *redirect_uri, const char *verifier, const char *nonce,
                   pl_oidc_person_t *out, const char **why);

/* Verifies a compact JWS id_token against the JWK Set jwks and the
 * expected iss, aud (client_id), nonce, at now (ms): the claims as a new
 * reference, or NULL with *why. Pure (unit-tested). */
json_t *pl_oidc_verify_id_token(const char *token, json_t *jwks, const char *iss, const char *aud,
                                const char *nonce, int64_t now, const char **why);

#endif
