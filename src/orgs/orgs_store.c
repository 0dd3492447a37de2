/* orgs_store.c - SQL for organizations and their tenant data. Every query on
 * a tenant table binds org_id. */
#include <string.h>

#include "orgs/orgs_store.h"

static int done_rc(int rc)
{
    return rc < 0 ? rc : PL_OK;
}

/* ---- organizations ---- */

#define ORG_COLS "o.id, o.name, o.slug, o.personal, o.created_at, o.members_version, o.require_mfa"

static void read_org(pl_arena_t *a, pl_stmt_t *st, pl_org_t *o)
{
    o->id = pl_stmt_col_dup(st, a, 0);
    o->name = pl_stmt_col_dup(st, a, 1);
    o->slug = pl_stmt_col_dup(st, a, 2);
    o->personal = pl_stmt_col_bool(st, 3);
    o->created_at = pl_stmt_col_int64(st, 4);
    o->members_version = pl_stmt_col_int64(st, 5);
    o->require_mfa = pl_stmt_col_bool(st, 6);
    o->role = NULL;
}

static const char sql_org_insert[] =
    "INSERT INTO organizations (id, name, slug, personal, created_at, updated_at) "
    "VALUES ($1, $2, $3, $4, $5, $5)";

int pl_orgs_store_insert(pl_db_t *db, const char *id, const char *name, const char *slug,
                         bool personal, int64_t now)
{
    PL_PREPARE(st, db, sql_org_insert);
    pl_stmt_bind_text(st, 1, id);
    pl_stmt_bind_text(st, 2, name);
    pl_stmt_bind_text(st, 3, slug);
    pl_stmt_bind_bool(st, 4, personal);
    pl_stmt_bind_int64(st, 5, now);
    return done_rc(pl_stmt_exec(st));
}

static const char sql_org_by_id[] = "SELECT " ORG_COLS " FROM organizations o WHERE o.id = $1";
static const char sql_org_by_slug[] = "SELECT " ORG_COLS " FROM organizations o WHERE o.slug = $1";
/* The org and the caller's role in it, in one round trip (the request path
 * of every org route); row-level security shows the caller's own membership
 * through app.user_id. */
static const char sql_org_role_by_id[] =
    "SELECT " ORG_COLS ", m.role FROM organizations o LEFT JOIN memberships m ON m.org_id = o.id "
    "AND m.user_id = $2 WHERE o.id = $1";
static const char sql_org_role_by_slug[] =
    "SELECT " ORG_COLS ", m.role FROM organizations o LEFT JOIN memberships m ON m.org_id = o.id "
    "AND m.user_id = $2 WHERE o.slug = $1";

void pl_orgs_store_prefetch(pl_db_t *db, const char *id_or_slug, bool by_id)
{
    pl_stmt_t *st = pl_db_prepare(db, by_id ? sql_org_by_id : sql_org_by_slug);
    if (!st)
        return;
    pl_stmt_bind_text(st, 1, id_or_slug);
    pl_stmt_prefetch(st);
}

void pl_orgs_store_prefetch_with_role(pl_db_t *db, const char *id_or_slug, bool by_id,
                                      const char *user_id)
{
    pl_stmt_t *st = pl_db_prepare(db, by_id ? sql_org_role_by_id : sql_org_role_by_slug);
    if (!st)
        return;
    pl_stmt_bind_text(st, 1, id_or_slug);
    pl_stmt_bind_text(st, 2, user_id);
    pl_stmt_prefetch(st);
}

int pl_orgs_store_get_with_role(pl_db_t *db, pl_arena_t *a, const char *id_or_slug, bool by_id,
                                const char *user_id, pl_org_t *out, const char **role)
{
    PL_PREPARE(st, db, by_id ? sql_org_role_by_id : sql_org_role_by_slug);
    pl_stmt_bind_text(st, 1, id_or_slug);
    pl_stmt_bind_text(st, 2, user_id);
    int rc = pl_stmt_step(st);
    if (rc == 1) {
        read_org(a, st, out);
        *role = pl_stmt_col_dup(st, a, 7);
    }
    return pl_stmt_one_done(st, rc);
}

