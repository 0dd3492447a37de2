"""The dashboards' files as the server serves them (src/ui, scripts/embed-ui.py):
the HTML shell for every path below /_/ and /account/, the assets under a
versioned path, their content types, caching, ETags and the strict
Content-Security-Policy; and the rules the pages' code keeps (no HTML strings,
no tokens in storage)."""

import os
import re

import pytest

import plinth

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
UI = os.path.join(plinth.ROOT, "src", "ui")
MOUNTS = {"/_": "admin", "/account": "account"}


def assets_of(html):
    return re.findall(r'(?:src|href)="(/[^"]+/assets/[^"]+)"', html)


@pytest.mark.parametrize("mount", sorted(MOUNTS))
def test_shell_for_every_path_below_the_mount(server, mount):
    home = server.get(mount + "/")
    assert home.status_code == 200, home.text
    assert home.headers["Content-Type"] == "text/html; charset=utf-8"
    assert home.headers["Content-Security-Policy"] == CSP
    assert home.headers["Cache-Control"] == "no-cache"
    assert home.headers["X-Content-Type-Options"] == "nosniff"
    assert home.headers["X-Frame-Options"] == "DENY"
    assert home.headers["Referrer-Policy"] == "no-referrer"
    assert re.fullmatch(r'"[0-9a-f]{16}"', home.headers["ETag"])
    for deep in ["/sign-in", "/users/0192f5a8-3c1e-7b4a-9e2f-5d6c7b8a9f01",
                 "/orgs/acme/members", "/a/b/c/", "/assets"]:
        r = server.get(mount + deep)
        assert r.status_code == 200, deep
        assert r.text == home.text, deep
    # no inline script or style: everything comes from the assets
    assert not re.search(r"<script(?![^>]*\bsrc=)", home.text)
    assert "<style" not in home.text and " style=" not in home.text
    assert assets_of(home.text)


@pytest.mark.parametrize("mount", sorted(MOUNTS))
def test_mount_without_slash_redirects(server, mount):
    r = server.get(mount, allow_redirects=False)
    assert r.status_code == 308
    assert r.headers["Location"] == mount + "/"


def test_product_name(server, make_server):
    """The pages name the product (PLINTH_PRODUCT_NAME, HTML-escaped)."""
    assert "<title>Account · plinth</title>" in server.get("/account/").text
    s = make_server(env={"PLINTH_PRODUCT_NAME": 'Acme <Cloud> & "Co"'})
    for mount, title in (("/_/", "Admin"), ("/account/", "Account")):
        page = s.get(mount).text
        esc = "Acme &lt;Cloud&gt; &amp; &quot;Co&quot;"
        assert "<title>%s · %s</title>" % (title, esc) in page
        assert '<meta name="product" content="%s">' % esc in page
        assert "<Cloud>" not in page
    assert s.get("/account/").headers["ETag"] != server.get("/account/").headers["ETag"]


def test_other_paths_are_not_the_dashboards(server):
    for path in ["/accounts", "/_x", "/account-x/"]:
        plinth.assert_problem(server.get(path), 404, "not_found")
    r = server.post("/account/sign-in", json={})
    plinth.assert_problem(r, 405, "method_not_allowed")
    assert r.headers["Allow"] == "GET, HEAD"


def test_api_keeps_its_own_headers(server):
    r = server.get("/healthz")
    assert r.headers["Content-Security-Policy"] == "default-src 'none'; frame-ancestors 'none'"
    assert r.headers["Cache-Control"] == "no-store"
    assert "ETag" not in r.headers


def _imports(js):
    return re.findall(r'^\s*(?:import|export)\b[^;]*?from\s+"(\.[^"]+)"', js, re.M)


@pytest.mark.parametrize("mount", sorted(MOUNTS))
def test_every_module_is_served(server, mount):
    """Follows the imports from the entry module: each file the app loads is
    embedded, with its content type, cached for good under its version."""
    shell = server.get(mount + "/").text
    todo = assets_of(shell)
    seen = set()
    while todo:
        url = todo.pop()
        if url in seen:
            continue
        seen.add(url)
        r = server.get(url)
        assert r.status_code == 200, url
        assert r.headers["Cache-Control"] == "public, max-age=31536000, immutable", url
        assert r.headers["Content-Security-Policy"] == CSP
        if url.endswith(".js"):
            assert r.headers["Content-Type"] == "text/javascript; charset=utf-8", url
            base = url.rsplit("/", 1)[0]
            for imp in _imports(r.text):
                parts = (base + "/" + imp).split("/")
                out = []
                for p in parts:
                    if p == "..":
                        out.pop()
                    elif p != ".":
                        out.append(p)
                todo.append("/".join(out))
        elif url.endswith(".css"):
            assert r.headers["Content-Type"] == "text/css; charset=utf-8", url
    assert len(seen) > 5, seen


def test_etag_revalidation_and_head(server):
    shell = server.get("/account/")
    js = assets_of(shell.text)[-1]
    r = server.get(js)
    etag = r.headers["ETag"]
    again = server.get(js, headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["ETag"] == etag
    assert server.get("/account/x", headers={"If-None-Match": shell.headers["ETag"]}).status_code == 304
    assert server.get(js, headers={"If-None-Match": '"0000000000000000"'}).status_code == 200
    head = server.request("HEAD", "/account/")
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["Content-Length"] == str(len(shell.content))


def test_assets_of_another_version(server):
    js = assets_of(server.get("/_/").text)[-1]
    other = re.sub(r"/assets/[0-9a-f]+/", "/assets/0123456789abcdef/", js)
    r = server.get(other)
    assert r.status_code == 200
    assert r.headers["Cache-Control"] == "no-cache"
    plinth.assert_problem(server.get(re.sub(r"[^/]+$", "missing.js", js)), 404, "not_found")
    plinth.assert_problem(server.get("/_/assets/"), 404, "not_found")
    plinth.assert_problem(server.get("/_/assets/nothing"), 404, "not_found")


# Patterns the pages never use: HTML parsing of strings, dynamic code, and
# storage that outlives the page (access tokens live in memory only).
FORBIDDEN = [r"\binnerHTML\b", r"\bouterHTML\b", r"insertAdjacentHTML", r"document\.write",
             r"\beval\(", r"new Function\(", r"\blocalStorage\b", r"\bsessionStorage\b",
             r"\bindexedDB\b", r"document\.cookie", r"setAttribute\(\s*\"style\"", r"\.style\."]


def test_page_code_keeps_the_rules():
    found = []
    for d, _, names in os.walk(UI):
        for n in names:
            if not n.endswith((".js", ".html")):
                continue
            path = os.path.join(d, n)
            with open(path, encoding="utf-8") as f:
                for no, line in enumerate(f, 1):
                    code = line.split("//", 1)[0] if n.endswith(".js") else line
                    for pat in FORBIDDEN:
                        if re.search(pat, code):
                            found.append("%s:%d: %s" % (os.path.relpath(path, UI), no, line.strip()))
    assert not found, "\n".join(found)
