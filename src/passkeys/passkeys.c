/* passkeys.c - the rules of passkeys: the relying party, options and their
 * single-use challenges, registration (attestation "none" or "packed"),
 * sign-in with an assertion (origin, RP id hash, user presence, signature,
 * user handle, sign counter), and the caller's list. Sign-in ends through
 * auth's shared steps, never by issuing a session here. */
#include <stdio.h>
#include <string.h>

#include "core/config.h"
#include "core/crypto.h"
#include "core/keyring.h"
#include "passkeys/passkeys.h"
#include "passkeys/passkeys_store.h"
#include "passkeys/webauthn.h"
#include "platform/audit/audit.h"

#define CHALLENGE_TTL_MS (5 * 60 * 1000)
#define TIMEOUT_MS       300000
#define MAX_ORIGINS      16
#define BLOB_MAX         (16 * 1024) /* a decoded clientDataJSON, authData or attestation */
#define DEFAULT_NAME     "Passkey"
#define METHOD           "passkey"

static struct {
    char rp_id[256];
    char rp_name[128];
    char origins[2048];
} cfg = {.rp_name = "plinth"};

static char *origin_list[MAX_ORIGINS];
static int norigins;
static unsigned char rp_id_hash[32];

const pl_option_t pl_passkeys_options[] = {
    {NULL, "PLINTH_WEBAUTHN_RP_ID", PL_OPT_STR, PL_OPT_S(cfg.rp_id), 0, 0, PL_OPT_SERVE, "DOMAIN",
     "WebAuthn relying party id: the domain passkeys belong to (default: the host of "
     "PLINTH_PUBLIC_URL)",
     NULL},
    {NULL, "PLINTH_WEBAUTHN_RP_NAME", PL_OPT_STR, PL_OPT_S(cfg.rp_name), 0, 0, PL_OPT_SERVE, "NAME",
     "the relying party's name shown by authenticators (default plinth)", NULL},
    {NULL, "PLINTH_WEBAUTHN_ORIGINS", PL_OPT_STR, PL_OPT_S(cfg.origins), 0, 0, PL_OPT_SERVE,
     "ORIGINS",
     "comma-separated origins whose pages may use passkeys (default: the origin of "
     "PLINTH_PUBLIC_URL)",
     NULL},
    {0},
};

/* The origin (scheme://host[:port]) of url into out, and its host. */
static bool split_origin(const char *url, char *origin, size_t osize, char *host, size_t hsize)
{
    const char *p = strstr(url, "://");
    if (!p || (strncmp(url, "http://", 7) && strncmp(url, "https://", 8)))
        return false;
    const char *h = p + 3, *end = h + strcspn(h, "/?#");
    if (end == h || (size_t)(end - url) >= osize)
        return false;
    snprintf(origin, osize, "%.*s", (int)(end - url), url);
    const char *hend = h;
    if (*h == '[') /* an IPv6 literal */
        hend = strchr(h, ']') ? strchr(h, ']') + 1 : end;
    else
        hend = h + strcspn(h, ":/?#");
    snprintf(host, hsize, "%.*s", (int)(hend - h), h);
    return true;
}

int pl_passkeys_init(void)
{
    char origin[512], host[256];
    if (!cfg.rp_id[0] || !cfg.origins[0]) {
        if (!split_origin(pl_cfg.public_url, origin, sizeof(origin), host, sizeof(host))) {
            fprintf(stderr, "plinth: cannot derive the WebAuthn relying party from "
                            "PLINTH_PUBLIC_URL; set PLINTH_WEBAUTHN_RP_ID and "
                            "PLINTH_WEBAUTHN_ORIGINS\n");
            return PL_EINVAL;
        }
        if (!cfg.rp_id[0])
            snprintf(cfg.rp_id, sizeof(cfg.rp_id), "%s", host);
        if (!cfg.origins[0])
            snprintf(cfg.origins, sizeof(cfg.origins), "%s", origin);
    }
    for (int i = 0; i < norigins; i++)
        free(origin_list[i]);
    norigins = 0;
    for (const char *s = cfg.origins; *s;) {
        size_t n = strcspn(s, ",");
        while (n && (s[n - 1] == ' ' || s[n - 1] == '/'))
            n--;
        while (n && *s == ' ')
            s++, n--;
        if (n) {
            char *o = pl_xstrndup(s, n);
            if (!split_origin(o, origin, sizeof(origin), host, sizeof(host)) || strcmp(origin, o) ||
                norigins == MAX_ORIGINS) {
                fprintf(stderr,
                        "plinth: PLINTH_WEBAUTHN_ORIGINS: \"%s\" is not an origin "
                        "(scheme://host[:port]; at most %d)\n",
                        o, MAX_ORIGINS);
                free(o);
                return PL_EINVAL;
            }
            origin_list[norigins++] = o;
        }
        s += strcspn(s, ",");
        if (*s == ',')
            s++;
    }
    pl_sha256(cfg.rp_id, strlen(cfg.rp_id), rp_id_hash);
    return PL_OK;
}