int pl_orgs_store_get(pl_db_t *db, pl_arena_t *a, const char *id_or_slug, bool by_id, pl_org_t *out)
{
    PL_PREPARE(st, db, by_id ? sql_org_by_id : sql_org_by_slug);
    pl_stmt_bind_text(st, 1, id_or_slug);
    int rc = pl_stmt_step(st);
    if (rc == 1)
        read_org(a, st, out);
    return pl_stmt_one_done(st, rc);
}

static const char sql_org_update[] =
    "UPDATE organizations SET name = $2, slug = $3, updated_at = $4 WHERE id = $1";

int pl_orgs_store_update(pl_db_t *db, const char *org_id, const char *name, const char *slug,
                         int64_t now)
{
    PL_PREPARE(st, db, sql_org_update);
    pl_stmt_bind_text(st, 1, org_id);
    pl_stmt_bind_text(st, 2, name);
    pl_stmt_bind_text(st, 3, slug);
    pl_stmt_bind_int64(st, 4, now);
    return pl_stmt_exec_found(st);
}

static const char sql_org_delete[] = "DELETE FROM organizations WHERE id = $1";

int pl_orgs_store_delete(pl_db_t *db, const char *org_id)
{
    PL_PREPARE(st, db, sql_org_delete);
    pl_stmt_bind_text(st, 1, org_id);
    return pl_stmt_exec_found(st);
}

static const char sql_org_lock[] = "SELECT 1 FROM organizations WHERE id = $1 FOR UPDATE";

int pl_orgs_store_lock(pl_db_t *db, const char *org_id)
{
    if (pl_db_engine() != PL_DB_POSTGRES)
        return PL_OK;
    PL_PREPARE(st, db, sql_org_lock);
    pl_stmt_bind_text(st, 1, org_id);
    int rc = pl_stmt_step(st);
    pl_stmt_reset(st);
    return rc < 0 ? rc : rc == 0 ? PL_ENOTFOUND : PL_OK;
}

static const char sql_orgs_for_user[] =
    "SELECT " ORG_COLS ", m.role FROM memberships m JOIN organizations o ON o.id = m.org_id "
    "WHERE m.user_id = $1 AND ($2 = '' OR o.id > $2) ORDER BY o.id LIMIT $3";
static const char sql_orgs_all[] = "SELECT " ORG_COLS ", '' FROM organizations o "
                                   "WHERE ($1 = '' OR o.id > $1) ORDER BY o.id LIMIT $2";

/* Rows of ORG_COLS and a role column (empty: none). */
static int org_rows(pl_stmt_t *st, pl_arena_t *a, pl_rows_t *out)
{
    int rc;
    while ((rc = pl_stmt_step(st)) == 1) {
        pl_org_t *o = pl_rows_add(out);
        if (!o)
            break;
        read_org(a, st, o);
        const char *role = pl_stmt_col_text(st, 7);
        o->role = role && role[0] ? pl_arena_strdup(a, role) : NULL;
    }
    return pl_stmt_list_done(st, rc);
}

int pl_orgs_store_list_for_user(pl_db_t *db, pl_arena_t *a, const char *user_id, const char *after,
                                pl_rows_t *out)
{
    PL_PREPARE(st, db, sql_orgs_for_user);
    pl_stmt_bind_text(st, 1, user_id);
    pl_stmt_bind_text(st, 2, after ? after : "");
    pl_stmt_bind_int64(st, 3, out->limit + 1);
    return org_rows(st, a, out);
}

int pl_orgs_store_list_all(pl_db_t *db, pl_arena_t *a, const char *after, pl_rows_t *out)
{
    PL_PREPARE(st, db, sql_orgs_all);
    pl_stmt_bind_text(st, 1, after ? after : "");
    pl_stmt_bind_int64(st, 2, out->limit + 1);
    return org_rows(st, a, out);
}

/* ---- memberships ---- */

static const char sql_member_insert[] =
    "INSERT INTO memberships (org_id, user_id, role, created_at) VALUES ($1, $2, $3, $4)";

int pl_members_store_insert(pl_db_t *db, const char *org_id, const char *user_id, const char *role,
                            int64_t now)
{
    PL_PREPARE(st, db, sql_member_insert);
    pl_stmt_bind_text(st, 1, org_id);
    pl_stmt_bind_text(st, 2, user_id);
    pl_stmt_bind_text(st, 3, role);
    pl_stmt_bind_int64(st, 4, now);
    return done_rc(pl_stmt_exec(st));
}

