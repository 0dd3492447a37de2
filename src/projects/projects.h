/* projects.h - projects, their environments and encrypted secrets: the
 * service API.
 *
 * An organization's work is organised as projects, each with environments
 * (development, staging, production by default), each environment with
 * secrets (key/value pairs sealed at rest under the organization's data
 * key, platform/keys). Access is granted at two levels, on top of the
 * organization membership (which a project-local user holds as `guest`):
 *
 *   project roles      owner | member              (project_members)
 *   environment roles  administrator | manager | viewer   (environment_members)
 *
 * The rules, in one place (pl_projects_effective_role, pl_env_effective_role
 * below, and nowhere else):
 *   - a holder of `project.admin` acts as owner of every project of the org;
 *     otherwise the project role is the caller's membership of the project,
 *     and a caller without one cannot see the project (404);
 *   - the environment role is `administrator` for project owners (and so for
 *     `project.admin` holders); otherwise the caller's explicit grant; a
 *     project member without a grant cannot see the environment (404);
 *   - viewer reads the environment and the names of its secrets; manager
 *     also reads, writes, imports and exports values; administrator also
 *     renames and deletes the environment and manages its members;
 *   - project members read the project and its member list; project owners
 *     change and delete it, manage its members and create environments.
 * A caller who sees a project or environment but lacks the role an action
 * needs gets 403 forbidden.
 *
 * Every function takes the calling thread's connection and the acting
 * context; the organization is ctx->tenant (resolved by dispatch). `{project}`
 * and `{env}` references are ids or slugs. Writers run their own transaction
 * (joining the caller's), write the audit event in it (with the project and
 * environment ids in data, never a secret value), and record refusals on ctx
 * as orgs.h describes. Reading a secret value or exporting writes an audit
 * event too: call those outside a read-only transaction.
 *
 * Memory: results point into ctx->arena. Thread-safe. */
#ifndef PL_PROJECTS_H
#define PL_PROJECTS_H

#include "core/ctx.h"
#include "core/module.h"
#include "core/perms.h"
#include "db/db.h"
#include "orgs/orgs.h"

#define PL_PROJECTS_NAME_MAX        200  /* bytes, names of projects and environments */
#define PL_PROJECTS_DESCRIPTION_MAX 2000 /* bytes */
#define PL_PROJECTS_ENVS_MAX        20   /* environments named at creation */
#define PL_SECRETS_KEY_MAX          128
#define PL_SECRETS_VALUE_MAX        (64 * 1024) /* bytes of UTF-8 */
#define PL_SECRETS_PER_ENV          1000
#define PL_SECRETS_VERSIONS_KEPT    10

typedef enum {
    PL_PROJECT_NONE = 0,
    PL_PROJECT_MEMBER = 1,
    PL_PROJECT_OWNER = 2,
} pl_project_role_t;

typedef enum {
    PL_ENV_NONE = 0,
    PL_ENV_VIEWER = 1,
    PL_ENV_MANAGER = 2,
    PL_ENV_ADMINISTRATOR = 3,
} pl_env_role_t;

typedef struct {
    const char *id, *name, *slug, *description;
    int64_t created_at;
    pl_project_role_t role; /* the caller's effective role */
} pl_project_t;

typedef struct {
    const char *id, *project_id, *name, *slug;
    int64_t created_at;
    pl_env_role_t role; /* the caller's effective role */
} pl_environment_t;

/* A member of a project or an environment: role is "owner"/"member", or
 * "administrator"/"manager"/"viewer". */
typedef struct {
    const char *user_id, *email, *name, *role;
    int64_t joined_at;
} pl_project_member_t;

/* A secret: value is set (NUL-terminated, value_len bytes) only where a
 * value was read. updated_by is the user or API key id that wrote the
 * version (NULL: the system). */
typedef struct {
    const char *key;
    int64_t version, updated_at;
    const char *updated_by;
    const char *value;
    size_t value_len;
} pl_secret_t;

/* A key and value to import. */
typedef struct {
    const char *key;
    const char *value;
    size_t value_len;
} pl_secret_kv_t;

typedef struct {
    const pl_project_t *items;
    int n;
    const char *next_cursor;
} pl_project_page_t;

typedef struct {
    const pl_environment_t *items;
    int n;
    const char *next_cursor;
} pl_environment_page_t;

typedef struct {
    const pl_project_member_t *items;
    int n;
    const char *next_cursor;
} pl_project_member_page_t;

typedef struct {
    const pl_secret_t *items;
    int n;
    const char *next_cursor;
} pl_secret_page_t;

/* ---- the rules (pure, thread-safe) ---- */

/* The caller's project role from their organization permissions and their
 * membership role of the project ("owner", "member", or NULL: none). */
