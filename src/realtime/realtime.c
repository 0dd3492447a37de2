/* realtime.c - visibility rules, type filters, tickets, the activity feed,
 * and the stream registry with its fan-out thread.
 *
 * The registry holds every open stream of this instance, indexed by
 * organization (for delivery) and by user (for the checks an account event
 * triggers). Request threads only add streams; everything else (reading
 * events, writing them, heartbeats, checks, removal) happens on the fan-out
 * thread, so a stream is freed by the thread that walks the lists. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PL_REALTIME_INTERNAL
#include "core/crypto.h"
#include "core/metrics.h"
#include "rbac/rbac.h"
#include "realtime/realtime.h"
#include "realtime/realtime_store.h"

#define USER_CHANNEL   "plinth_users"     /* payload: a user id */
#define FEED_CAP       (4u * 1024 * 1024) /* bytes queued per stream before it is cut off */
#define REPLAY_MAX     1000               /* events a resume replays at most */
#define REPLAY_WINDOW  (24LL * 3600 * 1000)
#define BATCH          500
#define SWEEP_MS       (60LL * 1000) /* every stream's caller is re-checked this often */
#define USER_SLACK_MS  5000          /* commits that land late, by creation time */
#define RECENT         64            /* user-stream items remembered to skip repeats */
#define BUCKETS        1024
#define PENDING_MAX    64
#define ACTIVITY_SCAN  5000 /* events scanned at most for one page of the feed */
#define ACTIVITY_BATCH 200

int pl_realtime_max_streams = 10000;
int pl_realtime_heartbeat_s = 15;

/* Appends a string literal. */
#define LIT(b, s) pl_buf_append((b), (s), sizeof(s) - 1)

/* ---- visibility rules ---- */

#define MAX_RULES 128

static const pl_event_rule_t *rules[MAX_RULES];
static int nrules;
static pthread_mutex_t rules_lock = PTHREAD_MUTEX_INITIALIZER;

static const pl_event_rule_t builtin_rules[] = {
    {"org.*", "org.read", NULL},
    {"member.*", "member.read", NULL},
    {"invitation.*", "member.invite", NULL},
    {"team.*", "team.read", NULL},
    {"role.*", "role.read", NULL},
    {"apikey.*", "apikey.read", NULL},
    {"webhook.*", "webhook.read", NULL},
    {"file.*", "file.read", NULL},
    {"subscription.*", "billing.read", NULL},
    {0},
};
static const pl_event_rule_t default_rule = {"*", "audit.read", NULL};

void pl_realtime_rules_add(const pl_event_rule_t *list)
{
    pthread_mutex_lock(&rules_lock);
    for (const pl_event_rule_t *r = list; r && r->pattern; r++) {
        bool known = false;
        for (int i = 0; i < nrules && !known; i++)
            known = !strcmp(rules[i]->pattern, r->pattern);
        if (!known && nrules < MAX_RULES)
            rules[nrules++] = r;
    }
    pthread_mutex_unlock(&rules_lock);
}

/* The rule of an action: its exact rule, else its noun's, else the default.
 * Rules are added at start only, so reading them needs no lock after. */
static const pl_event_rule_t *rule_for(const char *action)
{
    const char *dot = strchr(action, '.');
    size_t noun = dot ? (size_t)(dot - action) : strlen(action);
    const pl_event_rule_t *by_noun = NULL;
    for (int i = 0; i < nrules; i++) {
        const char *p = rules[i]->pattern;
        if (!strcmp(p, action))
            return rules[i];
        if (!by_noun && !strncmp(p, action, noun) && !strcmp(p + noun, ".*"))
            by_noun = rules[i];
    }
    return by_noun ? by_noun : &default_rule;
}

/* An event row as subscribers see it, its data parsed (the caller frees). */
static pl_event_t event_of(const pl_rt_event_t *e)
{
    json_t *data = e->data ? json_loads(e->data, JSON_DECODE_ANY, NULL) : NULL;
    pl_event_t ev = {
        .id = e->id,
        .org_id = e->org_id,
        .seq = e->seq,
        .action = e->action,
        .actor_type = e->actor_type,
        .actor_id = e->actor_id,
        .target_type = e->target_type,
        .target_id = e->target_id,
        .data = data ? data : json_object(),
        .created_at = e->created_at,
        .request_id = e->request_id,
    };
    return ev;
}

static bool allowed(pl_db_t *db, const pl_viewer_t *v, const pl_event_rule_t *r,
                    const pl_event_t *ev, const pl_rt_event_t *row)
{
    if (r->perm && !pl_perms_has(v->perms, pl_perm_bit(r->perm)))
        return false;
    if (!r->check)
        return true;
    if (ev)
        return r->check(db, v, ev);
    pl_event_t parsed = event_of(row);
    bool ok = r->check(db, v, &parsed);
    json_decref(parsed.data);
    return ok;
}

bool pl_realtime_visible(pl_db_t *db, const pl_viewer_t *viewer, const pl_event_t *ev)
{
    return allowed(db, viewer, rule_for(ev->action), ev, NULL);
}

static bool row_visible(pl_db_t *db, const pl_viewer_t *viewer, const pl_rt_event_t *e)
{
    return allowed(db, viewer, rule_for(e->action), NULL, e);
}

/* ---- type filters ---- */

static bool word_ok(const char *s, size_t n)
{
    if (!n)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return false;
    }
    return true;
}

/* "*", "noun.*" or "noun.verb" */
static bool pattern_ok(const char *p, size_t n)
{
    if (n == 1 && p[0] == '*')
        return true;
    const char *dot = memchr(p, '.', n);
    if (!dot)
        return false;
    size_t a = (size_t)(dot - p), b = n - a - 1;
    return word_ok(p, a) && ((b == 1 && dot[1] == '*') || word_ok(dot + 1, b));
}

