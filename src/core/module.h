/* module.h - the shape of a capability: one descriptor per module.
 *
 * Every capability (accounts, organizations, webhooks, ...) is a folder with
 * its service API (x.h), rules and transactions (x.c), SQL (x_store.c), HTTP
 * handlers (x_routes.c), and one pl_module_t that declares what it adds to
 * the process: routes, permissions, error codes, job kinds and schedules,
 * email templates, configuration options, CLI commands, the audit actions it
 * writes, event subscribers, and its init and stop. src/modules.c lists the modules in order (as
 * nginx's module list); at start the router, the permission catalog,
 * /v1/permissions, --help, the error titles, the job registry and the mail
 * templates are assembled from the descriptors. `plinth routes` prints the
 * assembled route table.
 *
 * This header names the request and route types without defining them, so
 * a platform module (jobs, mail, audit, events), which knows no HTTP, can
 * declare itself too. Descriptors are static data, read-only after start. */
#ifndef PL_MODULE_H
#define PL_MODULE_H

#include <jansson.h>

#include "core/config.h"
#include "core/core.h"

struct pl_route; /* web/web.h */
struct pl_db;    /* db/db.h */
struct pl_ctx;   /* core/ctx.h */
struct pl_event; /* platform/events/events.h */

/* Built-in roles as bits, for the roles that hold a permission by default. */
#define PL_ROLE_BIT_GUEST  (1u << 0)
#define PL_ROLE_BIT_VIEWER (1u << 1)
#define PL_ROLE_BIT_MEMBER (1u << 2)
#define PL_ROLE_BIT_ADMIN  (1u << 3)
#define PL_ROLE_BIT_OWNER  (1u << 4)
/* shorthands for the usual grants */
#define PL_ROLES_OWNER  PL_ROLE_BIT_OWNER
#define PL_ROLES_ADMIN  (PL_ROLES_OWNER | PL_ROLE_BIT_ADMIN)
#define PL_ROLES_MEMBER (PL_ROLES_ADMIN | PL_ROLE_BIT_MEMBER)
#define PL_ROLES_VIEWER (PL_ROLES_MEMBER | PL_ROLE_BIT_VIEWER)

/* A permission of the catalog and the built-in roles that hold it. */
typedef struct {
    const char *key; /* "noun.verb" */
    const char *description;
    unsigned roles; /* PL_ROLE_BIT_* */
} pl_perm_def_t;

/* An error code a module answers with, and its problem+json title. */
typedef struct {
    const char *code;
    const char *title;
} pl_error_def_t;

/* A job kind: the handler runs the job described by payload (an object).
 * Returns PL_OK when done; else an error with a short reason in err (no
 * secrets), and the job is retried later; PL_EINVAL goes straight to dead. */
typedef int (*pl_job_fn)(const char *job_id, json_t *payload, char *err, size_t errlen);
typedef struct {
    const char *kind; /* "module.verb" */
    pl_job_fn fn;
    /* The handler runs inside the transaction that claims the job and marks
     * it done (pl_db_thread() has it open; nest with pl_db_scope_begin), so
     * its database work and the job's completion commit together: a crash
     * before the commit leaves the job queued as it was, and its effects
     * happen exactly once. Only for handlers that do nothing but database
     * work (no network calls, no mail): the claim holds the job's row lock,
     * and on SQLite the write lock, until the handler returns. */
    bool transactional;
} pl_job_def_t;

/* A periodic job: kind runs once per period across all instances. period()
 * (optional) computes the period at start from the configuration; 0 turns
 * the schedule off. */
typedef struct {
    const char *name;
    const char *kind;
    int64_t period_ms;
    int64_t (*period)(void);
} pl_schedule_def_t;

/* An email template. Variables are written {{name}}: HTML-escaped in the
 * HTML part, raw in the text part; subjects lose control characters. vars
 * lists the variables the template needs (NULL-terminated), checked when
 * rendering. */
typedef struct {
    const char *name; /* "verify_email" */
    const char *subject;
    const char *text;
    const char *html;
    const char *const *vars;
} pl_mail_template_def_t;

/* A CLI command: `plinth <name> [options] [args]`. */
typedef struct {
    struct pl_db *db; /* open and migrated when the command needs storage */
    int argc;         /* positional arguments */
    char **argv;
} pl_cli_t;

#define PL_CMD_STORAGE 1u /* open the data directory and the database first */
#define PL_CMD_EXISTING                                                                            \
    2u /* ... which must already exist (never create a new one); a                                 \
        * storage error then exits 2 */

#define PL_CMD_OPTIONS                                                                             \
    4u /* takes the storage options but opens nothing: the command                                 \
        * reads pl_cfg itself (restore) */

typedef struct {
    const char *name;           /* "admin create", "audit verify" */
    const char *summary;        /* one line for `plinth --help` */
    const char *usage;          /* the usage text for `--help` */
    const pl_option_t *options; /* the command's own; ends like a module's */
    int max_args;               /* positional arguments accepted */
    unsigned flags;             /* PL_CMD_* */
    int (*run)(pl_cli_t *cli);  /* returns the exit code */
} pl_command_t;

/* An event subscriber: runs inside the transaction that appends each audit
 * event (the outbox), so what it queues commits or rolls back with the
 * change. Returns PL_OK or an error that rolls the change back. */
typedef int (*pl_event_fn)(struct pl_db *db, struct pl_ctx *ctx, const struct pl_event *ev);

/* Every list ends with an entry whose first member is NULL (nginx's
 * ngx_null_command), so lists can live in the file that owns them. */
typedef struct pl_module {
    const char *name;
    struct pl_route *routes; /* ends with a route whose path is NULL */
    const pl_perm_def_t *perms;
    const pl_error_def_t *errors;
    const pl_job_def_t *jobs;
    const pl_schedule_def_t *schedules;
    const pl_mail_template_def_t *templates;
    const pl_option_t *options; /* ends with {NULL, NULL, ...} (no flag and no env) */
    const pl_command_t *commands;
    /* The audit actions ("noun.verb") this module writes, NULL-terminated:
     * the catalog of events that webhooks and streams can subscribe to. */
    const char *const *actions;
    pl_event_fn on_event;
    /* A tenant hook: runs on every request authenticated into an
     * organization (the routes under /v1/orgs/{org}, with a user's token or
     * an API key), once authorization passed and ctx->tenant is filled,
     * before the handler, in the request's database scope. Returns PL_OK,
     * or an error recorded on ctx (e.g. 429 with retry_after) that answers
     * the request instead of the handler. On the hot path: keep it cheap. */
    int (*on_tenant)(struct pl_db *db, struct pl_ctx *ctx);
    /* After the configuration is loaded and storage is open, before any
     * thread starts: loads keys, registers metrics and LISTEN channels.
     * Returns PL_OK or an error (message printed): the process exits 1. */
    int (*init)(void);
    /* When serving or working, after every init: starts threads. */
    int (*start)(void);
    /* At shutdown, in reverse module order: stops threads. */
    void (*stop)(void);
} pl_module_t;

#endif
