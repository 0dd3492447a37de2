/* config.h - process configuration from flags and PLINTH_* environment variables.
 *
 * Options are declared in tables (pl_option_t): the core's own below, and each
 * module's in its descriptor (core/module.h), each pointing at the variable it
 * fills. Every flag --some-name also reads PLINTH_SOME_NAME; a flag wins over
 * the environment. The configuration is filled once at start, before any
 * thread starts, and read-only after. */
#ifndef PL_CONFIG_H
#define PL_CONFIG_H

#include "core/core.h"

/* The core's settings. */
typedef struct {
    /* serve */
    char http_addr[64]; /* --http ADDR:PORT, split below */
    char http_host[48];
    int http_port;
    char data_dir[1024];   /* --data */
    int threads;           /* --threads, default 2 x cores */
    int workers;           /* --workers, default 2 */
    int64_t max_body;      /* --max-body bytes, default 1 MiB */
    int64_t max_upload;    /* --max-upload bytes of a streamed body (uploads), default 25 MiB */
    int conn_timeout;      /* --conn-timeout seconds for idle/slow clients */
    int request_timeout;   /* --request-timeout seconds to receive a request (headers, body) */
    int max_conns_per_ip;  /* --max-conns-per-ip open connections per client address; 0: no cap */
    int hash_threads;      /* --hash-threads: the pool that runs password hashing */
    int hash_queue;        /* --hash-queue: requests waiting for it before 503 */
    bool sqlite_sync_full; /* --sqlite-sync full|normal */
    bool access_log;       /* --access-log on|off */
    bool rate_limit;       /* --rate-limit: general API rate limit (off by default) */
    int rate_limit_rps;    /* --rate-limit-rps per client IP */
    int shutdown_timeout;  /* --shutdown-timeout seconds for requests in flight */
    /* the operations listener (serve and worker) */
    char metrics_http[64]; /* --metrics-http ADDR:PORT: /metrics there only; "" none */
    char metrics_host[48];
    int metrics_port;
    /* environment only */
    char database_url[1024];    /* PLINTH_DATABASE_URL */
    char cors_origins[2048];    /* PLINTH_CORS_ORIGINS: comma separated, "*" allowed */
    char trusted_proxies[2048]; /* PLINTH_TRUSTED_PROXIES: comma separated CIDRs */
    char public_url[512];       /* PLINTH_PUBLIC_URL (default http://<--http>/account) */
    char product_name[128];     /* PLINTH_PRODUCT_NAME: emails and dashboards (default plinth) */
    char public_api_url[256];   /* PLINTH_PUBLIC_API_URL: where clients reach the API; the
                                 * access tokens' issuer (default http://<--http>) */
    char master_key[512];       /* PLINTH_MASTER_KEY */
    char metrics_token[256];    /* PLINTH_METRICS_TOKEN: bearer token /metrics requires */
    /* derived */
    char sqlite_path[1100];
} pl_config_t;

/* The process configuration (valid after pl_config_load). */
extern pl_config_t pl_cfg;

/* Which commands an option applies to (bit set). */
#define PL_OPT_SERVE   1u /* plinth serve */
#define PL_OPT_WORKER  2u /* plinth worker */
#define PL_OPT_STORAGE 4u /* every command that opens the data directory or database */
#define PL_OPT_RUN     (PL_OPT_SERVE | PL_OPT_WORKER)
#define PL_OPT_ALL     (PL_OPT_SERVE | PL_OPT_WORKER | PL_OPT_STORAGE)

typedef enum {
    PL_OPT_STR,   /* char[size] */
    PL_OPT_INT,   /* int, in [min, max] */
    PL_OPT_INT64, /* int64_t, in [min, max] */
    PL_OPT_BOOL,  /* bool: on|off|1|0|true|false|yes|no */
    PL_OPT_ENUM,  /* int: index of the value in choices ("a|b|c") */
} pl_opt_type_t;

typedef struct {
    const char *flag; /* without "--"; NULL: environment only */
    const char *env;  /* NULL: flag only */
    pl_opt_type_t type;
    void *ptr;   /* the variable filled; its initial value is the default */
    size_t size; /* for strings: the buffer size */
    int64_t min, max;
    unsigned cmds;      /* PL_OPT_*; 0 for a command's own options */
    const char *arg;    /* "N", "SECONDS", "on|off", ...; for enums the choices */
    const char *help;   /* one line, with the default in parentheses */
    int (*check)(void); /* optional: validates after loading; prints and returns PL_EINVAL */
} pl_option_t;

#define PL_OPT_S(v) (void *)(v), sizeof(v) /* a string option's ptr and size */

/* Adds a table of options (a module's, ending with an entry that has
 * neither flag nor env); call before pl_config_load. The table must outlive
 * the process. */
void pl_config_add(const pl_option_t *opts);

/* Fills pl_cfg and every registered option that applies to cmds from
 * defaults, the environment, then argv (argv[0] is the first argument; own
 * holds the command's own options, may be NULL). Positional arguments are
 * collected into pos (at most max_pos; more is an error). Unknown flags, bad
 * values: prints a message to stderr and returns PL_EINVAL. "--help" prints
 * help and returns PL_EEXISTS. */
int pl_config_load(unsigned cmds, const pl_option_t *own, int argc, char **argv, const char *usage,
                   char **pos, int max_pos, int *npos);

/* Prints the usage and the options that apply to cmds. */
void pl_config_help(unsigned cmds, const pl_option_t *own, const char *usage);

/* Creates the data directory (0700) if missing. */
int pl_config_ensure_data_dir(void);
/* PL_OK when the data directory exists; else prints that it does not (the
 * command needs an existing installation) and returns PL_ENOTFOUND. */
int pl_config_require_data_dir(void);
/* Locks the data directory (the file plinth.lock in it) for the life of the
 * process: shared for servers and workers, exclusive for a restore, which
 * must not run beside them. PL_EBUSY when the other kind holds it; PL_EDB
 * when the lock file cannot be opened (message printed). */
int pl_config_lock_data_dir(bool exclusive);

#endif