int pl_types_parse(pl_ctx_t *ctx, const char *text, pl_types_t *out)
{
    out->n = 0;
    if (!text || !*text)
        return PL_OK;
    for (const char *s = text;;) {
        const char *e = strchr(s, ',');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        while (n && *s == ' ')
            s++, n--;
        while (n && s[n - 1] == ' ')
            n--;
        if (n) {
            if (n >= sizeof(out->pattern[0]) || !pattern_ok(s, n))
                return pl_fail(ctx, 400, "bad_request",
                               "types lists actions (member.invited) or patterns (member.*), "
                               "separated by commas.");
            if (out->n == PL_TYPES_MAX)
                return pl_fail(ctx, 400, "bad_request", "types lists at most 32 patterns.");
            memcpy(out->pattern[out->n], s, n);
            out->pattern[out->n][n] = '\0';
            if (n == 1) { /* "*": every type */
                out->n = 0;
                return PL_OK;
            }
            out->n++;
        }
        if (!e)
            break;
        s = e + 1;
    }
    return PL_OK;
}

static bool pattern_match(const char *p, const char *action)
{
    size_t n = strlen(p);
    if (n >= 2 && p[n - 2] == '.' && p[n - 1] == '*')
        return !strncmp(p, action, n - 1);
    return !strcmp(p, action);
}

bool pl_types_match(const pl_types_t *t, const char *action)
{
    if (!t || !t->n)
        return true;
    for (int i = 0; i < t->n; i++)
        if (pattern_match(t->pattern[i], action))
            return true;
    return false;
}

/* A stream keeps its filter compactly: patterns one after another, each
 * NUL-terminated, an empty one last; NULL for every type. */
static char *types_pack(const pl_types_t *t)
{
    if (!t || !t->n)
        return NULL;
    size_t n = 1;
    for (int i = 0; i < t->n; i++)
        n += strlen(t->pattern[i]) + 1;
    char *p = pl_xmalloc(n), *w = p;
    for (int i = 0; i < t->n; i++) {
        size_t k = strlen(t->pattern[i]) + 1;
        memcpy(w, t->pattern[i], k);
        w += k;
    }
    *w = '\0';
    return p;
}

static bool packed_match(const char *packed, const char *action)
{
    if (!packed)
        return true;
    for (const char *p = packed; *p; p += strlen(p) + 1)
        if (pattern_match(p, action))
            return true;
    return false;
}

/* ---- messages ---- */

static void put_str(pl_buf_t *b, const char *s)
{
    if (!s) {
        LIT(b, "null");
        return;
    }
    LIT(b, "\"");
    pl_buf_append_json_escaped(b, s, strlen(s));
    LIT(b, "\"");
}

/* The event as streams, the activity feed and webhooks show it: the audit
 * event as exported, without ip, user_agent, prev_hash and hash. */
static void event_json(pl_buf_t *b, const pl_rt_event_t *e)
{
    char created[32];
    pl_time_format(e->created_at, created);
    LIT(b, "{\"id\":");
    put_str(b, e->id);
    pl_buf_appendf(b, ",\"seq\":%lld,\"org_id\":", (long long)e->seq);
    put_str(b, e->org_id);
    LIT(b, ",\"action\":");
    put_str(b, e->action);
    LIT(b, ",\"actor\":{\"type\":");
    put_str(b, e->actor_type);
    LIT(b, ",\"id\":");
    put_str(b, e->actor_id);
    LIT(b, "},\"target\":");
    if (e->target_type) {
        LIT(b, "{\"type\":");
        put_str(b, e->target_type);
        LIT(b, ",\"id\":");
        put_str(b, e->target_id);
        LIT(b, "}");
    } else {
        LIT(b, "null");
    }
    LIT(b, ",\"request_id\":");
    put_str(b, e->request_id);
    LIT(b, ",\"data\":");
    /* stored as canonical JSON: one line already */
    const char *data = e->data && *e->data ? e->data : "{}";
    pl_buf_append(b, data, strlen(data));
    LIT(b, ",\"created_at\":\"");
    pl_buf_append(b, created, strlen(created));
    LIT(b, "\"}");
}

/* "id: <seq>\nevent: <action>\ndata: <event>\n\n" */
static void event_message(pl_buf_t *b, const pl_rt_event_t *e)
{
    b->len = 0;
    pl_buf_appendf(b, "id: %lld\nevent: %s\ndata: ", (long long)e->seq, e->action);
    event_json(b, e);
    LIT(b, "\n\n");
}

static const char reset_fmt[] = "id: %s\nevent: reset\ndata: {\"last_event_id\":\"%s\"}\n\n";
static const char ping[] = ": ping\n\n";
static const char hello[] = ": connected\n\n";

/* ---- tickets ---- */

int pl_realtime_ticket_issue(pl_db_t *db, pl_ctx_t *ctx, bool org, char token[64])
{
    const pl_principal_t *p = &ctx->principal;
    pl_rt_ticket_t t = {
        .org_id = org ? ctx->tenant.org_id : NULL,
        .user_id = p->user_id[0] ? p->user_id : NULL,
        .session_id = p->session_id[0] ? p->session_id : NULL,
        .api_key_id = p->api_key_id[0] ? p->api_key_id : NULL,
    };
    char hash[65];
    pl_token_new(32, token, 64);
    pl_sha256_hex(token, strlen(token), hash);
    int64_t now = pl_now_ms();
    int rc = pl_db_begin(db);
    if (rc)
        return rc;
    /* the caller's spent and expired tickets go as new ones come: the table
     * holds about a minute of each organization's and user's tickets */
    if (t.org_id || t.user_id)
        rc = pl_rt_store_ticket_purge(db, t.org_id, t.user_id, now);
    if (!rc)
        rc = pl_rt_store_ticket_insert(db, hash, &t, now + PL_TICKET_TTL_S * 1000LL, now);
    return pl_db_finish(db, rc);
}

