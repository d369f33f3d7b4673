/* test_script.c — the sandbox (each forbidden library and function, binary
 * chunks, require paths, isolation between scripts), the memory and CPU
 * limits, the 1 MB bound on values handed to the engine, and the coroutine bridge
 * (waits, nested coroutines, cancel). */
#include <errno.h>
#include <lauxlib.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scriptkit.h"
#include "test.h"

static job_t *one_job(kit_t *k, const char *text, job_t ***all, size_t *n) {
    char err[1024];
    *all = kit_jobs(k, "s.lua", text, n, err, sizeof err);
    if (!*all) {
        test_fail(__FILE__, __LINE__, "load failed: %s", err);
        return NULL;
    }
    return (*all)[0];
}

#define RUN_JOB(body) "job 'j' { run = function(ctx)\n" body "\nend }\n"

TEST(sandbox_hides_every_forbidden_library_and_function) {
    kit_t k;
    job_t **jobs;
    size_t n;
    kit_init(&k);
    job_t *j = one_job(
        &k,
        RUN_JOB(
            "  local found = {}\n"
            "  local function probe(name, v) if v ~= nil then found[#found + 1] = name end end\n"
            "  probe('io', io) probe('debug', debug) probe('package', package)\n"
            "  probe('dofile', dofile) probe('loadfile', loadfile)\n"
            "  probe('string.dump', string.dump) probe('(\"\").dump', ('').dump)\n"
            "  probe('os.execute', os.execute) probe('os.getenv', os.getenv)\n"
            "  probe('os.remove', os.remove) probe('os.exit', os.exit)\n"
            "  probe('os.rename', os.rename) probe('os.tmpname', os.tmpname)\n"
            "  probe('os.setlocale', os.setlocale)\n"
            "  probe('collectgarbage stop', pcall(collectgarbage, 'stop') or nil)\n"
            "  if not (os.time and os.clock and os.date) then found[#found + 1] = 'os basics "
            "missing' end\n"
            "  return { found = table.concat(found, ',') }"),
        &jobs, &n);
    CHECK(j && kit_run(&k, j, 1));
    CHECK(k.out.ok);
    CHECK_STR(k.result, "{\"found\":\"\"}");
    job_free_all(jobs, n);
    kit_free(&k);
}

/* Writes a real precompiled chunk made by a plain Lua state. */
static int write_dump(lua_State *L, const void *p, size_t sz, void *ud) {
    return fwrite(p, 1, sz, ud) == sz ? 0 : 1;
}

static void write_binary_chunk(const char *path) {
    lua_State *L = luaL_newstate();
    luaL_loadstring(L, "job 'evil' { run = function() return 1 end }");
    FILE *f = fopen(path, "wb");
    lua_dump(L, write_dump, f, 0);
    fclose(f);
    lua_close(L);
}

TEST(sandbox_refuses_binary_chunks_as_scripts_modules_and_load) {
    kit_t k;
    char err[1024], path[512];
    script_t *s = NULL;
    kit_init(&k);
    snprintf(path, sizeof path, "%s/bin.lua", k.dir);
    write_binary_chunk(path);
    CHECK(script_load(&s, path, &k.host, err, sizeof err) < 0);
    CHECK_HAS(err, "binary chunk");

    snprintf(path, sizeof path, "%s/lib/evil.lua", k.dir);
    write_binary_chunk(path);
    job_t **jobs;
    size_t n;
    job_t *j = one_job(
        &k,
        RUN_JOB("  local ok, e = pcall(require, 'evil')\n"
                "  local f, e2 = load('\\27LuaT\\0\\25\\147\\r\\n\\26\\n')\n"
                "  return { req = ok, req_err = tostring(e):find('binary') ~= nil,\n"
                "           load = f ~= nil, load_err = tostring(e2):find('binary') ~= nil }"),
        &jobs, &n);
    CHECK(j && kit_run(&k, j, 1));
    CHECK_HAS(k.result, "\"req\":false");
    CHECK_HAS(k.result, "\"req_err\":true");
    CHECK_HAS(k.result, "\"load\":false");
    CHECK_HAS(k.result, "\"load_err\":true");
    job_free_all(jobs, n);
    kit_free(&k);
}

