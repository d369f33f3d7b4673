/* test_console.c — the console's pieces that need no engine: the value
 * formatter (quoting, table layout, key order, bounds, cycles), request
 * parsing, and the incomplete-chunk rule of the client. */
#include <errno.h>
#include <lauxlib.h>
#include <lualib.h>
#include <stdlib.h>
#include <string.h>

#include "console/console.h"
#include "console/console_fmt.h"
#include "test.h"

/* Formats what `expr` returns; the result is a static copy. */
static const char *fmt(const char *expr) {
    static char out[CONSOLE_FMT_MAX + 64];
    lua_State *L = luaL_newstate();
    luaL_openlibs(L);
    char code[4096];
    snprintf(code, sizeof code, "return %s", expr);
    lua_pushcfunction(L, console_fmt_values);
    int base = lua_gettop(L);
    if (luaL_loadstring(L, code) != LUA_OK || lua_pcall(L, 0, LUA_MULTRET, 0) != LUA_OK) {
        snprintf(out, sizeof out, "ERROR %s", lua_tostring(L, -1));
    } else if (lua_pcall(L, lua_gettop(L) - base, 1, 0) != LUA_OK) {
        snprintf(out, sizeof out, "ERROR %s", lua_tostring(L, -1));
    } else {
        snprintf(out, sizeof out, "%s", lua_tostring(L, -1));
    }
    lua_close(L);
    return out;
}

TEST(console_fmt_shows_scalars_as_lua_writes_them) {
    CHECK_STR(fmt("nil, true, 1, 1.5, 2^53, -0.0"), "nil\ttrue\t1\t1.5\t9.007199254741e+15\t-0.0");
    CHECK_STR(fmt("'a\"b\\\\c\\n\\t\\0\\127é'"), "\"a\\\"b\\\\c\\n\\t\\000\\127é\"");
    CHECK_STR(fmt(""), "");
}

TEST(console_fmt_puts_short_tables_on_one_line_in_a_stable_order) {
    CHECK_STR(fmt("{}"), "{}");
    CHECK_STR(fmt("{1, 2, 3}"), "{ 1, 2, 3 }");
    CHECK_STR(fmt("{b = 1, a = 2, [10] = 3, [2.5] = 4, 'x'}"),
              "{ \"x\", a = 2, b = 1, [2.5] = 4, [10] = 3 }");
    CHECK_STR(fmt("{['not a name'] = 1, ['end'] = 2, _ok = 3}"),
              "{ _ok = 3, [\"end\"] = 2, [\"not a name\"] = 1 }");
    CHECK_STR(fmt("{a = {b = {c = {}}}}"), "{ a = { b = { c = {} } } }");
}

TEST(console_fmt_breaks_long_tables_one_entry_a_line) {
    CHECK_STR(
        fmt("{name = 'a rather long job name', state = 'running', next = 'in a while',"
            " last = 'ok'}"),
        "{\n  last = \"ok\",\n  name = \"a rather long job name\",\n  next = \"in a while\",\n"
        "  state = \"running\"\n}");
    CHECK_STR(fmt("{{name = 'a rather long job name', state = 'running', next = 'in a while'}}"),
              "{\n  {\n    name = \"a rather long job name\",\n    next = \"in a while\",\n"
              "    state = \"running\"\n  }\n}");
}

TEST(console_fmt_bounds_depth_entries_cycles_and_size) {
    CHECK_STR(fmt("{{{{{{{{1}}}}}}}}"), "{ { { { { { {...} } } } } } }");
    CHECK_STR(fmt("(function() local t = {} t.self = t return t end)()"), "{ self = <cycle> }");
    const char *many =
        fmt("(function() local t = {} for i = 1, 150 do t[i] = i end return t end)()");
    CHECK_HAS(many, "  100,\n  ... (50 more)\n}");
    const char *huge = fmt("string.rep('x', 300000)");
    CHECK_INT(strlen(huge), CONSOLE_FMT_MAX - 1);
    CHECK_HAS(huge + strlen(huge) - 5, "x...");
    CHECK_HAS(fmt("setmetatable({}, {__tostring = function() return 'custom' end})"), "custom");
    CHECK_HAS(fmt("print"), "function: ");
}

TEST(console_request_parse_takes_a_chunk_and_refuses_the_rest) {
    char err[256], *chunk;
    size_t n;
    const char ok[] = "{\"chunk\":\"print(1)\\nx\",\"extra\":1}";
    CHECK_INT(console_request_parse(ok, sizeof ok - 1, &chunk, &n, err, sizeof err), 0);
    CHECK_STR(chunk, "print(1)\nx");
    CHECK_INT(n, 10);
    free(chunk);
    const char *bad[] = {"garbage",
                         "",
                         "[1]",
                         "{\"chunk\":5}",
                         "{\"code\":\"1\"}",
                         "\"x\"",
                         "{\"chunk\":\"1\"} trailing"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        CHECK_INT(console_request_parse(bad[i], strlen(bad[i]), &chunk, &n, err, sizeof err),
                  -EINVAL);
        CHECK(chunk == NULL);
        CHECK_HAS(err, "console: bad request");
    }
    /* the length bounds the parse: what follows is not read */
    CHECK_INT(console_request_parse("{\"chunk\":\"1\"}{", 13, &chunk, &n, err, sizeof err), 0);
    free(chunk);
}

TEST(console_chunk_incomplete_follows_the_lua_repl) {
    lua_State *L = luaL_newstate();
    const char *more[] = {"for i = 1, 2 do", "1 +", "f(", "local t = {", "x = [[", "if x then"};
    const char *done[] = {"1 + 1", "x", "x = 1", "for i = 1, 2 do end", "x = = 1", "1 )", ""};
    for (size_t i = 0; i < sizeof more / sizeof *more; i++)
        CHECK(console_chunk_incomplete(L, more[i], strlen(more[i])));
    for (size_t i = 0; i < sizeof done / sizeof *done; i++)
        CHECK(!console_chunk_incomplete(L, done[i], strlen(done[i])));
    CHECK_INT(lua_gettop(L), 0);
    lua_close(L);
}
