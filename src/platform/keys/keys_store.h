/* keys_store.h - the SQL of data keys, for src/platform/keys alone.
 *
 * Data keys are tenant rows: on PostgreSQL an org's key is visible only
 * with app.org_id set to that org; the instance key always. Strings are
 * copied into the arena given. */
#ifndef PL_KEYS_STORE_H
#define PL_KEYS_STORE_H

#include "core/rows.h"
#include "db/db.h"

/* The sealed key of scope (an org id or "instance") into out (size bytes).
 * PL_ENOTFOUND; PL_EINTERNAL when it does not fit. */
int pl_keys_store_get(pl_db_t *db, const char *scope, char *out, size_t size);
/* Inserts a key unless scope has one already (then nothing changes). */
int pl_keys_store_insert(pl_db_t *db, const char *scope, const char *org_id, const char *sealed,
                         const char *master_id, int64_t now);
/* Replaces the sealed key of scope (master rotation). PL_ENOTFOUND. */
int pl_keys_store_update(pl_db_t *db, const char *scope, const char *sealed, const char *master_id,
                         int64_t now);
/* Every organization's id (const char *), by id: the scopes that may hold
 * a key. organizations is not a tenant table, so this sees them all. */
int pl_keys_store_orgs(pl_db_t *db, pl_arena_t *a, pl_rows_t *out);

#endif
