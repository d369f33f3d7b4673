/* bench_primitives.c — the cost of the resilience primitives in ns per call:
 * breaker_allow + breaker_record (no window, count window, time window) and a
 * retry decision (backoff with jitter + a retry budget check). */
#include <stdio.h>
#include <time.h>

#include "base/breaker.h"
#include "run/retry.h"

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static double bench_breaker(breaker_window_t kind, int size) {
    breaker_opts_t o;
    breaker_t *b;
    char err[128];
    breaker_opts_default(&o);
    o.failures = 1000000; /* stay closed: measure the common path */
    if (kind != BREAKER_WINDOW_NONE) {
        o.window_kind = kind;
        o.window_size = size;
        o.failure_rate = 1.0;
    }
    if (breaker_new(&b, &o, err, sizeof err) < 0) return -1;
    const long n = 20000000;
    volatile long allowed = 0;
    double t0 = now_ns();
    for (long i = 0; i < n; i++) {
        double t = 1e9 + (double)i * 1e-5;
        allowed += breaker_allow(b, t);
        breaker_record(b, t, i % 7 != 0, 0.01);
    }
    double ns = (now_ns() - t0) / (double)n;
    breaker_free(b);
    return ns;
}

int main(void) {
    printf("breaker_allow+record ns: no_window=%.1f count_window_100=%.1f time_window_60s=%.1f\n",
           bench_breaker(BREAKER_WINDOW_NONE, 0), bench_breaker(BREAKER_WINDOW_COUNT, 100),
           bench_breaker(BREAKER_WINDOW_TIME, 60));
    conf_retry_t r = {
        .attempts = 5, .backoff = "exponential", .base = 1, .max = 30, .jitter = "full"};
    retry_budget_t budget;
    retry_budget_init(&budget, 20, 3, 10);
    const long n = 20000000;
    volatile double sink = 0;
    double t0 = now_ns();
    for (long i = 0; i < n; i++) {
        double t = 1e9 + (double)i * 1e-6;
        retry_budget_call(&budget, t);
        if (retry_budget_take(&budget, t)) sink += retry_delay(&r, 2 + (int)(i & 3), 1, 0.5);
    }
    printf("retry decision ns (budget call + take + delay): %.1f\n", (now_ns() - t0) / (double)n);
    return sink < 0;
}
