/* throttle.c - sign-in throttles: lockout, per-minute and per-IP limits. */
#include "auth/throttle.h"

static int seconds_until(int64_t at, int64_t now)
{
    int64_t ms = at - now;
    int s = (int)((ms + 999) / 1000);
    return s < 1 ? 1 : s;
}

pl_throttle_t pl_throttle_decide(const pl_throttle_input_t *in, int64_t now, int *retry_after)
{
    /* 10 consecutive failures lock (email, ip) for 15 minutes from the last one */
    if (in->nrecent >= PL_THROTTLE_LOCK_FAILS) {
        bool all_failed = true;
        for (int i = 0; i < PL_THROTTLE_LOCK_FAILS; i++)
            if (in->recent_success[i])
                all_failed = false;
        if (all_failed && in->recent_at[0] + PL_THROTTLE_LOCK_MS > now) {
            *retry_after = seconds_until(in->recent_at[0] + PL_THROTTLE_LOCK_MS, now);
            return PL_THROTTLE_LOCKED;
        }
    }
    if (in->minute_fails >= PL_THROTTLE_MINUTE_FAILS) {
        *retry_after = seconds_until(in->minute_oldest + 60 * 1000, now);
        return PL_THROTTLE_RATE_LIMITED;
    }
    if (in->ip_fails >= PL_THROTTLE_IP_FAILS) {
        *retry_after = seconds_until(in->ip_oldest + PL_THROTTLE_IP_WINDOW_MS, now);
        return PL_THROTTLE_RATE_LIMITED;
    }
    *retry_after = 0;
    return PL_THROTTLE_ALLOW;
}
