/* Unit tests for HS256 JWTs: round trip and the forgeries a server must refuse. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "auth/jwt.h"
#include "core/crypto.h"

static const unsigned char key[32] = "0123456789abcdef0123456789abcdef";
static const unsigned char other[32] = "fedcba9876543210fedcba9876543210";

static void make(char *out, size_t size, int64_t iat, int64_t exp)
{
    pl_jwt_claims_t c = {0};
    snprintf(c.sub, sizeof(c.sub), "0190d7e8-0000-7000-8000-000000000001");
    snprintf(c.sid, sizeof(c.sid), "0190d7e8-0000-7000-8000-000000000002");
    snprintf(c.jti, sizeof(c.jti), "0190d7e8-0000-7000-8000-000000000003");
    c.iat = iat;
    c.exp = exp;
    assert_int_equal(pl_jwt_sign(key, 32, "plinth", &c, out, size), PL_OK);
}

static void round_trip(void **state)
{
    (void)state;
    char tok[PL_JWT_MAX];
    make(tok, sizeof(tok), 1000, 1900);
    pl_jwt_claims_t c;
    assert_int_equal(pl_jwt_verify(key, 32, "plinth", tok, strlen(tok), 1500, &c), PL_JWT_OK);
    assert_string_equal(c.sub, "0190d7e8-0000-7000-8000-000000000001");
    assert_string_equal(c.sid, "0190d7e8-0000-7000-8000-000000000002");
    assert_int_equal(c.exp, 1900);
}

static void expired(void **state)
{
    (void)state;
    char tok[PL_JWT_MAX];
    make(tok, sizeof(tok), 1000, 1900);
    pl_jwt_claims_t c;
    assert_int_equal(pl_jwt_verify(key, 32, "plinth", tok, strlen(tok), 1900, &c), PL_JWT_EXPIRED);
}

static void wrong_key_and_issuer(void **state)
{
    (void)state;
    char tok[PL_JWT_MAX];
    make(tok, sizeof(tok), 1000, 1900);
    pl_jwt_claims_t c;
    assert_int_equal(pl_jwt_verify(other, 32, "plinth", tok, strlen(tok), 1500, &c),
                     PL_JWT_BAD_SIG);
    assert_int_equal(pl_jwt_verify(key, 32, "other", tok, strlen(tok), 1500, &c), PL_JWT_BAD_ISS);
}

static void altered_payload(void **state)
{
    (void)state;
    char tok[PL_JWT_MAX];
    make(tok, sizeof(tok), 1000, 1900);
    char *dot = strchr(tok, '.');
    dot[5] = dot[5] == 'A' ? 'B' : 'A';
    pl_jwt_claims_t c;
    assert_int_not_equal(pl_jwt_verify(key, 32, "plinth", tok, strlen(tok), 1500, &c), PL_JWT_OK);
}

static void alg_none_and_others(void **state)
{
    (void)state;
    char tok[PL_JWT_MAX];
    make(tok, sizeof(tok), 1000, 1900);
    const char *payload = strchr(tok, '.');
    const char *headers[] = {"{\"alg\":\"none\",\"typ\":\"JWT\"}", "{\"alg\":\"HS512\"}",
                             "{\"alg\":\"RS256\"}", "{\"typ\":\"JWT\"}", "{\"alg\":\"hs256\"}"};
    for (size_t i = 0; i < sizeof(headers) / sizeof(headers[0]); i++) {
        char forged[PL_JWT_MAX], h64[128];
        pl_b64url_encode(headers[i], strlen(headers[i]), h64, sizeof(h64));
        /* keep the real signature, and also try an empty one */
        snprintf(forged, sizeof(forged), "%s%s", h64, payload);
        pl_jwt_claims_t c;
        assert_int_equal(pl_jwt_verify(key, 32, "plinth", forged, strlen(forged), 1500, &c),
                         PL_JWT_BAD_ALG);
        char *last = strrchr(forged, '.');
        last[1] = '\0';
        assert_int_not_equal(pl_jwt_verify(key, 32, "plinth", forged, strlen(forged), 1500, &c),
                             PL_JWT_OK);
    }
}

static void malformed(void **state)
{
    (void)state;
    const char *bad[] = {"", "abc", "a.b", "a.b.c.d", "....", "eyJ.eyJ.sig", "%%%.%%%.%%%"};
    pl_jwt_claims_t c;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_not_equal(pl_jwt_verify(key, 32, "plinth", bad[i], strlen(bad[i]), 1500, &c),
                             PL_JWT_OK);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(round_trip),           cmocka_unit_test(expired),
        cmocka_unit_test(wrong_key_and_issuer), cmocka_unit_test(altered_payload),
        cmocka_unit_test(alg_none_and_others),  cmocka_unit_test(malformed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
