/* pool.c — the browser pool's public face and its I/O shell around
 * pool_policy.c: waiters queued and timed out, the policy's decisions (who gets
 * which page, what to open, what to dispose) carried out at each dispatch,
 * figures, start and shutdown. A pooled page is one attached page reused
 * lease after lease; the pages of runs without a cookie session share a
 * browser context (up to browser.pages_per_context), a session's page has one
 * of its own. CDP steps are in pool_cdp.c, leases in pool_lease.c, browsers in
 * pool_browser.c. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"
#include "base/stats.h"
#include "pool_int.h"

#define TICK 1.0 /* seconds between idle checks */

/* ---- waiters ---- */

static void waiter_unlink(pool_waiter_t *w) {
    assert(list_linked(&w->pol.link));
    pool_policy_waiter_remove(&w->p->pol, &w->pol);
    vtimer_stop(w->p->clock, &w->timeout);
}

void pool_waiter_fire(pool_waiter_t *w, pool_lease_t *l, err_kind_t kind, const char *msg) {
    /* A lease goes out only with ERR_NONE, and fresh. */
    assert((kind == ERR_NONE) == (l != NULL) && (!l || (l->c && !l->lost)));
    waiter_unlink(w);
    pool_acquire_cb cb = w->cb;
    void *ud = w->ud;
    free(w);
    cb(ud, l, kind, msg);
}

static void on_waiter_timeout(vtimer_t *t) {
    pool_waiter_t *w = t->data;
    pool_t *p = w->p;
    char msg[768];
    pool_policy_timeout_message(msg, sizeof msg, p->conf->browser.acquire_timeout,
                                pool_browser_trouble(p), pool_policy_used(&p->pol),
                                p->conf->browser.max_pages, p->pol.nwaiters);
    p->timeouts_total++;
    pool_waiter_fire(w, NULL, ERR_POOL_TIMEOUT, msg);
}

pool_waiter_t *pool_acquire(pool_t *p, int priority, const char *session, int downloads,
                            const char *who, pool_acquire_cb cb, void *ud) {
    pool_waiter_t *w = calloc(1, sizeof *w);
    if (!w) return NULL;
    w->p = p;
    w->downloads = downloads;
    snprintf(w->who, sizeof w->who, "%s", who ? who : "");
    w->cb = cb;
    w->ud = ud;
    w->timeout.data = w;
    pool_policy_waiter_add(&p->pol, &w->pol, priority, session, now_of(p));
    vtimer_start(p->clock, &w->timeout, w->pol.since + p->conf->browser.acquire_timeout,
                 on_waiter_timeout);
    if (!p->started) pool_start(p);
    pool_kick(p);
    return w;
}

void pool_acquire_cancel(pool_t *p, pool_waiter_t *w) {
    waiter_unlink(w);
    free(w);
    pool_kick(p);
}

/* ---- dispatch: pool_policy decides, this carries it out ---- */

/* Tries n openings of kind (burst, own), stopping at the first failure. */
static void open_some(pool_t *p, pool_policy_plan_t *plan, int n, int burst, int own) {
    for (int i = 0; i < n; i++) {
        if (pool_ctx_create(p, burst, own) < 0) break;
        pool_policy_opened(plan, own, burst);
    }
}

static void dispatch(pool_t *p) {
    if (p->shut) return;
    pool_policy_page_t *pg;
    pool_policy_waiter_t *pw;
    /* Idle pages to eligible waiters, best first. (prepare may hand over
     * at once and run the waiter's callback: the policy looks again each time.) */
    while (pool_policy_next_hand_out(&p->pol, &pg, &pw)) pool_prepare(PAGE_OF(pg), WAITER_OF(pw));
    /* Open pages for the eligible waiters nothing idle can serve: sessions'
     * runs (a browser context each) first. */
    pool_policy_plan_t plan;
    pool_policy_plan(&p->pol, &plan);
    for (int own = 1; own >= 0; own--)
        open_some(p, &plan, pool_policy_to_open(&p->pol, &plan, own), 0, own);
    /* A session's run finds every page open and none it may take: an idle
     * page of a shared browser context gives way (then dispatch again). */
    pool_policy_page_t *victim = pool_policy_room_victim(&p->pol, &plan);
    if (victim) {
        log_debug("page #%d closed to make room for a session's page", victim->no);
        pool_page_discard(PAGE_OF(victim), 0);
        pool_kick(p);
        return;
    }
    /* Burst: critical work that the regular pages cannot serve. */
    while (pool_policy_next_burst_hand_out(&p->pol, &plan, &pg, &pw))
        pool_prepare(PAGE_OF(pg), WAITER_OF(pw));
    for (int own = 1; own >= 0; own--)
        open_some(p, &plan, pool_policy_burst_to_open(&p->pol, &plan, own), 1, own);
    /* The warm minimum. */
    open_some(p, &plan, pool_policy_warm_to_open(&p->pol, &plan), 0, 0);
}

