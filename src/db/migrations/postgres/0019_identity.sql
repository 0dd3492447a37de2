-- Sign-in with identity providers: the instance's providers (OpenID Connect
-- or plain OAuth 2), the identities linked to accounts, the state of a
-- sign-in in flight and the single-use codes it ends with; per-organization
-- SSO (the organization's own OpenID issuer, its claimed domains) and the
-- organization's security policy.

-- Instance providers. client_secret_sealed is sealed under the instance
-- data key; scopes is a JSON array of strings.
CREATE TABLE identity_providers (
    key TEXT PRIMARY KEY,
    type TEXT NOT NULL CHECK (type IN ('oidc', 'oauth2')),
    name TEXT NOT NULL,
    issuer TEXT,
    client_id TEXT NOT NULL,
    client_secret_sealed TEXT NOT NULL,
    scopes TEXT NOT NULL,
    authorization_url TEXT,
    token_url TEXT,
    userinfo_url TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- An account's identity at a provider: provider is the provider's key, or
-- "sso:<org id>" for an organization's issuer; subject is the provider's
-- stable id of the person.
CREATE TABLE user_identities (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    provider TEXT NOT NULL,
    subject TEXT NOT NULL,
    email TEXT,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT,
    UNIQUE (provider, subject)
);
CREATE INDEX user_identities_user ON user_identities(user_id, created_at);

-- A sign-in in flight (10 minutes, single use): state stored as SHA-256;
-- the nonce and the PKCE verifier go back to the provider at the callback.
-- provider_key for instance providers, org_id for SSO.
CREATE TABLE oauth_states (
    state_hash TEXT PRIMARY KEY,
    provider_key TEXT,
    org_id TEXT REFERENCES organizations(id) ON DELETE CASCADE,
    nonce TEXT NOT NULL,
    code_verifier TEXT NOT NULL,
    redirect_to TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT,
    created_at BIGINT NOT NULL
);
CREATE INDEX oauth_states_expires ON oauth_states(expires_at);
CREATE INDEX oauth_states_org ON oauth_states(org_id, expires_at);

-- What a callback hands the client (60 seconds, single use), stored as
-- SHA-256: who signed in, how, and the personal organization when the
-- account was created by this sign-in.
CREATE TABLE oauth_codes (
    code_hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    method TEXT NOT NULL,
    created_org_id TEXT,
    expires_at BIGINT NOT NULL,
    used_at BIGINT,
    created_at BIGINT NOT NULL
);
CREATE INDEX oauth_codes_expires ON oauth_codes(expires_at);

-- An organization's SSO: its OpenID issuer and client (the secret sealed
-- under the organization's data key), the role given to members who join
-- just in time, and its policies.
CREATE TABLE org_sso (
    org_id TEXT PRIMARY KEY REFERENCES organizations(id) ON DELETE CASCADE,
    issuer TEXT NOT NULL,
    client_id TEXT NOT NULL,
    client_secret_sealed TEXT NOT NULL,
    default_role TEXT NOT NULL,
    enforce BOOLEAN NOT NULL DEFAULT false,
    join_by_email_domain BOOLEAN NOT NULL DEFAULT false,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- Domains claimed by an organization's SSO; approved_at is set by an
-- instance admin. A domain is claimed by one organization at most.
CREATE TABLE sso_domains (
    domain TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    approved_at BIGINT,
    created_at BIGINT NOT NULL
);
CREATE INDEX sso_domains_org ON sso_domains(org_id);

-- Row-level security, the second wall behind the org_id every query binds:
-- an organization's SSO settings and domains are visible in its context;
-- a domain also by its name while a sign-in routes by it (app.sso_domain),
-- a sign-in in flight by its state while its callback spends it
-- (app.oauth_state), and those of instance providers (org_id NULL) always.
ALTER TABLE org_sso ENABLE ROW LEVEL SECURITY;
ALTER TABLE org_sso FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON org_sso
    USING (org_id = current_setting('app.org_id', true));

ALTER TABLE sso_domains ENABLE ROW LEVEL SECURITY;
ALTER TABLE sso_domains FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON sso_domains
    USING (org_id = current_setting('app.org_id', true)
           OR domain = current_setting('app.sso_domain', true));

ALTER TABLE oauth_states ENABLE ROW LEVEL SECURITY;
ALTER TABLE oauth_states FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON oauth_states
    USING (org_id IS NULL OR org_id = current_setting('app.org_id', true)
           OR state_hash = current_setting('app.oauth_state', true));

-- Members must have two-factor on.
ALTER TABLE organizations ADD COLUMN require_mfa BOOLEAN NOT NULL DEFAULT false;
