/* dispatch.c - the steps between a matched route and its handler:
 * authenticate (access token or API key, or for the routes that browsers'
 * EventSource calls a single-use ?ticket=) -> resolve the tenant ->
 * authorize -> the modules' tenant hooks -> handler, inside the request's
 * database scope. The rules live in the services (auth, apikeys, orgs,
 * rbac), the ticket's module and the hooks' modules; this file only orders
 * them and turns their answers into HTTP. */
#include <string.h>
#include <strings.h>

#include "apikeys/apikeys.h"
#include "auth/auth.h"
#include "http/dispatch.h"
#include "modules.h"
#include "orgs/orgs.h"

static int unauthenticated(pl_req_t *req, const char *code, const char *detail)
{
    pl_resp_header(req, "WWW-Authenticate", "Bearer");
    return pl_req_fail(req, 401, code, detail);
}

static void touch_session(pl_req_t *req, void *arg)
{
    PL_UNUSED(arg);
    pl_db_t *db = pl_db_thread();
    if (db)
        pl_auth_touch_session(db, req->ctx.principal.session_id);
}

static void touch_key(pl_req_t *req, void *arg)
{
    PL_UNUSED(arg);
    pl_db_t *db = pl_db_thread();
    if (db)
        pl_apikeys_touch(db, req->ctx.tenant.org_id, req->ctx.principal.api_key_id);
}

/* An org route's authorization asked for with the session check. */
static void prefetch_org(pl_db_t *db, const char *user_id, void *org_ref)
{
    pl_orgs_prefetch(db, org_ref, user_id);
}

/* Records WWW-Authenticate on a 401 a service answered. */
static int answer(pl_req_t *req, int rc)
{
    if (rc && req->ctx.err.status == 401)
        pl_resp_header(req, "WWW-Authenticate", "Bearer");
    return rc;
}

/* The modules' tenant hooks (per-organization rate limits), in module
 * order, once the request is authorized inside its organization. The list
 * is read-only after start; a module without a hook costs one test. */
static int tenant_resolved(pl_req_t *req, pl_db_t *db)
{
    req->ctx.tenant.route = req->route ? req->route->path : NULL;
    req->ctx.tenant.route_method_delete = req->method == PL_M_DELETE;
    req->ctx.tenant.route_user = pl_req_param(req, "user");
    for (const pl_module_t *const *m = pl_modules; *m; m++) {
        int rc = (*m)->on_tenant ? (*m)->on_tenant(db, &req->ctx) : PL_OK;
        if (rc)
            return rc;
    }
    return PL_OK;
}

/* The route's auth and permission, for a principal a ticket authenticated. */
static int authorize_ticket(pl_req_t *req, pl_db_t *db, const char *ticket)
{
    const pl_route_t *route = req->route;
    int rc = route->ticket(req, ticket);
    if (rc)
        return answer(req, rc);
    if (req->ctx.principal.api_key_id[0]) /* the ticket resolved the key's org */
        return route->auth == PL_AUTH_ORG
                   ? tenant_resolved(req, db)
                   : unauthenticated(req, "unauthenticated", "API keys cannot call this route.");
    if (route->auth == PL_AUTH_ADMIN && !req->ctx.principal.is_admin)
        return pl_req_fail(req, 403, "forbidden", "Only instance admins may do this.");
    if (route->auth == PL_AUTH_ORG) {
        rc = pl_orgs_resolve(db, &req->ctx, pl_req_param(req, "org"), route->perm_bit);
        return rc ? rc : tenant_resolved(req, db);
    }
    return PL_OK;
}

int pl_dispatch_authorize(pl_req_t *req, pl_db_t *db)
{
    const pl_route_t *route = req->route;
    const char *h = pl_req_header(req, "Authorization");
    if ((!h || !*h) && route->ticket) {
        const char *ticket = pl_req_query(req, "ticket");
        if (ticket && *ticket)
            return authorize_ticket(req, db, ticket);
    }
    pl_str_t bearer;
    int found = pl_header_bearer(h, &bearer);
    if (found == PL_ENOTFOUND)
        return unauthenticated(req, "unauthenticated", "Send an access token as Bearer.");
    if (found != PL_OK)
        return unauthenticated(req, "invalid_token", "Use the Bearer scheme.");
    const char *tok = bearer.ptr;
    size_t len = bearer.len;
    bool touch = false;
    int rc;
    if (pl_apikeys_is_key(tok, len)) {
        /* keys act only inside their organization's routes */
        if (route->auth != PL_AUTH_ORG)
            return unauthenticated(req, "unauthenticated", "API keys cannot call this route.");
        rc = pl_apikeys_authenticate(db, &req->ctx, tok, len, pl_req_param(req, "org"),
                                     route->perm_bit, &touch);
        if (touch && req->ctx.principal.api_key_id[0])
            pl_req_defer(req, touch_key, NULL);
        return rc ? answer(req, rc) : tenant_resolved(req, db);
    }
    bool org = route->auth == PL_AUTH_ORG;
    const char *org_ref = org ? pl_req_param(req, "org") : NULL;
    if ((rc = pl_auth_authenticate(db, &req->ctx, tok, len, &touch, org_ref,
                                   org ? prefetch_org : NULL, (void *)org_ref)))
        return answer(req, rc);
    if (touch)
        pl_req_defer(req, touch_session, NULL);
    if (route->auth == PL_AUTH_ADMIN && !req->ctx.principal.is_admin)
        return pl_req_fail(req, 403, "forbidden", "Only instance admins may do this.");
    if (route->auth == PL_AUTH_ADMIN && (route->flags & PL_ROUTE_ADMIN_ORG))
        return pl_orgs_admin_enter(db, &req->ctx, pl_req_param(req, "org"));
    if (route->auth == PL_AUTH_ORG) {
        rc = pl_orgs_resolve(db, &req->ctx, pl_req_param(req, "org"), route->perm_bit);
        return rc ? rc : tenant_resolved(req, db);
    }
    return PL_OK;
}
