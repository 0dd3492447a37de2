"""Black-box tests of the foundation: operations endpoints, HTTP conventions,
JSON body handling, CORS, timeouts, shutdown and the access log (issue 2)."""

import json
import os
import signal
import socket
import subprocess
import threading
import time

import pytest
import requests

import plinth
from plinth import assert_problem, metric_value, parse_metrics

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
REQUEST_ID_CHARS = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:-")
JSON = {"Content-Type": "application/json"}
LOGIN = "/v1/auth/login"


def media_type(r):
    return r.headers.get("Content-Type", "").split(";")[0].strip().lower()


def header_list(r, name):
    return [v.strip().lower() for v in r.headers.get(name, "").split(",") if v.strip()]


def raw_http(port, data, timeout=5.0):
    """Sends raw bytes, returns everything the server answers until it closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        chunks = []
        while True:
            try:
                c = s.recv(65536)
            except (ConnectionResetError, socket.timeout):
                break
            if not c:
                break
            chunks.append(c)
        return b"".join(chunks)


def raw_header(resp, name):
    head = resp.split(b"\r\n\r\n", 1)[0].decode("latin-1")
    for line in head.split("\r\n")[1:]:
        k, _, v = line.partition(":")
        if k.strip().lower() == name.lower():
            return v.strip()
    return None


# --- operations --------------------------------------------------------------

def test_healthz(server):
    r = server.get("/healthz")
    assert r.status_code == 200
    assert media_type(r) == "application/json"
    assert r.json() == {"status": "ok"}


def test_readyz(server):
    r = server.get("/readyz")
    assert r.status_code == 200, r.text
    assert media_type(r) == "application/json"
    assert r.json() == {"status": "ok",
                        "checks": {"database": "ok", "migrations": "ok", "jobs": "ok"}}


def test_readyz_503_when_database_unreachable(make_server, engine):
    if engine != "postgres":
        pytest.skip("PostgreSQL only: the database is dropped under the server")
    s = make_server()
    assert s.get("/readyz").status_code == 200
    plinth.psql('DROP DATABASE "%s" WITH (FORCE)' % s.pg_db)
    # Every thread's connection is gone: ask a few times so several threads answer.
    for _ in range(6):
        r = s.get("/readyz")
        assert r.status_code == 503, r.text
        body = r.json()
        assert body.get("status") != "ok", body
        assert body.get("checks", {}).get("database") != "ok", body
        assert r.headers.get("X-Request-Id")
    r = s.get("/healthz")
    assert r.status_code == 200
    assert r.json() == {"status": "ok"}


def test_metrics_format(server):
    server.get("/healthz")
    r = server.get("/metrics")
    assert r.status_code == 200
    ct = r.headers.get("Content-Type", "").replace(" ", "").lower()
    assert ct.startswith("text/plain;"), ct
    assert "version=0.0.4" in ct.split(";"), ct
    p = subprocess.run(["/usr/bin/promtool", "check", "metrics"], input=r.content,
                       capture_output=True, timeout=30)
    assert p.returncode == 0, "promtool check metrics failed:\n%s%s" % (
        p.stdout.decode(), p.stderr.decode())


def test_metrics_count_requests_by_route(server):
    before = parse_metrics(server.get("/metrics").text)
    n0 = metric_value(before, "plinth_http_requests_total",
                      method="GET", route="/healthz", status="200") or 0
    for _ in range(3):
        assert server.get("/healthz").status_code == 200
    text = server.get("/metrics").text
    assert 'plinth_http_requests_total{method="GET",route="/healthz",status="200"}' in text
    after = parse_metrics(text)
    n1 = metric_value(after, "plinth_http_requests_total",
                      method="GET", route="/healthz", status="200")
    assert n1 is not None and n1 >= n0 + 3, (n0, n1)


def test_metrics_latency_histogram(server):
    server.get("/healthz")
    samples = parse_metrics(server.get("/metrics").text)
    buckets = [(l, v) for n, l, v in samples
               if n == "plinth_http_request_duration_seconds_bucket" and l.get("route") == "/healthz"]
    assert buckets, "no plinth_http_request_duration_seconds_bucket{route=\"/healthz\"}"
    assert all("le" in l for l, _ in buckets)
    inf = [v for l, v in buckets if l["le"] == "+Inf"]
    assert inf and inf[0] >= 1
    counts = [v for n, l, v in samples
              if n == "plinth_http_request_duration_seconds_count" and l.get("route") == "/healthz"]
    assert counts and counts[0] == inf[0]
    assert any(n == "plinth_http_request_duration_seconds_sum" and l.get("route") == "/healthz"
               for n, l, v in samples)


def test_metrics_process_memory(server):
    samples = parse_metrics(server.get("/metrics").text)
    rss = metric_value(samples, "process_resident_memory_bytes")
    assert rss is not None and rss > 1024 * 1024, rss


def test_metrics_unmatched_route(server):
    assert server.get("/no/such/path-xyz").status_code == 404
    samples = parse_metrics(server.get("/metrics").text)
    v = metric_value(samples, "plinth_http_requests_total",
                     method="GET", route="unmatched", status="404")
    assert v is not None and v >= 1
    # The raw path never becomes a label (cardinality).
    assert not any(l.get("route") == "/no/such/path-xyz" for _, l, _ in samples)


def test_openapi(server):
    r = server.get("/v1/openapi.yaml")
    assert r.status_code == 200
    assert media_type(r) == "application/yaml"
    assert r.text.startswith("openapi: 3.1"), r.text[:80]


# --- conventions: headers, request ids, errors -----------------------------------

HEADER_CASES = [
    ("GET", "/healthz", {}, None, 200),
    ("GET", "/readyz", {}, None, 200),
    ("GET", "/metrics", {}, None, 200),
    ("GET", "/v1/openapi.yaml", {}, None, 200),
    ("GET", "/no-such-thing", {}, None, 404),
    ("DELETE", "/healthz", {}, None, 405),
    ("POST", LOGIN, JSON, b"{bad", 400),
    ("POST", LOGIN, {"Content-Type": "text/plain"}, b"hello", 415),
]


@pytest.mark.parametrize("method,path,headers,body,status", HEADER_CASES,
                         ids=["%s %s %d" % (c[0], c[1], c[4]) for c in HEADER_CASES])
def test_security_headers(server, method, path, headers, body, status):
    r = server.request(method, path, headers=headers, data=body)
    assert r.status_code == status, r.text
    for k, v in SECURITY_HEADERS.items():
        assert r.headers.get(k) == v, (k, r.headers.get(k))
    rid = r.headers.get("X-Request-Id")
    assert rid and 1 <= len(rid) <= 128 and set(rid) <= REQUEST_ID_CHARS, rid


def test_request_ids_are_unique(server):
    ids = {server.get("/healthz").headers["X-Request-Id"] for _ in range(5)}
    assert len(ids) == 5


ECHOED_IDS = ["abc", "A-b_c.d:e", "0", "req:2024-01-01T00:00:00.000Z", "y" * 64, "z" * 100,
              "x" * 128]


@pytest.mark.parametrize("rid", ECHOED_IDS,
                         ids=[r if len(r) < 30 else "%d-chars" % len(r) for r in ECHOED_IDS])
def test_request_id_echoed(server, rid):
    r = server.get("/healthz", headers={"X-Request-Id": rid})
    assert r.headers.get("X-Request-Id") == rid
    r = server.get("/nope", headers={"X-Request-Id": rid})
    assert r.status_code == 404
    assert r.headers.get("X-Request-Id") == rid
    assert r.json()["request_id"] == rid


@pytest.mark.parametrize("rid", ["x" * 129, "has space", "semi;colon", "slash/y", "<script>",
                                 "caf\u00e9"], ids=["129chars", "space", "semicolon", "slash",
                                                    "angle", "non-ascii"])
def test_request_id_replaced(server, rid):
    r = server.get("/nope", headers={"X-Request-Id": rid.encode("utf-8")})
    got = r.headers.get("X-Request-Id")
    assert got and got != rid
    assert 1 <= len(got) <= 128 and set(got) <= REQUEST_ID_CHARS, got
    assert r.json()["request_id"] == got


@pytest.mark.parametrize("raw", [b"ab\x01cd", b"ab\x7fcd", b"ab\tcd"], ids=["ctrl-01", "del", "tab"])
def test_request_id_with_control_chars_replaced(server, raw):
    resp = raw_http(server.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Request-Id: " + raw +
                    b"\r\nConnection: close\r\n\r\n")
    assert resp.startswith(b"HTTP/1.1 200"), resp[:200]
    got = raw_header(resp, "X-Request-Id")
    assert got and got.encode() != raw
    assert set(got) <= REQUEST_ID_CHARS, got


def test_not_found(server):
    r = server.get("/v1/definitely/not/here", headers={"X-Request-Id": "nf-1"})
    body = assert_problem(r, 404, "not_found")
    assert body["request_id"] == "nf-1"


def test_not_found_post_with_body(server):
    r = server.post("/v1/nothing-here", json={"a": 1})
    assert_problem(r, 404, "not_found")


@pytest.mark.parametrize("method,path,allowed", [
    ("DELETE", "/healthz", "GET"),
    ("POST", "/healthz", "GET"),
    ("PUT", "/metrics", "GET"),
    ("GET", LOGIN, "POST"),
    ("DELETE", LOGIN, "POST"),
])
def test_method_not_allowed(server, method, path, allowed):
    r = server.request(method, path)
    assert_problem(r, 405, "method_not_allowed")
    allow = header_list(r, "Allow")
    assert allowed.lower() in allow, r.headers.get("Allow")
    assert method.lower() not in allow, r.headers.get("Allow")


# --- JSON bodies ---------------------------------------------------------------

@pytest.fixture(scope="module")
def small(make_module_server):
    """A server with --max-body 1024."""
    return make_module_server(args=["--max-body", "1024"])


def padded_json(n):
    """A JSON object of exactly n bytes."""
    base = b'{"email":"a@example.com","password":"p","pad":""}'
    assert n >= len(base)
    return base[:-2] + b"x" * (n - len(base)) + b'"}'


def test_body_over_limit(small):
    body = padded_json(2000)
    assert len(body) == 2000
    r = small.post(LOGIN, data=body, headers=JSON)
    assert_problem(r, 413, "payload_too_large")


def test_body_over_limit_chunked(small):
    body = padded_json(2000)

    def gen():
        for i in range(0, len(body), 100):
            yield body[i:i + 100]

    try:
        r = small.post(LOGIN, data=gen(), headers=JSON)
    except requests.ConnectionError as e:
        pytest.fail("connection dropped instead of a 413 answer: %s" % e)
    assert r.request.headers.get("Transfer-Encoding") == "chunked"
    assert_problem(r, 413, "payload_too_large")


def test_body_at_limit_is_accepted(small):
    r = small.post(LOGIN, data=padded_json(1024), headers=JSON)
    assert r.status_code not in (400, 413, 415), r.text


def raw_upload(port, path, body, content_type="application/json", timeout=10.0):
    """POSTs body over a raw socket, sending from a thread while reading the
    answer, so a server that answers 413 early and closes is read reliably."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    head = ("POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: %s\r\nContent-Length: %d\r\n"
            "Connection: close\r\n\r\n" % (path, content_type, len(body))).encode()

    def send():
        try:
            sock.sendall(head + body)
        except OSError:
            pass

    t = threading.Thread(target=send, daemon=True)
    t.start()
    chunks = []
    try:
        while True:
            try:
                c = sock.recv(65536)
            except (ConnectionResetError, socket.timeout):
                break
            if not c:
                break
            chunks.append(c)
    finally:
        sock.close()
        t.join(2)
    return b"".join(chunks)


