/* Unit tests for the sign-in throttle rules. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "auth/throttle.h"

#define MIN 60000LL

static void allows_when_quiet(void **state)
{
    (void)state;
    pl_throttle_input_t in = {0};
    int ra = -1;
    assert_int_equal(pl_throttle_decide(&in, 1000000, &ra), PL_THROTTLE_ALLOW);
    assert_int_equal(ra, 0);
}

static void five_per_minute(void **state)
{
    (void)state;
    int64_t now = 10 * MIN;
    pl_throttle_input_t in = {.minute_fails = 4, .minute_oldest = now - 50000};
    int ra;
    assert_int_equal(pl_throttle_decide(&in, now, &ra), PL_THROTTLE_ALLOW);
    in.minute_fails = 5;
    assert_int_equal(pl_throttle_decide(&in, now, &ra), PL_THROTTLE_RATE_LIMITED);
    assert_int_equal(ra, 10);
}

static void ten_consecutive_lock(void **state)
{
    (void)state;
    int64_t now = 100 * MIN;
    pl_throttle_input_t in = {.nrecent = 10};
    for (int i = 0; i < 10; i++)
        in.recent_at[i] = now - 1000 - i * 30000;
    int ra;
    assert_int_equal(pl_throttle_decide(&in, now, &ra), PL_THROTTLE_LOCKED);
    assert_int_equal(ra, 15 * 60 - 1);
    /* a success among the last ten: not consecutive */
    in.recent_success[7] = true;
    assert_int_equal(pl_throttle_decide(&in, now, &ra), PL_THROTTLE_ALLOW);
    /* the lock ends 15 minutes after the last failure */
    in.recent_success[7] = false;
    assert_int_equal(pl_throttle_decide(&in, now + 15 * MIN, &ra), PL_THROTTLE_ALLOW);
    in.nrecent = 9;
    assert_int_equal(pl_throttle_decide(&in, now, &ra), PL_THROTTLE_ALLOW);
}

static void fifty_per_ip(void **state)
{
    (void)state;
    int64_t now = 100 * MIN;
    pl_throttle_input_t in = {.ip_fails = 50, .ip_oldest = now - 9 * MIN};
    int ra;
    assert_int_equal(pl_throttle_decide(&in, now, &ra), PL_THROTTLE_RATE_LIMITED);
    assert_int_equal(ra, 60);
    in.ip_fails = 49;
    assert_int_equal(pl_throttle_decide(&in, now, &ra), PL_THROTTLE_ALLOW);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(allows_when_quiet),
        cmocka_unit_test(five_per_minute),
        cmocka_unit_test(ten_consecutive_lock),
        cmocka_unit_test(fifty_per_ip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
