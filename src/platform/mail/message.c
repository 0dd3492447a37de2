/* message.c - RFC 5322 / MIME message construction.
 *
 * Format: multipart/alternative with a text/plain and a text/html part, both
 * charset=utf-8 and base64 in 76-character lines. base64 rather than
 * quoted-printable because it needs no line-length or trailing-space rules and
 * survives any relay; every mail client decodes it. */
#include <assert.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "core/crypto.h"
#include "platform/mail/message.h"

bool pl_mail_header_ok(const char *v)
{
    for (const unsigned char *p = (const unsigned char *)v; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return false;
    return true;
}

bool pl_mail_addr_valid(const char *addr)
{
    size_t n = strlen(addr);
    if (n < 3 || n > PL_MAIL_ADDR_MAX)
        return false;
    const char *at = strchr(addr, '@');
    if (!at || at == addr || !at[1] || strchr(at + 1, '@'))
        return false;
    for (const unsigned char *p = (const unsigned char *)addr; *p; p++) {
        unsigned char c = *p;
        if (c <= 0x20 || c == 0x7f || strchr("<>,;:\"()[]\\", c))
            return false;
    }
    return true;
}

int pl_mail_addr_spec(const char *from, char *out, size_t outlen)
{
    const char *start = from, *end = from + strlen(from);
    const char *lt = strrchr(from, '<');
    if (lt) {
        if (end == lt + 1 || end[-1] != '>')
            return PL_EINVAL;
        start = lt + 1;
        end--;
    }
    size_t n = (size_t)(end - start);
    if (n + 1 > outlen)
        return PL_EINVAL;
    memcpy(out, start, n);
    out[n] = '\0';
    return pl_mail_addr_valid(out) ? PL_OK : PL_EINVAL;
}

void pl_mail_addr_domain(const char *from, char *out, size_t outlen)
{
    const char *at = strrchr(from, '@');
    size_t n = 0;
    if (at) {
        at++;
        while (at[n] && at[n] != '>' && at[n] != ' ')
            n++;
    }
    if (!n) {
        at = "localhost";
        n = strlen(at);
    }
    if (n + 1 > outlen)
        n = outlen ? outlen - 1 : 0;
    if (outlen) {
        memcpy(out, at, n);
        out[n] = '\0';
    }
}

void pl_mail_date(int64_t ms, char out[40])
{
    static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    /* names by hand: strftime's %a and %b follow the locale */
    snprintf(out, 40, "%s, %02d %s %04d %02d:%02d:%02d +0000", days[tm.tm_wday % 7], tm.tm_mday,
             months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

#define B64_LINE_BYTES 57 /* one 76-character line of base64 */

/* base64 (RFC 4648, padded) of n <= B64_LINE_BYTES bytes appended to out. */
static int b64_append(pl_buf_t *out, const unsigned char *in, size_t n)
{
    char enc[sodium_base64_ENCODED_LEN(B64_LINE_BYTES, sodium_base64_VARIANT_ORIGINAL)];
    assert(n <= B64_LINE_BYTES);
    if (n > B64_LINE_BYTES)
        return PL_EINVAL;
    sodium_bin2base64(enc, sizeof(enc), in, n, sodium_base64_VARIANT_ORIGINAL);
    size_t len = sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL) - 1;
    return pl_buf_append(out, enc, len) ? PL_ELIMIT : PL_OK;
}

static bool is_plain_ascii(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p > 0x7e)
            return false;
    return !strstr(s, "=?");
}

int pl_mail_subject_encode(pl_buf_t *out, const char *subject)
{
    size_t n = strlen(subject);
    if (!pl_mail_header_ok(subject) || n > PL_MAIL_SUBJECT_MAX)
        return PL_EINVAL;
    if (is_plain_ascii(subject) && n <= 78)
        return pl_buf_append(out, subject, n);
    /* 42 bytes -> 56 base64 characters -> a 68-byte encoded-word: with
     * "Subject: " the first line stays under 78 columns. */
    const size_t chunk = 42;
    const unsigned char *p = (const unsigned char *)subject;
    size_t i = 0;
    while (i < n) {
        size_t take = n - i < chunk ? n - i : chunk;
        /* never split a UTF-8 sequence: back off continuation bytes */
        while (take > 0 && i + take < n && (p[i + take] & 0xc0) == 0x80)
            take--;
        if (take == 0)
            return PL_EINVAL; /* a run of continuation bytes: not UTF-8 */
        if ((i && pl_buf_append(out, "\r\n ", 3)) || pl_buf_append(out, "=?UTF-8?B?", 10) ||
            b64_append(out, p + i, take) || pl_buf_append(out, "?=", 2))
            return PL_ELIMIT;
        i += take;
    }
    return PL_OK;
}

/* Appends body in canonical form (CRLF line ends) as base64 in 76-character
 * lines, each ending in CRLF. */
static int body_append(pl_buf_t *out, pl_str_t body)
{
    if (body.len > PL_MAIL_BODY_MAX)
        return PL_ELIMIT;
    pl_buf_t canon;
    pl_buf_init(&canon, 2 * PL_MAIL_BODY_MAX);
    int rc = PL_OK;
    size_t run = 0;
    for (size_t i = 0; i < body.len && rc == PL_OK; i++) {
        char c = body.ptr[i];
        if (c != '\n' && c != '\r')
            continue;
        rc = pl_buf_append(&canon, body.ptr + run, i - run);
        if (rc == PL_OK)
            rc = pl_buf_append(&canon, "\r\n", 2);
        if (c == '\r' && i + 1 < body.len && body.ptr[i + 1] == '\n')
            i++;
        run = i + 1;
    }
    if (rc == PL_OK)
        rc = pl_buf_append(&canon, body.ptr + run, body.len - run);
    for (size_t i = 0; rc == PL_OK && i < canon.len; i += B64_LINE_BYTES) {
        size_t take = canon.len - i < B64_LINE_BYTES ? canon.len - i : B64_LINE_BYTES;
        rc = b64_append(out, (const unsigned char *)canon.ptr + i, take);
        if (rc == PL_OK)
            rc = pl_buf_append(out, "\r\n", 2);
    }
    pl_buf_free(&canon);
    return rc;
}

static bool message_id_ok(const char *id)
{
    size_t n = strlen(id);
    if (n < 5 || n > 250 || id[0] != '<' || id[n - 1] != '>' || !strchr(id, '@'))
        return false;
    for (size_t i = 1; i + 1 < n; i++) {
        unsigned char c = (unsigned char)id[i];
        if (c <= 0x20 || c >= 0x7f || c == '<' || c == '>')
            return false;
    }
    return true;
}

static bool from_ok(const char *from)
{
    char spec[PL_MAIL_ADDR_MAX + 1];
    for (const unsigned char *p = (const unsigned char *)from; *p; p++)
        if (*p < 0x20 || *p > 0x7e)
            return false;
    return strlen(from) <= 900 && pl_mail_addr_spec(from, spec, sizeof(spec)) == PL_OK;
}

static bool boundary_ok(const char *b)
{
    size_t n = strlen(b);
    if (n < 1 || n > 70)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)b[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              strchr("'()+_,-./:=?", c)))
            return false;
    }
    return true;
}

