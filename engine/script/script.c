/* script.c — per-script Lua states. Owns each state's allocator (memory limit),
 * count hook (CPU slice per resume), the sandbox set-up with the prelude, and
 * the coroutine bridge: runs yield a marker to the loop, libuv callbacks
 * resume them. Every entry into Lua from here is lua_pcall or lua_resume. */
#include "script.h"

#include <errno.h>
#include <lauxlib.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <uv.h>

#include "run/circuit.h"
#include "json.h"
#include "run/retry.h"
#include "base/log.h"
#include "base/units.h"

enum { HOOK_COUNT = 1000 };
/* start_run(fn, job, run_id, attempt, scheduled_at, deadline, dry_run, args, err) */
enum { START_RUN_ARGS = 9 };
enum { DOOM_NONE, DOOM_MEMORY, DOOM_CPU };

struct script {
    lua_State *L;
    char *path;
    char *lib_dir; /* scripts/lib next to the script, or host.lib_dir */
    script_host_t host;
    int refs;
    size_t mem_used;
    size_t mem_limit;        /* 0 while not enforced */
    unsigned long allocs;    /* counted for host.fault_at */
    uint64_t rng;            /* baton.retry jitter */
    int in_slice;            /* a resume, a script_pcall (or the load) is running */
    int calling;             /* inside script_pcall: a memory failure dooms the call */
    int no_file;             /* script_open: the prelude only */
    uint64_t slice_deadline; /* uv_hrtime() */
    int doom;                /* DOOM_*: the running code must stop with `limit` */
    script_co_t *running;
    int defs_ref, start_run_ref;
    int doom_mem_ref, doom_cpu_ref; /* pre-built limit errors: raising them allocates nothing */
};

struct script_co {
    script_t *s;
    lua_State *T;
    int thread_ref;
    int waiting;
    void (*cancel)(void *op);
    void *op;
    vtimer_t sleep;
    script_done_cb done;
    void *ud;
    char job[128];
    int64_t run_id;
    int priority;
    char session[64];
    int context_no;
    int ndefer;
    struct {
        void (*fn)(void *ud, const script_outcome_t *out);
        void *ud;
    } defer[4];
};

/* Engine waits yield this address; nothing a script can reach holds it. */
static const char yield_mark = 0;

static script_t *script_of(lua_State *L) { return *(script_t **)lua_getextraspace(L); }

/* ---- limits ---- */

static void *l_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
    script_t *s = ud;
    size_t old = ptr ? osize : 0;
    if (nsize == 0) {
        free(ptr);
        s->mem_used -= old;
        return NULL;
    }
    if (s->host.fault_at && nsize > old && ++s->allocs >= s->host.fault_at) return NULL;
    if (nsize > old && s->mem_limit && s->mem_used + (nsize - old) > s->mem_limit) {
        /* Inside a run the allocation failure dooms the run even if the script
         * catches the memory error: it must end with `limit`. */
        if (s->running || s->calling) s->doom = DOOM_MEMORY;
        return NULL;
    }
    void *p = realloc(ptr, nsize);
    if (!p) return NULL;
    s->mem_used = s->mem_used - old + nsize;
    return p;
}

static void l_hook(lua_State *L, lua_Debug *ar) {
    (void)ar;
    script_t *s = script_of(L);
    if (!s->in_slice) return;
    if (!s->doom && s->host.cpu_slice > 0 && uv_hrtime() > s->slice_deadline) s->doom = DOOM_CPU;
    if (!s->doom) return;
    /* From now on every instruction raises, so a pcall loop cannot swallow it. */
    lua_sethook(L, l_hook, LUA_MASKCOUNT, 1);
    lua_rawgeti(L, LUA_REGISTRYINDEX, s->doom == DOOM_CPU ? s->doom_cpu_ref : s->doom_mem_ref);
    lua_error(L);
}

static void slice_begin(script_t *s, double seconds) {
    s->in_slice = 1;
    s->doom = DOOM_NONE;
    s->slice_deadline = uv_hrtime() + (uint64_t)(seconds * 1e9);
}

static void slice_end(script_t *s) {
    s->in_slice = 0;
    s->doom = DOOM_NONE;
    lua_sethook(s->L, l_hook, LUA_MASKCOUNT, HOOK_COUNT);
}

