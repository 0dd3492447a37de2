/* rbac.c - the permission catalog, the built-in roles, and the assignment
 * rules. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "rbac/rbac.h"

typedef struct {
    const char *key;
    const char *description;
    unsigned roles;
} entry_t;

/* Entries are written once, before count is published, and never change:
 * readers load count (acquire) and read entries below it without a lock. */
static entry_t catalog[PL_PERMS_MAX];
static _Atomic bool hidden[PL_PERMS_MAX];
static _Atomic int count;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

/* key -> bit, open addressing; written under mu, read lock-free (a slot's
 * bit is published after its entry, and slots are never reused). */
#define SLOTS (2 * PL_PERMS_MAX)
static _Atomic int slots[SLOTS]; /* bit + 1; 0 = empty */

static const struct {
    const char *key;
    const char *name;
    int level;
    unsigned bit;
} builtins[] = {
    {"owner", "Owner", 4, PL_ROLE_BIT_OWNER},
    {"admin", "Admin", 3, PL_ROLE_BIT_ADMIN},
    {"member", "Member", 2, PL_ROLE_BIT_MEMBER},
    {"viewer", "Viewer", 1, PL_ROLE_BIT_VIEWER},
    /* no organization permission: a project-local user or a record grantee,
     * who sees only what projects, environments and grants give them */
    {"guest", "Guest", PL_ROLE_LEVEL_GUEST, PL_ROLE_BIT_GUEST},
};

/* The built-in roles' sets, grown as permissions are registered. */
static pthread_rwlock_t roles_lock = PTHREAD_RWLOCK_INITIALIZER;
static pl_perms_t role_perms[PL_ARRAY_LEN(builtins)];

static uint32_t hash(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

int pl_perm_bit(const char *key)
{
    if (!key)
        return -1;
    for (uint32_t i = hash(key) % SLOTS, n = 0; n < SLOTS; i = (i + 1) % SLOTS, n++) {
        int v = atomic_load_explicit(&slots[i], memory_order_acquire);
        if (!v)
            return -1;
        if (!strcmp(catalog[v - 1].key, key))
            return v - 1;
    }
    return -1;
}

/* Adds key under mu; returns its bit. */
static int add_locked(const char *key, const char *description, unsigned roles)
{
    int bit = pl_perm_bit(key);
    if (bit >= 0)
        return bit;
    int n = atomic_load(&count);
    if (n >= PL_PERMS_MAX)
        return PL_ELIMIT;
    catalog[n] = (entry_t){key, description, roles};
    uint32_t i = hash(key) % SLOTS;
    while (atomic_load(&slots[i]))
        i = (i + 1) % SLOTS;
    atomic_store_explicit(&slots[i], n + 1, memory_order_release);
    atomic_store_explicit(&count, n + 1, memory_order_release);
    pthread_rwlock_wrlock(&roles_lock);
    for (size_t r = 0; r < PL_ARRAY_LEN(builtins); r++)
        if (roles & builtins[r].bit)
            pl_perms_add(&role_perms[r], n);
    pthread_rwlock_unlock(&roles_lock);
    return n;
}

int pl_rbac_register(const pl_perm_def_t *defs)
{
    pthread_mutex_lock(&mu);
    int rc = PL_OK;
    for (const pl_perm_def_t *d = defs; d && d->key && rc >= 0; d++)
        rc = add_locked(d->key, d->description, d->roles);
    pthread_mutex_unlock(&mu);
    return rc < 0 ? rc : PL_OK;
}

int pl_rbac_register_dynamic(const char *key, const char *description, unsigned roles)
{
    int bit = pl_perm_bit(key);
    if (bit >= 0)
        return bit;
    pthread_mutex_lock(&mu);
    bit = pl_perm_bit(key);
    if (bit < 0)
        bit = add_locked(pl_xstrdup(key), pl_xstrdup(description ? description : ""), roles);
    pthread_mutex_unlock(&mu);
    return bit;
}

void pl_rbac_set_hidden(const char *key, bool hide)
{
    int bit = pl_perm_bit(key);
    if (bit >= 0)
        atomic_store(&hidden[bit], hide);
}

bool pl_perm_hidden(int i)
{
    return i >= 0 && i < PL_PERMS_MAX && atomic_load(&hidden[i]);
}

int pl_perm_count(void)
{
    return atomic_load_explicit(&count, memory_order_acquire);
}

void pl_perm_entry(int i, const char **key, const char **description)
{
    *key = catalog[i].key;
    *description = catalog[i].description;
}

void pl_perm_all(pl_perms_t *out)
{
    pl_perms_clear(out);
    int n = pl_perm_count();
    for (int i = 0; i < n; i++)
        pl_perms_add(out, i);
}

int pl_perms_from_json(json_t *arr, pl_perms_t *out, const char **bad)
{
    *bad = NULL;
    pl_perms_clear(out);
    if (!json_is_array(arr) || json_array_size(arr) > PL_PERMS_MAX)
        return PL_EINVAL;
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v)
    {
        if (!json_is_string(v))
            return PL_EINVAL;
        int bit = pl_perm_bit(json_string_value(v));
        if (bit < 0 || pl_perm_hidden(bit)) {
            *bad = json_string_value(v);
            return PL_EINVAL;
        }
        pl_perms_add(out, bit);
    }
    return PL_OK;
}

