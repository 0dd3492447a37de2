/* mail.c - templates, rendering, enqueueing and the "mail.send" job.
 *
 * A message is rendered when it is enqueued, so the job payload holds exactly
 * what will be sent, and its Message-ID is fixed then: a retried send carries
 * the same Message-ID, which lets receiving systems drop a duplicate. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/crypto.h"
#include "core/keyring.h"
#include "platform/jobs/jobs.h"
#include "platform/mail/mail.h"
#include "platform/mail/message.h"
#include "platform/mail/overrides.h"
#include "platform/mail/smtp.h"

/* ---- templates ----
 * {{var}} is replaced by a variable: raw in the text part, HTML-escaped in the
 * HTML part, with control characters turned into spaces in the subject. A
 * missing variable is empty. "greeting" is derived from "name". */

/* Registered templates: each module's list, searched by name. */
#define MAX_TEMPLATE_LISTS 32
static const pl_mail_template_def_t *lists[MAX_TEMPLATE_LISTS];
static int nlists;

void pl_mail_register(const pl_mail_template_def_t *defs)
{
    if (defs && nlists < MAX_TEMPLATE_LISTS)
        lists[nlists++] = defs;
}

const pl_mail_template_def_t *pl_mail_template(const char *name)
{
    for (int i = 0; name && i < nlists; i++)
        for (const pl_mail_template_def_t *d = lists[i]; d->name; d++)
            if (!strcmp(d->name, name))
                return d;
    return NULL;
}

static const char text_foot[] = "\n-- \nThis is an automated message from {{product}}.\n";

static const char html_head[] =
    "<!DOCTYPE html>\n"
    "<html><head><meta charset=\"utf-8\"><title>{{subject}}</title></head>\n"
    "<body style=\"font-family: -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif; "
    "font-size: 15px; line-height: 1.5; color: #222;\">\n";
static const char html_foot[] =
    "<p style=\"color: #888; font-size: 13px;\">This is an automated message from "
    "{{product}}.</p>\n"
    "</body></html>\n";

typedef enum { ESC_TEXT, ESC_HTML, ESC_HEADER } esc_t;

static int append_escaped(pl_buf_t *out, const char *v, esc_t esc)
{
    size_t run = 0, i = 0;
    for (; v[i]; i++) {
        unsigned char c = (unsigned char)v[i];
        const char *rep = NULL;
        if (esc == ESC_HTML) {
            rep = c == '&'    ? "&amp;"
                  : c == '<'  ? "&lt;"
                  : c == '>'  ? "&gt;"
                  : c == '"'  ? "&quot;"
                  : c == '\'' ? "&#39;"
                              : NULL;
        } else if (esc == ESC_HEADER && (c < 0x20 || c == 0x7f)) {
            rep = " ";
        }
        if (!rep)
            continue;
        if (pl_buf_append(out, v + run, i - run) || pl_buf_append(out, rep, strlen(rep)))
            return PL_ELIMIT;
        run = i + 1;
    }
    return pl_buf_append(out, v + run, i - run);
}

static const char *var(json_t *vars, const char *name, size_t n)
{
    char key[32];
    if (n >= sizeof(key))
        return "";
    memcpy(key, name, n);
    key[n] = '\0';
    const char *v = json_string_value(json_object_get(vars, key));
    return v ? v : "";
}

/* Appends tpl with its {{variables}} replaced. */
static int render(pl_buf_t *out, const char *tpl, json_t *vars, esc_t esc)
{
    const char *p = tpl;
    for (;;) {
        const char *open = strstr(p, "{{");
        const char *close = open ? strstr(open + 2, "}}") : NULL;
        if (!close)
            return pl_buf_append(out, p, strlen(p));
        if (pl_buf_append(out, p, (size_t)(open - p)) ||
            append_escaped(out, var(vars, open + 2, (size_t)(close - open - 2)), esc))
            return PL_ELIMIT;
        p = close + 2;
    }
}

/* The variables a template sees: the caller's, plus "greeting", "product"
 * (PLINTH_PRODUCT_NAME) and a stand-in for a missing inviter. Returns a new
 * reference. */
