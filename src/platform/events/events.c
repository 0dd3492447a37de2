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

const pl_module_t pl_events_module = {
    .name = "events",
    .init = events_init,
};
