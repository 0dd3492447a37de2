"""Black-box tests of transactional email (issue 4): a real SMTP server on
loopback receives plinth's messages; the tests follow their link tokens through
email verification and password reset, and check that an SMTP outage or a
kill -9 delays mail but never drops or duplicates it."""

import datetime
import email
import email.policy
import email.utils
import os
import re
import signal
import sqlite3
import threading
import time
import urllib.parse

import pytest

import plinth
from plinth import assert_problem
from accounts_util import (FAST_ARGON2, PASSWORD, admin_create, db_scalar, login, login_ok, me, refresh,
                           register, unique_email)
from smtp_sink import MAIL_FROM, PUBLIC_URL, SmtpSink, mail_env, mail_server, smtp_sink  # noqa: F401

NEW_PASSWORD = "a brand new passphrase 42"
MSGID_RE = re.compile(r"^<[^<>@\s]+@[^<>@\s]+>$")


@pytest.fixture(scope="module")
def srv(make_module_server, smtp_sink):  # noqa: F811
    return mail_server(make_module_server, smtp_sink, workers=2)


def verification_mail(sink, addr, timeout=10.0, after=0):
    return sink.wait_for_to(addr, timeout=timeout, path="/verify-email", after=after)


def reset_mail(sink, addr, timeout=10.0, after=0):
    return sink.wait_for_to(addr, timeout=timeout, path="/reset-password", after=after)


def changed_mail(sink, addr, timeout=10.0):
    return sink.wait_for_to(addr, timeout=timeout, subject="changed")


def new_user(srv, name="Test User"):
    """Registers a user; returns (email, token pair body)."""
    addr = unique_email("mail")
    body = register(srv, addr, name=name)
    return addr, body


# --- the message itself -----------------------------------------------------------------

def test_register_sends_valid_verification_email(srv, smtp_sink):  # noqa: F811
    name = 'Tom <b>& "Jerry"</b>'
    addr, body = new_user(srv, name=name)
    m = verification_mail(smtp_sink, addr)

    # Envelope.
    assert m.mail_from == MAIL_FROM, m.mail_from
    assert [r.lower() for r in m.rcpt_tos] == [addr], m.rcpt_tos

    # RFC 5322 headers, parsed strictly: no defects anywhere.
    strict = email.message_from_bytes(m.raw, policy=email.policy.strict)
    for part in strict.walk():
        assert not part.defects, (part.defects, m.raw[:3000])
    msg = m.msg
    for h in ("Message-ID", "Date", "From", "To", "Subject"):
        assert len(msg.get_all(h) or []) == 1, (h, m.raw[:3000])
    assert MSGID_RE.match(str(msg["Message-ID"]).strip()), msg["Message-ID"]
    date = email.utils.parsedate_to_datetime(str(msg["Date"]))
    assert date.tzinfo is not None, msg["Date"]
    now = datetime.datetime.now(datetime.timezone.utc)
    assert abs((now - date).total_seconds()) < 300, (msg["Date"], now)
    assert msg["From"].addresses[0].addr_spec == MAIL_FROM, msg["From"]
    assert msg["To"].addresses[0].addr_spec.lower() == addr, msg["To"]
    assert str(msg["Subject"]).strip(), msg["Subject"]
    assert "\n" not in str(msg["Subject"]) and "\r" not in str(msg["Subject"])
    assert str(msg.get("MIME-Version", "")).strip() == "1.0", m.raw[:2000]
    for line in m.raw.split(b"\n"):
        assert len(line.rstrip(b"\r")) <= 998, line[:100]

    # multipart/alternative with a text and an HTML part.
    assert msg.get_content_type() == "multipart/alternative", msg.get_content_type()
    kinds = [p.get_content_type() for p in msg.iter_parts()]
    assert "text/plain" in kinds and "text/html" in kinds, kinds

    # The link: {PUBLIC_URL}/verify-email?token=... in the text part; the HTML
    # part carries the same token.
    link = m.link("/verify-email")
    assert link.startswith(PUBLIC_URL + "/verify-email?token="), link
    token = m.token("/verify-email")
    assert len(token) >= 20, token
    html = m.html()
    assert html and "verify-email?token=" in html, html

    # The name is escaped in the HTML part (no markup injection) and plain in text.
    assert "<b>&" not in html and '<b>& "Jerry"</b>' not in html, html
    assert "&lt;b&gt;" in html, html

    # One message per registration.
    smtp_sink.assert_none_to(addr, wait=1.0, already=1)


