"""Collections (issue 16): definitions made by the instance admin, their
permissions in the catalog and in custom roles, `plinth collections apply`,
and records — validation with JSON Pointer paths, versions and
preconditions, creator rules, plan limits, events, queries (filters, sort,
pages, full-text search), grants and references — on org and project scope.
One server and one world of users per module."""

import concurrent.futures
import json
import os
import time
import uuid

import pytest

import plinth
from accounts_util import admin_create, login_ok, unique_email
from orgs_util import add_member, create_org, new_user
from projects_util import create_project
from smtp_sink import mail_server, smtp_sink  # noqa: F401
from sse_util import Stream

ADMIN_PASSWORD = "admin passphrase for collection tests"
RECORD_KEYS = {"id", "data", "version", "created_by", "created_at", "updated_at"}


@pytest.fixture(scope="module")
def srv(make_module_server, smtp_sink):  # noqa: F811
    return mail_server(make_module_server, smtp_sink, workers=2)


@pytest.fixture(scope="module")
def admin(srv):
    email = unique_email("colladmin")
    p = admin_create(srv, email, ADMIN_PASSWORD)
    assert p.returncode == 0, (p.returncode, p.stdout, p.stderr)
    return login_ok(srv, email, ADMIN_PASSWORD)["access_token"]


def cname(prefix="c"):
    return "%s_%s" % (prefix, uuid.uuid4().hex[:8])


def define(srv, admin, name, schema=None, **extra):
    body = {"name": name, "scope": "org",
            "schema": schema or {"type": "object",
                                 "properties": {"title": {"type": "string", "maxLength": 200},
                                                "status": {"type": "string",
                                                           "enum": ["todo", "doing", "done"]},
                                                "points": {"type": "integer"},
                                                "body": {"type": "string"},
                                                "tags": {"type": "array",
                                                         "items": {"type": "string"}}},
                                 "required": ["title"], "additionalProperties": False}}
    body.update(extra)
    r = srv.put("/v1/admin/collections/%s" % name, json=body, token=admin)
    assert r.status_code in (200, 201), (r.status_code, r.text)
    return r.json()


class World:
    pass


@pytest.fixture(scope="module")
def w(srv, admin, smtp_sink):  # noqa: F811
    x = World()
    x.owner = new_user(srv, "collowner")
    x.org = create_org(srv, x.owner)["id"]
    x.admin_user = add_member(srv, smtp_sink, x.owner, x.org, "admin")
    x.member = add_member(srv, smtp_sink, x.owner, x.org, "member")
    x.member2 = add_member(srv, smtp_sink, x.owner, x.org, "member")
    x.viewer = add_member(srv, smtp_sink, x.owner, x.org, "viewer")
    x.outsider = new_user(srv, "collother")
    x.org_b = create_org(srv, x.outsider)["id"]
    x.tasks = cname("tasks")
    define(srv, admin, x.tasks, indexes=[["status"], ["points"]], search=["title", "body"],
           rules={"update": "creator", "delete": "creator"})
    return x


def rpath(org, coll, rid=None, rest="", project=None):
    p = "/v1/orgs/%s" % org
    if project:
        p += "/projects/%s" % project
    p += "/collections/%s/records" % coll
    if rid:
        p += "/" + rid
    return p + rest


def create(srv, user, org, coll, data, project=None):
    r = srv.post(rpath(org, coll, project=project), json=data, token=user.token)
    assert r.status_code == 201, (r.status_code, r.text)
    rec = r.json()
    assert set(rec) >= RECORD_KEYS, rec
    assert r.headers["ETag"] == '"%d"' % rec["version"]
    return rec


# --- definitions -------------------------------------------------------------------

def test_definition_roundtrip_and_catalog(srv, admin, w):
    r = srv.get("/v1/admin/collections/%s" % w.tasks, token=admin)
    assert r.status_code == 200, r.text
    d = r.json()
    assert d["name"] == w.tasks and d["scope"] == "org"
    assert d["rules"] == {"update": "creator", "delete": "creator"}
    assert d["max_record_bytes"] == 65536 and d["indexes"] == [["status"], ["points"]]
    r = srv.get("/v1/collections", token=w.member.token)
    assert r.status_code == 200 and w.tasks in [c["name"] for c in r.json()["data"]]
    keys = {p["key"] for p in srv.get("/v1/permissions", token=w.member.token).json()["data"]}
    for verb in ("read", "create", "update", "delete"):
        assert "%s.%s" % (w.tasks, verb) in keys
    # a custom role may hold them, under the subset rule
    r = srv.post("/v1/orgs/%s/roles" % w.org, token=w.owner.token,
                 json={"key": "tasker", "name": "Tasker", "level": 1,
                       "permissions": ["org.read", w.tasks + ".read"]})
    assert r.status_code == 201, r.text
    assert w.tasks + ".read" in r.json()["permissions"]
    # built-in roles: viewer reads, member writes
    roles = {x["key"]: x for x in srv.get("/v1/orgs/%s/roles" % w.org,
                                          token=w.owner.token).json()["data"]}
    assert w.tasks + ".read" in roles["viewer"]["permissions"]
    assert w.tasks + ".create" not in roles["viewer"]["permissions"]
    assert w.tasks + ".delete" in roles["member"]["permissions"]
    assert w.tasks + ".read" not in roles["guest"]["permissions"]
    # idempotent PUT: same version
    again = define(srv, admin, w.tasks, indexes=[["status"], ["points"]],
                   search=["title", "body"], rules={"update": "creator", "delete": "creator"})
    assert again["version"] == d["version"]


