/* Unit tests for core/httpc: the address classes, URL checks, and real
 * requests against a small HTTP server on loopback that the test runs in a
 * thread. The resolver is replaced so that a few made-up names resolve. */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

/* made-up names: "pinned.test" is loopback, "public.test" a public address,
   "mixed.test" and "mixed6.test" a public and a private one; the rest goes to
   the C library */
static int fake_getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
                            struct addrinfo **res);
#define PL_HTTPC_GETADDRINFO fake_getaddrinfo
#include "core/httpc.c" /* reaches target_parse, target_judge, open_socket */

static int two_numeric(const char *a, const char *b, const char *service,
                       const struct addrinfo *hints, struct addrinfo **res)
{
    struct addrinfo h = *hints, *first = NULL, *second = NULL;
    h.ai_flags |= AI_NUMERICHOST;
    int rc = getaddrinfo(a, service, &h, &first);
    if (rc)
        return rc;
    if (b && (rc = getaddrinfo(b, service, &h, &second)) != 0) {
        freeaddrinfo(first);
        return rc;
    }
    struct addrinfo *last = first;
    while (last->ai_next)
        last = last->ai_next;
    last->ai_next = second; /* glibc's freeaddrinfo frees a chain node by node */
    *res = first;
    return 0;
}

static int fake_getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
                            struct addrinfo **res)
{
    if (hints && !(hints->ai_flags & AI_NUMERICHOST)) {
        if (!strcasecmp(node, "pinned.test"))
            return two_numeric("127.0.0.1", NULL, service, hints, res);
        if (!strcasecmp(node, "public.test"))
            return two_numeric("93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c", service,
                               hints, res);
        if (!strcasecmp(node, "mixed.test"))
            return two_numeric("93.184.215.14", "10.1.2.3", service, hints, res);
        if (!strcasecmp(node, "mixed6.test"))
            return two_numeric("2606:4700:4700::1111", "fd00::1", service, hints, res);
    }
    return getaddrinfo(node, service, hints, res);
}

/* ---- a tiny HTTP server ---- */

static bool starts_with(const char *s, const char *prefix)
{
    return !strncmp(s, prefix, strlen(prefix));
}

#define REQ_MAX (64 << 10)

typedef struct {
    int fd;
    int port;
    int family;
    pthread_t thread;
    atomic_int accepted;
    atomic_bool stop;
    pthread_mutex_t lock;
    char last[REQ_MAX + 1]; /* the last request: head and body */
    size_t last_len;
} server_t;

static server_t srv4, srv6;
static bool have_ip6;

static void send_all(int c, const char *p, size_t n)
{
    while (n) {
        ssize_t w = send(c, p, n, MSG_NOSIGNAL);
        if (w <= 0)
            return;
        p += w;
        n -= (size_t)w;
    }
}

static void send_str(int c, const char *s)
{
    send_all(c, s, strlen(s));
}

/* Waits until the client closes, at most 20 s. */
static void wait_for_close(int c)
{
    char buf[4096];
    struct pollfd p = {.fd = c, .events = POLLIN};
    while (poll(&p, 1, 20000) > 0 && recv(c, buf, sizeof(buf), 0) > 0)
        ;
}

/* Reads one request into buf; returns its length, or 0. */
static size_t read_request(int c, char *buf, size_t max)
{
    size_t len = 0;
    struct pollfd p = {.fd = c, .events = POLLIN};
    char *end = NULL;
    while (!end) {
        if (len == max || poll(&p, 1, 20000) <= 0)
            return 0;
        ssize_t r = recv(c, buf + len, max - len, 0);
        if (r <= 0)
            return 0;
        len += (size_t)r;
        buf[len] = '\0';
        end = strstr(buf, "\r\n\r\n");
    }
    size_t head = (size_t)(end - buf) + 4;
    size_t body = 0;
    const char *cl = strcasestr(buf, "\r\nContent-Length:");
    if (cl && cl < end)
        body = strtoul(cl + 17, NULL, 10);
    while (len < head + body && len < max) {
        if (poll(&p, 1, 20000) <= 0)
            break;
        ssize_t r = recv(c, buf + len, max - len, 0);
        if (r <= 0)
            break;
        len += (size_t)r;
    }
    buf[len] = '\0';
    return len;
}

