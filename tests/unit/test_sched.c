/* test_sched.c — the scheduler with real runs of real scripts on the virtual
 * clock: priority order under the run limit, overlap skip/queue/replace,
 * requires and after, misfire after downtime, triggers, and the store rows. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "run/circuit.h"
#include "run/retry.h"
#include "run/run.h"
#include "sched/sched.h"
#include "scriptkit.h"
#include "test.h"

typedef struct world {
    kit_t k;
    job_t **jobs;
    size_t njobs;
    sched_t *sched;
    runner_t runner;
    circuits_t *circuits;
} world_t;

static int host_trigger(void *ud, const char *job, const char *args, char *err, size_t len) {
    world_t *w = ud;
    return sched_trigger(w->sched, job, args, err, len);
}

/* Loads the jobs of `text` and starts a scheduler at the kit's clock. */
static int world_init(world_t *w, const char *text, int max_runs) {
    char err[1024];
    memset(w, 0, sizeof *w);
    kit_init(&w->k);
    w->k.conf.max_concurrent_runs = max_runs;
    w->k.host.trigger = host_trigger;
    w->k.host.ud = w;
    if (circuits_new(&w->circuits, &w->k.conf, w->k.store, vclock_now(&w->k.clock), err,
                     sizeof err) < 0)
        return -1;
    w->k.host.circuits = w->circuits;
    w->jobs = kit_jobs(&w->k, "jobs.lua", text, &w->njobs, err, sizeof err);
    if (!w->jobs) {
        fprintf(stderr, "    load: %s\n", err);
        return -1;
    }
    w->runner =
        (runner_t){.clock = &w->k.clock, .store = w->k.store, .rng = 42, .circuits = w->circuits};
    sched_hooks_t hooks = {run_launch, run_cancel, &w->runner};
    sched_new(&w->sched, &w->k.clock, w->k.store, &w->k.conf, hooks, 7);
    w->runner.sched = w->sched;
    if (sched_set_jobs(w->sched, w->jobs, w->njobs, err, sizeof err) < 0) {
        fprintf(stderr, "    sched: %s\n", err);
        return -1;
    }
    sched_place_offsets(w->sched, 1);
    /* Start just after midnight: tests count starts from the first period on. */
    vclock_advance(&w->k.clock, vclock_now(&w->k.clock) + 0.5);
    sched_start(w->sched);
    return 0;
}

static void cancel_one(void *ud, sched_start_t *st) { run_cancel(ud, st, "test over"); }

static void world_free(world_t *w) {
    if (w->sched) {
        sched_stop(w->sched);
        sched_each_running(w->sched, cancel_one, &w->runner);
        sched_free(w->sched);
    }
    job_free_all(w->jobs, w->njobs);
    circuits_free(w->circuits);
    kit_free(&w->k);
}

static void advance(world_t *w, double seconds) {
    vclock_advance(&w->k.clock, vclock_now(&w->k.clock) + seconds);
}

typedef struct count {
    const char *job, *status, *kind;
    int n;
} count_t;

static int count_row(void *ud, const store_run_t *r) {
    count_t *c = ud;
    if (c->job && strcmp(r->job, c->job) != 0) return 0;
    if (c->status && strcmp(r->status, c->status) != 0) return 0;
    if (c->kind && (!r->error_kind || strcmp(r->error_kind, c->kind) != 0)) return 0;
    c->n++;
    return 0;
}

static int rows(world_t *w, const char *job, const char *status, const char *kind) {
    count_t c = {job, status, kind, 0};
    store_runs(w->k.store, NULL, 0, count_row, &c);
    return c.n;
}

static int grab_result(void *ud, const store_run_t *r) {
    snprintf(ud, 1024, "%s", r->result ? r->result : "");
    return 1;
}

/* The result of the newest run of job. */
static char *last_result(world_t *w, const char *job) {
    static char buf[1024];
    buf[0] = 0;
    store_runs(w->k.store, job, 1, grab_result, buf);
    return buf;
}

static char *kv(world_t *w, const char *key) {
    static char buf[1024];
    char *json = NULL;
    store_kv_get(w->k.store, key, &json);
    snprintf(buf, sizeof buf, "%s", json ? json : "(nil)");
    free(json);
    return buf;
}

#define APPEND_ORDER                                                                               \
    "local function mark(ctx) local o = ctx.store:get('order') or {}\n"                            \
    "  o[#o + 1] = ctx.job; ctx.store:set('order', o) end\n"