/* ---- primitives handed to the prelude ---- */

static int l_where(lua_State *L) {
    lua_Debug ar;
    int level = (int)luaL_optinteger(L, 1, 1);
    if (!lua_getstack(L, level, &ar) || !lua_getinfo(L, "Sl", &ar)) {
        lua_pushstring(L, "?");
        lua_pushinteger(L, 0);
        return 2;
    }
    lua_pushstring(L, ar.short_src);
    lua_pushinteger(L, ar.currentline);
    return 2;
}

static int l_now(lua_State *L) {
    lua_pushnumber(L, vclock_now(script_of(L)->host.clock));
    return 1;
}

static double check_duration(lua_State *L, int idx, const char *what) {
    double secs;
    if (lua_type(L, idx) == LUA_TNUMBER) {
        secs = lua_tonumber(L, idx);
        if (!(secs >= 0)) err_raise(L, ERR_SCRIPT, "%s: duration must be >= 0", what);
        return secs;
    }
    const char *text = lua_tostring(L, idx);
    if (!text || units_duration(text, &secs) < 0)
        err_raise(L, ERR_SCRIPT, "%s: bad duration '%s' (use e.g. 5, \"250ms\", \"5s\", \"2m\")",
                  what, text ? text : luaL_typename(L, idx));
    return secs;
}

static void sleep_fired(vtimer_t *t) { script_co_wake(t->data, 0); }

static void sleep_cancel(void *op) {
    script_co_t *co = op;
    vtimer_stop(co->s->host.clock, &co->sleep);
}

static int l_sleep(lua_State *L) {
    double secs = check_duration(L, 1, "baton.sleep");
    script_co_t *co = script_co_running(L);
    if (!co || !lua_isyieldable(L))
        return err_raise(L, ERR_SCRIPT, "baton.sleep: can only wait inside a run");
    co->sleep.data = co;
    vtimer_start(co->s->host.clock, &co->sleep, vclock_now(co->s->host.clock) + secs, sleep_fired);
    return script_co_wait(L, co, sleep_cancel, co);
}

static int l_log(lua_State *L) {
    script_t *s = script_of(L);
    int level = (int)luaL_checkinteger(L, 1);
    const char *job = lua_tostring(L, 2);
    long long run_id = (long long)lua_tointeger(L, 3);
    const char *msg = luaL_checkstring(L, 4);
    if (!job && s->running) {
        job = s->running->job;
        run_id = s->running->run_id;
    }
    if (!job) {
        /* Outside a run: say which script speaks. */
        log_emit((log_level_t)level, s->path, 0, "%s", msg);
        return 0;
    }
    log_emit((log_level_t)level, job, run_id, "%s", msg);
    return 0;
}

static store_t *check_store(lua_State *L) {
    store_t *st = script_of(L)->host.store;
    if (!st)
        err_raise(L, ERR_SCRIPT, "the store is not available here (check and plan run without it)");
    return st;
}

static const char *check_key(lua_State *L) {
    if (lua_type(L, 1) != LUA_TSTRING) err_raise(L, ERR_SCRIPT, "store: key must be a string");
    return lua_tostring(L, 1);
}

static int l_store_get(lua_State *L) {
    store_t *st = check_store(L);
    const char *key = check_key(L);
    char *json = NULL, err[256];
    if (store_kv_get(st, key, &json) < 0)
        return err_raise(L, ERR_SCRIPT, "store:get('%s'): %s", key, store_errmsg(st));
    if (!json) {
        lua_pushnil(L);
        return 1;
    }
    int rc = json_decode(L, json, err, sizeof err);
    free(json);
    if (rc < 0) return err_raise(L, ERR_SCRIPT, "store:get('%s'): %s", key, err);
    return 1;
}

static int l_store_set(lua_State *L) {
    store_t *st = check_store(L);
    const char *key = check_key(L);
    char err[256];
    if (lua_isnoneornil(L, 2)) {
        if (store_kv_delete(st, key) < 0)
            return err_raise(L, ERR_SCRIPT, "store:set('%s'): %s", key, store_errmsg(st));
        return 0;
    }
    char *json = json_encode(L, 2, err, sizeof err);
    if (!json) return err_raise(L, ERR_SCRIPT, "store:set('%s'): %s", key, err);
    int rc = store_kv_set(st, key, json);
    free(json);
    if (rc < 0) return err_raise(L, ERR_SCRIPT, "store:set('%s'): %s", key, store_errmsg(st));
    return 0;
}