def test_message_ids_are_unique(srv, smtp_sink):  # noqa: F811
    a, _ = new_user(srv)
    b, _ = new_user(srv)
    ma, mb = verification_mail(smtp_sink, a), verification_mail(smtp_sink, b)
    assert str(ma.msg["Message-ID"]) != str(mb.msg["Message-ID"])
    assert ma.token() != mb.token()


def test_name_cannot_inject_headers(srv, smtp_sink):  # noqa: F811
    addr = unique_email("inject")
    evil = unique_email("evil")
    r = srv.post("/v1/auth/register", json={
        "email": addr, "password": PASSWORD,
        "name": "Bob\r\nBcc: %s\r\nSubject: pwned\r\n\r\nhi" % evil})
    if r.status_code == 422:
        return    # refusing such a name is fine too
    assert r.status_code == 201, r.text
    m = verification_mail(smtp_sink, addr)
    assert [x.lower() for x in m.rcpt_tos] == [addr], m.rcpt_tos
    assert m.msg.get_all("Bcc") is None, m.raw[:2000]
    assert len(m.msg.get_all("Subject")) == 1 and "pwned" not in m.subject(), m.subject()
    smtp_sink.assert_none_to(evil, wait=0.5, already=0)


def test_failed_register_sends_nothing(srv, smtp_sink):  # noqa: F811
    addr, _ = new_user(srv)
    verification_mail(smtp_sink, addr)
    # A rolled-back registration (email taken, weak password) sends no email.
    r = srv.post("/v1/auth/register", json={"email": addr.upper(), "password": PASSWORD,
                                            "name": "Dup"})
    assert_problem(r, 409, "email_taken")
    other = unique_email("weak")
    r = srv.post("/v1/auth/register", json={"email": other, "password": "short",
                                            "name": "Weak"})
    assert_problem(r, 422, "weak_password")
    smtp_sink.assert_none_to(addr, wait=1.5, already=1)
    assert smtp_sink.messages(to=other) == []


# --- email verification ------------------------------------------------------------------

def test_verify_email_with_token_from_email(srv, smtp_sink):  # noqa: F811
    addr, body = new_user(srv)
    access = body["access_token"]
    assert me(srv, access).json()["email_verified"] is False
    token = verification_mail(smtp_sink, addr).token("/verify-email")

    r = srv.post("/v1/auth/verify-email", json={"token": token})
    assert r.status_code == 204, r.text
    assert r.content == b""
    m = me(srv, access)
    assert m.status_code == 200, m.text
    assert m.json()["email_verified"] is True, m.json()
    # Sign-in shows it too.
    assert login_ok(srv, addr)["user"]["email_verified"] is True

    # Single use.
    assert_problem(srv.post("/v1/auth/verify-email", json={"token": token}), 422,
                   "invalid_token")
    # Already verified: 202 and no email.
    r = srv.post("/v1/auth/verify-email/request", token=access)
    assert r.status_code == 202, r.text
    r = srv.post("/v1/auth/verify-email/request", json={}, token=access)
    assert r.status_code == 202, r.text
    smtp_sink.assert_none_to(addr, wait=1.5, already=1)


@pytest.mark.parametrize("token", ["garbage", "x" * 43, "A" * 256])
def test_verify_email_bad_token(srv, token):
    assert_problem(srv.post("/v1/auth/verify-email", json={"token": token}), 422,
                   "invalid_token")


def test_verify_email_missing_token(srv):
    r = srv.post("/v1/auth/verify-email", json={})
    assert r.status_code in (422, 400), r.text
    assert r.json()["code"] in ("validation_failed", "invalid_token", "bad_request"), r.text


def test_verify_email_request_needs_auth(srv):
    assert_problem(srv.post("/v1/auth/verify-email/request"), 401, "unauthenticated")


