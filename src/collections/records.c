/* records.c - records of collections: validation, the access rules
 * (collections.h), versions and preconditions, the plan's records limit,
 * events, grants, list queries with filters, sort and full-text search. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "billing/billing.h"
#include "collections/collections_store.h"
#include "files/files.h"
#include "notifications/notifications.h"
#include "platform/audit/audit.h"
#include "projects/projects.h"
#include "rbac/rbac.h"
#include "realtime/realtime.h"

#define ADMIN_LEVEL 3 /* holders at this level and above ignore "creator" rules */

static int no_record(pl_ctx_t *ctx)
{
    return pl_fail(ctx, 404, "not_found", "No such record.");
}

static bool has_perm(pl_ctx_t *ctx, const char *coll, const char *verb)
{
    char key[PL_PERM_KEY_MAX + 1];
    snprintf(key, sizeof(key), "%s.%s", coll, verb);
    return pl_perms_has(&ctx->tenant.perms, pl_perm_bit(key));
}

static void json_cleanup(void *p)
{
    json_decref(p);
}

int pl_records_scope(pl_db_t *db, pl_ctx_t *ctx, const char *name, const char *project_ref,
                     pl_rscope_t *out)
{
    memset(out, 0, sizeof(*out));
    int rc = pl_coll_get(db, ctx, name, &out->coll);
    if (rc)
        return rc;
    if (out->coll.project_scope != (project_ref != NULL))
        return pl_fail(ctx, 404, "not_found", "No such collection.");
    if (project_ref) {
        pl_project_t p;
        if ((rc = pl_projects_get(db, ctx, project_ref, &p)))
            return rc;
        out->project_id = p.id;
    }
    return PL_OK;
}

/* ---- validation ---- */

typedef struct {
    pl_ctx_t *ctx;
} verr_t;

static void on_error(void *arg, const char *pointer, const char *keyword, const char *message)
{
    verr_t *v = arg;
    pl_field_error(v->ctx, pl_arena_strdup(v->ctx->arena, pointer),
                   pl_arena_strdup(v->ctx->arena, keyword),
                   pl_arena_strdup(v->ctx->arena, message));
}

/* The x-ref, x-user and x-file properties of data, checked against the
 * organization (and project). */
static int check_links(pl_db_t *db, pl_ctx_t *ctx, const pl_rscope_t *s, json_t *data)
{
    const char *k;
    json_t *ps;
    int rc = PL_OK;
    json_object_foreach(json_object_get(s->coll.schema, "properties"), k, ps)
    {
        const char *v = json_string_value(json_object_get(data, k));
        if (!v || rc)
            continue;
        const char *ptr = pl_arena_printf(ctx->arena, "/%s", k);
        const char *ref = json_string_value(json_object_get(ps, "x-ref"));
        if (ref) {
            pl_record_row_t row;
            int r = pl_uuid_valid(v)
                        ? pl_rec_store_get(db, ctx->arena, ctx->tenant.org_id, ref, v, false, &row)
                        : PL_ENOTFOUND;
            if (r == PL_ENOTFOUND ||
                (!r && (row.project_id ? !s->project_id || strcmp(row.project_id, s->project_id)
                                       : s->project_id != NULL)))
                pl_field_error(ctx, ptr, "x-ref",
                               pl_arena_printf(ctx->arena, "No such %s record.", ref));
            else if (r)
                rc = r;
        }
        if (json_is_true(json_object_get(ps, "x-user"))) {
            bool member = false;
            if (pl_uuid_valid(v) &&
                (rc = pl_rec_store_is_member(db, ctx->tenant.org_id, v, &member)))
                continue;
            if (!member)
                pl_field_error(ctx, ptr, "x-user", "Not a member of the organization.");
        }
        if (json_is_true(json_object_get(ps, "x-file"))) {
            /* a file of this organization (files module) */
            int f = pl_uuid_valid(v) ? pl_files_exists(db, ctx, ctx->tenant.org_id, v) : 0;
            if (f < 0) {
                rc = f;
                continue;
            }
            if (!f)
                pl_field_error(ctx, ptr, "x-file", "No such file.");
        }
    }
    return rc ? rc : pl_validated(ctx);
}

/* Validates data and serializes it (*text, freed by the arena) and its
 * search text. */
