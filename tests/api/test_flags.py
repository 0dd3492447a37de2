"""Black-box tests of feature flags (issue 7): instance-admin CRUD and
validation, org overrides, evaluation for an org (override, disabled, rollout
by the documented bucket function, recomputed here with hashlib), who may read
and change flags, and that a change is visible at once on the instance that
made it and within a couple of seconds on another instance."""

import hashlib
import time
import uuid

import pytest

import plinth
from plinth import assert_problem
from accounts_util import TIME_RE, admin_create, login_ok, unique_email
from orgs_util import add_member, create_org, new_user
from smtp_sink import mail_server, smtp_sink  # noqa: F401

ADMIN_PASSWORD = "admin passphrase for flag tests"
FLAG_KEYS = {"key", "description", "enabled", "rollout_percent", "overrides", "created_at",
             "updated_at"}


def bucket(key, org_id):
    """API.md: first 4 bytes of SHA-256(key ":" org_id), big-endian, mod 100."""
    return int.from_bytes(hashlib.sha256(("%s:%s" % (key, org_id)).encode()).digest()[:4],
                          "big") % 100


def unique_key(prefix="f"):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:10])


@pytest.fixture(scope="module")
def srv(make_module_server, smtp_sink):  # noqa: F811
    return mail_server(make_module_server, smtp_sink, workers=2)


@pytest.fixture(scope="module")
def admin(srv):
    email = unique_email("flagadmin")
    p = admin_create(srv, email, ADMIN_PASSWORD)
    assert p.returncode == 0, (p.returncode, p.stdout, p.stderr)
    return login_ok(srv, email, ADMIN_PASSWORD)["access_token"]


@pytest.fixture(scope="module")
def alice(srv):
    return new_user(srv, "alice", name="Alice")


def put_flag(srv, token, key, **body):
    return srv.put("/v1/admin/flags/%s" % key, json=body, token=token)


def put_flag_ok(srv, token, key, **body):
    r = put_flag(srv, token, key, **body)
    assert r.status_code == 200, (r.status_code, r.text)
    return assert_flag(r.json(), key)


def assert_flag(f, key=None):
    assert set(f) == FLAG_KEYS, f
    assert isinstance(f["description"], str), f
    assert isinstance(f["enabled"], bool), f
    assert isinstance(f["rollout_percent"], int) and 0 <= f["rollout_percent"] <= 100, f
    assert isinstance(f["overrides"], list), f
    for o in f["overrides"]:
        assert set(o) == {"org_id", "enabled"} and isinstance(o["enabled"], bool), o
    assert TIME_RE.match(f["created_at"]) and TIME_RE.match(f["updated_at"]), f
    if key is not None:
        assert f["key"] == key, f
    return f


def all_flags(srv, token, limit=None):
    """{key: Flag} across every page of GET /v1/admin/flags."""
    out, cursor = {}, None
    for _ in range(1000):
        q = {}
        if limit:
            q["limit"] = limit
        if cursor:
            q["cursor"] = cursor
        r = srv.get("/v1/admin/flags", token=token, params=q)
        assert r.status_code == 200, r.text
        body = r.json()
        assert set(body) == {"data", "next_cursor"}, body
        if limit:
            assert len(body["data"]) <= limit, body
        for f in body["data"]:
            assert f["key"] not in out, f
            out[assert_flag(f)["key"]] = f
        cursor = body["next_cursor"]
        if cursor is None:
            return out
    raise AssertionError("pagination does not end")


def evaluated(srv, token, org_id):
    r = srv.get("/v1/orgs/%s/flags" % org_id, token=token)
    assert r.status_code == 200, (r.status_code, r.text)
    body = r.json()
    assert set(body) == {"flags"} and isinstance(body["flags"], dict), body
    assert all(isinstance(v, bool) for v in body["flags"].values()), body
    return body["flags"]


# --- who may manage flags -------------------------------------------------------------

