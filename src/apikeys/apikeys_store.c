/* apikeys_store.c - SQL for API keys. */
#include "apikeys/apikeys_store.h"
#include "rbac/rbac.h"

#define KEY_COLS                                                                                   \
    "id, org_id, name, prefix, permissions, created_by, level, expires_at, last_used_at, "         \
    "revoked_at, created_at"

static int done_rc(int rc)
{
    return rc < 0 ? rc : PL_OK;
}

static int64_t col_time(pl_stmt_t *st, int col)
{
    return pl_stmt_col_is_null(st, col) ? 0 : pl_stmt_col_int64(st, col);
}

static void read_key(pl_arena_t *a, pl_stmt_t *st, pl_apikey_t *k)
{
    k->id = pl_stmt_col_dup(st, a, 0);
    k->org_id = pl_stmt_col_dup(st, a, 1);
    k->name = pl_stmt_col_dup(st, a, 2);
    k->prefix = pl_stmt_col_dup(st, a, 3);
    pl_perms_from_text(pl_stmt_col_text(st, 4), &k->perms);
    k->created_by = pl_stmt_col_dup(st, a, 5);
    k->level = (int)pl_stmt_col_int64(st, 6);
    k->expires_at = col_time(st, 7);
    k->last_used_at = col_time(st, 8);
    k->revoked_at = col_time(st, 9);
    k->created_at = col_time(st, 10);
}

/* The key, and whether its creator's account bars it, in one statement: the
 * request path of every key. */
static const char sql_by_hash[] =
    "SELECT k.id, k.org_id, k.name, k.prefix, k.permissions, k.created_by, k.level, "
    "k.expires_at, k.last_used_at, k.revoked_at, k.created_at, "
    "COALESCE(k.created_by, '') <> '' AND (u.id IS NULL OR u.disabled_at IS NOT NULL) "
    "FROM api_keys k LEFT JOIN users u ON u.id = k.created_by WHERE k.key_hash = $1";

int pl_apikeys_store_by_hash(pl_db_t *db, pl_arena_t *a, const char *hash, pl_apikey_t *out,
                             bool *creator_barred)
{
    PL_PREPARE(st, db, sql_by_hash);
    pl_stmt_bind_text(st, 1, hash);
    int rc = pl_stmt_step(st);
    if (rc == 1) {
        read_key(a, st, out);
        *creator_barred = pl_stmt_col_bool(st, 11);
    }
    return pl_stmt_one_done(st, rc);
}

static const char sql_insert[] =
    "INSERT INTO api_keys (id, org_id, name, prefix, key_hash, permissions, level, created_by, "
    "expires_at, created_at) VALUES ($2, $1, $3, $4, $5, $6, $7, $8, $9, $10)";

int pl_apikeys_store_insert(pl_db_t *db, pl_arena_t *a, const pl_apikey_t *k, const char *hash)
{
    PL_PREPARE(st, db, sql_insert);
    pl_stmt_bind_text(st, 1, k->org_id);
    pl_stmt_bind_text(st, 2, k->id);
    pl_stmt_bind_text(st, 3, k->name);
    pl_stmt_bind_text(st, 4, k->prefix);
    pl_stmt_bind_text(st, 5, hash);
    pl_stmt_bind_text(st, 6, pl_perms_to_text(a, &k->perms));
    pl_stmt_bind_int64(st, 7, k->level);
    pl_stmt_bind_text(st, 8, k->created_by);
    if (k->expires_at)
        pl_stmt_bind_int64(st, 9, k->expires_at);
    else
        pl_stmt_bind_null(st, 9);
    pl_stmt_bind_int64(st, 10, k->created_at);
    return done_rc(pl_stmt_exec(st));
}

static const char sql_list[] =
    "SELECT " KEY_COLS " FROM api_keys WHERE org_id = $1 AND revoked_at IS NULL AND "
    "($2 = '' OR id < $2) ORDER BY id DESC LIMIT $3";

int pl_apikeys_store_list(pl_db_t *db, pl_arena_t *a, const char *org_id, const char *before,
                          pl_rows_t *out)
{
    PL_PREPARE(st, db, sql_list);
    pl_stmt_bind_text(st, 1, org_id);
    pl_stmt_bind_text(st, 2, before ? before : "");
    pl_stmt_bind_int64(st, 3, out->limit + 1);
    int rc;
    while ((rc = pl_stmt_step(st)) == 1) {
        pl_apikey_t *k = pl_rows_add(out);
        if (!k)
            break;
        read_key(a, st, k);
    }
    return pl_stmt_list_done(st, rc);
}

static const char sql_revoke[] = "UPDATE api_keys SET revoked_at = $3 WHERE org_id = $1 AND "
                                 "id = $2 AND revoked_at IS NULL";

int pl_apikeys_store_revoke(pl_db_t *db, const char *org_id, const char *id, int64_t now)
{
    PL_PREPARE(st, db, sql_revoke);
    pl_stmt_bind_text(st, 1, org_id);
    pl_stmt_bind_text(st, 2, id);
    pl_stmt_bind_int64(st, 3, now);
    return pl_stmt_exec_found(st);
}

static const char sql_revoke_created_by[] =
    "UPDATE api_keys SET revoked_at = $3 WHERE org_id = $1 AND created_by = $2 AND "
    "revoked_at IS NULL RETURNING id";

int pl_apikeys_store_revoke_created_by(pl_db_t *db, pl_arena_t *a, const char *org_id,
                                       const char *user_id, int64_t now, const char ***ids,
                                       size_t *n)
{
    PL_PREPARE(st, db, sql_revoke_created_by);
    pl_stmt_bind_text(st, 1, org_id);
    pl_stmt_bind_text(st, 2, user_id);
    pl_stmt_bind_int64(st, 3, now);
    size_t cap = 0;
    *ids = NULL;
    *n = 0;
    int rc;
    while ((rc = pl_stmt_step(st)) == 1) {
        if (*n == cap) {
            cap = cap ? 2 * cap : 8;
            const char **grown = pl_arena_alloc(a, cap * sizeof(*grown));
            if (*n)
                memcpy(grown, *ids, *n * sizeof(*grown));
            *ids = grown;
        }
        (*ids)[(*n)++] = pl_stmt_col_dup(st, a, 0);
    }
    return pl_stmt_list_done(st, rc);
}

static const char sql_touch[] =
    "UPDATE api_keys SET last_used_at = $3 WHERE org_id = $1 AND id = $2";

int pl_apikeys_store_touch(pl_db_t *db, const char *org_id, const char *id, int64_t now)
{
    PL_PREPARE(st, db, sql_touch);
    pl_stmt_bind_text(st, 1, org_id);
    pl_stmt_bind_text(st, 2, id);
    pl_stmt_bind_int64(st, 3, now);
    return done_rc(pl_stmt_exec(st));
}

static const char sql_count_live[] =
    "SELECT count(*) FROM api_keys WHERE org_id = $1 AND revoked_at IS NULL "
    "AND (expires_at IS NULL OR expires_at > $2)";

int pl_apikeys_store_count_live(pl_db_t *db, const char *org_id, int64_t now, int64_t *out)
{
    PL_PREPARE(st, db, sql_count_live);
    pl_stmt_bind_text(st, 1, org_id);
    pl_stmt_bind_int64(st, 2, now);
    int rc = pl_stmt_step(st);
    *out = rc == 1 ? pl_stmt_col_int64(st, 0) : 0;
    pl_stmt_reset(st);
    return rc < 0 ? rc : PL_OK;
}
