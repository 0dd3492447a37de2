/* audit.c - appending to the hash chains, the canonical form, verification,
 * query, streamed export, security events and retention. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/crypto.h"
#include "core/progress.h"
#include "platform/audit/audit.h"
#include "platform/events/events.h"
#include "platform/jobs/jobs.h"

#define ZERO_HASH    "0000000000000000000000000000000000000000000000000000000000000000"
#define EXPORT_BATCH 500

/* ---- canonical JSON (RFC 8785 for strings, integers, booleans, null) ---- */

static int canon_string(pl_buf_t *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    int rc = pl_buf_append(b, "\"", 1);
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        rc |= pl_buf_append(b, s + run, i - run);
        run = i + 1;
        char esc[6] = {'\\', (char)c, 0, 0, 0, 0};
        size_t k = 2;
        switch (c) {
        case '\b':
            esc[1] = 'b';
            break;
        case '\f':
            esc[1] = 'f';
            break;
        case '\n':
            esc[1] = 'n';
            break;
        case '\r':
            esc[1] = 'r';
            break;
        case '\t':
            esc[1] = 't';
            break;
        case '"':
        case '\\':
            break;
        default:
            memcpy(esc, "\\u00", 4);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            k = 6;
        }
        rc |= pl_buf_append(b, esc, k);
    }
    rc |= pl_buf_append(b, s + run, n - run);
    rc |= pl_buf_append(b, "\"", 1);
    return rc ? PL_ELIMIT : PL_OK;
}

static int cmp_keys(const void *a, const void *b)
{
    /* byte order equals UTF-16 order for the keys events use */
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int pl_audit_canonical(json_t *v, pl_buf_t *b)
{
    int rc = 0;
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        size_t n = json_object_size(v), i = 0;
        const char **keys = pl_xmalloc((n ? n : 1) * sizeof(char *));
        const char *key;
        json_t *val;
        json_object_foreach(v, key, val) keys[i++] = key;
        qsort(keys, n, sizeof(char *), cmp_keys);
        rc |= pl_buf_append(b, "{", 1);
        for (i = 0; i < n; i++) {
            if (i)
                rc |= pl_buf_append(b, ",", 1);
            rc |= canon_string(b, keys[i], strlen(keys[i]));
            rc |= pl_buf_append(b, ":", 1);
            rc |= pl_audit_canonical(json_object_get(v, keys[i]), b);
        }
        rc |= pl_buf_append(b, "}", 1);
        free(keys);
        break;
    }
    case JSON_ARRAY: {
        size_t i;
        json_t *val;
        rc |= pl_buf_append(b, "[", 1);
        json_array_foreach(v, i, val)
        {
            if (i)
                rc |= pl_buf_append(b, ",", 1);
            rc |= pl_audit_canonical(val, b);
        }
        rc |= pl_buf_append(b, "]", 1);
        break;
    }
    case JSON_STRING:
        rc |= canon_string(b, json_string_value(v), json_string_length(v));
        break;
    case JSON_INTEGER:
        rc |= pl_buf_appendf(b, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        break;
    case JSON_TRUE:
        rc |= pl_buf_append(b, "true", 4);
        break;
    case JSON_FALSE:
        rc |= pl_buf_append(b, "false", 5);
        break;
    case JSON_NULL:
        rc |= pl_buf_append(b, "null", 4);
        break;
    case JSON_REAL:
        return PL_EINVAL; /* events hold no floats */
    }
    return rc ? PL_ELIMIT : PL_OK;
}

/* ---- rows and events ---- */

typedef struct {
    const char *chain, *id, *org_id, *action, *actor_type, *actor_id, *target_type, *target_id;
    const char *ip, *user_agent, *request_id, *data, *prev_hash, *hash;
    int64_t seq, created_at;
} row_t;

#define ROW_COLS                                                                                   \
    "chain, seq, id, org_id, action, actor_type, actor_id, target_type, target_id, ip, "           \
    "user_agent, request_id, data, created_at, prev_hash, hash"

