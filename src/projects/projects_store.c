/* projects_store.c - SQL for projects, environments, their members and
 * secrets. Every query on a tenant table binds org_id. */
#include <string.h>

#include "projects/projects_store.h"

static int done_rc(int rc)
{
    return rc < 0 ? rc : PL_OK;
}

static int count_query(pl_stmt_t *st, int64_t *out)
{
    int rc = pl_stmt_step(st);
    *out = rc == 1 ? pl_stmt_col_int64(st, 0) : 0;
    return pl_stmt_list_done(st, rc);
}

/* ---- projects ---- */

#define PROJECT_COLS "p.id, p.name, p.slug, p.description, p.created_at, pm.role"

static void read_project(pl_arena_t *a, pl_stmt_t *st, int col, pl_project_row_t *r)
{
    r->p.id = pl_stmt_col_dup(st, a, col);
    r->p.name = pl_stmt_col_dup(st, a, col + 1);
    r->p.slug = pl_stmt_col_dup(st, a, col + 2);
    r->p.description = pl_stmt_col_dup(st, a, col + 3);
    r->p.created_at = pl_stmt_col_int64(st, col + 4);
    r->member_role = pl_stmt_col_dup(st, a, col + 5);
    r->p.role = PL_PROJECT_NONE;
}

static const char sql_project_insert[] =
    "INSERT INTO projects (id, org_id, name, slug, description, created_by, created_at, "
    "updated_at) VALUES ($2, $1, $3, $4, $5, $6, $7, $7)";

int pl_projects_store_insert(pl_db_t *db, const char *org_id, const pl_project_t *p,
                             const char *created_by, int64_t now)
{
    PL_PREPARE(st, db, sql_project_insert);
    pl_stmt_bind_text(st, 1, org_id);
    pl_stmt_bind_text(st, 2, p->id);
    pl_stmt_bind_text(st, 3, p->name);
    pl_stmt_bind_text(st, 4, p->slug);
    pl_stmt_bind_text(st, 5, p->description);
    pl_stmt_bind_text(st, 6, created_by);
    pl_stmt_bind_int64(st, 7, now);
    return done_rc(pl_stmt_exec(st));
}

#define PROJECT_GET(COND)                                                                          \
    "SELECT " PROJECT_COLS " FROM projects p LEFT JOIN project_members pm ON "                     \
    "pm.project_id = p.id AND pm.user_id = $3 WHERE p.org_id = $1 AND " COND
static const char sql_project_by_id[] = PROJECT_GET("p.id = $2");
static const char sql_project_by_slug[] = PROJECT_GET("p.slug = $2");

int pl_projects_store_get(pl_db_t *db, pl_arena_t *a, const char *org_id, const char *user_id,
                          const char *ref, bool by_id, pl_project_row_t *out)
{
    PL_PREPARE(st, db, by_id ? sql_project_by_id : sql_project_by_slug);
    pl_stmt_bind_text(st, 1, org_id);
    pl_stmt_bind_text(st, 2, ref);
    pl_stmt_bind_text(st, 3, user_id ? user_id : "");
    int rc = pl_stmt_step(st);
    if (rc == 1)
        read_project(a, st, 0, out);
    return pl_stmt_one_done(st, rc);
}

static const char sql_project_update[] = "UPDATE projects SET name = $3, slug = $4, "
                                         "description = $5, updated_at = $6 "
                                         "WHERE org_id = $1 AND id = $2";
static const char sql_project_delete[] = "DELETE FROM projects WHERE org_id = $1 AND id = $2";
static const char sql_project_lock[] =
    "SELECT 1 FROM projects WHERE org_id = $1 AND id = $2 FOR UPDATE";

static const char sql_project_count[] = "SELECT count(*) FROM projects WHERE org_id = $1";

int pl_projects_store_count(pl_db_t *db, const char *org_id, int64_t *out)
{
    PL_PREPARE(st, db, sql_project_count);
    pl_stmt_bind_text(st, 1, org_id);
    int rc = pl_stmt_step(st);
    *out = rc == 1 ? pl_stmt_col_int64(st, 0) : 0;
    pl_stmt_reset(st);
    return rc < 0 ? rc : PL_OK;
}

