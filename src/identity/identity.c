/* identity.c - the rules and transactions of sign-in with identity
 * providers: instance providers (client secrets sealed under the instance
 * data key), the authorization-code flow (state, nonce and PKCE verifier
 * kept server-side for 10 minutes, single use), linking an identity to an
 * account only on an email the provider asserts verified, the single-use
 * exchange code (60 s) that ends every flow, organization SSO (the org's
 * issuer and client secret under the org's data key, claimed domains
 * approved by an instance admin, just-in-time membership), the sign-in
 * policy every way in passes (SSO enforcement, joining by email domain) and
 * the organization's two-factor requirement. */
#include <stdio.h>
#include <string.h>

#include "auth/auth.h"
#include "core/config.h"
#include "core/crypto.h"
#include "core/httpc.h"
#include "core/quota.h"
#include "identity/identity.h"
#include "identity/identity_int.h"
#include "identity/identity_store.h"
#include "orgs/orgs.h"
#include "passkeys/passkeys.h"
#include "platform/audit/audit.h"
#include "platform/keys/keys.h"

#define STATE_TTL_MS (10LL * 60 * 1000)
#define CODE_TTL_MS  (60LL * 1000)
#define ORGS_PAGE    200 /* organizations per page when walking them all */

pl_identity_config_t pl_identity_cfg = {.start_limit = 300};

const pl_option_t pl_identity_options[] = {
    {NULL, "PLINTH_REDIRECT_ALLOWLIST", PL_OPT_STR, PL_OPT_S(pl_identity_cfg.redirect_allowlist), 0,
     0, PL_OPT_SERVE, "URLS",
     "comma-separated URLs a sign-in with an identity provider may return to (redirect_to: same "
     "origin, path below the entry's)",
     NULL},
    {"oauth-start-limit", "PLINTH_OAUTH_START_LIMIT", PL_OPT_INT, &pl_identity_cfg.start_limit, 0,
     0, 1000000, PL_OPT_SERVE, "N",
     "sign-ins with identity providers (and SSO) begun per client address per hour, 0 for no "
     "limit (default 300)",
     NULL},
    {0},
};

/* A sign-in in flight is a row: a client address begins at most
 * start_limit of them per hour (per instance). */
static int start_quota(pl_ctx_t *ctx)
{
    if (pl_identity_cfg.start_limit <= 0)
        return PL_OK;
    char key[PL_QUOTA_KEY_MAX + 1];
    snprintf(key, sizeof(key), "signin-start %s", ctx->ip ? ctx->ip : "");
    int retry = 0;
    if (pl_quota_take(key, pl_identity_cfg.start_limit, 3600 * 1000, pl_now_ms(), &retry))
        return PL_OK;
    ctx->err.retry_after = retry;
    return pl_fail(ctx, 429, "rate_limited", "Too many sign-ins begun from this address.");
}

static int not_found(pl_ctx_t *ctx)
{
    return pl_fail(ctx, 404, "not_found", "No such resource.");
}

static const char *idp_ad(pl_arena_t *a, const char *key)
{
    return pl_arena_printf(a, "identity_provider/%s/client_secret", key);
}

static const char *sso_ad(pl_arena_t *a, const char *org_id)
{
    return pl_arena_printf(a, "org_sso/%s/client_secret", org_id);
}

static bool is_url(const char *s)
{
    const char *code = NULL;
    return s && pl_httpc_check_url(s, false, &code) == PL_OK;
}

/* ---- instance providers ---- */

int pl_idp_list(pl_db_t *db, pl_ctx_t *ctx, void (*fn)(void *arg, const pl_idp_t *p), void *arg)
{
    return pl_idstore_idp_list(db, ctx->arena, fn, arg);
}

static bool key_valid(const char *k)
{
    size_t n = k ? strlen(k) : 0;
    if (!n || n > PL_IDP_KEY_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = k[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (i && (c == '-' || c == '_'))))
            return false;
    }
    return true;
}