static int bad_ticket(pl_ctx_t *ctx, const char *detail)
{
    return pl_fail(ctx, 401, "invalid_token", detail);
}

/* perms and level of a member's role (built-in, or custom with its text). */
static bool role_perms(const char *role, int level, const char *perm_text, int *out_level,
                       pl_perms_t *out)
{
    pl_role_t r;
    if (perm_text) {
        pl_perms_from_text(perm_text, out);
        *out_level = level;
        return true;
    }
    if (!pl_rbac_builtin(role, &r))
        return false;
    *out = r.perms;
    *out_level = r.level;
    return true;
}

int pl_realtime_ticket_redeem(pl_db_t *db, pl_ctx_t *ctx, const char *ticket, const char *org_ref)
{
    if (strlen(ticket) > 128)
        return bad_ticket(ctx, "The ticket is malformed.");
    char hash[65], org_id[PL_ID_LEN] = "";
    pl_sha256_hex(ticket, strlen(ticket), hash);
    int64_t now = pl_now_ms();
    pl_rt_ticket_t t;
    /* spent in the request's own transaction: on SQLite a read scope that has
     * read nothing yet, which this write turns into a write transaction (a
     * request that fails afterwards rolls the spending back with it) */
    int rc = pl_db_set_context(db, "app.stream_ticket", hash);
    if (!rc)
        rc = pl_rt_store_ticket_spend(db, ctx->arena, hash, now, &t);
    if (rc == PL_ENOTFOUND)
        return bad_ticket(ctx, "The ticket is unknown, spent or expired.");
    if (rc)
        return rc;
    if (org_ref &&
        (!t.org_id || pl_rt_store_org_id(db, org_ref, org_id) || strcmp(org_id, t.org_id)))
        return bad_ticket(ctx, "This ticket is for another stream.");
    if (!org_ref && t.org_id)
        return bad_ticket(ctx, "This ticket is for another stream.");
    pl_principal_t *p = &ctx->principal;
    if (t.api_key_id) {
        int level;
        const char *perms;
        int64_t expires;
        if ((rc = pl_db_set_context(db, "app.org_id", t.org_id)))
            return rc;
        rc = pl_rt_store_key(db, ctx->arena, t.org_id, t.api_key_id, &level, &perms, &expires);
        if (rc == PL_ENOTFOUND || (!rc && expires && expires <= now))
            return bad_ticket(ctx, "The API key that issued this ticket is revoked or expired.");
        if (rc)
            return rc;
        p->authenticated = true;
        snprintf(p->api_key_id, sizeof(p->api_key_id), "%s", t.api_key_id);
        pl_tenant_t *tn = &ctx->tenant;
        tn->resolved = true;
        snprintf(tn->org_id, sizeof(tn->org_id), "%s", t.org_id);
        tn->level = level;
        pl_perms_from_text(perms, &tn->perms);
        tn->is_api_key = true;
        return PL_OK;
    }
    if (!t.user_id || !t.session_id)
        return bad_ticket(ctx, "The ticket is malformed.");
    rc = pl_rt_store_session_live(db, t.session_id, t.user_id, now);
    if (rc < 0)
        return rc;
    if (rc == 0)
        return pl_fail(ctx, 401, "session_revoked", "The session that issued this ticket ended.");
    p->authenticated = true;
    snprintf(p->user_id, sizeof(p->user_id), "%s", t.user_id);
    snprintf(p->session_id, sizeof(p->session_id), "%s", t.session_id);
    return pl_db_set_context(db, "app.user_id", t.user_id);
}

/* ---- the registry ---- */

typedef struct stream stream_t;

typedef struct {
    int64_t since;         /* items created at or after this are read */
    char after[PL_ID_LEN]; /* ... and with an id above this */
    char recent[RECENT][PL_ID_LEN];
    int nrecent, next_recent;
} user_state_t;

struct stream {
    pl_feed_t *feed;
    bool user_stream; /* the user's notification stream; else the org's events */
    bool dead;
    bool recheck;
    char org_id[PL_ID_LEN];
    char user_id[PL_ID_LEN];    /* "" for an API key */
    char session_id[PL_ID_LEN]; /* "" for an API key */
    char key_id[PL_ID_LEN];     /* "" for a user */
    int level;
    pl_perms_t perms;
    int64_t key_expires_at; /* 0: never */
    int64_t checked_at;
    char *types;           /* packed; NULL: every type */
    int64_t last_seq;      /* the last event of the org considered for this stream */
    user_state_t *u;       /* user streams */
    stream_t *next, *prev; /* every stream */
    stream_t *org_next;    /* the org's streams */
    stream_t *user_next;   /* the user's streams */
};

typedef struct group {
    char key[PL_ID_LEN];
    stream_t *head;
    struct group *next;
} group_t;

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static stream_t *streams;
static group_t *org_groups[BUCKETS];
static group_t *user_groups[BUCKETS];
static bool accepting; /* between start and stop */

static uint32_t hash_key(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h % BUCKETS;
}

static group_t *group_find(group_t **table, const char *key, bool create)
{
    group_t **slot = &table[hash_key(key)];
    for (group_t *g = *slot; g; g = g->next)
        if (!strcmp(g->key, key))
            return g;
    if (!create)
        return NULL;
    group_t *g = pl_xcalloc(1, sizeof(*g));
    snprintf(g->key, sizeof(g->key), "%s", key);
    g->next = *slot;
    *slot = g;
    return g;
}

static void group_drop_empty(group_t **table, const char *key)
{
    group_t **slot = &table[hash_key(key)];
    for (group_t **pp = slot; *pp; pp = &(*pp)->next) {
        if (!strcmp((*pp)->key, key)) {
            if (!(*pp)->head) {
                group_t *g = *pp;
                *pp = g->next;
                free(g);
            }
            return;
        }
    }
}

