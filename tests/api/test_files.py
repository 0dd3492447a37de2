"""Files (issue 18), black-box on both engines and both storage backends (the
data directory, and an S3-compatible server started here behind a proxy that
checks every request's SigV4 signature with the npm `aws4` package):
streamed uploads (raw and multipart) with sniffed types, the storage_bytes
limit under concurrency, downloads with Range and ETag, signed URLs, deletion
(also with the organization), --max-upload, a 100 MiB upload in bounded
memory, and kill -9 during an upload."""
import hashlib
import os
import signal
import socket
import threading
import time
import urllib.parse
import uuid

import pytest
import requests

import plinth
from plinth import assert_problem
from accounts_util import admin_create, login_ok, unique_email
from orgs_util import create_org, new_user
import s3_util

MiB = 1024 * 1024
MAX_UPLOAD = 110 * MiB
ADMIN_PASSWORD = "admin passphrase for file tests"
FILE_KEYS = {"id", "name", "content_type", "size", "sha256", "created_by", "created_at"}
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010800000000"
    "3a7e9b550000000a4944415478da63600000000200015e7b2b2e0000000049454e44ae426082")
HTML = b"<!DOCTYPE html><html><body><script>alert(1)</script></body></html>\n"


# --- the world -----------------------------------------------------------------------------

@pytest.fixture(scope="module", params=["local", "s3"])
def backend(request):
    return request.param


@pytest.fixture(scope="module")
def s3(backend):
    if backend != "s3":
        yield None
        return
    s = s3_util.S3StandIn().start()
    yield s
    try:
        stats = s.stats()
        # every request plinth made was signed right (the proxy refuses the others)
        assert stats["refused"] == s.expected_refusals, "\n".join(stats["problems"])
        assert stats["verified"] > 0, stats
    finally:
        s.stop()


@pytest.fixture(scope="module")
def srv(make_module_server, backend, s3):
    env = s3.env() if s3 else {}
    return make_module_server(args=["--max-upload", str(MAX_UPLOAD)], env=env, workers=2)


@pytest.fixture(scope="module")
def admin(srv):
    email = unique_email("filesadmin")
    p = admin_create(srv, email, ADMIN_PASSWORD)
    assert p.returncode == 0, (p.returncode, p.stdout, p.stderr)
    return login_ok(srv, email, ADMIN_PASSWORD)["access_token"]


@pytest.fixture(scope="module")
def alice(srv):
    return new_user(srv, "alice", name="Alice")


@pytest.fixture(scope="module")
def org(srv, alice):
    return create_org(srv, alice)


def files_path(org_id):
    return "/v1/orgs/%s/files" % org_id


def upload(srv, user, org_id, data, name="a.txt", ctype="text/plain", status=201):
    r = srv.post(files_path(org_id) + "?" + urllib.parse.urlencode({"name": name}), data=data,
                 headers={"Content-Type": ctype} if ctype else {}, token=user.token)
    if status is not None:
        assert r.status_code == status, (r.status_code, r.text)
    return r


def assert_file(f, name=None, ctype=None, data=None):
    assert set(f) == FILE_KEYS, f
    if name is not None:
        assert f["name"] == name, f
    if ctype is not None:
        assert f["content_type"] == ctype, f
    if data is not None:
        assert f["size"] == len(data), f
        assert f["sha256"] == hashlib.sha256(data).hexdigest(), f
    return f


def content(srv, user, org_id, file_id, **kw):
    return srv.get(files_path(org_id) + "/%s/content" % file_id, token=user.token, **kw)


def usage(srv, user, org_id):
    r = srv.get("/v1/orgs/%s/usage" % org_id, token=user.token)
    assert r.status_code == 200, r.text
    return r.json()["storage_bytes"]


def audit_actions(srv, user, org_id, target):
    r = srv.get("/v1/orgs/%s/audit-events" % org_id, params={"target_id": target},
                token=user.token)
    assert r.status_code == 200, r.text
    return [e["action"] for e in r.json()["data"]]


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def raw_request(srv, head, body=b"", timeout=30):
    """Sends head (and body) on a socket of its own; returns the status line's code."""
    with socket.create_connection(("127.0.0.1", srv.port), timeout=timeout) as s:
        s.sendall(head + body)
        data = b""
        while b"\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    return int(data.split(b" ", 2)[1])


