/* files_routes.c - the file routes (/v1/orgs/{org}/files..., and the signed
 * download /v1/files/{id}/download) and the module's descriptor.
 *
 * Uploads are PL_ROUTE_STREAM routes: the body reaches upload_write piece by
 * piece (raw, or through the multipart parser) and goes straight to storage;
 * the handler then finishes the upload. Downloads are sent from the object
 * (sendfile for local storage), never read whole. */
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "files/files.h"
#include "files/multipart.h"
#include "web/web.h"

static json_t *file_json(pl_req_t *req, const pl_file_t *f)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(f->id));
    json_object_set_new(o, "name", json_string(f->name));
    json_object_set_new(o, "content_type", json_string(f->content_type));
    json_object_set_new(o, "size", json_integer(f->size));
    json_object_set_new(o, "sha256", json_string(f->sha256));
    json_object_set_new(o, "created_by", f->created_by ? json_string(f->created_by) : json_null());
    json_object_set_new(o, "created_at", json_string(pl_req_time(req, f->created_at)));
    return o;
}

/* ---- upload ---- */

typedef struct {
    pl_req_t *req;
    pl_upload_t *up;
    pl_mp_t *mp; /* multipart/form-data; NULL for a raw body */
} upload_state_t;

static int mp_data(void *cls, const char *data, size_t n)
{
    upload_state_t *s = cls;
    return pl_files_upload_write(&s->req->ctx, s->up, data, n) ? 1 : 0;
}

static int upload_open(pl_req_t *req)
{
    upload_state_t *s = pl_arena_alloc(req->ctx.arena, sizeof(*s));
    s->req = req;
    const char *ct = pl_req_header(req, "Content-Type");
    if (ct && !strncasecmp(ct, "multipart/", 10)) {
        char boundary[PL_MP_BOUNDARY_MAX + 1];
        if (!pl_mp_boundary(ct, boundary))
            return pl_req_fail(req, 400, "bad_request",
                               "Send multipart/form-data with a valid boundary.");
        s->mp = pl_arena_alloc(req->ctx.arena, sizeof(*s->mp));
        pl_mp_init(s->mp, boundary, "file", mp_data, s);
    } else if (!pl_req_query(req, "name")) {
        pl_req_field_error(req, "name", "required", "Name the file with ?name=.");
        return PL_EINVAL;
    }
    int rc = pl_files_upload_begin(&req->ctx, &s->up);
    if (rc)
        return rc;
    pl_arena_cleanup_add(req->ctx.arena, pl_files_upload_free, s->up);
    req->upload = s;
    return PL_OK;
}

static int upload_write(pl_req_t *req, const char *data, size_t n)
{
    upload_state_t *s = req->upload;
    if (!s->mp)
        return pl_files_upload_write(&req->ctx, s->up, data, n);
    int rc = pl_mp_feed(s->mp, data, n);
    if (rc == PL_MP_EMALFORMED)
        return pl_req_fail(req, 400, "bad_request", "The multipart body is malformed.");
    if (rc)
        return req->ctx.err.status ? pl_err_for_status(req->ctx.err.status) : PL_EINTERNAL;
    return PL_OK;
}

static const pl_body_sink_t upload_sink = {upload_open, upload_write};

static int upload(pl_req_t *req)
{
    upload_state_t *s = req->upload;
    if (!s)
        return PL_EINTERNAL;
    const char *name = pl_req_query(req, "name");
    const char *declared;
    if (s->mp) {
        if (!s->mp->done)
            return pl_req_fail(req, 400, "bad_request",
                               "The multipart body ended before its closing boundary.");
        if (!s->mp->found) {
            pl_req_field_error(req, "file", "required", "Send the file in the field \"file\".");
            return PL_EINVAL;
        }
        if (!name || !*name) {
            /* some browsers send a path ("C:\\fakepath\\a.png"): its last part */
            name = s->mp->filename;
            for (const char *p = name; *p; p++)
                if (*p == '/' || *p == '\\')
                    name = p + 1;
        }
        declared = s->mp->content_type;
    } else {
        declared = pl_req_header(req, "Content-Type");
    }
    pl_file_t f;
    int rc = pl_files_upload_finish(pl_db_thread(), &req->ctx, s->up, name, declared, &f);
    if (rc)
        return rc;
    char *loc =
        pl_arena_printf(req->ctx.arena, "/v1/orgs/%s/files/%s", req->ctx.tenant.org_id, f.id);
    pl_resp_header(req, "Location", loc);
    return pl_resp_json(req, 201, file_json(req, &f));
}

/* ---- reading ---- */

