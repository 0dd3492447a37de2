/* Unit tests for billing: the Stripe-Signature parser and verifier (a
 * vector from the npm stripe package's generateTestHeaderString), form
 * encoding, subscriptions read from both API shapes, the status mapping,
 * the sync interval, the requests_per_minute bucket; and the stored limit
 * counters on a real database (SQLite in a temporary file; PostgreSQL too
 * when PLINTH_TEST_PG_URL is set), including threads racing for the last
 * units. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "billing/billing_int.h"
#include "billing/billing_store.h"
#include "billing/stripe.h"
#include "core/crypto.h"
#include "db/db.h"

/* node -e 'require("stripe")("sk").webhooks.generateTestHeaderString(
 *   {payload: "{}", secret: "whsec_abc", timestamp: 1700000000})' */
#define VEC_T      1700000000
#define VEC_SECRET "whsec_abc"
#define VEC_SIG    "bad9ac117e973d721c232d46744158d75e3f1b44e36771e13d01b9e6a580bc72"
#define VEC_HEADER "t=1700000000,v1=" VEC_SIG

static int parse(const char *h, pl_stripe_sig_t *s)
{
    return pl_stripe_sig_parse(h, strlen(h), s);
}

static void signature_header_parses(void **state)
{
    (void)state;
    pl_stripe_sig_t s;
    assert_int_equal(parse(VEC_HEADER, &s), PL_OK);
    assert_int_equal(s.t, VEC_T);
    assert_int_equal(s.nsigs, 1);
    assert_int_equal(s.sigs[0][0], 0xba);
    assert_int_equal(s.sigs[0][31], 0x72);
    /* several v1, other schemes, spaces and upper-case hex */
    assert_int_equal(parse(" t=5 , v0=abc, v1=" VEC_SIG ",v1="
                           "AB"
                           "00000000000000000000000000"
                           "000000000000000000000000000000000000",
                           &s),
                     PL_OK);
    assert_int_equal(s.t, 5);
    assert_int_equal(s.nsigs, 2);
    assert_int_equal(s.sigs[1][0], 0xab);
    const char *bad[] = {
        "",
        "t=1",                            /* no signature */
        "v1=" VEC_SIG,                    /* no timestamp */
        "t=1,t=2,v1=" VEC_SIG,            /* two timestamps */
        "t=,v1=" VEC_SIG,                 /* empty timestamp */
        "t=-1,v1=" VEC_SIG,               /* not digits */
        "t=1x,v1=" VEC_SIG,               /* not digits */
        "t=1234567890123456,v1=" VEC_SIG, /* too many digits */
        "t=1,v1=" VEC_SIG "0",            /* 65 hex digits */
        "t=1,v1=bad9",                    /* short */
        "t=1,v1=zz9ac117e973d721c232d46744158d75e3f1b44e36771e13d01b9e6a580bc72",
        "t=1,,v1=" VEC_SIG,   /* an empty item */
        "t=1,v1" VEC_SIG,     /* no '=' */
        "t=1,=x,v1=" VEC_SIG, /* no key */
        "t=1,v0=" VEC_SIG,    /* only another scheme */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(parse(bad[i], &s), PL_EINVAL);
    /* a NUL inside the header, and one too long */
    assert_int_equal(pl_stripe_sig_parse("t=1\0,v1=x", 9, &s), PL_EINVAL);
    char big[PL_STRIPE_SIG_HEADER_MAX + 2];
    memset(big, ' ', sizeof(big));
    memcpy(big, VEC_HEADER, strlen(VEC_HEADER));
    assert_int_equal(pl_stripe_sig_parse(big, sizeof(big), &s), PL_EINVAL);
    /* more v1 than kept: the first ones count, the header still parses */
    char many[4096];
    int n = snprintf(many, sizeof(many), "t=1");
    for (int i = 0; i < PL_STRIPE_SIG_MAX + 3; i++)
        n += snprintf(many + n, sizeof(many) - (size_t)n, ",v1=%s", VEC_SIG);
    assert_int_equal(parse(many, &s), PL_OK);
    assert_int_equal(s.nsigs, PL_STRIPE_SIG_MAX);
}

static int verify(const char *h, const char *body, const char *secret, int64_t now)
{
    return pl_stripe_sig_verify(h, strlen(h), body, strlen(body), secret, now,
                                PL_STRIPE_TOLERANCE_S);
}

static void signature_verifies_like_stripe(void **state)
{
    (void)state;
    assert_int_equal(verify(VEC_HEADER, "{}", VEC_SECRET, VEC_T), PL_OK);
    assert_int_equal(verify(VEC_HEADER, "{}", VEC_SECRET, VEC_T + 300), PL_OK);
    assert_int_equal(verify(VEC_HEADER, "{}", VEC_SECRET, VEC_T - 300), PL_OK);
    assert_int_equal(verify(VEC_HEADER, "{}", VEC_SECRET, VEC_T + 301), PL_EINVAL);
    assert_int_equal(verify(VEC_HEADER, "{}", VEC_SECRET, VEC_T - 301), PL_EINVAL);
    assert_int_equal(verify(VEC_HEADER, "{ }", VEC_SECRET, VEC_T), PL_EINVAL);
    assert_int_equal(verify(VEC_HEADER, "{}", "whsec_abd", VEC_T), PL_EINVAL);
    /* the key is the whole string, not its decoded tail */
    assert_int_equal(verify(VEC_HEADER, "{}", "abc", VEC_T), PL_EINVAL);
    assert_int_equal(verify(VEC_HEADER, "{}", "", VEC_T), PL_EINVAL);
    assert_int_equal(verify("t=1700000001,v1=" VEC_SIG, "{}", VEC_SECRET, VEC_T), PL_EINVAL);
    /* one good signature among bad ones is enough */
    char h[512];
    snprintf(h, sizeof(h), "t=%d,v1=%064d,v1=%s", VEC_T, 0, VEC_SIG);
    assert_int_equal(verify(h, "{}", VEC_SECRET, VEC_T), PL_OK);
    snprintf(h, sizeof(h), "t=%d,v0=%s", VEC_T, VEC_SIG);
    assert_int_equal(verify(h, "{}", VEC_SECRET, VEC_T), PL_EINVAL);
}

static void form_encoding(void **state)
{
    (void)state;
    pl_buf_t b;
    pl_buf_init(&b, 1024);
    assert_int_equal(pl_stripe_form_add(&b, "line_items[0][price]", "price_1"), PL_OK);
    assert_int_equal(pl_stripe_form_add(&b, "success_url", "https://a.example/x?y=1&z=a b"), PL_OK);
    assert_int_equal(pl_stripe_form_add(&b, "name", "caf\xc3\xa9~-._"), PL_OK);
    assert_string_equal(b.ptr, "line_items%5B0%5D%5Bprice%5D=price_1&success_url=https%3A%2F%2Fa."
                               "example%2Fx%3Fy%3D1%26z%3Da+b&name=caf%C3%A9~-._");
    pl_buf_free(&b);
    /* past the cap: nothing of the pair is kept */
    pl_buf_init(&b, 16);
    assert_int_equal(pl_stripe_form_add(&b, "a", "1"), PL_OK);
    assert_int_equal(pl_stripe_form_add(&b, "bbbbbbbb", "cccccccccc"), PL_ELIMIT);
    assert_string_equal(b.ptr, "a=1");
    pl_buf_free(&b);
}

static void subscriptions_of_both_shapes(void **state)
{
    (void)state;
    json_t *old = json_loads(
        "{\"id\":\"sub_1\",\"object\":\"subscription\",\"customer\":\"cus_1\",\"status\":"
        "\"active\",\"current_period_end\":1700000000,\"cancel_at_period_end\":true,\"created\":"
        "1600000000,\"items\":{\"data\":[{\"price\":{\"id\":\"price_a\"}},{\"price\":\"price_b\"}"
        "]},\"metadata\":{\"org_id\":\"o\"}}",
        0, NULL);
    pl_stripe_sub_t s;
    assert_int_equal(pl_stripe_sub_read(old, &s), PL_OK);
    assert_string_equal(s.id, "sub_1");
    assert_string_equal(s.customer, "cus_1");
    assert_string_equal(s.price_id, "price_a");
    assert_int_equal(s.current_period_end, 1700000000000LL);
    assert_true(s.cancel_at_period_end);
    assert_string_equal(s.org_id, "o");
    json_decref(old);
    json_t *fresh = json_loads(
        "{\"id\":\"sub_2\",\"customer\":{\"id\":\"cus_2\"},\"status\":\"trialing\",\"items\":{"
        "\"data\":[{\"price\":{\"id\":\"price_c\"},\"current_period_end\":1700000100},{\"price\":{"
        "\"id\":\"price_d\"},\"current_period_end\":1700000200}]}}",
        0, NULL);
    assert_int_equal(pl_stripe_sub_read(fresh, &s), PL_OK);
    assert_string_equal(s.customer, "cus_2");
    assert_int_equal(s.current_period_end, 1700000200000LL);
    assert_false(s.cancel_at_period_end);
    assert_null(s.org_id);
    json_decref(fresh);
    const char *bad[] = {
        "{\"id\":\"sub_1\",\"status\":\"active\"}",
        "{\"id\":\"sub_1\",\"customer\":\"cus/../x\",\"status\":\"active\"}",
        "{\"id\":\"sub_1\",\"object\":\"invoice\",\"customer\":\"cus_1\",\"status\":\"paid\"}",
        "[]",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_t *j = json_loads(bad[i], 0, NULL);
        assert_int_equal(pl_stripe_sub_read(j, &s), PL_EINVAL);
        json_decref(j);
    }
}

static void status_mapping(void **state)
{
    (void)state;
    struct {
        const char *in, *out;
        bool applies, keep;
    } cases[] = {
        {"active", "active", true, false},      {"trialing", "trialing", true, false},
        {"past_due", "past_due", true, false},  {"unpaid", "past_due", true, false},
        {"canceled", "canceled", false, false}, {"incomplete_expired", "canceled", false, false},
        {"paused", "none", false, false},       {"incomplete", "none", false, true},
        {"something_new", "none", false, true}, {NULL, "none", false, true},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        bool applies, keep;
        assert_string_equal(pl_stripe_status(cases[i].in, &applies, &keep), cases[i].out);
        assert_int_equal(applies, cases[i].applies);
        assert_int_equal(keep, cases[i].keep);
    }
    assert_true(pl_stripe_id_ok("cus_Abc123"));
    assert_false(pl_stripe_id_ok("cus_1?x=1"));
    assert_false(pl_stripe_id_ok(""));
    assert_false(pl_stripe_id_ok(NULL));
}

static void sync_interval(void **state)
{
    (void)state;
    int64_t ms;
    assert_int_equal(pl_billing_parse_interval("900", &ms), PL_OK);
    assert_int_equal(ms, 900000);
    assert_int_equal(pl_billing_parse_interval("15m", &ms), PL_OK);
    assert_int_equal(ms, 900000);
    assert_int_equal(pl_billing_parse_interval("2h", &ms), PL_OK);
    assert_int_equal(ms, 7200000);
    assert_int_equal(pl_billing_parse_interval("30s", &ms), PL_OK);
    assert_int_equal(ms, 30000);
    assert_int_equal(pl_billing_parse_interval("0", &ms), PL_OK);
    assert_int_equal(ms, 0);
    const char *bad[] = {"", "m", "15x", "-1", "1d", "1.5h", " 5", "9999h", "99999999999999999"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(pl_billing_parse_interval(bad[i], &ms), PL_EINVAL);
}

static void requests_per_minute_bucket(void **state)
{
    (void)state;
    int64_t tat = 0, now = 1000000000;
    int retry = 0;
    for (int i = 0; i < 5; i++)
        assert_true(pl_billing_gcra(&tat, now, 5, &retry));
    assert_false(pl_billing_gcra(&tat, now, 5, &retry));
    assert_int_equal(retry, 12); /* one request's share of the minute */
    assert_false(pl_billing_gcra(&tat, now + 11 * 1000000LL, 5, &retry));
    assert_int_equal(retry, 1);
    assert_true(pl_billing_gcra(&tat, now + 12 * 1000000LL, 5, &retry));
    assert_false(pl_billing_gcra(&tat, now + 12 * 1000000LL, 5, &retry));
    /* idle for a minute: a full burst again */
    int64_t later = now + 200 * 1000000LL;
    for (int i = 0; i < 5; i++)
        assert_true(pl_billing_gcra(&tat, later, 5, &retry));
    assert_false(pl_billing_gcra(&tat, later, 5, &retry));
    /* 0 lets nothing through; a huge rate does not divide by zero */
    int64_t t0 = 0;
    assert_false(pl_billing_gcra(&t0, now, 0, &retry));
    assert_int_equal(retry, 60);
    assert_true(pl_billing_gcra(&t0, now, INT64_MAX, &retry));
}

/* ---- stored counters on a database ---- */

static char dir[64], path[128], pg_url[1024];

#define ORG "01900000-0000-7000-8000-000000000001"

static void seed(pl_db_t *db)
{
    assert_int_equal(pl_db_migrate(db), PL_OK);
    assert_int_equal(
        pl_db_exec(db, "INSERT INTO organizations (id, name, slug, personal, created_at, "
                       "updated_at) VALUES ('" ORG "', 'Org', 'org-unit', false, 1, 1);"
                       "INSERT INTO plans (key, name, max_projects, max_storage_bytes, "
                       "max_records, created_at, updated_at) VALUES ('small', 'Small', 2, 1000, "
                       "25, 1, 1);"
                       "INSERT INTO org_billing (org_id, plan_key, created_at, updated_at) "
                       "VALUES ('" ORG "', 'small', 1, 1)"),
        PL_OK);
}

static int setup_sqlite(void **state)
{
    snprintf(dir, sizeof(dir), "/tmp/plinth_test_billing_XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    snprintf(path, sizeof(path), "%s/plinth.db", dir);
    pl_db_config_t cfg = {.engine = PL_DB_SQLITE,
                          .sqlite_path = path,
                          .sqlite_sync_full = false,
                          .busy_timeout_ms = 5000};
    pl_db_configure(&cfg);
    pl_db_t *db = pl_db_thread();
    if (!db)
        return -1;
    seed(db);
    *state = db;
    return 0;
}

static int teardown_sqlite(void **state)
{
    (void)state;
    char p[160];
    pl_db_thread_close();
    unlink(path);
    snprintf(p, sizeof(p), "%s-wal", path);
    unlink(p);
    snprintf(p, sizeof(p), "%s-shm", path);
    unlink(p);
    rmdir(dir);
    return 0;
}

#define SCHEMA "plinth_test_billing"

static void pg_admin(const char *url, const char *sql)
{
    pl_db_config_t cfg = {.engine = PL_DB_POSTGRES, .pg_url = url};
    pl_db_configure(&cfg);
    pl_db_t *db;
    assert_int_equal(pl_db_open(&db), PL_OK);
    assert_int_equal(pl_db_exec(db, sql), PL_OK);
    pl_db_close(db);
}

static int setup_pg(void **state)
{
    const char *base = getenv("PLINTH_TEST_PG_URL");
    *state = NULL;
    if (!base || !*base)
        return 0;
    pg_admin(base, "DROP SCHEMA IF EXISTS " SCHEMA " CASCADE; CREATE SCHEMA " SCHEMA);
    snprintf(pg_url, sizeof(pg_url), "%s%soptions=-csearch_path%%3D" SCHEMA, base,
             strchr(base, '?') ? "&" : "?");
    pl_db_config_t cfg = {.engine = PL_DB_POSTGRES, .pg_url = pg_url};
    pl_db_configure(&cfg);
    pl_db_t *db = pl_db_thread();
    if (!db)
        return -1;
    seed(db);
    *state = db;
    return 0;
}

static int teardown_pg(void **state)
{
    if (!*state)
        return 0;
    pl_db_thread_close();
    pg_admin(getenv("PLINTH_TEST_PG_URL"), "DROP SCHEMA IF EXISTS " SCHEMA " CASCADE");
    return 0;
}

static int reserve(pl_db_t *db, pl_arena_t *a, const char *limit, int64_t add, pl_ctx_t *ctx)
{
    pl_ctx_system(ctx, a);
    int rc = pl_db_begin(db);
    assert_int_equal(rc, PL_OK);
    rc = pl_billing_reserve(db, ctx, ORG, limit, add);
    assert_int_equal(pl_db_finish(db, rc), rc);
    return rc;
}

static void stored_counters(void **state)
{
    pl_db_t *db = *state;
    if (!db)
        skip();
    pl_arena_t *a = pl_arena_create();
    pl_ctx_t ctx;
    assert_int_equal(reserve(db, a, "projects", 1, &ctx), PL_OK);
    assert_int_equal(reserve(db, a, "projects", 1, &ctx), PL_OK);
    assert_int_equal(reserve(db, a, "projects", 1, &ctx), PL_ELIMIT);
    assert_int_equal(ctx.err.status, 402);
    assert_string_equal(ctx.err.code, "plan_limit_reached");
    assert_string_equal(ctx.err.extra_json, "\"limit\":\"projects\",\"used\":2,\"max\":2");
    /* checking without reserving, at the limit: fine; one more: not */
    assert_int_equal(reserve(db, a, "projects", 0, &ctx), PL_OK);
    assert_int_equal(pl_billing_release(db, ORG, "projects", 1), PL_OK);
    assert_int_equal(reserve(db, a, "projects", 1, &ctx), PL_OK);
    /* bytes: one upload larger than what is left */
    assert_int_equal(reserve(db, a, "storage_bytes", 600, &ctx), PL_OK);
    assert_int_equal(reserve(db, a, "storage_bytes", 500, &ctx), PL_ELIMIT);
    assert_string_equal(ctx.err.extra_json,
                        "\"limit\":\"storage_bytes\",\"used\":600,\"max\":1000");
    assert_int_equal(reserve(db, a, "storage_bytes", 1001, &ctx), PL_ELIMIT);
    assert_int_equal(reserve(db, a, "storage_bytes", 400, &ctx), PL_OK);
    /* release never goes below zero; unknown limits are refused */
    assert_int_equal(pl_billing_release(db, ORG, "storage_bytes", 5000), PL_OK);
    int64_t used = -1;
    assert_int_equal(pl_billing_store_usage_get(db, ORG, "storage_bytes", &used), PL_OK);
    assert_int_equal(used, 0);
    assert_int_equal(reserve(db, a, "seats", 1, &ctx), PL_EINVAL);
    assert_int_equal(reserve(db, a, "requests_per_minute", 1, &ctx), PL_EINVAL);
    /* an unlimited limit still counts */
    assert_int_equal(reserve(db, a, "webhooks", 7, &ctx), PL_OK);
    assert_int_equal(pl_billing_store_usage_get(db, ORG, "webhooks", &used), PL_OK);
    assert_int_equal(used, 7);
    pl_arena_destroy(a);
}

static atomic_int granted;

static void *racer(void *arg)
{
    (void)arg;
    pl_db_t *db = pl_db_thread();
    pl_arena_t *a = pl_arena_create();
    for (int i = 0; i < 10 && db; i++) {
        pl_ctx_t ctx;
        pl_ctx_system(&ctx, a);
        int rc;
        do {
            rc = pl_db_begin(db);
            if (!rc)
                rc = pl_billing_reserve(db, &ctx, ORG, "records", 1);
            rc = pl_db_finish(db, rc);
        } while (rc == PL_EBUSY);
        if (rc == PL_OK)
            atomic_fetch_add(&granted, 1);
    }
    pl_arena_destroy(a);
    pl_db_thread_close();
    return NULL;
}

static void racing_reservations_never_overshoot(void **state)
{
    pl_db_t *db = *state;
    if (!db)
        skip();
    pthread_t t[8];
    atomic_store(&granted, 0);
    for (int i = 0; i < 8; i++)
        assert_int_equal(pthread_create(&t[i], NULL, racer, NULL), 0);
    for (int i = 0; i < 8; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(atomic_load(&granted), 25);
    int64_t used = -1;
    assert_int_equal(pl_billing_store_usage_get(db, ORG, "records", &used), PL_OK);
    assert_int_equal(used, 25);
}

int main(void)
{
    pl_crypto_init();
    const struct CMUnitTest pure[] = {
        cmocka_unit_test(signature_header_parses),
        cmocka_unit_test(signature_verifies_like_stripe),
        cmocka_unit_test(form_encoding),
        cmocka_unit_test(subscriptions_of_both_shapes),
        cmocka_unit_test(status_mapping),
        cmocka_unit_test(sync_interval),
        cmocka_unit_test(requests_per_minute_bucket),
    };
    const struct CMUnitTest on_db[] = {
        cmocka_unit_test(stored_counters),
        cmocka_unit_test(racing_reservations_never_overshoot),
    };
    int failed = cmocka_run_group_tests_name("pure", pure, NULL, NULL);
    failed += cmocka_run_group_tests_name("sqlite", on_db, setup_sqlite, teardown_sqlite);
    failed += cmocka_run_group_tests_name("postgres", on_db, setup_pg, teardown_pg);
    return failed;
}