def test_admin_routes_need_an_instance_admin(srv, alice):
    org = create_org(srv, alice)
    routes = [("get", "/v1/admin/flags", None),
              ("put", "/v1/admin/flags/some-flag", {"enabled": True}),
              ("delete", "/v1/admin/flags/some-flag", None),
              ("put", "/v1/admin/flags/some-flag/orgs/%s" % org["id"], {"enabled": True}),
              ("delete", "/v1/admin/flags/some-flag/orgs/%s" % org["id"], None)]
    r = srv.post("/v1/orgs/%s/api-keys" % org["id"], token=alice.token,
                 json={"name": "k", "permissions": ["flag.read"]})
    assert r.status_code == 201, r.text
    api_key = r.json()["key"]
    for method, path, body in routes:
        kw = {"json": body} if body is not None else {}
        assert_problem(getattr(srv, method)(path, **kw), 401, "unauthenticated")
        assert_problem(getattr(srv, method)(path, token=alice.token, **kw), 403, "forbidden")
        # API keys answer 401 outside /v1/orgs/{org}/...
        r = getattr(srv, method)(path, token=api_key, **kw)
        assert r.status_code == 401, (path, r.status_code, r.text)


# --- CRUD -------------------------------------------------------------------------------

def test_put_creates_then_replaces(srv, admin):
    key = unique_key("crud")
    f = put_flag_ok(srv, admin, key, description="New checkout", enabled=True,
                    rollout_percent=25)
    assert (f["description"], f["enabled"], f["rollout_percent"], f["overrides"]) == \
        ("New checkout", True, 25, [])
    assert all_flags(srv, admin)[key] == f
    time.sleep(0.005)
    # Replace: fields not sent take their defaults; created_at stays.
    g = put_flag_ok(srv, admin, key, enabled=False)
    assert (g["description"], g["enabled"], g["rollout_percent"]) == ("", False, 100), g
    assert g["created_at"] == f["created_at"], (f, g)
    assert g["updated_at"] > f["updated_at"], (f, g)
    assert all_flags(srv, admin)[key] == g
    # Unknown fields are ignored.
    h = put_flag_ok(srv, admin, key, enabled=True, rollout_percent=0, colour="blue")
    assert (h["enabled"], h["rollout_percent"]) == (True, 0)


@pytest.mark.parametrize("key", [
    "A", "1abc", "-abc", ".abc", "_abc", "a b", "a~b", "a:b", "ab*", "UPPER", "é", "a" * 65,
])
def test_put_rejects_bad_keys(srv, admin, key):
    body = assert_problem(put_flag(srv, admin, key, enabled=True), 422, "validation_failed")
    assert [e["field"] for e in body["errors"]] == ["key"], body
    assert key not in all_flags(srv, admin)


def test_put_accepts_edge_keys(srv, admin):
    for key in ("a", "z" + "9" * 63, "a.b_c-d"):
        put_flag_ok(srv, admin, key, enabled=False)
        assert srv.delete("/v1/admin/flags/%s" % key, token=admin).status_code == 204


@pytest.mark.parametrize("body,field", [
    ({}, "enabled"),
    ({"enabled": "true"}, "enabled"),
    ({"enabled": 1}, "enabled"),
    ({"enabled": None}, "enabled"),
    ({"enabled": True, "rollout_percent": -1}, "rollout_percent"),
    ({"enabled": True, "rollout_percent": 101}, "rollout_percent"),
    ({"enabled": True, "rollout_percent": "50"}, "rollout_percent"),
    ({"enabled": True, "rollout_percent": 50.5}, "rollout_percent"),
    ({"enabled": True, "description": 7}, "description"),
    ({"enabled": True, "description": "x" * 1001}, "description"),
])
def test_put_validates_the_body(srv, admin, body, field):
    key = unique_key("val")
    r = srv.put("/v1/admin/flags/%s" % key, json=body, token=admin)
    problem = assert_problem(r, 422, "validation_failed")
    assert field in [e["field"] for e in problem["errors"]], problem
    assert key not in all_flags(srv, admin)


