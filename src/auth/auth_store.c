/* auth_store.c - SQL for accounts, sessions, sign-in attempts, email tokens
 * and two-factor. */
#include <stdio.h>
#include <string.h>

#include "auth/auth_store.h"

/* A statement run for its effect: PL_OK or the error. */
static int run(pl_stmt_t *st)
{
    int rc = pl_stmt_exec(st);
    return rc < 0 ? rc : PL_OK;
}

/* ---- users ---- */

#define USER_COLS                                                                                  \
    "id, email, name, password_hash, email_verified, mfa_enabled, is_admin, "                      \
    "disabled_at IS NOT NULL, created_at, locale"

static void read_user(pl_arena_t *a, pl_stmt_t *st, pl_user_t *u)
{
    u->id = pl_stmt_col_dup(st, a, 0);
    u->email = pl_stmt_col_dup(st, a, 1);
    u->name = pl_stmt_col_dup(st, a, 2);
    u->password_hash = pl_stmt_col_dup(st, a, 3);
    u->email_verified = pl_stmt_col_bool(st, 4);
    u->mfa_enabled = pl_stmt_col_bool(st, 5);
    u->is_admin = pl_stmt_col_bool(st, 6);
    u->disabled = pl_stmt_col_bool(st, 7);
    u->created_at = pl_stmt_col_int64(st, 8);
    u->locale = pl_stmt_col_is_null(st, 9) ? NULL : pl_stmt_col_dup(st, a, 9);
}

static int one_user(pl_stmt_t *st, pl_arena_t *a, pl_user_t *out)
{
    int rc = pl_stmt_step(st);
    if (rc == 1)
        read_user(a, st, out);
    return pl_stmt_one_done(st, rc);
}

static const char sql_user_insert[] =
    "INSERT INTO users (id, email, name, password_hash, email_verified, mfa_enabled, is_admin, "
    "created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)";

int pl_store_user_insert(pl_db_t *db, const pl_user_t *u, int64_t now)
{
    PL_PREPARE(st, db, sql_user_insert);
    pl_stmt_bind_text(st, 1, u->id);
    pl_stmt_bind_text(st, 2, u->email);
    pl_stmt_bind_text(st, 3, u->name);
    pl_stmt_bind_text(st, 4, u->password_hash);
    pl_stmt_bind_bool(st, 5, u->email_verified);
    pl_stmt_bind_bool(st, 6, u->mfa_enabled);
    pl_stmt_bind_bool(st, 7, u->is_admin);
    pl_stmt_bind_int64(st, 8, now);
    return run(st);
}

static const char sql_user_by_email[] = "SELECT " USER_COLS " FROM users WHERE email = $1";
static const char sql_user_by_id[] = "SELECT " USER_COLS " FROM users WHERE id = $1";

int pl_store_user_by_email(pl_db_t *db, pl_arena_t *a, const char *email, pl_user_t *out)
{
    PL_PREPARE(st, db, sql_user_by_email);
    pl_stmt_bind_text(st, 1, email);
    return one_user(st, a, out);
}

int pl_store_user_by_id(pl_db_t *db, pl_arena_t *a, const char *id, pl_user_t *out)
{
    PL_PREPARE(st, db, sql_user_by_id);
    pl_stmt_bind_text(st, 1, id);
    return one_user(st, a, out);
}

static const char sql_user_set_name[] = "UPDATE users SET name = $2, updated_at = $3 WHERE id = $1";
static const char sql_user_set_locale[] =
    "UPDATE users SET locale = $2, updated_at = $3 WHERE id = $1";
static const char sql_user_set_password[] =
    "UPDATE users SET password_hash = $2, updated_at = $3 WHERE id = $1";

int pl_store_user_set_name(pl_db_t *db, const char *id, const char *name, int64_t now)
{
    PL_PREPARE(st, db, sql_user_set_name);
    pl_stmt_bind_text(st, 1, id);
    pl_stmt_bind_text(st, 2, name);
    pl_stmt_bind_int64(st, 3, now);
    return pl_stmt_exec_found(st);
}

int pl_store_user_set_locale(pl_db_t *db, const char *id, const char *locale, int64_t now)
{
    PL_PREPARE(st, db, sql_user_set_locale);
    pl_stmt_bind_text(st, 1, id);
    if (locale)
        pl_stmt_bind_text(st, 2, locale);
    else
        pl_stmt_bind_null(st, 2);
    pl_stmt_bind_int64(st, 3, now);
    return pl_stmt_exec_found(st);
}

int pl_store_user_set_password(pl_db_t *db, const char *id, const char *hash, int64_t now)
{
    PL_PREPARE(st, db, sql_user_set_password);
    pl_stmt_bind_text(st, 1, id);
    pl_stmt_bind_text(st, 2, hash);
    pl_stmt_bind_int64(st, 3, now);
    return pl_stmt_exec_found(st);
}

/* ---- organizations and memberships ---- */

static const char sql_user_orgs[] =
    "SELECT o.id, o.name, o.slug, o.personal, m.role, o.created_at FROM memberships m "
    "JOIN organizations o ON o.id = m.org_id WHERE m.user_id = $1 ORDER BY m.created_at, o.id";

int pl_store_user_orgs(pl_db_t *db, const char *user_id,
                       void (*fn)(void *arg, const pl_auth_org_t *o), void *arg)
{
    PL_PREPARE(st, db, sql_user_orgs);
    pl_stmt_bind_text(st, 1, user_id);
    int rc;
    while ((rc = pl_stmt_step(st)) == 1) {
        pl_auth_org_t o = {
            .id = pl_stmt_col_text(st, 0),
            .name = pl_stmt_col_text(st, 1),
            .slug = pl_stmt_col_text(st, 2),
            .personal = pl_stmt_col_bool(st, 3),
            .role = pl_stmt_col_text(st, 4),
            .created_at = pl_stmt_col_int64(st, 5),
        };
        fn(arg, &o);
    }
    return pl_stmt_list_done(st, rc);
}

