/* notifications_routes.c - the inbox, preferences and the user's own
 * stream over HTTP; the email templates; the module's descriptor. */
#include <string.h>

#define PL_NOTIFICATIONS_INTERNAL
#include "notifications/notifications.h"
#include "realtime/realtime.h"
#include "web/web.h"

/* GET /v1/me/notifications?unread=true */
static int list(pl_req_t *req)
{
    const char *unread = pl_req_query(req, "unread");
    if (unread && strcmp(unread, "true") && strcmp(unread, "false"))
        return pl_req_fail(req, 400, "bad_request", "unread must be true or false.");
    int limit;
    const char *cursor;
    int rc = pl_req_page_id(req, &limit, &cursor);
    if (rc)
        return rc;
    PL_DB_THREAD(db);
    pl_buf_t b;
    pl_buf_init(&b, 64 * 1024 * 1024);
    rc = pl_notifications_list(db, &req->ctx, unread && !strcmp(unread, "true"), cursor, limit, &b);
    if (!rc)
        rc = pl_resp_json_buf(req, 200, &b);
    pl_buf_free(&b);
    return rc;
}

/* GET /v1/me/notifications/unread-count */
static int unread_count(pl_req_t *req)
{
    PL_DB_THREAD(db);
    int64_t n;
    int rc = pl_notifications_unread_count(db, &req->ctx, &n);
    return rc ? rc : pl_resp_json(req, 200, json_pack("{s:I}", "count", (json_int_t)n));
}

/* POST /v1/me/notifications/{id}/read */
static int mark_read(pl_req_t *req)
{
    PL_DB_THREAD(db);
    int rc = pl_notifications_mark_read(db, &req->ctx, pl_req_param(req, "id"));
    return rc ? rc : pl_resp_status(req, 204);
}

/* POST /v1/me/notifications/read-all */
static int mark_all_read(pl_req_t *req)
{
    PL_DB_THREAD(db);
    int rc = pl_notifications_mark_all_read(db, &req->ctx);
    return rc ? rc : pl_resp_status(req, 204);
}

/* POST /v1/me/notifications/ticket */
static int ticket(pl_req_t *req)
{
    PL_DB_THREAD(db);
    char token[64];
    int rc = pl_realtime_ticket_issue(db, &req->ctx, false, token);
    if (rc)
        return rc;
    return pl_resp_json(req, 201,
                        json_pack("{s:s, s:i}", "ticket", token, "expires_in", PL_TICKET_TTL_S));
}

static int redeem_ticket(pl_req_t *req, const char *t)
{
    PL_DB_THREAD(db);
    return pl_realtime_ticket_redeem(db, &req->ctx, t, NULL);
}

/* GET /v1/me/notifications/stream */
static int stream(pl_req_t *req)
{
    const char *last = pl_req_header(req, "Last-Event-ID");
    if (!last || !*last)
        last = pl_req_query(req, "last_event_id");
    PL_DB_THREAD(db);
    pl_feed_t *feed;
    int rc = pl_realtime_open_user(db, &req->ctx, last, &feed);
    if (rc)
        return rc;
    pl_resp_feed(req, 200, "text/event-stream", feed);
    pl_feed_release(feed);
    pl_resp_header(req, "X-Accel-Buffering", "no");
    return PL_OK;
}

/* GET /v1/me/notification-preferences */
static int prefs_get(pl_req_t *req)
{
    PL_DB_THREAD(db);
    json_t *o;
    int rc = pl_notifications_prefs_get(db, &req->ctx, &o);
    return rc ? rc : pl_resp_json(req, 200, o);
}

/* PUT /v1/me/notification-preferences {"email": {...}} */
static int prefs_put(pl_req_t *req)
{
    PL_DB_THREAD(db);
    int rc = pl_notifications_prefs_set(db, &req->ctx, json_object_get(req->json, "email"));
    return rc ? rc : prefs_get(req);
}

static pl_route_t routes[] = {
    {PL_M_GET, "/v1/me/notifications", list, PL_AUTH_USER, NULL, 0},
    {PL_M_GET, "/v1/me/notifications/unread-count", unread_count, PL_AUTH_USER, NULL, 0},
    {PL_M_POST, "/v1/me/notifications/read-all", mark_all_read, PL_AUTH_USER, NULL, 0},
    {PL_M_POST, "/v1/me/notifications/{id}/read", mark_read, PL_AUTH_USER, NULL, 0},
    {PL_M_POST, "/v1/me/notifications/ticket", ticket, PL_AUTH_USER, NULL, 0},
    {PL_M_GET, "/v1/me/notifications/stream", stream, PL_AUTH_USER, NULL, 0,
     .ticket = redeem_ticket},
    {PL_M_GET, "/v1/me/notification-preferences", prefs_get, PL_AUTH_USER, NULL, 0},
    {PL_M_PUT, "/v1/me/notification-preferences", prefs_put, PL_AUTH_USER, NULL, PL_ROUTE_JSON},
    {0},
};

static const char *const notification_vars[] = {"title", "body", NULL};
static const char *const new_sign_in_vars[] = {"time", "ip", "network", "user_agent", NULL};

const pl_mail_template_def_t pl_notifications_templates[] = {
    {
        "notification",
        "{{title}}",
        "{{greeting}}\n\n"
        "{{body}}\n\n"
        "You get this email because email notifications of this kind are on. You can turn "
        "them off in your notification preferences.\n",
        "<p>{{greeting}}</p>\n"
        "<p>{{body}}</p>\n"
        "<p style=\"color: #666;\">You get this email because email notifications of this kind "
        "are on. You can turn them off in your notification preferences.</p>\n",
        notification_vars,
    },
    {
        "new_sign_in",
        "New sign-in to your account",
        "{{greeting}}\n\n"
        "Your account was just signed in to from a device it was not used on before:\n\n"
        "  When:    {{time}}\n"
        "  Device:  {{user_agent}}\n"
        "  Address: {{ip}} (network {{network}})\n\n"
        "If this was you, there is nothing to do. If it was not, change your password now and "
        "sign out your other sessions.\n",
        "<p>{{greeting}}</p>\n"
        "<p>Your account was just signed in to from a device it was not used on before:</p>\n"
        "<ul>\n<li>When: {{time}}</li>\n<li>Device: {{user_agent}}</li>\n"
        "<li>Address: {{ip}} (network {{network}})</li>\n</ul>\n"
        "<p>If this was you, there is nothing to do. If it was not, change your password now "
        "and sign out your other sessions.</p>\n",
        new_sign_in_vars,
    },
    {0},
};

static const pl_job_def_t jobs[] = {
    {"notifications.purge", pl_notifications_purge},
    {0},
};

static const pl_schedule_def_t schedules[] = {
    {"notifications.purge", "notifications.purge", 24LL * 3600 * 1000, NULL},
    {0},
};

const pl_module_t pl_notifications_module = {
    .name = "notifications",
    .routes = routes,
    .jobs = jobs,
    .schedules = schedules,
    .templates = pl_notifications_templates,
    .on_event = pl_notifications_on_event,
    .init = pl_notifications_init,
};
