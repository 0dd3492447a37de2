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
#include "files/sigv4.h"

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

/* ---- SigV4: AWS's documented examples ---- */

#define EMPTY_SHA "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define S3_HOST   "examplebucket.s3.amazonaws.com"
#define S3_DATE   "20130524T000000Z"

static void s3_sign(const char *method, const char *path, const char *query,
                    const pl_sigv4_header_t *h, int n, const char *payload, const char *want)
{
    pl_sigv4_req_t r = {
        .method = method,
        .path = path,
        .query = query,
        .headers = h,
        .nheaders = n,
        .payload_hash = payload,
        .amz_date = S3_DATE,
        .region = "us-east-1",
        .service = "s3",
        .access_key_id = "AKIAIOSFODNN7EXAMPLE",
        .secret_access_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    };
    char auth[512];
    assert_int_equal(pl_sigv4_authorization(&r, auth, sizeof(auth)), 0);
    const char *sig = strstr(auth, "Signature=");
    assert_non_null(sig);
    assert_string_equal(sig + 10, want);
    assert_non_null(strstr(auth, "Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/"
                                 "aws4_request, SignedHeaders="));
}

static void sigv4_s3_get_object_with_range(void **state)
{
    (void)state;
    /* any order in, sorted for signing */
    const pl_sigv4_header_t h[] = {
        {"x-amz-date", S3_DATE},
        {"range", "bytes=0-9"},
        {"host", S3_HOST},
        {"x-amz-content-sha256", EMPTY_SHA},
    };
    s3_sign("GET", "/test.txt", "", h, 4, EMPTY_SHA,
            "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
}

static void sigv4_s3_put_object(void **state)
{
    (void)state;
    char path[64];
    assert_int_equal(pl_sigv4_encode("/test$file.text", 1, path, sizeof(path)), 0);
    assert_string_equal(path, "/test%24file.text");
    const char *payload = "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072";
    const pl_sigv4_header_t h[] = {
        {"date", "Fri, 24 May 2013 00:00:00 GMT"},
        {"host", S3_HOST},
        {"x-amz-content-sha256", payload},
        {"x-amz-date", S3_DATE},
        {"x-amz-storage-class", "REDUCED_REDUNDANCY"},
    };
    s3_sign("PUT", path, NULL, h, 5, payload,
            "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");
}

static void sigv4_s3_queries(void **state)
{
    (void)state;
    const pl_sigv4_header_t h[] = {
        {"host", S3_HOST},
        {"x-amz-content-sha256", EMPTY_SHA},
        {"x-amz-date", S3_DATE},
    };
    /* a parameter without "=" (libcurl 7.88 signs it wrongly) */
    s3_sign("GET", "/", "lifecycle", h, 3, EMPTY_SHA,
            "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543");
    /* unsorted parameters */
    s3_sign("GET", "/", "prefix=J&max-keys=2", h, 3, EMPTY_SHA,
            "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
    char q[256];
    assert_int_equal(pl_sigv4_canonical_query("uploads", q, sizeof(q)), 0);
    assert_string_equal(q, "uploads=");
    assert_int_equal(pl_sigv4_canonical_query("uploadId=x&partNumber=2", q, sizeof(q)), 0);
    assert_string_equal(q, "partNumber=2&uploadId=x");
    assert_int_equal(pl_sigv4_canonical_query("a=1&a-b=2&a=0", q, sizeof(q)), 0);
    assert_string_equal(q, "a=0&a=1&a-b=2");
}

static void sigv4_test_suite_get_vanilla(void **state)
{
    (void)state;
    const pl_sigv4_header_t h[] = {
        {"host", "example.amazonaws.com"},
        {"x-amz-date", "20150830T123600Z"},
    };
    pl_sigv4_req_t r = {
        .method = "GET",
        .path = "/",
        .headers = h,
        .nheaders = 2,
        .payload_hash = EMPTY_SHA,
        .amz_date = "20150830T123600Z",
        .region = "us-east-1",
        .service = "service",
        .access_key_id = "AKIDEXAMPLE",
        .secret_access_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
    };
    char auth[512];
    assert_int_equal(pl_sigv4_authorization(&r, auth, sizeof(auth)), 0);
    assert_string_equal(auth,
                        "AWS4-HMAC-SHA256 "
                        "Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
                        "SignedHeaders=host;x-amz-date, "
                        "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763"
                        "fbf31");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_piece_size_gives_the_same_data),
        cmocka_unit_test(a_part_without_headers_and_an_empty_file),
        cmocka_unit_test(cut_bodies_and_malformed_ones),
        cmocka_unit_test(boundary_parameter),
        cmocka_unit_test(sigv4_s3_get_object_with_range),
        cmocka_unit_test(sigv4_s3_put_object),
        cmocka_unit_test(sigv4_s3_queries),
        cmocka_unit_test(sigv4_test_suite_get_vanilla),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