TEST(sandbox_require_reads_only_lua_and_scripts_lib) {
    kit_t k;
    job_t **jobs;
    size_t n;
    kit_init(&k);
    kit_write(&k, "lib/helper.lua", "return { twice = function(x) return 2 * x end }");
    job_t *j = one_job(
        &k,
        RUN_JOB("  local h = require 'helper'\n"
                "  local ok1 = pcall(require, 'os')\n"
                "  local ok2, e2 = pcall(require, '../../etc/passwd')\n"
                "  local ok3, e3 = pcall(require, 'nope')\n"
                "  return { v = h.twice(21), os = ok1, up = ok2, e2 = e2:find('bad module name') "
                "~= nil,\n"
                "           e3 = e3:find('not found') ~= nil, same = require('helper') == h }"),
        &jobs, &n);
    CHECK(j && kit_run(&k, j, 1));
    CHECK(k.out.ok);
    CHECK_HAS(k.result, "\"v\":42");
    CHECK_HAS(k.result, "\"os\":false");
    CHECK_HAS(k.result, "\"up\":false");
    CHECK_HAS(k.result, "\"e2\":true");
    CHECK_HAS(k.result, "\"e3\":true");
    CHECK_HAS(k.result, "\"same\":true");
    job_free_all(jobs, n);
    kit_free(&k);
}

TEST(sandbox_globals_of_one_script_are_invisible_to_another) {
    kit_t k;
    char err[1024];
    job_t **a, **b;
    size_t na, nb;
    kit_init(&k);
    a = kit_jobs(&k, "a.lua", "secret = 42\njob 'a' { run = function() return secret end }", &na,
                 err, sizeof err);
    b = kit_jobs(&k, "b.lua", "job 'b' { run = function() return { seen = secret == nil } end }",
                 &nb, err, sizeof err);
    CHECK(a && b);
    CHECK(kit_run(&k, a[0], 1));
    CHECK_STR(k.result, "42");
    CHECK(kit_run(&k, b[0], 1));
    CHECK_STR(k.result, "{\"seen\":true}");
    job_free_all(a, na);
    job_free_all(b, nb);
    kit_free(&k);
}

TEST(sandbox_refuses_gc_finalizers_which_no_cpu_slice_could_stop) {
    kit_t k;
    char err[1024];
    size_t n;
    kit_init(&k);
    /* at load time, and inside a run */
    CHECK(kit_jobs(&k, "gc.lua",
                   "job 'a' { run = function() end }\n"
                   "setmetatable({}, { __gc = function() while true do end end })\n",
                   &n, err, sizeof err) == NULL);
    CHECK_HAS(err, "gc.lua:2: setmetatable: __gc finalizers are not allowed in scripts");
    job_t **jobs =
        kit_jobs(&k, "gc2.lua",
                 "job 'a' { run = function()\n"
                 "  local mt = { __index = {} }\n"
                 "  local ok = pcall(setmetatable, {}, { __gc = print })\n"
                 "  return { refused = not ok, plain = getmetatable(setmetatable({}, mt)) == mt }\n"
                 "end }\n",
                 &n, err, sizeof err);
    CHECK(jobs != NULL);
    if (jobs) {
        CHECK(kit_run(&k, jobs[0], 1));
        CHECK_HAS(k.result, "\"plain\":true");
        CHECK_HAS(k.result, "\"refused\":true");
        job_free_all(jobs, n);
    }
    kit_free(&k);
}

TEST(limit_memory_bomb_fails_with_limit_and_the_state_carries_on) {
    kit_t k;
    char err[1024];
    size_t n;
    kit_init(&k);
    k.host.cpu_slice = 20; /* the memory limit must trip first, even under valgrind */
    job_t **jobs = kit_jobs(&k, "bomb.lua",
                            "job 'bomb' { run = function()\n"
                            "  local t = {}\n"
                            "  for i = 1, 1e9 do t[i] = string.rep('x', 1000) .. i end\n"
                            "end }\n"
                            "job 'sneaky' { run = function()\n"
                            "  local t = {}\n"
                            "  local ok = pcall(function() for i = 1, 1e9 do t[i] = "
                            "string.rep('y', 1000) .. i end end)\n"
                            "  t = nil\n"
                            "  return 'caught and carried on'\n"
                            "end }\n"
                            "job 'fine' { run = function() return 'still here' end }\n",
                            &n, err, sizeof err);
    CHECK(jobs != NULL);
    if (!jobs) return;
    CHECK(kit_run(&k, jobs[0], 1));
    CHECK(!k.out.ok);
    CHECK_INT(k.out.kind, ERR_LIMIT);
    CHECK_HAS(k.out.message, "memory limit");
    CHECK(kit_run(&k, jobs[1], 1));
    CHECK(!k.out.ok);
    CHECK_INT(k.out.kind, ERR_LIMIT);
    CHECK(kit_run(&k, jobs[2], 1));
    CHECK(k.out.ok);
    CHECK_STR(k.result, "\"still here\"");
    job_free_all(jobs, n);
    kit_free(&k);
}

