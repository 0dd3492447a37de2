/* db.h - one small database API over SQLite and PostgreSQL.
 *
 * SQL uses $1, $2, ... placeholders on both engines. Values are bound by
 * position (1-based, the number after '$'); columns are read by 0-based index.
 * Booleans are bound with pl_stmt_bind_bool and read with pl_stmt_col_bool so
 * that SQLite's 0/1 and PostgreSQL's boolean read the same. Timestamps are
 * BIGINT UTC milliseconds on both engines.
 *
 * Connections: each thread uses its own connection (pl_db_thread), opened
 * lazily and closed when the thread exits. A connection is never shared
 * between threads.
 *
 * Statements: pl_db_prepare caches prepared statements per connection by SQL
 * text; the returned statement is owned by the connection. After use (all
 * rows read, or an early stop) call pl_stmt_reset before preparing the same SQL
 * again on that connection. Only one use of a given SQL text may be in flight
 * per connection at a time.
 */
#ifndef PL_DB_H
#define PL_DB_H

#include "core/core.h"

typedef enum { PL_DB_SQLITE = 1, PL_DB_POSTGRES = 2 } pl_db_engine_t;

typedef struct pl_db pl_db_t;
typedef struct pl_stmt pl_stmt_t;

typedef struct {
    pl_db_engine_t engine;
    const char *sqlite_path; /* file path, for PL_DB_SQLITE */
    const char *pg_url;      /* libpq connection URI, for PL_DB_POSTGRES */
    bool sqlite_sync_full;   /* synchronous=FULL (true) or NORMAL */
    int busy_timeout_ms;     /* SQLite busy_timeout; 5000 by default */
} pl_db_config_t;

/* Stores the configuration for every later connection. Call once at start,
 * before any thread opens a connection. The strings must outlive the process. */
void pl_db_configure(const pl_db_config_t *cfg);
pl_db_engine_t pl_db_engine(void);

/* The calling thread's connection, opened on first use; NULL when the database
 * cannot be reached (the reason is logged). A broken PostgreSQL connection is
 * reset and reopened on the next call. */
pl_db_t *pl_db_thread(void);
/* Closes the calling thread's connection, if any. */
void pl_db_thread_close(void);

/* Opens a standalone connection (CLI commands); close with pl_db_close. */
int pl_db_open(pl_db_t **out);
void pl_db_close(pl_db_t *db);

/* Runs one or more statements without parameters (DDL, migrations). */
int pl_db_exec(pl_db_t *db, const char *sql);

/* Transactions. pl_db_begin starts a write transaction (BEGIN IMMEDIATE on
 * SQLite); pl_db_begin_read a read one (BEGIN on both). A begin while a
 * transaction of ours is open joins it: the inner commit does nothing, the
 * inner rollback makes the outer transaction roll back at its end. */
int pl_db_begin(pl_db_t *db);
int pl_db_begin_read(pl_db_t *db);
int pl_db_commit(pl_db_t *db);
int pl_db_rollback(pl_db_t *db); /* safe to call when no transaction is open */
bool pl_db_in_tx(pl_db_t *db);
/* A request's scope. Authenticated requests run inside one transaction
 * where the engine needs it: on PostgreSQL always (row-level security reads
 * the tenant context set with pl_db_set_context, which lives as long as the
 * transaction); on SQLite for reads only (one snapshot instead of taking the
 * WAL locks per statement; writers start their own BEGIN IMMEDIATE).
 * A PostgreSQL read scope opens its transaction lazily: while it runs only
 * plain SELECTs, each goes out with the tenant context in one implicit
 * transaction (no BEGIN, no COMMIT: under READ COMMITTED every statement
 * takes its own snapshot either way); the first statement that may write
 * opens the real transaction, with the context, before it runs.
 * A pl_db_begin inside a scope joins it (see pl_db_begin), so handlers are
 * written the same either way. pl_db_scope_end commits when ok, else rolls
 * back; it returns an error when the commit failed or an inner transaction
 * rolled back. */