TEST(sched_runs_waiting_starts_by_priority_under_the_run_limit) {
    world_t w;
    int rc = world_init(&w,
                        APPEND_ORDER
                        "job 'blocker' { run = function(ctx) mark(ctx) ctx:sleep(10) end }\n"
                        "job 'low' { priority = 'low', run = function(ctx) mark(ctx) end }\n"
                        "job 'crit' { priority = 'critical', run = function(ctx) mark(ctx) end }\n"
                        "job 'med' { run = function(ctx) mark(ctx) end }\n"
                        "job 'high' { priority = 'high', run = function(ctx) mark(ctx) end }\n",
                        1);
    CHECK(rc == 0);
    char err[128];
    sched_trigger(w.sched, "blocker", NULL, err, sizeof err);
    advance(&w, 1);
    sched_trigger(w.sched, "low", NULL, err, sizeof err);
    sched_trigger(w.sched, "med", NULL, err, sizeof err);
    sched_trigger(w.sched, "crit", NULL, err, sizeof err);
    sched_trigger(w.sched, "high", NULL, err, sizeof err);
    advance(&w, 1);
    CHECK_STR(kv(&w, "order"), "[\"blocker\"]"); /* the limit holds the others back */
    CHECK_INT(sched_queued(w.sched), 4);
    advance(&w, 20);
    CHECK_STR(kv(&w, "order"), "[\"blocker\",\"crit\",\"high\",\"med\",\"low\"]");
    world_free(&w);
}

TEST(sched_interval_starts_are_clock_aligned_with_offset) {
    world_t w;
    int rc = world_init(&w,
                        "job 'j' { every = '10m', offset = '3m', run = function(ctx)\n"
                        "  local t = ctx.store:get('t') or {}\n"
                        "  t[#t + 1] = ctx.scheduled_at - 1704067200\n"
                        "  ctx.store:set('t', t) end }\n",
                        4);
    CHECK(rc == 0);
    advance(&w, 3600);
    CHECK_STR(kv(&w, "t"), "[180,780,1380,1980,2580,3180]");
    world_free(&w);
}

TEST(sched_overlap_skip_records_skipped_overlap) {
    world_t w;
    int rc = world_init(
        &w,
        "job 'j' { every = '1m', timeout = '10m', run = function(ctx) ctx:sleep('150s') end }\n",
        4);
    CHECK(rc == 0);
    advance(&w, 330); /* 60 runs to 210; 120, 180 skipped; 240 runs; 300 skipped */
    CHECK_INT(rows(&w, "j", "skipped", "overlap"), 3);
    CHECK_INT(rows(&w, "j", "ok", NULL), 1);
    world_free(&w);
}

TEST(sched_overlap_queue_runs_back_to_back) {
    world_t w;
    int rc = world_init(&w,
                        "job 'j' { every = '1m', overlap = 'queue',\n"
                        "  run = function(ctx) ctx:sleep('90s') end }\n",
                        4);
    CHECK(rc == 0);
    advance(&w, 60 + 4 * 90 + 1); /* starts pile up; each waits for the previous */
    CHECK_INT(rows(&w, "j", "skipped", NULL), 0);
    CHECK_INT(rows(&w, "j", "ok", NULL), 4);
    world_free(&w);
}

TEST(sched_overlap_replace_cancels_the_running_one) {
    world_t w;
    int rc = world_init(&w,
                        "job 'j' { every = '1m', overlap = 'replace',\n"
                        "  run = function(ctx) ctx:sleep('90s') end }\n",
                        4);
    CHECK(rc == 0);
    advance(&w, 125);
    CHECK_INT(rows(&w, "j", "cancelled", "cancelled"), 1);
    world_free(&w);
}

TEST(sched_requires_skips_until_the_dependency_succeeded_recently) {
    world_t w;
    int rc = world_init(&w,
                        "job 'discover' { run = function() return 1 end }\n"
                        "job 'reply' { every = '1h', requires = { discover = '2h' }, run = "
                        "function() return 2 end }\n",
                        4);
    CHECK(rc == 0);
    advance(&w, 2 * 3600 + 1);
    CHECK_INT(rows(&w, "reply", "skipped", "dependency"), 2);
    CHECK_INT(rows(&w, "reply", "ok", NULL), 0);
    char err[64];
    sched_trigger(w.sched, "discover", NULL, err, sizeof err);
    advance(&w, 3600);
    CHECK_INT(rows(&w, "reply", "ok", NULL), 1);
    advance(&w, 3 * 3600); /* discover's success is now older than 2h */
    CHECK_INT(rows(&w, "reply", "ok", NULL), 2);
    CHECK_INT(rows(&w, "reply", "skipped", "dependency"), 4);
    world_free(&w);
}

