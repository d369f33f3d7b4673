/* http.c — libwebsockets on the engine's loop: one protocol handles both the
 * HTTP requests (routing, the token rules, size limits, JSON errors) and the
 * /api/events WebSocket (a bounded queue of event lines per client).
 * Traps (docs/platform-notes.md): <uv.h> before <libwebsockets.h>; never lws_service();
 * the context is destroyed in two phases around the last uv_run. */
#include <uv.h>

#include <libwebsockets.h>

#include "base/secret.h"
#include "http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dashboard.h"
#include "base/list.h"
#include "base/log.h"
#include "obs/metrics.h"

enum {
    WS_QUEUE_MAX = 256, /* events a slow client may fall behind before the oldest drop */
    CHUNK = 16384,      /* body bytes written per writable callback */
    RUNS_LIMIT_DEFAULT = 50,
    RUNS_LIMIT_MAX = 1000,
    JOB_RUNS = 20 /* runs shown with GET /api/jobs/NAME */
};

#define EVENTS_PATH "/api/events" /* the WebSocket's one path */

typedef struct ws_msg {
    struct ws_msg *next;
    size_t len;
    unsigned char data[]; /* LWS_PRE bytes of headroom, then the text */
} ws_msg_t;

typedef enum { M_GET, M_POST, M_OTHER } method_t;

/* Per connection (lws allocates it zeroed). HTTP fields are per transaction. */
typedef struct session {
    /* HTTP */
    method_t method;
    char path[512];
    unsigned char *out; /* LWS_PRE headroom + body */
    size_t out_len, out_sent;
    int close_after;
    /* WebSocket */
    struct lws *wsi;
    list_t ws_link; /* on http_t.ws while is_ws */
    ws_msg_t *q_head, *q_tail;
    int q_len;
    int is_ws;
} session_t;

struct http {
    struct lws_context *ctx;
    http_opts_t opts;
    char token[256];
    char host[256];
    int port;
    list_t ws; /* WebSocket clients, newest first */
    int stopping;
};

/* ---- helpers ---- */

int http_parse_listen(const char *listen, char *host, size_t hostlen, int *port) {
    const char *colon = listen ? strrchr(listen, ':') : NULL;
    if (!colon || (size_t)(colon - listen) >= hostlen) return -EINVAL;
    char *end;
    long p = strtol(colon + 1, &end, 10);
    if (end == colon + 1 || *end || p < 0 || p > 65535) return -EINVAL;
    memcpy(host, listen, (size_t)(colon - listen));
    host[colon - listen] = 0;
    if (strcmp(host, "*") == 0) host[0] = 0;
    *port = (int)p;
    return 0;
}

static int is_loopback(const char *addr) {
    return strncmp(addr, "127.", 4) == 0 || strcmp(addr, "::1") == 0 ||
           strncmp(addr, "::ffff:127.", 11) == 0;
}

static void out_free(session_t *s) {
    free(s->out);
    s->out = NULL;
    s->out_len = s->out_sent = 0;
}

static int write_body(struct lws *wsi, session_t *s);

/* Sends status, headers and the body's first chunk now, and queues the rest
 * (copied) for the writable callbacks; a body that fits ends the transaction
 * here. Writing at once matters: lws closes a connection whose client shut
 * its write side as soon as it reads that end, and a body left for a
 * writable callback was lost. allow: the Allow header for 405. Returns 0 or
 * -1 to close. */
static int respond(struct lws *wsi, session_t *s, unsigned status, const char *ctype,
                   const char *body, size_t len, const char *allow) {
    unsigned char hdr[LWS_PRE + 1024], *start = &hdr[LWS_PRE], *p = start,
                                       *end = &hdr[sizeof hdr - 1];
    char *redacted;
    body = secret_redact_or_drop(body, len, &len, &redacted); /* no answer carries a value */
    out_free(s);
    s->out = malloc(LWS_PRE + len + 1);
    if (!s->out) {
        free(redacted);
        return -1;
    }
    memcpy(s->out + LWS_PRE, body, len);
    free(redacted);
    s->out_len = len;
    if (lws_add_http_common_headers(wsi, status, ctype, len, &p, end)) return -1;
    static const char nostore[] = "no-store";
    if (lws_add_http_header_by_name(wsi, (const unsigned char *)"cache-control:",
                                    (const unsigned char *)nostore, sizeof nostore - 1, &p, end))
        return -1;
    if (allow && lws_add_http_header_by_name(
                     wsi, (const unsigned char *)"allow:", (const unsigned char *)allow,
                     (int)strlen(allow), &p, end))
        return -1;
    if (status == 401 &&
        lws_add_http_header_by_name(wsi, (const unsigned char *)"www-authenticate:",
                                    (const unsigned char *)"Bearer", 6, &p, end))
        return -1;
    if (s->close_after && lws_add_http_header_by_token(wsi, WSI_TOKEN_CONNECTION,
                                                       (const unsigned char *)"close", 5, &p, end))
        return -1;
    if (lws_finalize_write_http_header(wsi, start, &p, end)) return -1;
    return write_body(wsi, s);
}

