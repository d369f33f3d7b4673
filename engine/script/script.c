/* script.c — per-script Lua states: each state's allocator (memory limit),
 * count hook (CPU slice per run of code), the sandbox built from Lua's
 * libraries and the prelude, loading, script_pcall and the state's refs. The
 * coroutine bridge is script_co.c, the primitives baton_lib.c. */
#include "script.h"

#include <errno.h>
#include <lauxlib.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "base/fs.h"
#include "base/secret.h"
#include "base/units.h"
#include "bounded.h"
#include "pattern.h"
#include "script_int.h"

static int check_secret_names(lua_State *L, const char *path);

enum { HOOK_COUNT = 1000 };

/* ---- limits ---- */

static void *l_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
    script_t *s = ud;
    size_t old = ptr ? osize : 0;
    if (nsize == 0) {
        free(ptr);
        s->mem_used -= old;
        return NULL;
    }
    if (s->host.fault_at && nsize > old && ++s->allocs >= s->host.fault_at) return NULL;
    if (nsize > old && s->mem_limit && s->mem_used + (nsize - old) > s->mem_limit) {
        /* Inside a run the allocation failure dooms the run even if the script
         * catches the memory error: it must end with `limit`. */
        if (s->running || s->calling) s->doom = SCRIPT_DOOM_MEMORY;
        return NULL;
    }
    void *p = realloc(ptr, nsize);
    if (!p) return NULL;
    s->mem_used = s->mem_used - old + nsize;
    return p;
}

static void l_hook(lua_State *L, lua_Debug *ar) {
    (void)ar;
    script_slice_check(L);
}

void script_slice_check(lua_State *L) {
    script_t *s = script_of(L);
    if (!s->in_slice) return;
    if (!s->doom && s->host.cpu_slice > 0 && uv_hrtime() > s->slice_deadline)
        s->doom = SCRIPT_DOOM_CPU;
    if (!s->doom) return;
    /* From now on every instruction raises, so a pcall loop cannot swallow it. */
    lua_sethook(L, l_hook, LUA_MASKCOUNT, 1);
    script_push_doom(s, L, s->doom);
    lua_error(L);
}

void script_slice_begin(script_t *s, double seconds) {
    s->in_slice = 1;
    s->doom = SCRIPT_DOOM_NONE;
    s->slice_deadline = uv_hrtime() + (uint64_t)(seconds * 1e9);
}

void script_slice_end(script_t *s) {
    s->in_slice = 0;
    s->doom = SCRIPT_DOOM_NONE;
    lua_sethook(s->L, l_hook, LUA_MASKCOUNT, HOOK_COUNT);
}

void script_hook_thread(script_t *s, lua_State *T) {
    (void)s;
    lua_sethook(T, l_hook, LUA_MASKCOUNT, HOOK_COUNT);
}

void script_push_doom(script_t *s, lua_State *L, int doom) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, doom == SCRIPT_DOOM_CPU ? s->doom_cpu_ref : s->doom_mem_ref);
}

/* ---- state set-up ---- */

/* Tables of primitives lent by modules above script/, in lending order. */
static const luaL_Reg *lent[SCRIPT_LENT_MAX];
static int nlent;

int script_lend(const luaL_Reg *fns) {
    for (int i = 0; i < nlent; i++)
        if (lent[i] == fns) return 0;
    if (nlent == SCRIPT_LENT_MAX) return -ENOSPC;
    lent[nlent++] = fns;
    return 0;
}

static void open_lib(lua_State *L, const char *name, lua_CFunction open) {
    luaL_requiref(L, name, open, 1);
    lua_pop(L, 1);
}

static void remove_field(lua_State *L, const char *table, const char *field) {
    lua_getglobal(L, table);
    lua_pushnil(L);
    lua_setfield(L, -2, field);
    lua_pop(L, 1);
}

/* Keeps only os.time, os.clock and os.date. */
static void trim_os(lua_State *L) {
    lua_getglobal(L, "os");
    lua_createtable(L, 0, 3);
    const char *keep[] = {"time", "clock", "date"};
    for (int i = 0; i < 3; i++) {
        lua_getfield(L, -2, keep[i]);
        lua_setfield(L, -2, keep[i]);
    }
    lua_setglobal(L, "os");
    lua_pop(L, 1);
}

static int make_limit_error(lua_State *L, const char *fmt, const char *what) {
    char msg[256];
    snprintf(msg, sizeof msg, fmt, what);
    err_push(L, ERR_LIMIT, msg);
    return luaL_ref(L, LUA_REGISTRYINDEX);
}