TEST(limit_infinite_loop_fails_with_limit_even_inside_pcall) {
    kit_t k;
    char err[1024];
    size_t n;
    kit_init(&k);
    k.host.cpu_slice = 0.05;
    job_t **jobs = kit_jobs(&k, "loop.lua",
                            "job 'spin' { run = function() while true do end end }\n"
                            "job 'stubborn' { run = function()\n"
                            "  while true do pcall(function() while true do end end) end\n"
                            "end }\n"
                            "job 'nested' { run = function()\n"
                            "  local co = coroutine.wrap(function() while true do end end)\n"
                            "  co()\n"
                            "end }\n"
                            "job 'fine' { run = function() local s = 0 for i = 1, 1000 do s = s + "
                            "i end return s end }\n",
                            &n, err, sizeof err);
    CHECK(jobs != NULL);
    if (!jobs) return;
    for (int i = 0; i < 3; i++) {
        CHECK(kit_run(&k, jobs[i], 1));
        CHECK(!k.out.ok);
        CHECK_INT(k.out.kind, ERR_LIMIT);
        CHECK_HAS(k.out.message, "CPU slice");
    }
    CHECK(kit_run(&k, jobs[3], 1));
    CHECK(k.out.ok);
    CHECK_STR(k.result, "500500");
    job_free_all(jobs, n);
    kit_free(&k);
}

TEST(limit_infinite_loop_at_load_is_a_load_error) {
    kit_t k;
    char err[1024];
    kit_init(&k);
    k.host.cpu_slice = 0.05;
    CHECK(kit_load(&k, "spin.lua", "while true do end", err, sizeof err) == NULL);
    CHECK_HAS(err, "spin.lua");
    CHECK_HAS(err, "CPU slice");
    kit_free(&k);
}

TEST(coroutine_sleep_yields_to_the_clock_and_resumes) {
    kit_t k;
    job_t **jobs;
    size_t n;
    kit_init(&k);
    job_t *j = one_job(&k,
                       RUN_JOB("  local t0 = baton.now()\n"
                               "  baton.sleep(5)\n"
                               "  ctx:sleep('2s')\n"
                               "  return { waited = baton.now() - t0, os = os.time() - t0 // 1 }"),
                       &jobs, &n);
    CHECK(j && kit_run(&k, j, 6.5) == 0); /* still waiting at +6.5 s */
    CHECK(k.co != NULL);
    CHECK(kit_wait(&k, 1)); /* done at +7 s */
    CHECK(k.out.ok);
    CHECK_HAS(k.result, "\"waited\":7");
    CHECK_HAS(k.result, "\"os\":7");
    job_free_all(jobs, n);
    kit_free(&k);
}

TEST(coroutine_engine_waits_pass_through_script_coroutines) {
    kit_t k;
    job_t **jobs;
    size_t n;
    kit_init(&k);
    job_t *j =
        one_job(&k,
                RUN_JOB("  local gen = coroutine.wrap(function()\n"
                        "    baton.sleep(1)\n"
                        "    coroutine.yield(7)\n"
                        "    local inner = coroutine.create(function() ctx:sleep(1) return 8 end)\n"
                        "    local ok, v = coroutine.resume(inner)\n"
                        "    return v\n"
                        "  end)\n"
                        "  local t0 = baton.now()\n"
                        "  local a = gen()\n"
                        "  local b = gen()\n"
                        "  return { sum = a + b, waited = baton.now() - t0 }"),
                &jobs, &n);
    CHECK(j && kit_run(&k, j, 10));
    CHECK(k.out.ok);
    CHECK_HAS(k.result, "\"sum\":15");
    CHECK_HAS(k.result, "\"waited\":2");
    job_free_all(jobs, n);
    kit_free(&k);
}

TEST(coroutine_waiting_run_can_be_cancelled) {
    kit_t k;
    job_t **jobs;
    size_t n;
    kit_init(&k);
    job_t *j = one_job(&k, RUN_JOB("  baton.sleep(60)\n  return 'never'"), &jobs, &n);
    CHECK(j && kit_run(&k, j, 1) == 0);
    CHECK(k.co != NULL);
    if (k.co) script_co_cancel(k.co, ERR_TIMEOUT, "too slow");
    CHECK(k.done);
    CHECK_INT(k.out.kind, ERR_TIMEOUT);
    CHECK_STR(k.out.message, "too slow");
    CHECK_NUM(vclock_next_due(&k.clock), -1); /* the sleep was disarmed */
    job_free_all(jobs, n);
    kit_free(&k);
}

