/* oidc.c - the relying party's side of OpenID Connect and OAuth 2: discovery,
 * the authorization URL (state, nonce, PKCE S256), the token exchange, the
 * id_token check (signature from the issuer's JWKS; iss, aud, exp, nonce)
 * and the userinfo endpoint (GitHub's shape for plain OAuth 2). Every call
 * goes through core/httpc; a tenant's issuer keeps the public-address
 * guard. */
#include <stdio.h>
#include <string.h>

#include "auth/auth.h"
#include "core/crypto.h"
#include "core/httpc.h"
#include "core/pkey.h"
#include "identity/identity_int.h"

#define DOC_MAX      (256 * 1024) /* bytes of a discovery document, JWKS or token answer */
#define CLOCK_SKEW_S 120          /* seconds of clock difference tolerated on exp and iat */

/* ---- helpers ---- */

static void pct_append(pl_buf_t *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        unsigned char c = *p;
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~') {
            pl_buf_append(b, (const char *)p, 1);
        } else {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            pl_buf_append(b, e, 3);
        }
    }
}

static void param(pl_buf_t *b, const char *name, const char *value)
{
    if (b->len)
        pl_buf_append(b, "&", 1);
    pl_buf_append(b, name, strlen(name));
    pl_buf_append(b, "=", 1);
    pct_append(b, value);
}

static char *buf_dup(pl_arena_t *a, pl_buf_t *b)
{
    char *s = pl_arena_strndup(a, b->len ? b->ptr : "", b->len);
    if (b->ptr)
        pl_memzero(b->ptr, b->len);
    pl_buf_free(b);
    return s;
}

static void buf_start(pl_buf_t *b)
{
    pl_buf_init(b, 16384);
}

/* GET or POST url; the JSON answer (a 2xx) as a new reference, or NULL. */
static json_t *fetch_json(const pl_oidc_provider_t *p, const char *method, const char *url,
                          const char *const *headers, const char *body, const char *userpwd)
{
    pl_httpc_req_t rq = {
        .method = method,
        .url = url,
        .headers = headers,
        .body = body,
        .body_len = body ? strlen(body) : 0,
        .max_response = DOC_MAX,
        .allow_private = !p->guarded,
        .userpwd = userpwd,
    };
    pl_httpc_resp_t rs;
    int rc = pl_httpc_do(&rq, &rs);
    json_t *j = NULL;
    if (rc == PL_OK && rs.status >= 200 && rs.status < 300 && !rs.truncated && rs.body)
        j = json_loadb(rs.body, rs.body_len, JSON_REJECT_DUPLICATES, NULL);
    else
        pl_log("info", "identity provider request failed: status %d, %s", rs.status,
               rs.error[0] ? rs.error : "unexpected answer");
    pl_httpc_resp_free(&rs);
    return j;
}

static const char *jstr(pl_arena_t *a, json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_string(v) || !json_string_length(v))
        return NULL;
    return pl_arena_strndup(a, json_string_value(v), json_string_length(v));
}

/* ---- discovery and the authorization URL ---- */

int pl_oidc_discover(pl_arena_t *a, pl_oidc_provider_t *p)
{
    size_t n = strlen(p->issuer);
    const char *url = pl_arena_printf(a, "%.*s/.well-known/openid-configuration",
                                      (int)(n && p->issuer[n - 1] == '/' ? n - 1 : n), p->issuer);
    static const char *const headers[] = {"Accept: application/json", NULL};
    json_t *d = fetch_json(p, "GET", url, headers, NULL, NULL);
    const char *iss = d ? jstr(a, d, "issuer") : NULL;
    if (!iss || strcmp(iss, p->issuer) != 0) {
        if (d)
            pl_log("info", "identity provider discovery: the issuer does not match");
        json_decref(d);
        return PL_EBUSY;
    }
    if (!p->authorization_url)
        p->authorization_url = jstr(a, d, "authorization_endpoint");
    if (!p->token_url)
        p->token_url = jstr(a, d, "token_endpoint");
    if (!p->userinfo_url)
        p->userinfo_url = jstr(a, d, "userinfo_endpoint");
    if (!p->jwks_url)
        p->jwks_url = jstr(a, d, "jwks_uri");
    json_decref(d);
    return p->authorization_url && p->token_url && p->jwks_url ? PL_OK : PL_EBUSY;
}