int pl_idp_put(pl_db_t *db, pl_ctx_t *ctx, const pl_idp_input_t *in, pl_idp_t *out)
{
    if (!key_valid(in->key))
        return not_found(ctx);
    bool oidc = in->type && !strcmp(in->type, "oidc");
    if (!in->type || (!oidc && strcmp(in->type, "oauth2")))
        pl_field_error(ctx, "type", "invalid", "Use oidc or oauth2.");
    if (oidc && !is_url(in->issuer))
        pl_field_error(ctx, "issuer", in->issuer ? "invalid" : "required",
                       "An OpenID provider needs its issuer URL.");
    const char *urls[3] = {in->authorization_url, in->token_url, in->userinfo_url};
    const char *names[3] = {"authorization_url", "token_url", "userinfo_url"};
    for (int i = 0; i < 3; i++) {
        if (urls[i] && !is_url(urls[i]))
            pl_field_error(ctx, names[i], "invalid", "Give an http(s) URL.");
        else if (!urls[i] && in->type && !oidc)
            pl_field_error(ctx, names[i], "required", "A plain OAuth 2 provider needs it.");
    }
    if (pl_validated(ctx))
        return PL_EINVAL;
    int rc = pl_db_begin(db);
    if (rc)
        return rc;
    pl_idp_t old;
    const char *sealed = NULL;
    rc = pl_idstore_idp_get(db, ctx->arena, in->key, &old, &sealed);
    bool exists = rc == PL_OK;
    if (rc == PL_ENOTFOUND)
        rc = PL_OK;
    if (!rc && !exists && !in->client_secret) {
        pl_field_error(ctx, "client_secret", "required", "A new provider needs its client secret.");
        rc = PL_EINVAL;
    }
    if (!rc && in->client_secret)
        rc = pl_keys_seal(db, ctx->arena, NULL, in->client_secret, strlen(in->client_secret),
                          idp_ad(ctx->arena, in->key), (char **)&sealed);
    int64_t now = pl_now_ms();
    pl_idp_t p = {
        .key = in->key,
        .type = in->type,
        .name = in->name,
        .issuer = oidc ? in->issuer : NULL,
        .client_id = in->client_id,
        .scopes = in->scopes ? in->scopes
                             : (oidc ? "[\"openid\",\"email\",\"profile\"]" : "[\"user:email\"]"),
        .authorization_url = in->authorization_url,
        .token_url = in->token_url,
        .userinfo_url = in->userinfo_url,
        .created_at = exists ? old.created_at : now,
        .updated_at = now,
    };
    if (!rc)
        rc = pl_idstore_idp_upsert(db, &p, sealed);
    json_t *d = json_pack("{s:s, s:s}", "key", p.key, "type", p.type);
    if (!rc)
        rc = pl_audit_append(db, ctx, NULL, "identity_provider.updated", "identity_provider", p.key,
                             d);
    json_decref(d);
    if ((rc = pl_db_finish(db, rc)))
        return rc;
    *out = p;
    return PL_OK;
}

int pl_idp_delete(pl_db_t *db, pl_ctx_t *ctx, const char *key)
{
    int rc = pl_db_begin(db);
    if (rc)
        return rc;
    rc = pl_idstore_idp_delete(db, key);
    if (rc == PL_ENOTFOUND)
        rc = not_found(ctx);
    if (!rc)
        rc = pl_audit_append(db, ctx, NULL, "identity_provider.deleted", "identity_provider", key,
                             NULL);
    return pl_db_finish(db, rc);
}

/* ---- the provider as the flow sees it ---- */

/* The space-separated scopes of a JSON array text. */
static const char *scopes_text(pl_arena_t *a, const char *json)
{
    json_t *arr = json ? json_loads(json, 0, NULL) : NULL;
    pl_buf_t b;
    pl_buf_init(&b, 4096);
    size_t i;
    json_t *s;
    json_array_foreach(arr, i, s)
    {
        if (!json_is_string(s))
            continue;
        if (b.len)
            pl_buf_append(&b, " ", 1);
        pl_buf_append(&b, json_string_value(s), json_string_length(s));
    }
    json_decref(arr);
    char *out = pl_arena_strndup(a, b.len ? b.ptr : "", b.len);
    pl_buf_free(&b);
    return out;
}

/* Reads provider key (and, with secret, opens its client secret) into *p.
 * 404 not_found when unknown. Runs its own read transaction. */
static int load_idp(pl_db_t *db, pl_ctx_t *ctx, const char *key, bool secret, pl_oidc_provider_t *p)
{
    memset(p, 0, sizeof(*p));
    if (!key_valid(key))
        return not_found(ctx);
    int rc = pl_db_begin_read(db);
    if (rc)
        return rc;
    pl_idp_t idp;
    const char *sealed = NULL;
    rc = pl_idstore_idp_get(db, ctx->arena, key, &idp, &sealed);
    if (rc == PL_ENOTFOUND)
        rc = not_found(ctx);
    char *plain = NULL;
    size_t n = 0;
    if (!rc && secret)
        rc = pl_keys_open(db, ctx->arena, NULL, sealed, idp_ad(ctx->arena, key), &plain, &n);
    if ((rc = pl_db_finish(db, rc)))
        return rc;
    p->oidc = !strcmp(idp.type, "oidc");
    p->issuer = idp.issuer;
    p->authorization_url = idp.authorization_url;
    p->token_url = idp.token_url;
    p->userinfo_url = idp.userinfo_url;
    p->client_id = idp.client_id;
    p->client_secret = plain;
    p->scopes = scopes_text(ctx->arena, idp.scopes);
    p->guarded = false; /* the operator's own configuration */
    p->github_emails = !p->oidc;
    return PL_OK;
}

static int unreachable(pl_ctx_t *ctx)
{
    ctx->err.retry_after = 30;
    return pl_fail(ctx, 503, "unavailable", "The identity provider cannot be reached.");
}

static const char *callback_url(pl_arena_t *a, const char *key)
{
    size_t n = strlen(pl_cfg.public_api_url);
    while (n && pl_cfg.public_api_url[n - 1] == '/')
        n--;
    if (key)
        return pl_arena_printf(a, "%.*s/v1/auth/oauth/%s/callback", (int)n, pl_cfg.public_api_url,
                               key);
    return pl_arena_printf(a, "%.*s/v1/auth/sso/callback", (int)n, pl_cfg.public_api_url);
}

