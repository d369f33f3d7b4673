/* retry.h — backoff between attempts: exponential, linear or constant growth
 * capped at `max`, with the jitter modes of the well-known AWS analysis
 * (none, full, equal, decorrelated). Pure functions. */
#ifndef BATON_RETRY_H
#define BATON_RETRY_H

#include "conf.h"

/* The delay in seconds before attempt `next_attempt` (2 for the first retry).
 * `prev` is the previous delay (decorrelated jitter builds on it; pass 0 the
 * first time) and `u` a uniform random number in [0, 1). */
double retry_delay(const conf_retry_t *r, int next_attempt, double prev, double u);

#endif
