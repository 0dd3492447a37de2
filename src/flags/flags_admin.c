/* flags_admin.c - managing flags and their per-organization overrides.
 * Every change bumps flags_version in its transaction and writes
 * flag.updated to the instance chain; the snapshot (flags.c) follows. */
#include <string.h>

#include "core/rows.h"
#define PL_FLAGS_INTERNAL
#include "flags/flags.h"
#include "orgs/orgs.h"
#include "platform/audit/audit.h"

static int no_flag(pl_ctx_t *ctx)
{
    return pl_fail(ctx, 404, "not_found", "No such flag.");
}

/* flag.updated in the instance chain, in the change's transaction. */
static int audit_flag(pl_db_t *db, pl_ctx_t *ctx, const char *key, const char *change,
                      const char *org_id, bool enabled)
{
    json_t *d =
        json_pack("{s:s, s:s?, s:b}", "change", change, "org_id", org_id, "enabled", enabled);
    int rc = pl_audit_append(db, ctx, NULL, "flag.updated", "flag", key, d);
    json_decref(d);
    return rc;
}

int pl_flags_check_key(pl_ctx_t *ctx, const char *key)
{
    if (pl_flags_key_valid(key))
        return PL_OK;
    pl_field_error(ctx, "key", "invalid",
                   "Use 1 to 64 of a-z, 0-9, '.', '_' and '-', starting with a letter.");
    return PL_EINVAL;
}

/* ---- reading ---- */

typedef struct {
    pl_arena_t *arena;
    pl_rows_t *rows;
} collect_t;

static void add_flag(void *cls, const pl_flag_row_t *row)
{
    collect_t *c = cls;
    pl_flag_t *f = pl_rows_add(c->rows);
    if (!f)
        return; /* the extra row only tells that another page exists */
    *f = (pl_flag_t){.key = pl_arena_strdup(c->arena, row->key),
                     .description = pl_arena_strdup(c->arena, row->description),
                     .enabled = row->enabled,
                     .rollout_percent = row->rollout_percent,
                     .created_at = row->created_at,
                     .updated_at = row->updated_at};
}

static void add_override(void *cls, const pl_flag_override_row_t *row)
{
    collect_t *c = cls;
    pl_flag_org_t *o = pl_rows_add(c->rows);
    o->flag_key = pl_arena_strdup(c->arena, row->flag_key);
    o->org_id = pl_arena_strdup(c->arena, row->org_id);
    o->enabled = row->enabled;
}

/* Hands the overrides (grouped by flag key) to their flags. */
static void attach_overrides(pl_flag_t *flags, int n, const pl_rows_t *overrides)
{
    for (int i = 0; i < overrides->n;) {
        const pl_flag_org_t *first = pl_rows_at(overrides, i);
        int j = i + 1;
        while (
            j < overrides->n &&
            !strcmp(((const pl_flag_org_t *)pl_rows_at(overrides, j))->flag_key, first->flag_key))
            j++;
        for (int k = 0; k < n; k++) {
            if (!strcmp(flags[k].key, first->flag_key)) {
                flags[k].overrides = first;
                flags[k].noverrides = j - i;
                break;
            }
        }
        i = j;
    }
}

/* The overrides of the flags whose keys are in [first, last]. */
static int read_overrides(pl_db_t *db, pl_ctx_t *ctx, const char *first, const char *last,
                          pl_flag_t *flags, int n)
{
    pl_rows_t overrides;
    pl_rows_init(&overrides, ctx->arena, sizeof(pl_flag_org_t), 0);
    collect_t c = {ctx->arena, &overrides};
    int rc = pl_flags_store_overrides(db, first, last, add_override, &c);
    if (!rc)
        attach_overrides(flags, n, &overrides);
    return rc;
}

int pl_flags_list(pl_db_t *db, pl_ctx_t *ctx, const char *cursor, int limit, pl_flag_page_t *out)
{
    pl_rows_t rows;
    pl_rows_init(&rows, ctx->arena, sizeof(pl_flag_t), limit);
    collect_t c = {ctx->arena, &rows};
    int rc = pl_flags_store_list(db, cursor, limit + 1, add_flag, &c);
    pl_flag_t *flags = rows.items;
    /* the page's keys are exactly those in [first, last], in the same
     * (database) order the page was cut in */
    if (!rc && rows.n)
        rc = read_overrides(db, ctx, flags[0].key, flags[rows.n - 1].key, flags, rows.n);
    if (rc)
        return rc;
    out->items = flags;
    out->n = rows.n;
    out->next_cursor = rows.more ? flags[rows.n - 1].key : NULL;
    return PL_OK;
}

