/* identity_routes.c - the HTTP side of identity providers, linked
 * identities and organization SSO: each handler checks the request's shape,
 * calls one service of identity.h, and renders the result or the redirect.
 * The module's descriptor closes the file. */
#include <stdlib.h>
#include <string.h>

#include "auth/auth_routes.h"
#include "core/jsonw.h"
#include "identity/identity.h"
#include "web/web.h"

/* ---- representations ---- */

static void write_idp(pl_jw_t *w, const void *item)
{
    const pl_idp_t *p = item;
    pl_jw_object_open(w, NULL);
    pl_jw_string(w, "key", p->key);
    pl_jw_string(w, "type", p->type);
    pl_jw_string(w, "name", p->name);
    pl_jw_string(w, "issuer", p->issuer);
    pl_jw_string(w, "client_id", p->client_id);
    pl_jw_array_open(w, "scopes");
    json_t *scopes = p->scopes ? json_loads(p->scopes, 0, NULL) : NULL;
    size_t i;
    json_t *s;
    json_array_foreach(scopes, i, s) pl_jw_string(w, NULL, json_string_value(s));
    json_decref(scopes);
    pl_jw_array_close(w);
    pl_jw_string(w, "authorization_url", p->authorization_url);
    pl_jw_string(w, "token_url", p->token_url);
    pl_jw_string(w, "userinfo_url", p->userinfo_url);
    pl_jw_time(w, "created_at", p->created_at);
    pl_jw_time(w, "updated_at", p->updated_at);
    pl_jw_object_close(w);
}

static void write_identity(pl_jw_t *w, const void *item)
{
    const pl_identity_t *i = item;
    pl_jw_object_open(w, NULL);
    pl_jw_string(w, "id", i->id);
    pl_jw_string(w, "provider", i->provider);
    pl_jw_string(w, "org_id", i->org_id);
    pl_jw_string(w, "email", i->email);
    pl_jw_time(w, "created_at", i->created_at);
    pl_jw_time_or_null(w, "last_used_at", i->last_used_at);
    pl_jw_object_close(w);
}

static void write_sso(pl_jw_t *w, const void *item)
{
    const pl_sso_t *s = item;
    pl_jw_object_open(w, NULL);
    pl_jw_string(w, "issuer", s->issuer);
    pl_jw_string(w, "client_id", s->client_id);
    pl_jw_array_open(w, "domains");
    for (int i = 0; i < s->ndomains; i++)
        pl_jw_string(w, NULL, s->domains[i]);
    pl_jw_array_close(w);
    pl_jw_array_open(w, "approved_domains");
    for (int i = 0; i < s->ndomains; i++)
        if (s->approved[i])
            pl_jw_string(w, NULL, s->domains[i]);
    pl_jw_array_close(w);
    pl_jw_string(w, "default_role", s->default_role);
    pl_jw_bool(w, "enforce", s->enforce);
    pl_jw_bool(w, "join_by_email_domain", s->join_by_email_domain);
    pl_jw_time(w, "created_at", s->created_at);
    pl_jw_time(w, "updated_at", s->updated_at);
    pl_jw_object_close(w);
}

/* A growing list of items copied by value (their strings live in the
 * arena already). */
typedef struct {
    pl_arena_t *a;
    char *items;
    size_t n, cap, size;
} list_t;

static void list_add(list_t *l, const void *item)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 8;
        char *grown = pl_arena_alloc(l->a, cap * l->size);
        if (l->n)
            memcpy(grown, l->items, l->n * l->size);
        l->items = grown;
        l->cap = cap;
    }
    memcpy(l->items + l->n++ * l->size, item, l->size);
}

static void add_idp(void *arg, const pl_idp_t *p)
{
    list_add(arg, p);
}

static void add_identity(void *arg, const pl_identity_t *i)
{
    list_add(arg, i);
}

/* ---- instance providers ---- */

static int admin_list(pl_req_t *req)
{
    PL_DB_THREAD(db);
    list_t l = {req->ctx.arena, NULL, 0, 0, sizeof(pl_idp_t)};
    int rc = pl_idp_list(db, &req->ctx, add_idp, &l);
    return rc ? rc : pl_resp_page(req, l.items, l.n, sizeof(pl_idp_t), write_idp, NULL);
}

