/* httpc.h - the one outgoing HTTP client of plinth (libcurl), with the
 * public-address guard.
 *
 * Every outgoing HTTP request (signed webhooks, OpenID Connect discovery,
 * token, JWKS and userinfo calls, the Stripe API, S3-compatible storage) goes
 * through pl_httpc_do, so that none of them can be turned into a way of
 * reaching the operator's private network: the host is resolved by plinth,
 * every address is checked, curl is pinned to the checked addresses, and a
 * socket callback refuses any connect() to a non-public address as well.
 * Redirects are never followed, proxies from the environment are ignored, only
 * http and https are spoken, TLS is verified.
 *
 * Thread-safety: every function is safe to call from any thread; pl_httpc_do
 * uses one curl handle per call and shares nothing between calls. */
#ifndef PL_HTTPC_H
#define PL_HTTPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/core.h"

#define PL_HTTPC_URL_MAX           2048       /* bytes of a stored outgoing URL */
#define PL_HTTPC_REQUEST_URL_MAX   8192       /* bytes of a URL pl_httpc_do accepts */
#define PL_HTTPC_TIMEOUT_MS        10000      /* default whole-request timeout */
#define PL_HTTPC_MAX_RESPONSE      4096       /* default bytes of body kept */
#define PL_HTTPC_DISCARD_MAX       (1 << 20)  /* body bytes read and dropped past the kept part */
#define PL_HTTPC_HEADERS_MAX       (64 << 10) /* bytes of response headers accepted */
#define PL_HTTPC_ALLOW_PRIVATE_ENV "PLINTH_ALLOW_PRIVATE_TARGETS"

/* Initialises libcurl (curl_global_init) and reads PLINTH_ALLOW_PRIVATE_TARGETS
 * ("1", "true", "yes" or "on" lift the guard), once per process; later calls
 * return the first result. PL_EINTERNAL when libcurl cannot start or is older
 * than 7.85 (the guard needs CURLOPT_PROTOCOLS_STR). Every other function here
 * calls it first, so calling it at start only makes a failure visible early. */
int pl_httpc_init(void);

/* Lifts (true) or restores (false) the guard for every later request of the
 * process, overriding the environment. For tests and private networks. */
void pl_httpc_set_allow_private(bool allow);
bool pl_httpc_allow_private(void);

/* True when the address is public, i.e. may be the target of an outgoing
 * request. False for any family but AF_INET and AF_INET6, and for:
 *   IPv4: 0/8 (unspecified), 10/8, 100.64/10 (CGNAT), 127/8, 169.254/16
 *         (link-local, cloud metadata), 172.16/12, 192.0.0/24, 192.0.2/24,
 *         192.88.99/24 (6to4 relays), 192.168/16, 198.18/15 (benchmarking),
 *         198.51.100/24, 203.0.113/24, 224/4 (multicast), 240/4 (reserved,
 *         broadcast);
 *   IPv6: everything outside 2000::/3 (::, ::1, fc00::/7 unique-local,
 *         fe80::/10 link-local, fec0::/10 site-local, ff00::/8 multicast,
 *         100::/64, 64:ff9b:1::/48, ...) except the forms below, 2001::/23
 *         (IETF assignments: Teredo, benchmarking, ORCHID), 2001:db8::/32 and
 *         3fff::/20 (documentation).
 * IPv4-mapped (::ffff:0:0/96), IPv4-translated (::ffff:0:0:0/96),
 * IPv4-compatible (::/96), NAT64 (64:ff9b::/96) and 6to4 (2002::/16) addresses
 * are judged by the IPv4 address they embed. sa must hold the whole sockaddr
 * of its family (sockaddr_in or sockaddr_in6). */
bool pl_httpc_addr_public(const struct sockaddr *sa);

