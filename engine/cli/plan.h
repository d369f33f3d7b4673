/* plan.h — `baton check` and `baton plan`: the scripts' jobs laid out on a
 * virtual clock through the real scheduler, the table of next starts, the
 * start timeline and its collision report (text or JSON). */
#ifndef BATON_PLAN_H
#define BATON_PLAN_H

#include <stdint.h>

#include "conf/conf.h"
#include "core/scripts.h"

typedef struct plan_opts {
    double start, end; /* the window, epoch seconds */
    int json;
    int jitter; /* apply jitter (plan --seed) */
    uint64_t seed;
} plan_opts_t;

/* Prints the check table (or JSON) for the loaded set. Auto offsets are read
 * from the store when it exists (never written). Returns the exit code. */
int plan_check(const conf_t *conf, scripts_set_t *set, const plan_opts_t *o);

/* Prints the plan for the window. Returns the exit code. */
int plan_print(const conf_t *conf, scripts_set_t *set, const plan_opts_t *o);

#endif
