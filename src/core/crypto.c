/* crypto.c - libsodium wrappers. */
#include <stdint.h>
#include <string.h>

#include <sodium.h>
#include <stdlib.h>

#include "core/crypto.h"

int pl_crypto_init(void)
{
    return sodium_init() < 0 ? PL_EINTERNAL : PL_OK;
}

void pl_random_bytes(void *out, size_t n)
{
    randombytes_buf(out, n);
}

void pl_sha256(const void *in, size_t n, unsigned char out[32])
{
    crypto_hash_sha256(out, in, n);
}

void pl_sha256_hex(const void *in, size_t n, char out[65])
{
    unsigned char h[32];
    crypto_hash_sha256(h, in, n);
    pl_hex(h, 32, out);
}

void pl_hmac_sha256(const void *key, size_t keylen, const void *msg, size_t n,
                    unsigned char out[32])
{
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, key, keylen);
    crypto_auth_hmacsha256_update(&st, msg, n);
    crypto_auth_hmacsha256_final(&st, out);
    sodium_memzero(&st, sizeof(st));
}

/* Eight bytes at a time (sodium_memcmp goes byte by byte through a volatile
 * pointer, a cost on every request: the verified-token cache compares whole
 * tokens). The difference is only ever accumulated, and the empty asm keeps
 * the compiler from knowing it, so it cannot stop early. */
bool pl_ct_equal(const void *a, const void *b, size_t n)
{
    const unsigned char *x = a, *y = b;
    uint64_t d = 0;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t u, v;
        memcpy(&u, x + i, 8);
        memcpy(&v, y + i, 8);
        d |= u ^ v;
        __asm__("" : "+r"(d));
    }
    for (; i < n; i++) {
        d |= (uint64_t)(x[i] ^ y[i]);
        __asm__("" : "+r"(d));
    }
    return d == 0;
}

size_t pl_b64url_len(size_t n)
{
    return sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_URLSAFE_NO_PADDING) - 1;
}

size_t pl_b64url_encode(const void *in, size_t n, char *out, size_t out_size)
{
    if (out_size < pl_b64url_len(n) + 1) {
        if (out_size)
            out[0] = '\0';
        return 0;
    }
    sodium_bin2base64(out, out_size, in, n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    return strlen(out);
}

long pl_b64url_decode(const char *in, size_t n, unsigned char *out, size_t out_size)
{
    size_t bin_len = 0;
    const char *end = NULL;
    if (sodium_base642bin(out, out_size, in, n, NULL, &bin_len, &end,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0)
        return -1;
    if (end != in + n)
        return -1;
    return (long)bin_len;
}

void pl_token_new(size_t nbytes, char *out, size_t out_size)
{
    unsigned char buf[128];
    if (nbytes > sizeof(buf))
        nbytes = sizeof(buf);
    randombytes_buf(buf, nbytes);
    pl_b64url_encode(buf, nbytes, out, out_size);
    sodium_memzero(buf, sizeof(buf));
}

void pl_memzero(void *p, size_t n)
{
    sodium_memzero(p, n);
}

char *pl_seal(pl_arena_t *a, const unsigned char key[32], const void *msg, size_t n, const char *ad)
{
    size_t blen = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES + n +
                  crypto_aead_xchacha20poly1305_ietf_ABYTES;
    unsigned char *box = pl_arena_alloc(a, blen);
    randombytes_buf(box, crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
    unsigned long long clen = 0;
    crypto_aead_xchacha20poly1305_ietf_encrypt(box + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES,
                                               &clen, msg, n, (const unsigned char *)ad, strlen(ad),
                                               NULL, box, key);
    size_t total = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES + (size_t)clen;
    char *out = pl_arena_alloc(a, pl_b64url_len(total) + 1);
    pl_b64url_encode(box, total, out, pl_b64url_len(total) + 1);
    return out;
}

long pl_unseal(const unsigned char key[32], const char *box, const char *ad, unsigned char *out,
               size_t out_size)
{
    /* boxes of any size (secret values reach 64 KiB): a small one on the
     * stack, a larger one in a heap buffer wiped afterwards */
    unsigned char small[1024], *raw = small;
    size_t blen = strlen(box), cap = blen / 4 * 3 + 3;
    if (cap > sizeof(small))
        raw = pl_xmalloc(cap);
    else
        cap = sizeof(small);
    long result = -1;
    long rl = pl_b64url_decode(box, blen, raw, cap);
    if (rl < (long)(crypto_aead_xchacha20poly1305_ietf_NPUBBYTES +
                    crypto_aead_xchacha20poly1305_ietf_ABYTES))
        goto done;
    size_t clen = (size_t)rl - crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
    if (clen - crypto_aead_xchacha20poly1305_ietf_ABYTES > out_size)
        goto done;
    unsigned long long mlen = 0;
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(
            out, &mlen, NULL, raw + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES, clen,
            (const unsigned char *)ad, strlen(ad), raw, key) != 0)
        goto done;
    result = (long)mlen;
done:
    if (raw != small)
        free(raw);
    return result;
}
