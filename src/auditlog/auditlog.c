/* auditlog.c - which chain a caller reads, and with which filters. */
#include "auditlog/auditlog.h"

static int page(pl_db_t *db, const pl_audit_query_t *q, pl_auditlog_page_t *out)
{
    out->events = NULL;
    out->next = 0;
    return pl_audit_page(db, q, &out->events, &out->next);
}

int pl_auditlog_list(pl_db_t *db, pl_ctx_t *ctx, const pl_auditlog_filter_t *f,
                     pl_auditlog_page_t *out)
{
    pl_audit_query_t q = {.chain = ctx->tenant.org_id,
                          .before = f->before,
                          .limit = f->limit,
                          .action = f->action,
                          .actor_id = f->actor_id,
                          .target_id = f->target_id,
                          .since = f->since,
                          .until = f->until};
    return page(db, &q, out);
}

int pl_auditlog_security_events(pl_db_t *db, pl_ctx_t *ctx, const pl_auditlog_filter_t *f,
                                pl_auditlog_page_t *out)
{
    pl_audit_query_t q = {.chain = PL_AUDIT_INSTANCE,
                          .before = f->before,
                          .limit = f->limit,
                          .subject = ctx->principal.user_id};
    return page(db, &q, out);
}

int pl_auditlog_verify(pl_db_t *db, pl_ctx_t *ctx, pl_auditlog_verification_t *out)
{
    out->events = out->first_invalid_seq = 0;
    out->head[0] = '\0';
    return pl_audit_verify_chain(db, ctx->tenant.org_id, &out->valid, &out->events,
                                 &out->first_invalid_seq, out->head);
}

pl_audit_export_t *pl_auditlog_export(pl_ctx_t *ctx, bool csv)
{
    return pl_audit_export_open(ctx->tenant.org_id, csv);
}