def test_definition_validation(srv, admin, w):
    def bad(name, body, field):
        r = srv.put("/v1/admin/collections/%s" % name, json=body, token=admin)
        plinth.assert_problem(r, 422, "validation_failed")
        fields = [e["field"] for e in r.json()["errors"]]
        assert any(f.startswith(field) for f in fields), (field, r.json())

    ok = {"type": "object", "properties": {"a": {"type": "string"}}}
    bad("x_1", {"schema": {"type": "array"}}, "schema")
    bad("x_1", {"schema": {"type": "object", "properties": {"a": {"type": "strng"}}}},
        "schema.properties.a.type")
    bad("x_1", {"schema": {"type": "object", "properties": {"a": {"oneOf": []}}}},
        "schema.properties.a.oneOf")
    bad("x_1", {"schema": {"type": "object", "properties": {"a": {"type": "string",
                                                                   "pattern": "(a)\\1"}}}},
        "schema.properties.a.pattern")
    bad("x_1", {"schema": {"type": "object", "properties": {"a": {"type": "string",
                                                                   "pattern": "x" * 300}}}},
        "schema.properties.a.pattern")
    bad("x_1", {"schema": {"type": "object", "properties": {"a": {"type": "integer",
                                                                   "x-user": True}}}},
        "schema.properties.a.x-user")
    bad("x_1", {"schema": ok, "indexes": [["nope"]]}, "indexes")
    bad("x_1", {"schema": ok, "search": ["nope"]}, "search")
    bad("x_1", {"schema": ok, "rules": {"update": "anyone"}}, "rules.update")
    bad("x_1", {"schema": ok, "scope": "team"}, "scope")
    bad("x_1", {"schema": ok, "max_record_bytes": 10 ** 9}, "max_record_bytes")
    bad("x_1", {"name": "other", "schema": ok}, "name")
    deep = {"type": "object"}
    for _ in range(12):
        deep = {"type": "object", "properties": {"a": deep}}
    bad("x_1", {"schema": deep}, "schema")
    r = srv.put("/v1/admin/collections/Bad-Name", json={"schema": ok}, token=admin)
    assert r.status_code == 404
    # only instance admins
    r = srv.put("/v1/admin/collections/x_1", json={"schema": ok}, token=w.owner.token)
    plinth.assert_problem(r, 403, "forbidden")


def test_delete_definition_with_records_needs_force(srv, admin, w):
    name = cname("gone")
    define(srv, admin, name)
    create(srv, w.owner, w.org, name, {"title": "x"})
    r = srv.delete("/v1/admin/collections/%s" % name, token=admin)
    plinth.assert_problem(r, 409, "conflict")
    r = srv.delete("/v1/admin/collections/%s" % name, token=admin, params={"force": "true"})
    assert r.status_code == 204, r.text
    assert srv.get("/v1/admin/collections/%s" % name, token=admin).status_code == 404
    keys = {p["key"] for p in srv.get("/v1/permissions", token=w.member.token).json()["data"]}
    assert name + ".read" not in keys
    roles = srv.get("/v1/orgs/%s/roles" % w.org, token=w.owner.token).json()["data"]
    assert not [r for r in roles if name + ".read" in r["permissions"]], roles
    r = srv.post("/v1/orgs/%s/roles" % w.org, token=w.owner.token,
                 json={"key": "gone_role", "name": "Gone", "level": 1,
                       "permissions": [name + ".read"]})
    plinth.assert_problem(r, 422, "validation_failed")
    r = srv.get(rpath(w.org, name), token=w.owner.token)
    plinth.assert_problem(r, 404, "not_found")


