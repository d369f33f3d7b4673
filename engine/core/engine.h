/* engine.h — the one assembly of an engine, for every mode: store, breakers,
 * retry budget, browser backend, HTTP client, script host, the scripts loaded, runner and
 * scheduler with its offsets placed, on a clock the caller owns. `baton run`,
 * `baton test`, `baton check`/`plan` and the benchmarks all open theirs here,
 * so each loads scripts and builds the scheduler through exactly this code. */
#ifndef BATON_ENGINE_H
#define BATON_ENGINE_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "base/vclock.h"
#include "browser/fixture_backend.h"
#include "browser/page.h"
#include "browser/pool.h"
#include "conf/conf.h"
#include "net/http_fake.h"
#include "net/httpc.h"
#include "run/circuit.h"
#include "run/retry.h"
#include "run/run.h"
#include "sched/sched.h"
#include "script/script.h"
#include "scripts.h"
#include "store/store.h"

typedef enum engine_mode {
    ENGINE_RUN,   /* baton run: runs for real, seeds from the clock */
    ENGINE_TEST,  /* baton test: ctx.dry_run, fixed seeds, the fake's fixtures at hand */
    ENGINE_PLAN,  /* check and plan: scripts loaded without store, breakers or pages;
                   * the scheduler in plan mode, its starts handed to opts.launcher */
    ENGINE_BENCH, /* the benchmarks: runs for real on a virtual clock, fixed seeds */
} engine_mode_t;

typedef enum engine_browser {
    ENGINE_BROWSER_NONE, /* no pages: ctx:page() says so */
    ENGINE_BROWSER_POOL, /* Chromium through the pool (needs opts.loop) */
    ENGINE_BROWSER_FAKE, /* the fake browser */
} engine_browser_t;

typedef struct engine_opts {
    engine_mode_t mode;
    vclock_t *clock; /* initialised by the caller, closed by it after engine_close */
    uv_loop_t *loop; /* the loop the browser's I/O runs on; NULL without a pool */
    /* The database: NULL for conf->database. ENGINE_PLAN opens it read only,
     * for stored auto offsets, and not at all when it is ":memory:". */
    const char *database;
    engine_browser_t browser;
    const char *files_dir;  /* where page screenshots go; NULL: "files" */
    const char *upload_dir; /* what page:upload may read; NULL: files_dir */
    /* The scripts: these paths (files or directories), or conf->scripts. */
    char *const *paths;
    size_t npaths;
    /* Each line for a person while opening and reloading: a script's error
     * ("file:line: message") or a warning. Required. */
    scripts_report_fn report;
    void *report_ud;
    /* Called when the last run in flight has finished (the drain); may be NULL. */
    void (*on_idle)(void *ud);
    void *idle_ud;
    /* ENGINE_PLAN: who takes the starts instead of the runner; whether the
     * jobs keep their jitter (plan --seed; else starts fall on schedule), and
     * the seed of its draws. */
    sched_hooks_t launcher;
    int jitter;
    uint64_t seed;
} engine_opts_t;

/* An open engine. Callers read these (and hand them to HTTP, the console, the
 * test kit); only this module and reload.c change them. */
typedef struct engine {
    const conf_t *conf;
    engine_mode_t mode;
    vclock_t *clock;
    store_t *store; /* ENGINE_PLAN: NULL when there is no database to read */
    circuits_t *circuits;
    retry_budget_t budget;
    pool_t *pool;               /* ENGINE_BROWSER_POOL */
    struct fake *fake;          /* the fake browser; in ENGINE_TEST also the fixtures of a pool */
    fixture_backend_t fixtures; /* ENGINE_TEST with a pool: the pool's table, answered from them */
    page_env_t page_env;        /* what the page primitives use */
    httpc_t *httpc;             /* baton.http's client: ENGINE_RUN (and a bench) with a loop */
    http_fake_t *http_fake;     /* ENGINE_TEST: baton.http answered from the test's fixtures */
    script_host_t host;         /* how job scripts are loaded, here and on a reload */
    scripts_set_t set;          /* the scripts loaded and their jobs */
    runner_t runner;            /* not used in ENGINE_PLAN */
    sched_t *sched;
    double load_seconds; /* wall time spent loading the scripts */
    scripts_report_fn report;
    void *report_ud;
    void (*on_idle)(void *ud);
    void *idle_ud;
    int started;  /* engine_start was called */
    int stopping; /* engine_stop was called: nothing new starts */
} engine_t;

/* Opens an engine for o->mode: the store, breakers and retry budget, the
 * browser backend, the script host, the scripts (failures are reported and
 * counted in set.errors), the runner and the scheduler with the jobs and
 * their offsets. Nothing runs until engine_start. Returns 0 and *out, or a
 * negative code with a message in err and nothing left open; err is empty
 * when the scripts could not be loaded (that was reported). */
int engine_open(engine_t **out, const conf_t *conf, const engine_opts_t *o, char *err,
                size_t errlen);

/* Starts scheduling, and launches the browser when a job uses one. */
void engine_start(engine_t *e);

/* Launches the browser now if any job uses one and it is not running (after
 * the start, and after a reload that brought a browser job). */
void engine_warm_browser(engine_t *e);

/* Stops starting anything (queued starts are recorded cancelled); runs in
 * flight go on. Idempotent. */
void engine_stop(engine_t *e);

/* Cancels every run in flight with `why`; each still ends through the runner. */
void engine_cancel_runs(engine_t *e, const char *why);

/* Shuts the browser and the HTTP client down; their handles close on the loop's next turns, which
 * the loop's owner runs before engine_close. Idempotent. */
void engine_shutdown(engine_t *e);

/* Frees the engine (after engine_stop and once no run is in flight, and for
 * a pool after engine_shutdown and the loop's last turns). Writes the store a
 * last time: returns 0, or -EIO when that failed (logged). NULL is a no-op. */
int engine_close(engine_t *e);

#endif
