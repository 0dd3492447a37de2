/* fuzz_stripe_sig.c - the Stripe-Signature header: the input's first line
 * is the header, the rest the body. Parsing never reads past the header or
 * accepts a malformed one; a header that parses holds a timestamp and at
 * least one signature; verification with a fixed secret agrees with the
 * parse and accepts only the signature it would compute itself. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "billing/stripe.h"
#include "core/crypto.h"

#define SECRET "whsec_fuzzing_secret"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 2 * PL_STRIPE_SIG_HEADER_MAX)
        return 0;
    const char *in = (const char *)data;
    const char *nl = memchr(in, '\n', size);
    size_t hlen = nl ? (size_t)(nl - in) : size;
    const char *body = nl ? nl + 1 : "";
    size_t blen = nl ? size - hlen - 1 : 0;

    pl_stripe_sig_t sig;
    int rc = pl_stripe_sig_parse(in, hlen, &sig);
    if (rc == PL_OK && (sig.nsigs < 1 || sig.nsigs > PL_STRIPE_SIG_MAX || sig.t < 0))
        __builtin_trap();
    /* verification at the header's own time: it can only pass when the
     * header parses and carries the right HMAC */
    int64_t now = rc == PL_OK ? sig.t : 0;
    int v = pl_stripe_sig_verify(in, hlen, body, blen, SECRET, now, PL_STRIPE_TOLERANCE_S);
    if (v == PL_OK) {
        if (rc != PL_OK)
            __builtin_trap();
        char prefix[32];
        int plen = snprintf(prefix, sizeof(prefix), "%lld.", (long long)sig.t);
        /* recompute the HMAC over "<t>.<body>" independently */
        size_t n = (size_t)plen + blen;
        unsigned char *msg = pl_xmalloc(n + 1);
        memcpy(msg, prefix, (size_t)plen);
        memcpy(msg + plen, body, blen);
        unsigned char mac[32];
        pl_hmac_sha256(SECRET, strlen(SECRET), msg, n, mac);
        free(msg);
        bool found = false;
        for (int i = 0; i < sig.nsigs; i++)
            found |= memcmp(mac, sig.sigs[i], 32) == 0;
        if (!found)
            __builtin_trap();
    }
    return 0;
}
