/* collections_routes.c - the routes of collections: definitions
 * (/v1/admin/collections..., GET /v1/collections), records of org-scoped
 * (/v1/orgs/{org}/collections/{name}/records...) and project-scoped
 * (/v1/orgs/{org}/projects/{project}/collections/{name}/records...)
 * collections, their grants, `plinth collections apply`, and the module's
 * descriptor. Record routes need membership of the org; the permission
 * ({name}.read, ...) is dynamic, so the service checks it. */
#include <stdio.h>
#include <string.h>

#include "collections/collections.h"
#include "web/web.h"

/* ---- rendering ---- */

static json_t *definition_json(pl_req_t *req, const pl_coll_t *c)
{
    json_t *o = json_deep_copy(c->def);
    json_object_set_new(o, "version", json_integer(c->version));
    json_object_set_new(o, "created_at", json_string(pl_req_time(req, c->created_at)));
    json_object_set_new(o, "updated_at", json_string(pl_req_time(req, c->updated_at)));
    return o;
}

static json_t *record_json(pl_req_t *req, const pl_record_t *r)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(r->id));
    json_object_set(o, "data", r->data);
    json_object_set_new(o, "version", json_integer(r->version));
    json_object_set_new(o, "project_id", r->project_id ? json_string(r->project_id) : json_null());
    json_object_set_new(o, "created_by", r->created_by ? json_string(r->created_by) : json_null());
    json_object_set_new(o, "created_at", json_string(pl_req_time(req, r->created_at)));
    json_object_set_new(o, "updated_at", json_string(pl_req_time(req, r->updated_at)));
    return o;
}

static const char *etag(pl_req_t *req, int64_t version)
{
    return pl_arena_printf(req->ctx.arena, "\"%lld\"", (long long)version);
}

static int send_record(pl_req_t *req, int status, const pl_record_t *r)
{
    pl_resp_header(req, "ETag", etag(req, r->version));
    return pl_resp_json(req, status, record_json(req, r));
}

/* ---- definitions ---- */

static void add_definition(void *arg, const pl_coll_t *c)
{
    void **a = arg;
    json_array_append_new(a[1], definition_json(a[0], c));
}

static int definitions(pl_req_t *req)
{
    PL_DB_THREAD(db);
    json_t *list = json_array();
    void *a[2] = {req, list};
    int rc = pl_coll_list(db, &req->ctx, add_definition, a);
    if (rc) {
        json_decref(list);
        return rc;
    }
    return pl_resp_list(req, list, NULL);
}

static int definition_get(pl_req_t *req)
{
    PL_DB_THREAD(db);
    pl_coll_t c;
    int rc = pl_coll_get(db, &req->ctx, pl_req_param(req, "name"), &c);
    return rc ? rc : pl_resp_json(req, 200, definition_json(req, &c));
}

static int definition_put(pl_req_t *req)
{
    PL_DB_THREAD(db);
    const char *name = pl_req_param(req, "name");
    if (!pl_coll_name_valid(name))
        return pl_req_fail(req, 404, "not_found",
                           "A collection name matches ^[a-z][a-z0-9_]{0,62}$.");
    pl_coll_t c;
    bool created = false, changed = false;
    int rc = pl_coll_put(db, &req->ctx, name, req->json, &c, &created, &changed);
    return rc ? rc : pl_resp_json(req, created ? 201 : 200, definition_json(req, &c));
}

static int definition_delete(pl_req_t *req)
{
    PL_DB_THREAD(db);
    const char *force = pl_req_query(req, "force");
    if (force && strcmp(force, "true") && strcmp(force, "false"))
        return pl_req_fail(req, 400, "bad_request", "force is true or false.");
    int rc =
        pl_coll_delete(db, &req->ctx, pl_req_param(req, "name"), force && !strcmp(force, "true"));
    return rc ? rc : pl_resp_status(req, 204);
}

/* ---- records ---- */

static int scope(pl_req_t *req, pl_db_t **db, pl_rscope_t *s)
{
    *db = pl_db_thread();
    if (!*db)
        return PL_EUNAVAILABLE;
    return pl_records_scope(*db, &req->ctx, pl_req_param(req, "name"), pl_req_param(req, "project"),
                            s);
}

