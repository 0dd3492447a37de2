/* server.h - the HTTP server: libmicrohttpd with its internal epoll thread pool. */
#ifndef PL_SERVER_H
#define PL_SERVER_H

#include "core/core.h"

/* Parses CORS and proxy settings from pl_cfg, builds the route index and
 * starts listening. PL_EINVAL (message printed) when the address cannot be
 * bound or a setting is malformed. */
int pl_server_start(void);

/* Stops accepting connections, waits up to grace_ms for requests in flight,
 * then closes every connection and joins the threads. */
void pl_server_stop(int grace_ms);

#endif