static int validate_data(pl_db_t *db, pl_ctx_t *ctx, const pl_rscope_t *s, json_t *data,
                         const char **text, const char **search)
{
    if (!json_is_object(data)) {
        pl_field_error(ctx, "", "type", "The record's data is an object.");
        return PL_EINVAL;
    }
    char *t = json_dumps(data, JSON_COMPACT);
    if (!t)
        return pl_fail(ctx, 422, "validation_failed", "The data cannot be stored.");
    size_t n = strlen(t);
    *text = pl_arena_strndup(ctx->arena, t, n);
    free(t);
    if ((int64_t)n > s->coll.max_record_bytes) {
        pl_field_error(ctx, "", "max_record_bytes",
                       pl_arena_printf(ctx->arena, "The record is larger than %lld bytes.",
                                       (long long)s->coll.max_record_bytes));
        return PL_EINVAL;
    }
    verr_t v = {ctx};
    if (pl_coll_validate(s->coll.schema, data, on_error, &v))
        return PL_EINVAL;
    int rc = check_links(db, ctx, s, data);
    if (rc)
        return rc;
    pl_buf_t b;
    pl_buf_init(&b, PL_COLL_SEARCH_TEXT_MAX);
    size_t i;
    json_t *f;
    json_array_foreach(json_object_get(s->coll.def, "search"), i, f)
    {
        json_t *x = json_object_get(data, json_string_value(f));
        if (json_is_string(x)) {
            pl_buf_append(&b, json_string_value(x), json_string_length(x));
            pl_buf_append(&b, "\n", 1);
        } else if (json_is_array(x)) {
            size_t j;
            json_t *y;
            json_array_foreach(x, j, y) if (json_is_string(y))
            {
                pl_buf_append(&b, json_string_value(y), json_string_length(y));
                pl_buf_append(&b, "\n", 1);
            }
        }
    }
    *search = pl_arena_strndup(ctx->arena, b.ptr ? b.ptr : "", b.len);
    pl_buf_free(&b);
    return PL_OK;
}

/* ---- rows and access ---- */

static int to_record(pl_ctx_t *ctx, const pl_record_row_t *row, pl_record_t *out)
{
    json_t *data = json_loads(row->data, JSON_DECODE_ANY, NULL);
    if (!data)
        return PL_EINTERNAL;
    pl_arena_cleanup_add(ctx->arena, json_cleanup, data);
    *out = (pl_record_t){row->id,      row->collection, row->project_id, data,
                         row->version, row->created_by, row->created_at, row->updated_at};
    return PL_OK;
}

typedef enum { ACT_READ, ACT_UPDATE, ACT_DELETE, ACT_GRANT } act_t;

/* May ctx's caller act on row? PL_OK, or 404 (may not read) / 403. */
static int may(pl_db_t *db, pl_ctx_t *ctx, const pl_rscope_t *s, const pl_record_row_t *row,
               act_t act)
{
    const char *name = s->coll.name, *user = pl_ctx_user(ctx);
    const char *grant = NULL;
    bool read = has_perm(ctx, name, "read");
    if (user) {
        int rc = pl_grant_store_get(db, ctx->tenant.org_id, row->id, user, ctx->arena, &grant);
        if (rc)
            return rc;
    }
    if (!read && !grant)
        return no_record(ctx);
    if (act == ACT_READ)
        return PL_OK;
    bool creator_rule = act == ACT_DELETE ? s->coll.delete_creator : s->coll.update_creator;
    bool own = user && row->created_by && !strcmp(user, row->created_by);
    bool by_perm = has_perm(ctx, name, act == ACT_DELETE ? "delete" : "update") &&
                   (!creator_rule || ctx->tenant.level >= ADMIN_LEVEL || own);
    if (by_perm)
        return PL_OK;
    if (act == ACT_UPDATE && grant && !strcmp(grant, "write"))
        return PL_OK;
    return pl_fail(ctx, 403, "forbidden", "You may not change this record.");
}

/* The record id of scope s, read for act (locked for writers). */
static int load(pl_db_t *db, pl_ctx_t *ctx, const pl_rscope_t *s, const char *id, act_t act,
                pl_record_row_t *row)
{
    if (!pl_uuid_valid(id))
        return no_record(ctx);
    int rc = pl_rec_store_get(db, ctx->arena, ctx->tenant.org_id, s->coll.name, id, act != ACT_READ,
                              row);
    if (rc == PL_ENOTFOUND)
        return no_record(ctx);
    if (rc)
        return rc;
    if (row->project_id ? !s->project_id || strcmp(row->project_id, s->project_id)
                        : s->project_id != NULL)
        return no_record(ctx);
    return may(db, ctx, s, row, act);
}

/* Whether an If-Match value ("*" or a list of strong entity-tags) names
 * tag; weak tags never match (strong comparison). */
static bool etag_listed(const char *h, const char *tag)
{
    size_t n = strlen(tag);
    const char *p = h;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        if (*p == '*')
            return true;
        if (*p != '"') {
            while (*p && *p != ',')
                p++;
            continue;
        }
        const char *end = strchr(p + 1, '"');
        if (!end)
            return false;
        if ((size_t)(end - p - 1) == n && !memcmp(p + 1, tag, n))
            return true;
        p = end + 1;
    }
    return false;
}

static int precondition(pl_ctx_t *ctx, const char *if_match, int64_t version)
{
    if (!if_match)
        return PL_OK;
    char tag[24];
    snprintf(tag, sizeof(tag), "%lld", (long long)version);
    if (etag_listed(if_match, tag))
        return PL_OK;
    return pl_fail(ctx, 412, "precondition_failed", "The record has changed since (If-Match).");
}