static int check_redirect(pl_ctx_t *ctx, const char *redirect_to)
{
    if (redirect_to &&
        pl_identity_redirect_allowed(pl_identity_cfg.redirect_allowlist, redirect_to))
        return PL_OK;
    pl_field_error(ctx, "redirect_to", redirect_to ? "not_allowed" : "required",
                   "redirect_to must be below an entry of the redirect allow-list.");
    return PL_EINVAL;
}

/* Stores a new sign-in in flight and builds the authorization URL. */
static int begin_flow(pl_db_t *db, pl_ctx_t *ctx, const pl_oidc_provider_t *p, const char *key,
                      const char *org_id, const char *redirect_to, const char **url)
{
    char state[PL_AUTH_TOKEN_LEN], nonce[PL_AUTH_TOKEN_LEN], verifier[PL_AUTH_TOKEN_LEN];
    char challenge[64], hash[65];
    pl_token_new(32, state, sizeof(state));
    pl_token_new(32, nonce, sizeof(nonce));
    pl_token_new(32, verifier, sizeof(verifier));
    pl_oidc_pkce_challenge(verifier, challenge);
    pl_sha256_hex(state, strlen(state), hash);
    pl_idstore_state_t s = {.provider_key = key,
                            .org_id = org_id,
                            .nonce = nonce,
                            .code_verifier = verifier,
                            .redirect_to = redirect_to};
    int64_t now = pl_now_ms();
    int rc = pl_db_begin(db);
    if (!rc && org_id)
        rc = pl_db_set_context(db, "app.org_id", org_id);
    if (!rc)
        rc = pl_idstore_state_insert(db, hash, &s, now + STATE_TTL_MS, now);
    rc = pl_db_finish(db, rc);
    if (!rc)
        *url = pl_oidc_authorize_url(ctx->arena, p, callback_url(ctx->arena, key), state, nonce,
                                     challenge);
    pl_memzero(verifier, sizeof(verifier));
    pl_memzero(state, sizeof(state));
    return rc;
}

int pl_identity_oauth_start(pl_db_t *db, pl_ctx_t *ctx, const char *key, const char *redirect_to,
                            const char **url)
{
    pl_oidc_provider_t p;
    int rc = load_idp(db, ctx, key, false, &p);
    if (rc)
        return rc;
    if (check_redirect(ctx, redirect_to))
        return PL_EINVAL;
    if ((rc = start_quota(ctx)))
        return rc;
    if (p.oidc && pl_oidc_discover(ctx->arena, &p))
        return unreachable(ctx);
    return begin_flow(db, ctx, &p, key, NULL, redirect_to, url);
}

/* ---- the sign-in policy of claimed domains ---- */

/* The SSO settings of the org that claims the (approved) domain of email:
 * PL_ENOTFOUND when none. */
static int domain_sso(pl_db_t *db, pl_arena_t *a, const char *email, const char **org_id,
                      pl_sso_t *sso)
{
    const char *domain = pl_identity_email_domain(email);
    bool approved = false;
    if (!domain)
        return PL_ENOTFOUND;
    int rc = pl_db_set_context(db, "app.sso_domain", domain);
    if (!rc)
        rc = pl_idstore_sso_domain_owner(db, a, domain, org_id, &approved);
    if (!rc && !approved)
        rc = PL_ENOTFOUND;
    if (!rc)
        rc = pl_db_set_context(db, "app.org_id", *org_id);
    if (!rc)
        rc = pl_idstore_sso_get(db, a, *org_id, sso, NULL);
    return rc;
}

/* Adds user_id to org_id with role (just-in-time or by email domain),
 * unless a member already. Inside the caller's transaction. */
static int join_org(pl_db_t *db, pl_ctx_t *ctx, const char *org_id, const char *user_id,
                    const char *role, const char *via)
{
    int rc = pl_db_set_context(db, "app.org_id", org_id);
    if (!rc)
        rc = pl_orgs_join_as(db, ctx, org_id, user_id, role, via);
    if (rc == PL_ELIMIT) { /* the plan is full: the sign-in goes on without */
        pl_log("info", "not joined to an organization whose plan has no seat left (request_id %s)",
               ctx->request_id ? ctx->request_id : "");
        memset(&ctx->err, 0, sizeof(ctx->err));
        rc = PL_OK;
    }
    return rc;
}

/* Runs on every sign-in before a session or a two-factor step is issued
 * (auth's sign-in hook): an enforced SSO domain admits only SSO; a
 * verified email of an approved domain joins the org that asks for it. */
static int signin_policy(pl_db_t *db, pl_ctx_t *ctx, const pl_user_t *u, const char *method)
{
    const char *org_id = NULL;
    pl_sso_t sso;
    /* most sign-ins read one row and go on: a read transaction (or the
     * caller's) */
    int rc = pl_db_begin_read(db);
    if (rc)
        return rc;
    rc = domain_sso(db, ctx->arena, u->email, &org_id, &sso);
    if (rc == PL_ENOTFOUND)
        return pl_db_finish(db, PL_OK);
    if (!rc && sso.enforce && strcmp(method, "sso"))
        rc = pl_fail(ctx, 403, "sso_required",
                     "Your organization requires signing in with its identity provider.");
    if ((rc = pl_db_finish(db, rc)) || !sso.join_by_email_domain || !u->email_verified)
        return rc;
    if ((rc = pl_db_begin(db)))
        return rc;
    return pl_db_finish(db, join_org(db, ctx, org_id, u->id, sso.default_role, "email_domain"));
}

