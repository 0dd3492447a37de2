"""Helpers shared by the organization / membership / invitation / team / role
API tests (issue 5): users with tokens, orgs, members added through real
invitations (the token read from the SMTP sink), tenant-table access that
respects PostgreSQL row-level security."""

import os
import re
import sqlite3
import uuid

import plinth
from accounts_util import PASSWORD, TIME_RE, register, unique_email

# The permission catalog and the built-in roles of API.md (wave 1, and the
# wave-2 permissions of the capabilities built so far).
ALL_PERMISSIONS = [
    "org.read", "org.update", "org.delete", "member.read", "member.invite",
    "member.update_role", "member.remove", "team.read", "team.manage", "role.read",
    "role.manage", "apikey.read", "apikey.manage", "audit.read", "flag.read",
    "webhook.read", "webhook.manage",
    "project.create", "project.admin",
    "file.read", "file.write", "file.delete",
    "billing.read", "billing.manage",
    "sso.manage",
]
# Highest first, as GET /v1/orgs/{org}/roles lists them.
BUILTIN_ROLES = {
    "owner": (4, set(ALL_PERMISSIONS)),
    "admin": (3, set(ALL_PERMISSIONS) - {"org.delete", "billing.manage"}),
    "member": (2, {"org.read", "member.read", "team.read", "role.read", "flag.read",
                   "project.create", "file.read", "file.write"}),
    "viewer": (1, {"org.read", "member.read", "flag.read", "file.read"}),
    "guest": (0, set()),
}

SLUG_RE = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
ORG_KEYS = {"id", "name", "slug", "personal", "created_at", "role"}
MEMBER_KEYS = {"user_id", "email", "name", "role", "status", "joined_at"}
INVITATION_KEYS = {"id", "email", "role", "status", "invited_by", "expires_at", "created_at"}
TEAM_KEYS = {"id", "name", "member_count", "created_at"}
ROLE_KEYS = {"id", "key", "name", "level", "builtin", "permissions"}

INVITE_PATH = "/accept-invite"


class User:
    """A registered, signed-in account."""

    def __init__(self, body, email):
        self.body = body
        self.email = email
        self.id = body["user"]["id"]
        self.token = body["access_token"]
        self.personal_org = body.get("organization", {}).get("id")

    def __repr__(self):
        return "<User %s>" % self.email


def new_user(srv, prefix="user", name="Test User"):
    email = unique_email(prefix)
    return User(register(srv, email, name=name), email)


def unique_slug(prefix="org"):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:10])


def assert_org(o, role=None, name=None, slug=None, personal=False):
    assert set(o) >= ORG_KEYS, o
    assert isinstance(o["id"], str) and o["id"], o
    assert SLUG_RE.match(o["slug"]) and 3 <= len(o["slug"]) <= 48, o
    assert o["personal"] is personal, o
    assert TIME_RE.match(o["created_at"]), o
    if role is not None:
        assert o["role"] == role, o
    if name is not None:
        assert o["name"] == name, o
    if slug is not None:
        assert o["slug"] == slug, o
    return o


def create_org(srv, user, name=None, slug=None):
    """POST /v1/orgs (asserting 201); returns the Org."""
    body = {"name": name or "Org " + uuid.uuid4().hex[:8]}
    if slug is not None:
        body["slug"] = slug
    r = srv.post("/v1/orgs", json=body, token=user.token)
    assert r.status_code == 201, (r.status_code, r.text)
    return assert_org(r.json(), role="owner", name=body["name"], slug=slug)


def list_all(srv, token, path, limit=None, max_pages=100):
    """Follows next_cursor through a list; returns every item."""
    items, cursor = [], None
    for _ in range(max_pages):
        q = {}
        if limit is not None:
            q["limit"] = limit
        if cursor:
            q["cursor"] = cursor
        r = srv.get(path, token=token, params=q)
        assert r.status_code == 200, (path, r.status_code, r.text)
        body = r.json()
        assert set(body) >= {"data", "next_cursor"}, body
        assert isinstance(body["data"], list), body
        if limit is not None:
            assert len(body["data"]) <= limit, body
        items += body["data"]
        cursor = body["next_cursor"]
        if cursor is None:
            return items
        assert isinstance(cursor, str) and cursor, body
    raise AssertionError("more than %d pages of %s" % (max_pages, path))


def members(srv, token, org_id):
    """{user_id: member} of an org (all pages)."""
    return {m["user_id"]: m for m in list_all(srv, token, "/v1/orgs/%s/members" % org_id,
                                              limit=200)}


