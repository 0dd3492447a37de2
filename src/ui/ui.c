/* ui.c - finding an embedded dashboard file by app and name. */
#include <string.h>

#include "ui/ui.h"

const pl_ui_asset_t *pl_ui_find(const char *app, const char *name)
{
    if (!strncmp(name, "common/", 7)) {
        app = "common";
        name += 7;
    }
    /* a few dozen files: a linear scan costs less than the request around it */
    for (const pl_ui_asset_t *a = pl_ui_assets; a->app; a++)
        if (!strcmp(a->app, app) && !strcmp(a->name, name))
            return a;
    return NULL;
}
