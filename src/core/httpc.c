/* httpc.c - the outgoing HTTP client: libcurl behind the public-address guard.
 *
 * The guard has three layers. The URL is parsed by libcurl's own URL parser,
 * so the host judged is the host curl will use (curl rewrites "0x7f.1" to
 * "127.0.0.1" and decodes "%31%32%37.0.0.1"); the spelling in the URL is also
 * read by the C library, and the two readings must agree. The host is then
 * resolved here, every address checked, and the checked addresses are handed
 * to curl with CURLOPT_RESOLVE (under the host's name and as the "*" wildcard,
 * so no other name reaches curl's resolver): curl never resolves the name
 * again, which closes the DNS-rebinding window. Last, the socket callback
 * refuses to open a socket for any non-public address, whatever path led to
 * it.
 *
 * One easy handle per call: outgoing requests are rare next to incoming ones,
 * and a fresh handle carries no DNS cache, connection or cookie from an
 * earlier request. */
#include <arpa/inet.h>
#include <assert.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <curl/curl.h>

#include "core/core.h"
#include "core/crypto.h"
#include "core/httpc.h"

/* The resolver; unit tests replace it to give names addresses. */
#ifndef PL_HTTPC_GETADDRINFO
#define PL_HTTPC_GETADDRINFO getaddrinfo
#endif

#define MAX_PINNED 16 /* addresses handed to curl; every one returned is checked */

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static int init_result = PL_EINTERNAL;
static atomic_bool allow_private_targets;

static bool env_true(const char *v)
{
    return v && (!strcasecmp(v, "1") || !strcasecmp(v, "true") || !strcasecmp(v, "yes") ||
                 !strcasecmp(v, "on"));
}

static void init_process(void)
{
    atomic_store(&allow_private_targets, env_true(getenv(PL_HTTPC_ALLOW_PRIVATE_ENV)));
    const curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);
    if (!v || v->version_num < 0x075500)
        return;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return;
    init_result = PL_OK;
}

int pl_httpc_init(void)
{
    pthread_once(&init_once, init_process);
    return init_result;
}

void pl_httpc_set_allow_private(bool allow)
{
    pl_httpc_init();
    atomic_store(&allow_private_targets, allow);
}

bool pl_httpc_allow_private(void)
{
    pl_httpc_init();
    return atomic_load(&allow_private_targets);
}

/* ---- which addresses are public ---- */

static bool v4_public(const unsigned char *a)
{
    static const struct {
        uint32_t net;
        unsigned bits;
    } closed[] = {
        {0x00000000, 8},  /* 0/8: "this network", unspecified */
        {0x0a000000, 8},  /* 10/8: private */
        {0x64400000, 10}, /* 100.64/10: carrier-grade NAT */
        {0x7f000000, 8},  /* 127/8: loopback */
        {0xa9fe0000, 16}, /* 169.254/16: link-local, cloud metadata */
        {0xac100000, 12}, /* 172.16/12: private */
        {0xc0000000, 24}, /* 192.0.0/24: IETF protocol assignments */
        {0xc0000200, 24}, /* 192.0.2/24: documentation */
        {0xc0586300, 24}, /* 192.88.99/24: 6to4 relay anycast, deprecated */
        {0xc0a80000, 16}, /* 192.168/16: private */
        {0xc6120000, 15}, /* 198.18/15: benchmarking */
        {0xc6336400, 24}, /* 198.51.100/24: documentation */
        {0xcb007100, 24}, /* 203.0.113/24: documentation */
        {0xe0000000, 4},  /* 224/4: multicast */
        {0xf0000000, 4},  /* 240/4: reserved, 255.255.255.255 */
    };
    uint32_t x = (uint32_t)a[0] << 24 | (uint32_t)a[1] << 16 | (uint32_t)a[2] << 8 | a[3];
    for (size_t i = 0; i < PL_ARRAY_LEN(closed); i++) {
        uint32_t mask = 0xffffffffu << (32 - closed[i].bits);
        if ((x & mask) == closed[i].net)
            return false;
    }
    return true;
}

