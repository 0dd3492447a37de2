/* test_db.c - the database layer end to end: SQLite on a temporary file, and
 * PostgreSQL when PLINTH_TEST_PG_URL is set (each test in a fresh schema). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#define PL_DB_ENGINE
#include "db/migrate.c" /* reaches migrate_list */

#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TEST_SCHEMA "plinth_test"

static char sqlite_dir[64];
static char sqlite_path[128];
static char pg_url[1024];

static const char *sql_items = "CREATE TABLE t_items (id BIGINT PRIMARY KEY, "
                               "name TEXT NOT NULL UNIQUE, n BIGINT, flag BOOLEAN)";
static const char *sql_children = "CREATE TABLE t_children (id BIGINT PRIMARY KEY, "
                                  "item_id BIGINT NOT NULL REFERENCES t_items (id))";
static const char *sql_insert = "INSERT INTO t_items (id, name, n, flag) VALUES ($1, $2, $3, $4)";
static const char *sql_count = "SELECT count(*) FROM t_items";

static void configure(pl_db_engine_t engine, const char *url)
{
    pl_db_config_t cfg = {.engine = engine,
                          .sqlite_path = sqlite_path,
                          .pg_url = url,
                          .sqlite_sync_full = true,
                          .busy_timeout_ms = 2000};
    pl_db_configure(&cfg);
}

/* Runs sql on a connection outside the test schema. */
static void pg_admin(const char *sql)
{
    pl_db_t *db;
    configure(PL_DB_POSTGRES, getenv("PLINTH_TEST_PG_URL"));
    assert_int_equal(pl_db_open(&db), PL_OK);
    assert_int_equal(pl_db_exec(db, sql), PL_OK);
    pl_db_close(db);
}

static int setup_sqlite(void **state)
{
    snprintf(sqlite_dir, sizeof(sqlite_dir), "/tmp/plinth_test_db_XXXXXX");
    if (!mkdtemp(sqlite_dir))
        return -1;
    snprintf(sqlite_path, sizeof(sqlite_path), "%s/plinth.db", sqlite_dir);
    configure(PL_DB_SQLITE, NULL);
    pl_db_t *db;
    if (pl_db_open(&db))
        return -1;
    *state = db;
    return 0;
}

static int teardown_sqlite(void **state)
{
    char path[160];
    pl_db_close(*state);
    pl_db_thread_close();
    unlink(sqlite_path);
    snprintf(path, sizeof(path), "%s-wal", sqlite_path);
    unlink(path);
    snprintf(path, sizeof(path), "%s-shm", sqlite_path);
    unlink(path);
    rmdir(sqlite_dir);
    return 0;
}

static int setup_pg(void **state)
{
    const char *base = getenv("PLINTH_TEST_PG_URL");
    *state = NULL;
    if (!base || !*base)
        return 0; /* the test skips itself */
    pg_admin("DROP SCHEMA IF EXISTS " TEST_SCHEMA " CASCADE; CREATE SCHEMA " TEST_SCHEMA);
    /* Every connection the test opens (pl_db_thread too) lands in the schema. */
    if (strstr(base, "://"))
        snprintf(pg_url, sizeof(pg_url), "%s%soptions=-csearch_path%%3D" TEST_SCHEMA, base,
                 strchr(base, '?') ? "&" : "?");
    else
        snprintf(pg_url, sizeof(pg_url), "%s options='-csearch_path=" TEST_SCHEMA "'", base);
    configure(PL_DB_POSTGRES, pg_url);
    pl_db_t *db;
    if (pl_db_open(&db))
        return -1;
    *state = db;
    return 0;
}

static int teardown_pg(void **state)
{
    if (!*state)
        return 0;
    pl_db_close(*state);
    pl_db_thread_close();
    pg_admin("DROP SCHEMA IF EXISTS " TEST_SCHEMA " CASCADE");
    return 0;
}

static pl_db_t *test_db(void **state)
{
    if (!*state)
        skip();
    return *state;
}

static int64_t count_rows(pl_db_t *db, const char *sql)
{
    int64_t n = -1;
    assert_int_equal(query_int(db, sql, &n), PL_OK);
    return n;
}

