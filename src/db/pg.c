/* pg.c - the PostgreSQL engine over libpq: db->conn is a PGconn *, st->impl a
 * pg_stmt_t. Statements are prepared server-side under per-connection names
 * ("s1", "s2", ...); every parameter travels as text with no declared type,
 * so the server infers it. A result is fetched whole on the first step.
 * Transaction control and deferred statements travel in pipelines (below). */
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
#include <strings.h>

typedef struct {
    char name[16];
    int nparams;
    char **values; /* nparams entries, owned; NULL binds SQL NULL */
    PGresult *res; /* NULL until the first step */
    int row;       /* current row; -1 before the first */
    int nrows;
    unsigned gen;      /* the connection generation it was prepared in */
    bool readonly;     /* a plain SELECT: it writes and locks nothing */
    bool oneshot;      /* sent with its text each time (pl_db_prepare_once) */
    PGresult *pre;     /* a prefetched answer not read yet (pl_stmt_prefetch) */
    char **pre_values; /* the binds it was asked with */
} pg_stmt_t;

/* A statement whose result nobody waits for (pl_stmt_defer): it goes out
 * with the next statement that needs an answer, in one pipeline. */
typedef struct {
    pl_stmt_t *st;
    char **values; /* a copy of the binds at the time it was deferred */
    bool prefetch; /* pl_stmt_prefetch: sent after the statement, answer kept */
    bool applied;  /* the next statement makes this setting itself: not sent
                    * with it (pl_db_set_context_by_next), only after */
} pg_deferred_t;

#define MAX_DEFERRED 8

/* db->conn. The request path on PostgreSQL costs round trips, not work, so
 * the transaction's control statements travel with real ones: BEGIN waits
 * for the first statement and goes out with it in one pipeline; statements
 * whose results nobody reads (the tenant context) wait for the next one; a
 * read-only transaction's COMMIT is sent without waiting, and its answer is
 * read when the connection is used again (settle). */
typedef struct {
    PGconn *pq;
    const pl_db_config_t *cfg;
    unsigned gen;      /* bumped at every reconnect: older statements re-prepare */
    bool begin_queued; /* BEGIN not sent yet */
    bool lazy;         /* a read scope with no transaction on the server: its
                        * plain SELECTs run in implicit transactions, each
                        * with the tenant context (the deferred statements,
                        * kept until the scope ends) */
    bool tx_sent;      /* a transaction of ours is open on the server */
    bool wrote;        /* the open transaction ran more than plain SELECTs */
    bool pending;      /* an unanswered asynchronous COMMIT is in flight */
    int ndeferred;
    pg_deferred_t deferred[MAX_DEFERRED];
    int nprefetched; /* statements holding a prefetched answer of this scope */
    pl_stmt_t *prefetched[MAX_DEFERRED];
} pg_conn_t;

#define PC(db) ((pg_conn_t *)(db)->conn)

/* pl_db_scope_begin's read scope (never sent: see pg_conn_t.lazy) */
#define BEGIN_LAZY "BEGIN LAZY"

static void free_values(char **values, int n)
{
    for (int k = 0; values && k < n; k++)
        free(values[k]);
    free(values);
}

static void forget_pre(pg_stmt_t *ps)
{
    PQclear(ps->pre);
    ps->pre = NULL;
    free_values(ps->pre_values, ps->nparams);
    ps->pre_values = NULL;
}

/* Forgets the prefetched answers nobody read: they belong to the scope that
 * asked for them, and to no later one. */
static void drop_prefetched(pg_conn_t *pc)
{
    for (int i = 0; i < pc->nprefetched; i++)
        if (pc->prefetched[i]->impl)
            forget_pre(pc->prefetched[i]->impl);
    pc->nprefetched = 0;
}

/* A lazy scope meets a statement that may write: BEGIN goes out with it,
 * after the context, and the scope is a transaction from then on (what was
 * prefetched outside it is asked again inside). */
static void open_lazy(pg_conn_t *pc)
{
    pc->lazy = false;
    pc->begin_queued = true;
    drop_prefetched(pc);
}
#define PQ(db) (PC(db)->pq)

