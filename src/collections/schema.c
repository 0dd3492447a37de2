/* schema.c - the JSON Schema subset of collections: checking a schema and
 * validating an instance against it, with JSON Pointer error paths. Pure
 * functions over jansson values; thread-safe.
 *
 * `pattern` uses POSIX extended regular expressions (glibc), the one regex
 * engine the binary links: patterns are capped at PL_COLL_PATTERN_MAX bytes,
 * back-references are refused (no exponential matching from them), and the
 * ECMA-262 shorthands \d \D are translated to bracket expressions. */
#include <math.h>
#include <regex.h>
#include <stdio.h>
#include <string.h>

#include "collections/collections.h"

/* ---- helpers ---- */

size_t pl_coll_utf8_len(const char *s, size_t n)
{
    size_t count = 0;
    for (size_t i = 0; i < n; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80)
            count++;
    return count;
}

static bool is_number(json_t *v)
{
    return json_is_integer(v) || json_is_real(v);
}

static double num(json_t *v)
{
    return json_is_integer(v) ? (double)json_integer_value(v) : json_real_value(v);
}

static bool is_integral(json_t *v)
{
    if (json_is_integer(v))
        return true;
    if (!json_is_real(v))
        return false;
    double d = json_real_value(v);
    return isfinite(d) && d == floor(d);
}

bool pl_coll_json_equal(json_t *a, json_t *b)
{
    if (is_number(a) && is_number(b)) {
        if (json_is_integer(a) && json_is_integer(b))
            return json_integer_value(a) == json_integer_value(b);
        return num(a) == num(b);
    }
    if (json_typeof(a) != json_typeof(b))
        return false;
    if (json_is_array(a)) {
        size_t n = json_array_size(a);
        if (n != json_array_size(b))
            return false;
        for (size_t i = 0; i < n; i++)
            if (!pl_coll_json_equal(json_array_get(a, i), json_array_get(b, i)))
                return false;
        return true;
    }
    if (json_is_object(a)) {
        if (json_object_size(a) != json_object_size(b))
            return false;
        const char *k;
        json_t *v;
        json_object_foreach(a, k, v)
        {
            json_t *w = json_object_get(b, k);
            if (!w || !pl_coll_json_equal(v, w))
                return false;
        }
        return true;
    }
    return json_equal(a, b);
}

/* ---- formats ---- */