/* When an email becomes verified: the org that asks for its domain's
 * accounts takes this one in (auth's verified hook, in its transaction). */
static int email_verified(pl_db_t *db, pl_ctx_t *ctx, const char *user_id, const char *email)
{
    const char *org_id = NULL;
    pl_sso_t sso;
    int rc = domain_sso(db, ctx->arena, email, &org_id, &sso);
    if (rc == PL_ENOTFOUND || (!rc && !sso.join_by_email_domain))
        return PL_OK;
    return rc ? rc : join_org(db, ctx, org_id, user_id, sso.default_role, "email_domain");
}

/* ---- the callback ---- */

/* The account of the person (provider: the key, or "sso:<org>"), found by
 * identity, linked by verified email, or created. *err: the redirect's
 * error code for a refusal. */
static int resolve_account(pl_db_t *db, pl_ctx_t *ctx, const char *provider,
                           const pl_oidc_person_t *person, bool trust_email, const char **user_id,
                           const char **created_org, const char **err)
{
    const char *ident_id = NULL;
    int64_t now = pl_now_ms();
    int rc =
        pl_idstore_identity_find(db, ctx->arena, provider, person->subject, &ident_id, user_id);
    if (rc == PL_OK)
        return pl_idstore_identity_touch(db, ident_id, person->email, now);
    if (rc != PL_ENOTFOUND)
        return rc;
    if (!person->email) {
        *err = "invalid_request";
        return PL_EINVAL;
    }
    bool verified = person->email_verified || trust_email;
    pl_user_t u;
    rc = pl_auth_user_by_email(db, ctx, person->email, &u);
    if (rc == PL_OK && !verified) {
        *err = "email_taken";
        return PL_EINVAL;
    }
    if (rc == PL_ENOTFOUND) {
        const char *name = person->name;
        if (!name) {
            const char *at = strchr(person->email, '@');
            name = pl_arena_strndup(ctx->arena, person->email, (size_t)(at - person->email));
        }
        pl_auth_new_user_t nu = {
            .email = person->email, .name = name, .password_hash = "", .email_verified = verified};
        pl_auth_org_t org;
        rc = pl_auth_create_user(db, ctx, &nu, &u, &org);
        if (rc == PL_EINVAL && person->name) { /* a name we cannot keep: the address's */
            memset(&ctx->err, 0, sizeof(ctx->err));
            const char *at = strchr(person->email, '@');
            nu.name = pl_arena_strndup(ctx->arena, person->email, (size_t)(at - person->email));
            rc = pl_auth_create_user(db, ctx, &nu, &u, &org);
        }
        if (rc == PL_ECONFLICT || (rc && ctx->err.code && !strcmp(ctx->err.code, "email_taken"))) {
            *err = "email_taken";
            return PL_EINVAL;
        }
        if (rc)
            return rc;
        *created_org = org.id;
    } else if (rc) {
        return rc;
    } else if (!u.email_verified) {
        rc = pl_auth_mark_email_verified(db, ctx, u.id, u.email);
        if (rc && rc != PL_ENOTFOUND)
            return rc;
    }
    char *id = pl_arena_alloc(ctx->arena, PL_ID_LEN);
    pl_uuid7(id);
    rc = pl_idstore_identity_insert(db, id, u.id, provider, person->subject, person->email, now);
    json_t *d = json_pack("{s:s}", "provider", provider);
    if (!rc)
        rc = pl_audit_append(db, ctx, NULL, "user.identity_linked", "user", u.id, d);
    json_decref(d);
    *user_id = u.id;
    return rc;
}

/* url with name=value added to its query (before any fragment). */
static const char *with_param(pl_arena_t *a, const char *url, const char *name, const char *value)
{
    const char *hash = strchr(url, '#');
    size_t n = hash ? (size_t)(hash - url) : strlen(url);
    const char *q = memchr(url, '?', n);
    return pl_arena_printf(a, "%.*s%c%s=%s%s", (int)n, url, q ? '&' : '?', name, value,
                           hash ? hash : "");
}

/* The SSO provider of org_id with its client secret (in the caller's
 * transaction, which sets the org's context for its data key). */
static int load_sso_provider(pl_db_t *db, pl_ctx_t *ctx, const char *org_id, pl_sso_t *sso,
                             pl_oidc_provider_t *p)
{
    memset(p, 0, sizeof(*p));
    const char *sealed = NULL;
    int rc = pl_db_set_context(db, "app.org_id", org_id);
    if (!rc)
        rc = pl_idstore_sso_get(db, ctx->arena, org_id, sso, &sealed);
    if (!rc)
        rc = pl_idstore_sso_domains(db, ctx->arena, org_id, sso);
    char *plain = NULL;
    size_t n = 0;
    if (!rc)
        rc = pl_keys_open(db, ctx->arena, org_id, sealed, sso_ad(ctx->arena, org_id), &plain, &n);
    if (rc)
        return rc;
    p->oidc = true;
    p->issuer = sso->issuer;
    p->client_id = sso->client_id;
    p->client_secret = plain;
    p->scopes = "openid email profile";
    p->guarded = true;
    return PL_OK;
}

