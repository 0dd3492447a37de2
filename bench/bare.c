/*
 * bare: the baseline `make bench` compares plinth against.
 *
 * A libmicrohttpd server with plinth's thread model (internal epoll thread pool,
 * --threads threads, 30 s connection timeout) that answers every request with the
 * fixed body {"status":"ok"} and Content-Type: application/json. Nothing else: no
 * routing, no logging, no database. Whatever plinth costs above this is plinth's.
 *
 *   bare [serve] [--http ADDR:PORT] [--threads N] [--data DIR] [--workers N]
 *
 * `serve`, --data and --workers are accepted and ignored so that bare can stand in
 * for plinth in bench/run (PLINTH_BENCH_BIN=build/bare) when testing the bench
 * itself. Exits 0 on SIGTERM or SIGINT, 2 on a bad flag, 1 if it cannot listen.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static const char body[] = "{\"status\":\"ok\"}";

static void usage(FILE *out)
{
    fputs("usage: bare [serve] [--http ADDR:PORT] [--threads N]\n"
          "  --http ADDR:PORT  listen address (default 127.0.0.1:8081; IPv4 or [IPv6]:PORT)\n"
          "  --threads N       thread pool size (default 2 x cores)\n"
          "  --data, --workers accepted and ignored (plinth's flags)\n",
          out);
}

static int parse_uint(const char *s, long min, long max, long *out)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno || end == s || *end != '\0' || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

/* Fills ss from "A.B.C.D:PORT" or "[v6]:PORT". Returns 0, or -1 if malformed. */
static int parse_addr(const char *s, struct sockaddr_storage *ss)
{
    char host[INET6_ADDRSTRLEN + 2];
    const char *colon = strrchr(s, ':');
    size_t hlen;
    long port;

    if (colon == NULL || parse_uint(colon + 1, 1, 65535, &port))
        return -1;
    hlen = (size_t)(colon - s);
    if (hlen >= 2 && s[0] == '[' && s[hlen - 1] == ']') {
        s++;
        hlen -= 2;
    }
    if (hlen == 0 || hlen >= sizeof host)
        return -1;
    memcpy(host, s, hlen);
    host[hlen] = '\0';

    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons((uint16_t)port);
        return 0;
    }
    if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        return 0;
    }
    return -1;
}

/*
 * The usual two-phase handler: the first call only marks the connection, later
 * calls swallow any upload, and the last one queues the shared response. plinth
 * does the same, so the number of callbacks per request is comparable.
 */
static enum MHD_Result answer(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload_data,
                              size_t *upload_data_size, void **req_cls)
{
    static int seen;
    struct MHD_Response *resp = cls;

    (void)url;
    (void)method;
    (void)version;
    (void)upload_data;
    if (*req_cls == NULL) {
        *req_cls = &seen;
        return MHD_YES;
    }
    if (*upload_data_size != 0) {
        *upload_data_size = 0;
        return MHD_YES;
    }
    return MHD_queue_response(conn, MHD_HTTP_OK, resp);
}

int main(int argc, char **argv)
{
    const char *http = "127.0.0.1:8081";
    long threads = 0, ignored;
    struct sockaddr_storage addr;
    int i = 1;

    if (i < argc && strcmp(argv[i], "serve") == 0)
        i++;
    for (; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "bare: %s: missing value or unknown flag\n", a);
            usage(stderr);
            return 2;
        }
        const char *v = argv[++i];
        if (strcmp(a, "--http") == 0) {
            http = v;
        } else if (strcmp(a, "--threads") == 0) {
            if (parse_uint(v, 1, 1024, &threads)) {
                fprintf(stderr, "bare: --threads: expected 1..1024, got '%s'\n", v);
                return 2;
            }
        } else if (strcmp(a, "--data") == 0) {
            /* ignored */
        } else if (strcmp(a, "--workers") == 0) {
            if (parse_uint(v, 0, 1024, &ignored)) {
                fprintf(stderr, "bare: --workers: expected a number, got '%s'\n", v);
                return 2;
            }
        } else {
            fprintf(stderr, "bare: unknown flag %s\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (parse_addr(http, &addr)) {
        fprintf(stderr, "bare: --http: expected ADDR:PORT, got '%s'\n", http);
        return 2;
    }
    if (threads == 0) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        threads = 2 * (cores > 0 ? cores : 1);
    }

    /* Block the signals before MHD starts its threads so they all inherit the
     * mask and the main thread alone receives them in sigwait(). */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);

    struct MHD_Response *resp =
        MHD_create_response_from_buffer(sizeof body - 1, (void *)body, MHD_RESPMEM_PERSISTENT);
    if (resp == NULL || MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                                                "application/json") != MHD_YES) {
        fputs("bare: cannot create the response\n", stderr);
        return 1;
    }

    unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG;
    if (addr.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    struct MHD_Daemon *d = MHD_start_daemon(
        flags, 0, NULL, NULL, answer, resp, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)threads, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned int)30, MHD_OPTION_END);
    if (d == NULL) {
        fprintf(stderr, "bare: cannot listen on %s\n", http);
        MHD_destroy_response(resp);
        return 1;
    }
    fprintf(stderr, "bare: listening on %s with %ld threads\n", http, threads);

    int sig;
    while (sigwait(&stop, &sig) != 0)
        ;
    MHD_stop_daemon(d);
    MHD_destroy_response(resp);
    fprintf(stderr, "bare: stopped (signal %d)\n", sig);
    return 0;
}
