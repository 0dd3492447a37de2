/* storage_s3.c - the S3-compatible backend (storage_s3.h).
 *
 * Requests are path-style (<endpoint>/<bucket>/<key>), signed with SigV4
 * (sigv4.h) and sent through core/httpc, the outgoing client with the
 * public-address guard (a private endpoint needs
 * PLINTH_ALLOW_PRIVATE_TARGETS=1). An upload is spooled through an unnamed
 * temporary file of the data directory: up to PL_S3_PART_SIZE it goes out
 * as one PUT at commit; beyond, as the parts of a multipart upload, each sent
 * as soon as it is spooled, so memory and disk stay bounded; an upload not
 * committed is aborted. A download is one ranged GET, run on a thread of its
 * own that writes into a socket pair the reader pulls from: the client's
 * pace holds the transfer back. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/config.h"
#include "core/crypto.h"
#include "core/httpc.h"
#include "files/sigv4.h"
#include "files/storage_s3.h"

#define EMPTY_SHA       "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define PART_TIMEOUT_MS (10 * 60 * 1000)
#define GET_TIMEOUT_MS  (60 * 60 * 1000)
#define MAX_PARTS       10000
#define LIST_MAX        (4u << 20)

static struct {
    char endpoint[512]; /* scheme://host[:port], no trailing slash */
    char host[256];     /* host[:port] as sent in Host */
    char bucket[256];
    char region[64];
    char key_id[256];
    char secret[256];
} cfg;

bool pl_s3_configured(void)
{
    const char *e = getenv("PLINTH_S3_ENDPOINT");
    return e && *e;
}

static bool env_copy(const char *name, char *out, size_t size, bool required)
{
    const char *v = getenv(name);
    if (!v || !*v) {
        if (required)
            fprintf(stderr, "plinth: %s is required with PLINTH_S3_ENDPOINT\n", name);
        return !required;
    }
    if (strlen(v) >= size) {
        fprintf(stderr, "plinth: %s is too long\n", name);
        return false;
    }
    memcpy(out, v, strlen(v) + 1);
    return true;
}

int pl_s3_init(void)
{
    snprintf(cfg.region, sizeof(cfg.region), "us-east-1");
    if (!env_copy("PLINTH_S3_ENDPOINT", cfg.endpoint, sizeof(cfg.endpoint), true) ||
        !env_copy("PLINTH_S3_BUCKET", cfg.bucket, sizeof(cfg.bucket), true) ||
        !env_copy("PLINTH_S3_REGION", cfg.region, sizeof(cfg.region), false) ||
        !env_copy("PLINTH_S3_ACCESS_KEY_ID", cfg.key_id, sizeof(cfg.key_id), true) ||
        !env_copy("PLINTH_S3_SECRET_ACCESS_KEY", cfg.secret, sizeof(cfg.secret), true))
        return PL_EINVAL;
    size_t n = strlen(cfg.endpoint);
    while (n && cfg.endpoint[n - 1] == '/')
        cfg.endpoint[--n] = '\0';
    const char *p = strstr(cfg.endpoint, "://");
    if (!p || (strncmp(cfg.endpoint, "http://", 7) && strncmp(cfg.endpoint, "https://", 8)) ||
        strchr(p + 3, '/') || strchr(p + 3, '@') || !p[3]) {
        fprintf(stderr, "plinth: PLINTH_S3_ENDPOINT must be http(s)://host[:port]\n");
        return PL_EINVAL;
    }
    snprintf(cfg.host, sizeof(cfg.host), "%s", p + 3);
    for (const char *b = cfg.bucket; *b; b++)
        if (!((*b >= 'a' && *b <= 'z') || (*b >= '0' && *b <= '9') || *b == '-' || *b == '.')) {
            fprintf(stderr, "plinth: PLINTH_S3_BUCKET is not a bucket name\n");
            return PL_EINVAL;
        }
    if (pl_httpc_init())
        return PL_EINVAL;
    return PL_OK;
}

/* ---- one signed request ---- */

typedef struct {
    const char *method;
    const char *key;          /* NULL: the bucket */
    const char *query;        /* raw, as sent; NULL: none */
    const char *range;        /* "bytes=a-b" or NULL */
    const char *payload_hash; /* NULL: empty body */
    const char *body;
    size_t body_len;
    long (*read_body)(void *cls, char *buf, size_t max);
    void *read_cls;
    int (*on_data)(void *cls, const char *data, size_t n);
    void *data_cls;
    size_t max_response;
    int timeout_ms;
} s3_call_t;

