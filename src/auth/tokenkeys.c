/* tokenkeys.c - the keys that sign access tokens.
 *
 * HS256: one shared secret (PLINTH_JWT_SECRET, or --data/jwt.key), the way
 * installations made before ES256 keep working. ES256: P-256 keys in the
 * database (table jwt_keys), their private halves sealed under the master
 * key, so every instance signs with the same keys. The newest unretired key
 * signs; `plinth keys rotate-jwt` adds one and retires the others, which
 * stay published in the JWKS and accepted until the tokens they may have
 * signed have expired: retired_at + RETIRE_GRACE_S (instances notice a new
 * key within POLL_MS) + the access-token lifetime.
 *
 * The loaded keys form an immutable set published through an atomic
 * pointer; a reload builds a new set and publishes it. Sets replaced are
 * kept until the module stops (rotations are rare), so a reader never holds
 * a reference. Each set has an epoch: a verification cached under another
 * epoch is redone (auth.c), so a key leaving the set also leaves the cache. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "auth/auth_int.h"
#include "auth/jwt.h"
#include "core/config.h"
#include "core/crypto.h"
#include "core/keyring.h"
#include "platform/keys/keys.h"
#include "core/pkey.h"
#include "core/poller.h"
#include "platform/audit/audit.h"

#define POLL_MS          5000
#define RETIRE_GRACE_S   15                       /* > 2 polls: every instance has switched */
#define RELOAD_MIN_MS    1000                     /* unknown kids reload at most once a second */
#define PURGE_RETIRED_MS (2LL * 24 * 3600 * 1000) /* > grace + the longest access-ttl */

typedef struct {
    char kid[PL_JWT_KID_MAX];
    pl_pkey_t *key;
    int64_t created_at, retired_at; /* ms; retired_at 0: current */
} tkey_t;

typedef struct keyset {
    uint64_t epoch;
    int64_t count, newest, last_retired; /* what the poller compares */
    int n;
    int signer; /* index of the signing key, -1: none */
    tkey_t *keys;
    struct keyset *replaced; /* the sets published before this one */
} keyset_t;

static pl_jwt_alg_t alg;            /* what new tokens are signed with */
static unsigned char hs_key[32];    /* HS256: the shared key */
static bool hs_accepted;            /* HS256 tokens verify (the secret is configured) */
static _Atomic(keyset_t *) current; /* ES256 */
static pthread_mutex_t reload_mu = PTHREAD_MUTEX_INITIALIZER;
static _Atomic int64_t last_reload_ms;

static void keyset_free(keyset_t *s)
{
    while (s) {
        keyset_t *next = s->replaced;
        for (int i = 0; i < s->n; i++)
            pl_pkey_free(s->keys[i].key);
        free(s->keys);
        free(s);
        s = next;
    }
}

/* The last moment (ms) a retired key is still accepted and published. */
static int64_t retire_deadline(int64_t retired_at)
{
    return retired_at ? retired_at + (RETIRE_GRACE_S + (int64_t)pl_auth_cfg.access_ttl) * 1000 : 0;
}

static bool key_live(int64_t retired_at, int64_t now_ms)
{
    return !retired_at || now_ms < retire_deadline(retired_at);
}

/* ---- loading ---- */

typedef struct {
    keyset_t *set;
    int64_t now;
    int failed;
    bool have_dk;
    pl_datakey_t dk; /* the instance data key the private keys are sealed under */
} load_t;

static void add_row(void *arg, const pl_jwt_key_row_t *row)
{
    load_t *l = arg;
    keyset_t *s = l->set;
    s->count++;
    if (row->created_at > s->newest)
        s->newest = row->created_at;
    if (row->retired_at > s->last_retired)
        s->last_retired = row->retired_at;
    if (strcmp(row->alg, "ES256") || strlen(row->kid) >= PL_JWT_KID_MAX ||
        !key_live(row->retired_at, l->now))
        return;
    unsigned char der[512];
    char ad[96];
    snprintf(ad, sizeof(ad), "jwt_key:%s", row->kid);
    /* a key sealed under the master key directly (before data keys) still
     * opens; keys are sealed under the instance data key now, so that a
     * master-key rotation (which re-seals data keys only) keeps them */
    long n = pl_keys_is_legacy(row->private_sealed)
                 ? pl_keyring_open(row->private_sealed, ad, der, sizeof(der))
             : l->have_dk ? pl_keys_open_into(&l->dk, row->private_sealed, ad, der, sizeof(der))
                          : -1;
    pl_pkey_t *k = n > 0 ? pl_pkey_from_private_der(der, (size_t)n) : NULL;
    pl_memzero(der, sizeof(der));
    if (!k) {
        pl_log("error", "the token signing key %s cannot be opened (wrong master key?)", row->kid);
        l->failed++;
        return;
    }
    s->keys = pl_xrealloc(s->keys, (size_t)(s->n + 1) * sizeof(tkey_t));
    tkey_t *t = &s->keys[s->n++];
    snprintf(t->kid, sizeof(t->kid), "%s", row->kid);
    t->key = k;
    t->created_at = row->created_at;
    t->retired_at = row->retired_at;
    /* rows come newest first: the first current key signs */
    if (s->signer < 0 && !row->retired_at)
        s->signer = s->n - 1;
}

