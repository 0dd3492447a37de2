/* feed.c - the queue between a stream's producer and its connection. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/feed.h"

/* An idle stream keeps no queue memory: a buffer drained completely is
 * freed when it grew past this, and allocated again on the next write. */
#define KEEP_BYTES 1024

struct pl_feed {
    pthread_mutex_t lock;
    atomic_int refs;
    char *buf; /* queued bytes are buf[off..len) */
    size_t off, len, size, cap;
    bool closed;   /* no more writes; the body ends after the queue */
    bool detached; /* the consumer's side is over */
    bool counted;  /* counts toward the live feeds */
    bool parked;   /* the consumer waits for a wake */
    bool probe;    /* a keep-alive was queued: the consumer checks its client */
    bool (*park)(void *arg, bool probe);
    void (*wake)(void *arg);
    void *arg;
    pl_feed_t *prev, *next; /* every feed, for shutdown */
};

static pthread_mutex_t all_lock = PTHREAD_MUTEX_INITIALIZER;
static pl_feed_t *all;
static bool shutting_down;
static atomic_int live;
static int limit;

void pl_feed_set_limit(int max)
{
    limit = max;
}

int pl_feed_limit(void)
{
    return limit;
}

int pl_feed_count(void)
{
    return atomic_load(&live);
}

pl_feed_t *pl_feed_new(size_t cap)
{
    pthread_mutex_lock(&all_lock);
    if (shutting_down || (limit > 0 && atomic_load(&live) >= limit)) {
        pthread_mutex_unlock(&all_lock);
        return NULL;
    }
    pl_feed_t *f = pl_xcalloc(1, sizeof(*f));
    pthread_mutex_init(&f->lock, NULL);
    atomic_init(&f->refs, 1);
    f->cap = cap;
    f->counted = true;
    atomic_fetch_add(&live, 1);
    f->next = all;
    if (all)
        all->prev = f;
    all = f;
    pthread_mutex_unlock(&all_lock);
    return f;
}

void pl_feed_ref(pl_feed_t *f)
{
    atomic_fetch_add(&f->refs, 1);
}

/* Under f->lock. */
static void uncount(pl_feed_t *f)
{
    if (f->counted) {
        f->counted = false;
        atomic_fetch_sub(&live, 1);
    }
}

void pl_feed_release(pl_feed_t *f)
{
    if (!f || atomic_fetch_sub(&f->refs, 1) != 1)
        return;
    pthread_mutex_lock(&all_lock);
    if (f->prev)
        f->prev->next = f->next;
    else
        all = f->next;
    if (f->next)
        f->next->prev = f->prev;
    pthread_mutex_unlock(&all_lock);
    uncount(f);
    pthread_mutex_destroy(&f->lock);
    free(f->buf);
    free(f);
}

/* Under f->lock: lets a parked consumer run. */
static void wake(pl_feed_t *f)
{
    if (f->parked) {
        f->parked = false;
        if (f->wake)
            f->wake(f->arg);
    }
}

static int write_locked(pl_feed_t *f, const void *data, size_t n, bool probe)
{
    int rc = PL_OK;
    pthread_mutex_lock(&f->lock);
    f->probe |= probe;
    if (f->closed || f->detached) {
        rc = PL_ENOTFOUND;
    } else if (f->len - f->off + n > f->cap) {
        f->closed = true; /* too slow a reader: cut it off */
        rc = PL_ELIMIT;
    } else {
        if (f->off && f->len + n > f->size) {
            memmove(f->buf, f->buf + f->off, f->len - f->off);
            f->len -= f->off;
            f->off = 0;
        }
        if (f->len + n > f->size) {
            size_t size = f->size ? f->size : 256;
            while (size < f->len + n)
                size *= 2;
            f->buf = pl_xrealloc(f->buf, size);
            f->size = size;
        }
        memcpy(f->buf + f->len, data, n);
        f->len += n;
    }
    wake(f);
    pthread_mutex_unlock(&f->lock);
    return rc;
}

int pl_feed_write(pl_feed_t *f, const void *data, size_t n)
{
    return write_locked(f, data, n, false);
}

int pl_feed_probe(pl_feed_t *f, const void *data, size_t n)
{
    return write_locked(f, data, n, true);
}

void pl_feed_close(pl_feed_t *f)
{
    pthread_mutex_lock(&f->lock);
    f->closed = true;
    wake(f);
    pthread_mutex_unlock(&f->lock);
}

bool pl_feed_gone(pl_feed_t *f)
{
    pthread_mutex_lock(&f->lock);
    bool gone = f->detached || f->closed;
    pthread_mutex_unlock(&f->lock);
    return gone;
}

void pl_feed_attach(pl_feed_t *f, bool (*park)(void *arg, bool probe), void (*wakefn)(void *arg),
                    void *arg)
{
    pthread_mutex_lock(&f->lock);
    f->park = park;
    f->wake = wakefn;
    f->arg = arg;
    pthread_mutex_unlock(&f->lock);
}

long pl_feed_read(pl_feed_t *f, char *out, size_t max)
{
    long n;
    pthread_mutex_lock(&f->lock);
    if (f->len > f->off) {
        size_t k = f->len - f->off;
        if (k > max)
            k = max;
        memcpy(out, f->buf + f->off, k);
        f->off += k;
        if (f->off == f->len) {
            f->off = f->len = 0;
            if (f->size > KEEP_BYTES) {
                free(f->buf);
                f->buf = NULL;
                f->size = 0;
            }
        }
        n = (long)k;
    } else if (f->closed) {
        n = PL_FEED_END;
    } else if (f->park && !f->park(f->arg, f->probe)) {
        f->closed = true; /* the client is gone */
        n = PL_FEED_END;
    } else {
        f->probe = false;
        f->parked = f->park != NULL;
        n = 0;
    }
    pthread_mutex_unlock(&f->lock);
    return n;
}

void pl_feed_detach(pl_feed_t *f)
{
    pthread_mutex_lock(&f->lock);
    f->detached = true;
    f->parked = false;
    f->park = NULL;
    f->wake = NULL;
    uncount(f);
    pthread_mutex_unlock(&f->lock);
    pl_feed_release(f);
}

int pl_feed_shutdown(void)
{
    pthread_mutex_lock(&all_lock);
    shutting_down = true;
    for (pl_feed_t *f = all; f; f = f->next)
        pl_feed_close(f);
    pthread_mutex_unlock(&all_lock);
    return atomic_load(&live);
}
