/* test_engine.c — the one assembly: test mode loads and runs the scripts on
 * the virtual clock as dry runs, plan mode hands its starts to the launcher
 * and gives scripts no store, run mode on a real loop closes every handle, a
 * failed open leaves nothing open, and a trigger while scripts load is an
 * error rather than a crash. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "core/engine.h"
#include "scriptkit.h"
#include "test.h"

typedef struct lines {
    int n;
    char last[1024];
} lines_t;

static void collect(void *ud, const char *line) {
    lines_t *l = ud;
    l->n++;
    snprintf(l->last, sizeof l->last, "%s", line);
}

static int last_result(void *ud, const store_run_t *r) {
    if (r->result) snprintf(ud, 64, "%s", r->result);
    return 1; /* newest first: the first row is enough */
}

TEST(engine_test_mode_runs_the_scripts_as_dry_runs_on_the_virtual_clock) {
    kit_t k;
    lines_t l = {0};
    char err[1024], result[64] = "";
    engine_t *e;
    kit_init(&k);
    snprintf(k.conf.scripts, sizeof k.conf.scripts, "%s", k.dir);
    kit_write(&k, "a.lua",
              "job 'a' { every = '1m', run = function(ctx) return ctx.dry_run end }\n");
    engine_opts_t o = {.mode = ENGINE_TEST,
                       .clock = &k.clock,
                       .database = ":memory:",
                       .browser = ENGINE_BROWSER_FAKE,
                       .report = collect,
                       .report_ud = &l};
    CHECK_INT(engine_open(&e, &k.conf, &o, err, sizeof err), 0);
    CHECK_INT(l.n, 0);
    CHECK_INT((int)e->set.njobs, 1);
    CHECK(e->fake != NULL);
    CHECK(e->page_env.browser.self == e->fake); /* the fake behind the page table */
    CHECK(e->pool == NULL);
    CHECK(e->host.dry_run);
    engine_start(e);
    vclock_advance(&k.clock, vclock_now(&k.clock) + 181);
    CHECK_INT(e->runner.ok_total, 4); /* at 0, 1, 2 and 3 minutes */
    store_runs(e->store, "a", 0, last_result, result);
    CHECK_STR(result, "true");
    engine_stop(e);
    CHECK(e->stopping);
    CHECK_INT(engine_close(e), 0);
    kit_free(&k);
}

TEST(engine_bench_mode_runs_for_real) {
    kit_t k;
    lines_t l = {0};
    char err[1024], result[64] = "";
    engine_t *e;
    kit_init(&k);
    snprintf(k.conf.scripts, sizeof k.conf.scripts, "%s", k.dir);
    kit_write(&k, "a.lua",
              "job 'a' { every = '1m', run = function(ctx) return ctx.dry_run end }\n");
    engine_opts_t o = {
        .mode = ENGINE_BENCH, .clock = &k.clock, .database = ":memory:", .report = collect};
    o.report_ud = &l;
    CHECK_INT(engine_open(&e, &k.conf, &o, err, sizeof err), 0);
    CHECK(e->fake == NULL && e->pool == NULL);
    engine_start(e);
    vclock_advance(&k.clock, vclock_now(&k.clock) + 61);
    store_runs(e->store, "a", 0, last_result, result);
    CHECK_STR(result, "false");
    engine_stop(e);
    CHECK_INT(engine_close(e), 0);
    kit_free(&k);
}

typedef struct starts {
    engine_t *e;
    int n;
} starts_t;

static void count_start(void *ud, sched_start_t *st) {
    starts_t *s = ud;
    s->n++;
    sched_done(s->e->sched, st, "ok", vclock_now(s->e->clock));
}

static void cancel_none(void *ud, sched_start_t *st, const char *why) {}

