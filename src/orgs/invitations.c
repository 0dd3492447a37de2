/* invitations.c - inviting people into an organization: a 32-byte token
 * stored as SHA-256 (never logged), an email through the job queue, 7 days to
 * accept, by a signed-in user with the invited email or at registration.
 * A project invitation is the same invitation carrying a project: its
 * invitee joins the organization as a guest (unless already a member) and
 * the project, through the projects service. */
#include <string.h>

#include "auth/auth.h" /* pl_auth_mark_email_verified: accounts own users */
#include "billing/billing.h"
#include "core/crypto.h"
#include "core/rows.h"
#include "orgs/orgs.h"
#include "orgs/orgs_store.h"
#include "platform/audit/audit.h"
#include "platform/mail/mail.h"
#include "projects/projects.h" /* pl_projects_join: accepting a project invitation */

#define INVITATION_TTL_MS (7LL * 24 * 3600 * 1000)

const char *pl_invitations_status(const char *stored, int64_t expires_at, int64_t now)
{
    if (!strcmp(stored, "pending") && expires_at <= now)
        return "expired";
    return stored;
}

static int no_invitation(pl_ctx_t *ctx)
{
    return pl_fail(ctx, 404, "not_found", "No such invitation.");
}

/* The role key of the invitation, which the caller must be allowed to
 * assign; the org is locked against a concurrent deletion of the role. */
static int invitable_role(pl_db_t *db, pl_ctx_t *ctx, const char *key, pl_role_t *role)
{
    int rc = pl_orgs_store_lock(db, ctx->tenant.org_id);
    if (!rc)
        rc = pl_orgs_role(db, ctx, ctx->tenant.org_id, key, role);
    if (rc == PL_ENOTFOUND) {
        pl_field_error(ctx, "role", "invalid", "No such role in this organization.");
        return PL_EINVAL;
    }
    pl_actor_t actor = pl_orgs_actor(ctx);
    if (!rc && !pl_rbac_may_assign(&actor, role))
        rc = pl_fail(ctx, 403, "forbidden", "You cannot invite with a role you do not outrank.");
    return rc;
}

static int not_yet_member(pl_db_t *db, pl_ctx_t *ctx, const char *email)
{
    int member = pl_members_store_has_email(db, ctx->tenant.org_id, email);
    if (member < 0)
        return member;
    if (member == 1)
        return pl_fail(ctx, 409, "already_member", "This person is already a member.");
    return PL_OK;
}

/* The brake on invitation emails (an invite/revoke loop would otherwise
 * mail one address without end): at most `limit` per hour per organization
 * (email NULL) or per organization and address, counted in the database
 * while the org is locked, so on every instance. 429 rate_limited with
 * Retry-After when used up. */
static int invite_brake(pl_db_t *db, pl_ctx_t *ctx, const char *email, int limit, int64_t now)
{
    if (limit <= 0)
        return PL_OK;
    int64_t n = 0, oldest = 0, hour = 3600 * 1000;
    int rc = pl_invitations_store_recent(db, ctx->tenant.org_id, email, now - hour, &n, &oldest);
    if (rc || n < limit)
        return rc;
    int64_t wait = (oldest + hour - now + 999) / 1000;
    ctx->err.retry_after = wait < 1 ? 1 : (int)wait;
    return pl_fail(ctx, 429, "rate_limited",
                   email ? "Too many invitations to this address; try again later."
                         : "Too many invitations from this organization; try again later.");
}

