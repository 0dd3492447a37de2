/* ratelimit.c - fixed one-second windows per client IP in a sharded table.
 * Each shard is an open-addressed table; an entry from an older window is
 * stale and may be reused, so memory is bounded whatever the clients send. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "http/ratelimit.h"

#define SHARDS 64
#define SLOTS  256 /* per shard */
#define PROBES 8

typedef struct {
    char ip[46];
    int64_t window; /* second the count belongs to */
    int count;
} slot_t;

typedef struct {
    pthread_mutex_t mu;
    slot_t slots[SLOTS];
} shard_t;

static shard_t shards[SHARDS];
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void init(void)
{
    for (int i = 0; i < SHARDS; i++)
        pthread_mutex_init(&shards[i].mu, NULL);
}

static uint32_t hash(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

bool pl_ratelimit_allow(const char *ip, int limit_per_second, int64_t now_ms)
{
    pthread_once(&once, init);
    int64_t window = now_ms / 1000;
    uint32_t h = hash(ip);
    shard_t *sh = &shards[h % SHARDS];
    bool allow = true;
    pthread_mutex_lock(&sh->mu);
    slot_t *free_slot = NULL, *hit = NULL;
    for (int i = 0; i < PROBES; i++) {
        slot_t *s = &sh->slots[(h / SHARDS + (uint32_t)i) % SLOTS];
        if (s->window == window && !strcmp(s->ip, ip)) {
            hit = s;
            break;
        }
        if (!free_slot && s->window != window)
            free_slot = s;
    }
    if (hit) {
        allow = hit->count < limit_per_second;
        if (allow)
            hit->count++;
    } else if (free_slot) {
        snprintf(free_slot->ip, sizeof(free_slot->ip), "%s", ip);
        free_slot->window = window;
        free_slot->count = 1;
        allow = limit_per_second >= 1;
    }
    /* every probed slot busy in this second: too many distinct clients in one
     * shard to track; let the request through rather than fail closed */
    pthread_mutex_unlock(&sh->mu);
    return allow;
}