static void arm_idle(pool_t *p);

static void on_kick(vtimer_t *t) {
    dispatch(t->data);
    arm_idle(t->data);
}

/* Dispatch runs from its own loop turn, never inside the caller's stack. */
void pool_kick(pool_t *p) {
    if (!p->shut && !vtimer_active(&p->kick)) vtimer_start(p->clock, &p->kick, now_of(p), on_kick);
}

/* Idle disposal down to the warm minimum. */
static void dispose_idle(pool_t *p) {
    double now = now_of(p);
    int total = pool_policy_count(&p->pol, -1, 0);
    pool_policy_page_t *pg;
    while ((pg = pool_policy_next_idle_expired(&p->pol, now, &total))) {
        log_debug("page #%d idle for %.0fs: disposed", pg->no, now - pg->idle_since);
        pool_page_discard(PAGE_OF(pg), 0);
    }
}

static void on_idle(vtimer_t *t);

/* A page reaches idle_timeout on time, not at the next tick. */
static void arm_idle(pool_t *p) {
    double due = pool_policy_idle_deadline(&p->pol);
    if (p->shut || due == 0) {
        vtimer_stop(p->clock, &p->idle);
        return;
    }
    due += 0.001; /* past the deadline, whatever the rounding */
    if (!vtimer_active(&p->idle) || p->idle.due != due)
        vtimer_start(p->clock, &p->idle, due, on_idle);
}

static void on_idle(vtimer_t *t) {
    pool_t *p = t->data;
    dispose_idle(p);
    double due = pool_policy_idle_deadline(&p->pol);
    if (due != 0 && due + 0.001 <= now_of(p)) /* kept by the warm minimum */
        vtimer_start(p->clock, &p->idle, now_of(p) + TICK, on_idle);
    else
        arm_idle(p);
}

/* Burst pages and retired browser contexts, missed deadlines, zombies. */
static void on_tick(vtimer_t *t) {
    pool_t *p = t->data;
    dispose_idle(p);
    arm_idle(p);
    if (++p->ticks % 5 == 0) chrome_reap();
    vtimer_start(p->clock, &p->tick, now_of(p) + TICK, on_tick);
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
    pool_policy_limits_t lim = {.max_pages = conf->browser.max_pages,
                                .reserve_critical = conf->browser.reserve_critical,
                                .reserve_high = conf->browser.reserve_high,
                                .burst = conf->browser.burst,
                                .warm = conf->browser.warm,
                                .max_uses = conf->browser.max_uses,
                                .pages_per_bctx = conf->browser.pages_per_context,
                                .idle_timeout = conf->browser.idle_timeout};
    pool_policy_init(&p->pol, &lim);
    p->kick.data = p->tick.data = p->idle.data = p;
    for (int i = 0; i < n; i++) {
        browser_t *b = &p->browsers[i];
        b->p = p;
        b->index = i + 1;
        b->endpoint = conf->browser.nendpoints > 0 ? conf->browser.endpoints[i] : NULL;
        b->relaunch.data = b->beat.data = b;
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
        const chrome_plan_t *pl = &p->plan;
        chrome_plan(&p->plan, p->conf->browser.user, p->conf->browser.user_known,
                    p->conf->browser.user_uid, p->conf->browser.user_gid);
        if (pl->error[0])
            log_error("browsers cannot start: %s", pl->error);
        else if (geteuid() == 0 && !pl->as_user)
            log_warn("browsers run as root (browser.user = \"%s\"): a page that breaks out of "
                     "the renderer has the whole machine",
                     pl->user);
        if (!pl->error[0] && !pl->sandbox)
            log_warn("Chromium's sandbox is off (--no-sandbox): %s", pl->why_off);
        else if (!pl->error[0])
            log_info("browsers run as %s, with Chromium's sandbox on", pl->user);
    }
    for (int i = 0; i < p->nbrowsers; i++) pool_browser_launch(&p->browsers[i]);
    vtimer_start(p->clock, &p->tick, now_of(p) + TICK, on_tick);
}

