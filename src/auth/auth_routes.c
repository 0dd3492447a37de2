/* auth_routes.c - the HTTP side of accounts, sessions, email verification,
 * password reset, two-factor, magic links and the token verification
 * documents: each handler checks the body's shape, calls
 * one service of auth.h with the request's context, and renders the result.
 * The module's descriptor closes the file. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"
#include "auth/auth_int.h"
#include "auth/auth_routes.h"
#include "core/config.h"
#include "core/crypto.h"
#include "core/jsonw.h"
#include "orgs/orgs.h"
#include "web/web.h"

/* ---- representations ---- */

json_t *pl_auth_user_json(pl_ctx_t *ctx, const pl_user_t *u)
{
    return json_pack("{s:s, s:s, s:s, s:b, s:b, s:s, s:o}", "id", u->id, "email", u->email, "name",
                     u->name, "email_verified", u->email_verified, "mfa_enabled", u->mfa_enabled,
                     "created_at", pl_ctx_time(ctx, u->created_at), "locale",
                     u->locale ? json_string(u->locale) : json_null());
}

/* ---- browser sessions ----
 * A sign-in with "session_cookie": true keeps the refresh token out of the
 * body and in the HttpOnly cookie plinth_refresh, scoped to /v1/auth, so
 * the dashboards never hold it in script. Refresh reads it back only with
 * the header X-Plinth-CSRF: 1, which a cross-site form cannot send (and
 * SameSite=Strict keeps the cookie off cross-site requests anyway). */

#define REFRESH_COOKIE "plinth_refresh"
#define CSRF_HEADER    "X-Plinth-CSRF"

/* The Set-Cookie value for token (NULL: the cookie's removal). */
static const char *refresh_cookie(pl_req_t *req, const char *token)
{
    const char *secure = strncmp(pl_cfg.public_url, "https://", 8) ? "" : "; Secure";
    if (!token)
        return pl_arena_printf(req->ctx.arena,
                               REFRESH_COOKIE "=; Path=/v1/auth; Max-Age=0; HttpOnly; "
                                              "SameSite=Strict%s",
                               secure);
    return pl_arena_printf(req->ctx.arena,
                           REFRESH_COOKIE "=%s; Path=/v1/auth; Max-Age=%lld; HttpOnly; "
                                          "SameSite=Strict%s",
                           token, (long long)(PL_SESSION_TTL_MS / 1000), secure);
}

/* The refresh token of the request's plinth_refresh cookie, or NULL. */
static const char *cookie_token(pl_req_t *req)
{
    const char *c = pl_req_header(req, "Cookie");
    size_t n = strlen(REFRESH_COOKIE);
    while (c && *c) {
        while (*c == ' ' || *c == ';')
            c++;
        if (!strncmp(c, REFRESH_COOKIE, n) && c[n] == '=') {
            const char *v = c + n + 1, *end = strchr(v, ';');
            size_t len = end ? (size_t)(end - v) : strlen(v);
            return len && len <= PL_AUTH_TOKEN_INPUT_MAX ? pl_arena_strndup(req->ctx.arena, v, len)
                                                         : NULL;
        }
        c = strchr(c, ';');
    }
    return NULL;
}

/* Whether the body asks for a browser session ("session_cookie": true). */
bool pl_auth_wants_cookie(pl_req_t *req)
{
    bool v = false;
    return pl_json_get_bool(req, "session_cookie", false, &v) == PL_OK && v;
}

/* A TokenPair; the tokens are wiped once copied. With cookie, the refresh
 * token goes into the plinth_refresh cookie and not into the body. */
static json_t *tokens_json_as(pl_req_t *req, pl_auth_tokens_t *t, bool cookie)
{
    json_t *o = json_pack("{s:s, s:s, s:i}", "token_type", "Bearer", "access_token",
                          t->access_token, "expires_in", t->expires_in);
    if (cookie)
        pl_resp_header(req, "Set-Cookie", refresh_cookie(req, t->refresh_token));
    else
        json_object_set_new(o, "refresh_token", json_string(t->refresh_token));
    json_object_set_new(o, "user", pl_auth_user_json(&req->ctx, &t->user));
    pl_memzero(t, sizeof(*t));
    return o;
}

/* The answer to a first sign-in step: a TokenPair (tokens_json_as), or the
 * second step to take; what it holds is wiped once copied. */
