/* notifications_store.c - SQL of notifications, preferences and devices. */
#include <stdio.h>

#include "notifications/notifications_store.h"

static int done(int rc)
{
    return rc < 0 ? rc : PL_OK;
}

#define COLS "id, user_id, org_id, type, title, body, link, data, read_at, created_at"

static const char sql_insert[] =
    "INSERT INTO notifications (id, user_id, org_id, type, title, body, link, data, event_id, "
    "created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";
static const char sql_page[] = "SELECT " COLS " FROM notifications WHERE user_id = $1 AND "
                               "($2 = '' OR id < $2) ORDER BY id DESC LIMIT $3";
static const char sql_page_unread[] =
    "SELECT " COLS " FROM notifications WHERE user_id = $1 AND ($2 = '' OR id < $2) AND "
    "read_at IS NULL ORDER BY id DESC LIMIT $3";
static const char sql_since[] =
    "SELECT " COLS " FROM notifications WHERE user_id = $1 AND created_at >= $2 AND id > $3 "
    "ORDER BY created_at, id LIMIT $4";
static const char sql_newest[] =
    "SELECT id FROM notifications WHERE user_id = $1 ORDER BY id DESC LIMIT 1";
static const char sql_unread[] =
    "SELECT count(*) FROM notifications WHERE user_id = $1 AND read_at IS NULL";
static const char sql_mark[] = "UPDATE notifications SET read_at = COALESCE(read_at, $3) WHERE "
                               "user_id = $1 AND id = $2";
static const char sql_mark_all[] =
    "UPDATE notifications SET read_at = $2 WHERE user_id = $1 AND read_at IS NULL";

int pl_ntf_store_insert(pl_db_t *db, const pl_notification_row_t *n, const char *event_id)
{
    PL_PREPARE(st, db, sql_insert);
    const char *v[] = {n->id,   n->user_id, n->org_id, n->type, n->title,
                       n->body, n->link,    n->data,   event_id};
    for (int i = 0; i < 9; i++)
        pl_stmt_bind_text(st, i + 1, v[i]);
    pl_stmt_bind_int64(st, 10, n->created_at);
    return done(pl_stmt_exec(st));
}

static void read_row(pl_arena_t *a, pl_stmt_t *st, pl_notification_row_t *r)
{
    r->id = pl_stmt_col_dup(st, a, 0);
    r->user_id = pl_stmt_col_dup(st, a, 1);
    r->org_id = pl_stmt_col_dup(st, a, 2);
    r->type = pl_stmt_col_dup(st, a, 3);
    r->title = pl_stmt_col_dup(st, a, 4);
    r->body = pl_stmt_col_dup(st, a, 5);
    r->link = pl_stmt_col_dup(st, a, 6);
    r->data = pl_stmt_col_dup(st, a, 7);
    r->read_at = pl_stmt_col_is_null(st, 8) ? 0 : pl_stmt_col_int64(st, 8);
    r->created_at = pl_stmt_col_int64(st, 9);
}

static int each(pl_stmt_t *st, pl_arena_t *a, void (*fn)(void *arg, const pl_notification_row_t *r),
                void *arg)
{
    int rc;
    while ((rc = pl_stmt_step(st)) == 1) {
        pl_notification_row_t r;
        read_row(a, st, &r);
        fn(arg, &r);
    }
    pl_stmt_reset(st);
    return done(rc);
}

int pl_ntf_store_page(pl_db_t *db, pl_arena_t *a, const char *user_id, bool unread,
                      const char *before, int limit,
                      void (*fn)(void *arg, const pl_notification_row_t *r), void *arg)
{
    PL_PREPARE(st, db, unread ? sql_page_unread : sql_page);
    pl_stmt_bind_text(st, 1, user_id);
    pl_stmt_bind_text(st, 2, before ? before : "");
    pl_stmt_bind_int64(st, 3, limit);
    return each(st, a, fn, arg);
}

