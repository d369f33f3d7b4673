/* lag.c — event-loop lag: a repeating uv timer that notes how far past its
 * due time each tick runs, kept in a ring of recent samples. */
#include "lag.h"

#include <string.h>

#include "base/stats.h"

void lag_ring_add(lag_ring_t *r, double ms) {
    if (ms < 0) ms = 0;
    double dropped = r->n == LAG_RING ? r->ms[r->next] : -1;
    r->ms[r->next] = ms;
    r->next = (r->next + 1) % LAG_RING;
    if (r->n < LAG_RING) r->n++;
    if (ms >= r->max_ms) {
        r->max_ms = ms;
    } else if (dropped >= r->max_ms) {
        /* the maximum left the ring: find the new one */
        r->max_ms = 0;
        for (size_t i = 0; i < r->n; i++)
            if (r->ms[i] > r->max_ms) r->max_ms = r->ms[i];
    }
}

void lag_ring_stats(const lag_ring_t *r, lag_stats_t *out) {
    double copy[LAG_RING];
    memcpy(copy, r->ms, r->n * sizeof *copy);
    out->samples = r->n;
    out->max_ms = r->max_ms;
    out->p50_ms = stats_percentile(copy, r->n, 50);
    out->p99_ms = stats_percentile(copy, r->n, 99);
}

static void on_tick(uv_timer_t *t) {
    lag_t *l = t->data;
    uint64_t now = uv_hrtime();
    double late = now > l->expected_ns ? (double)(now - l->expected_ns) / 1e6 : 0;
    /* uv timers have millisecond resolution: up to a millisecond late is the
     * timer's grain, not lag */
    late = late < 1.0 ? 0 : late - 1.0;
    lag_ring_add(&l->ring, late);
    l->total_ms += late;
    l->ticks++;
    l->expected_ns = (uv_now(t->loop) + l->period_ms) * 1000000ULL;
    uv_timer_start(&l->timer, on_tick, l->period_ms, 0);
}

int lag_start(lag_t *l, uv_loop_t *loop, uint64_t period_ms) {
    memset(l, 0, sizeof *l);
    int rc = uv_timer_init(loop, &l->timer);
    if (rc < 0) return rc;
    l->open = 1;
    l->timer.data = l;
    l->period_ms = period_ms;
    /* the timer is due against the loop's cached time, so measure from it */
    l->expected_ns = (uv_now(loop) + period_ms) * 1000000ULL;
    /* measuring must never keep the loop alive on its own */
    uv_unref((uv_handle_t *)&l->timer);
    return uv_timer_start(&l->timer, on_tick, period_ms, 0);
}

void lag_stop(lag_t *l) {
    if (!l->open) return;
    l->open = 0;
    uv_close((uv_handle_t *)&l->timer, NULL);
}

void lag_stats(const lag_t *l, lag_stats_t *out) { lag_ring_stats(&l->ring, out); }
