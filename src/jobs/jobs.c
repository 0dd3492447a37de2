/* jobs.c - job handlers, worker threads, wake-ups, the scheduler, metrics. */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/crypto.h"
#include "http/metrics.h"
#include "jobs/jobs.h"
#include "jobs/jobs_store.h"

#define MAX_KINDS      32
#define MAX_SCHEDULES  16
#define IDLE_POLL_MS   1000 /* fallback when no wake-up arrives */
#define BACKOFF_CAP_MS (10 * 60 * 1000)
#define NOTIFY_CHANNEL "plinth_jobs"

typedef struct {
    const char *kind;
    pl_job_fn fn;
    pl_counter_t done, retry, dead;
} kind_t;

typedef struct {
    const char *name, *kind;
    int64_t period;
} schedule_t;

static kind_t kinds[MAX_KINDS];
static int nkinds;
static schedule_t schedules[MAX_SCHEDULES];
static int nschedules;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv;
static uint64_t wake_seq; /* bumped on every kick; guarded by mu */
static atomic_bool stopping;
static pthread_t threads[64];
static int nthreads;
static char instance[48]; /* worker identity prefix: host-pid */

static __thread bool enqueued_here;

static pl_counter_t unknown_kind = {"plinth_jobs_total", "Jobs finished by kind and outcome.",
                                    "kind=\"unknown\",outcome=\"dead\"", 0, 0};

void pl_jobs_register(const char *kind, pl_job_fn fn)
{
    if (nkinds >= MAX_KINDS)
        return;
    kind_t *k = &kinds[nkinds++];
    k->kind = kind;
    k->fn = fn;
    const char *outcomes[] = {"done", "retry", "dead"};
    pl_counter_t *cs[] = {&k->done, &k->retry, &k->dead};
    for (int i = 0; i < 3; i++) {
        char labels[160];
        snprintf(labels, sizeof(labels), "kind=\"%s\",outcome=\"%s\"", kind, outcomes[i]);
        cs[i]->name = "plinth_jobs_total";
        cs[i]->help = "Jobs finished by kind and outcome.";
        cs[i]->labels = pl_xstrdup(labels); /* lives as long as the process */
        pl_metrics_register_counter(cs[i]);
    }
}

static kind_t *find_kind(const char *kind)
{
    for (int i = 0; i < nkinds; i++)
        if (!strcmp(kinds[i].kind, kind))
            return &kinds[i];
    return NULL;
}

void pl_jobs_schedule(const char *name, const char *kind, int64_t period_ms)
{
    if (nschedules < MAX_SCHEDULES)
        schedules[nschedules++] = (schedule_t){name, kind, period_ms};
}

int pl_jobs_enqueue(pl_db_t *db, const char *kind, json_t *payload, const pl_job_opts_t *opts)
{
    char id[37];
    pl_uuid7(id);
    int64_t now = pl_now_ms();
    json_t *empty = payload ? NULL : json_object();
    char *text = json_dumps(payload ? payload : empty, JSON_COMPACT);
    json_decref(empty);
    if (!text)
        return PL_EINTERNAL;
    int rc = pl_jobs_store_insert(db, id, kind, text, opts && opts->run_at ? opts->run_at : now,
                                  opts && opts->max_attempts ? opts->max_attempts
                                                             : PL_JOB_DEFAULT_ATTEMPTS,
                                  opts ? opts->idempotency_key : NULL, now);
    free(text);
    if (rc == PL_OK)
        rc = pl_db_notify(db, NOTIFY_CHANNEL);
    if (rc == PL_OK)
        enqueued_here = true;
    return rc;
}

static void kick(void)
{
    pthread_mutex_lock(&mu);
    wake_seq++;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
}

void pl_jobs_wake(void)
{
    kick();
}

void pl_jobs_after_commit(void)
{
    if (enqueued_here) {
        enqueued_here = false;
        kick();
    }
}

int pl_jobs_count(pl_db_t *db, const char *status, int64_t *out)
{
    return pl_jobs_store_count(db, status, out);
}

/* ---- built-in kinds ---- */

