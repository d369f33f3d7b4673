/* pattern.c — Lua's string patterns (manual §6.4.1) for string.find, match,
 * gmatch and gsub, written for the sandbox: the matcher counts its steps and
 * checks the state's CPU slice every PATTERN_CHECK_EVERY of them, so a
 * pattern that backtracks for minutes ends with the `limit` error instead of
 * holding the engine inside one C call. Semantics and error messages are
 * those of Lua 5.4's own string library. */
#include "pattern.h"

#include <ctype.h>
#include <lauxlib.h>
#include <string.h>

#include "script_int.h"

enum {
    PATTERN_MAXCAPTURES = 32, /* as Lua's LUA_MAXCAPTURES */
    PATTERN_MAXDEPTH = 200,   /* nested matches before "pattern too complex" */
    PATTERN_CHECK_EVERY = 4096,
};

/* A capture's len while it is open, and for a position capture `()`. */
enum { CAP_OPEN = -1, CAP_POSITION = -2 };

typedef struct pattern_state {
    lua_State *L;
    const char *src, *src_end; /* the subject */
    const char *pat_end;
    int depth; /* nested match calls left */
    int level; /* captures opened so far */
    unsigned steps;
    struct {
        const char *start;
        ptrdiff_t len; /* or CAP_OPEN, CAP_POSITION */
    } cap[PATTERN_MAXCAPTURES];
} pattern_state_t;

/* One unit of work; every PATTERN_CHECK_EVERY the slice is checked. */
static void step(pattern_state_t *ps) {
    if (++ps->steps % PATTERN_CHECK_EVERY == 0) script_slice_check(ps->L);
}

/* The byte at p, or '\0' at the end of the pattern (as Lua reads it). */
static int pat_at(const pattern_state_t *ps, const char *p) {
    return p < ps->pat_end ? (unsigned char)*p : '\0';
}

static int class_matches(int c, int cl) {
    int yes;
    switch (tolower(cl)) {
    case 'a':
        yes = isalpha(c);
        break;
    case 'c':
        yes = iscntrl(c);
        break;
    case 'd':
        yes = isdigit(c);
        break;
    case 'g':
        yes = isgraph(c);
        break;
    case 'l':
        yes = islower(c);
        break;
    case 'p':
        yes = ispunct(c);
        break;
    case 's':
        yes = isspace(c);
        break;
    case 'u':
        yes = isupper(c);
        break;
    case 'w':
        yes = isalnum(c);
        break;
    case 'x':
        yes = isxdigit(c);
        break;
    case 'z':
        yes = c == '\0';
        break; /* deprecated, still Lua's */
    default:
        return cl == c; /* %. is the character itself */
    }
    yes = yes != 0;
    return isupper(cl) ? !yes : yes;
}

/* The end of the single-character class starting at p (one past it). */
static const char *class_end(pattern_state_t *ps, const char *p) {
    int c = (unsigned char)*p++;
    if (c == '%') {
        if (p >= ps->pat_end) luaL_error(ps->L, "malformed pattern (ends with '%%')");
        return p + 1;
    }
    if (c != '[') return p;
    if (pat_at(ps, p) == '^') p++;
    /* The first character of a set is a member even when it is ']'. */
    do {
        if (p >= ps->pat_end) luaL_error(ps->L, "malformed pattern (missing ']')");
        c = (unsigned char)*p++;
        if (c == '%' && p < ps->pat_end) p++;
    } while (pat_at(ps, p) != ']');
    return p + 1;
}

/* Whether c is in the set [..] from open (its '[') to close (its ']'). */
static int set_matches(int c, const char *open, const char *close) {
    int want = 1;
    const char *p = open + 1;
    if (*p == '^') {
        want = 0;
        p++;
    }
    for (; p < close; p++) {
        if (*p == '%') {
            p++;
            if (p < close && class_matches(c, (unsigned char)*p)) return want;
        } else if (p + 2 < close && p[1] == '-') {
            if ((unsigned char)p[0] <= c && c <= (unsigned char)p[2]) return want;
            p += 2;
        } else if ((unsigned char)*p == c) {
            return want;
        }
    }
    return !want;
}

