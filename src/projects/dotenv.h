/* dotenv.h - reading and writing .env text: the format of secret import
 * and export. Pure functions, thread-safe.
 *
 * Written form (pl_dotenv_write): one line per secret, KEY="value", the
 * value inside double quotes with exactly three escapes: backslash as \\,
 * double quote as \" and newline as \n; every other byte as it is. Reading
 * it back (pl_dotenv_parse) gives every value byte for byte.
 *
 * Read form, a superset for files written elsewhere:
 *   - blank lines and lines starting with # are skipped; "export " before a
 *     key is allowed; spaces around = are allowed; lines end in LF or CRLF;
 *   - KEY matches ^[A-Za-z_][A-Za-z0-9_]{0,127}$;
 *   - "double quoted": the escapes above plus \r and \t; any other
 *     backslash stays as it is; the value may span lines;
 *   - 'single quoted': taken literally, may span lines;
 *   - unquoted: to the end of the line, surrounding blanks trimmed; a #
 *     after a blank starts a comment;
 *   - after a closing quote only blanks and a # comment may follow;
 *   - a key set twice is an error. */
#ifndef PL_DOTENV_H
#define PL_DOTENV_H

#include "core/core.h"

typedef struct {
    const char *key;
    const char *value; /* NUL-terminated; value_len bytes */
    size_t value_len;
} pl_dotenv_entry_t;

/* Parses n bytes of text into at most max entries (in file order) in a.
 * PL_OK with *out and *count; PL_EINVAL with *error (a static or arena
 * string naming the line, never quoting a value) on malformed text, a
 * repeated key, or more than max entries. */
int pl_dotenv_parse(pl_arena_t *a, const char *text, size_t n, int max, pl_dotenv_entry_t **out,
                    int *count, const char **error);

/* Appends the line KEY="value"\n for n bytes of value. PL_ELIMIT past b's
 * cap. */
int pl_dotenv_write(pl_buf_t *b, const char *key, const char *value, size_t n);

/* A key of the form above. */
bool pl_dotenv_key_valid(const char *key, size_t n);

#endif
