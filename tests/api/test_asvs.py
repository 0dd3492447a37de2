"""ASVS 4.0.3 level-2 requirements that no feature test proved on its own
(docs/security.md maps every requirement to its test)."""

import pytest

from plinth import assert_problem
from accounts_util import FAST_ARGON2, db_scalar, login, register, unique_email
from smtp_sink import mail_server, smtp_sink  # noqa: F401


@pytest.fixture(scope="module")
def srv(make_module_server, smtp_sink):  # noqa: F811
    return mail_server(make_module_server, smtp_sink, workers=1)


@pytest.mark.parametrize("password", [
    "correct horse battery staple with spaces",
    "\U0001F510 my vault \U0001F5DD\uFE0F of \u00e9mojis \U0001F600",
], ids=["spaces", "emoji"])
def test_2_1_4_any_printable_unicode_password(srv, password):
    body = register(srv, password=password)
    assert login(srv, body["user"]["email"], password).status_code == 200


def test_2_1_3_passwords_are_not_truncated(srv):
    password = "a long passphrase that keeps going " * 5 + "END"
    email = register(srv, password=password)["user"]["email"]
    for near in (password[:-1], password[:128], password + "x"):
        assert_problem(login(srv, email, near), 401, "invalid_credentials")
    assert login(srv, email, password).status_code == 200


def test_2_4_1_argon2id_with_a_unique_salt(srv):
    a = register(srv, password="the very same passphrase 1")["user"]["email"]
    b = register(srv, password="the very same passphrase 1")["user"]["email"]
    ha = db_scalar(srv, "SELECT password_hash FROM users WHERE email = '%s'" % a)
    hb = db_scalar(srv, "SELECT password_hash FROM users WHERE email = '%s'" % b)
    assert ha.startswith("$argon2id$") and hb.startswith("$argon2id$"), (ha, hb)
    salt = lambda h: h.split("$")[4]   # noqa: E731
    assert salt(ha) != salt(hb) and len(salt(ha)) >= 22   # 128-bit salts, base64


def test_3_2_2_refresh_tokens_carry_enough_entropy(srv):
    tokens = {register(srv)["refresh_token"] for _ in range(5)}
    assert len(tokens) == 5
    assert all(len(t) >= 43 for t in tokens), tokens   # 256 bits, base64url


def test_5_1_1_duplicate_json_keys_are_refused(srv):
    raw = ('{"email": "%s", "email": "%s", "password": "x", "name": "n"}'
           % (unique_email(), unique_email()))
    r = srv.request_once("POST", "/v1/auth/register", data=raw.encode(),
                         headers={"Content-Type": "application/json"})
    assert_problem(r, 400, "invalid_json")


def test_8_3_8_job_payloads_are_dropped_when_done(srv, smtp_sink):  # noqa: F811
    addr = unique_email("retention")
    register(srv, addr)
    smtp_sink.wait_for_to(addr, timeout=15)
    # the job is marked done with an empty payload in the same step that ends it
    left = db_scalar(srv, "SELECT count(*) FROM jobs WHERE kind = 'mail.send' AND "
                          "status = 'done' AND payload::text <> '{}'"
                     if srv.pg_url else
                     "SELECT count(*) FROM jobs WHERE kind = 'mail.send' AND "
                     "status = 'done' AND payload <> '{}'")
    assert int(left) == 0
