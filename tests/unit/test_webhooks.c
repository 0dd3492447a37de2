/* Unit tests for the pure rules of webhooks: the signature against the
 * example of the Standard Webhooks specification, secrets, the strict retry
 * schedule, event patterns against the action catalog, the message body
 * (webhooks.c is included to reach its static builders). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "webhooks/webhooks.c"

static void signature_matches_the_specification(void **state)
{
    (void)state;
    /* standard-webhooks spec / its reference libraries' test vector */
    const char *secret = "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    unsigned char key[64];
    size_t n = 0;
    assert_int_equal(sodium_base642bin(key, sizeof(key), secret, strlen(secret), NULL, &n, NULL,
                                       sodium_base64_VARIANT_ORIGINAL),
                     0);
    const char *body = "{\"test\": 2432232314}";
    char sig[48];
    pl_webhooks_sign(key, n, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body, strlen(body), sig);
    assert_string_equal(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
}

static void secrets_are_whsec_and_32_bytes(void **state)
{
    (void)state;
    char a[PL_WEBHOOK_SECRET_LEN], b[PL_WEBHOOK_SECRET_LEN];
    unsigned char ka[32], kb[32], back[64];
    pl_webhooks_secret_new(a, ka);
    pl_webhooks_secret_new(b, kb);
    assert_int_equal(strncmp(a, "whsec_", 6), 0);
    assert_int_equal(strlen(a), 6 + 44);
    assert_string_not_equal(a, b);
    size_t n = 0;
    assert_int_equal(sodium_base642bin(back, sizeof(back), a + 6, strlen(a + 6), NULL, &n, NULL,
                                       sodium_base64_VARIANT_ORIGINAL),
                     0);
    assert_int_equal(n, 32);
    assert_memory_equal(back, ka, 32);
}

static void schedules_are_parsed_strictly(void **state)
{
    (void)state;
    int64_t s[PL_WEBHOOK_SCHEDULE_MAX];
    assert_int_equal(pl_webhooks_parse_schedule("5s,5m,30m,2h,5h,10h,10h", s), 7);
    assert_int_equal(s[0], 5000);
    assert_int_equal(s[1], 300000);
    assert_int_equal(s[3], 7200000);
    assert_int_equal(s[6], 36000000);
    assert_int_equal(pl_webhooks_parse_schedule("200ms", s), 1);
    assert_int_equal(s[0], 200);
    assert_int_equal(pl_webhooks_parse_schedule("0s,1d", s), 2);
    assert_int_equal(s[1], 86400000);
    const char *bad[] = {
        "",      ",",    "5s,",  ",5s",
        "5",     "s",    "5 s",  "5s, 5m",
        " 5s",   "5x",   "-5s",  "+5s",
        "5S",    "1.5s", "8d",   "1000000000s",
        "5s;5m", "5sm",  "5ms5", "1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s"};
    for (size_t i = 0; i < PL_ARRAY_LEN(bad); i++)
        assert_int_equal(pl_webhooks_parse_schedule(bad[i], s), -1);
    assert_int_equal(pl_webhooks_parse_schedule(NULL, s), -1);
    assert_int_equal(pl_webhooks_parse_schedule("7d", s), 1);
}

static void patterns_match_and_are_checked_against_the_catalog(void **state)
{
    (void)state;
    static const char *const catalog[] = {"member.invited", "member.removed", "org.updated", NULL};
    pl_events_register_actions(catalog);
    pl_events_register_actions(catalog); /* duplicates are ignored */
    assert_int_equal(pl_events_action_count(), 3);
    assert_true(pl_webhooks_event_valid("*"));
    assert_true(pl_webhooks_event_valid("member.*"));
    assert_true(pl_webhooks_event_valid("member.invited"));
    assert_true(pl_webhooks_event_valid("org.updated"));
    assert_false(pl_webhooks_event_valid("org.deleted"));
    assert_false(pl_webhooks_event_valid("team.*"));
    assert_false(pl_webhooks_event_valid("member"));
    assert_false(pl_webhooks_event_valid("member."));
    assert_false(pl_webhooks_event_valid("mem*"));
    assert_false(pl_webhooks_event_valid("*.*"));
    assert_false(pl_webhooks_event_valid(""));
    assert_false(pl_webhooks_event_valid("memb.*")); /* a prefix of a noun is not a noun */

    assert_true(pl_webhooks_event_matches("*", "member.invited"));
    assert_true(pl_webhooks_event_matches("member.*", "member.invited"));
    assert_false(pl_webhooks_event_matches("member.*", "membership.created"));
    assert_false(pl_webhooks_event_matches("member.*", "org.updated"));
    assert_true(pl_webhooks_event_matches("org.updated", "org.updated"));
    assert_false(pl_webhooks_event_matches("org.updated", "org.updated2"));
    assert_false(pl_webhooks_event_matches("org.update", "org.updated"));
}