/* record.* in the org chain, and the assignment notifications */
static int event(pl_db_t *db, pl_ctx_t *ctx, const pl_rscope_t *s, const char *action,
                 const char *id, int64_t version, json_t *extra)
{
    json_t *d = json_pack("{s:s, s:s, s:s?, s:I}", "collection", s->coll.name, "record_id", id,
                          "project_id", s->project_id, "version", (json_int_t)version);
    if (extra)
        json_object_update(d, extra);
    int rc = pl_audit_append(db, ctx, ctx->tenant.org_id, action, "record", id, d);
    json_decref(d);
    return rc;
}

/* Tells each user an x-user property newly names (not in old) that a
 * record was assigned to them. */
static int notify_assigned(pl_db_t *db, pl_ctx_t *ctx, const pl_rscope_t *s, const char *id,
                           json_t *data, json_t *old)
{
    const char *k;
    json_t *ps;
    json_object_foreach(json_object_get(s->coll.schema, "properties"), k, ps)
    {
        if (!json_is_true(json_object_get(ps, "x-user")))
            continue;
        const char *u = json_string_value(json_object_get(data, k));
        const char *was = old ? json_string_value(json_object_get(old, k)) : NULL;
        if (!u || (was && !strcmp(u, was)))
            continue;
        pl_event_t ev = {.org_id = ctx->tenant.org_id,
                         .action = "record.assigned",
                         .actor_type = pl_ctx_user(ctx) ? "user" : "api_key",
                         .actor_id = pl_ctx_user(ctx)};
        json_t *d = json_pack("{s:s, s:s, s:s?, s:s}", "collection", s->coll.name, "record_id", id,
                              "project_id", s->project_id, "field", k);
        pl_notification_t n = {
            .user_id = u,
            .type = "record.assigned",
            .org_id = ctx->tenant.org_id,
            .title = pl_arena_printf(ctx->arena, "A %s record was assigned to you", s->coll.name),
            .body =
                pl_arena_printf(ctx->arena, "You were set as %s of a %s record.", k, s->coll.name),
            .data = d,
        };
        int rc = pl_notifications_create(db, &ev, &n, false);
        json_decref(d);
        if (rc)
            return rc;
    }
    return PL_OK;
}

/* ---- create, read, update, delete ---- */

int pl_records_create(pl_db_t *db, pl_ctx_t *ctx, const pl_rscope_t *s, json_t *data,
                      pl_record_t *out)
{
    if (!has_perm(ctx, s->coll.name, "create"))
        return pl_fail(ctx, 403, "forbidden", "You may not create records here.");
    int rc = pl_db_begin(db);
    if (rc)
        return rc;
    const char *text = NULL, *search = NULL;
    /* the plan's limit first: a stored counter raised in this transaction */
    rc = pl_billing_reserve(db, ctx, ctx->tenant.org_id, "records", 1);
    if (!rc)
        rc = validate_data(db, ctx, s, data, &text, &search);
    char id[PL_ID_LEN];
    pl_uuid7(id);
    int64_t now = pl_now_ms();
    pl_record_row_t row = {.id = pl_arena_strdup(ctx->arena, id),
                           .org_id = ctx->tenant.org_id,
                           .collection = s->coll.name,
                           .project_id = s->project_id,
                           .data = text,
                           .search_text = search,
                           .version = 1,
                           .created_by = pl_ctx_user(ctx),
                           .created_at = now,
                           .updated_at = now};
    if (!rc)
        rc = pl_rec_store_insert(db, &row);
    if (!rc)
        rc = event(db, ctx, s, "record.created", row.id, 1, NULL);
    if (!rc)
        rc = notify_assigned(db, ctx, s, row.id, data, NULL);
    if ((rc = pl_db_finish(db, rc)))
        return rc;
    json_incref(data);
    pl_arena_cleanup_add(ctx->arena, json_cleanup, data);
    *out = (pl_record_t){row.id, s->coll.name, s->project_id, data, 1, row.created_by, now, now};
    return PL_OK;
}

int pl_records_get(pl_db_t *db, pl_ctx_t *ctx, const pl_rscope_t *s, const char *id,
                   pl_record_t *out)
{
    pl_record_row_t row;
    int rc = load(db, ctx, s, id, ACT_READ, &row);
    return rc ? rc : to_record(ctx, &row, out);
}

/* RFC 7396: patch applied onto target (both objects; target changed). */
static void merge_patch(json_t *target, json_t *patch)
{
    const char *k;
    json_t *v;
    json_object_foreach(patch, k, v)
    {
        if (json_is_null(v)) {
            json_object_del(target, k);
        } else if (json_is_object(v)) {
            json_t *t = json_object_get(target, k);
            if (!json_is_object(t)) {
                t = json_object();
                json_object_set_new(target, k, t);
            }
            merge_patch(t, v);
        } else {
            json_object_set(target, k, v);
        }
    }
}