/* With a NULL arena the strings are the statement's, valid until the next step. */
static void read_row(pl_arena_t *a, pl_stmt_t *st, row_t *r)
{
    r->chain = pl_stmt_col_dup(st, a, 0);
    r->seq = pl_stmt_col_int64(st, 1);
    r->id = pl_stmt_col_dup(st, a, 2);
    r->org_id = pl_stmt_col_dup(st, a, 3);
    r->action = pl_stmt_col_dup(st, a, 4);
    r->actor_type = pl_stmt_col_dup(st, a, 5);
    r->actor_id = pl_stmt_col_dup(st, a, 6);
    r->target_type = pl_stmt_col_dup(st, a, 7);
    r->target_id = pl_stmt_col_dup(st, a, 8);
    r->ip = pl_stmt_col_dup(st, a, 9);
    r->user_agent = pl_stmt_col_dup(st, a, 10);
    r->request_id = pl_stmt_col_dup(st, a, 11);
    r->data = pl_stmt_col_dup(st, a, 12);
    r->created_at = pl_stmt_col_int64(st, 13);
    r->prev_hash = pl_stmt_col_dup(st, a, 14);
    r->hash = pl_stmt_col_dup(st, a, 15);
}

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

/* The event object as exported; with_hash adds "hash". */
static json_t *event_json(const row_t *r, bool with_hash)
{
    char created[32];
    pl_time_format(r->created_at, created);
    json_t *data = r->data ? json_loads(r->data, JSON_DECODE_ANY, NULL) : NULL;
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(r->id));
    json_object_set_new(o, "seq", json_integer(r->seq));
    json_object_set_new(o, "org_id", str_or_null(r->org_id));
    json_object_set_new(o, "action", json_string(r->action));
    json_object_set_new(
        o, "actor", json_pack("{s:s, s:o}", "type", r->actor_type, "id", str_or_null(r->actor_id)));
    json_object_set_new(o, "target",
                        r->target_type ? json_pack("{s:s, s:o}", "type", r->target_type, "id",
                                                   str_or_null(r->target_id))
                                       : json_null());
    json_object_set_new(o, "ip", str_or_null(r->ip));
    json_object_set_new(o, "user_agent", str_or_null(r->user_agent));
    json_object_set_new(o, "request_id", str_or_null(r->request_id));
    json_object_set_new(o, "data", data ? data : json_object());
    json_object_set_new(o, "created_at", json_string(created));
    json_object_set_new(o, "prev_hash", json_string(r->prev_hash));
    if (with_hash)
        json_object_set_new(o, "hash", json_string(r->hash));
    return o;
}

/* hash = SHA-256(prev_hash || canonical event) as lower hex. */
static int event_hash(const row_t *r, char out[65])
{
    json_t *e = event_json(r, false);
    pl_buf_t b;
    pl_buf_init(&b, 1024 * 1024);
    int rc = pl_buf_append(&b, r->prev_hash, strlen(r->prev_hash));
    if (!rc)
        rc = pl_audit_canonical(e, &b);
    json_decref(e);
    if (!rc)
        pl_sha256_hex(b.ptr, b.len, out);
    pl_buf_free(&b);
    return rc;
}

/* ---- appending ---- */

static const char sql_head_init[] =
    "INSERT INTO audit_heads (chain, seq, hash, anchor_seq, anchor_hash) VALUES ($1, 0, $2, 0, $2) "
    "ON CONFLICT (chain) DO NOTHING";
static const char sql_head_lock_pg[] =
    "SELECT seq, hash FROM audit_heads WHERE chain = $1 FOR UPDATE";
