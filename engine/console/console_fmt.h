/* console_fmt.h — how the console shows Lua values: strings quoted, tables as
 * nested `{ key = value }` (inline when short, else one entry a line), keys in
 * a stable order, bounded in depth, entries and total size. */
#ifndef BATON_CONSOLE_FMT_H
#define BATON_CONSOLE_FMT_H

#include <lua.h>

enum {
    CONSOLE_FMT_DEPTH = 6,      /* tables nested deeper show as {…} */
    CONSOLE_FMT_ITEMS = 100,    /* entries shown per table, then "… N more" */
    CONSOLE_FMT_MAX = 256 << 10 /* bytes of text at most, then "…" */
};

/* A lua_CFunction: formats every argument and returns them as one string,
 * separated by tabs (as the lua REPL prints results). May call __tostring
 * metamethods, so run it in protected mode; its scratch memory is Lua's. */
int console_fmt_values(lua_State *L);

#endif
