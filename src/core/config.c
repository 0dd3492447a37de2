/* config.c - flags and PLINTH_* environment variables, from the core's
 * option table and those the modules add. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/config.h"

pl_config_t pl_cfg;

#define MAX_TABLES 64

static const pl_option_t *tables[MAX_TABLES];
static size_t ntables;

static int check_database_url(void)
{
    if (pl_cfg.database_url[0] && strncmp(pl_cfg.database_url, "postgres://", 11) &&
        strncmp(pl_cfg.database_url, "postgresql://", 13)) {
        fprintf(stderr, "plinth: PLINTH_DATABASE_URL: expected postgres://...\n");
        return PL_EINVAL;
    }
    return PL_OK;
}

/* The API's public URL becomes the tokens' issuer and the base of the
 * discovery documents: an http(s) URL without characters JSON or HTTP would
 * need escaped. */
static int check_public_api_url(void)
{
    const char *u = pl_cfg.public_api_url;
    if (!u[0])
        return PL_OK;
    bool ok = !strncmp(u, "http://", 7) || !strncmp(u, "https://", 8);
    for (const char *p = u; ok && *p; p++)
        ok = (unsigned char)*p > 0x20 && *p != 0x7f && *p != '"' && *p != '\\';
    if (!ok) {
        fprintf(stderr, "plinth: PLINTH_PUBLIC_API_URL: expected an http:// or https:// URL\n");
        return PL_EINVAL;
    }
    return PL_OK;
}

static int check_data_dir(void)
{
    if (!pl_cfg.data_dir[0]) {
        fprintf(stderr, "plinth: --data: must not be empty\n");
        return PL_EINVAL;
    }
    return PL_OK;
}

static int parse_addr(const char *v, char *host, size_t host_size, int *port);

static int check_http(void)
{
    if (parse_addr(pl_cfg.http_addr, pl_cfg.http_host, sizeof(pl_cfg.http_host),
                   &pl_cfg.http_port)) {
        fprintf(stderr, "plinth: --http: expected ADDR:PORT (e.g. 127.0.0.1:8080), got \"%s\"\n",
                pl_cfg.http_addr);
        return PL_EINVAL;
    }
    return PL_OK;
}

static int check_metrics_http(void)
{
    if (pl_cfg.metrics_http[0] && parse_addr(pl_cfg.metrics_http, pl_cfg.metrics_host,
                                             sizeof(pl_cfg.metrics_host), &pl_cfg.metrics_port)) {
        fprintf(stderr,
                "plinth: --metrics-http: expected ADDR:PORT (e.g. 127.0.0.1:9090), got "
                "\"%s\"\n",
                pl_cfg.metrics_http);
        return PL_EINVAL;
    }
    return PL_OK;
}

static int sqlite_sync_mode; /* 0 full, 1 normal */

