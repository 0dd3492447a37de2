/* orgs.h - organizations (tenants), memberships, invitations, teams and
 * custom roles: the handlers of /v1/orgs/..., the authorization step that
 * resolves the caller's membership once per request, and the invitation hook
 * of registration. Thread-safe. */
#ifndef PL_ORGS_H
#define PL_ORGS_H

#include "auth/auth_store.h"
#include "web/web.h"
#include "core/module.h"
#include "rbac/rbac.h"

/* The authorization step for org routes: resolves the org ref (id or slug),
 * sets the tenant context of the caller's transaction, reads the membership
 * and role of ctx->principal's user, and checks perm_bit (-1: none). A
 * non-member, or an unknown org, is 404; a member without the permission
 * 403 (detail on ctx). Fills ctx->tenant. */
int pl_orgs_resolve(pl_db_t *db, pl_ctx_t *ctx, const char *org_ref, int perm_bit);

/* Resolves a role key of org_id (built-in or custom) into out; the name
 * points into the arena. PL_ENOTFOUND for an unknown key. */
int pl_orgs_role(pl_req_t *req, pl_db_t *db, const char *org_id, const char *key, pl_role_t *out);

/* The caller as an rbac actor, from req->ctx.tenant. */
pl_actor_t pl_orgs_actor(const pl_req_t *req);

/* Registration with an invitation token: checks the token is pending for
 * u->email and joins u to its organization, inside the caller's write
 * transaction. PL_ENOTFOUND when the token is not valid for that email. */
int pl_orgs_join_by_invitation(pl_req_t *req, pl_db_t *db, const pl_user_t *u, const char *token);

/* PLINTH_REQUIRE_VERIFIED_EMAIL: creating organizations and invitations
 * needs a verified email. */
extern bool pl_orgs_require_verified_email;
extern const pl_mail_template_def_t pl_orgs_templates[];

/* Handlers. */
int pl_orgs_create(pl_req_t *req);
int pl_orgs_list(pl_req_t *req);
int pl_orgs_get(pl_req_t *req);
int pl_orgs_update(pl_req_t *req);
int pl_orgs_delete(pl_req_t *req);
int pl_orgs_admin_list(pl_req_t *req);
int pl_members_list(pl_req_t *req);
int pl_members_update(pl_req_t *req);
int pl_members_remove(pl_req_t *req);
int pl_permissions_list(pl_req_t *req);
int pl_roles_list(pl_req_t *req);
int pl_roles_create(pl_req_t *req);
int pl_roles_update(pl_req_t *req);
int pl_roles_delete(pl_req_t *req);
int pl_invitations_create(pl_req_t *req);
int pl_invitations_list(pl_req_t *req);
int pl_invitations_revoke(pl_req_t *req);
int pl_invitations_accept(pl_req_t *req);
int pl_teams_list(pl_req_t *req);
int pl_teams_create(pl_req_t *req);
int pl_teams_get(pl_req_t *req);
int pl_teams_update(pl_req_t *req);
int pl_teams_delete(pl_req_t *req);
int pl_teams_member_add(pl_req_t *req);
int pl_teams_member_remove(pl_req_t *req);

#endif
