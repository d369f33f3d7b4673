/* baton_lib.c — the C primitives behind the baton.* module and ctx, handed to
 * the prelude in one table (scripts never see it): time, sleep, logging, the
 * store, triggers, require's loader, JSON, errors. Modules above script/ lend
 * theirs (script_lend): run/run_lua.c adds the breakers and retry. */
#include "script_int.h"

#include <errno.h>
#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/fs.h"
#include "base/log.h"
#include "base/secret.h"
#include "base/units.h"
#include "json.h"

static int l_baton_where(lua_State *L) {
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

static int l_baton_now(lua_State *L) {
    lua_pushnumber(L, vclock_now(script_of(L)->host.clock));
    return 1;
}

double script_check_duration(lua_State *L, int idx, const char *what) {
    double secs = 0;
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

static int l_baton_sleep(lua_State *L) {
    double secs = script_check_duration(L, 1, "baton.sleep");
    script_co_t *co = script_co_running(L);
    if (!co || !lua_isyieldable(L))
        return err_raise(L, ERR_SCRIPT, "baton.sleep: can only wait inside a run");
    co->sleep.data = co;
    vtimer_start(co->s->host.clock, &co->sleep, vclock_now(co->s->host.clock) + secs, sleep_fired);
    return script_co_wait(L, co, sleep_cancel, co);
}

static int l_baton_log(lua_State *L) {
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

static int l_baton_store_get(lua_State *L) {
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

static int l_baton_store_set(lua_State *L) {
    store_t *st = check_store(L);
    const char *key = check_key(L);
    char err[256];
    if (lua_isnoneornil(L, 2)) {
        if (store_kv_delete(st, key) < 0)
            return err_raise(L, ERR_SCRIPT, "store:set('%s'): %s", key, store_errmsg(st));
        return 0;
    }
    int over;
    char *json = json_encode_max(L, 2, JSON_VALUE_MAX, &over, err, sizeof err);
    if (!json) return err_raise(L, over ? ERR_LIMIT : ERR_SCRIPT, "store:set('%s'): %s", key, err);
    int rc = store_kv_set(st, key, json);
    free(json);
    if (rc < 0) return err_raise(L, ERR_SCRIPT, "store:set('%s'): %s", key, store_errmsg(st));
    return 0;
}

static int l_baton_store_delete(lua_State *L) {
    store_t *st = check_store(L);
    const char *key = check_key(L);
    if (store_kv_delete(st, key) < 0)
        return err_raise(L, ERR_SCRIPT, "store:delete('%s'): %s", key, store_errmsg(st));
    return 0;
}

static int l_baton_store_incr(lua_State *L) {
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

static int l_baton_trigger(lua_State *L) {
    script_t *s = script_of(L);
    const char *job = luaL_checkstring(L, 1);
    char err[256] = "", *args = NULL;
    if (!s->host.trigger) return err_raise(L, ERR_SCRIPT, "baton.trigger: not available here");
    if (!lua_isnoneornil(L, 2)) {
        int over;
        args = json_encode_max(L, 2, JSON_VALUE_MAX, &over, err, sizeof err);
        if (!args)
            return err_raise(L, over ? ERR_LIMIT : ERR_SCRIPT, "baton.trigger('%s'): args: %s", job,
                             err);
    }
    int rc = s->host.trigger(s->host.ud, job, args, err, sizeof err);
    free(args);
    if (rc < 0) return err_raise(L, ERR_SCRIPT, "baton.trigger('%s'): %s", job, err);
    return 0;
}

/* baton.secret(name): the value engine.conf's secrets.NAME read at start.
 * Where no value is ever read (check, plan, and baton test without
 * t:secret) it answers the mark "[secret:NAME]", so scripts load and run. */
static int l_baton_secret(lua_State *L) {
    script_t *s = script_of(L);
    if (lua_type(L, 1) != LUA_TSTRING)
        return err_raise(L, ERR_SCRIPT, "baton.secret: expected a secret's name, got %s",
                         luaL_typename(L, 1));
    const char *name = lua_tostring(L, 1), *value;
    size_t len;
    int rc = secret_get(name, &value, &len);
    if (rc == -ENOENT) {
        char names[512] = "";
        size_t n = 0;
        for (size_t i = 0; secret_name(i) && n < sizeof names; i++)
            n += (size_t)snprintf(names + n, sizeof names - n, "%s%s", i ? ", " : "",
                                  secret_name(i));
        return err_raise(L, ERR_SCRIPT, "baton.secret: unknown secret '%s' (%s%s)", name,
                         names[0] ? "engine.conf's secrets: " : "engine.conf declares no secrets",
                         names);
    }
    if (rc == -ENODATA && s->host.dry_run) {
        lua_pushfstring(L, SECRET_MARK_FMT, name);
        return 1;
    }
    if (rc == -ENODATA)
        return err_raise(L, ERR_SCRIPT,
                         "baton.secret: '%s' has no value (see the warning at start: its "
                         "variable is not set)",
                         name);
    lua_pushlstring(L, value, len);
    return 1;
}

/* Loads a module for require: "a.b" → lua/a/b.lua, then <scripts>/lib/a/b.lua. */
static int l_baton_load_module(lua_State *L) {
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
        /* scripts/lib/ modules stay inside scripts/ and under the size limit */
        char why[1024], root[4096];
        const char *slash = i == 1 ? strrchr(dirs[1], '/') : NULL;
        snprintf(root, sizeof root, "%.*s", slash ? (int)(slash - dirs[1]) : 0, dirs[1]);
        if (i == 1 &&
            fs_file_within(path, slash ? root : dirs[1], SCRIPT_MAX_BYTES, why, sizeof why) < 0) {
            lua_pushnil(L);
            lua_pushfstring(L, "require: %s", why);
            return 2;
        }
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

/* Whether the running code must stop with `limit`: the prelude's xpcall then
 * skips the script's message handler, which Lua would run with hooks off
 * after an error raised by the count hook. */
static int l_baton_doomed(lua_State *L) {
    lua_pushboolean(L, script_of(L)->doom != SCRIPT_DOOM_NONE);
    return 1;
}

static const luaL_Reg baton_lib[] = {
    {"doomed", l_baton_doomed},
    {"where", l_baton_where},
    {"now", l_baton_now},
    {"sleep", l_baton_sleep},
    {"log", l_baton_log},
    {"store_get", l_baton_store_get},
    {"store_set", l_baton_store_set},
    {"store_delete", l_baton_store_delete},
    {"store_incr", l_baton_store_incr},
    {"trigger", l_baton_trigger},
    {"secret", l_baton_secret},
    {"load_module", l_baton_load_module},
    {"json_encode", json_l_encode},
    {"json_decode", json_l_decode},
    {"error", err_l_error},
    {NULL, NULL},
};

void baton_lib_open(lua_State *L) {
    luaL_newlib(L, baton_lib);
    lua_pushlightuserdata(L, (void *)&script_yield_mark);
    lua_setfield(L, -2, "mark");
    json_push_null(L);
    lua_setfield(L, -2, "json_null");
}