/* Whether the subject byte at s matches the class from p to ep. */
static int one_matches(pattern_state_t *ps, const char *s, const char *p, const char *ep) {
    if (s >= ps->src_end) return 0;
    int c = (unsigned char)*s;
    switch (*p) {
    case '.':
        return 1;
    case '%':
        return class_matches(c, (unsigned char)p[1]);
    case '[':
        return set_matches(c, p, ep - 1);
    default:
        return (unsigned char)*p == c;
    }
}

static const char *match(pattern_state_t *ps, const char *s, const char *p);

/* %bxy at s: x, then text where x and y balance, then y. */
static const char *match_balance(pattern_state_t *ps, const char *s, const char *p) {
    if (p + 1 >= ps->pat_end) luaL_error(ps->L, "malformed pattern (missing arguments to '%%b')");
    if (s >= ps->src_end || *s != p[0]) return NULL;
    int open = p[0], close = p[1], depth = 1;
    while (++s < ps->src_end) {
        step(ps);
        if (*s == close) {
            if (--depth == 0) return s + 1;
        } else if (*s == open) {
            depth++;
        }
    }
    return NULL;
}

/* Greedy: as many repetitions as match, then back off one at a time. */
static const char *expand_max(pattern_state_t *ps, const char *s, const char *p, const char *ep) {
    ptrdiff_t n = 0;
    while (one_matches(ps, s + n, p, ep)) {
        step(ps);
        n++;
    }
    for (; n >= 0; n--) {
        const char *r = match(ps, s + n, ep + 1);
        if (r) return r;
    }
    return NULL;
}

/* Lazy: the fewest repetitions for which the rest matches. */
static const char *expand_min(pattern_state_t *ps, const char *s, const char *p, const char *ep) {
    for (;;) {
        const char *r = match(ps, s, ep + 1);
        if (r) return r;
        if (!one_matches(ps, s, p, ep)) return NULL;
        s++;
    }
}

static const char *capture_open(pattern_state_t *ps, const char *s, const char *p, ptrdiff_t what) {
    if (ps->level >= PATTERN_MAXCAPTURES) luaL_error(ps->L, "too many captures");
    ps->cap[ps->level].start = s;
    ps->cap[ps->level].len = what;
    ps->level++;
    const char *r = match(ps, s, p);
    if (!r) ps->level--;
    return r;
}

static const char *capture_close(pattern_state_t *ps, const char *s, const char *p) {
    int l = ps->level - 1;
    while (l >= 0 && ps->cap[l].len != CAP_OPEN) l--;
    if (l < 0) luaL_error(ps->L, "invalid pattern capture");
    ps->cap[l].len = s - ps->cap[l].start;
    const char *r = match(ps, s, p);
    if (!r) ps->cap[l].len = CAP_OPEN;
    return r;
}

/* The capture a back-reference %1-%9 names (digit c), checked. */
static int capture_index(pattern_state_t *ps, int c) {
    int l = c - '1';
    if (l < 0 || l >= ps->level || ps->cap[l].len == CAP_OPEN)
        return luaL_error(ps->L, "invalid capture index %%%d", l + 1);
    return l;
}

static const char *match_backref(pattern_state_t *ps, const char *s, int c) {
    int l = capture_index(ps, c);
    ptrdiff_t len = ps->cap[l].len;
    if (len < 0 || ps->src_end - s < len) return NULL; /* a position never matches */
    if (memcmp(ps->cap[l].start, s, (size_t)len) != 0) return NULL;
    return s + len;
}