static bool digits(const char *s, int n)
{
    for (int i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

static int num2(const char *s)
{
    return (s[0] - '0') * 10 + (s[1] - '0');
}

static bool date_ok(const char *s, size_t n)
{
    if (n != 10 || !digits(s, 4) || s[4] != '-' || !digits(s + 5, 2) || s[7] != '-' ||
        !digits(s + 8, 2))
        return false;
    int y = num2(s) * 100 + num2(s + 2), m = num2(s + 5), d = num2(s + 8);
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m < 1 || m > 12 || d < 1)
        return false;
    int max = days[m - 1];
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        max = 29;
    return d <= max;
}

/* RFC 3339 date-time: full-date "T" partial-time time-offset. */
static bool date_time_ok(const char *s, size_t n)
{
    if (n < 20 || !date_ok(s, 10) || (s[10] != 'T' && s[10] != 't'))
        return false;
    const char *t = s + 11;
    size_t left = n - 11;
    if (left < 9 || !digits(t, 2) || t[2] != ':' || !digits(t + 3, 2) || t[5] != ':' ||
        !digits(t + 6, 2))
        return false;
    int hh = num2(t), mm = num2(t + 3), ss = num2(t + 6);
    if (hh > 23 || mm > 59 || ss > 60)
        return false;
    size_t i = 8;
    if (i < left && t[i] == '.') {
        size_t start = ++i;
        while (i < left && t[i] >= '0' && t[i] <= '9')
            i++;
        if (i == start)
            return false;
    }
    if (i >= left)
        return false;
    int off_h = 0, off_m = 0, sign = 0;
    if (t[i] == 'Z' || t[i] == 'z') {
        i++;
    } else if (t[i] == '+' || t[i] == '-') {
        sign = t[i] == '+' ? 1 : -1;
        if (left - i != 6 || !digits(t + i + 1, 2) || t[i + 3] != ':' || !digits(t + i + 4, 2))
            return false;
        off_h = num2(t + i + 1);
        off_m = num2(t + i + 4);
        if (off_h > 23 || off_m > 59)
            return false;
        i += 6;
    } else {
        return false;
    }
    if (i != left)
        return false;
    if (ss == 60) {
        /* a leap second is 23:59:60 in UTC */
        int utc = hh * 60 + mm - sign * (off_h * 60 + off_m);
        utc = ((utc % 1440) + 1440) % 1440;
        if (utc != 23 * 60 + 59)
            return false;
    }
    return true;
}

/* A dotted-quad IPv4 address: four numbers 0..255 without leading zeros. */
static bool ipv4_ok(const char *s, size_t n)
{
    int parts = 0;
    size_t i = 0;
    while (i <= n && parts < 4) {
        size_t start = i;
        int v = 0;
        while (i < n && s[i] >= '0' && s[i] <= '9' && i - start < 3)
            v = v * 10 + (s[i++] - '0');
        if (i == start || v > 255 || (s[start] == '0' && i - start > 1))
            return false;
        parts++;
        if (i == n)
            break;
        if (s[i] != '.')
            return false;
        i++;
    }
    return parts == 4 && i == n;
}

/* The inside of an IP-literal ("[...]"): IPv6 (hex digits and colons, maybe
 * an IPv4 tail) or an IPvFuture. */
static bool ip_literal_ok(const char *s, size_t n)
{
    if (!n)
        return false;
    if (s[0] == 'v' || s[0] == 'V')
        return n > 3 && memchr(s, '.', n);
    size_t colons = 0, last_colon = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == ':') {
            colons++;
            last_colon = i;
        } else if (!strchr("0123456789abcdefABCDEF.", s[i]) || !s[i]) {
            return false;
        }
    }
    if (colons < 2)
        return false;
    if (memchr(s, '.', n))
        return ipv4_ok(s + last_colon + 1, n - last_colon - 1);
    return true;
}

/* An email domain's address literal: IPv4, or "IPv6:" and an address. */
static bool address_literal_ok(const char *s, size_t n)
{
    if (n > 5 && !strncmp(s, "IPv6:", 5))
        return ip_literal_ok(s + 5, n - 5);
    return ipv4_ok(s, n);
}

static bool atext(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL || c >= 0x80;
}

/* RFC 5321 mailbox: dot-atom or quoted local part, "@", a domain name or an
 * address literal. */
static bool email_ok(const char *s, size_t n)
{
    const char *at = NULL;
    size_t i = 0;
    if (n && s[0] == '"') {
        for (i = 1; i < n && s[i] != '"'; i++)
            if (s[i] == '\\')
                i++;
        if (i >= n || i + 1 >= n || s[i + 1] != '@')
            return false;
        at = s + i + 1;
    } else {
        at = memchr(s, '@', n);
        if (!at || at == s)
            return false;
        for (const char *p = s; p < at; p++) {
            if (*p == '.') {
                if (p == s || p + 1 == at || p[1] == '.')
                    return false;
            } else if (!atext((unsigned char)*p)) {
                return false;
            }
        }
    }
    const char *d = at + 1, *end = s + n;
    if (d >= end)
        return false;
    if (*d == '[')
        return end[-1] == ']' && address_literal_ok(d + 1, (size_t)(end - d - 2));
    for (const char *p = d; p < end; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '.') {
            if (p == d || p + 1 == end || p[1] == '.' || p[-1] == '-' || p[1] == '-')
                return false;
        } else if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                     c == '-' || c >= 0x80)) {
            return false;
        }
    }
    return d[0] != '-' && end[-1] != '-';
}

