/* orgs.c - the tenant (resolving the acting organization and the caller's
 * role in it), and organizations themselves: creation, listing, renaming,
 * deletion, and the slug rules. */
#include <stdio.h>
#include <string.h>

#include "core/crypto.h"
#include "core/rows.h"
#include "core/tcache.h"
#include "orgs/orgs.h"
#include "orgs/orgs_store.h"
#include "platform/audit/audit.h"

bool pl_orgs_require_verified_email;
int pl_orgs_invite_limit = 100;
int pl_orgs_invite_recipient_limit = 3;

static int not_found(pl_ctx_t *ctx)
{
    return pl_fail(ctx, 404, "not_found", "No such resource.");
}

/* A reference to an organization short enough to be an id or a slug (the
 * shape of a valid one is the store's to match). */
static bool ref_ok(const char *ref)
{
    return ref && strlen(ref) <= PL_ORGS_SLUG_MAX + 4;
}

/* ---- slugs ---- */

bool pl_orgs_slug_valid(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n < PL_ORGS_SLUG_MIN || n > PL_ORGS_SLUG_MAX || s[0] == '-' || s[n - 1] == '-' ||
        pl_uuid_valid(s))
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '-' && s[i + 1] == '-')
            return false;
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
            return false;
    }
    return true;
}

#define DERIVED_STEM_MAX 30
#define DERIVED_SUFFIX   8

void pl_orgs_slug_derive(const char *name, const char *fallback, char out[PL_ORGS_SLUG_MAX + 1])
{
    size_t k = 0;
    for (const char *p = name; *p && k < DERIVED_STEM_MAX; p++) {
        char c = *p;
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
            out[k++] = c;
        else if (k && out[k - 1] != '-')
            out[k++] = '-';
    }
    while (k && out[k - 1] == '-')
        k--;
    if (k < 2) {
        k = strnlen(fallback, DERIVED_STEM_MAX);
        memcpy(out, fallback, k);
    }
    static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    unsigned char rnd[DERIVED_SUFFIX];
    pl_random_bytes(rnd, sizeof(rnd));
    out[k++] = '-';
    for (size_t i = 0; i < sizeof(rnd); i++)
        out[k++] = alphabet[rnd[i] % 36];
    out[k] = '\0';
}

int pl_orgs_check_slug(pl_ctx_t *ctx, const char *slug)
{
    if (slug && !pl_orgs_slug_valid(slug)) {
        pl_field_error(ctx, "slug", "invalid",
                       "Use 3 to 48 lowercase letters, digits and single hyphens.");
        return PL_EINVAL;
    }
    return PL_OK;
}

static int slug_taken(pl_ctx_t *ctx)
{
    pl_field_error(ctx, "slug", "taken", "This slug is already in use.");
    return pl_fail(ctx, 409, "slug_taken", "This slug is already in use.");
}

/* ---- the tenant ---- */

pl_actor_t pl_orgs_actor(const pl_ctx_t *ctx)
{
    return (pl_actor_t){.level = ctx->tenant.level,
                        .perms = ctx->tenant.perms,
                        .is_api_key = ctx->tenant.is_api_key};
}

pl_org_t pl_orgs_current(const pl_ctx_t *ctx)
{
    const pl_tenant_t *t = &ctx->tenant;
    return (pl_org_t){.id = t->org_id,
                      .name = t->name,
                      .slug = t->slug,
                      .personal = t->personal,
                      .created_at = t->created_at,
                      .members_version = t->members_version,
                      .role = t->role,
                      .require_mfa = t->require_mfa};
}

int pl_orgs_role(pl_db_t *db, pl_ctx_t *ctx, const char *org_id, const char *key, pl_role_t *out)
{
    if (pl_rbac_builtin(key, out))
        return PL_OK;
    pl_role_row_t r;
    int rc = pl_roles_store_get(db, ctx->arena, org_id, key, &r);
    if (rc)
        return rc;
    out->key = r.key;
    out->name = r.name;
    out->level = r.level;
    pl_perms_from_text(r.permissions, &out->perms);
    return PL_OK;
}

int pl_orgs_lookup(pl_db_t *db, pl_arena_t *a, const char *ref, pl_org_t *out)
{
    /* slugs never look like ids, so the shape of ref says which it is */
    if (!ref_ok(ref))
        return PL_ENOTFOUND;
    return pl_orgs_store_get(db, a, ref, pl_uuid_valid(ref), out);
}

