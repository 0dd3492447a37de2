"""Envelope encryption (issue 15): per-organization data keys under the
master key, values bound to their row, `plinth keys rotate-master` and
`plinth keys verify`.

Tampering goes straight to the database (sqlite3 or psql): a sealed value
copied into another environment, another key, another version or another
organization's row must fail to open (500, logged) and never yield a value;
after a master rotation the old key opens nothing and every value still
reads; verify names the first value that does not open."""

import os
import re
import subprocess
import time
import uuid

import pytest

import plinth
from plinth import assert_problem
from accounts_util import FAST_ARGON2, login_ok
from orgs_util import create_org, new_user
from projects_util import (create_project, envs_of, put_secret_ok, q, read_secret, sealed_value,
                           set_sealed, spath, sql_exec, sql_rows, storage)

OLD_KEY = "old master key " + "o" * 32
NEW_KEY = "new master key " + "n" * 32
OATHTOOL = "/usr/bin/oathtool"


def keys_cli(server, args, env=None):
    argv, senv = storage(server)
    senv.update(env or {})
    return plinth.run_cli(["keys"] + args + argv, env=senv, timeout=60)


class World:
    pass


def populate(srv):
    """Two orgs, each with a project whose environments hold secrets."""
    x = World()
    x.owner = new_user(srv, "keys")
    x.orgs = []
    for name in ("Keys A", "Keys B"):
        o = World()
        o.id = create_org(srv, x.owner, name=name)["id"]
        o.pid = create_project(srv, x.owner, o.id, name="Crypt")["id"]
        o.envs = {k: v["id"] for k, v in envs_of(srv, x.owner, o.id, o.pid).items()}
        o.values = {}
        for env in ("production", "staging"):
            for key in ("API_KEY", "TOKEN"):
                v = "%s %s %s %s" % (name, env, key, uuid.uuid4().hex)
                put_secret_ok(srv, x.owner, o.id, o.pid, o.envs[env], key, v)
                o.values[(env, key)] = v
        x.orgs.append(o)
    return x


def all_read(srv, x):
    for o in x.orgs:
        for (env, key), v in o.values.items():
            r = read_secret(srv, x.owner, o.id, o.pid, o.envs[env], key)
            assert r.status_code == 200 and r.json()["value"] == v, (env, key, r.text)


# --- tampering ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def srv(make_module_server):
    return make_module_server(args=FAST_ARGON2, workers=1)


@pytest.fixture(scope="module")
def w(srv):
    return populate(srv)


def copy_into(srv, src_org, src_env, src_key, dst_org, dst_env, dst_key):
    """Overwrites the current version of dst with src's sealed value."""
    box, _ = sealed_value(srv, src_org.id, src_org.envs[src_env], src_key)
    orig, version = sealed_value(srv, dst_org.id, dst_org.envs[dst_env], dst_key)
    set_sealed(srv, dst_org.id, dst_org.envs[dst_env], dst_key, version, box)
    return orig, version


@pytest.mark.parametrize("case", ["other_env", "other_key", "other_org", "other_version",
                                  "flipped"])
def test_a_moved_ciphertext_does_not_open(srv, w, case):
    a, b = w.orgs
    dst = (a, "production", "API_KEY")
    if case == "other_env":
        orig, version = copy_into(srv, a, "staging", "API_KEY", *dst)
        leaked = a.values[("staging", "API_KEY")]
    elif case == "other_key":
        orig, version = copy_into(srv, a, "production", "TOKEN", *dst)
        leaked = a.values[("production", "TOKEN")]
    elif case == "other_org":
        orig, version = copy_into(srv, b, "production", "API_KEY", *dst)
        leaked = b.values[("production", "API_KEY")]
    else:
        env_id = a.envs["production"]
        if case == "other_version":
            # the current value written again as version 2: version 1's box
            # moved into version 2's row
            old, v1 = sealed_value(srv, a.id, env_id, "API_KEY")
            put_secret_ok(srv, w.owner, a.id, a.pid, env_id, "API_KEY", a.values[dst[1:]])
            orig, version = sealed_value(srv, a.id, env_id, "API_KEY")
            set_sealed(srv, a.id, env_id, "API_KEY", version, old)
        else:
            orig, version = sealed_value(srv, a.id, env_id, "API_KEY")
            body = orig[4:]
            flipped = body[:-3] + ("A" if body[-3] != "A" else "B") + body[-2:]
            set_sealed(srv, a.id, env_id, "API_KEY", version, orig[:4] + flipped)
        leaked = a.values[dst[1:]]
    try:
        r = read_secret(srv, w.owner, a.id, a.pid, a.envs["production"], "API_KEY")
        body = assert_problem(r, 500, "internal")
        for o in w.orgs:
            for v in o.values.values():
                assert v not in r.text
        assert leaked not in r.text and "value" not in body
        r = srv.get(spath(a.id, a.pid, a.envs["production"], rest="/export"), token=w.owner.token)
        assert_problem(r, 500, "internal")
        assert leaked not in r.text
        # verify names it
        p = keys_cli(srv, ["verify"])
        assert p.returncode == 1, (p.returncode, p.stdout, p.stderr)
        assert "API_KEY" in p.stderr and a.envs["production"] in p.stderr, p.stderr
        assert "version %d" % version in p.stderr, p.stderr
        time.sleep(0.3)
        log = srv.log()
        assert re.search(r"does not open.*API_KEY", log), log[-2000:]
        assert leaked not in log
    finally:
        set_sealed(srv, a.id, a.envs["production"], "API_KEY", version, orig)
    all_read(srv, w)
    p = keys_cli(srv, ["verify"])
    assert p.returncode == 0, p.stderr
    assert re.match(r"^\d+ data keys and \d+ sealed values open", p.stdout), p.stdout