def test_cli_apply(srv, w, tmp_path):
    name = cname("cli")
    f = tmp_path / "c.json"
    f.write_text(json.dumps({"collections": [
        {"name": name, "scope": "project",
         "schema": {"type": "object", "properties": {"t": {"type": "string"}}}}]}))
    env = {"PLINTH_DATABASE_URL": srv.pg_url} if srv.pg_url else {}
    args = ["collections", "apply", str(f), "--data", srv.data_dir]
    p = plinth.run_cli(args, env=env, timeout=30)
    assert p.returncode == 0, (p.stdout, p.stderr)
    assert "%s: created" % name in p.stdout
    # the running server follows a definition another process made
    deadline = time.monotonic() + 10
    while True:
        keys = {k["key"] for k in srv.get("/v1/permissions", token=w.member.token).json()["data"]}
        if name + ".read" in keys:
            break
        assert time.monotonic() < deadline, "the server did not pick up the definition"
        time.sleep(0.1)
    p = plinth.run_cli(args, env=env, timeout=30)
    assert p.returncode == 0 and "%s: unchanged" % name in p.stdout, (p.stdout, p.stderr)
    f.write_text(json.dumps({"collections": [{"name": name, "schema": {"type": "string"}}]}))
    p = plinth.run_cli(args, env=env, timeout=30)
    assert p.returncode == 1 and "schema" in p.stderr, (p.stdout, p.stderr)
    f.write_text("{nope")
    p = plinth.run_cli(args, env=env, timeout=30)
    assert p.returncode == 2, (p.stdout, p.stderr)


# --- records -------------------------------------------------------------------------

def test_crud_versions_and_preconditions(srv, w):
    rec = create(srv, w.member, w.org, w.tasks, {"title": "Write docs", "status": "todo"})
    assert rec["version"] == 1 and rec["created_by"] == w.member.id
    url = rpath(w.org, w.tasks, rec["id"])
    r = srv.get(url, token=w.viewer.token)
    assert r.status_code == 200 and r.json()["data"] == {"title": "Write docs", "status": "todo"}
    assert r.headers["ETag"] == '"1"'
    r = srv.get(url, token=w.viewer.token, headers={"If-None-Match": '"1"'})
    assert r.status_code == 304
    # merge patch: null removes, objects merge
    r = srv.patch(url, json={"status": None, "points": 3}, token=w.member.token,
                  headers={"If-Match": '"1"'})
    assert r.status_code == 200, r.text
    assert r.json()["data"] == {"title": "Write docs", "points": 3} and r.json()["version"] == 2
    r = srv.patch(url, json={"points": 4}, token=w.member.token, headers={"If-Match": '"1"'})
    plinth.assert_problem(r, 412, "precondition_failed")
    r = srv.put(url, json={"title": "Replaced"}, token=w.member.token)
    assert r.status_code == 200 and r.json()["data"] == {"title": "Replaced"}
    assert r.json()["version"] == 3
    r = srv.delete(url, token=w.member.token, headers={"If-Match": '"2"'})
    plinth.assert_problem(r, 412, "precondition_failed")
    r = srv.delete(url, token=w.member.token, headers={"If-Match": '"3"'})
    assert r.status_code == 204
    assert srv.get(url, token=w.member.token).status_code == 404


def test_validation_errors_have_pointers(srv, w):
    r = srv.post(rpath(w.org, w.tasks), json={"status": "nope", "extra": 1, "points": 1.5,
                                             "tags": ["a", 2]}, token=w.member.token)
    plinth.assert_problem(r, 422, "validation_failed")
    errs = {(e["field"], e["code"]) for e in r.json()["errors"]}
    assert errs >= {("/title", "required"), ("/status", "enum"),
                    ("/extra", "additionalProperties"), ("/points", "type"),
                    ("/tags/1", "type")}, errs
    # unicode lengths count characters, not bytes
    r = srv.post(rpath(w.org, w.tasks), json={"title": "é" * 200}, token=w.member.token)
    assert r.status_code == 201, r.text
    r = srv.post(rpath(w.org, w.tasks), json={"title": "😀" * 201}, token=w.member.token)
    plinth.assert_problem(r, 422, "validation_failed")
    assert r.json()["errors"][0]["field"] == "/title"