static int l_store_delete(lua_State *L) {
    store_t *st = check_store(L);
    const char *key = check_key(L);
    if (store_kv_delete(st, key) < 0)
        return err_raise(L, ERR_SCRIPT, "store:delete('%s'): %s", key, store_errmsg(st));
    return 0;
}

static int l_store_incr(lua_State *L) {
    store_t *st = check_store(L);
    const char *key = check_key(L);
    double by = luaL_optnumber(L, 2, 1), value;
    if (store_kv_incr(st, key, by, &value) < 0)
        return err_raise(L, ERR_SCRIPT, "store:incr('%s'): %s", key, store_errmsg(st));
    if (value == (double)(lua_Integer)value)
        lua_pushinteger(L, (lua_Integer)value);
    else
        lua_pushnumber(L, value);
    return 1;
}

static int l_trigger(lua_State *L) {
    script_t *s = script_of(L);
    const char *job = luaL_checkstring(L, 1);
    char err[256] = "", *args = NULL;
    if (!s->host.trigger) return err_raise(L, ERR_SCRIPT, "baton.trigger: not available here");
    if (!lua_isnoneornil(L, 2)) {
        args = json_encode(L, 2, err, sizeof err);
        if (!args) return err_raise(L, ERR_SCRIPT, "baton.trigger('%s'): args: %s", job, err);
    }
    int rc = s->host.trigger(s->host.ud, job, args, err, sizeof err);
    free(args);
    if (rc < 0) return err_raise(L, ERR_SCRIPT, "baton.trigger('%s'): %s", job, err);
    return 0;
}

/* ---- baton.breaker ---- */

static breaker_t *check_breaker(lua_State *L, int with_opts) {
    script_t *s = script_of(L);
    const char *name = luaL_checkstring(L, 1);
    if (!s->host.circuits) err_raise(L, ERR_SCRIPT, "baton.breaker: not available here");
    breaker_opts_t o, *opts = NULL;
    if (with_opts && lua_istable(L, 2)) {
        breaker_opts_default(&o);
        lua_getfield(L, 2, "failures");
        if (lua_isinteger(L, -1)) o.failures = (int)lua_tointeger(L, -1);
        lua_getfield(L, 2, "cooldown");
        if (!lua_isnil(L, -1)) o.cooldown = check_duration(L, -1, "baton.breaker cooldown");
        lua_pop(L, 2);
        opts = &o;
    }
    breaker_t *b = circuits_get(s->host.circuits, name, opts, vclock_now(s->host.clock));
    if (!b) err_raise(L, ERR_LIMIT, "baton.breaker('%s'): out of memory", name);
    return b;
}

/* Made at load time too; in check and plan (no breakers) it is a no-op. */
static int l_breaker_get(lua_State *L) {
    if (script_of(L)->host.circuits) check_breaker(L, 1);
    return 0;
}

static int l_breaker_allow(lua_State *L) {
    breaker_t *b = check_breaker(L, 0);
    lua_pushboolean(L, breaker_allow(b, vclock_now(script_of(L)->host.clock)));
    return 1;
}

/* breaker_done(name, ok, seconds [, err]): a call's outcome. Errors that say
 * nothing about the site (script bugs, limits, cancels) free the slot only. */
static int l_breaker_done(lua_State *L) {
    breaker_t *b = check_breaker(L, 0);
    int ok = lua_toboolean(L, 2);
    double secs = luaL_optnumber(L, 3, 0);
    if (!ok) {
        char msg[64];
        err_kind_t kind = err_read(L, 4, msg, sizeof msg, NULL);
        if (kind == ERR_SCRIPT || kind == ERR_LIMIT || kind == ERR_CANCELLED) {
            breaker_cancel(b);
            return 0;
        }
    }
    breaker_record(b, vclock_now(script_of(L)->host.clock), ok, secs);
    return 0;
}

