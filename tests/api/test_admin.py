"""Black-box tests of instance admins: `plinth admin create`, /v1/admin/users,
disabling and enabling accounts (issue 3)."""

import uuid

import pytest

import plinth
from plinth import assert_problem
from accounts_util import (FAST_ARGON2, TIME_RE, admin_create, login, login_ok, me,
                           refresh, register, unique_email)

ADMIN_PASSWORD = "admin passphrase for tests 1"


@pytest.fixture(scope="module")
def srv(make_module_server):
    return make_module_server(args=FAST_ARGON2)


@pytest.fixture(scope="module")
def admin(srv):
    """An instance admin created with the CLI while the server runs: (email, token)."""
    email = unique_email("admin")
    p = admin_create(srv, email, ADMIN_PASSWORD)
    assert p.returncode == 0, (p.returncode, p.stdout, p.stderr)
    body = login_ok(srv, email, ADMIN_PASSWORD)
    return {"email": email, "token": body["access_token"], "id": body["user"]["id"]}


def list_all(srv, token, **params):
    """Follows next_cursor; returns every user of the listing."""
    out = []
    cursor = None
    for _ in range(1000):
        q = dict(params)
        if cursor:
            q["cursor"] = cursor
        r = srv.get("/v1/admin/users", token=token, params=q)
        assert r.status_code == 200, r.text
        body = r.json()
        assert set(body) >= {"data", "next_cursor"}, body
        if "limit" in params:
            assert len(body["data"]) <= int(params["limit"]), body
        out += body["data"]
        cursor = body["next_cursor"]
        if cursor is None:
            return out
        assert isinstance(cursor, str) and cursor, body
    raise AssertionError("pagination does not end")


# --- CLI -------------------------------------------------------------------------------

def test_admin_create_new_user(srv, admin):
    m = me(srv, admin["token"])
    assert m.status_code == 200, m.text
    assert m.json()["email"] == admin["email"]
    # The admin can list users and sees itself as admin.
    users = list_all(srv, admin["token"], query=admin["email"])
    assert [u["email"] for u in users] == [admin["email"]]
    assert users[0]["is_admin"] is True and users[0]["disabled"] is False


def test_admin_create_normalises_email(srv):
    local = "MixedAdmin-" + uuid.uuid4().hex[:8]
    p = admin_create(srv, "  %s@Example.COM " % local, ADMIN_PASSWORD)
    assert p.returncode == 0, (p.stdout, p.stderr)
    assert login(srv, "%s@example.com" % local.lower(), ADMIN_PASSWORD).status_code == 200


def test_admin_create_promotes_existing_user(srv, admin):
    reg = register(srv)
    email = reg["user"]["email"]
    # Not an admin yet.
    assert_problem(srv.get("/v1/admin/users", token=reg["access_token"]), 403, "forbidden")
    p = admin_create(srv, email, ADMIN_PASSWORD)
    assert p.returncode == 0, (p.returncode, p.stdout, p.stderr)
    # Same account, now an admin: even its existing token gets in.
    users = list_all(srv, admin["token"], query=email)
    assert [u["id"] for u in users] == [reg["user"]["id"]]
    assert users[0]["is_admin"] is True
    assert srv.get("/v1/admin/users", token=reg["access_token"]).status_code == 200


@pytest.mark.parametrize("email", ["not-an-email", "", "a@", "@b.c"],
                         ids=["no-at", "empty", "no-domain", "no-local"])
def test_admin_create_bad_email(srv, email):
    p = admin_create(srv, email, ADMIN_PASSWORD)
    assert p.returncode == 2, (p.returncode, p.stdout, p.stderr)
    assert p.stderr.strip()


def test_admin_create_missing_email(srv):
    env = {"PLINTH_DATABASE_URL": srv.pg_url} if srv.pg_url else {}
    p = plinth.run_cli(["admin", "create", "--data", srv.data_dir], env=env,
                       input=ADMIN_PASSWORD + "\n")
    assert p.returncode == 2, (p.returncode, p.stdout, p.stderr)
    assert p.stderr.strip()


