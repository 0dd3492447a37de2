/* workpool.c - a bounded queue and its threads (see workpool.h). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/workpool.h"

/* The pool's threads yield to the HTTP threads when both want a core: a
 * nice value of 5 gives them about a third of the weight of a default
 * thread under Linux's scheduler (per thread: Linux applies setpriority to
 * a thread id alone). */
#define POOL_NICE 5

typedef struct {
    void (*fn)(void *arg);
    void *arg;
} item_t;

struct pl_workpool {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    item_t *ring; /* queue_max items */
    int queue_max;
    int head, count; /* queued items in the ring */
    int reserved;    /* places taken, not yet queued */
    int running;
    bool stopping;
    int nthreads;
    pthread_t *threads;
    char name[16];
};

static void *worker(void *arg)
{
    pl_workpool_t *p = arg;
    setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), POOL_NICE);
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->count && !(p->stopping && !p->reserved))
            pthread_cond_wait(&p->cv, &p->mu);
        if (!p->count)
            break; /* stopping, and nothing queued or about to be */
        item_t it = p->ring[p->head];
        p->head = (p->head + 1) % p->queue_max;
        p->count--;
        p->running++;
        pthread_mutex_unlock(&p->mu);
        it.fn(it.arg);
        pthread_mutex_lock(&p->mu);
        p->running--;
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

pl_workpool_t *pl_workpool_start(const char *name, int threads, int queue_max)
{
    pl_workpool_t *p = pl_xcalloc(1, sizeof(*p));
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    p->queue_max = queue_max > 0 ? queue_max : 1;
    p->ring = pl_xcalloc((size_t)p->queue_max, sizeof(item_t));
    p->threads = pl_xcalloc((size_t)(threads > 0 ? threads : 1), sizeof(pthread_t));
    snprintf(p->name, sizeof(p->name), "%s", name);
    for (int i = 0; i < (threads > 0 ? threads : 1); i++) {
        if (pthread_create(&p->threads[i], NULL, worker, p) != 0) {
            pl_workpool_stop(p);
            return NULL;
        }
        pthread_setname_np(p->threads[i], p->name);
        p->nthreads++;
    }
    return p;
}

bool pl_workpool_reserve(pl_workpool_t *p)
{
    pthread_mutex_lock(&p->mu);
    bool ok = !p->stopping && p->count + p->reserved < p->queue_max;
    if (ok)
        p->reserved++;
    pthread_mutex_unlock(&p->mu);
    return ok;
}

void pl_workpool_unreserve(pl_workpool_t *p)
{
    pthread_mutex_lock(&p->mu);
    p->reserved--;
    pthread_cond_broadcast(&p->cv); /* a stopping pool may be waiting for it */
    pthread_mutex_unlock(&p->mu);
}

void pl_workpool_run(pl_workpool_t *p, void (*fn)(void *arg), void *arg)
{
    pthread_mutex_lock(&p->mu);
    p->reserved--;
    p->ring[(p->head + p->count) % p->queue_max] = (item_t){fn, arg};
    p->count++;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

int pl_workpool_waiting(pl_workpool_t *p)
{
    pthread_mutex_lock(&p->mu);
    int n = p->count + p->reserved;
    pthread_mutex_unlock(&p->mu);
    return n;
}

int pl_workpool_running(pl_workpool_t *p)
{
    pthread_mutex_lock(&p->mu);
    int n = p->running;
    pthread_mutex_unlock(&p->mu);
    return n;
}

void pl_workpool_stop(pl_workpool_t *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->stopping = true;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->nthreads; i++)
        pthread_join(p->threads[i], NULL);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p->threads);
    free(p->ring);
    free(p);
}
