/* pg.c - the PostgreSQL engine over libpq: db->conn is a PGconn *, st->impl a
 * pg_stmt_t. Statements are prepared server-side under per-connection names
 * ("s1", "s2", ...); every parameter travels as text with no declared type,
 * so the server infers it. A result is fetched whole on the first step. */
#define PL_DB_ENGINE
#include "db/db.h"

#include <errno.h>
#include <libpq-fe.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char name[16];
    int nparams;
    char **values; /* nparams entries, owned; NULL binds SQL NULL */
    PGresult *res; /* NULL until the first step */
    int row;       /* current row; -1 before the first */
    int nrows;
} pg_stmt_t;

static void note_broken(pl_db_t *db)
{
    /* Prepared statements die with the connection; pl_db_thread reconnects
     * and re-prepares. */
    if (PQstatus(db->conn) != CONNECTION_OK)
        db->broken = true;
}

/* Maps a failed result (res may be NULL) to PL_E*. The logged message is the
 * primary text only: the DETAIL of a unique violation quotes the row. */
static int map_error(pl_db_t *db, const PGresult *res, const char *sql)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    const char *detail = NULL;
    int code = PL_EDB;
    char buf[200];

    note_broken(db);
    if (!state)
        state = "";
    if (!msg) {
        /* Connection-level failure; libpq's text ends with a newline. */
        msg = PQerrorMessage(db->conn);
        if (!msg || !*msg)
            msg = "unknown error";
    }
    if (strcmp(state, "23505") == 0) {
        code = PL_ECONFLICT;
        detail = PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME);
    } else if (strcmp(state, "23503") == 0) {
        code = PL_EFKEY;
    } else if (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0 ||
               strcmp(state, "55P03") == 0) {
        code = PL_EBUSY;
    } else if (strncmp(state, "22", 2) == 0) {
        /* Data exceptions quote the offending value ("invalid input syntax
         * for type bigint: ..."); bound values are never logged. */
        msg = "data exception";
    }
    size_t n = strcspn(msg, "\n"); /* libpq's own messages end in a newline */
    if (*state)
        snprintf(buf, sizeof(buf), "%.*s [%s]", (int)n, msg, state);
    else
        snprintf(buf, sizeof(buf), "%.*s", (int)n, msg);
    return pl_db_fail(db, code, buf, detail ? detail : "", sql);
}

static int pq_exec(pl_db_t *db, const char *sql)
{
    int rc = PL_OK;
    PGresult *res = PQexec(db->conn, sql);
    ExecStatusType s = PQresultStatus(res);
    if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK)
        rc = map_error(db, res, sql);
    PQclear(res);
    return rc;
}

static void notice(void *arg, const char *message)
{
    PL_UNUSED(arg);
    size_t n = strlen(message);
    if (n && message[n - 1] == '\n')
        n--;
    pl_log("warn", "postgres: %.*s", (int)n, message);
}

static int pq_open(pl_db_t *db, const pl_db_config_t *cfg)
{
    PGconn *conn = PQconnectdb(cfg->pg_url ? cfg->pg_url : "");
    int rc = PL_EDB;

    if (PQstatus(conn) != CONNECTION_OK) {
        const char *msg = PQerrorMessage(conn);
        size_t n = strlen(msg);
        if (n && msg[n - 1] == '\n')
            n--;
        pl_log("error", "postgres: cannot connect: %.*s", (int)n, msg);
        goto out;
    }
    /* libpq prints notices on stderr by default, which is our JSON log. */
    PQsetNoticeProcessor(conn, notice, NULL);
    db->conn = conn;
    rc = pq_exec(db, "SET application_name = 'plinth'; SET client_min_messages = warning");
    if (rc) {
        db->conn = NULL;
        goto out;
    }
    conn = NULL;
out:
    PQfinish(conn);
    return rc;
}

static void pq_close(pl_db_t *db)
{
    PQfinish(db->conn);
    db->conn = NULL;
}

static int pq_tx_status(pl_db_t *db)
{
    switch (PQtransactionStatus(db->conn)) {
    case PQTRANS_ACTIVE:
    case PQTRANS_INTRANS:
        return PL_TX_ACTIVE;
    case PQTRANS_INERROR:
        return PL_TX_FAILED;
    default:
        return PL_TX_NONE;
    }
}

