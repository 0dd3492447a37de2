"""Black-box tests of `plinth backup --to FILE` and `plinth restore --from FILE`
(API.md "Account data and operations"), and of the commands that work on an
existing installation refusing to create one (issue 12, CLI safety).

A backup taken while clients keep registering accounts restores into a new
directory as a consistent database: every chain verifies, every row it holds
is the live row, and a backup of the quiet server restores to a copy equal to
the live database table by table, keys included (an access token of the old
server works on the restored one).
"""

import os
import sqlite3
import threading

import pytest

import plinth
from accounts_util import FAST_ARGON2, register, unique_email

APPEND_ONLY = ("users", "organizations", "memberships", "audit_events", "schema_migrations")


@pytest.fixture(autouse=True)
def sqlite_only(engine, request):
    if engine != "sqlite" and "postgres" not in request.node.name:
        pytest.skip("backup and restore copy the SQLite database")


def cli(args, **kw):
    kw.setdefault("timeout", 120)
    return plinth.run_cli(args, **kw)


def tables(path):
    """{table: sorted rows} of a SQLite file."""
    con = sqlite3.connect("file:%s?mode=ro" % path, uri=True, timeout=30)
    try:
        names = [r[0] for r in con.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
            "ORDER BY name")]
        return {t: sorted(con.execute('SELECT * FROM "%s"' % t).fetchall(), key=repr)
                for t in names}
    finally:
        con.close()


def key_files(d):
    return {n: open(os.path.join(d, n), "rb").read() for n in os.listdir(d) if n.endswith(".key")}


class Writers:
    """Threads registering accounts until stopped."""

    def __init__(self, server, n=3):
        self.server = server
        self.stop = threading.Event()
        self.count = 0
        self.errors = []
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.run, daemon=True) for _ in range(n)]

    def run(self):
        while not self.stop.is_set():
            r = self.server.post("/v1/auth/register", json={
                "email": unique_email("load"), "password": "correct horse battery staple",
                "name": "Load"})
            with self.lock:
                if r.status_code == 201:
                    self.count += 1
                else:
                    self.errors.append((r.status_code, r.text))

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join(timeout=60)


def test_backup_under_write_load_restores_every_table(make_server, tmp_path):
    # no job workers: nothing changes the database once the clients stop
    s = make_server(args=FAST_ARGON2, workers=0)
    token = register(s)["access_token"]
    live = os.path.join(s.data_dir, "plinth.db")
    busy = str(tmp_path / "busy.plinth-backup")
    with Writers(s) as w:
        # wait until the load is under way, then back up in the middle of it
        while w.count < 20 and not w.errors:
            threading.Event().wait(0.05)
        p = cli(["backup", "--to", busy, "--data", s.data_dir])
        before = w.count
        while w.count < before + 20 and not w.errors:
            threading.Event().wait(0.05)
    assert not w.errors, w.errors[:3]
    assert p.returncode == 0, p.stderr
    assert "backup written to" in p.stdout, p.stdout
    assert "backup:" in p.stderr and "pages" in p.stderr, p.stderr  # the progress line
    assert not os.path.exists(busy + ".partial")

    # restored into a new directory: a consistent moment of the live database
    d1 = str(tmp_path / "restored-busy")
    p = cli(["restore", "--from", busy, "--data", d1])
    assert p.returncode == 0, p.stderr
    assert "restored" in p.stdout, p.stdout
    p = cli(["audit", "verify", "--data", d1])
    assert p.returncode == 0, (p.stdout, p.stderr)
    assert "audit verify:" in p.stderr and "chains" in p.stderr, p.stderr  # progress
    restored, now = tables(os.path.join(d1, "plinth.db")), tables(live)
    assert set(restored) == set(now), set(restored) ^ set(now)
    for t in APPEND_ONLY:
        assert set(restored[t]) <= set(now[t]), t
    assert 0 < len(restored["users"]) < len(now["users"])
    assert key_files(d1) == key_files(s.data_dir) and key_files(d1)

    # a backup of the quiet server restores to an equal copy, table by table
    quiet = str(tmp_path / "quiet.plinth-backup")
    p = cli(["backup", "--to", quiet, "--data", s.data_dir])
    assert p.returncode == 0, p.stderr
    d2 = str(tmp_path / "restored-quiet")
    p = cli(["restore", "--from", quiet, "--data", d2])
    assert p.returncode == 0, p.stderr
    restored, now = tables(os.path.join(d2, "plinth.db")), tables(live)
    assert set(restored) == set(now)
    for t in now:
        assert restored[t] == now[t], "table %s differs" % t

    # the restored directory serves, with the same keys: the old token works
    # (on the same address: it is the tokens' issuer)
    s.stop()
    r2 = make_server(args=["--data", d2] + FAST_ARGON2, data_flag=False, workers=0,
                     port=s.port)
    r = r2.get("/v1/me", token=token)
    assert r.status_code == 200, r.text
    assert r2.get("/readyz").status_code == 200


