/* metrics.h — GET /metrics: the engine's counters, gauges and histograms in
 * the Prometheus text exposition format (version 0.0.4). */
#ifndef BATON_METRICS_H
#define BATON_METRICS_H

#include <stddef.h>

#include "health.h"

/* Renders every metric into a malloc'd, NUL-terminated buffer (caller frees)
 * and writes its length to *len. NULL when out of memory. */
char *metrics_render(const health_src_t *src, size_t *len);

#endif
