/* server.c - libmicrohttpd glue: body accumulation with a cap, the middleware
 * chain (request id, security headers, CORS, body checks, authentication),
 * dispatch through the route table assembled from the modules, problem+json
 * errors, the hashing pool for routes that hash passwords, the metrics
 * listener, access log, metrics, and graceful shutdown. */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netdb.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/config.h"
#include "core/crypto.h"
#include "core/feed.h"
#include "core/metrics.h"
#include "core/workpool.h"
#include "db/db.h"
#include "http/clientip.h"
#include "http/conns.h"
#include "http/dispatch.h"
#include "http/ratelimit.h"
#include "http/router.h"
#include "http/server.h"
#include "modules.h"
#include "platform/events/events.h"
#include "platform/jobs/jobs.h"
#include "rbac/rbac.h"

static struct MHD_Daemon *daemon_;
static struct MHD_Daemon *metrics_daemon;
static atomic_int in_flight;

/* CORS: allowed origins, or allow_any for "*". */
static char **cors_origins;
static size_t cors_count;
static bool cors_any;

/* Body bytes read and thrown away after the cap before answering 413, so the
 * client reads the answer instead of a reset connection. */
#define DRAIN_EXTRA (16u * 1024 * 1024)

/* Request size limits answered in our problem+json shape (414, 431). They
 * sit below libmicrohttpd's own (its per-connection memory, MHD_MEMORY),
 * which answers larger requests itself with a bare body
 * (docs/security.md, "What libmicrohttpd answers itself"). */
#define MAX_TARGET       (8 * 1024)  /* request-target: path and query */
#define MAX_HEADER_BYTES (24 * 1024) /* request line and header fields */
#define MHD_MEMORY       (64 * 1024)
/* A header value handed to handlers is valid UTF-8 without control
 * characters and at most this long (pl_req_header). */
#define HEADER_VALUE_MAX 8192

/* A listening socket: the API, or the --metrics-http one, which serves only
 * the operations routes (PL_ROUTE_OPS). */
typedef struct {
    bool ops_only;
} listener_t;

static const listener_t api_listener = {false};
static const listener_t metrics_listener = {true};

typedef enum {
    CS_HEADERS, /* the request line arrived; headers are coming */
    CS_BODY,    /* the headers are in; the body is coming */
    CS_POOLED,  /* handed to the hashing pool; the connection is parked */
    CS_READY,   /* the answer is ready to be sent */
} cs_phase_t;

typedef struct {
    pl_req_t req;
    pl_buf_t body;
    bool too_large;
    size_t received;
    struct MHD_Connection *conn;
    const listener_t *listener;
    const char *raw_path; /* the path as sent, escapes undecoded (arena) */
    size_t target_len;    /* request-target bytes, query included */
    int early_status;     /* 414 or 431 decided from the headers; 0 none */
    cs_phase_t phase;
    /* a PL_ROUTE_STREAM route: the request was prepared, routed and
     * authorized when its headers arrived, and its body goes to the sink */
    bool streaming;
    int sink_rc;   /* the sink's first error; the rest of the body is dropped */
    bool answered; /* refused when the headers came: the body is not read */
} conn_state_t;

/* The pool that runs PL_ROUTE_HASHING routes. */
static pl_workpool_t *hash_pool;
static pl_counter_t hash_refused = {
    "plinth_hash_refused_total",
    "Requests answered 503 because the password hashing queue was full.", "", 0, NULL};

/* The route table and the error titles, assembled from the modules at
 * start and read-only after. */
static pl_route_t *routes;
static size_t nroutes;
static const char **route_labels;
static const pl_error_def_t **error_lists;
static size_t nerror_lists;

static const char *title_for(const char *code)
{
    for (size_t i = 0; i < nerror_lists; i++)
        for (const pl_error_def_t *e = error_lists[i]; e->code; e++)
            if (!strcmp(e->code, code))
                return e->title;
    return "Error";
}

/* ---- request ids ---- */

static bool request_id_ok(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++) {
        char c = s[n];
        if (n >= 128 || !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                          (c >= '0' && c <= '9') || c == '.' || c == '_' || c == ':' || c == '-'))
            return false;
    }
    return n > 0;
}

/* Request ids need to be unique, not secret: a per-thread xorshift generator
 * seeded from the CSPRNG avoids a syscall per request. */
static void new_request_id(char out[37])
{
    static __thread uint64_t s0, s1;
    if (!s0 && !s1) {
        pl_random_bytes(&s0, sizeof(s0));
        pl_random_bytes(&s1, sizeof(s1));
        s0 |= 1;
    }
    unsigned char b[16];
    uint64_t ms = (uint64_t)pl_now_ms();
    for (int k = 0; k < 2; k++) {
        uint64_t x = s0, y = s1;
        s0 = y;
        x ^= x << 23;
        s1 = x ^ y ^ (x >> 17) ^ (y >> 26);
        uint64_t r = s1 + y;
        memcpy(b + 6 + 5 * k, &r, k ? 5 : 5);
    }
    for (int i = 0; i < 6; i++)
        b[i] = (unsigned char)(ms >> (40 - 8 * i));
    b[6] = (unsigned char)(0x70 | (b[6] & 0x0f));
    b[8] = (unsigned char)(0x80 | (b[8] & 0x3f));
    static const char digits[] = "0123456789abcdef";
    for (int i = 0, k = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[k++] = '-';
        out[k++] = digits[b[i] >> 4];
        out[k++] = digits[b[i] & 15];
    }
    out[36] = '\0';
}

/* ---- client address ---- */

typedef struct {
    const char *lines[PL_CLIENTIP_MAX_LINES + 1];
    int n;
} xff_t;

