/* clientip.c - client addresses behind trusted proxies. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/clientip.h"

typedef struct {
    int family;
    unsigned char addr[16];
    int prefix;
} cidr_t;

static cidr_t *proxies;
static size_t proxy_count;

static int parse_cidr(const char *s, size_t n, cidr_t *out)
{
    char host[64];
    const char *slash = memchr(s, '/', n);
    size_t hl = slash ? (size_t)(slash - s) : n;
    if (hl == 0 || hl >= sizeof(host))
        return PL_EINVAL;
    memcpy(host, s, hl);
    host[hl] = '\0';
    int max;
    if (inet_pton(AF_INET, host, out->addr) == 1) {
        out->family = AF_INET;
        max = 32;
    } else if (inet_pton(AF_INET6, host, out->addr) == 1) {
        out->family = AF_INET6;
        max = 128;
    } else {
        return PL_EINVAL;
    }
    int64_t p = max;
    if (slash) {
        char num[8];
        size_t nl = n - hl - 1;
        if (nl == 0 || nl >= sizeof(num))
            return PL_EINVAL;
        memcpy(num, slash + 1, nl);
        num[nl] = '\0';
        if (pl_parse_int64(num, 0, max, &p))
            return PL_EINVAL;
    }
    out->prefix = (int)p;
    return PL_OK;
}

bool pl_clientip_cidr_valid(const char *s)
{
    cidr_t c;
    return parse_cidr(s, strlen(s), &c) == PL_OK;
}

int pl_clientip_set_trusted(const char *list)
{
    free(proxies);
    proxies = NULL;
    proxy_count = 0;
    const char *s = list ? list : "";
    while (*s) {
        const char *e = strchr(s, ',');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        while (n && s[0] == ' ')
            s++, n--;
        while (n && s[n - 1] == ' ')
            n--;
        if (n) {
            cidr_t c;
            if (parse_cidr(s, n, &c)) {
                fprintf(stderr,
                        "plinth: PLINTH_TRUSTED_PROXIES: \"%.*s\" is not an address or CIDR\n",
                        (int)(n > 80 ? 80 : n), s);
                return PL_EINVAL;
            }
            proxies = pl_xrealloc(proxies, (proxy_count + 1) * sizeof(cidr_t));
            proxies[proxy_count++] = c;
        }
        s = e ? e + 1 : s + strlen(s);
    }
    return PL_OK;
}

static bool addr_in(const cidr_t *c, int family, const unsigned char *a)
{
    if (c->family != family)
        return false;
    int full = c->prefix / 8, rest = c->prefix % 8;
    if (memcmp(c->addr, a, (size_t)full) != 0)
        return false;
    if (rest == 0)
        return true;
    unsigned char mask = (unsigned char)(0xff << (8 - rest));
    return (c->addr[full] & mask) == (a[full] & mask);
}

bool pl_clientip_trusted(const char *ip)
{
    unsigned char a[16];
    int family = AF_INET;
    if (inet_pton(AF_INET, ip, a) != 1) {
        family = AF_INET6;
        if (inet_pton(AF_INET6, ip, a) != 1)
            return false;
    }
    for (size_t i = 0; i < proxy_count; i++)
        if (addr_in(&proxies[i], family, a))
            return true;
    return false;
}

/* One entry of the joined list, trimmed, as text in cand; false when it is
 * not an address. */
static bool entry(const char *a, const char *b, char *cand, size_t size)
{
    while (a < b && (*a == ' ' || *a == '\t'))
        a++;
    while (b > a && (b[-1] == ' ' || b[-1] == '\t'))
        b--;
    size_t n = (size_t)(b - a);
    unsigned char tmp[16];
    if (n == 0 || n >= size)
        return false;
    memcpy(cand, a, n);
    cand[n] = '\0';
    return inet_pton(AF_INET, cand, tmp) == 1 || inet_pton(AF_INET6, cand, tmp) == 1;
}

void pl_clientip_resolve(const char *peer, const char *const *xff, int nxff, char *out, size_t size)
{
    snprintf(out, size, "%s", peer ? peer : "");
    if (!proxy_count || nxff <= 0 || !pl_clientip_trusted(out))
        return;
    if (nxff > PL_CLIENTIP_MAX_LINES)
        return;
    size_t total = 0;
    for (int i = 0; i < nxff; i++)
        total += (xff[i] ? strlen(xff[i]) : 0) + 1;
    if (total > PL_CLIENTIP_MAX_BYTES)
        return;
    /* Walk the joined list from the right: the last line first, each line
     * from its end; stop at the first entry that is not a trusted proxy. */
    for (int line = nxff - 1; line >= 0; line--) {
        const char *s = xff[line] ? xff[line] : "";
        const char *end = s + strlen(s);
        while (end > s) {
            const char *start = end;
            while (start > s && start[-1] != ',')
                start--;
            char cand[64];
            if (!entry(start, end, cand, sizeof(cand)))
                return; /* garbage: keep the last trusted hop's view */
            snprintf(out, size, "%s", cand);
            if (!pl_clientip_trusted(cand))
                return;
            end = start > s ? start - 1 : s;
        }
    }
}
