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
 * and nosniff (a server default). The pages name the product
 * (PLINTH_PRODUCT_NAME) where index.html says {{PRODUCT}}: filled in once
 * at start. */
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/crypto.h"
#include "core/module.h"
#include "ui/ui.h"
#include "web/web.h"

#define CSP                                                                                        \
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "              \
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

/* The mounts: route path -> app folder, and the app's page with the
 * product's name (built by init, read-only after). */
static struct {
    const char *mount;
    const char *app;
    pl_ui_asset_t page;
} mounts[] = {
    {"/_", "admin", {0}},
    {"/account", "account", {0}},
};

static int mount_of(const char *mount)
{
    for (size_t i = 0; i < PL_ARRAY_LEN(mounts); i++)
        if (!strcmp(mounts[i].mount, mount))
            return (int)i;
    return -1;
}

/* index.html with every {{PRODUCT}} replaced by the product's name,
 * HTML-escaped; its ETag hashes the result. */
static void build_page(pl_ui_asset_t *out, const pl_ui_asset_t *in)
{
    pl_buf_t b, name;
    pl_buf_init(&b, 1u << 20);
    pl_buf_init(&name, 1024);
    for (const char *c = pl_cfg.product_name[0] ? pl_cfg.product_name : "plinth"; *c; c++) {
        const char *rep = *c == '&'   ? "&amp;"
                          : *c == '<' ? "&lt;"
                          : *c == '>' ? "&gt;"
                          : *c == '"' ? "&quot;"
                                      : NULL;
        if (rep)
            pl_buf_append(&name, rep, strlen(rep));
        else
            pl_buf_append(&name, c, 1);
    }
    const char *p = in->data, *end = in->data + in->len;
    while (p < end) {
        const char *hit = memmem(p, (size_t)(end - p), "{{PRODUCT}}", 11);
        size_t n = hit ? (size_t)(hit - p) : (size_t)(end - p);
        pl_buf_append(&b, p, n);
        if (!hit)
            break;
        pl_buf_append(&b, name.ptr, name.len);
        p = hit + 11;
    }
    unsigned char d[32];
    pl_sha256(b.ptr, b.len, d);
    char *etag = pl_xmalloc(19);
    static const char hex[] = "0123456789abcdef";
    etag[0] = '"';
    for (int i = 0; i < 8; i++) {
        etag[1 + 2 * i] = hex[d[i] >> 4];
        etag[2 + 2 * i] = hex[d[i] & 15];
    }
    etag[17] = '"';
    etag[18] = '\0';
    *out = *in;
    out->data = b.ptr; /* kept for the life of the process */
    out->len = b.len;
    out->etag = etag;
    pl_buf_free(&name);
}

static int init(void)
{
    for (size_t i = 0; i < PL_ARRAY_LEN(mounts); i++) {
        const pl_ui_asset_t *a = pl_ui_find(mounts[i].app, "index.html");
        if (a && !mounts[i].page.data)
            build_page(&mounts[i].page, a);
    }
    return PL_OK;
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
    int m = mount_of(mount);
    const char *rest = req->path + strlen(mount);
    if (m < 0)
        return pl_req_fail(req, 404, "not_found", "No such resource.");
    const char *app = mounts[m].app;
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
    } else if (!(a = mounts[m].page.data ? &mounts[m].page : NULL)) {
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
    .init = init,
};
