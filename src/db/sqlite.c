/* sqlite.c - the SQLite engine: db->conn is a sqlite3 *, st->impl a
 * sqlite3_stmt *. One connection per thread, so the library's own mutexes are
 * switched off (SQLITE_OPEN_NOMUTEX). */
#define PL_DB_ENGINE
#include "db/db.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int map_error(pl_db_t *db, int rc, const char *msg, const char *sql)
{
    const char *detail = NULL;
    int code = PL_EDB;

    switch (rc) {
    case SQLITE_CONSTRAINT_UNIQUE:
    case SQLITE_CONSTRAINT_PRIMARYKEY:
        code = PL_ECONFLICT;
        /* "UNIQUE constraint failed: users.org_id, users.email" */
        detail = msg ? strstr(msg, "failed: ") : NULL;
        detail = detail ? detail + 8 : "";
        break;
    case SQLITE_CONSTRAINT_FOREIGNKEY:
        code = PL_EFKEY;
        break;
    default:
        if ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED)
            code = PL_EBUSY;
        else if ((rc & 0xff) == SQLITE_FULL)
            code = PL_ENOSPACE;
    }
    char buf[200];
    snprintf(buf, sizeof(buf), "%s (%s)", msg ? msg : sqlite3_errstr(rc), sqlite3_errstr(rc));
    return pl_db_fail(db, code, buf, detail, sql);
}

static int lite_exec(pl_db_t *db, const char *sql)
{
    char *msg = NULL;
    int rc = sqlite3_exec(db->conn, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK)
        rc = map_error(db, rc, msg, sql);
    sqlite3_free(msg);
    return rc;
}

/* Process-wide settings, before SQLite initialises itself: memory statistics
 * take a global mutex on every allocation, which every connection would then
 * contend on; plinth does not read them. */
/* SQLite mutexes as glibc adaptive mutexes. Every read transaction takes the
 * WAL-index mutex that all connections to the file share, for a few dozen
 * instructions; with the default mutexes a collision sleeps in the kernel,
 * with adaptive ones it spins briefly first. Recursive mutexes stay as they
 * are (glibc has no recursive adaptive kind). */
struct sqlite3_mutex {
    pthread_mutex_t mu;
    int id;
};

#define STATIC_MUTEXES 12 /* SQLITE_MUTEX_STATIC_MAIN .. SQLITE_MUTEX_STATIC_VFS3 */
static sqlite3_mutex static_mutexes[STATIC_MUTEXES];

static int mx_init(void)
{
    for (int i = 0; i < STATIC_MUTEXES; i++) {
        pthread_mutexattr_t a;
        pthread_mutexattr_init(&a);
        pthread_mutexattr_settype(&a, PTHREAD_MUTEX_ADAPTIVE_NP);
        pthread_mutex_init(&static_mutexes[i].mu, &a);
        pthread_mutexattr_destroy(&a);
        static_mutexes[i].id = i + 2;
    }
    return SQLITE_OK;
}

static int mx_end(void)
{
    return SQLITE_OK;
}

static sqlite3_mutex *mx_alloc(int id)
{
    if (id != SQLITE_MUTEX_FAST && id != SQLITE_MUTEX_RECURSIVE) {
        int i = id - 2;
        return (i >= 0 && i < STATIC_MUTEXES) ? &static_mutexes[i] : NULL;
    }
    /* not sqlite3_malloc: it would re-enter sqlite3_initialize */
    sqlite3_mutex *m = malloc(sizeof(*m));
    if (!m)
        return NULL;
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_settype(&a, id == SQLITE_MUTEX_RECURSIVE ? PTHREAD_MUTEX_RECURSIVE
                                                               : PTHREAD_MUTEX_ADAPTIVE_NP);
    pthread_mutex_init(&m->mu, &a);
    pthread_mutexattr_destroy(&a);
    m->id = id;
    return m;
}

static void mx_free(sqlite3_mutex *m)
{
    if (m->id == SQLITE_MUTEX_FAST || m->id == SQLITE_MUTEX_RECURSIVE) {
        pthread_mutex_destroy(&m->mu);
        free(m);
    }
}

