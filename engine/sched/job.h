/* job.h — job definitions: what `job "name" { … }` declared, validated.
 * A job belongs to the script state that defined it; its `run` and `fallback`
 * functions are registry refs in that state. */
#ifndef BATON_JOB_H
#define BATON_JOB_H

#include <stddef.h>

#include "conf/conf.h"
#include "cron.h"
#include "script/script.h"

typedef enum { PRIO_CRITICAL, PRIO_HIGH, PRIO_MEDIUM, PRIO_LOW, PRIO_COUNT } job_priority_t;
typedef enum { OVERLAP_SKIP, OVERLAP_QUEUE, OVERLAP_REPLACE } job_overlap_t;
typedef enum { MISFIRE_RUN_ONCE, MISFIRE_SKIP } job_misfire_t;

/* A job's download limits unless its spec sets them (docs/jobs.md). */
#define JOB_DOWNLOAD_MAX_BYTES ((size_t)50 * 1024 * 1024)
#define JOB_DOWNLOAD_MAX_FILES 20
#define JOB_DOWNLOAD_FILES_CAP 1000

typedef struct job_require {
    char *job;
    double within; /* seconds */
} job_require_t;

typedef struct job {
    char *name;
    char *file; /* where it was defined */
    int line;
    script_t *script;          /* a reference is held */
    int run_ref, fallback_ref; /* registry refs; LUA_NOREF when absent */
    /* schedule: `every` (> 0) or cron, or neither (trigger / after only) */
    double every;
    double offset;
    int offset_auto;
    int has_cron;
    cron_t cron;
    char *cron_text;
    double jitter;
    job_priority_t priority;
    double timeout;
    conf_retry_t retry;
    char *breaker; /* NULL or a breaker name */
    int browser;   /* needs a pooled browser context */
    char *session; /* browser = { session = "…" } */
    /* downloads = true | { max_bytes, max_files }: 0 when denied (the default) */
    int downloads;
    size_t download_max_bytes; /* each file, JOB_DOWNLOAD_MAX_BYTES unless set */
    int download_max_files;    /* per run, JOB_DOWNLOAD_MAX_FILES unless set */
    job_require_t *requires;
    int nrequires;
    char *after; /* NULL or a job name */
    job_overlap_t overlap;
    job_misfire_t misfire;
    int refs; /* the set that loaded it, the scheduler, each start */
} job_t;

/* Reads every definition collected while loading s and validates it against
 * the defaults of conf. Returns 0 with a malloc'd array of jobs in *jobs (free
 * with job_free_all; each holds one reference), or -EINVAL with "file:line: job 'name': field:
 * message" in err for the first bad definition (nothing is returned then). */
int job_read_all(script_t *s, const conf_t *conf, job_t ***jobs, size_t *njobs, char *err,
                 size_t errlen);

/* Takes a reference to j (returned); job_unref drops one and frees the job
 * (and its script reference) with the last. A definition outlives a reload
 * for as long as a run started from it is going. NULL is a no-op. */
job_t *job_ref(job_t *j);
void job_unref(job_t *j);

/* Drops a reference to each job and frees the array. */
void job_free_all(job_t **jobs, size_t njobs);

/* "critical", "high", … */
const char *job_priority_name(job_priority_t p);

/* A one-line description of the schedule: "every 60m offset 15m", "cron 0 9 * * mon-fri",
 * "every 5m offset auto(2m10s)", "manual". */
void job_describe_schedule(const job_t *j, char *buf, size_t len);

/* The first nominal start of j strictly after `after` (no jitter), or -1 when
 * it has no schedule (or a cron with no future start). Interval jobs start at
 * the t where (t - offset) is a multiple of every since the epoch; auto-offset
 * jobs must have had their offset placed. */
double job_next_start(const job_t *j, double after);

#endif
