/* sigv4.h - AWS Signature Version 4 for the S3-compatible storage backend,
 * written here because libcurl 7.88's CURLOPT_AWS_SIGV4 signs some S3
 * requests wrongly (a query without "=", unsorted parameters, no
 * x-amz-content-sha256). Pure: unit-tested against AWS's documented
 * examples (tests/unit/test_files.c).
 *
 * Thread-safety: no shared state. */
#ifndef PL_FILES_SIGV4_H
#define PL_FILES_SIGV4_H

#include <stddef.h>

#define PL_SIGV4_MAX_HEADERS 8

typedef struct {
    const char *name;  /* lower-case */
    const char *value; /* trimmed */
} pl_sigv4_header_t;

typedef struct {
    const char *method; /* "GET", "PUT", ... */
    const char *path;   /* the URI path as sent, already percent-encoded ("/bucket/a%20b") */
    const char *query; /* the query as sent, without "?": "uploads", "b=2&a=1" ("" or NULL: none) */
    /* the headers to sign, host and x-amz-date included, any order; names
     * lower-case; at most PL_SIGV4_MAX_HEADERS */
    const pl_sigv4_header_t *headers;
    int nheaders;
    const char *payload_hash; /* hex SHA-256 of the body, or "UNSIGNED-PAYLOAD" */
    const char *amz_date;     /* "20130524T000000Z" */
    const char *region;
    const char *service; /* "s3" */
    const char *access_key_id;
    const char *secret_access_key;
} pl_sigv4_req_t;

/* Writes the Authorization header's value ("AWS4-HMAC-SHA256
 * Credential=..., SignedHeaders=..., Signature=...") into out. Returns 0, or
 * -1 when out is too small or the request has too many headers. */
int pl_sigv4_authorization(const pl_sigv4_req_t *r, char *out, size_t out_size);

/* The canonical query string of query ("b=2&a=1" -> "a=1&b=2", "uploads" ->
 * "uploads="), into out; -1 when it does not fit. Exposed for tests. */
int pl_sigv4_canonical_query(const char *query, char *out, size_t out_size);

/* Percent-encodes s as SigV4 wants (unreserved characters kept; "/" kept
 * when keep_slash, for paths) into out; -1 when it does not fit. */
int pl_sigv4_encode(const char *s, int keep_slash, char *out, size_t out_size);

#endif
