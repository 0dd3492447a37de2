-- Feature flags (instance-wide) and their per-organization overrides.
-- kv 'flags_version' (0001_init.sql) is bumped in the same transaction as every
-- change here, so each instance can tell from one tiny query that its
-- in-memory flag snapshot is stale.
CREATE TABLE flags (
    key TEXT PRIMARY KEY,
    description TEXT NOT NULL,
    enabled INTEGER NOT NULL DEFAULT 0,
    rollout_percent INTEGER NOT NULL DEFAULT 100
        CHECK (rollout_percent BETWEEN 0 AND 100),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
) WITHOUT ROWID;

CREATE TABLE flag_overrides (
    flag_key TEXT NOT NULL REFERENCES flags(key) ON DELETE CASCADE,
    org_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    enabled INTEGER NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (flag_key, org_id)
) WITHOUT ROWID;
-- deleting an organization cascades here: the foreign key needs an index on org_id
CREATE INDEX flag_overrides_org ON flag_overrides(org_id);
