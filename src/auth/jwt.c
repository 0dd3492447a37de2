/* jwt.c - HS256 JWTs: compact serialization, constant-time signature check,
 * and a strict header (alg must be HS256; "none" and every other alg fail). */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "auth/jwt.h"
#include "core/crypto.h"

static const char header_b64[] =
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"; /* {"alg":"HS256","typ":"JWT"} */

int pl_jwt_sign(const unsigned char *key, size_t keylen, const char *iss, const pl_jwt_claims_t *c,
                char *out, size_t out_size)
{
    char payload[512];
    int n = snprintf(payload, sizeof(payload),
                     "{\"iss\":\"%s\",\"sub\":\"%s\",\"sid\":\"%s\",\"iat\":%lld,\"exp\":%lld,"
                     "\"jti\":\"%s\"}",
                     iss, c->sub, c->sid, (long long)c->iat, (long long)c->exp, c->jti);
    if (n < 0 || (size_t)n >= sizeof(payload))
        return PL_EINVAL;
    char body[PL_JWT_MAX];
    size_t hl = sizeof(header_b64) - 1;
    if (hl + 1 + pl_b64url_len((size_t)n) + 1 > sizeof(body))
        return PL_EINVAL;
    memcpy(body, header_b64, hl);
    body[hl] = '.';
    size_t pl = pl_b64url_encode(payload, (size_t)n, body + hl + 1, sizeof(body) - hl - 1);
    size_t signed_len = hl + 1 + pl;
    unsigned char mac[32];
    pl_hmac_sha256(key, keylen, body, signed_len, mac);
    if (signed_len + 1 + pl_b64url_len(32) + 1 > out_size)
        return PL_EINVAL;
    memcpy(out, body, signed_len);
    out[signed_len] = '.';
    pl_b64url_encode(mac, 32, out + signed_len + 1, out_size - signed_len - 1);
    return PL_OK;
}

static json_t *decode_json(const char *p, size_t n)
{
    unsigned char buf[PL_JWT_MAX];
    long len = pl_b64url_decode(p, n, buf, sizeof(buf));
    if (len < 0)
        return NULL;
    json_t *v = json_loadb((const char *)buf, (size_t)len, JSON_REJECT_DUPLICATES, NULL);
    if (v && !json_is_object(v)) {
        json_decref(v);
        return NULL;
    }
    return v;
}

static bool copy_id(json_t *o, const char *key, char out[37])
{
    json_t *v = json_object_get(o, key);
    if (!json_is_string(v) || json_string_length(v) != 36)
        return false;
    memcpy(out, json_string_value(v), 37);
    return pl_uuid_valid(out);
}

pl_jwt_result_t pl_jwt_verify(const unsigned char *key, size_t keylen, const char *iss,
                              const char *token, size_t len, int64_t now, pl_jwt_claims_t *c)
{
    if (len == 0 || len > PL_JWT_MAX)
        return PL_JWT_MALFORMED;
    const char *d1 = memchr(token, '.', len);
    if (!d1)
        return PL_JWT_MALFORMED;
    const char *d2 = memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - token));
    if (!d2 || memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - token)))
        return PL_JWT_MALFORMED;

    json_t *hdr = decode_json(token, (size_t)(d1 - token));
    if (!hdr)
        return PL_JWT_MALFORMED;
    json_t *alg = json_object_get(hdr, "alg");
    json_t *typ = json_object_get(hdr, "typ");
    bool alg_ok = json_is_string(alg) && !strcmp(json_string_value(alg), "HS256") &&
                  (!typ || (json_is_string(typ) && !strcmp(json_string_value(typ), "JWT"))) &&
                  !json_object_get(hdr, "crit");
    json_decref(hdr);
    if (!alg_ok)
        return PL_JWT_BAD_ALG;

    unsigned char sig[64];
    long sl = pl_b64url_decode(d2 + 1, len - (size_t)(d2 + 1 - token), sig, sizeof(sig));
    unsigned char mac[32];
    pl_hmac_sha256(key, keylen, token, (size_t)(d2 - token), mac);
    if (sl != 32 || !pl_ct_equal(sig, mac, 32))
        return PL_JWT_BAD_SIG;

    json_t *p = decode_json(d1 + 1, (size_t)(d2 - d1 - 1));
    if (!p)
        return PL_JWT_MALFORMED;
    pl_jwt_result_t rc = PL_JWT_OK;
    json_t *jiss = json_object_get(p, "iss");
    json_t *iat = json_object_get(p, "iat");
    json_t *exp = json_object_get(p, "exp");
    memset(c, 0, sizeof(*c));
    if (!copy_id(p, "sub", c->sub) || !copy_id(p, "sid", c->sid) || !json_is_integer(iat) ||
        !json_is_integer(exp)) {
        rc = PL_JWT_MALFORMED;
    } else if (!json_is_string(jiss) || strcmp(json_string_value(jiss), iss) != 0) {
        rc = PL_JWT_BAD_ISS;
    } else {
        c->iat = json_integer_value(iat);
        c->exp = json_integer_value(exp);
        copy_id(p, "jti", c->jti);
        if (c->exp <= now)
            rc = PL_JWT_EXPIRED;
    }
    json_decref(p);
    return rc;
}