static bool origin_allowed(const char *origin)
{
    for (int i = 0; i < norigins; i++)
        if (!strcmp(origin_list[i], origin))
            return true;
    return false;
}

static int need_user(pl_ctx_t *ctx)
{
    return pl_ctx_user(ctx) ? PL_OK : pl_fail(ctx, 401, "unauthenticated", "Sign in first.");
}

/* ---- challenges ---- */

/* A fresh challenge (base64url) stored for purpose and user. */
static int new_challenge(pl_db_t *db, const char *purpose, const char *user_id, bool store,
                         char challenge[PL_AUTH_TOKEN_LEN])
{
    char hash[65];
    pl_token_new(32, challenge, PL_AUTH_TOKEN_LEN);
    if (!store)
        return PL_OK;
    pl_sha256_hex(challenge, strlen(challenge), hash);
    int64_t now = pl_now_ms();
    int rc = pl_db_begin(db);
    if (!rc)
        rc = pl_db_finish(
            db, pl_store_wa_challenge_put(db, hash, purpose, user_id, now + CHALLENGE_TTL_MS, now));
    return rc;
}

/* ---- reading a credential (PublicKeyCredential.toJSON()) ---- */

typedef struct {
    const char *id; /* base64url of the raw id, canonical */
    unsigned char raw_id[PL_WA_CRED_ID_MAX];
    size_t raw_id_len;
    unsigned char *client_data; /* decoded; arena */
    size_t client_data_len;
    unsigned char client_data_hash[32];
    unsigned char *a; /* attestationObject or authenticatorData; arena */
    size_t a_len;
    unsigned char *sig; /* signature (assertions); arena */
    size_t sig_len;
    unsigned char *user_handle; /* NULL when absent */
    size_t user_handle_len;
    json_t *transports; /* borrowed; may be NULL */
} credential_t;

static int bad_shape(pl_ctx_t *ctx, const char *why)
{
    pl_field_error(ctx, "credential", "invalid", why);
    return PL_EINVAL;
}

/* Decodes a base64url member of o into an arena buffer. */
static int b64_member(pl_ctx_t *ctx, json_t *o, const char *key, bool required, unsigned char **out,
                      size_t *n)
{
    json_t *v = json_object_get(o, key);
    *out = NULL;
    *n = 0;
    if (!v || json_is_null(v)) {
        if (!required)
            return PL_OK;
        return bad_shape(ctx, pl_arena_printf(ctx->arena, "%s is missing.", key));
    }
    size_t len = json_is_string(v) ? json_string_length(v) : 0;
    if (!json_is_string(v) || len > BLOB_MAX * 4 / 3 + 4)
        return bad_shape(ctx, pl_arena_printf(ctx->arena, "%s must be base64url.", key));
    unsigned char *buf = pl_arena_alloc(ctx->arena, len + 1);
    /* accept the padded form some encoders write */
    while (len && json_string_value(v)[len - 1] == '=')
        len--;
    long got = pl_b64url_decode(json_string_value(v), len, buf, len + 1);
    if (got < 0)
        return bad_shape(ctx, pl_arena_printf(ctx->arena, "%s must be base64url.", key));
    *out = buf;
    *n = (size_t)got;
    return PL_OK;
}