def test_body_over_default_limit(server):
    resp = raw_upload(server.port, LOGIN, padded_json(1024 * 1024 + 1))
    assert resp.startswith(b"HTTP/1.1 413 "), resp[:300]
    assert raw_header(resp, "Content-Type").startswith("application/problem+json")
    assert b'"payload_too_large"' in resp.split(b"\r\n\r\n", 1)[1], resp[:600]


def test_wrong_content_type(server):
    r = server.post(LOGIN, data=b"email=a@example.com", headers={"Content-Type": "text/plain"})
    assert_problem(r, 415, "unsupported_media_type")


def test_form_content_type(server):
    r = server.post(LOGIN, data=b"email=a@example.com",
                    headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert_problem(r, 415, "unsupported_media_type")


def test_invalid_json(server):
    r = server.post(LOGIN, data=b"{bad", headers=JSON)
    assert_problem(r, 400, "invalid_json")


@pytest.mark.parametrize("body", [b"[]", b'[{"email":"a@example.com"}]', b'"a string"'],
                         ids=["empty-array", "array", "string"])
def test_json_not_an_object(server, body):
    r = server.post(LOGIN, data=body, headers=JSON)
    assert_problem(r, 400, "bad_request")


@pytest.mark.parametrize("ct", ["application/json; charset=utf-8", "application/json;charset=UTF-8"])
def test_json_with_charset_accepted(server, ct):
    r = server.post(LOGIN, data=json.dumps({"email": "nobody@example.com",
                                            "password": "not-the-password"}).encode(),
                    headers={"Content-Type": ct})
    assert r.status_code not in (400, 404, 405, 413, 415), r.text


def test_body_checks_come_before_authentication(server):
    r = server.post(LOGIN, data=b"{bad", headers=JSON, token="garbage.token.here")
    assert_problem(r, 400, "invalid_json")
    r = server.post(LOGIN, data=b"x", headers={"Content-Type": "text/plain"}, token="plk_nope")
    assert_problem(r, 415, "unsupported_media_type")


def test_body_limit_comes_before_authentication(small):
    r = small.post(LOGIN, data=padded_json(2000), headers=JSON, token="garbage")
    assert_problem(r, 413, "payload_too_large")


# --- CORS ------------------------------------------------------------------------

ORIGIN = "https://app.example"


def test_cors_off_by_default(server):
    r = server.get("/healthz", headers={"Origin": ORIGIN})
    assert r.status_code == 200
    assert "Access-Control-Allow-Origin" not in r.headers
    r = server.options(LOGIN, headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST"})
    assert "Access-Control-Allow-Origin" not in r.headers


@pytest.fixture(scope="module")
def cors(make_module_server):
    return make_module_server(env={"PLINTH_CORS_ORIGINS": ORIGIN})


def test_cors_allowed_origin(cors):
    r = cors.get("/healthz", headers={"Origin": ORIGIN})
    assert r.status_code == 200
    assert r.headers.get("Access-Control-Allow-Origin") == ORIGIN
    assert "origin" in header_list(r, "Vary")


def test_cors_allowed_origin_on_errors(cors):
    r = cors.post(LOGIN, data=b"{bad", headers={"Origin": ORIGIN, **JSON})
    assert_problem(r, 400, "invalid_json")
    assert r.headers.get("Access-Control-Allow-Origin") == ORIGIN


def test_cors_preflight(cors):
    r = cors.options(LOGIN, headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST",
                                     "Access-Control-Request-Headers": "authorization,content-type"})
    assert r.status_code == 204, r.text
    assert r.headers.get("Access-Control-Allow-Origin") == ORIGIN
    assert "post" in header_list(r, "Access-Control-Allow-Methods"), r.headers
    allow_headers = header_list(r, "Access-Control-Allow-Headers")
    assert "authorization" in allow_headers and "content-type" in allow_headers, r.headers
    assert "origin" in header_list(r, "Vary")


def test_cors_other_origin(cors):
    other = "https://evil.example"
    r = cors.get("/healthz", headers={"Origin": other})
    assert r.status_code == 200
    assert "Access-Control-Allow-Origin" not in r.headers
    r = cors.options(LOGIN, headers={"Origin": other, "Access-Control-Request-Method": "POST"})
    assert "Access-Control-Allow-Origin" not in r.headers
    # Similar-looking origins are not allowed either.
    for o in ("https://app.example.evil.com", "http://app.example", "https://app.example:8443"):
        r = cors.get("/healthz", headers={"Origin": o})
        assert "Access-Control-Allow-Origin" not in r.headers, o


# --- slow clients ----------------------------------------------------------------

def test_slow_client_times_out(make_server):
    s = make_server(args=["--conn-timeout", "1"])
    with socket.create_connection(("127.0.0.1", s.port), timeout=6) as sock:
        sock.sendall(b"GET /heal")
        t0 = time.monotonic()
        closed = False
        while time.monotonic() - t0 < 6:
            try:
                c = sock.recv(4096)
            except (ConnectionResetError, socket.timeout):
                closed = True
                break
            if not c:
                closed = True
                break
        elapsed = time.monotonic() - t0
    assert closed and elapsed < 3.0, "connection still open after %.1f s" % elapsed
    assert s.get("/healthz").status_code == 200


# --- shutdown and restart -----------------------------------------------------------

@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_graceful_shutdown(make_server, sig):
    s = make_server()
    assert s.get("/healthz").status_code == 200
    t0 = time.monotonic()
    code = s.stop(sig=sig)
    elapsed = time.monotonic() - t0
    assert code == 0, s.log_tail()
    assert elapsed < 2.0, "exit took %.2f s" % elapsed


def test_shutdown_with_idle_keepalive_connection(make_server):
    s = make_server()
    sock = socket.create_connection(("127.0.0.1", s.port), timeout=5)
    try:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert sock.recv(4096).startswith(b"HTTP/1.1 200")
        t0 = time.monotonic()
        code = s.stop()     # SIGTERM while the keep-alive connection stays open
        elapsed = time.monotonic() - t0
    finally:
        sock.close()
    assert code == 0
    assert elapsed < 2.0, "exit took %.2f s with an idle keep-alive connection" % elapsed


def test_quick_start_stop_cycles(make_server):
    """SIGTERM at any moment of start-up (loading, migrating, starting the
    threads, serving) ends the process cleanly: exit 0, never an abort."""
    s = make_server(start=False)
    for i in range(16):
        s.start(wait=False)
        deadline = time.monotonic() + 10
        while s.log().count("starting (pid") < i + 1:  # sigwait takes signals from here on
            assert time.monotonic() < deadline, s.log_tail()
            time.sleep(0.002)
        time.sleep(0.01 * (i % 8))
        code = s.stop(timeout=10)
        assert code == 0, "cycle %d: exit %r\n%s" % (i, code, s.log_tail())


def test_shutdown_finishes_requests_in_flight(make_server):
    """A request being handled when SIGTERM arrives still gets its answer."""
    s = make_server(args=["--argon2-ops", "48", "--shutdown-timeout", "20"])
    sock = socket.create_connection(("127.0.0.1", s.port), timeout=30)
    try:
        body = b'{"email":"nobody@example.com","password":"not the password"}'
        sock.sendall(b"POST /v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                     b"\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body))
        time.sleep(0.3)  # the request is read and hashing by now
        s.send_signal(signal.SIGTERM)
        data = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    finally:
        sock.close()
    assert data.startswith(b"HTTP/1.1 401"), data[:200]
    assert s.stop(timeout=30) == 0