/* A JSON array of up to max strings of 1..len bytes without spaces or
 * controls, as JSON text in the arena; NULL when absent. */
static const char *get_string_array(pl_req_t *req, const char *field, int max, size_t len,
                                    bool *bad)
{
    json_t *v = json_object_get(req->json, field);
    if (!v || json_is_null(v))
        return NULL;
    bool ok = json_is_array(v) && json_array_size(v) <= (size_t)max;
    size_t i;
    json_t *s;
    json_array_foreach(v, i, s)
    {
        const char *t = json_string_value(s);
        size_t n = t ? json_string_length(s) : 0;
        ok = ok && t && n >= 1 && n <= len;
        for (size_t k = 0; ok && k < n; k++)
            ok = (unsigned char)t[k] > 0x20 && t[k] != 0x7f;
    }
    if (!ok) {
        pl_req_field_error(req, field, "invalid", "Give an array of short strings.");
        *bad = true;
        return NULL;
    }
    char *text = json_dumps(v, JSON_COMPACT);
    const char *out = pl_arena_strndup(req->ctx.arena, text, strlen(text));
    free(text);
    return out;
}

static int admin_put(pl_req_t *req)
{
    pl_idp_input_t in = {.key = pl_req_param(req, "key")};
    bool bad = false;
    pl_json_get_string(req, "type", true, 1, 16, &in.type);
    pl_json_get_name(req, "name", true, 1, PL_IDP_NAME_MAX, &in.name);
    pl_json_get_string(req, "issuer", false, 1, 2048, &in.issuer);
    pl_json_get_string(req, "client_id", true, 1, PL_IDP_CLIENT_MAX, &in.client_id);
    pl_json_get_string(req, "client_secret", false, 1, PL_IDP_CLIENT_MAX, &in.client_secret);
    pl_json_get_string(req, "authorization_url", false, 1, 2048, &in.authorization_url);
    pl_json_get_string(req, "token_url", false, 1, 2048, &in.token_url);
    pl_json_get_string(req, "userinfo_url", false, 1, 2048, &in.userinfo_url);
    in.scopes = get_string_array(req, "scopes", PL_IDP_SCOPES_MAX, PL_IDP_SCOPE_MAX, &bad);
    if (pl_req_validated(req))
        return PL_EINVAL;
    PL_DB_THREAD(db);
    pl_idp_t p;
    int rc = pl_idp_put(db, &req->ctx, &in, &p);
    return rc ? rc : pl_resp_object(req, 200, write_idp, &p);
}

static int admin_delete(pl_req_t *req)
{
    PL_DB_THREAD(db);
    int rc = pl_idp_delete(db, &req->ctx, pl_req_param(req, "key"));
    return rc ? rc : pl_resp_status(req, 204);
}

static void write_public_idp(pl_jw_t *w, const void *item)
{
    const pl_idp_t *p = item;
    pl_jw_object_open(w, NULL);
    pl_jw_string(w, "key", p->key);
    pl_jw_string(w, "name", p->name);
    pl_jw_string(w, "type", p->type);
    pl_jw_object_close(w);
}

static int public_list(pl_req_t *req)
{
    PL_DB_THREAD(db);
    list_t l = {req->ctx.arena, NULL, 0, 0, sizeof(pl_idp_t)};
    int rc = pl_idp_list(db, &req->ctx, add_idp, &l);
    return rc ? rc : pl_resp_page(req, l.items, l.n, sizeof(pl_idp_t), write_public_idp, NULL);
}

/* ---- the flow ---- */

static int redirect(pl_req_t *req, const char *url)
{
    pl_resp_header(req, "Location", url);
    return pl_resp_status(req, 302);
}

/* A query parameter of at most max bytes (NULL when absent). */
static const char *query(pl_req_t *req, const char *name, size_t max, bool *bad)
{
    const char *v = pl_req_query(req, name);
    if (v && strlen(v) > max) {
        pl_req_field_error(req, name, "too_long", "The parameter is too long.");
        *bad = true;
    }
    return v;
}

static int oauth_start(pl_req_t *req)
{
    bool bad = false;
    const char *to = query(req, "redirect_to", 2048, &bad);
    if (bad)
        return PL_EINVAL;
    PL_DB_THREAD(db);
    const char *url = NULL;
    int rc = pl_identity_oauth_start(db, &req->ctx, pl_req_param(req, "key"), to, &url);
    return rc ? rc : redirect(req, url);
}

