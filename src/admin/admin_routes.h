/* admin_routes.h - the HTTP handlers of the admin module that live outside
 * admin_routes.c (which holds the route table). */
#ifndef PL_ADMIN_ROUTES_H
#define PL_ADMIN_ROUTES_H

#include "web/web.h"

/* jobs_routes.c: GET /v1/admin/jobs and POST /v1/admin/jobs/{id}/retry. */
int pl_admin_jobs_list(pl_req_t *req);
int pl_admin_jobs_retry(pl_req_t *req);
/* GET /v1/admin/emails: recent messages (platform/mail's log). */
int pl_admin_emails_list(pl_req_t *req);

#endif