def test_put_needs_a_json_object(srv, admin):
    key = unique_key("val")
    r = srv.put("/v1/admin/flags/%s" % key, data="{", token=admin,
                headers={"Content-Type": "application/json"})
    assert_problem(r, 400, "invalid_json")
    r = srv.put("/v1/admin/flags/%s" % key, json=[True], token=admin)
    assert r.status_code in (400, 422), r.text
    assert key not in all_flags(srv, admin)


def test_delete(srv, admin, alice):
    org = create_org(srv, alice)
    key = unique_key("del")
    put_flag_ok(srv, admin, key, enabled=True)
    assert srv.put("/v1/admin/flags/%s/orgs/%s" % (key, org["id"]), json={"enabled": False},
                   token=admin).status_code == 200
    assert key in evaluated(srv, alice.token, org["id"])
    assert srv.delete("/v1/admin/flags/%s" % key, token=admin).status_code == 204
    assert key not in all_flags(srv, admin)
    assert key not in evaluated(srv, alice.token, org["id"])
    assert_problem(srv.delete("/v1/admin/flags/%s" % key, token=admin), 404, "not_found")
    assert_problem(srv.delete("/v1/admin/flags/NOT-A-KEY", token=admin), 404, "not_found")
    # Its overrides went with it: the same key made again starts without any.
    f = put_flag_ok(srv, admin, key, enabled=False)
    assert f["overrides"] == []
    assert evaluated(srv, alice.token, org["id"])[key] is False


def test_list_pages_in_key_order(srv, admin):
    prefix = "page-" + uuid.uuid4().hex[:6]
    keys = ["%s-%02d" % (prefix, i) for i in range(7)]
    for k in reversed(keys):
        put_flag_ok(srv, admin, k, enabled=True)
    everything = all_flags(srv, admin, limit=2)
    ours = [k for k in everything if k.startswith(prefix)]
    assert ours == keys
    assert list(everything) == sorted(everything)
    assert_problem(srv.get("/v1/admin/flags", token=admin, params={"cursor": "NOT A KEY"}), 400,
                   "bad_request")
    assert_problem(srv.get("/v1/admin/flags", token=admin, params={"limit": 0}), 400,
                   "bad_request")


# --- overrides ----------------------------------------------------------------------------

def test_overrides(srv, admin, alice):
    a, b = create_org(srv, alice), create_org(srv, alice)
    key = unique_key("ovr")
    put_flag_ok(srv, admin, key, enabled=False)
    path = "/v1/admin/flags/%s/orgs/%%s" % key
    r = srv.put(path % a["id"], json={"enabled": True}, token=admin)
    assert r.status_code == 200, r.text
    assert r.json() == {"flag_key": key, "org_id": a["id"], "enabled": True}
    # The org may be named by slug too; the answer carries its id.
    r = srv.put(path % b["slug"], json={"enabled": False}, token=admin)
    assert r.status_code == 200, r.text
    assert r.json() == {"flag_key": key, "org_id": b["id"], "enabled": False}
    f = all_flags(srv, admin)[key]
    assert sorted(f["overrides"], key=lambda o: o["org_id"]) == sorted(
        [{"org_id": a["id"], "enabled": True}, {"org_id": b["id"], "enabled": False}],
        key=lambda o: o["org_id"])
    # PUT replaces an override.
    r = srv.put(path % a["id"], json={"enabled": False}, token=admin)
    assert r.status_code == 200 and r.json()["enabled"] is False, r.text
    assert {o["org_id"]: o["enabled"] for o in all_flags(srv, admin)[key]["overrides"]} == \
        {a["id"]: False, b["id"]: False}
    # The flag's own PUT keeps its overrides.
    g = put_flag_ok(srv, admin, key, enabled=True)
    assert len(g["overrides"]) == 2, g

    # Unknown flag, unknown org, bad body.
    assert_problem(srv.put("/v1/admin/flags/%s/orgs/%s" % (unique_key("none"), a["id"]),
                           json={"enabled": True}, token=admin), 404, "not_found")
    for ref in (str(uuid.uuid4()), "no-such-org-" + uuid.uuid4().hex[:8], "x" * 100):
        assert_problem(srv.put(path % ref, json={"enabled": True}, token=admin), 404,
                       "not_found")
    for body in ({}, {"enabled": "yes"}):
        problem = assert_problem(srv.put(path % a["id"], json=body, token=admin), 422,
                                 "validation_failed")
        assert [e["field"] for e in problem["errors"]] == ["enabled"], problem

    # DELETE: 204, then 404 (no override any more); unknown flag or org 404.
    assert srv.delete(path % a["id"], token=admin).status_code == 204
    assert_problem(srv.delete(path % a["id"], token=admin), 404, "not_found")
    assert_problem(srv.delete(path % str(uuid.uuid4()), token=admin), 404, "not_found")
    assert_problem(srv.delete("/v1/admin/flags/%s/orgs/%s" % (unique_key("none"), b["id"]),
                              token=admin), 404, "not_found")
    assert [o["org_id"] for o in all_flags(srv, admin)[key]["overrides"]] == [b["id"]]


