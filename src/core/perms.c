/* perms.c - permission bit sets. */
#include "core/perms.h"

bool pl_perms_subset(const pl_perms_t *a, const pl_perms_t *b)
{
    for (int i = 0; i < PL_PERMS_WORDS; i++)
        if (a->w[i] & ~b->w[i])
            return false;
    return true;
}

bool pl_perms_equal(const pl_perms_t *a, const pl_perms_t *b)
{
    for (int i = 0; i < PL_PERMS_WORDS; i++)
        if (a->w[i] != b->w[i])
            return false;
    return true;
}

bool pl_perms_empty(const pl_perms_t *p)
{
    for (int i = 0; i < PL_PERMS_WORDS; i++)
        if (p->w[i])
            return false;
    return true;
}

void pl_perms_intersect(pl_perms_t *a, const pl_perms_t *b)
{
    for (int i = 0; i < PL_PERMS_WORDS; i++)
        a->w[i] &= b->w[i];
}

void pl_perms_union(pl_perms_t *a, const pl_perms_t *b)
{
    for (int i = 0; i < PL_PERMS_WORDS; i++)
        a->w[i] |= b->w[i];
}

int pl_perms_next(const pl_perms_t *p, int from)
{
    if (from < 0)
        from = 0;
    for (int i = from >> 6; i < PL_PERMS_WORDS; i++) {
        uint64_t w = p->w[i];
        if (i == from >> 6)
            w &= ~0ULL << (from & 63);
        if (w)
            return i * 64 + __builtin_ctzll(w);
    }
    return -1;
}
