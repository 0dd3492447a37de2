/* migrate.c - applies the migrations embedded in the binary, each in its own
 * transaction, recording them in schema_migrations. Concurrent migrators (two
 * instances starting at once) are serialised by the write lock: BEGIN
 * IMMEDIATE on SQLite, a transaction-scoped advisory lock on PostgreSQL; each
 * re-reads the version once it holds the lock. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/db.h"
#include "db/embedded.h"

/* 'plinth' in ASCII: the advisory lock key, shared by every instance. */
static const char *sql_lock = "SELECT pg_advisory_xact_lock(123610927625320)";
static const char *sql_create = "CREATE TABLE IF NOT EXISTS schema_migrations ("
                                "version INTEGER PRIMARY KEY, name TEXT NOT NULL, "
                                "applied_at BIGINT NOT NULL)";
static const char *sql_exists_sqlite = "SELECT count(*) FROM sqlite_master "
                                       "WHERE type = 'table' AND name = 'schema_migrations'";
static const char *sql_exists_pg =
    "SELECT CASE WHEN to_regclass('schema_migrations') IS NULL THEN 0 ELSE 1 END";
static const char *sql_version = "SELECT COALESCE(MAX(version), 0) FROM schema_migrations";
static const char *sql_record = "INSERT INTO schema_migrations (version, name, applied_at, "
                                "checksum) VALUES ($1, $2, $3, $4)";
/* the checksum column came after the first release: added on upgrade */
static const char *sql_has_checksum_sqlite =
    "SELECT count(*) FROM pragma_table_info('schema_migrations') WHERE name = 'checksum'";
static const char *sql_has_checksum_pg =
    "SELECT count(*) FROM information_schema.columns WHERE table_name = 'schema_migrations' "
    "AND column_name = 'checksum' AND table_schema = current_schema()";
static const char *sql_add_checksum = "ALTER TABLE schema_migrations ADD COLUMN checksum TEXT";
static const char *sql_applied =
    "SELECT version, name, checksum FROM schema_migrations ORDER BY version";
static const char *sql_set_checksum =
    "UPDATE schema_migrations SET checksum = $2 WHERE version = $1 AND checksum IS NULL";

static const pl_migration_t *engine_migrations(void)
{
    return pl_db_engine() == PL_DB_POSTGRES ? pl_migrations_postgres : pl_migrations_sqlite;
}

static int migration_count(const pl_migration_t *list)
{
    int n = 0;
    while (list[n].version)
        n++;
    return n;
}

int pl_db_schema_version(void)
{
    return migration_count(engine_migrations());
}

static int take_lock(pl_db_t *db)
{
    return pl_db_engine() == PL_DB_POSTGRES ? pl_db_exec(db, sql_lock) : PL_OK;
}

/* One-row, one-column integer query. */
static int query_int(pl_db_t *db, const char *sql, int64_t *out)
{
    pl_stmt_t *st = pl_db_prepare(db, sql);
    if (!st)
        return PL_EDB;
    int rc = pl_stmt_step(st);
    if (rc == 1) {
        *out = pl_stmt_col_int64(st, 0);
        rc = PL_OK;
    } else if (rc == 0) {
        rc = PL_EDB;
    }
    pl_stmt_reset(st);
    return rc;
}

static int ensure_table(pl_db_t *db)
{
    /* Under the lock: concurrent CREATE TABLE IF NOT EXISTS can still fail on
     * PostgreSQL with a duplicate catalog entry. */
    int rc = pl_db_begin(db);
    if (rc)
        return rc;
    rc = take_lock(db);
    if (!rc)
        rc = pl_db_exec(db, sql_create);
    int64_t has = 0;
    if (!rc)
        rc = query_int(
            db, pl_db_engine() == PL_DB_POSTGRES ? sql_has_checksum_pg : sql_has_checksum_sqlite,
            &has);
    if (!rc && !has)
        rc = pl_db_exec(db, sql_add_checksum);
    if (!rc)
        rc = pl_db_commit(db);
    if (rc)
        pl_db_rollback(db);
    return rc;
}

static int record(pl_db_t *db, const pl_migration_t *m)
{
    pl_stmt_t *st = pl_db_prepare(db, sql_record);
    if (!st)
        return PL_EDB;
    int rc = pl_stmt_bind_int64(st, 1, m->version);
    if (!rc)
        rc = pl_stmt_bind_text(st, 2, m->name);
    if (!rc)
        rc = pl_stmt_bind_int64(st, 3, pl_now_ms());
    if (!rc)
        rc = pl_stmt_bind_text(st, 4, m->checksum);
    if (!rc)
        rc = pl_stmt_exec(st);
    pl_stmt_reset(st);
    return rc < 0 ? rc : PL_OK;
}

