/* admin_routes.c - instance-admin user management and the CLI bootstrap. */
#include <stdio.h>
#include <string.h>

#include "admin/admin.h"
#include "platform/audit/audit.h"
#include "auth/auth.h"
#include "auth/auth_routes.h"
#include "auth/password.h"
#include "core/crypto.h"

static json_t *admin_user_json(const pl_user_t *u)
{
    json_t *o = pl_auth_user_json(u);
    json_object_set_new(o, "is_admin", json_boolean(u->is_admin));
    json_object_set_new(o, "disabled", json_boolean(u->disabled));
    return o;
}

typedef struct {
    json_t *list;
    int count;
    int limit;
    const char *last;
    pl_arena_t *arena;
} users_ctx_t;

static void add_user(void *ctx, const pl_user_t *u)
{
    users_ctx_t *c = ctx;
    if (++c->count > c->limit)
        return; /* the extra row only tells that another page exists */
    json_array_append_new(c->list, admin_user_json(u));
    c->last = u->id;
}

int pl_admin_users_list(pl_req_t *req)
{
    int limit;
    const char *cursor;
    int rc = pl_req_page(req, &limit, &cursor);
    if (rc)
        return rc;
    const char *query = pl_req_query(req, "query");
    if (query && strlen(query) > 320)
        return pl_req_fail(req, 400, "bad_request", "query is too long.");
    if (cursor && !pl_uuid_valid(cursor))
        return pl_req_fail(req, 400, "bad_request", "cursor is malformed.");
    pl_db_t *db = pl_db_thread();
    if (!db)
        return PL_EDB;
    users_ctx_t ctx = {json_array(), 0, limit, NULL, req->ctx.arena};
    rc = pl_store_users_list(db, req->ctx.arena, query, cursor, limit + 1, add_user, &ctx);
    if (rc) {
        json_decref(ctx.list);
        return rc;
    }
    return pl_resp_list(req, ctx.list, ctx.count > limit ? ctx.last : NULL);
}

static int set_disabled(pl_req_t *req, bool disable)
{
    const char *id = pl_req_param(req, "id");
    if (!pl_uuid_valid(id))
        return pl_req_fail(req, 404, "not_found", "No such user.");
    if (disable && !strcmp(id, req->ctx.principal.user_id))
        return pl_req_fail(req, 409, "conflict", "You cannot disable your own account.");
    pl_db_t *db = pl_db_thread();
    if (!db)
        return PL_EDB;
    int rc = pl_db_begin(db);
    if (rc)
        return rc;
    int64_t now = pl_now_ms();
    rc = pl_store_user_set_disabled(db, id, disable ? now : 0, now);
    /* a disabled user's sessions end, so enabling does not revive old tokens */
    if (!rc && disable)
        rc = pl_store_sessions_revoke_all(db, id, NULL, "disabled", now);
    if (!rc)
        rc = pl_audit_append(db, &req->ctx, NULL, disable ? "user.disabled" : "user.enabled",
                             "user", id, NULL);
    pl_user_t u;
    if (!rc)
        rc = pl_store_user_by_id(db, req->ctx.arena, id, &u);
    if ((rc = pl_db_finish(db, rc))) {
        if (rc == PL_ENOTFOUND)
            return pl_req_fail(req, 404, "not_found", "No such user.");
        return rc;
    }
    return pl_resp_json(req, 200, admin_user_json(&u));
}

int pl_admin_user_disable(pl_req_t *req)
{
    return set_disabled(req, true);
}

int pl_admin_user_enable(pl_req_t *req)
{
    return set_disabled(req, false);
}

