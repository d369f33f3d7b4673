/* loop.c — owns the libuv loop and wires the engine on it: clock, store,
 * scripts, scheduler, runner, the periodic store flush, signals, live reload
 * (scripts/ watched, SIGHUP, POST /api/reload) and the graceful drain.
 * Shutdown closes every handle and leaves uv_loop_close == 0. */
#include "loop.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "browser/cdp.h"
#include "run/circuit.h"
#include "console/console.h"
#include "http/http.h"
#include "obs/lag.h"
#include "base/log.h"
#include "obs/obs.h"
#include "browser/page.h"
#include "browser/pool_backend.h"
#include "reload.h"
#include "run/retry.h"
#include "run/run.h"
#include "sched/sched.h"
#include "store/store.h"
#include "base/units.h"
#include "base/vclock.h"
#include "base/version.h"

static const uint64_t FLUSH_MS = 200;
static const uint64_t LAG_PERIOD_MS = 100;
static const double PRUNE_EVERY = 3600;
/* Editors save in steps (write a temp file, rename, touch): reload once the
 * directory has been quiet this long. */
static const uint64_t SETTLE_MS = 300;

typedef struct engine {
    uv_loop_t loop;
    const conf_t *conf;
    vclock_t clock;
    store_t *store;
    script_host_t host;
    reload_set_t set;
    sched_t *sched;
    runner_t runner;
    retry_budget_t budget;
    circuits_t *circuits;
    pool_t *pool;
    page_env_t page_env;
    char demo_dir[4096]; /* demo/ beside engine.conf, served under /demo/ */
    uint64_t acquire_buckets[OBS_ACQUIRE_BUCKETS + 1];
    double acquire_sum_ms;
    uint64_t acquire_count;
    uv_signal_t sigint, sigterm, sighup;
    uv_timer_t flush, drain, settle;
    uv_fs_event_t watch_dir; /* scripts/ */
    int watching_dir;
    struct libwatch *libs; /* scripts/lib/ and every directory below it */
    int libs_scanned;
    cJSON *reload_errors; /* while a reload runs: its error lines */
    vtimer_t prune;
    obs_t *obs; /* counters and events for http */
    lag_t lag;
    http_t *http;
    console_t *console; /* the console socket */
    double started_at;
    int lock_fd; /* <database>.lock, held while the engine runs */
    int stopping;
    int handles; /* signals and uv timers initialised */
    int closed;
} engine_t;

static void unwatch_libs(engine_t *e, int all);

/* One engine per database: sqlite alone only notices a second writer while
 * the first holds a transaction, so hold an flock for the engine's life. */
static int lock_database(engine_t *e, const char *db) {
    char path[4200];
    e->lock_fd = -1;
    if (strcmp(db, ":memory:") == 0) return 0;
    snprintf(path, sizeof path, "%s.lock", db);
    e->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (e->lock_fd < 0) {
        if (errno == ENOENT || errno == ENOTDIR || errno == EACCES || errno == EROFS) return 0;
        log_error("%s: %s", path, strerror(errno));
        return -1;
    }
    if (flock(e->lock_fd, LOCK_EX | LOCK_NB) < 0) {
        log_error("%s: in use by another baton (%s is locked)", db, path);
        close(e->lock_fd);
        e->lock_fd = -1;
        return -1;
    }
    return 0;
}

static void report(void *ud, const char *line) {
    engine_t *e = ud;
    log_error("%s", line);
    if (e && e->obs) obs_script(e->obs, NULL, vclock_now(&e->clock), line);
    if (e && e->reload_errors) cJSON_AddItemToArray(e->reload_errors, cJSON_CreateString(line));
}

static int host_trigger(void *ud, const char *job, const char *args, char *err, size_t len) {
    engine_t *e = ud;
    return sched_trigger(e->sched, job, args, err, len);
}

static void on_acquire(void *ud, double ms) {
    engine_t *e = ud;
    size_t b = 0;
    while (b < OBS_ACQUIRE_BUCKETS && ms > obs_acquire_bounds_ms[b]) b++;
    e->acquire_buckets[b]++;
    e->acquire_sum_ms += ms;
    e->acquire_count++;
}

