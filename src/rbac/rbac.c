/* rbac.c - permissions as bits, the built-in roles, and the assignment rules. */
#include <stdio.h>
#include <string.h>

#include "rbac/rbac.h"

const pl_perm_info_t pl_perm_catalog[] = {
    {"org.read", "See the organization"},
    {"org.update", "Rename the organization and change its slug"},
    {"org.delete", "Delete the organization"},
    {"member.read", "See members"},
    {"member.invite", "Invite people and manage invitations"},
    {"member.update_role", "Change members' roles"},
    {"member.remove", "Remove members"},
    {"team.read", "See teams"},
    {"team.manage", "Create, change and delete teams and their members"},
    {"role.read", "See roles"},
    {"role.manage", "Create, change and delete custom roles"},
    {"apikey.read", "See API keys"},
    {"apikey.manage", "Create and revoke API keys"},
    {"audit.read", "Read and export the audit log"},
    {"flag.read", "Read feature flags evaluated for the organization"},
};
const size_t pl_perm_count = PL_ARRAY_LEN(pl_perm_catalog);

pl_perms_t pl_perm_bit(const char *key)
{
    for (size_t i = 0; key && i < pl_perm_count; i++)
        if (!strcmp(pl_perm_catalog[i].key, key))
            return (pl_perms_t)1 << i;
    return 0;
}

pl_perms_t pl_perm_all(void)
{
    return (((pl_perms_t)1 << pl_perm_count) - 1);
}

#define P(k) ((pl_perms_t)1 << (k))
enum {
    ORG_READ,
    ORG_UPDATE,
    ORG_DELETE,
    MEMBER_READ,
    MEMBER_INVITE,
    MEMBER_UPDATE_ROLE,
    MEMBER_REMOVE,
    TEAM_READ,
    TEAM_MANAGE,
    ROLE_READ,
    ROLE_MANAGE,
    APIKEY_READ,
    APIKEY_MANAGE,
    AUDIT_READ,
    FLAG_READ,
};

const pl_role_t pl_builtin_roles[] = {
    {"owner", "Owner", 4, (P(FLAG_READ + 1) - 1)},
    {"admin", "Admin", 3, (P(FLAG_READ + 1) - 1) & ~P(ORG_DELETE)},
    {"member", "Member", 2,
     P(ORG_READ) | P(MEMBER_READ) | P(TEAM_READ) | P(ROLE_READ) | P(FLAG_READ)},
    {"viewer", "Viewer", 1, P(ORG_READ) | P(MEMBER_READ) | P(FLAG_READ)},
};
const size_t pl_builtin_role_count = PL_ARRAY_LEN(pl_builtin_roles);

const pl_role_t *pl_rbac_builtin(const char *key)
{
    for (size_t i = 0; key && i < pl_builtin_role_count; i++)
        if (!strcmp(pl_builtin_roles[i].key, key))
            return &pl_builtin_roles[i];
    return NULL;
}

int pl_perms_from_json(json_t *arr, pl_perms_t *out, const char **bad)
{
    *bad = NULL;
    *out = 0;
    if (!json_is_array(arr) || json_array_size(arr) > 64)
        return PL_EINVAL;
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v)
    {
        if (!json_is_string(v))
            return PL_EINVAL;
        pl_perms_t bit = pl_perm_bit(json_string_value(v));
        if (!bit) {
            *bad = json_string_value(v);
            return PL_EINVAL;
        }
        *out |= bit;
    }
    return PL_OK;
}

json_t *pl_perms_to_json(pl_perms_t perms)
{
    json_t *a = json_array();
    for (size_t i = 0; i < pl_perm_count; i++)
        if (perms & ((pl_perms_t)1 << i))
            json_array_append_new(a, json_string(pl_perm_catalog[i].key));
    return a;
}

void pl_perms_to_text(pl_perms_t perms, char *out, size_t size)
{
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < pl_perm_count; i++) {
        if (!(perms & ((pl_perms_t)1 << i)))
            continue;
        int n = snprintf(out + used, size - used, "%s%s", used ? " " : "", pl_perm_catalog[i].key);
        if (n < 0 || (size_t)n >= size - used)
            break;
        used += (size_t)n;
    }
}

pl_perms_t pl_perms_from_text(const char *text)
{
    pl_perms_t perms = 0;
    char key[64];
    while (text && *text) {
        const char *sp = strchr(text, ' ');
        size_t n = sp ? (size_t)(sp - text) : strlen(text);
        if (n && n < sizeof(key)) {
            memcpy(key, text, n);
            key[n] = '\0';
            perms |= pl_perm_bit(key);
        }
        text += n + (sp ? 1 : 0);
    }
    return perms;
}

static bool subset(pl_perms_t a, pl_perms_t b)
{
    return (a & ~b) == 0;
}

bool pl_rbac_may_assign(const pl_actor_t *actor, const pl_role_t *role)
{
    if (role->level >= PL_ROLE_LEVEL_OWNER)
        return actor->level >= PL_ROLE_LEVEL_OWNER && !actor->is_api_key;
    if (actor->level >= PL_ROLE_LEVEL_OWNER && !actor->is_api_key)
        return true;
    return role->level < actor->level && subset(role->perms, actor->perms);
}

bool pl_rbac_may_manage(const pl_actor_t *actor, int target_level)
{
    if (actor->level >= PL_ROLE_LEVEL_OWNER && !actor->is_api_key)
        return true;
    return target_level < actor->level;
}

bool pl_rbac_may_define(const pl_actor_t *actor, int level, pl_perms_t perms)
{
    if (level < 1 || level >= PL_ROLE_LEVEL_OWNER || !subset(perms, actor->perms))
        return false;
    /* a role is granted to whoever holds it: raising its level is granting
     * that level, so only owners define roles at or above their own */
    return (actor->level >= PL_ROLE_LEVEL_OWNER && !actor->is_api_key) || level < actor->level;
}

bool pl_rbac_key_valid(const char *key)
{
    size_t n = key ? strlen(key) : 0;
    if (n < 2 || n > PL_ROLE_KEY_MAX || !(key[0] >= 'a' && key[0] <= 'z'))
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = key[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return false;
    }
    return pl_rbac_builtin(key) == NULL;
}