int pl_projects_store_update(pl_db_t *db, const char *org_id, const pl_project_t *p, int64_t now)
{
    PL_PREPARE(st, db, sql_project_update);
    pl_stmt_bind_text(st, 1, org_id);
    pl_stmt_bind_text(st, 2, p->id);
    pl_stmt_bind_text(st, 3, p->name);
    pl_stmt_bind_text(st, 4, p->slug);
    pl_stmt_bind_text(st, 5, p->description);
    pl_stmt_bind_int64(st, 6, now);
    return pl_stmt_exec_found(st);
}

int pl_projects_store_delete(pl_db_t *db, const char *org_id, const char *project_id)
{
    PL_PREPARE(st, db, sql_project_delete);
    pl_stmt_bind_text(st, 1, org_id);
    pl_stmt_bind_text(st, 2, project_id);
    return pl_stmt_exec_found(st);
}

static int lock_row(pl_db_t *db, const char *sql, const char *org_id, const char *id)
{
    if (pl_db_engine() != PL_DB_POSTGRES)
        return PL_OK; /* BEGIN IMMEDIATE holds the database's write lock */
    PL_PREPARE(st, db, sql);
    pl_stmt_bind_text(st, 1, org_id);
    pl_stmt_bind_text(st, 2, id);
    int rc = pl_stmt_step(st);
    return pl_stmt_one_done(st, rc);
}

int pl_projects_store_lock(pl_db_t *db, const char *org_id, const char *project_id)
{
    return lock_row(db, sql_project_lock, org_id, project_id);
}

static const char sql_projects_all[] =
    "SELECT " PROJECT_COLS " FROM projects p LEFT JOIN project_members pm ON "
    "pm.project_id = p.id AND pm.user_id = $2 WHERE p.org_id = $1 AND ($3 = '' OR p.id > $3) "
    "ORDER BY p.id LIMIT $4";
static const char sql_projects_mine[] =
    "SELECT " PROJECT_COLS " FROM project_members pm JOIN projects p ON p.id = pm.project_id "
    "WHERE pm.org_id = $1 AND pm.user_id = $2 AND ($3 = '' OR p.id > $3) ORDER BY p.id LIMIT $4";

int pl_projects_store_list(pl_db_t *db, pl_arena_t *a, const char *org_id, const char *user_id,
                           bool all, const char *after, pl_rows_t *out)
{
    PL_PREPARE(st, db, all ? sql_projects_all : sql_projects_mine);
    pl_stmt_bind_text(st, 1, org_id);
    pl_stmt_bind_text(st, 2, user_id ? user_id : "");
    pl_stmt_bind_text(st, 3, after ? after : "");
    pl_stmt_bind_int64(st, 4, out->limit + 1);
    int rc;
    while ((rc = pl_stmt_step(st)) == 1) {
        pl_project_row_t *r = pl_rows_add(out);
        if (!r)
            break;
        read_project(a, st, 0, r);
    }
    return pl_stmt_list_done(st, rc);
}

/* ---- project members ---- */

static const char sql_pm_roles[] =
    "SELECT m.role, pm.role FROM memberships m LEFT JOIN project_members pm ON "
    "pm.project_id = $2 AND pm.user_id = m.user_id WHERE m.org_id = $1 AND m.user_id = $3";
static const char sql_pm_put[] =
    "INSERT INTO project_members (org_id, project_id, user_id, role, created_at) "
    "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (project_id, user_id) DO UPDATE SET role = $4";
static const char sql_pm_remove[] =
    "DELETE FROM project_members WHERE org_id = $1 AND project_id = $2 AND user_id = $3";
static const char sql_pm_count_owners[] =
    "SELECT count(*) FROM project_members WHERE org_id = $1 AND project_id = $2 AND "
    "role = 'owner'";

#define MEMBER_COLS "x.user_id, u.email, u.name, x.role, x.created_at"
static const char sql_pm_get[] =
    "SELECT " MEMBER_COLS " FROM project_members x JOIN users u ON u.id = x.user_id "
    "WHERE x.org_id = $1 AND x.project_id = $2 AND x.user_id = $3";