pl_project_role_t pl_projects_effective_role(const pl_perms_t *org_perms, const char *member_role);
/* The caller's environment role from their project role and their explicit
 * grant ("administrator", "manager", "viewer", or NULL). */
pl_env_role_t pl_env_effective_role(pl_project_role_t project_role, const char *grant);
/* Names and parsing of roles: NULL / PL_*_NONE for unknown text. */
const char *pl_project_role_name(pl_project_role_t r);
pl_project_role_t pl_project_role_parse(const char *s);
const char *pl_env_role_name(pl_env_role_t r);
pl_env_role_t pl_env_role_parse(const char *s);
/* A secret key: ^[A-Za-z_][A-Za-z0-9_]{0,127}$. */
bool pl_secrets_key_valid(const char *key);
/* A value: valid UTF-8 without NUL, at most PL_SECRETS_VALUE_MAX bytes. */
bool pl_secrets_value_valid(const char *value, size_t len);

/* ---- access, for other modules (realtime, collections) ---- */

/* May the caller (ctx: user or API key, in ctx->tenant's organization) see
 * project_id, and with env_id (NULL: the project alone) that environment?
 * PL_OK when they may, PL_ENOTFOUND when not (or it does not exist; nothing
 * recorded on ctx), or a database error. Runs in the caller's transaction,
 * which has the org's tenant context set. */
int pl_projects_can_access(pl_db_t *db, pl_ctx_t *ctx, const char *project_id, const char *env_id);

/* ---- projects ---- */

/* The projects the caller can access (all of them with project.admin), by
 * id, after cursor (a project id). */
int pl_projects_list(pl_db_t *db, pl_ctx_t *ctx, const char *cursor, int limit,
                     pl_project_page_t *out);

/* What creating a project takes: slug NULL derives one from name;
 * description NULL is empty; env_names (n_envs entries) are the
 * environments to create, or NULL for development, staging, production. */
typedef struct {
    const char *name, *slug, *description;
    const char *const *env_names;
    int n_envs;
} pl_project_input_t;

/* Creates a project with the caller as its owner and its environments
 * (project.created, environment.created). A caller acting with an API key
 * needs project.admin as well (a key cannot be a project member). 422 (slug,
 * environments), 409 slug_taken, 403 forbidden. */
int pl_projects_create(pl_db_t *db, pl_ctx_t *ctx, const pl_project_input_t *in, pl_project_t *out);
/* A project the caller can access; 404 not_found otherwise. */
int pl_projects_get(pl_db_t *db, pl_ctx_t *ctx, const char *ref, pl_project_t *out);
/* Changes name, slug and/or description (NULL: keep); owners only. 403,
 * 404, 422, 409 slug_taken. */
int pl_projects_update(pl_db_t *db, pl_ctx_t *ctx, const char *ref, const char *name,
                       const char *slug, const char *description, pl_project_t *out);
/* Deletes a project with its environments, secrets, members and pending
 * invitations; owners only. */
int pl_projects_delete(pl_db_t *db, pl_ctx_t *ctx, const char *ref);

/* ---- project members ---- */

int pl_projects_members_list(pl_db_t *db, pl_ctx_t *ctx, const char *ref, const char *cursor,
                             int limit, pl_project_member_page_t *out);
/* Adds user_id (who must be a member of the organization: 422 field "user"
 * otherwise) with role_key ("owner"|"member": 422 field "role"), or changes
 * their role; project owners only. 409 last_owner when the last owner would
 * stop being one. */
int pl_projects_member_put(pl_db_t *db, pl_ctx_t *ctx, const char *ref, const char *user_id,
                           const char *role_key, pl_project_member_t *out);
/* Removes user_id (and their environment grants); project owners, or the
 * member themself. 404 when not a member, 409 last_owner. */
int pl_projects_member_remove(pl_db_t *db, pl_ctx_t *ctx, const char *ref, const char *user_id);

/* Invites email into the project with role_key ("owner"|"member"):
 * project owners holding member.invite. The invitation is an organization
 * invitation (orgs.h) carrying the project: accepting it makes the user a
 * guest of the organization when not yet a member, and a member of the
 * project. 409 already_member (already in the project), invitation_pending. */
int pl_projects_invite(pl_db_t *db, pl_ctx_t *ctx, const char *ref, const char *email,
                       const char *role_key, pl_invitation_t *out);

/* Makes user_id (a member of org_id, now) a member of project_id with
 * role_key, audited as project.member_added; an existing member keeps the
 * higher of both roles. For accepting a project invitation (orgs), inside
 * the caller's write transaction with org_id's tenant context. Records
 * nothing on ctx: PL_ENOTFOUND when the project is gone. */
int pl_projects_join(pl_db_t *db, pl_ctx_t *ctx, const char *org_id, const char *project_id,
                     const char *user_id, const char *role_key);