/* ---- sessions ---- */

static const char sql_session_insert[] =
    "INSERT INTO sessions (id, user_id, created_at, last_used_at, expires_at, ip, user_agent) "
    "VALUES ($1, $2, $3, $3, $4, $5, $6)";
#define SESSION_STATE_COLS                                                                         \
    "SELECT s.revoked_at, s.expires_at, s.last_used_at, s.created_at, u.disabled_at IS NOT NULL, " \
    "u.is_admin, u.email, u.name, u.email_verified, u.mfa_enabled, u.created_at, u.orgs_version, " \
    "u.locale, set_config('app.user_id', CAST($2 AS TEXT), true)"
#define SESSION_STATE_FROM  "FROM sessions s JOIN users u ON u.id = s.user_id "
#define SESSION_STATE_WHERE "WHERE s.id = $1 AND s.user_id = $2"
static const char sql_session_state[] =
    SESSION_STATE_COLS " " SESSION_STATE_FROM SESSION_STATE_WHERE;
/* An org route's: the organization its path names, by id or by slug
 * (organizations are not filtered by row-level security) */
#define SESSION_ORG_COLS                                                                           \
    SESSION_STATE_COLS ", o.id, o.name, o.slug, o.personal, o.created_at, o.members_version, "     \
                       "o.require_mfa "
static const char sql_session_state_org_id[] = SESSION_ORG_COLS SESSION_STATE_FROM
    "LEFT JOIN organizations o ON o.id = $3 " SESSION_STATE_WHERE;
static const char sql_session_state_org_slug[] = SESSION_ORG_COLS SESSION_STATE_FROM
    "LEFT JOIN organizations o ON o.slug = $3 " SESSION_STATE_WHERE;
static const char sql_session_touch[] = "UPDATE sessions SET last_used_at = $2 WHERE id = $1";
static const char sql_session_extend[] =
    "UPDATE sessions SET last_used_at = $2, expires_at = $3 WHERE id = $1";
static const char sql_session_revoke[] =
    "UPDATE sessions SET revoked_at = $4, revoke_reason = $3 WHERE id = $1 AND user_id = $2 AND "
    "revoked_at IS NULL AND expires_at > $4";
static const char sql_sessions_revoke_all[] =
    "UPDATE sessions SET revoked_at = $4, revoke_reason = $3 WHERE user_id = $1 AND id <> $2 AND "
    "revoked_at IS NULL";
static const char sql_sessions_live_ids[] =
    "SELECT id FROM sessions WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2 "
    "ORDER BY last_used_at DESC, id DESC";
static const char sql_session_evict[] =
    "UPDATE sessions SET revoked_at = $2, revoke_reason = 'evicted' WHERE id = $1";
static const char sql_sessions_live[] =
    "SELECT id, created_at, last_used_at, expires_at, ip, user_agent FROM sessions WHERE "
    "user_id = $1 AND revoked_at IS NULL AND expires_at > $2 ORDER BY last_used_at DESC, id DESC";

int pl_store_session_insert(pl_db_t *db, const pl_session_t *s)
{
    PL_PREPARE(st, db, sql_session_insert);
    pl_stmt_bind_text(st, 1, s->id);
    pl_stmt_bind_text(st, 2, s->user_id);
    pl_stmt_bind_int64(st, 3, s->created_at);
    pl_stmt_bind_int64(st, 4, s->expires_at);
    pl_stmt_bind_text(st, 5, s->ip);
    pl_stmt_bind_text(st, 6, s->user_agent);
    return run(st);
}

static void read_org_row(pl_stmt_t *st, pl_arena_t *a, int col, pl_org_row_t *row)
{
    pl_org_t *o = &row->org;
    row->read = true;
    row->found = !pl_stmt_col_is_null(st, col);
    if (!row->found)
        return;
    *o = (pl_org_t){.id = pl_stmt_col_dup(st, a, col),
                    .name = pl_stmt_col_dup(st, a, col + 1),
                    .slug = pl_stmt_col_dup(st, a, col + 2),
                    .personal = pl_stmt_col_bool(st, col + 3),
                    .created_at = pl_stmt_col_int64(st, col + 4),
                    .members_version = pl_stmt_col_int64(st, col + 5),
                    .require_mfa = pl_stmt_col_bool(st, col + 6)};
}

int pl_store_session_state(pl_db_t *db, pl_arena_t *a, const char *session_id, const char *user_id,
                           const char *org_ref, pl_session_state_t *out, pl_org_row_t *org)
{
    PL_PREPARE(st, db,
               !org_ref                 ? sql_session_state
               : pl_uuid_valid(org_ref) ? sql_session_state_org_id
                                        : sql_session_state_org_slug);
    pl_stmt_bind_text(st, 1, session_id);
    pl_stmt_bind_text(st, 2, user_id);
    if (org_ref)
        pl_stmt_bind_text(st, 3, org_ref);
    int rc = pl_stmt_step(st);
    if (rc == 1 && org_ref)
        read_org_row(st, a, 14, org);
    if (rc == 1) {
        out->revoked_at = pl_stmt_col_is_null(st, 0) ? 0 : pl_stmt_col_int64(st, 0);
        out->expires_at = pl_stmt_col_int64(st, 1);
        out->last_used_at = pl_stmt_col_int64(st, 2);
        out->created_at = pl_stmt_col_int64(st, 3);
        out->user_disabled = pl_stmt_col_bool(st, 4);
        out->is_admin = pl_stmt_col_bool(st, 5);
        out->user.id = user_id;
        out->user.email = pl_stmt_col_dup(st, a, 6);
        out->user.name = pl_stmt_col_dup(st, a, 7);
        out->user.email_verified = pl_stmt_col_bool(st, 8);
        out->user.mfa_enabled = pl_stmt_col_bool(st, 9);
        out->user.created_at = pl_stmt_col_int64(st, 10);
        out->orgs_version = pl_stmt_col_int64(st, 11);
        out->user.locale = pl_stmt_col_is_null(st, 12) ? NULL : pl_stmt_col_dup(st, a, 12);
        out->user.is_admin = out->is_admin;
        out->user.disabled = out->user_disabled;
    }
    return pl_stmt_one_done(st, rc);
}

