/* config.c - flags and PLINTH_* environment variables, from one table. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/config.h"

pl_config_t pl_cfg;

typedef enum { T_STR, T_INT, T_INT64, T_BOOL, T_SYNC, T_ADDR } opt_type_t;

/* Bit set of the subcommands a flag applies to. */
#define C_SERVE   (1u << PL_CMD_SERVE)
#define C_MIGRATE (1u << PL_CMD_MIGRATE)
#define C_WORKER  (1u << PL_CMD_WORKER)
#define C_ADMIN   (1u << PL_CMD_ADMIN)
#define C_AUDIT   (1u << PL_CMD_AUDIT)
#define C_STORAGE (C_SERVE | C_MIGRATE | C_WORKER | C_ADMIN | C_AUDIT)
#define C_RUN     (C_SERVE | C_WORKER)

typedef struct {
    const char *flag; /* without "--"; NULL: environment only */
    const char *env;
    opt_type_t type;
    size_t offset;
    size_t size; /* for strings */
    int64_t min, max;
    unsigned cmds;
    const char *arg;
    const char *help;
} opt_t;

#define OFF(f) offsetof(pl_config_t, f), sizeof(((pl_config_t *)0)->f)

static const opt_t opts[] = {
    {"http", "PLINTH_HTTP", T_ADDR, OFF(http_addr), 0, 0, C_SERVE, "ADDR:PORT",
     "address to listen on (default 127.0.0.1:8080)"},
    {"data", "PLINTH_DATA", T_STR, OFF(data_dir), 0, 0, C_STORAGE, "DIR",
     "data directory: SQLite database and generated keys (default ./plinth_data)"},
    {"threads", "PLINTH_THREADS", T_INT, OFF(threads), 1, 1024, C_SERVE, "N",
     "HTTP worker threads (default 2 x cores)"},
    {"workers", "PLINTH_WORKERS", T_INT, OFF(workers), 0, 256, C_RUN, "N",
     "background job worker threads; 0 disables them (default 2)"},
    {"max-body", "PLINTH_MAX_BODY", T_INT64, OFF(max_body), 1, 1LL << 30, C_SERVE, "BYTES",
     "largest accepted request body (default 1048576)"},
    {"conn-timeout", "PLINTH_CONN_TIMEOUT", T_INT, OFF(conn_timeout), 1, 3600, C_SERVE, "SECONDS",
     "close connections idle or stalled this long (default 30)"},
    {"sqlite-sync", "PLINTH_SQLITE_SYNC", T_SYNC, OFF(sqlite_sync_full), 0, 0, C_STORAGE,
     "full|normal", "SQLite durability: full survives power loss (default full)"},
    {"access-log", "PLINTH_ACCESS_LOG", T_BOOL, OFF(access_log), 0, 0, C_SERVE, "on|off",
     "one JSON line per request on stderr (default on)"},
    {"access-ttl", "PLINTH_ACCESS_TTL", T_INT, OFF(access_ttl), 1, 86400, C_SERVE, "SECONDS",
     "access token lifetime (default 900)"},
    {"argon2-memory", "PLINTH_ARGON2_MEMORY", T_INT64, OFF(argon2_memory), 8192,
     4LL * 1024 * 1024 * 1024, C_STORAGE, "BYTES", "Argon2id memory cost (default 19922944)"},
    {"argon2-ops", "PLINTH_ARGON2_OPS", T_INT, OFF(argon2_ops), 1, 64, C_STORAGE, "N",
     "Argon2id iterations (default 2)"},
    {"audit-retention-days", "PLINTH_AUDIT_RETENTION_DAYS", T_INT, OFF(audit_retention_days), 0,
     36500, C_RUN, "DAYS", "prune audit events older than this; 0 keeps them forever (default 0)"},
    {"rate-limit", "PLINTH_RATE_LIMIT", T_BOOL, OFF(rate_limit), 0, 0, C_SERVE, "on|off",
     "general per-IP API rate limit (default off)"},
    {"rate-limit-rps", "PLINTH_RATE_LIMIT_RPS", T_INT, OFF(rate_limit_rps), 1, 1000000, C_SERVE,
     "N", "requests per second per client IP when --rate-limit is on (default 100)"},
    {NULL, "PLINTH_REQUIRE_VERIFIED_EMAIL", T_BOOL, OFF(require_verified_email), 0, 0, C_SERVE,
     "0|1", "creating organizations and invitations needs a verified email (default 0)"},
    {NULL, "PLINTH_DATABASE_URL", T_STR, OFF(database_url), 0, 0, C_STORAGE, "postgres://...",
     "use PostgreSQL instead of the embedded SQLite database"},
    {NULL, "PLINTH_CORS_ORIGINS", T_STR, OFF(cors_origins), 0, 0, C_SERVE, "ORIGINS",
     "comma-separated origins allowed by CORS, or * (default: CORS off)"},
    {NULL, "PLINTH_TRUSTED_PROXIES", T_STR, OFF(trusted_proxies), 0, 0, C_SERVE, "CIDRS",
     "comma-separated proxies whose X-Forwarded-For is believed"},
    {NULL, "PLINTH_PUBLIC_URL", T_STR, OFF(public_url), 0, 0, C_STORAGE, "URL",
     "base URL of the product's pages, for links in emails (default http://<--http>)"},
    {NULL, "PLINTH_SMTP_URL", T_STR, OFF(smtp_url), 0, 0, C_RUN, "smtp[s]://USER:PASS@HOST:PORT",
     "send email over SMTP (STARTTLS when offered); unset: emails are written to the log"},
    {NULL, "PLINTH_MAIL_FROM", T_STR, OFF(mail_from), 0, 0, C_RUN, "ADDRESS",
     "sender address of emails (default plinth@localhost)"},
    {NULL, "PLINTH_MASTER_KEY", T_STR, OFF(master_key), 0, 0, C_STORAGE, "KEY",
     "key sealing secrets at rest, >= 32 bytes (default: generated into the data directory)"},
    {NULL, "PLINTH_MFA_ISSUER", T_STR, OFF(mfa_issuer), 0, 0, C_SERVE, "NAME",
     "issuer shown by authenticator apps (default plinth)"},
    {NULL, "PLINTH_JWT_SECRET", T_STR, OFF(jwt_secret), 0, 0, C_STORAGE, "SECRET",
     "access-token signing key (default: generated into the data directory)"},
};

