"""Tenant isolation (issue 5), table-driven: every route under /v1/orgs/{org}
is called (a) by a signed-in non-member, (b) by an owner of two orgs with the
other org's object ids, (c) with unknown org ids; all answer 404 not_found and
change nothing. The table must cover every /v1/orgs/{org} route of
src/http/routes.c. On PostgreSQL, row-level security hides every tenant row
from a query that did not set app.org_id."""

import re
import uuid

import pytest

import plinth
from plinth import assert_problem
from accounts_util import admin_create, login_ok
from orgs_util import add_member, create_org, invite_ok, members, new_user
from smtp_sink import mail_server, smtp_sink  # noqa: F401


INTRUDER_EMAIL = "intruder-%s@example.com" % uuid.uuid4().hex[:10]
INTRUDER_ROLE = "intruder"
COLL = "iso_tasks"      # an org-scoped collection
PCOLL = "iso_ptasks"    # a project-scoped collection

# Every route under /v1/orgs/{org}: method, template, a realistic body. The
# placeholders: {org}, {user} (a member's user id), {team}, {id} (a pending
# invitation), {key} (a custom role key), {apikey} (an API key id), {webhook}
# (a webhook endpoint id), {delivery} (one of its deliveries), {coll} and {pcoll}
# (an org- and a project-scoped collection), {record} and {precord} (records of them).
ROUTES = [
    ("GET", "/v1/orgs/{org}", None),
    ("PATCH", "/v1/orgs/{org}", {"name": "Hijacked", "slug": "hijacked-" + uuid.uuid4().hex[:8]}),
    ("GET", "/v1/orgs/{org}/members", None),
    ("PATCH", "/v1/orgs/{org}/members/{user}", {"role": "viewer"}),
    ("DELETE", "/v1/orgs/{org}/members/{user}", None),
    ("GET", "/v1/orgs/{org}/invitations", None),
    ("POST", "/v1/orgs/{org}/invitations", {"email": INTRUDER_EMAIL, "role": "member"}),
    ("DELETE", "/v1/orgs/{org}/invitations/{id}", None),
    ("GET", "/v1/orgs/{org}/teams", None),
    ("POST", "/v1/orgs/{org}/teams", {"name": "Intruders"}),
    ("GET", "/v1/orgs/{org}/teams/{team}", None),
    ("PATCH", "/v1/orgs/{org}/teams/{team}", {"name": "Hijacked"}),
    ("PUT", "/v1/orgs/{org}/teams/{team}/members/{user}", None),
    ("DELETE", "/v1/orgs/{org}/teams/{team}/members/{user}", None),
    ("DELETE", "/v1/orgs/{org}/teams/{team}", None),
    ("GET", "/v1/orgs/{org}/roles", None),
    ("POST", "/v1/orgs/{org}/roles", {"key": INTRUDER_ROLE, "name": "Intruder", "level": 1,
                                      "permissions": ["org.read"]}),
    ("PATCH", "/v1/orgs/{org}/roles/{key}", {"name": "Hijacked", "permissions": ["org.read"]}),
    ("DELETE", "/v1/orgs/{org}/roles/{key}", None),
    ("GET", "/v1/orgs/{org}/api-keys", None),
    ("POST", "/v1/orgs/{org}/api-keys", {"name": "intruder", "permissions": ["org.read"]}),
    ("DELETE", "/v1/orgs/{org}/api-keys/{apikey}", None),
    ("GET", "/v1/orgs/{org}/flags", None),
    ("GET", "/v1/orgs/{org}/audit-events", None),
    ("GET", "/v1/orgs/{org}/audit-events/export", None),
    ("GET", "/v1/orgs/{org}/audit-events/verify", None),
    ("POST", "/v1/orgs/{org}/events/ticket", None),
    ("GET", "/v1/orgs/{org}/events/stream", None),
    ("GET", "/v1/orgs/{org}/activity", None),
    ("GET", "/v1/orgs/{org}/billing", None),
    ("GET", "/v1/orgs/{org}/usage", None),
    ("POST", "/v1/orgs/{org}/billing/checkout", {"plan": "free",
                                                 "success_url": "https://app.example/ok",
                                                 "cancel_url": "https://app.example/no"}),
    ("POST", "/v1/orgs/{org}/billing/portal", {"return_url": "https://app.example/"}),
    ("GET", "/v1/orgs/{org}/projects", None),
    ("POST", "/v1/orgs/{org}/projects", {"name": "Intruders"}),
    ("GET", "/v1/orgs/{org}/projects/{project}", None),
    ("PATCH", "/v1/orgs/{org}/projects/{project}", {"name": "Hijacked"}),
    ("GET", "/v1/orgs/{org}/projects/{project}/members", None),
    ("PUT", "/v1/orgs/{org}/projects/{project}/members/{user}", {"role": "owner"}),
    ("POST", "/v1/orgs/{org}/projects/{project}/invitations",
     {"email": INTRUDER_EMAIL, "role": "owner"}),
    ("GET", "/v1/orgs/{org}/projects/{project}/environments", None),
    ("POST", "/v1/orgs/{org}/projects/{project}/environments", {"name": "intruders"}),
    ("GET", "/v1/orgs/{org}/projects/{project}/environments/{env}", None),
    ("PATCH", "/v1/orgs/{org}/projects/{project}/environments/{env}", {"name": "Hijacked"}),
    ("GET", "/v1/orgs/{org}/projects/{project}/environments/{env}/members", None),
    ("PUT", "/v1/orgs/{org}/projects/{project}/environments/{env}/members/{user}",
     {"role": "administrator"}),
    ("GET", "/v1/orgs/{org}/projects/{project}/environments/{env}/secrets", None),
    ("GET", "/v1/orgs/{org}/projects/{project}/environments/{env}/secrets/export", None),
    ("POST", "/v1/orgs/{org}/projects/{project}/environments/{env}/secrets/import",
     {"secrets": {"INTRUDER": "x"}}),
    ("GET", "/v1/orgs/{org}/projects/{project}/environments/{env}/secrets/{skey}", None),
    ("PUT", "/v1/orgs/{org}/projects/{project}/environments/{env}/secrets/{skey}",
     {"value": "hijacked"}),
    ("DELETE", "/v1/orgs/{org}/projects/{project}/environments/{env}/secrets/{skey}", None),
    ("DELETE", "/v1/orgs/{org}/projects/{project}/environments/{env}/members/{user}", None),
    ("DELETE", "/v1/orgs/{org}/projects/{project}/environments/{env}", None),
    ("DELETE", "/v1/orgs/{org}/projects/{project}/members/{user}", None),
    ("DELETE", "/v1/orgs/{org}/projects/{project}", None),
    ("GET", "/v1/orgs/{org}/webhooks", None),
    ("POST", "/v1/orgs/{org}/webhooks", {"url": "https://intruder.example/hook",
                                         "events": ["*"]}),
    ("GET", "/v1/orgs/{org}/webhooks/{webhook}", None),
    ("PATCH", "/v1/orgs/{org}/webhooks/{webhook}", {"url": "https://intruder.example/hook"}),
    ("POST", "/v1/orgs/{org}/webhooks/{webhook}/rotate-secret", None),
    ("POST", "/v1/orgs/{org}/webhooks/{webhook}/test", None),
    ("GET", "/v1/orgs/{org}/webhooks/{webhook}/deliveries", None),
    ("GET", "/v1/orgs/{org}/webhooks/{webhook}/deliveries/{delivery}", None),
    ("POST", "/v1/orgs/{org}/webhooks/{webhook}/deliveries/{delivery}/retry", None),
    ("DELETE", "/v1/orgs/{org}/webhooks/{webhook}", None),
    ("GET", "/v1/orgs/{org}/files", None),
    ("POST", "/v1/orgs/{org}/files?name=intruder.txt", None),
    ("GET", "/v1/orgs/{org}/files/{file}", None),
    ("GET", "/v1/orgs/{org}/files/{file}/content", None),
    ("POST", "/v1/orgs/{org}/files/{file}/url", None),
    ("DELETE", "/v1/orgs/{org}/files/{file}", None),
    ("GET", "/v1/orgs/{org}/collections/{coll}/records", None),
    ("POST", "/v1/orgs/{org}/collections/{coll}/records", {"title": "intruder"}),
    ("GET", "/v1/orgs/{org}/collections/{coll}/records/{record}", None),
    ("PATCH", "/v1/orgs/{org}/collections/{coll}/records/{record}", {"title": "hijacked"}),
    ("PUT", "/v1/orgs/{org}/collections/{coll}/records/{record}", {"title": "hijacked"}),
    ("GET", "/v1/orgs/{org}/collections/{coll}/records/{record}/grants", None),
    ("PUT", "/v1/orgs/{org}/collections/{coll}/records/{record}/grants/{user}",
     {"access": "write"}),
    ("DELETE", "/v1/orgs/{org}/collections/{coll}/records/{record}/grants/{user}", None),
    ("DELETE", "/v1/orgs/{org}/collections/{coll}/records/{record}", None),
    ("GET", "/v1/orgs/{org}/projects/{project}/collections/{pcoll}/records", None),
    ("POST", "/v1/orgs/{org}/projects/{project}/collections/{pcoll}/records",
     {"title": "intruder"}),
    ("GET", "/v1/orgs/{org}/projects/{project}/collections/{pcoll}/records/{precord}", None),
    ("PATCH", "/v1/orgs/{org}/projects/{project}/collections/{pcoll}/records/{precord}",
     {"title": "hijacked"}),
    ("PUT", "/v1/orgs/{org}/projects/{project}/collections/{pcoll}/records/{precord}",
     {"title": "hijacked"}),
    ("GET", "/v1/orgs/{org}/projects/{project}/collections/{pcoll}/records/{precord}/grants",
     None),
    ("PUT",
     "/v1/orgs/{org}/projects/{project}/collections/{pcoll}/records/{precord}/grants/{user}",
     {"access": "write"}),
    ("DELETE",
     "/v1/orgs/{org}/projects/{project}/collections/{pcoll}/records/{precord}/grants/{user}",
     None),
    ("DELETE", "/v1/orgs/{org}/projects/{project}/collections/{pcoll}/records/{precord}", None),
    ("GET", "/v1/orgs/{org}/sso", None),
    ("PUT", "/v1/orgs/{org}/sso", {"issuer": "https://intruder.example", "client_id": "x",
                                   "client_secret": "y", "domains": ["intruder.example"]}),
    ("DELETE", "/v1/orgs/{org}/sso", None),
    # Last: if it wrongly succeeded it would take the rest with it.
    ("DELETE", "/v1/orgs/{org}", None),
]
ROW_IDS = ["%s %s" % (m, p[len("/v1/orgs/{org}"):] or "/") for m, p, _ in ROUTES]
OBJECT_ROUTES = [r for r in ROUTES
                 if re.search(r"\{(user|team|id|key|apikey|project|env|skey|webhook|delivery"
                              r"|file|record|precord)\}", r[1])]
