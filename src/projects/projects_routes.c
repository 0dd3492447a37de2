/* projects_routes.c - the HTTP face of projects, environments and secrets:
 * parse and check the JSON shape, call the service (projects.h) with the
 * request's context, render. Also the module's descriptor. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h" /* pl_auth_check_email: accounts own email normalisation */
#include "core/crypto.h"
#include "projects/dotenv.h"
#include "projects/projects.h"
#include "web/web.h"

/* ---- rendering ---- */

static void write_project(pl_jw_t *w, const void *item)
{
    const pl_project_t *p = item;
    pl_jw_object_open(w, NULL);
    pl_jw_string(w, "id", p->id);
    pl_jw_string(w, "name", p->name);
    pl_jw_string(w, "slug", p->slug);
    pl_jw_string(w, "description", p->description ? p->description : "");
    pl_jw_time(w, "created_at", p->created_at);
    pl_jw_string(w, "role", pl_project_role_name(p->role));
    pl_jw_object_close(w);
}

static void write_environment(pl_jw_t *w, const void *item)
{
    const pl_environment_t *e = item;
    pl_jw_object_open(w, NULL);
    pl_jw_string(w, "id", e->id);
    pl_jw_string(w, "project_id", e->project_id);
    pl_jw_string(w, "name", e->name);
    pl_jw_string(w, "slug", e->slug);
    pl_jw_time(w, "created_at", e->created_at);
    pl_jw_string(w, "role", pl_env_role_name(e->role));
    pl_jw_object_close(w);
}

static void write_member(pl_jw_t *w, const void *item)
{
    const pl_project_member_t *m = item;
    pl_jw_object_open(w, NULL);
    pl_jw_string(w, "user_id", m->user_id);
    pl_jw_string(w, "email", m->email);
    pl_jw_string(w, "name", m->name);
    pl_jw_string(w, "role", m->role);
    pl_jw_time(w, "joined_at", m->joined_at);
    pl_jw_object_close(w);
}

static void write_invitation(pl_jw_t *w, const void *item)
{
    const pl_invitation_t *i = item;
    pl_jw_object_open(w, NULL);
    pl_jw_string(w, "id", i->id);
    pl_jw_string(w, "email", i->email);
    pl_jw_string(w, "role", i->project_role);
    pl_jw_string(w, "project_id", i->project_id);
    pl_jw_string(w, "status", i->status);
    pl_jw_string(w, "invited_by", i->invited_by);
    pl_jw_time(w, "expires_at", i->expires_at);
    pl_jw_time(w, "created_at", i->created_at);
    pl_jw_object_close(w);
}

/* A secret's metadata, and its value when one was read. */
static void write_secret(pl_jw_t *w, const void *item)
{
    const pl_secret_t *s = item;
    pl_jw_object_open(w, NULL);
    pl_jw_string(w, "key", s->key);
    if (s->value)
        pl_jw_string(w, "value", s->value);
    pl_jw_int(w, "version", s->version);
    pl_jw_time(w, "updated_at", s->updated_at);
    pl_jw_string(w, "updated_by", s->updated_by);
    pl_jw_object_close(w);
}

#define RESP_PAGE(req, page, write)                                                                \
    pl_resp_page((req), (page).items, (size_t)(page).n, sizeof(*(page).items), (write),            \
                 (page).next_cursor)

/* A body that holds secret values: wiped, then freed, when the request
 * ends (after it was sent). Takes b's memory. */
typedef struct {
    char *ptr;
    size_t cap;
} secret_body_t;

static void wipe_body(void *arg)
{
    secret_body_t *sb = arg;
    pl_memzero(sb->ptr, sb->cap);
    free(sb->ptr);
}

static int resp_secret(pl_req_t *req, int status, const char *content_type, pl_buf_t *b)
{
    if (!b->ptr)
        pl_buf_append(b, "", 0);
    secret_body_t *sb = pl_arena_alloc(req->ctx.arena, sizeof(*sb));
    sb->ptr = b->ptr;
    sb->cap = b->cap;
    pl_arena_cleanup_add(req->ctx.arena, wipe_body, sb);
    req->status = status;
    req->content_type = content_type;
    req->resp_body = b->ptr;
    req->resp_len = b->len;
    pl_buf_init(b, b->max);
    return PL_OK;
}

