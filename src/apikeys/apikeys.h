/* apikeys.h - org-scoped API keys: "plk_" + 32 random bytes in base62,
 * stored as SHA-256 with a short visible prefix. A request with a key acts
 * inside the key's org with exactly the key's permissions. Thread-safe. */
#ifndef PL_APIKEYS_H
#define PL_APIKEYS_H

#include "core/ctx.h"
#include "db/db.h"
#include "web/web.h"

#define PL_APIKEY_PREFIX "plk_"

/* True when token (len bytes) has the shape of an API key ("plk_..."). */
bool pl_apikeys_is_key(const char *token, size_t len);

/* Authenticates an API key (token, len bytes) on a route under
 * /v1/orgs/{org_ref}: the key must be live (else 401 invalid_token or
 * token_expired), org_ref must name its org (else 404), and perm_bit (-1:
 * none) must be among its permissions (else 403). Fills ctx->principal and
 * ctx->tenant and sets the transaction's org context. *touch tells that the
 * key's last use should be recorded (pl_apikeys_touch, after the request's
 * snapshot). */
int pl_apikeys_authenticate(pl_db_t *db, pl_ctx_t *ctx, const char *token, size_t len,
                            const char *org_ref, int perm_bit, bool *touch);
void pl_apikeys_touch(pl_db_t *db, const char *org_id, const char *key_id);

int pl_apikeys_create(pl_req_t *req);
int pl_apikeys_list(pl_req_t *req);
int pl_apikeys_revoke(pl_req_t *req);

#endif
