/* db.c - the engine-independent half of the database layer: configuration,
 * one connection per thread, the per-connection statement cache, transactions
 * and error bookkeeping. Engines plug in through pl_db_ops_t (db.h). */
#define PL_DB_ENGINE
#include "db/db.h"

#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/crypto.h"

/* Statements are keyed by static SQL text, so the cache only grows to the
 * number of distinct statements in the program; the cap catches SQL built at
 * run time, which would otherwise grow it without bound. */
#define CACHE_BUCKETS 256
#define CACHE_MAX     2048
#define ADDR_SLOTS    512 /* pl_db_t.by_addr */

static pl_db_config_t config;
static bool configured;

static __thread pl_db_t *thread_db;
static __thread bool thread_unavailable;

bool pl_db_unavailable(void)
{
    return thread_unavailable;
}

void pl_db_note_unavailable(bool down)
{
    thread_unavailable = down;
}
static pthread_key_t thread_key;
static pthread_once_t thread_key_once = PTHREAD_ONCE_INIT;

void pl_db_configure(const pl_db_config_t *cfg)
{
    config = *cfg;
    if (config.busy_timeout_ms <= 0)
        config.busy_timeout_ms = 5000;
    configured = true;
}

pl_db_engine_t pl_db_engine(void)
{
    return config.engine;
}

int pl_db_fail(pl_db_t *db, int code, const char *msg, const char *detail, const char *sql)
{
    snprintf(db->errmsg, sizeof(db->errmsg), "%s", msg ? msg : "unknown error");
    snprintf(db->conflict, sizeof(db->conflict), "%s",
             code == PL_ECONFLICT && detail ? detail : "");
    /* Constraint violations are the client's doing (409/422), not ours. */
    if (code == PL_ECONFLICT || code == PL_EFKEY)
        return code;
    if (sql)
        pl_log(code == PL_EBUSY ? "warn" : "error", "%s: %s (sql: %.120s)", db->ops->name,
               db->errmsg, sql);
    else
        pl_log(code == PL_EBUSY ? "warn" : "error", "%s: %s", db->ops->name, db->errmsg);
    return code;
}

/* ---- Connections ---- */

static const pl_db_ops_t *engine_ops(pl_db_engine_t engine)
{
    switch (engine) {
    case PL_DB_SQLITE:
        return &pl_db_sqlite_ops;
    case PL_DB_POSTGRES:
        return &pl_db_pg_ops;
    }
    return NULL;
}

/* Frees every engine statement; the pl_stmt_t objects stay when keep is set,
 * so pointers callers hold remain valid across a reconnect. */
static void cache_drop(pl_db_t *db, bool keep)
{
    for (unsigned i = 0; i < CACHE_BUCKETS; i++) {
        pl_stmt_t *st = db->buckets[i];
        while (st) {
            pl_stmt_t *next = st->next;
            if (st->impl)
                db->ops->finalize(st);
            st->impl = NULL;
            st->has_row = false;
            st->done = false;
            if (!keep)
                free(st);
            st = next;
        }
        if (!keep)
            db->buckets[i] = NULL;
    }
    if (!keep) {
        db->nstmts = 0;
        memset(db->by_addr, 0, ADDR_SLOTS * sizeof(*db->by_addr));
    }
}

int pl_db_open(pl_db_t **out)
{
    pl_db_t *db = NULL;
    int rc = PL_EINTERNAL;

    *out = NULL;
    if (!configured || !engine_ops(config.engine)) {
        pl_log("error", "database: pl_db_open before pl_db_configure");
        goto out;
    }
    db = pl_xcalloc(1, sizeof(*db));
    db->ops = engine_ops(config.engine);
    db->buckets = pl_xcalloc(CACHE_BUCKETS, sizeof(*db->buckets));
    db->by_addr = pl_xcalloc(ADDR_SLOTS, sizeof(*db->by_addr));
    rc = db->ops->open(db, &config);
    if (rc)
        goto out;
    *out = db;
    db = NULL;
out:
    if (db) {
        free(db->buckets);
        free(db->by_addr);
        free(db);
    }
    return rc;
}

