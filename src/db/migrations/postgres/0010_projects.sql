-- Projects, their environments and encrypted secrets; project-local users
-- (guests invited into one project); per-organization data keys.
--
-- Every tenant row carries org_id and goes with its organization: projects
-- and data keys reference organizations, everything else hangs off a
-- project. Project members must be members of the organization (a guest at
-- least), environment members must be members of the project: leaving the
-- organization or the project takes the narrower grants with it.

-- Envelope encryption: one data key per organization (scope = its id) and
-- one for instance objects (scope 'instance', org_id NULL), each 32 random
-- bytes sealed under the master key. master_id names the master key that
-- sealed it (a fingerprint, not the key).
CREATE TABLE data_keys (
    scope TEXT PRIMARY KEY,
    org_id TEXT REFERENCES organizations(id) ON DELETE CASCADE,
    key_sealed TEXT NOT NULL,
    master_id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    CHECK ((scope = 'instance' AND org_id IS NULL) OR scope = org_id)
);
CREATE INDEX data_keys_org ON data_keys(org_id);

CREATE TABLE projects (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    slug TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    created_by TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (org_id, slug)
);
CREATE INDEX projects_org ON projects(org_id, id);

CREATE TABLE project_members (
    org_id TEXT NOT NULL,
    project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    user_id TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('owner', 'member')),
    created_at BIGINT NOT NULL,
    PRIMARY KEY (project_id, user_id),
    FOREIGN KEY (org_id, user_id) REFERENCES memberships(org_id, user_id) ON DELETE CASCADE
);
CREATE INDEX project_members_user ON project_members(org_id, user_id);

CREATE TABLE environments (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    slug TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (project_id, slug)
);
CREATE INDEX environments_project ON environments(org_id, project_id, id);

CREATE TABLE environment_members (
    org_id TEXT NOT NULL,
    project_id TEXT NOT NULL,
    environment_id TEXT NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
    user_id TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('administrator', 'manager', 'viewer')),
    created_at BIGINT NOT NULL,
    PRIMARY KEY (environment_id, user_id),
    FOREIGN KEY (project_id, user_id) REFERENCES project_members(project_id, user_id)
        ON DELETE CASCADE
);
CREATE INDEX environment_members_user ON environment_members(project_id, user_id);

-- A secret is its current version; its values live in secret_versions (the
-- last 10 kept), each sealed under the org's data key and bound to its row.
CREATE TABLE secrets (
    org_id TEXT NOT NULL,
    environment_id TEXT NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
    key TEXT NOT NULL,
    version BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    updated_by TEXT,
    PRIMARY KEY (environment_id, key)
);

CREATE TABLE secret_versions (
    org_id TEXT NOT NULL,
    environment_id TEXT NOT NULL,
    key TEXT NOT NULL,
    version BIGINT NOT NULL,
    value_sealed TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    created_by TEXT,
    PRIMARY KEY (environment_id, key, version),
    FOREIGN KEY (environment_id, key) REFERENCES secrets(environment_id, key) ON DELETE CASCADE
);

-- A project invitation: the invitee joins the organization as a guest (when
-- not a member yet) and the project with project_role. One pending
-- invitation per email and organization, and per email and project.
ALTER TABLE invitations ADD COLUMN project_id TEXT REFERENCES projects(id) ON DELETE CASCADE;
ALTER TABLE invitations ADD COLUMN project_role TEXT
    CHECK (project_role IS NULL OR project_role IN ('owner', 'member'));
DROP INDEX invitations_pending;
CREATE UNIQUE INDEX invitations_pending ON invitations(org_id, email, COALESCE(project_id, ''))
    WHERE status = 'pending';
CREATE INDEX invitations_project ON invitations(project_id);

-- Row-level security, as on the other tenant tables.
ALTER TABLE data_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE data_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON data_keys
    USING (org_id IS NULL OR org_id = current_setting('app.org_id', true));

ALTER TABLE projects ENABLE ROW LEVEL SECURITY;
ALTER TABLE projects FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON projects
    USING (org_id = current_setting('app.org_id', true));

ALTER TABLE project_members ENABLE ROW LEVEL SECURITY;
ALTER TABLE project_members FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON project_members
    USING (org_id = current_setting('app.org_id', true));

ALTER TABLE environments ENABLE ROW LEVEL SECURITY;
ALTER TABLE environments FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON environments
    USING (org_id = current_setting('app.org_id', true));

ALTER TABLE environment_members ENABLE ROW LEVEL SECURITY;
ALTER TABLE environment_members FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON environment_members
    USING (org_id = current_setting('app.org_id', true));

ALTER TABLE secrets ENABLE ROW LEVEL SECURITY;
ALTER TABLE secrets FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON secrets
    USING (org_id = current_setting('app.org_id', true));

ALTER TABLE secret_versions ENABLE ROW LEVEL SECURITY;
ALTER TABLE secret_versions FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON secret_versions
    USING (org_id = current_setting('app.org_id', true));
