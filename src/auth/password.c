/* password.c - password policy and Argon2id. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "auth/password.h"
#include "db/embedded.h"

static unsigned long long opslimit = 2;
static size_t memlimit = 19u * 1024 * 1024;
static char dummy_hash[crypto_pwhash_STRBYTES];

int pl_password_init(int64_t memory_bytes, int ops)
{
    memlimit = (size_t)memory_bytes;
    opslimit = (unsigned long long)ops;
    static const char dummy[] = "plinth dummy password for unknown accounts";
    return pl_password_hash(dummy, sizeof(dummy) - 1, dummy_hash);
}

static size_t utf8_chars(const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        if (((unsigned char)s[i] & 0xc0) != 0x80)
            n++;
    return n;
}

static int cmp_word(const void *key, const void *elem)
{
    return strcmp((const char *)key, *(const char *const *)elem);
}

static bool is_common(const char *password, size_t len)
{
    char lower[PL_PASSWORD_MAX_BYTES + 1];
    if (len > PL_PASSWORD_MAX_BYTES)
        return false;
    for (size_t i = 0; i < len; i++)
        lower[i] = (char)tolower((unsigned char)password[i]);
    lower[len] = '\0';
    bool found = bsearch(lower, pl_common_passwords, pl_common_passwords_count,
                         sizeof(pl_common_passwords[0]), cmp_word) != NULL;
    sodium_memzero(lower, sizeof(lower));
    return found;
}

int pl_password_check(const char *password, size_t len, const char *email, const char **reason)
{
    if (utf8_chars(password, len) < PL_PASSWORD_MIN_CHARS) {
        *reason = "The password must have at least 10 characters.";
        return PL_EINVAL;
    }
    if (len > PL_PASSWORD_MAX_BYTES) {
        *reason = "The password must have at most 256 bytes.";
        return PL_EINVAL;
    }
    if (memchr(password, '\0', len)) {
        *reason = "The password must not contain NUL characters.";
        return PL_EINVAL;
    }
    /* fewer than 3 distinct bytes: "aaaaaaaaaa", "abababababab" */
    unsigned char seen[256] = {0};
    int distinct = 0;
    for (size_t i = 0; i < len; i++)
        if (!seen[(unsigned char)password[i]]++)
            distinct++;
    if (distinct < 3 || is_common(password, len)) {
        *reason = "The password is too common; choose a less predictable one.";
        return PL_EINVAL;
    }
    if (email) {
        const char *at = strchr(email, '@');
        size_t local = at ? (size_t)(at - email) : strlen(email);
        if ((len == strlen(email) && !strncasecmp(password, email, len)) ||
            (len == local && !strncasecmp(password, email, len))) {
            *reason = "The password must not be your email address.";
            return PL_EINVAL;
        }
    }
    return PL_OK;
}

int pl_password_hash(const char *password, size_t len, char out[PL_PASSWORD_HASH_MAX])
{
    if (crypto_pwhash_str_alg(out, password, len, opslimit, memlimit,
                              crypto_pwhash_ALG_ARGON2ID13) != 0)
        return PL_EINTERNAL; /* out of memory for the configured cost */
    return PL_OK;
}

bool pl_password_verify(const char *hash, const char *password, size_t len)
{
    if (!hash) {
        /* same work as a real check; the result is meaningless */
        volatile int sink = crypto_pwhash_str_verify(dummy_hash, password, len);
        (void)sink;
        return false;
    }
    return crypto_pwhash_str_verify(hash, password, len) == 0;
}

bool pl_password_needs_rehash(const char *hash)
{
    return crypto_pwhash_str_needs_rehash(hash, opslimit, memlimit) != 0;
}
