/* cron.h — cron expressions: parsing and next-start computation.
 * 5 fields (min hour dom mon dow) or 6 with seconds first; names (jan, mon),
 * lists, ranges, steps; day-of-month and day-of-week OR'ed when both are
 * restricted, as in Vixie cron. Fields follow the local time zone (TZ). */
#ifndef BATON_CRON_H
#define BATON_CRON_H

#include <stddef.h>
#include <stdint.h>

typedef struct cron {
    uint64_t sec;    /* bit n: second n */
    uint64_t min;    /* bit n: minute n */
    uint32_t hour;   /* bit n: hour n */
    uint32_t dom;    /* bit n: day of month n (1..31) */
    uint16_t mon;    /* bit n: month n (1..12) */
    uint8_t dow;     /* bit n: weekday n (0 = Sunday .. 6) */
    uint8_t dom_any; /* day-of-month field began with '*' (so also a star step) or was '?' */
    uint8_t dow_any; /* day-of-week field began with '*' or was '?' (Vixie's rule) */
} cron_t;

/* Parses expr into *c. On error returns -EINVAL and writes one line to err
 * naming the field and the bad token ("cron field 'hour': 24 out of range 0-23").
 * Also accepts the macros @hourly @daily @midnight @weekly @monthly @yearly @annually. */
int cron_parse(cron_t *c, const char *expr, char *err, size_t errlen);

/* Returns the first start strictly after `after` (epoch seconds), in whole
 * seconds, computed in the local time zone; -1 when none exists within 8 years
 * (enough for any Feb 29; e.g. "0 0 30 2 *" gives -1). Local times skipped by a
 * DST change do not fire; a repeated hour fires at its first occurrence only. */
double cron_next(const cron_t *c, double after);

#endif