def db_exec(server, sql):
    """Runs one writing statement on the server's database (committed)."""
    if server.pg_url:
        plinth.psql(sql, url=server.pg_url)
        return
    con = sqlite3.connect(os.path.join(server.data_dir, "plinth.db"), timeout=10)
    try:
        con.execute(sql)
        con.commit()
    finally:
        con.close()


def test_verify_email_request_sends_then_throttles(srv, smtp_sink):  # noqa: F811
    addr, body = new_user(srv)
    access, uid = body["access_token"], body["user"]["id"]
    first = verification_mail(smtp_sink, addr)
    # The registration's email was just sent: a request within the minute
    # answers 202 and sends nothing.
    r = srv.post("/v1/auth/verify-email/request", token=access)
    assert r.status_code == 202, r.text
    smtp_sink.assert_none_to(addr, wait=1.5, already=1)

    # A minute later (simulated: the earlier token is made two minutes older in
    # the database) a request sends a new email, and a second one does not.
    db_exec(srv, "UPDATE email_tokens SET created_at = created_at - 120000 "
                 "WHERE user_id = '%s'" % uid)
    r = srv.post("/v1/auth/verify-email/request", json={}, token=access)
    assert r.status_code == 202, r.text
    second = verification_mail(smtp_sink, addr, after=1)
    assert second.token() != first.token()
    assert str(second.msg["Message-ID"]) != str(first.msg["Message-ID"])
    r = srv.post("/v1/auth/verify-email/request", token=access)
    assert r.status_code == 202, r.text
    smtp_sink.assert_none_to(addr, wait=1.5, already=2)

    assert srv.post("/v1/auth/verify-email",
                    json={"token": second.token("/verify-email")}).status_code == 204
    assert me(srv, access).json()["email_verified"] is True


def test_cli_admin_account_gets_no_verification_email(srv, smtp_sink):  # noqa: F811
    addr = unique_email("cli")
    p = admin_create(srv, addr)
    assert p.returncode == 0, (p.stdout, p.stderr)
    access = login_ok(srv, addr)["access_token"]
    smtp_sink.assert_none_to(addr, wait=0.5, already=0)   # none at creation
    verified = me(srv, access).json()["email_verified"]
    r = srv.post("/v1/auth/verify-email/request", token=access)
    assert r.status_code == 202, r.text
    if verified:
        smtp_sink.assert_none_to(addr, wait=1.0, already=0)
    else:
        verification_mail(smtp_sink, addr)


# --- password reset ----------------------------------------------------------------------

def test_reset_request_unknown_email_sends_nothing(srv, smtp_sink):  # noqa: F811
    ghost = unique_email("ghost")
    addr, _ = new_user(srv)
    verification_mail(smtp_sink, addr)
    r_unknown = srv.post("/v1/auth/password-reset/request", json={"email": ghost})
    assert r_unknown.status_code == 202, r_unknown.text
    assert r_unknown.json() == {"status": "accepted"}
    r_known = srv.post("/v1/auth/password-reset/request", json={"email": addr})
    assert r_known.status_code == 202, r_known.text
    assert r_known.json() == r_unknown.json()
    assert r_known.headers.get("Content-Type", "").split(";")[0] == \
        r_unknown.headers.get("Content-Type", "").split(";")[0]
    m = reset_mail(smtp_sink, addr)
    assert m.link("/reset-password").startswith(PUBLIC_URL + "/reset-password?token=")
    assert m.mail_from == MAIL_FROM
    smtp_sink.assert_none_to(ghost, wait=1.5, already=0)


def test_reset_request_is_case_insensitive(srv, smtp_sink):  # noqa: F811
    addr, _ = new_user(srv)
    r = srv.post("/v1/auth/password-reset/request", json={"email": "  " + addr.upper() + " "})
    assert r.status_code == 202, r.text
    reset_mail(smtp_sink, addr)


def test_reset_request_invalid_body(srv):
    r = srv.post("/v1/auth/password-reset/request", json={})
    assert_problem(r, 422, "validation_failed")
    r = srv.post("/v1/auth/password-reset/request", json={"email": "not an email"})
    assert_problem(r, 422, "validation_failed")


