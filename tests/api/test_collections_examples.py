"""The worked examples of collections (issue 16): examples/project-management and
examples/standups are applied with `plinth collections apply`, then a short scenario
of each product is played through the API, as its README section shows with curl."""

import os
import uuid

import pytest

import plinth
from orgs_util import add_member, create_org, new_user
from projects_util import create_project
from smtp_sink import mail_server, smtp_sink  # noqa: F401

EXAMPLES = os.path.join(plinth.ROOT, "examples")


@pytest.fixture(scope="module")
def srv(make_module_server, smtp_sink):  # noqa: F811
    s = mail_server(make_module_server, smtp_sink, workers=2)
    env = {"PLINTH_DATABASE_URL": s.pg_url} if s.pg_url else {}
    for ex in ("project-management", "standups"):
        p = plinth.run_cli(["collections", "apply", os.path.join(EXAMPLES, ex, "collections.json"),
                            "--data", s.data_dir], env=env, timeout=30)
        assert p.returncode == 0, (p.stdout, p.stderr)
        assert "created" in p.stdout, p.stdout
        # applying again changes nothing
        p = plinth.run_cli(["collections", "apply", os.path.join(EXAMPLES, ex, "collections.json"),
                            "--data", s.data_dir], env=env, timeout=30)
        assert p.returncode == 0 and "created" not in p.stdout and "updated" not in p.stdout, \
            p.stdout
    return s


def ok(r, status=200):
    assert r.status_code == status, (r.status_code, r.text)
    return r.json() if r.content else None


def wait_for_definitions(srv, token, names):
    """The running server picks up definitions another process applied within a second."""
    import time
    deadline = time.monotonic() + 10
    while True:
        r = srv.get("/v1/permissions", token=token)
        keys = {p["key"] for p in r.json()["data"]}
        if all(n + ".read" in keys for n in names):
            return
        assert time.monotonic() < deadline, keys
        time.sleep(0.1)