static enum MHD_Result collect_xff(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *value)
{
    PL_UNUSED(kind);
    xff_t *x = cls;
    if (!strcasecmp(key, "X-Forwarded-For") && x->n <= PL_CLIENTIP_MAX_LINES)
        x->lines[x->n++] = value; /* one too many marks "too many" */
    return MHD_YES;
}

static void client_ip(struct MHD_Connection *c, char *out, size_t size)
{
    char peer[64] = "";
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (ci && ci->client_addr) {
        const struct sockaddr *sa = ci->client_addr;
        if (sa->sa_family == AF_INET)
            inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, peer, sizeof(peer));
        else if (sa->sa_family == AF_INET6)
            inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, peer, sizeof(peer));
    }
    xff_t x = {.n = 0};
    if (pl_clientip_trusted(peer))
        MHD_get_connection_values(c, MHD_HEADER_KIND, collect_xff, &x);
    pl_clientip_resolve(peer, x.lines, x.n, out, size);
}

/* ---- CORS ---- */

static const char *cors_allowed(pl_req_t *req)
{
    if (!cors_count && !cors_any)
        return NULL;
    const char *origin = pl_req_header(req, "Origin");
    if (!origin || !*origin)
        return NULL;
    if (cors_any)
        return origin;
    for (size_t i = 0; i < cors_count; i++)
        if (!strcmp(cors_origins[i], origin))
            return origin;
    return NULL;
}

/* ---- responses ---- */

static void render_problem(pl_req_t *req, int rc)
{
    pl_err_t *err = &req->ctx.err;
    if (req->feed) { /* the error replaces a long-lived body */
        pl_feed_detach(req->feed);
        req->feed = NULL;
    }
    int status = err->status;
    const char *code = err->code;
    const char *detail = err->detail;
    if (!status) {
        switch (rc) {
        case PL_ENOTFOUND:
            status = 404, code = "not_found", detail = "The resource does not exist.";
            break;
        case PL_EUNAUTH:
            status = 401, code = "unauthenticated", detail = "Authentication is required.";
            break;
        case PL_EFORBIDDEN:
            status = 403, code = "forbidden", detail = "You are not allowed to do this.";
            break;
        case PL_ECONFLICT:
            status = 409, code = "conflict", detail = "The request conflicts with current state.";
            break;
        case PL_EINVAL:
            status = 400, code = "bad_request", detail = "The request is malformed.";
            break;
        case PL_EBUSY:
            status = 503, code = "unavailable", detail = "The service is busy; try again.";
            err->retry_after = 1;
            break;
        case PL_EUNAVAILABLE:
            status = 503, code = "unavailable",
            detail = "The database cannot be reached; try again shortly.";
            err->retry_after = 5;
            break;
        case PL_ENOSPACE:
            status = 507, code = "insufficient_storage",
            detail = "The server has no storage left for this change.";
            break;
        case PL_EDB:
            if (pl_db_unavailable()) { /* the connection, not the query, failed */
                status = 503, code = "unavailable",
                detail = "The database cannot be reached; try again shortly.";
                err->retry_after = 5;
                break;
            }
            /* fall through */
        default:
            status = 500, code = "internal", detail = "An internal error occurred.";
            break;
        }
    }
    if (status >= 500 && status != 503 && status != 507)
        pl_log("error", "request %s %s failed with %d (request_id %s)", req->method_name,
               req->route ? req->route->path : req->path, rc, req->request_id);
    json_t *o = json_object();
    json_object_set_new(o, "type", json_sprintf("urn:plinth:error:%s", code));
    json_object_set_new(o, "title", json_string(title_for(code)));
    json_object_set_new(o, "status", json_integer(status));
    json_object_set_new(o, "code", json_string(code));
    if (detail)
        json_object_set_new(o, "detail", json_string(detail));
    if (err->nfield_errors) {
        json_t *errs = json_array();
        for (int i = 0; i < err->nfield_errors; i++) {
            const pl_field_error_t *e = &err->field_errors[i];
            json_t *fe = json_object();
            json_object_set_new(fe, "field", json_string(e->field));
            json_object_set_new(fe, "code", json_string(e->code));
            json_object_set_new(fe, "message", json_string(e->message ? e->message : ""));
            json_array_append_new(errs, fe);
        }
        json_object_set_new(o, "errors", errs);
    }
    if (err->extra_json) {
        /* extra members a service added (e.g. the limit of a 402) */
        char *text = pl_arena_printf(req->ctx.arena, "{%s}", err->extra_json);
        json_t *extra = json_loads(text, 0, NULL);
        if (json_is_object(extra))
            json_object_update_missing(o, extra);
        json_decref(extra);
    }
    json_object_set_new(o, "request_id", json_string(req->request_id));
    pl_resp_json(req, status, o);
    req->content_type = "application/problem+json";
    if (status == 429 || status == 503) {
        char ra[16];
        snprintf(ra, sizeof(ra), "%d", err->retry_after > 0 ? err->retry_after : 1);
        pl_resp_header(req, "Retry-After", ra);
    }
}

/* The access log's pieces, appended without a format string (formatting
 * was a few percent of a small request). */
static int put(pl_buf_t *b, const char *s)
{
    return pl_buf_append(b, s, strlen(s));
}