# --- uploads -------------------------------------------------------------------------------

def test_the_s3_stand_in_refuses_a_bad_signature(s3):
    """The proxy in front of s3rver is the judge of plinth's signatures: it
    refuses a request signed with another key."""
    if not s3:
        pytest.skip("S3 backend only")
    s3.expected_refusals += 1
    r = requests.get("http://127.0.0.1:%d/%s/x" % (s3.port, s3_util.BUCKET), headers={
        "x-amz-date": time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()),
        "x-amz-content-sha256": hashlib.sha256(b"").hexdigest(),
        "Authorization": "AWS4-HMAC-SHA256 Credential=%s/%s/%s/s3/aws4_request, "
                         "SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=%s"
                         % (s3_util.KEY_ID, time.strftime("%Y%m%d", time.gmtime()),
                            s3_util.REGION, "0" * 64)}, timeout=10)
    assert r.status_code == 403 and b"SignatureDoesNotMatch" in r.content

def test_raw_upload_roundtrip(srv, alice, org):
    data = b"hello, files\n" * 100
    r = upload(srv, alice, org["id"], data, name="notes.txt")
    f = assert_file(r.json(), "notes.txt", "text/plain", data)
    assert f["created_by"] == alice.id
    assert r.headers["Location"] == files_path(org["id"]) + "/" + f["id"]
    r = srv.get(files_path(org["id"]) + "/" + f["id"], token=alice.token)
    assert r.status_code == 200 and r.json() == f
    ids = [x["id"] for x in srv.get(files_path(org["id"]), token=alice.token).json()["data"]]
    assert f["id"] in ids
    r = content(srv, alice, org["id"], f["id"])
    assert r.status_code == 200 and r.content == data
    assert r.headers["Content-Type"] == "text/plain"
    assert r.headers["ETag"] == '"%s"' % f["sha256"]
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["Content-Security-Policy"] == "sandbox"
    assert r.headers["Content-Disposition"].startswith("attachment;")
    assert "file.uploaded" in audit_actions(srv, alice, org["id"], f["id"])


def test_multipart_upload(srv, alice, org):
    r = srv.post(files_path(org["id"]), files={"file": ("pixel.png", PNG, "image/png")},
                 data={"other": "ignored"}, token=alice.token)
    assert r.status_code == 201, r.text
    f = assert_file(r.json(), "pixel.png", "image/png", PNG)
    r = content(srv, alice, org["id"], f["id"])
    assert r.content == PNG
    assert r.headers["Content-Disposition"].startswith("inline;")
    # no field "file": 422; a body cut before its closing boundary: 400
    r = srv.post(files_path(org["id"]), files={"other": ("x.png", PNG, "image/png")},
                 token=alice.token)
    assert_problem(r, 422, "validation_failed")
    body = b"--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\n" \
           b"Content-Type: text/plain\r\n\r\nhello"
    r = srv.post(files_path(org["id"]), data=body,
                 headers={"Content-Type": "multipart/form-data; boundary=XyZ"}, token=alice.token)
    assert_problem(r, 400, "bad_request")


