/* apikeys.c - API keys: creation (permissions a subset of the creator's, the
 * creator's level), listing without secrets, revocation effective at once,
 * and authentication by hash with last_used_at written at most once a minute. */
#include <stdio.h>
#include <string.h>

#include "apikeys/apikeys.h"
#include "platform/audit/audit.h"
#include "core/crypto.h"
#include "db/db.h"
#include "orgs/orgs.h"
#include "orgs/orgs_store.h"
#include "rbac/rbac.h"

#define KEY_RANDOM_BYTES  32
#define KEY_BODY_CHARS    43 /* 32 bytes in base62: ceil(256 / log2(62)) */
#define PREFIX_CHARS      12 /* "plk_" and the first 8 characters */
#define TOUCH_INTERVAL_MS (60 * 1000)
#define NAME_MAX_BYTES    200

typedef struct {
    const char *id, *org_id, *name, *prefix, *permissions, *created_by;
    int level;
    int64_t expires_at, last_used_at, revoked_at, created_at; /* 0: none */
} key_row_t;

#define KEY_COLS                                                                                   \
    "id, org_id, name, prefix, permissions, created_by, level, expires_at, last_used_at, "         \
    "revoked_at, created_at"

static int64_t col_time(pl_stmt_t *st, int col)
{
    return pl_stmt_col_is_null(st, col) ? 0 : pl_stmt_col_int64(st, col);
}

static void read_key(pl_arena_t *a, pl_stmt_t *st, key_row_t *k)
{
    k->id = pl_stmt_col_dup(st, a, 0);
    k->org_id = pl_stmt_col_dup(st, a, 1);
    k->name = pl_stmt_col_dup(st, a, 2);
    k->prefix = pl_stmt_col_dup(st, a, 3);
    k->permissions = pl_stmt_col_dup(st, a, 4);
    k->created_by = pl_stmt_col_dup(st, a, 5);
    k->level = (int)pl_stmt_col_int64(st, 6);
    k->expires_at = col_time(st, 7);
    k->last_used_at = col_time(st, 8);
    k->revoked_at = col_time(st, 9);
    k->created_at = col_time(st, 10);
}

static const char sql_by_hash[] = "SELECT " KEY_COLS " FROM api_keys WHERE key_hash = $1";
static const char sql_insert[] =
    "INSERT INTO api_keys (id, org_id, name, prefix, key_hash, permissions, level, created_by, "
    "expires_at, created_at) VALUES ($2, $1, $3, $4, $5, $6, $7, $8, $9, $10)";
static const char sql_list[] =
    "SELECT " KEY_COLS " FROM api_keys WHERE org_id = $1 AND revoked_at IS NULL AND "
    "($2 = '' OR id < $2) ORDER BY id DESC LIMIT $3";
static const char sql_revoke[] = "UPDATE api_keys SET revoked_at = $3 WHERE org_id = $1 AND "
                                 "id = $2 AND revoked_at IS NULL";
static const char sql_touch[] =
    "UPDATE api_keys SET last_used_at = $3 WHERE org_id = $1 AND id = $2";

/* ---- authentication ---- */

void pl_apikeys_touch(pl_db_t *db, const char *org_id, const char *key_id)
{
    if (pl_db_begin(db))
        return;
    /* row-level security: the write happens in the key's org */
    int rc = pl_db_set_context(db, "app.org_id", org_id);
    pl_stmt_t *st = rc ? NULL : pl_db_prepare(db, sql_touch);
    if (st) {
        pl_stmt_bind_text(st, 1, org_id);
        pl_stmt_bind_text(st, 2, key_id);
        pl_stmt_bind_int64(st, 3, pl_now_ms());
        rc = pl_stmt_exec(st) < 0 ? PL_EDB : PL_OK;
    }
    pl_db_finish(db, rc);
}

bool pl_apikeys_is_key(const char *token, size_t len)
{
    size_t n = strlen(PL_APIKEY_PREFIX);
    return len > n && !strncmp(token, PL_APIKEY_PREFIX, n);
}

static int invalid_key(pl_ctx_t *ctx, const char *code, const char *detail)
{
    return pl_fail(ctx, 401, code, detail);
}

