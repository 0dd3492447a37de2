/* rbac.h - the permission catalog, built-in roles, and every rule about who
 * may grant what. Pure functions over bit sets; thread-safe. Handlers never
 * decide these questions themselves: they ask here. */
#ifndef PL_RBAC_H
#define PL_RBAC_H

#include <jansson.h>

#include "core/core.h"

typedef uint32_t pl_perms_t;

#define PL_ROLE_LEVEL_OWNER 4
#define PL_ROLE_KEY_MAX     32

typedef struct {
    const char *key;
    const char *description;
} pl_perm_info_t;

/* The catalog in display order, and its size. */
extern const pl_perm_info_t pl_perm_catalog[];
extern const size_t pl_perm_count;

/* The bit of a permission key; 0 when unknown. */
pl_perms_t pl_perm_bit(const char *key);
/* Every permission. */
pl_perms_t pl_perm_all(void);

/* Parses a JSON array of permission keys. PL_EINVAL (with *bad set to the
 * offending entry or NULL when the value is not an array of strings) on an
 * unknown key. Duplicates are fine. */
int pl_perms_from_json(json_t *arr, pl_perms_t *out, const char **bad);
/* A new JSON array of the keys in perms, in catalog order. */
json_t *pl_perms_to_json(pl_perms_t perms);
/* Space-separated keys, for storage (written into out); and back. */
void pl_perms_to_text(pl_perms_t perms, char *out, size_t size);
pl_perms_t pl_perms_from_text(const char *text);

typedef struct {
    const char *key;
    const char *name;
    int level;
    pl_perms_t perms;
} pl_role_t;

/* Built-in roles, highest first: owner, admin, member, viewer. */
extern const pl_role_t pl_builtin_roles[];
extern const size_t pl_builtin_role_count;
const pl_role_t *pl_rbac_builtin(const char *key);

/* Who is acting: the level and permissions of their role (or of the API
 * key), and whether they are an owner. */
typedef struct {
    int level;
    pl_perms_t perms;
    bool is_api_key;
} pl_actor_t;

/* May actor give someone the role (assign on a member, or invite with it)?
 * Only an owner assigns owner (and an API key never does); anyone else only
 * roles of a strictly lower level whose permissions are a subset of theirs. */
bool pl_rbac_may_assign(const pl_actor_t *actor, const pl_role_t *role);
/* May actor change or remove a member whose role has target_level? Owners
 * may act on anyone; others only on strictly lower levels. */
bool pl_rbac_may_manage(const pl_actor_t *actor, int target_level);
/* May actor create or edit a custom role with these permissions and level?
 * The permissions must be a subset of the actor's; levels are 1..3, and
 * below the actor's own unless the actor is an owner. */
bool pl_rbac_may_define(const pl_actor_t *actor, int level, pl_perms_t perms);

/* A custom role key: 2..32 of [a-z0-9_-], starting with a letter, not a
 * built-in key. */
bool pl_rbac_key_valid(const char *key);

#endif