def test_sniffed_type_must_be_allowed_and_agree(srv, alice, org):
    # HTML renamed .png: 415, raw and multipart
    r = upload(srv, alice, org["id"], HTML, name="evil.png", ctype="image/png", status=None)
    assert_problem(r, 415, "unsupported_media_type")
    r = srv.post(files_path(org["id"]), files={"file": ("evil.png", HTML, "image/png")},
                 token=alice.token)
    assert_problem(r, 415, "unsupported_media_type")
    # HTML as itself is not allowed either; nor a PNG said to be a PDF
    r = upload(srv, alice, org["id"], HTML, name="page.html", ctype="text/html", status=None)
    assert_problem(r, 415, "unsupported_media_type")
    r = upload(srv, alice, org["id"], PNG, name="x.pdf", ctype="application/pdf", status=None)
    assert_problem(r, 415, "unsupported_media_type")
    # octet-stream takes the sniffed type; CSV is plain text said precisely
    f = upload(srv, alice, org["id"], PNG, name="p.png", ctype="application/octet-stream").json()
    assert f["content_type"] == "image/png"
    f = upload(srv, alice, org["id"], b"a,b\n1,2\n", name="t.csv", ctype="text/csv").json()
    assert f["content_type"] == "text/csv"
    # a name is required, without control characters
    r = srv.post(files_path(org["id"]), data=b"x", headers={"Content-Type": "text/plain"},
                 token=alice.token)
    assert_problem(r, 422, "validation_failed")
    r = upload(srv, alice, org["id"], b"x", name="a\x01b.txt", status=None)
    assert_problem(r, 422, "validation_failed")
    names = [x["name"] for x in srv.get(files_path(org["id"]), params={"limit": 200},
                                        token=alice.token).json()["data"]]
    assert "evil.png" not in names and "page.html" not in names


