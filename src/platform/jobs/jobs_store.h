/* jobs_store.h - SQL of the job queue and the scheduler. */
#ifndef PL_JOBS_STORE_H
#define PL_JOBS_STORE_H

#include "db/db.h"
#include "platform/jobs/jobs.h"

int pl_jobs_store_insert(pl_db_t *db, const char *id, const char *kind, const char *payload,
                         int64_t run_at, int max_attempts, const char *idem_key, int64_t now);
/* Claims the next due job (queued and due, or running with an expired
 * lease) for worker; PL_ENOTFOUND when there is none. Strings in the arena. */
int pl_jobs_store_claim(pl_db_t *db, pl_arena_t *a, const char *worker, int64_t now,
                        int64_t lease_until, pl_job_t *out);
/* Marks a claimed job done (payload cleared: it may hold secrets), if this
 * worker still holds it. */
int pl_jobs_store_done(pl_db_t *db, const char *id, const char *worker, int attempts, int64_t now);
/* Records a failure: back to queued at retry_at, or dead. */
int pl_jobs_store_fail(pl_db_t *db, const char *id, const char *worker, int attempts, bool dead,
                       int64_t retry_at, const char *error, int64_t now);
/* Records the failed attempt (attempts, as the claim counted it) of a
 * transactional job whose claim was rolled back. */
int pl_jobs_store_fail_unclaimed(pl_db_t *db, const char *id, int attempts, bool dead,
                                 int64_t retry_at, const char *error, int64_t now);
int pl_jobs_store_count(pl_db_t *db, const char *status, int64_t *out);
/* run_at of the oldest queued job due by now; 0 when none is. */
int pl_jobs_store_oldest_due(pl_db_t *db, int64_t now, int64_t *run_at);
int pl_jobs_store_list(pl_db_t *db, pl_arena_t *a, const char *status, const char *after, int limit,
                       void (*fn)(void *ctx, const pl_job_t *j), void *ctx);
int pl_jobs_store_get(pl_db_t *db, pl_arena_t *a, const char *id, pl_job_t *out);
/* Puts a dead job back in the queue, due now, with a fresh attempt budget. */
int pl_jobs_store_retry(pl_db_t *db, const char *id, int64_t now);
/* Scheduler: creates the schedule if missing, then advances it when due.
 * Returns 1 when this caller won the run (enqueue now), 0 otherwise. */
int pl_jobs_store_schedule_due(pl_db_t *db, const char *name, int64_t now, int64_t period);
/* Deletes finished jobs older than before. */
int pl_jobs_store_purge(pl_db_t *db, int64_t before);

#endif