/* The end of the match of pattern p at s, or NULL. */
static const char *match(pattern_state_t *ps, const char *s, const char *p) {
    if (ps->depth-- == 0) luaL_error(ps->L, "pattern too complex");
    step(ps);
    for (;;) {
        if (p >= ps->pat_end) break;
        const char *ep;
        switch (*p) {
        case '(':
            if (pat_at(ps, p + 1) == ')')
                s = capture_open(ps, s, p + 2, CAP_POSITION);
            else
                s = capture_open(ps, s, p + 1, CAP_OPEN);
            goto done;
        case ')':
            s = capture_close(ps, s, p + 1);
            goto done;
        case '$':
            if (p + 1 == ps->pat_end) {
                if (s != ps->src_end) s = NULL;
                goto done;
            }
            goto single;
        case '%':
            switch (pat_at(ps, p + 1)) {
            case 'b':
                s = match_balance(ps, s, p + 2);
                if (!s) goto done;
                p += 4;
                step(ps);
                continue;
            case 'f': {
                p += 2;
                if (pat_at(ps, p) != '[') luaL_error(ps->L, "missing '[' after '%%f' in pattern");
                ep = class_end(ps, p);
                int before = s == ps->src ? '\0' : (unsigned char)s[-1];
                int here = s < ps->src_end ? (unsigned char)*s : '\0';
                if (set_matches(before, p, ep - 1) || !set_matches(here, p, ep - 1)) {
                    s = NULL;
                    goto done;
                }
                p = ep;
                step(ps);
                continue;
            }
            case '0':
            case '1':
            case '2':
            case '3':
            case '4':
            case '5':
            case '6':
            case '7':
            case '8':
            case '9':
                s = match_backref(ps, s, pat_at(ps, p + 1));
                if (!s) goto done;
                p += 2;
                step(ps);
                continue;
            default:
                goto single;
            }
        default:
        single:
            ep = class_end(ps, p);
            int q = pat_at(ps, ep);
            if (!one_matches(ps, s, p, ep)) {
                if (q == '*' || q == '?' || q == '-') {
                    p = ep + 1; /* zero repetitions */
                    continue;
                }
                s = NULL;
                goto done;
            }
            switch (q) {
            case '?': {
                const char *r = match(ps, s + 1, ep + 1);
                if (r) {
                    s = r;
                    goto done;
                }
                p = ep + 1;
                continue;
            }
            case '+':
                s = expand_max(ps, s + 1, p, ep);
                goto done;
            case '*':
                s = expand_max(ps, s, p, ep);
                goto done;
            case '-':
                s = expand_min(ps, s, p, ep);
                goto done;
            default:
                s++;
                p = ep;
                step(ps);
                continue;
            }
        }
    }
done:
    ps->depth++;
    return s;
}

/* ---- the library functions ---- */

static void state_init(pattern_state_t *ps, lua_State *L, const char *s, size_t ls, const char *p,
                       size_t lp) {
    ps->L = L;
    ps->src = s;
    ps->src_end = s + ls;
    ps->pat_end = p + lp;
    ps->steps = 0;
}

static void state_reset(pattern_state_t *ps) {
    ps->level = 0;
    ps->depth = PATTERN_MAXDEPTH;
}

/* Capture i of the match s..e: pushes a position capture and returns
 * CAP_POSITION, else returns its length with its start in *start. */
static ptrdiff_t capture_get(pattern_state_t *ps, int i, const char *s, const char *e,
                             const char **start) {
    if (i >= ps->level) {
        if (i != 0) luaL_error(ps->L, "invalid capture index %%%d", i + 1);
        *start = s;
        return e - s;
    }
    ptrdiff_t len = ps->cap[i].len;
    *start = ps->cap[i].start;
    if (len == CAP_OPEN) luaL_error(ps->L, "unfinished capture");
    if (len == CAP_POSITION) lua_pushinteger(ps->L, (ps->cap[i].start - ps->src) + 1);
    return len;
}

static void capture_push(pattern_state_t *ps, int i, const char *s, const char *e) {
    const char *start;
    ptrdiff_t len = capture_get(ps, i, s, e, &start);
    if (len != CAP_POSITION) lua_pushlstring(ps->L, start, (size_t)len);
}