static int respond_json(struct lws *wsi, session_t *s, unsigned status, cJSON *doc,
                        const char *allow) {
    if (!doc) return -1;
    char *text = cJSON_PrintUnformatted(doc);
    cJSON_Delete(doc);
    if (!text) return -1;
    int rc = respond(wsi, s, status, "application/json", text, strlen(text), allow);
    free(text);
    return rc;
}

static int respond_error(struct lws *wsi, session_t *s, unsigned status, const char *allow,
                         const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static int respond_error(struct lws *wsi, session_t *s, unsigned status, const char *allow,
                         const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    cJSON *doc = cJSON_CreateObject();
    if (doc) cJSON_AddStringToObject(doc, "error", msg);
    return respond_json(wsi, s, status, doc, allow);
}

/* Before a close: reads and drops what the client sent that lws has not
 * taken (a request body the answer did not wait for), so that the close is a
 * FIN and not a reset, which can make the client lose the answer. */
static void drain(struct lws *wsi) {
    char buf[4096];
    int fd = lws_get_socket_fd(wsi);
    for (int i = 0; fd >= 0 && i < 4 && recv(fd, buf, sizeof buf, MSG_DONTWAIT) > 0; i++) {
    }
}

/* Writes the next chunk of the queued body. Returns 0, or -1 to close. */
static int write_body(struct lws *wsi, session_t *s) {
    if (!s->out) return 0;
    size_t left = s->out_len - s->out_sent, n = left > CHUNK ? CHUNK : left;
    int final = n == left;
    if (n && lws_write(wsi, s->out + LWS_PRE + s->out_sent, n,
                       final ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) != (int)n)
        return -1;
    if (!n) lws_write(wsi, s->out + LWS_PRE, 0, LWS_WRITE_HTTP_FINAL);
    s->out_sent += n;
    if (!final) {
        lws_callback_on_writable(wsi);
        return 0;
    }
    out_free(s);
    if (s->close_after) {
        drain(wsi);
        return -1;
    }
    return lws_http_transaction_completed(wsi) ? -1 : 0;
}

/* ---- routes ---- */

int http_path_match(const char *pattern, const char *path, char *name, size_t len) {
    size_t pat = strlen(pattern), n = strlen(path);
    if (pat >= 3 && strcmp(pattern + pat - 3, "/**") == 0) {
        size_t pl = pat - 3;
        if (strncmp(path, pattern, pl) != 0 || (path[pl] && path[pl] != '/')) return 0;
        if (name && len) name[0] = 0;
        return 1;
    }
    const char *star = strchr(pattern, '*');
    if (!star) {
        if (strcmp(path, pattern) != 0) return 0;
        if (name && len) name[0] = 0;
        return 1;
    }
    const char *suffix = star + 1;
    size_t pl = (size_t)(star - pattern), sl = strlen(suffix);
    if (n <= pl + sl || strncmp(path, pattern, pl) != 0 || strcmp(path + n - sl, suffix) != 0)
        return 0;
    size_t nl = n - pl - sl;
    if (nl >= len || memchr(path + pl, '/', nl)) return 0;
    memcpy(name, path + pl, nl);
    name[nl] = 0;
    return 1;
}

/* Compares without stopping at the first difference, so timing does not
 * reveal how much of a guessed token was right. */
static int same_secret(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    unsigned char diff = la != lb;
    for (size_t i = 0; i < la; i++) diff |= (unsigned char)(a[i] ^ b[i % (lb ? lb : 1)]);
    return diff == 0;
}

/* A browser sends Origin with a POST: one naming another site than the Host
 * it was sent to is a cross-site request (a page the user has open poking
 * the engine on localhost), refused whatever the token rules say. */
static int cross_site(struct lws *wsi) {
    char origin[256], host[256];
    if (lws_hdr_copy(wsi, origin, sizeof origin, WSI_TOKEN_ORIGIN) <= 0) return 0;
    if (lws_hdr_copy(wsi, host, sizeof host, WSI_TOKEN_HOST) <= 0) return 1;
    const char *o = strstr(origin, "://");
    return !o || strcmp(o + 3, host) != 0;
}

/* Whether a Host header (name or address, with or without ":port") names this
 * server the way a client on this machine does: a loopback name or address, or
 * the listen address itself. A page that made its own name resolve to
 * 127.0.0.1 (DNS rebinding) sends that name, so without a token its POSTs are
 * refused even though they come from loopback. */
int http_host_is_ours(const char *host, const char *listen_host) {
    char name[256];
    size_t n = strlen(host);
    if (n == 0 || n >= sizeof name) return 0;
    memcpy(name, host, n + 1);
    if (name[0] == '[') { /* [v6]:port */
        char *close = strchr(name, ']');
        if (!close || (close[1] && close[1] != ':')) return 0;
        *close = '\0';
        memmove(name, name + 1, strlen(name + 1) + 1);
    } else {
        char *colon = strchr(name, ':');
        if (colon) {
            if (strchr(colon + 1, ':')) return 0; /* a bare v6 address needs brackets */
            *colon = '\0';
        }
    }
    if (strcasecmp(name, "localhost") == 0 || strcmp(name, "::1") == 0) return 1;
    struct in_addr a;
    if (inet_pton(AF_INET, name, &a) == 1)
        return (ntohl(a.s_addr) >> 24) == 127 || (listen_host[0] && strcmp(name, listen_host) == 0);
    return listen_host[0] && strcasecmp(name, listen_host) == 0;
}

/* A refusal: answered, then 1, or -1 when the connection must close. */
static int refused(int answered) { return answered < 0 ? -1 : 1; }

/* Mutating endpoints: the token when one is set, else loopback peers only,
 * that name this server as such (see http_host_is_ours). Returns 0 when the
 * request may go on, else what refused() says. */
static int authorise(http_t *h, struct lws *wsi, session_t *s) {
    char got[512];
    if (cross_site(wsi))
        return refused(
            respond_error(wsi, s, 403, NULL, "cross-site request refused (Origin is not Host)"));
    if (h->token[0]) {
        int n = lws_hdr_copy(wsi, got, sizeof got, WSI_TOKEN_HTTP_AUTHORIZATION);
        if (n <= 0)
            return refused(respond_error(wsi, s, 401, NULL,
                                         "this endpoint needs an Authorization: Bearer token"));
        if (strncmp(got, "Bearer ", 7) != 0 || !same_secret(got + 7, h->token))
            return refused(respond_error(wsi, s, 403, NULL, "wrong token"));
        return 0;
    }
    char peer[128] = "";
    lws_get_peer_simple(wsi, peer, sizeof peer);
    if (!is_loopback(peer))
        return refused(respond_error(
            wsi, s, 403, NULL, "no http.token is set: changes are only accepted from loopback"));
    char host[256];
    if (lws_hdr_copy(wsi, host, sizeof host, WSI_TOKEN_HOST) <= 0 ||
        !http_host_is_ours(host, h->host))
        return refused(respond_error(wsi, s, 403, NULL,
                                     "no http.token is set: changes need a Host that names this "
                                     "machine (localhost, 127.0.0.1 or the listen address)"));
    return 0;
}

/* A route's handler: answers the request (name is the path's NAME segment,
 * "" when the pattern has none). Returns 0, or -1 to close the connection. */
typedef int (*route_fn)(http_t *h, struct lws *wsi, session_t *s, const char *name);

static int route_job_run(http_t *h, struct lws *wsi, session_t *s, const char *name) {
    char err[256];
    int rc = sched_trigger(h->opts.src.sched, name, NULL, err, sizeof err);
    if (rc == -ENOENT) return respond_error(wsi, s, 404, NULL, "%s", err);
    if (rc < 0) return respond_error(wsi, s, 409, NULL, "%s", err);
    log_emit(LOG_INFO, name, 0, "run requested over HTTP");
    cJSON *doc = cJSON_CreateObject();
    cJSON_AddStringToObject(doc, "job", name);
    cJSON_AddBoolToObject(doc, "triggered", 1);
    return respond_json(wsi, s, 202, doc, NULL);
}

static int job_pause(http_t *h, struct lws *wsi, session_t *s, const char *name, int paused) {
    int rc = sched_pause(h->opts.src.sched, name, paused);
    if (rc == -ENOENT) return respond_error(wsi, s, 404, NULL, "no job named '%s'", name);
    cJSON *doc = cJSON_CreateObject();
    cJSON_AddStringToObject(doc, "job", name);
    cJSON_AddBoolToObject(doc, "paused", paused);
    cJSON_AddBoolToObject(doc, "changed", rc == 1);
    return respond_json(wsi, s, 200, doc, NULL);
}

static int route_job_pause(http_t *h, struct lws *wsi, session_t *s, const char *name) {
    return job_pause(h, wsi, s, name, 1);
}

static int route_job_resume(http_t *h, struct lws *wsi, session_t *s, const char *name) {
    return job_pause(h, wsi, s, name, 0);
}

static int route_breaker_reset(http_t *h, struct lws *wsi, session_t *s, const char *name) {
    const health_src_t *src = &h->opts.src;
    if (!src->circuits || circuits_reset(src->circuits, name, vclock_now(src->clock)) == -ENOENT)
        return respond_error(wsi, s, 404, NULL, "no breaker named '%s'", name);
    cJSON *doc = cJSON_CreateObject();
    cJSON_AddStringToObject(doc, "breaker", name);
    cJSON_AddStringToObject(doc, "state", "closed");
    return respond_json(wsi, s, 200, doc, NULL);
}

static int route_reload(http_t *h, struct lws *wsi, session_t *s, const char *name) {
    if (!h->opts.reload)
        return respond_error(wsi, s, 501, NULL, "this engine cannot reload its scripts");
    cJSON *doc = cJSON_CreateObject();
    if (!doc) return -1;
    int rc = h->opts.reload(h->opts.reload_ud, doc);
    return respond_json(wsi, s, rc == -ESHUTDOWN ? 503 : rc < 0 ? 422 : 200, doc, NULL);
}

static int route_dashboard(http_t *h, struct lws *wsi, session_t *s, const char *name) {
    return respond(wsi, s, 200, "text/html; charset=utf-8", (const char *)dashboard_html,
                   dashboard_html_len, NULL);
}

static int route_health(http_t *h, struct lws *wsi, session_t *s, const char *name) {
    return respond_json(wsi, s, 200, health_report(&h->opts.src), NULL);
}

static int route_metrics(http_t *h, struct lws *wsi, session_t *s, const char *name) {
    size_t len;
    char *text = metrics_render(&h->opts.src, &len);
    if (!text) return -1;
    int rc = respond(wsi, s, 200, "text/plain; version=0.0.4; charset=utf-8", text, len, NULL);
    free(text);
    return rc;
}

static int route_jobs(http_t *h, struct lws *wsi, session_t *s, const char *name) {
    cJSON *doc = cJSON_CreateObject();
    if (doc) cJSON_AddItemToObject(doc, "jobs", health_jobs(&h->opts.src));
    return respond_json(wsi, s, 200, doc, NULL);
}

static int route_job(http_t *h, struct lws *wsi, session_t *s, const char *name) {
    cJSON *doc = health_job(&h->opts.src, name, JOB_RUNS);
    if (!doc) return respond_error(wsi, s, 404, NULL, "no job named '%s'", name);
    return respond_json(wsi, s, 200, doc, NULL);
}

static int route_runs(http_t *h, struct lws *wsi, session_t *s, const char *name) {
    char job[256], lim[32];
    const char *j = lws_get_urlarg_by_name(wsi, "job=", job, sizeof job);
    const char *l = lws_get_urlarg_by_name(wsi, "limit=", lim, sizeof lim);
    long limit = RUNS_LIMIT_DEFAULT;
    if (l) {
        char *end;
        limit = strtol(l, &end, 10);
        if (end == l || *end || limit < 1 || limit > RUNS_LIMIT_MAX)
            return respond_error(wsi, s, 400, NULL, "limit must be a number from 1 to %d",
                                 RUNS_LIMIT_MAX);
    }
    if (j && !*j) j = NULL; /* a job no longer loaded may still have history */
    cJSON *runs = health_runs(&h->opts.src, j, (int)limit);
    if (!runs) return respond_error(wsi, s, 500, NULL, "the store cannot be read");
    cJSON *doc = cJSON_CreateObject();
    if (doc) cJSON_AddItemToObject(doc, "runs", runs);
    return respond_json(wsi, s, 200, doc, NULL);
}

/* GET /api/runs/ID: every attempt of one run, results and errors whole. */
static int route_run(http_t *h, struct lws *wsi, session_t *s, const char *name) {
    char *end;
    errno = 0;
    long long id = strtoll(name, &end, 10);
    if (*name < '0' || *name > '9' || *end || errno || id < 1)
        return respond_error(wsi, s, 400, NULL, "a run id is a positive whole number");
    int missing;
    cJSON *doc = health_run(&h->opts.src, (int64_t)id, &missing);
    if (!doc && missing) return respond_error(wsi, s, 404, NULL, "no run %lld", id);
    if (!doc) return respond_error(wsi, s, 500, NULL, "the store cannot be read");
    return respond_json(wsi, s, 200, doc, NULL);
}

/* A plain GET of the WebSocket's path (the upgrade is filtered in callback). */
static int route_events(http_t *h, struct lws *wsi, session_t *s, const char *name) {
    return respond_error(wsi, s, 400, NULL, "%s is a WebSocket: connect with Upgrade: websocket",
                         EVENTS_PATH);
}

/* GET /demo/NAME: demo/NAME, demo/NAME.html, or demo/NAME/index.html. */
static int route_demo(http_t *h, struct lws *wsi, session_t *s, const char *name) {
    static const struct {
        const char *ext, *type;
    } types[] = {
        {".html", "text/html; charset=utf-8"}, {".css", "text/css"},  {".js", "text/javascript"},
        {".json", "application/json"},         {".png", "image/png"}, {".svg", "image/svg+xml"},
    };
    const char *path = s->path, *rest = path + 5; /* after "/demo" */
    char file[4096];
    if (!h->opts.demo_dir || strstr(rest, "..") || strlen(rest) > 200)
        return respond_error(wsi, s, 404, NULL, "no such page: %s", path);
    if (!*rest || rest[strlen(rest) - 1] == '/')
        snprintf(file, sizeof file, "%s%s%sindex.html", h->opts.demo_dir, *rest ? "" : "/", rest);
    else if (!strchr(strrchr(rest, '/'), '.'))
        snprintf(file, sizeof file, "%s%s.html", h->opts.demo_dir, rest);
    else
        snprintf(file, sizeof file, "%s%s", h->opts.demo_dir, rest);
    int fd = open(file, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return respond_error(wsi, s, 404, NULL, "no such page: %s", path);
    char *body = malloc(1 << 20);
    ssize_t n = body ? read(fd, body, 1 << 20) : -1;
    close(fd);
    if (n < 0) {
        free(body);
        return respond_error(wsi, s, 500, NULL, "cannot read %s", path);
    }
    const char *type = "application/octet-stream";
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        size_t fl = strlen(file), el = strlen(types[i].ext);
        if (fl > el && strcmp(file + fl - el, types[i].ext) == 0) type = types[i].type;
    }
    int rc = respond(wsi, s, 200, type, body, (size_t)n, NULL);
    free(body);
    return rc;
}

/* Every endpoint, once: the routing (404, 405 with Allow, the token and
 * loopback rules for the mutating ones) and the dispatch both read this. */
typedef struct route {
    method_t method;
    const char *pattern; /* as http_path_match reads it */
    route_fn handler;
    int mutates; /* changes engine state: authorise() first */
} route_t;

static const route_t routes[] = {
    {M_GET, "/", route_dashboard, 0},
    {M_GET, "/api/system/health", route_health, 0},
    {M_GET, "/metrics", route_metrics, 0},
    {M_GET, "/api/jobs", route_jobs, 0},
    {M_GET, "/api/jobs/*", route_job, 0},
    {M_GET, "/api/runs", route_runs, 0},
    {M_GET, "/api/runs/*", route_run, 0},
    {M_GET, EVENTS_PATH, route_events, 0},
    {M_POST, "/api/jobs/*/run", route_job_run, 1},
    {M_POST, "/api/jobs/*/pause", route_job_pause, 1},
    {M_POST, "/api/jobs/*/resume", route_job_resume, 1},
    {M_POST, "/api/breakers/*/reset", route_breaker_reset, 1},
    {M_POST, "/api/reload", route_reload, 1},
    {M_GET, "/demo/**", route_demo, 0},
};

static const char *method_name(method_t m) { return m == M_GET ? "GET" : "POST"; }

/* Routes a complete request. Returns 0, or -1 to close the connection. */
static int handle(http_t *h, struct lws *wsi, session_t *s) {
    const char *path = s->path;
    char name[256], allow[64] = "";
    if (h->stopping) {
        s->close_after = 1;
        return respond_error(wsi, s, 503, NULL, "the engine is stopping");
    }
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        const route_t *r = &routes[i];
        if (!http_path_match(r->pattern, path, name, sizeof name)) continue;
        if (r->method != s->method) {
            size_t n = strlen(allow);
            snprintf(allow + n, sizeof allow - n, "%s%s", n ? ", " : "", method_name(r->method));
            continue;
        }
        int denied = r->mutates ? authorise(h, wsi, s) : 0;
        if (denied) return denied < 0 ? -1 : 0;
        return r->handler(h, wsi, s, name) < 0 ? -1 : 0;
    }
    if (allow[0]) return respond_error(wsi, s, 405, allow, "use %s", allow);
    return respond_error(wsi, s, 404, NULL, "no such endpoint: %s", path);
}

