/* fake.c — see fake.h. Answers are built from the fixture of the page's
 * current URL and delivered by timers on the virtual clock; so are the
 * events a navigation fires, after its reply, as Chromium sends them, and
 * those of a click or an Enter that the fixture says navigates. */
#include "fake.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A 1×1 transparent PNG: what page:screenshot() writes in a dry run. */
static const char PNG_1X1[] = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAC"
                              "hwGA60e6kgAAAABJRU5ErkJggg==";

typedef struct fixture {
    char *url;
    int prefix; /* url ended in '*': matches what starts with the rest */
    cJSON *spec;
    struct fixture *next;
} fixture_t;

typedef struct failure {
    char job[128];
    err_kind_t kind;
    char message[256];
    struct failure *next;
} failure_t;

/* A reply on its way, or (cb == NULL) the events that follow one. */
typedef struct pending {
    fake_lease_t *l;
    uint64_t id;
    vtimer_t timer;
    cdp_reply_cb cb;
    void *ud;
    cJSON *result;
    err_kind_t kind; /* ERR_NONE: result */
    char message[256];
    cJSON *events; /* [{method, params}] to deliver at the timer */
    int lose;      /* the page is lost after this reply */
    int code;      /* a CDP error of this code instead of result (kind ERR_NONE) */
    char *go;      /* a redirect of document `doc` to this URL, at the timer */
    int doc;
    struct pending *next;
} pending_t;

struct fake_lease {
    fake_t *f;
    char job[128];
    int64_t run_id;
    int no;
    vtimer_t ready;
    fake_acquire_cb cb;         /* fake_acquire's, or */
    browser_acquire_cb granted; /* the table's */
    void *ud;
    browser_hooks_t hooks;
    char url[2048];
    const cJSON *fx;    /* the fixture of url (owned by the fake), or NULL */
    int eval_next;      /* next answer of fx.eval's list */
    char pointed[256];  /* the selector the mouse was last aimed at (a click's find) */
    char focused[256];  /* the selector last focused */
    int doc;            /* counts the documents the page has had */
    double redirect_at; /* when the document redirects itself (fx.redirect), or 0 */
    cJSON *cookies;
    int lost;
    pending_t *pending;
    fake_lease_t *next;
};

struct fake {
    vclock_t *clock;
    fixture_t *fixtures;
    failure_t *failures;
    fake_lease_t *leases;
    cJSON *record;
    uint64_t ncalls, next_id, loaders;
};

int fake_new(fake_t **out, vclock_t *clock) {
    fake_t *f = calloc(1, sizeof *f);
    *out = NULL;
    if (!f || !(f->record = cJSON_CreateArray())) {
        free(f);
        return -1;
    }
    f->clock = clock;
    *out = f;
    return 0;
}

void fake_free(fake_t *f) {
    if (!f) return;
    while (f->leases) fake_release(f->leases);
    for (fixture_t *x = f->fixtures, *n; x; x = n) {
        n = x->next;
        free(x->url);
        cJSON_Delete(x->spec);
        free(x);
    }
    for (failure_t *x = f->failures, *n; x; x = n) {
        n = x->next;
        free(x);
    }
    cJSON_Delete(f->record);
    free(f);
}

/* ---- fixtures and failures ---- */

static int bad(char *err, size_t len, const char *url, const char *what) {
    snprintf(err, len, "serve(%s): %s", url, what);
    return -1;
}

