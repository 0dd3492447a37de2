/* Unit tests for core: arenas, capped buffers, JSON escaping, time, ids, parsing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <sodium.h>

#include "core/core.h"
#include "core/crypto.h"

static void arena_allocates_zeroed_and_runs_cleanups(void **state)
{
    (void)state;
    pl_arena_t *a = pl_arena_create();
    char *small = pl_arena_alloc(a, 10);
    for (int i = 0; i < 10; i++)
        assert_int_equal(small[i], 0);
    char *big = pl_arena_alloc(a, 100000);
    big[99999] = 'x';
    assert_string_equal(pl_arena_printf(a, "%s-%d", "a", 7), "a-7");
    /* the cleanup frees this; LeakSanitizer would report it otherwise */
    pl_arena_cleanup_add(a, free, malloc(8));
    pl_arena_destroy(a);
}

static void buf_respects_cap(void **state)
{
    (void)state;
    pl_buf_t b;
    pl_buf_init(&b, 8);
    assert_int_equal(pl_buf_append(&b, "12345678", 8), PL_OK);
    assert_int_equal(pl_buf_append(&b, "9", 1), PL_ELIMIT);
    assert_int_equal(b.len, 8);
    assert_string_equal(b.ptr, "12345678");
    pl_buf_free(&b);
}

static void json_escaping(void **state)
{
    (void)state;
    pl_buf_t b;
    pl_buf_init(&b, 1024);
    pl_buf_append_json_escaped(&b, "a\"b\\c\n\x01", 7);
    assert_string_equal(b.ptr, "a\\\"b\\\\c\\n\\u0001");
    pl_buf_free(&b);
}

static void time_format_rfc3339(void **state)
{
    (void)state;
    char out[32];
    pl_time_format(1795770264123LL, out);
    assert_string_equal(out, "2026-11-27T09:04:24.123Z");
    pl_time_format(0, out);
    assert_string_equal(out, "1970-01-01T00:00:00.000Z");
}

static void uuid7_is_valid_and_ordered(void **state)
{
    (void)state;
    char a[37], b[37];
    pl_uuid7(a);
    assert_true(pl_uuid_valid(a));
    assert_int_equal(a[14], '7');
    for (int i = 0; i < 3; i++) {
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
    }
    pl_uuid7(b);
    assert_true(strcmp(a, b) < 0);
    assert_false(pl_uuid_valid("not-a-uuid"));
    assert_false(pl_uuid_valid("0190D7E8-0000-7000-8000-000000000000"));
    assert_false(pl_uuid_valid(NULL));
}

static void parse_int_bounds(void **state)
{
    (void)state;
    int64_t v;
    assert_int_equal(pl_parse_int64("42", 0, 100, &v), PL_OK);
    assert_int_equal(v, 42);
    assert_int_equal(pl_parse_int64("101", 0, 100, &v), PL_EINVAL);
    assert_int_equal(pl_parse_int64("-1", 0, 100, &v), PL_EINVAL);
    assert_int_equal(pl_parse_int64("4x", 0, 100, &v), PL_EINVAL);
    assert_int_equal(pl_parse_int64("", 0, 100, &v), PL_EINVAL);
    assert_int_equal(pl_parse_int64("99999999999999999999", 0, INT64_MAX, &v), PL_EINVAL);
}

static void base64url_round_trip(void **state)
{
    (void)state;
    unsigned char in[5] = {0xfb, 0xff, 0x00, 0x10, 0x3e};
    char enc[16];
    unsigned char dec[16];
    size_t n = pl_b64url_encode(in, sizeof(in), enc, sizeof(enc));
    assert_int_equal(n, 7);
    assert_null(strchr(enc, '='));
    assert_null(strchr(enc, '+'));
    assert_int_equal(pl_b64url_decode(enc, n, dec, sizeof(dec)), 5);
    assert_memory_equal(dec, in, 5);
    assert_int_equal(pl_b64url_decode("a+b/", 4, dec, sizeof(dec)), -1);
}

static void sha256_known_answer(void **state)
{
    (void)state;
    char hex[65];
    pl_sha256_hex("abc", 3, hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert_true(pl_ct_equal("abcd", "abcd", 4));
    assert_false(pl_ct_equal("abcd", "abce", 4));
}

/* pl_ct_equal compares eight bytes at a time: every length around the word
 * size, a difference at every position, unaligned starts. */
static void ct_equal_every_length_and_position(void **state)
{
    (void)state;
    unsigned char a[80], b[81];
    for (size_t i = 0; i < sizeof(a); i++)
        a[i] = (unsigned char)(i * 37 + 11);
    for (size_t n = 0; n <= 70; n++) {
        memcpy(b + 1, a, n); /* b + 1: not aligned like a */
        assert_true(pl_ct_equal(a, b + 1, n));
        for (size_t k = 0; k < n; k++) {
            b[1 + k] ^= 0x80;
            assert_false(pl_ct_equal(a, b + 1, n));
            b[1 + k] ^= 0x81;
            assert_false(pl_ct_equal(a, b + 1, n));
            b[1 + k] ^= 0x01;
        }
    }
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(arena_allocates_zeroed_and_runs_cleanups),
        cmocka_unit_test(ct_equal_every_length_and_position),
        cmocka_unit_test(buf_respects_cap),
        cmocka_unit_test(json_escaping),
        cmocka_unit_test(time_format_rfc3339),
        cmocka_unit_test(uuid7_is_valid_and_ordered),
        cmocka_unit_test(parse_int_bounds),
        cmocka_unit_test(base64url_round_trip),
        cmocka_unit_test(sha256_known_answer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