OBJECT_IDS = ["%s %s" % (m, p[len("/v1/orgs/{org}"):]) for m, p, _ in OBJECT_ROUTES]


def normalize(path):
    return re.sub(r"\{[^}]*\}", "{}", path.split("?")[0])


def test_table_covers_every_org_route():
    source = {(r["method"], normalize(r["path"])) for r in plinth.routes()
              if r["path"] == "/v1/orgs/{org}" or r["path"].startswith("/v1/orgs/{")}
    assert source, "no /v1/orgs/{org} routes in the route table"
    table = {(m, normalize(p)) for m, p, _ in ROUTES}
    missing = source - table
    assert not missing, "routes without an isolation row: %s" % sorted(missing)
    stale = table - source
    assert not stale, "isolation rows for routes that do not exist: %s" % sorted(stale)


# --- the world ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def srv(make_module_server, smtp_sink):  # noqa: F811
    return mail_server(make_module_server, smtp_sink, workers=2)


class Org:
    pass


def populate(srv, sink, owner, name, tag):
    """An org of owner with a member, a team holding that member, a pending
    invitation and a custom role."""
    o = Org()
    o.org = create_org(srv, owner, name=name)
    o.id = o.org["id"]
    o.member = add_member(srv, sink, owner, o.id, role="member", prefix=tag + "-member")
    r = srv.post("/v1/orgs/%s/teams" % o.id, json={"name": name + " team"}, token=owner.token)
    assert r.status_code == 201, r.text
    o.team = r.json()["id"]
    r = srv.put("/v1/orgs/%s/teams/%s/members/%s" % (o.id, o.team, o.member.id),
                token=owner.token)
    assert r.status_code == 204, r.text
    o.inv, _ = invite_ok(srv, sink, owner, o.id, "%s-pending-%s@example.com"
                         % (tag, uuid.uuid4().hex[:8]), "viewer")
    o.role = "%s_only_role" % tag
    r = srv.post("/v1/orgs/%s/roles" % o.id, json={"key": o.role, "name": name + " role",
                                                   "level": 1, "permissions": ["org.read"]},
                 token=owner.token)
    assert r.status_code == 201, r.text
    r = srv.post("/v1/orgs/%s/api-keys" % o.id, json={"name": name + " key",
                                                      "permissions": ["org.read"]},
                 token=owner.token)
    assert r.status_code == 201, r.text
    o.apikey = r.json()["id"]
    # a project whose member is the org's member, with a granted environment
    # holding a secret
    r = srv.post("/v1/orgs/%s/projects" % o.id, json={"name": name + " project"},
                 token=owner.token)
    assert r.status_code == 201, r.text
    o.project = r.json()["id"]
    base = "/v1/orgs/%s/projects/%s" % (o.id, o.project)
    r = srv.put(base + "/members/" + o.member.id, json={"role": "member"}, token=owner.token)
    assert r.status_code == 200, r.text
    o.env = srv.get(base + "/environments", token=owner.token).json()["data"][0]["id"]
    r = srv.put("%s/environments/%s/members/%s" % (base, o.env, o.member.id),
                json={"role": "viewer"}, token=owner.token)
    assert r.status_code == 200, r.text
    o.skey = tag.upper() + "_SECRET"
    r = srv.put("%s/environments/%s/secrets/%s" % (base, o.env, o.skey),
                json={"value": "value of " + tag}, token=owner.token)
    assert r.status_code == 200, r.text
    r = srv.put("/v1/orgs/%s/sso" % o.id,
                json={"issuer": "https://%s.sso.invalid" % tag, "client_id": tag,
                      "client_secret": "sso secret of " + tag,
                      "domains": ["%s-%s.sso.invalid" % (tag, o.id[-12:])]},
                token=owner.token)
    assert r.status_code == 200, r.text
    # An unresolvable name is accepted (each attempt checks its addresses).
    r = srv.post("/v1/orgs/%s/webhooks" % o.id, json={"url": "https://%s.hooks.invalid/in" % tag,
                                                      "events": ["team.*"]},
                 token=owner.token)
    assert r.status_code == 201, r.text
    o.webhook = r.json()["id"]
    r = srv.post("/v1/orgs/%s/webhooks/%s/test" % (o.id, o.webhook), token=owner.token)
    assert r.status_code == 202, r.text
    o.delivery = r.json()["delivery_id"]
    r = srv.post("/v1/orgs/%s/files?name=%s.txt" % (o.id, tag), data=b"file of " + tag.encode(),
                 headers={"Content-Type": "text/plain"}, token=owner.token)
    assert r.status_code == 201, r.text
    o.file = r.json()["id"]
    # a record of the org collection granted to the member, and one of the
    # project collection
    r = srv.post("/v1/orgs/%s/collections/%s/records" % (o.id, COLL), json={"title": tag},
                 token=owner.token)
    assert r.status_code == 201, r.text
    o.record = r.json()["id"]
    r = srv.put("/v1/orgs/%s/collections/%s/records/%s/grants/%s"
                % (o.id, COLL, o.record, o.member.id), json={"access": "read"},
                token=owner.token)
    assert r.status_code == 200, r.text
    r = srv.post("%s/collections/%s/records" % (base, PCOLL), json={"title": tag},
                 token=owner.token)
    assert r.status_code == 201, r.text
    o.precord = r.json()["id"]
    return o