/* RFC 3986 absolute URI: scheme ":" hier-part, no characters outside the
 * URI set (spaces, backslashes, quotes, braces) and well-formed %-escapes. */
static bool uri_ok(const char *s, size_t n)
{
    size_t i = 0;
    if (!n || !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z')))
        return false;
    while (i < n && s[i] != ':') {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '+' || c == '-' || c == '.'))
            return false;
        i++;
    }
    if (i >= n)
        return false;
    static const char ok[] = "-._~:/?#[]@!$&'()*+,;=";
    /* '[' and ']' belong to an authority's IP-literal host alone */
    const char *lb = memchr(s, '[', n), *rb = memchr(s, ']', n);
    if (lb || rb) {
        const char *colon0 = memchr(s, ':', n);
        const char *auth = colon0 && colon0 + 2 < s + n && colon0[1] == '/' && colon0[2] == '/'
                               ? colon0 + 3
                               : NULL;
        if (!auth || !lb || !rb || rb < lb)
            return false;
        const char *at = NULL;
        for (const char *p = auth; p < lb; p++)
            if (*p == '@')
                at = p;
            else if (*p == '/' || *p == '?' || *p == '#')
                return false;
        if (lb != (at ? at + 1 : auth))
            return false;
        if (!ip_literal_ok(lb + 1, (size_t)(rb - lb - 1)))
            return false;
        if (memchr(rb + 1, '[', (size_t)(s + n - rb - 1)) ||
            memchr(rb + 1, ']', (size_t)(s + n - rb - 1)))
            return false;
    }
    for (i++; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '%') {
            if (i + 2 >= n || !strchr("0123456789abcdefABCDEF", s[i + 1]) ||
                !strchr("0123456789abcdefABCDEF", s[i + 2]) || !s[i + 1] || !s[i + 2])
                return false;
            i += 2;
        } else if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                     (c && strchr(ok, c)))) {
            return false;
        }
    }
    /* an authority's port is digits only */
    const char *colon = memchr(s, ':', n);
    if (colon && (size_t)(colon - s) + 2 < n && colon[1] == '/' && colon[2] == '/') {
        const char *auth = colon + 3, *end = s + n;
        const char *stop = auth;
        while (stop < end && *stop != '/' && *stop != '?' && *stop != '#')
            stop++;
        const char *host = memchr(auth, '@', (size_t)(stop - auth));
        host = host ? host + 1 : auth;
        if (host < stop && *host == '[') {
            const char *rb = memchr(host, ']', (size_t)(stop - host));
            if (!rb)
                return false;
            host = rb + 1;
        }
        const char *port = memchr(host, ':', (size_t)(stop - host));
        if (port)
            for (const char *p = port + 1; p < stop; p++)
                if (*p < '0' || *p > '9')
                    return false;
    }
    return true;
}

static bool uuid_ok(const char *s, size_t n)
{
    if (n != 36)
        return false;
    for (size_t i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return false;
        } else if (!strchr("0123456789abcdefABCDEF", s[i]) || !s[i]) {
            return false;
        }
    }
    return true;
}

bool pl_coll_format_ok(const char *format, const char *s, size_t n)
{
    if (!strcmp(format, "email"))
        return email_ok(s, n);
    if (!strcmp(format, "date-time"))
        return date_time_ok(s, n);
    if (!strcmp(format, "date"))
        return date_ok(s, n);
    if (!strcmp(format, "uri"))
        return uri_ok(s, n);
    if (!strcmp(format, "uuid"))
        return uuid_ok(s, n);
    return true;
}

static bool format_known(const char *f)
{
    return !strcmp(f, "email") || !strcmp(f, "date-time") || !strcmp(f, "date") ||
           !strcmp(f, "uri") || !strcmp(f, "uuid");
}

/* ---- patterns ---- */

/* The ECMA-262 pattern as POSIX ERE (\d and \D outside brackets); NULL when
 * it holds a back-reference or is too long. The caller frees. */
