/* files_store.c - the SQL of files. Every query binds the organization,
 * except the lookup of a signed URL, whose signature names the file. */
#include <string.h>

#include "files/files.h"

static int done_rc(int rc)
{
    return rc < 0 ? rc : PL_OK;
}

#define FILE_COLS "id, org_id, name, content_type, size, sha256, created_by, created_at"

static void read_file(pl_stmt_t *st, pl_arena_t *a, pl_file_t *f)
{
    f->id = pl_stmt_col_dup(st, a, 0);
    f->org_id = pl_stmt_col_dup(st, a, 1);
    f->name = pl_stmt_col_dup(st, a, 2);
    f->content_type = pl_stmt_col_dup(st, a, 3);
    f->size = pl_stmt_col_int64(st, 4);
    f->sha256 = pl_stmt_col_dup(st, a, 5);
    f->created_by = pl_stmt_col_dup(st, a, 6);
    f->created_at = pl_stmt_col_int64(st, 7);
}

static const char sql_insert[] =
    "INSERT INTO files (" FILE_COLS ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";

int pl_files_store_insert(pl_db_t *db, const pl_file_t *f)
{
    PL_PREPARE(st, db, sql_insert);
    pl_stmt_bind_text(st, 1, f->id);
    pl_stmt_bind_text(st, 2, f->org_id);
    pl_stmt_bind_text(st, 3, f->name);
    pl_stmt_bind_text(st, 4, f->content_type);
    pl_stmt_bind_int64(st, 5, f->size);
    pl_stmt_bind_text(st, 6, f->sha256);
    pl_stmt_bind_text(st, 7, f->created_by);
    pl_stmt_bind_int64(st, 8, f->created_at);
    return done_rc(pl_stmt_exec(st));
}

static int get_one(pl_stmt_t *st, pl_arena_t *a, pl_file_t *out)
{
    int rc = pl_stmt_step(st);
    if (rc == 1)
        read_file(st, a, out);
    return pl_stmt_one_done(st, rc);
}

static const char sql_get[] = "SELECT " FILE_COLS " FROM files WHERE org_id = $1 AND id = $2";

int pl_files_store_get(pl_db_t *db, pl_arena_t *a, const char *org_id, const char *id,
                       pl_file_t *out)
{
    PL_PREPARE(st, db, sql_get);
    pl_stmt_bind_text(st, 1, org_id);
    pl_stmt_bind_text(st, 2, id);
    return get_one(st, a, out);
}

static const char sql_get_any[] = "SELECT " FILE_COLS " FROM files WHERE id = $1";

int pl_files_store_get_any(pl_db_t *db, pl_arena_t *a, const char *id, pl_file_t *out)
{
    PL_PREPARE(st, db, sql_get_any);
    pl_stmt_bind_text(st, 1, id);
    return get_one(st, a, out);
}

static const char sql_list[] = "SELECT " FILE_COLS " FROM files WHERE org_id = $1 "
                               "AND ($2 = '' OR id < $2) ORDER BY id DESC LIMIT $3";

int pl_files_store_list(pl_db_t *db, pl_arena_t *a, const char *org_id, const char *cursor,
                        int limit, pl_file_t *items, int *n)
{
    PL_PREPARE(st, db, sql_list);
    pl_stmt_bind_text(st, 1, org_id);
    pl_stmt_bind_text(st, 2, cursor ? cursor : "");
    pl_stmt_bind_int64(st, 3, limit);
    int rc;
    *n = 0;
    while ((rc = pl_stmt_step(st)) == 1 && *n < limit)
        read_file(st, a, &items[(*n)++]);
    return pl_stmt_list_done(st, rc);
}

static const char sql_delete[] = "DELETE FROM files WHERE org_id = $1 AND id = $2";

int pl_files_store_delete(pl_db_t *db, const char *org_id, const char *id)
{
    PL_PREPARE(st, db, sql_delete);
    pl_stmt_bind_text(st, 1, org_id);
    pl_stmt_bind_text(st, 2, id);
    return done_rc(pl_stmt_exec(st));
}
