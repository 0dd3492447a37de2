/* notifications.c - the types, creating notifications from events (the
 * outbox subscriber), email copies, preferences, the new-device alert, and
 * the source of the user's own stream. */
#include <arpa/inet.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PL_NOTIFICATIONS_INTERNAL
#include "core/config.h"
#include "core/crypto.h"
#include "notifications/notifications.h"
#include "notifications/notifications_store.h"
#include "platform/mail/mail.h"
#include "realtime/realtime.h"

#define DEVICE_WINDOW_MS (90LL * 24 * 3600 * 1000) /* a device unseen this long is new */
#define UA_MAX           256

/* Appends a string literal. */
#define LIT(b, s) pl_buf_append((b), (s), sizeof(s) - 1)

/* ---- types ---- */

#define MAX_TYPE_LISTS 32

static const pl_notification_type_t *type_lists[MAX_TYPE_LISTS];
static int ntype_lists;
static pthread_mutex_t types_lock = PTHREAD_MUTEX_INITIALIZER;

static const pl_notification_type_t own_types[] = {
    {"member.invited", "You were invited to an organization (the invitation email is the copy)",
     false, false},
    {"member.role_updated", "Your role in an organization changed", false, true},
    {"member.removed", "You were removed from an organization", false, true},
    {"team.member_added", "You were added to a team", false, true},
    {"security.new_sign_in", "Your account was signed in to from a new device", true, true},
    {0},
};

void pl_notifications_types_add(const pl_notification_type_t *types)
{
    pthread_mutex_lock(&types_lock);
    if (types && ntype_lists < MAX_TYPE_LISTS)
        type_lists[ntype_lists++] = types;
    pthread_mutex_unlock(&types_lock);
}

const pl_notification_type_t *pl_notifications_type(const char *name)
{
    for (int i = 0; name && i < ntype_lists; i++)
        for (const pl_notification_type_t *t = type_lists[i]; t->type; t++)
            if (!strcmp(t->type, name))
                return t;
    return NULL;
}

/* ---- rendering ---- */

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

static void put_time(pl_buf_t *b, int64_t ms)
{
    if (!ms) {
        LIT(b, "null");
        return;
    }
    char t[32];
    pl_time_format(ms, t);
    put_str(b, t);
}

/* A Notification on one line. */
static void notification_json(pl_buf_t *b, const pl_notification_row_t *r)
{
    LIT(b, "{\"id\":");
    put_str(b, r->id);
    LIT(b, ",\"type\":");
    put_str(b, r->type);
    LIT(b, ",\"org_id\":");
    put_str(b, r->org_id);
    LIT(b, ",\"title\":");
    put_str(b, r->title);
    LIT(b, ",\"body\":");
    put_str(b, r->body);
    LIT(b, ",\"link\":");
    put_str(b, r->link);
    LIT(b, ",\"data\":");
    const char *data = r->data && *r->data ? r->data : "{}";
    pl_buf_append(b, data, strlen(data));
    LIT(b, ",\"read_at\":");
    put_time(b, r->read_at);
    LIT(b, ",\"created_at\":");
    put_time(b, r->created_at);
    LIT(b, "}");
}

/* ---- creating ---- */

static bool is_actor(const pl_event_t *ev, const char *user_id)
{
    return ev && ev->actor_type && !strcmp(ev->actor_type, "user") && ev->actor_id &&
           !strcmp(ev->actor_id, user_id);
}

/* Should the recipient get an email copy of type? */
static int wants_email(pl_db_t *db, const char *user_id, const pl_notification_type_t *t, bool *out)
{
    *out = false;
    if (!t->has_preference)
        return PL_OK;
    bool found, email;
    int rc = pl_ntf_store_pref(db, user_id, t->type, &found, &email);
    if (!rc)
        *out = found ? email : t->email_default;
    return rc;
}