static char *pattern_to_ere(const char *p)
{
    size_t n = strlen(p);
    if (n > PL_COLL_PATTERN_MAX)
        return NULL;
    char *out = pl_xmalloc(n * 6 + 1);
    size_t o = 0;
    bool in_bracket = false;
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '\\' && i + 1 < n) {
            char c = p[i + 1];
            if (c >= '1' && c <= '9') {
                free(out);
                return NULL;
            }
            if (!in_bracket && (c == 'd' || c == 'D')) {
                const char *r = c == 'd' ? "[0-9]" : "[^0-9]";
                memcpy(out + o, r, strlen(r));
                o += strlen(r);
                i++;
                continue;
            }
            out[o++] = p[i++];
            out[o++] = p[i];
            continue;
        }
        if (p[i] == '[')
            in_bracket = true;
        else if (p[i] == ']')
            in_bracket = false;
        out[o++] = p[i];
    }
    out[o] = '\0';
    return out;
}

/* 1 match, 0 no match, -1 the pattern does not compile. */
static int pattern_match(const char *pattern, const char *s)
{
    char *ere = pattern_to_ere(pattern);
    if (!ere)
        return -1;
    regex_t re;
    int rc = regcomp(&re, ere, REG_EXTENDED | REG_NOSUB);
    free(ere);
    if (rc)
        return -1;
    rc = regexec(&re, s, 0, NULL, 0) == 0;
    regfree(&re);
    return rc;
}

/* ---- checking a schema ---- */

typedef struct {
    pl_ctx_t *ctx;
    int props;
    bool bad;
} check_t;

static void check_fail(check_t *c, const char *path, const char *message)
{
    if (!c->bad || c->ctx->err.nfield_errors < PL_MAX_FIELD_ERRORS)
        pl_field_error(c->ctx, path, "invalid", message);
    c->bad = true;
}

static const char *const type_names[] = {"null",   "boolean", "object", "array",
                                         "number", "string",  "integer"};

static bool type_name_ok(const char *s)
{
    for (size_t i = 0; i < PL_ARRAY_LEN(type_names); i++)
        if (!strcmp(type_names[i], s))
            return true;
    return false;
}

/* Whether schema s allows the JSON type t (no "type": every type). */
static bool allows_type(json_t *s, const char *t)
{
    json_t *type = json_object_get(s, "type");
    if (!type)
        return true;
    if (json_is_string(type))
        return !strcmp(json_string_value(type), t);
    size_t i;
    json_t *v;
    json_array_foreach(type, i, v) if (!strcmp(json_string_value(v), t)) return true;
    return false;
}

static bool nonneg_int(json_t *v)
{
    return is_integral(v) && num(v) >= 0 && num(v) <= 1e15;
}

