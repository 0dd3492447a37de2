/* main.c - the command line: serve, worker, migrate, routes, version, and the
 * commands the modules declare (admin create, audit verify, jobs enqueue, ...). */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/config.h"
#include "core/crypto.h"
#include "core/keyring.h"
#include "db/db.h"
#include "http/server.h"
#include "modules.h"

#define EXIT_USAGE 2
#define MAX_POS    8

static void usage_main(FILE *f)
{
    fprintf(f,
            "plinth - a multi-tenant SaaS backend in one binary\n"
            "\n"
            "Usage: plinth <command> [options]\n"
            "\n"
            "Commands:\n"
            "  %-24s %s\n"
            "  %-24s %s\n"
            "  %-24s %s\n"
            "  %-24s %s\n",
            "serve", "run the HTTP API (and the job workers)", "worker",
            "run the job workers and scheduler without HTTP", "migrate",
            "apply database migrations and exit", "routes",
            "print the route table (method, path, auth, permission, module)");
    for (const pl_module_t *const *m = pl_modules; *m; m++)
        for (const pl_command_t *c = (*m)->commands; c && c->name; c++)
            fprintf(f, "  %-24s %s\n", c->name, c->summary);
    fprintf(f, "  %-24s %s\n\nRun 'plinth <command> --help' for a command's options.\n", "version",
            "print the version");
}

/* Loads the configuration; returns -1 to go on, else an exit code. */
static int load(unsigned cmds, const pl_option_t *own, int argc, char **argv, const char *usage,
                char **pos, int max_pos, int *npos)
{
    pl_modules_configure();
    int rc = pl_config_load(cmds, own, argc, argv, usage, pos, max_pos, npos);
    if (rc == PL_EEXISTS)
        return 0;
    if (rc)
        return EXIT_USAGE;
    return -1;
}

/* Opens storage: data directory, keys, database, migrations. With existing,
 * a missing data directory is an error rather than a new installation. */
static int open_storage(pl_db_t **out, bool existing)
{
    if (existing && !pl_cfg.database_url[0] && pl_config_require_data_dir())
        return EXIT_USAGE;
    if (pl_config_ensure_data_dir())
        return 1;
    if (pl_crypto_init()) {
        fprintf(stderr, "plinth: cannot initialise libsodium\n");
        return 1;
    }
    if (pl_keyring_init())
        return 1;
    pl_db_config_t dbc = {
        .engine = pl_cfg.database_url[0] ? PL_DB_POSTGRES : PL_DB_SQLITE,
        .sqlite_path = pl_cfg.sqlite_path,
        .pg_url = pl_cfg.database_url,
        .sqlite_sync_full = pl_cfg.sqlite_sync_full,
        .busy_timeout_ms = 5000,
    };
    pl_db_configure(&dbc);
    pl_db_t *db = NULL;
    if (pl_db_open(&db)) {
        fprintf(stderr, "plinth: cannot open the database\n");
        return 1;
    }
    int rc = pl_db_migrate(db);
    if (rc) {
        /* a checksum mismatch was printed and exits 2 */
        if (rc != PL_EINVAL)
            fprintf(stderr, "plinth: database migration failed\n");
        pl_db_close(db);
        return rc == PL_EINVAL ? EXIT_USAGE : 1;
    }
    if (pl_db_engine() == PL_DB_POSTGRES) {
        static const char sql_super[] =
            "SELECT rolsuper FROM pg_roles WHERE rolname = current_user";
        pl_stmt_t *st = pl_db_prepare(db, sql_super);
        if (st && pl_stmt_step(st) == 1 && pl_stmt_col_bool(st, 0))
            pl_log("warn", "connected to PostgreSQL as a superuser: row-level security does not "
                           "apply to superusers; connect as the database's owner role instead");
        if (st)
            pl_stmt_reset(st);
    }
    *out = db;
    return 0;
}

static int cmd_migrate(int argc, char **argv)
{
    int rc =
        load(PL_OPT_STORAGE, NULL, argc, argv, "Usage: plinth migrate [options]", NULL, 0, NULL);
    if (rc >= 0)
        return rc;
    pl_db_t *db = NULL;
    if ((rc = open_storage(&db, false)))
        return rc;
    printf("database at schema version %d\n", pl_db_schema_version());
    pl_db_close(db);
    return 0;
}

static int cmd_routes(int argc, char **argv)
{
    int rc = load(0, NULL, argc, argv,
                  "Usage: plinth routes\n"
                  "Prints the route table assembled from the modules.",
                  NULL, 0, NULL);
    if (rc >= 0)
        return rc;
    if (pl_modules_register() || pl_server_assemble())
        return 1;
    pl_server_print_routes(stdout);
    return 0;
}