KEYWORD_SCHEMA = {
    "type": "object",
    "properties": {
        "s": {"type": "string", "minLength": 2, "maxLength": 3, "pattern": "^[a-z]+$"},
        "w": {"type": "string", "minLength": 2, "maxLength": 3},
        "e": {"enum": ["a", 1, None]},
        "c": {"const": "fixed"},
        "n": {"type": "number", "minimum": 1, "maximum": 10},
        "x": {"type": "integer", "exclusiveMinimum": 0, "exclusiveMaximum": 5},
        "t": {"type": ["string", "null"]},
        "a": {"type": "array", "items": {"type": "integer"}, "minItems": 1, "maxItems": 2,
              "uniqueItems": True},
        "o": {"type": "object", "properties": {"k": {"type": "boolean"}}, "required": ["k"],
              "additionalProperties": False},
        "email": {"type": "string", "format": "email"},
        "dt": {"type": "string", "format": "date-time"},
        "d": {"type": "string", "format": "date"},
        "u": {"type": "string", "format": "uri"},
        "id": {"type": "string", "format": "uuid"},
    },
    "required": ["s"],
    "additionalProperties": False,
}
KEYWORD_CASES = [
    ({"s": "a"}, "/s", "minLength"),
    ({"s": "abcd"}, "/s", "maxLength"),
    ({"s": "ab", "w": "\u00e9\u00e9\u00e9\u00e9"}, "/w", "maxLength"),  # 4 characters, 8 bytes
    ({"s": "ab", "w": "\U0001f600"}, "/w", "minLength"),  # 1 character, 4 bytes
    ({"s": "AB"}, "/s", "pattern"),
    ({}, "/s", "required"),
    ({"s": "ab", "zz": 1}, "/zz", "additionalProperties"),
    ({"s": "ab", "e": "b"}, "/e", "enum"),
    ({"s": "ab", "c": "other"}, "/c", "const"),
    ({"s": "ab", "n": 0.5}, "/n", "minimum"),
    ({"s": "ab", "n": 11}, "/n", "maximum"),
    ({"s": "ab", "x": 0}, "/x", "exclusiveMinimum"),
    ({"s": "ab", "x": 5}, "/x", "exclusiveMaximum"),
    ({"s": "ab", "x": 1.5}, "/x", "type"),
    ({"s": "ab", "t": 3}, "/t", "type"),
    ({"s": "ab", "a": []}, "/a", "minItems"),
    ({"s": "ab", "a": [1, 2, 3]}, "/a", "maxItems"),
    ({"s": "ab", "a": [1, 1]}, "/a", "uniqueItems"),
    ({"s": "ab", "a": ["1"]}, "/a/0", "type"),
    ({"s": "ab", "o": {}}, "/o/k", "required"),
    ({"s": "ab", "o": {"k": True, "j": 1}}, "/o/j", "additionalProperties"),
    ({"s": "ab", "email": "not an email"}, "/email", "format"),
    ({"s": "ab", "dt": "2026-11-31T10:00:00Z"}, "/dt", "format"),
    ({"s": "ab", "dt": "2026-11-30 10:00:00Z"}, "/dt", "format"),
    ({"s": "ab", "d": "2025-02-29"}, "/d", "format"),
    ({"s": "ab", "u": "//no-scheme/x"}, "/u", "format"),
    ({"s": "ab", "id": "2eb8aa08-aa98-11ea-b4aa-73b441d1638"}, "/id", "format"),
]


def test_every_keyword_with_pointers(srv, admin, w):
    name = cname("kw")
    define(srv, admin, name, schema=KEYWORD_SCHEMA)
    ok = {"s": "abc", "w": "\u00e9\U0001f600\u00e9", "e": None, "c": "fixed", "n": 10, "x": 4,
          "t": None, "a": [1, 2], "o": {"k": False}, "email": "ada@example.com",
          "dt": "2026-11-22T09:04:24.123+01:00", "d": "2024-02-29",
          "u": "https://example.com/a?b#c", "id": "2EB8AA08-AA98-11EA-B4AA-73B441D16380"}
    create(srv, w.member, w.org, name, ok)
    for data, pointer, code in KEYWORD_CASES:
        r = srv.post(rpath(w.org, name), json=data, token=w.member.token)
        plinth.assert_problem(r, 422, "validation_failed")
        errs = {(e["field"], e["code"]) for e in r.json()["errors"]}
        assert errs == {(pointer, code)}, (data, errs)


def test_max_record_bytes(srv, admin, w):
    name = cname("small")
    define(srv, admin, name, schema={"type": "object"}, max_record_bytes=100)
    r = srv.post(rpath(w.org, name), json={"t": "x" * 200}, token=w.member.token)
    plinth.assert_problem(r, 422, "validation_failed")
    assert r.json()["errors"][0]["code"] == "max_record_bytes"


