/* ctx.c - the acting context and error recording. */
#include <string.h>

#include "core/ctx.h"

void pl_ctx_system(pl_ctx_t *ctx, pl_arena_t *a)
{
    memset(ctx, 0, sizeof(*ctx));
    ctx->arena = a;
    ctx->ip = "";
}

int pl_err_for_status(int status)
{
    switch (status) {
    case 400:
    case 412:
    case 413:
    case 415:
    case 422:
        return PL_EINVAL;
    case 401:
        return PL_EUNAUTH;
    case 402:
    case 429:
        return PL_ELIMIT;
    case 403:
        return PL_EFORBIDDEN;
    case 404:
        return PL_ENOTFOUND;
    case 409:
        return PL_ECONFLICT;
    case 503:
        return PL_EDB;
    default:
        return PL_EINTERNAL;
    }
}

int pl_fail(pl_ctx_t *ctx, int status, const char *code, const char *detail)
{
    ctx->err.status = status;
    ctx->err.code = code;
    ctx->err.detail = detail;
    return pl_err_for_status(status);
}

void pl_field_error(pl_ctx_t *ctx, const char *field, const char *code, const char *message)
{
    pl_err_t *e = &ctx->err;
    if (e->nfield_errors < PL_MAX_FIELD_ERRORS) {
        pl_field_error_t *f = &e->field_errors[e->nfield_errors++];
        f->field = field;
        f->code = code;
        f->message = message;
    }
    if (!e->status) {
        e->status = 422;
        e->code = "validation_failed";
        e->detail = "The request has invalid fields.";
    }
}

int pl_validated(const pl_ctx_t *ctx)
{
    return ctx->err.nfield_errors ? PL_EINVAL : PL_OK;
}

const char *pl_ctx_time(pl_ctx_t *ctx, int64_t ms)
{
    char *out = pl_arena_alloc(ctx->arena, 32);
    pl_time_format(ms, out);
    return out;
}
