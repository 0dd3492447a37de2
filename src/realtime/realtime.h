/* realtime.h - live event streams (server-sent events) per organization and
 * per user, the activity feed, stream tickets, and the rules that decide
 * who may see an event.
 *
 * One fan-out thread per instance feeds every stream: woken by the event
 * outbox (platform/events) with the organization of new events, it reads
 * them from the audit log once and writes each to the streams of that
 * organization whose caller may see it and asked for its type. Streams wait
 * parked (core/feed.h), holding no thread. The same thread closes a stream
 * within a second of its session being revoked, its user leaving the
 * organization or its API key being revoked (it re-checks the streams an
 * event is about), writes a heartbeat comment every --sse-heartbeat seconds,
 * and feeds the user streams of whoever a module notified
 * (pl_realtime_user_changed).
 *
 * Messages: `id: <seq>`, `event: <action>`, `data: <the event, one line>`,
 * where the event is the audit event as exported without ip, user_agent,
 * prev_hash and hash (the body of a webhook's "data").
 *
 * Thread-safe. */
#ifndef PL_REALTIME_H
#define PL_REALTIME_H

#include <jansson.h>

#include "core/ctx.h"
#include "core/feed.h"
#include "core/module.h"
#include "core/perms.h"
#include "db/db.h"
#include "platform/events/events.h"

/* ---- who may see an event ---- */

/* The caller a stream or a feed page is for. */
typedef struct {
    const char *org_id;
    const char *user_id;    /* NULL for an API key */
    const char *api_key_id; /* NULL for a user */
    int level;              /* the role's (or the key's) level */
    const pl_perms_t *perms;
} pl_viewer_t;

/* A visibility rule for the actions matching pattern: an exact action
 * ("invitation.accepted") or a noun ("member.*"); an exact rule wins over
 * its noun's. The viewer needs perm (a catalog key; NULL: none) and, when
 * check is set, check's approval: a finer decision such as access to the
 * project or the record an event is about. check runs inside a read
 * transaction whose organization context is the event's; it returns true to
 * show the event. An action without a rule is shown only to holders of
 * audit.read. */
typedef struct {
    const char *pattern;
    const char *perm;
    bool (*check)(pl_db_t *db, const pl_viewer_t *viewer, const pl_event_t *ev);
} pl_event_rule_t;

/* Adds a module's rules (a list ending with a NULL pattern; it must outlive
 * the process). Call from a module's init. A pattern added twice keeps its
 * first rule. */
void pl_realtime_rules_add(const pl_event_rule_t *rules);

/* May viewer see ev? db is needed only by rules with a check. */
bool pl_realtime_visible(pl_db_t *db, const pl_viewer_t *viewer, const pl_event_t *ev);

/* ---- type filters (?types=member.*,record.created) ---- */

#define PL_TYPES_MAX 32

typedef struct {
    int n; /* 0: every type */
    char pattern[PL_TYPES_MAX][64];
} pl_types_t;

/* Parses a comma-separated list of actions, "noun.*" patterns or "*".
 * 400 bad_request (detail on ctx) when malformed. text NULL or "" is every
 * type. */
int pl_types_parse(pl_ctx_t *ctx, const char *text, pl_types_t *out);
bool pl_types_match(const pl_types_t *t, const char *action);

/* ---- tickets ---- */

#define PL_TICKET_TTL_S 60

/* Issues a single-use ticket (60 s) for the caller, inside the caller's
 * transaction: for the organization stream of ctx->tenant when org is true,
 * else for the user's notification stream. token gets the ticket (to be
 * shown once). */
int pl_realtime_ticket_issue(pl_db_t *db, pl_ctx_t *ctx, bool org, char token[64]);

/* Redeems a ticket (spends it) inside the request's transaction: it must be
 * unspent, unexpired, minted for this kind of stream (org_ref names the
 * organization of an organization stream; NULL: the user's stream), and
 * its session (or API key) still live. Fills ctx->principal as the token
 * that minted it would; for an API key also ctx->tenant, with the key's
 * permissions. 401 invalid_token otherwise. */
int pl_realtime_ticket_redeem(pl_db_t *db, pl_ctx_t *ctx, const char *ticket, const char *org_ref);

/* ---- streams ---- */

/* Opens the event stream of ctx->tenant's organization for ctx's caller:
 * *feed gets the stream's body (the caller passes it to the response; the
 * stream holds its own reference). last_event_id (NULL: none) resumes
 * after that seq: the missed events are written first, or, when they are
 * more than 1,000 or older than 24 h, an `event: reset` message. 400 for a
 * malformed last_event_id; 503 (unavailable, Retry-After) beyond
 * --max-streams. */
int pl_realtime_open_org(pl_db_t *db, pl_ctx_t *ctx, const pl_types_t *types,
                         const char *last_event_id, pl_feed_t **feed);

/* What a user's stream carries (the notifications module provides it at
 * init). read calls emit for the user's items with created_at >= since and
 * an id (time-ordered text) above after ("": any), oldest first, at most
 * limit of them; data is the item as its API renders it, on one line. It
 * runs inside a read transaction whose user context is user_id. */
typedef void (*pl_user_emit_fn)(void *arg, const char *id, int64_t created_at, const char *data);
typedef struct {
    const char *event; /* the SSE event name of every item: "notification" */
    int (*read)(pl_db_t *db, const char *user_id, int64_t since, const char *after, int limit,
                pl_user_emit_fn emit, void *arg);
    /* the newest item's id into out (37 bytes), "" when none */
    int (*newest)(pl_db_t *db, const char *user_id, char *out);
} pl_user_source_t;
void pl_realtime_user_source(const pl_user_source_t *src);

/* Opens ctx's user's own stream (new notifications). last_event_id (an
 * item id, NULL: none) resumes after it, as for organization streams. */
int pl_realtime_open_user(pl_db_t *db, pl_ctx_t *ctx, const char *last_event_id, pl_feed_t **feed);

/* Inside the transaction that created items for user_id: after the commit,
 * that user's streams on every instance read them. */
int pl_realtime_user_changed(pl_db_t *db, const char *user_id);

/* ---- the activity feed ---- */

/* A page of ctx->tenant's events that ctx's caller may see, newest first:
 * seq below before (0: from the newest), created at or after since (ms; 0:
 * any), matching types. Writes {"data":[...],"next_cursor":...} into out. */
int pl_realtime_activity(pl_db_t *db, pl_ctx_t *ctx, const pl_types_t *types, int64_t since,
                         int64_t before, int limit, pl_buf_t *out);

/* The descriptor (realtime_routes.c). */
extern const pl_module_t pl_realtime_module;

#ifdef PL_REALTIME_INTERNAL
/* Between realtime.c and realtime_routes.c: the module's settings and life. */
extern int pl_realtime_max_streams; /* --max-streams */
extern int pl_realtime_heartbeat_s; /* --sse-heartbeat */
int pl_realtime_init(void);
int pl_realtime_start(void);
void pl_realtime_stop(void);
#endif

#endif
