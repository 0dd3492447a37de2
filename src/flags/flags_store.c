/* flags_store.c - SQL for feature flags, their org overrides and the
 * flags_version counter. Flags are instance-level data (no org_id); overrides
 * are read for every org at once (see 0007_flags.sql). */
#define PL_FLAGS_INTERNAL
#include "flags/flags.h"

/* ---- the version counter ---- */

static const char sql_version[] = "SELECT value FROM kv WHERE key = 'flags_version'";

int pl_flags_store_version(pl_db_t *db, int64_t *out)
{
    PL_PREPARE(st, db, sql_version);
    int rc = pl_stmt_step(st);
    *out = 0;
    if (rc == 1) {
        const char *v = pl_stmt_col_text(st, 0);
        if (!v || pl_parse_int64(v, 0, INT64_MAX, out))
            rc = PL_EDB; /* only this file writes the row */
    }
    return pl_stmt_list_done(st, rc);
}

/* The row lock this takes (PostgreSQL) also serialises flag writers, so
 * versions are committed in order. */
static const char sql_bump[] =
    "INSERT INTO kv (key, value, updated_at) VALUES ('flags_version', '1', $1) "
    "ON CONFLICT (key) DO UPDATE SET value = CAST(CAST(kv.value AS BIGINT) + 1 AS TEXT), "
    "updated_at = excluded.updated_at";

int pl_flags_store_bump(pl_db_t *db, int64_t now)
{
    PL_PREPARE(st, db, sql_bump);
    pl_stmt_bind_int64(st, 1, now);
    int rc = pl_stmt_exec(st);
    return rc < 0 ? rc : PL_OK;
}

/* ---- flags ---- */

#define FLAG_COLS "f.key, f.description, f.enabled, f.rollout_percent, f.created_at, f.updated_at"

static void read_flag(pl_stmt_t *st, pl_flag_row_t *f)
{
    f->key = pl_stmt_col_text(st, 0);
    f->description = pl_stmt_col_text(st, 1);
    f->enabled = pl_stmt_col_bool(st, 2);
    f->rollout_percent = (int)pl_stmt_col_int64(st, 3);
    f->created_at = pl_stmt_col_int64(st, 4);
    f->updated_at = pl_stmt_col_int64(st, 5);
}

static const char sql_flag_upsert[] =
    "INSERT INTO flags (key, description, enabled, rollout_percent, created_at, updated_at) "
    "VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT (key) DO UPDATE SET "
    "description = excluded.description, enabled = excluded.enabled, "
    "rollout_percent = excluded.rollout_percent, updated_at = excluded.updated_at";

int pl_flags_store_upsert(pl_db_t *db, const char *key, const char *description, bool enabled,
                          int rollout_percent, int64_t now)
{
    PL_PREPARE(st, db, sql_flag_upsert);
    pl_stmt_bind_text(st, 1, key);
    pl_stmt_bind_text(st, 2, description);
    pl_stmt_bind_bool(st, 3, enabled);
    pl_stmt_bind_int64(st, 4, rollout_percent);
    pl_stmt_bind_int64(st, 5, now);
    int rc = pl_stmt_exec(st);
    return rc < 0 ? rc : PL_OK;
}

static const char sql_flag_delete[] = "DELETE FROM flags WHERE key = $1";

int pl_flags_store_delete(pl_db_t *db, const char *key)
{
    PL_PREPARE(st, db, sql_flag_delete);
    pl_stmt_bind_text(st, 1, key);
    return pl_stmt_exec_found(st);
}

static const char sql_flag_get[] = "SELECT " FLAG_COLS " FROM flags f WHERE f.key = $1";

int pl_flags_store_get(pl_db_t *db, pl_arena_t *a, const char *key, pl_flag_row_t *out)
{
    PL_PREPARE(st, db, sql_flag_get);
    pl_stmt_bind_text(st, 1, key);
    int rc = pl_stmt_step(st);
    if (rc == 1) {
        read_flag(st, out);
        out->key = pl_arena_strdup(a, out->key);
        out->description = pl_arena_strdup(a, out->description);
    }
    return pl_stmt_one_done(st, rc);
}

