/* password.h - password policy and Argon2id hashing (libsodium).
 * Thread-safe after pl_password_init. */
#ifndef PL_PASSWORD_H
#define PL_PASSWORD_H

#include "core/core.h"

#define PL_PASSWORD_MIN_CHARS 10
#define PL_PASSWORD_MAX_BYTES 256
#define PL_PASSWORD_HASH_MAX  128 /* crypto_pwhash_STRBYTES */

/* Sets the Argon2id cost and computes the dummy hash that unknown emails are
 * verified against, so they cost the same time as wrong passwords. */
int pl_password_init(int64_t memory_bytes, int ops);

/* Policy: PL_OK, or PL_EINVAL with *reason set to a public message. email may
 * be NULL; a password equal to the email (or its local part) is weak. */
int pl_password_check(const char *password, size_t len, const char *email, const char **reason);

/* Hashes with the configured cost into out (PHC string). */
int pl_password_hash(const char *password, size_t len, char out[PL_PASSWORD_HASH_MAX]);

/* True when password matches hash; false for a malformed hash. hash NULL
 * verifies against the dummy hash and returns false. */
bool pl_password_verify(const char *hash, const char *password, size_t len);

/* True when hash was made with other parameters than the configured ones. */
bool pl_password_needs_rehash(const char *hash);

#endif