static json_t *template_vars(json_t *vars)
{
    json_t *v = json_is_object(vars) ? json_copy(vars) : json_object();
    if (!json_object_get(v, "product"))
        json_object_set_new(v, "product",
                            json_string(pl_cfg.product_name[0] ? pl_cfg.product_name : "plinth"));
    const char *name = json_string_value(json_object_get(v, "name"));
    char *greeting = NULL;
    if (name && name[0]) {
        size_t n = strlen(name) + 5;
        greeting = pl_xmalloc(n);
        snprintf(greeting, n, "Hi %s,", name);
    }
    json_object_set_new(v, "greeting", json_string(greeting ? greeting : "Hello,"));
    free(greeting);
    const char *inviter = json_string_value(json_object_get(v, "inviter_name"));
    if (!inviter || !inviter[0])
        json_object_set_new(v, "inviter_name", json_string("A team member"));
    return v;
}

/* ---- settings ---- */

static char smtp_url[1024] = "";                 /* PLINTH_SMTP_URL; empty: log */
static char mail_from[320] = "plinth@localhost"; /* PLINTH_MAIL_FROM */
static char templates_dir[1024] = "";            /* --templates; empty: built-in only */

/* ---- links and ids ---- */

char *pl_mail_link(pl_arena_t *a, const char *path, const char *token)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = token ? strlen(token) : 0;
    char *esc = pl_xmalloc(3 * n + 1), *w = esc;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)token[i];
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~') {
            *w++ = (char)c;
        } else {
            *w++ = '%';
            *w++ = hex[c >> 4];
            *w++ = hex[c & 15];
        }
    }
    *w = '\0';
    char *link = pl_arena_printf(a, "%s%s?token=%s", pl_cfg.public_url, path, esc);
    free(esc);
    return link;
}

static void new_message_id(char *out, size_t outlen)
{
    char uuid[37], domain[256];
    pl_uuid7(uuid);
    pl_mail_addr_domain(mail_from, domain, sizeof(domain));
    snprintf(out, outlen, "<%s@%s>", uuid, domain);
}

/* ---- rendering and enqueueing ---- */

int pl_mail_render(const char *name, const char *to, json_t *vars, json_t **payload)
{
    *payload = NULL;
    const pl_mail_template_def_t *tpl = pl_mail_template(name);
    if (!tpl || !to || !pl_mail_addr_valid(to))
        return PL_EINVAL;
    for (const char *const *v = tpl->vars; v && *v; v++) {
        if (strcmp(*v, "link"))
            continue;
        const char *link = json_string_value(json_object_get(vars, "link"));
        if (!link || !link[0]) {
            /* a caller bug: never send a verification mail without its link */
            pl_log("error", "mail: template %s rendered without a link", name);
            return PL_EINVAL;
        }
    }
    json_t *v = template_vars(vars);
    /* a part a product overrides (--templates) is its whole part: no footer
     * and no HTML frame are added to it */
    const char *locale = json_string_value(json_object_get(v, "locale"));
    const char *o_subject = pl_mail_override(name, locale, PL_MAIL_PART_SUBJECT);
    const char *o_text = pl_mail_override(name, locale, PL_MAIL_PART_TEXT);
    const char *o_html = pl_mail_override(name, locale, PL_MAIL_PART_HTML);
    pl_buf_t subject, text, html;
    pl_buf_init(&subject, PL_MAIL_SUBJECT_MAX);
    pl_buf_init(&text, PL_MAIL_BODY_MAX);
    pl_buf_init(&html, PL_MAIL_BODY_MAX);
    int rc = PL_EINVAL;
    if (render(&subject, o_subject ? o_subject : tpl->subject, v, ESC_HEADER))
        goto done;
    if (o_text ? render(&text, o_text, v, ESC_TEXT)
               : render(&text, tpl->text, v, ESC_TEXT) || render(&text, text_foot, v, ESC_TEXT))
        goto done;
    json_object_set_new(v, "subject", json_string(subject.ptr));
    if (o_html ? render(&html, o_html, v, ESC_HTML)
               : render(&html, html_head, v, ESC_HTML) || render(&html, tpl->html, v, ESC_HTML) ||
                     render(&html, html_foot, v, ESC_HTML))
        goto done;

    char message_id[300];
    new_message_id(message_id, sizeof(message_id));
    *payload = json_pack("{s:s, s:s, s:s, s:s, s:s}", "to", to, "subject", subject.ptr, "text",
                         text.ptr, "html", html.ptr, "message_id", message_id);
    rc = *payload ? PL_OK : PL_EINVAL; /* NULL: not UTF-8 */
done:
    pl_buf_free(&subject);
    pl_buf_free(&text);
    pl_buf_free(&html);
    json_decref(v);
    return rc;
}