def test_restart_same_data(make_server, engine):
    s = make_server()
    assert s.get("/readyz").status_code == 200
    assert s.stop() == 0
    if engine == "sqlite":
        assert os.path.exists(os.path.join(s.data_dir, "plinth.db"))
    s.start()
    r = s.get("/readyz")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "ok"
    assert s.get("/healthz").json() == {"status": "ok"}
    assert s.stop() == 0
    s.start()
    assert s.get("/readyz").status_code == 200


# --- access log ---------------------------------------------------------------------

def access_lines(s, rid, wait=2.0):
    deadline = time.monotonic() + wait
    while True:
        found = []
        for line in s.log().splitlines():
            line = line.strip()
            if not line.startswith("{") or rid not in line:
                continue
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            if obj.get("request_id") == rid:
                found.append(obj)
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


@pytest.mark.parametrize("method,path,status", [("GET", "/healthz", 200),
                                                ("GET", "/nowhere-at-all", 404),
                                                ("DELETE", "/healthz", 405)])
def test_access_log_line(server, method, path, status):
    rid = "acclog-%s-%d" % (method.lower(), status)
    r = server.request(method, path, headers={"X-Request-Id": rid})
    assert r.status_code == status
    lines = access_lines(server, rid)
    assert len(lines) == 1, "want one access-log line for %s, got %r" % (rid, lines)
    line = lines[0]
    for k in ("method", "path", "status", "request_id", "duration_ms"):
        assert k in line, (k, line)
    assert line["method"] == method
    assert line["path"] == path
    assert line["status"] == status
    assert isinstance(line["duration_ms"], (int, float)) and line["duration_ms"] >= 0
