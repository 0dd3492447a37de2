/* backup.c - the backup and restore commands (see backup.h). */
#include "platform/backup/backup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/config.h"
#include "core/crypto.h"
#include "core/progress.h"
#include "db/db.h"

#define EXIT_USAGE    2
#define KEY_FILE_MAX  (1024 * 1024)
#define COPY_BUF_SIZE (256 * 1024)

static char backup_to[1024];
static bool without_keys;
static char restore_from[1024];

/* ---- files ---- */

/* fsync of a path (a file, or the directory that names it). */
static int sync_path(const char *path, bool dir)
{
    int fd = open(path, (dir ? O_RDONLY | O_DIRECTORY : O_RDWR) | O_CLOEXEC);
    if (fd < 0)
        return PL_EDB;
    int rc = fsync(fd) == 0 ? PL_OK : PL_EDB;
    close(fd);
    return rc;
}

/* The directory part of path ("." when there is none), in out. */
static void dir_of(const char *path, char *out, size_t size)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(out, size, ".");
    else if (slash == path)
        snprintf(out, size, "/");
    else
        snprintf(out, size, "%.*s", (int)(slash - path), path);
}

/* A file of the data directory that a backup carries: generated keys and
 * other small files, never the database, its journals or the lock. */
static bool carried(const char *name)
{
    if (name[0] == '.' || !strncmp(name, "plinth.db", 9) || !strcmp(name, "plinth.lock"))
        return false;
    size_t n = strlen(name);
    bool key = n > 4 && !strcmp(name + n - 4, ".key");
    return !(key && without_keys);
}

/* Writes data to dir/name through a temporary file and a rename (0600). */
static int write_file(const char *dir, const char *name, const void *data, size_t len)
{
    char path[1200], tmp[1210];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return PL_EDB;
    const char *p = data;
    size_t left = len;
    while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            close(fd);
            unlink(tmp);
            return PL_EDB;
        }
        p += w;
        left -= (size_t)w;
    }
    int rc = fsync(fd) == 0 ? PL_OK : PL_EDB;
    close(fd);
    if (rc || rename(tmp, path) != 0) {
        unlink(tmp);
        return PL_EDB;
    }
    return PL_OK;
}

/* Reads a small file whole; NULL on error (or when it is too large). */
static char *read_small(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = pl_xmalloc(KEY_FILE_MAX);
    size_t n = fread(buf, 1, KEY_FILE_MAX, f);
    bool ok = !ferror(f) && n < KEY_FILE_MAX;
    fclose(f);
    if (!ok) {
        free(buf);
        return NULL;
    }
    *len = n;
    return buf;
}

/* ---- backup ---- */

static void on_progress(void *arg, int64_t done, int64_t total)
{
    pl_progress_update(arg, done, total);
}

/* Adds the carried files of the data directory to the backup at path;
 * *count is how many. */
