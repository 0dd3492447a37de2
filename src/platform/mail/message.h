/* message.h - builds RFC 5322 / MIME messages (multipart/alternative, a
 * text/plain and a text/html part, both UTF-8 and base64) and validates the
 * values that go into their headers. Pure: no I/O, no global state, so
 * thread-safe; the only outside input is pl_random_bytes for a boundary. */
#ifndef PL_MAIL_MESSAGE_H
#define PL_MAIL_MESSAGE_H

#include "core/core.h"

#define PL_MAIL_ADDR_MAX    320               /* bytes in an address (RFC 3696 erratum) */
#define PL_MAIL_SUBJECT_MAX 998               /* bytes of UTF-8 in a subject, before encoding */
#define PL_MAIL_BODY_MAX    (256 * 1024)      /* bytes in each of the text and HTML parts */
#define PL_MAIL_MESSAGE_MAX (2 * 1024 * 1024) /* the whole built message */

typedef struct {
    const char *from;       /* "addr@host" or "Display Name <addr@host>", printable ASCII */
    const char *to;         /* one bare address (pl_mail_addr_valid) */
    const char *subject;    /* UTF-8; RFC 2047-encoded when not plain short ASCII */
    const char *message_id; /* "<left@right>" */
    int64_t date_ms;        /* the Date header, UTC ms since the epoch */
    pl_str_t text;          /* the text/plain body, UTF-8; LF or CRLF line ends */
    pl_str_t html;          /* the text/html body, UTF-8 */
    const char *boundary;   /* NULL: a random one; tests pass a fixed one */
} pl_mail_msg_t;

/* True when v may be a header value: no CR, LF or NUL (header injection) and
 * no other control character. */
bool pl_mail_header_ok(const char *v);

/* True when addr is one bare address usable in To and RCPT TO: at most
 * PL_MAIL_ADDR_MAX bytes, exactly one '@' with text on both sides, no
 * whitespace, control characters or the specials that would let it become a
 * list or a display name (< > , ; : " ( ) [ ] \). UTF-8 is allowed. */
bool pl_mail_addr_valid(const char *addr);

/* The address part of a From value: what is between '<' and '>' when present,
 * else the whole value; copied into out. PL_EINVAL when it is not a valid
 * address or does not fit. */
int pl_mail_addr_spec(const char *from, char *out, size_t outlen);

/* The domain of an address or From value ("plinth@example.com" ->
 * "example.com"); "localhost" when there is none. */
void pl_mail_addr_domain(const char *from, char *out, size_t outlen);

/* Formats ms as an RFC 5322 date in UTC: "Sun, 22 Nov 2026 21:04:05 +0000". */
void pl_mail_date(int64_t ms, char out[40]);

/* Appends a Subject value: as is when it is printable ASCII, at most 78 bytes
 * and free of "=?"; else as RFC 2047 B encoded-words (=?UTF-8?B?...?=) of at
 * most 75 bytes each, folded with CRLF SP, never splitting a UTF-8 sequence.
 * PL_EINVAL for CR/LF/control characters, PL_ELIMIT when out is full. */
int pl_mail_subject_encode(pl_buf_t *out, const char *subject);

/* Builds the message into out, which the function initialises (cap
 * PL_MAIL_MESSAGE_MAX); the caller frees it with pl_buf_free, also on error.
 * CRLF line ends throughout. PL_EINVAL for an invalid header value or
 * address, PL_ELIMIT for a body over PL_MAIL_BODY_MAX. */
int pl_mail_msg_build(const pl_mail_msg_t *m, pl_buf_t *out);

#endif