/* Reads the keys and publishes them. PL_OK, or an error (nothing changes). */
static int reload(pl_db_t *db)
{
    pthread_mutex_lock(&reload_mu);
    keyset_t *old = atomic_load(&current);
    keyset_t *s = pl_xcalloc(1, sizeof(*s));
    s->signer = -1;
    load_t l = {s, pl_now_ms(), 0, false, {{0}}};
    int rc = pl_keys_load(db, NULL, false, &l.dk);
    l.have_dk = rc == PL_OK;
    if (rc == PL_ENOTFOUND)
        rc = PL_OK; /* nothing sealed under it yet */
    if (!rc)
        rc = pl_store_jwt_keys(db, add_row, &l);
    pl_keys_release(&l.dk);
    if (rc || l.failed) {
        keyset_free(s);
        pthread_mutex_unlock(&reload_mu);
        return rc ? rc : PL_EINTERNAL;
    }
    s->epoch = old ? old->epoch + 1 : 1;
    s->replaced = old;
    atomic_store(&current, s);
    atomic_store(&last_reload_ms, pl_now_ms());
    pthread_mutex_unlock(&reload_mu);
    return PL_OK;
}

/* A new ES256 key: its kid (the RFC 7638 thumbprint of its public JWK), the
 * public JWK and the sealed private key (arena strings). */
static int new_key(pl_db_t *db, pl_arena_t *a, char kid[PL_JWT_KID_MAX], const char **jwk,
                   const char **sealed)
{
    pl_pkey_t *k = pl_pkey_generate_es256();
    unsigned char x[32], y[32], der[512], digest[32];
    if (!k || pl_pkey_es256_xy(k, x, y)) {
        pl_pkey_free(k);
        return PL_EINTERNAL;
    }
    char xs[48], ys[48];
    pl_b64url_encode(x, 32, xs, sizeof(xs));
    pl_b64url_encode(y, 32, ys, sizeof(ys));
    char *thumb_in =
        pl_arena_printf(a, "{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"%s\",\"y\":\"%s\"}", xs, ys);
    pl_sha256(thumb_in, strlen(thumb_in), digest);
    pl_b64url_encode(digest, 32, kid, PL_JWT_KID_MAX);
    *jwk = pl_arena_printf(a,
                           "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\","
                           "\"kid\":\"%s\",\"alg\":\"ES256\",\"use\":\"sig\"}",
                           xs, ys, kid);
    long n = pl_pkey_private_der(k, der, sizeof(der));
    pl_pkey_free(k);
    if (n <= 0)
        return PL_EINTERNAL;
    char ad[96];
    snprintf(ad, sizeof(ad), "jwt_key:%s", kid);
    char *box = NULL;
    int rc = pl_keys_seal(db, a, NULL, der, (size_t)n, ad, &box);
    pl_memzero(der, sizeof(der));
    *sealed = box;
    return rc;
}

/* Adds a key inside the caller's transaction; with retire, every other
 * current key is retired now. */
static int add_key(pl_db_t *db, pl_arena_t *a, bool retire, char kid[PL_JWT_KID_MAX])
{
    const char *jwk = NULL, *sealed = NULL;
    int rc = new_key(db, a, kid, &jwk, &sealed);
    int64_t now = pl_now_ms();
    if (!rc)
        rc = pl_store_jwt_key_insert(db, kid, "ES256", sealed, jwk, now);
    if (!rc && retire)
        rc = pl_store_jwt_keys_retire(db, kid, now, now - PURGE_RETIRED_MS);
    return rc;
}

/* ---- `plinth keys verify`: every ES256 private key opens ---- */

typedef struct {
    pl_keys_check_t *chk;
    int rc;
} check_t;

static void check_row(void *arg, const pl_jwt_key_row_t *row)
{
    check_t *c = arg;
    if (c->rc || strcmp(row->alg, "ES256"))
        return;
    char ad[96], label[128];
    snprintf(ad, sizeof(ad), "jwt_key:%s", row->kid);
    snprintf(label, sizeof(label), "the access-token signing key %s", row->kid);
    c->rc = pl_keys_check_box(c->chk, NULL, row->private_sealed, ad, ad, label);
}

