/* test_run_lua.c — baton.breaker and baton.retry's primitives (run/run_lua.c),
 * lent to script states from above script/: without breakers (check, plan),
 * with the engine's breakers, and within the retry budget. */
#include <stdio.h>
#include <stdlib.h>

#include "run/circuit.h"
#include "run/retry.h"
#include "scriptkit.h"
#include "test.h"

static job_t *load_one(kit_t *k, const char *text, job_t ***all, size_t *n) {
    char err[1024];
    *all = kit_jobs(k, "s.lua", text, n, err, sizeof err);
    if (!*all) {
        test_fail(__FILE__, __LINE__, "load failed: %s", err);
        return NULL;
    }
    return (*all)[0];
}

TEST(run_lua_breaker_is_made_at_load_without_breakers_but_unavailable_in_a_run) {
    kit_t k;
    job_t **jobs;
    size_t n;
    kit_init(&k); /* host.circuits is NULL, as in check and plan */
    job_t *j = load_one(&k,
                        "local b = baton.breaker('api', { failures = 2, cooldown = '1m' })\n"
                        "job 'j' { run = function() return b.state end }\n",
                        &jobs, &n);
    CHECK(j && kit_run(&k, j, 1));
    CHECK(!k.out.ok);
    CHECK_INT(k.out.kind, ERR_SCRIPT);
    CHECK_HAS(k.out.message, "baton.breaker: not available here");
    job_free_all(jobs, n);
    kit_free(&k);
}

TEST(run_lua_breaker_opens_on_site_failures_fails_fast_and_resets) {
    kit_t k;
    job_t **jobs;
    size_t n;
    char err[256];
    circuits_t *circuits = NULL;
    kit_init(&k);
    CHECK_INT(circuits_new(&circuits, &k.conf, k.store, vclock_now(&k.clock), err, sizeof err), 0);
    k.host.circuits = circuits;
    job_t *j = load_one(
        &k,
        "local b = baton.breaker('api', { failures = 2, cooldown = '1m' })\n"
        "job 'j' { run = function()\n"
        "  for _ = 1, 3 do pcall(b.call, b, function() error('bug') end) end\n"
        "  local after_bugs = b.state\n"
        "  for _ = 1, 2 do pcall(b.call, b, function() baton.error('network', 'down') end) end\n"
        "  local opened = b.state\n"
        "  local ran = false\n"
        "  local ok, e = pcall(b.call, b, function() ran = true end)\n"
        "  b:reset()\n"
        "  local reset = b.state\n"
        "  for _ = 1, 2 do pcall(b.call, b, function() baton.error('network', 'down') end) end\n"
        "  baton.sleep(30)\n"
        "  local ok30 = pcall(b.call, b, function() end)\n"
        "  baton.sleep(31)\n"
        "  local ok61 = pcall(b.call, b, function() end)\n"
        "  return { after_bugs = after_bugs, opened = opened, ran = ran, kind = e.kind,\n"
        "           reset = reset, ok30 = ok30, ok61 = ok61, closed = b.state }\n"
        "end }\n",
        &jobs, &n);
    CHECK(j && kit_run(&k, j, 120));
    CHECK(k.out.ok);
    CHECK_HAS(k.result, "\"after_bugs\":\"closed\""); /* script bugs say nothing of the site */
    CHECK_HAS(k.result, "\"opened\":\"open\"");
    CHECK_HAS(k.result, "\"ran\":false");
    CHECK_HAS(k.result, "\"kind\":\"breaker_open\"");
    CHECK_HAS(k.result, "\"reset\":\"closed\"");
    CHECK_HAS(k.result, "\"ok30\":false"); /* cooldown = '1m', read as a duration */
    CHECK_HAS(k.result, "\"ok61\":true");
    CHECK_HAS(k.result, "\"closed\":\"closed\"");
    job_free_all(jobs, n);
    circuits_free(circuits);
    kit_free(&k);
}

TEST(run_lua_retry_gives_up_when_the_retry_budget_refuses) {
    kit_t k;
    job_t **jobs;
    size_t n;
    retry_budget_t budget;
    kit_init(&k);
    retry_budget_init(&budget, 0, 0, 10); /* no retries at all */
    k.host.budget = &budget;
    job_t *j = load_one(&k,
                        "job 'j' { run = function()\n"
                        "  local calls = 0\n"
                        "  local ok, e = pcall(baton.retry, function() calls = calls + 1\n"
                        "    baton.error('network', 'flaky') end, { attempts = 5 })\n"
                        "  return { calls = calls, kind = e.kind }\n"
                        "end }\n",
                        &jobs, &n);
    CHECK(j && kit_run(&k, j, 10));
    CHECK(k.out.ok);
    CHECK_HAS(k.result, "\"calls\":1");
    CHECK_HAS(k.result, "\"kind\":\"network\"");
    CHECK_INT(budget.refused, 1);
    job_free_all(jobs, n);
    kit_free(&k);
}

TEST(run_lua_retry_caps_a_huge_retry_after_at_an_hour) {
    kit_t k;
    job_t **jobs;
    size_t n;
    kit_init(&k);
    job_t *j =
        load_one(&k,
                 "job 'j' { run = function()\n"
                 "  local t0, calls = baton.now(), 0\n"
                 "  local waits = {}\n"
                 "  baton.retry(function(attempt) calls = calls + 1\n"
                 "    waits[attempt] = baton.now() - t0\n"
                 "    local ra = ({ 1e308, 0/0, -1/0 })[attempt]\n"
                 "    if ra then baton.error('rate_limited', 'x', { retry_after = ra }) end\n"
                 "  end, { attempts = 4, base = '1s', jitter = 'none' })\n"
                 "  return { calls = calls, w2 = waits[2], w3 = waits[3], w4 = waits[4] }\n"
                 "end }\n",
                 &jobs, &n);
    CHECK(j && kit_run(&k, j, 4000));
    CHECK(k.out.ok);
    CHECK_HAS(k.result, "\"calls\":4");
    CHECK_HAS(k.result, "\"w2\":3600"); /* capped at an hour */
    CHECK_HAS(k.result, "\"w3\":3602"); /* NaN: absent, the 2 s backoff */
    CHECK_HAS(k.result, "\"w4\":3606"); /* -inf: absent, 4 s */
    job_free_all(jobs, n);
    kit_free(&k);
}
