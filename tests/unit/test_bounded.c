/* test_bounded.c — the sandbox's bounded library functions (script/bounded.c)
 * give what Lua's own give, results and errors, on a table of cases; and each
 * call that could hold the engine (huge counts, ranges, __len, big sorts and
 * chunks) ends within the CPU slice, with `limit` or a quick answer. */
#include <lauxlib.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "scriptkit.h"
#include "test.h"

static const char *const ser_src = "function ser(...)\n"
                                   "  local out = {}\n"
                                   "  for i = 1, select('#', ...) do\n"
                                   "    local v = select(i, ...)\n"
                                   "    if type(v) == 'table' then\n"
                                   "      local parts = {}\n"
                                   "      for k = 1, 40 do parts[k] = tostring(rawget(v, k)) end\n"
                                   "      v = '{' .. table.concat(parts, ',') .. '}'\n"
                                   "    end\n"
                                   "    if type(v) == 'function' then v = 'fn' end\n"
                                   "    out[i] = type(v) .. ':' .. tostring(v)\n"
                                   "  end\n"
                                   "  return table.concat(out, '|')\n"
                                   "end\n"
                                   "function run(f) return ser(pcall(f)) end\n";

static void eval(lua_State *L, script_t *s, const char *body, char *out, size_t len) {
    char code[4096];
    snprintf(code, sizeof code, "return run(function() %s end)", body);
    int rc = luaL_loadstring(L, code);
    if (rc == LUA_OK) rc = s ? script_pcall(s, 0, 1) : lua_pcall(L, 0, 1, 0);
    const char *r = lua_tostring(L, -1);
    snprintf(out, len, "%s%s", rc == LUA_OK ? "" : "FAILED ", r ? r : "?");
    lua_pop(L, 1);
}

