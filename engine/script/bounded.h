/* bounded.h — the sandbox's string.rep, string.format, table.insert/remove/
 * move/sort, utf8.len/offset, os.date and load: Lua 5.4's semantics, with
 * work that a script could make unbounded counted against the CPU slice (or
 * refused with the `limit` error when no slice could do it). */
#ifndef BATON_SCRIPT_BOUNDED_H
#define BATON_SCRIPT_BOUNDED_H

#include <lua.h>

/* Replaces those functions in L's libraries (string, table, utf8, os and the
 * global load, all already open). L must be a script state (script_int.h). */
void bounded_open(lua_State *L);

#endif
