/* webhooks_store.c - the SQL of webhook endpoints, deliveries and attempts.
 *
 * Rows belong to an organization (org_id) or to the instance (org_id NULL).
 * Every statement on them comes twice (BY_OWNER): [0] binds an
 * organization's id as $1, [1] selects the instance's rows and binds $1 to
 * '' so that both read their parameters the same way. */
#include <string.h>

#define PL_WEBHOOKS_INTERNAL
#include "webhooks/webhooks.h"

#define BY_OWNER(head, tail)                                                                       \
    {                                                                                              \
        head "org_id = $1" tail, head "org_id IS NULL AND $1 = ''" tail                            \
    }
#define OWNER_SQL(q, org) ((org) ? (q)[0] : (q)[1])

static bool is_pg(void)
{
    return pl_db_engine() == PL_DB_POSTGRES;
}

static pl_stmt_t *prepare_owned(pl_db_t *db, const char *const q[2], const char *org_id)
{
    pl_stmt_t *st = pl_db_prepare(db, OWNER_SQL(q, org_id));
    if (st)
        pl_stmt_bind_text(st, 1, org_id ? org_id : "");
    return st;
}

#define PREPARE_OWNED(st, db, q, org)                                                              \
    pl_stmt_t *st = prepare_owned((db), (q), (org));                                               \
    if (!st)                                                                                       \
        return PL_EDB;

static int done_rc(int rc)
{
    return rc < 0 ? rc : PL_OK;
}

static int64_t col_int_or_zero(pl_stmt_t *st, int col)
{
    return pl_stmt_col_is_null(st, col) ? 0 : pl_stmt_col_int64(st, col);
}

/* ---- endpoints ---- */

static const char sql_lock_owner[] = "SELECT pg_advisory_xact_lock(hashtext($1))";

int pl_webhooks_store_lock_owner(pl_db_t *db, const char *org_id)
{
    if (!is_pg())
        return PL_OK;
    PL_PREPARE(st, db, sql_lock_owner);
    char key[PL_ID_LEN + 16];
    snprintf(key, sizeof(key), "webhooks:%s", org_id ? org_id : "instance");
    pl_stmt_bind_text(st, 1, key);
    int rc = pl_stmt_step(st);
    return pl_stmt_list_done(st, rc);
}

static const char *const sql_count[2] =
    BY_OWNER("SELECT count(*) FROM webhook_endpoints WHERE ", "");

int pl_webhooks_store_count(pl_db_t *db, const char *org_id, int64_t *out)
{
    PREPARE_OWNED(st, db, sql_count, org_id);
    int rc = pl_stmt_step(st);
    *out = rc == 1 ? pl_stmt_col_int64(st, 0) : 0;
    return pl_stmt_list_done(st, rc);
}

static const char sql_insert[] =
    "INSERT INTO webhook_endpoints (id, org_id, url, events, description, enabled, "
    "disabled_reason, secret_sealed, created_at, updated_at) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)";

int pl_webhooks_store_insert(pl_db_t *db, const pl_webhook_row_t *r)
{
    PL_PREPARE(st, db, sql_insert);
    pl_stmt_bind_text(st, 1, r->w.id);
    pl_stmt_bind_text(st, 2, r->w.org_id);
    pl_stmt_bind_text(st, 3, r->w.url);
    pl_stmt_bind_text(st, 4, r->events_json);
    pl_stmt_bind_text(st, 5, r->w.description);
    pl_stmt_bind_bool(st, 6, r->w.enabled);
    pl_stmt_bind_text(st, 7, r->w.disabled_reason);
    pl_stmt_bind_text(st, 8, r->secret_sealed);
    pl_stmt_bind_int64(st, 9, r->w.created_at);
    return done_rc(pl_stmt_exec(st));
}

#define ENDPOINT_COLS                                                                              \
    "id, org_id, url, events, description, enabled, disabled_reason, secret_sealed, "              \
    "previous_secret_sealed, previous_secret_expires_at, failed_deliveries, created_at, "          \
    "updated_at, pump_until"