json_t *pl_perms_to_json(const pl_perms_t *perms)
{
    json_t *a = json_array();
    for (int i = pl_perms_next(perms, 0); i >= 0 && i < pl_perm_count();
         i = pl_perms_next(perms, i + 1))
        if (!pl_perm_hidden(i))
            json_array_append_new(a, json_string(catalog[i].key));
    return a;
}

void pl_perms_write(pl_jw_t *w, const char *key, const pl_perms_t *perms)
{
    pl_jw_array_open(w, key);
    for (int i = pl_perms_next(perms, 0); i >= 0 && i < pl_perm_count();
         i = pl_perms_next(perms, i + 1))
        if (!pl_perm_hidden(i))
            pl_jw_string(w, NULL, catalog[i].key);
    pl_jw_array_close(w);
}

char *pl_perms_to_text(pl_arena_t *a, const pl_perms_t *perms)
{
    pl_buf_t b;
    pl_buf_init(&b, (size_t)PL_PERMS_MAX * (PL_PERM_KEY_MAX + 1));
    for (int i = pl_perms_next(perms, 0); i >= 0 && i < pl_perm_count();
         i = pl_perms_next(perms, i + 1)) {
        if (b.len)
            pl_buf_append(&b, " ", 1);
        pl_buf_append(&b, catalog[i].key, strlen(catalog[i].key));
    }
    char *out = pl_arena_strndup(a, b.ptr ? b.ptr : "", b.len);
    pl_buf_free(&b);
    return out;
}

void pl_perms_from_text(const char *text, pl_perms_t *out)
{
    pl_perms_clear(out);
    char key[PL_PERM_KEY_MAX + 1];
    while (text && *text) {
        const char *sp = strchr(text, ' ');
        size_t n = sp ? (size_t)(sp - text) : strlen(text);
        if (n && n < sizeof(key)) {
            memcpy(key, text, n);
            key[n] = '\0';
            pl_perms_add(out, pl_perm_bit(key));
        }
        text += n + (sp ? 1 : 0);
    }
}

int pl_rbac_builtin_count(void)
{
    return (int)PL_ARRAY_LEN(builtins);
}

void pl_rbac_builtin_at(int i, pl_role_t *out)
{
    out->key = builtins[i].key;
    out->name = builtins[i].name;
    out->level = builtins[i].level;
    pthread_rwlock_rdlock(&roles_lock);
    out->perms = role_perms[i];
    pthread_rwlock_unlock(&roles_lock);
}

bool pl_rbac_builtin(const char *key, pl_role_t *out)
{
    for (size_t i = 0; key && i < PL_ARRAY_LEN(builtins); i++) {
        if (!strcmp(builtins[i].key, key)) {
            if (out)
                pl_rbac_builtin_at((int)i, out);
            return true;
        }
    }
    return false;
}

bool pl_rbac_is_builtin(const char *key)
{
    return pl_rbac_builtin(key, NULL);
}

bool pl_rbac_may_assign(const pl_actor_t *actor, const pl_role_t *role)
{
    if (role->level >= PL_ROLE_LEVEL_OWNER)
        return actor->level >= PL_ROLE_LEVEL_OWNER && !actor->is_api_key;
    if (actor->level >= PL_ROLE_LEVEL_OWNER && !actor->is_api_key)
        return true;
    return role->level < actor->level && pl_perms_subset(&role->perms, &actor->perms);
}

bool pl_rbac_may_manage(const pl_actor_t *actor, int target_level)
{
    if (actor->level >= PL_ROLE_LEVEL_OWNER && !actor->is_api_key)
        return true;
    return target_level < actor->level;
}

bool pl_rbac_may_define(const pl_actor_t *actor, int level, const pl_perms_t *perms)
{
    if (level < PL_ROLE_LEVEL_CUSTOM_MIN || level > PL_ROLE_LEVEL_CUSTOM_MAX ||
        !pl_perms_subset(perms, &actor->perms))
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
    return !pl_rbac_is_builtin(key);
}
