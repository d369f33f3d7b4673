/* console_eval.c — a console session's state and the evaluation of a chunk.
 * Every entry into the state is script_pcall (CPU slice and memory limit);
 * engine documents (cJSON) are boxed in a userdata before they are built, so
 * a raise while they become Lua values frees them. */
#include "console_eval.h"

#include <errno.h>
#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "console_fmt.h"
#include "script/err.h"
#include "script/json.h"
#include "base/log.h"

enum {
    OUT_MAX = 1 << 20, /* bytes of print output kept per chunk */
    JOB_RUNS = 20      /* runs shown by job(name), as GET /api/jobs/NAME */
};

static const char DOC_MT[] = "baton.console.doc";
static const char TRUNCATED[] = "...(output truncated)\n";

struct console_eval {
    script_t *script;
    const console_env_t *env;
    script_host_t host;
    char *out; /* what print wrote during the current chunk */
    size_t out_len, out_cap;
    int out_truncated;
    int collect; /* the last chunk hit a limit: collect garbage first */
};

typedef struct eval_args {
    console_eval_t *ev;
    const char *chunk;
    size_t len;
} eval_args_t;

static console_eval_t *ev_of(lua_State *L) { return lua_touserdata(L, lua_upvalueindex(1)); }

/* ---- print ---- */

static void out_add(console_eval_t *ev, const char *s, size_t n) {
    if (ev->out_truncated) return;
    if (ev->out_len + n > OUT_MAX) {
        ev->out_truncated = 1;
        return;
    }
    if (ev->out_len + n + 1 > ev->out_cap) {
        size_t cap = ev->out_cap ? ev->out_cap : 256;
        while (cap < ev->out_len + n + 1) cap *= 2;
        char *more = realloc(ev->out, cap);
        if (!more) {
            ev->out_truncated = 1;
            return;
        }
        ev->out = more;
        ev->out_cap = cap;
    }
    memcpy(ev->out + ev->out_len, s, n);
    ev->out_len += n;
    ev->out[ev->out_len] = 0;
}

static int l_print(lua_State *L) {
    console_eval_t *ev = ev_of(L);
    int n = lua_gettop(L);
    for (int i = 1; i <= n; i++) {
        size_t len;
        const char *s = luaL_tolstring(L, i, &len);
        if (i > 1) out_add(ev, "\t", 1);
        out_add(ev, s, len);
        lua_pop(L, 1);
    }
    out_add(ev, "\n", 1);
    return 0;
}

/* ---- engine documents as Lua values ---- */

static int doc_gc(lua_State *L) {
    cJSON **box = luaL_checkudata(L, 1, DOC_MT);
    cJSON_Delete(*box);
    *box = NULL;
    return 0;
}

/* Pushes an empty box; put a cJSON document in it, then push_boxed. */
static cJSON **doc_box(lua_State *L) {
    cJSON **box = lua_newuserdatauv(L, sizeof *box, 0);
    *box = NULL;
    if (luaL_newmetatable(L, DOC_MT)) {
        lua_pushcfunction(L, doc_gc);
        lua_setfield(L, -2, "__gc");
        lua_pushboolean(L, 0); /* out of the console's reach */
        lua_setfield(L, -2, "__metatable");
    }
    lua_setmetatable(L, -2);
    return box;
}

/* Replaces the box on top with the Lua value of its document. */
static int push_boxed(lua_State *L, cJSON **box) {
    if (!*box) return luaL_error(L, "out of memory");
    int rc = json_push(L, *box);
    cJSON_Delete(*box);
    *box = NULL;
    if (rc < 0) return luaL_error(L, "the engine's answer is nested too deep");
    lua_remove(L, -2);
    return 1;
}

static int fail(lua_State *L, const char *fmt, const char *what) {
    lua_pushnil(L);
    lua_pushfstring(L, fmt, what);
    return 2;
}

static int l_health(lua_State *L) {
    console_eval_t *ev = ev_of(L);
    cJSON **box = doc_box(L);
    *box = health_report(&ev->env->src);
    return push_boxed(L, box);
}

static int l_jobs(lua_State *L) {
    console_eval_t *ev = ev_of(L);
    cJSON **box = doc_box(L);
    *box = health_jobs(&ev->env->src);
    return push_boxed(L, box);
}

static int l_job(lua_State *L) {
    console_eval_t *ev = ev_of(L);
    const char *name = luaL_checkstring(L, 1);
    cJSON **box = doc_box(L);
    *box = health_job(&ev->env->src, name, JOB_RUNS);
    if (!*box) return fail(L, "no job named '%s'", name);
    return push_boxed(L, box);
}