def test_deleting_an_org_removes_its_overrides(srv, admin, alice):
    org = create_org(srv, alice)
    key = unique_key("orgdel")
    put_flag_ok(srv, admin, key, enabled=False)
    assert srv.put("/v1/admin/flags/%s/orgs/%s" % (key, org["id"]), json={"enabled": True},
                   token=admin).status_code == 200
    assert srv.delete("/v1/orgs/%s" % org["id"], token=alice.token).status_code == 204
    assert all_flags(srv, admin)[key]["overrides"] == []


# --- evaluation ---------------------------------------------------------------------------

def test_rollout_follows_the_documented_bucket(srv, admin, alice):
    orgs = [create_org(srv, alice) for _ in range(16)]
    key = unique_key("roll")
    put_flag_ok(srv, admin, key, enabled=True, rollout_percent=50)
    expected = {o["id"]: bucket(key, o["id"]) < 50 for o in orgs}
    got = {o["id"]: evaluated(srv, alice.token, o["id"])[key] for o in orgs}
    assert got == expected
    # The same orgs at other percentages, including the edges.
    for pct in (0, 1, 37, 99, 100):
        put_flag_ok(srv, admin, key, enabled=True, rollout_percent=pct)
        for o in orgs:
            assert evaluated(srv, alice.token, o["id"])[key] is (bucket(key, o["id"]) < pct), \
                (pct, o["id"], bucket(key, o["id"]))
    # A disabled flag is off whatever the rollout.
    put_flag_ok(srv, admin, key, enabled=False, rollout_percent=100)
    assert not any(evaluated(srv, alice.token, o["id"])[key] for o in orgs)


def test_an_override_wins(srv, admin, alice):
    org = create_org(srv, alice)
    key = unique_key("prec")
    ovr = "/v1/admin/flags/%s/orgs/%s" % (key, org["id"])
    for enabled, pct in ((False, 100), (True, 0), (True, 100), (True, 50)):
        put_flag_ok(srv, admin, key, enabled=enabled, rollout_percent=pct)
        rule = enabled and bucket(key, org["id"]) < pct
        assert evaluated(srv, alice.token, org["id"])[key] is rule
        for forced in (True, False):
            assert srv.put(ovr, json={"enabled": forced}, token=admin).status_code == 200
            assert evaluated(srv, alice.token, org["id"])[key] is forced
        # Without the override the flag's own rule applies again.
        assert srv.delete(ovr, token=admin).status_code == 204
        assert evaluated(srv, alice.token, org["id"])[key] is rule


def test_evaluation_covers_every_flag_and_uses_slugs(srv, admin, alice):
    org = create_org(srv, alice)
    keys = [unique_key("every") for _ in range(3)]
    for k in keys:
        put_flag_ok(srv, admin, k, enabled=True)
    flags = evaluated(srv, alice.token, org["slug"])
    assert all(flags[k] is True for k in keys)
    assert set(flags) == set(all_flags(srv, admin))


