/* conns.h - guards on connections while requests arrive: a cap on open
 * connections per client address, and a deadline for receiving each
 * request, headers and body.
 *
 * libmicrohttpd's own timeout (--conn-timeout) closes only connections that
 * stay silent: a client that sends a header line every second keeps its
 * connection for ever, and one address could hold every connection the
 * process may open. Here:
 *  - an address (IPv6: its /64) holds at most --max-conns-per-ip open
 *    connections; beyond, new ones are closed at accept (libmicrohttpd's
 *    accept policy). Trusted proxies (PLINTH_TRUSTED_PROXIES) are exempt:
 *    their connections carry many clients. Other addresses are not
 *    affected, so a health check from elsewhere keeps its answer.
 *  - a request must arrive whole within --request-timeout: from the accept
 *    for the first request of a connection, from its first line for the
 *    next ones (after at most --conn-timeout of keep-alive silence). A
 *    watcher thread shuts down the socket of a connection past its
 *    deadline; libmicrohttpd then sees the end of the stream and closes it.
 *
 * Thread-safe; the callbacks run on libmicrohttpd's threads. */
#ifndef PL_CONNS_H
#define PL_CONNS_H

#include <microhttpd.h>

#include "core/core.h"

typedef struct pl_conn pl_conn_t;

/* Starts the deadline watcher with the configuration (pl_cfg). */
int pl_conns_start(void);
/* Stops it (after the daemon stopped: no connection remains). */
void pl_conns_stop(void);

/* libmicrohttpd's accept policy: MHD_NO when the address holds its cap. */
enum MHD_Result pl_conns_accept(void *cls, const struct sockaddr *addr, socklen_t addrlen);
/* From now on (shutdown) every new connection is closed as soon as it is
 * accepted; pl_conns_start ends that. */
void pl_conns_refuse_new(void);
/* MHD_OPTION_NOTIFY_CONNECTION: counts the connection against its address
 * and watches its deadline from start to close. */
void pl_conns_notify(void *cls, struct MHD_Connection *c, void **socket_context,
                     enum MHD_ConnectionNotificationCode code);

/* The guard of a connection (NULL when it was not counted). */
pl_conn_t *pl_conns_of(struct MHD_Connection *c);
/* The request line arrived: the rest must follow within the bound. */
void pl_conn_request_started(pl_conn_t *k);
/* The request is complete (headers and body): no deadline while it is
 * handled and answered. */
void pl_conn_request_received(pl_conn_t *k);
/* The answer was sent: the connection may idle, then send its next
 * request. */
void pl_conn_request_done(pl_conn_t *k);

/* Open connections counted for the address (text form), for tests and
 * diagnostics. */
int pl_conns_open_from(const char *ip);

#endif
