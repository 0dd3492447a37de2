/* projects_int.h - what the files of src/projects share and nothing else
 * includes: resolving a {project} or {env} reference to what the caller
 * may do there, audit and slug helpers. Same conventions as projects.h. */
#ifndef PL_PROJECTS_INT_H
#define PL_PROJECTS_INT_H

#include <jansson.h>

#include "projects/projects.h"
#include "platform/keys/keys.h"
#include "projects/projects_store.h"

/* The project ref names in the acting organization, with the caller's
 * effective role in out->role: 404 not_found when there is none or the
 * caller has no role there, 403 forbidden when it is below need. Runs in
 * the caller's transaction. */
int pl_projects_resolve(pl_db_t *db, pl_ctx_t *ctx, const char *ref, pl_project_role_t need,
                        pl_project_t *out);
/* The same for an environment of a project (one query): 404 unless the
 * caller has a role on it, 403 below need. */
int pl_environments_resolve(pl_db_t *db, pl_ctx_t *ctx, const char *project_ref,
                            const char *env_ref, pl_env_role_t need, pl_project_t *p,
                            pl_environment_t *e);

/* Who wrote a change, for updated_by: the user, the API key, or NULL. */
const char *pl_projects_actor(const pl_ctx_t *ctx);

/* Appends an event of the acting organization (pl_audit_append); data is
 * stolen (it holds ids and names, never a secret value). */
int pl_projects_audit(pl_db_t *db, pl_ctx_t *ctx, const char *action, const char *target_type,
                      const char *target_id, json_t *data);

/* A slug for name: name itself reduced to [a-z0-9-] when that is a valid
 * slug, else with a random suffix (pl_orgs_slug_derive); fallback names
 * the kind ("project", "env") when name has too few letters. In a. */
char *pl_projects_slug_from(pl_arena_t *a, const char *name, const char *fallback);
/* The same with a random suffix, for a derived slug already taken. */
char *pl_projects_slug_suffixed(pl_arena_t *a, const char *name, const char *fallback);

/* 409 slug_taken (field "slug"). */
int pl_projects_slug_taken(pl_ctx_t *ctx);

/* The associated data a secret version is sealed with, binding it to its
 * row: "secret/<org>/<env>/<key>/<version>", written into out (which it
 * returns). */
#define PL_SECRETS_AD_MAX 256
const char *pl_secrets_ad(char out[PL_SECRETS_AD_MAX], const char *org_id, const char *env_id,
                          const char *key, int64_t version);

/* `plinth keys verify`: opens every stored secret version. */
int pl_secrets_check_sealed(pl_db_t *db, pl_keys_check_t *chk);

#endif
