/* script.h — one Lua state per script file: the sandboxed environment, the
 * memory limit (allocator) and CPU slice (count hook), loading with the job
 * DSL (script.c), the bridge that runs job functions as coroutines which yield
 * to the loop and are resumed by libuv callbacks (script_co.c), and the
 * primitives behind baton.* (baton_lib.c). */
#ifndef BATON_SCRIPT_H
#define BATON_SCRIPT_H

#include <lauxlib.h>
#include <lua.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "store/store.h"
#include "base/vclock.h"

/* The largest script or module file the engine reads (docs/jobs.md). */
#define SCRIPT_MAX_BYTES (1024 * 1024)

typedef struct script script_t;
typedef struct script_co script_co_t;

/* What the engine lends every script state. Upward calls go through these
 * function pointers; any may be NULL (then the primitive raises a clear error). */
typedef struct script_host {
    vclock_t *clock;             /* time and waits; required */
    store_t *store;              /* ctx.store / baton.store; NULL in check/plan */
    struct circuits *circuits;   /* baton.breaker; NULL in check/plan */
    struct retry_budget *budget; /* caps baton.retry too; NULL = uncapped */
    struct httpc *httpc;         /* baton.http (net/httpc.h); NULL: no network here */
    struct http_fake *http_fake; /* baton test: baton.http's fixtures (net/http_fake.h) */
    const char *lua_dir;         /* the engine's lua/ library (prelude, require path) */
    const char *lib_dir;         /* modules for require; NULL: lib/ beside the script */
    size_t memory_limit;         /* bytes per state; 0 = unlimited */
    double cpu_slice;            /* seconds per resume; 0 = unlimited */
    int dry_run;                 /* ctx.dry_run */
    unsigned long fault_at;      /* tests only: fail the Nth and later allocations; 0 = never */
    /* baton.trigger(job, args_json): 0, or a negative code with a message in err. */
    int (*trigger)(void *ud, const char *job, const char *args_json, char *err, size_t len);
    void *ud;
    /* Adds more primitives to the table the prelude receives (on top of the
     * stack when called); may be NULL. The browser pages come in this way. */
    void (*open_prims)(lua_State *L, void *prims_ud);
    void *prims_ud;
} script_host_t;

/* Lends every state created after this call the C functions of `fns` among
 * the primitives its prelude receives: how a module above script/ binds into
 * baton.* without script/ including it (run/run_lua.c: the breakers and the
 * retry budget, reached through the host). fns is kept, not copied (a static
 * table); call at start-up, before the first script_load. Lending a table
 * again is a no-op. Returns 0, or -ENOSPC past SCRIPT_LENT_MAX tables. */
enum { SCRIPT_LENT_MAX = 4 };
int script_lend(const luaL_Reg *fns);

/* For primitives: the host the state of L was created with. */
const script_host_t *script_host(lua_State *L);

/* For primitives: the duration at idx in seconds — a number >= 0 or text such
 * as "250ms", "5s", "2m" — or raises the `script` error naming `what`. */
double script_check_duration(lua_State *L, int idx, const char *what);

/* For primitives: a uniform number in [0, 1) from the state's own generator
 * (seeded from the clock on first use: not reproducible, for jitter). */
double script_random(lua_State *L);

/* How a coroutine ended. The message is a copy owned by the outcome. */
typedef struct script_outcome {
    int ok;          /* 1: returned normally */
    err_kind_t kind; /* when !ok */
    int retryable;
    double retry_after; /* seconds the error asks to wait before a retry; 0 = none */
    char message[1024];
    char *result_json; /* ok: JSON of the first returned value (NULL for nil); malloc'd */
    int page_no;       /* the pooled page the co used; 0 = none */
} script_outcome_t;

/* Called once when a coroutine finishes (returns, fails, or is cancelled).
 * The co is freed right after this returns; `out` is valid only during it. */
typedef void (*script_done_cb)(script_co_t *co, script_outcome_t *out, void *ud);

/* Creates a state for the script at `path` (chunk name = path), loads the
 * prelude and runs the file. Returns 0 and *out, or a negative code with
 * "file:line: message" in err (a state is not created then). */
int script_load(script_t **out, const char *path, const script_host_t *host, char *err,
                size_t errlen);

/* Creates a state with exactly script_load's sandbox, prelude and limits that
 * runs no file (the console's); `name` stands for the path in log lines.
 * Returns 0 and *out, or a negative code with a message in err. */
int script_open(script_t **out, const char *name, const script_host_t *host, char *err,
                size_t errlen);

/* Calls the function below the nargs values on top of s's stack as lua_pcall
 * does (nresults may be LUA_MULTRET), under the CPU slice and memory limit:
 * code that runs past either is stopped — even if it catches the error — and
 * the call fails with the `limit` error value. Returns the lua_pcall status,
 * with the error value on the stack on failure. Not yieldable; call it from C,
 * never from inside the same state's Lua. */
