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
#include "db/db.h"

#define PL_JOB_DEFAULT_ATTEMPTS 10
#define PL_JOB_LEASE_MS         30000

/* A job handler: runs the job described by payload (an object). Returns PL_OK
 * when done; else an error with a short reason in err (no secrets), and the
 * job is retried later. A permanent failure may return PL_EINVAL to go
 * straight to dead. */
typedef int (*pl_job_fn)(const char *job_id, json_t *payload, char *err, size_t errlen);

/* Registers the handler for kind (a static string). Call at start, before
 * pl_jobs_start. */
void pl_jobs_register(const char *kind, pl_job_fn fn);

typedef struct {
    int64_t run_at;              /* 0: now */
    int max_attempts;            /* 0: PL_JOB_DEFAULT_ATTEMPTS */
    const char *idempotency_key; /* NULL: none; a second enqueue with the key is a no-op */
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

/* Declares a periodic job: kind runs once per period_ms across all instances
 * (the first run one period after the schedule is first seen). Call before
 * pl_jobs_start. */
void pl_jobs_schedule(const char *name, const char *kind, int64_t period_ms);

/* Registers the built-in kinds ("noop", "fail": for drills and benchmarks)
 * and the job metrics. Call once at start. */
void pl_jobs_init(void);

/* Starts n worker threads and the scheduler (n = 0: none). pl_jobs_stop lets
 * running jobs finish and joins the threads. */
int pl_jobs_start(int n);
void pl_jobs_stop(void);

/* Counts of jobs by status, for /readyz and /metrics. PL_OK or a db error. */
int pl_jobs_count(pl_db_t *db, const char *status, int64_t *out);

/* `plinth jobs enqueue --kind noop|fail --count N [--max-attempts M]`:
 * enqueues drill jobs in one transaction. Returns PL_OK or an error. */
int pl_jobs_enqueue_drill(pl_db_t *db, const char *kind, int count, int max_attempts);

/* Admin routes: GET /v1/admin/jobs, POST /v1/admin/jobs/{id}/retry. */
struct pl_req;
int pl_jobs_admin_list(struct pl_req *req);
int pl_jobs_admin_retry(struct pl_req *req);

#endif