int fake_serve(fake_t *f, const char *url, const cJSON *fixture, char *err, size_t len) {
    if (!url[0]) return bad(err, len, url, "the URL is empty");
    if (!cJSON_IsObject(fixture)) return bad(err, len, url, "the fixture must be a table");
    const cJSON *status = cJSON_GetObjectItemCaseSensitive(fixture, "status");
    if (status &&
        (!cJSON_IsNumber(status) || status->valuedouble < 100 || status->valuedouble > 599))
        return bad(err, len, url, "status must be an HTTP status (100-599)");
    const cJSON *delay = cJSON_GetObjectItemCaseSensitive(fixture, "delay");
    if (delay && (!cJSON_IsNumber(delay) || delay->valuedouble < 0))
        return bad(err, len, url, "delay must be a number of seconds >= 0");
    static const char *const maps[] = {"click", "submit", "covered"};
    for (size_t i = 0; i < sizeof maps / sizeof *maps; i++) {
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(fixture, maps[i]), *v;
        int ok = !m || cJSON_IsObject(m);
        if (ok) cJSON_ArrayForEach(v, m) ok = ok && cJSON_IsString(v);
        if (!ok) {
            char what[80];
            snprintf(what, sizeof what, "%s must be a table of selector = string", maps[i]);
            return bad(err, len, url, what);
        }
    }
    const cJSON *redirect = cJSON_GetObjectItemCaseSensitive(fixture, "redirect");
    if (redirect && !cJSON_IsString(redirect)) {
        const cJSON *to = cJSON_GetObjectItemCaseSensitive(redirect, "url");
        const cJSON *after = cJSON_GetObjectItemCaseSensitive(redirect, "after");
        if (!cJSON_IsString(to) || (after && (!cJSON_IsNumber(after) || after->valuedouble < 0)))
            return bad(err, len, url,
                       "redirect must be a URL or { url = URL, after = seconds >= 0 }");
    }
    static const char *const strings[] = {"title", "html", "error"};
    for (size_t i = 0; i < sizeof strings / sizeof *strings; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(fixture, strings[i]);
        if (v && !cJSON_IsString(v)) {
            char what[64];
            snprintf(what, sizeof what, "%s must be a string", strings[i]);
            return bad(err, len, url, what);
        }
    }
    cJSON *spec = cJSON_Duplicate(fixture, 1);
    if (!spec) return bad(err, len, url, "out of memory");
    size_t n = strlen(url);
    int prefix = url[n - 1] == '*';
    for (fixture_t *x = f->fixtures; x; x = x->next)
        if (strcmp(x->url, url) == 0) {
            cJSON_Delete(x->spec);
            x->spec = spec;
            return 0;
        }
    fixture_t *x = calloc(1, sizeof *x);
    if (!x || !(x->url = strdup(url))) {
        free(x);
        cJSON_Delete(spec);
        return bad(err, len, url, "out of memory");
    }
    if (prefix) x->url[n - 1] = 0;
    x->prefix = prefix;
    x->spec = spec;
    x->next = f->fixtures;
    f->fixtures = x;
    return 0;
}

/* The exact fixture, else the longest matching prefix. */
static const cJSON *fixture_for(const fake_t *f, const char *url) {
    const fixture_t *best = NULL;
    for (const fixture_t *x = f->fixtures; x; x = x->next) {
        if (!x->prefix && strcmp(x->url, url) == 0) return x->spec;
        if (x->prefix && strncmp(x->url, url, strlen(x->url)) == 0 &&
            (!best || strlen(x->url) > strlen(best->url)))
            best = x;
    }
    return best ? best->spec : NULL;
}

const cJSON *fake_fixture(const fake_t *f, const char *url) { return fixture_for(f, url); }

int fake_fail(fake_t *f, const char *job, err_kind_t kind, const char *message) {
    failure_t *x = calloc(1, sizeof *x), **tail = &f->failures;
    if (!x) return -1;
    snprintf(x->job, sizeof x->job, "%s", job);
    x->kind = kind;
    snprintf(x->message, sizeof x->message, "%s",
             message && message[0] ? message : "injected by the test");
    while (*tail) tail = &(*tail)->next; /* first asked, first used */
    *tail = x;
    return 0;
}

static failure_t *take_failure(fake_t *f, const char *job) {
    for (failure_t **p = &f->failures; *p; p = &(*p)->next)
        if (strcmp((*p)->job, job) == 0) {
            failure_t *x = *p;
            *p = x->next;
            return x;
        }
    return NULL;
}

int fake_take_failure(fake_t *f, const char *job, err_kind_t *kind, char *message, size_t len) {
    failure_t *x = take_failure(f, job);
    if (!x) return 0;
    *kind = x->kind;
    snprintf(message, len, "%s", x->message);
    free(x);
    return 1;
}

/* ---- the record ---- */

cJSON *fake_calls(const fake_t *f, const char *job) {
    cJSON *out = cJSON_CreateArray();
    const cJSON *c;
    cJSON_ArrayForEach(c, f->record) {
        const cJSON *j = cJSON_GetObjectItemCaseSensitive(c, "job");
        if (!job || (cJSON_IsString(j) && strcmp(j->valuestring, job) == 0))
            cJSON_AddItemToArray(out, cJSON_Duplicate(c, 1));
    }
    return out;
}

uint64_t fake_ncalls(const fake_t *f) { return f->ncalls; }

/* find(sel, timeout, visible, action, arg) calls of lua/page.lua are marked
 * with objectGroup "baton.find"; their arguments follow the function, whose
 * text has no "})(" of its own. */
static cJSON *find_args(const char *expr) {
    const char *last = strstr(expr, "})(");
    if (!last) return NULL;
    const char *a = last + 3;
    size_t n = strlen(a);
    if (n == 0 || a[n - 1] != ')') return NULL;
    char *text = malloc(n + 2);
    if (!text) return NULL;
    text[0] = '[';
    memcpy(text + 1, a, n - 1);
    text[n] = ']';
    text[n + 1] = 0;
    cJSON *args = cJSON_Parse(text);
    free(text);
    if (cJSON_GetArraySize(args) < 4) {
        cJSON_Delete(args);
        return NULL;
    }
    return args;
}

