/* metrics.c - request counters and histograms, registered counters and gauges. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/metrics.h"

static const int statuses[] = {200, 201, 202, 204, 301, 302, 304, 400, 401, 403,
                               404, 405, 409, 413, 415, 422, 429, 500, 503};
#define NSTATUS (PL_ARRAY_LEN(statuses) + 1) /* last slot: any other status */
static const char *const methods[] = {"GET",    "POST",    "PUT",  "PATCH",
                                      "DELETE", "OPTIONS", "HEAD", "OTHER"};
#define NMETHOD PL_ARRAY_LEN(methods)
static const double buckets[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                 0.1,    0.25,  0.5,    1,     2.5,  5,     10};
#define NBUCKET PL_ARRAY_LEN(buckets)

typedef struct {
    _Atomic uint64_t requests[NMETHOD][NSTATUS];
    _Atomic uint64_t hist[NBUCKET];
    _Atomic uint64_t count;
    _Atomic uint64_t sum_us;
} route_stats_t;

static route_stats_t *stats; /* nroutes + 1: the last is "unmatched" */
static size_t nstats;
static const char *const *labels;

typedef struct gauge {
    const char *name, *help;
    double (*read)(void);
    struct gauge *next;
} gauge_t;

static pl_counter_t *counters;
static pl_histogram_t *histograms;
static gauge_t *gauges;
static int64_t start_ms;

void pl_metrics_init(size_t nroutes, const char *const *route_labels)
{
    labels = route_labels;
    nstats = nroutes + 1;
    stats = pl_xcalloc(nstats, sizeof(route_stats_t));
    start_ms = pl_now_ms();
}

static size_t status_slot(int status)
{
    for (size_t i = 0; i < PL_ARRAY_LEN(statuses); i++)
        if (statuses[i] == status)
            return i;
    return NSTATUS - 1;
}

static size_t method_slot(const char *m)
{
    for (size_t i = 0; i < NMETHOD - 1; i++)
        if (!strcmp(methods[i], m))
            return i;
    return NMETHOD - 1;
}

void pl_metrics_observe(int route, const char *method, int status, int64_t duration_us)
{
    if (!stats)
        return;
    route_stats_t *s = &stats[route < 0 ? nstats - 1 : (size_t)route];
    atomic_fetch_add_explicit(&s->requests[method_slot(method)][status_slot(status)], 1,
                              memory_order_relaxed);
    double secs = (double)duration_us / 1e6;
    for (size_t i = 0; i < NBUCKET; i++) {
        if (secs <= buckets[i]) {
            atomic_fetch_add_explicit(&s->hist[i], 1, memory_order_relaxed);
            break;
        }
    }
    atomic_fetch_add_explicit(&s->count, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->sum_us, (uint64_t)(duration_us > 0 ? duration_us : 0),
                              memory_order_relaxed);
}

void pl_metrics_register_counter(pl_counter_t *c)
{
    /* append, so families keep their registration order */
    c->next = NULL;
    pl_counter_t **p = &counters;
    while (*p)
        p = &(*p)->next;
    *p = c;
}

void pl_metrics_register_histogram(pl_histogram_t *h)
{
    if (h->nbounds > PL_HISTOGRAM_MAX_BUCKETS)
        h->nbounds = PL_HISTOGRAM_MAX_BUCKETS;
    h->next = NULL;
    pl_histogram_t **p = &histograms;
    while (*p)
        p = &(*p)->next;
    *p = h;
}

void pl_histogram_observe(pl_histogram_t *h, int64_t duration_us)
{
    double secs = (double)duration_us / 1e6;
    for (size_t i = 0; i < h->nbounds; i++) {
        if (secs <= h->bounds[i]) {
            atomic_fetch_add_explicit(&h->counts[i], 1, memory_order_relaxed);
            break;
        }
    }
    atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum_us, (uint64_t)(duration_us > 0 ? duration_us : 0),
                              memory_order_relaxed);
}

/* One histogram's samples; sep joins its labels and "le". */
static int render_histogram(pl_buf_t *b, const pl_histogram_t *h)
{
    int rc = 0;
    const char *sep = h->labels[0] ? "," : "";
    uint64_t count = atomic_load_explicit(&h->count, memory_order_relaxed), cum = 0;
    for (size_t i = 0; i < h->nbounds; i++) {
        cum += atomic_load_explicit(&h->counts[i], memory_order_relaxed);
        rc |= pl_buf_appendf(b, "%s_bucket{%s%sle=\"%g\"} %llu\n", h->name, h->labels, sep,
                             h->bounds[i], (unsigned long long)cum);
    }
    rc |= pl_buf_appendf(b, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", h->name, h->labels, sep,
                         (unsigned long long)count);
    double sum = (double)atomic_load_explicit(&h->sum_us, memory_order_relaxed) / 1e6;
    if (h->labels[0]) {
        rc |= pl_buf_appendf(b, "%s_sum{%s} %.6f\n", h->name, h->labels, sum);
        rc |=
            pl_buf_appendf(b, "%s_count{%s} %llu\n", h->name, h->labels, (unsigned long long)count);
    } else {
        rc |= pl_buf_appendf(b, "%s_sum %.6f\n", h->name, sum);
        rc |= pl_buf_appendf(b, "%s_count %llu\n", h->name, (unsigned long long)count);
    }
    return rc;
}

void pl_metrics_register_gauge(const char *name, const char *help, double (*read)(void))
{
    gauge_t *g = pl_xcalloc(1, sizeof(*g));
    g->name = name;
    g->help = help;
    g->read = read;
    gauge_t **p = &gauges;
    while (*p)
        p = &(*p)->next;
    *p = g;
}

