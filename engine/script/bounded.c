/* bounded.c — the sandbox's versions of the library functions whose work a
 * script can make unbounded inside one C call, where the count hook never
 * fires: string.rep, table.insert/remove/move/sort, load, utf8.len and
 * utf8.offset count their steps and stop with `limit` when the CPU slice is
 * spent; string.format's %q and os.date refuse inputs past what a slice can
 * do. Each keeps the semantics and messages of Lua 5.4's own. */
#include "bounded.h"

#include <lauxlib.h>
#include <limits.h>
#include <string.h>

#include "script_int.h"

enum {
    BOUNDED_CHECK_EVERY = 4096,     /* steps between two looks at the slice */
    BOUNDED_LOAD_PIECE = 64 << 10,  /* bytes of a chunk parsed between two looks */
    BOUNDED_QUOTE_MAX = 1 << 20,    /* longest string string.format's %q takes */
    BOUNDED_DATE_FORMAT_MAX = 4096, /* longest format os.date takes */
};

typedef struct counter {
    lua_State *L;
    unsigned n;
} counter_t;

static void tick(counter_t *c) {
    if (++c->n % BOUNDED_CHECK_EVERY == 0) script_slice_check(c->L);
}

/* ---- string.rep ---- */

/* Fills dst (total bytes) with s..sep..s..sep..s by doubling what is written:
 * O(log n) copies, however large n. */
static void rep_fill(char *dst, size_t total, const char *s, size_t l, const char *sep,
                     size_t lsep) {
    size_t unit = l + lsep, done;
    memcpy(dst, s, l);
    if (total == l) return;
    memcpy(dst + l, sep, lsep);
    done = unit;
    while (done < total) {
        size_t n = done < total - done ? done : total - done;
        memcpy(dst + done, dst, n);
        done += n;
    }
}

static int l_bounded_rep(lua_State *L) {
    size_t l, lsep;
    const char *s = luaL_checklstring(L, 1, &l);
    lua_Integer n = luaL_checkinteger(L, 2);
    const char *sep = luaL_optlstring(L, 3, "", &lsep);
    if (n <= 0 || l + lsep == 0) {
        lua_pushliteral(L, "");
        return 1;
    }
    size_t max = INT_MAX; /* Lua 5.4's limit for a string.rep result */
    if (l + lsep < l || l + lsep > max / (size_t)n)
        return luaL_error(L, "resulting string too large");
    size_t total = (size_t)n * l + (size_t)(n - 1) * lsep;
    script_t *st = script_of(L);
    if (st->mem_limit && total > st->mem_limit)
        return err_raise(L, ERR_LIMIT,
                         "string.rep: the result (%zu bytes) is larger than the memory limit of "
                         "%zu KB",
                         total, st->mem_limit / 1024);
    luaL_Buffer b;
    char *dst = luaL_buffinitsize(L, &b, total);
    rep_fill(dst, total, s, l, sep, lsep);
    luaL_pushresultsize(&b, total);
    return 1;
}

/* ---- table.insert, remove, move, sort ---- */

enum { TAB_R = 1, TAB_W = 2, TAB_L = 4 };

/* A table, or a value whose metatable has what `what` needs (as Lua's own
 * table functions accept). */
static void check_table(lua_State *L, int arg, int what) {
    static const char *const need[3] = {"__index", "__newindex", "__len"};
    if (lua_type(L, arg) == LUA_TTABLE) return;
    int ok = lua_getmetatable(L, arg), has_mt = ok;
    for (int i = 0; ok && i < 3; i++) {
        if (!(what & (1 << i))) continue;
        lua_pushstring(L, need[i]);
        ok = lua_rawget(L, -2) != LUA_TNIL;
        lua_pop(L, 1);
    }
    if (has_mt) lua_pop(L, 1);
    if (!ok) luaL_checktype(L, arg, LUA_TTABLE);
}

static lua_Integer table_len(lua_State *L, int arg, int what) {
    check_table(L, arg, what | TAB_L);
    return luaL_len(L, arg);
}

