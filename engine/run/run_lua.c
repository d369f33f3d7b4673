/* run_lua.c — baton.breaker and baton.retry's C primitives: the engine's named
 * breakers (circuit.c) and the retry budget and backoff (retry.c), lent to every
 * script state through script_lend, since script/ sits below run/. */
#include "run_lua.h"

#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>

#include "circuit.h"
#include "retry.h"
#include "script/script.h"

/* ---- baton.breaker ---- */

static breaker_t *check_breaker(lua_State *L, int with_opts) {
    const script_host_t *h = script_host(L);
    const char *name = luaL_checkstring(L, 1);
    if (!h->circuits) err_raise(L, ERR_SCRIPT, "baton.breaker: not available here");
    breaker_opts_t o, *opts = NULL;
    if (with_opts && lua_istable(L, 2)) {
        breaker_opts_default(&o);
        lua_getfield(L, 2, "failures");
        if (lua_isinteger(L, -1)) o.failures = (int)lua_tointeger(L, -1);
        lua_getfield(L, 2, "cooldown");
        if (!lua_isnil(L, -1)) o.cooldown = script_check_duration(L, -1, "baton.breaker cooldown");
        lua_pop(L, 2);
        opts = &o;
    }
    breaker_t *b = circuits_get(h->circuits, name, opts, vclock_now(h->clock));
    if (!b) err_raise(L, ERR_LIMIT, "baton.breaker('%s'): out of memory", name);
    return b;
}

/* Made at load time too; in check and plan (no breakers) it is a no-op. */
static int l_run_lua_breaker_get(lua_State *L) {
    if (script_host(L)->circuits) check_breaker(L, 1);
    return 0;
}

static int l_run_lua_breaker_allow(lua_State *L) {
    breaker_t *b = check_breaker(L, 0);
    lua_pushboolean(L, breaker_allow(b, vclock_now(script_host(L)->clock)));
    return 1;
}

/* breaker_done(name, ok, seconds [, err]): a call's outcome. Errors that say
 * nothing about the site (script bugs, limits, cancels) free the slot only. */
static int l_run_lua_breaker_done(lua_State *L) {
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
    breaker_record(b, vclock_now(script_host(L)->clock), ok, secs);
    return 0;
}

static int l_run_lua_breaker_state(lua_State *L) {
    breaker_t *b = check_breaker(L, 0);
    lua_pushstring(L, breaker_state_name(breaker_state(b)));
    return 1;
}

static int l_run_lua_breaker_reset(lua_State *L) {
    breaker_t *b = check_breaker(L, 0);
    breaker_reset(b, vclock_now(script_host(L)->clock));
    return 0;
}

/* ---- baton.retry ---- */

/* retry_next(opts, next_attempt, prev_delay [, retry_after]) → seconds to
 * wait before that attempt (at least the error's retry_after, capped as
 * retry_wait says), or nil when the engine-wide retry budget refuses it. */
static int l_run_lua_retry_next(lua_State *L) {
    const script_host_t *h = script_host(L);
    conf_retry_t r = {
        .attempts = 3, .backoff = "exponential", .base = 1, .max = 30, .jitter = "full"};
    int next = (int)luaL_checkinteger(L, 2);
    double prev = luaL_optnumber(L, 3, 0);
    double retry_after = lua_type(L, 4) == LUA_TNUMBER ? lua_tonumber(L, 4) : 0;
    if (lua_istable(L, 1)) {
        static const char *const backoffs[] = {"exponential", "linear", "constant", NULL};
        static const char *const jitters[] = {"none", "full", "equal", "decorrelated", NULL};
        lua_getfield(L, 1, "base");
        if (!lua_isnil(L, -1)) r.base = script_check_duration(L, -1, "baton.retry base");
        lua_getfield(L, 1, "max");
        if (!lua_isnil(L, -1)) r.max = script_check_duration(L, -1, "baton.retry max");
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
    if (h->budget && !retry_budget_take(h->budget, vclock_now(h->clock))) {
        lua_pushnil(L);
        return 1;
    }
    lua_pushnumber(L, retry_wait(retry_delay(&r, next, prev, script_random(L)), retry_after));
    return 1;
}

static int l_run_lua_retry_call(lua_State *L) {
    const script_host_t *h = script_host(L);
    if (h->budget) retry_budget_call(h->budget, vclock_now(h->clock));
    return 0;
}

static const luaL_Reg run_lua_lib[] = {
    {"breaker_get", l_run_lua_breaker_get},     {"breaker_allow", l_run_lua_breaker_allow},
    {"breaker_done", l_run_lua_breaker_done},   {"breaker_state", l_run_lua_breaker_state},
    {"breaker_reset", l_run_lua_breaker_reset}, {"retry_next", l_run_lua_retry_next},
    {"retry_call", l_run_lua_retry_call},       {NULL, NULL},
};

void run_lua_lend(void) {
    if (script_lend(run_lua_lib) < 0) abort(); /* more lenders than SCRIPT_LENT_MAX: a bug */
}
