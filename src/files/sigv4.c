/* sigv4.c - AWS Signature Version 4 (sigv4.h). */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/crypto.h"
#include "files/sigv4.h"

#define QUERY_MAX  2048
#define QUERY_ARGS 32

int pl_sigv4_encode(const char *s, int keep_slash, char *out, size_t out_size)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = 0;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        bool plain = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                     c == '-' || c == '_' || c == '.' || c == '~' || (keep_slash && c == '/');
        if (n + (plain ? 1 : 3) >= out_size)
            return -1;
        if (plain) {
            out[n++] = (char)c;
        } else {
            out[n++] = '%';
            out[n++] = hex[c >> 4];
            out[n++] = hex[c & 15];
        }
    }
    out[n] = '\0';
    return 0;
}

/* "name=value" strings, by name, then by value */
static int cmp_args(const void *a, const void *b)
{
    const char *x = *(char *const *)a, *y = *(char *const *)b;
    size_t nx = strcspn(x, "="), ny = strcspn(y, "=");
    int c = memcmp(x, y, nx < ny ? nx : ny);
    if (c || nx != ny)
        return c ? c : nx < ny ? -1 : 1;
    return strcmp(x + nx, y + ny);
}

int pl_sigv4_canonical_query(const char *query, char *out, size_t out_size)
{
    char copy[QUERY_MAX];
    char *args[QUERY_ARGS];
    char fixed[QUERY_ARGS][256];
    int n = 0;
    out[0] = '\0';
    if (!query || !*query)
        return 0;
    if (strlen(query) >= sizeof(copy))
        return -1;
    memcpy(copy, query, strlen(query) + 1);
    for (char *save = NULL, *p = strtok_r(copy, "&", &save); p; p = strtok_r(NULL, "&", &save)) {
        if (n == QUERY_ARGS)
            return -1;
        /* a name alone is "name=" */
        int k = snprintf(fixed[n], sizeof(fixed[n]), "%s%s", p, strchr(p, '=') ? "" : "=");
        if (k < 0 || (size_t)k >= sizeof(fixed[n]))
            return -1;
        args[n] = fixed[n];
        n++;
    }
    qsort(args, (size_t)n, sizeof(args[0]), cmp_args);
    size_t used = 0;
    for (int i = 0; i < n; i++) {
        int k = snprintf(out + used, out_size - used, "%s%s", i ? "&" : "", args[i]);
        if (k < 0 || (size_t)k >= out_size - used)
            return -1;
        used += (size_t)k;
    }
    return 0;
}

static void hmac(const unsigned char *key, size_t keylen, const char *msg, unsigned char out[32])
{
    pl_hmac_sha256(key, keylen, msg, strlen(msg), out);
}

static int cmp_headers(const void *a, const void *b)
{
    return strcmp(((const pl_sigv4_header_t *)a)->name, ((const pl_sigv4_header_t *)b)->name);
}

int pl_sigv4_authorization(const pl_sigv4_req_t *r, char *out, size_t out_size)
{
    if (r->nheaders > PL_SIGV4_MAX_HEADERS || strlen(r->amz_date) != 16)
        return -1;
    pl_sigv4_header_t h[PL_SIGV4_MAX_HEADERS];
    memcpy(h, r->headers, sizeof(h[0]) * (size_t)r->nheaders);
    qsort(h, (size_t)r->nheaders, sizeof(h[0]), cmp_headers);
    char query[QUERY_MAX];
    if (pl_sigv4_canonical_query(r->query, query, sizeof(query)))
        return -1;
    char canonical_headers[4096] = "", signed_headers[512] = "";
    size_t ch = 0, sh = 0;
    for (int i = 0; i < r->nheaders; i++) {
        int k = snprintf(canonical_headers + ch, sizeof(canonical_headers) - ch, "%s:%s\n",
                         h[i].name, h[i].value);
        if (k < 0 || (size_t)k >= sizeof(canonical_headers) - ch)
            return -1;
        ch += (size_t)k;
        k = snprintf(signed_headers + sh, sizeof(signed_headers) - sh, "%s%s", i ? ";" : "",
                     h[i].name);
        if (k < 0 || (size_t)k >= sizeof(signed_headers) - sh)
            return -1;
        sh += (size_t)k;
    }
    char *creq = NULL;
    if (asprintf(&creq, "%s\n%s\n%s\n%s\n%s\n%s", r->method, r->path, query, canonical_headers,
                 signed_headers, r->payload_hash) < 0)
        return -1;
    char creq_hash[65];
    pl_sha256_hex(creq, strlen(creq), creq_hash);
    free(creq);
    char date[9];
    memcpy(date, r->amz_date, 8);
    date[8] = '\0';
    char scope[256], sts[512];
    snprintf(scope, sizeof(scope), "%s/%s/%s/aws4_request", date, r->region, r->service);
    snprintf(sts, sizeof(sts), "AWS4-HMAC-SHA256\n%s\n%s\n%s", r->amz_date, scope, creq_hash);
    char kbase[256];
    snprintf(kbase, sizeof(kbase), "AWS4%s", r->secret_access_key);
    unsigned char k1[32], k2[32], k3[32], k4[32], sig[32];
    hmac((const unsigned char *)kbase, strlen(kbase), date, k1);
    hmac(k1, 32, r->region, k2);
    hmac(k2, 32, r->service, k3);
    hmac(k3, 32, "aws4_request", k4);
    hmac(k4, 32, sts, sig);
    char sig_hex[65];
    sodium_bin2hex(sig_hex, sizeof(sig_hex), sig, sizeof(sig));
    sodium_memzero(kbase, sizeof(kbase));
    sodium_memzero(k1, 32), sodium_memzero(k2, 32), sodium_memzero(k3, 32), sodium_memzero(k4, 32);
    int k =
        snprintf(out, out_size, "AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s",
                 r->access_key_id, scope, signed_headers, sig_hex);
    return k < 0 || (size_t)k >= out_size ? -1 : 0;
}
