-- Plans and their limits, each organization's plan and subscription, usage
-- counters, and the Stripe events already applied (docs/billing.md).
--
-- kv 'billing_version' (0001_init.sql) is bumped in the same transaction as
-- every change to a plan or to an organization's plan, so each instance can
-- tell from one tiny query that its in-memory plan cache is stale.
CREATE TABLE plans (
    key TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    public INTEGER NOT NULL DEFAULT 0,
    -- limits; NULL is unlimited
    max_members BIGINT CHECK (max_members >= 0),
    max_projects BIGINT CHECK (max_projects >= 0),
    max_api_keys BIGINT CHECK (max_api_keys >= 0),
    max_webhooks BIGINT CHECK (max_webhooks >= 0),
    max_storage_bytes BIGINT CHECK (max_storage_bytes >= 0),
    max_records BIGINT CHECK (max_records >= 0),
    requests_per_minute BIGINT CHECK (requests_per_minute >= 0),
    features TEXT NOT NULL DEFAULT '', -- flag keys, space-separated
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
) WITHOUT ROWID;

-- A Stripe price names one plan: the webhook and the sync job map a
-- subscription's price to its plan here.
CREATE TABLE plan_prices (
    price_id TEXT PRIMARY KEY,
    plan_key TEXT NOT NULL REFERENCES plans(key) ON DELETE CASCADE,
    position INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX plan_prices_plan ON plan_prices(plan_key, position);

-- The free plan exists from the first start, without limits until the
-- operator edits it.
INSERT INTO plans (key, name, public, created_at, updated_at)
VALUES ('free', 'Free', 1, CAST(strftime('%s', 'now') AS INTEGER) * 1000,
        CAST(strftime('%s', 'now') AS INTEGER) * 1000);

-- One row per organization: its plan and its subscription as last known.
-- state_at is when the subscription state applied here was true (a Stripe
-- event's creation time, or the time of a sync): an older event is stale.
CREATE TABLE org_billing (
    org_id TEXT PRIMARY KEY REFERENCES organizations(id) ON DELETE CASCADE,
    plan_key TEXT NOT NULL REFERENCES plans(key),
    status TEXT NOT NULL DEFAULT 'none'
        CHECK (status IN ('none', 'trialing', 'active', 'past_due', 'canceled')),
    current_period_end BIGINT,
    cancel_at_period_end INTEGER NOT NULL DEFAULT 0,
    stripe_customer_id TEXT UNIQUE,
    stripe_subscription_id TEXT,
    state_at BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
-- deleting a plan checks its foreign keys: an index on plan_key
CREATE INDEX org_billing_plan ON org_billing(plan_key);

-- Organizations that exist already start on the free plan.
INSERT INTO org_billing (org_id, plan_key, created_at, updated_at)
SELECT id, 'free', CAST(strftime('%s', 'now') AS INTEGER) * 1000,
       CAST(strftime('%s', 'now') AS INTEGER) * 1000
FROM organizations;

-- The counts a limit makes in the transaction of each guarded insert read
-- only these (partial, covering) indexes: seats (pl_orgs_count_seats: members
-- and pending invitations) and live API keys (pl_apikeys_count_live).
CREATE INDEX invitations_seats ON invitations(org_id, expires_at) WHERE status = 'pending';
CREATE INDEX api_keys_live ON api_keys(org_id, expires_at) WHERE revoked_at IS NULL;

-- Stored usage of the limits that are not counted from their own tables
-- (storage bytes, records, ...): raised by pl_billing_reserve in the
-- transaction of the insert it guards, lowered by pl_billing_release.
CREATE TABLE billing_usage (
    org_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    metric TEXT NOT NULL,
    used BIGINT NOT NULL DEFAULT 0 CHECK (used >= 0),
    PRIMARY KEY (org_id, metric)
) WITHOUT ROWID;

-- Stripe events applied (or acknowledged), by id: a replay changes nothing.
CREATE TABLE stripe_events (
    id TEXT PRIMARY KEY,
    type TEXT NOT NULL,
    created BIGINT NOT NULL, -- the event's creation time
    received_at BIGINT NOT NULL
) WITHOUT ROWID;
CREATE INDEX stripe_events_received ON stripe_events(received_at);