void pl_oidc_pkce_challenge(const char *verifier, char out[64])
{
    unsigned char h[32];
    pl_sha256(verifier, strlen(verifier), h);
    pl_b64url_encode(h, sizeof(h), out, 64);
}

const char *pl_oidc_authorize_url(pl_arena_t *a, const pl_oidc_provider_t *p,
                                  const char *redirect_uri, const char *state, const char *nonce,
                                  const char *code_challenge)
{
    pl_buf_t q;
    buf_start(&q);
    param(&q, "response_type", "code");
    param(&q, "client_id", p->client_id);
    param(&q, "redirect_uri", redirect_uri);
    if (p->scopes && *p->scopes)
        param(&q, "scope", p->scopes);
    param(&q, "state", state);
    if (p->oidc)
        param(&q, "nonce", nonce);
    param(&q, "code_challenge", code_challenge);
    param(&q, "code_challenge_method", "S256");
    const char *qs = buf_dup(a, &q);
    return pl_arena_printf(a, "%s%c%s", p->authorization_url,
                           strchr(p->authorization_url, '?') ? '&' : '?', qs);
}

/* ---- the id_token ---- */

static json_t *b64_json(const char *s, size_t n)
{
    if (n > 16384)
        return NULL;
    unsigned char buf[12300];
    long len = pl_b64url_decode(s, n, buf, sizeof(buf));
    if (len < 0)
        return NULL;
    return json_loadb((const char *)buf, (size_t)len, JSON_REJECT_DUPLICATES, NULL);
}

/* The JWK member name as bytes into out; its length or -1. */
static long jwk_bytes(json_t *jwk, const char *name, unsigned char *out, size_t size)
{
    json_t *v = json_object_get(jwk, name);
    if (!json_is_string(v))
        return -1;
    return pl_b64url_decode(json_string_value(v), json_string_length(v), out, size);
}

static pl_pkey_t *jwk_key(json_t *jwk, const char *alg)
{
    const char *kty = json_string_value(json_object_get(jwk, "kty"));
    const char *use = json_string_value(json_object_get(jwk, "use"));
    if (!kty || (use && strcmp(use, "sig") != 0))
        return NULL;
    if (!strcmp(alg, "RS256") && !strcmp(kty, "RSA")) {
        unsigned char n[1025], e[9];
        long nl = jwk_bytes(jwk, "n", n, sizeof(n)), el = jwk_bytes(jwk, "e", e, sizeof(e));
        return nl > 0 && el > 0 ? pl_pkey_rs256_public(n, (size_t)nl, e, (size_t)el) : NULL;
    }
    if (!strcmp(alg, "ES256") && !strcmp(kty, "EC")) {
        const char *crv = json_string_value(json_object_get(jwk, "crv"));
        unsigned char x[33], y[33];
        if (!crv || strcmp(crv, "P-256") || jwk_bytes(jwk, "x", x, sizeof(x)) != 32 ||
            jwk_bytes(jwk, "y", y, sizeof(y)) != 32)
            return NULL;
        return pl_pkey_es256_public(x, y);
    }
    return NULL;
}

static bool signature_ok(const char *token, size_t signed_len, const char *sig64, size_t siglen,
                         json_t *jwks, const char *alg, const char *kid)
{
    unsigned char sig[1024];
    long sl = pl_b64url_decode(sig64, siglen, sig, sizeof(sig));
    if (sl <= 0)
        return false;
    json_t *keys = json_object_get(jwks, "keys");
    size_t i;
    json_t *jwk;
    json_array_foreach(keys, i, jwk)
    {
        const char *k = json_string_value(json_object_get(jwk, "kid"));
        if (kid && (!k || strcmp(k, kid)))
            continue;
        const char *kalg = json_string_value(json_object_get(jwk, "alg"));
        if (kalg && strcmp(kalg, alg))
            continue;
        pl_pkey_t *key = jwk_key(jwk, alg);
        if (!key)
            continue;
        bool ok = pl_pkey_verify(key, !strcmp(alg, "RS256") ? PL_PKEY_RS256 : PL_PKEY_ES256, token,
                                 signed_len, sig, (size_t)sl, false);
        pl_pkey_free(key);
        if (ok)
            return true;
    }
    return false;
}