int pl_ntf_store_since(pl_db_t *db, pl_arena_t *a, const char *user_id, int64_t since,
                       const char *after, int limit,
                       void (*fn)(void *arg, const pl_notification_row_t *r), void *arg)
{
    PL_PREPARE(st, db, sql_since);
    pl_stmt_bind_text(st, 1, user_id);
    pl_stmt_bind_int64(st, 2, since);
    pl_stmt_bind_text(st, 3, after ? after : "");
    pl_stmt_bind_int64(st, 4, limit);
    return each(st, a, fn, arg);
}

int pl_ntf_store_newest(pl_db_t *db, const char *user_id, char *out)
{
    PL_PREPARE(st, db, sql_newest);
    pl_stmt_bind_text(st, 1, user_id);
    int rc = pl_stmt_step(st);
    snprintf(out, 37, "%s", rc == 1 ? pl_stmt_col_text(st, 0) : "");
    pl_stmt_reset(st);
    return done(rc);
}

int pl_ntf_store_unread(pl_db_t *db, const char *user_id, int64_t *count)
{
    PL_PREPARE(st, db, sql_unread);
    pl_stmt_bind_text(st, 1, user_id);
    int rc = pl_stmt_step(st);
    *count = rc == 1 ? pl_stmt_col_int64(st, 0) : 0;
    pl_stmt_reset(st);
    return done(rc);
}

int pl_ntf_store_mark_read(pl_db_t *db, const char *user_id, const char *id, int64_t now)
{
    PL_PREPARE(st, db, sql_mark);
    pl_stmt_bind_text(st, 1, user_id);
    pl_stmt_bind_text(st, 2, id);
    pl_stmt_bind_int64(st, 3, now);
    return pl_stmt_exec_found(st);
}

int pl_ntf_store_mark_all(pl_db_t *db, const char *user_id, int64_t now)
{
    PL_PREPARE(st, db, sql_mark_all);
    pl_stmt_bind_text(st, 1, user_id);
    pl_stmt_bind_int64(st, 2, now);
    return done(pl_stmt_exec(st));
}

/* ---- preferences ---- */

static const char sql_pref[] =
    "SELECT email FROM notification_preferences WHERE user_id = $1 AND type = $2";
static const char sql_prefs[] =
    "SELECT type, email FROM notification_preferences WHERE user_id = $1 ORDER BY type";
static const char sql_pref_set[] =
    "INSERT INTO notification_preferences (user_id, type, email, updated_at) VALUES ($1, $2, $3, "
    "$4) ON CONFLICT (user_id, type) DO UPDATE SET email = excluded.email, updated_at = "
    "excluded.updated_at";

int pl_ntf_store_pref(pl_db_t *db, const char *user_id, const char *type, bool *found, bool *email)
{
    PL_PREPARE(st, db, sql_pref);
    pl_stmt_bind_text(st, 1, user_id);
    pl_stmt_bind_text(st, 2, type);
    int rc = pl_stmt_step(st);
    *found = rc == 1;
    if (rc == 1)
        *email = pl_stmt_col_bool(st, 0);
    pl_stmt_reset(st);
    return done(rc);
}

int pl_ntf_store_prefs(pl_db_t *db, pl_arena_t *a, const char *user_id,
                       void (*fn)(void *arg, const char *type, bool email), void *arg)
{
    PL_PREPARE(st, db, sql_prefs);
    pl_stmt_bind_text(st, 1, user_id);
    int rc;
    while ((rc = pl_stmt_step(st)) == 1)
        fn(arg, pl_stmt_col_dup(st, a, 0), pl_stmt_col_bool(st, 1));
    pl_stmt_reset(st);
    return done(rc);
}

int pl_ntf_store_pref_set(pl_db_t *db, const char *user_id, const char *type, bool email,
                          int64_t now)
{
    PL_PREPARE(st, db, sql_pref_set);
    pl_stmt_bind_text(st, 1, user_id);
    pl_stmt_bind_text(st, 2, type);
    pl_stmt_bind_bool(st, 3, email);
    pl_stmt_bind_int64(st, 4, now);
    return done(pl_stmt_exec(st));
}

/* ---- devices ---- */

