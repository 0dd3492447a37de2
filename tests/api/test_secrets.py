"""Secrets of an environment (issue 15): versions (the last 10 kept),
If-Match, import (all or nothing) and export (dotenv with plinth's escaping,
JSON), the dotenv round trip (also read back by npm's dotenv), the limits of
keys, values and counts, and that no value ever reaches the server log, the
audit log or an error body."""

import json
import os
import subprocess
import time
import uuid

import pytest

import plinth
from plinth import assert_problem
from orgs_util import create_org, new_user
from projects_util import (create_project, envs_of, put_secret, put_secret_ok, read_secret, spath)
from smtp_sink import mail_server, smtp_sink  # noqa: F401

# A value no other test writes: the leak checks grep for it.
MARKER = "zq-" + uuid.uuid4().hex + "-leak-canary"


@pytest.fixture(scope="module")
def srv(make_module_server, smtp_sink):  # noqa: F811
    return mail_server(make_module_server, smtp_sink, workers=1)


class World:
    pass


@pytest.fixture(scope="module")
def w(srv):
    x = World()
    x.owner = new_user(srv, "sec")
    x.org = create_org(srv, x.owner, name="Secrets")["id"]
    x.project = create_project(srv, x.owner, x.org, name="Vault")
    x.pid = x.project["id"]
    x.envs = envs_of(srv, x.owner, x.org, x.pid)
    return x


def env_path(w, env, key=None, rest=""):
    return spath(w.org, w.pid, w.envs[env]["id"], key, rest)


def fresh_env(srv, w):
    """A new, empty environment; returns its id."""
    r = srv.post("/v1/orgs/%s/projects/%s/environments" % (w.org, w.pid),
                 json={"name": "env-" + uuid.uuid4().hex[:8]}, token=w.owner.token)
    assert r.status_code == 201, r.text
    return r.json()["id"]


def export(srv, w, env_id, fmt="dotenv"):
    r = srv.get(spath(w.org, w.pid, env_id, rest="/export"), token=w.owner.token,
                params={"format": fmt})
    assert r.status_code == 200, r.text
    return r


def do_import(srv, w, env_id, body):
    return srv.post(spath(w.org, w.pid, env_id, rest="/import"), json=body, token=w.owner.token)


def values(srv, w, env_id):
    return export(srv, w, env_id, "json").json()["secrets"]


# --- reading and writing ----------------------------------------------------------------------

def test_put_read_list(srv, w):
    e = fresh_env(srv, w)
    r = put_secret(srv, w.owner, w.org, w.pid, e, "DATABASE_URL", "postgres://u:p@h/db")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["key"] == "DATABASE_URL" and body["version"] == 1, body
    assert body["updated_by"] == w.owner.id and "value" not in body, body
    assert r.headers["ETag"] == '"1"'
    r = read_secret(srv, w.owner, w.org, w.pid, e, "DATABASE_URL")
    assert r.status_code == 200 and r.headers["ETag"] == '"1"', r.text
    assert r.json() == {"key": "DATABASE_URL", "value": "postgres://u:p@h/db", "version": 1,
                        "updated_at": body["updated_at"], "updated_by": w.owner.id}, r.json()
    put_secret_ok(srv, w.owner, w.org, w.pid, e, "A_FIRST", "1")
    put_secret_ok(srv, w.owner, w.org, w.pid, e, "b_lower", "2")
    lst = srv.get(spath(w.org, w.pid, e), token=w.owner.token).json()
    assert [s["key"] for s in lst["data"]] == ["A_FIRST", "DATABASE_URL", "b_lower"], lst
    assert all(set(s) == {"key", "version", "updated_at", "updated_by"} for s in lst["data"])
    # pages by key
    p1 = srv.get(spath(w.org, w.pid, e), token=w.owner.token, params={"limit": 2}).json()
    assert [s["key"] for s in p1["data"]] == ["A_FIRST", "DATABASE_URL"], p1
    p2 = srv.get(spath(w.org, w.pid, e), token=w.owner.token,
                 params={"limit": 2, "cursor": p1["next_cursor"]}).json()
    assert [s["key"] for s in p2["data"]] == ["b_lower"] and p2["next_cursor"] is None, p2
    assert_problem(srv.get(spath(w.org, w.pid, e), token=w.owner.token,
                           params={"cursor": "not a key"}), 400, "bad_request")
    # delete
    assert srv.delete(spath(w.org, w.pid, e, "b_lower"), token=w.owner.token).status_code == 204
    assert_problem(read_secret(srv, w.owner, w.org, w.pid, e, "b_lower"), 404, "not_found")
    assert_problem(srv.delete(spath(w.org, w.pid, e, "b_lower"), token=w.owner.token), 404,
                   "not_found")


