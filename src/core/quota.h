/* quota.h - fixed-window counters by key, in memory: "at most N of this per
 * client address per hour" for actions that cost the server (registration,
 * password reset, email verification). A cache that is safe to lose: each
 * instance counts its own traffic, and a restart forgets. Thread-safe: the
 * table is split into independently locked shards, and its memory is fixed
 * (an entry of an elapsed window is reused). */
#ifndef PL_QUOTA_H
#define PL_QUOTA_H

#include "core/core.h"

#define PL_QUOTA_KEY_MAX 96 /* longer keys are cut */

/* Counts one use of key in the window of window_ms that holds now_ms, when
 * fewer than limit were counted: true. Otherwise false and *retry_after the
 * whole seconds until the window ends (at least 1). limit <= 0: no limit. */
bool pl_quota_take(const char *key, int limit, int64_t window_ms, int64_t now_ms, int *retry_after);

#endif
