/* dotenv.c - the .env reader and writer (see dotenv.h for the format). */
#include <string.h>

#include "core/crypto.h"
#include "projects/dotenv.h"

#define KEY_MAX 128

bool pl_dotenv_key_valid(const char *key, size_t n)
{
    if (n == 0 || n > KEY_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = key[i];
        bool alpha = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
        if (!alpha && !(i > 0 && c >= '0' && c <= '9'))
            return false;
    }
    return true;
}

int pl_dotenv_write(pl_buf_t *b, const char *key, const char *value, size_t n)
{
    int rc = pl_buf_append(b, key, strlen(key));
    rc |= pl_buf_append(b, "=\"", 2);
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        const char *esc = value[i] == '\\'   ? "\\\\"
                          : value[i] == '"'  ? "\\\""
                          : value[i] == '\n' ? "\\n"
                                             : NULL;
        if (!esc)
            continue;
        rc |= pl_buf_append(b, value + run, i - run);
        rc |= pl_buf_append(b, esc, 2);
        run = i + 1;
    }
    rc |= pl_buf_append(b, value + run, n - run);
    rc |= pl_buf_append(b, "\"\n", 2);
    return rc ? PL_ELIMIT : PL_OK;
}

typedef struct {
    const char *s;
    size_t n, pos;
    int line;
    pl_arena_t *a;
    const char *error;
} parser_t;

static int fail(parser_t *p, int line, const char *what)
{
    p->error = pl_arena_printf(p->a, "line %d: %s", line, what);
    return PL_EINVAL;
}

static bool at_end(const parser_t *p)
{
    return p->pos >= p->n;
}

static char peek(const parser_t *p)
{
    return at_end(p) ? '\0' : p->s[p->pos];
}

static void skip_blanks(parser_t *p)
{
    while (!at_end(p) && (p->s[p->pos] == ' ' || p->s[p->pos] == '\t'))
        p->pos++;
}

/* At a line end (LF, CRLF) or the end: consumes it and returns true. */
static bool eat_eol(parser_t *p)
{
    if (at_end(p))
        return true;
    if (p->s[p->pos] == '\n') {
        p->pos++;
        p->line++;
        return true;
    }
    if (p->s[p->pos] == '\r' && p->pos + 1 < p->n && p->s[p->pos + 1] == '\n') {
        p->pos += 2;
        p->line++;
        return true;
    }
    return false;
}

static void skip_to_eol(parser_t *p)
{
    while (!at_end(p) && !eat_eol(p))
        p->pos++;
}

/* A quoted value starting after its opening quote q; the text between the
 * quotes, unescaped for double quotes, into out. */
static int quoted(parser_t *p, char q, pl_buf_t *out)
{
    int start = p->line;
    while (!at_end(p)) {
        char c = p->s[p->pos++];
        if (c == q)
            return PL_OK;
        if (c == '\n')
            p->line++;
        if (c == '\\' && q == '"' && !at_end(p)) {
            char e = p->s[p->pos];
            const char *rep = e == '\\'  ? "\\"
                              : e == '"' ? "\""
                              : e == 'n' ? "\n"
                              : e == 'r' ? "\r"
                              : e == 't' ? "\t"
                                         : NULL;
            if (rep) {
                p->pos++;
                if (pl_buf_append(out, rep, 1))
                    return fail(p, start, "the value is too long");
                continue;
            }
        }
        if (pl_buf_append(out, &c, 1))
            return fail(p, start, "the value is too long");
    }
    return fail(p, start, "the quoted value has no closing quote");
}

/* An unquoted value: to the end of the line, without a trailing comment
 * and surrounding blanks. */