int pl_orgs_lock(pl_db_t *db, const char *org_id)
{
    return pl_orgs_store_lock(db, org_id);
}

int pl_orgs_count_seats(pl_db_t *db, const char *org_id, int64_t now, int64_t *out)
{
    return pl_members_store_count_seats(db, org_id, now, out);
}

int pl_orgs_enter(pl_db_t *db, pl_ctx_t *ctx, const pl_org_t *o)
{
    int rc = pl_db_set_context(db, "app.org_id", o->id);
    if (rc)
        return rc;
    pl_tenant_t *t = &ctx->tenant;
    snprintf(t->org_id, sizeof(t->org_id), "%s", o->id);
    t->name = o->name;
    t->slug = o->slug;
    t->personal = o->personal;
    t->created_at = o->created_at;
    t->members_version = o->members_version;
    t->require_mfa = o->require_mfa;
    return PL_OK;
}

int pl_orgs_admin_enter(pl_db_t *db, pl_ctx_t *ctx, const char *org_ref)
{
    if (!ctx->principal.is_admin)
        return pl_fail(ctx, 403, "forbidden", "Only instance admins may read this.");
    pl_org_t o;
    int rc = pl_orgs_lookup(db, ctx->arena, org_ref, &o);
    if (rc == PL_ENOTFOUND)
        return pl_fail(ctx, 404, "not_found", "No such organization.");
    if (!rc)
        rc = pl_orgs_enter(db, ctx, &o);
    /* reads as an owner would (only read routes take this way in) */
    pl_role_t owner;
    if (!rc && pl_rbac_builtin("owner", &owner)) {
        ctx->tenant.perms = owner.perms;
        ctx->tenant.level = owner.level;
    }
    return rc;
}

void pl_orgs_lookup_prefetch(pl_db_t *db, const char *ref)
{
    if (ref_ok(ref))
        pl_orgs_store_prefetch(db, ref, pl_uuid_valid(ref));
}

/* The caller's role in an organization, by (user, reference), at the user's
 * users.orgs_version: triggers move that version with every change to the
 * user's memberships (joining, leaving, removal, a role change, the org's
 * deletion), and the session check reads it in the request's snapshot, so a
 * hit is exactly what memberships holds now, on every instance. The org row
 * itself is read with the session every time (ctx->path_org: its settings
 * and members_version move without the user's version); the value is
 * "org_id role", and a hit counts only for the org the reference names now.
 * Only members are kept. So an org route is one statement when the role is
 * known, and the session check plus the org and role in one round trip
 * when it is not. */
static pl_tcache_t member_roles = PL_TCACHE_INIT(1024, 128);

static bool role_key(char *key, size_t size, const char *user_id, const char *ref)
{
    int n = snprintf(key, size, "%s %s", user_id, ref);
    return n > 0 && (size_t)n < size;
}

void pl_orgs_prefetch(pl_db_t *db, const char *ref, const char *user_id)
{
    char key[PL_TCACHE_KEY_MAX + 1];
    if (ref_ok(ref) &&
        !(role_key(key, sizeof(key), user_id, ref) && pl_tcache_known(&member_roles, key)))
        pl_orgs_store_prefetch_with_role(db, ref, pl_uuid_valid(ref), user_id);
}

/* The org ref names and the caller's role in it (NULL: not a member). */
static int org_and_role(pl_db_t *db, pl_ctx_t *ctx, const char *ref, pl_org_t *o, const char **role)
{
    const pl_principal_t *p = &ctx->principal;
    const pl_org_row_t *row = &ctx->path_org;
    char key[PL_TCACHE_KEY_MAX + 1];
    bool keyed = role_key(key, sizeof(key), p->user_id, ref);
    size_t len = 0;
    const char *hit =
        keyed && row->read ? pl_tcache_get(&member_roles, key, p->orgs_version, &len) : NULL;
    if (hit) {
        if (!row->found)
            return PL_ENOTFOUND;
        size_t idlen = strcspn(hit, " ");
        if (idlen < len && strlen(row->org.id) == idlen && !strncmp(row->org.id, hit, idlen)) {
            *o = row->org;
            *role = pl_arena_strndup(ctx->arena, hit + idlen + 1, len - idlen - 1);
            return PL_OK;
        }
        /* the reference names another organization now: ask again */
    }
    bool by_id = pl_uuid_valid(ref);
    int rc = pl_orgs_store_get_with_role(db, ctx->arena, ref, by_id, p->user_id, o, role);
    if (!rc && *role && keyed) {
        char val[128];
        int n = snprintf(val, sizeof(val), "%s %s", o->id, *role);
        if (n > 0 && (size_t)n < sizeof(val))
            pl_tcache_put(&member_roles, key, p->orgs_version, val, (size_t)n);
    }
    return rc;
}