static int job_noop(const char *id, json_t *payload, char *err, size_t errlen)
{
    PL_UNUSED(payload);
    PL_UNUSED(err);
    PL_UNUSED(errlen);
    pl_log("info", "job noop %s ran", id);
    return PL_OK;
}

static int job_fail(const char *id, json_t *payload, char *err, size_t errlen)
{
    PL_UNUSED(id);
    PL_UNUSED(payload);
    snprintf(err, errlen, "this job always fails (drill)");
    return PL_EINTERNAL;
}

int pl_jobs_enqueue_drill(pl_db_t *db, const char *kind, int count, int max_attempts)
{
    if (strcmp(kind, "noop") && strcmp(kind, "fail"))
        return PL_EINVAL;
    int rc = pl_db_begin(db);
    if (rc)
        return rc;
    pl_job_opts_t opts = {.max_attempts = max_attempts};
    for (int i = 0; i < count && rc == PL_OK; i++)
        rc = pl_jobs_enqueue(db, kind, NULL, &opts);
    return pl_db_finish(db, rc);
}

/* Finished jobs are kept a week for the admin view, then deleted. */
static int job_purge(const char *id, json_t *payload, char *err, size_t errlen)
{
    PL_UNUSED(id);
    PL_UNUSED(payload);
    pl_db_t *db = pl_db_thread();
    int rc = db ? pl_jobs_store_purge(db, pl_now_ms() - 7LL * 24 * 3600 * 1000) : PL_EDB;
    if (rc)
        snprintf(err, errlen, "purge failed (%d)", rc);
    return rc;
}

static double queued_gauge(void)
{
    pl_db_t *db = pl_db_thread();
    int64_t n = 0;
    if (db)
        pl_jobs_store_count(db, "queued", &n);
    return (double)n;
}

void pl_jobs_init(void)
{
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&cv, &attr);
    pthread_condattr_destroy(&attr);
    char host[32] = "host";
    gethostname(host, sizeof(host) - 1);
    host[sizeof(host) - 1] = '\0';
    snprintf(instance, sizeof(instance), "%.24s-%d", host, (int)getpid());
    pl_jobs_register("noop", job_noop);
    pl_jobs_register("fail", job_fail);
    pl_jobs_register("jobs.purge", job_purge);
    pl_jobs_schedule("jobs.purge", "jobs.purge", 3600LL * 1000);
    pl_metrics_register_counter(&unknown_kind);
    pl_metrics_register_gauge("plinth_jobs_queued", "Jobs waiting to run (including retries).",
                              queued_gauge);
}

/* ---- running one job ---- */

static int64_t backoff_ms(int attempts)
{
    int shift = attempts - 1 < 20 ? attempts - 1 : 20;
    int64_t base = 1000LL << (shift > 0 ? shift : 0);
    if (base > BACKOFF_CAP_MS)
        base = BACKOFF_CAP_MS;
    uint32_t r;
    pl_random_bytes(&r, sizeof(r));
    /* full jitter on the upper half: [base/2, base] */
    return base / 2 + (int64_t)(r % (uint32_t)(base / 2 + 1));
}

static void run_one(pl_db_t *db, const char *worker, const pl_job_row_t *j)
{
    char err[256] = "";
    int rc;
    kind_t *k = find_kind(j->kind);
    if (!k) {
        snprintf(err, sizeof(err), "no handler for kind %s", j->kind);
        rc = PL_EINVAL;
    } else {
        json_t *payload = json_loads(j->payload, 0, NULL);
        if (!payload) {
            snprintf(err, sizeof(err), "payload is not JSON");
            rc = PL_EINVAL;
        } else {
            rc = k->fn(j->id, payload, err, sizeof(err));
            json_decref(payload);
        }
    }
    int64_t now = pl_now_ms();
    if (rc == PL_OK) {
        if (pl_jobs_store_done(db, j->id, worker, j->attempts, now) == PL_OK && k)
            pl_counter_inc(&k->done);
        pl_log("info", "job %s %s done (attempt %d)", j->kind, j->id, j->attempts);
        return;
    }
    bool dead = rc == PL_EINVAL || j->attempts >= j->max_attempts;
    if (!err[0])
        snprintf(err, sizeof(err), "failed (%d)", rc);
    pl_jobs_store_fail(db, j->id, worker, j->attempts, dead, now + backoff_ms(j->attempts), err,
                       now);
    pl_counter_inc(!k ? &unknown_kind : dead ? &k->dead : &k->retry);
    pl_log(dead ? "error" : "warn", "job %s %s %s after attempt %d/%d: %s", j->kind, j->id,
           dead ? "dead" : "will retry", j->attempts, j->max_attempts, err);
}