/* Wipes a buffer that may hold secret values and frees it. */
static void buf_wipe(pl_buf_t *b)
{
    if (b->ptr)
        pl_memzero(b->ptr, b->cap);
    pl_buf_free(b);
}

static void set_etag(pl_req_t *req, int64_t version)
{
    char etag[32];
    snprintf(etag, sizeof(etag), "\"%lld\"", (long long)version);
    pl_resp_header(req, "ETag", etag);
}

/* ---- input ---- */

static const char *param(pl_req_t *req, const char *name)
{
    return pl_req_param(req, name);
}

/* An optional slug: a string whose rules the service checks. */
static void get_slug(pl_req_t *req, const char **slug)
{
    if (pl_json_get_string(req, "slug", false, 1, 64, slug) == PL_OK && *slug)
        pl_orgs_check_slug(&req->ctx, *slug);
}

/* The environments to create with a project: an array of names. */
static void get_env_names(pl_req_t *req, const char ***names, int *n)
{
    json_t *v = req->json ? json_object_get(req->json, "environments") : NULL;
    *names = NULL;
    *n = 0;
    if (!v || json_is_null(v))
        return;
    if (!json_is_array(v) || json_array_size(v) > PL_PROJECTS_ENVS_MAX) {
        pl_req_field_error(req, "environments", "invalid",
                           "Must be an array of at most 20 environment names.");
        return;
    }
    const char **out = pl_arena_alloc(req->ctx.arena, sizeof(char *) * (json_array_size(v) + 1));
    size_t i;
    json_t *x;
    json_array_foreach(v, i, x)
    {
        size_t len = json_is_string(x) ? json_string_length(x) : 0;
        if (!len || len > PL_PROJECTS_NAME_MAX || memchr(json_string_value(x), '\0', len)) {
            pl_req_field_error(req, "environments", "invalid",
                               "Each environment name is a string of 1 to 200 bytes.");
            return;
        }
        out[i] = json_string_value(x);
    }
    *names = out;
    *n = (int)json_array_size(v);
}

/* If-Match: NULL when absent; "*" is 0; "N" (quoted, or not) is N; any
 * other value is -1, which matches no version. */
static const int64_t *if_match(pl_req_t *req, int64_t *slot)
{
    const char *h = pl_req_header(req, "If-Match");
    if (!h)
        return NULL;
    while (*h == ' ' || *h == '\t')
        h++;
    char buf[32];
    size_t n = strlen(h);
    while (n && (h[n - 1] == ' ' || h[n - 1] == '\t'))
        n--;
    if (n == 1 && h[0] == '*') {
        *slot = 0;
        return slot;
    }
    if (n >= 2 && h[0] == '"' && h[n - 1] == '"')
        h++, n -= 2;
    *slot = -1;
    if (n > 0 && n < sizeof(buf)) {
        memcpy(buf, h, n);
        buf[n] = '\0';
        int64_t v;
        if (pl_parse_int64(buf, 1, INT64_MAX, &v) == PL_OK)
            *slot = v;
    }
    return slot;
}

/* ---- projects ---- */

static int projects_list(pl_req_t *req)
{
    int limit;
    const char *cursor;
    int rc = pl_req_page_id(req, &limit, &cursor);
    if (rc)
        return rc;
    PL_DB_THREAD(db);
    pl_project_page_t page;
    rc = pl_projects_list(db, &req->ctx, cursor, limit, &page);
    return rc ? rc : RESP_PAGE(req, page, write_project);
}

static int projects_create(pl_req_t *req)
{
    pl_project_input_t in = {0};
    const char **envs = NULL;
    pl_json_get_name(req, "name", true, 1, PL_PROJECTS_NAME_MAX, &in.name);
    get_slug(req, &in.slug);
    pl_json_get_string(req, "description", false, 0, PL_PROJECTS_DESCRIPTION_MAX, &in.description);
    get_env_names(req, &envs, &in.n_envs);
    in.env_names = envs;
    if (pl_req_validated(req))
        return PL_EINVAL;
    PL_DB_THREAD(db);
    pl_project_t p;
    int rc = pl_projects_create(db, &req->ctx, &in, &p);
    return rc ? rc : pl_resp_object(req, 201, write_project, &p);
}

