/* jwt.c - compact JWS for access tokens: HS256 and ES256, a strict header
 * ("none" and every other alg fail before any signature is looked at), a
 * constant-time HMAC check, and ECDSA through core/pkey. */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "auth/jwt.h"
#include "core/crypto.h"

static const char hs256_header_b64[] =
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"; /* {"alg":"HS256","typ":"JWT"} */

/* "header.payload" for claims into body; returns its length, or 0 when it
 * does not fit. */
static size_t signing_input(const char *header_b64, size_t hl, const char *iss,
                            const pl_jwt_claims_t *c, char *body, size_t size)
{
    char payload[768];
    int n = snprintf(payload, sizeof(payload),
                     "{\"iss\":\"%s\",\"sub\":\"%s\",\"sid\":\"%s\",\"iat\":%lld,\"exp\":%lld,"
                     "\"jti\":\"%s\"}",
                     iss, c->sub, c->sid, (long long)c->iat, (long long)c->exp, c->jti);
    if (n < 0 || (size_t)n >= sizeof(payload))
        return 0;
    if (hl + 1 + pl_b64url_len((size_t)n) + 1 > size)
        return 0;
    memcpy(body, header_b64, hl);
    body[hl] = '.';
    return hl + 1 + pl_b64url_encode(payload, (size_t)n, body + hl + 1, size - hl - 1);
}

/* Appends ".signature" to the signing input in out. */
static int finish(const char *body, size_t signed_len, const unsigned char *sig, size_t sig_len,
                  char *out, size_t out_size)
{
    if (signed_len + 1 + pl_b64url_len(sig_len) + 1 > out_size)
        return PL_EINVAL;
    memmove(out, body, signed_len);
    out[signed_len] = '.';
    pl_b64url_encode(sig, sig_len, out + signed_len + 1, out_size - signed_len - 1);
    return PL_OK;
}

int pl_jwt_sign(const unsigned char *key, size_t keylen, const char *iss, const pl_jwt_claims_t *c,
                char *out, size_t out_size)
{
    char body[PL_JWT_MAX];
    size_t n =
        signing_input(hs256_header_b64, sizeof(hs256_header_b64) - 1, iss, c, body, sizeof(body));
    if (!n)
        return PL_EINVAL;
    unsigned char mac[32];
    pl_hmac_sha256(key, keylen, body, n, mac);
    return finish(body, n, mac, sizeof(mac), out, out_size);
}

int pl_jwt_sign_es256(const pl_pkey_t *key, const char *kid, const char *iss,
                      const pl_jwt_claims_t *c, char *out, size_t out_size)
{
    char header[160], header_b64[224], body[PL_JWT_MAX];
    int hn =
        snprintf(header, sizeof(header), "{\"alg\":\"ES256\",\"typ\":\"JWT\",\"kid\":\"%s\"}", kid);
    if (hn < 0 || (size_t)hn >= sizeof(header) || strlen(kid) >= PL_JWT_KID_MAX)
        return PL_EINVAL;
    size_t hl = pl_b64url_encode(header, (size_t)hn, header_b64, sizeof(header_b64));
    size_t n = signing_input(header_b64, hl, iss, c, body, sizeof(body));
    if (!n)
        return PL_EINVAL;
    unsigned char sig[64];
    if (pl_pkey_sign_es256(key, body, n, sig))
        return PL_EINTERNAL;
    return finish(body, n, sig, sizeof(sig), out, out_size);
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

pl_jwt_result_t pl_jwt_split(const char *token, size_t len, pl_jwt_parts_t *p)
{
    memset(p, 0, sizeof(*p));
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
    json_t *kid = json_object_get(hdr, "kid");
    const char *a = json_is_string(alg) ? json_string_value(alg) : "";
    p->alg = !strcmp(a, "HS256") ? PL_JWT_HS256 : !strcmp(a, "ES256") ? PL_JWT_ES256 : 0;
    bool ok = p->alg && (!typ || (json_is_string(typ) && !strcmp(json_string_value(typ), "JWT"))) &&
              !json_object_get(hdr, "crit") &&
              (!kid || (json_is_string(kid) && json_string_length(kid) < PL_JWT_KID_MAX));
    if (ok && kid)
        memcpy(p->kid, json_string_value(kid), json_string_length(kid) + 1);
    json_decref(hdr);
    if (!ok)
        return PL_JWT_BAD_ALG;

    long sl = pl_b64url_decode(d2 + 1, len - (size_t)(d2 + 1 - token), p->sig, sizeof(p->sig));
    if (sl < 0)
        return PL_JWT_BAD_SIG;
    p->sig_len = (size_t)sl;
    p->signed_len = (size_t)(d2 - token);
    p->payload = d1 + 1;
    p->payload_len = (size_t)(d2 - d1 - 1);
    return PL_JWT_OK;
}

pl_jwt_result_t pl_jwt_read_claims(const pl_jwt_parts_t *parts, const char *iss, int64_t now,
                                   pl_jwt_claims_t *c)
{
    json_t *p = decode_json(parts->payload, parts->payload_len);
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
    } else if (!json_is_string(jiss) || (iss && strcmp(json_string_value(jiss), iss) != 0)) {
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

pl_jwt_result_t pl_jwt_verify(const unsigned char *key, size_t keylen, const char *iss,
                              const char *token, size_t len, int64_t now, pl_jwt_claims_t *c)
{
    pl_jwt_parts_t p;
    pl_jwt_result_t rc = pl_jwt_split(token, len, &p);
    if (rc)
        return rc;
    if (p.alg != PL_JWT_HS256)
        return PL_JWT_BAD_ALG;
    unsigned char mac[32];
    pl_hmac_sha256(key, keylen, token, p.signed_len, mac);
    if (p.sig_len != 32 || !pl_ct_equal(p.sig, mac, 32))
        return PL_JWT_BAD_SIG;
    return pl_jwt_read_claims(&p, iss, now, c);
}

bool pl_jwt_es256_valid(const pl_pkey_t *key, const char *token, const pl_jwt_parts_t *p)
{
    return p->alg == PL_JWT_ES256 && p->sig_len == 64 &&
           pl_pkey_verify(key, PL_PKEY_ES256, token, p->signed_len, p->sig, p->sig_len, false);
}
