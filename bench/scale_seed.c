/* scale_seed.c - bulk data for bench/scale, written through the db layer.
 *
 * Grows a migrated plinth database to the given totals of users,
 * organizations and audit events, quickly: multi-row INSERTs in large
 * transactions, one Argon2id hash shared by every seeded user. Run it again
 * with larger totals and it adds only the difference (what it has written
 * is kept in the kv row 'bench_scale').
 *
 *   scale_seed (--sqlite FILE | --pg URL) --users N --orgs N --audit N
 *
 * The shape:
 *   - user i: email user<i>@scale.test, password "scale-bench-password",
 *     verified; ids are UUID-shaped and deterministic (kind, index).
 *   - org 0 ("big") has users 0..9999 as members (user 0 its owner); every
 *     other org has a long-tailed size (1 + floor(r^-1.2), at most 1,000;
 *     mean about 12), consecutive users from a random start, the first one
 *     its owner.
 *   - audit events: a tenth of each batch goes to the big org's chain, the
 *     rest spread evenly over every org's chain; each chain is a valid hash
 *     chain (the canonical form documented in platform/audit/audit.h), so
 *     `plinth audit verify` passes.
 * At the end it prints one JSON line: the ids bench/scale needs (the big
 * org, a small org of 3 to 10 members and its owner's email).
 *
 * On PostgreSQL connect as a superuser (row-level security is bypassed; the
 * server itself runs as an ordinary role). */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/password.h"
#include "core/core.h"
#include "core/crypto.h"
#include "core/progress.h"
#include "db/db.h"
#include "platform/audit/audit.h"

#define PASSWORD   "scale-bench-password"
#define BIG_ORG    0
#define BIG_SIZE   10000
#define BATCH_ROWS 200 /* PostgreSQL: fewer round trips; SQLite uses 8 (it binds by name) */
#define TX_ROWS    50000
#define MAX_COLS   16

enum { KIND_USER = 1, KIND_ORG = 2, KIND_EVENT = 3 };

static int batch_rows = BATCH_ROWS;
static pl_progress_t progress; /* rows written, on standard error */
static int64_t rows_written;

static void make_id(int kind, int64_t i, char out[37])
{
    snprintf(out, 37, "%08x-0000-7000-8000-%012llx", (unsigned)kind & 0xffu,
             (unsigned long long)i & 0xffffffffffffULL);
}

static uint64_t mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

static int64_t org_size(int64_t org)
{
    if (org == BIG_ORG)
        return BIG_SIZE;
    double r = (double)((mix((uint64_t)org) >> 11) + 1) / 9007199254740993.0; /* (0, 1] */
    double s = 1.0 + floor(pow(r, -1.2));
    return s > 1000.0 ? 1000 : (int64_t)s;
}

/* ---- batched inserts ---- */

typedef struct {
    pl_db_t *db;
    const char *table, *cols, *conflict;
    int ncols, nrows;
    char vals[BATCH_ROWS][MAX_COLS][100];
    char *sql_full;
    int64_t in_tx;
} batch_t;

static char *insert_sql(const batch_t *b, int rows)
{
    size_t cap = 256 + strlen(b->cols) + (size_t)rows * (size_t)b->ncols * 8;
    char *s = malloc(cap);
    size_t n = (size_t)snprintf(s, cap, "INSERT INTO %s (%s) VALUES ", b->table, b->cols);
    int p = 1;
    for (int r = 0; r < rows; r++) {
        n += (size_t)snprintf(s + n, cap - n, "%s(", r ? "," : "");
        for (int c = 0; c < b->ncols; c++)
            n += (size_t)snprintf(s + n, cap - n, "%s$%d", c ? "," : "", p++);
        n += (size_t)snprintf(s + n, cap - n, ")");
    }
    snprintf(s + n, cap - n, "%s", b->conflict ? b->conflict : "");
    return s;
}

static void die(pl_db_t *db, const char *what)
{
    fprintf(stderr, "scale_seed: %s: %s\n", what, pl_db_errmsg(db));
    exit(1);
}

static void flush(batch_t *b)
{
    if (!b->nrows)
        return;
    char *one = NULL;
    const char *sql = b->sql_full;
    if (b->nrows < batch_rows)
        sql = one = insert_sql(b, b->nrows);
    pl_stmt_t *st = pl_db_prepare(b->db, sql);
    if (!st)
        die(b->db, b->table);
    for (int r = 0; r < b->nrows; r++)
        for (int c = 0; c < b->ncols; c++) {
            const char *v = b->vals[r][c];
            pl_stmt_bind_text(st, r * b->ncols + c + 1, strcmp(v, "\x01") ? v : NULL);
        }
    if (pl_stmt_exec(st) < 0)
        die(b->db, b->table);
    (void)one; /* the connection's statement cache keeps the text: never freed */
    b->in_tx += b->nrows;
    rows_written += b->nrows;
    pl_progress_update(&progress, rows_written, 0);
    b->nrows = 0;
    if (b->in_tx >= TX_ROWS) {
        if (pl_db_commit(b->db) || pl_db_begin(b->db))
            die(b->db, "commit");
        b->in_tx = 0;
    }
}