/* Connection-level failures: the server went away or refuses connections.
 * Such a failure answers 503 (PL_EUNAVAILABLE), and before anything of the
 * transaction was written it is retried on a new connection. */
static bool state_is_unavailable(const char *state)
{
    return !strncmp(state, "08", 2) || !strcmp(state, "57P01") || !strcmp(state, "57P02") ||
           !strcmp(state, "57P03");
}

static void note_broken(pl_db_t *db)
{
    /* Prepared statements die with the connection; pl_db_thread reconnects
     * and re-prepares. */
    if (PQstatus(PQ(db)) != CONNECTION_OK)
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
        msg = PQerrorMessage(PQ(db));
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
    } else if (strcmp(state, "53100") == 0) {
        code = PL_ENOSPACE; /* disk_full */
    } else if (state_is_unavailable(state) || PQstatus(PQ(db)) != CONNECTION_OK) {
        code = PL_EUNAVAILABLE;
        pl_db_note_unavailable(true);
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

static void notice(void *arg, const char *message)
{
    PL_UNUSED(arg);
    size_t n = strlen(message);
    if (n && message[n - 1] == '\n')
        n--;
    pl_log("warn", "postgres: %.*s", (int)n, message);
}

static const char sql_session_setup[] =
    "SET application_name = 'plinth'; SET client_min_messages = warning";

/* Opens a libpq connection; NULL (logged) when the server cannot be reached. */
static PGconn *connect_pq(const pl_db_config_t *cfg)
{
    PGconn *conn = PQconnectdb(cfg->pg_url ? cfg->pg_url : "");
    if (PQstatus(conn) != CONNECTION_OK) {
        const char *msg = PQerrorMessage(conn);
        size_t n = strlen(msg);
        if (n && msg[n - 1] == '\n')
            n--;
        pl_log("error", "postgres: cannot connect: %.*s", (int)n, msg);
        PQfinish(conn);
        pl_db_note_unavailable(true);
        return NULL;
    }
    /* libpq prints notices on stderr by default, which is our JSON log. */
    PQsetNoticeProcessor(conn, notice, NULL);
    PGresult *res = PQexec(conn, sql_session_setup);
    bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;
    PQclear(res);
    if (!ok) {
        pl_log("error", "postgres: cannot set up the session: %s", PQerrorMessage(conn));
        PQfinish(conn);
        return NULL;
    }
    pl_db_note_unavailable(false);
    return conn;
}

static void drop_deferred(pg_conn_t *pc)
{
    for (int i = 0; i < pc->ndeferred; i++) {
        pg_deferred_t *d = &pc->deferred[i];
        pg_stmt_t *ps = d->st->impl;
        free_values(d->values, ps ? ps->nparams : 0);
        d->values = NULL;
    }
    pc->ndeferred = 0;
}

/* Replaces a dead connection, when nothing of ours was open on it. The
 * statements prepared on the old one are prepared again on first use. */
static int revive(pl_db_t *db)
{
    pg_conn_t *pc = PC(db);
    PGconn *fresh = connect_pq(pc->cfg);
    if (!fresh)
        return PL_EUNAVAILABLE;
    PQfinish(pc->pq);
    pc->pq = fresh;
    pc->gen++;
    pc->pending = false;
    pc->tx_sent = false;
    drop_prefetched(pc);
    pl_log("info", "postgres: reconnected");
    return PL_OK;
}

/* Reads the answer of an asynchronous COMMIT still in flight. A read-only
 * transaction has nothing to lose: a failure only means the connection is
 * gone, and it is replaced (nothing of ours is open on it any more). */
static void settle(pl_db_t *db)
{
    pg_conn_t *pc = PC(db);
    if (!pc->pending)
        return;
    pc->pending = false;
    bool dead = false;
    for (int guard = 0; guard < 16; guard++) {
        PGresult *r = PQgetResult(pc->pq);
        if (!r) {
            if (PQstatus(pc->pq) != CONNECTION_OK) {
                dead = true;
                break;
            }
            continue;
        }
        ExecStatusType s = PQresultStatus(r);
        PQclear(r);
        if (s == PGRES_PIPELINE_SYNC)
            break;
        if (s == PGRES_FATAL_ERROR && PQstatus(pc->pq) != CONNECTION_OK) {
            dead = true;
            break;
        }
    }
    if (!dead && PQexitPipelineMode(pc->pq) != 1)
        dead = true;
    pc->tx_sent = false;
    if (dead || PQstatus(pc->pq) != CONNECTION_OK) {
        revive(db);
        return;
    }
    /* a statement of the pipeline failed and its COMMIT was skipped: end
     * the (read-only) transaction rather than leave it open */
    if (PQtransactionStatus(pc->pq) != PQTRANS_IDLE) {
        pl_log("warn", "postgres: a read-only transaction did not commit; rolled back");
        PQclear(PQexec(pc->pq, "ROLLBACK"));
    }
}

static bool sql_is_plain_select(const char *sql)
{
    while (*sql == ' ' || *sql == '\n' || *sql == '\t')
        sql++;
    if (strncasecmp(sql, "SELECT", 6) != 0)
        return false;
    return !strcasestr(sql, " FOR UPDATE") && !strcasestr(sql, " FOR SHARE") &&
           !strcasestr(sql, " FOR NO KEY") && !strcasestr(sql, " FOR KEY") &&
           !strcasestr(sql, "pg_notify") && !strcasestr(sql, "nextval") &&
           !strcasestr(sql, "advisory");
}

static int pq_exec_raw(pl_db_t *db, const char *sql)
{
    int rc = PL_OK;
    PGresult *res = PQexec(PQ(db), sql);
    ExecStatusType s = PQresultStatus(res);
    if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK)
        rc = map_error(db, res, sql);
    PQclear(res);
    return rc;
}