static void respond(server_t *s, int c)
{
    static char req[REQ_MAX + 1];
    size_t n = read_request(c, req, REQ_MAX);
    if (!n)
        return;
    pthread_mutex_lock(&s->lock);
    memcpy(s->last, req, n + 1);
    s->last_len = n;
    pthread_mutex_unlock(&s->lock);

    bool head = starts_with(req, "HEAD ");
    const char *path = strchr(req, ' ') + 1;
    char out[1024];
    if (starts_with(path, "/ok ")) {
        send_str(c, "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\n"
                    "ETag: \"v1\"\r\nContent-Length: 5\r\nConnection: close\r\n\r\n");
        if (!head)
            send_str(c, "hello");
    } else if (starts_with(path, "/redirect ")) {
        send_str(c, "HTTP/1.1 302 Found\r\nLocation: http://169.254.169.254/latest/meta-data/\r\n"
                    "Content-Length: 0\r\nConnection: close\r\n\r\n");
    } else if (starts_with(path, "/relative ")) {
        send_str(c, "HTTP/1.1 301 Moved\r\nLocation: /next?a=1\r\n"
                    "Content-Length: 0\r\nConnection: close\r\n\r\n");
    } else if (starts_with(path, "/created ")) {
        send_str(c, "HTTP/1.1 201 Created\r\nLocation: /things/1\r\n"
                    "Content-Length: 0\r\nConnection: close\r\n\r\n");
    } else if (starts_with(path, "/big ")) {
        static char big[100000];
        for (size_t i = 0; i < sizeof(big); i++)
            big[i] = (char)('a' + i % 26);
        snprintf(out, sizeof(out),
                 "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
                 sizeof(big));
        send_str(c, out);
        send_all(c, big, sizeof(big));
    } else if (starts_with(path, "/endless ")) {
        /* claims 64 MiB and sends until the client leaves */
        send_str(c, "HTTP/1.1 200 OK\r\nContent-Length: 67108864\r\nConnection: close\r\n\r\n");
        static char chunk[16384];
        memset(chunk, 'z', sizeof(chunk));
        for (int i = 0; i < 4096; i++) {
            ssize_t w = send(c, chunk, sizeof(chunk), MSG_NOSIGNAL);
            if (w <= 0)
                break;
        }
    } else if (starts_with(path, "/silent ")) {
        wait_for_close(c);
    } else if (starts_with(path, "/header-flood ")) {
        send_str(c, "HTTP/1.1 200 OK\r\n");
        for (int i = 0; i < 1000; i++) {
            snprintf(out, sizeof(out), "X-Pad-%d: %0100d\r\n", i, 0);
            send_str(c, out);
        }
        send_str(c, "Content-Length: 0\r\nConnection: close\r\n\r\n");
    } else if (starts_with(path, "/long-etag ")) {
        snprintf(out, sizeof(out),
                 "HTTP/1.1 200 OK\r\nETag: \"%0300d\"\r\nContent-Type: text/plain\r\n"
                 "Content-Length: 0\r\nConnection: close\r\n\r\n",
                 7);
        send_str(c, out);
    } else if (starts_with(path, "/echo")) {
        snprintf(out, sizeof(out),
                 "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n"
                 "Connection: close\r\n\r\n",
                 n);
        send_str(c, out);
        if (!head)
            send_all(c, req, n);
    } else {
        send_str(c, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    }
}

static void *serve(void *arg)
{
    server_t *s = arg;
    for (;;) {
        int c = accept(s->fd, NULL, NULL);
        if (c < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            break;
        }
        if (atomic_load(&s->stop)) {
            close(c);
            break;
        }
        atomic_fetch_add(&s->accepted, 1);
        respond(s, c);
        shutdown(c, SHUT_WR);
        close(c);
    }
    return NULL;
}

static bool server_start(server_t *s, int family)
{
    memset(s, 0, sizeof(*s));
    s->family = family;
    pthread_mutex_init(&s->lock, NULL);
    s->fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s->fd < 0)
        return false;
    int one = 1;
    setsockopt(s->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_storage ss = {0};
    socklen_t len;
    if (family == AF_INET) {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        len = sizeof(*a);
    } else {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        a->sin6_addr = in6addr_loopback;
        len = sizeof(*a);
    }
    if (bind(s->fd, (struct sockaddr *)&ss, len) || listen(s->fd, 16) ||
        getsockname(s->fd, (struct sockaddr *)&ss, &len)) {
        close(s->fd);
        s->fd = -1;
        return false;
    }
    s->port = ntohs(family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                      : ((struct sockaddr_in6 *)&ss)->sin6_port);
    return pthread_create(&s->thread, NULL, serve, s) == 0;
}

static void server_stop(server_t *s)
{
    if (s->fd < 0)
        return;
    atomic_store(&s->stop, true);
    /* wake accept() with a connection of our own */
    int c = socket(s->family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    getsockname(s->fd, (struct sockaddr *)&ss, &len);
    connect(c, (struct sockaddr *)&ss, len);
    pthread_join(s->thread, NULL);
    close(c);
    close(s->fd);
    pthread_mutex_destroy(&s->lock);
}

/* The last request the server saw (copied into buf). */
static const char *last_request(server_t *s, char *buf, size_t size)
{
    pthread_mutex_lock(&s->lock);
    snprintf(buf, size, "%s", s->last);
    pthread_mutex_unlock(&s->lock);
    return buf;
}

static char *url4(const char *path)
{
    static char buf[256];
    snprintf(buf, sizeof(buf), "http://127.0.0.1:%d%s", srv4.port, path);
    return buf;
}

static int group_setup(void **state)
{
    (void)state;
    if (pl_crypto_init() || pl_httpc_init())
        return -1;
    pl_httpc_set_allow_private(false);
    if (!server_start(&srv4, AF_INET))
        return -1;
    have_ip6 = server_start(&srv6, AF_INET6);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    server_stop(&srv4);
    if (have_ip6)
        server_stop(&srv6);
    curl_global_cleanup();
    return 0;
}

/* Each test starts with the guard in place. */
static int guard_on(void **state)
{
    (void)state;
    pl_httpc_set_allow_private(false);
    return 0;
}

/* ---- address classes ---- */

static bool public4(const char *text)
{
    struct sockaddr_storage ss = {.ss_family = AF_INET};
    assert_int_equal(inet_pton(AF_INET, text, &((struct sockaddr_in *)&ss)->sin_addr), 1);
    return pl_httpc_addr_public((struct sockaddr *)&ss);
}

static bool public6(const char *text)
{
    struct sockaddr_storage ss = {.ss_family = AF_INET6};
    assert_int_equal(inet_pton(AF_INET6, text, &((struct sockaddr_in6 *)&ss)->sin6_addr), 1);
    return pl_httpc_addr_public((struct sockaddr *)&ss);
}

static void ipv4_classes(void **state)
{
    (void)state;
    static const char *closed[] = {
        "0.0.0.0",         "0.255.255.255", "10.0.0.1",        "10.255.255.255",  "100.64.0.1",
        "100.127.255.254", "127.0.0.1",     "127.255.255.254", "169.254.0.1",     "169.254.169.254",
        "169.254.255.255", "172.16.0.1",    "172.31.255.255",  "192.0.0.1",       "192.0.0.170",
        "192.0.2.1",       "192.88.99.1",   "192.168.0.1",     "192.168.255.255", "198.18.0.1",
        "198.19.255.255",  "198.51.100.7",  "203.0.113.9",     "224.0.0.1",       "239.255.255.250",
        "233.252.0.1",     "240.0.0.1",     "250.1.2.3",       "255.255.255.255",
    };
    static const char *open[] = {
        "1.1.1.1",         "8.8.8.8",         "9.255.255.255", "11.0.0.1",        "100.63.255.255",
        "100.128.0.1",     "126.255.255.255", "128.0.0.1",     "169.253.255.255", "169.255.0.1",
        "172.15.255.255",  "172.32.0.1",      "192.0.1.1",     "192.0.3.1",       "192.167.255.255",
        "192.169.0.1",     "198.17.255.255",  "198.20.0.1",    "198.51.99.1",     "203.0.112.1",
        "223.255.255.255", "93.184.215.14",
    };
    for (size_t i = 0; i < PL_ARRAY_LEN(closed); i++) {
        if (public4(closed[i]))
            fail_msg("%s should not be public", closed[i]);
    }
    for (size_t i = 0; i < PL_ARRAY_LEN(open); i++) {
        if (!public4(open[i]))
            fail_msg("%s should be public", open[i]);
    }
}

static void ipv6_classes(void **state)
{
    (void)state;
    static const char *closed[] = {
        "::",
        "::1",
        "0:0:0:0:0:0:0:1",
        /* IPv4-mapped, -compatible, -translated, NAT64, 6to4 of closed IPv4 */
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "::ffff:169.254.169.254",
        "::ffff:0.0.0.0",
        "::ffff:192.168.1.1",
        "::ffff:100.64.0.1",
        "::127.0.0.1",
        "::10.0.0.1",
        "::0.0.0.2",
        "::ffff:0:127.0.0.1",
        "64:ff9b::7f00:1",
        "64:ff9b::a9fe:a9fe",
        "64:ff9b::c0a8:101",
        "2002:7f00:1::",
        "2002:a00:1::1",
        "2002:c0a8:101::",
        "2002:a9fe:a9fe::1",
        /* local-use NAT64, discard-only */
        "64:ff9b:1::1",
        "100::1",
        /* link-local, site-local, unique-local, multicast */
        "fe80::1",
        "febf:ffff::1",
        "fec0::1",
        "feff::1",
        "fc00::1",
        "fd12:3456::1",
        "ff02::1",
        "ff05::1:3",
        "ff0e::1",
        /* documentation, Teredo, benchmarking, ORCHID */
        "2001:db8::1",
        "2001:db8:ffff::1",
        "3fff::1",
        "3fff:fff::1",
        "2001::1",
        "2001:0:4136:e378:8000:63bf:3fff:fdd2",
        "2001:2::1",
        "2001:10::1",
        "2001:1ff::1",
        /* outside global unicast */
        "5f00::1",
        "4000::1",
        "1::1",
        "e000::1",
    };
    static const char *open[] = {
        "2606:4700:4700::1111",
        "2001:4860:4860::8888",
        "2a00:1450:4001::1",
        "2001:200::1",
        "2c0f:f248::1",
        "3fff:1000::1",
        "2001:db9::1",
        /* embedded public IPv4 */
        "::ffff:8.8.8.8",
        "::8.8.8.8",
        "::ffff:0:8.8.8.8",
        "64:ff9b::808:808",
        "2002:808:808::1",
    };
    for (size_t i = 0; i < PL_ARRAY_LEN(closed); i++) {
        if (public6(closed[i]))
            fail_msg("%s should not be public", closed[i]);
    }
    for (size_t i = 0; i < PL_ARRAY_LEN(open); i++) {
        if (!public6(open[i]))
            fail_msg("%s should be public", open[i]);
    }
}

static void other_families_are_not_public(void **state)
{
    (void)state;
    struct sockaddr_storage un = {.ss_family = AF_UNIX};
    assert_false(pl_httpc_addr_public((struct sockaddr *)&un));
    assert_false(pl_httpc_addr_public(NULL));
}

/* ---- URL checks ---- */

static void expect_url(const char *url, bool resolve, const char *want)
{
    const char *code = "unset";
    int rc = pl_httpc_check_url(url, resolve, &code);
    if (!want) {
        if (rc != PL_OK)
            fail_msg("%s: refused with %s", url, code);
    } else if (rc != PL_EINVAL || !code || strcmp(code, want)) {
        fail_msg("%s: want %s, got rc %d code %s", url, want, rc, code ? code : "(null)");
    }
}

static void check_url_syntax(void **state)
{
    (void)state;
    static const char *good[] = {
        "https://example.com/hook",
        "http://example.com:8080/x?y=1&z=%20",
        "HTTPS://Example.COM/",
        "https://example.com",
        "https://example.com:443",
        "https://8.8.8.8/",
        "https://[2606:4700:4700::1111]:8443/x",
        "http://a-b.example_1.com/path/../p",
        "https://xn--mnchen-3ya.de/",
    };
    static const char *bad[] = {
        "",
        "ftp://example.com/",
        "file:///etc/passwd",
        "gopher://example.com/",
        "javascript:alert(1)",
        "example.com/hook",
        "//example.com/",
        "http:/example.com/",
        "http:///example.com/",
        "http:example.com",
        "http://",
        "http:// example.com/",
        "http://user@example.com/",
        "http://user:pw@example.com/",
        "http://:pw@example.com/",
        "http://@example.com/",
        "http://example.com\\@evil.com/",
        "http://example.com/#frag",
        "http://example.com/#",
        "http://example.com:0/",
        "http://example.com:65536/",
        "http://example.com:-1/",
        "http://example.com:80a/",
        "http://exa mple.com/",
        "http://example.com/a b",
        "http://ex\tample.com/",
        "http://example.com/\r\nX: y",
        "http://m\xc3\xbcnchen.de/",
        "http://[fe80::1%25eth0]/",
        "http://[::1/",
        "http://[example.com]/",
        "http://exa%2fmple.com/",
        "http://127.0.0.1%00.example.com/",
        "http://%5B::1%5D/",
        "http://[::ffff:127.1]/",
        "http://host;x/",
    };
    for (size_t i = 0; i < PL_ARRAY_LEN(good); i++)
        expect_url(good[i], false, NULL);
    for (size_t i = 0; i < PL_ARRAY_LEN(bad); i++)
        expect_url(bad[i], false, "invalid");
    expect_url(NULL, false, "invalid");

    /* 2048 bytes pass, 2049 do not */
    char url[PL_HTTPC_URL_MAX + 2];
    size_t prefix = strlen("https://example.com/");
    memcpy(url, "https://example.com/", prefix);
    memset(url + prefix, 'a', PL_HTTPC_URL_MAX - prefix);
    url[PL_HTTPC_URL_MAX] = '\0';
    expect_url(url, false, NULL);
    url[PL_HTTPC_URL_MAX] = 'a';
    url[PL_HTTPC_URL_MAX + 1] = '\0';
    expect_url(url, false, "invalid");

    /* the code pointer is optional */
    assert_int_equal(pl_httpc_check_url("ftp://x/", false, NULL), PL_EINVAL);
}

/* Spellings of private addresses, each judged by the address it denotes. */
static const char *odd_private[] = {
    "http://127.0.0.1/",
    "http://0x7f.1/",
    "http://0x7F.0.0.1/",
    "http://0X7F.1/",
    "http://0x7f.0x0.0x0.0x1/",
    "http://127.000.000.001/",
    "http://017700000001/",
    "http://00000000000000000000177.1/",
    "http://127.0.1/",
    "http://0x0/",
    "http://2130706433/",
    "http://0177.0.0.1/",
    "http://0177.1/",
    "http://127.1/",
    "http://0x7f000001/",
    "http://%31%32%37.0.0.1/",
    "http://0/",
    "http://0.0.0.0/",
    "http://169.254.169.254/latest/meta-data/",
    "http://0xa9fea9fe/",
    "http://2852039166/",
    "http://10.1/",
    "http://0xc0.0xa8.1.1/",
    "http://[::1]/",
    "http://[0:0:0:0:0:0:0:1]:8080/",
    "http://[::]/",
    "http://[::ffff:127.0.0.1]/",
    "http://[::FFFF:127.0.0.1]/",
    "http://[::ffff:7f00:1]/",
    "http://[::0.0.0.0]/",
    "http://[0:0:0:0:0:ffff:127.0.0.1]/",
    "http://[::ffff:169.254.169.254]/",
    "http://[::127.0.0.1]/",
    "http://[64:ff9b::a9fe:a9fe]/",
    "http://[2002:7f00:1::]/",
    "http://[fe80::1]/",
    "http://[fd00::1]/",
    "http://[fec0::1]/",
    "http://[ff02::1]/",
    "https://[::ffff:10.0.0.1]:443/x",
};

static void check_url_odd_spellings(void **state)
{
    (void)state;
    for (size_t i = 0; i < PL_ARRAY_LEN(odd_private); i++) {
        expect_url(odd_private[i], true, "forbidden_address");
        /* literals are judged without a lookup too */
        expect_url(odd_private[i], false, "forbidden_address");
    }
    expect_url("http://0x08.0x08.0x08.0x08/", true, NULL);
    expect_url("http://134744072/", true, NULL); /* 8.8.8.8 */
    expect_url("http://[::ffff:8.8.8.8]/", true, NULL);
}

static void check_url_resolves(void **state)
{
    (void)state;
    expect_url("http://localhost/", true, "forbidden_address");
    expect_url("http://LOCALHOST:8080/", true, "forbidden_address");
    expect_url("http://localhost/", false, NULL); /* no lookup asked */
    expect_url("http://public.test/hook", true, NULL);
    expect_url("http://mixed.test/hook", true, "forbidden_address");
    expect_url("http://mixed6.test/hook", true, "forbidden_address");
    expect_url("http://pinned.test/hook", true, "forbidden_address");
    expect_url("https://nothing-here.invalid/", true, "unresolvable");
    expect_url("https://nothing-here.invalid/", false, NULL);
    expect_url("http://1.2.3.4.5/", true, "unresolvable");
}

static void check_url_allow_private(void **state)
{
    (void)state;
    pl_httpc_set_allow_private(true);
    assert_true(pl_httpc_allow_private());
    expect_url("http://127.0.0.1/", true, NULL);
    expect_url("http://0x7f.1/", true, NULL);
    expect_url("http://[::1]:9000/", true, NULL);
    expect_url("http://localhost/", true, NULL);
    expect_url("http://mixed.test/", true, NULL);
    /* still a URL, and still a name that resolves */
    expect_url("ftp://127.0.0.1/", true, "invalid");
    expect_url("http://user@127.0.0.1/", true, "invalid");
    expect_url("https://nothing-here.invalid/", true, "unresolvable");
    pl_httpc_set_allow_private(false);
    assert_false(pl_httpc_allow_private());
    expect_url("http://127.0.0.1/", true, "forbidden_address");
}

/* libcurl and the C library must read a spelling as the same address. */
static void disagreeing_readings_are_invalid(void **state)
{
    (void)state;
    target_t t;
    assert_int_equal(target_parse("http://127.0.0.1/", 100, &t), PL_OK);
    snprintf(t.raw_host, sizeof(t.raw_host), "%s", "8.8.8.8");
    assert_int_equal(target_judge(&t, true, true, NULL), TARGET_INVALID);
    snprintf(t.raw_host, sizeof(t.raw_host), "%s", "127.0.0.1");
    assert_int_equal(target_judge(&t, true, true, NULL), TARGET_OK);
    target_free(&t);
}

/* ---- the socket callback ---- */

static void socket_callback_refuses_private(void **state)
{
    (void)state;
    union {
        struct curl_sockaddr ca;
        unsigned char room[sizeof(struct curl_sockaddr) + sizeof(struct sockaddr_in6)];
    } u;
    xfer_t x = {0};
    struct sockaddr_in in = {.sin_family = AF_INET, .sin_port = htons(80)};
    struct sockaddr_in6 in6 = {.sin6_family = AF_INET6, .sin6_port = htons(80)};

    memset(&u, 0, sizeof(u));
    u.ca.family = AF_INET;
    u.ca.socktype = SOCK_STREAM;
    u.ca.protocol = IPPROTO_TCP;
    u.ca.addrlen = sizeof(in);
    inet_pton(AF_INET, "169.254.169.254", &in.sin_addr);
    memcpy(&u.ca.addr, &in, sizeof(in));
    assert_int_equal(open_socket(&x, CURLSOCKTYPE_IPCXN, &u.ca), CURL_SOCKET_BAD);
    assert_true(x.refused);

    x.refused = false;
    inet_pton(AF_INET, "8.8.8.8", &in.sin_addr);
    memcpy(&u.ca.addr, &in, sizeof(in));
    curl_socket_t fd = open_socket(&x, CURLSOCKTYPE_IPCXN, &u.ca);
    assert_true(fd >= 0);
    close(fd);
    assert_false(x.refused);

    u.ca.family = AF_INET6;
    u.ca.addrlen = sizeof(in6);
    inet_pton(AF_INET6, "::ffff:127.0.0.1", &in6.sin6_addr);
    memcpy(&u.ca.addr, &in6, sizeof(in6));
    assert_int_equal(open_socket(&x, CURLSOCKTYPE_IPCXN, &u.ca), CURL_SOCKET_BAD);
    assert_true(x.refused);

    /* a short address is refused, whatever it says */
    x.refused = false;
    x.allow = true;
    u.ca.addrlen = sizeof(in);
    assert_int_equal(open_socket(&x, CURLSOCKTYPE_IPCXN, &u.ca), CURL_SOCKET_BAD);

    /* allowed private targets get their socket */
    u.ca.addrlen = sizeof(in6);
    fd = open_socket(&x, CURLSOCKTYPE_IPCXN, &u.ca);
    assert_true(fd >= 0);
    close(fd);
}

static void pins_name_and_wildcard(void **state)
{
    (void)state;
    target_t t;
    addrs_t pin;
    assert_int_equal(target_parse("https://public.test:8443/x", 100, &t), PL_OK);
    assert_int_equal(target_judge(&t, true, false, &pin), TARGET_OK);
    struct curl_slist *l = pin_list(&t, &pin);
    assert_non_null(l);
    assert_string_equal(l->data,
                        "public.test:8443:93.184.215.14,[2606:2800:21f:cb07:6820:80da:af6b:8b2c]");
    assert_string_equal(l->next->data,
                        "*:8443:93.184.215.14,[2606:2800:21f:cb07:6820:80da:af6b:8b2c]");
    assert_null(l->next->next);
    curl_slist_free_all(l);
    target_free(&t);

    /* an IPv6 literal is connected to as it is */
    assert_int_equal(target_parse("https://[2606:4700:4700::1111]/", 100, &t), PL_OK);
    assert_int_equal(target_judge(&t, true, false, &pin), TARGET_OK);
    assert_null(pin_list(&t, &pin));
    target_free(&t);
}

/* ---- requests ---- */

static pl_httpc_req_t get(const char *url)
{
    return (pl_httpc_req_t){.method = "GET", .url = url, .timeout_ms = 30000};
}

static void loopback_refused_unless_allowed(void **state)
{
    (void)state;
    pl_httpc_resp_t r;
    int before = atomic_load(&srv4.accepted);
    pl_httpc_req_t q = get(url4("/ok"));
    assert_int_equal(pl_httpc_do(&q, &r), PL_EFORBIDDEN);
    assert_string_equal(r.error, "forbidden_address");
    assert_int_equal(r.status, 0);
    assert_null(r.body);
    pl_httpc_resp_free(&r);
    assert_int_equal(atomic_load(&srv4.accepted), before); /* never connected */

    q.allow_private = true;
    assert_int_equal(pl_httpc_do(&q, &r), PL_OK);
    assert_string_equal(r.error, "");
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "hello");
    assert_int_equal(r.body_len, 5);
    assert_false(r.truncated);
    assert_string_equal(r.content_type, "text/plain; charset=utf-8");
    assert_string_equal(r.etag, "\"v1\"");
    assert_string_equal(r.location, "");
    assert_true(r.duration_ms >= 0);
    pl_httpc_resp_free(&r);
    pl_httpc_resp_free(&r); /* twice is fine */
    assert_int_equal(atomic_load(&srv4.accepted), before + 1);

    /* the process-wide switch */
    q.allow_private = false;
    pl_httpc_set_allow_private(true);
    assert_int_equal(pl_httpc_do(&q, &r), PL_OK);
    assert_int_equal(r.status, 200);
    pl_httpc_resp_free(&r);
}

static void odd_spellings_refused(void **state)
{
    (void)state;
    static const char *hosts[] = {"0x7f.1",    "2130706433",         "0177.0.0.1",
                                  "127.1",     "[::ffff:127.0.0.1]", "[::1]",
                                  "localhost", "LocalHost",          "pinned.test"};
    int before = atomic_load(&srv4.accepted);
    for (size_t i = 0; i < PL_ARRAY_LEN(hosts); i++) {
        char url[128];
        snprintf(url, sizeof(url), "http://%s:%d/ok", hosts[i], srv4.port);
        pl_httpc_req_t q = get(url);
        pl_httpc_resp_t r;
        if (pl_httpc_do(&q, &r) != PL_EFORBIDDEN || strcmp(r.error, "forbidden_address"))
            fail_msg("%s: got %s", url, r.error);
        pl_httpc_resp_free(&r);
    }
    assert_int_equal(atomic_load(&srv4.accepted), before);
}

static void localhost_refused(void **state)
{
    (void)state;
    char url[128];
    snprintf(url, sizeof(url), "http://localhost:%d/ok", srv4.port);
    pl_httpc_req_t q = get(url);
    pl_httpc_resp_t r;
    assert_int_equal(pl_httpc_do(&q, &r), PL_EFORBIDDEN);
    assert_string_equal(r.error, "forbidden_address");
    pl_httpc_resp_free(&r);
    q.allow_private = true;
    assert_int_equal(pl_httpc_do(&q, &r), PL_OK);
    assert_int_equal(r.status, 200);
    pl_httpc_resp_free(&r);
}

/* curl connects to the address checked here: "pinned.test" is unknown to the
 * C library that curl's own resolver would ask. */
static void connects_to_the_checked_address(void **state)
{
    (void)state;
    char url[128], seen[REQ_MAX + 1];
    snprintf(url, sizeof(url), "http://Pinned.Test:%d/echo", srv4.port);
    pl_httpc_req_t q = get(url);
    q.allow_private = true;
    pl_httpc_resp_t r;
    assert_int_equal(pl_httpc_do(&q, &r), PL_OK);
    assert_int_equal(r.status, 200);
    pl_httpc_resp_free(&r);
    char host[64];
    snprintf(host, sizeof(host), "\r\nHost: Pinned.Test:%d\r\n", srv4.port);
    assert_non_null(strstr(last_request(&srv4, seen, sizeof(seen)), host));
}

static void redirect_reported_not_followed(void **state)
{
    (void)state;
    pl_httpc_req_t q = get(url4("/redirect"));
    q.allow_private = true;
    pl_httpc_resp_t r;
    int before = atomic_load(&srv4.accepted);
    assert_int_equal(pl_httpc_do(&q, &r), PL_OK);
    assert_int_equal(r.status, 302);
    assert_string_equal(r.location, "http://169.254.169.254/latest/meta-data/");
    assert_string_equal(r.body, "");
    pl_httpc_resp_free(&r);
    assert_int_equal(atomic_load(&srv4.accepted), before + 1);

    /* a relative target is reported absolute */
    q.url = url4("/relative");
    assert_int_equal(pl_httpc_do(&q, &r), PL_OK);
    assert_int_equal(r.status, 301);
    char want[128];
    snprintf(want, sizeof(want), "http://127.0.0.1:%d/next?a=1", srv4.port);
    assert_string_equal(r.location, want);
    pl_httpc_resp_free(&r);

    /* a Location outside a redirect is reported as sent */
    q.url = url4("/created");
    assert_int_equal(pl_httpc_do(&q, &r), PL_OK);
    assert_int_equal(r.status, 201);
    assert_string_equal(r.location, "/things/1");
    pl_httpc_resp_free(&r);
}

static void body_truncated_to_max_response(void **state)
{
    (void)state;
    pl_httpc_req_t q = get(url4("/big"));
    q.allow_private = true;
    pl_httpc_resp_t r;
    assert_int_equal(pl_httpc_do(&q, &r), PL_OK);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body_len, PL_HTTPC_MAX_RESPONSE);
    assert_int_equal(strlen(r.body), PL_HTTPC_MAX_RESPONSE);
    assert_true(r.truncated);
    assert_memory_equal(r.body, "abcdefghijklmnopqrstuvwxyzabc", 29);
    pl_httpc_resp_free(&r);

    q.max_response = 10;
    assert_int_equal(pl_httpc_do(&q, &r), PL_OK);
    assert_int_equal(r.body_len, 10);
    assert_string_equal(r.body, "abcdefghij");
    assert_true(r.truncated);
    pl_httpc_resp_free(&r);

    q.max_response = 100000; /* exactly the body */
    assert_int_equal(pl_httpc_do(&q, &r), PL_OK);
    assert_int_equal(r.body_len, 100000);
    assert_false(r.truncated);
    pl_httpc_resp_free(&r);
}