/* Reads the fields of credential both ceremonies share, and the response's
 * a_key (attestationObject or authenticatorData). */
static int read_credential(pl_ctx_t *ctx, json_t *cred, const char *a_key, bool assertion,
                           credential_t *c)
{
    memset(c, 0, sizeof(*c));
    if (!json_is_object(cred))
        return bad_shape(ctx, "Send the browser's PublicKeyCredential.toJSON().");
    json_t *type = json_object_get(cred, "type");
    json_t *id = json_object_get(cred, "id");
    json_t *raw = json_object_get(cred, "rawId");
    json_t *resp = json_object_get(cred, "response");
    if (!json_is_string(type) || strcmp(json_string_value(type), "public-key"))
        return bad_shape(ctx, "type must be \"public-key\".");
    if (!json_is_string(id) || !json_is_object(resp))
        return bad_shape(ctx, "id and response are required.");
    size_t idl = json_string_length(id);
    long rl = idl <= 2 * PL_WA_CRED_ID_MAX
                  ? pl_b64url_decode(json_string_value(id), idl, c->raw_id, sizeof(c->raw_id))
                  : -1;
    if (rl <= 0)
        return bad_shape(ctx, "id must be a base64url credential id.");
    c->raw_id_len = (size_t)rl;
    if (raw && (!json_is_string(raw) || strcmp(json_string_value(raw), json_string_value(id))))
        return bad_shape(ctx, "rawId must equal id.");
    char *canon = pl_arena_alloc(ctx->arena, pl_b64url_len(c->raw_id_len) + 1);
    pl_b64url_encode(c->raw_id, c->raw_id_len, canon, pl_b64url_len(c->raw_id_len) + 1);
    c->id = canon;
    if (b64_member(ctx, resp, "clientDataJSON", true, &c->client_data, &c->client_data_len) ||
        b64_member(ctx, resp, a_key, true, &c->a, &c->a_len))
        return PL_EINVAL;
    if (assertion &&
        (b64_member(ctx, resp, "signature", true, &c->sig, &c->sig_len) ||
         b64_member(ctx, resp, "userHandle", false, &c->user_handle, &c->user_handle_len)))
        return PL_EINVAL;
    json_t *tr = json_object_get(resp, "transports");
    c->transports = json_is_array(tr) ? tr : NULL;
    pl_sha256(c->client_data, c->client_data_len, c->client_data_hash);
    return PL_OK;
}

/* The transports worth keeping: strings of a known kind, as JSON text. */
static char *transports_text(pl_arena_t *a, json_t *tr)
{
    static const char *const known[] = {"usb", "nfc", "ble", "internal", "hybrid", "smart-card"};
    json_t *out = json_array();
    size_t i;
    json_t *v;
    json_array_foreach(tr, i, v)
    {
        for (size_t k = 0; json_is_string(v) && k < PL_ARRAY_LEN(known); k++)
            if (!strcmp(json_string_value(v), known[k]))
                json_array_append_new(out, json_string(known[k]));
    }
    char *s = json_dumps(out, JSON_COMPACT);
    json_decref(out);
    char *copy = pl_arena_strndup(a, s, strlen(s));
    free(s);
    return copy;
}

/* ---- options ---- */

static json_t *descriptor(const char *credential_id, const char *transports)
{
    json_t *d = json_pack("{s:s, s:s}", "type", "public-key", "id", credential_id);
    json_t *tr = transports ? json_loads(transports, 0, NULL) : NULL;
    if (json_is_array(tr) && json_array_size(tr))
        json_object_set_new(d, "transports", tr);
    else
        json_decref(tr);
    return d;
}

static void add_descriptor(void *arg, const pl_passkey_row_t *r)
{
    json_array_append_new(arg, descriptor(r->credential_id, r->transports));
}