class World:
    pass


@pytest.fixture(scope="module")
def w(srv, smtp_sink):  # noqa: F811
    x = World()
    email = "iso-admin-%s@example.com" % uuid.uuid4().hex[:8]
    p = admin_create(srv, email, "admin passphrase for isolation")
    assert p.returncode == 0, p.stderr
    admin = login_ok(srv, email, "admin passphrase for isolation")["access_token"]
    for name, scope in ((COLL, "org"), (PCOLL, "project")):
        r = srv.put("/v1/admin/collections/" + name, token=admin,
                    json={"scope": scope, "schema": {"type": "object", "properties": {
                        "title": {"type": "string"}}}})
        assert r.status_code == 201, r.text
    x.owner = new_user(srv, "both-owner")        # owns A and B
    x.a = populate(srv, smtp_sink, x.owner, "Org A", "a")
    x.b = populate(srv, smtp_sink, x.owner, "Org B", "b")
    x.stranger = new_user(srv, "stranger")      # signed in, member of neither
    x.snapshot = snapshot(srv, x)
    return x


def snapshot(srv, w):
    """Everything the rows could have changed, as seen by the owner."""
    out = {}
    for tag, o in (("a", w.a), ("b", w.b)):
        base = "/v1/orgs/" + o.id
        out[tag] = {
            "org": srv.get(base, token=w.owner.token).json(),
            "members": {k: v["role"] for k, v in members(srv, w.owner.token, o.id).items()},
            "teams": srv.get(base + "/teams", token=w.owner.token).json()["data"],
            "invitations": srv.get(base + "/invitations", token=w.owner.token).json()["data"],
            "roles": srv.get(base + "/roles", token=w.owner.token).json()["data"],
            "api_keys": [k["id"] for k in
                         srv.get(base + "/api-keys", token=w.owner.token).json()["data"]],
            "projects": srv.get(base + "/projects", token=w.owner.token).json()["data"],
            "environments": srv.get("%s/projects/%s/environments" % (base, o.project),
                                    token=w.owner.token).json()["data"],
            "project_members": srv.get("%s/projects/%s/members" % (base, o.project),
                                       token=w.owner.token).json()["data"],
            "secrets": srv.get("%s/projects/%s/environments/%s/secrets" % (base, o.project, o.env),
                               token=w.owner.token).json()["data"],
            "webhooks": [(h["id"], h["url"], h["events"], h["enabled"]) for h in
                         srv.get(base + "/webhooks", token=w.owner.token).json()["data"]],
            "records": srv.get(base + "/collections/%s/records" % COLL,
                               token=w.owner.token).json()["data"],
            "grants": srv.get(base + "/collections/%s/records/%s/grants" % (COLL, o.record),
                              token=w.owner.token).json()["data"],
            "project_records": srv.get("%s/projects/%s/collections/%s/records"
                                       % (base, o.project, PCOLL),
                                       token=w.owner.token).json()["data"],
            "deliveries": [d["id"] for d in
                           srv.get(base + "/webhooks/%s/deliveries" % o.webhook,
                                   token=w.owner.token).json()["data"]],
            "files": srv.get(base + "/files", token=w.owner.token).json()["data"],
        }
    return out