/* A body without end: the rest is dropped up to the cap, then the transfer
 * stops and the call still succeeds. */
static void endless_body_stops(void **state)
{
    (void)state;
    pl_httpc_req_t q = get(url4("/endless"));
    q.allow_private = true;
    pl_httpc_resp_t r;
    assert_int_equal(pl_httpc_do(&q, &r), PL_OK);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body_len, PL_HTTPC_MAX_RESPONSE);
    assert_true(r.truncated);
    assert_string_equal(r.error, "");
    pl_httpc_resp_free(&r);
}

static void silent_server_times_out(void **state)
{
    (void)state;
    pl_httpc_req_t q = get(url4("/silent"));
    q.allow_private = true;
    q.timeout_ms = 300;
    pl_httpc_resp_t r;
    assert_int_equal(pl_httpc_do(&q, &r), PL_EBUSY);
    assert_string_equal(r.error, "timeout");
    assert_int_equal(r.status, 0);
    assert_null(r.body);
    assert_true(r.duration_ms >= 250);
    assert_true(r.duration_ms < 15000);
    pl_httpc_resp_free(&r);
}

static void nothing_listening_is_connect_failed(void **state)
{
    (void)state;
    /* a port that was free a moment ago */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, len), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/", ntohs(a.sin_port));
    pl_httpc_req_t q = get(url);
    q.allow_private = true;
    pl_httpc_resp_t r;
    assert_int_equal(pl_httpc_do(&q, &r), PL_EBUSY);
    assert_string_equal(r.error, "connect_failed");
    pl_httpc_resp_free(&r);
}

