/* headers.c - parsers of request header values that handlers share:
 * the bearer token of Authorization, JSON media types, cookies, and
 * entity-tag lists (If-Match, If-None-Match). Pure functions over client
 * input: each has a fuzz harness (fuzz/fuzz_headers.c). */
#include <string.h>
#include <strings.h>

#include "web/web.h"

static bool ows(char c)
{
    return c == ' ' || c == '\t';
}

int pl_header_bearer(const char *h, pl_str_t *token)
{
    *token = (pl_str_t){NULL, 0};
    if (!h)
        return PL_ENOTFOUND;
    while (ows(*h))
        h++;
    if (!*h)
        return PL_ENOTFOUND;
    if (strncasecmp(h, "Bearer", 6) != 0 || !ows(h[6]))
        return PL_EINVAL;
    const char *t = h + 7;
    while (ows(*t))
        t++;
    size_t n = strlen(t);
    while (n && ows(t[n - 1]))
        n--;
    if (!n)
        return PL_EINVAL;
    *token = (pl_str_t){t, n};
    return PL_OK;
}

bool pl_header_is_json(const char *ct)
{
    if (!ct)
        return false;
    while (ows(*ct))
        ct++;
    if (strncasecmp(ct, "application/json", 16) != 0)
        return false;
    const char *rest = ct + 16;
    while (ows(*rest))
        rest++;
    return *rest == '\0' || *rest == ';';
}

const char *pl_header_cookie(pl_arena_t *a, const char *h, const char *name)
{
    size_t nl = strlen(name);
    if (!h || !nl)
        return NULL;
    const char *p = h;
    while (*p) {
        while (ows(*p) || *p == ';')
            p++;
        const char *end = strchr(p, ';');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        const char *eq = memchr(p, '=', len);
        if (eq) {
            size_t kl = (size_t)(eq - p);
            while (kl && ows(p[kl - 1]))
                kl--;
            if (kl == nl && !memcmp(p, name, nl)) {
                const char *v = eq + 1;
                size_t vl = len - (size_t)(v - p);
                while (vl && ows(*v))
                    v++, vl--;
                while (vl && ows(v[vl - 1]))
                    vl--;
                if (vl >= 2 && v[0] == '"' && v[vl - 1] == '"')
                    v++, vl -= 2;
                return pl_arena_strndup(a, v, vl);
            }
        }
        p += len;
    }
    return NULL;
}

bool pl_header_etag_match(const char *h, const char *etag, bool weak)
{
    if (!h || !etag)
        return false;
    size_t el = strlen(etag);
    const char *p = h;
    for (;;) {
        while (ows(*p) || *p == ',')
            p++;
        if (!*p)
            return false;
        if (*p == '*') { /* any current representation */
            const char *q = p + 1;
            while (ows(*q))
                q++;
            if (!*q || *q == ',')
                return true;
            return false;
        }
        bool is_weak = false;
        if (p[0] == 'W' && p[1] == '/') {
            is_weak = true;
            p += 2;
        }
        if (*p != '"')
            return false; /* not an entity-tag: the list is malformed */
        const char *close = strchr(p + 1, '"');
        if (!close)
            return false;
        size_t tl = (size_t)(close - p - 1);
        if ((weak || !is_weak) && tl == el && !memcmp(p + 1, etag, el))
            return true;
        p = close + 1;
        while (ows(*p))
            p++;
        if (*p && *p != ',')
            return false;
    }
}
