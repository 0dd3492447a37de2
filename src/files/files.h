/* files.h - files of an organization: streamed uploads checked against an
 * allow-list of sniffed types and the plan's storage_bytes, downloads, signed
 * download URLs, deletion (also with the organization).
 *
 * The bytes live in a storage backend (storage.h: the data directory's
 * files/ or an S3-compatible bucket) under "<org id>/<file id>"; a row of
 * `files` records each finished upload. An upload is published in storage
 * before its row commits; a failed commit removes it again.
 *
 * Services act in ctx->tenant (the routes under /v1/orgs/{org}); another
 * organization's file is 404. Strings of results live in ctx->arena.
 * Thread-safety: every function may be called from any thread. */
#ifndef PL_FILES_H
#define PL_FILES_H

#include <stdbool.h>
#include <stdint.h>

#include "core/core.h"
#include "core/ctx.h"
#include "core/module.h"
#include "db/db.h"

#define PL_FILE_NAME_MAX    255    /* bytes of a file's name */
#define PL_FILE_URL_TTL_MAX 604800 /* seconds a signed URL may live (7 days) */
#define PL_FILE_URL_TTL_DEF 3600
#define PL_FILE_SNIFF_BYTES 65536 /* bytes held to sniff the type */

typedef struct {
    const char *id;
    const char *org_id;
    const char *name;
    const char *content_type;
    int64_t size;
    const char *sha256;     /* lower-case hex */
    const char *created_by; /* user id; NULL when an API key or the system uploaded */
    int64_t created_at;
} pl_file_t;

typedef struct {
    const pl_file_t *items;
    int n;
    const char *next_cursor; /* the last id when another page follows */
} pl_file_page_t;

/* An upload in progress. */
typedef struct pl_upload pl_upload_t;

/* Starts an upload into the acting organization: a new object in storage
 * receives the bytes. *out is released by pl_files_upload_free (an upload
 * not finished leaves nothing). PL_OK or an error recorded on ctx (500). */
int pl_files_upload_begin(pl_ctx_t *ctx, pl_upload_t **out);
/* The next n bytes. PL_OK or an error recorded on ctx (500, 507). */
int pl_files_upload_write(pl_ctx_t *ctx, pl_upload_t *up, const void *data, size_t n);
/* Finishes the upload as a file called name (1..PL_FILE_NAME_MAX bytes of
 * text, no control characters: 422 "name") declared as declared_type (a
 * media type, parameters ignored; NULL or application/octet-stream: take the
 * sniffed type). The type sniffed from the bytes (libmagic) must be in
 * PLINTH_UPLOAD_TYPES and agree with the declared one, else 415
 * unsupported_media_type. Then the object is published and, in one
 * transaction, storage_bytes is reserved (402 plan_limit_reached), the row
 * inserted and file.uploaded audited. out gets the file. */
int pl_files_upload_finish(pl_db_t *db, pl_ctx_t *ctx, pl_upload_t *up, const char *name,
                           const char *declared_type, pl_file_t *out);
/* Releases an upload (discarding its object unless finished). NULL is fine.
 * Its signature fits pl_arena_cleanup_add. */
void pl_files_upload_free(void *up);

/* The acting organization's files, newest first, after cursor (an id). */
int pl_files_list(pl_db_t *db, pl_ctx_t *ctx, const char *cursor, int limit, pl_file_page_t *out);
/* One file of the acting organization; 404 not_found. */
int pl_files_get(pl_db_t *db, pl_ctx_t *ctx, const char *id, pl_file_t *out);
/* Deletes a file: the caller needs file.delete or to be its uploader (403
 * forbidden otherwise, after 404 for an unknown file). Its row, its
 * storage_bytes and file.deleted are one transaction; the object is removed
 * after the commit. */
int pl_files_delete(pl_db_t *db, pl_ctx_t *ctx, const char *id);

/* Whether file_id is a file of organization org_id (for other modules:
 * collections' x-file fields). 1 yes, 0 no, or a negative PL_E* on a
 * database error. Runs in the caller's transaction, if any. */
int pl_files_exists(pl_db_t *db, pl_ctx_t *ctx, const char *org_id, const char *file_id);

/* A signed download URL for a file of the acting organization (404
 * otherwise), valid ttl seconds (1..PL_FILE_URL_TTL_MAX: 422
 * "expires_in"). url lives in ctx->arena; expires_at in ms. */
int pl_files_sign_url(pl_db_t *db, pl_ctx_t *ctx, const char *id, int64_t ttl, const char **url,
                      int64_t *expires_at);
/* The file a signed URL names, when its signature (sig, base64url) covers
 * id and expires (seconds since the epoch) and it has not expired: 403
 * forbidden otherwise (also for a file deleted since). */
int pl_files_verify_url(pl_db_t *db, pl_ctx_t *ctx, const char *id, const char *expires,
                        const char *sig, pl_file_t *out);

/* Whether a file of this type may be shown inline by a browser (images and
 * PDF; never SVG or HTML). */
bool pl_files_inline_type(const char *content_type);

/* The object of file f, bytes [offset, offset + len), for reading. */
typedef struct pl_freader pl_freader_t;
int pl_files_open(pl_ctx_t *ctx, const pl_file_t *f, uint64_t offset, uint64_t len,
                  pl_freader_t **out);
/* Local storage's descriptor of the object (sendfile), else -1. */
int pl_files_reader_fd(pl_freader_t *r);
long pl_files_read(pl_freader_t *r, char *buf, size_t max);
void pl_files_reader_free(pl_freader_t *r);

/* The module's pieces (files.c), for its descriptor. */
int pl_files_init(void);
void pl_files_stop(void);
int pl_files_on_event(pl_db_t *db, pl_ctx_t *ctx, const struct pl_event *ev);
extern const pl_job_def_t pl_files_jobs[];
extern const pl_option_t pl_files_options[];
extern const char *const pl_files_actions[];

/* ---- the store (files_store.c) ---- */
int pl_files_store_insert(pl_db_t *db, const pl_file_t *f);
int pl_files_store_get(pl_db_t *db, pl_arena_t *a, const char *org_id, const char *id,
                       pl_file_t *out);
/* by id alone: for signed URLs, whose signature names the file */
int pl_files_store_get_any(pl_db_t *db, pl_arena_t *a, const char *id, pl_file_t *out);
int pl_files_store_list(pl_db_t *db, pl_arena_t *a, const char *org_id, const char *cursor,
                        int limit, pl_file_t *items, int *n);
int pl_files_store_delete(pl_db_t *db, const char *org_id, const char *id);

#endif