int pl_store_session_touch(pl_db_t *db, const char *session_id, int64_t now)
{
    PL_PREPARE(st, db, sql_session_touch);
    pl_stmt_bind_text(st, 1, session_id);
    pl_stmt_bind_int64(st, 2, now);
    return run(st);
}

int pl_store_session_extend(pl_db_t *db, const char *session_id, int64_t now, int64_t expires_at)
{
    PL_PREPARE(st, db, sql_session_extend);
    pl_stmt_bind_text(st, 1, session_id);
    pl_stmt_bind_int64(st, 2, now);
    pl_stmt_bind_int64(st, 3, expires_at);
    return run(st);
}

int pl_store_session_revoke(pl_db_t *db, const char *session_id, const char *user_id,
                            const char *reason, int64_t now)
{
    PL_PREPARE(st, db, sql_session_revoke);
    pl_stmt_bind_text(st, 1, session_id);
    pl_stmt_bind_text(st, 2, user_id);
    pl_stmt_bind_text(st, 3, reason);
    pl_stmt_bind_int64(st, 4, now);
    return pl_stmt_exec_found(st);
}

int pl_store_sessions_revoke_all(pl_db_t *db, const char *user_id, const char *keep,
                                 const char *reason, int64_t now)
{
    PL_PREPARE(st, db, sql_sessions_revoke_all);
    pl_stmt_bind_text(st, 1, user_id);
    pl_stmt_bind_text(st, 2, keep ? keep : "");
    pl_stmt_bind_text(st, 3, reason);
    pl_stmt_bind_int64(st, 4, now);
    return run(st);
}

int pl_store_sessions_trim(pl_db_t *db, const char *user_id, int keep, int64_t now)
{
    char evict[64][37];
    int nevict = 0, seen = 0, rc;
    {
        PL_PREPARE(st, db, sql_sessions_live_ids);
        pl_stmt_bind_text(st, 1, user_id);
        pl_stmt_bind_int64(st, 2, now);
        while ((rc = pl_stmt_step(st)) == 1) {
            if (++seen > keep && nevict < 64) {
                const char *id = pl_stmt_col_text(st, 0);
                snprintf(evict[nevict++], 37, "%s", id ? id : "");
            }
        }
        pl_stmt_reset(st);
        if (rc < 0)
            return rc;
    }
    for (int i = 0; i < nevict; i++) {
        PL_PREPARE(st, db, sql_session_evict);
        pl_stmt_bind_text(st, 1, evict[i]);
        pl_stmt_bind_int64(st, 2, now);
        if ((rc = pl_stmt_exec(st)) < 0)
            return rc;
    }
    return PL_OK;
}

int pl_store_sessions_live(pl_db_t *db, pl_arena_t *a, const char *user_id, int64_t now,
                           void (*fn)(void *ctx, const pl_session_t *s), void *ctx)
{
    PL_PREPARE(st, db, sql_sessions_live);
    pl_stmt_bind_text(st, 1, user_id);
    pl_stmt_bind_int64(st, 2, now);
    int rc;
    while ((rc = pl_stmt_step(st)) == 1) {
        pl_session_t s = {0};
        s.id = pl_stmt_col_dup(st, a, 0);
        s.user_id = user_id;
        s.created_at = pl_stmt_col_int64(st, 1);
        s.last_used_at = pl_stmt_col_int64(st, 2);
        s.expires_at = pl_stmt_col_int64(st, 3);
        s.ip = pl_stmt_col_dup(st, a, 4);
        s.user_agent = pl_stmt_col_dup(st, a, 5);
        fn(ctx, &s);
    }
    return pl_stmt_list_done(st, rc);
}

/* ---- refresh tokens ---- */

static const char sql_refresh_insert[] =
    "INSERT INTO refresh_tokens (token_hash, session_id, created_at) VALUES ($1, $2, $3)";
static const char sql_refresh_lookup[] =
    "SELECT r.session_id, s.user_id, r.spent_at, s.revoked_at, s.expires_at, "
    "u.disabled_at IS NOT NULL FROM refresh_tokens r JOIN sessions s ON s.id = r.session_id "
    "JOIN users u ON u.id = s.user_id WHERE r.token_hash = $1";
static const char sql_refresh_spend[] =
    "UPDATE refresh_tokens SET spent_at = $2 WHERE token_hash = $1 AND spent_at IS NULL";

int pl_store_refresh_insert(pl_db_t *db, const char *token_hash, const char *session_id,
                            int64_t now)
{
    PL_PREPARE(st, db, sql_refresh_insert);
    pl_stmt_bind_text(st, 1, token_hash);
    pl_stmt_bind_text(st, 2, session_id);
    pl_stmt_bind_int64(st, 3, now);
    return run(st);
}