def test_over_max_upload_is_413(srv, alice, org, backend):
    head = ("POST %s?name=big.txt HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
            "Content-Type: text/plain\r\nContent-Length: %d\r\n\r\n"
            % (files_path(org["id"]), alice.token, MAX_UPLOAD + 1)).encode()
    assert raw_request(srv, head, b"x" * 1024) == 413
    if backend != "local":
        return  # the cap is the HTTP layer's: one backend is enough for the long one
    # a chunked body that goes past the cap
    r = srv.post(files_path(org["id"]) + "?name=big.txt",
                 data=(b"x" * MiB for _ in range(MAX_UPLOAD // MiB + 2)),
                 headers={"Content-Type": "text/plain"}, token=alice.token, timeout=120)
    assert_problem(r, 413, "payload_too_large")


def test_unauthorized_upload_is_refused_before_the_body(srv, alice, org):
    bob = new_user(srv, "bob")
    head = ("POST %s?name=x.txt HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
            "Content-Type: text/plain\r\nContent-Length: %d\r\n\r\n"
            % (files_path(org["id"]), bob.token, 50 * MiB)).encode()
    assert raw_request(srv, head) == 404


# --- downloads -----------------------------------------------------------------------------

def test_range_returns_exact_bytes(srv, alice, org):
    data = bytes(range(256)) * 4000 + b"tail"   # binary: application/octet-stream? no: sniffed
    data = (b"0123456789abcdef" * 70000) + b"end\n"
    f = upload(srv, alice, org["id"], data, name="range.txt").json()
    for rng, lo, hi in (("bytes=0-0", 0, 0), ("bytes=10-19", 10, 19),
                        ("bytes=1000000-", 1000000, len(data) - 1),
                        ("bytes=-4", len(data) - 4, len(data) - 1),
                        ("bytes=5-%d" % (len(data) * 2), 5, len(data) - 1)):
        r = content(srv, alice, org["id"], f["id"], headers={"Range": rng})
        assert r.status_code == 206, (rng, r.status_code)
        assert r.content == data[lo:hi + 1], rng
        assert r.headers["Content-Range"] == "bytes %d-%d/%d" % (lo, hi, len(data)), rng
    r = content(srv, alice, org["id"], f["id"], headers={"Range": "bytes=%d-" % len(data)})
    assert_problem(r, 416, "range_not_satisfiable")
    assert r.headers["Content-Range"] == "bytes */%d" % len(data)
    # several ranges: the whole
    r = content(srv, alice, org["id"], f["id"], headers={"Range": "bytes=0-1,5-6"})
    assert r.status_code == 200 and r.content == data


def test_etag_and_if_none_match(srv, alice, org):
    f = upload(srv, alice, org["id"], b"etag me\n", name="e.txt").json()
    r = content(srv, alice, org["id"], f["id"], headers={"If-None-Match": '"%s"' % f["sha256"]})
    assert r.status_code == 304 and r.content == b""
    r = content(srv, alice, org["id"], f["id"], headers={"If-None-Match": '"nope"'})
    assert r.status_code == 200


def test_content_disposition_is_safe(srv, alice, org):
    name = 'r\u00e9sum\u00e9 "q";x.txt'
    f = upload(srv, alice, org["id"], b"cv\n", name=name).json()
    cd = content(srv, alice, org["id"], f["id"]).headers["Content-Disposition"]
    assert cd.startswith("attachment; filename=\"")
    ascii_part = cd.split('filename="', 1)[1].split('"', 1)[0]
    assert all(32 <= ord(c) < 127 and c not in '"\\;' for c in ascii_part), cd
    star = cd.split("filename*=UTF-8''", 1)[1]
    assert urllib.parse.unquote(star) == name


def test_file_of_another_org_is_404(srv, alice, org):
    f = upload(srv, alice, org["id"], b"secret of A\n", name="a.txt").json()
    other = create_org(srv, alice)
    bob = new_user(srv, "bob")
    bob_org = create_org(srv, bob)
    for user, org_id in ((alice, other["id"]), (bob, bob_org["id"]), (bob, org["id"])):
        for path in ("/%s", "/%s/content"):
            r = srv.get(files_path(org_id) + path % f["id"], token=user.token)
            assert_problem(r, 404, "not_found")
        r = srv.post(files_path(org_id) + "/%s/url" % f["id"], json={}, token=user.token)
        assert_problem(r, 404, "not_found")
        r = srv.delete(files_path(org_id) + "/%s" % f["id"], token=user.token)
        assert_problem(r, 404, "not_found")
    assert content(srv, alice, org["id"], f["id"]).content == b"secret of A\n"


# --- signed URLs ---------------------------------------------------------------------------

def sign(srv, user, org_id, file_id, **body):
    r = srv.post(files_path(org_id) + "/%s/url" % file_id, json=body, token=user.token)
    assert r.status_code == 200, r.text
    return r.json()


def edit_query(url, **changes):
    u = urllib.parse.urlsplit(url)
    q = dict(urllib.parse.parse_qsl(u.query))
    q.update(changes)
    return u._replace(query=urllib.parse.urlencode(q)).geturl()


def test_signed_url(srv, alice, org):
    data = b"shared via a link\n"
    f = upload(srv, alice, org["id"], data, name="link.txt").json()
    g = upload(srv, alice, org["id"], b"another\n", name="other.txt").json()
    s = sign(srv, alice, org["id"], f["id"])
    assert s["url"].startswith(srv.url + "/v1/files/%s/download?" % f["id"])
    path = s["url"][len(srv.url):]
    r = srv.get(path)
    assert r.status_code == 200 and r.content == data
    assert r.headers["Content-Security-Policy"] == "sandbox"
    r = srv.get(path, headers={"Range": "bytes=0-5"})
    assert r.status_code == 206 and r.content == data[:6]
    # an edited id, expiry or signature: 403
    q = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(path).query))
    assert_problem(srv.get(path.replace(f["id"], g["id"])), 403, "forbidden")
    assert_problem(srv.get(edit_query(path, expires=str(int(q["expires"]) + 1))), 403,
                   "forbidden")
    sig = q["sig"]
    bad = ("A" if sig[0] != "A" else "B") + sig[1:]
    assert_problem(srv.get(edit_query(path, sig=bad)), 403, "forbidden")
    assert_problem(srv.get(edit_query(path, sig="")), 403, "forbidden")
    assert_problem(srv.get("/v1/files/%s/download" % f["id"]), 403, "forbidden")
    # expires_in is bounded
    r = srv.post(files_path(org["id"]) + "/%s/url" % f["id"], json={"expires_in": 604801},
                 token=alice.token)
    assert_problem(r, 422, "validation_failed")
    assert sign(srv, alice, org["id"], f["id"], expires_in=604800)


def test_expired_signed_url_is_403(srv, alice, org):
    f = upload(srv, alice, org["id"], b"short-lived\n", name="s.txt").json()
    s = sign(srv, alice, org["id"], f["id"], expires_in=1)
    path = s["url"][len(srv.url):]
    expires = int(dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(path).query))["expires"])
    while time.time() < expires + 1.2:
        time.sleep(0.2)
    assert_problem(srv.get(path), 403, "forbidden")


