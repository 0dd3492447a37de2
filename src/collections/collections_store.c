/* collections_store.c - the SQL of collections. */
#include <string.h>

#include "collections/collections_store.h"

static bool pg(void)
{
    return pl_db_engine() == PL_DB_POSTGRES;
}

/* ---- definitions (an instance table) ---- */

static const char sql_def_get[] = "SELECT definition, version, created_at, updated_at "
                                  "FROM collections WHERE name = $1";

int pl_coll_store_get(pl_db_t *db, pl_arena_t *a, const char *name, const char **def,
                      int64_t *version, int64_t *created_at, int64_t *updated_at)
{
    PL_PREPARE(st, db, sql_def_get);
    pl_stmt_bind_text(st, 1, name);
    int rc = pl_stmt_step(st);
    if (rc == 1) {
        *def = pl_stmt_col_dup(st, a, 0);
        *version = pl_stmt_col_int64(st, 1);
        *created_at = pl_stmt_col_int64(st, 2);
        *updated_at = pl_stmt_col_int64(st, 3);
        rc = PL_OK;
    } else if (rc == 0) {
        rc = PL_ENOTFOUND;
    }
    pl_stmt_reset(st);
    return rc;
}

static const char sql_def_list[] = "SELECT name, definition, version, created_at, updated_at "
                                   "FROM collections ORDER BY name";

int pl_coll_store_list(pl_db_t *db,
                       void (*fn)(void *arg, const char *name, const char *def, int64_t version,
                                  int64_t created, int64_t updated),
                       void *arg)
{
    PL_PREPARE(st, db, sql_def_list);
    int rc;
    while ((rc = pl_stmt_step(st)) == 1)
        fn(arg, pl_stmt_col_text(st, 0), pl_stmt_col_text(st, 1), pl_stmt_col_int64(st, 2),
           pl_stmt_col_int64(st, 3), pl_stmt_col_int64(st, 4));
    pl_stmt_reset(st);
    return rc < 0 ? rc : PL_OK;
}

static const char sql_def_insert[] =
    "INSERT INTO collections (name, definition, version, created_at, updated_at) "
    "VALUES ($1, $2, $3, $4, $4)";
static const char sql_def_update[] =
    "UPDATE collections SET definition = $2, version = $3, updated_at = $4 WHERE name = $1";

int pl_coll_store_put(pl_db_t *db, const char *name, const char *def, int64_t version, int64_t now,
                      bool insert)
{
    PL_PREPARE(st, db, insert ? sql_def_insert : sql_def_update);
    pl_stmt_bind_text(st, 1, name);
    pl_stmt_bind_text(st, 2, def);
    pl_stmt_bind_int64(st, 3, version);
    pl_stmt_bind_int64(st, 4, now);
    int rc = pl_stmt_exec(st);
    return rc < 0 ? rc : PL_OK;
}

static const char sql_def_delete[] = "DELETE FROM collections WHERE name = $1";

int pl_coll_store_delete(pl_db_t *db, const char *name)
{
    PL_PREPARE(st, db, sql_def_delete);
    pl_stmt_bind_text(st, 1, name);
    return pl_stmt_exec_found(st);
}

static const char sql_def_count[] = "SELECT count(*) FROM collections";

int pl_coll_store_count(pl_db_t *db, int64_t *out)
{
    PL_PREPARE(st, db, sql_def_count);
    int rc = pl_stmt_step(st);
    *out = rc == 1 ? pl_stmt_col_int64(st, 0) : 0;
    pl_stmt_reset(st);
    return rc < 0 ? rc : PL_OK;
}

static const char sql_def_state[] =
    "SELECT COALESCE(SUM(version), 0), COUNT(*), COALESCE(MAX(updated_at), 0) FROM collections";

