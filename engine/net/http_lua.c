/* http_lua.c — http_request, the C primitive lua/http.lua is written on: it
 * starts a request on the engine's client and yields the run's coroutine;
 * the answer is kept in a call box (a userdata on the primitive's own stack)
 * and turned into Lua values by the continuation, inside the run, where a
 * large body counts against the state's memory limit instead of aborting the
 * loop. A run cancelled while it waits cancels its request. In baton test
 * the request goes to the fake (http_fake.h) instead of the client: the
 * answer comes back the same way, so nothing after the transport differs. */
#include "http_lua.h"

#include <errno.h>
#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_fake.h"
#include "httpc.h"
#include "script/script.h"

#define HTTP_CALL_MT "baton.http_call"

enum { HTTP_MAX_HEADERS_OUT = 128 };

/* One request of one run: what the answer left until the run reads it. */
typedef struct http_call {
    httpc_t *c;
    httpc_req_t *req; /* in flight; NULL once ended or cancelled */
    http_fake_t *fake;
    http_fake_req_t *fake_req; /* in flight on the fake; NULL once ended or cancelled */
    script_co_t *co;
    httpc_outcome_t outcome;
    long status;
    char *body; /* malloc'd; handed to Lua by the continuation */
    size_t len;
    char *heads; /* "name\0value\0" … */
    size_t heads_len;
    char *url;
    char error[512];
    double ms;
} http_call_t;

static void call_release(http_call_t *call) {
    free(call->body);
    free(call->heads);
    free(call->url);
    call->body = call->heads = call->url = NULL;
}

static int l_http_call_gc(lua_State *L) {
    http_call_t *call = luaL_checkudata(L, 1, HTTP_CALL_MT);
    /* A run's cancel hook has dropped the request before its thread let go of the box. */
    call_release(call);
    return 0;
}

static void call_cancel(void *op) {
    http_call_t *call = op;
    if (call->req) httpc_cancel(call->c, call->req);
    if (call->fake_req) http_fake_cancel(call->fake, call->fake_req);
    call->req = NULL;
    call->fake_req = NULL;
}

/* The answer, on the loop: kept in the box, then the run is woken. */
static void call_done(void *ud, const httpc_result_t *res) {
    http_call_t *call = ud;
    call->req = NULL;
    call->fake_req = NULL;
    call->outcome = res->outcome;
    call->status = res->status;
    call->ms = res->ms;
    snprintf(call->error, sizeof call->error, "%s", res->error);
    size_t hl = 0;
    for (size_t i = 0; i < res->nheaders; i++)
        hl += strlen(res->headers[i].name) + strlen(res->headers[i].value) + 2;
    call->body = malloc(res->len + 1);
    call->heads = malloc(hl ? hl : 1);
    call->url = strdup(res->url);
    if (!call->body || !call->heads || !call->url) {
        call_release(call);
        call->outcome = HTTPC_LIMIT;
        snprintf(call->error, sizeof call->error, "out of memory keeping the answer");
    } else {
        memcpy(call->body, res->body, res->len);
        call->body[res->len] = 0;
        call->len = res->len;
        for (size_t i = 0; i < res->nheaders; i++) {
            size_t n = strlen(res->headers[i].name) + 1, v = strlen(res->headers[i].value) + 1;
            memcpy(call->heads + call->heads_len, res->headers[i].name, n);
            memcpy(call->heads + call->heads_len + n, res->headers[i].value, v);
            call->heads_len += n + v;
        }
    }
    script_co_wake(call->co, 0);
}

static const char *outcome_kind(httpc_outcome_t o) {
    switch (o) {
    case HTTPC_TIMEOUT:
        return "timeout";
    case HTTPC_LIMIT:
        return "limit";
    default: /* HTTPC_REFUSED: a redirect out of http/https, the server's doing */
        return "network";
    }
}

/* Pushes {name = value}; a name that comes again joins its values with ", ". */
static void push_headers(lua_State *L, const http_call_t *call) {
    lua_newtable(L);
    for (size_t off = 0; off < call->heads_len;) {
        const char *name = call->heads + off;
        off += strlen(name) + 1;
        const char *value = call->heads + off;
        off += strlen(value) + 1;
        if (lua_getfield(L, -1, name) == LUA_TSTRING) {
            lua_pushliteral(L, ", ");
            lua_pushstring(L, value);
            lua_concat(L, 3);
        } else {
            lua_pop(L, 1);
            lua_pushstring(L, value);
        }
        lua_setfield(L, -2, name);
    }
}

/* The continuation, in the run: the box is at 1. Answers the response
 * {status, headers, body, url, ms}, or nil, kind, message, ms. */