TEST(sched_after_runs_whenever_the_job_succeeds) {
    world_t w;
    int rc = world_init(&w,
                        "job 'a' { every = '10m', run = function(ctx) if ctx.store:incr('a') == 2 "
                        "then error('boom') end end }\n"
                        "job 'b' { after = 'a', run = function() end }\n",
                        4);
    CHECK(rc == 0);
    advance(&w, 3 * 600 + 1); /* a: ok, failed (retries fail... attempts), ok */
    CHECK_INT(rows(&w, "a", "ok", NULL), 2);
    CHECK_INT(rows(&w, "b", "ok", NULL), 2);
    world_free(&w);
}

TEST(sched_trigger_unknown_job_is_an_error_and_args_reach_ctx) {
    world_t w;
    char err[128];
    int rc = world_init(&w,
                        "job 'm' { run = function(ctx) return ctx.args end }\n"
                        "job 't' { run = function() baton.trigger('m', { x = 5 }) end }\n",
                        4);
    CHECK(rc == 0);
    CHECK(sched_trigger(w.sched, "ghost", NULL, err, sizeof err) < 0);
    CHECK_HAS(err, "no job named 'ghost'");
    sched_trigger(w.sched, "t", NULL, err, sizeof err);
    advance(&w, 1);
    CHECK_INT(rows(&w, "m", "ok", NULL), 1);
    world_free(&w);
}

TEST(sched_retries_then_fallback_records_each_attempt) {
    world_t w;
    char err[64];
    int rc = world_init(&w,
                        "job 'f' { retry = { attempts = 3, base = '1s', jitter = 'none' },\n"
                        "  run = function() baton.error('network', 'refused') end,\n"
                        "  fallback = function(ctx, err) return { kind = err.kind } end }\n"
                        "job 'g' { retry = 3, run = function() error('plain bug') end }\n",
                        4);
    CHECK(rc == 0);
    sched_trigger(w.sched, "f", NULL, err, sizeof err);
    sched_trigger(w.sched, "g", NULL, err, sizeof err);
    advance(&w, 10);
    CHECK_INT(rows(&w, "f", "failed", "network"), 2);
    CHECK_INT(rows(&w, "f", "fallback", "network"), 1);
    CHECK_INT(rows(&w, "g", "failed", "script"), 1); /* script errors are not retried */
    world_free(&w);
}

TEST(sched_retry_budget_caps_retries_during_an_outage) {
    world_t w;
    char text[4096] = "";
    /* 20 jobs hitting a dead site at once, each allowed 5 attempts */
    for (int i = 0; i < 20; i++) {
        char line[200];
        snprintf(line, sizeof line,
                 "job 'j%d' { every = '1m', retry = { attempts = 5, base = "
                 "'1s', jitter = 'none' },\n"
                 "  run = function() baton.error('network', 'refused') end }\n",
                 i);
        strcat(text, line);
    }
    int rc = world_init(&w, text, 100);
    CHECK(rc == 0);
    retry_budget_t budget;
    retry_budget_init(&budget, 20, 3, 10);
    w.runner.budget = &budget;
    advance(&w, 61); /* one start each; without a budget: 20 * 5 = 100 attempts */
    int attempts = rows(&w, NULL, NULL, "network");
    CHECK(attempts >= 20);
    CHECK(attempts <= 20 + 3 + 20 * 20 / 100 + 1);
    CHECK(budget.refused > 0);
    world_free(&w);
}

TEST(sched_rate_limited_retry_waits_at_least_retry_after) {
    world_t w;
    char err[64];
    int rc = world_init(
        &w,
        "job 'r' { retry = { attempts = 2, base = '1s', jitter = 'none' }, run = function(ctx)\n"
        "  local t = ctx.store:get('t') or {}\n"
        "  t[#t + 1] = baton.now() - 1704067200\n"
        "  ctx.store:set('t', t)\n"
        "  baton.error('rate_limited', 'slow down', { retry_after = 7 })\n"
        "end }\n",
        4);
    CHECK(rc == 0);
    sched_trigger(w.sched, "r", NULL, err, sizeof err);
    advance(&w, 20);
    CHECK_STR(kv(&w, "t"), "[0.5,7.5]"); /* not 1 s later: the 7 s it asked for */
    CHECK_INT(rows(&w, "r", "failed", "rate_limited"), 2);
    world_free(&w);
}