static void mx_enter(sqlite3_mutex *m)
{
    pthread_mutex_lock(&m->mu);
}

static int mx_try(sqlite3_mutex *m)
{
    return pthread_mutex_trylock(&m->mu) == 0 ? SQLITE_OK : SQLITE_BUSY;
}

static void mx_leave(sqlite3_mutex *m)
{
    pthread_mutex_unlock(&m->mu);
}

static const sqlite3_mutex_methods adaptive_mutexes = {
    mx_init, mx_end, mx_alloc, mx_free, mx_enter, mx_try, mx_leave, NULL, NULL,
};

static void lite_global_config(void)
{
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    sqlite3_config(SQLITE_CONFIG_MUTEX, &adaptive_mutexes);
}

static pthread_once_t lite_once = PTHREAD_ONCE_INIT;

/* The database file and its -wal and -shm companions are readable by the
 * owner only: SQLite creates the companions with the database file's mode,
 * so a missing database file is created 0600 before SQLite opens it, and
 * files of an older version (0644) are narrowed. Only a file that did not
 * exist is opened and closed here, under a lock every opening connection
 * passes first: closing a descriptor drops the process's POSIX locks on the
 * file, which would break SQLite's locking of a file already open. */
static void owner_only(const char *path)
{
    static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    if (!path || !path[0] || path[0] == ':')
        return;
    pthread_mutex_lock(&mu);
    struct stat sb;
    if (stat(path, &sb) != 0 && errno == ENOENT) {
        int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd >= 0)
            close(fd);
    }
    static const char *const suffixes[] = {"", "-wal", "-shm"};
    for (size_t i = 0; i < PL_ARRAY_LEN(suffixes); i++) {
        char p[PATH_MAX];
        if ((size_t)snprintf(p, sizeof(p), "%s%s", path, suffixes[i]) >= sizeof(p) ||
            stat(p, &sb) != 0 || !(sb.st_mode & 077))
            continue;
        if (chmod(p, sb.st_mode & 0700) != 0)
            pl_log("warn", "sqlite: cannot restrict %s to its owner: %s", p, strerror(errno));
    }
    pthread_mutex_unlock(&mu);
}

/* set_config(key, value, is_local), PostgreSQL's, for SQL both engines run
 * (a statement that sets the tenant context itself: pl_db_set_context_by_next);
 * SQLite has no row-level security, so it only answers the value. */
static void fn_set_config(sqlite3_context *c, int argc, sqlite3_value **argv)
{
    PL_UNUSED(argc);
    sqlite3_result_value(c, argv[1]);
}

static int lite_open(pl_db_t *db, const pl_db_config_t *cfg)
{
    pthread_once(&lite_once, lite_global_config);
    sqlite3 *conn = NULL;
    int rc = PL_EDB;
    char pragmas[160];

    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    owner_only(cfg->sqlite_path);
    int err = sqlite3_open_v2(cfg->sqlite_path ? cfg->sqlite_path : "", &conn, flags, NULL);
    if (err != SQLITE_OK) {
        pl_log("error", "sqlite: cannot open %s: %s", cfg->sqlite_path ? cfg->sqlite_path : "",
               conn ? sqlite3_errmsg(conn) : sqlite3_errstr(err));
        goto out;
    }
    sqlite3_extended_result_codes(conn, 1);
    sqlite3_busy_timeout(conn, cfg->busy_timeout_ms);
    if (sqlite3_create_function(conn, "set_config", 3, SQLITE_UTF8 | SQLITE_DETERMINISTIC, NULL,
                                fn_set_config, NULL, NULL) != SQLITE_OK) {
        pl_log("error", "sqlite: cannot add set_config: %s", sqlite3_errmsg(conn));
        goto out;
    }
    db->conn = conn;
    /* busy_timeout first: switching to WAL takes a lock another process may
     * hold for a moment. */
    snprintf(pragmas, sizeof(pragmas),
             "PRAGMA journal_mode=WAL; PRAGMA synchronous=%s; PRAGMA foreign_keys=ON; "
             "PRAGMA secure_delete=ON;",
             cfg->sqlite_sync_full ? "FULL" : "NORMAL");
    rc = lite_exec(db, pragmas);
    if (rc) {
        db->conn = NULL;
        goto out;
    }
    conn = NULL;
out:
    sqlite3_close(conn);
    return rc;
}