def test_file_events_reach_file_readers(srv, alice, org):
    """file.* events show in the activity feed of a caller holding file.read
    (without audit.read), and not of one without it."""
    f = upload(srv, alice, org["id"], b"seen in the feed\n", name="feed.txt").json()
    keys = {}
    for name, perms in (("reader", ["file.read"]), ("blind", ["org.read"])):
        r = srv.post("/v1/orgs/%s/api-keys" % org["id"], json={"name": name, "permissions": perms},
                     token=alice.token)
        assert r.status_code == 201, r.text
        keys[name] = r.json()["key"]

    def feed(token):
        r = srv.get("/v1/orgs/%s/activity" % org["id"], params={"limit": 200}, token=token)
        assert r.status_code == 200, r.text
        return [(e["action"], e.get("target_id") or (e.get("target") or {}).get("id"))
                for e in r.json()["data"]]

    assert ("file.uploaded", f["id"]) in feed(keys["reader"])
    assert not [a for a, _ in feed(keys["blind"]) if a.startswith("file.")]


# --- deletion ------------------------------------------------------------------------------

def test_delete_own_or_with_file_delete(srv, alice, org):
    from orgs_util import add_member  # noqa: F401  (members join through invitations)
    before = usage(srv, alice, org["id"])["used"]
    f = upload(srv, alice, org["id"], b"to delete\n", name="d.txt").json()
    assert usage(srv, alice, org["id"])["used"] == before + f["size"]
    # an API key with file.read and file.write but not file.delete, acting for
    # nobody: may not delete alice's file
    r = srv.post("/v1/orgs/%s/api-keys" % org["id"],
                 json={"name": "rw", "permissions": ["file.read", "file.write"]},
                 token=alice.token)
    assert r.status_code == 201, r.text
    key = r.json()["key"]
    r = srv.delete(files_path(org["id"]) + "/" + f["id"], token=key)
    assert_problem(r, 403, "forbidden")
    r = srv.delete(files_path(org["id"]) + "/" + f["id"], token=alice.token)
    assert r.status_code == 204
    assert_problem(srv.get(files_path(org["id"]) + "/" + f["id"], token=alice.token), 404,
                   "not_found")
    assert usage(srv, alice, org["id"])["used"] == before
    assert "file.deleted" in audit_actions(srv, alice, org["id"], f["id"])


def test_org_deletion_deletes_its_files(srv, alice, backend, s3):
    o = create_org(srv, alice)
    f = upload(srv, alice, o["id"], b"goes with the org\n", name="g.txt").json()
    assert object_exists(srv, s3, o["id"], f["id"])
    r = srv.delete("/v1/orgs/" + o["id"], token=alice.token)
    assert r.status_code == 204, r.text
    deadline = time.monotonic() + 30
    while object_exists(srv, s3, o["id"], f["id"]):
        assert time.monotonic() < deadline, "the file outlived its organization"
        time.sleep(0.1)


def object_exists(srv, s3, org_id, file_id):
    if s3:
        return s3.exists("%s/%s" % (org_id, file_id))
    return os.path.exists(os.path.join(srv.data_dir, "files", org_id, file_id))


# --- the plan's storage_bytes --------------------------------------------------------------