static int queue_copy(pl_db_t *db, pl_arena_t *a, const pl_notification_t *n)
{
    const char *email = NULL, *name = NULL, *locale = NULL;
    int rc = pl_ntf_store_user(db, a, n->user_id, &email, &name, &locale);
    if (rc)
        return rc == PL_ENOTFOUND ? PL_OK : rc;
    json_t *vars = n->mail_vars ? json_copy(n->mail_vars) : json_object();
    json_object_set_new(vars, "name", json_string(name ? name : ""));
    if (locale)
        json_object_set_new(vars, "locale", json_string(locale));
    if (!n->mail_template) {
        json_object_set_new(vars, "title", json_string(n->title));
        json_object_set_new(vars, "body", json_string(n->body));
    }
    rc = pl_mail_enqueue(db, n->mail_template ? n->mail_template : "notification", email, vars);
    json_decref(vars);
    if (rc == PL_EINVAL) { /* a copy that cannot be rendered never blocks the change */
        pl_log("warn", "notifications: the email copy of %s could not be rendered", n->type);
        rc = PL_OK;
    }
    return rc;
}

int pl_notifications_create(pl_db_t *db, const pl_event_t *ev, const pl_notification_t *n,
                            bool to_actor)
{
    if (!n->user_id || (!to_actor && is_actor(ev, n->user_id)))
        return PL_OK;
    const pl_notification_type_t *t = pl_notifications_type(n->type);
    if (!t) {
        pl_log("error", "notifications: unregistered type %s", n->type);
        return PL_OK;
    }
    pl_arena_t *a = pl_arena_create();
    char id[PL_ID_LEN];
    pl_uuid7(id);
    json_t *empty = n->data ? NULL : json_object();
    char *text = json_dumps(n->data ? n->data : empty, JSON_COMPACT);
    json_decref(empty);
    pl_notification_row_t row = {
        .id = id,
        .user_id = n->user_id,
        .org_id = n->org_id,
        .type = n->type,
        .title = n->title,
        .body = n->body,
        .link = n->link,
        .data = text ? text : "{}",
        .created_at = pl_now_ms(),
    };
    bool email = false;
    int rc = pl_ntf_store_insert(db, &row, ev ? ev->id : NULL);
    if (!rc)
        rc = wants_email(db, n->user_id, t, &email);
    if (!rc && email)
        rc = queue_copy(db, a, n);
    if (!rc)
        rc = pl_realtime_user_changed(db, n->user_id);
    free(text);
    pl_arena_destroy(a);
    return rc;
}

/* ---- the subscriber ---- */

static const char *org_name(pl_db_t *db, pl_arena_t *a, const char *org_id)
{
    const char *name = NULL;
    return pl_ntf_store_org_name(db, a, org_id, &name) == PL_OK && name ? name : "an organization";
}

static const char *data_str(const pl_event_t *ev, const char *key)
{
    return json_string_value(json_object_get(ev->data, key));
}

/* member.invited: an invitation to an existing account. The invitation
 * email, always sent, is its copy. */
static int invited(pl_db_t *db, pl_ctx_t *ctx, pl_arena_t *a, const pl_event_t *ev)
{
    const char *email = data_str(ev, "email"), *role = data_str(ev, "role"), *user_id = NULL;
    if (!email || pl_ntf_store_user_by_email(db, a, email, &user_id) != PL_OK)
        return PL_OK; /* no account yet: the email is all there is */
    const char *org = org_name(db, a, ev->org_id);
    const char *inviter = ctx && ctx->principal.name && ctx->principal.name[0] ? ctx->principal.name
                                                                               : "A team member";
    json_t *d = json_pack("{s:s?, s:s, s:s, s:s?, s:s?}", "invitation_id", ev->target_id, "org_id",
                          ev->org_id, "org_name", org, "role", role, "invited_by", ev->actor_id);
    pl_notification_t n = {
        .user_id = user_id,
        .type = "member.invited",
        .org_id = ev->org_id,
        .title = pl_arena_printf(a, "Invitation to join %s", org),
        .body = pl_arena_printf(a,
                                "%s invited you to join %s as %s. The invitation email has "
                                "the link to accept it.",
                                inviter, org, role ? role : "a member"),
        .data = d,
    };
    int rc = pl_notifications_create(db, ev, &n, false);
    json_decref(d);
    return rc;
}

static int role_updated(pl_db_t *db, pl_arena_t *a, const pl_event_t *ev)
{
    const char *from = data_str(ev, "from"), *to = data_str(ev, "to");
    const char *org = org_name(db, a, ev->org_id);
    json_t *d = json_pack("{s:s, s:s, s:s?, s:s?}", "org_id", ev->org_id, "org_name", org, "from",
                          from, "to", to);
    pl_notification_t n = {
        .user_id = ev->target_id,
        .type = "member.role_updated",
        .org_id = ev->org_id,
        .title = pl_arena_printf(a, "Your role in %s changed", org),
        .body = pl_arena_printf(a, "Your role in %s is now %s (it was %s).", org, to ? to : "?",
                                from ? from : "?"),
        .data = d,
    };
    int rc = pl_notifications_create(db, ev, &n, false);
    json_decref(d);
    return rc;
}