int pl_auth_keys_check_seals(pl_db_t *db, pl_keys_check_t *chk)
{
    check_t c = {chk, PL_OK};
    int rc = pl_store_jwt_keys(db, check_row, &c);
    return rc ? rc : c.rc;
}

static bool file_exists(const char *name)
{
    char path[1200];
    struct stat st;
    snprintf(path, sizeof(path), "%s/%s", pl_cfg.data_dir, name);
    return stat(path, &st) == 0;
}

int pl_auth_keys_init(void)
{
    const char *want = pl_auth_cfg.jwt_alg;
    bool secret = pl_auth_cfg.jwt_secret[0] != '\0';
    bool legacy = secret || file_exists("jwt.key");
    pl_db_t *db = pl_db_thread();
    if (!db)
        return PL_EDB;
    int64_t count = 0, newest = 0, retired = 0;
    int rc = pl_store_jwt_keys_state(db, &count, &newest, &retired);
    if (rc)
        return rc;
    /* installations made before ES256 have a secret or a key file and no
     * signing key in the database: they keep HS256 unless told otherwise; new
     * data directories start with ES256, and stay with it when a secret is
     * added later */
    if (!strcmp(want, "HS256"))
        alg = PL_JWT_HS256;
    else if (!strcmp(want, "ES256"))
        alg = PL_JWT_ES256;
    else
        alg = legacy && count == 0 ? PL_JWT_HS256 : PL_JWT_ES256;

    if (secret) {
        size_t n = strlen(pl_auth_cfg.jwt_secret);
        if (n < 32) {
            fprintf(stderr, "plinth: PLINTH_JWT_SECRET must be at least 32 bytes\n");
            return PL_EINVAL;
        }
        /* any length: hash it down to a 32-byte key */
        pl_sha256(pl_auth_cfg.jwt_secret, n, hs_key);
        hs_accepted = true;
    } else if (alg == PL_JWT_HS256 || legacy) {
        if (pl_keyring_key_file("jwt.key", hs_key, sizeof(hs_key)))
            return PL_EINTERNAL;
        hs_accepted = true;
    }
    if (alg == PL_JWT_HS256)
        return PL_OK;

    rc = reload(db);
    keyset_t *s = atomic_load(&current);
    if (!rc && s->signer < 0) {
        /* the first key of this database */
        pl_arena_t *a = pl_arena_create();
        char kid[PL_JWT_KID_MAX];
        if (!(rc = pl_db_begin(db)))
            rc = pl_db_finish(db, add_key(db, a, false, kid));
        pl_arena_destroy(a);
        if (!rc)
            rc = reload(db);
        if (!rc)
            pl_log("info", "created the access-token signing key %s (ES256)", kid);
    }
    if (rc) {
        fprintf(stderr, "plinth: cannot load the access-token signing keys\n");
        return rc;
    }
    return PL_OK;
}

/* ---- signing and verifying ---- */

const char *pl_auth_issuer(void)
{
    return pl_cfg.public_api_url;
}

int pl_auth_keys_sign(const pl_jwt_claims_t *c, char *out, size_t size)
{
    if (alg == PL_JWT_HS256)
        return pl_jwt_sign(hs_key, sizeof(hs_key), pl_auth_issuer(), c, out, size);
    keyset_t *s = atomic_load(&current);
    if (!s || s->signer < 0)
        return PL_EINTERNAL;
    const tkey_t *k = &s->keys[s->signer];
    return pl_jwt_sign_es256(k->key, k->kid, pl_auth_issuer(), c, out, size);
}

uint64_t pl_auth_keys_epoch(void)
{
    keyset_t *s = atomic_load(&current);
    return s ? s->epoch : 0;
}

static const tkey_t *find(keyset_t *s, const char *kid)
{
    for (int i = 0; s && i < s->n; i++)
        if (!strcmp(s->keys[i].kid, kid))
            return &s->keys[i];
    return NULL;
}