static void make_tables(pl_db_t *db)
{
    assert_int_equal(pl_db_exec(db, sql_items), PL_OK);
    assert_int_equal(pl_db_exec(db, sql_children), PL_OK);
}

static int insert_item(pl_db_t *db, int64_t id, const char *name, int64_t n, bool flag)
{
    pl_stmt_t *st = pl_db_prepare(db, sql_insert);
    assert_non_null(st);
    assert_int_equal(pl_stmt_bind_int64(st, 1, id), PL_OK);
    assert_int_equal(pl_stmt_bind_text(st, 2, name), PL_OK);
    assert_int_equal(pl_stmt_bind_int64(st, 3, n), PL_OK);
    assert_int_equal(pl_stmt_bind_bool(st, 4, flag), PL_OK);
    return pl_stmt_exec(st);
}

static void test_migrate(void **state)
{
    pl_db_t *db = test_db(state);
    int latest = pl_db_schema_version();

    assert_true(latest >= 1);
    assert_int_not_equal(pl_db_migrations_current(db), PL_OK);
    assert_int_equal(pl_db_migrate(db), PL_OK);
    assert_int_equal(pl_db_migrations_current(db), PL_OK);
    assert_int_equal(pl_db_migrate(db), PL_OK); /* idempotent */
    assert_int_equal(count_rows(db, "SELECT count(*) FROM schema_migrations"), latest);
    assert_false(pl_db_in_tx(db));

    /* 0001 made the kv table. */
    pl_stmt_t *st =
        pl_db_prepare(db, "INSERT INTO kv (key, value, updated_at) VALUES ($1, $2, $3)");
    assert_non_null(st);
    pl_stmt_bind_text(st, 1, "instance.name");
    pl_stmt_bind_text(st, 2, "test");
    pl_stmt_bind_int64(st, 3, pl_now_ms());
    assert_int_equal(pl_stmt_exec(st), 1);

    /* A database from a newer binary is refused. */
    st = pl_db_prepare(db, sql_record);
    pl_stmt_bind_int64(st, 1, latest + 1);
    pl_stmt_bind_text(st, 2, "future");
    pl_stmt_bind_int64(st, 3, 0);
    assert_int_equal(pl_stmt_exec(st), 1);
    assert_int_equal(pl_db_migrate(db), PL_EINVAL);
    assert_int_equal(pl_db_migrations_current(db), PL_EINVAL);
}

static void test_migration_failure(void **state)
{
    pl_db_t *db = test_db(state);
    const pl_migration_t bad[] = {
        {1, "one", NULL, "CREATE TABLE m_one (x BIGINT);\nINSERT INTO m_one VALUES (1);"},
        {2, "two", NULL, "CREATE TABLE m_two (x BIGINT);\nINSERT INTO m_missing VALUES (1);"},
        {3, "three", NULL, "CREATE TABLE m_three (x BIGINT);"},
        {0, NULL, NULL, NULL},
    };
    const pl_migration_t good[] = {
        bad[0],
        {2, "two", NULL, "CREATE TABLE m_two (x BIGINT);"},
        bad[2],
        {0, NULL, NULL, NULL},
    };

    assert_int_not_equal(migrate_list(db, bad), PL_OK);
    assert_false(pl_db_in_tx(db));
    assert_int_equal(count_rows(db, "SELECT MAX(version) FROM schema_migrations"), 1);
    assert_int_equal(count_rows(db, "SELECT count(*) FROM m_one"), 1);
    assert_null(pl_db_prepare(db, "SELECT count(*) FROM m_two")); /* rolled back */

    assert_int_equal(migrate_list(db, good), PL_OK);
    assert_int_equal(count_rows(db, "SELECT MAX(version) FROM schema_migrations"), 3);
    assert_int_equal(count_rows(db, "SELECT count(*) FROM m_two"), 0);
    assert_int_equal(count_rows(db, "SELECT count(*) FROM m_one"), 1);
}