def test_versions_keep_the_last_ten(srv, w):
    e = fresh_env(srv, w)
    for i in range(1, 13):
        assert put_secret_ok(srv, w.owner, w.org, w.pid, e, "ROTATING", "v%d" % i)["version"] == i
    for v in (1, 2):
        assert_problem(read_secret(srv, w.owner, w.org, w.pid, e, "ROTATING", v), 404,
                       "not_found")
    for v in range(3, 13):
        r = read_secret(srv, w.owner, w.org, w.pid, e, "ROTATING", v)
        assert r.status_code == 200 and r.json()["value"] == "v%d" % v, r.text
        assert r.json()["version"] == v and r.headers["ETag"] == '"%d"' % v
    assert read_secret(srv, w.owner, w.org, w.pid, e, "ROTATING").json()["value"] == "v12"
    assert_problem(read_secret(srv, w.owner, w.org, w.pid, e, "ROTATING", 13), 404, "not_found")
    for bad in ("0", "-1", "abc", "1.5", ""):
        assert_problem(read_secret(srv, w.owner, w.org, w.pid, e, "ROTATING", bad), 400,
                       "bad_request")
    n = plinth_rows(srv, w.org, "SELECT count(*) FROM secret_versions WHERE environment_id = "
                                "'%s' AND key = 'ROTATING'" % e)
    assert n == 10, n
    # deleting drops every version; a new one starts again at 1
    assert srv.delete(spath(w.org, w.pid, e, "ROTATING"), token=w.owner.token).status_code == 204
    assert put_secret_ok(srv, w.owner, w.org, w.pid, e, "ROTATING", "again")["version"] == 1


def plinth_rows(srv, org, sql):
    from projects_util import sql_rows
    return int(sql_rows(srv, sql, org)[0][0])


def test_if_match(srv, w):
    e = fresh_env(srv, w)
    key = "GUARDED"
    # * on a secret that does not exist: 412
    r = put_secret(srv, w.owner, w.org, w.pid, e, key, "x", headers={"If-Match": "*"})
    assert_problem(r, 412, "precondition_failed")
    assert_problem(read_secret(srv, w.owner, w.org, w.pid, e, key), 404, "not_found")
    put_secret_ok(srv, w.owner, w.org, w.pid, e, key, "one")
    r = put_secret(srv, w.owner, w.org, w.pid, e, key, "two", headers={"If-Match": '"1"'})
    assert r.status_code == 200 and r.json()["version"] == 2, r.text
    for stale in ('"1"', '"3"', "1", "garbage", 'W/"2"', '""'):
        r = put_secret(srv, w.owner, w.org, w.pid, e, key, "lost", headers={"If-Match": stale})
        assert_problem(r, 412, "precondition_failed")
    r = put_secret(srv, w.owner, w.org, w.pid, e, key, "three", headers={"If-Match": "2"})
    assert r.status_code == 200 and r.json()["version"] == 3, r.text
    r = put_secret(srv, w.owner, w.org, w.pid, e, key, "four", headers={"If-Match": "*"})
    assert r.status_code == 200 and r.json()["version"] == 4, r.text
    assert read_secret(srv, w.owner, w.org, w.pid, e, key).json()["value"] == "four"
    r = srv.delete(spath(w.org, w.pid, e, key), token=w.owner.token, headers={"If-Match": '"3"'})
    assert_problem(r, 412, "precondition_failed")
    r = srv.delete(spath(w.org, w.pid, e, key), token=w.owner.token, headers={"If-Match": '"4"'})
    assert r.status_code == 204, r.text


# --- limits ----------------------------------------------------------------------------------

@pytest.mark.parametrize("key,ok", [
    ("A", True), ("_", True), ("a_1", True), ("K" * 128, True), ("K" * 129, False),
    ("1ABC", False), ("A-B", False), ("A.B", False), ("A%20B", False), ("%C3%A9", False),
])
def test_keys(srv, w, key, ok):
    r = put_secret(srv, w.owner, w.org, w.pid, w.envs["development"]["id"], key, "v")
    if ok:
        assert r.status_code == 200 and r.json()["key"] == key, r.text
    elif r.status_code != 404:   # some are not even one path segment
        body = assert_problem(r, 422, "validation_failed")
        assert body["errors"][0]["field"] == "key", body


