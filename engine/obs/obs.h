/* obs.h — what the engine has done since it started, for health, metrics and
 * the live event feed: counters fed by the scheduler, the store and the
 * breakers; the last errors; the load state of each script; and the browser
 * pool's figures, read from the pool it is shown (with the histogram of its
 * acquire times kept here) or supplied by a callback; and the HTTP client's
 * figures (httpstat.h), fed by the client's observe hook. obs owns its
 * counters and copies, and never calls back into the engine. */
#ifndef BATON_OBS_H
#define BATON_OBS_H

#include <stddef.h>
#include <stdint.h>

#include "run/circuit.h"
#include "script/err.h"
#include "sched/sched.h"
#include "base/stats.h"
#include "httpstat.h"
#include "net/httpc.h"
#include "store/store.h"

enum { OBS_RECENT_ERRORS = 10, OBS_ACQUIRE_BUCKETS = 13 };

/* Upper bounds (milliseconds) of the pool's acquire-time histogram buckets. */
extern const double obs_acquire_bounds_ms[OBS_ACQUIRE_BUCKETS];

/* The browser pool's figures. A pool fills this from its own state; with no
 * pool registered every figure is zero. */
typedef struct obs_pool {
    int browsers;
    int pages_total, pages_busy, pages_idle, pages_reserved;
    int pages_max;        /* browser.max_pages */
    int browser_contexts; /* the browser contexts those pages are in */
    int waiters;
    uint64_t created_total, reused_total, recycled_total, crashes_total;
    uint64_t hangs_total;  /* browsers killed for missing a heartbeat */
    int launched;          /* browsers launched by the engine: user and sandbox say how */
    char user[64];         /* the user they run as */
    int sandbox;           /* Chromium's own sandbox on */
    char sandbox_off[300]; /* why it is off; "" */
    double acquire_p95_ms;
    char trouble[300]; /* why the browsers are in trouble (pool_figures_t.trouble); "" */
    /* acquire times: acquire_buckets[i] counts acquires <= obs_acquire_bounds_ms[i]
     * (and above the previous bound); the last slot those above every bound */
    uint64_t acquire_buckets[OBS_ACQUIRE_BUCKETS + 1];
    double acquire_sum_ms;
    uint64_t acquire_count;
} obs_pool_t;

typedef void (*obs_pool_fn)(void *ud, obs_pool_t *out);

/* A run status the counters know; OBS_STATUS_COUNT for anything else. */
typedef enum {
    OBS_OK,
    OBS_FAILED,
    OBS_FALLBACK,
    OBS_SKIPPED,
    OBS_CANCELLED,
    OBS_STATUS_COUNT
} obs_status_t;

const char *obs_status_name(obs_status_t st);

/* Counters of one job since the engine started. */
typedef struct obs_job {
    char *name;
    uint64_t runs[OBS_STATUS_COUNT]; /* starts that ended, by final status */
    uint64_t errors[ERR_KIND_COUNT]; /* failed attempts, by kind */
    uint64_t retries;                /* attempts after the first */
    stats_hist_t duration;           /* attempt durations, seconds */
    char last_kind[32];              /* error kind of the newest row ("" when none) */
} obs_job_t;

typedef struct obs_error {
    double at;
    int64_t run_id;
    char job[128];
    char kind[32];
    char message[512];
} obs_error_t;

typedef struct obs_script {
    char *file;
    double loaded_at;
    int version; /* 1 for the first load, +1 per load since; 0 = never loaded */
    char *error; /* NULL when it loaded */
} obs_script_t;

typedef struct obs obs_t;

/* Receives each event as one line of JSON text, valid only during the call. */
typedef void (*obs_event_fn)(void *ud, const char *json);

/* Upper bounds (seconds) of the run-duration histogram buckets. */
extern const double obs_duration_bounds_s[];
extern const size_t obs_duration_nbounds;

/* A new, empty collector, or NULL when out of memory. */
obs_t *obs_new(void);

/* Registers obs as the observer of sched, store and circuits (any may be
 * NULL), and seeds the recent errors from the store. obs_detach undoes it,
 * and obs_watch_httpc's watch too. */
void obs_attach(obs_t *o, sched_t *sched, store_t *store, circuits_t *circuits);
void obs_detach(obs_t *o);

/* Frees o (detach first). NULL is a no-op. */
void obs_free(obs_t *o);

/* Sets the one listener of the event feed (NULL removes it). */
void obs_on_event(obs_t *o, obs_event_fn fn, void *ud);

/* Sets where pool figures come from (NULL: zeros), and reads them. */
void obs_set_pool(obs_t *o, obs_pool_fn fn, void *ud);
void obs_pool(const obs_t *o, obs_pool_t *out);

/* Takes the pool figures from pool (NULL: zeros), with max_pages
 * (browser.max_pages) as their ceiling; counts the pool's acquire times
 * into obs's own histogram. Replaces any obs_set_pool callback. */
struct pool;
void obs_watch_pool(obs_t *o, struct pool *pool, int max_pages);

/* Counts the requests of client (NULL: none) into obs's HTTP client figures;
 * obs_detach stops it. */
void obs_watch_httpc(obs_t *o, httpc_t *client);

/* The HTTP client's figures (the requests counted so far, and the client's
 * requests in flight through httpstat_inflight). */
httpstat_t *obs_http_client(obs_t *o);

/* Notes that a script loaded at `at` (error NULL) or failed with `error`
 * ("file:line: message"; the file is taken from it when file is NULL). */
void obs_script(obs_t *o, const char *file, double at, const char *error);
/* Sends a `scripts_reloaded` event: {"reloaded", "loaded", "removed",
 * "failed", "jobs"} (the dashboard re-reads the job list on it). */
void obs_reloaded(obs_t *o, double at, int reloaded, int loaded, int removed, int failed,
                  size_t jobs);

/* Forgets a script file that is gone; clears a file's error (its version
 * stays: it loaded before and nothing failed since). */
void obs_script_forget(obs_t *o, const char *file);
void obs_script_clear(obs_t *o, const char *file);

/* Read access for health and metrics; pointers stay valid until the next
 * event or obs_free. */
size_t obs_njobs(const obs_t *o);
const obs_job_t *obs_job(const obs_t *o, size_t i);
size_t obs_nscripts(const obs_t *o);
const obs_script_t *obs_script_at(const obs_t *o, size_t i);
/* The recent errors, newest first; returns how many (<= OBS_RECENT_ERRORS). */
size_t obs_recent_errors(const obs_t *o, const obs_error_t **out);

#endif
