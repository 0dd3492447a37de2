/* projects_store.h - the SQL of projects, environments, their members and
 * secrets, for the files of src/projects alone.
 *
 * Every function takes the org id right after the connection and binds it.
 * References (ref) are an id or a slug: by_id says which (slugs never look
 * like ids). Strings are copied into the arena given; lists fill a
 * pl_rows_t, asking for one row more than its limit. Errors are PL_E*
 * codes; PL_ENOTFOUND when a lookup finds nothing or a change hits no row. */
#ifndef PL_PROJECTS_STORE_H
#define PL_PROJECTS_STORE_H

#include "core/rows.h"
#include "db/db.h"
#include "projects/projects.h"

/* A project with the user's membership role (NULL: not a member). */
typedef struct {
    pl_project_t p;
    const char *member_role;
} pl_project_row_t;

/* An environment and its project, with the user's project membership role
 * and environment grant (NULL: none). */
typedef struct {
    pl_project_row_t proj;
    pl_environment_t e;
    const char *grant;
} pl_env_row_t;

/* A secret's current version or one of its versions, as stored. */
typedef struct {
    const char *key;
    int64_t version, updated_at;
    const char *updated_by, *sealed;
} pl_secret_row_t;

/* ---- projects ---- */
int pl_projects_store_insert(pl_db_t *db, const char *org_id, const pl_project_t *p,
                             const char *created_by, int64_t now);
int pl_projects_store_get(pl_db_t *db, pl_arena_t *a, const char *org_id, const char *user_id,
                          const char *ref, bool by_id, pl_project_row_t *out);
int pl_projects_store_update(pl_db_t *db, const char *org_id, const pl_project_t *p, int64_t now);
int pl_projects_store_delete(pl_db_t *db, const char *org_id, const char *project_id);
/* the organization's projects, for its plan's `projects` limit */
int pl_projects_store_count(pl_db_t *db, const char *org_id, int64_t *out);
/* Serialises changes to a project's members for the rest of the
 * transaction (PostgreSQL: the project row FOR UPDATE). */
int pl_projects_store_lock(pl_db_t *db, const char *org_id, const char *project_id);
/* Projects (pl_project_row_t) by id after `after`: every one of the org
 * (all true), or those user_id is a member of. */
int pl_projects_store_list(pl_db_t *db, pl_arena_t *a, const char *org_id, const char *user_id,
                           bool all, const char *after, pl_rows_t *out);

/* ---- project members ---- */
/* user_id's organization role and project role (NULL when not a member of
 * the project). PL_ENOTFOUND when not a member of the organization. */
int pl_project_members_store_roles(pl_db_t *db, pl_arena_t *a, const char *org_id,
                                   const char *project_id, const char *user_id,
                                   const char **org_role, const char **project_role);
int pl_project_members_store_put(pl_db_t *db, const char *org_id, const char *project_id,
                                 const char *user_id, const char *role, int64_t now);
int pl_project_members_store_remove(pl_db_t *db, const char *org_id, const char *project_id,
                                    const char *user_id);
int pl_project_members_store_get(pl_db_t *db, pl_arena_t *a, const char *org_id,
                                 const char *project_id, const char *user_id,
                                 pl_project_member_t *out);
/* Members (pl_project_member_t) by user id. */
int pl_project_members_store_list(pl_db_t *db, pl_arena_t *a, const char *org_id,
                                  const char *project_id, const char *after, pl_rows_t *out);
/* 1 when a user with this email is a member of the project, 0 when not. */
int pl_project_members_store_has_email(pl_db_t *db, const char *org_id, const char *project_id,
                                       const char *email);
int pl_project_members_store_count_owners(pl_db_t *db, const char *org_id, const char *project_id,
                                          int64_t *out);

/* ---- environments ---- */
int pl_environments_store_insert(pl_db_t *db, const char *org_id, const pl_environment_t *e,
                                 int64_t now);