/* The invitation email, in the caller's transaction. */
static int send_invitation(pl_db_t *db, pl_ctx_t *ctx, const pl_invitation_t *inv,
                           const pl_role_t *role, const char *project_name, const char *token)
{
    const char *inviter = ctx->principal.name ? ctx->principal.name : "";
    const char *link = pl_mail_link(ctx->arena, "/accept-invite", token);
    json_t *vars = json_pack("{s:s, s:s, s:s, s:s, s:s}", "name", "", "org_name", ctx->tenant.name,
                             "inviter_name", inviter, "role",
                             project_name ? inv->project_role : role->name, "link", link);
    if (project_name)
        json_object_set_new(vars, "project_name", json_string(project_name));
    /* an invitee who already has an account gets the email in their locale */
    pl_user_t invitee;
    int rc = pl_auth_user_by_email(db, ctx, inv->email, &invitee);
    if (rc == PL_OK && invitee.locale)
        json_object_set_new(vars, "locale", json_string(invitee.locale));
    else if (rc != PL_OK && rc != PL_ENOTFOUND) {
        json_decref(vars);
        return rc;
    }
    rc = pl_mail_enqueue(db, project_name ? "project_invitation" : "invitation", inv->email, vars);
    json_decref(vars);
    return rc;
}

/* Creates an invitation: for the organization with role_key, or (project
 * set) for a project, the organization role being guest. */
static int create(pl_db_t *db, pl_ctx_t *ctx, const char *email, const char *role_key,
                  const char *project_id, const char *project_name, const char *project_role,
                  pl_invitation_t *out)
{
    if (pl_orgs_require_verified_email && !ctx->principal.email_verified)
        return pl_fail(ctx, 403, "email_not_verified",
                       "Verify your email address before inviting people.");
    const char *org_id = ctx->tenant.org_id;
    int64_t now = pl_now_ms();
    char token[64], hash[65];
    char *id = pl_arena_alloc(ctx->arena, PL_ID_LEN);
    pl_token_new(32, token, sizeof(token));
    pl_sha256_hex(token, strlen(token), hash);
    pl_uuid7(id);
    pl_invitation_t inv = {.id = id,
                           .org_id = org_id,
                           .email = pl_arena_strdup(ctx->arena, email),
                           .status = "pending",
                           .invited_by = pl_ctx_user(ctx),
                           .expires_at = now + INVITATION_TTL_MS,
                           .created_at = now,
                           .project_id =
                               project_id ? pl_arena_strdup(ctx->arena, project_id) : NULL,
                           .project_role = project_role};
    pl_role_t role;
    int rc = pl_db_begin(db);
    if (rc)
        goto done;
    rc = invitable_role(db, ctx, role_key, &role);
    /* an organization invitation is for newcomers; a project one may go to
     * a member of the organization (the projects service checks the project) */
    if (!rc && !project_id)
        rc = not_yet_member(db, ctx, inv.email);
    if (!rc)
        rc = invite_brake(db, ctx, NULL, pl_orgs_invite_limit, now);
    if (!rc)
        rc = invite_brake(db, ctx, inv.email, pl_orgs_invite_recipient_limit, now);
    if (!rc)
        rc = pl_invitations_store_expire(db, org_id, inv.email, now);
    /* a pending invitation takes a seat of the plan (the org is locked) */
    if (!rc)
        rc = pl_billing_reserve(db, ctx, org_id, "members", 1);
    if (!rc) {
        inv.role = role.key;
        rc = pl_invitations_store_insert(db, org_id, &inv, hash, now);
        if (rc == PL_ECONFLICT)
            rc = pl_fail(ctx, 409, "invitation_pending",
                         "An invitation to this email is already pending.");
    }
    if (!rc) {
        /* the token never reaches the log: the event holds who and which role */
        json_t *d = json_pack("{s:s, s:s}", "email", inv.email, "role", role.key);
        if (project_id) {
            json_object_set_new(d, "project_id", json_string(project_id));
            json_object_set_new(d, "project_role", json_string(project_role));
        }
        rc = pl_audit_append(db, ctx, org_id, "member.invited", "invitation", id, d);
        json_decref(d);
    }
    if (!rc)
        rc = send_invitation(db, ctx, &inv, &role, project_name, token);
    rc = pl_db_finish(db, rc);
done:
    pl_memzero(token, sizeof(token));
    if (!rc)
        *out = inv;
    return rc;
}