static int l_breaker_state(lua_State *L) {
    breaker_t *b = check_breaker(L, 0);
    lua_pushstring(L, breaker_state_name(breaker_state(b)));
    return 1;
}

static int l_breaker_reset(lua_State *L) {
    breaker_t *b = check_breaker(L, 0);
    breaker_reset(b, vclock_now(script_of(L)->host.clock));
    return 0;
}

/* ---- baton.retry ---- */

/* retry_next(opts, next_attempt, prev_delay) → seconds to wait before that
 * attempt, or nil when the engine-wide retry budget refuses it. */
static int l_retry_next(lua_State *L) {
    script_t *s = script_of(L);
    conf_retry_t r = {
        .attempts = 3, .backoff = "exponential", .base = 1, .max = 30, .jitter = "full"};
    int next = (int)luaL_checkinteger(L, 2);
    double prev = luaL_optnumber(L, 3, 0);
    if (lua_istable(L, 1)) {
        static const char *const backoffs[] = {"exponential", "linear", "constant", NULL};
        static const char *const jitters[] = {"none", "full", "equal", "decorrelated", NULL};
        lua_getfield(L, 1, "base");
        if (!lua_isnil(L, -1)) r.base = check_duration(L, -1, "baton.retry base");
        lua_getfield(L, 1, "max");
        if (!lua_isnil(L, -1)) r.max = check_duration(L, -1, "baton.retry max");
        lua_getfield(L, 1, "backoff");
        if (!lua_isnil(L, -1)) {
            int k = luaL_checkoption(L, -1, NULL, backoffs);
            snprintf(r.backoff, sizeof r.backoff, "%s", backoffs[k]);
        }
        lua_getfield(L, 1, "jitter");
        if (!lua_isnil(L, -1)) {
            int k = luaL_checkoption(L, -1, NULL, jitters);
            snprintf(r.jitter, sizeof r.jitter, "%s", jitters[k]);
        }
        lua_pop(L, 4);
    }
    if (r.max < r.base) r.max = r.base;
    if (s->host.budget && !retry_budget_take(s->host.budget, vclock_now(s->host.clock))) {
        lua_pushnil(L);
        return 1;
    }
    /* xorshift64*, seeded per state from the clock: jitter need not be reproducible here */
    if (!s->rng) s->rng = uv_hrtime() | 1;
    s->rng ^= s->rng >> 12;
    s->rng ^= s->rng << 25;
    s->rng ^= s->rng >> 27;
    double u = (double)((s->rng * 2685821657736338717ULL) >> 11) / 9007199254740992.0;
    lua_pushnumber(L, retry_delay(&r, next, prev, u));
    return 1;
}

static int l_retry_call(lua_State *L) {
    script_t *s = script_of(L);
    if (s->host.budget) retry_budget_call(s->host.budget, vclock_now(s->host.clock));
    return 0;
}

/* Loads a module for require: "a.b" → lua/a/b.lua, then <scripts>/lib/a/b.lua. */
static int l_load_module(lua_State *L) {
    script_t *s = script_of(L);
    const char *name = luaL_checkstring(L, 1);
    char rel[512], path[4096];
    size_t n = strlen(name);
    if (n == 0 || n >= sizeof rel - 5 || strstr(name, "..") || name[0] == '.' ||
        strchr(name, '/') || strchr(name, '\\')) {
        lua_pushnil(L);
        lua_pushfstring(L, "require: bad module name '%s'", name);
        return 2;
    }
    for (size_t i = 0; i <= n; i++) rel[i] = name[i] == '.' ? '/' : name[i];
    const char *dirs[2] = {s->host.lua_dir, s->lib_dir};
    for (int i = 0; i < 2; i++) {
        struct stat st;
        if (!dirs[i]) continue;
        snprintf(path, sizeof path, "%s/%s.lua", dirs[i], rel);
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) continue;
        if (luaL_loadfilex(L, path, "t") != LUA_OK) {
            lua_pushnil(L);
            lua_insert(L, -2);
            return 2;
        }
        return 1;
    }
    lua_pushnil(L);
    lua_pushfstring(L, "require: module '%s' not found in lua/ or scripts/lib/", name);
    return 2;
}

static int l_json_null(lua_State *L) {
    json_push_null(L);
    return 1;
}

