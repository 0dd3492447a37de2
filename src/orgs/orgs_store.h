/* orgs_store.h - the SQL of organizations, memberships, custom roles,
 * invitations and teams, for the files of src/orgs alone.
 *
 * Every function on tenant data takes the org id right after the
 * connection and binds it. Strings are copied into the arena given; lists
 * fill a pl_rows_t of the public structs (orgs.h), asking for one row more
 * than its limit. Errors are PL_E* codes from db.h; PL_ENOTFOUND when a
 * lookup finds nothing or a change hits no row. */
#ifndef PL_ORGS_STORE_H
#define PL_ORGS_STORE_H

#include "core/rows.h"
#include "db/db.h"
#include "orgs/orgs.h"

/* A custom role as stored. */
typedef struct {
    const char *id, *key, *name;
    int level;
    const char *permissions; /* space-separated keys */
} pl_role_row_t;

/* An invitation as stored (status not adjusted for expiry). */
typedef pl_invitation_t pl_invitation_row_t;

/* ---- organizations (the tenant itself: no org_id column) ---- */
int pl_orgs_store_insert(pl_db_t *db, const char *id, const char *name, const char *slug,
                         bool personal, int64_t now);
int pl_orgs_store_get(pl_db_t *db, pl_arena_t *a, const char *id_or_slug, bool by_id,
                      pl_org_t *out);
/* The org (id or slug) and user_id's role in it (NULL when not a member),
 * in one statement. PL_ENOTFOUND when there is no such org. */
/* Ask early for pl_orgs_store_get's and pl_orgs_store_get_with_role's
 * answers (pl_stmt_prefetch). */
void pl_orgs_store_prefetch(pl_db_t *db, const char *id_or_slug, bool by_id);
void pl_orgs_store_prefetch_with_role(pl_db_t *db, const char *id_or_slug, bool by_id,
                                      const char *user_id);
int pl_orgs_store_get_with_role(pl_db_t *db, pl_arena_t *a, const char *id_or_slug, bool by_id,
                                const char *user_id, pl_org_t *out, const char **role);
int pl_orgs_store_update(pl_db_t *db, const char *org_id, const char *name, const char *slug,
                         int64_t now);
int pl_orgs_store_delete(pl_db_t *db, const char *org_id);
/* Serialises changes to an org's members and roles for the rest of the
 * transaction (PostgreSQL: the org row FOR UPDATE; SQLite's BEGIN IMMEDIATE
 * already holds the database's write lock). */
int pl_orgs_store_lock(pl_db_t *db, const char *org_id);
/* The user's organizations (pl_org_t, with the user's role), by id. */
int pl_orgs_store_list_for_user(pl_db_t *db, pl_arena_t *a, const char *user_id, const char *after,
                                pl_rows_t *out);
/* Every organization (pl_org_t, role NULL), by id. */
int pl_orgs_store_list_all(pl_db_t *db, pl_arena_t *a, const char *after, pl_rows_t *out);

/* Members must (or need not) have two-factor on. */
int pl_orgs_store_set_require_mfa(pl_db_t *db, const char *org_id, bool on);

/* ---- memberships ---- */
int pl_members_store_insert(pl_db_t *db, const char *org_id, const char *user_id, const char *role,
                            int64_t now);
int pl_members_store_role(pl_db_t *db, pl_arena_t *a, const char *org_id, const char *user_id,
                          const char **role);
int pl_members_store_get(pl_db_t *db, pl_arena_t *a, const char *org_id, const char *user_id,
                         pl_member_t *out);
/* Members (pl_member_t) by user id. */
int pl_members_store_list(pl_db_t *db, pl_arena_t *a, const char *org_id, const char *after,
                          pl_rows_t *out);
int pl_members_store_set_role(pl_db_t *db, const char *org_id, const char *user_id,
                              const char *role);
int pl_members_store_remove(pl_db_t *db, const char *org_id, const char *user_id);
/* Members plus pending invitations not expired at now. */
int pl_members_store_count_seats(pl_db_t *db, const char *org_id, int64_t now, int64_t *out);
int pl_members_store_count_role(pl_db_t *db, const char *org_id, const char *role, int64_t *out);
/* 1 when a user with this email is a member, 0 when not, or an error. */
int pl_members_store_has_email(pl_db_t *db, const char *org_id, const char *email);

/* ---- custom roles ---- */
int pl_roles_store_get(pl_db_t *db, pl_arena_t *a, const char *org_id, const char *key,
                       pl_role_row_t *out);
/* Every custom role (pl_role_row_t), by level (highest first) and key. */
int pl_roles_store_list(pl_db_t *db, pl_arena_t *a, const char *org_id, pl_rows_t *out);
int pl_roles_store_insert(pl_db_t *db, const char *org_id, const pl_role_row_t *r, int64_t now);
int pl_roles_store_update(pl_db_t *db, const char *org_id, const pl_role_row_t *r, int64_t now);
int pl_roles_store_delete(pl_db_t *db, const char *org_id, const char *key);
/* Members plus pending invitations holding the role. */
int pl_roles_store_usage(pl_db_t *db, const char *org_id, const char *key, int64_t *out);

/* ---- invitations ---- */
int pl_invitations_store_insert(pl_db_t *db, const char *org_id, const pl_invitation_row_t *inv,
                                const char *token_hash, int64_t now);
/* Marks pending invitations for email that expired before now as expired. */
int pl_invitations_store_expire(pl_db_t *db, const char *org_id, const char *email, int64_t now);
/* Invitations of org_id created after since (to email only, unless NULL):
 * their number into *n and the oldest one's created_at into *oldest. */
int pl_invitations_store_recent(pl_db_t *db, const char *org_id, const char *email, int64_t since,
                                int64_t *n, int64_t *oldest);
int pl_invitations_store_get(pl_db_t *db, pl_arena_t *a, const char *org_id, const char *id,
                             pl_invitation_row_t *out);
/* Invitations (pl_invitation_row_t), newest first, before cursor. */
int pl_invitations_store_list(pl_db_t *db, pl_arena_t *a, const char *org_id, const char *before,
                              pl_rows_t *out);
/* Changes the status from `from` to `to`; PL_ENOTFOUND when it was not
 * `from` (so of concurrent changes exactly one succeeds). */
int pl_invitations_store_set_status(pl_db_t *db, const char *org_id, const char *id,
                                    const char *from, const char *to, int64_t now);
/* By token hash, across organizations (the caller sets app.invitation_token). */
int pl_invitations_store_by_token(pl_db_t *db, pl_arena_t *a, const char *token_hash,
                                  pl_invitation_row_t *out);

/* ---- teams ---- */
int pl_teams_store_insert(pl_db_t *db, const char *org_id, const char *id, const char *name,
                          int64_t now);
int pl_teams_store_get(pl_db_t *db, pl_arena_t *a, const char *org_id, const char *id,
                       pl_team_t *out);
/* Teams (pl_team_t) by id. */
int pl_teams_store_list(pl_db_t *db, pl_arena_t *a, const char *org_id, const char *after,
                        pl_rows_t *out);
int pl_teams_store_rename(pl_db_t *db, const char *org_id, const char *id, const char *name,
                          int64_t now);
int pl_teams_store_delete(pl_db_t *db, const char *org_id, const char *id);
int pl_teams_store_add_member(pl_db_t *db, const char *org_id, const char *team_id,
                              const char *user_id, int64_t now);
int pl_teams_store_remove_member(pl_db_t *db, const char *org_id, const char *team_id,
                                 const char *user_id);

#endif