static void batch_init(batch_t *b, pl_db_t *db, const char *table, const char *cols, int ncols,
                       const char *conflict)
{
    memset(b, 0, sizeof(*b));
    b->db = db;
    b->table = table;
    b->cols = cols;
    b->ncols = ncols;
    b->conflict = conflict;
    b->sql_full = insert_sql(b, batch_rows);
}

/* Adds one row; values are text (NULL binds SQL NULL). */
static void row(batch_t *b, const char *const *v)
{
    for (int c = 0; c < b->ncols; c++)
        snprintf(b->vals[b->nrows][c], sizeof(b->vals[0][0]), "%s", v[c] ? v[c] : "\x01");
    if (++b->nrows == batch_rows)
        flush(b);
}

static void batch_done(batch_t *b)
{
    flush(b);
}

/* ---- state ---- */

static int64_t have_users, have_orgs, have_events;
static int64_t event_base_ms = 1767225600000; /* 2026-01-01 */

static void read_state(pl_db_t *db)
{
    pl_stmt_t *st = pl_db_prepare(db, "SELECT value FROM kv WHERE key = 'bench_scale'");
    if (!st)
        die(db, "kv");
    if (pl_stmt_step(st) == 1) {
        long long u, o, e;
        if (sscanf(pl_stmt_col_text(st, 0), "%lld %lld %lld", &u, &o, &e) == 3) {
            have_users = u;
            have_orgs = o;
            have_events = e;
        }
    }
    pl_stmt_reset(st);
}

static void write_state(pl_db_t *db)
{
    char v[96];
    snprintf(v, sizeof(v), "%lld %lld %lld", (long long)have_users, (long long)have_orgs,
             (long long)have_events);
    pl_stmt_t *st =
        pl_db_prepare(db, "INSERT INTO kv (key, value, updated_at) VALUES "
                          "('bench_scale', $1, $2) ON CONFLICT (key) DO UPDATE "
                          "SET value = excluded.value, updated_at = excluded.updated_at");
    char now[24];
    snprintf(now, sizeof(now), "%lld", (long long)pl_now_ms());
    if (!st)
        die(db, "kv");
    pl_stmt_bind_text(st, 1, v);
    pl_stmt_bind_text(st, 2, now);
    if (pl_stmt_exec(st) < 0)
        die(db, "kv");
}

/* ---- the seeding ---- */

static void seed_users(pl_db_t *db, int64_t to)
{
    char hash[PL_PASSWORD_HASH_MAX];
    if (pl_password_hash(PASSWORD, strlen(PASSWORD), hash)) {
        fprintf(stderr, "scale_seed: cannot hash the password\n");
        exit(1);
    }
    batch_t *b = malloc(sizeof(*b));
    batch_init(b, db, "users",
               "id, email, name, password_hash, email_verified, mfa_enabled, is_admin, "
               "created_at, updated_at",
               9, NULL);
    char now[24];
    snprintf(now, sizeof(now), "%lld", (long long)pl_now_ms());
    for (int64_t i = have_users; i < to; i++) {
        char id[37], email[64], name[32];
        make_id(KIND_USER, i, id);
        snprintf(email, sizeof(email), "user%lld@scale.test", (long long)i);
        snprintf(name, sizeof(name), "User %lld", (long long)i);
        const char *v[] = {id, email, name, hash, "1", "0", "0", now, now};
        row(b, v);
    }
    batch_done(b);
    free(b);
    have_users = to;
}

static void seed_orgs(pl_db_t *db, int64_t to)
{
    batch_t *o = malloc(sizeof(*o)), *m = malloc(sizeof(*m));
    batch_init(o, db, "organizations", "id, name, slug, personal, created_at, updated_at", 6, NULL);
    batch_init(m, db, "memberships", "org_id, user_id, role, created_at", 4, NULL);
    char now[24];
    snprintf(now, sizeof(now), "%lld", (long long)pl_now_ms());
    for (int64_t i = have_orgs; i < to; i++) {
        char id[37], name[32], slug[32];
        make_id(KIND_ORG, i, id);
        snprintf(name, sizeof(name), i == BIG_ORG ? "Big" : "Org %lld", (long long)i);
        snprintf(slug, sizeof(slug), i == BIG_ORG ? "big" : "scale-org-%lld", (long long)i);
        const char *ov[] = {id, name, slug, "0", now, now};
        row(o, ov);
    }
    batch_done(o); /* the organizations before their memberships */
    for (int64_t i = have_orgs; i < to; i++) {
        char id[37];
        make_id(KIND_ORG, i, id);
        int64_t size = org_size(i);
        if (size > have_users)
            size = have_users;
        int64_t start =
            i == BIG_ORG ? 0 : (int64_t)(mix((uint64_t)i ^ 0x5eed) % (uint64_t)have_users);
        for (int64_t j = 0; j < size; j++) {
            char uid[37];
            make_id(KIND_USER, (start + j) % have_users, uid);
            const char *mv[] = {id, uid, j ? "member" : "owner", now};
            row(m, mv);
        }
    }
    batch_done(m);
    free(o);
    free(m);
    have_orgs = to;
}

