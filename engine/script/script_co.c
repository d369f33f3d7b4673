/* script_co.c — the coroutine bridge: a run is a Lua thread that yields the
 * engine's mark when it waits and is resumed by a libuv callback; owns the
 * run's thread, its pending wait, cancellation and the deferred releases. */
#include "script.h"

#include <errno.h>
#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "script_int.h"

/* start_run(fn, job, run_id, attempt, scheduled_at, deadline, dry_run, args, err) */
enum { START_RUN_ARGS = 9 };

const char script_yield_mark = 0;

const char *script_co_job(const script_co_t *co) { return co->job; }
int64_t script_co_run_id(const script_co_t *co) { return co->run_id; }
lua_State *script_co_thread(script_co_t *co) { return co->T; }
int script_co_priority(const script_co_t *co) { return co->priority; }
const char *script_co_session(const script_co_t *co) { return co->session; }

int script_co_downloads(const script_co_t *co, size_t *max_bytes, int *max_files) {
    *max_bytes = co->download_max_bytes;
    *max_files = co->download_max_files;
    return co->download_max_bytes > 0 && co->download_max_files > 0;
}
void script_co_set_page(script_co_t *co, int page_no) { co->page_no = page_no; }

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
    lua_pushlightuserdata(L, (void *)&script_yield_mark);
    return lua_yield(L, 1);
}

int script_co_waitk(lua_State *L, script_co_t *co, void (*cancel)(void *op), void *op,
                    lua_KFunction k, lua_KContext ctx) {
    co->waiting = 1;
    co->cancel = cancel;
    co->op = op;
    lua_pushlightuserdata(L, (void *)&script_yield_mark);
    return lua_yieldk(L, 1, ctx, k);
}

static void co_free(script_co_t *co) {
    script_t *s = co->s;
    if (co->thread_ref != LUA_NOREF) luaL_unref(s->L, LUA_REGISTRYINDEX, co->thread_ref);
    free(co);
    script_unref(s);
}

/* Closes the pending to-be-closed variables of a run that did not return
 * (it failed, was cancelled or doomed while waiting) by resetting its thread — under a CPU
 * slice of its own and the memory limit, so a __close that loops or bloats
 * ends with `limit`, which then is the run's outcome. */
static void co_reset(script_co_t *co, script_outcome_t *out) {
    script_t *s = co->s;
    s->calling = 1;
    script_slice_begin(s, s->host.cpu_slice > 0 ? s->host.cpu_slice : 1e9);
    script_hook_thread(s, co->T);
    lua_resetthread(co->T);
    int doomed = s->doom;
    s->calling = 0;
    script_slice_end(s);
    if (!doomed) return;
    script_push_doom(s, co->T, doomed);
    out->ok = 0;
    out->kind = err_read(co->T, -1, out->message, sizeof out->message, &out->retryable);
    out->retry_after = 0;
    lua_settop(co->T, 0);
}

/* Ends a co: reports the outcome, then releases its thread. */
static void co_finish(script_co_t *co, script_outcome_t *out, int reset) {
    if (reset && co->T) co_reset(co, out);
    /* Resources the run holds (browser leases) go back first, latest first. */
    while (co->ndefer > 0) {
        co->ndefer--;
        co->defer[co->ndefer].fn(co->defer[co->ndefer].ud, out);
    }
    out->page_no = co->page_no;
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
    script_slice_begin(s, s->host.cpu_slice > 0 ? s->host.cpu_slice : 1e9);
    int rc = lua_resume(co->T, NULL, nargs, &nres);
    int doomed = s->doom;
    s->running = NULL;
    script_slice_end(s);

    if (rc == LUA_YIELD && !doomed) {
        if (co->waiting && nres == 1 && lua_touserdata(co->T, -1) == &script_yield_mark) {
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
        script_push_doom(s, co->T, doomed);
        out.kind = err_read(co->T, -1, out.message, sizeof out.message, &out.retryable);
        lua_pop(co->T, 1); /* our own limit error: plain fields */
        /* Raised by the count hook, the error left the thread with hooks
         * off (Lua restores them only in a pcall): a __close run there could
         * loop forever, so a run stopped by its limit does not close its
         * pending <close> variables. A yielded one (waiting) can. */
        co_finish(co, &out, rc == LUA_YIELD);
        return 0;
    }
    if (rc == LUA_OK) {
        out.ok = 1;
        if (nres > 0 && !lua_isnil(co->T, -nres)) {
            char err[256];
            int over;
            out.result_json = json_encode_max(co->T, -nres, JSON_VALUE_MAX, &over, err, sizeof err);
            if (!out.result_json) {
                out.ok = 0;
                out.kind = over ? ERR_LIMIT : ERR_SCRIPT;
                snprintf(out.message, sizeof out.message, "the run's result %s: %s",
                         over ? "is too large" : "is not JSON", err);
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
        /* a script's value: its metamethods run protected and bounded */
        out.kind = script_error_read(s, co->T, -1, out.message, sizeof out.message, &out.retryable,
                                     &out.retry_after);
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
    co->download_max_bytes = info->download_max_bytes;
    co->download_max_files = info->download_max_files;

    co_create_args_t args = {co, fn_ref, info};
    s->running = co; /* an allocation failure here counts against the run */
    lua_pushcfunction(s->L, co_create_p);
    lua_pushlightuserdata(s->L, &args);
    int rc = lua_pcall(s->L, 1, 0, 0);
    s->running = NULL;
    s->doom = SCRIPT_DOOM_NONE;
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