static bool v6_public(const unsigned char *a)
{
    static const unsigned char compat[12] = {0};
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    static const unsigned char translated[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0};
    static const unsigned char nat64[12] = {0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0};
    /* forms that carry an IPv4 address in their last 32 bits; :: and ::1 are
       judged as 0.0.0.0 and 0.0.0.1, both closed */
    if (!memcmp(a, compat, 12) || !memcmp(a, mapped, 12) || !memcmp(a, translated, 12) ||
        !memcmp(a, nat64, 12))
        return v4_public(a + 12);
    if (a[0] == 0x20 && a[1] == 0x02) /* 2002::/16: 6to4, the IPv4 address follows */
        return v4_public(a + 2);
    if ((a[0] & 0xe0) != 0x20) /* only 2000::/3 is global unicast */
        return false;
    if (a[0] == 0x20 && a[1] == 0x01 && a[2] < 0x02) /* 2001::/23: Teredo, ORCHID, ... */
        return false;
    if (a[0] == 0x20 && a[1] == 0x01 && a[2] == 0x0d && a[3] == 0xb8) /* 2001:db8::/32 */
        return false;
    if (a[0] == 0x3f && a[1] == 0xff && a[2] < 0x10) /* 3fff::/20: documentation */
        return false;
    return true;
}

bool pl_httpc_addr_public(const struct sockaddr *sa)
{
    if (!sa)
        return false;
    if (sa->sa_family == AF_INET)
        return v4_public((const unsigned char *)&((const struct sockaddr_in *)sa)->sin_addr);
    if (sa->sa_family == AF_INET6)
        return v6_public(((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr);
    return false;
}

/* ---- URLs ---- */

/* A URL parsed by libcurl and the facts the guard needs about it. */
typedef struct {
    CURLU *u;
    char host[256];     /* the host curl connects to, without IPv6 brackets */
    char raw_host[256]; /* the host as spelled in the URL, without brackets */
    bool ip6_literal;
    long port; /* explicit or the scheme's default */
} target_t;

static void target_free(target_t *t)
{
    curl_url_cleanup(t->u);
    t->u = NULL;
}

/* True when curl_url_get finds the part present (even empty). */
static bool has_part(CURLU *u, CURLUPart part)
{
    char *v = NULL;
    CURLUcode rc = curl_url_get(u, part, &v, 0);
    curl_free(v);
    return rc == CURLUE_OK;
}

/* Copies [s, s+n) without IPv6 brackets into out; false when it does not fit. */
static bool copy_host(const char *s, size_t n, char *out, size_t size, bool *bracketed)
{
    *bracketed = n >= 2 && s[0] == '[' && s[n - 1] == ']';
    if (*bracketed) {
        s++;
        n -= 2;
    }
    if (n == 0 || n >= size)
        return false;
    memcpy(out, s, n);
    out[n] = '\0';
    return true;
}

/* Parses url with the rules of pl_httpc_check_url, without looking the host up. */
static int target_parse(const char *url, size_t max_len, target_t *t)
{
    memset(t, 0, sizeof(*t));
    if (!url)
        return PL_EINVAL;
    size_t len = strnlen(url, max_len + 1);
    if (len > max_len)
        return PL_EINVAL;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)url[i];
        if (c <= 0x20 || c >= 0x7f || c == '#' || c == '\\')
            return PL_EINVAL;
    }
    /* curl accepts "http:/host" and "http:///host"; a stored URL may not */
    size_t skip;
    if (!strncasecmp(url, "http://", 7))
        skip = 7;
    else if (!strncasecmp(url, "https://", 8))
        skip = 8;
    else
        return PL_EINVAL;
    const char *auth = url + skip;
    size_t auth_len = strcspn(auth, "/?");
    if (auth_len == 0 || memchr(auth, '@', auth_len))
        return PL_EINVAL;

    /* the host as spelled: up to the port, IPv6 literals in brackets */
    size_t raw_len;
    if (auth[0] == '[') {
        const char *close = memchr(auth, ']', auth_len);
        if (!close)
            return PL_EINVAL;
        raw_len = (size_t)(close - auth) + 1;
    } else {
        const char *colon = memchr(auth, ':', auth_len);
        raw_len = colon ? (size_t)(colon - auth) : auth_len;
    }
    bool raw_bracketed;
    if (!copy_host(auth, raw_len, t->raw_host, sizeof(t->raw_host), &raw_bracketed))
        return PL_EINVAL;

    t->u = curl_url();
    if (!t->u)
        return PL_EINTERNAL;
    char *scheme = NULL, *host = NULL, *port = NULL;
    int rc = PL_EINVAL;
    if (curl_url_set(t->u, CURLUPART_URL, url, 0) != CURLUE_OK)
        goto out;
    if (curl_url_get(t->u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0))
        goto out;
    if (has_part(t->u, CURLUPART_USER) || has_part(t->u, CURLUPART_PASSWORD) ||
        has_part(t->u, CURLUPART_OPTIONS) || has_part(t->u, CURLUPART_FRAGMENT) ||
        has_part(t->u, CURLUPART_ZONEID))
        goto out;
    if (curl_url_get(t->u, CURLUPART_HOST, &host, 0) != CURLUE_OK)
        goto out;
    if (!copy_host(host, strlen(host), t->host, sizeof(t->host), &t->ip6_literal))
        goto out;
    if (t->ip6_literal) {
        struct in6_addr a6;
        if (inet_pton(AF_INET6, t->host, &a6) != 1)
            goto out;
    } else {
        /* a DNS name or an IPv4 address: letters, digits, '-', '.', '_' and
           at most 253 of them; no room for curl to reinterpret anything */
        if (strlen(t->host) > 253)
            goto out;
        for (const char *p = t->host; *p; p++) {
            unsigned char c = (unsigned char)*p;
            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '.' || c == '_'))
                goto out;
        }
    }
    if (raw_bracketed != t->ip6_literal)
        goto out;
    if (curl_url_get(t->u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK)
        goto out;
    char *end;
    t->port = strtol(port, &end, 10);
    if (*end || t->port < 1 || t->port > 65535)
        goto out;
    rc = PL_OK;
out:
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    if (rc)
        target_free(t);
    return rc;
}

