/* web.h - what route handlers use: the request, responses, input
 * validation, paging, and the route table's types.
 *
 * A handler receives a pl_req_t whose route params, query, headers, JSON body
 * and caller (req->ctx.principal, and req->ctx.tenant on org routes) are
 * ready. It parses and validates input, calls a service with &req->ctx, and
 * renders the result (pl_resp_json / pl_resp_status / pl_resp_body); or it
 * returns a negative PL_E* error after recording the public detail in
 * req->ctx.err (pl_req_fail, pl_req_field_error, or a service did). Only
 * http/ turns errors into status codes and problem+json.
 *
 * web/ depends on core/ only, and only route files (x_routes.c) include it.
 *
 * Memory: everything hanging off the request lives in req->ctx.arena and is
 * freed when the request completes. A request is handled by one thread. */
#ifndef PL_WEB_H
#define PL_WEB_H

#include <jansson.h>

#include "core/core.h"
#include "core/ctx.h"
#include "core/feed.h"
#include "core/jsonw.h"

#define PL_MAX_PARAMS 5

typedef enum {
    PL_M_GET = 1,
    PL_M_POST = 2,
    PL_M_PUT = 4,
    PL_M_PATCH = 8,
    PL_M_DELETE = 16,
    PL_M_OPTIONS = 32,
    PL_M_HEAD = 64,
} pl_method_t;

/* Who may call a route (checked before the handler runs). */
typedef enum {
    PL_AUTH_NONE = 0, /* public */
    PL_AUTH_USER,     /* a signed-in user (access token); API keys get 401 */
    PL_AUTH_ADMIN,    /* an instance admin (401 without token, 403 otherwise) */
    PL_AUTH_ORG,      /* a member of {org} holding route->perm, or an API key of {org} */
} pl_auth_t;

typedef struct pl_req pl_req_t;
typedef struct pl_route pl_route_t;
typedef int (*pl_handler_t)(pl_req_t *req);

/* Where a PL_ROUTE_STREAM route's body goes, piece by piece, instead of a
 * buffer. open runs once the headers are in and the caller is
 * authenticated and authorized (in a read scope of its own that ends
 * before the body is read), before any byte of the body: it prepares
 * req->upload (registering its release on req->ctx.arena, which is freed
 * whatever happens: a client that goes away mid-body included) or records
 * an error that is answered at once. write takes each piece of the body in
 * order, on the request's thread, outside any transaction; an error it
 * records is answered once the body is in (the rest is read and dropped).
 * Then the route's handler runs as usual (authorized again, in its write
 * transaction), with req->upload and req->upload_len (the bytes received)
 * and no req->body. The body is capped at --max-upload (413). */
typedef struct {
    int (*open)(pl_req_t *req);
    int (*write)(pl_req_t *req, const char *data, size_t n);
} pl_body_sink_t;

struct pl_route {
    pl_method_t method;
    const char *path; /* template: "/v1/orgs/{org}/members/{user}" */
    pl_handler_t handler;
    pl_auth_t auth;
    const char *perm; /* permission key for PL_AUTH_ORG routes; NULL: any member */
    unsigned flags;   /* PL_ROUTE_* */
    /* For routes that browsers call through EventSource, which cannot send
     * headers: a request without an Authorization header may carry
     * ?ticket=, which this function redeems instead of a bearer token. It
     * fills req->ctx.principal (and, for an API key's ticket,
     * req->ctx.tenant, as the API-key check does) or records a 401 and
     * returns an error; then the route's auth and permission apply as
     * usual. NULL: bearer tokens only. */
    int (*ticket)(pl_req_t *req, const char *ticket);
    /* PL_ROUTE_STREAM routes: where the body goes (see pl_body_sink_t) */
    const pl_body_sink_t *sink;
    /* filled when the table is assembled at start */
    int index;          /* position in the table (metrics) */
    int perm_bit;       /* perm's bit in the catalog, -1 when perm is NULL */
    const char *module; /* name of the module that declared it */
    int segments;       /* the template's segments (pl_router_prepare; 0: not yet) */
    int prefix_len;     /* the length of its literal head, up to the first '{' */
};

