/* engine.c — see engine.h. The chain is the same for every mode; a mode only
 * leaves links out (check and plan need no runs, breakers or browser) or picks
 * seeds, as `nginx -t` runs the same cycle set-up as serving does. The browser
 * backend is built and torn down in browser_open and browser_close only. */
#include "engine.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "browser/fake.h"
#include "browser/fixture_backend.h"
#include "browser/page.h"
#include "browser/pool.h"
#include "browser/pool_backend.h"
#include "net/http_lua.h"
#include "run/run_lua.h"
#include "run/circuit.h"

/* baton.trigger from a script: the scheduler exists once the load is over. */
static int host_trigger(void *ud, const char *job, const char *args, char *err, size_t len) {
    engine_t *e = ud;
    if (!e->sched) {
        snprintf(err, len, "not available while the scripts load");
        return -EAGAIN;
    }
    return sched_trigger(e->sched, job, args, err, len);
}

static void runner_idle(runner_t *r) {
    engine_t *e = r->ud;
    e->on_idle(e->idle_ud);
}

/* The browser backend for o->browser, and in test mode the fake browser the
 * test kit serves its fixtures from (also behind a real pool). */
static int browser_open(engine_t *e, const engine_opts_t *o) {
    page_env_t *env = &e->page_env;
    env->clock = e->clock;
    snprintf(env->files_dir, sizeof env->files_dir, "%s", o->files_dir ? o->files_dir : "files");
    snprintf(env->upload_dir, sizeof env->upload_dir, "%s",
             o->upload_dir ? o->upload_dir : env->files_dir);
    env->schemes = e->conf->browser.schemes;
    env->nschemes = e->conf->browser.nschemes;
    env->raw_any = strcmp(e->conf->browser.raw_cdp, "any") == 0;
    if ((e->mode == ENGINE_TEST || o->browser == ENGINE_BROWSER_FAKE) &&
        fake_new(&e->fake, e->clock) < 0)
        return -ENOMEM;
    if (o->browser == ENGINE_BROWSER_POOL) {
        if (pool_new(&e->pool, o->loop, e->clock, e->store, e->conf) < 0) return -ENOMEM;
        pool_backend(e->pool, &env->browser);
        if (e->mode == ENGINE_TEST) { /* --browser real: its pages answered from the fixtures */
            browser_backend_t pool_table = env->browser;
            fixture_backend_init(&e->fixtures, &pool_table, e->fake, &env->browser);
        }
    } else if (o->browser == ENGINE_BROWSER_FAKE) {
        fake_backend(e->fake, &env->browser);
    }
    return 0;
}

static void browser_close(engine_t *e) {
    pool_free(e->pool);
    fake_free(e->fake);
    e->pool = NULL;
    e->fake = NULL;
}

void engine_warm_browser(engine_t *e) {
    if (!e->pool) return;
    for (size_t i = 0; i < e->set.njobs; i++)
        if (e->set.jobs[i]->browser) {
            pool_start(e->pool);
            return;
        }
}

void engine_shutdown(engine_t *e) {
    if (e && e->pool) pool_shutdown(e->pool);
    if (e) httpc_shutdown(e->httpc);
}

/* baton.http's client: on the loop of a real run. baton test never reaches
 * the network (with a real browser too): its requests are answered by the
 * fake from the test's fixtures. Check and plan run no jobs. */
static int http_open(engine_t *e, const engine_opts_t *o) {
    const conf_t *c = e->conf;
    if (e->mode == ENGINE_TEST)
        return http_fake_new(&e->http_fake, e->clock, c->http_client.timeout,
                             c->http_client.max_bytes);
    if (!o->loop || (e->mode != ENGINE_RUN && e->mode != ENGINE_BENCH)) return 0;
    httpc_conf_t hc = {.max_connections = c->http_client.max_connections,
                       .max_per_host = c->http_client.max_per_host,
                       .timeout = c->http_client.timeout,
                       .max_bytes = c->http_client.max_bytes,
                       .proxy = c->http_client.proxy,
                       .ca_file = c->http_client.ca_file[0] ? c->http_client.ca_file : NULL};
    return httpc_new(&e->httpc, o->loop, &hc);
}

/* Frees what was built, in the reverse order; 0 or -EIO (the last write). */
static int teardown(engine_t *e) {
    int rc = 0;
    sched_free(e->sched);
    scripts_free(&e->set);
    if (e->store && store_flush(e->store) < 0) {
        log_error("store: final write failed: %s", store_errmsg(e->store));
        rc = -EIO;
    }
    circuits_free(e->circuits);
    browser_close(e);
    httpc_free(e->httpc);
    http_fake_free(e->http_fake);
    store_close(e->store);
    free(e);
    return rc;
}

/* The store: written by runs, or in plan mode read (if there is one) for the
 * auto offsets stored by the engine. */
static int open_store(engine_t *e, const engine_opts_t *o, char *err, size_t errlen) {
    const char *db = o->database ? o->database : e->conf->database;
    if (e->mode != ENGINE_PLAN) {
        int rc = store_open(&e->store, db, 0, err, errlen);
        if (rc == 0 && store_recovered(e->store) > 0)
            log_warn("store: %lld run(s) were in flight when the engine last stopped; recorded "
                     "as %s (%s)",
                     (long long)store_recovered(e->store), STORE_CRASHED_STATUS,
                     STORE_CRASHED_KIND);
        return rc;
    }
    char msg[1024] = "", line[1200];
    if (strcmp(db, ":memory:") != 0 && store_open(&e->store, db, 1, msg, sizeof msg) < 0 &&
        msg[0]) {
        snprintf(line, sizeof line, "warning: %s (auto offsets computed afresh)", msg);
        o->report(o->report_ud, line);
    }
    return 0;
}