static const char sql_pm_list[] =
    "SELECT " MEMBER_COLS " FROM project_members x JOIN users u ON u.id = x.user_id "
    "WHERE x.org_id = $1 AND x.project_id = $2 AND ($3 = '' OR x.user_id > $3) "
    "ORDER BY x.user_id LIMIT $4";

static void read_member(pl_arena_t *a, pl_stmt_t *st, pl_project_member_t *m)
{
    m->user_id = pl_stmt_col_dup(st, a, 0);
    m->email = pl_stmt_col_dup(st, a, 1);
    m->name = pl_stmt_col_dup(st, a, 2);
    m->role = pl_stmt_col_dup(st, a, 3);
    m->joined_at = pl_stmt_col_int64(st, 4);
}

static int one_member(pl_stmt_t *st, pl_arena_t *a, pl_project_member_t *out)
{
    int rc = pl_stmt_step(st);
    if (rc == 1)
        read_member(a, st, out);
    return pl_stmt_one_done(st, rc);
}

static int member_rows(pl_stmt_t *st, pl_arena_t *a, pl_rows_t *out)
{
    int rc;
    while ((rc = pl_stmt_step(st)) == 1) {
        pl_project_member_t *m = pl_rows_add(out);
        if (!m)
            break;
        read_member(a, st, m);
    }
    return pl_stmt_list_done(st, rc);
}

int pl_project_members_store_roles(pl_db_t *db, pl_arena_t *a, const char *org_id,
                                   const char *project_id, const char *user_id,
                                   const char **org_role, const char **project_role)
{
    PL_PREPARE(st, db, sql_pm_roles);
    pl_stmt_bind_text(st, 1, org_id);
    pl_stmt_bind_text(st, 2, project_id);
    pl_stmt_bind_text(st, 3, user_id);
    int rc = pl_stmt_step(st);
    if (rc == 1) {
        *org_role = pl_stmt_col_dup(st, a, 0);
        *project_role = pl_stmt_col_dup(st, a, 1);
    }
    return pl_stmt_one_done(st, rc);
}

int pl_project_members_store_put(pl_db_t *db, const char *org_id, const char *project_id,
                                 const char *user_id, const char *role, int64_t now)
{
    PL_PREPARE(st, db, sql_pm_put);
    pl_stmt_bind_text(st, 1, org_id);
    pl_stmt_bind_text(st, 2, project_id);
    pl_stmt_bind_text(st, 3, user_id);
    pl_stmt_bind_text(st, 4, role);
    pl_stmt_bind_int64(st, 5, now);
    return done_rc(pl_stmt_exec(st));
}

int pl_project_members_store_remove(pl_db_t *db, const char *org_id, const char *project_id,
                                    const char *user_id)
{
    PL_PREPARE(st, db, sql_pm_remove);
    pl_stmt_bind_text(st, 1, org_id);
    pl_stmt_bind_text(st, 2, project_id);
    pl_stmt_bind_text(st, 3, user_id);
    return pl_stmt_exec_found(st);
}

int pl_project_members_store_get(pl_db_t *db, pl_arena_t *a, const char *org_id,
                                 const char *project_id, const char *user_id,
                                 pl_project_member_t *out)
{
    PL_PREPARE(st, db, sql_pm_get);
    pl_stmt_bind_text(st, 1, org_id);
    pl_stmt_bind_text(st, 2, project_id);
    pl_stmt_bind_text(st, 3, user_id);
    return one_member(st, a, out);
}

int pl_project_members_store_list(pl_db_t *db, pl_arena_t *a, const char *org_id,
                                  const char *project_id, const char *after, pl_rows_t *out)
{
    PL_PREPARE(st, db, sql_pm_list);
    pl_stmt_bind_text(st, 1, org_id);
    pl_stmt_bind_text(st, 2, project_id);
    pl_stmt_bind_text(st, 3, after ? after : "");
    pl_stmt_bind_int64(st, 4, out->limit + 1);
    return member_rows(st, a, out);
}

