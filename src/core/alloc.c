/* alloc.c - allocation that aborts on exhaustion, and per-request arenas. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"

static void oom(size_t n)
{
    fprintf(stderr, "{\"level\":\"error\",\"msg\":\"out of memory allocating %zu bytes\"}\n", n);
    abort();
}

void *pl_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        oom(n);
    return p;
}

void *pl_xcalloc(size_t count, size_t n)
{
    void *p = calloc(count ? count : 1, n ? n : 1);
    if (!p)
        oom(count * n);
    return p;
}

void *pl_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        oom(n);
    return q;
}

char *pl_xstrdup(const char *s)
{
    return pl_xstrndup(s, strlen(s));
}

char *pl_xstrndup(const char *s, size_t n)
{
    char *p = pl_xmalloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

/* Arena: a chain of blocks; big requests get their own block. */
#define BLOCK_SIZE 8192

typedef struct block {
    struct block *next;
    size_t used, size;
    max_align_t data[];
} block_t;

typedef struct cleanup {
    struct cleanup *next;
    void (*fn)(void *);
    void *ptr;
} cleanup_t;

struct pl_arena {
    block_t *blocks;
    cleanup_t *cleanups;
};

static block_t *block_new(size_t size)
{
    block_t *b = pl_xmalloc(sizeof(block_t) + size);
    b->next = NULL;
    b->used = 0;
    b->size = size;
    return b;
}

pl_arena_t *pl_arena_create(void)
{
    pl_arena_t *a = pl_xmalloc(sizeof(*a));
    a->blocks = block_new(BLOCK_SIZE);
    a->cleanups = NULL;
    return a;
}

void pl_arena_destroy(pl_arena_t *a)
{
    if (!a)
        return;
    for (cleanup_t *c = a->cleanups; c; c = c->next)
        c->fn(c->ptr);
    for (block_t *b = a->blocks; b;) {
        block_t *next = b->next;
        free(b);
        b = next;
    }
    free(a);
}

void *pl_arena_alloc(pl_arena_t *a, size_t n)
{
    const size_t align = sizeof(max_align_t);
    n = (n + align - 1) & ~(align - 1);
    if (n == 0)
        n = align;
    block_t *b = a->blocks;
    if (b->size - b->used < n) {
        if (n > BLOCK_SIZE / 4) {
            /* a big allocation gets its own block behind the current one */
            block_t *big = block_new(n);
            big->used = n;
            big->next = b->next;
            b->next = big;
            memset(big->data, 0, n);
            return big->data;
        }
        b = block_new(BLOCK_SIZE);
        b->next = a->blocks;
        a->blocks = b;
    }
    void *p = (char *)b->data + b->used;
    b->used += n;
    memset(p, 0, n);
    return p;
}

char *pl_arena_strndup(pl_arena_t *a, const char *s, size_t n)
{
    char *p = pl_arena_alloc(a, n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *pl_arena_strdup(pl_arena_t *a, const char *s)
{
    return s ? pl_arena_strndup(a, s, strlen(s)) : NULL;
}

char *pl_arena_printf(pl_arena_t *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return pl_arena_strdup(a, "");
    char *p = pl_arena_alloc(a, (size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}

void pl_arena_cleanup_add(pl_arena_t *a, void (*fn)(void *), void *ptr)
{
    cleanup_t *c = pl_arena_alloc(a, sizeof(*c));
    c->fn = fn;
    c->ptr = ptr;
    c->next = a->cleanups;
    a->cleanups = c;
}
