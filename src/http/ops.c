/* ops.c - /healthz, /readyz, /metrics and /v1/openapi.yaml. */
#include <string.h>

#include "db/db.h"
#include "db/embedded.h"
#include "http/metrics.h"
#include "http/ops.h"
#include "jobs/jobs.h"

static const char healthz_body[] = "{\"status\":\"ok\"}";

int pl_ops_healthz(pl_req_t *req)
{
    return pl_resp_body(req, 200, "application/json", healthz_body, sizeof(healthz_body) - 1, true);
}

int pl_ops_readyz(pl_req_t *req)
{
    const char *database = "ok", *migrations = "ok", *jobs = "ok";
    pl_db_t *db = pl_db_thread();
    int64_t queued;
    if (!db || !pl_db_ping(db)) {
        database = "unreachable";
        migrations = jobs = "unknown";
        pl_db_thread_close(); /* reconnect on the next request */
    } else if (pl_db_migrations_current(db) != PL_OK) {
        migrations = "pending";
        jobs = "unknown";
    } else if (pl_jobs_count(db, "queued", &queued) != PL_OK) {
        jobs = "unavailable"; /* the queue cannot be read */
    }
    bool ok = !strcmp(database, "ok") && !strcmp(migrations, "ok") && !strcmp(jobs, "ok");
    json_t *checks =
        json_pack("{s:s, s:s, s:s}", "database", database, "migrations", migrations, "jobs", jobs);
    return pl_resp_json(
        req, ok ? 200 : 503,
        json_pack("{s:s, s:o}", "status", ok ? "ok" : "unavailable", "checks", checks));
}

int pl_ops_metrics(pl_req_t *req)
{
    pl_buf_t b;
    pl_buf_init(&b, 16 * 1024 * 1024);
    int rc = pl_metrics_render(&b);
    if (rc == PL_OK)
        pl_resp_body(req, 200, "text/plain; version=0.0.4; charset=utf-8", b.ptr, b.len, false);
    pl_buf_free(&b);
    return rc;
}

int pl_ops_openapi(pl_req_t *req)
{
    return pl_resp_body(req, 200, "application/yaml", pl_openapi_yaml, pl_openapi_yaml_len, true);
}