/* (Re)prepares st on the current connection when it was prepared on an
 * older one or never. */
static int prepare_named(pl_stmt_t *st)
{
    pl_db_t *db = st->db;
    pg_stmt_t *ps = st->impl;
    PGresult *res = PQprepare(PQ(db), ps->name, st->sql, 0, NULL);
    int rc = PL_OK;
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        rc = map_error(db, res, st->sql);
    PQclear(res);
    if (rc == PL_OK)
        ps->gen = PC(db)->gen;
    return rc;
}

static int ensure_prepared(pl_stmt_t *st)
{
    pg_stmt_t *ps = st->impl;
    if (ps->oneshot)
        return PL_OK; /* nothing lives on the server */
    return ps->gen == PC(st->db)->gen ? PL_OK : prepare_named(st);
}

/* The number of parameters of sql: the highest $N outside quoted text. */
static int count_params(const char *sql)
{
    int max = 0;
    char quote = 0;
    for (const char *p = sql; *p; p++) {
        if (quote) {
            if (*p == quote)
                quote = 0;
        } else if (*p == '\'' || *p == '"') {
            quote = *p;
        } else if (*p == '$' && p[1] >= '0' && p[1] <= '9') {
            int n = 0;
            while (p[1] >= '0' && p[1] <= '9' && n < 100000)
                n = n * 10 + (*++p - '0');
            if (n > max)
                max = n;
        }
    }
    return max;
}

/* Sends st: by name when prepared, with its text when a one-shot. */
static int send_stmt(PGconn *c, pl_stmt_t *st, const char *const *values)
{
    pg_stmt_t *ps = st->impl;
    if (ps->oneshot)
        return PQsendQueryParams(c, st->sql, ps->nparams, NULL, values, NULL, NULL, 0);
    return PQsendQueryPrepared(c, ps->name, ps->nparams, values, NULL, NULL, 0);
}