static void bad_requests(void **state)
{
    (void)state;
    pl_httpc_resp_t r;
    pl_httpc_req_t q = get("ftp://127.0.0.1/");
    assert_int_equal(pl_httpc_do(&q, &r), PL_EINVAL);
    assert_string_equal(r.error, "invalid_url");
    pl_httpc_resp_free(&r);

    q = get("http://user:secret@127.0.0.1/");
    assert_int_equal(pl_httpc_do(&q, &r), PL_EINVAL);
    assert_string_equal(r.error, "invalid_url");
    pl_httpc_resp_free(&r);

    q = get("https://nothing-here.invalid/");
    assert_int_equal(pl_httpc_do(&q, &r), PL_EBUSY);
    assert_string_equal(r.error, "dns");
    pl_httpc_resp_free(&r);

    const char *crlf[] = {"X-Ok: 1", "X-Evil: a\r\nHost: other", NULL};
    const char *noname[] = {": value", NULL};
    const char *space[] = {"Bad Name: value", NULL};
    const char *const *headers[] = {crlf, noname, space};
    for (size_t i = 0; i < PL_ARRAY_LEN(headers); i++) {
        q = get(url4("/echo"));
        q.allow_private = true;
        q.headers = headers[i];
        assert_int_equal(pl_httpc_do(&q, &r), PL_EINVAL);
        assert_string_equal(r.error, "invalid_request");
        pl_httpc_resp_free(&r);
    }

    q = get(url4("/echo"));
    q.allow_private = true;
    q.body = "x";
    q.body_len = 1;
    assert_int_equal(pl_httpc_do(&q, &r), PL_EINVAL); /* GET with a body */
    assert_string_equal(r.error, "invalid_request");
    pl_httpc_resp_free(&r);

    q.method = "TRACE";
    assert_int_equal(pl_httpc_do(&q, &r), PL_EINVAL);
    assert_string_equal(r.error, "invalid_request");
    pl_httpc_resp_free(&r);
}

