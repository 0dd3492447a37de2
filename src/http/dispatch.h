/* dispatch.h - authentication and authorization of a matched route. */
#ifndef PL_DISPATCH_H
#define PL_DISPATCH_H

#include "db/db.h"
#include "web/web.h"

/* Authenticates the bearer token of req (access token or API key) and checks
 * route->auth and route->perm against it, inside the request's scope on db:
 * fills req->ctx.principal (and req->ctx.tenant on org routes). Records
 * 401/403/404 on req and returns an error when the request must not reach
 * the handler. */
int pl_dispatch_authorize(pl_req_t *req, pl_db_t *db);

#endif
