/* audit.h - the tamper-evident audit log.
 *
 * Every change writes its event in the same transaction (pl_audit_append).
 * Events form one hash chain per organization and one for the instance:
 *   hash = lower-hex SHA-256(prev_hash || canonical JSON of the event)
 * where the event is the object exactly as exported, without "hash":
 *   {"action","actor":{"id","type"},"created_at","data","id","ip","org_id",
 *    "prev_hash","request_id","seq","target":{"id","type"}|null,"user_agent"}
 * serialized per RFC 8785 (keys sorted, no whitespace, UTF-8 unescaped, only
 * '"', '\\' and control characters escaped, integers only). The first
 * event's prev_hash is 64 zeros. Thread-safe. */
#ifndef PL_AUDIT_H
#define PL_AUDIT_H

#include <jansson.h>

#include "core/ctx.h"
#include "core/module.h"
#include "db/db.h"

#define PL_AUDIT_INSTANCE "instance"

/* Appends an event inside the caller's open write transaction (or one it
 * opens) and publishes it to the event outbox's subscribers in the same
 * transaction (platform/events). org_id NULL writes to the instance chain.
 * The actor, IP, user agent and request id come from ctx (NULL, or a
 * system context: a system event; a context without a user or key: an
 * anonymous actor, e.g. a failed sign-in). target_type and target_id may be
 * NULL. data is borrowed (NULL: {}); it must hold no secrets. Concurrent
 * appends to one chain are serialised (the chain head is locked), so the
 * chain never forks. */
int pl_audit_append(pl_db_t *db, pl_ctx_t *ctx, const char *org_id, const char *action,
                    const char *target_type, const char *target_id, json_t *data);

/* The canonical (RFC 8785) serialization of v into b: for the values events
 * hold (objects, arrays, strings, integers, booleans, null). */
int pl_audit_canonical(json_t *v, pl_buf_t *b);

/* Verifies one chain: PL_OK and *valid true (with *events and head) when
 * every link and the head hold; *valid false and *first_bad the first bad
 * seq otherwise. head must have room for 65 bytes. */
int pl_audit_verify_chain(pl_db_t *db, const char *chain, bool *valid, int64_t *events,
                          int64_t *first_bad, char head[65]);

/* A page of one chain's events, newest first: events with seq below before
 * (0: from the newest) matching the filters ("" or NULL: any; since/until
 * inclusive, 0 and INT64_MAX for none). subject, when set, keeps the events
 * whose actor or target is that id (a user's security events). */
typedef struct {
    const char *chain; /* org id or PL_AUDIT_INSTANCE */
    int64_t before;
    int limit;
    const char *action, *actor_id, *target_id, *subject;
    int64_t since, until;
} pl_audit_query_t;

/* Fills *list with up to q->limit event objects (as exported, with hash)
 * and *next with the cursor of the next page (0: none). Runs in the
 * caller's transaction, if any; the caller set the tenant context. */
int pl_audit_page(pl_db_t *db, const pl_audit_query_t *q, json_t **list, int64_t *next);

/* A streamed export of a chain, oldest first: jsonl (canonical JSON, one
 * event per line) or csv. Each read opens its own short read transaction,
 * so the stream can outlive the request's transaction. */
typedef struct pl_audit_export pl_audit_export_t;
pl_audit_export_t *pl_audit_export_open(const char *chain, bool csv);
/* Fills out with up to max bytes; returns the count, 0 at the end, -1 on a
 * database error. */
long pl_audit_export_read(pl_audit_export_t *x, char *out, size_t max);
void pl_audit_export_free(pl_audit_export_t *x);

/* The descriptor of the audit platform module: the retention job and
 * `plinth audit verify`. */
extern const pl_module_t pl_audit_module;

#endif
