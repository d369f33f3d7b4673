/* scriptkit.h — shared set-up for tests that load real script files: a temp
 * directory, a virtual clock, an in-memory store, and a way to run a job's
 * function to completion on the virtual clock. */
#ifndef BATON_TEST_SCRIPTKIT_H
#define BATON_TEST_SCRIPTKIT_H

#include "conf/conf.h"
#include "sched/job.h"
#include "script/script.h"
#include "store/store.h"
#include "base/vclock.h"

typedef struct kit {
    char dir[256];
    vclock_t clock;
    store_t *store;
    conf_t conf;
    script_host_t host;
    /* the last finished coroutine */
    int done;
    script_co_t *co; /* while the last run waits */
    script_outcome_t out;
    char result[4096];
} kit_t;

/* Creates the temp dir (with lib/), a virtual clock at 2024-01-01 and a store. */
void kit_init(kit_t *k);
/* Frees everything and removes the temp dir. */
void kit_free(kit_t *k);
/* Writes text to dir/name and returns the full path (static buffer). */
const char *kit_write(kit_t *k, const char *name, const char *text);
/* Loads a script from text; returns NULL and fills err on failure. */
script_t *kit_load(kit_t *k, const char *name, const char *text, char *err, size_t errlen);
/* Runs the job's run function: starts it, then advances the virtual clock up to
 * max_seconds until it finishes. Returns 1 when it finished. */
int kit_run(kit_t *k, job_t *j, double max_seconds);
/* Advances the virtual clock up to max_seconds until the waiting run
 * finishes. Returns 1 when it finished. */
int kit_wait(kit_t *k, double max_seconds);
/* Loads text and returns its jobs (NULL and err on failure). */
job_t **kit_jobs(kit_t *k, const char *name, const char *text, size_t *n, char *err, size_t errlen);

#endif
