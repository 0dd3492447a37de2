-- Passwordless sign-in and tokens other services verify with a public key:
-- access-token signing keys (ES256, private halves sealed under the master
-- key, shared by every instance), magic links, passkeys (WebAuthn) and their
-- single-use challenges; the two-factor step remembers the first factor.

-- The newest key signs; retired keys stay published (JWKS) until the tokens
-- they signed have expired.
CREATE TABLE jwt_keys (
    kid TEXT PRIMARY KEY,
    alg TEXT NOT NULL,
    private_sealed TEXT NOT NULL,
    public_jwk TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    retired_at BIGINT
);

-- Magic links: tokens stored as SHA-256, 15 minutes, single use. The rows
-- also count the emails sent per address and per client IP (the caps).
CREATE TABLE magic_links (
    token_hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    email TEXT NOT NULL,
    ip TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT,
    created_at BIGINT NOT NULL
);
CREATE INDEX magic_links_user ON magic_links(user_id);
CREATE INDEX magic_links_email ON magic_links(email, created_at);
CREATE INDEX magic_links_ip ON magic_links(ip, created_at);
CREATE INDEX magic_links_expires ON magic_links(expires_at);

-- Passkeys: one row per WebAuthn credential. credential_id is the raw id in
-- base64url, public_key the COSE key as registered (base64url), alg its COSE
-- algorithm (-7 ES256, -8 EdDSA).
CREATE TABLE passkeys (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    credential_id TEXT NOT NULL UNIQUE,
    public_key TEXT NOT NULL,
    alg INTEGER NOT NULL,
    sign_count BIGINT NOT NULL DEFAULT 0,
    user_verified BOOLEAN NOT NULL DEFAULT false,
    backup_eligible BOOLEAN NOT NULL DEFAULT false,
    backed_up BOOLEAN NOT NULL DEFAULT false,
    transports TEXT NOT NULL DEFAULT '[]',
    aaguid TEXT NOT NULL,
    name TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT
);
CREATE INDEX passkeys_user ON passkeys(user_id, created_at);

-- WebAuthn challenges (SHA-256 of the challenge as sent), single use, 5
-- minutes. user_id: the registering user, or the user an authentication was
-- asked for by email (NULL: any discoverable credential).
CREATE TABLE webauthn_challenges (
    challenge_hash TEXT PRIMARY KEY,
    purpose TEXT NOT NULL CHECK (purpose IN ('register', 'authenticate')),
    user_id TEXT REFERENCES users(id) ON DELETE CASCADE,
    expires_at BIGINT NOT NULL,
    used_at BIGINT,
    created_at BIGINT NOT NULL
);
CREATE INDEX webauthn_challenges_user ON webauthn_challenges(user_id);
CREATE INDEX webauthn_challenges_expires ON webauthn_challenges(expires_at);

-- The first factor of a pending two-factor sign-in, for its audit event.
ALTER TABLE mfa_challenges ADD COLUMN method TEXT NOT NULL DEFAULT 'password';
