/* metrics.h - Prometheus metrics: per-route request counters and latency
 * histograms (lock-free atomics), plus counters and gauges other modules
 * register. Rendering follows the text exposition format 0.0.4. */
#ifndef PL_METRICS_H
#define PL_METRICS_H

#include <stdatomic.h>

#include "core/core.h"

/* Allocates the per-route tables; call once after the route table is final.
 * route_labels[i] is route i's template (borrowed for the process's life).
 * Without it (worker-only processes) no request metrics are rendered. */
void pl_metrics_init(size_t nroutes, const char *const *route_labels);
/* Records one request; route is the route index, or -1 when unmatched. */
void pl_metrics_observe(int route, const char *method, int status, int64_t duration_us);

/* A counter sample: name plus a fixed label set such as `outcome="success"`.
 * Counters are static objects owned by their module; register each once at
 * start, before serving. Samples with the same name render as one family. */
typedef struct pl_counter {
    const char *name;
    const char *help;
    const char *labels; /* "" or `key="value",...` */
    _Atomic uint64_t value;
    struct pl_counter *next;
} pl_counter_t;

void pl_metrics_register_counter(pl_counter_t *c);
static inline void pl_counter_inc(pl_counter_t *c)
{
    atomic_fetch_add_explicit(&c->value, 1, memory_order_relaxed);
}

/* A histogram of durations: name, help, a fixed label set ("" or
 * `key="value",...`) and upper bucket bounds in seconds (ascending, at most
 * PL_HISTOGRAM_MAX_BUCKETS; +Inf is implied). Static objects owned by their
 * module, registered once at start like counters; observing is lock-free. */
#define PL_HISTOGRAM_MAX_BUCKETS 16
typedef struct pl_histogram {
    const char *name;
    const char *help;
    const char *labels;
    const double *bounds;
    size_t nbounds;
    _Atomic uint64_t counts[PL_HISTOGRAM_MAX_BUCKETS];
    _Atomic uint64_t count;
    _Atomic uint64_t sum_us;
    struct pl_histogram *next;
} pl_histogram_t;

void pl_metrics_register_histogram(pl_histogram_t *h);
/* Records one observation of duration_us microseconds. Thread-safe. */
void pl_histogram_observe(pl_histogram_t *h, int64_t duration_us);

/* A gauge read by a callback at render time (may run a query; called on the
 * thread serving /metrics). */
void pl_metrics_register_gauge(const char *name, const char *help, double (*read)(void));

/* Renders every metric into b. */
int pl_metrics_render(pl_buf_t *b);

#endif