static const char *const cases[] = {
    /* string.rep */
    "return ('ab'):rep(3)",
    "return ('ab'):rep(3, ',')",
    "return ('ab'):rep(1, ',')",
    "return ('ab'):rep(0, ','), ('ab'):rep(-5)",
    "return (''):rep(4, 'x'), ('x'):rep(4, '')",
    "return (''):rep(0, '')",
    "return ('abc'):rep(1000):len()",
    "return ('abc'):rep(999, '--'):sub(-10)",
    "return string.rep('a', 2^62)",
    "return string.rep('a', 2.5)",
    "return string.rep('a', 'x')",
    "return string.rep(nil, 2)",
    "return string.rep(12, 2, 3)",
    /* string.format */
    "return string.format('%q', 'a\\0b\\n\"\\\\\\r\\1\\0012\\255')",
    "return string.format('%5.2f|%d|%-5s|%x', 3.14159, 42, 'ab', 255)",
    "return string.format('%q|%q|%q', math.mininteger, 1.5, 1/0)",
    "return string.format('%%|%s', nil)",
    "return string.format('%')",
    "return string.format('%d', 1.5)",
    "return string.format('%10q', 'x')",
    "return string.format('%s %s', 1)",
    "return string.format('%q', {})",
    "return string.format(('%q'):rep(3), 'a', 'b', 'c')",
    /* table.insert, remove, move */
    "local t = {1, 2, 3} table.insert(t, 4) return t",
    "local t = {1, 2, 3} table.insert(t, 1, 0) return t",
    "local t = {1, 2, 3} table.insert(t, 4, 9) return t",
    "local t = {1, 2, 3} table.insert(t, 5, 9) return t",
    "local t = {1, 2, 3} table.insert(t, 0, 9) return t",
    "local t = {} table.insert(t, 1, 'a', 'b') return t",
    "local t = {} table.insert(t) return t",
    "table.insert(nil, 1)",
    "table.insert('x', 1)",
    "local t = {1, 2, 3} return table.remove(t), t",
    "local t = {1, 2, 3} return table.remove(t, 1), t",
    "local t = {1, 2, 3} return table.remove(t, 4), t",
    "local t = {1, 2, 3} return table.remove(t, 5), t",
    "local t = {} return table.remove(t), table.remove(t, 0), t",
    "local t = {} return table.remove(t, 1)",
    "local t = {} return table.remove(t, -1)",
    "local t = {n = 1} return table.remove(t, 2)",
    "return table.move({1, 2, 3}, 1, 3, 2)",
    "return table.move({1, 2, 3}, 2, 3, 1)",
    "return table.move({1, 2, 3}, 1, 3, 1, {})",
    "return table.move({1, 2, 3}, 1, 0, 5)",
    "return table.move({1, 2, 3}, -1, 1, 1, {})",
    "return table.move({}, 1, math.maxinteger, 2)",
    "return table.move({}, math.mininteger, -1, 1)",
    "return table.move({}, 1, 2, math.maxinteger)",
    "return table.move(1, 1, 2, 1)",
    "return table.move({}, 1, 2, 1, 5)",
    "local log = {} local p = setmetatable({}, {__index = function(_, k) return k * 10 end,\n"
    "  __newindex = function(_, k, v) log[#log + 1] = k .. '=' .. v end, __len = function() "
    "return 3 end})\n"
    "  table.insert(p, 1, 'x') table.remove(p, 1) table.move(p, 1, 3, 2) return log",
    "local p = setmetatable({}, {__len = function() return 2.5 end}) table.insert(p, 1)",
    "local p = setmetatable({}, {__len = function() return math.maxinteger end}) "
    "table.insert(p, 1)",
    "local p = setmetatable({}, {__index = {}}) table.insert(p, 1)",
    /* table.sort */
    "local t = {5, 2, 8, 1, 9, 3} table.sort(t) return t",
    "local t = {5, 2, 8, 1, 9, 3} table.sort(t, function(a, b) return a > b end) return t",
    "local t = {'b', 'a', 'c', 'B'} table.sort(t) return t",
    "local t = {} for i = 1, 40 do t[i] = (i * 17) % 41 end table.sort(t) return t",
    "local t = {} for i = 1, 40 do t[i] = 40 - i end table.sort(t) return t",
    "local t = {} for i = 1, 40 do t[i] = i % 3 end table.sort(t) return t",
    "local t = {} for i = 1, 500 do t[i] = (i * 7919) % 997 end table.sort(t)\n"
    "  for i = 2, 500 do if t[i - 1] > t[i] then return 'unsorted' end end return t",
    "local t = {3, 1, 2} table.sort(t, nil) return t",
    "local t, x = {}, 7 for i = 1, 3000 do x = (x * 1103515245 + 12345) % 2^31 t[i] = x % 1000 "
    "end\n table.sort(t) local s = 0 for i = 1, #t do s = (s * 31 + t[i]) % 1e9 end return s",
    "local t, x = {}, 9 for i = 1, 3000 do x = (x * 1103515245 + 12345) % 2^31 t[i] = "
    "tostring(x % 5000) end\n table.sort(t, function(a, b) return a > b end) return "
    "table.concat(t, ',', 1, 30), t[3000]",
    "local t = {} for i = 1, 2000 do t[i] = 7 end table.sort(t) return #t, t[1], t[2000]",
    "table.sort({3, 1}, 5)",
    "table.sort({3, 'a'})",
    "table.sort({{}, {}})",
    "table.sort({1}, function() error('never called') end) return 'ok'",
    "local t = {3, 1, 2} table.sort(t, function(a, b) error('cmp') end)",
    "local p = setmetatable({}, {__len = function() return 2^40 end, __index = rawget, "
    "__newindex = rawset}) table.sort(p)",
    /* load */
    "return load('return 1 + 1')()",
    "return load('syntax error here')",
    "return load('x =', 'name')",
    "return load('x =', '=name')",
    "return load('return ...', '=c', 't', {})(1, 2)",
    "return load('return y', '=c', 't', {y = 5})()",
    "return load('return y', '=c', 't', nil)",
    "return load('\\27Lua', 'bin', 't')",
    "return load(42)",
    "local parts = {'return ', '1', ' + ', '2'} local i = 0\n"
    "  return load(function() i = i + 1 return parts[i] end)()",
    "return load(function() error('reader failed') end)",
    "local s = ('local x = 1\\n'):rep(20000) .. 'x = = 1' return load(s, '=big')",
    "local s = ('local x = 1\\n'):rep(20000) .. 'return 7' return load(s)()",
    "local s = 'return \"' .. ('x'):rep(200000) .. '\"' return #load(s)()",
    "local s = '--[[' .. ('x'):rep(200000) .. ']] return 3' return load(s)()",
    /* utf8.len, utf8.offset */
    "return utf8.len('häll€ 𝄞')",
    "return utf8.len('häll€ 𝄞', 3)",
    "return utf8.len('häll€ 𝄞', 2, 3)",
    "return utf8.len('häll€ 𝄞', -4)",
    "return utf8.len('abc', 5)",
    "return utf8.len('abc', 4), utf8.len('abc', 1, 0)",
    "return utf8.len('abc', 0)",
    "return utf8.len('abc', 1, 4)",
    "return utf8.len('a\\xffb')",
    "return utf8.len('a\\x80b')",
    "return utf8.len('\\xc0\\x80')",
    "return utf8.len('\\xed\\xa0\\x80'), utf8.len('\\xed\\xa0\\x80', 1, -1, true)",
    "return utf8.len('\\xf4\\x90\\x80\\x80'), utf8.len('\\xf4\\x90\\x80\\x80', 1, -1, true)",
    "return utf8.len('\\xfd\\xbf\\xbf\\xbf\\xbf\\xbf', 1, -1, true)",
    "return utf8.len('\\xf8\\x88\\x80\\x80\\x80', 1, -1, true)",
    "return utf8.len('\\xfe'), utf8.len('\\xe2\\x82')",
    "return utf8.len(utf8.char(0x7FFFFFFF), 1, -1, true)",
    "return utf8.offset('häll€', 3), utf8.offset('häll€', -1), utf8.offset('häll€', 0, 3)",
    "return utf8.offset('häll€', 10), utf8.offset('häll€', -10), utf8.offset('häll€', 1)",
    "return utf8.offset('häll€', 0), utf8.offset('häll€', 0, 8)",
    "return utf8.offset('häll€', 1, 3)",
    "return utf8.offset('abc', 1, 5)",
    "return utf8.offset('abc', 1, 4), utf8.offset('abc', -1, 4), utf8.offset('', 1)",
    "return utf8.offset('a\\x80\\x80\\x80b', 2), utf8.offset('a\\x80\\x80\\x80b', -1)",
    /* os.date */
    "return os.date('!%Y-%m-%d %H:%M:%S', 86400 * 365)",
    "return os.date('!*t', 3600).hour",
    "return os.date('%Ez', 0)",
    "return os.date('!%', 0)",
};