typedef struct {
    int64_t seq;
    char hash[65];
} head_t;

static void load_heads(pl_db_t *db, head_t *heads)
{
    for (int64_t i = 0; i < have_orgs; i++) {
        heads[i].seq = 0;
        memset(heads[i].hash, '0', 64);
        heads[i].hash[64] = 0;
    }
    pl_stmt_t *st = pl_db_prepare(db, "SELECT chain, seq, hash FROM audit_heads");
    if (!st)
        die(db, "audit_heads");
    int rc;
    while ((rc = pl_stmt_step(st)) == 1) {
        const char *chain = pl_stmt_col_text(st, 0);
        unsigned kind = 0;
        unsigned long long idx = 0;
        if (sscanf(chain, "%08x-0000-7000-8000-%12llx", &kind, &idx) == 2 && kind == KIND_ORG &&
            (int64_t)idx < have_orgs) {
            heads[idx].seq = pl_stmt_col_int64(st, 1);
            snprintf(heads[idx].hash, 65, "%s", pl_stmt_col_text(st, 2));
        }
    }
    pl_stmt_reset(st);
    if (rc < 0)
        die(db, "audit_heads");
}

/* Appends n events to org's chain. */
static void append_events(batch_t *b, head_t *h, int64_t org, int64_t n)
{
    char chain[37], actor[37];
    make_id(KIND_ORG, org, chain);
    int64_t owner =
        org == BIG_ORG
            ? 0
            : (int64_t)(mix((uint64_t)org ^ 0x5eed) % (uint64_t)(have_users ? have_users : 1));
    make_id(KIND_USER, owner, actor);
    pl_buf_t buf;
    pl_buf_init(&buf, 1 << 20);
    for (int64_t k = 0; k < n; k++) {
        char id[37], created[32], seq[24], created_ms[24], hash[65];
        int64_t ms = event_base_ms + have_events;
        make_id(KIND_EVENT, have_events++, id);
        pl_time_format(ms, created);
        int64_t s = ++h->seq;
        json_t *e = json_pack(
            "{s:s, s:I, s:s, s:s, s:{s:s, s:s}, s:n, s:n, s:n, s:n, s:{s:I}, s:s, "
            "s:s}",
            "id", id, "seq", (json_int_t)s, "org_id", chain, "action", "org.updated", "actor",
            "type", "user", "id", actor, "target", "ip", "user_agent", "request_id", "data", "n",
            (json_int_t)s, "created_at", created, "prev_hash", h->hash);
        buf.len = 0;
        if (!e || pl_buf_append(&buf, h->hash, 64) || pl_audit_canonical(e, &buf)) {
            fprintf(stderr, "scale_seed: cannot build an event\n");
            exit(1);
        }
        json_decref(e);
        pl_sha256_hex(buf.ptr, buf.len, hash);
        char data[40];
        snprintf(data, sizeof(data), "{\"n\":%lld}", (long long)s);
        snprintf(seq, sizeof(seq), "%lld", (long long)s);
        snprintf(created_ms, sizeof(created_ms), "%lld", (long long)ms);
        const char *v[] = {chain, seq,  id,   chain, "org.updated", "user",     actor,   NULL,
                           NULL,  NULL, NULL, NULL,  data,          created_ms, h->hash, hash};
        row(b, v);
        memcpy(h->hash, hash, 65);
    }
    pl_buf_free(&buf);
}