def test_who_may_read_an_orgs_flags(srv, smtp_sink, admin, alice):  # noqa: F811
    org = create_org(srv, alice)
    key = unique_key("perm")
    put_flag_ok(srv, admin, key, enabled=True)
    path = "/v1/orgs/%s/flags" % org["id"]
    # Every built-in role holds flag.read.
    for role in ("viewer", "member", "admin"):
        user = add_member(srv, smtp_sink, alice, org["id"], role=role)
        assert evaluated(srv, user.token, org["id"])[key] is True
    # An API key with flag.read may; one without gets 403.
    for perms, status in ((["flag.read"], 200), (["org.read"], 403)):
        r = srv.post("/v1/orgs/%s/api-keys" % org["id"], token=alice.token,
                     json={"name": "k", "permissions": perms})
        assert r.status_code == 201, r.text
        r = srv.get(path, token=r.json()["key"])
        assert r.status_code == status, (perms, r.status_code, r.text)
        if status == 403:
            assert_problem(r, 403, "forbidden")
    # Non-members learn nothing; no token is 401. The instance admin is not a
    # member either: admin rights do not open tenants' routes.
    stranger = new_user(srv, "stranger")
    assert_problem(srv.get(path, token=stranger.token), 404, "not_found")
    assert_problem(srv.get("/v1/orgs/%s/flags" % uuid.uuid4(), token=stranger.token), 404,
                   "not_found")
    assert_problem(srv.get(path, token=admin), 404, "not_found")
    assert_problem(srv.get(path), 401, "unauthenticated")


def test_changes_are_visible_at_once(srv, admin, alice):
    """Every answer after a change already reflects it on this instance (the
    snapshot is rebuilt before the change's response is sent)."""
    org = create_org(srv, alice)
    key = unique_key("now")
    ovr = "/v1/admin/flags/%s/orgs/%s" % (key, org["id"])
    for i in range(10):
        on = i % 2 == 0
        put_flag_ok(srv, admin, key, enabled=on)
        assert evaluated(srv, alice.token, org["id"])[key] is on
        assert srv.put(ovr, json={"enabled": not on}, token=admin).status_code == 200
        assert evaluated(srv, alice.token, org["id"])[key] is (not on)
        assert srv.delete(ovr, token=admin).status_code == 204
        assert evaluated(srv, alice.token, org["id"])[key] is on


# --- another instance ---------------------------------------------------------------------

def test_another_instance_sees_changes(srv, admin, alice, make_server):
    """A second process on the same storage (same database, same keys) picks
    up changes made through the first within its poll interval. Instances of one
    deployment share its public API URL, the access tokens' issuer."""
    other = make_server(args=srv.args, env={"PLINTH_PUBLIC_API_URL": srv.url}, start=False)
    if other.pg_db:
        plinth.drop_database(other.pg_db)
        other.pg_db = None
    other.pg_url = srv.pg_url
    other.data_dir = srv.data_dir
    other.start()
    org = create_org(srv, alice)
    key = unique_key("remote")

    def seen_on_other(want):
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if evaluated(other, alice.token, org["id"]).get(key) == want:
                return True
            time.sleep(0.1)
        return False

    put_flag_ok(srv, admin, key, enabled=True)
    assert seen_on_other(True)
    assert srv.put("/v1/admin/flags/%s/orgs/%s" % (key, org["id"]), json={"enabled": False},
                   token=admin).status_code == 200
    assert seen_on_other(False)
    assert srv.delete("/v1/admin/flags/%s" % key, token=admin).status_code == 204
    assert seen_on_other(None)
    # ... and the other way round.
    assert other.put("/v1/admin/flags/%s" % key, json={"enabled": True},
                     token=admin).status_code == 200
    deadline = time.monotonic() + 5
    while evaluated(srv, alice.token, org["id"]).get(key) is not True:
        assert time.monotonic() < deadline, "change on the other instance not seen"
        time.sleep(0.1)
