/* progress.c - progress lines of long commands (see progress.h). */
#include "core/progress.h"

#include <stdio.h>
#include <unistd.h>

#include "core/core.h"

#define TTY_INTERVAL_MS   100
#define PLAIN_INTERVAL_MS 5000

void pl_progress_start(pl_progress_t *p, const char *what, const char *unit)
{
    *p = (pl_progress_t){.what = what, .unit = unit, .tty = isatty(STDERR_FILENO) == 1};
    p->start_ms = p->last_ms = pl_now_ms();
}

static void print(pl_progress_t *p, bool last)
{
    int64_t ms = pl_now_ms() - p->start_ms;
    double rate = ms > 0 ? (double)p->done * 1000.0 / (double)ms : 0.0;
    char pct[16] = "";
    if (p->total > 0)
        snprintf(pct, sizeof(pct), " (%d%%)", (int)(p->done * 100 / p->total));
    char of[32] = "";
    if (p->total > 0)
        snprintf(of, sizeof(of), "/%lld", (long long)p->total);
    fprintf(stderr, "%s%s: %lld%s %s%s, %.0f %s/s, %.1f s%s", p->tty ? "\r\033[K" : "", p->what,
            (long long)p->done, of, p->unit, pct, rate, p->unit, (double)ms / 1000.0,
            p->tty && !last ? "" : "\n");
    fflush(stderr);
}

void pl_progress_update(pl_progress_t *p, int64_t done, int64_t total)
{
    p->done = done;
    p->total = total;
    int64_t now = pl_now_ms();
    if (now - p->last_ms < (p->tty ? TTY_INTERVAL_MS : PLAIN_INTERVAL_MS))
        return;
    p->last_ms = now;
    print(p, false);
}

void pl_progress_finish(pl_progress_t *p)
{
    print(p, true);
}