int pl_invitations_create(pl_db_t *db, pl_ctx_t *ctx, const char *email, const char *role_key,
                          pl_invitation_t *out)
{
    return create(db, ctx, email, role_key, NULL, NULL, NULL, out);
}

int pl_invitations_create_for_project(pl_db_t *db, pl_ctx_t *ctx, const char *email,
                                      const char *project_id, const char *project_name,
                                      const char *project_role, pl_invitation_t *out)
{
    return create(db, ctx, email, "guest", project_id, project_name, project_role, out);
}

int pl_invitations_list(pl_db_t *db, pl_ctx_t *ctx, const char *cursor, int limit,
                        pl_invitation_page_t *out)
{
    pl_rows_t rows;
    pl_rows_init(&rows, ctx->arena, sizeof(pl_invitation_t), limit);
    int rc = pl_invitations_store_list(db, ctx->arena, ctx->tenant.org_id, cursor, &rows);
    if (rc)
        return rc;
    pl_invitation_t *items = rows.items;
    int64_t now = pl_now_ms();
    for (int i = 0; i < rows.n; i++)
        items[i].status = pl_invitations_status(items[i].status, items[i].expires_at, now);
    out->items = items;
    out->n = rows.n;
    out->next_cursor = rows.more ? items[rows.n - 1].id : NULL;
    return PL_OK;
}

int pl_invitations_revoke(pl_db_t *db, pl_ctx_t *ctx, const char *id)
{
    if (!pl_uuid_valid(id))
        return no_invitation(ctx);
    const char *org_id = ctx->tenant.org_id;
    int rc = pl_db_begin(db);
    if (rc)
        return rc;
    pl_invitation_row_t inv;
    int64_t now = pl_now_ms();
    rc = pl_invitations_store_get(db, ctx->arena, org_id, id, &inv);
    if (rc == PL_ENOTFOUND)
        rc = no_invitation(ctx);
    if (!rc && strcmp(pl_invitations_status(inv.status, inv.expires_at, now), "pending"))
        rc = pl_fail(ctx, 409, "conflict", "Only pending invitations can be revoked.");
    if (!rc)
        rc = pl_invitations_store_set_status(db, org_id, id, "pending", "revoked", now);
    if (!rc)
        rc = pl_audit_append(db, ctx, org_id, "invitation.revoked", "invitation", id, NULL);
    return pl_db_finish(db, rc);
}

/* Finds a pending, unexpired invitation by token and makes its org the
 * transaction's tenant. PL_ENOTFOUND otherwise. */
static int find_invitation(pl_db_t *db, pl_ctx_t *ctx, const char *token, pl_invitation_row_t *inv)
{
    char hash[65];
    pl_sha256_hex(token, strlen(token), hash);
    int rc = pl_db_set_context(db, "app.invitation_token", hash);
    if (!rc)
        rc = pl_invitations_store_by_token(db, ctx->arena, hash, inv);
    if (!rc && strcmp(pl_invitations_status(inv->status, inv->expires_at, pl_now_ms()), "pending"))
        rc = PL_ENOTFOUND;
    if (!rc)
        rc = pl_db_set_context(db, "app.org_id", inv->org_id);
    return rc;
}

/* Claims the invitation before anyone joins with it: the status changes
 * only from pending, so of concurrent acceptances exactly one proceeds; the
 * others wait for it and then find it used (PL_ENOTFOUND). */
static int claim(pl_db_t *db, const pl_invitation_row_t *inv, int64_t now)
{
    return pl_invitations_store_set_status(db, inv->org_id, inv->id, "pending", "accepted", now);
}

/* role: the organization role the user holds after accepting (a project
 * invitation leaves an existing member's role as it was) */