def test_password_reset_flow(srv, smtp_sink):  # noqa: F811
    addr, body = new_user(srv)
    access1, refresh1 = body["access_token"], body["refresh_token"]
    access2 = login_ok(srv, addr)["access_token"]
    assert srv.post("/v1/auth/password-reset/request",
                    json={"email": addr}).status_code == 202
    m = reset_mail(smtp_sink, addr)
    token = m.token("/reset-password")
    assert "/verify-email" not in m.text()

    # A weak password is refused and the token stays usable.
    r = srv.post("/v1/auth/password-reset", json={"token": token, "new_password": "short"})
    assert_problem(r, 422, "weak_password")
    assert me(srv, access1).status_code == 200

    # The reset token is not a verification token.
    assert_problem(srv.post("/v1/auth/verify-email", json={"token": token}), 422,
                   "invalid_token")

    r = srv.post("/v1/auth/password-reset", json={"token": token,
                                                  "new_password": NEW_PASSWORD})
    assert r.status_code == 204, r.text

    # Every session revoked.
    for t in (access1, access2):
        assert_problem(me(srv, t), 401, "session_revoked")
    assert refresh(srv, refresh1).status_code == 401
    # Old password out, new one in.
    assert_problem(login(srv, addr, PASSWORD), 401, "invalid_credentials")
    assert login(srv, addr, NEW_PASSWORD).status_code == 200
    # Single use.
    r = srv.post("/v1/auth/password-reset", json={"token": token,
                                                  "new_password": "yet another passphrase 7"})
    assert_problem(r, 422, "invalid_token")
    assert login(srv, addr, NEW_PASSWORD).status_code == 200

    # A "password changed" notice follows, without a token.
    c = changed_mail(smtp_sink, addr)
    assert "token=" not in c.text()
    assert c.html()


def race(n, fn):
    """Runs fn() in n threads released at once; returns the results."""
    barrier = threading.Barrier(n)
    out = [None] * n

    def run(i):
        barrier.wait()
        out[i] = fn()

    ts = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(30)
    return out


def test_tokens_are_single_use_under_concurrency(srv, smtp_sink):  # noqa: F811
    addr, _ = new_user(srv)
    vtoken = verification_mail(smtp_sink, addr).token("/verify-email")
    codes = race(6, lambda: srv.request_once("POST", "/v1/auth/verify-email",
                                             json={"token": vtoken}).status_code)
    assert sorted(codes) == [204] + [422] * 5, codes

    assert srv.post("/v1/auth/password-reset/request",
                    json={"email": addr}).status_code == 202
    rtoken = reset_mail(smtp_sink, addr).token("/reset-password")
    pws = ["concurrent passphrase number %d" % i for i in range(6)]
    it = iter(range(6))
    lock = threading.Lock()

    def attempt():
        with lock:
            i = next(it)
        r = srv.request_once("POST", "/v1/auth/password-reset",
                             json={"token": rtoken, "new_password": pws[i]})
        return r.status_code, i

    res = race(6, attempt)
    codes = sorted(c for c, _ in res)
    assert codes == [204] + [422] * 5, res
    winner = [i for c, i in res if c == 204][0]
    assert login(srv, addr, pws[winner]).status_code == 200, winner
    # (only two losers: five failed sign-ins would trip the throttle)
    for i in [x for x in range(6) if x != winner][:2]:
        assert_problem(login(srv, addr, pws[i]), 401, "invalid_credentials")
    time.sleep(1.0)
    assert len([m for m in smtp_sink.messages(to=addr)
                if "changed" in m.subject().lower()]) == 1


def test_password_reset_bad_token(srv):
    r = srv.post("/v1/auth/password-reset", json={"token": "nope-nope-nope",
                                                  "new_password": NEW_PASSWORD})
    assert_problem(r, 422, "invalid_token")


def test_verification_token_is_not_a_reset_token(srv, smtp_sink):  # noqa: F811
    addr, body = new_user(srv)
    token = verification_mail(smtp_sink, addr).token("/verify-email")
    r = srv.post("/v1/auth/password-reset", json={"token": token,
                                                  "new_password": NEW_PASSWORD})
    assert_problem(r, 422, "invalid_token")
    assert me(srv, body["access_token"]).status_code == 200
    assert login(srv, addr, PASSWORD).status_code == 200