def test_backup_without_keys(make_server, tmp_path):
    s = make_server(workers=0)
    f = str(tmp_path / "nokeys.plinth-backup")
    p = cli(["backup", "--to", f, "--without-keys", "--data", s.data_dir])
    assert p.returncode == 0, p.stderr
    assert "PLINTH_MASTER_KEY" in p.stdout, p.stdout
    d = str(tmp_path / "restored")
    p = cli(["restore", "--from", f, "--data", d])
    assert p.returncode == 0, p.stderr
    assert key_files(d) == {}
    assert "PLINTH_MASTER_KEY" in p.stdout, p.stdout


def test_restore_refuses_while_a_server_holds_the_directory(make_server, tmp_path):
    s = make_server(workers=0)
    f = str(tmp_path / "b.plinth-backup")
    assert cli(["backup", "--to", f, "--data", s.data_dir]).returncode == 0
    p = cli(["restore", "--from", f, "--data", s.data_dir])
    assert p.returncode == 2, (p.stdout, p.stderr)
    assert "running" in p.stderr, p.stderr
    assert s.get("/readyz").status_code == 200
    # once stopped, the same directory takes the restore
    s.stop()
    p = cli(["restore", "--from", f, "--data", s.data_dir])
    assert p.returncode == 0, p.stderr


def test_restore_rejects_a_file_that_is_not_a_backup(tmp_path):
    junk = tmp_path / "junk"
    junk.write_bytes(b"not a database at all" * 100)
    d = tmp_path / "d"
    p = cli(["restore", "--from", str(junk), "--data", str(d)])
    assert p.returncode == 2, p.stderr
    assert "not a plinth backup" in p.stderr
    assert not (d / "plinth.db").exists()


def test_backup_refuses_an_existing_file(make_server, tmp_path):
    s = make_server(workers=0)
    f = tmp_path / "exists"
    f.write_text("keep me")
    p = cli(["backup", "--to", str(f), "--data", s.data_dir])
    assert p.returncode == 2, p.stderr
    assert f.read_text() == "keep me"


def test_backup_and_restore_on_postgres_point_to_pg_dump(engine, make_server, tmp_path):
    if engine != "postgres":
        pytest.skip("PostgreSQL only")
    s = make_server(workers=0)
    env = {"PLINTH_DATABASE_URL": s.pg_url}
    p = cli(["backup", "--to", str(tmp_path / "x"), "--data", s.data_dir], env=env)
    assert p.returncode == 2, p.stderr
    assert "pg_dump" in p.stderr
    p = cli(["restore", "--from", str(tmp_path / "x"), "--data", s.data_dir], env=env)
    assert p.returncode == 2, p.stderr
    assert "pg_restore" in p.stderr


# --- CLI safety: commands on an existing installation --------------------------------------

@pytest.mark.parametrize("args", [
    ["admin", "create", "--email", "root@example.com"],
    ["audit", "verify"],
    ["backup", "--to", "out.plinth-backup"],
])
def test_commands_never_create_a_data_directory(tmp_path, args):
    missing = tmp_path / "nowhere"
    p = cli(args + ["--data", str(missing)], input="a long enough password 1\n",
            cwd=str(tmp_path))
    assert p.returncode == 2, (p.stdout, p.stderr)
    assert "no data directory" in p.stderr, p.stderr
    assert not missing.exists()
    # a directory without a database is not an installation either
    empty = tmp_path / "empty"
    empty.mkdir()
    p = cli(args + ["--data", str(empty)], input="a long enough password 1\n",
            cwd=str(tmp_path))
    assert p.returncode == 2, (p.stdout, p.stderr)
    assert "no database" in p.stderr, p.stderr
    assert os.listdir(empty) == []
    # nor is the default ./plinth_data when run from another directory
    p = cli(args, input="a long enough password 1\n", cwd=str(tmp_path))
    assert p.returncode == 2, (p.stdout, p.stderr)
    assert not (tmp_path / "plinth_data").exists()