int pl_coll_store_state(pl_db_t *db, int64_t out[3])
{
    PL_PREPARE(st, db, sql_def_state);
    int rc = pl_stmt_step(st);
    for (int i = 0; i < 3; i++)
        out[i] = rc == 1 ? pl_stmt_col_int64(st, i) : 0;
    pl_stmt_reset(st);
    return rc < 0 ? rc : PL_OK;
}

static const char sql_rec_count_project[] =
    "SELECT count(*) FROM records WHERE org_id = $1 AND project_id = $2";

int pl_rec_store_count_project(pl_db_t *db, const char *org_id, const char *project_id,
                               int64_t *out)
{
    PL_PREPARE(st, db, sql_rec_count_project);
    pl_stmt_bind_text(st, 1, org_id);
    pl_stmt_bind_text(st, 2, project_id);
    int rc = pl_stmt_step(st);
    *out = rc == 1 ? pl_stmt_col_int64(st, 0) : 0;
    pl_stmt_reset(st);
    return rc < 0 ? rc : PL_OK;
}

static const char sql_orgs[] = "SELECT id FROM organizations ORDER BY id";

int pl_coll_store_orgs(pl_db_t *db, pl_arena_t *a, const char ***ids, int *n)
{
    PL_PREPARE(st, db, sql_orgs);
    int cap = 64, rc;
    const char **list = pl_arena_alloc(a, (size_t)cap * sizeof(char *));
    *n = 0;
    while ((rc = pl_stmt_step(st)) == 1) {
        if (*n == cap) {
            const char **bigger = pl_arena_alloc(a, (size_t)cap * 2 * sizeof(char *));
            memcpy(bigger, list, (size_t)cap * sizeof(char *));
            list = bigger;
            cap *= 2;
        }
        list[(*n)++] = pl_stmt_col_dup(st, a, 0);
    }
    pl_stmt_reset(st);
    *ids = list;
    return rc < 0 ? rc : PL_OK;
}

/* ---- declared indexes ---- */

const char *pl_coll_store_field_expr(pl_arena_t *a, const char *field)
{
    /* field is a validated name ([A-Za-z_][A-Za-z0-9_]*): safe inside the
     * literal; the same text serves the index and the queries, so the
     * planner matches them */
    return pg() ? pl_arena_printf(a, "(data->'%s')", field)
                : pl_arena_printf(a, "json_extract(data, '$.%s')", field);
}

int pl_coll_store_index_create(pl_db_t *db, pl_arena_t *a, const char *index_name,
                               const char *collection, const char *const *fields, int nfields)
{
    pl_buf_t b;
    pl_buf_init(&b, 4096);
    pl_buf_appendf(&b, "CREATE INDEX IF NOT EXISTS %s ON records (org_id, project_id", index_name);
    for (int i = 0; i < nfields; i++)
        pl_buf_appendf(&b, ", (%s)", pl_coll_store_field_expr(a, fields[i]));
    pl_buf_appendf(&b, ", id) WHERE collection = '%s'", collection);
    pl_buf_append(&b, "", 1);
    int rc = b.ptr ? pl_db_exec(db, b.ptr) : PL_EINTERNAL;
    pl_buf_free(&b);
    return rc;
}

int pl_coll_store_index_drop(pl_db_t *db, pl_arena_t *a, const char *index_name)
{
    return pl_db_exec(db, pl_arena_printf(a, "DROP INDEX IF EXISTS %s", index_name));
}

/* ---- records ---- */

#define REC_COLS                                                                                   \
    "id, org_id, collection, project_id, %s, search_text, version, created_by, "                   \
    "created_at, updated_at"

static const char sql_rec_insert_lite[] =
    "INSERT INTO records (id, org_id, collection, project_id, data, search_text, version, "
    "created_by, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)";
static const char sql_rec_insert_pg[] =
    "INSERT INTO records (id, org_id, collection, project_id, data, search_text, version, "
    "created_by, created_at, updated_at) VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7, $8, $9, $9)";

