/* collections.c - definitions of collections (instance admin), their
 * permissions in the catalog, and `plinth collections apply`. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "billing/billing.h"
#include "core/progress.h"
#include "core/poller.h"
#include "core/crypto.h"
#include "collections/collections_store.h"
#include "platform/audit/audit.h"
#include "rbac/rbac.h"

bool pl_coll_name_valid(const char *name)
{
    if (!name || !(name[0] >= 'a' && name[0] <= 'z'))
        return false;
    size_t n = strlen(name);
    if (n > PL_COLL_NAME_MAX)
        return false;
    for (size_t i = 1; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
            return false;
    }
    return true;
}

/* A field that queries, indexes and search may name: a top-level property
 * with a plain name. */
static bool field_name_ok(const char *f)
{
    if (!f || !((f[0] >= 'a' && f[0] <= 'z') || (f[0] >= 'A' && f[0] <= 'Z') || f[0] == '_'))
        return false;
    size_t n = strlen(f);
    if (n > PL_COLL_FIELD_MAX)
        return false;
    for (size_t i = 1; i < n; i++) {
        char c = f[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_'))
            return false;
    }
    return true;
}

static bool declared(json_t *schema, const char *field)
{
    return json_object_get(json_object_get(schema, "properties"), field) != NULL;
}

/* ---- definitions ---- */

static json_t *checked_fields(pl_ctx_t *ctx, json_t *schema, json_t *list, const char *at)
{
    json_t *out = json_array();
    size_t i;
    json_t *f;
    json_array_foreach(list, i, f)
    {
        const char *name = json_string_value(f);
        if (!field_name_ok(name) || !declared(schema, name)) {
            pl_field_error(ctx, pl_arena_printf(ctx->arena, "%s[%zu]", at, i), "invalid",
                           "A property the schema declares (a plain name).");
            continue;
        }
        json_array_append(out, f);
    }
    return out;
}

int pl_coll_definition_check(pl_ctx_t *ctx, json_t *in, const char *name, json_t **out)
{
    *out = NULL;
    json_t *jname = json_object_get(in, "name");
    const char *given = json_string_value(jname);
    if (jname && !given)
        pl_field_error(ctx, "name", "invalid", "A string.");
    if (!given)
        given = name;
    if (!given)
        pl_field_error(ctx, "name", "required", "This field is required.");
    else if (!pl_coll_name_valid(given))
        pl_field_error(ctx, "name", "invalid", "Matches ^[a-z][a-z0-9_]{0,62}$.");
    else if (name && strcmp(given, name))
        pl_field_error(ctx, "name", "invalid", "Must equal the name in the path.");
    const char *scope = "org";
    json_t *js = json_object_get(in, "scope");
    if (js && !json_is_null(js)) {
        scope = json_string_value(js);
        if (!scope || (strcmp(scope, "org") && strcmp(scope, "project"))) {
            pl_field_error(ctx, "scope", "invalid", "org or project.");
            scope = "org";
        }
    }
    json_t *schema = json_object_get(in, "schema");
    if (!schema)
        pl_field_error(ctx, "schema", "required", "This field is required.");
    else
        pl_coll_schema_check(ctx, schema, "schema");
    bool schema_ok = schema && !pl_validated(ctx);
    json_t *empty = json_object();
    if (!schema_ok)
        schema = empty;

    json_t *indexes = json_array();
    json_t *ji = json_object_get(in, "indexes");
    if (ji && !json_is_null(ji)) {
        if (!json_is_array(ji) || json_array_size(ji) > PL_COLL_INDEXES_MAX) {
            pl_field_error(ctx, "indexes", "invalid",
                           pl_arena_printf(ctx->arena, "At most %d lists of field names.",
                                           PL_COLL_INDEXES_MAX));
        } else {
            size_t i;
            json_t *ix;
            json_array_foreach(ji, i, ix)
            {
                const char *at = pl_arena_printf(ctx->arena, "indexes[%zu]", i);
                if (!json_is_array(ix) || !json_array_size(ix) ||
                    json_array_size(ix) > PL_COLL_INDEX_FIELDS) {
                    pl_field_error(ctx, at, "invalid",
                                   pl_arena_printf(ctx->arena, "A list of 1 to %d field names.",
                                                   PL_COLL_INDEX_FIELDS));
                    continue;
                }
                json_array_append_new(indexes, checked_fields(ctx, schema, ix, at));
            }
        }
    }
    json_t *search = NULL;
    json_t *jsrch = json_object_get(in, "search");
    if (jsrch && !json_is_null(jsrch)) {
        if (!json_is_array(jsrch) || json_array_size(jsrch) > PL_COLL_SEARCH_MAX)
            pl_field_error(
                ctx, "search", "invalid",
                pl_arena_printf(ctx->arena, "At most %d field names.", PL_COLL_SEARCH_MAX));
        else
            search = checked_fields(ctx, schema, jsrch, "search");
    }
    if (!search)
        search = json_array();
    const char *rules[2] = {"permission", "permission"};
    json_t *jr = json_object_get(in, "rules");
    if (jr && !json_is_null(jr) && !json_is_object(jr))
        pl_field_error(ctx, "rules", "invalid", "An object.");
    static const char *const rule_names[2] = {"update", "delete"};
    for (int i = 0; i < 2 && json_is_object(jr); i++) {
        json_t *v = json_object_get(jr, rule_names[i]);
        if (!v || json_is_null(v))
            continue;
        const char *r = json_string_value(v);
        if (!r || (strcmp(r, "permission") && strcmp(r, "creator")))
            pl_field_error(ctx, pl_arena_printf(ctx->arena, "rules.%s", rule_names[i]), "invalid",
                           "permission or creator.");
        else
            rules[i] = r;
    }
    int64_t max_bytes = PL_COLL_RECORD_DEFAULT;
    json_t *jm = json_object_get(in, "max_record_bytes");
    if (jm && !json_is_null(jm)) {
        if (!json_is_integer(jm) || json_integer_value(jm) < 64 ||
            json_integer_value(jm) > PL_COLL_RECORD_MAX)
            pl_field_error(
                ctx, "max_record_bytes", "invalid",
                pl_arena_printf(ctx->arena, "An integer from 64 to %d.", PL_COLL_RECORD_MAX));
        else
            max_bytes = json_integer_value(jm);
    }
    int rc = pl_validated(ctx);
    if (!rc)
        *out =
            json_pack("{s:s, s:s, s:O, s:o, s:o, s:{s:s, s:s}, s:I}", "name", given, "scope", scope,
                      "schema", schema, "indexes", indexes, "search", search, "rules", "update",
                      rules[0], "delete", rules[1], "max_record_bytes", (json_int_t)max_bytes);
    else {
        json_decref(indexes);
        json_decref(search);
    }
    json_decref(empty);
    return rc;
}

/* The names whose permissions this process registered (so that a
 * definition deleted on another instance can be hidden here too). */
static pthread_mutex_t known_mu = PTHREAD_MUTEX_INITIALIZER;
static char *known[PL_COLL_MAX * 2];
static int nknown;

static void remember(const char *name)
{
    pthread_mutex_lock(&known_mu);
    bool found = false;
    for (int i = 0; i < nknown && !found; i++)
        found = !strcmp(known[i], name);
    if (!found && nknown < (int)PL_ARRAY_LEN(known))
        known[nknown++] = pl_xstrdup(name);
    pthread_mutex_unlock(&known_mu);
}

/* Registers {name}.read|create|update|delete in the catalog. */
static void register_perms(const char *name)
{
    remember(name);
    static const struct {
        const char *verb;
        const char *what;
        unsigned roles;
    } verbs[] = {
        {"read", "Read %s records", PL_ROLES_VIEWER},
        {"create", "Create %s records", PL_ROLES_MEMBER},
        {"update", "Change %s records", PL_ROLES_MEMBER},
        {"delete", "Delete %s records", PL_ROLES_MEMBER},
    };
    for (size_t i = 0; i < PL_ARRAY_LEN(verbs); i++) {
        char key[PL_PERM_KEY_MAX + 1], desc[160];
        snprintf(key, sizeof(key), "%s.%s", name, verbs[i].verb);
        snprintf(desc, sizeof(desc), verbs[i].what, name);
        pl_rbac_register_dynamic(key, desc, verbs[i].roles);
        pl_rbac_set_hidden(key, false);
    }
}

static void hide_perms(const char *name)
{
    static const char *const verbs[] = {"read", "create", "update", "delete"};
    for (size_t i = 0; i < PL_ARRAY_LEN(verbs); i++) {
        char key[PL_PERM_KEY_MAX + 1];
        snprintf(key, sizeof(key), "%s.%s", name, verbs[i]);
        pl_rbac_set_hidden(key, true);
    }
}

static void json_cleanup(void *p)
{
    json_decref(p);
}

static void coll_fill(json_t *def, pl_coll_t *c)
{
    c->def = def;
    c->name = json_string_value(json_object_get(def, "name"));
    c->project_scope = !strcmp(json_string_value(json_object_get(def, "scope")), "project");
    c->schema = json_object_get(def, "schema");
    c->max_record_bytes = json_integer_value(json_object_get(def, "max_record_bytes"));
    json_t *rules = json_object_get(def, "rules");
    c->update_creator = !strcmp(json_string_value(json_object_get(rules, "update")), "creator");
    c->delete_creator = !strcmp(json_string_value(json_object_get(rules, "delete")), "creator");
}

/* Fills c from a stored definition text; the parsed value is owned by a. */
static int coll_from_text(pl_arena_t *a, const char *text, pl_coll_t *c)
{
    json_t *def = json_loads(text, 0, NULL);
    if (!json_is_object(def)) {
        json_decref(def);
        pl_log("error", "collections: a stored definition does not parse");
        return PL_EINTERNAL;
    }
    pl_arena_cleanup_add(a, json_cleanup, def);
    coll_fill(def, c);
    return PL_OK;
}

int pl_coll_get(pl_db_t *db, pl_ctx_t *ctx, const char *name, pl_coll_t *out)
{
    if (!pl_coll_name_valid(name))
        return pl_fail(ctx, 404, "not_found", "No such collection.");
    const char *text;
    int rc = pl_coll_store_get(db, ctx->arena, name, &text, &out->version, &out->created_at,
                               &out->updated_at);
    if (rc == PL_ENOTFOUND)
        return pl_fail(ctx, 404, "not_found", "No such collection.");
    if (!rc)
        rc = coll_from_text(ctx->arena, text, out);
    if (!rc)
        register_perms(out->name); /* defined on another instance since we started */
    return rc;
}

typedef struct {
    pl_arena_t *a;
    void (*fn)(void *arg, const pl_coll_t *c);
    void *arg;
} list_t;

static void list_one(void *arg, const char *name, const char *def, int64_t version, int64_t created,
                     int64_t updated)
{
    PL_UNUSED(name);
    list_t *l = arg;
    pl_coll_t c = {.version = version, .created_at = created, .updated_at = updated};
    if (!coll_from_text(l->a, def, &c))
        l->fn(l->arg, &c);
}

int pl_coll_list(pl_db_t *db, pl_ctx_t *ctx, void (*fn)(void *arg, const pl_coll_t *c), void *arg)
{
    list_t l = {ctx->arena, fn, arg};
    return pl_coll_store_list(db, list_one, &l);
}

/* The name of a declared index: rx_ and 16 hex digits of the SHA-256 of
 * the collection and its fields, so a changed index gets a new name. */
static const char *index_name(pl_arena_t *a, const char *coll, json_t *fields)
{
    char *text = json_dumps(fields, JSON_COMPACT);
    char *key = pl_arena_printf(a, "%s:%s", coll, text ? text : "");
    free(text);
    char hex[65];
    pl_sha256_hex(key, strlen(key), hex);
    hex[16] = '\0';
    return pl_arena_printf(a, "rx_%s", hex);
}

static bool index_listed(pl_arena_t *a, const char *name, json_t *indexes, const char *coll)
{
    size_t i;
    json_t *ix;
    json_array_foreach(indexes, i, ix) if (!strcmp(index_name(a, coll, ix), name)) return true;
    return false;
}

/* Drops the indexes of old that new lacks, creates those of new. */
static int sync_indexes(pl_db_t *db, pl_arena_t *a, const char *coll, json_t *old, json_t *new)
{
    size_t i;
    json_t *ix;
    int rc = PL_OK;
    json_array_foreach(old, i, ix)
    {
        const char *n = index_name(a, coll, ix);
        if (!rc && !index_listed(a, n, new, coll))
            rc = pl_coll_store_index_drop(db, a, n);
    }
    json_array_foreach(new, i, ix)
    {
        const char *fields[PL_COLL_INDEX_FIELDS];
        int nf = 0;
        size_t j;
        json_t *f;
        json_array_foreach(ix, j, f) if (nf < PL_COLL_INDEX_FIELDS) fields[nf++] =
            json_string_value(f);
        if (!rc)
            rc = pl_coll_store_index_create(db, a, index_name(a, coll, ix), coll, fields, nf);
    }
    return rc;
}

/* Whether any organization holds records of name (each org's rows are
 * visible only under its own tenant context on PostgreSQL). */
static int any_records(pl_db_t *db, pl_arena_t *a, const char *name, bool *out)
{
    const char **orgs;
    int n, rc = pl_coll_store_orgs(db, a, &orgs, &n);
    *out = false;
    for (int i = 0; !rc && i < n && !*out; i++) {
        rc = pl_db_set_context(db, "app.org_id", orgs[i]);
        if (!rc)
            rc = pl_rec_store_exists(db, orgs[i], name, out);
    }
    return rc;
}

int pl_coll_put(pl_db_t *db, pl_ctx_t *ctx, const char *name, json_t *body, pl_coll_t *out,
                bool *created, bool *changed)
{
    json_t *def = NULL;
    int rc = pl_coll_definition_check(ctx, body, name, &def);
    if (rc)
        return rc;
    pl_arena_cleanup_add(ctx->arena, json_cleanup, def);
    name = json_string_value(json_object_get(def, "name"));
    if ((rc = pl_db_begin(db)))
        return rc;
    const char *old_text = NULL;
    int64_t version = 0, created_at = 0, updated_at = 0;
    rc = pl_coll_store_get(db, ctx->arena, name, &old_text, &version, &created_at, &updated_at);
    *created = rc == PL_ENOTFOUND;
    *changed = true;
    pl_coll_t old = {0};
    if (*created) {
        int64_t count = 0;
        rc = pl_coll_store_count(db, &count);
        if (!rc && count >= PL_COLL_MAX)
            rc = pl_fail(ctx, 409, "conflict",
                         pl_arena_printf(ctx->arena, "At most %d collections.", PL_COLL_MAX));
    } else if (!rc) {
        rc = coll_from_text(ctx->arena, old_text, &old);
    }
    char *text = json_dumps(def, JSON_COMPACT | JSON_SORT_KEYS);
    int64_t now = pl_now_ms();
    if (!rc && !*created && !strcmp(old_text, text)) {
        *changed = false;
    } else if (!rc) {
        bool project = !strcmp(json_string_value(json_object_get(def, "scope")), "project");
        if (!*created && old.project_scope != project) {
            bool any = false;
            rc = any_records(db, ctx->arena, name, &any);
            if (!rc && any)
                rc = pl_fail(ctx, 409, "conflict",
                             "The scope of a collection cannot change while it has records.");
        }
        if (!rc)
            rc = pl_coll_store_put(db, name, text, version + 1, now, *created);
        if (!rc)
            rc = sync_indexes(db, ctx->arena, name,
                              *created ? NULL : json_object_get(old.def, "indexes"),
                              json_object_get(def, "indexes"));
        json_t *d = json_pack("{s:s, s:I}", "name", name, "version", (json_int_t)(version + 1));
        if (!rc)
            rc = pl_audit_append(db, ctx, NULL,
                                 *created ? "collection.created" : "collection.updated",
                                 "collection", name, d);
        json_decref(d);
        version++;
        if (*created)
            created_at = now;
        updated_at = now;
    }
    free(text);
    rc = pl_db_finish(db, rc);
    if (rc)
        return rc;
    register_perms(name);
    *out = (pl_coll_t){0};
    coll_fill(def, out);
    out->version = version;
    out->created_at = created_at;
    out->updated_at = updated_at;
    return rc;
}

int pl_coll_delete(pl_db_t *db, pl_ctx_t *ctx, const char *name, bool force)
{
    pl_coll_t c;
    int rc = pl_db_begin(db);
    if (rc)
        return rc;
    rc = pl_coll_get(db, ctx, name, &c);
    const char **orgs = NULL;
    int n = 0;
    if (!rc)
        rc = pl_coll_store_orgs(db, ctx->arena, &orgs, &n);
    for (int i = 0; !rc && i < n; i++) {
        rc = pl_db_set_context(db, "app.org_id", orgs[i]);
        bool any = false;
        if (!rc)
            rc = pl_rec_store_exists(db, orgs[i], name, &any);
        if (!rc && any && !force)
            rc = pl_fail(ctx, 409, "conflict",
                         "The collection has records: delete them first, or use ?force=true.");
        int64_t deleted = 0;
        if (!rc && any)
            rc = pl_rec_store_delete_all(db, orgs[i], name, &deleted);
        if (!rc && deleted)
            rc = pl_billing_release(db, orgs[i], "records", deleted);
    }
    if (!rc) {
        json_t *ix;
        size_t i;
        json_array_foreach(json_object_get(c.def, "indexes"), i, ix) if (!rc) rc =
            pl_coll_store_index_drop(db, ctx->arena, index_name(ctx->arena, name, ix));
    }
    if (!rc)
        rc = pl_coll_store_delete(db, name);
    json_t *d = json_pack("{s:s, s:b}", "name", name, "force", force);
    if (!rc)
        rc = pl_audit_append(db, ctx, NULL, "collection.deleted", "collection", name, d);
    json_decref(d);
    rc = pl_db_finish(db, rc);
    if (!rc)
        hide_perms(name);
    return rc;
}

/* ---- plinth collections apply ---- */

int pl_coll_apply_file(pl_db_t *db, const char *path)
{
    json_error_t jerr;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        fprintf(stderr, "plinth collections apply: %s: line %d: %s\n", path, jerr.line, jerr.text);
        return 2;
    }
    json_t *list = json_object_get(root, "collections");
    if (!json_is_array(list)) {
        fprintf(stderr, "plinth collections apply: %s: expected {\"collections\": [...]}\n", path);
        json_decref(root);
        return 2;
    }
    pl_arena_t *a = pl_arena_create();
    pl_ctx_t ctx;
    pl_ctx_system(&ctx, a);
    /* a definition's declared indexes are built over its records as it is
     * applied: the progress line counts definitions done */
    pl_progress_t progress;
    pl_progress_start(&progress, "applying collections", "definitions");
    int status = 0, rc = pl_db_begin(db);
    size_t i;
    json_t *d;
    json_array_foreach(list, i, d)
    {
        pl_progress_update(&progress, (int64_t)i, (int64_t)json_array_size(list));
        if (rc)
            break;
        pl_coll_t out;
        bool created = false, changed = false;
        const char *name = json_string_value(json_object_get(d, "name"));
        if (!json_is_object(d)) {
            fprintf(stderr, "collections[%zu]: not an object\n", i);
            rc = PL_EINVAL;
            break;
        }
        rc = pl_coll_put(db, &ctx, NULL, d, &out, &created, &changed);
        if (rc) {
            fprintf(stderr, "collections[%zu] (%s): %s\n", i, name ? name : "?",
                    ctx.err.detail ? ctx.err.detail : "invalid");
            for (int e = 0; e < ctx.err.nfield_errors; e++)
                fprintf(stderr, "  %s: %s\n", ctx.err.field_errors[e].field,
                        ctx.err.field_errors[e].message);
            break;
        }
        printf("%s: %s\n", out.name, created ? "created" : changed ? "updated" : "unchanged");
    }
    rc = pl_db_finish(db, rc);
    if (!rc) {
        pl_progress_update(&progress, (int64_t)json_array_size(list),
                           (int64_t)json_array_size(list));
        pl_progress_finish(&progress);
    }
    if (rc) {
        if (!status)
            fprintf(stderr, "plinth collections apply: nothing was applied\n");
        status = rc == PL_EINVAL || ctx.err.status ? 1 : 2;
    }
    pl_arena_destroy(a);
    json_decref(root);
    return status;
}

