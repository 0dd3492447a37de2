/* projects.c - the access rules of projects and environments (the one place
 * they are written), resolving {project} references, projects and their
 * members, project invitations, and the module's init. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "billing/billing.h"
#include "core/rows.h"
#include "platform/audit/audit.h"
#include "platform/keys/keys.h"
#include "projects/projects_int.h"

/* ---- the rules ---- */

static int project_admin_bit(void)
{
    static int bit = -1; /* the catalog never renumbers: a benign race */
    if (bit < 0)
        bit = pl_perm_bit("project.admin");
    return bit;
}

pl_project_role_t pl_projects_effective_role(const pl_perms_t *org_perms, const char *member_role)
{
    /* project.admin acts as owner of every project of the organization */
    if (org_perms && pl_perms_has(org_perms, project_admin_bit()))
        return PL_PROJECT_OWNER;
    return pl_project_role_parse(member_role);
}

pl_env_role_t pl_env_effective_role(pl_project_role_t project_role, const char *grant)
{
    /* project owners administer every environment of the project; members
     * have what they were granted, and nothing without a grant */
    if (project_role == PL_PROJECT_OWNER)
        return PL_ENV_ADMINISTRATOR;
    if (project_role == PL_PROJECT_NONE)
        return PL_ENV_NONE;
    return pl_env_role_parse(grant);
}

const char *pl_project_role_name(pl_project_role_t r)
{
    switch (r) {
    case PL_PROJECT_OWNER:
        return "owner";
    case PL_PROJECT_MEMBER:
        return "member";
    default:
        return NULL;
    }
}

pl_project_role_t pl_project_role_parse(const char *s)
{
    if (s && !strcmp(s, "owner"))
        return PL_PROJECT_OWNER;
    if (s && !strcmp(s, "member"))
        return PL_PROJECT_MEMBER;
    return PL_PROJECT_NONE;
}

const char *pl_env_role_name(pl_env_role_t r)
{
    switch (r) {
    case PL_ENV_ADMINISTRATOR:
        return "administrator";
    case PL_ENV_MANAGER:
        return "manager";
    case PL_ENV_VIEWER:
        return "viewer";
    default:
        return NULL;
    }
}

pl_env_role_t pl_env_role_parse(const char *s)
{
    if (s && !strcmp(s, "administrator"))
        return PL_ENV_ADMINISTRATOR;
    if (s && !strcmp(s, "manager"))
        return PL_ENV_MANAGER;
    if (s && !strcmp(s, "viewer"))
        return PL_ENV_VIEWER;
    return PL_ENV_NONE;
}

/* ---- shared helpers ---- */

static int no_project(pl_ctx_t *ctx)
{
    return pl_fail(ctx, 404, "not_found", "No such project.");
}

static int forbidden(pl_ctx_t *ctx, const char *detail)
{
    return pl_fail(ctx, 403, "forbidden", detail);
}

/* A reference that can name something: an id, or a slug-shaped string. */
static bool ref_ok(const char *ref)
{
    size_t n = ref ? strlen(ref) : 0;
    return n > 0 && n <= 64;
}

const char *pl_projects_actor(const pl_ctx_t *ctx)
{
    if (ctx->principal.user_id[0])
        return ctx->principal.user_id;
    if (ctx->principal.api_key_id[0])
        return ctx->principal.api_key_id;
    return NULL;
}

int pl_projects_audit(pl_db_t *db, pl_ctx_t *ctx, const char *action, const char *target_type,
                      const char *target_id, json_t *data)
{
    int rc = pl_audit_append(db, ctx, ctx->tenant.org_id, action, target_type, target_id, data);
    json_decref(data);
    return rc;
}

int pl_projects_slug_taken(pl_ctx_t *ctx)
{
    pl_field_error(ctx, "slug", "taken", "This slug is already in use.");
    return pl_fail(ctx, 409, "slug_taken", "This slug is already in use.");
}