static int callback(pl_req_t *req, const char *key)
{
    bool bad = false;
    const char *state = query(req, "state", PL_IDP_PARAM_MAX, &bad);
    const char *code = query(req, "code", PL_IDP_PARAM_MAX, &bad);
    const char *error = query(req, "error", 256, &bad);
    if (bad)
        return PL_EINVAL;
    PL_DB_THREAD(db);
    const char *location = NULL;
    int rc = pl_identity_callback(db, &req->ctx, key, state, code, error, &location);
    return rc ? rc : redirect(req, location);
}

static int oauth_callback(pl_req_t *req)
{
    return callback(req, pl_req_param(req, "key"));
}

static int sso_callback(pl_req_t *req)
{
    return callback(req, NULL);
}

static int exchange(pl_req_t *req)
{
    const char *code = NULL;
    pl_json_get_string(req, "code", true, 1, PL_AUTH_TOKEN_INPUT_MAX, &code);
    bool cookie = pl_auth_wants_cookie(req);
    if (pl_req_validated(req))
        return PL_EINVAL;
    PL_DB_THREAD(db);
    pl_auth_login_t out;
    pl_auth_org_t org;
    int rc = pl_identity_exchange(db, &req->ctx, code, &out, &org);
    if (rc)
        return rc;
    json_t *body = pl_auth_login_json(req, &out, cookie);
    if (org.id)
        json_object_set_new(body, "organization",
                            json_pack("{s:s, s:s, s:s, s:b, s:s, s:s}", "id", org.id, "name",
                                      org.name, "slug", org.slug, "personal", org.personal,
                                      "created_at", pl_req_time(req, org.created_at), "role",
                                      org.role));
    return pl_resp_json(req, 200, body);
}

/* ---- identities ---- */

static int identities_list(pl_req_t *req)
{
    PL_DB_THREAD(db);
    list_t l = {req->ctx.arena, NULL, 0, 0, sizeof(pl_identity_t)};
    int rc = pl_identity_list(db, &req->ctx, add_identity, &l);
    return rc ? rc : pl_resp_page(req, l.items, l.n, sizeof(pl_identity_t), write_identity, NULL);
}

static int identity_unlink(pl_req_t *req)
{
    PL_DB_THREAD(db);
    int rc = pl_identity_unlink(db, &req->ctx, pl_req_param(req, "id"));
    return rc ? rc : pl_resp_status(req, 204);
}

/* ---- organization SSO ---- */

static int sso_get(pl_req_t *req)
{
    PL_DB_THREAD(db);
    pl_sso_t s;
    int rc = pl_sso_get(db, &req->ctx, &s);
    return rc ? rc : pl_resp_object(req, 200, write_sso, &s);
}

static int sso_put(pl_req_t *req)
{
    pl_sso_input_t in = {0};
    pl_json_get_string(req, "issuer", true, 1, 2048, &in.issuer);
    pl_json_get_string(req, "client_id", true, 1, PL_IDP_CLIENT_MAX, &in.client_id);
    pl_json_get_string(req, "client_secret", false, 1, PL_IDP_CLIENT_MAX, &in.client_secret);
    pl_json_get_string(req, "default_role", false, 1, 64, &in.default_role);
    pl_json_get_bool(req, "enforce", false, &in.enforce);
    pl_json_get_bool(req, "join_by_email_domain", false, &in.join_by_email_domain);
    json_t *d = json_object_get(req->json, "domains");
    if (!json_is_array(d) || json_array_size(d) > PL_SSO_DOMAINS_MAX) {
        pl_req_field_error(req, "domains", d ? "invalid" : "required",
                           "Give the list of email domains (at most 20).");
    } else {
        size_t i;
        json_t *s;
        json_array_foreach(d, i, s)
        {
            if (!json_is_string(s) || json_string_length(s) > PL_SSO_DOMAIN_MAX) {
                pl_req_field_error(req, "domains", "invalid", "Give domain names.");
                break;
            }
            in.domains[in.ndomains++] = json_string_value(s);
        }
    }
    if (pl_req_validated(req))
        return PL_EINVAL;
    PL_DB_THREAD(db);
    pl_sso_t out;
    int rc = pl_sso_put(db, &req->ctx, &in, &out);
    return rc ? rc : pl_resp_object(req, 200, write_sso, &out);
}