static void message_body_has_the_documented_shape(void **state)
{
    (void)state;
    json_t *data = json_pack("{s:s}", "name", "Acme ✓");
    pl_event_t ev = {.id = "e1",
                     .org_id = "o1",
                     .seq = 7,
                     .action = "org.updated",
                     .actor_type = "user",
                     .actor_id = "u1",
                     .target_type = "org",
                     .target_id = "o1",
                     .data = data,
                     .created_at = 1795000000123LL,
                     .request_id = NULL};
    char *body = event_body(&ev);
    assert_non_null(body);
    assert_string_equal(
        body, "{\"type\":\"org.updated\",\"timestamp\":\"2026-11-18T11:06:40.123Z\",\"data\":"
              "{\"id\":\"e1\",\"seq\":7,\"org_id\":\"o1\",\"action\":\"org.updated\",\"actor\":"
              "{\"type\":\"user\",\"id\":\"u1\"},\"target\":{\"type\":\"org\",\"id\":\"o1\"},"
              "\"request_id\":null,\"data\":{\"name\":\"Acme ✓\"},"
              "\"created_at\":\"2026-11-18T11:06:40.123Z\"}}");
    free(body);
    /* a system event without a target */
    pl_event_t sys = {.id = "e2",
                      .seq = 1,
                      .action = "job.retried",
                      .actor_type = "system",
                      .data = data,
                      .created_at = 0};
    body = event_body(&sys);
    assert_non_null(strstr(body, "\"org_id\":null"));
    assert_non_null(strstr(body, "\"actor\":{\"type\":\"system\",\"id\":null},\"target\":null"));
    free(body);
    /* over the cap: the event's own data is left out and marked */
    char *big = malloc(PL_WEBHOOK_PAYLOAD_MAX + 10);
    memset(big, 'x', PL_WEBHOOK_PAYLOAD_MAX + 9);
    big[PL_WEBHOOK_PAYLOAD_MAX + 9] = '\0';
    json_object_set_new(data, "blob", json_string(big));
    free(big);
    body = event_body(&ev);
    assert_true(strlen(body) < PL_WEBHOOK_PAYLOAD_MAX);
    assert_non_null(strstr(body, "\"data\":{},\"created_at\""));
    assert_non_null(strstr(body, "\"data_truncated\":true"));
    free(body);
    json_decref(data);
}

static void url_origin_keeps_no_path_or_query(void **state)
{
    (void)state;
    pl_arena_t *a = pl_arena_create();
    assert_string_equal(url_origin(a, "https://h.example:8443/p/q?token=s3cret"),
                        "https://h.example:8443");
    assert_string_equal(url_origin(a, "http://h.example?x=1"), "http://h.example");
    assert_string_equal(url_origin(a, "http://[2001:db8::1]/x"), "http://[2001:db8::1]");
    assert_string_equal(url_origin(a, "nonsense"), "");
    pl_arena_destroy(a);
}

int main(void)
{
    pl_crypto_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(signature_matches_the_specification),
        cmocka_unit_test(secrets_are_whsec_and_32_bytes),
        cmocka_unit_test(schedules_are_parsed_strictly),
        cmocka_unit_test(patterns_match_and_are_checked_against_the_catalog),
        cmocka_unit_test(message_body_has_the_documented_shape),
        cmocka_unit_test(url_origin_keeps_no_path_or_query),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