static const char sql_pm_has_email[] =
    "SELECT 1 FROM project_members x JOIN users u ON u.id = x.user_id "
    "WHERE x.org_id = $1 AND x.project_id = $2 AND u.email = $3";

int pl_project_members_store_has_email(pl_db_t *db, const char *org_id, const char *project_id,
                                       const char *email)
{
    PL_PREPARE(st, db, sql_pm_has_email);
    pl_stmt_bind_text(st, 1, org_id);
    pl_stmt_bind_text(st, 2, project_id);
    pl_stmt_bind_text(st, 3, email);
    int rc = pl_stmt_step(st);
    pl_stmt_reset(st);
    return rc;
}

int pl_project_members_store_count_owners(pl_db_t *db, const char *org_id, const char *project_id,
                                          int64_t *out)
{
    PL_PREPARE(st, db, sql_pm_count_owners);
    pl_stmt_bind_text(st, 1, org_id);
    pl_stmt_bind_text(st, 2, project_id);
    return count_query(st, out);
}

/* ---- environments ---- */

static const char sql_env_insert[] =
    "INSERT INTO environments (id, org_id, project_id, name, slug, created_at, updated_at) "
    "VALUES ($2, $1, $3, $4, $5, $6, $6)";

int pl_environments_store_insert(pl_db_t *db, const char *org_id, const pl_environment_t *e,
                                 int64_t now)
{
    PL_PREPARE(st, db, sql_env_insert);
    pl_stmt_bind_text(st, 1, org_id);
    pl_stmt_bind_text(st, 2, e->id);
    pl_stmt_bind_text(st, 3, e->project_id);
    pl_stmt_bind_text(st, 4, e->name);
    pl_stmt_bind_text(st, 5, e->slug);
    pl_stmt_bind_int64(st, 6, now);
    return done_rc(pl_stmt_exec(st));
}

/* One query answers the hot path (every secret route): the project, the
 * environment, and both of the caller's roles. */
#define ENV_GET(PCOND, ECOND)                                                                      \
    "SELECT " PROJECT_COLS ", e.id, e.name, e.slug, e.created_at, em.role FROM projects p "        \
    "JOIN environments e ON e.project_id = p.id "                                                  \
    "LEFT JOIN project_members pm ON pm.project_id = p.id AND pm.user_id = $4 "                    \
    "LEFT JOIN environment_members em ON em.environment_id = e.id AND em.user_id = $4 "            \
    "WHERE p.org_id = $1 AND e.org_id = $1 AND " PCOND " AND " ECOND
static const char sql_env_ii[] = ENV_GET("p.id = $2", "e.id = $3");
static const char sql_env_is[] = ENV_GET("p.id = $2", "e.slug = $3");
static const char sql_env_si[] = ENV_GET("p.slug = $2", "e.id = $3");
static const char sql_env_ss[] = ENV_GET("p.slug = $2", "e.slug = $3");

int pl_environments_store_get(pl_db_t *db, pl_arena_t *a, const char *org_id, const char *user_id,
                              const char *project_ref, bool project_by_id, const char *env_ref,
                              bool env_by_id, pl_env_row_t *out)
{
    const char *sql = project_by_id ? (env_by_id ? sql_env_ii : sql_env_is)
                                    : (env_by_id ? sql_env_si : sql_env_ss);
    PL_PREPARE(st, db, sql);
    pl_stmt_bind_text(st, 1, org_id);
    pl_stmt_bind_text(st, 2, project_ref);
    pl_stmt_bind_text(st, 3, env_ref);
    pl_stmt_bind_text(st, 4, user_id ? user_id : "");
    int rc = pl_stmt_step(st);
    if (rc == 1) {
        read_project(a, st, 0, &out->proj);
        out->e.id = pl_stmt_col_dup(st, a, 6);
        out->e.project_id = out->proj.p.id;
        out->e.name = pl_stmt_col_dup(st, a, 7);
        out->e.slug = pl_stmt_col_dup(st, a, 8);
        out->e.created_at = pl_stmt_col_int64(st, 9);
        out->e.role = PL_ENV_NONE;
        out->grant = pl_stmt_col_dup(st, a, 10);
    }
    return pl_stmt_one_done(st, rc);
}

