/* Unit tests for the JSON Schema subset of collections (schema.c): every case
 * of the official JSON Schema Test Suite for the supported keywords, written
 * below as data; JSON Pointer paths of errors; schema checks and their
 * limits; unicode lengths. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "collections/collections.h"

typedef struct {
    const char *group, *test, *schema, *data;
    bool valid;
} suite_case_t;

#include "test_collections_suite.inc"

/* Cases whose answer differs by design, each with the reason: */
static const char *const exceptions[] = {
    /* \p{...} Unicode property escapes: an ECMA-262 feature that POSIX
     * extended expressions (the regex engine `pattern` uses) lack */
    "pattern: pattern with Unicode property escape requires unicode mode / ASCII letters match",
    "pattern: pattern with Unicode property escape requires unicode mode / Non-ASCII letters "
    "match",
    NULL,
};

static bool excepted(const suite_case_t *c)
{
    char name[512];
    snprintf(name, sizeof(name), "%s / %s", c->group, c->test);
    for (const char *const *e = exceptions; *e; e++)
        if (!strcmp(*e, name))
            return true;
    return false;
}

static void count_error(void *arg, const char *pointer, const char *keyword, const char *message)
{
    (void)pointer;
    (void)keyword;
    (void)message;
    (*(int *)arg)++;
}