int pl_rec_store_insert(pl_db_t *db, const pl_record_row_t *r)
{
    PL_PREPARE(st, db, pg() ? sql_rec_insert_pg : sql_rec_insert_lite);
    pl_stmt_bind_text(st, 1, r->id);
    pl_stmt_bind_text(st, 2, r->org_id);
    pl_stmt_bind_text(st, 3, r->collection);
    pl_stmt_bind_text(st, 4, r->project_id);
    pl_stmt_bind_text(st, 5, r->data);
    pl_stmt_bind_text(st, 6, r->search_text);
    pl_stmt_bind_int64(st, 7, r->version);
    pl_stmt_bind_text(st, 8, r->created_by);
    pl_stmt_bind_int64(st, 9, r->created_at);
    int rc = pl_stmt_exec(st);
    return rc < 0 ? rc : PL_OK;
}

static void read_row(pl_stmt_t *st, pl_arena_t *a, pl_record_row_t *r)
{
    r->id = pl_stmt_col_dup(st, a, 0);
    r->org_id = pl_stmt_col_dup(st, a, 1);
    r->collection = pl_stmt_col_dup(st, a, 2);
    r->project_id = pl_stmt_col_dup(st, a, 3);
    r->data = pl_stmt_col_dup(st, a, 4);
    r->search_text = pl_stmt_col_dup(st, a, 5);
    r->version = pl_stmt_col_int64(st, 6);
    r->created_by = pl_stmt_col_dup(st, a, 7);
    r->created_at = pl_stmt_col_int64(st, 8);
    r->updated_at = pl_stmt_col_int64(st, 9);
}

static const char sql_rec_get_lite[] =
    "SELECT id, org_id, collection, project_id, data, search_text, version, created_by, "
    "created_at, updated_at FROM records WHERE id = $1 AND org_id = $2 AND collection = $3";
static const char sql_rec_get_pg[] =
    "SELECT id, org_id, collection, project_id, data::text, search_text, version, created_by, "
    "created_at, updated_at FROM records WHERE id = $1 AND org_id = $2 AND collection = $3";
static const char sql_rec_get_pg_lock[] =
    "SELECT id, org_id, collection, project_id, data::text, search_text, version, created_by, "
    "created_at, updated_at FROM records WHERE id = $1 AND org_id = $2 AND collection = $3 "
    "FOR UPDATE";

int pl_rec_store_get(pl_db_t *db, pl_arena_t *a, const char *org_id, const char *collection,
                     const char *id, bool for_update, pl_record_row_t *out)
{
    PL_PREPARE(st, db,
               pg() ? (for_update ? sql_rec_get_pg_lock : sql_rec_get_pg) : sql_rec_get_lite);
    pl_stmt_bind_text(st, 1, id);
    pl_stmt_bind_text(st, 2, org_id);
    pl_stmt_bind_text(st, 3, collection);
    int rc = pl_stmt_step(st);
    if (rc == 1) {
        read_row(st, a, out);
        rc = PL_OK;
    } else if (rc == 0) {
        rc = PL_ENOTFOUND;
    }
    pl_stmt_reset(st);
    return rc;
}

static const char sql_rec_update_lite[] =
    "UPDATE records SET data = $4, search_text = $5, version = version + 1, updated_at = $6 "
    "WHERE id = $1 AND org_id = $2 AND version = $3";
static const char sql_rec_update_pg[] =
    "UPDATE records SET data = $4::jsonb, search_text = $5, version = version + 1, "
    "updated_at = $6 WHERE id = $1 AND org_id = $2 AND version = $3";

int pl_rec_store_update(pl_db_t *db, const char *org_id, const char *id, int64_t old_version,
                        const char *data, const char *search_text, int64_t now)
{
    PL_PREPARE(st, db, pg() ? sql_rec_update_pg : sql_rec_update_lite);
    pl_stmt_bind_text(st, 1, id);
    pl_stmt_bind_text(st, 2, org_id);
    pl_stmt_bind_int64(st, 3, old_version);
    pl_stmt_bind_text(st, 4, data);
    pl_stmt_bind_text(st, 5, search_text);
    pl_stmt_bind_int64(st, 6, now);
    return pl_stmt_exec_found(st);
}

