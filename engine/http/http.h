/* http.h — the engine's HTTP server: libwebsockets on the engine's own libuv
 * loop (a foreign loop), serving the health report, Prometheus metrics, the
 * job/run API, the dashboard and the /api/events WebSocket. It reads engine
 * state through health.h / metrics.h and changes it only through sched_trigger,
 * sched_pause and circuits_reset. */
#ifndef BATON_HTTP_H
#define BATON_HTTP_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <uv.h>

#include "obs/health.h"
#include "obs/obs.h"

/* The browser pool's figures (see obs.h): a pool plugs in by registering an
 * http_pool_fn through http_opts_t.pool; with none, every figure is zero. */
typedef obs_pool_t http_pool_figures_t;
typedef obs_pool_fn http_pool_fn;

enum { HTTP_MAX_BODY = 4096 }; /* request bodies past this get 413 */

typedef struct http_opts {
    const char *listen; /* "HOST:PORT"; port 0 picks a free one */
    const char *token;  /* NULL or "" = none: mutating endpoints loopback-only */
    health_src_t src;   /* what the documents read (src.obs also feeds events) */
    http_pool_fn pool;  /* NULL: no pool yet */
    void *pool_ud;
    /* POST /api/reload; NULL answers 501. Fills `answer` (a JSON object) and
     * returns 0 when the reload took effect (200), < 0 when it was refused and
     * the previous scripts keep running (422; answer has "error"), -ESHUTDOWN
     * while the engine shuts down (503). */
    int (*reload)(void *ud, cJSON *answer);
    void *reload_ud;
    /* GET /demo/...: static files from this directory (the demo site the
     * shipped scripts browse); NULL or a missing directory: 404. */
    const char *demo_dir;
} http_opts_t;

typedef struct http http_t;

/* Parses "HOST:PORT" (HOST may be empty or "*" for every address). Returns 0
 * or -EINVAL. host gets "" for every address. */
int http_parse_listen(const char *listen, char *host, size_t hostlen, int *port);

/* 1 when the Host header value host ("name", "name:port", "[v6]:port") names
 * this server as a local client would: localhost, a 127.0.0.0/8 address, ::1,
 * or listen_host (the HOST of http.listen; "" for every address). */
int http_host_is_ours(const char *host, const char *listen_host);

/* Whether path matches a route pattern. A pattern is a path, where one '*'
 * stands for one non-empty segment (no '/', shorter than len), copied into
 * name ("/api/jobs/" "*" "/run"); a pattern ending in "/" "**" matches the
 * path before it and every path beneath it. name gets "" when the pattern has
 * no single '*'. Returns 1 on a match, else 0. */
int http_path_match(const char *pattern, const char *path, char *name, size_t len);

/* Creates the server on loop and starts listening; logs
 * "http: listening on HOST:PORT" with the port actually bound. Returns 0, or
 * a negative code with a one-line message in err (bad address, port in use). */
int http_start(http_t **out, uv_loop_t *loop, const http_opts_t *opts, char *err, size_t errlen);

/* The port actually bound. */
int http_port(const http_t *h);

/* First phase of shutdown, from a uv callback: closes every connection and
 * starts closing lws's handles on the loop. No callback reaches the engine
 * afterwards. NULL is a no-op. */
void http_stop(http_t *h);

/* Second phase, after uv_run has returned: frees the context and h. Safe
 * without http_stop (it stops first). NULL is a no-op. */
void http_free(http_t *h);

#endif