def test_project_management(srv, smtp_sink):  # noqa: F811
    lead = new_user(srv, "pmlead")
    org = create_org(srv, lead)["id"]
    dev = add_member(srv, smtp_sink, lead, org, "member", prefix="pmdev")
    wait_for_definitions(srv, lead.token, ["tasks", "milestones", "comments", "attachments"])
    proj = create_project(srv, lead, org, "Website " + uuid.uuid4().hex[:6])
    ok(srv.put("/v1/orgs/%s/projects/%s/members/%s" % (org, proj["id"], dev.id),
               json={"role": "member"}, token=lead.token))
    base = "/v1/orgs/%s/projects/%s/collections" % (org, proj["slug"])

    ms = ok(srv.post(base + "/milestones/records", token=lead.token,
                     json={"name": "Launch", "due_date": "2026-12-01", "status": "open"}), 201)
    task = ok(srv.post(base + "/tasks/records", token=lead.token,
                       json={"title": "Design the landing page", "status": "todo",
                             "priority": "high", "assignee": dev.id, "due_date": "2026-11-30",
                             "milestone": ms["id"], "labels": ["design"]}), 201)
    sub = ok(srv.post(base + "/tasks/records", token=dev.token,
                      json={"title": "Pick the hero image", "status": "todo",
                            "parent_task": task["id"]}), 201)
    # the assignee was notified
    n = ok(srv.get("/v1/me/notifications", token=dev.token))
    assert any(x["type"] == "record.assigned" and x["data"]["record_id"] == task["id"]
               for x in n["data"]), n
    # a bad status, an unknown label type, a due date that is no date
    r = srv.post(base + "/tasks/records", token=dev.token,
                 json={"title": "x", "status": "later", "due_date": "2026-02-30"})
    plinth.assert_problem(r, 422, "validation_failed")
    assert {e["field"] for e in r.json()["errors"]} == {"/status", "/due_date"}

    # the developer moves the task on, with the version they saw
    r = srv.patch(base + "/tasks/records/" + task["id"], token=dev.token,
                  json={"status": "in_progress"}, headers={"If-Match": '"1"'})
    moved = ok(r)
    assert moved["version"] == 2 and moved["data"]["priority"] == "high"
    r = srv.patch(base + "/tasks/records/" + task["id"], token=lead.token,
                  json={"status": "done"}, headers={"If-Match": '"1"'})
    plinth.assert_problem(r, 412, "precondition_failed")
    comment = ok(srv.post(base + "/comments/records", token=dev.token,
                          json={"task": task["id"], "body": "Draft is in the shared folder"}),
                 201)
    # an attachment points at a file uploaded to the org (x-file); an id that
    # is no file of the org is refused
    png = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06"
           b"\x00\x00\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01"
           b"\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82")
    upload = ok(srv.post("/v1/orgs/%s/files?name=draft.png" % org, token=dev.token, data=png,
                         headers={"Content-Type": "image/png"}), 201)
    ok(srv.post(base + "/attachments/records", token=dev.token,
                json={"task": task["id"], "file": upload["id"], "name": "draft.png"}), 201)
    r = srv.post(base + "/attachments/records", token=dev.token,
                 json={"task": task["id"], "file": str(uuid.uuid4()), "name": "other.png"})
    plinth.assert_problem(r, 422, "validation_failed")
    assert [e["field"] for e in r.json()["errors"]] == ["/file"], r.text
    # nor is a file of another organization
    elsewhere = ok(srv.post("/v1/orgs", json={"name": "Elsewhere"}, token=dev.token), 201)
    theirs = ok(srv.post("/v1/orgs/%s/files?name=x.png" % elsewhere["id"], token=dev.token,
                         data=png, headers={"Content-Type": "image/png"}), 201)
    r = srv.post(base + "/attachments/records", token=dev.token,
                 json={"task": task["id"], "file": theirs["id"], "name": "x.png"})
    plinth.assert_problem(r, 422, "validation_failed")

    # the board: tasks in progress, my tasks, search
    ids = lambda r: [x["id"] for x in ok(r)["data"]]  # noqa: E731
    assert ids(srv.get(base + "/tasks/records", token=lead.token,
                       params={"filter[status]": "in_progress"})) == [task["id"]]
    assert ids(srv.get(base + "/tasks/records", token=dev.token,
                       params={"filter[assignee]": dev.id})) == [task["id"]]
    assert ids(srv.get(base + "/tasks/records", token=dev.token,
                       params={"filter[parent_task]": task["id"]})) == [sub["id"]]
    assert ids(srv.get(base + "/tasks/records", token=dev.token,
                       params={"q": "landing"})) == [task["id"]]
    assert ids(srv.get(base + "/comments/records", token=lead.token,
                       params={"filter[task]": task["id"]})) == [comment["id"]]
    assert ids(srv.get(base + "/tasks/records", token=dev.token,
                       params={"sort": "due_date", "filter[due_date][exists]": "true"})) == \
        [task["id"]]

    # the creator rule: the developer may not delete the lead's task
    r = srv.delete(base + "/tasks/records/" + task["id"], token=dev.token)
    plinth.assert_problem(r, 403, "forbidden")
    # deleting the milestone clears the task's milestone
    ok(srv.delete(base + "/milestones/records/" + ms["id"], token=lead.token), 204)
    assert ok(srv.get(base + "/tasks/records/" + task["id"],
                      token=lead.token))["data"]["milestone"] is None
    # deleting the task takes its subtasks, comments and attachments
    ok(srv.delete(base + "/tasks/records/" + task["id"], token=lead.token), 204)
    for c, rid in (("tasks", sub["id"]), ("comments", comment["id"])):
        plinth.assert_problem(srv.get(base + "/%s/records/%s" % (c, rid), token=lead.token),
                              404, "not_found")
    assert ok(srv.get(base + "/attachments/records", token=lead.token))["data"] == []
    # another project sees none of it
    other = create_project(srv, lead, org, "Other " + uuid.uuid4().hex[:6])
    assert ok(srv.get("/v1/orgs/%s/projects/%s/collections/tasks/records" % (org, other["id"]),
                      token=lead.token))["data"] == []