/* ---- WebSocket clients ---- */

static void ws_queue_free(session_t *s) {
    while (s->q_head) {
        ws_msg_t *m = s->q_head;
        s->q_head = m->next;
        free(m);
    }
    s->q_tail = NULL;
    s->q_len = 0;
}

static void ws_push(session_t *s, const char *text, size_t len) {
    char *redacted;
    text = secret_redact_or_drop(text, len, &len, &redacted); /* nor does an event */
    ws_msg_t *m = malloc(sizeof *m + LWS_PRE + len);
    if (!m) {
        free(redacted);
        return;
    }
    m->next = NULL;
    m->len = len;
    memcpy(m->data + LWS_PRE, text, len);
    free(redacted);
    if (s->q_len >= WS_QUEUE_MAX) { /* a client this far behind loses the oldest */
        ws_msg_t *old = s->q_head;
        s->q_head = old->next;
        if (!s->q_head) s->q_tail = NULL;
        free(old);
        s->q_len--;
    }
    if (s->q_tail)
        s->q_tail->next = m;
    else
        s->q_head = m;
    s->q_tail = m;
    s->q_len++;
    lws_callback_on_writable(s->wsi);
}

static void on_event(void *ud, const char *json) {
    http_t *h = ud;
    size_t len = strlen(json);
    list_each(it, &h->ws) ws_push(list_entry(it, session_t, ws_link), json, len);
}