/* A migration whose file changed after it was applied stops the process,
 * naming it; one applied before checksums were kept takes the embedded one. */
static void test_migration_checksum(void **state)
{
    pl_db_t *db = test_db(state);
    const pl_migration_t v1[] = {
        {1, "one", "aaaa", "CREATE TABLE c_one (x BIGINT);"},
        {2, "two", NULL, "CREATE TABLE c_two (x BIGINT);"},
        {0, NULL, NULL, NULL},
    };
    assert_int_equal(migrate_list(db, v1), PL_OK);
    assert_int_equal(migrate_list(db, v1), PL_OK); /* unchanged: fine */
    const pl_migration_t edited[] = {
        {1, "one", "bbbb", "CREATE TABLE c_one (x BIGINT, y BIGINT);"},
        v1[1],
        {0, NULL, NULL, NULL},
    };
    assert_int_equal(migrate_list(db, edited), PL_EINVAL);
    assert_false(pl_db_in_tx(db));
    /* a row without a checksum (recorded before they existed) adopts it */
    pl_stmt_t *st = pl_db_prepare(db, "UPDATE schema_migrations SET checksum = NULL");
    assert_non_null(st);
    assert_true(pl_stmt_exec(st) >= 0);
    assert_int_equal(migrate_list(db, edited), PL_OK);
    assert_int_equal(migrate_list(db, v1), PL_EINVAL);
}

static void test_bind_step(void **state)
{
    pl_db_t *db = test_db(state);
    make_tables(db);

    /* Out of order: $2 appears before $1. */
    pl_stmt_t *st = pl_db_prepare(db, "INSERT INTO t_items (name, id, n) VALUES ($2, $1, $3)");
    assert_non_null(st);
    assert_int_equal(pl_stmt_bind_int64(st, 1, 7), PL_OK);
    assert_int_equal(pl_stmt_bind_textn(st, 2, "seven and more", 5), PL_OK);
    assert_int_equal(pl_stmt_bind_int64(st, 3, INT64_MAX), PL_OK);
    assert_int_equal(pl_stmt_exec(st), 1);

    /* Repeated: $1 used twice. */
    st = pl_db_prepare(db, "INSERT INTO t_items (id, name, n, flag) VALUES ($1, $2, $1, $3)");
    assert_non_null(st);
    pl_stmt_bind_int64(st, 1, -9);
    pl_stmt_bind_text(st, 2, "minus nine");
    pl_stmt_bind_bool(st, 3, true);
    assert_int_equal(pl_stmt_exec(st), 1);

    assert_int_equal(insert_item(db, INT64_MIN, "min", 0, false), 1);

    st = pl_db_prepare(db, "SELECT id, name, n, flag FROM t_items WHERE id = $1 OR n = $1 "
                           "ORDER BY id");
    assert_non_null(st);
    pl_stmt_bind_int64(st, 1, -9);
    assert_int_equal(pl_stmt_step(st), 1);
    assert_int_equal(pl_stmt_col_int64(st, 0), -9);
    assert_string_equal(pl_stmt_col_text(st, 1), "minus nine");
    assert_int_equal(pl_stmt_col_int64(st, 2), -9);
    assert_true(pl_stmt_col_bool(st, 3));
    assert_false(pl_stmt_col_is_null(st, 3));
    assert_null(pl_stmt_col_text(st, 9)); /* out of range fails safe */
    assert_int_equal(pl_stmt_step(st), 0);
    assert_int_equal(pl_stmt_step(st), 0);
    assert_null(pl_stmt_col_text(st, 0));
    pl_stmt_reset(st);

    st = pl_db_prepare(db, "SELECT id, name, n, flag FROM t_items ORDER BY id");
    assert_int_equal(pl_stmt_step(st), 1);
    assert_true(pl_stmt_col_int64(st, 0) == INT64_MIN);
    assert_false(pl_stmt_col_bool(st, 3));
    assert_int_equal(pl_stmt_step(st), 1);
    assert_int_equal(pl_stmt_step(st), 1);
    assert_int_equal(pl_stmt_col_int64(st, 0), 7);
    assert_string_equal(pl_stmt_col_text(st, 1), "seven");
    assert_true(pl_stmt_col_int64(st, 2) == INT64_MAX);
    assert_true(pl_stmt_col_is_null(st, 3));
    assert_null(pl_stmt_col_text(st, 3));
    assert_false(pl_stmt_col_bool(st, 3));
    assert_int_equal(pl_stmt_step(st), 0);
    pl_stmt_reset(st);

    /* NULL binds and a position the SQL does not have. */
    st = pl_db_prepare(db, sql_insert);
    assert_int_equal(pl_stmt_bind_int64(st, 1, 100), PL_OK);
    assert_int_equal(pl_stmt_bind_text(st, 2, "null n"), PL_OK);
    assert_int_equal(pl_stmt_bind_text(st, 3, NULL), PL_OK);
    assert_int_equal(pl_stmt_bind_null(st, 4), PL_OK);
    assert_int_equal(pl_stmt_bind_int64(st, 5, 1), PL_EINTERNAL);
    assert_int_equal(pl_stmt_exec(st), 1);
    assert_int_equal(count_rows(db, "SELECT count(*) FROM t_items WHERE n IS NULL"), 1);

    /* A prepare error returns NULL. */
    assert_null(pl_db_prepare(db, "SELEC nonsense"));
}

