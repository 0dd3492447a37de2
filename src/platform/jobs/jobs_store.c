/* jobs_store.c - SQL of the job queue. The claim is one UPDATE ... RETURNING
 * on both engines; PostgreSQL adds FOR UPDATE SKIP LOCKED so concurrent
 * workers never wait on each other's row, SQLite serialises writers anyway. */
#include <string.h>

#include "platform/jobs/jobs_store.h"

static const char sql_insert[] =
    "INSERT INTO jobs (id, kind, payload, status, run_at, max_attempts, idempotency_key, "
    "created_at, updated_at) VALUES ($1, $2, $3, 'queued', $4, $5, $6, $7, $7) "
    "ON CONFLICT (idempotency_key) DO NOTHING";

int pl_jobs_store_insert(pl_db_t *db, const char *id, const char *kind, const char *payload,
                         int64_t run_at, int max_attempts, const char *idem_key, int64_t now)
{
    PL_PREPARE(st, db, sql_insert);
    pl_stmt_bind_text(st, 1, id);
    pl_stmt_bind_text(st, 2, kind);
    pl_stmt_bind_text(st, 3, payload);
    pl_stmt_bind_int64(st, 4, run_at);
    pl_stmt_bind_int64(st, 5, max_attempts);
    pl_stmt_bind_text(st, 6, idem_key); /* NULL: no key; NULLs never conflict */
    pl_stmt_bind_int64(st, 7, now);
    int rc = pl_stmt_exec(st);
    return rc < 0 ? rc : PL_OK;
}

#define CLAIM_SET                                                                                  \
    "UPDATE jobs SET status = 'running', attempts = attempts + 1, locked_until = $2, "             \
    "locked_by = $3, updated_at = $1 WHERE id = (SELECT id FROM jobs WHERE "                       \
    "(status = 'queued' AND run_at <= $1) OR (status = 'running' AND locked_until <= $1) "         \
    "ORDER BY run_at LIMIT 1"
#define CLAIM_RETURNING ") RETURNING id, kind, payload, attempts, max_attempts, run_at, created_at"

static const char sql_claim_sqlite[] = CLAIM_SET CLAIM_RETURNING;
static const char sql_claim_pg[] = CLAIM_SET " FOR UPDATE SKIP LOCKED" CLAIM_RETURNING;

int pl_jobs_store_claim(pl_db_t *db, pl_arena_t *a, const char *worker, int64_t now,
                        int64_t lease_until, pl_job_t *out)
{
    PL_PREPARE(st, db, pl_db_engine() == PL_DB_POSTGRES ? sql_claim_pg : sql_claim_sqlite);
    pl_stmt_bind_int64(st, 1, now);
    pl_stmt_bind_int64(st, 2, lease_until);
    pl_stmt_bind_text(st, 3, worker);
    int rc = pl_stmt_step(st);
    if (rc == 1) {
        memset(out, 0, sizeof(*out));
        out->id = pl_stmt_col_dup(st, a, 0);
        out->kind = pl_stmt_col_dup(st, a, 1);
        out->payload = pl_stmt_col_dup(st, a, 2);
        out->attempts = (int)pl_stmt_col_int64(st, 3);
        out->max_attempts = (int)pl_stmt_col_int64(st, 4);
        out->run_at = pl_stmt_col_int64(st, 5);
        out->created_at = pl_stmt_col_int64(st, 6);
        out->status = "running";
        /* read to the end so the UPDATE completes on every engine */
        while (pl_stmt_step(st) == 1)
            ;
    }
    return pl_stmt_one_done(st, rc);
}

static const char sql_done[] =
    "UPDATE jobs SET status = 'done', payload = '{}', locked_until = NULL, finished_at = $4, "
    "updated_at = $4, last_error = NULL WHERE id = $1 AND locked_by = $2 AND attempts = $3 AND "
    "status = 'running'";

int pl_jobs_store_done(pl_db_t *db, const char *id, const char *worker, int attempts, int64_t now)
{
    PL_PREPARE(st, db, sql_done);
    pl_stmt_bind_text(st, 1, id);
    pl_stmt_bind_text(st, 2, worker);
    pl_stmt_bind_int64(st, 3, attempts);
    pl_stmt_bind_int64(st, 4, now);
    int rc = pl_stmt_exec(st);
    return rc < 0 ? rc : PL_OK;
}