static void check_schema(check_t *c, json_t *s, const char *path, int depth, bool top_property)
{
    pl_arena_t *a = c->ctx->arena;
    if (!json_is_object(s)) {
        check_fail(c, path, "A schema is an object.");
        return;
    }
    if (depth > PL_COLL_SCHEMA_DEPTH) {
        check_fail(c, path, "The schema nests too deeply.");
        return;
    }
    const char *k;
    json_t *v;
    json_object_foreach(s, k, v)
    {
        const char *at = pl_arena_printf(a, "%s.%s", path, k);
        if (!strcmp(k, "type")) {
            if (json_is_string(v)) {
                if (!type_name_ok(json_string_value(v)))
                    check_fail(c, at, "Unknown type.");
            } else if (json_is_array(v) && json_array_size(v) >= 1 && json_array_size(v) <= 7) {
                size_t i;
                json_t *t;
                json_array_foreach(v, i,
                                   t) if (!json_is_string(t) || !type_name_ok(json_string_value(t)))
                    check_fail(c, at, "Unknown type.");
            } else {
                check_fail(c, at, "A type name or a list of them.");
            }
        } else if (!strcmp(k, "properties")) {
            if (!json_is_object(v)) {
                check_fail(c, at, "An object of schemas.");
                continue;
            }
            const char *pk;
            json_t *pv;
            json_object_foreach(v, pk, pv)
            {
                if (++c->props > PL_COLL_PROPS_MAX) {
                    check_fail(c, at, "Too many properties.");
                    return;
                }
                check_schema(c, pv, pl_arena_printf(a, "%s.%s", at, pk), depth + 1, depth == 0);
            }
        } else if (!strcmp(k, "required")) {
            size_t i;
            json_t *r;
            if (!json_is_array(v) || json_array_size(v) > PL_COLL_PROPS_MAX)
                check_fail(c, at, "A list of property names.");
            else
                json_array_foreach(v, i, r) if (!json_is_string(r))
                    check_fail(c, at, "A list of property names.");
        } else if (!strcmp(k, "additionalProperties") || !strcmp(k, "items")) {
            if (!json_is_boolean(v))
                check_schema(c, v, at, depth + 1, false);
        } else if (!strcmp(k, "enum")) {
            if (!json_is_array(v) || json_array_size(v) < 1 ||
                json_array_size(v) > PL_COLL_ENUM_MAX)
                check_fail(c, at,
                           pl_arena_printf(a, "A list of 1 to %d values.", PL_COLL_ENUM_MAX));
        } else if (!strcmp(k, "const") || !strcmp(k, "default") || !strcmp(k, "examples") ||
                   !strcmp(k, "title") || !strcmp(k, "description") || !strcmp(k, "$comment")) {
            /* any value */
        } else if (!strcmp(k, "minLength") || !strcmp(k, "maxLength") || !strcmp(k, "minItems") ||
                   !strcmp(k, "maxItems")) {
            if (!nonneg_int(v))
                check_fail(c, at, "A non-negative integer.");
        } else if (!strcmp(k, "minimum") || !strcmp(k, "maximum") ||
                   !strcmp(k, "exclusiveMinimum") || !strcmp(k, "exclusiveMaximum")) {
            if (!is_number(v))
                check_fail(c, at, "A number.");
        } else if (!strcmp(k, "uniqueItems")) {
            if (!json_is_boolean(v))
                check_fail(c, at, "A boolean.");
        } else if (!strcmp(k, "pattern")) {
            if (!json_is_string(v) || json_string_length(v) > PL_COLL_PATTERN_MAX ||
                pattern_match(json_string_value(v), "") < 0)
                check_fail(c, at,
                           pl_arena_printf(a,
                                           "A regular expression of at most %d bytes "
                                           "(no back-references).",
                                           PL_COLL_PATTERN_MAX));
        } else if (!strcmp(k, "format")) {
            if (!json_is_string(v) || !format_known(json_string_value(v)))
                check_fail(c, at, "One of email, date-time, date, uri, uuid.");
        } else if (!strcmp(k, "x-ref") || !strcmp(k, "x-user") || !strcmp(k, "x-file") ||
                   !strcmp(k, "x-on-delete")) {
            if (!top_property || !allows_type(s, "string") || !json_object_get(s, "type")) {
                check_fail(c, at,
                           "Only on a \"type\":\"string\" property of the record's top-level "
                           "object.");
                continue;
            }
            if (!strcmp(k, "x-ref")) {
                if (!json_is_string(v) || !pl_coll_name_valid(json_string_value(v)))
                    check_fail(c, at, "The name of a collection.");
            } else if (!strcmp(k, "x-on-delete")) {
                const char *m = json_string_value(v);
                if (!json_object_get(s, "x-ref"))
                    check_fail(c, at, "Only with x-ref.");
                else if (!m ||
                         (strcmp(m, "conflict") && strcmp(m, "cascade") && strcmp(m, "set-null")))
                    check_fail(c, at, "One of conflict, cascade, set-null.");
                else if (!strcmp(m, "set-null") && !allows_type(s, "null"))
                    check_fail(c, at, "set-null needs the property to allow null.");
            } else if (!json_is_true(v)) {
                check_fail(c, at, "true.");
            }
        } else {
            check_fail(c, at, "Not a supported keyword.");
        }
    }
}

