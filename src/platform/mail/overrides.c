/* overrides.c - reading the template overrides of --templates DIR and
 * choosing the locale variant of each part.
 *
 * The directory is read once at start, so a bad file stops the start instead
 * of failing an email later, and sending never touches the file system. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "platform/mail/mail.h"
#include "platform/mail/message.h"
#include "platform/mail/overrides.h"

#define MAX_OVERRIDES 1024
#define LOCALE_MAX    35

typedef struct {
    char *name;
    char *locale; /* "" for the file without a locale */
    pl_mail_part_t part;
    char *body;
} override_t;

static override_t *overrides;
static size_t noverrides;

static bool is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

bool pl_mail_locale_valid(const char *s)
{
    if (!s)
        return false;
    size_t len = strlen(s);
    if (len < 2 || len > LOCALE_MAX)
        return false;
    size_t sub = 0; /* length of the current subtag */
    bool primary = true;
    for (const char *p = s;; p++) {
        if (*p == '-' || !*p) {
            if (primary ? sub < 2 || sub > 3 : sub < 1)
                return false;
            if (!*p)
                return true;
            primary = false;
            sub = 0;
            continue;
        }
        if (!(is_alpha(*p) || (!primary && is_digit(*p))) || ++sub > 8)
            return false;
    }
}

static void clear(void)
{
    for (size_t i = 0; i < noverrides; i++) {
        free(overrides[i].name);
        free(overrides[i].locale);
        free(overrides[i].body);
    }
    free(overrides);
    overrides = NULL;
    noverrides = 0;
}

/* The file's bytes as a NUL-terminated string, or NULL (reason in err). */
static char *read_file(const char *path, size_t max, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s", strerror(errno));
        return NULL;
    }
    char *buf = pl_xmalloc(max + 2);
    size_t n = fread(buf, 1, max + 1, f);
    bool failed = ferror(f);
    fclose(f);
    if (failed || n > max) {
        snprintf(err, errlen, failed ? "cannot be read" : "is larger than %zu bytes", max);
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    json_t *utf8 = memchr(buf, '\0', n) ? NULL : json_stringn(buf, n); /* NULL: not UTF-8 */
    if (!utf8) {
        snprintf(err, errlen, "is not UTF-8 text");
        free(buf);
        return NULL;
    }
    json_decref(utf8);
    return buf;
}

/* A subject is one line: a trailing line break is dropped, nothing else may
 * be a control character (it would break the header). */
static bool subject_ok(char *s)
{
    size_t n = strlen(s);
    while (n && (s[n - 1] == '\n' || s[n - 1] == '\r'))
        s[--n] = '\0';
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return false;
    return n > 0;
}

/* Splits "NAME[.LOCALE].PART" in place. Returns false when fname does not
 * have that shape (the file is not an override). */
static bool parse_name(char *fname, char **name, char **locale, pl_mail_part_t *part)
{
    char *dot = strrchr(fname, '.');
    if (!dot || dot == fname)
        return false;
    if (!strcmp(dot, ".subject"))
        *part = PL_MAIL_PART_SUBJECT;
    else if (!strcmp(dot, ".txt"))
        *part = PL_MAIL_PART_TEXT;
    else if (!strcmp(dot, ".html"))
        *part = PL_MAIL_PART_HTML;
    else
        return false;
    *dot = '\0';
    *name = fname;
    char *ldot = strchr(fname, '.');
    *locale = "";
    if (ldot) {
        *ldot = '\0';
        *locale = ldot + 1;
    }
    return true;
}

int pl_mail_overrides_load(const char *dir)
{
    clear();
    if (!dir || !dir[0])
        return PL_OK;
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "plinth: --templates %s: %s\n", dir, strerror(errno));
        return PL_EINVAL;
    }
    overrides = pl_xmalloc(MAX_OVERRIDES * sizeof(*overrides));
    int rc = PL_OK;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char fname[256], path[4096], err[128];
        snprintf(fname, sizeof(fname), "%s", e->d_name);
        char *name, *locale;
        pl_mail_part_t part;
        if (!parse_name(fname, &name, &locale, &part))
            continue; /* README, notes, ...: not an override */
        if (!pl_mail_template(name)) {
            fprintf(stderr, "plinth: --templates: %s: there is no email template named \"%s\"\n",
                    e->d_name, name);
            rc = PL_EINVAL;
            break;
        }
        if (locale[0] && !pl_mail_locale_valid(locale)) {
            fprintf(stderr, "plinth: --templates: %s: \"%s\" is not a BCP 47 language tag\n",
                    e->d_name, locale);
            rc = PL_EINVAL;
            break;
        }
        if (noverrides == MAX_OVERRIDES) {
            fprintf(stderr, "plinth: --templates: more than %d template files\n", MAX_OVERRIDES);
            rc = PL_EINVAL;
            break;
        }
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        size_t max = part == PL_MAIL_PART_SUBJECT ? PL_MAIL_SUBJECT_MAX + 2 : PL_MAIL_BODY_MAX;
        char *body = read_file(path, max, err, sizeof(err));
        if (!body) {
            fprintf(stderr, "plinth: --templates: %s %s\n", path, err);
            rc = PL_EINVAL;
            break;
        }
        if (part == PL_MAIL_PART_SUBJECT && !subject_ok(body)) {
            fprintf(stderr, "plinth: --templates: %s: a subject is one non-empty line\n", path);
            free(body);
            rc = PL_EINVAL;
            break;
        }
        overrides[noverrides++] = (override_t){
            .name = pl_xstrdup(name),
            .locale = pl_xstrdup(locale),
            .part = part,
            .body = body,
        };
    }
    closedir(d);
    if (rc)
        clear();
    else
        pl_log("info", "mail: %zu template override(s) from %s", noverrides, dir);
    return rc;
}

static const char *find(const char *name, const char *locale, size_t llen, pl_mail_part_t part)
{
    for (size_t i = 0; i < noverrides; i++) {
        const override_t *o = &overrides[i];
        if (o->part == part && strlen(o->locale) == llen && !strncasecmp(o->locale, locale, llen) &&
            !strcmp(o->name, name))
            return o->body;
    }
    return NULL;
}

const char *pl_mail_override(const char *name, const char *locale, pl_mail_part_t part)
{
    if (!noverrides || !name)
        return NULL;
    if (locale && pl_mail_locale_valid(locale)) {
        for (size_t len = strlen(locale); len > 0;) {
            const char *body = find(name, locale, len, part);
            if (body)
                return body;
            while (len > 0 && locale[len - 1] != '-')
                len--;
            if (len > 0)
                len--; /* drop the '-' too */
        }
    }
    return find(name, "", 0, part);
}
