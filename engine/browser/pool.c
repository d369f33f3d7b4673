/* pool.c — browsers, their browser contexts, and pooled contexts leased one run
 * at a time: the I/O shell around pool_policy.c. A pooled context is one
 * attached page (flattened session) reused lease after lease; the pages of runs
 * without a cookie session share a browser context (up to
 * browser.pages_per_context), a session's page has one of its own. Which run
 * gets which page, what to open and what to dispose is pool_policy's to say;
 * this file carries it out over CDP, keeps the leases, and relaunches a dead
 * browser with backoff while its leases fail with browser_crashed. */
#include "pool.h"

#include <assert.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chrome.h"
#include "pool_policy.h"
#include "base/log.h"
#include "base/stats.h"

enum { ID_LEN = POOL_POLICY_ID_LEN, SAMPLES = 1024 };
enum { DISPOSE_NO, DISPOSE_RECYCLE, DISPOSE_DISCARD };

#define STEP_TIMEOUT 15.0  /* seconds for one internal CDP step */
#define READY_TIMEOUT 30.0 /* launch → first answer */
#define TICK 1.0

typedef struct browser {
    pool_policy_browser_t pol; /* state, gen, pages on it */
    pool_t *p;
    int index;            /* 1-based, for log lines */
    const char *endpoint; /* NULL: launched by us */
    chrome_t *chrome;
    cdp_t *cdp;
    double launched_at, ready_at;
    double backoff;
    vtimer_t relaunch;
    char last_error[512];
} browser_t;

typedef struct bctx bctx_t;
typedef struct context context_t;
typedef struct opening opening_t;

/* A browser context (Target.createBrowserContext): the cookie jar and storage
 * its pages share. It is disposed when its last pooled context goes, and
 * freed once no call of its own is out. */
struct bctx {
    pool_policy_bctx_t pol; /* state, jar, pages, leases */
    pool_t *p;
    browser_t *b;
    int no;          /* "browser context N" in log lines */
    char id[ID_LEN]; /* "" until created, and once its browser is gone */
    int inflight;    /* its own calls not answered: freeing waits for 0 */
};

struct pool_lease {
    context_t *c;
    pool_lease_hooks_t hooks;
    int lost;
};

struct pool_waiter {
    pool_policy_waiter_t pol; /* priority, key, session, the page prepared for it */
    pool_t *p;
    char who[128];
    pool_acquire_cb cb;
    void *ud;
    vtimer_t timeout;
};

/* A pooled context: one page of a browser context, leased one run at a time. */
struct context {
    pool_policy_page_t pol; /* state, number, uses, targets, its browser context */
    pool_t *p;
    browser_t *b;
    char session[ID_LEN];
    int asked;          /* Target.createTarget sent */
    opening_t *opening; /* a Target.createTarget of the lease's, not answered */
    int pending_steps;  /* parallel steps still out (creation, cleaning) */
    int step_failed;
    int inflight; /* internal calls not answered: freeing waits for 0 */
    int doomed;   /* free once inflight reaches 0 */
    int dispose;  /* after cleaning: DISPOSE_NO, _RECYCLE or _DISCARD */
    pool_lease_t lease;
};

