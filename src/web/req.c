/* req.c - request accessors, responses and JSON input helpers. */
#include <string.h>
#include <unistd.h>

#include "web/web.h"

void pl_req_defer(pl_req_t *req, void (*fn)(pl_req_t *req, void *arg), void *arg)
{
    if (req->ndeferred < (int)PL_ARRAY_LEN(req->deferred_fn)) {
        req->deferred_fn[req->ndeferred] = fn;
        req->deferred_arg[req->ndeferred] = arg;
        req->ndeferred++;
    } else {
        fn(req, arg);
    }
}

const char *pl_req_param(pl_req_t *req, const char *name)
{
    for (int i = 0; i < req->nparams; i++)
        if (!strcmp(req->param_names[i], name))
            return req->param_values[i];
    return NULL;
}

const char *pl_req_query(pl_req_t *req, const char *name)
{
    return req->lookup ? req->lookup(req->conn, PL_REQ_QUERY, name) : NULL;
}

typedef struct {
    int (*fn)(void *arg, const char *name, const char *value);
    void *arg;
    int rc;
} query_each_t;

static int query_each_one(void *cls, const char *name, const char *value)
{
    query_each_t *q = cls;
    if (!q->rc)
        q->rc = q->fn(q->arg, name, value ? value : "");
    return q->rc;
}

int pl_req_query_each(pl_req_t *req, int (*fn)(void *arg, const char *name, const char *value),
                      void *arg)
{
    query_each_t q = {fn, arg, 0};
    if (req->each_query)
        req->each_query(req->conn, query_each_one, &q);
    return q.rc;
}

const char *pl_req_header(pl_req_t *req, const char *name)
{
    return req->lookup ? req->lookup(req->conn, PL_REQ_HEADER, name) : NULL;
}

int pl_resp_body(pl_req_t *req, int status, const char *content_type, const char *body, size_t len,
                 bool is_static)
{
    req->status = status;
    req->content_type = content_type;
    req->resp_body = is_static ? (char *)body : pl_arena_strndup(req->ctx.arena, body, len);
    req->resp_len = len;
    return PL_OK;
}

/* Serializes v compactly, keys in insertion order, as json_dumps with
 * JSON_COMPACT would, at a fraction of its cost (no per-token callbacks). */
static int dump(json_t *v, pl_buf_t *b)
{
    int rc = 0;
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        const char *key;
        json_t *val;
        bool first = true;
        rc |= pl_buf_append(b, "{", 1);
        json_object_foreach(v, key, val)
        {
            if (!first)
                rc |= pl_buf_append(b, ",", 1);
            first = false;
            rc |= pl_buf_append(b, "\"", 1);
            rc |= pl_buf_append_json_escaped(b, key, strlen(key));
            rc |= pl_buf_append(b, "\":", 2);
            rc |= dump(val, b);
        }
        rc |= pl_buf_append(b, "}", 1);
        break;
    }
    case JSON_ARRAY: {
        size_t i;
        json_t *val;
        rc |= pl_buf_append(b, "[", 1);
        json_array_foreach(v, i, val)
        {
            if (i)
                rc |= pl_buf_append(b, ",", 1);
            rc |= dump(val, b);
        }
        rc |= pl_buf_append(b, "]", 1);
        break;
    }
    case JSON_STRING:
        rc |= pl_buf_append(b, "\"", 1);
        rc |= pl_buf_append_json_escaped(b, json_string_value(v), json_string_length(v));
        rc |= pl_buf_append(b, "\"", 1);
        break;
    case JSON_INTEGER:
        rc |= pl_buf_appendf(b, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        break;
    case JSON_REAL:
        rc |= pl_buf_appendf(b, "%.17g", json_real_value(v));
        break;
    case JSON_TRUE:
        rc |= pl_buf_append(b, "true", 4);
        break;
    case JSON_FALSE:
        rc |= pl_buf_append(b, "false", 5);
        break;
    case JSON_NULL:
        rc |= pl_buf_append(b, "null", 4);
        break;
    }
    return rc ? PL_ELIMIT : PL_OK;
}

