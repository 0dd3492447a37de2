"""A user's locale (`PATCH /v1/me`) and email templates a product overrides from a
directory (`--templates DIR`), with per-locale variants chosen from the recipient's
locale (docs/email.md). Messages arrive at a real SMTP sink."""

import os
import tempfile

import pytest

import plinth
from plinth import assert_problem
from accounts_util import admin_create, login_ok, me, register, unique_email
from smtp_sink import PUBLIC_URL, mail_server, smtp_sink  # noqa: F401

TEMPLATES = {
    # the default override of verify_email: subject and text, the HTML stays built-in
    "verify_email.subject": "Confirm your {{product}} address\n",
    "verify_email.txt": "EN-OVERRIDE {{greeting}} {{link}}\n",
    # password_reset: a default subject; German text and HTML (the subject falls back
    # to the default override); Brazilian Portuguese only for the subject
    "password_reset.subject": "Reset your {{product}} password (override)\n",
    "password_reset.de.txt": "DE-OVERRIDE Hallo {{name}}, neues Passwort: {{link}}\n",
    "password_reset.de.html": "<!DOCTYPE html><html><body><p>DE-HTML {{name}}</p>"
                              "<a href=\"{{link}}\">Passwort w\u00e4hlen</a></body></html>\n",
    "password_reset.pt-BR.subject": "PT-BR Redefina sua senha do {{product}}\n",
    # invitations in French, for invitees whose account says so
    "invitation.fr.subject": "FR Invitation à rejoindre {{org_name}} par {{inviter_name}}\n",
    # not an override (no known part): ignored
    "README.md": "notes for the translators\n",
}


@pytest.fixture(scope="module")
def template_dir():
    d = tempfile.mkdtemp(prefix="plinth-templates-")
    for name, body in TEMPLATES.items():
        with open(os.path.join(d, name), "w", encoding="utf-8") as f:
            f.write(body)
    return d


@pytest.fixture(scope="module")
def srv(make_module_server, smtp_sink, template_dir):  # noqa: F811
    return mail_server(make_module_server, smtp_sink, workers=1,
                       args=["--templates", template_dir],
                       env={"PLINTH_PRODUCT_NAME": "Acme Cloud"})


def patch_me(srv, token, body):
    return srv.patch("/v1/me", json=body, token=token)


# --- the locale field --------------------------------------------------------------------

def test_locale_is_null_until_set_and_returned_everywhere(srv):
    addr = unique_email("loc")
    body = register(srv, addr)
    assert body["user"]["locale"] is None, body
    tok = body["access_token"]
    assert me(srv, tok).json()["locale"] is None

    r = patch_me(srv, tok, {"locale": "de"})
    assert r.status_code == 200, r.text
    assert r.json()["locale"] == "de"
    assert me(srv, tok).json()["locale"] == "de"
    # sign-in answers carry it too
    assert login_ok(srv, addr)["user"]["locale"] == "de"


def test_locale_is_stored_in_conventional_case(srv):
    tok = register(srv)["access_token"]
    for given, stored in [("PT-br", "pt-BR"), ("zh-hant-tw", "zh-Hant-TW"), ("EN", "en"),
                          ("es-419", "es-419"), ("sr-Latn-RS", "sr-Latn-RS")]:
        r = patch_me(srv, tok, {"locale": given})
        assert r.status_code == 200, (given, r.text)
        assert r.json()["locale"] == stored, (given, r.json())


def test_locale_name_and_clearing(srv):
    tok = register(srv, name="Before")["access_token"]
    r = patch_me(srv, tok, {"name": "After", "locale": "fr-CA"})
    assert r.status_code == 200, r.text
    assert (r.json()["name"], r.json()["locale"]) == ("After", "fr-CA")
    # null and absent leave it as it is
    assert patch_me(srv, tok, {"locale": None}).json()["locale"] == "fr-CA"
    assert patch_me(srv, tok, {"name": "Again"}).json()["locale"] == "fr-CA"
    # "" clears it
    r = patch_me(srv, tok, {"locale": ""})
    assert r.status_code == 200, r.text
    assert r.json()["locale"] is None
    assert me(srv, tok).json()["locale"] is None


@pytest.mark.parametrize("bad", ["e", "english", "de_DE", "de-", "-de", "de--at", "d3",
                                 "de-123456789", "de AT", "de-AT.txt", "../../etc",
                                 "de-" + "a" * 33, "ü-de"])
def test_locale_shape_is_validated(srv, bad):
    tok = register(srv)["access_token"]
    r = patch_me(srv, tok, {"locale": bad})
    assert_problem(r, 422, "validation_failed")
    assert any(e["field"] == "locale" for e in r.json()["errors"]), r.json()
    assert me(srv, tok).json()["locale"] is None


def test_locale_must_be_a_string(srv):
    tok = register(srv)["access_token"]
    for bad in (42, True, ["de"], {"tag": "de"}):
        r = patch_me(srv, tok, {"locale": bad})
        assert_problem(r, 422, "validation_failed")


def test_admins_see_the_locale(srv):
    admin = unique_email("admin")
    assert admin_create(srv, admin).returncode == 0
    admin_tok = login_ok(srv, admin)["access_token"]
    addr = unique_email("loc")
    tok = register(srv, addr)["access_token"]
    patch_me(srv, tok, {"locale": "it"})
    r = srv.get("/v1/admin/users", params={"query": addr}, token=admin_tok)
    assert r.status_code == 200, r.text
    [u] = r.json()["data"]
    assert u["locale"] == "it", u


# --- template overrides -----------------------------------------------------------------

