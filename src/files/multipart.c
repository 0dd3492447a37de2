/* multipart.c - the streaming multipart/form-data parser (multipart.h).
 *
 * The delimiter "\r\n--boundary" is matched byte by byte; since a boundary
 * holds no CR, a partial match that fails can only restart at the byte that
 * broke it, so the bytes matched so far are plain data and no look-back
 * buffer is needed. The first delimiter has no CRLF before it: the parser
 * starts as if those two bytes had been matched. */
#include <string.h>
#include <strings.h>

#include "files/multipart.h"

enum { S_PREAMBLE, S_AFTER, S_HEADERS, S_BODY, S_END };

static bool bchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           strchr("'()+_,-./:=? ", c) != NULL;
}

/* Reads parameter name's value from a header value's parameters
 * ("form-data; name=\"file\"; filename=\"a.png\"") into out (size bytes);
 * false when absent or too long. */
static bool param(const char *v, const char *name, char *out, size_t size)
{
    size_t nlen = strlen(name);
    const char *p = strchr(v, ';');
    while (p) {
        p++;
        while (*p == ' ' || *p == '\t')
            p++;
        if (!strncasecmp(p, name, nlen) && p[nlen] == '=') {
            p += nlen + 1;
            size_t n = 0;
            if (*p == '"') {
                for (p++; *p && *p != '"'; p++) {
                    if (*p == '\\' && p[1])
                        p++;
                    if (n + 1 >= size)
                        return false;
                    out[n++] = *p;
                }
                if (*p != '"')
                    return false;
            } else {
                for (; *p && *p != ';' && *p != ' ' && *p != '\t'; p++) {
                    if (n + 1 >= size)
                        return false;
                    out[n++] = *p;
                }
            }
            out[n] = '\0';
            return true;
        }
        p = strchr(p, ';');
    }
    return false;
}

bool pl_mp_boundary(const char *ct, char *out)
{
    static const char type[] = "multipart/form-data";
    if (!ct)
        return false;
    while (*ct == ' ')
        ct++;
    if (strncasecmp(ct, type, sizeof(type) - 1) ||
        (ct[sizeof(type) - 1] && ct[sizeof(type) - 1] != ';' && ct[sizeof(type) - 1] != ' '))
        return false;
    char b[PL_MP_BOUNDARY_MAX + 2];
    if (!param(ct, "boundary", b, sizeof(b)))
        return false;
    size_t n = strlen(b);
    if (n < 1 || n > PL_MP_BOUNDARY_MAX || b[n - 1] == ' ')
        return false;
    for (size_t i = 0; i < n; i++)
        if (!bchar((unsigned char)b[i]))
            return false;
    memcpy(out, b, n + 1);
    return true;
}

void pl_mp_init(pl_mp_t *mp, const char *boundary, const char *field,
                int (*on_data)(void *cls, const char *data, size_t n), void *cls)
{
    memset(mp, 0, sizeof(*mp));
    mp->field = field;
    mp->on_data = on_data;
    mp->cls = cls;
    size_t n = strnlen(boundary, PL_MP_BOUNDARY_MAX);
    memcpy(mp->delim, "\r\n--", 4);
    memcpy(mp->delim + 4, boundary, n);
    mp->delim_len = n + 4;
    mp->state = S_PREAMBLE;
    mp->match = 2; /* the body starts with "--boundary": as if after a CRLF */
}

static int emit(pl_mp_t *mp, const char *data, size_t n)
{
    if (!n || mp->state != S_BODY || !mp->in_wanted)
        return PL_MP_OK;
    return mp->on_data(mp->cls, data, n) ? PL_MP_ECALLBACK : PL_MP_OK;
}

