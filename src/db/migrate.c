/* migrate.c - applies the migrations embedded in the binary, each in its own
 * transaction, recording them in schema_migrations. Concurrent migrators (two
 * instances starting at once) are serialised by the write lock: BEGIN
 * IMMEDIATE on SQLite, a transaction-scoped advisory lock on PostgreSQL; each
 * re-reads the version once it holds the lock. */
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
static const char *sql_record = "INSERT INTO schema_migrations (version, name, applied_at) "
                                "VALUES ($1, $2, $3)";

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
        return PL_EINVAL;
    }
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
