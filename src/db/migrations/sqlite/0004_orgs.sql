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

-- members_version changes with every change to an organization's member list
-- (memberships, and the names and emails of its members), in the same
-- transaction: a cached rendering of the list is valid exactly while the
-- version it was made from is current. Triggers, so no writer can forget.
ALTER TABLE organizations ADD COLUMN members_version BIGINT NOT NULL DEFAULT 0;
CREATE TRIGGER memberships_version_ins AFTER INSERT ON memberships BEGIN
    UPDATE organizations SET members_version = members_version + 1 WHERE id = NEW.org_id;
END;
CREATE TRIGGER memberships_version_upd AFTER UPDATE ON memberships BEGIN
    UPDATE organizations SET members_version = members_version + 1
        WHERE id = OLD.org_id OR id = NEW.org_id;
END;
CREATE TRIGGER memberships_version_del AFTER DELETE ON memberships BEGIN
    UPDATE organizations SET members_version = members_version + 1 WHERE id = OLD.org_id;
END;
CREATE TRIGGER users_members_version AFTER UPDATE OF email, name ON users BEGIN
    UPDATE organizations SET members_version = members_version + 1
        WHERE id IN (SELECT org_id FROM memberships WHERE user_id = NEW.id);
END;

-- users.orgs_version changes with every change to the list of a user's
-- organizations as GET /v1/me shows it (their memberships, and the names and
-- slugs of those organizations): the same exact-invalidation scheme.
ALTER TABLE users ADD COLUMN orgs_version BIGINT NOT NULL DEFAULT 0;
CREATE TRIGGER memberships_user_version_ins AFTER INSERT ON memberships BEGIN
    UPDATE users SET orgs_version = orgs_version + 1 WHERE id = NEW.user_id;
END;
CREATE TRIGGER memberships_user_version_upd AFTER UPDATE ON memberships BEGIN
    UPDATE users SET orgs_version = orgs_version + 1 WHERE id = OLD.user_id OR id = NEW.user_id;
END;
CREATE TRIGGER memberships_user_version_del AFTER DELETE ON memberships BEGIN
    UPDATE users SET orgs_version = orgs_version + 1 WHERE id = OLD.user_id;
END;
CREATE TRIGGER organizations_user_version AFTER UPDATE OF name, slug ON organizations BEGIN
    UPDATE users SET orgs_version = orgs_version + 1
        WHERE id IN (SELECT user_id FROM memberships WHERE org_id = NEW.id);
END;
