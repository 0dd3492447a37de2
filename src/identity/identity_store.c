/* identity_store.c - SQL for identity providers, identities, sign-ins in
 * flight, exchange codes and organization SSO. */
#include <string.h>

#include "identity/identity_store.h"

static int run(pl_stmt_t *st)
{
    int rc = pl_stmt_exec(st);
    return rc < 0 ? rc : PL_OK;
}

/* ---- providers ---- */

#define IDP_COLS                                                                                   \
    "key, type, name, issuer, client_id, scopes, authorization_url, token_url, userinfo_url, "     \
    "created_at, updated_at, client_secret_sealed"

static void read_idp(pl_arena_t *a, pl_stmt_t *st, pl_idp_t *p)
{
    p->key = pl_stmt_col_dup(st, a, 0);
    p->type = pl_stmt_col_dup(st, a, 1);
    p->name = pl_stmt_col_dup(st, a, 2);
    p->issuer = pl_stmt_col_dup(st, a, 3);
    p->client_id = pl_stmt_col_dup(st, a, 4);
    p->scopes = pl_stmt_col_dup(st, a, 5);
    p->authorization_url = pl_stmt_col_dup(st, a, 6);
    p->token_url = pl_stmt_col_dup(st, a, 7);
    p->userinfo_url = pl_stmt_col_dup(st, a, 8);
    p->created_at = pl_stmt_col_int64(st, 9);
    p->updated_at = pl_stmt_col_int64(st, 10);
}

static const char sql_idp_list[] = "SELECT " IDP_COLS " FROM identity_providers ORDER BY key";
static const char sql_idp_get[] = "SELECT " IDP_COLS " FROM identity_providers WHERE key = $1";
static const char sql_idp_upsert[] =
    "INSERT INTO identity_providers (key, type, name, issuer, client_id, client_secret_sealed, "
    "scopes, authorization_url, token_url, userinfo_url, created_at, updated_at) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11) "
    "ON CONFLICT (key) DO UPDATE SET type = $2, name = $3, issuer = $4, client_id = $5, "
    "client_secret_sealed = $6, scopes = $7, authorization_url = $8, token_url = $9, "
    "userinfo_url = $10, updated_at = $11";
static const char sql_idp_delete[] = "DELETE FROM identity_providers WHERE key = $1";

int pl_idstore_idp_list(pl_db_t *db, pl_arena_t *a, void (*fn)(void *arg, const pl_idp_t *p),
                        void *arg)
{
    PL_PREPARE(st, db, sql_idp_list);
    int rc;
    while ((rc = pl_stmt_step(st)) == 1) {
        pl_idp_t p;
        read_idp(a, st, &p);
        fn(arg, &p);
    }
    pl_stmt_reset(st);
    return rc < 0 ? rc : PL_OK;
}

int pl_idstore_idp_get(pl_db_t *db, pl_arena_t *a, const char *key, pl_idp_t *out,
                       const char **secret_sealed)
{
    PL_PREPARE(st, db, sql_idp_get);
    pl_stmt_bind_text(st, 1, key);
    int rc = pl_stmt_step(st);
    if (rc == 1) {
        read_idp(a, st, out);
        if (secret_sealed)
            *secret_sealed = pl_stmt_col_dup(st, a, 11);
    }
    return pl_stmt_one_done(st, rc);
}

int pl_idstore_idp_upsert(pl_db_t *db, const pl_idp_t *p, const char *secret_sealed)
{
    PL_PREPARE(st, db, sql_idp_upsert);
    pl_stmt_bind_text(st, 1, p->key);
    pl_stmt_bind_text(st, 2, p->type);
    pl_stmt_bind_text(st, 3, p->name);
    pl_stmt_bind_text(st, 4, p->issuer);
    pl_stmt_bind_text(st, 5, p->client_id);
    pl_stmt_bind_text(st, 6, secret_sealed);
    pl_stmt_bind_text(st, 7, p->scopes);
    pl_stmt_bind_text(st, 8, p->authorization_url);
    pl_stmt_bind_text(st, 9, p->token_url);
    pl_stmt_bind_text(st, 10, p->userinfo_url);
    pl_stmt_bind_int64(st, 11, p->updated_at);
    return run(st);
}

int pl_idstore_idp_delete(pl_db_t *db, const char *key)
{
    PL_PREPARE(st, db, sql_idp_delete);
    pl_stmt_bind_text(st, 1, key);
    return pl_stmt_exec_found(st);
}