static void official_suite(void **state)
{
    (void)state;
    int failures = 0, ran = 0;
    for (size_t i = 0; i < sizeof(suite) / sizeof(suite[0]); i++) {
        const suite_case_t *c = &suite[i];
        if (excepted(c))
            continue;
        json_error_t err;
        json_t *schema = json_loads(c->schema, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
        json_t *data = json_loads(c->data, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
        if (!schema || !data) {
            /* values jansson cannot hold (numbers beyond a double) */
            printf("SKIP %s / %s: %s\n", c->group, c->test, err.text);
            json_decref(schema);
            json_decref(data);
            continue;
        }
        int n = 0;
        pl_coll_validate(schema, data, count_error, &n);
        ran++;
        if ((n == 0) != c->valid) {
            printf("FAIL %s / %s: expected %s\n", c->group, c->test,
                   c->valid ? "valid" : "invalid");
            failures++;
        }
        json_decref(schema);
        json_decref(data);
    }
    printf("%d official cases\n", ran);
    assert_int_equal(failures, 0);
}

typedef struct {
    int n;
    char pointer[8][64], keyword[8][32];
} errs_t;

static void keep_error(void *arg, const char *pointer, const char *keyword, const char *message)
{
    (void)message;
    errs_t *e = arg;
    if (e->n < 8) {
        snprintf(e->pointer[e->n], 64, "%s", pointer);
        snprintf(e->keyword[e->n], 32, "%s", keyword);
    }
    e->n++;
}

static bool has_error(const errs_t *e, const char *pointer, const char *keyword)
{
    for (int i = 0; i < e->n && i < 8; i++)
        if (!strcmp(e->pointer[i], pointer) && !strcmp(e->keyword[i], keyword))
            return true;
    return false;
}

static void pointers(void **state)
{
    (void)state;
    json_t *schema = json_loads(
        "{\"type\":\"object\",\"required\":[\"title\",\"a/b\"],\"additionalProperties\":false,"
        "\"properties\":{\"title\":{\"type\":\"string\"},\"a/b\":{\"type\":\"integer\"},"
        "\"m~n\":{\"type\":\"array\",\"items\":{\"type\":\"object\",\"properties\":"
        "{\"x\":{\"maxLength\":2}}}}}}",
        0, NULL);
    json_t *data = json_loads("{\"m~n\":[{\"x\":\"ok\"},{\"x\":\"long\"}],\"extra\":1}", 0, NULL);
    assert_non_null(schema);
    assert_non_null(data);
    errs_t e = {0};
    pl_coll_validate(schema, data, keep_error, &e);
    assert_int_equal(e.n, 4);
    assert_true(has_error(&e, "/title", "required"));
    assert_true(has_error(&e, "/a~1b", "required"));
    assert_true(has_error(&e, "/extra", "additionalProperties"));
    assert_true(has_error(&e, "/m~0n/1/x", "maxLength"));
    json_decref(schema);
    json_decref(data);
}

static void unicode_lengths(void **state)
{
    (void)state;
    assert_int_equal(pl_coll_utf8_len("\xc3\xa9t\xc3\xa9", 5), 3);
    assert_int_equal(pl_coll_utf8_len("\xf0\x9f\x98\x80", 4), 1);
    json_t *schema = json_loads("{\"maxLength\":2,\"minLength\":2}", 0, NULL);
    json_t *ok = json_string("\xf0\x9f\x98\x80\xc3\xa9");
    json_t *bad = json_string("\xf0\x9f\x98\x80\xc3\xa9x");
    errs_t e = {0};
    assert_int_equal(pl_coll_validate(schema, ok, keep_error, &e), 0);
    assert_int_equal(pl_coll_validate(schema, bad, keep_error, &e), 1);
    json_decref(schema);
    json_decref(ok);
    json_decref(bad);
}

static int check(const char *schema_text)
{
    pl_arena_t *a = pl_arena_create();
    pl_ctx_t ctx;
    pl_ctx_system(&ctx, a);
    json_t *s = json_loads(schema_text, 0, NULL);
    assert_non_null(s);
    int rc = pl_coll_schema_check(&ctx, s, "schema");
    json_decref(s);
    pl_arena_destroy(a);
    return rc;
}

static void schema_checks(void **state)
{
    (void)state;
    assert_int_equal(check("{\"type\":\"object\",\"properties\":{\"a\":{\"type\":[\"string\","
                           "\"null\"],\"x-ref\":\"tasks\",\"x-on-delete\":\"set-null\"}}}"),
                     PL_OK);
    assert_int_equal(check("{\"type\":\"array\"}"), PL_EINVAL);
    assert_int_equal(check("{\"type\":\"object\",\"properties\":{\"a\":{\"$ref\":\"#\"}}}"),
                     PL_EINVAL);
    assert_int_equal(
        check("{\"type\":\"object\",\"properties\":{\"a\":{\"pattern\":\"(a)\\\\1\"}}}"),
        PL_EINVAL);
    assert_int_equal(check("{\"type\":\"object\",\"properties\":{\"a\":{\"pattern\":\"[\"}}}"),
                     PL_EINVAL);
    assert_int_equal(check("{\"type\":\"object\",\"properties\":{\"a\":{\"format\":\"ipv4\"}}}"),
                     PL_EINVAL);
    /* x-ref only on a string property of the top level */
    assert_int_equal(check("{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\","
                           "\"x-ref\":\"t\"}}}"),
                     PL_EINVAL);
    assert_int_equal(check("{\"type\":\"object\",\"properties\":{\"o\":{\"type\":\"object\","
                           "\"properties\":{\"a\":{\"type\":\"string\",\"x-user\":true}}}}}"),
                     PL_EINVAL);
    /* set-null needs null allowed */
    assert_int_equal(check("{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\","
                           "\"x-ref\":\"t\",\"x-on-delete\":\"set-null\"}}}"),
                     PL_EINVAL);
    /* depth */
    json_t *deep = json_pack("{s:s}", "type", "object");
    for (int i = 0; i < 10; i++)
        deep = json_pack("{s:s, s:{s:o}}", "type", "object", "properties", "a", deep);
    char *text = json_dumps(deep, JSON_COMPACT);
    json_decref(deep);
    assert_int_equal(check(text), PL_EINVAL);
    free(text);
    /* too many properties */
    char many[16384];
    size_t o = (size_t)snprintf(many, sizeof(many), "{\"type\":\"object\",\"properties\":{");
    for (int i = 0; i < PL_COLL_PROPS_MAX + 1; i++)
        o += (size_t)snprintf(many + o, sizeof(many) - o, "%s\"p%d\":{}", i ? "," : "", i);
    snprintf(many + o, sizeof(many) - o, "}}");
    assert_int_equal(check(many), PL_EINVAL);
}

static void names(void **state)
{
    (void)state;
    assert_true(pl_coll_name_valid("tasks"));
    assert_true(pl_coll_name_valid("a0_b"));
    assert_false(pl_coll_name_valid("Tasks"));
    assert_false(pl_coll_name_valid("0tasks"));
    assert_false(pl_coll_name_valid("ta-sks"));
    assert_false(pl_coll_name_valid(""));
    char n[70];
    memset(n, 'a', 64);
    n[64] = '\0';
    assert_false(pl_coll_name_valid(n));
    n[63] = '\0';
    assert_true(pl_coll_name_valid(n));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(official_suite),  cmocka_unit_test(pointers),
        cmocka_unit_test(unicode_lengths), cmocka_unit_test(schema_checks),
        cmocka_unit_test(names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