static const char sql_member_role[] =
    "SELECT role FROM memberships WHERE org_id = $1 AND user_id = $2";

int pl_members_store_role(pl_db_t *db, pl_arena_t *a, const char *org_id, const char *user_id,
                          const char **role)
{
    PL_PREPARE(st, db, sql_member_role);
    pl_stmt_bind_text(st, 1, org_id);
    pl_stmt_bind_text(st, 2, user_id);
    int rc = pl_stmt_step(st);
    if (rc == 1)
        *role = pl_stmt_col_dup(st, a, 0);
    return pl_stmt_one_done(st, rc);
}

#define MEMBER_COLS "m.user_id, u.email, u.name, m.role, m.created_at"

static void read_member(pl_arena_t *a, pl_stmt_t *st, pl_member_t *m)
{
    m->user_id = pl_stmt_col_dup(st, a, 0);
    m->email = pl_stmt_col_dup(st, a, 1);
    m->name = pl_stmt_col_dup(st, a, 2);
    m->role = pl_stmt_col_dup(st, a, 3);
    m->joined_at = pl_stmt_col_int64(st, 4);
}

static const char sql_member_get[] = "SELECT " MEMBER_COLS " FROM memberships m JOIN users u ON "
                                     "u.id = m.user_id WHERE m.org_id = $1 AND m.user_id = $2";
static const char sql_members_list[] =
    "SELECT " MEMBER_COLS " FROM memberships m JOIN users u ON u.id = m.user_id "
    "WHERE m.org_id = $1 AND ($2 = '' OR m.user_id > $2) ORDER BY m.user_id LIMIT $3";

int pl_members_store_get(pl_db_t *db, pl_arena_t *a, const char *org_id, const char *user_id,
                         pl_member_t *out)
{
    PL_PREPARE(st, db, sql_member_get);
    pl_stmt_bind_text(st, 1, org_id);
    pl_stmt_bind_text(st, 2, user_id);
    int rc = pl_stmt_step(st);
    if (rc == 1)
        read_member(a, st, out);
    return pl_stmt_one_done(st, rc);
}

int pl_members_store_list(pl_db_t *db, pl_arena_t *a, const char *org_id, const char *after,
                          pl_rows_t *out)
{
    PL_PREPARE(st, db, sql_members_list);
    pl_stmt_bind_text(st, 1, org_id);
    pl_stmt_bind_text(st, 2, after ? after : "");
    pl_stmt_bind_int64(st, 3, out->limit + 1);
    int rc;
    while ((rc = pl_stmt_step(st)) == 1) {
        pl_member_t *m = pl_rows_add(out);
        if (!m)
            break;
        read_member(a, st, m);
    }
    return pl_stmt_list_done(st, rc);
}

static const char sql_member_set_role[] =
    "UPDATE memberships SET role = $3 WHERE org_id = $1 AND user_id = $2";
static const char sql_member_remove[] =
    "DELETE FROM memberships WHERE org_id = $1 AND user_id = $2";
static const char sql_member_count_role[] =
    "SELECT count(*) FROM memberships WHERE org_id = $1 AND role = $2";
static const char sql_member_has_email[] =
    "SELECT 1 FROM memberships m JOIN users u ON u.id = m.user_id WHERE m.org_id = $1 AND "
    "u.email = $2";

int pl_members_store_set_role(pl_db_t *db, const char *org_id, const char *user_id,
                              const char *role)
{
    PL_PREPARE(st, db, sql_member_set_role);
    pl_stmt_bind_text(st, 1, org_id);
    pl_stmt_bind_text(st, 2, user_id);
    pl_stmt_bind_text(st, 3, role);
    return pl_stmt_exec_found(st);
}

int pl_members_store_remove(pl_db_t *db, const char *org_id, const char *user_id)
{
    PL_PREPARE(st, db, sql_member_remove);
    pl_stmt_bind_text(st, 1, org_id);
    pl_stmt_bind_text(st, 2, user_id);
    return pl_stmt_exec_found(st);
}

static int count_query(pl_stmt_t *st, int64_t *out)
{
    int rc = pl_stmt_step(st);
    *out = rc == 1 ? pl_stmt_col_int64(st, 0) : 0;
    return pl_stmt_list_done(st, rc);
}

