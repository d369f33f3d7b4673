/* retry.h — backoff between attempts: exponential, linear or constant growth
 * capped at `max`, with the jitter modes of the well-known AWS analysis
 * (none, full, equal, decorrelated). Pure functions. */
#ifndef BATON_RETRY_H
#define BATON_RETRY_H

#include <stdint.h>

#include "conf/conf.h"

/* The delay in seconds before attempt `next_attempt` (2 for the first retry).
 * `prev` is the previous delay (decorrelated jitter builds on it; pass 0 the
 * first time) and `u` a uniform random number in [0, 1). */
double retry_delay(const conf_retry_t *r, int next_attempt, double prev, double u);

/* The longest wait an error's retry_after may ask for (a 429's Retry-After
 * included): one hour. */
#define RETRY_AFTER_MAX 3600.0

/* The wait before a retry whose backoff is `delay` and whose error asked for
 * `retry_after` seconds: the longer of the two, retry_after capped at
 * RETRY_AFTER_MAX; a retry_after that is NaN, infinite, zero or negative
 * counts as absent. The one place both a job's retries and baton.retry
 * take an error's retry_after into account. */
double retry_wait(double delay, double retry_after);

/* The engine-wide retry budget: a token bucket over a sliding window of
 * one-second slots. Retries may add at most `percent` % to the attempts made
 * in the last `window` seconds, with `floor` retries always allowed, so an
 * outage cannot turn into a retry storm. */
enum { RETRY_BUDGET_SLOTS = 60 };

typedef struct retry_budget {
    int percent, floor;
    int slots;                          /* window in seconds, 1..60 */
    int64_t second[RETRY_BUDGET_SLOTS]; /* which second each slot counts */
    uint32_t calls[RETRY_BUDGET_SLOTS]; /* attempts started (first ones and retries) */
    uint32_t retries[RETRY_BUDGET_SLOTS];
    uint64_t refused; /* retries the budget refused, in all */
} retry_budget_t;

/* Initialises an empty budget; window is clamped to 1..60 seconds. */
void retry_budget_init(retry_budget_t *b, int percent, int floor, double window);

/* Counts an attempt started at `now`. */
void retry_budget_call(retry_budget_t *b, double now);

/* Asks for one retry at `now`: returns 1 and counts it when the budget allows,
 * else 0 (and counts the refusal). */
int retry_budget_take(retry_budget_t *b, double now);

#endif