int pl_passkeys_register_options(pl_db_t *db, pl_ctx_t *ctx, json_t **out)
{
    int rc = need_user(ctx);
    if (rc)
        return rc;
    const pl_principal_t *p = &ctx->principal;
    json_t *exclude = json_array();
    rc = pl_store_passkeys_of(db, p->user_id, add_descriptor, exclude);
    char challenge[PL_AUTH_TOKEN_LEN];
    if (!rc)
        rc = new_challenge(db, "register", p->user_id, true, challenge);
    if (rc) {
        json_decref(exclude);
        return rc;
    }
    char handle[64];
    pl_b64url_encode(p->user_id, strlen(p->user_id), handle, sizeof(handle));
    json_t *pk = json_pack(
        "{s:{s:s, s:s}, s:{s:s, s:s, s:s}, s:s, s:[{s:s, s:i}, {s:s, s:i}], s:i, s:o, "
        "s:{s:s, s:b, s:s}, s:s, s:{s:b}}",
        "rp", "id", cfg.rp_id, "name", cfg.rp_name, "user", "id", handle, "name",
        p->email ? p->email : "", "displayName", p->name ? p->name : "", "challenge", challenge,
        "pubKeyCredParams", "type", "public-key", "alg", PL_WA_ES256, "type", "public-key", "alg",
        PL_WA_EDDSA, "timeout", TIMEOUT_MS, "excludeCredentials", exclude, "authenticatorSelection",
        "residentKey", "required", "requireResidentKey", 1, "userVerification", "preferred",
        "attestation", "none", "extensions", "credProps", 1);
    *out = json_pack("{s:o}", "publicKey", pk);
    return PL_OK;
}

int pl_passkeys_signin_options(pl_db_t *db, pl_ctx_t *ctx, const char *email_in, json_t **out)
{
    json_t *allow = json_array();
    const char *user_id = NULL;
    bool store = true;
    int rc = PL_OK;
    if (email_in) {
        const char *email = NULL;
        if (pl_auth_check_email(ctx, "email", email_in, &email)) {
            json_decref(allow);
            return PL_EINVAL;
        }
        pl_user_t u;
        rc = pl_auth_user_by_email(db, ctx, email, &u);
        if (!rc) {
            user_id = u.id;
            rc = pl_store_passkeys_of(db, u.id, add_descriptor, allow);
        } else if (rc == PL_ENOTFOUND) {
            rc = PL_OK;
        }
        if (!rc && !json_array_size(allow)) {
            /* no account or no passkey: a credential id that stays the same
             * for the address and matches nothing, and a challenge that is
             * never stored, so the answer tells nothing */
            unsigned char mac[32];
            char id[48];
            char *msg = pl_arena_printf(ctx->arena, "passkey-decoy:%s", email);
            pl_hmac_sha256(pl_keyring_master(), 32, msg, strlen(msg), mac);
            pl_b64url_encode(mac, sizeof(mac), id, sizeof(id));
            json_array_append_new(allow, descriptor(id, "[\"internal\",\"hybrid\"]"));
            store = false;
        }
    }
    char challenge[PL_AUTH_TOKEN_LEN];
    if (!rc)
        rc = new_challenge(db, "authenticate", user_id, store, challenge);
    if (rc) {
        json_decref(allow);
        return rc;
    }
    json_t *pk = json_pack("{s:s, s:i, s:s, s:s}", "challenge", challenge, "timeout", TIMEOUT_MS,
                           "rpId", cfg.rp_id, "userVerification", "preferred");
    json_object_set_new(pk, "allowCredentials", allow);
    *out = json_pack("{s:o}", "publicKey", pk);
    return PL_OK;
}

/* ---- registration ---- */

static int refuse_registration(pl_ctx_t *ctx, const char *why)
{
    pl_field_error(ctx, "credential", "invalid", why);
    return PL_EINVAL;
}

/* The client data of a ceremony: type, origin, and the challenge's hash. */
static int check_client_data(pl_ctx_t *ctx, const credential_t *c, const char *type, char hash[65],
                             const char **why)
{
    pl_wa_client_data_t cd;
    if (pl_wa_parse_client_data(ctx->arena, c->client_data, c->client_data_len, &cd, why))
        return PL_EINVAL;
    if (strcmp(cd.type, type)) {
        *why = "clientDataJSON is of another ceremony.";
        return PL_EINVAL;
    }
    if (!origin_allowed(cd.origin) || cd.cross_origin ||
        (cd.top_origin && !origin_allowed(cd.top_origin))) {
        *why = "The origin is not one of this service's.";
        return PL_EINVAL;
    }
    pl_sha256_hex(cd.challenge, strlen(cd.challenge), hash);
    return PL_OK;
}

