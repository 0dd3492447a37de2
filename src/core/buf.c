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

/* Length of the valid UTF-8 sequence at s (n bytes left), or 0. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len;
    uint32_t cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        len = 2, cp = c & 0x1f;
    else if (c >= 0xe0 && c <= 0xef)
        len = 3, cp = c & 0x0f;
    else if (c >= 0xf0 && c <= 0xf4)
        len = 4, cp = c & 0x07;
    else
        return 0;
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    /* no overlong forms, surrogates or code points past U+10FFFF */
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

bool pl_text_has_control(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < 0x20 || p[i] == 0x7f)
            return true;
        if (p[i] == 0xc2 && i + 1 < n && p[i + 1] >= 0x80 && p[i + 1] <= 0x9f)
            return true; /* U+0080-U+009F */
        if (p[i] == 0xe2 && i + 2 < n) {
            unsigned cp = 0x2000u | ((p[i + 1] & 0x3fu) << 6) | (p[i + 2] & 0x3fu);
            if (p[i + 1] >= 0x80 && p[i + 1] <= 0x81 &&
                (cp == 0x2028 || cp == 0x2029 || (cp >= 0x202a && cp <= 0x202e) ||
                 (cp >= 0x2066 && cp <= 0x2069)))
                return true;
        }
    }
    return false;
}

bool pl_utf8_valid(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        if (p[i] < 0x80) { /* the common case first */
            i++;
            continue;
        }
        size_t len = utf8_seq(p + i, n - i);
        if (!len)
            return false;
        i += len;
    }
    return true;
}

char *pl_utf8_clean(pl_arena_t *a, const char *s, size_t max)
{
    size_t n = strlen(s);
    char *out = pl_arena_alloc(a, (n < max ? n : max) * 3 + 4);
    size_t w = 0;
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        size_t len = utf8_seq(p + i, n - i);
        const char *rep;
        size_t rl;
        if (len == 1 && (p[i] < 0x20 || p[i] == 0x7f)) {
            rep = " ", rl = 1;
        } else if (len == 0) {
            rep = "\xef\xbf\xbd", rl = 3, len = 1;
        } else {
            rep = (const char *)p + i, rl = len;
        }
        if (w + rl > max)
            break;
        memcpy(out + w, rep, rl);
        w += rl;
        i += len;
    }
    out[w] = '\0';
    return out;
}
