/* server.h - the HTTP server: libmicrohttpd with its internal epoll thread pool. */
#ifndef PL_SERVER_H
#define PL_SERVER_H

#include <stdio.h>

#include "core/core.h"

/* Assembles the route table and the error titles from the modules (once;
 * after pl_modules_init, since routes name permissions of the catalog).
 * PL_EINTERNAL (printed) when a route names an unknown permission. */
int pl_server_assemble(void);

/* The assembled route table (after pl_server_assemble) and its size. */
struct pl_route;
const struct pl_route *pl_server_routes(size_t *n);

/* Prints the assembled route table: method, path, auth, permission, module,
 * flags; one route a line after a header line. */
void pl_server_print_routes(FILE *f);

/* Parses CORS and proxy settings from pl_cfg, assembles the routes and
 * starts listening: with api, on --http (and the hashing pool starts);
 * with --metrics-http set, on that address too, for the operations routes
 * alone (a worker passes api false to serve just those). PL_EINVAL
 * (message printed) when an address cannot be bound or a setting is
 * malformed. */
int pl_server_start(bool api);

/* Stops accepting connections, waits up to grace_ms for requests in flight
 * (and runs what waits for the hashing pool), then closes every connection
 * and joins the threads. */
void pl_server_stop(int grace_ms);

#endif