static int l_runs(lua_State *L) {
    console_eval_t *ev = ev_of(L);
    const char *job = luaL_optstring(L, 1, NULL);
    lua_Integer n = luaL_optinteger(L, 2, 10);
    if (n < 1 || n > 1000) return fail(L, "%s", "runs: n must be from 1 to 1000");
    if (job && !sched_find(ev->env->src.sched, job)) return fail(L, "no job named '%s'", job);
    cJSON **box = doc_box(L);
    *box = health_runs(&ev->env->src, job, (int)n);
    if (!*box) return fail(L, "%s", "the store cannot be read");
    return push_boxed(L, box);
}

static int l_breakers(lua_State *L) {
    console_eval_t *ev = ev_of(L);
    cJSON **box = doc_box(L);
    *box = health_breakers(&ev->env->src);
    return push_boxed(L, box);
}

/* run(name): as POST /api/jobs/NAME/run. */
static int l_run(lua_State *L) {
    console_eval_t *ev = ev_of(L);
    const char *name = luaL_checkstring(L, 1);
    char err[256];
    if (sched_trigger(ev->env->src.sched, name, NULL, err, sizeof err) < 0)
        return fail(L, "%s", err);
    log_emit(LOG_INFO, name, 0, "run requested from the console");
    script_slice_renew(L);
    return 0;
}

/* pause(name, on): as POST /api/jobs/NAME/pause|resume; returns whether it changed. */
static int l_pause(lua_State *L) {
    console_eval_t *ev = ev_of(L);
    const char *name = luaL_checkstring(L, 1);
    int on = lua_toboolean(L, 2);
    int rc = sched_pause(ev->env->src.sched, name, on);
    if (rc == -ENOENT) return fail(L, "no job named '%s'", name);
    if (rc < 0) return fail(L, "%s", "cannot change the job's state");
    if (rc == 1) log_emit(LOG_INFO, name, 0, "%s from the console", on ? "paused" : "resumed");
    lua_pushboolean(L, rc == 1);
    return 1;
}

/* reset(name): as POST /api/breakers/NAME/reset. */
static int l_reset(lua_State *L) {
    console_eval_t *ev = ev_of(L);
    const char *name = luaL_checkstring(L, 1);
    const health_src_t *src = &ev->env->src;
    if (!src->circuits || circuits_reset(src->circuits, name, vclock_now(src->clock)) == -ENOENT)
        return fail(L, "no breaker named '%s'", name);
    lua_pushboolean(L, 1);
    return 1;
}

/* reload(): the engine's reload (as SIGHUP); returns its answer as a table. */
static int l_reload(lua_State *L) {
    console_eval_t *ev = ev_of(L);
    if (!ev->env->reload) return fail(L, "%s", "this engine cannot reload its scripts");
    cJSON **box = doc_box(L);
    *box = cJSON_CreateObject();
    if (*box) ev->env->reload(ev->env->reload_ud, *box);
    script_slice_renew(L); /* the reload's time is the engine's */
    return push_boxed(L, box);
}

/* ---- the state ---- */

/* Under script_pcall: runs lua/console.lua with the bindings. */
static int setup_p(lua_State *L) {
    console_eval_t *ev = lua_touserdata(L, 1);
    static const luaL_Reg prims[] = {
        {"print", l_print}, {"health", l_health},     {"jobs", l_jobs}, {"job", l_job},
        {"runs", l_runs},   {"breakers", l_breakers}, {"run", l_run},   {"pause", l_pause},
        {"reset", l_reset}, {"reload", l_reload},     {NULL, NULL},
    };
    char path[4200];
    snprintf(path, sizeof path, "%s/console.lua", ev->host.lua_dir);
    if (luaL_loadfilex(L, path, "t") != LUA_OK) return lua_error(L);
    lua_createtable(L, 0, sizeof prims / sizeof *prims);
    lua_pushlightuserdata(L, ev);
    luaL_setfuncs(L, prims, 1);
    lua_call(L, 1, 0);
    return 0;
}

/* The text of the error value at idx, safe outside protected mode: strings as
 * they are, error values as "kind: message" (read protected and bounded, as
 * the value may be a script's table with metamethods). */
static void error_text(script_t *s, lua_State *L, int idx, char *out, size_t len) {
    if (lua_type(L, idx) == LUA_TSTRING) {
        snprintf(out, len, "%s", lua_tostring(L, idx));
        return;
    }
    if (lua_type(L, idx) == LUA_TTABLE) {
        char msg[1024];
        err_kind_t kind = script_error_read(s, L, idx, msg, sizeof msg, NULL, NULL);
        snprintf(out, len, "%s: %s", err_kind_name(kind), msg);
        return;
    }
    snprintf(out, len, "(error object is a %s value)", luaL_typename(L, idx));
}