json_t *pl_auth_login_json(pl_req_t *req, pl_auth_login_t *out, bool cookie)
{
    if (!out->mfa_required)
        return tokens_json_as(req, &out->tokens, cookie);
    json_t *body = json_pack("{s:b, s:s, s:[s, s]}", "mfa_required", 1, "mfa_token", out->mfa_token,
                             "mfa_methods", "totp", "recovery_code");
    pl_memzero(out, sizeof(*out));
    return body;
}

static json_t *recovery_codes_json(pl_auth_recovery_codes_t *c)
{
    json_t *codes = json_array();
    for (int i = 0; i < PL_AUTH_RECOVERY_CODES; i++)
        json_array_append_new(codes, json_string(c->codes[i]));
    pl_memzero(c, sizeof(*c));
    return json_pack("{s:o}", "recovery_codes", codes);
}

static int accepted(pl_req_t *req)
{
    return pl_resp_json(req, 202, json_pack("{s:s}", "status", "accepted"));
}

/* ---- registration and sign-in ---- */

static int register_account(pl_req_t *req)
{
    pl_auth_registration_t in = {0};
    pl_json_get_string(req, "email", true, 1, PL_AUTH_EMAIL_INPUT_MAX, &in.email);
    pl_json_get_string(req, "password", true, 1, PL_AUTH_PASSWORD_INPUT_MAX, &in.password);
    pl_json_get_name(req, "name", true, 1, PL_AUTH_NAME_MAX, &in.name);
    pl_json_get_string(req, "invitation_token", false, 1, PL_AUTH_TOKEN_INPUT_MAX,
                       &in.invitation_token);
    bool cookie = pl_auth_wants_cookie(req);
    if (pl_req_validated(req))
        return PL_EINVAL;
    PL_DB_THREAD(db);
    pl_auth_tokens_t tokens;
    pl_auth_org_t org;
    int rc = pl_auth_register(db, &req->ctx, &in, &tokens, &org);
    if (rc)
        return rc;
    json_t *body = tokens_json_as(req, &tokens, cookie);
    json_object_set_new(body, "organization",
                        json_pack("{s:s, s:s, s:s, s:b, s:s, s:s}", "id", org.id, "name", org.name,
                                  "slug", org.slug, "personal", org.personal, "created_at",
                                  pl_req_time(req, org.created_at), "role", org.role));
    return pl_resp_json(req, 201, body);
}

static int login(pl_req_t *req)
{
    const char *email = NULL, *password = NULL;
    pl_json_get_string(req, "email", true, 1, PL_AUTH_EMAIL_INPUT_MAX, &email);
    pl_json_get_string(req, "password", true, 1, PL_AUTH_PASSWORD_INPUT_MAX, &password);
    bool cookie = pl_auth_wants_cookie(req);
    if (pl_req_validated(req))
        return PL_EINVAL;
    PL_DB_THREAD(db);
    pl_auth_login_t out;
    int rc = pl_auth_login(db, &req->ctx, email, password, &out);
    return rc ? rc : pl_resp_json(req, 200, pl_auth_login_json(req, &out, cookie));
}

static int login_mfa(pl_req_t *req)
{
    const char *token = NULL, *code = NULL;
    pl_json_get_string(req, "mfa_token", true, 1, PL_AUTH_TOKEN_INPUT_MAX, &token);
    pl_json_get_string(req, "code", true, 1, PL_AUTH_CODE_INPUT_MAX, &code);
    bool cookie = pl_auth_wants_cookie(req);
    if (pl_req_validated(req))
        return PL_EINVAL;
    PL_DB_THREAD(db);
    pl_auth_tokens_t tokens;
    int rc = pl_auth_login_mfa(db, &req->ctx, token, code, &tokens);
    return rc ? rc : pl_resp_json(req, 200, tokens_json_as(req, &tokens, cookie));
}

/* The refresh token comes from the body, or (without one in the body,
 * with X-Plinth-CSRF: 1) from the plinth_refresh cookie, whose answer
 * rotates the cookie. A cookie that no longer works is removed. */