def my_orgs(srv, user):
    """{org id: entry} of GET /v1/me organizations."""
    r = srv.get("/v1/me", token=user.token)
    assert r.status_code == 200, r.text
    return {o["id"]: o for o in r.json()["organizations"]}


# --- invitations ------------------------------------------------------------

def invite(srv, inviter, org_id, email, role="member"):
    return srv.post("/v1/orgs/%s/invitations" % org_id, json={"email": email, "role": role},
                    token=inviter.token)


def invitation_token(sink, email, after=0, timeout=10.0):
    """The token of the (after+1)-th invitation email to email."""
    m = sink.wait_for_to(email, path=INVITE_PATH, after=after, timeout=timeout)
    return m.token(INVITE_PATH)


def invite_ok(srv, sink, inviter, org_id, email, role="member"):
    """Invites email (asserting 201) and waits for the email; returns
    (invitation, token)."""
    before = len([m for m in sink.messages(to=email)
                  if (m.part("text/plain") or "").find(INVITE_PATH + "?token=") >= 0])
    r = invite(srv, inviter, org_id, email, role)
    assert r.status_code == 201, (r.status_code, r.text)
    return r.json(), invitation_token(sink, email, after=before)


def accept(srv, user, token):
    return srv.post("/v1/invitations/accept", json={"token": token}, token=user.token)


def add_member(srv, sink, inviter, org_id, role="member", user=None, prefix="member"):
    """Makes user (a new one by default) a member of org with role, through a
    real invitation and its accept. Returns the user."""
    user = user or new_user(srv, prefix)
    _, token = invite_ok(srv, sink, inviter, org_id, user.email, role)
    r = accept(srv, user, token)
    assert r.status_code == 200, (r.status_code, r.text)
    assert r.json()["id"] == org_id and r.json()["role"] == role, r.json()
    return user


# --- the database -----------------------------------------------------------

def _sqlite(server):
    return sqlite3.connect(os.path.join(server.data_dir, "plinth.db"), timeout=10)


def _pg_tenant(server, org_id, sql):
    """Runs sql on PostgreSQL inside a transaction with app.org_id set (so the
    row-level security policies let the org's rows through); returns the last
    output line."""
    out = plinth.psql("BEGIN; SELECT set_config('app.org_id', '%s', true); %s; COMMIT;"
                      % (org_id.replace("'", "''"), sql), url=server.pg_url)
    lines = [x for x in out.splitlines() if x.strip()]
    return lines[-1] if lines else ""


def tenant_count(server, table, org_id, where="TRUE"):
    """Rows of a tenant table that belong to org_id (with app.org_id set on
    PostgreSQL)."""
    sql = "SELECT count(*) FROM %s WHERE org_id = '%s' AND (%s)" % (
        table, org_id.replace("'", "''"), where)
    if server.pg_url:
        return int(_pg_tenant(server, org_id, sql))
    con = _sqlite(server)
    try:
        return con.execute(sql).fetchone()[0]
    finally:
        con.close()


def set_invitation_expires(server, org_id, invitation_id, expires_ms):
    """Rewrites an invitation's expires_at (ms since the epoch) in the database."""
    sql = "UPDATE invitations SET expires_at = %d WHERE id = '%s' AND org_id = '%s'" % (
        expires_ms, invitation_id.replace("'", "''"), org_id.replace("'", "''"))
    if server.pg_url:
        out = plinth.psql("BEGIN; SELECT set_config('app.org_id', '%s', true); %s; "
                          "SELECT count(*) FROM invitations WHERE id = '%s' AND expires_at = %d;"
                          " COMMIT;" % (org_id, sql, invitation_id, expires_ms),
                          url=server.pg_url)
        assert out.split()[-1] == "1", out
        return
    con = _sqlite(server)
    try:
        cur = con.execute(sql)
        con.commit()
        assert cur.rowcount == 1, cur.rowcount
    finally:
        con.close()


__all__ = [
    "ALL_PERMISSIONS", "BUILTIN_ROLES", "SLUG_RE", "ORG_KEYS", "MEMBER_KEYS",
    "INVITATION_KEYS", "TEAM_KEYS", "ROLE_KEYS", "INVITE_PATH", "PASSWORD", "User",
    "new_user", "unique_slug", "assert_org", "create_org", "list_all", "members", "my_orgs",
    "invite", "invitation_token", "invite_ok", "accept", "add_member", "tenant_count",
    "set_invitation_expires",
]