/* Validates an outgoing URL before it is stored (webhook endpoint, issuer):
 * "http://" or "https://" followed by a host, at most PL_HTTPC_URL_MAX bytes of
 * printable ASCII, no user info, no fragment (not even an empty "#"), no
 * backslash, no IPv6 zone id, a port in 1..65535. Host names are ASCII (an
 * internationalised name is given in its xn-- form). The host is judged as
 * libcurl will read it: odd IPv4 spellings ("0x7f.1", "2130706433",
 * "0177.0.0.1", "127.1") and bracketed IPv6 ("[::ffff:127.0.0.1]", "[::1]")
 * by the address they denote; a spelling that libcurl and the C library read
 * as two different addresses is "invalid".
 * Without resolve, no lookup is made, but a host that is an address literal is
 * still judged. With resolve, every address the host resolves to (both
 * families) must be public. Private targets are allowed when the process
 * allows them (pl_httpc_allow_private); a name must still resolve.
 * Returns PL_OK (*code = NULL), or PL_EINVAL with *code set to a static
 * string: "invalid", "forbidden_address" or "unresolvable"; code may be NULL.
 * May block on DNS when resolve is true. */
int pl_httpc_check_url(const char *url, bool resolve, const char **code);

/* One request. Everything it points to is the caller's and must stay valid
 * for the duration of pl_httpc_do. */
typedef struct {
    const char *method; /* "GET" (also NULL), "HEAD", "POST", "PUT", "PATCH", "DELETE" */
    const char *url;    /* http(s), at most PL_HTTPC_REQUEST_URL_MAX bytes, the
                           same rules as pl_httpc_check_url otherwise */
    /* "Name: value" strings, NULL-terminated; may be NULL. No CR or LF. */
    const char *const *headers;
    /* Request body, or NULL. Not allowed with GET or HEAD. POST, PUT and
       PATCH (also with no body) and DELETE with a body send a Content-Length,
       and "Content-Type: application/octet-stream" when headers has none. */
    const char *body;
    size_t body_len;
    /* Streaming upload instead of body (S3 parts): reads up to max bytes into
       buf and returns the count, 0 at the end, -1 on error (the request fails
       with "aborted"). body_len gives the total length (sent as
       Content-Length). Called on the calling thread. */
    long (*read_body)(void *cls, char *buf, size_t max);
    void *read_cls;
    /* Streaming download instead of buffering: called with each chunk of the
       body on the calling thread; non-zero aborts ("aborted"). */
    int (*on_data)(void *cls, const char *data, size_t n);
    void *data_cls;
    int timeout_ms;      /* the whole request, DNS included; 0 = PL_HTTPC_TIMEOUT_MS */
    size_t max_response; /* body bytes kept when buffering; 0 = PL_HTTPC_MAX_RESPONSE.
                            The rest is read and dropped (truncated = true) up to
                            PL_HTTPC_DISCARD_MAX more bytes, then the transfer stops;
                            either way the call succeeds. */
    bool allow_private;  /* lifts the guard for this request only (operator-configured
                            targets such as PLINTH_S3_ENDPOINT) */
    /* Optional: CURLOPT_AWS_SIGV4, "provider1:provider2:region:service"
       (e.g. "aws:amz:us-east-1:s3"); always give region and service. The
       "x-<provider2>-content-sha256" header that S3 requires is added when the
       caller does not give one: the hex SHA-256 of body, or "UNSIGNED-PAYLOAD"
       with read_body. What libcurl 7.88 signs, and so what the caller must
       prepare, is listed at the end of this file. */
    const char *aws_sigv4;
    const char *userpwd; /* optional "user:password": basic auth, or SigV4 key id:secret */
} pl_httpc_req_t;

/* The outcome of a request. pl_httpc_do fills every field; release with
 * pl_httpc_resp_free. */
