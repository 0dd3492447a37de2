/* main.c - the command line: serve, migrate, admin, version. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "admin/admin.h"
#include "audit/audit.h"
#include "auth/auth.h"
#include "core/config.h"
#include "core/crypto.h"
#include "db/db.h"
#include "flags/flags.h"
#include "http/server.h"
#include "jobs/jobs.h"
#include "mail/mail.h"

#define EXIT_USAGE 2

static const char usage_main[] =
    "plinth - a multi-tenant SaaS backend in one binary\n"
    "\n"
    "Usage: plinth <command> [options]\n"
    "\n"
    "Commands:\n"
    "  serve                 run the HTTP API (and the job workers)\n"
    "  worker                run the job workers and scheduler without HTTP\n"
    "  migrate               apply database migrations and exit\n"
    "  jobs enqueue --kind noop|fail [--count N] [--max-attempts M]\n"
    "                        queue drill jobs (queue checks and benchmarks)\n"
    "  admin create --email E  create or promote an instance admin (password on stdin)\n"
    "  audit verify [--org ID]  verify the audit log's hash chains (exit 1 when broken)\n"
    "  version               print the version\n"
    "\n"
    "Run 'plinth <command> --help' for a command's options.";

static const char usage_serve[] = "Usage: plinth serve [options]";
static const char usage_migrate[] = "Usage: plinth migrate [options]";
static const char usage_worker[] = "Usage: plinth worker [options]";
static const char usage_jobs[] =
    "Usage: plinth jobs enqueue --kind noop|fail [--count N] [--max-attempts M] [options]";
static const char usage_audit[] = "Usage: plinth audit verify [--org ID] [options]\n"
                                  "Checks every audit chain (or one organization's); exits 0 "
                                  "when all are valid,\n1 when one is not, 2 on errors.";
static const char usage_admin[] = "Usage: plinth admin create --email EMAIL [options]\n"
                                  "The password is read from standard input.";

/* Loads the configuration for cmd; returns -1 to go on, else an exit code. */
static int load(pl_cmd_t cmd, int argc, char **argv, const char *usage)
{
    int rc = pl_config_load(cmd, argc, argv, usage);
    if (rc == PL_EEXISTS)
        return 0;
    if (rc)
        return EXIT_USAGE;
    return -1;
}