static const char *route_label(size_t i)
{
    return i == nstats - 1 ? "unmatched" : labels[i];
}

static double resident_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f)
        return 0;
    unsigned long size = 0, rss = 0;
    int n = fscanf(f, "%lu %lu", &size, &rss);
    fclose(f);
    return n == 2 ? (double)rss * (double)sysconf(_SC_PAGESIZE) : 0;
}

static double cpu_seconds(void)
{
    FILE *f = fopen("/proc/self/stat", "r");
    if (!f)
        return 0;
    char buf[1024];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')');
    if (!p)
        return 0;
    unsigned long utime = 0, stime = 0;
    /* fields after the command: state, ppid, ... utime is field 14, stime 15 */
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime) != 2)
        return 0;
    return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

int pl_metrics_render(pl_buf_t *b)
{
    int rc = 0;
    rc |= pl_buf_appendf(b, "# HELP plinth_http_requests_total HTTP requests by route template.\n"
                            "# TYPE plinth_http_requests_total counter\n");
    for (size_t r = 0; stats && r < nstats; r++) {
        for (size_t m = 0; m < NMETHOD; m++) {
            for (size_t s = 0; s < NSTATUS; s++) {
                uint64_t v = atomic_load_explicit(&stats[r].requests[m][s], memory_order_relaxed);
                if (!v)
                    continue;
                char st[8];
                if (s < PL_ARRAY_LEN(statuses))
                    snprintf(st, sizeof(st), "%d", statuses[s]);
                else
                    snprintf(st, sizeof(st), "other");
                rc |= pl_buf_appendf(
                    b,
                    "plinth_http_requests_total{method=\"%s\",route=\"%s\",status=\"%s\"} %llu\n",
                    methods[m], route_label(r), st, (unsigned long long)v);
            }
        }
    }
    rc |= pl_buf_appendf(b, "# HELP plinth_http_request_duration_seconds HTTP request latency by "
                            "route template.\n"
                            "# TYPE plinth_http_request_duration_seconds histogram\n");
    for (size_t r = 0; stats && r < nstats; r++) {
        uint64_t count = atomic_load_explicit(&stats[r].count, memory_order_relaxed);
        if (!count)
            continue;
        uint64_t cum = 0;
        for (size_t i = 0; i < NBUCKET; i++) {
            cum += atomic_load_explicit(&stats[r].hist[i], memory_order_relaxed);
            rc |= pl_buf_appendf(
                b, "plinth_http_request_duration_seconds_bucket{route=\"%s\",le=\"%g\"} %llu\n",
                route_label(r), buckets[i], (unsigned long long)cum);
        }
        rc |= pl_buf_appendf(
            b, "plinth_http_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"} %llu\n",
            route_label(r), (unsigned long long)count);
        rc |= pl_buf_appendf(
            b, "plinth_http_request_duration_seconds_sum{route=\"%s\"} %.6f\n", route_label(r),
            (double)atomic_load_explicit(&stats[r].sum_us, memory_order_relaxed) / 1e6);
        rc |= pl_buf_appendf(b, "plinth_http_request_duration_seconds_count{route=\"%s\"} %llu\n",
                             route_label(r), (unsigned long long)count);
    }
    /* registered counters, grouped by family name */
    for (pl_counter_t *c = counters; c; c = c->next) {
        bool seen = false;
        for (pl_counter_t *p = counters; p != c; p = p->next)
            if (!strcmp(p->name, c->name))
                seen = true;
        if (seen)
            continue;
        rc |= pl_buf_appendf(b, "# HELP %s %s\n# TYPE %s counter\n", c->name, c->help, c->name);
        for (pl_counter_t *s = c; s; s = s->next) {
            if (strcmp(s->name, c->name))
                continue;
            uint64_t v = atomic_load_explicit(&s->value, memory_order_relaxed);
            if (s->labels[0])
                rc |= pl_buf_appendf(b, "%s{%s} %llu\n", s->name, s->labels, (unsigned long long)v);
            else
                rc |= pl_buf_appendf(b, "%s %llu\n", s->name, (unsigned long long)v);
        }
    }
    /* registered histograms, grouped by family name */
    for (pl_histogram_t *h = histograms; h; h = h->next) {
        bool seen = false;
        for (pl_histogram_t *p = histograms; p != h; p = p->next)
            if (!strcmp(p->name, h->name))
                seen = true;
        if (seen)
            continue;
        rc |= pl_buf_appendf(b, "# HELP %s %s\n# TYPE %s histogram\n", h->name, h->help, h->name);
        for (pl_histogram_t *s = h; s; s = s->next)
            if (!strcmp(s->name, h->name))
                rc |= render_histogram(b, s);
    }
    for (gauge_t *g = gauges; g; g = g->next)
        rc |= pl_buf_appendf(b, "# HELP %s %s\n# TYPE %s gauge\n%s %.17g\n", g->name, g->help,
                             g->name, g->name, g->read());
    rc |= pl_buf_appendf(b,
                         "# HELP process_resident_memory_bytes Resident memory size in bytes.\n"
                         "# TYPE process_resident_memory_bytes gauge\n"
                         "process_resident_memory_bytes %.0f\n"
                         "# HELP process_cpu_seconds_total Total user and system CPU time.\n"
                         "# TYPE process_cpu_seconds_total counter\n"
                         "process_cpu_seconds_total %.2f\n"
                         "# HELP process_start_time_seconds Start time since the epoch.\n"
                         "# TYPE process_start_time_seconds gauge\n"
                         "process_start_time_seconds %.3f\n",
                         resident_bytes(), cpu_seconds(), (double)start_ms / 1000.0);
    return rc ? PL_ELIMIT : PL_OK;
}