static const char sql_device[] = "SELECT max(CASE WHEN device = $2 THEN last_seen_at END), "
                                 "count(*) FROM user_devices WHERE user_id = $1";
static const char sql_device_seen[] =
    "INSERT INTO user_devices (user_id, device, first_seen_at, last_seen_at) VALUES ($1, $2, $3, "
    "$3) ON CONFLICT (user_id, device) DO UPDATE SET last_seen_at = excluded.last_seen_at";
static const char sql_devices_purge[] = "DELETE FROM user_devices WHERE last_seen_at < $1";

int pl_ntf_store_device(pl_db_t *db, const char *user_id, const char *device, int64_t *last_seen,
                        bool *any)
{
    PL_PREPARE(st, db, sql_device);
    pl_stmt_bind_text(st, 1, user_id);
    pl_stmt_bind_text(st, 2, device);
    int rc = pl_stmt_step(st);
    *last_seen = rc == 1 && !pl_stmt_col_is_null(st, 0) ? pl_stmt_col_int64(st, 0) : 0;
    *any = rc == 1 && pl_stmt_col_int64(st, 1) > 0;
    pl_stmt_reset(st);
    return done(rc);
}

int pl_ntf_store_device_seen(pl_db_t *db, const char *user_id, const char *device, int64_t now)
{
    PL_PREPARE(st, db, sql_device_seen);
    pl_stmt_bind_text(st, 1, user_id);
    pl_stmt_bind_text(st, 2, device);
    pl_stmt_bind_int64(st, 3, now);
    return done(pl_stmt_exec(st));
}

int pl_ntf_store_devices_purge(pl_db_t *db, int64_t cutoff)
{
    PL_PREPARE(st, db, sql_devices_purge);
    pl_stmt_bind_int64(st, 1, cutoff);
    return done(pl_stmt_exec(st));
}

/* ---- facts ---- */

static const char sql_user[] = "SELECT email, name, locale FROM users WHERE id = $1";
static const char sql_user_by_email[] = "SELECT id FROM users WHERE email = $1";
static const char sql_org_name[] = "SELECT name FROM organizations WHERE id = $1";
static const char sql_team_name[] = "SELECT name FROM teams WHERE org_id = $1 AND id = $2";

int pl_ntf_store_user(pl_db_t *db, pl_arena_t *a, const char *user_id, const char **email,
                      const char **name, const char **locale)
{
    PL_PREPARE(st, db, sql_user);
    pl_stmt_bind_text(st, 1, user_id);
    int rc = pl_stmt_step(st);
    if (rc == 1) {
        *email = pl_stmt_col_dup(st, a, 0);
        *name = pl_stmt_col_dup(st, a, 1);
        *locale = pl_stmt_col_is_null(st, 2) ? NULL : pl_stmt_col_dup(st, a, 2);
    }
    return pl_stmt_one_done(st, rc);
}

static int one_text(pl_stmt_t *st, pl_arena_t *a, const char **out)
{
    int rc = pl_stmt_step(st);
    if (rc == 1)
        *out = pl_stmt_col_dup(st, a, 0);
    return pl_stmt_one_done(st, rc);
}

int pl_ntf_store_user_by_email(pl_db_t *db, pl_arena_t *a, const char *email, const char **id)
{
    PL_PREPARE(st, db, sql_user_by_email);
    pl_stmt_bind_text(st, 1, email);
    return one_text(st, a, id);
}

int pl_ntf_store_org_name(pl_db_t *db, pl_arena_t *a, const char *org_id, const char **name)
{
    PL_PREPARE(st, db, sql_org_name);
    pl_stmt_bind_text(st, 1, org_id);
    return one_text(st, a, name);
}

int pl_ntf_store_team_name(pl_db_t *db, pl_arena_t *a, const char *org_id, const char *team_id,
                           const char **name)
{
    PL_PREPARE(st, db, sql_team_name);
    pl_stmt_bind_text(st, 1, org_id);
    pl_stmt_bind_text(st, 2, team_id);
    return one_text(st, a, name);
}