def test_values(srv, w):
    e = w.envs["development"]["id"]
    big = "\u00e9" * (65536 // 2)
    assert len(big.encode()) == 65536
    assert put_secret_ok(srv, w.owner, w.org, w.pid, e, "BIG", big)["version"] >= 1
    assert read_secret(srv, w.owner, w.org, w.pid, e, "BIG").json()["value"] == big
    assert put_secret_ok(srv, w.owner, w.org, w.pid, e, "EMPTY", "")["key"] == "EMPTY"
    assert read_secret(srv, w.owner, w.org, w.pid, e, "EMPTY").json()["value"] == ""
    for bad in ("x" * 65537, None, 5, ["a"], {"a": 1}):
        r = put_secret(srv, w.owner, w.org, w.pid, e, "BAD", bad)
        body = assert_problem(r, 422, "validation_failed")
        assert body["errors"][0]["field"] == "value", body
    assert_problem(srv.put(spath(w.org, w.pid, e, "BAD"), json={}, token=w.owner.token), 422,
                   "validation_failed")


def test_at_most_1000_per_environment(srv, w):
    e = fresh_env(srv, w)
    body = {"secrets": {"K%04d" % i: "v%d" % i for i in range(1000)}}
    r = do_import(srv, w, e, body)
    assert r.status_code == 200 and r.json() == {"created": 1000, "updated": 0}, r.text
    r = put_secret(srv, w.owner, w.org, w.pid, e, "ONE_MORE", "x")
    assert_problem(r, 422, "validation_failed")
    r = do_import(srv, w, e, {"secrets": {"ANOTHER": "x", "K0001": "changed"}})
    assert_problem(r, 422, "validation_failed")
    assert values(srv, w, e)["K0001"] == "v1"          # all or nothing
    # changing one that exists is fine
    assert put_secret_ok(srv, w.owner, w.org, w.pid, e, "K0002", "new")["version"] == 2
    r = do_import(srv, w, fresh_env(srv, w),
                  {"secrets": {"K%04d" % i: "v" for i in range(1001)}})
    assert_problem(r, 422, "validation_failed")


# --- import ----------------------------------------------------------------------------------

def test_import_is_all_or_nothing(srv, w):
    e = fresh_env(srv, w)
    put_secret_ok(srv, w.owner, w.org, w.pid, e, "KEEP", "original")
    bad_bodies = [
        {"dotenv": "GOOD=1\nKEEP=changed\nthis line is wrong\n"},
        {"dotenv": "GOOD=1\n1BAD=2\n"},
        {"dotenv": "GOOD=1\nGOOD=2\n"},
        {"dotenv": 'GOOD="unterminated\n'},
        {"dotenv": 'GOOD="x" trailing\n'},
        {"secrets": {"GOOD": "1", "KEEP": "changed", "bad-key": "x"}},
        {"secrets": {"GOOD": "1", "KEEP": 5}},
        {"secrets": {"GOOD": "1", "BIG": "x" * 65537}},
        {"secrets": ["GOOD"]},
        {"dotenv": 5},
        {"dotenv": "A=1", "secrets": {"B": "2"}},
        {},
    ]
    for body in bad_bodies:
        r = do_import(srv, w, e, body)
        err = assert_problem(r, 422, "validation_failed")
        assert err["errors"][0]["field"] in ("dotenv", "secrets"), (body, err)
    assert values(srv, w, e) == {"KEEP": "original"}
    # a failing line is named
    r = do_import(srv, w, e, {"dotenv": "A=1\n\n# c\nB C\n"})
    assert "line 4" in assert_problem(r, 422, "validation_failed")["errors"][0]["message"]
    r = do_import(srv, w, e, {"dotenv": "# header\nexport GOOD=1\nKEEP = original  # same\n"
                                         "NEW='single $quoted'\r\n"})
    assert r.status_code == 200 and r.json() == {"created": 2, "updated": 0}, r.text
    assert values(srv, w, e) == {"KEEP": "original", "GOOD": "1", "NEW": "single $quoted"}
    r = do_import(srv, w, e, {"secrets": {"KEEP": "changed", "GOOD": "1"}})
    assert r.status_code == 200 and r.json() == {"created": 0, "updated": 1}, r.text
    assert read_secret(srv, w.owner, w.org, w.pid, e, "GOOD").json()["version"] == 1


# --- export and the dotenv round trip ----------------------------------------------------------

TRICKY = {
    "QUOTES": 'say "hi" and \'bye\'',
    "NEWLINES": "line one\nline two\n\nline four\n",
    "DOLLAR": "$HOME and ${PATH} and $(rm -rf) and $$",
    "HASH": "# not a comment #also not",
    "EQUALS": "a=b==c=",
    "UNICODE": "\u00e9t\u00e9 \u65e5\u672c\u8a9e \U0001f511 \u00df",
    "BACKSLASH": "C:\\path\\n\\t and \\\" and \\\\",
    "SPACES": "  leading and trailing  ",
    "EMPTY": "",
    "TAB": "a\tb",
    "CR": "a\rb\r\n",
    "MIXED": "\"$#=\\\n\u00e9'",
}


def test_dotenv_escaping(srv, w):
    e = fresh_env(srv, w)
    put_secret_ok(srv, w.owner, w.org, w.pid, e, "X", 'a\\b"c\nd')
    r = export(srv, w, e)
    assert r.headers["Content-Type"].startswith("text/plain"), r.headers
    assert r.content == b'X="a\\\\b\\"c\\nd"\n', r.content


def test_dotenv_round_trip(srv, w):
    src, dst = fresh_env(srv, w), fresh_env(srv, w)
    r = do_import(srv, w, src, {"secrets": TRICKY})
    assert r.status_code == 200 and r.json() == {"created": len(TRICKY), "updated": 0}, r.text
    text = export(srv, w, src).content.decode("utf-8")
    assert len(text.splitlines()) >= len(TRICKY)
    r = do_import(srv, w, dst, {"dotenv": text})
    assert r.status_code == 200 and r.json()["created"] == len(TRICKY), r.text
    assert values(srv, w, dst) == TRICKY
    # the JSON export imports back as is
    body = export(srv, w, src, "json").json()
    assert body == {"secrets": TRICKY}
    third = fresh_env(srv, w)
    assert do_import(srv, w, third, body).json()["created"] == len(TRICKY)
    assert values(srv, w, third) == TRICKY
    # exporting again gives the same text
    assert export(srv, w, dst).content.decode("utf-8") == text


NODE_READER = r"""
const dotenv = require("dotenv");
let text = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (c) => { text += c; });
process.stdin.on("end", () => { console.log(JSON.stringify(dotenv.parse(text))); });
"""


def node_path():
    try:
        p = subprocess.run([os.path.join(plinth.ROOT, "scripts", "test-node-deps")],
                           capture_output=True, text=True, timeout=600)
    except OSError as e:
        pytest.skip("scripts/test-node-deps: %s" % e)
    assert p.returncode == 0, p.stderr
    return p.stdout.strip()


def test_npm_dotenv_reads_the_export(srv, w):
    """npm's dotenv does not unescape \\" (nor \\\\): every value without a
    double quote or a backslash reads back identically."""
    plain = {k: v for k, v in TRICKY.items() if '"' not in v and "\\" not in v and "\r" not in v}
    assert {"NEWLINES", "DOLLAR", "HASH", "EQUALS", "UNICODE", "SPACES", "EMPTY"} <= set(plain)
    e = fresh_env(srv, w)
    assert do_import(srv, w, e, {"secrets": plain}).status_code == 200
    text = export(srv, w, e).content
    p = subprocess.run(["node", "-e", NODE_READER], input=text, capture_output=True, timeout=60,
                       env=dict(os.environ, NODE_PATH=node_path()))
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout) == plain