/* Opens storage: data directory, crypto, database, migrations, keys. */
static int open_storage(pl_db_t **out)
{
    if (pl_config_ensure_data_dir())
        return 1;
    if (pl_crypto_init()) {
        fprintf(stderr, "plinth: cannot initialise libsodium\n");
        return 1;
    }
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
    if (pl_db_migrate(db)) {
        fprintf(stderr, "plinth: database migration failed\n");
        pl_db_close(db);
        return 1;
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
    int rc = load(PL_CMD_MIGRATE, argc, argv, usage_migrate);
    if (rc >= 0)
        return rc;
    pl_db_t *db = NULL;
    if ((rc = open_storage(&db)))
        return rc;
    printf("database at schema version %d\n", pl_db_schema_version());
    pl_db_close(db);
    return 0;
}

/* Job kinds and schedules of every module; before any worker starts. */
static int register_jobs(void)
{
    pl_jobs_init();
    pl_auth_register_jobs();
    pl_audit_register_jobs();
    return pl_mail_init();
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

static int cmd_serve(int argc, char **argv)
{
    int rc = load(PL_CMD_SERVE, argc, argv, usage_serve);
    if (rc >= 0)
        return rc;
    sigset_t set = block_signals();
    pl_db_t *db = NULL;
    if ((rc = open_storage(&db)))
        return rc;
    pl_db_close(db);
    if (pl_auth_init() || register_jobs() || pl_flags_init())
        return 1;
    pl_log_flush_start();
    if (pl_server_start()) {
        pl_log_flush_stop();
        return 1;
    }
    pl_jobs_start(pl_cfg.workers);
    pl_log("info", "plinth %s listening on http://%s (%s, %d threads, %d job workers)", PL_VERSION,
           pl_cfg.http_addr, pl_db_engine() == PL_DB_POSTGRES ? "postgres" : "sqlite",
           pl_cfg.threads, pl_cfg.workers);
    wait_for_signal(&set);
    pl_server_stop(1500);
    pl_jobs_stop();
    pl_flags_stop();
    pl_db_thread_close();
    pl_log_flush_stop();
    pl_log("info", "stopped");
    return 0;
}

static int cmd_worker(int argc, char **argv)
{
    int rc = load(PL_CMD_WORKER, argc, argv, usage_worker);
    if (rc >= 0)
        return rc;
    if (pl_cfg.workers < 1) {
        fprintf(stderr, "plinth: worker needs --workers 1 or more\n");
        return 2;
    }
    sigset_t set = block_signals();
    pl_db_t *db = NULL;
    if ((rc = open_storage(&db)))
        return rc;
    pl_db_close(db);
    if (pl_auth_init() || register_jobs() || pl_flags_init())
        return 1;
    pl_jobs_start(pl_cfg.workers);
    pl_log("info", "plinth %s worker running (%s, %d job workers)", PL_VERSION,
           pl_db_engine() == PL_DB_POSTGRES ? "postgres" : "sqlite", pl_cfg.workers);
    wait_for_signal(&set);
    pl_jobs_stop();
    pl_flags_stop();
    pl_db_thread_close();
    pl_log("info", "stopped");
    return 0;
}

static int cmd_jobs(int argc, char **argv)
{
    if (argc < 1 || strcmp(argv[0], "enqueue") != 0) {
        if (argc >= 1 && (!strcmp(argv[0], "--help") || !strcmp(argv[0], "-h"))) {
            puts(usage_jobs);
            return 0;
        }
        fprintf(stderr, "plinth: expected 'jobs enqueue --kind noop|fail'\n");
        return EXIT_USAGE;
    }
    const char *kind = NULL;
    int64_t count = 1, attempts = 0;
    char **rest = calloc((size_t)argc, sizeof(char *));
    int nrest = 0;
    bool bad = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--kind") && i + 1 < argc)
            kind = argv[++i];
        else if (!strcmp(argv[i], "--count") && i + 1 < argc)
            bad |= pl_parse_int64(argv[++i], 1, 1000000, &count) != PL_OK;
        else if (!strcmp(argv[i], "--max-attempts") && i + 1 < argc)
            bad |= pl_parse_int64(argv[++i], 1, 100, &attempts) != PL_OK;
        else
            rest[nrest++] = argv[i];
    }
    int rc = load(PL_CMD_WORKER, nrest, rest, usage_jobs);
    free(rest);
    if (rc >= 0)
        return rc;
    if (bad || !kind || (strcmp(kind, "noop") && strcmp(kind, "fail"))) {
        fprintf(stderr, "plinth: jobs enqueue needs --kind noop|fail, --count 1..1000000, "
                        "--max-attempts 1..100\n");
        return EXIT_USAGE;
    }
    pl_db_t *db = NULL;
    if ((rc = open_storage(&db)))
        return rc;
    rc = pl_jobs_enqueue_drill(db, kind, (int)count, (int)attempts);
    pl_db_close(db);
    if (rc) {
        fprintf(stderr, "plinth: cannot enqueue (%d)\n", rc);
        return 1;
    }
    printf("enqueued %lld %s job(s)\n", (long long)count, kind);
    return 0;
}

static int cmd_admin(int argc, char **argv)
{
    if (argc < 1 || strcmp(argv[0], "create") != 0) {
        if (argc >= 1 && (!strcmp(argv[0], "--help") || !strcmp(argv[0], "-h"))) {
            puts(usage_admin);
            return 0;
        }
        fprintf(stderr, "plinth: expected 'admin create --email EMAIL'\n");
        return EXIT_USAGE;
    }
    /* --email is this command's own flag; the rest are storage options */
    const char *email = NULL;
    char **rest = calloc((size_t)argc, sizeof(char *));
    int nrest = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--email") && i + 1 < argc)
            email = argv[++i];
        else if (!strncmp(argv[i], "--email=", 8))
            email = argv[i] + 8;
        else
            rest[nrest++] = argv[i];
    }
    int rc = load(PL_CMD_ADMIN, nrest, rest, usage_admin);
    free(rest);
    if (rc >= 0)
        return rc;
    if (!email) {
        fprintf(stderr, "plinth: admin create needs --email EMAIL\n");
        return EXIT_USAGE;
    }
    pl_db_t *db = NULL;
    if ((rc = open_storage(&db)))
        return rc;
    rc = pl_admin_create_cli(db, email);
    pl_db_close(db);
    return rc;
}

static int cmd_audit(int argc, char **argv)
{
    if (argc < 1 || strcmp(argv[0], "verify") != 0) {
        if (argc >= 1 && (!strcmp(argv[0], "--help") || !strcmp(argv[0], "-h"))) {
            puts(usage_audit);
            return 0;
        }
        fprintf(stderr, "plinth: expected 'audit verify [--org ID]'\n");
        return EXIT_USAGE;
    }
    const char *org = NULL;
    char **rest = calloc((size_t)argc, sizeof(char *));
    int nrest = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--org") && i + 1 < argc)
            org = argv[++i];
        else
            rest[nrest++] = argv[i];
    }
    int rc = load(PL_CMD_AUDIT, nrest, rest, usage_audit);
    free(rest);
    if (rc >= 0)
        return rc;
    if (org && !pl_uuid_valid(org) && strcmp(org, PL_AUDIT_INSTANCE)) {
        fprintf(stderr, "plinth: --org takes an organization id (or \"instance\")\n");
        return EXIT_USAGE;
    }
    pl_db_t *db = NULL;
    if (open_storage(&db))
        return 2;
    rc = pl_audit_verify_cli(db, org);
    pl_db_close(db);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "%s\n", usage_main);
        return EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "serve"))
        return cmd_serve(argc - 2, argv + 2);
    if (!strcmp(cmd, "migrate"))
        return cmd_migrate(argc - 2, argv + 2);
    if (!strcmp(cmd, "admin"))
        return cmd_admin(argc - 2, argv + 2);
    if (!strcmp(cmd, "worker"))
        return cmd_worker(argc - 2, argv + 2);
    if (!strcmp(cmd, "audit"))
        return cmd_audit(argc - 2, argv + 2);
    if (!strcmp(cmd, "jobs"))
        return cmd_jobs(argc - 2, argv + 2);
    if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
        printf("plinth %s\n", PL_VERSION);
        return 0;
    }
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        puts(usage_main);
        return 0;
    }
    fprintf(stderr, "plinth: unknown command \"%s\"\n\n%s\n", cmd, usage_main);
    return EXIT_USAGE;
}