static const char sql_head_lock_sqlite[] = "SELECT seq, hash FROM audit_heads WHERE chain = $1";
static const char sql_head_set[] = "UPDATE audit_heads SET seq = $2, hash = $3 WHERE chain = $1";
static const char sql_insert[] =
    "INSERT INTO audit_events (chain, seq, id, org_id, action, actor_type, actor_id, "
    "target_type, target_id, ip, user_agent, request_id, data, created_at, prev_hash, hash) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)";

/* Reads and locks the chain's head (FOR UPDATE on PostgreSQL; SQLite's
 * BEGIN IMMEDIATE already holds the write lock): 1 when found, 0 when the
 * chain has no head yet, or an error. */
static int lock_head(pl_db_t *db, const char *chain, int64_t *seq, char prev[65])
{
    PL_PREPARE(st, db, pl_db_engine() == PL_DB_POSTGRES ? sql_head_lock_pg : sql_head_lock_sqlite);
    pl_stmt_bind_text(st, 1, chain);
    int rc = pl_stmt_step(st);
    if (rc == 1) {
        *seq = pl_stmt_col_int64(st, 0);
        snprintf(prev, 65, "%s", pl_stmt_col_text(st, 1));
    }
    pl_stmt_reset(st);
    return rc;
}

static int append(pl_db_t *db, row_t *r)
{
    /* appends to a chain are serialised on its head row; a new chain gets
     * one first (only then is the extra insert paid) */
    char prev[65] = ZERO_HASH;
    int64_t seq = 0;
    int rc = lock_head(db, r->chain, &seq, prev);
    if (rc == 0) {
        pl_stmt_t *st = pl_db_prepare(db, sql_head_init);
        if (!st)
            return PL_EDB;
        pl_stmt_bind_text(st, 1, r->chain);
        pl_stmt_bind_text(st, 2, ZERO_HASH);
        if ((rc = pl_stmt_exec(st)) < 0)
            return rc;
        rc = lock_head(db, r->chain, &seq, prev);
    }
    if (rc != 1)
        return rc < 0 ? rc : PL_EINTERNAL;
    r->seq = seq + 1;
    r->prev_hash = prev;
    char hash[65];
    if ((rc = event_hash(r, hash)))
        return rc;
    r->hash = hash;
    pl_stmt_t *st = pl_db_prepare(db, sql_insert);
    if (!st)
        return PL_EDB;
    const char *vals[] = {r->chain,     NULL,          r->id,         r->org_id,
                          r->action,    r->actor_type, r->actor_id,   r->target_type,
                          r->target_id, r->ip,         r->user_agent, r->request_id,
                          r->data,      NULL,          r->prev_hash,  r->hash};
    for (int i = 0; i < 16; i++)
        if (i != 1 && i != 13)
            pl_stmt_bind_text(st, i + 1, vals[i]);
    pl_stmt_bind_int64(st, 2, r->seq);
    pl_stmt_bind_int64(st, 14, r->created_at);
    if ((rc = pl_stmt_exec(st)) < 0)
        return rc;
    if (!(st = pl_db_prepare(db, sql_head_set)))
        return PL_EDB;
    pl_stmt_bind_text(st, 1, r->chain);
    pl_stmt_bind_int64(st, 2, r->seq);
    pl_stmt_bind_text(st, 3, r->hash);
    rc = pl_stmt_exec(st);
    return rc < 0 ? rc : PL_OK;
}

static int retention_days; /* --audit-retention-days; 0 keeps events forever */

/* Appends r and publishes it, inside the caller's transaction. */
static int append_publish(pl_db_t *db, pl_ctx_t *ctx, row_t *r, json_t *data)
{
    int rc = append(db, r);
    if (rc)
        return rc;
    pl_event_t ev = {
        .id = r->id,
        .org_id = r->org_id,
        .seq = r->seq,
        .action = r->action,
        .actor_type = r->actor_type,
        .actor_id = r->actor_id,
        .target_type = r->target_type,
        .target_id = r->target_id,
        .data = data,
        .created_at = r->created_at,
        .request_id = r->request_id,
        .ip = r->ip,
        .user_agent = r->user_agent,
    };
    return pl_events_publish(db, ctx, &ev);
}

