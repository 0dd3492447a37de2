/* collections_store.h - the SQL of collections (collections_store.c), for
 * collections.c alone. Every record query binds org_id. Queries whose shape
 * depends on the request (filters, sort, search, declared indexes) are
 * built from validated names only; values are always bound. */
#ifndef PL_COLLECTIONS_STORE_H
#define PL_COLLECTIONS_STORE_H

#include "collections/collections.h"

/* definitions */
int pl_coll_store_get(pl_db_t *db, pl_arena_t *a, const char *name, const char **def,
                      int64_t *version, int64_t *created_at, int64_t *updated_at);
int pl_coll_store_list(pl_db_t *db,
                       void (*fn)(void *arg, const char *name, const char *def, int64_t version,
                                  int64_t created, int64_t updated),
                       void *arg);
int pl_coll_store_put(pl_db_t *db, const char *name, const char *def, int64_t version, int64_t now,
                      bool insert);
int pl_coll_store_delete(pl_db_t *db, const char *name);
int pl_coll_store_count(pl_db_t *db, int64_t *out);
/* what changes with every change of a definition: the sum of versions,
 * the count and the latest update */
int pl_coll_store_state(pl_db_t *db, int64_t out[3]);
/* the records of a project (before it is deleted with them) */
int pl_rec_store_count_project(pl_db_t *db, const char *org_id, const char *project_id,
                               int64_t *out);
/* every organization id (for instance-wide passes over records) */
int pl_coll_store_orgs(pl_db_t *db, pl_arena_t *a, const char ***ids, int *n);

/* declared indexes: the expression of a field for the engine */
const char *pl_coll_store_field_expr(pl_arena_t *a, const char *field);
int pl_coll_store_index_create(pl_db_t *db, pl_arena_t *a, const char *index_name,
                               const char *collection, const char *const *fields, int nfields);
int pl_coll_store_index_drop(pl_db_t *db, pl_arena_t *a, const char *index_name);

/* records */
typedef struct {
    const char *id, *org_id, *collection, *project_id, *data, *search_text, *created_by;
    int64_t version, created_at, updated_at;
} pl_record_row_t;

int pl_rec_store_insert(pl_db_t *db, const pl_record_row_t *r);
/* for_update locks the row on PostgreSQL (the writers' read) */
int pl_rec_store_get(pl_db_t *db, pl_arena_t *a, const char *org_id, const char *collection,
                     const char *id, bool for_update, pl_record_row_t *out);
/* PL_ENOTFOUND when the version moved */
int pl_rec_store_update(pl_db_t *db, const char *org_id, const char *id, int64_t old_version,
                        const char *data, const char *search_text, int64_t now);
int pl_rec_store_delete(pl_db_t *db, const char *org_id, const char *id);
/* records of collection in org_id (any project) */
int pl_rec_store_exists(pl_db_t *db, const char *org_id, const char *collection, bool *out);
int pl_rec_store_delete_all(pl_db_t *db, const char *org_id, const char *collection,
                            int64_t *deleted);
/* the ids (and project) of records of collection whose top-level field
 * equals value, at most max of them */
int pl_rec_store_referencing(pl_db_t *db, pl_arena_t *a, const char *org_id, const char *collection,
                             const char *field, const char *value, int max, const char ***ids,
                             int *n);
/* is user_id a member of org_id? */
int pl_rec_store_is_member(pl_db_t *db, const char *org_id, const char *user_id, bool *out);

/* A built list query: SQL text built from validated names (run as a
 * one-shot statement, pl_db_prepare_once) and its parameters (text, or
 * integers when is_int). */
#define PL_REC_PARAMS_MAX (PL_COLL_FILTERS_MAX * PL_COLL_IN_MAX + 8)
typedef struct {
    const char *sql;
    int nparams;
    const char *text[PL_REC_PARAMS_MAX];
    int64_t ival[PL_REC_PARAMS_MAX];
    bool is_int[PL_REC_PARAMS_MAX];
} pl_rec_query_t;

int pl_rec_store_run(pl_db_t *db, pl_arena_t *a, const pl_rec_query_t *q,
                     void (*fn)(void *arg, const pl_record_row_t *r), void *arg);

/* grants */
int pl_grant_store_get(pl_db_t *db, const char *org_id, const char *record_id, const char *user_id,
                       pl_arena_t *a, const char **access);
int pl_grant_store_put(pl_db_t *db, const char *org_id, const char *record_id, const char *user_id,
                       const char *access, const char *by, int64_t now);
int pl_grant_store_delete(pl_db_t *db, const char *org_id, const char *record_id,
                          const char *user_id);
int pl_grant_store_list(pl_db_t *db, pl_arena_t *a, const char *org_id, const char *record_id,
                        void (*fn)(void *arg, const pl_record_grant_t *g), void *arg);

#endif