static bool aud_ok(json_t *claims, const char *aud)
{
    json_t *v = json_object_get(claims, "aud");
    if (json_is_string(v))
        return !strcmp(json_string_value(v), aud);
    if (!json_is_array(v) || !json_array_size(v))
        return false;
    bool found = false;
    size_t i;
    json_t *e;
    json_array_foreach(v, i, e) found |= json_is_string(e) && !strcmp(json_string_value(e), aud);
    /* several audiences: the authorized party must be us */
    const char *azp = json_string_value(json_object_get(claims, "azp"));
    return found && (json_array_size(v) == 1 || (azp && !strcmp(azp, aud)));
}

json_t *pl_oidc_verify_id_token(const char *token, json_t *jwks, const char *iss, const char *aud,
                                const char *nonce, int64_t now, const char **why)
{
    const char *d1 = strchr(token, '.'), *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
    if (!d1 || !d2 || strchr(d2 + 1, '.')) {
        *why = "id_token_malformed";
        return NULL;
    }
    json_t *hdr = b64_json(token, (size_t)(d1 - token));
    const char *alg = json_string_value(json_object_get(hdr, "alg"));
    const char *kid = json_string_value(json_object_get(hdr, "kid"));
    if (!alg || (strcmp(alg, "RS256") && strcmp(alg, "ES256"))) {
        json_decref(hdr);
        *why = "id_token_alg";
        return NULL;
    }
    bool sig = signature_ok(token, (size_t)(d2 - token), d2 + 1, strlen(d2 + 1), jwks, alg, kid);
    json_decref(hdr);
    if (!sig) {
        *why = "id_token_signature";
        return NULL;
    }
    json_t *c = b64_json(d1 + 1, (size_t)(d2 - d1 - 1));
    const char *ci = json_string_value(json_object_get(c, "iss"));
    const char *cn = json_string_value(json_object_get(c, "nonce"));
    json_t *exp = json_object_get(c, "exp");
    json_t *sub = json_object_get(c, "sub");
    *why = NULL;
    if (!json_is_object(c) || !json_is_string(sub) || !json_string_length(sub))
        *why = "id_token_claims";
    else if (!ci || strcmp(ci, iss))
        *why = "id_token_iss";
    else if (!aud_ok(c, aud))
        *why = "id_token_aud";
    else if (!json_is_integer(exp) && !json_is_real(exp))
        *why = "id_token_exp";
    else if ((int64_t)json_number_value(exp) + CLOCK_SKEW_S < now / 1000)
        *why = "id_token_expired";
    else if (!cn || strlen(cn) != strlen(nonce) || !pl_ct_equal(cn, nonce, strlen(nonce)))
        *why = "id_token_nonce";
    if (*why) {
        json_decref(c);
        return NULL;
    }
    return c;
}

/* ---- the token exchange and the person ---- */

static void person_from(pl_arena_t *a, json_t *o, pl_oidc_person_t *out)
{
    json_t *sub = json_object_get(o, "sub");
    if (!json_is_string(sub))
        sub = json_object_get(o, "id");
    if (!out->subject) {
        if (json_is_string(sub) && json_string_length(sub) && json_string_length(sub) <= 255)
            out->subject = pl_arena_strndup(a, json_string_value(sub), json_string_length(sub));
        else if (json_is_integer(sub))
            out->subject = pl_arena_printf(a, "%lld", (long long)json_integer_value(sub));
    }
    const char *email = json_string_value(json_object_get(o, "email"));
    if (email && !out->email && strlen(email) <= PL_AUTH_EMAIL_INPUT_MAX) {
        out->email = pl_auth_email_normalize(a, email);
        json_t *v = json_object_get(o, "email_verified");
        /* some providers send "true" as a string */
        out->email_verified =
            json_is_true(v) || (json_is_string(v) && !strcmp(json_string_value(v), "true"));
    }
    const char *name = json_string_value(json_object_get(o, "name"));
    if (name && *name && strlen(name) <= PL_AUTH_NAME_MAX && !out->name)
        out->name = pl_arena_strndup(a, name, strlen(name));
}

