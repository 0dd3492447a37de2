/* account.c - the caller's data export and account deletion. Both gather
 * from the services of the modules that own the data (auth, notifications,
 * audit); the deletion's SQL is in account_store.c. */
#include <stdio.h>
#include <string.h>

#include "account/account.h"
#include "account/account_store.h"
#include "auth/auth.h"
#include "notifications/notifications.h"
#include "identity/identity.h"
#include "passkeys/passkeys.h"
#include "platform/audit/audit.h"

#define EXPORT_PAGE 200

/* ---- export ---- */

static void add_session(void *arg, const pl_session_t *s)
{
    json_t *list = arg;
    /* times as RFC 3339; the arena of the walk outlives the export */
    char created[32], used[32], expires[32];
    pl_time_format(s->created_at, created);
    pl_time_format(s->last_used_at, used);
    pl_time_format(s->expires_at, expires);
    json_array_append_new(list, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:b}", "id", s->id,
                                          "created_at", created, "last_used_at", used, "expires_at",
                                          expires, "ip", s->ip, "user_agent", s->user_agent,
                                          "current", s->current));
}

static void add_membership(void *arg, const pl_auth_org_t *o)
{
    json_array_append_new(arg, json_pack("{s:{s:s, s:s, s:s, s:b}, s:s}", "organization", "id",
                                         o->id, "name", o->name, "slug", o->slug, "personal",
                                         o->personal, "role", o->role));
}

static void add_passkey(void *arg, const pl_passkey_t *p)
{
    char created[32], used[32];
    pl_time_format(p->created_at, created);
    if (p->last_used_at)
        pl_time_format(p->last_used_at, used);
    /* names and dates only: the credential itself stays */
    json_array_append_new(arg, json_pack("{s:s, s:s, s:s, s:s?}", "id", p->id, "name", p->name,
                                         "created_at", created, "last_used_at",
                                         p->last_used_at ? used : NULL));
}

static void add_identity(void *arg, const pl_identity_t *i)
{
    char created[32], used[32];
    pl_time_format(i->created_at, created);
    if (i->last_used_at)
        pl_time_format(i->last_used_at, used);
    json_array_append_new(arg, json_pack("{s:s, s:s, s:s?, s:s?, s:s, s:s?}", "id", i->id,
                                         "provider", i->provider, "org_id", i->org_id, "email",
                                         i->email, "created_at", created, "last_used_at",
                                         i->last_used_at ? used : NULL));
}

/* Every notification of the caller, newest first, through the inbox's pages. */
static int export_notifications(pl_db_t *db, pl_ctx_t *ctx, json_t *list)
{
    char before[64] = "";
    for (;;) {
        pl_buf_t b;
        pl_buf_init(&b, 64 * 1024 * 1024);
        int rc = pl_notifications_list(db, ctx, false, before[0] ? before : NULL, EXPORT_PAGE, &b);
        json_t *page = rc ? NULL : json_loadb(b.ptr, b.len, 0, NULL);
        pl_buf_free(&b);
        if (rc)
            return rc;
        if (!page)
            return PL_EINTERNAL;
        json_array_extend(list, json_object_get(page, "data"));
        const char *next = json_string_value(json_object_get(page, "next_cursor"));
        bool more = next && strlen(next) < sizeof(before);
        if (more)
            snprintf(before, sizeof(before), "%s", next);
        json_decref(page);
        if (!more)
            return PL_OK;
    }
}

/* The instance chain's events about the caller, newest first. */
static int export_security_events(pl_db_t *db, pl_ctx_t *ctx, json_t *list)
{
    pl_audit_query_t q = {
        .chain = PL_AUDIT_INSTANCE,
        .limit = EXPORT_PAGE,
        .subject = pl_ctx_user(ctx),
        .until = INT64_MAX,
    };
    for (;;) {
        json_t *page = NULL;
        int64_t next = 0;
        int rc = pl_audit_page(db, &q, &page, &next);
        if (rc)
            return rc;
        json_array_extend(list, page);
        json_decref(page);
        if (!next)
            return PL_OK;
        q.before = next;
    }
}

