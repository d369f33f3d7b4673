/* stats.h — small numeric summaries used by health and metrics: percentiles
 * of a sample, and fixed-bucket histograms in the shape Prometheus expects.
 * Pure functions over caller-owned memory: no allocation, no clock. */
#ifndef BATON_STATS_H
#define BATON_STATS_H

#include <stddef.h>
#include <stdint.h>

enum { STATS_MAX_BUCKETS = 24 };

/* The p-th percentile (p in [0, 100]) of v[0..n) by nearest rank; sorts v in
 * place. 0 when n == 0. */
double stats_percentile(double *v, size_t n, double p);

/* A histogram with fixed upper bounds (ascending, in the unit observed);
 * counts[i] holds observations <= bounds[i] and > bounds[i-1], counts[nbounds]
 * those above the last bound. */
typedef struct stats_hist {
    const double *bounds;
    size_t nbounds;
    uint64_t counts[STATS_MAX_BUCKETS + 1];
    double sum;
    uint64_t count;
} stats_hist_t;

/* Initialises h over bounds (kept by pointer; nbounds <= STATS_MAX_BUCKETS). */
void stats_hist_init(stats_hist_t *h, const double *bounds, size_t nbounds);

/* Adds one observation. */
void stats_hist_add(stats_hist_t *h, double v);

/* The observations <= bounds[i], cumulative as Prometheus's `le` buckets. */
uint64_t stats_hist_cumulative(const stats_hist_t *h, size_t i);

#endif