int pl_store_refresh_lookup(pl_db_t *db, pl_arena_t *a, const char *token_hash,
                            pl_refresh_state_t *out)
{
    PL_PREPARE(st, db, sql_refresh_lookup);
    pl_stmt_bind_text(st, 1, token_hash);
    int rc = pl_stmt_step(st);
    if (rc == 1) {
        out->session_id = pl_stmt_col_dup(st, a, 0);
        out->user_id = pl_stmt_col_dup(st, a, 1);
        out->spent_at = pl_stmt_col_is_null(st, 2) ? 0 : pl_stmt_col_int64(st, 2);
        out->session_revoked_at = pl_stmt_col_is_null(st, 3) ? 0 : pl_stmt_col_int64(st, 3);
        out->session_expires_at = pl_stmt_col_int64(st, 4);
        out->user_disabled = pl_stmt_col_bool(st, 5);
    }
    return pl_stmt_one_done(st, rc);
}

int pl_store_refresh_spend(pl_db_t *db, const char *token_hash, int64_t now)
{
    PL_PREPARE(st, db, sql_refresh_spend);
    pl_stmt_bind_text(st, 1, token_hash);
    pl_stmt_bind_int64(st, 2, now);
    return pl_stmt_exec(st);
}

/* ---- sign-in attempts ---- */

static const char sql_attempt_insert[] =
    "INSERT INTO login_attempts (email, ip, success, created_at) VALUES ($1, $2, $3, $4)";
static const char sql_attempts_failed_email_ip[] =
    "SELECT count(*), min(created_at) FROM login_attempts WHERE email = $1 AND ip = $2 AND "
    "success = $4 AND created_at > $3";
static const char sql_attempts_failed_ip[] =
    "SELECT count(*), min(created_at) FROM login_attempts WHERE ip = $1 AND success = $3 AND "
    "created_at > $2";
static const char sql_attempts_recent[] =
    "SELECT success, created_at FROM login_attempts WHERE email = $1 AND ip = $2 "
    "ORDER BY created_at DESC, id DESC LIMIT $3";
static const char sql_attempts_clear_email[] = "DELETE FROM login_attempts WHERE email = $1";
static const char sql_attempt_reserve[] =
    "INSERT INTO login_attempts (email, ip, success, created_at) VALUES ($1, $2, $3, $4) "
    "RETURNING id";
static const char sql_attempt_succeed[] = "UPDATE login_attempts SET success = $2 WHERE id = $1";
static const char sql_attempt_void[] = "DELETE FROM login_attempts WHERE id = $1";

int pl_store_attempt_reserve(pl_db_t *db, const char *email, const char *ip, int64_t now,
                             int64_t *id)
{
    PL_PREPARE(st, db, sql_attempt_reserve);
    pl_stmt_bind_text(st, 1, email);
    pl_stmt_bind_text(st, 2, ip);
    pl_stmt_bind_bool(st, 3, false);
    pl_stmt_bind_int64(st, 4, now);
    int rc = pl_stmt_step(st);
    if (rc == 1)
        *id = pl_stmt_col_int64(st, 0);
    return pl_stmt_one_done(st, rc);
}

int pl_store_attempt_settle(pl_db_t *db, int64_t id, bool void_it)
{
    if (void_it) {
        PL_PREPARE(st, db, sql_attempt_void);
        pl_stmt_bind_int64(st, 1, id);
        return run(st);
    }
    PL_PREPARE(st, db, sql_attempt_succeed);
    pl_stmt_bind_int64(st, 1, id);
    pl_stmt_bind_bool(st, 2, true);
    return run(st);
}

int pl_store_attempt_insert(pl_db_t *db, const char *email, const char *ip, bool success,
                            int64_t now)
{
    PL_PREPARE(st, db, sql_attempt_insert);
    pl_stmt_bind_text(st, 1, email);
    pl_stmt_bind_text(st, 2, ip);
    pl_stmt_bind_bool(st, 3, success);
    pl_stmt_bind_int64(st, 4, now);
    return run(st);
}

static int count_oldest(pl_stmt_t *st, int *count, int64_t *oldest)
{
    int rc = pl_stmt_step(st);
    *count = 0;
    *oldest = 0;
    if (rc == 1) {
        *count = (int)pl_stmt_col_int64(st, 0);
        *oldest = pl_stmt_col_is_null(st, 1) ? 0 : pl_stmt_col_int64(st, 1);
    }
    return pl_stmt_list_done(st, rc);
}

int pl_store_attempts_failed_email_ip(pl_db_t *db, const char *email, const char *ip, int64_t since,
                                      int *count, int64_t *oldest)
{
    PL_PREPARE(st, db, sql_attempts_failed_email_ip);
    pl_stmt_bind_text(st, 1, email);
    pl_stmt_bind_text(st, 2, ip);
    pl_stmt_bind_int64(st, 3, since);
    pl_stmt_bind_bool(st, 4, false);
    return count_oldest(st, count, oldest);
}

int pl_store_attempts_failed_ip(pl_db_t *db, const char *ip, int64_t since, int *count,
                                int64_t *oldest)
{
    PL_PREPARE(st, db, sql_attempts_failed_ip);
    pl_stmt_bind_text(st, 1, ip);
    pl_stmt_bind_int64(st, 2, since);
    pl_stmt_bind_bool(st, 3, false);
    return count_oldest(st, count, oldest);
}

int pl_store_attempts_recent(pl_db_t *db, const char *email, const char *ip, int n, bool *success,
                             int64_t *at, int *found)
{
    PL_PREPARE(st, db, sql_attempts_recent);
    pl_stmt_bind_text(st, 1, email);
    pl_stmt_bind_text(st, 2, ip);
    pl_stmt_bind_int64(st, 3, n);
    int rc, k = 0;
    while ((rc = pl_stmt_step(st)) == 1 && k < n) {
        success[k] = pl_stmt_col_bool(st, 0);
        at[k] = pl_stmt_col_int64(st, 1);
        k++;
    }
    *found = k;
    return pl_stmt_list_done(st, rc);
}

