/* rules.c - the pure rules of sign-in with identity providers: the redirect
 * allow-list (origin and path prefix), email domains and claimed domains. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "identity/identity_int.h"

#define URL_MAX 2048

typedef struct {
    char scheme[6]; /* "http" or "https" */
    char host[256];
    int port;
    const char *path; /* into the URL; "" for none */
    size_t path_len;
} url_parts_t;

/* Splits an absolute http(s) URL: NULL-free, no user info, controls,
 * spaces or backslashes. */
static bool url_split(const char *u, size_t len, url_parts_t *o)
{
    if (len == 0 || len > URL_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)u[i];
        if (c <= 0x20 || c >= 0x7f || c == '\\')
            return false;
    }
    size_t sl;
    if (len > 8 && !strncasecmp(u, "https://", 8)) {
        snprintf(o->scheme, sizeof(o->scheme), "https");
        sl = 8;
        o->port = 443;
    } else if (len > 7 && !strncasecmp(u, "http://", 7)) {
        snprintf(o->scheme, sizeof(o->scheme), "http");
        sl = 7;
        o->port = 80;
    } else {
        return false;
    }
    const char *a = u + sl, *end = u + len, *ae = a;
    while (ae < end && *ae != '/' && *ae != '?' && *ae != '#')
        ae++;
    if (ae == a || memchr(a, '@', (size_t)(ae - a)))
        return false;
    const char *hostend = ae;
    if (*a == '[') {
        const char *rb = memchr(a, ']', (size_t)(ae - a));
        if (!rb)
            return false;
        hostend = rb + 1;
        if (hostend < ae && *hostend != ':')
            return false;
    } else {
        const char *colon = memchr(a, ':', (size_t)(ae - a));
        if (colon)
            hostend = colon;
    }
    size_t hl = (size_t)(hostend - a);
    if (!hl || hl >= sizeof(o->host))
        return false;
    for (size_t i = 0; i < hl; i++)
        o->host[i] = (char)tolower((unsigned char)a[i]);
    o->host[hl] = '\0';
    if (hostend < ae) { /* ":port" */
        const char *p = hostend + 1;
        if (p == ae || ae - p > 5)
            return false;
        int port = 0;
        for (; p < ae; p++) {
            if (!isdigit((unsigned char)*p))
                return false;
            port = port * 10 + (*p - '0');
        }
        if (port < 1 || port > 65535)
            return false;
        o->port = port;
    }
    o->path = ae;
    const char *pe = ae;
    while (pe < end && *pe != '?' && *pe != '#')
        pe++;
    o->path_len = (size_t)(pe - ae);
    return true;
}

/* A path with a dot segment or an encoded dot, slash or backslash could
 * leave the allowed prefix once a browser or server normalises it. */
static bool path_plain(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '%' && i + 2 < n) {
            char a = (char)tolower((unsigned char)p[i + 1]);
            char b = (char)tolower((unsigned char)p[i + 2]);
            if ((a == '2' && (b == 'e' || b == 'f')) || (a == '5' && b == 'c'))
                return false;
        }
        if (p[i] == '.' && (i == 0 || p[i - 1] == '/')) {
            size_t j = i + 1;
            if (j < n && p[j] == '.')
                j++;
            if (j == n || p[j] == '/')
                return false;
        }
    }
    return true;
}

bool pl_identity_redirect_allowed(const char *allowlist, const char *url)
{
    url_parts_t u;
    if (!allowlist || !url || !url_split(url, strlen(url), &u) || !path_plain(u.path, u.path_len))
        return false;
    for (const char *e = allowlist; *e;) {
        const char *comma = strchr(e, ',');
        size_t n = comma ? (size_t)(comma - e) : strlen(e);
        while (n && (*e == ' ' || *e == '\t')) {
            e++;
            n--;
        }
        while (n && (e[n - 1] == ' ' || e[n - 1] == '\t'))
            n--;
        url_parts_t a;
        if (n && url_split(e, n, &a) && !strcmp(a.scheme, u.scheme) && !strcmp(a.host, u.host) &&
            a.port == u.port) {
            size_t pl = a.path_len;
            while (pl && a.path[pl - 1] == '/')
                pl--; /* "/app/" and "/app" both allow "/app" and below */
            if (pl == 0)
                return true;
            if (u.path_len >= pl && !memcmp(u.path, a.path, pl) &&
                (u.path_len == pl || u.path[pl] == '/'))
                return true;
        }
        if (!comma)
            break;
        e = comma + 1;
    }
    return false;
}

const char *pl_identity_email_domain(const char *email)
{
    const char *at = email ? strrchr(email, '@') : NULL;
    return at && at[1] ? at + 1 : NULL;
}

bool pl_identity_domain_valid(const char *d)
{
    size_t n = d ? strlen(d) : 0;
    if (n < 3 || n > 253 || !strchr(d, '.'))
        return false;
    size_t label = 0;
    for (size_t i = 0; i < n; i++) {
        char c = d[i];
        if (c == '.') {
            if (!label || d[i - 1] == '-')
                return false;
            label = 0;
            continue;
        }
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
            return false;
        if (c == '-' && label == 0)
            return false;
        if (++label > 63)
            return false;
    }
    return label > 0 && d[n - 1] != '-';
}