def test_admin_create_weak_password_creates_nothing(srv, admin):
    email = unique_email("weakadmin")
    p = admin_create(srv, email, "short")
    assert p.returncode != 0, (p.stdout, p.stderr)
    assert p.stderr.strip()
    assert list_all(srv, admin["token"], query=email) == []


def test_admin_create_before_server_start(make_server):
    """`plinth migrate` makes the installation; `admin create` then works on it
    before the server first starts (it never creates one itself)."""
    s = make_server(args=FAST_ARGON2, start=False)
    email = unique_email("early")
    env = {"PLINTH_DATABASE_URL": s.pg_url} if s.pg_url else {}
    if not s.pg_url:
        p = admin_create(s, email, ADMIN_PASSWORD)
        assert p.returncode == 2, (p.returncode, p.stdout, p.stderr)
    p = plinth.run_cli(["migrate", "--data", s.data_dir], env=env, timeout=60)
    assert p.returncode == 0, p.stderr
    p = admin_create(s, email, ADMIN_PASSWORD)
    assert p.returncode == 0, (p.returncode, p.stdout, p.stderr)
    s.start()
    tok = login_ok(s, email, ADMIN_PASSWORD)["access_token"]
    assert s.get("/v1/admin/users", token=tok).status_code == 200


# --- access control ----------------------------------------------------------------------

def test_admin_routes_need_admin(srv, admin):
    user = register(srv)
    target = register(srv)["user"]["id"]
    routes = [("GET", "/v1/admin/users"),
              ("POST", "/v1/admin/users/%s/disable" % target),
              ("POST", "/v1/admin/users/%s/enable" % target)]
    for method, path in routes:
        assert_problem(srv.request(method, path), 401, "unauthenticated")
        assert_problem(srv.request(method, path, token=user["access_token"]), 403, "forbidden")
    # The non-admin's attempt changed nothing.
    assert list_all(srv, admin["token"], query=register(srv)["user"]["email"])[0][
        "disabled"] is False


# --- listing -----------------------------------------------------------------------------

def test_list_users_fields(srv, admin):
    reg = register(srv, name="Listed Person")
    users = list_all(srv, admin["token"], query=reg["user"]["email"])
    assert len(users) == 1, users
    u = users[0]
    assert set(u) >= {"id", "email", "name", "email_verified", "mfa_enabled", "created_at",
                      "is_admin", "disabled"}, u
    assert u["id"] == reg["user"]["id"]
    assert u["name"] == "Listed Person"
    assert u["is_admin"] is False and u["disabled"] is False
    assert TIME_RE.match(u["created_at"])
    assert "password_hash" not in u and "password" not in u


def test_list_orgs(srv, admin):
    """GET /v1/admin/orgs lists every organization, personal ones included, a page
    at a time, whoever the admin is a member of."""
    reg = register(srv, name="Org Lister")
    r = srv.post("/v1/orgs", json={"name": "Listed Org"}, token=reg["access_token"])
    assert r.status_code == 201, r.text
    org = r.json()
    seen, cursor = {}, None
    for _ in range(1000):
        params = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        r = srv.get("/v1/admin/orgs", token=admin["token"], params=params)
        assert r.status_code == 200, r.text
        body = r.json()
        assert len(body["data"]) <= 2, body
        seen.update((o["id"], o) for o in body["data"])
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert org["id"] in seen and seen[org["id"]]["name"] == "Listed Org"
    assert seen[org["id"]]["personal"] is False
    personal = [o for o in seen.values() if o["personal"] and o["name"] == "Org Lister"]
    assert len(personal) == 1, seen
    assert_problem(srv.get("/v1/admin/orgs", token=reg["access_token"]), 403, "forbidden")


