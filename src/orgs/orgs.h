/* orgs.h - organizations (tenants), their members, invitations, teams and
 * custom roles: the service API.
 *
 * Every function takes the calling thread's connection and the acting
 * context: the caller in ctx->principal and, for everything inside one
 * organization, that organization and the caller's role in ctx->tenant
 * (filled by pl_orgs_resolve, or by pl_apikeys_authenticate for an API key).
 * Writers run their own transaction (pl_db_begin/pl_db_finish, which joins
 * the caller's when one is open), check the rules through rbac/, write the
 * audit event and queue mail in it. A refusal is recorded on ctx (status,
 * code, detail, field errors) and returned as a negative PL_E* code; a
 * database error is returned as is, with nothing recorded.
 *
 * Memory: structs filled for the caller point into ctx->arena (or at static
 * strings) and live as long as it. Thread-safe; a context belongs to one
 * thread. */
#ifndef PL_ORGS_H
#define PL_ORGS_H

#include "core/ctx.h"
#include "core/module.h"
#include "db/db.h"
#include "rbac/rbac.h"

#define PL_ORGS_NAME_MAX 200 /* bytes, names of organizations, teams and roles */
#define PL_ORGS_SLUG_MIN 3
#define PL_ORGS_SLUG_MAX 48

/* pl_org_t, an organization, is in core/ctx.h (the session check reads one). */

typedef struct {
    const char *user_id, *email, *name, *role;
    int64_t joined_at;
} pl_member_t;

typedef struct {
    const char *id, *org_id, *email, *role;
    const char *status;     /* as shown: a pending one past expires_at is "expired" */
    const char *invited_by; /* user id; NULL when an API key or the system invited */
    int64_t expires_at, created_at;
    /* a project invitation (projects/): the project the invitee joins with
     * project_role, role being "guest" (the organization role they get when
     * not a member yet); both NULL for an organization invitation */
    const char *project_id, *project_role;
} pl_invitation_t;

typedef struct {
    const char *id, *name;
    int64_t member_count, created_at;
} pl_team_t;

/* A role of an organization: built in (id "builtin-<key>") or custom. */
typedef struct {
    const char *id, *key, *name;
    int level;
    bool builtin;
    pl_perms_t perms;
} pl_org_role_t;

/* Pages of a list: at most the limit asked for, in ctx->arena;
 * next_cursor is NULL on the last page. */
typedef struct {
    const pl_org_t *items;
    int n;
    const char *next_cursor;
} pl_org_page_t;

typedef struct {
    const pl_member_t *items;
    int n;
    const char *next_cursor;
} pl_member_page_t;

typedef struct {
    const pl_invitation_t *items;
    int n;
    const char *next_cursor;
} pl_invitation_page_t;

typedef struct {
    const pl_team_t *items;
    int n;
    const char *next_cursor;
} pl_team_page_t;

/* Every role of an organization, built-in ones first (highest first), then
 * custom ones by level (highest first) and key. */
typedef struct {
    const pl_org_role_t *items;
    int n;
} pl_role_list_t;

/* ---- rules without storage (pure, thread-safe) ---- */

/* A slug: PL_ORGS_SLUG_MIN..MAX lowercase letters, digits and single
 * hyphens, no hyphen at either end, and not shaped like an id (paths accept
 * both). */
bool pl_orgs_slug_valid(const char *slug);
/* A valid slug from name with a random suffix ("acme-corp-x7k2p9q1"): up
 * to 30 letters and digits of name, lower-cased, other runs become one
 * hyphen; fallback (2..30 of [a-z0-9]) stands in when fewer than 2 remain. */
void pl_orgs_slug_derive(const char *name, const char *fallback, char out[PL_ORGS_SLUG_MAX + 1]);
/* The same rule for input: records 422 (field "slug") on ctx and returns
 * PL_EINVAL unless slug is NULL or valid. */
int pl_orgs_check_slug(pl_ctx_t *ctx, const char *slug);
/* Records 422 (field "key") on ctx and returns PL_EINVAL unless key is a
 * valid custom role key (pl_rbac_key_valid: a built-in key is not one). */
int pl_roles_check_key(pl_ctx_t *ctx, const char *key);
/* An invitation's status as shown at now: a pending one whose expires_at
 * has passed reads "expired". Returns stored otherwise (static or stored). */
