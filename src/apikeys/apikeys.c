/* apikeys.c - API keys: creation (permissions a subset of the creator's,
 * the creator's level), listing without secrets, revocation effective at
 * once, and authentication by hash with last_used_at written at most once
 * a minute. */
#include <stdio.h>
#include <string.h>

#include "apikeys/apikeys.h"
#include "apikeys/apikeys_store.h"
#include "billing/billing.h"
#include "core/crypto.h"
#include "orgs/orgs.h"
#include "platform/audit/audit.h"
#include "rbac/rbac.h"

#define KEY_RANDOM_BYTES  32
#define KEY_BODY_CHARS    (PL_APIKEY_LEN - 4) /* 32 bytes in base62: ceil(256 / log2(62)) */
#define PREFIX_CHARS      12                  /* "plk_" and the first 8 characters */
#define TOUCH_INTERVAL_MS (60 * 1000)

/* ---- authentication ---- */

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
    if (len != PL_APIKEY_LEN)
        return invalid_key(ctx, "invalid_token", "The API key is not valid.");
    char hash[65];
    pl_sha256_hex(token, len, hash);
    int rc = pl_db_set_context(db, "app.api_key", hash);
    /* the path's org travels with the key's row: the key acts in that org
     * or the answer is a 404 */
    if (!rc && org_ref)
        pl_orgs_lookup_prefetch(db, org_ref);
    pl_apikey_t k;
    bool barred = false;
    if (!rc)
        rc = pl_apikeys_store_by_hash(db, ctx->arena, hash, &k, &barred);
    if (rc == PL_ENOTFOUND || (!rc && k.revoked_at))
        return invalid_key(ctx, "invalid_token", "The API key is not valid.");
    if (rc)
        return rc;
    int64_t now = pl_now_ms();
    if (k.expires_at && k.expires_at <= now)
        return invalid_key(ctx, "token_expired", "The API key has expired.");
    /* a key acts for its creator: not while the creator is disabled */
    if (barred)
        return invalid_key(ctx, "invalid_token",
                           "The API key is not valid while its creator is disabled.");

    /* the key's org, and no other: another org's path is a 404 */
    pl_org_t o;
    rc = org_ref ? pl_orgs_lookup(db, ctx->arena, org_ref, &o) : PL_ENOTFOUND;
    if (rc && rc != PL_ENOTFOUND)
        return rc;
    if (rc || strcmp(o.id, k.org_id))
        return pl_fail(ctx, 404, "not_found", "No such resource.");
    if ((rc = pl_orgs_enter(db, ctx, &o)))
        return rc;
    ctx->principal.authenticated = true;
    snprintf(ctx->principal.api_key_id, sizeof(ctx->principal.api_key_id), "%s", k.id);
    pl_tenant_t *t = &ctx->tenant;
    t->resolved = true;
    t->role = NULL;
    t->level = k.level;
    t->perms = k.perms;
    t->is_api_key = true;
    *touch = now - k.last_used_at >= TOUCH_INTERVAL_MS;
    if (perm_bit >= 0 && !pl_perms_has(&t->perms, perm_bit))
        return pl_fail(ctx, 403, "forbidden", "This API key does not allow this.");
    return PL_OK;
}

void pl_apikeys_touch(pl_db_t *db, const char *org_id, const char *key_id)
{
    if (pl_db_begin(db))
        return;
    /* row-level security: the write happens in the key's org */
    int rc = pl_db_set_context(db, "app.org_id", org_id);
    if (!rc)
        rc = pl_apikeys_store_touch(db, org_id, key_id, pl_now_ms());
    pl_db_finish(db, rc);
}

/* ---- keys ---- */

/* A key: "plk_" and 43 base62 characters from 32 random bytes. */
static void new_key(char out[PL_APIKEY_LEN + 1])
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
    out[PL_APIKEY_LEN] = '\0';
    pl_memzero(num, sizeof(num));
    pl_memzero(digits, sizeof(digits));
}