TEST(sched_huge_retry_after_is_capped_at_an_hour) {
    world_t w;
    char err[64];
    int rc = world_init(
        &w,
        "job 'r' { retry = { attempts = 2, base = '1s', jitter = 'none' }, run = function(ctx)\n"
        "  local t = ctx.store:get('t') or {}\n"
        "  t[#t + 1] = baton.now() - 1704067200\n"
        "  ctx.store:set('t', t)\n"
        "  baton.error('rate_limited', 'slow down', { retry_after = 1e308 })\n"
        "end }\n",
        4);
    CHECK(rc == 0);
    sched_trigger(w.sched, "r", NULL, err, sizeof err);
    advance(&w, 3700);
    CHECK_STR(kv(&w, "t"), "[0.5,3600.5]"); /* retried an hour later, not never */
    CHECK_INT(rows(&w, "r", "failed", "rate_limited"), 2);
    world_free(&w);
}

TEST(sched_misfire_run_once_and_skip_after_downtime) {
    world_t w;
    int rc = world_init(&w,
                        "job 'h' { every = '1h', run = function() end }\n"
                        "job 's' { every = '1h', misfire = 'skip', run = function() end }\n",
                        4);
    CHECK(rc == 0);
    /* the engine "ran" once, then was down for 5 hours */
    store_job_state_t st;
    sched_save(w.sched);
    store_job_get(w.k.store, "h", &st);
    CHECK(st.last_due > 0);
    sched_stop(w.sched);
    sched_free(w.sched);
    w.sched = NULL;
    vclock_advance(&w.k.clock, vclock_now(&w.k.clock) + 5 * 3600 + 30);
    sched_hooks_t hooks = {run_launch, run_cancel, &w.runner};
    sched_new(&w.sched, &w.k.clock, w.k.store, &w.k.conf, hooks, 7);
    w.runner.sched = w.sched;
    char err[256];
    CHECK(sched_set_jobs(w.sched, w.jobs, w.njobs, err, sizeof err) == 0);
    sched_start(w.sched);
    advance(&w, 10);
    CHECK_INT(rows(&w, "h", "ok", NULL), 1);
    CHECK_INT(rows(&w, "s", "skipped", "misfire"), 1);
    CHECK_INT(rows(&w, "s", "ok", NULL), 0);
    world_free(&w);
}

/* ---- circuit breakers ---- */

TEST(breaker_opens_after_consecutive_failures_skips_then_probes) {
    world_t w;
    int rc = world_init(&w,
                        "job 'a' { every = '10s', breaker = 'site', retry = 1,\n"
                        "  run = function() baton.error('network', 'refused') end }\n",
                        4);
    CHECK(rc == 0);
    advance(&w, 200); /* starts at 10..200: 5 failures open it (default), 15 skipped */
    CHECK_INT(rows(&w, "a", "failed", "network"), 5);
    CHECK_INT(rows(&w, "a", "skipped", "breaker_open"), 15);
    advance(&w, 160); /* cooldown 5m from t=50: the start at 350 is the probe; it fails */
    CHECK_INT(rows(&w, "a", "failed", "network"), 6);
    breaker_t *b = circuits_get(w.circuits, "site", NULL, vclock_now(&w.k.clock));
    CHECK_INT(breaker_state(b), BREAKER_OPEN);
    world_free(&w);
}

TEST(breaker_state_survives_a_restart) {
    world_t w;
    char err[256];
    int rc = world_init(&w,
                        "job 'a' { every = '10s', breaker = 'site', retry = 1,\n"
                        "  run = function() baton.error('timeout', 'slow') end }\n",
                        4);
    CHECK(rc == 0);
    advance(&w, 55);
    store_flush(w.k.store);
    circuits_t *again = NULL;
    CHECK(circuits_new(&again, &w.k.conf, w.k.store, vclock_now(&w.k.clock), err, sizeof err) == 0);
    /* unconfigured breakers come back on first use */
    breaker_t *b = circuits_get(again, "site", NULL, vclock_now(&w.k.clock));
    CHECK_INT(breaker_state(b), BREAKER_OPEN);
    CHECK_INT(breaker_allow(b, vclock_now(&w.k.clock)), 0);
    circuits_free(again);
    world_free(&w);
}