static const char sql_fail[] =
    "UPDATE jobs SET status = $5, run_at = $6, last_error = $7, locked_until = NULL, "
    "updated_at = $4, finished_at = $8 "
    "WHERE id = $1 AND locked_by = $2 AND attempts = $3 AND status = 'running'";

int pl_jobs_store_fail(pl_db_t *db, const char *id, const char *worker, int attempts, bool dead,
                       int64_t retry_at, const char *error, int64_t now)
{
    PL_PREPARE(st, db, sql_fail);
    pl_stmt_bind_text(st, 1, id);
    pl_stmt_bind_text(st, 2, worker);
    pl_stmt_bind_int64(st, 3, attempts);
    pl_stmt_bind_int64(st, 4, now);
    pl_stmt_bind_text(st, 5, dead ? "dead" : "queued");
    pl_stmt_bind_int64(st, 6, retry_at);
    pl_stmt_bind_text(st, 7, error);
    if (dead)
        pl_stmt_bind_int64(st, 8, now);
    else
        pl_stmt_bind_null(st, 8);
    int rc = pl_stmt_exec(st);
    return rc < 0 ? rc : PL_OK;
}

/* After a transactional job's claim rolled back: the attempt is recorded on
 * the row as it is again (queued, one attempt fewer), unless another worker
 * claimed it meanwhile. */
static const char sql_fail_unclaimed[] =
    "UPDATE jobs SET status = $4, attempts = $2, run_at = $5, last_error = $6, "
    "locked_until = NULL, updated_at = $3, finished_at = $7 "
    "WHERE id = $1 AND attempts = $2 - 1 AND status IN ('queued', 'running')";

int pl_jobs_store_fail_unclaimed(pl_db_t *db, const char *id, int attempts, bool dead,
                                 int64_t retry_at, const char *error, int64_t now)
{
    PL_PREPARE(st, db, sql_fail_unclaimed);
    pl_stmt_bind_text(st, 1, id);
    pl_stmt_bind_int64(st, 2, attempts);
    pl_stmt_bind_int64(st, 3, now);
    pl_stmt_bind_text(st, 4, dead ? "dead" : "queued");
    pl_stmt_bind_int64(st, 5, retry_at);
    pl_stmt_bind_text(st, 6, error);
    if (dead)
        pl_stmt_bind_int64(st, 7, now);
    else
        pl_stmt_bind_null(st, 7);
    int rc = pl_stmt_exec(st);
    return rc < 0 ? rc : PL_OK;
}

static const char sql_count[] = "SELECT count(*) FROM jobs WHERE status = $1";

int pl_jobs_store_count(pl_db_t *db, const char *status, int64_t *out)
{
    PL_PREPARE(st, db, sql_count);
    pl_stmt_bind_text(st, 1, status);
    int rc = pl_stmt_step(st);
    *out = rc == 1 ? pl_stmt_col_int64(st, 0) : 0;
    pl_stmt_reset(st);
    return rc < 0 ? rc : PL_OK;
}

/* Due queued jobs only: one waiting for its retry's run_at is not late. */
static const char sql_oldest_due[] =
    "SELECT min(run_at) FROM jobs WHERE status = 'queued' AND run_at <= $1";

int pl_jobs_store_oldest_due(pl_db_t *db, int64_t now, int64_t *run_at)
{
    PL_PREPARE(st, db, sql_oldest_due);
    pl_stmt_bind_int64(st, 1, now);
    int rc = pl_stmt_step(st);
    *run_at = rc == 1 && !pl_stmt_col_is_null(st, 0) ? pl_stmt_col_int64(st, 0) : 0;
    pl_stmt_reset(st);
    return rc < 0 ? rc : PL_OK;
}

#define JOB_COLS                                                                                   \
    "id, kind, status, attempts, max_attempts, run_at, created_at, updated_at, finished_at, "      \
    "last_error"

