/* orgs_routes.c - the HTTP face of organizations, members, invitations,
 * teams and roles: parse and validate the JSON shape, call the service
 * (orgs.h) with the request's context, render. Also the module's
 * descriptor. */
#include <stdio.h>
#include <string.h>

#include "auth/auth.h" /* pl_auth_check_email: accounts own email normalisation */
#include "core/tcache.h"
#include "orgs/orgs.h"
#include "web/web.h"

#define PAGE_MAX (16 * 1024 * 1024)

/* ---- rendering ---- */

static void write_org(pl_jw_t *w, const void *item)
{
    const pl_org_t *o = item;
    pl_jw_object_open(w, NULL);
    pl_jw_string(w, "id", o->id);
    pl_jw_string(w, "name", o->name);
    pl_jw_string(w, "slug", o->slug);
    pl_jw_bool(w, "personal", o->personal);
    pl_jw_time(w, "created_at", o->created_at);
    pl_jw_string(w, "role", o->role);
    pl_jw_bool(w, "require_mfa", o->require_mfa);
    pl_jw_object_close(w);
}

static void write_member(pl_jw_t *w, const void *item)
{
    const pl_member_t *m = item;
    pl_jw_object_open(w, NULL);
    pl_jw_string(w, "user_id", m->user_id);
    pl_jw_string(w, "email", m->email);
    pl_jw_string(w, "name", m->name);
    pl_jw_string(w, "role", m->role);
    pl_jw_string(w, "status", "active");
    pl_jw_time(w, "joined_at", m->joined_at);
    pl_jw_object_close(w);
}

static void write_invitation(pl_jw_t *w, const void *item)
{
    const pl_invitation_t *i = item;
    pl_jw_object_open(w, NULL);
    pl_jw_string(w, "id", i->id);
    pl_jw_string(w, "email", i->email);
    /* a project invitation shows the project role it grants */
    pl_jw_string(w, "role", i->project_id ? i->project_role : i->role);
    pl_jw_string(w, "project_id", i->project_id);
    pl_jw_string(w, "status", i->status);
    pl_jw_string(w, "invited_by", i->invited_by);
    pl_jw_time(w, "expires_at", i->expires_at);
    pl_jw_time(w, "created_at", i->created_at);
    pl_jw_object_close(w);
}

static void write_team(pl_jw_t *w, const void *item)
{
    const pl_team_t *t = item;
    pl_jw_object_open(w, NULL);
    pl_jw_string(w, "id", t->id);
    pl_jw_string(w, "name", t->name);
    pl_jw_int(w, "member_count", t->member_count);
    pl_jw_time(w, "created_at", t->created_at);
    pl_jw_object_close(w);
}

static void write_role(pl_jw_t *w, const void *item)
{
    const pl_org_role_t *r = item;
    pl_jw_object_open(w, NULL);
    pl_jw_string(w, "id", r->id);
    pl_jw_string(w, "key", r->key);
    pl_jw_string(w, "name", r->name);
    pl_jw_int(w, "level", r->level);
    pl_jw_bool(w, "builtin", r->builtin);
    pl_perms_write(w, "permissions", &r->perms);
    pl_jw_object_close(w);
}

/* The permission catalog: {"data": [{"key", "description"}]}. */
static void write_catalog(pl_jw_t *w, const void *item)
{
    PL_UNUSED(item);
    pl_jw_object_open(w, NULL);
    pl_jw_array_open(w, "data");
    for (int i = 0, n = pl_perm_count(); i < n; i++) {
        const char *key, *description;
        if (pl_perm_hidden(i))
            continue;
        pl_perm_entry(i, &key, &description);
        pl_jw_object_open(w, NULL);
        pl_jw_string(w, "key", key);
        pl_jw_string(w, "description", description);
        pl_jw_object_close(w);
    }
    pl_jw_array_close(w);
    pl_jw_object_close(w);
}

#define RESP_PAGE(req, page, write)                                                                \
    pl_resp_page((req), (page).items, (size_t)(page).n, sizeof(*(page).items), (write),            \
                 (page).next_cursor)

/* ---- input ---- */

/* An optional slug: a string that follows the slug rules. */
static void get_slug(pl_req_t *req, const char **slug)
{
    if (pl_json_get_string(req, "slug", false, 1, 64, slug) == PL_OK)
        pl_orgs_check_slug(&req->ctx, *slug);
}