static int list(pl_req_t *req)
{
    int limit;
    const char *cursor;
    int rc = pl_req_page_id(req, &limit, &cursor);
    if (rc)
        return rc;
    pl_file_page_t page;
    if ((rc = pl_files_list(pl_db_thread(), &req->ctx, cursor, limit, &page)))
        return rc;
    json_t *data = json_array();
    for (int i = 0; i < page.n; i++)
        json_array_append_new(data, file_json(req, &page.items[i]));
    return pl_resp_list(req, data, page.next_cursor);
}

static int get(pl_req_t *req)
{
    pl_file_t f;
    int rc = pl_files_get(pl_db_thread(), &req->ctx, pl_req_param(req, "id"), &f);
    return rc ? rc : pl_resp_json(req, 200, file_json(req, &f));
}

static int delete (pl_req_t *req)
{
    int rc = pl_files_delete(pl_db_thread(), &req->ctx, pl_req_param(req, "id"));
    return rc ? rc : pl_resp_status(req, 204);
}

/* "bytes=a-b", "bytes=a-", "bytes=-n" against size: 1 with [*off, *off +
 * *len), -1 when unsatisfiable, 0 to send the whole (no header, several
 * ranges, or a form we do not read: RFC 9110 lets a server ignore Range). */
static int parse_range(const char *h, uint64_t size, uint64_t *off, uint64_t *len)
{
    if (!h || strncmp(h, "bytes=", 6) || strchr(h, ','))
        return 0;
    const char *p = h + 6;
    const char *dash = strchr(p, '-');
    if (!dash)
        return 0;
    int64_t a = -1, b = -1;
    char first[24], last[24];
    size_t n1 = (size_t)(dash - p), n2 = strlen(dash + 1);
    if (n1 >= sizeof(first) || n2 >= sizeof(last))
        return 0;
    memcpy(first, p, n1);
    first[n1] = '\0';
    memcpy(last, dash + 1, n2 + 1);
    if (n1 && pl_parse_int64(first, 0, INT64_MAX, &a))
        return 0;
    if (n2 && pl_parse_int64(last, 0, INT64_MAX, &b))
        return 0;
    if (!n1 && !n2)
        return 0;
    if (!n1) { /* the last b bytes */
        if (b == 0 || size == 0)
            return -1;
        *len = (uint64_t)b > size ? size : (uint64_t)b;
        *off = size - *len;
        return 1;
    }
    if (n2 && b < a)
        return 0;
    if ((uint64_t)a >= size)
        return -1;
    uint64_t end = n2 && (uint64_t)b < size - 1 ? (uint64_t)b : size - 1;
    *off = (uint64_t)a;
    *len = end - (uint64_t)a + 1;
    return 1;
}

/* Content-Disposition with an ASCII filename and the exact one as
 * filename* (RFC 6266, RFC 8187). */
static const char *disposition(pl_req_t *req, const pl_file_t *f)
{
    bool inline_ok = pl_files_inline_type(f->content_type);
    size_t n = strlen(f->name);
    char *ascii = pl_arena_alloc(req->ctx.arena, n + 1);
    char *ext = pl_arena_alloc(req->ctx.arena, 3 * n + 1);
    size_t e = 0;
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)f->name[i];
        ascii[i] = c >= 0x20 && c < 0x7f && c != '"' && c != '\\' && c != ';' ? (char)c : '_';
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            strchr("!#$&+-.^_`|~", c)) {
            ext[e++] = (char)c;
        } else {
            ext[e++] = '%';
            ext[e++] = hex[c >> 4];
            ext[e++] = hex[c & 15];
        }
    }
    return pl_arena_printf(req->ctx.arena, "%s; filename=\"%s\"; filename*=UTF-8''%s",
                           inline_ok ? "inline" : "attachment", ascii, ext);
}

static long read_object(void *cls, uint64_t pos, char *buf, size_t max)
{
    PL_UNUSED(pos);
    long n = pl_files_read(cls, buf, max);
    return n > 0 ? n : n == 0 ? PL_STREAM_END : PL_STREAM_ERROR;
}

static void free_object(void *cls)
{
    pl_files_reader_free(cls);
}

/* Sends file f's bytes: ETag, If-None-Match, Range, and the headers that
 * keep a browser from running what it holds. */
