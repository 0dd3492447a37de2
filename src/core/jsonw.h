/* jsonw.h - a small streaming JSON writer into a pl_buf_t, for hot responses
 * where building jansson values only to serialize them would cost more than
 * the rest of the request. Output is compact, keys in call order. */
#ifndef PL_JSONW_H
#define PL_JSONW_H

#include "core/core.h"

#define PL_JW_MAX_DEPTH 16

typedef struct {
    pl_buf_t *b;
    int depth;
    bool need_comma[PL_JW_MAX_DEPTH];
    int err; /* sticky: PL_ELIMIT once the buffer cap was hit */
} pl_jw_t;

void pl_jw_init(pl_jw_t *w, pl_buf_t *b);
/* key is NULL at the top level and inside arrays. */
void pl_jw_object_open(pl_jw_t *w, const char *key);
void pl_jw_object_close(pl_jw_t *w);
void pl_jw_array_open(pl_jw_t *w, const char *key);
void pl_jw_array_close(pl_jw_t *w);
void pl_jw_string(pl_jw_t *w, const char *key, const char *value); /* NULL writes null */
void pl_jw_bool(pl_jw_t *w, const char *key, bool value);
void pl_jw_int(pl_jw_t *w, const char *key, int64_t value);
/* A UTC millisecond time as an RFC 3339 string. */
void pl_jw_time(pl_jw_t *w, const char *key, int64_t ms);
/* The same, or null when ms is 0 (a time that is not set). */
void pl_jw_time_or_null(pl_jw_t *w, const char *key, int64_t ms);

#endif
