"""Black-box tests of the command line: version, help, flag and env parsing,
migrate on both engines, default data directory (issue 2)."""

import os
import re

import pytest

import plinth
from plinth import run_cli


def cli(tmp_path, args, env=None, timeout=10):
    return run_cli(args, env=env, cwd=str(tmp_path), timeout=timeout)


def test_version(tmp_path):
    p = cli(tmp_path, ["version"])
    assert p.returncode == 0, p.stderr
    assert re.search(r"\b\d+\.\d+\.\d+", p.stdout), p.stdout


@pytest.mark.parametrize("args,words", [
    (["--help"], ["serve", "migrate", "version"]),
    (["serve", "--help"], ["--http", "--data", "--threads", "--workers", "--max-body"]),
    (["migrate", "--help"], ["--data"]),
], ids=["plinth", "serve", "migrate"])
def test_help(tmp_path, args, words):
    p = cli(tmp_path, args)
    assert p.returncode == 0, p.stderr
    out = p.stdout + p.stderr
    for w in words:
        assert w in out, (w, out)
    assert not os.path.exists(tmp_path / "plinth_data"), "--help must not create the data dir"


def expect_usage_error(p, what):
    assert p.returncode == 2, "%s: exit %d (want 2)\nstdout: %s\nstderr: %s" % (
        what, p.returncode, p.stdout, p.stderr)
    assert p.stderr.strip(), "%s: no message on stderr" % what


def test_unknown_subcommand(tmp_path):
    expect_usage_error(cli(tmp_path, ["frobnicate"]), "unknown subcommand")


BAD_FLAGS = [
    ["serve", "--nope"],
    ["serve", "--threads", "0"],
    ["serve", "--threads", "abc"],
    ["serve", "--threads", "-3"],
    ["serve", "--threads"],
    ["serve", "--workers", "abc"],
    ["serve", "--http", "nope"],
    ["serve", "--http", "127.0.0.1:99999"],
    ["serve", "--max-body", "-1"],
    ["serve", "--max-body", "12abc"],
    ["serve", "stray-positional"],
    ["migrate", "--nope"],
]


@pytest.mark.parametrize("args", BAD_FLAGS, ids=[" ".join(a) for a in BAD_FLAGS])
def test_bad_flag(tmp_path, args):
    cmd = args[:1] + ["--data", str(tmp_path / "d")]
    if args[0] == "serve" and "--http" not in args:
        cmd += ["--http", "127.0.0.1:%d" % plinth.closed_port()]
    p = cli(tmp_path, cmd + args[1:], timeout=5)
    expect_usage_error(p, " ".join(args))


@pytest.mark.parametrize("var,value", [("PLINTH_THREADS", "abc"), ("PLINTH_THREADS", "0"),
                                       ("PLINTH_HTTP", "nope"), ("PLINTH_MAX_BODY", "-1")])
def test_bad_env_value(tmp_path, var, value):
    env = {var: value}
    if var != "PLINTH_HTTP":
        env["PLINTH_HTTP"] = "127.0.0.1:%d" % plinth.closed_port()
    p = cli(tmp_path, ["serve", "--data", str(tmp_path / "d")], env=env, timeout=5)
    expect_usage_error(p, "%s=%s" % (var, value))


def test_env_http(make_server):
    port = plinth.free_port()
    s = make_server(http_flag=False, port=port, env={"PLINTH_HTTP": "127.0.0.1:%d" % port})
    r = s.get("/healthz")
    assert r.status_code == 200 and r.json() == {"status": "ok"}


def test_env_data(make_server, engine, tmp_path):
    d = tmp_path / "envdata"
    s = make_server(data_flag=False, env={"PLINTH_DATA": str(d)})
    assert s.get("/readyz").status_code == 200
    if engine == "sqlite":
        assert (d / "plinth.db").exists()
    assert not os.path.exists(os.path.join(s.tmp, "plinth_data"))


def test_env_max_body(make_server):
    s = make_server(env={"PLINTH_MAX_BODY": "1024"})
    r = s.post("/v1/auth/login", data=b'{"pad":"' + b"x" * 2000 + b'"}',
               headers={"Content-Type": "application/json"})
    assert r.status_code == 413, r.text
    assert r.json()["code"] == "payload_too_large"


def test_flag_wins_over_env(make_server):
    other = plinth.closed_port()
    s = make_server(env={"PLINTH_HTTP": "127.0.0.1:%d" % other})
    assert s.get("/healthz").status_code == 200   # served on the --http port


def test_default_data_dir(make_server, engine):
    s = make_server(data_flag=False)   # cwd is the server's temp dir
    assert s.get("/readyz").status_code == 200
    d = os.path.join(s.tmp, "plinth_data")
    if engine == "sqlite":
        assert os.path.isdir(d)
        assert os.path.exists(os.path.join(d, "plinth.db"))
    else:
        assert not os.path.exists(os.path.join(d, "plinth.db"))


def test_migrate_sqlite(tmp_path):
    d = tmp_path / "data"
    for i in range(2):
        p = cli(tmp_path, ["migrate", "--data", str(d)], timeout=30)
        assert p.returncode == 0, "migrate run %d: %s" % (i + 1, p.stderr)
    assert (d / "plinth.db").exists()


def test_migrate_then_serve_sqlite(make_server, engine):
    if engine != "sqlite":
        pytest.skip("SQLite only")
    s = make_server(start=False)
    p = run_cli(["migrate", "--data", s.data_dir], cwd=s.tmp, timeout=30)
    assert p.returncode == 0, p.stderr
    s.start()
    assert s.get("/readyz").status_code == 200


def test_migrate_postgres(tmp_path, engine):
    if engine != "postgres":
        pytest.skip("needs PLINTH_TEST_PG_ADMIN_URL")
    name, url = plinth.create_database()
    try:
        d = tmp_path / "data"
        for i in range(2):
            p = cli(tmp_path, ["migrate", "--data", str(d)],
                    env={"PLINTH_DATABASE_URL": url}, timeout=30)
            assert p.returncode == 0, "migrate run %d: %s" % (i + 1, p.stderr)
        assert not (d / "plinth.db").exists()
        assert not (tmp_path / "plinth_data" / "plinth.db").exists()
        n = int(plinth.psql("SELECT count(*) FROM information_schema.tables "
                            "WHERE table_schema = 'public'", url=url).strip())
        assert n > 0, "migrate created no tables"
    finally:
        plinth.drop_database(name)


def test_migrate_unreachable_database(tmp_path):
    url = "postgres://postgres@127.0.0.1:%d/plinth" % plinth.closed_port()
    p = cli(tmp_path, ["migrate", "--data", str(tmp_path / "d")],
            env={"PLINTH_DATABASE_URL": url}, timeout=20)
    assert p.returncode != 0
    assert p.stderr.strip()
    assert not (tmp_path / "d" / "plinth.db").exists()