int pl_audit_append(pl_db_t *db, pl_ctx_t *ctx, const char *org_id, const char *action,
                    const char *target_type, const char *target_id, json_t *data)
{
    char id[37];
    pl_uuid7(id);
    row_t r = {0};
    r.chain = org_id ? org_id : PL_AUDIT_INSTANCE;
    r.id = id;
    r.org_id = org_id;
    r.action = action;
    r.actor_type = "system";
    r.target_type = target_type;
    r.target_id = target_type ? target_id : NULL;
    r.created_at = pl_now_ms();
    char ua[256] = "";
    if (ctx && ctx->request_id) {
        if (ctx->principal.api_key_id[0]) {
            r.actor_type = "api_key";
            r.actor_id = ctx->principal.api_key_id;
        } else if (ctx->principal.user_id[0]) {
            r.actor_type = "user";
            r.actor_id = ctx->principal.user_id;
        } else {
            r.actor_type = "anonymous"; /* e.g. a failed sign-in */
        }
        r.ip = ctx->ip && ctx->ip[0] ? ctx->ip : NULL;
        r.request_id = ctx->request_id[0] ? ctx->request_id : NULL;
        if (ctx->user_agent) {
            snprintf(ua, sizeof(ua), "%s", ctx->user_agent);
            r.user_agent = ua;
        }
    } else if (ctx && ctx->principal.user_id[0]) {
        /* a command or job acting for a user */
        r.actor_type = "user";
        r.actor_id = ctx->principal.user_id;
    }
    pl_buf_t b;
    pl_buf_init(&b, 64 * 1024);
    json_t *empty = data ? NULL : json_object();
    int rc = pl_audit_canonical(data ? data : empty, &b);
    if (rc) {
        json_decref(empty);
        pl_buf_free(&b);
        return PL_EINTERNAL;
    }
    r.data = b.ptr;
    if ((rc = pl_db_begin(db)) == PL_OK)
        rc = pl_db_finish(db, append_publish(db, ctx, &r, data ? data : empty));
    json_decref(empty);
    pl_buf_free(&b);
    return rc;
}

/* ---- verification ---- */

static const char sql_head_get[] =
    "SELECT seq, hash, anchor_seq, anchor_hash FROM audit_heads WHERE chain = $1";
static const char sql_chain_from[] =
    "SELECT " ROW_COLS " FROM audit_events WHERE chain = $1 AND seq > $2 ORDER BY seq LIMIT $3";

int pl_audit_verify_chain(pl_db_t *db, const char *chain, bool *valid, int64_t *events,
                          int64_t *first_bad, char head[65])
{
    *valid = true;
    *events = 0;
    *first_bad = 0;
    snprintf(head, 65, "%s", ZERO_HASH);
    int64_t head_seq = 0, anchor_seq = 0;
    char head_hash[65] = ZERO_HASH, running[65] = ZERO_HASH;
    pl_stmt_t *st = pl_db_prepare(db, sql_head_get);
    if (!st)
        return PL_EDB;
    pl_stmt_bind_text(st, 1, chain);
    int rc = pl_stmt_step(st);
    if (rc == 1) {
        head_seq = pl_stmt_col_int64(st, 0);
        snprintf(head_hash, sizeof(head_hash), "%s", pl_stmt_col_text(st, 1));
        anchor_seq = pl_stmt_col_int64(st, 2);
        snprintf(running, sizeof(running), "%s", pl_stmt_col_text(st, 3));
    }
    pl_stmt_reset(st);
    if (rc < 0)
        return rc;
    int64_t expect = anchor_seq + 1, last = anchor_seq;
    for (;;) {
        if (!(st = pl_db_prepare(db, sql_chain_from)))
            return PL_EDB;
        pl_stmt_bind_text(st, 1, chain);
        pl_stmt_bind_int64(st, 2, last);
        pl_stmt_bind_int64(st, 3, EXPORT_BATCH);
        int n = 0;
        while ((rc = pl_stmt_step(st)) == 1) {
            row_t r;
            read_row(NULL, st, &r);
            n++;
            last = r.seq;
            if (!*valid)
                continue;
            char h[65];
            if (r.seq != expect || strcmp(r.prev_hash, running) || event_hash(&r, h) ||
                strcmp(h, r.hash)) {
                *valid = false;
                *first_bad = r.seq < expect ? r.seq : expect;
                continue;
            }
            memcpy(running, h, 65);
            expect++;
            (*events)++;
        }
        pl_stmt_reset(st);
        if (rc < 0)
            return rc;
        if (n < EXPORT_BATCH || !*valid)
            break;
    }
    /* the rows chain; now they must end where the head says */
    int64_t last_row = expect - 1;
    if (*valid && (last_row != head_seq || strcmp(running, head_hash))) {
        *valid = false;
        if (last_row > head_seq)
            *first_bad = head_seq + 1; /* rows past the head were added */
        else if (last_row < head_seq)
            *first_bad = last_row + 1; /* rows cut from the end */
        else
            *first_bad = last_row; /* the last row is not the one the head names */
    }
    if (*valid)
        memcpy(head, running, 65);
    return PL_OK;
}

