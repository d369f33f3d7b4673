/* err.c — error kinds and categorized error values. The metatable lives in
 * the registry under ERR_MT; every error a script can catch has it. */
#include "err.h"

#include <errno.h>
#include <lauxlib.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define ERR_MT "baton.error"

static const char *const kind_names[ERR_KIND_COUNT] = {
    "",
    "timeout",
    "network",
    "http",
    "rate_limited",
    "auth",
    "browser_crashed",
    "not_found",
    "script",
    "cancelled",
    "breaker_open",
    "pool_timeout",
    "dependency",
    "limit",
    "overlap",
    "paused",
    "misfire",
};

const char *err_kind_name(err_kind_t kind) {
    return (unsigned)kind < ERR_KIND_COUNT ? kind_names[kind] : "";
}

int err_kind_parse(const char *name, err_kind_t *kind) {
    for (int k = 1; k < ERR_KIND_COUNT; k++) {
        if (strcmp(name, kind_names[k]) == 0) {
            *kind = (err_kind_t)k;
            return 0;
        }
    }
    return -EINVAL;
}

int err_kind_retryable(err_kind_t kind, int http_status) {
    switch (kind) {
    case ERR_TIMEOUT:
    case ERR_NETWORK:
    case ERR_RATE_LIMITED:
    case ERR_BROWSER_CRASHED:
    case ERR_POOL_TIMEOUT:
        return 1;
    case ERR_HTTP:
        return http_status >= 500 && http_status <= 599;
    default:
        return 0;
    }
}

void err_push(lua_State *L, err_kind_t kind, const char *message) {
    lua_createtable(L, 0, 4);
    lua_pushstring(L, err_kind_name(kind));
    lua_setfield(L, -2, "kind");
    lua_pushstring(L, message);
    lua_setfield(L, -2, "message");
    lua_pushboolean(L, err_kind_retryable(kind, 0));
    lua_setfield(L, -2, "retryable");
    luaL_setmetatable(L, ERR_MT);
}

int err_raise(lua_State *L, err_kind_t kind, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    err_push(L, kind, msg);
    return lua_error(L);
}

err_kind_t err_read(lua_State *L, int idx, char *msg, size_t len, int *retryable) {
    err_kind_t kind = ERR_SCRIPT;
    idx = lua_absindex(L, idx);
    if (lua_istable(L, idx)) {
        lua_getfield(L, idx, "kind");
        const char *k = lua_tostring(L, -1);
        if (!k || err_kind_parse(k, &kind) < 0) kind = ERR_SCRIPT;
        lua_pop(L, 1);
        lua_getfield(L, idx, "message");
        const char *m = lua_tostring(L, -1);
        snprintf(msg, len, "%s", m ? m : "error object without a message");
        lua_pop(L, 1);
        if (retryable) {
            lua_getfield(L, idx, "retryable");
            *retryable = lua_isnil(L, -1) ? err_kind_retryable(kind, 0) : lua_toboolean(L, -1);
            lua_pop(L, 1);
        }
        return kind;
    }
    const char *m = lua_tostring(L, idx);
    if (m)
        snprintf(msg, len, "%s", m);
    else
        snprintf(msg, len, "error object is a %s value", luaL_typename(L, idx));
    if (retryable) *retryable = 0;
    return kind;
}

static int err_tostring(lua_State *L) {
    lua_getfield(L, 1, "kind");
    lua_getfield(L, 1, "message");
    lua_pushfstring(L, "%s: %s", luaL_optstring(L, -2, "?"), luaL_optstring(L, -1, "?"));
    return 1;
}

void err_open(lua_State *L) {
    if (luaL_newmetatable(L, ERR_MT)) {
        lua_pushcfunction(L, err_tostring);
        lua_setfield(L, -2, "__tostring");
        /* getmetatable(err) answers false: a __gc (or __index) a script
         * added here would run for every error the engine makes */
        lua_pushboolean(L, 0);
        lua_setfield(L, -2, "__metatable");
    }
    lua_pop(L, 1);
}

/* baton.error(kind, message [, fields]): raises a categorized error. Fields are
 * copied onto the error (status, retry_after, selector …); a `retryable` field
 * overrides the kind's default. An http error's retryability follows status. */
int err_l_error(lua_State *L) {
    err_kind_t kind;
    const char *name = luaL_checkstring(L, 1);
    const char *message = luaL_optstring(L, 2, name);
    if (err_kind_parse(name, &kind) < 0)
        return luaL_error(L, "baton.error: unknown kind '%s'", name);
    if (!lua_isnoneornil(L, 3)) luaL_checktype(L, 3, LUA_TTABLE);
    err_push(L, kind, message);
    int e = lua_gettop(L);
    if (lua_istable(L, 3)) {
        lua_pushnil(L);
        while (lua_next(L, 3)) {
            if (lua_type(L, -2) == LUA_TSTRING) {
                const char *key = lua_tostring(L, -2);
                if (strcmp(key, "kind") != 0 && strcmp(key, "message") != 0) {
                    lua_pushvalue(L, -2);
                    lua_pushvalue(L, -2);
                    lua_rawset(L, e);
                }
            }
            lua_pop(L, 1);
        }
        if (kind == ERR_HTTP) {
            lua_getfield(L, 3, "status");
            int status = (int)lua_tointeger(L, -1);
            lua_getfield(L, 3, "retryable");
            if (lua_isnil(L, -1)) {
                lua_pushboolean(L, err_kind_retryable(kind, status));
                lua_setfield(L, e, "retryable");
            }
            lua_pop(L, 2);
        }
    }
    lua_settop(L, e);
    luaL_where(L, 1);
    lua_setfield(L, e, "where");
    return lua_error(L);
}