static void read_job(pl_arena_t *a, pl_stmt_t *st, pl_job_t *j)
{
    memset(j, 0, sizeof(*j));
    j->id = pl_stmt_col_dup(st, a, 0);
    j->kind = pl_stmt_col_dup(st, a, 1);
    j->status = pl_stmt_col_dup(st, a, 2);
    j->attempts = (int)pl_stmt_col_int64(st, 3);
    j->max_attempts = (int)pl_stmt_col_int64(st, 4);
    j->run_at = pl_stmt_col_int64(st, 5);
    j->created_at = pl_stmt_col_int64(st, 6);
    j->updated_at = pl_stmt_col_int64(st, 7);
    j->finished_at = pl_stmt_col_is_null(st, 8) ? 0 : pl_stmt_col_int64(st, 8);
    j->last_error = pl_stmt_col_dup(st, a, 9);
}

static const char sql_list[] = "SELECT " JOB_COLS " FROM jobs WHERE ($1 = '' OR status = $1) "
                               "AND ($2 = '' OR id < $2) ORDER BY id DESC LIMIT $3";

int pl_jobs_store_list(pl_db_t *db, pl_arena_t *a, const char *status, const char *after, int limit,
                       void (*fn)(void *ctx, const pl_job_t *j), void *ctx)
{
    PL_PREPARE(st, db, sql_list);
    pl_stmt_bind_text(st, 1, status ? status : "");
    pl_stmt_bind_text(st, 2, after ? after : "");
    pl_stmt_bind_int64(st, 3, limit);
    int rc;
    while ((rc = pl_stmt_step(st)) == 1) {
        pl_job_t j;
        read_job(a, st, &j);
        fn(ctx, &j);
    }
    pl_stmt_reset(st);
    return rc < 0 ? rc : PL_OK;
}

static const char sql_get[] = "SELECT " JOB_COLS " FROM jobs WHERE id = $1";

int pl_jobs_store_get(pl_db_t *db, pl_arena_t *a, const char *id, pl_job_t *out)
{
    PL_PREPARE(st, db, sql_get);
    pl_stmt_bind_text(st, 1, id);
    int rc = pl_stmt_step(st);
    if (rc == 1)
        read_job(a, st, out);
    return pl_stmt_one_done(st, rc);
}

static const char sql_retry[] =
    "UPDATE jobs SET status = 'queued', run_at = $2, attempts = 0, locked_until = NULL, "
    "locked_by = NULL, finished_at = NULL, updated_at = $2 WHERE id = $1 AND status = 'dead'";

int pl_jobs_store_retry(pl_db_t *db, const char *id, int64_t now)
{
    PL_PREPARE(st, db, sql_retry);
    pl_stmt_bind_text(st, 1, id);
    pl_stmt_bind_int64(st, 2, now);
    int rc = pl_stmt_exec(st);
    return rc < 0 ? rc : rc == 0 ? PL_ECONFLICT : PL_OK;
}

static const char sql_schedule_init[] =
    "INSERT INTO schedules (name, next_run_at) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING";
static const char sql_schedule_advance[] =
    "UPDATE schedules SET next_run_at = $2 WHERE name = $1 AND next_run_at <= $3";

int pl_jobs_store_schedule_due(pl_db_t *db, const char *name, int64_t now, int64_t period)
{
    int rc;
    {
        PL_PREPARE(st, db, sql_schedule_init);
        pl_stmt_bind_text(st, 1, name);
        pl_stmt_bind_int64(st, 2, now + period);
        if ((rc = pl_stmt_exec(st)) < 0)
            return rc;
    }
    PL_PREPARE(st, db, sql_schedule_advance);
    pl_stmt_bind_text(st, 1, name);
    pl_stmt_bind_int64(st, 2, now + period);
    pl_stmt_bind_int64(st, 3, now);
    rc = pl_stmt_exec(st);
    return rc < 0 ? rc : rc > 0 ? 1 : 0;
}

static const char sql_purge[] =
    "DELETE FROM jobs WHERE status IN ('done', 'dead') AND finished_at < $1";

int pl_jobs_store_purge(pl_db_t *db, int64_t before)
{
    PL_PREPARE(st, db, sql_purge);
    pl_stmt_bind_int64(st, 1, before);
    int rc = pl_stmt_exec(st);
    return rc < 0 ? rc : PL_OK;
}
