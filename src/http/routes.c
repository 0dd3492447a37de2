/* routes.c - the whole API surface in one table: method, path template,
 * handler, who may call it, the permission it needs, and flags. */
#include "admin/admin.h"
#include "apikeys/apikeys.h"
#include "audit/audit.h"
#include "auth/auth_routes.h"
#include "flags/flags.h"
#include "http/ops.h"
#include "http/router.h"
#include "jobs/jobs.h"
#include "orgs/orgs.h"

#define J PL_ROUTE_JSON

pl_route_t pl_routes[] = {
    /* operations */
    {PL_M_GET, "/healthz", pl_ops_healthz, PL_AUTH_NONE, NULL, 0, 0},
    {PL_M_GET, "/readyz", pl_ops_readyz, PL_AUTH_NONE, NULL, 0, 0},
    {PL_M_GET, "/metrics", pl_ops_metrics, PL_AUTH_NONE, NULL, 0, 0},
    {PL_M_GET, "/v1/openapi.yaml", pl_ops_openapi, PL_AUTH_NONE, NULL, 0, 0},

    /* accounts and sessions */
    {PL_M_POST, "/v1/auth/register", pl_auth_register, PL_AUTH_NONE, NULL, J, 0},
    {PL_M_POST, "/v1/auth/login", pl_auth_login, PL_AUTH_NONE, NULL, J, 0},
    {PL_M_POST, "/v1/auth/refresh", pl_auth_refresh, PL_AUTH_NONE, NULL, J, 0},
    {PL_M_POST, "/v1/auth/logout", pl_auth_logout, PL_AUTH_USER, NULL, J, 0},
    {PL_M_POST, "/v1/auth/logout-all", pl_auth_logout_all, PL_AUTH_USER, NULL, J, 0},
    {PL_M_GET, "/v1/auth/sessions", pl_auth_sessions_list, PL_AUTH_USER, NULL, 0, 0},
    {PL_M_DELETE, "/v1/auth/sessions/{id}", pl_auth_sessions_revoke, PL_AUTH_USER, NULL, 0, 0},
    {PL_M_GET, "/v1/me", pl_auth_me_get, PL_AUTH_USER, NULL, 0, 0},
    {PL_M_PATCH, "/v1/me", pl_auth_me_update, PL_AUTH_USER, NULL, J, 0},
    {PL_M_POST, "/v1/me/password", pl_auth_me_password, PL_AUTH_USER, NULL, J, 0},
    {PL_M_POST, "/v1/auth/verify-email/request", pl_auth_verify_email_request, PL_AUTH_USER, NULL,
     J, 0},
    {PL_M_POST, "/v1/auth/verify-email", pl_auth_verify_email, PL_AUTH_NONE, NULL, J, 0},
    {PL_M_POST, "/v1/auth/password-reset/request", pl_auth_password_reset_request, PL_AUTH_NONE,
     NULL, J, 0},
    {PL_M_POST, "/v1/auth/password-reset", pl_auth_password_reset, PL_AUTH_NONE, NULL, J, 0},

    /* organizations: every route under /v1/orgs/{org} names the permission it
     * needs; the authorization step resolves the caller's membership first.
     * NULL = any member (removing a member checks member.remove unless the
     * member leaves by themself). */
    {PL_M_POST, "/v1/orgs", pl_orgs_create, PL_AUTH_USER, NULL, J, 0},
    {PL_M_GET, "/v1/orgs", pl_orgs_list, PL_AUTH_USER, NULL, 0, 0},
    {PL_M_GET, "/v1/orgs/{org}", pl_orgs_get, PL_AUTH_ORG, "org.read", 0, 0},
    {PL_M_PATCH, "/v1/orgs/{org}", pl_orgs_update, PL_AUTH_ORG, "org.update", J, 0},
    {PL_M_DELETE, "/v1/orgs/{org}", pl_orgs_delete, PL_AUTH_ORG, "org.delete", 0, 0},
    {PL_M_GET, "/v1/orgs/{org}/members", pl_members_list, PL_AUTH_ORG, "member.read", 0, 0},
    {PL_M_PATCH, "/v1/orgs/{org}/members/{user}", pl_members_update, PL_AUTH_ORG,
     "member.update_role", J, 0},
    {PL_M_DELETE, "/v1/orgs/{org}/members/{user}", pl_members_remove, PL_AUTH_ORG, NULL, 0, 0},
    {PL_M_POST, "/v1/orgs/{org}/invitations", pl_invitations_create, PL_AUTH_ORG, "member.invite",
     J, 0},
    {PL_M_GET, "/v1/orgs/{org}/invitations", pl_invitations_list, PL_AUTH_ORG, "member.invite", 0,
     0},
    {PL_M_DELETE, "/v1/orgs/{org}/invitations/{id}", pl_invitations_revoke, PL_AUTH_ORG,
     "member.invite", 0, 0},
    {PL_M_POST, "/v1/invitations/accept", pl_invitations_accept, PL_AUTH_USER, NULL, J, 0},
    {PL_M_GET, "/v1/orgs/{org}/teams", pl_teams_list, PL_AUTH_ORG, "team.read", 0, 0},
    {PL_M_POST, "/v1/orgs/{org}/teams", pl_teams_create, PL_AUTH_ORG, "team.manage", J, 0},
    {PL_M_GET, "/v1/orgs/{org}/teams/{team}", pl_teams_get, PL_AUTH_ORG, "team.read", 0, 0},
    {PL_M_PATCH, "/v1/orgs/{org}/teams/{team}", pl_teams_update, PL_AUTH_ORG, "team.manage", J, 0},
    {PL_M_DELETE, "/v1/orgs/{org}/teams/{team}", pl_teams_delete, PL_AUTH_ORG, "team.manage", 0, 0},
    {PL_M_PUT, "/v1/orgs/{org}/teams/{team}/members/{user}", pl_teams_member_add, PL_AUTH_ORG,
     "team.manage", J, 0},
    {PL_M_DELETE, "/v1/orgs/{org}/teams/{team}/members/{user}", pl_teams_member_remove, PL_AUTH_ORG,
     "team.manage", 0, 0},
    {PL_M_GET, "/v1/orgs/{org}/roles", pl_roles_list, PL_AUTH_ORG, "role.read", 0, 0},
    {PL_M_POST, "/v1/orgs/{org}/roles", pl_roles_create, PL_AUTH_ORG, "role.manage", J, 0},
    {PL_M_PATCH, "/v1/orgs/{org}/roles/{key}", pl_roles_update, PL_AUTH_ORG, "role.manage", J, 0},
    {PL_M_DELETE, "/v1/orgs/{org}/roles/{key}", pl_roles_delete, PL_AUTH_ORG, "role.manage", 0, 0},
    {PL_M_GET, "/v1/permissions", pl_permissions_list, PL_AUTH_USER, NULL, 0, 0},
    {PL_M_POST, "/v1/orgs/{org}/api-keys", pl_apikeys_create, PL_AUTH_ORG, "apikey.manage", J, 0},
    {PL_M_GET, "/v1/orgs/{org}/api-keys", pl_apikeys_list, PL_AUTH_ORG, "apikey.read", 0, 0},
    {PL_M_DELETE, "/v1/orgs/{org}/api-keys/{id}", pl_apikeys_revoke, PL_AUTH_ORG, "apikey.manage",
     0, 0},
    {PL_M_GET, "/v1/orgs/{org}/flags", pl_flags_org_list, PL_AUTH_ORG, "flag.read", 0, 0},

    /* audit log */
    {PL_M_GET, "/v1/orgs/{org}/audit-events", pl_audit_list, PL_AUTH_ORG, "audit.read", 0, 0},
    {PL_M_GET, "/v1/orgs/{org}/audit-events/export", pl_audit_export, PL_AUTH_ORG, "audit.read", 0,
     0},
    {PL_M_GET, "/v1/orgs/{org}/audit-events/verify", pl_audit_verify, PL_AUTH_ORG, "audit.read", 0,
     0},
    {PL_M_GET, "/v1/me/security-events", pl_audit_security_events, PL_AUTH_USER, NULL, 0, 0},

    /* two-factor sign-in */
    {PL_M_POST, "/v1/auth/login/mfa", pl_auth_login_mfa, PL_AUTH_NONE, NULL, J, 0},
    {PL_M_POST, "/v1/me/mfa/totp/setup", pl_mfa_setup, PL_AUTH_USER, NULL, J, 0},
    {PL_M_POST, "/v1/me/mfa/totp/enable", pl_mfa_enable, PL_AUTH_USER, NULL, J, 0},
    {PL_M_POST, "/v1/me/mfa/totp/disable", pl_mfa_disable, PL_AUTH_USER, NULL, J, 0},
    {PL_M_POST, "/v1/me/mfa/recovery-codes", pl_mfa_recovery_codes, PL_AUTH_USER, NULL, J, 0},

    /* instance administration */
    {PL_M_GET, "/v1/admin/orgs", pl_orgs_admin_list, PL_AUTH_ADMIN, NULL, 0, 0},
    {PL_M_GET, "/v1/admin/users", pl_admin_users_list, PL_AUTH_ADMIN, NULL, 0, 0},
    {PL_M_POST, "/v1/admin/users/{id}/disable", pl_admin_user_disable, PL_AUTH_ADMIN, NULL, J, 0},
    {PL_M_POST, "/v1/admin/users/{id}/enable", pl_admin_user_enable, PL_AUTH_ADMIN, NULL, J, 0},
    {PL_M_GET, "/v1/admin/jobs", pl_jobs_admin_list, PL_AUTH_ADMIN, NULL, 0, 0},
    {PL_M_POST, "/v1/admin/jobs/{id}/retry", pl_jobs_admin_retry, PL_AUTH_ADMIN, NULL, J, 0},
    {PL_M_GET, "/v1/admin/flags", pl_flags_admin_list, PL_AUTH_ADMIN, NULL, 0, 0},
    {PL_M_PUT, "/v1/admin/flags/{key}", pl_flags_admin_put, PL_AUTH_ADMIN, NULL, J, 0},
    {PL_M_DELETE, "/v1/admin/flags/{key}", pl_flags_admin_delete, PL_AUTH_ADMIN, NULL, 0, 0},
    {PL_M_PUT, "/v1/admin/flags/{key}/orgs/{org}", pl_flags_override_put, PL_AUTH_ADMIN, NULL, J,
     0},
    {PL_M_DELETE, "/v1/admin/flags/{key}/orgs/{org}", pl_flags_override_delete, PL_AUTH_ADMIN, NULL,
     0, 0},
};

const size_t pl_routes_count = PL_ARRAY_LEN(pl_routes);