/* The pool's figures as health and metrics read them. */
static void pool_obs(void *ud, obs_pool_t *out) {
    engine_t *e = ud;
    pool_figures_t f;
    pool_figures(e->pool, &f);
    memset(out, 0, sizeof *out);
    out->browsers = f.browsers;
    out->contexts_total = f.contexts;
    out->browser_contexts = f.browser_contexts;
    out->contexts_busy = f.busy;
    out->contexts_idle = f.idle;
    out->contexts_reserved = f.reserved;
    out->contexts_max = e->conf->browser.max_contexts;
    out->waiters = f.waiters;
    out->created_total = (uint64_t)f.created_total;
    out->reused_total = (uint64_t)f.reused_total;
    out->recycled_total = (uint64_t)f.recycled_total;
    out->crashes_total = (uint64_t)f.crashes_total;
    out->acquire_p95_ms = f.acquire_p95_ms;
    memcpy(out->acquire_buckets, e->acquire_buckets, sizeof out->acquire_buckets);
    out->acquire_sum_ms = e->acquire_sum_ms;
    out->acquire_count = e->acquire_count;
}

/* NAME beside engine.conf (or in the working directory): files/ takes
 * screenshots, demo/ is the demo site. */
static void beside_conf(const conf_t *conf, const char *name, char *out, size_t len) {
    const char *slash = strrchr(conf->path, '/');
    if (conf->path[0] && slash)
        snprintf(out, len, "%.*s/%s", (int)(slash - conf->path), conf->path, name);
    else
        snprintf(out, len, "%s", name);
}

static void on_flush(uv_timer_t *t) {
    engine_t *e = t->data;
    sched_save(e->sched);
    if (store_dirty(e->store) && store_flush(e->store) < 0)
        log_error("store: cannot write: %s", store_errmsg(e->store));
}

static void on_prune(vtimer_t *t) {
    engine_t *e = t->data;
    int64_t deleted = 0;
    double now = vclock_now(&e->clock);
    if (e->conf->retention > 0 && store_prune(e->store, now - e->conf->retention, &deleted) == 0 &&
        deleted > 0)
        log_info("store: pruned %lld run rows older than the retention", (long long)deleted);
    vtimer_start(&e->clock, &e->prune, now + PRUNE_EVERY, on_prune);
}

static void close_all(engine_t *e) {
    if (e->closed) return;
    e->closed = 1;
    if (e->handles) {
        uv_close((uv_handle_t *)&e->sigint, NULL);
        uv_close((uv_handle_t *)&e->sigterm, NULL);
        uv_close((uv_handle_t *)&e->sighup, NULL);
        uv_close((uv_handle_t *)&e->flush, NULL);
        uv_close((uv_handle_t *)&e->drain, NULL);
        uv_close((uv_handle_t *)&e->settle, NULL);
    }
    if (e->watching_dir) uv_close((uv_handle_t *)&e->watch_dir, NULL);
    e->watching_dir = 0;
    unwatch_libs(e, 1);
    vtimer_stop(&e->clock, &e->prune);
    if (e->pool) pool_shutdown(e->pool);
    cdp_ws_shutdown();
    vclock_close(&e->clock);
    http_stop(e->http);
    console_stop(e->console);
    lag_stop(&e->lag);
}

static void on_idle(runner_t *r) {
    engine_t *e = r->ud;
    if (e->stopping) {
        log_info("all runs finished; stopping");
        close_all(e);
    }
}

static void cancel_one(void *ud, sched_start_t *st) { run_cancel(ud, st, "engine shutdown"); }

static void on_drain_timeout(uv_timer_t *t) {
    engine_t *e = t->data;
    log_warn("shutdown_timeout reached: cancelling %zu run(s)", e->runner.live);
    sched_each_running(e->sched, cancel_one, &e->runner);
    if (e->runner.live == 0) close_all(e);
}