def test_viewer_cannot_write_and_creator_rules(srv, w):
    r = srv.post(rpath(w.org, w.tasks), json={"title": "v"}, token=w.viewer.token)
    plinth.assert_problem(r, 403, "forbidden")
    mine = create(srv, w.member, w.org, w.tasks, {"title": "mine"})
    url = rpath(w.org, w.tasks, mine["id"])
    r = srv.patch(url, json={"title": "x"}, token=w.viewer.token)
    plinth.assert_problem(r, 403, "forbidden")
    # creator rule: another member may not change or delete it, an admin may
    r = srv.patch(url, json={"title": "x"}, token=w.member2.token)
    plinth.assert_problem(r, 403, "forbidden")
    r = srv.delete(url, token=w.member2.token)
    plinth.assert_problem(r, 403, "forbidden")
    r = srv.patch(url, json={"title": "by admin"}, token=w.admin_user.token)
    assert r.status_code == 200, r.text
    r = srv.patch(url, json={"title": "by me"}, token=w.member.token)
    assert r.status_code == 200, r.text
    r = srv.delete(url, token=w.viewer.token)
    plinth.assert_problem(r, 403, "forbidden")
    r = srv.delete(url, token=w.member.token)
    assert r.status_code == 204


def test_concurrent_patches_one_wins(srv, w):
    rec = create(srv, w.owner, w.org, w.tasks, {"title": "race", "points": 0})
    url = rpath(w.org, w.tasks, rec["id"])

    def patch(i):
        return srv.patch(url, json={"points": i}, token=w.owner.token,
                         headers={"If-Match": '"1"'}).status_code

    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        codes = list(ex.map(patch, range(8)))
    assert codes.count(200) == 1 and codes.count(412) == 7, codes
    assert srv.get(url, token=w.owner.token).json()["version"] == 2


def test_events_and_audit(srv, w):
    rec = create(srv, w.owner, w.org, w.tasks, {"title": "audited"})
    srv.patch(rpath(w.org, w.tasks, rec["id"]), json={"points": 1}, token=w.owner.token)
    srv.delete(rpath(w.org, w.tasks, rec["id"]), token=w.owner.token)
    r = srv.get("/v1/orgs/%s/audit-events" % w.org, token=w.owner.token,
                params={"target_id": rec["id"]})
    assert r.status_code == 200, r.text
    ev = {e["action"]: e for e in r.json()["data"]}
    assert set(ev) == {"record.created", "record.updated", "record.deleted"}, ev
    assert ev["record.updated"]["data"] == {"collection": w.tasks, "record_id": rec["id"],
                                            "project_id": None, "version": 2}
    # the activity feed shows them to readers
    r = srv.get("/v1/orgs/%s/activity" % w.org, token=w.viewer.token,
                params={"types": "record.*"})
    assert r.status_code == 200, r.text
    assert rec["id"] in {e["data"]["record_id"] for e in r.json()["data"]}


# --- queries -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def listed(srv, admin, w):
    name = cname("list")
    define(srv, admin, name, indexes=[["status"], ["points"]], search=["title", "body"])
    recs = []
    for i, (st, title) in enumerate([("todo", "alpha report"), ("doing", "beta release"),
                                     ("done", "gamma report"), ("todo", "delta plan"),
                                     ("done", "epsilon")]):
        data = {"title": title, "status": st, "points": i, "body": "note %d" % i,
                "tags": ["t%d" % (i % 2)]}
        recs.append(create(srv, w.member, w.org, name, data))
    return name, recs


def ids_of(r):
    assert r.status_code == 200, r.text
    return [x["id"] for x in r.json()["data"]]


def test_filters_and_sort(srv, w, listed):
    name, recs = listed
    url = rpath(w.org, name)
    get = lambda **p: ids_of(srv.get(url, token=w.viewer.token, params=p))  # noqa: E731
    assert get(**{"filter[status]": "todo"}) == [recs[0]["id"], recs[3]["id"]]
    assert get(**{"filter[status][ne]": "todo"}) == [recs[i]["id"] for i in (1, 2, 4)]
    assert get(**{"filter[points][gte]": "3"}) == [recs[3]["id"], recs[4]["id"]]
    assert get(**{"filter[points][lt]": "1"}) == [recs[0]["id"]]
    assert get(**{"filter[points][lte]": "1", "filter[points][gt]": "0"}) == [recs[1]["id"]]
    assert get(**{"filter[status][in]": "doing,done"}) == [recs[i]["id"] for i in (1, 2, 4)]
    assert get(**{"filter[title][contains]": "report"}) == [recs[0]["id"], recs[2]["id"]]
    assert get(**{"filter[tags][contains]": "t1"}) == [recs[1]["id"], recs[3]["id"]]
    assert len(get(**{"filter[body][exists]": "true"})) == 5
    assert get(**{"filter[body][exists]": "false"}) == []
    assert get(sort="-points") == [r["id"] for r in reversed(recs)]
    assert get(sort="title")[0] == recs[0]["id"]
    assert get(sort="-created_at") == [r["id"] for r in reversed(recs)]
    # pages
    seen, cursor = [], None
    while True:
        p = {"limit": 2, "sort": "-points"}
        if cursor:
            p["cursor"] = cursor
        r = srv.get(url, token=w.viewer.token, params=p)
        seen += ids_of(r)
        cursor = r.json()["next_cursor"]
        if not cursor:
            break
    assert seen == [r["id"] for r in reversed(recs)]
    seen, cursor = [], None
    while True:
        p = {"limit": 2}
        if cursor:
            p["cursor"] = cursor
        r = srv.get(url, token=w.viewer.token, params=p)
        seen += ids_of(r)
        cursor = r.json()["next_cursor"]
        if not cursor:
            break
    assert seen == [r["id"] for r in recs]


