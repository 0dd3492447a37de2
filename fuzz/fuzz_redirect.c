/* fuzz_redirect.c - what a sign-in with an identity provider parses from
 * strangers: redirect_to against the allow-list (an allowed URL is http(s),
 * printable ASCII without spaces or backslashes, and starts with the origin
 * of an entry), and an id_token from a provider, which with no keys can
 * never verify. Input: the redirect URL, a NUL byte, the id_token. */
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "core/core.h"
#include "identity/identity_int.h"

static const char allowlist[] = "https://app.example/after,http://other.example:8080";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 8192)
        return 0;
    pl_arena_t *a = pl_arena_create();
    char *in = pl_arena_strndup(a, (const char *)data, size);
    size_t n = strlen(in);
    if (pl_identity_redirect_allowed(allowlist, in)) {
        if (strncasecmp(in, "https://app.example", 19) &&
            strncasecmp(in, "http://other.example:8080", 25))
            __builtin_trap();
        for (size_t i = 0; i < n; i++)
            if ((unsigned char)in[i] <= 0x20 || (unsigned char)in[i] >= 0x7f || in[i] == '\\')
                __builtin_trap();
    }
    if (n + 1 < size) {
        json_t *jwks = json_pack("{s:[]}", "keys");
        const char *why = NULL;
        json_t *c = pl_oidc_verify_id_token(in + n + 1, jwks, "https://issuer.example", "client",
                                            "nonce", 0, &why);
        if (c || !why)
            __builtin_trap();
        json_decref(jwks);
    }
    pl_arena_destroy(a);
    return 0;
}
