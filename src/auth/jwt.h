/* jwt.h - HS256 JSON Web Tokens for access tokens. Pure functions, thread-safe. */
#ifndef PL_JWT_H
#define PL_JWT_H

#include "core/core.h"

#define PL_JWT_MAX 1024 /* longest token accepted or produced */

typedef struct {
    char sub[37]; /* user id */
    char sid[37]; /* session id */
    char jti[37];
    int64_t iat, exp; /* seconds since the epoch */
} pl_jwt_claims_t;

typedef enum {
    PL_JWT_OK = 0,
    PL_JWT_MALFORMED = -1, /* not three base64url parts of JSON, claims missing */
    PL_JWT_BAD_ALG = -2,   /* alg other than HS256 (including "none") */
    PL_JWT_BAD_SIG = -3,
    PL_JWT_BAD_ISS = -4,
    PL_JWT_EXPIRED = -5, /* only reported for a token whose signature is valid */
} pl_jwt_result_t;

/* Signs claims with key; writes a NUL-terminated token to out. */
int pl_jwt_sign(const unsigned char *key, size_t keylen, const char *iss, const pl_jwt_claims_t *c,
                char *out, size_t out_size);

/* Verifies token (len bytes) at time now (seconds) and fills *c. */
pl_jwt_result_t pl_jwt_verify(const unsigned char *key, size_t keylen, const char *iss,
                              const char *token, size_t len, int64_t now, pl_jwt_claims_t *c);

#endif