static void wait_for_work(uint64_t seen, int ms)
{
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&mu);
    while (wake_seq == seen && !atomic_load(&stopping))
        if (pthread_cond_timedwait(&cv, &mu, &until) != 0)
            break;
    pthread_mutex_unlock(&mu);
}

/* Sleeps ms, or less when stopping. */
static void nap(int ms)
{
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&mu);
    while (!atomic_load(&stopping))
        if (pthread_cond_timedwait(&cv, &mu, &until) != 0)
            break;
    pthread_mutex_unlock(&mu);
}

static uint64_t current_seq(void)
{
    pthread_mutex_lock(&mu);
    uint64_t s = wake_seq;
    pthread_mutex_unlock(&mu);
    return s;
}

static void *worker_main(void *arg)
{
    char worker[64];
    snprintf(worker, sizeof(worker), "%s-w%d", instance, (int)(intptr_t)arg);
    while (!atomic_load(&stopping)) {
        uint64_t seen = current_seq();
        pl_db_t *db = pl_db_thread();
        if (!db) {
            wait_for_work(seen, IDLE_POLL_MS);
            continue;
        }
        pl_arena_t *a = pl_arena_create();
        pl_job_row_t j;
        int64_t now = pl_now_ms();
        int rc = pl_jobs_store_claim(db, a, worker, now, now + PL_JOB_LEASE_MS, &j);
        if (rc == PL_OK)
            run_one(db, worker, &j);
        pl_arena_destroy(a);
        if (rc == PL_ENOTFOUND || (rc != PL_OK && rc != PL_EBUSY))
            wait_for_work(seen, IDLE_POLL_MS);
    }
    pl_db_thread_close();
    return NULL;
}

/* The scheduler: every schedule whose time came is advanced and its job
 * enqueued in one transaction; the conditional UPDATE lets exactly one
 * instance win each period. */
static void *scheduler_main(void *arg)
{
    PL_UNUSED(arg);
    while (!atomic_load(&stopping)) {
        pl_db_t *db = pl_db_thread();
        for (int i = 0; db && i < nschedules; i++) {
            if (pl_db_begin(db) != PL_OK)
                break;
            int64_t now = pl_now_ms();
            int rc = pl_jobs_store_schedule_due(db, schedules[i].name, now, schedules[i].period);
            if (rc == 1)
                rc = pl_jobs_enqueue(db, schedules[i].kind, NULL, NULL);
            if (pl_db_finish(db, rc < 0 ? rc : PL_OK) == PL_OK)
                pl_jobs_after_commit();
        }
        nap(5000);
    }
    pl_db_thread_close();
    return NULL;
}

int pl_jobs_start(int n)
{
    atomic_store(&stopping, false);
    if (n <= 0)
        return PL_OK;
    if (n > (int)PL_ARRAY_LEN(threads) - 1)
        n = (int)PL_ARRAY_LEN(threads) - 1;
    if (pl_db_listen_start(NOTIFY_CHANNEL, kick) != PL_OK)
        pl_log("warn", "jobs: cannot listen for notifications; polling every %d ms", IDLE_POLL_MS);
    for (int i = 0; i < n; i++)
        if (pthread_create(&threads[nthreads], NULL, worker_main, (void *)(intptr_t)i) == 0)
            nthreads++;
    if (pthread_create(&threads[nthreads], NULL, scheduler_main, NULL) == 0)
        nthreads++;
    return nthreads ? PL_OK : PL_EINTERNAL;
}

void pl_jobs_stop(void)
{
    atomic_store(&stopping, true);
    kick();
    for (int i = 0; i < nthreads; i++)
        pthread_join(threads[i], NULL);
    nthreads = 0;
    pl_db_listen_stop();
}