TEST(bounded_functions_match_lua_on_a_table_of_cases) {
    kit_t k;
    char err[1024];
    script_t *s = NULL;
    kit_init(&k);
    k.host.cpu_slice = 5;
    k.host.memory_limit = 64u << 20;
    CHECK(script_open(&s, "bounded", &k.host, err, sizeof err) == 0);
    if (!s) return;
    lua_State *mine = script_state(s), *ref = luaL_newstate();
    luaL_openlibs(ref);
    CHECK(luaL_dostring(ref, ser_src) == LUA_OK);
    CHECK(luaL_loadstring(mine, ser_src) == LUA_OK && script_pcall(s, 0, 0) == LUA_OK);
    int bad = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char a[2048], b[2048];
        eval(mine, s, cases[i], a, sizeof a);
        eval(ref, NULL, cases[i], b, sizeof b);
        if (strcmp(a, b) != 0) {
            bad++;
            test_fail(__FILE__, __LINE__, "%s\n  mine: %s\n  lua:  %s", cases[i], a, b);
        }
    }
    CHECK_INT(bad, 0);
    lua_close(ref);
    script_unref(s);
    kit_free(&k);
}

/* Each of these held the engine for seconds to forever inside one C call. */
TEST(bounded_calls_end_within_the_slice) {
    static const struct {
        const char *code;
        int limit; /* 1: must end with `limit`; 0: must finish; 2: fails at once */
    } attacks[] = {
        {"string.rep('', 1e15)", 0},
        {"string.rep('', 1e15, '')", 0},
        {"string.rep('x', 1e9)", 1},
        {"string.rep('x', 1e15)", 2},
        {"table.move({}, 1, 1e15, 1)", 1},
        {"table.move({}, -1e15, 1e15, 2)", 1},
        {"table.insert(setmetatable({}, {__len = function() return 1e15 end}), 1, 'x')", 1},
        {"table.remove(setmetatable({}, {__len = function() return 1e15 end}), 1)", 1},
        {"local t = setmetatable({}, {__len = function() return 1e9 end, __index = "
         "function(_, i) return -i end, __newindex = function() end}) table.sort(t)",
         1},
        {"local t = {} for i = 1, 2e5 do t[i] = -i end "
         "table.sort(t, function(a, b) while true do end end)",
         1},
        {"load(('x = 1 '):rep(3e5) .. ('local a = 1 + 2 * 3 '):rep(2e5))", 1},
        {"load(function() return 'x = 1 ' end)", 1},
        {"string.format('%q', ('\\0'):rep(2e6))", 1},
        {"os.date(('%c'):rep(1e5))", 1},
        {"utf8.len(('a'):rep(2e6)) utf8.offset(('a'):rep(2e6), 2e6)", 0},
        {"local t = {} for i = 1, 1e5 do t[i] = {} end collectgarbage()", 0},
    };
    kit_t k;
    kit_init(&k);
    for (size_t i = 0; i < sizeof attacks / sizeof attacks[0]; i++) {
        char err[1024];
        /* The calls that must finish get a slice they fit in on a slow run
         * (valgrind, a loaded machine); the attacks a short one. */
        k.host.cpu_slice = attacks[i].limit ? 0.1 : 10.0;
        script_t *s = NULL;
        CHECK(script_open(&s, "attack", &k.host, err, sizeof err) == 0);
        if (!s) break;
        lua_State *L = script_state(s);
        uint64_t t0 = uv_hrtime();
        CHECK(luaL_loadstring(L, attacks[i].code) == LUA_OK);
        int rc = script_pcall(s, 0, 0);
        double took = (double)(uv_hrtime() - t0) / 1e9;
        if (attacks[i].limit == 2) {
            CHECK(rc != LUA_OK);
        } else if (!attacks[i].limit) {
            if (rc != LUA_OK)
                test_fail(__FILE__, __LINE__, "%s: %s", attacks[i].code, lua_tostring(L, -1));
        } else {
            err_kind_t kind = rc == LUA_OK ? ERR_NONE : err_read(L, -1, err, sizeof err, NULL);
            if (kind != ERR_LIMIT)
                test_fail(__FILE__, __LINE__, "%s: rc %d kind %s", attacks[i].code, rc,
                          err_kind_name(kind));
        }
        if (attacks[i].limit && took > 0.1 + 1.0)
            test_fail(__FILE__, __LINE__, "%s took %.3f s", attacks[i].code, took);
        script_unref(s);
    }
    kit_free(&k);
}