int engine_open(engine_t **out, const conf_t *conf, const engine_opts_t *o, char *err,
                size_t errlen) {
    engine_t *e = calloc(1, sizeof *e);
    char msg[1024];
    int rc;
    *out = NULL;
    if (!e) goto oom;
    run_lua_lend();  /* baton.breaker and baton.retry, in every script state (once) */
    http_lua_lend(); /* baton.http's primitive (it answers "no network" without a client) */
    e->conf = conf;
    e->mode = o->mode;
    e->clock = o->clock;
    e->report = o->report;
    e->report_ud = o->report_ud;
    e->on_idle = o->on_idle;
    e->idle_ud = o->idle_ud;
    int plan = e->mode == ENGINE_PLAN;

    if ((rc = open_store(e, o, err, errlen)) < 0) goto fail;
    if (!plan &&
        circuits_new(&e->circuits, conf, e->store, vclock_now(e->clock), msg, sizeof msg) < 0) {
        snprintf(err, errlen, "%s: %s", conf->path[0] ? conf->path : "engine.conf", msg);
        rc = -EINVAL;
        goto fail;
    }
    retry_budget_init(&e->budget, conf->retry_budget.percent, conf->retry_budget.floor,
                      conf->retry_budget.window);
    if (!plan && browser_open(e, o) < 0) goto oom;
    if ((rc = http_open(e, o)) < 0) {
        snprintf(err, errlen, "the HTTP client (libcurl) would not start");
        goto fail;
    }

    /* Check and plan load the scripts without store, breakers, triggers or
     * pages: what a script does with them at its top level errors there. */
    e->host = (script_host_t){.clock = e->clock,
                              .lua_dir = conf->lua_dir,
                              .memory_limit = conf->sandbox_memory,
                              .cpu_slice = conf->cpu_slice,
                              .dry_run = e->mode == ENGINE_TEST || plan};
    if (!plan) {
        e->host.store = e->store;
        e->host.circuits = e->circuits;
        e->host.budget = &e->budget;
        e->host.httpc = e->httpc;
        e->host.http_fake = e->http_fake;
        e->host.trigger = host_trigger;
        e->host.ud = e;
        e->host.open_prims = page_open_prims;
        e->host.prims_ud = &e->page_env;
    }
    double t0 = vclock_wall();
    rc = scripts_load(conf, &e->host, o->paths, o->npaths, &e->set, o->report, o->report_ud);
    e->load_seconds = vclock_wall() - t0;
    if (rc < 0) {
        if (errlen) err[0] = 0; /* reported */
        goto fail;
    }

    /* Seeds: a fresh one each `baton run`; fixed for tests and benchmarks,
     * so their runs repeat. */
    e->runner = (runner_t){.clock = e->clock,
                           .store = e->store,
                           .budget = &e->budget,
                           .circuits = e->circuits,
                           .rng = e->mode == ENGINE_RUN    ? uv_hrtime() | 1
                                  : e->mode == ENGINE_TEST ? 0x9e3779b97f4a7c15ull
                                                           : 1,
                           .on_idle = o->on_idle ? runner_idle : NULL,
                           .ud = e};
    sched_hooks_t hooks = {run_launch, run_cancel, &e->runner};
    uint64_t seed = e->mode == ENGINE_RUN ? uv_hrtime() | 1 : plan ? o->seed : 1;
    if (plan) hooks = o->launcher;
    if (sched_new(&e->sched, e->clock, e->store, conf, hooks, seed) < 0) goto oom;
    e->runner.sched = e->sched;
    if (plan) {
        sched_plan_mode(e->sched);
        if (!o->jitter)
            for (size_t i = 0; i < e->set.njobs; i++) e->set.jobs[i]->jitter = 0;
    }
    if ((rc = sched_set_jobs(e->sched, e->set.jobs, e->set.njobs, err, errlen)) < 0) goto fail;
    /* Plan never writes offsets; the others keep what they place. */
    if (sched_place_offsets(e->sched, !plan) < 0) {
        if (plan) {
            snprintf(err, errlen, "offset = \"auto\": could not place offsets");
            rc = -EINVAL;
            goto fail;
        }
        log_warn("offset = \"auto\": could not place offsets; those jobs start at offset 0");
    }
    *out = e;
    return 0;
oom:
    snprintf(err, errlen, "out of memory");
    rc = -ENOMEM;
fail:
    if (e) teardown(e);
    return rc;
}

void engine_start(engine_t *e) {
    e->started = 1;
    sched_start(e->sched);
    /* Browser jobs find a warm pool: launch now rather than at the first run. */
    engine_warm_browser(e);
}

void engine_stop(engine_t *e) {
    if (e->stopping) return;
    e->stopping = 1;
    sched_stop(e->sched);
}

typedef struct cancel {
    runner_t *runner;
    const char *why;
} cancel_t;

static void cancel_one(void *ud, sched_start_t *st) {
    cancel_t *c = ud;
    run_cancel(c->runner, st, c->why);
}

void engine_cancel_runs(engine_t *e, const char *why) {
    cancel_t c = {&e->runner, why};
    sched_each_running(e->sched, cancel_one, &c);
}

int engine_close(engine_t *e) { return e ? teardown(e) : 0; }