static const char sql_env_update[] =
    "UPDATE environments SET name = $3, slug = $4, updated_at = $5 WHERE org_id = $1 AND id = $2";
static const char sql_env_delete[] = "DELETE FROM environments WHERE org_id = $1 AND id = $2";
static const char sql_env_lock[] =
    "SELECT 1 FROM environments WHERE org_id = $1 AND id = $2 FOR UPDATE";

int pl_environments_store_update(pl_db_t *db, const char *org_id, const pl_environment_t *e,
                                 int64_t now)
{
    PL_PREPARE(st, db, sql_env_update);
    pl_stmt_bind_text(st, 1, org_id);
    pl_stmt_bind_text(st, 2, e->id);
    pl_stmt_bind_text(st, 3, e->name);
    pl_stmt_bind_text(st, 4, e->slug);
    pl_stmt_bind_int64(st, 5, now);
    return pl_stmt_exec_found(st);
}

int pl_environments_store_delete(pl_db_t *db, const char *org_id, const char *env_id)
{
    PL_PREPARE(st, db, sql_env_delete);
    pl_stmt_bind_text(st, 1, org_id);
    pl_stmt_bind_text(st, 2, env_id);
    return pl_stmt_exec_found(st);
}

int pl_environments_store_lock(pl_db_t *db, const char *org_id, const char *env_id)
{
    return lock_row(db, sql_env_lock, org_id, env_id);
}

#define ENV_COLS "e.id, e.project_id, e.name, e.slug, e.created_at, em.role"
static const char sql_envs_all[] =
    "SELECT " ENV_COLS " FROM environments e LEFT JOIN environment_members em ON "
    "em.environment_id = e.id AND em.user_id = $3 WHERE e.org_id = $1 AND e.project_id = $2 "
    "AND ($4 = '' OR e.id > $4) ORDER BY e.id LIMIT $5";
static const char sql_envs_granted[] =
    "SELECT " ENV_COLS " FROM environment_members em JOIN environments e ON "
    "e.id = em.environment_id WHERE em.org_id = $1 AND em.project_id = $2 AND em.user_id = $3 "
    "AND ($4 = '' OR e.id > $4) ORDER BY e.id LIMIT $5";

int pl_environments_store_list(pl_db_t *db, pl_arena_t *a, const char *org_id,
                               const char *project_id, const char *user_id, bool all,
                               const char *after, pl_rows_t *out)
{
    PL_PREPARE(st, db, all ? sql_envs_all : sql_envs_granted);
    pl_stmt_bind_text(st, 1, org_id);
    pl_stmt_bind_text(st, 2, project_id);
    pl_stmt_bind_text(st, 3, user_id ? user_id : "");
    pl_stmt_bind_text(st, 4, after ? after : "");
    pl_stmt_bind_int64(st, 5, out->limit + 1);
    int rc;
    while ((rc = pl_stmt_step(st)) == 1) {
        pl_env_row_t *r = pl_rows_add(out);
        if (!r)
            break;
        r->e.id = pl_stmt_col_dup(st, a, 0);
        r->e.project_id = pl_stmt_col_dup(st, a, 1);
        r->e.name = pl_stmt_col_dup(st, a, 2);
        r->e.slug = pl_stmt_col_dup(st, a, 3);
        r->e.created_at = pl_stmt_col_int64(st, 4);
        r->grant = pl_stmt_col_dup(st, a, 5);
    }
    return pl_stmt_list_done(st, rc);
}

/* ---- environment members ---- */

static const char sql_em_roles[] =
    "SELECT pm.role, em.role FROM project_members pm LEFT JOIN environment_members em ON "
    "em.environment_id = $3 AND em.user_id = pm.user_id "
    "WHERE pm.org_id = $1 AND pm.project_id = $2 AND pm.user_id = $4";
static const char sql_em_put[] =
    "INSERT INTO environment_members (org_id, project_id, environment_id, user_id, role, "
    "created_at) VALUES ($1, $2, $3, $4, $5, $6) "
    "ON CONFLICT (environment_id, user_id) DO UPDATE SET role = $5";
