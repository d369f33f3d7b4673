/* run.h — one run's lifecycle: attempts as coroutines in the job's script
 * state, the deadline, retries with backoff, the fallback, cancellation, and
 * one store row per attempt. Plugged into the scheduler as its launcher. */
#ifndef BATON_RUN_H
#define BATON_RUN_H

#include <stddef.h>
#include <stdint.h>

#include "sched/sched.h"
#include "store/store.h"
#include "base/vclock.h"

typedef struct runner {
    vclock_t *clock;
    store_t *store; /* NULL: nothing recorded */
    sched_t *sched;
    struct retry_budget *budget; /* NULL: retries are not capped engine-wide */
    struct circuits *circuits;   /* named breakers; NULL: jobs' breakers are ignored */
    uint64_t rng;
    size_t live; /* runs launched and not finished */
    int64_t ok_total, failed_total;
    /* Called after every run has finished (for the drain); may be NULL. */
    void (*on_idle)(struct runner *r);
    void *ud;
} runner_t;

/* The sched_hooks_t launch and cancel functions; ud is the runner_t. */
void run_launch(void *ud, sched_start_t *start);
void run_cancel(void *ud, sched_start_t *start, const char *why);

#endif
