/* orgs_store.h - SQL for organizations, memberships, custom roles,
 * invitations and teams. Every function on tenant data takes the org id as
 * its first argument after the connection and binds it. Strings returned are
 * copied into the arena. */
#ifndef PL_ORGS_STORE_H
#define PL_ORGS_STORE_H

#include "db/db.h"

typedef struct {
    const char *id, *name, *slug;
    bool personal;
    int64_t created_at;
    int64_t members_version;
} pl_org_t;

typedef struct {
    const char *user_id, *email, *name, *role;
    int64_t joined_at;
} pl_member_t;

typedef struct {
    const char *id, *key, *name;
    int level;
    const char *permissions; /* space-separated keys */
} pl_custom_role_t;

typedef struct {
    const char *id, *org_id, *email, *role, *status, *invited_by;
    int64_t expires_at, created_at;
} pl_invitation_t;

typedef struct {
    const char *id, *name;
    int64_t member_count, created_at;
} pl_team_t;

/* organizations (the tenant itself: no org_id column) */
int pl_orgs_store_get(pl_db_t *db, pl_arena_t *a, const char *id_or_slug, bool by_id,
                      pl_org_t *out);
int pl_orgs_store_update(pl_db_t *db, const char *org_id, const char *name, const char *slug,
                         int64_t now);
int pl_orgs_store_delete(pl_db_t *db, const char *org_id);
/* Serialises changes to an org's members and roles for the rest of the
 * transaction (PostgreSQL: the org row FOR UPDATE; SQLite's BEGIN IMMEDIATE
 * already holds the database's write lock). */
int pl_orgs_store_lock(pl_db_t *db, const char *org_id);
/* The user's organizations with their role, after cursor (an org id). */
int pl_orgs_store_list_for_user(pl_db_t *db, pl_arena_t *a, const char *user_id, const char *after,
                                int limit,
                                void (*fn)(void *ctx, const pl_org_t *o, const char *role),
                                void *ctx);
int pl_orgs_store_list_all(pl_db_t *db, pl_arena_t *a, const char *after, int limit,
                           void (*fn)(void *ctx, const pl_org_t *o, const char *role), void *ctx);

/* memberships */
int pl_members_store_role(pl_db_t *db, pl_arena_t *a, const char *org_id, const char *user_id,
                          const char **role);
int pl_members_store_get(pl_db_t *db, pl_arena_t *a, const char *org_id, const char *user_id,
                         pl_member_t *out);
/* With a NULL arena the member's strings are valid only during fn. */
int pl_members_store_list(pl_db_t *db, pl_arena_t *a, const char *org_id, const char *after,
                          int limit, void (*fn)(void *ctx, const pl_member_t *m), void *ctx);
int pl_members_store_set_role(pl_db_t *db, const char *org_id, const char *user_id,
                              const char *role);
int pl_members_store_remove(pl_db_t *db, const char *org_id, const char *user_id);
int pl_members_store_count_role(pl_db_t *db, const char *org_id, const char *role, int64_t *out);
/* True (1) when a user with this email is a member; 0 when not. */
int pl_members_store_has_email(pl_db_t *db, const char *org_id, const char *email);

/* custom roles */
int pl_roles_store_get(pl_db_t *db, pl_arena_t *a, const char *org_id, const char *key,
                       pl_custom_role_t *out);
int pl_roles_store_list(pl_db_t *db, pl_arena_t *a, const char *org_id,
                        void (*fn)(void *ctx, const pl_custom_role_t *r), void *ctx);
int pl_roles_store_insert(pl_db_t *db, const char *org_id, const pl_custom_role_t *r, int64_t now);
int pl_roles_store_update(pl_db_t *db, const char *org_id, const pl_custom_role_t *r, int64_t now);
int pl_roles_store_delete(pl_db_t *db, const char *org_id, const char *key);
/* Members plus pending invitations holding the role. */
int pl_roles_store_usage(pl_db_t *db, const char *org_id, const char *key, int64_t *out);

/* invitations */
int pl_invitations_store_insert(pl_db_t *db, const char *org_id, const pl_invitation_t *inv,
                                const char *token_hash, int64_t now);
/* Marks pending invitations for email that expired before now as expired. */
int pl_invitations_store_expire(pl_db_t *db, const char *org_id, const char *email, int64_t now);
int pl_invitations_store_get(pl_db_t *db, pl_arena_t *a, const char *org_id, const char *id,
                             pl_invitation_t *out);
int pl_invitations_store_list(pl_db_t *db, pl_arena_t *a, const char *org_id, const char *after,
                              int limit, void (*fn)(void *ctx, const pl_invitation_t *i),
                              void *ctx);
int pl_invitations_store_set_status(pl_db_t *db, const char *org_id, const char *id,
                                    const char *from, const char *to, int64_t now);
/* By token hash, across organizations (the caller sets app.invitation_token). */
int pl_invitations_store_by_token(pl_db_t *db, pl_arena_t *a, const char *token_hash,
                                  pl_invitation_t *out);

/* teams */
int pl_teams_store_insert(pl_db_t *db, const char *org_id, const char *id, const char *name,
                          int64_t now);
int pl_teams_store_get(pl_db_t *db, pl_arena_t *a, const char *org_id, const char *id,
                       pl_team_t *out);
int pl_teams_store_list(pl_db_t *db, pl_arena_t *a, const char *org_id, const char *after,
                        int limit, void (*fn)(void *ctx, const pl_team_t *t), void *ctx);
int pl_teams_store_rename(pl_db_t *db, const char *org_id, const char *id, const char *name,
                          int64_t now);
int pl_teams_store_delete(pl_db_t *db, const char *org_id, const char *id);
int pl_teams_store_add_member(pl_db_t *db, const char *org_id, const char *team_id,
                              const char *user_id, int64_t now);
int pl_teams_store_remove_member(pl_db_t *db, const char *org_id, const char *team_id,
                                 const char *user_id);

#endif