/* A permission list: an array of known keys. */
static void get_perms(pl_req_t *req, bool required, pl_perms_t *perms, bool *given)
{
    json_t *v = req->json ? json_object_get(req->json, "permissions") : NULL;
    const char *bad = NULL;
    *given = v && !json_is_null(v);
    if (!*given) {
        if (required)
            pl_req_field_error(req, "permissions", "required", "This field is required.");
    } else if (pl_perms_from_json(v, perms, &bad)) {
        pl_req_field_error(req, "permissions", "invalid",
                           bad ? pl_arena_printf(req->ctx.arena, "Unknown permission \"%s\".", bad)
                               : "Must be an array of permission keys.");
    }
}

/* ---- organizations ---- */

static int orgs_create(pl_req_t *req)
{
    const char *name = NULL, *slug = NULL;
    pl_json_get_name(req, "name", true, 1, PL_ORGS_NAME_MAX, &name);
    get_slug(req, &slug);
    if (pl_req_validated(req))
        return PL_EINVAL;
    PL_DB_THREAD(db);
    pl_org_t o;
    int rc = pl_orgs_create(db, &req->ctx, name, slug, &o);
    return rc ? rc : pl_resp_object(req, 201, write_org, &o);
}

static int list_orgs(pl_req_t *req, bool all)
{
    int limit;
    const char *cursor;
    int rc = pl_req_page_id(req, &limit, &cursor);
    if (rc)
        return rc;
    PL_DB_THREAD(db);
    pl_org_page_t page;
    rc = all ? pl_orgs_list_all(db, &req->ctx, cursor, limit, &page)
             : pl_orgs_list_mine(db, &req->ctx, cursor, limit, &page);
    return rc ? rc : RESP_PAGE(req, page, write_org);
}

static int orgs_list(pl_req_t *req)
{
    return list_orgs(req, false);
}

static int orgs_admin_list(pl_req_t *req)
{
    return list_orgs(req, true);
}

static int orgs_get(pl_req_t *req)
{
    pl_org_t o = pl_orgs_current(&req->ctx);
    return pl_resp_object(req, 200, write_org, &o);
}

static int orgs_update(pl_req_t *req)
{
    const char *name = NULL, *slug = NULL;
    bool require_mfa = false;
    pl_json_get_name(req, "name", false, 1, PL_ORGS_NAME_MAX, &name);
    get_slug(req, &slug);
    bool has_mfa = req->json && json_object_get(req->json, "require_mfa");
    pl_json_get_bool(req, "require_mfa", false, &require_mfa);
    if (pl_req_validated(req))
        return PL_EINVAL;
    PL_DB_THREAD(db);
    pl_org_t o;
    int rc = pl_orgs_update(db, &req->ctx, name, slug, has_mfa ? &require_mfa : NULL, &o);
    return rc ? rc : pl_resp_object(req, 200, write_org, &o);
}

static int orgs_delete(pl_req_t *req)
{
    PL_DB_THREAD(db);
    int rc = pl_orgs_delete(db, &req->ctx);
    return rc ? rc : pl_resp_status(req, 204);
}

/* ---- members ---- */

/* Rendered member-list pages, keyed by org, limit and cursor, at the org's
 * members_version (read with the authorization, in the request's
 * snapshot): the 50-row query runs once per change, on every instance. */
static pl_tcache_t member_pages = PL_TCACHE_INIT(16, 256 * 1024);

static int members_list(pl_req_t *req)
{
    int limit;
    const char *cursor;
    int rc = pl_req_page_id(req, &limit, &cursor);
    if (rc)
        return rc;
    const pl_tenant_t *t = &req->ctx.tenant;
    char key[PL_TCACHE_KEY_MAX + 1];
    snprintf(key, sizeof(key), "%s %d %s", t->org_id, limit, cursor ? cursor : "");
    size_t len;
    const char *hit = pl_tcache_get(&member_pages, key, t->members_version, &len);
    if (hit)
        return pl_resp_body(req, 200, "application/json", hit, len, false);
    PL_DB_THREAD(db);
    pl_member_page_t page;
    if ((rc = pl_members_list(db, &req->ctx, cursor, limit, &page)))
        return rc;
    pl_buf_t b;
    pl_buf_init(&b, PAGE_MAX);
    rc = pl_page_write(&b, page.items, (size_t)page.n, sizeof(*page.items), write_member,
                       page.next_cursor);
    if (!rc) {
        pl_tcache_put(&member_pages, key, t->members_version, b.ptr, b.len);
        rc = pl_resp_json_buf(req, 200, &b);
    }
    pl_buf_free(&b);
    return rc;
}

