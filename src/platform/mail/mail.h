/* mail.h - transactional email: templates, RFC 5322 messages, transports.
 *
 * Email is sent by the job runner, never on a request thread: a handler
 * enqueues a "mail.send" job (pl_mail_enqueue) in the same transaction as the
 * change that causes it, and the job calls pl_mail_deliver. Thread-safe. */
#ifndef PL_MAIL_H
#define PL_MAIL_H

#include <jansson.h>

#include "core/core.h"
#include "core/module.h"
#include "db/db.h"

/* Templates come from the modules' descriptors (pl_mail_template_def_t in
 * core/module.h): registered at start, found by name. Every template sees
 * "name" (the recipient's name, may be ""), "greeting" (derived from it) and
 * the variables its caller passes, e.g. "link"
 * ({PLINTH_PUBLIC_URL}/path?token=...). A variable "locale" (the recipient's
 * BCP 47 tag) picks the locale variant of the template's overrides
 * (--templates DIR, platform/mail/overrides.h). */
void pl_mail_register(const pl_mail_template_def_t *defs);
/* The template called name, or NULL. */
const pl_mail_template_def_t *pl_mail_template(const char *name);

/* Whether s has the shape of a BCP 47 language tag ("de", "pt-BR",
 * "zh-Hant-TW"): 2..35 bytes, a language subtag of 2 or 3 letters, then subtags
 * of 1..8 letters or digits, each after one '-'. Pure. */
bool pl_mail_locale_valid(const char *s);

/* Builds the public link {PLINTH_PUBLIC_URL}{path}?token={token} (token
 * URL-escaped) into the arena. */
char *pl_mail_link(pl_arena_t *a, const char *path, const char *token);

/* Enqueues one message inside the caller's open write transaction. The
 * message is rendered now (subject, text, HTML) and stored as the job's
 * payload. Returns PL_OK or a db error. */
int pl_mail_enqueue(pl_db_t *db, const char *template_name, const char *to, json_t *vars);

/* ---- the log of recent messages (the admin dashboard) ----
 * Each enqueued message leaves a row in email_log in the same transaction:
 * its template, its recipient masked ("a***@example.com") and its job, whose
 * state is its status. No subject, body or link is kept. */
typedef struct {
    const char *job_id, *message_id, *template_name, *to_masked;
    const char *status; /* queued, sending, retrying, sent, failed; unknown once purged */
    int attempts;
    const char *last_error;      /* NULL when none */
    int64_t created_at, sent_at; /* sent_at 0 until sent */
} pl_mail_log_t;

/* Calls fn for up to limit messages, newest first, after the job id after
 * (NULL: from the newest); strings valid during the call. */
int pl_mail_log_page(pl_db_t *db, const char *after, int limit,
                     void (*fn)(void *arg, const pl_mail_log_t *m), void *arg);

/* The masked form of an address: its first character, "***", and "@domain"
 * (into out, at least 8 bytes; "***" when there is no '@'). */
void pl_mail_mask(const char *to, char *out, size_t outlen);

/* Renders the template for to: *payload becomes a new object {"to", "subject",
 * "text", "html", "message_id"} (the caller owns the reference), which is what
 * pl_mail_enqueue stores. Variables are HTML-escaped in the HTML part, raw in
 * the text part, and control characters in them become spaces in the
 * subject. PL_EINVAL for an invalid address (CR/LF, no '@', over 320 bytes),
 * an unknown template, a missing "link" for a template that has one, or a
 * result over the size caps. */
int pl_mail_render(const char *template_name, const char *to, json_t *vars, json_t **payload);

/* Sends one payload (the "mail.send" job): as rendered, or as
 * pl_mail_enqueue stores it (subject and bodies sealed with the keyring,
 * opened here; PL_EINVAL when the box does not open). Builds the RFC 5322
 * message and hands it to the configured transport. Returns PL_OK; PL_EINVAL
 * when it can never be sent (malformed payload, permanent 5xx rejection); else
 * an error worth retrying. err gets a short reason without secrets. */
int pl_mail_deliver(json_t *payload, char *err, size_t errlen);

/* The descriptor of the mail platform module: the "mail.send" job and the
 * SMTP settings. */
extern const pl_module_t pl_mail_module;

#endif
