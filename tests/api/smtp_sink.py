"""smtp_sink.py - a real SMTP server on loopback for the email and job tests.

    sink = SmtpSink().start()
    ... point plinth at sink.url (PLINTH_SMTP_URL) ...
    msg = sink.wait_for_to("alice@example.com")      # a Received
    token = msg.token()                              # from the text part's link
    sink.stop(); sink.start()                        # an outage on the same port

Built on Debian's aiosmtpd (plain SMTP: no AUTH, no STARTTLS offered). Every
message is kept (envelope + raw bytes) in a thread-safe list.

Fixtures (import them into a test module): `smtp_sink` (module scope).
"""

import email
import email.policy
import re
import threading
import time
import urllib.parse

import pytest
from aiosmtpd.controller import Controller

import plinth
from accounts_util import FAST_ARGON2

TOKEN_RE = re.compile(r"token=([A-Za-z0-9_\-%.~]+)")
PUBLIC_URL = "https://app.example"
MAIL_FROM = "noreply@plinth.test"


class Received:
    """One delivered message: envelope and parsed RFC 5322 message."""

    def __init__(self, mail_from, rcpt_tos, raw, at):
        self.mail_from = mail_from
        self.rcpt_tos = list(rcpt_tos)
        self.raw = raw
        self.at = at
        self.msg = email.message_from_bytes(raw, policy=email.policy.default)

    def part(self, ctype):
        """The decoded content of the first part of this content type, or None."""
        for p in self.msg.walk():
            if p.get_content_type() == ctype and not p.is_multipart():
                return p.get_content()
        return None

    def text(self):
        t = self.part("text/plain")
        assert t is not None, "message has no text/plain part:\n%r" % self.raw[:2000]
        return t

    def html(self):
        return self.part("text/html")

    def subject(self):
        return str(self.msg.get("Subject", ""))

    def link(self, path):
        """The first link {PUBLIC_URL}{path}?token=... in the text part (whole URL)."""
        m = re.search(re.escape(PUBLIC_URL + path) + r"\?token=[A-Za-z0-9_\-%.~]+", self.text())
        assert m, "no %s link in the text part:\n%s" % (path, self.text())
        return m.group(0)

    def token(self, path=None):
        """The (unquoted) token of the message's link; path ('/verify-email',
        '/reset-password') restricts it to that link."""
        text = self.link(path) if path else self.text()
        m = TOKEN_RE.search(text)
        assert m, "no token= in the text part:\n%s" % self.text()
        return urllib.parse.unquote(m.group(1))

    def __repr__(self):
        return "<Received from=%s to=%s subject=%r>" % (self.mail_from, self.rcpt_tos,
                                                         self.subject())


class _Handler:
    def __init__(self, sink):
        self.sink = sink

    async def handle_DATA(self, server, session, envelope):
        reply = self.sink._rejection(envelope.rcpt_tos)
        if reply:
            return reply
        raw = envelope.original_content or envelope.content
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        self.sink._add(Received(envelope.mail_from, envelope.rcpt_tos, raw, time.monotonic()))
        return "250 Message accepted for delivery"


