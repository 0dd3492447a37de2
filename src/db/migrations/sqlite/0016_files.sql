-- Files of an organization: one row per finished upload; the bytes live in
-- the storage backend under "<org_id>/<id>". Rows go with their
-- organization; a job queued with its deletion removes the objects.
CREATE TABLE files (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size BIGINT NOT NULL CHECK (size >= 0),
    sha256 TEXT NOT NULL,
    created_by TEXT,
    created_at BIGINT NOT NULL
) WITHOUT ROWID;
CREATE INDEX files_org ON files(org_id, id);