int pl_account_export(pl_db_t *db, pl_ctx_t *ctx, json_t **out)
{
    *out = NULL;
    const char *user_id = pl_ctx_user(ctx);
    if (!user_id)
        return pl_fail(ctx, 401, "unauthenticated", "Sign in first.");
    pl_user_t u;
    json_t *sessions = json_array(), *memberships = json_array(), *notifications = json_array(),
           *events = json_array(), *passkeys = json_array(), *identities = json_array();
    int rc = pl_db_begin(db);
    if (!rc)
        rc = pl_audit_append(db, ctx, NULL, "user.data_exported", "user", user_id, NULL);
    if (!rc)
        rc = pl_auth_user_get(db, ctx, user_id, &u);
    if (!rc)
        rc = pl_auth_sessions(db, ctx, add_session, sessions);
    if (!rc)
        rc = pl_auth_user_orgs(db, ctx, add_membership, memberships);
    if (!rc)
        rc = pl_passkeys_list(db, ctx, add_passkey, passkeys);
    if (!rc)
        rc = pl_identity_list(db, ctx, add_identity, identities);
    if (!rc)
        rc = export_notifications(db, ctx, notifications);
    if (!rc)
        rc = export_security_events(db, ctx, events);
    if ((rc = pl_db_finish(db, rc))) {
        json_decref(sessions);
        json_decref(memberships);
        json_decref(notifications);
        json_decref(events);
        json_decref(passkeys);
        json_decref(identities);
        return rc;
    }
    json_t *profile =
        json_pack("{s:s, s:s, s:s, s:b, s:b, s:s, s:s?}", "id", u.id, "email", u.email, "name",
                  u.name, "email_verified", u.email_verified, "mfa_enabled", u.mfa_enabled,
                  "created_at", pl_ctx_time(ctx, u.created_at), "locale", u.locale);
    *out = json_pack("{s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "exported_at",
                     pl_ctx_time(ctx, pl_now_ms()), "profile", profile, "sessions", sessions,
                     "memberships", memberships, "identities", identities, "passkeys", passkeys,
                     "notifications", notifications, "security_events", events);
    return PL_OK;
}

/* ---- deletion ---- */

#define MAX_MEMBERSHIPS 10000

typedef struct {
    pl_account_membership_t *m;
    int n;
} memberships_t;

static void collect(void *arg, const pl_account_membership_t *m)
{
    memberships_t *all = arg;
    if (all->n < MAX_MEMBERSHIPS)
        all->m[all->n++] = *m;
}

/* Leaves one organization: deletes it when nobody else belongs to it (the
 * personal one always), else removes the membership, after the last-owner
 * rule. The organization's chain records either. */
static int leave(pl_db_t *db, pl_ctx_t *ctx, const pl_account_membership_t *m, json_t *deleted,
                 json_t *left)
{
    const char *user_id = pl_ctx_user(ctx);
    int64_t members = 0, owners = 0;
    int rc = pl_db_set_context(db, "app.org_id", m->org_id);
    if (!rc)
        rc = pl_account_store_others(db, m->org_id, user_id, &members, &owners);
    if (rc)
        return rc;
    if (m->personal || members == 0) {
        rc = pl_audit_append(db, ctx, m->org_id, "org.deleted", "org", m->org_id, NULL);
        if (!rc)
            rc = pl_audit_append(db, ctx, NULL, "org.deleted", "org", m->org_id, NULL);
        if (!rc)
            rc = pl_account_store_org_delete(db, m->org_id);
        json_array_append_new(deleted, json_string(m->org_id));
        return rc;
    }
    if (!strcmp(m->role, "owner") && owners == 0)
        return pl_fail(ctx, 409, "last_owner",
                       "You are the only owner of an organization with other members: make "
                       "someone else an owner or delete the organization first.");
    /* "left": the member acted, so nobody is notified about themself */
    json_t *d =
        json_pack("{s:s, s:b, s:s}", "role", m->role, "left", 1, "reason", "account_deleted");
    rc = pl_audit_append(db, ctx, m->org_id, "member.removed", "user", user_id, d);
    json_decref(d);
    if (!rc)
        rc = pl_account_store_membership_delete(db, m->org_id, user_id);
    json_array_append_new(left, json_string(m->org_id));
    return rc;
}

int pl_account_delete(pl_db_t *db, pl_ctx_t *ctx, const char *password, const char *code)
{
    const char *user_id = pl_ctx_user(ctx);
    if (!user_id)
        return pl_fail(ctx, 401, "unauthenticated", "Sign in first.");
    pl_user_t u;
    int rc = pl_auth_user_get(db, ctx, user_id, &u);
    if (rc)
        return rc;
    /* before the deletion's transaction: a wrong password is a failed
     * sign-in attempt that must stay counted when the request fails */
    if ((rc = pl_auth_confirm(db, ctx, password, code)))
        return rc;
    memberships_t all = {pl_arena_alloc(ctx->arena, MAX_MEMBERSHIPS * sizeof(*all.m)), 0};
    json_t *deleted = json_array(), *left = json_array();
    if ((rc = pl_db_begin(db)))
        goto out;
    rc = pl_auth_revoke_user_sessions(db, ctx, user_id, NULL, "account_deleted");
    if (!rc)
        rc = pl_account_store_memberships(db, ctx->arena, user_id, collect, &all);
    /* a refusal (last_owner) rolls back what the loop did before it */
    for (int i = 0; !rc && i < all.n; i++)
        rc = leave(db, ctx, &all.m[i], deleted, left);
    if (!rc)
        rc = pl_db_set_context(db, "app.invitee_email", u.email);
    if (!rc) {
        json_t *d = json_pack("{s:O, s:O}", "orgs_deleted", deleted, "orgs_left", left);
        rc = pl_audit_append(db, ctx, NULL, "user.deleted", "user", user_id, d);
        json_decref(d);
    }
    if (!rc)
        rc = pl_account_store_forget_email(db, u.email);
    if (!rc)
        rc = pl_account_store_user_delete(db, user_id);
    rc = pl_db_finish(db, rc);
out:
    json_decref(deleted);
    json_decref(left);
    return rc;
}