static int is_find(const cJSON *params) {
    const cJSON *g = cJSON_GetObjectItemCaseSensitive(params, "objectGroup");
    return cJSON_IsString(g) && strcmp(g->valuestring, "baton.find") == 0;
}

/* The other evaluates of lua/page.lua ("baton.settle", "baton.node"): never
 * answered from a fixture's eval list. */
static const char *internal_group(const cJSON *params) {
    const cJSON *g = cJSON_GetObjectItemCaseSensitive(params, "objectGroup");
    if (!cJSON_IsString(g) || strncmp(g->valuestring, "baton.", 6) != 0 || is_find(params))
        return NULL;
    return g->valuestring;
}

void fake_record(fake_t *f, const char *job, int64_t run_id, const char *method,
                 const cJSON *params) {
    if (f->ncalls++ >= FAKE_MAX_CALLS) return;
    cJSON *c = cJSON_CreateObject();
    cJSON_AddNumberToObject(c, "at", vclock_now(f->clock));
    cJSON_AddStringToObject(c, "job", job);
    cJSON_AddNumberToObject(c, "run_id", (double)run_id);
    cJSON_AddStringToObject(c, "method", method);
    cJSON *p = params ? cJSON_Duplicate(params, 1) : cJSON_CreateObject();
    const cJSON *expr = cJSON_GetObjectItemCaseSensitive(params, "expression");
    if (cJSON_IsString(expr)) {
        /* A find is kept as what it looks for, not as its JavaScript. */
        cJSON *args = is_find(params) ? find_args(expr->valuestring) : NULL;
        if (args) {
            cJSON_DeleteItemFromObjectCaseSensitive(p, "expression");
            cJSON_AddItemToObject(p, "selector", cJSON_Duplicate(cJSON_GetArrayItem(args, 0), 0));
            cJSON_AddItemToObject(p, "action", cJSON_Duplicate(cJSON_GetArrayItem(args, 3), 0));
            cJSON_Delete(args);
        }
    }
    cJSON_AddItemToObject(c, "params", p);
    cJSON_AddItemToArray(f->record, c);
}

/* ---- leases ---- */

static void on_ready(vtimer_t *t) {
    fake_lease_t *l = t->data;
    if (l->granted)
        l->granted(l->ud, (browser_lease_t *)l, ERR_NONE, NULL);
    else
        l->cb(l->ud, l);
}

static fake_lease_t *lease_new(fake_t *f, const char *job, int64_t run_id, void *ud) {
    fake_lease_t *l = calloc(1, sizeof *l);
    if (!l || !(l->cookies = cJSON_CreateArray())) {
        free(l);
        return NULL;
    }
    l->f = f;
    snprintf(l->job, sizeof l->job, "%s", job);
    snprintf(l->url, sizeof l->url, "about:blank");
    l->run_id = run_id;
    l->ud = ud;
    /* The lowest number no other lease holds, as pooled pages are numbered. */
    for (l->no = 1;; l->no++) {
        const fake_lease_t *o = f->leases;
        while (o && o->no != l->no) o = o->next;
        if (!o) break;
    }
    l->next = f->leases;
    f->leases = l;
    l->ready.data = l;
    vtimer_start(f->clock, &l->ready, vclock_now(f->clock), on_ready);
    return l;
}

fake_lease_t *fake_acquire(fake_t *f, const char *job, int64_t run_id, fake_acquire_cb cb,
                           void *ud) {
    fake_lease_t *l = lease_new(f, job, run_id, ud);
    if (l) l->cb = cb;
    return l;
}

static void pending_free(pending_t *p) {
    free(p->go);
    cJSON_Delete(p->result);
    cJSON_Delete(p->events);
    free(p);
}

static void unlink_pending(fake_lease_t *l, pending_t *p) {
    for (pending_t **q = &l->pending; *q; q = &(*q)->next)
        if (*q == p) {
            *q = p->next;
            return;
        }
}

void fake_release(fake_lease_t *l) {
    fake_t *f = l->f;
    vtimer_stop(f->clock, &l->ready);
    while (l->pending) {
        pending_t *p = l->pending;
        l->pending = p->next;
        vtimer_stop(f->clock, &p->timer);
        pending_free(p);
    }
    for (fake_lease_t **q = &f->leases; *q; q = &(*q)->next)
        if (*q == l) {
            *q = l->next;
            break;
        }
    cJSON_Delete(l->cookies);
    free(l);
}

void fake_set_hooks(fake_lease_t *l, const browser_hooks_t *hooks) { l->hooks = *hooks; }
int fake_lease_page_no(const fake_lease_t *l) { return l->no; }

