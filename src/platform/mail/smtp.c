/* smtp.c - mail transports: SMTP over libcurl, and the log.
 *
 * One curl easy handle per message: mail is sent from job threads at a rate
 * where connection reuse does not matter, and a fresh handle carries no state
 * from an earlier failure. */
#include <stdio.h>
#include <string.h>

#include <curl/curl.h>

#include "core/crypto.h"
#include "platform/mail/message.h"
#include "platform/mail/smtp.h"

int pl_mail_transport_init(void)
{
    return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? PL_OK : PL_EINTERNAL;
}

/* Parses url into a CURLU handle with the checks of pl_mail_smtp_check_url.
 * Returns NULL with a reason in err. */
static CURLU *parse_url(const char *url, char *err, size_t errlen)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *query = NULL;
    if (!u) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK) {
        snprintf(err, errlen, "PLINTH_SMTP_URL is not a valid URL");
        goto fail;
    }
    if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        (strcmp(scheme, "smtp") != 0 && strcmp(scheme, "smtps") != 0)) {
        snprintf(err, errlen, "PLINTH_SMTP_URL must start with smtp:// or smtps://");
        goto fail;
    }
    if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || !host[0]) {
        snprintf(err, errlen, "PLINTH_SMTP_URL has no host");
        goto fail;
    }
    if (curl_url_get(u, CURLUPART_QUERY, &query, 0) == CURLUE_OK) {
        snprintf(err, errlen, "PLINTH_SMTP_URL must not have a query");
        goto fail;
    }
    curl_free(scheme);
    curl_free(host);
    return u;
fail:
    curl_free(scheme);
    curl_free(host);
    curl_free(query);
    curl_url_cleanup(u);
    return NULL;
}

int pl_mail_smtp_check_url(const char *url, char *err, size_t errlen)
{
    CURLU *u = parse_url(url, err, errlen);
    if (!u)
        return PL_EINVAL;
    curl_url_cleanup(u);
    return PL_OK;
}

typedef struct {
    const char *p;
    size_t left;
} upload_t;

static size_t read_cb(char *dst, size_t size, size_t nitems, void *userdata)
{
    upload_t *up = userdata;
    size_t n = size * nitems;
    if (n > up->left)
        n = up->left;
    memcpy(dst, up->p, n);
    up->p += n;
    up->left -= n;
    return n;
}

/* Whether a failed transfer is a permanent rejection of this message: the
 * server answered 5xx to MAIL, RCPT or DATA (libcurl reports those as send
 * errors or a weird reply). Authentication and "TLS required" answers are
 * configuration problems that an operator fixes, so the mail waits for them. */
static bool is_permanent(CURLcode res, long code)
{
    if (code < 500 || code > 599)
        return false;
    if (code == 530 || code == 534 || code == 535 || code == 538)
        return false;
    return res == CURLE_SEND_ERROR || res == CURLE_WEIRD_SERVER_REPLY || res == CURLE_RECV_ERROR;
}