TEST(breaker_ignores_script_bugs_and_lua_api_calls_opens_and_resets) {
    world_t w;
    char err[64];
    int rc = world_init(
        &w,
        "job 'bug' { every = '10s', breaker = 'site', retry = 1, run = function() error('bug') end "
        "}\n"
        "job 'api' { run = function()\n"
        "  local b = baton.breaker('api', { failures = 2, cooldown = '1m' })\n"
        "  local seen = {}\n"
        "  for i = 1, 4 do\n"
        "    local ok, e = pcall(b.call, b, function() baton.error('network', 'down') end)\n"
        "    seen[i] = e.kind\n"
        "  end\n"
        "  local state = b.state\n"
        "  b:reset()\n"
        "  local v = b:call(function(x) return x * 2 end, 21)\n"
        "  return { seen = seen, state = state, after = b.state, v = v }\n"
        "end }\n",
        4);
    CHECK(rc == 0);
    advance(&w, 100);
    CHECK_INT(rows(&w, "bug", "failed", "script"), 10); /* never opened by its own bugs */
    CHECK_INT(rows(&w, "bug", "skipped", "breaker_open"), 0);
    sched_trigger(w.sched, "api", NULL, err, sizeof err);
    advance(&w, 1);
    CHECK_INT(rows(&w, "api", "ok", NULL), 1);
    const char *res = last_result(&w, "api");
    CHECK_HAS(res, "\"seen\":[\"network\",\"network\",\"breaker_open\",\"breaker_open\"]");
    CHECK_HAS(res, "\"state\":\"open\"");
    CHECK_HAS(res, "\"after\":\"closed\"");
    CHECK_HAS(res, "\"v\":42");
    world_free(&w);
}

/* Replaces the world's jobs with those of text, as a reload does; returns
 * sched_set_jobs's code (the old jobs stay on failure). */
static int reload(world_t *w, const char *text, char *err, size_t errlen) {
    size_t n;
    job_t **jobs = kit_jobs(&w->k, "jobs.lua", text, &n, err, errlen);
    if (!jobs) return -1;
    int rc = sched_set_jobs(w->sched, jobs, n, err, errlen);
    if (rc < 0) {
        job_free_all(jobs, n);
        return rc;
    }
    job_free_all(w->jobs, w->njobs); /* the scheduler holds what it still needs */
    w->jobs = jobs;
    w->njobs = n;
    return 0;
}

static double next_at(world_t *w, const char *job) {
    sched_job_info_t info;
    return sched_job_info_by_name(w->sched, job, &info) == 0 ? info.next_at : -1;
}

TEST(sched_reload_keeps_unchanged_timing_adds_and_removes_jobs) {
    world_t w;
    char err[512];
    CHECK(world_init(&w,
                     "job 'a' { every = '10s', jitter = '3s', run = function() return 'v1' end }\n"
                     "job 'gone' { every = '10s', run = function() return 'x' end }\n",
                     4) == 0);
    advance(&w, 12);
    CHECK_INT(rows(&w, "a", "ok", NULL), 1);
    CHECK_INT(rows(&w, "gone", "ok", NULL), 1);
    double due = next_at(&w, "a");
    CHECK(due > vclock_now(&w.k.clock));
    sched_pause(w.sched, "a", 1);
    CHECK_INT(reload(&w,
                     "job 'a' { every = '10s', jitter = '3s', run = function() return 'v2' end }\n"
                     "job 'b' { every = '10s', run = function() return 'new' end }\n",
                     err, sizeof err),
              0);
    /* The same due time, jitter draw included: the timer was left alone. */
    CHECK(next_at(&w, "a") == due);
    CHECK(next_at(&w, "gone") == -1);
    CHECK_INT((int)sched_njobs(w.sched), 2);
    sched_job_info_t info;
    CHECK_INT(sched_job_info_by_name(w.sched, "a", &info), 0);
    CHECK_INT(info.paused, 1); /* state is kept by name */
    sched_pause(w.sched, "a", 0);
    advance(&w, 20);
    CHECK_INT(rows(&w, "gone", NULL, NULL), 1);
    CHECK_STR(last_result(&w, "a"), "\"v2\"");
    /* Added at t=12.5: its first start is the next boundary, not a catch-up. */
    CHECK_INT(rows(&w, "b", "ok", NULL), 2);
    world_free(&w);
}