static int audit_accepted(pl_db_t *db, pl_ctx_t *ctx, const pl_invitation_row_t *inv,
                          const char *user_id, const char *role)
{
    json_t *d = json_pack("{s:s, s:s}", "user_id", user_id, "role", role);
    if (inv->project_id) {
        json_object_set_new(d, "project_id", json_string(inv->project_id));
        json_object_set_new(d, "project_role", json_string(inv->project_role));
    }
    int rc = pl_audit_append(db, ctx, inv->org_id, "invitation.accepted", "invitation", inv->id, d);
    json_decref(d);
    return rc;
}

int pl_orgs_join_by_invitation(pl_db_t *db, pl_ctx_t *ctx, const char *user_id, const char *email,
                               const char *token)
{
    int rc = pl_db_begin(db);
    if (rc)
        return rc;
    pl_invitation_row_t inv;
    int64_t now = pl_now_ms();
    rc = find_invitation(db, ctx, token, &inv);
    if (!rc && strcmp(inv.email, email))
        rc = PL_ENOTFOUND; /* not valid for this email */
    if (!rc)
        rc = claim(db, &inv, now);
    if (!rc)
        rc = pl_members_store_insert(db, inv.org_id, user_id, inv.role, now);
    if (!rc)
        rc = audit_accepted(db, ctx, &inv, user_id, inv.role);
    if (!rc && inv.project_id)
        rc = pl_projects_join(db, ctx, inv.org_id, inv.project_id, user_id, inv.project_role);
    return pl_db_finish(db, rc);
}

static int invalid_token(pl_ctx_t *ctx)
{
    pl_field_error(ctx, "token", "invalid", "The invitation is unknown, used or expired.");
    return pl_fail(ctx, 422, "invalid_token", "The invitation is unknown, used or expired.");
}

int pl_invitations_accept(pl_db_t *db, pl_ctx_t *ctx, const char *token, pl_org_t *out)
{
    const char *user_id = pl_ctx_user(ctx);
    if (!user_id)
        return pl_fail(ctx, 403, "forbidden", "Only users accept invitations.");
    int rc = pl_db_begin(db);
    if (rc)
        return rc;
    pl_invitation_row_t inv;
    int64_t now = pl_now_ms();
    rc = find_invitation(db, ctx, token, &inv);
    if (rc == PL_ENOTFOUND)
        rc = invalid_token(ctx);
    if (!rc && strcmp(inv.email, ctx->principal.email ? ctx->principal.email : ""))
        rc = pl_fail(ctx, 403, "forbidden", "This invitation is addressed to another email.");
    /* claim it first: of concurrent acceptances one gets it, the others wait
     * for it and then find it used */
    if (!rc && (rc = claim(db, &inv, now)) == PL_ENOTFOUND)
        rc = invalid_token(ctx);
    const char *role = NULL;
    bool member = false;
    if (!rc) {
        int m = pl_members_store_role(db, ctx->arena, inv.org_id, user_id, &role);
        member = m == PL_OK;
        /* a project invitation to a member only adds the project */
        if (member && !inv.project_id)
            rc = pl_fail(ctx, 409, "already_member", "You are already a member.");
        else if (m != PL_OK && m != PL_ENOTFOUND)
            rc = m;
    }
    if (!rc && !member) {
        role = inv.role;
        rc = pl_members_store_insert(db, inv.org_id, user_id, inv.role, now);
    }
    if (!rc)
        rc = audit_accepted(db, ctx, &inv, user_id, role);
    if (!rc && inv.project_id)
        rc = pl_projects_join(db, ctx, inv.org_id, inv.project_id, user_id, inv.project_role);
    /* the token came to that mailbox: the address is proven */
    if (!rc && !ctx->principal.email_verified)
        rc = pl_auth_mark_email_verified(db, ctx, user_id, inv.email);
    if (!rc)
        rc = pl_orgs_store_get(db, ctx->arena, inv.org_id, true, out);
    if ((rc = pl_db_finish(db, rc)))
        return rc;
    out->role = role;
    return PL_OK;
}