/* ---- start ---- */

/* ---- following other instances ----
 * Definitions made or deleted on another instance reach this one's
 * permission catalog within a second: the poller reads a version of the
 * definitions and, when it moved, registers every defined collection and
 * hides the permissions of those no longer defined. */

static int64_t seen_state[3] = {-1, -1, -1};

typedef struct {
    const char **names;
    int n, cap;
    pl_arena_t *a;
} names_t;

static void collect_name(void *arg, const pl_coll_t *c)
{
    names_t *l = arg;
    register_perms(c->name);
    if (l->n < l->cap)
        l->names[l->n++] = pl_arena_strdup(l->a, c->name);
}

static int sync_catalog(pl_db_t *db)
{
    pl_arena_t *a = pl_arena_create();
    pl_ctx_t ctx;
    pl_ctx_system(&ctx, a);
    names_t l = {pl_arena_alloc(a, PL_COLL_MAX * 2 * sizeof(char *)), 0, PL_COLL_MAX * 2, a};
    int64_t state[3];
    int rc = pl_db_begin_read(db);
    if (!rc)
        rc = pl_coll_store_state(db, state);
    if (!rc)
        rc = pl_coll_list(db, &ctx, collect_name, &l);
    pl_db_rollback(db);
    if (!rc) {
        pthread_mutex_lock(&known_mu);
        for (int i = 0; i < nknown; i++) {
            bool defined = false;
            for (int j = 0; j < l.n && !defined; j++)
                defined = !strcmp(known[i], l.names[j]);
            if (!defined)
                hide_perms(known[i]);
        }
        pthread_mutex_unlock(&known_mu);
        memcpy(seen_state, state, sizeof(state));
    }
    pl_arena_destroy(a);
    return rc;
}

static void poll_definitions(void)
{
    pl_db_t *db = pl_db_thread();
    int64_t state[3];
    if (!db || pl_db_begin_read(db))
        return;
    int rc = pl_coll_store_state(db, state);
    pl_db_rollback(db);
    if (!rc && memcmp(state, seen_state, sizeof(state)))
        sync_catalog(db);
}

static pl_poller_t poller = {
    .tick = poll_definitions, .done = pl_db_thread_close, .interval_ms = 1000};

int pl_collections_start(void)
{
    return pl_poller_start(&poller);
}

void pl_collections_stop(void)
{
    pl_poller_stop(&poller);
}

int pl_collections_init(void)
{
    pl_db_t *db = pl_db_thread();
    if (!db)
        return PL_EDB;
    return pl_records_init(sync_catalog(db));
}
