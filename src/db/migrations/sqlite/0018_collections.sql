-- Collections: data types defined by the instance admin (definitions, an
-- instance table) and their records, stored per organization (and per
-- project for project-scoped collections). A record's data is JSON;
-- search_text holds the text of its definition's search fields, indexed
-- for full-text search (FTS5 here; on PostgreSQL the search_tsv column, a
-- stored tsvector with a GIN index). Declared indexes are expression indexes created with the
-- definition. Grants give one user read or write access to one record.
CREATE TABLE collections (
    name TEXT PRIMARY KEY,
    definition TEXT NOT NULL,
    version BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE records (
    rid INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    org_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    collection TEXT NOT NULL,
    project_id TEXT REFERENCES projects(id) ON DELETE CASCADE,
    data TEXT NOT NULL,
    search_text TEXT NOT NULL DEFAULT '',
    search_tsv TEXT, -- PostgreSQL's tsvector of search_text; FTS5 serves SQLite
    version BIGINT NOT NULL,
    created_by TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX records_list ON records(org_id, collection, project_id, id);
CREATE INDEX records_project ON records(project_id);

CREATE VIRTUAL TABLE records_fts USING fts5(search_text, content='records', content_rowid='rid');
CREATE TRIGGER records_fts_insert AFTER INSERT ON records BEGIN
    INSERT INTO records_fts(rowid, search_text) VALUES (new.rid, new.search_text);
END;
CREATE TRIGGER records_fts_delete AFTER DELETE ON records BEGIN
    INSERT INTO records_fts(records_fts, rowid, search_text) VALUES ('delete', old.rid, old.search_text);
END;
CREATE TRIGGER records_fts_update AFTER UPDATE OF search_text ON records BEGIN
    INSERT INTO records_fts(records_fts, rowid, search_text) VALUES ('delete', old.rid, old.search_text);
    INSERT INTO records_fts(rowid, search_text) VALUES (new.rid, new.search_text);
END;

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