static void read_endpoint(pl_stmt_t *st, pl_arena_t *a, pl_webhook_row_t *r)
{
    memset(r, 0, sizeof(*r));
    r->w.id = pl_stmt_col_dup(st, a, 0);
    r->w.org_id = pl_stmt_col_dup(st, a, 1);
    r->w.url = pl_stmt_col_dup(st, a, 2);
    r->events_json = pl_stmt_col_dup(st, a, 3);
    r->w.description = pl_stmt_col_dup(st, a, 4);
    r->w.enabled = pl_stmt_col_bool(st, 5);
    r->w.disabled_reason = pl_stmt_col_dup(st, a, 6);
    r->secret_sealed = pl_stmt_col_dup(st, a, 7);
    r->previous_sealed = pl_stmt_col_dup(st, a, 8);
    r->previous_expires_at = col_int_or_zero(st, 9);
    r->failed_deliveries = (int)pl_stmt_col_int64(st, 10);
    r->w.created_at = pl_stmt_col_int64(st, 11);
    r->w.updated_at = pl_stmt_col_int64(st, 12);
    r->pump_until = col_int_or_zero(st, 13);
}

static const char *const sql_get[2] =
    BY_OWNER("SELECT " ENDPOINT_COLS " FROM webhook_endpoints WHERE ", " AND id = $2");
static const char *const sql_get_lock[2] = BY_OWNER(
    "SELECT " ENDPOINT_COLS " FROM webhook_endpoints WHERE ", " AND id = $2 FOR NO KEY UPDATE");
static const char *const sql_get_lock_all[2] =
    BY_OWNER("SELECT " ENDPOINT_COLS " FROM webhook_endpoints WHERE ", " AND id = $2 FOR UPDATE");

int pl_webhooks_store_get(pl_db_t *db, pl_arena_t *a, const char *org_id, const char *id, int lock,
                          pl_webhook_row_t *out)
{
    const char *const *q = !is_pg() || lock == PL_WEBHOOK_NO_LOCK ? sql_get
                           : lock == PL_WEBHOOK_LOCK              ? sql_get_lock
                                                                  : sql_get_lock_all;
    PREPARE_OWNED(st, db, q, org_id);
    pl_stmt_bind_text(st, 2, id);
    int rc = pl_stmt_step(st);
    if (rc == 1)
        read_endpoint(st, a, out);
    return pl_stmt_one_done(st, rc);
}

static const char *const sql_list[2] = BY_OWNER(
    "SELECT " ENDPOINT_COLS " FROM webhook_endpoints WHERE ", " AND id > $2 ORDER BY id LIMIT $3");

int pl_webhooks_store_list(pl_db_t *db, pl_arena_t *a, const char *org_id, const char *after,
                           int limit, void (*fn)(void *arg, const pl_webhook_row_t *r), void *arg)
{
    PREPARE_OWNED(st, db, sql_list, org_id);
    pl_stmt_bind_text(st, 2, after ? after : "");
    pl_stmt_bind_int64(st, 3, limit);
    int rc;
    while ((rc = pl_stmt_step(st)) == 1) {
        pl_webhook_row_t r;
        read_endpoint(st, a, &r);
        fn(arg, &r);
    }
    return pl_stmt_list_done(st, rc);
}

static const char *const sql_update[2] =
    BY_OWNER("UPDATE webhook_endpoints SET url = $3, events = $4, description = $5, "
             "enabled = $6, disabled_reason = $7, failed_deliveries = $8, updated_at = $9 WHERE ",
             " AND id = $2");

int pl_webhooks_store_update(pl_db_t *db, const pl_webhook_row_t *r, int64_t now)
{
    PREPARE_OWNED(st, db, sql_update, r->w.org_id);
    pl_stmt_bind_text(st, 2, r->w.id);
    pl_stmt_bind_text(st, 3, r->w.url);
    pl_stmt_bind_text(st, 4, r->events_json);
    pl_stmt_bind_text(st, 5, r->w.description);
    pl_stmt_bind_bool(st, 6, r->w.enabled);
    pl_stmt_bind_text(st, 7, r->w.disabled_reason);
    pl_stmt_bind_int64(st, 8, r->failed_deliveries);
    pl_stmt_bind_int64(st, 9, now);
    return pl_stmt_exec_found(st);
}

static const char *const sql_delete[2] =
    BY_OWNER("DELETE FROM webhook_endpoints WHERE ", " AND id = $2");

int pl_webhooks_store_delete(pl_db_t *db, const char *org_id, const char *id)
{
    PREPARE_OWNED(st, db, sql_delete, org_id);
    pl_stmt_bind_text(st, 2, id);
    return pl_stmt_exec_found(st);
}

