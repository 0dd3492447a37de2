/* admin.c - the rules of instance administration: paging through accounts,
 * disabling and enabling them (a disabled account's sessions end, so
 * enabling it again revives no old token), and making instance admins. */
#include <string.h>

#include "admin/admin.h"
#include "admin/admin_store.h"
#include "core/crypto.h"
#include "platform/audit/audit.h"
#include "platform/jobs/jobs.h"
#include "platform/stats/stats.h"

typedef struct {
    void (*fn)(void *arg, const pl_user_t *u);
    void *arg;
    pl_arena_t *arena;
    int count, limit;
    const char *last;
} page_t;

static void page_row(void *arg, const pl_user_t *u)
{
    page_t *p = arg;
    if (++p->count > p->limit)
        return; /* the extra row only tells that another page exists */
    p->fn(p->arg, u);
    p->last = pl_arena_strdup(p->arena, u->id);
}

int pl_admin_users_list(pl_db_t *db, pl_ctx_t *ctx, const pl_admin_users_query_t *q,
                        void (*fn)(void *arg, const pl_user_t *u), void *arg, const char **next)
{
    *next = NULL;
    if (q->query && strlen(q->query) > PL_ADMIN_QUERY_MAX)
        return pl_fail(ctx, 400, "bad_request", "query is too long.");
    if (q->after && !pl_uuid_valid(q->after))
        return pl_fail(ctx, 400, "bad_request", "cursor is malformed.");
    page_t p = {fn, arg, ctx->arena, 0, q->limit, NULL};
    int rc = pl_admin_store_users(db, ctx->arena, q->query, q->after, q->limit + 1, page_row, &p);
    if (!rc && p.count > p.limit)
        *next = p.last;
    return rc;
}

static int no_such_user(pl_ctx_t *ctx)
{
    return pl_fail(ctx, 404, "not_found", "No such user.");
}

int pl_admin_user_set_disabled(pl_db_t *db, pl_ctx_t *ctx, const char *user_id, bool disabled,
                               pl_user_t *out)
{
    if (!user_id || !pl_uuid_valid(user_id))
        return no_such_user(ctx);
    const char *self = pl_ctx_user(ctx);
    if (disabled && self && !strcmp(user_id, self))
        return pl_fail(ctx, 409, "conflict", "You cannot disable your own account.");
    int rc = pl_db_begin(db);
    if (rc)
        return rc;
    int64_t now = pl_now_ms();
    rc = pl_admin_store_set_disabled(db, user_id, disabled ? now : 0, now);
    if (!rc && disabled)
        rc = pl_auth_revoke_user_sessions(db, ctx, user_id, NULL, "disabled");
    if (!rc)
        rc = pl_audit_append(db, ctx, NULL, disabled ? "user.disabled" : "user.enabled", "user",
                             user_id, NULL);
    if (!rc)
        rc = pl_auth_user_get(db, ctx, user_id, out);
    rc = pl_db_finish(db, rc);
    return rc == PL_ENOTFOUND ? no_such_user(ctx) : rc;
}

static int audit_promoted(pl_db_t *db, pl_ctx_t *ctx, const char *user_id)
{
    return pl_audit_append(db, ctx, NULL, "user.promoted_admin", "user", user_id, NULL);
}

int pl_admin_promote(pl_db_t *db, pl_ctx_t *ctx, const char *email_in, pl_user_t *out)
{
    const char *email = NULL;
    if (pl_auth_check_email(ctx, "email", email_in, &email))
        return PL_EINVAL;
    int rc = pl_auth_user_by_email(db, ctx, email, out);
    if (rc)
        return rc;
    if ((rc = pl_db_begin(db)))
        return rc;
    rc = pl_admin_store_set_admin(db, out->id, true, pl_now_ms());
    if (!rc)
        rc = audit_promoted(db, ctx, out->id);
    if ((rc = pl_db_finish(db, rc)))
        return rc;
    out->is_admin = true;
    return PL_OK;
}

