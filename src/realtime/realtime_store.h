/* realtime_store.h - the SQL of realtime: events read back from the audit
 * log, stream tickets, and the checks that keep a stream's caller current
 * (session, membership and role, API key). Thread-safe; each function runs
 * in the caller's transaction. */
#ifndef PL_REALTIME_STORE_H
#define PL_REALTIME_STORE_H

#include "core/core.h"
#include "core/perms.h"
#include "db/db.h"

/* An audit event as streams show it; strings live in the arena given. */
typedef struct {
    int64_t seq, created_at;
    const char *id, *org_id, *action, *actor_type, *actor_id, *target_type, *target_id;
    const char *request_id;
    const char *data; /* canonical JSON text */
} pl_rt_event_t;

/* The seq of the last event of chain (0: none yet). */
int pl_rt_store_head(pl_db_t *db, const char *chain, int64_t *seq);

/* Events of chain with after < seq <= upto, oldest first, at most max;
 * *n gets their count. */
int pl_rt_store_events(pl_db_t *db, pl_arena_t *a, const char *chain, int64_t after, int64_t upto,
                       int max, pl_rt_event_t *out, int *n);
/* Events of chain with seq < before (0: any) and created_at >= since,
 * newest first, at most max. */
int pl_rt_store_events_desc(pl_db_t *db, pl_arena_t *a, const char *chain, int64_t before,
                            int64_t since, int max, pl_rt_event_t *out, int *n);

/* Tickets (token_hash: SHA-256 hex). */
typedef struct {
    const char *org_id, *user_id, *session_id, *api_key_id; /* NULL when absent */
} pl_rt_ticket_t;
int pl_rt_store_ticket_insert(pl_db_t *db, const char *hash, const pl_rt_ticket_t *t,
                              int64_t expires_at, int64_t now);
/* Spends the ticket: PL_ENOTFOUND when unknown, spent or expired. */
int pl_rt_store_ticket_spend(pl_db_t *db, pl_arena_t *a, const char *hash, int64_t now,
                             pl_rt_ticket_t *out);
/* Deletes the tickets of org_id (NULL: of user_id's own stream) that
 * expired before cutoff. */
int pl_rt_store_ticket_purge(pl_db_t *db, const char *org_id, const char *user_id, int64_t cutoff);

/* True (1) when the session is live and its user (user_id) enabled, 0 when
 * not, or an error. */
int pl_rt_store_session_live(pl_db_t *db, const char *session_id, const char *user_id, int64_t now);
/* The member's role in org: its key (arena), and for a custom role its level
 * and permission text (NULL for a built-in role). PL_ENOTFOUND when not a
 * member. Runs with the org's context set. */
int pl_rt_store_member_role(pl_db_t *db, pl_arena_t *a, const char *org_id, const char *user_id,
                            const char **role, int *level, const char **perms);
/* A live (unrevoked) API key of org: level, permission text, expiry (0:
 * none). PL_ENOTFOUND otherwise. */
int pl_rt_store_key(pl_db_t *db, pl_arena_t *a, const char *org_id, const char *key_id, int *level,
                    const char **perms, int64_t *expires_at);
/* The id of the organization ref names (its id or its slug) into out. */
int pl_rt_store_org_id(pl_db_t *db, const char *ref, char out[37]);

#endif