static const char *hex_of(pl_arena_t *a, const unsigned char *p, size_t n)
{
    char *out = pl_arena_alloc(a, 2 * n + 1);
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    out[2 * n] = '\0';
    return out;
}

int pl_passkeys_register(pl_db_t *db, pl_ctx_t *ctx, const char *name, json_t *credential,
                         pl_passkey_t *out)
{
    int rc = need_user(ctx);
    if (rc)
        return rc;
    const char *user_id = ctx->principal.user_id;
    if (name && (!name[0] || strlen(name) > PL_PASSKEY_NAME_MAX)) {
        pl_field_error(ctx, "name", "invalid", "Must be 1 to 100 bytes.");
        return PL_EINVAL;
    }
    credential_t c;
    if ((rc = read_credential(ctx, credential, "attestationObject", false, &c)))
        return rc;
    const char *why = NULL;
    char hash[65];
    if (check_client_data(ctx, &c, "webauthn.create", hash, &why))
        return refuse_registration(ctx, why);
    /* the challenge is spent whatever happens next */
    const char *bound = NULL;
    if ((rc = pl_db_begin(db)))
        return rc;
    rc = pl_store_wa_challenge_take(db, ctx->arena, hash, "register", pl_now_ms(), &bound);
    if ((rc = pl_db_finish(db, rc)) && rc != PL_ENOTFOUND)
        return rc;
    if (rc == PL_ENOTFOUND || !bound || strcmp(bound, user_id))
        return refuse_registration(ctx, "The challenge is unknown, used or expired.");
    pl_wa_attestation_t att;
    if (pl_wa_parse_attestation(c.a, c.a_len, c.client_data_hash, &att, &why))
        return refuse_registration(ctx, why);
    if (memcmp(att.ad.rp_id_hash, rp_id_hash, 32))
        why = "The credential belongs to another relying party.";
    else if (!(att.ad.flags & PL_WA_UP))
        why = "The authenticator did not see the user present.";
    else if (att.ad.cred_id_len != c.raw_id_len || memcmp(att.ad.cred_id, c.raw_id, c.raw_id_len))
        why = "The credential id differs from the attested one.";
    if (why) {
        pl_wa_attestation_free(&att);
        return refuse_registration(ctx, why);
    }
    char *pid = pl_arena_alloc(ctx->arena, PL_ID_LEN);
    pl_uuid7(pid);
    char *cose = pl_arena_alloc(ctx->arena, pl_b64url_len(att.ad.cose_key_len) + 1);
    pl_b64url_encode(att.ad.cose_key, att.ad.cose_key_len, cose,
                     pl_b64url_len(att.ad.cose_key_len) + 1);
    pl_passkey_row_t row = {
        .pub =
            {
                .id = pid,
                .name = pl_arena_strndup(ctx->arena, name ? name : DEFAULT_NAME,
                                         strlen(name ? name : DEFAULT_NAME)),
                .user_verified = (att.ad.flags & PL_WA_UV) != 0,
                .backed_up = (att.ad.flags & PL_WA_BS) != 0,
                .created_at = pl_now_ms(),
            },
        .user_id = user_id,
        .credential_id = c.id,
        .public_key = cose,
        .alg = att.alg,
        .sign_count = att.ad.sign_count,
        .transports = transports_text(ctx->arena, c.transports),
    };
    const char *aaguid = hex_of(ctx->arena, att.ad.aaguid, 16);
    bool eligible = (att.ad.flags & PL_WA_BE) != 0;
    pl_wa_attestation_free(&att);
    if ((rc = pl_db_begin(db)))
        return rc;
    rc = pl_store_passkey_insert(db, &row, aaguid, eligible);
    if (rc == PL_ECONFLICT)
        rc = pl_fail(ctx, 409, "conflict", "This passkey is registered already.");
    json_t *d = json_pack("{s:s, s:s, s:b}", "passkey_id", pid, "name", row.pub.name,
                          "user_verified", row.pub.user_verified);
    if (!rc)
        rc = pl_audit_append(db, ctx, NULL, "user.passkey_added", "user", user_id, d);
    json_decref(d);
    if ((rc = pl_db_finish(db, rc)))
        return rc;
    *out = row.pub;
    return PL_OK;
}