/* ---- resolution and the check ---- */

typedef struct {
    struct sockaddr_storage addr[MAX_PINNED];
    size_t n;
} addrs_t;

static bool same_addr(const struct sockaddr *a, const struct sockaddr *b)
{
    if (a->sa_family != b->sa_family)
        return false;
    if (a->sa_family == AF_INET)
        return !memcmp(&((const struct sockaddr_in *)a)->sin_addr,
                       &((const struct sockaddr_in *)b)->sin_addr, sizeof(struct in_addr));
    return !memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
                   &((const struct sockaddr_in6 *)b)->sin6_addr, sizeof(struct in6_addr));
}

static void addrs_add(addrs_t *as, const struct sockaddr *sa, socklen_t len)
{
    if (len > sizeof(as->addr[0]) || as->n == MAX_PINNED)
        return;
    for (size_t i = 0; i < as->n; i++)
        if (same_addr((const struct sockaddr *)&as->addr[i], sa))
            return;
    memset(&as->addr[as->n], 0, sizeof(as->addr[0]));
    memcpy(&as->addr[as->n], sa, len);
    as->n++;
}

/* Looks host up (numeric forms only with numeric) and collects up to
 * MAX_PINNED distinct addresses into out. *all_public tells whether every
 * address returned, not only those kept, is public. PL_ENOTFOUND when the
 * host does not resolve. */
static int lookup(const char *host, bool numeric, addrs_t *out, bool *all_public)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    if (numeric)
        hints.ai_flags = AI_NUMERICHOST;
    out->n = 0;
    *all_public = true;
    if (PL_HTTPC_GETADDRINFO(host, NULL, &hints, &res) != 0 || !res)
        return PL_ENOTFOUND;
    for (const struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
            continue;
        if (!pl_httpc_addr_public(ai->ai_addr))
            *all_public = false;
        addrs_add(out, ai->ai_addr, ai->ai_addrlen);
    }
    freeaddrinfo(res);
    return out->n ? PL_OK : PL_ENOTFOUND;
}