static int l_bounded_insert(lua_State *L) {
    counter_t c = {L, 0};
    /* the first empty slot (wrapping as Lua's does when __len says maxinteger) */
    lua_Integer pos, end = (lua_Integer)((lua_Unsigned)table_len(L, 1, TAB_R | TAB_W) + 1u);
    switch (lua_gettop(L)) {
    case 2:
        pos = end;
        break;
    case 3:
        pos = luaL_checkinteger(L, 2);
        luaL_argcheck(L, (lua_Unsigned)pos - 1u < (lua_Unsigned)end, 2, "position out of bounds");
        for (lua_Integer i = end; i > pos; i--) {
            tick(&c);
            lua_geti(L, 1, i - 1);
            lua_seti(L, 1, i);
        }
        break;
    default:
        return luaL_error(L, "wrong number of arguments to 'insert'");
    }
    lua_seti(L, 1, pos);
    return 0;
}

static int l_bounded_remove(lua_State *L) {
    counter_t c = {L, 0};
    lua_Integer size = table_len(L, 1, TAB_R | TAB_W);
    lua_Integer pos = luaL_optinteger(L, 2, size);
    if (pos != size)
        luaL_argcheck(L, (lua_Unsigned)pos - 1u <= (lua_Unsigned)size, 1, /* sic, as Lua's */
                      "position out of bounds");
    lua_geti(L, 1, pos);
    for (; pos < size; pos++) {
        tick(&c);
        lua_geti(L, 1, pos + 1);
        lua_seti(L, 1, pos);
    }
    lua_pushnil(L);
    lua_seti(L, 1, pos);
    return 1;
}

static int l_bounded_move(lua_State *L) {
    counter_t c = {L, 0};
    lua_Integer f = luaL_checkinteger(L, 2);
    lua_Integer e = luaL_checkinteger(L, 3);
    lua_Integer t = luaL_checkinteger(L, 4);
    int tt = !lua_isnoneornil(L, 5) ? 5 : 1;
    check_table(L, 1, TAB_R);
    check_table(L, tt, TAB_W);
    if (e >= f) {
        luaL_argcheck(L, f > 0 || e < LUA_MAXINTEGER + f, 3, "too many elements to move");
        lua_Integer n = e - f;
        luaL_argcheck(L, t <= LUA_MAXINTEGER - n, 4, "destination wrap around");
        if (t > e || t <= f || (tt != 1 && !lua_compare(L, 1, tt, LUA_OPEQ))) {
            for (lua_Integer i = 0; i <= n; i++) {
                tick(&c);
                lua_geti(L, 1, f + i);
                lua_seti(L, tt, t + i);
            }
        } else {
            for (lua_Integer i = n; i >= 0; i--) {
                tick(&c);
                lua_geti(L, 1, f + i);
                lua_seti(L, tt, t + i);
            }
        }
    }
    lua_pushvalue(L, tt);
    return 1;
}

/* Whether the value at a sorts before the one at b (stack indices). */
static int sort_lt(counter_t *c, int a, int b) {
    lua_State *L = c->L;
    tick(c);
    if (lua_isnil(L, 2)) return lua_compare(L, a, b, LUA_OPLT);
    lua_pushvalue(L, 2);
    lua_pushvalue(L, a < 0 ? a - 1 : a);
    lua_pushvalue(L, b < 0 ? b - 2 : b);
    lua_call(L, 2, 1);
    int r = lua_toboolean(L, -1);
    lua_pop(L, 1);
    return r;
}

/* Whether t[i] sorts before t[j]. */
static int sort_lt_at(counter_t *c, lua_Integer i, lua_Integer j) {
    lua_geti(c->L, 1, i);
    lua_geti(c->L, 1, j);
    int r = sort_lt(c, -2, -1);
    lua_pop(c->L, 2);
    return r;
}

static void sort_swap(lua_State *L, lua_Integer i, lua_Integer j) {
    lua_geti(L, 1, i);
    lua_geti(L, 1, j);
    lua_seti(L, 1, i);
    lua_seti(L, 1, j);
}