int pl_db_scope_begin(pl_db_t *db, bool write);
int pl_db_scope_end(pl_db_t *db, bool ok);

/* Serialises the rest of the open write transaction with every other
 * transaction, on any instance, that locks the same key, until both end
 * (counters whose check and increment must be one step: throttles). On
 * PostgreSQL a transaction-scoped advisory lock on a 64-bit digest of key;
 * on SQLite nothing, since write transactions already exclude each other. */
int pl_db_lock(pl_db_t *db, const char *key);

/* What the open transaction (or the request's scope) has written, and
 * writes until it ends, is committed even when the request ends with an
 * error (pl_db_scope_end with ok false), unless an inner transaction rolled
 * back: for bookkeeping that must outlive a refused request, such as a
 * failed attempt counted before the password was checked. */
void pl_db_keep_on_error(pl_db_t *db);

/* Sets a transaction-local setting that row-level security policies read
 * (PostgreSQL: set_config(key, value, true); a no-op on SQLite). Keys used:
 * app.org_id, app.user_id, app.invitation_token. */
int pl_db_set_context(pl_db_t *db, const char *key, const char *value);

/* pl_db_set_context for the statement about to run when it sets key itself:
 * its SQL selects set_config(key, value, true) (on SQLite a function that
 * only answers the value). The setting then holds for the statements after
 * it as pl_db_set_context's would, without a statement of its own. Only for
 * a statement that row-level security does not filter (the setting is made
 * as its rows are read). */
int pl_db_set_context_by_next(pl_db_t *db, const char *key, const char *value);

/* Ends a write transaction by outcome: commits when rc is PL_OK (returning
 * the commit's error, if any), else rolls back and returns rc. */
int pl_db_finish(pl_db_t *db, int rc);

/* Prepares (or fetches from the cache) a statement for sql. sql must be a
 * string with static storage: the cache keys on its address, then its text.
 * NULL on error. */
pl_stmt_t *pl_db_prepare(pl_db_t *db, const char *sql);

/* A statement for SQL built at run time (from validated names; values are
 * still bound): prepared for this use alone, outside the cache, so the
 * number of distinct texts is unbounded. sql is copied. Use it like a
 * cached statement, then release it with pl_stmt_free (which resets it).
 * On PostgreSQL it is sent with its text each time (no server-side
 * prepared statement to leak). NULL on error. */
pl_stmt_t *pl_db_prepare_once(pl_db_t *db, const char *sql);
void pl_stmt_free(pl_stmt_t *st);

/* Binding by 1-based position. Text is copied. */
int pl_stmt_bind_text(pl_stmt_t *st, int pos, const char *s); /* NULL binds SQL NULL */
int pl_stmt_bind_textn(pl_stmt_t *st, int pos, const char *s, size_t n);
int pl_stmt_bind_int64(pl_stmt_t *st, int pos, int64_t v);
int pl_stmt_bind_bool(pl_stmt_t *st, int pos, bool v);
int pl_stmt_bind_null(pl_stmt_t *st, int pos);

/* Executes (on the first call) and advances. Returns 1 when a row is available,
 * 0 when done, or a negative PL_E* error: PL_ECONFLICT for a unique violation,
 * PL_EFKEY for a foreign-key violation, PL_EBUSY for a lock timeout or
 * serialization failure, PL_EUNAVAILABLE when the database cannot be
 * reached, PL_ENOSPACE when its disk is full, PL_EDB otherwise (the message
 * is logged). A PostgreSQL connection found dead at the start of a
 * transaction (nothing written yet) is replaced and the statement retried. */
int pl_stmt_step(pl_stmt_t *st);

/* Column getters for the current row (0-based). Text is owned by the statement
 * and valid until the next step or reset; NULL for SQL NULL. */