/* Keeps a prefetched answer on its statement, for execute() to find. */
static void keep_pre(pg_conn_t *pc, pl_stmt_t *st, PGresult *r, char **values)
{
    pg_stmt_t *ps = st->impl;
    bool listed = false;
    for (int i = 0; i < pc->nprefetched && !listed; i++)
        listed = pc->prefetched[i] == st;
    if (!listed && pc->nprefetched == MAX_DEFERRED) {
        PQclear(r);
        free_values(values, ps->nparams);
        return;
    }
    if (!listed)
        pc->prefetched[pc->nprefetched++] = st;
    forget_pre(ps);
    ps->pre = r;
    ps->pre_values = values;
}

/* Sends [BEGIN] [deferred...] [st] [prefetched...] [COMMIT] as one
 * pipeline. With wait, reads every answer: the first error is returned
 * (mapped), st's result is handed to *out, and the prefetched statements'
 * answers are kept on them (their failures are nobody's: the statement
 * runs again when asked). Without, leaves the answers to settle(). */
static int pipeline(pl_db_t *db, pl_stmt_t *st, const char *tail, bool wait, PGresult **out)
{
    pg_conn_t *pc = PC(db);
    PGconn *c = pc->pq;
    int nq = 0, rc = PL_OK;
    bool had_begin = pc->begin_queued;
    /* prefetches go out only in a lazy scope, behind a statement whose
     * answer is awaited: their failures then abort nothing of ours */
    bool prefetch = pc->lazy && !had_begin && st && wait && !tail;

    /* a deferred statement may have been prepared on a connection since
     * replaced (a retry): prepare it here, before the pipeline starts */
    for (int i = 0; i < pc->ndeferred; i++)
        if ((rc = ensure_prepared(pc->deferred[i].st)))
            return rc;
    if (PQenterPipelineMode(c) != 1)
        return map_error(db, NULL, "pipeline");
    bool sent = true;
    if (had_begin) {
        sent = PQsendQueryParams(c, "BEGIN", 0, NULL, NULL, NULL, NULL, 0) == 1;
        nq++;
    }
    for (int i = 0; sent && i < pc->ndeferred; i++) {
        pg_deferred_t *d = &pc->deferred[i];
        if (d->prefetch || (d->applied && st))
            continue;
        sent = send_stmt(c, d->st, (const char *const *)d->values) == 1;
        nq++;
    }
    int st_index = -1;
    if (sent && st) {
        pg_stmt_t *ps = st->impl;
        sent = send_stmt(c, st, (const char *const *)ps->values) == 1;
        st_index = nq++;
    }
    int npre = 0, pre_q[MAX_DEFERRED];
    pl_stmt_t *pre_st[MAX_DEFERRED];
    char **pre_values[MAX_DEFERRED];
    for (int i = 0; sent && prefetch && i < pc->ndeferred; i++) {
        pg_deferred_t *d = &pc->deferred[i];
        if (!d->prefetch)
            continue;
        sent = send_stmt(c, d->st, (const char *const *)d->values) == 1;
        pre_q[npre] = nq++;
        pre_st[npre] = d->st;
        pre_values[npre++] = d->values;
        d->values = NULL; /* moved: kept with the answer */
    }
    if (sent && tail) {
        sent = PQsendQueryParams(c, tail, 0, NULL, NULL, NULL, NULL, 0) == 1;
        nq++;
    }
    if (sent)
        sent = PQpipelineSync(c) == 1;
    if (!sent) {
        /* nothing can be read back from a pipeline that was not sent whole */
        int e = map_error(db, NULL, st ? st->sql : tail);
        pc->ndeferred ? drop_deferred(pc) : (void)0;
        for (int j = 0; j < npre; j++)
            free_values(pre_values[j], ((pg_stmt_t *)pre_st[j]->impl)->nparams);
        return e == PL_EDB && PQstatus(c) != CONNECTION_OK ? PL_EUNAVAILABLE : e;
    }
    pc->begin_queued = false;
    if (had_begin)
        pc->tx_sent = true;
    /* a lazy scope sends its context with every statement: it stays queued;
     * everything else that was queued has gone */
    int kept = 0;
    for (int i = 0; i < pc->ndeferred; i++) {
        pg_deferred_t *d = &pc->deferred[i];
        if (pc->lazy && !d->prefetch) {
            d->applied = false; /* made by this pipeline's statement: sent from now on */
            pc->deferred[kept++] = *d;
        } else {
            pg_stmt_t *ps = d->st->impl;
            free_values(d->values, ps ? ps->nparams : 0);
            d->values = NULL;
        }
    }
    pc->ndeferred = kept;
    if (!wait) {
        pc->pending = true;
        return PL_OK;
    }
    PGresult *err = NULL;
    const char *err_sql = NULL;
    for (int q = 0; q < nq; q++) {
        int pre = -1;
        for (int j = 0; j < npre && pre < 0; j++)
            pre = pre_q[j] == q ? j : -1;
        for (int guard = 0;; guard++) {
            PGresult *r = PQgetResult(c);
            if (!r)
                break;
            ExecStatusType s = PQresultStatus(r);
            if (pre >= 0) {
                if (s == PGRES_TUPLES_OK && pre_values[pre]) {
                    keep_pre(pc, pre_st[pre], r, pre_values[pre]);
                    pre_values[pre] = NULL;
                } else {
                    PQclear(r);
                }
                continue;
            }
            if ((s == PGRES_TUPLES_OK || s == PGRES_COMMAND_OK) && q == st_index && out && !*out) {
                *out = r;
                continue;
            }
            if ((s == PGRES_FATAL_ERROR || s == PGRES_NONFATAL_ERROR) && !err) {
                err = r;
                err_sql = q == st_index ? st->sql : NULL;
                continue;
            }
            PQclear(r);
            if (guard > 64)
                break;
        }
        if (PQstatus(c) != CONNECTION_OK)
            break;
    }
    for (int j = 0; j < npre; j++)
        free_values(pre_values[j], ((pg_stmt_t *)pre_st[j]->impl)->nparams);
    bool synced = false;
    if (PQstatus(c) == CONNECTION_OK) {
        PGresult *r = PQgetResult(c);
        synced = r && PQresultStatus(r) == PGRES_PIPELINE_SYNC;
        PQclear(r);
    }
    if (!synced || PQexitPipelineMode(c) != 1) {
        if (!err)
            rc = map_error(db, NULL, st ? st->sql : tail);
        db->broken = true;
    }
    if (err) {
        rc = map_error(db, err, err_sql ? err_sql : (st ? st->sql : tail));
        PQclear(err);
    }
    if (rc && out && *out) {
        PQclear(*out);
        *out = NULL;
    }
    if (rc && npre)
        drop_prefetched(pc); /* answers of a pipeline that failed are not trusted */
    if (rc == PL_EDB && PQstatus(c) != CONNECTION_OK)
        rc = PL_EUNAVAILABLE;
    return rc;
}