typedef struct {
    int status; /* HTTP status of the final response; 0 when none arrived */
    char *body; /* buffered body, NUL-terminated, at most max_response bytes,
                   malloc'd and owned by the response; "" when empty; NULL when
                   streamed to on_data or when no response arrived */
    size_t body_len;
    bool truncated; /* the body was longer than max_response */
    /* Values of these response headers; a value too long for its field is
       dropped (left ""), never cut. */
    char content_type[128];
    char etag[256];
    char location[1024]; /* a redirect's absolute target (reported, never followed),
                            else the Location header as sent */
    /* "" when the exchange completed; else a short code: "forbidden_address",
       "timeout", "connect_failed", "dns", "tls", "invalid_url",
       "invalid_request" (a malformed pl_httpc_req_t), "too_large" (headers
       over PL_HTTPC_HEADERS_MAX), "aborted" (a callback asked to stop),
       "failed". Never a URL, a query or a secret. */
    char error[64];
    int64_t duration_ms; /* the whole call, DNS included */
} pl_httpc_resp_t;

/* Performs one request. Redirects are never followed. The host is resolved
 * once here, every address is checked unless private targets are allowed (by
 * the process or by req->allow_private), and curl connects only to the checked
 * addresses (no DNS-rebinding window); a socket callback refuses a connect() to
 * any non-public address as well. Proxies from the environment are ignored,
 * only http and https are spoken, TLS certificates and names are verified, no
 * compression is asked for, no cookies are kept.
 *
 * Returns PL_OK when an HTTP response arrived whole (any status; also when the
 * body was truncated to max_response). Otherwise resp->error says why and
 * resp->status holds the status if the headers had arrived:
 *   PL_EFORBIDDEN  "forbidden_address"
 *   PL_EINVAL      "invalid_url", "invalid_request"
 *   PL_ELIMIT      "too_large"
 *   PL_EBUSY       "timeout", "connect_failed", "dns", "tls", "aborted", "failed":
 *                  a transport failure; a later attempt may succeed
 *   PL_EINTERNAL   "failed" when libcurl could not be set up.
 * resp is overwritten (not freed) first; call pl_httpc_resp_free after every
 * call. Blocks for at most about timeout_ms (getaddrinfo may overrun it by the
 * resolver's own timeouts). Thread-safe. */
int pl_httpc_do(const pl_httpc_req_t *req, pl_httpc_resp_t *resp);

/* Frees resp->body and clears it; safe on a zeroed or already freed resp. */
void pl_httpc_resp_free(pl_httpc_resp_t *resp);

/* SigV4 with libcurl 7.88 (Debian 12), read from its http_aws_sigv4.c:
 * - The canonical query string is the URL's query as written: put the
 *   parameters in sorted order, write each as name=value ("?uploads=", not
 *   "?uploads") and percent-encode values the AWS way (upper-case hex, only
 *   A-Z a-z 0-9 - . _ ~ left as they are).
 * - The canonical URI is the path as written (after dot-segment removal):
 *   percent-encode object keys the AWS way, keeping '/'.
 * - The payload hash is the x-<provider2>-content-sha256 header when present,
 *   else the SHA-256 of the in-memory body; a streamed body would be signed as
 *   empty. pl_httpc_do adds the header (see aws_sigv4 above).
 * - Signed headers are host, x-<provider2>-date and every header given in
 *   req->headers; those libcurl adds itself (Content-Length, User-Agent,
 *   Accept, Expect) are not. A "Name:" header (libcurl's way of removing one)
 *   is still signed, so give none with SigV4. Headers are sorted as whole
 *   "name:value" lines: two signed names where one is a prefix of the other
 *   ("x-amz-meta-a", "x-amz-meta-a-b") are ordered unlike AWS and fail.
 * - An Authorization header in req->headers turns signing off silently. A
 *   Date header (when there is no x-<provider2>-date one) is taken as the
 *   signing time, its first 16 characters read as "20260101T000000Z": give
 *   neither and libcurl uses the current time.
 * - The key id and the secret are userpwd split at the first ':'; libcurl
 *   keeps a copy of them that it frees without wiping.
 * - A session token goes in as an "x-amz-security-token: ..." header (signed).
 * - Bodies over 1 MiB are sent with "Expect: 100-continue"; libcurl waits up
 *   to 1 s for the 100 before sending anyway. */

#endif