/* v in decimal, at least min_digits of them (zero-padded). */
static int put_uint(pl_buf_t *b, unsigned long long v, int min_digits)
{
    char d[24];
    int n = 0;
    do {
        d[sizeof(d) - 1 - n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v || n < min_digits);
    return pl_buf_append(b, d + sizeof(d) - n, (size_t)n);
}

static void access_log(pl_req_t *req)
{
    char ts[32];
    pl_time_format(pl_now_ms(), ts);
    long long us = (long long)(pl_monotonic_us() - req->start_us);
    if (us < 0)
        us = 0;
    /* a stack buffer: pl_buf never grows past max, so no realloc happens;
     * room for the longest line (a path of 256 bytes escaped six-fold) */
    char line[2560];
    pl_buf_t b = {line, 0, sizeof(line), sizeof(line) - 1};
    int bad = 0;
    bad |= put(&b, "{\"ts\":\"");
    bad |= put(&b, ts);
    bad |= put(&b, "\",\"level\":\"info\",\"msg\":\"request\",\"method\":\"");
    bad |= put(&b, req->method_name);
    bad |= put(&b, "\",\"path\":\"");
    size_t plen = strlen(req->path);
    bad |= pl_buf_append_json_escaped(&b, req->path, plen > 256 ? 256 : plen);
    bad |= put(&b, "\",\"route\":\"");
    bad |= put(&b, req->route ? req->route->path : "");
    bad |= put(&b, "\",\"status\":");
    bad |= put_uint(&b, (unsigned)req->status, 1);
    bad |= put(&b, ",\"duration_ms\":");
    bad |= put_uint(&b, (unsigned long long)us / 1000, 1);
    bad |= put(&b, ".");
    bad |= put_uint(&b, (unsigned long long)us % 1000, 3);
    bad |= put(&b, ",\"request_id\":\"");
    bad |= put(&b, req->request_id);
    bad |= put(&b, "\",\"ip\":\"");
    bad |= put(&b, req->client_ip);
    bad |= put(&b, "\",\"bytes\":");
    bad |= put_uint(&b, req->resp_len, 1);
    if (req->ctx.principal.user_id[0]) {
        bad |= put(&b, ",\"user_id\":\"");
        bad |= put(&b, req->ctx.principal.user_id);
        bad |= put(&b, "\"");
    }
    if (req->ctx.err.code) {
        bad |= put(&b, ",\"error\":\"");
        bad |= put(&b, req->ctx.err.code);
        bad |= put(&b, "\"");
    }
    if (!bad && pl_buf_append(&b, "}\n", 2) == PL_OK)
        pl_log_buffered(b.ptr, b.len);
}

/* ---- long-lived responses (core/feed.h) ----
 * A feed's connection is parked with MHD_suspend_connection while nothing is
 * queued, so it holds no thread; the producer's next write resumes it from
 * its own thread. libmicrohttpd calls the reader with the response's lock
 * held, on the connection's thread, which is where suspending is allowed. */

typedef struct {
    pl_feed_t *feed;
    struct MHD_Connection *conn;
    int fd;
} feed_conn_t;

/* Parks the connection unless its client has gone. A suspended connection
 * is not polled, so a client that hung up is noticed when a keep-alive
 * (probe) resumes it: event-stream clients send nothing after the request,
 * so a readable end of file means the client closed. (Only then: a system
 * call per event and stream is what the fan-out cannot afford.) */
static bool feed_park(void *arg, bool probe)
{
    feed_conn_t *fc = arg;
    char byte;
    if (probe && fc->fd >= 0 && recv(fc->fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT) == 0)
        return false;
    MHD_suspend_connection(fc->conn);
    return true;
}

static void feed_wake(void *arg)
{
    MHD_resume_connection(((feed_conn_t *)arg)->conn);
}

static ssize_t feed_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    PL_UNUSED(pos);
    feed_conn_t *fc = cls;
    long n = pl_feed_read(fc->feed, buf, max);
    return n == PL_FEED_END ? MHD_CONTENT_READER_END_OF_STREAM : (ssize_t)n;
}

static void feed_free(void *cls)
{
    feed_conn_t *fc = cls;
    pl_feed_detach(fc->feed);
    free(fc);
}

static struct MHD_Response *feed_response(struct MHD_Connection *c, pl_req_t *req)
{
    feed_conn_t *fc = pl_xcalloc(1, sizeof(*fc));
    fc->feed = req->feed;
    fc->conn = c;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    fc->fd = ci ? ci->connect_fd : -1;
    /* the block is only used for HTTP/1.0 clients: chunks go straight into
     * the connection's buffer */
    struct MHD_Response *r =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, feed_reader, fc, feed_free);
    if (!r) {
        free(fc);
        return NULL;
    }
    req->feed = NULL; /* the response owns the reference now */
    pl_feed_attach(fc->feed, feed_park, feed_wake, fc);
    return r;
}
/* Whether the handler set header name itself (pl_resp_header). */
static bool handler_sets(const pl_req_t *req, const char *name)
{
    for (int i = 0; i < req->nheaders; i++)
        if (!strcasecmp(req->hdr_names[i], name))
            return true;
    return false;
}

/* The security headers every response carries. A handler that sets one of
 * them (the dashboards' Content-Security-Policy and Cache-Control) replaces
 * the default. */
static const char *const default_headers[][2] = {
    {"X-Content-Type-Options", "nosniff"},
    {"X-Frame-Options", "DENY"},
    {"Referrer-Policy", "no-referrer"},
    {"Cache-Control", "no-store"},
    {"Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'"},
};