static int s3_do(const s3_call_t *c, pl_httpc_resp_t *resp)
{
    char amz_date[17];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(amz_date, sizeof(amz_date), "%Y%m%dT%H%M%SZ", &tm);
    char path[1024];
    int k = snprintf(path, sizeof(path), "/%s%s%s", cfg.bucket, c->key ? "/" : "",
                     c->key ? c->key : "");
    if (k < 0 || (size_t)k >= sizeof(path))
        return PL_EINTERNAL;
    const char *hash = c->payload_hash ? c->payload_hash : EMPTY_SHA;
    pl_sigv4_header_t h[3] = {
        {"host", cfg.host},
        {"x-amz-content-sha256", hash},
        {"x-amz-date", amz_date},
    };
    /* Range is sent unsigned, as the AWS SDKs do (signing it is optional) */
    int nh = 3;
    pl_sigv4_req_t sr = {
        .method = c->method,
        .path = path,
        .query = c->query,
        .headers = h,
        .nheaders = nh,
        .payload_hash = hash,
        .amz_date = amz_date,
        .region = cfg.region,
        .service = "s3",
        .access_key_id = cfg.key_id,
        .secret_access_key = cfg.secret,
    };
    char auth[1024];
    if (pl_sigv4_authorization(&sr, auth, sizeof(auth)))
        return PL_EINTERNAL;
    char hauth[1100], hsha[100], hdate[40], hrange[100];
    snprintf(hauth, sizeof(hauth), "Authorization: %s", auth);
    snprintf(hsha, sizeof(hsha), "x-amz-content-sha256: %s", hash);
    snprintf(hdate, sizeof(hdate), "x-amz-date: %s", amz_date);
    const char *headers[6] = {hauth, hsha, hdate};
    int n = 3;
    if (c->range) {
        snprintf(hrange, sizeof(hrange), "Range: %s", c->range);
        headers[n++] = hrange;
    }
    headers[n] = NULL;
    char url[2048];
    k = snprintf(url, sizeof(url), "%s%s%s%s", cfg.endpoint, path, c->query ? "?" : "",
                 c->query ? c->query : "");
    if (k < 0 || (size_t)k >= sizeof(url))
        return PL_EINTERNAL;
    pl_httpc_req_t req = {
        .method = c->method,
        .url = url,
        .headers = headers,
        .body = c->read_body ? NULL : c->body,
        .body_len = c->body_len,
        .read_body = c->read_body,
        .read_cls = c->read_cls,
        .on_data = c->on_data,
        .data_cls = c->data_cls,
        .timeout_ms = c->timeout_ms ? c->timeout_ms : PL_HTTPC_TIMEOUT_MS,
        .max_response = c->max_response,
    };
    if (!req.body && !req.read_body && (!strcmp(c->method, "PUT") || !strcmp(c->method, "POST")))
        req.body = "";
    int rc = pl_httpc_do(&req, resp);
    if (rc) {
        pl_log("error", "files: S3 %s %s: %s", c->method, c->key ? c->key : cfg.bucket,
               resp->error);
        return PL_EINTERNAL;
    }
    return PL_OK;
}

static int expect(const char *what, pl_httpc_resp_t *resp, int lo, int hi)
{
    if (resp->status >= lo && resp->status <= hi)
        return PL_OK;
    pl_log("error", "files: S3 %s answered %d", what, resp->status);
    return PL_EINTERNAL;
}

/* The text of <tag>...</tag> after *from in xml, copied into out. */
static bool xml_text(const char *xml, const char *tag, const char **from, char *out, size_t size)
{
    char open[64], close[64];
    snprintf(open, sizeof(open), "<%s>", tag);
    snprintf(close, sizeof(close), "</%s>", tag);
    const char *a = strstr(from ? *from : xml, open);
    if (!a)
        return false;
    a += strlen(open);
    const char *b = strstr(a, close);
    if (!b || (size_t)(b - a) >= size)
        return false;
    memcpy(out, a, (size_t)(b - a));
    out[b - a] = '\0';
    if (from)
        *from = b + strlen(close);
    return true;
}

/* ---- uploads ---- */

struct pl_s3_writer {
    char key[128];
    int fd; /* the spool of the current part */
    uint64_t part_len;
    crypto_hash_sha256_state part_sha;
    char upload_id[512];
    int nparts;
    char (*etags)[256];
    bool committed;
};