static const char sql_chains[] = "SELECT chain FROM audit_heads ORDER BY chain";

static int verify_cli(pl_db_t *db, const char *org_id)
{
    char **chains = NULL;
    size_t n = 0;
    if (org_id) {
        chains = pl_xmalloc(sizeof(char *));
        chains[n++] = pl_xstrdup(org_id);
    } else {
        /* every chain, read as the owner: RLS context for each below */
        pl_stmt_t *st = pl_db_prepare(db, sql_chains);
        if (!st)
            return 2;
        int rc;
        while ((rc = pl_stmt_step(st)) == 1) {
            chains = pl_xrealloc(chains, (n + 1) * sizeof(char *));
            chains[n++] = pl_xstrdup(pl_stmt_col_text(st, 0));
        }
        pl_stmt_reset(st);
        if (rc < 0) {
            fprintf(stderr, "plinth: cannot read the audit chains\n");
            free(chains);
            return 2;
        }
    }
    int code = 0;
    pl_progress_t progress;
    pl_progress_start(&progress, "audit verify", "chains");
    for (size_t i = 0; i < n; i++) {
        bool valid;
        int64_t events, bad;
        char head[65];
        int rc = pl_db_begin_read(db);
        if (!rc && strcmp(chains[i], PL_AUDIT_INSTANCE))
            rc = pl_db_set_context(db, "app.org_id", chains[i]);
        if (!rc)
            rc = pl_audit_verify_chain(db, chains[i], &valid, &events, &bad, head);
        pl_db_rollback(db);
        if (rc) {
            fprintf(stderr, "plinth: cannot verify chain %s\n", chains[i]);
            code = 2;
        } else if (valid) {
            printf("chain %s: valid, %lld events, head %s\n", chains[i], (long long)events, head);
        } else {
            printf("chain %s: INVALID at seq %lld\n", chains[i], (long long)bad);
            if (code == 0)
                code = 1;
        }
        free(chains[i]);
        pl_progress_update(&progress, (int64_t)i + 1, (int64_t)n);
    }
    free(chains);
    pl_progress_finish(&progress);
    return code;
}

/* ---- pages and exports ---- */

static const char sql_query[] =
    "SELECT " ROW_COLS " FROM audit_events WHERE chain = $1 AND ($2 = 0 OR seq < $2) AND "
    "($3 = '' OR action = $3) AND ($4 = '' OR actor_id = $4) AND ($5 = '' OR target_id = $5) AND "
    "created_at >= $6 AND created_at <= $7 ORDER BY seq DESC LIMIT $8";
