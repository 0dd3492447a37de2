/* keys.h - envelope encryption: data keys under the master key, values
 * under data keys.
 *
 * Each organization has a data key (32 random bytes), and instance objects
 * (a user's TOTP seed, an instance webhook endpoint's signing secret) have
 * one more, the instance data key; a data key is
 * stored sealed under the master key (core/keyring) in `data_keys`, created
 * the first time something of its scope is sealed. Values are sealed
 * (XChaCha20-Poly1305) under their scope's data key with associated data
 * that names the row they belong to ("secret/<org>/<env>/<key>/<version>"),
 * so a box copied into another row, environment, key, version or
 * organization does not open, and never opens to a wrong value.
 *
 * Rotating the master key re-seals the data keys only (one transaction);
 * the values stay as they are. `plinth keys rotate-master` and `plinth keys
 * verify` (this module's commands) do it and check it; modules that keep
 * sealed values register a source (pl_keys_add_source) so verify opens
 * every one of them.
 *
 * Boxes made here read "dk1.<base64url(nonce || ciphertext)>"; a box
 * without that prefix is a legacy one, sealed under the master key directly
 * (before data keys existed), which pl_keys_reseal_legacy moves under a
 * data key.
 *
 * A data key is opened from the row the caller's transaction reads, so a
 * key created by a transaction that rolled back is never used; opened keys
 * are cached per thread, keyed by their sealed text (which changes when the
 * master key is rotated). Thread-safe. Keys and values never reach logs. */
#ifndef PL_KEYS_H
#define PL_KEYS_H

#include "core/ctx.h"
#include "core/module.h"
#include "db/db.h"

#define PL_KEYS_INSTANCE  "instance"
#define PL_KEYS_VALUE_MAX (64 * 1024) /* plaintext bytes pl_keys_open accepts */

/* An opened data key, for code that seals or opens many values of one
 * scope (an import, an export). Wipe it with pl_keys_release. */
typedef struct {
    unsigned char key[32];
} pl_datakey_t;

/* The data key of org_id (NULL: the instance data key), read in the
 * caller's transaction (which must have set app.org_id to org_id on
 * PostgreSQL). With create, a missing key is made and inserted in that
 * transaction (which must be a write one). PL_ENOTFOUND when there is none
 * and create is false; PL_EINTERNAL (logged) when the stored key does not
 * open under the master key; PL_EDB. */
int pl_keys_load(pl_db_t *db, const char *org_id, bool create, pl_datakey_t *out);
void pl_keys_release(pl_datakey_t *k);

/* Seals n bytes under k, bound to ad: "dk1.<base64url>" in a. */
char *pl_keys_seal_with(pl_arena_t *a, const pl_datakey_t *k, const void *msg, size_t n,
                        const char *ad);
/* Opens box under k with ad: the plaintext, NUL-terminated, in a (wiped
 * when a is destroyed), and its length in *n. PL_EINTERNAL when the
 * box is altered, belongs to another row (ad) or scope, or is not a
 * data-key box; nothing is logged here. */
int pl_keys_open_with(pl_arena_t *a, const pl_datakey_t *k, const char *box, const char *ad,
                      char **out, size_t *n);

/* Opens box under k with ad into out (out_size bytes, of which the caller
 * wipes what it used): the plaintext length, or -1 as pl_keys_open_with
 * fails. No allocation: for loops over many values (exports). */
long pl_keys_open_into(const pl_datakey_t *k, const char *box, const char *ad, unsigned char *out,
                       size_t out_size);

/* pl_keys_load (creating the key) and pl_keys_seal_with in one call: *box
 * in a. Inside the caller's write transaction. */
int pl_keys_seal(pl_db_t *db, pl_arena_t *a, const char *org_id, const void *msg, size_t n,
                 const char *ad, char **box);
/* pl_keys_load and pl_keys_open_with in one call. A box that does not open
 * is PL_EINTERNAL and logged (scope and ad's kind only, never the value). */
int pl_keys_open(pl_db_t *db, pl_arena_t *a, const char *org_id, const char *box, const char *ad,
                 char **out, size_t *n);

/* True when box was sealed under the master key directly (no "dk1."). */
bool pl_keys_is_legacy(const char *box);
/* Moves a legacy box (sealed with pl_keyring_seal under legacy_ad) under
 * the data key of org_id (NULL: instance) with ad, in the caller's write
 * transaction: *out is the new box. PL_EINTERNAL (logged) when the legacy
 * box does not open. For the migration of TOTP seeds (auth). */
int pl_keys_reseal_legacy(pl_db_t *db, pl_arena_t *a, const char *org_id, const char *box,
                          const char *legacy_ad, const char *ad, char **out);

/* ---- `plinth keys verify`: every sealed value, by source ---- */

typedef struct pl_keys_check pl_keys_check_t;
/* A source walks every sealed value it keeps and hands each to
 * pl_keys_check_box. It runs in one read transaction of its own; on
 * PostgreSQL it sets app.org_id per organization it walks. Returns PL_OK,
 * or the error that pl_keys_check_box or the database returned. */
typedef int (*pl_keys_source_fn)(pl_db_t *db, pl_keys_check_t *chk);
/* Registers a source (at init). At most 16. */
void pl_keys_add_source(const char *name, pl_keys_source_fn fn);
/* Opens box (of org_id, NULL for the instance) with ad, or a legacy box
 * with legacy_ad under the master key (legacy_ad NULL: legacy boxes are
 * not expected there). PL_OK when it opens; otherwise the check records
 * label (a short description naming the row, never its value) as the first
 * failure and returns PL_EINTERNAL, and the source stops. */
int pl_keys_check_box(pl_keys_check_t *chk, const char *org_id, const char *box, const char *ad,
                      const char *legacy_ad, const char *label);

/* ---- master key rotation ---- */

/* Re-seals every data key under new_master in one transaction (each org's
 * key with app.org_id set to it), after opening each under the current
 * master key. progress (may be NULL) is called after each key with the
 * count done and the total. PL_EINTERNAL (printed) when a data key does not
 * open under the current master; nothing is changed then. */
int pl_keys_rotate_master(pl_db_t *db, const unsigned char new_master[32],
                          void (*progress)(int done, int total));

/* The descriptor of the keys platform module: `plinth keys rotate-master`
 * and `plinth keys verify`. */
extern const pl_module_t pl_keys_module;

#endif
