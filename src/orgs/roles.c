/* roles.c - an organization's roles: the built-in ones (rbac) and custom
 * ones, which nobody defines beyond what they hold themselves. */
#include <stdio.h>
#include <string.h>

#include "core/rows.h"
#include "orgs/orgs.h"
#include "orgs/orgs_store.h"
#include "platform/audit/audit.h"

static int builtin_role(pl_ctx_t *ctx)
{
    return pl_fail(ctx, 409, "builtin_role", "Built-in roles cannot be changed.");
}

static int forbidden(pl_ctx_t *ctx, const char *detail)
{
    return pl_fail(ctx, 403, "forbidden", detail);
}

int pl_roles_check_key(pl_ctx_t *ctx, const char *key)
{
    if (pl_rbac_key_valid(key))
        return PL_OK;
    pl_field_error(ctx, "key", "invalid",
                   "Use 2 to 32 of a-z, 0-9, _ and -, starting with a letter.");
    return PL_EINVAL;
}

static pl_org_role_t custom_role(const pl_role_row_t *r)
{
    pl_org_role_t o = {.id = r->id, .key = r->key, .name = r->name, .level = r->level};
    pl_perms_from_text(r->permissions, &o.perms);
    return o;
}

int pl_roles_list(pl_db_t *db, pl_ctx_t *ctx, pl_role_list_t *out)
{
    pl_rows_t custom;
    pl_rows_init(&custom, ctx->arena, sizeof(pl_role_row_t), 0);
    int rc = pl_roles_store_list(db, ctx->arena, ctx->tenant.org_id, &custom);
    if (rc)
        return rc;
    int nb = pl_rbac_builtin_count(), n = nb + custom.n;
    pl_org_role_t *items = pl_arena_alloc(ctx->arena, sizeof(*items) * (size_t)n);
    for (int i = 0; i < nb; i++) {
        pl_role_t r;
        pl_rbac_builtin_at(i, &r);
        items[i] = (pl_org_role_t){.id = pl_arena_printf(ctx->arena, "builtin-%s", r.key),
                                   .key = r.key,
                                   .name = r.name,
                                   .level = r.level,
                                   .builtin = true,
                                   .perms = r.perms};
    }
    for (int i = 0; i < custom.n; i++)
        items[nb + i] = custom_role(pl_rows_at(&custom, i));
    out->items = items;
    out->n = n;
    return PL_OK;
}

static int audit_role(pl_db_t *db, pl_ctx_t *ctx, const char *action, const pl_org_role_t *r)
{
    json_t *d = json_pack("{s:s, s:s, s:i, s:o}", "key", r->key, "name", r->name, "level", r->level,
                          "permissions", pl_perms_to_json(&r->perms));
    int rc = pl_audit_append(db, ctx, ctx->tenant.org_id, action, "role", r->key, d);
    json_decref(d);
    return rc;
}

static pl_role_row_t role_row(pl_ctx_t *ctx, const pl_org_role_t *r)
{
    return (pl_role_row_t){r->id, r->key, r->name, r->level,
                           pl_perms_to_text(ctx->arena, &r->perms)};
}

int pl_roles_create(pl_db_t *db, pl_ctx_t *ctx, const char *key, const char *name, int level,
                    const pl_perms_t *perms, pl_org_role_t *out)
{
    if (pl_rbac_is_builtin(key))
        return builtin_role(ctx);
    if (pl_roles_check_key(ctx, key))
        return PL_EINVAL;
    pl_actor_t actor = pl_orgs_actor(ctx);
    if (!pl_rbac_may_define(&actor, level, perms))
        return forbidden(ctx, "A role cannot hold permissions you do not have.");
    char *id = pl_arena_alloc(ctx->arena, PL_ID_LEN);
    pl_uuid7(id);
    pl_org_role_t r = {.id = id,
                       .key = pl_arena_strdup(ctx->arena, key),
                       .name = pl_arena_strdup(ctx->arena, name),
                       .level = level,
                       .perms = *perms};
    pl_role_row_t row = role_row(ctx, &r);
    int rc = pl_db_begin(db);
    if (rc)
        return rc;
    rc = pl_roles_store_insert(db, ctx->tenant.org_id, &row, pl_now_ms());
    if (!rc)
        rc = audit_role(db, ctx, "role.created", &r);
    if ((rc = pl_db_finish(db, rc)))
        return rc == PL_ECONFLICT ? pl_fail(ctx, 409, "conflict", "A role with this key exists.")
                                  : rc;
    *out = r;
    return PL_OK;
}

/* The custom role key, which the caller must be allowed to define as it is;
 * locked against concurrent changes when lock is set. */
static int load_custom(pl_db_t *db, pl_ctx_t *ctx, const char *key, bool lock, pl_org_role_t *out)
{
    if (pl_rbac_is_builtin(key))
        return builtin_role(ctx);
    pl_role_row_t row;
    int rc = lock ? pl_orgs_store_lock(db, ctx->tenant.org_id) : PL_OK;
    if (!rc)
        rc = pl_roles_store_get(db, ctx->arena, ctx->tenant.org_id, key, &row);
    if (rc == PL_ENOTFOUND)
        return pl_fail(ctx, 404, "not_found", "No such resource.");
    if (rc)
        return rc;
    *out = custom_role(&row);
    pl_actor_t actor = pl_orgs_actor(ctx);
    if (!pl_rbac_may_define(&actor, out->level, &out->perms))
        return forbidden(ctx, "This role holds permissions you do not have.");
    return PL_OK;
}

int pl_roles_get_editable(pl_db_t *db, pl_ctx_t *ctx, const char *key, pl_org_role_t *out)
{
    return load_custom(db, ctx, key, false, out);
}

int pl_roles_update(pl_db_t *db, pl_ctx_t *ctx, const char *key, const char *name, const int *level,
                    const pl_perms_t *perms, pl_org_role_t *out)
{
    int rc = pl_db_begin(db);
    if (rc)
        return rc;
    pl_org_role_t r;
    rc = load_custom(db, ctx, key, true, &r);
    if (!rc) {
        /* editing is bound by the creation rule, for the role as it becomes */
        if (name)
            r.name = pl_arena_strdup(ctx->arena, name);
        if (level)
            r.level = *level;
        if (perms)
            r.perms = *perms;
        pl_actor_t actor = pl_orgs_actor(ctx);
        if (!pl_rbac_may_define(&actor, r.level, &r.perms))
            rc = forbidden(ctx, "A role cannot hold permissions you do not have.");
    }
    if (!rc) {
        pl_role_row_t row = role_row(ctx, &r);
        rc = pl_roles_store_update(db, ctx->tenant.org_id, &row, pl_now_ms());
    }
    if (!rc)
        rc = audit_role(db, ctx, "role.updated", &r);
    if ((rc = pl_db_finish(db, rc)))
        return rc;
    *out = r;
    return PL_OK;
}

int pl_roles_delete(pl_db_t *db, pl_ctx_t *ctx, const char *key)
{
    int rc = pl_db_begin(db);
    if (rc)
        return rc;
    pl_org_role_t r;
    int64_t used = 0;
    rc = load_custom(db, ctx, key, true, &r);
    if (!rc)
        rc = pl_roles_store_usage(db, ctx->tenant.org_id, key, &used);
    if (!rc && used > 0)
        rc = pl_fail(ctx, 409, "role_in_use", "Members or pending invitations hold this role.");
    if (!rc)
        rc = pl_roles_store_delete(db, ctx->tenant.org_id, key);
    if (!rc)
        rc = audit_role(db, ctx, "role.deleted", &r);
    return pl_db_finish(db, rc);
}
