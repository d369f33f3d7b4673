/* bench_stall.c — how long one run can hold the loop: each attack below (a
 * library call that could work for minutes inside C, where no count hook
 * fires) runs as a job in a real script state with the default limits, and
 * the time its first resume takes is the loop's stall. Prints each attack's
 * stall and outcome, then the longest; exits 1 when one passes cpu_slice +
 * 100 ms (the engine's promise: health is never unanswered longer).
 * usage: bench_stall [DIR [N]]   (a scratch directory, default a temp one;
 * N: only the Nth attack). BENCH_CPU_SLICE=seconds changes the slice. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#include "base/log.h"
#include "base/vclock.h"
#include "conf/conf.h"
#include "run/run_lua.h"
#include "sched/job.h"
#include "script/script.h"

static const char *const attacks[] = {
    "('a'):rep(3e4):find('.-.-.-.-b')",
    "('a'):rep(3e4):match('(.-)(.-)(.-)b')",
    "('a'):rep(2e4):gsub('.-.-.-b', '')",
    "for _ in ('a'):rep(2e4):gmatch('.-.-.-b') do end",
    "('a'):rep(3e7):find(('a'):rep(3e6) .. 'b', 1, true)",
    "string.rep('', 1e15)",
    "string.rep('x', 1e15)",
    "string.rep('', 1e15, '')",
    "string.rep('ab', 2e7, ',')",
    "table.move({}, 1, 1e15, 1)",
    "table.move({}, -1e15, 1e15, 2)",
    "table.insert(setmetatable({}, {__len = function() return 1e15 end}), 1, 'x')",
    "table.remove(setmetatable({}, {__len = function() return 1e15 end}), 1)",
    "table.concat(setmetatable({}, {__index = function() return '' end}), '', 1, 1e15)",
    "table.concat({}, ('x'):rep(1e6), 1, 1e15)",
    "table.unpack({}, 1, 1e15)",
    "table.unpack({}, 1, 999999)",
    "local t = {} for i = 1, 3e6 do t[i] = 3e6 - i end table.sort(t)",
    "local t = {} for i = 1, 1e6 do t[i] = ('%08d'):format(i * 7919 % 1e6) end table.sort(t)",
    "local t = {} for i = 1, 2e5 do t[i] = i end table.sort(t, function(a, b) return a > b end)",
    "load(('x = 1 '):rep(5e6))",
    "load('return ' .. ('{'):rep(150) .. ('}'):rep(150))",
    "load(('local a = 1 + 2 * 3 '):rep(2e6))",
    "string.format('%99s', 'x'):rep(1)",
    "string.format(('%s'):rep(200), table.unpack((function() local t = {} for i = 1, 200 do "
    "t[i] = ('x'):rep(2e5) end return t end)()))",
    "utf8.len(('\\u{10FFFF}'):rep(1.5e7))",
    "utf8.char(table.unpack((function() local t = {} for i = 1, 2e5 do t[i] = 0x10FFFF end "
    "return t end)()))",
    "utf8.offset(('a'):rep(5e7), 5e7)",
    "utf8.codepoint(('a'):rep(1e6), 1, -1)",
    "for _ in utf8.codes(('a'):rep(1e7)) do end",
    "string.byte(('a'):rep(1e7), 1, -1)",
    "string.char(string.byte(('a'):rep(9e5), 1, -1))",
    "('a'):rep(5e7):upper():lower():reverse()",
    "('a'):rep(5e7):sub(2, -2):len()",
    "string.pack(('i16'):rep(1e5), table.unpack((function() local t = {} for i = 1, 1e5 do "
    "t[i] = i end return t end)()))",
    "string.unpack(('s1'):rep(1e5), ('\\0'):rep(1e5))",
    "tostring(setmetatable({}, {__tostring = function() while true do end end}))",
    "tonumber(('1'):rep(5e7))",
    "select('#', table.unpack({}, 1, 999999))",
    "local t = {} for i = 1, 3e6 do t[i] = i end collectgarbage('collect')",
    "collectgarbage('step', 1e9)",
    "os.date(('%c'):rep(5e6))",
    "os.time({year = 2e9, month = 1, day = 1})",
    "math.random(1, 1e15) math.fmod(1e308, 3) math.tointeger(2^53)",
    "string.format('%q', ('\\0'):rep(2e7))",
    "utf8.len(('\\u{10FFFF}'):rep(7e6))",
    "utf8.len(('a'):rep(3e7))",
    "utf8.offset(('a'):rep(3e7), -1)",
    "utf8.offset(('a'):rep(3e7), 3e7)",
    "local t = {} for i = 1, 1e6 do t[i] = -i end table.sort(t)",
    "local t = {} for i = 1, 2e6 do t[i] = {} end collectgarbage()",
    "next({}, nil) rawlen(('x'):rep(1e7)) rawequal({}, {})",
};

enum { NATTACKS = sizeof attacks / sizeof attacks[0] };

typedef struct outcome {
    int done, ok;
    err_kind_t kind;
    char message[160];
} outcome_t;

static double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void on_done(script_co_t *co, script_outcome_t *out, void *ud) {
    outcome_t *o = ud;
    (void)co;
    o->done = 1;
    o->ok = out->ok;
    o->kind = out->kind;
    snprintf(o->message, sizeof o->message, "%.159s", out->message);
}

int main(int argc, char **argv) {
    char dir[256], path[512], err[1024];
    if (argc > 1) {
        snprintf(dir, sizeof dir, "%s", argv[1]);
    } else {
        snprintf(dir, sizeof dir, "/tmp/bench-stall-XXXXXX");
        if (!mkdtemp(dir)) return 2;
    }
    int only = argc > 2 ? atoi(argv[2]) : -1;
    setvbuf(stdout, NULL, _IOLBF, 0);
    run_lua_lend();
    log_setup(LOG_OFF, 0);
    conf_t conf;
    conf_defaults(&conf);
    const char *lua = getenv("BATON_LUA_DIR");
    snprintf(conf.lua_dir, sizeof conf.lua_dir, "%s", lua ? lua : "lua");
    vclock_t clock;
    vclock_init(&clock, NULL, 1, 1704067200.0);
    script_host_t host = {.clock = &clock,
                          .lua_dir = conf.lua_dir,
                          .memory_limit = conf.sandbox_memory,
                          .cpu_slice = conf.cpu_slice};

    snprintf(path, sizeof path, "%s/stall.lua", dir);
    FILE *f = fopen(path, "w");
    if (!f) return 2;
    for (int i = 0; i < NATTACKS; i++)
        fprintf(f, "job 'a%d' { run = function() %s end }\n", i, attacks[i]);
    fclose(f);

    double worst = 0, bound = conf.cpu_slice + 0.1;
    int worst_at = -1;
    if (getenv("BENCH_CPU_SLICE"))
        host.cpu_slice = conf.cpu_slice = atof(getenv("BENCH_CPU_SLICE"));
    printf("cpu_slice=%.0fms memory=%zuMB attacks=%d\n", conf.cpu_slice * 1e3,
           conf.sandbox_memory >> 20, NATTACKS);
    for (int i = 0; i < NATTACKS; i++) {
        if (only >= 0 && i != only) continue;
        /* a fresh state per attack: what one left behind does not weigh on the next */
        script_t *s = NULL;
        job_t **jobs = NULL;
        size_t n = 0;
        if (script_load(&s, path, &host, err, sizeof err) < 0 ||
            job_read_all(s, &conf, &jobs, &n, err, sizeof err) < 0) {
            fprintf(stderr, "load: %s\n", err);
            return 2;
        }
        outcome_t o = {0};
        script_run_info_t info = {.job = jobs[i]->name, .run_id = i + 1, .attempt = 1};
        double c0 = cpu_now();
        uint64_t t0 = uv_hrtime();
        script_co_t *co = script_co_start(s, jobs[i]->run_ref, &info, on_done, &o);
        double took = (double)(uv_hrtime() - t0) / 1e9;
        if (co) script_co_cancel(co, ERR_CANCELLED, "bench");
        job_free_all(jobs, n);
        t0 = uv_hrtime();
        script_unref(s); /* closing the state is the loop's time too */
        double close = (double)(uv_hrtime() - t0) / 1e9, cpu = cpu_now() - c0;
        if (took + close > worst) {
            worst = took + close;
            worst_at = i;
        }
        printf("%7.1f ms (cpu %6.1f) %-6s %-40.40s | %.70s\n", (took + close) * 1e3, cpu * 1e3,
               o.ok ? "ok" : err_kind_name(o.kind), o.ok ? "" : o.message, attacks[i]);
    }
    printf("longest stall: %.1f ms (bound %.0f ms) by: %s\n", worst * 1e3, bound * 1e3,
           worst_at >= 0 ? attacks[worst_at] : "-");
    vclock_close(&clock);
    if (argc <= 1) {
        snprintf(path, sizeof path, "rm -rf %s", dir);
        if (system(path) != 0) return 2;
    }
    return worst > bound;
}