static const char sql_subject[] =
    "SELECT " ROW_COLS " FROM audit_events WHERE chain = $1 AND ($2 = 0 OR seq < $2) AND "
    "(actor_id = $3 OR target_id = $3) ORDER BY seq DESC LIMIT $4";

int pl_audit_page(pl_db_t *db, const pl_audit_query_t *q, json_t **list, int64_t *next)
{
    *list = NULL;
    *next = 0;
    pl_stmt_t *st = pl_db_prepare(db, q->subject ? sql_subject : sql_query);
    if (!st)
        return PL_EDB;
    pl_stmt_bind_text(st, 1, q->chain);
    pl_stmt_bind_int64(st, 2, q->before);
    if (q->subject) {
        pl_stmt_bind_text(st, 3, q->subject);
        pl_stmt_bind_int64(st, 4, q->limit + 1);
    } else {
        pl_stmt_bind_text(st, 3, q->action ? q->action : "");
        pl_stmt_bind_text(st, 4, q->actor_id ? q->actor_id : "");
        pl_stmt_bind_text(st, 5, q->target_id ? q->target_id : "");
        pl_stmt_bind_int64(st, 6, q->since);
        pl_stmt_bind_int64(st, 7, q->until);
        pl_stmt_bind_int64(st, 8, q->limit + 1);
    }
    json_t *out = json_array();
    int rc, count = 0;
    int64_t last = 0;
    while ((rc = pl_stmt_step(st)) == 1) {
        if (++count > q->limit)
            continue;
        row_t r;
        read_row(NULL, st, &r);
        json_array_append_new(out, event_json(&r, true));
        last = r.seq;
    }
    pl_stmt_reset(st);
    if (rc < 0) {
        json_decref(out);
        return rc;
    }
    *list = out;
    *next = count > q->limit ? last : 0;
    return PL_OK;
}

/* ---- export: streamed, oldest first, a batch of rows at a time ---- */

struct pl_audit_export {
    char chain[PL_ID_LEN];
    bool csv;
    bool header_done;
    bool done;
    int64_t last_seq;
    pl_buf_t buf;
    size_t off;
};

static void csv_field(pl_buf_t *b, const char *s, bool last)
{
    /* quoted, quotes doubled; a leading = + - @ is prefixed with ' so a
     * spreadsheet does not run it as a formula */
    pl_buf_append(b, "\"", 1);
    if (s && (*s == '=' || *s == '+' || *s == '-' || *s == '@'))
        pl_buf_append(b, "'", 1);
    for (const char *p = s ? s : ""; *p; p++) {
        pl_buf_append(b, p, 1);
        if (*p == '"')
            pl_buf_append(b, "\"", 1);
    }
    pl_buf_append(b, last ? "\"\r\n" : "\",", last ? 3 : 2);
}

static int export_fill(pl_audit_export_t *x)
{
    pl_db_t *db = pl_db_thread();
    if (!db)
        return PL_EDB;
    x->buf.len = 0;
    x->off = 0;
    if (x->csv && !x->header_done) {
        static const char header[] =
            "id,seq,org_id,action,actor_type,actor_id,target_type,target_id,ip,user_agent,"
            "request_id,data,created_at,prev_hash,hash\r\n";
        pl_buf_append(&x->buf, header, sizeof(header) - 1);
        x->header_done = true;
    }
    int rc = pl_db_begin_read(db);
    if (!rc && strcmp(x->chain, PL_AUDIT_INSTANCE))
        rc = pl_db_set_context(db, "app.org_id", x->chain);
    pl_stmt_t *st = rc ? NULL : pl_db_prepare(db, sql_chain_from);
    if (!rc && !st)
        rc = PL_EDB;
    int n = 0;
    if (!rc) {
        pl_stmt_bind_text(st, 1, x->chain);
        pl_stmt_bind_int64(st, 2, x->last_seq);
        pl_stmt_bind_int64(st, 3, EXPORT_BATCH);
        while ((rc = pl_stmt_step(st)) == 1) {
            row_t r;
            read_row(NULL, st, &r);
            n++;
            x->last_seq = r.seq;
            if (x->csv) {
                char seq[24], created[32];
                snprintf(seq, sizeof(seq), "%lld", (long long)r.seq);
                pl_time_format(r.created_at, created);
                const char *f[] = {r.id,         seq,          r.org_id,      r.action,
                                   r.actor_type, r.actor_id,   r.target_type, r.target_id,
                                   r.ip,         r.user_agent, r.request_id,  r.data,
                                   created,      r.prev_hash,  r.hash};
                for (int i = 0; i < 15; i++)
                    csv_field(&x->buf, f[i], i == 14);
            } else {
                json_t *e = event_json(&r, true);
                pl_audit_canonical(e, &x->buf);
                json_decref(e);
                pl_buf_append(&x->buf, "\n", 1);
            }
        }
        pl_stmt_reset(st);
        rc = rc < 0 ? rc : PL_OK;
    }
    pl_db_rollback(db);
    if (!rc && n < EXPORT_BATCH)
        x->done = true;
    return rc;
}