static const pl_option_t core_opts[] = {
    {"http", "PLINTH_HTTP", PL_OPT_STR, PL_OPT_S(pl_cfg.http_addr), 0, 0, PL_OPT_SERVE, "ADDR:PORT",
     "address to listen on (default 127.0.0.1:8080)", check_http},
    {"data", "PLINTH_DATA", PL_OPT_STR, PL_OPT_S(pl_cfg.data_dir), 0, 0, PL_OPT_STORAGE, "DIR",
     "data directory: SQLite database and generated keys (default ./plinth_data)", check_data_dir},
    {"threads", "PLINTH_THREADS", PL_OPT_INT, &pl_cfg.threads, 0, 1, 1024, PL_OPT_SERVE, "N",
     "HTTP worker threads (default 2 x cores)", NULL},
    {"workers", "PLINTH_WORKERS", PL_OPT_INT, &pl_cfg.workers, 0, 0, 256, PL_OPT_RUN, "N",
     "background job worker threads; 0 disables them (default 2)", NULL},
    {"max-body", "PLINTH_MAX_BODY", PL_OPT_INT64, &pl_cfg.max_body, 0, 1, 1LL << 30, PL_OPT_SERVE,
     "BYTES", "largest accepted request body (default 1048576)", NULL},
    {"max-upload", "PLINTH_MAX_UPLOAD", PL_OPT_INT64, &pl_cfg.max_upload, 0, 1, 1LL << 40,
     PL_OPT_SERVE, "BYTES", "largest accepted upload, streamed to storage (default 26214400)",
     NULL},
    {"conn-timeout", "PLINTH_CONN_TIMEOUT", PL_OPT_INT, &pl_cfg.conn_timeout, 0, 1, 3600,
     PL_OPT_SERVE, "SECONDS", "close connections idle or stalled this long (default 30)", NULL},
    {"request-timeout", "PLINTH_REQUEST_TIMEOUT", PL_OPT_INT, &pl_cfg.request_timeout, 0, 1, 3600,
     PL_OPT_SERVE, "SECONDS",
     "a request's headers and body must arrive within this time, else the connection is closed "
     "(default 30)",
     NULL},
    {"max-conns-per-ip", "PLINTH_MAX_CONNS_PER_IP", PL_OPT_INT, &pl_cfg.max_conns_per_ip, 0, 0,
     1000000, PL_OPT_SERVE, "N",
     "open connections per client address (IPv6: per /64), trusted proxies exempt; 0: no cap "
     "(default 64)",
     NULL},
    {"hash-threads", "PLINTH_HASH_THREADS", PL_OPT_INT, &pl_cfg.hash_threads, 0, 1, 256,
     PL_OPT_SERVE, "N", "threads that run password hashing, off the HTTP threads (default: cores)",
     NULL},
    {"hash-queue", "PLINTH_HASH_QUEUE", PL_OPT_INT, &pl_cfg.hash_queue, 0, 1, 100000, PL_OPT_SERVE,
     "N", "requests waiting for a hashing thread; beyond, 503 with Retry-After (default 256)",
     NULL},
    {"metrics-http", "PLINTH_METRICS_HTTP", PL_OPT_STR, PL_OPT_S(pl_cfg.metrics_http), 0, 0,
     PL_OPT_RUN, "ADDR:PORT",
     "serve /metrics, /healthz and /readyz on this address; /metrics then leaves the API "
     "listener (default: off)",
     check_metrics_http},
    {"shutdown-timeout", "PLINTH_SHUTDOWN_TIMEOUT", PL_OPT_INT, &pl_cfg.shutdown_timeout, 0, 0,
     3600, PL_OPT_RUN, "SECONDS",
     "on SIGTERM, wait this long for requests and jobs in flight (default 30)", NULL},
    {"sqlite-sync", "PLINTH_SQLITE_SYNC", PL_OPT_ENUM, &sqlite_sync_mode, 0, 0, 0, PL_OPT_STORAGE,
     "full|normal", "SQLite durability: full survives power loss (default full)", NULL},
    {"access-log", "PLINTH_ACCESS_LOG", PL_OPT_BOOL, &pl_cfg.access_log, 0, 0, 0, PL_OPT_SERVE,
     "on|off", "one JSON line per request on stderr (default on)", NULL},
    {"rate-limit", "PLINTH_RATE_LIMIT", PL_OPT_BOOL, &pl_cfg.rate_limit, 0, 0, 0, PL_OPT_SERVE,
     "on|off", "general per-IP API rate limit (default off)", NULL},
    {"rate-limit-rps", "PLINTH_RATE_LIMIT_RPS", PL_OPT_INT, &pl_cfg.rate_limit_rps, 0, 1, 1000000,
     PL_OPT_SERVE, "N", "requests per second per client IP when --rate-limit is on (default 100)",
     NULL},
    {NULL, "PLINTH_DATABASE_URL", PL_OPT_STR, PL_OPT_S(pl_cfg.database_url), 0, 0, PL_OPT_STORAGE,
     "postgres://...", "use PostgreSQL instead of the embedded SQLite database",
     check_database_url},
    {NULL, "PLINTH_CORS_ORIGINS", PL_OPT_STR, PL_OPT_S(pl_cfg.cors_origins), 0, 0, PL_OPT_SERVE,
     "ORIGINS", "comma-separated origins allowed by CORS, or * (default: CORS off)", NULL},
    {NULL, "PLINTH_TRUSTED_PROXIES", PL_OPT_STR, PL_OPT_S(pl_cfg.trusted_proxies), 0, 0,
     PL_OPT_SERVE, "CIDRS", "comma-separated proxies whose X-Forwarded-For is believed", NULL},
    {NULL, "PLINTH_PUBLIC_URL", PL_OPT_STR, PL_OPT_S(pl_cfg.public_url), 0, 0, PL_OPT_STORAGE,
     "URL",
     "base URL of the pages emails link to (default http://<--http>/account, the account portal)",
     NULL},
    {NULL, "PLINTH_PRODUCT_NAME", PL_OPT_STR, PL_OPT_S(pl_cfg.product_name), 0, 0, PL_OPT_STORAGE,
     "NAME", "the product's name in emails and on the dashboards (default plinth)", NULL},
    {NULL, "PLINTH_PUBLIC_API_URL", PL_OPT_STR, PL_OPT_S(pl_cfg.public_api_url), 0, 0,
     PL_OPT_STORAGE, "URL",
     "base URL of this API as clients reach it: the access tokens' issuer (default "
     "http://<--http>)",
     check_public_api_url},
    {NULL, "PLINTH_MASTER_KEY", PL_OPT_STR, PL_OPT_S(pl_cfg.master_key), 0, 0, PL_OPT_STORAGE,
     "KEY", "key sealing secrets at rest, >= 32 bytes (default: generated into the data directory)",
     NULL},
    {NULL, "PLINTH_METRICS_TOKEN", PL_OPT_STR, PL_OPT_S(pl_cfg.metrics_token), 0, 0, PL_OPT_RUN,
     "TOKEN", "/metrics answers only requests with \"Authorization: Bearer TOKEN\" (default: off)",
     NULL},
};