static bool domain_approved(const pl_sso_t *sso, const char *email)
{
    const char *d = pl_identity_email_domain(email);
    for (int i = 0; d && i < sso->ndomains; i++)
        if (sso->approved[i] && !strcmp(sso->domains[i], d))
            return true;
    return false;
}

int pl_identity_callback(pl_db_t *db, pl_ctx_t *ctx, const char *key, const char *state,
                         const char *code, const char *error, const char **location)
{
    if (!state || !*state || strlen(state) > PL_IDP_PARAM_MAX)
        return pl_fail(ctx, 400, "bad_request", "The sign-in state is missing or not valid.");
    char hash[65];
    pl_sha256_hex(state, strlen(state), hash);
    pl_idstore_state_t st;
    int64_t now = pl_now_ms();
    int rc = pl_db_begin(db);
    if (rc)
        return rc;
    rc = pl_db_set_context(db, "app.oauth_state", hash);
    if (!rc)
        rc = pl_idstore_state_take(db, ctx->arena, hash, now, &st);
    if ((rc = pl_db_finish(db, rc)) && rc != PL_ENOTFOUND)
        return rc;
    bool ours = rc == PL_OK && (key ? st.provider_key && !strcmp(st.provider_key, key)
                                    : st.org_id && !st.provider_key);
    if (!ours)
        return pl_fail(ctx, 400, "bad_request", "The sign-in state is unknown, used or expired.");
    const char *err = NULL;
    if (error || !code || !*code || strlen(code) > PL_IDP_PARAM_MAX) {
        *location = with_param(ctx->arena, st.redirect_to, "error",
                               error ? "access_denied" : "invalid_request");
        return PL_OK;
    }
    pl_oidc_provider_t p;
    pl_sso_t sso;
    if (key) {
        rc = load_idp(db, ctx, key, true, &p);
    } else {
        if (!(rc = pl_db_begin_read(db)))
            rc = pl_db_finish(db, load_sso_provider(db, ctx, st.org_id, &sso, &p));
        if (!rc && p.guarded && pl_httpc_allow_private())
            p.guarded = false;
    }
    if (rc == PL_ENOTFOUND || (rc && ctx->err.status == 404)) {
        memset(&ctx->err, 0, sizeof(ctx->err));
        *location = with_param(ctx->arena, st.redirect_to, "error", "access_denied");
        return PL_OK;
    }
    if (rc)
        return rc;
    pl_oidc_person_t person;
    const char *why = NULL;
    if ((p.oidc && pl_oidc_discover(ctx->arena, &p)) ||
        pl_oidc_redeem(ctx->arena, &p, code, callback_url(ctx->arena, key), st.code_verifier,
                       st.nonce, &person, &why)) {
        pl_log("info", "sign-in with an identity provider refused: %s (request_id %s)",
               why ? why : "discovery", ctx->request_id ? ctx->request_id : "");
        if (p.client_secret)
            pl_memzero((char *)p.client_secret, strlen(p.client_secret));
        *location = with_param(ctx->arena, st.redirect_to, "error", "access_denied");
        return PL_OK;
    }
    pl_memzero((char *)p.client_secret, strlen(p.client_secret));
    const char *provider = key ? key : pl_arena_printf(ctx->arena, "sso:%s", st.org_id);
    if (!key && (!person.email || !domain_approved(&sso, person.email))) {
        *location = with_param(ctx->arena, st.redirect_to, "error", "access_denied");
        return PL_OK;
    }
    const char *user_id = NULL, *created_org = NULL;
    if ((rc = pl_db_begin(db)))
        return rc;
    if (key && person.email) { /* an enforced domain admits only its SSO */
        const char *org_id = NULL;
        pl_sso_t dsso;
        rc = domain_sso(db, ctx->arena, person.email, &org_id, &dsso);
        if (rc == PL_OK && dsso.enforce) {
            err = "sso_required";
            rc = PL_EINVAL;
        } else if (rc == PL_ENOTFOUND) {
            rc = PL_OK;
        }
    }
    if (!rc)
        rc = resolve_account(db, ctx, provider, &person, !key, &user_id, &created_org, &err);
    if (!rc && !key)
        rc = join_org(db, ctx, st.org_id, user_id, sso.default_role, "sso");
    char token[PL_AUTH_TOKEN_LEN], chash[65];
    pl_token_new(32, token, sizeof(token));
    pl_sha256_hex(token, strlen(token), chash);
    if (!rc)
        rc = pl_idstore_code_insert(db, chash, user_id, key ? "oauth" : "sso", created_org,
                                    now + CODE_TTL_MS, pl_now_ms());
    rc = pl_db_finish(db, rc);
    if (rc == PL_EINVAL && err) {
        memset(&ctx->err, 0, sizeof(ctx->err));
        *location = with_param(ctx->arena, st.redirect_to, "error", err);
        rc = PL_OK;
    } else if (!rc) {
        *location = with_param(ctx->arena, st.redirect_to, "code", token);
    }
    pl_memzero(token, sizeof(token));
    return rc;
}

/* ---- the exchange ---- */