/* Runs under lua_pcall: everything here may raise (memory, bad prelude). */
static int setup_p(lua_State *L) {
    script_t *s = lua_touserdata(L, 1);
    char path[4096], what[64];

    open_lib(L, "_G", luaopen_base);
    open_lib(L, "coroutine", luaopen_coroutine);
    open_lib(L, "table", luaopen_table);
    open_lib(L, "string", luaopen_string);
    open_lib(L, "math", luaopen_math);
    open_lib(L, "utf8", luaopen_utf8);
    open_lib(L, "os", luaopen_os);
    trim_os(L);
    remove_field(L, "string", "dump");
    lua_getglobal(L, "string");
    pattern_open(L); /* the matcher that keeps to the CPU slice */
    lua_pop(L, 1);
    bounded_open(L); /* the library functions that keep to the CPU slice */
    lua_pushnil(L);
    lua_setglobal(L, "dofile");
    lua_pushnil(L);
    lua_setglobal(L, "loadfile");
    err_open(L);

    units_format_duration(s->host.cpu_slice, what, sizeof what);
    s->doom_cpu_ref = make_limit_error(L, "ran past its CPU slice of %s without yielding", what);
    snprintf(what, sizeof what, "%zu KB", s->host.memory_limit / 1024);
    s->doom_mem_ref = make_limit_error(L, "allocated past its memory limit of %s", what);

    snprintf(path, sizeof path, "%s/prelude.lua", s->host.lua_dir);
    if (luaL_loadfilex(L, path, "t") != LUA_OK) return lua_error(L);
    baton_lib_open(L);
    for (int i = 0; i < nlent; i++) luaL_setfuncs(L, lent[i], 0);
    if (s->host.open_prims) s->host.open_prims(L, s->host.prims_ud);
    lua_call(L, 1, 1);
    if (!lua_istable(L, -1)) return luaL_error(L, "%s: must return a table", path);
    lua_getfield(L, -1, "defs");
    s->defs_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_getfield(L, -1, "start_run");
    s->start_run_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_pop(L, 1);

    if (s->no_file) {
        s->mem_limit = s->host.memory_limit;
        return 0;
    }
    /* The user's script, text only; it runs with the limits on. A file that
     * leads out of its directory or is too big is refused unread. */
    char dir[4096], why[1024];
    const char *slash = strrchr(s->path, '/');
    snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - s->path) : 1, slash ? s->path : ".");
    if (fs_file_within(s->path, dir[0] ? dir : "/", SCRIPT_MAX_BYTES, why, sizeof why) < 0)
        return luaL_error(L, "%s", why);
    check_secret_names(L, s->path);
    if (luaL_loadfilex(L, s->path, "t") != LUA_OK) return lua_error(L);
    s->mem_limit = s->host.memory_limit;
    lua_call(L, 0, 0);
    return 0;
}

/* Every baton.secret("NAME") written with a literal name, outside a line
 * comment, must name a declared secret: raised as "FILE:LINE: ..." before the
 * script runs, so a typo fails the load rather than the first run. */
static int check_secret_names(lua_State *L, const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return 0; /* the load that follows says why */
    char *src = malloc(SCRIPT_MAX_BYTES + 1);
    size_t n = src ? fread(src, 1, SCRIPT_MAX_BYTES, f) : 0;
    fclose(f);
    if (!src) return luaL_error(L, "%s: out of memory", path);
    src[n] = 0;
    static const char call[] = "baton.secret";
    int line = 1;
    const char *bol = src;
    for (const char *p = src; *p; p++) {
        if (*p == '\n') {
            line++;
            bol = p + 1;
            continue;
        }
        if (*p != 'b' || strncmp(p, call, sizeof call - 1) != 0) continue;
        const char *c = bol;
        while (c + 1 < p && !(c[0] == '-' && c[1] == '-')) c++;
        if (c + 1 < p) continue; /* in a comment */
        const char *q = p + sizeof call - 1;
        while (*q == ' ' || *q == '\t') q++;
        if (*q == '(') q++;
        while (*q == ' ' || *q == '\t') q++;
        if (*q != '"' && *q != '\'') continue;
        char quote = *q++, name[SECRET_NAME_MAX + 2];
        size_t len = 0;
        while (q[len] && q[len] != quote && q[len] != '\n' && len <= SECRET_NAME_MAX) len++;
        if (q[len] != quote) continue;
        memcpy(name, q, len);
        name[len] = 0;
        if (!secret_declared(name)) {
            free(src);
            return luaL_error(L,
                              "%s:%d: baton.secret: unknown secret '%s' (engine.conf's "
                              "secrets do not name it)",
                              path, line, name);
        }
    }
    free(src);
    return 0;
}