static int unquoted(parser_t *p, bool blank_before, pl_buf_t *out)
{
    size_t start = p->pos, end = p->pos;
    while (!at_end(p) && p->s[p->pos] != '\n' &&
           !(p->s[p->pos] == '\r' && p->pos + 1 < p->n && p->s[p->pos + 1] == '\n')) {
        char c = p->s[p->pos];
        if (c == '#' && blank_before)
            break;
        blank_before = c == ' ' || c == '\t';
        p->pos++;
        if (!blank_before)
            end = p->pos;
    }
    skip_to_eol(p);
    if (pl_buf_append(out, p->s + start, end - start))
        return fail(p, p->line - 1, "the value is too long");
    return PL_OK;
}

int pl_dotenv_parse(pl_arena_t *a, const char *text, size_t n, int max, pl_dotenv_entry_t **out,
                    int *count, const char **error)
{
    parser_t p = {.s = text, .n = n, .line = 1, .a = a};
    int cap = 16, k = 0, rc = PL_OK;
    pl_dotenv_entry_t *items = pl_arena_alloc(a, sizeof(*items) * (size_t)cap);
    pl_buf_t val;
    pl_buf_init(&val, n + 1);
    if (memchr(text, '\0', n)) {
        *error = "the text holds a NUL byte";
        pl_buf_free(&val);
        return PL_EINVAL;
    }
    while (!rc && !at_end(&p)) {
        skip_blanks(&p);
        if (eat_eol(&p))
            continue;
        if (peek(&p) == '#') {
            skip_to_eol(&p);
            continue;
        }
        int line = p.line;
        if (p.n - p.pos > 7 && !memcmp(p.s + p.pos, "export", 6) &&
            (p.s[p.pos + 6] == ' ' || p.s[p.pos + 6] == '\t')) {
            p.pos += 6;
            skip_blanks(&p);
        }
        size_t ks = p.pos;
        while (!at_end(&p) &&
               (peek(&p) == '_' || (peek(&p) >= 'A' && peek(&p) <= 'Z') ||
                (peek(&p) >= 'a' && peek(&p) <= 'z') || (peek(&p) >= '0' && peek(&p) <= '9')))
            p.pos++;
        size_t kn = p.pos - ks;
        skip_blanks(&p);
        if (!kn || peek(&p) != '=') {
            rc = fail(&p, line, "expected KEY=VALUE");
            break;
        }
        if (!pl_dotenv_key_valid(p.s + ks, kn)) {
            rc = fail(&p, line, "the key must match ^[A-Za-z_][A-Za-z0-9_]{0,127}$");
            break;
        }
        p.pos++; /* = */
        size_t after_eq = p.pos;
        skip_blanks(&p);
        val.len = 0;
        char q = peek(&p);
        if (q == '"' || q == '\'') {
            p.pos++;
            if ((rc = quoted(&p, q, &val)))
                break;
            skip_blanks(&p);
            if (peek(&p) == '#')
                skip_to_eol(&p);
            else if (!eat_eol(&p)) {
                rc = fail(&p, p.line, "unexpected text after the closing quote");
                break;
            }
        } else if ((rc = unquoted(&p, p.pos > after_eq, &val))) {
            break;
        }
        char *key = pl_arena_strndup(a, p.s + ks, kn);
        for (int i = 0; i < k; i++)
            if (!strcmp(items[i].key, key)) {
                rc = fail(&p, line, pl_arena_printf(a, "%s is set twice", key));
                break;
            }
        if (rc)
            break;
        if (k == max) {
            rc = fail(&p, line, pl_arena_printf(a, "more than %d entries", max));
            break;
        }
        if (k == cap) {
            pl_dotenv_entry_t *bigger = pl_arena_alloc(a, sizeof(*items) * (size_t)cap * 2);
            memcpy(bigger, items, sizeof(*items) * (size_t)k);
            items = bigger;
            cap *= 2;
        }
        items[k].key = key;
        items[k].value = pl_arena_strndup(a, val.ptr ? val.ptr : "", val.len);
        items[k].value_len = val.len;
        k++;
    }
    if (val.ptr)
        pl_memzero(val.ptr, val.cap);
    pl_buf_free(&val);
    if (rc) {
        *error = p.error;
        return rc;
    }
    *out = items;
    *count = k;
    return PL_OK;
}
