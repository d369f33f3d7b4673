/* cdp_ws.c — the WebSocket transport of cdp.c: a libwebsockets client on the
 * engine's libuv loop (one lws context for the process), with discovery of
 * the browser's WebSocket URL through /json/version for http:// endpoints. */
#include <uv.h> /* before libwebsockets.h, or lws builds without its libuv glue */

#include <libwebsockets.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cdp_int.h"
#include "base/log.h"

enum { MAX_MESSAGE = 256 << 20, MAX_DISCOVERY = 64 << 10, RX_BUFFER = 64 << 10 };

typedef struct ws_out {
    struct ws_out *next;
    size_t len;
    unsigned char data[]; /* LWS_PRE bytes of headroom, then the message */
} ws_out_t;

typedef struct ws_url {
    char host[256];
    char path[1024];
    int port, tls;
} ws_url_t;

/* One connection. Every wsi that points here (opaque user data) is in http
 * or ws; it is detached the moment lws reports it closed, so lws never hands
 * back a pointer to freed memory. The state is freed when closing is set and
 * neither wsi nor the timer is left. */
typedef struct ws_tp {
    cdp_t *c;
    struct lws *http; /* GET /json/version, for http:// endpoints */
    struct lws *ws;   /* the WebSocket, connecting or open */
    uv_timer_t timer; /* reports a failure from a plain loop callback */
    ws_url_t target;
    char endpoint[512];    /* the URL as configured, for messages */
    ws_out_t *head, *tail; /* written one per CLIENT_WRITEABLE */
    char *in;              /* the incoming message being reassembled */
    size_t in_len, in_cap;
    char *doc; /* the /json/version answer */
    size_t doc_len, doc_cap;
    char why[640];
    int reached;    /* the current connect got as far as its handshake */
    int discovered; /* target holds the browser's WebSocket URL */
    int established, failed, closing, timer_open, connect_error;
} ws_tp_t;

static struct lws_context *ctx;
static uv_loop_t *ctx_loop;
static int ctx_destroying;

/* ---- helpers ---- */

static int parse_url(const char *url, ws_url_t *u, char *err, size_t errlen) {
    const char *p;
    int tls;
    if (!strncmp(url, "ws://", 5) || !strncmp(url, "http://", 7))
        tls = 0;
    else if (!strncmp(url, "wss://", 6) || !strncmp(url, "https://", 8))
        tls = 1;
    else {
        snprintf(err, errlen, "endpoint %s: not a ws://, wss://, http:// or https:// URL", url);
        return -EINVAL;
    }
    p = strstr(url, "://") + 3;
    size_t hl = strcspn(p, ":/?#");
    if (hl == 0 || hl >= sizeof u->host) {
        snprintf(err, errlen, "endpoint %s: no host", url);
        return -EINVAL;
    }
    memcpy(u->host, p, hl);
    u->host[hl] = 0;
    p += hl;
    u->tls = tls;
    u->port = tls ? 443 : 80;
    if (*p == ':') {
        char *end;
        long port = strtol(p + 1, &end, 10);
        if (end == p + 1 || port <= 0 || port > 65535 || (*end && *end != '/')) {
            snprintf(err, errlen, "endpoint %s: bad port", url);
            return -EINVAL;
        }
        u->port = (int)port;
        p = end;
    }
    if (snprintf(u->path, sizeof u->path, "%s", *p == '/' ? p : "/") >= (int)sizeof u->path) {
        snprintf(err, errlen, "endpoint %s: path too long", url);
        return -EINVAL;
    }
    return 0;
}

/* Reports a failure once, from the timer: never from inside cdp_ws_new or an
 * lws callback, so the owner's on_close may close or reconnect freely. */
static void on_fail_timer(uv_timer_t *h) {
    ws_tp_t *t = h->data;
    cdp_transport_dropped(t->c, t->why);
}

static void fail(ws_tp_t *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(ws_tp_t *t, const char *fmt, ...) {
    if (t->failed || t->closing) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->why, sizeof t->why, fmt, ap);
    va_end(ap);
    t->failed = 1;
    uv_timer_start(&t->timer, on_fail_timer, 0, 0);
}

