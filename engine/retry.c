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