static int http_resume(lua_State *L, int status, lua_KContext ctx) {
    (void)status;
    (void)ctx;
    http_call_t *call = luaL_checkudata(L, 1, HTTP_CALL_MT);
    if (call->outcome != HTTPC_OK) {
        lua_pushnil(L);
        lua_pushstring(L, outcome_kind(call->outcome));
        lua_pushstring(L, call->error);
        lua_pushnumber(L, call->ms);
        call_release(call);
        return 4;
    }
    lua_createtable(L, 0, 5);
    lua_pushinteger(L, call->status);
    lua_setfield(L, -2, "status");
    push_headers(L, call);
    lua_setfield(L, -2, "headers");
    lua_pushlstring(L, call->body, call->len);
    lua_setfield(L, -2, "body");
    lua_pushstring(L, call->url);
    lua_setfield(L, -2, "url");
    lua_pushnumber(L, call->ms);
    lua_setfield(L, -2, "ms");
    call_release(call);
    return 1;
}

/* Fails the call before it started: nil, kind, message (lua/http.lua raises
 * it at the script's line). */
static int refuse(lua_State *L, const char *kind, const char *msg) {
    lua_pushnil(L);
    lua_pushstring(L, kind);
    lua_pushstring(L, msg);
    lua_pushnumber(L, 0);
    return 4;
}

/* http_request(method, url, headers, body, timeout, max_bytes, follow, proxy):
 * headers an array of "Name: value" lines, body a string or nil, timeout in
 * seconds (0: the client's), max_bytes (0: the client's), proxy a string or
 * nil. Yields until the answer; see http_resume. */
static int l_http_request(lua_State *L) {
    const script_host_t *h = script_host(L);
    script_co_t *co = script_co_running(L);
    if (!co) return refuse(L, "script", "only inside a run (not at a script's top level)");
    if (!lua_isyieldable(L))
        return refuse(L, "script", "cannot wait here (inside a metamethod or iterator?)");
    if (!h->httpc && !h->http_fake) return refuse(L, "script", "there is no network here");
    httpc_opts_t o = {.method = luaL_checkstring(L, 1), .url = luaL_checkstring(L, 2)};
    const char *lines[HTTP_MAX_HEADERS_OUT];
    if (!lua_isnil(L, 3)) {
        luaL_checktype(L, 3, LUA_TTABLE);
        lua_Integer n = luaL_len(L, 3);
        if (n > HTTP_MAX_HEADERS_OUT) return refuse(L, "script", "more than 128 headers");
        for (lua_Integer i = 1; i <= n; i++) {
            lua_rawgeti(L, 3, i);
            lines[o.nheaders++] = luaL_checkstring(L, -1);
            lua_pop(L, 1); /* the string stays alive in the table */
        }
        o.headers = lines;
    }
    if (!lua_isnil(L, 4)) o.body = luaL_checklstring(L, 4, &o.body_len);
    o.timeout = luaL_optnumber(L, 5, 0);
    lua_Integer max = luaL_optinteger(L, 6, 0);
    o.max_bytes = max > 0 ? (size_t)max : 0;
    o.follow = lua_toboolean(L, 7);
    o.proxy = luaL_optstring(L, 8, NULL);

    lua_settop(L, 8);
    http_call_t *call = lua_newuserdatauv(L, sizeof *call, 0);
    memset(call, 0, sizeof *call);
    if (luaL_newmetatable(L, HTTP_CALL_MT)) {
        lua_pushcfunction(L, l_http_call_gc);
        lua_setfield(L, -2, "__gc");
        lua_pushboolean(L, 0);
        lua_setfield(L, -2, "__metatable");
    }
    lua_setmetatable(L, -2);
    lua_insert(L, 1); /* the box at 1; the arguments behind it stay alive until the start */
    call->c = h->httpc;
    call->fake = h->http_fake;
    call->co = co;
    char err[2300];
    int rc;
    if (h->http_fake) {
        http_fake_who_t who = {script_co_job(co), script_co_run_id(co)};
        rc = http_fake_request(h->http_fake, &o, &who, call_done, call, &call->fake_req, err,
                               sizeof err);
    } else {
        rc = httpc_request(h->httpc, &o, call_done, call, &call->req, err, sizeof err);
    }
    if (rc < 0)
        return refuse(L,
                      rc == -EINVAL || rc == -ENOENT ? "script"
                      : rc == -ESHUTDOWN             ? "cancelled"
                                                     : "limit",
                      err);
    lua_settop(L, 1);
    return script_co_waitk(L, co, call_cancel, call, http_resume, 0);
}

static const luaL_Reg http_lua_lib[] = {
    {"http_request", l_http_request},
    {NULL, NULL},
};

void http_lua_lend(void) {
    if (script_lend(http_lua_lib) < 0) abort(); /* more lenders than SCRIPT_LENT_MAX: a bug */
}