const char *pl_stmt_col_text(pl_stmt_t *st, int col);
int64_t pl_stmt_col_int64(pl_stmt_t *st, int col);
bool pl_stmt_col_bool(pl_stmt_t *st, int col);
bool pl_stmt_col_is_null(pl_stmt_t *st, int col);

/* Clears bindings and results so the statement can be used again. */
void pl_stmt_reset(pl_stmt_t *st);

/* Runs a bound statement whose result nobody reads (a tenant context, a
 * bookkeeping write) and resets it. On PostgreSQL it waits and travels with
 * the next statement that needs an answer, in one pipeline (or with the
 * COMMIT); its error, if any, is then that statement's. On SQLite it runs
 * at once. Returns PL_OK or an error. */
int pl_stmt_defer(pl_stmt_t *st);

/* Asks for the answer of a bound plain SELECT the caller is about to run
 * anyway, early: inside a PostgreSQL read scope that has not written, it
 * travels with the next statement that needs an answer (after it, in the
 * same round trip), and a pl_stmt_step of the same statement with the same
 * binds before the scope ends reads that answer instead of asking again.
 * Anywhere else it only resets st. Never fails: a prefetch that cannot be
 * used is forgotten, and the statement runs as usual. */
void pl_stmt_prefetch(pl_stmt_t *st);

/* Convenience: step once, expect no row (INSERT/UPDATE/DELETE); resets the
 * statement. Returns the number of affected rows (>= 0) or a negative error. */
int pl_stmt_exec(pl_stmt_t *st);

/* Store helpers. PL_PREPARE declares st prepared from sql, returning PL_EDB
 * from the enclosing function when that fails. */
#define PL_PREPARE(st, db, sql)                                                                    \
    pl_stmt_t *st = pl_db_prepare((db), (sql));                                                    \
    if (!st)                                                                                       \
        return PL_EDB;

/* For request handlers: declares db as the calling thread's connection, or
 * returns PL_EUNAVAILABLE (503 with Retry-After) from the enclosing function
 * when the database cannot be reached. */
#define PL_DB_THREAD(db)                                                                           \
    pl_db_t *db = pl_db_thread();                                                                  \
    if (!db)                                                                                       \
        return PL_EUNAVAILABLE;

/* A column's text copied into the arena; with a NULL arena the statement's
 * own text (valid until the next step or reset). NULL for SQL NULL. */
const char *pl_stmt_col_dup(pl_stmt_t *st, pl_arena_t *a, int col);

/* pl_stmt_exec for a change that must hit a row: PL_OK when it did,
 * PL_ENOTFOUND when no row changed, or the error. */
int pl_stmt_exec_found(pl_stmt_t *st);

/* The end of a read of one row, given the step's result (1, 0 or an
 * error): resets st; PL_OK, PL_ENOTFOUND when there was no row, or the
 * error. */
int pl_stmt_one_done(pl_stmt_t *st, int step);

/* The end of a read of rows, given the last step's result: resets st;
 * PL_OK or the error. */
int pl_stmt_list_done(pl_stmt_t *st, int step);

/* For diagnostics only: the last error message on this connection. */
const char *pl_db_errmsg(pl_db_t *db);
/* The name of the constraint behind the last unique violation, when known
 * (PostgreSQL: constraint name; SQLite: "table.column" list); else "". */
const char *pl_db_conflict_detail(pl_db_t *db);

/* True when a simple query succeeds on this connection. */
bool pl_db_ping(pl_db_t *db);
/* True when a write transaction commits on this connection: it stamps the
 * row "readyz" of kv (a disk that is full, a read-only file or a database in
 * recovery or read-only mode fails it). Call it outside any transaction. */
bool pl_db_can_commit(pl_db_t *db);

/* True when the calling thread's last attempt to reach the database failed
 * at the connection (the server is down or unreachable), so a request
 * answers 503 rather than 500. Engines report with pl_db_note_unavailable. */
bool pl_db_unavailable(void);
void pl_db_note_unavailable(bool down);

