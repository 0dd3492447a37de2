/* keyring.c - the master key, generated key files, and sealing. */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/config.h"
#include "core/crypto.h"
#include "core/keyring.h"

static unsigned char master[32];
static bool master_from_file;

int pl_keyring_key_file(const char *name, unsigned char *key, size_t n)
{
    char path[1200];
    snprintf(path, sizeof(path), "%s/%s", pl_cfg.data_dir, name);
    char hex[2 * 64 + 2];
    if (n > 64)
        return PL_EINTERNAL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) {
        unsigned char fresh[64];
        pl_random_bytes(fresh, n);
        pl_hex(fresh, n, hex);
        pl_memzero(fresh, sizeof(fresh));
        int w = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (w >= 0) {
            bool ok = write(w, hex, 2 * n) == (ssize_t)(2 * n) && fsync(w) == 0;
            close(w);
            if (!ok) {
                unlink(path);
                fprintf(stderr, "plinth: cannot write %s\n", path);
                return PL_EINTERNAL;
            }
            if (pl_cfg.database_url[0])
                pl_log("warn",
                       "generated %s in the data directory; every instance on this "
                       "database must share it (set the environment variable instead)",
                       name);
        } else if (errno != EEXIST) {
            fprintf(stderr, "plinth: cannot create %s: %s\n", path, strerror(errno));
            return PL_EINTERNAL;
        }
        fd = open(path, O_RDONLY | O_CLOEXEC);
    }
    if (fd < 0) {
        fprintf(stderr, "plinth: cannot read %s: %s\n", path, strerror(errno));
        return PL_EINTERNAL;
    }
    ssize_t r = read(fd, hex, sizeof(hex) - 1);
    close(fd);
    size_t bin_len = 0;
    if (r < (ssize_t)(2 * n) || sodium_hex2bin(key, n, hex, 2 * n, NULL, &bin_len, NULL) != 0 ||
        bin_len != n) {
        pl_memzero(hex, sizeof(hex));
        fprintf(stderr, "plinth: %s is damaged (expected %zu hex characters)\n", path, 2 * n);
        return PL_EINTERNAL;
    }
    pl_memzero(hex, sizeof(hex));
    return PL_OK;
}

int pl_keyring_derive(const char *text, size_t n, unsigned char out[32])
{
    if (n < 32)
        return PL_EINVAL;
    pl_sha256(text, n, out);
    return PL_OK;
}

void pl_keyring_fingerprint(const unsigned char key[32], char out[17])
{
    static const char label[] = "plinth key id";
    unsigned char mac[32];
    pl_hmac_sha256(key, 32, label, sizeof(label) - 1, mac);
    pl_hex(mac, 8, out);
}

bool pl_keyring_master_is_file(void)
{
    return master_from_file;
}

int pl_keyring_replace_file(const unsigned char key[32])
{
    char path[1200], tmp[1210], hex[65];
    snprintf(path, sizeof(path), "%s/master.key", pl_cfg.data_dir);
    snprintf(tmp, sizeof(tmp), "%s.new", path);
    pl_hex(key, 32, hex);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    bool ok = fd >= 0 && write(fd, hex, 64) == 64 && fsync(fd) == 0;
    if (fd >= 0)
        close(fd);
    pl_memzero(hex, sizeof(hex));
    if (!ok || rename(tmp, path) != 0) {
        fprintf(stderr, "plinth: cannot replace %s: %s\n", path, strerror(errno));
        unlink(tmp);
        return PL_EINTERNAL;
    }
    /* the rename itself must survive a crash: sync the directory */
    int dfd = open(pl_cfg.data_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return PL_OK;
}

int pl_keyring_init(void)
{
    if (pl_cfg.master_key[0]) {
        if (pl_keyring_derive(pl_cfg.master_key, strlen(pl_cfg.master_key), master)) {
            fprintf(stderr, "plinth: PLINTH_MASTER_KEY must be at least 32 bytes\n");
            return PL_EINVAL;
        }
        master_from_file = false;
        return PL_OK;
    }
    master_from_file = true;
    return pl_keyring_key_file("master.key", master, sizeof(master));
}

const unsigned char *pl_keyring_master(void)
{
    return master;
}

char *pl_keyring_seal(pl_arena_t *a, const void *msg, size_t n, const char *ad)
{
    return pl_seal(a, master, msg, n, ad);
}

long pl_keyring_open(const char *box, const char *ad, unsigned char *out, size_t out_size)
{
    return pl_unseal(master, box, ad, out, out_size);
}