/* ---- the caller's list ---- */

typedef struct {
    pl_arena_t *a;
    void (*fn)(void *arg, const pl_passkey_t *p);
    void *arg;
} list_t;

static void list_one(void *arg, const pl_passkey_row_t *r)
{
    list_t *l = arg;
    l->fn(l->arg, &r->pub);
}

int pl_passkeys_list(pl_db_t *db, pl_ctx_t *ctx, void (*fn)(void *arg, const pl_passkey_t *p),
                     void *arg)
{
    int rc = need_user(ctx);
    list_t l = {ctx->arena, fn, arg};
    return rc ? rc : pl_store_passkeys_of(db, ctx->principal.user_id, list_one, &l);
}

int pl_passkeys_remove(pl_db_t *db, pl_ctx_t *ctx, const char *id)
{
    int rc = need_user(ctx);
    if (rc)
        return rc;
    if (!id || !pl_uuid_valid(id))
        return pl_fail(ctx, 404, "not_found", "No such passkey.");
    const char *user_id = ctx->principal.user_id;
    if ((rc = pl_db_begin(db)))
        return rc;
    rc = pl_store_passkey_delete(db, user_id, id);
    json_t *d = json_pack("{s:s}", "passkey_id", id);
    if (!rc)
        rc = pl_audit_append(db, ctx, NULL, "user.passkey_removed", "user", user_id, d);
    json_decref(d);
    rc = pl_db_finish(db, rc);
    return rc == PL_ENOTFOUND ? pl_fail(ctx, 404, "not_found", "No such passkey.") : rc;
}

int pl_passkeys_count(pl_db_t *db, const char *user_id, int *count)
{
    return pl_store_passkeys_count(db, user_id, count);
}

/* ---- sign-in ---- */

/* A refused assertion: a failed sign-in from ctx->ip (for the account when
 * the credential is known), then 401. */
/* attempt: the failure pl_auth_attempt_begin counted already */
static int refuse_signin(pl_db_t *db, pl_ctx_t *ctx, const pl_user_t *u, const char *reason,
                         int64_t attempt)
{
    pl_log("info", "passkey sign-in refused: %s (request_id %s)", reason,
           ctx->request_id ? ctx->request_id : "");
    int rc = pl_auth_signin_failed(db, ctx, u ? u->email : NULL, u ? u->id : NULL, METHOD, reason,
                                   attempt);
    return rc ? rc
              : pl_fail(ctx, 401, "invalid_credentials", "The passkey assertion is not valid.");
}

