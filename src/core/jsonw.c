/* jsonw.c - streaming JSON writer. */
#include <stdio.h>
#include <string.h>

#include "core/jsonw.h"

void pl_jw_init(pl_jw_t *w, pl_buf_t *b)
{
    memset(w, 0, sizeof(*w));
    w->b = b;
}

static void raw(pl_jw_t *w, const char *s, size_t n)
{
    if (!w->err && pl_buf_append(w->b, s, n))
        w->err = PL_ELIMIT;
}

/* Writes the separator and the key of the next value. */
static void member(pl_jw_t *w, const char *key)
{
    if (w->need_comma[w->depth])
        raw(w, ",", 1);
    w->need_comma[w->depth] = true;
    if (key) {
        raw(w, "\"", 1);
        if (!w->err && pl_buf_append_json_escaped(w->b, key, strlen(key)))
            w->err = PL_ELIMIT;
        raw(w, "\":", 2);
    }
}

static void open(pl_jw_t *w, const char *key, const char *c)
{
    member(w, key);
    raw(w, c, 1);
    if (w->depth + 1 < PL_JW_MAX_DEPTH)
        w->need_comma[++w->depth] = false;
    else
        w->err = PL_EINVAL;
}

static void close(pl_jw_t *w, const char *c)
{
    if (w->depth > 0)
        w->depth--;
    raw(w, c, 1);
}

void pl_jw_object_open(pl_jw_t *w, const char *key)
{
    open(w, key, "{");
}

void pl_jw_object_close(pl_jw_t *w)
{
    close(w, "}");
}

void pl_jw_array_open(pl_jw_t *w, const char *key)
{
    open(w, key, "[");
}

void pl_jw_array_close(pl_jw_t *w)
{
    close(w, "]");
}

void pl_jw_string(pl_jw_t *w, const char *key, const char *value)
{
    member(w, key);
    if (!value) {
        raw(w, "null", 4);
        return;
    }
    raw(w, "\"", 1);
    if (!w->err && pl_buf_append_json_escaped(w->b, value, strlen(value)))
        w->err = PL_ELIMIT;
    raw(w, "\"", 1);
}

void pl_jw_bool(pl_jw_t *w, const char *key, bool value)
{
    member(w, key);
    raw(w, value ? "true" : "false", value ? 4 : 5);
}

void pl_jw_int(pl_jw_t *w, const char *key, int64_t value)
{
    char n[24];
    int len = snprintf(n, sizeof(n), "%lld", (long long)value);
    member(w, key);
    raw(w, n, (size_t)len);
}

void pl_jw_time(pl_jw_t *w, const char *key, int64_t ms)
{
    char t[32];
    pl_time_format(ms, t);
    member(w, key);
    raw(w, "\"", 1);
    raw(w, t, strlen(t));
    raw(w, "\"", 1);
}

void pl_jw_time_or_null(pl_jw_t *w, const char *key, int64_t ms)
{
    if (ms)
        pl_jw_time(w, key, ms);
    else
        pl_jw_string(w, key, NULL);
}
