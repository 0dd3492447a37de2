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

#include "db/db.h"
#include "http/http.h"

#define PL_AUDIT_INSTANCE "instance"

/* Appends an event inside the caller's open write transaction (or one it
 * opens). org_id NULL writes to the instance chain. The actor, IP, user
 * agent and request id come from req (NULL: a system event). target_type and
 * target_id may be NULL. data is borrowed (NULL: {}); it must hold no
 * secrets. Concurrent appends to one chain are serialised (the chain head is
 * locked), so the chain never forks. */
int pl_audit_append(pl_db_t *db, pl_req_t *req, const char *org_id, const char *action,
                    const char *target_type, const char *target_id, json_t *data);

/* The canonical (RFC 8785) serialization of v into b: for the values events
 * hold (objects, arrays, strings, integers, booleans, null). */
int pl_audit_canonical(json_t *v, pl_buf_t *b);

/* Verifies one chain: PL_OK and *valid true (with *events and head) when
 * every link and the head hold; *valid false and *first_bad the first bad
 * seq otherwise. head must have room for 65 bytes. */
int pl_audit_verify_chain(pl_db_t *db, const char *chain, bool *valid, int64_t *events,
                          int64_t *first_bad, char head[65]);

/* `plinth audit verify [--org ID]`: checks every chain (or one); prints each
 * result. Returns the exit code: 0 all valid, 1 one is not, 2 on errors. */
int pl_audit_verify_cli(pl_db_t *db, const char *org_id);

/* Registers the retention job (prunes whole prefixes older than
 * --audit-retention-days, keeping an anchor); no-op when retention is 0. */
void pl_audit_register_jobs(void);

/* Routes. */
int pl_audit_list(pl_req_t *req);
int pl_audit_export(pl_req_t *req);
int pl_audit_verify(pl_req_t *req);
int pl_audit_security_events(pl_req_t *req);

#endif
