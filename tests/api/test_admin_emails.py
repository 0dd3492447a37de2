"""GET /v1/admin/emails (openapi.yaml): recent messages for the admin
dashboard, newest first, with the template, the recipient masked and the
status of the send job; nothing of the message itself is kept."""

import time

import pytest

from plinth import assert_problem
from projects_util import sql_rows
from accounts_util import FAST_ARGON2, admin_create, login_ok, register, unique_email


@pytest.fixture(scope="module")
def srv(make_module_server):
    return make_module_server(args=FAST_ARGON2, workers=1)


@pytest.fixture(scope="module")
def admin(srv):
    email = unique_email("admin")
    admin_create(srv, email)
    return login_ok(srv, email)["access_token"]


def emails(srv, admin, **params):
    r = srv.get("/v1/admin/emails", token=admin, params=params)
    assert r.status_code == 200, r.text
    return r.json()


def test_a_verification_email_is_listed_masked_until_sent(srv, admin):
    email = unique_email("listed")
    register(srv, email=email)
    deadline = time.monotonic() + 30
    while True:
        mine = [m for m in emails(srv, admin)["data"]
                if m["to"] == email[0] + "***@" + email.split("@")[1]
                and m["template"] == "verify_email"]
        if mine and mine[0]["status"] == "sent":
            break
        assert time.monotonic() < deadline, mine
        time.sleep(0.1)
    m = mine[0]
    assert m["attempts"] == 1 and m["last_error"] is None and m["sent_at"], m
    assert m["message_id"] and m["id"]
    # the job behind it
    jobs = srv.get("/v1/admin/jobs", token=admin, params={"status": "done"}).json()["data"]
    assert m["id"] in [j["id"] for j in jobs]
    # nothing of the message or its recipient is stored in the log
    for row in sql_rows(srv, "SELECT * FROM email_log"):
        assert email not in " ".join(str(c) for c in row), row


def test_pages_newest_first(srv, admin):
    for _ in range(3):
        register(srv)
    first = emails(srv, admin, limit=2)
    assert len(first["data"]) == 2 and first["next_cursor"]
    second = emails(srv, admin, limit=2, cursor=first["next_cursor"])
    ids = [m["id"] for m in first["data"] + second["data"]]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == len(ids)


def test_bad_input_and_strangers(srv, admin):
    assert_problem(srv.get("/v1/admin/emails", token=admin, params={"cursor": "x"}), 400,
                   "bad_request")
    assert_problem(srv.get("/v1/admin/emails", token=admin, params={"limit": "0"}), 400,
                   "bad_request")
    token = register(srv)["access_token"]
    assert_problem(srv.get("/v1/admin/emails", token=token), 403, "forbidden")
    assert_problem(srv.get("/v1/admin/emails"), 401, "unauthenticated")