static void lite_close(pl_db_t *db)
{
    /* Every statement is finalized by now, so this cannot return BUSY. */
    sqlite3_close(db->conn);
    db->conn = NULL;
}

static int lite_tx_status(pl_db_t *db)
{
    return db->conn && !sqlite3_get_autocommit(db->conn) ? PL_TX_ACTIVE : PL_TX_NONE;
}

static int lite_prepare(pl_stmt_t *st)
{
    sqlite3_stmt *stmt = NULL;
    const char *tail = NULL;
    int rc = sqlite3_prepare_v3(st->db->conn, st->sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, &tail);
    if (rc != SQLITE_OK)
        return map_error(st->db, rc, sqlite3_errmsg(st->db->conn), st->sql);
    /* prepare compiles only the first statement; the rest would be ignored. */
    if (tail)
        tail += strspn(tail, " \t\r\n;");
    if (!stmt || (tail && *tail)) {
        sqlite3_finalize(stmt);
        return pl_db_fail(st->db, PL_EINTERNAL, "expected exactly one statement", NULL, st->sql);
    }
    st->impl = stmt;
    return PL_OK;
}

static void lite_finalize(pl_stmt_t *st)
{
    sqlite3_finalize(st->impl);
    st->impl = NULL;
}

/* SQLite reads "$1" as a named parameter; looking the name up maps our
 * positions and makes repeated or out-of-order placeholders work. */
static int param_index(pl_stmt_t *st, int pos)
{
    char name[16];
    snprintf(name, sizeof(name), "$%d", pos);
    int idx = sqlite3_bind_parameter_index(st->impl, name);
    if (idx == 0)
        pl_db_fail(st->db, PL_EINTERNAL, "bind position not in statement", NULL, st->sql);
    return idx;
}

static int bind_result(pl_stmt_t *st, int rc)
{
    if (rc == SQLITE_OK)
        return PL_OK;
    return map_error(st->db, rc, sqlite3_errmsg(st->db->conn), st->sql);
}

static int lite_bind_text(pl_stmt_t *st, int pos, const char *s, size_t n)
{
    int idx = param_index(st, pos);
    if (!idx)
        return PL_EINTERNAL;
    return bind_result(st, sqlite3_bind_text(st->impl, idx, s, (int)n, SQLITE_TRANSIENT));
}

static int lite_bind_int64(pl_stmt_t *st, int pos, int64_t v)
{
    int idx = param_index(st, pos);
    if (!idx)
        return PL_EINTERNAL;
    return bind_result(st, sqlite3_bind_int64(st->impl, idx, v));
}

static int lite_bind_bool(pl_stmt_t *st, int pos, bool v)
{
    return lite_bind_int64(st, pos, v ? 1 : 0);
}

static int lite_bind_null(pl_stmt_t *st, int pos)
{
    int idx = param_index(st, pos);
    if (!idx)
        return PL_EINTERNAL;
    return bind_result(st, sqlite3_bind_null(st->impl, idx));
}

static int lite_step(pl_stmt_t *st)
{
    int rc = sqlite3_step(st->impl);
    if (rc == SQLITE_ROW)
        return 1;
    if (rc == SQLITE_DONE)
        return 0;
    return map_error(st->db, rc, sqlite3_errmsg(st->db->conn), st->sql);
}

static bool col_valid(pl_stmt_t *st, int col)
{
    return col < sqlite3_data_count(st->impl);
}

static const char *lite_col_text(pl_stmt_t *st, int col)
{
    return col_valid(st, col) ? (const char *)sqlite3_column_text(st->impl, col) : NULL;
}