pl_jwt_result_t pl_auth_keys_verify(const char *tok, size_t len, int64_t now, pl_jwt_claims_t *c,
                                    uint64_t *epoch, int64_t *deadline_ms)
{
    pl_jwt_parts_t p;
    pl_jwt_result_t rc = pl_jwt_split(tok, len, &p);
    *epoch = pl_auth_keys_epoch();
    *deadline_ms = 0;
    if (rc)
        return rc;
    if (p.alg == PL_JWT_HS256) {
        if (!hs_accepted)
            return PL_JWT_BAD_ALG;
        unsigned char mac[32];
        pl_hmac_sha256(hs_key, sizeof(hs_key), tok, p.signed_len, mac);
        if (p.sig_len != 32 || !pl_ct_equal(p.sig, mac, 32))
            return PL_JWT_BAD_SIG;
        /* a shared secret may be reused elsewhere: the issuer must be ours */
        return pl_jwt_read_claims(&p, pl_auth_issuer(), now, c);
    }
    if (alg != PL_JWT_ES256)
        return PL_JWT_BAD_ALG;
    keyset_t *s = atomic_load(&current);
    const tkey_t *k = find(s, p.kid);
    int64_t now_ms = pl_now_ms();
    if (!k && p.kid[0] && now_ms - atomic_load(&last_reload_ms) >= RELOAD_MIN_MS) {
        /* another instance may have started signing with a new key */
        pl_db_t *db = pl_db_thread();
        if (db && reload(db) == PL_OK) {
            s = atomic_load(&current);
            k = find(s, p.kid);
        }
    }
    if (!k || !key_live(k->retired_at, now_ms) || !pl_jwt_es256_valid(k->key, tok, &p))
        return PL_JWT_BAD_SIG;
    *epoch = s->epoch;
    *deadline_ms = retire_deadline(k->retired_at);
    /* any issuer: the key is this deployment's own (made in its database),
     * so every instance accepts the tokens of the others whatever URL each
     * was started with; iss is for the services that verify them */
    return pl_jwt_read_claims(&p, NULL, now, c);
}

/* ---- the published keys ---- */

typedef struct {
    json_t *keys;
    int64_t now;
} jwks_t;

static void add_jwk(void *arg, const pl_jwt_key_row_t *row)
{
    jwks_t *j = arg;
    if (!key_live(row->retired_at, j->now))
        return;
    json_t *jwk = json_loads(row->public_jwk, 0, NULL);
    if (jwk)
        json_array_append_new(j->keys, jwk);
}

int pl_auth_jwks(pl_db_t *db, pl_ctx_t *ctx, json_t **out)
{
    PL_UNUSED(ctx);
    jwks_t j = {json_array(), pl_now_ms()};
    /* read from the database, not the loaded set: a key is published as soon
     * as it is added, before any instance signs with it */
    int rc = alg == PL_JWT_ES256 ? pl_store_jwt_keys(db, add_jwk, &j) : PL_OK;
    if (rc) {
        json_decref(j.keys);
        return rc;
    }
    *out = json_pack("{s:o}", "keys", j.keys);
    return PL_OK;
}

json_t *pl_auth_openid_configuration(void)
{
    const char *iss = pl_auth_issuer();
    char jwks[512];
    snprintf(jwks, sizeof(jwks), "%s/.well-known/jwks.json", iss);
    /* the access tokens are what it describes: their signing algorithm and
     * claims (plinth is not an OpenID provider: no authorization endpoint) */
    return json_pack("{s:s, s:s, s:[s], s:[s], s:[s], s:[s,s,s,s,s,s]}", "issuer", iss, "jwks_uri",
                     jwks, "id_token_signing_alg_values_supported",
                     alg == PL_JWT_ES256 ? "ES256" : "HS256", "subject_types_supported", "public",
                     "response_types_supported", "token", "claims_supported", "iss", "sub", "sid",
                     "iat", "exp", "jti");
}

int pl_auth_keys_rotate(pl_db_t *db, pl_ctx_t *ctx, char kid[PL_AUTH_KID_MAX])
{
    if (alg != PL_JWT_ES256)
        return pl_fail(ctx, 409, "conflict",
                       "Access tokens are signed with HS256 here; set PLINTH_JWT_ALG=ES256 to "
                       "sign them with rotating keys.");
    int rc = pl_db_begin(db);
    if (rc)
        return rc;
    rc = add_key(db, ctx->arena, true, kid);
    json_t *d = json_pack("{s:s, s:s}", "kid", kid, "alg", "ES256");
    if (!rc)
        rc = pl_audit_append(db, ctx, NULL, "jwt_key.rotated", NULL, NULL, d);
    json_decref(d);
    if ((rc = pl_db_finish(db, rc)))
        return rc;
    return reload(db);
}

/* ---- the poller: other instances' rotations ---- */

static void poll_keys(void)
{
    pl_db_t *db = pl_db_thread();
    int64_t count = 0, newest = 0, retired = 0;
    if (!db || pl_store_jwt_keys_state(db, &count, &newest, &retired) != PL_OK)
        return;
    keyset_t *s = atomic_load(&current);
    if (!s || s->count != count || s->newest != newest || s->last_retired != retired)
        reload(db);
}

static pl_poller_t poller = {.tick = poll_keys, .done = pl_db_thread_close, .interval_ms = POLL_MS};

int pl_auth_keys_start(void)
{
    if (alg != PL_JWT_ES256)
        return PL_OK;
    return pl_poller_start(&poller);
}

void pl_auth_keys_stop(void)
{
    pl_poller_stop(&poller);
    keyset_free(atomic_exchange(&current, NULL));
}