int script_pcall(script_t *s, int nargs, int nresults);

/* Reads the error value at idx of L (s's state or one of its threads) as
 * err_read does — kind, message, retryable and a positive retry_after (either
 * may be NULL) — but in protected mode, on the state's main thread, under a
 * CPU slice of its own: a script's error value whose metamethods raise reads
 * as a `script` error, one whose metamethods loop as `limit`. Never raises;
 * leaves L's stack as it was. */
err_kind_t script_error_read(script_t *s, lua_State *L, int idx, char *msg, size_t len,
                             int *retryable, double *retry_after);

/* Restarts the CPU slice of the script_pcall or resume running in L: for
 * primitives whose time is the engine's (a reload, a test's advance), not
 * the script's. */
void script_slice_renew(lua_State *L);

/* Takes and drops a reference; the state is closed when the last one goes
 * (the loader holds one; every running coroutine holds one). */
void script_ref(script_t *s);
void script_unref(script_t *s);

lua_State *script_state(script_t *s);
const char *script_path(const script_t *s);

/* Memory in use by the state, in bytes. */
size_t script_memory(const script_t *s);

/* Pushes the list of job definitions collected while loading: an array of
 * {name, file, line, spec}. */
void script_push_defs(script_t *s);

/* What a run tells its coroutine: the fields of ctx, and for a fallback the
 * error it receives as second argument. */
typedef struct script_run_info {
    const char *job;
    int64_t run_id;
    int attempt;
    double scheduled_at, deadline;
    const char *args_json; /* NULL, or JSON for ctx.args */
    err_kind_t err_kind;   /* != ERR_NONE: call fn(ctx, err) with this error */
    const char *err_message;
    int priority;        /* the job's: 0 critical … 3 low (browser waiters queue by it) */
    const char *session; /* NULL, or the job's browser session name */
    /* downloads: the job's limits, both 0 when it may not download */
    size_t download_max_bytes;
    int download_max_files;
} script_run_info_t;

/* Starts the function at registry ref fn_ref as a coroutine called with a ctx
 * built from info. Runs it until it first waits or ends. Returns the co while
 * it waits (valid until done fires), or NULL when it already ended: done has
 * then been called before this returns. */
script_co_t *script_co_start(script_t *s, int fn_ref, const script_run_info_t *info,
                             script_done_cb done, void *ud);

/* Cancels a suspended co: its pending wait is disarmed, its thread reset, and
 * done fires with !ok and `kind`. A no-op on a finished co. */
void script_co_cancel(script_co_t *co, err_kind_t kind, const char *message);

/* For yielding primitives (C functions called from a run): the co currently
 * running in L's state, or NULL when not inside a run (check first). */
script_co_t *script_co_running(lua_State *L);

/* Suspends the running co until script_co_wake. `cancel` (may be NULL) is
 * called if the co is cancelled while waiting, to disarm the operation.
 * Use as `return script_co_wait(L, co, cancel, op);` from a lua_CFunction. */
int script_co_wait(lua_State *L, script_co_t *co, void (*cancel)(void *op), void *op);

/* script_co_wait with a continuation: when the co is woken, k(L, LUA_YIELD,
 * ctx) runs in the co (under its CPU slice and memory limit, so what it
 * pushes may be large) with the woken values on top of the primitive's own
 * stack, and answers for the primitive. Use as `return script_co_waitk(…);`. */
int script_co_waitk(lua_State *L, script_co_t *co, void (*cancel)(void *op), void *op,
                    lua_KFunction k, lua_KContext ctx);

/* Resumes a waiting co with the nres values already pushed on its thread
 * (script_co_thread). Must be called from a loop callback, never from Lua. */
void script_co_wake(script_co_t *co, int nres);
lua_State *script_co_thread(script_co_t *co);

/* The co's job name and run id (for log lines), priority and browser session
 * ("" for none). */
const char *script_co_job(const script_co_t *co);
int64_t script_co_run_id(const script_co_t *co);
int script_co_priority(const script_co_t *co);
const char *script_co_session(const script_co_t *co);
/* What the co's job may download: 0 when it may not, else 1 with its limits. */
int script_co_downloads(const script_co_t *co, size_t *max_bytes, int *max_files);

/* Registers fn to run when the co ends, however it ends (before the done
 * callback, with the outcome); at most 4 per co. Returns 0 or -ENOSPC. */
int script_co_defer(script_co_t *co, void (*fn)(void *ud, const script_outcome_t *out), void *ud);

/* Notes the pooled page the co uses (reported in its outcome). */
void script_co_set_page(script_co_t *co, int page_no);

#endif
