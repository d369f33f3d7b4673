/* pattern.h — the sandbox's string.find, match, gmatch and gsub: Lua 5.4's
 * patterns, matched by a matcher that counts its steps and stops with the
 * `limit` error when the state's CPU slice is spent. */
#ifndef BATON_SCRIPT_PATTERN_H
#define BATON_SCRIPT_PATTERN_H

#include <lua.h>

/* Sets find, match, gmatch and gsub in the table on top of L's stack (the
 * string library). The state must be a script state (script_int.h). */
void pattern_open(lua_State *L);

#endif