int pl_orgs_resolve(pl_db_t *db, pl_ctx_t *ctx, const char *ref, int perm_bit)
{
    pl_org_t o;
    const char *role_key = NULL;
    int rc = ref_ok(ref) ? org_and_role(db, ctx, ref, &o, &role_key) : PL_ENOTFOUND;
    if (rc == PL_ENOTFOUND || (rc == PL_OK && !role_key))
        return not_found(ctx); /* non-members learn nothing, not even that it exists */
    if (rc || (rc = pl_orgs_enter(db, ctx, &o)))
        return rc;
    pl_role_t role;
    if ((rc = pl_orgs_role(db, ctx, o.id, role_key, &role)))
        return rc == PL_ENOTFOUND ? PL_EINTERNAL : rc; /* a member's role always exists */
    pl_tenant_t *t = &ctx->tenant;
    t->resolved = true;
    t->role = role_key;
    t->level = role.level;
    t->perms = role.perms;
    t->is_api_key = false;
    if (perm_bit >= 0 && !pl_perms_has(&role.perms, perm_bit))
        return pl_fail(ctx, 403, "forbidden", "Your role does not allow this.");
    return PL_OK;
}

/* ---- organizations ---- */

/* Inserts an organization with owner as its owner and audits org.created,
 * in the caller's transaction. */
static int insert_org(pl_db_t *db, pl_ctx_t *ctx, const pl_org_t *o, const char *owner)
{
    int rc = pl_db_set_context(db, "app.org_id", o->id);
    if (!rc)
        rc = pl_orgs_store_insert(db, o->id, o->name, o->slug, o->personal, o->created_at);
    if (!rc)
        rc = pl_members_store_insert(db, o->id, owner, "owner", o->created_at);
    if (!rc) {
        json_t *d =
            json_pack("{s:s, s:s, s:b}", "name", o->name, "slug", o->slug, "personal", o->personal);
        rc = pl_audit_append(db, ctx, o->id, "org.created", "org", o->id, d);
        json_decref(d);
    }
    return rc;
}

int pl_orgs_create(pl_db_t *db, pl_ctx_t *ctx, const char *name, const char *slug, pl_org_t *out)
{
    int rc = pl_orgs_check_slug(ctx, slug);
    if (rc)
        return rc;
    const char *user_id = pl_ctx_user(ctx);
    if (!user_id)
        return pl_fail(ctx, 403, "forbidden", "Only users create organizations.");
    if (pl_orgs_require_verified_email && !ctx->principal.email_verified)
        return pl_fail(ctx, 403, "email_not_verified",
                       "Verify your email address before creating organizations.");
    char *id = pl_arena_alloc(ctx->arena, PL_ID_LEN);
    pl_uuid7(id);
    if (!slug) {
        char *derived = pl_arena_alloc(ctx->arena, PL_ORGS_SLUG_MAX + 1);
        pl_orgs_slug_derive(name, "org", derived);
        slug = derived;
    }
    pl_org_t o = {.id = id,
                  .name = pl_arena_strdup(ctx->arena, name),
                  .slug = pl_arena_strdup(ctx->arena, slug),
                  .created_at = pl_now_ms(),
                  .role = "owner"};
    if ((rc = pl_db_begin(db)))
        return rc;
    rc = insert_org(db, ctx, &o, user_id);
    if ((rc = pl_db_finish(db, rc)))
        return rc == PL_ECONFLICT ? slug_taken(ctx) : rc;
    *out = o;
    return PL_OK;
}