int pl_apikeys_authenticate(pl_db_t *db, pl_ctx_t *ctx, const char *token, size_t len,
                            const char *org_ref, int perm_bit, bool *touch)
{
    *touch = false;
    if (len != strlen(PL_APIKEY_PREFIX) + KEY_BODY_CHARS)
        return invalid_key(ctx, "invalid_token", "The API key is not valid.");
    char hash[65];
    pl_sha256_hex(token, len, hash);
    int rc = pl_db_set_context(db, "app.api_key", hash);
    if (rc)
        return rc;
    key_row_t k;
    {
        PL_PREPARE(st, db, sql_by_hash);
        pl_stmt_bind_text(st, 1, hash);
        rc = pl_stmt_step(st);
        if (rc == 1)
            read_key(ctx->arena, st, &k);
        pl_stmt_reset(st);
    }
    if (rc < 0)
        return rc;
    int64_t now = pl_now_ms();
    if (rc == 0 || k.revoked_at)
        return invalid_key(ctx, "invalid_token", "The API key is not valid.");
    if (k.expires_at && k.expires_at <= now)
        return invalid_key(ctx, "token_expired", "The API key has expired.");

    /* the key's org, and no other: another org's path is a 404 */
    pl_org_t o;
    rc = org_ref ? pl_orgs_store_get(db, ctx->arena, k.org_id, true, &o) : PL_ENOTFOUND;
    if (rc && rc != PL_ENOTFOUND)
        return rc;
    if (rc || (strcmp(org_ref, o.id) && strcmp(org_ref, o.slug)))
        return pl_fail(ctx, 404, "not_found", "No such resource.");
    if ((rc = pl_db_set_context(db, "app.org_id", o.id)))
        return rc;
    ctx->principal.authenticated = true;
    snprintf(ctx->principal.api_key_id, sizeof(ctx->principal.api_key_id), "%s", k.id);
    pl_tenant_t *t = &ctx->tenant;
    t->resolved = true;
    snprintf(t->org_id, sizeof(t->org_id), "%s", o.id);
    t->name = o.name;
    t->slug = o.slug;
    t->personal = o.personal;
    t->created_at = o.created_at;
    t->members_version = o.members_version;
    t->role = NULL;
    t->level = k.level;
    pl_perms_from_text(k.permissions, &t->perms);
    t->is_api_key = true;
    *touch = now - k.last_used_at >= TOUCH_INTERVAL_MS;
    if (perm_bit >= 0 && !pl_perms_has(&t->perms, perm_bit))
        return pl_fail(ctx, 403, "forbidden", "This API key does not allow this.");
    return PL_OK;
}

/* ---- routes ---- */

static const char *fmt_time(pl_req_t *req, int64_t ms)
{
    if (!ms)
        return NULL;
    char *out = pl_arena_alloc(req->ctx.arena, 32);
    pl_time_format(ms, out);
    return out;
}

static json_t *key_json(pl_req_t *req, const key_row_t *k)
{
    pl_perms_t perms;
    pl_perms_from_text(k->permissions, &perms);
    return json_pack("{s:s, s:s, s:s, s:o, s:s?, s:s?, s:s?, s:s}", "id", k->id, "name", k->name,
                     "prefix", k->prefix, "permissions", pl_perms_to_json(&perms), "created_by",
                     k->created_by, "expires_at", fmt_time(req, k->expires_at), "last_used_at",
                     fmt_time(req, k->last_used_at), "created_at", fmt_time(req, k->created_at));
}

