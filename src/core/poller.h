/* poller.h - a thread that runs a function every interval until stopped.
 *
 * The caches every instance keeps of shared state (feature flags, plans,
 * access-token signing keys) follow the changes other instances make with
 * one: each tick reads a version and reloads when it moved. Stopping wakes
 * the thread at once, so shutdown never waits for an interval. */
#ifndef PL_POLLER_H
#define PL_POLLER_H

#include <pthread.h>
#include <stdbool.h>

typedef struct {
    void (*tick)(void); /* every interval_ms, on the poller's thread */
    void (*done)(void); /* once, on that thread, before it ends (may be NULL) */
    int interval_ms;
    /* private */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stopping, running;
    pthread_t thread;
} pl_poller_t;

/* Starts p's thread (p lives as long as the program: a static). PL_OK, or
 * PL_EINTERNAL when no thread could be made. */
int pl_poller_start(pl_poller_t *p);

/* Stops p's thread and waits for it; a no-op when it is not running. */
void pl_poller_stop(pl_poller_t *p);

#endif
