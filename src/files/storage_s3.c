/* storage_s3.c - the S3-compatible backend (storage_s3.h). */
#include <stdio.h>
#include <stdlib.h>

#include "files/storage_s3.h"

bool pl_s3_configured(void)
{
    const char *e = getenv("PLINTH_S3_ENDPOINT");
    return e && *e;
}

int pl_s3_init(void)
{
    fprintf(stderr, "plinth: PLINTH_S3_ENDPOINT: the S3 backend is not available in this build\n");
    return PL_EINVAL;
}

int pl_s3_writer_create(const char *key, pl_s3_writer_t **out)
{
    PL_UNUSED(key);
    *out = NULL;
    return PL_EINTERNAL;
}

int pl_s3_write(pl_s3_writer_t *w, const void *data, size_t n)
{
    PL_UNUSED(w), PL_UNUSED(data), PL_UNUSED(n);
    return PL_EINTERNAL;
}

int pl_s3_commit(pl_s3_writer_t *w)
{
    PL_UNUSED(w);
    return PL_EINTERNAL;
}

void pl_s3_writer_free(pl_s3_writer_t *w)
{
    PL_UNUSED(w);
}

int pl_s3_delete(const char *key)
{
    PL_UNUSED(key);
    return PL_EINTERNAL;
}

int pl_s3_delete_prefix(const char *prefix)
{
    PL_UNUSED(prefix);
    return PL_EINTERNAL;
}

int pl_s3_open(const char *key, uint64_t offset, uint64_t len, pl_s3_reader_t **out)
{
    PL_UNUSED(key), PL_UNUSED(offset), PL_UNUSED(len);
    *out = NULL;
    return PL_EINTERNAL;
}

long pl_s3_read(pl_s3_reader_t *r, char *buf, size_t max)
{
    PL_UNUSED(r), PL_UNUSED(buf), PL_UNUSED(max);
    return -1;
}

void pl_s3_reader_free(pl_s3_reader_t *r)
{
    PL_UNUSED(r);
}
