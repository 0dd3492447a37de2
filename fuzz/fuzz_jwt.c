/* fuzz_jwt.c - access tokens as presented in Authorization headers: the
 * verifier never accepts a token whose signature it did not compute, and the
 * claims it fills are NUL-terminated; and for claims derived from the input the
 * verifier accepts what the signer made, and not once a byte of its
 * signature changed. */
#include <stdint.h>
#include <string.h>

#include "auth/jwt.h"
#include "core/core.h"

static const unsigned char key[32] = "fuzzing key, thirty-two bytes!!";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096)
        return 0;
    char tok[4097];
    memcpy(tok, data, size);
    tok[size] = '\0';
    pl_jwt_claims_t c;
    pl_jwt_result_t r = pl_jwt_verify(key, sizeof(key), "plinth", tok, size, 1700000000, &c);
    if (r == PL_JWT_OK && (strnlen(c.sub, sizeof(c.sub)) == sizeof(c.sub) ||
                           strnlen(c.sid, sizeof(c.sid)) == sizeof(c.sid)))
        __builtin_trap();

    /* a real token signs and verifies, whatever the times */
    pl_jwt_claims_t in = {.iat = 1700000000, .exp = 1700000900};
    for (size_t i = 0; i < size && i < 4; i++)
        in.exp += (int64_t)data[i] << (8 * i);
    memcpy(in.sub, "01890000-0000-7000-8000-000000000002", 37);
    memcpy(in.sid, "01890000-0000-7000-8000-000000000000", 37);
    memcpy(in.jti, "01890000-0000-7000-8000-000000000001", 37);
    char out[2048];
    if (pl_jwt_sign(key, sizeof(key), "plinth", &in, out, sizeof(out)) == PL_OK) {
        pl_jwt_claims_t back;
        if (pl_jwt_verify(key, sizeof(key), "plinth", out, strlen(out), 1700000001, &back) !=
                PL_JWT_OK ||
            strcmp(back.sub, in.sub) || back.exp != in.exp)
            __builtin_trap();
        /* one flipped byte of the signature must not verify */
        size_t len = strlen(out);
        out[len - 2] = out[len - 2] == 'A' ? 'B' : 'A';
        if (pl_jwt_verify(key, sizeof(key), "plinth", out, len, 1700000001, &back) == PL_JWT_OK)
            __builtin_trap();
    }
    return 0;
}