static void ws_add(http_t *h, session_t *s, struct lws *wsi) {
    s->is_ws = 1;
    s->wsi = wsi;
    list_push_front(&h->ws, &s->ws_link);
}

static void ws_remove(http_t *h, session_t *s) {
    if (!s->is_ws) return;
    list_remove(&s->ws_link);
    s->is_ws = 0;
    ws_queue_free(s);
}

static int ws_write(session_t *s) {
    ws_msg_t *m = s->q_head;
    if (!m) return 0;
    if (lws_write(s->wsi, m->data + LWS_PRE, m->len, LWS_WRITE_TEXT) < (int)m->len) return -1;
    s->q_head = m->next;
    if (!s->q_head) s->q_tail = NULL;
    s->q_len--;
    free(m);
    if (s->q_head) lws_callback_on_writable(s->wsi);
    return 0;
}

/* ---- the lws callback ---- */

static method_t method_of(struct lws *wsi) {
    if (lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI)) return M_GET;
    if (lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI)) return M_POST;
    return M_OTHER;
}

static int on_http(http_t *h, struct lws *wsi, session_t *s, const char *uri) {
    char len_text[32];
    out_free(s);
    s->method = method_of(wsi);
    s->close_after = 0;
    snprintf(s->path, sizeof s->path, "%s", uri ? uri : "/");
    int has_length = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH) > 0;
    int has_coding = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING) > 0;
    if (has_length && has_coding) {
        /* Which one frames the body is where request smuggling lives: neither. */
        s->close_after = 1;
        return respond_error(wsi, s, 400, NULL, "both Content-Length and Transfer-Encoding");
    }
    if (has_coding) {
        /* libwebsockets 4.1 never completes a chunked request body, and no
         * endpoint needs one: bodies are small and sized. */
        s->close_after = 1;
        return respond_error(wsi, s, 411, NULL,
                             "send Content-Length: chunked request bodies are not accepted");
    }
    if (lws_hdr_copy(wsi, len_text, sizeof len_text, WSI_TOKEN_HTTP_CONTENT_LENGTH) > 0) {
        char *end;
        unsigned long long n = strtoull(len_text, &end, 10);
        if (*end || end == len_text) {
            s->close_after = 1;
            return respond_error(wsi, s, 400, NULL, "bad Content-Length");
        }
        if (n > HTTP_MAX_BODY) {
            /* the body is never read: answer and close */
            s->close_after = 1;
            return respond_error(wsi, s, 413, NULL, "request body over %d bytes", HTTP_MAX_BODY);
        }
        if (n > 0) {
            /* Answered now, without the body, and the connection closed:
             * libwebsockets 4.1 spins forever in a loop of its own when it
             * reads a body after headers it took from its buffer (a
             * pipelined request, or one that waited for a header table),
             * whatever the callback does short of closing. No endpoint
             * reads a body. */
            s->close_after = 1;
        }
    }
    return handle(h, wsi, s);
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len) {
    struct lws_context *ctx = lws_get_context(wsi);
    http_t *h = ctx ? lws_context_user(ctx) : NULL;
    session_t *s = user;
    switch (reason) {
    case LWS_CALLBACK_HTTP:
        if (!h || !s) return -1;
        return on_http(h, wsi, s, in) < 0 ? -1 : 0;
    case LWS_CALLBACK_HTTP_BODY: /* only the empty body of Content-Length: 0 gets here */
    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
        return 0;
    case LWS_CALLBACK_HTTP_WRITEABLE:
        if (!s) return -1;
        return write_body(wsi, s);
    case LWS_CALLBACK_CLOSED_HTTP:
    case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
        if (s) out_free(s);
        return 0;
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION: {
        char uri[128];
        if (lws_hdr_copy(wsi, uri, sizeof uri, WSI_TOKEN_GET_URI) <= 0 ||
            strcmp(uri, EVENTS_PATH) != 0 || (h && h->stopping))
            return 1;                  /* refused: WebSocket only on /api/events */
        if (cross_site(wsi)) return 1; /* a page of another site reading the events */
        return 0;
    }
    case LWS_CALLBACK_ESTABLISHED:
        if (!h || !s) return -1;
        memset(s, 0, sizeof *s);
        ws_add(h, s, wsi);
        {
            char hello[128];
            snprintf(hello, sizeof hello, "{\"type\":\"hello\",\"version\":\"%s\"}",
                     h->opts.src.version ? h->opts.src.version : "");
            ws_push(s, hello, strlen(hello));
        }
        return 0;
    case LWS_CALLBACK_SERVER_WRITEABLE:
        if (!s || !s->is_ws) return 0;
        return ws_write(s);
    case LWS_CALLBACK_RECEIVE:
        return 0; /* clients have nothing to say */
    case LWS_CALLBACK_CLOSED:
        if (h && s) ws_remove(h, s);
        return 0;
    default:
        return 0;
    }
}

