/* Unit tests for projects and their secrets: the access rules (the one place
 * API.md's project and environment rules are written), key and value
 * checks, the .env reader and writer, and envelope encryption
 * (platform/keys) on a migrated SQLite database: sealing bound to the row,
 * legacy boxes moved under a data key, and a master rotation after which the
 * old key opens nothing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/config.h"
#include "core/crypto.h"
#include "core/keyring.h"
#include "platform/keys/keys.h"
#include "projects/dotenv.h"
#include "projects/projects.h"

extern const pl_module_t pl_projects_module;

/* ---- the rules ---- */

static void effective_roles(void **state)
{
    (void)state;
    static bool registered;
    if (!registered) {
        registered = true;
        pl_rbac_register(pl_projects_module.perms);
    }
    pl_perms_t none, admin;
    pl_perms_clear(&none);
    pl_perms_clear(&admin);
    pl_perms_add(&admin, pl_perm_bit("project.admin"));
    assert_true(pl_perm_bit("project.admin") >= 0);
    /* project.admin acts as owner, membership or not */
    assert_int_equal(pl_projects_effective_role(&admin, NULL), PL_PROJECT_OWNER);
    assert_int_equal(pl_projects_effective_role(&admin, "member"), PL_PROJECT_OWNER);
    assert_int_equal(pl_projects_effective_role(&none, "owner"), PL_PROJECT_OWNER);
    assert_int_equal(pl_projects_effective_role(&none, "member"), PL_PROJECT_MEMBER);
    assert_int_equal(pl_projects_effective_role(&none, NULL), PL_PROJECT_NONE);
    assert_int_equal(pl_projects_effective_role(&none, "admin"), PL_PROJECT_NONE);
    /* owners administer every environment; members have their grant */
    const char *grants[] = {NULL, "viewer", "manager", "administrator", "bogus"};
    for (size_t i = 0; i < PL_ARRAY_LEN(grants); i++) {
        assert_int_equal(pl_env_effective_role(PL_PROJECT_OWNER, grants[i]), PL_ENV_ADMINISTRATOR);
        assert_int_equal(pl_env_effective_role(PL_PROJECT_NONE, grants[i]), PL_ENV_NONE);
    }
    assert_int_equal(pl_env_effective_role(PL_PROJECT_MEMBER, NULL), PL_ENV_NONE);
    assert_int_equal(pl_env_effective_role(PL_PROJECT_MEMBER, "viewer"), PL_ENV_VIEWER);
    assert_int_equal(pl_env_effective_role(PL_PROJECT_MEMBER, "manager"), PL_ENV_MANAGER);
    assert_int_equal(pl_env_effective_role(PL_PROJECT_MEMBER, "administrator"),
                     PL_ENV_ADMINISTRATOR);
    assert_true(PL_ENV_VIEWER < PL_ENV_MANAGER && PL_ENV_MANAGER < PL_ENV_ADMINISTRATOR);
    for (int r = PL_ENV_VIEWER; r <= PL_ENV_ADMINISTRATOR; r++)
        assert_int_equal(pl_env_role_parse(pl_env_role_name((pl_env_role_t)r)), r);
    for (int r = PL_PROJECT_MEMBER; r <= PL_PROJECT_OWNER; r++)
        assert_int_equal(pl_project_role_parse(pl_project_role_name((pl_project_role_t)r)), r);
    assert_null(pl_env_role_name(PL_ENV_NONE));
    assert_null(pl_project_role_name(PL_PROJECT_NONE));
}

static void keys_and_values(void **state)
{
    (void)state;
    char k128[130];
    memset(k128, 'K', 128);
    k128[128] = '\0';
    assert_true(pl_secrets_key_valid(k128));
    k128[128] = 'K';
    k128[129] = '\0';
    assert_false(pl_secrets_key_valid(k128));
    const char *good[] = {"A", "_", "a1", "_A_1_", "DATABASE_URL"};
    for (size_t i = 0; i < PL_ARRAY_LEN(good); i++)
        assert_true(pl_secrets_key_valid(good[i]));
    const char *bad[] = {"", "1A", "A-B", "A.B", "A B", "\xc3\xa9", NULL};
    for (size_t i = 0; i < PL_ARRAY_LEN(bad); i++)
        assert_false(pl_secrets_key_valid(bad[i]));
    assert_true(pl_secrets_value_valid("", 0));
    assert_true(pl_secrets_value_valid("caf\xc3\xa9 \xf0\x9f\x94\x91", 10));
    assert_false(pl_secrets_value_valid("a\0b", 3));
    assert_false(pl_secrets_value_valid("\xc3", 1));             /* truncated */
    assert_false(pl_secrets_value_valid("\xc0\xaf", 2));         /* overlong */
    assert_false(pl_secrets_value_valid("\xed\xa0\x80", 3));     /* a surrogate */
    assert_false(pl_secrets_value_valid("\xf4\x90\x80\x80", 4)); /* past U+10FFFF */
    assert_false(pl_secrets_value_valid("\xff", 1));
    char *big = malloc(PL_SECRETS_VALUE_MAX + 1);
    memset(big, 'x', PL_SECRETS_VALUE_MAX + 1);
    assert_true(pl_secrets_value_valid(big, PL_SECRETS_VALUE_MAX));
    assert_false(pl_secrets_value_valid(big, PL_SECRETS_VALUE_MAX + 1));
    free(big);
}

