/* run_lua.h — the primitives behind baton.breaker and baton.retry, which reach
 * the engine's breakers and retry budget (script_host_t.circuits, .budget). */
#ifndef BATON_RUN_LUA_H
#define BATON_RUN_LUA_H

/* Lends baton.breaker and baton.retry's primitives to every script state made
 * afterwards (script_lend). Every program that loads scripts calls it once at
 * start-up, before the first script_load; calling it again is a no-op. */
void run_lua_lend(void);

#endif