def test_undeclared_filter_is_422(srv, w, listed):
    name, _ = listed
    r = srv.get(rpath(w.org, name), token=w.viewer.token, params={"filter[nope]": "x"})
    plinth.assert_problem(r, 422, "validation_failed")
    r = srv.get(rpath(w.org, name), token=w.viewer.token, params={"sort": "nope"})
    plinth.assert_problem(r, 422, "validation_failed")
    r = srv.get(rpath(w.org, name), token=w.viewer.token, params={"filter[points]": "abc"})
    plinth.assert_problem(r, 422, "validation_failed")
    r = srv.get(rpath(w.org, name), token=w.viewer.token, params={"filter[points][zz]": "1"})
    plinth.assert_problem(r, 422, "validation_failed")


def test_search(srv, w, listed):
    name, recs = listed
    r = srv.get(rpath(w.org, name), token=w.viewer.token, params={"q": "report"})
    assert ids_of(r) == [recs[0]["id"], recs[2]["id"]]
    r = srv.get(rpath(w.org, name), token=w.viewer.token, params={"q": "gamma report"})
    assert ids_of(r) == [recs[2]["id"]]
    r = srv.get(rpath(w.org, name), token=w.viewer.token,
                params={"q": "note", "filter[status]": "done"})
    assert ids_of(r) == [recs[2]["id"], recs[4]["id"]]
    # after a change the index follows
    srv.patch(rpath(w.org, name, recs[4]["id"]), json={"title": "zeta report"},
              token=w.owner.token)
    r = srv.get(rpath(w.org, name), token=w.viewer.token, params={"q": "report"})
    assert ids_of(r) == [recs[0]["id"], recs[2]["id"], recs[4]["id"]]