/* The part's header block is in (hdr, without its final CRLF CRLF). */
static int headers_done(pl_mp_t *mp)
{
    mp->hdr[mp->hdr_len] = '\0';
    char name[256] = "", filename[PL_MP_NAME_MAX + 1] = "", ct[PL_MP_NAME_MAX + 1] = "";
    bool form_data = false;
    char *line = mp->hdr;
    while (line && *line) {
        char *end = strstr(line, "\r\n");
        if (end)
            *end = '\0';
        char *colon = strchr(line, ':');
        if (!colon)
            return PL_MP_EMALFORMED;
        *colon = '\0';
        char *v = colon + 1;
        while (*v == ' ' || *v == '\t')
            v++;
        if (!strcasecmp(line, "Content-Disposition")) {
            form_data = !strncasecmp(v, "form-data", 9);
            if (!param(v, "name", name, sizeof(name)))
                name[0] = '\0';
            if (!param(v, "filename", filename, sizeof(filename)))
                filename[0] = '\0';
        } else if (!strcasecmp(line, "Content-Type")) {
            size_t n = strlen(v);
            while (n && (v[n - 1] == ' ' || v[n - 1] == '\t'))
                n--;
            if (n > PL_MP_NAME_MAX)
                n = PL_MP_NAME_MAX;
            memcpy(ct, v, n);
            ct[n] = '\0';
        }
        line = end ? end + 2 : NULL;
    }
    mp->in_wanted = form_data && !mp->seen_wanted && !strcmp(name, mp->field);
    if (mp->in_wanted) {
        mp->found = true;
        memcpy(mp->filename, filename, sizeof(filename));
        memcpy(mp->content_type, ct, sizeof(ct));
    }
    mp->hdr_len = 0;
    mp->state = S_BODY;
    mp->match = 0;
    return PL_MP_OK;
}

int pl_mp_feed(pl_mp_t *mp, const char *data, size_t n)
{
    if (mp->result)
        return mp->result;
    int rc = PL_MP_OK;
    size_t i = 0;
    while (i < n && !rc) {
        unsigned char c = (unsigned char)data[i];
        switch (mp->state) {
        case S_PREAMBLE:
        case S_BODY:
            if (mp->match == 0) {
                /* the data up to the next CR is plain data */
                const char *cr = memchr(data + i, '\r', n - i);
                size_t run = cr ? (size_t)(cr - (data + i)) : n - i;
                rc = emit(mp, data + i, run);
                i += run;
                if (i < n) {
                    mp->match = 1;
                    i++;
                }
                break;
            }
            if ((char)c == mp->delim[mp->match]) {
                i++;
                if (++mp->match == mp->delim_len) {
                    if (mp->in_wanted) {
                        mp->in_wanted = false;
                        mp->seen_wanted = true;
                    }
                    mp->state = S_AFTER;
                    mp->after = 0;
                    mp->match = 0;
                }
                break;
            }
            /* a partial delimiter that was data after all; c is looked at
             * again with nothing matched */
            rc = emit(mp, mp->delim, mp->match);
            mp->match = 0;
            if (c == '\r') {
                mp->match = 1;
                i++;
            }
            break;
        case S_AFTER:
            i++;
            if (mp->after == 0 && (c == ' ' || c == '\t'))
                break; /* transport padding */
            mp->after_buf[mp->after++] = (char)c;
            if (mp->after == 2) {
                if (!memcmp(mp->after_buf, "--", 2)) {
                    mp->state = S_END;
                    mp->done = true;
                } else if (!memcmp(mp->after_buf, "\r\n", 2)) {
                    mp->state = S_HEADERS;
                    mp->hdr_len = 0;
                } else {
                    rc = PL_MP_EMALFORMED;
                }
            }
            break;
        case S_HEADERS:
            i++;
            if (mp->hdr_len + 1 >= sizeof(mp->hdr)) {
                rc = PL_MP_EMALFORMED;
                break;
            }
            mp->hdr[mp->hdr_len++] = (char)c;
            if (mp->hdr_len == 2 && !memcmp(mp->hdr, "\r\n", 2)) {
                mp->hdr_len = 0; /* a part without headers */
                rc = headers_done(mp);
            } else if (mp->hdr_len >= 4 && !memcmp(mp->hdr + mp->hdr_len - 4, "\r\n\r\n", 4)) {
                mp->hdr_len -= 4;
                rc = headers_done(mp);
            }
            break;
        default: /* S_END: the epilogue is ignored */
            i = n;
            break;
        }
    }
    mp->result = rc;
    return rc;
}