static void free_state(ws_tp_t *t) {
    while (t->head) {
        ws_out_t *o = t->head;
        t->head = o->next;
        free(o);
    }
    free(t->in);
    free(t->doc);
    free(t);
}

static void maybe_gone(ws_tp_t *t) {
    if (!t->closing || t->ws || t->http || t->timer_open) return;
    cdp_t *c = t->c;
    free_state(t);
    cdp_transport_gone(c);
}

static void on_connect_timer(uv_timer_t *h);

/* lws has let go of wsi (closed, or failed to connect): forget it both ways. */
static void detach(ws_tp_t *t, struct lws *wsi) {
    lws_set_opaque_user_data(wsi, NULL);
    if (t->ws == wsi) t->ws = NULL;
    if (t->http == wsi) {
        t->http = NULL;
        if (t->discovered && !t->failed && !t->closing)
            uv_timer_start(&t->timer, on_connect_timer, 0, 0);
    }
    maybe_gone(t);
}

/* Starts a client connection: the WebSocket (method NULL) or an HTTP GET.
 * Returns the wsi, or NULL when lws refused at once (then t is failed). */
static struct lws *connect_to(ws_tp_t *t, const ws_url_t *u, const char *method) {
    struct lws_client_connect_info ci;
    memset(&ci, 0, sizeof ci);
    ci.context = ctx;
    ci.address = u->host;
    ci.port = u->port;
    ci.ssl_connection = u->tls ? LCCSCF_USE_SSL : 0;
    ci.path = u->path;
    /* Chromium wants an IP or localhost here, and builds the URLs it reports
     * from it: without the port they point at port 80. With TLS it is the
     * name checked against the certificate. */
    char host[300];
    if (u->tls || u->port == 80)
        snprintf(host, sizeof host, "%s", u->host);
    else
        snprintf(host, sizeof host, "%s:%d", u->host, u->port);
    ci.host = host;
    ci.origin = NULL;   /* with an Origin header Chromium answers 403 */
    ci.protocol = NULL; /* no Sec-WebSocket-Protocol header */
    ci.local_protocol_name = "baton-cdp";
    ci.method = method;
    ci.ietf_version_or_minus_one = -1;
    ci.opaque_user_data = t;
    t->connect_error = 0;
    t->reached = 0;
    struct lws *wsi = lws_client_connect_via_info(&ci);
    /* A refusal noticed synchronously has already called back (and detached). */
    if (!wsi || t->connect_error) {
        if (!t->failed)
            fail(t, "endpoint %s: cannot connect to %s:%d", t->endpoint, u->host, u->port);
        return NULL;
    }
    return wsi;
}

/* lws 4.1 reports a refused connect as "Unable to connect" or "closed before
 * established", without errno: whether the handshake started tells them apart. */
static const char *connect_reason(ws_tp_t *t, const void *in, size_t len, char *buf,
                                  size_t buflen) {
    const char *what = in && len ? in : "connection failed";
    size_t n = in && len ? len : strlen(what);
    if (!t->reached)
        snprintf(buf, buflen, "connection refused or unreachable (%.*s)", (int)n, what);
    else
        snprintf(buf, buflen, "the handshake failed (%.*s)", (int)n, what);
    return buf;
}

static void on_connect_timer(uv_timer_t *h) {
    ws_tp_t *t = h->data;
    if (!t->closing && !t->failed) t->ws = connect_to(t, &t->target, NULL);
}

/* The /json/version answer: its webSocketDebuggerUrl becomes the target. The
 * WebSocket is opened from the timer once lws has closed the HTTP connection:
 * opened earlier, lws queues it behind that connection and it dies with it. */
static void discovered(ws_tp_t *t) {
    char err[600];
    cJSON *j = cJSON_ParseWithLength(t->doc ? t->doc : "", t->doc_len);
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(j, "webSocketDebuggerUrl");
    if (!cJSON_IsString(u))
        fail(t, "endpoint %s: /json/version has no webSocketDebuggerUrl", t->endpoint);
    else if (strncmp(u->valuestring, "ws", 2) ||
             parse_url(u->valuestring, &t->target, err, sizeof err) < 0)
        fail(t, "endpoint %s: bad webSocketDebuggerUrl %.200s", t->endpoint, u->valuestring);
    else
        t->discovered = 1;
    cJSON_Delete(j);
}