/* A key: "plk_" and 43 base62 characters from 32 random bytes. */
static void new_key(char out[64])
{
    static const char alphabet[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    unsigned char num[KEY_RANDOM_BYTES];
    pl_random_bytes(num, sizeof(num));
    char digits[KEY_BODY_CHARS];
    /* repeated division of the 256-bit number by 62 */
    for (int i = KEY_BODY_CHARS - 1; i >= 0; i--) {
        unsigned rem = 0;
        for (int j = 0; j < KEY_RANDOM_BYTES; j++) {
            unsigned cur = (rem << 8) | num[j];
            num[j] = (unsigned char)(cur / 62);
            rem = cur % 62;
        }
        digits[i] = alphabet[rem];
    }
    memcpy(out, PL_APIKEY_PREFIX, 4);
    memcpy(out + 4, digits, KEY_BODY_CHARS);
    out[4 + KEY_BODY_CHARS] = '\0';
    pl_memzero(num, sizeof(num));
    pl_memzero(digits, sizeof(digits));
}

int pl_apikeys_create(pl_req_t *req)
{
    const char *name = NULL, *expires = NULL, *bad = NULL;
    pl_perms_t perms;
    pl_perms_clear(&perms);
    int64_t expires_at = 0;
    pl_json_get_string(req, "name", true, 1, NAME_MAX_BYTES, &name);
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
    pl_actor_t actor = pl_orgs_actor(&req->ctx);
    if (!pl_perms_subset(&perms, &actor.perms))
        return pl_req_fail(req, 403, "forbidden", "A key cannot hold permissions you do not have.");
    char key[64], hash[65], id[37], prefix[PREFIX_CHARS + 1];
    new_key(key);
    pl_sha256_hex(key, strlen(key), hash);
    memcpy(prefix, key, PREFIX_CHARS);
    prefix[PREFIX_CHARS] = '\0';
    pl_uuid7(id);
    const char *perm_text = pl_perms_to_text(req->ctx.arena, &perms);
    int64_t now = pl_now_ms();
    const char *creator = req->ctx.principal.user_id[0] ? req->ctx.principal.user_id : NULL;
    pl_db_t *db = pl_db_thread();
    if (!db)
        return PL_EDB;
    int rc = pl_db_begin(db);
    if (rc)
        return rc;
    {
        pl_stmt_t *st = pl_db_prepare(db, sql_insert);
        if (!st) {
            rc = PL_EDB;
        } else {
            pl_stmt_bind_text(st, 1, req->ctx.tenant.org_id);
            pl_stmt_bind_text(st, 2, id);
            pl_stmt_bind_text(st, 3, name);
            pl_stmt_bind_text(st, 4, prefix);
            pl_stmt_bind_text(st, 5, hash);
            pl_stmt_bind_text(st, 6, perm_text);
            pl_stmt_bind_int64(st, 7, actor.level);
            pl_stmt_bind_text(st, 8, creator);
            if (expires_at)
                pl_stmt_bind_int64(st, 9, expires_at);
            else
                pl_stmt_bind_null(st, 9);
            pl_stmt_bind_int64(st, 10, now);
            rc = pl_stmt_exec(st) < 0 ? PL_EDB : PL_OK;
        }
    }
    if (!rc) {
        json_t *d = json_pack("{s:s, s:s, s:o}", "name", name, "prefix", prefix, "permissions",
                              pl_perms_to_json(&perms));
        rc = pl_audit_append(db, &req->ctx, req->ctx.tenant.org_id, "apikey.created", "api_key", id,
                             d);
        json_decref(d);
    }
    if ((rc = pl_db_finish(db, rc))) {
        pl_memzero(key, sizeof(key));
        return rc;
    }
    key_row_t k = {
        id, req->ctx.tenant.org_id, name, prefix, perm_text, creator, actor.level, expires_at, 0, 0,
        now};
    json_t *o = key_json(req, &k);
    json_object_set_new(o, "key", json_string(key)); /* shown this once */
    pl_memzero(key, sizeof(key));
    return pl_resp_json(req, 201, o);
}

typedef struct {
    pl_req_t *req;
    json_t *list;
    int count, limit;
    const char *last;
} page_t;

int pl_apikeys_list(pl_req_t *req)
{
    int limit;
    const char *cursor;
    int rc = pl_req_page_id(req, &limit, &cursor);
    if (rc)
        return rc;
    pl_db_t *db = pl_db_thread();
    if (!db)
        return PL_EDB;
    PL_PREPARE(st, db, sql_list);
    pl_stmt_bind_text(st, 1, req->ctx.tenant.org_id);
    pl_stmt_bind_text(st, 2, cursor ? cursor : "");
    pl_stmt_bind_int64(st, 3, limit + 1);
    json_t *list = json_array();
    int count = 0;
    const char *last = NULL;
    while ((rc = pl_stmt_step(st)) == 1) {
        if (++count > limit)
            continue;
        key_row_t k;
        read_key(req->ctx.arena, st, &k);
        json_array_append_new(list, key_json(req, &k));
        last = k.id;
    }
    pl_stmt_reset(st);
    if (rc < 0) {
        json_decref(list);
        return rc;
    }
    return pl_resp_list(req, list, count > limit ? last : NULL);
}

int pl_apikeys_revoke(pl_req_t *req)
{
    const char *id = pl_req_param(req, "id");
    if (!pl_uuid_valid(id))
        return pl_req_fail(req, 404, "not_found", "No such API key.");
    pl_db_t *db = pl_db_thread();
    if (!db)
        return PL_EDB;
    int rc = pl_db_begin(db);
    if (rc)
        return rc;
    pl_stmt_t *st = pl_db_prepare(db, sql_revoke);
    if (!st)
        return pl_db_finish(db, PL_EDB);
    pl_stmt_bind_text(st, 1, req->ctx.tenant.org_id);
    pl_stmt_bind_text(st, 2, id);
    pl_stmt_bind_int64(st, 3, pl_now_ms());
    int n = pl_stmt_exec(st);
    rc = n < 0 ? PL_EDB : n == 0 ? PL_ENOTFOUND : PL_OK;
    if (!rc)
        rc = pl_audit_append(db, &req->ctx, req->ctx.tenant.org_id, "apikey.revoked", "api_key", id,
                             NULL);
    if ((rc = pl_db_finish(db, rc)))
        return rc == PL_ENOTFOUND ? pl_req_fail(req, 404, "not_found", "No such API key.") : rc;
    return pl_resp_status(req, 204);
}

/* ---- the module ---- */

static pl_route_t routes[] = {
    {PL_M_POST, "/v1/orgs/{org}/api-keys", pl_apikeys_create, PL_AUTH_ORG, "apikey.manage",
     PL_ROUTE_JSON},
    {PL_M_GET, "/v1/orgs/{org}/api-keys", pl_apikeys_list, PL_AUTH_ORG, "apikey.read", 0},
    {PL_M_DELETE, "/v1/orgs/{org}/api-keys/{id}", pl_apikeys_revoke, PL_AUTH_ORG, "apikey.manage",
     0},
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