TEST(engine_plan_mode_hands_starts_to_the_launcher_and_gives_scripts_no_store) {
    kit_t k;
    lines_t l = {0};
    char err[1024];
    starts_t s = {0};
    kit_init(&k);
    snprintf(k.conf.scripts, sizeof k.conf.scripts, "%s", k.dir);
    snprintf(k.conf.database, sizeof k.conf.database, ":memory:");
    kit_write(&k, "a.lua",
              "assert(not pcall(function() return baton.store:get('k') end))\n"
              "job 'a' { every = '1m', jitter = '30s', run = function() end }\n");
    engine_opts_t o = {.mode = ENGINE_PLAN,
                       .clock = &k.clock,
                       .report = collect,
                       .report_ud = &l,
                       .launcher = {count_start, cancel_none, &s}};
    CHECK_INT(engine_open(&s.e, &k.conf, &o, err, sizeof err), 0);
    CHECK_INT(s.e->set.errors, 0);
    CHECK(s.e->store == NULL);
    CHECK(s.e->host.store == NULL && s.e->host.circuits == NULL && !s.e->host.trigger);
    CHECK_NUM(s.e->set.jobs[0]->jitter, 0); /* no --seed: on schedule */
    engine_start(s.e);
    vclock_advance(&k.clock, vclock_now(&k.clock) + 599);
    CHECK_INT(s.n, 10);
    CHECK_INT(s.e->runner.ok_total, 0);
    CHECK_INT(engine_close(s.e), 0);
    kit_free(&k);
}

TEST(engine_run_mode_on_a_real_loop_closes_every_handle) {
    kit_t k;
    lines_t l = {0};
    char err[1024], db[400];
    uv_loop_t loop;
    vclock_t clock;
    engine_t *e;
    kit_init(&k);
    snprintf(k.conf.scripts, sizeof k.conf.scripts, "%s", k.dir);
    snprintf(db, sizeof db, "%s/run.db", k.dir);
    kit_write(&k, "a.lua", "job 'a' { every = '1h', run = function() end }\n");
    CHECK_INT(uv_loop_init(&loop), 0);
    vclock_init(&clock, &loop, 0, 0);
    engine_opts_t o = {.mode = ENGINE_RUN,
                       .clock = &clock,
                       .loop = &loop,
                       .database = db,
                       .browser = ENGINE_BROWSER_POOL,
                       .report = collect,
                       .report_ud = &l};
    CHECK_INT(engine_open(&e, &k.conf, &o, err, sizeof err), 0);
    CHECK(e->pool != NULL && e->page_env.browser.self == e->pool);
    CHECK(!e->host.dry_run);
    engine_start(e);
    uv_run(&loop, UV_RUN_NOWAIT);
    engine_stop(e);
    engine_cancel_runs(e, "test");
    engine_shutdown(e);
    vclock_close(&clock);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_INT(engine_close(e), 0);
    CHECK_INT(uv_loop_close(&loop), 0);
    kit_free(&k);
}

TEST(engine_open_that_fails_leaves_nothing_open_and_says_why) {
    kit_t k;
    lines_t l = {0};
    char err[1024] = "x";
    engine_t *e = (engine_t *)&l;
    kit_init(&k);
    snprintf(k.conf.scripts, sizeof k.conf.scripts, "%s/missing", k.dir);
    engine_opts_t o = {.mode = ENGINE_TEST,
                       .clock = &k.clock,
                       .database = ":memory:",
                       .browser = ENGINE_BROWSER_FAKE,
                       .report = collect,
                       .report_ud = &l};
    CHECK(engine_open(&e, &k.conf, &o, err, sizeof err) < 0);
    CHECK(e == NULL);
    CHECK_STR(err, ""); /* reported instead */
    CHECK_INT(l.n, 1);
    CHECK_HAS(l.last, "cannot read the scripts directory");
    /* a set the scheduler refuses: its message comes back in err */
    snprintf(k.conf.scripts, sizeof k.conf.scripts, "%s", k.dir);
    kit_write(&k, "a.lua", "job 'a' { requires = { nope = '1h' }, run = function() end }\n");
    CHECK(engine_open(&e, &k.conf, &o, err, sizeof err) < 0);
    CHECK(e == NULL);
    CHECK_HAS(err, "nope");
    kit_free(&k);
}

TEST(engine_a_trigger_while_the_scripts_load_is_an_error) {
    kit_t k;
    lines_t l = {0};
    char err[1024];
    engine_t *e;
    kit_init(&k);
    snprintf(k.conf.scripts, sizeof k.conf.scripts, "%s", k.dir);
    kit_write(&k, "a.lua",
              "job 'a' { run = function() end }\n"
              "assert(not pcall(baton.trigger, 'a'))\n");
    engine_opts_t o = {
        .mode = ENGINE_BENCH, .clock = &k.clock, .database = ":memory:", .report = collect};
    o.report_ud = &l;
    CHECK_INT(engine_open(&e, &k.conf, &o, err, sizeof err), 0);
    CHECK_INT(e->set.errors, 0);
    CHECK_INT(l.n, 0);
    CHECK_INT(engine_close(e), 0);
    kit_free(&k);
}
