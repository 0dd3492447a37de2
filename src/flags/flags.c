/* flags.c - the flag snapshot, its publication, evaluation, the rollout
 * bucket, and the poller that notices other instances' changes.
 *
 * Publication: `current` points at the published snapshot and holds one
 * reference to it. A reader takes the mutex only to read the pointer and add
 * its reference: an atomic load followed by a separate increment would let a
 * publisher drop the last reference (and free the snapshot) between the two.
 * Releases are lock-free; whoever drops the last reference frees. Builders
 * query without any lock held, so evaluation never waits on the database. */
#include <assert.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/crypto.h"
#include "core/poller.h"
#define PL_FLAGS_INTERNAL
#include "flags/flags.h"

#define POLL_MS 1000

typedef struct {
    char *org_id;
    bool enabled;
} override_t;

typedef struct {
    char *key;
    bool enabled;
    int rollout_percent;
    override_t *overrides; /* sorted by org_id (strcmp) */
    size_t noverrides, cap;
} flag_t;

struct pl_flags_snapshot {
    atomic_int refs;
    int64_t version; /* the flags_version read before the rows */
    flag_t *flags;   /* sorted by key (strcmp) */
    size_t n, cap;
};

static pthread_mutex_t publish_mu = PTHREAD_MUTEX_INITIALIZER;
static pl_flags_snapshot_t *current;

/* ---- evaluation ---- */

uint32_t pl_flags_bucket(const char *key, const char *org_id)
{
    size_t kn = strlen(key), on = strlen(org_id), n = kn + 1 + on;
    char stack[256];
    char *msg = n <= sizeof(stack) ? stack : pl_xmalloc(n);
    memcpy(msg, key, kn);
    msg[kn] = ':';
    memcpy(msg + kn + 1, org_id, on);
    unsigned char h[32];
    pl_sha256(msg, n, h);
    if (msg != stack)
        free(msg);
    uint32_t v = (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3];
    return v % 100;
}

bool pl_flags_decide(bool enabled, int rollout_percent, pl_flag_override_t ov, const char *key,
                     const char *org_id)
{
    if (ov != PL_FLAG_NO_OVERRIDE)
        return ov == PL_FLAG_OVERRIDE_ON;
    if (!enabled || rollout_percent <= 0)
        return false;
    if (rollout_percent >= 100)
        return true;
    return pl_flags_bucket(key, org_id) < (uint32_t)rollout_percent;
}