static int real_rollback(pl_db_t *db);

void pl_db_close(pl_db_t *db)
{
    if (!db)
        return;
    if (db->depth > 0)
        real_rollback(db); /* also gives back the SQLite writer turn */
    cache_drop(db, false);
    if (db->conn)
        db->ops->close(db);
    free(db->buckets);
    free(db->by_addr);
    free(db);
}

/* Replaces a broken connection in place: the pl_db_t and its pl_stmt_t
 * objects survive (callers may hold them), the engine statements are
 * re-prepared lazily on the new connection. */
static int reconnect(pl_db_t *db)
{
    cache_drop(db, true);
    if (db->conn)
        db->ops->close(db);
    db->conn = NULL;
    db->broken = false;
    db->depth = 0;
    db->rollback_only = false;
    int rc = db->ops->open(db, &config);
    if (rc)
        db->broken = true;
    else
        pl_log("info", "%s: reconnected", db->ops->name);
    return rc;
}

static void thread_db_destroy(void *p)
{
    pl_db_close(p);
    thread_db = NULL;
}

static void thread_key_create(void)
{
    if (pthread_key_create(&thread_key, thread_db_destroy) != 0)
        abort();
}

pl_db_t *pl_db_thread(void)
{
    if (thread_db) {
        if (thread_db->broken && reconnect(thread_db))
            return NULL;
        return thread_db;
    }
    pthread_once(&thread_key_once, thread_key_create);
    pl_db_t *db;
    if (pl_db_open(&db))
        return NULL;
    /* The key's destructor closes the connection when an MHD worker exits;
     * the __thread pointer is the fast path. */
    pthread_setspecific(thread_key, db);
    thread_db = db;
    return db;
}

void pl_db_thread_close(void)
{
    if (!thread_db)
        return;
    pl_db_close(thread_db);
    thread_db = NULL;
    pthread_setspecific(thread_key, NULL);
}

int pl_db_exec(pl_db_t *db, const char *sql)
{
    return db->ops->exec(db, sql);
}

const char *pl_db_errmsg(pl_db_t *db)
{
    return db->errmsg;
}

const char *pl_db_conflict_detail(pl_db_t *db)
{
    return db->conflict;
}

bool pl_db_ping(pl_db_t *db)
{
    return db && !db->broken && db->conn && db->ops->exec(db, "SELECT 1") == PL_OK;
}

static const char sql_commit_probe[] =
    "INSERT INTO kv (key, value, updated_at) VALUES ('readyz', '', $1) ON CONFLICT (key) DO "
    "UPDATE SET updated_at = excluded.updated_at";

bool pl_db_can_commit(pl_db_t *db)
{
    if (!db || pl_db_in_tx(db) || pl_db_begin(db))
        return false;
    pl_stmt_t *st = pl_db_prepare(db, sql_commit_probe);
    int rc = st ? PL_OK : PL_EDB;
    if (st) {
        pl_stmt_bind_int64(st, 1, pl_now_ms());
        rc = pl_stmt_exec(st);
    }
    return pl_db_finish(db, rc < 0 ? rc : PL_OK) == PL_OK;
}

/* ---- Transactions ---- */

/* Transaction control. On SQLite these go through the statement cache:
 * sqlite3_exec would parse the text again on every request. */
static int tx_exec(pl_db_t *db, const char *sql)
{
    if (db->ops != &pl_db_sqlite_ops)
        return db->ops->exec(db, sql);
    pl_stmt_t *st = pl_db_prepare(db, sql);
    if (!st)
        return PL_EDB;
    int rc = pl_stmt_step(st);
    pl_stmt_reset(st);
    return rc < 0 ? rc : PL_OK;
}

