"""GET /v1/admin/stats (openapi.yaml): the overview's totals and hourly or
daily counts of sign-ins, failed sign-ins, new accounts, new team
organizations and webhook delivery attempts, kept by platform/stats in the
transaction of what they count."""

import datetime
import time

import pytest

from plinth import assert_problem
from accounts_util import FAST_ARGON2, PASSWORD, admin_create, login, login_ok, register, \
    unique_email


@pytest.fixture(scope="module")
def srv(make_module_server):
    return make_module_server(args=FAST_ARGON2, workers=1,
                              env={"PLINTH_ALLOW_PRIVATE_TARGETS": "1"})


@pytest.fixture(scope="module")
def admin(srv):
    email = unique_email("admin")
    admin_create(srv, email)
    return login_ok(srv, email)["access_token"]


def stats(srv, admin, **params):
    r = srv.get("/v1/admin/stats", token=admin, params=params)
    assert r.status_code == 200, r.text
    return r.json()


HOUR0 = datetime.datetime.now(datetime.timezone.utc).replace(minute=0, second=0, microsecond=0)


def now_hour(srv, admin):
    """Each series summed over a fixed window of this hour and the next, so
    that a test crossing the hour counts the same."""
    s = stats(srv, admin, count=2, **{"from": HOUR0.strftime("%Y-%m-%dT%H:%M:%SZ")})
    return {k: sum(v) for k, v in s["series"].items()}


def wait_for(check, what, deadline=30.0):
    end = time.monotonic() + deadline
    while True:
        v = check()
        if v:
            return v
        assert time.monotonic() < end, "timed out waiting for " + what
        time.sleep(0.1)


def test_counts_follow_what_happens(srv, admin):
    before = stats(srv, admin)
    assert before["interval"] == "hour" and before["count"] == 24
    assert all(len(v) == 24 for v in before["series"].values())
    b = now_hour(srv, admin)
    email = unique_email("counted")
    owner = register(srv, email=email)["access_token"]
    login_ok(srv, email)
    login_ok(srv, email)
    assert login(srv, email, password=PASSWORD + "-wrong").status_code == 401
    org = srv.post("/v1/orgs", json={"name": "Counted Co"}, token=owner).json()
    after = stats(srv, admin)
    a = now_hour(srv, admin)
    assert a["new_users"] - b["new_users"] == 1
    assert a["sign_ins"] - b["sign_ins"] == 2
    assert a["failed_sign_ins"] - b["failed_sign_ins"] == 1
    # the personal org made with the account is not counted; the team org is
    assert a["new_organizations"] - b["new_organizations"] == 1
    assert after["users"] - before["users"] == 1
    assert after["organizations"] - before["organizations"] == 2
    assert set(after["jobs"]) == {"queued", "running", "dead"}

    # a webhook whose receiver refuses: every attempt counts, and fails
    r = srv.post("/v1/orgs/%s/webhooks" % org["id"], token=owner,
                 json={"url": "http://127.0.0.1:9/hook", "events": ["member.*"]})
    assert r.status_code == 201, r.text
    hook = r.json()
    r = srv.post("/v1/orgs/%s/invitations" % org["id"], token=owner,
                 json={"email": unique_email("invitee"), "role": "member"})
    assert r.status_code == 201, r.text

    def attempted():
        d = srv.get("/v1/orgs/%s/webhooks/%s/deliveries" % (org["id"], hook["id"]),
                    token=owner).json()["data"]
        return d and d[0]["attempt_count"] >= 1 and d
    wait_for(attempted, "the first delivery attempt")
    c = now_hour(srv, admin)
    assert c["webhook_attempts"] - a["webhook_attempts"] >= 1
    assert c["webhook_failures"] - a["webhook_failures"] == c["webhook_attempts"] - \
        a["webhook_attempts"]


def test_days_and_explicit_windows(srv, admin):
    s = stats(srv, admin, interval="day", count=3)
    assert s["interval"] == "day" and s["count"] == 3
    assert all(len(v) == 3 for v in s["series"].values())
    today = datetime.datetime.now(datetime.timezone.utc).replace(hour=0, minute=0, second=0,
                                                                 microsecond=0)
    start = today - datetime.timedelta(days=2)
    assert s["from"].startswith(start.strftime("%Y-%m-%dT00:00:00"))
    # a window in the past holds nothing; one from today holds today's hours
    old = stats(srv, admin, interval="day", count=1, **{"from": "2020-01-01T00:00:00Z"})
    assert all(v == [0] for v in old["series"].values())
    t = stats(srv, admin, interval="day", count=1,
              **{"from": today.strftime("%Y-%m-%dT%H:%M:%SZ")})
    assert t["series"]["sign_ins"][0] >= 1
    assert t["series"]["sign_ins"][0] == s["series"]["sign_ins"][2]


@pytest.mark.parametrize("params", [
    {"interval": "week"}, {"count": "0"}, {"count": "169"}, {"count": "x"},
    {"interval": "day", "count": "91"}, {"from": "yesterday"}, {"count": ""},
])
def test_bad_parameters(srv, admin, params):
    assert_problem(srv.get("/v1/admin/stats", token=admin, params=params), 400, "bad_request")


def test_only_instance_admins(srv):
    token = register(srv)["access_token"]
    assert_problem(srv.get("/v1/admin/stats", token=token), 403, "forbidden")
    assert_problem(srv.get("/v1/admin/stats"), 401, "unauthenticated")