static int spool_open(void)
{
    int fd = open(pl_cfg.data_dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd < 0) {
        char path[1100];
        snprintf(path, sizeof(path), "%s/s3-spool-XXXXXX", pl_cfg.data_dir);
        fd = mkostemp(path, O_CLOEXEC);
        if (fd >= 0)
            unlink(path);
    }
    if (fd < 0)
        pl_log("error", "files: cannot create a spool file in %s: %s", pl_cfg.data_dir,
               strerror(errno));
    return fd;
}

int pl_s3_writer_create(const char *key, pl_s3_writer_t **out)
{
    *out = NULL;
    pl_s3_writer_t *w = pl_xcalloc(1, sizeof(*w));
    snprintf(w->key, sizeof(w->key), "%s", key);
    w->fd = spool_open();
    if (w->fd < 0) {
        free(w);
        return PL_EINTERNAL;
    }
    crypto_hash_sha256_init(&w->part_sha);
    *out = w;
    return PL_OK;
}

typedef struct {
    int fd;
    uint64_t left;
} spool_read_t;

static long read_spool(void *cls, char *buf, size_t max)
{
    spool_read_t *s = cls;
    if (!s->left)
        return 0;
    if (max > s->left)
        max = (size_t)s->left;
    ssize_t k;
    do
        k = read(s->fd, buf, max);
    while (k < 0 && errno == EINTR);
    if (k <= 0)
        return -1;
    s->left -= (uint64_t)k;
    return (long)k;
}

/* Sends the spooled bytes as method key?query, then empties the spool. */
static int send_spool(pl_s3_writer_t *w, const char *method, const char *query,
                      pl_httpc_resp_t *resp)
{
    unsigned char digest[32];
    char hash[65];
    crypto_hash_sha256_final(&w->part_sha, digest);
    sodium_bin2hex(hash, sizeof(hash), digest, sizeof(digest));
    if (lseek(w->fd, 0, SEEK_SET) < 0)
        return PL_EINTERNAL;
    spool_read_t s = {w->fd, w->part_len};
    s3_call_t c = {.method = method,
                   .key = w->key,
                   .query = query,
                   .payload_hash = hash,
                   .body_len = (size_t)w->part_len,
                   .read_body = read_spool,
                   .read_cls = &s,
                   .timeout_ms = PART_TIMEOUT_MS};
    int rc = s3_do(&c, resp);
    if (ftruncate(w->fd, 0) || lseek(w->fd, 0, SEEK_SET) < 0)
        rc = rc ? rc : PL_EINTERNAL;
    w->part_len = 0;
    crypto_hash_sha256_init(&w->part_sha);
    return rc;
}

static int start_multipart(pl_s3_writer_t *w)
{
    pl_httpc_resp_t resp;
    s3_call_t c = {.method = "POST", .key = w->key, .query = "uploads", .max_response = 8192};
    int rc = s3_do(&c, &resp);
    if (!rc)
        rc = expect("CreateMultipartUpload", &resp, 200, 200);
    if (!rc && !xml_text(resp.body, "UploadId", NULL, w->upload_id, sizeof(w->upload_id))) {
        pl_log("error", "files: S3 CreateMultipartUpload: no UploadId");
        rc = PL_EINTERNAL;
    }
    pl_httpc_resp_free(&resp);
    return rc;
}

static int upload_part(pl_s3_writer_t *w)
{
    if (w->nparts == MAX_PARTS)
        return PL_EINTERNAL;
    char id[sizeof(w->upload_id) * 3], query[sizeof(id) + 64];
    if (pl_sigv4_encode(w->upload_id, 0, id, sizeof(id)))
        return PL_EINTERNAL;
    snprintf(query, sizeof(query), "partNumber=%d&uploadId=%s", w->nparts + 1, id);
    pl_httpc_resp_t resp;
    int rc = send_spool(w, "PUT", query, &resp);
    if (!rc)
        rc = expect("UploadPart", &resp, 200, 200);
    if (!rc && !resp.etag[0]) {
        pl_log("error", "files: S3 UploadPart: no ETag");
        rc = PL_EINTERNAL;
    }
    if (!rc) {
        w->etags = pl_xrealloc(w->etags, sizeof(*w->etags) * (size_t)(w->nparts + 1));
        snprintf(w->etags[w->nparts], sizeof(w->etags[0]), "%s", resp.etag);
        w->nparts++;
    }
    pl_httpc_resp_free(&resp);
    return rc;
}

