/* environments.c - a project's environments and their members (explicit
 * grants: administrator, manager, viewer). Who sees what is decided by the
 * rules in projects.c. */
#include <string.h>

#include "core/rows.h"
#include "projects/projects_int.h"

static json_t *env_data(const pl_environment_t *e)
{
    return json_pack("{s:s, s:s, s:s, s:s}", "project_id", e->project_id, "environment_id", e->id,
                     "name", e->name, "slug", e->slug);
}

int pl_environments_list(pl_db_t *db, pl_ctx_t *ctx, const char *project_ref, const char *cursor,
                         int limit, pl_environment_page_t *out)
{
    pl_project_t p;
    int rc = pl_projects_resolve(db, ctx, project_ref, PL_PROJECT_MEMBER, &p);
    if (rc)
        return rc;
    /* owners see every environment; members those they hold a grant on */
    bool all = p.role == PL_PROJECT_OWNER;
    pl_rows_t rows;
    pl_rows_init(&rows, ctx->arena, sizeof(pl_env_row_t), limit);
    rc = pl_environments_store_list(db, ctx->arena, ctx->tenant.org_id, p.id,
                                    ctx->principal.user_id, all, cursor, &rows);
    if (rc)
        return rc;
    pl_environment_t *items = pl_arena_alloc(ctx->arena, sizeof(*items) * (size_t)(rows.n + 1));
    int n = 0;
    for (int i = 0; i < rows.n; i++) {
        pl_env_row_t *r = pl_rows_at(&rows, i);
        r->e.role = pl_env_effective_role(p.role, r->grant);
        if (r->e.role != PL_ENV_NONE)
            items[n++] = r->e;
    }
    out->items = items;
    out->n = n;
    out->next_cursor = rows.more ? ((pl_env_row_t *)pl_rows_at(&rows, rows.n - 1))->e.id : NULL;
    return PL_OK;
}

/* Does a project already have an environment with slug (other than self)? */
static int env_slug_free(pl_db_t *db, pl_ctx_t *ctx, const pl_project_t *p, const char *slug,
                         const char *self_id, bool *free_out)
{
    pl_env_row_t r;
    int rc = pl_environments_store_get(db, ctx->arena, ctx->tenant.org_id, NULL, p->id, true, slug,
                                       false, &r);
    *free_out = rc == PL_ENOTFOUND || (!rc && self_id && !strcmp(r.e.id, self_id));
    return rc == PL_ENOTFOUND ? PL_OK : rc;
}

/* A free slug for an environment of p: the one given (409 when taken) or
 * one derived from name. */
static int env_slug(pl_db_t *db, pl_ctx_t *ctx, const pl_project_t *p, const char *name,
                    const char *given, const char *self_id, const char **out)
{
    const char *slug = given ? given : pl_projects_slug_from(ctx->arena, name, "env");
    bool ok = false;
    int rc = env_slug_free(db, ctx, p, slug, self_id, &ok);
    if (rc)
        return rc;
    if (!ok && given)
        return pl_projects_slug_taken(ctx);
    *out = ok ? slug : pl_projects_slug_suffixed(ctx->arena, name, "env");
    return PL_OK;
}

int pl_environments_create(pl_db_t *db, pl_ctx_t *ctx, const char *project_ref, const char *name,
                           const char *slug, pl_environment_t *out)
{
    int rc = pl_orgs_check_slug(ctx, slug);
    if (rc || (rc = pl_db_begin(db)))
        return rc;
    pl_project_t p;
    char *id = pl_arena_alloc(ctx->arena, PL_ID_LEN);
    pl_uuid7(id);
    int64_t now = pl_now_ms();
    pl_environment_t e = {.id = id,
                          .name = pl_arena_strdup(ctx->arena, name),
                          .created_at = now,
                          .role = PL_ENV_ADMINISTRATOR};
    rc = pl_projects_resolve(db, ctx, project_ref, PL_PROJECT_OWNER, &p);
    if (!rc) {
        e.project_id = p.id;
        rc = env_slug(db, ctx, &p, name, slug, NULL, &e.slug);
    }
    if (!rc && (rc = pl_environments_store_insert(db, ctx->tenant.org_id, &e, now)) == PL_ECONFLICT)
        rc = pl_projects_slug_taken(ctx);
    if (!rc)
        rc = pl_projects_audit(db, ctx, "environment.created", "environment", e.id, env_data(&e));
    if ((rc = pl_db_finish(db, rc)))
        return rc;
    *out = e;
    return PL_OK;
}

int pl_environments_get(pl_db_t *db, pl_ctx_t *ctx, const char *project_ref, const char *env_ref,
                        pl_environment_t *out)
{
    pl_project_t p;
    return pl_environments_resolve(db, ctx, project_ref, env_ref, PL_ENV_VIEWER, &p, out);
}

int pl_environments_update(pl_db_t *db, pl_ctx_t *ctx, const char *project_ref, const char *env_ref,
                           const char *name, const char *slug, pl_environment_t *out)
{
    int rc = pl_orgs_check_slug(ctx, slug);
    if (rc || (rc = pl_db_begin(db)))
        return rc;
    pl_project_t p;
    pl_environment_t e;
    rc = pl_environments_resolve(db, ctx, project_ref, env_ref, PL_ENV_ADMINISTRATOR, &p, &e);
    if (!rc && slug && strcmp(slug, e.slug))
        rc = env_slug(db, ctx, &p, e.name, slug, e.id, &e.slug);
    if (!rc) {
        if (name)
            e.name = pl_arena_strdup(ctx->arena, name);
        if ((rc = pl_environments_store_update(db, ctx->tenant.org_id, &e, pl_now_ms())) ==
            PL_ECONFLICT)
            rc = pl_projects_slug_taken(ctx);
    }
    if (!rc)
        rc = pl_projects_audit(db, ctx, "environment.updated", "environment", e.id, env_data(&e));
    if ((rc = pl_db_finish(db, rc)))
        return rc;
    *out = e;
    return PL_OK;
}

