/* keys.c - data keys (sealed under the master key), sealing values under
 * them, master key rotation and verification. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/config.h"
#include "core/crypto.h"
#include "core/keyring.h"
#include "core/progress.h"
#include "core/rows.h"
#include "platform/keys/keys.h"
#include "platform/keys/keys_store.h"

#define BOX_PREFIX     "dk1."
#define BOX_PREFIX_LEN 4
#define SEALED_KEY_MAX 160 /* a sealed data key is 96 characters */

/* ---- the per-thread cache of opened data keys ---- */

/* Keyed by the sealed text read from the caller's transaction: a key that
 * was created and rolled back is never read again, and a rotated master
 * key changes every sealed text. Direct-mapped; a collision evicts. */
#define CACHE_SLOTS 32

typedef struct {
    char scope[PL_ID_LEN + 16];
    char sealed[SEALED_KEY_MAX];
    unsigned char key[32];
} cache_slot_t;

static __thread cache_slot_t cache[CACHE_SLOTS];

static uint32_t text_hash(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

static const char *scope_of(const char *org_id)
{
    return org_id ? org_id : PL_KEYS_INSTANCE;
}

/* The associated data of a sealed data key: its scope. */
static void key_ad(const char *scope, char out[64])
{
    snprintf(out, 64, "datakey/%s", scope);
}

/* Opens a sealed data key under master (the current one unless given). */
static int open_key(const unsigned char *master_key, const char *scope, const char *sealed,
                    unsigned char out[32])
{
    char ad[64];
    key_ad(scope, ad);
    unsigned char buf[64];
    long n = pl_unseal(master_key, sealed, ad, buf, sizeof(buf));
    if (n != 32) {
        pl_memzero(buf, sizeof(buf));
        return PL_EINTERNAL;
    }
    memcpy(out, buf, 32);
    pl_memzero(buf, sizeof(buf));
    return PL_OK;
}

static int open_cached(const char *scope, const char *sealed, unsigned char out[32])
{
    /* the scope is part of the key: a sealed key copied into another
     * scope's row must not open from the cache (it does not under its AD) */
    size_t len = strlen(sealed), slen = strlen(scope);
    cache_slot_t *slot = &cache[(text_hash(sealed) ^ text_hash(scope)) % CACHE_SLOTS];
    if (!strcmp(slot->sealed, sealed) && !strcmp(slot->scope, scope)) {
        memcpy(out, slot->key, 32);
        return PL_OK;
    }
    int rc = open_key(pl_keyring_master(), scope, sealed, out);
    if (rc)
        return rc;
    if (len < sizeof(slot->sealed) && slen < sizeof(slot->scope)) {
        memcpy(slot->scope, scope, slen + 1);
        memcpy(slot->sealed, sealed, len + 1);
        memcpy(slot->key, out, 32);
    }
    return PL_OK;
}

/* ---- data keys ---- */

static char *seal_new_key(pl_arena_t *a, const unsigned char *master_key, const char *scope,
                          const unsigned char key[32])
{
    char ad[64];
    key_ad(scope, ad);
    return pl_seal(a, master_key, key, 32, ad);
}

int pl_keys_load(pl_db_t *db, const char *org_id, bool create, pl_datakey_t *out)
{
    const char *scope = scope_of(org_id);
    char sealed[SEALED_KEY_MAX];
    int rc = pl_keys_store_get(db, scope, sealed, sizeof(sealed));
    if (rc == PL_ENOTFOUND && create) {
        unsigned char fresh[32];
        char master_id[17];
        pl_arena_t *a = pl_arena_create();
        pl_random_bytes(fresh, sizeof(fresh));
        pl_keyring_fingerprint(pl_keyring_master(), master_id);
        char *box = seal_new_key(a, pl_keyring_master(), scope, fresh);
        pl_memzero(fresh, sizeof(fresh));
        rc = pl_keys_store_insert(db, scope, org_id, box, master_id, pl_now_ms());
        pl_arena_destroy(a);
        /* read it back: a concurrent transaction may have inserted first */
        if (!rc)
            rc = pl_keys_store_get(db, scope, sealed, sizeof(sealed));
    }
    if (!rc && (rc = open_cached(scope, sealed, out->key)))
        pl_log("error",
               "keys: the data key of %s does not open under the master key (another master "
               "key, or a damaged row)",
               scope);
    return rc;
}

void pl_keys_release(pl_datakey_t *k)
{
    pl_memzero(k, sizeof(*k));
}

char *pl_keys_seal_with(pl_arena_t *a, const pl_datakey_t *k, const void *msg, size_t n,
                        const char *ad)
{
    char *box = pl_seal(a, k->key, msg, n, ad);
    return pl_arena_printf(a, BOX_PREFIX "%s", box);
}

/* Plaintexts opened into an arena are wiped before the arena frees them. */
typedef struct {
    void *ptr;
    size_t len;
} wipe_t;

static void wipe(void *arg)
{
    wipe_t *w = arg;
    pl_memzero(w->ptr, w->len);
}

int pl_keys_open_with(pl_arena_t *a, const pl_datakey_t *k, const char *box, const char *ad,
                      char **out, size_t *n)
{
    if (!box || strncmp(box, BOX_PREFIX, BOX_PREFIX_LEN))
        return PL_EINTERNAL;
    const char *b64 = box + BOX_PREFIX_LEN;
    size_t cap = strlen(b64) / 4 * 3 + 3;
    if (cap > PL_KEYS_VALUE_MAX + 64)
        cap = PL_KEYS_VALUE_MAX + 64;
    char *buf = pl_arena_alloc(a, cap + 1);
    long len = pl_unseal(k->key, b64, ad, (unsigned char *)buf, cap);
    if (len < 0 || (size_t)len > PL_KEYS_VALUE_MAX) {
        pl_memzero(buf, cap);
        return PL_EINTERNAL;
    }
    buf[len] = '\0';
    wipe_t *w = pl_arena_alloc(a, sizeof(*w));
    w->ptr = buf;
    w->len = cap;
    pl_arena_cleanup_add(a, wipe, w);
    *out = buf;
    *n = (size_t)len;
    return PL_OK;
}

long pl_keys_open_into(const pl_datakey_t *k, const char *box, const char *ad, unsigned char *out,
                       size_t out_size)
{
    if (!box || strncmp(box, BOX_PREFIX, BOX_PREFIX_LEN))
        return -1;
    return pl_unseal(k->key, box + BOX_PREFIX_LEN, ad, out, out_size);
}

int pl_keys_seal(pl_db_t *db, pl_arena_t *a, const char *org_id, const void *msg, size_t n,
                 const char *ad, char **box)
{
    pl_datakey_t k;
    int rc = pl_keys_load(db, org_id, true, &k);
    if (rc)
        return rc;
    *box = pl_keys_seal_with(a, &k, msg, n, ad);
    pl_keys_release(&k);
    return PL_OK;
}

int pl_keys_open(pl_db_t *db, pl_arena_t *a, const char *org_id, const char *box, const char *ad,
                 char **out, size_t *n)
{
    pl_datakey_t k;
    int rc = pl_keys_load(db, org_id, false, &k);
    if (rc == PL_ENOTFOUND) {
        pl_log("error", "keys: %s has sealed values but no data key", scope_of(org_id));
        return PL_EINTERNAL;
    }
    if (rc)
        return rc;
    rc = pl_keys_open_with(a, &k, box, ad, out, n);
    pl_keys_release(&k);
    if (rc)
        pl_log("error",
               "keys: a sealed value of %s does not open for %s (altered, or copied "
               "from another row)",
               scope_of(org_id), ad);
    return rc;
}

bool pl_keys_is_legacy(const char *box)
{
    return box && strncmp(box, BOX_PREFIX, BOX_PREFIX_LEN) != 0;
}

int pl_keys_reseal_legacy(pl_db_t *db, pl_arena_t *a, const char *org_id, const char *box,
                          const char *legacy_ad, const char *ad, char **out)
{
    size_t cap = strlen(box) / 4 * 3 + 3;
    unsigned char *plain = pl_arena_alloc(a, cap);
    long n = pl_keyring_open(box, legacy_ad, plain, cap);
    if (n < 0) {
        pl_log("error", "keys: a legacy sealed value of %s does not open under the master key",
               scope_of(org_id));
        return PL_EINTERNAL;
    }
    int rc = pl_keys_seal(db, a, org_id, plain, (size_t)n, ad, out);
    pl_memzero(plain, cap);
    return rc;
}

/* ---- verification ---- */

#define MAX_SOURCES 16

static struct {
    const char *name;
    pl_keys_source_fn fn;
} sources[MAX_SOURCES];
static int nsources;

void pl_keys_add_source(const char *name, pl_keys_source_fn fn)
{
    for (int i = 0; i < nsources; i++)
        if (sources[i].fn == fn)
            return;
    if (nsources < MAX_SOURCES && fn) {
        sources[nsources].name = name;
        sources[nsources].fn = fn;
        nsources++;
    }
}

struct pl_keys_check {
    pl_db_t *db;
    int64_t opened;
    pl_progress_t *progress; /* NULL: none */
    char failed[512];
};

int pl_keys_check_box(pl_keys_check_t *chk, const char *org_id, const char *box, const char *ad,
                      const char *legacy_ad, const char *label)
{
    pl_arena_t *a = pl_arena_create();
    int rc;
    if (pl_keys_is_legacy(box)) {
        size_t cap = strlen(box) / 4 * 3 + 3;
        unsigned char *plain = pl_arena_alloc(a, cap);
        long n = legacy_ad ? pl_keyring_open(box, legacy_ad, plain, cap) : -1;
        rc = n < 0 ? PL_EINTERNAL : PL_OK;
        pl_memzero(plain, cap);
    } else {
        pl_datakey_t k;
        rc = pl_keys_load(chk->db, org_id, false, &k);
        if (!rc) {
            char *plain = NULL;
            size_t n = 0;
            rc = pl_keys_open_with(a, &k, box, ad, &plain, &n);
            if (plain)
                pl_memzero(plain, n);
            pl_keys_release(&k);
        }
        if (rc == PL_ENOTFOUND)
            rc = PL_EINTERNAL; /* a sealed value without its data key */
    }
    pl_arena_destroy(a);
    if (rc == PL_EDB)
        return rc;
    if (rc) {
        snprintf(chk->failed, sizeof(chk->failed), "%s", label);
        return PL_EINTERNAL;
    }
    chk->opened++;
    if (chk->progress)
        pl_progress_update(chk->progress, chk->opened, 0);
    return PL_OK;
}

/* Opens every data key under the current master key; *count gets how many
 * there are. */
static int check_data_keys(pl_db_t *db, pl_keys_check_t *chk, int64_t *count)
{
    pl_arena_t *a = pl_arena_create();
    pl_rows_t orgs;
    pl_rows_init(&orgs, a, sizeof(const char *), 0);
    int rc = pl_db_begin_read(db);
    if (!rc)
        rc = pl_keys_store_orgs(db, a, &orgs);
    for (int i = -1; !rc && i < orgs.n; i++) {
        const char *org = i < 0 ? NULL : *(const char **)pl_rows_at(&orgs, i);
        char sealed[SEALED_KEY_MAX];
        unsigned char key[32];
        if (org)
            rc = pl_db_set_context(db, "app.org_id", org);
        if (!rc &&
            (rc = pl_keys_store_get(db, scope_of(org), sealed, sizeof(sealed))) == PL_ENOTFOUND) {
            rc = PL_OK;
            continue;
        }
        if (!rc && open_key(pl_keyring_master(), scope_of(org), sealed, key)) {
            if (org)
                snprintf(chk->failed, sizeof(chk->failed), "the data key of organization %s", org);
            else
                snprintf(chk->failed, sizeof(chk->failed), "the instance data key");
            rc = PL_EINTERNAL;
        }
        pl_memzero(key, sizeof(key));
        if (!rc)
            (*count)++;
    }
    pl_db_rollback(db);
    pl_arena_destroy(a);
    return rc;
}

/* ---- master rotation ---- */

int pl_keys_rotate_master(pl_db_t *db, const unsigned char new_master[32],
                          void (*progress)(int done, int total))
{
    pl_arena_t *a = pl_arena_create();
    pl_rows_t orgs;
    pl_rows_init(&orgs, a, sizeof(const char *), 0);
    char new_id[17];
    pl_keyring_fingerprint(new_master, new_id);
    int64_t now = pl_now_ms();
    int rc = pl_db_begin(db);
    if (rc)
        goto done;
    rc = pl_keys_store_orgs(db, a, &orgs);
    for (int i = -1; !rc && i < orgs.n; i++) {
        const char *org = i < 0 ? NULL : *(const char **)pl_rows_at(&orgs, i);
        const char *scope = scope_of(org);
        char sealed[SEALED_KEY_MAX];
        unsigned char key[32];
        if (org)
            rc = pl_db_set_context(db, "app.org_id", org);
        if (!rc)
            rc = pl_keys_store_get(db, scope, sealed, sizeof(sealed));
        if (rc == PL_ENOTFOUND) {
            rc = PL_OK;
        } else if (!rc && open_key(pl_keyring_master(), scope, sealed, key)) {
            fprintf(stderr,
                    "plinth: the data key of %s does not open under the current master key; "
                    "nothing was changed\n",
                    scope);
            rc = PL_EINTERNAL;
        } else if (!rc) {
            char *box = seal_new_key(a, new_master, scope, key);
            rc = pl_keys_store_update(db, scope, box, new_id, now);
        }
        pl_memzero(key, sizeof(key));
        if (progress && !rc)
            progress(i + 2, orgs.n + 1);
    }
    rc = pl_db_finish(db, rc);
done:
    pl_arena_destroy(a);
    return rc;
}

/* ---- commands ---- */

static char new_key_text[1024];
static char new_key_file[1024];

/* The new master key: --new-key-file F (its content, without a trailing
 * newline) or PLINTH_MASTER_KEY_NEW; at least 32 bytes, derived like
 * PLINTH_MASTER_KEY. */
static int read_new_key(unsigned char out[32])
{
    char buf[1024];
    size_t n = 0;
    int rc;
    if (new_key_file[0]) {
        int fd = open(new_key_file, O_RDONLY | O_CLOEXEC);
        ssize_t r = fd >= 0 ? read(fd, buf, sizeof(buf)) : -1;
        if (fd >= 0)
            close(fd);
        if (r < 0) {
            fprintf(stderr, "plinth: cannot read %s: %s\n", new_key_file, strerror(errno));
            return PL_EINVAL;
        }
        n = (size_t)r;
        while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
            n--;
    } else if (new_key_text[0]) {
        n = strlen(new_key_text);
        memcpy(buf, new_key_text, n);
    } else {
        fprintf(stderr, "plinth: give the new master key in PLINTH_MASTER_KEY_NEW or with "
                        "--new-key-file F\n");
        return PL_EINVAL;
    }
    rc = pl_keyring_derive(buf, n, out);
    pl_memzero(buf, sizeof(buf));
    pl_memzero(new_key_text, sizeof(new_key_text));
    if (rc)
        fprintf(stderr, "plinth: the new master key must be at least 32 bytes\n");
    return rc;
}

static pl_progress_t rotate_progress;

static void print_progress(int done, int total)
{
    pl_progress_update(&rotate_progress, done, total);
}

static int rotate_cmd(pl_cli_t *cli)
{
    unsigned char key[32];
    if (read_new_key(key))
        return 2;
    if (pl_ct_equal(key, pl_keyring_master(), 32)) {
        fprintf(stderr, "plinth: the new master key is the current one\n");
        pl_memzero(key, sizeof(key));
        return 2;
    }
    pl_progress_start(&rotate_progress, "re-sealing data keys", "keys");
    int rc = pl_keys_rotate_master(cli->db, key, print_progress);
    if (!rc)
        pl_progress_finish(&rotate_progress);
    if (rc) {
        pl_memzero(key, sizeof(key));
        if (rc != PL_EINTERNAL)
            fprintf(stderr, "plinth: the rotation failed (database error); nothing was changed\n");
        return 1;
    }
    char id[17];
    pl_keyring_fingerprint(key, id);
    if (pl_keyring_master_is_file()) {
        /* the data directory's generated key: it becomes the new one */
        if (pl_keyring_replace_file(key)) {
            fprintf(stderr,
                    "plinth: the data keys are sealed under the new key (%s) but "
                    "master.key could not be replaced: start with PLINTH_MASTER_KEY "
                    "set to the new key\n",
                    id);
            pl_memzero(key, sizeof(key));
            return 1;
        }
        printf("data keys re-sealed under the new master key %s; master.key in the data "
               "directory now holds it\n",
               id);
    } else {
        printf("data keys re-sealed under the new master key %s; set PLINTH_MASTER_KEY to it "
               "on every instance and restart them: the old key opens nothing any more\n",
               id);
    }
    pl_memzero(key, sizeof(key));
    return 0;
}

static int verify_cmd(pl_cli_t *cli)
{
    pl_progress_t progress;
    pl_progress_start(&progress, "opening sealed values", "values");
    pl_keys_check_t chk = {.db = cli->db, .progress = &progress};
    int64_t keys = 0;
    int rc = check_data_keys(cli->db, &chk, &keys);
    for (int i = 0; !rc && i < nsources; i++) {
        rc = pl_db_begin_read(cli->db);
        if (!rc) {
            rc = sources[i].fn(cli->db, &chk);
            pl_db_rollback(cli->db);
        }
    }
    if (rc == PL_EINTERNAL && chk.failed[0]) {
        fprintf(stderr, "plinth: %s does not open\n", chk.failed);
        return 1;
    }
    if (rc) {
        fprintf(stderr, "plinth: cannot read the sealed values (database error)\n");
        return 2;
    }
    pl_progress_finish(&progress);
    char id[17];
    pl_keyring_fingerprint(pl_keyring_master(), id);
    printf("%lld data keys and %lld sealed values open under the master key %s\n", (long long)keys,
           (long long)chk.opened, id);
    return 0;
}

static const pl_option_t rotate_options[] = {
    {"new-key-file", NULL, PL_OPT_STR, PL_OPT_S(new_key_file), 0, 0, 0, "FILE",
     "read the new master key from FILE (at least 32 bytes)", NULL},
    {NULL, "PLINTH_MASTER_KEY_NEW", PL_OPT_STR, PL_OPT_S(new_key_text), 0, 0, 0, "KEY",
     "the new master key (at least 32 bytes), when --new-key-file is not given", NULL},
    {0},
};

static const pl_command_t commands[] = {
    {"keys rotate-master", "re-seal every data key under a new master key",
     "Usage: plinth keys rotate-master [--new-key-file FILE] [options]\n"
     "Re-seals every data key under the new master key (PLINTH_MASTER_KEY_NEW, or the\n"
     "content of FILE) in one transaction; the values stay as they are. Afterwards the\n"
     "old key opens nothing: restart every instance with the new key.",
     rotate_options, 0, PL_CMD_STORAGE | PL_CMD_EXISTING, rotate_cmd},
    {"keys verify", "open every sealed value (exit 1 naming the first that fails)",
     "Usage: plinth keys verify [options]\n"
     "Opens every data key under the master key and every value sealed under them.\n"
     "Exits 0 when all open, 1 naming the first that does not, 2 on a storage error.",
     NULL, 0, PL_CMD_STORAGE | PL_CMD_EXISTING, verify_cmd},
    {0},
};

const pl_module_t pl_keys_module = {
    .name = "keys",
    .commands = commands,
};