/* Whether user_id is a member of project_id (1), not (0), or an error. */
int pl_projects_is_member(pl_db_t *db, const char *org_id, const char *project_id,
                          const char *user_id);

/* ---- environments ---- */

/* The environments of a project the caller can see, oldest first. */
int pl_environments_list(pl_db_t *db, pl_ctx_t *ctx, const char *project_ref, const char *cursor,
                         int limit, pl_environment_page_t *out);
/* Creates an environment (project owners); slug NULL derives one. 409
 * slug_taken. */
int pl_environments_create(pl_db_t *db, pl_ctx_t *ctx, const char *project_ref, const char *name,
                           const char *slug, pl_environment_t *out);
int pl_environments_get(pl_db_t *db, pl_ctx_t *ctx, const char *project_ref, const char *env_ref,
                        pl_environment_t *out);
/* Renames (administrators). */
int pl_environments_update(pl_db_t *db, pl_ctx_t *ctx, const char *project_ref, const char *env_ref,
                           const char *name, const char *slug, pl_environment_t *out);
/* Deletes it with its secrets and grants (administrators). */
int pl_environments_delete(pl_db_t *db, pl_ctx_t *ctx, const char *project_ref,
                           const char *env_ref);
/* The explicit grants of an environment (viewers and up). */
int pl_environments_members_list(pl_db_t *db, pl_ctx_t *ctx, const char *project_ref,
                                 const char *env_ref, const char *cursor, int limit,
                                 pl_project_member_page_t *out);
/* Grants user_id (a project member: 422 field "user" otherwise) role_key
 * (422 field "role"), or changes it (administrators). */
int pl_environments_member_put(pl_db_t *db, pl_ctx_t *ctx, const char *project_ref,
                               const char *env_ref, const char *user_id, const char *role_key,
                               pl_project_member_t *out);
int pl_environments_member_remove(pl_db_t *db, pl_ctx_t *ctx, const char *project_ref,
                                  const char *env_ref, const char *user_id);

/* ---- secrets ---- */

/* Names, versions and writers of an environment's secrets by key, after
 * cursor (a key); viewers and up. Never values. */
int pl_secrets_list(pl_db_t *db, pl_ctx_t *ctx, const char *project_ref, const char *env_ref,
                    const char *cursor, int limit, pl_secret_page_t *out);
/* The value of key (version 0: the current one; else one of the last 10),
 * audited as secret.read; managers and up. 404 for an unknown key or a
 * version no longer kept; 500 (logged) when the value does not open. */
int pl_secrets_read(pl_db_t *db, pl_ctx_t *ctx, const char *project_ref, const char *env_ref,
                    const char *key, int64_t version, pl_secret_t *out);
/* Sets key to value (a new version; the oldest beyond 10 are dropped);
 * managers and up. if_match: NULL for none, else the version the caller
 * last saw (0 for "*": the secret must exist): 412 precondition_failed when
 * it is not the current one. 422 for an invalid key or value, or the
 * environment's limit of secrets. out gets the new version (no value). */
int pl_secrets_put(pl_db_t *db, pl_ctx_t *ctx, const char *project_ref, const char *env_ref,
                   const char *key, const char *value, size_t value_len, const int64_t *if_match,
                   pl_secret_t *out);
/* Deletes key with all its versions; if_match as for pl_secrets_put. */
int pl_secrets_delete(pl_db_t *db, pl_ctx_t *ctx, const char *project_ref, const char *env_ref,
                      const char *key, const int64_t *if_match);

typedef enum { PL_SECRETS_DOTENV = 1, PL_SECRETS_JSON = 2 } pl_secrets_format_t;
/* Every current value of the environment, by key, written into out as
 * dotenv lines (KEY="value", escaping \\ \" and newline) or as the JSON
 * object {"secrets":{"KEY":"value",...}}; audited as secret.exported
 * (count, format); managers and up. out must be initialised; the caller
 * wipes and frees it. */
int pl_secrets_export(pl_db_t *db, pl_ctx_t *ctx, const char *project_ref, const char *env_ref,
                      pl_secrets_format_t format, pl_buf_t *out);
/* Sets every key of items (n of them, keys distinct) in one transaction:
 * all or nothing. Values equal to the current one are left alone (no new
 * version, counted as neither). 422 (field `field`: "dotenv" or "secrets")
 * when a key or value is invalid or the environment would exceed its
 * limit; managers and up. Audited as secret.imported with the keys. */
int pl_secrets_import(pl_db_t *db, pl_ctx_t *ctx, const char *project_ref, const char *env_ref,
                      const pl_secret_kv_t *items, int n, const char *field, int *created,
                      int *updated);

/* The module's parts: its descriptor (projects_routes.c) and its init
 * (registers the `plinth keys verify` source of secret values). */
extern const pl_module_t pl_projects_module;
int pl_projects_init(void);

#endif