void fake_forget(fake_lease_t *l, uint64_t id) {
    for (pending_t *p = l->pending; p; p = p->next)
        if (p->id == id && p->cb) p->cb = NULL; /* events still follow */
}

/* ---- answers ---- */

static const char *follow(fake_lease_t *l, const char *target, double due);

static void on_due(vtimer_t *t) {
    pending_t *p = t->data;
    fake_lease_t *l = p->l;
    unlink_pending(l, p);
    /* The reply or an event may end the run, which releases the lease:
     * nothing of l is touched after a callback. One event per timer. */
    if (p->go) {
        if (p->doc == l->doc) follow(l, p->go, vclock_now(l->f->clock));
    } else if (p->events) {
        const cJSON *e = cJSON_GetArrayItem(p->events, 0);
        if (e && l->hooks.on_event)
            l->hooks.on_event(l->hooks.ud,
                              cJSON_GetObjectItemCaseSensitive(e, "method")->valuestring,
                              cJSON_GetObjectItemCaseSensitive(e, "params"));
    } else if (p->cb) {
        /* As with the pool: the page is marked lost, then the call fails. */
        if (p->lose) {
            l->lost = 1;
            if (l->hooks.on_lost) l->hooks.on_lost(l->hooks.ud, ERR_BROWSER_CRASHED, p->message);
        }
        if (p->code) {
            cdp_error_t e = {.kind = ERR_NONE, .code = p->code, .message = p->message};
            p->cb(p->ud, NULL, &e);
        } else if (p->kind == ERR_NONE) {
            p->cb(p->ud, p->result, NULL);
        } else {
            cdp_error_t e = {.kind = p->kind, .message = p->message};
            p->cb(p->ud, NULL, &e);
        }
    }
    pending_free(p);
}

static pending_t *pending_new(fake_lease_t *l, double due) {
    pending_t *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->l = l;
    p->timer.data = p;
    pending_t **tail = &l->pending;
    while (*tail) tail = &(*tail)->next;
    *tail = p;
    vtimer_start(l->f->clock, &p->timer, due, on_due);
    return p;
}

/* Queues one event to be delivered at `due` (after what was queued before). */
static void event_at(fake_lease_t *l, double due, const char *method, cJSON *params) {
    pending_t *p = pending_new(l, due);
    if (!p) {
        cJSON_Delete(params);
        return;
    }
    p->events = cJSON_CreateArray();
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "method", method);
    cJSON_AddItemToObject(e, "params", params ? params : cJSON_CreateObject());
    cJSON_AddItemToArray(p->events, e);
}

static const char *fx_string(const cJSON *fx, const char *key, const char *dflt) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(fx, key);
    return cJSON_IsString(v) ? v->valuestring : dflt;
}

static cJSON *value_result(const cJSON *v) {
    cJSON *r = cJSON_CreateObject(), *res = cJSON_AddObjectToObject(r, "result");
    if (!v || cJSON_IsNull(v)) {
        cJSON_AddStringToObject(res, "type", v ? "object" : "undefined");
        if (v) cJSON_AddNullToObject(res, "value");
        return r;
    }
    const char *type = cJSON_IsString(v)   ? "string"
                       : cJSON_IsNumber(v) ? "number"
                       : cJSON_IsBool(v)   ? "boolean"
                                           : "object";
    cJSON_AddStringToObject(res, "type", type);
    cJSON_AddItemToObject(res, "value", cJSON_Duplicate(v, 1));
    return r;
}

static int listed(const cJSON *list, const char *s) {
    const cJSON *x;
    cJSON_ArrayForEach(x, list) if (cJSON_IsString(x) && strcmp(x->valuestring, s) == 0) return 1;
    return 0;
}

static int is_action(const char *action, const char *name) {
    return action && strcmp(action, name) == 0;
}

/* A find: not found when fx.missing lists the selector (*missed: how long it
 * would wait in the page), covered by
 * fx.covered[selector] when the mouse is aimed at it (click, hover, check);
 * the centre of an element is the middle of a 200×200 window; a checkbox is already as asked; a
 * select selects what it was asked. *js_click is set to the selector of a JavaScript click. */