static const char *header_value(const char *req, const char *name, char *out, size_t size)
{
    char key[128];
    snprintf(key, sizeof(key), "\r\n%s:", name);
    const char *p = strcasestr(req, key);
    if (!p)
        return NULL;
    p += strlen(key);
    while (*p == ' ')
        p++;
    size_t n = strcspn(p, "\r\n");
    snprintf(out, size, "%.*s", (int)n, p);
    return out;
}

typedef struct {
    const char *data;
    size_t left;
    size_t chunk;
} reader_t;

static long read_some(void *cls, char *buf, size_t max)
{
    reader_t *rd = cls;
    size_t n = rd->left < rd->chunk ? rd->left : rd->chunk;
    if (n > max)
        n = max;
    memcpy(buf, rd->data, n);
    rd->data += n;
    rd->left -= n;
    return (long)n;
}

static long read_fails(void *cls, char *buf, size_t max)
{
    (void)cls;
    (void)buf;
    (void)max;
    return -1;
}

static void methods_bodies_and_headers(void **state)
{
    (void)state;
    char seen[REQ_MAX + 1], v[256];
    pl_httpc_resp_t r;
    const char *json_headers[] = {"Content-Type: application/json", "X-Trace: abc", NULL};

    pl_httpc_req_t q = get(url4("/echo?a=1&b=2"));
    q.method = "POST";
    q.allow_private = true;
    q.headers = json_headers;
    q.body = "{\"a\":1}";
    q.body_len = 7;
    q.max_response = 65536;
    assert_int_equal(pl_httpc_do(&q, &r), PL_OK);
    assert_int_equal(r.status, 200);
    pl_httpc_resp_free(&r);
    last_request(&srv4, seen, sizeof(seen));
    assert_true(starts_with(seen, "POST /echo?a=1&b=2 HTTP/1.1\r\n"));
    assert_string_equal(header_value(seen, "Content-Type", v, sizeof(v)), "application/json");
    assert_string_equal(header_value(seen, "Content-Length", v, sizeof(v)), "7");
    assert_string_equal(header_value(seen, "X-Trace", v, sizeof(v)), "abc");
    assert_string_equal(header_value(seen, "User-Agent", v, sizeof(v)), "plinth/" PL_VERSION);
    assert_null(header_value(seen, "Accept-Encoding", v, sizeof(v)));
    assert_string_equal(strstr(seen, "\r\n\r\n") + 4, "{\"a\":1}");

    /* a body without a content type is not sent as a form */
    q.method = "PUT";
    q.headers = NULL;
    assert_int_equal(pl_httpc_do(&q, &r), PL_OK);
    pl_httpc_resp_free(&r);
    last_request(&srv4, seen, sizeof(seen));
    assert_true(starts_with(seen, "PUT /echo?a=1&b=2 HTTP/1.1\r\n"));
    assert_string_equal(header_value(seen, "Content-Type", v, sizeof(v)),
                        "application/octet-stream");

    /* a streamed upload, in small pieces */
    static char payload[20000];
    for (size_t i = 0; i < sizeof(payload); i++)
        payload[i] = (char)('A' + i % 23);
    reader_t rd = {payload, sizeof(payload), 777};
    q = get(url4("/echo"));
    q.method = "PUT";
    q.allow_private = true;
    q.read_body = read_some;
    q.read_cls = &rd;
    q.body_len = sizeof(payload);
    assert_int_equal(pl_httpc_do(&q, &r), PL_OK);
    assert_int_equal(r.status, 200);
    pl_httpc_resp_free(&r);
    last_request(&srv4, seen, sizeof(seen));
    assert_true(starts_with(seen, "PUT /echo HTTP/1.1\r\n"));
    assert_string_equal(header_value(seen, "Content-Length", v, sizeof(v)), "20000");
    const char *body = strstr(seen, "\r\n\r\n") + 4;
    assert_int_equal(strlen(body), sizeof(payload));
    assert_memory_equal(body, payload, sizeof(payload));

    /* a failing reader aborts */
    q.read_body = read_fails;
    assert_int_equal(pl_httpc_do(&q, &r), PL_EBUSY);
    assert_string_equal(r.error, "aborted");
    pl_httpc_resp_free(&r);

    /* DELETE without a body, PATCH with one, HEAD */
    q = get(url4("/echo"));
    q.allow_private = true;
    q.method = "DELETE";
    assert_int_equal(pl_httpc_do(&q, &r), PL_OK);
    pl_httpc_resp_free(&r);
    last_request(&srv4, seen, sizeof(seen));
    assert_true(starts_with(seen, "DELETE /echo HTTP/1.1\r\n"));
    assert_null(header_value(seen, "Content-Length", v, sizeof(v)));

    q.method = "PATCH";
    q.body = "p";
    q.body_len = 1;
    assert_int_equal(pl_httpc_do(&q, &r), PL_OK);
    pl_httpc_resp_free(&r);
    last_request(&srv4, seen, sizeof(seen));
    assert_true(starts_with(seen, "PATCH /echo HTTP/1.1\r\n"));

    q = get(url4("/ok"));
    q.allow_private = true;
    q.method = "HEAD";
    assert_int_equal(pl_httpc_do(&q, &r), PL_OK);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "");
    assert_string_equal(r.etag, "\"v1\"");
    pl_httpc_resp_free(&r);
    last_request(&srv4, seen, sizeof(seen));
    assert_true(starts_with(seen, "HEAD /ok HTTP/1.1\r\n"));

    /* an empty POST still says what it carries */
    q = get(url4("/echo"));
    q.allow_private = true;
    q.method = "POST";
    assert_int_equal(pl_httpc_do(&q, &r), PL_OK);
    pl_httpc_resp_free(&r);
    last_request(&srv4, seen, sizeof(seen));
    assert_true(starts_with(seen, "POST /echo HTTP/1.1\r\n"));
    assert_string_equal(header_value(seen, "Content-Length", v, sizeof(v)), "0");
    assert_string_equal(header_value(seen, "Content-Type", v, sizeof(v)),
                        "application/octet-stream");

    /* basic auth */
    q = get(url4("/echo"));
    q.allow_private = true;
    q.userpwd = "user:pass";
    assert_int_equal(pl_httpc_do(&q, &r), PL_OK);
    pl_httpc_resp_free(&r);
    last_request(&srv4, seen, sizeof(seen));
    assert_string_equal(header_value(seen, "Authorization", v, sizeof(v)), "Basic dXNlcjpwYXNz");
}

