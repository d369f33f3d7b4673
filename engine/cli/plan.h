/* plan.h — `baton check` and `baton plan`: the scripts' jobs laid out on a
 * virtual clock through the real scheduler, the table of next starts, the
 * start timeline and its collision report (text or JSON). */
#ifndef BATON_PLAN_H
#define BATON_PLAN_H

#include <stdint.h>

#include <stddef.h>

#include "conf/conf.h"

typedef struct plan_opts {
    double start, end; /* the window, epoch seconds */
    int json;
    int jitter; /* apply jitter (plan --seed) */
    uint64_t seed;
} plan_opts_t;

/* Loads the scripts of paths (none: conf->scripts) at o->start, errors to
 * stderr, and prints the check table (or JSON). Auto offsets are read from
 * the store when it exists (never written). Returns the exit code: 1 when a
 * script failed or the set was refused. */
int plan_check(const conf_t *conf, char *const *paths, size_t npaths, const plan_opts_t *o);

/* The same, and prints the plan for the window. Returns the exit code. */
int plan_print(const conf_t *conf, char *const *paths, size_t npaths, const plan_opts_t *o);

#endif