/* ---- state set-up ---- */

static void open_lib(lua_State *L, const char *name, lua_CFunction open) {
    luaL_requiref(L, name, open, 1);
    lua_pop(L, 1);
}

static void remove_field(lua_State *L, const char *table, const char *field) {
    lua_getglobal(L, table);
    lua_pushnil(L);
    lua_setfield(L, -2, field);
    lua_pop(L, 1);
}

/* Keeps only os.time, os.clock and os.date. */
static void trim_os(lua_State *L) {
    lua_getglobal(L, "os");
    lua_createtable(L, 0, 3);
    const char *keep[] = {"time", "clock", "date"};
    for (int i = 0; i < 3; i++) {
        lua_getfield(L, -2, keep[i]);
        lua_setfield(L, -2, keep[i]);
    }
    lua_setglobal(L, "os");
    lua_pop(L, 1);
}

static int make_limit_error(lua_State *L, const char *fmt, const char *what) {
    char msg[256];
    snprintf(msg, sizeof msg, fmt, what);
    err_push(L, ERR_LIMIT, msg);
    return luaL_ref(L, LUA_REGISTRYINDEX);
}

/* Runs under lua_pcall: everything here may raise (memory, bad prelude). */
static int setup_p(lua_State *L) {
    script_t *s = lua_touserdata(L, 1);
    char path[4096], what[64];
    static const luaL_Reg prims[] = {
        {"where", l_where},
        {"now", l_now},
        {"sleep", l_sleep},
        {"log", l_log},
        {"store_get", l_store_get},
        {"store_set", l_store_set},
        {"store_delete", l_store_delete},
        {"store_incr", l_store_incr},
        {"trigger", l_trigger},
        {"load_module", l_load_module},
        {"json_encode", json_l_encode},
        {"json_decode", json_l_decode},
        {"error", err_l_error},
        {"breaker_get", l_breaker_get},
        {"breaker_allow", l_breaker_allow},
        {"breaker_done", l_breaker_done},
        {"breaker_state", l_breaker_state},
        {"breaker_reset", l_breaker_reset},
        {"retry_next", l_retry_next},
        {"retry_call", l_retry_call},
        {NULL, NULL},
    };

    open_lib(L, "_G", luaopen_base);
    open_lib(L, "coroutine", luaopen_coroutine);
    open_lib(L, "table", luaopen_table);
    open_lib(L, "string", luaopen_string);
    open_lib(L, "math", luaopen_math);
    open_lib(L, "utf8", luaopen_utf8);
    open_lib(L, "os", luaopen_os);
    trim_os(L);
    remove_field(L, "string", "dump");
    lua_pushnil(L);
    lua_setglobal(L, "dofile");
    lua_pushnil(L);
    lua_setglobal(L, "loadfile");
    err_open(L);

    units_format_duration(s->host.cpu_slice, what, sizeof what);
    s->doom_cpu_ref = make_limit_error(L, "ran past its CPU slice of %s without yielding", what);
    snprintf(what, sizeof what, "%zu KB", s->host.memory_limit / 1024);
    s->doom_mem_ref = make_limit_error(L, "allocated past its memory limit of %s", what);

    snprintf(path, sizeof path, "%s/prelude.lua", s->host.lua_dir);
    if (luaL_loadfilex(L, path, "t") != LUA_OK) return lua_error(L);
    luaL_newlib(L, prims);
    if (s->host.open_prims) s->host.open_prims(L, s->host.prims_ud);
    lua_pushlightuserdata(L, (void *)&yield_mark);
    lua_setfield(L, -2, "mark");
    l_json_null(L);
    lua_setfield(L, -2, "json_null");
    lua_call(L, 1, 1);
    if (!lua_istable(L, -1)) return luaL_error(L, "%s: must return a table", path);
    lua_getfield(L, -1, "defs");
    s->defs_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_getfield(L, -1, "start_run");
    s->start_run_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_pop(L, 1);

    if (s->no_file) {
        s->mem_limit = s->host.memory_limit;
        return 0;
    }
    /* The user's script, text only; it runs with the limits on. */
    if (luaL_loadfilex(L, s->path, "t") != LUA_OK) return lua_error(L);
    s->mem_limit = s->host.memory_limit;
    lua_call(L, 0, 0);
    return 0;
}

