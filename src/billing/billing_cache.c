/* billing_cache.c - what every request may need of billing without a
 * query: the plans (limits and features), each organization's plan key,
 * and the requests_per_minute buckets.
 *
 * Validity: the plans are a snapshot of billing_version, which every change
 * to a plan or to an organization's plan bumps in its transaction. Each
 * publication of a snapshot advances `gen`; an organization's cached plan
 * key (and the rate derived from it) is used only while its entry carries
 * the current gen. This instance reloads right after its own changes
 * (pl_billing_reload); a poller notices other instances' changes within a
 * second. A key read after gen was sampled is at least as new as that gen
 * (the reload that advanced gen happened after the change committed), so an
 * entry is never labelled newer than its content.
 *
 * Memory: the organizations' entries live in a fixed table of shards, each
 * an open-addressed array under its own mutex; a full neighbourhood
 * evicts its idlest entry (its bucket refills: the limit is a per-instance
 * guard, it fails open rather than closed). Readers of the snapshot hold a
 * read lock for a few lookups. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "billing/billing_int.h"
#include "billing/billing_store.h"
#include "core/poller.h"
#include "flags/flags.h"

#define POLL_MS 1000
#define SHARDS  64
#define SLOTS   512 /* per shard */
#define PROBES  8

/* ---- the plans snapshot ---- */

typedef struct {
    char *key;
    int64_t limits[PL_LIMIT_COUNT];
    char **features; /* sorted */
    int nfeatures;
} cplan_t;

typedef struct {
    int64_t version;
    cplan_t *plans; /* sorted by key (strcmp) */
    int n, cap;
    bool any_rpm, any_features;
} snapshot_t;

static pthread_rwlock_t snap_lock = PTHREAD_RWLOCK_INITIALIZER;
static snapshot_t *snap;         /* guarded by snap_lock */
static atomic_uint_fast64_t gen; /* advanced at every publication */
static atomic_bool any_rpm;      /* a plan has requests_per_minute */
static atomic_bool any_features; /* a plan has features */

static void snapshot_free(snapshot_t *s)
{
    if (!s)
        return;
    for (int i = 0; i < s->n; i++) {
        for (int j = 0; j < s->plans[i].nfeatures; j++)
            free(s->plans[i].features[j]);
        free(s->plans[i].features);
        free(s->plans[i].key);
    }
    free(s->plans);
    free(s);
}

static int cmp_plan(const void *a, const void *b)
{
    return strcmp(((const cplan_t *)a)->key, ((const cplan_t *)b)->key);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void add_plan(void *cls, const pl_plan_t *p)
{
    snapshot_t *s = cls;
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 8;
        s->plans = pl_xrealloc(s->plans, (size_t)s->cap * sizeof(*s->plans));
    }
    cplan_t *c = &s->plans[s->n++];
    c->key = pl_xstrdup(p->key);
    memcpy(c->limits, p->limits, sizeof(c->limits));
    c->nfeatures = p->nfeatures;
    c->features = pl_xcalloc((size_t)p->nfeatures + 1, sizeof(char *));
    for (int i = 0; i < p->nfeatures; i++)
        c->features[i] = pl_xstrdup(p->features[i]);
    if (c->limits[PL_LIMIT_RPM] != PL_BILLING_UNLIMITED)
        s->any_rpm = true;
    if (c->nfeatures)
        s->any_features = true;
}

/* The plan called key in s, or NULL. */
static const cplan_t *find_plan(const snapshot_t *s, const char *key)
{
    if (!s || !s->n)
        return NULL;
    cplan_t probe = {.key = (char *)key};
    return bsearch(&probe, s->plans, (size_t)s->n, sizeof(cplan_t), cmp_plan);
}