static cJSON *answer_find(fake_lease_t *l, const char *expr, const char **js_click,
                          double *missed) {
    cJSON *args = find_args(expr), *r = cJSON_CreateObject();
    const cJSON *s = cJSON_GetArrayItem(args, 0), *a = cJSON_GetArrayItem(args, 3);
    const char *sel = cJSON_IsString(s) ? s->valuestring : NULL;
    const char *action = cJSON_IsString(a) ? a->valuestring : NULL;
    int pointed =
        is_action(action, "click") || is_action(action, "hover") || is_action(action, "check");
    const char *cover =
        sel && pointed ? fx_string(cJSON_GetObjectItemCaseSensitive(l->fx, "covered"), sel, NULL)
                       : NULL;
    if (!sel || listed(cJSON_GetObjectItemCaseSensitive(l->fx, "missing"), sel) || cover) {
        const cJSON *ms = cJSON_GetArrayItem(args, 1);
        *missed = cJSON_IsNumber(ms) ? ms->valuedouble / 1000 : 0;
        cJSON_AddBoolToObject(r, "ok", 0);
        if (cover) cJSON_AddStringToObject(r, "covered", cover);
    } else {
        cJSON_AddBoolToObject(r, "ok", 1);
        if (is_action(action, "text")) {
            const cJSON *texts = cJSON_GetObjectItemCaseSensitive(l->fx, "text");
            cJSON_AddStringToObject(r, "value", fx_string(texts, sel, ""));
        } else if (is_action(action, "click") || is_action(action, "hover")) {
            cJSON_AddNumberToObject(r, "x", 100);
            cJSON_AddNumberToObject(r, "y", 100);
            snprintf(l->pointed, sizeof l->pointed, "%s", sel);
        } else if (is_action(action, "check")) {
            cJSON_AddBoolToObject(r, "done", 1);
        } else if (is_action(action, "select")) {
            cJSON_AddItemToObject(r, "value", cJSON_Duplicate(cJSON_GetArrayItem(args, 4), 1));
        } else if (is_action(action, "focus")) {
            snprintf(l->focused, sizeof l->focused, "%s", sel);
        } else if (is_action(action, "jsclick")) {
            *js_click = fx_string(cJSON_GetObjectItemCaseSensitive(l->fx, "click"), sel, NULL);
        }
    }
    cJSON_Delete(args);
    cJSON *out = value_result(r);
    cJSON_Delete(r);
    return out;
}

/* page:eval: fx.eval[expression] (also the JavaScript of an eval with
 * arguments), else the list's next answer, the last one repeating. */
static cJSON *answer_eval(fake_lease_t *l, const char *expr) {
    const cJSON *eval = cJSON_GetObjectItemCaseSensitive(l->fx, "eval");
    if (!eval) return value_result(NULL);
    const cJSON *v = cJSON_IsObject(eval) ? cJSON_GetObjectItemCaseSensitive(eval, expr) : NULL;
    const char *apply = strstr(expr, ").apply(null, ");
    if (!v && apply && expr[0] == '(') {
        char js[4096];
        snprintf(js, sizeof js, "%.*s", (int)(apply - expr - 1), expr + 1);
        v = cJSON_GetObjectItemCaseSensitive(eval, js);
    }
    if (!v) {
        /* Lua's {3, 4} arrives as an array; {3, x = 1} as an object "1", "x". */
        int n = 0;
        char key[24];
        if (cJSON_IsArray(eval))
            n = cJSON_GetArraySize(eval);
        else
            while (snprintf(key, sizeof key, "%d", n + 1),
                   cJSON_GetObjectItemCaseSensitive(eval, key))
                n++;
        if (n == 0) return value_result(NULL);
        int i = l->eval_next < n ? l->eval_next++ : n - 1;
        if (cJSON_IsArray(eval)) {
            v = cJSON_GetArrayItem(eval, i);
        } else {
            snprintf(key, sizeof key, "%d", i + 1);
            v = cJSON_GetObjectItemCaseSensitive(eval, key);
        }
    }
    return value_result(v);
}

static cJSON *answer_navigate(fake_lease_t *l, const cJSON *params, double *delay) {
    fake_t *f = l->f;
    const char *url = fx_string(params, "url", "about:blank");
    snprintf(l->url, sizeof l->url, "%s", url);
    l->fx = fixture_for(f, url);
    l->eval_next = 0;
    l->doc++;
    l->redirect_at = 0;
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(l->fx, "delay");
    if (cJSON_IsNumber(d)) *delay = d->valuedouble;
    char loader[32];
    snprintf(loader, sizeof loader, "L%llu", (unsigned long long)++f->loaders);
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "frameId", "F1");
    cJSON_AddStringToObject(r, "loaderId", loader);
    const char *error = fx_string(l->fx, "error", NULL);
    if (error) cJSON_AddStringToObject(r, "errorText", error);
    return r;
}

/* The main frame's navigation committing: frameNavigated of the page's one frame. */
static void frame_navigated(fake_lease_t *l, double due, const char *loader, const char *failed) {
    cJSON *p = cJSON_CreateObject(), *frame = cJSON_AddObjectToObject(p, "frame");
    cJSON_AddStringToObject(frame, "id", "F1");
    cJSON_AddStringToObject(frame, "loaderId", loader);
    cJSON_AddStringToObject(frame, "url", failed ? "chrome-error://chromewebdata/" : l->url);
    if (failed) cJSON_AddStringToObject(frame, "unreachableUrl", l->url);
    event_at(l, due, "Page.frameNavigated", p);
}

