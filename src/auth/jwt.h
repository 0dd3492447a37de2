/* jwt.h - JSON Web Tokens for access tokens: HS256 (a shared secret) and
 * ES256 (ECDSA P-256, a key id in the header, verifiable by anyone holding
 * the published key). Pure functions, thread-safe.
 *
 * The header is checked strictly before any signature: alg must be HS256 or
 * ES256 (never "none"), typ absent or "JWT", no "crit", and kid, when
 * present, a short string. */
#ifndef PL_JWT_H
#define PL_JWT_H

#include "core/core.h"
#include "core/pkey.h"

#define PL_JWT_MAX     1024 /* longest token accepted or produced */
#define PL_JWT_KID_MAX 64   /* a key id and its NUL */

typedef struct {
    char sub[37]; /* user id */
    char sid[37]; /* session id */
    char jti[37];
    int64_t iat, exp; /* seconds since the epoch */
} pl_jwt_claims_t;

typedef enum {
    PL_JWT_OK = 0,
    PL_JWT_MALFORMED = -1, /* not three base64url parts of JSON, claims missing */
    PL_JWT_BAD_ALG = -2,   /* alg other than the one expected (including "none") */
    PL_JWT_BAD_SIG = -3,
    PL_JWT_BAD_ISS = -4,
    PL_JWT_EXPIRED = -5, /* only reported for a token whose signature is valid */
} pl_jwt_result_t;

typedef enum { PL_JWT_HS256 = 1, PL_JWT_ES256 = 2 } pl_jwt_alg_t;

/* A token split at its dots, its header checked (see above). Pointers point
 * into the token. */
typedef struct {
    pl_jwt_alg_t alg;
    char kid[PL_JWT_KID_MAX]; /* "" when the header has none */
    size_t signed_len;        /* bytes of "header.payload", the signing input */
    const char *payload;      /* base64url */
    size_t payload_len;
    unsigned char sig[64];
    size_t sig_len;
} pl_jwt_parts_t;

/* Splits token (len bytes) and checks its header. PL_JWT_MALFORMED or
 * PL_JWT_BAD_ALG on failure. */
pl_jwt_result_t pl_jwt_split(const char *token, size_t len, pl_jwt_parts_t *p);

/* Reads the claims of a token whose signature was verified: sub, sid, iat
 * and exp present, iss a string equal to iss (any string when iss is NULL), and not expired at now
 * (seconds). */
pl_jwt_result_t pl_jwt_read_claims(const pl_jwt_parts_t *p, const char *iss, int64_t now,
                                   pl_jwt_claims_t *c);

/* HS256: signs claims with key; writes a NUL-terminated token to out. The
 * header is {"alg":"HS256","typ":"JWT"}. PL_OK or PL_EINVAL (too long). */
int pl_jwt_sign(const unsigned char *key, size_t keylen, const char *iss, const pl_jwt_claims_t *c,
                char *out, size_t out_size);

/* HS256: verifies token (len bytes) at time now (seconds) and fills *c.
 * Any alg but HS256 is PL_JWT_BAD_ALG. */
pl_jwt_result_t pl_jwt_verify(const unsigned char *key, size_t keylen, const char *iss,
                              const char *token, size_t len, int64_t now, pl_jwt_claims_t *c);

/* ES256: signs claims with a P-256 private key; the header is
 * {"alg":"ES256","typ":"JWT","kid":kid}. kid is base64url (at most
 * PL_JWT_KID_MAX - 1 bytes). PL_OK, PL_EINVAL (too long) or PL_EINTERNAL. */
int pl_jwt_sign_es256(const pl_pkey_t *key, const char *kid, const char *iss,
                      const pl_jwt_claims_t *c, char *out, size_t out_size);

/* ES256: verifies the signature of split parts of token with key. */
bool pl_jwt_es256_valid(const pl_pkey_t *key, const char *token, const pl_jwt_parts_t *p);

#endif
