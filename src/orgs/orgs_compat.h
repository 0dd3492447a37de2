/* orgs_compat.h - transitional, for one caller: registration in src/auth
 * still calls pl_orgs_join_by_invitation(req, db, &user, token), the shape
 * it had before it became a service. The four-argument call is routed to an
 * adapter (in orgs_routes.c) that calls the service with the request's
 * context; the five-argument call is the service itself. Delete this file,
 * the adapter and the include in orgs.h once src/auth calls
 * pl_orgs_join_by_invitation(db, ctx, user_id, email, token). */
#ifndef PL_ORGS_COMPAT_H
#define PL_ORGS_COMPAT_H

#include "auth/auth_store.h"

struct pl_req;
int pl_orgs_join_by_invitation_req(struct pl_req *req, pl_db_t *db, const pl_user_t *u,
                                   const char *token);

#define PL_ORGS_JOIN_PICK(a, b, c, d, e, name, ...) name
#define pl_orgs_join_by_invitation(...)                                                            \
    PL_ORGS_JOIN_PICK(__VA_ARGS__, pl_orgs_join_by_invitation, pl_orgs_join_by_invitation_req, )   \
    (__VA_ARGS__)

#endif
