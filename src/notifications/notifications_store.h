/* notifications_store.h - the SQL of notifications, preferences and known
 * devices, and the few facts about users, organizations and teams that
 * notifications name. Each function runs in the caller's transaction; on
 * PostgreSQL, reads of a user's notifications need app.user_id. */
#ifndef PL_NOTIFICATIONS_STORE_H
#define PL_NOTIFICATIONS_STORE_H

#include "core/core.h"
#include "db/db.h"

typedef struct {
    const char *id, *user_id, *org_id, *type, *title, *body, *link, *data;
    int64_t read_at; /* 0: unread */
    int64_t created_at;
} pl_notification_row_t;

int pl_ntf_store_insert(pl_db_t *db, const pl_notification_row_t *n, const char *event_id);
/* Calls fn for up to limit rows, newest first, ids below before ("": any). */
int pl_ntf_store_page(pl_db_t *db, pl_arena_t *a, const char *user_id, bool unread,
                      const char *before, int limit,
                      void (*fn)(void *arg, const pl_notification_row_t *r), void *arg);
/* Calls fn for up to limit rows created at or after since with an id above
 * after ("": any), oldest first. */
int pl_ntf_store_since(pl_db_t *db, pl_arena_t *a, const char *user_id, int64_t since,
                       const char *after, int limit,
                       void (*fn)(void *arg, const pl_notification_row_t *r), void *arg);
/* The newest id into out (37 bytes), "" when none. */
int pl_ntf_store_newest(pl_db_t *db, const char *user_id, char *out);
int pl_ntf_store_unread(pl_db_t *db, const char *user_id, int64_t *count);
/* PL_ENOTFOUND when the user has no such notification. */
int pl_ntf_store_mark_read(pl_db_t *db, const char *user_id, const char *id, int64_t now);
int pl_ntf_store_mark_all(pl_db_t *db, const char *user_id, int64_t now);

/* Preferences: *found false when the user has no row for type. */
int pl_ntf_store_pref(pl_db_t *db, const char *user_id, const char *type, bool *found, bool *email);
int pl_ntf_store_prefs(pl_db_t *db, pl_arena_t *a, const char *user_id,
                       void (*fn)(void *arg, const char *type, bool email), void *arg);
int pl_ntf_store_pref_set(pl_db_t *db, const char *user_id, const char *type, bool email,
                          int64_t now);

/* Devices: *last_seen 0 when the device is unknown; *any whether the user
 * has any device recorded. */
int pl_ntf_store_device(pl_db_t *db, const char *user_id, const char *device, int64_t *last_seen,
                        bool *any);
int pl_ntf_store_device_seen(pl_db_t *db, const char *user_id, const char *device, int64_t now);
int pl_ntf_store_devices_purge(pl_db_t *db, int64_t cutoff);

/* Facts for the texts: a user's email, name and locale (NULL: not set); the
 * user with an email;
 * an organization's name; a team's name. PL_ENOTFOUND when missing. */
int pl_ntf_store_user(pl_db_t *db, pl_arena_t *a, const char *user_id, const char **email,
                      const char **name, const char **locale);
int pl_ntf_store_user_by_email(pl_db_t *db, pl_arena_t *a, const char *email, const char **id);
int pl_ntf_store_org_name(pl_db_t *db, pl_arena_t *a, const char *org_id, const char **name);
int pl_ntf_store_team_name(pl_db_t *db, pl_arena_t *a, const char *org_id, const char *team_id,
                           const char **name);

#endif
