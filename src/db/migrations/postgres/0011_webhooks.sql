-- Outgoing webhooks: endpoints of an organization (org_id) or of the
-- instance (org_id NULL), the deliveries queued for them in the same
-- transaction as the audited change, and each delivery's attempts. Rows go
-- with their organization and with their endpoint.
CREATE TABLE webhook_endpoints (
    id TEXT PRIMARY KEY,
    org_id TEXT REFERENCES organizations(id) ON DELETE CASCADE,
    url TEXT NOT NULL,
    events TEXT NOT NULL,
    description TEXT NOT NULL,
    enabled BOOLEAN NOT NULL,
    disabled_reason TEXT CHECK (disabled_reason IN ('manual', 'failing', 'gone')),
    secret_sealed TEXT NOT NULL,
    previous_secret_sealed TEXT,
    previous_secret_expires_at BIGINT,
    failed_deliveries INTEGER NOT NULL DEFAULT 0,
    pump_until BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX webhook_endpoints_org ON webhook_endpoints(org_id, id);

CREATE TABLE webhook_deliveries (
    id TEXT PRIMARY KEY,
    org_id TEXT REFERENCES organizations(id) ON DELETE CASCADE,
    endpoint_id TEXT NOT NULL REFERENCES webhook_endpoints(id) ON DELETE CASCADE,
    event_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    payload TEXT NOT NULL,
    is_test BOOLEAN NOT NULL DEFAULT false,
    status TEXT NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
    attempt_count INTEGER NOT NULL DEFAULT 0,
    next_attempt_at BIGINT,
    lease_until BIGINT,
    lease_owner TEXT,
    last_response_status INTEGER,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    completed_at BIGINT,
    UNIQUE (endpoint_id, event_id)
);
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries(endpoint_id, id);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries(endpoint_id, next_attempt_at)
    WHERE status = 'pending';
CREATE INDEX webhook_deliveries_leased ON webhook_deliveries(endpoint_id, lease_until)
    WHERE lease_until IS NOT NULL;
CREATE INDEX webhook_deliveries_org ON webhook_deliveries(org_id, created_at);

CREATE TABLE webhook_attempts (
    delivery_id TEXT NOT NULL REFERENCES webhook_deliveries(id) ON DELETE CASCADE,
    n INTEGER NOT NULL,
    org_id TEXT REFERENCES organizations(id) ON DELETE CASCADE,
    at BIGINT NOT NULL,
    response_status INTEGER,
    duration_ms INTEGER NOT NULL,
    error TEXT,
    PRIMARY KEY (delivery_id, n)
);
CREATE INDEX webhook_attempts_org ON webhook_attempts(org_id);

-- Row-level security, the second wall behind the org_id every query binds:
-- an organization's rows are visible in its context (app.org_id); the
-- instance's rows (org_id NULL) to every context, as for audit_events.
ALTER TABLE webhook_endpoints ENABLE ROW LEVEL SECURITY;
ALTER TABLE webhook_endpoints FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON webhook_endpoints
    USING (org_id IS NULL OR org_id = current_setting('app.org_id', true));

ALTER TABLE webhook_deliveries ENABLE ROW LEVEL SECURITY;
ALTER TABLE webhook_deliveries FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON webhook_deliveries
    USING (org_id IS NULL OR org_id = current_setting('app.org_id', true));

ALTER TABLE webhook_attempts ENABLE ROW LEVEL SECURITY;
ALTER TABLE webhook_attempts FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON webhook_attempts
    USING (org_id IS NULL OR org_id = current_setting('app.org_id', true));
