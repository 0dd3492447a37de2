/* stats.c - hourly counters (see stats.h): the SQL, the audited events they
 * count, and the daily purge. */
#include <stdio.h>
#include <string.h>

#include "core/core.h"
#include "platform/events/events.h"
#include "platform/stats/stats.h"

static const char sql_add[] =
    "INSERT INTO stats_hourly (metric, hour, n) VALUES ($1, $2, $3) "
    "ON CONFLICT (metric, hour) DO UPDATE SET n = stats_hourly.n + excluded.n";

int pl_stats_add(pl_db_t *db, const char *metric, int64_t at, int64_t n)
{
    PL_PREPARE(st, db, sql_add);
    pl_stmt_bind_text(st, 1, metric);
    pl_stmt_bind_int64(st, 2, at - at % PL_STATS_HOUR_MS);
    pl_stmt_bind_int64(st, 3, n);
    int rc = pl_stmt_exec(st);
    return rc < 0 ? rc : PL_OK;
}

static const char sql_series[] =
    "SELECT hour, n FROM stats_hourly WHERE metric = $1 AND hour >= $2 AND hour < $3";

int pl_stats_series(pl_db_t *db, const char *metric, int64_t from, int64_t step, int n,
                    int64_t *out)
{
    memset(out, 0, sizeof(*out) * (size_t)n);
    if (n <= 0 || step <= 0)
        return PL_OK;
    /* hours that start inside a bucket count for it */
    int64_t first = from - from % PL_STATS_HOUR_MS;
    PL_PREPARE(st, db, sql_series);
    pl_stmt_bind_text(st, 1, metric);
    pl_stmt_bind_int64(st, 2, first);
    pl_stmt_bind_int64(st, 3, from + step * n);
    int rc;
    while ((rc = pl_stmt_step(st)) == 1) {
        int64_t hour = pl_stmt_col_int64(st, 0);
        int64_t i = hour < from ? 0 : (hour - from) / step;
        if (i >= 0 && i < n)
            out[i] += pl_stmt_col_int64(st, 1);
    }
    pl_stmt_reset(st);
    return rc < 0 ? rc : PL_OK;
}

/* The audited events counted: each in the transaction that appends it. */
static int on_event(pl_db_t *db, pl_ctx_t *ctx, const pl_event_t *ev)
{
    PL_UNUSED(ctx);
    const char *metric = NULL;
    if (!strcmp(ev->action, "user.logged_in"))
        metric = PL_STATS_SIGN_IN;
    else if (!strcmp(ev->action, "user.login_failed"))
        metric = PL_STATS_SIGN_IN_FAILED;
    else if (!strcmp(ev->action, "user.registered"))
        metric = PL_STATS_USER_CREATED;
    else if (!strcmp(ev->action, "org.created") &&
             !json_is_true(json_object_get(ev->data, "personal")))
        metric = PL_STATS_ORG_CREATED;
    return metric ? pl_stats_add(db, metric, ev->created_at, 1) : PL_OK;
}

static const char sql_purge[] = "DELETE FROM stats_hourly WHERE hour < $1";

static int job_purge(const char *id, json_t *payload, char *err, size_t errlen)
{
    PL_UNUSED(id);
    PL_UNUSED(payload);
    pl_db_t *db = pl_db_thread();
    pl_stmt_t *st = db ? pl_db_prepare(db, sql_purge) : NULL;
    if (!st)
        return PL_EDB;
    pl_stmt_bind_int64(st, 1, pl_now_ms() - PL_STATS_KEEP_DAYS * 24 * PL_STATS_HOUR_MS);
    int rc = pl_stmt_exec(st);
    if (rc < 0)
        snprintf(err, errlen, "purge failed (%d)", rc);
    return rc < 0 ? rc : PL_OK;
}

static const pl_job_def_t jobs[] = {
    {"stats.purge", job_purge, true},
    {0},
};

static const pl_schedule_def_t schedules[] = {
    {"stats.purge", "stats.purge", 24LL * PL_STATS_HOUR_MS, NULL},
    {0},
};

const pl_module_t pl_stats_module = {
    .name = "stats",
    .jobs = jobs,
    .schedules = schedules,
    .on_event = on_event,
};