static int reload(pl_db_t *db, bool force)
{
    int64_t v;
    int rc = pl_billing_store_version(db, &v);
    if (rc)
        return rc;
    pthread_rwlock_rdlock(&snap_lock);
    bool fresh = snap && snap->version == v;
    pthread_rwlock_unlock(&snap_lock);
    if (fresh && !force)
        return PL_OK;
    snapshot_t *s = pl_xcalloc(1, sizeof(*s));
    /* the version before the rows: the rows are at least as new as it */
    if (!(rc = pl_db_begin_read(db))) {
        rc = pl_billing_store_version(db, &s->version);
        if (!rc)
            rc = pl_plans_store_all(db, add_plan, s);
        rc = pl_db_finish(db, rc);
    }
    if (rc) {
        pl_log("error", "billing: cannot load the plans (%d)", rc);
        snapshot_free(s);
        return rc;
    }
    for (int i = 0; i < s->n; i++)
        if (s->plans[i].nfeatures > 1)
            qsort(s->plans[i].features, (size_t)s->plans[i].nfeatures, sizeof(char *), cmp_str);
    if (s->n > 1)
        qsort(s->plans, (size_t)s->n, sizeof(cplan_t), cmp_plan);
    pthread_rwlock_wrlock(&snap_lock);
    snapshot_t *old = snap;
    snap = s;
    atomic_store(&any_rpm, s->any_rpm);
    atomic_store(&any_features, s->any_features);
    atomic_fetch_add(&gen, 1);
    pthread_rwlock_unlock(&snap_lock);
    snapshot_free(old);
    return PL_OK;
}

int pl_billing_reload(pl_db_t *db)
{
    return db ? reload(db, false) : PL_EDB;
}

/* ---- organizations: plan key, rate and bucket ---- */

typedef struct {
    char org_id[PL_ID_LEN];
    char plan_key[PL_PLAN_KEY_MAX + 1];
    uint64_t gen;   /* the gen plan_key and rpm are valid for; 0: none */
    int64_t rpm;    /* the plan's requests_per_minute */
    int64_t tat_us; /* the bucket (pl_billing_gcra) */
} entry_t;

typedef struct {
    pthread_mutex_t mu;
    entry_t e[SLOTS];
} shard_t;

static shard_t *shards; /* SHARDS of them, allocated at start */
static pthread_once_t shards_once = PTHREAD_ONCE_INIT;

static void shards_init(void)
{
    shards = pl_xcalloc(SHARDS, sizeof(shard_t));
    for (int i = 0; i < SHARDS; i++)
        pthread_mutex_init(&shards[i].mu, NULL);
}