def test_quota_edge_with_concurrent_uploads(srv, alice, admin):
    o = create_org(srv, alice)
    key = "files-" + uuid.uuid4().hex[:8]
    r = srv.put("/v1/admin/plans/" + key, json={"name": "Files", "limits": {"storage_bytes": 1000}},
                token=admin)
    assert r.status_code in (200, 201), r.text
    r = srv.put("/v1/admin/orgs/%s/plan" % o["id"], json={"plan": key}, token=admin)
    assert r.status_code == 200, r.text
    upload(srv, alice, o["id"], b"x" * 300, name="first.txt")
    # two uploads of 600 bytes race for the 700 left: exactly one fits
    barrier = threading.Barrier(2)
    results = []

    def one(i):
        barrier.wait()
        r = srv.request_once("POST", files_path(o["id"]) + "?name=r%d.txt" % i,
                             data=b"y" * 600, headers={"Content-Type": "text/plain"},
                             token=alice.token, timeout=60)
        results.append(r)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    codes = sorted(r.status_code for r in results)
    assert codes == [201, 402], [(r.status_code, r.text) for r in results]
    body = [r for r in results if r.status_code == 402][0].json()
    assert body["limit"] == "storage_bytes" and body["max"] == 1000, body
    u = usage(srv, alice, o["id"])
    assert u == {"used": 900, "max": 1000}, u
    listed = srv.get(files_path(o["id"]), token=alice.token).json()["data"]
    assert sum(x["size"] for x in listed) == 900
    # exactly to the edge fits; a byte more does not
    upload(srv, alice, o["id"], b"z" * 100, name="edge.txt")
    r = upload(srv, alice, o["id"], b"!\n", name="over.txt", status=None)
    assert_problem(r, 402, "plan_limit_reached")
    if srv.data_dir and not srv.extra_env.get("PLINTH_S3_ENDPOINT"):
        assert len(os.listdir(os.path.join(srv.data_dir, "files", o["id"]))) == 3


# --- big uploads ---------------------------------------------------------------------------

@pytest.mark.skipif(plinth.sanitized(), reason="ASan inflates the resident set")
def test_100_mib_upload_in_bounded_memory(srv, alice, org):
    pid = srv.proc.pid
    upload(srv, alice, org["id"], b"warm up\n", name="warm.txt")
    idle = rss_kib(pid)
    peak = [idle]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], rss_kib(pid))
            time.sleep(0.01)

    line = b"0123456789abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ .,;:!?\n"
    block = line * (MiB // len(line)) + line[:MiB % len(line)]
    digest = hashlib.sha256()
    for _ in range(100):
        digest.update(block)
    t = threading.Thread(target=sample)
    t.start()
    try:
        r = srv.post(files_path(org["id"]) + "?name=big.txt", data=(block for _ in range(100)),
                     headers={"Content-Type": "text/plain"}, token=alice.token, timeout=300)
        assert r.status_code == 201, r.text
        f = r.json()
        assert f["size"] == 100 * MiB and f["sha256"] == digest.hexdigest()
        got = hashlib.sha256()
        with content(srv, alice, org["id"], f["id"], stream=True, timeout=300) as d:
            assert d.status_code == 200
            for chunk in d.iter_content(MiB):
                got.update(chunk)
        assert got.hexdigest() == digest.hexdigest()
    finally:
        done.set()
        t.join()
    grown = (peak[0] - idle) / 1024
    assert grown < 64, "the resident set grew by %.1f MiB during a 100 MiB upload" % grown


def test_kill_9_mid_upload_leaves_nothing(make_server, backend):
    if backend != "local":
        pytest.skip("the temporary files of local storage")
    s = make_server(workers=1)
    user = new_user(s, "killer")
    o = create_org(s, user)
    tmp = os.path.join(s.data_dir, "files", "tmp")
    sock = socket.create_connection(("127.0.0.1", s.port), timeout=30)
    try:
        sock.sendall(("POST %s?name=cut.txt HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
                      "Content-Type: text/plain\r\nContent-Length: %d\r\n\r\n"
                      % (files_path(o["id"]), user.token, 20 * MiB)).encode())
        sock.sendall(b"partial upload\n" * 70000)
        deadline = time.monotonic() + 30
        while not any(os.path.getsize(os.path.join(tmp, n)) > 0 for n in os.listdir(tmp)):
            assert time.monotonic() < deadline, "no temporary file appeared"
            time.sleep(0.05)
        s.stop(sig=signal.SIGKILL)
    finally:
        sock.close()
    s.check_exit = False
    s.start()
    r = s.get(files_path(o["id"]), token=user.token)
    assert r.status_code == 200 and r.json()["data"] == []
    assert os.listdir(tmp) == []
    assert not os.path.exists(os.path.join(s.data_dir, "files", o["id"])) or \
        os.listdir(os.path.join(s.data_dir, "files", o["id"])) == []
    assert usage(s, user, o["id"])["used"] == 0
