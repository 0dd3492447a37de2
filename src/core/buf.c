/* buf.c - capped growable buffers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"

void pl_buf_init(pl_buf_t *b, size_t max)
{
    b->ptr = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

static int reserve(pl_buf_t *b, size_t extra)
{
    if (extra > b->max || b->len > b->max - extra)
        return PL_ELIMIT;
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return PL_OK;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap *= 2;
    b->ptr = pl_xrealloc(b->ptr, cap);
    b->cap = cap;
    return PL_OK;
}

int pl_buf_append_grow(pl_buf_t *b, const void *data, size_t n)
{
    if (reserve(b, n))
        return PL_ELIMIT;
    if (n)
        memcpy(b->ptr + b->len, data, n);
    b->len += n;
    b->ptr[b->len] = '\0';
    return PL_OK;
}

int pl_buf_appendf(pl_buf_t *b, const char *fmt, ...)
{
    /* one pass when the text fits in the free space, two otherwise */
    size_t room = b->cap > b->len ? b->cap - b->len : 0;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(room ? b->ptr + b->len : NULL, room, fmt, ap);
    va_end(ap);
    if (n < 0)
        return PL_EINTERNAL;
    if ((size_t)n < room && b->len + (size_t)n <= b->max) {
        b->len += (size_t)n;
        return PL_OK;
    }
    if (room)
        b->ptr[b->len] = '\0'; /* undo the partial write */
    if (reserve(b, (size_t)n))
        return PL_ELIMIT;
    va_start(ap, fmt);
    vsnprintf(b->ptr + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return PL_OK;
}

/* Bytes that JSON strings must escape: controls, '"', '\\', and DEL. */
static const unsigned char needs_escape[256] = {
    [0 ... 0x1f] = 1,
    ['"'] = 1,
    ['\\'] = 1,
    [0x7f] = 1,
};

int pl_buf_append_json_escaped(pl_buf_t *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *u = (const unsigned char *)s;
    size_t run = 0; /* start of the pending run of bytes that need no escape */
    for (size_t i = 0; i < n; i++) {
        unsigned char c = u[i];
        if (!needs_escape[c])
            continue;
        if (pl_buf_append(b, s + run, i - run))
            return PL_ELIMIT;
        run = i + 1;
        char esc[6] = {'\\', (char)c, 0, 0, 0, 0};
        size_t k = 2;
        if (c == '\n')
            esc[1] = 'n';
        else if (c == '\r')
            esc[1] = 'r';
        else if (c == '\t')
            esc[1] = 't';
        else if (c != '"' && c != '\\') {
            memcpy(esc, "\\u00", 4);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            k = 6;
        }
        if (pl_buf_append(b, esc, k))
            return PL_ELIMIT;
    }
    return pl_buf_append(b, s + run, n - run);
}

void pl_buf_free(pl_buf_t *b)
{
    free(b->ptr);
    pl_buf_init(b, b->max);
}