const char *pl_invitations_status(const char *stored, int64_t expires_at, int64_t now);

/* ---- the tenant ---- */

/* The authorization step of org routes: resolves org_ref (id or slug), sets
 * the transaction's tenant context, reads the membership and role of
 * ctx->principal's user and fills ctx->tenant; then checks perm_bit (-1:
 * none). An unknown org and a non-member are the same 404 not_found; a
 * member without the permission 403 forbidden. Runs in the caller's
 * transaction (the request's scope). */
int pl_orgs_resolve(pl_db_t *db, pl_ctx_t *ctx, const char *org_ref, int perm_bit);

/* Asks early for what pl_orgs_resolve of org_ref reads for user_id
 * (pl_stmt_prefetch): called before the session check, it travels with it,
 * and on PostgreSQL an org route's authentication and authorization cost
 * one round trip. */
void pl_orgs_prefetch(pl_db_t *db, const char *org_ref, const char *user_id);

/* An organization by id or slug, without any access check and with role
 * NULL; strings in a. PL_ENOTFOUND (nothing recorded) when there is none.
 * For callers that find the org another way: an API key's, a flag override's. */
int pl_orgs_lookup(pl_db_t *db, pl_arena_t *a, const char *org_ref, pl_org_t *out);
/* Asks early for what pl_orgs_lookup of org_ref reads (pl_stmt_prefetch). */
void pl_orgs_lookup_prefetch(pl_db_t *db, const char *org_ref);

/* Makes o the transaction's tenant (row-level security) and ctx->tenant's
 * organization; the caller sets the role, level and permissions, then
 * ctx->tenant.resolved. */
int pl_orgs_enter(pl_db_t *db, pl_ctx_t *ctx, const pl_org_t *o);

/* For the instance admin's read routes (/v1/admin/orgs/{org}/...): makes
 * org_ref (id or slug) the acting organization without membership, with no
 * role but an owner's permissions and level, so the organization's read
 * services answer for it as for its owner (only read routes use it). 403 forbidden
 * unless ctx->principal is an instance admin, 404 not_found when there is no
 * such organization. Runs in the caller's transaction (the request's). */
int pl_orgs_admin_enter(pl_db_t *db, pl_ctx_t *ctx, const char *org_ref);

/* Serialises, until the caller's transaction ends, every change that depends
 * on a count of the organization's members (and the counted plan limits of
 * billing): the org row FOR UPDATE on PostgreSQL; SQLite's write transaction
 * already holds the database's write lock. PL_ENOTFOUND for an unknown org. */
int pl_orgs_lock(pl_db_t *db, const char *org_id);

/* The seats org_id uses at now (the plan limit "members"): its members plus
 * its pending invitations that have not expired. In the caller's
 * transaction, after pl_orgs_lock when the count guards an insert. */
int pl_orgs_count_seats(pl_db_t *db, const char *org_id, int64_t now, int64_t *out);

/* The acting organization as an Org, with the caller's role. */
pl_org_t pl_orgs_current(const pl_ctx_t *ctx);

/* The caller as an rbac actor, from ctx->tenant. */
pl_actor_t pl_orgs_actor(const pl_ctx_t *ctx);

/* The role called key in org_id (built in, or custom) in out; strings in
 * ctx->arena. PL_ENOTFOUND (nothing recorded) for an unknown key. */
int pl_orgs_role(pl_db_t *db, pl_ctx_t *ctx, const char *org_id, const char *key, pl_role_t *out);

/* ---- organizations ---- */

/* Creates an organization with the caller (a user) as its owner; slug NULL
 * derives one from name. 403 email_not_verified (when the instance requires
 * it), 422 for an invalid slug, 409 slug_taken. */
int pl_orgs_create(pl_db_t *db, pl_ctx_t *ctx, const char *name, const char *slug, pl_org_t *out);

/* Creates user_id's personal organization, named name, with a derived slug
 * and user_id as owner, and audits org.created; in a transaction that joins
 * the caller's (registration). PL_EBUSY when the derived slug collided (the
 * caller retries). */
int pl_orgs_create_personal(pl_db_t *db, pl_ctx_t *ctx, const char *user_id, const char *name,
                            pl_org_t *out);

