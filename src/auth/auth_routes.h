/* auth_routes.h - HTTP handlers for accounts and sessions (API.md "Accounts
 * and sessions"). Each parses and validates input, runs the change in one
 * transaction, and renders JSON. */
#ifndef PL_AUTH_ROUTES_H
#define PL_AUTH_ROUTES_H

#include "auth/auth_store.h"
#include "web/web.h"

int pl_auth_register(pl_req_t *req);
int pl_auth_login(pl_req_t *req);
int pl_auth_refresh(pl_req_t *req);
int pl_auth_logout(pl_req_t *req);
int pl_auth_logout_all(pl_req_t *req);
int pl_auth_sessions_list(pl_req_t *req);
int pl_auth_sessions_revoke(pl_req_t *req);
int pl_auth_me_get(pl_req_t *req);
int pl_auth_me_update(pl_req_t *req);
int pl_auth_me_password(pl_req_t *req);
int pl_auth_login_mfa(pl_req_t *req);
int pl_mfa_setup(pl_req_t *req);
int pl_mfa_enable(pl_req_t *req);
int pl_mfa_disable(pl_req_t *req);
int pl_mfa_recovery_codes(pl_req_t *req);
int pl_auth_verify_email_request(pl_req_t *req);
int pl_auth_verify_email(pl_req_t *req);
int pl_auth_password_reset_request(pl_req_t *req);
int pl_auth_password_reset(pl_req_t *req);

/* Issues an email-verification token for u and enqueues the email, inside
 * the caller's write transaction. */
int pl_auth_send_verification(pl_req_t *req, pl_db_t *db, const pl_user_t *u);

/* The sign-in throttles for (email, client IP): records 429 on req and
 * returns an error when the attempt must not be evaluated. */
int pl_auth_throttle(pl_req_t *req, pl_db_t *db, const char *email);

/* With two-factor on, the password step answers with a challenge (200
 * mfa_required + a single-use mfa_token valid 5 minutes) instead of tokens. */
int pl_mfa_challenge(pl_req_t *req, pl_db_t *db, const pl_user_t *u);

/* Records user.logged_in for u (after the session was issued). */
int pl_auth_audit_login(pl_req_t *req, pl_db_t *db, const pl_user_t *u, bool mfa);

/* Creates a user with a personal organization inside the caller's write
 * transaction (used by registration and `plinth admin create`). */
int pl_auth_create_user(pl_db_t *db, pl_user_t *u, json_t **org_out);

#endif