/* Pushes every capture (or the whole match s..e when there is none and s is
 * given); returns how many. */
static int captures_push(pattern_state_t *ps, const char *s, const char *e) {
    int n = ps->level == 0 && s ? 1 : ps->level;
    luaL_checkstack(ps->L, n, "too many captures");
    for (int i = 0; i < n; i++) capture_push(ps, i, s, e);
    return n;
}

/* A relative start position as Lua's string functions read it (1-based). */
static size_t start_of(lua_Integer pos, size_t len) {
    if (pos > 0) return (size_t)pos;
    if (pos == 0 || pos < -(lua_Integer)len) return 1;
    return len + (size_t)pos + 1;
}

static int has_specials(const char *p, size_t lp) {
    for (size_t i = 0; i < lp; i++)
        if (strchr("^$*+?.([%-", p[i]) && p[i] != '\0') return 1;
    return 0;
}

static int find_or_match(lua_State *L, int find) {
    size_t ls, lp;
    const char *s = luaL_checklstring(L, 1, &ls);
    const char *p = luaL_checklstring(L, 2, &lp);
    size_t init = start_of(luaL_optinteger(L, 3, 1), ls);
    if (init > ls + 1) {
        luaL_pushfail(L);
        return 1;
    }
    if (find && (lua_toboolean(L, 4) || !has_specials(p, lp))) {
        /* plain search: memmem is linear in the subject */
        const char *at = lp == 0 ? s + init - 1 : memmem(s + init - 1, ls - (init - 1), p, lp);
        if (!at) {
            luaL_pushfail(L);
            return 1;
        }
        lua_pushinteger(L, (at - s) + 1);
        lua_pushinteger(L, (at - s) + (lua_Integer)lp);
        return 2;
    }
    pattern_state_t ps;
    const char *from = s + init - 1;
    int anchored = lp > 0 && *p == '^';
    if (anchored) {
        p++;
        lp--;
    }
    state_init(&ps, L, s, ls, p, lp);
    do {
        state_reset(&ps);
        const char *e = match(&ps, from, p);
        if (e) {
            if (!find) return captures_push(&ps, from, e);
            lua_pushinteger(L, (from - s) + 1);
            lua_pushinteger(L, e - s);
            return captures_push(&ps, NULL, NULL) + 2;
        }
    } while (from++ < ps.src_end && !anchored);
    luaL_pushfail(L);
    return 1;
}

static int l_pattern_find(lua_State *L) { return find_or_match(L, 1); }
static int l_pattern_match(lua_State *L) { return find_or_match(L, 0); }

/* gmatch's iterator state, a userdata upvalue beside the subject and pattern. */
typedef struct pattern_iter {
    pattern_state_t ps;
    const char *at;   /* where the next search starts */
    const char *last; /* end of the last match: an empty match there is skipped */
    const char *pat;
} pattern_iter_t;

static int gmatch_next(lua_State *L) {
    pattern_iter_t *it = lua_touserdata(L, lua_upvalueindex(3));
    it->ps.L = L;
    for (const char *from = it->at; from <= it->ps.src_end; from++) {
        state_reset(&it->ps);
        const char *e = match(&it->ps, from, it->pat);
        if (e && e != it->last) {
            it->at = it->last = e;
            return captures_push(&it->ps, from, e);
        }
    }
    return 0;
}

static int l_pattern_gmatch(lua_State *L) {
    size_t ls, lp;
    const char *s = luaL_checklstring(L, 1, &ls);
    const char *p = luaL_checklstring(L, 2, &lp);
    size_t skip = start_of(luaL_optinteger(L, 3, 1), ls) - 1;
    if (skip > ls) skip = ls + 1; /* past the end: the iterator finds nothing */
    lua_settop(L, 2);
    pattern_iter_t *it = lua_newuserdatauv(L, sizeof *it, 0);
    state_init(&it->ps, L, s, ls, p, lp);
    it->at = s + skip;
    it->last = NULL;
    it->pat = p;
    lua_pushcclosure(L, gmatch_next, 3);
    return 1;
}

