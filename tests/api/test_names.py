"""Names people read (of users, organizations, teams, roles, API keys) refuse
control characters with 422 (issue 11): CR, LF and NUL would land verbatim in
emails (a header injection waiting to happen) and log lines, and bidirectional
overrides make a name read as something else. Ordinary Unicode, emoji with
joiners included, stays accepted."""

import pytest

from plinth import assert_problem
from accounts_util import FAST_ARGON2, PASSWORD, register, unique_email

BAD = ["Eve\r\nBcc: victim@example.com", "Eve\nMallory", "tab\there", "bell\x07",
       "del\x7f", "c1\u0085next", "line\u2028sep", "rtl\u202eevil", "iso\u2066late"]
GOOD = ["Zoë Ångström", "李小龙", "👩\u200d💻 team", "O'Brien-Smith (ops)"]


@pytest.fixture(scope="module")
def srv(make_module_server):
    return make_module_server(args=FAST_ARGON2)


@pytest.fixture(scope="module")
def owner(srv):
    body = register(srv)
    org = srv.post("/v1/orgs", json={"name": "Names Inc"}, token=body["access_token"]).json()
    return body["access_token"], org["id"]


def assert_name_refused(r):
    assert_problem(r, 422, "validation_failed")
    fields = {e["field"]: e["code"] for e in r.json()["errors"]}
    assert fields.get("name") == "invalid", r.text


@pytest.mark.parametrize("name", BAD)
def test_registration_refuses_control_characters(srv, name):
    assert_name_refused(srv.post("/v1/auth/register", json={
        "email": unique_email(), "password": PASSWORD, "name": name}))


@pytest.mark.parametrize("name", BAD)
def test_name_fields_refuse_control_characters(srv, owner, name):
    token, org = owner
    assert_name_refused(srv.patch("/v1/me", json={"name": name}, token=token))
    assert_name_refused(srv.post("/v1/orgs", json={"name": name}, token=token))
    assert_name_refused(srv.patch("/v1/orgs/%s" % org, json={"name": name}, token=token))
    assert_name_refused(srv.post("/v1/orgs/%s/teams" % org, json={"name": name}, token=token))
    assert_name_refused(srv.post("/v1/orgs/%s/roles" % org, json={
        "key": "odd", "name": name, "level": 2, "permissions": ["org.read"]}, token=token))
    assert_name_refused(srv.post("/v1/orgs/%s/api-keys" % org, json={
        "name": name, "role": "viewer"}, token=token))


@pytest.mark.parametrize("name", GOOD)
def test_ordinary_unicode_names_are_accepted(srv, owner, name):
    token, org = owner
    r = srv.patch("/v1/me", json={"name": name}, token=token)
    assert r.status_code == 200 and r.json()["name"] == name, r.text
    r = srv.post("/v1/orgs/%s/teams" % org, json={"name": name}, token=token)
    assert r.status_code == 201 and r.json()["name"] == name, r.text
