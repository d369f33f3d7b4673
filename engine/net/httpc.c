/* httpc.c — libcurl's multi-socket interface on the libuv loop: a uv_poll_t
 * per socket curl asks to watch, one uv_timer_t for curl's timeouts, and the
 * requests in flight (their easy handles, header lists, bodies and
 * callbacks). Every handle is its own allocation, freed in its close
 * callback, so the client itself may go before the loop's last turns. */
#include "httpc.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/list.h"
#include "base/version.h"

enum {
    HTTPC_MAX_REDIRECTS = 10,
    HTTPC_MAX_HEADER_BYTES = 256 * 1024, /* of one answer's header lines */
    HTTPC_MAX_HEADERS = 256,
};

/* One socket curl watches; closed through uv_close, freed in its callback. */
typedef struct httpc_sock {
    uv_poll_t poll;
    list_t link; /* httpc_t.socks */
    curl_socket_t fd;
    httpc_t *c;
} httpc_sock_t;

struct httpc {
    uv_loop_t *loop;
    CURLM *multi;
    uv_timer_t *timer; /* made on the first request; freed in its close callback */
    int closed;
    list_t reqs;  /* httpc_req_t.link */
    list_t socks; /* httpc_sock_t.link */
    size_t inflight;
    httpc_conf_t conf;
    char *proxy; /* conf.proxy, copied */
    char *ca_file;
    httpc_observe_fn observe;
    void *observe_ud;
};

struct httpc_req {
    list_t link;
    httpc_t *c;
    CURL *easy;
    struct curl_slist *headers_out;
    httpc_done_fn done;
    void *ud;
    uint64_t start;
    httpc_opts_t opts; /* for the observer: method and url, copied */
    char *method, *url;
    /* the answer */
    char *body; /* NUL-terminated */
    size_t len, cap, max;
    int over;         /* the body passed max_bytes */
    int headers_over; /* the header lines passed their cap */
    char *head;       /* the last answer's header lines: "name\0value\0" … */
    size_t head_len, head_cap;
    size_t nheaders;
    char err[CURL_ERROR_SIZE];
};

const char *httpc_outcome_name(httpc_outcome_t o) {
    switch (o) {
    case HTTPC_OK:
        return "ok";
    case HTTPC_NETWORK:
        return "network";
    case HTTPC_TIMEOUT:
        return "timeout";
    case HTTPC_LIMIT:
        return "limit";
    case HTTPC_REFUSED:
        return "refused";
    }
    return "?";
}

int httpc_async_dns(void) {
    const curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);
    return v && (v->features & CURL_VERSION_ASYNCHDNS);
}

/* ---- requests ---- */

/* Takes r out of the client: off the list, the multi handle and the count. */
static void req_detach(httpc_req_t *r) {
    list_remove(&r->link);
    if (r->easy) curl_multi_remove_handle(r->c->multi, r->easy);
    r->c->inflight--;
}

/* Frees a detached request. */
static void req_release(httpc_req_t *r) {
    curl_easy_cleanup(r->easy);
    curl_slist_free_all(r->headers_out);
    free(r->method);
    free(r->url);
    free(r->body);
    free(r->head);
    free(r);
}

static void req_free(httpc_req_t *r) {
    req_detach(r);
    req_release(r);
}

static httpc_outcome_t httpc_outcome(const httpc_req_t *r, CURLcode rc) {
    if (r->over || r->headers_over || rc == CURLE_FILESIZE_EXCEEDED) return HTTPC_LIMIT;
    if (rc == CURLE_OK) return HTTPC_OK;
    if (rc == CURLE_OPERATION_TIMEDOUT) return HTTPC_TIMEOUT;
    if (rc == CURLE_UNSUPPORTED_PROTOCOL) return HTTPC_REFUSED;
    return HTTPC_NETWORK;
}

/* Hands one finished transfer to its callback, then frees it. r is out of
 * the client first: what the callback sets off (the run it wakes ends, the
 * engine drains and shuts the client down) cannot reach it. */
