/* loop.c — `baton run`: owns the libuv loop, the real clock and the database
 * lock; opens the engine (engine.c) on them and serves it: HTTP, the
 * console, the periodic store flush and prune, signals (SIGINT/SIGTERM drain,
 * SIGHUP reloads), the file watcher (watch.c) and live reloads (reload.c).
 * Shutdown closes every handle and leaves uv_loop_close == 0. */
#include "loop.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>
#include <uv.h>

#include "base/log.h"
#include "base/units.h"
#include "base/vclock.h"
#include "base/version.h"
#include "browser/cdp.h"
#include "console/console.h"
#include "engine.h"
#include "http/http.h"
#include "obs/lag.h"
#include "obs/obs.h"
#include "reload.h"
#include "watch.h"

static const uint64_t FLUSH_MS = 200;
static const uint64_t LAG_PERIOD_MS = 100;
static const double PRUNE_EVERY = 3600;

typedef struct loop {
    uv_loop_t uv;
    const conf_t *conf;
    vclock_t clock;
    engine_t *engine;
    char files_dir[4096]; /* files/ beside engine.conf: page screenshots */
    char demo_dir[4096];  /* demo/ beside engine.conf, served under /demo/ */
    uv_signal_t sigint, sigterm, sighup;
    uv_timer_t flush, drain;
    watch_t watch; /* when conf->watch */
    int watching;
    vtimer_t prune;
    obs_t *obs; /* counters and events for http */
    lag_t lag;
    http_t *http;
    console_t *console; /* the console socket */
    double started_at;
    int lock_fd; /* the database file, flocked while the engine runs */
    int handles; /* signals and uv timers initialised */
    int closed;
} loop_t;

/* One engine per database: sqlite alone only notices a second writer while
 * the first holds a transaction, so hold an flock for the engine's life. The
 * lock is on the database file itself (created here when missing), so it
 * follows the file's identity: a second engine reaching the same file by a
 * symlink, a hard link or another spelling of its path is refused too. An
 * flock does not touch sqlite's POSIX locks; the descriptor stays open until
 * the store is closed, so closing it cannot drop them. */