#define PL_ROUTE_JSON 1u /* the body, when present, must be a JSON object */
/* The route serves its path and every path below it: "/account" matches
 * "/account", "/account/" and "/account/orgs/acme/members" (but not
 * "/accounts"). Its template has no parameters; the handler reads req->path.
 * A route whose template matches the path exactly wins over a subtree route,
 * and of two subtree routes the longer path wins. For static files and
 * single-page apps (src/ui). */
#define PL_ROUTE_SUBTREE 2u
/* a GET that writes (an audited read: revealing a secret): it runs outside
 * the read-only snapshot GETs get on SQLite, as other methods do */
#define PL_ROUTE_WRITE 4u
/* The handler hashes or verifies a password (Argon2id): authentication and
 * handler run on the hashing pool, off the HTTP threads (docs/architecture.md,
 * "Thread model"); when its queue is full the answer is 503 unavailable. */
#define PL_ROUTE_HASHING 8u
/* Served on the --metrics-http listener too (operations routes). */
#define PL_ROUTE_OPS 16u
/* With a --metrics-http listener, served there only (the metrics). */
#define PL_ROUTE_PRIVATE 32u
/* A PL_AUTH_ADMIN route under /v1/admin/orgs/{org}/: once the caller is
 * known to be an instance admin, {org} (id or slug) becomes the tenant
 * without membership and without a role, with an owner's permissions
 * (pl_orgs_admin_enter; 404 not_found when unknown), so an organization's
 * read handlers serve the admin's view of any organization as they are.
 * Only for GET routes. */
#define PL_ROUTE_ADMIN_ORG 64u
/* The body is streamed to route->sink up to --max-upload instead of being
 * buffered up to --max-body (uploads). */
#define PL_ROUTE_STREAM 128u

/* Where header and query values come from (set by http/). kind is
 * PL_REQ_HEADER or PL_REQ_QUERY; the result lives as long as the request. */
enum { PL_REQ_HEADER = 1, PL_REQ_QUERY = 2 };
typedef const char *(*pl_req_lookup_fn)(void *conn, int kind, const char *name);
/* Calls fn for every query argument in order (set by http/); fn returns 0 to
 * go on. */
typedef void (*pl_req_each_fn)(void *conn,
                               int (*fn)(void *arg, const char *name, const char *value),
                               void *arg);

struct pl_req {
    pl_ctx_t ctx; /* the caller, the arena, the error detail */
    /* input */
    pl_method_t method;
    const char *method_name;
    const char *path;        /* without the query string */
    const pl_route_t *route; /* NULL when unmatched */
    int nparams;
    const char *param_names[PL_MAX_PARAMS];
    const char *param_values[PL_MAX_PARAMS];
    const char *body; /* NUL-terminated copy, NULL when empty */
    size_t body_len;
    json_t *json;        /* parsed body object (PL_ROUTE_JSON), else NULL */
    void *upload;        /* PL_ROUTE_STREAM: the sink's state (set by its open) */
    uint64_t upload_len; /* PL_ROUTE_STREAM: body bytes received */
    char client_ip[64];
    char request_id[129];
    int64_t start_us;
    void *conn; /* the server's connection, for lookup */
    pl_req_lookup_fn lookup;
    pl_req_each_fn each_query;
    /* output */
    int status;
    const char *content_type;
    char *resp_body; /* owned by the arena (or static) */
    size_t resp_len;
    int nheaders;
    const char *hdr_names[12];
    const char *hdr_values[12];
    /* a streamed body (pl_resp_stream) instead of resp_body */
    long (*stream_read)(void *cls, uint64_t pos, char *buf, size_t max);
    void *stream_cls;
    void (*stream_free)(void *cls);
    bool stream_sized; /* stream_size is the body's length (Content-Length) */
    uint64_t stream_size;
    /* a body sent from a file descriptor (pl_resp_fd) */
    bool has_fd;
    int resp_fd;
    uint64_t fd_offset, fd_len;
    /* a long-lived body fed from another thread (pl_resp_feed); the
     * request holds a reference until the server takes it over */
    pl_feed_t *feed;
    /* work to run after the handler, outside its read snapshot */
    int ndeferred;
    void (*deferred_fn[4])(pl_req_t *req, void *arg);
    void *deferred_arg[4];
};