/* The events a navigation fires: the document's response before the reply,
 * then the commit, DOMContentLoaded, load and network idle after it. */
static void navigation_events(fake_lease_t *l, const cJSON *reply, double due, int before) {
    const char *loader = fx_string(reply, "loaderId", "");
    if (before) {
        if (fx_string(l->fx, "error", NULL)) return;
        const cJSON *status = cJSON_GetObjectItemCaseSensitive(l->fx, "status");
        cJSON *p = cJSON_CreateObject(), *resp = cJSON_CreateObject();
        cJSON_AddStringToObject(p, "requestId", loader);
        cJSON_AddStringToObject(p, "type", "Document");
        cJSON_AddNumberToObject(resp, "status", cJSON_IsNumber(status) ? status->valuedouble : 200);
        cJSON_AddStringToObject(resp, "url", l->url);
        const cJSON *h = cJSON_GetObjectItemCaseSensitive(l->fx, "headers");
        cJSON_AddItemToObject(resp, "headers", h ? cJSON_Duplicate(h, 1) : cJSON_CreateObject());
        cJSON_AddItemToObject(p, "response", resp);
        event_at(l, due, "Network.responseReceived", p);
        return;
    }
    if (fx_string(l->fx, "error", NULL)) return;
    frame_navigated(l, due, loader, NULL);
    event_at(l, due, "Page.domContentEventFired", NULL);
    event_at(l, due, "Page.loadEventFired", NULL);
    cJSON *idle = cJSON_CreateObject();
    cJSON_AddStringToObject(idle, "name", "networkIdle");
    cJSON_AddStringToObject(idle, "loaderId", loader);
    event_at(l, due, "Page.lifecycleEvent", idle);
}

/* A document whose fixture redirects (fx.redirect, a script's location =
 * …): the page goes there `after` seconds (0.1 by default) after loaded_at,
 * unless it went elsewhere first. */
static void schedule_redirect(fake_lease_t *l, double loaded_at) {
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(l->fx, "redirect");
    const char *to = cJSON_IsString(r) ? r->valuestring : fx_string(r, "url", NULL);
    l->redirect_at = 0;
    if (!to || fx_string(l->fx, "error", NULL)) return;
    const cJSON *after = cJSON_GetObjectItemCaseSensitive(r, "after");
    double at = loaded_at + (cJSON_IsNumber(after) ? after->valuedouble : 0.1);
    pending_t *p = pending_new(l, at);
    if (!p || !(p->go = strdup(to))) return;
    p->doc = l->doc;
    l->redirect_at = at;
}

/* A click or an Enter the fixture says navigates to target (absolute, or
 * relative to the page's URL): the navigation is requested at `due` (with
 * the reply of the call that started it), and the new document, its
 * fixture's delay later, responds, commits and loads as with Page.navigate;
 * a fixture's error commits an error page. Answers the URL it goes to. */
static const char *follow(fake_lease_t *l, const char *target, double due) {
    fake_t *f = l->f;
    char url[2 * sizeof l->url + 8];
    const char *scheme = strstr(l->url, "://");
    if (strstr(target, "://") || !scheme) {
        snprintf(url, sizeof url, "%s", target);
    } else if (target[0] == '/') {
        const char *path = strchr(scheme + 3, '/');
        int origin = path ? (int)(path - l->url) : (int)strlen(l->url);
        snprintf(url, sizeof url, "%.*s%s", origin, l->url, target);
    } else {
        const char *dir = strrchr(scheme + 3, '/');
        int keep = dir ? (int)(dir - l->url) + 1 : (int)strlen(l->url);
        snprintf(url, sizeof url, "%.*s%s%s", keep, l->url, dir ? "" : "/", target);
    }
    snprintf(l->url, sizeof l->url, "%.*s", (int)sizeof l->url - 1, url);
    l->fx = fixture_for(f, l->url);
    l->eval_next = 0;
    l->doc++;
    char loader[32];
    snprintf(loader, sizeof loader, "L%llu", (unsigned long long)++f->loaders);
    cJSON *req = cJSON_CreateObject();
    cJSON_AddStringToObject(req, "frameId", "F1");
    cJSON_AddStringToObject(req, "url", l->url);
    cJSON_AddStringToObject(req, "reason", "anchorClick");
    event_at(l, due, "Page.frameRequestedNavigation", req);
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(l->fx, "delay");
    double at = due + (cJSON_IsNumber(d) ? d->valuedouble : FAKE_LATENCY);
    const char *error = fx_string(l->fx, "error", NULL);
    if (error) {
        cJSON *p = cJSON_CreateObject();
        cJSON_AddStringToObject(p, "requestId", loader);
        cJSON_AddStringToObject(p, "type", "Document");
        cJSON_AddStringToObject(p, "errorText", error);
        event_at(l, at, "Network.loadingFailed", p);
        frame_navigated(l, at, loader, error);
        event_at(l, at, "Page.domContentEventFired", NULL);
        event_at(l, at, "Page.loadEventFired", NULL);
        return l->url;
    }
    cJSON *reply = cJSON_CreateObject();
    cJSON_AddStringToObject(reply, "loaderId", loader);
    navigation_events(l, reply, at, 1);
    navigation_events(l, reply, at, 0);
    cJSON_Delete(reply);
    schedule_redirect(l, at);
    return l->url;
}