def fill(template, o, org_ref=None):
    return (template.replace("{org}", org_ref or o.id).replace("{user}", o.member.id)
            .replace("{team}", o.team).replace("{id}", o.inv["id"]).replace("{key}", o.role)
            .replace("{apikey}", o.apikey).replace("{project}", o.project)
            .replace("{env}", o.env).replace("{skey}", o.skey)
            .replace("{webhook}", o.webhook).replace("{delivery}", o.delivery)
            .replace("{file}", o.file)
            .replace("{coll}", COLL).replace("{pcoll}", PCOLL)
            .replace("{precord}", o.precord).replace("{record}", o.record))


def call(srv, token, method, path, body):
    return srv.request(method, path, json=body, token=token)


# --- the table ---------------------------------------------------------------------------

def test_control_owner_reaches_its_objects(srv, w):
    """The paths are right: the owner reads each org's objects through them
    (an event stream answers 200 and goes on: only its head is read)."""
    for o in (w.a, w.b):
        for method, template, _ in ROUTES:
            if method == "GET":
                r = srv.get(fill(template, o), token=w.owner.token, stream=True)
                assert r.status_code == 200, (template, r.status_code, r.text)
                r.close()


@pytest.mark.parametrize("route", ROUTES, ids=ROW_IDS)
def test_non_member_gets_404(srv, w, route):
    method, template, body = route
    for ref in (w.a.id, w.a.org["slug"]):
        r = call(srv, w.stranger.token, method, fill(template, w.a, org_ref=ref), body)
        assert_problem(r, 404, "not_found")


