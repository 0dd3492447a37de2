/* tcache.h - small per-thread caches of rendered bytes (a response body, a
 * JSON fragment) keyed by a string and a version.
 *
 * For reads whose answer changes only with a version the request learns
 * anyway (organizations.members_version with the authorization,
 * users.orgs_version with the session check): database triggers move the
 * version in the same transaction as any change to the data, so a hit for
 * (key, version) is exactly what the query would answer, on every instance.
 * Entries are safe to lose; there is no invalidation and no lock.
 *
 * A cache is a static descriptor, each thread gets its own direct-mapped
 * table on first use, freed when the thread exits:
 *
 *     static pl_tcache_t pages = PL_TCACHE_INIT(16, 256 * 1024);
 *
 * Thread-safe: a thread only ever touches its own table. At most
 * PL_TCACHE_MAX caches per process. */
#ifndef PL_TCACHE_H
#define PL_TCACHE_H

#include "core/core.h"

#define PL_TCACHE_MAX     16
#define PL_TCACHE_KEY_MAX 128 /* longer keys are never cached */

typedef struct {
    unsigned slots; /* per thread */
    size_t max_len; /* longer values are not kept */
    _Atomic int id; /* 1..PL_TCACHE_MAX once used; 0 before */
} pl_tcache_t;

#define PL_TCACHE_INIT(slots, max_len)                                                             \
    {                                                                                              \
        (slots), (max_len), 0                                                                      \
    }

/* The bytes cached under (key, version) on this thread, with their length
 * in *len, or NULL. The pointer is the cache's own: valid until the next
 * pl_tcache_put on this cache by this thread (copy it, e.g. into the
 * response). */
const char *pl_tcache_get(pl_tcache_t *c, const char *key, int64_t version, size_t *len);

/* True when this thread's cache holds something under key, whatever its
 * version: a hint of what the next pl_tcache_get is likely to find. */
bool pl_tcache_known(pl_tcache_t *c, const char *key);

/* Keeps a copy of val (len bytes) under (key, version), replacing whatever
 * shared its slot. Values over max_len and keys over PL_TCACHE_KEY_MAX are
 * not kept. */
void pl_tcache_put(pl_tcache_t *c, const char *key, int64_t version, const char *val, size_t len);

#endif
