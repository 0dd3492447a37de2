/* rbac.h - the permission catalog, built-in roles, and every rule about who
 * may grant what. Services never decide these questions themselves: they ask
 * here. Thread-safe.
 *
 * The catalog is assembled at start from the modules' permission lists
 * (pl_rbac_register) and may grow at run time (collections add
 * "{name}.read|create|update|delete"); a key's bit never changes once given.
 * Built-in roles hold the permissions whose definition names them. */
#ifndef PL_RBAC_H
#define PL_RBAC_H

#include <jansson.h>

#include "core/core.h"
#include "core/jsonw.h"
#include "core/module.h"
#include "core/perms.h"

#define PL_ROLE_LEVEL_OWNER 4
#define PL_ROLE_LEVEL_GUEST 0 /* the lowest: holds no organization permission */
/* Custom roles sit strictly below owner and at or above the lowest level a
 * member can be given a role at (API.md: 1..3). */
#define PL_ROLE_LEVEL_CUSTOM_MIN 1
#define PL_ROLE_LEVEL_CUSTOM_MAX (PL_ROLE_LEVEL_OWNER - 1)
#define PL_ROLE_KEY_MAX          32
#define PL_PERM_KEY_MAX          96

typedef struct {
    const char *key;
    const char *name;
    int level;
    pl_perms_t perms;
} pl_role_t;

/* Adds a module's permissions (a list ending with a NULL key) in order.
 * Call at start, before serving. A key registered twice keeps its first
 * definition. PL_ELIMIT when the catalog is full. */
int pl_rbac_register(const pl_perm_def_t *defs);
/* Adds one permission at run time (collections). key and description are
 * copied. Returns its bit, the existing bit when the key is known, or
 * PL_ELIMIT when the catalog is full. */
int pl_rbac_register_dynamic(const char *key, const char *description, unsigned roles);

/* Hides a key from the catalog's listing and from parsing (a deleted
 * collection's permissions), or shows it again; its bit stays. */
void pl_rbac_set_hidden(const char *key, bool hidden);

/* The bit of a permission key; -1 when unknown. */
int pl_perm_bit(const char *key);
/* The number of keys in the catalog, and entry i (0 <= i < count). The
 * strings live as long as the process. Hidden keys are listed too: callers
 * that show the catalog skip those pl_perm_hidden says are hidden. */
bool pl_perm_hidden(int i);
int pl_perm_count(void);
void pl_perm_entry(int i, const char **key, const char **description);
/* Every permission of the catalog. */
void pl_perm_all(pl_perms_t *out);

/* Parses a JSON array of permission keys (at most PL_PERMS_MAX entries).
 * PL_EINVAL (with *bad set to the offending entry, or NULL when the value is
 * not an array of strings) on an unknown key. Duplicates are fine. */
int pl_perms_from_json(json_t *arr, pl_perms_t *out, const char **bad);
/* A new JSON array of the keys in perms, in catalog order (hidden keys
 * left out, as in pl_perms_write). */
json_t *pl_perms_to_json(const pl_perms_t *perms);
/* Writes the keys in perms as a JSON array member named key (NULL inside
 * an array), in catalog order. */
void pl_perms_write(pl_jw_t *w, const char *key, const pl_perms_t *perms);
/* Space-separated keys, for storage (an arena string); and back (unknown
 * keys, e.g. of a collection deleted since, are skipped). */
char *pl_perms_to_text(pl_arena_t *a, const pl_perms_t *perms);
void pl_perms_from_text(const char *text, pl_perms_t *out);

/* Built-in roles, highest first: owner (4), admin (3), member (2), viewer
 * (1), guest (0: no permission of its own). */
int pl_rbac_builtin_count(void);
/* Fills out with built-in role i (0 = owner). */
void pl_rbac_builtin_at(int i, pl_role_t *out);
/* Fills out with the built-in role key; false when key is not built in. */
bool pl_rbac_builtin(const char *key, pl_role_t *out);
bool pl_rbac_is_builtin(const char *key);

/* Who is acting: the level and permissions of their role (or of the API
 * key), and whether it is an API key. */
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
 * The permissions must be a subset of the actor's; levels are
 * PL_ROLE_LEVEL_CUSTOM_MIN..MAX, and below the actor's own unless the actor
 * is an owner. */
bool pl_rbac_may_define(const pl_actor_t *actor, int level, const pl_perms_t *perms);

/* A custom role key: 2..32 of [a-z0-9_-], starting with a letter, not a
 * built-in key. */
bool pl_rbac_key_valid(const char *key);

#endif