struct pool {
    uv_loop_t *loop;
    vclock_t *clock;
    store_t *store;
    const conf_t *conf;
    pool_policy_t pol; /* the lists of browsers, browser contexts, contexts, waiters */
    browser_t *browsers;
    int nbrowsers;
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

#define CTX_OF(pg) list_entry(pg, context_t, pol)
#define BCTX_OF(px) list_entry(px, bctx_t, pol)
#define WAITER_OF(pw) list_entry(pw, pool_waiter_t, pol)
/* The context on the list link it, or the waiter. */
#define CTX_AT(it) CTX_OF(list_entry(it, pool_policy_page_t, link))
#define BCTX_AT(it) BCTX_OF(list_entry(it, pool_policy_bctx_t, link))
#define WAITER_AT(it) WAITER_OF(list_entry(it, pool_policy_waiter_t, link))

static void kick(pool_t *p);
static void browser_down(browser_t *b, const char *why);
static void ctx_discard(context_t *c, int recycled);
static void bctx_close(bctx_t *x);
static void created_step(context_t *c, const cJSON *res, const cdp_error_t *err);
static void target_create(context_t *c);

/* ---- small helpers ---- */

static double now_of(pool_t *p) { return vclock_now(p->clock); }

/* The browser context c is in, NULL once it has left it. */
static bctx_t *ctx_bctx(const context_t *c) { return c->pol.bctx ? BCTX_OF(c->pol.bctx) : NULL; }

/* Every state change goes through these, so an illegal one is caught. */
static void browser_set(browser_t *b, pool_browser_state_t to) {
    assert(pool_policy_browser_may(b->pol.state, to));
    b->pol.state = to;
}

static void bctx_set(bctx_t *x, pool_bctx_state_t to) {
    assert(pool_policy_bctx_may(x->pol.state, to));
    x->pol.state = to;
}

static void ctx_set(context_t *c, pool_page_state_t to) {
    assert(pool_policy_page_may(c->pol.state, to));
    c->pol.state = to;
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

/* The context's page and browser are the ones it was made in, and up. */
static int ctx_live(const context_t *c) { return pool_policy_live(&c->pol); }

/* ---- internal CDP steps: a context is never freed while one is out ---- */

typedef void (*step_fn)(context_t *c, const cJSON *result, const cdp_error_t *err);

typedef struct step {
    context_t *c;
    step_fn fn;
} step_t;

static void ctx_unlink_free(context_t *c) {
    pool_policy_page_remove(&c->pol);
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
    if (x->pol.state != POOL_BCTX_CLOSING || x->pol.npages > 0 || x->inflight > 0) return;
    list_remove(&x->pol.link);
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
    if (!st || !b->cdp || b->pol.state != POOL_BROWSER_READY) {
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
    bctx_set(x, POOL_BCTX_CLOSING);
    if (x->id[0]) {
        log_debug("browser %d: browser context %d disposed (%lld leases)", x->b->index, x->no,
                  (long long)x->pol.leases);
        cJSON *params = cJSON_CreateObject();
        cJSON_AddStringToObject(params, "browserContextId", x->id);
        x->id[0] = 0;
        xstep(x, "Target.disposeBrowserContext", params, bctx_disposed);
    }
    bctx_maybe_free(x);
}

/* c leaves its browser context; the last one out disposes it. */
static void bctx_leave(context_t *c) {
    bctx_t *x = ctx_bctx(c);
    if (!x) return;
    if (pool_policy_bctx_leave(&c->pol))
        bctx_close(x);
    else
        bctx_maybe_free(x);
}

/* The answer to Target.createBrowserContext: its pages may open now. */
static void bctx_made(bctx_t *x, const cJSON *res, const cdp_error_t *err) {
    pool_t *p = x->p;
    const char *id = res ? str_field(res, "browserContextId") : NULL;
    if (x->pol.state == POOL_BCTX_CLOSING) { /* its pages went meanwhile: dispose what was made */
        if (id) {
            snprintf(x->id, sizeof x->id, "%s", id);
            bctx_close(x);
        } else {
            bctx_maybe_free(x);
        }
        return;
    }
    if (id) snprintf(x->id, sizeof x->id, "%s", id);
    bctx_set(x, id ? POOL_BCTX_READY : POOL_BCTX_CLOSING);
    /* Each step may free contexts (and, but for the pin, x): rescan each time. */
    x->inflight++;
    for (;;) {
        context_t *c = NULL;
        list_each(it, &p->pol.pages) {
            context_t *cand = CTX_AT(it);
            if (ctx_bctx(cand) == x && cand->pol.state == POOL_PAGE_CREATING && !cand->asked) {
                c = cand;
                break;
            }
        }
        if (!c) break;
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
    x->no = pool_policy_bctx_add(&p->pol, &x->pol, &b->pol, exclusive);
    /* A remote browser drops our contexts when our connection goes. */
    cJSON *params = cJSON_CreateObject();
    cJSON_AddBoolToObject(params, "disposeOnDetach", 1);
    if (xstep(x, "Target.createBrowserContext", params, bctx_made) < 0) {
        bctx_set(x, POOL_BCTX_CLOSING);
        bctx_maybe_free(x);
        return NULL;
    }
    return x;
}

static bctx_t *bctx_by_id(pool_t *p, browser_t *b, const char *id) {
    if (!id || !id[0]) return NULL;
    list_each(it, &p->pol.bctxs) {
        bctx_t *x = BCTX_AT(it);
        if (x->b == b && strcmp(x->id, id) == 0) return x;
    }
    return NULL;
}

/* Frees c now, or once its internal calls have come back. */
static void ctx_free(context_t *c) {
    pool_policy_unpair(&c->pol); /* preparation abandoned: the waiter waits again */
    bctx_leave(c);
    ctx_set(c, POOL_PAGE_CLOSING);
    if (c->inflight > 0) {
        c->doomed = 1;
        return;
    }
    ctx_unlink_free(c);
}

/* ---- waiters ---- */

static void waiter_unlink(pool_waiter_t *w) {
    assert(list_linked(&w->pol.link));
    pool_policy_waiter_remove(&w->p->pol, &w->pol);
    vtimer_stop(w->p->clock, &w->timeout);
}

static void waiter_fire(pool_waiter_t *w, pool_lease_t *l, err_kind_t kind, const char *msg) {
    /* A lease goes out only with ERR_NONE, and fresh. */
    assert((kind == ERR_NONE) == (l != NULL) && (!l || (l->c && !l->lost)));
    waiter_unlink(w);
    pool_acquire_cb cb = w->cb;
    void *ud = w->ud;
    free(w);
    cb(ud, l, kind, msg);
}

static const char *browser_trouble(pool_t *p) {
    for (int i = 0; i < p->nbrowsers; i++)
        if (p->browsers[i].pol.state != POOL_BROWSER_READY && p->browsers[i].last_error[0])
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
                 pool_policy_used(&p->pol), p->conf->browser.max_contexts, p->pol.nwaiters);
    p->timeouts_total++;
    waiter_fire(w, NULL, ERR_POOL_TIMEOUT, msg);
}

pool_waiter_t *pool_acquire(pool_t *p, int priority, const char *session, const char *who,
                            pool_acquire_cb cb, void *ud) {
    pool_waiter_t *w = calloc(1, sizeof *w);
    if (!w) return NULL;
    w->p = p;
    snprintf(w->who, sizeof w->who, "%s", who ? who : "");
    w->cb = cb;
    w->ud = ud;
    w->timeout.data = w;
    pool_policy_waiter_add(&p->pol, &w->pol, priority, session, now_of(p));
    vtimer_start(p->clock, &w->timeout, w->pol.since + p->conf->browser.acquire_timeout,
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
    if (c->pol.state != POOL_PAGE_LEASED || l->lost) return;
    assert(l->c == c); /* a lease out is its context's until the release */
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
        context_t *c = NULL;
        list_each(it, &p->pol.pages) {
            context_t *cand = CTX_AT(it);
            if ((!b || cand->b == b) && cand->pol.state == POOL_PAGE_LEASED && !cand->lease.lost) {
                c = cand;
                break;
            }
        }
        if (!c) return;
        lease_lost(c, kind, msg);
    }
}

static void hand_over(context_t *c) {
    pool_t *p = c->p;
    pool_waiter_t *w = c->pol.waiter ? WAITER_OF(c->pol.waiter) : NULL;
    pool_policy_unpair(&c->pol);
    if (!w) { /* its run went away while the context was being prepared */
        ctx_set(c, POOL_PAGE_IDLE);
        c->pol.idle_since = now_of(p);
        kick(p);
        return;
    }
    ctx_set(c, POOL_PAGE_LEASED);
    assert(c->pol.bctx);
    c->pol.uses++;
    c->pol.bctx->leases++;
    c->lease = (pool_lease_t){.c = c};
    p->leases_total++;
    if (c->pol.uses > 1) p->reused_total++;
    sample_acquire(p, (now_of(p) - w->pol.since) * 1000);
    waiter_fire(w, &c->lease, ERR_NONE, NULL);
}

static void prep_done(context_t *c, const cJSON *res, const cdp_error_t *err) {
    pool_t *p = c->p; /* c may be freed below */
    (void)res;
    if (err) c->step_failed = 1;
    if (--c->pending_steps > 0) return;
    if (c->step_failed) {
        log_warn("browser %d: context #%d could not be prepared; discarding it", c->b->index,
                 c->pol.no);
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
    bctx_t *x = ctx_bctx(c);
    ctx_set(c, POOL_PAGE_PREPARING);
    pool_policy_pair(&c->pol, &w->pol);
    c->pending_steps = 1; /* held until every step below is sent */
    c->step_failed = 0;
    int jar = pool_policy_jar(&x->pol, w->pol.session);
    if (jar != POOL_JAR_KEEP) {
        if (jar & POOL_JAR_CLEAR) { /* a jar that has served a run: empty it */
            cJSON *params = cJSON_CreateObject();
            cJSON_AddStringToObject(params, "browserContextId", x->id);
            c->pending_steps++;
            if (step(c, 0, "Storage.clearCookies", params, prep_done) < 0) {
                c->pending_steps--;
                c->step_failed = 1;
            }
        }
        snprintf(x->pol.cookie_session, sizeof x->pol.cookie_session, "%s", w->pol.session);
        cJSON *cookies = jar & POOL_JAR_RESTORE ? session_cookies(p, w->pol.session) : NULL;
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
    x->pol.exclusive = w->pol.session[0] != 0;
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
        ctx_set(c, POOL_PAGE_IDLE);
        c->pol.idle_since = now_of(p);
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
    const char *session = c->pol.bctx ? c->pol.bctx->cookie_session : "";
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
    ctx_set(c, POOL_PAGE_CLEANING);
    c->dispose = dispose;
    c->pending_steps = 1;
    c->step_failed = 0;
    if (c->pol.bctx->cookie_session[0]) {
        cJSON *params = cJSON_CreateObject();
        cJSON_AddStringToObject(params, "browserContextId", ctx_bctx(c)->id);
        c->pending_steps++;
        if (step(c, 0, "Storage.getCookies", params, cookies_saved) < 0) {
            c->pending_steps--;
            c->step_failed = 1;
        }
    }
    if (dispose == DISPOSE_NO) {
        for (int i = 0; i < c->pol.nextra; i++) {
            c->pending_steps++;
            if (close_target(c, c->pol.extra[i], popup_closed) < 0) c->pending_steps--;
        }
        c->pol.nextra = 0;
    }
    clean_done(c, NULL, NULL);
}

void pool_release(pool_t *p, pool_lease_t *l, int discard) {
    context_t *c = l->c;
    if (!c || c->pol.state != POOL_PAGE_LEASED) return;
    assert(l == &c->lease);
    l->c = NULL;
    l->hooks = (pool_lease_hooks_t){0};
    switch (pool_policy_release(&p->pol, &c->pol, discard, l->lost)) {
    case POOL_RELEASE_FREE:
        ctx_free(c);
        break;
    case POOL_RELEASE_CLOSE:
        ctx_discard(c, 0);
        break; /* its page crashed: close what is left */
    case POOL_RELEASE_DISCARD:
        clean(c, DISPOSE_DISCARD);
        break;
    case POOL_RELEASE_RECYCLE:
        log_debug("context #%d recycled after %d uses", c->pol.no, c->pol.uses);
        clean(c, DISPOSE_RECYCLE);
        break;
    case POOL_RELEASE_KEEP:
        clean(c, DISPOSE_NO);
        break;
    }
    kick(p);
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
        if (c->pol.state == POOL_PAGE_LEASED && c->pol.uses == o->uses && !c->lease.lost)
            pool_policy_extra_add(&c->pol, tid);
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
    *o = (opening_t){.c = c, .uses = c->pol.uses, .cb = cb, .ud = ud};
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

int pool_lease_context(const pool_lease_t *l) { return l->c ? l->c->pol.no : 0; }
const char *pool_lease_browser_context(const pool_lease_t *l) {
    return l->c && l->c->pol.bctx ? ctx_bctx(l->c)->id : "";
}
int pool_lease_uses(const pool_lease_t *l) { return l->c ? l->c->pol.uses : 0; }
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
    pool_policy_unpair(&c->pol);
    ctx_set(c, POOL_PAGE_CLOSING);
    if (!c->pol.bctx || c->pol.bctx->npages <= 1 || !c->pol.target[0] || !ctx_live(c)) {
        ctx_free(c);
        return;
    }
    bctx_leave(c);
    for (int i = 0; i < c->pol.nextra; i++) close_target(c, c->pol.extra[i], ignore_step);
    c->pol.nextra = 0;
    if (close_target(c, c->pol.target, page_closed) < 0) ctx_free(c);
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
        log_warn("browser %d: could not open context #%d", c->b->index, c->pol.no);
        ctx_discard(c, 0);
        kick(p);
        return;
    }
    p->created_total++;
    ctx_set(c, POOL_PAGE_IDLE);
    c->pol.idle_since = now_of(p);
    bctx_t *x = ctx_bctx(c);
    log_debug("browser %d: context #%d ready (browser context %d, %d page%s)%s", c->b->index,
              c->pol.no, x->no, x->pol.npages, x->pol.npages == 1 ? "" : "s",
              c->pol.burst ? " (burst)" : "");
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
    snprintf(c->pol.target, sizeof c->pol.target, "%s", tid);
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
    cJSON_AddStringToObject(params, "browserContextId", ctx_bctx(c)->id);
    if (step(c, 0, "Target.createTarget", params, target_made) < 0) {
        c->pending_steps = 1;
        created_step(c, NULL, &(cdp_error_t){ERR_BROWSER_CRASHED, 0, "browser gone"});
    }
}

/* Opens a context: own = 1 puts it in a browser context of its own (for a
 * session's run), else it joins a shared one while there is room. New
 * contexts go to the ready browser with the fewest. */
static int ctx_create(pool_t *p, int burst, int own) {
    pool_policy_browser_t *pb = pool_policy_least_loaded(&p->pol);
    if (!pb) return -EAGAIN;
    browser_t *b = list_entry(pb, browser_t, pol);
    context_t *c = calloc(1, sizeof *c);
    if (!c) return -ENOMEM;
    pool_policy_bctx_t *px = own ? NULL : pool_policy_joinable(&p->pol, pb);
    bctx_t *x = px ? BCTX_OF(px) : bctx_new(p, b, own);
    if (!x) {
        free(c);
        return -EPIPE;
    }
    c->p = p;
    c->b = b;
    pool_policy_page_add(&p->pol, &c->pol, pb, &x->pol, burst);
    if (x->pol.state == POOL_BCTX_READY) { /* else bctx_made opens the page */
        c->asked = 1;
        target_create(c);
    }
    return 0;
}

/* ---- dispatch: pool_policy decides, this carries it out ---- */

/* Tries n openings of kind (burst, own), stopping at the first failure. */
static void open_some(pool_t *p, pool_policy_plan_t *plan, int n, int burst, int own) {
    for (int i = 0; i < n; i++) {
        if (ctx_create(p, burst, own) < 0) break;
        pool_policy_opened(plan, own, burst);
    }
}

static void dispatch(pool_t *p) {
    if (p->shut) return;
    pool_policy_page_t *pg;
    pool_policy_waiter_t *pw;
    /* Idle contexts to eligible waiters, best first. (prepare may hand over
     * at once and run the waiter's callback: the policy looks again each time.) */
    while (pool_policy_next_hand_out(&p->pol, &pg, &pw)) prepare(CTX_OF(pg), WAITER_OF(pw));
    /* Open contexts for the eligible waiters nothing idle can serve: sessions'
     * runs (a browser context each) first. */
    pool_policy_plan_t plan;
    pool_policy_plan(&p->pol, &plan);
    for (int own = 1; own >= 0; own--)
        open_some(p, &plan, pool_policy_to_open(&p->pol, &plan, own), 0, own);
    /* A session's run finds every context open and none it may take: an idle
     * page of a shared browser context gives way (then dispatch again). */
    pool_policy_page_t *victim = pool_policy_room_victim(&p->pol, &plan);
    if (victim) {
        log_debug("context #%d closed to make room for a session's context", victim->no);
        ctx_discard(CTX_OF(victim), 0);
        kick(p);
        return;
    }
    /* Burst: critical work that the regular contexts cannot serve. */
    while (pool_policy_next_burst_hand_out(&p->pol, &plan, &pg, &pw))
        prepare(CTX_OF(pg), WAITER_OF(pw));
    for (int own = 1; own >= 0; own--)
        open_some(p, &plan, pool_policy_burst_to_open(&p->pol, &plan, own), 1, own);
    /* The warm minimum. */
    open_some(p, &plan, pool_policy_warm_to_open(&p->pol, &plan), 0, 0);
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
    int total = pool_policy_count(&p->pol, -1, 0);
    pool_policy_page_t *pg;
    while ((pg = pool_policy_next_idle_expired(&p->pol, now, &total))) {
        log_debug("context #%d idle for %.0fs: disposed", pg->no, now - pg->idle_since);
        ctx_discard(CTX_OF(pg), 0);
    }
    if (++p->ticks % 5 == 0) chrome_reap();
    vtimer_start(p->clock, &p->tick, now + TICK, on_tick);
}

/* ---- browsers ---- */

static context_t *ctx_by_session(pool_t *p, browser_t *b, const char *session) {
    list_each(it, &p->pol.pages) {
        context_t *c = CTX_AT(it);
        if (c->b == b && c->session[0] && strcmp(c->session, session) == 0) return c;
    }
    return NULL;
}

static context_t *ctx_by_target(pool_t *p, browser_t *b, const char *target) {
    if (!target) return NULL;
    list_each(it, &p->pol.pages) {
        context_t *c = CTX_AT(it);
        if (c->b == b && c->pol.target[0] && strcmp(c->pol.target, target) == 0) return c;
    }
    return NULL;
}

static void page_crashed(browser_t *b, context_t *c) {
    b->p->crashes_total++;
    log_warn("browser %d: the page of context #%d crashed", b->index, c->pol.no);
    if (c->pol.state == POOL_PAGE_LEASED)
        lease_lost(c, ERR_BROWSER_CRASHED, "the page crashed");
    else if (c->pol.state == POOL_PAGE_IDLE)
        ctx_discard(c, 0);
}

static void on_target_event(browser_t *b, const char *method, const cJSON *params) {
    pool_t *p = b->p;
    const cJSON *info = cJSON_GetObjectItemCaseSensitive(params, "targetInfo");
    if (strcmp(method, "Target.targetCreated") == 0 && info) {
        const char *tid = str_field(info, "targetId");
        bctx_t *x = bctx_by_id(p, b, str_field(info, "browserContextId"));
        /* Whose is it: the context whose page (or pop-up) opened it, else the
         * one context of a browser context it does not share. In a shared one
         * a target without an opener is nobody's (unless a run asked for it:
         * pool_lease_send sees to those). */
        pool_policy_page_t *pg =
            x && tid ? pool_policy_popup_owner(&p->pol, &x->pol, str_field(info, "openerId"))
                     : NULL;
        if (pg) pool_policy_extra_add(pg, tid);
    } else if (strcmp(method, "Target.targetDestroyed") == 0) {
        pool_policy_extra_drop(&p->pol, &b->pol, str_field(params, "targetId"));
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
    if (c->pol.state == POOL_PAGE_LEASED && c->lease.hooks.on_event)
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

/* The first context of b (any browser when NULL) to free when it goes down
 * (closing ones too, unless on_b) or the pool shuts down: not leased. */
static context_t *first_ctx(pool_t *p, browser_t *b, int on_b) {
    list_each(it, &p->pol.pages) {
        context_t *c = CTX_AT(it);
        if (c->pol.state == POOL_PAGE_LEASED) continue;
        if (on_b && (c->b != b || c->pol.state == POOL_PAGE_CLOSING)) continue;
        return c;
    }
    return NULL;
}

/* b's browser contexts died with it: none takes a page again, none is
 * disposed (their ids mean nothing to the next browser). */
static void bctx_forget(pool_t *p, browser_t *b) {
    list_each(it, &p->pol.bctxs) {
        bctx_t *x = BCTX_AT(it);
        if (x->b == b) {
            bctx_set(x, POOL_BCTX_CLOSING);
            x->id[0] = 0;
        }
    }
}

static void on_relaunch(vtimer_t *t) { browser_launch(t->data); }

static void browser_down(browser_t *b, const char *why) {
    pool_t *p = b->p;
    if (b->pol.state == POOL_BROWSER_DEAD || b->pol.state == POOL_BROWSER_CLOSED) return;
    int was_ready = b->pol.state == POOL_BROWSER_READY;
    browser_set(b, POOL_BROWSER_DEAD);
    b->pol.gen++;
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
    /* Each ctx_free may free others (and change the list): rescan each time. */
    for (context_t *c; (c = first_ctx(p, b, 1));) ctx_free(c);
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
    if (b->pol.state != POOL_BROWSER_STARTING) return;
    if (err) {
        char msg[600];
        const char *tail = b->chrome ? chrome_stderr_tail(b->chrome) : "";
        snprintf(msg, sizeof msg, "not ready: %s%s%.200s", err->message, tail[0] ? "; " : "", tail);
        browser_down(b, msg);
        return;
    }
    browser_set(b, POOL_BROWSER_READY);
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
    browser_set(b, POOL_BROWSER_STARTING);
    b->launched_at = now_of(p);
    b->ready_at = 0;
    b->pol.gen++;
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
        browser_set(b, POOL_BROWSER_STARTING); /* browser_down takes it from here */
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
    pool_policy_limits_t lim = {.max_pages = conf->browser.max_contexts,
                                .reserve_critical = conf->browser.reserve_critical,
                                .reserve_high = conf->browser.reserve_high,
                                .burst = conf->browser.burst,
                                .warm = conf->browser.warm,
                                .max_uses = conf->browser.max_uses,
                                .pages_per_bctx = conf->browser.pages_per_context,
                                .idle_timeout = conf->browser.idle_timeout};
    pool_policy_init(&p->pol, &lim);
    p->kick.data = p->tick.data = p;
    for (int i = 0; i < n; i++) {
        browser_t *b = &p->browsers[i];
        b->p = p;
        b->index = i + 1;
        b->endpoint = conf->browser.nendpoints > 0 ? conf->browser.endpoints[i] : NULL;
        b->relaunch.data = b;
        pool_policy_browser_add(&p->pol, &b->pol);
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
    for (int i = 0; i < p->nbrowsers; i++)
        f->browsers_ready += p->browsers[i].pol.state == POOL_BROWSER_READY;
    f->browser_contexts = pool_policy_bctx_count(&p->pol);
    list_each(it, &p->pol.pages) {
        const context_t *c = CTX_AT(it);
        if (c->pol.state == POOL_PAGE_CLOSING) continue;
        f->contexts++;
        if (c->pol.state == POOL_PAGE_IDLE)
            f->idle++;
        else if (c->pol.state != POOL_PAGE_CREATING)
            f->busy++;
    }
    f->reserved = pool_policy_reserved(&p->pol);
    f->waiters = p->pol.nwaiters;
    f->created_total = p->created_total;
    f->reused_total = p->reused_total;
    f->recycled_total = p->recycled_total;
    f->crashes_total = p->crashes_total;
    f->leases_total = p->leases_total;
    f->acquire_timeouts_total = p->timeouts_total;
    size_t n = p->nsamples < SAMPLES ? p->nsamples : SAMPLES;
    if (n) {
        double *s = malloc(n * sizeof *s);
        if (s) { /* stats_percentile sorts: a copy, so the ring keeps its order */
            memcpy(s, p->samples, n * sizeof *s);
            f->acquire_p50_ms = stats_percentile(s, n, 50);
            f->acquire_p95_ms = stats_percentile(s, n, 95);
            free(s);
        }
    }
}

void pool_shutdown(pool_t *p) {
    if (p->shut) return;
    p->shut = 1;
    vtimer_stop(p->clock, &p->kick);
    vtimer_stop(p->clock, &p->tick);
    while (!list_empty(&p->pol.waiters))
        waiter_fire(WAITER_AT(p->pol.waiters.next), NULL, ERR_CANCELLED,
                    "the engine is shutting down");
    for (int i = 0; i < p->nbrowsers; i++) {
        browser_t *b = &p->browsers[i];
        vtimer_stop(p->clock, &b->relaunch);
        browser_set(b, POOL_BROWSER_CLOSED);
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
    /* A leased one is freed by its release or pool_free. */
    for (context_t *c; (c = first_ctx(p, NULL, 0));) ctx_free(c);
}

void pool_free(pool_t *p) {
    if (!p) return;
    pool_shutdown(p);
    while (!list_empty(&p->pol.pages)) {
        context_t *c = CTX_AT(p->pol.pages.next);
        c->lease.c = NULL;
        c->inflight = 0;
        ctx_unlink_free(c);
    }
    while (!list_empty(&p->pol.bctxs)) {
        bctx_t *x = BCTX_AT(p->pol.bctxs.next);
        list_remove(&x->pol.link);
        free(x);
    }
    free(p->browsers);
    free(p);
}
