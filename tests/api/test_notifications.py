"""In-app notifications, email preferences, the new-device alert and the
user's own stream (issue 14). Email copies arrive at the SMTP sink through
the job queue."""

import time
import uuid

import pytest

from plinth import assert_problem
from accounts_util import PASSWORD, TIME_RE, login, register, unique_email
from orgs_util import User, add_member, create_org, invite_ok, new_user
from smtp_sink import mail_server, smtp_sink  # noqa: F401
from sse_util import Stream

DEADLINE = 10.0
NOTIFICATION_KEYS = {"id", "type", "org_id", "title", "body", "link", "data", "read_at",
                     "created_at"}
DEFAULT_PREFS = {"member.role_updated": False, "member.removed": False,
                 "team.member_added": False, "security.new_sign_in": True,
                 "record.assigned": True}


@pytest.fixture(scope="module")
def srv(make_module_server, smtp_sink):  # noqa: F811
    # a trusted proxy on loopback, so X-Forwarded-For picks the client network
    return mail_server(make_module_server, smtp_sink, workers=2,
                       env={"PLINTH_TRUSTED_PROXIES": "127.0.0.1/32"})


@pytest.fixture(scope="module")
def owner(srv):
    return new_user(srv, "ntf-owner", name="Olivia Owner")


def notifications(srv, user, **params):
    r = srv.get("/v1/me/notifications", token=user.token, params=params)
    assert r.status_code == 200, r.text
    body = r.json()
    for n in body["data"]:
        assert set(n) == NOTIFICATION_KEYS, n
        assert TIME_RE.match(n["created_at"]), n
    return body["data"]


def of_type(srv, user, type_):
    return [n for n in notifications(srv, user, limit=200) if n["type"] == type_]


def wait_notification(srv, user, type_, count=1):
    deadline = time.monotonic() + DEADLINE
    while True:
        got = of_type(srv, user, type_)
        if len(got) >= count or time.monotonic() > deadline:
            return got
        time.sleep(0.1)


def unread(srv, user):
    r = srv.get("/v1/me/notifications/unread-count", token=user.token)
    assert r.status_code == 200, r.text
    return r.json()["count"]


def set_role(srv, actor, org_id, user, role):
    r = srv.patch("/v1/orgs/%s/members/%s" % (org_id, user.id), json={"role": role},
                  token=actor.token)
    assert r.status_code == 200, r.text


def put_prefs(srv, user, email):
    return srv.put("/v1/me/notification-preferences", json={"email": email}, token=user.token)


# --- who gets what ---------------------------------------------------------------------

def test_role_change_reaches_the_member_never_the_actor(srv, smtp_sink, owner):  # noqa: F811
    o = create_org(srv, owner, name="Role Org")
    m = add_member(srv, smtp_sink, owner, o["id"], role="member", prefix="ntf-role")
    set_role(srv, owner, o["id"], m, "viewer")
    got = of_type(srv, m, "member.role_updated")
    assert len(got) == 1, got
    n = got[0]
    assert n["org_id"] == o["id"] and n["read_at"] is None, n
    assert n["data"]["from"] == "member" and n["data"]["to"] == "viewer", n
    assert "Role Org" in n["title"], n
    assert of_type(srv, owner, "member.role_updated") == []


def test_removal_notifies_unless_they_left(srv, smtp_sink, owner):  # noqa: F811
    o = create_org(srv, owner, name="Removal Org")
    gone = add_member(srv, smtp_sink, owner, o["id"], prefix="ntf-removed")
    leaver = add_member(srv, smtp_sink, owner, o["id"], prefix="ntf-leaver")
    r = srv.delete("/v1/orgs/%s/members/%s" % (o["id"], gone.id), token=owner.token)
    assert r.status_code == 204, r.text
    r = srv.delete("/v1/orgs/%s/members/%s" % (o["id"], leaver.id), token=leaver.token)
    assert r.status_code == 204, r.text
    got = of_type(srv, gone, "member.removed")
    assert len(got) == 1 and got[0]["org_id"] == o["id"], got
    assert of_type(srv, leaver, "member.removed") == []


