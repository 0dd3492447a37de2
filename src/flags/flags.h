/* flags.h - feature flags: instance-wide flags with a percentage rollout and
 * per-organization overrides, managed by instance admins and evaluated for an
 * organization from an immutable in-memory snapshot (no query per evaluation).
 *
 * Evaluation (API.md): an org override wins; else a flag the organization's
 * plan lists among its features is on (pl_flags_set_provider); else a
 * disabled flag is off; else the flag is on when pl_flags_bucket(key,
 * org_id) < rollout_percent.
 *
 * The snapshot is refcounted and published by swapping one pointer: readers
 * pin it with pl_flags_acquire and unpin it with pl_flags_release; the last
 * release of a replaced snapshot frees it. It is rebuilt after every change
 * committed through this instance, and a poller thread (one small query per
 * second) rebuilds it when another instance changed the flags. Every change
 * bumps the kv row 'flags_version' in its own transaction. Thread-safe. */
#ifndef PL_FLAGS_H
#define PL_FLAGS_H

#include "core/core.h"
#include "core/ctx.h"
#include "db/db.h"

#define PL_FLAG_KEY_MAX 64

typedef enum {
    PL_FLAG_NO_OVERRIDE = -1,
    PL_FLAG_OVERRIDE_OFF = 0,
    PL_FLAG_OVERRIDE_ON = 1,
} pl_flag_override_t;

typedef struct pl_flags_snapshot pl_flags_snapshot_t;

/* The rollout bucket of org_id for flag key: the first 4 bytes of
 * SHA-256(key ":" org_id) as a big-endian unsigned integer, mod 100. Pure. */
uint32_t pl_flags_bucket(const char *key, const char *org_id);

/* The evaluation rule for one flag and one org, given the flag's settings
 * and the org's override (PL_FLAG_NO_OVERRIDE when it has none). Pure. */
bool pl_flags_decide(bool enabled, int rollout_percent, pl_flag_override_t ov, const char *key,
                     const char *org_id);

/* True when key is a valid flag key: 1..64 of [a-z0-9._-], starting with a
 * letter. */
bool pl_flags_key_valid(const char *key);

/* Loads the first snapshot and starts the poller thread. Call once at start,
 * after the database is configured; returns PL_OK or the load's error.
 * pl_flags_stop stops the poller (call before pl_db_thread_close); the last
 * snapshot stays readable until the process exits. */
int pl_flags_init(void);
void pl_flags_stop(void);

/* Rebuilds the snapshot from the database on db (outside any transaction of
 * the caller's: it runs its own read transaction) and publishes it unless a
 * snapshot of the same or a newer flags_version is already published.
 * Returns PL_OK or a db error (the published snapshot is then left as is). */
int pl_flags_reload(pl_db_t *db);

/* Pins the current snapshot (NULL before pl_flags_init); the caller must
 * pl_flags_release it. Never blocks on the database: a mutex guards only the
 * pointer read and the reference increment. */
pl_flags_snapshot_t *pl_flags_acquire(void);
void pl_flags_release(pl_flags_snapshot_t *s); /* NULL is a no-op */

/* Reading a pinned snapshot: its flags in key order (strcmp), the
 * flags_version it was built from, and a flag evaluated for org_id. Strings
 * are owned by the snapshot and live while it is pinned. */
size_t pl_flags_count(const pl_flags_snapshot_t *s);
const char *pl_flags_key(const pl_flags_snapshot_t *s, size_t i);
int64_t pl_flags_version(const pl_flags_snapshot_t *s);
bool pl_flags_eval(const pl_flags_snapshot_t *s, size_t i, const char *org_id);

/* Convenience for other modules: flag key evaluated for org_id against the
 * current snapshot; false for an unknown flag. */
bool pl_flags_enabled(const char *key, const char *org_id);

/* A provider of flags switched on for an organization from outside the
 * flag's own settings (billing: the features of the organization's plan),
 * so flags need not know where they come from. With one registered,
 * evaluation reads: an org override wins; else the flag is on when the
 * provider says so; else the flag's own rule. It answers for flags of the
 * snapshot only (an unknown flag stays off). It must be thread-safe and
 * quick (it may read the thread's database connection on a cache miss).
 * One per process; set at start (NULL removes it). */
typedef bool (*pl_flags_provider_fn)(const char *key, const char *org_id);
void pl_flags_set_provider(pl_flags_provider_fn fn);

/* ---- management (instance admins): the service API ----
 * Functions take the calling thread's connection and the acting context;
 * refusals are recorded on ctx and returned as negative PL_E* codes. Each
 * change runs in its own transaction (joining the caller's), bumps
 * flags_version and writes flag.updated to the instance chain. This
 * instance's snapshot follows once the caller calls pl_flags_reload after
 * its transaction has ended (other instances' pollers follow within a
 * second). Structs filled for the caller live in ctx->arena. */