int pl_passkeys_signin(pl_db_t *db, pl_ctx_t *ctx, json_t *credential, pl_auth_login_t *out)
{
    memset(out, 0, sizeof(*out));
    credential_t c;
    int rc = read_credential(ctx, credential, "authenticatorData", true, &c);
    if (rc)
        return rc;
    pl_passkey_row_t pk;
    pl_user_t u;
    rc = pl_store_passkey_by_credential(db, ctx->arena, c.id, &pk);
    if (rc && rc != PL_ENOTFOUND)
        return rc;
    bool known = rc == PL_OK;
    if (known && (rc = pl_auth_user_get(db, ctx, pk.user_id, &u)))
        return rc;
    /* the sign-in throttles, and the attempt counted as a failure until it
     * succeeds, before anything is evaluated (atomic across instances) */
    int64_t attempt = 0;
    if ((rc = pl_auth_attempt_begin(db, ctx, known ? u.email : NULL, &attempt)))
        return rc;
    const pl_user_t *who = known ? &u : NULL;
    const char *why = NULL;
    char hash[65];
    if (check_client_data(ctx, &c, "webauthn.get", hash, &why))
        return refuse_signin(db, ctx, who, "client_data", attempt);
    /* single use: the challenge is spent by its first presentation */
    const char *bound = NULL;
    if ((rc = pl_db_begin(db)))
        return rc;
    rc = pl_store_wa_challenge_take(db, ctx->arena, hash, "authenticate", pl_now_ms(), &bound);
    if ((rc = pl_db_finish(db, rc)) && rc != PL_ENOTFOUND)
        return rc;
    if (rc == PL_ENOTFOUND)
        return refuse_signin(db, ctx, who, "challenge", attempt);
    if (!known)
        return refuse_signin(db, ctx, NULL, "unknown_credential", attempt);
    if (bound && strcmp(bound, pk.user_id))
        return refuse_signin(db, ctx, who, "other_account", attempt);
    pl_wa_auth_data_t ad;
    if (pl_wa_parse_auth_data(c.a, c.a_len, &ad, &why) || ad.cred_id)
        return refuse_signin(db, ctx, who, "authenticator_data", attempt);
    if (memcmp(ad.rp_id_hash, rp_id_hash, 32))
        return refuse_signin(db, ctx, who, "rp_id", attempt);
    if (!(ad.flags & PL_WA_UP))
        return refuse_signin(db, ctx, who, "user_presence", attempt);
    if (c.user_handle && (c.user_handle_len != strlen(pk.user_id) ||
                          memcmp(c.user_handle, pk.user_id, c.user_handle_len)))
        return refuse_signin(db, ctx, who, "user_handle", attempt);
    /* the stored COSE key */
    size_t kl = strlen(pk.public_key);
    unsigned char *cose = pl_arena_alloc(ctx->arena, kl + 1);
    long cl = pl_b64url_decode(pk.public_key, kl, cose, kl + 1);
    int alg = 0;
    pl_pkey_t *key = NULL;
    if (cl <= 0 || pl_wa_parse_cose_key(cose, (size_t)cl, &alg, &key, &why) || alg != pk.alg) {
        pl_pkey_free(key);
        pl_log("error", "passkey %s: the stored public key cannot be read", pk.pub.id);
        return PL_EINTERNAL;
    }
    bool valid =
        pl_wa_signature_valid(key, alg, c.a, c.a_len, c.client_data_hash, c.sig, c.sig_len);
    pl_pkey_free(key);
    if (!valid)
        return refuse_signin(db, ctx, who, "signature", attempt);
    /* the counter must move forward (unless the authenticator keeps none):
     * a replayed or cloned authenticator's assertion is refused */
    if ((ad.sign_count || pk.sign_count) && ad.sign_count <= pk.sign_count)
        return refuse_signin(db, ctx, who, "sign_count", attempt);
    bool uv = (ad.flags & PL_WA_UV) != 0;
    if ((rc = pl_db_begin(db)))
        return rc;
    rc =
        pl_store_passkey_use(db, pk.pub.id, ad.sign_count, (ad.flags & PL_WA_BS) != 0, pl_now_ms());
    if (rc == PL_ENOTFOUND) { /* a concurrent use moved the counter first */
        pl_db_finish(db, PL_EINVAL);
        return refuse_signin(db, ctx, who, "sign_count", attempt);
    }
    if (!rc)
        rc = pl_auth_signin_complete(db, ctx, &u, METHOD, uv, attempt, out);
    if ((rc = pl_db_finish(db, rc)))
        pl_memzero(out, sizeof(*out));
    return rc;
}

/* ---- maintenance ---- */

static int purge_job(const char *id, json_t *payload, char *err, size_t errlen)
{
    PL_UNUSED(id);
    PL_UNUSED(payload);
    pl_db_t *db = pl_db_thread();
    if (!db) {
        snprintf(err, errlen, "database unavailable");
        return PL_EDB;
    }
    int rc = pl_db_begin(db);
    if (!rc)
        rc = pl_db_finish(db, pl_store_wa_challenges_purge(db, pl_now_ms() - 3600LL * 1000));
    if (rc)
        snprintf(err, errlen, "purge failed (%d)", rc);
    return rc;
}

const pl_job_def_t pl_passkeys_jobs[] = {
    {"passkeys.purge", purge_job},
    {0},
};

const pl_schedule_def_t pl_passkeys_schedules[] = {
    {"passkeys.purge", "passkeys.purge", 3600LL * 1000, NULL},
    {0},
};