static int invalid_code(pl_ctx_t *ctx)
{
    pl_field_error(ctx, "code", "invalid", "The code is unknown, used or expired.");
    return pl_fail(ctx, 422, "invalid_token", "The code is unknown, used or expired.");
}

int pl_identity_exchange(pl_db_t *db, pl_ctx_t *ctx, const char *code, pl_auth_login_t *out,
                         pl_auth_org_t *created_org)
{
    memset(out, 0, sizeof(*out));
    memset(created_org, 0, sizeof(*created_org));
    int rc = pl_auth_throttle(db, ctx, NULL);
    if (rc)
        return rc;
    char hash[65];
    pl_sha256_hex(code, strlen(code), hash);
    const char *user_id = NULL, *method = NULL, *org_id = NULL;
    if ((rc = pl_db_begin(db)))
        return rc;
    rc = pl_idstore_code_take(db, ctx->arena, hash, pl_now_ms(), &user_id, &method, &org_id);
    rc = pl_db_finish(db, rc);
    if (rc == PL_ENOTFOUND) {
        rc = pl_auth_signin_failed(db, ctx, NULL, NULL, "oauth", "invalid_token", 0);
        return rc ? rc : invalid_code(ctx);
    }
    if (rc)
        return rc;
    pl_user_t u;
    if ((rc = pl_auth_user_get(db, ctx, user_id, &u)))
        return rc == PL_ENOTFOUND ? invalid_code(ctx) : rc;
    if ((rc = pl_auth_signin_complete(db, ctx, &u, method, false, 0, out)))
        return rc;
    if (org_id && !out->mfa_required) {
        pl_org_t o;
        if (pl_orgs_lookup(db, ctx->arena, org_id, &o) == PL_OK)
            *created_org = (pl_auth_org_t){.id = o.id,
                                           .name = o.name,
                                           .slug = o.slug,
                                           .personal = o.personal,
                                           .role = "owner",
                                           .created_at = o.created_at};
    }
    return PL_OK;
}

/* ---- the caller's identities ---- */

int pl_identity_list(pl_db_t *db, pl_ctx_t *ctx, void (*fn)(void *arg, const pl_identity_t *i),
                     void *arg)
{
    const char *uid = pl_ctx_user(ctx);
    if (!uid)
        return pl_fail(ctx, 401, "unauthenticated", "Sign in first.");
    return pl_idstore_identities_of(db, ctx->arena, uid, fn, arg);
}

int pl_identity_unlink(pl_db_t *db, pl_ctx_t *ctx, const char *id)
{
    const char *uid = pl_ctx_user(ctx);
    if (!uid)
        return pl_fail(ctx, 401, "unauthenticated", "Sign in first.");
    int rc = pl_db_begin(db);
    if (rc)
        return rc;
    pl_identity_t i;
    bool password = false;
    int identities = 0, passkeys = 0;
    rc = pl_idstore_identity_get(db, ctx->arena, uid, id, &i);
    if (rc == PL_ENOTFOUND)
        rc = not_found(ctx);
    if (!rc)
        rc = pl_idstore_user_has_password(db, uid, &password);
    if (!rc)
        rc = pl_idstore_identities_count(db, uid, &identities);
    if (!rc)
        rc = pl_passkeys_count(db, uid, &passkeys);
    if (!rc && (password ? 1 : 0) + identities + passkeys <= 1)
        rc = pl_fail(ctx, 409, "conflict",
                     "This is the last way to sign in to the account; add another first.");
    if (!rc)
        rc = pl_idstore_identity_delete(db, uid, id);
    json_t *d = json_pack("{s:s, s:s}", "identity_id", id, "provider",
                          i.org_id ? "sso" : (i.provider ? i.provider : ""));
    if (!rc)
        rc = pl_audit_append(db, ctx, NULL, "user.identity_unlinked", "user", uid, d);
    json_decref(d);
    return pl_db_finish(db, rc);
}

/* ---- organization SSO ---- */

int pl_sso_get(pl_db_t *db, pl_ctx_t *ctx, pl_sso_t *out)
{
    const char *org_id = ctx->tenant.org_id;
    int rc = pl_idstore_sso_get(db, ctx->arena, org_id, out, NULL);
    if (rc == PL_ENOTFOUND)
        return not_found(ctx);
    return rc ? rc : pl_idstore_sso_domains(db, ctx->arena, org_id, out);
}