/* SQLite has one writer at a time per database. Writers of this process
 * queue on a mutex before BEGIN IMMEDIATE instead of polling the file lock
 * through the busy handler, whose sleeps make write latency unfair under
 * load. Readers never take it. */
static pthread_mutex_t sqlite_writer = PTHREAD_MUTEX_INITIALIZER;

static void release_writer(pl_db_t *db)
{
    if (db->holds_writer) {
        db->holds_writer = false;
        pthread_mutex_unlock(&sqlite_writer);
    }
}

static int begin(pl_db_t *db, const char *sql)
{
    if (db->depth > 0) {
        db->depth++; /* join the open transaction */
        return PL_OK;
    }
    /* PostgreSQL only warns on a nested BEGIN; make it an error on both. */
    if (db->ops->tx_status(db) != PL_TX_NONE)
        return pl_db_fail(db, PL_EINTERNAL, "transaction already open", NULL, NULL);
    if (db->ops == &pl_db_sqlite_ops && sql == db->ops->begin_sql) {
        pthread_mutex_lock(&sqlite_writer);
        db->holds_writer = true;
    }
    int rc = tx_exec(db, sql);
    if (rc == PL_OK) {
        db->depth = 1;
        db->rollback_only = false;
        db->keep_on_error = false;
    } else {
        release_writer(db);
    }
    return rc;
}

int pl_db_begin(pl_db_t *db)
{
    return begin(db, db->ops->begin_sql);
}

int pl_db_begin_read(pl_db_t *db)
{
    return begin(db, "BEGIN");
}

static int real_rollback(pl_db_t *db)
{
    db->depth = 0;
    db->rollback_only = false;
    int rc = db->ops->tx_status(db) == PL_TX_NONE ? PL_OK : tx_exec(db, "ROLLBACK");
    release_writer(db);
    return rc;
}

int pl_db_commit(pl_db_t *db)
{
    if (db->depth > 1) {
        db->depth--;
        return db->rollback_only ? PL_EDB : PL_OK;
    }
    if (db->rollback_only) {
        real_rollback(db);
        return pl_db_fail(db, PL_EDB, "commit after an inner rollback", NULL, NULL);
    }
    db->depth = 0;
    switch (db->ops->tx_status(db)) {
    case PL_TX_NONE:
        release_writer(db);
        return pl_db_fail(db, PL_EINTERNAL, "commit without a transaction", NULL, NULL);
    case PL_TX_FAILED:
        /* PostgreSQL answers COMMIT of an aborted transaction with a silent
         * ROLLBACK; a caller that ignored an error must not think it wrote. */
        db->ops->exec(db, "ROLLBACK");
        return pl_db_fail(db, PL_EDB, "commit of a failed transaction", NULL, NULL);
    }
    int rc = tx_exec(db, "COMMIT");
    if (rc != PL_OK)
        real_rollback(db); /* never leave a half-ended transaction behind */
    release_writer(db);
    return rc;
}

int pl_db_rollback(pl_db_t *db)
{
    if (db->depth > 1) {
        db->depth--;
        db->rollback_only = true;
        return PL_OK;
    }
    return real_rollback(db);
}

int pl_db_scope_begin(pl_db_t *db, bool write)
{
    if (pl_db_engine() == PL_DB_SQLITE)
        return write ? PL_OK : pl_db_begin_read(db);
    if (!write && db->ops->begin_lazy_sql)
        return begin(db, db->ops->begin_lazy_sql);
    return pl_db_begin_read(db);
}

int pl_db_scope_end(pl_db_t *db, bool ok)
{
    if (db->depth == 0)
        return PL_OK; /* no scope was opened (SQLite writes) */
    if (db->depth > 1) {
        /* a handler left a transaction open: a bug; never commit half of it */
        pl_log("error", "db: request ended with %d open transactions", db->depth - 1);
        return real_rollback(db) == PL_OK ? PL_EINTERNAL : PL_EDB;
    }
    if (!ok && !db->keep_on_error)
        return real_rollback(db);
    int rc = pl_db_commit(db);
    return ok ? rc : PL_OK; /* a failed request's answer stands either way */
}

