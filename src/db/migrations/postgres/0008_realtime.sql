-- Realtime streams and in-app notifications.
--
-- stream_tickets: single-use, short-lived credentials for browsers'
-- EventSource (which cannot send headers), stored as SHA-256 like refresh
-- tokens. org_id is NULL for a ticket to the user's notification stream.
CREATE TABLE stream_tickets (
    token_hash TEXT PRIMARY KEY,
    org_id TEXT REFERENCES organizations(id) ON DELETE CASCADE,
    user_id TEXT REFERENCES users(id) ON DELETE CASCADE,
    session_id TEXT,
    api_key_id TEXT,
    expires_at BIGINT NOT NULL,
    used_at BIGINT,
    created_at BIGINT NOT NULL
);
CREATE INDEX stream_tickets_expires ON stream_tickets(expires_at);
CREATE INDEX stream_tickets_user ON stream_tickets(user_id);

-- A ticket is visible in its organization (minted there), to its user (the
-- notification stream's), or by its hash while a stream redeems it
-- (app.stream_ticket), as API keys are.
ALTER TABLE stream_tickets ENABLE ROW LEVEL SECURITY;
ALTER TABLE stream_tickets FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON stream_tickets
    USING (org_id = current_setting('app.org_id', true)
           OR user_id = current_setting('app.user_id', true)
           OR token_hash = current_setting('app.stream_ticket', true));

-- A user's notifications. org_id names the organization an event happened
-- in (NULL for account events such as sign-in alerts); it is not a foreign
-- key, so a notification about an organization outlives it.
CREATE TABLE notifications (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    org_id TEXT,
    type TEXT NOT NULL,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    link TEXT,
    data TEXT NOT NULL,
    event_id TEXT,
    read_at BIGINT,
    created_at BIGINT NOT NULL
);
CREATE INDEX notifications_user ON notifications(user_id, id);
CREATE INDEX notifications_user_unread ON notifications(user_id, id) WHERE read_at IS NULL;
CREATE INDEX notifications_user_created ON notifications(user_id, created_at);

-- Row-level security: a user reads and changes only their own notifications
-- (app.user_id, set when a request authenticates). They are created by the
-- event subscriber inside the transaction of the change, which runs as the
-- actor: an insert must belong to the organization that transaction acts in
-- (app.org_id), or to none (account events).
ALTER TABLE notifications ENABLE ROW LEVEL SECURITY;
ALTER TABLE notifications FORCE ROW LEVEL SECURITY;
CREATE POLICY owner_only ON notifications
    USING (user_id = current_setting('app.user_id', true));
CREATE POLICY created_by_events ON notifications FOR INSERT
    WITH CHECK (org_id IS NULL OR org_id = current_setting('app.org_id', true));

-- Per-user email preferences by notification type; a type without a row
-- has its default. Read by the event subscriber for the recipient, so no
-- row-level policy (as sessions).
CREATE TABLE notification_preferences (
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    type TEXT NOT NULL,
    email BOOLEAN NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, type)
);

-- Devices an account signed in from: device is the SHA-256 of the user
-- agent and the client network (IPv4 /24, IPv6 /48). A sign-in from a device
-- not seen in 90 days raises a security.new_sign_in notification.
CREATE TABLE user_devices (
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    device TEXT NOT NULL,
    first_seen_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, device)
);
CREATE INDEX user_devices_seen ON user_devices(last_seen_at);