def test_declared_indexes_exist(srv, w, listed):
    name, _ = listed
    if srv.pg_url:
        out = plinth.psql("SELECT indexdef FROM pg_indexes WHERE tablename = 'records'",
                          url=srv.pg_url)
    else:
        import sqlite3
        con = sqlite3.connect(os.path.join(srv.data_dir, "plinth.db"))
        out = "\n".join(r[0] or "" for r in con.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'records'"))
        con.close()
    lines = [x for x in out.splitlines() if "'%s'" % name in x]
    assert len(lines) == 2, out
    assert any("status" in x for x in lines) and any("points" in x for x in lines)


# --- tenancy -------------------------------------------------------------------------

def test_other_org_gets_404(srv, w, listed):
    name, recs = listed
    rid = recs[0]["id"]
    # org B's owner, in org B's path: not found by id, filter or search
    r = srv.get(rpath(w.org_b, name, rid), token=w.outsider.token)
    plinth.assert_problem(r, 404, "not_found")
    for p in ({"filter[status]": "todo"}, {"q": "report"}, {}):
        assert ids_of(srv.get(rpath(w.org_b, name), token=w.outsider.token, params=p)) == []
    for m in ("patch", "put"):
        r = getattr(srv, m)(rpath(w.org_b, name, rid), json={"title": "x"},
                            token=w.outsider.token)
        plinth.assert_problem(r, 404, "not_found")
    r = srv.delete(rpath(w.org_b, name, rid), token=w.outsider.token)
    plinth.assert_problem(r, 404, "not_found")
    # org A's path: not a member
    r = srv.get(rpath(w.org, name, rid), token=w.outsider.token)
    plinth.assert_problem(r, 404, "not_found")


def test_project_scope(srv, admin, w, smtp_sink):  # noqa: F811
    name = cname("ptasks")
    define(srv, admin, name, scope="project")
    p1 = create_project(srv, w.owner, w.org, "P1 " + uuid.uuid4().hex[:6])
    p2 = create_project(srv, w.owner, w.org, "P2 " + uuid.uuid4().hex[:6])
    rec = create(srv, w.owner, w.org, name, {"title": "in p1"}, project=p1["id"])
    # another project of the same org: 404
    r = srv.get(rpath(w.org, name, rec["id"], project=p2["id"]), token=w.owner.token)
    plinth.assert_problem(r, 404, "not_found")
    assert ids_of(srv.get(rpath(w.org, name, project=p2["id"]), token=w.owner.token)) == []
    # a member without access to the project: 404
    r = srv.get(rpath(w.org, name, rec["id"], project=p1["id"]), token=w.member.token)
    plinth.assert_problem(r, 404, "not_found")
    # the org path of a project collection: 404
    r = srv.get(rpath(w.org, name), token=w.owner.token)
    plinth.assert_problem(r, 404, "not_found")
    # the slug works too
    r = srv.get(rpath(w.org, name, rec["id"], project=p1["slug"]), token=w.owner.token)
    assert r.status_code == 200, r.text
    # a project member reads it
    r = srv.put("/v1/orgs/%s/projects/%s/members/%s" % (w.org, p1["id"], w.member.id),
                json={"role": "member"}, token=w.owner.token)
    assert r.status_code == 200, r.text
    r = srv.get(rpath(w.org, name, rec["id"], project=p1["id"]), token=w.member.token)
    assert r.status_code == 200, r.text


# --- grants and references ------------------------------------------------------------

def test_grants(srv, admin, w, smtp_sink):  # noqa: F811
    name = cname("shared")
    define(srv, admin, name)
    guest = add_member(srv, smtp_sink, w.owner, w.org, "viewer")
    # make the grantee a guest-like caller: a custom role without the collection
    r = srv.post("/v1/orgs/%s/roles" % w.org, token=w.owner.token,
                 json={"key": "noread", "name": "No read", "level": 1,
                       "permissions": ["org.read"]})
    assert r.status_code == 201, r.text
    r = srv.patch("/v1/orgs/%s/members/%s" % (w.org, guest.id), json={"role": "noread"},
                  token=w.owner.token)
    assert r.status_code == 200, r.text
    a = create(srv, w.owner, w.org, name, {"title": "a"})
    b = create(srv, w.owner, w.org, name, {"title": "b"})
    assert ids_of(srv.get(rpath(w.org, name), token=guest.token)) == []
    r = srv.get(rpath(w.org, name, a["id"]), token=guest.token)
    plinth.assert_problem(r, 404, "not_found")
    r = srv.put(rpath(w.org, name, a["id"], "/grants/" + guest.id), json={"access": "read"},
                token=w.owner.token)
    assert r.status_code == 200, r.text
    assert r.json()["access"] == "read"
    assert ids_of(srv.get(rpath(w.org, name), token=guest.token)) == [a["id"]]
    assert srv.get(rpath(w.org, name, a["id"]), token=guest.token).status_code == 200
    assert srv.get(rpath(w.org, name, b["id"]), token=guest.token).status_code == 404
    r = srv.patch(rpath(w.org, name, a["id"]), json={"title": "x"}, token=guest.token)
    plinth.assert_problem(r, 403, "forbidden")
    srv.put(rpath(w.org, name, a["id"], "/grants/" + guest.id), json={"access": "write"},
            token=w.owner.token)
    r = srv.patch(rpath(w.org, name, a["id"]), json={"title": "x"}, token=guest.token)
    assert r.status_code == 200, r.text
    r = srv.get(rpath(w.org, name, a["id"], "/grants"), token=w.owner.token)
    assert [g["user_id"] for g in r.json()["data"]] == [guest.id]
    # a grant to a non-member is 422
    r = srv.put(rpath(w.org, name, a["id"], "/grants/" + w.outsider.id),
                json={"access": "read"}, token=w.owner.token)
    plinth.assert_problem(r, 422, "validation_failed")
    # the grantee's event stream carries the granted record's events alone: b's
    # change is committed first, so were it shown it would come first
    with Stream(srv, "/v1/orgs/%s/events/stream" % w.org, token=guest.token,
                params={"types": "record.*"}) as st:
        assert st.status == 200, (st.status, st.body)
        assert srv.patch(rpath(w.org, name, b["id"]), json={"title": "b2"},
                         token=w.owner.token).status_code == 200
        assert srv.patch(rpath(w.org, name, a["id"]), json={"title": "a2"},
                         token=w.owner.token).status_code == 200
        m = st.wait_for(lambda m: m["event"] != "message", timeout=10)[0]
        assert m["event"] == "record.updated" and m["data"]["data"]["record_id"] == a["id"], m
    # the activity feed shows the grantee the granted record's events alone
    r = srv.get("/v1/orgs/%s/activity" % w.org, token=guest.token, params={"types": "record.*"})
    assert r.status_code == 200, r.text
    seen = {e["data"]["record_id"] for e in r.json()["data"]}
    assert seen == {a["id"]}, seen
    r = srv.delete(rpath(w.org, name, a["id"], "/grants/" + guest.id), token=w.owner.token)
    assert r.status_code == 204
    assert ids_of(srv.get(rpath(w.org, name), token=guest.token)) == []
    events = srv.get("/v1/orgs/%s/audit-events" % w.org, token=w.owner.token,
                     params={"action": "record.granted", "target_id": a["id"]}).json()["data"]
    assert events and events[0]["data"]["collection"] == name


def test_references_on_delete(srv, admin, w):
    parent = cname("parent")
    define(srv, admin, parent)
    kids = {}
    for mode in ("conflict", "cascade", "set-null"):
        kids[mode] = cname("kid")
        typ = ["string", "null"] if mode == "set-null" else "string"
        define(srv, admin, kids[mode], schema={
            "type": "object",
            "properties": {"parent": {"type": typ, "x-ref": parent, "x-on-delete": mode}}})
    # a reference to a record that does not exist is 422
    r = srv.post(rpath(w.org, kids["cascade"]), json={"parent": str(uuid.uuid4())},
                 token=w.owner.token)
    plinth.assert_problem(r, 422, "validation_failed")
    assert r.json()["errors"][0]["field"] == "/parent"
    p = create(srv, w.owner, w.org, parent, {"title": "p"})
    c = {m: create(srv, w.owner, w.org, kids[m], {"parent": p["id"]}) for m in kids}
    r = srv.delete(rpath(w.org, parent, p["id"]), token=w.owner.token)
    plinth.assert_problem(r, 409, "conflict")
    srv.delete(rpath(w.org, kids["conflict"], c["conflict"]["id"]), token=w.owner.token)
    r = srv.delete(rpath(w.org, parent, p["id"]), token=w.owner.token)
    assert r.status_code == 204, r.text
    assert srv.get(rpath(w.org, kids["cascade"], c["cascade"]["id"]),
                   token=w.owner.token).status_code == 404
    r = srv.get(rpath(w.org, kids["set-null"], c["set-null"]["id"]), token=w.owner.token)
    assert r.status_code == 200 and r.json()["data"] == {"parent": None}


def test_x_user_must_be_member_and_is_notified(srv, admin, w):
    name = cname("assign")
    define(srv, admin, name, schema={"type": "object",
                                     "properties": {"assignee": {"type": "string",
                                                                 "x-user": True}}})
    r = srv.post(rpath(w.org, name), json={"assignee": w.outsider.id}, token=w.owner.token)
    plinth.assert_problem(r, 422, "validation_failed")
    create(srv, w.owner, w.org, name, {"assignee": w.member2.id})
    r = srv.get("/v1/me/notifications", token=w.member2.token)
    assert "record.assigned" in [n["type"] for n in r.json()["data"]], r.json()


def test_plan_limit_records(srv, admin, w):
    org = create_org(srv, w.owner)["id"]
    plan = "p" + uuid.uuid4().hex[:8]
    r = srv.put("/v1/admin/plans/%s" % plan, token=admin,
                json={"name": "Tiny", "public": False, "limits": {"records": 2}})
    assert r.status_code in (200, 201), r.text
    r = srv.put("/v1/admin/orgs/%s/plan" % org, json={"plan": plan}, token=admin)
    assert r.status_code == 200, r.text
    create(srv, w.owner, org, w.tasks, {"title": "1"})
    two = create(srv, w.owner, org, w.tasks, {"title": "2"})
    r = srv.post(rpath(org, w.tasks), json={"title": "3"}, token=w.owner.token)
    plinth.assert_problem(r, 402, "plan_limit_reached")
    assert r.json()["limit"] == "records" and r.json()["max"] == 2
    u = srv.get("/v1/orgs/%s/usage" % org, token=w.owner.token).json()
    assert u["records"] == {"used": 2, "max": 2}, u
    srv.delete(rpath(org, w.tasks, two["id"]), token=w.owner.token)
    create(srv, w.owner, org, w.tasks, {"title": "3"})
    # a deleted project's records leave the count
    pname = cname("plim")
    define(srv, admin, pname, scope="project")
    r = srv.put("/v1/admin/plans/%s" % plan, token=admin,
                json={"name": "Tiny", "public": False, "limits": {"records": 3}})
    assert r.status_code == 200, r.text
    proj = create_project(srv, w.owner, org, "Limited " + uuid.uuid4().hex[:6])
    create(srv, w.owner, org, pname, {"title": "p"}, project=proj["id"])
    u = srv.get("/v1/orgs/%s/usage" % org, token=w.owner.token).json()
    assert u["records"]["used"] == 3, u
    r = srv.delete("/v1/orgs/%s/projects/%s" % (org, proj["id"]), token=w.owner.token)
    assert r.status_code == 204, r.text
    u = srv.get("/v1/orgs/%s/usage" % org, token=w.owner.token).json()
    assert u["records"]["used"] == 2, u
