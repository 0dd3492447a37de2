/* modules.c - the one ordered list of modules (as nginx's ngx_modules.c). A
 * new capability adds its descriptor here, its folder, its meson sources,
 * its migrations and its part of openapi.yaml, and nothing else. */
#include <string.h>

#include "modules.h"
#include "db/db.h"
#include "platform/events/events.h"
#include "platform/jobs/jobs.h"
#include "platform/mail/mail.h"
#include "rbac/rbac.h"

extern const pl_module_t pl_ops_module;
extern const pl_module_t pl_jobs_module;
extern const pl_module_t pl_mail_module;
extern const pl_module_t pl_audit_module;
extern const pl_module_t pl_keys_module;
extern const pl_module_t pl_events_module;
extern const pl_module_t pl_backup_module;
extern const pl_module_t pl_stats_module;
extern const pl_module_t pl_auth_module;
extern const pl_module_t pl_orgs_module;
extern const pl_module_t pl_apikeys_module;
extern const pl_module_t pl_auditlog_module;
extern const pl_module_t pl_flags_module;
extern const pl_module_t pl_billing_module;
extern const pl_module_t pl_admin_module;
extern const pl_module_t pl_webhooks_module;
extern const pl_module_t pl_projects_module;
extern const pl_module_t pl_realtime_module;
extern const pl_module_t pl_notifications_module;
extern const pl_module_t pl_collections_module;
extern const pl_module_t pl_account_module;
extern const pl_module_t pl_ui_module;
extern const pl_module_t pl_passkeys_module;
extern const pl_module_t pl_files_module;
extern const pl_module_t pl_identity_module;

const pl_module_t *const pl_modules[] = {
    /* platform: services every feature uses */
    &pl_ops_module,
    &pl_jobs_module,
    &pl_mail_module,
    &pl_events_module,
    &pl_audit_module,
    &pl_backup_module,
    &pl_keys_module,
    &pl_stats_module,
    /* features */
    &pl_auth_module,
    &pl_orgs_module,
    &pl_apikeys_module,
    &pl_auditlog_module,
    &pl_flags_module,
    &pl_webhooks_module,
    &pl_projects_module,
    &pl_billing_module,
    &pl_files_module,
    &pl_admin_module,
    &pl_passkeys_module,
    &pl_identity_module,
    &pl_realtime_module,
    &pl_notifications_module,
    &pl_collections_module,
    &pl_account_module,
    /* the dashboards, on top of the public API */
    &pl_ui_module,
    NULL,
};

void pl_modules_configure(void)
{
    for (const pl_module_t *const *m = pl_modules; *m; m++)
        if ((*m)->options)
            pl_config_add((*m)->options);
}

int pl_modules_register(void)
{
    static bool done;
    if (done)
        return PL_OK;
    done = true;
    for (const pl_module_t *const *m = pl_modules; *m; m++) {
        const pl_module_t *mod = *m;
        if (mod->perms && pl_rbac_register(mod->perms)) {
            pl_log("error", "module %s: the permission catalog is full", mod->name);
            return PL_ELIMIT;
        }
        pl_jobs_register(mod->jobs);
        pl_jobs_register_schedules(mod->schedules);
        pl_mail_register(mod->templates);
        pl_events_register_actions(mod->actions);
        if (mod->on_event)
            pl_events_subscribe(mod->name, mod->on_event);
    }
    return PL_OK;
}

int pl_modules_init(void)
{
    int rc = pl_modules_register();
    if (rc)
        return rc;
    for (const pl_module_t *const *m = pl_modules; *m; m++) {
        int rc = (*m)->init ? (*m)->init() : PL_OK;
        if (rc)
            return rc;
    }
    return PL_OK;
}

int pl_modules_start(void)
{
    if (pl_db_listen_start() != PL_OK)
        pl_log("warn", "cannot listen for database notifications; relying on polling");
    for (const pl_module_t *const *m = pl_modules; *m; m++) {
        int rc = (*m)->start ? (*m)->start() : PL_OK;
        if (rc)
            return rc;
    }
    return PL_OK;
}

void pl_modules_stop(void)
{
    size_t n = 0;
    while (pl_modules[n])
        n++;
    while (n--)
        if (pl_modules[n]->stop)
            pl_modules[n]->stop();
    pl_db_listen_stop();
}

const pl_command_t *pl_modules_command(int argc, char **argv, int *words)
{
    for (const pl_module_t *const *m = pl_modules; *m; m++) {
        for (const pl_command_t *c = (*m)->commands; c && c->name; c++) {
            const char *sp = strchr(c->name, ' ');
            size_t first = sp ? (size_t)(sp - c->name) : strlen(c->name);
            if (argc < 1 || strlen(argv[0]) != first || strncmp(argv[0], c->name, first))
                continue;
            if (!sp) {
                *words = 1;
                return c;
            }
            if (argc >= 2 && !strcmp(argv[1], sp + 1)) {
                *words = 2;
                return c;
            }
        }
    }
    return NULL;
}
