/* perms.h - permission sets: bit sets over the permission catalog.
 *
 * A permission key ("member.invite", "tasks.read") gets a bit number when it
 * is registered in the catalog (rbac/); a set holds up to PL_PERMS_MAX bits,
 * which leaves room for every static permission and four per collection for
 * about a thousand collections. Sets are plain values: copy them, compare
 * them, keep them in caches. Pure functions, thread-safe. */
#ifndef PL_PERMS_H
#define PL_PERMS_H

#include "core/core.h"

#define PL_PERMS_WORDS 64
#define PL_PERMS_MAX   (PL_PERMS_WORDS * 64)

typedef struct {
    uint64_t w[PL_PERMS_WORDS];
} pl_perms_t;

static inline void pl_perms_clear(pl_perms_t *p)
{
    __builtin_memset(p, 0, sizeof(*p));
}

/* bit < 0 (an unknown permission) is never set */
static inline void pl_perms_add(pl_perms_t *p, int bit)
{
    if (bit >= 0 && bit < PL_PERMS_MAX)
        p->w[bit >> 6] |= 1ULL << (bit & 63);
}

static inline void pl_perms_remove(pl_perms_t *p, int bit)
{
    if (bit >= 0 && bit < PL_PERMS_MAX)
        p->w[bit >> 6] &= ~(1ULL << (bit & 63));
}

static inline bool pl_perms_has(const pl_perms_t *p, int bit)
{
    return bit >= 0 && bit < PL_PERMS_MAX && (p->w[bit >> 6] >> (bit & 63)) & 1;
}

/* True when every bit of a is in b. */
bool pl_perms_subset(const pl_perms_t *a, const pl_perms_t *b);
bool pl_perms_equal(const pl_perms_t *a, const pl_perms_t *b);
bool pl_perms_empty(const pl_perms_t *p);
/* a &= b, a |= b */
void pl_perms_intersect(pl_perms_t *a, const pl_perms_t *b);
void pl_perms_union(pl_perms_t *a, const pl_perms_t *b);
/* Iteration: the next set bit at or after from, or -1. */
int pl_perms_next(const pl_perms_t *p, int from);

#endif
