/* http_fake.c — see http_fake.h. A request takes a copy of its fixture's
 * answer when it is made (a later serve changes later requests only) and is
 * answered by a timer on the virtual clock. */
#include "http_fake.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/list.h"

typedef struct http_fake_fixture {
    char *pattern; /* without the '*' of a prefix */
    int prefix;
    char *method; /* NULL: any */
    int status;
    char *heads; /* "name\0value\0" …, names in lower case */
    size_t heads_len, nheaders;
    char *body;
    size_t body_len;
    double delay;
    httpc_outcome_t error;
    struct http_fake_fixture *next;
} http_fake_fixture_t;

struct http_fake_req {
    http_fake_t *f;
    list_t link; /* in f->pending */
    vtimer_t timer;
    httpc_done_fn done;
    void *ud;
    double start;
    httpc_outcome_t outcome;
    long status;
    char *url;
    char *heads; /* the answer's, "name\0value\0" … */
    size_t heads_len, nheaders;
    char *body;
    size_t body_len;
    char error[160];
};

struct http_fake {
    vclock_t *clock;
    double timeout;
    size_t max_bytes;
    http_fake_fixture_t *fixtures;
    size_t nfixtures, served_bytes;
    list_t pending;
    http_fake_call_t *calls;
    size_t ncalls, cap, kept_bytes;
    uint64_t made;
    size_t unanswered;
    char *first_unanswered;
};

int http_fake_new(http_fake_t **out, vclock_t *clock, double timeout, size_t max_bytes) {
    http_fake_t *f = calloc(1, sizeof *f);
    *out = NULL;
    if (!f) return -ENOMEM;
    f->clock = clock;
    f->timeout = timeout > 0 ? timeout : 0;
    f->max_bytes = max_bytes;
    list_init(&f->pending);
    *out = f;
    return 0;
}

static void fixture_free(http_fake_fixture_t *x) {
    free(x->pattern);
    free(x->method);
    free(x->heads);
    free(x->body);
    free(x);
}

static void req_free(http_fake_req_t *r) {
    free(r->url);
    free(r->heads);
    free(r->body);
    free(r);
}

void http_fake_free(http_fake_t *f) {
    if (!f) return;
    while (!list_empty(&f->pending)) {
        http_fake_req_t *r =
            (http_fake_req_t *)((char *)f->pending.next - offsetof(http_fake_req_t, link));
        list_remove(&r->link);
        vtimer_stop(f->clock, &r->timer);
        req_free(r);
    }
    for (http_fake_fixture_t *x = f->fixtures, *n; x; x = n) {
        n = x->next;
        fixture_free(x);
    }
    for (size_t i = 0; i < f->ncalls; i++) free((void *)f->calls[i].job); /* one block each */
    free(f->calls);
    free(f->first_unanswered);
    free(f);
}

/* ---- fixtures ---- */