size_t pool_pending(const pool_t *p) {
    size_t n = 0;
    for (int i = 0; i < p->nbrowsers; i++)
        if (p->browsers[i].cdp) n += cdp_pending(p->browsers[i].cdp);
    return n;
}

void pool_figures(const pool_t *p, pool_figures_t *f) {
    memset(f, 0, sizeof *f);
    f->browsers = p->nbrowsers;
    for (int i = 0; i < p->nbrowsers; i++)
        f->browsers_ready += p->browsers[i].pol.state == POOL_BROWSER_READY;
    f->browser_contexts = pool_policy_bctx_count(&p->pol);
    list_each(it, &p->pol.pages) {
        const pooled_page_t *c = CTX_AT(it);
        if (c->pol.state == POOL_PAGE_CLOSING) continue;
        f->pages++;
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
    f->hangs_total = p->hangs_total;
    if (p->conf->browser.nendpoints == 0 && p->started) {
        f->launched = 1;
        snprintf(f->user, sizeof f->user, "%s", p->plan.user);
        f->sandbox = p->plan.sandbox;
        snprintf(f->sandbox_off, sizeof f->sandbox_off, "%.299s",
                 p->plan.error[0] ? p->plan.error : p->plan.why_off);
    }
    for (int i = 0; i < p->nbrowsers && !f->trouble[0]; i++)
        if (p->browsers[i].pol.state != POOL_BROWSER_READY && p->browsers[i].last_error[0])
            snprintf(f->trouble, sizeof f->trouble, "%.299s", p->browsers[i].last_error);
    if (!f->trouble[0] && p->hung[0] && vclock_now(p->clock) - p->hung_at < POOL_HUNG_RECENT)
        snprintf(f->trouble, sizeof f->trouble, "%.299s", p->hung);
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
    vtimer_stop(p->clock, &p->idle);
    while (!list_empty(&p->pol.waiters))
        pool_waiter_fire(WAITER_AT(p->pol.waiters.next), NULL, ERR_CANCELLED,
                         "the engine is shutting down");
    for (int i = 0; i < p->nbrowsers; i++) {
        browser_t *b = &p->browsers[i];
        vtimer_stop(p->clock, &b->relaunch);
        vtimer_stop(p->clock, &b->beat);
        browser_set(b, POOL_BROWSER_CLOSED);
        pool_leases_fail(p, b, ERR_CANCELLED, "the engine is shutting down");
        pool_bctx_forget(p, b);
        cdp_t *cdp = b->cdp;
        b->cdp = NULL;
        if (cdp) cdp_close(cdp);
        if (b->chrome) {
            chrome_free(b->chrome); /* SIGKILL, then the profile goes */
            b->chrome = NULL;
        }
    }
    /* A leased one is freed by its release or pool_free. */
    for (pooled_page_t *c; (c = pool_first_page(p, NULL, 0));) pool_page_free(c);
}

void pool_free(pool_t *p) {
    if (!p) return;
    pool_shutdown(p);
    while (!list_empty(&p->pol.pages)) {
        pooled_page_t *c = CTX_AT(p->pol.pages.next);
        c->lease.c = NULL;
        c->inflight = 0;
        pool_page_unlink_free(c);
    }
    while (!list_empty(&p->pol.bctxs)) {
        bctx_t *x = BCTX_AT(p->pol.bctxs.next);
        list_remove(&x->pol.link);
        free(x);
    }
    free(p->browsers);
    free(p);
}