static int pq_prepare(pl_stmt_t *st)
{
    pl_db_t *db = st->db;
    pg_stmt_t *ps = NULL;
    PGresult *res = NULL;
    int rc = PL_EDB;

    ps = pl_xcalloc(1, sizeof(*ps));
    ps->row = -1;
    snprintf(ps->name, sizeof(ps->name), "s%u", ++db->stmt_seq);
    res = PQprepare(db->conn, ps->name, st->sql, 0, NULL);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        rc = map_error(db, res, st->sql);
        goto out;
    }
    PQclear(res);
    /* The parameter count sizes the value array and catches binds to a
     * position the SQL does not have. */
    res = PQdescribePrepared(db->conn, ps->name);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        rc = map_error(db, res, st->sql);
        goto out;
    }
    ps->nparams = PQnparams(res);
    if (ps->nparams > 0)
        ps->values = pl_xcalloc((size_t)ps->nparams, sizeof(*ps->values));
    st->impl = ps;
    ps = NULL;
    rc = PL_OK;
out:
    PQclear(res);
    free(ps);
    return rc;
}

static void clear_values(pg_stmt_t *ps)
{
    for (int i = 0; i < ps->nparams; i++) {
        free(ps->values[i]);
        ps->values[i] = NULL;
    }
}

static void pq_reset(pl_stmt_t *st)
{
    pg_stmt_t *ps = st->impl;
    clear_values(ps);
    PQclear(ps->res);
    ps->res = NULL;
    ps->row = -1;
    ps->nrows = 0;
}

static void pq_finalize(pl_stmt_t *st)
{
    pg_stmt_t *ps = st->impl;
    /* No DEALLOCATE: statements live as long as their connection, and this
     * runs only when the connection is being closed or replaced. */
    pq_reset(st);
    free(ps->values);
    free(ps);
    st->impl = NULL;
}

static int set_value(pl_stmt_t *st, int pos, char *v)
{
    pg_stmt_t *ps = st->impl;
    if (pos > ps->nparams) {
        free(v);
        return pl_db_fail(st->db, PL_EINTERNAL, "bind position not in statement", NULL, st->sql);
    }
    free(ps->values[pos - 1]);
    ps->values[pos - 1] = v;
    return PL_OK;
}

static int pq_bind_text(pl_stmt_t *st, int pos, const char *s, size_t n)
{
    return set_value(st, pos, pl_xstrndup(s, n));
}

static int pq_bind_int64(pl_stmt_t *st, int pos, int64_t v)
{
    char buf[24];
    snprintf(buf, sizeof(buf), "%lld", (long long)v);
    return set_value(st, pos, pl_xstrdup(buf));
}

static int pq_bind_bool(pl_stmt_t *st, int pos, bool v)
{
    return set_value(st, pos, pl_xstrdup(v ? "true" : "false"));
}

static int pq_bind_null(pl_stmt_t *st, int pos)
{
    return set_value(st, pos, NULL);
}

static int pq_step(pl_stmt_t *st)
{
    pg_stmt_t *ps = st->impl;

    if (!ps->res) {
        PGresult *res = PQexecPrepared(st->db->conn, ps->name, ps->nparams,
                                       (const char *const *)ps->values, NULL, NULL, 0);
        ExecStatusType s = PQresultStatus(res);
        if (s != PGRES_TUPLES_OK && s != PGRES_COMMAND_OK) {
            int rc = map_error(st->db, res, st->sql);
            PQclear(res);
            return rc;
        }
        ps->res = res;
        ps->nrows = s == PGRES_TUPLES_OK ? PQntuples(res) : 0;
        ps->row = -1;
    }
    if (ps->row < ps->nrows)
        ps->row++;
    return ps->row < ps->nrows ? 1 : 0;
}

static const char *value(pl_stmt_t *st, int col)
{
    pg_stmt_t *ps = st->impl;
    if (!ps->res || ps->row < 0 || ps->row >= ps->nrows || col >= PQnfields(ps->res) ||
        PQgetisnull(ps->res, ps->row, col))
        return NULL;
    return PQgetvalue(ps->res, ps->row, col);
}

static const char *pq_col_text(pl_stmt_t *st, int col)
{
    return value(st, col);
}

static int64_t pq_col_int64(pl_stmt_t *st, int col)
{
    const char *v = value(st, col);
    if (!v)
        return 0;
    char *end;
    errno = 0;
    long long n = strtoll(v, &end, 10);
    if (errno || end == v || *end) {
        pl_log("error", "postgres: column %d is not an integer (sql: %.120s)", col, st->sql);
        return 0;
    }
    return n;
}

static bool pq_col_bool(pl_stmt_t *st, int col)
{
    const char *v = value(st, col);
    return v && (strcmp(v, "t") == 0 || strcmp(v, "true") == 0 || strcmp(v, "1") == 0);
}