bool pl_flags_key_valid(const char *key)
{
    size_t n = key ? strlen(key) : 0;
    if (n < 1 || n > PL_FLAG_KEY_MAX || !(key[0] >= 'a' && key[0] <= 'z'))
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = key[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

static int cmp_override(const void *a, const void *b)
{
    return strcmp(((const override_t *)a)->org_id, ((const override_t *)b)->org_id);
}

static int cmp_flag(const void *a, const void *b)
{
    return strcmp(((const flag_t *)a)->key, ((const flag_t *)b)->key);
}

static pl_flag_override_t override_of(const flag_t *f, const char *org_id)
{
    override_t probe = {(char *)org_id, false};
    const override_t *o =
        f->noverrides ? bsearch(&probe, f->overrides, f->noverrides, sizeof(*o), cmp_override)
                      : NULL;
    return !o ? PL_FLAG_NO_OVERRIDE : o->enabled ? PL_FLAG_OVERRIDE_ON : PL_FLAG_OVERRIDE_OFF;
}

size_t pl_flags_count(const pl_flags_snapshot_t *s)
{
    return s ? s->n : 0;
}

const char *pl_flags_key(const pl_flags_snapshot_t *s, size_t i)
{
    assert(s && i < s->n);
    return s->flags[i].key;
}

int64_t pl_flags_version(const pl_flags_snapshot_t *s)
{
    return s ? s->version : -1;
}

static _Atomic(pl_flags_provider_fn) provider;

void pl_flags_set_provider(pl_flags_provider_fn fn)
{
    atomic_store(&provider, fn);
}

bool pl_flags_eval(const pl_flags_snapshot_t *s, size_t i, const char *org_id)
{
    if (!s || i >= s->n)
        return false;
    const flag_t *f = &s->flags[i];
    pl_flag_override_t ov = override_of(f, org_id);
    pl_flags_provider_fn p = atomic_load_explicit(&provider, memory_order_relaxed);
    if (ov == PL_FLAG_NO_OVERRIDE && p && p(f->key, org_id))
        return true; /* switched on by the organization's plan */
    return pl_flags_decide(f->enabled, f->rollout_percent, ov, f->key, org_id);
}

bool pl_flags_enabled(const char *key, const char *org_id)
{
    pl_flags_snapshot_t *s = pl_flags_acquire();
    bool on = false;
    if (s && s->n) {
        flag_t probe = {.key = (char *)key};
        const flag_t *f = bsearch(&probe, s->flags, s->n, sizeof(*f), cmp_flag);
        if (f)
            on = pl_flags_eval(s, (size_t)(f - s->flags), org_id);
    }
    pl_flags_release(s);
    return on;
}

/* ---- snapshots ---- */

static void snapshot_free(pl_flags_snapshot_t *s)
{
    for (size_t i = 0; i < s->n; i++) {
        flag_t *f = &s->flags[i];
        for (size_t j = 0; j < f->noverrides; j++)
            free(f->overrides[j].org_id);
        free(f->overrides);
        free(f->key);
    }
    free(s->flags);
    free(s);
}

pl_flags_snapshot_t *pl_flags_acquire(void)
{
    pthread_mutex_lock(&publish_mu);
    pl_flags_snapshot_t *s = current;
    if (s)
        atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
    pthread_mutex_unlock(&publish_mu);
    return s;
}

void pl_flags_release(pl_flags_snapshot_t *s)
{
    if (s && atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) == 1)
        snapshot_free(s);
}

/* Publishes s (taking the caller's reference) when it is newer than the
 * current one, or when force is set; else drops it. */
static bool publish(pl_flags_snapshot_t *s, bool force)
{
    pthread_mutex_lock(&publish_mu);
    pl_flags_snapshot_t *old = current;
    bool newer = force || !old || s->version > old->version;
    if (newer)
        current = s;
    pthread_mutex_unlock(&publish_mu);
    pl_flags_release(newer ? old : s);
    return newer;
}

/* Rows arrive one per (flag, override), a flag's rows together (the query
 * orders by key, in the database's collation: sorted again afterwards). */
static void add_row(void *ctx, const pl_flag_row_t *row, const pl_flag_override_row_t *o)
{
    pl_flags_snapshot_t *s = ctx;
    flag_t *f = s->n && !strcmp(s->flags[s->n - 1].key, row->key) ? &s->flags[s->n - 1] : NULL;
    if (!f) {
        if (s->n == s->cap) {
            s->cap = s->cap ? s->cap * 2 : 16;
            s->flags = pl_xrealloc(s->flags, s->cap * sizeof(*s->flags));
        }
        f = &s->flags[s->n++];
        *f = (flag_t){.key = pl_xstrdup(row->key),
                      .enabled = row->enabled,
                      .rollout_percent = row->rollout_percent};
    }
    if (!o)
        return;
    if (f->noverrides == f->cap) {
        f->cap = f->cap ? f->cap * 2 : 4;
        f->overrides = pl_xrealloc(f->overrides, f->cap * sizeof(*f->overrides));
    }
    f->overrides[f->noverrides++] = (override_t){pl_xstrdup(o->org_id), o->enabled};
}

/* The database's collation need not be strcmp's: sort for bsearch. */
static void sort_snapshot(pl_flags_snapshot_t *s)
{
    if (s->n)
        qsort(s->flags, s->n, sizeof(*s->flags), cmp_flag);
    for (size_t i = 0; i < s->n; i++)
        if (s->flags[i].noverrides)
            qsort(s->flags[i].overrides, s->flags[i].noverrides, sizeof(override_t), cmp_override);
}

static int reload(pl_db_t *db, bool force)
{
    pl_flags_snapshot_t *s = pl_xcalloc(1, sizeof(*s));
    atomic_init(&s->refs, 1);
    /* The version is read before the rows: the rows are then at least as new
     * as the version they are labelled with, and a snapshot is never
     * published over one built from a newer version. */
    int rc = pl_db_begin_read(db);
    if (rc == PL_OK) {
        rc = pl_flags_store_version(db, &s->version);
        if (rc == PL_OK)
            rc = pl_flags_store_all(db, add_row, s);
        rc = pl_db_finish(db, rc);
    }
    if (rc) {
        pl_log("error", "flags: cannot load the flag snapshot (%d)", rc);
        snapshot_free(s);
        return rc;
    }
    sort_snapshot(s);
    publish(s, force);
    return PL_OK;
}

int pl_flags_reload(pl_db_t *db)
{
    return db ? reload(db, false) : PL_EDB;
}

/* ---- the poller ---- */

static void poll_flags(void)
{
    /* ours first: a snapshot is built after its version committed, so the
     * version read next can only be behind it when the database went back (a
     * restore); then follow it rather than keep flags it no longer has */
    pl_flags_snapshot_t *s = pl_flags_acquire();
    int64_t have = pl_flags_version(s), v;
    pl_flags_release(s);
    pl_db_t *db = pl_db_thread();
    if (!db || pl_flags_store_version(db, &v) != PL_OK)
        return;
    if (v != have)
        reload(db, v < have);
}

static pl_poller_t poller = {
    .tick = poll_flags, .done = pl_db_thread_close, .interval_ms = POLL_MS};

int pl_flags_init(void)
{
    pl_db_t *db = pl_db_thread();
    int rc = db ? reload(db, true) : PL_EDB;
    if (rc)
        return rc;
    return pl_poller_start(&poller);
}

void pl_flags_stop(void)
{
    pl_poller_stop(&poller);
}