def test_standups(srv, smtp_sink):  # noqa: F811
    manager = new_user(srv, "sumgr")
    org = create_org(srv, manager)["id"]
    alice = add_member(srv, smtp_sink, manager, org, "member", prefix="sualice")
    bob = add_member(srv, smtp_sink, manager, org, "member", prefix="subob")
    wait_for_definitions(srv, manager.token, ["standup_configs", "standups", "standup_answers",
                                              "standup_participation"])
    team = ok(srv.post("/v1/orgs/%s/teams" % org, json={"name": "Web"}, token=manager.token), 201)
    base = "/v1/orgs/%s/collections" % org
    questions = ["What did you do yesterday?", "What will you do today?", "Anything blocking?"]
    config = ok(srv.post(base + "/standup_configs/records", token=manager.token, json={
        "name": "Web daily", "team_id": team["id"], "questions": questions,
        "schedule": {"days": ["mon", "tue", "wed", "thu", "fri"], "time": "09:30",
                     "timezone": "Europe/Berlin"},
        "participants": [alice.id, bob.id], "active": True}), 201)
    r = srv.post(base + "/standup_configs/records", token=manager.token, json={
        "name": "Broken", "questions": [], "participants": [], "active": True,
        "schedule": {"days": ["someday"], "time": "25:00", "timezone": "UTC"}})
    plinth.assert_problem(r, 422, "validation_failed")
    assert {e["field"] for e in r.json()["errors"]} >= {
        "/questions", "/schedule/days/0", "/schedule/time"}

    standup = ok(srv.post(base + "/standups/records", token=manager.token,
                          json={"config": config["id"], "date": "2026-11-23", "status": "open"}),
                 201)
    for who in (alice, bob):
        for i, q in enumerate(questions):
            ok(srv.post(base + "/standup_answers/records", token=who.token, json={
                "standup": standup["id"], "participant": who.id, "question_index": i,
                "answer": "%s answers: %s" % (who.email.split("@")[0], q)}), 201)
        ok(srv.post(base + "/standup_participation/records", token=manager.token, json={
            "standup": standup["id"], "participant": who.id, "status": "answered",
            "answered_at": "2026-11-23T09:41:00.000Z"}), 201)
    answers = ok(srv.get(base + "/standup_answers/records", token=manager.token,
                         params={"filter[standup]": standup["id"], "limit": 200}))["data"]
    assert len(answers) == 6
    mine = ok(srv.get(base + "/standup_answers/records", token=alice.token,
                      params={"filter[standup]": standup["id"], "filter[participant]": alice.id,
                              "sort": "question_index"}))["data"]
    assert [a["data"]["question_index"] for a in mine] == [0, 1, 2]
    # one answer per participant and question: the client checks before adding
    assert not [a for a in answers if a["data"]["participant"] == bob.id
                and a["data"]["question_index"] == 3]
    # bob may not edit alice's answer (creator rule), alice may
    r = srv.patch(base + "/standup_answers/records/" + mine[2]["id"], token=bob.token,
                  json={"answer": "nothing"})
    plinth.assert_problem(r, 403, "forbidden")
    ok(srv.patch(base + "/standup_answers/records/" + mine[2]["id"], token=alice.token,
                 json={"answer": "Blocked on the API review"}))
    hits = ok(srv.get(base + "/standup_answers/records", token=manager.token,
                      params={"q": "blocked review"}))["data"]
    assert [h["id"] for h in hits] == [mine[2]["id"]]
    closed = ok(srv.patch(base + "/standups/records/" + standup["id"], token=manager.token,
                          json={"status": "closed"}))
    assert closed["data"]["status"] == "closed"
    assert len(ok(srv.get(base + "/standup_participation/records", token=manager.token,
                          params={"filter[status]": "answered"}))["data"]) == 2
    # another org sees nothing
    stranger = new_user(srv, "sustranger")
    plinth.assert_problem(srv.get(base + "/standups/records/" + standup["id"],
                                  token=stranger.token), 404, "not_found")
    # deleting the configuration takes its standups, answers and participation
    ok(srv.delete(base + "/standup_configs/records/" + config["id"], token=manager.token), 204)
    for c in ("standups", "standup_answers", "standup_participation"):
        assert ok(srv.get(base + "/%s/records" % c, token=manager.token))["data"] == [], c
