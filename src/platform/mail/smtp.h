/* smtp.h - the two mail transports: SMTP through libcurl (PLINTH_SMTP_URL
 * set), and the log transport (unset: the message is written to the log and
 * not sent, the zero-setup default). */
#ifndef PL_MAIL_SMTP_H
#define PL_MAIL_SMTP_H

#include "core/core.h"

#define PL_SMTP_CONNECT_TIMEOUT_S 10
#define PL_SMTP_TIMEOUT_S         20

/* Initialises libcurl (curl_global_init). Call once at start, before any
 * thread sends mail; PL_EINTERNAL when libcurl cannot start. */
int pl_mail_transport_init(void);

/* Checks an smtp_url: scheme smtp or smtps, a host, nothing after the path.
 * PL_EINVAL with a reason in err (never the credentials) otherwise. */
int pl_mail_smtp_check_url(const char *url, char *err, size_t errlen);

/* Sends one built message (CRLF lines) to rcpt through the SMTP server of url
 * (smtp://user:pass@host:port, STARTTLS when offered, or smtps:// for TLS from
 * the start). from_addr is the envelope sender (a bare address); helo_domain
 * is sent in EHLO when the URL has no path. Blocks for at most
 * PL_SMTP_TIMEOUT_S. Returns PL_OK; PL_EINVAL when the server rejected the
 * message or recipient permanently (5xx after MAIL, RCPT or DATA); PL_EBUSY for
 * anything worth retrying (connection refused, timeout, 4xx, TLS or
 * authentication failure). err gets a short reason without credentials.
 * Thread-safe. */
int pl_mail_smtp_send(const char *url, const char *helo_domain, const char *from_addr,
                      const char *rcpt, const char *msg, size_t len, char *err, size_t errlen);

/* The log transport: writes "mail (log transport, not sent): to=... subject=...
 * message_id=..." and the text part to the log at level info. */
void pl_mail_log_send(const char *to, const char *subject, const char *message_id,
                      const char *text);

#endif