int pl_records_update(pl_db_t *db, pl_ctx_t *ctx, const pl_rscope_t *s, const char *id,
                      json_t *data, bool merge, const char *if_match, pl_record_t *out)
{
    int rc = pl_db_begin(db);
    if (rc)
        return rc;
    pl_record_row_t row;
    pl_record_t old;
    rc = load(db, ctx, s, id, ACT_UPDATE, &row);
    if (!rc)
        rc = precondition(ctx, if_match, row.version);
    if (!rc)
        rc = to_record(ctx, &row, &old);
    json_t *next = NULL;
    if (!rc) {
        if (merge) {
            next = json_deep_copy(old.data);
            merge_patch(next, data);
        } else {
            next = json_incref(data);
        }
        pl_arena_cleanup_add(ctx->arena, json_cleanup, next);
    }
    const char *text = NULL, *search = NULL;
    if (!rc)
        rc = validate_data(db, ctx, s, next, &text, &search);
    int64_t now = pl_now_ms();
    if (!rc) {
        rc = pl_rec_store_update(db, ctx->tenant.org_id, row.id, row.version, text, search, now);
        if (rc == PL_ENOTFOUND)
            rc = pl_fail(ctx, 412, "precondition_failed", "The record changed meanwhile.");
    }
    if (!rc)
        rc = event(db, ctx, s, "record.updated", row.id, row.version + 1, NULL);
    if (!rc)
        rc = notify_assigned(db, ctx, s, row.id, next, old.data);
    if ((rc = pl_db_finish(db, rc)))
        return rc;
    *out = (pl_record_t){row.id,          s->coll.name,   s->project_id,  next,
                         row.version + 1, row.created_by, row.created_at, now};
    return PL_OK;
}

/* ---- deleting, and what references the deleted record ---- */

typedef struct {
    pl_db_t *db;
    pl_ctx_t *ctx;
    int rc;
    int depth;
} del_t;

static int delete_row(del_t *d, const pl_rscope_t *s, const char *id);

/* Every collection with an x-ref to s's collection: obey its x-on-delete. */
static void on_referenced(void *arg, const pl_coll_t *c);

typedef struct {
    del_t *d;
    const pl_rscope_t *s;
    const char *id;
} ref_t;

static void on_referenced_impl(ref_t *r, const pl_coll_t *c)
{
    del_t *d = r->d;
    const char *k;
    json_t *ps;
    json_object_foreach(json_object_get(c->schema, "properties"), k, ps)
    {
        const char *target = json_string_value(json_object_get(ps, "x-ref"));
        if (d->rc || !target || strcmp(target, r->s->coll.name))
            continue;
        const char *mode = json_string_value(json_object_get(ps, "x-on-delete"));
        if (!mode)
            mode = "conflict";
        const char **ids;
        int n;
        d->rc = pl_rec_store_referencing(d->db, d->ctx->arena, d->ctx->tenant.org_id, c->name, k,
                                         r->id, 1000, &ids, &n);
        if (d->rc || !n)
            continue;
        if (!strcmp(mode, "conflict")) {
            d->rc =
                pl_fail(d->ctx, 409, "conflict",
                        pl_arena_printf(d->ctx->arena, "Records of %s refer to this record (%s).",
                                        c->name, k));
            continue;
        }
        pl_rscope_t cs = {.coll = *c, .project_id = r->s->project_id};
        for (int i = 0; i < n && !d->rc; i++) {
            if (!strcmp(mode, "cascade")) {
                d->rc = delete_row(d, &cs, ids[i]);
                continue;
            }
            pl_record_row_t row;
            d->rc = pl_rec_store_get(d->db, d->ctx->arena, d->ctx->tenant.org_id, c->name, ids[i],
                                     true, &row);
            json_t *data = d->rc ? NULL : json_loads(row.data, 0, NULL);
            if (!d->rc && !data)
                d->rc = PL_EINTERNAL;
            if (d->rc)
                continue;
            json_object_set_new(data, k, json_null());
            char *text = json_dumps(data, JSON_COMPACT);
            json_decref(data);
            d->rc = pl_rec_store_update(d->db, d->ctx->tenant.org_id, ids[i], row.version, text,
                                        row.search_text, pl_now_ms());
            free(text);
            if (!d->rc)
                d->rc = event(d->db, d->ctx, &cs, "record.updated", ids[i], row.version + 1, NULL);
        }
    }
}

static void on_referenced(void *arg, const pl_coll_t *c)
{
    on_referenced_impl(arg, c);
}

static int delete_row(del_t *d, const pl_rscope_t *s, const char *id)
{
    if (++d->depth > 8)
        return pl_fail(d->ctx, 409, "conflict", "Deleting this record cascades too deeply.");
    ref_t r = {d, s, id};
    int rc = pl_coll_list(d->db, d->ctx, on_referenced, &r);
    if (!rc)
        rc = d->rc;
    if (!rc)
        rc = pl_rec_store_delete(d->db, d->ctx->tenant.org_id, id);
    if (rc == PL_ENOTFOUND)
        rc = PL_OK; /* removed by an earlier cascade */
    else if (!rc)
        rc = pl_billing_release(d->db, d->ctx->tenant.org_id, "records", 1);
    if (!rc)
        rc = event(d->db, d->ctx, s, "record.deleted", id, 0, NULL);
    d->depth--;
    return rc;
}