static int add_files(const char *path, int *count, int *keys)
{
    DIR *d = opendir(pl_cfg.data_dir);
    if (!d) {
        fprintf(stderr, "plinth: cannot read %s: %s\n", pl_cfg.data_dir, strerror(errno));
        return PL_EDB;
    }
    int rc = PL_OK;
    struct dirent *e;
    while (rc == PL_OK && (e = readdir(d))) {
        char file[1300];
        struct stat st;
        snprintf(file, sizeof(file), "%s/%s", pl_cfg.data_dir, e->d_name);
        if (!carried(e->d_name) || stat(file, &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        size_t len = 0;
        char *data = read_small(file, &len);
        if (!data) {
            fprintf(stderr, "plinth: cannot read %s\n", file);
            rc = PL_EDB;
            break;
        }
        rc = pl_db_sqlite_files_put(path, e->d_name, data, len);
        pl_memzero(data, len);
        free(data);
        (*count)++;
        size_t n = strlen(e->d_name);
        if (n > 4 && !strcmp(e->d_name + n - 4, ".key"))
            (*keys)++;
    }
    closedir(d);
    return rc;
}

static int backup_cmd(pl_cli_t *cli)
{
    if (pl_db_engine() == PL_DB_POSTGRES) {
        fprintf(stderr, "plinth: backup copies the SQLite database; on PostgreSQL use pg_dump "
                        "(pg_dump -Fc \"$PLINTH_DATABASE_URL\" > plinth.dump) and keep "
                        "PLINTH_MASTER_KEY and PLINTH_JWT_SECRET with it\n");
        return EXIT_USAGE;
    }
    if (!backup_to[0]) {
        fprintf(stderr, "plinth: backup needs --to FILE\n");
        return EXIT_USAGE;
    }
    struct stat st;
    if (stat(backup_to, &st) == 0) {
        fprintf(stderr, "plinth: %s exists; choose a new file\n", backup_to);
        return EXIT_USAGE;
    }
    char tmp[1100], dir[1024];
    snprintf(tmp, sizeof(tmp), "%s.partial", backup_to);
    unlink(tmp);
    pl_progress_t p;
    pl_progress_start(&p, "backup", "pages");
    int files = 0, keys = 0;
    int rc = pl_db_sqlite_snapshot(cli->db, tmp, on_progress, &p);
    pl_progress_finish(&p);
    if (!rc)
        rc = add_files(tmp, &files, &keys);
    if (!rc && sync_path(tmp, false))
        rc = PL_EDB;
    if (!rc && rename(tmp, backup_to) != 0)
        rc = PL_EDB;
    if (rc) {
        unlink(tmp);
        fprintf(stderr, "plinth: backup to %s failed\n", backup_to);
        return 1;
    }
    dir_of(backup_to, dir, sizeof(dir));
    sync_path(dir, true);
    printf("backup written to %s (%lld pages, %d file%s from the data directory%s)\n", backup_to,
           (long long)p.total, files, files == 1 ? "" : "s",
           without_keys ? "; keys left out: a restore needs PLINTH_MASTER_KEY and "
                          "PLINTH_JWT_SECRET"
                        : "");
    if (!without_keys && keys == 0)
        printf("the data directory holds no generated keys: keep PLINTH_MASTER_KEY and "
               "PLINTH_JWT_SECRET with the backup\n");
    return 0;
}

/* ---- restore ---- */

/* Copies the file from into to (created, 0600), with progress in bytes. */
static int copy_file(const char *from, const char *to)
{
    int in = open(from, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return PL_EDB;
    int out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (out < 0) {
        close(in);
        return PL_EDB;
    }
    struct stat st;
    int64_t total = fstat(in, &st) == 0 ? (int64_t)st.st_size : 0, done = 0;
    char *buf = pl_xmalloc(COPY_BUF_SIZE);
    pl_progress_t p;
    pl_progress_start(&p, "restore", "bytes");
    int rc = PL_OK;
    for (;;) {
        ssize_t n = read(in, buf, COPY_BUF_SIZE);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            rc = n == 0 ? PL_OK : PL_EDB;
            break;
        }
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(out, buf + off, (size_t)(n - off));
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0) {
                rc = PL_EDB;
                break;
            }
            off += w;
        }
        if (rc)
            break;
        done += n;
        pl_progress_update(&p, done, total);
    }
    pl_progress_finish(&p);
    free(buf);
    if (!rc && fsync(out) != 0)
        rc = PL_EDB;
    close(out);
    close(in);
    return rc;
}

static int put_file(void *arg, const char *name, const void *data, size_t len)
{
    int *count = arg;
    /* a plain name in the data directory, nothing else */
    if (!name[0] || name[0] == '.' || strchr(name, '/') || !carried(name)) {
        fprintf(stderr, "plinth: the backup names a file \"%s\"; not restored\n", name);
        return PL_OK;
    }
    if (write_file(pl_cfg.data_dir, name, data, len)) {
        fprintf(stderr, "plinth: cannot write %s/%s: %s\n", pl_cfg.data_dir, name, strerror(errno));
        return PL_EDB;
    }
    (*count)++;
    return PL_OK;
}

