/* busiest.c — the most starts in any window of `span` seconds, by a two-index
 * sweep over the sorted times: each start opens a candidate window, and the
 * back index drops the starts that fell out of it. */
#include "busiest.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int busiest_cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int busiest_sorted(const double *at, size_t n) {
    for (size_t i = 1; i < n; i++)
        if (at[i] < at[i - 1]) return 0;
    return 1;
}

int busiest_find(const double *at, size_t n, double span, busiest_t *out) {
    double *copy = NULL;
    *out = (busiest_t){0, 0};
    if (!(span > 0)) return -EINVAL;
    if (!busiest_sorted(at, n)) {
        copy = malloc(n * sizeof *copy);
        if (!copy) return -ENOMEM;
        memcpy(copy, at, n * sizeof *copy);
        qsort(copy, n, sizeof *copy, busiest_cmp);
        at = copy;
    }
    /* For each start i, starts j..i (at[i] - at[j] < span) fit in the window
     * that opens at at[j]. A busiest window can always be slid right until it
     * opens at a start, so the largest of these n counts is the answer. */
    for (size_t i = 0, j = 0; i < n; i++) {
        while (at[i] - at[j] >= span) j++;
        if (i - j + 1 > out->count) *out = (busiest_t){i - j + 1, at[j]};
    }
    free(copy);
    return 0;
}
