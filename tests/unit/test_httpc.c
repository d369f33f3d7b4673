/* test_httpc.c — the HTTP client on a libuv loop against a small HTTP/1.1
 * server on the same loop: answers and their headers, bodies sent, max_bytes,
 * redirects (followed or not, never out of http/https), timeouts, a cut
 * answer, a refused connection, connection reuse, cancel and shutdown with
 * requests in flight, the limits of the multi handle, proxies, and HTTPS
 * against a self-signed server (openssl s_server) with and without its CA. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include "base/fs.h"

#include "net/httpc.h"
#include "test.h"

/* ---- the server: answers by path; keeps connections open ---- */

typedef struct srv {
    uv_loop_t *loop;
    uv_tcp_t listener;
    int port;
    int accepts, requests;
    int open_conns, max_open;
} srv_t;

typedef struct srv_conn {
    uv_tcp_t tcp;
    srv_t *srv;
    char buf[65536];
    size_t len;
} srv_conn_t;

static void srv_conn_closed(uv_handle_t *h) {
    srv_conn_t *sc = h->data;
    sc->srv->open_conns--;
    free(sc);
}

typedef struct srv_write {
    uv_write_t w;
    uv_tcp_t *close_after; /* NULL: keep the connection */
    char data[];
} srv_write_t;

static void srv_written(uv_write_t *w, int status) {
    srv_write_t *sw = (srv_write_t *)w;
    (void)status;
    if (sw->close_after && !uv_is_closing((uv_handle_t *)sw->close_after))
        uv_close((uv_handle_t *)sw->close_after, srv_conn_closed);
    free(sw);
}

/* Queues text on sc; with close, the connection closes once it is written. */
static void srv_send(srv_conn_t *sc, const char *text, size_t n, int close) {
    srv_write_t *sw = malloc(sizeof *sw + n);
    memcpy(sw->data, text, n);
    sw->close_after = close ? &sc->tcp : NULL;
    uv_buf_t b = uv_buf_init(sw->data, (unsigned)n);
    uv_write(&sw->w, (uv_stream_t *)&sc->tcp, &b, 1, srv_written);
}