static const char sql_em_remove[] =
    "DELETE FROM environment_members WHERE org_id = $1 AND environment_id = $2 AND user_id = $3";
static const char sql_em_get[] =
    "SELECT " MEMBER_COLS " FROM environment_members x JOIN users u ON u.id = x.user_id "
    "WHERE x.org_id = $1 AND x.environment_id = $2 AND x.user_id = $3";
static const char sql_em_list[] =
    "SELECT " MEMBER_COLS " FROM environment_members x JOIN users u ON u.id = x.user_id "
    "WHERE x.org_id = $1 AND x.environment_id = $2 AND ($3 = '' OR x.user_id > $3) "
    "ORDER BY x.user_id LIMIT $4";

int pl_env_members_store_roles(pl_db_t *db, pl_arena_t *a, const char *org_id,
                               const char *project_id, const char *env_id, const char *user_id,
                               const char **project_role, const char **grant)
{
    PL_PREPARE(st, db, sql_em_roles);
    pl_stmt_bind_text(st, 1, org_id);
    pl_stmt_bind_text(st, 2, project_id);
    pl_stmt_bind_text(st, 3, env_id);
    pl_stmt_bind_text(st, 4, user_id);
    int rc = pl_stmt_step(st);
    if (rc == 1) {
        *project_role = pl_stmt_col_dup(st, a, 0);
        *grant = pl_stmt_col_dup(st, a, 1);
    }
    return pl_stmt_one_done(st, rc);
}

int pl_env_members_store_put(pl_db_t *db, const char *org_id, const char *project_id,
                             const char *env_id, const char *user_id, const char *role, int64_t now)
{
    PL_PREPARE(st, db, sql_em_put);
    pl_stmt_bind_text(st, 1, org_id);
    pl_stmt_bind_text(st, 2, project_id);
    pl_stmt_bind_text(st, 3, env_id);
    pl_stmt_bind_text(st, 4, user_id);
    pl_stmt_bind_text(st, 5, role);
    pl_stmt_bind_int64(st, 6, now);
    return done_rc(pl_stmt_exec(st));
}

int pl_env_members_store_remove(pl_db_t *db, const char *org_id, const char *env_id,
                                const char *user_id)
{
    PL_PREPARE(st, db, sql_em_remove);
    pl_stmt_bind_text(st, 1, org_id);
    pl_stmt_bind_text(st, 2, env_id);
    pl_stmt_bind_text(st, 3, user_id);
    return pl_stmt_exec_found(st);
}

int pl_env_members_store_get(pl_db_t *db, pl_arena_t *a, const char *org_id, const char *env_id,
                             const char *user_id, pl_project_member_t *out)
{
    PL_PREPARE(st, db, sql_em_get);
    pl_stmt_bind_text(st, 1, org_id);
    pl_stmt_bind_text(st, 2, env_id);
    pl_stmt_bind_text(st, 3, user_id);
    return one_member(st, a, out);
}

int pl_env_members_store_list(pl_db_t *db, pl_arena_t *a, const char *org_id, const char *env_id,
                              const char *after, pl_rows_t *out)
{
    PL_PREPARE(st, db, sql_em_list);
    pl_stmt_bind_text(st, 1, org_id);
    pl_stmt_bind_text(st, 2, env_id);
    pl_stmt_bind_text(st, 3, after ? after : "");
    pl_stmt_bind_int64(st, 4, out->limit + 1);
    return member_rows(st, a, out);
}

/* ---- secrets ---- */

static const char sql_secrets_list[] =
    "SELECT key, version, updated_at, updated_by FROM secrets WHERE org_id = $1 AND "
    "environment_id = $2 AND ($3 = '' OR key > $3) ORDER BY key LIMIT $4";
static const char sql_secret_current[] =
    "SELECT s.key, s.version, s.updated_at, s.updated_by, v.value_sealed FROM secrets s "
    "JOIN secret_versions v ON v.environment_id = s.environment_id AND v.key = s.key AND "
    "v.version = s.version WHERE s.org_id = $1 AND s.environment_id = $2 AND s.key = $3";