typedef struct {
    pl_req_t *req;
    pl_coll_query_t *q;
    int rc;
} query_parse_t;

/* filter[field]=v and filter[field][op]=v */
static int query_arg(void *arg, const char *name, const char *value)
{
    query_parse_t *p = arg;
    pl_req_t *req = p->req;
    if (strncmp(name, "filter[", 7))
        return 0;
    const char *f = name + 7, *close = strchr(f, ']');
    if (!close || close == f || (size_t)(close - f) > PL_COLL_FIELD_MAX) {
        p->rc = pl_req_fail(req, 400, "bad_request", "filter[field] or filter[field][op].");
        return 1;
    }
    int op = PL_OP_EQ;
    if (close[1] == '[') {
        const char *oc = strchr(close + 2, ']');
        char opname[16];
        size_t n = oc ? (size_t)(oc - close - 2) : 0;
        if (!oc || oc[1] || n >= sizeof(opname)) {
            p->rc = pl_req_fail(req, 400, "bad_request", "filter[field] or filter[field][op].");
            return 1;
        }
        memcpy(opname, close + 2, n);
        opname[n] = '\0';
        if ((op = pl_coll_op_parse(opname)) < 0) {
            pl_req_field_error(req, name, "invalid",
                               "The operator is one of eq ne lt lte gt gte in exists contains.");
            p->rc = PL_EINVAL;
            return 1;
        }
    } else if (close[1]) {
        p->rc = pl_req_fail(req, 400, "bad_request", "filter[field] or filter[field][op].");
        return 1;
    }
    if (p->q->nfilters >= PL_COLL_FILTERS_MAX) {
        pl_req_field_error(
            req, "filter", "too_long",
            pl_arena_printf(req->ctx.arena, "At most %d filters.", PL_COLL_FILTERS_MAX));
        p->rc = PL_EINVAL;
        return 1;
    }
    pl_coll_filter_t *flt = &p->q->filters[p->q->nfilters++];
    flt->field = pl_arena_strndup(req->ctx.arena, f, (size_t)(close - f));
    flt->op = (pl_coll_op_t)op;
    flt->value = value;
    return 0;
}

static void add_record(void *arg, const pl_record_t *r)
{
    void **a = arg;
    json_array_append_new(a[1], record_json(a[0], r));
}

static int records_list(pl_req_t *req)
{
    pl_coll_query_t q = {0};
    int rc = pl_req_page(req, &q.limit, &q.cursor);
    if (rc)
        return rc;
    query_parse_t p = {req, &q, PL_OK};
    pl_req_query_each(req, query_arg, &p);
    if (p.rc)
        return p.rc;
    q.sort = pl_req_query(req, "sort");
    if (q.sort && (!*q.sort || strlen(q.sort) > PL_COLL_FIELD_MAX + 1))
        return pl_req_fail(req, 400, "bad_request", "sort is a field, or -field.");
    q.q = pl_req_query(req, "q");
    if (q.q && strlen(q.q) > PL_COLL_Q_MAX)
        return pl_req_fail(req, 400, "bad_request", "q is too long.");
    if (q.q && !*q.q)
        q.q = NULL;
    pl_db_t *db;
    pl_rscope_t s;
    if ((rc = scope(req, &db, &s)))
        return rc;
    json_t *list = json_array();
    void *a[2] = {req, list};
    const char *next = NULL;
    if ((rc = pl_records_list(db, &req->ctx, &s, &q, add_record, a, &next))) {
        json_decref(list);
        return rc;
    }
    return pl_resp_list(req, list, next);
}

static int record_create(pl_req_t *req)
{
    pl_db_t *db;
    pl_rscope_t s;
    int rc = scope(req, &db, &s);
    if (rc)
        return rc;
    pl_record_t r;
    if ((rc = pl_records_create(db, &req->ctx, &s, req->json ? req->json : json_object(), &r)))
        return rc;
    pl_resp_header(req, "Location", pl_arena_printf(req->ctx.arena, "%s/%s", req->path, r.id));
    return send_record(req, 201, &r);
}