static void seed_events(pl_db_t *db, int64_t to)
{
    int64_t add = to - have_events;
    if (add <= 0 || have_orgs == 0)
        return;
    head_t *heads = calloc((size_t)have_orgs, sizeof(*heads));
    load_heads(db, heads);
    batch_t *b = malloc(sizeof(*b));
    batch_init(b, db, "audit_events",
               "chain, seq, id, org_id, action, actor_type, actor_id, target_type, target_id, ip, "
               "user_agent, request_id, data, created_at, prev_hash, hash",
               16, NULL);
    int64_t big = add / 10, rest = add - big;
    append_events(b, &heads[BIG_ORG], BIG_ORG, big);
    int64_t others = have_orgs > 1 ? have_orgs - 1 : 1;
    for (int64_t i = 1; i <= others && i < have_orgs; i++)
        append_events(b, &heads[i], i, rest / others + (i <= rest % others ? 1 : 0));
    batch_done(b);
    free(b);
    /* the heads of every chain written */
    batch_t *hb = malloc(sizeof(*hb));
    batch_init(hb, db, "audit_heads", "chain, seq, hash, anchor_seq, anchor_hash", 5,
               " ON CONFLICT (chain) DO UPDATE SET seq = excluded.seq, hash = excluded.hash");
    static const char zero[] = "0000000000000000000000000000000000000000000000000000000000000000";
    for (int64_t i = 0; i < have_orgs; i++) {
        if (!heads[i].seq)
            continue;
        char chain[37], seq[24];
        make_id(KIND_ORG, i, chain);
        snprintf(seq, sizeof(seq), "%lld", (long long)heads[i].seq);
        const char *v[] = {chain, seq, heads[i].hash, "0", zero};
        row(hb, v);
    }
    batch_done(hb);
    free(hb);
    free(heads);
}

static void usage(void)
{
    fprintf(stderr, "usage: scale_seed (--sqlite FILE | --pg URL) --users N --orgs N --audit N\n");
    exit(2);
}

int main(int argc, char **argv)
{
    const char *sqlite = NULL, *pg = NULL;
    int64_t users = -1, orgs = -1, events = -1;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--sqlite"))
            sqlite = argv[i + 1];
        else if (!strcmp(argv[i], "--pg"))
            pg = argv[i + 1];
        else if (!strcmp(argv[i], "--users"))
            users = atoll(argv[i + 1]);
        else if (!strcmp(argv[i], "--orgs"))
            orgs = atoll(argv[i + 1]);
        else if (!strcmp(argv[i], "--audit"))
            events = atoll(argv[i + 1]);
        else
            usage();
    }
    if (!!sqlite == !!pg || users < 1 || orgs < 1 || events < 0 || argc % 2 != 1)
        usage();
    pl_db_config_t cfg = {.engine = sqlite ? PL_DB_SQLITE : PL_DB_POSTGRES,
                          .sqlite_path = sqlite,
                          .pg_url = pg,
                          .sqlite_sync_full = false,
                          .busy_timeout_ms = 5000};
    pl_db_configure(&cfg);
    pl_password_init(19922944, 2); /* the server's defaults */
    pl_db_t *db = NULL;
    if (pl_db_open(&db)) {
        fprintf(stderr, "scale_seed: cannot open the database\n");
        return 1;
    }
    if (sqlite) {
        pl_db_exec(db, "PRAGMA cache_size = -1048576"); /* 1 GiB for the index b-trees */
        batch_rows = 8;
    }
    int64_t t0 = pl_now_ms();
    pl_progress_start(&progress, "seeding", "rows");
    if (pl_db_begin(db))
        die(db, "begin");
    read_state(db);
    if (users > have_users)
        seed_users(db, users);
    if (orgs > have_orgs)
        seed_orgs(db, orgs);
    if (events > have_events)
        seed_events(db, events);
    write_state(db);
    if (pl_db_commit(db))
        die(db, "commit");
    pl_progress_finish(&progress);
    if (pg)
        pl_db_exec(db, "ANALYZE");
    else
        pl_db_exec(db, "PRAGMA optimize");
    /* a small org (3 to 10 members) for the members list */
    int64_t small = 1;
    while (small < have_orgs && (org_size(small) < 3 || org_size(small) > 10))
        small++;
    char big_id[37], small_id[37], small_owner[64] = "";
    make_id(KIND_ORG, BIG_ORG, big_id);
    make_id(KIND_ORG, small, small_id);
    /* its owner as seeded (the users there were when the org was made) */
    pl_stmt_t *st = pl_db_prepare(db, "SELECT u.email FROM memberships m JOIN users u ON u.id = "
                                      "m.user_id WHERE m.org_id = $1 AND m.role = 'owner'");
    if (!st)
        die(db, "memberships");
    pl_stmt_bind_text(st, 1, small_id);
    if (pl_stmt_step(st) == 1)
        snprintf(small_owner, sizeof(small_owner), "%s", pl_stmt_col_text(st, 0));
    pl_stmt_reset(st);
    printf("{\"users\":%lld,\"orgs\":%lld,\"audit_events\":%lld,\"seconds\":%.1f,"
           "\"big_org\":\"%s\",\"big_owner\":\"user0@scale.test\",\"small_org\":\"%s\","
           "\"small_owner\":\"%s\",\"password\":\"%s\"}\n",
           (long long)have_users, (long long)have_orgs, (long long)have_events,
           (double)(pl_now_ms() - t0) / 1000.0, big_id, small_id, small_owner, PASSWORD);
    pl_db_close(db);
    return 0;
}
