/* orgs_routes.c - organizations, members, roles and the authorization step. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "platform/audit/audit.h"
#include "auth/auth.h"
#include "core/config.h"
#include "core/crypto.h"
#include "core/jsonw.h"
#include "db/db.h"
#include "orgs/orgs.h"
#include "orgs/orgs_store.h"

#define NAME_MAX_BYTES 200
#define SLUG_MIN       3
#define SLUG_MAX       48

static const char *fmt_time(pl_req_t *req, int64_t ms)
{
    char *out = pl_arena_alloc(req->ctx.arena, 32);
    pl_time_format(ms, out);
    return out;
}

static json_t *org_json(pl_req_t *req, const pl_org_t *o, const char *role)
{
    return json_pack("{s:s, s:s, s:s, s:b, s:s, s:s?}", "id", o->id, "name", o->name, "slug",
                     o->slug, "personal", o->personal, "created_at", fmt_time(req, o->created_at),
                     "role", role);
}

static int not_found(pl_req_t *req)
{
    return pl_req_fail(req, 404, "not_found", "No such resource.");
}

/* ---- authorization ---- */

pl_actor_t pl_orgs_actor(const pl_req_t *req)
{
    return (pl_actor_t){.level = req->ctx.tenant.level,
                        .perms = req->ctx.tenant.perms,
                        .is_api_key = req->ctx.tenant.is_api_key};
}

static int org_role(pl_db_t *db, pl_arena_t *a, const char *org_id, const char *key, pl_role_t *out)
{
    if (pl_rbac_builtin(key, out))
        return PL_OK;
    pl_custom_role_t r;
    int rc = pl_roles_store_get(db, a, org_id, key, &r);
    if (rc)
        return rc;
    out->key = r.key;
    out->name = r.name;
    out->level = r.level;
    pl_perms_from_text(r.permissions, &out->perms);
    return PL_OK;
}

int pl_orgs_resolve(pl_db_t *db, pl_ctx_t *ctx, const char *ref, int perm_bit)
{
    if (!ref || strlen(ref) > SLUG_MAX + 4)
        return pl_fail(ctx, 404, "not_found", "No such resource.");
    pl_org_t o;
    bool by_id = pl_uuid_valid(ref);
    int rc = pl_orgs_store_get(db, ctx->arena, ref, by_id, &o);
    if (rc == PL_ENOTFOUND)
        return pl_fail(ctx, 404, "not_found", "No such resource.");
    if (rc)
        return rc;
    if ((rc = pl_db_set_context(db, "app.org_id", o.id)))
        return rc;
    const char *role_key = NULL;
    rc = pl_members_store_role(db, ctx->arena, o.id, ctx->principal.user_id, &role_key);
    if (rc == PL_ENOTFOUND) /* non-members learn nothing, not even that it exists */
        return pl_fail(ctx, 404, "not_found", "No such resource.");
    if (rc)
        return rc;
    pl_role_t role;
    if ((rc = org_role(db, ctx->arena, o.id, role_key, &role)))
        return rc == PL_ENOTFOUND ? PL_EINTERNAL : rc; /* a member's role always exists */
    pl_tenant_t *t = &ctx->tenant;
    t->resolved = true;
    snprintf(t->org_id, sizeof(t->org_id), "%s", o.id);
    t->name = o.name;
    t->slug = o.slug;
    t->personal = o.personal;
    t->created_at = o.created_at;
    t->members_version = o.members_version;
    t->role = role_key;
    t->level = role.level;
    t->perms = role.perms;
    if (perm_bit >= 0 && !pl_perms_has(&role.perms, perm_bit))
        return pl_fail(ctx, 403, "forbidden", "Your role does not allow this.");
    return PL_OK;
}

int pl_orgs_role(pl_req_t *req, pl_db_t *db, const char *org_id, const char *key, pl_role_t *out)
{
    return org_role(db, req->ctx.arena, org_id, key, out);
}

/* ---- organizations ---- */

/* Lowercase letters, digits and single hyphens, 3..48, no hyphen at either
 * end, and not shaped like an id (paths accept both). */