static bool pq_col_is_null(pl_stmt_t *st, int col)
{
    return value(st, col) == NULL;
}

static int64_t pq_changes(pl_stmt_t *st)
{
    pg_stmt_t *ps = st->impl;
    const char *s = ps->res ? PQcmdTuples(ps->res) : "";
    char *end;
    errno = 0;
    long long n = strtoll(s, &end, 10);
    return errno || end == s || n < 0 ? 0 : n;
}

const pl_db_ops_t pl_db_pg_ops = {
    .name = "postgres",
    .begin_sql = "BEGIN",
    .open = pq_open,
    .close = pq_close,
    .tx_status = pq_tx_status,
    .exec = pq_exec,
    .prepare = pq_prepare,
    .finalize = pq_finalize,
    .bind_text = pq_bind_text,
    .bind_int64 = pq_bind_int64,
    .bind_bool = pq_bind_bool,
    .bind_null = pq_bind_null,
    .step = pq_step,
    .col_text = pq_col_text,
    .col_int64 = pq_col_int64,
    .col_bool = pq_col_bool,
    .col_is_null = pq_col_is_null,
    .reset = pq_reset,
    .changes = pq_changes,
};

/* ---- LISTEN: a thread with its own connection that waits for notifications ---- */

#define MAX_CHANNELS 16

static pthread_t listen_thread;
static bool listen_running;
static atomic_bool listen_stop;
static struct {
    char name[64];
    void (*cb)(const char *payload);
} channels[MAX_CHANNELS];
static int nchannels;
static const pl_db_config_t *listen_cfg;

int pl_db_pg_listen_add(const char *channel, void (*cb)(const char *payload))
{
    if (listen_running || nchannels == MAX_CHANNELS || strlen(channel) >= sizeof(channels[0].name))
        return PL_EINVAL;
    for (const char *p = channel; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || *p == '_' || (*p >= '0' && *p <= '9')))
            return PL_EINVAL; /* the name is pasted into LISTEN: identifiers only */
    snprintf(channels[nchannels].name, sizeof(channels[0].name), "%s", channel);
    channels[nchannels].cb = cb;
    nchannels++;
    return PL_OK;
}

static void missed_all(void)
{
    for (int i = 0; i < nchannels; i++)
        channels[i].cb(NULL);
}

static PGconn *listen_connect(void)
{
    PGconn *c = PQconnectdb(listen_cfg->pg_url);
    if (PQstatus(c) != CONNECTION_OK) {
        PQfinish(c);
        return NULL;
    }
    PQsetNoticeProcessor(c, notice, NULL);
    for (int i = 0; i < nchannels; i++) {
        char sql[96];
        snprintf(sql, sizeof(sql), "LISTEN %s", channels[i].name);
        PGresult *r = PQexec(c, sql);
        bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
        PQclear(r);
        if (!ok) {
            PQfinish(c);
            return NULL;
        }
    }
    return c;
}

static void *listen_loop(void *arg)
{
    (void)arg;
    PGconn *c = NULL;
    while (!atomic_load(&listen_stop)) {
        if (!c) {
            if (!(c = listen_connect())) {
                struct timespec ts = {1, 0};
                nanosleep(&ts, NULL);
                continue;
            }
            missed_all(); /* notifications sent while we were away are lost */
        }
        struct pollfd pfd = {.fd = PQsocket(c), .events = POLLIN};
        int n = poll(&pfd, 1, 250); /* short, so stop is noticed quickly */
        if (n < 0)
            continue;
        if (n > 0 && !PQconsumeInput(c)) {
            PQfinish(c);
            c = NULL;
            continue;
        }
        PGnotify *note;
        while ((note = PQnotifies(c))) {
            for (int i = 0; i < nchannels; i++)
                if (!strcmp(channels[i].name, note->relname))
                    channels[i].cb(note->extra);
            PQfreemem(note);
        }
    }
    if (c)
        PQfinish(c);
    return NULL;
}

int pl_db_pg_listen_start(const pl_db_config_t *cfg)
{
    if (listen_running)
        return PL_EINVAL;
    if (!nchannels)
        return PL_OK;
    listen_cfg = cfg;
    atomic_store(&listen_stop, false);
    if (pthread_create(&listen_thread, NULL, listen_loop, NULL) != 0)
        return PL_EINTERNAL;
    listen_running = true;
    return PL_OK;
}

void pl_db_pg_listen_stop(void)
{
    if (!listen_running)
        return;
    atomic_store(&listen_stop, true);
    pthread_join(listen_thread, NULL);
    listen_running = false;
}
