/* clientip.h - the client address of a request: the socket peer, or, when
 * the peer is a trusted proxy, the right-most X-Forwarded-For entry that is
 * not a trusted proxy. Repeated X-Forwarded-For header lines are one
 * comma-separated list in order (RFC 9110 5.3), so a client cannot choose its
 * address by sending a line of its own ahead of the proxy's. Pure functions
 * over the list of trusted proxies, which is set once at start. */
#ifndef PL_CLIENTIP_H
#define PL_CLIENTIP_H

#include "core/core.h"

#define PL_CLIENTIP_MAX_LINES 16
#define PL_CLIENTIP_MAX_BYTES 4096

/* Parses a comma-separated list of addresses and CIDRs into the trusted
 * proxies (replacing any earlier list). PL_EINVAL (with the offending entry
 * printed to stderr) on a malformed entry. Call at start. */
int pl_clientip_set_trusted(const char *list);
/* True when ip (text) is inside a trusted proxy's range. */
bool pl_clientip_trusted(const char *ip);
/* Parses one address or CIDR ("10.0.0.0/8", "::1"); for the tests. */
bool pl_clientip_cidr_valid(const char *s);

/* Writes the client address for a request from peer (the socket peer's
 * address as text) and the values of its X-Forwarded-For header lines, in
 * the order received (nxff may be 0). A malformed entry, or more than
 * PL_CLIENTIP_MAX_BYTES of header, stops the walk at the last trusted hop's
 * view of the address. */
void pl_clientip_resolve(const char *peer, const char *const *xff, int nxff, char *out,
                         size_t size);

#endif
