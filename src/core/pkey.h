/* pkey.h - public-key signatures with OpenSSL: ECDSA P-256 with SHA-256
 * (ES256), Ed25519 (EdDSA) and, to verify only, RSA with SHA-256 (RS256), for access tokens other
 * services verify (JWS) and for WebAuthn credentials.
 *
 * A pl_pkey_t is an immutable key (public, or private with its public half);
 * once made it may be used by any number of threads at once. Functions that
 * make one return NULL on malformed input (a point off the curve, a damaged
 * DER) and never abort on client input. Private key bytes are wiped after
 * use. */
#ifndef PL_PKEY_H
#define PL_PKEY_H

#include "core/core.h"

typedef struct pl_pkey pl_pkey_t;

typedef enum {
    PL_PKEY_ES256 = 1, /* ECDSA on P-256 with SHA-256 */
    PL_PKEY_EDDSA = 2, /* Ed25519 */
    PL_PKEY_RS256 = 3, /* RSASSA-PKCS1-v1_5 with SHA-256 (identity providers' id_tokens) */
} pl_pkey_alg_t;

/* A fresh P-256 private key, or NULL when OpenSSL fails. */
pl_pkey_t *pl_pkey_generate_es256(void);

/* The private key as PKCS#8 DER into out; returns its length, or -1 when it
 * does not fit or k has no private half. Secret: wipe out after use. */
long pl_pkey_private_der(const pl_pkey_t *k, unsigned char *out, size_t size);
/* A private key (with its public half) from PKCS#8 DER; NULL when damaged. */
pl_pkey_t *pl_pkey_from_private_der(const unsigned char *der, size_t n);

/* Public keys from their raw coordinates: P-256 (x, y, 32 bytes each; the
 * point must lie on the curve) and Ed25519 (x, 32 bytes). */
pl_pkey_t *pl_pkey_es256_public(const unsigned char x[32], const unsigned char y[32]);
pl_pkey_t *pl_pkey_ed25519_public(const unsigned char x[32]);
/* An RSA public key from its modulus and exponent (big-endian, as a JWK's
 * "n" and "e" decode); NULL for a modulus under 2048 or over 8192 bits. */
pl_pkey_t *pl_pkey_rs256_public(const unsigned char *n, size_t nlen, const unsigned char *e,
                                size_t elen);
/* The public key of an X.509 certificate (DER); NULL when unreadable. Its
 * algorithm lands in *alg (0 when neither ES256 nor EdDSA). */
pl_pkey_t *pl_pkey_from_x509(const unsigned char *der, size_t n, pl_pkey_alg_t *alg);

/* The coordinates of a P-256 key (public, or the public half of a private
 * one). PL_OK or PL_EINVAL. */
int pl_pkey_es256_xy(const pl_pkey_t *k, unsigned char x[32], unsigned char y[32]);

/* Signs msg with a P-256 private key: the JWS form of the signature, r || s
 * (32 bytes each). PL_OK or PL_EINTERNAL. */
int pl_pkey_sign_es256(const pl_pkey_t *k, const void *msg, size_t n, unsigned char sig[64]);

/* Verifies sig over msg. ES256 signatures are DER (WebAuthn) when der, else
 * r || s (JWS, 64 bytes); EdDSA signatures are 64 bytes; RS256 signatures
 * as long as the modulus. False for any
 * mismatch of key, algorithm or signature. */
bool pl_pkey_verify(const pl_pkey_t *k, pl_pkey_alg_t alg, const void *msg, size_t n,
                    const unsigned char *sig, size_t siglen, bool der);

/* Releases k (NULL is fine). */
void pl_pkey_free(pl_pkey_t *k);

#endif