static void on_stop_signal(uv_signal_t *h, int signum) {
    engine_t *e = h->data;
    if (e->stopping) {
        log_warn("second %s: cancelling runs now", strsignal(signum));
        on_drain_timeout(&e->drain);
        return;
    }
    e->stopping = 1;
    sched_stop(e->sched);
    if (e->runner.live == 0) {
        log_info("%s: stopping (no runs in flight)", strsignal(signum));
        close_all(e);
        return;
    }
    char d[32];
    units_format_duration(e->conf->shutdown_timeout, d, sizeof d);
    log_info("%s: draining %zu run(s) in flight (up to %s)", strsignal(signum), e->runner.live, d);
    uv_timer_start(&e->drain, on_drain_timeout, (uint64_t)(e->conf->shutdown_timeout * 1000), 0);
}

static int has_browser_jobs(const reload_set_t *set) {
    for (size_t i = 0; i < set->njobs; i++)
        if (set->jobs[i]->browser) return 1;
    return 0;
}

static void watch_scripts(engine_t *e);

/* Loads what changed under scripts/ and hands the scheduler the new set; on
 * any error the previous scripts keep running. `quiet`: say nothing when
 * nothing changed (a watcher event for a file that is not a script).
 * Fills answer (may be NULL) for the API; 0 when applied or unchanged,
 * -1 when refused, -ESHUTDOWN while the engine shuts down. */
static int engine_reload(engine_t *e, const char *why, int quiet, cJSON *answer) {
    reload_set_t next;
    reload_changes_t ch = {0};
    char err[1024] = "", line[1200];
    int rc = -1, applied = 0;
    cJSON *errors = cJSON_CreateArray();
    double now = vclock_now(&e->clock);
    if (e->stopping) {
        snprintf(err, sizeof err, "the engine is shutting down");
        rc = -ESHUTDOWN;
        goto out;
    }
    e->reload_errors = errors;
    int r = reload_update(e->conf, &e->host, &e->set, &next, &ch, report, e);
    e->reload_errors = NULL;
    if (r < 0) {
        snprintf(err, sizeof err, "cannot read the scripts: the previous scripts keep running");
        goto out;
    }
    if (ch.loaded == 0 && ch.removed == 0) {
        reload_free(&next);
        if (ch.failed)
            log_info("reload (%s): nothing applied: %d script(s) failed to load (see above)", why,
                     ch.failed);
        else if (!quiet)
            log_info("reload (%s): no script changed", why);
        rc = 0;
        goto out;
    }
    if (sched_set_jobs(e->sched, next.jobs, next.njobs, err, sizeof err) < 0) {
        snprintf(line, sizeof line, "%s (reload refused: the previous scripts keep running)", err);
        e->reload_errors = errors;
        report(e, line);
        e->reload_errors = NULL;
        reload_free(&next);
        goto out;
    }
    for (size_t i = 0; i < e->set.nscripts; i++) {
        const char *path = script_path(e->set.scripts[i]);
        int kept = 0;
        for (size_t k = 0; k < next.nscripts && !kept; k++)
            kept = strcmp(script_path(next.scripts[k]), path) == 0;
        if (!kept) obs_script_forget(e->obs, path);
    }
    for (size_t i = 0; i < next.nscripts; i++) {
        const char *path = script_path(next.scripts[i]);
        if (next.how[i] == RELOAD_LOADED)
            obs_script(e->obs, path, now, NULL);
        else if (next.how[i] == RELOAD_KEPT)
            obs_script_clear(e->obs, path); /* an error of a refused reload is over */
    }
    reload_free(&e->set);
    e->set = next;
    if (has_browser_jobs(&e->set)) pool_start(e->pool);
    log_info("reloaded (%s): %d script(s) loaded, %d removed, %d unchanged%s; %zu job(s)", why,
             ch.loaded, ch.removed, ch.unchanged,
             ch.failed ? ", and some failed (see above; their previous version runs)" : "",
             e->set.njobs);
    rc = 0;
    applied = 1;
out:
    /* A file that failed and is gone has nothing left to report. */
    for (size_t i = obs_nscripts(e->obs); i-- > 0;) {
        const obs_script_t *os = obs_script_at(e->obs, i);
        if (access(os->file, F_OK) != 0 && errno == ENOENT) obs_script_forget(e->obs, os->file);
    }
    if (ch.loaded || ch.removed || ch.failed)
        obs_reloaded(e->obs, now, applied, ch.loaded, ch.removed, ch.failed, e->set.njobs);
    watch_scripts(e); /* lib/ may have appeared */
    if (!answer) {
        cJSON_Delete(errors);
        return rc;
    }
    cJSON_AddBoolToObject(answer, "reloaded", applied);
    if (rc < 0) cJSON_AddStringToObject(answer, "error", err);
    cJSON_AddNumberToObject(answer, "loaded", ch.loaded);
    cJSON_AddNumberToObject(answer, "removed", ch.removed);
    cJSON_AddNumberToObject(answer, "unchanged", ch.unchanged);
    cJSON_AddNumberToObject(answer, "failed", ch.failed);
    cJSON_AddNumberToObject(answer, "jobs", (double)e->set.njobs);
    cJSON_AddItemToObject(answer, "errors", errors);
    return rc;
}

