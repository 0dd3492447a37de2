/* core.h - the small toolkit every plinth module uses: error codes, strings,
 * allocation, per-request arenas, time, ids and logging.
 *
 * Thread-safety: every function here is safe to call from any thread; an arena
 * belongs to one request (one thread at a time). */
#ifndef PL_CORE_H
#define PL_CORE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Error codes: 0 is success, failures are negative. */
enum {
    PL_OK = 0,
    PL_EINVAL = -1,     /* client input is invalid (detail on req->err) */
    PL_ENOTFOUND = -2,  /* no such object, or not visible to the caller */
    PL_EFORBIDDEN = -3, /* authenticated but not allowed */
    PL_ECONFLICT = -4,  /* unique violation or state conflict */
    PL_EDB = -5,        /* database failure (connection, I/O, unexpected SQL error) */
    PL_EUNAUTH = -6,    /* not authenticated */
    PL_ELIMIT = -7,     /* a limit or throttle was hit */
    PL_EINTERNAL = -8,  /* a bug or an unexpected library failure */
    PL_EBUSY = -9,      /* database busy or serialization failure: may be retried */
    PL_EFKEY = -10,     /* foreign-key violation */
    PL_EEXISTS = -11,   /* already done (idempotent no-op) */
    PL_EUNAVAILABLE = -12, /* the database cannot be reached: answer 503, try later */
    PL_ENOSPACE = -13,     /* the disk (or the database's) is full: 507 */
};

/* A string that carries its length; ptr need not be NUL-terminated. */
typedef struct {
    const char *ptr;
    size_t len;
} pl_str_t;

#define PL_STR(lit)     ((pl_str_t){(lit), sizeof(lit) - 1})
#define PL_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define PL_UNUSED(x)    (void)(x)

/* Allocation that never returns NULL: out of memory aborts the process. */
void *pl_xmalloc(size_t n);
void *pl_xcalloc(size_t count, size_t n);
void *pl_xrealloc(void *p, size_t n);
char *pl_xstrdup(const char *s);
char *pl_xstrndup(const char *s, size_t n);

/* Per-request arena. Everything allocated from it, and every registered cleanup,
 * is released by pl_arena_destroy, cleanups first in reverse registration order. */
typedef struct pl_arena pl_arena_t;
pl_arena_t *pl_arena_create(void);
void pl_arena_destroy(pl_arena_t *a);
/* Returns zeroed memory aligned for any type; owned by the arena. */
void *pl_arena_alloc(pl_arena_t *a, size_t n);
char *pl_arena_strdup(pl_arena_t *a, const char *s);
char *pl_arena_strndup(pl_arena_t *a, const char *s, size_t n);
char *pl_arena_printf(pl_arena_t *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Runs fn(ptr) when the arena is destroyed (jansson values, PGresults, ...). */
void pl_arena_cleanup_add(pl_arena_t *a, void (*fn)(void *), void *ptr);

/* Growable byte buffer with a hard cap (bytes, excluding the terminating NUL).
 * Appends past the cap fail with PL_ELIMIT and leave the buffer as it was. */
typedef struct {
    char *ptr;
    size_t len;
    size_t cap;
    size_t max;
} pl_buf_t;
void pl_buf_init(pl_buf_t *b, size_t max);
/* The slow path of pl_buf_append: grows the buffer (within max) first. */
int pl_buf_append_grow(pl_buf_t *b, const void *data, size_t n);
/* Appends n bytes; PL_ELIMIT past the cap. Inline: JSON writers append many
 * short runs, and the common case is a copy into room already there. */
static inline int pl_buf_append(pl_buf_t *b, const void *data, size_t n)
{
    if (b->ptr && b->len + n < b->cap && b->len + n <= b->max) {
        if (n)
            __builtin_memcpy(b->ptr + b->len, data, n);
        b->len += n;
        b->ptr[b->len] = '\0';
        return PL_OK;
    }
    return pl_buf_append_grow(b, data, n);
}
int pl_buf_appendf(pl_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends s as JSON string contents (no quotes), escaping as RFC 8259 requires. */
int pl_buf_append_json_escaped(pl_buf_t *b, const char *s, size_t n);
void pl_buf_free(pl_buf_t *b);

/* Time. */
int64_t pl_now_ms(void);       /* wall clock, UTC milliseconds since the epoch */
int64_t pl_monotonic_us(void); /* monotonic clock in microseconds */
/* Formats ms as RFC 3339 UTC with milliseconds ("2026-11-22T09:04:24.123Z"). */
void pl_time_format(int64_t ms, char out[32]);

/* Parses a strict RFC 3339 UTC time: "YYYY-MM-DDTHH:MM:SS[.fraction](Z|+00:00)"
 * with two-digit fields, a real calendar date, and years 1970..9999. */
int pl_time_parse(const char *s, int64_t *ms);

/* A new UUIDv7 as 36 lower-case characters plus NUL. */
void pl_uuid7(char out[37]);
/* True when s is a well-formed UUID (any version) in canonical lower-case text. */
bool pl_uuid_valid(const char *s);

/* Lower-case hex of n bytes into out (2n+1 bytes). */
void pl_hex(const unsigned char *in, size_t n, char *out);

/* Whether n bytes at s are valid UTF-8: no stray continuation bytes,
 * overlong forms, surrogates or code points past U+10FFFF. */
bool pl_utf8_valid(const char *s, size_t n);

/* Whether n bytes of UTF-8 at s hold a character that breaks a line or
 * hides text where a name is shown (in an email, a log line, a dashboard):
 * C0 controls (NUL, CR, LF, TAB...), DEL, C1 controls (U+0080-U+009F), the
 * line and paragraph separators (U+2028, U+2029) and the bidirectional
 * embedding, override and isolate controls (U+202A-U+202E, U+2066-U+2069). */
bool pl_text_has_control(const char *s, size_t n);

/* A copy of s in the arena that is valid UTF-8 (each invalid byte becomes
 * U+FFFD), without control characters (they become spaces), and at most max
 * bytes long (cut at a character boundary). For strings taken from request
 * headers before they are stored or logged. */
char *pl_utf8_clean(pl_arena_t *a, const char *s, size_t max);

/* Parses a decimal integer in [min, max]; the whole string must be consumed. */
int pl_parse_int64(const char *s, int64_t min, int64_t max, int64_t *out);

/* Logging: one JSON object per line on stderr. level is "info", "warn", "error".
 * Never pass secrets. */
void pl_log(const char *level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Writes an already formatted line (must end in '\n') with a single write(2). */
void pl_log_raw(const char *line, size_t n);
/* Buffers a formatted line (must end in '\n') in the calling thread's buffer;
 * buffers are written out when full and by a flusher thread every 100 ms, so
 * the request path makes no system call for its access-log line. */
void pl_log_buffered(const char *line, size_t n);
/* Starts the flusher thread; pl_log_flush_stop writes out everything buffered
 * and stops it. */
void pl_log_flush_start(void);
void pl_log_flush_stop(void);

#endif
