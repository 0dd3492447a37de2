-- Collections: data types defined by the instance admin (definitions, an
-- instance table) and their records, stored per organization (and per
-- project for project-scoped collections). A record's data is JSONB;
-- search_text holds the text of its definition's search fields, and
-- search_tsv its tsvector, kept by PostgreSQL and GIN-indexed (FTS5 indexes
-- search_text on SQLite, where search_tsv stays NULL).
-- Declared indexes are expression indexes created with the definition.
-- Grants give one user read or write access to one record.
CREATE TABLE collections (
    name TEXT PRIMARY KEY,
    definition TEXT NOT NULL,
    version BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE records (
    rid BIGINT GENERATED ALWAYS AS IDENTITY,
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    collection TEXT NOT NULL,
    project_id TEXT REFERENCES projects(id) ON DELETE CASCADE,
    data JSONB NOT NULL,
    search_text TEXT NOT NULL DEFAULT '',
    search_tsv TSVECTOR GENERATED ALWAYS AS (to_tsvector('simple', search_text)) STORED,
    version BIGINT NOT NULL,
    created_by TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX records_list ON records(org_id, collection, project_id, id);
CREATE INDEX records_project ON records(project_id);
CREATE INDEX records_search ON records USING GIN (search_tsv);

CREATE TABLE record_grants (
    record_id TEXT NOT NULL REFERENCES records(id) ON DELETE CASCADE,
    org_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    access TEXT NOT NULL CHECK (access IN ('read', 'write')),
    granted_by TEXT,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (record_id, user_id)
);
CREATE INDEX record_grants_user ON record_grants(org_id, user_id);

ALTER TABLE records ENABLE ROW LEVEL SECURITY;
ALTER TABLE records FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON records
    USING (org_id = current_setting('app.org_id', true));

ALTER TABLE record_grants ENABLE ROW LEVEL SECURITY;
ALTER TABLE record_grants FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON record_grants
    USING (org_id = current_setting('app.org_id', true));
