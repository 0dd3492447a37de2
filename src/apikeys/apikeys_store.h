/* apikeys_store.h - the SQL of API keys, for the files of src/apikeys
 * alone. Every query but the lookup by hash binds the org id. Strings are
 * copied into the arena given; errors are PL_E* codes from db.h. */
#ifndef PL_APIKEYS_STORE_H
#define PL_APIKEYS_STORE_H

#include "apikeys/apikeys.h"
#include "core/rows.h"

/* The key whose SHA-256 (lower-case hex) is hash, revoked or not, across
 * organizations (the caller sets app.api_key), and in *creator_barred
 * whether it was made by a user whose account is now disabled or gone.
 * PL_ENOTFOUND. */
int pl_apikeys_store_by_hash(pl_db_t *db, pl_arena_t *a, const char *hash, pl_apikey_t *out,
                             bool *creator_barred);
int pl_apikeys_store_insert(pl_db_t *db, pl_arena_t *a, const pl_apikey_t *k, const char *hash);
/* Live keys (pl_apikey_t) of org_id, newest first, before cursor. */
int pl_apikeys_store_list(pl_db_t *db, pl_arena_t *a, const char *org_id, const char *before,
                          pl_rows_t *out);
/* PL_ENOTFOUND when there is no live key id in org_id. */
int pl_apikeys_store_revoke(pl_db_t *db, const char *org_id, const char *id, int64_t now);
/* Revokes every live key of org_id that user_id created; their ids (arena
 * strings) into *ids, their number into *n. */
int pl_apikeys_store_revoke_created_by(pl_db_t *db, pl_arena_t *a, const char *org_id,
                                       const char *user_id, int64_t now, const char ***ids,
                                       size_t *n);
int pl_apikeys_store_count_live(pl_db_t *db, const char *org_id, int64_t now, int64_t *out);
int pl_apikeys_store_touch(pl_db_t *db, const char *org_id, const char *id, int64_t now);

#endif
