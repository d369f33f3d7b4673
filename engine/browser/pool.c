/* pool.c — browsers, their browser contexts, and pooled contexts leased one run
 * at a time. A pooled context is one attached page (flattened session) reused
 * lease after lease; the pages of runs without a cookie session share a browser
 * context (up to browser.pages_per_context), a session's page has one of its
 * own. Waiters are served by priority with aging, within the reservations, and
 * a dead browser is relaunched with backoff while its leases fail with
 * browser_crashed. */
#include "pool.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chrome.h"
#include "base/log.h"

enum { ID_LEN = 64, MAX_EXTRA = 16, SAMPLES = 1024 };
enum { DISPOSE_NO, DISPOSE_RECYCLE, DISPOSE_DISCARD };

#define STEP_TIMEOUT 15.0  /* seconds for one internal CDP step */
#define READY_TIMEOUT 30.0 /* launch → first answer */
#define AGING 60.0         /* seconds of waiting worth one priority level */
#define TICK 1.0

typedef enum { B_IDLE, B_STARTING, B_READY, B_DEAD, B_CLOSED } browser_state_t;
typedef enum { X_CREATING, X_READY, X_CLOSING } bctx_state_t;
typedef enum { C_CREATING, C_IDLE, C_PREPARING, C_LEASED, C_CLEANING, C_CLOSING } ctx_state_t;

typedef struct browser {
    pool_t *p;
    int index;            /* 1-based, for log lines */
    const char *endpoint; /* NULL: launched by us */
    chrome_t *chrome;
    cdp_t *cdp;
    browser_state_t state;
    unsigned gen; /* bumped at each launch; stale callbacks check it */
    double launched_at, ready_at;
    double backoff;
    vtimer_t relaunch;
    int ncontexts; /* pooled contexts on it */
    char last_error[512];
} browser_t;

typedef struct bctx bctx_t;
typedef struct context context_t;
typedef struct opening opening_t;

/* A browser context (Target.createBrowserContext): the cookie jar and storage
 * its pages share. It is disposed when its last pooled context goes, and
 * freed once no call of its own is out. */
struct bctx {
    bctx_t *next, *prev;
    pool_t *p;
    browser_t *b;
    int no; /* "browser context N" in log lines */
    bctx_state_t state;
    char id[ID_LEN];             /* "" until created, and once its browser is gone */
    char cookie_session[ID_LEN]; /* whose cookies it holds; "" = the anonymous jar */
    int exclusive;               /* no other page may join: a session's, or opened for one */
    int npages;                  /* pooled contexts in it, closing ones not counted */
    int64_t leases;              /* leases its pages have served */
    int inflight;                /* its own calls not answered: freeing waits for 0 */
};

struct pool_lease {
    context_t *c;
    pool_lease_hooks_t hooks;
    int lost;
};

struct pool_waiter {
    pool_waiter_t *next, *prev;
    pool_t *p;
    int priority;
    char session[ID_LEN];
    char who[128];
    double since, key;
    context_t *c; /* the context being prepared for it */
    pool_acquire_cb cb;
    void *ud;
    vtimer_t timeout;
    int fired;
};

/* A pooled context: one page of a browser context, leased one run at a time. */
struct context {
    context_t *next, *prev;
    pool_t *p;
    browser_t *b;
    bctx_t *x;    /* its browser context; NULL once it has left it */
    unsigned gen; /* b->gen when it was made */
    int no;       /* "#no" in log lines */
    int burst;    /* temporary: disposed at release */
    ctx_state_t state;
    char target[ID_LEN], session[ID_LEN];
    char extra[MAX_EXTRA][ID_LEN]; /* other targets its runs opened (pop-ups, new tabs) */
    int nextra;
    int uses;
    int asked;          /* Target.createTarget sent */
    opening_t *opening; /* a Target.createTarget of the lease's, not answered */
    int pending_steps;  /* parallel steps still out (creation, cleaning) */
    int step_failed;
    int inflight; /* internal calls not answered: freeing waits for 0 */
    int doomed;   /* free once inflight reaches 0 */
    int dispose;  /* after cleaning: DISPOSE_NO, _RECYCLE or _DISCARD */
    double idle_since;
    pool_waiter_t *waiter;
    pool_lease_t lease;
};

struct pool {
    uv_loop_t *loop;
    vclock_t *clock;
    store_t *store;
    const conf_t *conf;
    browser_t *browsers;
    int nbrowsers;
    bctx_t bctxs;          /* list head */
    context_t contexts;    /* list head */
    pool_waiter_t waiters; /* list head */
    int nwaiters;
    int next_no, next_xno;
    int started, shut;
    vtimer_t kick, tick;
    unsigned ticks;
    int64_t created_total, reused_total, recycled_total, crashes_total, leases_total;
    int64_t timeouts_total;
    double samples[SAMPLES];
    size_t nsamples;
    void (*on_acquire)(void *ud, double ms);
    void *on_acquire_ud;
};

static void kick(pool_t *p);
static void browser_down(browser_t *b, const char *why);
static void ctx_discard(context_t *c, int recycled);
static void bctx_close(bctx_t *x);
static void created_step(context_t *c, const cJSON *res, const cdp_error_t *err);
static void target_create(context_t *c);

/* ---- small helpers ---- */

static double now_of(pool_t *p) { return vclock_now(p->clock); }

static int limit_for(const pool_t *p, int priority) {
    const conf_t *c = p->conf;
    int n = c->browser.max_contexts;
    if (priority > 0) n -= c->browser.reserve_critical;
    if (priority > 1) n -= c->browser.reserve_high;
    return n;
}

static int pages_per_context(const pool_t *p) {
    int n = p->conf->browser.pages_per_context;
    return n > 0 ? n : p->conf->browser.max_contexts;
}

/* Non-burst contexts that are not free to hand out. */
static int used_count(const pool_t *p) {
    int n = 0;
    for (const context_t *c = p->contexts.next; c != &p->contexts; c = c->next)
        if (!c->burst &&
            (c->state == C_PREPARING || c->state == C_LEASED || c->state == C_CLEANING))
            n++;
    return n;
}

static int count_state(const pool_t *p, int state, int burst) {
    int n = 0;
    for (const context_t *c = p->contexts.next; c != &p->contexts; c = c->next)
        if ((state < 0 || (int)c->state == state) && c->burst == burst && c->state != C_CLOSING)
            n++;
    return n;
}

/* Contexts being opened; own: those in a browser context of their own. */
static int count_creating(const pool_t *p, int burst, int own) {
    int n = 0;
    for (const context_t *c = p->contexts.next; c != &p->contexts; c = c->next)
        if (c->state == C_CREATING && c->burst == burst && c->x && c->x->exclusive == own) n++;
    return n;
}

static const char *str_field(const cJSON *o, const char *name) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void sample_acquire(pool_t *p, double ms) {
    p->samples[p->nsamples++ % SAMPLES] = ms;
    if (p->on_acquire) p->on_acquire(p->on_acquire_ud, ms);
}