static void stream_free(stream_t *s)
{
    if (!s)
        return;
    if (s->feed) {
        pl_feed_close(s->feed);
        pl_feed_release(s->feed);
    }
    free(s->types);
    free(s->u);
    free(s);
}

/* Under reg_lock. */
static void link_stream(stream_t *s)
{
    s->next = streams;
    if (streams)
        streams->prev = s;
    streams = s;
    if (!s->user_stream) {
        group_t *g = group_find(org_groups, s->org_id, true);
        s->org_next = g->head;
        g->head = s;
    }
    if (s->user_id[0]) {
        group_t *g = group_find(user_groups, s->user_id, true);
        s->user_next = g->head;
        g->head = s;
    }
}

/* Under reg_lock. */
static void unlink_stream(stream_t *s)
{
    if (s->prev)
        s->prev->next = s->next;
    else
        streams = s->next;
    if (s->next)
        s->next->prev = s->prev;
    if (!s->user_stream) {
        group_t *g = group_find(org_groups, s->org_id, false);
        for (stream_t **pp = g ? &g->head : NULL; pp && *pp; pp = &(*pp)->org_next)
            if (*pp == s) {
                *pp = s->org_next;
                break;
            }
        group_drop_empty(org_groups, s->org_id);
    }
    if (s->user_id[0]) {
        group_t *g = group_find(user_groups, s->user_id, false);
        for (stream_t **pp = g ? &g->head : NULL; pp && *pp; pp = &(*pp)->user_next)
            if (*pp == s) {
                *pp = s->user_next;
                break;
            }
        group_drop_empty(user_groups, s->user_id);
    }
}

/* ---- wake-ups ---- */

static pthread_mutex_t wake_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake_cond;
static char pending_orgs[PENDING_MAX][PL_ID_LEN];
static int npending_orgs;
static char pending_users[PENDING_MAX][PL_ID_LEN];
static int npending_users;
static bool pending_all, pending_instance, pending_every_user, stopping;
static pthread_t fanout_thread;
static bool fanout_running;

/* Under wake_lock. */
static void pend(char list[][PL_ID_LEN], int *n, bool *overflow, const char *key)
{
    size_t len = strlen(key);
    if (len >= PL_ID_LEN)
        return; /* not an id */
    for (int i = 0; i < *n; i++)
        if (!strcmp(list[i], key))
            return;
    if (*n == PENDING_MAX)
        *overflow = true;
    else
        memcpy(list[(*n)++], key, len + 1);
}

static void wake_org(const char *org)
{
    pthread_mutex_lock(&wake_lock);
    if (!org)
        pending_all = pending_instance = pending_every_user = true;
    else if (!strcmp(org, "instance"))
        pending_instance = true;
    else
        pend(pending_orgs, &npending_orgs, &pending_all, org);
    pthread_cond_signal(&wake_cond);
    pthread_mutex_unlock(&wake_lock);
}

static void wake_user(const char *user)
{
    pthread_mutex_lock(&wake_lock);
    if (!user)
        pending_every_user = true;
    else
        pend(pending_users, &npending_users, &pending_every_user, user);
    pthread_cond_signal(&wake_cond);
    pthread_mutex_unlock(&wake_lock);
}

/* SQLite: users this thread created items for in its open transaction,
 * woken when the transaction's events are (same thread, after commit). */
#define LOCAL_USERS 8
static __thread char local_users[LOCAL_USERS][PL_ID_LEN];
static __thread int nlocal_users;
static __thread bool local_users_many;

int pl_realtime_user_changed(pl_db_t *db, const char *user_id)
{
    if (pl_db_engine() == PL_DB_POSTGRES)
        return pl_db_notify(db, USER_CHANNEL, user_id);
    for (int i = 0; i < nlocal_users; i++)
        if (!strcmp(local_users[i], user_id))
            return PL_OK;
    if (nlocal_users == LOCAL_USERS)
        local_users_many = true;
    else
        snprintf(local_users[nlocal_users++], PL_ID_LEN, "%s", user_id);
    return PL_OK;
}

/* The event outbox's watcher: on the committing thread (SQLite) or the
 * listener thread (PostgreSQL). */
static void on_events(const char *org, void *arg)
{
    PL_UNUSED(arg);
    wake_org(org);
    if (local_users_many)
        wake_user(NULL);
    for (int i = 0; i < nlocal_users && !local_users_many; i++)
        wake_user(local_users[i]);
    nlocal_users = 0;
    local_users_many = false;
}

static void on_user_notify(const char *payload)
{
    wake_user(payload && payload[0] ? payload : NULL);
}

/* ---- opening streams ---- */

static const pl_user_source_t *user_source;

void pl_realtime_user_source(const pl_user_source_t *src)
{
    user_source = src;
}

static int unavailable(pl_ctx_t *ctx)
{
    pl_fail(ctx, 503, "unavailable", "This instance serves as many streams as it may; try again.");
    ctx->err.retry_after = 5;
    return PL_EBUSY;
}

static stream_t *stream_new(pl_ctx_t *ctx, bool user_stream)
{
    pl_feed_t *feed = pl_feed_new(FEED_CAP);
    if (!feed)
        return NULL;
    stream_t *s = pl_xcalloc(1, sizeof(*s));
    s->feed = feed;
    s->user_stream = user_stream;
    const pl_principal_t *p = &ctx->principal;
    snprintf(s->user_id, sizeof(s->user_id), "%s", p->user_id);
    snprintf(s->session_id, sizeof(s->session_id), "%s", p->session_id);
    snprintf(s->key_id, sizeof(s->key_id), "%s", p->api_key_id);
    if (!user_stream) {
        snprintf(s->org_id, sizeof(s->org_id), "%s", ctx->tenant.org_id);
        s->level = ctx->tenant.level;
        s->perms = ctx->tenant.perms;
    }
    s->checked_at = pl_now_ms();
    pl_feed_write(feed, hello, sizeof(hello) - 1);
    return s;
}

