/* storage.c - the storage interface and its local backend: objects are
 * files under the data directory's files/ (files/<org id>/<file id>).
 *
 * A new object is written to files/tmp/<random>.part, fsynced, renamed to
 * its key and the key's directory fsynced (docs/files.md): a crash leaves at
 * most a temporary file, removed at the next start, never a partial object.
 * The S3 backend (storage_s3.c) sits behind the same calls. */
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
#include "files/storage.h"
#include "files/storage_s3.h"

static char root[1100]; /* <data>/files */
static bool use_s3;

struct pl_fwriter {
    int fd;
    bool committed;
    char tmp[1200];
    char path[2048];
    pl_s3_writer_t *s3;
};

struct pl_freader {
    int fd;
    uint64_t left;
    pl_s3_reader_t *s3;
};

static int io_error(const char *what, const char *path)
{
    int e = errno;
    pl_log("error", "files: %s %s: %s", what, path, strerror(e));
    return e == ENOSPC || e == EDQUOT ? PL_ENOSPACE : PL_EINTERNAL;
}

static int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return io_error("open", dir);
    int rc = fsync(fd) ? io_error("fsync", dir) : PL_OK;
    close(fd);
    return rc;
}

/* mkdir that tolerates an existing directory, then makes the new entry
 * durable in its parent */
static int ensure_dir(const char *dir, const char *parent)
{
    if (mkdir(dir, 0700) == 0)
        return parent ? fsync_dir(parent) : PL_OK;
    return errno == EEXIST ? PL_OK : io_error("mkdir", dir);
}

static int remove_tree(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return errno == ENOENT ? PL_OK : io_error("opendir", dir);
    struct dirent *e;
    char path[4096];
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        unlink(path);
    }
    closedir(d);
    if (rmdir(dir) && errno != ENOENT)
        return io_error("rmdir", dir);
    return PL_OK;
}

static bool key_ok(const char *key)
{
    /* "<id>/<id>" of [0-9a-f-]: never "..", never absolute */
    size_t n = strlen(key);
    if (!n || n > 100 || key[0] == '/')
        return false;
    int slashes = 0;
    for (size_t i = 0; i < n; i++) {
        char c = key[i];
        if (c == '/')
            slashes++;
        else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || c == '-'))
            return false;
    }
    return slashes <= 1 && key[n - 1] != '/';
}

int pl_fstore_init(void)
{
    if (pl_s3_configured()) {
        use_s3 = true;
        return pl_s3_init();
    }
    snprintf(root, sizeof(root), "%s/files", pl_cfg.data_dir);
    char tmp[1200];
    snprintf(tmp, sizeof(tmp), "%s/tmp", root);
    if (ensure_dir(root, pl_cfg.data_dir) || ensure_dir(tmp, root)) {
        fprintf(stderr, "plinth: cannot create %s\n", tmp);
        return PL_EINVAL;
    }
    /* uploads that a crash interrupted */
    DIR *d = opendir(tmp);
    if (d) {
        struct dirent *e;
        char path[4096];
        int removed = 0;
        while ((e = readdir(d))) {
            if (e->d_name[0] == '.')
                continue;
            snprintf(path, sizeof(path), "%s/%s", tmp, e->d_name);
            if (unlink(path) == 0)
                removed++;
        }
        closedir(d);
        if (removed)
            pl_log("info", "files: removed %d unfinished upload(s)", removed);
    }
    return PL_OK;
}

const char *pl_fstore_kind(void)
{
    return use_s3 ? "s3" : "local";
}

int pl_fstore_create(const char *key, pl_fwriter_t **out)
{
    *out = NULL;
    if (!key_ok(key))
        return PL_EINTERNAL;
    pl_fwriter_t *w = pl_xcalloc(1, sizeof(*w));
    w->fd = -1;
    if (use_s3) {
        int rc = pl_s3_writer_create(key, &w->s3);
        if (rc) {
            free(w);
            return rc;
        }
        *out = w;
        return PL_OK;
    }
    char name[40];
    pl_token_new(16, name, sizeof(name));
    snprintf(w->tmp, sizeof(w->tmp), "%s/tmp/%s.part", root, name);
    snprintf(w->path, sizeof(w->path), "%s/%s", root, key);
    w->fd = open(w->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (w->fd < 0) {
        int rc = io_error("create", w->tmp);
        free(w);
        return rc;
    }
    *out = w;
    return PL_OK;
}

int pl_fstore_write(pl_fwriter_t *w, const void *data, size_t n)
{
    if (w->s3)
        return pl_s3_write(w->s3, data, n);
    const char *p = data;
    while (n) {
        ssize_t k = write(w->fd, p, n);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return io_error("write", w->tmp);
        }
        p += k;
        n -= (size_t)k;
    }
    return PL_OK;
}