void pool_on_acquire(pool_t *p, void (*fn)(void *ud, double ms), void *ud) {
    p->on_acquire = fn;
    p->on_acquire_ud = ud;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The context's page and browser are the ones it was made in, and up. */
static int ctx_live(const context_t *c) { return c->b->state == B_READY && c->gen == c->b->gen; }

/* ---- internal CDP steps: a context is never freed while one is out ---- */

typedef void (*step_fn)(context_t *c, const cJSON *result, const cdp_error_t *err);

typedef struct step {
    context_t *c;
    step_fn fn;
} step_t;

static void ctx_unlink_free(context_t *c) {
    c->prev->next = c->next;
    c->next->prev = c->prev;
    if (c->b) c->b->ncontexts--;
    free(c);
}

static void on_step(void *ud, const cJSON *result, const cdp_error_t *err) {
    step_t *st = ud;
    context_t *c = st->c;
    step_fn fn = st->fn;
    free(st);
    c->inflight--;
    if (c->doomed) {
        if (c->inflight == 0) ctx_unlink_free(c);
        return;
    }
    fn(c, result, err);
}

/* Sends on the browser session (page = 0) or the context's page session. */
static int step(context_t *c, int page, const char *method, cJSON *params, step_fn fn) {
    browser_t *b = c->b;
    step_t *st = malloc(sizeof *st);
    if (!st || !b->cdp || !ctx_live(c)) {
        free(st);
        cJSON_Delete(params);
        return -EPIPE;
    }
    st->c = c;
    st->fn = fn;
    int rc =
        cdp_send(b->cdp, page ? c->session : NULL, method, params, STEP_TIMEOUT, on_step, st, NULL);
    if (rc < 0) {
        free(st);
        return rc;
    }
    c->inflight++;
    return 0;
}

/* Target.closeTarget for one of c's targets; fn hears the answer. */
static int close_target(context_t *c, const char *target, step_fn fn) {
    cJSON *params = cJSON_CreateObject();
    cJSON_AddStringToObject(params, "targetId", target);
    return step(c, 0, "Target.closeTarget", params, fn);
}

/* ---- browser contexts ---- */

typedef void (*xstep_fn)(bctx_t *x, const cJSON *result, const cdp_error_t *err);

typedef struct xstep {
    bctx_t *x;
    xstep_fn fn;
} xstep_t;

static void bctx_maybe_free(bctx_t *x) {
    if (x->state != X_CLOSING || x->npages > 0 || x->inflight > 0) return;
    x->prev->next = x->next;
    x->next->prev = x->prev;
    free(x);
}

static void on_xstep(void *ud, const cJSON *result, const cdp_error_t *err) {
    xstep_t *st = ud;
    bctx_t *x = st->x;
    xstep_fn fn = st->fn;
    free(st);
    x->inflight--;
    fn(x, result, err);
}

static int xstep(bctx_t *x, const char *method, cJSON *params, xstep_fn fn) {
    browser_t *b = x->b;
    xstep_t *st = malloc(sizeof *st);
    if (!st || !b->cdp || b->state != B_READY) {
        free(st);
        cJSON_Delete(params);
        return -EPIPE;
    }
    st->x = x;
    st->fn = fn;
    int rc = cdp_send(b->cdp, NULL, method, params, STEP_TIMEOUT, on_xstep, st, NULL);
    if (rc < 0) {
        free(st);
        return rc;
    }
    x->inflight++;
    return 0;
}

static void bctx_disposed(bctx_t *x, const cJSON *res, const cdp_error_t *err) {
    (void)res;
    (void)err;
    bctx_maybe_free(x);
}

/* Its last page is gone: dispose it (which closes whatever is left in it). */
static void bctx_close(bctx_t *x) {
    x->state = X_CLOSING;
    if (x->id[0]) {
        log_debug("browser %d: browser context %d disposed (%lld leases)", x->b->index, x->no,
                  (long long)x->leases);
        cJSON *params = cJSON_CreateObject();
        cJSON_AddStringToObject(params, "browserContextId", x->id);
        x->id[0] = 0;
        xstep(x, "Target.disposeBrowserContext", params, bctx_disposed);
    }
    bctx_maybe_free(x);
}

/* c leaves its browser context; the last one out disposes it. */
static void bctx_leave(context_t *c) {
    bctx_t *x = c->x;
    if (!x) return;
    c->x = NULL;
    if (--x->npages == 0 && x->state != X_CLOSING)
        bctx_close(x);
    else
        bctx_maybe_free(x);
}

/* The answer to Target.createBrowserContext: its pages may open now. */
static void bctx_made(bctx_t *x, const cJSON *res, const cdp_error_t *err) {
    pool_t *p = x->p;
    const char *id = res ? str_field(res, "browserContextId") : NULL;
    if (x->state == X_CLOSING) { /* its pages went meanwhile: dispose what was made */
        if (id) {
            snprintf(x->id, sizeof x->id, "%s", id);
            bctx_close(x);
        } else {
            bctx_maybe_free(x);
        }
        return;
    }
    if (id) snprintf(x->id, sizeof x->id, "%s", id);
    x->state = id ? X_READY : X_CLOSING;
    /* Each step may free contexts (and, but for the pin, x): rescan each time. */
    x->inflight++;
    for (;;) {
        context_t *c = p->contexts.next;
        while (c != &p->contexts && !(c->x == x && c->state == C_CREATING && !c->asked))
            c = c->next;
        if (c == &p->contexts) break;
        c->asked = 1;
        if (id) {
            target_create(c);
        } else {
            c->pending_steps = 1;
            created_step(c, NULL, err ? err : &(cdp_error_t){ERR_NONE, 0, "no context id"});
        }
    }
    x->inflight--;
    bctx_maybe_free(x);
}

static bctx_t *bctx_new(pool_t *p, browser_t *b, int exclusive) {
    bctx_t *x = calloc(1, sizeof *x);
    if (!x) return NULL;
    x->p = p;
    x->b = b;
    x->no = ++p->next_xno;
    x->exclusive = exclusive;
    x->state = X_CREATING;
    x->prev = p->bctxs.prev;
    x->next = &p->bctxs;
    x->prev->next = x;
    p->bctxs.prev = x;
    /* A remote browser drops our contexts when our connection goes. */
    cJSON *params = cJSON_CreateObject();
    cJSON_AddBoolToObject(params, "disposeOnDetach", 1);
    if (xstep(x, "Target.createBrowserContext", params, bctx_made) < 0) {
        x->state = X_CLOSING;
        bctx_maybe_free(x);
        return NULL;
    }
    return x;
}

/* A browser context of b a new anonymous page may join: the anonymous jar,
 * room for another page, and not past its life of max_uses × pages leases. */
static bctx_t *bctx_joinable(pool_t *p, browser_t *b) {
    int per = pages_per_context(p);
    int64_t life = (int64_t)p->conf->browser.max_uses * per;
    bctx_t *best = NULL;
    for (bctx_t *x = p->bctxs.next; x != &p->bctxs; x = x->next)
        if (x->b == b && x->state != X_CLOSING && !x->exclusive && !x->cookie_session[0] &&
            x->npages < per && x->leases < life && (!best || x->npages > best->npages))
            best = x;
    return best;
}

static bctx_t *bctx_by_id(pool_t *p, browser_t *b, const char *id) {
    if (!id || !id[0]) return NULL;
    for (bctx_t *x = p->bctxs.next; x != &p->bctxs; x = x->next)
        if (x->b == b && strcmp(x->id, id) == 0) return x;
    return NULL;
}

/* Frees c now, or once its internal calls have come back. */
static void ctx_free(context_t *c) {
    if (c->waiter) { /* preparation abandoned: the waiter waits again */
        c->waiter->c = NULL;
        c->waiter = NULL;
    }
    bctx_leave(c);
    c->state = C_CLOSING;
    if (c->inflight > 0) {
        c->doomed = 1;
        return;
    }
    ctx_unlink_free(c);
}

/* ---- waiters ---- */

static void waiter_unlink(pool_waiter_t *w) {
    w->prev->next = w->next;
    w->next->prev = w->prev;
    w->p->nwaiters--;
    vtimer_stop(w->p->clock, &w->timeout);
    if (w->c) {
        w->c->waiter = NULL;
        w->c = NULL;
    }
}

static void waiter_fire(pool_waiter_t *w, pool_lease_t *l, err_kind_t kind, const char *msg) {
    waiter_unlink(w);
    pool_acquire_cb cb = w->cb;
    void *ud = w->ud;
    free(w);
    cb(ud, l, kind, msg);
}

static const char *browser_trouble(pool_t *p) {
    for (int i = 0; i < p->nbrowsers; i++)
        if (p->browsers[i].state != B_READY && p->browsers[i].last_error[0])
            return p->browsers[i].last_error;
    return NULL;
}

static void on_waiter_timeout(vtimer_t *t) {
    pool_waiter_t *w = t->data;
    pool_t *p = w->p;
    char msg[768], d[32];
    snprintf(d, sizeof d, "%gs", p->conf->browser.acquire_timeout);
    const char *trouble = browser_trouble(p);
    if (trouble)
        snprintf(msg, sizeof msg, "no browser context within %s (%s)", d, trouble);
    else
        snprintf(msg, sizeof msg, "no browser context within %s (%d busy of %d, %d waiting)", d,
                 used_count(p), p->conf->browser.max_contexts, p->nwaiters);
    p->timeouts_total++;
    waiter_fire(w, NULL, ERR_POOL_TIMEOUT, msg);
}

pool_waiter_t *pool_acquire(pool_t *p, int priority, const char *session, const char *who,
                            pool_acquire_cb cb, void *ud) {
    pool_waiter_t *w = calloc(1, sizeof *w);
    if (!w) return NULL;
    w->p = p;
    w->priority = priority < 0 ? 0 : priority > 3 ? 3 : priority;
    snprintf(w->session, sizeof w->session, "%s", session ? session : "");
    snprintf(w->who, sizeof w->who, "%s", who ? who : "");
    w->since = now_of(p);
    w->key = w->since + w->priority * AGING;
    w->cb = cb;
    w->ud = ud;
    w->timeout.data = w;
    w->prev = p->waiters.prev;
    w->next = &p->waiters;
    w->prev->next = w;
    p->waiters.prev = w;
    p->nwaiters++;
    vtimer_start(p->clock, &w->timeout, w->since + p->conf->browser.acquire_timeout,
                 on_waiter_timeout);
    if (!p->started) pool_start(p);
    kick(p);
    return w;
}

void pool_acquire_cancel(pool_t *p, pool_waiter_t *w) {
    waiter_unlink(w);
    free(w);
    kick(p);
}

/* ---- leases ---- */

static void lease_lost(context_t *c, err_kind_t kind, const char *msg) {
    pool_lease_t *l = &c->lease;
    if (c->state != C_LEASED || l->lost) return;
    l->lost = 1;
    /* Either notice may end the run, which releases (and frees) the context:
     * pin it like an internal call until both are done. */
    c->inflight++;
    if (c->b->cdp && c->session[0]) cdp_fail_session(c->b->cdp, c->session, kind, msg);
    if (l->hooks.on_lost) l->hooks.on_lost(l->hooks.ud, kind, msg);
    if (--c->inflight == 0 && c->doomed) ctx_unlink_free(c);
}

/* Tells every live lease on b (all browsers when b is NULL) that it is lost.
 * Each notice may end a run and release (free) its context: rescan each time. */
static void leases_lost(pool_t *p, browser_t *b, err_kind_t kind, const char *msg) {
    for (;;) {
        context_t *c = p->contexts.next;
        while (c != &p->contexts && !((!b || c->b == b) && c->state == C_LEASED && !c->lease.lost))
            c = c->next;
        if (c == &p->contexts) return;
        lease_lost(c, kind, msg);
    }
}

static void hand_over(context_t *c) {
    pool_t *p = c->p;
    pool_waiter_t *w = c->waiter;
    c->waiter = NULL;
    if (!w) { /* its run went away while the context was being prepared */
        c->state = C_IDLE;
        c->idle_since = now_of(p);
        kick(p);
        return;
    }
    w->c = NULL;
    c->state = C_LEASED;
    c->uses++;
    c->x->leases++;
    c->lease = (pool_lease_t){.c = c};
    p->leases_total++;
    if (c->uses > 1) p->reused_total++;
    sample_acquire(p, (now_of(p) - w->since) * 1000);
    waiter_fire(w, &c->lease, ERR_NONE, NULL);
}

static void prep_done(context_t *c, const cJSON *res, const cdp_error_t *err) {
    pool_t *p = c->p; /* c may be freed below */
    (void)res;
    if (err) c->step_failed = 1;
    if (--c->pending_steps > 0) return;
    if (c->step_failed) {
        log_warn("browser %d: context #%d could not be prepared; discarding it", c->b->index,
                 c->no);
        ctx_discard(c, 0);
        kick(p);
        return;
    }
    hand_over(c);
}

/* Cookies kept for a named session, as Storage.setCookies wants them. */
static cJSON *session_cookies(pool_t *p, const char *name) {
    char *text = NULL;
    if (!p->store || store_session_get(p->store, name, &text) != 0 || !text) return NULL;
    cJSON *list = cJSON_Parse(text);
    free(text);
    if (!cJSON_IsArray(list) || cJSON_GetArraySize(list) == 0) {
        cJSON_Delete(list);
        return NULL;
    }
    return list;
}

/* Makes the context's browser context hold the waiter's cookie session, then
 * hands the context over. A jar changes hands only when c is the one page of
 * its browser context (idle_for sees to it). */
static void prepare(context_t *c, pool_waiter_t *w) {
    pool_t *p = c->p;
    bctx_t *x = c->x;
    c->state = C_PREPARING;
    c->waiter = w;
    w->c = c;
    c->pending_steps = 1; /* held until every step below is sent */
    c->step_failed = 0;
    if (strcmp(x->cookie_session, w->session) != 0) {
        if (x->leases > 0) { /* a jar that has served a run: empty it */
            cJSON *params = cJSON_CreateObject();
            cJSON_AddStringToObject(params, "browserContextId", x->id);
            c->pending_steps++;
            if (step(c, 0, "Storage.clearCookies", params, prep_done) < 0) {
                c->pending_steps--;
                c->step_failed = 1;
            }
        }
        snprintf(x->cookie_session, sizeof x->cookie_session, "%s", w->session);
        cJSON *cookies = w->session[0] ? session_cookies(p, w->session) : NULL;
        if (cookies) {
            cJSON *params = cJSON_CreateObject();
            cJSON_AddItemToObject(params, "cookies", cookies);
            cJSON_AddStringToObject(params, "browserContextId", x->id);
            c->pending_steps++;
            if (step(c, 0, "Storage.setCookies", params, prep_done) < 0) {
                c->pending_steps--;
                c->step_failed = 1;
            }
        }
    }
    x->exclusive = w->session[0] != 0;
    prep_done(c, NULL, NULL);
}

/* Only the fields Storage.setCookies takes back. */
static cJSON *cookie_params(const cJSON *cookies) {
    static const char *const keep[] = {"name",   "value",    "domain",   "path",
                                       "secure", "httpOnly", "sameSite", "expires"};
    cJSON *out = cJSON_CreateArray();
    const cJSON *ck;
    cJSON_ArrayForEach(ck, cookies) {
        cJSON *o = cJSON_CreateObject();
        const cJSON *session = cJSON_GetObjectItemCaseSensitive(ck, "session");
        for (size_t i = 0; i < sizeof keep / sizeof keep[0]; i++) {
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(ck, keep[i]);
            if (!v || (strcmp(keep[i], "expires") == 0 && cJSON_IsTrue(session))) continue;
            cJSON_AddItemToObject(o, keep[i], cJSON_Duplicate(v, 1));
        }
        cJSON_AddItemToArray(out, o);
    }
    return out;
}

static void clean_done(context_t *c, const cJSON *res, const cdp_error_t *err) {
    pool_t *p = c->p; /* c may be freed below */
    (void)res;
    if (err) c->step_failed = 1;
    if (--c->pending_steps > 0) return;
    if (c->step_failed || c->dispose != DISPOSE_NO) {
        ctx_discard(c, c->dispose == DISPOSE_RECYCLE);
    } else {
        c->state = C_IDLE;
        c->idle_since = now_of(p);
    }
    kick(p);
}

/* A pop-up that is already gone (it closed itself) is no failure. */
static void popup_closed(context_t *c, const cJSON *res, const cdp_error_t *err) {
    clean_done(c, res, err && err->kind == ERR_NONE ? NULL : err);
}

static void cookies_saved(context_t *c, const cJSON *res, const cdp_error_t *err) {
    pool_t *p = c->p;
    const cJSON *cookies = res ? cJSON_GetObjectItemCaseSensitive(res, "cookies") : NULL;
    const char *session = c->x ? c->x->cookie_session : "";
    if (!err && cJSON_IsArray(cookies) && p->store && session[0]) {
        cJSON *keep = cookie_params(cookies);
        char *text = cJSON_PrintUnformatted(keep);
        cJSON_Delete(keep);
        if (!text || store_session_put(p->store, session, text, now_of(p)) < 0)
            log_error("session '%s': cannot save its cookies: %s", session,
                      text ? store_errmsg(p->store) : "out of memory");
        free(text);
    }
    clean_done(c, res, err);
}

/* Between leases: save the session's cookies, close targets the run opened;
 * then the context is idle again, or disposed as `dispose` says (disposing
 * closes them too). */
static void clean(context_t *c, int dispose) {
    c->state = C_CLEANING;
    c->dispose = dispose;
    c->pending_steps = 1;
    c->step_failed = 0;
    if (c->x->cookie_session[0]) {
        cJSON *params = cJSON_CreateObject();
        cJSON_AddStringToObject(params, "browserContextId", c->x->id);
        c->pending_steps++;
        if (step(c, 0, "Storage.getCookies", params, cookies_saved) < 0) {
            c->pending_steps--;
            c->step_failed = 1;
        }
    }
    if (dispose == DISPOSE_NO) {
        for (int i = 0; i < c->nextra; i++) {
            c->pending_steps++;
            if (close_target(c, c->extra[i], popup_closed) < 0) c->pending_steps--;
        }
        c->nextra = 0;
    }
    clean_done(c, NULL, NULL);
}

void pool_release(pool_t *p, pool_lease_t *l, int discard) {
    context_t *c = l->c;
    if (!c || c->state != C_LEASED) return;
    l->c = NULL;
    l->hooks = (pool_lease_hooks_t){0};
    if (!ctx_live(c)) {
        ctx_free(c);
    } else if (l->lost) { /* its page crashed: close what is left of it */
        ctx_discard(c, 0);
    } else if (discard || c->burst) {
        clean(c, DISPOSE_DISCARD);
    } else if (c->uses >= p->conf->browser.max_uses) {
        log_debug("context #%d recycled after %d uses", c->no, c->uses);
        clean(c, DISPOSE_RECYCLE);
    } else {
        clean(c, DISPOSE_NO);
    }
    kick(p);
}

/* Records tid as a target c's runs opened (closed before its next lease). */
static void extra_add(context_t *c, const char *tid) {
    if (!tid || !tid[0] || strcmp(tid, c->target) == 0) return;
    for (int i = 0; i < c->nextra; i++)
        if (strcmp(c->extra[i], tid) == 0) return;
    if (c->nextra < MAX_EXTRA) snprintf(c->extra[c->nextra++], ID_LEN, "%s", tid);
}

/* A Target.createTarget a run sends: the target it opens has no opener to
 * tell whose it is, so its answer says it. */
struct opening {
    context_t *c;
    int uses;        /* the lease it was sent in */
    uint64_t id;     /* the call, for pool_lease_forget */
    cdp_reply_cb cb; /* NULL once the run no longer waits for it */
    void *ud;
};

static void ignore_step(context_t *c, const cJSON *res, const cdp_error_t *err) {
    (void)c;
    (void)res;
    (void)err;
}

static void on_opened(void *ud, const cJSON *result, const cdp_error_t *err) {
    opening_t *o = ud;
    context_t *c = o->c;
    const char *tid = err ? NULL : str_field(result, "targetId");
    c->opening = NULL;
    if (tid && !c->doomed) {
        if (c->state == C_LEASED && c->uses == o->uses && !c->lease.lost)
            extra_add(c, tid);
        else /* its lease is over */
            close_target(c, tid, ignore_step);
    }
    /* The reply may end the run, which releases c: it stays pinned till after. */
    if (o->cb) o->cb(o->ud, result, err);
    free(o);
    if (--c->inflight == 0 && c->doomed) ctx_unlink_free(c);
}

int pool_lease_send(pool_lease_t *l, const char *method, cJSON *params, double timeout,
                    cdp_reply_cb cb, void *ud, uint64_t *id) {
    context_t *c = l->c;
    if (!c || l->lost || !c->b->cdp || !ctx_live(c)) {
        cJSON_Delete(params);
        return -EPIPE;
    }
    if (strcmp(method, "Target.createTarget") != 0 || c->opening)
        return cdp_send(c->b->cdp, c->session, method, params, timeout, cb, ud, id);
    opening_t *o = malloc(sizeof *o);
    if (!o) {
        cJSON_Delete(params);
        return -ENOMEM;
    }
    *o = (opening_t){.c = c, .uses = c->uses, .cb = cb, .ud = ud};
    int rc = cdp_send(c->b->cdp, c->session, method, params, timeout, on_opened, o, &o->id);
    if (rc < 0) {
        free(o);
        return rc;
    }
    c->opening = o;
    c->inflight++;
    if (id) *id = o->id;
    return 0;
}

void pool_lease_forget(pool_lease_t *l, uint64_t id) {
    context_t *c = l->c;
    if (!c) return;
    /* A target being opened is still closed with the lease: keep its answer. */
    if (c->opening && c->opening->id == id)
        c->opening->cb = NULL;
    else if (c->b->cdp)
        cdp_forget(c->b->cdp, id);
}

void pool_lease_set_hooks(pool_lease_t *l, const pool_lease_hooks_t *hooks) {
    l->hooks = hooks ? *hooks : (pool_lease_hooks_t){0};
}

int pool_lease_context(const pool_lease_t *l) { return l->c ? l->c->no : 0; }
const char *pool_lease_browser_context(const pool_lease_t *l) {
    return l->c && l->c->x ? l->c->x->id : "";
}
int pool_lease_uses(const pool_lease_t *l) { return l->c ? l->c->uses : 0; }
int pool_lease_lost(const pool_lease_t *l) { return l->lost || !l->c; }

/* ---- contexts ---- */

static void page_closed(context_t *c, const cJSON *res, const cdp_error_t *err) {
    (void)res;
    (void)err;
    ctx_free(c);
}

/* Closes c for good. Alone in its browser context, c goes with it (disposing
 * closes the page and its pop-ups); else its page and pop-ups are closed and
 * the browser context keeps serving the others. */
static void ctx_discard(context_t *c, int recycled) {
    pool_t *p = c->p;
    if (recycled) p->recycled_total++;
    if (c->waiter) {
        c->waiter->c = NULL;
        c->waiter = NULL;
    }
    c->state = C_CLOSING;
    if (!c->x || c->x->npages <= 1 || !c->target[0] || !ctx_live(c)) {
        ctx_free(c);
        return;
    }
    bctx_leave(c);
    for (int i = 0; i < c->nextra; i++) close_target(c, c->extra[i], ignore_step);
    c->nextra = 0;
    if (close_target(c, c->target, page_closed) < 0) ctx_free(c);
}

static void created_step(context_t *c, const cJSON *res, const cdp_error_t *err) {
    pool_t *p = c->p; /* c may be freed below */
    (void)res;
    if (err) {
        c->step_failed = 1;
        snprintf(c->b->last_error, sizeof c->b->last_error, "browser %d: %s", c->b->index,
                 err->message);
    }
    if (--c->pending_steps > 0) return;
    if (c->step_failed) {
        log_warn("browser %d: could not open context #%d", c->b->index, c->no);
        ctx_discard(c, 0);
        kick(p);
        return;
    }
    p->created_total++;
    c->state = C_IDLE;
    c->idle_since = now_of(p);
    log_debug("browser %d: context #%d ready (browser context %d, %d page%s)%s", c->b->index, c->no,
              c->x->no, c->x->npages, c->x->npages == 1 ? "" : "s", c->burst ? " (burst)" : "");
    kick(p);
}

static void attached(context_t *c, const cJSON *res, const cdp_error_t *err) {
    const char *sid = res ? str_field(res, "sessionId") : NULL;
    if (err || !sid) {
        c->pending_steps = 1;
        created_step(c, NULL, err ? err : &(cdp_error_t){ERR_NONE, 0, "no session id"});
        return;
    }
    snprintf(c->session, sizeof c->session, "%s", sid);
    /* The page's domains, once for all leases; sent together. */
    static const char *const enable[] = {"Page.enable", "Network.enable",
                                         "Page.setLifecycleEventsEnabled"};
    c->pending_steps = 1;
    for (size_t i = 0; i < sizeof enable / sizeof enable[0]; i++) {
        cJSON *params = NULL;
        if (i == 2) {
            params = cJSON_CreateObject();
            cJSON_AddBoolToObject(params, "enabled", 1);
        }
        c->pending_steps++;
        if (step(c, 1, enable[i], params, created_step) < 0) {
            c->pending_steps--;
            c->step_failed = 1;
        }
    }
    created_step(c, NULL, NULL);
}

static void target_made(context_t *c, const cJSON *res, const cdp_error_t *err) {
    const char *tid = res ? str_field(res, "targetId") : NULL;
    if (err || !tid) {
        c->pending_steps = 1;
        created_step(c, NULL, err ? err : &(cdp_error_t){ERR_NONE, 0, "no target id"});
        return;
    }
    snprintf(c->target, sizeof c->target, "%s", tid);
    cJSON *params = cJSON_CreateObject();
    cJSON_AddStringToObject(params, "targetId", tid);
    cJSON_AddBoolToObject(params, "flatten", 1);
    if (step(c, 0, "Target.attachToTarget", params, attached) < 0) {
        c->pending_steps = 1;
        created_step(c, NULL, &(cdp_error_t){ERR_BROWSER_CRASHED, 0, "browser gone"});
    }
}

/* Opens c's page in its browser context, which is ready. */
static void target_create(context_t *c) {
    cJSON *params = cJSON_CreateObject();
    cJSON_AddStringToObject(params, "url", "about:blank");
    cJSON_AddStringToObject(params, "browserContextId", c->x->id);
    if (step(c, 0, "Target.createTarget", params, target_made) < 0) {
        c->pending_steps = 1;
        created_step(c, NULL, &(cdp_error_t){ERR_BROWSER_CRASHED, 0, "browser gone"});
    }
}

/* The ready browser with the fewest contexts, or NULL. */
static browser_t *least_loaded(pool_t *p) {
    browser_t *best = NULL;
    for (int i = 0; i < p->nbrowsers; i++) {
        browser_t *b = &p->browsers[i];
        if (b->state == B_READY && (!best || b->ncontexts < best->ncontexts)) best = b;
    }
    return best;
}

/* Opens a context: own = 1 puts it in a browser context of its own (for a
 * session's run), else it joins a shared one while there is room. */
static int ctx_create(pool_t *p, int burst, int own) {
    browser_t *b = least_loaded(p);
    if (!b) return -EAGAIN;
    context_t *c = calloc(1, sizeof *c);
    if (!c) return -ENOMEM;
    bctx_t *x = own ? NULL : bctx_joinable(p, b);
    if (!x && !(x = bctx_new(p, b, own))) {
        free(c);
        return -EPIPE;
    }
    c->p = p;
    c->b = b;
    c->gen = b->gen;
    c->x = x;
    x->npages++;
    c->no = ++p->next_no;
    c->burst = burst;
    c->state = C_CREATING;
    c->prev = p->contexts.prev;
    c->next = &p->contexts;
    c->prev->next = c;
    p->contexts.prev = c;
    b->ncontexts++;
    if (x->state == X_READY) { /* else bctx_made opens the page */
        c->asked = 1;
        target_create(c);
    }
    return 0;
}

/* ---- dispatch: who gets which context ---- */

static int eligible(pool_t *p, pool_waiter_t *w, int used) {
    return used < limit_for(p, w->priority);
}

/* The eligible waiter without a context to come first; sessions_upto >= 0:
 * only sessions' waiters of that priority or a higher one. */
static pool_waiter_t *best_waiter(pool_t *p, int used, int sessions_upto) {
    pool_waiter_t *best = NULL;
    for (pool_waiter_t *w = p->waiters.next; w != &p->waiters; w = w->next)
        if (!w->c && eligible(p, w, used) && (!best || w->key < best->key) &&
            (sessions_upto < 0 || (w->session[0] && w->priority <= sessions_upto)))
            best = w;
    return best;
}

/* How well idle c suits w, 0 not at all. A run without a session takes a page
 * of a shared browser context first (the anonymous jar), then one alone in a
 * browser context held for sessions (whose jar is emptied). A session's run
 * takes only a context alone in its browser context: holding the session's
 * cookies, else nobody's, else another session's. */
static int suits(const context_t *c, const pool_waiter_t *w) {
    const bctx_t *x = c->x;
    if (!w->session[0]) return !x->exclusive ? 3 : !x->cookie_session[0] ? 2 : 1;
    if (x->npages != 1) return 0;
    return strcmp(x->cookie_session, w->session) == 0 ? 3 : !x->cookie_session[0] ? 2 : 1;
}

static context_t *idle_for(pool_t *p, pool_waiter_t *w, int burst) {
    context_t *best = NULL;
    int rank = 0;
    for (context_t *c = p->contexts.next; c != &p->contexts; c = c->next) {
        if (c->state != C_IDLE || c->burst != burst || !ctx_live(c)) continue;
        int r = suits(c, w);
        if (r > rank) {
            best = c;
            rank = r;
        }
    }
    return best;
}

/* Closes the idle page of a shared browser context that has stood idle the
 * longest, making room for a session's context. 0 when there is none. */
static int make_room(pool_t *p) {
    context_t *oldest = NULL;
    for (context_t *c = p->contexts.next; c != &p->contexts; c = c->next)
        if (c->state == C_IDLE && !c->burst && c->x->npages > 1 &&
            (!oldest || c->idle_since < oldest->idle_since))
            oldest = c;
    if (!oldest) return 0;
    log_debug("context #%d closed to make room for a session's context", oldest->no);
    ctx_discard(oldest, 0);
    return 1;
}

static void dispatch(pool_t *p) {
    if (p->shut) return;
    /* Idle contexts to eligible waiters, best first. A session's waiter that
     * finds none it may take stops the hand-out: it gets one opened below. */
    for (;;) {
        int used = used_count(p);
        pool_waiter_t *w = best_waiter(p, used, -1);
        if (!w) break;
        context_t *c = idle_for(p, w, 0);
        if (!c) break;
        /* A browser context held for sessions goes to a session's run of the
         * same priority first: a run without one gets a shared page soon. */
        pool_waiter_t *s =
            c->x->exclusive && !w->session[0] ? best_waiter(p, used, w->priority) : NULL;
        context_t *sc = s ? idle_for(p, s, 0) : NULL;
        if (sc) {
            w = s;
            c = sc;
        }
        prepare(c, w);
    }
    /* Open contexts for the eligible waiters nothing idle can serve: [1] for
     * sessions' runs (a browser context each), [0] for the others. */
    int used = used_count(p), want[2] = {0, 0}, critical[2] = {0, 0};
    for (pool_waiter_t *w = p->waiters.next; w != &p->waiters; w = w->next) {
        if (w->c) continue;
        int own = w->session[0] != 0;
        if (eligible(p, w, used + want[0] + want[1]))
            want[own]++;
        else if (w->priority == 0)
            critical[own]++;
    }
    /* Idle contexts left are kept from runs without a session only by a
     * session's run ahead of them: they will serve those runs next. */
    want[0] = want[0] > count_state(p, C_IDLE, 0) ? want[0] - count_state(p, C_IDLE, 0) : 0;
    int total = count_state(p, -1, 0);
    for (int own = 1; own >= 0; own--) {
        int creating = count_creating(p, 0, own);
        while (want[own] > creating && total < p->conf->browser.max_contexts) {
            if (ctx_create(p, 0, own) < 0) break;
            creating++;
            total++;
        }
    }
    /* A session's run finds every context open and none it may take: an idle
     * page of a shared browser context gives way (then dispatch again). */
    if (want[1] > count_creating(p, 0, 1) && total >= p->conf->browser.max_contexts &&
        make_room(p)) {
        kick(p);
        return;
    }
    /* Burst: critical work that the regular contexts cannot serve. */
    /* (prepare may hand over at once and run the waiter's callback: rescan.) */
    for (int again = 1; again && critical[0] + critical[1] > 0;) {
        again = 0;
        for (pool_waiter_t *w = p->waiters.next; w != &p->waiters; w = w->next) {
            context_t *c = !w->c && w->priority == 0 ? idle_for(p, w, 1) : NULL;
            if (c) {
                critical[w->session[0] != 0]--;
                prepare(c, w);
                again = 1;
                break;
            }
        }
    }
    int bursting = count_state(p, -1, 1);
    for (int own = 1; own >= 0; own--) {
        int creating = count_creating(p, 1, own);
        while (critical[own] > creating && bursting < p->conf->browser.burst) {
            if (ctx_create(p, 1, own) < 0) break;
            creating++;
            bursting++;
        }
    }
    /* The warm minimum. */
    while (total < p->conf->browser.warm && ctx_create(p, 0, 0) == 0) total++;
}

static void on_kick(vtimer_t *t) { dispatch(t->data); }

/* Dispatch runs from its own loop turn, never inside the caller's stack. */
static void kick(pool_t *p) {
    if (!p->shut && !vtimer_active(&p->kick)) vtimer_start(p->clock, &p->kick, now_of(p), on_kick);
}

/* Idle disposal down to the warm minimum, and zombie collection. */
static void on_tick(vtimer_t *t) {
    pool_t *p = t->data;
    double now = now_of(p);
    int total = count_state(p, -1, 0);
    for (context_t *c = p->contexts.next, *next; c != &p->contexts; c = next) {
        next = c->next;
        if (c->state != C_IDLE) continue;
        if (c->burst || (total > p->conf->browser.warm &&
                         now - c->idle_since >= p->conf->browser.idle_timeout)) {
            if (!c->burst) total--;
            log_debug("context #%d idle for %.0fs: disposed", c->no, now - c->idle_since);
            ctx_discard(c, 0);
            next = p->contexts.next; /* the list may have changed */
        }
    }
    if (++p->ticks % 5 == 0) chrome_reap();
    vtimer_start(p->clock, &p->tick, now + TICK, on_tick);
}

/* ---- browsers ---- */

static context_t *ctx_by_session(pool_t *p, browser_t *b, const char *session) {
    for (context_t *c = p->contexts.next; c != &p->contexts; c = c->next)
        if (c->b == b && c->session[0] && strcmp(c->session, session) == 0) return c;
    return NULL;
}

static context_t *ctx_by_target(pool_t *p, browser_t *b, const char *target) {
    if (!target) return NULL;
    for (context_t *c = p->contexts.next; c != &p->contexts; c = c->next)
        if (c->b == b && c->target[0] && strcmp(c->target, target) == 0) return c;
    return NULL;
}

/* Whose is a new target of x: the context whose page (or pop-up) opened it,
 * else, the opener unknown, the one context of a browser context it does not
 * share. In a shared browser context a target without an opener is nobody's
 * (unless a run asked for it: pool_lease_send sees to those). */
static context_t *popup_owner(pool_t *p, bctx_t *x, const char *opener) {
    context_t *alone = NULL;
    for (context_t *c = p->contexts.next; c != &p->contexts; c = c->next) {
        if (c->x != x || c->state == C_CLOSING || !c->target[0]) continue;
        if (opener && opener[0]) {
            if (strcmp(c->target, opener) == 0) return c;
            for (int i = 0; i < c->nextra; i++)
                if (strcmp(c->extra[i], opener) == 0) return c;
        }
        alone = c;
    }
    return x->npages == 1 ? alone : NULL;
}

static void page_crashed(browser_t *b, context_t *c) {
    b->p->crashes_total++;
    log_warn("browser %d: the page of context #%d crashed", b->index, c->no);
    if (c->state == C_LEASED)
        lease_lost(c, ERR_BROWSER_CRASHED, "the page crashed");
    else if (c->state == C_IDLE)
        ctx_discard(c, 0);
}

static void on_target_event(browser_t *b, const char *method, const cJSON *params) {
    pool_t *p = b->p;
    const cJSON *info = cJSON_GetObjectItemCaseSensitive(params, "targetInfo");
    if (strcmp(method, "Target.targetCreated") == 0 && info) {
        const char *tid = str_field(info, "targetId");
        bctx_t *x = bctx_by_id(p, b, str_field(info, "browserContextId"));
        context_t *c = x && tid ? popup_owner(p, x, str_field(info, "openerId")) : NULL;
        if (c) extra_add(c, tid);
    } else if (strcmp(method, "Target.targetDestroyed") == 0) {
        const char *tid = str_field(params, "targetId");
        for (context_t *c = p->contexts.next; tid && c != &p->contexts; c = c->next)
            for (int i = 0; c->b == b && i < c->nextra; i++)
                if (strcmp(c->extra[i], tid) == 0) {
                    memmove(c->extra[i], c->extra[i + 1], (size_t)(c->nextra - i - 1) * ID_LEN);
                    c->nextra--;
                    break;
                }
    } else if (strcmp(method, "Target.targetCrashed") == 0) {
        context_t *c = ctx_by_target(p, b, str_field(params, "targetId"));
        if (c) page_crashed(b, c);
    }
}

static void on_cdp_event(void *ud, const char *session, const char *method, const cJSON *params) {
    browser_t *b = ud;
    if (!session) {
        on_target_event(b, method, params);
        return;
    }
    context_t *c = ctx_by_session(b->p, b, session);
    if (!c) return;
    if (strcmp(method, "Inspector.targetCrashed") == 0) {
        page_crashed(b, c);
        return;
    }
    if (c->state == C_LEASED && c->lease.hooks.on_event)
        c->lease.hooks.on_event(c->lease.hooks.ud, method, params);
}

static void on_cdp_close(void *ud, const char *why) {
    browser_t *b = ud;
    char msg[512];
    snprintf(msg, sizeof msg, "connection lost: %s", why);
    browser_down(b, msg);
}

static void on_chrome_exit(void *ud, chrome_t *ch, int64_t status, int sig, const char *tail) {
    browser_t *b = ud;
    char msg[512], last[200] = "";
    (void)ch;
    /* The last stderr line says why, when there is one. */
    if (tail && tail[0]) {
        size_t n = strlen(tail);
        while (n && (tail[n - 1] == '\n' || tail[n - 1] == '\r')) n--;
        size_t s = n;
        while (s && tail[s - 1] != '\n') s--;
        snprintf(last, sizeof last, ": %.*s", (int)(n - s > 180 ? 180 : n - s), tail + s);
    }
    if (sig)
        snprintf(msg, sizeof msg, "the browser process was killed by signal %d%s", sig, last);
    else
        snprintf(msg, sizeof msg, "the browser process exited with status %lld%s",
                 (long long)status, last);
    browser_down(b, msg);
}

static void browser_launch(browser_t *b);

/* b's browser contexts died with it: none takes a page again, none is
 * disposed (their ids mean nothing to the next browser). */
static void bctx_forget(pool_t *p, browser_t *b) {
    for (bctx_t *x = p->bctxs.next; x != &p->bctxs; x = x->next)
        if (x->b == b) {
            x->state = X_CLOSING;
            x->id[0] = 0;
        }
}

static void on_relaunch(vtimer_t *t) { browser_launch(t->data); }

static void browser_down(browser_t *b, const char *why) {
    pool_t *p = b->p;
    if (b->state == B_DEAD || b->state == B_CLOSED) return;
    int was_ready = b->state == B_READY;
    b->state = B_DEAD;
    b->gen++;
    snprintf(b->last_error, sizeof b->last_error, "browser %d: %s", b->index, why);
    if (was_ready) p->crashes_total++;
    log_error("browser %d: %s%s", b->index, why,
              was_ready ? "; its runs fail with browser_crashed" : "");
    /* Leases first, so their runs hear it as a crash (with the reason), then
     * every other call still out. */
    leases_lost(p, b, ERR_BROWSER_CRASHED, why);
    bctx_forget(p, b);
    cdp_t *cdp = b->cdp;
    b->cdp = NULL;
    if (cdp) cdp_close(cdp); /* fails every call still out, on any session */
    for (context_t *c = p->contexts.next, *next; c != &p->contexts; c = next) {
        next = c->next;
        if (c->b != b || c->state == C_LEASED || c->state == C_CLOSING) continue;
        ctx_free(c);
        next = p->contexts.next;
    }
    /* A lost pipe with a live process, or an exit: either way it is over
     * (chrome_free kills what still runs and removes the profile later). */
    if (b->chrome) {
        chrome_free(b->chrome);
        b->chrome = NULL;
    }
    if (p->shut) return;
    double up = b->ready_at > 0 ? now_of(p) - b->ready_at : 0;
    if (up > 60) b->backoff = 0;
    b->backoff = b->backoff <= 0 ? 1 : fmin(b->backoff * 2, 30);
    log_info("browser %d: %s in %gs", b->index, b->endpoint ? "reconnecting" : "relaunching",
             b->backoff);
    vtimer_start(p->clock, &b->relaunch, now_of(p) + b->backoff, on_relaunch);
    kick(p);
}

static void on_ready(void *ud, const cJSON *res, const cdp_error_t *err) {
    browser_t *b = ud;
    pool_t *p = b->p;
    if (b->state != B_STARTING) return;
    if (err) {
        char msg[600];
        const char *tail = b->chrome ? chrome_stderr_tail(b->chrome) : "";
        snprintf(msg, sizeof msg, "not ready: %s%s%.200s", err->message, tail[0] ? "; " : "", tail);
        browser_down(b, msg);
        return;
    }
    b->state = B_READY;
    b->ready_at = now_of(p);
    b->last_error[0] = 0;
    const char *product = str_field(res, "product");
    if (b->endpoint)
        log_info("browser %d: %s at %s ready in %.0f ms", b->index, product ? product : "?",
                 b->endpoint, (b->ready_at - b->launched_at) * 1000);
    else
        log_info("browser %d: %s (pid %d) ready in %.0f ms", b->index, product ? product : "?",
                 chrome_pid(b->chrome), (b->ready_at - b->launched_at) * 1000);
    cJSON *params = cJSON_CreateObject();
    cJSON_AddBoolToObject(params, "discover", 1);
    cdp_send(b->cdp, NULL, "Target.setDiscoverTargets", params, STEP_TIMEOUT, NULL, NULL, NULL);
    kick(p);
}

static void browser_launch(browser_t *b) {
    pool_t *p = b->p;
    cdp_hooks_t hooks = {on_cdp_event, on_cdp_close, b};
    char err[600];
    int rc;
    b->state = B_STARTING;
    b->launched_at = now_of(p);
    b->ready_at = 0;
    b->gen++;
    if (b->endpoint) {
        rc = cdp_ws_new(&b->cdp, p->loop, p->clock, &hooks, b->endpoint);
        if (rc < 0)
            snprintf(err, sizeof err, "cannot connect to %s: %s", b->endpoint, uv_strerror(rc));
    } else {
        uv_stdio_container_t stdio[2];
        chrome_opts_t o = {.executable = p->conf->browser.executable,
                           .args = p->conf->browser.args,
                           .nargs = p->conf->browser.nargs,
                           .index = b->index};
        rc = cdp_pipe_new(&b->cdp, p->loop, p->clock, &hooks, stdio);
        if (rc == 0) {
            rc = chrome_launch(&b->chrome, p->loop, &o, stdio, on_chrome_exit, b, err, sizeof err);
            if (rc == 0)
                rc = cdp_start(b->cdp);
            else {
                cdp_close(b->cdp);
                b->cdp = NULL;
            }
        } else {
            snprintf(err, sizeof err, "out of memory");
        }
    }
    if (rc < 0) {
        b->state = B_STARTING; /* browser_down takes it from here */
        browser_down(b, err);
        return;
    }
    if (cdp_send(b->cdp, NULL, "Browser.getVersion", NULL, READY_TIMEOUT, on_ready, b, NULL) < 0)
        browser_down(b, "cannot talk to the browser");
}

/* ---- the pool ---- */

int pool_new(pool_t **out, uv_loop_t *loop, vclock_t *clock, store_t *store, const conf_t *conf) {
    pool_t *p = calloc(1, sizeof *p);
    int n = conf->browser.nendpoints > 0 ? conf->browser.nendpoints : conf->browser.browsers;
    if (!p || !(p->browsers = calloc((size_t)n, sizeof *p->browsers))) {
        free(p);
        return -ENOMEM;
    }
    p->loop = loop;
    p->clock = clock;
    p->store = store;
    p->conf = conf;
    p->nbrowsers = n;
    p->bctxs.next = p->bctxs.prev = &p->bctxs;
    p->contexts.next = p->contexts.prev = &p->contexts;
    p->waiters.next = p->waiters.prev = &p->waiters;
    p->kick.data = p->tick.data = p;
    for (int i = 0; i < n; i++) {
        browser_t *b = &p->browsers[i];
        b->p = p;
        b->index = i + 1;
        b->endpoint = conf->browser.nendpoints > 0 ? conf->browser.endpoints[i] : NULL;
        b->relaunch.data = b;
    }
    *out = p;
    return 0;
}

void pool_start(pool_t *p) {
    if (p->started || p->shut) return;
    p->started = 1;
    chrome_subreaper();
    if (p->conf->browser.nendpoints == 0) {
        int swept = chrome_sweep();
        if (swept)
            log_info("removed %d browser profile(s) left by an engine that was killed", swept);
    }
    for (int i = 0; i < p->nbrowsers; i++) browser_launch(&p->browsers[i]);
    vtimer_start(p->clock, &p->tick, now_of(p) + TICK, on_tick);
}

void pool_figures(const pool_t *p, pool_figures_t *f) {
    memset(f, 0, sizeof *f);
    f->browsers = p->nbrowsers;
    for (int i = 0; i < p->nbrowsers; i++) f->browsers_ready += p->browsers[i].state == B_READY;
    for (const bctx_t *x = p->bctxs.next; x != &p->bctxs; x = x->next)
        f->browser_contexts += x->state != X_CLOSING;
    for (const context_t *c = p->contexts.next; c != &p->contexts; c = c->next) {
        if (c->state == C_CLOSING) continue;
        f->contexts++;
        if (c->state == C_IDLE)
            f->idle++;
        else if (c->state != C_CREATING)
            f->busy++;
    }
    int rsv = p->conf->browser.reserve_critical + p->conf->browser.reserve_high;
    int free_slots = p->conf->browser.max_contexts - used_count(p);
    f->reserved = rsv < free_slots ? rsv : free_slots > 0 ? free_slots : 0;
    f->waiters = p->nwaiters;
    f->created_total = p->created_total;
    f->reused_total = p->reused_total;
    f->recycled_total = p->recycled_total;
    f->crashes_total = p->crashes_total;
    f->leases_total = p->leases_total;
    f->acquire_timeouts_total = p->timeouts_total;
    size_t n = p->nsamples < SAMPLES ? p->nsamples : SAMPLES;
    if (n) {
        double *s = malloc(n * sizeof *s);
        if (s) {
            memcpy(s, p->samples, n * sizeof *s);
            qsort(s, n, sizeof *s, cmp_double);
            f->acquire_p50_ms = s[(size_t)(0.50 * (double)(n - 1) + 0.5)];
            f->acquire_p95_ms = s[(size_t)(0.95 * (double)(n - 1) + 0.5)];
            free(s);
        }
    }
}

void pool_shutdown(pool_t *p) {
    if (p->shut) return;
    p->shut = 1;
    vtimer_stop(p->clock, &p->kick);
    vtimer_stop(p->clock, &p->tick);
    while (p->waiters.next != &p->waiters)
        waiter_fire(p->waiters.next, NULL, ERR_CANCELLED, "the engine is shutting down");
    for (int i = 0; i < p->nbrowsers; i++) {
        browser_t *b = &p->browsers[i];
        vtimer_stop(p->clock, &b->relaunch);
        b->state = B_CLOSED;
        leases_lost(p, b, ERR_CANCELLED, "the engine is shutting down");
        bctx_forget(p, b);
        cdp_t *cdp = b->cdp;
        b->cdp = NULL;
        if (cdp) cdp_close(cdp);
        if (b->chrome) {
            chrome_free(b->chrome); /* SIGKILL, then the profile goes */
            b->chrome = NULL;
        }
    }
    for (context_t *c = p->contexts.next, *next; c != &p->contexts; c = next) {
        next = c->next;
        if (c->state == C_LEASED) continue; /* freed by its release or pool_free */
        ctx_free(c);
        next = p->contexts.next;
    }
}

void pool_free(pool_t *p) {
    if (!p) return;
    pool_shutdown(p);
    while (p->contexts.next != &p->contexts) {
        context_t *c = p->contexts.next;
        c->lease.c = NULL;
        c->inflight = 0;
        ctx_unlink_free(c);
    }
    while (p->bctxs.next != &p->bctxs) {
        bctx_t *x = p->bctxs.next;
        x->prev->next = x->next;
        x->next->prev = x->prev;
        free(x);
    }
    free(p->browsers);
    free(p);
}
