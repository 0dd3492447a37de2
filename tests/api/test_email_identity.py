"""One address, one account (issue 11): look-alike emails became separate
accounts (a trailing NBSP, zero-width characters, non-ASCII case). Addresses
with invisible or control characters are refused (422); the others are
normalised to NFC and case-folded with libunistring, so every spelling of
one address signs in to one account and cannot register a second."""

import uuid

import pytest

from plinth import assert_problem
from accounts_util import FAST_ARGON2, PASSWORD, login, register


@pytest.fixture(scope="module")
def srv(make_module_server):
    return make_module_server(args=FAST_ARGON2)


def local():
    return "zoë-" + uuid.uuid4().hex[:8]


def reg(srv, email):
    return srv.post("/v1/auth/register", json={"email": email, "password": PASSWORD,
                                               "name": "Zoë"})


@pytest.mark.parametrize("sneaky", [
    "%s@example.com\u00a0",      # trailing NBSP
    "%s\u200b@example.com",      # zero-width space
    "%s\u200d@example.com",      # zero-width joiner
    "%s\u00ad@example.com",      # soft hyphen
    "\ufeff%s@example.com",      # byte-order mark
    "%s\u202e@example.com",      # right-to-left override
    "%s@exam\u2060ple.com",      # word joiner
    "%s\u0085@example.com",      # C1 control
    "%s\u3000@example.com",      # ideographic space
], ids=["nbsp", "zwsp", "zwj", "shy", "bom", "rlo", "wj", "c1", "ideographic-space"])
def test_invisible_characters_are_refused(srv, sneaky):
    r = reg(srv, sneaky % local())
    assert_problem(r, 422, "validation_failed")
    assert {e["field"]: e["code"] for e in r.json()["errors"]}.get("email") == "invalid", r.text


def test_spellings_of_one_address_are_one_account(srv):
    name = local()                                    # with a precomposed ë
    first = reg(srv, name + "@Example.com")
    assert first.status_code == 201, first.text
    stored = first.json()["user"]["email"]
    assert stored == name + "@example.com"
    upper = name.upper() + "@EXAMPLE.COM"             # non-ASCII upper case: Ë
    decomposed = name.replace("ë", "e\u0308") + "@example.com"
    for other in (upper, decomposed, upper.replace("Ë", "E\u0308")):
        assert_problem(reg(srv, other), 409, "email_taken")
        r = login(srv, other)
        assert r.status_code == 200 and r.json()["user"]["email"] == stored, (other, r.text)


def test_full_case_folding(srv):
    tail = uuid.uuid4().hex[:8]
    r = reg(srv, "straße-%s@example.com" % tail)
    assert r.status_code == 201, r.text
    assert_problem(reg(srv, "STRASSE-%s@example.com" % tail), 409, "email_taken")