static const char sql_flags_list[] = "SELECT " FLAG_COLS " FROM flags f "
                                     "WHERE ($1 = '' OR f.key > $1) ORDER BY f.key LIMIT $2";

int pl_flags_store_list(pl_db_t *db, const char *after, int limit,
                        void (*fn)(void *ctx, const pl_flag_row_t *f), void *ctx)
{
    PL_PREPARE(st, db, sql_flags_list);
    pl_stmt_bind_text(st, 1, after ? after : "");
    pl_stmt_bind_int64(st, 2, limit);
    int rc;
    while ((rc = pl_stmt_step(st)) == 1) {
        pl_flag_row_t f;
        read_flag(st, &f);
        fn(ctx, &f);
    }
    return pl_stmt_list_done(st, rc);
}

static const char sql_overrides_range[] =
    "SELECT flag_key, org_id, enabled FROM flag_overrides "
    "WHERE flag_key >= $1 AND flag_key <= $2 ORDER BY flag_key, org_id";

int pl_flags_store_overrides(pl_db_t *db, const char *first, const char *last,
                             void (*fn)(void *ctx, const pl_flag_override_row_t *o), void *ctx)
{
    PL_PREPARE(st, db, sql_overrides_range);
    pl_stmt_bind_text(st, 1, first);
    pl_stmt_bind_text(st, 2, last);
    int rc;
    while ((rc = pl_stmt_step(st)) == 1) {
        pl_flag_override_row_t o = {pl_stmt_col_text(st, 0), pl_stmt_col_text(st, 1),
                                    pl_stmt_col_bool(st, 2)};
        fn(ctx, &o);
    }
    return pl_stmt_list_done(st, rc);
}

/* One statement, so PostgreSQL's READ COMMITTED still gives one view of
 * flags and overrides together. */
static const char sql_flags_all[] =
    "SELECT " FLAG_COLS ", o.org_id, o.enabled FROM flags f "
    "LEFT JOIN flag_overrides o ON o.flag_key = f.key ORDER BY f.key";

int pl_flags_store_all(pl_db_t *db,
                       void (*fn)(void *ctx, const pl_flag_row_t *f,
                                  const pl_flag_override_row_t *o),
                       void *ctx)
{
    PL_PREPARE(st, db, sql_flags_all);
    int rc;
    while ((rc = pl_stmt_step(st)) == 1) {
        pl_flag_row_t f;
        read_flag(st, &f);
        if (pl_stmt_col_is_null(st, 6)) {
            fn(ctx, &f, NULL);
        } else {
            pl_flag_override_row_t o = {f.key, pl_stmt_col_text(st, 6), pl_stmt_col_bool(st, 7)};
            fn(ctx, &f, &o);
        }
    }
    return pl_stmt_list_done(st, rc);
}

/* ---- overrides ---- */

static const char sql_override_upsert[] =
    "INSERT INTO flag_overrides (flag_key, org_id, enabled, created_at, updated_at) "
    "VALUES ($1, $2, $3, $4, $4) ON CONFLICT (flag_key, org_id) DO UPDATE SET "
    "enabled = excluded.enabled, updated_at = excluded.updated_at";

int pl_flags_store_override_upsert(pl_db_t *db, const char *key, const char *org_id, bool enabled,
                                   int64_t now)
{
    PL_PREPARE(st, db, sql_override_upsert);
    pl_stmt_bind_text(st, 1, key);
    pl_stmt_bind_text(st, 2, org_id);
    pl_stmt_bind_bool(st, 3, enabled);
    pl_stmt_bind_int64(st, 4, now);
    int rc = pl_stmt_exec(st);
    return rc < 0 ? rc : PL_OK;
}

static const char sql_override_delete[] =
    "DELETE FROM flag_overrides WHERE flag_key = $1 AND org_id = $2";

int pl_flags_store_override_delete(pl_db_t *db, const char *key, const char *org_id)
{
    PL_PREPARE(st, db, sql_override_delete);
    pl_stmt_bind_text(st, 1, key);
    pl_stmt_bind_text(st, 2, org_id);
    return pl_stmt_exec_found(st);
}
