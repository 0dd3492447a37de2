/* notifications.h - in-app notifications: a user's inbox, unread counts,
 * email preferences, email copies, and the sign-in alert for new devices.
 *
 * A notification is created by an event subscriber inside the transaction
 * of the change it reports (the event outbox, platform/events), so it
 * exists exactly when the change committed. It goes to the user the event
 * is about, never to the event's actor. Its type is the event's action
 * ("member.role_updated"), or "security.new_sign_in". An email copy is
 * queued in the same transaction when the recipient's preferences say so
 * (each type has a default); emails that are the notification themselves
 * (an invitation to an existing account) are not governed by preferences.
 * The recipient's open streams receive it after the commit (realtime/).
 *
 * Modules add their own types (project membership, record assignment) with
 * pl_notifications_types_add and create notifications from their on_event
 * with pl_notifications_create. Thread-safe. */
#ifndef PL_NOTIFICATIONS_H
#define PL_NOTIFICATIONS_H

#include <jansson.h>

#include "core/ctx.h"
#include "core/module.h"
#include "db/db.h"
#include "platform/events/events.h"

/* A notification type. */
typedef struct {
    const char *type;        /* "member.role_updated" */
    const char *description; /* one line */
    bool email_default;      /* email copies are on unless the user turns them off */
    /* listed in the preferences; false when no copy is sent through them
     * (another email, always sent, already is the copy) */
    bool has_preference;
} pl_notification_type_t;

/* Adds a module's types (a list ending with a NULL type; it must outlive
 * the process). Call from a module's init. */
void pl_notifications_types_add(const pl_notification_type_t *types);
/* The type called name, or NULL. */
const pl_notification_type_t *pl_notifications_type(const char *name);

/* What to tell whom. Strings and data are borrowed for the call. */
typedef struct {
    const char *user_id; /* the recipient */
    const char *type;    /* a registered type */
    const char *org_id;  /* the organization it happened in; NULL for the account's own */
    const char *title;
    const char *body;
    const char *link; /* NULL: none */
    json_t *data;     /* an object; NULL: {} */
    /* the email copy: a template declared by a module and its variables
     * ("name" is filled in); NULL: the generic "notification" template
     * with title and body */
    const char *mail_template;
    json_t *mail_vars;
} pl_notification_t;

/* Creates n for the change that wrote ev, inside its transaction: stores
 * it, queues the email copy the recipient's preferences ask for, and wakes
 * the recipient's streams after the commit. A recipient who is ev's actor
 * gets nothing (PL_OK) unless to_actor (alerts about one's own account,
 * such as a sign-in from a new device). Returns PL_OK or a database error
 * (which rolls the change back). */
int pl_notifications_create(pl_db_t *db, const pl_event_t *ev, const pl_notification_t *n,
                            bool to_actor);

/* ---- the inbox (ctx's user) ---- */

/* A page of the user's notifications, newest first, with an id below before
 * (NULL: from the newest), only unread ones when unread. Writes
 * {"data":[Notification...],"next_cursor":...} into out. */
int pl_notifications_list(pl_db_t *db, pl_ctx_t *ctx, bool unread, const char *before, int limit,
                          pl_buf_t *out);
int pl_notifications_unread_count(pl_db_t *db, pl_ctx_t *ctx, int64_t *count);
/* Marks one read (already read: unchanged); 404 when it is not the user's. */
int pl_notifications_mark_read(pl_db_t *db, pl_ctx_t *ctx, const char *id);
int pl_notifications_mark_all_read(pl_db_t *db, pl_ctx_t *ctx);

/* The user's email preferences {"email":{"<type>":bool,...}} for every type
 * that has one (a new reference). */
int pl_notifications_prefs_get(pl_db_t *db, pl_ctx_t *ctx, json_t **out);
/* Sets the preferences given in email ({"<type>": bool}); types left out
 * keep their setting. 422 (field "email" or "email.<type>") for an unknown
 * type or a value that is not a boolean. */
int pl_notifications_prefs_set(pl_db_t *db, pl_ctx_t *ctx, json_t *email);

/* The descriptor (notifications_routes.c). */
extern const pl_module_t pl_notifications_module;

#ifdef PL_NOTIFICATIONS_INTERNAL
/* Between notifications.c and notifications_routes.c. */
int pl_notifications_init(void);
int pl_notifications_on_event(pl_db_t *db, pl_ctx_t *ctx, const pl_event_t *ev);
int pl_notifications_purge(const char *job_id, json_t *payload, char *err, size_t errlen);
extern const pl_mail_template_def_t pl_notifications_templates[];
#endif

#endif