static const char sql_secret_version[] =
    "SELECT key, version, created_at, created_by, value_sealed FROM secret_versions "
    "WHERE org_id = $1 AND environment_id = $2 AND key = $3 AND version = $4";
static const char sql_secret_bump[] =
    "INSERT INTO secrets (org_id, environment_id, key, version, created_at, updated_at, "
    "updated_by) VALUES ($1, $2, $3, 1, $4, $4, $5) ON CONFLICT (environment_id, key) DO "
    "UPDATE SET version = secrets.version + 1, updated_at = $4, updated_by = $5 "
    "RETURNING version";
static const char sql_secret_add_version[] =
    "INSERT INTO secret_versions (org_id, environment_id, key, version, value_sealed, "
    "created_at, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7)";
static const char sql_secret_prune[] =
    "DELETE FROM secret_versions WHERE org_id = $1 AND environment_id = $2 AND key = $3 AND "
    "version <= $4";
static const char sql_secret_delete[] =
    "DELETE FROM secrets WHERE org_id = $1 AND environment_id = $2 AND key = $3";
static const char sql_secret_count[] =
    "SELECT count(*) FROM secrets WHERE org_id = $1 AND environment_id = $2";
static const char sql_secrets_current[] =
    "SELECT s.key, s.version, s.updated_at, s.updated_by, v.value_sealed FROM secrets s "
    "JOIN secret_versions v ON v.environment_id = s.environment_id AND v.key = s.key AND "
    "v.version = s.version WHERE s.org_id = $1 AND s.environment_id = $2 ORDER BY s.key";
static const char sql_secret_versions_all[] =
    "SELECT environment_id, key, version, value_sealed FROM secret_versions WHERE org_id = $1 "
    "ORDER BY environment_id, key, version";
static const char sql_orgs[] = "SELECT id FROM organizations ORDER BY id";

static void read_secret(pl_arena_t *a, pl_stmt_t *st, bool sealed, pl_secret_row_t *r)
{
    r->key = pl_stmt_col_dup(st, a, 0);
    r->version = pl_stmt_col_int64(st, 1);
    r->updated_at = pl_stmt_col_int64(st, 2);
    r->updated_by = pl_stmt_col_dup(st, a, 3);
    r->sealed = sealed ? pl_stmt_col_dup(st, a, 4) : NULL;
}

static int secret_rows(pl_stmt_t *st, pl_arena_t *a, bool sealed, pl_rows_t *out)
{
    int rc;
    while ((rc = pl_stmt_step(st)) == 1) {
        pl_secret_row_t *r = pl_rows_add(out);
        if (!r)
            break;
        read_secret(a, st, sealed, r);
    }
    return pl_stmt_list_done(st, rc);
}

int pl_secrets_store_list(pl_db_t *db, pl_arena_t *a, const char *org_id, const char *env_id,
                          const char *after, pl_rows_t *out)
{
    PL_PREPARE(st, db, sql_secrets_list);
    pl_stmt_bind_text(st, 1, org_id);
    pl_stmt_bind_text(st, 2, env_id);
    pl_stmt_bind_text(st, 3, after ? after : "");
    pl_stmt_bind_int64(st, 4, out->limit + 1);
    return secret_rows(st, a, false, out);
}

int pl_secrets_store_get(pl_db_t *db, pl_arena_t *a, const char *org_id, const char *env_id,
                         const char *key, int64_t version, pl_secret_row_t *out)
{
    PL_PREPARE(st, db, version > 0 ? sql_secret_version : sql_secret_current);
    pl_stmt_bind_text(st, 1, org_id);
    pl_stmt_bind_text(st, 2, env_id);
    pl_stmt_bind_text(st, 3, key);
    if (version > 0)
        pl_stmt_bind_int64(st, 4, version);
    int rc = pl_stmt_step(st);
    if (rc == 1)
        read_secret(a, st, true, out);
    return pl_stmt_one_done(st, rc);
}

