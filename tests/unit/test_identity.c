/* Unit tests for sign-in with identity providers: the redirect allow-list
 * (origin and path prefix at a '/' boundary, no dot segments), claimed
 * domains, the PKCE S256 challenge (against a value computed independently:
 * Python base64.urlsafe_b64encode(hashlib.sha256(v).digest())), and id_tokens
 * refused before any key is tried. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "core/crypto.h"
#include "identity/identity_int.h"

static void redirects(void **state)
{
    (void)state;
    const char *list = "https://app.example/after, http://other.example:8080 ,https://x.example/a/";
    assert_true(pl_identity_redirect_allowed(list, "https://app.example/after"));
    assert_true(pl_identity_redirect_allowed(list, "https://APP.example/after/x?y=1#z"));
    assert_true(pl_identity_redirect_allowed(list, "https://app.example:443/after"));
    assert_true(pl_identity_redirect_allowed(list, "http://other.example:8080/anything"));
    assert_true(pl_identity_redirect_allowed(list, "https://x.example/a"));
    assert_true(pl_identity_redirect_allowed(list, "https://x.example/a/b"));
    assert_false(pl_identity_redirect_allowed(list, "https://app.example/afterwards"));
    assert_false(pl_identity_redirect_allowed(list, "http://app.example/after"));
    assert_false(pl_identity_redirect_allowed(list, "https://app.example:8443/after"));
    assert_false(pl_identity_redirect_allowed(list, "https://app.example.evil/after"));
    assert_false(pl_identity_redirect_allowed(list, "https://evil@app.example/after"));
    assert_false(pl_identity_redirect_allowed(list, "https://app.example/after/../admin"));
    assert_false(pl_identity_redirect_allowed(list, "https://app.example/after/%2e%2e/admin"));
    assert_false(pl_identity_redirect_allowed(list, "https://app.example/after/..%2fadmin"));
    assert_false(pl_identity_redirect_allowed(list, "https://app.example\\@evil/after"));
    assert_false(pl_identity_redirect_allowed(list, "//app.example/after"));
    assert_false(pl_identity_redirect_allowed(list, "javascript:alert(1)"));
    assert_false(pl_identity_redirect_allowed(list, "https://app.example/after x"));
    assert_false(pl_identity_redirect_allowed(list, "http://other.example/anything"));
    assert_false(pl_identity_redirect_allowed("", "https://app.example/after"));
    assert_false(pl_identity_redirect_allowed(NULL, "https://app.example/after"));
}

static void domains(void **state)
{
    (void)state;
    assert_true(pl_identity_domain_valid("acme.com"));
    assert_true(pl_identity_domain_valid("eu.acme-corp.co.uk"));
    assert_false(pl_identity_domain_valid("acme"));
    assert_false(pl_identity_domain_valid("Acme.com"));
    assert_false(pl_identity_domain_valid("-acme.com"));
    assert_false(pl_identity_domain_valid("acme-.com"));
    assert_false(pl_identity_domain_valid("acme..com"));
    assert_false(pl_identity_domain_valid(".acme.com"));
    assert_false(pl_identity_domain_valid("acme.com."));
    assert_false(pl_identity_domain_valid("ac me.com"));
    assert_string_equal(pl_identity_email_domain("a@b.example"), "b.example");
    assert_null(pl_identity_email_domain("nobody"));
}

static void pkce(void **state)
{
    (void)state;
    char c[64];
    pl_oidc_pkce_challenge("dBjftJeZ4CVP-mJ92Ru05SdxLh6nTfZvHGRYZ_Ks9hQ", c);
    assert_string_equal(c, "ikOf3iTtuUk43Nu_r0MCw2G9iUsvmqmWm4vfk5nTYL4");
}

static void id_tokens_refused_early(void **state)
{
    (void)state;
    json_t *jwks = json_pack("{s:[]}", "keys");
    const char *why = NULL;
    assert_null(pl_oidc_verify_id_token("abc", jwks, "i", "a", "n", 0, &why));
    assert_string_equal(why, "id_token_malformed");
    assert_null(pl_oidc_verify_id_token("a.b.c.d", jwks, "i", "a", "n", 0, &why));
    assert_string_equal(why, "id_token_malformed");
    /* {"alg":"none"} */
    assert_null(pl_oidc_verify_id_token("eyJhbGciOiJub25lIn0.e30.", jwks, "i", "a", "n", 0, &why));
    assert_string_equal(why, "id_token_alg");
    /* {"alg":"HS256"}: never with a provider's public keys */
    assert_null(
        pl_oidc_verify_id_token("eyJhbGciOiJIUzI1NiJ9.e30.c2ln", jwks, "i", "a", "n", 0, &why));
    assert_string_equal(why, "id_token_alg");
    /* {"alg":"RS256"} and no key to check it */
    assert_null(
        pl_oidc_verify_id_token("eyJhbGciOiJSUzI1NiJ9.e30.c2ln", jwks, "i", "a", "n", 0, &why));
    assert_string_equal(why, "id_token_signature");
    json_decref(jwks);
}

int main(void)
{
    pl_crypto_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(redirects),
        cmocka_unit_test(domains),
        cmocka_unit_test(pkce),
        cmocka_unit_test(id_tokens_refused_early),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