int pl_records_delete(pl_db_t *db, pl_ctx_t *ctx, const pl_rscope_t *s, const char *id,
                      const char *if_match)
{
    int rc = pl_db_begin(db);
    if (rc)
        return rc;
    pl_record_row_t row;
    rc = load(db, ctx, s, id, ACT_DELETE, &row);
    if (!rc)
        rc = precondition(ctx, if_match, row.version);
    del_t d = {db, ctx, PL_OK, 0};
    if (!rc)
        rc = delete_row(&d, s, row.id);
    return pl_db_finish(db, rc);
}

/* ---- grants ---- */

int pl_record_grants_list(pl_db_t *db, pl_ctx_t *ctx, const pl_rscope_t *s, const char *id,
                          void (*fn)(void *arg, const pl_record_grant_t *g), void *arg)
{
    pl_record_row_t row;
    int rc = load(db, ctx, s, id, ACT_GRANT, &row);
    return rc ? rc : pl_grant_store_list(db, ctx->arena, ctx->tenant.org_id, row.id, fn, arg);
}

int pl_record_grants_put(pl_db_t *db, pl_ctx_t *ctx, const pl_rscope_t *s, const char *id,
                         const char *user_id, const char *access, pl_record_grant_t *out)
{
    int rc = pl_db_begin(db);
    if (rc)
        return rc;
    pl_record_row_t row;
    rc = load(db, ctx, s, id, ACT_GRANT, &row);
    bool member = false;
    if (!rc && pl_uuid_valid(user_id))
        rc = pl_rec_store_is_member(db, ctx->tenant.org_id, user_id, &member);
    if (!rc && !member) {
        pl_field_error(ctx, "user", "invalid", "Not a member of the organization.");
        rc = PL_EINVAL;
    }
    int64_t now = pl_now_ms();
    if (!rc)
        rc = pl_grant_store_put(db, ctx->tenant.org_id, row.id, user_id, access, pl_ctx_user(ctx),
                                now);
    json_t *extra = json_pack("{s:s, s:s}", "user_id", user_id, "access", access);
    if (!rc)
        rc = event(db, ctx, s, "record.granted", row.id, row.version, extra);
    json_decref(extra);
    if ((rc = pl_db_finish(db, rc)))
        return rc;
    *out = (pl_record_grant_t){user_id, access, pl_ctx_user(ctx), now};
    return PL_OK;
}

int pl_record_grants_delete(pl_db_t *db, pl_ctx_t *ctx, const pl_rscope_t *s, const char *id,
                            const char *user_id)
{
    int rc = pl_db_begin(db);
    if (rc)
        return rc;
    pl_record_row_t row;
    rc = load(db, ctx, s, id, ACT_GRANT, &row);
    if (!rc) {
        rc = pl_uuid_valid(user_id) ? pl_grant_store_delete(db, ctx->tenant.org_id, row.id, user_id)
                                    : PL_ENOTFOUND;
        if (rc == PL_ENOTFOUND)
            rc = pl_fail(ctx, 404, "not_found", "No such grant.");
    }
    return pl_db_finish(db, rc);
}

/* ---- list queries ---- */

int pl_coll_op_parse(const char *s)
{
    static const char *const ops[] = {"eq",  "ne", "lt",     "lte",     "gt",
                                      "gte", "in", "exists", "contains"};
    for (size_t i = 0; i < PL_ARRAY_LEN(ops); i++)
        if (!strcmp(s, ops[i]))
            return (int)i;
    return -1;
}

/* The JSON type a declared field holds for comparisons. */
typedef enum { K_STRING, K_NUMBER, K_BOOL, K_ARRAY, K_OTHER } kind_t;

static kind_t kind_of(json_t *ps)
{
    json_t *t = json_object_get(ps, "type");
    const char *name = json_string_value(t);
    if (json_is_array(t)) {
        size_t i;
        json_t *x;
        json_array_foreach(t, i, x) if (strcmp(json_string_value(x), "null"))
        {
            name = json_string_value(x);
            break;
        }
    }
    if (!t)
        return K_STRING; /* no type: compared as text (an enum of strings) */
    if (!name)
        return K_OTHER;
    if (!strcmp(name, "string"))
        return K_STRING;
    if (!strcmp(name, "number") || !strcmp(name, "integer"))
        return K_NUMBER;
    if (!strcmp(name, "boolean"))
        return K_BOOL;
    if (!strcmp(name, "array"))
        return K_ARRAY;
    return K_OTHER;
}

typedef struct {
    pl_buf_t sql;
    pl_rec_query_t q;
    bool pg;
    pl_arena_t *a;
} build_t;

static int param_text(build_t *b, const char *v)
{
    int i = b->q.nparams++;
    b->q.text[i] = v;
    return i + 1;
}

static int param_int(build_t *b, int64_t v)
{
    int i = b->q.nparams++;
    b->q.is_int[i] = true;
    b->q.ival[i] = v;
    return i + 1;
}