int pl_fstore_commit(pl_fwriter_t *w)
{
    if (w->s3) {
        int rc = pl_s3_commit(w->s3);
        w->committed = rc == PL_OK;
        return rc;
    }
    if (fsync(w->fd))
        return io_error("fsync", w->tmp);
    close(w->fd);
    w->fd = -1;
    char dir[2048];
    snprintf(dir, sizeof(dir), "%s", w->path);
    *strrchr(dir, '/') = '\0';
    int rc = ensure_dir(dir, root);
    if (rc)
        return rc;
    if (rename(w->tmp, w->path))
        return io_error("rename", w->path);
    w->committed = true;
    return fsync_dir(dir);
}

void pl_fstore_writer_free(pl_fwriter_t *w)
{
    if (!w)
        return;
    if (w->s3) {
        pl_s3_writer_free(w->s3); /* aborts an upload not completed */
    } else {
        if (w->fd >= 0)
            close(w->fd);
        if (!w->committed)
            unlink(w->tmp);
    }
    free(w);
}

int pl_fstore_delete(const char *key)
{
    if (!key_ok(key))
        return PL_EINTERNAL;
    if (use_s3)
        return pl_s3_delete(key);
    char path[2048];
    snprintf(path, sizeof(path), "%s/%s", root, key);
    if (unlink(path) && errno != ENOENT)
        return io_error("unlink", path);
    return PL_OK;
}

int pl_fstore_delete_prefix(const char *prefix)
{
    char p[128];
    snprintf(p, sizeof(p), "%s", prefix);
    size_t n = strlen(p);
    if (n && p[n - 1] == '/')
        p[--n] = '\0';
    if (!key_ok(p) || strchr(p, '/'))
        return PL_EINTERNAL;
    if (use_s3)
        return pl_s3_delete_prefix(p);
    char dir[2048];
    snprintf(dir, sizeof(dir), "%s/%s", root, p);
    return remove_tree(dir);
}

int pl_fstore_open(const char *key, uint64_t offset, uint64_t len, pl_freader_t **out)
{
    *out = NULL;
    if (!key_ok(key))
        return PL_ENOTFOUND;
    pl_freader_t *r = pl_xcalloc(1, sizeof(*r));
    r->fd = -1;
    r->left = len;
    if (use_s3) {
        int rc = pl_s3_open(key, offset, len, &r->s3);
        if (rc) {
            free(r);
            return rc;
        }
        *out = r;
        return PL_OK;
    }
    char path[2048];
    snprintf(path, sizeof(path), "%s/%s", root, key);
    r->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (r->fd < 0) {
        int rc = errno == ENOENT ? PL_ENOTFOUND : io_error("open", path);
        free(r);
        return rc;
    }
    if (lseek(r->fd, (off_t)offset, SEEK_SET) < 0) {
        int rc = io_error("seek", path);
        pl_fstore_reader_free(r);
        return rc;
    }
    *out = r;
    return PL_OK;
}

int pl_fstore_reader_fd(pl_freader_t *r)
{
    return r->fd;
}

long pl_fstore_read(pl_freader_t *r, char *buf, size_t max)
{
    if (r->s3)
        return pl_s3_read(r->s3, buf, max);
    if (!r->left)
        return 0;
    if (max > r->left)
        max = (size_t)r->left;
    ssize_t k;
    do
        k = read(r->fd, buf, max);
    while (k < 0 && errno == EINTR);
    if (k <= 0)
        return -1; /* an object shorter than its record */
    r->left -= (uint64_t)k;
    return (long)k;
}

void pl_fstore_reader_free(pl_freader_t *r)
{
    if (!r)
        return;
    if (r->fd >= 0)
        close(r->fd);
    pl_s3_reader_free(r->s3);
    free(r);
}
