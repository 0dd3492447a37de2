/* Unit tests for files: the streaming multipart/form-data parser (pieces
 * of any size, delimiters split across pieces, look-alike delimiters in the
 * data, parts without headers, malformed bodies, the boundary parameter). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "files/multipart.h"

typedef struct {
    char out[4096];
    size_t len;
    int calls;
} sink_t;

static int on_data(void *cls, const char *data, size_t n)
{
    sink_t *s = cls;
    assert_true(n > 0);
    assert_true(s->len + n < sizeof(s->out));
    memcpy(s->out + s->len, data, n);
    s->len += n;
    s->calls++;
    return 0;
}

/* Parses body in pieces of step bytes (0: whole). */
static int parse(const char *body, size_t step, pl_mp_t *mp, sink_t *s)
{
    memset(s, 0, sizeof(*s));
    pl_mp_init(mp, "XyZ", "file", on_data, s);
    size_t n = strlen(body);
    int rc = PL_MP_OK;
    for (size_t i = 0; i < n;) {
        size_t k = step ? step : n;
        if (k > n - i)
            k = n - i;
        rc = pl_mp_feed(mp, body + i, k);
        i += k;
    }
    return rc;
}

static const char body1[] =
    "preamble, ignored\r\n"
    "--XyZ\r\n"
    "Content-Disposition: form-data; name=\"title\"\r\n\r\n"
    "not the file\r\n"
    "--XyZ\r\n"
    "Content-Disposition: form-data; name=\"file\"; filename=\"r\\\"e.txt\"\r\n"
    "Content-Type: text/plain\r\n\r\n"
    "line 1\r\n--Xy not a delimiter\r\n-\r\r\n--Xy still data\r\n"
    "--XyZ\r\n"
    "Content-Disposition: form-data; name=\"file\"; filename=\"second.txt\"\r\n\r\n"
    "the second file field is skipped\r\n"
    "--XyZ--\r\n"
    "epilogue --XyZ\r\n";

static const char want1[] = "line 1\r\n--Xy not a delimiter\r\n-\r\r\n--Xy still data";

static void every_piece_size_gives_the_same_data(void **state)
{
    (void)state;
    static pl_mp_t mp;
    sink_t s;
    for (size_t step = 0; step <= 40; step++) {
        assert_int_equal(parse(body1, step, &mp, &s), PL_MP_OK);
        assert_true(mp.found);
        assert_true(mp.done);
        assert_string_equal(mp.filename, "r\"e.txt");
        assert_string_equal(mp.content_type, "text/plain");
        assert_int_equal(s.len, strlen(want1));
        assert_memory_equal(s.out, want1, s.len);
    }
}

static void a_part_without_headers_and_an_empty_file(void **state)
{
    (void)state;
    static pl_mp_t mp;
    sink_t s;
    assert_int_equal(parse("--XyZ\r\n\r\nno headers\r\n--XyZ\r\n"
                           "Content-Disposition: form-data; name=file; filename=e\r\n\r\n"
                           "\r\n--XyZ--",
                           3, &mp, &s),
                     PL_MP_OK);
    assert_true(mp.found && mp.done);
    assert_string_equal(mp.filename, "e");
    assert_int_equal(s.len, 0);
}

static void cut_bodies_and_malformed_ones(void **state)
{
    (void)state;
    static pl_mp_t mp;
    sink_t s;
    /* cut before the closing delimiter: not done */
    assert_int_equal(
        parse("--XyZ\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nabc", 0, &mp, &s),
        PL_MP_OK);
    assert_true(mp.found);
    assert_false(mp.done);
    /* a header line without a colon */
    assert_int_equal(parse("--XyZ\r\nnonsense\r\n\r\nx\r\n--XyZ--", 0, &mp, &s), PL_MP_EMALFORMED);
    /* garbage after a delimiter (the boundary must not occur in the data) */
    assert_int_equal(parse("--XyZ!!", 0, &mp, &s), PL_MP_EMALFORMED);
    assert_int_equal(parse("--XyZ\r\n\r\nab\r\n--XyZab", 0, &mp, &s), PL_MP_EMALFORMED);
    /* no delimiter at all: nothing found */
    assert_int_equal(parse("just some bytes", 0, &mp, &s), PL_MP_OK);
    assert_false(mp.found);
    /* a header block over the cap */
    char big[PL_MP_HEADERS_MAX + 64] = "--XyZ\r\nX: ";
    memset(big + strlen(big), 'a', PL_MP_HEADERS_MAX);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(parse(big, 0, &mp, &s), PL_MP_EMALFORMED);
    /* errors stick */
    assert_int_equal(pl_mp_feed(&mp, "--XyZ--", 7), PL_MP_EMALFORMED);
}

static void boundary_parameter(void **state)
{
    (void)state;
    char b[PL_MP_BOUNDARY_MAX + 1];
    assert_true(pl_mp_boundary("multipart/form-data; boundary=abc", b));
    assert_string_equal(b, "abc");
    assert_true(pl_mp_boundary("Multipart/Form-Data;charset=utf-8; boundary=\"a b:c\"", b));
    assert_string_equal(b, "a b:c");
    assert_false(pl_mp_boundary("multipart/mixed; boundary=abc", b));
    assert_false(pl_mp_boundary("multipart/form-data", b));
    assert_false(pl_mp_boundary("multipart/form-data; boundary=", b));
    assert_false(pl_mp_boundary("multipart/form-data; boundary=\"ends \"", b));
    assert_false(pl_mp_boundary("multipart/form-data; boundary=a\rb", b));
    char long_ct[200];
    snprintf(long_ct, sizeof(long_ct), "multipart/form-data; boundary=%071d", 0);
    assert_false(pl_mp_boundary(long_ct, b));
    assert_false(pl_mp_boundary("multipart/form-datax; boundary=abc", b));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_piece_size_gives_the_same_data),
        cmocka_unit_test(a_part_without_headers_and_an_empty_file),
        cmocka_unit_test(cut_bodies_and_malformed_ones),
        cmocka_unit_test(boundary_parameter),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