int pl_orgs_create_personal(pl_db_t *db, pl_ctx_t *ctx, const char *user_id, const char *name,
                            pl_org_t *out)
{
    char *id = pl_arena_alloc(ctx->arena, PL_ID_LEN);
    char *slug = pl_arena_alloc(ctx->arena, PL_ORGS_SLUG_MAX + 1);
    pl_uuid7(id);
    pl_orgs_slug_derive(name, "user", slug);
    pl_org_t o = {.id = id,
                  .name = pl_arena_strdup(ctx->arena, name),
                  .slug = slug,
                  .personal = true,
                  .created_at = pl_now_ms(),
                  .role = "owner"};
    int rc = pl_db_begin(db);
    if (rc)
        return rc;
    rc = insert_org(db, ctx, &o, user_id);
    if ((rc = pl_db_finish(db, rc)))
        return rc == PL_ECONFLICT ? PL_EBUSY : rc;
    *out = o;
    return PL_OK;
}

static int org_page(pl_rows_t *rows, int rc, pl_org_page_t *out)
{
    if (rc)
        return rc;
    out->items = rows->items;
    out->n = rows->n;
    out->next_cursor = rows->more ? out->items[out->n - 1].id : NULL;
    return PL_OK;
}

int pl_orgs_list_mine(pl_db_t *db, pl_ctx_t *ctx, const char *cursor, int limit, pl_org_page_t *out)
{
    pl_rows_t rows;
    pl_rows_init(&rows, ctx->arena, sizeof(pl_org_t), limit);
    int rc = pl_orgs_store_list_for_user(db, ctx->arena, ctx->principal.user_id, cursor, &rows);
    return org_page(&rows, rc, out);
}

int pl_orgs_list_all(pl_db_t *db, pl_ctx_t *ctx, const char *cursor, int limit, pl_org_page_t *out)
{
    pl_rows_t rows;
    pl_rows_init(&rows, ctx->arena, sizeof(pl_org_t), limit);
    int rc = pl_orgs_store_list_all(db, ctx->arena, cursor, &rows);
    return org_page(&rows, rc, out);
}

int pl_orgs_update(pl_db_t *db, pl_ctx_t *ctx, const char *name, const char *slug,
                   const bool *require_mfa, pl_org_t *out)
{
    int rc = pl_orgs_check_slug(ctx, slug);
    if (rc)
        return rc;
    pl_tenant_t *t = &ctx->tenant;
    /* the members' security policy is the owners' to set */
    if (require_mfa && (t->is_api_key || !t->role || strcmp(t->role, "owner")))
        return pl_fail(ctx, 403, "forbidden", "Only an owner sets require_mfa.");
    const char *new_name = pl_arena_strdup(ctx->arena, name ? name : t->name);
    const char *new_slug = pl_arena_strdup(ctx->arena, slug ? slug : t->slug);
    if ((rc = pl_db_begin(db)))
        return rc;
    rc = pl_orgs_store_update(db, t->org_id, new_name, new_slug, pl_now_ms());
    if (!rc && require_mfa)
        rc = pl_orgs_store_set_require_mfa(db, t->org_id, *require_mfa);
    if (!rc) {
        json_t *d = json_pack("{s:s, s:s}", "name", new_name, "slug", new_slug);
        if (require_mfa)
            json_object_set_new(d, "require_mfa", json_boolean(*require_mfa));
        rc = pl_audit_append(db, ctx, t->org_id, "org.updated", "org", t->org_id, d);
        json_decref(d);
    }
    if ((rc = pl_db_finish(db, rc)))
        return rc == PL_ECONFLICT ? slug_taken(ctx) : rc;
    t->name = new_name;
    t->slug = new_slug;
    if (require_mfa)
        t->require_mfa = *require_mfa;
    *out = pl_orgs_current(ctx);
    return PL_OK;
}

int pl_orgs_delete(pl_db_t *db, pl_ctx_t *ctx)
{
    const pl_tenant_t *t = &ctx->tenant;
    if (t->personal)
        return pl_fail(ctx, 409, "personal_org", "A personal organization cannot be deleted.");
    int rc = pl_db_begin(db);
    if (rc)
        return rc;
    /* memberships, invitations, teams and roles go with it (ON DELETE
     * CASCADE); the org's chain stays (it has no foreign key), and the
     * instance chain records the deletion too, since the org's own chain is
     * no longer reachable */
    json_t *d = json_pack("{s:s, s:s}", "name", t->name, "slug", t->slug);
    rc = pl_audit_append(db, ctx, t->org_id, "org.deleted", "org", t->org_id, d);
    if (!rc)
        rc = pl_audit_append(db, ctx, NULL, "org.deleted", "org", t->org_id, d);
    json_decref(d);
    if (!rc)
        rc = pl_orgs_store_delete(db, t->org_id);
    return pl_db_finish(db, rc);
}