def test_data_keys_are_sealed_per_org(srv, w):
    rows = {}
    for o in w.orgs:
        got = sql_rows(srv, "SELECT scope, key_sealed, master_id FROM data_keys WHERE org_id = "
                            "%s" % q(o.id), o.id)
        assert len(got) == 1 and got[0][0] == o.id, got
        rows[o.id] = got[0]
    a, b = (rows[o.id] for o in w.orgs)
    assert a[1] != b[1] and a[2] == b[2] and re.match(r"^[0-9a-f]{16}$", a[2]), (a, b)
    # org A's sealed data key put in B's row opens nothing there
    a_org, b_org = w.orgs
    sql_exec(srv, "UPDATE data_keys SET key_sealed = %s WHERE scope = %s" % (q(a[1]), q(b_org.id)),
             b_org.id)
    try:
        r = read_secret(srv, w.owner, b_org.id, b_org.pid, b_org.envs["production"], "API_KEY")
        assert_problem(r, 500, "internal")
        p = keys_cli(srv, ["verify"])
        assert p.returncode == 1 and "data key of organization %s" % b_org.id in p.stderr, \
            p.stderr
    finally:
        sql_exec(srv, "UPDATE data_keys SET key_sealed = %s WHERE scope = %s"
                 % (q(b[1]), q(b_org.id)), b_org.id)
    all_read(srv, w)


# --- TOTP seeds under the instance data key ------------------------------------------------------

def oath(secret, step):
    p = subprocess.run([OATHTOOL, "--totp", "-b", "-N", "@%d" % (step * 30 + 1), secret],
                       capture_output=True, text=True, timeout=10)
    assert p.returncode == 0, p.stderr
    return p.stdout.strip()