static int projects_get(pl_req_t *req)
{
    PL_DB_THREAD(db);
    pl_project_t p;
    int rc = pl_projects_get(db, &req->ctx, param(req, "project"), &p);
    return rc ? rc : pl_resp_object(req, 200, write_project, &p);
}

static int projects_update(pl_req_t *req)
{
    const char *name = NULL, *slug = NULL, *description = NULL;
    pl_json_get_name(req, "name", false, 1, PL_PROJECTS_NAME_MAX, &name);
    get_slug(req, &slug);
    pl_json_get_string(req, "description", false, 0, PL_PROJECTS_DESCRIPTION_MAX, &description);
    if (pl_req_validated(req))
        return PL_EINVAL;
    PL_DB_THREAD(db);
    pl_project_t p;
    int rc = pl_projects_update(db, &req->ctx, param(req, "project"), name, slug, description, &p);
    return rc ? rc : pl_resp_object(req, 200, write_project, &p);
}

static int projects_delete(pl_req_t *req)
{
    PL_DB_THREAD(db);
    int rc = pl_projects_delete(db, &req->ctx, param(req, "project"));
    return rc ? rc : pl_resp_status(req, 204);
}

static int project_members_list(pl_req_t *req)
{
    int limit;
    const char *cursor;
    int rc = pl_req_page_id(req, &limit, &cursor);
    if (rc)
        return rc;
    PL_DB_THREAD(db);
    pl_project_member_page_t page;
    rc = pl_projects_members_list(db, &req->ctx, param(req, "project"), cursor, limit, &page);
    return rc ? rc : RESP_PAGE(req, page, write_member);
}

static int project_members_put(pl_req_t *req)
{
    const char *role = NULL;
    if (pl_json_get_string(req, "role", true, 1, 32, &role))
        return PL_EINVAL;
    PL_DB_THREAD(db);
    pl_project_member_t m;
    int rc =
        pl_projects_member_put(db, &req->ctx, param(req, "project"), param(req, "user"), role, &m);
    return rc ? rc : pl_resp_object(req, 200, write_member, &m);
}

static int project_members_remove(pl_req_t *req)
{
    PL_DB_THREAD(db);
    int rc = pl_projects_member_remove(db, &req->ctx, param(req, "project"), param(req, "user"));
    return rc ? rc : pl_resp_status(req, 204);
}

static int project_invite(pl_req_t *req)
{
    const char *email_in = NULL, *email = NULL, *role = NULL;
    pl_json_get_string(req, "email", true, 1, 320, &email_in);
    pl_json_get_string(req, "role", true, 1, 32, &role);
    if (email_in)
        pl_auth_check_email(&req->ctx, "email", email_in, &email);
    if (pl_req_validated(req))
        return PL_EINVAL;
    PL_DB_THREAD(db);
    pl_invitation_t inv;
    int rc = pl_projects_invite(db, &req->ctx, param(req, "project"), email, role, &inv);
    return rc ? rc : pl_resp_object(req, 201, write_invitation, &inv);
}

/* ---- environments ---- */

static int envs_list(pl_req_t *req)
{
    int limit;
    const char *cursor;
    int rc = pl_req_page_id(req, &limit, &cursor);
    if (rc)
        return rc;
    PL_DB_THREAD(db);
    pl_environment_page_t page;
    rc = pl_environments_list(db, &req->ctx, param(req, "project"), cursor, limit, &page);
    return rc ? rc : RESP_PAGE(req, page, write_environment);
}

static int envs_create(pl_req_t *req)
{
    const char *name = NULL, *slug = NULL;
    pl_json_get_name(req, "name", true, 1, PL_PROJECTS_NAME_MAX, &name);
    get_slug(req, &slug);
    if (pl_req_validated(req))
        return PL_EINVAL;
    PL_DB_THREAD(db);
    pl_environment_t e;
    int rc = pl_environments_create(db, &req->ctx, param(req, "project"), name, slug, &e);
    return rc ? rc : pl_resp_object(req, 201, write_environment, &e);
}

