/* apikeys.h - org-scoped API keys: the service API.
 *
 * A key is "plk_" and 32 random bytes in base62, stored as SHA-256 with a
 * short visible prefix. A request with a key acts inside the key's org with
 * exactly the key's permissions and its creator's level at creation.
 *
 * Functions take the calling thread's connection and the acting context
 * (the caller in ctx->principal, the acting org and role in ctx->tenant).
 * Refusals are recorded on ctx and returned as negative PL_E* codes;
 * database errors are returned as is. Structs filled for the caller point
 * into ctx->arena. Thread-safe. */
#ifndef PL_APIKEYS_H
#define PL_APIKEYS_H

#include "core/ctx.h"
#include "db/db.h"

#define PL_APIKEY_PREFIX "plk_"
#define PL_APIKEY_LEN    47 /* "plk_" and 43 base62 characters */

typedef struct {
    const char *id, *org_id, *name;
    const char *prefix;     /* "plk_" and the first 8 characters: shown, never secret */
    const char *created_by; /* user id; NULL when another key or the system made it */
    pl_perms_t perms;
    int level;                                                /* the creator's at creation */
    int64_t expires_at, last_used_at, revoked_at, created_at; /* 0: none */
} pl_apikey_t;

/* A page of keys, newest first; in ctx->arena. */
typedef struct {
    const pl_apikey_t *items;
    int n;
    const char *next_cursor; /* NULL on the last page */
} pl_apikey_page_t;

/* True when token (len bytes) has the shape of an API key ("plk_..."). Pure. */
bool pl_apikeys_is_key(const char *token, size_t len);

/* Authenticates an API key (token, len bytes) on a route under
 * /v1/orgs/{org_ref}: the key must be live (else 401 invalid_token or
 * token_expired), org_ref must name its org (else 404), and perm_bit (-1:
 * none) must be among its permissions (else 403). Fills ctx->principal and
 * ctx->tenant and sets the transaction's org context, in the caller's
 * transaction (the request's scope). *touch tells that the key's last use
 * should be recorded (pl_apikeys_touch, after the request's snapshot). */
int pl_apikeys_authenticate(pl_db_t *db, pl_ctx_t *ctx, const char *token, size_t len,
                            const char *org_ref, int perm_bit, bool *touch);

/* Records that key_id of org_id was used now, in its own transaction;
 * failures are ignored (bookkeeping). */
void pl_apikeys_touch(pl_db_t *db, const char *org_id, const char *key_id);

/* Creates a key in the acting org with the caller's level and perms, which
 * must be a subset of the caller's (403 forbidden); expires_at is 0 or a
 * future time (422 on field "expires_at" otherwise); 402
 * plan_limit_reached when the plan's api_keys are all live. out gets the key's
 * record and secret the key itself (PL_APIKEY_LEN + 1 bytes), which is
 * shown once and never stored: the caller wipes it (pl_memzero). */
int pl_apikeys_create(pl_db_t *db, pl_ctx_t *ctx, const char *name, const pl_perms_t *perms,
                      int64_t expires_at, pl_apikey_t *out, char secret[PL_APIKEY_LEN + 1]);

/* The acting org's live keys, newest first, before cursor (a key id). */
int pl_apikeys_list(pl_db_t *db, pl_ctx_t *ctx, const char *cursor, int limit,
                    pl_apikey_page_t *out);

/* Revokes a key of the acting org; it stops working at once. 404
 * not_found for an unknown or already revoked key. */
int pl_apikeys_revoke(pl_db_t *db, pl_ctx_t *ctx, const char *id);

/* Revokes every live key of org_id that user_id created, inside the
 * caller's write transaction, each audited as apikey.revoked with the
 * reason ("creator_left", "creator_removed"): a key never outlives its
 * creator's membership. PL_OK or a db error. */
int pl_apikeys_revoke_created_by(pl_db_t *db, pl_ctx_t *ctx, const char *org_id,
                                 const char *user_id, const char *reason);

/* The live keys of org_id at now (neither revoked nor expired): the plan
 * limit "api_keys". In the caller's transaction. */
int pl_apikeys_count_live(pl_db_t *db, const char *org_id, int64_t now, int64_t *out);

#endif