/* Whether a failure of the statement about to run may be retried on a new
 * connection: nothing of ours was open on the server (the transaction's
 * BEGIN travels with it, or there is no transaction and it only reads). */
static bool may_retry(pg_conn_t *pc, pl_stmt_t *st)
{
    if (pc->begin_queued)
        return true;
    if (pc->lazy)
        return !st || ((pg_stmt_t *)st->impl)->readonly;
    if (pc->tx_sent || pc->ndeferred)
        return false;
    return !st || ((pg_stmt_t *)st->impl)->readonly;
}

static int pq_exec(pl_db_t *db, const char *sql)
{
    pg_conn_t *pc = PC(db);
    settle(db);
    bool lazy = !strcmp(sql, BEGIN_LAZY);
    if (lazy || !strcmp(sql, "BEGIN")) {
        if (pc->begin_queued || pc->tx_sent || pc->lazy)
            return pl_db_fail(db, PL_EINTERNAL, "transaction already open", NULL, NULL);
        drop_prefetched(pc);
        pc->begin_queued = !lazy; /* sent with the first statement */
        pc->lazy = lazy;          /* or with the first that may write */
        pc->wrote = false;
        return PL_OK;
    }
    if (!strcmp(sql, "COMMIT") || !strcmp(sql, "ROLLBACK")) {
        bool commit = sql[0] == 'C';
        drop_prefetched(pc);
        if (pc->lazy) { /* no transaction was opened: nothing to end */
            pc->lazy = false;
            drop_deferred(pc);
            return PL_OK;
        }
        if (pc->begin_queued) { /* nothing was sent: nothing to end */
            pc->begin_queued = false;
            drop_deferred(pc);
            return PL_OK;
        }
        if (!commit)
            drop_deferred(pc);
        int rc;
        if (commit && !pc->wrote) {
            /* a read-only transaction: its answer is read later */
            rc = pipeline(db, NULL, "COMMIT", false, NULL);
        } else if (pc->ndeferred) {
            rc = pipeline(db, NULL, sql, true, NULL);
        } else {
            rc = pq_exec_raw(db, sql);
        }
        if (!pc->pending)
            pc->tx_sent = false;
        pc->wrote = false;
        return rc;
    }
    /* anything else: what is queued goes first, in a real transaction */
    if (pc->lazy)
        open_lazy(pc);
    if (pc->begin_queued || pc->ndeferred) {
        int rc = pipeline(db, NULL, NULL, true, NULL);
        if (rc)
            return rc;
    }
    if (pc->tx_sent && !sql_is_plain_select(sql))
        pc->wrote = true;
    int rc = pq_exec_raw(db, sql);
    if (rc == PL_EUNAVAILABLE && !pc->tx_sent && sql_is_plain_select(sql) && revive(db) == PL_OK)
        rc = pq_exec_raw(db, sql);
    return rc;
}