static int envs_get(pl_req_t *req)
{
    PL_DB_THREAD(db);
    pl_environment_t e;
    int rc = pl_environments_get(db, &req->ctx, param(req, "project"), param(req, "env"), &e);
    return rc ? rc : pl_resp_object(req, 200, write_environment, &e);
}

static int envs_update(pl_req_t *req)
{
    const char *name = NULL, *slug = NULL;
    pl_json_get_name(req, "name", false, 1, PL_PROJECTS_NAME_MAX, &name);
    get_slug(req, &slug);
    if (pl_req_validated(req))
        return PL_EINVAL;
    PL_DB_THREAD(db);
    pl_environment_t e;
    int rc = pl_environments_update(db, &req->ctx, param(req, "project"), param(req, "env"), name,
                                    slug, &e);
    return rc ? rc : pl_resp_object(req, 200, write_environment, &e);
}

static int envs_delete(pl_req_t *req)
{
    PL_DB_THREAD(db);
    int rc = pl_environments_delete(db, &req->ctx, param(req, "project"), param(req, "env"));
    return rc ? rc : pl_resp_status(req, 204);
}

static int env_members_list(pl_req_t *req)
{
    int limit;
    const char *cursor;
    int rc = pl_req_page_id(req, &limit, &cursor);
    if (rc)
        return rc;
    PL_DB_THREAD(db);
    pl_project_member_page_t page;
    rc = pl_environments_members_list(db, &req->ctx, param(req, "project"), param(req, "env"),
                                      cursor, limit, &page);
    return rc ? rc : RESP_PAGE(req, page, write_member);
}

static int env_members_put(pl_req_t *req)
{
    const char *role = NULL;
    if (pl_json_get_string(req, "role", true, 1, 32, &role))
        return PL_EINVAL;
    PL_DB_THREAD(db);
    pl_project_member_t m;
    int rc = pl_environments_member_put(db, &req->ctx, param(req, "project"), param(req, "env"),
                                        param(req, "user"), role, &m);
    return rc ? rc : pl_resp_object(req, 200, write_member, &m);
}

static int env_members_remove(pl_req_t *req)
{
    PL_DB_THREAD(db);
    int rc = pl_environments_member_remove(db, &req->ctx, param(req, "project"), param(req, "env"),
                                           param(req, "user"));
    return rc ? rc : pl_resp_status(req, 204);
}

/* ---- secrets ---- */

static int secrets_list(pl_req_t *req)
{
    int limit;
    const char *cursor;
    int rc = pl_req_page(req, &limit, &cursor);
    if (rc)
        return rc;
    if (cursor && !pl_secrets_key_valid(cursor))
        return pl_req_fail(req, 400, "bad_request", "cursor is malformed.");
    PL_DB_THREAD(db);
    pl_secret_page_t page;
    rc = pl_secrets_list(db, &req->ctx, param(req, "project"), param(req, "env"), cursor, limit,
                         &page);
    return rc ? rc : RESP_PAGE(req, page, write_secret);
}

static int secrets_get(pl_req_t *req)
{
    int64_t version = 0;
    const char *v = pl_req_query(req, "version");
    if (v && pl_parse_int64(v, 1, INT64_MAX, &version))
        return pl_req_fail(req, 400, "bad_request", "version must be a positive integer.");
    PL_DB_THREAD(db);
    pl_secret_t s;
    int rc = pl_secrets_read(db, &req->ctx, param(req, "project"), param(req, "env"),
                             param(req, "key"), version, &s);
    if (rc)
        return rc;
    pl_buf_t b;
    pl_jw_t w;
    pl_buf_init(&b, 1024 * 1024);
    pl_jw_init(&w, &b);
    write_secret(&w, &s);
    if (w.err) {
        buf_wipe(&b);
        return PL_EINTERNAL;
    }
    set_etag(req, s.version);
    return resp_secret(req, 200, "application/json", &b);
}

