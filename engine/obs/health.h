/* health.h — the engine's state as JSON documents: the health report
 * (GET /api/system/health), the job list and one job (GET /api/jobs[/NAME]),
 * run history (GET /api/runs). Everything is read through the public
 * functions of sched, store, circuits, obs and lag; nothing here changes state. */
#ifndef BATON_HEALTH_H
#define BATON_HEALTH_H

#include <cJSON.h>

#include "run/circuit.h"
#include "conf/conf.h"
#include "lag.h"
#include "obs.h"
#include "sched/sched.h"
#include "store/store.h"
#include "base/vclock.h"

/* Where the documents read from; every pointer is borrowed. */
typedef struct health_src {
    const conf_t *conf;
    vclock_t *clock;
    store_t *store;
    sched_t *sched;
    circuits_t *circuits;
    obs_t *obs;
    const lag_t *lag; /* NULL: no lag figures */
    double started_at;
    const char *version;
} health_src_t;

/* One job's figures over the last hour (finished runs only). */
typedef struct health_window {
    int runs; /* runs that ended (skipped ones excluded) */
    int ok, failed, fallback, cancelled;
    double success_rate; /* ok / (ok + failed + fallback); -1 when none of those */
    double p50_ms, p95_ms;
} health_window_t;

/* The overall verdict and why (the rule is in docs/engine.md). */
typedef enum { HEALTH_OK, HEALTH_DEGRADED, HEALTH_FAILING } health_status_t;

const char *health_status_name(health_status_t st);

/* Inputs of the rule, gathered by health_report; exposed for tests. */
typedef struct health_inputs {
    int store_error;               /* the store could not be read */
    const char *store_write_error; /* why the store cannot write; NULL when it can */
    int jobs_with_runs;            /* jobs with a finished run in the last hour */
    int jobs_all_failed;           /* ... of which every finished run failed */
    int jobs_below_90;             /* ... of which success_rate < 0.9 */
    int breakers_open;             /* open or half_open */
    int scripts_failed;
    double lag_p99_ms;
    int pool_waiters;
    double pool_acquire_p95_ms;
    const char *browser_trouble; /* a browser down, or hung lately; NULL or "" when none */
} health_inputs_t;

/* Applies the rule; writes one line per finding into reasons (at most
 * nreasons of them) and their count into *nout. */
health_status_t health_rule(const health_inputs_t *in, char reasons[][160], size_t nreasons,
                            size_t *nout);

/* The health report; NULL when out of memory. The caller deletes it. */
cJSON *health_report(const health_src_t *src);

/* Every job as an array of the objects health_report lists. */
cJSON *health_jobs(const health_src_t *src);

/* One job with its last `runs` runs; NULL when there is no such job. */
cJSON *health_job(const health_src_t *src, const char *name, int runs);

/* Every breaker (name, state, failures, opened_at) as health_report lists them. */
cJSON *health_breakers(const health_src_t *src);

/* The newest `limit` attempts of job (NULL: every job), newest first. A
 * result of more than 2 KB of JSON is null there, and the row's "truncated":
 * { "result": BYTES } gives its whole size. */
cJSON *health_runs(const health_src_t *src, const char *job, int limit);

/* One run: { run_id, job, attempts = [rows, first attempt first] } with whole
 * results. NULL with *missing set when there is no such run, NULL
 * alone when the store cannot be read or memory runs out. */
cJSON *health_run(const health_src_t *src, int64_t run_id, int *missing);

#endif