@pytest.mark.parametrize("route", OBJECT_ROUTES, ids=OBJECT_IDS)
def test_other_orgs_objects_get_404(srv, w, route):
    """The owner of both A and B addresses B's objects through A's path (and
    A's through B's)."""
    method, template, body = route
    for here, there in ((w.a, w.b), (w.b, w.a)):
        path = fill(template, there, org_ref=here.id)
        r = call(srv, w.owner.token, method, path, body)
        assert_problem(r, 404, "not_found")


@pytest.mark.parametrize("route", ROUTES, ids=ROW_IDS)
def test_anonymous_gets_401(srv, w, route):
    method, template, body = route
    for token in (None, "not-a-jwt"):
        r = call(srv, token, method, fill(template, w.a), body)
        assert_problem(r, 401, "unauthenticated" if token is None else "invalid_token")


@pytest.mark.parametrize("route", ROUTES, ids=ROW_IDS)
def test_unknown_org_gets_404(srv, w, route):
    method, template, body = route
    for ref in (str(uuid.uuid4()), "no-such-org-" + uuid.uuid4().hex[:6], "x"):
        r = call(srv, w.owner.token, method, fill(template, w.a, org_ref=ref), body)
        assert_problem(r, 404, "not_found")


def test_team_member_from_another_org_is_refused(srv, w):
    """A's team, B's member: not an org member of A, so 422 (and never added)."""
    path = "/v1/orgs/%s/teams/%s/members/%s" % (w.a.id, w.a.team, w.b.member.id)
    assert_problem(srv.put(path, token=w.owner.token), 422, "validation_failed")
    r = srv.delete(path, token=w.owner.token)
    assert r.status_code in (404, 422), r.text
    t = srv.get("/v1/orgs/%s/teams/%s" % (w.a.id, w.a.team), token=w.owner.token).json()
    assert t["member_count"] == 1, t