def test_export_format(srv, w):
    e = fresh_env(srv, w)
    assert export(srv, w, e).content == b""
    assert export(srv, w, e, "json").json() == {"secrets": {}}
    assert_problem(srv.get(spath(w.org, w.pid, e, rest="/export"), token=w.owner.token,
                           params={"format": "yaml"}), 400, "bad_request")


# --- no value leaks ----------------------------------------------------------------------------

def test_values_never_leak(srv, w):
    """The marker value goes through every route, errors included; it must
    not appear in the server log, the audit log or any error body."""
    e = fresh_env(srv, w)
    bodies = []
    put_secret_ok(srv, w.owner, w.org, w.pid, e, "CANARY", MARKER)
    assert read_secret(srv, w.owner, w.org, w.pid, e, "CANARY").json()["value"] == MARKER
    assert MARKER in export(srv, w, e).text
    r = do_import(srv, w, e, {"dotenv": "CANARY2=%s\n" % MARKER})
    assert r.status_code == 200, r.text
    # refusals carrying the value
    for r in (put_secret(srv, w.owner, w.org, w.pid, e, "bad-key", MARKER),
              put_secret(srv, w.owner, w.org, w.pid, e, "CANARY", MARKER,
                         headers={"If-Match": '"99"'}),
              do_import(srv, w, e, {"dotenv": "CANARY=%s\n1X=%s\n" % (MARKER, MARKER)}),
              do_import(srv, w, e, {"dotenv": 'CANARY="%s' % MARKER}),
              do_import(srv, w, e, {"secrets": {"CANARY": MARKER, "x-y": MARKER}}),
              do_import(srv, w, e, {"secrets": {"CANARY": MARKER * 2000}}),
              put_secret(srv, w.owner, w.org, w.pid, e, "X", MARKER * 2000),
              srv.put(spath(w.org, w.pid, e, "CANARY"), data=MARKER, token=w.owner.token,
                      headers={"Content-Type": "application/json"})):
        assert r.status_code >= 400, r.text
        bodies.append(r.text)
    for b in bodies:
        assert MARKER not in b, b
    r = srv.get("/v1/orgs/%s/audit-events/export" % w.org, token=w.owner.token,
                params={"format": "jsonl"})
    assert r.status_code == 200 and "secret.read" in r.text
    assert MARKER not in r.text
    time.sleep(0.3)   # the access log is flushed every 100 ms
    assert MARKER not in srv.log()
