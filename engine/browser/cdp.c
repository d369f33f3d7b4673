/* cdp.c — the protocol half of a CDP connection (ids, pending calls and their
 * timeouts, events by session) and the pipe transport for browsers the
 * engine launched: JSON messages separated by NUL bytes on fds 3 and 4. */
#include "cdp_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/list.h"
#include "base/log.h"

enum { MAX_MESSAGE = 256 << 20 };

typedef struct call {
    list_t link; /* on cdp_t.calls */
    cdp_t *c;
    uint64_t id;
    char session[64];
    cdp_reply_cb cb;
    void *ud;
    vtimer_t timer;
} call_t;

struct cdp {
    uv_loop_t *loop;
    vclock_t *clock;
    cdp_hooks_t hooks;
    const cdp_transport_t *tp;
    void *tp_state;
    uint64_t next_id;
    list_t calls; /* pending calls, oldest first */
    size_t npending;
    int dropped, closed;
    unsigned garbage; /* malformed messages seen (logged, survived) */
};

cdp_t *cdp_alloc(uv_loop_t *loop, vclock_t *clock, const cdp_hooks_t *hooks,
                 const cdp_transport_t *tp, void *tp_state) {
    cdp_t *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->loop = loop;
    c->clock = clock;
    c->hooks = *hooks;
    c->tp = tp;
    c->tp_state = tp_state;
    c->next_id = 1;
    list_init(&c->calls);
    return c;
}

void *cdp_tp_state(cdp_t *c) { return c->tp_state; }
uv_loop_t *cdp_loop(cdp_t *c) { return c->loop; }
size_t cdp_pending(const cdp_t *c) { return c->npending; }

static void call_unlink(call_t *k) {
    list_remove(&k->link);
    k->c->npending--;
    vtimer_stop(k->c->clock, &k->timer);
}

static call_t *call_find(cdp_t *c, uint64_t id) {
    list_each(it, &c->calls) {
        call_t *k = list_entry(it, call_t, link);
        if (k->id == id) return k;
    }
    return NULL;
}

static void call_fail(call_t *k, err_kind_t kind, const char *message) {
    cdp_error_t e = {.kind = kind, .code = 0, .message = message};
    call_unlink(k);
    if (k->cb) k->cb(k->ud, NULL, &e);
    free(k);
}

static void on_call_timeout(vtimer_t *t) {
    call_t *k = t->data;
    cdp_t *c = k->c;
    if (c->hooks.on_timeout) c->hooks.on_timeout(c->hooks.ud, k->session[0] ? k->session : NULL);
    call_fail(k, ERR_TIMEOUT, "the browser did not answer in time");
}

/* Fails every pending call; callbacks may send (they get -EPIPE) or close. */
static void fail_all(cdp_t *c, const char *message) {
    while (!list_empty(&c->calls))
        call_fail(list_entry(c->calls.next, call_t, link), ERR_BROWSER_CRASHED, message);
}

int cdp_send(cdp_t *c, const char *session, const char *method, cJSON *params, double timeout,
             cdp_reply_cb cb, void *ud, uint64_t *id) {
    if (c->dropped || c->closed) {
        cJSON_Delete(params);
        return -EPIPE;
    }
    call_t *k = calloc(1, sizeof *k);
    cJSON *msg = cJSON_CreateObject();
    if (!k || !msg) goto nomem;
    k->c = c;
    k->id = c->next_id++;
    k->cb = cb;
    k->ud = ud;
    if (session) snprintf(k->session, sizeof k->session, "%s", session);
    cJSON_AddNumberToObject(msg, "id", (double)k->id);
    cJSON_AddStringToObject(msg, "method", method);
    if (params) cJSON_AddItemToObject(msg, "params", params);
    params = NULL;
    if (session) cJSON_AddStringToObject(msg, "sessionId", session);
    char *text = cJSON_PrintUnformatted(msg);
    cJSON_Delete(msg);
    msg = NULL;
    if (!text) goto nomem;
    int rc = c->tp->write(c, text, strlen(text));
    free(text);
    if (rc < 0) {
        free(k);
        return rc;
    }
    list_push_back(&c->calls, &k->link);
    c->npending++;
    k->timer.data = k;
    if (timeout > 0)
        vtimer_start(c->clock, &k->timer, vclock_now(c->clock) + timeout, on_call_timeout);
    if (id) *id = k->id;
    return 0;
nomem:
    free(k);
    cJSON_Delete(msg);
    cJSON_Delete(params);
    return -ENOMEM;
}