def test_change_password_sends_notice(srv, smtp_sink):  # noqa: F811
    addr, body = new_user(srv)
    r = srv.post("/v1/me/password", token=body["access_token"],
                 json={"current_password": PASSWORD, "new_password": NEW_PASSWORD})
    assert r.status_code == 204, r.text
    c = changed_mail(smtp_sink, addr)
    assert c.mail_from == MAIL_FROM
    assert "multipart/alternative" == c.msg.get_content_type()
    # A failed change sends nothing more.
    r = srv.post("/v1/me/password", token=body["access_token"],
                 json={"current_password": "wrong wrong wrong", "new_password": PASSWORD})
    assert r.status_code == 422, r.text
    time.sleep(1.0)
    assert len([m for m in smtp_sink.messages(to=addr)
                if "changed" in m.subject().lower()]) == 1


def test_reset_clears_sign_in_throttle(srv, smtp_sink):  # noqa: F811
    addr, _ = new_user(srv)
    for i in range(5):
        assert_problem(login(srv, addr, "wrong password %d" % i), 401, "invalid_credentials")
    r = login(srv, addr, PASSWORD)
    assert_problem(r, 429, "rate_limited")
    assert r.headers.get("Retry-After"), r.headers

    assert srv.post("/v1/auth/password-reset/request",
                    json={"email": addr}).status_code == 202
    token = reset_mail(smtp_sink, addr).token("/reset-password")
    r = srv.post("/v1/auth/password-reset", json={"token": token,
                                                  "new_password": NEW_PASSWORD})
    assert r.status_code == 204, r.text
    r = login(srv, addr, NEW_PASSWORD)
    assert r.status_code == 200, r.text


# --- transports and durability --------------------------------------------------------------

def wait_log(server, pattern, timeout=10.0):
    """The first match of regex pattern in the server log, polling until timeout."""
    rx = re.compile(pattern)
    deadline = time.monotonic() + timeout
    while True:
        m = rx.search(server.log())
        if m:
            return m
        if time.monotonic() > deadline:
            raise AssertionError("no %r in the log within %.0f s:\n%s"
                                 % (pattern, timeout, server.log_tail(40)))
        time.sleep(0.1)


def test_log_transport_without_smtp_url(make_server):
    s = mail_server(make_server, None, workers=1)
    addr, _ = new_user(s)
    wait_log(s, re.escape(addr))
    m = wait_log(s, re.escape(PUBLIC_URL + "/verify-email?token=") + r"([A-Za-z0-9_\-%.~]+)")
    token = urllib.parse.unquote(m.group(1))
    r = s.post("/v1/auth/verify-email", json={"token": token})
    assert r.status_code == 204, r.text


def test_links_default_to_the_account_portal(make_server):
    """Without PLINTH_PUBLIC_URL, emails link to the built-in portal's pages."""
    s = make_server(args=list(FAST_ARGON2), workers=1)
    addr, _ = new_user(s)
    m = wait_log(s, re.escape(s.url + "/account/verify-email?token=") + r"([A-Za-z0-9_\-%.~]+)")
    page = s.get("/account/verify-email", params={"token": urllib.parse.unquote(m.group(1))})
    assert page.status_code == 200
    assert page.headers["Content-Type"] == "text/html; charset=utf-8"


def test_product_name_in_emails(make_server):
    s = make_server(args=list(FAST_ARGON2), workers=1,
                    env={"PLINTH_PRODUCT_NAME": "Acme <Cloud>", "PLINTH_PUBLIC_URL": PUBLIC_URL})
    addr, _ = new_user(s)
    wait_log(s, re.escape(PUBLIC_URL + "/verify-email?token="))
    log = s.log()
    assert "your Acme <Cloud> account" in log
    assert "automated message from Acme <Cloud>." in log
    assert "your plinth account" not in log