int pl_sso_put(pl_db_t *db, pl_ctx_t *ctx, const pl_sso_input_t *in, pl_sso_t *out)
{
    const char *org_id = ctx->tenant.org_id;
    const char *code = NULL;
    if (!in->issuer || pl_httpc_check_url(in->issuer, false, &code) ||
        (strncmp(in->issuer, "https://", 8) && !pl_httpc_allow_private()))
        pl_field_error(ctx, "issuer", in->issuer ? "invalid" : "required",
                       "Give the https URL of the organization's OpenID issuer.");
    for (int i = 0; i < in->ndomains; i++) {
        if (!pl_identity_domain_valid(in->domains[i]))
            pl_field_error(ctx, "domains", "invalid", "Give lower-case domain names.");
        for (int j = 0; j < i; j++)
            if (!strcmp(in->domains[i], in->domains[j]))
                pl_field_error(ctx, "domains", "invalid", "A domain is listed twice.");
    }
    if (pl_validated(ctx))
        return PL_EINVAL;
    const char *role = in->default_role ? in->default_role : "member";
    int rc = pl_db_begin(db);
    if (rc)
        return rc;
    pl_role_t r;
    rc = pl_orgs_role(db, ctx, org_id, role, &r);
    if (rc == PL_ENOTFOUND || (!rc && !strcmp(role, "owner"))) {
        pl_field_error(ctx, "default_role", "invalid", "Give an existing role other than owner.");
        rc = PL_EINVAL;
    }
    pl_sso_t old;
    const char *sealed = NULL;
    bool exists = false;
    if (!rc) {
        rc = pl_idstore_sso_get(db, ctx->arena, org_id, &old, &sealed);
        exists = rc == PL_OK;
        if (rc == PL_ENOTFOUND)
            rc = PL_OK;
    }
    if (!rc && exists)
        rc = pl_idstore_sso_domains(db, ctx->arena, org_id, &old);
    if (!rc && !exists && !in->client_secret) {
        pl_field_error(ctx, "client_secret", "required",
                       "New SSO settings need the client secret.");
        rc = PL_EINVAL;
    }
    if (!rc && in->client_secret)
        rc = pl_keys_seal(db, ctx->arena, org_id, in->client_secret, strlen(in->client_secret),
                          sso_ad(ctx->arena, org_id), (char **)&sealed);
    int64_t now = pl_now_ms();
    pl_sso_t s = {.issuer = in->issuer,
                  .client_id = in->client_id,
                  .default_role = role,
                  .enforce = in->enforce,
                  .join_by_email_domain = in->join_by_email_domain,
                  .created_at = exists ? old.created_at : now,
                  .updated_at = now};
    if (!rc)
        rc = pl_idstore_sso_upsert(db, org_id, &s, sealed, now);
    if (!rc)
        rc = pl_idstore_sso_domains_clear(db, org_id);
    for (int i = 0; !rc && i < in->ndomains; i++) {
        int64_t approved = 0;
        for (int j = 0; exists && j < old.ndomains; j++)
            if (!strcmp(old.domains[j], in->domains[i]) && old.approved[j])
                approved = now; /* unchanged domains keep their approval */
        rc = pl_idstore_sso_domain_insert(db, in->domains[i], org_id, approved, now);
        if (rc == PL_ECONFLICT)
            rc = pl_fail(ctx, 409, "conflict",
                         pl_arena_printf(ctx->arena, "%s is claimed by another organization.",
                                         in->domains[i]));
        s.domains[i] = in->domains[i];
        s.approved[i] = approved != 0;
    }
    s.ndomains = in->ndomains;
    json_t *doms = json_array();
    for (int i = 0; i < in->ndomains; i++)
        json_array_append_new(doms, json_string(in->domains[i]));
    json_t *d =
        json_pack("{s:s, s:o, s:b}", "issuer", s.issuer, "domains", doms, "enforce", s.enforce);
    if (!rc)
        rc = pl_audit_append(db, ctx, org_id, "sso.updated", "org", org_id, d);
    json_decref(d);
    if ((rc = pl_db_finish(db, rc)))
        return rc;
    *out = s;
    return PL_OK;
}

int pl_sso_delete(pl_db_t *db, pl_ctx_t *ctx)
{
    const char *org_id = ctx->tenant.org_id;
    int rc = pl_db_begin(db);
    if (rc)
        return rc;
    rc = pl_idstore_sso_delete(db, org_id);
    if (rc == PL_ENOTFOUND)
        rc = not_found(ctx);
    if (!rc)
        rc = pl_idstore_sso_domains_clear(db, org_id);
    if (!rc)
        rc = pl_audit_append(db, ctx, org_id, "sso.deleted", "org", org_id, NULL);
    return pl_db_finish(db, rc);
}

int pl_sso_approve_domain(pl_db_t *db, pl_ctx_t *ctx, const char *domain)
{
    if (!pl_identity_domain_valid(domain))
        return not_found(ctx);
    int rc = pl_db_begin(db);
    if (rc)
        return rc;
    rc = pl_db_set_context(db, "app.sso_domain", domain);
    if (!rc)
        rc = pl_idstore_sso_domain_approve(db, domain, pl_now_ms());
    if (rc == PL_ENOTFOUND)
        rc = not_found(ctx);
    json_t *d = json_pack("{s:s}", "domain", domain);
    if (!rc)
        rc = pl_audit_append(db, ctx, NULL, "sso_domain.approved", "sso_domain", domain, d);
    json_decref(d);
    return pl_db_finish(db, rc);
}

int pl_sso_start(pl_db_t *db, pl_ctx_t *ctx, const char *email_in, const char *redirect_to,
                 const char **url)
{
    const char *email = NULL;
    pl_auth_check_email(ctx, "email", email_in, &email);
    check_redirect(ctx, redirect_to);
    if (pl_validated(ctx))
        return PL_EINVAL;
    int rc = start_quota(ctx);
    if (rc)
        return rc;
    const char *org_id = NULL;
    pl_sso_t sso;
    if ((rc = pl_db_begin_read(db)))
        return rc;
    rc = domain_sso(db, ctx->arena, email, &org_id, &sso);
    if (rc == PL_ENOTFOUND)
        rc = pl_fail(ctx, 404, "not_found", "No organization signs in this email's domain.");
    if ((rc = pl_db_finish(db, rc)))
        return rc;
    pl_oidc_provider_t p = {.oidc = true,
                            .issuer = sso.issuer,
                            .client_id = sso.client_id,
                            .scopes = "openid email profile",
                            .guarded = !pl_httpc_allow_private()};
    if (pl_oidc_discover(ctx->arena, &p))
        return unreachable(ctx);
    return begin_flow(db, ctx, &p, NULL, org_id, redirect_to, url);
}