int pl_mail_smtp_send(const char *url, const char *helo_domain, const char *from_addr,
                      const char *rcpt, const char *msg, size_t len, char *err, size_t errlen)
{
    int rc = PL_EBUSY;
    CURL *c = NULL;
    char *full = NULL, *path = NULL;
    struct curl_slist *rcpts = NULL;
    char from[PL_MAIL_ADDR_MAX + 3], to[PL_MAIL_ADDR_MAX + 3];

    err[0] = '\0';
    CURLU *u = parse_url(url, err, errlen);
    if (!u)
        return PL_EBUSY; /* checked at start; an operator fixes it */
    /* the URL path is the EHLO domain; default to the sender's domain */
    if (helo_domain && helo_domain[0] &&
        (curl_url_get(u, CURLUPART_PATH, &path, 0) != CURLUE_OK || strcmp(path, "/") == 0 ||
         !path[0])) {
        char p[PL_MAIL_ADDR_MAX + 2];
        snprintf(p, sizeof(p), "/%s", helo_domain);
        curl_url_set(u, CURLUPART_PATH, p, 0);
    }
    if (curl_url_get(u, CURLUPART_URL, &full, 0) != CURLUE_OK) {
        snprintf(err, errlen, "smtp: cannot build the URL");
        goto done;
    }
    snprintf(from, sizeof(from), "<%s>", from_addr);
    snprintf(to, sizeof(to), "<%s>", rcpt);
    rcpts = curl_slist_append(NULL, to);
    c = curl_easy_init();
    if (!c || !rcpts) {
        snprintf(err, errlen, "smtp: libcurl could not start");
        goto done;
    }

    upload_t up = {msg, len};
    bool implicit_tls = strncmp(full, "smtps:", 6) == 0;
    /* Credentials never cross the network in clear text: with a user in the
     * URL and a host other than loopback, STARTTLS is required, not just
     * tried (else a man in the middle could strip the offer). */
    char *user = NULL, *host = NULL;
    bool has_user = curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK && user && user[0];
    bool loopback =
        curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK && host &&
        (!strcmp(host, "localhost") || !strncmp(host, "127.", 4) || !strcmp(host, "[::1]"));
    curl_free(user);
    curl_free(host);
    bool require_tls = implicit_tls || (has_user && !loopback);
    curl_easy_setopt(c, CURLOPT_URL, full);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
    curl_easy_setopt(c, CURLOPT_USE_SSL, require_tls ? (long)CURLUSESSL_ALL : (long)CURLUSESSL_TRY);
    curl_easy_setopt(c, CURLOPT_MAIL_FROM, from);
    curl_easy_setopt(c, CURLOPT_MAIL_RCPT, rcpts);
    curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(c, CURLOPT_READFUNCTION, read_cb);
    curl_easy_setopt(c, CURLOPT_READDATA, &up);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, (long)PL_SMTP_CONNECT_TIMEOUT_S);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)PL_SMTP_TIMEOUT_S);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);

    CURLcode res = curl_easy_perform(c);
    long code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    if (res == CURLE_OK) {
        rc = PL_OK;
    } else {
        /* curl's own text and the reply code only: the error buffer may
         * quote parts of the URL */
        if (code >= 400)
            snprintf(err, errlen, "smtp: %s (server replied %ld)", curl_easy_strerror(res), code);
        else
            snprintf(err, errlen, "smtp: %s", curl_easy_strerror(res));
        rc = is_permanent(res, code) ? PL_EINVAL : PL_EBUSY;
    }

done:
    if (full) {
        pl_memzero(full, strlen(full)); /* holds the password */
        curl_free(full);
    }
    curl_free(path);
    curl_url_cleanup(u);
    curl_slist_free_all(rcpts);
    if (c)
        curl_easy_cleanup(c);
    return rc;
}

/* pl_log formats into 2 KiB: longer text goes out in several lines. */
#define LOG_LINE 1900
#define LOG_HEAD "mail (log transport, not sent): to=%s subject=%s message_id=%s\n%.*s"

/* The length of the next log chunk of text (n bytes left) of at most max
 * bytes, not splitting a UTF-8 sequence. */
static size_t chunk_len(const char *text, size_t n, size_t max)
{
    if (n <= max)
        return n;
    size_t take = max;
    while (take > 0 && take + 4 > max && ((unsigned char)text[take] & 0xc0) == 0x80)
        take--;
    return take;
}

void pl_mail_log_send(const char *to, const char *subject, const char *message_id, const char *text)
{
    size_t n = strlen(text);
    int hl = snprintf(NULL, 0, LOG_HEAD, to, subject, message_id, 0, "");
    size_t room = hl > 0 && hl < LOG_LINE - 100 ? LOG_LINE - (size_t)hl : 0;
    size_t take = chunk_len(text, n, room);
    pl_log("info", LOG_HEAD, to, subject, message_id, (int)take, text);
    for (size_t i = take; i < n; i += take) {
        take = chunk_len(text + i, n - i, LOG_LINE - 100);
        pl_log("info", "mail (log transport, not sent, continued): message_id=%s\n%.*s", message_id,
               (int)take, text + i);
    }
}
