/* webauthn.h - the parts of WebAuthn Level 3 that a relying party checks,
 * as pure functions over client input: client data JSON, authenticator
 * data, COSE public keys (ES256, EdDSA) and attestation objects (CBOR, with
 * libcbor; formats "none" and "packed"), and assertion signatures.
 *
 * Nothing here knows the database, the configuration or HTTP; passkeys.c
 * decides what the results mean (which origins, which RP id, counters).
 * Every function is safe on any input (fuzz/fuzz_webauthn.c) and
 * thread-safe. */
#ifndef PL_WEBAUTHN_H
#define PL_WEBAUTHN_H

#include "core/core.h"
#include "core/pkey.h"

/* Authenticator data flags. */
#define PL_WA_UP 0x01 /* user present */
#define PL_WA_UV 0x04 /* user verified */
#define PL_WA_BE 0x08 /* backup eligible */
#define PL_WA_BS 0x10 /* backed up */
#define PL_WA_AT 0x40 /* attested credential data included */
#define PL_WA_ED 0x80 /* extension data included */

/* COSE algorithms accepted. */
#define PL_WA_ES256 (-7)
#define PL_WA_EDDSA (-8)

#define PL_WA_CRED_ID_MAX 1023 /* the longest credential id accepted */

/* Parsed authenticator data. Pointers point into the input. */
typedef struct {
    const unsigned char *rp_id_hash; /* 32 bytes */
    uint8_t flags;
    uint32_t sign_count;
    /* attested credential data (flag AT) */
    const unsigned char *aaguid; /* 16 bytes, or NULL */
    const unsigned char *cred_id;
    size_t cred_id_len;
    const unsigned char *cose_key; /* the credential public key, CBOR */
    size_t cose_key_len;
} pl_wa_auth_data_t;

/* Parses authenticator data: 37 bytes of RP id hash, flags and counter,
 * then the attested credential data when AT is set (its COSE key must be
 * one well-formed CBOR item) and the extensions map when ED is set, and
 * nothing more. PL_OK or PL_EINVAL with a static reason in *why. */
int pl_wa_parse_auth_data(const unsigned char *p, size_t n, pl_wa_auth_data_t *out,
                          const char **why);

/* A COSE_Key (RFC 9052/9053): EC2 P-256 with alg -7, or OKP Ed25519 with
 * alg -8. *key is a new key the caller frees (pl_pkey_free). PL_OK or
 * PL_EINVAL with *why. */
int pl_wa_parse_cose_key(const unsigned char *p, size_t n, int *alg, pl_pkey_t **key,
                         const char **why);

/* What clientDataJSON says. Strings are copies in the arena. */
typedef struct {
    const char *type;      /* "webauthn.create" or "webauthn.get" */
    const char *challenge; /* base64url, as sent */
    const char *origin;
    bool cross_origin;
    const char *top_origin; /* NULL when absent */
} pl_wa_client_data_t;

/* Parses clientDataJSON (n bytes, UTF-8 JSON object with string type,
 * challenge and origin). PL_OK or PL_EINVAL with *why. */
int pl_wa_parse_client_data(pl_arena_t *a, const unsigned char *p, size_t n,
                            pl_wa_client_data_t *out, const char **why);

/* A registration's attestation object, checked. */
typedef struct {
    char fmt[16];             /* "none" or "packed" */
    pl_wa_auth_data_t ad;     /* points into auth_data */
    unsigned char *auth_data; /* a copy of the object's authData (xmalloc) */
    size_t auth_data_len;
    int alg;        /* of the credential key */
    pl_pkey_t *key; /* the credential public key */
} pl_wa_attestation_t;

/* Parses an attestation object ({"fmt","attStmt","authData"}) and checks
 * its statement against client_data_hash (SHA-256 of clientDataJSON):
 * "none" has an empty statement; "packed" is verified with the credential
 * key (self attestation) or the key of its first x5c certificate (the
 * certificate chain is not judged: attestation is not required). The
 * authenticator data must carry attested credential data with an ES256 or
 * EdDSA key. PL_OK (free *out with pl_wa_attestation_free) or PL_EINVAL
 * with *why (nothing to free). */
int pl_wa_parse_attestation(const unsigned char *obj, size_t n,
                            const unsigned char client_data_hash[32], pl_wa_attestation_t *out,
                            const char **why);
void pl_wa_attestation_free(pl_wa_attestation_t *a);

/* Verifies an assertion signature: over authenticator data followed by
 * client_data_hash, with the credential key (alg -7: DER ECDSA; -8:
 * Ed25519). */
bool pl_wa_signature_valid(const pl_pkey_t *key, int alg, const unsigned char *auth_data,
                           size_t auth_data_len, const unsigned char client_data_hash[32],
                           const unsigned char *sig, size_t sig_len);

#endif