static void srv_answer(srv_conn_t *sc, const char *path, const char *head, size_t head_len,
                       const char *body, size_t body_len) {
    char out[70000];
    int n;
    if (strcmp(path, "/ok") == 0) {
        n = snprintf(out, sizeof out,
                     "HTTP/1.1 201 Created\r\nContent-Length: 5\r\nX-Test: Yes\r\n"
                     "Set-Cookie: a=1\r\n\r\nhello");
    } else if (strcmp(path, "/echo") == 0) {
        /* the request's head and body, as the body */
        n = snprintf(out, sizeof out, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n",
                     head_len + body_len);
        memcpy(out + n, head, head_len);
        memcpy(out + n + head_len, body, body_len);
        n += (int)(head_len + body_len);
    } else if (strcmp(path, "/big") == 0) { /* length known up front */
        n = snprintf(out, sizeof out, "HTTP/1.1 200 OK\r\nContent-Length: 60000\r\n\r\n");
        memset(out + n, 'x', 60000);
        n += 60000;
    } else if (strcmp(path, "/chunked") == 0) { /* no length: the cap counts as it comes */
        n = snprintf(out, sizeof out, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
        for (int i = 0; i < 30; i++) {
            n += snprintf(out + n, sizeof out - (size_t)n, "3e8\r\n");
            memset(out + n, 'y', 1000);
            n += 1000;
            n += snprintf(out + n, sizeof out - (size_t)n, "\r\n");
        }
        n += snprintf(out + n, sizeof out - (size_t)n, "0\r\n\r\n");
    } else if (strcmp(path, "/redirect") == 0) {
        n = snprintf(out, sizeof out,
                     "HTTP/1.1 302 Found\r\nLocation: /ok\r\nContent-Length: 3\r\n\r\nmov");
    } else if (strcmp(path, "/to-ftp") == 0) {
        n = snprintf(out, sizeof out,
                     "HTTP/1.1 302 Found\r\nLocation: ftp://127.0.0.1/x\r\n"
                     "Content-Length: 0\r\n\r\n");
    } else if (strcmp(path, "/loop") == 0) {
        n = snprintf(out, sizeof out,
                     "HTTP/1.1 302 Found\r\nLocation: /loop\r\nContent-Length: 0\r\n\r\n");
    } else if (strcmp(path, "/cut") == 0) { /* promises 100 bytes, sends 10, closes */
        n = snprintf(out, sizeof out, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789");
        srv_send(sc, out, (size_t)n, 1);
        return;
    } else if (strcmp(path, "/hang") == 0) {
        return; /* never answers */
    } else {
        n = snprintf(out, sizeof out, "HTTP/1.1 404 Not Found\r\nContent-Length: 4\r\n\r\nnope");
    }
    srv_send(sc, out, (size_t)n, 0);
}

static void srv_alloc(uv_handle_t *h, size_t want, uv_buf_t *b) {
    srv_conn_t *sc = h->data;
    (void)want;
    *b = uv_buf_init(sc->buf + sc->len, (unsigned)(sizeof sc->buf - sc->len));
}

/* Answers every complete request in the buffer. */
static void srv_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b) {
    srv_conn_t *sc = s->data;
    (void)b;
    if (n < 0) {
        if (!uv_is_closing((uv_handle_t *)s)) uv_close((uv_handle_t *)s, srv_conn_closed);
        return;
    }
    sc->len += (size_t)n;
    for (;;) {
        char *end = memmem(sc->buf, sc->len, "\r\n\r\n", 4);
        if (!end) return;
        size_t head_len = (size_t)(end + 4 - sc->buf), body_len = 0;
        char *cl = memmem(sc->buf, head_len, "Content-Length: ", 16);
        if (cl) body_len = (size_t)atol(cl + 16);
        if (sc->len < head_len + body_len) return;
        char target[256] = "", *path = target;
        sscanf(sc->buf, "%*s %255s", target);
        if (strncmp(target, "http://", 7) == 0) { /* absolute form: asked as a proxy */
            path = strchr(target + 7, '/');
            if (!path) path = target + strlen(target);
        }
        sc->srv->requests++;
        srv_answer(sc, path, sc->buf, head_len, sc->buf + head_len, body_len);
        if (uv_is_closing((uv_handle_t *)s)) return;
        memmove(sc->buf, sc->buf + head_len + body_len, sc->len - head_len - body_len);
        sc->len -= head_len + body_len;
    }
}

static void srv_conn(uv_stream_t *l, int status) {
    srv_t *srv = l->data;
    if (status < 0) return;
    srv_conn_t *sc = calloc(1, sizeof *sc);
    sc->srv = srv;
    uv_tcp_init(l->loop, &sc->tcp);
    sc->tcp.data = sc;
    uv_accept(l, (uv_stream_t *)&sc->tcp);
    srv->accepts++;
    if (++srv->open_conns > srv->max_open) srv->max_open = srv->open_conns;
    uv_read_start((uv_stream_t *)&sc->tcp, srv_alloc, srv_read);
}

static void srv_open(srv_t *srv, uv_loop_t *loop) {
    struct sockaddr_in a, got;
    int len = sizeof got;
    memset(srv, 0, sizeof *srv);
    srv->loop = loop;
    uv_ip4_addr("127.0.0.1", 0, &a);
    uv_tcp_init(loop, &srv->listener);
    srv->listener.data = srv;
    uv_tcp_bind(&srv->listener, (const struct sockaddr *)&a, 0);
    uv_listen((uv_stream_t *)&srv->listener, 16, srv_conn);
    uv_tcp_getsockname(&srv->listener, (struct sockaddr *)&got, &len);
    srv->port = ntohs(got.sin_port);
}

static void srv_walk_close(uv_handle_t *h, void *arg) {
    (void)arg;
    if (uv_is_closing(h)) return;
    uv_close(h, h->type == UV_TCP && h->data && h->data != arg ? srv_conn_closed : NULL);
}

/* ---- the client side ---- */

typedef struct got {
    int calls;
    httpc_outcome_t outcome;
    long status;
    char body[4096];
    size_t len;
    char url[256];
    char error[256];
    char headers[1024]; /* "name=value;" … */
} got_t;

static void on_done(void *ud, const httpc_result_t *res) {
    got_t *g = ud;
    g->calls++;
    g->outcome = res->outcome;
    g->status = res->status;
    g->len = res->len;
    snprintf(g->body, sizeof g->body, "%s", res->body);
    snprintf(g->url, sizeof g->url, "%s", res->url);
    snprintf(g->error, sizeof g->error, "%s", res->error);
    g->headers[0] = 0;
    for (size_t i = 0; i < res->nheaders; i++) {
        size_t n = strlen(g->headers);
        snprintf(g->headers + n, sizeof g->headers - n, "%s=%s;", res->headers[i].name,
                 res->headers[i].value);
    }
}

typedef struct fx {
    uv_loop_t loop;
    srv_t srv;
    httpc_t *c;
    char url[256];
} fx_t;

static void fx_open(fx_t *f, const httpc_conf_t *conf) {
    uv_loop_init(&f->loop);
    srv_open(&f->srv, &f->loop);
    CHECK_INT(httpc_new(&f->c, &f->loop, conf), 0);
}

static const char *fx_url(fx_t *f, const char *path) {
    snprintf(f->url, sizeof f->url, "http://127.0.0.1:%d%s", f->srv.port, path);
    return f->url;
}

/* Runs the loop until every got has its call (or the loop has nothing left). */
static void fx_wait(fx_t *f, got_t *g, int n) {
    for (;;) {
        int all = 1;
        for (int i = 0; i < n; i++) all &= g[i].calls > 0;
        if (all || !uv_run(&f->loop, UV_RUN_ONCE)) return;
    }
}

/* Shuts the client down, closes the server and checks the loop ends clean. */
static void fx_close(fx_t *f) {
    httpc_shutdown(f->c);
    uv_walk(&f->loop, srv_walk_close, &f->srv);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    httpc_free(f->c);
    CHECK_INT(uv_loop_close(&f->loop), 0);
}

static void fetch(fx_t *f, const httpc_opts_t *o, got_t *g) {
    httpc_req_t *r;
    char err[256];
    CHECK_INT(httpc_request(f->c, o, on_done, g, &r, err, sizeof err), 0);
    CHECK(r != NULL);
    fx_wait(f, g, 1);
    CHECK_INT(g->calls, 1);
}

TEST(httpc_libcurl_resolves_names_without_blocking) { CHECK(httpc_async_dns()); }

TEST(httpc_answer_with_lower_case_headers) {
    fx_t f;
    got_t g = {0};
    fx_open(&f, NULL);
    httpc_opts_t o = {.url = fx_url(&f, "/ok"), .timeout = 5};
    fetch(&f, &o, &g);
    CHECK_INT(g.outcome, HTTPC_OK);
    CHECK_INT(g.status, 201);
    CHECK_STR(g.body, "hello");
    CHECK_STR(g.error, "");
    CHECK_HAS(g.headers, "x-test=Yes;");
    CHECK_HAS(g.headers, "set-cookie=a=1;");
    CHECK_HAS(g.headers, "content-length=5;");
    CHECK_INT(httpc_inflight(f.c), 0);
    fx_close(&f);
}

TEST(httpc_sends_method_headers_body_and_names_baton) {
    fx_t f;
    got_t g = {0};
    fx_open(&f, NULL);
    const char *hdrs[] = {"X-One: 1", "Content-Type: application/json"};
    httpc_opts_t o = {.method = "PUT",
                      .url = fx_url(&f, "/echo"),
                      .headers = hdrs,
                      .nheaders = 2,
                      .body = "{\"a\":1}",
                      .body_len = 7};
    fetch(&f, &o, &g);
    CHECK_INT(g.status, 200);
    CHECK_HAS(g.body, "PUT /echo HTTP/1.1\r\n");
    CHECK_HAS(g.body, "User-Agent: Baton/");
    CHECK_HAS(g.body, "X-One: 1\r\n");
    CHECK_HAS(g.body, "Content-Type: application/json\r\n");
    CHECK_HAS(g.body, "Content-Length: 7\r\n");
    CHECK_HAS(g.body, "\r\n\r\n{\"a\":1}");
    CHECK(strstr(g.body, "Expect:") == NULL);
    fx_close(&f);
}

TEST(httpc_post_without_body_and_head) {
    fx_t f;
    got_t g = {0}, h = {0};
    fx_open(&f, NULL);
    httpc_opts_t o = {.method = "POST", .url = fx_url(&f, "/echo")};
    fetch(&f, &o, &g);
    CHECK_HAS(g.body, "POST /echo HTTP/1.1\r\n");
    CHECK_HAS(g.body, "Content-Length: 0\r\n");
    o.method = "HEAD";
    fetch(&f, &o, &h);
    CHECK_INT(h.outcome, HTTPC_OK);
    CHECK_INT(h.status, 200);
    CHECK_INT(h.len, 0);
    fx_close(&f);
}

TEST(httpc_max_bytes_is_limit_with_or_without_a_length) {
    fx_t f;
    got_t a = {0}, b = {0}, c = {0};
    fx_open(&f, &(httpc_conf_t){.max_bytes = 1000});
    httpc_opts_t o = {.url = fx_url(&f, "/big")};
    fetch(&f, &o, &a); /* the client's cap */
    CHECK_INT(a.outcome, HTTPC_LIMIT);
    CHECK_HAS(a.error, "max_bytes");
    o.url = fx_url(&f, "/chunked");
    fetch(&f, &o, &b);
    CHECK_INT(b.outcome, HTTPC_LIMIT);
    CHECK(b.len <= 1000);
    o.max_bytes = 100000; /* the request's own, above the client's */
    fetch(&f, &o, &c);
    CHECK_INT(c.outcome, HTTPC_OK);
    CHECK_INT(c.len, 30000);
    fx_close(&f);
}

TEST(httpc_redirects_followed_only_when_asked_and_only_to_http) {
    fx_t f;
    got_t a = {0}, b = {0}, c = {0}, d = {0};
    fx_open(&f, NULL);
    httpc_opts_t o = {.url = fx_url(&f, "/redirect")};
    fetch(&f, &o, &a);
    CHECK_INT(a.outcome, HTTPC_OK);
    CHECK_INT(a.status, 302);
    CHECK_HAS(a.headers, "location=/ok;");
    o.follow = 1;
    fetch(&f, &o, &b);
    CHECK_INT(b.status, 201);
    CHECK_STR(b.body, "hello");
    CHECK_STR(b.url, fx_url(&f, "/ok"));
    CHECK(strstr(b.headers, "location") == NULL); /* the last answer's headers only */
    o.url = fx_url(&f, "/to-ftp");
    fetch(&f, &o, &c);
    CHECK(c.outcome != HTTPC_OK);
    o.url = fx_url(&f, "/loop");
    fetch(&f, &o, &d);
    CHECK_INT(d.outcome, HTTPC_NETWORK);
    CHECK_HAS(d.error, "redirect");
    fx_close(&f);
}

TEST(httpc_timeout_cut_answer_and_refused) {
    fx_t f;
    got_t a = {0}, b = {0}, c = {0};
    fx_open(&f, NULL);
    httpc_opts_t o = {.url = fx_url(&f, "/hang"), .timeout = 0.2};
    uint64_t t0 = uv_hrtime();
    fetch(&f, &o, &a);
    CHECK_INT(a.outcome, HTTPC_TIMEOUT);
    CHECK((uv_hrtime() - t0) / 1000000 < 3000);
    o = (httpc_opts_t){.url = fx_url(&f, "/cut"), .timeout = 5};
    fetch(&f, &o, &b);
    CHECK_INT(b.outcome, HTTPC_NETWORK);
    o.url = "http://127.0.0.1:1/x"; /* nothing listens on port 1 */
    fetch(&f, &o, &c);
    CHECK_INT(c.outcome, HTTPC_NETWORK);
    CHECK(c.error[0] != 0);
    fx_close(&f);
}

TEST(httpc_names_resolve_on_the_loop) {
    fx_t f;
    got_t g = {0};
    fx_open(&f, NULL);
    char url[128];
    snprintf(url, sizeof url, "http://localhost:%d/ok", f.srv.port);
    httpc_opts_t o = {.url = url, .timeout = 5};
    fetch(&f, &o, &g);
    /* localhost may be ::1 first; the server is on 127.0.0.1 only: either it answers or
     * the other address is refused, but the call ends through the loop */
    CHECK(g.outcome == HTTPC_OK || g.outcome == HTTPC_NETWORK);
    fx_close(&f);
}

TEST(httpc_refuses_bad_requests_at_once) {
    fx_t f;
    httpc_req_t *r;
    char err[256];
    fx_open(&f, NULL);
    const char *bad[] = {"ftp://127.0.0.1/", "file:///etc/passwd", "127.0.0.1/x", "http://",
                         "http://a b/"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        httpc_opts_t o = {.url = bad[i]};
        CHECK_INT(httpc_request(f.c, &o, on_done, NULL, &r, err, sizeof err), -EINVAL);
        CHECK(r == NULL);
    }
    const char *h1[] = {"no colon"}, *h2[] = {"X: a\r\nY: b"}, *h3[] = {": empty"},
               *h4[] = {"Sp ace: 1"};
    const char *const *hs[] = {h1, h2, h3, h4};
    for (size_t i = 0; i < 4; i++) {
        httpc_opts_t o = {.url = fx_url(&f, "/ok"), .headers = hs[i], .nheaders = 1};
        CHECK_INT(httpc_request(f.c, &o, on_done, NULL, &r, err, sizeof err), -EINVAL);
        CHECK_HAS(err, "header 1");
    }
    httpc_opts_t o = {.url = fx_url(&f, "/ok"), .method = "get"};
    CHECK_INT(httpc_request(f.c, &o, on_done, NULL, &r, err, sizeof err), -EINVAL);
    CHECK_INT(httpc_inflight(f.c), 0);
    fx_close(&f);
}

TEST(httpc_reuses_connections_across_requests) {
    fx_t f;
    got_t g[4] = {{0}};
    fx_open(&f, NULL);
    httpc_opts_t o = {.url = fx_url(&f, "/ok")};
    for (int i = 0; i < 4; i++) fetch(&f, &o, &g[i]);
    for (int i = 0; i < 4; i++) CHECK_INT(g[i].status, 201);
    CHECK_INT(f.srv.requests, 4);
    CHECK_INT(f.srv.accepts, 1);
    fx_close(&f);
}

TEST(httpc_max_per_host_caps_parallel_connections) {
    fx_t f;
    got_t g[6] = {{0}};
    httpc_req_t *r;
    char err[128];
    fx_open(&f, &(httpc_conf_t){.max_connections = 4, .max_per_host = 2});
    httpc_opts_t o = {.url = fx_url(&f, "/echo")};
    for (int i = 0; i < 6; i++)
        CHECK_INT(httpc_request(f.c, &o, on_done, &g[i], &r, err, sizeof err), 0);
    CHECK_INT(httpc_inflight(f.c), 6);
    fx_wait(&f, g, 6);
    for (int i = 0; i < 6; i++) CHECK_INT(g[i].status, 200);
    CHECK(f.srv.max_open <= 2);
    fx_close(&f);
}

typedef struct seen {
    int n;
    char last[512];
} seen_t;

static void observe(void *ud, const httpc_opts_t *o, const httpc_result_t *res) {
    seen_t *s = ud;
    s->n++;
    snprintf(s->last, sizeof s->last, "%s %s %s %ld", o->method, o->url,
             httpc_outcome_name(res->outcome), res->status);
}

TEST(httpc_observer_hears_every_request_that_ends) {
    fx_t f;
    got_t g = {0};
    seen_t s = {0};
    fx_open(&f, NULL);
    httpc_observe(f.c, observe, &s);
    httpc_opts_t o = {.url = fx_url(&f, "/nothing")};
    fetch(&f, &o, &g);
    CHECK_INT(s.n, 1);
    char want[512];
    snprintf(want, sizeof want, "GET %s ok 404", f.url);
    CHECK_STR(s.last, want);
    fx_close(&f);
}

TEST(httpc_cancel_and_shutdown_with_requests_in_flight) {
    fx_t f;
    got_t a = {0}, b = {0}, c = {0};
    httpc_req_t *ra, *rb, *rc;
    char err[128];
    fx_open(&f, NULL);
    httpc_opts_t o = {.url = fx_url(&f, "/hang")};
    CHECK_INT(httpc_request(f.c, &o, on_done, &a, &ra, err, sizeof err), 0);
    CHECK_INT(httpc_request(f.c, &o, on_done, &b, &rb, err, sizeof err), 0);
    o.url = fx_url(&f, "/ok");
    CHECK_INT(httpc_request(f.c, &o, on_done, &c, &rc, err, sizeof err), 0);
    fx_wait(&f, &c, 1);
    while (f.srv.requests < 3 && uv_run(&f.loop, UV_RUN_ONCE)) {
    }
    CHECK_INT(httpc_inflight(f.c), 2);
    httpc_cancel(f.c, ra);
    CHECK_INT(httpc_inflight(f.c), 1);
    for (int i = 0; i < 5; i++) uv_run(&f.loop, UV_RUN_NOWAIT);
    fx_close(&f); /* rb still in flight: dropped without a call */
    CHECK_INT(a.calls, 0);
    CHECK_INT(b.calls, 0);
    CHECK_INT(c.calls, 1);
}

TEST(httpc_after_shutdown_refuses) {
    uv_loop_t loop;
    httpc_t *c;
    httpc_req_t *r;
    char err[128];
    uv_loop_init(&loop);
    CHECK_INT(httpc_new(&c, &loop, NULL), 0);
    httpc_shutdown(c);
    httpc_opts_t o = {.url = "http://127.0.0.1:1/"};
    CHECK_INT(httpc_request(c, &o, on_done, NULL, &r, err, sizeof err), -ESHUTDOWN);
    httpc_free(c); /* before the loop's last turns: nothing of it is left on the loop */
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_INT(uv_loop_close(&loop), 0);
}

TEST(httpc_proxy_from_the_client_or_the_request_never_the_environment) {
    fx_t f;
    got_t a = {0}, b = {0}, c = {0}, d = {0};
    char proxy[64];
    setenv("http_proxy", "http://127.0.0.1:1", 1); /* nothing there: must not be used */
    setenv("ALL_PROXY", "http://127.0.0.1:1", 1);
    uv_loop_init(&f.loop);
    srv_open(&f.srv, &f.loop);
    snprintf(proxy, sizeof proxy, "http://127.0.0.1:%d", f.srv.port);
    CHECK_INT(httpc_new(&f.c, &f.loop, &(httpc_conf_t){.proxy = proxy}), 0);
    /* the client's proxy: the server is asked for another host's URL */
    httpc_opts_t o = {.url = "http://example.invalid/echo", .timeout = 5};
    fetch(&f, &o, &a);
    CHECK_INT(a.outcome, HTTPC_OK);
    CHECK_HAS(a.body, "GET http://example.invalid/echo HTTP/1.1\r\n");
    /* "" for a request: straight to the server, whatever the environment says */
    o = (httpc_opts_t){.url = fx_url(&f, "/echo"), .proxy = "", .timeout = 5};
    fetch(&f, &o, &b);
    CHECK_INT(b.outcome, HTTPC_OK);
    CHECK_HAS(b.body, "GET /echo HTTP/1.1\r\n");
    /* a request's own proxy */
    o = (httpc_opts_t){.url = "http://example.invalid/ok", .proxy = proxy, .timeout = 5};
    fetch(&f, &o, &c);
    CHECK_INT(c.status, 201);
    o.proxy = "http://127.0.0.1:1"; /* a proxy that is not there */
    fetch(&f, &o, &d);
    CHECK_INT(d.outcome, HTTPC_NETWORK);
    fx_close(&f);
}

TEST(httpc_without_a_proxy_ignores_the_environments) {
    fx_t f;
    got_t g = {0};
    setenv("http_proxy", "http://127.0.0.1:1", 1);
    setenv("HTTP_PROXY", "http://127.0.0.1:1", 1);
    setenv("ALL_PROXY", "http://127.0.0.1:1", 1);
    fx_open(&f, NULL);
    httpc_opts_t o = {.url = fx_url(&f, "/ok"), .timeout = 5};
    fetch(&f, &o, &g);
    CHECK_INT(g.outcome, HTTPC_OK);
    CHECK_INT(g.status, 201);
    fx_close(&f);
}

/* ---- HTTPS: openssl s_server with a self-signed certificate ---- */

typedef struct tls_srv {
    char dir[64];
    char cert[128];
    pid_t pid;
    int port;
} tls_srv_t;

static int free_tcp_port(void) {
    uv_loop_t loop;
    uv_tcp_t t;
    struct sockaddr_in a, got;
    int len = sizeof got;
    uv_loop_init(&loop);
    uv_ip4_addr("127.0.0.1", 0, &a);
    uv_tcp_init(&loop, &t);
    uv_tcp_bind(&t, (const struct sockaddr *)&a, 0);
    uv_tcp_getsockname(&t, (struct sockaddr *)&got, &len);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    return ntohs(got.sin_port);
}

/* 0 once the server answers TLS on its port, -1 when it could not start. */
static int tls_open(tls_srv_t *t) {
    char cmd[512], key[128], accept[32];
    snprintf(t->dir, sizeof t->dir, "/tmp/baton-tls-XXXXXX");
    if (!mkdtemp(t->dir)) return -1;
    snprintf(t->cert, sizeof t->cert, "%s/cert.pem", t->dir);
    snprintf(key, sizeof key, "%s/key.pem", t->dir);
    snprintf(cmd, sizeof cmd,
             "openssl req -x509 -newkey rsa:2048 -nodes -keyout %s -out %s -days 1 "
             "-subj /CN=localhost -addext subjectAltName=IP:127.0.0.1 >/dev/null 2>&1",
             key, t->cert);
    if (system(cmd) != 0) return -1;
    t->port = free_tcp_port();
    snprintf(accept, sizeof accept, "127.0.0.1:%d", t->port);
    if ((t->pid = fork()) == 0) {
        int null = open("/dev/null", O_RDWR);
        dup2(null, 0);
        dup2(null, 1);
        dup2(null, 2);
        execlp("openssl", "openssl", "s_server", "-accept", accept, "-cert", t->cert, "-key", key,
               "-www", "-quiet", (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 100; i++) { /* up to 10 s for it to listen */
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a;
        uv_ip4_addr("127.0.0.1", t->port, &a);
        int up = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
        close(fd);
        if (up) return 0;
        usleep(100000);
    }
    return -1;
}

static void tls_close(tls_srv_t *t) {
    if (t->pid > 0) {
        kill(t->pid, SIGTERM);
        waitpid(t->pid, NULL, 0);
    }
    fs_remove_tree(t->dir);
}

TEST(httpc_https_verifies_the_server_against_the_ca_given_or_the_systems) {
    tls_srv_t t = {0};
    if (tls_open(&t) < 0) {
        tls_close(&t);
        CHECK(!"openssl could not make a self-signed server");
        return;
    }
    char url[64];
    snprintf(url, sizeof url, "https://127.0.0.1:%d/", t.port);
    uv_loop_t loop;
    httpc_t *c;
    got_t a = {0}, b = {0};
    httpc_req_t *r;
    char err[128];
    uv_loop_init(&loop);
    /* with its CA: the handshake runs on the loop and the answer comes */
    CHECK_INT(httpc_new(&c, &loop, &(httpc_conf_t){.ca_file = t.cert, .timeout = 10}), 0);
    httpc_opts_t o = {.url = url};
    CHECK_INT(httpc_request(c, &o, on_done, &a, &r, err, sizeof err), 0);
    while (a.calls == 0 && uv_run(&loop, UV_RUN_ONCE)) {
    }
    CHECK_INT(a.outcome, HTTPC_OK);
    CHECK_INT(a.status, 200);
    CHECK_HAS(a.body, "s_server");
    httpc_shutdown(c);
    uv_run(&loop, UV_RUN_DEFAULT);
    httpc_free(c);
    /* with the system's store only: the certificate is refused, a network error */
    CHECK_INT(httpc_new(&c, &loop, &(httpc_conf_t){.timeout = 10}), 0);
    CHECK_INT(httpc_request(c, &o, on_done, &b, &r, err, sizeof err), 0);
    while (b.calls == 0 && uv_run(&loop, UV_RUN_ONCE)) {
    }
    CHECK_INT(b.outcome, HTTPC_NETWORK);
    CHECK_HAS(b.error, "certificate");
    httpc_shutdown(c);
    uv_run(&loop, UV_RUN_DEFAULT);
    httpc_free(c);
    CHECK_INT(uv_loop_close(&loop), 0);
    tls_close(&t);
}

/* The engine's drain: the answer ends the last run, and the engine shuts the
 * client down from inside that very callback, with other requests queued. */
typedef struct shut {
    httpc_t *c;
    int calls;
} shut_t;

static void on_done_shutdown(void *ud, const httpc_result_t *res) {
    shut_t *s = ud;
    (void)res;
    s->calls++;
    httpc_shutdown(s->c);
}

TEST(httpc_shutdown_from_inside_a_done_callback) {
    fx_t f;
    shut_t s = {0};
    got_t other = {0};
    httpc_req_t *r;
    char err[128];
    fx_open(&f, NULL);
    s.c = f.c;
    httpc_opts_t o = {.url = fx_url(&f, "/ok")};
    CHECK_INT(httpc_request(f.c, &o, on_done_shutdown, &s, &r, err, sizeof err), 0);
    CHECK_INT(httpc_request(f.c, &o, on_done_shutdown, &s, &r, err, sizeof err), 0);
    o.url = fx_url(&f, "/hang");
    CHECK_INT(httpc_request(f.c, &o, on_done, &other, &r, err, sizeof err), 0);
    while (s.calls == 0 && uv_run(&f.loop, UV_RUN_ONCE)) {
    }
    CHECK_INT(s.calls, 1); /* the second answer, if it came too, was dropped */
    CHECK_INT(httpc_inflight(f.c), 0);
    fx_close(&f);
    CHECK_INT(s.calls, 1);
    CHECK_INT(other.calls, 0);
}
