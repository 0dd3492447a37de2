"""contract.py - every response the API tests receive is checked against openapi.yaml.

Server.request (plinth.py) calls check() on each response: the operation is found by
method and path template, the response by status code (then the `4XX`-style range,
then `default`), and the body by media type. JSON bodies (application/json,
application/problem+json) are validated against the resolved schema with jsonschema
(OpenAPI 3.1 schemas are JSON Schema 2020-12); other media types must be documented.
A status code, media type or body the document does not describe raises
ContractError naming the route, the status and the validation error.

Requests on paths or methods the document does not have (unknown paths, 405 probes,
CORS preflights) can only answer errors: those must be Problem documents.

Bodies are checked strictly: an object schema that does not say otherwise gets
`additionalProperties: false` for the check (allOf compositions are merged first),
so a field the server sends but the document does not name is drift as well.
"""

import copy
import functools
import json
import os
import re
import urllib.parse

import jsonschema
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SPEC_PATH = os.path.join(ROOT, "openapi.yaml")
JSON_TYPES = ("application/json", "application/problem+json")
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")

# RFC 3339 date-time, checked here so the result does not depend on which optional
# format packages jsonschema finds installed.
_DATE_TIME = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


class ContractError(AssertionError):
    pass


def _format_checker():
    fc = jsonschema.FormatChecker(formats=("email", "uuid", "date", "ipv4", "ipv6"))

    @fc.checks("date-time")
    def _date_time(value):
        return not isinstance(value, str) or bool(_DATE_TIME.match(value))

    return fc


def strict_copy(spec):
    """spec with every object schema closed (additionalProperties: false) unless it
    says otherwise; allOf compositions of object schemas are merged into one."""
    spec = copy.deepcopy(spec)

    def deref(node):
        while isinstance(node, dict) and "$ref" in node:
            target = spec
            for part in node["$ref"][2:].split("/"):
                target = target[part.replace("~1", "/").replace("~0", "~")]
            node = target
        return node

    def merge_all_of(node):
        parts = [copy.deepcopy(deref(p)) for p in node.pop("allOf")]
        for p in parts:
            if "allOf" in p:
                merge_all_of(p)
            for k, v in p.items():
                if k == "properties":
                    node.setdefault("properties", {}).update(v)
                elif k == "required":
                    node["required"] = sorted(set(node.get("required", [])) | set(v))
                elif k not in node:
                    node[k] = v

    def walk(node):
        if isinstance(node, dict):
            if "allOf" in node and all("properties" in deref(p) or "allOf" in deref(p)
                                       for p in node["allOf"]):
                merge_all_of(node)
            if isinstance(node.get("properties"), dict) and "additionalProperties" not in node \
                    and "unevaluatedProperties" not in node:
                node["additionalProperties"] = False
            for k, v in node.items():
                if k == "properties" and isinstance(v, dict):
                    for sub in v.values():
                        walk(sub)
                elif k not in ("examples", "example", "x-examples"):
                    walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(spec.get("components", {}).get("schemas", {}))
    walk(spec.get("components", {}).get("responses", {}))
    walk(spec.get("paths", {}))
    return spec