int pl_apikeys_create(pl_db_t *db, pl_ctx_t *ctx, const char *name, const pl_perms_t *perms,
                      int64_t expires_at, pl_apikey_t *out, char secret[PL_APIKEY_LEN + 1])
{
    int64_t now = pl_now_ms();
    if (expires_at && expires_at <= now) {
        pl_field_error(ctx, "expires_at", "invalid", "Must be a future RFC 3339 UTC time.");
        return PL_EINVAL;
    }
    pl_actor_t actor = pl_orgs_actor(ctx);
    if (!pl_perms_subset(perms, &actor.perms))
        return pl_fail(ctx, 403, "forbidden", "A key cannot hold permissions you do not have.");
    char hash[65];
    char *id = pl_arena_alloc(ctx->arena, PL_ID_LEN);
    pl_uuid7(id);
    new_key(secret);
    pl_sha256_hex(secret, PL_APIKEY_LEN, hash);
    pl_apikey_t k = {.id = id,
                     .org_id = ctx->tenant.org_id,
                     .name = pl_arena_strdup(ctx->arena, name),
                     .prefix = pl_arena_strndup(ctx->arena, secret, PREFIX_CHARS),
                     .created_by = pl_ctx_user(ctx),
                     .perms = *perms,
                     .level = actor.level,
                     .expires_at = expires_at,
                     .created_at = now};
    int rc = pl_db_begin(db);
    if (!rc) {
        rc = pl_billing_reserve(db, ctx, k.org_id, "api_keys", 1);
        if (!rc)
            rc = pl_apikeys_store_insert(db, ctx->arena, &k, hash);
        if (!rc) {
            json_t *d = json_pack("{s:s, s:s, s:o}", "name", k.name, "prefix", k.prefix,
                                  "permissions", pl_perms_to_json(perms));
            rc = pl_audit_append(db, ctx, k.org_id, "apikey.created", "api_key", id, d);
            json_decref(d);
        }
        rc = pl_db_finish(db, rc);
    }
    if (rc) {
        pl_memzero(secret, PL_APIKEY_LEN + 1);
        return rc;
    }
    *out = k;
    return PL_OK;
}

int pl_apikeys_list(pl_db_t *db, pl_ctx_t *ctx, const char *cursor, int limit,
                    pl_apikey_page_t *out)
{
    pl_rows_t rows;
    pl_rows_init(&rows, ctx->arena, sizeof(pl_apikey_t), limit);
    int rc = pl_apikeys_store_list(db, ctx->arena, ctx->tenant.org_id, cursor, &rows);
    if (rc)
        return rc;
    out->items = rows.items;
    out->n = rows.n;
    out->next_cursor = rows.more ? out->items[out->n - 1].id : NULL;
    return PL_OK;
}

int pl_apikeys_revoke(pl_db_t *db, pl_ctx_t *ctx, const char *id)
{
    if (!pl_uuid_valid(id))
        return pl_fail(ctx, 404, "not_found", "No such API key.");
    int rc = pl_db_begin(db);
    if (rc)
        return rc;
    rc = pl_apikeys_store_revoke(db, ctx->tenant.org_id, id, pl_now_ms());
    if (!rc)
        rc = pl_audit_append(db, ctx, ctx->tenant.org_id, "apikey.revoked", "api_key", id, NULL);
    if ((rc = pl_db_finish(db, rc)) == PL_ENOTFOUND)
        return pl_fail(ctx, 404, "not_found", "No such API key.");
    return rc;
}

int pl_apikeys_revoke_created_by(pl_db_t *db, pl_ctx_t *ctx, const char *org_id,
                                 const char *user_id, const char *reason)
{
    const char **ids = NULL;
    size_t n = 0;
    int rc =
        pl_apikeys_store_revoke_created_by(db, ctx->arena, org_id, user_id, pl_now_ms(), &ids, &n);
    for (size_t i = 0; !rc && i < n; i++) {
        json_t *d = json_pack("{s:s, s:s}", "reason", reason, "created_by", user_id);
        rc = pl_audit_append(db, ctx, org_id, "apikey.revoked", "api_key", ids[i], d);
        json_decref(d);
    }
    return rc;
}

int pl_apikeys_count_live(pl_db_t *db, const char *org_id, int64_t now, int64_t *out)
{
    return pl_apikeys_store_count_live(db, org_id, now, out);
}
