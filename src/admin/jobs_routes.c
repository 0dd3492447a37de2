/* jobs_routes.c - the instance-admin view of the job queue, over the jobs
 * platform service (platform/jobs), and of recent emails (platform/mail). */
#include <string.h>

#include "admin/admin_routes.h"
#include "core/jsonw.h"
#include "platform/jobs/jobs.h"
#include "platform/mail/mail.h"
#include "web/web.h"

static void write_job(pl_jw_t *w, const pl_job_t *j)
{
    pl_jw_object_open(w, NULL);
    pl_jw_string(w, "id", j->id);
    pl_jw_string(w, "kind", j->kind);
    pl_jw_string(w, "status", j->status);
    pl_jw_int(w, "attempts", j->attempts);
    pl_jw_int(w, "max_attempts", j->max_attempts);
    pl_jw_time(w, "run_at", j->run_at);
    pl_jw_string(w, "last_error", j->last_error);
    pl_jw_time(w, "created_at", j->created_at);
    pl_jw_time(w, "updated_at", j->updated_at);
    if (j->finished_at)
        pl_jw_time(w, "finished_at", j->finished_at);
    else
        pl_jw_string(w, "finished_at", NULL);
    pl_jw_object_close(w);
}

typedef struct {
    pl_jw_t *w;
    int count, limit;
    const char *last;
    pl_arena_t *arena; /* for a cursor that outlives its row */
} list_ctx_t;

static void add_job(void *ctx, const pl_job_t *j)
{
    list_ctx_t *c = ctx;
    if (++c->count > c->limit)
        return;
    write_job(c->w, j);
    c->last = j->id;
}

/* Writes {"data":[...],"next_cursor"} from what fill hands to the page's
 * list_ctx_t (limit + 1 rows asked for: the extra one says there is more). */
static int write_page(pl_req_t *req, int limit, int (*fill)(pl_db_t *db, list_ctx_t *lc, void *arg),
                      void *arg)
{
    PL_DB_THREAD(db);
    pl_buf_t b;
    pl_buf_init(&b, 16 * 1024 * 1024);
    pl_jw_t w;
    pl_jw_init(&w, &b);
    pl_jw_object_open(&w, NULL);
    pl_jw_array_open(&w, "data");
    list_ctx_t lc = {&w, 0, limit, NULL, req->ctx.arena};
    int rc = fill(db, &lc, arg);
    pl_jw_array_close(&w);
    pl_jw_string(&w, "next_cursor", lc.count > limit ? lc.last : NULL);
    pl_jw_object_close(&w);
    if (!rc)
        rc = w.err;
    if (!rc)
        rc = pl_resp_json_buf(req, 200, &b);
    pl_buf_free(&b);
    return rc;
}

typedef struct {
    const char *status, *cursor;
} jobs_query_t;

static int fill_jobs(pl_db_t *db, list_ctx_t *lc, void *arg)
{
    jobs_query_t *q = arg;
    return pl_jobs_list(db, lc->arena, q->status, q->cursor, lc->limit + 1, add_job, lc);
}

int pl_admin_jobs_list(pl_req_t *req)
{
    int limit;
    const char *cursor;
    int rc = pl_req_page(req, &limit, &cursor);
    if (rc)
        return rc;
    const char *status = pl_req_query(req, "status");
    if (status && strcmp(status, "queued") && strcmp(status, "running") && strcmp(status, "done") &&
        strcmp(status, "dead"))
        return pl_req_fail(req, 400, "bad_request",
                           "status must be one of queued, running, done, dead.");
    if (cursor && !pl_uuid_valid(cursor))
        return pl_req_fail(req, 400, "bad_request", "cursor is malformed.");
    jobs_query_t q = {status, cursor};
    return write_page(req, limit, fill_jobs, &q);
}

int pl_admin_jobs_retry(pl_req_t *req)
{
    const char *id = pl_req_param(req, "id");
    if (!pl_uuid_valid(id))
        return pl_req_fail(req, 404, "not_found", "No such job.");
    PL_DB_THREAD(db);
    pl_job_t j;
    int rc = pl_jobs_retry(db, &req->ctx, id, &j);
    if (rc)
        return rc;
    pl_buf_t b;
    pl_buf_init(&b, 64 * 1024);
    pl_jw_t w;
    pl_jw_init(&w, &b);
    write_job(&w, &j);
    rc = w.err ? w.err : pl_resp_json_buf(req, 200, &b);
    pl_buf_free(&b);
    return rc;
}

/* ---- recent emails (platform/mail's log) ---- */

static void add_message(void *ctx, const pl_mail_log_t *m)
{
    list_ctx_t *c = ctx;
    if (++c->count > c->limit)
        return;
    pl_jw_t *w = c->w;
    pl_jw_object_open(w, NULL);
    pl_jw_string(w, "id", m->job_id);
    pl_jw_string(w, "message_id", m->message_id);
    pl_jw_string(w, "template", m->template_name);
    pl_jw_string(w, "to", m->to_masked);
    pl_jw_string(w, "status", m->status);
    pl_jw_int(w, "attempts", m->attempts);
    pl_jw_string(w, "last_error", m->last_error);
    pl_jw_time(w, "created_at", m->created_at);
    if (m->sent_at)
        pl_jw_time(w, "sent_at", m->sent_at);
    else
        pl_jw_string(w, "sent_at", NULL);
    pl_jw_object_close(w);
    c->last = pl_arena_strdup(c->arena, m->job_id);
}

static int fill_emails(pl_db_t *db, list_ctx_t *lc, void *arg)
{
    return pl_mail_log_page(db, arg, lc->limit + 1, add_message, lc);
}

int pl_admin_emails_list(pl_req_t *req)
{
    int limit;
    const char *cursor;
    int rc = pl_req_page(req, &limit, &cursor);
    if (rc)
        return rc;
    if (cursor && !pl_uuid_valid(cursor))
        return pl_req_fail(req, 400, "bad_request", "cursor is malformed.");
    return write_page(req, limit, fill_emails, (void *)cursor);
}