static uint32_t hash(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

/* The entry of org_id in sh (locked), claiming one when absent: a free
 * slot of its neighbourhood, else the one whose bucket is idlest. */
static entry_t *entry_of(shard_t *sh, uint32_t h, const char *org_id)
{
    entry_t *victim = NULL;
    for (int i = 0; i < PROBES; i++) {
        entry_t *e = &sh->e[(h / SHARDS + (uint32_t)i) % SLOTS];
        if (!strcmp(e->org_id, org_id))
            return e;
        if (victim && !victim->org_id[0])
            continue; /* a free slot is already chosen */
        if (!victim || !e->org_id[0] || e->tat_us < victim->tat_us)
            victim = e;
    }
    memset(victim, 0, sizeof(*victim));
    snprintf(victim->org_id, sizeof(victim->org_id), "%s", org_id);
    return victim;
}

/* The plan key of org_id into key (and the plan's rate into *rpm), from the
 * cache or the database (on db, or the thread's connection). */
static void org_plan(pl_db_t *db, const char *org_id, char key[PL_PLAN_KEY_MAX + 1], int64_t *rpm)
{
    pthread_once(&shards_once, shards_init);
    uint32_t h = hash(org_id);
    shard_t *sh = &shards[h % SHARDS];
    uint64_t g = atomic_load(&gen);
    pthread_mutex_lock(&sh->mu);
    entry_t *e = entry_of(sh, h, org_id);
    bool hit = e->gen == g && g != 0;
    if (hit) {
        memcpy(key, e->plan_key, PL_PLAN_KEY_MAX + 1);
        *rpm = e->rpm;
    }
    pthread_mutex_unlock(&sh->mu);
    if (hit)
        return;
    /* a miss: read it (outside the lock) and keep it for gen g */
    pl_arena_t *a = pl_arena_create();
    const char *k = NULL;
    if (!db)
        db = pl_db_thread();
    int rc = db ? pl_billing_store_plan_key(db, a, org_id, &k) : PL_EDB;
    snprintf(key, PL_PLAN_KEY_MAX + 1, "%s", rc ? pl_billing_default_plan : k);
    pl_arena_destroy(a);
    pthread_rwlock_rdlock(&snap_lock);
    const cplan_t *p = find_plan(snap, key);
    *rpm = p ? p->limits[PL_LIMIT_RPM] : PL_BILLING_UNLIMITED;
    pthread_rwlock_unlock(&snap_lock);
    if (rc) /* no row visible (or an error): not worth keeping */
        return;
    pthread_mutex_lock(&sh->mu);
    e = entry_of(sh, h, org_id);
    memcpy(e->plan_key, key, PL_PLAN_KEY_MAX + 1);
    e->rpm = *rpm;
    e->gen = g;
    pthread_mutex_unlock(&sh->mu);
}

/* ---- requests_per_minute ---- */

bool pl_billing_gcra(int64_t *tat_us, int64_t now_us, int64_t rpm, int *retry_after_s)
{
    const int64_t minute = 60LL * 1000 * 1000;
    if (rpm <= 0) {
        *retry_after_s = 60;
        return false;
    }
    int64_t interval = minute / rpm; /* one request's share of the minute */
    if (interval < 1)
        interval = 1;
    int64_t tolerance = minute - interval; /* a burst of rpm */
    int64_t tat = *tat_us > now_us ? *tat_us : now_us;
    if (tat - now_us > tolerance) {
        int64_t wait = tat - now_us - tolerance;
        *retry_after_s = (int)((wait + 999999) / 1000000);
        if (*retry_after_s < 1)
            *retry_after_s = 1;
        return false;
    }
    *tat_us = tat + interval;
    return true;
}

int pl_billing_on_tenant(pl_db_t *db, pl_ctx_t *ctx)
{
    if (!atomic_load_explicit(&any_rpm, memory_order_relaxed))
        return PL_OK; /* no plan limits the rate: nothing to count */
    const char *org_id = ctx->tenant.org_id;
    char key[PL_PLAN_KEY_MAX + 1];
    int64_t rpm;
    org_plan(db, org_id, key, &rpm);
    if (rpm == PL_BILLING_UNLIMITED)
        return PL_OK;
    uint32_t h = hash(org_id);
    shard_t *sh = &shards[h % SHARDS];
    int64_t now = pl_monotonic_us();
    int retry = 0;
    pthread_mutex_lock(&sh->mu);
    entry_t *e = entry_of(sh, h, org_id);
    bool ok = pl_billing_gcra(&e->tat_us, now, rpm, &retry);
    pthread_mutex_unlock(&sh->mu);
    if (ok)
        return PL_OK;
    ctx->err.retry_after = retry;
    return pl_fail(ctx, 429, "rate_limited",
                   pl_arena_printf(ctx->arena,
                                   "The organization's plan allows %lld requests per minute.",
                                   (long long)rpm));
}

/* ---- features ---- */

bool pl_billing_plan_has_feature(const char *flag_key, const char *org_id)
{
    if (!atomic_load_explicit(&any_features, memory_order_relaxed))
        return false;
    char key[PL_PLAN_KEY_MAX + 1];
    int64_t rpm;
    org_plan(NULL, org_id, key, &rpm);
    bool on = false;
    pthread_rwlock_rdlock(&snap_lock);
    const cplan_t *p = find_plan(snap, key);
    if (p && p->nfeatures) {
        const char *probe = flag_key;
        on = bsearch(&probe, p->features, (size_t)p->nfeatures, sizeof(char *), cmp_str) != NULL;
    }
    pthread_rwlock_unlock(&snap_lock);
    return on;
}

/* ---- the poller ---- */

static void poll_plans(void)
{
    pl_db_t *db = pl_db_thread();
    if (db)
        reload(db, false);
}

static pl_poller_t poller = {
    .tick = poll_plans, .done = pl_db_thread_close, .interval_ms = POLL_MS};

int pl_billing_start(void)
{
    pthread_once(&shards_once, shards_init);
    pl_db_t *db = pl_db_thread();
    int rc = db ? reload(db, true) : PL_EDB;
    if (rc)
        return rc;
    pthread_rwlock_rdlock(&snap_lock);
    bool has_default = find_plan(snap, pl_billing_default_plan) != NULL;
    pthread_rwlock_unlock(&snap_lock);
    if (!has_default)
        pl_log("warn",
               "billing: PLINTH_DEFAULT_PLAN %s does not exist (yet): new "
               "organizations get the free plan until it does",
               pl_billing_default_plan);
    pl_flags_set_provider(pl_billing_plan_has_feature);
    return pl_poller_start(&poller);
}

void pl_billing_stop(void)
{
    pl_flags_set_provider(NULL);
    pl_poller_stop(&poller);
}
