/* test_pattern.c — the sandbox's own string patterns (script/pattern.c)
 * against Lua's string library: a table of cases and random patterns run in a
 * script state and in a plain Lua state must give the same results and the
 * same errors; a backtracking pattern ends with `limit` within the slice. */
#include <lauxlib.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "scriptkit.h"
#include "test.h"

/* Defines ser(...) in a state: every value as type:text, errors included. */
static const char *const ser_src =
    "function ser(...)\n"
    "  local out = {}\n"
    "  for i = 1, select('#', ...) do\n"
    "    local v = select(i, ...)\n"
    "    if type(v) == 'table' then v = '{' .. table.concat(v, ',') .. '}' end\n"
    "    out[i] = type(v) .. ':' .. tostring(v)\n"
    "  end\n"
    "  return table.concat(out, '|')\n"
    "end\n"
    "function run(f) return ser(pcall(f)) end\n";

typedef struct pair {
    kit_t kit;
    script_t *s;
    lua_State *mine, *ref;
} pair_t;

static void pair_open(pair_t *p) {
    char err[1024];
    kit_init(&p->kit);
    p->kit.host.cpu_slice = 5;
    p->kit.host.memory_limit = 64u << 20;
    if (script_open(&p->s, "pattern", &p->kit.host, err, sizeof err) < 0) {
        fprintf(stderr, "%s\n", err);
        abort();
    }
    p->mine = script_state(p->s);
    p->ref = luaL_newstate();
    luaL_openlibs(p->ref);
    if (luaL_dostring(p->ref, ser_src) != LUA_OK) abort();
    if (luaL_loadstring(p->mine, ser_src) != LUA_OK || script_pcall(p->s, 0, 0) != LUA_OK) abort();
}

static void pair_close(pair_t *p) {
    lua_close(p->ref);
    script_unref(p->s);
    kit_free(&p->kit);
}

/* Runs `return run(function() <body> end)` with globals S and P set. */
static void eval(lua_State *L, script_t *s, const char *body, const char *subj, size_t ls,
                 const char *pat, size_t lp, char *out, size_t len) {
    char code[4096];
    snprintf(code, sizeof code, "return run(function() %s end)", body);
    lua_pushlstring(L, subj, ls);
    lua_setglobal(L, "S");
    lua_pushlstring(L, pat, lp);
    lua_setglobal(L, "P");
    int rc = luaL_loadstring(L, code);
    if (rc == LUA_OK) rc = s ? script_pcall(s, 0, 1) : lua_pcall(L, 0, 1, 0);
    const char *r = lua_tostring(L, -1);
    snprintf(out, len, "%s%s", rc == LUA_OK ? "" : "FAILED ", r ? r : "?");
    lua_pop(L, 1);
}

static int same(pair_t *p, const char *body, const char *subj, size_t ls, const char *pat,
                size_t lp) {
    char a[2048], b[2048];
    eval(p->mine, p->s, body, subj, ls, pat, lp, a, sizeof a);
    eval(p->ref, NULL, body, subj, ls, pat, lp, b, sizeof b);
    if (strcmp(a, b) == 0) return 1;
    test_fail(__FILE__, __LINE__, "%s  S=%.*s P=%.*s\n  mine: %s\n  lua:  %s", body, (int)ls, subj,
              (int)lp, pat, a, b);
    return 0;
}

