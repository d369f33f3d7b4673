/* script_int.h — what the files of script/ share and nobody else sees: the
 * state and coroutine structures, the CPU slice, the limit errors and the mark
 * engine waits yield. script.c owns states and limits, script_co.c the
 * coroutine bridge, baton_lib.c the primitives the prelude receives. */
#ifndef BATON_SCRIPT_INT_H
#define BATON_SCRIPT_INT_H

#include <lua.h>
#include <stdint.h>

#include "script.h"

/* Why the running code must stop with the `limit` error, even if it catches it. */
enum { SCRIPT_DOOM_NONE, SCRIPT_DOOM_MEMORY, SCRIPT_DOOM_CPU };

enum { SCRIPT_WHERE_MAX = 512 }; /* bytes of script_t.load_where */

struct script {
    lua_State *L;
    char *path;
    char *lib_dir; /* scripts/lib next to the script, or host.lib_dir */
    script_host_t host;
    int refs;
    size_t mem_used;
    size_t mem_limit;        /* 0 while not enforced */
    unsigned long allocs;    /* counted for host.fault_at */
    uint64_t rng;            /* script_random's state; 0 until first used */
    int in_slice;            /* a resume, a script_pcall (or the load) is running */
    int calling;             /* inside script_pcall: a memory failure dooms the call */
    int no_file;             /* script_open: the prelude only */
    uint64_t slice_deadline; /* uv_hrtime() */
    int doom;                /* SCRIPT_DOOM_*: the running code must stop with `limit` */
    char *load_where;        /* while loading: file:line of a raise without one */
    script_co_t *running;
    int defs_ref, start_run_ref;
    int doom_mem_ref, doom_cpu_ref; /* pre-built limit errors: raising them allocates nothing */
};

struct script_co {
    script_t *s;
    lua_State *T;
    int thread_ref;
    int waiting;
    void (*cancel)(void *op);
    void *op;
    vtimer_t sleep; /* baton.sleep's wait */
    script_done_cb done;
    void *ud;
    char job[128];
    int64_t run_id;
    int priority;
    char session[64];
    size_t download_max_bytes; /* 0: the run may not download */
    int download_max_files;
    int page_no;
    int ndefer;
    struct {
        void (*fn)(void *ud, const script_outcome_t *out);
        void *ud;
    } defer[4];
};

/* Engine waits yield this address (script_co_wait); nothing a script can
 * reach holds it, so a script's own yields are told apart from the engine's. */
extern const char script_yield_mark;

/* The state a lua_State (or any of its threads) belongs to. */
static inline script_t *script_of(lua_State *L) { return *(script_t **)lua_getextraspace(L); }

/* Opens a CPU slice of `seconds` for the code about to run in s (clearing any
 * doom); script_slice_end closes it and re-arms the sparse count hook. */
void script_slice_begin(script_t *s, double seconds);
void script_slice_end(script_t *s);

/* For C functions whose work is the script's (the pattern matcher, the
 * bounded library functions): raises the `limit` error, as the count hook
 * does, when the running slice is spent or doomed; returns otherwise. */
void script_slice_check(lua_State *L);

/* Gives thread T (of s) the count hook every state's code runs under: for a
 * thread about to run code outside a resume (closing it). */
void script_hook_thread(script_t *s, lua_State *T);

/* Pushes onto L the pre-built limit error for doom (SCRIPT_DOOM_CPU or
 * SCRIPT_DOOM_MEMORY); allocates nothing. */
void script_push_doom(script_t *s, lua_State *L, int doom);

/* Pushes a new table of the baton.* primitives the prelude receives, with
 * `mark` (script_yield_mark) and `json_null`. May raise (memory). */
void baton_lib_open(lua_State *L);

#endif