TEST(sched_reload_rearms_a_changed_schedule_from_now) {
    world_t w;
    char err[512];
    CHECK(world_init(&w, "job 'a' { every = '10s', run = function() end }\n", 4) == 0);
    advance(&w, 12);
    double now = vclock_now(&w.k.clock);
    CHECK_INT(reload(&w, "job 'a' { every = '1m', run = function() end }\n", err, sizeof err), 0);
    double due = next_at(&w, "a");
    CHECK(due > now && due <= now + 60);
    CHECK(due - 60 * (double)(long long)(due / 60) == 0); /* on the minute */
    CHECK_INT(
        reload(&w, "job 'a' { cron = '*/2 * * * *', run = function() end }\n", err, sizeof err), 0);
    due = next_at(&w, "a");
    CHECK(due > now && due <= now + 120);
    CHECK(due - 120 * (double)(long long)(due / 120) == 0);
    world_free(&w);
}

TEST(sched_reload_lets_runs_in_flight_finish_on_the_old_definition) {
    world_t w;
    char err[512];
    CHECK(world_init(&w,
                     "job 'slow' { run = function(ctx) ctx:sleep(5) return 'old' end }\n"
                     "job 'doomed' { run = function(ctx) ctx:sleep(5) return 'last' end }\n"
                     "job 'queued' { run = function() return 'q-old' end }\n",
                     2) == 0);
    sched_trigger(w.sched, "slow", NULL, err, sizeof err);
    sched_trigger(w.sched, "doomed", NULL, err, sizeof err);
    sched_trigger(w.sched, "queued", NULL, err, sizeof err); /* waits: the limit is 2 */
    advance(&w, 1);
    CHECK_INT((int)sched_running(w.sched), 2);
    CHECK_INT(reload(&w,
                     "job 'slow' { run = function() return 'new' end }\n"
                     "job 'queued' { run = function() return 'q-new' end }\n",
                     err, sizeof err),
              0);
    CHECK_INT((int)sched_njobs(w.sched), 2);
    CHECK_INT((int)sched_running(w.sched), 2); /* the removed job's run still counts */
    advance(&w, 6);
    CHECK_STR(last_result(&w, "slow"), "\"old\"");
    CHECK_STR(last_result(&w, "doomed"), "\"last\"");
    CHECK_STR(last_result(&w, "queued"), "\"q-new\"");
    CHECK_INT((int)sched_running(w.sched), 0);
    sched_trigger(w.sched, "slow", NULL, err, sizeof err);
    CHECK(sched_trigger(w.sched, "doomed", NULL, err, sizeof err) < 0);
    advance(&w, 1);
    CHECK_STR(last_result(&w, "slow"), "\"new\"");
    world_free(&w);
}

TEST(sched_reload_removing_a_job_cancels_its_queued_starts) {
    world_t w;
    char err[512];
    CHECK(world_init(&w, "job 'q' { overlap = 'queue', run = function(ctx) ctx:sleep(5) end }\n",
                     4) == 0);
    for (int i = 0; i < 3; i++) sched_trigger(w.sched, "q", NULL, err, sizeof err);
    advance(&w, 1);
    CHECK_INT(reload(&w, "job 'other' { run = function() end }\n", err, sizeof err), 0);
    advance(&w, 10);
    CHECK_INT(rows(&w, "q", "ok", NULL), 1);
    CHECK_INT(rows(&w, "q", "cancelled", "cancelled"), 2);
    world_free(&w);
}

TEST(sched_reload_with_a_bad_set_changes_nothing) {
    world_t w;
    char err[512];
    CHECK(world_init(&w,
                     "job 'a' { every = '10s', run = function() return 1 end }\n"
                     "job 'b' { after = 'a', run = function() return 2 end }\n",
                     4) == 0);
    advance(&w, 1);
    double due = next_at(&w, "a");
    CHECK(reload(&w,
                 "job 'a' { every = '5s', run = function() end }\n"
                 "job 'b' { after = 'nope', run = function() end }\n",
                 err, sizeof err) < 0);
    CHECK_HAS(err, "jobs.lua:2: job 'b': after: no job named 'nope'");
    CHECK(reload(&w,
                 "job 'a' { after = 'b', run = function() end }\n"
                 "job 'b' { after = 'a', run = function() end }\n",
                 err, sizeof err) < 0);
    CHECK_HAS(err, "dependency cycle: a -> b -> a");
    CHECK(next_at(&w, "a") == due);
    advance(&w, 10);
    CHECK_INT(rows(&w, "a", "ok", NULL), 1);
    CHECK_INT(rows(&w, "b", "ok", NULL), 1); /* `after` still follows the old leader */
    world_free(&w);
}