/* The message handler of the load: a value raised without a position (an
 * error table) gets the file:line of the script code that raised it. */
static int load_msgh(lua_State *L) {
    char *where = script_of(L)->load_where;
    lua_Debug ar;
    if (lua_type(L, 1) == LUA_TSTRING) return 1;
    for (int level = 1; lua_getstack(L, level, &ar); level++) {
        if (lua_getinfo(L, "Sl", &ar) && ar.currentline > 0 && strcmp(ar.what, "C") != 0) {
            snprintf(where, SCRIPT_WHERE_MAX, "%s:%d", ar.short_src, ar.currentline);
            break;
        }
    }
    return 1;
}

static char *lib_dir_of(const char *path) {
    const char *slash = strrchr(path, '/');
    size_t n = slash ? (size_t)(slash - path) : 1;
    char *dir = malloc(n + 5);
    if (!dir) return NULL;
    if (slash)
        memcpy(dir, path, n);
    else
        dir[0] = '.';
    memcpy(dir + n, "/lib", 5);
    return dir;
}

static int create(script_t **out, const char *path, const script_host_t *host, int no_file,
                  char *err, size_t errlen) {
    script_t *s = calloc(1, sizeof *s);
    *out = NULL;
    if (!s) goto nomem;
    s->host = *host;
    s->no_file = no_file;
    s->refs = 1;
    s->path = strdup(path);
    s->lib_dir = host->lib_dir ? strdup(host->lib_dir) : lib_dir_of(path);
    if (!s->path || !s->lib_dir) goto nomem;
    s->L = lua_newstate(l_alloc, s);
    if (!s->L) goto nomem;
    *(script_t **)lua_getextraspace(s->L) = s;
    lua_sethook(s->L, l_hook, LUA_MASKCOUNT, HOOK_COUNT);

    /* Loading gets a longer slice than a resume: top-level code may build tables. */
    char where[SCRIPT_WHERE_MAX] = "";
    script_slice_begin(s, s->host.cpu_slice > 1.0 ? s->host.cpu_slice : 1.0);
    s->load_where = where;
    lua_pushcfunction(s->L, load_msgh); /* a light function: allocates nothing */
    lua_pushcfunction(s->L, setup_p);
    lua_pushlightuserdata(s->L, s);
    int rc = lua_pcall(s->L, 1, 0, 1);
    int doomed = s->doom;
    script_slice_end(s);
    s->load_where = NULL;
    if (rc == LUA_OK) lua_pop(s->L, 1); /* the message handler */
    if (rc != LUA_OK) {
        char msg[1024];
        if (rc == LUA_ERRMEM && !doomed)
            snprintf(msg, sizeof msg, "%s: out of memory while loading (limit %zu KB)", path,
                     s->host.memory_limit / 1024);
        else if (doomed)
            err_read(s->L, -1, msg, sizeof msg, NULL); /* our own limit error */
        else
            script_error_read(s, s->L, -1, msg, sizeof msg, NULL, NULL);
        /* Errors raised as tables (limits, baton.error) carry no position:
         * add where the script raised it, else the file. */
        if (strncmp(msg, path, strlen(path)) == 0)
            snprintf(err, errlen, "%s", msg);
        else if (where[0])
            snprintf(err, errlen, "%s: %s", where, msg);
        else
            snprintf(err, errlen, "%s: %s", path, msg);
        script_unref(s);
        return rc == LUA_ERRMEM ? -ENOMEM : -EINVAL;
    }
    *out = s;
    return 0;
nomem:
    snprintf(err, errlen, "%s: out of memory", path);
    if (s) script_unref(s);
    return -ENOMEM;
}

int script_load(script_t **out, const char *path, const script_host_t *host, char *err,
                size_t errlen) {
    return create(out, path, host, 0, err, errlen);
}

int script_open(script_t **out, const char *name, const script_host_t *host, char *err,
                size_t errlen) {
    return create(out, name, host, 1, err, errlen);
}

