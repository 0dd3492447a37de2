/* passkeys_routes.c - the HTTP side of passkeys: each handler checks the
 * body's shape, calls one service of passkeys.h with the request's context,
 * and renders the result. The module's descriptor closes the file. */
#include <string.h>

#include "auth/auth_routes.h"
#include "passkeys/passkeys.h"
#include "web/web.h"

static void write_passkey(pl_jw_t *w, const void *item)
{
    const pl_passkey_t *p = item;
    pl_jw_object_open(w, NULL);
    pl_jw_string(w, "id", p->id);
    pl_jw_string(w, "name", p->name);
    pl_jw_time(w, "created_at", p->created_at);
    pl_jw_time_or_null(w, "last_used_at", p->last_used_at);
    pl_jw_object_close(w);
}

/* The credential member: a JSON object (the service checks its inside). */
static int get_credential(pl_req_t *req, json_t **out)
{
    *out = req->json ? json_object_get(req->json, "credential") : NULL;
    if (json_is_object(*out))
        return PL_OK;
    pl_req_field_error(req, "credential", *out ? "invalid" : "required",
                       "Send the browser's PublicKeyCredential.toJSON() as an object.");
    return PL_EINVAL;
}

static int register_options(pl_req_t *req)
{
    PL_DB_THREAD(db);
    json_t *options = NULL;
    int rc = pl_passkeys_register_options(db, &req->ctx, &options);
    return rc ? rc : pl_resp_json(req, 200, options);
}

static int register_passkey(pl_req_t *req)
{
    const char *name = NULL;
    json_t *credential = NULL;
    pl_json_get_name(req, "name", false, 1, PL_PASSKEY_NAME_MAX, &name);
    get_credential(req, &credential);
    if (pl_req_validated(req))
        return PL_EINVAL;
    PL_DB_THREAD(db);
    pl_passkey_t p;
    int rc = pl_passkeys_register(db, &req->ctx, name, credential, &p);
    return rc ? rc : pl_resp_object(req, 201, write_passkey, &p);
}

typedef struct {
    pl_arena_t *a;
    pl_passkey_t *items;
    size_t n, cap;
} list_out_t;

static void add_passkey(void *arg, const pl_passkey_t *p)
{
    list_out_t *l = arg;
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 8;
        pl_passkey_t *grown = pl_arena_alloc(l->a, cap * sizeof(*grown));
        if (l->n)
            memcpy(grown, l->items, l->n * sizeof(*grown));
        l->items = grown;
        l->cap = cap;
    }
    pl_passkey_t *dst = &l->items[l->n++];
    *dst = *p;
    dst->id = pl_arena_strndup(l->a, p->id, strlen(p->id));
    dst->name = pl_arena_strndup(l->a, p->name, strlen(p->name));
}

static int list_passkeys(pl_req_t *req)
{
    PL_DB_THREAD(db);
    list_out_t l = {req->ctx.arena, NULL, 0, 0};
    int rc = pl_passkeys_list(db, &req->ctx, add_passkey, &l);
    return rc ? rc : pl_resp_page(req, l.items, l.n, sizeof(pl_passkey_t), write_passkey, NULL);
}

static int remove_passkey(pl_req_t *req)
{
    PL_DB_THREAD(db);
    int rc = pl_passkeys_remove(db, &req->ctx, pl_req_param(req, "id"));
    return rc ? rc : pl_resp_status(req, 204);
}

static int signin_options(pl_req_t *req)
{
    const char *email = NULL;
    if (pl_json_get_string(req, "email", false, 1, PL_AUTH_EMAIL_INPUT_MAX, &email))
        return PL_EINVAL;
    PL_DB_THREAD(db);
    json_t *options = NULL;
    int rc = pl_passkeys_signin_options(db, &req->ctx, email, &options);
    return rc ? rc : pl_resp_json(req, 200, options);
}

static int signin(pl_req_t *req)
{
    json_t *credential = NULL;
    bool cookie = pl_auth_wants_cookie(req);
    int bad = get_credential(req, &credential);
    if (bad || pl_req_validated(req))
        return PL_EINVAL;
    PL_DB_THREAD(db);
    pl_auth_login_t out;
    int rc = pl_passkeys_signin(db, &req->ctx, credential, &out);
    return rc ? rc : pl_resp_json(req, 200, pl_auth_login_json(req, &out, cookie));
}

/* ---- the module ---- */

#define J PL_ROUTE_JSON

static pl_route_t routes[] = {
    {PL_M_POST, "/v1/me/passkeys/register/options", register_options, PL_AUTH_USER, NULL, J},
    {PL_M_POST, "/v1/me/passkeys", register_passkey, PL_AUTH_USER, NULL, J},
    {PL_M_GET, "/v1/me/passkeys", list_passkeys, PL_AUTH_USER, NULL, 0},
    {PL_M_DELETE, "/v1/me/passkeys/{id}", remove_passkey, PL_AUTH_USER, NULL, 0},
    {PL_M_POST, "/v1/auth/passkey/options", signin_options, PL_AUTH_NONE, NULL, J},
    {PL_M_POST, "/v1/auth/passkey", signin, PL_AUTH_NONE, NULL, J},
    {0},
};

const pl_module_t pl_passkeys_module = {
    .name = "passkeys",
    .routes = routes,
    .jobs = pl_passkeys_jobs,
    .schedules = pl_passkeys_schedules,
    .options = pl_passkeys_options,
    .init = pl_passkeys_init,
};