static const char sql_rec_delete[] = "DELETE FROM records WHERE id = $1 AND org_id = $2";

int pl_rec_store_delete(pl_db_t *db, const char *org_id, const char *id)
{
    PL_PREPARE(st, db, sql_rec_delete);
    pl_stmt_bind_text(st, 1, id);
    pl_stmt_bind_text(st, 2, org_id);
    return pl_stmt_exec_found(st);
}

static const char sql_rec_exists[] =
    "SELECT 1 FROM records WHERE org_id = $1 AND collection = $2 LIMIT 1";

int pl_rec_store_exists(pl_db_t *db, const char *org_id, const char *collection, bool *out)
{
    PL_PREPARE(st, db, sql_rec_exists);
    pl_stmt_bind_text(st, 1, org_id);
    pl_stmt_bind_text(st, 2, collection);
    int rc = pl_stmt_step(st);
    *out = rc == 1;
    pl_stmt_reset(st);
    return rc < 0 ? rc : PL_OK;
}

static const char sql_rec_delete_all[] =
    "DELETE FROM records WHERE org_id = $1 AND collection = $2";

int pl_rec_store_delete_all(pl_db_t *db, const char *org_id, const char *collection,
                            int64_t *deleted)
{
    PL_PREPARE(st, db, sql_rec_delete_all);
    pl_stmt_bind_text(st, 1, org_id);
    pl_stmt_bind_text(st, 2, collection);
    int rc = pl_stmt_exec(st);
    *deleted = rc > 0 ? rc : 0;
    return rc < 0 ? rc : PL_OK;
}

int pl_rec_store_referencing(pl_db_t *db, pl_arena_t *a, const char *org_id, const char *collection,
                             const char *field, const char *value, int max, const char ***ids,
                             int *n)
{
    /* field is a declared property name of a definition */
    const char *sql =
        pl_arena_printf(a,
                        pg() ? "SELECT id FROM records WHERE org_id = $1 AND collection = $2 AND "
                               "(data->>'%s') = $3 LIMIT $4"
                             : "SELECT id FROM records WHERE org_id = $1 AND collection = $2 AND "
                               "json_extract(data, '$.%s') = $3 LIMIT $4",
                        field);
    pl_stmt_t *st = pl_db_prepare_once(db, sql);
    if (!st)
        return PL_EDB;
    pl_stmt_bind_text(st, 1, org_id);
    pl_stmt_bind_text(st, 2, collection);
    pl_stmt_bind_text(st, 3, value);
    pl_stmt_bind_int64(st, 4, max);
    const char **list = pl_arena_alloc(a, (size_t)max * sizeof(char *));
    int rc;
    *n = 0;
    while ((rc = pl_stmt_step(st)) == 1 && *n < max)
        list[(*n)++] = pl_stmt_col_dup(st, a, 0);
    pl_stmt_free(st);
    *ids = list;
    return rc < 0 ? rc : PL_OK;
}

static const char sql_is_member[] = "SELECT 1 FROM memberships WHERE org_id = $1 AND user_id = $2";

int pl_rec_store_is_member(pl_db_t *db, const char *org_id, const char *user_id, bool *out)
{
    PL_PREPARE(st, db, sql_is_member);
    pl_stmt_bind_text(st, 1, org_id);
    pl_stmt_bind_text(st, 2, user_id);
    int rc = pl_stmt_step(st);
    *out = rc == 1;
    pl_stmt_reset(st);
    return rc < 0 ? rc : PL_OK;
}

/* ---- queries built at run time ---- */