/* A value of kind k as a bound parameter: its SQL text into *sql. On
 * PostgreSQL every comparison is on jsonb, so values are bound as JSON. */
static int value_param(build_t *b, pl_ctx_t *ctx, const char *field, kind_t k, const char *v,
                       const char **sql)
{
    const char *err = NULL;
    if (k == K_NUMBER) {
        char *end;
        double d = strtod(v, &end);
        if (!*v || *end || d != d)
            err = "Must be a number.";
        else
            *sql = b->pg ? pl_arena_printf(b->a, "$%d::jsonb", param_text(b, v))
                         : pl_arena_printf(b->a, "CAST($%d AS REAL)", param_text(b, v));
    } else if (k == K_BOOL) {
        if (strcmp(v, "true") && strcmp(v, "false"))
            err = "Must be true or false.";
        else
            *sql = b->pg ? pl_arena_printf(b->a, "$%d::jsonb", param_text(b, v))
                         : pl_arena_printf(b->a, "$%d", param_int(b, !strcmp(v, "true")));
    } else {
        if (b->pg) {
            json_t *s = json_string(v);
            char *j = s ? json_dumps(s, JSON_ENCODE_ANY) : NULL;
            json_decref(s);
            if (!j)
                err = "Must be valid UTF-8.";
            else {
                *sql = pl_arena_printf(b->a, "$%d::jsonb", param_text(b, pl_arena_strdup(b->a, j)));
                free(j);
            }
        } else {
            *sql = pl_arena_printf(b->a, "$%d", param_text(b, v));
        }
    }
    if (err) {
        pl_field_error(ctx, pl_arena_printf(ctx->arena, "filter[%s]", field), "invalid", err);
        return PL_EINVAL;
    }
    return PL_OK;
}

static void add(build_t *b, const char *s)
{
    pl_buf_append(&b->sql, s, strlen(s));
}

static int add_filter(build_t *b, pl_ctx_t *ctx, json_t *schema, const pl_coll_filter_t *f)
{
    json_t *ps = json_object_get(json_object_get(schema, "properties"), f->field);
    if (!ps) {
        pl_field_error(ctx, pl_arena_printf(ctx->arena, "filter[%s]", f->field), "unknown_field",
                       "The schema does not declare this field.");
        return PL_EINVAL;
    }
    for (const char *p = f->field; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_')) {
            pl_field_error(ctx, pl_arena_printf(ctx->arena, "filter[%s]", f->field),
                           "unknown_field", "This field cannot be filtered on.");
            return PL_EINVAL;
        }
    const char *expr = pl_coll_store_field_expr(b->a, f->field);
    kind_t k = kind_of(ps);
    const char *val = NULL;
    int rc = PL_OK;
    add(b, " AND ");
    switch (f->op) {
    case PL_OP_EXISTS:
        if (strcmp(f->value, "true") && strcmp(f->value, "false")) {
            pl_field_error(ctx, pl_arena_printf(ctx->arena, "filter[%s][exists]", f->field),
                           "invalid", "Must be true or false.");
            return PL_EINVAL;
        }
        add(b, pl_arena_printf(b->a,
                               b->pg ? "COALESCE(jsonb_typeof(data->'%s'), 'null') %s 'null'"
                                     : "COALESCE(json_type(data, '$.%s'), 'null') %s 'null'",
                               f->field, !strcmp(f->value, "true") ? "<>" : "="));
        return PL_OK;
    case PL_OP_CONTAINS:
        if (k == K_ARRAY) {
            kind_t ik = kind_of(json_object_get(ps, "items"));
            if ((rc = value_param(b, ctx, f->field, ik == K_ARRAY || ik == K_OTHER ? K_STRING : ik,
                                  f->value, &val)))
                return rc;
            add(b, pl_arena_printf(b->a,
                                   b->pg ? "(data->'%s') @> jsonb_build_array(%s)"
                                         : "EXISTS (SELECT 1 FROM json_each(data, '$.%s') "
                                           "WHERE value = %s)",
                                   f->field, val));
            return PL_OK;
        }
        if (k != K_STRING)
            break;
        add(b, pl_arena_printf(b->a,
                               b->pg ? "strpos(data->>'%s', $%d) > 0"
                                     : "instr(json_extract(data, '$.%s'), $%d) > 0",
                               f->field, param_text(b, f->value)));
        return PL_OK;
    case PL_OP_IN: {
        if (k == K_ARRAY || k == K_OTHER)
            break;
        add(b, "(");
        int n = 0;
        for (const char *p = f->value;; n++) {
            const char *comma = strchr(p, ',');
            const char *one = comma ? pl_arena_strndup(b->a, p, (size_t)(comma - p)) : p;
            if (n >= PL_COLL_IN_MAX || b->q.nparams >= PL_REC_PARAMS_MAX - 8) {
                pl_field_error(ctx, pl_arena_printf(ctx->arena, "filter[%s][in]", f->field),
                               "too_long", "Too many values.");
                return PL_EINVAL;
            }
            if ((rc = value_param(b, ctx, f->field, k, one, &val)))
                return rc;
            add(b, pl_arena_printf(b->a, "%s%s = %s", n ? " OR " : "", expr, val));
            if (!comma)
                break;
            p = comma + 1;
        }
        add(b, ")");
        return PL_OK;
    }
    default:
        if (k == K_ARRAY || k == K_OTHER)
            break;
        if ((rc = value_param(b, ctx, f->field, k, f->value, &val)))
            return rc;
        static const char *const cmp[] = {"=", "<>", "<", "<=", ">", ">="};
        if (f->op == PL_OP_NE)
            add(b, pl_arena_printf(b->a, "(%s IS NULL OR %s <> %s)", expr, expr, val));
        else
            add(b, pl_arena_printf(b->a, "%s %s %s", expr, cmp[f->op], val));
        return PL_OK;
    }
    pl_field_error(ctx, pl_arena_printf(ctx->arena, "filter[%s]", f->field), "invalid",
                   "This operator does not apply to the field's type.");
    return PL_EINVAL;
}

