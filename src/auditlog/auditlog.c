/* auditlog.c - which chain a caller reads, and with which filters. */
#include "auditlog/auditlog.h"
#include "orgs/orgs.h"

static int page(pl_db_t *db, const pl_audit_query_t *q, pl_auditlog_page_t *out)
{
    out->events = NULL;
    out->next = 0;
    return pl_audit_page(db, q, &out->events, &out->next);
}

static pl_audit_query_t query(const char *chain, const pl_auditlog_filter_t *f)
{
    return (pl_audit_query_t){.chain = chain,
                              .before = f->before,
                              .limit = f->limit,
                              .action = f->action,
                              .actor_id = f->actor_id,
                              .target_id = f->target_id,
                              .since = f->since,
                              .until = f->until};
}

int pl_auditlog_list(pl_db_t *db, pl_ctx_t *ctx, const pl_auditlog_filter_t *f,
                     pl_auditlog_page_t *out)
{
    pl_audit_query_t q = query(ctx->tenant.org_id, f);
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

static int admin_only(pl_ctx_t *ctx)
{
    if (ctx->principal.is_admin)
        return PL_OK;
    return pl_fail(ctx, 403, "forbidden", "Only instance admins may read this audit log.");
}

int pl_auditlog_instance_list(pl_db_t *db, pl_ctx_t *ctx, const pl_auditlog_filter_t *f,
                              pl_auditlog_page_t *out)
{
    int rc = admin_only(ctx);
    if (rc)
        return rc;
    pl_audit_query_t q = query(PL_AUDIT_INSTANCE, f);
    return page(db, &q, out);
}

int pl_auditlog_instance_verify(pl_db_t *db, pl_ctx_t *ctx, pl_auditlog_verification_t *out)
{
    int rc = admin_only(ctx);
    if (rc)
        return rc;
    out->events = out->first_invalid_seq = 0;
    out->head[0] = '\0';
    return pl_audit_verify_chain(db, PL_AUDIT_INSTANCE, &out->valid, &out->events,
                                 &out->first_invalid_seq, out->head);
}

pl_audit_export_t *pl_auditlog_instance_export(pl_ctx_t *ctx, bool csv)
{
    if (admin_only(ctx))
        return NULL;
    return pl_audit_export_open(PL_AUDIT_INSTANCE, csv);
}
