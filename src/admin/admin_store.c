/* admin_store.c - SQL for instance administration. */
#include <string.h>

#include "admin/admin_store.h"

/* The LIKE pattern matching query anywhere, lower-cased, with LIKE's
 * wildcards and its escape character escaped by '\'. */
static const char *like_pattern(pl_arena_t *a, const char *q)
{
    size_t n = strlen(q);
    char *pattern = pl_arena_alloc(a, 2 * n + 3);
    size_t k = 0;
    pattern[k++] = '%';
    for (size_t i = 0; i < n; i++) {
        char c = q[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (c == '%' || c == '_' || c == '\\')
            pattern[k++] = '\\';
        pattern[k++] = c;
    }
    pattern[k++] = '%';
    pattern[k] = '\0';
    return pattern;
}

static const char sql_users[] =
    "SELECT id, email, name, email_verified, mfa_enabled, is_admin, disabled_at IS NOT NULL, "
    "created_at, locale FROM users WHERE ($1 = '' OR id > $1) AND ($2 = '' OR "
    "lower(email) LIKE $3 ESCAPE '\\' OR lower(name) LIKE $3 ESCAPE '\\') ORDER BY id LIMIT $4";

int pl_admin_store_users(pl_db_t *db, pl_arena_t *a, const char *query, const char *after,
                         int limit, void (*fn)(void *arg, const pl_user_t *u), void *arg)
{
    PL_PREPARE(st, db, sql_users);
    const char *q = query ? query : "";
    pl_stmt_bind_text(st, 1, after ? after : "");
    pl_stmt_bind_text(st, 2, q);
    pl_stmt_bind_text(st, 3, like_pattern(a, q));
    pl_stmt_bind_int64(st, 4, limit);
    int rc;
    while ((rc = pl_stmt_step(st)) == 1) {
        pl_user_t u = {
            .id = pl_stmt_col_text(st, 0),
            .email = pl_stmt_col_text(st, 1),
            .name = pl_stmt_col_text(st, 2),
            .email_verified = pl_stmt_col_bool(st, 3),
            .mfa_enabled = pl_stmt_col_bool(st, 4),
            .is_admin = pl_stmt_col_bool(st, 5),
            .disabled = pl_stmt_col_bool(st, 6),
            .created_at = pl_stmt_col_int64(st, 7),
            .locale = pl_stmt_col_is_null(st, 8) ? NULL : pl_stmt_col_text(st, 8),
        };
        fn(arg, &u);
    }
    pl_stmt_reset(st);
    return rc < 0 ? rc : PL_OK;
}

static const char sql_set_disabled[] =
    "UPDATE users SET disabled_at = $2, updated_at = $3 WHERE id = $1";
static const char sql_set_admin[] = "UPDATE users SET is_admin = $2, updated_at = $3 WHERE id = $1";

int pl_admin_store_set_disabled(pl_db_t *db, const char *id, int64_t disabled_at, int64_t now)
{
    PL_PREPARE(st, db, sql_set_disabled);
    pl_stmt_bind_text(st, 1, id);
    if (disabled_at)
        pl_stmt_bind_int64(st, 2, disabled_at);
    else
        pl_stmt_bind_null(st, 2);
    pl_stmt_bind_int64(st, 3, now);
    return pl_stmt_exec_found(st);
}

int pl_admin_store_set_admin(pl_db_t *db, const char *id, bool admin, int64_t now)
{
    PL_PREPARE(st, db, sql_set_admin);
    pl_stmt_bind_text(st, 1, id);
    pl_stmt_bind_bool(st, 2, admin);
    pl_stmt_bind_int64(st, 3, now);
    return pl_stmt_exec_found(st);
}

static const char sql_totals[] =
    "SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM organizations)";

int pl_admin_store_totals(pl_db_t *db, int64_t *users, int64_t *orgs)
{
    PL_PREPARE(st, db, sql_totals);
    int rc = pl_stmt_step(st);
    if (rc == 1) {
        *users = pl_stmt_col_int64(st, 0);
        *orgs = pl_stmt_col_int64(st, 1);
    }
    pl_stmt_reset(st);
    return rc == 1 ? PL_OK : rc < 0 ? rc : PL_EINTERNAL;
}