TEST(coroutine_yield_at_top_level_of_a_run_is_a_script_error) {
    kit_t k;
    job_t **jobs;
    size_t n;
    kit_init(&k);
    job_t *j = one_job(&k, RUN_JOB("  coroutine.yield(1)"), &jobs, &n);
    CHECK(j && kit_run(&k, j, 1));
    CHECK(!k.out.ok);
    CHECK_INT(k.out.kind, ERR_SCRIPT);
    CHECK_HAS(k.out.message, "yielded outside");
    job_free_all(jobs, n);
    kit_free(&k);
}

TEST(errors_carry_kind_file_line_and_retryable) {
    kit_t k;
    char err[1024];
    size_t n;
    kit_init(&k);
    job_t **jobs = kit_jobs(
        &k, "e.lua",
        "job 'lua' { run = function() local x = nil; return x.y end }\n"
        "job 'http' { run = function() baton.error('http', 'bad gateway', { status = 503 }) end }\n"
        "job 'auth' { run = function() baton.error('auth', 'login expired') end }\n"
        "job 'fn' { run = function() return function() end end }\n"
        "job 'sleepy' { run = function() baton.sleep('soon') end }\n",
        &n, err, sizeof err);
    CHECK(jobs != NULL);
    if (!jobs) return;
    CHECK(kit_run(&k, jobs[0], 1));
    CHECK_INT(k.out.kind, ERR_SCRIPT);
    CHECK_HAS(k.out.message, "e.lua:1:");
    CHECK(kit_run(&k, jobs[1], 1));
    CHECK_INT(k.out.kind, ERR_HTTP);
    CHECK_STR(k.out.message, "bad gateway");
    CHECK_INT(k.out.retryable, 1);
    CHECK(kit_run(&k, jobs[2], 1));
    CHECK_INT(k.out.kind, ERR_AUTH);
    CHECK_INT(k.out.retryable, 0);
    CHECK(kit_run(&k, jobs[3], 1));
    CHECK_INT(k.out.kind, ERR_SCRIPT);
    CHECK_HAS(k.out.message, "not JSON");
    CHECK(kit_run(&k, jobs[4], 1));
    CHECK_INT(k.out.kind, ERR_SCRIPT);
    CHECK_HAS(k.out.message, "bad duration 'soon'");
    job_free_all(jobs, n);
    kit_free(&k);
}

TEST(store_and_json_from_a_run) {
    kit_t k;
    job_t **jobs;
    size_t n;
    kit_init(&k);
    job_t *j =
        one_job(&k,
                RUN_JOB("  ctx.store:set('k', { a = 1, list = { 'x', 'y' } })\n"
                        "  local v = baton.store:get('k')\n"
                        "  ctx.store:incr('n'); ctx.store:incr('n', 2)\n"
                        "  local bad = pcall(ctx.store.set, ctx.store, 'f', function() end)\n"
                        "  ctx.store:delete('k')\n"
                        "  local s = baton.json.encode({ 1, 2, { z = true } })\n"
                        "  return { a = v.a, y = v.list[2], n = ctx.store:get('n'), bad = bad,\n"
                        "           gone = ctx.store:get('k') == nil, s = s,\n"
                        "           back = baton.json.decode(s)[3].z }"),
                &jobs, &n);
    CHECK(j && kit_run(&k, j, 1));
    CHECK(k.out.ok);
    CHECK_HAS(k.result, "\"a\":1");
    CHECK_HAS(k.result, "\"y\":\"y\"");
    CHECK_HAS(k.result, "\"n\":3");
    CHECK_HAS(k.result, "\"bad\":false");
    CHECK_HAS(k.result, "\"gone\":true");
    CHECK_HAS(k.result, "\"back\":true");
    job_free_all(jobs, n);
    kit_free(&k);
}