/* Search terms as an FTS5 query: each word quoted, all required. */
static const char *fts_query(pl_arena_t *a, const char *q)
{
    pl_buf_t b;
    pl_buf_init(&b, 4 * PL_COLL_Q_MAX);
    const unsigned char *p = (const unsigned char *)q;
    while (*p) {
        while (*p && !(isalnum(*p) || *p >= 0x80))
            p++;
        const unsigned char *start = p;
        while (*p && (isalnum(*p) || *p >= 0x80))
            p++;
        if (p > start) {
            if (b.len)
                pl_buf_append(&b, " ", 1);
            pl_buf_append(&b, "\"", 1);
            pl_buf_append(&b, start, (size_t)(p - start));
            pl_buf_append(&b, "\"", 1);
        }
    }
    const char *out = b.len ? pl_arena_strndup(a, b.ptr, b.len) : NULL;
    pl_buf_free(&b);
    return out;
}

typedef struct {
    pl_ctx_t *ctx;
    void (*fn)(void *arg, const pl_record_t *r);
    void *arg;
    int count, limit;
    const char *last;
    int rc;
} list_state_t;

static void list_row(void *arg, const pl_record_row_t *row)
{
    list_state_t *l = arg;
    if (++l->count > l->limit || l->rc)
        return;
    pl_record_t r;
    if ((l->rc = to_record(l->ctx, row, &r)))
        return;
    l->fn(l->arg, &r);
    l->last = row->id;
}