/* GitHub's shape: the primary verified address of {userinfo}/emails. */
static void github_emails(pl_arena_t *a, const pl_oidc_provider_t *p, const char *const *headers,
                          pl_oidc_person_t *out)
{
    const char *url = pl_arena_printf(a, "%s/emails", p->userinfo_url);
    json_t *list = fetch_json(p, "GET", url, headers, NULL, NULL);
    size_t i;
    json_t *e;
    json_array_foreach(list, i, e)
    {
        const char *email = json_string_value(json_object_get(e, "email"));
        if (email && json_is_true(json_object_get(e, "primary")) &&
            json_is_true(json_object_get(e, "verified")) &&
            strlen(email) <= PL_AUTH_EMAIL_INPUT_MAX) {
            const char *norm = pl_auth_email_normalize(a, email);
            if (norm) {
                out->email = norm;
                out->email_verified = true;
            }
        }
    }
    json_decref(list);
}

int pl_oidc_redeem(pl_arena_t *a, const pl_oidc_provider_t *p, const char *code,
                   const char *redirect_uri, const char *verifier, const char *nonce,
                   pl_oidc_person_t *out, const char **why)
{
    memset(out, 0, sizeof(*out));
    pl_buf_t form;
    buf_start(&form);
    param(&form, "grant_type", "authorization_code");
    param(&form, "code", code);
    param(&form, "redirect_uri", redirect_uri);
    param(&form, "code_verifier", verifier);
    /* client_secret_basic: id and secret form-encoded, then joined */
    pl_buf_t up;
    buf_start(&up);
    pct_append(&up, p->client_id);
    pl_buf_append(&up, ":", 1);
    pct_append(&up, p->client_secret);
    char *userpwd = buf_dup(a, &up);
    static const char *const form_headers[] = {"Content-Type: application/x-www-form-urlencoded",
                                               "Accept: application/json", NULL};
    char *body = buf_dup(a, &form);
    json_t *tok = fetch_json(p, "POST", p->token_url, form_headers, body, userpwd);
    pl_memzero(userpwd, strlen(userpwd));
    const char *access = tok ? jstr(a, tok, "access_token") : NULL;
    const char *id_token = tok ? jstr(a, tok, "id_token") : NULL;
    json_decref(tok);
    if (!access && !id_token) {
        *why = "token_exchange";
        return PL_EINVAL;
    }
    if (p->oidc) {
        if (!id_token) {
            *why = "id_token_missing";
            return PL_EINVAL;
        }
        static const char *const accept[] = {"Accept: application/json", NULL};
        json_t *jwks = fetch_json(p, "GET", p->jwks_url, accept, NULL, NULL);
        if (!jwks) {
            *why = "jwks";
            return PL_EINVAL;
        }
        json_t *claims = pl_oidc_verify_id_token(id_token, jwks, p->issuer, p->client_id, nonce,
                                                 pl_now_ms(), why);
        json_decref(jwks);
        if (!claims)
            return PL_EINVAL;
        person_from(a, claims, out);
        json_decref(claims);
    }
    if ((!out->email || !out->subject) && access && p->userinfo_url) {
        const char *auth = pl_arena_printf(a, "Authorization: Bearer %s", access);
        const char *const headers[] = {auth, "Accept: application/json", "User-Agent: plinth",
                                       NULL};
        json_t *ui = fetch_json(p, "GET", p->userinfo_url, headers, NULL, NULL);
        if (!json_is_object(ui)) {
            json_decref(ui);
            *why = "userinfo";
            return PL_EINVAL;
        }
        /* userinfo speaks of the id_token's subject, or of nobody */
        const char *usub = json_string_value(json_object_get(ui, "sub"));
        if (p->oidc && (!usub || strcmp(usub, out->subject))) {
            json_decref(ui);
            *why = "userinfo_subject";
            return PL_EINVAL;
        }
        bool said_verified = json_object_get(ui, "email_verified") != NULL;
        person_from(a, ui, out);
        json_decref(ui);
        if (p->github_emails && (!out->email_verified || !said_verified)) {
            pl_oidc_person_t g = {0};
            github_emails(a, p, headers, &g);
            if (g.email) {
                out->email = g.email;
                out->email_verified = true;
            } else if (!said_verified) {
                out->email_verified = false;
            }
        }
    }
    if (!out->subject) {
        *why = "subject";
        return PL_EINVAL;
    }
    return PL_OK;
}