/* ---- states and codes ---- */

static const char sql_state_insert[] =
    "INSERT INTO oauth_states (state_hash, provider_key, org_id, nonce, code_verifier, "
    "redirect_to, expires_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
static const char sql_state_take[] =
    "UPDATE oauth_states SET used_at = $2 WHERE state_hash = $1 AND used_at IS NULL AND "
    "expires_at > $2 RETURNING provider_key, org_id, nonce, code_verifier, redirect_to";
static const char sql_code_insert[] =
    "INSERT INTO oauth_codes (code_hash, user_id, method, created_org_id, expires_at, created_at) "
    "VALUES ($1, $2, $3, $4, $5, $6)";
static const char sql_code_take[] =
    "UPDATE oauth_codes SET used_at = $2 WHERE code_hash = $1 AND used_at IS NULL AND "
    "expires_at > $2 RETURNING user_id, method, created_org_id";
static const char sql_purge_states[] =
    "DELETE FROM oauth_states WHERE org_id IS NULL AND expires_at < $1";
static const char sql_purge_org_states[] =
    "DELETE FROM oauth_states WHERE org_id = $1 AND expires_at < $2";
static const char sql_purge_codes[] = "DELETE FROM oauth_codes WHERE expires_at < $1";

int pl_idstore_state_insert(pl_db_t *db, const char *hash, const pl_idstore_state_t *s,
                            int64_t expires_at, int64_t now)
{
    PL_PREPARE(st, db, sql_state_insert);
    pl_stmt_bind_text(st, 1, hash);
    pl_stmt_bind_text(st, 2, s->provider_key);
    pl_stmt_bind_text(st, 3, s->org_id);
    pl_stmt_bind_text(st, 4, s->nonce);
    pl_stmt_bind_text(st, 5, s->code_verifier);
    pl_stmt_bind_text(st, 6, s->redirect_to);
    pl_stmt_bind_int64(st, 7, expires_at);
    pl_stmt_bind_int64(st, 8, now);
    return run(st);
}

int pl_idstore_state_take(pl_db_t *db, pl_arena_t *a, const char *hash, int64_t now,
                          pl_idstore_state_t *out)
{
    PL_PREPARE(st, db, sql_state_take);
    pl_stmt_bind_text(st, 1, hash);
    pl_stmt_bind_int64(st, 2, now);
    int rc = pl_stmt_step(st);
    if (rc == 1) {
        out->provider_key = pl_stmt_col_dup(st, a, 0);
        out->org_id = pl_stmt_col_dup(st, a, 1);
        out->nonce = pl_stmt_col_dup(st, a, 2);
        out->code_verifier = pl_stmt_col_dup(st, a, 3);
        out->redirect_to = pl_stmt_col_dup(st, a, 4);
    }
    return pl_stmt_one_done(st, rc);
}

int pl_idstore_code_insert(pl_db_t *db, const char *hash, const char *user_id, const char *method,
                           const char *created_org_id, int64_t expires_at, int64_t now)
{
    PL_PREPARE(st, db, sql_code_insert);
    pl_stmt_bind_text(st, 1, hash);
    pl_stmt_bind_text(st, 2, user_id);
    pl_stmt_bind_text(st, 3, method);
    pl_stmt_bind_text(st, 4, created_org_id);
    pl_stmt_bind_int64(st, 5, expires_at);
    pl_stmt_bind_int64(st, 6, now);
    return run(st);
}

int pl_idstore_code_take(pl_db_t *db, pl_arena_t *a, const char *hash, int64_t now,
                         const char **user_id, const char **method, const char **created_org_id)
{
    PL_PREPARE(st, db, sql_code_take);
    pl_stmt_bind_text(st, 1, hash);
    pl_stmt_bind_int64(st, 2, now);
    int rc = pl_stmt_step(st);
    if (rc == 1) {
        *user_id = pl_stmt_col_dup(st, a, 0);
        *method = pl_stmt_col_dup(st, a, 1);
        *created_org_id = pl_stmt_col_dup(st, a, 2);
    }
    return pl_stmt_one_done(st, rc);
}

