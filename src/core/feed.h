/* feed.h - a response body written by one thread and sent by another: the
 * bytes of a long-lived response (server-sent events) that a module produces
 * on its own thread while the connection waits parked, holding no thread.
 *
 * Two sides share a feed, each holding a reference:
 *  - the producer (a module) writes with pl_feed_write, ends the body with
 *    pl_feed_close, and learns that the client went away from pl_feed_gone;
 *  - the consumer (http/) sends what was written: pl_feed_read runs on the
 *    connection's thread and, when nothing is queued, parks the connection
 *    through the consumer's park callback; the next write or close calls its
 *    wake callback. pl_feed_detach ends the consumer's side when the response
 *    is over (the client went away, or the body ended).
 *
 * The queue is capped: a client that reads slower than its producer writes is
 * cut off (the write fails and the feed closes), so a stream's memory stays
 * bounded. Feeds are counted process-wide from pl_feed_new until the consumer
 * detached, against a limit (pl_feed_set_limit).
 *
 * Thread-safe: a feed's functions may be called from any thread. The wake and
 * park callbacks run with the feed's lock held: they must not call back into
 * the feed. */
#ifndef PL_FEED_H
#define PL_FEED_H

#include "core/core.h"

typedef struct pl_feed pl_feed_t;

/* At most max feeds live at once (0: no limit). Call at start. */
void pl_feed_set_limit(int max);
int pl_feed_limit(void);
/* Feeds live now: created, and not yet detached by their consumer. */
int pl_feed_count(void);

/* A new feed, with one reference for the caller (the producer). At most cap
 * bytes are queued at a time. NULL when the limit of live feeds is reached,
 * or after pl_feed_shutdown. */
pl_feed_t *pl_feed_new(size_t cap);
/* Takes another reference (the consumer's: see web/web.h pl_resp_feed). */
void pl_feed_ref(pl_feed_t *f);
/* Drops a reference; the last one frees the feed. A feed whose consumer
 * never attached is detached by its last release. */
void pl_feed_release(pl_feed_t *f);

/* Producer side. Queues n bytes and wakes the consumer. PL_OK; PL_ENOTFOUND
 * when the feed is closed or its consumer is gone; PL_ELIMIT when the bytes
 * do not fit under the cap: the feed is then closed (the client is too slow;
 * it reconnects and resumes). */
int pl_feed_write(pl_feed_t *f, const void *data, size_t n);
/* pl_feed_write for a keep-alive (a heartbeat): the consumer also checks
 * that its client is still there before it parks again (see park below). */
int pl_feed_probe(pl_feed_t *f, const void *data, size_t n);
/* Ends the body once what is queued has been sent. */
void pl_feed_close(pl_feed_t *f);
/* True once the consumer detached (the response is over) or the feed closed. */
bool pl_feed_gone(pl_feed_t *f);

/* Consumer side. Sets the callbacks of the consumer: park(arg, probe) is
 * called by pl_feed_read when nothing is queued, and returns true when the
 * consumer now sleeps, false when it cannot (its client is gone: the feed
 * then closes); probe asks it to check its client first (a keep-alive was
 * just sent). wake(arg) is called by the next write or close after a park
 * (once per park). */
void pl_feed_attach(pl_feed_t *f, bool (*park)(void *arg, bool probe), void (*wake)(void *arg),
                    void *arg);
/* Copies up to max queued bytes into buf and returns their count; returns
 * PL_FEED_END when the feed is closed and everything was read (or park
 * refused); otherwise (nothing queued) parks and returns 0: the consumer
 * sleeps until wake. */
#define PL_FEED_END (-1)
long pl_feed_read(pl_feed_t *f, char *buf, size_t max);
/* The response is over: marks the feed gone (the producer's next write
 * fails), uncounts it and drops the consumer's reference. */
void pl_feed_detach(pl_feed_t *f);

/* Shutdown: closes every live feed and refuses new ones. Returns the number
 * of feeds still live (their consumers have not detached yet). Call again to
 * close feeds created meanwhile. */
int pl_feed_shutdown(void);

#endif