int pl_s3_write(pl_s3_writer_t *w, const void *data, size_t n)
{
    const char *p = data;
    while (n) {
        size_t room = PL_S3_PART_SIZE - (size_t)w->part_len;
        size_t k = n < room ? n : room;
        ssize_t wr = write(w->fd, p, k);
        if (wr < 0) {
            if (errno == EINTR)
                continue;
            pl_log("error", "files: S3 spool: %s", strerror(errno));
            return errno == ENOSPC ? PL_ENOSPACE : PL_EINTERNAL;
        }
        crypto_hash_sha256_update(&w->part_sha, (const unsigned char *)p, (size_t)wr);
        w->part_len += (uint64_t)wr;
        p += wr;
        n -= (size_t)wr;
        if (w->part_len == PL_S3_PART_SIZE) {
            /* a full part: the upload is a multipart one (the last part,
             * sent at commit, may be short) */
            int rc = w->upload_id[0] ? PL_OK : start_multipart(w);
            if (!rc)
                rc = upload_part(w);
            if (rc)
                return rc;
        }
    }
    return PL_OK;
}

int pl_s3_commit(pl_s3_writer_t *w)
{
    pl_httpc_resp_t resp;
    int rc;
    if (!w->upload_id[0]) {
        rc = send_spool(w, "PUT", NULL, &resp);
        if (!rc)
            rc = expect("PutObject", &resp, 200, 200);
        pl_httpc_resp_free(&resp);
        w->committed = rc == PL_OK;
        return rc;
    }
    if (w->part_len && (rc = upload_part(w)))
        return rc;
    pl_buf_t b;
    pl_buf_init(&b, (size_t)w->nparts * 200 + 256);
    rc = pl_buf_append(&b, "<CompleteMultipartUpload>", 25);
    for (int i = 0; !rc && i < w->nparts; i++) {
        char part[400];
        int k =
            snprintf(part, sizeof(part), "<Part><PartNumber>%d</PartNumber><ETag>%s</ETag></Part>",
                     i + 1, w->etags[i]);
        rc = pl_buf_append(&b, part, (size_t)k);
    }
    if (!rc)
        rc = pl_buf_append(&b, "</CompleteMultipartUpload>", 26);
    char id[sizeof(w->upload_id) * 3], query[sizeof(id) + 16], hash[65];
    if (!rc && pl_sigv4_encode(w->upload_id, 0, id, sizeof(id)))
        rc = PL_EINTERNAL;
    if (!rc) {
        snprintf(query, sizeof(query), "uploadId=%s", id);
        pl_sha256_hex(b.ptr, b.len, hash);
        s3_call_t c = {.method = "POST",
                       .key = w->key,
                       .query = query,
                       .payload_hash = hash,
                       .body = b.ptr,
                       .body_len = b.len,
                       .max_response = 8192,
                       .timeout_ms = PART_TIMEOUT_MS};
        rc = s3_do(&c, &resp);
        /* S3 may answer 200 and still report an error in the body */
        if (!rc)
            rc = expect("CompleteMultipartUpload", &resp, 200, 200);
        if (!rc &&
            (strstr(resp.body, "<Error>") || !strstr(resp.body, "CompleteMultipartUpload"))) {
            pl_log("error", "files: S3 CompleteMultipartUpload failed");
            rc = PL_EINTERNAL;
        }
        pl_httpc_resp_free(&resp);
    }
    pl_buf_free(&b);
    w->committed = rc == PL_OK;
    return rc;
}

void pl_s3_writer_free(pl_s3_writer_t *w)
{
    if (!w)
        return;
    if (w->upload_id[0] && !w->committed) {
        char id[sizeof(w->upload_id) * 3], query[sizeof(id) + 16];
        if (!pl_sigv4_encode(w->upload_id, 0, id, sizeof(id))) {
            snprintf(query, sizeof(query), "uploadId=%s", id);
            pl_httpc_resp_t resp;
            s3_call_t c = {.method = "DELETE", .key = w->key, .query = query};
            if (!s3_do(&c, &resp))
                expect("AbortMultipartUpload", &resp, 200, 299);
            pl_httpc_resp_free(&resp);
        }
    }
    if (w->fd >= 0)
        close(w->fd);
    free(w->etags);
    free(w);
}

/* ---- deletion ---- */

int pl_s3_delete(const char *key)
{
    pl_httpc_resp_t resp;
    s3_call_t c = {.method = "DELETE", .key = key};
    int rc = s3_do(&c, &resp);
    if (!rc && resp.status != 404)
        rc = expect("DeleteObject", &resp, 200, 299);
    pl_httpc_resp_free(&resp);
    return rc;
}