def test_other_orgs_role_cannot_be_assigned(srv, smtp_sink, w):  # noqa: F811
    """B's custom role key means nothing in A."""
    r = srv.patch("/v1/orgs/%s/members/%s" % (w.a.id, w.a.member.id), json={"role": w.b.role},
                  token=w.owner.token)
    assert_problem(r, 422, "validation_failed")
    r = srv.post("/v1/orgs/%s/invitations" % w.a.id,
                 json={"email": "rolecheck-%s@example.com" % uuid.uuid4().hex[:8],
                       "role": w.b.role}, token=w.owner.token)
    assert_problem(r, 422, "validation_failed")


def test_members_of_one_org_see_nothing_of_the_other(srv, w):
    am, bm = w.a.member, w.b.member
    for method, template, body in ROUTES:
        if method != "GET":
            continue
        assert_problem(call(srv, am.token, method, fill(template, w.b), body), 404, "not_found")
        assert_problem(call(srv, bm.token, method, fill(template, w.a), body), 404, "not_found")
    assert w.b.id not in {o["id"] for o in srv.get("/v1/orgs", token=am.token).json()["data"]}


def test_nothing_changed(srv, w):
    """Run after the table: no row changed anything in either org."""
    assert snapshot(srv, w) == w.snapshot
    for o in (w.a, w.b):
        base = "/v1/orgs/" + o.id
        invs = srv.get(base + "/invitations", token=w.owner.token).json()["data"]
        assert INTRUDER_EMAIL not in [i["email"] for i in invs]
        roles = srv.get(base + "/roles", token=w.owner.token).json()["data"]
        assert INTRUDER_ROLE not in [x["key"] for x in roles]
    for u in (w.stranger, w.a.member, w.b.member):
        orgs = {o["id"] for o in srv.get("/v1/me", token=u.token).json()["organizations"]}
        assert orgs == {u.personal_org} | ({w.a.id} if u is w.a.member else set()) | \
            ({w.b.id} if u is w.b.member else set()), orgs


# --- PostgreSQL row-level security -------------------------------------------------------------