int pl_store_attempts_clear_email(pl_db_t *db, const char *email)
{
    PL_PREPARE(st, db, sql_attempts_clear_email);
    pl_stmt_bind_text(st, 1, email);
    return run(st);
}

/* ---- email tokens ---- */

static const char sql_email_token_insert[] =
    "INSERT INTO email_tokens (token_hash, user_id, purpose, email, expires_at, created_at) "
    "VALUES ($1, $2, $3, $4, $5, $6)";
static const char sql_email_token_consume[] =
    "UPDATE email_tokens SET used_at = $3 WHERE token_hash = $1 AND purpose = $2 AND "
    "used_at IS NULL AND expires_at > $3 RETURNING user_id, email";
static const char sql_email_tokens_recent[] =
    "SELECT count(*) FROM email_tokens WHERE user_id = $1 AND purpose = $2 AND created_at > $3";
static const char sql_email_tokens_void[] =
    "UPDATE email_tokens SET used_at = $3 WHERE user_id = $1 AND purpose = $2 AND used_at IS NULL";
static const char sql_user_set_verified[] =
    "UPDATE users SET email_verified = $3, updated_at = $4 WHERE id = $1 AND email = $2";

int pl_store_email_token_insert(pl_db_t *db, const char *hash, const char *user_id,
                                const char *purpose, const char *email, int64_t expires_at,
                                int64_t now)
{
    PL_PREPARE(st, db, sql_email_token_insert);
    pl_stmt_bind_text(st, 1, hash);
    pl_stmt_bind_text(st, 2, user_id);
    pl_stmt_bind_text(st, 3, purpose);
    pl_stmt_bind_text(st, 4, email);
    pl_stmt_bind_int64(st, 5, expires_at);
    pl_stmt_bind_int64(st, 6, now);
    return run(st);
}

static const char sql_email_token_live[] =
    "SELECT 1 FROM email_tokens WHERE token_hash = $1 AND purpose = $2 AND used_at IS NULL AND "
    "expires_at > $3";

int pl_store_email_token_live(pl_db_t *db, const char *hash, const char *purpose, int64_t now)
{
    PL_PREPARE(st, db, sql_email_token_live);
    pl_stmt_bind_text(st, 1, hash);
    pl_stmt_bind_text(st, 2, purpose);
    pl_stmt_bind_int64(st, 3, now);
    return pl_stmt_one_done(st, pl_stmt_step(st));
}

int pl_store_email_token_consume(pl_db_t *db, pl_arena_t *a, const char *hash, const char *purpose,
                                 int64_t now, const char **user_id, const char **email)
{
    PL_PREPARE(st, db, sql_email_token_consume);
    pl_stmt_bind_text(st, 1, hash);
    pl_stmt_bind_text(st, 2, purpose);
    pl_stmt_bind_int64(st, 3, now);
    int rc = pl_stmt_step(st);
    if (rc == 1) {
        *user_id = pl_stmt_col_dup(st, a, 0);
        *email = pl_stmt_col_dup(st, a, 1);
        while (pl_stmt_step(st) == 1)
            ;
    }
    return pl_stmt_one_done(st, rc);
}

int pl_store_email_tokens_recent(pl_db_t *db, const char *user_id, const char *purpose,
                                 int64_t since, int *count)
{
    PL_PREPARE(st, db, sql_email_tokens_recent);
    pl_stmt_bind_text(st, 1, user_id);
    pl_stmt_bind_text(st, 2, purpose);
    pl_stmt_bind_int64(st, 3, since);
    int rc = pl_stmt_step(st);
    *count = rc == 1 ? (int)pl_stmt_col_int64(st, 0) : 0;
    return pl_stmt_list_done(st, rc);
}

int pl_store_email_tokens_void(pl_db_t *db, const char *user_id, const char *purpose, int64_t now)
{
    PL_PREPARE(st, db, sql_email_tokens_void);
    pl_stmt_bind_text(st, 1, user_id);
    pl_stmt_bind_text(st, 2, purpose);
    pl_stmt_bind_int64(st, 3, now);
    return run(st);
}

int pl_store_user_set_verified(pl_db_t *db, const char *id, const char *email, int64_t now)
{
    PL_PREPARE(st, db, sql_user_set_verified);
    pl_stmt_bind_text(st, 1, id);
    pl_stmt_bind_text(st, 2, email);
    pl_stmt_bind_bool(st, 3, true);
    pl_stmt_bind_int64(st, 4, now);
    return pl_stmt_exec_found(st);
}

/* ---- two-factor ---- */

static const char sql_totp_get[] =
    "SELECT secret_sealed, enabled_at, last_step FROM mfa_totp WHERE user_id = $1";
static const char sql_totp_put_pending[] =
    "INSERT INTO mfa_totp (user_id, secret_sealed, created_at, updated_at) VALUES ($1, $2, $3, $3) "
    "ON CONFLICT (user_id) DO UPDATE SET secret_sealed = $2, enabled_at = NULL, last_step = 0, "
    "updated_at = $3";
static const char sql_totp_enable[] =
    "UPDATE mfa_totp SET enabled_at = $3, last_step = $2, updated_at = $3 WHERE user_id = $1";
static const char sql_totp_use_step[] = "UPDATE mfa_totp SET last_step = $2, updated_at = $3 WHERE "
                                        "user_id = $1 AND last_step < $2";