/* ---- dotenv ---- */

static int parse(pl_arena_t *a, const char *text, pl_dotenv_entry_t **e, const char **err)
{
    int n = -1;
    *err = NULL;
    return pl_dotenv_parse(a, text, strlen(text), 1000, e, &n, err) ? -1 : n;
}

static void dotenv_reads(void **state)
{
    (void)state;
    pl_arena_t *a = pl_arena_create();
    pl_dotenv_entry_t *e;
    const char *err;
    const char *text = "# a comment\n"
                       "\n"
                       "export A=1\n"
                       "  B = spaced value   # comment\n"
                       "C=a#b\n"
                       "D=\"x\\\"y\\\\z\\nw\\t\\r\\q\"  # after\n"
                       "E='single $x \\n'\r\n"
                       "F=\"multi\nline\"\n"
                       "G=\n"
                       "H=#comment only\n"
                       "I= #comment only\n";
    assert_int_equal(parse(a, text, &e, &err), 9);
    const char *want[][2] = {{"A", "1"},
                             {"B", "spaced value"},
                             {"C", "a#b"},
                             {"D", "x\"y\\z\nw\t\r\\q"},
                             {"E", "single $x \\n"},
                             {"F", "multi\nline"},
                             {"G", ""},
                             {"H", "#comment only"},
                             {"I", ""}};
    for (int i = 0; i < 9; i++) {
        assert_string_equal(e[i].key, want[i][0]);
        assert_string_equal(e[i].value, want[i][1]);
        assert_int_equal(e[i].value_len, strlen(want[i][1]));
    }
    const char *bad[][2] = {{"A=1\nB\n", "line 2: expected KEY=VALUE"},
                            {"A=1\n\n1X=2\n", "line 3: the key must match"},
                            {"A=1\nA=2\n", "line 2: A is set twice"},
                            {"A=\"open\nstill open", "line 1: the quoted value has no closing"},
                            {"A='x' y\n", "line 1: unexpected text"},
                            {"A-B=1\n", "line 1: expected KEY=VALUE"},
                            {"=1\n", "line 1: expected KEY=VALUE"}};
    for (size_t i = 0; i < PL_ARRAY_LEN(bad); i++) {
        assert_int_equal(parse(a, bad[i][0], &e, &err), -1);
        assert_non_null(err);
        assert_true(strncmp(err, bad[i][1], strlen(bad[i][1])) == 0);
    }
    int n;
    assert_int_equal(pl_dotenv_parse(a, "A=1\nB=2\n", 8, 1, &e, &n, &err), PL_EINVAL);
    assert_int_equal(pl_dotenv_parse(a, "A=\0", 3, 10, &e, &n, &err), PL_EINVAL);
    pl_arena_destroy(a);
}

static void dotenv_writes_and_reads_back(void **state)
{
    (void)state;
    pl_arena_t *a = pl_arena_create();
    pl_buf_t b;
    pl_buf_init(&b, 1 << 20);
    assert_int_equal(pl_dotenv_write(&b, "X", "a\\b\"c\nd", 7), PL_OK);
    assert_string_equal(b.ptr, "X=\"a\\\\b\\\"c\\nd\"\n");
    const char *values[] = {"",        "plain",       "\"quoted\"",  "back\\slash\\",
                            "\n\n",    "$HOME ${X}",  "# hash",      "a=b=c",
                            "\r\n\t ", "caf\xc3\xa9", "\\n literal", "' single"};
    b.len = 0;
    char key[8];
    for (size_t i = 0; i < PL_ARRAY_LEN(values); i++) {
        snprintf(key, sizeof(key), "K%zu", i);
        assert_int_equal(pl_dotenv_write(&b, key, values[i], strlen(values[i])), PL_OK);
    }
    pl_dotenv_entry_t *e;
    const char *err;
    int n = 0;
    assert_int_equal(pl_dotenv_parse(a, b.ptr, b.len, 1000, &e, &n, &err), PL_OK);
    assert_int_equal(n, (int)PL_ARRAY_LEN(values));
    for (int i = 0; i < n; i++)
        assert_string_equal(e[i].value, values[i]);
    pl_buf_free(&b);
    pl_arena_destroy(a);
}

