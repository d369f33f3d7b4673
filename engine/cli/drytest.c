/* drytest.c — see drytest.h. A "world" is one engine opened as `baton run`
 * opens it (core/engine.c), minus the loop, the HTTP server and the pool: the
 * clock is virtual, the store is in memory and pages come from the fake
 * browser. The test files' states live across their tests; each test gets a
 * world of its own. */
#include "drytest.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "browser/cdp.h"
#include "browser/chrome.h"
#include "script/err.h"
#include "browser/fake.h"
#include "browser/fixture_backend.h"
#include "script/json.h"
#include "base/fs.h"
#include "base/log.h"
#include "browser/page.h"
#include "browser/pool.h"
#include "core/engine.h"
#include "net/http_fake.h"
#include "sched/busiest.h"
#include "sched/sched.h"
#include "script/script.h"
#include "store/store.h"
#include "base/units.h"
#include "base/vclock.h"

enum { MAX_FILES = 256, MAX_TESTS = 1024 };

/* --browser real: wall seconds a run may wait on the browser with nothing
 * changing before virtual time moves on anyway (so its timeout can fire). */
static const double STUCK_S = 10;

typedef struct drytest {
    const conf_t *conf;
    const drytest_opts_t *o;
    char *job_paths[MAX_FILES];
    size_t njob_paths;
    char *test_files[MAX_FILES];
    size_t ntest_files;
    char files_dir[64];    /* where page:screenshot() writes; removed at the end */
    char upload_dir[4096]; /* what page:upload reads: the project's own files/ */
    vclock_t clock;        /* re-initialised for each world */
    uv_loop_t loop;        /* --browser real: the browsers' I/O */
    uv_timer_t poke;       /* wakes the loop while waiting on the browser */
    int loop_open;
    engine_t *w;     /* the world of the running test */
    int load_errors; /* job script errors while building the world */
    char first_error[1024];
    /* tests registered by the file being loaded */
    struct {
        char name[256];
        int ref;
    } tests[MAX_TESTS];
    size_t ntests;
    int passed, failed;
} drytest_t;

/* ---- files ---- */

static int ends_with(const char *s, const char *tail) {
    size_t n = strlen(s), k = strlen(tail);
    return n >= k && strcmp(s + n - k, tail) == 0;
}