/* The associated data of a message's sealed content: the box opens only in
 * the payload of that message. */
static const char *sealed_ad(pl_arena_t *a, const char *message_id)
{
    return pl_arena_printf(a, "mail.send %s", message_id);
}

/* The payload as stored: the recipient and Message-ID in clear (the queue is
 * searched by recipient), subject and bodies sealed with the keyring, since
 * they carry single-use tokens (verification, reset, invitation links) that
 * must not be readable in the database or its backups. */
static json_t *seal_payload(pl_arena_t *a, json_t *rendered)
{
    json_t *content =
        json_pack("{s:O, s:O, s:O}", "subject", json_object_get(rendered, "subject"), "text",
                  json_object_get(rendered, "text"), "html", json_object_get(rendered, "html"));
    char *plain = content ? json_dumps(content, JSON_COMPACT) : NULL;
    json_decref(content);
    if (!plain)
        return NULL;
    const char *message_id = json_string_value(json_object_get(rendered, "message_id"));
    char *box = pl_keyring_seal(a, plain, strlen(plain), sealed_ad(a, message_id));
    pl_memzero(plain, strlen(plain));
    free(plain);
    return json_pack("{s:O, s:s, s:s}", "to", json_object_get(rendered, "to"), "message_id",
                     message_id, "sealed", box);
}

/* The content of a sealed payload (a new reference), or NULL when it does
 * not open. */
static json_t *open_payload(pl_arena_t *a, json_t *payload)
{
    const char *box = json_string_value(json_object_get(payload, "sealed"));
    const char *message_id = json_string_value(json_object_get(payload, "message_id"));
    if (!box || !message_id)
        return NULL;
    size_t size = strlen(box);
    unsigned char *plain = pl_arena_alloc(a, size + 1);
    long n = pl_keyring_open(box, sealed_ad(a, message_id), plain, size);
    if (n < 0)
        return NULL;
    json_t *content = json_loadb((const char *)plain, (size_t)n, 0, NULL);
    pl_memzero(plain, (size_t)n);
    return content;
}

static int log_message(pl_db_t *db, const char *job_id, const char *message_id, const char *name,
                       const char *to);

int pl_mail_enqueue(pl_db_t *db, const char *name, const char *to, json_t *vars)
{
    json_t *rendered = NULL;
    int rc = pl_mail_render(name, to, vars, &rendered);
    if (rc) {
        pl_log("warn", "mail: not enqueued: invalid recipient or template %s", name);
        return rc;
    }
    pl_arena_t *a = pl_arena_create();
    json_t *payload = seal_payload(a, rendered);
    char job_id[37] = "";
    pl_job_opts_t opts = {.id_out = job_id};
    rc = payload ? pl_jobs_enqueue(db, "mail.send", payload, &opts) : PL_EINTERNAL;
    if (!rc)
        rc = log_message(db, job_id, json_string_value(json_object_get(rendered, "message_id")),
                         name, to);
    json_decref(rendered);
    json_decref(payload);
    pl_arena_destroy(a);
    return rc;
}

/* ---- the log of recent messages ---- */

void pl_mail_mask(const char *to, char *out, size_t outlen)
{
    const char *at = to ? strrchr(to, '@') : NULL;
    if (!at || at == to)
        snprintf(out, outlen, "***");
    else
        snprintf(out, outlen, "%c***%s", to[0], at);
}

static int log_message(pl_db_t *db, const char *job_id, const char *message_id, const char *name,
                       const char *to)
{
    char masked[400];
    pl_mail_mask(to, masked, sizeof(masked));
    PL_PREPARE(st, db,
               "INSERT INTO email_log (job_id, message_id, template, to_masked, created_at) "
               "VALUES ($1, $2, $3, $4, $5)");
    pl_stmt_bind_text(st, 1, job_id);
    pl_stmt_bind_text(st, 2, message_id ? message_id : "");
    pl_stmt_bind_text(st, 3, name);
    pl_stmt_bind_text(st, 4, masked);
    pl_stmt_bind_int64(st, 5, pl_now_ms());
    int rc = pl_stmt_exec(st);
    return rc < 0 ? rc : PL_OK;
}

static const char sql_log_page[] =
    "SELECT l.job_id, l.message_id, l.template, l.to_masked, l.created_at, j.status, "
    "j.attempts, j.last_error, j.finished_at FROM email_log l LEFT JOIN jobs j ON j.id = l.job_id "
    "WHERE ($1 = '' OR l.job_id < $1) ORDER BY l.job_id DESC LIMIT $2";