static void httpc_finish(httpc_t *c, httpc_req_t *r, CURLcode rc) {
    req_detach(r);
    httpc_header_t hdrs[HTTPC_MAX_HEADERS];
    size_t nh = 0;
    for (size_t off = 0; off < r->head_len && nh < HTTPC_MAX_HEADERS; nh++) {
        hdrs[nh].name = r->head + off;
        off += strlen(r->head + off) + 1;
        hdrs[nh].value = r->head + off;
        off += strlen(r->head + off) + 1;
    }
    char msg[CURL_ERROR_SIZE + 64];
    httpc_result_t res = {.outcome = httpc_outcome(r, rc),
                          .body = r->body ? r->body : "",
                          .len = r->len,
                          .headers = hdrs,
                          .nheaders = nh,
                          .url = r->url};
    curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &res.status);
    char *eff = NULL;
    if (curl_easy_getinfo(r->easy, CURLINFO_EFFECTIVE_URL, &eff) == CURLE_OK && eff) res.url = eff;
    if (res.outcome == HTTPC_OK)
        msg[0] = 0;
    else if (r->over || rc == CURLE_FILESIZE_EXCEEDED)
        snprintf(msg, sizeof msg, "the answer is larger than max_bytes (%zu bytes)", r->max);
    else if (r->headers_over)
        snprintf(msg, sizeof msg, "the answer's headers are larger than %d bytes",
                 HTTPC_MAX_HEADER_BYTES);
    else
        snprintf(msg, sizeof msg, "%s", r->err[0] ? r->err : curl_easy_strerror(rc));
    size_t n = strlen(msg);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' ')) msg[--n] = 0;
    res.error = msg;
    res.ms = (double)(uv_hrtime() - r->start) / 1e6;
    if (c->observe) c->observe(c->observe_ud, &r->opts, &res);
    r->done(r->ud, &res);
    req_release(r);
}

/* Every finished transfer; a callback may have shut the client down. */
static void httpc_reap(httpc_t *c) {
    CURLMsg *m;
    int left;
    while (c->multi && (m = curl_multi_info_read(c->multi, &left))) {
        if (m->msg != CURLMSG_DONE) continue;
        httpc_req_t *r = NULL;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&r);
        httpc_finish(c, r, m->data.result);
    }
}

/* ---- the loop's side ---- */

static void httpc_on_poll(uv_poll_t *p, int status, int events) {
    httpc_sock_t *s = p->data;
    httpc_t *c = s->c;
    int flags = 0, running;
    if (status < 0) flags = CURL_CSELECT_ERR;
    if (events & UV_READABLE) flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE) flags |= CURL_CSELECT_OUT;
    curl_multi_socket_action(c->multi, s->fd, flags, &running);
    httpc_reap(c);
}

static void httpc_on_timer(uv_timer_t *t) {
    httpc_t *c = t->data;
    int running;
    curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    httpc_reap(c);
}

/* A poll is the first member of its httpc_sock_t, so either handle is its own allocation. */
static void httpc_handle_closed(uv_handle_t *h) { free(h); }

static void httpc_sock_close(httpc_sock_t *s) {
    list_remove(&s->link);
    uv_poll_stop(&s->poll);
    uv_close((uv_handle_t *)&s->poll, httpc_handle_closed);
}

/* CURLMOPT_SOCKETFUNCTION: start, change or stop watching fd. */
static int httpc_on_socket(CURL *easy, curl_socket_t fd, int what, void *ud, void *sockp) {
    (void)easy;
    httpc_t *c = ud;
    httpc_sock_t *s = sockp;
    if (what == CURL_POLL_REMOVE) {
        if (s) {
            curl_multi_assign(c->multi, fd, NULL);
            httpc_sock_close(s);
        }
        return 0;
    }
    if (!s) {
        if (!(s = calloc(1, sizeof *s))) return -1;
        s->fd = fd;
        s->c = c;
        if (uv_poll_init_socket(c->loop, &s->poll, fd) < 0) {
            free(s);
            return -1;
        }
        s->poll.data = s;
        list_push_back(&c->socks, &s->link);
        curl_multi_assign(c->multi, fd, s);
    }
    int ev = (what & CURL_POLL_IN ? UV_READABLE : 0) | (what & CURL_POLL_OUT ? UV_WRITABLE : 0);
    if (ev)
        uv_poll_start(&s->poll, ev, httpc_on_poll);
    else
        uv_poll_stop(&s->poll);
    return 0;
}

