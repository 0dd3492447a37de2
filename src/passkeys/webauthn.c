/* webauthn.c - WebAuthn structures a relying party checks: client data,
 * authenticator data, COSE keys, attestation objects (libcbor decodes the
 * CBOR after a first pass bounds what it may allocate), signatures. */
#include <stdlib.h>
#include <string.h>

#include <cbor.h>
#include <jansson.h>

#include "core/crypto.h"
#include "passkeys/webauthn.h"

static int fail(const char **why, const char *reason)
{
    *why = reason;
    return PL_EINVAL;
}

/* ---- CBOR helpers ---- */

/* A CBOR integer as int64; false when item is not one or does not fit. */
static bool int_value(const cbor_item_t *item, int64_t *v)
{
    if (!item || !(cbor_isa_uint(item) || cbor_isa_negint(item)))
        return false;
    uint64_t u = cbor_get_int(item);
    if (u > (uint64_t)INT64_MAX)
        return false;
    *v = cbor_isa_uint(item) ? (int64_t)u : -1 - (int64_t)u;
    return true;
}

static bool text_is(const cbor_item_t *item, const char *s)
{
    size_t n = strlen(s);
    return item && cbor_isa_string(item) && cbor_string_is_definite(item) &&
           cbor_string_length(item) == n && !memcmp(cbor_string_handle(item), s, n);
}

/* The value of a definite map under an integer (is_int) or text key; NULL
 * when absent. *dup is set when the key appears more than once. */
static cbor_item_t *map_get(const cbor_item_t *map, bool is_int, int64_t ikey, const char *skey,
                            bool *dup)
{
    cbor_item_t *found = NULL;
    struct cbor_pair *pairs = cbor_map_handle(map);
    for (size_t i = 0; i < cbor_map_size(map); i++) {
        int64_t k;
        bool match =
            is_int ? int_value(pairs[i].key, &k) && k == ikey : text_is(pairs[i].key, skey);
        if (!match)
            continue;
        if (found)
            *dup = true;
        found = pairs[i].value;
    }
    return found;
}

static bool is_definite_map(const cbor_item_t *item)
{
    return item && cbor_isa_map(item) && cbor_map_is_definite(item);
}

static bool is_bytes(const cbor_item_t *item)
{
    return item && cbor_isa_bytestring(item) && cbor_bytestring_is_definite(item);
}

/* ---- a first pass over untrusted CBOR ----
 * libcbor allocates an array or map for the size its header declares before
 * reading the items, so a few bytes could ask for gigabytes. The first pass
 * walks the item headers with libcbor's streaming decoder and accepts only
 * what WebAuthn uses: definite lengths, no tags, and never more items
 * pending than bytes left (each item takes at least one). */

typedef struct {
    size_t children; /* items the header just read announces */
    bool bad;
} scan_t;

static void scan_array(void *c, size_t n)
{
    ((scan_t *)c)->children = n;
}

static void scan_map(void *c, size_t n)
{
    scan_t *s = c;
    if (n > SIZE_MAX / 2)
        s->bad = true;
    else
        s->children = 2 * n;
}

static void scan_refuse(void *c)
{
    ((scan_t *)c)->bad = true;
}

static void scan_tag(void *c, uint64_t tag)
{
    PL_UNUSED(tag);
    ((scan_t *)c)->bad = true;
}

/* The length of the one well-formed item at p, or 0. */
static size_t item_length(const unsigned char *p, size_t n)
{
    struct cbor_callbacks cb = cbor_empty_callbacks;
    cb.array_start = scan_array;
    cb.map_start = scan_map;
    cb.indef_array_start = scan_refuse;
    cb.indef_map_start = scan_refuse;
    cb.byte_string_start = scan_refuse;
    cb.string_start = scan_refuse;
    cb.indef_break = scan_refuse;
    cb.tag = scan_tag;
    size_t off = 0, need = 1;
    while (need) {
        if (off >= n)
            return 0;
        scan_t s = {0, false};
        struct cbor_decoder_result r = cbor_stream_decode(p + off, n - off, &cb, &s);
        if (r.status != CBOR_DECODER_FINISHED || s.bad || r.read == 0)
            return 0;
        off += r.read;
        if (s.children > n - off || need - 1 + s.children > n - off)
            return 0;
        need = need - 1 + s.children;
    }
    return off;
}

