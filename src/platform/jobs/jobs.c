/* jobs.c - job handlers, worker threads, wake-ups, the scheduler, metrics. */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/config.h"
#include "core/crypto.h"
#include "core/metrics.h"
#include "platform/audit/audit.h"
#include "platform/events/events.h"
#include "platform/jobs/jobs.h"
#include "platform/jobs/jobs_store.h"

#define MAX_KINDS      64
#define MAX_SCHEDULES  32
#define IDLE_POLL_MS   1000 /* fallback when no wake-up arrives */
#define BACKOFF_CAP_MS (10 * 60 * 1000)
#define NOTIFY_CHANNEL "plinth_jobs"

typedef struct {
    const char *kind;
    pl_job_fn fn;
    bool transactional;
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
static bool cv_ready;

static pl_counter_t unknown_kind = {"plinth_jobs_total", "Jobs finished by kind and outcome.",
                                    "kind=\"unknown\",outcome=\"dead\"", 0, 0};

static void register_kind(const char *kind, pl_job_fn fn, bool transactional)
{
    if (nkinds >= MAX_KINDS) {
        pl_log("error", "jobs: too many job kinds; %s is not registered", kind);
        return;
    }
    kind_t *k = &kinds[nkinds++];
    k->kind = kind;
    k->fn = fn;
    k->transactional = transactional;
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

void pl_jobs_register(const pl_job_def_t *defs)
{
    for (const pl_job_def_t *d = defs; d && d->kind; d++)
        register_kind(d->kind, d->fn, d->transactional);
}

void pl_jobs_register_schedules(const pl_schedule_def_t *defs)
{
    for (const pl_schedule_def_t *d = defs; d && d->name; d++) {
        int64_t period = d->period ? d->period() : d->period_ms;
        if (period <= 0)
            continue;
        if (nschedules < MAX_SCHEDULES)
            schedules[nschedules++] = (schedule_t){d->name, d->kind, period};
        else
            pl_log("error", "jobs: too many schedules; %s is not registered", d->name);
    }
}

int pl_jobs_enqueue(pl_db_t *db, const char *kind, json_t *payload, const pl_job_opts_t *opts)
{
    char id[37];
    pl_uuid7(id);
    if (opts && opts->id_out)
        memcpy(opts->id_out, id, sizeof(id));
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
        rc = pl_db_notify(db, NOTIFY_CHANNEL, NULL);
    if (rc == PL_OK)
        enqueued_here = true;
    return rc;
}

static void kick(void)
{
    if (!cv_ready)
        return;
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

bool pl_jobs_stopping(void)
{
    return atomic_load(&stopping);
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
    PL_UNUSED(id);
    return PL_OK; /* transactional: the runner logs it done once it committed */
}

static int job_fail(const char *id, json_t *payload, char *err, size_t errlen)
{
    PL_UNUSED(id);
    PL_UNUSED(payload);
    snprintf(err, errlen, "this job always fails (drill)");
    return PL_EINTERNAL;
}

static int enqueue_drill(pl_db_t *db, const char *kind, int count, int max_attempts)
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

int pl_jobs_stall_seconds = 300;

int pl_jobs_oldest_queued_seconds(pl_db_t *db, double *out)
{
    int64_t now = pl_now_ms(), run_at = 0;
    int rc = pl_jobs_store_oldest_due(db, now, &run_at);
    *out = rc == PL_OK && run_at > 0 && run_at < now ? (double)(now - run_at) / 1000.0 : 0.0;
    return rc;
}

static double oldest_gauge(void)
{
    pl_db_t *db = pl_db_thread();
    double s = 0;
    if (db)
        pl_jobs_oldest_queued_seconds(db, &s);
    return s;
}

static double queued_gauge(void)
{
    pl_db_t *db = pl_db_thread();
    int64_t n = 0;
    if (db)
        pl_jobs_store_count(db, "queued", &n);
    return (double)n;
}

static void on_notify(const char *payload)
{
    PL_UNUSED(payload);
    kick();
}

static int jobs_init(void)
{
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&cv, &attr);
    pthread_condattr_destroy(&attr);
    cv_ready = true;
    char host[32] = "host";
    gethostname(host, sizeof(host) - 1);
    host[sizeof(host) - 1] = '\0';
    snprintf(instance, sizeof(instance), "%.24s-%d", host, (int)getpid());
    pl_metrics_register_counter(&unknown_kind);
    pl_metrics_register_gauge("plinth_jobs_queued", "Jobs waiting to run (including retries).",
                              queued_gauge);
    pl_metrics_register_gauge("plinth_jobs_oldest_queued_seconds",
                              "Seconds the oldest due queued job has waited.", oldest_gauge);
    if (pl_db_listen(NOTIFY_CHANNEL, on_notify) != PL_OK)
        pl_log("warn", "jobs: cannot listen for notifications; polling every %d ms", IDLE_POLL_MS);
    return PL_OK;
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

static void run_one(pl_db_t *db, const char *worker, const pl_job_t *j)
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

/* A transactional kind: the handler runs inside the claim's transaction
 * (still open on db) and the job is marked done in it. A failure rolls the
 * claim back with the handler's work, then records the attempt on its own. */
static void run_in_tx(pl_db_t *db, const char *worker, const pl_job_t *j, kind_t *k)
{
    char err[256] = "";
    int rc;
    json_t *payload = json_loads(j->payload, 0, NULL);
    if (!payload) {
        snprintf(err, sizeof(err), "payload is not JSON");
        rc = PL_EINVAL;
    } else {
        rc = k->fn(j->id, payload, err, sizeof(err));
        json_decref(payload);
    }
    if (rc == PL_OK) {
        rc = pl_db_finish(db, pl_jobs_store_done(db, j->id, worker, j->attempts, pl_now_ms()));
        if (rc == PL_OK) {
            pl_counter_inc(&k->done);
            pl_log("info", "job %s %s done (attempt %d)", j->kind, j->id, j->attempts);
            return;
        }
        snprintf(err, sizeof(err), "the job's transaction did not commit (%d)", rc);
    } else {
        pl_db_rollback(db);
    }
    bool dead = rc == PL_EINVAL || j->attempts >= j->max_attempts;
    if (!err[0])
        snprintf(err, sizeof(err), "failed (%d)", rc);
    int64_t now = pl_now_ms();
    if (pl_db_begin(db) == PL_OK)
        pl_db_finish(db, pl_jobs_store_fail_unclaimed(db, j->id, j->attempts, dead,
                                                      now + backoff_ms(j->attempts), err, now));
    pl_counter_inc(dead ? &k->dead : &k->retry);
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
        pl_job_t j;
        int64_t now = pl_now_ms();
        /* the claim is a transaction of its own, or, for a transactional
         * kind, the one the handler runs in */
        int rc = pl_db_begin(db);
        if (rc == PL_OK)
            rc = pl_jobs_store_claim(db, a, worker, now, now + PL_JOB_LEASE_MS, &j);
        kind_t *k = rc == PL_OK ? find_kind(j.kind) : NULL;
        if (k && k->transactional) {
            run_in_tx(db, worker, &j, k);
        } else if (rc == PL_OK) {
            rc = pl_db_commit(db);
            if (rc == PL_OK)
                run_one(db, worker, &j);
            else
                pl_db_rollback(db);
        } else {
            pl_db_rollback(db);
        }
        if (rc == PL_OK) {
            pl_jobs_after_commit();
            pl_events_after_commit();
        }
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

static int jobs_start(void)
{
    int n = pl_cfg.workers;
    atomic_store(&stopping, false);
    if (n <= 0)
        return PL_OK;
    if (n > (int)PL_ARRAY_LEN(threads) - 1)
        n = (int)PL_ARRAY_LEN(threads) - 1;
    for (int i = 0; i < n; i++)
        if (pthread_create(&threads[nthreads], NULL, worker_main, (void *)(intptr_t)i) == 0)
            nthreads++;
    if (pthread_create(&threads[nthreads], NULL, scheduler_main, NULL) == 0)
        nthreads++;
    return nthreads ? PL_OK : PL_EINTERNAL;
}

static void jobs_stop(void)
{
    atomic_store(&stopping, true);
    kick();
    for (int i = 0; i < nthreads; i++)
        pthread_join(threads[i], NULL);
    nthreads = 0;
}

/* ---- the admin view ---- */

int pl_jobs_list(pl_db_t *db, pl_arena_t *a, const char *status, const char *after, int limit,
                 void (*fn)(void *arg, const pl_job_t *j), void *arg)
{
    return pl_jobs_store_list(db, a, status, after, limit, fn, arg);
}

int pl_jobs_retry(pl_db_t *db, pl_ctx_t *ctx, const char *id, pl_job_t *out)
{
    int rc = pl_db_begin(db);
    if (rc)
        return rc;
    rc = pl_jobs_store_get(db, ctx->arena, id, out);
    if (rc == PL_OK)
        rc = pl_jobs_store_retry(db, id, pl_now_ms());
    if (rc == PL_OK)
        rc = pl_db_notify(db, NOTIFY_CHANNEL, NULL);
    if (rc == PL_OK)
        rc = pl_audit_append(db, ctx, NULL, "job.retried", "job", id, NULL);
    if (rc == PL_OK)
        rc = pl_jobs_store_get(db, ctx->arena, id, out);
    if ((rc = pl_db_finish(db, rc))) {
        if (rc == PL_ENOTFOUND)
            return pl_fail(ctx, 404, "not_found", "No such job.");
        if (rc == PL_ECONFLICT)
            return pl_fail(ctx, 409, "conflict", "Only dead jobs can be retried.");
        return rc;
    }
    kick();
    return PL_OK;
}

/* ---- the module ---- */

static char drill_kind[16];
static int drill_count = 1, drill_attempts;

static int enqueue_cmd(pl_cli_t *cli)
{
    if (!drill_kind[0] || (strcmp(drill_kind, "noop") && strcmp(drill_kind, "fail"))) {
        fprintf(stderr, "plinth: jobs enqueue needs --kind noop|fail, --count 1..1000000, "
                        "--max-attempts 1..100\n");
        return 2;
    }
    int rc = enqueue_drill(cli->db, drill_kind, drill_count, drill_attempts);
    if (rc) {
        fprintf(stderr, "plinth: cannot enqueue (%d)\n", rc);
        return 1;
    }
    printf("enqueued %d %s job(s)\n", drill_count, drill_kind);
    return 0;
}

static const pl_option_t enqueue_options[] = {
    {"kind", NULL, PL_OPT_STR, PL_OPT_S(drill_kind), 0, 0, 0, "noop|fail",
     "the drill job: noop succeeds, fail always fails", NULL},
    {"count", NULL, PL_OPT_INT, &drill_count, 0, 1, 1000000, 0, "N", "how many jobs (default 1)",
     NULL},
    {"max-attempts", NULL, PL_OPT_INT, &drill_attempts, 0, 1, 100, 0, "M",
     "attempts before a job is dead (default 10)", NULL},
    {0},
};

static const pl_command_t commands[] = {
    {"jobs enqueue", "queue drill jobs (queue checks and benchmarks)",
     "Usage: plinth jobs enqueue --kind noop|fail [--count N] [--max-attempts M] [options]",
     enqueue_options, 0, PL_CMD_STORAGE, enqueue_cmd},
    {0},
};

static const pl_job_def_t job_kinds[] = {
    {"noop", job_noop, true},
    {"fail", job_fail},
    {"jobs.purge", job_purge},
    {0},
};

static const pl_schedule_def_t job_schedules[] = {
    {"jobs.purge", "jobs.purge", 3600LL * 1000, NULL},
    {0},
};

static const pl_option_t job_options[] = {
    {"jobs-stall-seconds", "PLINTH_JOBS_STALL_SECONDS", PL_OPT_INT, &pl_jobs_stall_seconds, 0, 1,
     86400 * 7, PL_OPT_RUN, "SECONDS",
     "/readyz fails `jobs` when a due job has waited longer (default 300)", NULL},
    {0},
};

const pl_module_t pl_jobs_module = {
    .name = "jobs",
    .options = job_options,
    .jobs = job_kinds,
    .schedules = job_schedules,
    .commands = commands,
    .init = jobs_init,
    .start = jobs_start,
    .stop = jobs_stop,
};