/* An environment of a project with the user's roles. */
int pl_environments_store_get(pl_db_t *db, pl_arena_t *a, const char *org_id, const char *user_id,
                              const char *project_ref, bool project_by_id, const char *env_ref,
                              bool env_by_id, pl_env_row_t *out);
int pl_environments_store_update(pl_db_t *db, const char *org_id, const pl_environment_t *e,
                                 int64_t now);
int pl_environments_store_delete(pl_db_t *db, const char *org_id, const char *env_id);
/* Serialises writes to an environment's secrets (PostgreSQL: FOR UPDATE). */
int pl_environments_store_lock(pl_db_t *db, const char *org_id, const char *env_id);
/* Environments of a project (pl_env_row_t: e and grant, proj unset) by id:
 * all of them, or those user_id holds a grant on. */
int pl_environments_store_list(pl_db_t *db, pl_arena_t *a, const char *org_id,
                               const char *project_id, const char *user_id, bool all,
                               const char *after, pl_rows_t *out);

/* ---- environment members ---- */
/* user_id's project role (PL_ENOTFOUND: not a project member) and grant on
 * env_id (NULL: none). */
int pl_env_members_store_roles(pl_db_t *db, pl_arena_t *a, const char *org_id,
                               const char *project_id, const char *env_id, const char *user_id,
                               const char **project_role, const char **grant);
int pl_env_members_store_put(pl_db_t *db, const char *org_id, const char *project_id,
                             const char *env_id, const char *user_id, const char *role,
                             int64_t now);
int pl_env_members_store_remove(pl_db_t *db, const char *org_id, const char *env_id,
                                const char *user_id);
int pl_env_members_store_get(pl_db_t *db, pl_arena_t *a, const char *org_id, const char *env_id,
                             const char *user_id, pl_project_member_t *out);
int pl_env_members_store_list(pl_db_t *db, pl_arena_t *a, const char *org_id, const char *env_id,
                              const char *after, pl_rows_t *out);

/* ---- secrets ---- */
/* Current versions (pl_secret_row_t, sealed NULL) by key after `after`. */
int pl_secrets_store_list(pl_db_t *db, pl_arena_t *a, const char *org_id, const char *env_id,
                          const char *after, pl_rows_t *out);
/* The current version of key, or (version > 0) that version. */
int pl_secrets_store_get(pl_db_t *db, pl_arena_t *a, const char *org_id, const char *env_id,
                         const char *key, int64_t version, pl_secret_row_t *out);
/* Creates the secret at version 1 or moves it to its next version;
 * *version gets the new number. */
int pl_secrets_store_bump(pl_db_t *db, const char *org_id, const char *env_id, const char *key,
                          const char *by, int64_t now, int64_t *version);
int pl_secrets_store_add_version(pl_db_t *db, const char *org_id, const char *env_id,
                                 const char *key, int64_t version, const char *sealed,
                                 const char *by, int64_t now);
/* Drops the versions of key up to and including `upto`. */
int pl_secrets_store_prune(pl_db_t *db, const char *org_id, const char *env_id, const char *key,
                           int64_t upto);
int pl_secrets_store_delete(pl_db_t *db, const char *org_id, const char *env_id, const char *key);
int pl_secrets_store_count(pl_db_t *db, const char *org_id, const char *env_id, int64_t *out);
/* Every current value (pl_secret_row_t with sealed) of the environment. */
int pl_secrets_store_current(pl_db_t *db, pl_arena_t *a, const char *org_id, const char *env_id,
                             pl_rows_t *out);

/* A stored version, for `plinth keys verify`. */
typedef struct {
    const char *env_id, *key, *sealed;
    int64_t version;
} pl_secret_version_row_t;
/* Every version (pl_secret_version_row_t) of the organization's secrets. */
int pl_secrets_store_all_versions(pl_db_t *db, pl_arena_t *a, const char *org_id, pl_rows_t *out);
/* Every organization's id (const char *), by id: the scopes secrets may
 * live in (organizations is not a tenant table). */
int pl_secrets_store_orgs(pl_db_t *db, pl_arena_t *a, pl_rows_t *out);

#endif