static int http_reload(void *ud, cJSON *answer) {
    return engine_reload(ud, "POST /api/reload", 0, answer);
}

static int console_reload(void *ud, cJSON *answer) {
    return engine_reload(ud, "console", 0, answer);
}

static void on_hup(uv_signal_t *h, int signum) {
    (void)signum;
    engine_reload(h->data, "SIGHUP", 0, NULL);
}

static void on_settle(uv_timer_t *t) { engine_reload(t->data, "scripts changed", 1, NULL); }

static void on_fs_event(uv_fs_event_t *h, const char *name, int events, int status) {
    engine_t *e = h->data;
    (void)name;
    (void)events;
    if (status < 0) {
        log_warn("watching %s: %s; use `baton reload` after changes", e->conf->scripts,
                 uv_strerror(status));
        return;
    }
    if (!e->stopping) uv_timer_start(&e->settle, on_settle, SETTLE_MS, 0);
}

/* One watched directory of the module tree: inotify is not recursive, so
 * scripts/lib/ and each directory below it (require "a.b" is lib/a/b.lua)
 * has its own watch, added as directories appear and dropped as they go. */
typedef struct libwatch {
    uv_fs_event_t h;
    struct libwatch *next;
    int seen; /* found by the current scan */
    char path[];
} libwatch_t;

enum { LIB_DEPTH = 8 };

static void free_libwatch(uv_handle_t *h) { free((libwatch_t *)h); } /* h is its first member */

/* Drops the watches the last scan did not find (every one with all). */
static void unwatch_libs(engine_t *e, int all) {
    for (libwatch_t **pp = &e->libs; *pp;) {
        libwatch_t *w = *pp;
        if (!all && w->seen) {
            pp = &w->next;
            continue;
        }
        *pp = w->next;
        uv_close((uv_handle_t *)&w->h, free_libwatch);
    }
}

/* Marks dir and the directories below it as seen, watching the new ones.
 * Returns how many watches were added. */
static int watch_lib_tree(engine_t *e, const char *dir, int depth) {
    int added = 0;
    libwatch_t *w = e->libs;
    while (w && strcmp(w->path, dir) != 0) w = w->next;
    if (!w) {
        size_t n = strlen(dir) + 1;
        w = malloc(sizeof *w + n);
        if (!w) return 0;
        memcpy(w->path, dir, n);
        uv_fs_event_init(&e->loop, &w->h);
        w->h.data = e;
        w->next = e->libs;
        e->libs = w;
        if (uv_fs_event_start(&w->h, on_fs_event, dir, 0) < 0) log_debug("cannot watch %s", dir);
        added++;
    }
    w->seen = 1;
    DIR *d = depth < LIB_DEPTH ? opendir(dir) : NULL;
    for (struct dirent *de; d && (de = readdir(d));) {
        char sub[4096];
        struct stat st;
        if (de->d_name[0] == '.') continue;
        snprintf(sub, sizeof sub, "%s/%s", dir, de->d_name);
        if (stat(sub, &st) == 0 && S_ISDIR(st.st_mode)) added += watch_lib_tree(e, sub, depth + 1);
    }
    if (d) closedir(d);
    return added;
}

/* Watches scripts/ and the module tree below scripts/lib/, as it is now.
 * A directory that appeared gets its watch here (after the reload its
 * creation caused); a file written into it before the watch existed is
 * caught by one more settle, which reloads only if something changed. */