int console_eval_new(console_eval_t **out, const console_env_t *env, char *err, size_t errlen) {
    *out = NULL;
    console_eval_t *ev = calloc(1, sizeof *ev);
    if (!ev) {
        snprintf(err, errlen, "console: out of memory");
        return -ENOMEM;
    }
    ev->env = env;
    ev->host = *env->host;
    ev->host.open_prims = NULL; /* no browser outside a run */
    ev->host.prims_ud = NULL;
    int rc = script_open(&ev->script, "console", &ev->host, err, errlen);
    if (rc < 0) {
        free(ev);
        return rc;
    }
    lua_State *L = script_state(ev->script);
    lua_pushcfunction(L, setup_p);
    lua_pushlightuserdata(L, ev);
    if (script_pcall(ev->script, 1, 0) != LUA_OK) {
        char msg[1024];
        error_text(ev->script, L, -1, msg, sizeof msg);
        lua_pop(L, 1);
        snprintf(err, errlen, "console: %s", msg);
        console_eval_free(ev);
        return -EINVAL;
    }
    *out = ev;
    return 0;
}

/* Under script_pcall: returns ok (boolean) and the text (values or error). */
static int eval_p(lua_State *L) {
    eval_args_t *a = lua_touserdata(L, 1);
    lua_settop(L, 0);
    if (a->ev->collect) {
        a->ev->collect = 0;
        lua_gc(L, LUA_GCCOLLECT);
    }
    /* An expression list is run as arguments of an identity function rather
     * than as `return CHUNK`: that way a call in it is no tail call, and an
     * error raised for its caller still says console:LINE. */
    lua_pushliteral(L, "return ");
    lua_pushlstring(L, a->chunk, a->len);
    lua_concat(L, 2);
    size_t rlen;
    const char *ret = lua_tolstring(L, 1, &rlen);
    int expr = luaL_loadbufferx(L, ret, rlen, "=console", "t") == LUA_OK;
    lua_settop(L, 0);
    if (expr) {
        lua_pushliteral(L, "return (function(...) return ... end)(");
        lua_pushlstring(L, a->chunk, a->len);
        lua_pushliteral(L, "\n)");
        lua_concat(L, 3);
        ret = lua_tolstring(L, 1, &rlen);
        expr = luaL_loadbufferx(L, ret, rlen, "=console", "t") == LUA_OK;
        lua_remove(L, 1);
        if (!expr) lua_settop(L, 0);
    }
    if (!expr && luaL_loadbufferx(L, a->chunk, a->len, "=console", "t") != LUA_OK) {
        lua_pushboolean(L, 0);
        lua_insert(L, 1);
        return 2;
    }
    if (lua_pcall(L, 0, LUA_MULTRET, 0) != LUA_OK) {
        lua_pushboolean(L, 0);
        if (lua_type(L, 1) == LUA_TSTRING || lua_type(L, 1) == LUA_TNUMBER)
            lua_pushvalue(L, 1);
        else if (luaL_getmetafield(L, 1, "__tostring") != LUA_TNIL)
            lua_pop(L, 1), luaL_tolstring(L, 1, NULL);
        else
            lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
        return 2;
    }
    int n = lua_gettop(L);
    lua_pushcfunction(L, console_fmt_values);
    lua_insert(L, 1);
    lua_call(L, n, 1);
    lua_pushboolean(L, 1);
    lua_insert(L, 1);
    return 2;
}

cJSON *console_eval_chunk(console_eval_t *ev, const char *chunk, size_t len) {
    lua_State *L = script_state(ev->script);
    int top = lua_gettop(L), ok = 0;
    char *text = NULL, msg[2048];
    eval_args_t args = {ev, chunk, len};
    ev->out_len = 0;
    ev->out_truncated = 0;
    if (ev->out) ev->out[0] = 0;
    /* light values only: pushing them cannot allocate outside protection */
    lua_pushcfunction(L, eval_p);
    lua_pushlightuserdata(L, &args);
    int rc = script_pcall(ev->script, 1, 2);
    if (rc == LUA_OK) {
        ok = lua_toboolean(L, -2);
        size_t n;
        const char *s = lua_tolstring(L, -1, &n);
        text = s ? strndup(s, n) : NULL;
    } else {
        error_text(ev->script, L, -1, msg, sizeof msg);
        text = strdup(msg);
        ev->collect = 1;
    }
    lua_settop(L, top);
    if (ev->out_truncated) {
        ev->out_truncated = 0;
        out_add(ev, TRUNCATED, sizeof TRUNCATED - 1);
    }
    cJSON *reply = cJSON_CreateObject();
    if (!reply || !text) {
        free(text);
        cJSON_Delete(reply);
        return NULL;
    }
    cJSON_AddBoolToObject(reply, "ok", ok);
    cJSON_AddStringToObject(reply, "out", ev->out_len ? ev->out : "");
    cJSON_AddStringToObject(reply, ok ? "values" : "error", text);
    free(text);
    return reply;
}

void console_eval_free(console_eval_t *ev) {
    if (!ev) return;
    script_unref(ev->script);
    free(ev->out);
    free(ev);
}
