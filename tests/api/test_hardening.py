"""Hardening against hostile clients: connection exhaustion, slow requests,
header text that is not UTF-8, escapes in paths, libmicrohttpd's own error
answers, password hashing off the HTTP threads, and where the metrics are
served. The throttle races are in test_throttle_races.py.

The heaviest tests (5,000 connections, sign-in floods) run once per engine
and are skipped against the sanitizer build, where they would take minutes
(plinth.sanitized())."""

import http.client
import json
import socket
import threading
import time
import uuid

import pytest

import plinth
from plinth import assert_problem
from accounts_util import FAST_ARGON2, PASSWORD, login, register, unique_email

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}

heavy = pytest.mark.skipif(plinth.sanitized(),
                           reason="thousands of connections or a flood: release build only")


@pytest.fixture(scope="module")
def srv(make_module_server):
    return make_module_server(args=FAST_ARGON2)


def send_raw(port, data, timeout=10, source=None):
    """Sends bytes on a new connection and reads until the server closes it.
    Returns (status, headers dict, body bytes) or (None, {}, b"") when the
    server closed without an answer."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout,
                                 source_address=(source, 0) if source else None)
    try:
        s.sendall(data)
        out = b""
        while True:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            out += chunk
    finally:
        s.close()
    if not out:
        return None, {}, b""
    head, _, body = out.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(b":")
        headers[k.decode("latin-1").strip().lower()] = v.decode("latin-1").strip()
    return int(lines[0].split()[1]), headers, body


def request_bytes(method, target, headers=(), body=b""):
    lines = [b"%s %s HTTP/1.1" % (method.encode(), target), b"Host: x", b"Connection: close"]
    lines += list(headers)
    if body:
        lines += [b"Content-Type: application/json", b"Content-Length: %d" % len(body)]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def assert_raw_problem(status, headers, body, want_status, code):
    assert status == want_status, (status, body[:300])
    assert headers.get("content-type", "").startswith("application/problem+json"), headers
    for k, v in SECURITY_HEADERS.items():
        assert headers.get(k.lower()) == v, (k, headers)
    doc = json.loads(body)
    assert doc["code"] == code and doc["status"] == want_status, doc
    assert doc["request_id"] == headers.get("x-request-id"), (doc, headers)


# --- 1. connection exhaustion -------------------------------------------------

def is_closed(sock):
    """True when the peer closed (or reset) the connection."""
    timeout = sock.gettimeout()
    sock.setblocking(False)
    try:
        return sock.recv(1, socket.MSG_PEEK) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True
    finally:
        sock.settimeout(timeout)


def test_stalled_headers_cut_off_within_the_bound(make_server):
    s = make_server(args=FAST_ARGON2 + ["--request-timeout", "2", "--conn-timeout", "30"])
    c = socket.create_connection(("127.0.0.1", s.port), timeout=10)
    start = time.monotonic()
    c.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
    closed_at = None
    for i in range(40):   # one header line every 0.4 s: never idle long
        time.sleep(0.4)
        try:
            c.sendall(b"X-Slow-%d: y\r\n" % i)
        except OSError:
            closed_at = time.monotonic()
            break
        if is_closed(c):
            closed_at = time.monotonic()
            break
    c.close()
    assert closed_at is not None, "a client sending a header line every 0.4 s kept its connection"
    # not before the bound; after it, as soon as a loaded machine gets round to it
    # (long before --conn-timeout, which this client never reaches)
    assert 1.5 <= closed_at - start <= 16, closed_at - start
    assert s.get("/healthz").status_code == 200


def test_stalled_body_cut_off_within_the_bound(make_server):
    s = make_server(args=FAST_ARGON2 + ["--request-timeout", "2"])
    c = socket.create_connection(("127.0.0.1", s.port), timeout=10)
    start = time.monotonic()
    c.sendall(b"POST /v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"Content-Length: 1000\r\n\r\n{")
    closed_at = None
    for _ in range(40):
        time.sleep(0.4)
        try:
            c.sendall(b" ")
        except OSError:
            closed_at = time.monotonic()
            break
        if is_closed(c):
            closed_at = time.monotonic()
            break
    c.close()
    assert closed_at is not None and 1.5 <= closed_at - start <= 16, closed_at


def test_keep_alive_requests_each_get_the_bound(make_server):
    """A connection that idles between requests is not cut off by the request bound."""
    s = make_server(args=FAST_ARGON2 + ["--request-timeout", "1", "--conn-timeout", "30"])
    conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=10)
    for _ in range(3):
        conn.request("GET", "/healthz")
        r = conn.getresponse()
        assert r.status == 200
        r.read()
        time.sleep(2.5)   # idle longer than the request bound, shorter than --conn-timeout
    conn.close()


@heavy
def test_five_thousand_connections_from_one_address(make_server):
    """One address opens 5,000 connections and sends nothing; another address's
    /healthz keeps answering, and the first holds no more than its cap."""
    s = make_server(args=FAST_ARGON2 + ["--max-conns-per-ip", "64"], threads=4)
    socks = []
    stop = threading.Event()
    latencies, failures = [], []

    def probe():
        while not stop.is_set():
            t0 = time.monotonic()
            try:
                c = http.client.HTTPConnection("127.0.0.1", s.port, timeout=5,
                                               source_address=("127.0.0.2", 0))
                c.request("GET", "/healthz")
                r = c.getresponse()
                r.read()
                c.close()
                if r.status != 200:
                    failures.append(r.status)
                latencies.append(time.monotonic() - t0)
            except OSError as e:
                failures.append(repr(e))
            time.sleep(0.05)

    t = threading.Thread(target=probe)
    t.start()
    try:
        for _ in range(5000):
            c = socket.socket()
            c.setblocking(False)
            c.connect_ex(("127.0.0.1", s.port))
            socks.append(c)
        # the server refuses the excess as it accepts them: wait for it
        deadline = time.monotonic() + 60
        while True:
            open_now = sum(1 for c in socks if not is_closed(c))
            if open_now <= 64 + 4 or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        # and the other address is probed while the 5,000 are held
        while len(latencies) + len(failures) < 10 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        stop.set()
        t.join()
        for c in socks:
            c.close()
    assert not failures, failures[:5]
    assert len(latencies) >= 10, latencies
    assert max(latencies) < 5.0, max(latencies)   # never a timeout
    # the cap, plus the accepts that raced on the server's threads
    assert open_now <= 64 + 4, open_now
    samples = plinth.parse_metrics(s.get("/metrics").text)
    refused = plinth.metric_value(samples, "plinth_http_connections_refused_total")
    assert refused and refused >= 4000, refused


def test_connections_per_address_cap_spares_trusted_proxies(make_server):
    s = make_server(args=FAST_ARGON2 + ["--max-conns-per-ip", "8"],
                    env={"PLINTH_TRUSTED_PROXIES": "127.0.0.1/32"})
    socks = [socket.create_connection(("127.0.0.1", s.port), timeout=5) for _ in range(20)]
    try:
        time.sleep(0.5)
        assert not any(is_closed(c) for c in socks)
        assert s.get("/healthz").status_code == 200
    finally:
        for c in socks:
            c.close()


def test_connections_per_address_cap(make_server):
    s = make_server(args=FAST_ARGON2 + ["--max-conns-per-ip", "8"], threads=2)
    # an address of its own: the test client's keep-alive connection from
    # 127.0.0.1 would otherwise hold one of the 8
    socks = [socket.create_connection(("127.0.0.1", s.port), timeout=5,
                                      source_address=("127.0.0.3", 0)) for _ in range(20)]
    try:
        deadline = time.monotonic() + 20
        while True:
            open_now = sum(1 for c in socks if not is_closed(c))
            if open_now <= 8 + 2 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert 8 <= open_now <= 8 + 2, open_now
        status, _, _ = send_raw(s.port, request_bytes("GET", b"/healthz"), source="127.0.0.2")
        assert status == 200
    finally:
        for c in socks:
            c.close()
    # the count falls back as connections close: the address is served again
    deadline = time.monotonic() + 30
    while True:
        status, _, _ = send_raw(s.port, request_bytes("GET", b"/healthz"), source="127.0.0.3")
        if status == 200:
            break
        assert time.monotonic() < deadline, "the address stayed refused after its connections closed"
        time.sleep(0.1)


# --- 4. header text that is not UTF-8 -----------------------------------------

def test_user_agent_not_utf8_still_lists_the_session(srv):
    email = unique_email("ua")
    register(srv, email)
    body = json.dumps({"email": email, "password": PASSWORD}).encode()
    status, _, payload = send_raw(srv.port, request_bytes(
        "POST", b"/v1/auth/login", [b"User-Agent: caf\xe9 \x01bot" + b"x" * 2000], body))
    assert status == 200, payload
    token = json.loads(payload)["access_token"]
    sessions = srv.get("/v1/auth/sessions", token=token).json()["data"]
    mine = [x for x in sessions if x["current"]]
    assert len(mine) == 1, sessions
    ua = mine[0]["user_agent"]
    assert ua.startswith("caf\ufffd  bot"), ua
    assert len(ua.encode()) <= 512
    events = srv.get("/v1/me/security-events", token=token)
    assert events.status_code == 200, events.text


def test_header_values_not_utf8_never_break_a_request(srv):
    reg = register(srv)
    tok = reg["access_token"].encode()
    org = reg["organization"]["id"].encode()
    cases = [
        [b"Authorization: Bearer caf\xe9"],
        [b"Authorization: Bearer plk_\xe9" + b"a" * 42],
        [b"Authorization: Bearer " + tok, b"X-Request-Id: caf\xe9"],
        [b"Authorization: Bearer " + tok, b"Origin: https://caf\xe9.example"],
        [b"Authorization: Bearer " + tok, b"Content-Type: application/json\xff\xfe"],
    ]
    for headers in cases:
        status, h, body = send_raw(srv.port, request_bytes("GET", b"/v1/orgs/" + org + b"/members",
                                                           headers))
        assert status in (200, 401), (headers, status, body)
        assert "\ufffd" not in h.get("x-request-id", ""), h


def test_query_and_path_text_not_utf8_is_a_client_error(srv):
    reg = register(srv)
    tok = b"Authorization: Bearer " + reg["access_token"].encode()
    org = reg["organization"]["id"].encode()
    for target in [b"/v1/orgs/caf%e9/members", b"/v1/orgs/%zz/members",
                   b"/v1/orgs/a%00b/members", b"/v1/orgs/" + org + b"/audit-events?action=caf%e9"]:
        status, h, body = send_raw(srv.port, request_bytes("GET", target, [tok]))
        assert_raw_problem(status, h, body, 400, "bad_request")


# --- escapes in paths -----------------------------------------------------------

def test_escaped_slash_does_not_split_a_segment(srv):
    reg = register(srv)
    tok = b"Authorization: Bearer " + reg["access_token"].encode()
    org = reg["organization"]["id"].encode()
    status, _, body = send_raw(srv.port, request_bytes("GET", b"/v1/orgs/" + org + b"/members",
                                                       [tok]))
    assert status == 200, body
    for target in [b"/v1/orgs/" + org + b"%2Fmembers", b"/v1/orgs/" + org + b"%2fmembers",
                   b"/v1%2Fme", b"/v1/%6De"]:
        status, h, body = send_raw(srv.port, request_bytes("GET", target, [tok]))
        assert status == 404, (target, status, body)
        assert_raw_problem(status, h, body, 404, "not_found")


def test_parameters_are_decoded_after_matching(srv):
    reg = register(srv)
    tok = b"Authorization: Bearer " + reg["access_token"].encode()
    slug = reg["organization"]["slug"].encode()
    escaped = b"".join(b"%%%02X" % c for c in slug)
    status, _, body = send_raw(srv.port, request_bytes("GET", b"/v1/orgs/" + escaped, [tok]))
    assert status == 200, body
    assert json.loads(body)["slug"] == slug.decode()


# --- 6. libmicrohttpd's own error answers ---------------------------------------

def test_header_fields_too_large_is_a_problem(srv):
    status, h, body = send_raw(srv.port, request_bytes(
        "GET", b"/healthz", [b"X-Big: " + b"a" * 30000]))
    assert_raw_problem(status, h, body, 431, "header_fields_too_large")


def test_uri_too_long_is_a_problem(srv):
    status, h, body = send_raw(srv.port, request_bytes("GET", b"/v1/orgs/" + b"a" * 10000))
    assert_raw_problem(status, h, body, 414, "uri_too_long")


def test_what_libmicrohttpd_answers_itself(srv):
    """docs/security.md lists these: the library answers them before plinth sees
    the request, so they carry its own short body and no security headers."""
    status, _, _ = send_raw(srv.port, b"GET /healthz HTTP/2.0\r\nHost: x\r\n\r\n")
    assert status == 505
    status, _, _ = send_raw(srv.port, request_bytes("GET", b"/healthz",
                                                    [b"X-Huge: " + b"a" * 100000]))
    assert status in (None, 431)
    status, _, _ = send_raw(srv.port, b"POST /v1/auth/login HTTP/1.1\r\nHost: x\r\n"
                                      b"Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n")
    assert status in (None, 400)
    assert srv.get("/healthz").status_code == 200


# --- 5. password hashing off the HTTP threads -----------------------------------

def test_reads_never_wait_behind_hashes(make_server):
    """One HTTP thread and one hashing thread; four sign-ins with a costly hash
    queue for the pool. While they are still hashing, /healthz on the same
    HTTP thread answers: it waits behind no hash. An ordering, not a latency:
    /healthz must answer before the last of the four sign-ins."""
    s = make_server(args=["--argon2-memory", str(128 * 1024 * 1024), "--argon2-ops", "3",
                          "--hash-threads", "1"], threads=1)
    done, lock = [], threading.Lock()

    def sign_in(i):
        r = s.request_once("POST", "/v1/auth/login",
                           json={"email": unique_email("flood"), "password": "wrong password 1"},
                           timeout=300)
        with lock:
            done.append(r.status_code)

    flood = [threading.Thread(target=sign_in, args=(i,)) for i in range(4)]
    for t in flood:
        t.start()
    # until at least two wait for the hashing thread (and one is hashing)
    deadline = time.monotonic() + 120
    while True:
        samples = plinth.parse_metrics(s.get("/metrics").text)
        if (plinth.metric_value(samples, "plinth_hash_waiting") or 0) >= 2:
            break
        assert time.monotonic() < deadline, "the sign-ins never queued"
        with lock:
            assert len(done) < 4, "every sign-in finished before two ever waited"
        time.sleep(0.05)
    r = s.get("/healthz")
    with lock:
        finished = len(done)
    assert r.status_code == 200
    assert finished < 4, "/healthz answered only after every hash"
    for t in flood:
        t.join()
    assert set(done) == {401}, done


def test_hashing_queue_full_answers_503(make_server):
    s = make_server(args=["--argon2-memory", str(32 * 1024 * 1024), "--argon2-ops", "3",
                          "--hash-threads", "1", "--hash-queue", "1"], threads=4)
    results = []

    def sign_in(i):
        r = s.request_once("POST", "/v1/auth/login",
                           json={"email": "x%d@example.com" % i, "password": "wrong password 1"},
                           timeout=60)
        results.append(r)

    ts = [threading.Thread(target=sign_in, args=(i,)) for i in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    codes = sorted(r.status_code for r in results)
    assert 503 in codes and 401 in codes, codes
    r503 = [r for r in results if r.status_code == 503][0]
    assert_problem(r503, 503, "unavailable")
    assert r503.headers.get("Retry-After", "").isdigit()


# --- /metrics -------------------------------------------------------------------

def test_metrics_token(make_server):
    s = make_server(args=FAST_ARGON2, env={"PLINTH_METRICS_TOKEN": "s3cret-metrics-token"})
    r = s.get("/metrics")
    assert_problem(r, 401, "unauthenticated")
    assert_problem(s.get("/metrics", token="wrong"), 401, "unauthenticated")
    r = s.get("/metrics", token="s3cret-metrics-token")
    assert r.status_code == 200 and "plinth_http_requests_total" in r.text


def test_metrics_on_their_own_listener(make_server):
    port = plinth.free_port()
    s = make_server(args=FAST_ARGON2 + ["--metrics-http", "127.0.0.1:%d" % port])
    assert_problem(s.get("/metrics"), 404, "not_found")
    assert s.get("/healthz").status_code == 200
    m = "http://127.0.0.1:%d" % port
    import requests
    r = requests.get(m + "/metrics", timeout=5)
    assert r.status_code == 200 and "plinth_http_requests_total" in r.text
    assert requests.get(m + "/healthz", timeout=5).status_code == 200
    assert requests.get(m + "/readyz", timeout=5).status_code == 200
    assert requests.get(m + "/v1/me", timeout=5).status_code == 404
    assert requests.post(m + "/v1/auth/login", json={}, timeout=5).status_code == 404