/* Hands s to the fan-out; *feed gets a reference for the caller. */
static int stream_register(pl_ctx_t *ctx, stream_t *s, pl_feed_t **feed)
{
    pthread_mutex_lock(&reg_lock);
    bool ok = accepting;
    if (ok) {
        link_stream(s);
        pl_feed_ref(s->feed);
        *feed = s->feed;
    }
    pthread_mutex_unlock(&reg_lock);
    if (!ok) {
        stream_free(s);
        return unavailable(ctx);
    }
    /* what committed since the caller's snapshot reaches the stream now */
    if (s->user_stream)
        wake_user(s->user_id);
    else
        wake_org(s->org_id);
    return PL_OK;
}

static pl_viewer_t viewer_of(const stream_t *s)
{
    pl_viewer_t v = {
        .org_id = s->org_id,
        .user_id = s->user_id[0] ? s->user_id : NULL,
        .api_key_id = s->key_id[0] ? s->key_id : NULL,
        .level = s->level,
        .perms = &s->perms,
    };
    return v;
}

/* Writes "event: reset" naming the position the stream continues from. */
static void write_reset(stream_t *s, const char *id)
{
    char msg[200];
    int n = snprintf(msg, sizeof(msg), reset_fmt, id, id);
    pl_feed_write(s->feed, msg, (size_t)n);
}

/* The events of the org after last, up to head, or a reset. */
static int replay_org(pl_db_t *db, pl_arena_t *a, stream_t *s, int64_t last, int64_t head)
{
    char head_id[24];
    snprintf(head_id, sizeof(head_id), "%lld", (long long)head);
    if (last == head)
        return PL_OK;
    if (last > head || head - last > REPLAY_MAX) {
        write_reset(s, head_id);
        return PL_OK;
    }
    pl_rt_event_t *ev = pl_arena_alloc(a, REPLAY_MAX * sizeof(*ev));
    int n;
    int rc = pl_rt_store_events(db, a, s->org_id, last, head, REPLAY_MAX, ev, &n);
    if (rc)
        return rc;
    if (n == 0 || ev[0].seq != last + 1 || ev[0].created_at < pl_now_ms() - REPLAY_WINDOW) {
        write_reset(s, head_id); /* pruned, or too old to replay */
        return PL_OK;
    }
    pl_viewer_t v = viewer_of(s);
    pl_buf_t b;
    pl_buf_init(&b, FEED_CAP);
    for (int i = 0; i < n && !rc; i++) {
        if (!packed_match(s->types, ev[i].action) || !row_visible(db, &v, &ev[i]))
            continue;
        event_message(&b, &ev[i]);
        if (pl_feed_write(s->feed, b.ptr, b.len))
            rc = PL_ELIMIT;
    }
    pl_buf_free(&b);
    return rc == PL_ELIMIT ? PL_OK : rc; /* a cut-off stream ends; the client resumes */
}

int pl_realtime_open_org(pl_db_t *db, pl_ctx_t *ctx, const pl_types_t *types,
                         const char *last_event_id, pl_feed_t **feed)
{
    int64_t last = -1;
    if (last_event_id && *last_event_id &&
        pl_parse_int64(last_event_id, 0, INT64_MAX, &last) != PL_OK)
        return pl_fail(ctx, 400, "bad_request", "Last-Event-ID must be the id of an event.");
    stream_t *s = stream_new(ctx, false);
    if (!s)
        return unavailable(ctx);
    s->types = types_pack(types);
    int64_t head;
    int rc = pl_rt_store_head(db, s->org_id, &head);
    if (!rc && last >= 0)
        rc = replay_org(db, ctx->arena, s, last, head);
    if (rc) {
        stream_free(s);
        return rc;
    }
    s->last_seq = head;
    return stream_register(ctx, s, feed);
}

static void user_remember(user_state_t *u, const char *id)
{
    snprintf(u->recent[u->next_recent], PL_ID_LEN, "%s", id);
    u->next_recent = (u->next_recent + 1) % RECENT;
    if (u->nrecent < RECENT)
        u->nrecent++;
}

static bool user_seen(const user_state_t *u, const char *id)
{
    for (int i = 0; i < u->nrecent; i++)
        if (!strcmp(u->recent[i], id))
            return true;
    return false;
}

typedef struct {
    stream_t *s;
    pl_buf_t *b;
    int count;
    bool too_old;
    int64_t cutoff;
    int rc;
} user_emit_t;

static void user_message(pl_buf_t *b, const char *event, const char *id, const char *data)
{
    b->len = 0;
    pl_buf_appendf(b, "id: %s\nevent: %s\ndata: %s\n\n", id, event, data);
}

/* Replay: counts and checks the window before anything is written. */
static void replay_count(void *arg, const char *id, int64_t created_at, const char *data)
{
    PL_UNUSED(id);
    PL_UNUSED(data);
    user_emit_t *e = arg;
    if (e->count++ == 0 && created_at < e->cutoff)
        e->too_old = true;
}

/* Writes an item to a user stream unless it was sent already. */
static void user_emit(void *arg, const char *id, int64_t created_at, const char *data)
{
    user_emit_t *e = arg;
    stream_t *s = e->s;
    if (s->dead || user_seen(s->u, id))
        return;
    user_message(e->b, user_source->event, id, data);
    if (pl_feed_write(s->feed, e->b->ptr, e->b->len)) {
        s->dead = true;
        return;
    }
    user_remember(s->u, id);
    if (created_at - USER_SLACK_MS > s->u->since)
        s->u->since = created_at - USER_SLACK_MS;
    e->count++;
}

