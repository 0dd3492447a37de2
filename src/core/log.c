/* log.c - one JSON object per line on stderr. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/core.h"

void pl_log_raw(const char *line, size_t n)
{
    while (n > 0) {
        ssize_t w = write(STDERR_FILENO, line, n);
        if (w <= 0)
            return;
        line += w;
        n -= (size_t)w;
    }
}

void pl_log(const char *level, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);

    char ts[32];
    pl_time_format(pl_now_ms(), ts);
    pl_buf_t b;
    pl_buf_init(&b, 8192);
    pl_buf_appendf(&b, "{\"ts\":\"%s\",\"level\":\"%s\",\"msg\":\"", ts, level);
    pl_buf_append_json_escaped(&b, msg, strlen(msg));
    pl_buf_append(&b, "\"}\n", 3);
    pl_log_raw(b.ptr, b.len);
    pl_buf_free(&b);
}