def test_list_users_search_and_pagination(srv, admin):
    tag = uuid.uuid4().hex[:10]
    made = {}
    for i in range(5):
        reg = register(srv, email="pg%d-%s@example.com" % (i, tag), name="Pager %d" % i)
        made[reg["user"]["id"]] = reg["user"]["email"]
    by_name = register(srv, name="Name Carries ZZ%s" % tag.upper())
    made[by_name["user"]["id"]] = by_name["user"]["email"]
    # Pages of 2 over the 6 matches: no duplicates, nothing missing.
    users = list_all(srv, admin["token"], query=tag, limit=2)
    ids = [u["id"] for u in users]
    assert len(ids) == len(set(ids)), ids
    assert set(ids) == set(made), (ids, made)
    # A first page of 2 has a cursor.
    r = srv.get("/v1/admin/users", token=admin["token"], params={"query": tag, "limit": 2})
    assert len(r.json()["data"]) == 2 and r.json()["next_cursor"], r.text
    # Case-insensitive substring of the email / of the name.
    assert {u["id"] for u in list_all(srv, admin["token"], query=tag.upper())} == set(made)
    assert [u["id"] for u in list_all(srv, admin["token"], query="carries zz" + tag)] == \
        [by_name["user"]["id"]]
    assert [u["email"] for u in list_all(srv, admin["token"], query="pg3-" + tag)] == \
        ["pg3-%s@example.com" % tag]
    assert list_all(srv, admin["token"], query="no-such-user-" + tag) == []
    # Without a query: everyone, including the admin.
    everyone = {u["id"] for u in list_all(srv, admin["token"], limit=7)}
    assert set(made) | {admin["id"]} <= everyone
    # limit=1 pages one by one.
    assert len(list_all(srv, admin["token"], query=tag, limit=1)) == 6


def test_list_users_query_is_not_a_pattern(srv, admin):
    register(srv)
    for q in ("%", "_", "'", "\\"):
        r = srv.get("/v1/admin/users", token=admin["token"], params={"query": q})
        assert r.status_code == 200, (q, r.text)
        for u in r.json()["data"]:
            assert q in u["email"] or q in u["name"].lower(), (q, u)


def test_list_users_bad_cursor(srv, admin):
    r = srv.get("/v1/admin/users", token=admin["token"], params={"cursor": "garbage!!"})
    assert r.status_code in (400, 422), r.text


# --- disable / enable ----------------------------------------------------------------------

def test_disable_and_enable(srv, admin):
    reg = register(srv)
    email, uid = reg["user"]["email"], reg["user"]["id"]
    other = login_ok(srv, email)
    r = srv.post("/v1/admin/users/%s/disable" % uid, token=admin["token"])
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["id"] == uid and body["disabled"] is True and body["email"] == email
    # Every live token stops at once.
    for t in (reg, other):
        assert_problem(me(srv, t["access_token"]), 403, "account_disabled")
        assert_problem(refresh(srv, t["refresh_token"]), 403, "account_disabled")
    assert_problem(login(srv, email), 403, "account_disabled")
    listed = list_all(srv, admin["token"], query=email)
    assert listed[0]["disabled"] is True
    # Enable.
    r = srv.post("/v1/admin/users/%s/enable" % uid, token=admin["token"])
    assert r.status_code == 200, r.text
    assert r.json()["id"] == uid and r.json()["disabled"] is False
    assert list_all(srv, admin["token"], query=email)[0]["disabled"] is False
    fresh = login_ok(srv, email)
    assert me(srv, fresh["access_token"]).status_code == 200
    # The old sessions were revoked by the disable and stay dead.
    for t in (reg, other):
        assert_problem(me(srv, t["access_token"]), 401, "session_revoked")
        assert refresh(srv, t["refresh_token"]).status_code == 401


def test_disable_wrong_password_does_not_reveal(srv, admin):
    reg = register(srv)
    assert srv.post("/v1/admin/users/%s/disable" % reg["user"]["id"],
                    token=admin["token"]).status_code == 200
    r = login(srv, reg["user"]["email"], "Wrong password here 5")
    # A wrong password must not succeed; the code may be either of these.
    assert r.status_code in (401, 403), r.text
    assert r.json()["code"] in ("invalid_credentials", "account_disabled"), r.text
    assert "access_token" not in r.text