int pl_coll_schema_check(pl_ctx_t *ctx, json_t *schema, const char *prefix)
{
    check_t c = {ctx, 0, false};
    if (!json_is_object(schema)) {
        pl_field_error(ctx, prefix, "invalid", "A JSON Schema object.");
        return PL_EINVAL;
    }
    json_t *type = json_object_get(schema, "type");
    if (!json_is_string(type) || strcmp(json_string_value(type), "object")) {
        pl_field_error(ctx, prefix, "invalid", "The schema of a record has \"type\":\"object\".");
        return PL_EINVAL;
    }
    char *text = json_dumps(schema, JSON_COMPACT);
    size_t len = text ? strlen(text) : 0;
    free(text);
    if (len > PL_COLL_SCHEMA_BYTES) {
        pl_field_error(ctx, prefix, "too_long",
                       pl_arena_printf(ctx->arena, "At most %d bytes.", PL_COLL_SCHEMA_BYTES));
        return PL_EINVAL;
    }
    check_schema(&c, schema, prefix, 0, false);
    return c.bad ? PL_EINVAL : PL_OK;
}

/* ---- validation ---- */

typedef struct {
    pl_coll_error_fn fn;
    void *arg;
    int n;
} val_t;

#define MAX_ERRORS 16
#define PTR_MAX    1024

static void report(val_t *v, const char *ptr, const char *kw, const char *msg)
{
    if (v->n++ < MAX_ERRORS)
        v->fn(v->arg, ptr, kw, msg);
}

/* ptr + "/" + escaped key, into out */
static void ptr_child(char out[PTR_MAX], const char *ptr, const char *key)
{
    size_t o = strlen(ptr);
    memcpy(out, ptr, o);
    if (o < PTR_MAX - 1)
        out[o++] = '/';
    for (const char *p = key; *p && o < PTR_MAX - 3; p++) {
        if (*p == '~') {
            out[o++] = '~';
            out[o++] = '0';
        } else if (*p == '/') {
            out[o++] = '~';
            out[o++] = '1';
        } else {
            out[o++] = *p;
        }
    }
    out[o] = '\0';
}

static const char *type_of(json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "object";
    case JSON_ARRAY:
        return "array";
    case JSON_STRING:
        return "string";
    case JSON_INTEGER:
    case JSON_REAL:
        return "number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "boolean";
    default:
        return "null";
    }
}

static bool type_matches(const char *t, json_t *v)
{
    if (!strcmp(t, "integer"))
        return is_integral(v);
    return !strcmp(t, type_of(v));
}

static void validate(val_t *val, json_t *s, json_t *v, const char *ptr);