static const char sql_totp_delete[] = "DELETE FROM mfa_totp WHERE user_id = $1";
static const char sql_user_set_mfa[] =
    "UPDATE users SET mfa_enabled = $2, updated_at = $3 WHERE id = $1";
static const char sql_recovery_clear[] = "DELETE FROM mfa_recovery_codes WHERE user_id = $1";
static const char sql_recovery_insert[] =
    "INSERT INTO mfa_recovery_codes (user_id, code_hash, created_at) VALUES ($1, $2, $3)";
static const char sql_recovery_use[] = "UPDATE mfa_recovery_codes SET used_at = $3 WHERE "
                                       "user_id = $1 AND code_hash = $2 AND used_at IS NULL";
static const char sql_challenge_insert[] =
    "INSERT INTO mfa_challenges (token_hash, user_id, method, expires_at, created_at) "
    "VALUES ($1, $2, $3, $4, $5)";
static const char sql_challenge_get[] =
    "SELECT user_id, method FROM mfa_challenges WHERE token_hash = $1 AND used_at IS NULL AND "
    "expires_at > $2 AND failures < $3";
static const char sql_challenge_fail[] =
    "UPDATE mfa_challenges SET failures = failures + 1 WHERE token_hash = $1";
static const char sql_challenge_take[] =
    "UPDATE mfa_challenges SET failures = failures + 1 WHERE token_hash = $1 AND used_at IS NULL "
    "AND expires_at > $2 AND failures < $3 RETURNING user_id, method";
static const char sql_challenge_use[] =
    "UPDATE mfa_challenges SET used_at = $2 WHERE token_hash = $1 AND used_at IS NULL";

int pl_store_totp_get(pl_db_t *db, pl_arena_t *a, const char *user_id, pl_totp_row_t *out)
{
    PL_PREPARE(st, db, sql_totp_get);
    pl_stmt_bind_text(st, 1, user_id);
    int rc = pl_stmt_step(st);
    if (rc == 1) {
        out->secret_sealed = pl_stmt_col_dup(st, a, 0);
        out->enabled_at = pl_stmt_col_is_null(st, 1) ? 0 : pl_stmt_col_int64(st, 1);
        out->last_step = pl_stmt_col_int64(st, 2);
    }
    return pl_stmt_one_done(st, rc);
}

int pl_store_totp_put_pending(pl_db_t *db, const char *user_id, const char *sealed, int64_t now)
{
    PL_PREPARE(st, db, sql_totp_put_pending);
    pl_stmt_bind_text(st, 1, user_id);
    pl_stmt_bind_text(st, 2, sealed);
    pl_stmt_bind_int64(st, 3, now);
    return run(st);
}

int pl_store_totp_enable(pl_db_t *db, const char *user_id, int64_t step, int64_t now)
{
    PL_PREPARE(st, db, sql_totp_enable);
    pl_stmt_bind_text(st, 1, user_id);
    pl_stmt_bind_int64(st, 2, step);
    pl_stmt_bind_int64(st, 3, now);
    return pl_stmt_exec_found(st);
}

int pl_store_totp_use_step(pl_db_t *db, const char *user_id, int64_t step, int64_t now)
{
    PL_PREPARE(st, db, sql_totp_use_step);
    pl_stmt_bind_text(st, 1, user_id);
    pl_stmt_bind_int64(st, 2, step);
    pl_stmt_bind_int64(st, 3, now);
    int rc = pl_stmt_exec(st);
    return rc < 0 ? rc : rc > 0 ? 1 : 0;
}

int pl_store_totp_delete(pl_db_t *db, const char *user_id)
{
    PL_PREPARE(st, db, sql_totp_delete);
    pl_stmt_bind_text(st, 1, user_id);
    return run(st);
}

static const char sql_totp_all[] = "SELECT user_id, secret_sealed FROM mfa_totp ORDER BY user_id";
static const char sql_totp_legacy[] = "SELECT user_id, secret_sealed FROM mfa_totp "
                                      "WHERE secret_sealed NOT LIKE 'dk1.%' ORDER BY user_id";
static const char sql_totp_reseal[] =
    "UPDATE mfa_totp SET secret_sealed = $3 WHERE user_id = $1 AND secret_sealed = $2";

static int totp_rows(pl_stmt_t *st, pl_arena_t *a, pl_rows_t *out)
{
    int rc;
    while ((rc = pl_stmt_step(st)) == 1) {
        pl_totp_sealed_t *t = pl_rows_add(out);
        if (!t)
            break;
        t->user_id = pl_stmt_col_dup(st, a, 0);
        t->sealed = pl_stmt_col_dup(st, a, 1);
    }
    pl_stmt_reset(st);
    return rc < 0 ? rc : PL_OK;
}

int pl_store_totp_all(pl_db_t *db, pl_arena_t *a, pl_rows_t *out)
{
    PL_PREPARE(st, db, sql_totp_all);
    return totp_rows(st, a, out);
}

int pl_store_totp_legacy(pl_db_t *db, pl_arena_t *a, pl_rows_t *out)
{
    PL_PREPARE(st, db, sql_totp_legacy);
    return totp_rows(st, a, out);
}

int pl_store_totp_reseal(pl_db_t *db, const char *user_id, const char *from, const char *to)
{
    PL_PREPARE(st, db, sql_totp_reseal);
    pl_stmt_bind_text(st, 1, user_id);
    pl_stmt_bind_text(st, 2, from);
    pl_stmt_bind_text(st, 3, to);
    return run(st);
}

int pl_store_user_set_mfa(pl_db_t *db, const char *user_id, bool enabled, int64_t now)
{
    PL_PREPARE(st, db, sql_user_set_mfa);
    pl_stmt_bind_text(st, 1, user_id);
    pl_stmt_bind_bool(st, 2, enabled);
    pl_stmt_bind_int64(st, 3, now);
    return pl_stmt_exec_found(st);
}