static int send_content(pl_req_t *req, const pl_file_t *f)
{
    const char *etag = pl_arena_printf(req->ctx.arena, "\"%s\"", f->sha256);
    pl_resp_header(req, "ETag", etag);
    pl_resp_header(req, "Accept-Ranges", "bytes");
    pl_resp_header(req, "Cache-Control", "private, no-cache");
    pl_resp_header(req, "Content-Security-Policy", "sandbox");
    pl_resp_header(req, "X-Content-Type-Options", "nosniff");
    const char *inm = pl_req_header(req, "If-None-Match");
    if (inm && pl_header_etag_match(inm, f->sha256, true))
        return pl_resp_status(req, 304);
    uint64_t size = (uint64_t)f->size, off = 0, len = size;
    int range = parse_range(pl_req_header(req, "Range"), size, &off, &len);
    if (range < 0) {
        pl_resp_header(req, "Content-Range",
                       pl_arena_printf(req->ctx.arena, "bytes */%llu", (unsigned long long)size));
        return pl_req_fail(req, 416, "range_not_satisfiable", "The range lies outside the file.");
    }
    if (range > 0)
        pl_resp_header(req, "Content-Range",
                       pl_arena_printf(req->ctx.arena, "bytes %llu-%llu/%llu",
                                       (unsigned long long)off, (unsigned long long)(off + len - 1),
                                       (unsigned long long)size));
    pl_resp_header(req, "Content-Disposition", disposition(req, f));
    int status = range > 0 ? 206 : 200;
    pl_freader_t *r;
    int rc = pl_files_open(&req->ctx, f, off, len, &r);
    if (rc)
        return rc;
    int fd = pl_files_reader_fd(r);
    if (fd >= 0) {
        int copy = dup(fd);
        pl_files_reader_free(r);
        if (copy < 0)
            return PL_EINTERNAL;
        return pl_resp_fd(req, status, f->content_type, copy, off, len);
    }
    return pl_resp_stream_sized(req, status, f->content_type, len, read_object, r, free_object);
}

static int content(pl_req_t *req)
{
    pl_file_t f;
    int rc = pl_files_get(pl_db_thread(), &req->ctx, pl_req_param(req, "id"), &f);
    return rc ? rc : send_content(req, &f);
}

static int sign_url(pl_req_t *req)
{
    int64_t ttl = PL_FILE_URL_TTL_DEF;
    if (req->json && json_object_get(req->json, "expires_in") &&
        pl_json_get_int(req, "expires_in", false, 1, PL_FILE_URL_TTL_MAX, &ttl))
        return PL_EINVAL;
    const char *url;
    int64_t expires_at;
    int rc = pl_files_sign_url(pl_db_thread(), &req->ctx, pl_req_param(req, "id"), ttl, &url,
                               &expires_at);
    if (rc)
        return rc;
    json_t *o = json_object();
    json_object_set_new(o, "url", json_string(url));
    json_object_set_new(o, "expires_at", json_string(pl_req_time(req, expires_at)));
    return pl_resp_json(req, 200, o);
}

static int download(pl_req_t *req)
{
    PL_DB_THREAD(db);
    pl_file_t f;
    int rc = pl_files_verify_url(db, &req->ctx, pl_req_param(req, "id"),
                                 pl_req_query(req, "expires"), pl_req_query(req, "sig"), &f);
    return rc ? rc : send_content(req, &f);
}

/* ---- the module ---- */

#define ORG PL_AUTH_ORG

static pl_route_t routes[] = {
    {PL_M_GET, "/v1/orgs/{org}/files", list, ORG, "file.read", 0},
    {PL_M_POST, "/v1/orgs/{org}/files", upload, ORG, "file.write", PL_ROUTE_STREAM, NULL,
     &upload_sink},
    {PL_M_GET, "/v1/orgs/{org}/files/{id}", get, ORG, "file.read", 0},
    {PL_M_DELETE, "/v1/orgs/{org}/files/{id}", delete, ORG, "file.read", 0},
    {PL_M_GET, "/v1/orgs/{org}/files/{id}/content", content, ORG, "file.read", 0},
    {PL_M_POST, "/v1/orgs/{org}/files/{id}/url", sign_url, ORG, "file.read", PL_ROUTE_JSON},
    {PL_M_GET, "/v1/files/{id}/download", download, PL_AUTH_NONE, NULL, 0},
    {0},
};

static const pl_perm_def_t perms[] = {
    {"file.read", "See and download the organization's files", PL_ROLES_VIEWER},
    {"file.write", "Upload files", PL_ROLES_MEMBER},
    {"file.delete", "Delete any file (anyone may delete a file they uploaded)", PL_ROLES_ADMIN},
    {0},
};

static const pl_error_def_t errors[] = {
    {"plan_limit_reached", "Plan limit reached"},
    {"unsupported_media_type", "Unsupported media type"},
    {"range_not_satisfiable", "Range not satisfiable"},
    {"insufficient_storage", "Insufficient storage"},
    {0},
};

const pl_module_t pl_files_module = {
    .name = "files",
    .routes = routes,
    .perms = perms,
    .errors = errors,
    .jobs = pl_files_jobs,
    .options = pl_files_options,
    .actions = pl_files_actions,
    .on_event = pl_files_on_event,
    .init = pl_files_init,
    .stop = pl_files_stop,
};
