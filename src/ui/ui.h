/* ui.h - the dashboards' files: the instance admin dashboard (/_/) and the
 * account portal (/account/), plain HTML, CSS and JavaScript modules kept in
 * src/ui/admin, src/ui/account and src/ui/common and compiled into the binary
 * by scripts/embed-ui.py (docs/dashboards.md).
 *
 * Everything here is static data, read-only and thread-safe. */
#ifndef PL_UI_H
#define PL_UI_H

#include <stddef.h>

/* One embedded file. */
typedef struct {
    const char *app;          /* "admin", "account" or "common"; NULL ends the table */
    const char *name;         /* path inside the app's folder: "app.js", "pages/users.js" */
    const char *content_type; /* "text/javascript; charset=utf-8" */
    const char *etag;         /* strong ETag, quotes included */
    const char *data;
    size_t len;
} pl_ui_asset_t;

/* The bundle's version: a hash over every file. The apps' pages name their
 * assets /<mount>/assets/<version>/<name>, so those URLs never change
 * content and may be cached for good. */
extern const char pl_ui_version[];
extern const pl_ui_asset_t pl_ui_assets[];

/* The file name of app ("admin" or "account"); a name under "common/" is the
 * shared folder's. NULL when there is none. The result is static. */
const pl_ui_asset_t *pl_ui_find(const char *app, const char *name);

#endif
