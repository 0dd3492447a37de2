-- Organizations' custom roles, invitations and teams. Every tenant table
-- carries org_id; rows go with their organization.
CREATE TABLE roles (
    org_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    id TEXT NOT NULL UNIQUE,
    key TEXT NOT NULL,
    name TEXT NOT NULL,
    level INTEGER NOT NULL CHECK (level BETWEEN 1 AND 3),
    permissions TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (org_id, key)
);

CREATE TABLE invitations (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    email TEXT NOT NULL,
    role TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL CHECK (status IN ('pending', 'accepted', 'revoked', 'expired')),
    invited_by TEXT REFERENCES users(id) ON DELETE SET NULL,
    expires_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX invitations_pending ON invitations(org_id, email) WHERE status = 'pending';
CREATE INDEX invitations_org ON invitations(org_id, id);

CREATE TABLE teams (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX teams_org ON teams(org_id, id);

CREATE TABLE team_members (
    org_id TEXT NOT NULL,
    team_id TEXT NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
    user_id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (team_id, user_id),
    FOREIGN KEY (org_id, user_id) REFERENCES memberships(org_id, user_id) ON DELETE CASCADE
);
CREATE INDEX team_members_member ON team_members(org_id, user_id);

-- Row-level security: a second wall behind the org_id every query binds.
-- Policies read the transaction-local settings plinth sets per request
-- (app.org_id; app.user_id for a user's own memberships across orgs;
-- app.invitation_token for accepting an invitation by its token). FORCE makes
-- them apply to the tables' owner too; only superusers bypass them.
ALTER TABLE memberships ENABLE ROW LEVEL SECURITY;
ALTER TABLE memberships FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON memberships
    USING (org_id = current_setting('app.org_id', true)
           OR user_id = current_setting('app.user_id', true));

ALTER TABLE invitations ENABLE ROW LEVEL SECURITY;
ALTER TABLE invitations FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON invitations
    USING (org_id = current_setting('app.org_id', true)
           OR token_hash = current_setting('app.invitation_token', true));

ALTER TABLE roles ENABLE ROW LEVEL SECURITY;
ALTER TABLE roles FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON roles
    USING (org_id = current_setting('app.org_id', true));

ALTER TABLE teams ENABLE ROW LEVEL SECURITY;
ALTER TABLE teams FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON teams
    USING (org_id = current_setting('app.org_id', true));

ALTER TABLE team_members ENABLE ROW LEVEL SECURITY;
ALTER TABLE team_members FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON team_members
    USING (org_id = current_setting('app.org_id', true));

-- members_version changes with every change to an organization's member list
-- (memberships, and the names and emails of its members), in the same
-- transaction: a cached rendering of the list is valid exactly while the
-- version it was made from is current. Triggers, so no writer can forget.
ALTER TABLE organizations ADD COLUMN members_version BIGINT NOT NULL DEFAULT 0;

CREATE FUNCTION plinth_memberships_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        UPDATE organizations SET members_version = members_version + 1 WHERE id = OLD.org_id;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        UPDATE organizations SET members_version = members_version + 1 WHERE id = NEW.org_id;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER memberships_version AFTER INSERT OR UPDATE OR DELETE ON memberships
    FOR EACH ROW EXECUTE FUNCTION plinth_memberships_version();

-- Runs where the user renames themself: app.user_id is set, so row-level
-- security shows their memberships in every org.
CREATE FUNCTION plinth_users_members_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE organizations SET members_version = members_version + 1
        WHERE id IN (SELECT org_id FROM memberships WHERE user_id = NEW.id);
    RETURN NULL;
END $$;
CREATE TRIGGER users_members_version AFTER UPDATE OF email, name ON users
    FOR EACH ROW EXECUTE FUNCTION plinth_users_members_version();

-- users.orgs_version changes with every change to the list of a user's
-- organizations as GET /v1/me shows it (their memberships, and the names and
-- slugs of those organizations): the same exact-invalidation scheme.
ALTER TABLE users ADD COLUMN orgs_version BIGINT NOT NULL DEFAULT 0;

CREATE FUNCTION plinth_memberships_user_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        UPDATE users SET orgs_version = orgs_version + 1 WHERE id = OLD.user_id;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        UPDATE users SET orgs_version = orgs_version + 1 WHERE id = NEW.user_id;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER memberships_user_version AFTER INSERT OR UPDATE OR DELETE ON memberships
    FOR EACH ROW EXECUTE FUNCTION plinth_memberships_user_version();

-- Runs where the organization is renamed: app.org_id is set, so row-level
-- security shows its memberships.
CREATE FUNCTION plinth_organizations_user_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE users SET orgs_version = orgs_version + 1
        WHERE id IN (SELECT user_id FROM memberships WHERE org_id = NEW.id);
    RETURN NULL;
END $$;
CREATE TRIGGER organizations_user_version AFTER UPDATE OF name, slug ON organizations
    FOR EACH ROW EXECUTE FUNCTION plinth_organizations_user_version();
