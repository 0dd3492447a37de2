/* account_store.h - SQL of the account deletion (account.c only). Every
 * function runs in the caller's transaction and returns PL_OK or a db error
 * (readers: PL_OK with rows passed to fn, valid during the call). */
#ifndef PL_ACCOUNT_STORE_H
#define PL_ACCOUNT_STORE_H

#include "db/db.h"

/* One of the user's memberships. */
typedef struct {
    const char *org_id;
    const char *role;
    bool personal;
} pl_account_membership_t;

int pl_account_store_memberships(pl_db_t *db, pl_arena_t *a, const char *user_id,
                                 void (*fn)(void *arg, const pl_account_membership_t *m),
                                 void *arg);
/* Members of org_id other than user_id, and how many of them are owners. */
int pl_account_store_others(pl_db_t *db, const char *org_id, const char *user_id, int64_t *members,
                            int64_t *owners);
int pl_account_store_membership_delete(pl_db_t *db, const char *org_id, const char *user_id);
/* Deletes an organization; its tenant rows go with it (ON DELETE CASCADE). */
int pl_account_store_org_delete(pl_db_t *db, const char *org_id);
/* Removes what names the address email outside the user's own rows:
 * invitations to it, sign-in attempts with it, and mail jobs addressed to
 * it that are not running. */
int pl_account_store_forget_email(pl_db_t *db, const char *email);
/* Deletes the user row; sessions, tokens, two-factor, notifications and
 * devices go with it (ON DELETE CASCADE). */
int pl_account_store_user_delete(pl_db_t *db, const char *user_id);

#endif
