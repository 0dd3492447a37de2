/* ratelimit.h - the opt-in general API rate limit (--rate-limit): at most
 * --rate-limit-rps requests per client IP per second, counted in memory
 * (a cache that is safe to lose; each instance counts its own traffic).
 * Thread-safe: the table is split into independently locked shards. */
#ifndef PL_RATELIMIT_H
#define PL_RATELIMIT_H

#include "core/core.h"

/* Counts one request from ip at now_ms; false when it is over the limit. */
bool pl_ratelimit_allow(const char *ip, int limit_per_second, int64_t now_ms);

#endif
