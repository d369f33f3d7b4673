/* console_fmt.c — renders Lua values as console text. Tables are shown on one
 * line when that fits WIDTH columns, else one entry a line, indented; the
 * sequence part 1..n comes first, then the other keys sorted (strings, then
 * numbers, then the rest in traversal order), so output is reproducible. All
 * scratch memory (the text, key lists) is Lua userdata: a raise leaks nothing. */
#include "console_fmt.h"

#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "script/json.h"

enum { WIDTH = 72, INDENT = 2 };

static const char ELLIPSIS[] = "...";

typedef struct fmt {
    lua_State *L;
    char *buf; /* CONSOLE_FMT_MAX bytes (a userdata) */
    size_t len;
    int full;          /* the text reached CONSOLE_FMT_MAX */
    size_t inline_end; /* trying a table on one line: it must end here; 0 = not trying */
    int overflow;      /* ... and it did not fit */
    const void *path[CONSOLE_FMT_DEPTH + 1]; /* the tables being shown, for cycles */
    int depth;
    const void *null; /* baton.json.null */
} fmt_t;

/* A key of a table, for sorting. */
typedef struct key {
    int rank; /* 0 string, 1 number, 2 anything else */
    lua_Number num;
    const char *str; /* kept alive by the key list table */
    size_t slen;
    int k; /* its index in the key list */
} fkey_t;

static void put(fmt_t *f, const char *s, size_t n) {
    if (f->overflow || f->full) return;
    if (f->inline_end && f->len + n > f->inline_end) {
        f->overflow = 1;
        return;
    }
    size_t room = CONSOLE_FMT_MAX - sizeof ELLIPSIS - f->len;
    if (n > room) {
        memcpy(f->buf + f->len, s, room);
        f->len += room;
        memcpy(f->buf + f->len, ELLIPSIS, sizeof ELLIPSIS - 1);
        f->len += sizeof ELLIPSIS - 1;
        f->full = 1;
        return;
    }
    memcpy(f->buf + f->len, s, n);
    f->len += n;
}

static void puts_(fmt_t *f, const char *s) { put(f, s, strlen(s)); }

static void indent(fmt_t *f, int level) {
    for (int i = 0; i < level * INDENT; i++) put(f, " ", 1);
}

static void quoted(fmt_t *f, const char *s, size_t n) {
    put(f, "\"", 1);
    for (size_t i = 0; i < n && !f->overflow && !f->full; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[8];
        if (c == '"' || c == '\\') {
            esc[0] = '\\', esc[1] = (char)c;
            put(f, esc, 2);
        } else if (c == '\n') {
            put(f, "\\n", 2);
        } else if (c == '\t') {
            put(f, "\\t", 2);
        } else if (c == '\r') {
            put(f, "\\r", 2);
        } else if (c < 0x20 || c == 0x7f) {
            snprintf(esc, sizeof esc, "\\%03u", c);
            put(f, esc, 4);
        } else {
            put(f, (const char *)&s[i], 1);
        }
    }
    put(f, "\"", 1);
}

static int is_name(const char *s, size_t n) {
    static const char *const reserved[] = {"and",   "break", "do",       "else", "elseif", "end",
                                           "false", "for",   "function", "goto", "if",     "in",
                                           "local", "nil",   "not",      "or",   "repeat", "return",
                                           "then",  "true",  "until",    "while"};
    if (n == 0 || strlen(s) != n || (s[0] >= '0' && s[0] <= '9')) return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!(c == '_' || (c >= '0' && c <= '9') || ((c | 32) >= 'a' && (c | 32) <= 'z'))) return 0;
    }
    for (size_t i = 0; i < sizeof reserved / sizeof *reserved; i++)
        if (strcmp(s, reserved[i]) == 0) return 0;
    return 1;
}

static int key_cmp(const void *pa, const void *pb) {
    const fkey_t *a = pa, *b = pb;
    if (a->rank != b->rank) return a->rank - b->rank;
    if (a->rank == 0) {
        size_t n = a->slen < b->slen ? a->slen : b->slen;
        int c = memcmp(a->str, b->str, n);
        if (c) return c;
        return a->slen < b->slen ? -1 : a->slen > b->slen;
    }
    if (a->rank == 1 && a->num != b->num) return a->num < b->num ? -1 : 1;
    return a->k - b->k;
}

static void value(fmt_t *f, int idx);

/* One entry of a table: `value` for the sequence part, else `key = value`. */
static void entry(fmt_t *f, int tidx, int kidx, const fkey_t *key, lua_Integer seq) {
    lua_State *L = f->L;
    if (!key) {
        lua_rawgeti(L, tidx, seq);
    } else {
        lua_rawgeti(L, kidx, key->k);
        if (key->rank == 0 && is_name(key->str, key->slen)) {
            put(f, key->str, key->slen);
            puts_(f, " = ");
        } else {
            put(f, "[", 1);
            value(f, lua_gettop(L));
            puts_(f, "] = ");
        }
        lua_rawget(L, tidx);
    }
    value(f, lua_gettop(L));
    lua_pop(L, 1);
}