int pl_members_store_count_role(pl_db_t *db, const char *org_id, const char *role, int64_t *out)
{
    PL_PREPARE(st, db, sql_member_count_role);
    pl_stmt_bind_text(st, 1, org_id);
    pl_stmt_bind_text(st, 2, role);
    return count_query(st, out);
}

static const char sql_count_seats[] =
    "SELECT (SELECT count(*) FROM memberships WHERE org_id = $1) + "
    "(SELECT count(*) FROM invitations WHERE org_id = $1 AND status = 'pending' "
    "AND expires_at > $2)";

int pl_members_store_count_seats(pl_db_t *db, const char *org_id, int64_t now, int64_t *out)
{
    PL_PREPARE(st, db, sql_count_seats);
    pl_stmt_bind_text(st, 1, org_id);
    pl_stmt_bind_int64(st, 2, now);
    return count_query(st, out);
}

int pl_members_store_has_email(pl_db_t *db, const char *org_id, const char *email)
{
    PL_PREPARE(st, db, sql_member_has_email);
    pl_stmt_bind_text(st, 1, org_id);
    pl_stmt_bind_text(st, 2, email);
    int rc = pl_stmt_step(st);
    pl_stmt_reset(st);
    return rc;
}

/* ---- custom roles ---- */

#define ROLE_COLS "id, key, name, level, permissions"

static void read_role(pl_arena_t *a, pl_stmt_t *st, pl_role_row_t *r)
{
    r->id = pl_stmt_col_dup(st, a, 0);
    r->key = pl_stmt_col_dup(st, a, 1);
    r->name = pl_stmt_col_dup(st, a, 2);
    r->level = (int)pl_stmt_col_int64(st, 3);
    r->permissions = pl_stmt_col_dup(st, a, 4);
}

static const char sql_role_get[] = "SELECT " ROLE_COLS " FROM roles WHERE org_id = $1 AND key = $2";
static const char sql_roles_list[] =
    "SELECT " ROLE_COLS " FROM roles WHERE org_id = $1 ORDER BY level DESC, key";
static const char sql_role_insert[] =
    "INSERT INTO roles (org_id, id, key, name, level, permissions, created_at, updated_at) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $7)";
static const char sql_role_update[] = "UPDATE roles SET name = $3, level = $4, permissions = $5, "
                                      "updated_at = $6 WHERE org_id = $1 AND key = $2";
static const char sql_role_delete[] = "DELETE FROM roles WHERE org_id = $1 AND key = $2";
static const char sql_role_usage[] =
    "SELECT (SELECT count(*) FROM memberships WHERE org_id = $1 AND role = $2) + "
    "(SELECT count(*) FROM invitations WHERE org_id = $1 AND role = $2 AND status = 'pending')";

int pl_roles_store_get(pl_db_t *db, pl_arena_t *a, const char *org_id, const char *key,
                       pl_role_row_t *out)
{
    PL_PREPARE(st, db, sql_role_get);
    pl_stmt_bind_text(st, 1, org_id);
    pl_stmt_bind_text(st, 2, key);
    int rc = pl_stmt_step(st);
    if (rc == 1)
        read_role(a, st, out);
    return pl_stmt_one_done(st, rc);
}

int pl_roles_store_list(pl_db_t *db, pl_arena_t *a, const char *org_id, pl_rows_t *out)
{
    PL_PREPARE(st, db, sql_roles_list);
    pl_stmt_bind_text(st, 1, org_id);
    int rc;
    while ((rc = pl_stmt_step(st)) == 1) {
        pl_role_row_t *r = pl_rows_add(out);
        if (!r)
            break;
        read_role(a, st, r);
    }
    return pl_stmt_list_done(st, rc);
}

int pl_roles_store_insert(pl_db_t *db, const char *org_id, const pl_role_row_t *r, int64_t now)
{
    PL_PREPARE(st, db, sql_role_insert);
    pl_stmt_bind_text(st, 1, org_id);
    pl_stmt_bind_text(st, 2, r->id);
    pl_stmt_bind_text(st, 3, r->key);
    pl_stmt_bind_text(st, 4, r->name);
    pl_stmt_bind_int64(st, 5, r->level);
    pl_stmt_bind_text(st, 6, r->permissions);
    pl_stmt_bind_int64(st, 7, now);
    return done_rc(pl_stmt_exec(st));
}

