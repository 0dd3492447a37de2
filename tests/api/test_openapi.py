"""The served OpenAPI document: valid 3.1 structure, every $ref resolves, and it
documents exactly the routes of src/http/routes.c (method, path, auth, body)."""

import os
import re

import pytest
import yaml

import plinth

ROUTES_C = os.path.join(plinth.ROOT, "src", "http", "routes.c")
ROUTE_RE = re.compile(
    r'\{\s*PL_M_([A-Z]+)\s*,\s*"([^"]+)"\s*,\s*(\w+)\s*,\s*(PL_AUTH_[A-Z]+)\s*,\s*[^,]+,\s*([^,]+?)\s*,')
HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def source_routes():
    """[(method, path, auth, takes_json)] from the route table."""
    with open(ROUTES_C, encoding="utf-8") as f:
        text = f.read()
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    routes = [(m.lower(), p, auth, flags.strip() not in ("0", ""))
              for m, p, _handler, auth, flags in ROUTE_RE.findall(text)]
    assert routes, "no routes parsed from %s" % ROUTES_C
    return routes


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
        if auth == "PL_AUTH_NONE":
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