class SmtpSink:
    def __init__(self, port=None):
        self.port = port or plinth.free_port()
        self.host = "127.0.0.1"
        self.url = "smtp://%s:%d" % (self.host, self.port)
        self._lock = threading.Condition()
        self._messages = []
        self._controller = None
        self._reject = {}          # rcpt -> [reply, times left]
        self.rejected = []         # (rcpt list, reply) of every refused DATA

    # -- lifecycle --

    def start(self):
        assert self._controller is None
        last = None
        # The port was just freed (stop) or picked: retry briefly if it is not
        # bindable yet.
        deadline = time.monotonic() + 5
        while True:
            c = Controller(_Handler(self), hostname=self.host, port=self.port,
                           ready_timeout=5.0)
            try:
                c.start()
                self._controller = c
                return self
            except Exception as e:  # noqa: BLE001 - aiosmtpd raises several kinds
                last = e
                try:
                    c.stop()
                except Exception:  # noqa: BLE001
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError("SMTP sink cannot listen on %d: %r" % (self.port, last))
                time.sleep(0.1)

    def stop(self):
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    @property
    def running(self):
        return self._controller is not None

    # -- scripted failures --

    def reject(self, rcpt, reply="451 4.3.0 Try again later", times=1):
        """Answers DATA for rcpt with reply (e.g. "550 5.1.1 No such user") the next
        `times` times, then accepts again."""
        with self._lock:
            self._reject[rcpt.lower()] = [reply, times]

    def _rejection(self, rcpt_tos):
        with self._lock:
            for r in rcpt_tos:
                ent = self._reject.get(r.lower())
                if ent and ent[1] > 0:
                    ent[1] -= 1
                    self.rejected.append((list(rcpt_tos), ent[0]))
                    self._lock.notify_all()
                    return ent[0]
        return None

    def rejections(self, rcpt):
        with self._lock:
            return [x for x in self.rejected if rcpt.lower() in [r.lower() for r in x[0]]]

    # -- messages --

    def _add(self, m):
        with self._lock:
            self._messages.append(m)
            self._lock.notify_all()

    def messages(self, to=None):
        """Every message so far (to: only those with that envelope recipient)."""
        with self._lock:
            ms = list(self._messages)
        if to is not None:
            ms = [m for m in ms if to.lower() in [r.lower() for r in m.rcpt_tos]]
        return ms

    def wait_for(self, predicate, timeout=10.0):
        """The first message for which predicate(m) holds, waiting up to timeout s.
        AssertionError on timeout."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                for m in self._messages:
                    if predicate(m):
                        return m
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("no matching message within %.1f s; have: %r"
                                         % (timeout, self._messages))
                self._lock.wait(min(left, 0.2))

    def wait_for_to(self, rcpt, timeout=10.0, subject=None, path=None, after=0):
        """The (after+1)-th message to rcpt, optionally only those whose Subject
        contains subject (case-insensitive) or whose text has a {path}?token= link."""
        def match(m):
            if rcpt.lower() not in [r.lower() for r in m.rcpt_tos]:
                return False
            if subject and subject.lower() not in m.subject().lower():
                return False
            if path and (PUBLIC_URL + path + "?token=") not in (m.part("text/plain") or ""):
                return False
            return True

        deadline = time.monotonic() + timeout
        while True:
            found = [m for m in self.messages() if match(m)]
            if len(found) > after:
                return found[after]
            if time.monotonic() > deadline:
                raise AssertionError("no message #%d to %s (subject~%r, path %r) within %.1f s;"
                                     " have: %r" % (after + 1, rcpt, subject, path, timeout,
                                                    self.messages()))
            with self._lock:
                self._lock.wait(0.1)

    def assert_none_to(self, rcpt, wait=1.5, already=0):
        """Waits `wait` s and asserts no more than `already` messages went to rcpt."""
        time.sleep(wait)
        ms = self.messages(to=rcpt)
        assert len(ms) <= already, "unexpected mail to %s: %r" % (rcpt, ms[already:])


def mail_env(sink=None, extra=None):
    """The environment for a plinth that mails through sink (or the log transport
    when sink is None), with links under PUBLIC_URL and From MAIL_FROM."""
    env = {"PLINTH_PUBLIC_URL": PUBLIC_URL, "PLINTH_MAIL_FROM": MAIL_FROM}
    if sink is not None:
        env["PLINTH_SMTP_URL"] = sink.url
    env.update(extra or {})
    return env


def mail_server(factory, sink, workers=2, args=(), env=None, **kw):
    """A server (from make_server / make_module_server) that mails through sink."""
    return factory(args=list(FAST_ARGON2) + list(args), env=mail_env(sink, env),
                   workers=workers, **kw)


@pytest.fixture(scope="module")
def smtp_sink():
    s = SmtpSink().start()
    try:
        yield s
    finally:
        s.stop()
