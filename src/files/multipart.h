/* multipart.h - a streaming parser of multipart/form-data bodies (RFC 7578)
 * that hands over the bytes of one field without holding the body.
 *
 * The body is fed in pieces of any size; the data of the first part named
 * `field` goes to on_data as it arrives, every other part is skipped. Part
 * headers are held (at most PL_MP_HEADERS_MAX bytes per part); the rest
 * needs no memory. Pure (no I/O), fuzzed in fuzz/fuzz_multipart.c.
 *
 * Thread-safety: a parser belongs to one thread at a time. */
#ifndef PL_FILES_MULTIPART_H
#define PL_FILES_MULTIPART_H

#include <stdbool.h>
#include <stddef.h>

#define PL_MP_BOUNDARY_MAX 70   /* RFC 2046 */
#define PL_MP_HEADERS_MAX  8192 /* bytes of one part's header block */
#define PL_MP_NAME_MAX     1024 /* bytes of a filename or a content type kept */

typedef enum {
    PL_MP_OK = 0,
    PL_MP_EMALFORMED = -1, /* not multipart as announced: no boundary, a bad header block */
    PL_MP_ECALLBACK = -2,  /* on_data returned non-zero */
} pl_mp_result_t;

typedef struct {
    /* configuration */
    const char *field; /* the form field whose data is wanted ("file") */
    int (*on_data)(void *cls, const char *data, size_t n);
    void *cls;
    /* what was found in the wanted part's headers ("" when absent) */
    bool found;                            /* the part was seen (its headers are in) */
    char filename[PL_MP_NAME_MAX + 1];     /* its filename parameter */
    char content_type[PL_MP_NAME_MAX + 1]; /* its Content-Type */
    bool done;                             /* the closing delimiter was read */
    /* state */
    char delim[PL_MP_BOUNDARY_MAX + 5]; /* "\r\n--" boundary */
    size_t delim_len;
    size_t match; /* bytes of delim matched so far */
    int state;
    bool in_wanted; /* the current part is the wanted one */
    bool seen_wanted;
    char hdr[PL_MP_HEADERS_MAX];
    size_t hdr_len;
    int after; /* bytes seen after a delimiter: "--" or "\r\n" */
    char after_buf[2];
    int result; /* a sticky error */
} pl_mp_t;

/* The boundary parameter of a Content-Type value "multipart/form-data;
 * boundary=..." (quoted or not), copied into out (PL_MP_BOUNDARY_MAX + 1
 * bytes). false when ct is not multipart/form-data or has no valid
 * boundary (1..70 characters of RFC 2046's bchars, not ending in a space). */
bool pl_mp_boundary(const char *ct, char *out);

/* Starts a parser for boundary (from pl_mp_boundary), handing field's data
 * to on_data(cls, ...). */
void pl_mp_init(pl_mp_t *mp, const char *boundary, const char *field,
                int (*on_data)(void *cls, const char *data, size_t n), void *cls);

/* Feeds the next n bytes of the body. PL_MP_OK, or an error that sticks
 * (later calls return it too). Bytes after the closing delimiter are
 * ignored. */
int pl_mp_feed(pl_mp_t *mp, const char *data, size_t n);

#endif
