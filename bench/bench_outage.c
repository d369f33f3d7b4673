/* bench_outage.c — how many requests reach a dead site during an outage: 16
 * jobs (periods 5 to 60 minutes, offset auto, the engine's default retries and
 * retry budget) whose every attempt fails with `network`, run on the virtual
 * clock through the engine as every mode opens it (core/engine.c), with and
 * without a shared circuit breaker (failures 5, cooldown 5m).
 * usage: bench_outage MINUTES DIR [social|1m] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "core/engine.h"

static const int social[16] = {5, 5, 10, 10, 10, 15, 15, 15, 20, 20, 30, 30, 30, 60, 60, 60};
static const int *periods = social;
static const int every_minute[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};

static int count_attempt(void *ud, const store_run_t *r) {
    if (r->started_at > 0) ++*(long *)ud;
    return 0;
}

static void report(void *ud, const char *line) { fprintf(stderr, "%s\n", line); }

/* Returns the attempts that reached the site (rows that started). */
static int failures = 5;
static double cooldown = 300;

static long outage(const char *dir, int minutes, int with_breaker, long *skipped) {
    char path[8300], err[1024];
    conf_t conf;
    conf_defaults(&conf);
    const char *lua = getenv("BATON_LUA_DIR");
    snprintf(conf.lua_dir, sizeof conf.lua_dir, "%s", lua ? lua : "lua");
    snprintf(conf.scripts, sizeof conf.scripts, "%s/scripts%d", dir, with_breaker);
    if (with_breaker) {
        conf.nbreakers = 1;
        conf.breakers[0] = (conf_breaker_t){.name = "site",
                                            .failures = failures,
                                            .cooldown = cooldown,
                                            .min_calls = 10,
                                            .failure_rate = 50,
                                            .probes = 1};
    }
    snprintf(path, sizeof path, "mkdir -p %s", conf.scripts);
    if (system(path) != 0) return -1;
    snprintf(path, sizeof path, "%s/jobs.lua", conf.scripts);
    FILE *f = fopen(path, "w");
    for (int i = 0; i < 16; i++)
        fprintf(f,
                "job 'j%02d' { every = '%dm', offset = 'auto'%s, run = function()\n"
                "  baton.error('network', 'connection refused') end }\n",
                i, periods[i], with_breaker ? ", breaker = 'site'" : "");
    fclose(f);

    vclock_t clock;
    vclock_init(&clock, NULL, 1, 1704067200.0);
    engine_t *e;
    engine_opts_t eo = {
        .mode = ENGINE_BENCH, .clock = &clock, .database = ":memory:", .report = report};
    if (engine_open(&e, &conf, &eo, err, sizeof err) < 0 || e->set.errors) return -1;
    store_t *store = e->store;
    engine_start(e);
    vclock_advance(&clock, vclock_now(&clock) + minutes * 60.0);

    long attempts = 0, all = 0;
    store_runs(store, NULL, 0, count_attempt, &attempts);
    store_runs(store, NULL, 0, count_attempt, &all);
    *skipped = (long)e->runner.ok_total; /* none succeed: reuse as a zero check */
    engine_stop(e);
    engine_close(e);
    vclock_close(&clock);
    return attempts;
}

int main(int argc, char **argv) {
    if (argc < 3 || argc > 6) {
        fprintf(stderr, "usage: bench_outage MINUTES DIR [social|1m [FAILURES COOLDOWN_S]]\n");
        return 2;
    }
    if (argc >= 4 && strcmp(argv[3], "1m") == 0) periods = every_minute;
    if (argc == 6) {
        failures = atoi(argv[4]);
        cooldown = atof(argv[5]);
    }
    int minutes = atoi(argv[1]);
    long ok_a = 0, ok_b = 0;
    log_setup(LOG_OFF, 0);
    long without = outage(argv[2], minutes, 0, &ok_a);
    long with = outage(argv[2], minutes, 1, &ok_b);
    if (without < 0 || with < 0 || ok_a || ok_b) return 1;
    printf("outage_minutes=%d jobs=16 periods=%s breaker=failures:%d,cooldown:%gs "
           "requests_without_breaker=%ld requests_with_breaker=%ld ratio=%.1f\n",
           minutes, periods == social ? "5-60m" : "1m", failures, cooldown, without, with,
           with ? (double)without / (double)with : 0.0);
    return 0;
}
