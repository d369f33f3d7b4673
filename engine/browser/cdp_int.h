/* cdp_int.h — between cdp.c and its transports (the pipe lives in cdp.c, the
 * WebSocket in cdp_ws.c). Not for other modules. */
#ifndef BATON_CDP_INT_H
#define BATON_CDP_INT_H

#include "cdp.h"

typedef struct cdp_transport {
    /* Queues one message (len bytes, no terminator). Returns 0 or a negative code. */
    int (*write)(cdp_t *c, const char *msg, size_t len);
    /* Starts closing the transport's handles; it calls cdp_transport_gone
     * exactly once when every handle's close callback has run. */
    void (*close)(cdp_t *c);
} cdp_transport_t;

/* Makes a connection object over a transport; tp_state is the transport's. */
cdp_t *cdp_alloc(uv_loop_t *loop, vclock_t *clock, const cdp_hooks_t *hooks,
                 const cdp_transport_t *tp, void *tp_state);
void *cdp_tp_state(cdp_t *c);
uv_loop_t *cdp_loop(cdp_t *c);

/* A complete message arrived (JSON text, not NUL-terminated). */
void cdp_transport_message(cdp_t *c, const char *msg, size_t len);

/* The peer went away (EOF, error, refused): pending calls fail with
 * browser_crashed and on_close fires (unless cdp_close was called). */
void cdp_transport_dropped(cdp_t *c, const char *why);

/* The transport's handles are all closed: the connection's memory goes. */
void cdp_transport_gone(cdp_t *c);

#endif