/* Runs fn(req, arg) after the handler returns and the request's read
 * snapshot has ended (e.g. a bookkeeping write such as a last-used time).
 * At most four per request; extra ones run at once. */
void pl_req_defer(pl_req_t *req, void (*fn)(pl_req_t *req, void *arg), void *arg);

/* Request input accessors. Returned strings are owned by the request. */
const char *pl_req_param(pl_req_t *req, const char *name);
const char *pl_req_query(pl_req_t *req, const char *name);
const char *pl_req_header(pl_req_t *req, const char *name);
/* Calls fn(arg, name, value) for every query argument (value "" for a bare
 * name) until fn returns non-zero; returns that value, or 0. */
int pl_req_query_each(pl_req_t *req, int (*fn)(void *arg, const char *name, const char *value),
                      void *arg);

/* Responses. The JSON value is serialized at once and released (steals ref). */
int pl_resp_json(pl_req_t *req, int status, json_t *body);
int pl_resp_status(pl_req_t *req, int status); /* empty body, e.g. 204 */
/* A body produced piece by piece after the handler returned (exports):
 * read fills buf with up to max bytes and returns their count, -1 at the
 * end, -2 on an error (the connection is then closed). It runs on the
 * request's thread, outside the request's transaction. free releases cls. */
#define PL_STREAM_END   (-1)
#define PL_STREAM_ERROR (-2)
int pl_resp_stream(pl_req_t *req, int status, const char *content_type,
                   long (*read)(void *cls, uint64_t pos, char *buf, size_t max), void *cls,
                   void (*free_cls)(void *cls));

/* pl_resp_stream for a body of a known length (sent as Content-Length). */
int pl_resp_stream_sized(pl_req_t *req, int status, const char *content_type, uint64_t size,
                         long (*read)(void *cls, uint64_t pos, char *buf, size_t max), void *cls,
                         void (*free_cls)(void *cls));
/* A body of len bytes of the file fd from offset (sent with sendfile where
 * possible). Takes fd: it is closed when the response is done, or when the
 * request ends without sending it. */
int pl_resp_fd(pl_req_t *req, int status, const char *content_type, int fd, uint64_t offset,
               uint64_t len);

/* A long-lived body fed by a module from its own thread (server-sent
 * events): the response is sent with status and content_type, then every
 * byte written into feed (core/feed.h), until the feed closes or the
 * client goes away. The connection holds no thread while it waits: it is
 * parked, and each write wakes it. Takes a reference to feed (the caller
 * keeps its own, as the producer). A request whose handler fails after this
 * call still releases it. */
int pl_resp_feed(pl_req_t *req, int status, const char *content_type, pl_feed_t *feed);

/* A JSON body already written into b (see core/jsonw.h); takes b's memory. */
int pl_resp_json_buf(pl_req_t *req, int status, pl_buf_t *b);
/* body is copied into the arena unless is_static. */
int pl_resp_body(pl_req_t *req, int status, const char *content_type, const char *body, size_t len,
                 bool is_static);
void pl_resp_header(pl_req_t *req, const char *name, const char *value);

/* Errors: record the public detail in req->ctx.err and return the given
 * PL_E* code, so a handler writes `return pl_req_fail(req, 409,
 * "email_taken", "...");` (core/ctx.h's pl_fail on the request's context). */
static inline int pl_req_fail(pl_req_t *req, int status, const char *code, const char *detail)
{
    return pl_fail(&req->ctx, status, code, detail);
}
/* Adds a field error (422 validation_failed unless another code is set). */
static inline void pl_req_field_error(pl_req_t *req, const char *field, const char *code,
                                      const char *message)
{
    pl_field_error(&req->ctx, field, code, message);
}

