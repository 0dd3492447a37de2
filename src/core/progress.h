/* progress.h - progress of a long command on standard error: on a terminal
 * one line rewritten in place (counts, percentage, rate), at most ten times a
 * second; otherwise a plain line every few seconds, so a log or a pipe gets
 * a readable record. Not thread-safe: one per command. */
#ifndef PL_PROGRESS_H
#define PL_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>

typedef struct {
    const char *what; /* "backup" */
    const char *unit; /* "pages" */
    bool tty;
    int64_t start_ms, last_ms;
    int64_t done, total;
} pl_progress_t;

/* Starts p for the command what counting unit (both static strings). */
void pl_progress_start(pl_progress_t *p, const char *what, const char *unit);
/* done of total (total 0: unknown) so far; prints when it is time. */
void pl_progress_update(pl_progress_t *p, int64_t done, int64_t total);
/* Prints the last line (on a terminal, ends it). */
void pl_progress_finish(pl_progress_t *p);

#endif
