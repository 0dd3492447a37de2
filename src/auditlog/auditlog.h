/* auditlog.h - reading the audit log as a tenant or a user: the service
 * API. The log itself (append, chains, canonical form, verification,
 * export) is platform/audit; this module decides which chain a caller
 * reads: the acting organization's (ctx->tenant), or the instance chain's
 * events about the caller (ctx->principal). Never a chain named by input.
 * Thread-safe. */
#ifndef PL_AUDITLOG_H
#define PL_AUDITLOG_H

#include "core/ctx.h"
#include "db/db.h"
#include "platform/audit/audit.h"

/* Filters of a page of events; the chain and subject are set by the
 * service. before 0: from the newest; since/until 0 and INT64_MAX: none. */
typedef struct {
    int64_t before;
    int limit;
    const char *action, *actor_id, *target_id; /* NULL: any */
    int64_t since, until;
} pl_auditlog_filter_t;

/* A page of events, newest first: events (a new JSON array of event
 * objects as exported, the caller's reference) and the seq cursor of the
 * next page (0: none). */
typedef struct {
    json_t *events;
    int64_t next;
} pl_auditlog_page_t;

/* The acting organization's events matching f. */
int pl_auditlog_list(pl_db_t *db, pl_ctx_t *ctx, const pl_auditlog_filter_t *f,
                     pl_auditlog_page_t *out);

/* The caller's security events: instance-chain events whose actor or
 * target is the caller (f's other filters are ignored). */
int pl_auditlog_security_events(pl_db_t *db, pl_ctx_t *ctx, const pl_auditlog_filter_t *f,
                                pl_auditlog_page_t *out);

/* Verifies the acting organization's chain. */
typedef struct {
    bool valid;
    int64_t events;            /* when valid */
    int64_t first_invalid_seq; /* when not */
    char head[65];             /* when valid: the head's hash */
} pl_auditlog_verification_t;
int pl_auditlog_verify(pl_db_t *db, pl_ctx_t *ctx, pl_auditlog_verification_t *out);

/* A streamed export of the acting organization's chain, oldest first (see
 * pl_audit_export_open): jsonl or csv. The caller frees it with
 * pl_audit_export_free; it may outlive the caller's transaction. */
pl_audit_export_t *pl_auditlog_export(pl_ctx_t *ctx, bool csv);

/* ---- instance admins ----
 * Instance admins read any organization's chain and the instance chain
 * (the dashboard's audit pages). Each call answers 403 forbidden unless
 * ctx->principal is an instance admin. */

/* (pl_orgs_admin_enter makes an organization the acting one for them.) */

/* The instance chain's events matching f, its verification and export. */
int pl_auditlog_instance_list(pl_db_t *db, pl_ctx_t *ctx, const pl_auditlog_filter_t *f,
                              pl_auditlog_page_t *out);
int pl_auditlog_instance_verify(pl_db_t *db, pl_ctx_t *ctx, pl_auditlog_verification_t *out);
/* NULL (403 recorded) for a caller who is not an instance admin. */
pl_audit_export_t *pl_auditlog_instance_export(pl_ctx_t *ctx, bool csv);

#endif