/* One whole CBOR item decoded from p; *used: its length in bytes. NULL
 * when malformed. */
static cbor_item_t *load_one(const unsigned char *p, size_t n, size_t *used)
{
    size_t len = item_length(p, n);
    if (!len)
        return NULL;
    struct cbor_load_result res;
    cbor_item_t *item = cbor_load(p, len, &res);
    if (!item)
        return NULL;
    if (res.error.code != CBOR_ERR_NONE || res.read != len) {
        cbor_decref(&item);
        return NULL;
    }
    *used = res.read;
    return item;
}

/* ---- COSE keys ---- */

int pl_wa_parse_cose_key(const unsigned char *p, size_t n, int *alg, pl_pkey_t **key,
                         const char **why)
{
    *key = NULL;
    size_t used = 0;
    cbor_item_t *m = load_one(p, n, &used);
    int rc = PL_OK;
    if (!m || used != n || !is_definite_map(m)) {
        rc = fail(why, "the credential public key is not a COSE key");
        goto out;
    }
    bool dup = false;
    int64_t kty = 0, a = 0, crv = 0;
    cbor_item_t *x = map_get(m, true, -2, NULL, &dup);
    cbor_item_t *y = map_get(m, true, -3, NULL, &dup);
    if (!int_value(map_get(m, true, 1, NULL, &dup), &kty) ||
        !int_value(map_get(m, true, 3, NULL, &dup), &a) ||
        !int_value(map_get(m, true, -1, NULL, &dup), &crv) || dup) {
        rc = fail(why, "the COSE key lacks kty, alg or crv");
        goto out;
    }
    if (kty == 2 && a == PL_WA_ES256 && crv == 1) {
        if (!is_bytes(x) || !is_bytes(y) || cbor_bytestring_length(x) != 32 ||
            cbor_bytestring_length(y) != 32) {
            rc = fail(why, "the P-256 key's coordinates are malformed");
            goto out;
        }
        *key = pl_pkey_es256_public(cbor_bytestring_handle(x), cbor_bytestring_handle(y));
    } else if (kty == 1 && a == PL_WA_EDDSA && crv == 6) {
        if (!is_bytes(x) || cbor_bytestring_length(x) != 32 || y) {
            rc = fail(why, "the Ed25519 key is malformed");
            goto out;
        }
        *key = pl_pkey_ed25519_public(cbor_bytestring_handle(x));
    } else {
        rc = fail(why, "the credential's algorithm is not ES256 or EdDSA");
        goto out;
    }
    if (!*key)
        rc = fail(why, "the credential public key is not a valid point");
    *alg = (int)a;
out:
    if (m)
        cbor_decref(&m);
    return rc;
}

/* ---- authenticator data ---- */