static int same(const char *a, const char *b) {
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

int http_fake_serve(http_fake_t *f, const char *pattern, const http_fixture_t *fx, char *err,
                    size_t errlen) {
    size_t n = strlen(pattern);
    if (n == 0) {
        snprintf(err, errlen, "the URL is empty");
        return -EINVAL;
    }
    if (fx->status < 100 || fx->status > 599) {
        snprintf(err, errlen, "status must be an integer from 100 to 599");
        return -EINVAL;
    }
    if (f->nfixtures >= HTTP_FAKE_MAX_FIXTURES ||
        f->served_bytes + fx->body_len > HTTP_FAKE_MAX_SERVED) {
        snprintf(err, errlen, "more than %d fixtures or %zu MB of bodies in one test",
                 HTTP_FAKE_MAX_FIXTURES, HTTP_FAKE_MAX_SERVED >> 20);
        return -ENOSPC;
    }
    http_fake_fixture_t *x = calloc(1, sizeof *x);
    size_t hl = 0;
    for (size_t i = 0; i < 2 * fx->nheaders; i++) hl += strlen(fx->headers[i]) + 1;
    if (!x || !(x->pattern = strdup(pattern)) ||
        (fx->method && !(x->method = strdup(fx->method))) || !(x->heads = malloc(hl ? hl : 1)) ||
        !(x->body = malloc(fx->body_len + 1))) {
        if (x) fixture_free(x);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    x->prefix = pattern[n - 1] == '*';
    if (x->prefix) x->pattern[n - 1] = 0;
    x->status = fx->status;
    for (size_t i = 0; i < 2 * fx->nheaders; i++) {
        size_t k = strlen(fx->headers[i]) + 1;
        memcpy(x->heads + x->heads_len, fx->headers[i], k);
        if (i % 2 == 0) /* names in lower case, as the client answers them */
            for (size_t j = 0; j < k; j++)
                x->heads[x->heads_len + j] = (char)tolower((unsigned char)fx->headers[i][j]);
        x->heads_len += k;
    }
    x->nheaders = fx->nheaders;
    if (fx->body_len) memcpy(x->body, fx->body, fx->body_len);
    x->body[fx->body_len] = 0;
    x->body_len = fx->body_len;
    x->delay = fx->delay;
    x->error = fx->error;
    /* The same pattern and method again: the new fixture takes the old one's place. */
    for (http_fake_fixture_t **p = &f->fixtures; *p; p = &(*p)->next)
        if ((*p)->prefix == x->prefix && strcmp((*p)->pattern, x->pattern) == 0 &&
            same((*p)->method, x->method)) {
            http_fake_fixture_t *old = *p;
            x->next = old->next;
            *p = x;
            f->served_bytes -= old->body_len;
            fixture_free(old);
            f->served_bytes += x->body_len;
            return 0;
        }
    x->next = f->fixtures;
    f->fixtures = x;
    f->nfixtures++;
    f->served_bytes += x->body_len;
    return 0;
}

/* The most specific fixture for method and url (see http_fake_serve), or NULL. */
static const http_fake_fixture_t *fixture_for(const http_fake_t *f, const char *method,
                                              const char *url) {
    const http_fake_fixture_t *best = NULL;
    size_t best_score = 0;
    for (const http_fake_fixture_t *x = f->fixtures; x; x = x->next) {
        if (x->method && strcmp(x->method, method) != 0) continue;
        size_t len = strlen(x->pattern);
        if (x->prefix ? strncmp(x->pattern, url, len) != 0 : strcmp(x->pattern, url) != 0) continue;
        size_t score = (x->prefix ? len + 1 : SIZE_MAX / 4) * 2 + (x->method != NULL);
        if (!best || score > best_score) {
            best = x;
            best_score = score;
        }
    }
    return best;
}

/* ---- the record ---- */

/* Keeps the call in one block (its job string is the block's start). */
static void record(http_fake_t *f, const httpc_opts_t *o, const char *method,
                   const http_fake_who_t *who) {
    f->made++;
    const char *job = who && who->job ? who->job : "";
    size_t hl = 0;
    for (size_t i = 0; i < o->nheaders; i++) hl += strlen(o->headers[i]) + 1;
    size_t jl = strlen(job) + 1, ml = strlen(method) + 1, ul = strlen(o->url) + 1;
    size_t bl = o->body ? o->body_len + 1 : 0, total = jl + ml + ul + hl + bl;
    if (f->ncalls >= HTTP_FAKE_MAX_CALLS || f->kept_bytes + total > HTTP_FAKE_MAX_KEPT) return;
    if (f->ncalls == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 64;
        http_fake_call_t *calls = realloc(f->calls, cap * sizeof *calls);
        if (!calls) return;
        f->calls = calls;
        f->cap = cap;
    }
    char *b = malloc(total);
    if (!b) return;
    http_fake_call_t *c = &f->calls[f->ncalls++];
    f->kept_bytes += total;
    *c = (http_fake_call_t){.at = vclock_now(f->clock), .run_id = who ? who->run_id : 0};
    c->job = memcpy(b, job, jl);
    c->method = memcpy(b + jl, method, ml);
    c->url = memcpy(b + jl + ml, o->url, ul);
    char *h = b + jl + ml + ul;
    c->heads = h;
    for (size_t i = 0; i < o->nheaders; i++) {
        /* "Name: value" → "Name\0value\0" */
        const char *line = o->headers[i], *colon = strchr(line, ':');
        size_t k = colon ? (size_t)(colon - line) : strlen(line);
        memcpy(h, line, k);
        h[k] = 0;
        h += k + 1;
        const char *v = colon ? colon + 1 : "";
        while (*v == ' ' || *v == '\t') v++;
        size_t vl = strlen(v) + 1;
        memcpy(h, v, vl);
        h += vl;
    }
    c->heads_len = (size_t)(h - c->heads);
    if (o->body) {
        char *body = b + jl + ml + ul + hl;
        if (o->body_len) memcpy(body, o->body, o->body_len);
        body[o->body_len] = 0;
        c->body = body;
        c->body_len = o->body_len;
    }
}

size_t http_fake_ncalls(const http_fake_t *f) { return f->ncalls; }

const http_fake_call_t *http_fake_call(const http_fake_t *f, size_t i) {
    return i < f->ncalls ? &f->calls[i] : NULL;
}

size_t http_fake_unanswered(const http_fake_t *f, const char **first) {
    if (first) *first = f->first_unanswered;
    return f->unanswered;
}

/* ---- requests ---- */

static void on_due(vtimer_t *t) {
    http_fake_req_t *r = t->data;
    list_remove(&r->link);
    httpc_header_t hdrs[256];
    size_t nh = 0;
    for (size_t off = 0; off < r->heads_len && nh < sizeof hdrs / sizeof *hdrs; nh++) {
        hdrs[nh].name = r->heads + off;
        off += strlen(r->heads + off) + 1;
        hdrs[nh].value = r->heads + off;
        off += strlen(r->heads + off) + 1;
    }
    int ok = r->outcome == HTTPC_OK;
    httpc_result_t res = {.outcome = r->outcome,
                          .status = ok ? r->status : 0,
                          .body = ok && r->body ? r->body : "",
                          .len = ok ? r->body_len : 0,
                          .headers = ok ? hdrs : NULL,
                          .nheaders = ok ? nh : 0,
                          .url = r->url,
                          .error = ok ? "" : r->error,
                          .ms = (vclock_now(r->f->clock) - r->start) * 1000};
    /* Out of the fake first: the run this wakes may make its next request. */
    r->done(r->ud, &res);
    req_free(r);
}

int http_fake_request(http_fake_t *f, const httpc_opts_t *o, const http_fake_who_t *who,
                      httpc_done_fn done, void *ud, http_fake_req_t **out, char *err,
                      size_t errlen) {
    const char *method = o->method ? o->method : "GET";
    *out = NULL;
    if (!o->url || (strncmp(o->url, "http://", 7) != 0 && strncmp(o->url, "https://", 8) != 0)) {
        snprintf(err, errlen, "only http:// and https:// URLs can be fetched");
        return -EINVAL;
    }
    record(f, o, method, who);
    const http_fake_fixture_t *x = fixture_for(f, method, o->url);
    if (!x) {
        snprintf(err, errlen, "no t.http fixture for %s %s", method, o->url);
        if (!f->unanswered++) {
            size_t n = strlen(method) + strlen(o->url) + 2;
            f->first_unanswered = malloc(n);
            if (f->first_unanswered) snprintf(f->first_unanswered, n, "%s %s", method, o->url);
        }
        return -ENOENT;
    }
    http_fake_req_t *r = calloc(1, sizeof *r);
    if (!r || !(r->url = strdup(o->url))) {
        free(r);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    r->f = f;
    r->done = done;
    r->ud = ud;
    r->start = vclock_now(f->clock);
    r->status = x->status;
    r->outcome = x->error;
    double timeout = o->timeout > 0 ? o->timeout : f->timeout;
    size_t max = o->max_bytes ? o->max_bytes : f->max_bytes;
    int head = strcmp(method, "HEAD") == 0; /* no body comes */
    double delay = x->delay >= 0 ? x->delay : HTTP_FAKE_LATENCY;
    if (delay < HTTP_FAKE_MIN_DELAY) delay = HTTP_FAKE_MIN_DELAY;
    if (x->error == HTTPC_TIMEOUT && x->delay < 0) delay = timeout > 0 ? timeout : -1;
    if (x->error != HTTPC_OK) {
        snprintf(r->error, sizeof r->error, "the t.http fixture answers error = \"%s\"",
                 httpc_outcome_name(x->error));
    } else if (!head && max && x->body_len > max) {
        r->outcome = HTTPC_LIMIT;
        snprintf(r->error, sizeof r->error, "the answer is larger than max_bytes (%zu bytes)", max);
    } else {
        r->heads = malloc(x->heads_len ? x->heads_len : 1);
        r->body = head ? NULL : malloc(x->body_len + 1);
        if (!r->heads || (!head && !r->body)) {
            req_free(r);
            snprintf(err, errlen, "out of memory");
            return -ENOMEM;
        }
        memcpy(r->heads, x->heads, x->heads_len);
        r->heads_len = x->heads_len;
        r->nheaders = x->nheaders;
        if (r->body) {
            memcpy(r->body, x->body, x->body_len + 1);
            r->body_len = x->body_len;
        }
    }
    if (timeout > 0 && (delay < 0 || delay > timeout)) {
        r->outcome = HTTPC_TIMEOUT;
        snprintf(r->error, sizeof r->error, "no answer within %gs", timeout);
        delay = timeout;
    }
    list_init(&r->link);
    list_push_back(&f->pending, &r->link);
    r->timer.data = r;
    /* A timeout fixture with no timeout to end it: never answered, until cancelled. */
    if (delay >= 0) vtimer_start(f->clock, &r->timer, r->start + delay, on_due);
    *out = r;
    return 0;
}

void http_fake_cancel(http_fake_t *f, http_fake_req_t *r) {
    list_remove(&r->link);
    vtimer_stop(f->clock, &r->timer);
    req_free(r);
}