static int record_get(pl_req_t *req)
{
    pl_db_t *db;
    pl_rscope_t s;
    int rc = scope(req, &db, &s);
    if (rc)
        return rc;
    pl_record_t r;
    if ((rc = pl_records_get(db, &req->ctx, &s, pl_req_param(req, "id"), &r)))
        return rc;
    const char *inm = pl_req_header(req, "If-None-Match");
    char tag[24];
    snprintf(tag, sizeof(tag), "%lld", (long long)r.version);
    if (inm && pl_header_etag_match(inm, tag, true)) {
        pl_resp_header(req, "ETag", etag(req, r.version));
        return pl_resp_status(req, 304);
    }
    return send_record(req, 200, &r);
}

static int record_write(pl_req_t *req, bool merge)
{
    pl_db_t *db;
    pl_rscope_t s;
    int rc = scope(req, &db, &s);
    if (rc)
        return rc;
    pl_record_t r;
    json_t *body = req->json;
    json_t *empty = body ? NULL : json_object();
    rc = pl_records_update(db, &req->ctx, &s, pl_req_param(req, "id"), body ? body : empty, merge,
                           pl_req_header(req, "If-Match"), &r);
    json_decref(empty);
    return rc ? rc : send_record(req, 200, &r);
}

static int record_patch(pl_req_t *req)
{
    return record_write(req, true);
}

static int record_put(pl_req_t *req)
{
    return record_write(req, false);
}

static int record_delete(pl_req_t *req)
{
    pl_db_t *db;
    pl_rscope_t s;
    int rc = scope(req, &db, &s);
    if (rc)
        return rc;
    rc = pl_records_delete(db, &req->ctx, &s, pl_req_param(req, "id"),
                           pl_req_header(req, "If-Match"));
    return rc ? rc : pl_resp_status(req, 204);
}

/* ---- grants ---- */

static json_t *grant_json(pl_req_t *req, const pl_record_grant_t *g)
{
    json_t *o = json_object();
    json_object_set_new(o, "user_id", json_string(g->user_id));
    json_object_set_new(o, "access", json_string(g->access));
    json_object_set_new(o, "granted_by", g->granted_by ? json_string(g->granted_by) : json_null());
    json_object_set_new(o, "created_at", json_string(pl_req_time(req, g->created_at)));
    return o;
}

static void add_grant(void *arg, const pl_record_grant_t *g)
{
    void **a = arg;
    json_array_append_new(a[1], grant_json(a[0], g));
}

static int grants_list(pl_req_t *req)
{
    pl_db_t *db;
    pl_rscope_t s;
    int rc = scope(req, &db, &s);
    if (rc)
        return rc;
    json_t *list = json_array();
    void *a[2] = {req, list};
    if ((rc = pl_record_grants_list(db, &req->ctx, &s, pl_req_param(req, "id"), add_grant, a))) {
        json_decref(list);
        return rc;
    }
    return pl_resp_list(req, list, NULL);
}

static int grant_put(pl_req_t *req)
{
    const char *access;
    if (pl_json_get_string(req, "access", true, 4, 5, &access))
        return PL_EINVAL;
    if (strcmp(access, "read") && strcmp(access, "write")) {
        pl_req_field_error(req, "access", "invalid", "read or write.");
        return PL_EINVAL;
    }
    pl_db_t *db;
    pl_rscope_t s;
    int rc = scope(req, &db, &s);
    if (rc)
        return rc;
    pl_record_grant_t g;
    rc = pl_record_grants_put(db, &req->ctx, &s, pl_req_param(req, "id"), pl_req_param(req, "user"),
                              access, &g);
    return rc ? rc : pl_resp_json(req, 200, grant_json(req, &g));
}

static int grant_delete(pl_req_t *req)
{
    pl_db_t *db;
    pl_rscope_t s;
    int rc = scope(req, &db, &s);
    if (rc)
        return rc;
    rc = pl_record_grants_delete(db, &req->ctx, &s, pl_req_param(req, "id"),
                                 pl_req_param(req, "user"));
    return rc ? rc : pl_resp_status(req, 204);
}

/* ---- plinth collections apply ---- */

static int apply_cmd(pl_cli_t *cli)
{
    if (cli->argc != 1) {
        fprintf(stderr, "Usage: plinth collections apply FILE.json\n");
        return 2;
    }
    return pl_coll_apply_file(cli->db, cli->argv[0]);
}