/* An organization's override of a flag. */
typedef struct {
    const char *flag_key, *org_id;
    bool enabled;
} pl_flag_org_t;

typedef struct {
    const char *key, *description;
    bool enabled;
    int rollout_percent;
    int64_t created_at, updated_at;
    const pl_flag_org_t *overrides; /* by org id */
    int noverrides;
} pl_flag_t;

/* A page of flags in key order (the database's); next_cursor is the last
 * key when another page follows. */
typedef struct {
    const pl_flag_t *items;
    int n;
    const char *next_cursor;
} pl_flag_page_t;

/* pl_flags_key_valid for input: records 422 (field "key") on ctx and
 * returns PL_EINVAL unless key is valid. */
int pl_flags_check_key(pl_ctx_t *ctx, const char *key);

/* Flags with their overrides, after the flag key cursor (NULL: first). */
int pl_flags_list(pl_db_t *db, pl_ctx_t *ctx, const char *cursor, int limit, pl_flag_page_t *out);
/* Creates or replaces flag key (its overrides and created_at stay); out
 * gets it as stored. 422 (field "key") for an invalid key. */
int pl_flags_put(pl_db_t *db, pl_ctx_t *ctx, const char *key, const char *description, bool enabled,
                 int rollout_percent, pl_flag_t *out);
/* Deletes a flag and its overrides. 404 not_found. */
int pl_flags_delete(pl_db_t *db, pl_ctx_t *ctx, const char *key);
/* Sets the override of the organization org_ref (id or slug). 404
 * not_found for an unknown flag or organization. */
int pl_flags_override_set(pl_db_t *db, pl_ctx_t *ctx, const char *key, const char *org_ref,
                          bool enabled, pl_flag_org_t *out);
/* Deletes that override; 404 also when the org has none. */
int pl_flags_override_delete(pl_db_t *db, pl_ctx_t *ctx, const char *key, const char *org_ref);

/* ---- SQL (flags_store.c): for the files in src/flags, which define
 * PL_FLAGS_INTERNAL. Writers call these inside their write transaction. ---- */
#ifdef PL_FLAGS_INTERNAL

typedef struct {
    const char *key, *description;
    bool enabled;
    int rollout_percent;
    int64_t created_at, updated_at;
} pl_flag_row_t;

typedef pl_flag_org_t pl_flag_override_row_t;

/* The kv row 'flags_version' (0 when absent), and its increment. */
int pl_flags_store_version(pl_db_t *db, int64_t *out);
int pl_flags_store_bump(pl_db_t *db, int64_t now);

/* Creates or replaces a flag (its overrides and created_at stay). */
int pl_flags_store_upsert(pl_db_t *db, const char *key, const char *description, bool enabled,
                          int rollout_percent, int64_t now);
/* PL_ENOTFOUND when there is no such flag. Overrides go with it. */
int pl_flags_store_delete(pl_db_t *db, const char *key);
/* Strings copied into a. PL_ENOTFOUND when there is no such flag. */
int pl_flags_store_get(pl_db_t *db, pl_arena_t *a, const char *key, pl_flag_row_t *out);
/* Flags after key `after` (NULL: from the start) in the database's key order,
 * at most limit. The row's strings are valid only during fn. */
int pl_flags_store_list(pl_db_t *db, const char *after, int limit,
                        void (*fn)(void *ctx, const pl_flag_row_t *f), void *ctx);
/* Overrides of the flags whose key is in [first, last] (the database's key
 * order), by flag key and org id; strings valid only during fn. */
int pl_flags_store_overrides(pl_db_t *db, const char *first, const char *last,
                             void (*fn)(void *ctx, const pl_flag_override_row_t *o), void *ctx);
/* Every flag with its overrides in one statement (one consistent view on
 * both engines): fn gets each flag once per override, or once with o NULL
 * when it has none; a flag's rows come together. Strings valid only during
 * fn. */
int pl_flags_store_all(pl_db_t *db,
                       void (*fn)(void *ctx, const pl_flag_row_t *f,
                                  const pl_flag_override_row_t *o),
                       void *ctx);

int pl_flags_store_override_upsert(pl_db_t *db, const char *key, const char *org_id, bool enabled,
                                   int64_t now);
/* PL_ENOTFOUND when the org has no override of the flag. */
int pl_flags_store_override_delete(pl_db_t *db, const char *key, const char *org_id);

#endif /* PL_FLAGS_INTERNAL */

#endif
