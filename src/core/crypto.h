/* crypto.h - thin wrappers over libsodium for the few primitives plinth uses.
 * All functions are thread-safe once pl_crypto_init has run. */
#ifndef PL_CRYPTO_H
#define PL_CRYPTO_H

#include "core/core.h"

/* Initialises libsodium; PL_EINTERNAL when it cannot. Call once at start. */
int pl_crypto_init(void);

void pl_random_bytes(void *out, size_t n);

/* SHA-256 of in into out (32 bytes), and as 64 lower-case hex chars + NUL. */
void pl_sha256(const void *in, size_t n, unsigned char out[32]);
void pl_sha256_hex(const void *in, size_t n, char out[65]);

/* HMAC-SHA-256 with a key of any length. */
void pl_hmac_sha256(const void *key, size_t keylen, const void *msg, size_t n,
                    unsigned char out[32]);

/* Constant-time comparison of two equal-length buffers. */
bool pl_ct_equal(const void *a, const void *b, size_t n);

/* base64url without padding. encode writes a NUL-terminated string and returns
 * its length; out_size must be at least pl_b64url_len(n) + 1. decode returns
 * the number of bytes written, or -1 on malformed input or overflow. */
size_t pl_b64url_len(size_t n);
size_t pl_b64url_encode(const void *in, size_t n, char *out, size_t out_size);
long pl_b64url_decode(const char *in, size_t n, unsigned char *out, size_t out_size);

/* A new random token: nbytes of CSPRNG output as base64url (out_size >= 2*nbytes). */
void pl_token_new(size_t nbytes, char *out, size_t out_size);

/* Secrets at rest: XChaCha20-Poly1305 under a 32-byte key, with associated
 * data binding the ciphertext to its owner (e.g. a user id). seal writes
 * base64url(nonce || ciphertext) into an arena string; open returns the
 * plaintext length or -1 when the box was altered, belongs elsewhere or its
 * plaintext does not fit out_size. Boxes of any size. */
char *pl_seal(pl_arena_t *a, const unsigned char key[32], const void *msg, size_t n,
              const char *ad);
long pl_unseal(const unsigned char key[32], const char *box, const char *ad, unsigned char *out,
               size_t out_size);

/* Wipes secrets. */
void pl_memzero(void *p, size_t n);

#endif