static enum MHD_Result send_response(struct MHD_Connection *c, pl_req_t *req)
{
    struct MHD_Response *r;
    if (req->feed && !req->ctx.err.status) {
        r = feed_response(c, req);
    } else if (req->has_fd && !req->ctx.err.status && req->fd_len) {
        r = MHD_create_response_from_fd_at_offset64(req->fd_len, req->resp_fd, req->fd_offset);
        if (r)
            req->has_fd = false; /* the response closes it */
    } else if (req->stream_read && !req->ctx.err.status) {
        r = MHD_create_response_from_callback(
            req->stream_sized ? req->stream_size : MHD_SIZE_UNKNOWN, 32 * 1024,
            (MHD_ContentReaderCallback)req->stream_read, req->stream_cls, req->stream_free);
        req->stream_read = NULL; /* the response owns cls now */
    } else {
        r = MHD_create_response_from_buffer(req->resp_len, req->resp_body, MHD_RESPMEM_PERSISTENT);
    }
    if (!r)
        return MHD_NO;
    if (req->content_type)
        MHD_add_response_header(r, "Content-Type", req->content_type);
    MHD_add_response_header(r, "X-Request-Id", req->request_id);
    for (size_t i = 0; i < PL_ARRAY_LEN(default_headers); i++)
        if (!handler_sets(req, default_headers[i][0]))
            MHD_add_response_header(r, default_headers[i][0], default_headers[i][1]);
    const char *origin = cors_allowed(req);
    if (origin) {
        MHD_add_response_header(r, "Access-Control-Allow-Origin", origin);
        MHD_add_response_header(r, "Vary", "Origin");
        MHD_add_response_header(r, "Access-Control-Expose-Headers", "X-Request-Id, Retry-After");
    }
    for (int i = 0; i < req->nheaders; i++)
        MHD_add_response_header(r, req->hdr_names[i], req->hdr_values[i]);
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)req->status, r);
    MHD_destroy_response(r);
    return ret;
}

/* Body and JSON checks for routes that take a JSON object. */
static int parse_json_body(pl_req_t *req)
{
    if (!req->body_len)
        return PL_OK;
    if (!pl_header_is_json(pl_req_header(req, "Content-Type")))
        return pl_req_fail(req, 415, "unsupported_media_type",
                           "Send the body as application/json.");
    json_error_t jerr;
    json_t *v =
        json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    if (!v) {
        /* jansson's message quotes the text "near" the error: keep only the
         * reason, since a body may carry secrets */
        char *near = strstr(jerr.text, " near ");
        if (near)
            *near = '\0';
        return pl_req_fail(req, 400, "invalid_json",
                           pl_arena_printf(req->ctx.arena,
                                           "The body is not valid JSON: %s at position %d.",
                                           jerr.text, jerr.position));
    }
    pl_arena_cleanup_add(req->ctx.arena, (void (*)(void *))json_decref, v);
    if (!json_is_object(v))
        return pl_req_fail(req, 400, "bad_request", "The body must be a JSON object.");
    req->json = v;
    return PL_OK;
}

static int preflight(pl_req_t *req, unsigned allowed)
{
    char methods[128];
    pl_methods_format(allowed | PL_M_OPTIONS, methods, sizeof(methods));
    pl_resp_header(req, "Access-Control-Allow-Methods", methods);
    pl_resp_header(req, "Access-Control-Allow-Headers",
                   "Authorization, Content-Type, X-Request-Id");
    pl_resp_header(req, "Access-Control-Max-Age", "600");
    return pl_resp_status(req, 204);
}

/* Whether the query's names and values are valid UTF-8 (libmicrohttpd has
 * decoded their escapes); anything else would reach the database as bytes
 * it refuses. */
static enum MHD_Result check_query_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                       const char *value)
{
    PL_UNUSED(kind);
    bool *ok = cls;
    if (!pl_utf8_valid(key, strlen(key)) || (value && !pl_utf8_valid(value, strlen(value)))) {
        *ok = false;
        return MHD_NO;
    }
    return MHD_YES;
}

static int too_large(pl_req_t *req, int64_t cap)
{
    return pl_req_fail(
        req, 413, "payload_too_large",
        pl_arena_printf(req->ctx.arena, "The body exceeds %lld bytes.", (long long)cap));
}

/* Finds the route and checks what every route needs: the rate limit, the
 * path parameters (decoded here, after matching on the raw path), the body
 * size, the query's encoding and the JSON body. PL_OK when the handler may
 * run; else the answer is recorded (or the error returned). */
static int route_request(pl_req_t *req, conn_state_t *cs)
{
    pl_match_t m;
    unsigned allowed = 0;
    if (pl_cfg.rate_limit && !strncmp(req->path, "/v1/", 4) &&
        !pl_ratelimit_allow(req->client_ip, pl_cfg.rate_limit_rps, pl_now_ms())) {
        req->ctx.err.retry_after = 1;
        return pl_req_fail(req, 429, "rate_limited", "Too many requests; slow down.");
    }
    /* an unknown method (0) matches no route but still collects Allow */
    int idx = pl_router_match(routes, nroutes, req->method, req->path, &m, &allowed);
    if (idx >= 0) {
        unsigned flags = routes[idx].flags;
        /* the metrics listener serves the operations routes alone; with
         * one, the private ones (metrics) leave the API listener */
        if (cs->listener->ops_only ? !(flags & PL_ROUTE_OPS)
                                   : (flags & PL_ROUTE_PRIVATE) && pl_cfg.metrics_http[0])
            idx = -1, allowed = 0;
    }
    if (idx < 0) {
        if (req->method == PL_M_OPTIONS && allowed && cors_allowed(req) &&
            pl_req_header(req, "Access-Control-Request-Method"))
            return preflight(req, allowed);
        if (allowed) {
            char list[128];
            pl_methods_format(allowed, list, sizeof(list));
            pl_resp_header(req, "Allow", list);
            return pl_req_fail(req, 405, "method_not_allowed",
                               pl_arena_printf(req->ctx.arena, "Use one of: %s.", list));
        }
        return pl_req_fail(req, 404, "not_found", "No such resource.");
    }
    req->route = &routes[idx];
    req->nparams = m.nparams;
    for (int i = 0; i < m.nparams; i++) {
        char *v;
        req->param_names[i] = pl_arena_strndup(req->ctx.arena, m.names[i].ptr, m.names[i].len);
        if (pl_path_decode(req->ctx.arena, m.values[i].ptr, m.values[i].len, &v))
            return pl_req_fail(req, 400, "bad_request",
                               "The path holds a malformed escape or text that is not UTF-8.");
        req->param_values[i] = v;
    }
    if (cs->too_large)
        return too_large(req, cs->streaming ? pl_cfg.max_upload : pl_cfg.max_body);
    bool query_ok = true;
    MHD_get_connection_values(cs->conn, MHD_GET_ARGUMENT_KIND, check_query_arg, &query_ok);
    if (!query_ok)
        return pl_req_fail(req, 400, "bad_request", "The query string is not valid UTF-8.");
    if (req->route->flags & PL_ROUTE_JSON)
        return parse_json_body(req);
    return PL_OK;
}