static void test_constraints(void **state)
{
    pl_db_t *db = test_db(state);
    make_tables(db);

    assert_int_equal(insert_item(db, 1, "one", 1, false), 1);
    assert_int_equal(insert_item(db, 2, "one", 1, false), PL_ECONFLICT); /* unique */
    assert_string_not_equal(pl_db_conflict_detail(db), "");
    assert_int_equal(insert_item(db, 1, "uno", 1, false), PL_ECONFLICT); /* primary key */
    assert_string_not_equal(pl_db_conflict_detail(db), "");

    pl_stmt_t *st = pl_db_prepare(db, "INSERT INTO t_children (id, item_id) VALUES ($1, $2)");
    pl_stmt_bind_int64(st, 1, 1);
    pl_stmt_bind_int64(st, 2, 42);
    assert_int_equal(pl_stmt_exec(st), PL_EFKEY);
    assert_string_equal(pl_db_conflict_detail(db), "");
    pl_stmt_bind_int64(st, 1, 1);
    pl_stmt_bind_int64(st, 2, 1);
    assert_int_equal(pl_stmt_exec(st), 1);
    assert_int_equal(count_rows(db, sql_count), 1);
}

static void test_transactions(void **state)
{
    pl_db_t *db = test_db(state);
    make_tables(db);

    assert_int_equal(pl_db_rollback(db), PL_OK); /* no transaction: fine */
    assert_false(pl_db_in_tx(db));
    assert_int_equal(pl_db_begin(db), PL_OK);
    assert_true(pl_db_in_tx(db));
    assert_int_equal(pl_db_begin(db), PL_OK); /* nested: joins the open one */
    assert_int_equal(insert_item(db, 1, "one", 1, true), 1);
    assert_int_equal(insert_item(db, 2, "two", 2, true), 1);
    assert_int_equal(pl_db_commit(db), PL_OK); /* inner commit: nothing yet */
    assert_true(pl_db_in_tx(db));
    assert_int_equal(pl_db_rollback(db), PL_OK);
    assert_false(pl_db_in_tx(db));
    assert_int_equal(count_rows(db, sql_count), 0);

    /* an inner rollback dooms the outer transaction */
    assert_int_equal(pl_db_begin(db), PL_OK);
    assert_int_equal(pl_db_begin(db), PL_OK);
    assert_int_equal(insert_item(db, 1, "one", 1, true), 1);
    assert_int_equal(pl_db_rollback(db), PL_OK);
    assert_int_equal(pl_db_commit(db), PL_EDB);
    assert_false(pl_db_in_tx(db));
    assert_int_equal(count_rows(db, sql_count), 0);

    assert_int_equal(pl_db_begin(db), PL_OK);
    assert_int_equal(insert_item(db, 1, "one", 1, true), 1);
    assert_int_equal(pl_db_commit(db), PL_OK);
    assert_int_equal(pl_db_commit(db), PL_EINTERNAL); /* nothing to commit */
    assert_int_equal(count_rows(db, sql_count), 1);

    /* An error inside a transaction: PostgreSQL aborts the transaction, so a
     * commit that ignores the error must fail and write nothing. */
    assert_int_equal(pl_db_begin_read(db), PL_OK);
    assert_int_equal(insert_item(db, 2, "two", 2, true), 1);
    assert_int_equal(insert_item(db, 3, "one", 3, true), PL_ECONFLICT);
    if (pl_db_engine() == PL_DB_POSTGRES) {
        assert_int_equal(pl_db_commit(db), PL_EDB);
        assert_int_equal(count_rows(db, sql_count), 1);
    } else {
        assert_int_equal(pl_db_commit(db), PL_OK); /* SQLite undid the statement only */
        assert_int_equal(count_rows(db, sql_count), 2);
    }
    assert_false(pl_db_in_tx(db));
}

