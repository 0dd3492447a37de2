/* quota.c - fixed windows per key in a sharded, open-addressed table. When
 * every probed slot of a key is in use by other keys in their current
 * windows, the use is let through: too many distinct clients to track is not
 * a reason to refuse one. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "core/quota.h"

#define SHARDS 32
#define SLOTS  256 /* per shard */
#define PROBES 8

typedef struct {
    char key[PL_QUOTA_KEY_MAX + 1];
    int64_t window_end; /* ms; 0: free */
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

bool pl_quota_take(const char *key, int limit, int64_t window_ms, int64_t now_ms, int *retry_after)
{
    if (limit <= 0 || window_ms <= 0)
        return true;
    pthread_once(&once, init);
    char k[PL_QUOTA_KEY_MAX + 1];
    snprintf(k, sizeof(k), "%s", key);
    int64_t window_end = (now_ms / window_ms + 1) * window_ms;
    uint32_t h = hash(k);
    shard_t *sh = &shards[h % SHARDS];
    bool allow = true;
    pthread_mutex_lock(&sh->mu);
    slot_t *free_slot = NULL, *hit = NULL;
    for (int i = 0; i < PROBES; i++) {
        slot_t *s = &sh->slots[(h / SHARDS + (uint32_t)i) % SLOTS];
        bool live = s->window_end == window_end;
        if (live && !strcmp(s->key, k)) {
            hit = s;
            break;
        }
        if (!free_slot && !live)
            free_slot = s;
    }
    if (hit) {
        allow = hit->count < limit;
        if (allow)
            hit->count++;
    } else if (free_slot) {
        memcpy(free_slot->key, k, sizeof(k));
        free_slot->window_end = window_end;
        free_slot->count = 1;
    }
    pthread_mutex_unlock(&sh->mu);
    if (!allow && retry_after) {
        int64_t left = (window_end - now_ms + 999) / 1000;
        *retry_after = left < 1 ? 1 : (int)left;
    }
    return allow;
}