/* ---- envelope encryption ---- */

static char dir[64], path[128];

static int setup_db(void **state)
{
    (void)state;
    assert_int_equal(pl_crypto_init(), PL_OK);
    snprintf(pl_cfg.master_key, sizeof(pl_cfg.master_key), "%s",
             "unit test master key, thirty-two bytes or more");
    assert_int_equal(pl_keyring_init(), PL_OK);
    snprintf(dir, sizeof(dir), "/tmp/plinth_test_keys_XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    snprintf(path, sizeof(path), "%s/plinth.db", dir);
    pl_db_config_t cfg = {.engine = PL_DB_SQLITE,
                          .sqlite_path = path,
                          .sqlite_sync_full = false,
                          .busy_timeout_ms = 2000};
    pl_db_configure(&cfg);
    pl_db_t *db = pl_db_thread();
    if (!db || pl_db_migrate(db))
        return -1;
    return pl_db_exec(db, "INSERT INTO organizations (id, name, slug, created_at, updated_at) "
                          "VALUES ('0190a0b2-7c3e-7d4f-8a1b-2c3d4e5f6a7b', 'O', 'o', 1, 1), "
                          "('0190a0b2-7c3e-7d4f-8a1b-2c3d4e5f6a7c', 'P', 'p', 1, 1), "
                          "('0190a0b2-7c3e-7d4f-8a1b-2c3d4e5f6a7d', 'Q', 'q', 1, 1)");
}

static int teardown_db(void **state)
{
    (void)state;
    pl_db_thread_close();
    char p[160];
    unlink(path);
    snprintf(p, sizeof(p), "%s-wal", path);
    unlink(p);
    snprintf(p, sizeof(p), "%s-shm", path);
    unlink(p);
    rmdir(dir);
    return 0;
}

#define ORG_A "0190a0b2-7c3e-7d4f-8a1b-2c3d4e5f6a7b"
#define ORG_B "0190a0b2-7c3e-7d4f-8a1b-2c3d4e5f6a7c"
#define ORG_C "0190a0b2-7c3e-7d4f-8a1b-2c3d4e5f6a7d"

static void sealing_is_bound(void **state)
{
    (void)state;
    pl_db_t *db = pl_db_thread();
    pl_arena_t *a = pl_arena_create();
    char *box = NULL, *out = NULL, *other = NULL;
    size_t n = 0;
    assert_int_equal(pl_db_begin(db), PL_OK);
    assert_int_equal(pl_keys_seal(db, a, ORG_A, "s3cret", 6, "secret/a/e/K/1", &box), PL_OK);
    assert_int_equal(pl_keys_seal(db, a, ORG_B, "s3cret", 6, "secret/a/e/K/1", &other), PL_OK);
    assert_int_equal(pl_db_commit(db), PL_OK);
    assert_true(strncmp(box, "dk1.", 4) == 0);
    assert_false(pl_keys_is_legacy(box));
    assert_int_equal(pl_keys_open(db, a, ORG_A, box, "secret/a/e/K/1", &out, &n), PL_OK);
    assert_int_equal(n, 6);
    assert_memory_equal(out, "s3cret", 6);
    /* another row, another org, another version: nothing opens */
    assert_int_equal(pl_keys_open(db, a, ORG_A, box, "secret/a/e/K/2", &out, &n), PL_EINTERNAL);
    assert_int_equal(pl_keys_open(db, a, ORG_B, box, "secret/a/e/K/1", &out, &n), PL_EINTERNAL);
    assert_int_equal(pl_keys_open(db, a, ORG_A, other, "secret/a/e/K/1", &out, &n), PL_EINTERNAL);
    assert_int_equal(pl_keys_open(db, a, NULL, box, "secret/a/e/K/1", &out, &n), PL_EINTERNAL);
    /* large values (the old 1 KiB limit of pl_unseal) */
    char *big = malloc(PL_KEYS_VALUE_MAX);
    memset(big, 'v', PL_KEYS_VALUE_MAX);
    assert_int_equal(pl_db_begin(db), PL_OK);
    assert_int_equal(pl_keys_seal(db, a, ORG_A, big, PL_KEYS_VALUE_MAX, "big", &box), PL_OK);
    assert_int_equal(pl_db_commit(db), PL_OK);
    assert_int_equal(pl_keys_open(db, a, ORG_A, box, "big", &out, &n), PL_OK);
    assert_int_equal(n, PL_KEYS_VALUE_MAX);
    assert_memory_equal(out, big, n);
    free(big);
    /* a key made by a transaction that rolled back is never used */
    assert_int_equal(pl_db_begin(db), PL_OK);
    assert_int_equal(pl_keys_seal(db, a, ORG_C, "x", 1, "ad", &box), PL_OK);
    pl_db_rollback(db);
    pl_datakey_t k;
    assert_int_equal(pl_keys_load(db, ORG_C, false, &k), PL_ENOTFOUND);
    pl_arena_destroy(a);
}

static void legacy_boxes_move_under_a_data_key(void **state)
{
    (void)state;
    pl_db_t *db = pl_db_thread();
    pl_arena_t *a = pl_arena_create();
    const unsigned char seed[20] = {0, 1, 2, 3, 0, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    char *legacy = pl_keyring_seal(a, seed, sizeof(seed), "user-1");
    assert_true(pl_keys_is_legacy(legacy));
    char *box = NULL, *out = NULL;
    size_t n = 0;
    assert_int_equal(pl_db_begin(db), PL_OK);
    assert_int_equal(pl_keys_reseal_legacy(db, a, NULL, legacy, "user-2", "totp/user-1", &box),
                     PL_EINTERNAL);
    assert_int_equal(pl_keys_reseal_legacy(db, a, NULL, legacy, "user-1", "totp/user-1", &box),
                     PL_OK);
    assert_int_equal(pl_db_commit(db), PL_OK);
    assert_int_equal(pl_keys_open(db, a, NULL, box, "totp/user-1", &out, &n), PL_OK);
    assert_int_equal(n, sizeof(seed));
    assert_memory_equal(out, seed, n);
    pl_arena_destroy(a);
}

static void rotation_leaves_the_old_key_useless(void **state)
{
    (void)state;
    pl_db_t *db = pl_db_thread();
    pl_arena_t *a = pl_arena_create();
    char *box = NULL, *out = NULL;
    size_t n = 0;
    assert_int_equal(pl_db_begin(db), PL_OK);
    assert_int_equal(pl_keys_seal(db, a, ORG_A, "v", 1, "ad", &box), PL_OK);
    assert_int_equal(pl_db_commit(db), PL_OK);
    unsigned char next[32];
    assert_int_equal(pl_keyring_derive("the next master key, thirty-two bytes+", 38, next), PL_OK);
    assert_int_equal(pl_keyring_derive("short", 5, next), PL_EINVAL);
    assert_int_equal(pl_keyring_derive("the next master key, thirty-two bytes+", 38, next), PL_OK);
    char before[17], after[17];
    pl_keyring_fingerprint(pl_keyring_master(), before);
    pl_keyring_fingerprint(next, after);
    assert_string_not_equal(before, after);
    assert_int_equal(pl_keys_rotate_master(db, next, NULL), PL_OK);
    /* this process still holds the old master key: nothing opens */
    assert_int_equal(pl_keys_open(db, a, ORG_A, box, "ad", &out, &n), PL_EINTERNAL);
    /* with the new one, everything does */
    snprintf(pl_cfg.master_key, sizeof(pl_cfg.master_key), "%s",
             "the next master key, thirty-two bytes+");
    assert_int_equal(pl_keyring_init(), PL_OK);
    assert_int_equal(pl_keys_open(db, a, ORG_A, box, "ad", &out, &n), PL_OK);
    assert_memory_equal(out, "v", 1);
    pl_arena_destroy(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(effective_roles),
        cmocka_unit_test(keys_and_values),
        cmocka_unit_test(dotenv_reads),
        cmocka_unit_test(dotenv_writes_and_reads_back),
        cmocka_unit_test_setup_teardown(sealing_is_bound, setup_db, teardown_db),
        cmocka_unit_test_setup_teardown(legacy_boxes_move_under_a_data_key, setup_db, teardown_db),
        cmocka_unit_test_setup_teardown(rotation_leaves_the_old_key_useless, setup_db, teardown_db),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
