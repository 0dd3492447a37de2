/* keys_store.c - SQL for data keys. */
#include <string.h>

#include "platform/keys/keys_store.h"

static const char sql_get[] = "SELECT key_sealed FROM data_keys WHERE scope = $1";
static const char sql_insert[] =
    "INSERT INTO data_keys (scope, org_id, key_sealed, master_id, created_at, updated_at) "
    "VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT (scope) DO NOTHING";
static const char sql_update[] =
    "UPDATE data_keys SET key_sealed = $2, master_id = $3, updated_at = $4 WHERE scope = $1";
static const char sql_orgs[] = "SELECT id FROM organizations ORDER BY id";

int pl_keys_store_get(pl_db_t *db, const char *scope, char *out, size_t size)
{
    PL_PREPARE(st, db, sql_get);
    pl_stmt_bind_text(st, 1, scope);
    int rc = pl_stmt_step(st);
    if (rc == 1) {
        const char *v = pl_stmt_col_text(st, 0);
        size_t n = v ? strlen(v) : 0;
        if (n < size)
            memcpy(out, v ? v : "", n + 1);
        else
            rc = PL_EINTERNAL;
    }
    return pl_stmt_one_done(st, rc);
}

int pl_keys_store_insert(pl_db_t *db, const char *scope, const char *org_id, const char *sealed,
                         const char *master_id, int64_t now)
{
    PL_PREPARE(st, db, sql_insert);
    pl_stmt_bind_text(st, 1, scope);
    pl_stmt_bind_text(st, 2, org_id);
    pl_stmt_bind_text(st, 3, sealed);
    pl_stmt_bind_text(st, 4, master_id);
    pl_stmt_bind_int64(st, 5, now);
    int rc = pl_stmt_exec(st);
    return rc < 0 ? rc : PL_OK;
}

int pl_keys_store_update(pl_db_t *db, const char *scope, const char *sealed, const char *master_id,
                         int64_t now)
{
    PL_PREPARE(st, db, sql_update);
    pl_stmt_bind_text(st, 1, scope);
    pl_stmt_bind_text(st, 2, sealed);
    pl_stmt_bind_text(st, 3, master_id);
    pl_stmt_bind_int64(st, 4, now);
    return pl_stmt_exec_found(st);
}

int pl_keys_store_orgs(pl_db_t *db, pl_arena_t *a, pl_rows_t *out)
{
    PL_PREPARE(st, db, sql_orgs);
    int rc;
    while ((rc = pl_stmt_step(st)) == 1) {
        const char **id = pl_rows_add(out);
        if (!id)
            break;
        *id = pl_stmt_col_dup(st, a, 0);
    }
    pl_stmt_reset(st);
    return rc < 0 ? rc : PL_OK;
}