/* Each case is a function body; S and P are unused here. */
static const char *const cases[] = {
    /* find: plain, init, anchors, captures */
    "return ('hello world'):find('o w')",
    "return ('hello world'):find('o', 6)",
    "return ('hello world'):find('o', -3)",
    "return ('hello world'):find('o', -100)",
    "return ('hello'):find('', 10)",
    "return ('hello'):find('', 6)",
    "return ('hello'):find('')",
    "return ('a.b'):find('.', 1, true)",
    "return ('a+b'):find('+', 1, true)",
    "return ('a+b'):find('a+b', 1, true)",
    "return ('x'):find('%', 1, true)",
    "return ('hello'):find('l+')",
    "return ('hello'):find('^h')",
    "return ('hello'):find('^e')",
    "return ('hello'):find('o$')",
    "return ('hello'):find('l$')",
    "return ('a$b'):find('$b')",
    "return ('a^b'):find('a^b')",
    "return ('hello'):find('(l)(l)')",
    "return ('hello'):find('()ll()')",
    "return ('hello'):find('h(.-)o')",
    "return ('  trim  '):match('^%s*(.-)%s*$')",
    "return ('key = value'):match('(%w+)%s*=%s*(%w+)')",
    "return ('2024-01-02'):match('(%d+)-(%d+)-(%d+)')",
    "return ('abc'):match('.-')",
    "return ('abc'):match('.-$')",
    "return ('abc'):match('a*')",
    "return ('aaab'):match('a-b')",
    "return ('aaab'):match('a+')",
    "return ('b'):match('a?b')",
    "return ('ab'):match('a?b')",
    "return ('aab'):match('a?ab')",
    "return ('abc'):match('()', 2)",
    "return ('abc'):match('^(a)(b)(c)$')",
    /* classes and sets */
    "return ('Hello, World! 123\\t\\n'):gsub('%a', '.')",
    "return ('Hello, World! 123\\t\\n'):gsub('%A', '.')",
    "return ('Hello, World! 123\\t\\n\\0'):gsub('%c', '.')",
    "return ('Hello, World! 123'):gsub('%d', '.')",
    "return ('Hello, World! 123'):gsub('%D', '.')",
    "return ('Hello, World! 123'):gsub('%g', '.')",
    "return ('Hello, World! 123'):gsub('%l', '.')",
    "return ('Hello, World! 123'):gsub('%p', '.')",
    "return ('Hello, World! 123'):gsub('%s', '.')",
    "return ('Hello, World! 123'):gsub('%u', '.')",
    "return ('Hello, World! 123'):gsub('%w', '.')",
    "return ('Hello, World! 0x1F'):gsub('%x', '.')",
    "return ('Hello, World! 0x1F'):gsub('%X', '.')",
    "return ('a.b%c'):gsub('%.', '!')",
    "return ('a.b%c'):gsub('%%', '!')",
    "return ('abc-def]'):gsub('[b-e]', '!')",
    "return ('abc-def]'):gsub('[^b-e]', '!')",
    "return ('abc-def]'):gsub('[%a-]', '!')",
    "return ('abc-def]'):gsub('[a-]', '!')",
    "return ('abc-def]'):gsub('[-a]', '!')",
    "return ('abc-def]'):gsub('[]]', '!')",
    "return ('abc-def]'):gsub('[^]]', '!')",
    "return ('abc-def]^'):gsub('[]^]', '!')",
    "return ('abc-def]^'):gsub('[a^]', '!')",
    "return ('a]b'):gsub('[%]]', '!')",
    "return ('a1_b2'):gsub('[%w_]', '!')",
    "return ('a1_b2'):gsub('[^%d]', '!')",
    "return ('\\200\\255abc'):gsub('[\\128-\\255]', '!')",
    "return ('a\\0b'):gsub('%z', '!')",
    "return ('a\\0b'):gsub('\\0', '!')",
    "return ('a\\0b'):find('a\\0')",
    "return ('a\\0b'):find('[\\0]')",
    /* %b, %f, back-references */
    "return ('f(a(b)c) (d)'):match('%b()')",
    "return ('f(a(b)c'):match('%b()')",
    "return ('[[x]]y'):gsub('%b[]', '<>')",
    "return ('xx'):match('%bxx')",
    "return ('THE (quick) fox'):find('%f[%a]%a+')",
    "return ('THE (quick) fox'):gsub('%f[%w]%w+', 'W')",
    "return ('THE (quick) fox'):gsub('%f[%W]', '|')",
    "return ('hello'):find('%f[%z]')",
    "return ('hello'):find('%f[%l]')",
    "local r = {} for a in (''):gmatch('[', 2) do r[#r+1] = a end return r",
    "local r = {} for a in ('ab'):gmatch('', 3) do r[#r+1] = a end return r",
    "local r = {} for a in ('ab'):gmatch('', 4) do r[#r+1] = a end return r",
    "return ('say \"hi\" or \\'yo\\''):match('([\"\\'])(.-)%1')",
    "return ('abcabc'):match('(abc)%1')",
    "return ('abcab'):match('(abc)%1')",
    "return ('aa'):match('()a%1')",
    "return ('xyzxyz'):find('(x)(y)(z)%1%2%3')",
    /* gsub: string, table, function replacements, n */
    "return ('hello world'):gsub('o', '0')",
    "return ('hello world'):gsub('o', '0', 1)",
    "return ('hello world'):gsub('o', '0', 0)",
    "return ('hello world'):gsub('o', '0', -1)",
    "return ('hello world'):gsub('', '-')",
    "return ('hello world'):gsub('x*', '-')",
    "return ('hello world'):gsub('(%w+)', '<%1>')",
    "return ('hello world'):gsub('%w+', '<%0>')",
    "return ('hello world'):gsub('%w+', '%%')",
    "return ('hello world'):gsub('(%w+) (%w+)', '%2 %1')",
    "return ('hello'):gsub('()l', '%1')",
    "return ('abc'):gsub('%w', '%1')",
    "return ('abc'):gsub('%w', 5)",
    "return ('abc'):gsub('%w', 1.5)",
    "return ('hello world'):gsub('%w+', {hello = 'HI', world = false})",
    "return ('hello world'):gsub('(%w)(%w*)', {h = 1, w = 2.5})",
    "return ('hello world'):gsub('%w+', function(w) return #w end)",
    "return ('hello world'):gsub('%w+', function(w) return nil end)",
    "return ('hello world'):gsub('(%w)(%w)', function(a, b) return b .. a end)",
    "return ('hello'):gsub('()', function(p) return p end)",
    "return ('abc'):gsub('^', '>')",
    "return ('abc'):gsub('^a', '>')",
    "return ('abc'):gsub('^b', '>')",
    "return ('abc'):gsub('$', '<')",
    "return ('abc'):gsub('.-', '-')",
    "return ('a,b,,c'):gsub(',', ';', 2)",
    "return ('x'):gsub('x', '%')",
    "return ('x'):gsub('x', '%a')",
    "return ('x'):gsub('x', '%2')",
    "return ('x'):gsub('(x)', '%2')",
    "return ('x'):gsub('x', {x = {}})",
    "return ('x'):gsub('x', function() return true end)",
    "return ('x'):gsub('x', true)",
    "return ('x'):gsub('x')",
    "return ('abc'):gsub('', '')",
    "return (''):gsub('', 'x')",
    "return (''):gsub('x*', 'y')",
    /* gmatch, with init */
    "local r = {} for k, v in ('a=1, b=2, c=3'):gmatch('(%w+)=(%w+)') do r[#r+1] = k .. v end "
    "return "
    "r",
    "local r = {} for w in ('one two  three'):gmatch('%a+') do r[#r+1] = w end return r",
    "local r = {} for w in ('one two  three'):gmatch('%a*') do r[#r+1] = '[' .. w .. ']' end "
    "return r",
    "local r = {} for w in ('one two three'):gmatch('%a+', 5) do r[#r+1] = w end return r",
    "local r = {} for w in ('one two three'):gmatch('%a+', -5) do r[#r+1] = w end return r",
    "local r = {} for w in ('one two three'):gmatch('%a+', 100) do r[#r+1] = w end return r",
    "local r = {} for p in ('abc'):gmatch('()') do r[#r+1] = p end return r",
    "local r = {} for a in ('^a^a'):gmatch('^a') do r[#r+1] = a end return r",
    "local r = {} for a, b in ('abcd'):gmatch('(.)()') do r[#r+1] = a .. b end return r",
    /* numbers as subjects and patterns */
    "return string.find(12345, 34)",
    "return string.gsub(12345, 3, 9)",
    "return string.match(3.5, '%d')",
    /* malformed patterns and bad arguments */
    "return ('x'):find('%')",
    "return ('x'):find('[a')",
    "return ('x'):find('[a%')",
    "return ('x'):find('[')",
    "return ('x'):find('[^')",
    "return ('x'):find('(')",
    "return ('x'):find('x)')",
    "return ('x'):find('%b')",
    "return ('x'):find('%bx')",
    "return ('x'):find('%f')",
    "return ('x'):find('%fx')",
    "return ('x'):find('%1')",
    "return ('x'):find('(x)%2')",
    "return ('x'):find('%0')",
    "return ('xx'):find('(x%1)')",
    "return ('x'):match('(()')",
    "return ('x'):find(string.rep('()', 33))",
    "return ('x'):find(string.rep('(', 40) .. 'x' .. string.rep(')', 40))",
    "return ('x'):find(string.rep('a?', 300))",
    "return string.rep('a', 300):find(string.rep('a', 300))",
    "return string.rep('a', 300):find(string.rep('a?', 150))",
    "return string.find(nil, 'x')",
    "return string.find('x')",
    "return string.find('x', 'x', 'y')",
    "return string.gsub('x', 'x', '', 'n')",
    "return string.gmatch('x')",
    "return ('x'):gsub({}, 'x')",
    "return string.find('abc', 'b', 2^53)",
    "return string.find('abc', 'b', math.mininteger)",
    "return string.gsub('aaa', 'a', 'b', math.maxinteger)",
};

