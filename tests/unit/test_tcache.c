/* Unit tests for the per-thread caches of rendered bytes (core/tcache) and
 * for pages of rows (core/rows.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <pthread.h>
#include <string.h>

#include <cmocka.h>

#include "core/rows.h"
#include "core/tcache.h"

static pl_tcache_t cache = PL_TCACHE_INIT(4, 16);

static void hits_need_the_same_key_and_version(void **state)
{
    (void)state;
    size_t len = 0;
    assert_null(pl_tcache_get(&cache, "org-1", 1, &len));
    pl_tcache_put(&cache, "org-1", 1, "[1,2]", 5);
    const char *v = pl_tcache_get(&cache, "org-1", 1, &len);
    assert_non_null(v);
    assert_int_equal(len, 5);
    assert_memory_equal(v, "[1,2]", 5);
    assert_null(pl_tcache_get(&cache, "org-1", 2, &len)); /* the data changed since */
    assert_null(pl_tcache_get(&cache, "org-2", 1, &len));
    pl_tcache_put(&cache, "org-1", 2, "[3]", 3); /* replaces */
    v = pl_tcache_get(&cache, "org-1", 2, &len);
    assert_non_null(v);
    assert_int_equal(len, 3);
    assert_null(pl_tcache_get(&cache, "org-1", 1, &len));
}

static void big_values_and_long_keys_are_not_kept(void **state)
{
    (void)state;
    size_t len;
    pl_tcache_put(&cache, "big", 1, "01234567890123456", 17);
    assert_null(pl_tcache_get(&cache, "big", 1, &len));
    char key[PL_TCACHE_KEY_MAX + 2];
    memset(key, 'k', sizeof(key) - 1);
    key[sizeof(key) - 1] = '\0';
    pl_tcache_put(&cache, key, 1, "x", 1);
    assert_null(pl_tcache_get(&cache, key, 1, &len));
}

static void *other_thread(void *arg)
{
    size_t len;
    *(const char **)arg = pl_tcache_get(&cache, "shared", 1, &len);
    pl_tcache_put(&cache, "shared", 1, "theirs", 6);
    return NULL;
}

static void threads_keep_their_own(void **state)
{
    (void)state;
    size_t len;
    pl_tcache_put(&cache, "shared", 1, "mine", 4);
    const char *seen = "unset";
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, other_thread, &seen), 0);
    pthread_join(t, NULL);
    assert_null(seen);
    const char *v = pl_tcache_get(&cache, "shared", 1, &len);
    assert_non_null(v);
    assert_memory_equal(v, "mine", 4);
}

static void rows_know_when_more_follow(void **state)
{
    (void)state;
    pl_arena_t *a = pl_arena_create();
    pl_rows_t r;
    pl_rows_init(&r, a, sizeof(int), 2);
    for (int i = 0; i < 3; i++) {
        int *slot = pl_rows_add(&r);
        if (!slot)
            break;
        *slot = i;
    }
    assert_int_equal(r.n, 2);
    assert_true(r.more);
    assert_int_equal(*(int *)pl_rows_at(&r, 1), 1);

    pl_rows_init(&r, a, sizeof(int), 0); /* no limit: grows */
    for (int i = 0; i < 100; i++)
        *(int *)pl_rows_add(&r) = i;
    assert_int_equal(r.n, 100);
    assert_false(r.more);
    for (int i = 0; i < 100; i++)
        assert_int_equal(*(int *)pl_rows_at(&r, i), i);
    pl_arena_destroy(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(hits_need_the_same_key_and_version),
        cmocka_unit_test(big_values_and_long_keys_are_not_kept),
        cmocka_unit_test(threads_keep_their_own),
        cmocka_unit_test(rows_know_when_more_follow),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
