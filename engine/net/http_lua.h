/* http_lua.h — the primitive under baton.http (lua/http.lua): one request on
 * the engine's HTTP client (script_host_t.httpc), or in baton test on the
 * fake (script_host_t.http_fake), yielding the run's coroutine until the
 * answer is in. */
#ifndef BATON_HTTP_LUA_H
#define BATON_HTTP_LUA_H

/* Lends http_request to every script state made afterwards (script_lend).
 * Every program that runs jobs calls it once at start-up, before the first
 * script_load; calling it again is a no-op. */
void http_lua_lend(void);

#endif