int pl_realtime_open_user(pl_db_t *db, pl_ctx_t *ctx, const char *last_event_id, pl_feed_t **feed)
{
    if (!user_source)
        return pl_fail(ctx, 404, "not_found", "No such resource.");
    if (last_event_id && *last_event_id && !pl_uuid_valid(last_event_id))
        return pl_fail(ctx, 400, "bad_request", "Last-Event-ID must be the id of a notification.");
    stream_t *s = stream_new(ctx, true);
    if (!s)
        return unavailable(ctx);
    s->u = pl_xcalloc(1, sizeof(*s->u));
    int64_t now = pl_now_ms();
    char newest[PL_ID_LEN] = "";
    int rc = user_source->newest(db, s->user_id, newest);
    if (!rc && last_event_id && *last_event_id && strcmp(last_event_id, newest) < 0) {
        user_emit_t count = {.s = s, .cutoff = now - REPLAY_WINDOW};
        rc = user_source->read(db, s->user_id, 0, last_event_id, REPLAY_MAX + 1, replay_count,
                               &count);
        if (!rc && (count.too_old || count.count > REPLAY_MAX)) {
            write_reset(s, newest);
        } else if (!rc) {
            pl_buf_t b;
            pl_buf_init(&b, FEED_CAP);
            user_emit_t e = {.s = s, .b = &b};
            rc = user_source->read(db, s->user_id, 0, last_event_id, REPLAY_MAX, user_emit, &e);
            pl_buf_free(&b);
        }
    }
    if (rc) {
        stream_free(s);
        return rc;
    }
    snprintf(s->u->after, sizeof(s->u->after), "%s", newest);
    s->u->since = now - USER_SLACK_MS;
    return stream_register(ctx, s, feed);
}

/* ---- checks of a stream's caller ---- */

/* Is the stream's caller still allowed to watch? Updates its permissions
 * (a changed role applies to the next event). Runs in a read transaction.
 * Returns false when the stream must end; errors keep it (checked again
 * at the next sweep). */
static bool caller_allowed(pl_db_t *db, pl_arena_t *a, stream_t *s, int64_t now)
{
    s->checked_at = now;
    if (s->session_id[0]) {
        int live = pl_rt_store_session_live(db, s->session_id, s->user_id, now);
        if (live == 0)
            return false;
        if (live < 0)
            return true;
    }
    if (s->user_stream)
        return true;
    if (pl_db_set_context(db, "app.org_id", s->org_id))
        return true;
    if (s->key_id[0]) {
        int level;
        const char *perms;
        int64_t expires;
        int rc = pl_rt_store_key(db, a, s->org_id, s->key_id, &level, &perms, &expires);
        if (rc == PL_ENOTFOUND || (!rc && expires && expires <= now))
            return false;
        if (!rc) {
            s->level = level;
            pl_perms_from_text(perms, &s->perms);
            s->key_expires_at = expires;
        }
        return true;
    }
    const char *role = NULL, *perm_text = NULL;
    int level = 0;
    int rc = pl_rt_store_member_role(db, a, s->org_id, s->user_id, &role, &level, &perm_text);
    if (rc == PL_ENOTFOUND)
        return false;
    if (!rc && !role_perms(role, level, perm_text, &s->level, &s->perms))
        return false;
    return true;
}

static void end_stream(stream_t *s)
{
    s->dead = true;
    pl_feed_close(s->feed);
}

/* ---- the fan-out thread ---- */

/* Delivers the org's new events to its streams. */
static void deliver_org(pl_db_t *db, pl_arena_t *a, const char *org)
{
    pthread_mutex_lock(&reg_lock);
    group_t *g = group_find(org_groups, org, false);
    int64_t after = INT64_MAX;
    for (stream_t *s = g ? g->head : NULL; s; s = s->org_next)
        if (!s->dead && s->last_seq < after)
            after = s->last_seq;
    pthread_mutex_unlock(&reg_lock);
    if (after == INT64_MAX)
        return;
    if (pl_db_begin_read(db))
        return;
    pl_buf_t msg;
    pl_buf_init(&msg, FEED_CAP);
    pl_rt_event_t *ev = pl_arena_alloc(a, BATCH * sizeof(*ev));
    int n = BATCH;
    int rc = pl_db_set_context(db, "app.org_id", org);
    while (!rc && n == BATCH) {
        if ((rc = pl_rt_store_events(db, a, org, after, INT64_MAX, BATCH, ev, &n)))
            break;
        int64_t now = pl_now_ms();
        pthread_mutex_lock(&reg_lock);
        g = group_find(org_groups, org, false);
        for (int i = 0; i < n; i++) {
            const pl_rt_event_t *e = &ev[i];
            /* an event about a stream's caller (a role change, a removal, a
             * revoked key) or about roles re-checks it after this event */
            bool about_roles = !strncmp(e->action, "role.", 5) || !strcmp(e->action, "org.deleted");
            msg.len = 0;
            for (stream_t *s = g ? g->head : NULL; s; s = s->org_next) {
                if (s->dead || e->seq <= s->last_seq)
                    continue;
                s->last_seq = e->seq;
                pl_viewer_t v = viewer_of(s);
                if (packed_match(s->types, e->action) && row_visible(db, &v, e)) {
                    if (!msg.len)
                        event_message(&msg, e);
                    if (pl_feed_write(s->feed, msg.ptr, msg.len)) {
                        s->dead = true;
                        continue;
                    }
                }
                bool about =
                    e->target_id && ((s->user_id[0] && !strcmp(e->target_id, s->user_id)) ||
                                     (s->key_id[0] && !strcmp(e->target_id, s->key_id)));
                if ((about || about_roles) && !caller_allowed(db, a, s, now))
                    end_stream(s);
            }
            after = e->seq;
        }
        pthread_mutex_unlock(&reg_lock);
        if (pl_db_set_context(db, "app.org_id", org)) /* checks may have moved it */
            break;
    }
    pl_buf_free(&msg);
    pl_db_rollback(db);
}