int pl_mail_log_page(pl_db_t *db, const char *after, int limit,
                     void (*fn)(void *arg, const pl_mail_log_t *m), void *arg)
{
    PL_PREPARE(st, db, sql_log_page);
    pl_stmt_bind_text(st, 1, after ? after : "");
    pl_stmt_bind_int64(st, 2, limit);
    int rc;
    while ((rc = pl_stmt_step(st)) == 1) {
        pl_mail_log_t m = {
            .job_id = pl_stmt_col_text(st, 0),
            .message_id = pl_stmt_col_text(st, 1),
            .template_name = pl_stmt_col_text(st, 2),
            .to_masked = pl_stmt_col_text(st, 3),
            .created_at = pl_stmt_col_int64(st, 4),
            .attempts = (int)pl_stmt_col_int64(st, 6),
            .last_error = pl_stmt_col_is_null(st, 7) ? NULL : pl_stmt_col_text(st, 7),
        };
        const char *job = pl_stmt_col_is_null(st, 5) ? NULL : pl_stmt_col_text(st, 5);
        if (!job)
            m.status = "unknown";
        else if (!strcmp(job, "done"))
            m.status = "sent";
        else if (!strcmp(job, "dead"))
            m.status = "failed";
        else if (!strcmp(job, "running"))
            m.status = "sending";
        else
            m.status = m.attempts > 0 ? "retrying" : "queued";
        if (job && !strcmp(job, "done"))
            m.sent_at = pl_stmt_col_int64(st, 8);
        fn(arg, &m);
    }
    pl_stmt_reset(st);
    return rc < 0 ? rc : PL_OK;
}

/* Rows of messages whose jobs are purged (7 days) go too. */
static int log_purge_job(const char *id, json_t *payload, char *err, size_t errlen)
{
    PL_UNUSED(id);
    PL_UNUSED(payload);
    pl_db_t *db = pl_db_thread();
    pl_stmt_t *st = db ? pl_db_prepare(db, "DELETE FROM email_log WHERE created_at < $1") : NULL;
    if (!st)
        return PL_EDB;
    pl_stmt_bind_int64(st, 1, pl_now_ms() - 7LL * 24 * 3600 * 1000);
    int rc = pl_stmt_exec(st);
    if (rc < 0)
        snprintf(err, errlen, "purge failed (%d)", rc);
    return rc < 0 ? rc : PL_OK;
}

/* ---- sending ---- */

static const char *payload_str(json_t *payload, const char *key)
{
    return json_string_value(json_object_get(payload, key));
}

static int deliver(json_t *payload, char *err, size_t errlen);

int pl_mail_deliver(json_t *payload, char *err, size_t errlen)
{
    if (!json_object_get(payload, "sealed"))
        return deliver(payload, err, errlen); /* queued unsealed by an older version */
    pl_arena_t *a = pl_arena_create();
    json_t *content = open_payload(a, payload);
    int rc;
    if (!content) {
        snprintf(err, errlen, "mail: sealed payload does not open (another master key?)");
        rc = PL_EINVAL;
    } else {
        json_t *full = json_deep_copy(payload);
        json_object_update(full, content);
        json_object_del(full, "sealed");
        rc = deliver(full, err, errlen);
        json_decref(full);
        json_decref(content);
    }
    pl_arena_destroy(a);
    return rc;
}

static int deliver(json_t *payload, char *err, size_t errlen)
{
    const char *to = payload_str(payload, "to"), *subject = payload_str(payload, "subject");
    const char *text = payload_str(payload, "text"), *html = payload_str(payload, "html");
    const char *message_id = payload_str(payload, "message_id");
    if (!to || !subject || !text || !html || !message_id) {
        snprintf(err, errlen, "mail: malformed payload");
        return PL_EINVAL;
    }
    pl_mail_msg_t m = {
        .from = mail_from,
        .to = to,
        .subject = subject,
        .message_id = message_id,
        .date_ms = pl_now_ms(),
        .text = {text, strlen(text)},
        .html = {html, strlen(html)},
    };
    pl_buf_t msg;
    int rc = pl_mail_msg_build(&m, &msg);
    if (rc) {
        snprintf(err, errlen, "mail: %s",
                 rc == PL_ELIMIT ? "message too large" : "invalid header value");
        pl_buf_free(&msg);
        return PL_EINVAL;
    }
    if (!smtp_url[0]) {
        pl_mail_log_send(to, subject, message_id, text);
        pl_buf_free(&msg);
        return PL_OK;
    }
    char from_addr[PL_MAIL_ADDR_MAX + 1], domain[256];
    pl_mail_addr_spec(mail_from, from_addr, sizeof(from_addr)); /* checked in build */
    pl_mail_addr_domain(from_addr, domain, sizeof(domain));
    rc = pl_mail_smtp_send(smtp_url, domain, from_addr, to, msg.ptr, msg.len, err, errlen);
    pl_buf_free(&msg);
    if (rc == PL_OK)
        pl_log("info", "mail sent: to=%s subject=%s message_id=%s", to, subject, message_id);
    else
        pl_log("warn", "mail not sent: to=%s message_id=%s: %s%s", to, message_id, err,
               rc == PL_EINVAL ? " (permanent)" : " (will retry)");
    return rc;
}