/* gsub with a string replacement: %0-%9 and %%. */
static void add_template(pattern_state_t *ps, luaL_Buffer *b, const char *s, const char *e) {
    lua_State *L = ps->L;
    size_t l;
    const char *t = lua_tolstring(L, 3, &l), *end = t + l;
    while (t < end) {
        step(ps);
        const char *pct = memchr(t, '%', (size_t)(end - t));
        if (!pct) break;
        luaL_addlstring(b, t, (size_t)(pct - t));
        int c = pct + 1 < end ? (unsigned char)pct[1] : '\0';
        if (c == '%') {
            luaL_addchar(b, '%');
        } else if (c == '0') {
            luaL_addlstring(b, s, (size_t)(e - s));
        } else if (isdigit(c)) {
            const char *start;
            ptrdiff_t len = capture_get(ps, c - '1', s, e, &start);
            if (len == CAP_POSITION)
                luaL_addvalue(b);
            else
                luaL_addlstring(b, start, (size_t)len);
        } else {
            luaL_error(L, "invalid use of '%c' in replacement string", '%');
        }
        t = pct + 2;
    }
    if (t < end) luaL_addlstring(b, t, (size_t)(end - t));
}

/* Adds the replacement of the match s..e; returns 0 when the match is kept. */
static int add_replacement(pattern_state_t *ps, luaL_Buffer *b, const char *s, const char *e,
                           int type) {
    lua_State *L = ps->L;
    if (type == LUA_TFUNCTION) {
        lua_pushvalue(L, 3);
        int n = captures_push(ps, s, e);
        lua_call(L, n, 1);
    } else if (type == LUA_TTABLE) {
        capture_push(ps, 0, s, e);
        lua_gettable(L, 3);
    } else {
        add_template(ps, b, s, e);
        return 1;
    }
    if (!lua_toboolean(L, -1)) {
        lua_pop(L, 1);
        luaL_addlstring(b, s, (size_t)(e - s));
        return 0;
    }
    if (!lua_isstring(L, -1))
        return luaL_error(L, "invalid replacement value (a %s)", luaL_typename(L, -1));
    luaL_addvalue(b);
    return 1;
}

static int l_pattern_gsub(lua_State *L) {
    size_t ls, lp;
    const char *s = luaL_checklstring(L, 1, &ls);
    const char *p = luaL_checklstring(L, 2, &lp);
    const char *last = NULL;
    int type = lua_type(L, 3);
    lua_Integer max = luaL_optinteger(L, 4, (lua_Integer)ls + 1), n = 0;
    int anchored = lp > 0 && *p == '^', changed = 0;
    luaL_argexpected(L,
                     type == LUA_TNUMBER || type == LUA_TSTRING || type == LUA_TFUNCTION ||
                         type == LUA_TTABLE,
                     3, "string/function/table");
    if (anchored) {
        p++;
        lp--;
    }
    pattern_state_t ps;
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    state_init(&ps, L, s, ls, p, lp);
    const char *at = s;
    while (n < max) {
        state_reset(&ps);
        const char *e = match(&ps, at, p);
        if (e && e != last) {
            n++;
            changed |= add_replacement(&ps, &b, at, e, type);
            at = last = e;
        } else if (at < ps.src_end) {
            luaL_addchar(&b, *at++);
        } else {
            break;
        }
        if (anchored) break;
    }
    if (!changed) {
        lua_pushvalue(L, 1);
    } else {
        luaL_addlstring(&b, at, (size_t)(ps.src_end - at));
        luaL_pushresult(&b);
    }
    lua_pushinteger(L, n);
    return 2;
}

static const luaL_Reg pattern_lib[] = {
    {"find", l_pattern_find},
    {"match", l_pattern_match},
    {"gmatch", l_pattern_gmatch},
    {"gsub", l_pattern_gsub},
    {NULL, NULL},
};

void pattern_open(lua_State *L) { luaL_setfuncs(L, pattern_lib, 0); }