static int removed(pl_db_t *db, pl_arena_t *a, const pl_event_t *ev)
{
    if (json_is_true(json_object_get(ev->data, "left")))
        return PL_OK; /* they left: they are the actor */
    const char *org = org_name(db, a, ev->org_id);
    json_t *d = json_pack("{s:s, s:s, s:s?}", "org_id", ev->org_id, "org_name", org, "role",
                          data_str(ev, "role"));
    pl_notification_t n = {
        .user_id = ev->target_id,
        .type = "member.removed",
        .org_id = ev->org_id,
        .title = pl_arena_printf(a, "You were removed from %s", org),
        .body = pl_arena_printf(a, "You are no longer a member of %s.", org),
        .data = d,
    };
    int rc = pl_notifications_create(db, ev, &n, false);
    json_decref(d);
    return rc;
}

static int team_added(pl_db_t *db, pl_arena_t *a, const pl_event_t *ev)
{
    const char *user_id = data_str(ev, "user_id"), *team = NULL;
    if (!user_id || !ev->target_id)
        return PL_OK;
    if (pl_ntf_store_team_name(db, a, ev->org_id, ev->target_id, &team) != PL_OK)
        team = "a team";
    const char *org = org_name(db, a, ev->org_id);
    json_t *d = json_pack("{s:s, s:s, s:s, s:s}", "org_id", ev->org_id, "org_name", org, "team_id",
                          ev->target_id, "team_name", team);
    pl_notification_t n = {
        .user_id = user_id,
        .type = "team.member_added",
        .org_id = ev->org_id,
        .title = pl_arena_printf(a, "You were added to %s", team),
        .body = pl_arena_printf(a, "You are now a member of the team %s in %s.", team, org),
        .data = d,
    };
    int rc = pl_notifications_create(db, ev, &n, false);
    json_decref(d);
    return rc;
}

/* The client network of ip: the IPv4 /24 or the IPv6 /48 ("" when ip is not
 * an address). */
static void network_of(const char *ip, char *out, size_t size)
{
    unsigned char a[16];
    char text[INET6_ADDRSTRLEN];
    out[0] = '\0';
    if (inet_pton(AF_INET, ip, a) == 1) {
        snprintf(out, size, "%u.%u.%u.0/24", a[0], a[1], a[2]);
    } else if (inet_pton(AF_INET6, ip, a) == 1) {
        static const unsigned char v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (!memcmp(a, v4mapped, 12)) {
            snprintf(out, size, "%u.%u.%u.0/24", a[12], a[13], a[14]);
            return;
        }
        memset(a + 6, 0, 10);
        if (inet_ntop(AF_INET6, a, text, sizeof(text)))
            snprintf(out, size, "%s/48", text);
    }
}

/* A device: the user agent and the client network. */
static bool device_of(const pl_event_t *ev, char network[64], char device[65])
{
    if (!ev->ip || !ev->target_id)
        return false; /* a sign-in by the system (a command) has no device */
    network_of(ev->ip, network, 64);
    if (!network[0])
        return false;
    const char *ua = ev->user_agent ? ev->user_agent : "";
    pl_buf_t b;
    pl_buf_init(&b, 1024);
    pl_buf_appendf(&b, "%.*s\n%s", UA_MAX, ua, network);
    pl_sha256_hex(b.ptr, b.len, device);
    pl_buf_free(&b);
    return true;
}

/* user.registered: the device of the first sign-in is known from then. */
static int registered(pl_db_t *db, const pl_event_t *ev)
{
    char network[64], device[65];
    if (!device_of(ev, network, device))
        return PL_OK;
    return pl_ntf_store_device_seen(db, ev->target_id, device, ev->created_at);
}

/* user.logged_in: a device not seen on the account in 90 days raises
 * security.new_sign_in. An account with no device recorded at all (made
 * before devices were) learns its first one silently. */
