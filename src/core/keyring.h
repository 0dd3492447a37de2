/* keyring.h - the master key and sealing secrets at rest.
 *
 * The master key is PLINTH_MASTER_KEY (at least 32 bytes, hashed to 32) or,
 * without it, 32 random bytes generated once into --data/master.key (0600).
 * Values sealed here are XChaCha20-Poly1305 boxes whose associated data binds
 * them to their owner (a user id, an org and row), so a box copied elsewhere
 * does not open. The master key seals data keys only (platform/keys); values
 * are sealed under those. Generated key files (the master key, a signing key) are read
 * or created by pl_keyring_key_file.
 *
 * Thread-safe after pl_keyring_init. Keys never reach logs. */
#ifndef PL_KEYRING_H
#define PL_KEYRING_H

#include "core/core.h"

/* Loads the master key. Call once at start, after the configuration and the
 * data directory. PL_EINVAL (message printed) on a short PLINTH_MASTER_KEY;
 * PL_EINTERNAL when the key file cannot be read or written. */
int pl_keyring_init(void);

/* Seals n bytes of msg under the master key, bound to ad; the box is an
 * arena string (base64url of nonce and ciphertext). */
char *pl_keyring_seal(pl_arena_t *a, const void *msg, size_t n, const char *ad);
/* Opens a box sealed by pl_keyring_seal with the same ad into out; returns
 * the plaintext length, or -1 when the box was altered, belongs to another
 * ad, or does not fit. */
long pl_keyring_open(const char *box, const char *ad, unsigned char *out, size_t out_size);

/* The master key itself, for code that derives or wraps keys under it (data
 * keys). 32 bytes, valid after pl_keyring_init. */
const unsigned char *pl_keyring_master(void);

/* Derives a 32-byte key from key text the way PLINTH_MASTER_KEY is read:
 * at least 32 bytes, hashed with SHA-256. PL_EINVAL when shorter. */
int pl_keyring_derive(const char *text, size_t n, unsigned char out[32]);

/* A public name for a key: 16 lower-case hex characters (the first 8
 * bytes of HMAC-SHA-256(key, "plinth key id")); it tells keys apart without
 * revealing them. */
void pl_keyring_fingerprint(const unsigned char key[32], char out[17]);

/* True when the master key was read from (or generated into) the data
 * directory's master.key rather than taken from PLINTH_MASTER_KEY. */
bool pl_keyring_master_is_file(void);

/* Replaces the data directory's master.key with key: a new file (0600),
 * fsynced, renamed over the old one. PL_OK or PL_EINTERNAL (printed). */
int pl_keyring_replace_file(const unsigned char key[32]);

/* Reads the key file name in the data directory (hex of n random bytes,
 * n <= 64), creating it with fresh random bytes (mode 0600) when missing.
 * Logs a warning when it had to be generated on a PostgreSQL deployment,
 * where every instance must share it. PL_OK or PL_EINTERNAL (printed). */
int pl_keyring_key_file(const char *name, unsigned char *key, size_t n);

#endif