int pl_store_recovery_replace(pl_db_t *db, const char *user_id, char hashes[][65], int n,
                              int64_t now)
{
    int rc;
    {
        PL_PREPARE(st, db, sql_recovery_clear);
        pl_stmt_bind_text(st, 1, user_id);
        if ((rc = pl_stmt_exec(st)) < 0)
            return rc;
    }
    for (int i = 0; i < n; i++) {
        PL_PREPARE(st, db, sql_recovery_insert);
        pl_stmt_bind_text(st, 1, user_id);
        pl_stmt_bind_text(st, 2, hashes[i]);
        pl_stmt_bind_int64(st, 3, now);
        if ((rc = pl_stmt_exec(st)) < 0)
            return rc;
    }
    return PL_OK;
}

int pl_store_recovery_use(pl_db_t *db, const char *user_id, const char *hash, int64_t now)
{
    PL_PREPARE(st, db, sql_recovery_use);
    pl_stmt_bind_text(st, 1, user_id);
    pl_stmt_bind_text(st, 2, hash);
    pl_stmt_bind_int64(st, 3, now);
    return pl_stmt_exec_found(st);
}

int pl_store_challenge_take(pl_db_t *db, pl_arena_t *a, const char *hash, int64_t now,
                            int max_failures, const char **user_id, const char **method)
{
    PL_PREPARE(st, db, sql_challenge_take);
    pl_stmt_bind_text(st, 1, hash);
    pl_stmt_bind_int64(st, 2, now);
    pl_stmt_bind_int64(st, 3, max_failures);
    int rc = pl_stmt_step(st);
    if (rc == 1) {
        *user_id = pl_stmt_col_dup(st, a, 0);
        *method = pl_stmt_col_dup(st, a, 1);
    }
    return pl_stmt_one_done(st, rc);
}

int pl_store_challenge_insert(pl_db_t *db, const char *hash, const char *user_id,
                              const char *method, int64_t expires_at, int64_t now)
{
    PL_PREPARE(st, db, sql_challenge_insert);
    pl_stmt_bind_text(st, 1, hash);
    pl_stmt_bind_text(st, 2, user_id);
    pl_stmt_bind_text(st, 3, method);
    pl_stmt_bind_int64(st, 4, expires_at);
    pl_stmt_bind_int64(st, 5, now);
    return run(st);
}

int pl_store_challenge_get(pl_db_t *db, pl_arena_t *a, const char *hash, int64_t now,
                           int max_failures, const char **user_id, const char **method)
{
    PL_PREPARE(st, db, sql_challenge_get);
    pl_stmt_bind_text(st, 1, hash);
    pl_stmt_bind_int64(st, 2, now);
    pl_stmt_bind_int64(st, 3, max_failures);
    int rc = pl_stmt_step(st);
    if (rc == 1) {
        *user_id = pl_stmt_col_dup(st, a, 0);
        *method = pl_stmt_col_dup(st, a, 1);
    }
    return pl_stmt_one_done(st, rc);
}

int pl_store_challenge_fail(pl_db_t *db, const char *hash)
{
    PL_PREPARE(st, db, sql_challenge_fail);
    pl_stmt_bind_text(st, 1, hash);
    return run(st);
}

int pl_store_challenge_use(pl_db_t *db, const char *hash, int64_t now)
{
    PL_PREPARE(st, db, sql_challenge_use);
    pl_stmt_bind_text(st, 1, hash);
    pl_stmt_bind_int64(st, 2, now);
    int rc = pl_stmt_exec(st);
    return rc < 0 ? rc : rc > 0 ? 1 : 0;
}

/* ---- maintenance ---- */

static const char sql_purge_sessions[] = "DELETE FROM sessions WHERE expires_at < $1";
static const char sql_purge_attempts[] = "DELETE FROM login_attempts WHERE created_at < $1";
static const char sql_purge_tokens[] = "DELETE FROM email_tokens WHERE expires_at < $1";
static const char sql_purge_challenges[] = "DELETE FROM mfa_challenges WHERE expires_at < $1";
static const char sql_purge_magic_links[] = "DELETE FROM magic_links WHERE expires_at < $1";

int pl_store_purge(pl_db_t *db, int64_t sessions_before, int64_t attempts_before,
                   int64_t tokens_before)
{
    const char *sql[] = {sql_purge_sessions, sql_purge_attempts, sql_purge_tokens,
                         sql_purge_challenges, sql_purge_magic_links};
    int64_t before[] = {sessions_before, attempts_before, tokens_before, tokens_before,
                        tokens_before};
    for (size_t i = 0; i < PL_ARRAY_LEN(sql); i++) {
        PL_PREPARE(st, db, sql[i]);
        pl_stmt_bind_int64(st, 1, before[i]);
        int rc = pl_stmt_exec(st);
        if (rc < 0)
            return rc;
    }
    return PL_OK;
}

/* ---- magic links ---- */

static const char sql_magic_insert[] =
    "INSERT INTO magic_links (token_hash, user_id, email, ip, expires_at, created_at) "
    "VALUES ($1, $2, $3, $4, $5, $6)";
static const char sql_magic_count_email[] =
    "SELECT count(*) FROM magic_links WHERE email = $1 AND created_at >= $2";
static const char sql_magic_count_ip[] =
    "SELECT count(*) FROM magic_links WHERE ip = $1 AND created_at >= $2";
static const char sql_magic_find[] =
    "SELECT user_id, email FROM magic_links WHERE token_hash = $1 AND used_at IS NULL AND "
    "expires_at > $2";
