/* httpc.h — the engine's HTTP client: one libcurl multi handle driven by the
 * libuv loop (multi-socket: a uv_poll per socket, one uv_timer), so nothing
 * blocks the loop and connections are reused across runs. Owns the multi
 * handle, its polls and timer, and every request in flight. */
#ifndef BATON_HTTPC_H
#define BATON_HTTPC_H

#include <stddef.h>
#include <uv.h>

typedef struct httpc httpc_t;
typedef struct httpc_req httpc_req_t;

/* How a request ended: HTTPC_OK with an HTTP status (any status), or why no
 * whole answer came. */
typedef enum {
    HTTPC_OK,
    HTTPC_NETWORK, /* DNS, refused, reset, TLS, a cut answer, too many redirects */
    HTTPC_TIMEOUT,
    HTTPC_LIMIT,  /* the body passed max_bytes (or the headers their own cap) */
    HTTPC_REFUSED /* the request itself was refused (a non-http URL, a bad option) */
} httpc_outcome_t;

/* "network", "timeout", "limit", "refused"; "ok". */
const char *httpc_outcome_name(httpc_outcome_t o);

typedef struct httpc_header {
    const char *name; /* lower case */
    const char *value;
} httpc_header_t;

typedef struct httpc_result {
    httpc_outcome_t outcome;
    long status;      /* the last answer's HTTP status; 0 when none came */
    const char *body; /* NUL-terminated; len bytes (what came, up to max_bytes) */
    size_t len;
    const httpc_header_t *headers; /* the last answer's, in order */
    size_t nheaders;
    const char *url;   /* where the answer came from (after redirects) */
    const char *error; /* what went wrong; "" when outcome is HTTPC_OK */
    double ms;         /* from httpc_request to the end */
} httpc_result_t;

/* Called once per request, on the loop, unless the request is cancelled; the
 * result lives for the call only. It may start and cancel other requests,
 * never the one it reports. */
typedef void (*httpc_done_fn)(void *ud, const httpc_result_t *res);

/* The client's limits and defaults (engine.conf's http_client). */
typedef struct httpc_conf {
    int max_connections; /* open connections in all; 0: no cap */
    int max_per_host;    /* to one host; 0: no cap */
    double timeout;      /* seconds a request may take when it names none; 0: none */
    size_t max_bytes;    /* body bytes when a request names none; 0: no cap */
    const char *proxy;   /* NULL or "": none (the environment's proxy variables are ignored) */
    const char *ca_file; /* NULL: the system's CA store */
} httpc_conf_t;

typedef struct httpc_opts {
    const char *method;         /* NULL: GET; HEAD asks for no body */
    const char *url;            /* http:// or https:// only */
    const char *const *headers; /* "Name: value" lines */
    size_t nheaders;
    const char *body; /* NULL: none */
    size_t body_len;
    double timeout;    /* seconds; 0: the client's */
    size_t max_bytes;  /* 0: the client's */
    int follow;        /* follow redirects (to http and https only, at most 10) */
    const char *proxy; /* NULL: the client's; "": none */
} httpc_opts_t;

/* Observes every request that ends (not cancelled ones): the metrics hook. */
typedef void (*httpc_observe_fn)(void *ud, const httpc_opts_t *o, const httpc_result_t *res);

/* Whether the libcurl linked resolves names without blocking (AsynchDNS). */
int httpc_async_dns(void);

/* A client on loop with conf (copied; NULL: no limits). Returns 0 and *out, or
 * -ENOMEM / -EIO (libcurl would not start). Nothing is put on the loop until
 * the first request. */
int httpc_new(httpc_t **out, uv_loop_t *loop, const httpc_conf_t *conf);

/* Sets the function told of every request that ends; fn may be NULL. */
void httpc_observe(httpc_t *c, httpc_observe_fn fn, void *ud);

/* Starts a request; done comes on a later loop turn. Returns 0 and *out, or
 * -EINVAL with a reason in err (a URL that is not http/https, a header line
 * without a colon or with a line break), -ENOMEM, or -ESHUTDOWN after
 * httpc_shutdown; done is never called then. */
int httpc_request(httpc_t *c, const httpc_opts_t *o, httpc_done_fn done, void *ud,
                  httpc_req_t **out, char *err, size_t errlen);

/* Drops a request in flight: its done is never called. */
void httpc_cancel(httpc_t *c, httpc_req_t *r);

/* Requests in flight. */
size_t httpc_inflight(const httpc_t *c);

/* Cancels what is in flight (no callbacks), lets libcurl close its
 * connections and closes the loop handles; the loop's owner runs the loop's
 * last turns before httpc_free. Idempotent. */
void httpc_shutdown(httpc_t *c);

/* Frees the client (after httpc_shutdown and the loop's last turns; calls
 * httpc_shutdown itself if it was not). NULL is a no-op. */
void httpc_free(httpc_t *c);

#endif
