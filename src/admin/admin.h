/* admin.h - instance administration: the admin API and `plinth admin create`. */
#ifndef PL_ADMIN_H
#define PL_ADMIN_H

#include "db/db.h"
#include "http/http.h"

int pl_admin_users_list(pl_req_t *req);
int pl_admin_user_disable(pl_req_t *req);
int pl_admin_user_enable(pl_req_t *req);

/* `plinth admin create --email E`: reads the password from standard input,
 * creates the user as an instance admin (or promotes an existing user).
 * Returns the process exit code. */
int pl_admin_create_cli(pl_db_t *db, const char *email);

#endif
