/* realtime_store.c - SQL of realtime: audit events read back by (chain, seq),
 * stream tickets, and the checks of a stream's caller. */
#include <stdio.h>

#include "realtime/realtime_store.h"

static int done(int rc)
{
    return rc < 0 ? rc : PL_OK;
}

static const char sql_head[] = "SELECT seq FROM audit_heads WHERE chain = $1";

int pl_rt_store_head(pl_db_t *db, const char *chain, int64_t *seq)
{
    PL_PREPARE(st, db, sql_head);
    pl_stmt_bind_text(st, 1, chain);
    int rc = pl_stmt_step(st);
    *seq = rc == 1 ? pl_stmt_col_int64(st, 0) : 0;
    pl_stmt_reset(st);
    return done(rc);
}

#define EVENT_COLS                                                                                 \
    "seq, id, org_id, action, actor_type, actor_id, target_type, target_id, request_id, data, "    \
    "created_at"

static const char sql_events[] = "SELECT " EVENT_COLS " FROM audit_events WHERE chain = $1 AND "
                                 "seq > $2 AND seq <= $3 ORDER BY seq LIMIT $4";
static const char sql_events_desc[] =
    "SELECT " EVENT_COLS " FROM audit_events WHERE chain = $1 AND ($2 = 0 OR seq < $2) AND "
    "created_at >= $3 ORDER BY seq DESC LIMIT $4";

static void read_event(pl_arena_t *a, pl_stmt_t *st, pl_rt_event_t *e)
{
    e->seq = pl_stmt_col_int64(st, 0);
    e->id = pl_stmt_col_dup(st, a, 1);
    e->org_id = pl_stmt_col_dup(st, a, 2);
    e->action = pl_stmt_col_dup(st, a, 3);
    e->actor_type = pl_stmt_col_dup(st, a, 4);
    e->actor_id = pl_stmt_col_dup(st, a, 5);
    e->target_type = pl_stmt_col_dup(st, a, 6);
    e->target_id = pl_stmt_col_dup(st, a, 7);
    e->request_id = pl_stmt_col_dup(st, a, 8);
    e->data = pl_stmt_col_dup(st, a, 9);
    e->created_at = pl_stmt_col_int64(st, 10);
}

static int read_events(pl_stmt_t *st, pl_arena_t *a, int max, pl_rt_event_t *out, int *n)
{
    int rc;
    *n = 0;
    while ((rc = pl_stmt_step(st)) == 1 && *n < max)
        read_event(a, st, &out[(*n)++]);
    pl_stmt_reset(st);
    return done(rc);
}

int pl_rt_store_events(pl_db_t *db, pl_arena_t *a, const char *chain, int64_t after, int64_t upto,
                       int max, pl_rt_event_t *out, int *n)
{
    PL_PREPARE(st, db, sql_events);
    pl_stmt_bind_text(st, 1, chain);
    pl_stmt_bind_int64(st, 2, after);
    pl_stmt_bind_int64(st, 3, upto);
    pl_stmt_bind_int64(st, 4, max);
    return read_events(st, a, max, out, n);
}

int pl_rt_store_events_desc(pl_db_t *db, pl_arena_t *a, const char *chain, int64_t before,
                            int64_t since, int max, pl_rt_event_t *out, int *n)
{
    PL_PREPARE(st, db, sql_events_desc);
    pl_stmt_bind_text(st, 1, chain);
    pl_stmt_bind_int64(st, 2, before);
    pl_stmt_bind_int64(st, 3, since);
    pl_stmt_bind_int64(st, 4, max);
    return read_events(st, a, max, out, n);
}

/* ---- tickets ---- */

static const char sql_ticket_insert[] =
    "INSERT INTO stream_tickets (token_hash, org_id, user_id, session_id, api_key_id, expires_at, "
    "created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)";
static const char sql_ticket_spend[] =
    "UPDATE stream_tickets SET used_at = $2 WHERE token_hash = $1 AND used_at IS NULL AND "
    "expires_at > $2 RETURNING org_id, user_id, session_id, api_key_id";
static const char sql_ticket_purge_org[] =
    "DELETE FROM stream_tickets WHERE org_id = $1 AND expires_at < $2";
static const char sql_ticket_purge_user[] =
    "DELETE FROM stream_tickets WHERE org_id IS NULL AND user_id = $1 AND expires_at < $2";