int pl_admin_create(pl_db_t *db, pl_ctx_t *ctx, const char *email_in, const char *password,
                    pl_user_t *out)
{
    const char *email = NULL;
    if (pl_auth_check_email(ctx, "email", email_in, &email))
        return PL_EINVAL;
    char hash[PL_AUTH_PASSWORD_HASH_MAX];
    int rc = pl_auth_hash_password(ctx, "password", password, email, hash);
    if (rc)
        return rc;
    pl_auth_new_user_t in = {
        .email = email,
        .name = pl_arena_strndup(ctx->arena, email, (size_t)(strchr(email, '@') - email)),
        .password_hash = hash,
        .email_verified = true,
        .is_admin = true,
    };
    if ((rc = pl_db_begin(db)) == PL_OK) {
        rc = pl_auth_create_user(db, ctx, &in, out, NULL);
        if (!rc)
            rc = audit_promoted(db, ctx, out->id);
        rc = pl_db_finish(db, rc);
    }
    pl_memzero(hash, sizeof(hash));
    return rc;
}

/* ---- one account ---- */

static int admin_only(pl_ctx_t *ctx)
{
    return ctx->principal.is_admin
               ? PL_OK
               : pl_fail(ctx, 403, "forbidden", "Only instance admins may do this.");
}

static int user_of(pl_db_t *db, pl_ctx_t *ctx, const char *user_id, pl_user_t *out)
{
    int rc = admin_only(ctx);
    if (rc)
        return rc;
    rc = user_id && pl_uuid_valid(user_id) ? pl_auth_user_get(db, ctx, user_id, out) : PL_ENOTFOUND;
    return rc == PL_ENOTFOUND ? pl_fail(ctx, 404, "not_found", "No such user.") : rc;
}

int pl_admin_user_get(pl_db_t *db, pl_ctx_t *ctx, const char *user_id, pl_user_t *out,
                      void (*session)(void *arg, const pl_session_t *s),
                      void (*org)(void *arg, const pl_auth_org_t *o), void *arg)
{
    int rc = user_of(db, ctx, user_id, out);
    if (!rc && session)
        rc = pl_auth_sessions_of(db, ctx, out->id, session, arg);
    if (!rc && org)
        rc = pl_auth_orgs_of(db, out->id, org, arg);
    return rc;
}

int pl_admin_user_revoke_sessions(pl_db_t *db, pl_ctx_t *ctx, const char *user_id)
{
    pl_user_t u;
    int rc = pl_db_begin(db);
    if (rc)
        return rc;
    rc = user_of(db, ctx, user_id, &u);
    if (!rc)
        rc = pl_auth_revoke_user_sessions(db, ctx, u.id, NULL, "admin");
    if (!rc)
        rc = pl_audit_append(db, ctx, NULL, "user.sessions_revoked", "user", u.id, NULL);
    return pl_db_finish(db, rc);
}

/* ---- the overview's numbers ---- */

int pl_admin_stats(pl_db_t *db, pl_ctx_t *ctx, pl_admin_stats_t *out)
{
    if (!ctx->principal.is_admin)
        return pl_fail(ctx, 403, "forbidden", "Only instance admins may read this.");
    int rc = pl_admin_store_totals(db, &out->users, &out->organizations);
    if (!rc)
        rc = pl_jobs_count(db, "queued", &out->jobs_queued);
    if (!rc)
        rc = pl_jobs_count(db, "running", &out->jobs_running);
    if (!rc)
        rc = pl_jobs_count(db, "dead", &out->jobs_dead);
    const struct {
        const char *metric;
        int64_t *series;
    } series[] = {
        {PL_STATS_SIGN_IN, out->sign_ins},
        {PL_STATS_SIGN_IN_FAILED, out->failed_sign_ins},
        {PL_STATS_USER_CREATED, out->new_users},
        {PL_STATS_ORG_CREATED, out->new_organizations},
        {PL_STATS_WEBHOOK_ATTEMPT, out->webhook_attempts},
        {PL_STATS_WEBHOOK_FAILED, out->webhook_failures},
    };
    for (size_t i = 0; !rc && i < PL_ARRAY_LEN(series); i++)
        rc = pl_stats_series(db, series[i].metric, out->from, out->step, out->n, series[i].series);
    return rc;
}
