/* console.h — the console socket server on the engine's loop (a unix socket,
 * mode 0600, newline-delimited JSON: {"chunk": "..."} in, one reply line out,
 * a Lua state per connection; see console_eval.h) and the `baton console`
 * client (-e CHUNK, an interactive libedit prompt, or chunks piped on stdin). */
#ifndef BATON_CONSOLE_H
#define BATON_CONSOLE_H

#include <lua.h>
#include <stddef.h>
#include <stdio.h>
#include <uv.h>

#include "conf/conf.h"
#include "console_eval.h"

enum {
    CONSOLE_MAX_LINE = 1 << 20, /* a request line past this is refused and its connection closed */
    CONSOLE_MAX_CLIENTS = 64    /* sessions at once; more are refused with an error reply */
};

typedef struct console console_t;

/* Parses one request line (without its newline): a JSON object with a string
 * "chunk". Returns 0 with a malloc'd copy in *chunk (caller frees) and its
 * length, or -EINVAL with a one-line reason in err. */
int console_request_parse(const char *line, size_t len, char **chunk, size_t *chunk_len, char *err,
                          size_t errlen);

/* Whether chunk is an unfinished statement that more lines may complete (as
 * the lua REPL decides: neither it nor `return CHUNK` compiles, and the
 * syntax error is at <eof>). L is any plain state, used to compile only. */
int console_chunk_incomplete(lua_State *L, const char *chunk, size_t len);

/* Listens on path (the socket file, created 0600) on loop; env is copied.
 * A stale socket file (nothing accepts on it) is replaced; one a live
 * process listens on, a path that is not a socket, too long or in a missing
 * directory is an error: returns a negative code with one line naming the
 * path in err. */
int console_start(console_t **out, uv_loop_t *loop, const char *path, const console_env_t *env,
                  char *err, size_t errlen);

/* From a loop callback at shutdown: stops listening, closes every session
 * (their states are closed in the close callbacks) and removes the socket
 * file. NULL is a no-op. */
void console_stop(console_t *c);

/* After uv_run has returned: frees c (stopping it first if needed). NULL is a
 * no-op. */
void console_free(console_t *c);

/* `baton console [-e CHUNK]`: connects to conf's console socket and runs one
 * chunk (chunk != NULL), an interactive session (stdin a tty) or the chunks
 * piped on stdin. Returns the exit code: 0, 1 when a chunk failed, 3 when no
 * engine listens or it went away. */
int console_client(const conf_t *conf, const char *chunk);

#endif
