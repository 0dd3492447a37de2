/* overrides.h - email templates a product replaces from a directory
 * (--templates DIR), with per-locale variants.
 *
 * A file DIR/NAME[.LOCALE].PART replaces one part of the built-in template
 * NAME: PART is "subject" (one line), "txt" (the whole text part) or "html"
 * (the whole HTML document). LOCALE is a BCP 47 tag ("de", "pt-BR"). The
 * files are read once at start; afterwards the set is read-only, so lookups
 * are thread-safe. */
#ifndef PL_MAIL_OVERRIDES_H
#define PL_MAIL_OVERRIDES_H

/* The parts of a template a file can replace. */
typedef enum { PL_MAIL_PART_SUBJECT, PL_MAIL_PART_TEXT, PL_MAIL_PART_HTML } pl_mail_part_t;

/* Reads every override in dir (replacing any earlier set). Only names of
 * registered templates are accepted. Returns PL_OK, or PL_EINVAL after
 * printing why to stderr (unreadable directory or file, an unknown template,
 * a bad locale, a subject over one line, a file over the size caps or not
 * UTF-8). dir "" loads nothing. */
int pl_mail_overrides_load(const char *dir);

/* The override of part of template name for locale (NULL or "": none), or
 * NULL when the built-in part applies. Tries the locale, then the locale
 * truncated at each '-' from the right ("pt-BR", then "pt"), then the file
 * without a locale. The string lives until the next load. */
const char *pl_mail_override(const char *name, const char *locale, pl_mail_part_t part);

#endif