static int name_cmp(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void add_path(char **list, size_t *n, const char *path) {
    char *copy = *n < MAX_FILES ? strdup(path) : NULL;
    if (copy) list[(*n)++] = copy;
}

/* The *_test.lua files of dir, in name order. */
static void find_tests(drytest_t *t, const char *dir) {
    DIR *d = opendir(dir);
    struct dirent *e;
    size_t first = t->ntest_files;
    while (d && (e = readdir(d))) {
        char path[4200];
        if (e->d_name[0] == '.' || !ends_with(e->d_name, "_test.lua")) continue;
        snprintf(path, sizeof path, "%s/%s", strcmp(dir, ".") ? dir : ".", e->d_name);
        if (strncmp(path, "./", 2) == 0) memmove(path, path + 2, strlen(path + 2) + 1);
        for (size_t i = 0; i < t->ntest_files; i++)
            if (strcmp(t->test_files[i], path) == 0) goto next;
        add_path(t->test_files, &t->ntest_files, path);
    next:;
    }
    if (d) closedir(d);
    qsort(t->test_files + first, t->ntest_files - first, sizeof *t->test_files, name_cmp);
}

/* Splits the command line: test files, job scripts, directories (both).
 * With no job paths the engine's scripts directory is used, and test files
 * are looked for there and beside engine.conf. Returns 0 or -1 (reported). */
static int sort_paths(drytest_t *t) {
    const drytest_opts_t *o = t->o;
    for (size_t i = 0; i < o->npaths; i++) {
        struct stat st;
        const char *p = o->paths[i];
        if (stat(p, &st) != 0) {
            fprintf(stderr, "%s: %s\n", p, strerror(errno));
            return -1;
        }
        if (S_ISDIR(st.st_mode)) {
            add_path(t->job_paths, &t->njob_paths, p);
            find_tests(t, p);
        } else if (ends_with(p, "_test.lua")) {
            add_path(t->test_files, &t->ntest_files, p);
        } else {
            add_path(t->job_paths, &t->njob_paths, p);
        }
    }
    if (o->npaths == 0) {
        char dir[4096];
        find_tests(t, t->conf->scripts);
        snprintf(dir, sizeof dir, "%s", t->conf->path[0] ? t->conf->path : "engine.conf");
        char *slash = strrchr(dir, '/');
        if (slash)
            *slash = 0;
        else
            snprintf(dir, sizeof dir, ".");
        find_tests(t, dir);
    }
    return 0;
}

/* ---- worlds ---- */

static void load_report(void *ud, const char *line) {
    drytest_t *t = ud;
    t->load_errors++;
    if (!t->first_error[0]) snprintf(t->first_error, sizeof t->first_error, "%s", line);
}

static void on_poke(uv_timer_t *h) { (void)h; }

/* What the world waits on the real browser for: the page calls of runs, and
 * every CDP call in flight (the pool's own too: a page cleaned after its
 * lease, a heartbeat), whose virtual timeouts must not fire early. */
static size_t browser_busy(drytest_t *t) {
    return (size_t)t->w->page_env.busy + pool_pending(t->w->pool);
}

/* Waits on the browser while the world does; answers 1 when the wait
 * stalled (nothing changed for STUCK_S wall seconds). */
static int real_wait(drytest_t *t) {
    size_t last = browser_busy(t);
    double since = vclock_wall();
    while (browser_busy(t) > 0) {
        uv_timer_start(&t->poke, on_poke, 100, 0);
        uv_run(&t->loop, UV_RUN_ONCE);
        vclock_advance(&t->clock, vclock_now(&t->clock)); /* what the I/O made due now */
        if (browser_busy(t) != last) {
            last = browser_busy(t);
            since = vclock_wall();
        }
        if (vclock_wall() - since > STUCK_S) return 1;
    }
    return 0;
}

/* Runs the world up to virtual time `until`: timer after timer, and with a
 * real browser, real time whenever a run waits on it. */
static void pump(drytest_t *t, double until) {
    size_t stalled_at = 0;
    for (;;) {
        if (t->w->pool) {
            uv_run(&t->loop, UV_RUN_NOWAIT);
            vclock_advance(&t->clock, vclock_now(&t->clock));
            size_t busy = browser_busy(t);
            if (busy > 0 && busy != stalled_at) stalled_at = real_wait(t) ? busy : 0;
        }
        double next = vclock_next_due(&t->clock);
        if (next < 0 || next > until) break;
        vclock_advance(&t->clock, next);
    }
    vclock_advance(&t->clock, until);
}

/* Opens a fresh engine at o->start into t->w. Returns 0, or -1 with the
 * reason in err. */
static int world_new(drytest_t *t, char *err, size_t errlen) {
    engine_opts_t eo = {.mode = ENGINE_TEST,
                        .clock = &t->clock,
                        .database = ":memory:",
                        .browser = t->o->real ? ENGINE_BROWSER_POOL : ENGINE_BROWSER_FAKE,
                        .files_dir = t->files_dir,
                        .upload_dir = t->upload_dir,
                        .paths = t->job_paths,
                        .npaths = t->njob_paths,
                        .report = load_report,
                        .report_ud = t};
    if (t->o->real) eo.loop = &t->loop;
    vclock_init(&t->clock, NULL, 1, t->o->start);
    t->load_errors = 0;
    t->first_error[0] = 0;
    if (engine_open(&t->w, t->conf, &eo, err, errlen) < 0) {
        if (!err[0])
            snprintf(err, errlen, "%s",
                     t->first_error[0] ? t->first_error : "cannot load the scripts");
        return -1;
    }
    engine_start(t->w);
    return 0;
}

static void world_free(drytest_t *t) {
    engine_t *w = t->w;
    if (w) {
        engine_stop(w);
        engine_cancel_runs(w, "the test ended");
        /* Cancelled runs end on the clock (their attempts are recorded). */
        for (int i = 0; i < 100 && w->runner.live; i++) pump(t, vclock_now(&t->clock) + 1);
        engine_shutdown(w);
        if (w->pool) uv_run(&t->loop, UV_RUN_DEFAULT); /* the browsers exit, their handles close */
        engine_close(w);
    }
    vclock_close(&t->clock);
    t->w = NULL;
}

/* ---- the primitives of lua/testkit.lua ---- */

static drytest_t *kit_of(lua_State *L) {
    drytest_t *t = lua_touserdata(L, lua_upvalueindex(1));
    if (!t->w) {
        lua_pushstring(L, "the test kit works only inside a test's function");
        lua_error(L);
    }
    return t;
}

/* Errors without a position: testkit.lua raises them at the test's line. */
static int fail(lua_State *L, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    lua_pushvfstring(L, fmt, ap);
    va_end(ap);
    return lua_error(L);
}

static int l_test_register(lua_State *L) {
    drytest_t *t = lua_touserdata(L, lua_upvalueindex(1));
    const char *name = luaL_checkstring(L, 1);
    luaL_checktype(L, 2, LUA_TFUNCTION);
    if (t->ntests >= MAX_TESTS) return fail(L, "too many tests in one file (%s)", name);
    snprintf(t->tests[t->ntests].name, sizeof t->tests[t->ntests].name, "%s", name);
    lua_pushvalue(L, 2);
    t->tests[t->ntests++].ref = luaL_ref(L, LUA_REGISTRYINDEX);
    return 0;
}

static int l_test_advance(lua_State *L) {
    drytest_t *t = kit_of(L);
    double secs = luaL_checknumber(L, 1);
    if (!(secs >= 0) || secs > 366 * 86400.0)
        return fail(L, "t:advance: between 0 and a year of virtual time");
    pump(t, vclock_now(&t->clock) + secs);
    script_slice_renew(L);
    return 0;
}

static void check_job(lua_State *L, drytest_t *t, const char *job) {
    if (!sched_find(t->w->sched, job)) fail(L, "no job named '%s'", job);
}

static int l_test_run(lua_State *L) {
    drytest_t *t = kit_of(L);
    const char *job = luaL_checkstring(L, 1);
    char err[512], *args = NULL;
    check_job(L, t, job);
    if (!lua_isnoneornil(L, 2)) {
        args = json_encode(L, 2, err, sizeof err);
        if (!args) return fail(L, "t:run(%s): args: %s", job, err);
    }
    int rc = sched_trigger(t->w->sched, job, args, err, sizeof err);
    free(args);
    if (rc < 0) return fail(L, "t:run: %s", err);
    pump(t, vclock_now(&t->clock)); /* what is due now starts now */
    return 0;
}

typedef struct rows {
    lua_State *L;
    int n;
} rows_t;

/* Pushes a run row as a table; a null field is left out (nil). */
static int on_row(void *ud, const store_run_t *r) {
    rows_t *rows = ud;
    lua_State *L = rows->L;
    store_field_t f[STORE_RUN_FIELDS];
    char err[128];
    store_run_fields(r, f);
    lua_createtable(L, 0, STORE_RUN_FIELDS);
    for (int i = 0; i < STORE_RUN_FIELDS; i++) {
        switch (f[i].kind) {
        case STORE_FIELD_INT:
            lua_pushinteger(L, f[i].integer);
            break;
        case STORE_FIELD_TIME:
            lua_pushnumber(L, f[i].time);
            break;
        case STORE_FIELD_TEXT:
            lua_pushstring(L, f[i].text);
            break;
        case STORE_FIELD_JSON:
            if (json_decode(L, f[i].text, err, sizeof err) < 0) continue;
            break;
        case STORE_FIELD_NULL:
            continue;
        }
        lua_setfield(L, -2, f[i].key);
    }
    lua_rawseti(L, -2, ++rows->n);
    return 0;
}

/* t:runs(job) → attempts oldest first (the store answers newest first). */
static int l_test_runs(lua_State *L) {
    drytest_t *t = kit_of(L);
    const char *job = luaL_checkstring(L, 1);
    check_job(L, t, job);
    rows_t rows = {L, 0};
    lua_newtable(L);
    if (store_runs(t->w->store, job, 0, on_row, &rows) < 0)
        return fail(L, "t:runs(%s): the store failed", job);
    for (int i = 1, j = rows.n; i < j; i++, j--) {
        lua_rawgeti(L, -1, i);
        lua_rawgeti(L, -2, j);
        lua_rawseti(L, -3, i);
        lua_rawseti(L, -2, j);
    }
    return 1;
}

static int l_test_fail(lua_State *L) {
    drytest_t *t = kit_of(L);
    const char *job = luaL_checkstring(L, 1), *kind_name = luaL_checkstring(L, 2);
    const char *message = luaL_optstring(L, 3, NULL);
    err_kind_t kind;
    check_job(L, t, job);
    if (err_kind_parse(kind_name, &kind) < 0 || kind == ERR_NONE)
        return fail(L, "t:fail: unknown error kind '%s'", kind_name);
    if (fake_fail(t->w->fake, job, kind, message) < 0) return fail(L, "out of memory");
    return 0;
}

static int l_test_serve(lua_State *L) {
    drytest_t *t = kit_of(L);
    const char *url = luaL_checkstring(L, 1);
    char err[512];
    luaL_checktype(L, 2, LUA_TTABLE);
    char *text = json_encode(L, 2, err, sizeof err);
    if (!text) return fail(L, "serve(%s): %s", url, err);
    cJSON *fx = cJSON_Parse(text);
    free(text);
    /* An empty Lua table encodes as an array. */
    if (cJSON_IsArray(fx) && cJSON_GetArraySize(fx) == 0) {
        cJSON_Delete(fx);
        fx = cJSON_CreateObject();
    }
    int rc = fake_serve(t->w->fake, url, fx, err, sizeof err);
    cJSON_Delete(fx);
    if (rc < 0) return fail(L, "%s", err);
    return 0;
}

static int l_test_calls(lua_State *L) {
    drytest_t *t = kit_of(L);
    const char *job = luaL_optstring(L, 1, NULL);
    char err[128];
    cJSON *calls = fake_calls(t->w->fake, job);
    char *text = calls ? cJSON_PrintUnformatted(calls) : NULL;
    cJSON_Delete(calls);
    if (!text) return fail(L, "out of memory");
    int rc = json_decode(L, text, err, sizeof err);
    free(text);
    if (rc < 0) return fail(L, "t.browser:calls: %s", err);
    return 1;
}

/* t.http:serve(url, fixture): the fixture as lua/testkit.lua checked it —
 * {method, status, headers = {name = value}, body, delay, error}. */
static int l_test_http_serve(lua_State *L) {
    drytest_t *t = kit_of(L);
    const char *url = luaL_checkstring(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    http_fixture_t fx = {.status = 200, .delay = -1, .error = HTTPC_OK};
    lua_settop(L, 2);
    lua_getfield(L, 2, "method");
    fx.method = lua_tostring(L, -1);
    lua_getfield(L, 2, "status");
    if (!lua_isnil(L, -1)) fx.status = (int)luaL_checkinteger(L, -1);
    lua_getfield(L, 2, "body");
    fx.body = lua_tolstring(L, -1, &fx.body_len);
    lua_getfield(L, 2, "delay");
    if (!lua_isnil(L, -1)) fx.delay = luaL_checknumber(L, -1);
    lua_getfield(L, 2, "error");
    const char *error = lua_tostring(L, -1);
    if (error && strcmp(error, "network") == 0)
        fx.error = HTTPC_NETWORK;
    else if (error && strcmp(error, "timeout") == 0)
        fx.error = HTTPC_TIMEOUT;
    else if (error && strcmp(error, "limit") == 0)
        fx.error = HTTPC_LIMIT;
    else if (error)
        return fail(L, "t.http:serve: error must be network, timeout or limit");
    enum { MAX_HEADERS = 128 };
    const char *heads[2 * MAX_HEADERS];
    lua_getfield(L, 2, "headers"); /* 8: its strings stay alive until the serve copies them */
    if (lua_istable(L, -1)) {
        lua_pushnil(L);
        while (lua_next(L, 8)) {
            if (fx.nheaders == MAX_HEADERS) return fail(L, "t.http:serve: more than 128 headers");
            if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING)
                return fail(L, "t.http:serve: headers must be name = string");
            heads[2 * fx.nheaders] = lua_tostring(L, -2);
            heads[2 * fx.nheaders + 1] = lua_tostring(L, -1);
            fx.nheaders++;
            lua_pop(L, 1);
        }
    }
    fx.headers = heads;
    char err[256];
    if (http_fake_serve(t->w->http_fake, url, &fx, err, sizeof err) < 0)
        return fail(L, "t.http:serve: %s", err);
    return 0;
}

/* Pushes a call's "Name\0value\0" lines as {Name = value}. */
static void push_call_headers(lua_State *L, const http_fake_call_t *c) {
    lua_newtable(L);
    for (size_t off = 0; off < c->heads_len;) {
        const char *name = c->heads + off;
        off += strlen(name) + 1;
        lua_pushstring(L, c->heads + off);
        off += strlen(c->heads + off) + 1;
        lua_setfield(L, -2, name);
    }
}

/* t.http:calls([job]): the requests made, oldest first, as
 * {method, url, headers, body, at, job, run_id}. */
static int l_test_http_calls(lua_State *L) {
    drytest_t *t = kit_of(L);
    const char *job = luaL_optstring(L, 1, NULL);
    if (job) check_job(L, t, job);
    const http_fake_t *f = t->w->http_fake;
    lua_newtable(L);
    for (size_t i = 0, n = 0; i < http_fake_ncalls(f); i++) {
        const http_fake_call_t *c = http_fake_call(f, i);
        if (job && strcmp(c->job, job) != 0) continue;
        lua_createtable(L, 0, 7);
        lua_pushstring(L, c->method);
        lua_setfield(L, -2, "method");
        lua_pushstring(L, c->url);
        lua_setfield(L, -2, "url");
        push_call_headers(L, c);
        lua_setfield(L, -2, "headers");
        if (c->body) {
            lua_pushlstring(L, c->body, c->body_len);
            lua_setfield(L, -2, "body");
        }
        lua_pushnumber(L, c->at);
        lua_setfield(L, -2, "at");
        lua_pushstring(L, c->job);
        lua_setfield(L, -2, "job");
        lua_pushinteger(L, (lua_Integer)c->run_id);
        lua_setfield(L, -2, "run_id");
        lua_rawseti(L, -2, (lua_Integer)++n);
    }
    return 1;
}

/* print() in a test file: indented under the test's line of the report. */
static int l_test_print(lua_State *L) {
    const char *text = luaL_checkstring(L, 1);
    for (const char *p = text; *p;) {
        size_t n = strcspn(p, "\n");
        printf("     | %.*s\n", (int)n, p);
        p += n + (p[n] == '\n');
    }
    fflush(stdout);
    return 0;
}

static void open_kit(lua_State *L, void *ud) {
    static const luaL_Reg fns[] = {
        {"test_register", l_test_register},
        {"test_advance", l_test_advance},
        {"test_run", l_test_run},
        {"test_runs", l_test_runs},
        {"test_fail", l_test_fail},
        {"test_serve", l_test_serve},
        {"test_calls", l_test_calls},
        {"test_http_serve", l_test_http_serve},
        {"test_http_calls", l_test_http_calls},
        {"test_print", l_test_print},
        {NULL, NULL},
    };
    lua_pushlightuserdata(L, ud);
    luaL_setfuncs(L, fns, 1);
}

/* ---- running ---- */

static void result(drytest_t *t, int ok, const char *what, const char *why) {
    if (ok) {
        t->passed++;
        printf("ok   %s\n", what);
    } else {
        t->failed++;
        printf("FAIL %s\n", what);
        if (why && why[0]) printf("     %s\n", why);
    }
    fflush(stdout);
}

static void run_file(drytest_t *t, const char *path) {
    char err[2048], what[600], lib[4200];
    /* A test file requires the modules its jobs require, wherever it sits. */
    snprintf(lib, sizeof lib, "%s/lib", t->njob_paths == 1 ? t->job_paths[0] : t->conf->scripts);
    struct stat st;
    int beside = stat(lib, &st) != 0; /* no such lib/: the one beside the file */
    /* The test file's own state: it reads the clock of the world in use. */
    script_host_t host = {.clock = &t->clock,
                          .lua_dir = t->conf->lua_dir,
                          .lib_dir = beside ? NULL : lib,
                          .memory_limit = t->conf->sandbox_memory,
                          .cpu_slice = t->conf->cpu_slice,
                          .dry_run = 1,
                          .open_prims = open_kit,
                          .prims_ud = t};
    script_t *s = NULL;
    t->ntests = 0;
    vclock_init(&t->clock, NULL, 1, t->o->start);
    int rc = script_load(&s, path, &host, err, sizeof err);
    vclock_close(&t->clock);
    if (rc < 0) {
        result(t, 0, path, err);
        return;
    }
    if (t->ntests == 0) result(t, 0, path, "no test(name, fn) in this file");
    for (size_t i = 0; i < t->ntests; i++) {
        snprintf(what, sizeof what, "%s: %s", path, t->tests[i].name);
        if (world_new(t, err, sizeof err) < 0) {
            result(t, 0, what, err);
        } else if (t->load_errors) {
            result(t, 0, what, t->first_error);
        } else {
            lua_State *L = script_state(s);
            lua_rawgeti(L, LUA_REGISTRYINDEX, t->tests[i].ref);
            int ok = script_pcall(s, 0, 0) == LUA_OK;
            if (!ok) {
                script_error_read(s, L, -1, err, sizeof err, NULL, NULL);
                lua_pop(L, 1);
            }
            /* A request no fixture answered fails the test, even when the
             * job caught its error. */
            const char *first;
            size_t missed = http_fake_unanswered(t->w->http_fake, &first);
            if (missed) {
                size_t n = ok ? 0 : strlen(err);
                char more[48] = "";
                if (missed > 1) snprintf(more, sizeof more, " (and %zu more)", missed - 1);
                snprintf(err + n, sizeof err - n, "%sno t.http fixture for %s%s",
                         ok ? "" : "\n     ", first ? first : "a request", more);
                ok = 0;
            }
            result(t, ok, what, ok ? NULL : err);
        }
        world_free(t);
        luaL_unref(script_state(s), LUA_REGISTRYINDEX, t->tests[i].ref);
    }
    script_unref(s);
}

/* ---- the simulation (no test files) ---- */

typedef struct tally {
    int ok, failed, other, bugs;
    char bug[600];
} tally_t;

static int on_sim_row(void *ud, const store_run_t *r) {
    tally_t *tl = ud;
    if (strcmp(r->status, "ok") == 0)
        tl->ok++;
    else if (strcmp(r->status, "failed") == 0)
        tl->failed++;
    else
        tl->other++;
    /* A script error or a limit is the script's own bug, not the site's. */
    if (r->error_kind &&
        (strcmp(r->error_kind, "script") == 0 || strcmp(r->error_kind, "limit") == 0)) {
        if (!tl->bugs++) snprintf(tl->bug, sizeof tl->bug, "%s", r->error ? r->error : "");
    }
    return 0;
}

typedef struct starts {
    double *at;
    size_t n, cap;
} starts_t;

static int on_start_row(void *ud, const store_run_t *r) {
    starts_t *st = ud;
    if (r->attempt != 1 || r->started_at <= 0) return 0;
    if (st->n == st->cap) {
        size_t cap = st->cap ? st->cap * 2 : 256;
        double *at = realloc(st->at, cap * sizeof *at);
        if (!at) return 1;
        st->at = at;
        st->cap = cap;
    }
    st->at[st->n++] = r->started_at;
    return 0;
}

static void simulate(drytest_t *t) {
    char err[2048], from[40], to[40], span[32];
    if (world_new(t, err, sizeof err) < 0) {
        result(t, 0, "loading the scripts", err);
        world_free(t);
        return;
    }
    engine_t *w = t->w;
    units_format_time(t->o->start, from, sizeof from);
    units_format_time(t->o->start + t->o->window, to, sizeof to);
    units_format_duration(t->o->window, span, sizeof span);
    printf("no *_test.lua files: simulating %s (%s to %s) with the fake browser\n", span, from, to);
    pump(t, t->o->start + t->o->window);
    store_flush(w->store);
    printf("%-28s %6s %6s %6s\n", "job", "ok", "failed", "other");
    for (size_t i = 0; i < w->set.njobs; i++) {
        const char *name = w->set.jobs[i]->name;
        tally_t tl = {0};
        store_runs(w->store, name, 0, on_sim_row, &tl);
        printf("%-28s %6d %6d %6d\n", name, tl.ok, tl.failed, tl.other);
    }
    starts_t st = {0};
    busiest_t most_sec = {0, 0}, most_min = {0, 0};
    store_runs(w->store, NULL, 0, on_start_row, &st);
    busiest_find(st.at, st.n, 1, &most_sec);
    busiest_find(st.at, st.n, 60, &most_min);
    printf("%zu starts; most in one second %zu, in one minute %zu\n", st.n, most_sec.count,
           most_min.count);
    free(st.at);
    if (t->load_errors) result(t, 0, "scripts load", t->first_error);
    int failed_before = t->failed;
    for (size_t i = 0; i < w->set.njobs; i++) {
        const char *name = w->set.jobs[i]->name;
        tally_t tl = {0};
        char what[300];
        store_runs(w->store, name, 0, on_sim_row, &tl);
        snprintf(what, sizeof what, "%s: no script errors in %d run(s)", name,
                 tl.ok + tl.failed + tl.other);
        result(t, tl.bugs == 0, what, tl.bug);
    }
    if (t->failed > failed_before)
        printf("(with no fixture the fake browser answers page:eval with nil and baton.http "
               "requests fail: serve the pages and URLs your jobs read in a *_test.lua file)\n");
    world_free(t);
}

static double log_now(void *ud) { return vclock_now(&((drytest_t *)ud)->clock); }

int drytest_main(const conf_t *conf, const drytest_opts_t *o) {
    drytest_t *t = calloc(1, sizeof *t);
    int rc = 1;
    if (!t) return 1;
    t->conf = conf;
    t->o = o;
    /* Uploads read the project's own files/, beside engine.conf, as baton run's do. */
    const char *slash = strrchr(conf->path, '/');
    if (conf->path[0] && slash)
        snprintf(t->upload_dir, sizeof t->upload_dir, "%.*s/files", (int)(slash - conf->path),
                 conf->path);
    else
        snprintf(t->upload_dir, sizeof t->upload_dir, "files");
    /* The jobs' own log lines would bury the report; BATON_TEST_LOG=1 shows them. */
    log_setup(getenv("BATON_TEST_LOG") && strcmp(getenv("BATON_TEST_LOG"), "1") == 0 ? LOG_DEBUG
                                                                                     : LOG_OFF,
              0);
    log_set_clock(log_now, t); /* log lines show virtual time */
    const char *tmp = getenv("TMPDIR");
    snprintf(t->files_dir, sizeof t->files_dir, "%s/baton-test-XXXXXX",
             tmp && tmp[0] && strlen(tmp) < 40 ? tmp : "/tmp");
    if (sort_paths(t) < 0) goto out;
    if (o->real) {
        /* As `baton run`: a dead browser's pipe must not kill us, and its
         * orphaned renderers are ours to reap. */
        signal(SIGPIPE, SIG_IGN);
        chrome_subreaper();
        if (uv_loop_init(&t->loop) < 0) goto out;
        uv_timer_init(&t->loop, &t->poke);
        uv_unref((uv_handle_t *)&t->poke);
        t->loop_open = 1;
    }
    if (!mkdtemp(t->files_dir)) {
        fprintf(stderr, "%s: cannot create a temporary directory\n", t->files_dir);
        goto out;
    }
    if (t->ntest_files == 0) simulate(t);
    for (size_t i = 0; i < t->ntest_files; i++) run_file(t, t->test_files[i]);
    fs_remove_tree(t->files_dir);
    printf("%d passed, %d failed\n", t->passed, t->failed);
    rc = t->failed ? 1 : 0;
out:
    if (t->loop_open) {
        uv_close((uv_handle_t *)&t->poke, NULL);
        cdp_ws_shutdown();
        uv_run(&t->loop, UV_RUN_DEFAULT);
        cdp_ws_free();
        chrome_reap();
        if (uv_loop_close(&t->loop) != 0) fprintf(stderr, "internal: handles left open\n");
    }
    for (size_t i = 0; i < t->njob_paths; i++) free(t->job_paths[i]);
    for (size_t i = 0; i < t->ntest_files; i++) free(t->test_files[i]);
    log_set_clock(NULL, NULL);
    free(t);
    return rc;
}