def enable_totp(srv, user):
    r = srv.post("/v1/me/mfa/totp/setup", json={}, token=user.token)
    assert r.status_code == 200, r.text
    secret = r.json()["secret"]
    step = int(time.time() // 30) - 1
    r = srv.post("/v1/me/mfa/totp/enable", json={"code": oath(secret, step)}, token=user.token)
    assert r.status_code == 200, r.text
    return secret, step


def totp_login(srv, user, secret, step):
    body = login_ok(srv, user.email)
    assert body.get("mfa_required"), body
    return srv.post("/v1/auth/login/mfa", json={"mfa_token": body["mfa_token"],
                                                "code": oath(secret, step)})


def test_totp_seed_is_under_the_instance_key(srv, w):
    u = new_user(srv, "totp")
    secret, step = enable_totp(srv, u)
    sealed = sql_rows(srv, "SELECT secret_sealed FROM mfa_totp WHERE user_id = %s" % q(u.id))
    assert sealed[0][0].startswith("dk1."), sealed
    assert sql_rows(srv, "SELECT count(*) FROM data_keys WHERE scope = 'instance' AND "
                         "org_id IS NULL") == [["1"]]
    # another user's seed in this row does not open
    v = new_user(srv, "totp2")
    enable_totp(srv, v)
    other = sql_rows(srv, "SELECT secret_sealed FROM mfa_totp WHERE user_id = %s" % q(v.id))[0][0]
    sql_exec(srv, "UPDATE mfa_totp SET secret_sealed = %s WHERE user_id = %s" % (q(other), q(u.id)))
    try:
        p = keys_cli(srv, ["verify"])
        assert p.returncode == 1 and "TOTP secret of user %s" % u.id in p.stderr, p.stderr
    finally:
        sql_exec(srv, "UPDATE mfa_totp SET secret_sealed = %s WHERE user_id = %s"
                 % (q(sealed[0][0]), q(u.id)))
    r = totp_login(srv, u, secret, step + 1)
    assert r.status_code == 200 and r.json()["access_token"], r.text
    assert keys_cli(srv, ["verify"]).returncode == 0


# --- rotation ----------------------------------------------------------------------------------

def test_rotate_master(make_server):
    s = make_server(args=FAST_ARGON2, workers=1, env={"PLINTH_MASTER_KEY": OLD_KEY})
    x = populate(s)
    u = new_user(s, "rot")
    secret, step = enable_totp(s, u)
    before = sql_rows(s, "SELECT key_sealed FROM data_keys WHERE scope = 'instance'")[0][0]
    s.stop()
    old = {"PLINTH_MASTER_KEY": OLD_KEY}
    # refused: no new key, a short one, the same one
    for env, code in (({}, 2), ({"PLINTH_MASTER_KEY_NEW": "short"}, 2),
                      ({"PLINTH_MASTER_KEY_NEW": OLD_KEY}, 2)):
        p = keys_cli(s, ["rotate-master"], dict(old, **env))
        assert p.returncode == code, (env, p.returncode, p.stderr)
    assert keys_cli(s, ["verify"], old).returncode == 0
    p = keys_cli(s, ["rotate-master"], dict(old, PLINTH_MASTER_KEY_NEW=NEW_KEY))
    assert p.returncode == 0, p.stderr
    assert "PLINTH_MASTER_KEY" in p.stdout, p.stdout
    after = sql_rows(s, "SELECT key_sealed, master_id FROM data_keys WHERE scope = 'instance'")
    assert after[0][0] != before, after
    # the old key opens nothing now; the new one everything
    p = keys_cli(s, ["verify"], old)
    assert p.returncode == 1 and "does not open" in p.stderr, p.stderr
    p = keys_cli(s, ["verify"], {"PLINTH_MASTER_KEY": NEW_KEY})
    assert p.returncode == 0, p.stderr
    # the server with the new key: every value reads, the TOTP seed opens
    s.extra_env["PLINTH_MASTER_KEY"] = NEW_KEY
    s.start()
    all_read(s, x)
    r = totp_login(s, u, secret, step + 1)
    assert r.status_code == 200, r.text
    # and with the old key nothing opens: the instance data key, which
    # seals the access-token signing keys, does not, so the server refuses
    # to start rather than run without them
    s.stop()
    s.extra_env["PLINTH_MASTER_KEY"] = OLD_KEY
    with pytest.raises(plinth.ServerError) as e:
        s.start()
    assert "does not open under the master key" in str(e.value), str(e.value)[-2000:]
    assert "cannot load the access-token signing keys" in str(e.value)
    s.extra_env["PLINTH_MASTER_KEY"] = NEW_KEY
    s.start()
    all_read(s, x)


def test_rotate_generated_master_key_file(make_server, tmp_path):
    """Without PLINTH_MASTER_KEY the generated master.key is the master key:
    rotating replaces it, so a plain restart uses the new key."""
    s = make_server(args=FAST_ARGON2, workers=1)
    x = populate(s)
    path = os.path.join(s.data_dir, "master.key")
    with open(path) as f:
        old = f.read()
    s.stop()
    keyfile = tmp_path / "new.key"
    keyfile.write_text(NEW_KEY + "\n")
    p = keys_cli(s, ["rotate-master", "--new-key-file", str(keyfile)])
    assert p.returncode == 0, p.stderr
    with open(path) as f:
        new = f.read()
    assert new != old and re.match(r"^[0-9a-f]{64}$", new), new
    assert oct(os.stat(path).st_mode & 0o777) == "0o600"
    assert keys_cli(s, ["verify"]).returncode == 0
    s.start()
    all_read(s, x)
    # the same key given as PLINTH_MASTER_KEY opens them too
    s.stop()
    s.extra_env["PLINTH_MASTER_KEY"] = NEW_KEY
    s.start()
    all_read(s, x)
    assert keys_cli(s, ["rotate-master", "--new-key-file", str(tmp_path / "missing")],
                    {"PLINTH_MASTER_KEY": NEW_KEY}).returncode == 2


def test_keys_commands_need_an_existing_installation(tmp_path):
    p = plinth.run_cli(["keys", "verify", "--data", str(tmp_path / "none")])
    assert p.returncode == 2, (p.returncode, p.stderr)
    p = plinth.run_cli(["keys", "--help"])
    assert p.returncode == 0 and "rotate-master" in p.stdout and "verify" in p.stdout, p.stdout