TEST(baton_retry_retries_retryable_errors_with_backoff_and_stops_on_bugs) {
    kit_t k;
    job_t **jobs;
    size_t n;
    kit_init(&k);
    job_t *j = one_job(
        &k,
        RUN_JOB(
            "  local t0, calls, calls2 = baton.now(), 0, 0\n"
            "  local v = baton.retry(function(a) calls = calls + 1\n"
            "    if a < 3 then baton.error('network', 'flaky') end\n"
            "    return a * 10 end, { attempts = 5, base = '1s', jitter = 'none' })\n"
            "  local waited = baton.now() - t0\n"
            "  local ok, e = pcall(baton.retry, function() error('bug') end, { attempts = 5 })\n"
            "  local ok2, e2 = pcall(baton.retry, function() calls2 = calls2 + 1\n"
            "    baton.error('timeout', 't') end, { attempts = 2, base = 0.5, jitter = 'none' })\n"
            "  return { v = v, calls = calls, waited = waited, bug = tostring(e):find('bug') ~= "
            "nil,\n"
            "           calls2 = calls2, kind2 = e2.kind }"),
        &jobs, &n);
    CHECK(j && kit_run(&k, j, 10));
    CHECK(k.out.ok);
    CHECK_HAS(k.result, "\"v\":30");
    CHECK_HAS(k.result, "\"calls\":3");
    CHECK_HAS(k.result, "\"waited\":3"); /* 1 s then 2 s: exponential, no jitter */
    CHECK_HAS(k.result, "\"bug\":true");
    CHECK_HAS(k.result, "\"calls2\":2");
    CHECK_HAS(k.result, "\"kind2\":\"timeout\"");
    job_free_all(jobs, n);
    kit_free(&k);
}

TEST(load_errors_name_file_and_line) {
    kit_t k;
    char err[1024];
    kit_init(&k);
    CHECK(kit_load(&k, "syn.lua", "local a = 1\n\nlocal = 3\n", err, sizeof err) == NULL);
    CHECK_HAS(err, "syn.lua:3:");
    CHECK(kit_load(&k, "rt.lua", "local a = 1\nundefined_fn()\n", err, sizeof err) == NULL);
    CHECK_HAS(err, "rt.lua:2:");
    CHECK_HAS(err, "undefined_fn");
    CHECK(kit_load(&k, "io.lua", "\nio.open('/etc/passwd')\n", err, sizeof err) == NULL);
    CHECK_HAS(err, "io.lua:2:");
    kit_free(&k);
}

/* Fails the Nth and later allocations of a state, for every N until loading
 * and a run succeed: every failure must be a clean error, never a crash or a leak. */
TEST(oom_sweep_load_and_run_fail_cleanly_at_every_allocation) {
    kit_t k;
    char err[1024];
    kit_init(&k);
    const char *path = kit_write(&k, "s.lua",
                                 "local t = {}\nfor i = 1, 50 do t[i] = 'v' .. i end\n"
                                 "job 'j' { every = '1m', run = function(ctx)\n"
                                 "  ctx:sleep(1)\n"
                                 "  return { n = #t, s = table.concat(t, ',', 1, 5) }\n"
                                 "end }\n");
    unsigned long n;
    int loaded = 0, ran = 0;
    for (n = 1; n < 100000 && !ran; n++) {
        script_t *s = NULL;
        job_t **jobs = NULL;
        size_t njobs = 0;
        k.host.fault_at = n;
        if (script_load(&s, path, &k.host, err, sizeof err) < 0) {
            CHECK(s == NULL);
            CHECK(err[0] != 0);
            continue;
        }
        loaded = 1;
        if (job_read_all(s, &k.conf, &jobs, &njobs, err, sizeof err) == 0) {
            int done = kit_run(&k, jobs[0], 2);
            CHECK(done); /* a run always ends, one way or another */
            ran = done && k.out.ok;
            if (done && !k.out.ok) CHECK(k.out.kind == ERR_LIMIT);
            job_free_all(jobs, njobs);
        }
        script_unref(s);
    }
    CHECK(loaded);
    CHECK(ran);
    CHECK(n > 500); /* the sweep really went through load and run (~870 points) */
    if (getenv("TEST_VERBOSE")) fprintf(stderr, "    swept %lu allocations\n", n);
    kit_free(&k);
}

static int l_lent_now(lua_State *L) {
    lua_pushinteger(L, 42);
    return 1;
}

static int l_lent_other(lua_State *L) { return 0; }

