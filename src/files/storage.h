/* storage.h - where file bytes live: one interface, two backends (the data
 * directory's files/, or an S3-compatible bucket).
 *
 * Objects are named by key, "<org id>/<file id>". A writer receives the
 * bytes of one new object piece by piece and publishes it whole with
 * commit, or not at all: after a crash (kill -9) no partial object is ever
 * visible under its key; local temporary files are removed at start.
 * Internal to src/files. Thread-safety: every function may be called from
 * any thread; a writer or reader belongs to one thread at a time. */
#ifndef PL_FILES_STORAGE_H
#define PL_FILES_STORAGE_H

#include <stdint.h>

#include "core/core.h"

typedef struct pl_fwriter pl_fwriter_t;
typedef struct pl_freader pl_freader_t;

/* Chooses and prepares the backend from the configuration: S3 when
 * PLINTH_S3_ENDPOINT is set, else the data directory's files/ (created;
 * leftover temporary files removed). PL_OK or PL_EINVAL (printed). */
int pl_fstore_init(void);
/* "local" or "s3" */
const char *pl_fstore_kind(void);

/* Starts a new object key. PL_OK, or PL_EINTERNAL / PL_ENOSPACE (logged). */
int pl_fstore_create(const char *key, pl_fwriter_t **out);
/* Appends n bytes. PL_OK, or PL_EINTERNAL / PL_ENOSPACE (logged). */
int pl_fstore_write(pl_fwriter_t *w, const void *data, size_t n);
/* Makes the object durable and visible under its key. */
int pl_fstore_commit(pl_fwriter_t *w);
/* Releases the writer; an object not committed is discarded. NULL is fine. */
void pl_fstore_writer_free(pl_fwriter_t *w);

/* Removes an object; a missing one is not an error. */
int pl_fstore_delete(const char *key);
/* Removes every object whose key starts with prefix ("<org id>/"). */
int pl_fstore_delete_prefix(const char *prefix);

/* Opens len bytes of object key from offset for reading. PL_ENOTFOUND
 * when it is missing. */
int pl_fstore_open(const char *key, uint64_t offset, uint64_t len, pl_freader_t **out);
/* A descriptor positioned nowhere in particular that holds the object
 * (local storage: the server may send it with sendfile), or -1. The reader
 * keeps owning it. */
int pl_fstore_reader_fd(pl_freader_t *r);
/* Reads up to max bytes; returns their count, 0 at the end, -1 on error. */
long pl_fstore_read(pl_freader_t *r, char *buf, size_t max);
void pl_fstore_reader_free(pl_freader_t *r);

#endif
