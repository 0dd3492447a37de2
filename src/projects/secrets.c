/* secrets.c - an environment's secrets: versions (the last 10 kept), values
 * sealed under the organization's data key and bound to their row
 * (platform/keys), If-Match, import and export. Values never reach the
 * log, the audit log or an error: events carry key names only. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/crypto.h"
#include "core/rows.h"
#include "platform/keys/keys.h"
#include "projects/dotenv.h"
#include "projects/projects_int.h"

#define EXPORT_MAX     (256u * 1024 * 1024) /* bytes of an export */
#define AUDIT_KEYS_MAX (32 * 1024)          /* bytes of key names listed in one event */

/* ---- rules ---- */

bool pl_secrets_key_valid(const char *key)
{
    return key && pl_dotenv_key_valid(key, strlen(key));
}

/* Well-formed UTF-8 (RFC 3629: no overlong forms, surrogates or code
 * points past U+10FFFF), without NUL. */
static bool utf8_valid(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        if (c == 0)
            return false;
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t len;
        uint32_t cp;
        if (c >= 0xC2 && c <= 0xDF)
            len = 2, cp = c & 0x1F;
        else if (c >= 0xE0 && c <= 0xEF)
            len = 3, cp = c & 0x0F;
        else if (c >= 0xF0 && c <= 0xF4)
            len = 4, cp = c & 0x07;
        else
            return false;
        if (i + len > n)
            return false;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if ((len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
            (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
            return false;
        i += len;
    }
    return true;
}

bool pl_secrets_value_valid(const char *value, size_t len)
{
    return value && len <= PL_SECRETS_VALUE_MAX && utf8_valid((const unsigned char *)value, len);
}

static int no_secret(pl_ctx_t *ctx)
{
    return pl_fail(ctx, 404, "not_found", "No such secret.");
}

static int stale(pl_ctx_t *ctx)
{
    return pl_fail(ctx, 412, "precondition_failed",
                   "The secret is not at the version given in If-Match.");
}

static int too_many(pl_ctx_t *ctx, const char *field)
{
    pl_field_error(ctx, field, "limit_reached", "An environment holds at most 1000 secrets.");
    return PL_EINVAL;
}

static json_t *secret_data(const pl_environment_t *e, const char *key, int64_t version)
{
    json_t *d = json_pack("{s:s, s:s, s:s}", "project_id", e->project_id, "environment_id", e->id,
                          "key", key);
    if (version > 0)
        json_object_set_new(d, "version", json_integer(version));
    return d;
}

static const char *target(pl_ctx_t *ctx, const pl_environment_t *e, const char *key)
{
    return pl_arena_printf(ctx->arena, "%s:%s", e->id, key);
}

/* ---- reading ---- */

int pl_secrets_list(pl_db_t *db, pl_ctx_t *ctx, const char *project_ref, const char *env_ref,
                    const char *cursor, int limit, pl_secret_page_t *out)
{
    pl_project_t p;
    pl_environment_t e;
    int rc = pl_environments_resolve(db, ctx, project_ref, env_ref, PL_ENV_VIEWER, &p, &e);
    if (rc)
        return rc;
    pl_rows_t rows;
    pl_rows_init(&rows, ctx->arena, sizeof(pl_secret_row_t), limit);
    rc = pl_secrets_store_list(db, ctx->arena, ctx->tenant.org_id, e.id, cursor, &rows);
    if (rc)
        return rc;
    pl_secret_t *items = pl_arena_alloc(ctx->arena, sizeof(*items) * (size_t)(rows.n + 1));
    for (int i = 0; i < rows.n; i++) {
        const pl_secret_row_t *r = pl_rows_at(&rows, i);
        items[i] = (pl_secret_t){.key = r->key,
                                 .version = r->version,
                                 .updated_at = r->updated_at,
                                 .updated_by = r->updated_by};
    }
    out->items = items;
    out->n = rows.n;
    out->next_cursor = rows.more ? items[rows.n - 1].key : NULL;
    return PL_OK;
}

/* Opens a stored version; a box that does not open is a 500 (logged by
 * platform/keys), never another value. */
static int open_row(pl_db_t *db, pl_ctx_t *ctx, const pl_datakey_t *k, const pl_environment_t *e,
                    const pl_secret_row_t *r, char **value, size_t *n)
{
    char ad[PL_SECRETS_AD_MAX];
    pl_secrets_ad(ad, ctx->tenant.org_id, e->id, r->key, r->version);
    if (!k)
        return pl_keys_open(db, ctx->arena, ctx->tenant.org_id, r->sealed, ad, value, n);
    int rc = pl_keys_open_with(ctx->arena, k, r->sealed, ad, value, n);
    if (rc)
        pl_log("error",
               "secrets: the value of %s does not open (altered, or copied from another "
               "row)",
               ad);
    return rc;
}

int pl_secrets_read(pl_db_t *db, pl_ctx_t *ctx, const char *project_ref, const char *env_ref,
                    const char *key, int64_t version, pl_secret_t *out)
{
    int rc = pl_db_begin(db);
    if (rc)
        return rc;
    pl_project_t p;
    pl_environment_t e;
    pl_secret_row_t r;
    char *value = NULL;
    size_t n = 0;
    rc = pl_environments_resolve(db, ctx, project_ref, env_ref, PL_ENV_MANAGER, &p, &e);
    if (!rc) {
        rc = pl_secrets_key_valid(key) && version >= 0
                 ? pl_secrets_store_get(db, ctx->arena, ctx->tenant.org_id, e.id, key, version, &r)
                 : PL_ENOTFOUND;
        if (rc == PL_ENOTFOUND)
            rc = no_secret(ctx);
    }
    if (!rc)
        rc = open_row(db, ctx, NULL, &e, &r, &value, &n);
    /* a revealed value is audited: no event, no value */
    if (!rc)
        rc = pl_projects_audit(db, ctx, "secret.read", "secret", target(ctx, &e, key),
                               secret_data(&e, key, r.version));
    if ((rc = pl_db_finish(db, rc)))
        return rc;
    *out = (pl_secret_t){.key = r.key,
                         .version = r.version,
                         .updated_at = r.updated_at,
                         .updated_by = r.updated_by,
                         .value = value,
                         .value_len = n};
    return PL_OK;
}

/* ---- writing ---- */

/* Writes value as key's next version under k, drops versions beyond the
 * last 10; *version gets its number. In the caller's transaction. */
static int write_version(pl_db_t *db, pl_ctx_t *ctx, const pl_datakey_t *k,
                         const pl_environment_t *e, const char *key, const char *value, size_t n,
                         int64_t now, int64_t *version)
{
    const char *org = ctx->tenant.org_id, *by = pl_projects_actor(ctx);
    int rc = pl_secrets_store_bump(db, org, e->id, key, by, now, version);
    if (rc)
        return rc;
    /* the version is part of the associated data: sealed after the bump */
    char ad[PL_SECRETS_AD_MAX];
    pl_secrets_ad(ad, org, e->id, key, *version);
    char *box = pl_keys_seal_with(ctx->arena, k, value, n, ad);
    rc = pl_secrets_store_add_version(db, org, e->id, key, *version, box, by, now);
    if (!rc && *version > PL_SECRETS_VERSIONS_KEPT)
        rc = pl_secrets_store_prune(db, org, e->id, key, *version - PL_SECRETS_VERSIONS_KEPT);
    return rc;
}

/* The If-Match precondition against the current version (ENOTFOUND when
 * there is none): 412 when it does not hold. */
static int check_if_match(pl_ctx_t *ctx, const int64_t *if_match, int found, int64_t current)
{
    if (!if_match)
        return PL_OK;
    if (found != PL_OK || (*if_match != 0 && *if_match != current))
        return stale(ctx);
    return PL_OK;
}

int pl_secrets_put(pl_db_t *db, pl_ctx_t *ctx, const char *project_ref, const char *env_ref,
                   const char *key, const char *value, size_t value_len, const int64_t *if_match,
                   pl_secret_t *out)
{
    int rc = pl_db_begin(db);
    if (rc)
        return rc;
    pl_project_t p;
    pl_environment_t e;
    pl_datakey_t k;
    bool have_key = false;
    int64_t version = 0, now = pl_now_ms();
    rc = pl_environments_resolve(db, ctx, project_ref, env_ref, PL_ENV_MANAGER, &p, &e);
    if (!rc && !pl_secrets_key_valid(key))
        pl_field_error(ctx, "key", "invalid", "Keys match ^[A-Za-z_][A-Za-z0-9_]{0,127}$.");
    if (!rc && !pl_secrets_value_valid(value, value_len))
        pl_field_error(ctx, "value", "invalid",
                       "Values are UTF-8 text without NUL, at most 65536 bytes.");
    if (!rc)
        rc = pl_validated(ctx);
    if (!rc)
        rc = pl_environments_store_lock(db, ctx->tenant.org_id, e.id);
    if (!rc && if_match) {
        pl_secret_row_t cur;
        int found = pl_secrets_store_get(db, ctx->arena, ctx->tenant.org_id, e.id, key, 0, &cur);
        if (found != PL_OK && found != PL_ENOTFOUND)
            rc = found;
        else
            rc = check_if_match(ctx, if_match, found, found == PL_OK ? cur.version : 0);
    }
    if (!rc && !(rc = pl_keys_load(db, ctx->tenant.org_id, true, &k)))
        have_key = true;
    if (!rc)
        rc = write_version(db, ctx, &k, &e, key, value, value_len, now, &version);
    if (!rc && version == 1) {
        int64_t count = 0;
        rc = pl_secrets_store_count(db, ctx->tenant.org_id, e.id, &count);
        if (!rc && count > PL_SECRETS_PER_ENV)
            rc = too_many(ctx, "key");
    }
    if (!rc)
        rc = pl_projects_audit(db, ctx, version == 1 ? "secret.created" : "secret.updated",
                               "secret", target(ctx, &e, key), secret_data(&e, key, version));
    if (have_key)
        pl_keys_release(&k);
    if ((rc = pl_db_finish(db, rc)))
        return rc;
    *out = (pl_secret_t){.key = pl_arena_strdup(ctx->arena, key),
                         .version = version,
                         .updated_at = now,
                         .updated_by = pl_projects_actor(ctx)};
    return PL_OK;
}

int pl_secrets_delete(pl_db_t *db, pl_ctx_t *ctx, const char *project_ref, const char *env_ref,
                      const char *key, const int64_t *if_match)
{
    int rc = pl_db_begin(db);
    if (rc)
        return rc;
    pl_project_t p;
    pl_environment_t e;
    pl_secret_row_t cur = {0};
    rc = pl_environments_resolve(db, ctx, project_ref, env_ref, PL_ENV_MANAGER, &p, &e);
    if (!rc)
        rc = pl_environments_store_lock(db, ctx->tenant.org_id, e.id);
    if (!rc) {
        int found =
            pl_secrets_key_valid(key)
                ? pl_secrets_store_get(db, ctx->arena, ctx->tenant.org_id, e.id, key, 0, &cur)
                : PL_ENOTFOUND;
        if (found == PL_ENOTFOUND)
            rc = if_match ? stale(ctx) : no_secret(ctx);
        else if (found)
            rc = found;
        else
            rc = check_if_match(ctx, if_match, found, cur.version);
    }
    if (!rc)
        rc = pl_secrets_store_delete(db, ctx->tenant.org_id, e.id, key);
    if (!rc)
        rc = pl_projects_audit(db, ctx, "secret.deleted", "secret", target(ctx, &e, key),
                               secret_data(&e, key, cur.version));
    return pl_db_finish(db, rc);
}

/* ---- export and import ---- */

/* JSON string contents of a value: RFC 8259 escapes only. */
static int write_json_pair(pl_buf_t *b, bool first, const char *key, const char *value, size_t n)
{
    int rc = pl_buf_append(b, first ? "\"" : ",\"", first ? 1 : 2);
    rc |= pl_buf_append(b, key, strlen(key));
    rc |= pl_buf_append(b, "\":\"", 3);
    rc |= pl_buf_append_json_escaped(b, value, n);
    rc |= pl_buf_append(b, "\"", 1);
    return rc ? PL_ELIMIT : PL_OK;
}

int pl_secrets_export(pl_db_t *db, pl_ctx_t *ctx, const char *project_ref, const char *env_ref,
                      pl_secrets_format_t format, pl_buf_t *out)
{
    int rc = pl_db_begin(db);
    if (rc)
        return rc;
    pl_project_t p;
    pl_environment_t e;
    pl_datakey_t k;
    bool have_key = false;
    pl_rows_t rows;
    pl_rows_init(&rows, ctx->arena, sizeof(pl_secret_row_t), 0);
    rc = pl_environments_resolve(db, ctx, project_ref, env_ref, PL_ENV_MANAGER, &p, &e);
    if (!rc)
        rc = pl_secrets_store_current(db, ctx->arena, ctx->tenant.org_id, e.id, &rows);
    if (!rc && rows.n) {
        rc = pl_keys_load(db, ctx->tenant.org_id, false, &k);
        if (rc == PL_ENOTFOUND) {
            pl_log("error", "secrets: organization %s has secrets but no data key",
                   ctx->tenant.org_id);
            rc = PL_EINTERNAL;
        }
        have_key = !rc;
    }
    if (!rc && format == PL_SECRETS_JSON)
        rc = pl_buf_append(out, "{\"secrets\":{", 12);
    /* one scratch buffer for every value, wiped at the end */
    unsigned char *value = rows.n ? pl_xmalloc(PL_SECRETS_VALUE_MAX + 1) : NULL;
    for (int i = 0; !rc && i < rows.n; i++) {
        const pl_secret_row_t *r = pl_rows_at(&rows, i);
        char ad[PL_SECRETS_AD_MAX];
        pl_secrets_ad(ad, ctx->tenant.org_id, e.id, r->key, r->version);
        long n = pl_keys_open_into(&k, r->sealed, ad, value, PL_SECRETS_VALUE_MAX + 1);
        if (n < 0 || n > PL_SECRETS_VALUE_MAX) {
            pl_log("error",
                   "secrets: the value of %s does not open (altered, or copied from "
                   "another row)",
                   ad);
            rc = PL_EINTERNAL;
            break;
        }
        rc = format == PL_SECRETS_JSON
                 ? write_json_pair(out, i == 0, r->key, (const char *)value, (size_t)n)
                 : pl_dotenv_write(out, r->key, (const char *)value, (size_t)n);
        pl_memzero(value, (size_t)n);
    }
    free(value);
    if (!rc && format == PL_SECRETS_JSON)
        rc = pl_buf_append(out, "}}", 2);
    if (rc == PL_ELIMIT)
        rc = pl_fail(ctx, 413, "payload_too_large", "The export exceeds 256 MiB.");
    if (have_key)
        pl_keys_release(&k);
    if (!rc) {
        json_t *d =
            json_pack("{s:s, s:s, s:s, s:i}", "project_id", e.project_id, "environment_id", e.id,
                      "format", format == PL_SECRETS_JSON ? "json" : "dotenv", "count", rows.n);
        rc = pl_projects_audit(db, ctx, "secret.exported", "environment", e.id, d);
    }
    return pl_db_finish(db, rc);
}

int pl_secrets_import(pl_db_t *db, pl_ctx_t *ctx, const char *project_ref, const char *env_ref,
                      const pl_secret_kv_t *items, int n, const char *field, int *created,
                      int *updated)
{
    /* every entry is checked before anything is written: all or nothing */
    for (int i = 0; i < n; i++) {
        if (!pl_secrets_key_valid(items[i].key)) {
            pl_field_error(ctx, field, "invalid_key",
                           pl_arena_printf(ctx->arena,
                                           "Entry %d: keys match ^[A-Za-z_][A-Za-z0-9_]{0,127}$.",
                                           i + 1));
            return PL_EINVAL;
        }
        if (!pl_secrets_value_valid(items[i].value, items[i].value_len)) {
            pl_field_error(ctx, field, "invalid_value",
                           pl_arena_printf(ctx->arena,
                                           "The value of %s is not UTF-8 text without NUL of at "
                                           "most 65536 bytes.",
                                           items[i].key));
            return PL_EINVAL;
        }
    }
    if (n > PL_SECRETS_PER_ENV)
        return too_many(ctx, field);
    int rc = pl_db_begin(db);
    if (rc)
        return rc;
    pl_project_t p;
    pl_environment_t e;
    pl_datakey_t k;
    bool have_key = false;
    int64_t now = pl_now_ms();
    json_t *keys = json_array();
    size_t listed = 0;
    bool truncated = false;
    *created = *updated = 0;
    rc = pl_environments_resolve(db, ctx, project_ref, env_ref, PL_ENV_MANAGER, &p, &e);
    if (!rc)
        rc = pl_environments_store_lock(db, ctx->tenant.org_id, e.id);
    if (!rc && n && !(rc = pl_keys_load(db, ctx->tenant.org_id, true, &k)))
        have_key = true;
    for (int i = 0; !rc && i < n; i++) {
        const pl_secret_kv_t *it = &items[i];
        pl_secret_row_t cur;
        int found =
            pl_secrets_store_get(db, ctx->arena, ctx->tenant.org_id, e.id, it->key, 0, &cur);
        if (found != PL_OK && found != PL_ENOTFOUND) {
            rc = found;
            break;
        }
        if (found == PL_OK) {
            char *value = NULL;
            size_t vn = 0;
            if ((rc = open_row(db, ctx, &k, &e, &cur, &value, &vn)))
                break;
            bool same = vn == it->value_len && !memcmp(value, it->value, vn);
            pl_memzero(value, vn);
            if (same)
                continue; /* nothing to change: no new version */
        }
        int64_t version = 0;
        rc = write_version(db, ctx, &k, &e, it->key, it->value, it->value_len, now, &version);
        if (!rc) {
            if (found == PL_OK)
                (*updated)++;
            else
                (*created)++;
            size_t kl = strlen(it->key);
            if (listed + kl <= AUDIT_KEYS_MAX) {
                json_array_append_new(keys, json_string(it->key));
                listed += kl;
            } else {
                truncated = true;
            }
        }
    }
    if (!rc && *created) {
        int64_t count = 0;
        rc = pl_secrets_store_count(db, ctx->tenant.org_id, e.id, &count);
        if (!rc && count > PL_SECRETS_PER_ENV)
            rc = too_many(ctx, field);
    }
    if (have_key)
        pl_keys_release(&k);
    if (!rc) {
        json_t *d =
            json_pack("{s:s, s:s, s:i, s:i, s:O}", "project_id", e.project_id, "environment_id",
                      e.id, "created", *created, "updated", *updated, "keys", keys);
        if (truncated)
            json_object_set_new(d, "keys_truncated", json_true());
        rc = pl_projects_audit(db, ctx, "secret.imported", "environment", e.id, d);
    }
    json_decref(keys);
    return pl_db_finish(db, rc);
}

/* ---- `plinth keys verify` ---- */

int pl_secrets_check_sealed(pl_db_t *db, pl_keys_check_t *chk)
{
    pl_arena_t *a = pl_arena_create();
    pl_rows_t orgs;
    pl_rows_init(&orgs, a, sizeof(const char *), 0);
    int rc = pl_secrets_store_orgs(db, a, &orgs);
    for (int i = 0; !rc && i < orgs.n; i++) {
        const char *org = *(const char **)pl_rows_at(&orgs, i);
        pl_arena_t *oa = pl_arena_create();
        pl_rows_t rows;
        pl_rows_init(&rows, oa, sizeof(pl_secret_version_row_t), 0);
        rc = pl_db_set_context(db, "app.org_id", org);
        if (!rc)
            rc = pl_secrets_store_all_versions(db, oa, org, &rows);
        for (int j = 0; !rc && j < rows.n; j++) {
            const pl_secret_version_row_t *r = pl_rows_at(&rows, j);
            char ad[PL_SECRETS_AD_MAX];
            pl_secrets_ad(ad, org, r->env_id, r->key, r->version);
            const char *label = pl_arena_printf(
                oa, "the secret %s version %lld of environment %s (organization %s)", r->key,
                (long long)r->version, r->env_id, org);
            rc = pl_keys_check_box(chk, org, r->sealed, ad, NULL, label);
        }
        pl_arena_destroy(oa);
    }
    pl_arena_destroy(a);
    return rc;
}
