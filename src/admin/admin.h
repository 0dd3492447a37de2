/* admin.h - instance administration: the admin API and `plinth admin create`. */
#ifndef PL_ADMIN_H
#define PL_ADMIN_H

#include "db/db.h"
#include "web/web.h"

int pl_admin_users_list(pl_req_t *req);
int pl_admin_user_disable(pl_req_t *req);
int pl_admin_user_enable(pl_req_t *req);
int pl_admin_jobs_list(pl_req_t *req);
int pl_admin_jobs_retry(pl_req_t *req);

#endif
