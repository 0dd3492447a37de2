/* jobs.h - the durable job queue: jobs are rows, enqueued inside the caller's
 * transaction, claimed by worker threads of any instance with a lease, retried
 * with exponential backoff, and marked dead after max_attempts.
 *
 * Delivery is at least once: a handler must be idempotent, or guard itself
 * with the job id. Thread-safe. */
#ifndef PL_JOBS_H
#define PL_JOBS_H

#include <jansson.h>

#include "core/core.h"
#include "core/ctx.h"
#include "core/module.h"
#include "db/db.h"

#define PL_JOB_DEFAULT_ATTEMPTS 10
#define PL_JOB_LEASE_MS         30000

/* Registers a module's job kinds (pl_job_fn in core/module.h) and
 * schedules. Call at start, before the workers start. */
void pl_jobs_register(const pl_job_def_t *defs);
void pl_jobs_register_schedules(const pl_schedule_def_t *defs);

typedef struct {
    int64_t run_at;              /* 0: now */
    int max_attempts;            /* 0: PL_JOB_DEFAULT_ATTEMPTS */
    const char *idempotency_key; /* NULL: none; a second enqueue with the key is a no-op */
    char *id_out;                /* NULL, or 37 bytes that get the new job's id */
} pl_job_opts_t;

/* Enqueues a job inside the caller's open write transaction. payload is
 * borrowed. opts may be NULL. */
int pl_jobs_enqueue(pl_db_t *db, const char *kind, json_t *payload, const pl_job_opts_t *opts);

/* After the caller's transaction committed: wakes local workers when this
 * thread enqueued something since the last call (the HTTP server calls it
 * after every request; other enqueuers call it after their commit). */
void pl_jobs_after_commit(void);
/* Wakes local workers unconditionally (e.g. after a retry was committed). */
void pl_jobs_wake(void);

/* True once the workers were told to stop (shutdown): a handler that loops
 * over work of its own ends its loop and leaves the rest to a later job. */
bool pl_jobs_stopping(void);

/* Counts of jobs by status, for /readyz and /metrics. PL_OK or a db error. */
int pl_jobs_count(pl_db_t *db, const char *status, int64_t *out);

/* Seconds the oldest due queued job has waited (0 when none waits), for
 * /readyz and the gauge plinth_jobs_oldest_queued_seconds. */
int pl_jobs_oldest_queued_seconds(pl_db_t *db, double *out);
/* --jobs-stall-seconds: /readyz fails `jobs` when the oldest due job has
 * waited longer (default 300). */
extern int pl_jobs_stall_seconds;

/* A job as the admin view shows it. */
typedef struct {
    const char *id;
    const char *kind;
    const char *payload;
    const char *status; /* queued, running, done, dead */
    int attempts, max_attempts;
    int64_t run_at, created_at, updated_at, finished_at; /* finished_at 0: not finished */
    const char *last_error;
} pl_job_t;

/* Lists jobs (status NULL: any; "queued" includes those waiting to retry)
 * after the job id `after` (NULL: from the first), calling fn for up to
 * limit of them. Strings live in a. */
int pl_jobs_list(pl_db_t *db, pl_arena_t *a, const char *status, const char *after, int limit,
                 void (*fn)(void *arg, const pl_job_t *j), void *arg);

/* Puts a dead job back in the queue with a fresh attempt budget, audited as
 * job.retried (instance chain), and wakes the workers; *out is the job
 * after the change. PL_ENOTFOUND for an unknown id, PL_ECONFLICT when the
 * job is not dead (detail on ctx). */
int pl_jobs_retry(pl_db_t *db, pl_ctx_t *ctx, const char *id, pl_job_t *out);

/* The descriptor of the jobs platform module: the workers and scheduler
 * (--workers), the drill kinds, and `plinth jobs enqueue`. */
extern const pl_module_t pl_jobs_module;

#endif