/* ---- the organization's two-factor requirement ---- */

int pl_identity_on_tenant(pl_db_t *db, pl_ctx_t *ctx)
{
    if (ctx->tenant.is_api_key || !pl_ctx_user(ctx) || ctx->principal.mfa_enabled)
        return PL_OK;
    (void)db;
    if (!ctx->tenant.require_mfa)
        return PL_OK;
    /* leaving stays possible */
    if (ctx->tenant.route && !strcmp(ctx->tenant.route, "/v1/orgs/{org}/members/{user}") &&
        ctx->tenant.route_method_delete && ctx->tenant.route_user &&
        !strcmp(ctx->tenant.route_user, ctx->principal.user_id))
        return PL_OK;
    return pl_fail(ctx, 403, "mfa_setup_required",
                   "This organization requires two-factor authentication; turn it on first.");
}

/* ---- jobs and start ---- */

static int purge_job(const char *id, json_t *payload, char *err, size_t errlen)
{
    (void)id;
    (void)payload;
    pl_db_t *db = pl_db_thread();
    if (!db) {
        snprintf(err, errlen, "no database");
        return PL_EDB;
    }
    int64_t before = pl_now_ms() - 3600 * 1000;
    int rc = pl_db_begin(db);
    if (!rc)
        rc = pl_db_finish(db, pl_idstore_purge(db, NULL, before));
    /* SSO sign-ins in flight are the organizations' rows (row-level
     * security): one organization at a time, in its context */
    char last[PL_ID_LEN] = "";
    while (!rc) {
        pl_arena_t *a = pl_arena_create();
        const char *ids[ORGS_PAGE];
        int n = 0;
        rc = pl_idstore_orgs_page(db, a, last, ORGS_PAGE, ids, &n);
        for (int i = 0; !rc && i < n; i++) {
            if (!(rc = pl_db_begin(db)) && !(rc = pl_db_set_context(db, "app.org_id", ids[i])))
                rc = pl_idstore_purge(db, ids[i], before);
            rc = pl_db_finish(db, rc);
        }
        if (n)
            snprintf(last, sizeof(last), "%s", ids[n - 1]);
        pl_arena_destroy(a);
        if (n < ORGS_PAGE)
            break;
    }
    if (rc)
        snprintf(err, errlen, "purge failed");
    return rc;
}

const pl_job_def_t pl_identity_jobs[] = {
    {"identity.purge", purge_job},
    {0},
};

const pl_schedule_def_t pl_identity_schedules[] = {
    {"identity.purge", "identity.purge", 3600 * 1000, NULL},
    {0},
};

/* ---- `plinth keys verify`: every sealed client secret opens ---- */

typedef struct {
    pl_keys_check_t *chk;
    pl_arena_t *a;
    int rc;
} idp_check_t;

static void check_idp(void *arg, const char *key, const char *sealed)
{
    idp_check_t *c = arg;
    if (!c->rc)
        c->rc = pl_keys_check_box(
            c->chk, NULL, sealed, idp_ad(c->a, key), NULL,
            pl_arena_printf(c->a, "the client secret of identity provider %s", key));
}

static int check_sealed(pl_db_t *db, pl_keys_check_t *chk)
{
    pl_arena_t *a = pl_arena_create();
    idp_check_t c = {chk, a, PL_OK};
    int rc = pl_idstore_idp_secrets(db, check_idp, &c);
    if (!rc)
        rc = c.rc;
    char last[PL_ID_LEN] = "";
    while (!rc) {
        const char *ids[ORGS_PAGE];
        int n = 0;
        rc = pl_idstore_orgs_page(db, a, last, ORGS_PAGE, ids, &n);
        for (int i = 0; !rc && i < n; i++) {
            pl_sso_t sso;
            const char *sealed = NULL;
            rc = pl_db_set_context(db, "app.org_id", ids[i]);
            if (!rc && (rc = pl_idstore_sso_get(db, a, ids[i], &sso, &sealed)) == PL_ENOTFOUND)
                rc = PL_OK;
            else if (!rc)
                rc = pl_keys_check_box(
                    chk, ids[i], sealed, sso_ad(a, ids[i]), NULL,
                    pl_arena_printf(a, "the SSO client secret of organization %s", ids[i]));
        }
        if (n)
            snprintf(last, sizeof(last), "%s", ids[n - 1]);
        if (n < ORGS_PAGE)
            break;
    }
    pl_arena_destroy(a);
    return rc;
}

int pl_identity_init(void)
{
    pl_keys_add_source("identity", check_sealed);
    pl_auth_set_signin_hook(signin_policy);
    pl_auth_set_verified_hook(email_verified);
    return PL_OK;
}
