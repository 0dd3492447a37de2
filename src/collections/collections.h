/* collections.h - the product's own data types (tasks, comments,
 * standups...): definitions made by the instance admin, and records stored
 * per organization (and per project for project-scoped collections),
 * validated against the definition's JSON Schema, permission-checked,
 * searchable and audited.
 *
 * A definition (API.md "Collections") names the collection, its scope
 * ("org" or "project"), its schema (a subset of JSON Schema 2020-12 plus
 * x-ref, x-user and x-file on string properties), its declared indexes
 * (created as expression indexes on both engines), its search fields, its
 * rules ("permission" or "creator" for update and delete) and the largest
 * record it accepts. Each defined collection adds the permissions
 * {name}.read, .create, .update and .delete to the catalog (rbac).
 *
 * Who may do what with a record, in one place (records.c):
 *   - read: {name}.read, or a grant (read or write) on the record;
 *   - create: {name}.create;
 *   - update: {name}.update (with the rule "creator", callers below level 3
 *     only on records they created), or a write grant;
 *   - delete: {name}.delete, with the same creator rule;
 *   - grants: whoever may update the record without a grant.
 * A record the caller may not read is 404; one they read but may not
 * change is 403. Project-scoped records also need access to the project
 * (projects.h), else 404.
 *
 * Memory: results live in ctx->arena (json values are registered on it).
 * Thread-safe. */
#ifndef PL_COLLECTIONS_H
#define PL_COLLECTIONS_H

#include <jansson.h>

#include "core/ctx.h"
#include "core/module.h"
#include "db/db.h"

/* ---- limits ---- */
#define PL_COLL_NAME_MAX        63
#define PL_COLL_MAX             1000  /* definitions */
#define PL_COLL_SCHEMA_BYTES    65536 /* serialized schema */
#define PL_COLL_SCHEMA_DEPTH    8     /* nested schemas */
#define PL_COLL_PROPS_MAX       200   /* properties, counted over the whole schema */
#define PL_COLL_ENUM_MAX        256   /* entries of an enum */
#define PL_COLL_PATTERN_MAX     256   /* bytes of a pattern */
#define PL_COLL_INDEXES_MAX     16
#define PL_COLL_INDEX_FIELDS    4
#define PL_COLL_SEARCH_MAX      8
#define PL_COLL_FILTERS_MAX     10
#define PL_COLL_IN_MAX          50     /* values of one `in` filter */
#define PL_COLL_RECORD_MAX      262144 /* largest max_record_bytes */
#define PL_COLL_RECORD_DEFAULT  65536
#define PL_COLL_FIELD_MAX       63    /* a queryable field name */
#define PL_COLL_Q_MAX           256   /* bytes of a search query */
#define PL_COLL_SEARCH_TEXT_MAX 65536 /* bytes indexed for search per record */

/* ---- the JSON Schema subset (schema.c, pure) ---- */

/* Checks that schema is a schema of the subset API.md lists (type, properties,
 * required, additionalProperties, enum, const, minLength, maxLength, pattern,
 * format, minimum, maximum, exclusiveMinimum, exclusiveMaximum, items,
 * minItems, maxItems, uniqueItems; title, description, default, examples
 * and $comment as annotations; x-ref with x-on-delete, x-user, x-file on
 * string properties of the top-level object), within the limits above.
 * Records 422 field errors under prefix ("schema") on ctx; PL_EINVAL then. */
int pl_coll_schema_check(pl_ctx_t *ctx, json_t *schema, const char *prefix);

/* One failed keyword: the JSON Pointer of the offending value (for
 * required and additionalProperties, of the missing or extra property), the
 * keyword and a message. Called at most max_errors times. */
typedef void (*pl_coll_error_fn)(void *arg, const char *pointer, const char *keyword,
                                 const char *message);
/* Validates instance against a schema that passed pl_coll_schema_check.
 * Returns the number of errors reported (0: valid). Pure, thread-safe. */
int pl_coll_validate(json_t *schema, json_t *instance, pl_coll_error_fn fn, void *arg);
/* The formats: true when s (n bytes) is one. */
bool pl_coll_format_ok(const char *format, const char *s, size_t n);
/* JSON equality as JSON Schema defines it (1 equals 1.0). */
bool pl_coll_json_equal(json_t *a, json_t *b);
/* The number of Unicode code points of valid UTF-8 s. */
size_t pl_coll_utf8_len(const char *s, size_t n);

/* ---- definitions ---- */

/* A definition as stored: def is the whole normalized Definition object
 * (borrowed from the arena's cleanup list); the other members point into it. */
typedef struct {
    const char *name;
    bool project_scope;
    json_t *def;
    json_t *schema;
    int64_t max_record_bytes;
    bool update_creator, delete_creator;
    int64_t version, created_at, updated_at;
} pl_coll_t;

/* True when name matches ^[a-z][a-z0-9_]{0,62}$. */
bool pl_coll_name_valid(const char *name);
/* Validates and normalizes a Definition (in: the request body; name, when
 * not NULL, must equal its "name" or fill it in). 422 on ctx; *out is a new
 * reference to the normalized definition. */
int pl_coll_definition_check(pl_ctx_t *ctx, json_t *in, const char *name, json_t **out);

/* Every definition by name (instance admins; signed-in users for GET
 * /v1/collections). fn gets each normalized definition. */
