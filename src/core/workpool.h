/* workpool.h - a bounded pool of threads for CPU-heavy work that must not
 * run on the HTTP threads (password hashing: Argon2id takes tens of
 * milliseconds of one core, and a connection stays on the thread that
 * accepted it, so a hash on an HTTP thread stalls every other connection of
 * that thread, cheap reads included).
 *
 * The queue is bounded: a caller first takes a place (pl_workpool_reserve),
 * which fails when the pool is saturated, so an overload is answered at once
 * (503 with Retry-After) instead of queueing without end; then hands the work
 * over (pl_workpool_run), which cannot fail. The pool's threads run at a
 * lower scheduling priority than the HTTP threads, so on a busy machine the
 * cheap requests are served first and the hashes take what is left.
 *
 * Thread-safe: any thread may reserve and run. */
#ifndef PL_WORKPOOL_H
#define PL_WORKPOOL_H

#include "core/core.h"

typedef struct pl_workpool pl_workpool_t;

/* Starts threads worker threads (named name, at most 15 characters) with a
 * queue of at most queue_max waiting items. NULL when a thread cannot be
 * started. */
pl_workpool_t *pl_workpool_start(const char *name, int threads, int queue_max);

/* Takes a place in the queue for one pl_workpool_run; false when queue_max
 * items already wait (or are reserved), or the pool is stopping. */
bool pl_workpool_reserve(pl_workpool_t *p);
/* Gives a reserved place back without running anything. */
void pl_workpool_unreserve(pl_workpool_t *p);
/* Queues fn(arg) into a place taken with pl_workpool_reserve; a pool thread
 * runs it in order of submission. */
void pl_workpool_run(pl_workpool_t *p, void (*fn)(void *arg), void *arg);

/* Items waiting (reserved or queued, not yet started) and running now. */
int pl_workpool_waiting(pl_workpool_t *p);
int pl_workpool_running(pl_workpool_t *p);

/* Refuses new reservations, runs what is queued, joins the threads and
 * frees the pool. */
void pl_workpool_stop(pl_workpool_t *p);

#endif
