/*
 * sse_client: the stream side of bench/streams.
 *
 *   sse_client PORT PATH TOKEN N EVENTS TIMEOUT_S
 *
 * Opens N event streams (GET PATH with the bearer TOKEN) to 127.0.0.1:PORT and
 * reads each up to its first comment, then prints "ready" on stdout. From then
 * on it reads every stream with one epoll loop and, for each event message, takes
 * the latency from the event's created_at (the server's clock, inside its
 * transaction) to the epoll_wait return that reported the stream readable (this
 * machine's clock: the same one). After N x EVENTS messages, or TIMEOUT_S seconds,
 * it prints "deliveries P50_MS P99_MS MAX_MS" and exits 0 (1 on a setup error).
 * A C client, so that reading a thousand sockets does not itself add the latency
 * it measures.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define CARRY 512

typedef struct {
    int fd;
    size_t carry_len;
    char carry[CARRY];
} conn_t;

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

/* "YYYY-MM-DDTHH:MM:SS.mmm" (UTC) in ms since the epoch; -1 when malformed. */
static double parse_time(const char *s)
{
    struct tm tm = {0};
    int ms = 0;
    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d.%3d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
               &tm.tm_min, &tm.tm_sec, &ms) != 7)
        return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (double)timegm(&tm) * 1000.0 + ms;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int dial(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        perror("sse_client: connect");
        exit(1);
    }
    return fd;
}

/* Reads fd until its first SSE comment (": connected"). */
static void wait_head(int fd)
{
    char buf[4096];
    size_t have = 0;
    while (have < sizeof(buf) - 1) {
        ssize_t n = read(fd, buf + have, sizeof(buf) - 1 - have);
        if (n <= 0) {
            fprintf(stderr, "sse_client: stream closed before it opened\n");
            exit(1);
        }
        have += (size_t)n;
        buf[have] = '\0';
        if (strstr(buf, "\n: ")) {
            if (strncmp(buf, "HTTP/1.1 200", 12) != 0) {
                fprintf(stderr, "sse_client: %.60s\n", buf);
                exit(1);
            }
            return;
        }
    }
    fprintf(stderr, "sse_client: no stream head\n");
    exit(1);
}

int main(int argc, char **argv)
{
    if (argc != 7) {
        fprintf(stderr, "usage: sse_client PORT PATH TOKEN N EVENTS TIMEOUT_S\n");
        return 1;
    }
    int port = atoi(argv[1]), n = atoi(argv[4]), events = atoi(argv[5]);
    double timeout = atof(argv[6]) * 1000.0;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    char req[4096];
    int len = snprintf(req, sizeof(req),
                       "GET %s HTTP/1.1\r\nHost: bench\r\nAccept: text/event-stream\r\n"
                       "Authorization: Bearer %s\r\n\r\n",
                       argv[2], argv[3]);
    conn_t *c = calloc((size_t)n, sizeof(*c));
    int ep = epoll_create1(0);
    for (int i = 0; i < n; i++) {
        c[i].fd = dial(port);
        if (write(c[i].fd, req, (size_t)len) != len) {
            perror("sse_client: write");
            return 1;
        }
    }
    for (int i = 0; i < n; i++) {
        wait_head(c[i].fd);
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &c[i]};
        epoll_ctl(ep, EPOLL_CTL_ADD, c[i].fd, &ev);
    }
    printf("ready\n");
    fflush(stdout);

    size_t want = (size_t)n * (size_t)events, got = 0;
    double *lat = malloc(want * sizeof(double));
    double deadline = now_ms() + timeout;
    static char buf[1 << 16];
    struct epoll_event ready[256];
    while (got < want && now_ms() < deadline) {
        int k = epoll_wait(ep, ready, 256, 1000);
        double t = now_ms();
        for (int j = 0; j < k; j++) {
            conn_t *cn = ready[j].data.ptr;
            memcpy(buf, cn->carry, cn->carry_len);
            ssize_t r = read(cn->fd, buf + cn->carry_len, sizeof(buf) - cn->carry_len - 1);
            if (r <= 0) {
                epoll_ctl(ep, EPOLL_CTL_DEL, cn->fd, NULL);
                continue;
            }
            size_t total = cn->carry_len + (size_t)r, used = 0;
            buf[total] = '\0';
            /* every event message ends with its created_at: ...","created_at":"<t>Z"}\n\n */
            for (char *p = buf; (p = strstr(p, "\"created_at\":\""));) {
                char *end = strstr(p, "Z\"}\n\n");
                if (!end)
                    break;
                double at = parse_time(p + 14);
                if (at > 0 && got < want)
                    lat[got++] = t - at;
                p = end + 5;
                used = (size_t)(p - buf);
            }
            size_t rest = total - used;
            if (rest > CARRY) { /* no message is longer: keep the tail */
                used = total - CARRY;
                rest = CARRY;
            }
            memmove(cn->carry, buf + used, rest);
            cn->carry_len = rest;
        }
    }
    if (!got) {
        printf("0 0 0 0\n");
        return 0;
    }
    qsort(lat, got, sizeof(double), cmp);
    printf("%zu %.1f %.1f %.1f\n", got, lat[(got - 1) / 2], lat[(size_t)((double)(got - 1) * 0.99)],
           lat[got - 1]);
    for (int i = 0; i < n; i++)
        close(c[i].fd);
    free(lat);
    free(c);
    return 0;
}