int pl_wa_parse_auth_data(const unsigned char *p, size_t n, pl_wa_auth_data_t *out,
                          const char **why)
{
    memset(out, 0, sizeof(*out));
    if (!p || n < 37)
        return fail(why, "the authenticator data is too short");
    out->rp_id_hash = p;
    out->flags = p[32];
    out->sign_count = (uint32_t)p[33] << 24 | (uint32_t)p[34] << 16 | (uint32_t)p[35] << 8 | p[36];
    size_t off = 37;
    if (out->flags & PL_WA_AT) {
        if (n - off < 18)
            return fail(why, "the attested credential data is truncated");
        out->aaguid = p + off;
        size_t len = (size_t)p[off + 16] << 8 | p[off + 17];
        off += 18;
        if (len == 0 || len > PL_WA_CRED_ID_MAX || n - off < len)
            return fail(why, "the credential id is malformed");
        out->cred_id = p + off;
        out->cred_id_len = len;
        off += len;
        size_t used = 0;
        cbor_item_t *key = load_one(p + off, n - off, &used);
        if (!key)
            return fail(why, "the credential public key is not CBOR");
        cbor_decref(&key);
        out->cose_key = p + off;
        out->cose_key_len = used;
        off += used;
    }
    if (out->flags & PL_WA_ED) {
        size_t used = 0;
        cbor_item_t *ext = load_one(p + off, n - off, &used);
        bool ok = ext && is_definite_map(ext);
        if (ext)
            cbor_decref(&ext);
        if (!ok)
            return fail(why, "the extensions are not a CBOR map");
        off += used;
    }
    if (off != n)
        return fail(why, "the authenticator data has trailing bytes");
    return PL_OK;
}

/* ---- client data ---- */

static const char *get_str(pl_arena_t *a, json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_string(v) ? pl_arena_strndup(a, json_string_value(v), json_string_length(v))
                             : NULL;
}

int pl_wa_parse_client_data(pl_arena_t *a, const unsigned char *p, size_t n,
                            pl_wa_client_data_t *out, const char **why)
{
    memset(out, 0, sizeof(*out));
    if (!p || n == 0 || n > 64 * 1024)
        return fail(why, "clientDataJSON is empty or too long");
    json_t *o = json_loadb((const char *)p, n, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(o)) {
        json_decref(o);
        return fail(why, "clientDataJSON is not a JSON object");
    }
    out->type = get_str(a, o, "type");
    out->challenge = get_str(a, o, "challenge");
    out->origin = get_str(a, o, "origin");
    out->top_origin = get_str(a, o, "topOrigin");
    out->cross_origin = json_is_true(json_object_get(o, "crossOrigin"));
    json_decref(o);
    if (!out->type || !out->challenge || !out->origin)
        return fail(why, "clientDataJSON lacks type, challenge or origin");
    return PL_OK;
}

/* ---- attestation ---- */

bool pl_wa_signature_valid(const pl_pkey_t *key, int alg, const unsigned char *auth_data,
                           size_t auth_data_len, const unsigned char client_data_hash[32],
                           const unsigned char *sig, size_t sig_len)
{
    if (!key || !auth_data || auth_data_len > 64 * 1024)
        return false;
    unsigned char *msg = pl_xmalloc(auth_data_len + 32);
    memcpy(msg, auth_data, auth_data_len);
    memcpy(msg + auth_data_len, client_data_hash, 32);
    bool ok = false;
    if (alg == PL_WA_ES256)
        ok = pl_pkey_verify(key, PL_PKEY_ES256, msg, auth_data_len + 32, sig, sig_len, true);
    else if (alg == PL_WA_EDDSA)
        ok = pl_pkey_verify(key, PL_PKEY_EDDSA, msg, auth_data_len + 32, sig, sig_len, false);
    free(msg);
    return ok;
}