int pl_resp_json(pl_req_t *req, int status, json_t *body)
{
    if (!body)
        return PL_EINTERNAL; /* a json_pack format error: a bug */
    pl_buf_t b;
    pl_buf_init(&b, 64 * 1024 * 1024);
    int rc = dump(body, &b);
    json_decref(body);
    if (rc) {
        pl_buf_free(&b);
        return PL_EINTERNAL;
    }
    if (!b.ptr)
        pl_buf_append(&b, "", 0);
    pl_arena_cleanup_add(req->ctx.arena, free, b.ptr);
    req->status = status;
    req->content_type = "application/json";
    req->resp_body = b.ptr;
    req->resp_len = b.len;
    return PL_OK;
}

int pl_resp_json_buf(pl_req_t *req, int status, pl_buf_t *b)
{
    if (!b->ptr)
        pl_buf_append(b, "", 0);
    pl_arena_cleanup_add(req->ctx.arena, free, b->ptr);
    req->status = status;
    req->content_type = "application/json";
    req->resp_body = b->ptr;
    req->resp_len = b->len;
    pl_buf_init(b, b->max);
    return PL_OK;
}

int pl_resp_stream(pl_req_t *req, int status, const char *content_type,
                   long (*read)(void *cls, uint64_t pos, char *buf, size_t max), void *cls,
                   void (*free_cls)(void *cls))
{
    req->status = status;
    req->content_type = content_type;
    req->resp_body = NULL;
    req->resp_len = 0;
    req->stream_read = read;
    req->stream_cls = cls;
    req->stream_free = free_cls;
    return PL_OK;
}

int pl_resp_stream_sized(pl_req_t *req, int status, const char *content_type, uint64_t size,
                         long (*read)(void *cls, uint64_t pos, char *buf, size_t max), void *cls,
                         void (*free_cls)(void *cls))
{
    pl_resp_stream(req, status, content_type, read, cls, free_cls);
    req->stream_sized = true;
    req->stream_size = size;
    return PL_OK;
}

int pl_resp_fd(pl_req_t *req, int status, const char *content_type, int fd, uint64_t offset,
               uint64_t len)
{
    req->status = status;
    req->content_type = content_type;
    req->resp_body = NULL;
    req->resp_len = 0;
    if (req->has_fd)
        close(req->resp_fd);
    req->has_fd = true;
    req->resp_fd = fd;
    req->fd_offset = offset;
    req->fd_len = len;
    return PL_OK;
}

int pl_resp_feed(pl_req_t *req, int status, const char *content_type, pl_feed_t *feed)
{
    req->status = status;
    req->content_type = content_type;
    req->resp_body = NULL;
    req->resp_len = 0;
    if (req->feed)
        pl_feed_detach(req->feed);
    pl_feed_ref(feed);
    req->feed = feed;
    return PL_OK;
}

int pl_resp_status(pl_req_t *req, int status)
{
    req->status = status;
    req->content_type = NULL;
    req->resp_body = NULL;
    req->resp_len = 0;
    return PL_OK;
}

void pl_resp_header(pl_req_t *req, const char *name, const char *value)
{
    if (req->nheaders < (int)PL_ARRAY_LEN(req->hdr_names)) {
        req->hdr_names[req->nheaders] = name;
        req->hdr_values[req->nheaders] = pl_arena_strdup(req->ctx.arena, value);
        req->nheaders++;
    }
}

static json_t *body_field(pl_req_t *req, const char *field)
{
    return req->json ? json_object_get(req->json, field) : NULL;
}

int pl_json_get_string(pl_req_t *req, const char *field, bool required, size_t min_len,
                       size_t max_len, const char **out)
{
    json_t *v = body_field(req, field);
    *out = NULL;
    if (!v || json_is_null(v)) {
        if (!required)
            return PL_OK;
        pl_req_field_error(req, field, "required", "This field is required.");
        return PL_EINVAL;
    }
    if (!json_is_string(v)) {
        pl_req_field_error(req, field, "invalid", "Must be a string.");
        return PL_EINVAL;
    }
    size_t len = json_string_length(v);
    const char *s = json_string_value(v);
    if (memchr(s, '\0', len)) {
        pl_req_field_error(req, field, "invalid", "Must not contain NUL characters.");
        return PL_EINVAL;
    }
    if (len < min_len) {
        pl_req_field_error(req, field, len ? "too_short" : "required",
                           pl_arena_printf(req->ctx.arena, "Must be at least %zu bytes.", min_len));
        return PL_EINVAL;
    }
    if (len > max_len) {
        pl_req_field_error(req, field, "too_long",
                           pl_arena_printf(req->ctx.arena, "Must be at most %zu bytes.", max_len));
        return PL_EINVAL;
    }
    *out = s;
    return PL_OK;
}

