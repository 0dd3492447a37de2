/* log.c - one JSON object per line on stderr. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
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

/* ---- buffered lines (the access log) ---- */

#define TBUF_SIZE (32 * 1024)

typedef struct tbuf {
    pthread_mutex_t mu; /* taken by the owner thread and the flusher only */
    size_t len;
    struct tbuf *next;
    char data[TBUF_SIZE];
} tbuf_t;

static pthread_mutex_t tbufs_mu = PTHREAD_MUTEX_INITIALIZER;
static tbuf_t *tbufs; /* every thread's buffer; kept until pl_log_flush_stop */
static __thread tbuf_t *my_tbuf;

static pthread_t flusher;
static bool flusher_running;
static atomic_bool flusher_stop;

static void tbuf_write_locked(tbuf_t *b)
{
    if (b->len) {
        pl_log_raw(b->data, b->len);
        b->len = 0;
    }
}

void pl_log_buffered(const char *line, size_t n)
{
    if (!flusher_running || n > TBUF_SIZE) {
        pl_log_raw(line, n);
        return;
    }
    tbuf_t *b = my_tbuf;
    if (!b) {
        b = pl_xcalloc(1, sizeof(*b));
        pthread_mutex_init(&b->mu, NULL);
        pthread_mutex_lock(&tbufs_mu);
        b->next = tbufs;
        tbufs = b;
        pthread_mutex_unlock(&tbufs_mu);
        my_tbuf = b;
    }
    pthread_mutex_lock(&b->mu);
    if (b->len + n > TBUF_SIZE)
        tbuf_write_locked(b);
    memcpy(b->data + b->len, line, n);
    b->len += n;
    pthread_mutex_unlock(&b->mu);
}

static void flush_all(void)
{
    pthread_mutex_lock(&tbufs_mu);
    for (tbuf_t *b = tbufs; b; b = b->next) {
        pthread_mutex_lock(&b->mu);
        tbuf_write_locked(b);
        pthread_mutex_unlock(&b->mu);
    }
    pthread_mutex_unlock(&tbufs_mu);
}

static void *flush_loop(void *arg)
{
    (void)arg;
    while (!atomic_load(&flusher_stop)) {
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
        flush_all();
    }
    return NULL;
}

void pl_log_flush_start(void)
{
    atomic_store(&flusher_stop, false);
    flusher_running = pthread_create(&flusher, NULL, flush_loop, NULL) == 0;
}

void pl_log_flush_stop(void)
{
    if (!flusher_running)
        return;
    atomic_store(&flusher_stop, true);
    pthread_join(flusher, NULL);
    flusher_running = false;
    flush_all();
    pthread_mutex_lock(&tbufs_mu);
    while (tbufs) {
        tbuf_t *next = tbufs->next;
        pthread_mutex_destroy(&tbufs->mu);
        free(tbufs);
        tbufs = next;
    }
    pthread_mutex_unlock(&tbufs_mu);
}