/* A read scope (pl_db_scope_begin(db, false)): its reads see the tenant
 * context on every statement; on PostgreSQL no transaction is open until a
 * statement may write, and then what follows is one transaction. */
static void test_read_scope(void **state)
{
    pl_db_t *db = test_db(state);
    make_tables(db);
    bool pg = pl_db_engine() == PL_DB_POSTGRES;
    const char *sql_ctx = pg ? "SELECT current_setting('app.t_ctx', true)" : "SELECT 'none'";
    const char *sql_now = pg ? "SELECT now()::text" : "SELECT 'now'";

    assert_int_equal(pl_db_scope_begin(db, false), PL_OK);
    assert_true(pl_db_in_tx(db));
    assert_int_equal(pl_db_set_context(db, "app.t_ctx", "one"), PL_OK);
    for (int i = 0; i < 3; i++) { /* the context holds for each statement */
        pl_stmt_t *st = pl_db_prepare(db, sql_ctx);
        assert_int_equal(pl_stmt_step(st), 1);
        assert_string_equal(pl_stmt_col_text(st, 0), pg ? "one" : "none");
        pl_stmt_reset(st);
    }
    assert_int_equal(pl_db_set_context(db, "app.t_ctx", "two"), PL_OK); /* replaces it */
    pl_stmt_t *st = pl_db_prepare(db, sql_ctx);
    assert_int_equal(pl_stmt_step(st), 1);
    assert_string_equal(pl_stmt_col_text(st, 0), pg ? "two" : "none");
    pl_stmt_reset(st);
    /* a statement that makes the setting itself: the ones after it see it */
    assert_int_equal(pl_db_set_context_by_next(db, "app.t_ctx", "three"), PL_OK);
    st = pl_db_prepare(db, "SELECT set_config('app.t_ctx', 'three', true)");
    assert_int_equal(pl_stmt_step(st), 1);
    assert_string_equal(pl_stmt_col_text(st, 0), "three");
    pl_stmt_reset(st);
    for (int i = 0; i < 2; i++) {
        st = pl_db_prepare(db, sql_ctx);
        assert_int_equal(pl_stmt_step(st), 1);
        assert_string_equal(pl_stmt_col_text(st, 0), pg ? "three" : "none");
        pl_stmt_reset(st);
    }
    /* no BEGIN went out: each read is its own transaction (now() is the
     * transaction's start, the same for every statement of one) */
    char first[64] = "";
    for (int i = 0; i < 2; i++) {
        st = pl_db_prepare(db, sql_now);
        assert_int_equal(pl_stmt_step(st), 1);
        if (i == 0)
            snprintf(first, sizeof(first), "%s", pl_stmt_col_text(st, 0));
        else if (pg)
            assert_string_not_equal(first, pl_stmt_col_text(st, 0));
        pl_stmt_reset(st);
    }
    /* a write opens the transaction (with the context), and a failure
     * later in the scope undoes it */
    assert_int_equal(insert_item(db, 1, "one", 1, true), 1);
    st = pl_db_prepare(db, sql_ctx);
    assert_int_equal(pl_stmt_step(st), 1);
    assert_string_equal(pl_stmt_col_text(st, 0), pg ? "three" : "none");
    pl_stmt_reset(st);
    assert_int_equal(pl_db_scope_end(db, false), PL_OK);
    assert_false(pl_db_in_tx(db));
    assert_int_equal(count_rows(db, sql_count), 0);
    if (pg) { /* the context ended with the scope */
        st = pl_db_prepare(db, sql_ctx);
        assert_int_equal(pl_stmt_step(st), 1);
        const char *v = pl_stmt_col_text(st, 0);
        assert_true(!v || !*v);
        pl_stmt_reset(st);
    }

    /* the same scope that commits keeps the write */
    assert_int_equal(pl_db_scope_begin(db, false), PL_OK);
    assert_int_equal(insert_item(db, 1, "one", 1, true), 1);
    assert_int_equal(pl_db_scope_end(db, true), PL_OK);
    assert_int_equal(count_rows(db, sql_count), 1);
}