/* Authenticates, authorizes and runs the handler of the matched route. */
static int run_handler(pl_req_t *req)
{
    int rc;
    if (req->route->auth == PL_AUTH_NONE) {
        rc = req->route->handler(req);
    } else {
        /* authenticated requests run in the request's scope (pl_db_scope_begin):
         * the tenant context, authorization and handler share one transaction */
        pl_db_t *db = pl_db_thread();
        if (!db)
            return PL_EUNAVAILABLE;
        bool writes = req->method != PL_M_GET || (req->route->flags & PL_ROUTE_WRITE);
        if ((rc = pl_db_scope_begin(db, writes)))
            return rc;
        if ((rc = pl_dispatch_authorize(req, db)) == PL_OK)
            rc = req->route->handler(req);
        int end = pl_db_scope_end(db, rc == PL_OK && !req->ctx.err.status);
        if (rc == PL_OK && !req->ctx.err.status && end != PL_OK) {
            rc = end; /* the answer was ready but its transaction failed */
            req->status = 0;
            req->nheaders = 0;
        }
    }
    for (int i = 0; i < req->ndeferred; i++)
        req->deferred_fn[i](req, req->deferred_arg[i]);
    pl_jobs_after_commit();   /* wake local workers for jobs this request queued */
    pl_events_after_commit(); /* and local streams for events it published */
    return rc;
}

/* Turns the outcome into the answer: a problem, or 204 when the handler
 * set nothing. */
static void conclude(pl_req_t *req, int rc)
{
    if (rc || req->ctx.err.status)
        render_problem(req, rc);
    else if (!req->status)
        pl_resp_status(req, 204);
}

/* On a pool thread: the request's handler, then the parked connection is
 * resumed, and libmicrohttpd calls on_request again to send the answer. */
static void run_pooled(void *arg)
{
    conn_state_t *cs = arg;
    conclude(&cs->req, run_handler(&cs->req));
    cs->phase = CS_READY;
    MHD_resume_connection(cs->conn);
}

/* A header value as handlers see it: valid UTF-8, no control characters,
 * at most HEADER_VALUE_MAX bytes; most values already are, and are returned
 * as they came. */
static const char *header_text(pl_arena_t *a, const char *v)
{
    size_t i = 0;
    for (; v[i] && i <= HEADER_VALUE_MAX; i++) {
        unsigned char c = (unsigned char)v[i];
        if (c < 0x20 || c >= 0x7f)
            break;
    }
    return v[i] ? pl_utf8_clean(a, v, HEADER_VALUE_MAX) : v;
}

static const char *lookup(void *conn, int kind, const char *name)
{
    conn_state_t *cs = conn;
    if (kind == PL_REQ_QUERY)
        return MHD_lookup_connection_value(cs->conn, MHD_GET_ARGUMENT_KIND, name);
    const char *v = MHD_lookup_connection_value(cs->conn, MHD_HEADER_KIND, name);
    return v ? header_text(cs->req.ctx.arena, v) : NULL;
}

typedef struct {
    int (*fn)(void *arg, const char *name, const char *value);
    void *arg;
} each_t;

static enum MHD_Result each_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                const char *value)
{
    PL_UNUSED(kind);
    each_t *e = cls;
    return e->fn(e->arg, key, value) ? MHD_NO : MHD_YES;
}

static void each_query(void *conn, int (*fn)(void *arg, const char *name, const char *value),
                       void *arg)
{
    conn_state_t *cs = conn;
    each_t e = {fn, arg};
    MHD_get_connection_values(cs->conn, MHD_GET_ARGUMENT_KIND, each_arg, &e);
}

static conn_state_t *new_state(struct MHD_Connection *c, const char *target,
                               const listener_t *listener)
{
    pl_arena_t *a = pl_arena_create();
    conn_state_t *cs = pl_arena_alloc(a, sizeof(*cs));
    cs->req.ctx.arena = a;
    cs->req.start_us = pl_monotonic_us();
    cs->req.conn = cs;
    cs->req.lookup = lookup;
    cs->req.each_query = each_query;
    cs->conn = c;
    cs->listener = listener;
    cs->target_len = strlen(target);
    cs->raw_path = pl_arena_strndup(a, target, strcspn(target, "?"));
    pl_buf_init(&cs->body, (size_t)pl_cfg.max_body);
    atomic_fetch_add(&in_flight, 1);
    return cs;
}

/* MHD_OPTION_URI_LOG_CALLBACK: the request line arrived. Its target is
 * seen here as sent, before libmicrohttpd decodes the path's escapes, and
 * the request's state starts now (it becomes the request's con_cls). */
static void *on_request_line(void *cls, const char *uri, struct MHD_Connection *c)
{
    pl_conn_request_started(pl_conns_of(c));
    return new_state(c, uri ? uri : "", cls);
}

/* The sizes we answer ourselves, checked when the headers are in. */
static int early_status(conn_state_t *cs)
{
    if (cs->target_len > MAX_TARGET)
        return 414;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(cs->conn, MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE);
    if (ci && ci->header_size > MAX_HEADER_BYTES)
        return 431;
    return 0;
}