static int sso_delete(pl_req_t *req)
{
    PL_DB_THREAD(db);
    int rc = pl_sso_delete(db, &req->ctx);
    return rc ? rc : pl_resp_status(req, 204);
}

static int sso_approve(pl_req_t *req)
{
    PL_DB_THREAD(db);
    int rc = pl_sso_approve_domain(db, &req->ctx, pl_req_param(req, "domain"));
    return rc ? rc : pl_resp_status(req, 204);
}

static int sso_start(pl_req_t *req)
{
    const char *email = NULL, *to = NULL;
    pl_json_get_string(req, "email", true, 1, PL_AUTH_EMAIL_INPUT_MAX, &email);
    pl_json_get_string(req, "redirect_to", true, 1, 2048, &to);
    if (pl_req_validated(req))
        return PL_EINVAL;
    PL_DB_THREAD(db);
    const char *url = NULL;
    int rc = pl_sso_start(db, &req->ctx, email, to, &url);
    return rc ? rc : pl_resp_json(req, 200, json_pack("{s:s}", "url", url));
}

/* ---- the module ---- */

#define J PL_ROUTE_JSON

static pl_route_t routes[] = {
    {PL_M_GET, "/v1/admin/identity-providers", admin_list, PL_AUTH_ADMIN, NULL, 0},
    {PL_M_PUT, "/v1/admin/identity-providers/{key}", admin_put, PL_AUTH_ADMIN, NULL, J},
    {PL_M_DELETE, "/v1/admin/identity-providers/{key}", admin_delete, PL_AUTH_ADMIN, NULL, 0},
    {PL_M_POST, "/v1/admin/sso-domains/{domain}/approve", sso_approve, PL_AUTH_ADMIN, NULL, 0},
    {PL_M_GET, "/v1/auth/providers", public_list, PL_AUTH_NONE, NULL, 0},
    {PL_M_GET, "/v1/auth/oauth/{key}/start", oauth_start, PL_AUTH_NONE, NULL, 0},
    {PL_M_GET, "/v1/auth/oauth/{key}/callback", oauth_callback, PL_AUTH_NONE, NULL, 0},
    {PL_M_POST, "/v1/auth/oauth/exchange", exchange, PL_AUTH_NONE, NULL, J},
    {PL_M_POST, "/v1/auth/sso/start", sso_start, PL_AUTH_NONE, NULL, J},
    {PL_M_GET, "/v1/auth/sso/callback", sso_callback, PL_AUTH_NONE, NULL, 0},
    {PL_M_GET, "/v1/me/identities", identities_list, PL_AUTH_USER, NULL, 0},
    {PL_M_DELETE, "/v1/me/identities/{id}", identity_unlink, PL_AUTH_USER, NULL, 0},
    {PL_M_GET, "/v1/orgs/{org}/sso", sso_get, PL_AUTH_ORG, "sso.manage", 0},
    {PL_M_PUT, "/v1/orgs/{org}/sso", sso_put, PL_AUTH_ORG, "sso.manage", J},
    {PL_M_DELETE, "/v1/orgs/{org}/sso", sso_delete, PL_AUTH_ORG, "sso.manage", 0},
    {0},
};

static const pl_perm_def_t perms[] = {
    {"sso.manage", "Configure the organization's single sign-on and its domains", PL_ROLES_ADMIN},
    {0},
};

static const pl_error_def_t errors[] = {
    {"sso_required", "Single sign-on required"},
    {"mfa_setup_required", "Two-factor authentication required"},
    {0},
};

static const char *const actions[] = {
    "identity_provider.updated",
    "identity_provider.deleted",
    "user.identity_linked",
    "user.identity_unlinked",
    "sso.updated",
    "sso.deleted",
    "sso_domain.approved",
    NULL,
};

const pl_module_t pl_identity_module = {
    .name = "identity",
    .routes = routes,
    .perms = perms,
    .errors = errors,
    .jobs = pl_identity_jobs,
    .schedules = pl_identity_schedules,
    .options = pl_identity_options,
    .actions = actions,
    .on_tenant = pl_identity_on_tenant,
    .init = pl_identity_init,
};
