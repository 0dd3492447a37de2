/* ui_routes.c - serves the dashboards: /_/ (instance admin) and /account/
 * (the end users' account portal), two single-page apps that use only the
 * public API.
 *
 * Under each mount:
 *   /<mount>                         308 to /<mount>/
 *   /<mount>/assets/<version>/<name> an embedded file; cached for good when
 *                                    <version> is the running bundle's
 *   anything else                    the app's index.html, so a deep link
 *                                    (/account/orgs/acme/members) reloads
 *                                    into the app, which routes it
 * Every answer carries a strict Content-Security-Policy (no inline script or
 * style, nothing from another origin), a strong ETag (If-None-Match -> 304)
 * and nosniff (a server default). */
#include <string.h>

#include "core/module.h"
#include "ui/ui.h"
#include "web/web.h"

#define CSP                                                                                        \
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "              \
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

/* The mounts: route path -> app folder. */
static const struct {
    const char *mount;
    const char *app;
} mounts[] = {
    {"/_", "admin"},
    {"/account", "account"},
};

static const char *app_of(const char *mount)
{
    for (size_t i = 0; i < PL_ARRAY_LEN(mounts); i++)
        if (!strcmp(mounts[i].mount, mount))
            return mounts[i].app;
    return NULL;
}

/* Whether an If-None-Match header names etag (a list, or "*"). */
static bool etag_matches(const char *inm, const char *etag)
{
    if (!inm)
        return false;
    size_t n = strlen(etag);
    for (const char *p = inm; *p;) {
        while (*p == ' ' || *p == ',')
            p++;
        if (!strncmp(p, "W/", 2))
            p += 2;
        if (*p == '*' || (!strncmp(p, etag, n) && (p[n] == '\0' || p[n] == ',' || p[n] == ' ')))
            return true;
        while (*p && *p != ',')
            p++;
    }
    return false;
}

static int serve(pl_req_t *req)
{
    const char *mount = req->route->path;
    const char *app = app_of(mount);
    const char *rest = req->path + strlen(mount);
    if (!app)
        return pl_req_fail(req, 404, "not_found", "No such resource.");
    if (!*rest) {
        pl_resp_header(req, "Location", pl_arena_printf(req->ctx.arena, "%s/", mount));
        return pl_resp_status(req, 308);
    }

    const pl_ui_asset_t *a;
    const char *cache = "no-cache"; /* revalidate: a 304 when nothing changed */
    if (!strncmp(rest, "/assets/", 8)) {
        const char *version = rest + 8;
        const char *slash = strchr(version, '/');
        if (!slash || !(a = pl_ui_find(app, slash + 1)))
            return pl_req_fail(req, 404, "not_found", "No such file.");
        if ((size_t)(slash - version) == strlen(pl_ui_version) &&
            !strncmp(version, pl_ui_version, (size_t)(slash - version)))
            cache = "public, max-age=31536000, immutable";
        /* else a page of another build asks: the current file, revalidated */
    } else if (!(a = pl_ui_find(app, "index.html"))) {
        return pl_req_fail(req, 404, "not_found", "No such resource.");
    }

    pl_resp_header(req, "Content-Security-Policy", CSP);
    pl_resp_header(req, "Cache-Control", cache);
    pl_resp_header(req, "ETag", a->etag);
    pl_resp_header(req, "Cross-Origin-Opener-Policy", "same-origin");
    if (etag_matches(pl_req_header(req, "If-None-Match"), a->etag))
        return pl_resp_status(req, 304);
    return pl_resp_body(req, 200, a->content_type, a->data, a->len, true);
}

#define S PL_ROUTE_SUBTREE

static pl_route_t routes[] = {
    {PL_M_GET, "/_", serve, PL_AUTH_NONE, NULL, S},
    {PL_M_HEAD, "/_", serve, PL_AUTH_NONE, NULL, S},
    {PL_M_GET, "/account", serve, PL_AUTH_NONE, NULL, S},
    {PL_M_HEAD, "/account", serve, PL_AUTH_NONE, NULL, S},
    {0},
};

const pl_module_t pl_ui_module = {
    .name = "ui",
    .routes = routes,
};