typedef enum { TARGET_OK, TARGET_INVALID, TARGET_FORBIDDEN, TARGET_UNRESOLVABLE } verdict_t;
static const char *const verdict_codes[] = {
    [TARGET_OK] = NULL,
    [TARGET_INVALID] = "invalid",
    [TARGET_FORBIDDEN] = "forbidden_address",
    [TARGET_UNRESOLVABLE] = "unresolvable",
};

/* Judges t: with resolve, looks the host up and fills pin with the addresses
 * curl may use; without, judges address literals only. */
static verdict_t target_judge(const target_t *t, bool resolve, bool allow, addrs_t *pin)
{
    addrs_t mine, raw;
    bool mine_public, raw_public;
    if (!pin)
        pin = &mine;
    pin->n = 0;

    /* how the C library reads the spelling of the URL, when it is an address */
    bool raw_numeric = lookup(t->raw_host, true, &raw, &raw_public) == PL_OK;
    /* and how it reads the host curl will use */
    bool numeric = lookup(t->host, true, pin, &mine_public) == PL_OK;
    if (raw_numeric &&
        (!numeric || pin->n != raw.n ||
         !same_addr((struct sockaddr *)&pin->addr[0], (struct sockaddr *)&raw.addr[0])))
        return TARGET_INVALID;
    if (!numeric) {
        if (!resolve)
            return TARGET_OK;
        if (lookup(t->host, false, pin, &mine_public))
            return TARGET_UNRESOLVABLE;
    }
    if (!allow && (!mine_public || (raw_numeric && !raw_public)))
        return TARGET_FORBIDDEN;
    return TARGET_OK;
}

int pl_httpc_check_url(const char *url, bool resolve, const char **code)
{
    const char *dummy;
    if (!code)
        code = &dummy;
    *code = "invalid";
    pl_httpc_init();
    target_t t;
    if (target_parse(url, PL_HTTPC_URL_MAX, &t))
        return PL_EINVAL;
    verdict_t v = target_judge(&t, resolve, pl_httpc_allow_private(), NULL);
    target_free(&t);
    *code = verdict_codes[v];
    return v == TARGET_OK ? PL_OK : PL_EINVAL;
}

/* ---- the transfer ---- */

typedef struct {
    const pl_httpc_req_t *req;
    pl_httpc_resp_t *resp;
    pl_buf_t body;
    size_t max_response;
    size_t received;     /* body bytes seen */
    size_t header_bytes; /* response header bytes seen */
    bool allow;          /* private targets allowed */
    bool refused;        /* the socket callback refused an address */
    bool too_large;      /* the headers passed PL_HTTPC_HEADERS_MAX */
    bool aborted;        /* a caller's callback asked to stop */
    bool stopped;        /* the body passed the discard cap: stopped on purpose */
} xfer_t;