def test_added_to_a_team(srv, smtp_sink, owner):  # noqa: F811
    o = create_org(srv, owner)
    m = add_member(srv, smtp_sink, owner, o["id"], prefix="ntf-team")
    r = srv.post("/v1/orgs/%s/teams" % o["id"], json={"name": "Night Shift"}, token=owner.token)
    team = r.json()["id"]
    r = srv.put("/v1/orgs/%s/teams/%s/members/%s" % (o["id"], team, m.id), token=owner.token)
    assert r.status_code == 204, r.text
    got = of_type(srv, m, "team.member_added")
    assert len(got) == 1, got
    assert got[0]["data"]["team_id"] == team and "Night Shift" in got[0]["title"], got
    # the owner adding themself is their own act
    r = srv.put("/v1/orgs/%s/teams/%s/members/%s" % (o["id"], team, owner.id), token=owner.token)
    assert r.status_code == 204, r.text
    assert of_type(srv, owner, "team.member_added") == []


def test_invitation_to_an_existing_account(srv, smtp_sink, owner):  # noqa: F811
    o = create_org(srv, owner, name="Inviting Org")
    invitee = new_user(srv, "ntf-invitee")
    smtp_sink.wait_for_to(invitee.email, subject="verify")    # registration's own email
    inv, _ = invite_ok(srv, smtp_sink, owner, o["id"], invitee.email, "member")
    got = of_type(srv, invitee, "member.invited")
    assert len(got) == 1, got
    assert got[0]["data"]["invitation_id"] == inv["id"] and got[0]["org_id"] == o["id"], got
    assert "Olivia Owner" in got[0]["body"], got
    # the invitation email is the copy: no second email
    smtp_sink.assert_none_to(invitee.email, wait=1.5, already=2)
    # no account yet: the invitation email alone
    email = unique_email("ntf-new")
    invite_ok(srv, smtp_sink, owner, o["id"], email, "member")
    later = User(register(srv, email), email)
    assert of_type(srv, later, "member.invited") == []


# --- preferences and email copies ------------------------------------------------------

def test_preferences_defaults_and_validation(srv):
    u = new_user(srv, "ntf-prefs")
    r = srv.get("/v1/me/notification-preferences", token=u.token)
    assert r.status_code == 200, r.text
    assert r.json() == {"email": DEFAULT_PREFS}
    r = put_prefs(srv, u, {"team.member_added": True})
    assert r.status_code == 200, r.text
    assert r.json()["email"] == dict(DEFAULT_PREFS, **{"team.member_added": True})
    # what is left out keeps its setting
    r = put_prefs(srv, u, {"security.new_sign_in": False})
    assert r.json()["email"] == dict(DEFAULT_PREFS, **{"team.member_added": True,
                                                       "security.new_sign_in": False})
    assert srv.get("/v1/me/notification-preferences", token=u.token).json() == r.json()
    for bad, field in (({"no.such": True}, "email.no.such"),
                       ({"member.invited": True}, "email.member.invited"),
                       ({"member.removed": "yes"}, "email.member.removed")):
        r = put_prefs(srv, u, bad)
        body = assert_problem(r, 422, "validation_failed")
        assert [e["field"] for e in body["errors"]] == [field], body
    r = srv.put("/v1/me/notification-preferences", json={"email": []}, token=u.token)
    assert_problem(r, 422, "validation_failed")


def test_email_copies_follow_preferences(srv, smtp_sink, owner):  # noqa: F811
    o = create_org(srv, owner, name="Copy Org")
    m = add_member(srv, smtp_sink, owner, o["id"], prefix="ntf-copy")
    before = len(smtp_sink.messages(to=m.email))
    # off by default: a notification, no email
    set_role(srv, owner, o["id"], m, "viewer")
    assert len(wait_notification(srv, m, "member.role_updated")) == 1
    smtp_sink.assert_none_to(m.email, wait=1.5, already=before)
    # turned on: the copy arrives
    assert put_prefs(srv, m, {"member.role_updated": True}).status_code == 200
    set_role(srv, owner, o["id"], m, "member")
    msg = smtp_sink.wait_for_to(m.email, subject="role in Copy Org", timeout=DEADLINE)
    assert "member" in msg.text(), msg.text()
    # turned off again: none
    assert put_prefs(srv, m, {"member.role_updated": False}).status_code == 200
    now = len(smtp_sink.messages(to=m.email))
    set_role(srv, owner, o["id"], m, "viewer")
    assert len(wait_notification(srv, m, "member.role_updated", 3)) == 3
    smtp_sink.assert_none_to(m.email, wait=1.5, already=now)