/* Writes the entries, on one line or one a line. */
static void entries(fmt_t *f, int tidx, int kidx, const fkey_t *keys, lua_Integer nseq, int nkeys,
                    size_t more, int multiline) {
    char text[64];
    if (nseq == 0 && nkeys == 0 && more == 0) {
        puts_(f, "{}");
        return;
    }
    put(f, multiline ? "{\n" : "{ ", 2);
    for (lua_Integer i = 0; i < nseq + nkeys + (more > 0); i++) {
        if (f->overflow || f->full) return;
        if (multiline) indent(f, f->depth);
        if (i < nseq)
            entry(f, tidx, kidx, NULL, i + 1);
        else if (i < nseq + nkeys)
            entry(f, tidx, kidx, &keys[i - nseq], 0);
        else
            put(f, text, (size_t)snprintf(text, sizeof text, "... (%zu more)", more));
        int last = i + 1 == nseq + nkeys + (more > 0);
        if (multiline)
            puts_(f, last ? "\n" : ",\n");
        else if (!last)
            puts_(f, ", ");
    }
    if (multiline) {
        indent(f, f->depth - 1);
        put(f, "}", 1);
    } else {
        puts_(f, " }");
    }
}

static void table(fmt_t *f, int idx) {
    lua_State *L = f->L;
    const void *p = lua_topointer(L, idx);
    for (int i = 0; i < f->depth; i++)
        if (f->path[i] == p) {
            puts_(f, "<cycle>");
            return;
        }
    if (f->depth >= CONSOLE_FMT_DEPTH) {
        puts_(f, "{...}");
        return;
    }
    luaL_checkstack(L, 8, "console: values nested too deep");
    int top = lua_gettop(L);

    lua_Integer nseq = 0;
    while (nseq < CONSOLE_FMT_ITEMS) {
        int t = lua_rawgeti(L, idx, nseq + 1);
        lua_pop(L, 1);
        if (t == LUA_TNIL) break;
        nseq++;
    }
    /* the other keys, kept alive in a list only this function sees */
    lua_createtable(L, 8, 0);
    int kidx = lua_gettop(L), nkeys = 0;
    size_t more = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        if (lua_isinteger(L, -1) && lua_tointeger(L, -1) >= 1 && lua_tointeger(L, -1) <= nseq)
            continue;
        if (nseq + nkeys < CONSOLE_FMT_ITEMS) {
            lua_pushvalue(L, -1);
            lua_rawseti(L, kidx, ++nkeys);
        } else {
            more++;
        }
    }
    fkey_t *keys = lua_newuserdatauv(L, (size_t)(nkeys ? nkeys : 1) * sizeof *keys, 0);
    for (int i = 0; i < nkeys; i++) {
        fkey_t *k = &keys[i];
        memset(k, 0, sizeof *k);
        k->k = i + 1;
        int t = lua_rawgeti(L, kidx, i + 1);
        k->rank = t == LUA_TSTRING ? 0 : t == LUA_TNUMBER ? 1 : 2;
        if (t == LUA_TSTRING) k->str = lua_tolstring(L, -1, &k->slen);
        if (t == LUA_TNUMBER) k->num = lua_tonumber(L, -1);
        lua_pop(L, 1);
    }
    qsort(keys, (size_t)nkeys, sizeof *keys, key_cmp);

    f->path[f->depth++] = p;
    if (f->inline_end) {
        entries(f, idx, kidx, keys, nseq, nkeys, more, 0); /* inside a one-line try */
    } else {
        size_t start = f->len, budget = WIDTH - (size_t)(f->depth - 1) * INDENT;
        if (start + budget + sizeof ELLIPSIS < CONSOLE_FMT_MAX) {
            f->inline_end = start + budget;
            entries(f, idx, kidx, keys, nseq, nkeys, more, 0);
            f->inline_end = 0;
        } else {
            f->overflow = 1;
        }
        if (f->overflow) {
            f->overflow = 0;
            f->len = start;
            entries(f, idx, kidx, keys, nseq, nkeys, more, 1);
        }
    }
    f->depth--;
    lua_settop(L, top);
}

static void value(fmt_t *f, int idx) {
    lua_State *L = f->L;
    size_t n;
    switch (lua_type(L, idx)) {
    case LUA_TSTRING: {
        const char *s = lua_tolstring(L, idx, &n);
        quoted(f, s, n);
        return;
    }
    case LUA_TLIGHTUSERDATA:
        if (lua_touserdata(L, idx) == f->null) {
            puts_(f, "null");
            return;
        }
        break;
    case LUA_TTABLE:
        if (luaL_getmetafield(L, idx, "__tostring") == LUA_TNIL) {
            table(f, idx);
            return;
        }
        lua_pop(L, 1);
        break;
    default:
        break;
    }
    const char *s = luaL_tolstring(L, idx, &n); /* numbers as Lua prints them; __tostring */
    put(f, s, n);
    lua_pop(L, 1);
}

int console_fmt_values(lua_State *L) {
    int n = lua_gettop(L);
    fmt_t f;
    memset(&f, 0, sizeof f);
    f.L = L;
    f.buf = lua_newuserdatauv(L, CONSOLE_FMT_MAX, 0);
    json_push_null(L);
    f.null = lua_touserdata(L, -1);
    lua_pop(L, 1);
    for (int i = 1; i <= n; i++) {
        if (i > 1) put(&f, "\t", 1);
        value(&f, i);
    }
    lua_pushlstring(L, f.buf, f.len);
    return 1;
}
