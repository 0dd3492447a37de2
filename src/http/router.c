/* router.c - segment-wise matching of paths against route templates. */
#include <string.h>

#include "http/router.h"

static const struct {
    pl_method_t m;
    const char *name;
} methods[] = {
    {PL_M_GET, "GET"},       {PL_M_POST, "POST"},       {PL_M_PUT, "PUT"},   {PL_M_PATCH, "PATCH"},
    {PL_M_DELETE, "DELETE"}, {PL_M_OPTIONS, "OPTIONS"}, {PL_M_HEAD, "HEAD"},
};

pl_method_t pl_method_parse(const char *name)
{
    for (size_t i = 0; i < PL_ARRAY_LEN(methods); i++)
        if (!strcmp(methods[i].name, name))
            return methods[i].m;
    return 0;
}

void pl_methods_format(unsigned mask, char *out, size_t size)
{
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < PL_ARRAY_LEN(methods); i++) {
        if (!(mask & methods[i].m))
            continue;
        size_t need = strlen(methods[i].name) + (used ? 2 : 0);
        if (used + need + 1 > size)
            break;
        if (used) {
            memcpy(out + used, ", ", 2);
            used += 2;
        }
        memcpy(out + used, methods[i].name, strlen(methods[i].name));
        used += strlen(methods[i].name);
        out[used] = '\0';
    }
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int pl_path_decode(pl_arena_t *a, const char *s, size_t n, char **out)
{
    char *d = pl_arena_alloc(a, n + 1);
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '%') {
            if (n - i < 3)
                return PL_EINVAL;
            int h = hex_digit(s[i + 1]), l = hex_digit(s[i + 2]);
            if (h < 0 || l < 0)
                return PL_EINVAL;
            c = (unsigned char)(h << 4 | l);
            i += 2;
        }
        if (c < 0x20 || c == 0x7f)
            return PL_EINVAL;
        d[w++] = (char)c;
    }
    d[w] = '\0';
    if (!pl_utf8_valid(d, w))
        return PL_EINVAL;
    *out = d;
    return PL_OK;
}

/* Matches one template against path; returns the number of literal segments
 * matched (>= 0), or -1 when it does not match. */
static int match_template(const char *tpl, const char *path, pl_match_t *m)
{
    int literals = 0;
    m->nparams = 0;
    const char *t = tpl, *p = path;
    while (*t && *p) {
        if (*t != '/' || *p != '/')
            return -1;
        t++;
        p++;
        const char *te = strchr(t, '/');
        const char *pe = strchr(p, '/');
        size_t tl = te ? (size_t)(te - t) : strlen(t);
        size_t pl = pe ? (size_t)(pe - p) : strlen(p);
        if (pl == 0 || pl > PL_MAX_SEGMENT)
            return -1;
        if (tl >= 2 && t[0] == '{' && t[tl - 1] == '}') {
            if (m->nparams == PL_MAX_PARAMS)
                return -1;
            m->names[m->nparams] = (pl_str_t){t + 1, tl - 2};
            m->values[m->nparams] = (pl_str_t){p, pl};
            m->nparams++;
        } else {
            if (tl != pl || memcmp(t, p, tl) != 0)
                return -1;
            literals++;
        }
        t += tl;
        p += pl;
    }
    return (*t || *p) ? -1 : literals;
}

/* Whether path is tpl or lies below it ("/_" holds "/_/" and "/_/a/b"). */
static bool in_subtree(const char *tpl, const char *path)
{
    size_t n = strlen(tpl);
    return !strncmp(tpl, path, n) && (path[n] == '\0' || path[n] == '/');
}

static int count_segments(const char *p)
{
    int n = 0;
    for (; *p; p++)
        n += *p == '/';
    return n;
}

void pl_router_prepare(pl_route_t *r)
{
    r->segments = count_segments(r->path);
    r->prefix_len = (int)strcspn(r->path, "{");
}

int pl_router_match(const pl_route_t *routes, size_t n, pl_method_t method, const char *path,
                    pl_match_t *m, unsigned *allowed)
{
    int best = -1, best_literals = -1;
    pl_match_t tmp;
    *allowed = 0;
    /* templates with another number of segments cannot match: a cheap
     * filter before the segment-by-segment comparison */
    if (path[0] != '/')
        return -1;
    int segments = count_segments(path);
    int subtree = -1;
    size_t subtree_len = 0;
    unsigned subtree_allowed = 0;
    for (size_t i = 0; i < n; i++) {
        if (routes[i].flags & PL_ROUTE_SUBTREE) {
            size_t len = strlen(routes[i].path);
            if (!in_subtree(routes[i].path, path))
                continue;
            if (routes[i].method != method)
                subtree_allowed |= routes[i].method;
            else if (subtree < 0 || len > subtree_len)
                subtree = (int)i, subtree_len = len;
            continue;
        }
        /* a template of another length, or whose literal head the path
         * does not start with, cannot match */
        const pl_route_t *r = &routes[i];
        int segs = r->segments ? r->segments : count_segments(r->path);
        size_t head = r->segments ? (size_t)r->prefix_len : strcspn(r->path, "{");
        if (segs != segments || strncmp(r->path, path, head) != 0)
            continue;
        int lit = match_template(routes[i].path, path, &tmp);
        if (lit < 0)
            continue;
        if (routes[i].method != method) {
            *allowed |= routes[i].method;
            continue;
        }
        if (lit > best_literals) {
            best = (int)i;
            best_literals = lit;
            *m = tmp;
        }
    }
    if (best < 0 && !*allowed) {
        /* no template matches the path: a subtree route may serve it */
        if (subtree >= 0) {
            m->nparams = 0;
            return subtree;
        }
        *allowed = subtree_allowed;
    }
    return best;
}
