/* Unit tests for feature flags: the rollout bucket against values computed
 * independently (Python: int.from_bytes(hashlib.sha256(b"key:org").digest()[:4],
 * "big") % 100), the evaluation precedence, key validation, and a snapshot
 * built and published the way a reload does (flags.c is included to reach its
 * static builders). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "flags/flags.c"

static void bucket_matches_the_documented_function(void **state)
{
    (void)state;
    assert_int_equal(pl_flags_bucket("new-ui", "0190a0b2-7c3e-7d4f-8a1b-2c3d4e5f6a7b"), 12);
    assert_int_equal(pl_flags_bucket("beta.search", "org-1"), 29);
    assert_int_equal(pl_flags_bucket("a", "b"), 22);
    /* first four bytes 0xda86...: above 2^31, so the integer must be unsigned */
    assert_int_equal(pl_flags_bucket("checkout_v2", "01234567-89ab-7def-8123-456789abcdef"), 25);
    assert_int_equal(pl_flags_bucket("dark-mode", ""), 19);
    /* longer than the stack buffer */
    char key[65], org[201];
    memset(key, 'x', 64);
    key[64] = '\0';
    memset(org, 'y', 200);
    org[200] = '\0';
    assert_int_equal(pl_flags_bucket(key, org), 2);
}

static void override_wins(void **state)
{
    (void)state;
    const char *k = "new-ui", *org = "0190a0b2-7c3e-7d4f-8a1b-2c3d4e5f6a7b"; /* bucket 12 */
    for (int rollout = 0; rollout <= 100; rollout += 10) {
        assert_true(pl_flags_decide(false, rollout, PL_FLAG_OVERRIDE_ON, k, org));
        assert_true(pl_flags_decide(true, rollout, PL_FLAG_OVERRIDE_ON, k, org));
        assert_false(pl_flags_decide(false, rollout, PL_FLAG_OVERRIDE_OFF, k, org));
        assert_false(pl_flags_decide(true, rollout, PL_FLAG_OVERRIDE_OFF, k, org));
    }
}

static void disabled_is_off_and_rollout_cuts_at_the_bucket(void **state)
{
    (void)state;
    const char *k = "new-ui", *org = "0190a0b2-7c3e-7d4f-8a1b-2c3d4e5f6a7b"; /* bucket 12 */
    assert_false(pl_flags_decide(false, 100, PL_FLAG_NO_OVERRIDE, k, org));
    assert_false(pl_flags_decide(false, 50, PL_FLAG_NO_OVERRIDE, k, org));
    assert_true(pl_flags_decide(true, 100, PL_FLAG_NO_OVERRIDE, k, org));
    assert_false(pl_flags_decide(true, 0, PL_FLAG_NO_OVERRIDE, k, org));
    assert_false(pl_flags_decide(true, 12, PL_FLAG_NO_OVERRIDE, k, org)); /* 12 < 12 is false */
    assert_true(pl_flags_decide(true, 13, PL_FLAG_NO_OVERRIDE, k, org));
    /* 0% is off and 100% is on for every org, whatever its bucket */
    char id[37];
    for (int i = 0; i < 200; i++) {
        pl_uuid7(id);
        assert_false(pl_flags_decide(true, 0, PL_FLAG_NO_OVERRIDE, "any", id));
        assert_true(pl_flags_decide(true, 100, PL_FLAG_NO_OVERRIDE, "any", id));
    }
}

static void keys(void **state)
{
    (void)state;
    assert_true(pl_flags_key_valid("a"));
    assert_true(pl_flags_key_valid("new-ui.v2_beta"));
    char k[66];
    memset(k, 'a', 65);
    k[64] = '\0';
    assert_true(pl_flags_key_valid(k));
    k[64] = 'a';
    k[65] = '\0';
    assert_false(pl_flags_key_valid(k));
    assert_false(pl_flags_key_valid(""));
    assert_false(pl_flags_key_valid(NULL));
    assert_false(pl_flags_key_valid("1abc"));
    assert_false(pl_flags_key_valid("-abc"));
    assert_false(pl_flags_key_valid("New"));
    assert_false(pl_flags_key_valid("a b"));
    assert_false(pl_flags_key_valid("a/b"));
}

static void row(pl_flags_snapshot_t *s, const char *key, bool enabled, int rollout, const char *org,
                int ov)
{
    pl_flag_row_t f = {key, "", enabled, rollout, 0, 0};
    pl_flag_override_row_t o = {key, org, ov == 1};
    add_row(s, &f, org ? &o : NULL);
}

static pl_flags_snapshot_t *snapshot(int64_t version)
{
    pl_flags_snapshot_t *s = pl_xcalloc(1, sizeof(*s));
    atomic_init(&s->refs, 1);
    s->version = version;
    return s;
}

static void snapshot_evaluation(void **state)
{
    (void)state;
    const char *a = "0190a0b2-7c3e-7d4f-8a1b-2c3d4e5f6a7b", *b = "org-1", *c = "zzz";
    pl_flags_snapshot_t *s = snapshot(7);
    /* rows as the join returns them: a flag's rows together, any key order */
    row(s, "zeta", true, 100, c, 0);
    row(s, "zeta", true, 100, a, 1);
    row(s, "alpha", false, 100, b, 1);
    row(s, "mid", true, 0, NULL, 0);
    row(s, "new-ui", true, 13, NULL, 0);
    sort_snapshot(s);
    assert_true(publish(s, false));

    pl_flags_snapshot_t *r = pl_flags_acquire();
    assert_ptr_equal(r, s);
    assert_int_equal(pl_flags_count(r), 4);
    assert_string_equal(pl_flags_key(r, 0), "alpha");
    assert_string_equal(pl_flags_key(r, 3), "zeta");
    assert_int_equal(pl_flags_version(r), 7);
    assert_true(pl_flags_enabled("alpha", b));  /* disabled, but overridden on */
    assert_false(pl_flags_enabled("alpha", a)); /* disabled */
    assert_false(pl_flags_enabled("mid", a));   /* 0% */
    assert_true(pl_flags_enabled("new-ui", a)); /* bucket 12 < 13 */
    assert_false(pl_flags_enabled("zeta", c));  /* overridden off at 100% */
    assert_true(pl_flags_enabled("zeta", a));
    assert_true(pl_flags_enabled("zeta", b));
    assert_false(pl_flags_enabled("unknown", a));

    /* an older build never replaces a newer one; a newer one does, and the
     * pinned snapshot stays readable until released */
    pl_flags_snapshot_t *old = snapshot(6);
    assert_false(publish(old, false));
    assert_ptr_equal(current, s);
    pl_flags_snapshot_t *next = snapshot(8);
    row(next, "only", true, 100, NULL, 0);
    sort_snapshot(next);
    assert_true(publish(next, false));
    assert_string_equal(pl_flags_key(r, 0), "alpha");
    assert_int_equal(atomic_load(&r->refs), 1); /* only our pin is left */
    pl_flags_release(r);
    assert_true(pl_flags_enabled("only", a));
    assert_false(pl_flags_enabled("zeta", a));
    /* forced (the database went back): published even though older */
    assert_true(publish(snapshot(1), true));
    assert_int_equal(pl_flags_count(current), 0);
    pl_flags_release(current);
    current = NULL;
}

int main(void)
{
    pl_crypto_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bucket_matches_the_documented_function),
        cmocka_unit_test(override_wins),
        cmocka_unit_test(disabled_is_off_and_rollout_cuts_at_the_bucket),
        cmocka_unit_test(keys),
        cmocka_unit_test(snapshot_evaluation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