/* The last line of the guard: no socket for an address that is not public. */
static curl_socket_t open_socket(void *cls, curlsocktype purpose, struct curl_sockaddr *a)
{
    xfer_t *x = cls;
    PL_UNUSED(purpose);
    bool whole = (a->family == AF_INET && a->addrlen >= sizeof(struct sockaddr_in)) ||
                 (a->family == AF_INET6 && a->addrlen >= sizeof(struct sockaddr_in6));
    if (!whole || a->addr.sa_family != a->family ||
        (!x->allow && !pl_httpc_addr_public(&a->addr))) {
        x->refused = true;
        return CURL_SOCKET_BAD;
    }
    return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

/* Copies a header value into a fixed field, or leaves the field empty when the
 * value does not fit: a cut ETag or Location would be wrong, not shorter. */
static void set_field(char *field, size_t size, const char *v, size_t n)
{
    field[0] = '\0';
    if (n < size) {
        memcpy(field, v, n);
        field[n] = '\0';
    }
}

static size_t on_header(char *line, size_t size, size_t nitems, void *cls)
{
    xfer_t *x = cls;
    size_t n = size * nitems;
    x->header_bytes += n;
    if (x->header_bytes > PL_HTTPC_HEADERS_MAX) {
        x->too_large = true;
        return CURL_WRITEFUNC_ERROR;
    }
    pl_httpc_resp_t *r = x->resp;
    if (n >= 5 && !memcmp(line, "HTTP/", 5)) { /* a new response (after a 1xx) */
        r->content_type[0] = r->etag[0] = r->location[0] = '\0';
        return n;
    }
    const char *colon = memchr(line, ':', n);
    if (!colon)
        return n;
    size_t name_len = (size_t)(colon - line);
    const char *v = colon + 1, *end = line + n;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t'))
        end--;
    size_t vlen = (size_t)(end - v);
    if (name_len == 12 && !strncasecmp(line, "content-type", 12))
        set_field(r->content_type, sizeof(r->content_type), v, vlen);
    else if (name_len == 4 && !strncasecmp(line, "etag", 4))
        set_field(r->etag, sizeof(r->etag), v, vlen);
    else if (name_len == 8 && !strncasecmp(line, "location", 8))
        set_field(r->location, sizeof(r->location), v, vlen);
    return n;
}

static size_t on_body(char *data, size_t size, size_t nitems, void *cls)
{
    xfer_t *x = cls;
    size_t n = size * nitems;
    if (x->req->on_data) {
        if (x->req->on_data(x->req->data_cls, data, n)) {
            x->aborted = true;
            return CURL_WRITEFUNC_ERROR;
        }
        return n;
    }
    size_t room = x->max_response - x->body.len;
    size_t keep = n < room ? n : room;
    if (pl_buf_append(&x->body, data, keep))
        return CURL_WRITEFUNC_ERROR; /* cannot happen: keep fits the cap */
    if (keep < n)
        x->resp->truncated = true;
    x->received += n;
    if (x->received - x->body.len > PL_HTTPC_DISCARD_MAX) {
        x->stopped = true;
        return CURL_WRITEFUNC_ERROR;
    }
    return n;
}

static size_t on_read(char *buf, size_t size, size_t nitems, void *cls)
{
    xfer_t *x = cls;
    size_t max = size * nitems;
    long got = x->req->read_body(x->req->read_cls, buf, max);
    if (got < 0 || (size_t)got > max) {
        x->aborted = true;
        return CURL_READFUNC_ABORT;
    }
    return (size_t)got;
}

/* True when h is "Name: value" with a token name and no CR or LF. */
static bool header_ok(const char *h)
{
    size_t name = strspn(h, "!#$%&'*+-.^_`|~0123456789"
                            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz");
    return name > 0 && h[name] == ':' && !strpbrk(h, "\r\n");
}

/* True when the caller's headers include name (given with its colon). */
static bool has_header(const char *const *headers, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; headers && headers[i]; i++)
        if (!strncasecmp(headers[i], name, n))
            return true;
    return false;
}

/* What went wrong: the code resp->error shows and what pl_httpc_do returns. */
typedef enum {
    F_FORBIDDEN,
    F_TIMEOUT,
    F_CONNECT,
    F_DNS,
    F_TLS,
    F_URL,
    F_REQUEST,
    F_TOO_LARGE,
    F_ABORTED,
    F_FAILED,
    F_SETUP,
} failure_t;

static const struct {
    const char *code;
    int rc;
} failures[] = {
    [F_FORBIDDEN] = {"forbidden_address", PL_EFORBIDDEN},
    [F_TIMEOUT] = {"timeout", PL_EBUSY},
    [F_CONNECT] = {"connect_failed", PL_EBUSY},
    [F_DNS] = {"dns", PL_EBUSY},
    [F_TLS] = {"tls", PL_EBUSY},
    [F_URL] = {"invalid_url", PL_EINVAL},
    [F_REQUEST] = {"invalid_request", PL_EINVAL},
    [F_TOO_LARGE] = {"too_large", PL_ELIMIT},
    [F_ABORTED] = {"aborted", PL_EBUSY},
    [F_FAILED] = {"failed", PL_EBUSY},
    [F_SETUP] = {"failed", PL_EINTERNAL},
};

static int failure(pl_httpc_resp_t *resp, failure_t f)
{
    snprintf(resp->error, sizeof(resp->error), "%s", failures[f].code);
    return failures[f].rc;
}

static failure_t curl_failure(CURLcode rc)
{
    switch (rc) {
    case CURLE_OPERATION_TIMEDOUT:
        return F_TIMEOUT;
    case CURLE_COULDNT_RESOLVE_HOST:
        return F_DNS;
    case CURLE_COULDNT_CONNECT:
        return F_CONNECT;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_USE_SSL_FAILED:
        return F_TLS;
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
        return F_URL;
    case CURLE_FILESIZE_EXCEEDED:
        return F_TOO_LARGE;
    case CURLE_ABORTED_BY_CALLBACK:
    case CURLE_READ_ERROR:
        return F_ABORTED;
    default:
        return F_FAILED;
    }
}

/* The CURLOPT_RESOLVE entries pinning t's host, and every other name, to the
 * checked addresses: "host:port:a,[b]" and "*:port:a,[b]". NULL for an IPv6
 * literal, which curl connects to as it is, or when out of addresses. */
static struct curl_slist *pin_list(const target_t *t, const addrs_t *pin)
{
    if (t->ip6_literal)
        return NULL;
    char addrs[MAX_PINNED * (INET6_ADDRSTRLEN + 3)];
    size_t len = 0;
    addrs[0] = '\0';
    for (size_t i = 0; i < pin->n; i++) {
        const struct sockaddr *sa = (const struct sockaddr *)&pin->addr[i];
        const void *bin = sa->sa_family == AF_INET
                              ? (const void *)&((const struct sockaddr_in *)sa)->sin_addr
                              : (const void *)&((const struct sockaddr_in6 *)sa)->sin6_addr;
        char text[INET6_ADDRSTRLEN];
        if (!inet_ntop(sa->sa_family, bin, text, sizeof(text)))
            return NULL;
        len += (size_t)snprintf(addrs + len, sizeof(addrs) - len,
                                sa->sa_family == AF_INET6 ? "%s[%s]" : "%s%s", i ? "," : "", text);
    }
    if (!len)
        return NULL;
    char entry[sizeof(t->host) + 8 + sizeof(addrs)];
    snprintf(entry, sizeof(entry), "%s:%ld:%s", t->host, t->port, addrs);
    struct curl_slist *list = curl_slist_append(NULL, entry), *more = NULL;
    snprintf(entry, sizeof(entry), "*:%ld:%s", t->port, addrs);
    if (list && !(more = curl_slist_append(list, entry))) {
        curl_slist_free_all(list);
        return NULL;
    }
    return more;
}

/* The caller's headers, plus the ones this client adds. NULL with *bad set
 * when a header is malformed; NULL without it when there are none. */
static struct curl_slist *header_list(const pl_httpc_req_t *req, bool has_body, bool *bad)
{
    struct curl_slist *list = NULL, *next;
    *bad = false;
    for (size_t i = 0; req->headers && req->headers[i]; i++) {
        if (!header_ok(req->headers[i]))
            goto bad;
        if (!(next = curl_slist_append(list, req->headers[i])))
            goto bad;
        list = next;
    }
    /* libcurl would send application/x-www-form-urlencoded */
    if (has_body && !has_header(req->headers, "content-type:")) {
        if (!(next = curl_slist_append(list, "Content-Type: application/octet-stream")))
            goto bad;
        list = next;
    }
    if (req->aws_sigv4) {
        /* "provider1:provider2:region:service": S3 wants x-<provider2>-content-sha256
           on every request, and libcurl 7.88 signs what this header says */
        char p1[65] = "", p2[65] = "", name[96], line[192];
        sscanf(req->aws_sigv4, "%64[^:]:%64[^:]", p1, p2);
        const char *provider = p2[0] ? p2 : p1;
        snprintf(name, sizeof(name), "x-%s-content-sha256:", provider);
        for (char *p = name; *p; p++)
            *p = (char)((*p >= 'A' && *p <= 'Z') ? *p + 32 : *p);
        if (!provider[0] || !header_ok(name))
            goto bad;
        if (!has_header(req->headers, name)) {
            if (req->read_body) {
                snprintf(line, sizeof(line), "%s UNSIGNED-PAYLOAD", name);
            } else {
                char hex[65];
                pl_sha256_hex(req->body ? req->body : "", req->body ? req->body_len : 0, hex);
                snprintf(line, sizeof(line), "%s %s", name, hex);
            }
            if (!(next = curl_slist_append(list, line)))
                goto bad;
            list = next;
        }
    }
    return list;
bad:
    *bad = true;
    curl_slist_free_all(list);
    return NULL;
}

/* True when req goes out with a body, even an empty one: POST, PUT, PATCH,
 * and DELETE with a body. */
static bool sends_body(const pl_httpc_req_t *req)
{
    const char *m = req->method ? req->method : "GET";
    return !strcmp(m, "POST") || !strcmp(m, "PUT") || !strcmp(m, "PATCH") ||
           (!strcmp(m, "DELETE") && (req->body || req->read_body));
}

/* Sets the method and the body. False when the request is malformed. */
static bool set_method(CURL *h, const pl_httpc_req_t *req, xfer_t *x, CURLcode *rc)
{
    const char *m = req->method ? req->method : "GET";
    if (req->body && req->read_body)
        return false;
    if (!req->body && !req->read_body && req->body_len)
        return false;
    if (!strcmp(m, "GET") || !strcmp(m, "HEAD")) {
        if (req->body || req->read_body)
            return false;
        *rc |= curl_easy_setopt(h, m[0] == 'G' ? CURLOPT_HTTPGET : CURLOPT_NOBODY, 1L);
        return true;
    }
    if (strcmp(m, "POST") && strcmp(m, "PUT") && strcmp(m, "PATCH") && strcmp(m, "DELETE"))
        return false;
    if (!sends_body(req)) { /* DELETE */
        *rc |= curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, m);
        return true;
    }
    /* every body goes out in POST mode, with the method renamed: then libcurl
       sends a Content-Length and hashes POSTFIELDS for SigV4 */
    *rc |= curl_easy_setopt(h, CURLOPT_POST, 1L);
    *rc |= curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
    if (req->read_body) {
        *rc |= curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
        *rc |= curl_easy_setopt(h, CURLOPT_READDATA, x);
    } else {
        *rc |= curl_easy_setopt(h, CURLOPT_POSTFIELDS, req->body ? req->body : "");
    }
    if (strcmp(m, "POST"))
        *rc |= curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, m);
    return true;
}

