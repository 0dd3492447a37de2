/* realtime_routes.c - the organization's event stream, its tickets and the
 * activity feed over HTTP, and the module's descriptor. */
#include <stdio.h>
#include <string.h>

#define PL_REALTIME_INTERNAL
#include "realtime/realtime.h"
#include "web/web.h"

/* Content type of every stream. */
#define EVENT_STREAM "text/event-stream"

static int ticket_response(pl_req_t *req, bool org)
{
    PL_DB_THREAD(db);
    char token[64];
    int rc = pl_realtime_ticket_issue(db, &req->ctx, org, token);
    if (rc)
        return rc;
    return pl_resp_json(req, 201,
                        json_pack("{s:s, s:i}", "ticket", token, "expires_in", PL_TICKET_TTL_S));
}

/* POST /v1/orgs/{org}/events/ticket */
static int org_ticket(pl_req_t *req)
{
    return ticket_response(req, true);
}

/* The route's ?ticket= (dispatch calls it when no bearer token came). */
static int redeem_org_ticket(pl_req_t *req, const char *ticket)
{
    PL_DB_THREAD(db);
    return pl_realtime_ticket_redeem(db, &req->ctx, ticket, pl_req_param(req, "org"));
}

/* Where a client resumes: the Last-Event-ID header (EventSource sends it
 * when it reconnects), else ?last_event_id=. */
static const char *last_event_id(pl_req_t *req)
{
    const char *last = pl_req_header(req, "Last-Event-ID");
    if (!last || !*last)
        last = pl_req_query(req, "last_event_id");
    return last;
}

static int respond_stream(pl_req_t *req, pl_feed_t *feed)
{
    pl_resp_feed(req, 200, EVENT_STREAM, feed);
    pl_feed_release(feed);                          /* the response holds its own reference */
    pl_resp_header(req, "X-Accel-Buffering", "no"); /* proxies must not buffer it */
    return PL_OK;
}

/* GET /v1/orgs/{org}/events/stream?types= */
static int org_stream(pl_req_t *req)
{
    pl_types_t types;
    if (pl_types_parse(&req->ctx, pl_req_query(req, "types"), &types))
        return PL_EINVAL;
    PL_DB_THREAD(db);
    pl_feed_t *feed;
    int rc = pl_realtime_open_org(db, &req->ctx, &types, last_event_id(req), &feed);
    return rc ? rc : respond_stream(req, feed);
}

/* GET /v1/orgs/{org}/activity?types=&since=&cursor=&limit= */
static int activity(pl_req_t *req)
{
    pl_types_t types;
    if (pl_types_parse(&req->ctx, pl_req_query(req, "types"), &types))
        return PL_EINVAL;
    int64_t since = 0, before = 0;
    const char *v = pl_req_query(req, "since");
    if (v && (strlen(v) > 40 || pl_time_parse(v, &since)))
        return pl_req_fail(req, 400, "bad_request", "since must be an RFC 3339 UTC time.");
    int limit;
    const char *cursor;
    int rc = pl_req_page(req, &limit, &cursor);
    if (rc)
        return rc;
    if (cursor && pl_parse_int64(cursor, 1, INT64_MAX, &before))
        return pl_req_fail(req, 400, "bad_request", "cursor is malformed.");
    PL_DB_THREAD(db);
    pl_buf_t b;
    pl_buf_init(&b, 64 * 1024 * 1024);
    rc = pl_realtime_activity(db, &req->ctx, &types, since, before, limit, &b);
    if (!rc)
        rc = pl_resp_json_buf(req, 200, &b);
    pl_buf_free(&b);
    return rc;
}

static pl_route_t routes[] = {
    {PL_M_POST, "/v1/orgs/{org}/events/ticket", org_ticket, PL_AUTH_ORG, NULL, 0},
    {PL_M_GET, "/v1/orgs/{org}/events/stream", org_stream, PL_AUTH_ORG, NULL, 0,
     .ticket = redeem_org_ticket},
    {PL_M_GET, "/v1/orgs/{org}/activity", activity, PL_AUTH_ORG, NULL, 0},
    {0},
};

static const pl_option_t options[] = {
    {"max-streams", "PLINTH_MAX_STREAMS", PL_OPT_INT, &pl_realtime_max_streams, 0, 1, 1000000,
     PL_OPT_SERVE, "N",
     "event streams open at once on this instance; more answer 503 (default 10000)", NULL},
    {"sse-heartbeat", "PLINTH_SSE_HEARTBEAT", PL_OPT_INT, &pl_realtime_heartbeat_s, 0, 1, 3600,
     PL_OPT_SERVE, "SECONDS", "keep-alive comment interval on event streams (default 15)", NULL},
    {0},
};

const pl_module_t pl_realtime_module = {
    .name = "realtime",
    .routes = routes,
    .options = options,
    .init = pl_realtime_init,
    .start = pl_realtime_start,
    .stop = pl_realtime_stop,
};