static const struct lws_protocols protocols[] = {
    {"baton", callback, sizeof(session_t), 4096, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

/* lws's own lines go through the engine's log. */
static void lws_log_line(int level, const char *line) {
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r')) n--;
    /* lws prefixes "[date] E: "; keep the message */
    const char *msg = strstr(line, ": ");
    msg = msg && msg < line + n ? msg + 2 : line;
    log_emit(level & LLL_ERR ? LOG_ERROR : LOG_WARN, NULL, 0, "http: %.*s", (int)(line + n - msg),
             msg);
}

/* ---- lifecycle ---- */

/* lws logs a failed bind and carries on without a listener, and a context
 * that never ran on the loop cannot be torn down cleanly: so find out first
 * whether the address can be bound. Returns 0 or a negative errno. */
static int probe_bind(const char *host, int port) {
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (port == 0) return 0;
    if (host[0] && inet_pton(AF_INET, host, &sa.sin_addr) != 1) return -EADDRNOTAVAIL;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
    if (fd < 0) return -errno;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    int rc = bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 ? 0 : -errno;
    close(fd);
    return rc;
}

int http_start(http_t **out, uv_loop_t *loop, const http_opts_t *opts, char *err, size_t errlen) {
    *out = NULL;
    http_t *h = calloc(1, sizeof *h);
    if (!h) return -ENOMEM;
    h->opts = *opts;
    list_init(&h->ws);
    snprintf(h->token, sizeof h->token, "%s", opts->token ? opts->token : "");
    if (http_parse_listen(opts->listen, h->host, sizeof h->host, &h->port) < 0) {
        snprintf(err, errlen, "http.listen: '%s' is not HOST:PORT",
                 opts->listen ? opts->listen : "");
        free(h);
        return -EINVAL;
    }
    if (strcmp(h->host, "localhost") == 0) snprintf(h->host, sizeof h->host, "127.0.0.1");
    if (strcmp(h->host, "0.0.0.0") == 0) h->host[0] = 0;
    int rc = probe_bind(h->host, h->port);
    if (rc < 0) {
        snprintf(err, errlen, "http: cannot listen on %s: %s", opts->listen,
                 rc == -EADDRNOTAVAIL && h->host[0] && !strchr(h->host, '.')
                     ? "HOST must be an IPv4 address, localhost or *"
                     : strerror(-rc));
        free(h);
        return rc;
    }

    /* before creating the context, or it prints a banner */
    lws_set_log_level(LLL_ERR | LLL_WARN, lws_log_line);
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    void *loops[1] = {loop};
    info.options =
        LWS_SERVER_OPTION_LIBUV | LWS_SERVER_OPTION_DISABLE_IPV6 | LWS_SERVER_OPTION_VALIDATE_UTF8;
    info.foreign_loops = loops;
    info.pcontext = &h->ctx;
    info.port = h->port;
    info.iface = h->host[0] ? h->host : NULL;
    info.protocols = protocols;
    info.user = h;
    info.server_string = "baton";
    info.timeout_secs = 10;
    info.keepalive_timeout = 30;
    info.max_http_header_data = 4096;
    h->ctx = lws_create_context(&info);
    if (!h->ctx) {
        snprintf(err, errlen,
                 "http: cannot listen on %s (in use, or not an address of this "
                 "machine?)",
                 opts->listen);
        free(h);
        return -EADDRINUSE;
    }
    struct lws_vhost *vh = lws_get_vhost_by_name(h->ctx, "default");
    int bound = vh ? lws_get_vhost_listen_port(vh) : -1;
    if (bound <= 0) {
        /* lost a race for the port since probe_bind: serve nothing, but keep
         * the context for the ordinary two-phase teardown */
        log_error("http: cannot listen on %s", opts->listen);
        *out = h;
        return 0;
    }
    h->port = bound;
    if (opts->pool && opts->src.obs) obs_set_pool(opts->src.obs, opts->pool, opts->pool_ud);
    if (opts->src.obs) obs_on_event(opts->src.obs, on_event, h);
    log_info("http: listening on %s:%d%s", h->host[0] ? h->host : "0.0.0.0", h->port,
             h->token[0] ? " (token required for changes)" : "");
    *out = h;
    return 0;
}

int http_port(const http_t *h) { return h ? h->port : 0; }

void http_stop(http_t *h) {
    if (!h || h->stopping) return;
    h->stopping = 1;
    if (h->opts.src.obs) obs_on_event(h->opts.src.obs, NULL, NULL);
    /* queued events are dropped with their clients */
    list_each(it, &h->ws) ws_queue_free(list_entry(it, session_t, ws_link));
    if (h->ctx) lws_context_destroy(h->ctx); /* phase one: lws closes its uv handles */
}

void http_free(http_t *h) {
    if (!h) return;
    http_stop(h);
    /* phase two: the loop has run the close callbacks; lws sets ctx to NULL
     * through pcontext once it is gone */
    if (h->ctx) lws_context_destroy(h->ctx);
    free(h);
}