/* Proxies named by the environment are not used: the request goes straight
 * to the target, in origin form. */
static void environment_proxies_ignored(void **state)
{
    (void)state;
    char proxy[64], seen[REQ_MAX + 1];
    snprintf(proxy, sizeof(proxy), "http://127.0.0.1:%d", srv4.port);
    static const char *vars[] = {"http_proxy", "HTTPS_PROXY", "ALL_PROXY", "all_proxy"};
    for (size_t i = 0; i < PL_ARRAY_LEN(vars); i++)
        setenv(vars[i], proxy, 1);
    pl_httpc_req_t q = get(url4("/echo"));
    q.allow_private = true;
    pl_httpc_resp_t r;
    int rc = pl_httpc_do(&q, &r);
    for (size_t i = 0; i < PL_ARRAY_LEN(vars); i++)
        unsetenv(vars[i]);
    assert_int_equal(rc, PL_OK);
    pl_httpc_resp_free(&r);
    assert_true(starts_with(last_request(&srv4, seen, sizeof(seen)), "GET /echo HTTP/1.1\r\n"));
}

/* A URL longer than a stored one may still be requested, up to its own cap. */
static void request_url_length(void **state)
{
    (void)state;
    static char url[PL_HTTPC_REQUEST_URL_MAX + 2];
    int n = snprintf(url, sizeof(url), "http://127.0.0.1:%d/echo?q=", srv4.port);
    memset(url + n, 'q', 3000);
    url[n + 3000] = '\0';
    assert_int_equal(pl_httpc_check_url(url, false, NULL), PL_EINVAL);
    pl_httpc_req_t q = get(url);
    q.allow_private = true;
    pl_httpc_resp_t r;
    assert_int_equal(pl_httpc_do(&q, &r), PL_OK);
    assert_int_equal(r.status, 200);
    pl_httpc_resp_free(&r);

    memset(url + n, 'q', sizeof(url) - 1 - (size_t)n);
    url[sizeof(url) - 1] = '\0';
    assert_int_equal(pl_httpc_do(&q, &r), PL_EINVAL);
    assert_string_equal(r.error, "invalid_url");
    pl_httpc_resp_free(&r);
}