int pl_httpc_do(const pl_httpc_req_t *req, pl_httpc_resp_t *resp)
{
    assert(req && resp);
    int64_t start = pl_monotonic_us();
    memset(resp, 0, sizeof(*resp));
    int ret;
    target_t t = {0};
    CURL *h = NULL;
    struct curl_slist *pins = NULL, *headers = NULL;
    xfer_t x = {.req = req, .resp = resp};
    pl_buf_init(&x.body, 0);

    if (pl_httpc_init()) {
        ret = failure(resp, F_SETUP);
        goto out;
    }
    if (target_parse(req->url, PL_HTTPC_REQUEST_URL_MAX, &t)) {
        ret = failure(resp, F_URL);
        goto out;
    }
    x.allow = req->allow_private || pl_httpc_allow_private();
    addrs_t pin;
    verdict_t v = target_judge(&t, true, x.allow, &pin);
    if (v != TARGET_OK) {
        ret = failure(resp, v == TARGET_FORBIDDEN      ? F_FORBIDDEN
                            : v == TARGET_UNRESOLVABLE ? F_DNS
                                                       : F_URL);
        goto out;
    }
    int timeout_ms = req->timeout_ms > 0 ? req->timeout_ms : PL_HTTPC_TIMEOUT_MS;
    int64_t left_ms = timeout_ms - (pl_monotonic_us() - start) / 1000;
    if (left_ms <= 0) {
        ret = failure(resp, F_TIMEOUT);
        goto out;
    }

    pins = pin_list(&t, &pin);
    if (!t.ip6_literal && !pins) {
        ret = failure(resp, F_SETUP);
        goto out;
    }
    bool bad;
    headers = header_list(req, sends_body(req), &bad);
    h = curl_easy_init();
    if (!h) {
        ret = failure(resp, F_SETUP);
        goto out;
    }
    CURLcode rc = CURLE_OK;
    if (bad || !set_method(h, req, &x, &rc)) {
        ret = failure(resp, F_REQUEST);
        goto out;
    }
    x.max_response = req->max_response ? req->max_response : PL_HTTPC_MAX_RESPONSE;
    x.body.max = x.max_response;

    rc |= curl_easy_setopt(h, CURLOPT_CURLU, t.u);
    rc |= curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    rc |= curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    rc |= curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    rc |= curl_easy_setopt(h, CURLOPT_PROXY, "");
    rc |= curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    rc |= curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)left_ms);
    rc |= curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
    rc |= curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
    rc |= curl_easy_setopt(h, CURLOPT_FORBID_REUSE, 1L);
    rc |= curl_easy_setopt(h, CURLOPT_USERAGENT, "plinth/" PL_VERSION);
    if (pins)
        rc |= curl_easy_setopt(h, CURLOPT_RESOLVE, pins);
    rc |= curl_easy_setopt(h, CURLOPT_OPENSOCKETFUNCTION, open_socket);
    rc |= curl_easy_setopt(h, CURLOPT_OPENSOCKETDATA, &x);
    rc |= curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    rc |= curl_easy_setopt(h, CURLOPT_HEADERDATA, &x);
    rc |= curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    rc |= curl_easy_setopt(h, CURLOPT_WRITEDATA, &x);
    if (headers)
        rc |= curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    if (req->aws_sigv4)
        rc |= curl_easy_setopt(h, CURLOPT_AWS_SIGV4, req->aws_sigv4);
    if (req->userpwd)
        rc |= curl_easy_setopt(h, CURLOPT_USERPWD, req->userpwd);
    if (rc != CURLE_OK) { /* an option of the guard may be missing: fail closed */
        ret = failure(resp, F_SETUP);
        goto out;
    }

    rc = curl_easy_perform(h);
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    resp->status = (int)status;
    char *redirect = NULL;
    if (curl_easy_getinfo(h, CURLINFO_REDIRECT_URL, &redirect) == CURLE_OK && redirect)
        set_field(resp->location, sizeof(resp->location), redirect, strlen(redirect));

    if (x.refused)
        ret = failure(resp, F_FORBIDDEN);
    else if (x.too_large)
        ret = failure(resp, F_TOO_LARGE);
    else if (x.aborted)
        ret = failure(resp, F_ABORTED);
    else if (rc != CURLE_OK && !x.stopped)
        ret = failure(resp, curl_failure(rc));
    else if (!status)
        ret = failure(resp, F_FAILED);
    else
        ret = PL_OK;
    if (!req->on_data && status) {
        resp->body = x.body.ptr ? x.body.ptr : pl_xstrdup("");
        resp->body_len = x.body.len;
        x.body.ptr = NULL;
    }
out:
    pl_buf_free(&x.body);
    curl_easy_cleanup(h);
    curl_slist_free_all(headers);
    curl_slist_free_all(pins);
    target_free(&t);
    resp->duration_ms = (pl_monotonic_us() - start) / 1000;
    return ret;
}

void pl_httpc_resp_free(pl_httpc_resp_t *resp)
{
    if (!resp)
        return;
    free(resp->body);
    resp->body = NULL;
    resp->body_len = 0;
}