pl_audit_export_t *pl_audit_export_open(const char *chain, bool csv)
{
    pl_audit_export_t *x = pl_xcalloc(1, sizeof(*x));
    snprintf(x->chain, sizeof(x->chain), "%s", chain);
    x->csv = csv;
    pl_buf_init(&x->buf, 64 * 1024 * 1024);
    return x;
}

long pl_audit_export_read(pl_audit_export_t *x, char *out, size_t max)
{
    if (x->off >= x->buf.len) {
        if (x->done)
            return 0;
        if (export_fill(x))
            return -1;
        if (x->buf.len == 0)
            return 0;
    }
    size_t n = x->buf.len - x->off;
    if (n > max)
        n = max;
    memcpy(out, x->buf.ptr + x->off, n);
    x->off += n;
    return (long)n;
}

void pl_audit_export_free(pl_audit_export_t *x)
{
    if (!x)
        return;
    pl_buf_free(&x->buf);
    free(x);
}

/* ---- retention ---- */

static const char sql_prune_max[] =
    "SELECT max(seq) FROM audit_events WHERE chain = $1 AND created_at < $2";
static const char sql_event_hash[] = "SELECT hash FROM audit_events WHERE chain = $1 AND seq = $2";
static const char sql_prune[] = "DELETE FROM audit_events WHERE chain = $1 AND seq <= $2";
static const char sql_anchor[] =
    "UPDATE audit_heads SET anchor_seq = $2, anchor_hash = $3 WHERE chain = $1";

/* Prunes the prefix of one chain older than cutoff: the newest pruned
 * event's (seq, hash) becomes the anchor verification starts from. */
static int prune_chain(pl_db_t *db, const char *chain, int64_t cutoff)
{
    int rc = pl_db_begin(db);
    if (rc)
        return rc;
    if (strcmp(chain, PL_AUDIT_INSTANCE))
        rc = pl_db_set_context(db, "app.org_id", chain);
    int64_t max = 0;
    char hash[65] = "";
    pl_stmt_t *st = rc ? NULL : pl_db_prepare(db, sql_prune_max);
    if (st) {
        pl_stmt_bind_text(st, 1, chain);
        pl_stmt_bind_int64(st, 2, cutoff);
        if (pl_stmt_step(st) == 1 && !pl_stmt_col_is_null(st, 0))
            max = pl_stmt_col_int64(st, 0);
        pl_stmt_reset(st);
    }
    if (!rc && max > 0 && (st = pl_db_prepare(db, sql_event_hash))) {
        pl_stmt_bind_text(st, 1, chain);
        pl_stmt_bind_int64(st, 2, max);
        if (pl_stmt_step(st) == 1)
            snprintf(hash, sizeof(hash), "%s", pl_stmt_col_text(st, 0));
        pl_stmt_reset(st);
        if (!hash[0])
            rc = PL_EINTERNAL;
        if (!rc && (st = pl_db_prepare(db, sql_prune))) {
            pl_stmt_bind_text(st, 1, chain);
            pl_stmt_bind_int64(st, 2, max);
            rc = pl_stmt_exec(st) < 0 ? PL_EDB : PL_OK;
        }
        if (!rc && (st = pl_db_prepare(db, sql_anchor))) {
            pl_stmt_bind_text(st, 1, chain);
            pl_stmt_bind_int64(st, 2, max);
            pl_stmt_bind_text(st, 3, hash);
            rc = pl_stmt_exec(st) < 0 ? PL_EDB : PL_OK;
        }
    }
    return pl_db_finish(db, rc);
}

