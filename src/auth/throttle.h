/* throttle.h - the sign-in brute-force rules of API.md as a pure decision over
 * counts read from the database (so they hold across restarts and instances). */
#ifndef PL_THROTTLE_H
#define PL_THROTTLE_H

#include "core/core.h"

#define PL_THROTTLE_MINUTE_FAILS 5  /* per email and IP per rolling minute */
#define PL_THROTTLE_LOCK_FAILS   10 /* consecutive, per email and IP */
#define PL_THROTTLE_LOCK_MS      (15 * 60 * 1000)
#define PL_THROTTLE_IP_FAILS     50 /* per IP across emails per 10 minutes */
#define PL_THROTTLE_IP_WINDOW_MS (10 * 60 * 1000)

typedef struct {
    int minute_fails;      /* failures for (email, ip) in the last minute */
    int64_t minute_oldest; /* time of the oldest of those */
    int nrecent;           /* latest attempts for (email, ip), newest first */
    bool recent_success[PL_THROTTLE_LOCK_FAILS];
    int64_t recent_at[PL_THROTTLE_LOCK_FAILS];
    int ip_fails; /* failures for ip across emails in the last 10 minutes */
    int64_t ip_oldest;
} pl_throttle_input_t;

typedef enum { PL_THROTTLE_ALLOW = 0, PL_THROTTLE_RATE_LIMITED, PL_THROTTLE_LOCKED } pl_throttle_t;

/* Decides whether an attempt at time now (ms) may be evaluated; when not,
 * *retry_after is the whole seconds until it may (at least 1). */
pl_throttle_t pl_throttle_decide(const pl_throttle_input_t *in, int64_t now, int *retry_after);

#endif