/* pl_stmt_prefetch: the answer asked early is the one a step of the same
 * statement with the same binds reads, in that scope only. */
static void test_prefetch(void **state)
{
    pl_db_t *db = test_db(state);
    make_tables(db);
    assert_int_equal(insert_item(db, 1, "one", 1, true), 1);
    static const char sql_name[] = "SELECT name FROM t_items WHERE id = $1";
    bool pg = pl_db_engine() == PL_DB_POSTGRES;

    assert_int_equal(pl_db_scope_begin(db, false), PL_OK);
    pl_stmt_t *pre = pl_db_prepare(db, sql_name);
    pl_stmt_bind_int64(pre, 1, 1);
    pl_stmt_prefetch(pre);
    assert_int_equal(count_rows(db, sql_count), 1); /* it travels with this one */
    /* changed behind the scope's back, by another connection */
    pl_db_t *other = NULL;
    assert_int_equal(pl_db_open(&other), PL_OK);
    assert_int_equal(pl_db_exec(other, "UPDATE t_items SET name = 'uno' WHERE id = 1"), PL_OK);
    pl_stmt_t *st = pl_db_prepare(db, sql_name);
    pl_stmt_bind_int64(st, 1, 1);
    assert_int_equal(pl_stmt_step(st), 1);
    /* PostgreSQL read it with the count; SQLite's scope is one snapshot */
    assert_string_equal(pl_stmt_col_text(st, 0), "one");
    pl_stmt_reset(st);
    st = pl_db_prepare(db, sql_name); /* used once: asked again, it is read again */
    pl_stmt_bind_int64(st, 1, 1);
    assert_int_equal(pl_stmt_step(st), 1);
    assert_string_equal(pl_stmt_col_text(st, 0), pg ? "uno" : "one");
    pl_stmt_reset(st);

    /* other binds than the prefetch's: read as usual */
    pre = pl_db_prepare(db, sql_name);
    pl_stmt_bind_int64(pre, 1, 1);
    pl_stmt_prefetch(pre);
    assert_int_equal(count_rows(db, sql_count), 1);
    st = pl_db_prepare(db, sql_name);
    pl_stmt_bind_int64(st, 1, 2);
    assert_int_equal(pl_stmt_step(st), 0);
    pl_stmt_reset(st);
    assert_int_equal(pl_db_scope_end(db, true), PL_OK);

    /* an answer nobody read ends with its scope */
    assert_int_equal(pl_db_scope_begin(db, false), PL_OK);
    pre = pl_db_prepare(db, sql_name);
    pl_stmt_bind_int64(pre, 1, 1);
    pl_stmt_prefetch(pre);
    assert_int_equal(count_rows(db, sql_count), 1);
    assert_int_equal(pl_db_scope_end(db, true), PL_OK);
    assert_int_equal(pl_db_exec(other, "UPDATE t_items SET name = 'eins' WHERE id = 1"), PL_OK);
    assert_int_equal(pl_db_scope_begin(db, false), PL_OK);
    st = pl_db_prepare(db, sql_name);
    pl_stmt_bind_int64(st, 1, 1);
    assert_int_equal(pl_stmt_step(st), 1);
    assert_string_equal(pl_stmt_col_text(st, 0), "eins");
    pl_stmt_reset(st);
    /* and so does one asked before a write opened the transaction */
    pre = pl_db_prepare(db, sql_name);
    pl_stmt_bind_int64(pre, 1, 1);
    pl_stmt_prefetch(pre);
    assert_int_equal(count_rows(db, sql_count), 1);
    assert_int_equal(insert_item(db, 2, "two", 2, true), 1);
    assert_int_equal(pl_db_exec(db, "UPDATE t_items SET name = 'un' WHERE id = 1"), PL_OK);
    st = pl_db_prepare(db, sql_name);
    pl_stmt_bind_int64(st, 1, 1);
    assert_int_equal(pl_stmt_step(st), 1);
    assert_string_equal(pl_stmt_col_text(st, 0), "un");
    pl_stmt_reset(st);
    assert_int_equal(pl_db_scope_end(db, true), PL_OK);
    assert_int_equal(count_rows(db, sql_count), 2);
    pl_db_close(other);
}