static int secrets_put(pl_req_t *req)
{
    const char *value = NULL;
    json_t *v = req->json ? json_object_get(req->json, "value") : NULL;
    if (!v || json_is_null(v))
        pl_req_field_error(req, "value", "required", "This field is required.");
    else if (!json_is_string(v))
        pl_req_field_error(req, "value", "invalid", "Must be a string.");
    else
        value = json_string_value(v);
    if (pl_req_validated(req))
        return PL_EINVAL;
    int64_t slot;
    const int64_t *match = if_match(req, &slot);
    PL_DB_THREAD(db);
    pl_secret_t s;
    int rc = pl_secrets_put(db, &req->ctx, param(req, "project"), param(req, "env"),
                            param(req, "key"), value, json_string_length(v), match, &s);
    if (rc)
        return rc;
    set_etag(req, s.version);
    return pl_resp_object(req, 200, write_secret, &s);
}

static int secrets_delete(pl_req_t *req)
{
    int64_t slot;
    const int64_t *match = if_match(req, &slot);
    PL_DB_THREAD(db);
    int rc = pl_secrets_delete(db, &req->ctx, param(req, "project"), param(req, "env"),
                               param(req, "key"), match);
    return rc ? rc : pl_resp_status(req, 204);
}

static int secrets_export(pl_req_t *req)
{
    const char *f = pl_req_query(req, "format");
    pl_secrets_format_t format;
    if (!f || !strcmp(f, "dotenv"))
        format = PL_SECRETS_DOTENV;
    else if (!strcmp(f, "json"))
        format = PL_SECRETS_JSON;
    else
        return pl_req_fail(req, 400, "bad_request", "format must be dotenv or json.");
    PL_DB_THREAD(db);
    pl_buf_t b;
    pl_buf_init(&b, 256u * 1024 * 1024);
    int rc = pl_secrets_export(db, &req->ctx, param(req, "project"), param(req, "env"), format, &b);
    if (rc) {
        buf_wipe(&b);
        return rc;
    }
    return resp_secret(
        req, 200, format == PL_SECRETS_JSON ? "application/json" : "text/plain; charset=utf-8", &b);
}

static int secrets_import(pl_req_t *req)
{
    json_t *dotenv = req->json ? json_object_get(req->json, "dotenv") : NULL;
    json_t *obj = req->json ? json_object_get(req->json, "secrets") : NULL;
    if (dotenv && json_is_null(dotenv))
        dotenv = NULL;
    if (obj && json_is_null(obj))
        obj = NULL;
    if (!dotenv == !obj) {
        pl_req_field_error(req, "dotenv", dotenv ? "conflict" : "required",
                           "Send either dotenv (text) or secrets (an object), not both.");
        return PL_EINVAL;
    }
    pl_secret_kv_t *items = NULL;
    int n = 0;
    const char *field = dotenv ? "dotenv" : "secrets";
    if (dotenv) {
        if (!json_is_string(dotenv)) {
            pl_req_field_error(req, "dotenv", "invalid", "Must be a string.");
            return PL_EINVAL;
        }
        pl_dotenv_entry_t *entries = NULL;
        const char *error = NULL;
        if (pl_dotenv_parse(req->ctx.arena, json_string_value(dotenv), json_string_length(dotenv),
                            PL_SECRETS_PER_ENV, &entries, &n, &error)) {
            pl_req_field_error(req, "dotenv", "invalid", error);
            return PL_EINVAL;
        }
        items = pl_arena_alloc(req->ctx.arena, sizeof(*items) * (size_t)(n + 1));
        for (int i = 0; i < n; i++)
            items[i] = (pl_secret_kv_t){entries[i].key, entries[i].value, entries[i].value_len};
    } else {
        if (!json_is_object(obj) || json_object_size(obj) > PL_SECRETS_PER_ENV) {
            pl_req_field_error(req, "secrets", "invalid",
                               "Must be an object of at most 1000 keys and string values.");
            return PL_EINVAL;
        }
        items = pl_arena_alloc(req->ctx.arena, sizeof(*items) * (json_object_size(obj) + 1));
        const char *key;
        json_t *val;
        json_object_foreach(obj, key, val)
        {
            if (!json_is_string(val)) {
                pl_req_field_error(
                    req, "secrets", "invalid",
                    pl_arena_printf(req->ctx.arena, "The value of %.128s must be a string.", key));
                return PL_EINVAL;
            }
            items[n++] = (pl_secret_kv_t){key, json_string_value(val), json_string_length(val)};
        }
    }
    PL_DB_THREAD(db);
    int created = 0, updated = 0;
    int rc = pl_secrets_import(db, &req->ctx, param(req, "project"), param(req, "env"), items, n,
                               field, &created, &updated);
    if (rc)
        return rc;
    return pl_resp_json(req, 200, json_pack("{s:i, s:i}", "created", created, "updated", updated));
}

