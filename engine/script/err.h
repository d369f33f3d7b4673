/* err.h — the error kinds of docs/design.md §Errors and the categorized error values
 * scripts see: a table {kind, message, retryable, ...fields} whose
 * metatable prints as "kind: message". */
#ifndef BATON_ERR_H
#define BATON_ERR_H

#include <lua.h>
#include <stddef.h>

typedef enum {
    ERR_NONE = 0,
    ERR_TIMEOUT,
    ERR_NETWORK,
    ERR_HTTP,
    ERR_RATE_LIMITED,
    ERR_AUTH,
    ERR_BROWSER_CRASHED,
    ERR_NOT_FOUND,
    ERR_SCRIPT,
    ERR_CANCELLED,
    ERR_BREAKER_OPEN,
    ERR_POOL_TIMEOUT,
    ERR_DEPENDENCY,
    ERR_LIMIT,
    ERR_OVERLAP,
    ERR_PAUSED,
    ERR_MISFIRE,
    ERR_KIND_COUNT
} err_kind_t;

/* "timeout", "rate_limited" …; "" for ERR_NONE. */
const char *err_kind_name(err_kind_t kind);

/* Looks a kind up by name. Returns 0 or -EINVAL. */
int err_kind_parse(const char *name, err_kind_t *kind);

/* Whether a kind is retried by default (docs/design.md §Errors); http counts as
 * retryable only for a 5xx status. */
int err_kind_retryable(err_kind_t kind, int http_status);

/* Pushes a new error value of `kind` with `message` onto L. Raises a memory
 * error only when L cannot allocate. */
void err_push(lua_State *L, err_kind_t kind, const char *message);

/* Pushes an error value and raises it (never returns). */
int err_raise(lua_State *L, err_kind_t kind, const char *fmt, ...);

/* Reads the error value at idx: a table with a known `kind` keeps it (and its
 * message); anything else is kind script, its message from tostring (Lua
 * runtime errors already carry "file:line:"). Copies the message into msg and
 * writes retryable to *retryable when not NULL. */
err_kind_t err_read(lua_State *L, int idx, char *msg, size_t len, int *retryable);

/* Registers the error metatable in L's registry (call once per state). */
void err_open(lua_State *L);

/* The C function behind baton.error(kind, message [, fields]). */
int err_l_error(lua_State *L);

#endif