int pl_idstore_purge(pl_db_t *db, const char *org_id, int64_t now)
{
    if (org_id) {
        PL_PREPARE(so, db, sql_purge_org_states);
        pl_stmt_bind_text(so, 1, org_id);
        pl_stmt_bind_int64(so, 2, now);
        return run(so);
    }
    PL_PREPARE(st, db, sql_purge_states);
    pl_stmt_bind_int64(st, 1, now);
    int rc = run(st);
    if (rc)
        return rc;
    PL_PREPARE(st2, db, sql_purge_codes);
    pl_stmt_bind_int64(st2, 1, now);
    return run(st2);
}

/* ---- identities ---- */

static const char sql_identity_find[] =
    "SELECT id, user_id FROM user_identities WHERE provider = $1 AND subject = $2";
static const char sql_identity_insert[] =
    "INSERT INTO user_identities (id, user_id, provider, subject, email, created_at, "
    "last_used_at) VALUES ($1, $2, $3, $4, $5, $6, $6)";
static const char sql_identity_touch[] =
    "UPDATE user_identities SET last_used_at = $3, email = COALESCE($2, email) WHERE id = $1";
static const char sql_identities_of[] =
    "SELECT id, provider, email, created_at, last_used_at FROM user_identities WHERE user_id = $1 "
    "ORDER BY created_at, id";
static const char sql_identity_get[] =
    "SELECT id, provider, email, created_at, last_used_at FROM user_identities WHERE user_id = $1 "
    "AND id = $2";
static const char sql_identity_delete[] =
    "DELETE FROM user_identities WHERE user_id = $1 AND id = $2";
static const char sql_identities_count[] =
    "SELECT count(*) FROM user_identities WHERE user_id = $1";
static const char sql_has_password[] =
    "SELECT CASE WHEN password_hash <> '' THEN 1 ELSE 0 END FROM users WHERE id = $1";

int pl_idstore_identity_find(pl_db_t *db, pl_arena_t *a, const char *provider, const char *subject,
                             const char **id, const char **user_id)
{
    PL_PREPARE(st, db, sql_identity_find);
    pl_stmt_bind_text(st, 1, provider);
    pl_stmt_bind_text(st, 2, subject);
    int rc = pl_stmt_step(st);
    if (rc == 1) {
        *id = pl_stmt_col_dup(st, a, 0);
        *user_id = pl_stmt_col_dup(st, a, 1);
    }
    return pl_stmt_one_done(st, rc);
}

int pl_idstore_identity_insert(pl_db_t *db, const char *id, const char *user_id,
                               const char *provider, const char *subject, const char *email,
                               int64_t now)
{
    PL_PREPARE(st, db, sql_identity_insert);
    pl_stmt_bind_text(st, 1, id);
    pl_stmt_bind_text(st, 2, user_id);
    pl_stmt_bind_text(st, 3, provider);
    pl_stmt_bind_text(st, 4, subject);
    pl_stmt_bind_text(st, 5, email);
    pl_stmt_bind_int64(st, 6, now);
    return run(st);
}

int pl_idstore_identity_touch(pl_db_t *db, const char *id, const char *email, int64_t now)
{
    PL_PREPARE(st, db, sql_identity_touch);
    pl_stmt_bind_text(st, 1, id);
    pl_stmt_bind_text(st, 2, email);
    pl_stmt_bind_int64(st, 3, now);
    return run(st);
}

static void read_identity(pl_arena_t *a, pl_stmt_t *st, pl_identity_t *i)
{
    i->id = pl_stmt_col_dup(st, a, 0);
    const char *p = pl_stmt_col_dup(st, a, 1);
    if (p && !strncmp(p, "sso:", 4)) {
        i->provider = "sso";
        i->org_id = p + 4;
    } else {
        i->provider = p;
        i->org_id = NULL;
    }
    i->email = pl_stmt_col_dup(st, a, 2);
    i->created_at = pl_stmt_col_int64(st, 3);
    i->last_used_at = pl_stmt_col_is_null(st, 4) ? 0 : pl_stmt_col_int64(st, 4);
}

int pl_idstore_identities_of(pl_db_t *db, pl_arena_t *a, const char *user_id,
                             void (*fn)(void *arg, const pl_identity_t *i), void *arg)
{
    PL_PREPARE(st, db, sql_identities_of);
    pl_stmt_bind_text(st, 1, user_id);
    int rc;
    while ((rc = pl_stmt_step(st)) == 1) {
        pl_identity_t i;
        read_identity(a, st, &i);
        fn(arg, &i);
    }
    pl_stmt_reset(st);
    return rc < 0 ? rc : PL_OK;
}