/* Delivers new items to the user's streams. */
static void deliver_user(pl_db_t *db, pl_arena_t *a, const char *user)
{
    if (!user_source)
        return;
    /* only this thread frees streams: the pointers stay valid unlocked */
    stream_t *mine[16];
    int n = 0;
    pthread_mutex_lock(&reg_lock);
    group_t *g = group_find(user_groups, user, false);
    for (stream_t *s = g ? g->head : NULL; s && n < (int)PL_ARRAY_LEN(mine); s = s->user_next)
        if (s->user_stream && !s->dead)
            mine[n++] = s;
    pthread_mutex_unlock(&reg_lock);
    if (!n || pl_db_begin_read(db))
        return;
    PL_UNUSED(a);
    pl_buf_t msg;
    pl_buf_init(&msg, FEED_CAP);
    if (!pl_db_set_context(db, "app.user_id", user)) {
        for (int i = 0; i < n; i++) {
            user_emit_t e = {.s = mine[i], .b = &msg};
            user_source->read(db, user, mine[i]->u->since, mine[i]->u->after, 100, user_emit, &e);
        }
    }
    pl_buf_free(&msg);
    pl_db_rollback(db);
}

static int64_t instance_cursor = -1;

/* Account events (sign-outs, revoked sessions, password changes, disabled
 * users) re-check the streams of the users they are about. */
static void scan_instance(pl_db_t *db, pl_arena_t *a)
{
    if (pl_db_begin_read(db))
        return;
    pthread_mutex_lock(&reg_lock);
    bool any = streams != NULL;
    pthread_mutex_unlock(&reg_lock);
    if (!any || instance_cursor < 0) {
        int64_t head;
        if (!pl_rt_store_head(db, "instance", &head))
            instance_cursor = head;
        pl_db_rollback(db);
        return;
    }
    pl_rt_event_t *ev = pl_arena_alloc(a, BATCH * sizeof(*ev));
    int n = BATCH;
    while (n == BATCH) {
        if (pl_rt_store_events(db, a, "instance", instance_cursor, INT64_MAX, BATCH, ev, &n))
            break;
        pthread_mutex_lock(&reg_lock);
        for (int i = 0; i < n; i++) {
            const char *ids[2] = {ev[i].actor_id, ev[i].target_id};
            for (int k = 0; k < 2; k++) {
                group_t *g = ids[k] ? group_find(user_groups, ids[k], false) : NULL;
                for (stream_t *s = g ? g->head : NULL; s; s = s->user_next)
                    s->recheck = true;
            }
            instance_cursor = ev[i].seq;
        }
        pthread_mutex_unlock(&reg_lock);
    }
    pl_db_rollback(db);
}

/* Re-checks the streams marked for it, and with sweep those not checked for
 * SWEEP_MS. */
static void recheck_marked(pl_db_t *db, pl_arena_t *a, bool sweep)
{
    int64_t now = pl_now_ms();
    stream_t **marked = NULL;
    size_t n = 0, size = 0;
    pthread_mutex_lock(&reg_lock);
    for (stream_t *s = streams; s; s = s->next) {
        if (!s->dead && sweep &&
            (now - s->checked_at >= SWEEP_MS || (s->key_expires_at && s->key_expires_at <= now)))
            s->recheck = true;
        if (s->dead || !s->recheck)
            continue;
        s->recheck = false;
        if (n == size) {
            size = size ? 2 * size : 64;
            marked = pl_xrealloc(marked, size * sizeof(*marked));
        }
        marked[n++] = s;
    }
    pthread_mutex_unlock(&reg_lock);
    /* the checks run unlocked, so opening streams never waits on them: only
     * this thread frees streams or reads their callers' permissions */
    if (n && !pl_db_begin_read(db)) {
        for (size_t i = 0; i < n; i++)
            if (!caller_allowed(db, a, marked[i], now))
                end_stream(marked[i]);
        pl_db_rollback(db);
    }
    free(marked);
}

static void heartbeat(void)
{
    pthread_mutex_lock(&reg_lock);
    for (stream_t *s = streams; s; s = s->next)
        if (!s->dead && pl_feed_probe(s->feed, ping, sizeof(ping) - 1))
            s->dead = true;
    pthread_mutex_unlock(&reg_lock);
}

/* Unlinks and frees the streams that ended or whose client went away. */
static void reap(bool all)
{
    stream_t *gone = NULL;
    pthread_mutex_lock(&reg_lock);
    for (stream_t *s = streams, *next; s; s = next) {
        next = s->next;
        if (all || s->dead || pl_feed_gone(s->feed)) {
            unlink_stream(s);
            s->next = gone;
            gone = s;
        }
    }
    pthread_mutex_unlock(&reg_lock);
    while (gone) {
        stream_t *next = gone->next;
        stream_free(gone);
        gone = next;
    }
}

/* Copies the keys of a group table (every org or user with streams). */
static int group_keys(group_t **table, char (*out)[PL_ID_LEN], int max)
{
    int n = 0;
    pthread_mutex_lock(&reg_lock);
    for (int i = 0; i < BUCKETS; i++)
        for (group_t *g = table[i]; g && n < max; g = g->next)
            snprintf(out[n++], PL_ID_LEN, "%s", g->key);
    pthread_mutex_unlock(&reg_lock);
    return n;
}