int pl_json_get_name(pl_req_t *req, const char *field, bool required, size_t min_len,
                     size_t max_len, const char **out)
{
    int rc = pl_json_get_string(req, field, required, min_len, max_len, out);
    if (rc || !*out || !pl_text_has_control(*out, strlen(*out)))
        return rc;
    *out = NULL;
    pl_req_field_error(req, field, "invalid", "Must not contain control characters.");
    return PL_EINVAL;
}

int pl_json_get_bool(pl_req_t *req, const char *field, bool required, bool *out)
{
    json_t *v = body_field(req, field);
    if (!v || json_is_null(v)) {
        if (!required)
            return PL_OK;
        pl_req_field_error(req, field, "required", "This field is required.");
        return PL_EINVAL;
    }
    if (!json_is_boolean(v)) {
        pl_req_field_error(req, field, "invalid", "Must be true or false.");
        return PL_EINVAL;
    }
    *out = json_is_true(v);
    return PL_OK;
}

int pl_json_get_int(pl_req_t *req, const char *field, bool required, int64_t min, int64_t max,
                    int64_t *out)
{
    json_t *v = body_field(req, field);
    if (!v || json_is_null(v)) {
        if (!required)
            return PL_OK;
        pl_req_field_error(req, field, "required", "This field is required.");
        return PL_EINVAL;
    }
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
        pl_req_field_error(req, field, "invalid",
                           pl_arena_printf(req->ctx.arena, "Must be an integer from %lld to %lld.",
                                           (long long)min, (long long)max));
        return PL_EINVAL;
    }
    *out = json_integer_value(v);
    return PL_OK;
}

int pl_req_page(pl_req_t *req, int *limit, const char **cursor)
{
    const char *l = pl_req_query(req, "limit");
    int64_t v = 50;
    if (l && pl_parse_int64(l, 1, 200, &v))
        return pl_req_fail(req, 400, "bad_request", "limit must be an integer from 1 to 200.");
    *limit = (int)v;
    const char *c = pl_req_query(req, "cursor");
    if (c && (strlen(c) == 0 || strlen(c) > 512))
        return pl_req_fail(req, 400, "bad_request", "cursor is malformed.");
    *cursor = (c && *c) ? c : NULL;
    return PL_OK;
}

int pl_req_page_id(pl_req_t *req, int *limit, const char **cursor)
{
    int rc = pl_req_page(req, limit, cursor);
    if (!rc && *cursor && !pl_uuid_valid(*cursor))
        rc = pl_req_fail(req, 400, "bad_request", "cursor is malformed.");
    return rc;
}

int pl_resp_list(pl_req_t *req, json_t *data, const char *next_cursor)
{
    json_t *o = json_object();
    json_object_set_new(o, "data", data);
    json_object_set_new(o, "next_cursor", next_cursor ? json_string(next_cursor) : json_null());
    return pl_resp_json(req, 200, o);
}

#define OBJECT_MAX (4 * 1024 * 1024)
#define PAGE_MAX   (16 * 1024 * 1024)

int pl_resp_object(pl_req_t *req, int status, pl_write_fn write, const void *item)
{
    pl_buf_t b;
    pl_buf_init(&b, OBJECT_MAX);
    pl_jw_t w;
    pl_jw_init(&w, &b);
    write(&w, item);
    int rc = w.err ? w.err : pl_resp_json_buf(req, status, &b);
    pl_buf_free(&b);
    return rc;
}

int pl_page_write(pl_buf_t *b, const void *items, size_t n, size_t size, pl_write_fn write,
                  const char *next_cursor)
{
    pl_jw_t w;
    pl_jw_init(&w, b);
    pl_jw_object_open(&w, NULL);
    pl_jw_array_open(&w, "data");
    for (size_t i = 0; i < n; i++)
        write(&w, (const char *)items + i * size);
    pl_jw_array_close(&w);
    pl_jw_string(&w, "next_cursor", next_cursor);
    pl_jw_object_close(&w);
    return w.err;
}

int pl_resp_page(pl_req_t *req, const void *items, size_t n, size_t size, pl_write_fn write,
                 const char *next_cursor)
{
    pl_buf_t b;
    pl_buf_init(&b, PAGE_MAX);
    int rc = pl_page_write(&b, items, n, size, write, next_cursor);
    if (!rc)
        rc = pl_resp_json_buf(req, 200, &b);
    pl_buf_free(&b);
    return rc;
}