static bool is_end(const pl_option_t *o)
{
    return !o->flag && !o->env;
}

void pl_config_add(const pl_option_t *opts)
{
    if (ntables < MAX_TABLES && opts)
        tables[ntables++] = opts;
}

static void set_defaults(void)
{
    memset(&pl_cfg, 0, sizeof(pl_cfg));
    snprintf(pl_cfg.http_addr, sizeof(pl_cfg.http_addr), "127.0.0.1:8080");
    snprintf(pl_cfg.data_dir, sizeof(pl_cfg.data_dir), "./plinth_data");
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    pl_cfg.threads = (int)(cores > 0 ? 2 * cores : 4);
    pl_cfg.workers = 2;
    pl_cfg.max_body = 1024 * 1024;
    pl_cfg.max_upload = 25 * 1024 * 1024;
    pl_cfg.conn_timeout = 30;
    pl_cfg.request_timeout = 30;
    pl_cfg.max_conns_per_ip = 64;
    pl_cfg.hash_threads = (int)(cores > 0 ? cores : 2);
    pl_cfg.hash_queue = 256;
    pl_cfg.shutdown_timeout = 30;
    pl_cfg.access_log = true;
    pl_cfg.rate_limit_rps = 100;
    sqlite_sync_mode = 0;
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

static int set_value(const pl_option_t *o, const char *v, const char *source)
{
    int64_t n;
    switch (o->type) {
    case PL_OPT_STR:
        if (strlen(v) >= o->size) {
            fprintf(stderr, "plinth: %s: value too long (at most %zu bytes)\n", source,
                    o->size - 1);
            return PL_EINVAL;
        }
        memcpy(o->ptr, v, strlen(v) + 1);
        return PL_OK;
    case PL_OPT_INT:
    case PL_OPT_INT64:
        if (pl_parse_int64(v, o->min, o->max, &n)) {
            fprintf(stderr, "plinth: %s: expected an integer from %lld to %lld, got \"%s\"\n",
                    source, (long long)o->min, (long long)o->max, v);
            return PL_EINVAL;
        }
        if (o->type == PL_OPT_INT)
            *(int *)o->ptr = (int)n;
        else
            *(int64_t *)o->ptr = n;
        return PL_OK;
    case PL_OPT_BOOL:
        if (!strcmp(v, "1") || !strcmp(v, "on") || !strcmp(v, "true") || !strcmp(v, "yes")) {
            *(bool *)o->ptr = true;
        } else if (!strcmp(v, "0") || !strcmp(v, "off") || !strcmp(v, "false") ||
                   !strcmp(v, "no")) {
            *(bool *)o->ptr = false;
        } else {
            fprintf(stderr, "plinth: %s: expected on or off, got \"%s\"\n", source, v);
            return PL_EINVAL;
        }
        return PL_OK;
    case PL_OPT_ENUM: {
        /* the choices are the arg text "a|b|c" */
        const char *c = o->arg;
        size_t vl = strlen(v);
        for (int i = 0; c && *c; i++) {
            const char *bar = strchr(c, '|');
            size_t cl = bar ? (size_t)(bar - c) : strlen(c);
            if (cl == vl && !strncmp(c, v, vl)) {
                *(int *)o->ptr = i;
                return PL_OK;
            }
            c = bar ? bar + 1 : c + cl;
        }
        fprintf(stderr, "plinth: %s: expected one of %s, got \"%s\"\n", source, o->arg, v);
        return PL_EINVAL;
    }
    }
    return PL_EINVAL;
}

/* Calls fn on every option that applies to cmds: the core's, the modules',
 * then the command's own. Stops at the first non-zero result. */
static int each_option(unsigned cmds, const pl_option_t *own,
                       int (*fn)(const pl_option_t *o, void *arg), void *arg)
{
    int rc;
    for (size_t i = 0; i < PL_ARRAY_LEN(core_opts); i++)
        if ((core_opts[i].cmds & cmds) && (rc = fn(&core_opts[i], arg)))
            return rc;
    for (size_t t = 0; t < ntables; t++)
        for (const pl_option_t *o = tables[t]; !is_end(o); o++)
            if ((o->cmds & cmds) && (rc = fn(o, arg)))
                return rc;
    for (const pl_option_t *o = own; o && !is_end(o); o++)
        if ((rc = fn(o, arg)))
            return rc;
    return PL_OK;
}

static int print_flag(const pl_option_t *o, void *arg)
{
    PL_UNUSED(arg);
    if (o->flag) {
        char left[64];
        snprintf(left, sizeof(left), "--%s %s", o->flag, o->arg);
        if (o->env)
            printf("  %-30s %s [%s]\n", left, o->help, o->env);
        else
            printf("  %-30s %s\n", left, o->help);
    }
    return 0;
}

static int print_env(const pl_option_t *o, void *arg)
{
    PL_UNUSED(arg);
    if (!o->flag && o->env)
        printf("  %-30s %s\n", o->env, o->help);
    return 0;
}

void pl_config_help(unsigned cmds, const pl_option_t *own, const char *usage)
{
    printf("%s\n\nOptions (each also read from its environment variable):\n", usage);
    each_option(cmds, own, print_flag, NULL);
    printf("  %-30s %s\n", "--help", "show this help");
    printf("\nEnvironment only:\n");
    each_option(cmds, own, print_env, NULL);
}

static int from_env(const pl_option_t *o, void *arg)
{
    PL_UNUSED(arg);
    const char *v = o->env ? getenv(o->env) : NULL;
    return v ? set_value(o, v, o->env) : PL_OK;
}

typedef struct {
    const char *name;
    size_t len;
    const pl_option_t *found;
} find_t;

static int find_flag(const pl_option_t *o, void *arg)
{
    find_t *f = arg;
    if (o->flag && strlen(o->flag) == f->len && !strncmp(o->flag, f->name, f->len))
        f->found = o;
    return 0;
}

static int run_check(const pl_option_t *o, void *arg)
{
    PL_UNUSED(arg);
    return o->check ? o->check() : PL_OK;
}

static bool is_bool_word(const char *v)
{
    static const char *const words[] = {"1", "0", "on", "off", "true", "false", "yes", "no"};
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
        if (!strcmp(v, words[i]))
            return true;
    return false;
}

int pl_config_load(unsigned cmds, const pl_option_t *own, int argc, char **argv, const char *usage,
                   char **pos, int max_pos, int *npos)
{
    set_defaults();
    if (npos)
        *npos = 0;
    if (each_option(cmds, own, from_env, NULL))
        return PL_EINVAL;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            pl_config_help(cmds, own, usage);
            return PL_EEXISTS;
        }
        if (strncmp(a, "--", 2) != 0) {
            if (pos && npos && *npos < max_pos) {
                pos[(*npos)++] = argv[i];
                continue;
            }
            fprintf(stderr, "plinth: unexpected argument \"%s\" (see --help)\n", a);
            return PL_EINVAL;
        }
        find_t f = {a + 2, 0, NULL};
        const char *eq = strchr(f.name, '=');
        f.len = eq ? (size_t)(eq - f.name) : strlen(f.name);
        each_option(cmds, own, find_flag, &f);
        if (!f.found) {
            fprintf(stderr, "plinth: unknown option \"%.*s\" (see --help)\n", (int)(f.len + 2), a);
            return PL_EINVAL;
        }
        const char *v = eq ? eq + 1 : NULL;
        /* a boolean flag alone ("--without-keys") turns it on */
        if (!v && f.found->type == PL_OPT_BOOL && (i + 1 >= argc || !is_bool_word(argv[i + 1])))
            v = "on";
        if (!v) {
            if (i + 1 >= argc) {
                fprintf(stderr, "plinth: --%s needs a value (%s)\n", f.found->flag, f.found->arg);
                return PL_EINVAL;
            }
            v = argv[++i];
        }
        char src[80];
        snprintf(src, sizeof(src), "--%s", f.found->flag);
        if (set_value(f.found, v, src))
            return PL_EINVAL;
    }
    /* --http is parsed for every command: the public URL defaults from it */
    if (!(cmds & PL_OPT_SERVE) && check_http())
        return PL_EINVAL;
    if (each_option(cmds, own, run_check, NULL))
        return PL_EINVAL;
    pl_cfg.sqlite_sync_full = sqlite_sync_mode == 0;
    snprintf(pl_cfg.sqlite_path, sizeof(pl_cfg.sqlite_path), "%s/plinth.db", pl_cfg.data_dir);
    if (!pl_cfg.public_url[0]) /* the built-in account portal's pages */
        snprintf(pl_cfg.public_url, sizeof(pl_cfg.public_url), "http://%s/account",
                 pl_cfg.http_addr);
    if (!pl_cfg.product_name[0])
        snprintf(pl_cfg.product_name, sizeof(pl_cfg.product_name), "plinth");
    for (const char *c = pl_cfg.product_name; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f) {
            fprintf(stderr, "plinth: PLINTH_PRODUCT_NAME must not contain control characters\n");
            return PL_EINVAL;
        }
    size_t ul = strlen(pl_cfg.public_url);
    while (ul && pl_cfg.public_url[ul - 1] == '/')
        pl_cfg.public_url[--ul] = '\0';
    if (!pl_cfg.public_api_url[0])
        snprintf(pl_cfg.public_api_url, sizeof(pl_cfg.public_api_url), "http://%s",
                 pl_cfg.http_addr);
    ul = strlen(pl_cfg.public_api_url);
    while (ul && pl_cfg.public_api_url[ul - 1] == '/')
        pl_cfg.public_api_url[--ul] = '\0';
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