# --- sign-ins from new devices ---------------------------------------------------------

def sign_in(srv, user, ua, xff=None):
    h = {"User-Agent": ua}
    if xff:
        h["X-Forwarded-For"] = xff
    r = login(srv, user.email, headers=h)
    assert r.status_code == 200, r.text
    user.token = r.json()["access_token"]   # older sessions fall off the cap of five


def test_new_device_alert(srv, smtp_sink):  # noqa: F811
    email = unique_email("ntf-device")
    u = User(register(srv, email, headers={"User-Agent": "Browser A"}), email)
    alerts = lambda: of_type(srv, u, "security.new_sign_in")  # noqa: E731

    def alert_mails():
        return [m for m in smtp_sink.messages(to=email) if "New sign-in" in m.subject()]

    sign_in(srv, u, "Browser A")                 # the device it registered from
    assert alerts() == []
    sign_in(srv, u, "Browser B")                 # a new user agent
    got = alerts()
    assert len(got) == 1, got
    assert got[0]["data"]["user_agent"] == "Browser B" and got[0]["org_id"] is None, got
    assert got[0]["data"]["network"] == "127.0.0.0/24", got
    m = smtp_sink.wait_for_to(email, subject="New sign-in", timeout=DEADLINE)
    assert "Browser B" in m.text(), m.text()
    sign_in(srv, u, "Browser B")                 # known now
    assert len(alerts()) == 1
    sign_in(srv, u, "Browser A", xff="203.0.113.7")   # a new network
    got = alerts()
    assert len(got) == 2 and got[0]["data"]["ip"] == "203.0.113.7", got
    assert got[0]["data"]["network"] == "203.0.113.0/24", got
    sign_in(srv, u, "Browser A", xff="203.0.113.99")  # the same /24
    assert len(alerts()) == 2
    sign_in(srv, u, "Browser A", xff="2001:db8:1:2::5")
    got = alerts()
    assert len(got) == 3 and got[0]["data"]["network"] == "2001:db8:1::/48", got
    sign_in(srv, u, "Browser A", xff="2001:db8:1:ffff::9")   # the same /48
    assert len(alerts()) == 3
    deadline = time.monotonic() + DEADLINE
    while len(alert_mails()) < 3 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(alert_mails()) == 3
    # with the email copy turned off: still the notification, no email
    assert put_prefs(srv, u, {"security.new_sign_in": False}).status_code == 200
    sign_in(srv, u, "Browser C")
    assert len(alerts()) == 4
    smtp_sink.assert_none_to(email, wait=1.5, already=len(smtp_sink.messages(to=email)))
    assert len(alert_mails()) == 3


# --- the inbox ---------------------------------------------------------------------

def test_unread_count_read_and_read_all(srv, smtp_sink, owner):  # noqa: F811
    o = create_org(srv, owner)
    m = add_member(srv, smtp_sink, owner, o["id"], prefix="ntf-inbox")
    # the invitation to their account was the first
    assert [n["type"] for n in notifications(srv, m)] == ["member.invited"]
    r = srv.post("/v1/me/notifications/read-all", token=m.token)
    assert r.status_code == 204, r.text
    for role in ("viewer", "member", "viewer"):
        set_role(srv, owner, o["id"], m, role)
    assert unread(srv, m) == 3
    got = notifications(srv, m, unread="true")
    assert len(got) == 3
    ids = [n["id"] for n in got]
    assert ids == sorted(ids, reverse=True), ids     # newest first
    r = srv.post("/v1/me/notifications/%s/read" % ids[1], token=m.token)
    assert r.status_code == 204, r.text
    assert unread(srv, m) == 2
    assert [n["id"] for n in notifications(srv, m, unread="true")] == [ids[0], ids[2]]
    read = [n for n in notifications(srv, m) if n["id"] == ids[1]][0]
    assert TIME_RE.match(read["read_at"]), read
    assert srv.post("/v1/me/notifications/%s/read" % ids[1], token=m.token).status_code == 204
    # someone else's, or none at all
    r = srv.post("/v1/me/notifications/%s/read" % ids[0], token=owner.token)
    assert_problem(r, 404, "not_found")
    r = srv.post("/v1/me/notifications/%s/read" % uuid.uuid4(), token=m.token)
    assert_problem(r, 404, "not_found")
    r = srv.post("/v1/me/notifications/nope/read", token=m.token)
    assert_problem(r, 404, "not_found")
    assert unread(srv, m) == 2
    r = srv.post("/v1/me/notifications/read-all", token=m.token)
    assert r.status_code == 204, r.text
    assert unread(srv, m) == 0
    assert notifications(srv, m, unread="true") == []
    assert all(n["read_at"] for n in notifications(srv, m))
    # paging
    page = srv.get("/v1/me/notifications", token=m.token, params={"limit": 2}).json()
    assert len(page["data"]) == 2 and page["next_cursor"], page
    rest = srv.get("/v1/me/notifications", token=m.token,
                   params={"limit": 2, "cursor": page["next_cursor"]}).json()
    assert [n["id"] for n in page["data"] + rest["data"]][:3] == ids
    r = srv.get("/v1/me/notifications", token=m.token, params={"unread": "maybe"})
    assert_problem(r, 400, "bad_request")