static void validate(val_t *val, json_t *s, json_t *v, const char *ptr)
{
    if (json_is_false(s)) {
        report(val, ptr, "false", "No value is allowed here.");
        return;
    }
    if (!json_is_object(s))
        return;
    char msg[160];
    json_t *type = json_object_get(s, "type");
    if (type) {
        bool ok = false;
        if (json_is_string(type)) {
            ok = type_matches(json_string_value(type), v);
        } else {
            size_t i;
            json_t *t;
            json_array_foreach(type, i, t) ok = ok || type_matches(json_string_value(t), v);
        }
        if (!ok) {
            report(val, ptr, "type", "Has the wrong type.");
            return;
        }
    }
    json_t *e = json_object_get(s, "enum");
    if (e) {
        bool found = false;
        size_t i;
        json_t *x;
        json_array_foreach(e, i, x) found = found || pl_coll_json_equal(x, v);
        if (!found)
            report(val, ptr, "enum", "Is not one of the allowed values.");
    }
    if ((e = json_object_get(s, "const")) && !pl_coll_json_equal(e, v))
        report(val, ptr, "const", "Is not the allowed value.");
    if (json_is_string(v)) {
        const char *str = json_string_value(v);
        size_t n = json_string_length(v), chars = pl_coll_utf8_len(str, n);
        json_t *k;
        if ((k = json_object_get(s, "minLength")) && (double)chars < num(k)) {
            snprintf(msg, sizeof(msg), "Must be at least %.0f characters long.", num(k));
            report(val, ptr, "minLength", msg);
        }
        if ((k = json_object_get(s, "maxLength")) && (double)chars > num(k)) {
            snprintf(msg, sizeof(msg), "Must be at most %.0f characters long.", num(k));
            report(val, ptr, "maxLength", msg);
        }
        if ((k = json_object_get(s, "pattern")) &&
            (memchr(str, '\0', n) || pattern_match(json_string_value(k), str) != 1))
            report(val, ptr, "pattern", "Does not match the pattern.");
        if ((k = json_object_get(s, "format")) &&
            !pl_coll_format_ok(json_string_value(k), str, n)) {
            snprintf(msg, sizeof(msg), "Is not a valid %s.", json_string_value(k));
            report(val, ptr, "format", msg);
        }
    }
    if (is_number(v)) {
        double d = num(v);
        json_t *k;
        if ((k = json_object_get(s, "minimum")) && d < num(k))
            report(val, ptr, "minimum", "Is below the minimum.");
        if ((k = json_object_get(s, "maximum")) && d > num(k))
            report(val, ptr, "maximum", "Is above the maximum.");
        if ((k = json_object_get(s, "exclusiveMinimum")) && d <= num(k))
            report(val, ptr, "exclusiveMinimum", "Must be above the minimum.");
        if ((k = json_object_get(s, "exclusiveMaximum")) && d >= num(k))
            report(val, ptr, "exclusiveMaximum", "Must be below the maximum.");
    }
    if (json_is_array(v)) {
        size_t n = json_array_size(v);
        json_t *k;
        if ((k = json_object_get(s, "minItems")) && (double)n < num(k))
            report(val, ptr, "minItems", "Has too few items.");
        if ((k = json_object_get(s, "maxItems")) && (double)n > num(k))
            report(val, ptr, "maxItems", "Has too many items.");
        if (json_is_true(json_object_get(s, "uniqueItems"))) {
            bool dup = false;
            for (size_t i = 0; i < n && !dup; i++)
                for (size_t j = i + 1; j < n && !dup; j++)
                    dup = pl_coll_json_equal(json_array_get(v, i), json_array_get(v, j));
            if (dup)
                report(val, ptr, "uniqueItems", "Has duplicate items.");
        }
        if ((k = json_object_get(s, "items"))) {
            char child[PTR_MAX];
            for (size_t i = 0; i < n; i++) {
                char idx[24];
                snprintf(idx, sizeof(idx), "%zu", i);
                ptr_child(child, ptr, idx);
                if (json_is_false(k))
                    report(val, child, "items", "No items are allowed.");
                else
                    validate(val, k, json_array_get(v, i), child);
            }
        }
    }
    if (json_is_object(v)) {
        json_t *props = json_object_get(s, "properties");
        json_t *req = json_object_get(s, "required");
        json_t *add = json_object_get(s, "additionalProperties");
        char child[PTR_MAX];
        size_t i;
        json_t *r;
        json_array_foreach(req, i, r)
        {
            if (!json_object_get(v, json_string_value(r))) {
                ptr_child(child, ptr, json_string_value(r));
                report(val, child, "required", "This field is required.");
            }
        }
        const char *k;
        json_t *x;
        json_object_foreach(v, k, x)
        {
            ptr_child(child, ptr, k);
            json_t *ps = props ? json_object_get(props, k) : NULL;
            if (ps)
                validate(val, ps, x, child);
            else if (json_is_false(add))
                report(val, child, "additionalProperties", "Is not an allowed property.");
            else if (json_is_object(add))
                validate(val, add, x, child);
        }
    }
}

int pl_coll_validate(json_t *schema, json_t *instance, pl_coll_error_fn fn, void *arg)
{
    val_t v = {fn, arg, 0};
    validate(&v, schema, instance, "");
    return v.n;
}
