/* test_script_safety.c — issue 11's sandbox examples as regression tests: a
 * script's error values, metatables and <close> variables read or run by the
 * engine end with `script` or `limit`, never an abort or a hang, and library
 * calls a script can make finish within the CPU slice or stop with `limit`. */
#include <stdio.h>
#include <string.h>

#include "scriptkit.h"
#include "test.h"

/* Runs job 'j' of text (with a 0.05 s slice); returns 1 when it finished. */
static int run_text(kit_t *k, const char *name, const char *text) {
    char err[1024];
    size_t n;
    k->host.cpu_slice = 0.05;
    job_t **jobs = kit_jobs(k, name, text, &n, err, sizeof err);
    if (!jobs) {
        test_fail(__FILE__, __LINE__, "load failed: %s", err);
        return 0;
    }
    int done = kit_run(k, jobs[0], 5);
    job_free_all(jobs, n);
    return done;
}

#define RUN_JOB(body) "job 'j' { run = function(ctx)\n" body "\nend }\n"

TEST(safety_error_value_whose_index_raises_is_a_script_error) {
    kit_t k;
    kit_init(&k);
    CHECK(run_text(&k, "e.lua",
                   RUN_JOB("error(setmetatable({}, {__index = function() error('x') end}))")));
    CHECK(!k.out.ok);
    CHECK_INT(k.out.kind, ERR_SCRIPT);
    kit_free(&k);
}

TEST(safety_error_value_whose_index_loops_is_a_limit_error) {
    kit_t k;
    kit_init(&k);
    CHECK(run_text(&k, "e.lua",
                   RUN_JOB("error(setmetatable({}, {__index = function() while true do end "
                           "end}))")));
    CHECK(!k.out.ok);
    CHECK_INT(k.out.kind, ERR_LIMIT);
    kit_free(&k);
}

TEST(safety_error_value_at_top_level_fails_the_load_with_file_and_line) {
    kit_t k;
    char err[1024];
    kit_init(&k);
    k.host.cpu_slice = 0.05;
    CHECK(kit_load(&k, "top.lua",
                   "job 'a' { run = function() end }\n"
                   "error(setmetatable({}, {__index = function() error('x') end}))\n",
                   err, sizeof err) == NULL);
    CHECK_HAS(err, "top.lua:2");
    CHECK(kit_load(&k, "top2.lua",
                   "job 'a' { run = function() end }\n"
                   "error(setmetatable({}, {__index = function() while true do end end}))\n",
                   err, sizeof err) == NULL);
    CHECK_HAS(err, "top2.lua:2");
    CHECK_HAS(err, "CPU slice");
    kit_free(&k);
}

TEST(safety_engine_metatables_are_out_of_reach_so_no_gc_can_be_added) {
    kit_t k;
    kit_init(&k);
    CHECK(run_text(&k, "m.lua",
                   RUN_JOB("  local _, e = pcall(baton.error, 'script', 'm')\n"
                           "  local ok, e2 = pcall(function() return baton.breaker('x') end)\n"
                           "  local r = { getmetatable(ctx), getmetatable(ctx.log),\n"
                           "    getmetatable(e), ok and getmetatable(e2) }\n"
                           "  for i = 1, 4 do if r[i] ~= false then return 'open ' .. i end end\n"
                           "  return 'closed'")));
    if (!k.out.ok) test_fail(__FILE__, __LINE__, "failed: %s", k.out.message);
    CHECK_STR(k.result, "\"closed\"");
    kit_free(&k);
}

TEST(safety_a_looping_close_when_the_run_errors_ends_with_limit) {
    kit_t k;
    kit_init(&k);
    CHECK(run_text(&k, "c.lua",
                   RUN_JOB("  local x <close> = setmetatable({}, {__close = function() while "
                           "true do end end})\n"
                           "  error('boom')")));
    CHECK(!k.out.ok);
    CHECK_INT(k.out.kind, ERR_LIMIT);
    kit_free(&k);
}

TEST(safety_a_looping_close_when_the_run_hits_its_limit_ends_with_limit) {
    kit_t k;
    kit_init(&k);
    CHECK(run_text(&k, "c.lua",
                   RUN_JOB("  local x <close> = setmetatable({}, {__close = function() while "
                           "true do end end})\n"
                           "  while true do end")));
    CHECK(!k.out.ok);
    CHECK_INT(k.out.kind, ERR_LIMIT);
    kit_free(&k);
}

/* The loader reads a spec's fields raw: a looping metamethod on the spec or
 * on a table in it must neither hang the load nor abort; if the load fails,
 * the error names the file. */
TEST(safety_job_spec_tables_with_looping_metamethods_do_not_hang_the_load) {
    static const char *const texts[] = {
        "local mt = {__index = function() while true do end end}\n"
        "job 'a' (setmetatable({ run = function() end }, mt))\n",
        "local t = setmetatable({}, {__index = function() while true do end end,\n"
        "  __len = function() while true do end end, __pairs = function() while true do end "
        "end})\n"
        "job 'a' { run = function() end, retry = t, tags = t, args = t }\n",
    };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        kit_t k;
        char err[1024] = "";
        size_t n;
        kit_init(&k);
        k.host.cpu_slice = 0.05;
        job_t **jobs = kit_jobs(&k, "spec.lua", texts[i], &n, err, sizeof err);
        if (jobs)
            job_free_all(jobs, n);
        else
            CHECK_HAS(err, "spec.lua");
        kit_free(&k);
    }
}

/* Each call must end with limit (or a refusal), within the slice. */
static void expect_stopped(const char *call) {
    kit_t k;
    char text[2048];
    kit_init(&k);
    snprintf(text, sizeof text, RUN_JOB("  %s"), call);
    CHECK(run_text(&k, "c.lua", text));
    if (k.out.ok) test_fail(__FILE__, __LINE__, "%s finished ok: %s", call, k.result);
    kit_free(&k);
}

TEST(safety_huge_library_calls_stop_with_limit_or_are_refused) {
    expect_stopped("table.concat(setmetatable({}, {__len = function() return 1e15 end, "
                   "__index = function() return 'a' end}))");
    expect_stopped("return #table.concat({'a'}, ',', 1, 1e15)");
    expect_stopped("table.unpack({}, 1, 1e7)");
    expect_stopped("return select('#', table.unpack({}, 1, 1e6))");
    expect_stopped("string.rep('ab', 1e15, ',')");
    expect_stopped("string.rep('x', 1e15)");
    expect_stopped("return #utf8.char(table.unpack({}, 1, 1e6))");
    expect_stopped("return #string.pack('s', string.rep('x', 1e9))");
    expect_stopped("return os.time({year = 1e15, month = 1, day = 1})");
    expect_stopped("local f = coroutine.wrap(function() while true do end end) f()");
    expect_stopped("xpcall(error, function() while true do end end)");
    expect_stopped("local t = setmetatable({}, {__pairs = function() while true do end end}) "
                   "for k in pairs(t) do end");
    expect_stopped("local n = 0 load(function() n = n + 1 while true do end end)");
}

TEST(safety_xpcall_handler_of_a_doomed_call_cannot_hold_the_engine) {
    expect_stopped("xpcall(function() while true do end end, function() while true do end end)");
    expect_stopped("pcall(function() local x <close> = setmetatable({}, {__close = function() "
                   "while true do end end}) while true do end end)");
}