static const char sql_lock_key[] = "SELECT pg_advisory_xact_lock($1)";

int pl_db_lock(pl_db_t *db, const char *key)
{
    if (pl_db_engine() != PL_DB_POSTGRES)
        return PL_OK;
    unsigned char digest[32];
    int64_t k;
    pl_sha256(key, strlen(key), digest);
    memcpy(&k, digest, sizeof(k));
    pl_stmt_t *st = pl_db_prepare(db, sql_lock_key);
    if (!st)
        return PL_EDB;
    pl_stmt_bind_int64(st, 1, k);
    int rc = pl_stmt_step(st);
    pl_stmt_reset(st);
    return rc < 0 ? rc : PL_OK;
}

void pl_db_keep_on_error(pl_db_t *db)
{
    if (db->depth > 0)
        db->keep_on_error = true;
}

static const char sql_set_context[] = "SELECT set_config($1, $2, true)";

int pl_db_set_context(pl_db_t *db, const char *key, const char *value)
{
    if (pl_db_engine() != PL_DB_POSTGRES)
        return PL_OK;
    pl_stmt_t *st = pl_db_prepare(db, sql_set_context);
    if (!st)
        return PL_EDB;
    pl_stmt_bind_text(st, 1, key);
    pl_stmt_bind_text(st, 2, value);
    /* nobody reads the answer: it travels with the next statement */
    return pl_stmt_defer(st);
}

int pl_db_set_context_by_next(pl_db_t *db, const char *key, const char *value)
{
    if (pl_db_engine() != PL_DB_POSTGRES)
        return PL_OK;
    if (!db->ops->defer_applied)
        return pl_db_set_context(db, key, value);
    pl_stmt_t *st = pl_db_prepare(db, sql_set_context);
    if (!st)
        return PL_EDB;
    pl_stmt_bind_text(st, 1, key);
    pl_stmt_bind_text(st, 2, value);
    int rc = db->ops->defer_applied(st);
    pl_stmt_reset(st);
    return rc;
}

int pl_db_finish(pl_db_t *db, int rc)
{
    if (rc == PL_OK)
        return pl_db_commit(db);
    pl_db_rollback(db);
    return rc;
}

bool pl_db_in_tx(pl_db_t *db)
{
    return db->ops->tx_status(db) != PL_TX_NONE;
}

/* ---- Statement cache ---- */

static uint32_t sql_hash(const char *s)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

static pl_stmt_t *prepare_new(pl_db_t *db, const char *sql, uint32_t h, pl_stmt_t **fast)
{
    if (db->nstmts >= CACHE_MAX) {
        pl_db_fail(db, PL_EINTERNAL, "statement cache full (SQL built at run time?)", NULL, sql);
        return NULL;
    }
    pl_stmt_t *st = pl_xcalloc(1, sizeof(*st));
    st->db = db;
    st->sql = sql;
    st->hash = h;
    if (db->ops->prepare(st)) {
        free(st);
        return NULL;
    }
    pl_stmt_t **bucket = &db->buckets[h % CACHE_BUCKETS];
    st->next = *bucket;
    *bucket = st;
    db->nstmts++;
    *fast = st;
    return st;
}

/* The slot of a statement's SQL in pl_db_t.by_addr: the callers' strings
 * are static, so their address names them (as the text does in buckets). */
static unsigned addr_slot(const char *sql)
{
    uintptr_t a = (uintptr_t)sql;
    return (unsigned)((a >> 3) ^ (a >> 12)) % ADDR_SLOTS;
}