void cdp_forget(cdp_t *c, uint64_t id) {
    call_t *k = call_find(c, id);
    if (!k) return;
    call_unlink(k);
    free(k);
}

void cdp_fail_session(cdp_t *c, const char *session, err_kind_t kind, const char *message) {
    list_t *it = c->calls.next;
    while (it != &c->calls) {
        call_t *k = list_entry(it, call_t, link);
        it = it->next;
        if (strcmp(k->session, session) == 0) {
            call_fail(k, kind, message);
            it = c->calls.next; /* the callback may have changed the list */
        }
    }
}

static void garbage(cdp_t *c, const char *what, const char *msg, size_t len) {
    /* Logged, not fatal: a misbehaving endpoint must not take the engine down. */
    if (c->garbage++ < 10)
        log_emit(LOG_WARN, NULL, 0, "cdp: ignored %s: %.*s", what, (int)(len > 120 ? 120 : len),
                 msg);
}

void cdp_transport_message(cdp_t *c, const char *msg, size_t len) {
    if (c->closed) return;
    cJSON *j = cJSON_ParseWithLength(msg, len);
    if (!j || !cJSON_IsObject(j)) {
        garbage(c, "a message that is not a JSON object", msg, len);
        cJSON_Delete(j);
        return;
    }
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(j, "id");
    const cJSON *method = cJSON_GetObjectItemCaseSensitive(j, "method");
    if (cJSON_IsNumber(id)) {
        /* Our ids are integers from 1 up; anything else (a fraction, a negative,
         * 1e30) answers no call, and converting it would be undefined. */
        double v = id->valuedouble;
        if (!(v >= 1 && v <= 9007199254740992.0) || v != (double)(uint64_t)v) {
            garbage(c, "a reply with an id we never sent", msg, len);
            cJSON_Delete(j);
            return;
        }
        call_t *k = call_find(c, (uint64_t)v);
        if (!k) { /* forgotten, or timed out: nobody waits for it any more */
            cJSON_Delete(j);
            return;
        }
        call_unlink(k);
        const cJSON *error = cJSON_GetObjectItemCaseSensitive(j, "error");
        if (error) {
            const cJSON *code = cJSON_GetObjectItemCaseSensitive(error, "code");
            const cJSON *text = cJSON_GetObjectItemCaseSensitive(error, "message");
            cdp_error_t e = {.kind = ERR_NONE,
                             .code = cJSON_IsNumber(code) ? code->valueint : 0,
                             .message = cJSON_IsString(text) ? text->valuestring : "error"};
            if (k->cb) k->cb(k->ud, NULL, &e);
        } else {
            const cJSON *result = cJSON_GetObjectItemCaseSensitive(j, "result");
            cJSON empty = {.type = cJSON_Object};
            if (k->cb) k->cb(k->ud, result ? result : &empty, NULL);
        }
        free(k);
    } else if (cJSON_IsString(method)) {
        const cJSON *session = cJSON_GetObjectItemCaseSensitive(j, "sessionId");
        const cJSON *params = cJSON_GetObjectItemCaseSensitive(j, "params");
        cJSON empty = {.type = cJSON_Object};
        if (c->hooks.on_event)
            c->hooks.on_event(c->hooks.ud, cJSON_IsString(session) ? session->valuestring : NULL,
                              method->valuestring, params ? params : &empty);
    } else {
        garbage(c, "a message with neither id nor method", msg, len);
    }
    cJSON_Delete(j);
}

void cdp_transport_dropped(cdp_t *c, const char *why) {
    if (c->dropped) return;
    c->dropped = 1;
    /* The owner hears it first, so that what the failed calls wake up to
     * already knows the browser is gone; then whatever is still out fails. */
    if (!c->closed && c->hooks.on_close) c->hooks.on_close(c->hooks.ud, why);
    fail_all(c, why);
}

void cdp_transport_gone(cdp_t *c) {
    fail_all(c, "connection closed");
    free(c);
}

void cdp_close(cdp_t *c) {
    if (!c || c->closed) return;
    c->closed = 1;
    fail_all(c, "connection closed");
    c->tp->close(c);
}

/* ---- the pipe transport ---- */

typedef struct pipe_tp {
    uv_pipe_t to, from; /* child's fd 3 (we write), fd 4 (we read) */
    char *buf;
    size_t len, cap;
    int open;
} pipe_tp_t;