static int64_t lite_col_int64(pl_stmt_t *st, int col)
{
    return col_valid(st, col) ? sqlite3_column_int64(st->impl, col) : 0;
}

static bool lite_col_bool(pl_stmt_t *st, int col)
{
    return lite_col_int64(st, col) != 0;
}

static bool lite_col_is_null(pl_stmt_t *st, int col)
{
    return !col_valid(st, col) || sqlite3_column_type(st->impl, col) == SQLITE_NULL;
}

static void lite_reset(pl_stmt_t *st)
{
    sqlite3_reset(st->impl);
    sqlite3_clear_bindings(st->impl);
}

static int64_t lite_changes(pl_stmt_t *st)
{
    return sqlite3_changes64(st->db->conn);
}

const pl_db_ops_t pl_db_sqlite_ops = {
    .name = "sqlite",
    .begin_sql = "BEGIN IMMEDIATE",
    .open = lite_open,
    .close = lite_close,
    .tx_status = lite_tx_status,
    .exec = lite_exec,
    .prepare = lite_prepare,
    .finalize = lite_finalize,
    .bind_text = lite_bind_text,
    .bind_int64 = lite_bind_int64,
    .bind_bool = lite_bind_bool,
    .bind_null = lite_bind_null,
    .step = lite_step,
    .col_text = lite_col_text,
    .col_int64 = lite_col_int64,
    .col_bool = lite_col_bool,
    .col_is_null = lite_col_is_null,
    .reset = lite_reset,
    .changes = lite_changes,
};

/* ---- SQLite files: backup and restore ---- */