static void set_defaults(void)
{
    memset(&pl_cfg, 0, sizeof(pl_cfg));
    snprintf(pl_cfg.http_addr, sizeof(pl_cfg.http_addr), "127.0.0.1:8080");
    snprintf(pl_cfg.data_dir, sizeof(pl_cfg.data_dir), "./plinth_data");
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    pl_cfg.threads = (int)(cores > 0 ? 2 * cores : 4);
    pl_cfg.workers = 2;
    pl_cfg.max_body = 1024 * 1024;
    pl_cfg.conn_timeout = 30;
    pl_cfg.sqlite_sync_full = true;
    pl_cfg.access_log = true;
    pl_cfg.access_ttl = 900;
    pl_cfg.argon2_memory = 19LL * 1024 * 1024;
    pl_cfg.argon2_ops = 2;
    pl_cfg.rate_limit_rps = 100;
    snprintf(pl_cfg.mail_from, sizeof(pl_cfg.mail_from), "plinth@localhost");
    snprintf(pl_cfg.mfa_issuer, sizeof(pl_cfg.mfa_issuer), "plinth");
}

static int parse_addr(const char *v, char *host, size_t host_size, int *port)
{
    const char *colon = strrchr(v, ':');
    if (!colon || colon == v || (size_t)(colon - v) >= host_size)
        return PL_EINVAL;
    int64_t p;
    if (pl_parse_int64(colon + 1, 1, 65535, &p))
        return PL_EINVAL;
    size_t hl = (size_t)(colon - v);
    const char *h = v;
    if (h[0] == '[' && h[hl - 1] == ']') {
        h++;
        hl -= 2;
    }
    for (size_t i = 0; i < hl; i++)
        if (!(isalnum((unsigned char)h[i]) || h[i] == '.' || h[i] == ':' || h[i] == '-'))
            return PL_EINVAL;
    memcpy(host, h, hl);
    host[hl] = '\0';
    *port = (int)p;
    return PL_OK;
}

static int set_value(const opt_t *o, const char *v, const char *source)
{
    char *field = (char *)&pl_cfg + o->offset;
    int64_t n;
    switch (o->type) {
    case T_STR:
    case T_ADDR:
        if (strlen(v) >= o->size) {
            fprintf(stderr, "plinth: %s: value too long (at most %zu bytes)\n", source,
                    o->size - 1);
            return PL_EINVAL;
        }
        if (o->type == T_ADDR) {
            if (parse_addr(v, pl_cfg.http_host, sizeof(pl_cfg.http_host), &pl_cfg.http_port)) {
                fprintf(stderr,
                        "plinth: %s: expected ADDR:PORT (e.g. 127.0.0.1:8080), got \"%s\"\n",
                        source, v);
                return PL_EINVAL;
            }
        } else if (o->offset == offsetof(pl_config_t, data_dir) && !*v) {
            fprintf(stderr, "plinth: %s: must not be empty\n", source);
            return PL_EINVAL;
        }
        memcpy(field, v, strlen(v) + 1);
        return PL_OK;
    case T_INT:
    case T_INT64:
        if (pl_parse_int64(v, o->min, o->max, &n)) {
            fprintf(stderr, "plinth: %s: expected an integer from %lld to %lld, got \"%s\"\n",
                    source, (long long)o->min, (long long)o->max, v);
            return PL_EINVAL;
        }
        if (o->type == T_INT)
            *(int *)field = (int)n;
        else
            *(int64_t *)field = n;
        return PL_OK;
    case T_BOOL:
        if (!strcmp(v, "1") || !strcmp(v, "on") || !strcmp(v, "true") || !strcmp(v, "yes")) {
            *(bool *)field = true;
        } else if (!strcmp(v, "0") || !strcmp(v, "off") || !strcmp(v, "false") ||
                   !strcmp(v, "no")) {
            *(bool *)field = false;
        } else {
            fprintf(stderr, "plinth: %s: expected on or off, got \"%s\"\n", source, v);
            return PL_EINVAL;
        }
        return PL_OK;
    case T_SYNC:
        if (!strcmp(v, "full")) {
            *(bool *)field = true;
        } else if (!strcmp(v, "normal")) {
            *(bool *)field = false;
        } else {
            fprintf(stderr, "plinth: %s: expected full or normal, got \"%s\"\n", source, v);
            return PL_EINVAL;
        }
        return PL_OK;
    }
    return PL_EINVAL;
}