pl_stmt_t *pl_db_prepare(pl_db_t *db, const char *sql)
{
    pl_stmt_t **fast = &db->by_addr[addr_slot(sql)];
    pl_stmt_t *st = *fast;
    if (!st || st->sql != sql) {
        /* not the last statement of this slot: by its text (hashing a
         * statement's text on every call was 3% of a request) */
        uint32_t h = sql_hash(sql);
        for (st = db->buckets[h % CACHE_BUCKETS]; st; st = st->next)
            if (st->sql == sql || (st->hash == h && strcmp(st->sql, sql) == 0))
                break;
        if (!st)
            return prepare_new(db, sql, h, fast);
        *fast = st;
    }
    if (!st->impl) /* after a reconnect */
        return db->ops->prepare(st) ? NULL : st;
    if (st->has_row)
        pl_log("warn", "%s: statement reused without pl_stmt_reset (sql: %.120s)", db->ops->name,
               sql);
    pl_stmt_reset(st);
    return st;
}

pl_stmt_t *pl_db_prepare_once(pl_db_t *db, const char *sql)
{
    pl_stmt_t *st = pl_xcalloc(1, sizeof(*st));
    st->db = db;
    st->sql = pl_xstrdup(sql);
    st->hash = sql_hash(sql);
    st->oneshot = true;
    if (db->ops->prepare(st)) {
        free((char *)st->sql);
        free(st);
        return NULL;
    }
    return st;
}

void pl_stmt_free(pl_stmt_t *st)
{
    if (!st)
        return;
    pl_stmt_reset(st);
    if (st->impl)
        st->db->ops->finalize(st);
    free((char *)st->sql);
    free(st);
}

/* A statement whose engine half died with its connection is re-prepared on
 * first use; binds made before that are lost, which only happens when a
 * caller keeps a statement across pl_db_thread calls. */
static int stmt_ready(pl_stmt_t *st)
{
    if (st->impl)
        return PL_OK;
    if (!st->db->conn)
        return pl_db_fail(st->db, PL_EDB, "no connection", NULL, st->sql);
    return st->db->ops->prepare(st);
}

static int bind_check(pl_stmt_t *st, int pos)
{
    if (pos < 1)
        return pl_db_fail(st->db, PL_EINTERNAL, "bind position < 1", NULL, st->sql);
    return stmt_ready(st);
}

int pl_stmt_bind_text(pl_stmt_t *st, int pos, const char *s)
{
    if (!s)
        return pl_stmt_bind_null(st, pos);
    return pl_stmt_bind_textn(st, pos, s, strlen(s));
}

int pl_stmt_bind_textn(pl_stmt_t *st, int pos, const char *s, size_t n)
{
    int rc = bind_check(st, pos);
    if (rc)
        return rc;
    if (!s)
        return st->db->ops->bind_null(st, pos);
    if (n > INT_MAX)
        return pl_db_fail(st->db, PL_EINTERNAL, "bound text too long", NULL, st->sql);
    return st->db->ops->bind_text(st, pos, s, n);
}

int pl_stmt_bind_int64(pl_stmt_t *st, int pos, int64_t v)
{
    int rc = bind_check(st, pos);
    return rc ? rc : st->db->ops->bind_int64(st, pos, v);
}

int pl_stmt_bind_bool(pl_stmt_t *st, int pos, bool v)
{
    int rc = bind_check(st, pos);
    return rc ? rc : st->db->ops->bind_bool(st, pos, v);
}

int pl_stmt_bind_null(pl_stmt_t *st, int pos)
{
    int rc = bind_check(st, pos);
    return rc ? rc : st->db->ops->bind_null(st, pos);
}

int pl_stmt_step(pl_stmt_t *st)
{
    /* SQLite would silently start the statement over after SQLITE_DONE. */
    if (st->done)
        return 0;
    int rc = stmt_ready(st);
    if (rc)
        return rc;
    rc = st->db->ops->step(st);
    st->has_row = rc == 1;
    st->done = rc == 0;
    return rc;
}

const char *pl_stmt_col_text(pl_stmt_t *st, int col)
{
    return st->has_row && col >= 0 ? st->db->ops->col_text(st, col) : NULL;
}

