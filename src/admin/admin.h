/* admin.h - instance administration: the instance's accounts as its admins
 * see them (listing, disabling and enabling), and making instance admins
 * (`plinth admin create`). API.md "Instance administration".
 *
 * Conventions as in auth/auth.h: the calling thread's connection and the
 * caller's context; each service runs its own transaction (joining the
 * caller's), audits, and records client errors on ctx. The caller is an
 * instance admin (the dispatcher checks PL_AUTH_ADMIN routes) or the system
 * (pl_ctx_system: the CLI). Results live in ctx->arena. Thread-safe. */
#ifndef PL_ADMIN_H
#define PL_ADMIN_H

#include "auth/auth.h"
#include "core/ctx.h"
#include "core/module.h"
#include "db/db.h"

#define PL_ADMIN_QUERY_MAX 320 /* bytes of a search */

/* A page of accounts in id order. */
typedef struct {
    const char *query; /* a substring of the email or name, any case; NULL: all */
    const char *after; /* the previous page's next cursor; NULL: the first page */
    int limit;         /* 1..200 */
} pl_admin_users_query_t;

/* Calls fn for each account of the page (valid during the call) and sets
 * *next to the cursor of the next page, NULL after the last. 400
 * bad_request for a malformed cursor or an overlong query. */
int pl_admin_users_list(pl_db_t *db, pl_ctx_t *ctx, const pl_admin_users_query_t *q,
                        void (*fn)(void *arg, const pl_user_t *u), void *arg, const char **next);

/* Disables an account (every session of it ends at once) or enables it
 * again, audits user.disabled or user.enabled, and reads it into *out.
 * Idempotent. 404 not_found; 409 conflict when admins disable themselves. */
int pl_admin_user_set_disabled(pl_db_t *db, pl_ctx_t *ctx, const char *user_id, bool disabled,
                               pl_user_t *out);

/* Makes the account of email (as typed) an instance admin, audited as
 * user.promoted_admin; its password stays. PL_ENOTFOUND, nothing recorded,
 * when no account has that email; 422 on a malformed email. */
int pl_admin_promote(pl_db_t *db, pl_ctx_t *ctx, const char *email, pl_user_t *out);

/* Creates an instance admin: an account with a verified email, named after
 * the email's local part, with its personal organization (see
 * pl_auth_create_user), audited as user.registered and user.promoted_admin.
 * 422 on a malformed email or a weak password, 409 email_taken. */
int pl_admin_create(pl_db_t *db, pl_ctx_t *ctx, const char *email, const char *password,
                    pl_user_t *out);

/* An account, its live sessions and its organizations, for the admin's
 * user page: each fn may be NULL. 403 forbidden unless ctx->principal is an
 * instance admin; 404 not_found for an unknown account. */
int pl_admin_user_get(pl_db_t *db, pl_ctx_t *ctx, const char *user_id, pl_user_t *out,
                      void (*session)(void *arg, const pl_session_t *s),
                      void (*org)(void *arg, const pl_auth_org_t *o), void *arg);
/* Signs an account out everywhere (its live sessions revoked, reason
 * "admin"), audited as user.sessions_revoked on the instance chain. 404 for
 * an unknown account. */
int pl_admin_user_revoke_sessions(pl_db_t *db, pl_ctx_t *ctx, const char *user_id);

/* The overview's numbers: totals now and, for n intervals of step ms from
 * from, the hourly counters of platform/stats. */
#define PL_ADMIN_STATS_MAX 168 /* intervals per answer */
typedef struct {
    int64_t users, organizations, jobs_queued, jobs_running, jobs_dead;
    int64_t from, step;
    int n;
    int64_t sign_ins[PL_ADMIN_STATS_MAX], failed_sign_ins[PL_ADMIN_STATS_MAX];
    int64_t new_users[PL_ADMIN_STATS_MAX], new_organizations[PL_ADMIN_STATS_MAX];
    int64_t webhook_attempts[PL_ADMIN_STATS_MAX], webhook_failures[PL_ADMIN_STATS_MAX];
} pl_admin_stats_t;

/* Fills out (out->from, step and n set by the caller). 403 forbidden unless
 * ctx->principal is an instance admin. */
int pl_admin_stats(pl_db_t *db, pl_ctx_t *ctx, pl_admin_stats_t *out);

/* The module's CLI commands (admin_cli.c), for its descriptor. */
extern const pl_command_t pl_admin_commands[];

#endif