def test_disable_is_idempotent(srv, admin):
    uid = register(srv)["user"]["id"]
    for _ in range(2):
        r = srv.post("/v1/admin/users/%s/disable" % uid, token=admin["token"])
        assert r.status_code == 200 and r.json()["disabled"] is True, r.text
    for _ in range(2):
        r = srv.post("/v1/admin/users/%s/enable" % uid, token=admin["token"])
        assert r.status_code == 200 and r.json()["disabled"] is False, r.text


@pytest.mark.parametrize("uid", [str(uuid.uuid4()), "nope", "x" * 300])
@pytest.mark.parametrize("action", ["disable", "enable"])
def test_disable_unknown_user(srv, admin, uid, action):
    assert_problem(srv.post("/v1/admin/users/%s/%s" % (uid, action), token=admin["token"]),
                   404, "not_found")


def test_admin_cannot_disable_self(srv, admin):
    assert_problem(srv.post("/v1/admin/users/%s/disable" % admin["id"], token=admin["token"]),
                   409, "conflict")
    assert me(srv, admin["token"]).status_code == 200


def test_disabled_admin_loses_admin_access(srv, admin):
    email = unique_email("admin2")
    assert admin_create(srv, email, ADMIN_PASSWORD).returncode == 0
    second = login_ok(srv, email, ADMIN_PASSWORD)
    assert srv.post("/v1/admin/users/%s/disable" % second["user"]["id"],
                    token=admin["token"]).status_code == 200
    assert_problem(srv.get("/v1/admin/users", token=second["access_token"]), 403,
                   "account_disabled")
    assert_problem(srv.post("/v1/admin/users/%s/enable" % second["user"]["id"],
                            token=second["access_token"]), 403, "account_disabled")


# --- one account: its organizations and sessions ---------------------------------------------

def test_user_detail_with_orgs_and_sessions(srv, admin):
    u = register(srv, name="Detailed")
    email, token = u["user"]["email"], u["access_token"]
    org = srv.post("/v1/orgs", json={"name": "Detail Co"}, token=token).json()
    second = login_ok(srv, email)["access_token"]
    r = srv.get("/v1/admin/users/%s" % u["user"]["id"], token=admin["token"])
    assert r.status_code == 200, r.text
    d = r.json()
    assert d["email"] == email and d["disabled"] is False and d["is_admin"] is False
    roles = {o["id"]: o["role"] for o in d["organizations"]}
    assert roles[org["id"]] == "owner" and len(roles) == 2, d  # and the personal org
    r = srv.get("/v1/admin/users/%s/sessions" % u["user"]["id"], token=admin["token"])
    assert r.status_code == 200, r.text
    sessions = r.json()["data"]
    assert len(sessions) == 2 and not any(s["current"] for s in sessions), sessions
    # signed out everywhere: both tokens refused, the account still enabled
    r = srv.delete("/v1/admin/users/%s/sessions" % u["user"]["id"], token=admin["token"])
    assert r.status_code == 204, r.text
    for t in (token, second):
        assert_problem(srv.get("/v1/me", token=t), 401, "session_revoked")
    assert srv.get("/v1/admin/users/%s/sessions" % u["user"]["id"],
                   token=admin["token"]).json()["data"] == []
    assert login(srv, email).status_code == 200
    events = srv.get("/v1/admin/audit-events", token=admin["token"],
                     params={"action": "user.sessions_revoked"}).json()["data"]
    assert events and events[0]["target"]["id"] == u["user"]["id"], events


def test_user_detail_refusals(srv, admin):
    u = register(srv)
    for method, path in (("GET", ""), ("GET", "/sessions"), ("DELETE", "/sessions")):
        assert_problem(srv.request(method, "/v1/admin/users/%s%s" % (u["user"]["id"], path),
                                   token=u["access_token"]), 403, "forbidden")
        assert_problem(srv.request(method, "/v1/admin/users/%s%s" % (uuid.uuid4(), path),
                                   token=admin["token"]), 404, "not_found")
        assert_problem(srv.request(method, "/v1/admin/users/not-an-id%s" % path, token=admin["token"]),
                       404, "not_found")
