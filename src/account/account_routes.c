/* account_routes.c - GET /v1/me/export and DELETE /v1/me; the module's
 * descriptor. */
#include "account/account.h"
#include "auth/auth.h"
#include "web/web.h"

static int export_data(pl_req_t *req)
{
    PL_DB_THREAD(db);
    json_t *out = NULL;
    int rc = pl_account_export(db, &req->ctx, &out);
    return rc ? rc : pl_resp_json(req, 200, out);
}

static int delete_account(pl_req_t *req)
{
    const char *password = NULL, *code = NULL;
    /* optional here: accounts without a password confirm with a recent
     * sign-in; the others are told it is required (pl_auth_confirm) */
    pl_json_get_string(req, "password", false, 1, PL_AUTH_PASSWORD_INPUT_MAX, &password);
    pl_json_get_string(req, "code", false, 1, PL_AUTH_CODE_INPUT_MAX, &code);
    if (pl_req_validated(req))
        return PL_EINVAL;
    PL_DB_THREAD(db);
    int rc = pl_account_delete(db, &req->ctx, password, code);
    return rc ? rc : pl_resp_status(req, 204);
}

static pl_route_t routes[] = {
    /* an audited read (user.data_exported): outside the read-only snapshot */
    {PL_M_GET, "/v1/me/export", export_data, PL_AUTH_USER, NULL, PL_ROUTE_WRITE},
    {PL_M_DELETE, "/v1/me", delete_account, PL_AUTH_USER, NULL, PL_ROUTE_JSON},
    {0},
};

const pl_module_t pl_account_module = {
    .name = "account",
    .routes = routes,
};