int pl_roles_store_update(pl_db_t *db, const char *org_id, const pl_role_row_t *r, int64_t now)
{
    PL_PREPARE(st, db, sql_role_update);
    pl_stmt_bind_text(st, 1, org_id);
    pl_stmt_bind_text(st, 2, r->key);
    pl_stmt_bind_text(st, 3, r->name);
    pl_stmt_bind_int64(st, 4, r->level);
    pl_stmt_bind_text(st, 5, r->permissions);
    pl_stmt_bind_int64(st, 6, now);
    return pl_stmt_exec_found(st);
}

int pl_roles_store_delete(pl_db_t *db, const char *org_id, const char *key)
{
    PL_PREPARE(st, db, sql_role_delete);
    pl_stmt_bind_text(st, 1, org_id);
    pl_stmt_bind_text(st, 2, key);
    return pl_stmt_exec_found(st);
}

int pl_roles_store_usage(pl_db_t *db, const char *org_id, const char *key, int64_t *out)
{
    PL_PREPARE(st, db, sql_role_usage);
    pl_stmt_bind_text(st, 1, org_id);
    pl_stmt_bind_text(st, 2, key);
    return count_query(st, out);
}

/* ---- invitations ---- */

#define INV_COLS                                                                                   \
    "id, org_id, email, role, status, invited_by, expires_at, created_at, project_id, "            \
    "project_role"

static void read_inv(pl_arena_t *a, pl_stmt_t *st, pl_invitation_row_t *i)
{
    i->id = pl_stmt_col_dup(st, a, 0);
    i->org_id = pl_stmt_col_dup(st, a, 1);
    i->email = pl_stmt_col_dup(st, a, 2);
    i->role = pl_stmt_col_dup(st, a, 3);
    i->status = pl_stmt_col_dup(st, a, 4);
    i->invited_by = pl_stmt_col_dup(st, a, 5);
    i->expires_at = pl_stmt_col_int64(st, 6);
    i->created_at = pl_stmt_col_int64(st, 7);
    i->project_id = pl_stmt_col_dup(st, a, 8);
    i->project_role = pl_stmt_col_dup(st, a, 9);
}

static const char sql_inv_insert[] =
    "INSERT INTO invitations (id, org_id, email, role, token_hash, status, invited_by, "
    "expires_at, created_at, updated_at, project_id, project_role) "
    "VALUES ($2, $1, $3, $4, $5, 'pending', $6, $7, $8, $8, $9, $10)";
static const char sql_inv_expire[] =
    "UPDATE invitations SET status = 'expired', updated_at = $3 WHERE org_id = $1 AND email = $2 "
    "AND status = 'pending' AND expires_at <= $3";
static const char sql_inv_get[] =
    "SELECT " INV_COLS " FROM invitations WHERE org_id = $1 AND id = $2";
static const char sql_inv_list[] = "SELECT " INV_COLS " FROM invitations WHERE org_id = $1 AND "
                                   "($2 = '' OR id < $2) ORDER BY id DESC LIMIT $3";
static const char sql_inv_status[] = "UPDATE invitations SET status = $4, updated_at = $5 WHERE "
                                     "org_id = $1 AND id = $2 AND status = $3";
static const char sql_inv_by_token[] = "SELECT " INV_COLS " FROM invitations WHERE token_hash = $1";

int pl_invitations_store_insert(pl_db_t *db, const char *org_id, const pl_invitation_row_t *inv,
                                const char *token_hash, int64_t now)
{
    PL_PREPARE(st, db, sql_inv_insert);
    pl_stmt_bind_text(st, 1, org_id);
    pl_stmt_bind_text(st, 2, inv->id);
    pl_stmt_bind_text(st, 3, inv->email);
    pl_stmt_bind_text(st, 4, inv->role);
    pl_stmt_bind_text(st, 5, token_hash);
    pl_stmt_bind_text(st, 6, inv->invited_by);
    pl_stmt_bind_int64(st, 7, inv->expires_at);
    pl_stmt_bind_int64(st, 8, now);
    pl_stmt_bind_text(st, 9, inv->project_id);
    pl_stmt_bind_text(st, 10, inv->project_role);
    return done_rc(pl_stmt_exec(st));
}

int pl_invitations_store_expire(pl_db_t *db, const char *org_id, const char *email, int64_t now)
{
    PL_PREPARE(st, db, sql_inv_expire);
    pl_stmt_bind_text(st, 1, org_id);
    pl_stmt_bind_text(st, 2, email);
    pl_stmt_bind_int64(st, 3, now);
    return done_rc(pl_stmt_exec(st));
}

