-- The tamper-evident audit log: one hash chain per organization (chain = org
-- id) and one for instance-level events (chain = 'instance'). Each chain's
-- head is kept in audit_heads, updated in the same transaction as the append,
-- so rows cut from the end are noticed; after retention pruning the last
-- pruned event's (seq, hash) is the anchor the chain is verified from.
CREATE TABLE audit_events (
    chain TEXT NOT NULL,
    seq BIGINT NOT NULL,
    id TEXT NOT NULL UNIQUE,
    org_id TEXT,
    action TEXT NOT NULL,
    actor_type TEXT NOT NULL,
    actor_id TEXT,
    target_type TEXT,
    target_id TEXT,
    ip TEXT,
    user_agent TEXT,
    request_id TEXT,
    data TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL,
    PRIMARY KEY (chain, seq)
);
CREATE INDEX audit_events_actor ON audit_events(actor_id, chain, seq);
CREATE INDEX audit_events_target ON audit_events(target_id, chain, seq);

CREATE TABLE audit_heads (
    chain TEXT PRIMARY KEY,
    seq BIGINT NOT NULL,
    hash TEXT NOT NULL,
    anchor_seq BIGINT NOT NULL DEFAULT 0,
    anchor_hash TEXT NOT NULL
);

-- An org's events are tenant rows; instance events (org_id NULL) are visible
-- to every context that asks for them (queries filter by chain and user).
ALTER TABLE audit_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_events FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON audit_events
    USING (org_id IS NULL OR org_id = current_setting('app.org_id', true));
-- audit_heads holds only each chain's (seq, hash): no tenant data, and
-- `plinth audit verify` must list every chain, so it has no policy.