int script_pcall(script_t *s, int nargs, int nresults) {
    lua_State *L = s->L;
    int base = lua_gettop(L) - nargs - 1;
    s->calling = 1;
    script_slice_begin(s, s->host.cpu_slice > 0 ? s->host.cpu_slice : 1e9);
    int rc = lua_pcall(L, nargs, nresults, 0);
    int doomed = s->doom;
    s->calling = 0;
    script_slice_end(s);
    if (doomed) {
        /* whatever the code made of it (caught, or returned anyway): a limit */
        lua_settop(L, base);
        script_push_doom(s, L, doomed);
        return LUA_ERRRUN;
    }
    return rc;
}

typedef struct error_read {
    char *msg;
    size_t len;
    err_kind_t kind;
    int retryable;
    double retry_after;
} error_read_t;

/* Under lua_pcall: (value, error_read_t *). */
static int error_read_p(lua_State *L) {
    error_read_t *a = lua_touserdata(L, 2);
    a->kind = err_read(L, 1, a->msg, a->len, &a->retryable);
    if (lua_istable(L, 1)) {
        lua_getfield(L, 1, "retry_after");
        if (lua_type(L, -1) == LUA_TNUMBER && lua_tonumber(L, -1) > 0)
            a->retry_after = lua_tonumber(L, -1);
    }
    return 0;
}

err_kind_t script_error_read(script_t *s, lua_State *L, int idx, char *msg, size_t len,
                             int *retryable, double *retry_after) {
    lua_State *M = s->L;
    error_read_t a = {msg, len, ERR_SCRIPT, 0, 0};
    /* What a slice running around this call had; restored after. */
    int in_slice = s->in_slice, doom = s->doom, calling = s->calling;
    uint64_t deadline = s->slice_deadline;
    idx = lua_absindex(L, idx);
    if (!lua_checkstack(M, 4) || !lua_checkstack(L, 1)) {
        snprintf(msg, len, "out of memory reading the error");
        a.kind = ERR_LIMIT;
        goto done;
    }
    lua_pushcfunction(M, error_read_p);
    lua_pushvalue(L, idx);
    if (L != M) lua_xmove(L, M, 1);
    lua_pushlightuserdata(M, &a);
    s->calling = 1;
    script_slice_begin(s, s->host.cpu_slice > 0 ? s->host.cpu_slice : 1.0);
    int rc = lua_pcall(M, 2, 0, 0);
    int doomed = s->doom;
    script_slice_end(s);
    if (rc != LUA_OK) {
        lua_pop(M, 1);
        a.retryable = 0;
        a.retry_after = 0;
        if (doomed) {
            script_push_doom(s, M, doomed);
            a.kind = err_read(M, -1, msg, len, NULL); /* our own value: plain fields */
            lua_pop(M, 1);
        } else {
            a.kind = ERR_SCRIPT;
            snprintf(msg, len,
                     "the error value could not be read: its metamethods raised an "
                     "error");
        }
    }
done:
    s->in_slice = in_slice;
    s->doom = doom;
    s->calling = calling;
    s->slice_deadline = deadline;
    if (retryable) *retryable = a.retryable;
    if (retry_after) *retry_after = a.retry_after;
    return a.kind;
}

void script_slice_renew(lua_State *L) {
    script_t *s = script_of(L);
    if (s->in_slice && !s->doom)
        s->slice_deadline =
            uv_hrtime() + (uint64_t)((s->host.cpu_slice > 0 ? s->host.cpu_slice : 1e9) * 1e9);
}

void script_ref(script_t *s) { s->refs++; }

void script_unref(script_t *s) {
    if (!s || --s->refs > 0) return;
    if (s->L) {
        s->mem_limit = 0;
        lua_close(s->L);
    }
    free(s->path);
    free(s->lib_dir);
    free(s);
}

const script_host_t *script_host(lua_State *L) { return &script_of(L)->host; }

double script_random(lua_State *L) {
    script_t *s = script_of(L);
    /* xorshift64*, seeded per state from the clock */
    if (!s->rng) s->rng = uv_hrtime() | 1;
    s->rng ^= s->rng >> 12;
    s->rng ^= s->rng << 25;
    s->rng ^= s->rng >> 27;
    return (double)((s->rng * 2685821657736338717ULL) >> 11) / 9007199254740992.0;
}

lua_State *script_state(script_t *s) { return s->L; }
const char *script_path(const script_t *s) { return s->path; }
size_t script_memory(const script_t *s) { return s->mem_used; }

void script_push_defs(script_t *s) { lua_rawgeti(s->L, LUA_REGISTRYINDEX, s->defs_ref); }