TENANT_TABLES = ("memberships", "invitations", "teams", "team_members", "roles", "org_billing",
                 "billing_usage", "webhook_endpoints", "webhook_deliveries", "files", "records",
                 "record_grants")


def _pg(srv, sql):
    return plinth.psql(sql, url=srv.pg_url).strip()


def _pg_as_org(srv, org_id, sql):
    out = plinth.psql("BEGIN; SELECT set_config('app.org_id', '%s', true); %s; COMMIT;"
                      % (org_id, sql), url=srv.pg_url)
    return [x for x in out.splitlines() if x.strip()][-1]


@pytest.fixture
def pg_only(engine):
    if engine != "postgres":
        pytest.skip("row-level security is PostgreSQL only")


def test_rls_hides_tenant_rows_without_org(srv, w, pg_only):
    # The test connects exactly as plinth does: the app role, not a superuser.
    assert _pg(srv, "SELECT current_user") == plinth.APP_ROLE
    assert _pg(srv, "SELECT rolsuper OR rolbypassrls FROM pg_roles "
                    "WHERE rolname = current_user") == "f"
    for t in TENANT_TABLES:
        assert _pg(srv, "SELECT count(*) FROM %s" % t) == "0", t
        assert _pg(srv, "SELECT count(*) FROM %s WHERE org_id = '%s'" % (t, w.a.id)) == "0", t
    assert int(_pg(srv, "SELECT count(*) FROM users")) >= 4
    assert int(_pg(srv, "SELECT count(*) FROM organizations")) >= 2
    # An empty or bogus app.org_id shows nothing either.
    for val in ("", str(uuid.uuid4())):
        for t in TENANT_TABLES:
            assert _pg_as_org(srv, val, "SELECT count(*) FROM %s" % t) == "0", (t, val)


INSTANCE_TABLES = {"flag_overrides"}


def test_every_org_table_forces_rls(srv, w, pg_only):
    """Every table with an org_id column (today's and tomorrow's) has row-level
    security enabled and forced, with at least one policy."""
    rows = _pg(srv, "SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity, "
                    "(SELECT count(*) FROM pg_policy p WHERE p.polrelid = c.oid) "
                    "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'org_id' "
                    "AND NOT a.attisdropped "
                    "WHERE c.relkind IN ('r', 'p') AND n.nspname = current_schema() "
                    "ORDER BY 1")
    tables = {}
    for line in rows.splitlines():
        name, enabled, forced, policies = line.split("|")
        tables[name] = (enabled, forced, int(policies))
    assert set(TENANT_TABLES) <= set(tables), tables
    # flag_overrides is instance-admin configuration keyed by org (read whole
    # into every instance's flag snapshot), not data an org owns: exempt.
    bad = {t: v for t, v in tables.items()
           if t not in INSTANCE_TABLES and (v[0] != "t" or v[1] != "t" or v[2] < 1)}
    assert not bad, "tenant tables without forced row-level security: %r" % bad


def test_rls_shows_only_the_set_org(srv, w, pg_only):
    for o in (w.a, w.b):
        counts = {}
        for t in TENANT_TABLES:
            row = _pg_as_org(srv, o.id, "SELECT count(*), count(*) FILTER (WHERE org_id = '%s') "
                                        "FROM %s" % (o.id, t))
            total, mine = (int(v) for v in row.split("|"))
            assert total == mine, (t, row)
            counts[t] = total
        # owner + member; the member's accepted and the pending invitation;
        # one team with one member; one custom role; one webhook endpoint with
        # its test delivery; one file; two records, one of them granted; the
        # stored counters of storage_bytes and records (billing_usage).
        assert counts == {"memberships": 2, "invitations": 2, "teams": 1, "team_members": 1,
                          "roles": 1, "org_billing": 1, "billing_usage": 2,
                          "webhook_endpoints": 1, "webhook_deliveries": 1, "files": 1,
                          "records": 2, "record_grants": 1}, counts
    # Writes are fenced too: an update without app.org_id touches nothing.
    out = plinth.psql("UPDATE teams SET name = 'pwned'", url=srv.pg_url)
    r = srv.get("/v1/orgs/%s/teams/%s" % (w.a.id, w.a.team), token=w.owner.token)
    assert r.json()["name"] == "Org A team", (out, r.text)