static const char *const sql_set_secret[2] =
    BY_OWNER("UPDATE webhook_endpoints SET secret_sealed = $3, previous_secret_sealed = $4, "
             "previous_secret_expires_at = $5, updated_at = $6 WHERE ",
             " AND id = $2");

int pl_webhooks_store_set_secret(pl_db_t *db, const char *org_id, const char *id,
                                 const char *sealed, const char *previous_sealed,
                                 int64_t previous_expires_at, int64_t now)
{
    PREPARE_OWNED(st, db, sql_set_secret, org_id);
    pl_stmt_bind_text(st, 2, id);
    pl_stmt_bind_text(st, 3, sealed);
    pl_stmt_bind_text(st, 4, previous_sealed);
    if (previous_sealed)
        pl_stmt_bind_int64(st, 5, previous_expires_at);
    else
        pl_stmt_bind_null(st, 5);
    pl_stmt_bind_int64(st, 6, now);
    return pl_stmt_exec_found(st);
}

static const char *const sql_sealed[2] =
    BY_OWNER("SELECT id, secret_sealed, previous_secret_sealed FROM webhook_endpoints WHERE ",
             " ORDER BY id");

int pl_webhooks_store_sealed(pl_db_t *db, pl_arena_t *a, const char *org_id, pl_rows_t *out)
{
    PREPARE_OWNED(st, db, sql_sealed, org_id);
    int rc;
    while ((rc = pl_stmt_step(st)) == 1) {
        pl_webhook_sealed_t *r = pl_rows_add(out);
        if (!r)
            break;
        r->id = pl_stmt_col_dup(st, a, 0);
        r->secret_sealed = pl_stmt_col_dup(st, a, 1);
        r->previous_sealed = pl_stmt_col_dup(st, a, 2);
    }
    return pl_stmt_list_done(st, rc);
}

static const char *const sql_set_failures[2] =
    BY_OWNER("UPDATE webhook_endpoints SET failed_deliveries = $3 WHERE ", " AND id = $2");

int pl_webhooks_store_set_failures(pl_db_t *db, const char *org_id, const char *id, int failures)
{
    PREPARE_OWNED(st, db, sql_set_failures, org_id);
    pl_stmt_bind_text(st, 2, id);
    pl_stmt_bind_int64(st, 3, failures);
    return done_rc(pl_stmt_exec(st));
}

static const char *const sql_kick[2] =
    BY_OWNER("UPDATE webhook_endpoints SET pump_until = $3 WHERE ",
             " AND id = $2 AND (pump_until IS NULL OR pump_until < $4)");
static const char *const sql_kick_pg[2] = BY_OWNER(
    "UPDATE webhook_endpoints SET pump_until = $3 WHERE id = (SELECT id FROM webhook_endpoints "
    "WHERE ",
    " AND id = $2 AND (pump_until IS NULL OR pump_until < $4) FOR NO KEY UPDATE SKIP LOCKED)");

int pl_webhooks_store_kick(pl_db_t *db, const char *org_id, const char *id, int64_t now,
                           int64_t until)
{
    PREPARE_OWNED(st, db, is_pg() ? sql_kick_pg : sql_kick, org_id);
    pl_stmt_bind_text(st, 2, id);
    pl_stmt_bind_int64(st, 3, until);
    pl_stmt_bind_int64(st, 4, now);
    int rc = pl_stmt_exec(st);
    return rc < 0 ? rc : rc > 0 ? 1 : 0;
}

static const char *const sql_set_pump[2] =
    BY_OWNER("UPDATE webhook_endpoints SET pump_until = $3 WHERE ", " AND id = $2");

int pl_webhooks_store_set_pump(pl_db_t *db, const char *org_id, const char *id, int64_t until)
{
    PREPARE_OWNED(st, db, sql_set_pump, org_id);
    pl_stmt_bind_text(st, 2, id);
    if (until)
        pl_stmt_bind_int64(st, 3, until);
    else
        pl_stmt_bind_null(st, 3);
    return done_rc(pl_stmt_exec(st));
}

/* FOR KEY SHARE: an endpoint being deleted meanwhile is waited for and then
 * skipped, so the delivery inserted next never meets a vanished endpoint. */
static const char *const sql_subscribers[2] =
    BY_OWNER("SELECT id, events FROM webhook_endpoints WHERE ", " AND enabled = $2");
