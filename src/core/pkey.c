/* pkey.c - ES256 and Ed25519 signatures over OpenSSL's EVP interface. */
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/x509.h>

#include "core/crypto.h"
#include "core/pkey.h"

struct pl_pkey {
    EVP_PKEY *k;
    pl_pkey_alg_t alg;
};

/* SubjectPublicKeyInfo of a P-256 key, up to the uncompressed point. */
static const unsigned char p256_spki_prefix[] = {
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01,
    0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
};

static pl_pkey_t *wrap(EVP_PKEY *k, pl_pkey_alg_t alg)
{
    if (!k)
        return NULL;
    pl_pkey_t *p = pl_xcalloc(1, sizeof(*p));
    p->k = k;
    p->alg = alg;
    return p;
}

/* The algorithm of an OpenSSL key: ES256 for P-256, EdDSA for Ed25519. */
static pl_pkey_alg_t alg_of(EVP_PKEY *k)
{
    if (EVP_PKEY_get_base_id(k) == EVP_PKEY_ED25519)
        return PL_PKEY_EDDSA;
    if (EVP_PKEY_get_base_id(k) != EVP_PKEY_EC)
        return 0;
    char group[64];
    size_t gl = 0;
    if (!EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group), &gl))
        return 0;
    return !strcmp(group, "prime256v1") || !strcmp(group, "P-256") ? PL_PKEY_ES256 : 0;
}

pl_pkey_t *pl_pkey_generate_es256(void)
{
    return wrap(EVP_EC_gen("P-256"), PL_PKEY_ES256);
}

long pl_pkey_private_der(const pl_pkey_t *k, unsigned char *out, size_t size)
{
    PKCS8_PRIV_KEY_INFO *p8 = EVP_PKEY2PKCS8(k->k);
    if (!p8)
        return -1;
    long rc = -1;
    int n = i2d_PKCS8_PRIV_KEY_INFO(p8, NULL);
    if (n > 0 && (size_t)n <= size) {
        unsigned char *p = out;
        rc = i2d_PKCS8_PRIV_KEY_INFO(p8, &p);
    }
    PKCS8_PRIV_KEY_INFO_free(p8);
    return rc;
}

pl_pkey_t *pl_pkey_from_private_der(const unsigned char *der, size_t n)
{
    const unsigned char *p = der;
    EVP_PKEY *k = d2i_AutoPrivateKey(NULL, &p, (long)n);
    pl_pkey_alg_t alg = k ? alg_of(k) : 0;
    if (k && !alg) {
        EVP_PKEY_free(k);
        return NULL;
    }
    return wrap(k, alg);
}

pl_pkey_t *pl_pkey_es256_public(const unsigned char x[32], const unsigned char y[32])
{
    unsigned char spki[sizeof(p256_spki_prefix) + 65];
    memcpy(spki, p256_spki_prefix, sizeof(p256_spki_prefix));
    unsigned char *pt = spki + sizeof(p256_spki_prefix);
    pt[0] = 0x04;
    memcpy(pt + 1, x, 32);
    memcpy(pt + 33, y, 32);
    const unsigned char *p = spki;
    /* decoding the point checks that it lies on the curve */
    EVP_PKEY *k = d2i_PUBKEY(NULL, &p, (long)sizeof(spki));
    if (k && alg_of(k) != PL_PKEY_ES256) {
        EVP_PKEY_free(k);
        return NULL;
    }
    return wrap(k, PL_PKEY_ES256);
}

pl_pkey_t *pl_pkey_ed25519_public(const unsigned char x[32])
{
    return wrap(EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, x, 32), PL_PKEY_EDDSA);
}

pl_pkey_t *pl_pkey_rs256_public(const unsigned char *n, size_t nlen, const unsigned char *e,
                                size_t elen)
{
    while (nlen && !*n) { /* leading zero bytes do not count toward the size */
        n++;
        nlen--;
    }
    if (nlen < 256 || nlen > 1024 || !elen || elen > 8)
        return NULL;
    BIGNUM *bn = BN_bin2bn(n, (int)nlen, NULL), *be = BN_bin2bn(e, (int)elen, NULL);
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    EVP_PKEY *k = NULL;
    if (bn && be && bld && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn) &&
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be) &&
        (params = OSSL_PARAM_BLD_to_param(bld)) &&
        (ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL)) && EVP_PKEY_fromdata_init(ctx) == 1)
        EVP_PKEY_fromdata(ctx, &k, EVP_PKEY_PUBLIC_KEY, params);
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_free(bn);
    BN_free(be);
    return wrap(k, PL_PKEY_RS256);
}

