/* console_eval.h — one console session's Lua state: made with the scripts'
 * sandbox (script_open: the same environment, memory limit and CPU slice),
 * with print captured and the helpers of lua/console.lua on C bindings that
 * read and act on the engine through health.h, sched.h and circuit.h. */
#ifndef BATON_CONSOLE_EVAL_H
#define BATON_CONSOLE_EVAL_H

#include <cJSON.h>
#include <stddef.h>

#include "obs/health.h"
#include "script/script.h"

/* What sessions read and act on; borrowed for the sessions' lifetime. */
typedef struct console_env {
    health_src_t src; /* jobs(), health() …; sched and circuits also take run/pause/reset */
    const script_host_t *host; /* the sandbox (lua_dir, limits, store, clock) */
    /* reload(): as http_opts_t.reload; NULL: reload() raises an error. */
    int (*reload)(void *ud, cJSON *answer);
    void *reload_ud;
} console_env_t;

typedef struct console_eval console_eval_t;

/* Creates a session state and loads lua/console.lua into it. Returns 0 and
 * *out, or a negative code with a one-line message in err. */
int console_eval_new(console_eval_t **out, const console_env_t *env, char *err, size_t errlen);

/* Evaluates chunk as the lua REPL does (`return CHUNK` first, so an
 * expression shows its value; chunk name "console"), within the limits.
 * Returns the reply {ok, out, values} or {ok = false, out, error}; NULL only
 * when out of memory. The caller deletes it. */
cJSON *console_eval_chunk(console_eval_t *ev, const char *chunk, size_t len);

/* Closes the state. NULL is a no-op. */
void console_eval_free(console_eval_t *ev);

#endif