static int create_admin(pl_db_t *db, const char *email_in)
{
    /* reuse the request helpers for validation on a throwaway request */
    pl_req_t req = {0};
    req.ctx.arena = pl_arena_create();
    int code = 1;
    const char *email = NULL;
    char password[1024] = {0};
    if (pl_auth_email(&req, "email", email_in, &email)) {
        fprintf(stderr, "plinth: --email: not a valid email address\n");
        code = 2;
        goto out;
    }
    pl_user_t existing;
    int rc = pl_store_user_by_email(db, req.ctx.arena, email, &existing);
    if (rc == PL_OK) {
        if ((rc = pl_db_begin(db)) == PL_OK) {
            rc = pl_store_user_set_admin(db, existing.id, true, pl_now_ms());
            if (!rc)
                rc = pl_audit_append(db, NULL, NULL, "user.promoted_admin", "user", existing.id,
                                     NULL);
            rc = pl_db_finish(db, rc);
        }
        if (rc) {
            fprintf(stderr, "plinth: cannot update the user\n");
            goto out;
        }
        printf("%s is now an instance admin (password unchanged)\n", email);
        code = 0;
        goto out;
    }
    if (rc != PL_ENOTFOUND) {
        fprintf(stderr, "plinth: cannot read users\n");
        goto out;
    }
    if (!fgets(password, sizeof(password), stdin)) {
        fprintf(stderr, "plinth: expected the password on standard input\n");
        code = 2;
        goto out;
    }
    password[strcspn(password, "\r\n")] = '\0';
    const char *reason = NULL;
    if (pl_password_check(password, strlen(password), email, &reason)) {
        fprintf(stderr, "plinth: %s\n", reason);
        code = 2;
        goto out;
    }
    char hash[PL_PASSWORD_HASH_MAX], id[37];
    if (pl_password_hash(password, strlen(password), hash)) {
        fprintf(stderr, "plinth: cannot hash the password\n");
        goto out;
    }
    pl_uuid7(id);
    const char *at = strchr(email, '@');
    char *name = pl_arena_strndup(req.ctx.arena, email, (size_t)(at - email));
    pl_user_t u = {.id = id,
                   .email = email,
                   .name = name,
                   .password_hash = hash,
                   .email_verified = true,
                   .is_admin = true};
    if ((rc = pl_db_begin(db)) == PL_OK) {
        json_t *org = NULL;
        rc = pl_auth_create_user(db, &u, &org);
        if (!rc)
            rc = pl_audit_append(db, NULL, NULL, "user.registered", "user", id, NULL);
        if (!rc)
            rc = pl_audit_append(db, NULL, NULL, "user.promoted_admin", "user", id, NULL);
        const char *org_id = json_string_value(json_object_get(org, "id"));
        if (!rc && org_id) {
            json_t *d = json_pack("{s:O, s:O, s:b}", "name", json_object_get(org, "name"), "slug",
                                  json_object_get(org, "slug"), "personal", 1);
            rc = pl_db_set_context(db, "app.org_id", org_id);
            if (!rc)
                rc = pl_audit_append(db, NULL, org_id, "org.created", "org", org_id, d);
            json_decref(d);
        }
        json_decref(org);
        rc = pl_db_finish(db, rc);
    }
    if (rc) {
        fprintf(stderr, "plinth: cannot create the admin (%d)\n", rc);
        goto out;
    }
    printf("created instance admin %s (%s)\n", email, id);
    code = 0;
out:
    pl_memzero(password, sizeof(password));
    pl_arena_destroy(req.ctx.arena);
    return code;
}

/* ---- the module ---- */

static char create_email[400];

static int create_cmd(pl_cli_t *cli)
{
    if (!create_email[0]) {
        fprintf(stderr, "plinth: admin create needs --email EMAIL\n");
        return 2;
    }
    return create_admin(cli->db, create_email);
}

static const pl_option_t create_options[] = {
    {"email", NULL, PL_OPT_STR, PL_OPT_S(create_email), 0, 0, 0, "EMAIL",
     "the admin's email address", NULL},
    {0},
};

static const pl_command_t commands[] = {
    {"admin create", "create or promote an instance admin (password on stdin)",
     "Usage: plinth admin create --email EMAIL [options]\n"
     "The password is read from standard input.",
     create_options, 0, PL_CMD_STORAGE, create_cmd},
    {0},
};

#define J PL_ROUTE_JSON

static pl_route_t routes[] = {
    {PL_M_GET, "/v1/admin/users", pl_admin_users_list, PL_AUTH_ADMIN, NULL, 0},
    {PL_M_POST, "/v1/admin/users/{id}/disable", pl_admin_user_disable, PL_AUTH_ADMIN, NULL, J},
    {PL_M_POST, "/v1/admin/users/{id}/enable", pl_admin_user_enable, PL_AUTH_ADMIN, NULL, J},
    {PL_M_GET, "/v1/admin/jobs", pl_admin_jobs_list, PL_AUTH_ADMIN, NULL, 0},
    {PL_M_POST, "/v1/admin/jobs/{id}/retry", pl_admin_jobs_retry, PL_AUTH_ADMIN, NULL, J},
    {0},
};

const pl_module_t pl_admin_module = {
    .name = "admin",
    .routes = routes,
    .commands = commands,
};
