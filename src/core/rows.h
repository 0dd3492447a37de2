/* rows.h - rows read by a store into an arena: a page of up to limit rows
 * that knows whether another page follows, or every row (limit 0).
 *
 * A store reading a page binds `limit + 1` as its SQL LIMIT and asks for a
 * slot per result row; the slot after the last one that fits is refused,
 * which is how the page learns that more rows exist:
 *
 *     while ((rc = pl_stmt_step(st)) == 1) {
 *         pl_team_t *t = pl_rows_add(rows);
 *         if (!t)
 *             break;
 *         read_team(a, st, t);
 *     }
 *
 * Pure, no locking: rows belong to one thread. */
#ifndef PL_ROWS_H
#define PL_ROWS_H

#include <string.h>

#include "core/core.h"

typedef struct {
    void *items; /* n rows of size bytes, in arena */
    size_t size;
    int limit; /* 0: no limit */
    int n;     /* rows held */
    bool more; /* a row beyond limit was offered: another page exists */
    int cap;
    pl_arena_t *arena;
} pl_rows_t;

/* Prepares for up to limit rows (0: any number) of size bytes each in a. */
static inline void pl_rows_init(pl_rows_t *r, pl_arena_t *a, size_t size, int limit)
{
    r->size = size;
    r->limit = limit > 0 ? limit : 0;
    r->n = 0;
    r->more = false;
    r->arena = a;
    r->cap = r->limit ? r->limit : 16;
    r->items = pl_arena_alloc(a, size * (size_t)r->cap);
}

/* The next free row slot (zeroed), or NULL once limit rows are held; the
 * refusal sets more. */
static inline void *pl_rows_add(pl_rows_t *r)
{
    if (r->limit && r->n >= r->limit) {
        r->more = true;
        return NULL;
    }
    if (r->n == r->cap) { /* only without a limit: grow (the arena keeps the old block) */
        void *bigger = pl_arena_alloc(r->arena, r->size * (size_t)r->cap * 2);
        memcpy(bigger, r->items, r->size * (size_t)r->n);
        r->items = bigger;
        r->cap *= 2;
    }
    return (char *)r->items + r->size * (size_t)r->n++;
}

/* Row i (0 <= i < n). */
static inline void *pl_rows_at(const pl_rows_t *r, int i)
{
    return (char *)r->items + r->size * (size_t)i;
}

#endif