static void sort_bad_order(lua_State *L) { luaL_error(L, "invalid order function for sorting"); }

static void sort_insertion(counter_t *c, lua_Integer lo, lua_Integer hi) {
    lua_State *L = c->L;
    for (lua_Integer k = lo + 1; k <= hi; k++) {
        lua_geti(L, 1, k); /* the value to place */
        lua_Integer j = k - 1;
        for (; j >= lo; j--) {
            lua_geti(L, 1, j);
            if (!sort_lt(c, -2, -1)) {
                lua_pop(L, 1);
                break;
            }
            lua_seti(L, 1, j + 1);
        }
        lua_seti(L, 1, j + 1);
    }
}

/* Quicksort with the median of three as pivot; recursion on the smaller part
 * keeps the C stack to O(log n). */
static void sort_range(counter_t *c, lua_Integer lo, lua_Integer hi) {
    lua_State *L = c->L;
    while (hi - lo >= 12) {
        lua_Integer mid = lo + (hi - lo) / 2;
        if (sort_lt_at(c, mid, lo)) sort_swap(L, mid, lo);
        if (sort_lt_at(c, hi, mid)) {
            sort_swap(L, hi, mid);
            if (sort_lt_at(c, mid, lo)) sort_swap(L, mid, lo);
        }
        /* t[lo] <= pivot <= t[hi]: they stop the scans below */
        sort_swap(L, mid, hi - 1);
        lua_geti(L, 1, hi - 1);
        int pivot = lua_gettop(L);
        lua_Integer i = lo, j = hi - 1;
        for (;;) {
            for (;;) {
                lua_geti(L, 1, ++i);
                int lt = sort_lt(c, -1, pivot);
                lua_pop(L, 1);
                if (!lt) break;
                if (i >= hi) sort_bad_order(L);
            }
            for (;;) {
                lua_geti(L, 1, --j);
                int lt = sort_lt(c, pivot, -1);
                lua_pop(L, 1);
                if (!lt) break;
                if (j <= lo) sort_bad_order(L);
            }
            if (i >= j) break;
            sort_swap(L, i, j);
        }
        sort_swap(L, i, hi - 1);
        lua_pop(L, 1);
        if (i - lo < hi - i) {
            sort_range(c, lo, i - 1);
            lo = i + 1;
        } else {
            sort_range(c, i + 1, hi);
            hi = i - 1;
        }
    }
    sort_insertion(c, lo, hi);
}

static int l_bounded_sort(lua_State *L) {
    counter_t c = {L, 0};
    lua_Integer n = table_len(L, 1, TAB_R | TAB_W);
    if (n > 1) {
        luaL_argcheck(L, n < INT_MAX, 1, "array too big");
        if (!lua_isnoneornil(L, 2)) luaL_checktype(L, 2, LUA_TFUNCTION);
        lua_settop(L, 2);
        luaL_checkstack(L, 40, "sort");
        sort_range(&c, 1, n);
    }
    return 0;
}

/* ---- load ---- */

typedef struct load_reader {
    const char *s;
    size_t left;
    int pieces;
} load_reader_t;

/* A text chunk in pieces, the slice checked between them: parsing a
 * multi-megabyte chunk ends with `limit` when it takes too long. */
static const char *load_text(lua_State *L, void *ud, size_t *size) {
    load_reader_t *r = ud;
    if (r->left == 0) return NULL;
    if (r->pieces++) script_slice_check(L);
    *size = r->left < BOUNDED_LOAD_PIECE ? r->left : BOUNDED_LOAD_PIECE;
    const char *p = r->s;
    r->s += *size;
    r->left -= *size;
    return p;
}

enum { LOAD_SLOT = 5 }; /* keeps the reader function's last piece alive */

