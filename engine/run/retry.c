/* retry.c — backoff and jitter. With u drawn from a seeded generator the
 * sequence is reproducible, which the dry-run tests rely on. */
#include "retry.h"

#include <math.h>
#include <string.h>

double retry_delay(const conf_retry_t *r, int next_attempt, double prev, double u) {
    double base = r->base, cap = r->max > 0 ? r->max : base;
    int n = next_attempt - 1; /* retries so far, including this one */
    double d;
    if (n < 1) n = 1;
    if (strcmp(r->backoff, "constant") == 0)
        d = base;
    else if (strcmp(r->backoff, "linear") == 0)
        d = base * n;
    else
        d = base * pow(2.0, n - 1 > 60 ? 60 : n - 1);
    if (d > cap) d = cap;
    if (strcmp(r->jitter, "full") == 0) return u * d;
    if (strcmp(r->jitter, "equal") == 0) return d / 2 + u * d / 2;
    if (strcmp(r->jitter, "decorrelated") == 0) {
        double hi = (prev > 0 ? prev : base) * 3;
        d = base + u * (hi - base);
        return d > cap ? cap : d;
    }
    return d;
}

double retry_wait(double delay, double retry_after) {
    if (!isfinite(retry_after) || retry_after <= 0) return delay;
    if (retry_after > RETRY_AFTER_MAX) retry_after = RETRY_AFTER_MAX;
    return retry_after > delay ? retry_after : delay;
}

_Static_assert((int)RETRY_BUDGET_SLOTS >= (int)CONF_RETRY_WINDOW_MAX,
               "every window engine.conf allows fits");

void retry_budget_init(retry_budget_t *b, int percent, int floor, double window) {
    memset(b, 0, sizeof *b);
    b->percent = percent;
    b->floor = floor;
    b->slots = window < 1 ? 1 : window > RETRY_BUDGET_SLOTS ? RETRY_BUDGET_SLOTS : (int)window;
    for (int i = 0; i < RETRY_BUDGET_SLOTS; i++) b->second[i] = INT64_MIN;
}

/* The slot of second `sec`, emptied first if it still counts an older second. */
static int budget_slot(retry_budget_t *b, int64_t sec) {
    int i = (int)(((sec % b->slots) + b->slots) % b->slots);
    if (b->second[i] != sec) {
        b->second[i] = sec;
        b->calls[i] = b->retries[i] = 0;
    }
    return i;
}

void retry_budget_call(retry_budget_t *b, double now) {
    b->calls[budget_slot(b, (int64_t)floor(now))]++;
}

int retry_budget_take(retry_budget_t *b, double now) {
    int64_t sec = (int64_t)floor(now);
    uint64_t calls = 0, retries = 0;
    for (int i = 0; i < b->slots; i++) {
        if (b->second[i] > sec - b->slots && b->second[i] <= sec) {
            calls += b->calls[i];
            retries += b->retries[i];
        }
    }
    uint64_t allowed = calls * (uint64_t)b->percent / 100;
    if (allowed < (uint64_t)b->floor) allowed = (uint64_t)b->floor;
    if (retries >= allowed) {
        b->refused++;
        return 0;
    }
    b->retries[budget_slot(b, sec)]++;
    return 1;
}