class Contract:
    def __init__(self, spec, strict=True):
        self.spec = spec
        self.schemas = strict_copy(spec) if strict else spec
        self.routes = []      # (literal segment count, regex, template)
        for template, item in spec.get("paths", {}).items():
            pattern = "^" + "/".join(
                "[^/]+" if re.fullmatch(r"\{\w+\}", seg) else re.escape(seg)
                for seg in template.split("/")) + "$"
            literal = sum(1 for seg in template.split("/") if not seg.startswith("{"))
            if item.get("x-subtree"):
                # the path and every path below it, after any other template
                pattern = "^" + re.escape(template) + "(/.*)?$"
                literal = -1
            self.routes.append((literal, re.compile(pattern), template))
        # More literal segments first: /v1/me/sessions before /v1/me/{x}.
        self.routes.sort(key=lambda r: -r[0])
        self.format_checker = _format_checker()
        self._validators = {}

    # -- lookup --

    def deref(self, node):
        seen = 0
        while isinstance(node, dict) and "$ref" in node:
            ref = node["$ref"]
            if not ref.startswith("#/"):
                raise ContractError("only local $refs are supported: %s" % ref)
            node = self.spec
            for part in ref[2:].split("/"):
                node = node[part.replace("~1", "/").replace("~0", "~")]
            seen += 1
            if seen > 20:
                raise ContractError("$ref cycle at %s" % ref)
        return node

    def template(self, path):
        """The path template that path (no query) matches, or None."""
        for _, rx, template in self.routes:
            if rx.match(path):
                return template
        return None

    def validator(self, schema_ref):
        """A cached Draft 2020-12 validator for the schema at JSON pointer schema_ref."""
        v = self._validators.get(schema_ref)
        if v is None:
            v = make_validator(self.schemas, {"$ref": schema_ref}, self.format_checker)
            self._validators[schema_ref] = v
        return v

    # -- the check --

    def check(self, method, url, response):
        method = method.lower()
        path = urllib.parse.urlsplit(url).path
        status = response.status_code
        template = self.template(path)
        op = self.spec["paths"][template].get(method) if template else None
        if op is None:
            where = "%s %s" % (method.upper(), path)
            self._check_undocumented(where, method, response)
            return
        route = "%s %s" % (method.upper(), template)
        responses = op.get("responses", {})
        key = None
        for k in (str(status), "%sXX" % str(status)[0], "default"):
            if k in responses:
                key = k
                break
        if key is None:
            raise ContractError(
                "%s answered %d, which openapi.yaml does not document (documented: %s)\n"
                "body: %s" % (route, status, ", ".join(sorted(map(str, responses))),
                              _snippet(response)))
        pointer = "#/paths/%s/%s/responses/%s" % (_escape(template), method, key)
        self._check_response(route, status, pointer, responses[key], method, response)

    def _check_response(self, route, status, pointer, resp, method, response):
        while isinstance(resp, dict) and "$ref" in resp:
            pointer = resp["$ref"]
            resp = self.deref(resp)
        content = resp.get("content") or {}
        mt = media_type(response)
        if mt == "text/event-stream":
            # a stream goes on: only its head is checked, the body is the test's
            if mt not in content:
                raise ContractError("%s answered %d with an event stream openapi.yaml does "
                                    "not document" % (route, status))
            return
        body = response.content
        if not content:
            if body and method != "head":
                raise ContractError(
                    "%s answered %d with a %s body, but openapi.yaml documents no body\n"
                    "body: %s" % (route, status, mt or "untyped", _snippet(response)))
            return
        if method == "head" or (not body and status in (204, 304)):
            return
        if mt not in content:
            raise ContractError(
                "%s answered %d as %r, but openapi.yaml documents only %s\nbody: %s"
                % (route, status, mt, ", ".join(sorted(content)), _snippet(response)))
        if mt not in JSON_TYPES:
            return
        media = content[mt]
        if "schema" not in media:
            return
        self._validate(route, status, response,
                       pointer + "/content/" + _escape(mt) + "/schema")

    def _validate(self, route, status, response, schema_ref):
        try:
            doc = json.loads(response.content)
        except ValueError as e:
            raise ContractError("%s answered %d with a body that is not JSON (%s): %s"
                                % (route, status, e, _snippet(response))) from None
        error = jsonschema.exceptions.best_match(self.validator(schema_ref).iter_errors(doc))
        if error is not None:
            at = "/".join(str(p) for p in error.absolute_path) or "(the body)"
            raise ContractError(
                "%s answered %d with a body that does not match its schema in openapi.yaml\n"
                "  at %s: %s\n  schema: %s%s\n  body: %s"
                % (route, status, at, error.message, schema_ref,
                   "/".join(str(p) for p in error.absolute_schema_path) and
                   " -> " + "/".join(str(p) for p in error.absolute_schema_path),
                   _snippet(response)))

    def _check_undocumented(self, where, method, response):
        status = response.status_code
        if method == "options" and status == 204 and not response.content:
            return   # a CORS preflight answer
        if status < 400:
            raise ContractError(
                "%s answered %d, but openapi.yaml documents no such operation" % (where, status))
        if method == "head" and not response.content:
            return
        if media_type(response) != "application/problem+json":
            raise ContractError("%s answered %d as %r, not application/problem+json: %s"
                                % (where, status, media_type(response), _snippet(response)))
        self._validate(where, status, response, "#/components/schemas/Problem")


def make_validator(spec, schema, format_checker=None):
    """A Draft 2020-12 validator for schema whose local $refs resolve in spec."""
    cls = jsonschema.Draft202012Validator
    try:
        import referencing   # jsonschema >= 4.18
        import referencing.jsonschema
        resource = referencing.Resource.from_contents(
            spec, default_specification=referencing.jsonschema.DRAFT202012)
        registry = referencing.Registry().with_resource("", resource)
        return cls(schema, registry=registry, format_checker=format_checker)
    except ImportError:
        resolver = jsonschema.RefResolver("", spec)
        return cls(schema, resolver=resolver, format_checker=format_checker)


def media_type(response):
    return response.headers.get("Content-Type", "").split(";")[0].strip().lower()


def _escape(s):
    return s.replace("~", "~0").replace("/", "~1")


def _snippet(response, n=400):
    text = response.content[:n].decode("utf-8", "replace")
    return text + ("..." if len(response.content) > n else "")


def load_spec(path=SPEC_PATH):
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f)


@functools.lru_cache(maxsize=None)
def contract():
    """The Contract of the repository's openapi.yaml (loaded once)."""
    return Contract(load_spec())


def check(method, url, response):
    contract().check(method, url, response)