int pl_db_sqlite_snapshot(pl_db_t *db, const char *path, pl_db_progress_fn fn, void *arg)
{
    if (!db || db->ops != &pl_db_sqlite_ops)
        return PL_EINVAL;
    sqlite3 *dst = NULL;
    sqlite3_backup *b = NULL;
    int rc = PL_EDB;
    /* one read transaction holds the snapshot for the whole copy, so
     * writers of other connections go on (WAL) without restarting it */
    if (lite_exec(db, "BEGIN; SELECT count(*) FROM sqlite_master"))
        return PL_EDB;
    if (sqlite3_open_v2(path, &dst, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
        SQLITE_OK) {
        pl_log("error", "sqlite: cannot create %s: %s", path,
               dst ? sqlite3_errmsg(dst) : "out of memory");
        goto out;
    }
    b = sqlite3_backup_init(dst, "main", db->conn, "main");
    if (!b) {
        pl_log("error", "sqlite: cannot start the backup: %s", sqlite3_errmsg(dst));
        goto out;
    }
    int err;
    do {
        err = sqlite3_backup_step(b, 256);
        if (fn)
            fn(arg, sqlite3_backup_pagecount(b) - sqlite3_backup_remaining(b),
               sqlite3_backup_pagecount(b));
        if (err == SQLITE_BUSY || err == SQLITE_LOCKED)
            sqlite3_sleep(10);
    } while (err == SQLITE_OK || err == SQLITE_BUSY || err == SQLITE_LOCKED);
    err = sqlite3_backup_finish(b) == SQLITE_OK && err == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
    b = NULL;
    if (err != SQLITE_OK) {
        pl_log("error", "sqlite: backup failed: %s", sqlite3_errmsg(dst));
        goto out;
    }
    /* a self-contained file (no -wal beside it) marked as a backup by its
     * files table, even when no file goes into it */
    if (sqlite3_exec(dst,
                     "PRAGMA journal_mode=DELETE; CREATE TABLE " PL_DB_BACKUP_FILES
                     " (name TEXT PRIMARY KEY, content BLOB NOT NULL)",
                     NULL, NULL, NULL) != SQLITE_OK) {
        pl_log("error", "sqlite: %s: %s", path, sqlite3_errmsg(dst));
        goto out;
    }
    rc = PL_OK;
out:
    if (b)
        sqlite3_backup_finish(b);
    sqlite3_close(dst);
    lite_exec(db, "COMMIT");
    return rc;
}

/* Opens path (an existing SQLite file) for the functions below. */
static sqlite3 *open_file(const char *path, bool write)
{
    sqlite3 *conn = NULL;
    int flags = write ? SQLITE_OPEN_READWRITE : SQLITE_OPEN_READONLY;
    if (sqlite3_open_v2(path, &conn, flags, NULL) != SQLITE_OK) {
        pl_log("error", "sqlite: cannot open %s: %s", path,
               conn ? sqlite3_errmsg(conn) : "out of memory");
        sqlite3_close(conn);
        return NULL;
    }
    sqlite3_busy_timeout(conn, 5000);
    return conn;
}

static int file_fail(sqlite3 *conn, const char *path)
{
    pl_log("error", "sqlite: %s: %s", path, sqlite3_errmsg(conn));
    sqlite3_close(conn);
    return PL_EDB;
}

int pl_db_sqlite_files_put(const char *path, const char *name, const void *data, size_t len)
{
    sqlite3 *conn = open_file(path, true);
    sqlite3_stmt *st = NULL;
    if (!conn)
        return PL_EDB;
    if (sqlite3_exec(conn,
                     "CREATE TABLE IF NOT EXISTS " PL_DB_BACKUP_FILES
                     " (name TEXT PRIMARY KEY, content BLOB NOT NULL)",
                     NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(
            conn, "INSERT OR REPLACE INTO " PL_DB_BACKUP_FILES " (name, content) VALUES (?1, ?2)",
            -1, &st, NULL) != SQLITE_OK)
        return file_fail(conn, path);
    sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_blob64(st, 2, data, len, SQLITE_TRANSIENT);
    int err = sqlite3_step(st);
    sqlite3_finalize(st);
    if (err != SQLITE_DONE)
        return file_fail(conn, path);
    sqlite3_close(conn);
    return PL_OK;
}

int pl_db_sqlite_files_get(const char *path,
                           int (*fn)(void *arg, const char *name, const void *data, size_t len),
                           void *arg)
{
    sqlite3 *conn = open_file(path, false);
    sqlite3_stmt *st = NULL;
    if (!conn)
        return PL_EDB;
    if (sqlite3_prepare_v2(conn, "SELECT name, content FROM " PL_DB_BACKUP_FILES " ORDER BY name",
                           -1, &st, NULL) != SQLITE_OK)
        return file_fail(conn, path);
    int rc = PL_OK, err;
    while (rc == PL_OK && (err = sqlite3_step(st)) == SQLITE_ROW)
        rc = fn(arg, (const char *)sqlite3_column_text(st, 0), sqlite3_column_blob(st, 1),
                (size_t)sqlite3_column_bytes(st, 1));
    sqlite3_finalize(st);
    if (rc == PL_OK && err != SQLITE_DONE)
        return file_fail(conn, path);
    sqlite3_close(conn);
    return rc;
}

int pl_db_sqlite_files_drop(const char *path)
{
    sqlite3 *conn = open_file(path, true);
    if (!conn)
        return PL_EDB;
    if (sqlite3_exec(conn, "DROP TABLE IF EXISTS " PL_DB_BACKUP_FILES, NULL, NULL, NULL) !=
        SQLITE_OK)
        return file_fail(conn, path);
    sqlite3_close(conn);
    return PL_OK;
}

int pl_db_sqlite_file_check(const char *path, int64_t *version)
{
    sqlite3 *conn = open_file(path, false);
    sqlite3_stmt *st = NULL;
    if (!conn)
        return PL_EDB;
    *version = -1;
    int rc = PL_EINVAL;
    if (sqlite3_prepare_v2(conn,
                           "SELECT (SELECT max(version) FROM schema_migrations), (SELECT count(*) "
                           "FROM sqlite_master WHERE name = '" PL_DB_BACKUP_FILES "')",
                           -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 1) == 1) {
        *version = sqlite3_column_int64(st, 0);
        rc = PL_OK;
    }
    sqlite3_finalize(st);
    sqlite3_close(conn);
    return rc;
}
