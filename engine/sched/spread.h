/* spread.h — offset = "auto": choosing phases for interval jobs so that all
 * starts spread out evenly. Pure computation over a day (or the longest period)
 * of starts; the caller keeps chosen offsets (in the store) so placement is stable. */
#ifndef BATON_SPREAD_H
#define BATON_SPREAD_H

#include <stddef.h>

/* Start-time generator for a job whose offset is already decided (fixed
 * offsets, cron jobs): returns the first start strictly after `after`, or -1. */
typedef double (*spread_next_fn)(const void *ud, double after);

typedef struct spread_job {
    const char *name;
    double every;        /* period in seconds (> 0) for interval jobs; 0 for others */
    double offset;       /* in: offset when fixed; out: chosen (whole seconds, [0, every)) */
    int fixed;           /* 1: offset already known (explicit or stored), 0: place me */
    spread_next_fn next; /* for every == 0 (cron jobs): their start times */
    const void *next_ud;
} spread_job_t;

/* Places every interval job with fixed == 0, leaving fixed jobs where they are,
 * and sets their offset (and fixed = 1). Starts are counted from `day_start`
 * (epoch seconds, e.g. the UTC midnight before now) for max(1 day, longest
 * period): fixed interval jobs from every and offset, jobs with every == 0 from
 * `next` (never placed; without `next` they count for nothing). Jobs are placed
 * one at a time, shortest period first (then by name, then input order), each at
 * the offset that minimises, in order: the most starts in any one second, the
 * most in any one calendar minute, the sum over its starts of the starts already
 * in the same minute, the closeness of other starts within 30 s (each weighs
 * 31 - distance), and the offset itself. Deterministic for the same jobs and
 * day_start (periods that do not divide a day and cron starts make the result
 * depend on the day: hence the store). Returns 0, -ENOMEM, or -EINVAL (day_start
 * not finite, a horizon over 2^31 s, or a job with over 1e8 starts in it); on
 * error no job is changed. */
int spread_place(spread_job_t *jobs, size_t n, double day_start);

#endif