static const char *const sql_subscribers_pg[2] =
    BY_OWNER("SELECT id, events FROM webhook_endpoints WHERE ", " AND enabled = $2 FOR KEY SHARE");

int pl_webhooks_store_subscribers(pl_db_t *db, const char *org_id,
                                  void (*fn)(void *arg, const char *id, const char *events_json),
                                  void *arg)
{
    PREPARE_OWNED(st, db, is_pg() ? sql_subscribers_pg : sql_subscribers, org_id);
    pl_stmt_bind_bool(st, 2, true);
    int rc;
    while ((rc = pl_stmt_step(st)) == 1)
        fn(arg, pl_stmt_col_text(st, 0), pl_stmt_col_text(st, 1));
    return pl_stmt_list_done(st, rc);
}

/* ---- deliveries ---- */

static const char sql_delivery_insert[] =
    "INSERT INTO webhook_deliveries (id, org_id, endpoint_id, event_id, event_type, payload, "
    "is_test, status, attempt_count, next_attempt_at, created_at) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', 0, $8, $8)";

int pl_webhooks_store_delivery_insert(pl_db_t *db, const char *id, const char *org_id,
                                      const char *endpoint_id, const char *event_id,
                                      const char *event_type, const char *payload, bool is_test,
                                      int64_t now)
{
    PL_PREPARE(st, db, sql_delivery_insert);
    pl_stmt_bind_text(st, 1, id);
    pl_stmt_bind_text(st, 2, org_id);
    pl_stmt_bind_text(st, 3, endpoint_id);
    pl_stmt_bind_text(st, 4, event_id);
    pl_stmt_bind_text(st, 5, event_type);
    pl_stmt_bind_text(st, 6, payload);
    pl_stmt_bind_bool(st, 7, is_test);
    pl_stmt_bind_int64(st, 8, now);
    return done_rc(pl_stmt_exec(st));
}

#define DELIVERY_COLS                                                                              \
    "id, endpoint_id, event_id, event_type, status, attempt_count, next_attempt_at, "              \
    "last_response_status, last_error, created_at, completed_at"

static void read_delivery(pl_stmt_t *st, pl_arena_t *a, pl_webhook_delivery_t *d)
{
    memset(d, 0, sizeof(*d));
    d->id = pl_stmt_col_dup(st, a, 0);
    d->endpoint_id = pl_stmt_col_dup(st, a, 1);
    d->event_id = pl_stmt_col_dup(st, a, 2);
    d->event_type = pl_stmt_col_dup(st, a, 3);
    d->status = pl_stmt_col_dup(st, a, 4);
    d->attempt_count = (int)pl_stmt_col_int64(st, 5);
    d->next_attempt_at = col_int_or_zero(st, 6);
    d->last_response_status = (int)col_int_or_zero(st, 7);
    d->last_error = pl_stmt_col_dup(st, a, 8);
    d->created_at = pl_stmt_col_int64(st, 9);
    d->completed_at = col_int_or_zero(st, 10);
}

/* endpoint_id '' matches any endpoint of the owner (the job knows only the
 * delivery) */
static const char *const sql_delivery_get[2] =
    BY_OWNER("SELECT " DELIVERY_COLS ", org_id, is_test, lease_until, lease_owner, "
             "CASE WHEN $4 THEN payload ELSE '' END FROM webhook_deliveries WHERE ",
             " AND id = $2 AND ($3 = '' OR endpoint_id = $3)");

int pl_webhooks_store_delivery_get(pl_db_t *db, pl_arena_t *a, const char *org_id,
                                   const char *endpoint_id, const char *id, bool with_payload,
                                   pl_webhook_job_row_t *out)
{
    PREPARE_OWNED(st, db, sql_delivery_get, org_id);
    pl_stmt_bind_text(st, 2, id);
    pl_stmt_bind_text(st, 3, endpoint_id ? endpoint_id : "");
    pl_stmt_bind_bool(st, 4, with_payload);
    int rc = pl_stmt_step(st);
    if (rc == 1) {
        read_delivery(st, a, &out->d);
        out->org_id = pl_stmt_col_dup(st, a, 11);
        out->is_test = pl_stmt_col_bool(st, 12);
        out->lease_until = col_int_or_zero(st, 13);
        out->lease_owner = pl_stmt_col_dup(st, a, 14);
        out->d.payload = with_payload ? pl_stmt_col_dup(st, a, 15) : NULL;
    }
    return pl_stmt_one_done(st, rc);
}