static int members_update(pl_req_t *req)
{
    const char *role = NULL;
    if (pl_json_get_string(req, "role", true, 1, PL_ROLE_KEY_MAX, &role))
        return PL_EINVAL;
    PL_DB_THREAD(db);
    pl_member_t m;
    int rc = pl_members_set_role(db, &req->ctx, pl_req_param(req, "user"), role, &m);
    return rc ? rc : pl_resp_object(req, 200, write_member, &m);
}

static int members_remove(pl_req_t *req)
{
    PL_DB_THREAD(db);
    int rc = pl_members_remove(db, &req->ctx, pl_req_param(req, "user"));
    return rc ? rc : pl_resp_status(req, 204);
}

/* ---- invitations ---- */

static int invitations_create(pl_req_t *req)
{
    const char *email_in = NULL, *email = NULL, *role = NULL;
    pl_json_get_string(req, "email", true, 1, 320, &email_in);
    pl_json_get_string(req, "role", true, 1, PL_ROLE_KEY_MAX, &role);
    if (email_in)
        pl_auth_check_email(&req->ctx, "email", email_in, &email);
    if (pl_req_validated(req))
        return PL_EINVAL;
    PL_DB_THREAD(db);
    pl_invitation_t inv;
    int rc = pl_invitations_create(db, &req->ctx, email, role, &inv);
    return rc ? rc : pl_resp_object(req, 201, write_invitation, &inv);
}

static int invitations_list(pl_req_t *req)
{
    int limit;
    const char *cursor;
    int rc = pl_req_page_id(req, &limit, &cursor);
    if (rc)
        return rc;
    PL_DB_THREAD(db);
    pl_invitation_page_t page;
    rc = pl_invitations_list(db, &req->ctx, cursor, limit, &page);
    return rc ? rc : RESP_PAGE(req, page, write_invitation);
}

static int invitations_revoke(pl_req_t *req)
{
    PL_DB_THREAD(db);
    int rc = pl_invitations_revoke(db, &req->ctx, pl_req_param(req, "id"));
    return rc ? rc : pl_resp_status(req, 204);
}

static int invitations_accept(pl_req_t *req)
{
    const char *token = NULL;
    if (pl_json_get_string(req, "token", true, 1, 256, &token))
        return PL_EINVAL;
    PL_DB_THREAD(db);
    pl_org_t o;
    int rc = pl_invitations_accept(db, &req->ctx, token, &o);
    return rc ? rc : pl_resp_object(req, 200, write_org, &o);
}

/* ---- teams ---- */

static int teams_list(pl_req_t *req)
{
    int limit;
    const char *cursor;
    int rc = pl_req_page_id(req, &limit, &cursor);
    if (rc)
        return rc;
    PL_DB_THREAD(db);
    pl_team_page_t page;
    rc = pl_teams_list(db, &req->ctx, cursor, limit, &page);
    return rc ? rc : RESP_PAGE(req, page, write_team);
}

static int teams_create(pl_req_t *req)
{
    const char *name = NULL;
    if (pl_json_get_name(req, "name", true, 1, PL_ORGS_NAME_MAX, &name))
        return PL_EINVAL;
    PL_DB_THREAD(db);
    pl_team_t t;
    int rc = pl_teams_create(db, &req->ctx, name, &t);
    return rc ? rc : pl_resp_object(req, 201, write_team, &t);
}

static int teams_get(pl_req_t *req)
{
    PL_DB_THREAD(db);
    pl_team_t t;
    int rc = pl_teams_get(db, &req->ctx, pl_req_param(req, "team"), &t);
    return rc ? rc : pl_resp_object(req, 200, write_team, &t);
}

static int teams_update(pl_req_t *req)
{
    const char *name = NULL;
    if (pl_json_get_name(req, "name", true, 1, PL_ORGS_NAME_MAX, &name))
        return PL_EINVAL;
    PL_DB_THREAD(db);
    pl_team_t t;
    int rc = pl_teams_rename(db, &req->ctx, pl_req_param(req, "team"), name, &t);
    return rc ? rc : pl_resp_object(req, 200, write_team, &t);
}

static int teams_delete(pl_req_t *req)
{
    PL_DB_THREAD(db);
    int rc = pl_teams_delete(db, &req->ctx, pl_req_param(req, "team"));
    return rc ? rc : pl_resp_status(req, 204);
}