static char *lib_dir_of(const char *path) {
    const char *slash = strrchr(path, '/');
    size_t n = slash ? (size_t)(slash - path) : 1;
    char *dir = malloc(n + 5);
    if (!dir) return NULL;
    if (slash)
        memcpy(dir, path, n);
    else
        dir[0] = '.';
    memcpy(dir + n, "/lib", 5);
    return dir;
}

static int create(script_t **out, const char *path, const script_host_t *host, int no_file,
                  char *err, size_t errlen) {
    script_t *s = calloc(1, sizeof *s);
    *out = NULL;
    if (!s) goto nomem;
    s->host = *host;
    s->no_file = no_file;
    s->refs = 1;
    s->path = strdup(path);
    s->lib_dir = host->lib_dir ? strdup(host->lib_dir) : lib_dir_of(path);
    if (!s->path || !s->lib_dir) goto nomem;
    s->L = lua_newstate(l_alloc, s);
    if (!s->L) goto nomem;
    *(script_t **)lua_getextraspace(s->L) = s;
    lua_sethook(s->L, l_hook, LUA_MASKCOUNT, HOOK_COUNT);

    /* Loading gets a longer slice than a resume: top-level code may build tables. */
    slice_begin(s, s->host.cpu_slice > 1.0 ? s->host.cpu_slice : 1.0);
    lua_pushcfunction(s->L, setup_p);
    lua_pushlightuserdata(s->L, s);
    int rc = lua_pcall(s->L, 1, 0, 0);
    int doomed = s->doom;
    slice_end(s);
    if (rc != LUA_OK) {
        char msg[1024];
        if (rc == LUA_ERRMEM && !doomed)
            snprintf(msg, sizeof msg, "%s: out of memory while loading (limit %zu KB)", path,
                     s->host.memory_limit / 1024);
        else
            err_read(s->L, -1, msg, sizeof msg, NULL);
        /* Errors raised as tables (limits) carry no position: add the file. */
        if (strncmp(msg, path, strlen(path)) == 0)
            snprintf(err, errlen, "%s", msg);
        else
            snprintf(err, errlen, "%s: %s", path, msg);
        script_unref(s);
        return rc == LUA_ERRMEM ? -ENOMEM : -EINVAL;
    }
    *out = s;
    return 0;
nomem:
    snprintf(err, errlen, "%s: out of memory", path);
    if (s) script_unref(s);
    return -ENOMEM;
}

int script_load(script_t **out, const char *path, const script_host_t *host, char *err,
                size_t errlen) {
    return create(out, path, host, 0, err, errlen);
}

int script_open(script_t **out, const char *name, const script_host_t *host, char *err,
                size_t errlen) {
    return create(out, name, host, 1, err, errlen);
}

int script_pcall(script_t *s, int nargs, int nresults) {
    lua_State *L = s->L;
    int base = lua_gettop(L) - nargs - 1;
    s->calling = 1;
    slice_begin(s, s->host.cpu_slice > 0 ? s->host.cpu_slice : 1e9);
    int rc = lua_pcall(L, nargs, nresults, 0);
    int doomed = s->doom;
    s->calling = 0;
    slice_end(s);
    if (doomed) {
        /* whatever the code made of it (caught, or returned anyway): a limit */
        lua_settop(L, base);
        lua_rawgeti(L, LUA_REGISTRYINDEX, doomed == DOOM_CPU ? s->doom_cpu_ref : s->doom_mem_ref);
        return LUA_ERRRUN;
    }
    return rc;
}

void script_slice_renew(lua_State *L) {
    script_t *s = script_of(L);
    if (s->in_slice && !s->doom)
        s->slice_deadline =
            uv_hrtime() + (uint64_t)((s->host.cpu_slice > 0 ? s->host.cpu_slice : 1e9) * 1e9);
}

void script_ref(script_t *s) { s->refs++; }

void script_unref(script_t *s) {
    if (!s || --s->refs > 0) return;
    if (s->L) {
        s->mem_limit = 0;
        lua_close(s->L);
    }
    free(s->path);
    free(s->lib_dir);
    free(s);
}

