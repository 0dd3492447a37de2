/* Unit tests for the pure rules of accounts: email normalisation, display
 * names, personal-organization slugs, recovery codes, and how the services'
 * validation records its errors on a context. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "auth/auth_int.h"
#include "auth/password.h"

static int arena_setup(void **state)
{
    *state = pl_arena_create();
    return 0;
}

static int arena_teardown(void **state)
{
    pl_arena_destroy(*state);
    return 0;
}

static void email_normalized(void **state)
{
    pl_arena_t *a = *state;
    assert_string_equal(pl_auth_email_normalize(a, "ada@example.com"), "ada@example.com");
    /* trimmed of surrounding white space, lower-cased */
    assert_string_equal(pl_auth_email_normalize(a, " \t Ada.Lovelace@Example.COM\r\n"),
                        "ada.lovelace@example.com");
    assert_string_equal(pl_auth_email_normalize(a, "a+tag@b.co"), "a+tag@b.co");
    assert_string_equal(pl_auth_email_normalize(a, "x@sub.example.org"), "x@sub.example.org");
    /* idempotent */
    const char *once = pl_auth_email_normalize(a, "  MiXeD@Host.Example ");
    assert_string_equal(pl_auth_email_normalize(a, once), once);
}

static void email_rejected(void **state)
{
    pl_arena_t *a = *state;
    const char *bad[] = {
        "",
        "   ",
        "@",
        "a@",
        "@b.c",
        "not-an-email",
        "a@b",         /* no dot in the domain */
        "a@b.",        /* domain ends in a dot */
        "a@.b",        /* domain starts with a dot */
        "a@@b.c",      /* two '@' */
        "a@b@c.d",     /* two '@' */
        "a b@c.d",     /* a space inside */
        "a\tb@c.d",    /* a control character */
        "a<b@c.d",     /* specials */
        "a@b.c>",      /* specials */
        "\"a\"@b.c",   /* quoted local parts are not taken */
        "a;b@c.d",     /* specials */
        "a@[1.2.3.4]", /* address literals are not taken */
        "a\x7f@b.c",   /* DEL */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_null(pl_auth_email_normalize(a, bad[i]));
    /* 64 bytes of local part pass, 65 do not */
    char e[400];
    memset(e, 'l', 64);
    memcpy(e + 64, "@example.com", 13);
    assert_non_null(pl_auth_email_normalize(a, e));
    memset(e, 'l', 65);
    memcpy(e + 65, "@example.com", 13);
    assert_null(pl_auth_email_normalize(a, e));
    /* 254 bytes in all pass, 255 do not */
    memset(e, 'd', sizeof(e));
    memcpy(e, "a@", 2);
    memcpy(e + 250, ".com", 5); /* 254 bytes */
    assert_non_null(pl_auth_email_normalize(a, e));
    memset(e, 'd', sizeof(e));
    memcpy(e, "a@", 2);
    memcpy(e + 251, ".com", 5); /* 255 bytes */
    assert_null(pl_auth_email_normalize(a, e));
}

static void check_email_records_a_field_error(void **state)
{
    pl_ctx_t ctx;
    pl_ctx_system(&ctx, *state);
    const char *out = NULL;
    assert_int_equal(pl_auth_check_email(&ctx, "email", " Ann@Example.com", &out), PL_OK);
    assert_string_equal(out, "ann@example.com");
    assert_int_equal(ctx.err.status, 0);
    out = NULL;
    assert_int_equal(pl_auth_check_email(&ctx, "invitee", "nope", &out), PL_EINVAL);
    assert_null(out);
    assert_int_equal(ctx.err.status, 422);
    assert_string_equal(ctx.err.code, "validation_failed");
    assert_int_equal(ctx.err.nfield_errors, 1);
    assert_string_equal(ctx.err.field_errors[0].field, "invitee");
    assert_string_equal(ctx.err.field_errors[0].code, "invalid");
    assert_int_equal(pl_validated(&ctx), PL_EINVAL);
    /* a missing input is malformed too */
    assert_int_equal(pl_auth_check_email(&ctx, "email", NULL, &out), PL_EINVAL);
}

static void names(void **state)
{
    (void)state;
    char n[PL_AUTH_NAME_MAX + 2];
    assert_true(pl_auth_name_valid("Ada Lovelace"));
    assert_true(pl_auth_name_valid("x"));
    assert_false(pl_auth_name_valid(""));
    assert_false(pl_auth_name_valid(NULL));
    memset(n, 'y', PL_AUTH_NAME_MAX);
    n[PL_AUTH_NAME_MAX] = '\0';
    assert_true(pl_auth_name_valid(n));
    n[PL_AUTH_NAME_MAX] = 'y';
    n[PL_AUTH_NAME_MAX + 1] = '\0';
    assert_false(pl_auth_name_valid(n));
}

static void recovery_codes(void **state)
{
    (void)state;
    char a[65], b[65];
    assert_true(pl_auth_recovery_hash("abcde-fghjk", a));
    /* case, dashes and spaces do not matter */
    assert_true(pl_auth_recovery_hash("ABCDE FGHJK", b));
    assert_string_equal(a, b);
    assert_true(pl_auth_recovery_hash("abcdefghjk", b));
    assert_string_equal(a, b);
    assert_true(pl_auth_recovery_hash("abcde-fghjm", b));
    assert_string_not_equal(a, b);
    /* only ten characters make a code */
    assert_false(pl_auth_recovery_hash("abcde-fghj", a));
    assert_false(pl_auth_recovery_hash("abcde-fghjkl", a));
    assert_false(pl_auth_recovery_hash("", a));
    assert_false(pl_auth_recovery_hash("123456", a)); /* a TOTP code is not one */
    char longer[100];
    memset(longer, 'a', sizeof(longer) - 1);
    longer[sizeof(longer) - 1] = '\0';
    assert_false(pl_auth_recovery_hash(longer, a));
}

static void weak_passwords_are_recorded(void **state)
{
    pl_ctx_t ctx;
    pl_ctx_system(&ctx, *state);
    char hash[PL_AUTH_PASSWORD_HASH_MAX];
    assert_int_equal(pl_auth_hash_password(&ctx, "new_password", "short", NULL, hash), PL_EINVAL);
    assert_int_equal(ctx.err.status, 422);
    assert_string_equal(ctx.err.code, "weak_password");
    assert_int_equal(ctx.err.nfield_errors, 1);
    assert_string_equal(ctx.err.field_errors[0].field, "new_password");
    assert_string_equal(ctx.err.field_errors[0].code, "weak_password");
    /* the email itself is weak */
    pl_ctx_system(&ctx, *state);
    assert_int_equal(
        pl_auth_hash_password(&ctx, "password", "ada@example.com", "ada@example.com", hash),
        PL_EINVAL);
    /* a good one is hashed */
    pl_ctx_system(&ctx, *state);
    assert_int_equal(
        pl_auth_hash_password(&ctx, "password", "correct horse battery", "ada@example.com", hash),
        PL_OK);
    assert_int_equal(ctx.err.status, 0);
    assert_true(pl_password_verify(hash, "correct horse battery", 21));
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    if (pl_password_init(8 * 1024, 1))
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(email_normalized, arena_setup, arena_teardown),
        cmocka_unit_test_setup_teardown(email_rejected, arena_setup, arena_teardown),
        cmocka_unit_test_setup_teardown(check_email_records_a_field_error, arena_setup,
                                        arena_teardown),
        cmocka_unit_test(names),
        cmocka_unit_test(recovery_codes),
        cmocka_unit_test_setup_teardown(weak_passwords_are_recorded, arena_setup, arena_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