int pl_idstore_identity_get(pl_db_t *db, pl_arena_t *a, const char *user_id, const char *id,
                            pl_identity_t *out)
{
    PL_PREPARE(st, db, sql_identity_get);
    pl_stmt_bind_text(st, 1, user_id);
    pl_stmt_bind_text(st, 2, id);
    int rc = pl_stmt_step(st);
    if (rc == 1)
        read_identity(a, st, out);
    return pl_stmt_one_done(st, rc);
}

int pl_idstore_identity_delete(pl_db_t *db, const char *user_id, const char *id)
{
    PL_PREPARE(st, db, sql_identity_delete);
    pl_stmt_bind_text(st, 1, user_id);
    pl_stmt_bind_text(st, 2, id);
    return pl_stmt_exec_found(st);
}

static int count_of(pl_db_t *db, const char *sql, const char *user_id, int *count)
{
    PL_PREPARE(st, db, sql);
    pl_stmt_bind_text(st, 1, user_id);
    int rc = pl_stmt_step(st);
    if (rc == 1)
        *count = (int)pl_stmt_col_int64(st, 0);
    return pl_stmt_one_done(st, rc);
}

int pl_idstore_identities_count(pl_db_t *db, const char *user_id, int *count)
{
    return count_of(db, sql_identities_count, user_id, count);
}

int pl_idstore_user_has_password(pl_db_t *db, const char *user_id, bool *out)
{
    int n = 0;
    int rc = count_of(db, sql_has_password, user_id, &n);
    *out = n > 0;
    return rc;
}

/* ---- organization SSO ---- */

static const char sql_sso_get[] =
    "SELECT issuer, client_id, default_role, enforce, join_by_email_domain, created_at, "
    "updated_at, client_secret_sealed FROM org_sso WHERE org_id = $1";
static const char sql_sso_upsert[] =
    "INSERT INTO org_sso (org_id, issuer, client_id, client_secret_sealed, default_role, enforce, "
    "join_by_email_domain, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) "
    "ON CONFLICT (org_id) DO UPDATE SET issuer = $2, client_id = $3, client_secret_sealed = $4, "
    "default_role = $5, enforce = $6, join_by_email_domain = $7, updated_at = $8";
static const char sql_sso_delete[] = "DELETE FROM org_sso WHERE org_id = $1";
static const char sql_sso_domains[] =
    "SELECT domain, approved_at FROM sso_domains WHERE org_id = $1 ORDER BY domain";
static const char sql_sso_domains_clear[] = "DELETE FROM sso_domains WHERE org_id = $1";
static const char sql_sso_domain_insert[] =
    "INSERT INTO sso_domains (domain, org_id, approved_at, created_at) VALUES ($1, $2, $3, $4)";
static const char sql_sso_domain_owner[] =
    "SELECT org_id, approved_at FROM sso_domains WHERE domain = $1";
static const char sql_sso_domain_approve[] =
    "UPDATE sso_domains SET approved_at = $2 WHERE domain = $1";

int pl_idstore_sso_get(pl_db_t *db, pl_arena_t *a, const char *org_id, pl_sso_t *out,
                       const char **secret_sealed)
{
    PL_PREPARE(st, db, sql_sso_get);
    pl_stmt_bind_text(st, 1, org_id);
    int rc = pl_stmt_step(st);
    if (rc == 1) {
        memset(out, 0, sizeof(*out));
        out->issuer = pl_stmt_col_dup(st, a, 0);
        out->client_id = pl_stmt_col_dup(st, a, 1);
        out->default_role = pl_stmt_col_dup(st, a, 2);
        out->enforce = pl_stmt_col_bool(st, 3);
        out->join_by_email_domain = pl_stmt_col_bool(st, 4);
        out->created_at = pl_stmt_col_int64(st, 5);
        out->updated_at = pl_stmt_col_int64(st, 6);
        if (secret_sealed)
            *secret_sealed = pl_stmt_col_dup(st, a, 7);
    }
    return pl_stmt_one_done(st, rc);
}