int pl_coll_list(pl_db_t *db, pl_ctx_t *ctx, void (*fn)(void *arg, const pl_coll_t *c), void *arg);
/* One definition; 404 not_found when it does not exist. */
int pl_coll_get(pl_db_t *db, pl_ctx_t *ctx, const char *name, pl_coll_t *out);
/* Creates or replaces the definition called name (instance admin; audited
 * as collection.created / collection.updated on the instance chain),
 * creating its declared indexes and registering its permissions. *created
 * tells which; *changed is false when the stored definition was the same
 * (nothing written: apply is idempotent). A scope change is 409 conflict
 * while records exist. */
int pl_coll_put(pl_db_t *db, pl_ctx_t *ctx, const char *name, json_t *body, pl_coll_t *out,
                bool *created, bool *changed);
/* Deletes a definition (collection.deleted); 409 conflict while records
 * exist in any organization unless force, which deletes them too. */
int pl_coll_delete(pl_db_t *db, pl_ctx_t *ctx, const char *name, bool force);

/* ---- records ---- */

typedef struct {
    const char *id;
    const char *collection;
    const char *project_id; /* NULL for org scope */
    json_t *data;           /* owned by the arena */
    int64_t version;
    const char *created_by; /* NULL: an API key's or the system's */
    int64_t created_at, updated_at;
} pl_record_t;

/* Where records live: the collection and, for project scope, the project
 * (an id or slug the caller can access; 404 otherwise). */
typedef struct {
    pl_coll_t coll;
    const char *project_id; /* NULL for org scope */
} pl_rscope_t;

/* Resolves {name} (and {project}) for ctx's caller: 404 when the
 * collection does not exist, has the other scope, or the project is not
 * accessible. */
int pl_records_scope(pl_db_t *db, pl_ctx_t *ctx, const char *name, const char *project_ref,
                     pl_rscope_t *out);

/* A list query. Filters are parsed by the routes into these. */
typedef enum {
    PL_OP_EQ,
    PL_OP_NE,
    PL_OP_LT,
    PL_OP_LTE,
    PL_OP_GT,
    PL_OP_GTE,
    PL_OP_IN,
    PL_OP_EXISTS,
    PL_OP_CONTAINS,
} pl_coll_op_t;

typedef struct {
    const char *field;
    pl_coll_op_t op;
    const char *value; /* text as given */
} pl_coll_filter_t;

typedef struct {
    int nfilters;
    pl_coll_filter_t filters[PL_COLL_FILTERS_MAX];
    const char *sort; /* NULL: by id; "field" or "-field" */
    const char *q;    /* NULL: no search */
    const char *cursor;
    int limit;
} pl_coll_query_t;

/* Parses an operator name; -1 when unknown. */
int pl_coll_op_parse(const char *s);

/* Lists the records of scope ctx's caller may read, matching q. 422 for a
 * filter or sort on a field the schema does not declare, or a malformed
 * value. fn gets each record; *next the cursor of the next page or NULL. */
int pl_records_list(pl_db_t *db, pl_ctx_t *ctx, const pl_rscope_t *s, const pl_coll_query_t *q,
                    void (*fn)(void *arg, const pl_record_t *r), void *arg, const char **next);
int pl_records_get(pl_db_t *db, pl_ctx_t *ctx, const pl_rscope_t *s, const char *id,
                   pl_record_t *out);
/* Creates a record from data (an object): 403 without {name}.create; 422
 * when it fails the schema, a link check, or is larger than
 * max_record_bytes (code "max_record_bytes"); 402 plan_limit_reached beyond
 * the plan's records. */
int pl_records_create(pl_db_t *db, pl_ctx_t *ctx, const pl_rscope_t *s, json_t *data,
                      pl_record_t *out);
/* Replaces (merge false) or merge-patches (RFC 7396) a record's data.
 * if_match: NULL, or the If-Match header (412 precondition_failed when it
 * does not name the current version). */
int pl_records_update(pl_db_t *db, pl_ctx_t *ctx, const pl_rscope_t *s, const char *id,
                      json_t *data, bool merge, const char *if_match, pl_record_t *out);
int pl_records_delete(pl_db_t *db, pl_ctx_t *ctx, const pl_rscope_t *s, const char *id,
                      const char *if_match);

/* ---- grants ---- */
typedef struct {
    const char *user_id;
    const char *access; /* "read" | "write" */
    const char *granted_by;
    int64_t created_at;
} pl_record_grant_t;

int pl_record_grants_list(pl_db_t *db, pl_ctx_t *ctx, const pl_rscope_t *s, const char *id,
                          void (*fn)(void *arg, const pl_record_grant_t *g), void *arg);
/* Grants user_id (an org member: 422 field "user" otherwise) access. */
int pl_record_grants_put(pl_db_t *db, pl_ctx_t *ctx, const pl_rscope_t *s, const char *id,
                         const char *user_id, const char *access, pl_record_grant_t *out);
int pl_record_grants_delete(pl_db_t *db, pl_ctx_t *ctx, const pl_rscope_t *s, const char *id,
                            const char *user_id);

/* The CLI's `plinth collections apply FILE.json`. */
int pl_coll_apply_file(pl_db_t *db, const char *path);

/* The module (collections_routes.c) and its init (collections.c). */
extern const pl_module_t pl_collections_module;
int pl_collections_init(void);
/* records.c's part of the init (event rules, notification types); passes rc on */
int pl_records_init(int rc);
/* the poller that follows other instances' definitions (serve, worker) */
int pl_collections_start(void);
void pl_collections_stop(void);
/* the event subscriber: a deleted project's records leave the plan's count */
int pl_records_on_event(pl_db_t *db, pl_ctx_t *ctx, const struct pl_event *ev);
extern const char *const pl_collections_actions[];

#endif
