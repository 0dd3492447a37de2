-- Instance-wide settings (schema_migrations itself is created by migrate.c).
CREATE TABLE kv (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    updated_at BIGINT NOT NULL -- UTC milliseconds
);