/* CURLMOPT_TIMERFUNCTION: -1 stops the timer, else fire after ms. */
static int httpc_on_timeout(CURLM *multi, long ms, void *ud) {
    (void)multi;
    httpc_t *c = ud;
    if (!c->timer) return 0;
    if (ms < 0)
        uv_timer_stop(c->timer);
    else
        uv_timer_start(c->timer, httpc_on_timer, (uint64_t)ms, 0);
    return 0;
}

/* ---- what comes in ---- */

/* CURLOPT_WRITEFUNCTION: keeps the body; past max_bytes aborts the transfer. */
static size_t httpc_on_write(char *data, size_t size, size_t n, void *ud) {
    httpc_req_t *r = ud;
    size_t len = size * n;
    if (r->max && r->len + len > r->max) {
        r->over = 1;
        return 0; /* curl aborts with CURLE_WRITE_ERROR */
    }
    if (r->len + len + 1 > r->cap) {
        size_t cap = r->cap ? r->cap : 4096;
        while (cap < r->len + len + 1) cap *= 2;
        char *b = realloc(r->body, cap);
        if (!b) return 0;
        r->body = b;
        r->cap = cap;
    }
    memcpy(r->body + r->len, data, len);
    r->len += len;
    r->body[r->len] = '\0';
    return len;
}

/* CURLOPT_HEADERFUNCTION: one header line of an answer. A status line starts
 * a new answer (after a redirect or a 100 Continue): what came before goes. */
static size_t httpc_on_header(char *data, size_t size, size_t n, void *ud) {
    httpc_req_t *r = ud;
    size_t len = size * n;
    if (len >= 5 && memcmp(data, "HTTP/", 5) == 0) {
        r->head_len = 0;
        r->nheaders = 0;
        r->len = 0; /* a redirect's own body is not the answer's */
        return len;
    }
    const char *colon = memchr(data, ':', len);
    if (!colon) return len; /* the blank line, or a line curl passes on that is no field */
    size_t nl = (size_t)(colon - data);
    const char *v = colon + 1, *end = data + len;
    while (v < end && (*v == ' ' || *v == '\t')) v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t'))
        end--;
    size_t vl = (size_t)(end - v);
    if (r->head_len + nl + vl + 2 > HTTPC_MAX_HEADER_BYTES || r->nheaders == HTTPC_MAX_HEADERS) {
        r->headers_over = 1;
        return 0;
    }
    if (r->head_len + nl + vl + 2 > r->head_cap) {
        size_t cap = r->head_cap ? r->head_cap : 1024;
        while (cap < r->head_len + nl + vl + 2) cap *= 2;
        char *h = realloc(r->head, cap);
        if (!h) return 0;
        r->head = h;
        r->head_cap = cap;
    }
    char *p = r->head + r->head_len;
    for (size_t i = 0; i < nl; i++) p[i] = (char)tolower((unsigned char)data[i]);
    p[nl] = 0;
    memcpy(p + nl + 1, v, vl);
    p[nl + 1 + vl] = 0;
    r->head_len += nl + vl + 2;
    r->nheaders++;
    return len;
}

/* ---- the client ---- */

static char *dup_or_null(const char *s) { return s && s[0] ? strdup(s) : NULL; }

