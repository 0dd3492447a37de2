/* identity.h - sign-in with identity providers (API.md "Identity providers,
 * magic links, passkeys, tokens for your services"): the instance's OpenID
 * Connect and OAuth 2 providers, the authorization-code flow (state, nonce,
 * PKCE S256) that ends in a single-use exchange code, the identities linked
 * to accounts, per-organization SSO with claimed domains, and the
 * organization's security policy (SSO enforcement, joining by email domain,
 * two-factor required of members).
 *
 * Services take the calling thread's connection and the caller's context,
 * record client errors on ctx (pl_fail) and return PL_OK or a negative PL_E*
 * code, as every service does (auth.h). Strings in results live in
 * ctx->arena. Thread-safe after the module's init. */
#ifndef PL_IDENTITY_H
#define PL_IDENTITY_H

#include "auth/auth.h"
#include "core/ctx.h"
#include "core/module.h"
#include "db/db.h"

#define PL_IDP_KEY_MAX     64
#define PL_IDP_NAME_MAX    100
#define PL_IDP_CLIENT_MAX  512  /* bytes of a client id or secret */
#define PL_IDP_SCOPES_MAX  20   /* scopes of a provider */
#define PL_IDP_SCOPE_MAX   100  /* bytes of one scope */
#define PL_IDP_PARAM_MAX   2048 /* bytes of a callback's code or state */
#define PL_SSO_DOMAINS_MAX 20
#define PL_SSO_DOMAIN_MAX  253

/* An instance provider. scopes is a JSON array (text). The client secret
 * never leaves the service. */
typedef struct {
    const char *key, *type, *name, *issuer, *client_id;
    const char *scopes;                                       /* JSON array text */
    const char *authorization_url, *token_url, *userinfo_url; /* NULL: none or discovered */
    int64_t created_at, updated_at;
} pl_idp_t;

/* ---- instance providers (instance admin) ---- */

/* Every provider, by key, each passed to fn (valid during the call). */
int pl_idp_list(pl_db_t *db, pl_ctx_t *ctx, void (*fn)(void *arg, const pl_idp_t *p), void *arg);
/* Creates or replaces the provider in->key. in->client_secret may be NULL
 * when the provider exists (the sealed one is kept). 422 on a bad field.
 * Audits identity_provider.updated. *out is the stored provider. */
typedef struct {
    const char *key, *type, *name, *issuer, *client_id, *client_secret;
    const char *scopes; /* JSON array text; NULL: the default of the type */
    const char *authorization_url, *token_url, *userinfo_url;
} pl_idp_input_t;
int pl_idp_put(pl_db_t *db, pl_ctx_t *ctx, const pl_idp_input_t *in, pl_idp_t *out);
/* 404 not_found when there is none. Audits identity_provider.deleted. */
int pl_idp_delete(pl_db_t *db, pl_ctx_t *ctx, const char *key);

/* ---- the sign-in flow ---- */

/* 302 target of GET /v1/auth/oauth/{key}/start: the provider's
 * authorization URL with a fresh state, nonce and PKCE challenge. 404 for
 * an unknown provider; 422 redirect_to (not allowed); 503 unavailable when
 * the provider cannot be reached. */
int pl_identity_oauth_start(pl_db_t *db, pl_ctx_t *ctx, const char *key, const char *redirect_to,
                            const char **url);
/* The provider's return (GET .../callback, sso NULL) or an SSO issuer's
 * (GET /v1/auth/sso/callback, key NULL): *location is redirect_to with
 * ?code= (a single-use exchange code, 60 s) or ?error= (access_denied,
 * email_taken, sso_required, invalid_request). 400 bad_request (nothing to
 * redirect to) when state is unknown, spent, expired or for another
 * provider. */
int pl_identity_callback(pl_db_t *db, pl_ctx_t *ctx, const char *key, const char *state,
                         const char *code, const char *error, const char **location);
/* Redeems an exchange code: the sign-in's tokens or its two-factor step
 * (pl_auth_signin_complete, method "oauth" or "sso"); *created_org is the
 * personal organization when the account was made by this sign-in (else
 * its id is NULL). 422 invalid_token when unknown, used or expired (a failed
 * sign-in from ctx->ip); 403 sso_required, account_disabled; 429. */
int pl_identity_exchange(pl_db_t *db, pl_ctx_t *ctx, const char *code, pl_auth_login_t *out,
                         pl_auth_org_t *created_org);

/* ---- the caller's identities ---- */

typedef struct {
    const char *id, *provider, *org_id, *email;
    int64_t created_at, last_used_at;
} pl_identity_t;
int pl_identity_list(pl_db_t *db, pl_ctx_t *ctx, void (*fn)(void *arg, const pl_identity_t *i),
                     void *arg);
/* 404 unless it is the caller's; 409 conflict when it is the last way to
 * sign in (a password, identities and passkeys count). Audits
 * user.identity_unlinked. */
int pl_identity_unlink(pl_db_t *db, pl_ctx_t *ctx, const char *id);

/* ---- per-organization SSO ---- */

typedef struct {
    const char *issuer, *client_id, *default_role;
    bool enforce, join_by_email_domain;
    int ndomains;
    const char *domains[PL_SSO_DOMAINS_MAX];
    bool approved[PL_SSO_DOMAINS_MAX];
    int64_t created_at, updated_at;
} pl_sso_t;
typedef struct {
    const char *issuer, *client_id, *client_secret, *default_role;
    bool enforce, join_by_email_domain;
    int ndomains;
    const char *domains[PL_SSO_DOMAINS_MAX];
} pl_sso_input_t;
/* The settings of ctx's tenant; 404 not_found when none. */
int pl_sso_get(pl_db_t *db, pl_ctx_t *ctx, pl_sso_t *out);
/* Replaces them (client_secret may be NULL when settings exist); domains
 * kept keep their approval. 422 on a bad field, 409 conflict when another
 * organization claims a domain. Audits sso.updated. */
int pl_sso_put(pl_db_t *db, pl_ctx_t *ctx, const pl_sso_input_t *in, pl_sso_t *out);
/* 404 when none. Audits sso.deleted. */
int pl_sso_delete(pl_db_t *db, pl_ctx_t *ctx);
/* Instance admin: approves a claimed domain (404 when unclaimed). Audits
 * sso_domain.approved. */
int pl_sso_approve_domain(pl_db_t *db, pl_ctx_t *ctx, const char *domain);
/* The authorization URL of the issuer of the org that claims (approved)
 * the domain of email. 404 not_found when none; 422 email, redirect_to. */
int pl_sso_start(pl_db_t *db, pl_ctx_t *ctx, const char *email, const char *redirect_to,
                 const char **url);

/* ---- the organization's policy ---- */

/* 403 mfa_setup_required when the caller's user lacks 2FA and ctx's tenant
 * requires it (not for API keys). The tenant hook. */
int pl_identity_on_tenant(pl_db_t *db, pl_ctx_t *ctx);

/* ---- the module's parts ---- */
int pl_identity_init(void);
extern const pl_option_t pl_identity_options[];
extern const pl_job_def_t pl_identity_jobs[];
extern const pl_schedule_def_t pl_identity_schedules[];

#endif
