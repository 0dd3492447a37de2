/* Unit tests for core/feed: the queue between a stream's producer and its
 * connection (parking, waking, the cap, the limit, detaching, shutdown). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "core/feed.h"

typedef struct {
    int parks, wakes, probes;
    bool client_gone;
} consumer_t;

static bool park(void *arg, bool probe)
{
    consumer_t *c = arg;
    c->probes += probe;
    if (probe && c->client_gone)
        return false;
    c->parks++;
    return true;
}

static void wake(void *arg)
{
    ((consumer_t *)arg)->wakes++;
}

/* A feed with a consumer attached, as http/ sets it up. */
static pl_feed_t *attached(consumer_t *c, size_t cap)
{
    pl_feed_t *f = pl_feed_new(cap);
    assert_non_null(f);
    pl_feed_ref(f); /* the consumer's */
    pl_feed_attach(f, park, wake, c);
    return f;
}

static void reads_what_was_written_then_parks(void **state)
{
    (void)state;
    consumer_t c = {0};
    pl_feed_t *f = attached(&c, 1024);
    char buf[16];
    assert_int_equal(pl_feed_write(f, "hello ", 6), PL_OK);
    assert_int_equal(pl_feed_write(f, "world", 5), PL_OK);
    assert_int_equal(c.wakes, 0); /* nobody was parked */
    assert_int_equal(pl_feed_read(f, buf, 4), 4);
    assert_memory_equal(buf, "hell", 4);
    assert_int_equal(pl_feed_read(f, buf, sizeof(buf)), 7);
    assert_memory_equal(buf, "o world", 7);
    assert_int_equal(pl_feed_read(f, buf, sizeof(buf)), 0);
    assert_int_equal(c.parks, 1);
    /* one wake per park */
    assert_int_equal(pl_feed_write(f, "a", 1), PL_OK);
    assert_int_equal(pl_feed_write(f, "b", 1), PL_OK);
    assert_int_equal(c.wakes, 1);
    assert_int_equal(pl_feed_read(f, buf, sizeof(buf)), 2);
    pl_feed_detach(f);
    pl_feed_release(f);
}

static void close_ends_after_the_queue(void **state)
{
    (void)state;
    consumer_t c = {0};
    pl_feed_t *f = attached(&c, 1024);
    char buf[16];
    assert_int_equal(pl_feed_read(f, buf, sizeof(buf)), 0); /* parked */
    pl_feed_write(f, "last", 4);
    pl_feed_close(f);
    assert_int_equal(c.wakes, 1);
    assert_true(pl_feed_gone(f));
    assert_int_equal(pl_feed_write(f, "more", 4), PL_ENOTFOUND);
    assert_int_equal(pl_feed_read(f, buf, sizeof(buf)), 4);
    assert_int_equal(pl_feed_read(f, buf, sizeof(buf)), PL_FEED_END);
    pl_feed_detach(f);
    pl_feed_release(f);
}

static void a_slow_reader_is_cut_off(void **state)
{
    (void)state;
    consumer_t c = {0};
    pl_feed_t *f = attached(&c, 10);
    char buf[16];
    assert_int_equal(pl_feed_write(f, "12345678", 8), PL_OK);
    assert_int_equal(pl_feed_write(f, "9ab", 3), PL_ELIMIT);
    assert_true(pl_feed_gone(f));
    assert_int_equal(pl_feed_read(f, buf, sizeof(buf)), 8); /* what fitted is still sent */
    assert_int_equal(pl_feed_read(f, buf, sizeof(buf)), PL_FEED_END);
    pl_feed_detach(f);
    pl_feed_release(f);
}

static void a_probe_lets_the_consumer_notice_a_gone_client(void **state)
{
    (void)state;
    consumer_t c = {.client_gone = true};
    pl_feed_t *f = attached(&c, 1024);
    char buf[16];
    pl_feed_write(f, "event", 5);
    assert_int_equal(pl_feed_read(f, buf, sizeof(buf)), 5);
    assert_int_equal(pl_feed_read(f, buf, sizeof(buf)), 0); /* no probe: parks */
    assert_int_equal(c.probes, 0);
    pl_feed_probe(f, ": ping\n\n", 8);
    assert_int_equal(pl_feed_read(f, buf, sizeof(buf)), 8);
    assert_int_equal(pl_feed_read(f, buf, sizeof(buf)), PL_FEED_END);
    assert_int_equal(c.probes, 1);
    assert_true(pl_feed_gone(f));
    pl_feed_detach(f);
    pl_feed_release(f);
}

static void detach_tells_the_producer_and_frees_the_slot(void **state)
{
    (void)state;
    int before = pl_feed_count();
    consumer_t c = {0};
    pl_feed_t *f = attached(&c, 1024);
    assert_int_equal(pl_feed_count(), before + 1);
    pl_feed_detach(f);
    assert_int_equal(pl_feed_count(), before);
    assert_true(pl_feed_gone(f));
    assert_int_equal(pl_feed_write(f, "x", 1), PL_ENOTFOUND);
    assert_int_equal(c.wakes, 0);
    pl_feed_release(f);
    /* a feed never handed to a consumer is uncounted by its last release */
    f = pl_feed_new(16);
    assert_int_equal(pl_feed_count(), before + 1);
    pl_feed_release(f);
    assert_int_equal(pl_feed_count(), before);
}

static void the_limit_and_shutdown(void **state)
{
    (void)state;
    pl_feed_set_limit(2);
    consumer_t c1 = {0}, c2 = {0};
    pl_feed_t *a = attached(&c1, 64), *b = attached(&c2, 64);
    assert_null(pl_feed_new(64));
    char buf[8];
    assert_int_equal(pl_feed_read(a, buf, sizeof(buf)), 0); /* a waits parked */
    assert_int_equal(pl_feed_shutdown(), 2);
    assert_int_equal(c1.wakes, 1);                                    /* shutdown woke it, */
    assert_int_equal(pl_feed_read(a, buf, sizeof(buf)), PL_FEED_END); /* and it ends */
    assert_null(pl_feed_new(64));                                     /* no new feeds */
    pl_feed_detach(a);
    pl_feed_detach(b);
    assert_int_equal(pl_feed_shutdown(), 0);
    pl_feed_release(a);
    pl_feed_release(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(reads_what_was_written_then_parks),
        cmocka_unit_test(close_ends_after_the_queue),
        cmocka_unit_test(a_slow_reader_is_cut_off),
        cmocka_unit_test(a_probe_lets_the_consumer_notice_a_gone_client),
        cmocka_unit_test(detach_tells_the_producer_and_frees_the_slot),
        cmocka_unit_test(the_limit_and_shutdown), /* last: it shuts feeds down */
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