int pl_rt_store_ticket_insert(pl_db_t *db, const char *hash, const pl_rt_ticket_t *t,
                              int64_t expires_at, int64_t now)
{
    PL_PREPARE(st, db, sql_ticket_insert);
    pl_stmt_bind_text(st, 1, hash);
    pl_stmt_bind_text(st, 2, t->org_id);
    pl_stmt_bind_text(st, 3, t->user_id);
    pl_stmt_bind_text(st, 4, t->session_id);
    pl_stmt_bind_text(st, 5, t->api_key_id);
    pl_stmt_bind_int64(st, 6, expires_at);
    pl_stmt_bind_int64(st, 7, now);
    return done(pl_stmt_exec(st));
}

int pl_rt_store_ticket_spend(pl_db_t *db, pl_arena_t *a, const char *hash, int64_t now,
                             pl_rt_ticket_t *out)
{
    PL_PREPARE(st, db, sql_ticket_spend);
    pl_stmt_bind_text(st, 1, hash);
    pl_stmt_bind_int64(st, 2, now);
    int rc = pl_stmt_step(st);
    if (rc == 1) {
        out->org_id = pl_stmt_col_dup(st, a, 0);
        out->user_id = pl_stmt_col_dup(st, a, 1);
        out->session_id = pl_stmt_col_dup(st, a, 2);
        out->api_key_id = pl_stmt_col_dup(st, a, 3);
        while (pl_stmt_step(st) == 1) /* finish the statement */
            ;
    }
    return pl_stmt_one_done(st, rc);
}

int pl_rt_store_ticket_purge(pl_db_t *db, const char *org_id, const char *user_id, int64_t cutoff)
{
    PL_PREPARE(st, db, org_id ? sql_ticket_purge_org : sql_ticket_purge_user);
    pl_stmt_bind_text(st, 1, org_id ? org_id : user_id);
    pl_stmt_bind_int64(st, 2, cutoff);
    return done(pl_stmt_exec(st));
}

/* ---- the caller of a stream ---- */

static const char sql_session_live[] =
    "SELECT 1 FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id = $1 AND "
    "s.user_id = $2 AND s.revoked_at IS NULL AND s.expires_at > $3 AND u.disabled_at IS NULL";
static const char sql_member_role[] =
    "SELECT m.role, r.level, r.permissions FROM memberships m LEFT JOIN roles r ON "
    "r.org_id = m.org_id AND r.key = m.role WHERE m.org_id = $1 AND m.user_id = $2";
static const char sql_key[] = "SELECT level, permissions, expires_at FROM api_keys WHERE id = $1 "
                              "AND org_id = $2 AND revoked_at IS NULL";
static const char sql_org_id[] = "SELECT id FROM organizations WHERE id = $1 OR slug = $1";

int pl_rt_store_session_live(pl_db_t *db, const char *session_id, const char *user_id, int64_t now)
{
    PL_PREPARE(st, db, sql_session_live);
    pl_stmt_bind_text(st, 1, session_id);
    pl_stmt_bind_text(st, 2, user_id);
    pl_stmt_bind_int64(st, 3, now);
    int rc = pl_stmt_step(st);
    pl_stmt_reset(st);
    return rc;
}

int pl_rt_store_member_role(pl_db_t *db, pl_arena_t *a, const char *org_id, const char *user_id,
                            const char **role, int *level, const char **perms)
{
    PL_PREPARE(st, db, sql_member_role);
    pl_stmt_bind_text(st, 1, org_id);
    pl_stmt_bind_text(st, 2, user_id);
    int rc = pl_stmt_step(st);
    if (rc == 1) {
        *role = pl_stmt_col_dup(st, a, 0);
        *level = pl_stmt_col_is_null(st, 1) ? 0 : (int)pl_stmt_col_int64(st, 1);
        *perms = pl_stmt_col_dup(st, a, 2);
    }
    return pl_stmt_one_done(st, rc);
}

int pl_rt_store_key(pl_db_t *db, pl_arena_t *a, const char *org_id, const char *key_id, int *level,
                    const char **perms, int64_t *expires_at)
{
    PL_PREPARE(st, db, sql_key);
    pl_stmt_bind_text(st, 1, key_id);
    pl_stmt_bind_text(st, 2, org_id);
    int rc = pl_stmt_step(st);
    if (rc == 1) {
        *level = (int)pl_stmt_col_int64(st, 0);
        *perms = pl_stmt_col_dup(st, a, 1);
        *expires_at = pl_stmt_col_is_null(st, 2) ? 0 : pl_stmt_col_int64(st, 2);
    }
    return pl_stmt_one_done(st, rc);
}

int pl_rt_store_org_id(pl_db_t *db, const char *ref, char out[37])
{
    PL_PREPARE(st, db, sql_org_id);
    pl_stmt_bind_text(st, 1, ref);
    int rc = pl_stmt_step(st);
    if (rc == 1)
        snprintf(out, 37, "%s", pl_stmt_col_text(st, 0));
    return pl_stmt_one_done(st, rc);
}