TEST(pattern_matches_lua_on_a_table_of_cases) {
    pair_t p;
    pair_open(&p);
    int bad = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        bad += !same(&p, cases[i], "", 0, "", 0);
    CHECK_INT(bad, 0);
    pair_close(&p);
}

static uint32_t rnd(uint64_t *st) {
    *st = *st * 6364136223846793005ULL + 1442695040888963407ULL;
    return (uint32_t)(*st >> 33);
}

TEST(pattern_matches_lua_on_random_patterns_and_subjects) {
    static const char *const atoms[] = {
        "a",     "b",     ".",      "%a",     "%d", "%s",  "%w",     "%W", "[ab]", "[^a]",
        "[a-c]", "[%d(]", "*",      "+",      "-",  "?",   "(",      ")",  "()",   "%1",
        "%2",    "%b()",  "%f[%w]", "%f[%W]", "^",  "$",   "%",      "[",  "]",    "x",
        "(a)",   "(.-)",  "(%w+)",  ".-",     "a*", "[]]", "[^%s]+", "%.", "%(",   "1",
    };
    static const char subj_chars[] = "aab(b)c1 2-x.]";
    static const char *const bodies[] = {
        "return string.find(S, P)",
        "return string.find(S, P, 3)",
        "return string.match(S, P)",
        "return string.match(S, P, -4)",
        "return string.gsub(S, P, '<%0>')",
        "return string.gsub(S, P, '%1', 2)",
        "return string.gsub(S, P, function(...) return select('#', ...) end)",
        "return string.gsub(S, P, {a = 'A', ['('] = false})",
        "local r = {} for a, b in string.gmatch(S, P) do r[#r+1] = tostring(a) .. tostring(b) "
        "if #r > 50 then break end end return r",
        "local r = {} for a in string.gmatch(S, P, 2) do r[#r+1] = tostring(a) "
        "if #r > 50 then break end end return r",
    };
    pair_t p;
    pair_open(&p);
    uint64_t st = 20240101;
    int bad = 0;
    for (int n = 0; n < 3000 && bad < 10; n++) {
        char pat[128] = "", subj[64];
        int natoms = 1 + (int)(rnd(&st) % 6);
        for (int i = 0; i < natoms; i++)
            strcat(pat, atoms[rnd(&st) % (sizeof atoms / sizeof atoms[0])]);
        size_t ls = rnd(&st) % 16;
        for (size_t i = 0; i < ls; i++) subj[i] = subj_chars[rnd(&st) % (sizeof subj_chars - 1)];
        const char *body = bodies[rnd(&st) % (sizeof bodies / sizeof bodies[0])];
        bad += !same(&p, body, subj, ls, pat, strlen(pat));
    }
    CHECK_INT(bad, 0);
    pair_close(&p);
}