static const char sql_inv_recent[] =
    "SELECT count(*), coalesce(min(created_at), 0) FROM invitations WHERE org_id = $1 AND "
    "created_at > $2 AND ($3 = '' OR email = $3)";

int pl_invitations_store_recent(pl_db_t *db, const char *org_id, const char *email, int64_t since,
                                int64_t *n, int64_t *oldest)
{
    PL_PREPARE(st, db, sql_inv_recent);
    pl_stmt_bind_text(st, 1, org_id);
    pl_stmt_bind_int64(st, 2, since);
    pl_stmt_bind_text(st, 3, email ? email : "");
    int rc = pl_stmt_step(st);
    if (rc == 1) {
        *n = pl_stmt_col_int64(st, 0);
        *oldest = pl_stmt_col_int64(st, 1);
    }
    pl_stmt_reset(st);
    return rc == 1 ? PL_OK : rc < 0 ? rc : PL_EDB;
}

static int one_inv(pl_stmt_t *st, pl_arena_t *a, pl_invitation_row_t *out)
{
    int rc = pl_stmt_step(st);
    if (rc == 1)
        read_inv(a, st, out);
    return pl_stmt_one_done(st, rc);
}

int pl_invitations_store_get(pl_db_t *db, pl_arena_t *a, const char *org_id, const char *id,
                             pl_invitation_row_t *out)
{
    PL_PREPARE(st, db, sql_inv_get);
    pl_stmt_bind_text(st, 1, org_id);
    pl_stmt_bind_text(st, 2, id);
    return one_inv(st, a, out);
}

int pl_invitations_store_list(pl_db_t *db, pl_arena_t *a, const char *org_id, const char *before,
                              pl_rows_t *out)
{
    PL_PREPARE(st, db, sql_inv_list);
    pl_stmt_bind_text(st, 1, org_id);
    pl_stmt_bind_text(st, 2, before ? before : "");
    pl_stmt_bind_int64(st, 3, out->limit + 1);
    int rc;
    while ((rc = pl_stmt_step(st)) == 1) {
        pl_invitation_row_t *i = pl_rows_add(out);
        if (!i)
            break;
        read_inv(a, st, i);
    }
    return pl_stmt_list_done(st, rc);
}

int pl_invitations_store_set_status(pl_db_t *db, const char *org_id, const char *id,
                                    const char *from, const char *to, int64_t now)
{
    PL_PREPARE(st, db, sql_inv_status);
    pl_stmt_bind_text(st, 1, org_id);
    pl_stmt_bind_text(st, 2, id);
    pl_stmt_bind_text(st, 3, from);
    pl_stmt_bind_text(st, 4, to);
    pl_stmt_bind_int64(st, 5, now);
    return pl_stmt_exec_found(st);
}

int pl_invitations_store_by_token(pl_db_t *db, pl_arena_t *a, const char *token_hash,
                                  pl_invitation_row_t *out)
{
    PL_PREPARE(st, db, sql_inv_by_token);
    pl_stmt_bind_text(st, 1, token_hash);
    return one_inv(st, a, out);
}

/* ---- teams ---- */

#define TEAM_COLS                                                                                  \
    "t.id, t.name, (SELECT count(*) FROM team_members tm WHERE tm.org_id = t.org_id AND "          \
    "tm.team_id = t.id), t.created_at"

static void read_team(pl_arena_t *a, pl_stmt_t *st, pl_team_t *t)
{
    t->id = pl_stmt_col_dup(st, a, 0);
    t->name = pl_stmt_col_dup(st, a, 1);
    t->member_count = pl_stmt_col_int64(st, 2);
    t->created_at = pl_stmt_col_int64(st, 3);
}

static const char sql_team_insert[] =
    "INSERT INTO teams (id, org_id, name, created_at, updated_at) VALUES ($2, $1, $3, $4, $4)";
static const char sql_team_get[] =
    "SELECT " TEAM_COLS " FROM teams t WHERE t.org_id = $1 AND t.id = $2";
static const char sql_teams_list[] = "SELECT " TEAM_COLS " FROM teams t WHERE t.org_id = $1 AND "
                                     "($2 = '' OR t.id > $2) ORDER BY t.id LIMIT $3";
