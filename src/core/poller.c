/* poller.c - see poller.h. */
#include "core/poller.h"

#include <time.h>

#include "core/core.h"

/* Sleeps ms, or less when stopping; true when stopping. */
static bool nap(pl_poller_t *p, int ms)
{
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&p->mu);
    while (!p->stopping)
        if (pthread_cond_timedwait(&p->cv, &p->mu, &until) != 0)
            break;
    bool stop = p->stopping;
    pthread_mutex_unlock(&p->mu);
    return stop;
}

static void *poller_main(void *arg)
{
    pl_poller_t *p = arg;
    while (!nap(p, p->interval_ms))
        p->tick();
    if (p->done)
        p->done();
    return NULL;
}

int pl_poller_start(pl_poller_t *p)
{
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, &attr);
    pthread_condattr_destroy(&attr);
    p->stopping = false;
    if (pthread_create(&p->thread, NULL, poller_main, p) != 0)
        return PL_EINTERNAL;
    p->running = true;
    return PL_OK;
}

void pl_poller_stop(pl_poller_t *p)
{
    if (!p->running)
        return;
    pthread_mutex_lock(&p->mu);
    p->stopping = true;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    pthread_join(p->thread, NULL);
    p->running = false;
}