def test_override_without_locale(srv, smtp_sink):  # noqa: F811
    addr = unique_email("tpl")
    register(srv, addr, name="Ann")
    m = smtp_sink.wait_for_to(addr, path="/verify-email")
    # subject and text come from the directory, with their variables expanded
    assert m.subject() == "Confirm your Acme Cloud address", m.subject()
    text = m.text()
    assert text.startswith("EN-OVERRIDE Hi Ann, " + PUBLIC_URL + "/verify-email?token="), text
    assert "automated message" not in text  # an override is the whole part
    # no HTML override: the built-in one, with the product's name
    html = m.html()
    assert "Verify email address" in html and "Acme Cloud" in html, html
    assert "{{" not in text + html + m.subject()


def request_reset(srv, sink, addr):
    r = srv.post("/v1/auth/password-reset/request", json={"email": addr})
    assert r.status_code == 202, r.text
    return sink.wait_for_to(addr, path="/reset-password")


def test_locale_variant_is_chosen_from_the_recipient(srv, smtp_sink):  # noqa: F811
    addr = unique_email("tplde")
    tok = register(srv, addr, name="Jörg")["access_token"]
    # de-AT has no files of its own: it falls back to de
    assert patch_me(srv, tok, {"locale": "de-AT"}).json()["locale"] == "de-AT"
    m = request_reset(srv, smtp_sink, addr)
    text = m.text()
    assert text.startswith("DE-OVERRIDE Hallo Jörg, neues Passwort: " + PUBLIC_URL), text
    html = m.html()
    assert "DE-HTML Jörg" in html and "Passwort w\u00e4hlen</a>" in html, html
    assert "automated message" not in html
    # no German subject: the default override
    assert m.subject() == "Reset your Acme Cloud password (override)", m.subject()
    # the link works; the notice that follows has no override at all: built-in
    r = srv.post("/v1/auth/password-reset",
                 json={"token": m.token("/reset-password"), "new_password": "another long passphrase 7"})
    assert r.status_code == 204, r.text
    n = smtp_sink.wait_for_to(addr, subject="changed")
    assert n.subject() == "Your password was changed", n.subject()
    assert "password of your Acme Cloud account was just changed" in n.text(), n.text()


def test_parts_without_override_stay_built_in(srv, smtp_sink):  # noqa: F811
    addr = unique_email("tplpt")
    tok = register(srv, addr)["access_token"]
    patch_me(srv, tok, {"locale": "pt-BR"})
    m = request_reset(srv, smtp_sink, addr)
    assert m.subject() == "PT-BR Redefina sua senha do Acme Cloud", m.subject()
    # the text and HTML of password_reset have no pt or default override
    assert "reset the password of your Acme Cloud account" in m.text(), m.text()
    assert "Choose a new password" in m.html()
    # a locale without files: the default override of the subject, built-in bodies
    addr = unique_email("tplja")
    tok = register(srv, addr)["access_token"]
    patch_me(srv, tok, {"locale": "ja"})
    m = request_reset(srv, smtp_sink, addr)
    assert m.subject() == "Reset your Acme Cloud password (override)", m.subject()
    assert "reset the password of your Acme Cloud account" in m.text(), m.text()


def test_invitation_uses_the_invitees_locale(srv, smtp_sink):  # noqa: F811
    from orgs_util import create_org, invite, new_user
    owner = new_user(srv, "owner", name="Olga")
    org = create_org(srv, owner, name="Fromagerie")
    invitee = new_user(srv, "invitee")
    patch_me(srv, invitee.token, {"locale": "fr"})
    assert invite(srv, owner, org["id"], invitee.email).status_code == 201
    m = smtp_sink.wait_for_to(invitee.email, path="/accept-invite")
    assert m.subject() == "FR Invitation à rejoindre Fromagerie par Olga", m.subject()
    # an address without an account: the default (built-in) subject
    stranger = unique_email("stranger")
    assert invite(srv, owner, org["id"], stranger).status_code == 201
    m = smtp_sink.wait_for_to(stranger, path="/accept-invite")
    assert m.subject() == "You are invited to join Fromagerie", m.subject()


def test_bad_template_directory_stops_the_start(make_server, tmp_path):
    (tmp_path / "verify_emial.txt").write_text("typo {{link}}\n")
    s = make_server(args=["--templates", str(tmp_path)], start=False)
    with pytest.raises(plinth.ServerError):
        s.start()
    assert 'no email template named "verify_emial"' in s.log()

    bad = tmp_path / "subj"
    bad.mkdir()
    (bad / "verify_email.subject").write_text("two\nlines\n")
    s = make_server(args=["--templates", str(bad)], start=False)
    with pytest.raises(plinth.ServerError):
        s.start()
    assert "a subject is one non-empty line" in s.log()

    for name, data in [("verify_email.txt", b"caf\xe9 {{link}}\n"), ("verify_email.html", b"a\x00b")]:
        d = tmp_path / ("bytes-" + name)
        d.mkdir()
        (d / name).write_bytes(data)
        s = make_server(args=["--templates", str(d)], start=False)
        with pytest.raises(plinth.ServerError):
            s.start()
        assert "is not UTF-8 text" in s.log(), name

    bad = tmp_path / "locale"
    bad.mkdir()
    (bad / "verify_email.de_DE.txt").write_text("x {{link}}\n")
    s = make_server(args=["--templates", str(bad)], start=False)
    with pytest.raises(plinth.ServerError):
        s.start()
    assert "is not a BCP 47 language tag" in s.log()

    s = make_server(args=["--templates", str(tmp_path / "missing")], start=False)
    with pytest.raises(plinth.ServerError):
        s.start()
    assert "--templates" in s.log()