static int signed_in(pl_db_t *db, pl_arena_t *a, const pl_event_t *ev)
{
    char network[64], device[65];
    if (!device_of(ev, network, device))
        return PL_OK;
    int64_t last_seen;
    bool any;
    int rc = pl_ntf_store_device(db, ev->target_id, device, &last_seen, &any);
    if (!rc)
        rc = pl_ntf_store_device_seen(db, ev->target_id, device, ev->created_at);
    if (rc || !any || (last_seen && last_seen >= ev->created_at - DEVICE_WINDOW_MS))
        return rc;
    const char *ua = ev->user_agent && ev->user_agent[0] ? ev->user_agent : "an unknown browser";
    const char *method = data_str(ev, "method");
    char when[32];
    pl_time_format(ev->created_at, when);
    json_t *d = json_pack("{s:s, s:s, s:s?, s:s, s:s?}", "ip", ev->ip, "network", network,
                          "user_agent", ev->user_agent, "signed_in_at", when, "method", method);
    json_t *vars = json_pack("{s:s, s:s, s:s, s:s}", "time", when, "ip", ev->ip, "network", network,
                             "user_agent", ua);
    pl_notification_t n = {
        .user_id = ev->target_id,
        .type = "security.new_sign_in",
        .title = "New sign-in to your account",
        .body = pl_arena_printf(a,
                                "Your account was signed in to from a device not seen before: "
                                "%s, from %s. If this was not you, change your password and "
                                "sign out your other sessions.",
                                ua, ev->ip),
        .data = d,
        .mail_template = "new_sign_in",
        .mail_vars = vars,
    };
    rc = pl_notifications_create(db, ev, &n, true);
    json_decref(d);
    json_decref(vars);
    return rc;
}

int pl_notifications_on_event(pl_db_t *db, pl_ctx_t *ctx, const pl_event_t *ev)
{
    const char *act = ev->action;
    bool org_event = ev->org_id && ev->target_id;
    if (strcmp(act, "user.logged_in") && strcmp(act, "user.registered") &&
        !(org_event && (!strcmp(act, "member.invited") || !strcmp(act, "member.role_updated") ||
                        !strcmp(act, "member.removed") || !strcmp(act, "team.member_added"))))
        return PL_OK;
    pl_arena_t *a = pl_arena_create();
    int rc = PL_OK;
    if (!strcmp(act, "user.logged_in"))
        rc = signed_in(db, a, ev);
    else if (!strcmp(act, "user.registered"))
        rc = registered(db, ev);
    else if (!strcmp(act, "member.invited"))
        rc = invited(db, ctx, a, ev);
    else if (!strcmp(act, "member.role_updated"))
        rc = role_updated(db, a, ev);
    else if (!strcmp(act, "member.removed"))
        rc = removed(db, a, ev);
    else
        rc = team_added(db, a, ev);
    pl_arena_destroy(a);
    return rc;
}

/* ---- the inbox ---- */

typedef struct {
    pl_buf_t *b;
    int count, limit;
    const char *last;
    pl_arena_t *a;
} page_t;

static void add_row(void *arg, const pl_notification_row_t *r)
{
    page_t *p = arg;
    if (++p->count > p->limit)
        return;
    if (p->count > 1)
        LIT(p->b, ",");
    notification_json(p->b, r);
    p->last = r->id;
}

int pl_notifications_list(pl_db_t *db, pl_ctx_t *ctx, bool unread, const char *before, int limit,
                          pl_buf_t *out)
{
    page_t p = {.b = out, .limit = limit, .a = ctx->arena};
    LIT(out, "{\"data\":[");
    int rc =
        pl_ntf_store_page(db, ctx->arena, pl_ctx_user(ctx), unread, before, limit + 1, add_row, &p);
    if (rc)
        return rc;
    LIT(out, "],\"next_cursor\":");
    put_str(out, p.count > limit ? p.last : NULL);
    return LIT(out, "}");
}

int pl_notifications_unread_count(pl_db_t *db, pl_ctx_t *ctx, int64_t *count)
{
    return pl_ntf_store_unread(db, pl_ctx_user(ctx), count);
}

int pl_notifications_mark_read(pl_db_t *db, pl_ctx_t *ctx, const char *id)
{
    if (!pl_uuid_valid(id))
        return pl_fail(ctx, 404, "not_found", "No such notification.");
    int rc = pl_db_begin(db);
    if (rc)
        return rc;
    rc = pl_ntf_store_mark_read(db, pl_ctx_user(ctx), id, pl_now_ms());
    if (rc == PL_ENOTFOUND)
        pl_fail(ctx, 404, "not_found", "No such notification.");
    return pl_db_finish(db, rc);
}