/* ---- SQLite files (plinth backup and restore) ----
 * A backup is a SQLite file: the database as of one moment, plus the table
 * PL_DB_BACKUP_FILES (name, content) with the data directory's files that
 * go with it (generated keys). Errors are logged; the functions return
 * PL_OK, PL_EINVAL (not a plinth backup, or not SQLite) or PL_EDB. */
#define PL_DB_BACKUP_FILES "plinth_backup_files"

/* Progress of a long copy: done of total units (pages or bytes). */
typedef void (*pl_db_progress_fn)(void *arg, int64_t done, int64_t total);

/* Copies db (a SQLite connection, outside any transaction) into the new
 * file path as one consistent snapshot, while other connections and
 * processes go on writing; fn (may be NULL) hears of each step. */
int pl_db_sqlite_snapshot(pl_db_t *db, const char *path, pl_db_progress_fn fn, void *arg);
/* Adds (or replaces) the file name in the backup at path. */
int pl_db_sqlite_files_put(const char *path, const char *name, const void *data, size_t len);
/* Passes every file of the backup at path to fn, which returns PL_OK to go
 * on (data valid during the call); the first error stops the walk. */
int pl_db_sqlite_files_get(const char *path,
                           int (*fn)(void *arg, const char *name, const void *data, size_t len),
                           void *arg);
/* Drops the files table from path (a restored database keeps no copy). */
int pl_db_sqlite_files_drop(const char *path);
/* PL_OK and the schema version when path is a plinth backup; PL_EINVAL
 * when it is SQLite but not a backup, PL_EDB when it cannot be read. */
int pl_db_sqlite_file_check(const char *path, int64_t *version);

/* Cross-instance wake-ups. pl_db_notify queues a notification on channel
 * with an optional short payload (NULL: "") inside the caller's transaction,
 * delivered at commit (PostgreSQL NOTIFY; a no-op on SQLite, where one
 * process holds the database and wakes its own threads).
 * pl_db_listen registers cb for channel (an identifier of [a-z0-9_]); up to
 * 16 channels per process, registered before pl_db_listen_start, which
 * starts one thread with its own connection LISTENing on all of them
 * (PostgreSQL only; PL_OK and nothing on SQLite). cb runs on that thread
 * with the payload, or with NULL after a reconnect, when notifications may
 * have been missed. pl_db_listen_stop ends the thread. */
int pl_db_notify(pl_db_t *db, const char *channel, const char *payload);
int pl_db_listen(const char *channel, void (*cb)(const char *payload));
int pl_db_listen_start(void);
void pl_db_listen_stop(void);

/* Migrations (migrate.c). Applies every embedded migration newer than the
 * database's, each in its own transaction, serialised across processes.
 * Returns PL_OK or an error (the database is left at the last good version);
 * PL_EINVAL when the database is newer than the binary. Call outside a
 * transaction. Migration files must not contain BEGIN/COMMIT. */
int pl_db_migrate(pl_db_t *db);
/* PL_OK when the database is at the binary's latest migration version;
 * PL_EINVAL when it is newer, PL_EDB when older, unmigrated or unreadable. */
int pl_db_migrations_current(pl_db_t *db);
/* Latest migration version embedded in the binary. */
int pl_db_schema_version(void);

/* ---- Engine interface: for the files in src/db, which define PL_DB_ENGINE. ----
 * db.c owns the connection, the statement cache and error bookkeeping; an
 * engine (sqlite.c, pg.c) fills in one table of these functions, like curl's
 * connection filters. Feature code never sees this. */
#ifdef PL_DB_ENGINE

enum { PL_TX_NONE = 0, PL_TX_ACTIVE = 1, PL_TX_FAILED = 2 };

