/* Unit tests for the password policy and Argon2id hashing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "auth/password.h"

static void policy(void **state)
{
    (void)state;
    const char *r;
    assert_int_equal(pl_password_check("short", 5, NULL, &r), PL_EINVAL);
    assert_int_equal(pl_password_check("correct horse battery", 21, NULL, &r), PL_OK);
    /* 10 characters of 2 bytes each pass; 9 do not */
    const char *ten =
        "\xc3\xa9\xc3\xa0\xc3\xbc\xc3\xb6\xc3\xa9\xc3\xa0\xc3\xbc\xc3\xb6\xc3\xa7\xc3\xb1";
    assert_int_equal(pl_password_check(ten, strlen(ten), NULL, &r), PL_OK);
    assert_int_equal(pl_password_check(ten, strlen(ten) - 2, NULL, &r), PL_EINVAL);
    char big[300];
    memset(big, 'a', sizeof(big));
    big[0] = 'b';
    big[1] = 'c';
    assert_int_equal(pl_password_check(big, 257, NULL, &r), PL_EINVAL);
    assert_int_equal(pl_password_check(big, 256, NULL, &r), PL_OK);
}

static void common_passwords_are_weak(void **state)
{
    (void)state;
    const char *r;
    assert_int_equal(pl_password_check("password123", 11, NULL, &r), PL_EINVAL);
    assert_int_equal(pl_password_check("PASSWORD123", 11, NULL, &r), PL_EINVAL);
    assert_int_equal(pl_password_check("qwertyuiop", 10, NULL, &r), PL_EINVAL);
    assert_int_equal(pl_password_check("1234567890", 10, NULL, &r), PL_EINVAL);
    assert_int_equal(pl_password_check("aaaaaaaaaaaa", 12, NULL, &r), PL_EINVAL);
    assert_int_equal(pl_password_check("alice@example.com", 17, "alice@example.com", &r),
                     PL_EINVAL);
}

static void hash_and_verify(void **state)
{
    (void)state;
    char h[PL_PASSWORD_HASH_MAX];
    assert_int_equal(pl_password_hash("correct horse battery", 21, h), PL_OK);
    assert_true(strncmp(h, "$argon2id$", 10) == 0);
    assert_true(pl_password_verify(h, "correct horse battery", 21));
    assert_false(pl_password_verify(h, "correct horse batterx", 21));
    assert_false(pl_password_verify(NULL, "correct horse battery", 21));
    assert_false(pl_password_verify("garbage", "x", 1));
    assert_false(pl_password_needs_rehash(h));
    assert_int_equal(pl_password_init(16 * 1024, 2), PL_OK);
    assert_true(pl_password_needs_rehash(h));
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    if (pl_password_init(8 * 1024, 1))
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(policy),
        cmocka_unit_test(common_passwords_are_weak),
        cmocka_unit_test(hash_and_verify),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
