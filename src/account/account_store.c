/* account_store.c - SQL of the account deletion. */
#include <string.h>

#include "account/account_store.h"

static int run(pl_stmt_t *st)
{
    int rc = pl_stmt_exec(st);
    return rc < 0 ? rc : PL_OK;
}

static const char sql_memberships[] =
    "SELECT m.org_id, m.role, o.personal FROM memberships m JOIN organizations o ON o.id = "
    "m.org_id WHERE m.user_id = $1 ORDER BY m.org_id";
static const char sql_others[] =
    "SELECT count(*), COALESCE(SUM(CASE WHEN role = 'owner' THEN 1 ELSE 0 END), 0) FROM "
    "memberships WHERE org_id = $1 AND user_id <> $2";
static const char sql_membership_delete[] =
    "DELETE FROM memberships WHERE org_id = $1 AND user_id = $2";
static const char sql_org_delete[] = "DELETE FROM organizations WHERE id = $1";
/* invitations: row-level security lets app.invitee_email see them */
static const char sql_invitations_delete[] = "DELETE FROM invitations WHERE email = $1";
static const char sql_attempts_delete[] = "DELETE FROM login_attempts WHERE email = $1";
/* the address as a JSON string inside a mail job's payload */
static const char sql_mail_delete[] = "DELETE FROM jobs WHERE kind = 'mail.send' AND status <> "
                                      "'running' AND payload LIKE $1 ESCAPE '!'";
static const char sql_user_delete[] = "DELETE FROM users WHERE id = $1";

int pl_account_store_memberships(pl_db_t *db, pl_arena_t *a, const char *user_id,
                                 void (*fn)(void *arg, const pl_account_membership_t *m), void *arg)
{
    PL_PREPARE(st, db, sql_memberships);
    pl_stmt_bind_text(st, 1, user_id);
    int rc;
    while ((rc = pl_stmt_step(st)) == 1) {
        pl_account_membership_t m = {
            .org_id = pl_stmt_col_dup(st, a, 0),
            .role = pl_stmt_col_dup(st, a, 1),
            .personal = pl_stmt_col_bool(st, 2),
        };
        fn(arg, &m);
    }
    pl_stmt_reset(st);
    return rc < 0 ? rc : PL_OK;
}

int pl_account_store_others(pl_db_t *db, const char *org_id, const char *user_id, int64_t *members,
                            int64_t *owners)
{
    PL_PREPARE(st, db, sql_others);
    pl_stmt_bind_text(st, 1, org_id);
    pl_stmt_bind_text(st, 2, user_id);
    int rc = pl_stmt_step(st);
    *members = rc == 1 ? pl_stmt_col_int64(st, 0) : 0;
    *owners = rc == 1 ? pl_stmt_col_int64(st, 1) : 0;
    pl_stmt_reset(st);
    return rc < 0 ? rc : PL_OK;
}

int pl_account_store_membership_delete(pl_db_t *db, const char *org_id, const char *user_id)
{
    PL_PREPARE(st, db, sql_membership_delete);
    pl_stmt_bind_text(st, 1, org_id);
    pl_stmt_bind_text(st, 2, user_id);
    return run(st);
}

int pl_account_store_org_delete(pl_db_t *db, const char *org_id)
{
    PL_PREPARE(st, db, sql_org_delete);
    pl_stmt_bind_text(st, 1, org_id);
    return run(st);
}

/* "%\"<email>\"%" with LIKE's wildcards (and the escape '!') escaped. */
static void json_string_pattern(const char *email, char *out, size_t size)
{
    size_t n = 0;
    out[n++] = '%';
    out[n++] = '"';
    for (const char *p = email; *p && n + 4 < size; p++) {
        if (*p == '%' || *p == '_' || *p == '!')
            out[n++] = '!';
        out[n++] = *p;
    }
    out[n++] = '"';
    out[n++] = '%';
    out[n] = '\0';
}

int pl_account_store_forget_email(pl_db_t *db, const char *email)
{
    char pattern[2 * 320 + 8];
    json_string_pattern(email, pattern, sizeof(pattern));
    pl_stmt_t *st = pl_db_prepare(db, sql_invitations_delete);
    if (!st)
        return PL_EDB;
    pl_stmt_bind_text(st, 1, email);
    int rc = run(st);
    if (!rc && !(st = pl_db_prepare(db, sql_attempts_delete)))
        rc = PL_EDB;
    if (!rc) {
        pl_stmt_bind_text(st, 1, email);
        rc = run(st);
    }
    if (!rc && !(st = pl_db_prepare(db, sql_mail_delete)))
        rc = PL_EDB;
    if (!rc) {
        pl_stmt_bind_text(st, 1, pattern);
        rc = run(st);
    }
    return rc;
}

int pl_account_store_user_delete(pl_db_t *db, const char *user_id)
{
    PL_PREPARE(st, db, sql_user_delete);
    pl_stmt_bind_text(st, 1, user_id);
    return run(st);
}