int pl_notifications_mark_all_read(pl_db_t *db, pl_ctx_t *ctx)
{
    int rc = pl_db_begin(db);
    if (!rc)
        rc = pl_db_finish(db, pl_ntf_store_mark_all(db, pl_ctx_user(ctx), pl_now_ms()));
    return rc;
}

/* ---- preferences ---- */

static void set_pref(void *arg, const char *type, bool email)
{
    json_t *o = arg;
    const pl_notification_type_t *t = pl_notifications_type(type);
    if (t && t->has_preference) /* rows of types no longer offered are left out */
        json_object_set_new(o, type, json_boolean(email));
}

int pl_notifications_prefs_get(pl_db_t *db, pl_ctx_t *ctx, json_t **out)
{
    json_t *email = json_object();
    for (int i = 0; i < ntype_lists; i++)
        for (const pl_notification_type_t *t = type_lists[i]; t->type; t++)
            if (t->has_preference)
                json_object_set_new(email, t->type, json_boolean(t->email_default));
    int rc = pl_ntf_store_prefs(db, ctx->arena, pl_ctx_user(ctx), set_pref, email);
    if (rc) {
        json_decref(email);
        return rc;
    }
    *out = json_pack("{s:o}", "email", email);
    return PL_OK;
}

int pl_notifications_prefs_set(pl_db_t *db, pl_ctx_t *ctx, json_t *email)
{
    if (!json_is_object(email)) {
        pl_field_error(ctx, "email", email ? "invalid" : "required",
                       "An object of notification types and true or false.");
        return PL_EINVAL;
    }
    const char *type;
    json_t *v;
    json_object_foreach(email, type, v)
    {
        const pl_notification_type_t *t = pl_notifications_type(type);
        const char *field = pl_arena_printf(ctx->arena, "email.%s", type);
        if (!t || !t->has_preference)
            pl_field_error(ctx, field, "invalid", "No such notification type.");
        else if (!json_is_boolean(v))
            pl_field_error(ctx, field, "invalid", "Must be true or false.");
    }
    int rc = pl_validated(ctx);
    if (rc || (rc = pl_db_begin(db)))
        return rc;
    int64_t now = pl_now_ms();
    json_object_foreach(email, type, v)
    {
        if (!rc)
            rc = pl_ntf_store_pref_set(db, pl_ctx_user(ctx), type, json_is_true(v), now);
    }
    return pl_db_finish(db, rc);
}

/* ---- the user's stream ---- */

typedef struct {
    pl_user_emit_fn emit;
    void *arg;
} source_arg_t;

static void emit_row(void *arg, const pl_notification_row_t *r)
{
    source_arg_t *s = arg;
    pl_buf_t b;
    pl_buf_init(&b, 1024 * 1024);
    notification_json(&b, r);
    if (b.ptr)
        s->emit(s->arg, r->id, r->created_at, b.ptr);
    pl_buf_free(&b);
}

static int source_read(pl_db_t *db, const char *user_id, int64_t since, const char *after,
                       int limit, pl_user_emit_fn emit, void *arg)
{
    pl_arena_t *a = pl_arena_create();
    source_arg_t s = {emit, arg};
    int rc = pl_ntf_store_since(db, a, user_id, since, after, limit, emit_row, &s);
    pl_arena_destroy(a);
    return rc;
}

static int source_newest(pl_db_t *db, const char *user_id, char *out)
{
    return pl_ntf_store_newest(db, user_id, out);
}

static const pl_user_source_t source = {
    .event = "notification",
    .read = source_read,
    .newest = source_newest,
};

int pl_notifications_init(void)
{
    pl_notifications_types_add(own_types);
    pl_realtime_user_source(&source);
    return PL_OK;
}

int pl_notifications_purge(const char *job_id, json_t *payload, char *err, size_t errlen)
{
    PL_UNUSED(job_id);
    PL_UNUSED(payload);
    pl_db_t *db = pl_db_thread();
    int rc = db ? pl_db_begin(db) : PL_EDB;
    if (!rc)
        rc = pl_db_finish(db, pl_ntf_store_devices_purge(db, pl_now_ms() - DEVICE_WINDOW_MS));
    if (rc)
        snprintf(err, errlen, "purging devices failed (%d)", rc);
    return rc;
}