int pl_rec_store_run(pl_db_t *db, pl_arena_t *a, const pl_rec_query_t *q,
                     void (*fn)(void *arg, const pl_record_row_t *r), void *arg)
{
    pl_stmt_t *st = pl_db_prepare_once(db, q->sql);
    if (!st)
        return PL_EDB;
    for (int i = 0; i < q->nparams; i++)
        if (q->is_int[i])
            pl_stmt_bind_int64(st, i + 1, q->ival[i]);
        else
            pl_stmt_bind_text(st, i + 1, q->text[i]);
    int rc;
    while ((rc = pl_stmt_step(st)) == 1) {
        pl_record_row_t r;
        read_row(st, a, &r);
        fn(arg, &r);
    }
    pl_stmt_free(st);
    return rc < 0 ? rc : PL_OK;
}

/* ---- grants ---- */

static const char sql_grant_get[] =
    "SELECT access FROM record_grants WHERE org_id = $1 AND record_id = $2 AND user_id = $3";

int pl_grant_store_get(pl_db_t *db, const char *org_id, const char *record_id, const char *user_id,
                       pl_arena_t *a, const char **access)
{
    PL_PREPARE(st, db, sql_grant_get);
    pl_stmt_bind_text(st, 1, org_id);
    pl_stmt_bind_text(st, 2, record_id);
    pl_stmt_bind_text(st, 3, user_id);
    int rc = pl_stmt_step(st);
    *access = rc == 1 ? pl_stmt_col_dup(st, a, 0) : NULL;
    pl_stmt_reset(st);
    return rc < 0 ? rc : PL_OK;
}

static const char sql_grant_put[] =
    "INSERT INTO record_grants (record_id, org_id, user_id, access, granted_by, created_at) "
    "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (record_id, user_id) DO UPDATE SET "
    "access = excluded.access, granted_by = excluded.granted_by";

int pl_grant_store_put(pl_db_t *db, const char *org_id, const char *record_id, const char *user_id,
                       const char *access, const char *by, int64_t now)
{
    PL_PREPARE(st, db, sql_grant_put);
    pl_stmt_bind_text(st, 1, record_id);
    pl_stmt_bind_text(st, 2, org_id);
    pl_stmt_bind_text(st, 3, user_id);
    pl_stmt_bind_text(st, 4, access);
    pl_stmt_bind_text(st, 5, by);
    pl_stmt_bind_int64(st, 6, now);
    int rc = pl_stmt_exec(st);
    return rc < 0 ? rc : PL_OK;
}

static const char sql_grant_delete[] =
    "DELETE FROM record_grants WHERE org_id = $1 AND record_id = $2 AND user_id = $3";

int pl_grant_store_delete(pl_db_t *db, const char *org_id, const char *record_id,
                          const char *user_id)
{
    PL_PREPARE(st, db, sql_grant_delete);
    pl_stmt_bind_text(st, 1, org_id);
    pl_stmt_bind_text(st, 2, record_id);
    pl_stmt_bind_text(st, 3, user_id);
    return pl_stmt_exec_found(st);
}

static const char sql_grant_list[] =
    "SELECT user_id, access, granted_by, created_at FROM record_grants "
    "WHERE org_id = $1 AND record_id = $2 ORDER BY user_id";

int pl_grant_store_list(pl_db_t *db, pl_arena_t *a, const char *org_id, const char *record_id,
                        void (*fn)(void *arg, const pl_record_grant_t *g), void *arg)
{
    PL_PREPARE(st, db, sql_grant_list);
    pl_stmt_bind_text(st, 1, org_id);
    pl_stmt_bind_text(st, 2, record_id);
    int rc;
    while ((rc = pl_stmt_step(st)) == 1) {
        pl_record_grant_t g = {pl_stmt_col_dup(st, a, 0), pl_stmt_col_dup(st, a, 1),
                               pl_stmt_col_dup(st, a, 2), pl_stmt_col_int64(st, 3)};
        fn(arg, &g);
    }
    pl_stmt_reset(st);
    return rc < 0 ? rc : PL_OK;
}