/* A module above script/ binds into baton.* this way (run/run_lua.c). */
TEST(script_lend_adds_primitives_to_states_made_afterwards_once_per_table) {
    static const luaL_Reg lent_now[] = {{"now", l_lent_now}, {NULL, NULL}};
    static const luaL_Reg others[SCRIPT_LENT_MAX][2] = {{{"lent_other", l_lent_other}}};
    kit_t k;
    job_t **jobs;
    size_t n;
    kit_init(&k);
    CHECK_INT(script_lend(lent_now), 0);
    CHECK_INT(script_lend(lent_now), 0); /* again: a no-op, no second slot */
    job_t *j = one_job(&k, RUN_JOB("  return baton.now()"), &jobs, &n);
    CHECK(j && kit_run(&k, j, 1));
    CHECK(k.out.ok);
    CHECK_STR(k.result, "42"); /* the lent `now` stands in for baton_lib's */
    job_free_all(jobs, n);
    /* run_lua_lend (the runner's start-up) and lent_now hold two of the slots */
    int rc = 0;
    for (int i = 0; i < SCRIPT_LENT_MAX && rc == 0; i++) rc = script_lend(others[i]);
    CHECK_INT(rc, -ENOSPC);
    kit_free(&k);
}

/* What a script hands the engine outside its allocator is bounded: a trigger's
 * arguments, a run's result and a store value of more than 1 MB of JSON fail with
 * `limit`, and no tree much bigger than that is built on the way. */
static int trigger_calls;
static size_t trigger_len;

static int count_trigger(void *ud, const char *job, const char *args, char *err, size_t len) {
    trigger_calls++;
    trigger_len = args ? strlen(args) : 0;
    return 0;
}

TEST(limit_trigger_args_results_and_store_values_past_1mb_fail_with_limit) {
    kit_t k;
    job_t **jobs;
    size_t n;
    char err[1024];
    kit_init(&k);
    k.host.trigger = count_trigger;
    k.host.cpu_slice = 20;
    k.host.memory_limit = (size_t)64 << 20; /* the JSON limit must trip, not the memory one */
    trigger_calls = 0;
    jobs =
        kit_jobs(&k, "big.lua",
                 "local MB = 1024 * 1024\n"
                 "local function kind(f, ...)\n"
                 "  local ok, e = pcall(f, ...)\n"
                 "  return ok and 'ok' or e.kind\n"
                 "end\n"
                 "job 'trigger' { run = function(ctx)\n"
                 "  return { big = kind(baton.trigger, 'x', { s = string.rep('x', MB) }),\n"
                 "    fits = kind(baton.trigger, 'x', { s = string.rep('x', MB - 20) }) }\n"
                 "end }\n"
                 "job 'result' { run = function() return string.rep('x', MB) end }\n"
                 "job 'escaped' { run = function() return string.rep('\\1', MB // 4) end }\n"
                 "job 'wide' { run = function()\n"
                 "  local t = {} for i = 1, MB // 2 + 1 do t[i] = 1 end return t end }\n"
                 "job 'fits' { run = function() return string.rep('x', MB - 2) end }\n"
                 "job 'store' { run = function(ctx)\n"
                 "  return { big = kind(ctx.store.set, ctx.store, 'k', string.rep('x', MB)),\n"
                 "           fits = kind(ctx.store.set, ctx.store, 'k', string.rep('x', 1000)) }\n"
                 "end }\n",
                 &n, err, sizeof err);
    CHECK(jobs != NULL);
    if (!jobs) {
        fprintf(stderr, "%s\n", err);
        kit_free(&k);
        return;
    }
    CHECK(kit_run(&k, jobs[0], 1));
    CHECK(k.out.ok);
    CHECK_HAS(k.result, "\"big\":\"limit\"");
    CHECK_HAS(k.result, "\"fits\":\"ok\"");
    CHECK_INT(trigger_calls, 1); /* the refused one never reached the engine */
    CHECK_INT(trigger_len, 1024 * 1024 - 20 + 8);
    for (int i = 1; i <= 3; i++) {
        CHECK(kit_run(&k, jobs[i], 1));
        CHECK(!k.out.ok);
        CHECK_INT(k.out.kind, ERR_LIMIT);
        CHECK_STR(k.out.message, "the run's result is too large: more than 1024 KB of JSON");
        CHECK_STR(k.result, "");
    }
    CHECK(kit_run(&k, jobs[4], 1));
    CHECK(k.out.ok);
    CHECK_STR(k.out.message, "");
    CHECK_INT(strlen(k.result), sizeof k.result - 1);
    CHECK(kit_run(&k, jobs[5], 1));
    CHECK(k.out.ok);
    CHECK_HAS(k.result, "\"big\":\"limit\"");
    CHECK_HAS(k.result, "\"fits\":\"ok\"");
    job_free_all(jobs, n);
    kit_free(&k);
}