static const char sql_magic_use[] =
    "UPDATE magic_links SET used_at = $2 WHERE token_hash = $1 AND used_at IS NULL AND "
    "expires_at > $2";

int pl_store_magic_link_insert(pl_db_t *db, const char *hash, const char *user_id,
                               const char *email, const char *ip, int64_t expires_at, int64_t now)
{
    PL_PREPARE(st, db, sql_magic_insert);
    pl_stmt_bind_text(st, 1, hash);
    pl_stmt_bind_text(st, 2, user_id);
    pl_stmt_bind_text(st, 3, email);
    pl_stmt_bind_text(st, 4, ip);
    pl_stmt_bind_int64(st, 5, expires_at);
    pl_stmt_bind_int64(st, 6, now);
    return run(st);
}

static int count_since(pl_db_t *db, const char *sql, const char *key, int64_t since, int *count)
{
    PL_PREPARE(st, db, sql);
    pl_stmt_bind_text(st, 1, key);
    pl_stmt_bind_int64(st, 2, since);
    int rc = pl_stmt_step(st);
    if (rc == 1)
        *count = (int)pl_stmt_col_int64(st, 0);
    return pl_stmt_one_done(st, rc);
}

int pl_store_magic_links_sent(pl_db_t *db, const char *email, const char *ip, int64_t since,
                              int *by_email, int *by_ip)
{
    int rc = count_since(db, sql_magic_count_email, email, since, by_email);
    return rc ? rc : count_since(db, sql_magic_count_ip, ip, since, by_ip);
}

int pl_store_magic_link_find(pl_db_t *db, pl_arena_t *a, const char *hash, int64_t now,
                             const char **user_id, const char **email)
{
    PL_PREPARE(st, db, sql_magic_find);
    pl_stmt_bind_text(st, 1, hash);
    pl_stmt_bind_int64(st, 2, now);
    int rc = pl_stmt_step(st);
    if (rc == 1) {
        *user_id = pl_stmt_col_dup(st, a, 0);
        *email = pl_stmt_col_dup(st, a, 1);
    }
    return pl_stmt_one_done(st, rc);
}

int pl_store_magic_link_use(pl_db_t *db, const char *hash, int64_t now)
{
    PL_PREPARE(st, db, sql_magic_use);
    pl_stmt_bind_text(st, 1, hash);
    pl_stmt_bind_int64(st, 2, now);
    return pl_stmt_exec_found(st);
}

/* ---- access-token signing keys ---- */

static const char sql_jwt_keys[] =
    "SELECT kid, alg, private_sealed, public_jwk, created_at, retired_at FROM jwt_keys "
    "ORDER BY created_at DESC, kid DESC";
static const char sql_jwt_keys_state[] =
    "SELECT count(*), coalesce(max(created_at), 0), coalesce(max(retired_at), 0) FROM jwt_keys";
static const char sql_jwt_key_insert[] =
    "INSERT INTO jwt_keys (kid, alg, private_sealed, public_jwk, created_at) "
    "VALUES ($1, $2, $3, $4, $5)";
static const char sql_jwt_keys_retire[] =
    "UPDATE jwt_keys SET retired_at = $2 WHERE retired_at IS NULL AND kid <> $1";
static const char sql_jwt_keys_purge[] = "DELETE FROM jwt_keys WHERE retired_at < $1";

int pl_store_jwt_keys(pl_db_t *db, void (*fn)(void *arg, const pl_jwt_key_row_t *row), void *arg)
{
    PL_PREPARE(st, db, sql_jwt_keys);
    int rc;
    while ((rc = pl_stmt_step(st)) == 1) {
        pl_jwt_key_row_t row = {
            .kid = pl_stmt_col_text(st, 0),
            .alg = pl_stmt_col_text(st, 1),
            .private_sealed = pl_stmt_col_text(st, 2),
            .public_jwk = pl_stmt_col_text(st, 3),
            .created_at = pl_stmt_col_int64(st, 4),
            .retired_at = pl_stmt_col_is_null(st, 5) ? 0 : pl_stmt_col_int64(st, 5),
        };
        fn(arg, &row);
    }
    return pl_stmt_list_done(st, rc);
}

int pl_store_jwt_keys_state(pl_db_t *db, int64_t *count, int64_t *newest, int64_t *last_retired)
{
    PL_PREPARE(st, db, sql_jwt_keys_state);
    int rc = pl_stmt_step(st);
    if (rc == 1) {
        *count = pl_stmt_col_int64(st, 0);
        *newest = pl_stmt_col_int64(st, 1);
        *last_retired = pl_stmt_col_int64(st, 2);
    }
    return pl_stmt_one_done(st, rc);
}

int pl_store_jwt_key_insert(pl_db_t *db, const char *kid, const char *alg, const char *sealed,
                            const char *public_jwk, int64_t now)
{
    PL_PREPARE(st, db, sql_jwt_key_insert);
    pl_stmt_bind_text(st, 1, kid);
    pl_stmt_bind_text(st, 2, alg);
    pl_stmt_bind_text(st, 3, sealed);
    pl_stmt_bind_text(st, 4, public_jwk);
    pl_stmt_bind_int64(st, 5, now);
    return run(st);
}

int pl_store_jwt_keys_retire(pl_db_t *db, const char *keep, int64_t now, int64_t purge_before)
{
    PL_PREPARE(st, db, sql_jwt_keys_retire);
    pl_stmt_bind_text(st, 1, keep);
    pl_stmt_bind_int64(st, 2, now);
    int rc = run(st);
    if (rc)
        return rc;
    PL_PREPARE(pst, db, sql_jwt_keys_purge);
    pl_stmt_bind_int64(pst, 1, purge_before);
    return run(pst);
}