static const pl_command_t commands[] = {
    {"collections apply", "create or update collection definitions from a JSON file",
     "Usage: plinth collections apply FILE.json [options]\n"
     "Applies {\"collections\": [Definition, ...]} in one transaction: definitions are\n"
     "created or replaced, unchanged ones left alone (idempotent). Exits 0 when applied,\n"
     "1 when a definition is invalid (nothing applied), 2 on a usage or storage error.",
     NULL, 1, PL_CMD_STORAGE, apply_cmd},
    {0},
};

/* ---- the module ---- */

#define J   PL_ROUTE_JSON
#define ORG PL_AUTH_ORG
#define ADM PL_AUTH_ADMIN
#define OB  "/v1/orgs/{org}/collections/{name}/records"
#define PB  "/v1/orgs/{org}/projects/{project}/collections/{name}/records"

static pl_route_t routes[] = {
    {PL_M_GET, "/v1/admin/collections", definitions, ADM, NULL, 0},
    {PL_M_GET, "/v1/admin/collections/{name}", definition_get, ADM, NULL, 0},
    {PL_M_PUT, "/v1/admin/collections/{name}", definition_put, ADM, NULL, J},
    {PL_M_DELETE, "/v1/admin/collections/{name}", definition_delete, ADM, NULL, 0},
    {PL_M_GET, "/v1/collections", definitions, PL_AUTH_USER, NULL, 0},
    {PL_M_GET, OB, records_list, ORG, NULL, 0},
    /* the instance admin's view of any organization's records (dashboard) */
    {PL_M_GET, "/v1/admin/orgs/{org}/collections/{name}/records", records_list, ADM, NULL,
     PL_ROUTE_ADMIN_ORG},
    {PL_M_GET, "/v1/admin/orgs/{org}/projects/{project}/collections/{name}/records", records_list,
     ADM, NULL, PL_ROUTE_ADMIN_ORG},
    {PL_M_POST, OB, record_create, ORG, NULL, J},
    {PL_M_GET, OB "/{id}", record_get, ORG, NULL, 0},
    {PL_M_PATCH, OB "/{id}", record_patch, ORG, NULL, J},
    {PL_M_PUT, OB "/{id}", record_put, ORG, NULL, J},
    {PL_M_DELETE, OB "/{id}", record_delete, ORG, NULL, 0},
    {PL_M_GET, OB "/{id}/grants", grants_list, ORG, NULL, 0},
    {PL_M_PUT, OB "/{id}/grants/{user}", grant_put, ORG, NULL, J},
    {PL_M_DELETE, OB "/{id}/grants/{user}", grant_delete, ORG, NULL, 0},
    {PL_M_GET, PB, records_list, ORG, NULL, 0},
    {PL_M_POST, PB, record_create, ORG, NULL, J},
    {PL_M_GET, PB "/{id}", record_get, ORG, NULL, 0},
    {PL_M_PATCH, PB "/{id}", record_patch, ORG, NULL, J},
    {PL_M_PUT, PB "/{id}", record_put, ORG, NULL, J},
    {PL_M_DELETE, PB "/{id}", record_delete, ORG, NULL, 0},
    {PL_M_GET, PB "/{id}/grants", grants_list, ORG, NULL, 0},
    {PL_M_PUT, PB "/{id}/grants/{user}", grant_put, ORG, NULL, J},
    {PL_M_DELETE, PB "/{id}/grants/{user}", grant_delete, ORG, NULL, 0},
    {0},
};

static const pl_error_def_t errors[] = {
    {"precondition_failed", "Precondition failed"},
    {"plan_limit_reached", "Plan limit reached"},
    {0},
};

const char *const pl_collections_actions[] = {
    "record.created",     "record.updated",     "record.deleted",     "record.granted",
    "collection.created", "collection.updated", "collection.deleted", NULL,
};

const pl_module_t pl_collections_module = {
    .name = "collections",
    .routes = routes,
    .errors = errors,
    .commands = commands,
    .actions = pl_collections_actions,
    .on_event = pl_records_on_event,
    .init = pl_collections_init,
    .start = pl_collections_start,
    .stop = pl_collections_stop,
};
