/* events.c - subscribers, watchers and wake-ups of the event outbox. */
#include <string.h>

#include "platform/events/events.h"

#define MAX_SUBSCRIBERS 16
#define MAX_WATCHERS    8
#define MAX_PENDING     4

static struct {
    const char *module;
    pl_event_fn fn;
} subscribers[MAX_SUBSCRIBERS];
static int nsubscribers;

static const char *actions[PL_EVENTS_MAX_ACTIONS];
static size_t nactions;

static struct {
    void (*cb)(const char *org, void *arg);
    void *arg;
} watchers[MAX_WATCHERS];
static int nwatchers;

/* What this thread published in its open transaction: up to MAX_PENDING
 * chains, or "several" (woken as NULL). */
static __thread char pending[MAX_PENDING][PL_ID_LEN];
static __thread int npending;
static __thread bool pending_many;

void pl_events_register_actions(const char *const *list)
{
    for (const char *const *a = list; a && *a; a++) {
        if (pl_events_action_known(*a))
            continue;
        if (nactions == PL_EVENTS_MAX_ACTIONS || strlen(*a) > PL_EVENTS_ACTION_MAX) {
            pl_log("error", "events: action %s is not registered", *a);
            continue;
        }
        actions[nactions++] = *a;
    }
}

bool pl_events_action_known(const char *action)
{
    for (size_t i = 0; action && i < nactions; i++)
        if (!strcmp(actions[i], action))
            return true;
    return false;
}

bool pl_events_noun_known(const char *noun, size_t n)
{
    for (size_t i = 0; i < nactions; i++)
        if (!strncmp(actions[i], noun, n) && actions[i][n] == '.')
            return true;
    return false;
}

size_t pl_events_action_count(void)
{
    return nactions;
}

const char *pl_events_action(size_t i)
{
    return i < nactions ? actions[i] : NULL;
}

void pl_events_subscribe(const char *module, pl_event_fn fn)
{
    if (nsubscribers < MAX_SUBSCRIBERS && fn) {
        subscribers[nsubscribers].module = module;
        subscribers[nsubscribers].fn = fn;
        nsubscribers++;
    }
}

void pl_events_watch(void (*cb)(const char *org, void *arg), void *arg)
{
    if (nwatchers < MAX_WATCHERS) {
        watchers[nwatchers].cb = cb;
        watchers[nwatchers].arg = arg;
        nwatchers++;
    }
}

static void remember(const char *chain)
{
    for (int i = 0; i < npending; i++)
        if (!strcmp(pending[i], chain))
            return;
    if (npending == MAX_PENDING) {
        pending_many = true;
        return;
    }
    snprintf(pending[npending++], PL_ID_LEN, "%s", chain);
}

int pl_events_publish(pl_db_t *db, pl_ctx_t *ctx, const pl_event_t *ev)
{
    for (int i = 0; i < nsubscribers; i++) {
        int rc = subscribers[i].fn(db, ctx, ev);
        if (rc) {
            pl_log("error", "events: subscriber %s failed on %s (%d)", subscribers[i].module,
                   ev->action, rc);
            return rc;
        }
    }
    const char *chain = ev->org_id ? ev->org_id : "instance";
    remember(chain);
    return pl_db_notify(db, PL_EVENTS_CHANNEL, chain);
}

static void wake(const char *org)
{
    for (int i = 0; i < nwatchers; i++)
        watchers[i].cb(org, watchers[i].arg);
}

void pl_events_after_commit(void)
{
    if (!npending && !pending_many)
        return;
    /* PostgreSQL delivers our own NOTIFY to this instance's listener too */
    if (pl_db_engine() != PL_DB_POSTGRES) {
        if (pending_many)
            wake(NULL);
        else
            for (int i = 0; i < npending; i++)
                wake(pending[i]);
    }
    pl_events_discard();
}

void pl_events_discard(void)
{
    npending = 0;
    pending_many = false;
}

static void on_notify(const char *payload)
{
    wake(payload && payload[0] ? payload : NULL);
}

static int events_init(void)
{
    /* watchers register in later modules' init: listen regardless */
    return pl_db_listen(PL_EVENTS_CHANNEL, on_notify);
}

/* The actions of the modules whose descriptors do not list their own yet
 * (accounts, organizations, API keys, flags, instance administration and
 * the job queue). A module that declares `actions` itself may keep them
 * here too: the catalog ignores duplicates. */
static const char *const platform_actions[] = {
    "user.registered",
    "user.logged_in",
    "user.login_failed",
    "user.logged_out",
    "user.updated",
    "user.password_changed",
    "user.password_reset",
    "user.email_verified",
    "user.mfa_enabled",
    "user.mfa_disabled",
    "user.recovery_codes_regenerated",
    "user.disabled",
    "user.sessions_revoked",
    "user.enabled",
    "user.promoted_admin",
    "session.revoked",
    "org.created",
    "org.updated",
    "org.deleted",
    "member.invited",
    "member.joined",
    "member.role_updated",
    "member.removed",
    "invitation.accepted",
    "invitation.revoked",
    "team.created",
    "team.updated",
    "team.deleted",
    "team.member_added",
    "team.member_removed",
    "role.created",
    "role.updated",
    "role.deleted",
    "apikey.created",
    "apikey.revoked",
    "flag.updated",
    "job.retried",
    NULL,
};

const pl_module_t pl_events_module = {
    .name = "events",
    .actions = platform_actions,
    .init = events_init,
};
