/* events.h - the event outbox: every audited change, delivered to whoever
 * subscribes (webhook deliveries, notifications, realtime streams).
 *
 * The audit log is the outbox. pl_audit_append writes an event and, in the
 * same transaction, hands it to every subscriber (a module's on_event), so
 * what a subscriber queues (a delivery job, a notification row) commits or
 * rolls back with the change. After the commit, watchers in this process
 * (stream fan-outs) are woken, and so are those of every other instance:
 * through PostgreSQL NOTIFY on channel "plinth_events" with the org id (or
 * "instance") as payload; SQLite has one process, which wakes its own.
 *
 * Readers that need the events themselves (streams, the activity feed)
 * read them from the audit log by (chain, seq). Thread-safe. */
#ifndef PL_EVENTS_H
#define PL_EVENTS_H

#include <jansson.h>

#include "core/ctx.h"
#include "core/module.h"
#include "db/db.h"

#define PL_EVENTS_CHANNEL "plinth_events"

/* An appended event, as subscribers see it. Strings are borrowed for the
 * call. */
typedef struct pl_event {
    const char *id;
    const char *org_id; /* NULL: the instance chain */
    int64_t seq;        /* position in its chain */
    const char *action; /* "member.invited" */
    const char *actor_type;
    const char *actor_id; /* NULL for the system */
    const char *target_type;
    const char *target_id; /* NULL when no target */
    json_t *data;          /* never NULL */
    int64_t created_at;
    const char *request_id;
    const char *ip;         /* the client's, NULL for the system */
    const char *user_agent; /* NULL when none */
} pl_event_t;

/* The catalog of actions: every audit action some module writes (its
 * descriptor's `actions`), so that subscriptions ("member.*",
 * "org.updated") can be validated and grow with the product. Register at
 * start, before any thread runs; read-only after. Duplicates are ignored;
 * the catalog holds up to PL_EVENTS_MAX_ACTIONS actions. */
#define PL_EVENTS_MAX_ACTIONS 512
#define PL_EVENTS_ACTION_MAX  64 /* bytes of an action name */
void pl_events_register_actions(const char *const *actions);
/* True when action is in the catalog. */
bool pl_events_action_known(const char *action);
/* True when some action of the catalog has this noun (the part before the
 * dot, n bytes). */
bool pl_events_noun_known(const char *noun, size_t n);
/* The catalog in registration order: its size and its i-th action. */
size_t pl_events_action_count(void);
const char *pl_events_action(size_t i);

/* Registers a subscriber (a module's on_event). Call at start. */
void pl_events_subscribe(const char *module, pl_event_fn fn);

/* Hands ev to every subscriber inside the caller's transaction, and queues
 * the cross-instance wake-up. Called by the audit log; returns the first
 * subscriber error (the change then rolls back). */
int pl_events_publish(pl_db_t *db, pl_ctx_t *ctx, const pl_event_t *ev);

/* A watcher: called with the org id ("instance" for the instance chain) of
 * new events after their transaction committed, on this instance or
 * another; org NULL means "anything may have changed" (a missed
 * notification). Runs on the committing thread or the listener thread:
 * keep it short (signal a fan-out thread). Register at start. */
void pl_events_watch(void (*cb)(const char *org, void *arg), void *arg);

/* After the caller's transaction ended: wakes local watchers for the events
 * this thread published since the last call. The HTTP server and the job
 * runner call it after every request and job; after a rollback the wake-up
 * is spurious and harmless (watchers find nothing new). */
void pl_events_after_commit(void);
/* Forgets what this thread published (after a rollback). */
void pl_events_discard(void);

/* The descriptor of the events platform module. */
extern const pl_module_t pl_events_module;

#endif