static const char *const sql_delivery_list[2] =
    BY_OWNER("SELECT " DELIVERY_COLS " FROM webhook_deliveries WHERE ",
             " AND endpoint_id = $2 AND ($3 = '' OR status = $3) AND ($4 = '' OR id < $4) "
             "ORDER BY id DESC LIMIT $5");

int pl_webhooks_store_delivery_list(pl_db_t *db, pl_arena_t *a, const char *org_id,
                                    const char *endpoint_id, const char *status, const char *before,
                                    int limit,
                                    void (*fn)(void *arg, const pl_webhook_delivery_t *d),
                                    void *arg)
{
    PREPARE_OWNED(st, db, sql_delivery_list, org_id);
    pl_stmt_bind_text(st, 2, endpoint_id);
    pl_stmt_bind_text(st, 3, status ? status : "");
    pl_stmt_bind_text(st, 4, before ? before : "");
    pl_stmt_bind_int64(st, 5, limit);
    int rc;
    while ((rc = pl_stmt_step(st)) == 1) {
        pl_webhook_delivery_t d;
        read_delivery(st, a, &d);
        fn(arg, &d);
    }
    return pl_stmt_list_done(st, rc);
}

static const char *const sql_attempts[2] =
    BY_OWNER("SELECT at, response_status, duration_ms, error FROM webhook_attempts WHERE ",
             " AND delivery_id = $2 ORDER BY n");

int pl_webhooks_store_attempts(pl_db_t *db, pl_arena_t *a, const char *org_id,
                               const char *delivery_id,
                               void (*fn)(void *arg, const pl_webhook_attempt_t *t), void *arg)
{
    PREPARE_OWNED(st, db, sql_attempts, org_id);
    pl_stmt_bind_text(st, 2, delivery_id);
    int rc;
    while ((rc = pl_stmt_step(st)) == 1) {
        pl_webhook_attempt_t t = {
            .at = pl_stmt_col_int64(st, 0),
            .response_status = (int)col_int_or_zero(st, 1),
            .duration_ms = pl_stmt_col_int64(st, 2),
            .error = pl_stmt_col_dup(st, a, 3),
        };
        fn(arg, &t);
    }
    return pl_stmt_list_done(st, rc);
}

static const char *const sql_requeue[2] =
    BY_OWNER("UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = $3, "
             "completed_at = NULL WHERE ",
             " AND id = $2");

int pl_webhooks_store_delivery_requeue(pl_db_t *db, const char *org_id, const char *id, int64_t at)
{
    PREPARE_OWNED(st, db, sql_requeue, org_id);
    pl_stmt_bind_text(st, 2, id);
    pl_stmt_bind_int64(st, 3, at);
    return pl_stmt_exec_found(st);
}

static const char *const sql_lease[2] =
    BY_OWNER("UPDATE webhook_deliveries SET lease_until = $3, lease_owner = $4 WHERE ",
             " AND id = $2 RETURNING id, attempt_count, is_test, payload");

int pl_webhooks_store_delivery_lease(pl_db_t *db, pl_arena_t *a, const char *org_id, const char *id,
                                     int64_t lease_until, const char *owner,
                                     pl_webhook_job_row_t *out)
{
    PREPARE_OWNED(st, db, sql_lease, org_id);
    pl_stmt_bind_text(st, 2, id);
    pl_stmt_bind_int64(st, 3, lease_until);
    pl_stmt_bind_text(st, 4, owner);
    int rc = pl_stmt_step(st);
    if (rc == 1) {
        memset(out, 0, sizeof(*out));
        out->d.id = pl_stmt_col_dup(st, a, 0);
        out->d.attempt_count = (int)pl_stmt_col_int64(st, 1);
        out->is_test = pl_stmt_col_bool(st, 2);
        out->d.payload = pl_stmt_col_dup(st, a, 3);
        while (pl_stmt_step(st) == 1) /* read to the end so the UPDATE completes */
            ;
    }
    return pl_stmt_one_done(st, rc);
}

static const char *const sql_abandon[2] =
    BY_OWNER("UPDATE webhook_deliveries SET status = 'failed', last_error = $3, "
             "next_attempt_at = NULL, completed_at = $4 WHERE ",
             " AND endpoint_id = $2 AND status = 'pending' AND NOT is_test "
             "AND (lease_until IS NULL OR lease_until <= $4)");

