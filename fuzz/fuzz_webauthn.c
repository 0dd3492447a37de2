/* fuzz_webauthn.c - what passkeys parse from a browser: the input is tried
 * as an attestation object (CBOR: fmt, attStmt, authData with its COSE key;
 * "none" and "packed" statements), as authenticator data, as a COSE key and
 * as client data JSON. Every parse either fails with a reason or yields
 * results that hold together (lengths inside the input, a key when it says
 * so). */
#include <stdint.h>
#include <string.h>

#include <sodium.h>

#include "core/core.h"
#include "passkeys/webauthn.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return sodium_init() < 0;
}

static void check_auth_data(const pl_wa_auth_data_t *ad, const uint8_t *data, size_t size)
{
    if (ad->rp_id_hash != data)
        __builtin_trap();
    if (ad->cred_id && (ad->cred_id < data || ad->cred_id + ad->cred_id_len > data + size ||
                        ad->cose_key + ad->cose_key_len > data + size || !ad->cose_key_len))
        __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 64 * 1024)
        return 0;
    const char *why = NULL;
    unsigned char cdh[32] = {0};
    pl_wa_attestation_t att;
    if (pl_wa_parse_attestation(data, size, cdh, &att, &why) == PL_OK) {
        if (!att.key || !att.ad.cred_id || (att.alg != PL_WA_ES256 && att.alg != PL_WA_EDDSA))
            __builtin_trap();
        /* a signature over anything must not verify by accident */
        unsigned char sig[72] = {0};
        if (pl_wa_signature_valid(att.key, att.alg, att.auth_data, att.auth_data_len, cdh, sig,
                                  att.alg == PL_WA_ES256 ? 8 : 64))
            __builtin_trap();
        pl_wa_attestation_free(&att);
    } else if (!why) {
        __builtin_trap();
    }
    pl_wa_auth_data_t ad;
    if (pl_wa_parse_auth_data(data, size, &ad, &why) == PL_OK)
        check_auth_data(&ad, data, size);
    int alg = 0;
    pl_pkey_t *key = NULL;
    if (pl_wa_parse_cose_key(data, size, &alg, &key, &why) == PL_OK) {
        if (!key)
            __builtin_trap();
        pl_pkey_free(key);
    } else if (key) {
        __builtin_trap();
    }
    pl_arena_t *a = pl_arena_create();
    pl_wa_client_data_t cd;
    if (pl_wa_parse_client_data(a, data, size, &cd, &why) == PL_OK &&
        (!cd.type || !cd.challenge || !cd.origin))
        __builtin_trap();
    pl_arena_destroy(a);
    return 0;
}
