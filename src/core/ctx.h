/* ctx.h - who is acting, and what went wrong: the context every service
 * function takes instead of an HTTP request.
 *
 * Route handlers pass the request's context (req->ctx); the CLI and jobs
 * build their own with pl_ctx_system. A service records a client error in
 * ctx->err (status, code, detail, field errors) and returns the matching
 * negative PL_E* code; only http/ turns that into a problem+json answer, and
 * the CLI prints it.
 *
 * Memory: strings hanging off a context live in ctx->arena (or are static).
 * A context belongs to one thread at a time. */
#ifndef PL_CTX_H
#define PL_CTX_H

#include "core/core.h"
#include "core/perms.h"

#define PL_MAX_FIELD_ERRORS 16
#define PL_ID_LEN           37 /* a UUID and its NUL */

typedef struct {
    const char *field;
    const char *code;
    const char *message;
} pl_field_error_t;

/* A client-visible error. status 0: none recorded. */
typedef struct {
    int status;
    const char *code;
    const char *detail;
    int nfield_errors;
    pl_field_error_t field_errors[PL_MAX_FIELD_ERRORS];
    int retry_after; /* seconds, for 429 and 503 */
    /* extra top-level members of the problem body as "key":value JSON text
     * without the braces (e.g. `"limit":"members","used":5,"max":5`); NULL: none */
    const char *extra_json;
} pl_err_t;

/* The authenticated caller. For access tokens the user's row is read with
 * the session check, so services need not read it again. */
typedef struct {
    bool authenticated;
    char user_id[PL_ID_LEN];    /* "" for API keys and the system */
    char api_key_id[PL_ID_LEN]; /* set when an API key authenticated the request */
    char session_id[PL_ID_LEN];
    bool is_admin;
    const char *email; /* arena strings */
    const char *name;
    const char *locale; /* NULL: not set */
    bool email_verified;
    bool mfa_enabled;
    int64_t user_created_at;
    int64_t orgs_version; /* changes with the user's list of organizations */
} pl_principal_t;

/* The organization a request acts in, resolved once before the handler. */
typedef struct {
    bool resolved;
    char org_id[PL_ID_LEN];
    const char *name; /* arena strings */
    const char *slug;
    bool personal;
    int64_t created_at;
    const char *role;        /* the caller's role key */
    int level;               /* its level: 0 (guest) .. 4 (owner) */
    pl_perms_t perms;        /* its permissions */
    int64_t members_version; /* changes with every change to the member list */
    bool is_api_key;         /* acting with an API key's level and permissions */
    bool require_mfa;        /* the org demands two-factor of its members */
    /* the route being served, for tenant hooks that exempt some routes */
    const char *route;        /* its template ("/v1/orgs/{org}/members/{user}") */
    bool route_method_delete; /* served with DELETE */
    const char *route_user;   /* its {user} parameter, or NULL */
} pl_tenant_t;

/* An organization (the orgs module's; here because the session check reads
 * the one an org route names). */
typedef struct {
    const char *id, *name, *slug;
    bool personal;
    int64_t created_at;
    int64_t members_version; /* changes with every change to the member list */
    const char *role;        /* the caller's role key; NULL when none applies */
    bool require_mfa;        /* members must have two-factor on */
} pl_org_t;

/* The organization an org route's path names, as the session check read it
 * in its own statement (one statement, not two: on PostgreSQL a statement
 * costs about as much as the work). pl_orgs_resolve starts from it. */
typedef struct {
    bool read;  /* the session check looked for it */
    bool found; /* and it exists: org holds it (arena strings, role NULL) */
    pl_org_t org;
} pl_org_row_t;

typedef struct pl_ctx {
    pl_arena_t *arena;
    pl_principal_t principal;
    pl_tenant_t tenant;
    pl_org_row_t path_org;  /* org routes authenticated by a session */
    const char *ip;         /* client address; "" for the system */
    const char *user_agent; /* valid UTF-8, capped; NULL when absent */
    const char *request_id; /* NULL for the system */
    pl_err_t err;
} pl_ctx_t;

/* Initialises ctx as the system acting (CLI commands, jobs) with arena a. */
void pl_ctx_system(pl_ctx_t *ctx, pl_arena_t *a);

/* Records a client error and returns the PL_E* code for status, so a service
 * writes `return pl_fail(ctx, 409, "email_taken", "...");`. detail must be
 * static or live in ctx->arena. */
int pl_fail(pl_ctx_t *ctx, int status, const char *code, const char *detail);
/* Adds a field error (422 validation_failed unless another error is set). */
void pl_field_error(pl_ctx_t *ctx, const char *field, const char *code, const char *message);
/* PL_EINVAL when a field error was recorded, else PL_OK. */
int pl_validated(const pl_ctx_t *ctx);
/* The PL_E* code handlers return for an HTTP status. */
int pl_err_for_status(int status);

/* The caller's user id, or NULL when an API key or the system acts. */
static inline const char *pl_ctx_user(const pl_ctx_t *ctx)
{
    return ctx && ctx->principal.user_id[0] ? ctx->principal.user_id : NULL;
}

/* A time as RFC 3339 in ctx->arena ("" never: always a valid time). */
const char *pl_ctx_time(pl_ctx_t *ctx, int64_t ms);

#endif