static void test_cache(void **state)
{
    pl_db_t *db = test_db(state);
    char copy[64];
    make_tables(db);

    pl_stmt_t *a = pl_db_prepare(db, sql_count);
    assert_non_null(a);
    pl_stmt_reset(a);
    assert_ptr_equal(pl_db_prepare(db, sql_count), a);
    snprintf(copy, sizeof(copy), "%s", sql_count); /* same text, another pointer */
    assert_ptr_equal(pl_db_prepare(db, copy), a);
    pl_stmt_t *b = pl_db_prepare(db, "SELECT 1");
    assert_non_null(b);
    assert_ptr_not_equal(a, b);
    assert_int_equal(pl_stmt_step(b), 1);
    assert_int_equal(pl_stmt_col_int64(b, 0), 1);
    /* Preparing again without a reset starts over rather than misbehaving. */
    b = pl_db_prepare(db, "SELECT 1");
    assert_int_equal(pl_stmt_step(b), 1);
    pl_stmt_reset(b);
}

static void test_exec_counts(void **state)
{
    pl_db_t *db = test_db(state);
    make_tables(db);

    for (int i = 1; i <= 5; i++) {
        char name[16];
        snprintf(name, sizeof(name), "item%d", i);
        assert_int_equal(insert_item(db, i, name, i % 2, false), 1);
    }
    pl_stmt_t *st = pl_db_prepare(db, "UPDATE t_items SET flag = $1 WHERE n = $2");
    pl_stmt_bind_bool(st, 1, true);
    pl_stmt_bind_int64(st, 2, 1);
    assert_int_equal(pl_stmt_exec(st), 3);
    st = pl_db_prepare(db, "DELETE FROM t_items WHERE id > $1");
    pl_stmt_bind_int64(st, 1, 100);
    assert_int_equal(pl_stmt_exec(st), 0);
    pl_stmt_bind_int64(st, 1, 3);
    assert_int_equal(pl_stmt_exec(st), 2);
    st = pl_db_prepare(db, "INSERT INTO t_items (id, name) VALUES ($1, $2) RETURNING id");
    pl_stmt_bind_int64(st, 1, 10);
    pl_stmt_bind_text(st, 2, "ten");
    assert_int_equal(pl_stmt_exec(st), 1);
    assert_int_equal(count_rows(db, sql_count), 4);
}

static void *thread_main(void *arg)
{
    pl_db_t **out = arg;
    pl_db_t *db = pl_db_thread();
    if (db && pl_db_thread() == db && pl_db_ping(db))
        *out = db;
    return NULL; /* the connection is closed by the thread-exit destructor */
}