int httpc_new(httpc_t **out, uv_loop_t *loop, const httpc_conf_t *conf) {
    static int global;
    *out = NULL;
    if (!global) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) return -EIO;
        global = 1;
    }
    httpc_t *c = calloc(1, sizeof *c);
    if (!c) return -ENOMEM;
    if (conf) c->conf = *conf;
    c->proxy = dup_or_null(c->conf.proxy);
    c->ca_file = dup_or_null(c->conf.ca_file);
    c->conf.proxy = c->conf.ca_file = NULL;
    if (!(c->multi = curl_multi_init())) {
        free(c->proxy);
        free(c->ca_file);
        free(c);
        return -EIO;
    }
    c->loop = loop;
    list_init(&c->reqs);
    list_init(&c->socks);
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, httpc_on_socket);
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, httpc_on_timeout);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
    if (c->conf.max_connections > 0)
        curl_multi_setopt(c->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)c->conf.max_connections);
    if (c->conf.max_per_host > 0)
        curl_multi_setopt(c->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)c->conf.max_per_host);
    *out = c;
    return 0;
}

void httpc_observe(httpc_t *c, httpc_observe_fn fn, void *ud) {
    c->observe = fn;
    c->observe_ud = ud;
}

/* Whether url is http:// or https:// (any case) with something after it. */
static int httpc_url_ok(const char *url) {
    if (!url) return 0;
    if (strncasecmp(url, "http://", 7) == 0) return url[7] != 0;
    if (strncasecmp(url, "https://", 8) == 0) return url[8] != 0;
    return 0;
}

/* Checks o and copies what the request keeps; 0 or -EINVAL / -ENOMEM. */
static int httpc_prepare(httpc_req_t *r, const httpc_opts_t *o, char *err, size_t errlen) {
    if (!httpc_url_ok(o->url)) {
        snprintf(err, errlen, "only http:// and https:// URLs can be fetched");
        return -EINVAL;
    }
    if (strpbrk(o->url, "\r\n ") != NULL) {
        snprintf(err, errlen, "the URL contains a space or a line break");
        return -EINVAL;
    }
    if (o->method) {
        for (const char *m = o->method; *m; m++)
            if (!isupper((unsigned char)*m) && *m != '-' && *m != '_') {
                snprintf(err, errlen, "the method must be upper-case letters");
                return -EINVAL;
            }
        if (!o->method[0]) {
            snprintf(err, errlen, "the method is empty");
            return -EINVAL;
        }
    }
    for (size_t i = 0; i < o->nheaders; i++) {
        const char *h = o->headers[i], *colon = strchr(h, ':');
        if (!colon || colon == h || strpbrk(h, "\r\n")) {
            snprintf(err, errlen, "header %zu is not one 'Name: value' line", i + 1);
            return -EINVAL;
        }
        for (const char *p = h; p < colon; p++)
            if (*p <= ' ' || *p >= 0x7f) {
                snprintf(err, errlen, "header %zu: the name has a space or control byte", i + 1);
                return -EINVAL;
            }
        struct curl_slist *l = curl_slist_append(r->headers_out, h);
        if (!l) return -ENOMEM;
        r->headers_out = l;
    }
    /* No 100-continue round trip before a large body. */
    struct curl_slist *l = curl_slist_append(r->headers_out, "Expect:");
    if (!l) return -ENOMEM;
    r->headers_out = l;
    r->method = strdup(o->method ? o->method : "GET");
    r->url = strdup(o->url);
    if (!r->method || !r->url) return -ENOMEM;
    r->opts = *o;
    r->opts.method = r->method;
    r->opts.url = r->url;
    r->opts.headers = NULL;
    r->opts.nheaders = 0;
    r->opts.body = NULL;
    r->opts.proxy = NULL;
    return 0;
}

