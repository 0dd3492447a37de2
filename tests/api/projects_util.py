"""Helpers shared by the projects, environments and secrets API tests
(issue 15): paths, users who join through real invitations in batches, and
raw access to the tables (tampering with sealed values, through sqlite3 or
psql with the tenant context that row-level security needs)."""

import os
import sqlite3
import uuid

import plinth
from accounts_util import PASSWORD
from orgs_util import INVITE_PATH, User

PROJECT_KEYS = {"id", "name", "slug", "description", "created_at", "role"}
ENV_KEYS = {"id", "name", "slug", "created_at", "role"}
PMEMBER_KEYS = {"user_id", "email", "name", "role", "joined_at"}
SECRET_KEYS = {"key", "version", "updated_at", "updated_by"}


def ppath(org, project=None, rest=""):
    p = "/v1/orgs/%s/projects" % org
    if project is not None:
        p += "/" + project
    return p + rest


def epath(org, project, env=None, rest=""):
    p = ppath(org, project, "/environments")
    if env is not None:
        p += "/" + env
    return p + rest


def spath(org, project, env, key=None, rest=""):
    p = epath(org, project, env, "/secrets")
    if key is not None:
        p += "/" + key
    return p + rest


def create_project(srv, user, org, name=None, **extra):
    body = {"name": name or "Project " + uuid.uuid4().hex[:8]}
    body.update(extra)
    r = srv.post(ppath(org), json=body, token=user.token)
    assert r.status_code == 201, (r.status_code, r.text)
    p = r.json()
    assert set(p) >= PROJECT_KEYS and p["role"] == "owner", p
    return p


def envs_of(srv, user, org, project):
    r = srv.get(epath(org, project), token=user.token, params={"limit": 200})
    assert r.status_code == 200, r.text
    return {e["slug"]: e for e in r.json()["data"]}


def put_secret(srv, user, org, project, env, key, value, headers=None):
    return srv.put(spath(org, project, env, key), json={"value": value}, token=user.token,
                   headers=headers)


def put_secret_ok(srv, user, org, project, env, key, value):
    r = put_secret(srv, user, org, project, env, key, value)
    assert r.status_code == 200, (r.status_code, r.text)
    return r.json()


def read_secret(srv, user, org, project, env, key, version=None):
    params = {"version": version} if version is not None else None
    return srv.get(spath(org, project, env, key), token=user.token, params=params)


def invite_many(srv, sink, inviter, specs):
    """specs: [(path, email, role)] invitations to send (org or project
    invitation paths); returns {email: token} once every email arrived."""
    before = {}
    for _, email, _ in specs:
        before[email] = len([m for m in sink.messages(to=email)
                             if (m.part("text/plain") or "").find(INVITE_PATH + "?token=") >= 0])
    for path, email, role in specs:
        r = srv.post(path, json={"email": email, "role": role}, token=inviter.token)
        assert r.status_code == 201, (path, r.status_code, r.text)
    out = {}
    for _, email, _ in specs:
        m = sink.wait_for_to(email, path=INVITE_PATH, after=before[email], timeout=30)
        out[email] = m.token(INVITE_PATH)
    return out


def register_with(srv, email, token, name="Invited"):
    r = srv.post("/v1/auth/register", json={"email": email, "password": PASSWORD, "name": name,
                                             "invitation_token": token})
    assert r.status_code == 201, (r.status_code, r.text)
    return User(r.json(), email)


def unique_email(prefix):
    return "%s-%s@example.com" % (prefix, uuid.uuid4().hex[:10])


# --- the database -------------------------------------------------------------

def sql_rows(server, sql, org_id=None):
    """Rows of a query (lists of strings), with app.org_id set on PostgreSQL."""
    if server.pg_url:
        pre = ("SELECT set_config('app.org_id', '%s', true); " % org_id) if org_id else ""
        out = plinth.psql("BEGIN; %s%s; COMMIT;" % (pre, sql), url=server.pg_url)
        lines = [x for x in out.splitlines() if x.strip()]
        if org_id:
            lines = lines[1:]  # set_config's own output
        return [line.split("|") for line in lines]
    con = sqlite3.connect(os.path.join(server.data_dir, "plinth.db"), timeout=10)
    try:
        return [[("" if v is None else str(v)) for v in row] for row in con.execute(sql)]
    finally:
        con.close()


def sql_exec(server, sql, org_id=None):
    """Runs a change straight on the database; returns the rows it touched."""
    if server.pg_url:
        pre = ("SELECT set_config('app.org_id', '%s', true); " % org_id) if org_id else ""
        out = plinth.psql("BEGIN; %s%s; COMMIT;" % (pre, sql), url=server.pg_url)
        return out
    con = sqlite3.connect(os.path.join(server.data_dir, "plinth.db"), timeout=10)
    try:
        cur = con.execute(sql)
        con.commit()
        return cur.rowcount
    finally:
        con.close()


def q(s):
    return "'" + s.replace("'", "''") + "'"


def sealed_value(server, org, env_id, key, version=None):
    """The sealed text of a secret's version (default: its current one)."""
    if version is None:
        version = int(sql_rows(server, "SELECT version FROM secrets WHERE environment_id = %s "
                                       "AND key = %s" % (q(env_id), q(key)), org)[0][0])
    rows = sql_rows(server, "SELECT value_sealed FROM secret_versions WHERE environment_id = %s "
                            "AND key = %s AND version = %d" % (q(env_id), q(key), version), org)
    assert rows, (env_id, key, version)
    return rows[0][0], version


def set_sealed(server, org, env_id, key, version, sealed):
    sql_exec(server, "UPDATE secret_versions SET value_sealed = %s WHERE environment_id = %s AND "
                     "key = %s AND version = %d" % (q(sealed), q(env_id), q(key), version), org)


def storage(server):
    """The CLI arguments and environment that reach server's storage."""
    env = {"PLINTH_DATABASE_URL": server.pg_url} if server.pg_url else {}
    return ["--data", server.data_dir], env