static void watch_scripts(engine_t *e) {
    char lib[4200];
    struct stat st;
    if (e->stopping || e->closed || !e->handles || !e->conf->watch) return;
    if (!e->watching_dir) {
        uv_fs_event_init(&e->loop, &e->watch_dir);
        e->watch_dir.data = e;
        e->watching_dir = 1;
        int rc = uv_fs_event_start(&e->watch_dir, on_fs_event, e->conf->scripts, 0);
        if (rc < 0)
            log_warn("cannot watch %s: %s; use `baton reload` after changes", e->conf->scripts,
                     uv_strerror(rc));
    }
    snprintf(lib, sizeof lib, "%s/lib", e->conf->scripts);
    for (libwatch_t *w = e->libs; w; w = w->next) w->seen = 0;
    int added = stat(lib, &st) == 0 && S_ISDIR(st.st_mode) ? watch_lib_tree(e, lib, 0) : 0;
    unwatch_libs(e, 0);
    if (added && e->libs_scanned) uv_timer_start(&e->settle, on_settle, SETTLE_MS, 0);
    e->libs_scanned = 1;
}

int loop_run(const conf_t *conf) {
    engine_t *e = calloc(1, sizeof *e);
    char err[1024];
    int rc = 1;
    if (!e) return 1;
    e->conf = conf;
    e->lock_fd = -1;
    /* A write to a dead child's pipe must not kill the engine. */
    signal(SIGPIPE, SIG_IGN);
    if (uv_loop_init(&e->loop) < 0) {
        free(e);
        return 1;
    }
    vclock_init(&e->clock, &e->loop, 0, 0);
    log_set_clock(NULL, NULL);

    if (lock_database(e, conf->database) < 0) goto out;
    if (store_open(&e->store, conf->database, 0, err, sizeof err) < 0) {
        log_error("%s", err);
        goto out;
    }
    if (circuits_new(&e->circuits, conf, e->store, vclock_now(&e->clock), err, sizeof err) < 0) {
        log_error("%s: %s", conf->path[0] ? conf->path : "engine.conf", err);
        goto out;
    }
    if (pool_new(&e->pool, &e->loop, &e->clock, e->store, conf) < 0) {
        log_error("out of memory");
        goto out;
    }
    pool_backend(e->pool, &e->page_env.browser);
    pool_on_acquire(e->pool, on_acquire, e);
    e->page_env.clock = &e->clock;
    beside_conf(conf, "files", e->page_env.files_dir, sizeof e->page_env.files_dir);
    beside_conf(conf, "files", e->page_env.upload_dir, sizeof e->page_env.upload_dir);
    beside_conf(conf, "demo", e->demo_dir, sizeof e->demo_dir);
    retry_budget_init(&e->budget, conf->retry_budget.percent, conf->retry_budget.floor,
                      conf->retry_budget.window);
    e->host = (script_host_t){.clock = &e->clock,
                              .circuits = e->circuits,
                              .budget = &e->budget,
                              .store = e->store,
                              .lua_dir = conf->lua_dir,
                              .memory_limit = conf->sandbox_memory,
                              .cpu_slice = conf->cpu_slice,
                              .trigger = host_trigger,
                              .ud = e,
                              .open_prims = page_open_prims,
                              .prims_ud = &e->page_env};
    e->started_at = vclock_now(&e->clock);
    if (!(e->obs = obs_new())) goto out;
    if (reload_load(conf, &e->host, NULL, 0, &e->set, report, e) < 0) goto out;
    for (size_t i = 0; i < e->set.nscripts; i++)
        obs_script(e->obs, script_path(e->set.scripts[i]), e->started_at, NULL);

    e->runner = (runner_t){.clock = &e->clock,
                           .store = e->store,
                           .budget = &e->budget,
                           .circuits = e->circuits,
                           .on_idle = on_idle,
                           .ud = e};
    e->runner.rng = uv_hrtime() | 1;
    sched_hooks_t hooks = {run_launch, run_cancel, &e->runner};
    if (sched_new(&e->sched, &e->clock, e->store, conf, hooks, uv_hrtime() | 1) < 0) goto out;
    e->runner.sched = e->sched;
    if (sched_set_jobs(e->sched, e->set.jobs, e->set.njobs, err, sizeof err) < 0) {
        log_error("%s", err);
        goto out;
    }
    if (sched_place_offsets(e->sched, 1) < 0)
        log_warn("offset = \"auto\": could not place offsets; those jobs start at offset 0");
    for (size_t i = 0; i < e->set.njobs; i++) {
        char sched_text[128];
        job_describe_schedule(e->set.jobs[i], sched_text, sizeof sched_text);
        log_emit(LOG_DEBUG, e->set.jobs[i]->name, 0, "%s, priority %s", sched_text,
                 job_priority_name(e->set.jobs[i]->priority));
    }
    obs_attach(e->obs, e->sched, e->store, e->circuits);
    http_opts_t web = {.listen = conf->http_listen,
                       .token = conf->http_token,
                       .src = {.conf = conf,
                               .clock = &e->clock,
                               .store = e->store,
                               .sched = e->sched,
                               .circuits = e->circuits,
                               .obs = e->obs,
                               .lag = &e->lag,
                               .started_at = e->started_at,
                               .version = BATON_VERSION},
                       .pool = pool_obs,
                       .pool_ud = e,
                       .reload = http_reload,
                       .reload_ud = e,
                       .demo_dir = e->demo_dir};
    console_env_t con = {
        .src = web.src, .host = &e->host, .reload = console_reload, .reload_ud = e};
    if (console_start(&e->console, &e->loop, conf->console_socket, &con, err, sizeof err) < 0) {
        log_error("%s", err);
        goto out;
    }
    if (http_start(&e->http, &e->loop, &web, err, sizeof err) < 0) {
        log_error("%s", err);
        goto out;
    }
    lag_start(&e->lag, &e->loop, LAG_PERIOD_MS);
    log_info("baton started: %zu job(s) from %zu script(s)%s, database %s", e->set.njobs,
             e->set.nscripts, e->set.errors ? " (some scripts failed to load, see above)" : "",
             conf->database);
    sched_start(e->sched);
    /* Browser jobs find a warm pool: launch now rather than at the first run. */
    if (has_browser_jobs(&e->set)) pool_start(e->pool);

    uv_signal_init(&e->loop, &e->sigint);
    uv_signal_init(&e->loop, &e->sigterm);
    uv_signal_init(&e->loop, &e->sighup);
    e->sigint.data = e->sigterm.data = e->sighup.data = e;
    uv_signal_start(&e->sigint, on_stop_signal, SIGINT);
    uv_signal_start(&e->sigterm, on_stop_signal, SIGTERM);
    uv_signal_start(&e->sighup, on_hup, SIGHUP);
    uv_timer_init(&e->loop, &e->flush);
    uv_timer_init(&e->loop, &e->drain);
    uv_timer_init(&e->loop, &e->settle);
    e->flush.data = e->drain.data = e->settle.data = e;
    e->handles = 1;
    watch_scripts(e);
    uv_timer_start(&e->flush, on_flush, FLUSH_MS, FLUSH_MS);
    e->prune.data = e;
    on_prune(&e->prune);

    uv_run(&e->loop, UV_RUN_DEFAULT);
    rc = 0;
out:
    if (!e->closed) close_all(e);
    uv_run(&e->loop, UV_RUN_DEFAULT);
    http_free(e->http);
    console_free(e->console);
    obs_detach(e->obs);
    sched_free(e->sched);
    reload_free(&e->set);
    if (e->store && store_flush(e->store) < 0) {
        log_error("store: final write failed: %s", store_errmsg(e->store));
        rc = 1;
    }
    circuits_free(e->circuits);
    pool_free(e->pool);
    cdp_ws_free();
    obs_free(e->obs);
    store_close(e->store);
    if (uv_loop_close(&e->loop) != 0) {
        log_error("internal: handles left open at exit");
        rc = 1;
    }
    if (e->lock_fd >= 0) close(e->lock_fd);
    if (rc == 0) log_info("stopped");
    free(e);
    return rc;
}
