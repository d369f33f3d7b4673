/* lag.h — the engine's own vital sign: how late a periodic uv timer fires.
 * A ring of the latest samples gives p50/p99/max; the ring itself is a pure
 * structure so it can be tested without a loop. */
#ifndef BATON_LAG_H
#define BATON_LAG_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

enum { LAG_RING = 600 }; /* a minute of samples at the default period */

typedef struct lag_ring {
    double ms[LAG_RING];
    size_t n, next;
    double max_ms; /* over the ring's current contents */
} lag_ring_t;

typedef struct lag_stats {
    double p50_ms, p99_ms, max_ms;
    size_t samples;
} lag_stats_t;

/* Adds one sample (milliseconds late), replacing the oldest when full. */
void lag_ring_add(lag_ring_t *r, double ms);

/* Percentiles and max of what the ring holds (zeros when empty). */
void lag_ring_stats(const lag_ring_t *r, lag_stats_t *out);

typedef struct lag {
    uv_timer_t timer;
    uint64_t period_ms;
    uint64_t expected_ns; /* when the next tick is due, uv_hrtime scale */
    lag_ring_t ring;
    double total_ms; /* sum of every sample, for the metrics counter */
    uint64_t ticks;
    int open;
} lag_t;

/* Starts measuring on loop every period_ms. Returns 0 or a negative libuv code. */
int lag_start(lag_t *l, uv_loop_t *loop, uint64_t period_ms);

/* Stops and closes the timer (the loop must run once more before l is freed).
 * A no-op when not started. */
void lag_stop(lag_t *l);

/* The figures of the samples taken so far (zeros before the first tick). */
void lag_stats(const lag_t *l, lag_stats_t *out);

#endif
