/* stats.c — percentiles by nearest rank and fixed-bucket histograms. */
#include "stats.h"

#include <math.h>
#include <stdlib.h>

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

double stats_percentile(double *v, size_t n, double p) {
    if (n == 0) return 0;
    qsort(v, n, sizeof *v, cmp_double);
    if (p <= 0) return v[0];
    if (p >= 100) return v[n - 1];
    /* nearest rank: the smallest value with at least p% of the sample at or below it */
    size_t rank = (size_t)ceil(p / 100.0 * (double)n);
    return v[rank ? rank - 1 : 0];
}

void stats_hist_init(stats_hist_t *h, const double *bounds, size_t nbounds) {
    *h = (stats_hist_t){.bounds = bounds,
                        .nbounds = nbounds > STATS_MAX_BUCKETS ? STATS_MAX_BUCKETS : nbounds};
}

void stats_hist_add(stats_hist_t *h, double v) {
    size_t i = 0;
    while (i < h->nbounds && v > h->bounds[i]) i++;
    h->counts[i]++;
    h->sum += v;
    h->count++;
}

uint64_t stats_hist_cumulative(const stats_hist_t *h, size_t i) {
    uint64_t total = 0;
    for (size_t k = 0; k <= i && k <= h->nbounds; k++) total += h->counts[k];
    return total;
}
