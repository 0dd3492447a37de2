/* apikeys_routes.c - the HTTP face of API keys, and the module's
 * descriptor. */
#include "apikeys/apikeys.h"
#include "core/crypto.h"
#include "rbac/rbac.h"
#include "web/web.h"

#define NAME_MAX_BYTES 200

static void write_key(pl_jw_t *w, const void *item)
{
    const pl_apikey_t *k = item;
    pl_jw_string(w, "id", k->id);
    pl_jw_string(w, "name", k->name);
    pl_jw_string(w, "prefix", k->prefix);
    pl_perms_write(w, "permissions", &k->perms);
    pl_jw_string(w, "created_by", k->created_by);
    pl_jw_time_or_null(w, "expires_at", k->expires_at);
    pl_jw_time_or_null(w, "last_used_at", k->last_used_at);
    pl_jw_time_or_null(w, "created_at", k->created_at);
}

static void write_listed_key(pl_jw_t *w, const void *item)
{
    pl_jw_object_open(w, NULL);
    write_key(w, item);
    pl_jw_object_close(w);
}

/* A new key: its record and, this once, the key itself. */
typedef struct {
    const pl_apikey_t *key;
    const char *secret;
} created_t;

static void write_created_key(pl_jw_t *w, const void *item)
{
    const created_t *c = item;
    pl_jw_object_open(w, NULL);
    write_key(w, c->key);
    pl_jw_string(w, "key", c->secret);
    pl_jw_object_close(w);
}

static int create(pl_req_t *req)
{
    const char *name = NULL, *expires = NULL, *bad = NULL;
    pl_perms_t perms;
    pl_perms_clear(&perms);
    int64_t expires_at = 0;
    pl_json_get_name(req, "name", true, 1, NAME_MAX_BYTES, &name);
    pl_json_get_string(req, "expires_at", false, 1, 40, &expires);
    json_t *jp = req->json ? json_object_get(req->json, "permissions") : NULL;
    if (!jp)
        pl_req_field_error(req, "permissions", "required", "This field is required.");
    else if (pl_perms_from_json(jp, &perms, &bad))
        pl_req_field_error(req, "permissions", "invalid",
                           bad ? pl_arena_printf(req->ctx.arena, "Unknown permission \"%s\".", bad)
                               : "Must be an array of permission keys.");
    if (expires && (pl_time_parse(expires, &expires_at) || expires_at <= pl_now_ms()))
        pl_req_field_error(req, "expires_at", "invalid", "Must be a future RFC 3339 UTC time.");
    if (pl_req_validated(req))
        return PL_EINVAL;
    PL_DB_THREAD(db);
    pl_apikey_t k;
    char secret[PL_APIKEY_LEN + 1];
    int rc = pl_apikeys_create(db, &req->ctx, name, &perms, expires_at, &k, secret);
    if (rc)
        return rc;
    created_t c = {&k, secret};
    rc = pl_resp_object(req, 201, write_created_key, &c);
    pl_memzero(secret, sizeof(secret));
    return rc;
}

static int list(pl_req_t *req)
{
    int limit;
    const char *cursor;
    int rc = pl_req_page_id(req, &limit, &cursor);
    if (rc)
        return rc;
    PL_DB_THREAD(db);
    pl_apikey_page_t page;
    rc = pl_apikeys_list(db, &req->ctx, cursor, limit, &page);
    return rc ? rc
              : pl_resp_page(req, page.items, (size_t)page.n, sizeof(*page.items), write_listed_key,
                             page.next_cursor);
}

static int revoke(pl_req_t *req)
{
    PL_DB_THREAD(db);
    int rc = pl_apikeys_revoke(db, &req->ctx, pl_req_param(req, "id"));
    return rc ? rc : pl_resp_status(req, 204);
}

/* ---- the module ---- */

static pl_route_t routes[] = {
    {PL_M_POST, "/v1/orgs/{org}/api-keys", create, PL_AUTH_ORG, "apikey.manage", PL_ROUTE_JSON},
    {PL_M_GET, "/v1/orgs/{org}/api-keys", list, PL_AUTH_ORG, "apikey.read", 0},
    {PL_M_DELETE, "/v1/orgs/{org}/api-keys/{id}", revoke, PL_AUTH_ORG, "apikey.manage", 0},
    {0},
};

static const pl_perm_def_t perms[] = {
    {"apikey.read", "See API keys", PL_ROLES_ADMIN},
    {"apikey.manage", "Create and revoke API keys", PL_ROLES_ADMIN},
    {0},
};

const pl_module_t pl_apikeys_module = {
    .name = "apikeys",
    .routes = routes,
    .perms = perms,
};