/* Backtracking that would take minutes is stopped by the slice, as `limit`. */
TEST(pattern_backtracking_ends_with_limit_within_the_slice) {
    static const char *const attacks[] = {
        "return ('a'):rep(3e4):find('.-.-.-.-b')",
        "return ('a'):rep(3e4):match('(.*)*b')",
        "return select(2, ('a'):rep(2e4):gsub('.-.-.-b', ''))",
        "for _ in ('a'):rep(2e4):gmatch('.-.-.-b') do end",
        "return pcall(string.find, ('a'):rep(3e4), '.-.-.-.-b')",
        "return ('a'):rep(3e6):find(('a'):rep(1e5) .. 'b', 1, true)",
    };
    kit_t k;
    kit_init(&k);
    k.host.cpu_slice = 0.1;
    for (size_t i = 0; i < sizeof attacks / sizeof attacks[0]; i++) {
        char err[1024];
        script_t *s = NULL;
        CHECK(script_open(&s, "attack", &k.host, err, sizeof err) == 0);
        if (!s) break;
        lua_State *L = script_state(s);
        uint64_t t0 = uv_hrtime();
        CHECK(luaL_loadstring(L, attacks[i]) == LUA_OK);
        int rc = script_pcall(s, 0, 0);
        double took = (double)(uv_hrtime() - t0) / 1e9;
        if (i == 5) { /* linear: finishes in time */
            CHECK_INT(rc, LUA_OK);
        } else {
            CHECK_INT(rc, LUA_ERRRUN);
            err_kind_t kind = err_read(L, -1, err, sizeof err, NULL);
            CHECK_INT(kind, ERR_LIMIT);
            CHECK_HAS(err, "CPU slice");
        }
        if (took > 0.1 + 1.0) test_fail(__FILE__, __LINE__, "attack %zu took %.3f s", i, took);
        script_unref(s);
    }
    kit_free(&k);
}
