"""Migrations are checksummed when applied: a database whose record of an
applied migration differs from the file embedded in the binary (the file was
edited after it ran, or the binary is another build) makes every command that
opens storage refuse to run, naming the migration, with exit status 2."""

import os
import sqlite3

import plinth


def tamper(server, sql):
    if server.pg_url:
        plinth.psql(sql, url=server.pg_url)
    else:
        con = sqlite3.connect(os.path.join(server.data_dir, "plinth.db"), timeout=10)
        with con:
            con.execute(sql)
        con.close()


def storage_env(server):
    return {"PLINTH_DATABASE_URL": server.pg_url} if server.pg_url else {}


def test_checksums_are_recorded(make_server):
    s = make_server()
    s.stop()
    if s.pg_url:
        out = plinth.psql("SELECT count(*) FROM schema_migrations WHERE checksum ~ '^[0-9a-f]{64}$'",
                          url=s.pg_url)
        total = plinth.psql("SELECT count(*) FROM schema_migrations", url=s.pg_url)
        assert out.strip() == total.strip() and int(total) > 0
    else:
        con = sqlite3.connect(os.path.join(s.data_dir, "plinth.db"))
        rows = con.execute("SELECT version, checksum FROM schema_migrations").fetchall()
        con.close()
        assert rows and all(len(c or "") == 64 for _, c in rows), rows


def test_a_changed_migration_refuses_to_start(make_server):
    s = make_server()
    s.stop()
    tamper(s, "UPDATE schema_migrations SET checksum = '%s' WHERE version = 2" % ("0" * 64))
    p = plinth.run_cli(["serve", "--data", s.data_dir, "--http", "127.0.0.1:%d" % s.port],
                       env=storage_env(s))
    assert p.returncode == 2, (p.returncode, p.stderr)
    assert "0002_accounts" in p.stderr and "refusing to start" in p.stderr, p.stderr
    p = plinth.run_cli(["migrate", "--data", s.data_dir], env=storage_env(s))
    assert p.returncode == 2, (p.returncode, p.stderr)
    assert "0002_accounts" in p.stderr, p.stderr


def test_a_record_without_checksum_adopts_the_embedded_one(make_server):
    """Databases migrated before checksums were kept start as before."""
    s = make_server()
    s.stop()
    tamper(s, "UPDATE schema_migrations SET checksum = NULL")
    s.start()
    assert s.get("/readyz").status_code == 200
    s.stop()
    test_sql = "SELECT count(*) FROM schema_migrations WHERE checksum IS NULL"
    if s.pg_url:
        assert plinth.psql(test_sql, url=s.pg_url).strip() == "0"
    else:
        con = sqlite3.connect(os.path.join(s.data_dir, "plinth.db"))
        assert con.execute(test_sql).fetchone()[0] == 0
        con.close()