static int restore_cmd(pl_cli_t *cli)
{
    PL_UNUSED(cli);
    if (pl_cfg.database_url[0]) {
        fprintf(stderr, "plinth: restore writes the SQLite database; on PostgreSQL use "
                        "pg_restore (pg_restore -d \"$PLINTH_DATABASE_URL\" plinth.dump)\n");
        return EXIT_USAGE;
    }
    if (!restore_from[0]) {
        fprintf(stderr, "plinth: restore needs --from FILE\n");
        return EXIT_USAGE;
    }
    pl_db_config_t dbc = {.engine = PL_DB_SQLITE, .sqlite_path = pl_cfg.sqlite_path};
    pl_db_configure(&dbc);
    int64_t version = 0;
    int rc = pl_db_sqlite_file_check(restore_from, &version);
    if (rc) {
        fprintf(stderr, "plinth: %s is not a plinth backup\n", restore_from);
        return EXIT_USAGE;
    }
    if (version > pl_db_schema_version()) {
        fprintf(stderr,
                "plinth: %s is at schema version %lld, newer than this plinth (%d): restore it "
                "with the plinth that made it\n",
                restore_from, (long long)version, pl_db_schema_version());
        return EXIT_USAGE;
    }
    if (pl_config_ensure_data_dir())
        return EXIT_USAGE;
    if ((rc = pl_config_lock_data_dir(true))) {
        if (rc == PL_EBUSY)
            fprintf(stderr,
                    "plinth: a server or worker is running on %s: stop it before restoring\n",
                    pl_cfg.data_dir);
        return EXIT_USAGE;
    }
    char tmp[1200], wal[1200], shm[1200];
    snprintf(tmp, sizeof(tmp), "%s.restore", pl_cfg.sqlite_path);
    snprintf(wal, sizeof(wal), "%s-wal", pl_cfg.sqlite_path);
    snprintf(shm, sizeof(shm), "%s-shm", pl_cfg.sqlite_path);
    int files = 0;
    rc = copy_file(restore_from, tmp);
    if (rc)
        fprintf(stderr, "plinth: cannot copy %s to %s: %s\n", restore_from, tmp, strerror(errno));
    if (!rc)
        rc = pl_db_sqlite_files_get(tmp, put_file, &files);
    if (!rc)
        rc = pl_db_sqlite_files_drop(tmp);
    if (!rc && sync_path(tmp, false))
        rc = PL_EDB;
    /* the old database's journals must not be replayed into the new one */
    if (!rc && ((unlink(wal) != 0 && errno != ENOENT) || (unlink(shm) != 0 && errno != ENOENT)))
        rc = PL_EDB;
    if (!rc && rename(tmp, pl_cfg.sqlite_path) != 0)
        rc = PL_EDB;
    if (rc) {
        unlink(tmp);
        fprintf(stderr, "plinth: restore into %s failed\n", pl_cfg.data_dir);
        return 1;
    }
    sync_path(pl_cfg.data_dir, true);
    printf("restored %s into %s (schema version %lld, %d file%s)\n", restore_from, pl_cfg.data_dir,
           (long long)version, files, files == 1 ? "" : "s");
    char master[1200];
    snprintf(master, sizeof(master), "%s/master.key", pl_cfg.data_dir);
    struct stat st;
    if (stat(master, &st) != 0 && !pl_cfg.master_key[0])
        printf("the backup holds no master key: start plinth with the PLINTH_MASTER_KEY and "
               "PLINTH_JWT_SECRET it ran with\n");
    return 0;
}

/* ---- the module ---- */

static const pl_option_t backup_options[] = {
    {"to", NULL, PL_OPT_STR, PL_OPT_S(backup_to), 0, 0, 0, "FILE",
     "the backup file to write (must not exist)", NULL},
    {"without-keys", NULL, PL_OPT_BOOL, &without_keys, 0, 0, 0, 0, "",
     "leave the generated keys out (a restore then needs PLINTH_MASTER_KEY and "
     "PLINTH_JWT_SECRET)",
     NULL},
    {0},
};

static const pl_option_t restore_options[] = {
    {"from", NULL, PL_OPT_STR, PL_OPT_S(restore_from), 0, 0, 0, "FILE",
     "the backup file to restore", NULL},
    {0},
};

static const pl_command_t commands[] = {
    {"backup", "write a consistent copy of the SQLite database and the keys, while serving",
     "Usage: plinth backup --to FILE [--without-keys] [options]\n"
     "Copies the database with SQLite's online backup API (the server keeps serving) and\n"
     "the data directory's generated keys into FILE. On PostgreSQL, use pg_dump.",
     backup_options, 0, PL_CMD_STORAGE | PL_CMD_EXISTING, backup_cmd},
    {"restore", "restore a backup into an empty or stopped data directory",
     "Usage: plinth restore --from FILE [--data DIR]\n"
     "Replaces the data directory's database and keys with the backup's. Refuses while a\n"
     "server or worker runs on the directory. On PostgreSQL, use pg_restore.",
     restore_options, 0, PL_CMD_OPTIONS, restore_cmd},
    {0},
};

const pl_module_t pl_backup_module = {
    .name = "backup",
    .commands = commands,
};
