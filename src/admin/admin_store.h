/* admin_store.h - the SQL of instance administration: the queries on
 * accounts only admins make. For the files of src/admin; errors are PL_E*
 * codes from db.h. */
#ifndef PL_ADMIN_STORE_H
#define PL_ADMIN_STORE_H

#include "auth/auth.h"
#include "db/db.h"

/* At most limit accounts in id order after `after` (NULL: from the first)
 * whose email or name contains query (NULL or "": any) in any case, without
 * their password hashes; strings are valid during fn only. */
int pl_admin_store_users(pl_db_t *db, pl_arena_t *a, const char *query, const char *after,
                         int limit, void (*fn)(void *arg, const pl_user_t *u), void *arg);
/* disabled_at 0 enables. PL_ENOTFOUND for an unknown account. */
int pl_admin_store_set_disabled(pl_db_t *db, const char *id, int64_t disabled_at, int64_t now);
/* PL_ENOTFOUND for an unknown account. */
int pl_admin_store_set_admin(pl_db_t *db, const char *id, bool admin, int64_t now);

/* The number of accounts and of organizations (personal ones included). */
int pl_admin_store_totals(pl_db_t *db, int64_t *users, int64_t *orgs);

#endif