static const char *load_function(lua_State *L, void *ud, size_t *size) {
    (void)ud;
    script_slice_check(L);
    luaL_checkstack(L, 2, "too many nested functions");
    lua_pushvalue(L, 1);
    lua_call(L, 0, 1);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        *size = 0;
        return NULL;
    }
    if (!lua_isstring(L, -1)) luaL_error(L, "reader function must return a string");
    lua_replace(L, LOAD_SLOT);
    return lua_tolstring(L, LOAD_SLOT, size);
}

static int l_bounded_load(lua_State *L) {
    size_t l;
    const char *text = lua_tolstring(L, 1, &l);
    const char *mode = luaL_optstring(L, 3, "bt");
    int env = !lua_isnone(L, 4) ? 4 : 0, status;
    if (text) {
        const char *name = luaL_optstring(L, 2, text);
        load_reader_t r = {text, l, 0};
        status = lua_load(L, load_text, &r, name, mode);
    } else {
        const char *name = luaL_optstring(L, 2, "=(load)");
        luaL_checktype(L, 1, LUA_TFUNCTION);
        lua_settop(L, LOAD_SLOT);
        status = lua_load(L, load_function, NULL, name, mode);
    }
    script_t *s = script_of(L);
    if (s->doom) {
        /* the slice ran out while parsing: the limit, not a syntax error */
        script_slice_check(L);
    }
    if (status != LUA_OK) {
        luaL_pushfail(L);
        lua_insert(L, -2);
        return 2;
    }
    if (env) {
        lua_pushvalue(L, env);
        if (!lua_setupvalue(L, -2, 1)) lua_pop(L, 1);
    }
    return 1;
}

/* ---- utf8.len, utf8.offset ---- */

/* The length of the UTF-8 sequence at s as Lua reads it (1 to 6 bytes, no
 * overlong forms; strict: at most U+10FFFF and no surrogates), or 0 when
 * there is none. s is NUL-terminated, so reading stops at the end. */
static int utf8_seq(const unsigned char *s, int strict) {
    static const unsigned long min[7] = {0, 0, 0x80, 0x800, 0x10000, 0x200000, 0x4000000};
    unsigned c = s[0];
    if (c < 0x80) return 1;
    int n = c >= 0xFC ? 6 : c >= 0xF8 ? 5 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 0;
    if (n == 0 || c >= 0xFE) return 0;
    unsigned long v = c & (0x7Fu >> n);
    for (int i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        v = (v << 6) | (s[i] & 0x3F);
    }
    if (v < min[n] || v > 0x7FFFFFFFul) return 0;
    if (strict && (v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))) return 0;
    return n;
}

static lua_Integer utf8_pos(lua_Integer pos, size_t len) {
    if (pos >= 0) return pos;
    if (0u - (size_t)pos > len) return 0;
    return (lua_Integer)len + pos + 1;
}

static int is_cont(const char *p) { return (*p & 0xC0) == 0x80; }

static int l_bounded_utf8_len(lua_State *L) {
    counter_t c = {L, 0};
    size_t len;
    const unsigned char *s = (const unsigned char *)luaL_checklstring(L, 1, &len);
    lua_Integer i = utf8_pos(luaL_optinteger(L, 2, 1), len);
    lua_Integer j = utf8_pos(luaL_optinteger(L, 3, -1), len);
    int strict = !lua_toboolean(L, 4);
    lua_Integer n = 0;
    luaL_argcheck(L, 1 <= i && --i <= (lua_Integer)len, 2, "initial position out of bounds");
    luaL_argcheck(L, --j < (lua_Integer)len, 3, "final position out of bounds");
    while (i <= j) {
        tick(&c);
        int k = utf8_seq(s + i, strict);
        if (k == 0) {
            luaL_pushfail(L);
            lua_pushinteger(L, i + 1);
            return 2;
        }
        i += k;
        n++;
    }
    lua_pushinteger(L, n);
    return 1;
}