typedef struct {
    size_t total;
    size_t calls;
    size_t stop_after;
} sink_t;

static int collect(void *cls, const char *data, size_t n)
{
    sink_t *s = cls;
    (void)data;
    s->total += n;
    s->calls++;
    return s->stop_after && s->total >= s->stop_after;
}

static void streamed_download(void **state)
{
    (void)state;
    sink_t s = {0};
    pl_httpc_req_t q = get(url4("/big"));
    q.allow_private = true;
    q.on_data = collect;
    q.data_cls = &s;
    pl_httpc_resp_t r;
    assert_int_equal(pl_httpc_do(&q, &r), PL_OK);
    assert_int_equal(r.status, 200);
    assert_null(r.body);
    assert_int_equal(r.body_len, 0);
    assert_int_equal(s.total, 100000);
    pl_httpc_resp_free(&r);

    s = (sink_t){.stop_after = 1};
    assert_int_equal(pl_httpc_do(&q, &r), PL_EBUSY);
    assert_string_equal(r.error, "aborted");
    assert_int_equal(r.status, 200);
    assert_int_equal(s.calls, 1);
    pl_httpc_resp_free(&r);
}

static void header_limits(void **state)
{
    (void)state;
    pl_httpc_req_t q = get(url4("/header-flood"));
    q.allow_private = true;
    pl_httpc_resp_t r;
    assert_int_equal(pl_httpc_do(&q, &r), PL_ELIMIT);
    assert_string_equal(r.error, "too_large");
    pl_httpc_resp_free(&r);

    /* a value too long for its field is dropped, not cut */
    q.url = url4("/long-etag");
    assert_int_equal(pl_httpc_do(&q, &r), PL_OK);
    assert_string_equal(r.etag, "");
    assert_string_equal(r.content_type, "text/plain");
    pl_httpc_resp_free(&r);
}

static void ipv6_loopback(void **state)
{
    (void)state;
    if (!have_ip6)
        skip();
    char url[128];
    snprintf(url, sizeof(url), "http://[::1]:%d/ok", srv6.port);
    pl_httpc_req_t q = get(url);
    pl_httpc_resp_t r;
    assert_int_equal(pl_httpc_do(&q, &r), PL_EFORBIDDEN);
    assert_string_equal(r.error, "forbidden_address");
    pl_httpc_resp_free(&r);
    q.allow_private = true;
    assert_int_equal(pl_httpc_do(&q, &r), PL_OK);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "hello");
    pl_httpc_resp_free(&r);
}

static atomic_int concurrent_failures;

static void *request_loop(void *arg)
{
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/ok", srv4.port);
    (void)arg;
    for (int i = 0; i < 5; i++) {
        pl_httpc_req_t q = get(url);
        q.allow_private = true;
        pl_httpc_resp_t r;
        if (pl_httpc_do(&q, &r) != PL_OK || r.status != 200 || strcmp(r.body, "hello"))
            atomic_fetch_add(&concurrent_failures, 1);
        pl_httpc_resp_free(&r);
        /* and a refused one in between */
        q.allow_private = false;
        if (pl_httpc_do(&q, &r) != PL_EFORBIDDEN)
            atomic_fetch_add(&concurrent_failures, 1);
        pl_httpc_resp_free(&r);
    }
    return NULL;
}

static void requests_from_many_threads(void **state)
{
    (void)state;
    pthread_t t[4];
    for (size_t i = 0; i < PL_ARRAY_LEN(t); i++)
        assert_int_equal(pthread_create(&t[i], NULL, request_loop, NULL), 0);
    for (size_t i = 0; i < PL_ARRAY_LEN(t); i++)
        pthread_join(t[i], NULL);
    assert_int_equal(atomic_load(&concurrent_failures), 0);
}

/* ---- SigV4, checked against an independent computation ---- */

static void hex(const unsigned char *in, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", in[i]);
}

/* Recomputes the AWS Signature Version 4 of a request as the server saw it:
 * canonical query sorted, signed headers from the Authorization header. */