int pl_environments_delete(pl_db_t *db, pl_ctx_t *ctx, const char *project_ref, const char *env_ref)
{
    int rc = pl_db_begin(db);
    if (rc)
        return rc;
    pl_project_t p;
    pl_environment_t e;
    rc = pl_environments_resolve(db, ctx, project_ref, env_ref, PL_ENV_ADMINISTRATOR, &p, &e);
    /* its secrets and grants go with it */
    if (!rc)
        rc = pl_projects_audit(db, ctx, "environment.deleted", "environment", e.id, env_data(&e));
    if (!rc)
        rc = pl_environments_store_delete(db, ctx->tenant.org_id, e.id);
    return pl_db_finish(db, rc);
}

/* ---- members ---- */

int pl_environments_members_list(pl_db_t *db, pl_ctx_t *ctx, const char *project_ref,
                                 const char *env_ref, const char *cursor, int limit,
                                 pl_project_member_page_t *out)
{
    pl_project_t p;
    pl_environment_t e;
    int rc = pl_environments_resolve(db, ctx, project_ref, env_ref, PL_ENV_VIEWER, &p, &e);
    if (rc)
        return rc;
    pl_rows_t rows;
    pl_rows_init(&rows, ctx->arena, sizeof(pl_project_member_t), limit);
    rc = pl_env_members_store_list(db, ctx->arena, ctx->tenant.org_id, e.id, cursor, &rows);
    if (rc)
        return rc;
    out->items = rows.items;
    out->n = rows.n;
    out->next_cursor = rows.more ? out->items[out->n - 1].user_id : NULL;
    return PL_OK;
}

static json_t *grant_data(const pl_environment_t *e, const char *user_id, const char *role)
{
    return json_pack("{s:s, s:s, s:s, s:s}", "project_id", e->project_id, "environment_id", e->id,
                     "user_id", user_id, "role", role);
}

int pl_environments_member_put(pl_db_t *db, pl_ctx_t *ctx, const char *project_ref,
                               const char *env_ref, const char *user_id, const char *role_key,
                               pl_project_member_t *out)
{
    pl_env_role_t role = pl_env_role_parse(role_key);
    int rc = pl_db_begin(db);
    if (rc)
        return rc;
    pl_project_t p;
    pl_environment_t e;
    const char *project_role = NULL, *current = NULL;
    rc = pl_environments_resolve(db, ctx, project_ref, env_ref, PL_ENV_ADMINISTRATOR, &p, &e);
    if (!rc && role == PL_ENV_NONE) {
        pl_field_error(ctx, "role", "invalid", "Use administrator, manager or viewer.");
        rc = PL_EINVAL;
    }
    if (!rc) {
        rc = pl_uuid_valid(user_id)
                 ? pl_env_members_store_roles(db, ctx->arena, ctx->tenant.org_id, p.id, e.id,
                                              user_id, &project_role, &current)
                 : PL_ENOTFOUND;
        if (rc == PL_ENOTFOUND) {
            pl_field_error(ctx, "user", "not_member", "The user is not a member of the project.");
            rc = PL_EINVAL;
        }
    }
    const char *wanted = pl_env_role_name(role);
    if (!rc && (!current || strcmp(current, wanted))) {
        rc = pl_env_members_store_put(db, ctx->tenant.org_id, p.id, e.id, user_id, wanted,
                                      pl_now_ms());
        if (!rc) {
            json_t *d = grant_data(&e, user_id, wanted);
            if (current)
                json_object_set_new(d, "from", json_string(current));
            rc = pl_projects_audit(
                db, ctx, current ? "environment.member_updated" : "environment.member_added",
                "user", user_id, d);
        }
    }
    if (!rc)
        rc = pl_env_members_store_get(db, ctx->arena, ctx->tenant.org_id, e.id, user_id, out);
    return pl_db_finish(db, rc);
}

int pl_environments_member_remove(pl_db_t *db, pl_ctx_t *ctx, const char *project_ref,
                                  const char *env_ref, const char *user_id)
{
    int rc = pl_db_begin(db);
    if (rc)
        return rc;
    pl_project_t p;
    pl_environment_t e;
    pl_project_member_t m;
    rc = pl_environments_resolve(db, ctx, project_ref, env_ref, PL_ENV_ADMINISTRATOR, &p, &e);
    if (!rc) {
        rc = pl_uuid_valid(user_id)
                 ? pl_env_members_store_get(db, ctx->arena, ctx->tenant.org_id, e.id, user_id, &m)
                 : PL_ENOTFOUND;
        if (!rc)
            rc = pl_env_members_store_remove(db, ctx->tenant.org_id, e.id, user_id);
        if (rc == PL_ENOTFOUND)
            rc = pl_fail(ctx, 404, "not_found", "No such member of the environment.");
    }
    if (!rc)
        rc = pl_projects_audit(db, ctx, "environment.member_removed", "user", user_id,
                               grant_data(&e, user_id, m.role));
    return pl_db_finish(db, rc);
}
