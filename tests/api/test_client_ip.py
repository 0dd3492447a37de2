"""The client address behind trusted proxies: the right-most X-Forwarded-For
entry that is not a trusted proxy, over every X-Forwarded-For header line
taken together as one list (RFC 9110), so a client's own line cannot choose
the address a proxy appended after it."""

import json
import socket
import uuid

import pytest

PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def srv(make_module_server):
    return make_module_server(env={"PLINTH_TRUSTED_PROXIES": "127.0.0.1/32, 10.0.0.0/8"},
                              args=["--argon2-memory", "8192", "--argon2-ops", "1"])


def raw(srv, method, path, headers, body=b""):
    """Sends a request with exactly these header lines (repeats included)."""
    lines = ["%s %s HTTP/1.1" % (method, path), "Host: x", "Connection: close"]
    lines += ["%s: %s" % kv for kv in headers]
    if body:
        lines += ["Content-Type: application/json", "Content-Length: %d" % len(body)]
    req = ("\r\n".join(lines) + "\r\n\r\n").encode() + body
    with socket.create_connection(("127.0.0.1", srv.port), timeout=20) as s:
        s.sendall(req)
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, payload = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), payload


def session_ip(srv, xff_lines):
    email = "ip-%s@example.com" % uuid.uuid4().hex[:12]
    body = json.dumps({"email": email, "password": PASSWORD, "name": "Ip"}).encode()
    status, payload = raw(srv, "POST", "/v1/auth/register",
                          [("X-Forwarded-For", v) for v in xff_lines], body)
    assert status == 201, payload
    token = json.loads(payload)["access_token"]
    r = srv.get("/v1/auth/sessions", token=token)
    assert r.status_code == 200, r.text
    return r.json()["data"][0]["ip"]


def test_single_line(srv):
    assert session_ip(srv, ["203.0.113.5"]) == "203.0.113.5"


def test_chain_through_trusted_hops(srv):
    assert session_ip(srv, ["198.51.100.1, 203.0.113.6, 10.2.3.4"]) == "203.0.113.6"


def test_a_client_line_ahead_of_the_proxy_line_is_not_believed(srv):
    # the client sent its own line; the proxy (10.1.1.1) appended another
    assert session_ip(srv, ["6.6.6.6", "203.0.113.7, 10.1.1.1"]) == "203.0.113.7"
    assert session_ip(srv, ["6.6.6.6", "203.0.113.8"]) == "203.0.113.8"


def test_garbage_keeps_the_last_trusted_view(srv):
    assert session_ip(srv, ["not-an-ip, 10.9.9.9"]) == "10.9.9.9"
    assert session_ip(srv, ["203.0.113.9", "10.0.0.1, <script>"]) == "127.0.0.1"