pl_pkey_t *pl_pkey_from_x509(const unsigned char *der, size_t n, pl_pkey_alg_t *alg)
{
    *alg = 0;
    const unsigned char *p = der;
    X509 *cert = d2i_X509(NULL, &p, (long)n);
    if (!cert)
        return NULL;
    EVP_PKEY *k = X509_get_pubkey(cert); /* a new reference */
    X509_free(cert);
    if (!k)
        return NULL;
    *alg = alg_of(k);
    return wrap(k, *alg);
}

int pl_pkey_es256_xy(const pl_pkey_t *k, unsigned char x[32], unsigned char y[32])
{
    unsigned char pt[65];
    size_t n = 0;
    if (k->alg != PL_PKEY_ES256 ||
        !EVP_PKEY_get_octet_string_param(k->k, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, pt, sizeof(pt),
                                         &n) ||
        n != 65 || pt[0] != 0x04)
        return PL_EINVAL;
    memcpy(x, pt + 1, 32);
    memcpy(y, pt + 33, 32);
    return PL_OK;
}

int pl_pkey_sign_es256(const pl_pkey_t *k, const void *msg, size_t n, unsigned char sig[64])
{
    if (k->alg != PL_PKEY_ES256)
        return PL_EINTERNAL;
    unsigned char digest[32], der[80];
    size_t derlen = sizeof(der);
    pl_sha256(msg, n, digest);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(k->k, NULL);
    int rc = PL_EINTERNAL;
    if (ctx && EVP_PKEY_sign_init(ctx) == 1 &&
        EVP_PKEY_sign(ctx, der, &derlen, digest, sizeof(digest)) == 1) {
        const unsigned char *p = der;
        ECDSA_SIG *s = d2i_ECDSA_SIG(NULL, &p, (long)derlen);
        if (s) {
            const BIGNUM *r = NULL, *sv = NULL;
            ECDSA_SIG_get0(s, &r, &sv);
            if (BN_bn2binpad(r, sig, 32) == 32 && BN_bn2binpad(sv, sig + 32, 32) == 32)
                rc = PL_OK;
            ECDSA_SIG_free(s);
        }
    }
    EVP_PKEY_CTX_free(ctx);
    return rc;
}

/* r || s as a DER ECDSA-Sig-Value into der; its length, or -1. */
static int raw_to_der(const unsigned char *raw, unsigned char der[80])
{
    ECDSA_SIG *s = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(raw, 32, NULL), *sv = BN_bin2bn(raw + 32, 32, NULL);
    int n = -1;
    if (s && r && sv && ECDSA_SIG_set0(s, r, sv) == 1) {
        r = sv = NULL; /* owned by s */
        if (i2d_ECDSA_SIG(s, NULL) <= 80) {
            unsigned char *p = der;
            n = i2d_ECDSA_SIG(s, &p);
        }
    }
    BN_free(r);
    BN_free(sv);
    ECDSA_SIG_free(s);
    return n;
}

bool pl_pkey_verify(const pl_pkey_t *k, pl_pkey_alg_t alg, const void *msg, size_t n,
                    const unsigned char *sig, size_t siglen, bool der)
{
    if (!k || k->alg != alg || !sig)
        return false;
    if (alg == PL_PKEY_RS256) {
        EVP_MD_CTX *m = EVP_MD_CTX_new();
        bool ok = m && EVP_DigestVerifyInit(m, NULL, EVP_sha256(), NULL, k->k) == 1 &&
                  EVP_DigestVerify(m, sig, siglen, msg, n) == 1;
        EVP_MD_CTX_free(m);
        return ok;
    }
    if (alg == PL_PKEY_EDDSA) {
        if (siglen != 64)
            return false;
        EVP_MD_CTX *m = EVP_MD_CTX_new();
        bool ok = m && EVP_DigestVerifyInit(m, NULL, NULL, NULL, k->k) == 1 &&
                  EVP_DigestVerify(m, sig, siglen, msg, n) == 1;
        EVP_MD_CTX_free(m);
        return ok;
    }
    unsigned char buf[80];
    if (!der) {
        if (siglen != 64)
            return false;
        int dl = raw_to_der(sig, buf);
        if (dl < 0)
            return false;
        sig = buf;
        siglen = (size_t)dl;
    } else if (siglen < 8 || siglen > 72) {
        return false;
    }
    unsigned char digest[32];
    pl_sha256(msg, n, digest);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(k->k, NULL);
    /* OpenSSL re-encodes the decoded signature and refuses one that is not
     * strict DER */
    bool ok = ctx && EVP_PKEY_verify_init(ctx) == 1 &&
              EVP_PKEY_verify(ctx, sig, siglen, digest, sizeof(digest)) == 1;
    EVP_PKEY_CTX_free(ctx);
    return ok;
}

void pl_pkey_free(pl_pkey_t *k)
{
    if (!k)
        return;
    EVP_PKEY_free(k->k);
    free(k);
}
