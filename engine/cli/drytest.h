/* drytest.h — `baton test`: the scripts loaded exactly as `baton run` loads
 * them, on a virtual clock and the fake browser. Each test of a *_test.lua
 * file runs on a fresh engine (store, clock at --start, scheduler, breakers);
 * with no test files, --for of the schedule is simulated and reported.
 * With --browser real the pages are real Chromium's, every request they make
 * answered from the fixtures (CDP Fetch interception). */
#ifndef BATON_DRYTEST_H
#define BATON_DRYTEST_H

#include <stddef.h>

#include "conf/conf.h"

typedef struct drytest_opts {
    char *const *paths; /* job scripts, *_test.lua files, or directories */
    size_t npaths;
    double start;  /* the virtual clock's start, epoch seconds */
    double window; /* simulation length without test files, seconds */
    int real;      /* --browser real: Chromium, its requests answered from fixtures */
} drytest_opts_t;

/* Runs the tests (or the simulation) and prints the results, ending with
 * "N passed, N failed". Returns the exit code: 0, or 1 on any failure. */
int drytest_main(const conf_t *conf, const drytest_opts_t *o);

#endif