static int part_append(pl_buf_t *out, const char *boundary, const char *type, pl_str_t body)
{
    if (pl_buf_appendf(out,
                       "--%s\r\n"
                       "Content-Type: %s; charset=utf-8\r\n"
                       "Content-Transfer-Encoding: base64\r\n"
                       "\r\n",
                       boundary, type))
        return PL_ELIMIT;
    return body_append(out, body);
}

int pl_mail_msg_build(const pl_mail_msg_t *m, pl_buf_t *out)
{
    pl_buf_init(out, PL_MAIL_MESSAGE_MAX);
    if (!from_ok(m->from) || !pl_mail_addr_valid(m->to) || !message_id_ok(m->message_id))
        return PL_EINVAL;
    if (m->text.len > PL_MAIL_BODY_MAX || m->html.len > PL_MAIL_BODY_MAX)
        return PL_ELIMIT;

    char boundary[80];
    if (m->boundary) {
        if (!boundary_ok(m->boundary))
            return PL_EINVAL;
        snprintf(boundary, sizeof(boundary), "%s", m->boundary);
    } else {
        /* "=_" cannot occur in base64 text, so the boundary never collides */
        unsigned char rnd[16];
        char hex[33];
        pl_random_bytes(rnd, sizeof(rnd));
        pl_hex(rnd, sizeof(rnd), hex);
        snprintf(boundary, sizeof(boundary), "=_plinth_%s", hex);
    }

    char date[40];
    pl_mail_date(m->date_ms, date);
    if (pl_buf_appendf(out, "Date: %s\r\nFrom: %s\r\nTo: %s\r\nSubject: ", date, m->from, m->to))
        return PL_ELIMIT;
    int rc = pl_mail_subject_encode(out, m->subject);
    if (rc)
        return rc;
    if (pl_buf_appendf(out,
                       "\r\n"
                       "Message-ID: %s\r\n"
                       "MIME-Version: 1.0\r\n"
                       "Auto-Submitted: auto-generated\r\n"
                       "Content-Type: multipart/alternative;\r\n boundary=\"%s\"\r\n"
                       "\r\n",
                       m->message_id, boundary))
        return PL_ELIMIT;
    if ((rc = part_append(out, boundary, "text/plain", m->text)) ||
        (rc = part_append(out, boundary, "text/html", m->html)))
        return rc;
    return pl_buf_appendf(out, "--%s--\r\n", boundary);
}