/* Checks a "packed" statement {alg, sig, x5c?}. */
static int check_packed(const cbor_item_t *st, const pl_wa_attestation_t *att,
                        const unsigned char cdh[32], const char **why)
{
    bool dup = false;
    int64_t alg = 0;
    cbor_item_t *sig = map_get(st, false, 0, "sig", &dup);
    cbor_item_t *x5c = map_get(st, false, 0, "x5c", &dup);
    if (!int_value(map_get(st, false, 0, "alg", &dup), &alg) || !is_bytes(sig) || dup ||
        map_get(st, false, 0, "ecdaaKeyId", &dup))
        return fail(why, "the packed attestation statement is malformed");
    if (!x5c) { /* self attestation: signed by the credential itself */
        if (alg != att->alg)
            return fail(why, "the self attestation's algorithm is not the credential's");
        if (!pl_wa_signature_valid(att->key, att->alg, att->auth_data, att->auth_data_len, cdh,
                                   cbor_bytestring_handle(sig), cbor_bytestring_length(sig)))
            return fail(why, "the self attestation's signature is wrong");
        return PL_OK;
    }
    if (!cbor_isa_array(x5c) || cbor_array_size(x5c) < 1 || !is_bytes(cbor_array_handle(x5c)[0]))
        return fail(why, "the attestation certificates are malformed");
    cbor_item_t *cert = cbor_array_handle(x5c)[0];
    pl_pkey_alg_t kalg = 0;
    pl_pkey_t *k =
        pl_pkey_from_x509(cbor_bytestring_handle(cert), cbor_bytestring_length(cert), &kalg);
    int want = kalg == PL_PKEY_ES256 ? PL_WA_ES256 : kalg == PL_PKEY_EDDSA ? PL_WA_EDDSA : 0;
    bool ok = k && want && want == alg &&
              pl_wa_signature_valid(k, want, att->auth_data, att->auth_data_len, cdh,
                                    cbor_bytestring_handle(sig), cbor_bytestring_length(sig));
    pl_pkey_free(k);
    return ok ? PL_OK : fail(why, "the attestation signature is wrong");
}

void pl_wa_attestation_free(pl_wa_attestation_t *a)
{
    pl_pkey_free(a->key);
    free(a->auth_data);
    memset(a, 0, sizeof(*a));
}

int pl_wa_parse_attestation(const unsigned char *obj, size_t n,
                            const unsigned char client_data_hash[32], pl_wa_attestation_t *out,
                            const char **why)
{
    memset(out, 0, sizeof(*out));
    size_t used = 0;
    cbor_item_t *m = obj ? load_one(obj, n, &used) : NULL;
    int rc = PL_OK;
    if (!m || used != n || !is_definite_map(m)) {
        rc = fail(why, "the attestation object is not a CBOR map");
        goto out;
    }
    bool dup = false;
    cbor_item_t *fmt = map_get(m, false, 0, "fmt", &dup);
    cbor_item_t *st = map_get(m, false, 0, "attStmt", &dup);
    cbor_item_t *ad = map_get(m, false, 0, "authData", &dup);
    if (!fmt || !cbor_isa_string(fmt) || !cbor_string_is_definite(fmt) ||
        cbor_string_length(fmt) >= sizeof(out->fmt) || !is_definite_map(st) || !is_bytes(ad) ||
        dup) {
        rc = fail(why, "the attestation object lacks fmt, attStmt or authData");
        goto out;
    }
    memcpy(out->fmt, cbor_string_handle(fmt), cbor_string_length(fmt));
    out->auth_data_len = cbor_bytestring_length(ad);
    out->auth_data = pl_xmalloc(out->auth_data_len ? out->auth_data_len : 1);
    memcpy(out->auth_data, cbor_bytestring_handle(ad), out->auth_data_len);
    if ((rc = pl_wa_parse_auth_data(out->auth_data, out->auth_data_len, &out->ad, why)))
        goto out;
    if (!out->ad.cred_id) {
        rc = fail(why, "the authenticator data carries no credential");
        goto out;
    }
    if ((rc = pl_wa_parse_cose_key(out->ad.cose_key, out->ad.cose_key_len, &out->alg, &out->key,
                                   why)))
        goto out;
    if (!strcmp(out->fmt, "none")) {
        if (cbor_map_size(st) != 0)
            rc = fail(why, "attestation \"none\" has a statement");
    } else if (!strcmp(out->fmt, "packed")) {
        rc = check_packed(st, out, client_data_hash, why);
    } else {
        rc = fail(why, "the attestation format is not supported (none, packed)");
    }
out:
    if (m)
        cbor_decref(&m);
    if (rc)
        pl_wa_attestation_free(out);
    return rc;
}
