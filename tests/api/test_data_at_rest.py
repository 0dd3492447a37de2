"""What an attacker who reads the data files finds (issue 11): the SQLite
database and its -wal and -shm files are readable by their owner only
(0600), and the single-use tokens of emails (verification, password reset)
never reach the database in clear: the queued message's subject and bodies
are sealed with the keyring, and SQLite runs with secure_delete."""

import os
import stat

import pytest

import plinth
from accounts_util import FAST_ARGON2, db_scalar, register, unique_email
from smtp_sink import mail_server, smtp_sink  # noqa: F401


@pytest.fixture(scope="module")
def srv(make_module_server, smtp_sink):  # noqa: F811
    return mail_server(make_module_server, smtp_sink, workers=1)


def data_files(server):
    base = os.path.join(server.data_dir, "plinth.db")
    return [p for p in (base, base + "-wal", base + "-shm") if os.path.exists(p)]


@pytest.mark.skipif(plinth.engine() != "sqlite", reason="SQLite files")
def test_database_files_are_owner_only(srv):
    register(srv)
    files = data_files(srv)
    assert len(files) == 3, files
    for p in files:
        assert stat.S_IMODE(os.stat(p).st_mode) == 0o600, (p, oct(os.stat(p).st_mode))


@pytest.mark.skipif(plinth.engine() != "sqlite", reason="SQLite files")
def test_existing_files_are_narrowed(make_server):
    s = make_server(args=FAST_ARGON2)
    register(s)
    s.stop()
    for p in data_files(s):
        os.chmod(p, 0o644)
    s.start()
    register(s)
    for p in data_files(s):
        assert stat.S_IMODE(os.stat(p).st_mode) == 0o600, p


@pytest.mark.skipif(plinth.engine() != "sqlite", reason="SQLite pragma")
def test_secure_delete_is_on(srv):
    # a fresh connection reports its own setting; the server's connections set
    # it when they open, so the proof is the absence of tokens below
    assert db_scalar(srv, "PRAGMA secure_delete") is not None


def stored_payloads(server, addr):
    if server.pg_url:
        return plinth.psql("SELECT payload FROM jobs WHERE kind = 'mail.send' AND "
                           "payload::text LIKE '%%%s%%'" % addr, url=server.pg_url)
    return db_scalar(server, "SELECT group_concat(payload, ' ') FROM jobs WHERE "
                             "kind = 'mail.send' AND payload LIKE '%%%s%%'" % addr) or ""


def test_queued_message_is_sealed(make_server):
    """With no job runner the message stays queued: its row names the
    recipient, but neither the link nor the token can be read."""
    s = make_server(args=FAST_ARGON2, workers=0)
    addr = unique_email("sealed")
    register(s, addr)
    assert s.post("/v1/auth/password-reset/request", json={"email": addr}).status_code == 202
    payloads = stored_payloads(s, addr)
    assert payloads.count(addr) >= 2 and payloads.count("sealed") >= 2, payloads[:300]
    for clear in ("token=", "verify-email", "reset-password", "Verify", "Reset"):
        assert clear not in payloads, (clear, payloads[:300])


def test_delivered_tokens_are_not_in_the_files(srv, smtp_sink):  # noqa: F811
    addr = unique_email("rest")
    register(srv, addr)
    verify = smtp_sink.wait_for_to(addr, timeout=15, path="/verify-email").token("/verify-email")
    assert srv.post("/v1/auth/password-reset/request", json={"email": addr}).status_code == 202
    reset = smtp_sink.wait_for_to(addr, timeout=15, path="/reset-password").token(
        "/reset-password")
    if srv.pg_url:
        dump = plinth.psql("SELECT string_agg(payload::text, ' ') FROM jobs", url=srv.pg_url)
        for token in (verify, reset):
            assert token not in dump
        return
    for p in data_files(srv):
        with open(p, "rb") as f:
            raw = f.read()
        for token in (verify, reset):
            assert token.encode() not in raw, p
