/* identity_store.h - the SQL of identity providers, linked identities,
 * sign-ins in flight, exchange codes and organization SSO. Each function runs one statement on db
 * (inside the caller's transaction, if any); strings of results are copied
 * into a. PL_ENOTFOUND when a single row is missing; PL_ECONFLICT on a
 * unique violation; PL_EDB otherwise. */
#ifndef PL_IDENTITY_STORE_H
#define PL_IDENTITY_STORE_H

#include "db/db.h"
#include "identity/identity.h"

int pl_idstore_idp_list(pl_db_t *db, pl_arena_t *a, void (*fn)(void *arg, const pl_idp_t *p),
                        void *arg);
/* The provider and its sealed client secret. */
int pl_idstore_idp_get(pl_db_t *db, pl_arena_t *a, const char *key, pl_idp_t *out,
                       const char **secret_sealed);
int pl_idstore_idp_upsert(pl_db_t *db, const pl_idp_t *p, const char *secret_sealed);
int pl_idstore_idp_delete(pl_db_t *db, const char *key);

/* A sign-in in flight. */
typedef struct {
    const char *provider_key, *org_id, *nonce, *code_verifier, *redirect_to;
} pl_idstore_state_t;
int pl_idstore_state_insert(pl_db_t *db, const char *hash, const pl_idstore_state_t *s,
                            int64_t expires_at, int64_t now);
/* Spends a live state: PL_ENOTFOUND when unknown, spent or expired. */
int pl_idstore_state_take(pl_db_t *db, pl_arena_t *a, const char *hash, int64_t now,
                          pl_idstore_state_t *out);

int pl_idstore_code_insert(pl_db_t *db, const char *hash, const char *user_id, const char *method,
                           const char *created_org_id, int64_t expires_at, int64_t now);
int pl_idstore_code_take(pl_db_t *db, pl_arena_t *a, const char *hash, int64_t now,
                         const char **user_id, const char **method, const char **created_org_id);

/* The user of (provider, subject). */
int pl_idstore_identity_find(pl_db_t *db, pl_arena_t *a, const char *provider, const char *subject,
                             const char **id, const char **user_id);
int pl_idstore_identity_insert(pl_db_t *db, const char *id, const char *user_id,
                               const char *provider, const char *subject, const char *email,
                               int64_t now);
int pl_idstore_identity_touch(pl_db_t *db, const char *id, const char *email, int64_t now);
int pl_idstore_identities_of(pl_db_t *db, pl_arena_t *a, const char *user_id,
                             void (*fn)(void *arg, const pl_identity_t *i), void *arg);
int pl_idstore_identity_get(pl_db_t *db, pl_arena_t *a, const char *user_id, const char *id,
                            pl_identity_t *out);
int pl_idstore_identity_delete(pl_db_t *db, const char *user_id, const char *id);
int pl_idstore_identities_count(pl_db_t *db, const char *user_id, int *count);
/* Whether the user has a password (a passwordless account stores ""). */
int pl_idstore_user_has_password(pl_db_t *db, const char *user_id, bool *out);

/* Organization SSO. */
int pl_idstore_sso_get(pl_db_t *db, pl_arena_t *a, const char *org_id, pl_sso_t *out,
                       const char **secret_sealed);
int pl_idstore_sso_upsert(pl_db_t *db, const char *org_id, const pl_sso_t *s,
                          const char *secret_sealed, int64_t now);
int pl_idstore_sso_delete(pl_db_t *db, const char *org_id);
/* Domains: the org's (with their approval) into out. */
int pl_idstore_sso_domains(pl_db_t *db, pl_arena_t *a, const char *org_id, pl_sso_t *out);
int pl_idstore_sso_domains_clear(pl_db_t *db, const char *org_id);
int pl_idstore_sso_domain_insert(pl_db_t *db, const char *domain, const char *org_id,
                                 int64_t approved_at, int64_t now);
/* The org claiming domain, and whether approved. */
int pl_idstore_sso_domain_owner(pl_db_t *db, pl_arena_t *a, const char *domain, const char **org_id,
                                bool *approved);
int pl_idstore_sso_domain_approve(pl_db_t *db, const char *domain, int64_t now);

/* `plinth keys verify`: every instance provider's key and sealed secret
 * (valid during the call), and a page of up to n organization ids after
 * after ("" first), into ids (strings in a). */
int pl_idstore_idp_secrets(pl_db_t *db, void (*fn)(void *arg, const char *key, const char *sealed),
                           void *arg);
int pl_idstore_orgs_page(pl_db_t *db, pl_arena_t *a, const char *after, int n, const char **ids,
                         int *count);

/* Removes the states that expired before now: of instance providers and
 * the exchange codes (org_id NULL), or an organization's SSO states (with
 * its context set). */
int pl_idstore_purge(pl_db_t *db, const char *org_id, int64_t now);

#endif
