/* teams.c - teams inside an organization; their members must be members of
 * the organization (a foreign key to memberships removes them with it). */
#include <string.h>

#include "core/rows.h"
#include "orgs/orgs.h"
#include "orgs/orgs_store.h"
#include "platform/audit/audit.h"

static int no_team(pl_ctx_t *ctx)
{
    return pl_fail(ctx, 404, "not_found", "No such team.");
}

static int audit_team(pl_db_t *db, pl_ctx_t *ctx, const char *action, const char *team_id,
                      const char *key, const char *value)
{
    json_t *d = json_pack("{s:s}", key, value);
    int rc = pl_audit_append(db, ctx, ctx->tenant.org_id, action, "team", team_id, d);
    json_decref(d);
    return rc;
}

/* The team in the acting org; records 404 otherwise. */
static int load_team(pl_db_t *db, pl_ctx_t *ctx, const char *id, pl_team_t *t)
{
    if (!pl_uuid_valid(id))
        return no_team(ctx);
    int rc = pl_teams_store_get(db, ctx->arena, ctx->tenant.org_id, id, t);
    return rc == PL_ENOTFOUND ? no_team(ctx) : rc;
}

int pl_teams_list(pl_db_t *db, pl_ctx_t *ctx, const char *cursor, int limit, pl_team_page_t *out)
{
    pl_rows_t rows;
    pl_rows_init(&rows, ctx->arena, sizeof(pl_team_t), limit);
    int rc = pl_teams_store_list(db, ctx->arena, ctx->tenant.org_id, cursor, &rows);
    if (rc)
        return rc;
    out->items = rows.items;
    out->n = rows.n;
    out->next_cursor = rows.more ? out->items[out->n - 1].id : NULL;
    return PL_OK;
}

int pl_teams_get(pl_db_t *db, pl_ctx_t *ctx, const char *team_id, pl_team_t *out)
{
    return load_team(db, ctx, team_id, out);
}

int pl_teams_create(pl_db_t *db, pl_ctx_t *ctx, const char *name, pl_team_t *out)
{
    char *id = pl_arena_alloc(ctx->arena, PL_ID_LEN);
    pl_uuid7(id);
    pl_team_t t = {id, pl_arena_strdup(ctx->arena, name), 0, pl_now_ms()};
    int rc = pl_db_begin(db);
    if (rc)
        return rc;
    rc = pl_teams_store_insert(db, ctx->tenant.org_id, t.id, t.name, t.created_at);
    if (!rc)
        rc = audit_team(db, ctx, "team.created", t.id, "name", t.name);
    if ((rc = pl_db_finish(db, rc)))
        return rc;
    *out = t;
    return PL_OK;
}

int pl_teams_rename(pl_db_t *db, pl_ctx_t *ctx, const char *team_id, const char *name,
                    pl_team_t *out)
{
    int rc = pl_db_begin(db);
    if (rc)
        return rc;
    pl_team_t t;
    rc = load_team(db, ctx, team_id, &t);
    if (!rc)
        rc = pl_teams_store_rename(db, ctx->tenant.org_id, t.id, name, pl_now_ms());
    if (!rc)
        rc = audit_team(db, ctx, "team.updated", t.id, "name", name);
    if ((rc = pl_db_finish(db, rc)))
        return rc;
    t.name = pl_arena_strdup(ctx->arena, name);
    *out = t;
    return PL_OK;
}

int pl_teams_delete(pl_db_t *db, pl_ctx_t *ctx, const char *team_id)
{
    int rc = pl_db_begin(db);
    if (rc)
        return rc;
    pl_team_t t;
    rc = load_team(db, ctx, team_id, &t);
    if (!rc)
        rc = pl_teams_store_delete(db, ctx->tenant.org_id, t.id);
    if (!rc)
        rc = audit_team(db, ctx, "team.deleted", t.id, "name", t.name);
    return pl_db_finish(db, rc);
}

/* 422 (field "user") unless user_id is a member of the acting org. */
static int org_member(pl_db_t *db, pl_ctx_t *ctx, const char *user_id)
{
    const char *role = NULL;
    int rc = pl_uuid_valid(user_id)
                 ? pl_members_store_role(db, ctx->arena, ctx->tenant.org_id, user_id, &role)
                 : PL_ENOTFOUND;
    if (rc == PL_ENOTFOUND) {
        pl_field_error(ctx, "user", "not_a_member",
                       "The user is not a member of this organization.");
        return PL_EINVAL;
    }
    return rc;
}

static int team_member(pl_db_t *db, pl_ctx_t *ctx, const char *team_id, const char *user_id,
                       bool add)
{
    const char *org_id = ctx->tenant.org_id;
    int rc = pl_db_begin(db);
    if (rc)
        return rc;
    pl_team_t t;
    rc = load_team(db, ctx, team_id, &t);
    if (!rc)
        rc = org_member(db, ctx, user_id);
    if (!rc && add)
        rc = pl_teams_store_add_member(db, org_id, t.id, user_id, pl_now_ms());
    if (!rc && !add) {
        rc = pl_teams_store_remove_member(db, org_id, t.id, user_id);
        if (rc == PL_ENOTFOUND)
            rc = pl_fail(ctx, 404, "not_found", "The user is not in this team.");
    }
    if (!rc)
        rc = audit_team(db, ctx, add ? "team.member_added" : "team.member_removed", t.id, "user_id",
                        user_id);
    return pl_db_finish(db, rc);
}

int pl_teams_member_add(pl_db_t *db, pl_ctx_t *ctx, const char *team_id, const char *user_id)
{
    return team_member(db, ctx, team_id, user_id, true);
}

int pl_teams_member_remove(pl_db_t *db, pl_ctx_t *ctx, const char *team_id, const char *user_id)
{
    return team_member(db, ctx, team_id, user_id, false);
}