/* The caller's organizations with their role, ordered by id, after cursor
 * (an org id; NULL: from the start). */
int pl_orgs_list_mine(pl_db_t *db, pl_ctx_t *ctx, const char *cursor, int limit,
                      pl_org_page_t *out);
/* Every organization, role NULL. No access check: for instance admins
 * (the route requires one) and the system. */
int pl_orgs_list_all(pl_db_t *db, pl_ctx_t *ctx, const char *cursor, int limit, pl_org_page_t *out);

/* Renames the acting organization and/or changes its slug (NULL: keep);
 * out and ctx->tenant get the result. 422 for an invalid slug, 409
 * slug_taken. */
int pl_orgs_update(pl_db_t *db, pl_ctx_t *ctx, const char *name, const char *slug,
                   const bool *require_mfa, pl_org_t *out);

/* Deletes the acting organization with its members, invitations, teams and
 * roles; its audit chain stays. 409 personal_org. */
int pl_orgs_delete(pl_db_t *db, pl_ctx_t *ctx);

/* ---- members ---- */

/* The acting organization's members ordered by user id, after cursor. */
int pl_members_list(pl_db_t *db, pl_ctx_t *ctx, const char *cursor, int limit,
                    pl_member_page_t *out);

/* Gives user_id the role role_key: the caller must outrank the member and
 * be allowed to assign the role (rbac), and the last owner stays owner. 404
 * not_found, 422 (field "role") for an unknown role, 403 forbidden, 409
 * last_owner. out gets the member as changed. */
int pl_members_set_role(pl_db_t *db, pl_ctx_t *ctx, const char *user_id, const char *role_key,
                        pl_member_t *out);

/* Removes user_id from the acting organization. Members leave by
 * themselves freely; removing someone else needs member.remove and a
 * higher role. 404, 403 forbidden, 409 last_owner. */
int pl_members_remove(pl_db_t *db, pl_ctx_t *ctx, const char *user_id);
/* Adds user_id to org_id with role_key (unknown: member) without an
 * invitation (single sign-on, a verified email domain; via says which, for
 * the audit event member.joined), unless a member already. Joins the
 * caller's transaction, which must have set the org's context. PL_ELIMIT
 * (nothing recorded or written; the caller's transaction still good) when
 * the plan has no seat left. */
int pl_orgs_join_as(pl_db_t *db, pl_ctx_t *ctx, const char *org_id, const char *user_id,
                    const char *role_key, const char *via);

/* ---- invitations ---- */

/* Invites email (normalised: trimmed, lower-case) with role_key and queues
 * the invitation email in the same transaction; the token goes only into
 * the email. 403 email_not_verified (when required), 422 (field "role")
 * for an unknown role, 403 forbidden for a role the caller may not assign,
 * 409 already_member, 402 plan_limit_reached when the plan's members (which
 * count pending invitations) are all taken, 409 invitation_pending. */
int pl_invitations_create(pl_db_t *db, pl_ctx_t *ctx, const char *email, const char *role_key,
                          pl_invitation_t *out);

/* A project invitation (for projects/, which checks who may invite into
 * the project and that the invitee is not in it yet): invites email into
 * project_id with project_role; on acceptance the invitee joins the
 * organization as "guest" unless already a member, and the project through
 * pl_projects_join. The email names project_name. Same errors as
 * pl_invitations_create, except that an existing member of the organization
 * may be invited (409 invitation_pending still applies per project). */
int pl_invitations_create_for_project(pl_db_t *db, pl_ctx_t *ctx, const char *email,
                                      const char *project_id, const char *project_name,
                                      const char *project_role, pl_invitation_t *out);

/* The acting organization's invitations, newest first, before cursor. */
int pl_invitations_list(pl_db_t *db, pl_ctx_t *ctx, const char *cursor, int limit,
                        pl_invitation_page_t *out);

/* Revokes a pending invitation. 404 not_found, 409 conflict when it is no
 * longer pending. */
int pl_invitations_revoke(pl_db_t *db, pl_ctx_t *ctx, const char *id);

/* The signed-in caller accepts the invitation behind token: it must be
 * pending and addressed to the caller's email; the caller joins with its
 * role (a project invitation: as guest unless already a member, and joins
 * the project), and their email counts as verified from then on. out gets
 * the organization with the caller's role. 422 invalid_token (field
 * "token"), 403 forbidden (another email), 409 already_member (an
 * organization invitation to a member). */
