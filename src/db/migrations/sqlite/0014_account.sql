-- Account deletion: nothing to change on SQLite (PostgreSQL adds a
-- row-level security policy for invitations to the deleted user's email).
-- The same number keeps both engines at one schema version.
SELECT 1;