int pl_s3_delete_prefix(const char *prefix)
{
    char enc[256];
    char want[160];
    snprintf(want, sizeof(want), "%s/", prefix);
    if (pl_sigv4_encode(want, 0, enc, sizeof(enc)))
        return PL_EINTERNAL;
    for (int round = 0; round < 100000; round++) {
        char query[400];
        snprintf(query, sizeof(query), "list-type=2&prefix=%s", enc);
        pl_httpc_resp_t resp;
        s3_call_t c = {.method = "GET", .query = query, .max_response = LIST_MAX};
        int rc = s3_do(&c, &resp);
        if (!rc)
            rc = expect("ListObjectsV2", &resp, 200, 200);
        int deleted = 0;
        const char *at = resp.body;
        char key[1024];
        while (!rc && at && xml_text(resp.body, "Key", &at, key, sizeof(key))) {
            if (strncmp(key, want, strlen(want)))
                continue; /* not ours (cannot happen with the prefix) */
            if ((rc = pl_s3_delete(key)))
                break;
            deleted++;
        }
        pl_httpc_resp_free(&resp);
        if (rc || deleted == 0)
            return rc;
    }
    return PL_OK;
}

/* ---- downloads ---- */

struct pl_s3_reader {
    int fds[2]; /* [0] the reader's end, [1] the fetching thread's */
    pthread_t thread;
    bool started;
    char key[128];
    char range[80];
    uint64_t left;
    int status; /* the GET's outcome, read after the join */
    int rc;
};

static int push(void *cls, const char *data, size_t n)
{
    pl_s3_reader_t *r = cls;
    while (n) {
        ssize_t k = send(r->fds[1], data, n, MSG_NOSIGNAL);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return 1; /* the reader went away */
        }
        data += k;
        n -= (size_t)k;
    }
    return 0;
}

static void *fetch(void *arg)
{
    pl_s3_reader_t *r = arg;
    pl_httpc_resp_t resp;
    s3_call_t c = {.method = "GET",
                   .key = r->key,
                   .range = r->range,
                   .on_data = push,
                   .data_cls = r,
                   .timeout_ms = GET_TIMEOUT_MS};
    r->rc = s3_do(&c, &resp);
    r->status = resp.status;
    pl_httpc_resp_free(&resp);
    shutdown(r->fds[1], SHUT_WR);
    return NULL;
}

int pl_s3_open(const char *key, uint64_t offset, uint64_t len, pl_s3_reader_t **out)
{
    *out = NULL;
    /* the object must be there: a HEAD first, so a missing one is 404 and
     * not a broken body */
    pl_httpc_resp_t resp;
    s3_call_t head = {.method = "HEAD", .key = key};
    int rc = s3_do(&head, &resp);
    int status = resp.status;
    pl_httpc_resp_free(&resp);
    if (rc)
        return rc;
    if (status == 404)
        return PL_ENOTFOUND;
    if (status != 200) {
        pl_log("error", "files: S3 HeadObject answered %d", status);
        return PL_EINTERNAL;
    }
    pl_s3_reader_t *r = pl_xcalloc(1, sizeof(*r));
    snprintf(r->key, sizeof(r->key), "%s", key);
    r->left = len;
    if (len)
        snprintf(r->range, sizeof(r->range), "bytes=%llu-%llu", (unsigned long long)offset,
                 (unsigned long long)(offset + len - 1));
    r->fds[0] = r->fds[1] = -1;
    if (!len) {
        *out = r;
        return PL_OK;
    }
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, r->fds) ||
        pthread_create(&r->thread, NULL, fetch, r)) {
        pl_log("error", "files: cannot start a download: %s", strerror(errno));
        pl_s3_reader_free(r);
        return PL_EINTERNAL;
    }
    r->started = true;
    *out = r;
    return PL_OK;
}

long pl_s3_read(pl_s3_reader_t *r, char *buf, size_t max)
{
    if (!r->left)
        return 0;
    if (max > r->left)
        max = (size_t)r->left;
    ssize_t k;
    do
        k = recv(r->fds[0], buf, max, 0);
    while (k < 0 && errno == EINTR);
    if (k <= 0)
        return -1; /* shorter than its record, or the GET failed */
    r->left -= (uint64_t)k;
    return (long)k;
}

void pl_s3_reader_free(pl_s3_reader_t *r)
{
    if (!r)
        return;
    if (r->fds[0] >= 0)
        close(r->fds[0]); /* the fetching thread's next send fails: it stops */
    if (r->started)
        pthread_join(r->thread, NULL);
    if (r->fds[1] >= 0)
        close(r->fds[1]);
    free(r);
}