static int send_job(const char *job_id, json_t *payload, char *err, size_t errlen)
{
    PL_UNUSED(job_id);
    return pl_mail_deliver(payload, err, errlen);
}

static int mail_init(void)
{
    char spec[PL_MAIL_ADDR_MAX + 1], err[200];
    bool ascii = true;
    for (const unsigned char *p = (const unsigned char *)mail_from; *p; p++)
        ascii = ascii && *p >= 0x20 && *p <= 0x7e;
    if (!ascii || pl_mail_addr_spec(mail_from, spec, sizeof(spec)) != PL_OK) {
        fprintf(stderr, "plinth: PLINTH_MAIL_FROM must be an address (\"plinth@example.com\" or "
                        "\"Name <plinth@example.com>\", ASCII only)\n");
        return PL_EINVAL;
    }
    if (strncmp(pl_cfg.public_url, "http://", 7) != 0 &&
        strncmp(pl_cfg.public_url, "https://", 8) != 0) {
        fprintf(stderr, "plinth: PLINTH_PUBLIC_URL must start with http:// or https://\n");
        return PL_EINVAL;
    }
    if (!pl_mail_header_ok(pl_cfg.public_url) || strchr(pl_cfg.public_url, ' ')) {
        fprintf(stderr,
                "plinth: PLINTH_PUBLIC_URL must not contain spaces or control characters\n");
        return PL_EINVAL;
    }
    if (smtp_url[0] && pl_mail_smtp_check_url(smtp_url, err, sizeof(err))) {
        fprintf(stderr, "plinth: %s\n", err);
        return PL_EINVAL;
    }
    if (pl_mail_overrides_load(templates_dir))
        return PL_EINVAL;
    static bool transport_ready;
    if (!transport_ready) {
        if (pl_mail_transport_init()) {
            fprintf(stderr, "plinth: libcurl could not be initialised\n");
            return PL_EINTERNAL;
        }
        transport_ready = true;
    }
    if (!smtp_url[0])
        pl_log("info", "mail: PLINTH_SMTP_URL is not set: messages are written to the log, "
                       "not sent");
    return PL_OK;
}

static const pl_option_t options[] = {
    {NULL, "PLINTH_SMTP_URL", PL_OPT_STR, PL_OPT_S(smtp_url), 0, 0, PL_OPT_RUN,
     "smtp[s]://USER:PASS@HOST:PORT",
     "send email over SMTP (STARTTLS when offered); unset: emails are written to the log", NULL},
    {NULL, "PLINTH_MAIL_FROM", PL_OPT_STR, PL_OPT_S(mail_from), 0, 0, PL_OPT_RUN, "ADDRESS",
     "sender address of emails (default plinth@localhost)", NULL},
    {"templates", "PLINTH_TEMPLATES", PL_OPT_STR, PL_OPT_S(templates_dir), 0, 0, PL_OPT_RUN, "DIR",
     "email templates replacing the built-in ones: NAME[.LOCALE].subject|txt|html (docs/email.md)",
     NULL},
    {0},
};

static const pl_job_def_t jobs[] = {
    {"mail.send", send_job},
    {"mail.log_purge", log_purge_job, true},
    {0},
};

static const pl_schedule_def_t schedules[] = {
    {"mail.log_purge", "mail.log_purge", 24LL * 3600 * 1000, NULL},
    {0},
};

const pl_module_t pl_mail_module = {
    .name = "mail",
    .jobs = jobs,
    .schedules = schedules,
    .options = options,
    .init = mail_init,
};