static int append(char **buf, size_t *len, size_t *cap, const void *data, size_t n, size_t max) {
    if (*len + n > max) return -EMSGSIZE;
    if (*len + n > *cap) {
        size_t nc = *cap ? *cap : 65536;
        while (nc < *len + n) nc *= 2;
        char *nb = realloc(*buf, nc);
        if (!nb) return -ENOMEM;
        *buf = nb;
        *cap = nc;
    }
    memcpy(*buf + *len, data, n);
    *len += n;
    return 0;
}

/* ---- the lws callback, for every wsi of the context ---- */

static int on_lws(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                  size_t len) {
    ws_tp_t *t = lws_get_opaque_user_data(wsi);
    char buf[256];
    if (!t) return lws_callback_http_dummy(wsi, reason, user, in, len);

    switch (reason) {
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
        t->connect_error = 1;
        fail(t, "endpoint %s: %s%s", t->endpoint, wsi == t->http ? "/json/version: " : "",
             connect_reason(t, in, len, buf, sizeof buf));
        detach(t, wsi);
        return 0;

    case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER:
        t->reached = 1; /* the TCP connection is up: a later failure is not a refusal */
        return 0;

    case LWS_CALLBACK_ESTABLISHED_CLIENT_HTTP: {
        unsigned status = lws_http_client_http_response(wsi);
        if (wsi == t->http && status != 200) {
            fail(t, "endpoint %s: /json/version answered HTTP %u", t->endpoint, status);
            return -1;
        }
        return 0;
    }

    case LWS_CALLBACK_RECEIVE_CLIENT_HTTP: {
        char rx[4096 + LWS_PRE];
        char *p = rx + LWS_PRE;
        int n = (int)sizeof rx - LWS_PRE;
        return lws_http_client_read(wsi, &p, &n) < 0 ? -1 : 0;
    }

    case LWS_CALLBACK_RECEIVE_CLIENT_HTTP_READ: {
        if (append(&t->doc, &t->doc_len, &t->doc_cap, in, len, MAX_DISCOVERY) < 0) {
            fail(t, "endpoint %s: /json/version answer too large", t->endpoint);
            return -1;
        }
        return 0;
    }

    case LWS_CALLBACK_COMPLETED_CLIENT_HTTP:
        if (!t->closing && !t->failed) discovered(t);
        return -1; /* done with the HTTP connection */

    case LWS_CALLBACK_CLOSED_CLIENT_HTTP:
        if (wsi == t->http && !t->discovered)
            fail(t, "endpoint %s: /json/version: the connection closed early", t->endpoint);
        detach(t, wsi);
        return 0;

    case LWS_CALLBACK_CLIENT_ESTABLISHED:
        t->established = 1;
        if (t->head) lws_callback_on_writable(wsi);
        return 0;

    case LWS_CALLBACK_CLIENT_RECEIVE: {
        int rc = append(&t->in, &t->in_len, &t->in_cap, in, len, MAX_MESSAGE);
        if (rc < 0) {
            fail(t, "endpoint %s: %s", t->endpoint,
                 rc == -EMSGSIZE ? "a message exceeds 256 MB" : "out of memory");
            return -1;
        }
        if (lws_is_final_fragment(wsi) && !lws_remaining_packet_payload(wsi)) {
            size_t n = t->in_len;
            t->in_len = 0;
            /* The state outlives this call even if the owner closes: it is
             * freed only once lws has reported the wsi closed. */
            if (!t->closing && !t->failed) cdp_transport_message(t->c, t->in, n);
        }
        return 0;
    }

    case LWS_CALLBACK_CLIENT_WRITEABLE: {
        ws_out_t *o = t->head;
        if (t->closing || t->failed) return -1;
        if (!o) return 0;
        t->head = o->next;
        if (!t->head) t->tail = NULL;
        int n = lws_write(wsi, o->data + LWS_PRE, o->len, LWS_WRITE_TEXT);
        size_t want = o->len;
        free(o);
        if (n < 0 || (size_t)n < want) {
            fail(t, "endpoint %s: write failed", t->endpoint);
            return -1;
        }
        if (t->head) lws_callback_on_writable(wsi);
        return 0;
    }

    case LWS_CALLBACK_CLIENT_CLOSED:
        fail(t, "endpoint %s: the connection closed", t->endpoint);
        detach(t, wsi);
        return 0;

    case LWS_CALLBACK_WSI_DESTROY:
        detach(t, wsi); /* only if no close callback came first */
        return 0;

    default:
        return lws_callback_http_dummy(wsi, reason, user, in, len);
    }
}