/* The flag as stored now, inside the caller's transaction. */
static int read_flag(pl_db_t *db, pl_ctx_t *ctx, const char *key, pl_flag_t *out)
{
    pl_flag_row_t row;
    int rc = pl_flags_store_get(db, ctx->arena, key, &row);
    if (rc)
        return rc;
    *out = (pl_flag_t){.key = row.key,
                       .description = row.description,
                       .enabled = row.enabled,
                       .rollout_percent = row.rollout_percent,
                       .created_at = row.created_at,
                       .updated_at = row.updated_at};
    return read_overrides(db, ctx, key, key, out, 1);
}

/* ---- changes ---- */

int pl_flags_put(pl_db_t *db, pl_ctx_t *ctx, const char *key, const char *description, bool enabled,
                 int rollout_percent, pl_flag_t *out)
{
    int rc = pl_flags_check_key(ctx, key);
    if (rc || (rc = pl_db_begin(db)))
        return rc;
    int64_t now = pl_now_ms();
    rc = pl_flags_store_bump(db, now);
    if (!rc)
        rc = pl_flags_store_upsert(db, key, description ? description : "", enabled,
                                   rollout_percent, now);
    if (!rc)
        rc = audit_flag(db, ctx, key, "upserted", NULL, enabled);
    if (!rc)
        rc = read_flag(db, ctx, key, out);
    return pl_db_finish(db, rc);
}

int pl_flags_delete(pl_db_t *db, pl_ctx_t *ctx, const char *key)
{
    if (!pl_flags_key_valid(key))
        return no_flag(ctx);
    int rc = pl_db_begin(db);
    if (rc)
        return rc;
    rc = pl_flags_store_bump(db, pl_now_ms());
    if (!rc)
        rc = pl_flags_store_delete(db, key); /* its overrides go with it */
    if (!rc)
        rc = audit_flag(db, ctx, key, "deleted", NULL, false);
    if ((rc = pl_db_finish(db, rc)) == PL_ENOTFOUND)
        return no_flag(ctx);
    return rc;
}

/* The flag exists and org_ref (id or slug) names an organization: its id. */
static int override_target(pl_db_t *db, pl_ctx_t *ctx, const char *key, const char *org_ref,
                           const char **org_id)
{
    if (!pl_flags_key_valid(key))
        return no_flag(ctx);
    pl_flag_row_t f;
    int rc = pl_flags_store_get(db, ctx->arena, key, &f);
    if (rc)
        return rc == PL_ENOTFOUND ? no_flag(ctx) : rc;
    pl_org_t o;
    rc = pl_orgs_lookup(db, ctx->arena, org_ref, &o);
    if (rc == PL_ENOTFOUND)
        return pl_fail(ctx, 404, "not_found", "No such organization.");
    if (!rc)
        *org_id = o.id;
    return rc;
}

int pl_flags_override_set(pl_db_t *db, pl_ctx_t *ctx, const char *key, const char *org_ref,
                          bool enabled, pl_flag_org_t *out)
{
    int rc = pl_db_begin(db);
    if (rc)
        return rc;
    const char *org_id = NULL;
    int64_t now = pl_now_ms();
    rc = override_target(db, ctx, key, org_ref, &org_id);
    if (!rc)
        rc = pl_flags_store_bump(db, now);
    if (!rc)
        rc = pl_flags_store_override_upsert(db, key, org_id, enabled, now);
    if (!rc)
        rc = audit_flag(db, ctx, key, "override_set", org_id, enabled);
    if ((rc = pl_db_finish(db, rc))) {
        if (rc == PL_EFKEY) /* the flag or the org went away meanwhile */
            return pl_fail(ctx, 404, "not_found", "No such flag or organization.");
        return rc;
    }
    *out = (pl_flag_org_t){pl_arena_strdup(ctx->arena, key), org_id, enabled};
    return PL_OK;
}

int pl_flags_override_delete(pl_db_t *db, pl_ctx_t *ctx, const char *key, const char *org_ref)
{
    int rc = pl_db_begin(db);
    if (rc)
        return rc;
    const char *org_id = NULL;
    rc = override_target(db, ctx, key, org_ref, &org_id);
    if (!rc)
        rc = pl_flags_store_bump(db, pl_now_ms());
    if (!rc)
        rc = pl_flags_store_override_delete(db, key, org_id);
    if (!rc)
        rc = audit_flag(db, ctx, key, "override_deleted", org_id, false);
    if ((rc = pl_db_finish(db, rc)) == PL_ENOTFOUND && !ctx->err.status)
        return pl_fail(ctx, 404, "not_found", "This organization has no override.");
    return rc;
}