char *pl_projects_slug_from(pl_arena_t *a, const char *name, const char *fallback)
{
    char *out = pl_arena_alloc(a, PL_ORGS_SLUG_MAX + 1);
    size_t k = 0;
    for (const char *p = name; *p && k < PL_ORGS_SLUG_MAX; p++) {
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
    out[k] = '\0';
    if (pl_orgs_slug_valid(out))
        return out;
    return pl_projects_slug_suffixed(a, name, fallback);
}

char *pl_projects_slug_suffixed(pl_arena_t *a, const char *name, const char *fallback)
{
    char *out = pl_arena_alloc(a, PL_ORGS_SLUG_MAX + 1);
    pl_orgs_slug_derive(name, fallback, out);
    return out;
}

const char *pl_secrets_ad(char out[PL_SECRETS_AD_MAX], const char *org_id, const char *env_id,
                          const char *key, int64_t version)
{
    snprintf(out, PL_SECRETS_AD_MAX, "secret/%s/%s/%s/%lld", org_id, env_id, key,
             (long long)version);
    return out;
}

int pl_projects_resolve(pl_db_t *db, pl_ctx_t *ctx, const char *ref, pl_project_role_t need,
                        pl_project_t *out)
{
    if (!ref_ok(ref))
        return no_project(ctx);
    pl_project_row_t r;
    int rc = pl_projects_store_get(db, ctx->arena, ctx->tenant.org_id, ctx->principal.user_id, ref,
                                   pl_uuid_valid(ref), &r);
    if (rc == PL_ENOTFOUND)
        return no_project(ctx);
    if (rc)
        return rc;
    r.p.role = pl_projects_effective_role(&ctx->tenant.perms, r.member_role);
    if (r.p.role == PL_PROJECT_NONE) /* it does not exist for them */
        return no_project(ctx);
    *out = r.p;
    if (r.p.role < need)
        return forbidden(ctx, "Only the project's owners may do this.");
    return PL_OK;
}

int pl_environments_resolve(pl_db_t *db, pl_ctx_t *ctx, const char *project_ref,
                            const char *env_ref, pl_env_role_t need, pl_project_t *p,
                            pl_environment_t *e)
{
    if (!ref_ok(project_ref) || !ref_ok(env_ref))
        return pl_fail(ctx, 404, "not_found", "No such environment.");
    pl_env_row_t r;
    int rc = pl_environments_store_get(db, ctx->arena, ctx->tenant.org_id, ctx->principal.user_id,
                                       project_ref, pl_uuid_valid(project_ref), env_ref,
                                       pl_uuid_valid(env_ref), &r);
    if (rc == PL_ENOTFOUND)
        return pl_fail(ctx, 404, "not_found", "No such environment.");
    if (rc)
        return rc;
    r.proj.p.role = pl_projects_effective_role(&ctx->tenant.perms, r.proj.member_role);
    r.e.role = pl_env_effective_role(r.proj.p.role, r.grant);
    if (r.e.role == PL_ENV_NONE)
        return pl_fail(ctx, 404, "not_found", "No such environment.");
    *p = r.proj.p;
    *e = r.e;
    if (r.e.role < need)
        return forbidden(ctx, need == PL_ENV_ADMINISTRATOR
                                  ? "Only the environment's administrators may do this."
                                  : "Your role in this environment does not allow this.");
    return PL_OK;
}

int pl_projects_can_access(pl_db_t *db, pl_ctx_t *ctx, const char *project_id, const char *env_id)
{
    if (!pl_uuid_valid(project_id) || (env_id && !pl_uuid_valid(env_id)))
        return PL_ENOTFOUND;
    int rc;
    if (env_id) {
        pl_env_row_t r;
        rc = pl_environments_store_get(db, ctx->arena, ctx->tenant.org_id, ctx->principal.user_id,
                                       project_id, true, env_id, true, &r);
        if (rc)
            return rc;
        pl_project_role_t pr = pl_projects_effective_role(&ctx->tenant.perms, r.proj.member_role);
        return pl_env_effective_role(pr, r.grant) != PL_ENV_NONE ? PL_OK : PL_ENOTFOUND;
    }
    pl_project_row_t r;
    rc = pl_projects_store_get(db, ctx->arena, ctx->tenant.org_id, ctx->principal.user_id,
                               project_id, true, &r);
    if (rc)
        return rc;
    return pl_projects_effective_role(&ctx->tenant.perms, r.member_role) != PL_PROJECT_NONE
               ? PL_OK
               : PL_ENOTFOUND;
}

/* ---- projects ---- */

int pl_projects_list(pl_db_t *db, pl_ctx_t *ctx, const char *cursor, int limit,
                     pl_project_page_t *out)
{
    bool all = pl_projects_effective_role(&ctx->tenant.perms, NULL) == PL_PROJECT_OWNER;
    const char *user = pl_ctx_user(ctx);
    pl_rows_t rows;
    pl_rows_init(&rows, ctx->arena, sizeof(pl_project_row_t), limit);
    /* an API key is nobody's project member: it sees projects only through
     * project.admin */
    int rc = all || user ? pl_projects_store_list(db, ctx->arena, ctx->tenant.org_id, user, all,
                                                  cursor, &rows)
                         : PL_OK;
    if (rc)
        return rc;
    pl_project_t *items = pl_arena_alloc(ctx->arena, sizeof(*items) * (size_t)(rows.n + 1));
    for (int i = 0; i < rows.n; i++) {
        pl_project_row_t *r = pl_rows_at(&rows, i);
        items[i] = r->p;
        items[i].role = pl_projects_effective_role(&ctx->tenant.perms, r->member_role);
    }
    out->items = items;
    out->n = rows.n;
    out->next_cursor = rows.more ? items[rows.n - 1].id : NULL;
    return PL_OK;
}

static const char *const default_envs[] = {"development", "staging", "production"};

static int cmp_ids(const void *a, const void *b)
{
    return strcmp(a, b);
}

/* Creates the environments of a new project, in the caller's transaction. */
static int create_envs(pl_db_t *db, pl_ctx_t *ctx, const pl_project_t *p, const char *const *names,
                       int n, int64_t now)
{
    /* ids made within one millisecond are not ordered: sort them, so the
     * environments list (by id) shows them in the order given */
    char(*ids)[PL_ID_LEN] = pl_arena_alloc(ctx->arena, PL_ID_LEN * (size_t)(n + 1));
    for (int i = 0; i < n; i++)
        pl_uuid7(ids[i]);
    qsort(ids, (size_t)n, PL_ID_LEN, cmp_ids);
    int rc = PL_OK;
    for (int i = 0; !rc && i < n; i++) {
        const char *id = ids[i];
        pl_environment_t e = {.id = id,
                              .project_id = p->id,
                              .name = names[i],
                              .slug = pl_projects_slug_from(ctx->arena, names[i], "env"),
                              .created_at = now};
        rc = pl_environments_store_insert(db, ctx->tenant.org_id, &e, now);
        if (rc == PL_ECONFLICT) {
            pl_field_error(ctx, "environments", "duplicate",
                           "Two environments would have the same slug.");
            rc = PL_EINVAL;
        }
        if (!rc)
            rc = pl_projects_audit(db, ctx, "environment.created", "environment", e.id,
                                   json_pack("{s:s, s:s, s:s, s:s}", "project_id", p->id,
                                             "environment_id", e.id, "name", e.name, "slug",
                                             e.slug));
    }
    return rc;
}

/* Two names that reduce to the same slug would collide: 422 up front (on
 * PostgreSQL a failed insert ends the transaction). */
static int check_env_names(pl_ctx_t *ctx, const char *const *names, int n)
{
    for (int i = 0; i < n; i++)
        for (int j = 0; j < i; j++) {
            const char *a = pl_projects_slug_from(ctx->arena, names[i], "env");
            const char *b = pl_projects_slug_from(ctx->arena, names[j], "env");
            if (!strcmp(a, b)) {
                pl_field_error(ctx, "environments", "duplicate",
                               "Two environments would have the same slug.");
                return PL_EINVAL;
            }
        }
    return PL_OK;
}

/* A free slug: the one given (409 when taken), or one derived from name. */
static int project_slug(pl_db_t *db, pl_ctx_t *ctx, const char *name, const char *given,
                        const char *self_id, const char **out)
{
    const char *slug = given ? given : pl_projects_slug_from(ctx->arena, name, "project");
    pl_project_row_t r;
    int rc = pl_projects_store_get(db, ctx->arena, ctx->tenant.org_id, NULL, slug, false, &r);
    if (rc == PL_ENOTFOUND || (!rc && self_id && !strcmp(r.p.id, self_id))) {
        *out = slug;
        return PL_OK;
    }
    if (rc)
        return rc;
    if (given)
        return pl_projects_slug_taken(ctx);
    *out = pl_projects_slug_suffixed(ctx->arena, name, "project");
    return PL_OK;
}

int pl_projects_create(pl_db_t *db, pl_ctx_t *ctx, const pl_project_input_t *in, pl_project_t *out)
{
    int rc = pl_orgs_check_slug(ctx, in->slug);
    const char *const *envs = in->env_names ? in->env_names : default_envs;
    int n_envs = in->env_names ? in->n_envs : (int)PL_ARRAY_LEN(default_envs);
    if (!rc)
        rc = check_env_names(ctx, envs, n_envs);
    if (rc)
        return rc;
    const char *user = pl_ctx_user(ctx);
    if (!user && pl_projects_effective_role(&ctx->tenant.perms, NULL) != PL_PROJECT_OWNER)
        return forbidden(ctx, "An API key creates projects only with project.admin: it cannot "
                              "be a project's owner.");
    char *id = pl_arena_alloc(ctx->arena, PL_ID_LEN);
    pl_uuid7(id);
    int64_t now = pl_now_ms();
    pl_project_t p = {.id = id,
                      .name = pl_arena_strdup(ctx->arena, in->name),
                      .description =
                          pl_arena_strdup(ctx->arena, in->description ? in->description : ""),
                      .created_at = now,
                      .role = PL_PROJECT_OWNER};
    if ((rc = pl_db_begin(db)))
        return rc;
    /* the plan's limit, before the first write that references the org */
    rc = pl_billing_reserve(db, ctx, ctx->tenant.org_id, "projects", 1);
    if (!rc)
        rc = project_slug(db, ctx, in->name, in->slug, NULL, &p.slug);
    if (!rc &&
        (rc = pl_projects_store_insert(db, ctx->tenant.org_id, &p, user, now)) == PL_ECONFLICT)
        rc = pl_projects_slug_taken(ctx);
    if (!rc && user)
        rc = pl_project_members_store_put(db, ctx->tenant.org_id, p.id, user, "owner", now);
    if (!rc)
        rc = pl_projects_audit(
            db, ctx, "project.created", "project", p.id,
            json_pack("{s:s, s:s, s:s}", "project_id", p.id, "name", p.name, "slug", p.slug));
    if (!rc)
        rc = create_envs(db, ctx, &p, envs, n_envs, now);
    if ((rc = pl_db_finish(db, rc)))
        return rc;
    *out = p;
    return PL_OK;
}

int pl_projects_get(pl_db_t *db, pl_ctx_t *ctx, const char *ref, pl_project_t *out)
{
    return pl_projects_resolve(db, ctx, ref, PL_PROJECT_MEMBER, out);
}

int pl_projects_update(pl_db_t *db, pl_ctx_t *ctx, const char *ref, const char *name,
                       const char *slug, const char *description, pl_project_t *out)
{
    int rc = pl_orgs_check_slug(ctx, slug);
    if (rc || (rc = pl_db_begin(db)))
        return rc;
    pl_project_t p;
    rc = pl_projects_resolve(db, ctx, ref, PL_PROJECT_OWNER, &p);
    if (!rc && slug && strcmp(slug, p.slug))
        rc = project_slug(db, ctx, p.name, slug, p.id, &p.slug);
    if (!rc) {
        if (name)
            p.name = pl_arena_strdup(ctx->arena, name);
        if (description)
            p.description = pl_arena_strdup(ctx->arena, description);
        if ((rc = pl_projects_store_update(db, ctx->tenant.org_id, &p, pl_now_ms())) ==
            PL_ECONFLICT)
            rc = pl_projects_slug_taken(ctx);
    }
    if (!rc)
        rc = pl_projects_audit(
            db, ctx, "project.updated", "project", p.id,
            json_pack("{s:s, s:s, s:s}", "project_id", p.id, "name", p.name, "slug", p.slug));
    if ((rc = pl_db_finish(db, rc)))
        return rc;
    *out = p;
    return PL_OK;
}

int pl_projects_delete(pl_db_t *db, pl_ctx_t *ctx, const char *ref)
{
    int rc = pl_db_begin(db);
    if (rc)
        return rc;
    pl_project_t p;
    rc = pl_projects_resolve(db, ctx, ref, PL_PROJECT_OWNER, &p);
    /* environments, secrets, members and pending invitations go with it */
    if (!rc)
        rc = pl_projects_audit(
            db, ctx, "project.deleted", "project", p.id,
            json_pack("{s:s, s:s, s:s}", "project_id", p.id, "name", p.name, "slug", p.slug));
    if (!rc)
        rc = pl_projects_store_delete(db, ctx->tenant.org_id, p.id);
    return pl_db_finish(db, rc);
}

/* ---- members ---- */

static int member_page(pl_rows_t *rows, int rc, pl_project_member_page_t *out)
{
    if (rc)
        return rc;
    out->items = rows->items;
    out->n = rows->n;
    out->next_cursor = rows->more ? out->items[out->n - 1].user_id : NULL;
    return PL_OK;
}

int pl_projects_members_list(pl_db_t *db, pl_ctx_t *ctx, const char *ref, const char *cursor,
                             int limit, pl_project_member_page_t *out)
{
    pl_project_t p;
    int rc = pl_projects_resolve(db, ctx, ref, PL_PROJECT_MEMBER, &p);
    if (rc)
        return rc;
    pl_rows_t rows;
    pl_rows_init(&rows, ctx->arena, sizeof(pl_project_member_t), limit);
    rc = pl_project_members_store_list(db, ctx->arena, ctx->tenant.org_id, p.id, cursor, &rows);
    return member_page(&rows, rc, out);
}

/* The last owner stays an owner: 409 when leaving_role is the only one. */
static int keep_an_owner(pl_db_t *db, pl_ctx_t *ctx, const char *project_id,
                         const char *leaving_role)
{
    if (!leaving_role || strcmp(leaving_role, "owner"))
        return PL_OK;
    int64_t owners = 0;
    int rc = pl_project_members_store_count_owners(db, ctx->tenant.org_id, project_id, &owners);
    if (rc)
        return rc;
    if (owners <= 1)
        return pl_fail(ctx, 409, "last_owner", "A project needs at least one owner.");
    return PL_OK;
}

static json_t *member_data(const char *project_id, const char *user_id, const char *role)
{
    return json_pack("{s:s, s:s, s:s}", "project_id", project_id, "user_id", user_id, "role", role);
}

int pl_projects_member_put(pl_db_t *db, pl_ctx_t *ctx, const char *ref, const char *user_id,
                           const char *role_key, pl_project_member_t *out)
{
    pl_project_role_t role = pl_project_role_parse(role_key);
    int rc = pl_db_begin(db);
    if (rc)
        return rc;
    pl_project_t p;
    const char *org_role = NULL, *current = NULL;
    rc = pl_projects_resolve(db, ctx, ref, PL_PROJECT_OWNER, &p);
    if (!rc && role == PL_PROJECT_NONE) {
        pl_field_error(ctx, "role", "invalid", "Use owner or member.");
        rc = PL_EINVAL;
    }
    if (!rc)
        rc = pl_projects_store_lock(db, ctx->tenant.org_id, p.id);
    if (!rc) {
        rc = pl_uuid_valid(user_id)
                 ? pl_project_members_store_roles(db, ctx->arena, ctx->tenant.org_id, p.id, user_id,
                                                  &org_role, &current)
                 : PL_ENOTFOUND;
        if (rc == PL_ENOTFOUND) {
            pl_field_error(ctx, "user", "not_member",
                           "The user is not a member of the "
                           "organization.");
            rc = PL_EINVAL;
        }
    }
    const char *wanted = pl_project_role_name(role);
    if (!rc && role != PL_PROJECT_OWNER)
        rc = keep_an_owner(db, ctx, p.id, current);
    if (!rc && (!current || strcmp(current, wanted))) {
        rc = pl_project_members_store_put(db, ctx->tenant.org_id, p.id, user_id, wanted,
                                          pl_now_ms());
        if (!rc) {
            json_t *d = member_data(p.id, user_id, wanted);
            if (current)
                json_object_set_new(d, "from", json_string(current));
            rc = pl_projects_audit(db, ctx,
                                   current ? "project.member_updated" : "project.member_added",
                                   "user", user_id, d);
        }
    }
    if (!rc)
        rc = pl_project_members_store_get(db, ctx->arena, ctx->tenant.org_id, p.id, user_id, out);
    return pl_db_finish(db, rc);
}

int pl_projects_member_remove(pl_db_t *db, pl_ctx_t *ctx, const char *ref, const char *user_id)
{
    const char *me = pl_ctx_user(ctx);
    bool self = me && user_id && !strcmp(me, user_id);
    int rc = pl_db_begin(db);
    if (rc)
        return rc;
    pl_project_t p;
    const char *org_role = NULL, *current = NULL;
    /* members leave by themselves; owners remove anyone */
    rc = pl_projects_resolve(db, ctx, ref, self ? PL_PROJECT_MEMBER : PL_PROJECT_OWNER, &p);
    if (!rc)
        rc = pl_projects_store_lock(db, ctx->tenant.org_id, p.id);
    if (!rc) {
        if (pl_uuid_valid(user_id))
            rc = pl_project_members_store_roles(db, ctx->arena, ctx->tenant.org_id, p.id, user_id,
                                                &org_role, &current);
        if (!rc && !current)
            rc = PL_ENOTFOUND;
        if (rc == PL_ENOTFOUND)
            rc = pl_fail(ctx, 404, "not_found", "No such member of the project.");
    }
    if (!rc)
        rc = keep_an_owner(db, ctx, p.id, current);
    if (!rc)
        rc = pl_project_members_store_remove(db, ctx->tenant.org_id, p.id, user_id);
    if (!rc) {
        json_t *d = member_data(p.id, user_id, current);
        json_object_set_new(d, "left", json_boolean(self));
        rc = pl_projects_audit(db, ctx, "project.member_removed", "user", user_id, d);
    }
    return pl_db_finish(db, rc);
}

int pl_projects_invite(pl_db_t *db, pl_ctx_t *ctx, const char *ref, const char *email,
                       const char *role_key, pl_invitation_t *out)
{
    pl_project_role_t role = pl_project_role_parse(role_key);
    int rc = pl_db_begin(db);
    if (rc)
        return rc;
    pl_project_t p;
    rc = pl_projects_resolve(db, ctx, ref, PL_PROJECT_OWNER, &p);
    if (!rc && role == PL_PROJECT_NONE) {
        pl_field_error(ctx, "role", "invalid", "Use owner or member.");
        rc = PL_EINVAL;
    }
    if (!rc) {
        int m = pl_project_members_store_has_email(db, ctx->tenant.org_id, p.id, email);
        if (m == 1)
            rc = pl_fail(ctx, 409, "already_member", "This person is already in the project.");
        else if (m < 0)
            rc = m;
    }
    if (!rc)
        rc = pl_invitations_create_for_project(db, ctx, email, p.id, p.name,
                                               pl_project_role_name(role), out);
    return pl_db_finish(db, rc);
}

int pl_projects_join(pl_db_t *db, pl_ctx_t *ctx, const char *org_id, const char *project_id,
                     const char *user_id, const char *role_key)
{
    pl_project_role_t role = pl_project_role_parse(role_key);
    const char *org_role = NULL, *current = NULL;
    int rc = pl_project_members_store_roles(db, ctx->arena, org_id, project_id, user_id, &org_role,
                                            &current);
    if (rc)
        return rc;
    if (role == PL_PROJECT_NONE || pl_project_role_parse(current) >= role)
        return PL_OK; /* already there with that role or a higher one */
    const char *wanted = pl_project_role_name(role);
    rc = pl_project_members_store_put(db, org_id, project_id, user_id, wanted, pl_now_ms());
    if (rc == PL_EFKEY)
        return PL_ENOTFOUND;
    if (!rc) {
        json_t *d = member_data(project_id, user_id, wanted);
        if (current)
            json_object_set_new(d, "from", json_string(current));
        rc = pl_audit_append(db, ctx, org_id,
                             current ? "project.member_updated" : "project.member_added", "user",
                             user_id, d);
        json_decref(d);
    }
    return rc;
}

int pl_projects_is_member(pl_db_t *db, const char *org_id, const char *project_id,
                          const char *user_id)
{
    pl_arena_t *a = pl_arena_create();
    const char *org_role = NULL, *current = NULL;
    int rc =
        pl_project_members_store_roles(db, a, org_id, project_id, user_id, &org_role, &current);
    int out = rc == PL_OK ? current != NULL : rc == PL_ENOTFOUND ? 0 : rc;
    pl_arena_destroy(a);
    return out;
}

/* ---- the module ---- */

static int count_projects(pl_db_t *db, const char *org_id, int64_t now, int64_t *out)
{
    (void)now;
    return pl_projects_store_count(db, org_id, out);
}

int pl_projects_init(void)
{
    pl_keys_add_source("secrets", pl_secrets_check_sealed);
    pl_billing_counter("projects", count_projects);
    return PL_OK;
}