static int team_member(pl_req_t *req, bool add)
{
    PL_DB_THREAD(db);
    const char *team = pl_req_param(req, "team"), *user = pl_req_param(req, "user");
    int rc = add ? pl_teams_member_add(db, &req->ctx, team, user)
                 : pl_teams_member_remove(db, &req->ctx, team, user);
    return rc ? rc : pl_resp_status(req, 204);
}

static int teams_member_add(pl_req_t *req)
{
    return team_member(req, true);
}

static int teams_member_remove(pl_req_t *req)
{
    return team_member(req, false);
}

/* ---- permissions and roles ---- */

static int permissions_list(pl_req_t *req)
{
    return pl_resp_object(req, 200, write_catalog, NULL);
}

static int roles_list(pl_req_t *req)
{
    PL_DB_THREAD(db);
    pl_role_list_t roles;
    int rc = pl_roles_list(db, &req->ctx, &roles);
    return rc ? rc
              : pl_resp_page(req, roles.items, (size_t)roles.n, sizeof(*roles.items), write_role,
                             NULL);
}

/* The fields of a custom role (each optional when updating): name, level
 * and permissions. */
typedef struct {
    const char *name;
    int level;
    bool has_level, has_perms;
    pl_perms_t perms;
} role_input_t;

static int role_input(pl_req_t *req, bool required, role_input_t *in)
{
    int64_t level = INT64_MIN; /* stays so when absent */
    memset(in, 0, sizeof(*in));
    pl_json_get_name(req, "name", required, 1, PL_ORGS_NAME_MAX, &in->name);
    pl_json_get_int(req, "level", required, PL_ROLE_LEVEL_CUSTOM_MIN, PL_ROLE_LEVEL_CUSTOM_MAX,
                    &level);
    in->has_level = level != INT64_MIN;
    in->level = in->has_level ? (int)level : 0;
    get_perms(req, required, &in->perms, &in->has_perms);
    return pl_req_validated(req);
}

static int roles_create(pl_req_t *req)
{
    const char *key = NULL;
    role_input_t in = {0};
    /* a built-in key is refused (409, by the service) before the other
     * fields are looked at */
    if (pl_json_get_string(req, "key", true, 1, PL_ROLE_KEY_MAX, &key) ||
        !pl_rbac_is_builtin(key)) {
        if (key)
            pl_roles_check_key(&req->ctx, key);
        if (role_input(req, true, &in))
            return PL_EINVAL;
    }
    PL_DB_THREAD(db);
    pl_org_role_t r;
    int rc = pl_roles_create(db, &req->ctx, key, in.name, in.level, &in.perms, &r);
    return rc ? rc : pl_resp_object(req, 201, write_role, &r);
}

static int roles_update(pl_req_t *req)
{
    const char *key = pl_req_param(req, "key");
    PL_DB_THREAD(db);
    role_input_t in;
    pl_org_role_t r;
    /* the role must be one the caller may change before its new fields are
     * looked at; the update checks it again under the org's lock */
    int rc = pl_roles_get_editable(db, &req->ctx, key, &r);
    if (!rc)
        rc = role_input(req, false, &in);
    if (!rc)
        rc = pl_roles_update(db, &req->ctx, key, in.name, in.has_level ? &in.level : NULL,
                             in.has_perms ? &in.perms : NULL, &r);
    return rc ? rc : pl_resp_object(req, 200, write_role, &r);
}

static int roles_delete(pl_req_t *req)
{
    PL_DB_THREAD(db);
    int rc = pl_roles_delete(db, &req->ctx, pl_req_param(req, "key"));
    return rc ? rc : pl_resp_status(req, 204);
}

/* ---- the module ---- */

static const pl_option_t options[] = {
    {NULL, "PLINTH_REQUIRE_VERIFIED_EMAIL", PL_OPT_BOOL, &pl_orgs_require_verified_email, 0, 0, 0,
     PL_OPT_SERVE, "0|1",
     "creating organizations and invitations needs a verified email (default 0)", NULL},
    {"invite-limit", "PLINTH_INVITE_LIMIT", PL_OPT_INT, &pl_orgs_invite_limit, 0, 0, 1000000,
     PL_OPT_SERVE, "N", "invitation emails per organization per hour, 0 for no limit (default 100)",
     NULL},
    {"invite-recipient-limit", "PLINTH_INVITE_RECIPIENT_LIMIT", PL_OPT_INT,
     &pl_orgs_invite_recipient_limit, 0, 0, 1000000, PL_OPT_SERVE, "N",
     "invitation emails to one address per organization per hour, 0 for no limit (default 3)",
     NULL},
    {0},
};