static int refresh(pl_req_t *req)
{
    const char *token = NULL, *csrf = pl_req_header(req, CSRF_HEADER);
    bool cookie = false;
    json_t *field = req->json ? json_object_get(req->json, "refresh_token") : NULL;
    if (!field && csrf && !strcmp(csrf, "1") && (token = cookie_token(req)))
        cookie = true;
    else if (pl_json_get_string(req, "refresh_token", true, 1, PL_AUTH_TOKEN_INPUT_MAX, &token))
        return PL_EINVAL;
    PL_DB_THREAD(db);
    pl_auth_tokens_t tokens;
    int rc = pl_auth_refresh(db, &req->ctx, token, &tokens);
    if (rc) {
        if (cookie)
            pl_resp_header(req, "Set-Cookie", refresh_cookie(req, NULL));
        return rc;
    }
    return pl_resp_json(req, 200, tokens_json_as(req, &tokens, cookie));
}

/* ---- sessions ---- */

/* Both also remove a browser session's cookie. */
static int logout(pl_req_t *req)
{
    PL_DB_THREAD(db);
    int rc = pl_auth_logout(db, &req->ctx);
    if (rc)
        return rc;
    pl_resp_header(req, "Set-Cookie", refresh_cookie(req, NULL));
    return pl_resp_status(req, 204);
}

static int logout_all(pl_req_t *req)
{
    PL_DB_THREAD(db);
    int rc = pl_auth_logout_all(db, &req->ctx);
    if (rc)
        return rc;
    pl_resp_header(req, "Set-Cookie", refresh_cookie(req, NULL));
    return pl_resp_status(req, 204);
}

typedef struct {
    pl_req_t *req;
    json_t *list;
} sessions_out_t;

static void add_session(void *arg, const pl_session_t *s)
{
    sessions_out_t *o = arg;
    json_array_append_new(o->list,
                          json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:b}", "id", s->id,
                                    "created_at", pl_req_time(o->req, s->created_at),
                                    "last_used_at", pl_req_time(o->req, s->last_used_at),
                                    "expires_at", pl_req_time(o->req, s->expires_at), "ip",
                                    s->ip ? s->ip : "", "user_agent",
                                    s->user_agent ? s->user_agent : "", "current", s->current));
}

static int sessions_list(pl_req_t *req)
{
    PL_DB_THREAD(db);
    sessions_out_t o = {req, json_array()};
    int rc = pl_auth_sessions(db, &req->ctx, add_session, &o);
    if (rc) {
        json_decref(o.list);
        return rc;
    }
    return pl_resp_list(req, o.list, NULL);
}

static int sessions_revoke(pl_req_t *req)
{
    PL_DB_THREAD(db);
    int rc = pl_auth_session_revoke(db, &req->ctx, pl_req_param(req, "id"));
    return rc ? rc : pl_resp_status(req, 204);
}

/* ---- /v1/me ---- */

static void write_org(void *arg, const pl_auth_org_t *o)
{
    pl_jw_t *w = arg;
    pl_jw_object_open(w, NULL);
    pl_jw_string(w, "id", o->id);
    pl_jw_string(w, "name", o->name);
    pl_jw_string(w, "slug", o->slug);
    pl_jw_bool(w, "personal", o->personal);
    pl_jw_string(w, "role", o->role);
    pl_jw_object_close(w);
}

/* The rendered "organizations" array of GET /v1/me, per thread, keyed by user
 * and users.orgs_version, which database triggers change in the transaction
 * of any change to that list; the version comes with the session check, so a
 * hit is what the query would give, on any instance. Safe to lose. */
#define ORGS_CACHE_SLOTS 64
#define ORGS_CACHE_MAX   (64 * 1024)

typedef struct {
    char user_id[PL_ID_LEN];
    int64_t version;
    char *json;
    size_t len;
} orgs_slot_t;

static __thread orgs_slot_t *orgs_cache;
static pthread_key_t orgs_cache_key;
static pthread_once_t orgs_cache_once = PTHREAD_ONCE_INIT;

static void free_orgs_cache(void *p)
{
    orgs_slot_t *slots = p;
    for (int i = 0; i < ORGS_CACHE_SLOTS; i++)
        free(slots[i].json);
    free(slots);
}

static void orgs_cache_init(void)
{
    pthread_key_create(&orgs_cache_key, free_orgs_cache);
}

