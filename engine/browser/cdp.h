/* cdp.h — one Chrome DevTools Protocol connection: request ids, pending calls
 * with per-call timeouts, events routed by flattened session id, over one of
 * two transports (the NUL-framed pipe of a browser the engine launched, or a
 * WebSocket to a remote endpoint). Owns its transport handles. */
#ifndef BATON_CDP_H
#define BATON_CDP_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "script/err.h"
#include "base/vclock.h"

typedef struct cdp cdp_t;

/* How a call failed. kind is ERR_BROWSER_CRASHED when the connection dropped,
 * ERR_TIMEOUT when the call's timeout passed, ERR_NONE for an error answered by
 * the browser (code and message from its "error" object). */
typedef struct cdp_error {
    err_kind_t kind;
    int code;
    const char *message;
} cdp_error_t;

/* A reply: result is the "result" object (borrowed, valid during the call)
 * when err is NULL. Fires exactly once per cdp_send that returned 0, unless
 * the call was forgotten first. */
typedef void (*cdp_reply_cb)(void *ud, const cJSON *result, const cdp_error_t *err);

typedef struct cdp_hooks {
    /* An event; session is NULL for the browser-level session. */
    void (*on_event)(void *ud, const char *session, const char *method, const cJSON *params);
    /* The connection dropped or was refused (EOF, write error, garbage past
     * repair). Fires at most once, before the pending calls fail (they fail
     * right after it returns, if it did not close the connection). Never
     * fires for cdp_close. */
    void (*on_close)(void *ud, const char *why);
    void *ud;
    /* A call on session (NULL: the browser's) got no answer within its
     * timeout: the target may be hung. Fires just before that call fails with
     * ERR_TIMEOUT. May be NULL. */
    void (*on_timeout)(void *ud, const char *session);
} cdp_hooks_t;

/* A pipe connection for a browser about to be launched: fills stdio[0] and
 * stdio[1] with the containers for the child's fds 3 (it reads commands) and 4
 * (it writes replies and events). Call cdp_start once the child runs. */
int cdp_pipe_new(cdp_t **out, uv_loop_t *loop, vclock_t *clock, const cdp_hooks_t *hooks,
                 uv_stdio_container_t stdio[2]);

/* Starts reading a pipe connection (after uv_spawn succeeded). */
int cdp_start(cdp_t *c);

/* A WebSocket connection to url ("ws://host:port/devtools/browser/..."), on
 * the engine's loop. Connecting is asynchronous: calls sent meanwhile are
 * queued; a refused connection fails them and fires on_close. */
int cdp_ws_new(cdp_t **out, uv_loop_t *loop, vclock_t *clock, const cdp_hooks_t *hooks,
               const char *url);

/* Sends method with params (taken over, may be NULL) on session (NULL: the
 * browser). timeout in seconds (<= 0: none). On success returns 0 and, when id
 * is not NULL, the call's id for cdp_forget. Fails only when the connection is
 * closed (-EPIPE) or memory runs out (-ENOMEM); cb does not fire then. */
int cdp_send(cdp_t *c, const char *session, const char *method, cJSON *params, double timeout,
             cdp_reply_cb cb, void *ud, uint64_t *id);

/* Drops a pending call: its callback will never fire. A no-op if it is gone. */
void cdp_forget(cdp_t *c, uint64_t id);

/* Fails every pending call on session with kind and message (a crashed
 * target's calls will never be answered). */
void cdp_fail_session(cdp_t *c, const char *session, err_kind_t kind, const char *message);

/* Calls still waiting for their reply. */
size_t cdp_pending(const cdp_t *c);

/* Closes the connection: pending calls fail with ERR_BROWSER_CRASHED
 * ("connection closed"), handles close, memory is freed in their close
 * callbacks. on_close does not fire. */
void cdp_close(cdp_t *c);

/* The libwebsockets context shared by every WebSocket connection is created
 * on first use. At shutdown call cdp_ws_shutdown from a loop callback, let
 * uv_run return, then cdp_ws_free (the two phases docs/platform-notes.md describes). */
void cdp_ws_shutdown(void);
void cdp_ws_free(void);

#endif
