/* bench_runs.c — engine overhead per no-op run: N jobs in real script states,
 * the real scheduler, runner and a real sqlite file (the engine opened as
 * every mode opens it, core/engine.c), driven on the virtual clock so only
 * the engine's own work is measured (schedule, start, resume, record). Also
 * reports memory per script state.
 * usage: bench_runs JOBS JOBS_PER_SCRIPT MINUTES DIR */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "base/log.h"
#include "base/vclock.h"
#include "conf/conf.h"
#include "core/engine.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long rss_kb(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0) kb = atol(line + 6);
    if (f) fclose(f);
    return kb;
}

static void report(void *ud, const char *line) { fprintf(stderr, "%s\n", line); }

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: bench_runs JOBS JOBS_PER_SCRIPT MINUTES DIR\n");
        return 2;
    }
    int njobs = atoi(argv[1]), per = atoi(argv[2]), minutes = atoi(argv[3]);
    const char *dir = argv[4];
    char path[4096], err[1024];
    conf_t conf;
    conf_defaults(&conf);
    const char *lua = getenv("BATON_LUA_DIR");
    snprintf(conf.lua_dir, sizeof conf.lua_dir, "%s", lua ? lua : "lua");
    snprintf(conf.scripts, sizeof conf.scripts, "%s/scripts", dir);
    snprintf(conf.database, sizeof conf.database, "%s/bench.db", dir);
    conf.max_concurrent_runs = njobs;
    log_setup(LOG_WARN, 0);

    /* every job: every 60 s, spread over the minute, a no-op run */
    snprintf(path, sizeof path, "mkdir -p %s/scripts && rm -f %s/scripts/*.lua %s/bench.db*", dir,
             dir, dir);
    if (system(path) != 0) return 1;
    for (int s = 0; s * per < njobs; s++) {
        snprintf(path, sizeof path, "%s/scripts/s%05d.lua", dir, s);
        FILE *f = fopen(path, "w");
        for (int j = s * per; j < njobs && j < (s + 1) * per; j++)
            fprintf(f, "job 'j%d' { every = 60, offset = %d, run = function() end }\n", j, j % 60);
        fclose(f);
    }

    long rss0 = rss_kb();
    vclock_t clock;
    vclock_init(&clock, NULL, 1, 1704067200.0);
    engine_t *e;
    engine_opts_t eo = {.mode = ENGINE_BENCH, .clock = &clock, .report = report};
    if (engine_open(&e, &conf, &eo, err, sizeof err) < 0) {
        if (err[0]) fprintf(stderr, "%s\n", err);
        return 1;
    }
    if (e->set.errors) return 1;
    const scripts_set_t set = e->set;
    store_t *store = e->store;
    double t_load = e->load_seconds;
    long rss_loaded = rss_kb();
    size_t state_bytes = 0;
    for (size_t i = 0; i < set.nscripts; i++) {
        lua_gc(script_state(set.scripts[i]), LUA_GCCOLLECT); /* what stays, not load garbage */
        state_bytes += script_memory(set.scripts[i]);
    }

    sched_t *sched = e->sched;
    const runner_t *runner = &e->runner;
    engine_start(e);
    double t0 = now_s();
    double end = vclock_now(&clock) + minutes * 60.0;
    /* flush like the engine does, every 200 ms of (virtual) time */
    for (double t = vclock_now(&clock); t < end; t += 0.2) {
        vclock_advance(&clock, t + 0.2);
        sched_save(sched);
        if (store_dirty(store)) store_flush(store);
    }
    double t_run = now_s() - t0;
    long runs = (long)(runner->ok_total + runner->failed_total);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);

    printf("jobs=%d scripts=%zu runs=%ld failed=%lld\n", njobs, set.nscripts, runs,
           (long long)runner->failed_total);
    printf("load_s=%.3f per_run_us=%.2f runs_per_s=%.0f\n", t_load, t_run / runs * 1e6,
           runs / t_run);
    printf("rss_start_mb=%.1f rss_loaded_mb=%.1f rss_end_mb=%.1f maxrss_mb=%.1f\n", rss0 / 1024.0,
           rss_loaded / 1024.0, rss_kb() / 1024.0, ru.ru_maxrss / 1024.0);
    printf("lua_bytes_per_state=%.0f\n", (double)state_bytes / (double)set.nscripts);

    engine_stop(e);
    engine_close(e);
    vclock_close(&clock);
    return 0;
}