static void early_problem(pl_req_t *req, int status)
{
    if (status == 414)
        pl_req_fail(
            req, 414, "uri_too_long",
            pl_arena_printf(req->ctx.arena, "The request target exceeds %d bytes.", MAX_TARGET));
    else
        pl_req_fail(req, 431, "header_fields_too_large",
                    pl_arena_printf(req->ctx.arena, "The request's header fields exceed %d bytes.",
                                    MAX_HEADER_BYTES));
    render_problem(req, PL_EINVAL);
    pl_resp_header(req, "Connection", "close");
}

/* Fills the request from the connection: path, method, client address,
 * request id, user agent. */
static void prepare(conn_state_t *cs, struct MHD_Connection *c, const char *method)
{
    pl_req_t *req = &cs->req;
    req->path = cs->raw_path;
    req->method_name = method;
    req->method = pl_method_parse(method);
    client_ip(c, req->client_ip, sizeof(req->client_ip));
    const char *rid = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Request-Id");
    if (rid && request_id_ok(rid))
        snprintf(req->request_id, sizeof(req->request_id), "%s", rid);
    else
        new_request_id(req->request_id);
    req->ctx.ip = req->client_ip;
    req->ctx.request_id = req->request_id;
    const char *ua = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "User-Agent");
    if (ua)
        req->ctx.user_agent = pl_utf8_clean(req->ctx.arena, ua, 512);
}

/* Whether the request goes to a PL_ROUTE_STREAM route (of the API
 * listener). */
static bool is_stream_route(conn_state_t *cs, const char *method)
{
    /* uploads are POSTs and PUTs: other requests skip the extra match */
    if (cs->listener->ops_only || (strcmp(method, "POST") && strcmp(method, "PUT")))
        return false;
    pl_match_t m;
    unsigned allowed = 0;
    int idx = pl_router_match(routes, nroutes, pl_method_parse(method), cs->raw_path, &m, &allowed);
    return idx >= 0 && (routes[idx].flags & PL_ROUTE_STREAM) && routes[idx].sink;
}

/* The headers of a request to a PL_ROUTE_STREAM route are in: route it,
 * authenticate and authorize the caller (in a read scope that ends before
 * the body is read: no transaction is held while a client uploads) and
 * open the sink, or answer at once (the body is then not read and the
 * connection closes). */