static orgs_slot_t *orgs_slot(const char *user_id)
{
    if (!orgs_cache) {
        pthread_once(&orgs_cache_once, orgs_cache_init);
        orgs_cache = pl_xcalloc(ORGS_CACHE_SLOTS, sizeof(orgs_slot_t));
        pthread_setspecific(orgs_cache_key, orgs_cache);
    }
    uint32_t h = 2166136261u;
    for (const char *p = user_id; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    return &orgs_cache[h % ORGS_CACHE_SLOTS];
}

/* GET /v1/me is the hottest authenticated read: the user comes with the
 * session check, the organizations from the cache when unchanged, and the
 * answer is written straight into the buffer. */
static int me_get(pl_req_t *req)
{
    const pl_principal_t *p = &req->ctx.principal;
    pl_buf_t b;
    pl_buf_init(&b, 4 * 1024 * 1024);
    pl_jw_t w;
    pl_jw_init(&w, &b);
    pl_jw_object_open(&w, NULL);
    pl_jw_string(&w, "id", p->user_id);
    pl_jw_string(&w, "email", p->email);
    pl_jw_string(&w, "name", p->name);
    pl_jw_bool(&w, "email_verified", p->email_verified);
    pl_jw_bool(&w, "mfa_enabled", p->mfa_enabled);
    pl_jw_time(&w, "created_at", p->user_created_at);
    pl_jw_string(&w, "locale", p->locale); /* null when not set */
    int rc = PL_OK;
    orgs_slot_t *slot = orgs_slot(p->user_id);
    if (slot->json && slot->version == p->orgs_version && !strcmp(slot->user_id, p->user_id)) {
        pl_buf_append(&b, ",\"organizations\":", 17);
        pl_buf_append(&b, slot->json, slot->len);
    } else {
        pl_db_t *db = pl_db_thread();
        if (!db) {
            pl_buf_free(&b);
            return PL_EDB;
        }
        size_t start = b.len + 1; /* after the comma */
        pl_jw_array_open(&w, "organizations");
        rc = pl_auth_user_orgs(db, &req->ctx, write_org, &w);
        pl_jw_array_close(&w);
        size_t from = start + strlen("\"organizations\":");
        if (!rc && !w.err && b.len - from <= ORGS_CACHE_MAX) {
            free(slot->json);
            slot->json = pl_xstrndup(b.ptr + from, b.len - from);
            slot->len = b.len - from;
            slot->version = p->orgs_version;
            memcpy(slot->user_id, p->user_id, sizeof(slot->user_id));
        }
    }
    pl_jw_object_close(&w);
    if (!rc)
        rc = w.err;
    if (!rc)
        rc = pl_resp_json_buf(req, 200, &b);
    pl_buf_free(&b);
    return rc;
}

static int me_update(pl_req_t *req)
{
    const char *name = NULL, *locale = NULL;
    pl_json_get_name(req, "name", false, 1, PL_AUTH_NAME_MAX, &name);
    pl_json_get_string(req, "locale", false, 0, 35, &locale); /* "": clears */
    if (pl_req_validated(req))
        return PL_EINVAL;
    PL_DB_THREAD(db);
    pl_user_t u;
    int rc = pl_auth_profile_update(db, &req->ctx, name, locale, &u);
    return rc ? rc : pl_resp_json(req, 200, pl_auth_user_json(&req->ctx, &u));
}

static int me_password(pl_req_t *req)
{
    const char *current = NULL, *fresh = NULL;
    pl_json_get_string(req, "current_password", true, 1, PL_AUTH_PASSWORD_INPUT_MAX, &current);
    pl_json_get_string(req, "new_password", true, 1, PL_AUTH_PASSWORD_INPUT_MAX, &fresh);
    if (pl_req_validated(req))
        return PL_EINVAL;
    PL_DB_THREAD(db);
    int rc = pl_auth_password_change(db, &req->ctx, current, fresh);
    return rc ? rc : pl_resp_status(req, 204);
}

/* ---- email verification and password reset ---- */

static int verify_email_request(pl_req_t *req)
{
    PL_DB_THREAD(db);
    int rc = pl_auth_verification_request(db, &req->ctx);
    return rc ? rc : accepted(req);
}

static int verify_email(pl_req_t *req)
{
    const char *token = NULL;
    if (pl_json_get_string(req, "token", true, 1, PL_AUTH_TOKEN_INPUT_MAX, &token))
        return PL_EINVAL;
    PL_DB_THREAD(db);
    int rc = pl_auth_email_verify(db, &req->ctx, token);
    return rc ? rc : pl_resp_status(req, 204);
}

static int password_reset_request(pl_req_t *req)
{
    const char *email = NULL;
    if (pl_json_get_string(req, "email", true, 1, PL_AUTH_EMAIL_INPUT_MAX, &email))
        return PL_EINVAL;
    PL_DB_THREAD(db);
    int rc = pl_auth_password_reset_request(db, &req->ctx, email);
    return rc ? rc : accepted(req); /* the same answer whether or not the account exists */
}

static int password_reset(pl_req_t *req)
{
    const char *token = NULL, *fresh = NULL;
    pl_json_get_string(req, "token", true, 1, PL_AUTH_TOKEN_INPUT_MAX, &token);
    pl_json_get_string(req, "new_password", true, 1, PL_AUTH_PASSWORD_INPUT_MAX, &fresh);
    if (pl_req_validated(req))
        return PL_EINVAL;
    PL_DB_THREAD(db);
    int rc = pl_auth_password_reset(db, &req->ctx, token, fresh);
    return rc ? rc : pl_resp_status(req, 204);
}

/* ---- magic links ---- */

static int magic_link_request(pl_req_t *req)
{
    const char *email = NULL;
    if (pl_json_get_string(req, "email", true, 1, PL_AUTH_EMAIL_INPUT_MAX, &email))
        return PL_EINVAL;
    PL_DB_THREAD(db);
    int rc = pl_auth_magic_link_request(db, &req->ctx, email);
    return rc ? rc : accepted(req); /* the same answer whether or not an email went out */
}

static int magic_link_verify(pl_req_t *req)
{
    const char *token = NULL;
    pl_json_get_string(req, "token", true, 1, PL_AUTH_TOKEN_INPUT_MAX, &token);
    bool cookie = pl_auth_wants_cookie(req);
    if (pl_req_validated(req))
        return PL_EINVAL;
    PL_DB_THREAD(db);
    pl_auth_login_t out;
    int rc = pl_auth_magic_link_verify(db, &req->ctx, token, &out);
    return rc ? rc : pl_resp_json(req, 200, pl_auth_login_json(req, &out, cookie));
}

/* ---- tokens other services verify ---- */

static int jwks(pl_req_t *req)
{
    PL_DB_THREAD(db);
    json_t *doc = NULL;
    int rc = pl_auth_jwks(db, &req->ctx, &doc);
    return rc ? rc : pl_resp_json(req, 200, doc);
}

static int openid_configuration(pl_req_t *req)
{
    return pl_resp_json(req, 200, pl_auth_openid_configuration());
}

/* ---- two-factor ---- */

static int mfa_setup(pl_req_t *req)
{
    PL_DB_THREAD(db);
    pl_auth_totp_setup_t out;
    int rc = pl_auth_mfa_setup(db, &req->ctx, &out);
    if (rc)
        return rc;
    return pl_resp_json(req, 200,
                        json_pack("{s:s, s:s, s:s}", "secret", out.secret, "otpauth_uri",
                                  out.otpauth_uri, "qr_svg", out.qr_svg));
}

static int mfa_enable(pl_req_t *req)
{
    const char *code = NULL;
    if (pl_json_get_string(req, "code", true, 1, PL_AUTH_CODE_INPUT_MAX, &code))
        return PL_EINVAL;
    PL_DB_THREAD(db);
    pl_auth_recovery_codes_t codes;
    int rc = pl_auth_mfa_enable(db, &req->ctx, code, &codes);
    return rc ? rc : pl_resp_json(req, 200, recovery_codes_json(&codes));
}

static int mfa_disable(pl_req_t *req)
{
    const char *password = NULL, *code = NULL;
    pl_json_get_string(req, "password", true, 1, PL_AUTH_PASSWORD_INPUT_MAX, &password);
    pl_json_get_string(req, "code", true, 1, PL_AUTH_CODE_INPUT_MAX, &code);
    if (pl_req_validated(req))
        return PL_EINVAL;
    PL_DB_THREAD(db);
    int rc = pl_auth_mfa_disable(db, &req->ctx, password, code);
    return rc ? rc : pl_resp_status(req, 204);
}

static int mfa_recovery_codes(pl_req_t *req)
{
    const char *password = NULL;
    if (pl_json_get_string(req, "password", true, 1, PL_AUTH_PASSWORD_INPUT_MAX, &password))
        return PL_EINVAL;
    PL_DB_THREAD(db);
    pl_auth_recovery_codes_t codes;
    int rc = pl_auth_mfa_recovery_codes(db, &req->ctx, password, &codes);
    return rc ? rc : pl_resp_json(req, 200, recovery_codes_json(&codes));
}

/* ---- the module ---- */

#define J PL_ROUTE_JSON
#define H (PL_ROUTE_JSON | PL_ROUTE_HASHING) /* hashes a password: on the hashing pool */

static pl_route_t routes[] = {
    {PL_M_POST, "/v1/auth/register", register_account, PL_AUTH_NONE, NULL, H},
    {PL_M_POST, "/v1/auth/login", login, PL_AUTH_NONE, NULL, H},
    {PL_M_POST, "/v1/auth/refresh", refresh, PL_AUTH_NONE, NULL, J},
    {PL_M_POST, "/v1/auth/logout", logout, PL_AUTH_USER, NULL, J},
    {PL_M_POST, "/v1/auth/logout-all", logout_all, PL_AUTH_USER, NULL, J},
    {PL_M_GET, "/v1/auth/sessions", sessions_list, PL_AUTH_USER, NULL, 0},
    {PL_M_DELETE, "/v1/auth/sessions/{id}", sessions_revoke, PL_AUTH_USER, NULL, 0},
    {PL_M_GET, "/v1/me", me_get, PL_AUTH_USER, NULL, 0},
    {PL_M_PATCH, "/v1/me", me_update, PL_AUTH_USER, NULL, J},
    {PL_M_POST, "/v1/me/password", me_password, PL_AUTH_USER, NULL, H},
    {PL_M_POST, "/v1/auth/verify-email/request", verify_email_request, PL_AUTH_USER, NULL, J},
    {PL_M_POST, "/v1/auth/verify-email", verify_email, PL_AUTH_NONE, NULL, J},
    {PL_M_POST, "/v1/auth/password-reset/request", password_reset_request, PL_AUTH_NONE, NULL, J},
    {PL_M_POST, "/v1/auth/password-reset", password_reset, PL_AUTH_NONE, NULL, H},
    {PL_M_POST, "/v1/auth/login/mfa", login_mfa, PL_AUTH_NONE, NULL, J},
    {PL_M_POST, "/v1/me/mfa/totp/setup", mfa_setup, PL_AUTH_USER, NULL, J},
    {PL_M_POST, "/v1/me/mfa/totp/enable", mfa_enable, PL_AUTH_USER, NULL, J},
    {PL_M_POST, "/v1/me/mfa/totp/disable", mfa_disable, PL_AUTH_USER, NULL, H},
    {PL_M_POST, "/v1/me/mfa/recovery-codes", mfa_recovery_codes, PL_AUTH_USER, NULL, H},
    {PL_M_POST, "/v1/auth/magic-link/request", magic_link_request, PL_AUTH_NONE, NULL, J},
    {PL_M_POST, "/v1/auth/magic-link/verify", magic_link_verify, PL_AUTH_NONE, NULL, J},
    {PL_M_GET, "/.well-known/jwks.json", jwks, PL_AUTH_NONE, NULL, 0},
    {PL_M_GET, "/.well-known/openid-configuration", openid_configuration, PL_AUTH_NONE, NULL, 0},
    {0},
};

static const pl_error_def_t errors[] = {
    {"invalid_credentials", "Invalid credentials"},
    {"token_expired", "Token expired"},
    {"invalid_token", "Invalid token"},
    {"session_revoked", "Session revoked"},
    {"refresh_token_reused", "Refresh token reused"},
    {"invalid_mfa_code", "Invalid two-factor code"},
    {"email_not_verified", "Email not verified"},
    {"account_disabled", "Account disabled"},
    {"email_taken", "Email already registered"},
    {"mfa_already_enabled", "Two-factor already enabled"},
    {"weak_password", "Weak password"},
    {"account_locked", "Account locked"},
    {0},
};

const pl_module_t pl_auth_module = {
    .name = "auth",
    .routes = routes,
    .errors = errors,
    .jobs = pl_auth_jobs,
    .schedules = pl_auth_schedules,
    .templates = pl_auth_templates,
    .options = pl_auth_options,
    .commands = pl_auth_commands,
    .init = pl_auth_init,
    .start = pl_auth_start,
    .stop = pl_auth_stop,
};
