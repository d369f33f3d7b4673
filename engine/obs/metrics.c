/* metrics.c — Prometheus text exposition of obs counters, scheduler gauges,
 * breaker states, pool figures, the HTTP client's figures and loop lag. Every family has HELP and
 * TYPE; label values are escaped as the format requires. */
#include "metrics.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct out {
    char *buf;
    size_t len, cap;
    int oom;
} out_t;

static void put(out_t *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(out_t *o, const char *fmt, ...) {
    va_list ap;
    if (o->oom) return;
    for (;;) {
        va_start(ap, fmt);
        int n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            o->oom = 1;
            return;
        }
        if ((size_t)n < o->cap - o->len) {
            o->len += (size_t)n;
            return;
        }
        size_t cap = o->cap * 2 + (size_t)n;
        char *more = realloc(o->buf, cap);
        if (!more) {
            o->oom = 1;
            return;
        }
        o->buf = more;
        o->cap = cap;
    }
}

static void family(out_t *o, const char *name, const char *type, const char *help) {
    put(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A label value with \, " and newlines escaped, into buf. */
static const char *esc(const char *s, char *buf, size_t len) {
    size_t n = 0;
    for (; *s && n + 3 < len; s++) {
        if (*s == '\\' || *s == '"') {
            buf[n++] = '\\';
            buf[n++] = *s;
        } else if (*s == '\n') {
            buf[n++] = '\\';
            buf[n++] = 'n';
        } else {
            buf[n++] = *s;
        }
    }
    buf[n] = 0;
    return buf;
}

static void job_counters(out_t *o, const obs_t *obs) {
    char name[512];
    family(o, "baton_runs_total", "counter", "Starts of a job that ended, by final status.");
    for (size_t i = 0; i < obs_njobs(obs); i++) {
        const obs_job_t *j = obs_job(obs, i);
        for (int s = 0; s < OBS_STATUS_COUNT; s++)
            if (j->runs[s])
                put(o, "baton_runs_total{job=\"%s\",status=\"%s\"} %llu\n",
                    esc(j->name, name, sizeof name), obs_status_name((obs_status_t)s),
                    (unsigned long long)j->runs[s]);
    }
    family(o, "baton_errors_total", "counter", "Failed attempts, by job and error kind.");
    for (size_t i = 0; i < obs_njobs(obs); i++) {
        const obs_job_t *j = obs_job(obs, i);
        for (int k = 1; k < ERR_KIND_COUNT; k++)
            if (j->errors[k])
                put(o, "baton_errors_total{job=\"%s\",kind=\"%s\"} %llu\n",
                    esc(j->name, name, sizeof name), err_kind_name((err_kind_t)k),
                    (unsigned long long)j->errors[k]);
    }
    family(o, "baton_retries_total", "counter", "Attempts after the first, by job.");
    for (size_t i = 0; i < obs_njobs(obs); i++) {
        const obs_job_t *j = obs_job(obs, i);
        put(o, "baton_retries_total{job=\"%s\"} %llu\n", esc(j->name, name, sizeof name),
            (unsigned long long)j->retries);
    }
    family(o, "baton_run_duration_seconds", "histogram", "Duration of each attempt, by job.");
    for (size_t i = 0; i < obs_njobs(obs); i++) {
        const obs_job_t *j = obs_job(obs, i);
        esc(j->name, name, sizeof name);
        for (size_t b = 0; b < j->duration.nbounds; b++)
            put(o, "baton_run_duration_seconds_bucket{job=\"%s\",le=\"%g\"} %llu\n", name,
                j->duration.bounds[b], (unsigned long long)stats_hist_cumulative(&j->duration, b));
        put(o, "baton_run_duration_seconds_bucket{job=\"%s\",le=\"+Inf\"} %llu\n", name,
            (unsigned long long)j->duration.count);
        put(o, "baton_run_duration_seconds_sum{job=\"%s\"} %.6f\n", name, j->duration.sum);
        put(o, "baton_run_duration_seconds_count{job=\"%s\"} %llu\n", name,
            (unsigned long long)j->duration.count);
    }
}

static void pool_metrics(out_t *o, const obs_pool_t *p) {
    family(o, "baton_pool_browsers", "gauge", "Browsers the pool holds.");
    put(o, "baton_pool_browsers %d\n", p->browsers);
    family(o, "baton_pool_browser_contexts", "gauge",
           "Browser contexts the pooled pages are in (runs without a session share one).");
    put(o, "baton_pool_browser_contexts %d\n", p->browser_contexts);
    family(o, "baton_pool_pages", "gauge", "Pooled pages, by state.");
    put(o, "baton_pool_pages{state=\"busy\"} %d\n", p->pages_busy);
    put(o, "baton_pool_pages{state=\"idle\"} %d\n", p->pages_idle);
    put(o, "baton_pool_pages{state=\"reserved\"} %d\n", p->pages_reserved);
    family(o, "baton_pool_waiters", "gauge", "Runs waiting for a browser context.");
    put(o, "baton_pool_waiters %d\n", p->waiters);
    family(o, "baton_pool_pages_created_total", "counter", "Pooled pages created.");
    put(o, "baton_pool_pages_created_total %llu\n", (unsigned long long)p->created_total);
    family(o, "baton_pool_pages_reused_total", "counter", "Leases served by a reused page.");
    put(o, "baton_pool_pages_reused_total %llu\n", (unsigned long long)p->reused_total);
    family(o, "baton_pool_pages_recycled_total", "counter",
           "Pages disposed of after max_uses, idle_timeout or a fault.");
    put(o, "baton_pool_pages_recycled_total %llu\n", (unsigned long long)p->recycled_total);
    family(o, "baton_browser_crashes_total", "counter", "Browsers that crashed.");
    put(o, "baton_browser_crashes_total %llu\n", (unsigned long long)p->crashes_total);
    family(o, "baton_browser_hangs_total", "counter",
           "Browsers killed and relaunched for missing a heartbeat.");
    put(o, "baton_browser_hangs_total %llu\n", (unsigned long long)p->hangs_total);
    family(o, "baton_pool_acquire_seconds", "histogram", "Time a run waited for a page.");
    uint64_t cum = 0;
    for (size_t b = 0; b < OBS_ACQUIRE_BUCKETS; b++) {
        cum += p->acquire_buckets[b];
        put(o, "baton_pool_acquire_seconds_bucket{le=\"%g\"} %llu\n",
            obs_acquire_bounds_ms[b] / 1000, (unsigned long long)cum);
    }
    cum += p->acquire_buckets[OBS_ACQUIRE_BUCKETS];
    put(o, "baton_pool_acquire_seconds_bucket{le=\"+Inf\"} %llu\n", (unsigned long long)cum);
    put(o, "baton_pool_acquire_seconds_sum %.6f\n", p->acquire_sum_ms / 1000);
    put(o, "baton_pool_acquire_seconds_count %llu\n", (unsigned long long)p->acquire_count);
}

/* baton.http's client: requests by host and outcome, their durations, and
 * those in flight. Only the series counted so far are written. */
static void http_client_metrics(out_t *o, obs_t *obs) {
    httpstat_t *s = obs_http_client(obs);
    char host[HTTPSTAT_HOST_LEN * 2];
    family(o, "baton_http_client_requests_total", "counter",
           "baton.http requests that ended, by host (host[:port]; past 100 hosts \"other\") and "
           "outcome.");
    for (size_t i = 0; i <= s->nhosts; i++) {
        const httpstat_host_t *h = i < s->nhosts ? &s->hosts[i] : &s->other;
        esc(h->name, host, sizeof host);
        for (int k = 0; k < HTTPSTAT_OUTCOMES; k++)
            if (h->requests[k])
                put(o, "baton_http_client_requests_total{host=\"%s\",outcome=\"%s\"} %llu\n", host,
                    httpstat_outcome_name((httpstat_outcome_t)k),
                    (unsigned long long)h->requests[k]);
    }
    const stats_hist_t *d = &s->duration;
    family(o, "baton_http_client_duration_seconds", "histogram",
           "Duration of each baton.http request that ended, from its start to its answer.");
    for (size_t b = 0; b < d->nbounds; b++)
        put(o, "baton_http_client_duration_seconds_bucket{le=\"%g\"} %llu\n", d->bounds[b],
            (unsigned long long)stats_hist_cumulative(d, b));
    put(o, "baton_http_client_duration_seconds_bucket{le=\"+Inf\"} %llu\n",
        (unsigned long long)d->count);
    put(o, "baton_http_client_duration_seconds_sum %.6f\n", d->sum);
    put(o, "baton_http_client_duration_seconds_count %llu\n", (unsigned long long)d->count);
    family(o, "baton_http_client_in_flight", "gauge", "baton.http requests in flight.");
    put(o, "baton_http_client_in_flight %zu\n", httpstat_inflight(s));
}

static void add_breaker(void *ud, const char *name, breaker_t *b) {
    char buf[256];
    put(ud, "baton_breaker_state{breaker=\"%s\"} %d\n", esc(name, buf, sizeof buf),
        (int)breaker_state(b));
}

char *metrics_render(const health_src_t *src, size_t *len) {
    out_t o = {.cap = 16384};
    o.buf = malloc(o.cap);
    if (!o.buf) return NULL;
    o.buf[0] = 0;
    double now = vclock_now(src->clock);

    family(&o, "baton_up", "gauge", "1 while the engine serves this endpoint.");
    put(&o, "baton_up 1\n");
    family(&o, "baton_uptime_seconds", "gauge", "Seconds since the engine started.");
    put(&o, "baton_uptime_seconds %.0f\n", now - src->started_at);
    family(&o, "baton_jobs", "gauge", "Jobs loaded.");
    put(&o, "baton_jobs %zu\n", sched_njobs(src->sched));
    job_counters(&o, src->obs);
    family(&o, "baton_runs_running", "gauge", "Runs in flight.");
    put(&o, "baton_runs_running %zu\n", sched_running(src->sched));
    family(&o, "baton_runs_waiting", "gauge", "Starts waiting in the ready queue.");
    put(&o, "baton_runs_waiting %zu\n", sched_queued(src->sched));

    obs_pool_t pool;
    obs_pool(src->obs, &pool);
    pool_metrics(&o, &pool);

    family(&o, "baton_breaker_state", "gauge",
           "Circuit breaker state: 0 closed, 1 open, 2 half_open.");
    if (src->circuits) circuits_each(src->circuits, add_breaker, &o);

    http_client_metrics(&o, src->obs);

    lag_stats_t lag = {0};
    if (src->lag) lag_stats(src->lag, &lag);
    family(&o, "baton_event_loop_lag_seconds", "summary",
           "How late the engine's periodic loop timer fires (recent samples).");
    put(&o, "baton_event_loop_lag_seconds{quantile=\"0.5\"} %.6f\n", lag.p50_ms / 1000);
    put(&o, "baton_event_loop_lag_seconds{quantile=\"0.99\"} %.6f\n", lag.p99_ms / 1000);
    put(&o, "baton_event_loop_lag_seconds_sum %.6f\n", src->lag ? src->lag->total_ms / 1000 : 0);
    put(&o, "baton_event_loop_lag_seconds_count %llu\n",
        (unsigned long long)(src->lag ? src->lag->ticks : 0));
    family(&o, "baton_event_loop_lag_max_seconds", "gauge",
           "The largest loop lag among the recent samples.");
    put(&o, "baton_event_loop_lag_max_seconds %.6f\n", lag.max_ms / 1000);

    if (o.oom) {
        free(o.buf);
        return NULL;
    }
    *len = o.len;
    return o.buf;
}