/* Notes on the newest record (the call being answered) where it navigated. */
static void record_navigation(fake_t *f, const char *url) {
    if (f->ncalls > FAKE_MAX_CALLS) return;
    cJSON *last = cJSON_GetArrayItem(f->record, cJSON_GetArraySize(f->record) - 1);
    cJSON *p = cJSON_GetObjectItemCaseSensitive(last, "params");
    if (p) cJSON_AddStringToObject(p, "navigates", url);
}

int fake_send(fake_lease_t *l, const char *method, cJSON *params, double timeout, cdp_reply_cb cb,
              void *ud, uint64_t *id) {
    fake_t *f = l->f;
    if (l->lost) {
        cJSON_Delete(params);
        return -EPIPE; /* as a lost pool lease answers */
    }
    fake_record(f, l->job, l->run_id, method, params);
    double now = vclock_now(f->clock), delay = FAKE_LATENCY;
    cJSON *result = NULL;
    err_kind_t kind = ERR_NONE;
    char message[256] = "";
    int lose = 0, navigate = 0;
    const char *go = NULL; /* where a click or an Enter navigates, from the fixture */
    double missed = -1;    /* a find that found nothing: how long it waits in the page */
    int code = 0;
    failure_t *fail = take_failure(f, l->job);
    if (fail) {
        kind = fail->kind;
        snprintf(message, sizeof message, "%.60s: %.180s", method, fail->message);
        lose = kind == ERR_BROWSER_CRASHED;
        free(fail);
    } else if (strcmp(method, "Page.navigate") == 0) {
        result = answer_navigate(l, params, &delay);
        navigate = 1;
    } else if (strcmp(method, "Runtime.evaluate") == 0) {
        const char *expr = fx_string(params, "expression", "");
        const char *group = internal_group(params);
        if (is_find(params)) {
            result = answer_find(l, expr, &go, &missed);
            if (missed >= 0 && l->redirect_at > 0 && l->redirect_at - now <= missed) {
                /* The find waits in the page until the redirect ends its document. */
                cJSON_Delete(result);
                result = NULL;
                code = -32000;
                snprintf(message, sizeof message, "Execution context was destroyed.");
                delay = l->redirect_at - now + FAKE_LATENCY;
            }
        } else if (group && strcmp(group, "baton.node") == 0) {
            result = cJSON_CreateObject();
            cJSON *res = cJSON_AddObjectToObject(result, "result");
            cJSON_AddStringToObject(res, "type", "object");
            cJSON_AddStringToObject(res, "subtype", "node");
            cJSON_AddStringToObject(res, "objectId", "fake-node");
        } else if (group) {
            cJSON *v = cJSON_CreateTrue();
            result = value_result(v);
            cJSON_Delete(v);
        } else if (strcmp(expr, "document.title") == 0) {
            cJSON *v = cJSON_CreateString(fx_string(l->fx, "title", ""));
            result = value_result(v);
            cJSON_Delete(v);
        } else if (strcmp(expr, "location.href") == 0) {
            cJSON *v = cJSON_CreateString(l->url);
            result = value_result(v);
            cJSON_Delete(v);
        } else if (strcmp(expr, "document.documentElement.outerHTML") == 0) {
            cJSON *v = cJSON_CreateString(
                fx_string(l->fx, "html", "<html><head></head><body></body></html>"));
            result = value_result(v);
            cJSON_Delete(v);
        } else {
            result = answer_eval(l, expr);
        }
    } else if (strcmp(method, "Input.dispatchMouseEvent") == 0) {
        if (strcmp(fx_string(params, "type", ""), "mouseReleased") == 0 && l->pointed[0])
            go = fx_string(cJSON_GetObjectItemCaseSensitive(l->fx, "click"), l->pointed, NULL);
        result = cJSON_CreateObject();
    } else if (strcmp(method, "Input.dispatchKeyEvent") == 0) {
        if (strcmp(fx_string(params, "type", ""), "keyDown") == 0 &&
            strcmp(fx_string(params, "key", ""), "Enter") == 0 && l->focused[0])
            go = fx_string(cJSON_GetObjectItemCaseSensitive(l->fx, "submit"), l->focused, NULL);
        result = cJSON_CreateObject();
    } else if (strcmp(method, "Page.captureScreenshot") == 0) {
        result = cJSON_CreateObject();
        cJSON_AddStringToObject(result, "data", PNG_1X1);
    } else if (strcmp(method, "Network.getCookies") == 0) {
        result = cJSON_CreateObject();
        cJSON_AddItemToObject(result, "cookies", cJSON_Duplicate(l->cookies, 1));
    } else if (strcmp(method, "Network.setCookies") == 0) {
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(params, "cookies"), *c;
        cJSON_ArrayForEach(c, list) cJSON_AddItemToArray(l->cookies, cJSON_Duplicate(c, 1));
        result = cJSON_CreateObject();
    } else if (strcmp(method, "Page.crash") == 0) {
        kind = ERR_BROWSER_CRASHED;
        snprintf(message, sizeof message, "the page crashed");
        lose = 1;
    } else {
        result = cJSON_CreateObject();
    }
    if (go && result) {
        char target[sizeof l->url];
        snprintf(target, sizeof target, "%s", go); /* go lives in the fixture left behind */
        l->pointed[0] = l->focused[0] = 0;
        record_navigation(f, follow(l, target, now + delay));
    }
    cJSON_Delete(params);
    if (!result && kind == ERR_NONE && !code) return -ENOMEM;
    if (timeout > 0 && delay > timeout) {
        cJSON_Delete(result);
        result = NULL;
        kind = ERR_TIMEOUT;
        code = 0;
        snprintf(message, sizeof message, "%s: no answer within %gs", method, timeout);
        delay = timeout;
        navigate = 0;
    }
    if (navigate) navigation_events(l, result, now + delay, 1);
    pending_t *p = pending_new(l, now + delay);
    if (!p) {
        cJSON_Delete(result);
        return -ENOMEM;
    }
    p->id = ++f->next_id;
    p->cb = cb;
    p->ud = ud;
    p->result = result;
    p->kind = kind;
    p->lose = lose;
    p->code = code;
    snprintf(p->message, sizeof p->message, "%s", message);
    if (navigate) {
        navigation_events(l, result, now + delay, 0);
        schedule_redirect(l, now + delay);
    }
    if (id) *id = p->id;
    return 0;
}