/* JSON body helpers: each records a 422 field error on failure and returns
 * PL_EINVAL. Strings are trimmed of nothing; lengths are in bytes. */
int pl_json_get_string(pl_req_t *req, const char *field, bool required, size_t min_len,
                       size_t max_len, const char **out);
/* pl_json_get_string for a name people read (of a user, an organization,
 * a team, a role, a key, a plan): also refuses control characters
 * (pl_text_has_control; 422, code "invalid"), which would land verbatim in
 * emails and logs. */
int pl_json_get_name(pl_req_t *req, const char *field, bool required, size_t min_len,
                     size_t max_len, const char **out);
int pl_json_get_bool(pl_req_t *req, const char *field, bool required, bool *out);
int pl_json_get_int(pl_req_t *req, const char *field, bool required, int64_t min, int64_t max,
                    int64_t *out);
/* Ends validation: PL_EINVAL when any field error was recorded. */
static inline int pl_req_validated(pl_req_t *req)
{
    return pl_validated(&req->ctx);
}

/* Header values (pure parsers, fuzzed in fuzz/fuzz_headers.c). */
/* The token of an "Authorization: Bearer TOKEN" value (scheme case-
 * insensitive, spaces around the token trimmed), pointing into h. PL_OK;
 * PL_ENOTFOUND when h is absent or blank; PL_EINVAL for another scheme or
 * an empty token. */
int pl_header_bearer(const char *h, pl_str_t *token);
/* Whether a Content-Type value is application/json (parameters allowed). */
bool pl_header_is_json(const char *ct);
/* The value of cookie name in a Cookie header (RFC 6265: "a=1; b=2",
 * surrounding quotes removed), copied into a; NULL when absent. */
const char *pl_header_cookie(pl_arena_t *a, const char *h, const char *name);
/* Whether an If-Match / If-None-Match value ("*", or a list of entity-tags
 * such as `"a", W/"b"`) names etag (the opaque tag, without quotes). Weak
 * comparison (If-None-Match) lets W/ tags match; strong comparison
 * (If-Match) does not. A malformed list matches nothing. */
bool pl_header_etag_match(const char *h, const char *etag, bool weak);

/* Pagination: parses ?limit= (default 50, 1..200) and ?cursor=; 400 on bad input. */
int pl_req_page(pl_req_t *req, int *limit, const char **cursor);

/* The same, for lists whose cursor is an id (a UUID): 400 otherwise. */
int pl_req_page_id(pl_req_t *req, int *limit, const char **cursor);

/* Renders a list page {"data": [...], "next_cursor": ...}. Steals data. */
int pl_resp_list(pl_req_t *req, json_t *data, const char *next_cursor);

/* Writes one item (a struct a service returned) as a JSON value. */
typedef void (*pl_write_fn)(pl_jw_t *w, const void *item);

/* Renders item, written by write, as the JSON body. */
int pl_resp_object(pl_req_t *req, int status, pl_write_fn write, const void *item);
/* Writes a list page {"data": [...], "next_cursor": ...} into b: n items of
 * size bytes each from items, each written by write; next_cursor NULL writes
 * null. PL_ELIMIT when b's cap is hit. For a page kept (pl_tcache) before it
 * is sent with pl_resp_json_buf. */
int pl_page_write(pl_buf_t *b, const void *items, size_t n, size_t size, pl_write_fn write,
                  const char *next_cursor);
/* Renders that page with status 200. */
int pl_resp_page(pl_req_t *req, const void *items, size_t n, size_t size, pl_write_fn write,
                 const char *next_cursor);

/* A time as RFC 3339 in the request's arena. */
static inline const char *pl_req_time(pl_req_t *req, int64_t ms)
{
    return pl_ctx_time(&req->ctx, ms);
}

#endif /* PL_WEB_H */