typedef struct pipe_write {
    uv_write_t req;
    char *data;
} pipe_write_t;

static void pipe_written(uv_write_t *req, int status) {
    pipe_write_t *w = (pipe_write_t *)req;
    cdp_t *c = req->data;
    free(w->data);
    free(w);
    if (status < 0 && status != UV_ECANCELED) {
        char why[128];
        snprintf(why, sizeof why, "browser pipe: %s", uv_strerror(status));
        cdp_transport_dropped(c, why);
    }
}

static int pipe_write(cdp_t *c, const char *msg, size_t len) {
    pipe_tp_t *p = c->tp_state;
    pipe_write_t *w = malloc(sizeof *w);
    char *data = malloc(len + 1);
    if (!w || !data) {
        free(w);
        free(data);
        return -ENOMEM;
    }
    memcpy(data, msg, len);
    data[len] = 0; /* the frame separator */
    w->data = data;
    w->req.data = c;
    uv_buf_t b = uv_buf_init(data, (unsigned)len + 1);
    int rc = uv_write(&w->req, (uv_stream_t *)&p->to, &b, 1, pipe_written);
    if (rc < 0) {
        free(data);
        free(w);
    }
    return rc;
}

static void pipe_handle_closed(uv_handle_t *h) {
    cdp_t *c = h->data;
    pipe_tp_t *p = c->tp_state;
    if (--p->open > 0) return;
    free(p->buf);
    free(p);
    cdp_transport_gone(c);
}

static void pipe_close(cdp_t *c) {
    pipe_tp_t *p = c->tp_state;
    uv_close((uv_handle_t *)&p->to, pipe_handle_closed);
    uv_close((uv_handle_t *)&p->from, pipe_handle_closed);
}

static const cdp_transport_t pipe_transport = {pipe_write, pipe_close};

static void pipe_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
    cdp_t *c = h->data;
    pipe_tp_t *p = c->tp_state;
    (void)suggested;
    if (p->cap - p->len < 65536) {
        size_t cap = p->cap ? p->cap * 2 : 262144;
        char *nb = realloc(p->buf, cap);
        if (!nb) {
            *buf = uv_buf_init(NULL, 0); /* libuv reports UV_ENOBUFS */
            return;
        }
        p->buf = nb;
        p->cap = cap;
    }
    *buf = uv_buf_init(p->buf + p->len, (unsigned)(p->cap - p->len));
}

static void pipe_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
    cdp_t *c = s->data;
    pipe_tp_t *p = c->tp_state;
    (void)buf;
    if (n < 0) {
        uv_read_stop(s);
        cdp_transport_dropped(c, n == UV_EOF ? "the browser closed its pipe" : uv_strerror((int)n));
        return;
    }
    size_t start = 0, scan = p->len;
    p->len += (size_t)n;
    for (size_t i = scan; i < p->len && !c->closed; i++) {
        if (p->buf[i]) continue;
        if (i > start) cdp_transport_message(c, p->buf + start, i - start);
        start = i + 1;
    }
    if (c->closed) return;
    memmove(p->buf, p->buf + start, p->len - start);
    p->len -= start;
    if (p->len > MAX_MESSAGE) {
        uv_read_stop(s);
        cdp_transport_dropped(c, "a message from the browser exceeds 256 MB");
    }
}

int cdp_pipe_new(cdp_t **out, uv_loop_t *loop, vclock_t *clock, const cdp_hooks_t *hooks,
                 uv_stdio_container_t stdio[2]) {
    pipe_tp_t *p = calloc(1, sizeof *p);
    cdp_t *c = p ? cdp_alloc(loop, clock, hooks, &pipe_transport, p) : NULL;
    if (!c) {
        free(p);
        return -ENOMEM;
    }
    uv_pipe_init(loop, &p->to, 0);
    uv_pipe_init(loop, &p->from, 0);
    p->to.data = p->from.data = c;
    p->open = 2;
    stdio[0].flags = UV_CREATE_PIPE | UV_READABLE_PIPE;
    stdio[0].data.stream = (uv_stream_t *)&p->to;
    stdio[1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
    stdio[1].data.stream = (uv_stream_t *)&p->from;
    *out = c;
    return 0;
}

int cdp_start(cdp_t *c) {
    pipe_tp_t *p = c->tp_state;
    return uv_read_start((uv_stream_t *)&p->from, pipe_alloc, pipe_read);
}