#define J  PL_ROUTE_JSON
#define AO PL_ROUTE_ADMIN_ORG

/* Every route under /v1/orgs/{org} names the permission it needs; the
 * authorization step resolves the caller's membership first. NULL = any
 * member (removing a member checks member.remove unless the member leaves
 * by themself). */
static pl_route_t routes[] = {
    {PL_M_POST, "/v1/orgs", orgs_create, PL_AUTH_USER, NULL, J},
    {PL_M_GET, "/v1/orgs", orgs_list, PL_AUTH_USER, NULL, 0},
    {PL_M_GET, "/v1/orgs/{org}", orgs_get, PL_AUTH_ORG, "org.read", 0},
    {PL_M_PATCH, "/v1/orgs/{org}", orgs_update, PL_AUTH_ORG, "org.update", J},
    {PL_M_DELETE, "/v1/orgs/{org}", orgs_delete, PL_AUTH_ORG, "org.delete", 0},
    {PL_M_GET, "/v1/orgs/{org}/members", members_list, PL_AUTH_ORG, "member.read", 0},
    {PL_M_PATCH, "/v1/orgs/{org}/members/{user}", members_update, PL_AUTH_ORG, "member.update_role",
     J},
    {PL_M_DELETE, "/v1/orgs/{org}/members/{user}", members_remove, PL_AUTH_ORG, NULL, 0},
    {PL_M_POST, "/v1/orgs/{org}/invitations", invitations_create, PL_AUTH_ORG, "member.invite", J},
    {PL_M_GET, "/v1/orgs/{org}/invitations", invitations_list, PL_AUTH_ORG, "member.invite", 0},
    {PL_M_DELETE, "/v1/orgs/{org}/invitations/{id}", invitations_revoke, PL_AUTH_ORG,
     "member.invite", 0},
    {PL_M_POST, "/v1/invitations/accept", invitations_accept, PL_AUTH_USER, NULL, J},
    {PL_M_GET, "/v1/orgs/{org}/teams", teams_list, PL_AUTH_ORG, "team.read", 0},
    {PL_M_POST, "/v1/orgs/{org}/teams", teams_create, PL_AUTH_ORG, "team.manage", J},
    {PL_M_GET, "/v1/orgs/{org}/teams/{team}", teams_get, PL_AUTH_ORG, "team.read", 0},
    {PL_M_PATCH, "/v1/orgs/{org}/teams/{team}", teams_update, PL_AUTH_ORG, "team.manage", J},
    {PL_M_DELETE, "/v1/orgs/{org}/teams/{team}", teams_delete, PL_AUTH_ORG, "team.manage", 0},
    {PL_M_PUT, "/v1/orgs/{org}/teams/{team}/members/{user}", teams_member_add, PL_AUTH_ORG,
     "team.manage", J},
    {PL_M_DELETE, "/v1/orgs/{org}/teams/{team}/members/{user}", teams_member_remove, PL_AUTH_ORG,
     "team.manage", 0},
    {PL_M_GET, "/v1/orgs/{org}/roles", roles_list, PL_AUTH_ORG, "role.read", 0},
    /* the instance admin's view of any organization (the dashboard) */
    {PL_M_GET, "/v1/admin/orgs/{org}", orgs_get, PL_AUTH_ADMIN, NULL, AO},
    {PL_M_GET, "/v1/admin/orgs/{org}/members", members_list, PL_AUTH_ADMIN, NULL, AO},
    {PL_M_GET, "/v1/admin/orgs/{org}/roles", roles_list, PL_AUTH_ADMIN, NULL, AO},
    {PL_M_POST, "/v1/orgs/{org}/roles", roles_create, PL_AUTH_ORG, "role.manage", J},
    {PL_M_PATCH, "/v1/orgs/{org}/roles/{key}", roles_update, PL_AUTH_ORG, "role.manage", J},
    {PL_M_DELETE, "/v1/orgs/{org}/roles/{key}", roles_delete, PL_AUTH_ORG, "role.manage", 0},
    {PL_M_GET, "/v1/permissions", permissions_list, PL_AUTH_USER, NULL, 0},
    {PL_M_GET, "/v1/admin/orgs", orgs_admin_list, PL_AUTH_ADMIN, NULL, 0},
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
