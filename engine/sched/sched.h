/* sched.h — the scheduler: when each job starts (clock-aligned intervals with
 * offsets, auto offsets, cron, jitter), what happens when it is already
 * running (overlap), after downtime (misfire), or when its dependencies are
 * stale; and the ready queue that hands starts to runs by priority within
 * limits.max_concurrent_runs. Reads time only through its vclock, so plans
 * and dry runs go through exactly this code. */
#ifndef BATON_SCHED_H
#define BATON_SCHED_H

#include <stddef.h>
#include <stdint.h>

#include "conf/conf.h"
#include "job.h"
#include "prioq.h"
#include "store/store.h"
#include "base/vclock.h"

typedef struct sched sched_t;
typedef struct sched_job sched_job_t;

/* One start of a job: queued, then launched, then done. */
typedef struct sched_start {
    prioq_item_t q; /* in the ready queue */
    sched_job_t *sj;
    job_t *job; /* the definition it was started with */
    int64_t run_id;
    double scheduled_at;
    double launched_at;       /* when it was handed to the launcher; 0 before */
    char *args_json;          /* NULL, or JSON from baton.trigger */
    const char *cause;        /* "schedule", "trigger", "after <job>", "misfire" */
    struct sched_start *next; /* backlog (overlap = queue) */
    void *run;                /* the launcher's state while launched */
} sched_start_t;

typedef struct sched_hooks {
    /* Starts a run for `start`; it stays owned by the scheduler, and the run
     * ends with exactly one sched_done(start, ...), possibly from inside launch. */
    void (*launch)(void *ud, sched_start_t *start);
    /* Cancels the launched run of `start` (overlap = replace, shutdown). The run
     * still ends with sched_done. */
    void (*cancel)(void *ud, sched_start_t *start, const char *why);
    void *ud;
} sched_hooks_t;

/* Creates a scheduler reading time from clock and recording skips and job state
 * in store (NULL: record nothing, as in plan). Jitter draws use seed. */
int sched_new(sched_t **out, vclock_t *clock, store_t *store, const conf_t *conf,
              sched_hooks_t hooks, uint64_t seed);

/* Plan mode: the store (if any) is only read, for auto offsets; job state
 * (last runs, pauses, missed starts) is ignored and nothing is written. */
void sched_plan_mode(sched_t *s);

/* Hands the scheduler its jobs; it takes references to the ones it keeps, so
 * the caller may drop its own afterwards. Checks names across jobs: duplicates,
 * unknown requires/after targets and cycles → -EINVAL with a message, and
 * nothing changes. Called again (a reload), the new set replaces the old one
 * by job name: a job kept keeps its timer, state and queue (its queued starts
 * take the new definition, a run in flight finishes on the old one); a changed
 * schedule is re-armed from now; a new job is armed from now (no misfire
 * catch-up); a removed job stops, its queued starts are recorded cancelled
 * and its run in flight finishes. Once started, offsets are placed here too. */
int sched_set_jobs(sched_t *s, job_t **jobs, size_t n, char *err, size_t errlen);

/* Chooses offsets for offset = "auto" jobs (stored ones are reused when the
 * period is unchanged; new ones are written to the store when keep != 0). */
int sched_place_offsets(sched_t *s, int keep);

/* Starts scheduling: misfire handling from stored job state, then timers. */
void sched_start(sched_t *s);

/* Starts `job` now (baton.trigger). args_json may be NULL. */
int sched_trigger(sched_t *s, const char *job, const char *args_json, char *err, size_t errlen);

/* Reports the end of a launched start: status is ok | failed | fallback |
 * cancelled. Frees start. */
void sched_done(sched_t *s, sched_start_t *start, const char *status, double ended_at);

/* Stops starting anything: timers are disarmed and queued starts recorded as
 * cancelled. Launched runs are left to the caller (drain, then cancel). */
void sched_stop(sched_t *s);

/* Writes the job state that changed (last starts, results, offsets) to the
 * store; the engine calls it before each store flush. Returns 0 or < 0. */
int sched_save(sched_t *s);

/* Launched runs not yet done. */
size_t sched_running(const sched_t *s);
size_t sched_queued(const sched_t *s);

/* Looks a job up by name, NULL if absent. */
job_t *sched_find(const sched_t *s, const char *name);

/* Calls fn for every launched start (for shutdown cancel). */
void sched_each_running(sched_t *s, void (*fn)(void *ud, sched_start_t *start), void *ud);

/* What health and the API show of one job. */
typedef struct sched_job_info {
    const job_t *job;
    int paused;
    int running;               /* a run is launched */
    int64_t run_id;            /* ... its id */
    double running_since;      /* ... and when it was launched */
    int queued;                /* starts waiting: in the ready queue or behind the running one */
    double next_at;            /* when the next scheduled start fires (jitter included); 0 = none */
    double last_ok, last_fail; /* ended_at of the last success / failure; 0 = never */
} sched_job_info_t;

/* The number of jobs, and the i-th in name order (i < sched_njobs); 0 or -ENOENT. */
size_t sched_njobs(const sched_t *s);
int sched_job_info(const sched_t *s, size_t i, sched_job_info_t *out);
/* The same by name; -ENOENT when there is no such job. */
int sched_job_info_by_name(const sched_t *s, const char *name, sched_job_info_t *out);

/* Pauses (on = 1) or resumes (on = 0) a job's scheduled starts; kept in the
 * store's job state with the next sched_save. -ENOENT when there is no such job.
 * Returns 1 when the state changed, 0 when it already was so. */
int sched_pause(sched_t *s, const char *name, int on);

/* Who wants to know what the scheduler decides (health, metrics, the event
 * feed). Every start that ends — run, skipped or cancelled before it began —
 * calls on_end exactly once; on_start fires when a start is handed to the
 * launcher. Callbacks must not call back into the scheduler. */
typedef struct sched_observer {
    void (*on_start)(void *ud, const sched_start_t *start, double now);
    void (*on_end)(void *ud, const char *job, int64_t run_id, const char *status,
                   const char *error_kind, double ended_at);
    void (*on_pause)(void *ud, const char *job, int paused);
    void *ud;
} sched_observer_t;

/* Sets the observer (NULL removes it); the struct is copied. */
void sched_observe(sched_t *s, const sched_observer_t *o);

/* Frees the scheduler (after sched_stop and once no run is launched). */
void sched_free(sched_t *s);

#endif