int pl_webhooks_store_abandon_pending(pl_db_t *db, const char *org_id, const char *endpoint_id,
                                      const char *error, int64_t now)
{
    PREPARE_OWNED(st, db, sql_abandon, org_id);
    pl_stmt_bind_text(st, 2, endpoint_id);
    pl_stmt_bind_text(st, 3, error);
    pl_stmt_bind_int64(st, 4, now);
    return done_rc(pl_stmt_exec(st));
}

static const char *const sql_leases[2] =
    BY_OWNER("SELECT count(*) FROM webhook_deliveries WHERE ",
             " AND endpoint_id = $2 AND lease_until > $3 AND lease_owner <> $4");

int pl_webhooks_store_leases(pl_db_t *db, const char *org_id, const char *endpoint_id, int64_t now,
                             const char *owner, int64_t *count)
{
    PREPARE_OWNED(st, db, sql_leases, org_id);
    pl_stmt_bind_text(st, 2, endpoint_id);
    pl_stmt_bind_int64(st, 3, now);
    pl_stmt_bind_text(st, 4, owner);
    int rc = pl_stmt_step(st);
    *count = rc == 1 ? pl_stmt_col_int64(st, 0) : 0;
    return pl_stmt_list_done(st, rc);
}

static const char *const sql_next_due[2] =
    BY_OWNER("SELECT id FROM webhook_deliveries WHERE ",
             " AND endpoint_id = $2 AND status = 'pending' AND next_attempt_at <= $3 "
             "AND (lease_until IS NULL OR lease_until <= $3 OR lease_owner = $5) "
             "AND (is_test OR NOT $4) AND id <> $6 ORDER BY next_attempt_at LIMIT 1");

int pl_webhooks_store_next_due(pl_db_t *db, pl_arena_t *a, const char *org_id,
                               const char *endpoint_id, bool tests_only, int64_t now,
                               const char *owner, const char *except, const char **id)
{
    PREPARE_OWNED(st, db, sql_next_due, org_id);
    pl_stmt_bind_text(st, 2, endpoint_id);
    pl_stmt_bind_int64(st, 3, now);
    pl_stmt_bind_bool(st, 4, tests_only);
    pl_stmt_bind_text(st, 5, owner);
    pl_stmt_bind_text(st, 6, except ? except : "");
    int rc = pl_stmt_step(st);
    if (rc == 1)
        *id = pl_stmt_col_dup(st, a, 0);
    return pl_stmt_one_done(st, rc);
}

static const char *const sql_next_pending_at[2] =
    BY_OWNER("SELECT min(next_attempt_at) FROM webhook_deliveries WHERE ",
             " AND endpoint_id = $2 AND status = 'pending' "
             "AND (lease_until IS NULL OR lease_until <= $3) AND (is_test OR NOT $4)");

int pl_webhooks_store_next_pending_at(pl_db_t *db, const char *org_id, const char *endpoint_id,
                                      bool tests_only, int64_t now, int64_t *at)
{
    PREPARE_OWNED(st, db, sql_next_pending_at, org_id);
    pl_stmt_bind_text(st, 2, endpoint_id);
    pl_stmt_bind_int64(st, 3, now);
    pl_stmt_bind_bool(st, 4, tests_only);
    int rc = pl_stmt_step(st);
    bool found = rc == 1 && !pl_stmt_col_is_null(st, 0);
    *at = found ? pl_stmt_col_int64(st, 0) : 0;
    pl_stmt_reset(st);
    return rc < 0 ? rc : found ? PL_OK : PL_ENOTFOUND;
}

static const char sql_attempt_insert[] =
    "INSERT INTO webhook_attempts (delivery_id, n, org_id, at, response_status, duration_ms, "
    "error) VALUES ($1, $2, $3, $4, $5, $6, $7)";
static const char *const sql_attempt_done[2] =
    BY_OWNER("UPDATE webhook_deliveries SET attempt_count = $4, status = $5, "
             "next_attempt_at = $6, completed_at = $7, last_response_status = $8, "
             "last_error = $9, lease_until = NULL, lease_owner = NULL WHERE ",
             " AND id = $2 AND lease_until = $3");