static void expect_valid_sigv4(const char *seen, const char *secret, const char *region,
                               const char *service)
{
    char auth[1024], date[32], method[16], target[1024], v[1024];
    assert_non_null(header_value(seen, "Authorization", auth, sizeof(auth)));
    assert_non_null(header_value(seen, "x-amz-date", date, sizeof(date)));
    assert_int_equal(sscanf(seen, "%15s %1023s", method, target), 2);

    char *query = strchr(target, '?');
    if (query)
        *query++ = '\0';
    /* canonical query: the parameters sorted */
    char canon_query[1024] = "";
    if (query) {
        char *params[32];
        int n = 0;
        for (char *save, *p = strtok_r(query, "&", &save); p && n < 32;
             p = strtok_r(NULL, "&", &save))
            params[n++] = p;
        for (int i = 0; i < n; i++)
            for (int j = i + 1; j < n; j++)
                if (strcmp(params[j], params[i]) < 0) {
                    char *t = params[i];
                    params[i] = params[j];
                    params[j] = t;
                }
        for (int i = 0; i < n; i++) {
            strncat(canon_query, i ? "&" : "", sizeof(canon_query) - strlen(canon_query) - 1);
            strncat(canon_query, params[i], sizeof(canon_query) - strlen(canon_query) - 1);
            if (!strchr(params[i], '='))
                strncat(canon_query, "=", sizeof(canon_query) - strlen(canon_query) - 1);
        }
    }

    const char *sh = strstr(auth, "SignedHeaders=");
    assert_non_null(sh);
    sh += strlen("SignedHeaders=");
    char signed_headers[512];
    snprintf(signed_headers, sizeof(signed_headers), "%.*s", (int)strcspn(sh, ","), sh);

    pl_buf_t canon;
    pl_buf_init(&canon, 1 << 16);
    pl_buf_appendf(&canon, "%s\n%s\n%s\n", method, target, canon_query);
    char names[512];
    snprintf(names, sizeof(names), "%s", signed_headers);
    for (char *save, *name = strtok_r(names, ";", &save); name; name = strtok_r(NULL, ";", &save)) {
        assert_non_null(header_value(seen, name, v, sizeof(v)));
        pl_buf_appendf(&canon, "%s:%s\n", name, v);
    }
    char payload_hash[128];
    assert_non_null(header_value(seen, "x-amz-content-sha256", payload_hash, sizeof(payload_hash)));
    if (strcmp(payload_hash, "UNSIGNED-PAYLOAD")) {
        char body_hash[65];
        const char *body = strstr(seen, "\r\n\r\n") + 4;
        pl_sha256_hex(body, strlen(body), body_hash);
        assert_string_equal(payload_hash, body_hash);
    }
    pl_buf_appendf(&canon, "\n%s\n%s", signed_headers, payload_hash);

    char canon_hash[65], scope[128], sts[512], day[9];
    pl_sha256_hex(canon.ptr, canon.len, canon_hash);
    pl_buf_free(&canon);
    snprintf(day, sizeof(day), "%.8s", date);
    snprintf(scope, sizeof(scope), "%s/%s/%s/aws4_request", day, region, service);
    snprintf(sts, sizeof(sts), "AWS4-HMAC-SHA256\n%s\n%s\n%s", date, scope, canon_hash);

    unsigned char k[32];
    char key[128];
    snprintf(key, sizeof(key), "AWS4%s", secret);
    pl_hmac_sha256(key, strlen(key), day, strlen(day), k);
    pl_hmac_sha256(k, 32, region, strlen(region), k);
    pl_hmac_sha256(k, 32, service, strlen(service), k);
    pl_hmac_sha256(k, 32, "aws4_request", 12, k);
    pl_hmac_sha256(k, 32, sts, strlen(sts), k);
    char sig[65];
    hex(k, 32, sig);
    const char *got = strstr(auth, "Signature=");
    assert_non_null(got);
    assert_string_equal(got + strlen("Signature="), sig);
    char cred[256];
    snprintf(cred, sizeof(cred), "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/%s,", scope);
    assert_true(starts_with(auth, cred));
}

static void sigv4_signs_what_is_sent(void **state)
{
    (void)state;
    const char *secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    char seen[REQ_MAX + 1], v[128];
    pl_httpc_resp_t r;

    /* a GET: the hash of the empty body is sent and signed */
    pl_httpc_req_t q = get(url4("/echo/bucket/key.txt"));
    q.allow_private = true;
    q.aws_sigv4 = "aws:amz:eu-west-1:s3";
    q.userpwd = "AKIDEXAMPLE:wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    assert_int_equal(pl_httpc_do(&q, &r), PL_OK);
    assert_int_equal(r.status, 200);
    pl_httpc_resp_free(&r);
    last_request(&srv4, seen, sizeof(seen));
    assert_string_equal(header_value(seen, "x-amz-content-sha256", v, sizeof(v)),
                        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    expect_valid_sigv4(seen, secret, "eu-west-1", "s3");

    /* a part upload: parameters given in sorted order, body hashed */
    const char *headers[] = {"Content-Type: text/plain", "x-amz-meta-owner: plinth", NULL};
    q.url = url4("/echo/bucket/key.txt?partNumber=2&uploadId=Xy.z-1_");
    q.method = "PUT";
    q.headers = headers;
    q.body = "part two";
    q.body_len = 8;
    assert_int_equal(pl_httpc_do(&q, &r), PL_OK);
    pl_httpc_resp_free(&r);
    last_request(&srv4, seen, sizeof(seen));
    expect_valid_sigv4(seen, secret, "eu-west-1", "s3");

    /* a streamed upload is sent as UNSIGNED-PAYLOAD; "uploads=" spelled out */
    reader_t rd = {"streamed", 8, 3};
    q.url = url4("/echo/bucket/key.txt?uploads=");
    q.method = "POST";
    q.headers = NULL;
    q.body = NULL;
    q.read_body = read_some;
    q.read_cls = &rd;
    assert_int_equal(pl_httpc_do(&q, &r), PL_OK);
    pl_httpc_resp_free(&r);
    last_request(&srv4, seen, sizeof(seen));
    assert_string_equal(header_value(seen, "x-amz-content-sha256", v, sizeof(v)),
                        "UNSIGNED-PAYLOAD");
    expect_valid_sigv4(seen, secret, "eu-west-1", "s3");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ipv4_classes),
        cmocka_unit_test(ipv6_classes),
        cmocka_unit_test(other_families_are_not_public),
        cmocka_unit_test_setup(check_url_syntax, guard_on),
        cmocka_unit_test_setup(check_url_odd_spellings, guard_on),
        cmocka_unit_test_setup(check_url_resolves, guard_on),
        cmocka_unit_test_setup(check_url_allow_private, guard_on),
        cmocka_unit_test_setup(disagreeing_readings_are_invalid, guard_on),
        cmocka_unit_test_setup(socket_callback_refuses_private, guard_on),
        cmocka_unit_test_setup(pins_name_and_wildcard, guard_on),
        cmocka_unit_test_setup(loopback_refused_unless_allowed, guard_on),
        cmocka_unit_test_setup(odd_spellings_refused, guard_on),
        cmocka_unit_test_setup(localhost_refused, guard_on),
        cmocka_unit_test_setup(connects_to_the_checked_address, guard_on),
        cmocka_unit_test_setup(redirect_reported_not_followed, guard_on),
        cmocka_unit_test_setup(body_truncated_to_max_response, guard_on),
        cmocka_unit_test_setup(endless_body_stops, guard_on),
        cmocka_unit_test_setup(silent_server_times_out, guard_on),
        cmocka_unit_test_setup(nothing_listening_is_connect_failed, guard_on),
        cmocka_unit_test_setup(bad_requests, guard_on),
        cmocka_unit_test_setup(methods_bodies_and_headers, guard_on),
        cmocka_unit_test_setup(environment_proxies_ignored, guard_on),
        cmocka_unit_test_setup(request_url_length, guard_on),
        cmocka_unit_test_setup(streamed_download, guard_on),
        cmocka_unit_test_setup(header_limits, guard_on),
        cmocka_unit_test_setup(ipv6_loopback, guard_on),
        cmocka_unit_test_setup(requests_from_many_threads, guard_on),
        cmocka_unit_test_setup(sigv4_signs_what_is_sent, guard_on),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