static sigset_t block_signals(void)
{
    /* Signals are taken by sigwait in the main thread only: block them
     * before any thread starts so every thread inherits the mask. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    return set;
}

static void wait_for_signal(sigset_t *set)
{
    int sig = 0;
    sigwait(set, &sig);
    pl_log("info", "received %s, shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
}

/* serve and worker: storage, modules, the HTTP server when serving. */
static int run(bool serve, int argc, char **argv)
{
    /* first, so a SIGTERM at any moment of start-up is taken by sigwait */
    sigset_t set = block_signals();
    int rc = load(
        serve ? PL_OPT_SERVE | PL_OPT_STORAGE : PL_OPT_WORKER | PL_OPT_STORAGE, NULL, argc, argv,
        serve ? "Usage: plinth serve [options]" : "Usage: plinth worker [options]", NULL, 0, NULL);
    if (rc >= 0)
        return rc;
    if (!serve && pl_cfg.workers < 1) {
        fprintf(stderr, "plinth: worker needs --workers 1 or more\n");
        return EXIT_USAGE;
    }
    pl_log("info", "plinth %s starting (pid %d)", PL_VERSION, (int)getpid());
    /* the data directory stays locked (shared) while running, so a restore
     * cannot replace the database under us */
    if (pl_config_ensure_data_dir())
        return 1;
    if ((rc = pl_config_lock_data_dir(false))) {
        if (rc == PL_EBUSY)
            fprintf(stderr, "plinth: a restore is running on %s\n", pl_cfg.data_dir);
        return 1;
    }
    pl_db_t *db = NULL;
    if ((rc = open_storage(&db, false)))
        return rc;
    pl_db_close(db);
    if (pl_modules_init())
        return 1;
    pl_log_flush_start();
    bool listening = serve || pl_cfg.metrics_http[0];
    if (listening && pl_server_start(serve)) {
        pl_server_stop(0);
        pl_log_flush_stop();
        return 1;
    }
    if (pl_modules_start()) {
        if (listening)
            pl_server_stop(0);
        pl_modules_stop();
        pl_log_flush_stop();
        return 1;
    }
    if (serve)
        pl_log("info", "plinth %s listening on http://%s (%s, %d threads, %d job workers)",
               PL_VERSION, pl_cfg.http_addr,
               pl_db_engine() == PL_DB_POSTGRES ? "postgres" : "sqlite", pl_cfg.threads,
               pl_cfg.workers);
    else
        pl_log("info", "plinth %s worker running (%s, %d job workers%s%s)", PL_VERSION,
               pl_db_engine() == PL_DB_POSTGRES ? "postgres" : "sqlite", pl_cfg.workers,
               pl_cfg.metrics_http[0] ? ", operations routes on http://" : "",
               pl_cfg.metrics_http[0] ? pl_cfg.metrics_http : "");
    wait_for_signal(&set);
    if (listening)
        pl_server_stop(pl_cfg.shutdown_timeout * 1000);
    pl_modules_stop();
    pl_db_thread_close();
    pl_log_flush_stop();
    pl_log("info", "stopped");
    return 0;
}

/* A module's command: its options and the storage options, storage opened
 * when it asks, then its run. */
static int run_command(const pl_command_t *c, int argc, char **argv)
{
    char *pos[MAX_POS];
    int npos = 0;
    unsigned cmds = (c->flags & (PL_CMD_STORAGE | PL_CMD_OPTIONS)) ? PL_OPT_STORAGE : 0;
    int max = c->max_args < MAX_POS ? c->max_args : MAX_POS;
    int rc = load(cmds, c->options, argc, argv, c->usage, pos, max, &npos);
    if (rc >= 0)
        return rc;
    pl_cli_t cli = {.argc = npos, .argv = pos};
    if (c->flags & PL_CMD_STORAGE) {
        bool existing = (c->flags & PL_CMD_EXISTING) != 0;
        /* commands on an existing installation report storage errors as
         * usage errors (exit 2), like a missing data directory */
        if ((rc = open_storage(&cli.db, existing)))
            return existing ? EXIT_USAGE : rc;
        if (pl_modules_init()) {
            pl_db_close(cli.db);
            return 1;
        }
    }
    rc = c->run(&cli);
    if (cli.db)
        pl_db_close(cli.db);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage_main(stderr);
        return EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "serve"))
        return run(true, argc - 2, argv + 2);
    if (!strcmp(cmd, "worker"))
        return run(false, argc - 2, argv + 2);
    if (!strcmp(cmd, "migrate"))
        return cmd_migrate(argc - 2, argv + 2);
    if (!strcmp(cmd, "routes"))
        return cmd_routes(argc - 2, argv + 2);
    if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
        printf("plinth %s\n", PL_VERSION);
        return 0;
    }
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        usage_main(stdout);
        return 0;
    }
    int words = 0;
    const pl_command_t *c = pl_modules_command(argc - 1, argv + 1, &words);
    if (c)
        return run_command(c, argc - 1 - words, argv + 1 + words);
    /* a known group without (or with a wrong) subcommand: show its commands */
    bool group = false;
    for (const pl_module_t *const *m = pl_modules; *m; m++)
        for (const pl_command_t *k = (*m)->commands; k && k->name; k++)
            if (!strncmp(k->name, cmd, strlen(cmd)) && k->name[strlen(cmd)] == ' ')
                group = true;
    if (group) {
        bool help = argc >= 3 && (!strcmp(argv[2], "--help") || !strcmp(argv[2], "-h"));
        FILE *f = help ? stdout : stderr;
        if (!help)
            fprintf(f, "plinth: expected one of:\n");
        for (const pl_module_t *const *m = pl_modules; *m; m++)
            for (const pl_command_t *k = (*m)->commands; k && k->name; k++)
                if (!strncmp(k->name, cmd, strlen(cmd)) && k->name[strlen(cmd)] == ' ')
                    fprintf(f, "  plinth %-22s %s\n", k->name, k->summary);
        return help ? 0 : EXIT_USAGE;
    }
    fprintf(stderr, "plinth: unknown command \"%s\"\n\n", cmd);
    usage_main(stderr);
    return EXIT_USAGE;
}