int pl_webhooks_store_attempt_record(pl_db_t *db, const char *org_id, const char *id,
                                     int64_t lease_until, int n, int64_t at, int response_status,
                                     int64_t duration_ms, const char *error, const char *status,
                                     int64_t next_at, int64_t completed_at)
{
    int rc;
    {
        PREPARE_OWNED(st, db, sql_attempt_done, org_id);
        pl_stmt_bind_text(st, 2, id);
        pl_stmt_bind_int64(st, 3, lease_until);
        pl_stmt_bind_int64(st, 4, n);
        pl_stmt_bind_text(st, 5, status);
        if (next_at)
            pl_stmt_bind_int64(st, 6, next_at);
        else
            pl_stmt_bind_null(st, 6);
        if (completed_at)
            pl_stmt_bind_int64(st, 7, completed_at);
        else
            pl_stmt_bind_null(st, 7);
        if (response_status)
            pl_stmt_bind_int64(st, 8, response_status);
        else
            pl_stmt_bind_null(st, 8);
        pl_stmt_bind_text(st, 9, error);
        if ((rc = pl_stmt_exec_found(st)))
            return rc;
    }
    PL_PREPARE(st, db, sql_attempt_insert);
    pl_stmt_bind_text(st, 1, id);
    pl_stmt_bind_int64(st, 2, n);
    pl_stmt_bind_text(st, 3, org_id);
    pl_stmt_bind_int64(st, 4, at);
    if (response_status)
        pl_stmt_bind_int64(st, 5, response_status);
    else
        pl_stmt_bind_null(st, 5);
    pl_stmt_bind_int64(st, 6, duration_ms);
    pl_stmt_bind_text(st, 7, error);
    return done_rc(pl_stmt_exec(st));
}

/* ---- people to tell, retention ---- */

static const char sql_owners[] =
    "SELECT u.email, u.name FROM memberships m JOIN users u ON u.id = m.user_id "
    "WHERE m.org_id = $1 AND m.role = 'owner' AND u.disabled_at IS NULL ORDER BY u.email";
static const char sql_admins[] = "SELECT email, name FROM users WHERE is_admin = $1 "
                                 "AND disabled_at IS NULL ORDER BY email";

int pl_webhooks_store_recipients(pl_db_t *db, const char *org_id,
                                 void (*fn)(void *arg, const char *email, const char *name),
                                 void *arg)
{
    PL_PREPARE(st, db, org_id ? sql_owners : sql_admins);
    if (org_id)
        pl_stmt_bind_text(st, 1, org_id);
    else
        pl_stmt_bind_bool(st, 1, true);
    int rc;
    while ((rc = pl_stmt_step(st)) == 1)
        fn(arg, pl_stmt_col_text(st, 0), pl_stmt_col_text(st, 1));
    return pl_stmt_list_done(st, rc);
}

static const char sql_org_name[] = "SELECT name FROM organizations WHERE id = $1";

int pl_webhooks_store_org_name(pl_db_t *db, pl_arena_t *a, const char *org_id, const char **name)
{
    PL_PREPARE(st, db, sql_org_name);
    pl_stmt_bind_text(st, 1, org_id);
    int rc = pl_stmt_step(st);
    *name = rc == 1 ? pl_stmt_col_dup(st, a, 0) : "";
    return pl_stmt_list_done(st, rc);
}

static const char sql_orgs[] = "SELECT id FROM organizations WHERE id > $1 ORDER BY id LIMIT $2";

int pl_webhooks_store_orgs(pl_db_t *db, pl_arena_t *a, const char *after, int limit,
                           const char **ids, int *n)
{
    PL_PREPARE(st, db, sql_orgs);
    pl_stmt_bind_text(st, 1, after ? after : "");
    pl_stmt_bind_int64(st, 2, limit);
    int rc;
    *n = 0;
    while ((rc = pl_stmt_step(st)) == 1 && *n < limit)
        ids[(*n)++] = pl_stmt_col_dup(st, a, 0);
    return pl_stmt_list_done(st, rc);
}

static const char *const sql_purge[2] = BY_OWNER("DELETE FROM webhook_deliveries WHERE ",
                                                 " AND status <> 'pending' AND created_at < $2");

int pl_webhooks_store_purge(pl_db_t *db, const char *org_id, int64_t before)
{
    PREPARE_OWNED(st, db, sql_purge, org_id);
    pl_stmt_bind_int64(st, 2, before);
    return done_rc(pl_stmt_exec(st));
}