/* ---- the operations table ---- */

static browser_waiter_t *fb_acquire(void *self, const browser_ask_t *ask, browser_acquire_cb cb,
                                    void *ud) {
    fake_lease_t *l = lease_new(self, ask->job, ask->run_id, ud);
    if (l) l->granted = cb;
    return (browser_waiter_t *)l; /* the lease is its own waiter */
}

static void fb_cancel(void *self, browser_waiter_t *w) {
    (void)self;
    fake_release((fake_lease_t *)w);
}

static void fb_release(void *self, browser_lease_t *l, int discard) {
    (void)self;
    (void)discard; /* every fake page is new */
    fake_release((fake_lease_t *)l);
}

static int fb_send(void *self, browser_lease_t *l, const char *method, cJSON *params,
                   double timeout, cdp_reply_cb cb, void *ud, uint64_t *id,
                   browser_refusal_t *why) {
    (void)self;
    (void)why; /* injected failures come as replies, on the clock */
    return fake_send((fake_lease_t *)l, method, params, timeout, cb, ud, id);
}

static void fb_forget(void *self, browser_lease_t *l, uint64_t id) {
    (void)self;
    fake_forget((fake_lease_t *)l, id);
}

static void fb_set_hooks(void *self, browser_lease_t *l, const browser_hooks_t *hooks) {
    (void)self;
    fake_set_hooks((fake_lease_t *)l, hooks);
}

static void fb_describe(void *self, const browser_lease_t *l, browser_lease_info_t *out) {
    (void)self;
    out->page_no = fake_lease_page_no((const fake_lease_t *)l);
    out->browser_context = "fake";
    out->uses = 0;
    out->download_dir = ""; /* its pages never download */
}

static const browser_backend_ops_t FAKE_OPS = {
    .acquire = fb_acquire,
    .cancel = fb_cancel,
    .release = fb_release,
    .send = fb_send,
    .forget = fb_forget,
    .set_hooks = fb_set_hooks,
    .describe = fb_describe,
};

void fake_backend(fake_t *f, browser_backend_t *out) {
    out->ops = &FAKE_OPS;
    out->self = f;
}