int pl_secrets_store_bump(pl_db_t *db, const char *org_id, const char *env_id, const char *key,
                          const char *by, int64_t now, int64_t *version)
{
    PL_PREPARE(st, db, sql_secret_bump);
    pl_stmt_bind_text(st, 1, org_id);
    pl_stmt_bind_text(st, 2, env_id);
    pl_stmt_bind_text(st, 3, key);
    pl_stmt_bind_int64(st, 4, now);
    pl_stmt_bind_text(st, 5, by);
    int rc = pl_stmt_step(st);
    if (rc == 1)
        *version = pl_stmt_col_int64(st, 0);
    pl_stmt_reset(st);
    return rc == 1 ? PL_OK : rc == 0 ? PL_EINTERNAL : rc;
}

int pl_secrets_store_add_version(pl_db_t *db, const char *org_id, const char *env_id,
                                 const char *key, int64_t version, const char *sealed,
                                 const char *by, int64_t now)
{
    PL_PREPARE(st, db, sql_secret_add_version);
    pl_stmt_bind_text(st, 1, org_id);
    pl_stmt_bind_text(st, 2, env_id);
    pl_stmt_bind_text(st, 3, key);
    pl_stmt_bind_int64(st, 4, version);
    pl_stmt_bind_text(st, 5, sealed);
    pl_stmt_bind_int64(st, 6, now);
    pl_stmt_bind_text(st, 7, by);
    return done_rc(pl_stmt_exec(st));
}

int pl_secrets_store_prune(pl_db_t *db, const char *org_id, const char *env_id, const char *key,
                           int64_t upto)
{
    PL_PREPARE(st, db, sql_secret_prune);
    pl_stmt_bind_text(st, 1, org_id);
    pl_stmt_bind_text(st, 2, env_id);
    pl_stmt_bind_text(st, 3, key);
    pl_stmt_bind_int64(st, 4, upto);
    return done_rc(pl_stmt_exec(st));
}

int pl_secrets_store_delete(pl_db_t *db, const char *org_id, const char *env_id, const char *key)
{
    PL_PREPARE(st, db, sql_secret_delete);
    pl_stmt_bind_text(st, 1, org_id);
    pl_stmt_bind_text(st, 2, env_id);
    pl_stmt_bind_text(st, 3, key);
    return pl_stmt_exec_found(st);
}

int pl_secrets_store_count(pl_db_t *db, const char *org_id, const char *env_id, int64_t *out)
{
    PL_PREPARE(st, db, sql_secret_count);
    pl_stmt_bind_text(st, 1, org_id);
    pl_stmt_bind_text(st, 2, env_id);
    return count_query(st, out);
}

int pl_secrets_store_current(pl_db_t *db, pl_arena_t *a, const char *org_id, const char *env_id,
                             pl_rows_t *out)
{
    PL_PREPARE(st, db, sql_secrets_current);
    pl_stmt_bind_text(st, 1, org_id);
    pl_stmt_bind_text(st, 2, env_id);
    return secret_rows(st, a, true, out);
}

int pl_secrets_store_all_versions(pl_db_t *db, pl_arena_t *a, const char *org_id, pl_rows_t *out)
{
    PL_PREPARE(st, db, sql_secret_versions_all);
    pl_stmt_bind_text(st, 1, org_id);
    int rc;
    while ((rc = pl_stmt_step(st)) == 1) {
        pl_secret_version_row_t *r = pl_rows_add(out);
        if (!r)
            break;
        r->env_id = pl_stmt_col_dup(st, a, 0);
        r->key = pl_stmt_col_dup(st, a, 1);
        r->version = pl_stmt_col_int64(st, 2);
        r->sealed = pl_stmt_col_dup(st, a, 3);
    }
    return pl_stmt_list_done(st, rc);
}

int pl_secrets_store_orgs(pl_db_t *db, pl_arena_t *a, pl_rows_t *out)
{
    PL_PREPARE(st, db, sql_orgs);
    int rc;
    while ((rc = pl_stmt_step(st)) == 1) {
        const char **id = pl_rows_add(out);
        if (!id)
            break;
        *id = pl_stmt_col_dup(st, a, 0);
    }
    return pl_stmt_list_done(st, rc);
}