def test_api_keys_have_no_inbox(srv, owner):
    o = create_org(srv, owner)
    r = srv.post("/v1/orgs/%s/api-keys" % o["id"], json={"name": "k", "permissions":
                                                        ["org.read"]}, token=owner.token)
    key = r.json()["key"]
    for method, path in (("GET", "/v1/me/notifications"),
                         ("GET", "/v1/me/notifications/unread-count"),
                         ("POST", "/v1/me/notifications/ticket"),
                         ("GET", "/v1/me/notification-preferences")):
        assert_problem(srv.request(method, path, token=key), 401, "unauthenticated")


# --- the user's stream ---------------------------------------------------------------

def test_notification_stream(srv, smtp_sink, owner):  # noqa: F811
    o = create_org(srv, owner)
    m = add_member(srv, smtp_sink, owner, o["id"], prefix="ntf-stream")
    with Stream(srv, "/v1/me/notifications/stream", token=m.token) as s:
        assert s.status == 200 and s.headers["content-type"].startswith("text/event-stream")
        set_role(srv, owner, o["id"], m, "viewer")
        msg = s.next(DEADLINE)
        assert msg["event"] == "notification", msg
        assert msg["data"]["type"] == "member.role_updated" and msg["id"] == msg["data"]["id"]
        assert set(msg["data"]) == NOTIFICATION_KEYS
        # the owner's own act reaches nobody's stream of the owner
        first = msg["id"]
    set_role(srv, owner, o["id"], m, "member")
    set_role(srv, owner, o["id"], m, "viewer")
    with Stream(srv, "/v1/me/notifications/stream", token=m.token,
                headers={"Last-Event-ID": first}) as s:
        got = [s.next(DEADLINE) for _ in range(2)]
        assert [x["data"]["data"]["to"] for x in got] == ["member", "viewer"], got
        assert s.drain(0.3) == []


def test_notification_stream_ticket(srv, smtp_sink, owner):  # noqa: F811
    o = create_org(srv, owner)
    m = add_member(srv, smtp_sink, owner, o["id"], prefix="ntf-ticket")
    tok = login(srv, m.email).json()["access_token"]
    r = srv.post("/v1/me/notifications/ticket", token=tok)
    assert r.status_code == 201, r.text
    t = r.json()["ticket"]
    assert r.json()["expires_in"] == 60
    with Stream(srv, "/v1/me/notifications/stream", params={"ticket": t}) as s:
        assert s.status == 200
        set_role(srv, owner, o["id"], m, "viewer")
        assert s.next(DEADLINE)["data"]["type"] == "member.role_updated"
        again = Stream(srv, "/v1/me/notifications/stream", params={"ticket": t})
        assert again.status == 401
        # an org stream does not take it either
        org_t = srv.post("/v1/me/notifications/ticket", token=tok).json()["ticket"]
        s2 = Stream(srv, "/v1/orgs/%s/events/stream" % o["id"], params={"ticket": org_t})
        assert s2.status == 401
        # signing out the session that minted the ticket ends the stream
        assert srv.post("/v1/auth/logout", token=tok).status_code == 204
        assert s.wait_closed(3.0)