int pl_invitations_accept(pl_db_t *db, pl_ctx_t *ctx, const char *token, pl_org_t *out);

/* Registration with an invitation token: the invitation must be pending and
 * addressed to email (normalised); user_id joins its organization with its
 * role, audited as invitation.accepted. Inside the caller's write
 * transaction; records nothing on ctx: PL_ENOTFOUND when the token is not
 * valid for that email (the caller answers 422 invalid_token). */
int pl_orgs_join_by_invitation(pl_db_t *db, pl_ctx_t *ctx, const char *user_id, const char *email,
                               const char *token);

/* ---- teams ---- */

/* The acting organization's teams with their member counts, ordered by id,
 * after cursor. */
int pl_teams_list(pl_db_t *db, pl_ctx_t *ctx, const char *cursor, int limit, pl_team_page_t *out);
/* One team; 404 not_found ("No such team.") for an unknown id, here and in
 * every function below that takes a team_id. */
int pl_teams_get(pl_db_t *db, pl_ctx_t *ctx, const char *team_id, pl_team_t *out);
/* Creates, renames or deletes a team (its memberships go with it), audited
 * as team.created, team.updated, team.deleted. */
int pl_teams_create(pl_db_t *db, pl_ctx_t *ctx, const char *name, pl_team_t *out);
int pl_teams_rename(pl_db_t *db, pl_ctx_t *ctx, const char *team_id, const char *name,
                    pl_team_t *out);
int pl_teams_delete(pl_db_t *db, pl_ctx_t *ctx, const char *team_id);
/* Adds or removes a member of the organization to or from a team (adding
 * twice is fine). 422 (field "user") when user_id is not a member of the
 * organization; removing someone not in the team is 404. */
int pl_teams_member_add(pl_db_t *db, pl_ctx_t *ctx, const char *team_id, const char *user_id);
int pl_teams_member_remove(pl_db_t *db, pl_ctx_t *ctx, const char *team_id, const char *user_id);

/* ---- roles ---- */

/* The roles of the acting organization, built-in and custom. */
int pl_roles_list(pl_db_t *db, pl_ctx_t *ctx, pl_role_list_t *out);

/* Creates a custom role. The key must be valid and not built in, the
 * permissions a subset of the caller's and the level below theirs (rbac):
 * 409 builtin_role (checked before anything else, so the other arguments
 * may be NULL or empty then), 422 (field "key"), 403 forbidden, 409
 * conflict when the key exists. */
int pl_roles_create(pl_db_t *db, pl_ctx_t *ctx, const char *key, const char *name, int level,
                    const pl_perms_t *perms, pl_org_role_t *out);

/* The custom role key as the caller may change or delete it (read only,
 * the checks pl_roles_update and pl_roles_delete start with): 409
 * builtin_role, 404 not_found, 403 forbidden when it holds more than the
 * caller may define. */
int pl_roles_get_editable(pl_db_t *db, pl_ctx_t *ctx, const char *key, pl_org_role_t *out);

/* Changes a custom role: name, level and permissions each unchanged when
 * NULL. The caller must be allowed to define the role both as it is and as
 * it becomes. 409 builtin_role, 404 not_found, 403 forbidden. */
int pl_roles_update(pl_db_t *db, pl_ctx_t *ctx, const char *key, const char *name, const int *level,
                    const pl_perms_t *perms, pl_org_role_t *out);

/* Deletes a custom role nobody holds. 409 builtin_role, 404, 403, 409
 * role_in_use (members or pending invitations hold it). */
int pl_roles_delete(pl_db_t *db, pl_ctx_t *ctx, const char *key);

/* ---- configuration ---- */

/* PLINTH_REQUIRE_VERIFIED_EMAIL: creating organizations and invitations
 * needs a verified email. Read-only after start. */
extern bool pl_orgs_require_verified_email;
/* --invite-limit: invitation emails per organization per hour (0: none). */
extern int pl_orgs_invite_limit;
/* --invite-recipient-limit: invitation emails to one address per
 * organization per hour (0: none). */
extern int pl_orgs_invite_recipient_limit;
extern const pl_mail_template_def_t pl_orgs_templates[];

#endif