lua_State *script_state(script_t *s) { return s->L; }
const char *script_path(const script_t *s) { return s->path; }
size_t script_memory(const script_t *s) { return s->mem_used; }

void script_push_defs(script_t *s) { lua_rawgeti(s->L, LUA_REGISTRYINDEX, s->defs_ref); }

/* ---- coroutines ---- */

const char *script_co_job(const script_co_t *co) { return co->job; }
int64_t script_co_run_id(const script_co_t *co) { return co->run_id; }
lua_State *script_co_thread(script_co_t *co) { return co->T; }
int script_co_priority(const script_co_t *co) { return co->priority; }
const char *script_co_session(const script_co_t *co) { return co->session; }
void script_co_set_context(script_co_t *co, int context_no) { co->context_no = context_no; }

int script_co_defer(script_co_t *co, void (*fn)(void *ud, const script_outcome_t *out), void *ud) {
    if (co->ndefer == 4) return -ENOSPC;
    co->defer[co->ndefer].fn = fn;
    co->defer[co->ndefer].ud = ud;
    co->ndefer++;
    return 0;
}

script_co_t *script_co_running(lua_State *L) { return script_of(L)->running; }

int script_co_wait(lua_State *L, script_co_t *co, void (*cancel)(void *op), void *op) {
    co->waiting = 1;
    co->cancel = cancel;
    co->op = op;
    lua_pushlightuserdata(L, (void *)&yield_mark);
    return lua_yield(L, 1);
}

static void co_free(script_co_t *co) {
    script_t *s = co->s;
    if (co->thread_ref != LUA_NOREF) luaL_unref(s->L, LUA_REGISTRYINDEX, co->thread_ref);
    free(co);
    script_unref(s);
}

/* Ends a co: reports the outcome, then releases its thread. */
static void co_finish(script_co_t *co, script_outcome_t *out, int reset) {
    if (reset && co->T) lua_resetthread(co->T);
    /* Resources the run holds (browser leases) go back first, latest first. */
    while (co->ndefer > 0) {
        co->ndefer--;
        co->defer[co->ndefer].fn(co->defer[co->ndefer].ud, out);
    }
    out->context_no = co->context_no;
    co->done(co, out, co->ud);
    free(out->result_json);
    co_free(co);
}

static void co_fail(script_co_t *co, err_kind_t kind, const char *message, int reset) {
    script_outcome_t out = {.ok = 0, .kind = kind, .retryable = err_kind_retryable(kind, 0)};
    snprintf(out.message, sizeof out.message, "%s", message);
    co_finish(co, &out, reset);
}

/* Resumes co->T with nargs values on its stack. Returns 1 while the co waits,
 * 0 once it has finished (and been freed). */
static int co_resume(script_co_t *co, int nargs) {
    script_t *s = co->s;
    int nres = 0;
    co->waiting = 0;
    s->running = co;
    slice_begin(s, s->host.cpu_slice > 0 ? s->host.cpu_slice : 1e9);
    int rc = lua_resume(co->T, NULL, nargs, &nres);
    int doomed = s->doom;
    s->running = NULL;
    slice_end(s);

    if (rc == LUA_YIELD && !doomed) {
        if (co->waiting && nres == 1 && lua_touserdata(co->T, -1) == &yield_mark) {
            lua_pop(co->T, 1);
            return 1;
        }
        lua_pop(co->T, nres);
        co_fail(co, ERR_SCRIPT,
                "the run yielded outside of a coroutine of its own (coroutine.yield at the "
                "top level of a run?)",
                1);
        return 0;
    }
    script_outcome_t out = {0};
    if (doomed) {
        if (rc == LUA_YIELD && co->waiting && co->cancel) co->cancel(co->op);
        co->waiting = 0;
        lua_rawgeti(co->T, LUA_REGISTRYINDEX,
                    doomed == DOOM_CPU ? s->doom_cpu_ref : s->doom_mem_ref);
        out.kind = err_read(co->T, -1, out.message, sizeof out.message, &out.retryable);
        co_finish(co, &out, 1);
        return 0;
    }
    if (rc == LUA_OK) {
        out.ok = 1;
        if (nres > 0 && !lua_isnil(co->T, -nres)) {
            char err[256];
            out.result_json = json_encode(co->T, -nres, err, sizeof err);
            if (!out.result_json) {
                out.ok = 0;
                out.kind = ERR_SCRIPT;
                snprintf(out.message, sizeof out.message, "the run's result is not JSON: %s", err);
            }
        }
        lua_settop(co->T, 0);
        co_finish(co, &out, 0);
        return 0;
    }
    if (rc == LUA_ERRMEM) {
        out.kind = ERR_LIMIT;
        snprintf(out.message, sizeof out.message, "out of memory");
    } else {
        out.kind = err_read(co->T, -1, out.message, sizeof out.message, &out.retryable);
        if (lua_istable(co->T, -1)) {
            lua_getfield(co->T, -1, "retry_after");
            if (lua_type(co->T, -1) == LUA_TNUMBER && lua_tonumber(co->T, -1) > 0)
                out.retry_after = lua_tonumber(co->T, -1);
            lua_pop(co->T, 1);
        }
    }
    co_finish(co, &out, 1);
    return 0;
}

