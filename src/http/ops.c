/* ops.c - the operations module: /healthz, /readyz, /metrics and
 * /v1/openapi.yaml, and the error codes of the HTTP core. */
#include <string.h>

#include "core/config.h"
#include "core/crypto.h"
#include "core/metrics.h"
#include "core/module.h"
#include "db/db.h"
#include "db/embedded.h"
#include "platform/jobs/jobs.h"
#include "web/web.h"

static const char healthz_body[] = "{\"status\":\"ok\"}";

static int ops_healthz(pl_req_t *req)
{
    return pl_resp_body(req, 200, "application/json", healthz_body, sizeof(healthz_body) - 1, true);
}

static int ops_readyz(pl_req_t *req)
{
    const char *database = "ok", *migrations = "ok", *jobs = "ok";
    pl_db_t *db = pl_db_thread();
    double waited = 0;
    if (!db || !pl_db_ping(db)) {
        database = "unreachable";
        migrations = jobs = "unknown";
        pl_db_thread_close(); /* reconnect on the next request */
    } else if (pl_db_migrations_current(db) != PL_OK) {
        migrations = "pending";
        jobs = "unknown";
    } else if (!pl_db_can_commit(db)) {
        database = "cannot_commit"; /* full disk, read-only file or server */
        jobs = "unknown";
    } else if (pl_jobs_oldest_queued_seconds(db, &waited) != PL_OK) {
        jobs = "unavailable"; /* the queue cannot be read */
    } else if (waited > pl_jobs_stall_seconds) {
        jobs = "stalled"; /* no worker takes due jobs */
    }
    bool ok = !strcmp(database, "ok") && !strcmp(migrations, "ok") && !strcmp(jobs, "ok");
    json_t *checks =
        json_pack("{s:s, s:s, s:s}", "database", database, "migrations", migrations, "jobs", jobs);
    return pl_resp_json(
        req, ok ? 200 : 503,
        json_pack("{s:s, s:o}", "status", ok ? "ok" : "unavailable", "checks", checks));
}

/* With PLINTH_METRICS_TOKEN set, /metrics answers only its bearer. The
 * digests are compared, so the comparison takes the same time whatever the
 * lengths. */
static bool metrics_allowed(pl_req_t *req)
{
    if (!pl_cfg.metrics_token[0])
        return true;
    pl_str_t tok;
    if (pl_header_bearer(pl_req_header(req, "Authorization"), &tok) != PL_OK)
        return false;
    unsigned char want[32], got[32];
    pl_sha256(pl_cfg.metrics_token, strlen(pl_cfg.metrics_token), want);
    pl_sha256(tok.ptr, tok.len, got);
    return pl_ct_equal(want, got, sizeof(want));
}

static int ops_metrics(pl_req_t *req)
{
    if (!metrics_allowed(req)) {
        pl_resp_header(req, "WWW-Authenticate", "Bearer");
        return pl_req_fail(req, 401, "unauthenticated", "The metrics need their bearer token.");
    }
    pl_buf_t b;
    pl_buf_init(&b, 16 * 1024 * 1024);
    int rc = pl_metrics_render(&b);
    if (rc == PL_OK)
        pl_resp_body(req, 200, "text/plain; version=0.0.4; charset=utf-8", b.ptr, b.len, false);
    pl_buf_free(&b);
    return rc;
}

static int ops_openapi(pl_req_t *req)
{
    return pl_resp_body(req, 200, "application/yaml", pl_openapi_yaml, pl_openapi_yaml_len, true);
}

static pl_route_t routes[] = {
    {PL_M_GET, "/healthz", ops_healthz, PL_AUTH_NONE, NULL, PL_ROUTE_OPS},
    {PL_M_GET, "/readyz", ops_readyz, PL_AUTH_NONE, NULL, PL_ROUTE_OPS},
    {PL_M_GET, "/metrics", ops_metrics, PL_AUTH_NONE, NULL, PL_ROUTE_OPS | PL_ROUTE_PRIVATE},
    {PL_M_GET, "/v1/openapi.yaml", ops_openapi, PL_AUTH_NONE, NULL, 0},
    {0},
};

/* The codes any route may answer with (API.md "Conventions"). */
static const pl_error_def_t errors[] = {
    {"invalid_json", "Invalid JSON"},
    {"bad_request", "Bad request"},
    {"unauthenticated", "Authentication required"},
    {"forbidden", "Forbidden"},
    {"not_found", "Not found"},
    {"method_not_allowed", "Method not allowed"},
    {"conflict", "Conflict"},
    {"precondition_failed", "Precondition failed"},
    {"payload_too_large", "Payload too large"},
    {"unsupported_media_type", "Unsupported media type"},
    {"uri_too_long", "URI too long"},
    {"header_fields_too_large", "Request header fields too large"},
    {"validation_failed", "Validation failed"},
    {"rate_limited", "Too many requests"},
    {"internal", "Internal error"},
    {"unavailable", "Service unavailable"},
    {"insufficient_storage", "Insufficient storage"},
    {0},
};

const pl_module_t pl_ops_module = {
    .name = "ops",
    .routes = routes,
    .errors = errors,
};