void pl_config_help(pl_cmd_t cmd, const char *usage)
{
    printf("%s\n\nOptions (each also read from its environment variable):\n", usage);
    for (size_t i = 0; i < PL_ARRAY_LEN(opts); i++) {
        const opt_t *o = &opts[i];
        if (!(o->cmds & (1u << cmd)) || !o->flag)
            continue;
        char left[64];
        snprintf(left, sizeof(left), "--%s %s", o->flag, o->arg);
        printf("  %-28s %s [%s]\n", left, o->help, o->env);
    }
    printf("  %-28s %s\n", "--help", "show this help");
    printf("\nEnvironment only:\n");
    for (size_t i = 0; i < PL_ARRAY_LEN(opts); i++) {
        const opt_t *o = &opts[i];
        if (!(o->cmds & (1u << cmd)) || o->flag)
            continue;
        printf("  %-28s %s\n", o->env, o->help);
    }
}

int pl_config_load(pl_cmd_t cmd, int argc, char **argv, const char *usage)
{
    set_defaults();
    unsigned bit = 1u << cmd;
    for (size_t i = 0; i < PL_ARRAY_LEN(opts); i++) {
        const char *v = getenv(opts[i].env);
        if (v && (opts[i].cmds & bit) && set_value(&opts[i], v, opts[i].env))
            return PL_EINVAL;
    }
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            pl_config_help(cmd, usage);
            return PL_EEXISTS;
        }
        if (strncmp(a, "--", 2) != 0) {
            fprintf(stderr, "plinth: unexpected argument \"%s\" (see --help)\n", a);
            return PL_EINVAL;
        }
        const char *name = a + 2;
        const char *eq = strchr(name, '=');
        size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
        const opt_t *o = NULL;
        for (size_t k = 0; k < PL_ARRAY_LEN(opts); k++)
            if (opts[k].flag && (opts[k].cmds & bit) && strlen(opts[k].flag) == nlen &&
                !strncmp(opts[k].flag, name, nlen))
                o = &opts[k];
        if (!o) {
            fprintf(stderr, "plinth: unknown option \"%.*s\" (see --help)\n", (int)(nlen + 2), a);
            return PL_EINVAL;
        }
        const char *v = eq ? eq + 1 : NULL;
        if (!v) {
            if (i + 1 >= argc) {
                fprintf(stderr, "plinth: --%s needs a value (%s)\n", o->flag, o->arg);
                return PL_EINVAL;
            }
            v = argv[++i];
        }
        char src[80];
        snprintf(src, sizeof(src), "--%s", o->flag);
        if (set_value(o, v, src))
            return PL_EINVAL;
    }
    if (!pl_cfg.http_port &&
        parse_addr(pl_cfg.http_addr, pl_cfg.http_host, sizeof(pl_cfg.http_host), &pl_cfg.http_port))
        return PL_EINVAL;
    if (pl_cfg.database_url[0] && strncmp(pl_cfg.database_url, "postgres://", 11) &&
        strncmp(pl_cfg.database_url, "postgresql://", 13)) {
        fprintf(stderr, "plinth: PLINTH_DATABASE_URL: expected postgres://...\n");
        return PL_EINVAL;
    }
    snprintf(pl_cfg.sqlite_path, sizeof(pl_cfg.sqlite_path), "%s/plinth.db", pl_cfg.data_dir);
    if (!pl_cfg.public_url[0])
        snprintf(pl_cfg.public_url, sizeof(pl_cfg.public_url), "http://%s", pl_cfg.http_addr);
    size_t ul = strlen(pl_cfg.public_url);
    while (ul && pl_cfg.public_url[ul - 1] == '/')
        pl_cfg.public_url[--ul] = '\0';
    return PL_OK;
}

int pl_config_ensure_data_dir(void)
{
    struct stat st;
    if (stat(pl_cfg.data_dir, &st) == 0) {
        if (!S_ISDIR(st.st_mode)) {
            fprintf(stderr, "plinth: --data %s is not a directory\n", pl_cfg.data_dir);
            return PL_EINVAL;
        }
        return PL_OK;
    }
    if (mkdir(pl_cfg.data_dir, 0700) != 0) {
        fprintf(stderr, "plinth: cannot create data directory %s: %s\n", pl_cfg.data_dir,
                strerror(errno));
        return PL_EINVAL;
    }
    return PL_OK;
}