int pl_records_list(pl_db_t *db, pl_ctx_t *ctx, const pl_rscope_t *s, const pl_coll_query_t *q,
                    void (*fn)(void *arg, const pl_record_t *r), void *arg, const char **next)
{
    *next = NULL;
    build_t b = {.pg = pl_db_engine() == PL_DB_POSTGRES, .a = ctx->arena};
    pl_buf_init(&b.sql, 65536);
    int rc = PL_OK;
    add(&b, pl_arena_printf(ctx->arena,
                            "SELECT id, org_id, collection, project_id, %s, search_text, version, "
                            "created_by, created_at, updated_at FROM records WHERE org_id = $%d "
                            "AND collection = '%s'",
                            b.pg ? "data::text" : "data", param_text(&b, ctx->tenant.org_id),
                            s->coll.name));
    if (s->project_id)
        add(&b,
            pl_arena_printf(ctx->arena, " AND project_id = $%d", param_text(&b, s->project_id)));
    else
        add(&b, " AND project_id IS NULL");
    if (!has_perm(ctx, s->coll.name, "read")) {
        /* a grantee lists the records granted to them, and nothing else */
        const char *user = pl_ctx_user(ctx);
        if (!user) /* an API key holds no grants: an empty page */
            add(&b, " AND 1 = 0");
        else
            add(&b, pl_arena_printf(ctx->arena,
                                    " AND id IN (SELECT record_id FROM record_grants "
                                    "WHERE org_id = $1 AND user_id = $%d)",
                                    param_text(&b, user)));
    }
    for (int i = 0; i < q->nfilters && !rc; i++)
        rc = add_filter(&b, ctx, s->coll.schema, &q->filters[i]);
    if (!rc && q->q) {
        if (!json_array_size(json_object_get(s->coll.def, "search"))) {
            pl_field_error(ctx, "q", "invalid", "This collection declares no search fields.");
            rc = PL_EINVAL;
        } else if (b.pg) {
            add(&b, pl_arena_printf(ctx->arena, " AND search_tsv @@ plainto_tsquery('simple', $%d)",
                                    param_text(&b, q->q)));
        } else {
            const char *m = fts_query(ctx->arena, q->q);
            add(&b, pl_arena_printf(ctx->arena,
                                    " AND rid IN (SELECT rowid FROM records_fts WHERE "
                                    "records_fts MATCH $%d)",
                                    param_text(&b, m ? m : "\"\"")));
        }
    }
    /* order: by id (creation order) unless sort names a field; pages are
     * keyset by id for the id order, by offset otherwise */
    const char *sort = q->sort;
    bool desc = sort && sort[0] == '-';
    const char *field = sort ? sort + desc : NULL;
    bool by_id = !field || !strcmp(field, "created_at") || !strcmp(field, "id");
    int64_t offset = 0;
    if (!rc && !by_id && strcmp(field, "updated_at")) {
        json_t *ps = json_object_get(json_object_get(s->coll.schema, "properties"), field);
        bool plain = ps != NULL;
        for (const char *p = field; plain && *p; p++)
            plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                    (*p >= '0' && *p <= '9') || *p == '_';
        if (!plain) {
            pl_field_error(ctx, "sort", "unknown_field", "The schema does not declare this field.");
            rc = PL_EINVAL;
        }
    }
    if (!rc && q->cursor) {
        if (by_id) {
            if (!pl_uuid_valid(q->cursor))
                rc = pl_fail(ctx, 400, "bad_request", "cursor is malformed.");
            else
                add(&b, pl_arena_printf(ctx->arena, " AND id %s $%d", desc ? "<" : ">",
                                        param_text(&b, q->cursor)));
        } else if (strncmp(q->cursor, "o", 1) ||
                   pl_parse_int64(q->cursor + 1, 1, INT64_MAX / 2, &offset)) {
            rc = pl_fail(ctx, 400, "bad_request", "cursor is malformed.");
        }
    }
    if (!rc) {
        const char *dir = desc ? "DESC" : "ASC";
        if (by_id)
            add(&b, pl_arena_printf(ctx->arena, " ORDER BY id %s", dir));
        else if (!strcmp(field, "updated_at"))
            add(&b, pl_arena_printf(ctx->arena, " ORDER BY updated_at %s, id %s", dir, dir));
        else
            add(&b, pl_arena_printf(ctx->arena, " ORDER BY %s %s, id %s",
                                    pl_coll_store_field_expr(ctx->arena, field), dir, dir));
        add(&b, pl_arena_printf(ctx->arena, " LIMIT $%d OFFSET $%d", param_int(&b, q->limit + 1),
                                param_int(&b, offset)));
        pl_buf_append(&b.sql, "", 1);
        b.q.sql = b.sql.ptr ? pl_arena_strdup(ctx->arena, b.sql.ptr) : NULL;
        if (!b.q.sql)
            rc = PL_EINTERNAL;
    }
    pl_buf_free(&b.sql);
    if (rc)
        return rc;
    list_state_t l = {ctx, fn, arg, 0, q->limit, NULL, PL_OK};
    rc = pl_rec_store_run(db, ctx->arena, &b.q, list_row, &l);
    if (!rc)
        rc = l.rc;
    if (!rc && l.count > q->limit)
        *next =
            by_id ? l.last : pl_arena_printf(ctx->arena, "o%lld", (long long)(offset + q->limit));
    return rc;
}

/* ---- a project deleted with its records ----
 * The records of a project go with it (a foreign-key cascade); the plan's
 * stored counter of records is lowered in the same transaction, from the
 * project.deleted event written before the rows go. */
int pl_records_on_event(pl_db_t *db, pl_ctx_t *ctx, const pl_event_t *ev)
{
    PL_UNUSED(ctx);
    if (!ev->org_id || !ev->target_id || strcmp(ev->action, "project.deleted"))
        return PL_OK;
    int64_t n = 0;
    int rc = pl_rec_store_count_project(db, ev->org_id, ev->target_id, &n);
    if (!rc && n)
        rc = pl_billing_release(db, ev->org_id, "records", n);
    return rc;
}

/* ---- who sees record.* events (streams, the activity feed) ---- */

static bool record_visible(pl_db_t *db, const pl_viewer_t *v, const pl_event_t *ev)
{
    const char *coll = json_string_value(json_object_get(ev->data, "collection"));
    const char *id = json_string_value(json_object_get(ev->data, "record_id"));
    const char *project = json_string_value(json_object_get(ev->data, "project_id"));
    if (!coll || !id)
        return false;
    char key[PL_PERM_KEY_MAX + 1];
    snprintf(key, sizeof(key), "%s.read", coll);
    if (pl_perms_has(v->perms, pl_perm_bit(key))) {
        if (!project || pl_perms_has(v->perms, pl_perm_bit("project.admin")))
            return true;
        return v->user_id && pl_projects_is_member(db, v->org_id, project, v->user_id) == 1;
    }
    if (!v->user_id)
        return false;
    pl_arena_t *a = pl_arena_create();
    const char *access = NULL;
    int rc = pl_grant_store_get(db, v->org_id, id, v->user_id, a, &access);
    bool ok = !rc && access;
    pl_arena_destroy(a);
    return ok;
}

static const pl_event_rule_t rules[] = {
    {"record.*", NULL, record_visible},
    {"collection.*", "audit.read", NULL},
    {0},
};

static const pl_notification_type_t types[] = {
    {"record.assigned", "A record was assigned to you", true, true},
    {0},
};

int pl_records_init(int rc)
{
    pl_realtime_rules_add(rules);
    pl_notifications_types_add(types);
    return rc;
}
