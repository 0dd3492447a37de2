/* members.c - an organization's members: listing, changing a member's role,
 * removing a member or leaving. Who may do what to whom is rbac's to say;
 * the last owner stays. */
#include <string.h>

#include "apikeys/apikeys.h"
#include "billing/billing.h"
#include "core/rows.h"
#include "orgs/orgs.h"
#include "orgs/orgs_store.h"
#include "platform/audit/audit.h"

static int no_member(pl_ctx_t *ctx)
{
    return pl_fail(ctx, 404, "not_found", "No such resource.");
}

static int forbidden(pl_ctx_t *ctx, const char *detail)
{
    return pl_fail(ctx, 403, "forbidden", detail);
}

int pl_members_list(pl_db_t *db, pl_ctx_t *ctx, const char *cursor, int limit,
                    pl_member_page_t *out)
{
    pl_rows_t rows;
    pl_rows_init(&rows, ctx->arena, sizeof(pl_member_t), limit);
    int rc = pl_members_store_list(db, ctx->arena, ctx->tenant.org_id, cursor, &rows);
    if (rc)
        return rc;
    out->items = rows.items;
    out->n = rows.n;
    out->next_cursor = rows.more ? out->items[out->n - 1].user_id : NULL;
    return PL_OK;
}

/* The member's role key and the role itself, after the org is locked. */
static int load_member(pl_db_t *db, pl_ctx_t *ctx, const char *user_id, const char **key,
                       pl_role_t *role)
{
    const char *org_id = ctx->tenant.org_id;
    int rc = pl_orgs_store_lock(db, org_id);
    if (!rc)
        rc = pl_members_store_role(db, ctx->arena, org_id, user_id, key);
    if (rc == PL_ENOTFOUND)
        return no_member(ctx);
    if (!rc && (rc = pl_orgs_role(db, ctx, org_id, *key, role)) == PL_ENOTFOUND)
        rc = PL_EINTERNAL; /* a member's role always exists */
    return rc;
}

/* The last owner can be neither demoted nor removed. */
static int keep_an_owner(pl_db_t *db, pl_ctx_t *ctx, const char *leaving_role)
{
    if (strcmp(leaving_role, "owner"))
        return PL_OK;
    int64_t owners = 0;
    int rc = pl_members_store_count_role(db, ctx->tenant.org_id, "owner", &owners);
    if (rc)
        return rc;
    if (owners <= 1)
        return pl_fail(ctx, 409, "last_owner", "An organization needs at least one owner.");
    return PL_OK;
}

int pl_members_set_role(pl_db_t *db, pl_ctx_t *ctx, const char *user_id, const char *role_key,
                        pl_member_t *out)
{
    if (!pl_uuid_valid(user_id))
        return no_member(ctx);
    const char *org_id = ctx->tenant.org_id;
    int rc = pl_db_begin(db);
    if (rc)
        return rc;
    const char *current = NULL;
    pl_role_t target, wanted;
    pl_actor_t actor = pl_orgs_actor(ctx);
    rc = load_member(db, ctx, user_id, &current, &target);
    if (!rc && (rc = pl_orgs_role(db, ctx, org_id, role_key, &wanted)) == PL_ENOTFOUND) {
        pl_field_error(ctx, "role", "invalid", "No such role in this organization.");
        rc = PL_EINVAL;
    }
    if (!rc && !pl_rbac_may_manage(&actor, target.level))
        rc = forbidden(ctx, "You can only change members below your own role.");
    if (!rc && !pl_rbac_may_assign(&actor, &wanted))
        rc = forbidden(ctx, "You cannot grant a role you do not outrank.");
    if (!rc && strcmp(wanted.key, "owner"))
        rc = keep_an_owner(db, ctx, current);
    if (!rc)
        rc = pl_members_store_set_role(db, org_id, user_id, wanted.key);
    if (!rc) {
        json_t *d = json_pack("{s:s, s:s}", "from", current, "to", wanted.key);
        rc = pl_audit_append(db, ctx, org_id, "member.role_updated", "user", user_id, d);
        json_decref(d);
    }
    if (!rc)
        rc = pl_members_store_get(db, ctx->arena, org_id, user_id, out);
    return pl_db_finish(db, rc);
}

int pl_members_remove(pl_db_t *db, pl_ctx_t *ctx, const char *user_id)
{
    if (!pl_uuid_valid(user_id))
        return no_member(ctx);
    const char *me = pl_ctx_user(ctx);
    bool self = me && !strcmp(user_id, me);
    int rc = pl_db_begin(db);
    if (rc)
        return rc;
    const char *current = NULL;
    pl_role_t target;
    pl_actor_t actor = pl_orgs_actor(ctx);
    rc = load_member(db, ctx, user_id, &current, &target);
    /* leaving needs no permission; removing someone else needs member.remove
     * and a strictly higher role */
    if (!rc && !self && !pl_perms_has(&actor.perms, pl_perm_bit("member.remove")))
        rc = forbidden(ctx, "Your role does not allow removing members.");
    if (!rc && !self && !pl_rbac_may_manage(&actor, target.level))
        rc = forbidden(ctx, "You can only remove members below your own role.");
    if (!rc)
        rc = keep_an_owner(db, ctx, current);
    if (!rc)
        rc = pl_members_store_remove(db, ctx->tenant.org_id, user_id);
    if (!rc) {
        json_t *d = json_pack("{s:s, s:b}", "role", current, "left", self);
        rc = pl_audit_append(db, ctx, ctx->tenant.org_id, "member.removed", "user", user_id, d);
        json_decref(d);
    }
    if (!rc) /* the keys they created go with them */
        rc = pl_apikeys_revoke_created_by(db, ctx, ctx->tenant.org_id, user_id,
                                          self ? "creator_left" : "creator_removed");
    return pl_db_finish(db, rc);
}

int pl_orgs_join_as(pl_db_t *db, pl_ctx_t *ctx, const char *org_id, const char *user_id,
                    const char *role_key, const char *via)
{
    int rc = pl_db_begin(db);
    if (rc)
        return rc;
    const char *current = NULL;
    rc = pl_orgs_store_lock(db, org_id);
    if (!rc)
        rc = pl_members_store_role(db, ctx->arena, org_id, user_id, &current);
    if (rc != PL_ENOTFOUND) /* a member already (or an error) */
        return pl_db_finish(db, rc);
    /* a seat of the plan, like an invitation; a full plan joins nobody and
     * writes nothing, so the caller's transaction goes on */
    bool room = false;
    if ((rc = pl_billing_has_room(db, org_id, "members", 1, &room)) || !room) {
        pl_db_finish(db, PL_OK);
        return rc ? rc : PL_ELIMIT;
    }
    pl_role_t role;
    if (!(rc = pl_billing_reserve(db, ctx, org_id, "members", 1)))
        rc = pl_orgs_role(db, ctx, org_id, role_key, &role);
    if (rc == PL_ENOTFOUND) /* the role went away since it was chosen */
        role_key = "member", rc = PL_OK;
    if (!rc)
        rc = pl_members_store_insert(db, org_id, user_id, role_key, pl_now_ms());
    json_t *d = json_pack("{s:s, s:s}", "role", role_key, "via", via);
    if (!rc)
        rc = pl_audit_append(db, ctx, org_id, "member.joined", "user", user_id, d);
    json_decref(d);
    return pl_db_finish(db, rc);
}