static enum MHD_Result stream_open(conn_state_t *cs, struct MHD_Connection *c, const char *method)
{
    pl_req_t *req = &cs->req;
    cs->streaming = true;
    prepare(cs, c, method);
    const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
    int64_t n;
    if (cl && pl_parse_int64(cl, 0, INT64_MAX, &n) == PL_OK && n > pl_cfg.max_upload)
        cs->too_large = true;
    int rc = route_request(req, cs);
    if (!rc && !req->status && !req->ctx.err.status && req->route->auth != PL_AUTH_NONE) {
        pl_db_t *db = pl_db_thread();
        if (!db)
            rc = PL_EUNAVAILABLE;
        else if (!(rc = pl_db_scope_begin(db, false))) {
            rc = pl_dispatch_authorize(req, db);
            int end = pl_db_scope_end(db, rc == PL_OK && !req->ctx.err.status);
            if (!rc && !req->ctx.err.status)
                rc = end;
        }
    }
    if (!rc && !req->status && !req->ctx.err.status)
        rc = req->route->sink->open(req);
    /* an authorized upload may take longer than --request-timeout;
     * --conn-timeout still closes a stalled one */
    pl_conn_request_received(pl_conns_of(c));
    if (rc || req->status || req->ctx.err.status) {
        cs->answered = true;
        conclude(req, rc);
        return send_response(c, req);
    }
    return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    PL_UNUSED(version);
    conn_state_t *cs = *con_cls;
    if (!cs) /* no request line seen (cannot happen): start from the decoded url */
        *con_cls = cs = new_state(c, url, cls);
    pl_req_t *req = &cs->req;
    switch (cs->phase) {
    case CS_HEADERS: {
        cs->phase = CS_BODY;
        if ((cs->early_status = early_status(cs)))
            goto respond; /* the body, if any, is not read: the connection closes */
        if (is_stream_route(cs, method))
            return stream_open(cs, c, method);
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
        int64_t n;
        if (cl && pl_parse_int64(cl, 0, INT64_MAX, &n) == PL_OK && n > pl_cfg.max_body) {
            cs->too_large = true;
            /* Too big even to drain: answer now; libmicrohttpd closes the
             * connection afterwards since the body was not read. */
            if ((uint64_t)n > (uint64_t)pl_cfg.max_body + DRAIN_EXTRA)
                goto respond;
        }
        return MHD_YES;
    }
    case CS_BODY:
        break;
    case CS_POOLED: /* not called while parked */
        return MHD_YES;
    case CS_READY:
        return send_response(c, req);
    }
    if (cs->streaming && cs->answered) { /* refused when the headers came */
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (*upload_data_size && cs->streaming) {
        size_t n = *upload_data_size;
        cs->received += n;
        *upload_data_size = 0;
        if (!cs->too_large && cs->received > (uint64_t)pl_cfg.max_upload)
            cs->too_large = true;
        if (!cs->too_large && !cs->sink_rc) {
            int rc = req->route->sink->write(req, upload_data, n);
            if (rc || req->ctx.err.status)
                cs->sink_rc = rc ? rc : pl_err_for_status(req->ctx.err.status);
        }
        /* what follows an error is read and dropped, for a while */
        if ((cs->too_large || cs->sink_rc) &&
            cs->received > (uint64_t)pl_cfg.max_upload + DRAIN_EXTRA)
            return MHD_NO;
        return MHD_YES;
    }
    if (*upload_data_size) {
        size_t n = *upload_data_size;
        cs->received += n;
        if (!cs->too_large && pl_buf_append(&cs->body, upload_data, n) != PL_OK) {
            cs->too_large = true;
            pl_buf_free(&cs->body);
        }
        *upload_data_size = 0;
        if (cs->too_large && cs->received > (size_t)pl_cfg.max_body + DRAIN_EXTRA)
            return MHD_NO; /* a stream without end: drop the connection */
        return MHD_YES;
    }
respond:
    pl_conn_request_received(pl_conns_of(c));
    if (!cs->streaming)
        prepare(cs, c, method);
    if (cs->early_status) {
        early_problem(req, cs->early_status);
        return send_response(c, req);
    }
    if (cs->body.len) {
        req->body = cs->body.ptr;
        req->body_len = cs->body.len;
    }
    int rc;
    if (cs->streaming) {
        req->upload_len = cs->received;
        rc = cs->too_large ? too_large(req, pl_cfg.max_upload) : cs->sink_rc;
    } else {
        rc = route_request(req, cs);
    }
    if (rc || req->status || req->ctx.err.status) {
        conclude(req, rc);
        return send_response(c, req);
    }
    if ((req->route->flags & PL_ROUTE_HASHING) && hash_pool) {
        if (!pl_workpool_reserve(hash_pool)) {
            pl_counter_inc(&hash_refused);
            req->ctx.err.retry_after = 1;
            conclude(req, pl_req_fail(req, 503, "unavailable",
                                      "Too many sign-ins are in progress; try again shortly."));
            return send_response(c, req);
        }
        /* parked before the pool may resume it; libmicrohttpd calls
         * on_request again once the pool resumed it (CS_READY) */
        cs->phase = CS_POOLED;
        MHD_suspend_connection(c);
        pl_workpool_run(hash_pool, run_pooled, cs);
        return MHD_YES;
    }
    conclude(req, run_handler(req));
    return send_response(c, req);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    PL_UNUSED(cls);
    PL_UNUSED(toe);
    pl_conn_request_done(pl_conns_of(c));
    conn_state_t *cs = *con_cls;
    if (!cs)
        return;
    pl_req_t *req = &cs->req;
    if (req->status) {
        pl_metrics_observe(req->route ? req->route->index : -1, req->method_name, req->status,
                           pl_monotonic_us() - req->start_us);
        if (pl_cfg.access_log)
            access_log(req);
    }
    if (req->stream_read && req->stream_free)
        req->stream_free(req->stream_cls); /* never handed to a response */
    if (req->feed)
        pl_feed_detach(req->feed); /* likewise */
    if (req->has_fd)
        close(req->resp_fd); /* likewise */
    pl_buf_free(&cs->body);
    pl_arena_destroy(req->ctx.arena);
    *con_cls = NULL;
    atomic_fetch_sub(&in_flight, 1);
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    PL_UNUSED(cls);
    char msg[512];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    pl_log("warn", "http: %s", msg);
}

static int parse_lists(void)
{
    const char *s = pl_cfg.cors_origins;
    while (*s) {
        const char *e = strchr(s, ',');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        while (n && s[0] == ' ')
            s++, n--;
        while (n && s[n - 1] == ' ')
            n--;
        if (n == 1 && s[0] == '*') {
            cors_any = true;
        } else if (n) {
            cors_origins = pl_xrealloc(cors_origins, (cors_count + 1) * sizeof(char *));
            cors_origins[cors_count++] = pl_xstrndup(s, n);
        }
        s = e ? e + 1 : s + strlen(s);
    }
    return pl_clientip_set_trusted(pl_cfg.trusted_proxies);
}

int pl_server_assemble(void)
{
    if (routes)
        return PL_OK;
    for (const pl_module_t *const *m = pl_modules; *m; m++) {
        for (const pl_route_t *r = (*m)->routes; r && r->path; r++) {
            routes = pl_xrealloc(routes, (nroutes + 1) * sizeof(*routes));
            route_labels = pl_xrealloc(route_labels, (nroutes + 1) * sizeof(*route_labels));
            pl_route_t *t = &routes[nroutes];
            *t = *r;
            t->index = (int)nroutes;
            t->module = (*m)->name;
            t->perm_bit = r->perm ? pl_perm_bit(r->perm) : -1;
            pl_router_prepare(t);
            if (r->perm && t->perm_bit < 0) {
                fprintf(stderr, "plinth: route %s of module %s needs unknown permission %s\n",
                        r->path, (*m)->name, r->perm);
                return PL_EINTERNAL;
            }
            route_labels[nroutes] = t->path;
            nroutes++;
        }
        if ((*m)->errors) {
            error_lists = pl_xrealloc(error_lists, (nerror_lists + 1) * sizeof(*error_lists));
            error_lists[nerror_lists++] = (*m)->errors;
        }
    }
    return PL_OK;
}

const pl_route_t *pl_server_routes(size_t *n)
{
    *n = nroutes;
    return routes;
}

static const char *const auth_names[] = {"none", "user", "admin", "org"};

void pl_server_print_routes(FILE *f)
{
    fprintf(f, "%-7s %-62s %-6s %-20s %-10s %s\n", "METHOD", "PATH", "AUTH", "PERMISSION", "MODULE",
            "FLAGS");
    static const struct {
        unsigned bit;
        const char *name;
    } flag_names[] = {
        {PL_ROUTE_JSON, "json"},     {PL_ROUTE_SUBTREE, "subtree"},
        {PL_ROUTE_WRITE, "write"},   {PL_ROUTE_HASHING, "hashing"},
        {PL_ROUTE_OPS, "ops"},       {PL_ROUTE_PRIVATE, "private"},
        {PL_ROUTE_STREAM, "stream"}, {PL_ROUTE_ADMIN_ORG, "admin_org"},
    };
    for (size_t i = 0; i < nroutes; i++) {
        char method[16], flags[64] = "";
        pl_methods_format(routes[i].method, method, sizeof(method));
        /* flags: a comma-separated list, "-" when none */
        for (size_t k = 0; k < PL_ARRAY_LEN(flag_names); k++)
            if (routes[i].flags & flag_names[k].bit)
                snprintf(flags + strlen(flags), sizeof(flags) - strlen(flags), "%s%s",
                         flags[0] ? "," : "", flag_names[k].name);
        if (routes[i].ticket)
            snprintf(flags + strlen(flags), sizeof(flags) - strlen(flags), "%sticket",
                     flags[0] ? "," : "");
        fprintf(f, "%-7s %-62s %-6s %-20s %-10s %s\n", method, routes[i].path,
                auth_names[routes[i].auth], routes[i].perm ? routes[i].perm : "-", routes[i].module,
                flags[0] ? flags : "-");
    }
}

/* Starts a daemon on host:port for listener l. NULL (printed) when the
 * address cannot be resolved or bound. */
static struct MHD_Daemon *listen_on(const char *host, int port, const char *addr_text,
                                    const listener_t *l, unsigned threads, unsigned conn_limit)
{
    struct addrinfo hints = {0}, *ai = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    char port_text[16];
    snprintf(port_text, sizeof(port_text), "%d", port);
    if (getaddrinfo(host, port_text, &hints, &ai) != 0 || !ai) {
        fprintf(stderr, "plinth: cannot resolve listen address %s\n", addr_text);
        return NULL;
    }
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC |
                     MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME;
    if (ai->ai_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    struct MHD_Daemon *d = MHD_start_daemon(
        flags, (uint16_t)port, pl_conns_accept, NULL, &on_request, (void *)l,
        MHD_OPTION_EXTERNAL_LOGGER, &on_mhd_log, NULL, MHD_OPTION_SOCK_ADDR, ai->ai_addr,
        MHD_OPTION_THREAD_POOL_SIZE, threads, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)pl_cfg.conn_timeout, MHD_OPTION_NOTIFY_COMPLETED, &on_completed, NULL,
        MHD_OPTION_NOTIFY_CONNECTION, &pl_conns_notify, NULL, MHD_OPTION_URI_LOG_CALLBACK,
        &on_request_line, (void *)l, MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)MHD_MEMORY,
        MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned)1, MHD_OPTION_CONNECTION_LIMIT, conn_limit,
        MHD_OPTION_END);
    freeaddrinfo(ai);
    if (!d)
        fprintf(stderr, "plinth: cannot listen on %s (in use or not allowed)\n", addr_text);
    return d;
}