int pl_config_require_data_dir(void)
{
    struct stat st;
    if (stat(pl_cfg.data_dir, &st) == 0 && S_ISDIR(st.st_mode)) {
        /* on SQLite the database must be there too: a directory alone is
         * not an installation */
        if (pl_cfg.database_url[0] || stat(pl_cfg.sqlite_path, &st) == 0)
            return PL_OK;
        fprintf(stderr,
                "plinth: no database at %s: this command works on an existing installation "
                "(run it where the server runs, or pass --data DIR)\n",
                pl_cfg.sqlite_path);
        return PL_ENOTFOUND;
    }
    fprintf(stderr,
            "plinth: no data directory at %s: this command works on an existing installation "
            "(run it where the server runs, or pass --data DIR)\n",
            pl_cfg.data_dir);
    return PL_ENOTFOUND;
}

int pl_config_lock_data_dir(bool exclusive)
{
    static int fd = -1; /* held until exit; the kernel releases it */
    char path[1100];
    snprintf(path, sizeof(path), "%s/plinth.lock", pl_cfg.data_dir);
    if (fd < 0 && (fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0) {
        fprintf(stderr, "plinth: cannot open %s: %s\n", path, strerror(errno));
        return PL_EDB;
    }
    if (flock(fd, (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB) == 0)
        return PL_OK;
    return errno == EWOULDBLOCK ? PL_EBUSY : PL_EDB;
}
