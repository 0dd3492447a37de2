/* tcache.c - per-thread caches of rendered bytes. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/tcache.h"

typedef struct {
    char key[PL_TCACHE_KEY_MAX + 1];
    int64_t version;
    char *val; /* NULL: empty */
    size_t len;
} slot_t;

typedef struct {
    unsigned n;
    slot_t slots[];
} table_t;

/* One thread's tables, by cache id - 1. */
typedef struct {
    table_t *tables[PL_TCACHE_MAX];
} thread_tables_t;

static __thread thread_tables_t *mine;
static pthread_key_t tables_key;
static pthread_once_t tables_once = PTHREAD_ONCE_INIT;
static _Atomic int last_id;

static void free_tables(void *p)
{
    thread_tables_t *t = p;
    for (int i = 0; i < PL_TCACHE_MAX; i++) {
        if (!t->tables[i])
            continue;
        for (unsigned s = 0; s < t->tables[i]->n; s++)
            free(t->tables[i]->slots[s].val);
        free(t->tables[i]);
    }
    free(t);
}

static void tables_key_init(void)
{
    pthread_key_create(&tables_key, free_tables);
}

/* The cache's id, assigned on first use; 0 when every id is taken. */
static int cache_id(pl_tcache_t *c)
{
    int id = atomic_load_explicit(&c->id, memory_order_acquire);
    if (id)
        return id;
    int fresh = atomic_fetch_add(&last_id, 1) + 1;
    if (fresh > PL_TCACHE_MAX)
        return 0; /* a wasted id at worst: the cache then never keeps anything */
    int expected = 0;
    if (atomic_compare_exchange_strong(&c->id, &expected, fresh))
        return fresh;
    return expected; /* another thread named it first */
}

static slot_t *slot_for(pl_tcache_t *c, const char *key)
{
    int id = cache_id(c);
    if (!id || !c->slots || strlen(key) > PL_TCACHE_KEY_MAX)
        return NULL;
    if (!mine) {
        pthread_once(&tables_once, tables_key_init);
        mine = pl_xcalloc(1, sizeof(*mine));
        pthread_setspecific(tables_key, mine);
    }
    table_t *t = mine->tables[id - 1];
    if (!t) {
        t = pl_xcalloc(1, sizeof(*t) + c->slots * sizeof(slot_t));
        t->n = c->slots;
        mine->tables[id - 1] = t;
    }
    uint32_t h = 2166136261u;
    for (const char *p = key; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    return &t->slots[h % t->n];
}

const char *pl_tcache_get(pl_tcache_t *c, const char *key, int64_t version, size_t *len)
{
    slot_t *s = slot_for(c, key);
    if (!s || !s->val || s->version != version || strcmp(s->key, key))
        return NULL;
    *len = s->len;
    return s->val;
}

bool pl_tcache_known(pl_tcache_t *c, const char *key)
{
    slot_t *s = slot_for(c, key);
    return s && s->val && !strcmp(s->key, key);
}

void pl_tcache_put(pl_tcache_t *c, const char *key, int64_t version, const char *val, size_t len)
{
    if (len > c->max_len)
        return;
    slot_t *s = slot_for(c, key);
    if (!s)
        return;
    free(s->val);
    s->val = pl_xmalloc(len + 1);
    memcpy(s->val, val, len);
    s->val[len] = '\0';
    s->len = len;
    s->version = version;
    memcpy(s->key, key, strlen(key) + 1);
}