static int l_bounded_utf8_offset(lua_State *L) {
    counter_t c = {L, 0};
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    lua_Integer n = luaL_checkinteger(L, 2);
    lua_Integer i = utf8_pos(luaL_optinteger(L, 3, n >= 0 ? 1 : (lua_Integer)len + 1), len);
    luaL_argcheck(L, 1 <= i && --i <= (lua_Integer)len, 3, "position out of bounds");
    if (n == 0) {
        while (i > 0 && is_cont(s + i)) {
            tick(&c);
            i--;
        }
    } else {
        if (is_cont(s + i)) return luaL_error(L, "initial position is a continuation byte");
        if (n < 0) {
            for (; n < 0 && i > 0; n++) {
                do {
                    tick(&c);
                    i--;
                } while (i > 0 && is_cont(s + i));
            }
        } else {
            for (n--; n > 0 && i < (lua_Integer)len; n--) {
                do {
                    tick(&c);
                    i++;
                } while (is_cont(s + i)); /* stops at the final '\0' */
            }
        }
    }
    if (n == 0)
        lua_pushinteger(L, i + 1);
    else
        luaL_pushfail(L);
    return 1;
}

/* ---- string.format, os.date: refusals ---- */

/* Runs the library's own function (upvalue 1, a C function that uses no
 * upvalues) in this call's frame, so its errors name the function and the
 * script's line as if it had been called directly. */
static int call_original(lua_State *L) {
    lua_CFunction fn = lua_tocfunction(L, lua_upvalueindex(1));
    return fn(L);
}

/* string.format, refusing %q of a string longer than BOUNDED_QUOTE_MAX: Lua
 * quotes byte by byte, and a long string of control bytes takes seconds. */
static int l_bounded_format(lua_State *L) {
    size_t lf;
    const char *f = luaL_checklstring(L, 1, &lf), *end = f + lf;
    int arg = 1;
    for (const char *p = f; p < end; p++) {
        if (*p != '%') continue;
        if (++p < end && *p == '%') continue;
        arg++;
        while (p < end && strchr("-+ #0123456789.", *p)) p++;
        if (p < end && *p == 'q' && lua_type(L, arg) == LUA_TSTRING &&
            lua_rawlen(L, arg) > BOUNDED_QUOTE_MAX)
            return err_raise(L, ERR_LIMIT,
                             "string.format: %%q of a string of %zu bytes (at most %d)",
                             (size_t)lua_rawlen(L, arg), BOUNDED_QUOTE_MAX);
    }
    return call_original(L);
}

static int l_bounded_date(lua_State *L) {
    size_t lf = 0;
    if (lua_type(L, 1) == LUA_TSTRING) lua_tolstring(L, 1, &lf);
    if (lf > BOUNDED_DATE_FORMAT_MAX)
        return err_raise(L, ERR_LIMIT, "os.date: a format of %zu bytes (at most %d)", lf,
                         BOUNDED_DATE_FORMAT_MAX);
    return call_original(L);
}

/* ---- installing them ---- */

static void set_in(lua_State *L, const char *lib, const char *name, lua_CFunction fn,
                   int keep_original) {
    if (lib) {
        lua_getglobal(L, lib);
    } else {
        lua_pushglobaltable(L);
    }
    if (keep_original) {
        lua_getfield(L, -1, name);
        lua_pushcclosure(L, fn, 1);
    } else {
        lua_pushcfunction(L, fn);
    }
    lua_setfield(L, -2, name);
    lua_pop(L, 1);
}

void bounded_open(lua_State *L) {
    set_in(L, "string", "rep", l_bounded_rep, 0);
    set_in(L, "string", "format", l_bounded_format, 1);
    set_in(L, "table", "insert", l_bounded_insert, 0);
    set_in(L, "table", "remove", l_bounded_remove, 0);
    set_in(L, "table", "move", l_bounded_move, 0);
    set_in(L, "table", "sort", l_bounded_sort, 0);
    set_in(L, "utf8", "len", l_bounded_utf8_len, 0);
    set_in(L, "utf8", "offset", l_bounded_utf8_offset, 0);
    set_in(L, "os", "date", l_bounded_date, 1);
    set_in(L, NULL, "load", l_bounded_load, 0);
}
