/* modules.h - the one ordered list of modules, and what the process does
 * with it at start: register each module's options, permissions, job kinds,
 * schedules, email templates and event subscribers, run their init, start
 * and stop. The HTTP server assembles the route table and the error titles
 * from the same list; main.c finds commands in it. */
#ifndef PL_MODULES_H
#define PL_MODULES_H

#include "core/module.h"

/* The modules in order (NULL-terminated). Order matters: a module's init
 * runs after those before it, its stop before theirs; the permission
 * catalog lists permissions in module order. */
extern const pl_module_t *const pl_modules[];

/* Adds every module's options to the configuration (before loading it). */
void pl_modules_configure(void);

/* Registers permissions, job kinds, schedules, templates and event
 * subscribers (once). Returns PL_OK, or PL_ELIMIT (logged). */
int pl_modules_register(void);

/* pl_modules_register, then every init. Returns PL_OK, or the first error. */
int pl_modules_init(void);

/* Starts the LISTEN thread and every module's threads (serve and worker). */
int pl_modules_start(void);
/* Stops them, in reverse order. */
void pl_modules_stop(void);

/* The command named by argv ("admin create": one or two words); *words is
 * how many arguments the name took. NULL when no module has it. */
const pl_command_t *pl_modules_command(int argc, char **argv, int *words);

#endif