static bool slug_valid(const char *s)
{
    size_t n = strlen(s);
    if (n < SLUG_MIN || n > SLUG_MAX || s[0] == '-' || s[n - 1] == '-' || pl_uuid_valid(s))
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

static int get_slug(pl_req_t *req, const char **slug)
{
    if (pl_json_get_string(req, "slug", false, 1, 64, slug))
        return PL_EINVAL;
    if (*slug && !slug_valid(*slug)) {
        pl_req_field_error(req, "slug", "invalid",
                           "Use 3 to 48 lowercase letters, digits and single hyphens.");
        return PL_EINVAL;
    }
    return PL_OK;
}

/* A slug from the name, with a random suffix: "acme-corp-x7k2p9q1". */
static void derive_slug(const char *name, char out[SLUG_MAX + 1])
{
    size_t k = 0;
    for (const char *p = name; *p && k < 30; p++) {
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
        memcpy(out, "org", 3);
        k = 3;
    }
    static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    unsigned char rnd[8];
    pl_random_bytes(rnd, sizeof(rnd));
    out[k++] = '-';
    for (size_t i = 0; i < sizeof(rnd); i++)
        out[k++] = alphabet[rnd[i] % 36];
    out[k] = '\0';
}

static int slug_taken(pl_req_t *req)
{
    pl_req_field_error(req, "slug", "taken", "This slug is already in use.");
    return pl_req_fail(req, 409, "slug_taken", "This slug is already in use.");
}

int pl_orgs_create(pl_req_t *req)
{
    const char *name = NULL, *slug = NULL;
    pl_json_get_string(req, "name", true, 1, NAME_MAX_BYTES, &name);
    get_slug(req, &slug);
    if (pl_req_validated(req))
        return PL_EINVAL;
    if (pl_orgs_require_verified_email && !req->ctx.principal.email_verified)
        return pl_req_fail(req, 403, "email_not_verified",
                           "Verify your email address before creating organizations.");
    char derived[SLUG_MAX + 1], id[37];
    if (!slug) {
        derive_slug(name, derived);
        slug = derived;
    }
    pl_uuid7(id);
    pl_db_t *db = pl_db_thread();
    if (!db)
        return PL_EDB;
    int rc = pl_db_begin(db);
    if (rc)
        return rc;
    int64_t now = pl_now_ms();
    rc = pl_db_set_context(db, "app.org_id", id);
    if (!rc)
        rc = pl_store_org_insert(db, id, name, slug, false, now);
    if (!rc)
        rc = pl_store_membership_insert(db, id, req->ctx.principal.user_id, "owner", now);
    json_t *d = json_pack("{s:s, s:s, s:b}", "name", name, "slug", slug, "personal", 0);
    if (!rc)
        rc = pl_audit_append(db, &req->ctx, id, "org.created", "org", id, d);
    json_decref(d);
    if ((rc = pl_db_finish(db, rc)))
        return rc == PL_ECONFLICT ? slug_taken(req) : rc;
    pl_org_t o = {id, name, slug, false, now, 0};
    return pl_resp_json(req, 201, org_json(req, &o, "owner"));
}

typedef struct {
    pl_req_t *req;
    json_t *list;
    int count, limit;
    const char *last;
} page_t;

static void add_org(void *ctx, const pl_org_t *o, const char *role)
{
    page_t *p = ctx;
    if (++p->count > p->limit)
        return;
    json_array_append_new(p->list, org_json(p->req, o, role && role[0] ? role : NULL));
    p->last = pl_arena_strdup(p->req->ctx.arena, o->id);
}

static int list_orgs(pl_req_t *req, bool all)
{
    int limit;
    const char *cursor;
    int rc = pl_req_page_id(req, &limit, &cursor);
    if (rc)
        return rc;
    pl_db_t *db = pl_db_thread();
    if (!db)
        return PL_EDB;
    page_t p = {req, json_array(), 0, limit, NULL};
    rc = all ? pl_orgs_store_list_all(db, req->ctx.arena, cursor, limit + 1, add_org, &p)
             : pl_orgs_store_list_for_user(db, req->ctx.arena, req->ctx.principal.user_id, cursor,
                                           limit + 1, add_org, &p);
    if (rc) {
        json_decref(p.list);
        return rc;
    }
    return pl_resp_list(req, p.list, p.count > limit ? p.last : NULL);
}

int pl_orgs_list(pl_req_t *req)
{
    return list_orgs(req, false);
}

int pl_orgs_admin_list(pl_req_t *req)
{
    return list_orgs(req, true);
}

static json_t *tenant_json(pl_req_t *req)
{
    pl_org_t o = {req->ctx.tenant.org_id,     req->ctx.tenant.name,
                  req->ctx.tenant.slug,       req->ctx.tenant.personal,
                  req->ctx.tenant.created_at, req->ctx.tenant.members_version};
    return org_json(req, &o, req->ctx.tenant.role);
}

int pl_orgs_get(pl_req_t *req)
{
    return pl_resp_json(req, 200, tenant_json(req));
}

int pl_orgs_update(pl_req_t *req)
{
    const char *name = NULL, *slug = NULL;
    pl_json_get_string(req, "name", false, 1, NAME_MAX_BYTES, &name);
    get_slug(req, &slug);
    if (pl_req_validated(req))
        return PL_EINVAL;
    pl_db_t *db = pl_db_thread();
    if (!db)
        return PL_EDB;
    int rc = pl_db_begin(db);
    if (rc)
        return rc;
    const char *new_name = name ? name : req->ctx.tenant.name;
    const char *new_slug = slug ? slug : req->ctx.tenant.slug;
    rc = pl_orgs_store_update(db, req->ctx.tenant.org_id, new_name, new_slug, pl_now_ms());
    json_t *d = json_pack("{s:s, s:s}", "name", new_name, "slug", new_slug);
    if (!rc)
        rc = pl_audit_append(db, &req->ctx, req->ctx.tenant.org_id, "org.updated", "org",
                             req->ctx.tenant.org_id, d);
    json_decref(d);
    if ((rc = pl_db_finish(db, rc)))
        return rc == PL_ECONFLICT ? slug_taken(req) : rc;
    req->ctx.tenant.name = new_name;
    req->ctx.tenant.slug = new_slug;
    return pl_resp_json(req, 200, tenant_json(req));
}

int pl_orgs_delete(pl_req_t *req)
{
    if (req->ctx.tenant.personal)
        return pl_req_fail(req, 409, "personal_org", "A personal organization cannot be deleted.");
    pl_db_t *db = pl_db_thread();
    if (!db)
        return PL_EDB;
    int rc = pl_db_begin(db);
    if (rc)
        return rc;
    /* memberships, invitations, teams and roles go with it (ON DELETE CASCADE) */
    /* the org's chain stays (it has no foreign key); the instance chain also
     * records the deletion, since the org's own chain is no longer reachable */
    json_t *d = json_pack("{s:s, s:s}", "name", req->ctx.tenant.name, "slug", req->ctx.tenant.slug);
    rc = pl_audit_append(db, &req->ctx, req->ctx.tenant.org_id, "org.deleted", "org",
                         req->ctx.tenant.org_id, d);
    if (!rc)
        rc = pl_audit_append(db, &req->ctx, NULL, "org.deleted", "org", req->ctx.tenant.org_id, d);
    json_decref(d);
    if (!rc)
        rc = pl_orgs_store_delete(db, req->ctx.tenant.org_id);
    if ((rc = pl_db_finish(db, rc)))
        return rc;
    return pl_resp_status(req, 204);
}

/* ---- members ---- */

static void write_member(pl_jw_t *w, const pl_member_t *m)
{
    pl_jw_object_open(w, NULL);
    pl_jw_string(w, "user_id", m->user_id);
    pl_jw_string(w, "email", m->email);
    pl_jw_string(w, "name", m->name);
    pl_jw_string(w, "role", m->role);
    pl_jw_string(w, "status", "active");
    pl_jw_time(w, "joined_at", m->joined_at);
    pl_jw_object_close(w);
}

typedef struct {
    pl_jw_t *w;
    int count, limit;
    char last[37];
} member_page_t;

/* Rows are written as they are read: the strings are the statement's own. */
static void add_member(void *ctx, const pl_member_t *m)
{
    member_page_t *p = ctx;
    if (++p->count > p->limit)
        return;
    write_member(p->w, m);
    size_t n = strnlen(m->user_id, sizeof(p->last) - 1);
    memcpy(p->last, m->user_id, n);
    p->last[n] = '\0';
}

/* Rendered member-list pages, per thread, keyed by org, members_version,
 * cursor and limit. The version is read with the authorization in the
 * request's snapshot and changes in the same transaction as any change to the
 * list (database triggers), so a hit is exactly what the query would give, on
 * every instance. A cache that is safe to lose. */
#define PAGE_CACHE_SLOTS    16
#define PAGE_CACHE_MAX_BODY (256 * 1024)

typedef struct {
    char org_id[37];
    int64_t version;
    int limit;
    char cursor[40];
    char *body;
    size_t len;
} page_slot_t;

static __thread page_slot_t *page_cache;
static pthread_key_t page_cache_key;
static pthread_once_t page_cache_once = PTHREAD_ONCE_INIT;

static void free_page_cache(void *p)
{
    page_slot_t *slots = p;
    for (int i = 0; i < PAGE_CACHE_SLOTS; i++)
        free(slots[i].body);
    free(slots);
}

static void page_cache_init(void)
{
    pthread_key_create(&page_cache_key, free_page_cache);
}

static page_slot_t *page_slot(const pl_tenant_t *t, const char *cursor, int limit)
{
    if (!page_cache) {
        pthread_once(&page_cache_once, page_cache_init);
        page_cache = pl_xcalloc(PAGE_CACHE_SLOTS, sizeof(page_slot_t));
        pthread_setspecific(page_cache_key, page_cache);
    }
    uint32_t h = 2166136261u;
    for (const char *s = t->org_id; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    for (const char *s = cursor ? cursor : ""; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    h = (h ^ (uint32_t)limit) * 16777619u;
    return &page_cache[h % PAGE_CACHE_SLOTS];
}

static bool page_hit(const page_slot_t *s, const pl_tenant_t *t, const char *cursor, int limit)
{
    return s->body && s->version == t->members_version && s->limit == limit &&
           !strcmp(s->org_id, t->org_id) && !strcmp(s->cursor, cursor ? cursor : "");
}

int pl_members_list(pl_req_t *req)
{
    int limit;
    const char *cursor;
    int rc = pl_req_page_id(req, &limit, &cursor);
    if (rc)
        return rc;
    page_slot_t *slot = page_slot(&req->ctx.tenant, cursor, limit);
    if (page_hit(slot, &req->ctx.tenant, cursor, limit))
        return pl_resp_body(req, 200, "application/json", slot->body, slot->len, false);
    pl_db_t *db = pl_db_thread();
    if (!db)
        return PL_EDB;
    pl_buf_t b;
    pl_buf_init(&b, 16 * 1024 * 1024);
    pl_jw_t w;
    pl_jw_init(&w, &b);
    pl_jw_object_open(&w, NULL);
    pl_jw_array_open(&w, "data");
    member_page_t p = {&w, 0, limit, ""};
    rc = pl_members_store_list(db, NULL, req->ctx.tenant.org_id, cursor, limit + 1, add_member, &p);
    pl_jw_array_close(&w);
    pl_jw_string(&w, "next_cursor", p.count > limit ? p.last : NULL);
    pl_jw_object_close(&w);
    if (!rc)
        rc = w.err;
    if (!rc && b.len <= PAGE_CACHE_MAX_BODY) {
        free(slot->body);
        slot->body = pl_xstrndup(b.ptr, b.len);
        slot->len = b.len;
        slot->version = req->ctx.tenant.members_version;
        slot->limit = limit;
        memcpy(slot->org_id, req->ctx.tenant.org_id, sizeof(slot->org_id));
        snprintf(slot->cursor, sizeof(slot->cursor), "%s", cursor ? cursor : "");
    }
    if (!rc)
        rc = pl_resp_json_buf(req, 200, &b);
    pl_buf_free(&b);
    return rc;
}

static int member_response(pl_req_t *req, pl_db_t *db, const char *user_id)
{
    pl_member_t m;
    int rc = pl_members_store_get(db, req->ctx.arena, req->ctx.tenant.org_id, user_id, &m);
    if (rc)
        return rc;
    pl_buf_t b;
    pl_buf_init(&b, 64 * 1024);
    pl_jw_t w;
    pl_jw_init(&w, &b);
    write_member(&w, &m);
    rc = w.err ? w.err : pl_resp_json_buf(req, 200, &b);
    pl_buf_free(&b);
    return rc;
}

/* The last owner can be neither demoted nor removed. */
static int check_last_owner(pl_req_t *req, pl_db_t *db, const char *target_role)
{
    if (strcmp(target_role, "owner"))
        return PL_OK;
    int64_t owners = 0;
    int rc = pl_members_store_count_role(db, req->ctx.tenant.org_id, "owner", &owners);
    if (rc)
        return rc;
    if (owners <= 1)
        return pl_req_fail(req, 409, "last_owner", "An organization needs at least one owner.");
    return PL_OK;
}

static int forbidden(pl_req_t *req, const char *detail)
{
    return pl_req_fail(req, 403, "forbidden", detail);
}

int pl_members_update(pl_req_t *req)
{
    const char *user_id = pl_req_param(req, "user");
    const char *role_key = NULL;
    if (pl_json_get_string(req, "role", true, 1, PL_ROLE_KEY_MAX, &role_key))
        return PL_EINVAL;
    if (!pl_uuid_valid(user_id))
        return not_found(req);
    pl_db_t *db = pl_db_thread();
    if (!db)
        return PL_EDB;
    int rc = pl_db_begin(db);
    if (rc)
        return rc;
    const char *current = NULL;
    pl_role_t target, wanted;
    pl_actor_t actor = pl_orgs_actor(req);
    rc = pl_orgs_store_lock(db, req->ctx.tenant.org_id);
    if (!rc)
        rc = pl_members_store_role(db, req->ctx.arena, req->ctx.tenant.org_id, user_id, &current);
    if (rc == PL_ENOTFOUND)
        rc = not_found(req);
    if (!rc &&
        (rc = pl_orgs_role(req, db, req->ctx.tenant.org_id, current, &target)) == PL_ENOTFOUND)
        rc = PL_EINTERNAL;
    if (!rc &&
        (rc = pl_orgs_role(req, db, req->ctx.tenant.org_id, role_key, &wanted)) == PL_ENOTFOUND) {
        pl_req_field_error(req, "role", "invalid", "No such role in this organization.");
        rc = PL_EINVAL;
    }
    if (!rc && !pl_rbac_may_manage(&actor, target.level))
        rc = forbidden(req, "You can only change members below your own role.");
    if (!rc && !pl_rbac_may_assign(&actor, &wanted))
        rc = forbidden(req, "You cannot grant a role you do not outrank.");
    if (!rc && strcmp(wanted.key, "owner"))
        rc = check_last_owner(req, db, current);
    if (!rc)
        rc = pl_members_store_set_role(db, req->ctx.tenant.org_id, user_id, wanted.key);
    if (!rc) {
        json_t *d = json_pack("{s:s, s:s}", "from", current, "to", wanted.key);
        rc = pl_audit_append(db, &req->ctx, req->ctx.tenant.org_id, "member.role_updated", "user",
                             user_id, d);
        json_decref(d);
    }
    if (!rc)
        rc = member_response(req, db, user_id);
    return pl_db_finish(db, rc);
}

int pl_members_remove(pl_req_t *req)
{
    const char *user_id = pl_req_param(req, "user");
    if (!pl_uuid_valid(user_id))
        return not_found(req);
    bool self = !strcmp(user_id, req->ctx.principal.user_id);
    pl_db_t *db = pl_db_thread();
    if (!db)
        return PL_EDB;
    int rc = pl_db_begin(db);
    if (rc)
        return rc;
    const char *current = NULL;
    pl_role_t target;
    pl_actor_t actor = pl_orgs_actor(req);
    rc = pl_orgs_store_lock(db, req->ctx.tenant.org_id);
    if (!rc)
        rc = pl_members_store_role(db, req->ctx.arena, req->ctx.tenant.org_id, user_id, &current);
    if (rc == PL_ENOTFOUND)
        rc = not_found(req);
    if (!rc &&
        (rc = pl_orgs_role(req, db, req->ctx.tenant.org_id, current, &target)) == PL_ENOTFOUND)
        rc = PL_EINTERNAL;
    /* leaving needs no permission; removing someone else needs member.remove
     * and a strictly higher role */
    if (!rc && !self && !pl_perms_has(&req->ctx.tenant.perms, pl_perm_bit("member.remove")))
        rc = forbidden(req, "Your role does not allow removing members.");
    if (!rc && !self && !pl_rbac_may_manage(&actor, target.level))
        rc = forbidden(req, "You can only remove members below your own role.");
    if (!rc)
        rc = check_last_owner(req, db, current);
    if (!rc)
        rc = pl_members_store_remove(db, req->ctx.tenant.org_id, user_id);
    if (!rc) {
        json_t *d = json_pack("{s:s, s:b}", "role", current, "left", self);
        rc = pl_audit_append(db, &req->ctx, req->ctx.tenant.org_id, "member.removed", "user",
                             user_id, d);
        json_decref(d);
    }
    if ((rc = pl_db_finish(db, rc)))
        return rc;
    return pl_resp_status(req, 204);
}

/* ---- permissions and roles ---- */

int pl_permissions_list(pl_req_t *req)
{
    json_t *data = json_array();
    for (int i = 0, n = pl_perm_count(); i < n; i++) {
        const char *key, *description;
        pl_perm_entry(i, &key, &description);
        json_array_append_new(data,
                              json_pack("{s:s, s:s}", "key", key, "description", description));
    }
    return pl_resp_json(req, 200, json_pack("{s:o}", "data", data));
}

static json_t *role_json(const char *id, const char *key, const char *name, int level, bool builtin,
                         const pl_perms_t *perms)
{
    return json_pack("{s:s, s:s, s:s, s:i, s:b, s:o}", "id", id, "key", key, "name", name, "level",
                     level, "builtin", builtin, "permissions", pl_perms_to_json(perms));
}

static void add_role(void *ctx, const pl_custom_role_t *r)
{
    pl_perms_t perms;
    pl_perms_from_text(r->permissions, &perms);
    json_array_append_new((json_t *)ctx,
                          role_json(r->id, r->key, r->name, r->level, false, &perms));
}

int pl_roles_list(pl_req_t *req)
{
    pl_db_t *db = pl_db_thread();
    if (!db)
        return PL_EDB;
    json_t *data = json_array();
    for (int i = 0; i < pl_rbac_builtin_count(); i++) {
        pl_role_t r;
        pl_rbac_builtin_at(i, &r);
        char id[40];
        snprintf(id, sizeof(id), "builtin-%s", r.key);
        json_array_append_new(data, role_json(id, r.key, r.name, r.level, true, &r.perms));
    }
    int rc = pl_roles_store_list(db, req->ctx.arena, req->ctx.tenant.org_id, add_role, data);
    if (rc) {
        json_decref(data);
        return rc;
    }
    return pl_resp_list(req, data, NULL);
}

/* Reads name, level and permissions of a custom role (each optional when
 * updating), checks them against the caller; fills r. */
static int role_input(pl_req_t *req, bool required, pl_custom_role_t *r, pl_perms_t *perms)
{
    const char *name = NULL;
    int64_t level = r->level;
    pl_json_get_string(req, "name", required, 1, NAME_MAX_BYTES, &name);
    pl_json_get_int(req, "level", required, 1, 3, &level);
    json_t *jp = req->json ? json_object_get(req->json, "permissions") : NULL;
    const char *bad = NULL;
    if (jp && !json_is_null(jp)) {
        if (pl_perms_from_json(jp, perms, &bad))
            pl_req_field_error(
                req, "permissions", "invalid",
                bad ? pl_arena_printf(req->ctx.arena, "Unknown permission \"%s\".", bad)
                    : "Must be an array of permission keys.");
    } else if (required) {
        pl_req_field_error(req, "permissions", "required", "This field is required.");
    }
    if (pl_req_validated(req))
        return PL_EINVAL;
    if (name)
        r->name = name;
    r->level = (int)level;
    pl_actor_t actor = pl_orgs_actor(req);
    if (!pl_rbac_may_define(&actor, r->level, perms))
        return forbidden(req, "A role cannot hold permissions you do not have.");
    r->permissions = pl_perms_to_text(req->ctx.arena, perms);
    return PL_OK;
}

static int audit_role(pl_db_t *db, pl_req_t *req, const char *action, const pl_custom_role_t *r)
{
    pl_perms_t perms;
    pl_perms_from_text(r->permissions, &perms);
    json_t *d = json_pack("{s:s, s:s, s:i, s:o}", "key", r->key, "name", r->name, "level", r->level,
                          "permissions", pl_perms_to_json(&perms));
    int rc = pl_audit_append(db, &req->ctx, req->ctx.tenant.org_id, action, "role", r->key, d);
    json_decref(d);
    return rc;
}

static int builtin_role(pl_req_t *req)
{
    return pl_req_fail(req, 409, "builtin_role", "Built-in roles cannot be changed.");
}

int pl_roles_create(pl_req_t *req)
{
    const char *key = NULL;
    if (pl_json_get_string(req, "key", true, 1, PL_ROLE_KEY_MAX, &key) == PL_OK &&
        pl_rbac_is_builtin(key))
        return builtin_role(req);
    if (key && !pl_rbac_key_valid(key))
        pl_req_field_error(req, "key", "invalid",
                           "Use 2 to 32 of a-z, 0-9, _ and -, starting with a letter.");
    pl_custom_role_t r = {0};
    pl_perms_t perms;
    pl_perms_clear(&perms);
    char id[37];
    pl_uuid7(id);
    r.id = id;
    r.key = key;
    int rc = role_input(req, true, &r, &perms);
    if (rc)
        return rc;
    pl_db_t *db = pl_db_thread();
    if (!db)
        return PL_EDB;
    if ((rc = pl_db_begin(db)))
        return rc;
    rc = pl_roles_store_insert(db, req->ctx.tenant.org_id, &r, pl_now_ms());
    if (!rc)
        rc = audit_role(db, req, "role.created", &r);
    if ((rc = pl_db_finish(db, rc))) {
        if (rc == PL_ECONFLICT)
            return pl_req_fail(req, 409, "conflict", "A role with this key exists.");
        return rc;
    }
    return pl_resp_json(req, 201, role_json(r.id, r.key, r.name, r.level, false, &perms));
}

int pl_roles_update(pl_req_t *req)
{
    const char *key = pl_req_param(req, "key");
    if (pl_rbac_is_builtin(key))
        return builtin_role(req);
    pl_db_t *db = pl_db_thread();
    if (!db)
        return PL_EDB;
    int rc = pl_db_begin(db);
    if (rc)
        return rc;
    pl_custom_role_t r;
    pl_perms_t perms;
    pl_perms_clear(&perms);
    rc = pl_orgs_store_lock(db, req->ctx.tenant.org_id);
    if (!rc)
        rc = pl_roles_store_get(db, req->ctx.arena, req->ctx.tenant.org_id, key, &r);
    if (rc == PL_ENOTFOUND)
        rc = not_found(req);
    if (!rc) {
        pl_perms_from_text(r.permissions, &perms);
        /* editing is bound by the creation rule, for the role as it is too */
        pl_actor_t actor = pl_orgs_actor(req);
        if (!pl_rbac_may_define(&actor, r.level, &perms))
            rc = forbidden(req, "This role holds permissions you do not have.");
    }
    if (!rc)
        rc = role_input(req, false, &r, &perms);
    if (!rc)
        rc = pl_roles_store_update(db, req->ctx.tenant.org_id, &r, pl_now_ms());
    if (!rc)
        rc = audit_role(db, req, "role.updated", &r);
    if ((rc = pl_db_finish(db, rc)))
        return rc;
    return pl_resp_json(req, 200, role_json(r.id, r.key, r.name, r.level, false, &perms));
}

int pl_roles_delete(pl_req_t *req)
{
    const char *key = pl_req_param(req, "key");
    if (pl_rbac_is_builtin(key))
        return builtin_role(req);
    pl_db_t *db = pl_db_thread();
    if (!db)
        return PL_EDB;
    int rc = pl_db_begin(db);
    if (rc)
        return rc;
    pl_custom_role_t r;
    int64_t used = 0;
    rc = pl_orgs_store_lock(db, req->ctx.tenant.org_id);
    if (!rc)
        rc = pl_roles_store_get(db, req->ctx.arena, req->ctx.tenant.org_id, key, &r);
    if (rc == PL_ENOTFOUND)
        rc = not_found(req);
    if (!rc) {
        pl_actor_t actor = pl_orgs_actor(req);
        pl_perms_t held;
        pl_perms_from_text(r.permissions, &held);
        if (!pl_rbac_may_define(&actor, r.level, &held))
            rc = forbidden(req, "This role holds permissions you do not have.");
    }
    if (!rc)
        rc = pl_roles_store_usage(db, req->ctx.tenant.org_id, key, &used);
    if (!rc && used > 0)
        rc = pl_req_fail(req, 409, "role_in_use", "Members or pending invitations hold this role.");
    if (!rc)
        rc = pl_roles_store_delete(db, req->ctx.tenant.org_id, key);
    if (!rc)
        rc = audit_role(db, req, "role.deleted", &r);
    if ((rc = pl_db_finish(db, rc)))
        return rc;
    return pl_resp_status(req, 204);
}

/* ---- the module ---- */

bool pl_orgs_require_verified_email;

static const pl_option_t options[] = {
    {NULL, "PLINTH_REQUIRE_VERIFIED_EMAIL", PL_OPT_BOOL, &pl_orgs_require_verified_email, 0, 0, 0,
     PL_OPT_SERVE, "0|1",
     "creating organizations and invitations needs a verified email (default 0)", NULL},
    {0},
};

#define J PL_ROUTE_JSON

/* Every route under /v1/orgs/{org} names the permission it needs; the
 * authorization step resolves the caller's membership first. NULL = any
 * member (removing a member checks member.remove unless the member leaves
 * by themself). */
static pl_route_t routes[] = {
    {PL_M_POST, "/v1/orgs", pl_orgs_create, PL_AUTH_USER, NULL, J},
    {PL_M_GET, "/v1/orgs", pl_orgs_list, PL_AUTH_USER, NULL, 0},
    {PL_M_GET, "/v1/orgs/{org}", pl_orgs_get, PL_AUTH_ORG, "org.read", 0},
    {PL_M_PATCH, "/v1/orgs/{org}", pl_orgs_update, PL_AUTH_ORG, "org.update", J},
    {PL_M_DELETE, "/v1/orgs/{org}", pl_orgs_delete, PL_AUTH_ORG, "org.delete", 0},
    {PL_M_GET, "/v1/orgs/{org}/members", pl_members_list, PL_AUTH_ORG, "member.read", 0},
    {PL_M_PATCH, "/v1/orgs/{org}/members/{user}", pl_members_update, PL_AUTH_ORG,
     "member.update_role", J},
    {PL_M_DELETE, "/v1/orgs/{org}/members/{user}", pl_members_remove, PL_AUTH_ORG, NULL, 0},
    {PL_M_POST, "/v1/orgs/{org}/invitations", pl_invitations_create, PL_AUTH_ORG, "member.invite",
     J},
    {PL_M_GET, "/v1/orgs/{org}/invitations", pl_invitations_list, PL_AUTH_ORG, "member.invite", 0},
    {PL_M_DELETE, "/v1/orgs/{org}/invitations/{id}", pl_invitations_revoke, PL_AUTH_ORG,
     "member.invite", 0},
    {PL_M_POST, "/v1/invitations/accept", pl_invitations_accept, PL_AUTH_USER, NULL, J},
    {PL_M_GET, "/v1/orgs/{org}/teams", pl_teams_list, PL_AUTH_ORG, "team.read", 0},
    {PL_M_POST, "/v1/orgs/{org}/teams", pl_teams_create, PL_AUTH_ORG, "team.manage", J},
    {PL_M_GET, "/v1/orgs/{org}/teams/{team}", pl_teams_get, PL_AUTH_ORG, "team.read", 0},
    {PL_M_PATCH, "/v1/orgs/{org}/teams/{team}", pl_teams_update, PL_AUTH_ORG, "team.manage", J},
    {PL_M_DELETE, "/v1/orgs/{org}/teams/{team}", pl_teams_delete, PL_AUTH_ORG, "team.manage", 0},
    {PL_M_PUT, "/v1/orgs/{org}/teams/{team}/members/{user}", pl_teams_member_add, PL_AUTH_ORG,
     "team.manage", J},
    {PL_M_DELETE, "/v1/orgs/{org}/teams/{team}/members/{user}", pl_teams_member_remove, PL_AUTH_ORG,
     "team.manage", 0},
    {PL_M_GET, "/v1/orgs/{org}/roles", pl_roles_list, PL_AUTH_ORG, "role.read", 0},
    {PL_M_POST, "/v1/orgs/{org}/roles", pl_roles_create, PL_AUTH_ORG, "role.manage", J},
    {PL_M_PATCH, "/v1/orgs/{org}/roles/{key}", pl_roles_update, PL_AUTH_ORG, "role.manage", J},
    {PL_M_DELETE, "/v1/orgs/{org}/roles/{key}", pl_roles_delete, PL_AUTH_ORG, "role.manage", 0},
    {PL_M_GET, "/v1/permissions", pl_permissions_list, PL_AUTH_USER, NULL, 0},
    {PL_M_GET, "/v1/admin/orgs", pl_orgs_admin_list, PL_AUTH_ADMIN, NULL, 0},
    {0},
};

static const pl_perm_def_t perms[] = {
    {"org.read", "See the organization", PL_ROLES_VIEWER},
    {"org.update", "Rename the organization and change its slug", PL_ROLES_ADMIN},
    {"org.delete", "Delete the organization", PL_ROLES_OWNER},
    {"member.read", "See members", PL_ROLES_VIEWER},
    {"member.invite", "Invite people and manage invitations", PL_ROLES_ADMIN},
    {"member.update_role", "Change members' roles", PL_ROLES_ADMIN},
    {"member.remove", "Remove members", PL_ROLES_ADMIN},
    {"team.read", "See teams", PL_ROLES_MEMBER},
    {"team.manage", "Create, change and delete teams and their members", PL_ROLES_ADMIN},
    {"role.read", "See roles", PL_ROLES_MEMBER},
    {"role.manage", "Create, change and delete custom roles", PL_ROLES_ADMIN},
    {0},
};

static const pl_error_def_t errors[] = {
    {"slug_taken", "Slug already taken"},
    {"last_owner", "Last owner"},
    {"invitation_pending", "Invitation pending"},
    {"already_member", "Already a member"},
    {"role_in_use", "Role in use"},
    {"builtin_role", "Built-in role"},
    {"personal_org", "Personal organization"},
    {0},
};

const pl_module_t pl_orgs_module = {
    .name = "orgs",
    .routes = routes,
    .perms = perms,
    .errors = errors,
    .templates = pl_orgs_templates,
    .options = options,
};
