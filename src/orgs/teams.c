/* teams.c - teams inside an organization; their members must be members of
 * the organization (a foreign key to memberships removes them with it). */
#include <string.h>

#include "platform/audit/audit.h"
#include "core/jsonw.h"
#include "db/db.h"
#include "orgs/orgs.h"
#include "orgs/orgs_store.h"

#define NAME_MAX_BYTES 200

static void write_team(pl_jw_t *w, const pl_team_t *t)
{
    pl_jw_object_open(w, NULL);
    pl_jw_string(w, "id", t->id);
    pl_jw_string(w, "name", t->name);
    pl_jw_int(w, "member_count", t->member_count);
    pl_jw_time(w, "created_at", t->created_at);
    pl_jw_object_close(w);
}

static int team_response(pl_req_t *req, int status, const pl_team_t *t)
{
    pl_buf_t b;
    pl_buf_init(&b, 64 * 1024);
    pl_jw_t w;
    pl_jw_init(&w, &b);
    write_team(&w, t);
    int rc = w.err ? w.err : pl_resp_json_buf(req, status, &b);
    pl_buf_free(&b);
    return rc;
}

static int audit_team(pl_db_t *db, pl_req_t *req, const char *action, const char *team_id,
                      const char *key, const char *value)
{
    json_t *d = json_pack("{s:s}", key, value);
    int rc = pl_audit_append(db, &req->ctx, req->ctx.tenant.org_id, action, "team", team_id, d);
    json_decref(d);
    return rc;
}

static int no_team(pl_req_t *req)
{
    return pl_req_fail(req, 404, "not_found", "No such team.");
}

typedef struct {
    pl_jw_t *w;
    int count, limit;
    const char *last;
} page_t;

static void add_team(void *ctx, const pl_team_t *t)
{
    page_t *p = ctx;
    if (++p->count > p->limit)
        return;
    write_team(p->w, t);
    p->last = t->id;
}

int pl_teams_list(pl_req_t *req)
{
    int limit;
    const char *cursor;
    int rc = pl_req_page_id(req, &limit, &cursor);
    if (rc)
        return rc;
    pl_db_t *db = pl_db_thread();
    if (!db)
        return PL_EDB;
    pl_buf_t b;
    pl_buf_init(&b, 16 * 1024 * 1024);
    pl_jw_t w;
    pl_jw_init(&w, &b);
    pl_jw_object_open(&w, NULL);
    pl_jw_array_open(&w, "data");
    page_t p = {&w, 0, limit, NULL};
    rc = pl_teams_store_list(db, req->ctx.arena, req->ctx.tenant.org_id, cursor, limit + 1,
                             add_team, &p);
    pl_jw_array_close(&w);
    pl_jw_string(&w, "next_cursor", p.count > limit ? p.last : NULL);
    pl_jw_object_close(&w);
    if (!rc)
        rc = w.err;
    if (!rc)
        rc = pl_resp_json_buf(req, 200, &b);
    pl_buf_free(&b);
    return rc;
}

int pl_teams_create(pl_req_t *req)
{
    const char *name = NULL;
    if (pl_json_get_string(req, "name", true, 1, NAME_MAX_BYTES, &name))
        return PL_EINVAL;
    pl_db_t *db = pl_db_thread();
    if (!db)
        return PL_EDB;
    char id[37];
    pl_uuid7(id);
    int64_t now = pl_now_ms();
    int rc = pl_db_begin(db);
    if (rc)
        return rc;
    rc = pl_teams_store_insert(db, req->ctx.tenant.org_id, id, name, now);
    if (!rc)
        rc = audit_team(db, req, "team.created", id, "name", name);
    if ((rc = pl_db_finish(db, rc)))
        return rc;
    pl_team_t t = {id, name, 0, now};
    return team_response(req, 201, &t);
}

/* The team of the path, in this org; records 404 otherwise. */
static int load_team(pl_req_t *req, pl_db_t *db, pl_team_t *t)
{
    const char *id = pl_req_param(req, "team");
    if (!pl_uuid_valid(id))
        return no_team(req);
    int rc = pl_teams_store_get(db, req->ctx.arena, req->ctx.tenant.org_id, id, t);
    return rc == PL_ENOTFOUND ? no_team(req) : rc;
}

int pl_teams_get(pl_req_t *req)
{
    pl_db_t *db = pl_db_thread();
    if (!db)
        return PL_EDB;
    pl_team_t t;
    int rc = load_team(req, db, &t);
    return rc ? rc : team_response(req, 200, &t);
}

int pl_teams_update(pl_req_t *req)
{
    const char *name = NULL;
    if (pl_json_get_string(req, "name", true, 1, NAME_MAX_BYTES, &name))
        return PL_EINVAL;
    pl_db_t *db = pl_db_thread();
    if (!db)
        return PL_EDB;
    int rc = pl_db_begin(db);
    if (rc)
        return rc;
    pl_team_t t;
    rc = load_team(req, db, &t);
    if (!rc)
        rc = pl_teams_store_rename(db, req->ctx.tenant.org_id, t.id, name, pl_now_ms());
    if (!rc)
        rc = audit_team(db, req, "team.updated", t.id, "name", name);
    if ((rc = pl_db_finish(db, rc)))
        return rc;
    t.name = name;
    return team_response(req, 200, &t);
}

int pl_teams_delete(pl_req_t *req)
{
    pl_db_t *db = pl_db_thread();
    if (!db)
        return PL_EDB;
    int rc = pl_db_begin(db);
    if (rc)
        return rc;
    pl_team_t t;
    rc = load_team(req, db, &t);
    if (!rc)
        rc = pl_teams_store_delete(db, req->ctx.tenant.org_id, t.id);
    if (!rc)
        rc = audit_team(db, req, "team.deleted", t.id, "name", t.name);
    if ((rc = pl_db_finish(db, rc)))
        return rc;
    return pl_resp_status(req, 204);
}

static int team_member(pl_req_t *req, bool add)
{
    const char *user_id = pl_req_param(req, "user");
    pl_db_t *db = pl_db_thread();
    if (!db)
        return PL_EDB;
    int rc = pl_db_begin(db);
    if (rc)
        return rc;
    pl_team_t t;
    rc = load_team(req, db, &t);
    const char *role = NULL;
    if (!rc) {
        int m =
            pl_uuid_valid(user_id)
                ? pl_members_store_role(db, req->ctx.arena, req->ctx.tenant.org_id, user_id, &role)
                : PL_ENOTFOUND;
        if (m == PL_ENOTFOUND) {
            pl_req_field_error(req, "user", "not_a_member",
                               "The user is not a member of this organization.");
            rc = PL_EINVAL;
        } else {
            rc = m;
        }
    }
    if (!rc && add)
        rc = pl_teams_store_add_member(db, req->ctx.tenant.org_id, t.id, user_id, pl_now_ms());
    if (!rc && !add) {
        rc = pl_teams_store_remove_member(db, req->ctx.tenant.org_id, t.id, user_id);
        if (rc == PL_ENOTFOUND)
            rc = pl_req_fail(req, 404, "not_found", "The user is not in this team.");
    }
    if (!rc)
        rc = audit_team(db, req, add ? "team.member_added" : "team.member_removed", t.id, "user_id",
                        user_id);
    if ((rc = pl_db_finish(db, rc)))
        return rc;
    return pl_resp_status(req, 204);
}

int pl_teams_member_add(pl_req_t *req)
{
    return team_member(req, true);
}

int pl_teams_member_remove(pl_req_t *req)
{
    return team_member(req, false);
}