def test_mail_from_default_and_display_name(make_server):
    sink = SmtpSink().start()
    try:
        # Unset: plinth@localhost.
        s = make_server(args=list(FAST_ARGON2), workers=1,
                        env={"PLINTH_SMTP_URL": sink.url, "PLINTH_PUBLIC_URL": PUBLIC_URL})
        a, _ = new_user(s)
        m = verification_mail(sink, a)
        assert m.mail_from == "plinth@localhost", m.mail_from
        assert m.msg["From"].addresses[0].addr_spec == "plinth@localhost", m.msg["From"]
        # A display name goes in the header; the envelope gets the bare address.
        s2 = mail_server(make_server, sink, workers=1,
                         env={"PLINTH_MAIL_FROM": "Plinth Team <team@plinth.test>"})
        b, _ = new_user(s2)
        m = verification_mail(sink, b)
        assert m.mail_from == "team@plinth.test", m.mail_from
        addr = m.msg["From"].addresses[0]
        assert addr.addr_spec == "team@plinth.test" and addr.display_name == "Plinth Team", \
            m.msg["From"]
    finally:
        sink.stop()


def test_smtp_outage_delays_mail(make_server):
    sink = SmtpSink()   # not started: the port refuses connections
    try:
        s = mail_server(make_server, sink, workers=2)
        addr, _ = new_user(s)
        time.sleep(2.0)
        assert sink.messages() == []
        sink.start()
        m = verification_mail(sink, addr, timeout=20.0)
        token = m.token("/verify-email")
        assert s.post("/v1/auth/verify-email", json={"token": token}).status_code == 204
        sink.assert_none_to(addr, wait=1.0, already=1)
    finally:
        sink.stop()


def mail_job(server, addr, column):
    """column of the mail.send job addressed to addr (payloads are kept until done)."""
    return db_scalar(server, "SELECT %s FROM jobs WHERE kind = 'mail.send' AND "
                             "payload LIKE '%%%s%%'" % (column, addr))


def test_smtp_temporary_rejection_is_retried(srv, smtp_sink):  # noqa: F811
    addr = unique_email("tempfail")
    smtp_sink.reject(addr, "451 4.3.0 Try again later", times=2)
    register(srv, addr)
    m = verification_mail(smtp_sink, addr, timeout=20.0)
    assert len(smtp_sink.rejections(addr)) == 2
    assert str(m.msg["Message-ID"])
    smtp_sink.assert_none_to(addr, wait=1.0, already=1)


def test_smtp_permanent_rejection_goes_dead(srv, smtp_sink):  # noqa: F811
    addr = unique_email("permfail")
    smtp_sink.reject(addr, "550 5.1.1 No such user here", times=100)
    register(srv, addr)
    deadline = time.monotonic() + 10
    while mail_job(srv, addr, "status") != "dead":
        assert time.monotonic() < deadline, (mail_job(srv, addr, "status"),
                                             smtp_sink.rejections(addr))
        time.sleep(0.1)
    assert int(mail_job(srv, addr, "attempts")) == 1
    assert mail_job(srv, addr, "last_error")
    time.sleep(1.5)
    assert len(smtp_sink.rejections(addr)) == 1   # not retried
    assert smtp_sink.messages(to=addr) == []


def test_kill_9_with_mail_queued_delivers_once(make_server):
    sink = SmtpSink().start()
    try:
        s = mail_server(make_server, sink, workers=0)
        addr, _ = new_user(s)
        time.sleep(1.0)
        assert sink.messages(to=addr) == []    # queued, no job runner
        assert int(db_scalar(s, "SELECT count(*) FROM jobs WHERE kind = 'mail.send' "
                                "AND status = 'queued'")) == 1

        s.proc.send_signal(signal.SIGKILL)
        s.proc.wait(10)
        s._reaped = True   # killed on purpose: not a crash for the teardown check
        s.session = None

        s.workers = 1
        s.start()
        m = verification_mail(sink, addr, timeout=15.0)
        time.sleep(3.0)
        assert len(sink.messages(to=addr)) == 1, sink.messages(to=addr)
        assert s.post("/v1/auth/verify-email",
                      json={"token": m.token("/verify-email")}).status_code == 204
    finally:
        sink.stop()