static void httpc_setup(httpc_t *c, httpc_req_t *r, const httpc_opts_t *o) {
    CURL *e = r->easy;
    curl_easy_setopt(e, CURLOPT_URL, r->url);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_PRIVATE, r);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->err);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, httpc_on_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, httpc_on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "Baton/" BATON_VERSION);
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, ""); /* what this libcurl decodes */
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->headers_out);
    if (c->ca_file) curl_easy_setopt(e, CURLOPT_CAINFO, c->ca_file);
    /* "" (no proxy) rather than unset: the environment's proxy variables
     * must not reach the engine's requests behind its configuration's back. */
    const char *proxy = o->proxy ? o->proxy : c->proxy ? c->proxy : "";
    curl_easy_setopt(e, CURLOPT_PROXY, proxy);
    if (o->follow) {
        curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
        curl_easy_setopt(e, CURLOPT_MAXREDIRS, (long)HTTPC_MAX_REDIRECTS);
    }
    const char *m = r->method;
    if (strcmp(m, "HEAD") == 0) {
        curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    } else if (strcmp(m, "POST") == 0) {
        curl_easy_setopt(e, CURLOPT_POST, 1L);
    } else if (strcmp(m, "GET") != 0) {
        /* Kept across redirects as curl does for a custom method. */
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, m);
    }
    if (o->body || strcmp(m, "POST") == 0) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(o->body ? o->body_len : 0));
        curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, o->body ? o->body : "");
    }
    double timeout = o->timeout > 0 ? o->timeout : c->conf.timeout;
    if (timeout > 0) {
        long ms = timeout * 1000 > 2e9 ? 2000000000L : (long)(timeout * 1000);
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, ms > 0 ? ms : 1L);
    }
    r->max = o->max_bytes ? o->max_bytes : c->conf.max_bytes;
    if (r->max) curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)r->max);
}

int httpc_request(httpc_t *c, const httpc_opts_t *o, httpc_done_fn done, void *ud,
                  httpc_req_t **out, char *err, size_t errlen) {
    *out = NULL;
    if (errlen) err[0] = 0;
    if (c->closed) {
        snprintf(err, errlen, "the engine is shutting down");
        return -ESHUTDOWN;
    }
    if (!c->timer) {
        if (!(c->timer = calloc(1, sizeof *c->timer))) goto oom;
        uv_timer_init(c->loop, c->timer);
        c->timer->data = c;
    }
    httpc_req_t *r = calloc(1, sizeof *r);
    if (!r) goto oom;
    list_init(&r->link);
    r->c = c;
    r->done = done;
    r->ud = ud;
    r->start = uv_hrtime();
    c->inflight++;
    if (!(r->easy = curl_easy_init())) {
        list_push_back(&c->reqs, &r->link);
        req_free(r);
        goto oom;
    }
    list_push_back(&c->reqs, &r->link);
    int rc = httpc_prepare(r, o, err, errlen);
    if (rc < 0) {
        req_free(r);
        if (rc == -ENOMEM) goto oom;
        return rc;
    }
    httpc_setup(c, r, o);
    if (curl_multi_add_handle(c->multi, r->easy) != CURLM_OK) {
        req_free(r);
        goto oom;
    }
    *out = r;
    return 0;
oom:
    snprintf(err, errlen, "out of memory");
    return -ENOMEM;
}

void httpc_cancel(httpc_t *c, httpc_req_t *r) {
    (void)c;
    if (r) req_free(r);
}

size_t httpc_inflight(const httpc_t *c) { return c ? c->inflight : 0; }

void httpc_shutdown(httpc_t *c) {
    if (!c || c->closed) return;
    c->closed = 1;
    while (!list_empty(&c->reqs)) req_free(list_entry(c->reqs.next, httpc_req_t, link));
    /* Closes the cached connections; curl takes their sockets off (REMOVE). */
    curl_multi_cleanup(c->multi);
    c->multi = NULL;
    while (!list_empty(&c->socks)) httpc_sock_close(list_entry(c->socks.next, httpc_sock_t, link));
    if (c->timer) {
        uv_timer_stop(c->timer);
        uv_close((uv_handle_t *)c->timer, httpc_handle_closed);
        c->timer = NULL;
    }
}

void httpc_free(httpc_t *c) {
    if (!c) return;
    httpc_shutdown(c);
    free(c->proxy);
    free(c->ca_file);
    free(c);
}