int64_t pl_stmt_col_int64(pl_stmt_t *st, int col)
{
    return st->has_row && col >= 0 ? st->db->ops->col_int64(st, col) : 0;
}

bool pl_stmt_col_bool(pl_stmt_t *st, int col)
{
    return st->has_row && col >= 0 ? st->db->ops->col_bool(st, col) : false;
}

bool pl_stmt_col_is_null(pl_stmt_t *st, int col)
{
    return st->has_row && col >= 0 ? st->db->ops->col_is_null(st, col) : true;
}

void pl_stmt_reset(pl_stmt_t *st)
{
    if (!st)
        return;
    st->has_row = false;
    st->done = false;
    if (st->impl)
        st->db->ops->reset(st);
}

int pl_stmt_defer(pl_stmt_t *st)
{
    int rc = stmt_ready(st);
    if (rc)
        return rc;
    if (st->db->ops->defer) {
        st->has_row = false;
        st->done = false;
        rc = st->db->ops->defer(st);
        pl_stmt_reset(st);
        return rc;
    }
    while ((rc = pl_stmt_step(st)) == 1)
        ;
    pl_stmt_reset(st);
    return rc < 0 ? rc : PL_OK;
}

int pl_stmt_one_done(pl_stmt_t *st, int step)
{
    pl_stmt_reset(st);
    return step == 1 ? PL_OK : step == 0 ? PL_ENOTFOUND : step;
}

int pl_stmt_list_done(pl_stmt_t *st, int step)
{
    pl_stmt_reset(st);
    return step < 0 ? step : PL_OK;
}

void pl_stmt_prefetch(pl_stmt_t *st)
{
    if (st && st->impl && !st->has_row && !st->done && st->db->ops->prefetch)
        st->db->ops->prefetch(st);
    pl_stmt_reset(st);
}

int pl_stmt_exec(pl_stmt_t *st)
{
    int rc;
    /* Drain rows so INSERT ... RETURNING counts like a plain INSERT. */
    while ((rc = pl_stmt_step(st)) == 1)
        ;
    if (rc == 0) {
        int64_t n = st->db->ops->changes(st);
        rc = n > INT_MAX ? INT_MAX : (int)n;
    }
    pl_stmt_reset(st);
    return rc;
}

/* ---- Notifications ---- */

static const char sql_notify[] = "SELECT pg_notify($1, $2)";

int pl_db_notify(pl_db_t *db, const char *channel, const char *payload)
{
    if (config.engine != PL_DB_POSTGRES)
        return PL_OK;
    pl_stmt_t *st = pl_db_prepare(db, sql_notify);
    if (!st)
        return PL_EDB;
    pl_stmt_bind_text(st, 1, channel);
    pl_stmt_bind_text(st, 2, payload ? payload : "");
    int rc = pl_stmt_step(st);
    pl_stmt_reset(st);
    return rc < 0 ? rc : PL_OK;
}

int pl_db_listen(const char *channel, void (*cb)(const char *payload))
{
    if (config.engine != PL_DB_POSTGRES)
        return PL_OK;
    return pl_db_pg_listen_add(channel, cb);
}

int pl_db_listen_start(void)
{
    if (config.engine != PL_DB_POSTGRES)
        return PL_OK;
    return pl_db_pg_listen_start(&config);
}

void pl_db_listen_stop(void)
{
    if (config.engine == PL_DB_POSTGRES)
        pl_db_pg_listen_stop();
}

/* ---- Store helpers ---- */

const char *pl_stmt_col_dup(pl_stmt_t *st, pl_arena_t *a, int col)
{
    const char *s = pl_stmt_col_text(st, col);
    return s && a ? pl_arena_strdup(a, s) : s;
}

int pl_stmt_exec_found(pl_stmt_t *st)
{
    int rc = pl_stmt_exec(st);
    return rc < 0 ? rc : rc == 0 ? PL_ENOTFOUND : PL_OK;
}