static int prune_job(const char *id, json_t *payload, char *err, size_t errlen)
{
    PL_UNUSED(id);
    PL_UNUSED(payload);
    pl_db_t *db = pl_db_thread();
    if (!db) {
        snprintf(err, errlen, "database unavailable");
        return PL_EDB;
    }
    int64_t cutoff = pl_now_ms() - (int64_t)retention_days * 24 * 3600 * 1000;
    char **chains = NULL;
    size_t n = 0;
    pl_stmt_t *st = pl_db_prepare(db, sql_chains);
    if (!st)
        return PL_EDB;
    while (pl_stmt_step(st) == 1) {
        chains = pl_xrealloc(chains, (n + 1) * sizeof(char *));
        chains[n++] = pl_xstrdup(pl_stmt_col_text(st, 0));
    }
    pl_stmt_reset(st);
    int rc = PL_OK;
    for (size_t i = 0; i < n; i++) {
        if (!rc)
            rc = prune_chain(db, chains[i], cutoff);
        free(chains[i]);
    }
    free(chains);
    if (rc)
        snprintf(err, errlen, "pruning failed (%d)", rc);
    return rc;
}

static int64_t prune_period(void)
{
    return retention_days > 0 ? 3600LL * 1000 : 0;
}

/* ---- the module ---- */

static char verify_org[PL_ID_LEN + 16];

static int verify_cmd(pl_cli_t *cli)
{
    const char *org = verify_org[0] ? verify_org : NULL;
    if (org && !pl_uuid_valid(org) && strcmp(org, PL_AUDIT_INSTANCE)) {
        fprintf(stderr, "plinth: --org takes an organization id (or \"instance\")\n");
        return 2;
    }
    return verify_cli(cli->db, org);
}

static const pl_option_t verify_options[] = {
    {"org", NULL, PL_OPT_STR, PL_OPT_S(verify_org), 0, 0, 0, "ID",
     "verify only this organization's chain (or \"instance\")", NULL},
    {0},
};

static const pl_option_t options[] = {
    {"audit-retention-days", "PLINTH_AUDIT_RETENTION_DAYS", PL_OPT_INT, &retention_days, 0, 0,
     36500, PL_OPT_RUN, "DAYS",
     "prune audit events older than this; 0 keeps them forever (default 0)", NULL},
    {0},
};

static const pl_job_def_t jobs[] = {
    {"audit.prune", prune_job},
    {0},
};

static const pl_schedule_def_t schedules[] = {
    {"audit.prune", "audit.prune", 0, prune_period},
    {0},
};

static const pl_command_t commands[] = {
    {"audit verify", "verify the audit log's hash chains (exit 1 when broken)",
     "Usage: plinth audit verify [--org ID] [options]\n"
     "Checks every audit chain (or one organization's); exits 0 when all are valid,\n"
     "1 when one is not, 2 on errors.",
     verify_options, 0, PL_CMD_STORAGE | PL_CMD_EXISTING, verify_cmd},
    {0},
};

const pl_module_t pl_audit_module = {
    .name = "audit",
    .jobs = jobs,
    .schedules = schedules,
    .options = options,
    .commands = commands,
};
