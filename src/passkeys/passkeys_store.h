/* passkeys_store.h - SQL for passkeys and WebAuthn challenges: the only
 * place they have any. For the files of src/passkeys; the services call
 * these inside their transactions. Strings returned are copied into the
 * given arena. Errors are PL_E* codes (PL_ENOTFOUND when nothing matched). */
#ifndef PL_PASSKEYS_STORE_H
#define PL_PASSKEYS_STORE_H

#include "db/db.h"
#include "passkeys/passkeys.h"

/* A passkey row with what verification needs. */
typedef struct {
    pl_passkey_t pub;
    const char *user_id;
    const char *credential_id; /* base64url */
    const char *public_key;    /* COSE key, base64url */
    int alg;
    int64_t sign_count;
    const char *transports; /* JSON array text */
} pl_passkey_row_t;

int pl_store_passkey_insert(pl_db_t *db, const pl_passkey_row_t *r, const char *aaguid,
                            bool backup_eligible);
int pl_store_passkey_by_credential(pl_db_t *db, pl_arena_t *a, const char *credential_id,
                                   pl_passkey_row_t *out);
/* The user's passkeys, oldest first (strings valid during fn). */
int pl_store_passkeys_of(pl_db_t *db, const char *user_id,
                         void (*fn)(void *arg, const pl_passkey_row_t *r), void *arg);
int pl_store_passkey_delete(pl_db_t *db, const char *user_id, const char *id);
int pl_store_passkeys_count(pl_db_t *db, const char *user_id, int *count);
/* Records a use with counter sign_count: PL_OK when it is above the stored
 * one (or both are 0), PL_ENOTFOUND otherwise (a replay or a clone). */
int pl_store_passkey_use(pl_db_t *db, const char *id, int64_t sign_count, bool backed_up,
                         int64_t now);

/* Challenges (SHA-256 hex of the challenge as sent). */
int pl_store_wa_challenge_put(pl_db_t *db, const char *hash, const char *purpose,
                              const char *user_id, int64_t expires_at, int64_t now);
/* Spends a live challenge of purpose: PL_OK and its user (NULL when none)
 * when this call spent it; PL_ENOTFOUND when unknown, spent or expired. */
int pl_store_wa_challenge_take(pl_db_t *db, pl_arena_t *a, const char *hash, const char *purpose,
                               int64_t now, const char **user_id);
/* Deletes challenges that expired before `before`. */
int pl_store_wa_challenges_purge(pl_db_t *db, int64_t before);

#endif