static const char sql_team_rename[] =
    "UPDATE teams SET name = $3, updated_at = $4 WHERE org_id = $1 AND id = $2";
static const char sql_team_delete[] = "DELETE FROM teams WHERE org_id = $1 AND id = $2";
static const char sql_team_add[] =
    "INSERT INTO team_members (org_id, team_id, user_id, created_at) VALUES ($1, $2, $3, $4) "
    "ON CONFLICT (team_id, user_id) DO NOTHING";
static const char sql_team_remove[] =
    "DELETE FROM team_members WHERE org_id = $1 AND team_id = $2 AND user_id = $3";

int pl_teams_store_insert(pl_db_t *db, const char *org_id, const char *id, const char *name,
                          int64_t now)
{
    PL_PREPARE(st, db, sql_team_insert);
    pl_stmt_bind_text(st, 1, org_id);
    pl_stmt_bind_text(st, 2, id);
    pl_stmt_bind_text(st, 3, name);
    pl_stmt_bind_int64(st, 4, now);
    return done_rc(pl_stmt_exec(st));
}

int pl_teams_store_get(pl_db_t *db, pl_arena_t *a, const char *org_id, const char *id,
                       pl_team_t *out)
{
    PL_PREPARE(st, db, sql_team_get);
    pl_stmt_bind_text(st, 1, org_id);
    pl_stmt_bind_text(st, 2, id);
    int rc = pl_stmt_step(st);
    if (rc == 1)
        read_team(a, st, out);
    return pl_stmt_one_done(st, rc);
}

int pl_teams_store_list(pl_db_t *db, pl_arena_t *a, const char *org_id, const char *after,
                        pl_rows_t *out)
{
    PL_PREPARE(st, db, sql_teams_list);
    pl_stmt_bind_text(st, 1, org_id);
    pl_stmt_bind_text(st, 2, after ? after : "");
    pl_stmt_bind_int64(st, 3, out->limit + 1);
    int rc;
    while ((rc = pl_stmt_step(st)) == 1) {
        pl_team_t *t = pl_rows_add(out);
        if (!t)
            break;
        read_team(a, st, t);
    }
    return pl_stmt_list_done(st, rc);
}

int pl_teams_store_rename(pl_db_t *db, const char *org_id, const char *id, const char *name,
                          int64_t now)
{
    PL_PREPARE(st, db, sql_team_rename);
    pl_stmt_bind_text(st, 1, org_id);
    pl_stmt_bind_text(st, 2, id);
    pl_stmt_bind_text(st, 3, name);
    pl_stmt_bind_int64(st, 4, now);
    return pl_stmt_exec_found(st);
}

int pl_teams_store_delete(pl_db_t *db, const char *org_id, const char *id)
{
    PL_PREPARE(st, db, sql_team_delete);
    pl_stmt_bind_text(st, 1, org_id);
    pl_stmt_bind_text(st, 2, id);
    return pl_stmt_exec_found(st);
}

int pl_teams_store_add_member(pl_db_t *db, const char *org_id, const char *team_id,
                              const char *user_id, int64_t now)
{
    PL_PREPARE(st, db, sql_team_add);
    pl_stmt_bind_text(st, 1, org_id);
    pl_stmt_bind_text(st, 2, team_id);
    pl_stmt_bind_text(st, 3, user_id);
    pl_stmt_bind_int64(st, 4, now);
    return done_rc(pl_stmt_exec(st));
}

int pl_teams_store_remove_member(pl_db_t *db, const char *org_id, const char *team_id,
                                 const char *user_id)
{
    PL_PREPARE(st, db, sql_team_remove);
    pl_stmt_bind_text(st, 1, org_id);
    pl_stmt_bind_text(st, 2, team_id);
    pl_stmt_bind_text(st, 3, user_id);
    return pl_stmt_exec_found(st);
}

static const char sql_org_set_require_mfa[] =
    "UPDATE organizations SET require_mfa = $2 WHERE id = $1";

int pl_orgs_store_set_require_mfa(pl_db_t *db, const char *org_id, bool on)
{
    PL_PREPARE(st, db, sql_org_set_require_mfa);
    pl_stmt_bind_text(st, 1, org_id);
    pl_stmt_bind_bool(st, 2, on);
    return pl_stmt_exec_found(st);
}