typedef struct pl_db_ops {
    const char *name;
    const char *begin_sql; /* write transaction */
    /* a request's read scope (pl_db_scope_begin); NULL: begin_read */
    const char *begin_lazy_sql;
    /* Opens db->conn per the configuration; logs and returns an error. */
    int (*open)(pl_db_t *db, const pl_db_config_t *cfg);
    /* Closes db->conn; every statement has been finalized already. */
    void (*close)(pl_db_t *db);
    int (*tx_status)(pl_db_t *db); /* PL_TX_* */
    int (*exec)(pl_db_t *db, const char *sql);
    /* Creates st->impl for st->sql; returns an error with st->impl NULL. */
    int (*prepare)(pl_stmt_t *st);
    void (*finalize)(pl_stmt_t *st); /* frees st->impl */
    int (*bind_text)(pl_stmt_t *st, int pos, const char *s, size_t n);
    int (*bind_int64)(pl_stmt_t *st, int pos, int64_t v);
    int (*bind_bool)(pl_stmt_t *st, int pos, bool v);
    int (*bind_null)(pl_stmt_t *st, int pos);
    int (*step)(pl_stmt_t *st);
    /* Column getters; the caller has checked that a row is current. */
    const char *(*col_text)(pl_stmt_t *st, int col);
    int64_t (*col_int64)(pl_stmt_t *st, int col);
    bool (*col_bool)(pl_stmt_t *st, int col);
    bool (*col_is_null)(pl_stmt_t *st, int col);
    void (*reset)(pl_stmt_t *st);
    int64_t (*changes)(pl_stmt_t *st); /* rows affected by the last completed run */
    /* Optional: queues a bound statement (pl_stmt_defer); NULL runs it now. */
    int (*defer)(pl_stmt_t *st);
    /* Optional: queues a bound context setting that the next statement makes
     * itself (pl_db_set_context_by_next); NULL: defer runs it. */
    int (*defer_applied)(pl_stmt_t *st);
    /* Optional: pl_stmt_prefetch; NULL: prefetching does nothing. */
    void (*prefetch)(pl_stmt_t *st);
} pl_db_ops_t;

struct pl_db {
    const pl_db_ops_t *ops;
    void *conn;          /* sqlite3 * or PGconn * */
    bool broken;         /* set by the engine; pl_db_thread reconnects */
    int depth;           /* open begins: the outermost is real, inner ones join it */
    bool rollback_only;  /* an inner transaction rolled back: the outer cannot commit */
    bool keep_on_error;  /* pl_db_keep_on_error: the scope commits even on a failure */
    bool holds_writer;   /* SQLite: this connection holds the process's writer turn */
    unsigned stmt_seq;   /* PostgreSQL prepared statement names */
    pl_stmt_t **buckets; /* statement cache, chained by SQL text hash */
    pl_stmt_t **by_addr; /* the same, the last one seen per SQL address slot */
    unsigned nstmts;
    char errmsg[256];
    char conflict[128];
};

struct pl_stmt {
    pl_db_t *db;
    const char *sql; /* the caller's static string: the cache key */
    uint32_t hash;
    pl_stmt_t *next; /* hash chain */
    void *impl;      /* engine statement; NULL until (re)prepared */
    bool has_row;    /* the last step returned a row */
    bool done;       /* the last step returned 0; stays so until a reset */
    bool oneshot;    /* pl_db_prepare_once: not cached, sql owned */
};

extern const pl_db_ops_t pl_db_sqlite_ops;
extern const pl_db_ops_t pl_db_pg_ops;

/* Records an error on db (message, conflict detail), logs it unless it is an
 * expected constraint violation, and returns code. msg must hold no bound
 * values; sql (may be NULL) is logged truncated. */
int pl_db_fail(pl_db_t *db, int code, const char *msg, const char *detail, const char *sql);

/* pg.c's notification listener, behind pl_db_listen*. */
int pl_db_pg_listen_add(const char *channel, void (*cb)(const char *payload));
int pl_db_pg_listen_start(const pl_db_config_t *cfg);
void pl_db_pg_listen_stop(void);

#endif /* PL_DB_ENGINE */

#endif