static void test_thread(void **state)
{
    pl_db_t *db = test_db(state);
    pl_db_t *other = NULL;
    pthread_t t;

    PL_UNUSED(db);
    pl_db_t *mine = pl_db_thread();
    assert_non_null(mine);
    assert_ptr_equal(pl_db_thread(), mine);
    assert_true(pl_db_ping(mine));
    assert_int_equal(pthread_create(&t, NULL, thread_main, &other), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_non_null(other);
    assert_ptr_not_equal(other, mine);
    pl_db_thread_close();
}

static void *migrate_main(void *arg)
{
    int *rc = arg;
    pl_db_t *db = pl_db_thread();
    *rc = db ? pl_db_migrate(db) : PL_EDB;
    return NULL;
}

static void test_concurrent_migrate(void **state)
{
    pl_db_t *db = test_db(state);
    pthread_t t[4];
    int rc[4];

    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&t[i], NULL, migrate_main, &rc[i]), 0);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
        assert_int_equal(rc[i], PL_OK);
    }
    assert_int_equal(pl_db_migrations_current(db), PL_OK);
    assert_int_equal(count_rows(db, "SELECT count(*) FROM schema_migrations"),
                     pl_db_schema_version());
}

static void test_pg_reconnect(void **state)
{
    pl_db_t *db = test_db(state);
    PL_UNUSED(db);

    pl_db_t *td = pl_db_thread();
    assert_non_null(td);
    pl_stmt_t *st = pl_db_prepare(td, "SELECT 41 + $1");
    pl_stmt_bind_int64(st, 1, 1);
    assert_int_equal(pl_stmt_step(st), 1);
    assert_int_equal(pl_stmt_col_int64(st, 0), 42);
    pl_stmt_reset(st);

    /* The server ends our session, as a restart or failover would: a lost
     * connection is "try later" (503), not a failed statement. */
    assert_int_equal(pl_db_exec(td, "SELECT pg_terminate_backend(pg_backend_pid())"),
                     PL_EUNAVAILABLE);
    assert_true(td->broken);
    assert_false(pl_db_ping(td));

    assert_ptr_equal(pl_db_thread(), td); /* same handle, new connection */
    assert_false(td->broken);
    assert_true(pl_db_ping(td));
    st = pl_db_prepare(td, "SELECT 41 + $1");
    pl_stmt_bind_int64(st, 1, 1);
    assert_int_equal(pl_stmt_step(st), 1);
    assert_int_equal(pl_stmt_col_int64(st, 0), 42);
    pl_stmt_reset(st);
    pl_db_thread_close();
}

#define ENGINE_TESTS(setup, teardown)                                                              \
    cmocka_unit_test_setup_teardown(test_migrate, setup, teardown),                                \
        cmocka_unit_test_setup_teardown(test_migration_checksum, setup, teardown),                 \
        cmocka_unit_test_setup_teardown(test_migration_failure, setup, teardown),                  \
        cmocka_unit_test_setup_teardown(test_bind_step, setup, teardown),                          \
        cmocka_unit_test_setup_teardown(test_constraints, setup, teardown),                        \
        cmocka_unit_test_setup_teardown(test_transactions, setup, teardown),                       \
        cmocka_unit_test_setup_teardown(test_read_scope, setup, teardown),                         \
        cmocka_unit_test_setup_teardown(test_prefetch, setup, teardown),                           \
        cmocka_unit_test_setup_teardown(test_cache, setup, teardown),                              \
        cmocka_unit_test_setup_teardown(test_exec_counts, setup, teardown),                        \
        cmocka_unit_test_setup_teardown(test_thread, setup, teardown),                             \
        cmocka_unit_test_setup_teardown(test_concurrent_migrate, setup, teardown)

int main(void)
{
    const struct CMUnitTest sqlite_tests[] = {ENGINE_TESTS(setup_sqlite, teardown_sqlite)};
    const struct CMUnitTest pg_tests[] = {
        ENGINE_TESTS(setup_pg, teardown_pg),
        cmocka_unit_test_setup_teardown(test_pg_reconnect, setup_pg, teardown_pg),
    };
    int failed = cmocka_run_group_tests_name("db_sqlite", sqlite_tests, NULL, NULL);
    failed += cmocka_run_group_tests_name("db_postgres", pg_tests, NULL, NULL);
    return failed;
}