int pl_idstore_sso_upsert(pl_db_t *db, const char *org_id, const pl_sso_t *s,
                          const char *secret_sealed, int64_t now)
{
    PL_PREPARE(st, db, sql_sso_upsert);
    pl_stmt_bind_text(st, 1, org_id);
    pl_stmt_bind_text(st, 2, s->issuer);
    pl_stmt_bind_text(st, 3, s->client_id);
    pl_stmt_bind_text(st, 4, secret_sealed);
    pl_stmt_bind_text(st, 5, s->default_role);
    pl_stmt_bind_bool(st, 6, s->enforce);
    pl_stmt_bind_bool(st, 7, s->join_by_email_domain);
    pl_stmt_bind_int64(st, 8, now);
    return run(st);
}

int pl_idstore_sso_delete(pl_db_t *db, const char *org_id)
{
    PL_PREPARE(st, db, sql_sso_delete);
    pl_stmt_bind_text(st, 1, org_id);
    return pl_stmt_exec_found(st);
}

int pl_idstore_sso_domains(pl_db_t *db, pl_arena_t *a, const char *org_id, pl_sso_t *out)
{
    PL_PREPARE(st, db, sql_sso_domains);
    pl_stmt_bind_text(st, 1, org_id);
    int rc;
    out->ndomains = 0;
    while ((rc = pl_stmt_step(st)) == 1) {
        if (out->ndomains == PL_SSO_DOMAINS_MAX)
            continue;
        out->domains[out->ndomains] = pl_stmt_col_dup(st, a, 0);
        out->approved[out->ndomains++] = !pl_stmt_col_is_null(st, 1);
    }
    pl_stmt_reset(st);
    return rc < 0 ? rc : PL_OK;
}

int pl_idstore_sso_domains_clear(pl_db_t *db, const char *org_id)
{
    PL_PREPARE(st, db, sql_sso_domains_clear);
    pl_stmt_bind_text(st, 1, org_id);
    return run(st);
}

int pl_idstore_sso_domain_insert(pl_db_t *db, const char *domain, const char *org_id,
                                 int64_t approved_at, int64_t now)
{
    PL_PREPARE(st, db, sql_sso_domain_insert);
    pl_stmt_bind_text(st, 1, domain);
    pl_stmt_bind_text(st, 2, org_id);
    if (approved_at)
        pl_stmt_bind_int64(st, 3, approved_at);
    else
        pl_stmt_bind_null(st, 3);
    pl_stmt_bind_int64(st, 4, now);
    return run(st);
}

int pl_idstore_sso_domain_owner(pl_db_t *db, pl_arena_t *a, const char *domain, const char **org_id,
                                bool *approved)
{
    PL_PREPARE(st, db, sql_sso_domain_owner);
    pl_stmt_bind_text(st, 1, domain);
    int rc = pl_stmt_step(st);
    if (rc == 1) {
        *org_id = pl_stmt_col_dup(st, a, 0);
        *approved = !pl_stmt_col_is_null(st, 1);
    }
    return pl_stmt_one_done(st, rc);
}

int pl_idstore_sso_domain_approve(pl_db_t *db, const char *domain, int64_t now)
{
    PL_PREPARE(st, db, sql_sso_domain_approve);
    pl_stmt_bind_text(st, 1, domain);
    pl_stmt_bind_int64(st, 2, now);
    return pl_stmt_exec_found(st);
}

/* ---- `plinth keys verify` ---- */

static const char sql_idp_secrets[] =
    "SELECT key, client_secret_sealed FROM identity_providers ORDER BY key";
static const char sql_orgs_page[] =
    "SELECT id FROM organizations WHERE id > $1 ORDER BY id LIMIT $2";

int pl_idstore_idp_secrets(pl_db_t *db, void (*fn)(void *arg, const char *key, const char *sealed),
                           void *arg)
{
    PL_PREPARE(st, db, sql_idp_secrets);
    int rc;
    while ((rc = pl_stmt_step(st)) == 1)
        fn(arg, pl_stmt_col_text(st, 0), pl_stmt_col_text(st, 1));
    pl_stmt_reset(st);
    return rc < 0 ? rc : PL_OK;
}

int pl_idstore_orgs_page(pl_db_t *db, pl_arena_t *a, const char *after, int n, const char **ids,
                         int *count)
{
    PL_PREPARE(st, db, sql_orgs_page);
    pl_stmt_bind_text(st, 1, after);
    pl_stmt_bind_int64(st, 2, n);
    int rc;
    *count = 0;
    while ((rc = pl_stmt_step(st)) == 1 && *count < n)
        ids[(*count)++] = pl_stmt_col_dup(st, a, 0);
    pl_stmt_reset(st);
    return rc < 0 ? rc : PL_OK;
}