static void *fanout(void *arg)
{
    PL_UNUSED(arg);
    int64_t next_beat = pl_monotonic_us() + (int64_t)pl_realtime_heartbeat_s * 1000000;
    char(*orgs)[PL_ID_LEN] = pl_xmalloc(sizeof(char[PL_ID_LEN]) * (size_t)pl_realtime_max_streams);
    char(*users)[PL_ID_LEN] = pl_xmalloc(sizeof(char[PL_ID_LEN]) * (size_t)pl_realtime_max_streams);
    for (;;) {
        pthread_mutex_lock(&wake_lock);
        while (!stopping && !npending_orgs && !npending_users && !pending_all &&
               !pending_instance && !pending_every_user && pl_monotonic_us() < next_beat) {
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            ts.tv_sec += 1;
            pthread_cond_timedwait(&wake_cond, &wake_lock, &ts);
        }
        if (stopping) {
            pthread_mutex_unlock(&wake_lock);
            break;
        }
        bool all = pending_all, instance = pending_instance || pending_all,
             every_user = pending_every_user;
        int norgs = 0, nusers = 0;
        if (!all)
            for (; norgs < npending_orgs; norgs++)
                memcpy(orgs[norgs], pending_orgs[norgs], PL_ID_LEN);
        if (!every_user)
            for (; nusers < npending_users; nusers++)
                memcpy(users[nusers], pending_users[nusers], PL_ID_LEN);
        npending_orgs = npending_users = 0;
        pending_all = pending_instance = pending_every_user = false;
        pthread_mutex_unlock(&wake_lock);

        pl_db_t *db = pl_db_thread();
        if (!db) { /* try again in a second, from where we were */
            wake_org(NULL);
            struct timespec ts = {1, 0};
            nanosleep(&ts, NULL);
            continue;
        }
        pl_arena_t *a = pl_arena_create();
        bool beat = pl_monotonic_us() >= next_beat;
        if (beat) /* also catch what no wake-up announced (another process on SQLite) */
            all = instance = true;
        if (all)
            norgs = group_keys(org_groups, orgs, pl_realtime_max_streams);
        if (every_user)
            nusers = group_keys(user_groups, users, pl_realtime_max_streams);
        if (instance)
            scan_instance(db, a);
        for (int i = 0; i < norgs; i++)
            deliver_org(db, a, orgs[i]);
        for (int i = 0; i < nusers; i++)
            deliver_user(db, a, users[i]);
        if (beat) {
            heartbeat();
            next_beat = pl_monotonic_us() + (int64_t)pl_realtime_heartbeat_s * 1000000;
        }
        recheck_marked(db, a, beat);
        reap(false);
        pl_arena_destroy(a);
    }
    free(orgs);
    free(users);
    pl_db_thread_close();
    return NULL;
}

/* ---- the activity feed ---- */

int pl_realtime_activity(pl_db_t *db, pl_ctx_t *ctx, const pl_types_t *types, int64_t since,
                         int64_t before, int limit, pl_buf_t *out)
{
    pl_viewer_t v = {
        .org_id = ctx->tenant.org_id,
        .user_id = pl_ctx_user(ctx),
        .api_key_id = ctx->principal.api_key_id[0] ? ctx->principal.api_key_id : NULL,
        .level = ctx->tenant.level,
        .perms = &ctx->tenant.perms,
    };
    pl_rt_event_t *ev = pl_arena_alloc(ctx->arena, ACTIVITY_BATCH * sizeof(*ev));
    int items = 0, scanned = 0, n = ACTIVITY_BATCH, rc = PL_OK;
    int64_t cursor = before, next = 0;
    LIT(out, "{\"data\":[");
    while (n == ACTIVITY_BATCH && items < limit && scanned < ACTIVITY_SCAN) {
        if ((rc = pl_rt_store_events_desc(db, ctx->arena, ctx->tenant.org_id, cursor, since,
                                          ACTIVITY_BATCH, ev, &n)))
            return rc;
        int i = 0;
        for (; i < n && items < limit; i++) {
            scanned++;
            cursor = ev[i].seq;
            if (!pl_types_match(types, ev[i].action) || !row_visible(db, &v, &ev[i]))
                continue;
            if (items++)
                LIT(out, ",");
            event_json(out, &ev[i]);
        }
        /* more may follow: rows left in this batch, or a full batch */
        if (i < n || (n == ACTIVITY_BATCH && cursor > 1))
            next = cursor;
        else
            next = 0;
    }
    LIT(out, "],\"next_cursor\":");
    if (next) {
        char c[24];
        snprintf(c, sizeof(c), "%lld", (long long)next);
        put_str(out, c);
    } else {
        LIT(out, "null");
    }
    return LIT(out, "}");
}

/* ---- the module's life ---- */

static double streams_gauge(void)
{
    return (double)pl_feed_count();
}

int pl_realtime_init(void)
{
    pl_realtime_rules_add(builtin_rules);
    pl_feed_set_limit(pl_realtime_max_streams);
    pl_metrics_register_gauge("plinth_sse_streams", "Server-sent event streams open.",
                              streams_gauge);
    pl_events_watch(on_events, NULL);
    return pl_db_listen(USER_CHANNEL, on_user_notify);
}

int pl_realtime_start(void)
{
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&wake_cond, &ca);
    pthread_condattr_destroy(&ca);
    stopping = false;
    if (pthread_create(&fanout_thread, NULL, fanout, NULL) != 0) {
        pl_log("error", "realtime: cannot start the fan-out thread");
        return PL_EINTERNAL;
    }
    fanout_running = true;
    pthread_mutex_lock(&reg_lock);
    accepting = true;
    pthread_mutex_unlock(&reg_lock);
    wake_org("instance"); /* learn where the account events stand */
    return PL_OK;
}

void pl_realtime_stop(void)
{
    pthread_mutex_lock(&reg_lock);
    accepting = false;
    pthread_mutex_unlock(&reg_lock);
    if (fanout_running) {
        pthread_mutex_lock(&wake_lock);
        stopping = true;
        pthread_cond_signal(&wake_cond);
        pthread_mutex_unlock(&wake_lock);
        pthread_join(fanout_thread, NULL);
        fanout_running = false;
    }
    reap(true);
}
