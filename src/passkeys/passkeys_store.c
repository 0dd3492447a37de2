/* passkeys_store.c - SQL for passkeys and WebAuthn challenges. */
#include <string.h>

#include "passkeys/passkeys_store.h"

static int run(pl_stmt_t *st)
{
    int rc = pl_stmt_exec(st);
    return rc < 0 ? rc : PL_OK;
}

#define PASSKEY_COLS                                                                               \
    "id, user_id, credential_id, public_key, alg, sign_count, transports, name, user_verified, "   \
    "backed_up, created_at, last_used_at"

static void read_row(pl_arena_t *a, pl_stmt_t *st, pl_passkey_row_t *r)
{
    r->pub.id = pl_stmt_col_dup(st, a, 0);
    r->user_id = pl_stmt_col_dup(st, a, 1);
    r->credential_id = pl_stmt_col_dup(st, a, 2);
    r->public_key = pl_stmt_col_dup(st, a, 3);
    r->alg = (int)pl_stmt_col_int64(st, 4);
    r->sign_count = pl_stmt_col_int64(st, 5);
    r->transports = pl_stmt_col_dup(st, a, 6);
    r->pub.name = pl_stmt_col_dup(st, a, 7);
    r->pub.user_verified = pl_stmt_col_bool(st, 8);
    r->pub.backed_up = pl_stmt_col_bool(st, 9);
    r->pub.created_at = pl_stmt_col_int64(st, 10);
    r->pub.last_used_at = pl_stmt_col_is_null(st, 11) ? 0 : pl_stmt_col_int64(st, 11);
}

static const char sql_insert[] =
    "INSERT INTO passkeys (id, user_id, credential_id, public_key, alg, sign_count, "
    "user_verified, backup_eligible, backed_up, transports, aaguid, name, created_at) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)";
static const char sql_by_credential[] =
    "SELECT " PASSKEY_COLS " FROM passkeys WHERE credential_id = $1";
static const char sql_of_user[] =
    "SELECT " PASSKEY_COLS " FROM passkeys WHERE user_id = $1 ORDER BY created_at, id";
static const char sql_delete[] = "DELETE FROM passkeys WHERE id = $1 AND user_id = $2";
static const char sql_count[] = "SELECT count(*) FROM passkeys WHERE user_id = $1";
static const char sql_use[] =
    "UPDATE passkeys SET sign_count = $2, backed_up = $3, last_used_at = $4 "
    "WHERE id = $1 AND (sign_count < $2 OR ($2 = 0 AND sign_count = 0))";

int pl_store_passkey_insert(pl_db_t *db, const pl_passkey_row_t *r, const char *aaguid,
                            bool backup_eligible)
{
    PL_PREPARE(st, db, sql_insert);
    pl_stmt_bind_text(st, 1, r->pub.id);
    pl_stmt_bind_text(st, 2, r->user_id);
    pl_stmt_bind_text(st, 3, r->credential_id);
    pl_stmt_bind_text(st, 4, r->public_key);
    pl_stmt_bind_int64(st, 5, r->alg);
    pl_stmt_bind_int64(st, 6, r->sign_count);
    pl_stmt_bind_bool(st, 7, r->pub.user_verified);
    pl_stmt_bind_bool(st, 8, backup_eligible);
    pl_stmt_bind_bool(st, 9, r->pub.backed_up);
    pl_stmt_bind_text(st, 10, r->transports);
    pl_stmt_bind_text(st, 11, aaguid);
    pl_stmt_bind_text(st, 12, r->pub.name);
    pl_stmt_bind_int64(st, 13, r->pub.created_at);
    return run(st);
}

int pl_store_passkey_by_credential(pl_db_t *db, pl_arena_t *a, const char *credential_id,
                                   pl_passkey_row_t *out)
{
    PL_PREPARE(st, db, sql_by_credential);
    pl_stmt_bind_text(st, 1, credential_id);
    int rc = pl_stmt_step(st);
    if (rc == 1)
        read_row(a, st, out);
    return pl_stmt_one_done(st, rc);
}