static int pq_open(pl_db_t *db, const pl_db_config_t *cfg)
{
    PGconn *conn = connect_pq(cfg);
    if (!conn)
        return PL_EUNAVAILABLE;
    pg_conn_t *pc = pl_xcalloc(1, sizeof(*pc));
    pc->pq = conn;
    pc->cfg = cfg;
    pc->gen = 1;
    db->conn = pc;
    return PL_OK;
}

static void pq_close(pl_db_t *db)
{
    pg_conn_t *pc = PC(db);
    drop_deferred(pc);
    drop_prefetched(pc);
    PQfinish(pc->pq);
    free(pc);
    db->conn = NULL;
}

static int pq_tx_status(pl_db_t *db)
{
    pg_conn_t *pc = PC(db);
    settle(db);
    if (pc->begin_queued || pc->lazy)
        return PL_TX_ACTIVE;
    switch (PQtransactionStatus(pc->pq)) {
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
    pg_conn_t *pc = PC(db);
    pg_stmt_t *ps = NULL;
    PGresult *res = NULL;
    int rc = PL_EDB;

    settle(db);
    ps = pl_xcalloc(1, sizeof(*ps));
    ps->row = -1;
    ps->readonly = sql_is_plain_select(st->sql);
    if (st->oneshot) {
        ps->oneshot = true;
        ps->nparams = count_params(st->sql);
        if (ps->nparams > 0)
            ps->values = pl_xcalloc((size_t)ps->nparams, sizeof(*ps->values));
        ps->gen = pc->gen;
        st->impl = ps;
        return PL_OK;
    }
    snprintf(ps->name, sizeof(ps->name), "s%u", ++db->stmt_seq);
    for (int attempt = 0;; attempt++) {
        res = PQprepare(pc->pq, ps->name, st->sql, 0, NULL);
        if (PQresultStatus(res) == PGRES_COMMAND_OK)
            break;
        /* preparing writes nothing: a connection found dead here is replaced
         * when no transaction of ours was open on it */
        if (attempt == 0 && PQstatus(pc->pq) != CONNECTION_OK &&
            (pc->begin_queued || !pc->tx_sent) && revive(db) == PL_OK) {
            PQclear(res);
            continue;
        }
        rc = map_error(db, res, st->sql);
        goto out;
    }
    PQclear(res);
    /* The parameter count sizes the value array and catches binds to a
     * position the SQL does not have. */
    res = PQdescribePrepared(pc->pq, ps->name);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        rc = map_error(db, res, st->sql);
        goto out;
    }
    ps->nparams = PQnparams(res);
    if (ps->nparams > 0)
        ps->values = pl_xcalloc((size_t)ps->nparams, sizeof(*ps->values));
    ps->gen = pc->gen;
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
    forget_pre(ps);
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

/* Runs st (with whatever is queued before it) and keeps its result. */
static int execute(pl_stmt_t *st, PGresult **out)
{
    pl_db_t *db = st->db;
    pg_conn_t *pc = PC(db);
    pg_stmt_t *ps = st->impl;
    settle(db);
    if (pc->lazy && !ps->readonly)
        open_lazy(pc); /* it may write: the scope becomes a transaction */
    if (ps->pre) {
        /* asked for earlier in this scope: the answer is here when it was
         * asked with the same binds */
        PGresult *pre = ps->pre;
        bool same = pc->lazy && !pc->begin_queued;
        for (int k = 0; same && k < ps->nparams; k++) {
            const char *a = ps->values[k], *b = ps->pre_values[k];
            same = a && b ? !strcmp(a, b) : a == b;
        }
        ps->pre = NULL;
        forget_pre(ps);
        if (same) {
            *out = pre;
            return PL_OK;
        }
        PQclear(pre);
    }
    bool retry = may_retry(pc, st);
    bool had_begin = pc->begin_queued;
    /* deferred statements are kept for a second attempt */
    pg_deferred_t saved[MAX_DEFERRED];
    int nsaved = 0;
    for (int attempt = 0;; attempt++) {
        int rc = ensure_prepared(st);
        for (int i = 0; rc == PL_OK && i < pc->ndeferred; i++)
            rc = ensure_prepared(pc->deferred[i].st);
        if (rc == PL_OK) {
            if (pc->begin_queued || pc->ndeferred) {
                if (retry && attempt == 0) { /* keep copies for a replay */
                    nsaved = pc->ndeferred;
                    for (int i = 0; i < nsaved; i++) {
                        pg_stmt_t *dps = pc->deferred[i].st->impl;
                        saved[i].st = pc->deferred[i].st;
                        saved[i].prefetch = pc->deferred[i].prefetch;
                        saved[i].applied = pc->deferred[i].applied;
                        saved[i].values = pl_xcalloc((size_t)dps->nparams + 1, sizeof(char *));
                        for (int k = 0; k < dps->nparams; k++)
                            saved[i].values[k] = pc->deferred[i].values[k]
                                                     ? pl_xstrdup(pc->deferred[i].values[k])
                                                     : NULL;
                    }
                }
                rc = pipeline(db, st, NULL, true, out);
            } else {
                PGresult *res =
                    ps->oneshot ? PQexecParams(pc->pq, st->sql, ps->nparams, NULL,
                                               (const char *const *)ps->values, NULL, NULL, 0)
                                : PQexecPrepared(pc->pq, ps->name, ps->nparams,
                                                 (const char *const *)ps->values, NULL, NULL, 0);
                ExecStatusType s = PQresultStatus(res);
                if (s != PGRES_TUPLES_OK && s != PGRES_COMMAND_OK) {
                    rc = map_error(db, res, st->sql);
                    PQclear(res);
                } else {
                    *out = res;
                }
            }
        }
        if (rc == PL_EUNAVAILABLE && retry && attempt == 0 && revive(db) == PL_OK) {
            /* the connection was found dead before anything was written:
             * the same statements again, on the new connection */
            db->broken = false;
            pc->begin_queued = had_begin;
            pc->tx_sent = false;
            drop_deferred(pc); /* a lazy scope's context, replaced by the copies */
            for (int i = 0; i < nsaved; i++)
                pc->deferred[i] = saved[i];
            pc->ndeferred = nsaved;
            nsaved = 0;
            pl_log("warn", "postgres: connection lost before the transaction wrote anything; "
                           "retried on a new connection");
            continue;
        }
        for (int i = 0; i < nsaved; i++) {
            pg_stmt_t *dps = saved[i].st->impl;
            for (int k = 0; dps && k < dps->nparams; k++)
                free(saved[i].values[k]);
            free(saved[i].values);
        }
        if (rc == PL_OK && pc->tx_sent && !ps->readonly)
            pc->wrote = true;
        return rc;
    }
}

static int pq_step(pl_stmt_t *st)
{
    pg_stmt_t *ps = st->impl;

    if (!ps->res) {
        PGresult *res = NULL;
        int rc = execute(st, &res);
        if (rc)
            return rc;
        ps->res = res;
        ExecStatusType s = PQresultStatus(res);
        ps->nrows = s == PGRES_TUPLES_OK ? PQntuples(res) : 0;
        ps->row = -1;
    }
    if (ps->row < ps->nrows)
        ps->row++;
    return ps->row < ps->nrows ? 1 : 0;
}

/* Queues st with its binds (moved out of it); the caller checked the room. */
static void enqueue(pg_conn_t *pc, pl_stmt_t *st, bool prefetch, bool applied)
{
    pg_stmt_t *ps = st->impl;
    pg_deferred_t *d = &pc->deferred[pc->ndeferred++];
    d->st = st;
    d->prefetch = prefetch;
    d->applied = applied;
    d->values = pl_xcalloc((size_t)ps->nparams + 1, sizeof(char *));
    for (int k = 0; k < ps->nparams; k++) {
        d->values[k] = ps->values[k];
        ps->values[k] = NULL; /* moved */
    }
}

static void pq_prefetch(pl_stmt_t *st)
{
    pg_conn_t *pc = PC(st->db);
    pg_stmt_t *ps = st->impl;
    settle(st->db);
    if (!pc->lazy || !ps->readonly || ps->oneshot || pc->ndeferred == MAX_DEFERRED)
        return; /* it runs when asked, as any statement */
    for (int i = 0; i < pc->ndeferred; i++)
        if (pc->deferred[i].st == st)
            return; /* one prefetch per statement at a time */
    forget_pre(ps);
    enqueue(pc, st, true, false);
}

/* Queues st to run before the next statement that needs an answer;
 * applied: that statement makes the setting st makes (lazy scopes only). */
static int defer(pl_stmt_t *st, bool applied)
{
    pg_conn_t *pc = PC(st->db);
    pg_stmt_t *ps = st->impl;
    settle(st->db);
    if (pc->lazy) {
        /* the context is sent with every statement: a new value of a
         * setting replaces the old one */
        for (int i = 0; i < pc->ndeferred; i++) {
            pg_deferred_t *d = &pc->deferred[i];
            if (!d->prefetch && d->st == st && ps->nparams > 0 && d->values[0] && ps->values[0] &&
                !strcmp(d->values[0], ps->values[0])) {
                for (int k = 0; k < ps->nparams; k++) {
                    free(d->values[k]);
                    d->values[k] = ps->values[k];
                    ps->values[k] = NULL; /* moved */
                }
                d->applied = applied;
                return PL_OK;
            }
        }
        if (pc->ndeferred == MAX_DEFERRED)
            open_lazy(pc);
    }
    if (pc->ndeferred == MAX_DEFERRED) {
        int rc = pipeline(st->db, NULL, NULL, true, NULL);
        if (rc)
            return rc;
    }
    enqueue(pc, st, false, applied && pc->lazy);
    if (pc->tx_sent && !ps->readonly)
        pc->wrote = true;
    return PL_OK;
}

static int pq_defer(pl_stmt_t *st)
{
    return defer(st, false);
}

/* A setting the next statement makes itself: in a transaction it holds to
 * the end, so nothing is queued; in a lazy scope it is queued for the
 * statements after that one. */
static int pq_defer_applied(pl_stmt_t *st)
{
    pg_conn_t *pc = PC(st->db);
    settle(st->db);
    return pc->lazy ? defer(st, true) : PL_OK;
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
    .begin_lazy_sql = BEGIN_LAZY,
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
    .defer = pq_defer,
    .defer_applied = pq_defer_applied,
    .prefetch = pq_prefetch,
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
