/* stats.h - instance-wide hourly counters: sign-ins, failed sign-ins, new
 * accounts and organizations, webhook attempts and their failures.
 *
 * One row per (metric, hour) in stats_hourly holds a count and nothing
 * else: no tenant's data, so it needs no row-level security and the admin
 * overview reads it in one query instead of walking lists or every
 * organization. Counts are added in the transaction of what they count (the
 * sign-in's, the delivery attempt's), so they commit or roll back with it;
 * the module's event subscriber counts the audited ones. Rows older than
 * PL_STATS_KEEP_DAYS are deleted by a daily job. Thread-safe. */
#ifndef PL_STATS_H
#define PL_STATS_H

#include "core/module.h"
#include "db/db.h"

#define PL_STATS_HOUR_MS   3600000LL
#define PL_STATS_KEEP_DAYS 90

/* The metrics (stats_hourly.metric). */
#define PL_STATS_SIGN_IN         "sign_in"
#define PL_STATS_SIGN_IN_FAILED  "sign_in_failed"
#define PL_STATS_USER_CREATED    "user_created"
#define PL_STATS_ORG_CREATED     "org_created" /* team organizations, not personal ones */
#define PL_STATS_WEBHOOK_ATTEMPT "webhook_attempt"
#define PL_STATS_WEBHOOK_FAILED  "webhook_attempt_failed" /* not a 2xx, or no answer */

/* Adds n to metric in the hour of at (UTC ms), in the caller's
 * transaction. */
int pl_stats_add(pl_db_t *db, const char *metric, int64_t at, int64_t n);

/* out[i] = the count of metric in [from + i*step, from + (i+1)*step) for i
 * in [0, n); step a whole number of hours. */
int pl_stats_series(pl_db_t *db, const char *metric, int64_t from, int64_t step, int n,
                    int64_t *out);

extern const pl_module_t pl_stats_module;

#endif
