/* conns.c - connections per address and request deadlines (see conns.h). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "core/config.h"
#include "core/metrics.h"
#include "http/clientip.h"
#include "http/conns.h"

#define SHARDS      64
#define BUCKETS     64  /* per shard */
#define WATCH_EVERY 100 /* ms between deadline scans */

/* ---- open connections per address ---- */

typedef struct {
    unsigned char bytes[17]; /* family, then 4 (IPv4) or 8 (an IPv6 /64) bytes */
    size_t len;
} addr_key_t;

typedef struct addr_count {
    addr_key_t key;
    int open;
    struct addr_count *next;
} addr_count_t;

typedef struct {
    pthread_mutex_t mu;
    addr_count_t *buckets[BUCKETS];
} shard_t;

static shard_t shards[SHARDS];
static pthread_once_t shards_once = PTHREAD_ONCE_INIT;

static void shards_init(void)
{
    for (int i = 0; i < SHARDS; i++)
        pthread_mutex_init(&shards[i].mu, NULL);
}

/* The key of an address; false for families that are not counted. */
static bool key_of(const struct sockaddr *sa, addr_key_t *k)
{
    if (!sa)
        return false;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        k->bytes[0] = 4;
        memcpy(k->bytes + 1, &in->sin_addr, 4);
        k->len = 5;
        return true;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        const unsigned char *a = in6->sin6_addr.s6_addr;
        static const unsigned char v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (!memcmp(a, v4mapped, 12)) { /* an IPv4 client of an IPv6 socket */
            k->bytes[0] = 4;
            memcpy(k->bytes + 1, a + 12, 4);
            k->len = 5;
        } else { /* one host usually holds a whole /64 */
            k->bytes[0] = 6;
            memcpy(k->bytes + 1, a, 8);
            k->len = 9;
        }
        return true;
    }
    return false;
}

static uint32_t key_hash(const addr_key_t *k)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < k->len; i++)
        h = (h ^ k->bytes[i]) * 16777619u;
    return h;
}

static addr_count_t **find(shard_t *s, const addr_key_t *k, uint32_t h)
{
    addr_count_t **pp = &s->buckets[(h / SHARDS) % BUCKETS];
    while (*pp && ((*pp)->key.len != k->len || memcmp((*pp)->key.bytes, k->bytes, k->len)))
        pp = &(*pp)->next;
    return pp;
}

static bool exempt(const struct sockaddr *sa)
{
    char ip[64] = "";
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, ip, sizeof(ip));
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, ip, sizeof(ip));
    return pl_clientip_trusted(ip);
}

static pl_counter_t refused = {
    "plinth_http_connections_refused_total",
    "Connections closed at accept because their address held --max-conns-per-ip.", "", 0, NULL};
static pl_counter_t timed_out = {
    "plinth_http_request_timeouts_total",
    "Connections closed because a request did not arrive whole within --request-timeout.", "", 0,
    NULL};

/* The check happens at accept, the count when libmicrohttpd has made the
 * connection (a connection it then fails to set up is never counted, so
 * nothing leaks); accepts that race on the pool's threads may overshoot
 * the cap by at most the number of threads. */
static atomic_bool refusing; /* shutting down: no new connection */

void pl_conns_refuse_new(void)
{
    atomic_store(&refusing, true);
}

enum MHD_Result pl_conns_accept(void *cls, const struct sockaddr *addr, socklen_t addrlen)
{
    PL_UNUSED(cls);
    PL_UNUSED(addrlen);
    if (atomic_load(&refusing))
        return MHD_NO;
    int max = pl_cfg.max_conns_per_ip;
    addr_key_t k;
    if (max <= 0 || !key_of(addr, &k))
        return MHD_YES;
    pthread_once(&shards_once, shards_init);
    uint32_t h = key_hash(&k);
    shard_t *s = &shards[h % SHARDS];
    pthread_mutex_lock(&s->mu);
    addr_count_t *c = *find(s, &k, h);
    bool full = c && c->open >= max;
    pthread_mutex_unlock(&s->mu);
    if (full && exempt(addr))
        full = false;
    if (full)
        pl_counter_inc(&refused);
    return full ? MHD_NO : MHD_YES;
}

/* ---- connections and their deadlines ---- */

struct pl_conn {
    int fd;
    _Atomic int64_t deadline_us; /* monotonic; 0: none */
    addr_count_t *counted;       /* its address's count, NULL when not counted */
    uint32_t hash;
    struct pl_conn *prev, *next;
};

static pthread_mutex_t list_mu = PTHREAD_MUTEX_INITIALIZER;
static pl_conn_t *list_head;
static pthread_t watcher;
static bool watching;
static pthread_mutex_t stop_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t stop_cv = PTHREAD_COND_INITIALIZER;
static bool stopping;

static int64_t bound_us(void)
{
    return (int64_t)pl_cfg.request_timeout * 1000000;
}

static void count_open(pl_conn_t *k, const struct sockaddr *sa)
{
    addr_key_t key;
    if (pl_cfg.max_conns_per_ip <= 0 || !key_of(sa, &key) || exempt(sa))
        return;
    pthread_once(&shards_once, shards_init);
    uint32_t h = key_hash(&key);
    shard_t *s = &shards[h % SHARDS];
    pthread_mutex_lock(&s->mu);
    addr_count_t **pp = find(s, &key, h);
    if (!*pp) {
        *pp = pl_xcalloc(1, sizeof(addr_count_t));
        (*pp)->key = key;
    }
    (*pp)->open++;
    k->counted = *pp;
    k->hash = h;
    pthread_mutex_unlock(&s->mu);
}