/* ---- the module ---- */

#define J PL_ROUTE_JSON
#define W PL_ROUTE_WRITE
#define P "/v1/orgs/{org}/projects/{project}"
#define E P "/environments/{env}"

/* Every route is an org route: dispatch resolves the caller's membership
 * (any role, guests included) and the permission named, and the projects
 * service decides project and environment access (NULL: no organization
 * permission, the project and environment roles decide). */
static pl_route_t routes[] = {
    {PL_M_GET, "/v1/orgs/{org}/projects", projects_list, PL_AUTH_ORG, NULL, 0},
    {PL_M_GET, "/v1/admin/orgs/{org}/projects", projects_list, PL_AUTH_ADMIN, NULL,
     PL_ROUTE_ADMIN_ORG},
    {PL_M_POST, "/v1/orgs/{org}/projects", projects_create, PL_AUTH_ORG, "project.create", J},
    {PL_M_GET, P, projects_get, PL_AUTH_ORG, NULL, 0},
    {PL_M_PATCH, P, projects_update, PL_AUTH_ORG, NULL, J},
    {PL_M_DELETE, P, projects_delete, PL_AUTH_ORG, NULL, 0},
    {PL_M_GET, P "/members", project_members_list, PL_AUTH_ORG, NULL, 0},
    {PL_M_PUT, P "/members/{user}", project_members_put, PL_AUTH_ORG, NULL, J},
    {PL_M_DELETE, P "/members/{user}", project_members_remove, PL_AUTH_ORG, NULL, 0},
    {PL_M_POST, P "/invitations", project_invite, PL_AUTH_ORG, "member.invite", J},
    {PL_M_GET, P "/environments", envs_list, PL_AUTH_ORG, NULL, 0},
    {PL_M_POST, P "/environments", envs_create, PL_AUTH_ORG, NULL, J},
    {PL_M_GET, E, envs_get, PL_AUTH_ORG, NULL, 0},
    {PL_M_PATCH, E, envs_update, PL_AUTH_ORG, NULL, J},
    {PL_M_DELETE, E, envs_delete, PL_AUTH_ORG, NULL, 0},
    {PL_M_GET, E "/members", env_members_list, PL_AUTH_ORG, NULL, 0},
    {PL_M_PUT, E "/members/{user}", env_members_put, PL_AUTH_ORG, NULL, J},
    {PL_M_DELETE, E "/members/{user}", env_members_remove, PL_AUTH_ORG, NULL, 0},
    {PL_M_GET, E "/secrets", secrets_list, PL_AUTH_ORG, NULL, 0},
    {PL_M_GET, E "/secrets/export", secrets_export, PL_AUTH_ORG, NULL, W},
    {PL_M_POST, E "/secrets/import", secrets_import, PL_AUTH_ORG, NULL, J},
    {PL_M_GET, E "/secrets/{key}", secrets_get, PL_AUTH_ORG, NULL, W},
    {PL_M_PUT, E "/secrets/{key}", secrets_put, PL_AUTH_ORG, NULL, J},
    {PL_M_DELETE, E "/secrets/{key}", secrets_delete, PL_AUTH_ORG, NULL, 0},
    {0},
};

static const pl_perm_def_t perms[] = {
    {"project.create", "Create projects (the creator becomes their owner)", PL_ROLES_MEMBER},
    {"project.admin", "Act as owner of every project of the organization", PL_ROLES_ADMIN},
    {0},
};

const pl_module_t pl_projects_module = {
    .name = "projects",
    .routes = routes,
    .perms = perms,
    .init = pl_projects_init,
};
