/* config.h - process configuration from flags and PLINTH_* environment variables.
 *
 * Every flag --some-name also reads PLINTH_SOME_NAME; a flag wins over the
 * environment. The configuration is filled once at start and read-only after. */
#ifndef PL_CONFIG_H
#define PL_CONFIG_H

#include "core/core.h"

typedef struct {
    /* serve */
    char http_addr[64]; /* --http ADDR:PORT, split below */
    char http_host[48];
    int http_port;
    char data_dir[1024];   /* --data */
    int threads;           /* --threads, default 2 x cores */
    int workers;           /* --workers, default 2 */
    int64_t max_body;      /* --max-body bytes, default 1 MiB */
    int conn_timeout;      /* --conn-timeout seconds for idle/slow clients */
    bool sqlite_sync_full; /* --sqlite-sync full|normal */
    bool access_log;       /* --access-log on|off */
    /* accounts */
    int access_ttl;              /* --access-ttl seconds */
    int64_t argon2_memory;       /* --argon2-memory bytes */
    int argon2_ops;              /* --argon2-ops */
    bool rate_limit;             /* --rate-limit: general API rate limit (off by default) */
    int rate_limit_rps;          /* --rate-limit-rps per client IP */
    bool require_verified_email; /* PLINTH_REQUIRE_VERIFIED_EMAIL */
    int audit_retention_days;    /* --audit-retention-days; 0 keeps forever */
    /* environment only */
    char database_url[1024];    /* PLINTH_DATABASE_URL */
    char cors_origins[2048];    /* PLINTH_CORS_ORIGINS: comma separated, "*" allowed */
    char trusted_proxies[2048]; /* PLINTH_TRUSTED_PROXIES: comma separated CIDRs */
    char public_url[512];       /* PLINTH_PUBLIC_URL (default http://<--http>) */
    char smtp_url[1024];        /* PLINTH_SMTP_URL: smtp[s]://user:pass@host:port; empty: log */
    char mail_from[320];        /* PLINTH_MAIL_FROM */
    char jwt_secret[512];       /* PLINTH_JWT_SECRET */
    char master_key[512];       /* PLINTH_MASTER_KEY */
    char mfa_issuer[64];        /* PLINTH_MFA_ISSUER */
    /* derived */
    char sqlite_path[1100];
} pl_config_t;

/* The process configuration (valid after pl_config_load). */
extern pl_config_t pl_cfg;

/* Which subcommand is being configured: decides which flags are accepted. */
typedef enum { PL_CMD_SERVE, PL_CMD_MIGRATE, PL_CMD_WORKER, PL_CMD_ADMIN, PL_CMD_AUDIT } pl_cmd_t;

/* Fills pl_cfg from defaults, the environment, then argv (flags only; argv[0]
 * is the first flag). Unknown flags, bad values: prints a message to stderr and
 * returns PL_EINVAL. "--help" prints help and returns PL_EEXISTS. Positional
 * arguments are rejected unless rest is non-NULL, where they are collected. */
int pl_config_load(pl_cmd_t cmd, int argc, char **argv, const char *usage);

/* Prints the flag table (with env names and defaults) for cmd to f. */
void pl_config_help(pl_cmd_t cmd, const char *usage);

/* Creates the data directory (0700) if missing. */
int pl_config_ensure_data_dir(void);

#endif