static void count_close(pl_conn_t *k)
{
    if (!k->counted)
        return;
    shard_t *s = &shards[k->hash % SHARDS];
    pthread_mutex_lock(&s->mu);
    addr_count_t **pp = find(s, &k->counted->key, k->hash);
    if (*pp == k->counted && --k->counted->open == 0) {
        *pp = k->counted->next;
        free(k->counted);
    }
    pthread_mutex_unlock(&s->mu);
    k->counted = NULL;
}

void pl_conns_notify(void *cls, struct MHD_Connection *c, void **socket_context,
                     enum MHD_ConnectionNotificationCode code)
{
    PL_UNUSED(cls);
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        pl_conn_t *k = pl_xcalloc(1, sizeof(*k));
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        k->fd = ci ? ci->connect_fd : -1;
        ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        count_open(k, ci ? ci->client_addr : NULL);
        /* the first request is due within the bound from the accept */
        atomic_store(&k->deadline_us, pl_monotonic_us() + bound_us());
        pthread_mutex_lock(&list_mu);
        k->next = list_head;
        if (list_head)
            list_head->prev = k;
        list_head = k;
        pthread_mutex_unlock(&list_mu);
        *socket_context = k;
        return;
    }
    pl_conn_t *k = *socket_context;
    if (!k)
        return;
    /* unlinked before libmicrohttpd closes the descriptor, so the watcher
     * never shuts down a descriptor number that was reused */
    pthread_mutex_lock(&list_mu);
    if (k->prev)
        k->prev->next = k->next;
    else
        list_head = k->next;
    if (k->next)
        k->next->prev = k->prev;
    pthread_mutex_unlock(&list_mu);
    count_close(k);
    free(k);
    *socket_context = NULL;
}

pl_conn_t *pl_conns_of(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

void pl_conn_request_started(pl_conn_t *k)
{
    if (!k)
        return;
    int64_t due = pl_monotonic_us() + bound_us();
    int64_t cur = atomic_load(&k->deadline_us);
    if (!cur || due < cur)
        atomic_store(&k->deadline_us, due);
}

void pl_conn_request_received(pl_conn_t *k)
{
    if (k)
        atomic_store(&k->deadline_us, 0);
}

void pl_conn_request_done(pl_conn_t *k)
{
    /* keep-alive silence is --conn-timeout's; a next request that starts
     * within it has the bound from its first line (pl_conn_request_started),
     * and one that dribbles in before its first line is complete is held to
     * the silence plus the bound */
    if (k)
        atomic_store(&k->deadline_us,
                     pl_monotonic_us() + (int64_t)pl_cfg.conn_timeout * 1000000 + bound_us());
}

int pl_conns_open_from(const char *ip)
{
    struct sockaddr_storage ss = {0};
    if (inet_pton(AF_INET, ip, &((struct sockaddr_in *)&ss)->sin_addr) == 1)
        ss.ss_family = AF_INET;
    else if (inet_pton(AF_INET6, ip, &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1)
        ss.ss_family = AF_INET6;
    addr_key_t k;
    if (!key_of((struct sockaddr *)&ss, &k))
        return 0;
    pthread_once(&shards_once, shards_init);
    uint32_t h = key_hash(&k);
    shard_t *s = &shards[h % SHARDS];
    pthread_mutex_lock(&s->mu);
    addr_count_t *c = *find(s, &k, h);
    int n = c ? c->open : 0;
    pthread_mutex_unlock(&s->mu);
    return n;
}

static void *watch(void *arg)
{
    PL_UNUSED(arg);
    pthread_mutex_lock(&stop_mu);
    while (!stopping) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += WATCH_EVERY * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&stop_cv, &stop_mu, &ts);
        if (stopping)
            break;
        int64_t now = pl_monotonic_us();
        pthread_mutex_lock(&list_mu);
        for (pl_conn_t *k = list_head; k; k = k->next) {
            int64_t due = atomic_load(&k->deadline_us);
            if (due && due <= now && k->fd >= 0) {
                /* the descriptor stays libmicrohttpd's: shutting it down
                 * makes its next read see the end, and it closes it */
                shutdown(k->fd, SHUT_RDWR);
                atomic_store(&k->deadline_us, 0);
                pl_counter_inc(&timed_out);
            }
        }
        pthread_mutex_unlock(&list_mu);
    }
    pthread_mutex_unlock(&stop_mu);
    return NULL;
}

int pl_conns_start(void)
{
    static bool registered;
    if (!registered) {
        pl_metrics_register_counter(&refused);
        pl_metrics_register_counter(&timed_out);
        registered = true;
    }
    stopping = false;
    atomic_store(&refusing, false);
    if (pthread_create(&watcher, NULL, watch, NULL) != 0)
        return PL_EINTERNAL;
    pthread_setname_np(watcher, "plinth-conns");
    watching = true;
    return PL_OK;
}

void pl_conns_stop(void)
{
    if (!watching)
        return;
    pthread_mutex_lock(&stop_mu);
    stopping = true;
    pthread_cond_signal(&stop_cv);
    pthread_mutex_unlock(&stop_mu);
    pthread_join(watcher, NULL);
    watching = false;
}