typedef struct co_create_args {
    script_co_t *co;
    int fn_ref;
    const script_run_info_t *info;
} co_create_args_t;

/* Under lua_pcall on the main thread: the new thread with start_run and its
 * START_RUN_ARGS arguments on its stack. */
static int co_create_p(lua_State *L) {
    co_create_args_t *a = lua_touserdata(L, 1);
    script_co_t *co = a->co;
    const script_run_info_t *info = a->info;
    lua_State *T = lua_newthread(L);
    lua_pushvalue(L, -1);
    co->thread_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    co->T = T;
    lua_rawgeti(T, LUA_REGISTRYINDEX, co->s->start_run_ref);
    lua_rawgeti(T, LUA_REGISTRYINDEX, a->fn_ref);
    lua_pushstring(T, info->job);
    lua_pushinteger(T, (lua_Integer)info->run_id);
    lua_pushinteger(T, info->attempt);
    lua_pushnumber(T, info->scheduled_at);
    lua_pushnumber(T, info->deadline);
    lua_pushboolean(T, co->s->host.dry_run);
    char err[256];
    if (!info->args_json || json_decode(T, info->args_json, err, sizeof err) < 0) lua_pushnil(T);
    if (info->err_kind != ERR_NONE)
        err_push(T, info->err_kind, info->err_message ? info->err_message : "");
    else
        lua_pushnil(T);
    return 0;
}

script_co_t *script_co_start(script_t *s, int fn_ref, const script_run_info_t *info,
                             script_done_cb done, void *ud) {
    script_co_t *co = calloc(1, sizeof *co);
    if (!co) {
        script_outcome_t out = {.kind = ERR_LIMIT};
        snprintf(out.message, sizeof out.message, "out of memory starting the run");
        done(NULL, &out, ud);
        return NULL;
    }
    script_ref(s);
    co->s = s;
    co->thread_ref = LUA_NOREF;
    co->done = done;
    co->ud = ud;
    co->run_id = info->run_id;
    co->priority = info->priority;
    snprintf(co->job, sizeof co->job, "%s", info->job);
    snprintf(co->session, sizeof co->session, "%s", info->session ? info->session : "");

    co_create_args_t args = {co, fn_ref, info};
    s->running = co; /* an allocation failure here counts against the run */
    lua_pushcfunction(s->L, co_create_p);
    lua_pushlightuserdata(s->L, &args);
    int rc = lua_pcall(s->L, 1, 0, 0);
    s->running = NULL;
    s->doom = DOOM_NONE;
    if (rc != LUA_OK) {
        lua_pop(s->L, 1);
        co_fail(co, ERR_LIMIT, "out of memory starting the run", 0);
        return NULL;
    }
    return co_resume(co, START_RUN_ARGS) ? co : NULL;
}

void script_co_wake(script_co_t *co, int nres) {
    if (!co->waiting) return;
    co->cancel = NULL;
    co_resume(co, nres);
}

void script_co_cancel(script_co_t *co, err_kind_t kind, const char *message) {
    if (!co->waiting) return;
    if (co->cancel) co->cancel(co->op);
    co->waiting = 0;
    co_fail(co, kind, message, 1);
}