static double hash_waiting(void)
{
    return hash_pool ? (double)pl_workpool_waiting(hash_pool) : 0;
}

int pl_server_start(bool api)
{
    if (parse_lists() || pl_server_assemble())
        return PL_EINVAL;
    if (api)
        pl_metrics_init(nroutes, route_labels);
    /* Each stream holds a connection and a descriptor: take every descriptor
     * the system allows, and room for the streams on top of the usual
     * connections. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (pl_conns_start())
        return PL_EINTERNAL;
    if (api) {
        hash_pool = pl_workpool_start("plinth-hash", pl_cfg.hash_threads, pl_cfg.hash_queue);
        if (!hash_pool) {
            fprintf(stderr, "plinth: cannot start the password hashing threads\n");
            return PL_EINTERNAL;
        }
        pl_metrics_register_counter(&hash_refused);
        pl_metrics_register_gauge("plinth_hash_waiting",
                                  "Requests waiting for a password hashing thread.", hash_waiting);
        unsigned conn_limit = 10000 + (unsigned)pl_feed_limit();
        daemon_ = listen_on(pl_cfg.http_host, pl_cfg.http_port, pl_cfg.http_addr, &api_listener,
                            (unsigned)pl_cfg.threads, conn_limit);
        if (!daemon_)
            return PL_EINVAL;
    }
    if (pl_cfg.metrics_http[0]) {
        metrics_daemon = listen_on(pl_cfg.metrics_host, pl_cfg.metrics_port, pl_cfg.metrics_http,
                                   &metrics_listener, 1, 64);
        if (!metrics_daemon)
            return PL_EINVAL;
    }
    return PL_OK;
}

void pl_server_stop(int grace_ms)
{
    if (daemon_) {
        /* Stop accepting: every new connection is closed at once. Not
         * MHD_quiesce_daemon: in libmicrohttpd 0.9.75 it races with the pool's
         * threads removing the listening socket from their epoll sets (both
         * remove it; the loser aborts the process). The daemon closes the
         * socket when it stops. */
        pl_conns_refuse_new();
        /* Long-lived responses end now (their parked connections resume and
         * finish), and none starts: libmicrohttpd must not be stopped while a
         * connection is suspended. */
        pl_feed_shutdown();
        int64_t deadline = pl_monotonic_us() + (int64_t)grace_ms * 1000;
        while (atomic_load(&in_flight) > 0 && pl_monotonic_us() < deadline) {
            struct timespec ts = {0, 5 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
        /* requests parked for the hashing pool: the pool runs what is
         * queued and resumes each, so none stays suspended */
        pl_workpool_stop(hash_pool);
        hash_pool = NULL;
        MHD_stop_daemon(daemon_);
        daemon_ = NULL;
    }
    pl_workpool_stop(hash_pool); /* a start that failed after the pool started */
    hash_pool = NULL;
    if (metrics_daemon) {
        MHD_stop_daemon(metrics_daemon);
        metrics_daemon = NULL;
    }
    pl_conns_stop();
}
