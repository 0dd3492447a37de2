/* backup.h - `plinth backup --to FILE` and `plinth restore --from FILE`
 * (API.md "Account data and operations").
 *
 * A backup is one SQLite file: the database as of one moment, copied with
 * SQLite's online backup API while the server goes on writing, plus the
 * data directory's generated keys in its table plinth_backup_files (left out
 * with --without-keys). A restore copies it into an empty or stopped data
 * directory, whose lock (shared by every server and worker on it) it takes
 * exclusively, so it refuses while a server holds the directory. On
 * PostgreSQL both point to pg_dump / pg_restore and exit 2. */
#ifndef PL_BACKUP_H
#define PL_BACKUP_H

#include "core/module.h"

extern const pl_module_t pl_backup_module;

#endif