static int apply(pl_db_t *db, const pl_migration_t *m)
{
    int64_t current = 0;
    int rc = pl_db_begin(db);
    if (rc)
        goto out;
    rc = take_lock(db);
    if (rc)
        goto out;
    rc = query_int(db, sql_version, &current);
    if (rc)
        goto out;
    if (current >= m->version) /* another instance got there first */
        goto out;
    rc = pl_db_exec(db, m->sql);
    if (rc) {
        pl_log("error", "migration %04d_%s failed: %s", m->version, m->name, pl_db_errmsg(db));
        goto out;
    }
    rc = record(db, m);
    if (!rc)
        rc = pl_db_commit(db);
    if (!rc)
        pl_log("info", "applied migration %04d_%s", m->version, m->name);
    else
        pl_log("error", "migration %04d_%s could not be recorded: %s", m->version, m->name,
               pl_db_errmsg(db));
out:
    if (rc)
        pl_db_rollback(db);
    else if (pl_db_in_tx(db))
        rc = pl_db_rollback(db);
    return rc;
}

/* Compares every applied migration with the one embedded under its number:
 * a file changed after it was applied means the database and the binary
 * disagree on the schema, so the process must not start. Rows applied
 * before checksums were recorded take the embedded checksum (first use). */
static int verify_applied(pl_db_t *db, const pl_migration_t *list, int known)
{
    typedef struct {
        int64_t version;
        char name[128];
        char checksum[65];
    } applied_t;
    applied_t *rows = NULL;
    size_t n = 0;
    pl_stmt_t *st = pl_db_prepare(db, sql_applied);
    if (!st)
        return PL_EDB;
    int rc;
    while ((rc = pl_stmt_step(st)) == 1) {
        rows = pl_xrealloc(rows, (n + 1) * sizeof(*rows));
        rows[n].version = pl_stmt_col_int64(st, 0);
        snprintf(rows[n].name, sizeof(rows[n].name), "%s", pl_stmt_col_text(st, 1));
        const char *c = pl_stmt_col_text(st, 2);
        snprintf(rows[n].checksum, sizeof(rows[n].checksum), "%s", c ? c : "");
        n++;
    }
    pl_stmt_reset(st);
    rc = rc < 0 ? rc : PL_OK;
    for (size_t i = 0; !rc && i < n; i++) {
        const applied_t *r = &rows[i];
        if (r->version < 1 || r->version > known)
            continue; /* newer than the binary: reported by the caller */
        const pl_migration_t *m = &list[r->version - 1];
        if (!m->checksum)
            continue;
        if (!r->checksum[0]) {
            if (!(st = pl_db_prepare(db, sql_set_checksum))) {
                rc = PL_EDB;
                break;
            }
            pl_stmt_bind_int64(st, 1, r->version);
            pl_stmt_bind_text(st, 2, m->checksum);
            rc = pl_stmt_exec(st) < 0 ? PL_EDB : PL_OK;
            continue;
        }
        if (strcmp(r->checksum, m->checksum) || strcmp(r->name, m->name)) {
            fprintf(stderr,
                    "plinth: migration %04d_%s differs from the one applied to this database as "
                    "%04lld_%s (checksum %.12s..., embedded %.12s...): the schema may not be what "
                    "this binary expects; refusing to start. Run the binary that applied it, or "
                    "restore the original migration file.\n",
                    m->version, m->name, (long long)r->version, r->name, r->checksum, m->checksum);
            pl_log("error", "migration %04d_%s: checksum mismatch", m->version, m->name);
            rc = PL_EINVAL;
        }
    }
    free(rows);
    return rc;
}

/* Applies list (terminated by version 0) to db. Static so the unit test can
 * feed it a list of its own. */
static int migrate_list(pl_db_t *db, const pl_migration_t *list)
{
    int known = migration_count(list);
    int64_t current = 0;

    int rc = ensure_table(db);
    if (!rc)
        rc = query_int(db, sql_version, &current);
    if (rc)
        return rc;
    if (current > known) {
        pl_log("error", "database schema version %lld is newer than this binary (%d)",
               (long long)current, known);
        fprintf(stderr,
                "plinth: the database schema (version %lld) is newer than this binary "
                "(%d): run a newer plinth\n",
                (long long)current, known);
        return PL_EINVAL;
    }
    if ((rc = pl_db_begin(db)) == PL_OK) {
        rc = take_lock(db);
        if (!rc)
            rc = verify_applied(db, list, known);
        rc = pl_db_finish(db, rc);
    }
    if (rc)
        return rc;
    for (int i = 0; i < known; i++) {
        if (list[i].version <= current)
            continue;
        rc = apply(db, &list[i]);
        if (rc)
            return rc;
    }
    return PL_OK;
}

int pl_db_migrate(pl_db_t *db)
{
    return migrate_list(db, engine_migrations());
}

int pl_db_migrations_current(pl_db_t *db)
{
    const char *exists = pl_db_engine() == PL_DB_POSTGRES ? sql_exists_pg : sql_exists_sqlite;
    int64_t n = 0, current = 0;

    int rc = query_int(db, exists, &n);
    if (rc)
        return rc;
    if (n == 0)
        return PL_EDB;
    rc = query_int(db, sql_version, &current);
    if (rc)
        return rc;
    if (current > pl_db_schema_version())
        return PL_EINVAL;
    return current == pl_db_schema_version() ? PL_OK : PL_EDB;
}
