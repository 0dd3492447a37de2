/* storage_s3.h - the S3-compatible backend of storage.h (storage_s3.c):
 * SigV4-signed requests (sigv4.h) through core/httpc, multipart uploads
 * above PL_S3_PART_SIZE with the parts spooled through a temporary file.
 * Internal to src/files; the same contracts as storage.h. */
#ifndef PL_FILES_STORAGE_S3_H
#define PL_FILES_STORAGE_S3_H

#include <stdbool.h>
#include <stdint.h>

#include "core/core.h"

#define PL_S3_PART_SIZE (8u * 1024 * 1024)

typedef struct pl_s3_writer pl_s3_writer_t;
typedef struct pl_s3_reader pl_s3_reader_t;

/* True when PLINTH_S3_ENDPOINT is set. */
bool pl_s3_configured(void);
/* Checks the settings (endpoint, bucket, region, keys). PL_EINVAL printed. */
int pl_s3_init(void);
int pl_s3_writer_create(const char *key, pl_s3_writer_t **out);
int pl_s3_write(pl_s3_writer_t *w, const void *data, size_t n);
int pl_s3_commit(pl_s3_writer_t *w);
void pl_s3_writer_free(pl_s3_writer_t *w);
int pl_s3_delete(const char *key);
int pl_s3_delete_prefix(const char *prefix);
int pl_s3_open(const char *key, uint64_t offset, uint64_t len, pl_s3_reader_t **out);
long pl_s3_read(pl_s3_reader_t *r, char *buf, size_t max);
void pl_s3_reader_free(pl_s3_reader_t *r); /* NULL is fine */

#endif