int pl_store_passkeys_of(pl_db_t *db, const char *user_id,
                         void (*fn)(void *arg, const pl_passkey_row_t *r), void *arg)
{
    PL_PREPARE(st, db, sql_of_user);
    pl_stmt_bind_text(st, 1, user_id);
    int rc;
    while ((rc = pl_stmt_step(st)) == 1) {
        pl_passkey_row_t r;
        read_row(NULL, st, &r);
        fn(arg, &r);
    }
    pl_stmt_reset(st);
    return rc < 0 ? rc : PL_OK;
}

int pl_store_passkey_delete(pl_db_t *db, const char *user_id, const char *id)
{
    PL_PREPARE(st, db, sql_delete);
    pl_stmt_bind_text(st, 1, id);
    pl_stmt_bind_text(st, 2, user_id);
    return pl_stmt_exec_found(st);
}

int pl_store_passkeys_count(pl_db_t *db, const char *user_id, int *count)
{
    PL_PREPARE(st, db, sql_count);
    pl_stmt_bind_text(st, 1, user_id);
    int rc = pl_stmt_step(st);
    if (rc == 1)
        *count = (int)pl_stmt_col_int64(st, 0);
    return pl_stmt_one_done(st, rc);
}

int pl_store_passkey_use(pl_db_t *db, const char *id, int64_t sign_count, bool backed_up,
                         int64_t now)
{
    PL_PREPARE(st, db, sql_use);
    pl_stmt_bind_text(st, 1, id);
    pl_stmt_bind_int64(st, 2, sign_count);
    pl_stmt_bind_bool(st, 3, backed_up);
    pl_stmt_bind_int64(st, 4, now);
    return pl_stmt_exec_found(st);
}

/* ---- challenges ---- */

static const char sql_challenge_put[] =
    "INSERT INTO webauthn_challenges (challenge_hash, purpose, user_id, expires_at, created_at) "
    "VALUES ($1, $2, $3, $4, $5)";
static const char sql_challenge_take[] =
    "UPDATE webauthn_challenges SET used_at = $3 WHERE challenge_hash = $1 AND purpose = $2 "
    "AND used_at IS NULL AND expires_at > $3 RETURNING user_id";
static const char sql_challenges_purge[] = "DELETE FROM webauthn_challenges WHERE expires_at < $1";

int pl_store_wa_challenge_put(pl_db_t *db, const char *hash, const char *purpose,
                              const char *user_id, int64_t expires_at, int64_t now)
{
    PL_PREPARE(st, db, sql_challenge_put);
    pl_stmt_bind_text(st, 1, hash);
    pl_stmt_bind_text(st, 2, purpose);
    pl_stmt_bind_text(st, 3, user_id);
    pl_stmt_bind_int64(st, 4, expires_at);
    pl_stmt_bind_int64(st, 5, now);
    return run(st);
}

int pl_store_wa_challenge_take(pl_db_t *db, pl_arena_t *a, const char *hash, const char *purpose,
                               int64_t now, const char **user_id)
{
    PL_PREPARE(st, db, sql_challenge_take);
    pl_stmt_bind_text(st, 1, hash);
    pl_stmt_bind_text(st, 2, purpose);
    pl_stmt_bind_int64(st, 3, now);
    int rc = pl_stmt_step(st);
    if (rc == 1)
        *user_id = pl_stmt_col_dup(st, a, 0);
    if (rc == 1) /* finish the statement: the update is complete after the last row */
        rc = pl_stmt_step(st) < 0 ? PL_EDB : 1;
    return pl_stmt_one_done(st, rc);
}

int pl_store_wa_challenges_purge(pl_db_t *db, int64_t before)
{
    PL_PREPARE(st, db, sql_challenges_purge);
    pl_stmt_bind_int64(st, 1, before);
    return run(st);
}