static const struct lws_protocols protocols[] = {
    {"baton-cdp", on_lws, 0, RX_BUFFER, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

static int context_for(uv_loop_t *loop) {
    static void *loops[1];
    if (ctx_destroying) return -ESHUTDOWN;
    if (ctx) return ctx_loop == loop ? 0 : -EINVAL;
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    lws_set_log_level(LLL_ERR | LLL_WARN, NULL); /* or each context prints a banner */
    loops[0] = loop;
    info.options = LWS_SERVER_OPTION_LIBUV | LWS_SERVER_OPTION_DISABLE_IPV6 |
                   LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.protocols = protocols;
    info.foreign_loops = loops;
    info.pcontext = &ctx; /* lws writes NULL here once the context is freed */
    ctx = lws_create_context(&info);
    if (!ctx) return -ENOMEM;
    ctx_loop = loop;
    return 0;
}

/* ---- the transport ---- */

static int ws_write(cdp_t *c, const char *msg, size_t len) {
    ws_tp_t *t = cdp_tp_state(c);
    if (t->failed) return -EPIPE;
    ws_out_t *o = malloc(sizeof *o + LWS_PRE + len);
    if (!o) return -ENOMEM;
    o->next = NULL;
    o->len = len;
    memcpy(o->data + LWS_PRE, msg, len);
    if (t->tail)
        t->tail->next = o;
    else
        t->head = o;
    t->tail = o;
    /* Before the handshake completes the queue waits for CLIENT_ESTABLISHED. */
    if (t->ws && t->established) lws_callback_on_writable(t->ws);
    return 0;
}

static void on_timer_closed(uv_handle_t *h) {
    ws_tp_t *t = h->data;
    t->timer_open = 0;
    maybe_gone(t);
}

static void ws_close(cdp_t *c) {
    ws_tp_t *t = cdp_tp_state(c);
    t->closing = 1;
    /* Killed from lws's own timer: the close callbacks then detach each wsi. */
    if (t->ws) lws_set_timeout(t->ws, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
    if (t->http) lws_set_timeout(t->http, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
    uv_close((uv_handle_t *)&t->timer, on_timer_closed);
}

static const cdp_transport_t ws_transport = {ws_write, ws_close};

int cdp_ws_new(cdp_t **out, uv_loop_t *loop, vclock_t *clock, const cdp_hooks_t *hooks,
               const char *url) {
    char err[600];
    ws_url_t u;
    *out = NULL;
    int rc = parse_url(url, &u, err, sizeof err);
    if (rc < 0) {
        log_warn("cdp: %s", err);
        return rc;
    }
    rc = context_for(loop);
    if (rc < 0) return rc;
    ws_tp_t *t = calloc(1, sizeof *t);
    cdp_t *c = t ? cdp_alloc(loop, clock, hooks, &ws_transport, t) : NULL;
    if (!c) {
        free(t);
        return -ENOMEM;
    }
    t->c = c;
    snprintf(t->endpoint, sizeof t->endpoint, "%s", url);
    uv_timer_init(loop, &t->timer);
    t->timer.data = t;
    t->timer_open = 1;
    if (!strncmp(url, "http", 4)) {
        ws_url_t doc = u;
        snprintf(doc.path, sizeof doc.path, "/json/version");
        t->http = connect_to(t, &doc, "GET");
    } else {
        t->target = u;
        t->ws = connect_to(t, &u, NULL);
    }
    *out = c;
    return 0;
}

void cdp_ws_shutdown(void) {
    if (!ctx || ctx_destroying) return;
    ctx_destroying = 1;
    lws_context_destroy(ctx); /* first phase: lws starts closing its handles */
}

void cdp_ws_free(void) {
    if (ctx) lws_context_destroy(ctx); /* second phase, after uv_run returned */
    ctx = NULL;
    ctx_loop = NULL;
    ctx_destroying = 0;
}
