/* busiest.h — the busiest stretch of a set of start times: the most starts in
 * any half-open window [t, t + span), sliding, not calendar-aligned. Pure; the
 * one computation behind `baton plan`'s and `baton test`'s busiest second and
 * minute. */
#ifndef BATON_BUSIEST_H
#define BATON_BUSIEST_H

#include <stddef.h>

typedef struct busiest {
    size_t count; /* the most starts in any [t, t + span); 0 for no starts */
    double from;  /* the first start of the earliest such window; 0 for none */
} busiest_t;

/* The most of the n start times `at` (epoch seconds, any order, duplicates
 * count each) that fall in one window [t, t + span), span > 0. Two starts
 * exactly span apart are in different windows. Reads `at` only (a sorted copy
 * is made when it is not in order). Returns 0, -EINVAL for span <= 0, or
 * -ENOMEM. */
int busiest_find(const double *at, size_t n, double span, busiest_t *out);

#endif
