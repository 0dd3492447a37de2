/* apikeys.h - org-scoped API keys: "plk_" + 32 random bytes in base62,
 * stored as SHA-256 with a short visible prefix. A request with a key acts
 * inside the key's org with exactly the key's permissions. Thread-safe. */
#ifndef PL_APIKEYS_H
#define PL_APIKEYS_H

#include "web/web.h"

#define PL_APIKEY_PREFIX "plk_"

/* Authenticates a request that presented an API key (token, len bytes) on
 * a PL_AUTH_ORG route: the key must be live, {org} must be its org (else
 * 404), and route->perm must be among its permissions (else 403). Fills
 * req->ctx.principal and req->ctx.tenant. */
int pl_apikeys_authenticate(pl_req_t *req, const char *token, size_t len);

int pl_apikeys_create(pl_req_t *req);
int pl_apikeys_list(pl_req_t *req);
int pl_apikeys_revoke(pl_req_t *req);

#endif
