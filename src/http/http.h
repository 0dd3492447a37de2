/* http.h - the request context, responses, and the route table's types.
 *
 * A handler receives a pl_req_t whose route params, query, headers, JSON body
 * and principal are ready; it returns PL_OK after setting a response
 * (pl_resp_json / pl_resp_status / pl_resp_body) or a negative PL_E* error,
 * after recording the public detail with pl_req_fail* (else a default for the
 * code is used). Only http/ turns errors into status codes and problem+json.
 *
 * Memory: everything hanging off the request lives in req->arena and is freed
 * when the request completes. A request is handled by one thread. */
#ifndef PL_HTTP_H
#define PL_HTTP_H

#include <jansson.h>

#include "core/core.h"

#define PL_MAX_PARAMS       4
#define PL_MAX_FIELD_ERRORS 16

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

typedef struct {
    const char *field;
    const char *code;
    const char *message;
} pl_field_error_t;

/* The authenticated caller. For access tokens the user's row is read with
 * the session check, so handlers need not read it again. */
typedef struct {
    bool authenticated;
    char user_id[37];    /* "" for API keys */
    char api_key_id[37]; /* set when an API key authenticated the request */
    char session_id[37];
    bool is_admin;
    const char *email; /* arena strings */
    const char *name;
    bool email_verified;
    bool mfa_enabled;
    int64_t user_created_at;
    int64_t orgs_version; /* changes with the user's list of organizations */
} pl_principal_t;

/* The organization a /v1/orgs/{org} request acts in, resolved once by the
 * authorization step before the handler runs. */
typedef struct {
    bool resolved;
    char org_id[37];
    const char *name; /* arena strings */
    const char *slug;
    bool personal;
    int64_t created_at;
    const char *role;        /* the caller's role key */
    int level;               /* its level, 1..4 */
    uint32_t perms;          /* its permissions (rbac bits) */
    int64_t members_version; /* changes with every change to the member list */
    bool is_api_key;         /* acting with an API key's level and permissions */
} pl_tenant_t;

typedef struct pl_req pl_req_t;
typedef struct pl_route pl_route_t;
typedef int (*pl_handler_t)(pl_req_t *req);

struct pl_route {
    pl_method_t method;
    const char *path; /* template: "/v1/orgs/{org}/members/{user}" */
    pl_handler_t handler;
    pl_auth_t auth;
    const char *perm; /* permission key for PL_AUTH_ORG routes */
    unsigned flags;   /* PL_ROUTE_* */
    int index;        /* position in the table (metrics), filled at start */
};

#define PL_ROUTE_JSON 1u /* the body, when present, must be a JSON object */

struct pl_req {
    pl_arena_t *arena;
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
    json_t *json; /* parsed body object (PL_ROUTE_JSON), else NULL */
    char client_ip[64];
    char request_id[129];
    int64_t start_us;
    void *conn; /* struct MHD_Connection * */
    pl_principal_t principal;
    pl_tenant_t tenant;
    /* output */
    int status;
    const char *content_type;
    char *resp_body; /* owned by the arena (or static when resp_static) */
    size_t resp_len;
    int nheaders;
    const char *hdr_names[8];
    const char *hdr_values[8];
    /* error detail, rendered by http/ */
    int err_status;
    const char *err_code;
    const char *err_detail;
    int nfield_errors;
    pl_field_error_t field_errors[PL_MAX_FIELD_ERRORS];
    int retry_after; /* seconds, for 429 */
    /* a streamed body (pl_resp_stream) instead of resp_body */
    long (*stream_read)(void *cls, uint64_t pos, char *buf, size_t max);
    void *stream_cls;
    void (*stream_free)(void *cls);
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

/* A JSON body already written into b (see core/jsonw.h); takes b's memory. */
int pl_resp_json_buf(pl_req_t *req, int status, pl_buf_t *b);
/* body is copied into the arena unless is_static. */
int pl_resp_body(pl_req_t *req, int status, const char *content_type, const char *body, size_t len,
                 bool is_static);
void pl_resp_header(pl_req_t *req, const char *name, const char *value);

/* Errors: record the public detail and return the given PL_E* code, so a
 * handler writes `return pl_req_fail(req, 409, "email_taken", "...");`. */
int pl_req_fail(pl_req_t *req, int status, const char *code, const char *detail);
/* Adds a field error (422 validation_failed unless another code is set). */
void pl_req_field_error(pl_req_t *req, const char *field, const char *code, const char *message);
/* Maps a status to the PL_E* code handlers return. */
int pl_err_for_status(int status);

/* JSON body helpers: each records a 422 field error on failure and returns
 * PL_EINVAL. Strings are trimmed of nothing; lengths are in bytes. */
int pl_json_get_string(pl_req_t *req, const char *field, bool required, size_t min_len,
                       size_t max_len, const char **out);
int pl_json_get_bool(pl_req_t *req, const char *field, bool required, bool *out);
int pl_json_get_int(pl_req_t *req, const char *field, bool required, int64_t min, int64_t max,
                    int64_t *out);
/* Ends validation: PL_EINVAL when any field error was recorded. */
int pl_req_validated(pl_req_t *req);

/* Pagination: parses ?limit= (default 50, 1..200) and ?cursor=; 400 on bad input. */
int pl_req_page(pl_req_t *req, int *limit, const char **cursor);

/* The same, for lists whose cursor is an id (a UUID): 400 otherwise. */
int pl_req_page_id(pl_req_t *req, int *limit, const char **cursor);

/* Renders a list page {"data": [...], "next_cursor": ...}. Steals data. */
int pl_resp_list(pl_req_t *req, json_t *data, const char *next_cursor);

#endif