static int lock_database(loop_t *l, const char *db) {
    l->lock_fd = -1;
    if (strcmp(db, ":memory:") == 0) return 0;
    l->lock_fd = open(db, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (l->lock_fd < 0) l->lock_fd = open(db, O_RDONLY | O_CLOEXEC);
    if (l->lock_fd < 0) {
        /* sqlite says what is wrong with the file or its directory */
        if (errno == ENOENT || errno == ENOTDIR || errno == EACCES || errno == EROFS ||
            errno == EPERM || errno == EISDIR)
            return 0;
        log_error("%s: %s", db, strerror(errno));
        return -1;
    }
    if (flock(l->lock_fd, LOCK_EX | LOCK_NB) < 0) {
        log_error("%s: in use by another baton (the database file is locked)", db);
        close(l->lock_fd);
        l->lock_fd = -1;
        return -1;
    }
    return 0;
}

/* A script's error line: the log, and the script's state in health. */
static void report(void *ud, const char *line) {
    loop_t *l = ud;
    log_error("%s", line);
    if (l->obs) obs_script(l->obs, NULL, vclock_now(&l->clock), line);
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
    loop_t *l = t->data;
    sched_save(l->engine->sched);
    store_t *st = l->engine->store;
    /* Idle, the file is still checked, so that health sees a deleted or
     * read-only database before the next write is lost. */
    int was_failing = store_write_error(st) != NULL;
    int rc = store_dirty(st) ? store_flush(st) : store_check(st);
    if (rc < 0 && !was_failing) log_error("store: cannot write: %s", store_errmsg(st));
}

static void on_prune(vtimer_t *t) {
    loop_t *l = t->data;
    int64_t deleted = 0;
    double now = vclock_now(&l->clock);
    if (l->conf->retention > 0 &&
        store_prune(l->engine->store, now - l->conf->retention, &deleted) == 0 && deleted > 0)
        log_info("store: pruned %lld run rows older than the retention", (long long)deleted);
    vtimer_start(&l->clock, &l->prune, now + PRUNE_EVERY, on_prune);
}

static void close_all(loop_t *l) {
    if (l->closed) return;
    l->closed = 1;
    if (l->handles) {
        uv_close((uv_handle_t *)&l->sigint, NULL);
        uv_close((uv_handle_t *)&l->sigterm, NULL);
        uv_close((uv_handle_t *)&l->sighup, NULL);
        uv_close((uv_handle_t *)&l->flush, NULL);
        uv_close((uv_handle_t *)&l->drain, NULL);
    }
    if (l->watching) watch_close(&l->watch);
    l->watching = 0;
    vtimer_stop(&l->clock, &l->prune);
    engine_shutdown(l->engine);
    cdp_ws_shutdown();
    vclock_close(&l->clock);
    http_stop(l->http);
    console_stop(l->console);
    lag_stop(&l->lag);
}

static void on_idle(void *ud) {
    loop_t *l = ud;
    if (l->engine->stopping) {
        log_info("all runs finished; stopping");
        close_all(l);
    }
}

static void on_drain_timeout(uv_timer_t *t) {
    loop_t *l = t->data;
    log_warn("shutdown_timeout reached: cancelling %zu run(s)", l->engine->runner.live);
    engine_cancel_runs(l->engine, "engine shutdown");
    if (l->engine->runner.live == 0) close_all(l);
}

static void on_stop_signal(uv_signal_t *h, int signum) {
    loop_t *l = h->data;
    engine_t *e = l->engine;
    if (e->stopping) {
        log_warn("second %s: cancelling runs now", strsignal(signum));
        on_drain_timeout(&l->drain);
        return;
    }
    engine_stop(e);
    if (l->watching) watch_stop(&l->watch);
    if (e->runner.live == 0) {
        log_info("%s: stopping (no runs in flight)", strsignal(signum));
        close_all(l);
        return;
    }
    char d[32];
    units_format_duration(l->conf->shutdown_timeout, d, sizeof d);
    log_info("%s: draining %zu run(s) in flight (up to %s)", strsignal(signum), e->runner.live, d);
    uv_timer_start(&l->drain, on_drain_timeout, (uint64_t)(l->conf->shutdown_timeout * 1000), 0);
}

/* Every reload, whatever its cause; then the watches follow the tree (lib/
 * may have appeared). */
static int loop_reload(loop_t *l, const char *why, int quiet, cJSON *answer) {
    int rc = reload_apply(l->engine, l->obs, why, quiet, answer);
    if (l->watching && !l->closed) watch_scan(&l->watch);
    return rc;
}

static int http_reload(void *ud, cJSON *answer) {
    return loop_reload(ud, "POST /api/reload", 0, answer);
}

static int console_reload(void *ud, cJSON *answer) { return loop_reload(ud, "console", 0, answer); }

static void on_hup(uv_signal_t *h, int signum) {
    (void)signum;
    loop_reload(h->data, "SIGHUP", 0, NULL);
}

static void on_scripts_changed(void *ud) { loop_reload(ud, "scripts changed", 1, NULL); }

/* Opens the engine and everything that serves it; 0, or -1 (reported). */
static int loop_open(loop_t *l) {
    const conf_t *conf = l->conf;
    char err[1024];
    if (lock_database(l, conf->database) < 0) return -1;
    if (!(l->obs = obs_new())) return -1;
    beside_conf(conf, "files", l->files_dir, sizeof l->files_dir);
    beside_conf(conf, "demo", l->demo_dir, sizeof l->demo_dir);
    engine_opts_t eo = {.mode = ENGINE_RUN,
                        .clock = &l->clock,
                        .loop = &l->uv,
                        .browser = ENGINE_BROWSER_POOL,
                        .files_dir = l->files_dir,
                        .report = report,
                        .report_ud = l,
                        .on_idle = on_idle,
                        .idle_ud = l};
    l->started_at = vclock_now(&l->clock);
    if (engine_open(&l->engine, conf, &eo, err, sizeof err) < 0) {
        if (err[0]) log_error("%s", err);
        return -1;
    }
    engine_t *e = l->engine;
    for (size_t i = 0; i < e->set.nscripts; i++)
        obs_script(l->obs, script_path(e->set.scripts[i]), l->started_at, NULL);
    for (size_t i = 0; i < e->set.njobs; i++) {
        char sched_text[128];
        job_describe_schedule(e->set.jobs[i], sched_text, sizeof sched_text);
        log_emit(LOG_DEBUG, e->set.jobs[i]->name, 0, "%s, priority %s", sched_text,
                 job_priority_name(e->set.jobs[i]->priority));
    }
    obs_attach(l->obs, e->sched, e->store, e->circuits);
    obs_watch_pool(l->obs, e->pool, conf->browser.max_pages);
    obs_watch_httpc(l->obs, e->httpc);
    http_opts_t web = {.listen = conf->http_listen,
                       .token = conf->http_token,
                       .src = {.conf = conf,
                               .clock = &l->clock,
                               .store = e->store,
                               .sched = e->sched,
                               .circuits = e->circuits,
                               .obs = l->obs,
                               .lag = &l->lag,
                               .started_at = l->started_at,
                               .version = BATON_VERSION},
                       .reload = http_reload,
                       .reload_ud = l,
                       .demo_dir = l->demo_dir};
    console_env_t con = {
        .src = web.src, .host = &e->host, .reload = console_reload, .reload_ud = l};
    if (console_start(&l->console, &l->uv, conf->console_socket, &con, err, sizeof err) < 0) {
        log_error("%s", err);
        return -1;
    }
    if (http_start(&l->http, &l->uv, &web, err, sizeof err) < 0) {
        log_error("%s", err);
        return -1;
    }
    lag_start(&l->lag, &l->uv, LAG_PERIOD_MS);
    log_info("baton started: %zu job(s) from %zu script(s)%s, database %s", e->set.njobs,
             e->set.nscripts, e->set.errors ? " (some scripts failed to load, see above)" : "",
             conf->database);
    engine_start(e);

    uv_signal_init(&l->uv, &l->sigint);
    uv_signal_init(&l->uv, &l->sigterm);
    uv_signal_init(&l->uv, &l->sighup);
    l->sigint.data = l->sigterm.data = l->sighup.data = l;
    uv_signal_start(&l->sigint, on_stop_signal, SIGINT);
    uv_signal_start(&l->sigterm, on_stop_signal, SIGTERM);
    uv_signal_start(&l->sighup, on_hup, SIGHUP);
    uv_timer_init(&l->uv, &l->flush);
    uv_timer_init(&l->uv, &l->drain);
    l->flush.data = l->drain.data = l;
    l->handles = 1;
    if (conf->watch) {
        watch_init(&l->watch, &l->uv, conf->scripts, on_scripts_changed, l);
        l->watching = 1;
        watch_scan(&l->watch);
    }
    uv_timer_start(&l->flush, on_flush, FLUSH_MS, FLUSH_MS);
    l->prune.data = l;
    on_prune(&l->prune);
    return 0;
}

int loop_run(const conf_t *conf) {
    loop_t *l = calloc(1, sizeof *l);
    int rc = 1;
    if (!l) return 1;
    l->conf = conf;
    l->lock_fd = -1;
    /* A write to a dead child's pipe must not kill the engine. */
    signal(SIGPIPE, SIG_IGN);
    if (uv_loop_init(&l->uv) < 0) {
        free(l);
        return 1;
    }
    vclock_init(&l->clock, &l->uv, 0, 0);
    log_set_clock(NULL, NULL);
    if (loop_open(l) == 0) {
        uv_run(&l->uv, UV_RUN_DEFAULT);
        rc = 0;
    }
    if (!l->closed) close_all(l);
    uv_run(&l->uv, UV_RUN_DEFAULT);
    http_free(l->http);
    console_free(l->console);
    obs_detach(l->obs);
    if (engine_close(l->engine) < 0) rc = 1;
    cdp_ws_free();
    obs_free(l->obs);
    if (uv_loop_close(&l->uv) != 0) {
        log_error("internal: handles left open at exit");
        rc = 1;
    }
    if (l->lock_fd >= 0) close(l->lock_fd);
    if (rc == 0) log_info("stopped");
    free(l);
    return rc;
}
