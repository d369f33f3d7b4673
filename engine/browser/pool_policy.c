/* pool_policy.c — the browser pool's decisions over plain numbers and lists:
 * who gets which page, what to open, dispose and recycle, and which state
 * transitions are legal. Pure: the pool (pool.c) carries the decisions out. */
#include "pool_policy.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PAGE(it) list_entry(it, pool_policy_page_t, link)
#define BCTX(it) list_entry(it, pool_policy_bctx_t, link)
#define WAITER(it) list_entry(it, pool_policy_waiter_t, link)
#define BROWSER(it) list_entry(it, pool_policy_browser_t, link)

int pool_policy_limits_check(const pool_policy_limits_t *lim, char *err, size_t errlen) {
    const char *why = NULL;
    char buf[160];
    if (lim->max_pages < 1) {
        why = "max_pages must be at least 1";
    } else if (lim->reserve_critical < 0 || lim->reserve_high < 0 || lim->burst < 0 ||
               lim->warm < 0 || lim->pages_per_bctx < 0 || lim->idle_timeout < 0) {
        why = "no limit may be negative";
    } else if (lim->reserve_critical + lim->reserve_high >= lim->max_pages) {
        snprintf(buf, sizeof buf,
                 "reserve: critical + high (%d) leaves none of max_pages (%d) for medium "
                 "and low work",
                 lim->reserve_critical + lim->reserve_high, lim->max_pages);
        why = buf;
    } else if (lim->warm > lim->max_pages) {
        why = "warm is more than max_pages";
    } else if (lim->max_uses < 1) {
        why = "max_uses must be at least 1";
    } else if (lim->pages_per_bctx > 1024) {
        why = "pages_per_context must be 1..1024";
    }
    if (!why) return 0;
    if (err && errlen) snprintf(err, errlen, "%s", why);
    return -EINVAL;
}

void pool_policy_init(pool_policy_t *pp, const pool_policy_limits_t *lim) {
    memset(pp, 0, sizeof *pp);
    pp->lim = *lim;
    list_init(&pp->browsers);
    list_init(&pp->bctxs);
    list_init(&pp->pages);
    list_init(&pp->waiters);
}

int pool_policy_pages_per_bctx(const pool_policy_limits_t *lim) {
    return lim->pages_per_bctx > 0 ? lim->pages_per_bctx : lim->max_pages;
}

int pool_policy_limit(const pool_policy_limits_t *lim, int priority) {
    int n = lim->max_pages;
    if (priority > 0) n -= lim->reserve_critical;
    if (priority > 1) n -= lim->reserve_high;
    return n;
}

/* ---- state transitions ---- */

int pool_policy_browser_may(pool_browser_state_t from, pool_browser_state_t to) {
    switch (to) {
    case POOL_BROWSER_STARTING: /* a failed launch is STARTING until it is marked dead */
        return from == POOL_BROWSER_IDLE || from == POOL_BROWSER_DEAD ||
               from == POOL_BROWSER_STARTING;
    case POOL_BROWSER_READY:
        return from == POOL_BROWSER_STARTING;
    case POOL_BROWSER_DEAD:
        return from == POOL_BROWSER_STARTING || from == POOL_BROWSER_READY;
    case POOL_BROWSER_CLOSED:
        return from != POOL_BROWSER_CLOSED;
    case POOL_BROWSER_IDLE:
        return 0;
    }
    return 0;
}

int pool_policy_bctx_may(pool_bctx_state_t from, pool_bctx_state_t to) {
    switch (to) {
    case POOL_BCTX_READY:
        return from == POOL_BCTX_CREATING;
    case POOL_BCTX_CLOSING:
        return 1; /* closing twice is a no-op */
    case POOL_BCTX_CREATING:
        return 0;
    }
    return 0;
}

int pool_policy_page_may(pool_page_state_t from, pool_page_state_t to) {
    switch (to) {
    case POOL_PAGE_IDLE: /* opened; or prepared for a waiter that left; or cleaned */
        return from == POOL_PAGE_CREATING || from == POOL_PAGE_PREPARING ||
               from == POOL_PAGE_CLEANING;
    case POOL_PAGE_PREPARING:
        return from == POOL_PAGE_IDLE;
    case POOL_PAGE_LEASED:
        return from == POOL_PAGE_PREPARING;
    case POOL_PAGE_CLEANING:
        return from == POOL_PAGE_LEASED;
    case POOL_PAGE_CLOSING:
        return 1; /* from anywhere; again is a no-op */
    case POOL_PAGE_CREATING:
        return 0;
    }
    return 0;
}

/* ---- membership ---- */

void pool_policy_browser_add(pool_policy_t *pp, pool_policy_browser_t *b) {
    b->state = POOL_BROWSER_IDLE;
    list_push_back(&pp->browsers, &b->link);
}

int pool_policy_bctx_add(pool_policy_t *pp, pool_policy_bctx_t *x, pool_policy_browser_t *b,
                         int exclusive) {
    x->browser = b;
    x->exclusive = exclusive;
    x->state = POOL_BCTX_CREATING;
    list_push_back(&pp->bctxs, &x->link);
    return ++pp->next_bctx_no;
}

void pool_policy_page_add(pool_policy_t *pp, pool_policy_page_t *pg, pool_policy_browser_t *b,
                          pool_policy_bctx_t *x, int burst) {
    pg->browser = b;
    pg->gen = b->gen;
    pg->bctx = x;
    x->npages++;
    pg->no = ++pp->next_page_no;
    pg->burst = burst;
    pg->state = POOL_PAGE_CREATING;
    list_push_back(&pp->pages, &pg->link);
    b->npages++;
}

void pool_policy_page_remove(pool_policy_page_t *pg) {
    list_remove(&pg->link);
    free(pg->extra);
    pg->extra = NULL;
    pg->nextra = pg->extra_cap = 0;
    if (pg->browser) pg->browser->npages--;
}

int pool_policy_bctx_leave(pool_policy_page_t *pg) {
    pool_policy_bctx_t *x = pg->bctx;
    if (!x) return 0;
    pg->bctx = NULL;
    return --x->npages == 0 && x->state != POOL_BCTX_CLOSING;
}

void pool_policy_waiter_add(pool_policy_t *pp, pool_policy_waiter_t *w, int priority,
                            const char *session, double now) {
    w->priority = priority < 0 ? 0 : priority > 3 ? 3 : priority;
    snprintf(w->session, sizeof w->session, "%s", session ? session : "");
    w->since = now;
    w->key = now + w->priority * POOL_POLICY_AGING;
    w->page = NULL;
    list_push_back(&pp->waiters, &w->link);
    pp->nwaiters++;
}

void pool_policy_unpair(pool_policy_page_t *pg) {
    if (!pg->waiter) return;
    pg->waiter->page = NULL;
    pg->waiter = NULL;
}

void pool_policy_pair(pool_policy_page_t *pg, pool_policy_waiter_t *w) {
    pg->waiter = w;
    w->page = pg;
}

void pool_policy_waiter_remove(pool_policy_t *pp, pool_policy_waiter_t *w) {
    list_remove(&w->link);
    pp->nwaiters--;
    if (w->page) pool_policy_unpair(w->page);
}

/* ---- counts ---- */

int pool_policy_live(const pool_policy_page_t *pg) {
    return pg->browser->state == POOL_BROWSER_READY && pg->gen == pg->browser->gen;
}

static int busy_state(pool_page_state_t s) {
    return s == POOL_PAGE_PREPARING || s == POOL_PAGE_LEASED || s == POOL_PAGE_CLEANING;
}

int pool_policy_used(const pool_policy_t *pp) {
    int n = 0;
    list_each(it, &pp->pages) {
        const pool_policy_page_t *pg = PAGE(it);
        if (!pg->burst && busy_state(pg->state)) n++;
    }
    return n;
}

int pool_policy_count(const pool_policy_t *pp, int state, int burst) {
    int n = 0;
    list_each(it, &pp->pages) {
        const pool_policy_page_t *pg = PAGE(it);
        if ((state < 0 || (int)pg->state == state) && pg->burst == burst &&
            pg->state != POOL_PAGE_CLOSING)
            n++;
    }
    return n;
}

int pool_policy_creating(const pool_policy_t *pp, int burst, int own) {
    int n = 0;
    list_each(it, &pp->pages) {
        const pool_policy_page_t *pg = PAGE(it);
        if (pg->state == POOL_PAGE_CREATING && pg->burst == burst && pg->bctx &&
            pg->bctx->exclusive == own)
            n++;
    }
    return n;
}

int pool_policy_bctx_count(const pool_policy_t *pp) {
    int n = 0;
    list_each(it, &pp->bctxs) n += BCTX(it)->state != POOL_BCTX_CLOSING;
    return n;
}

/* ---- who gets which page ---- */

static int eligible(const pool_policy_t *pp, const pool_policy_waiter_t *w, int used) {
    return used < pool_policy_limit(&pp->lim, w->priority);
}

pool_policy_waiter_t *pool_policy_best_waiter(const pool_policy_t *pp, int used,
                                              int sessions_upto) {
    pool_policy_waiter_t *best = NULL;
    list_each(it, &pp->waiters) {
        pool_policy_waiter_t *w = WAITER(it);
        if (!w->page && eligible(pp, w, used) && (!best || w->key < best->key) &&
            (sessions_upto < 0 || (w->session[0] && w->priority <= sessions_upto)))
            best = w;
    }
    return best;
}

int pool_policy_suits(const pool_policy_page_t *pg, const pool_policy_waiter_t *w) {
    const pool_policy_bctx_t *x = pg->bctx;
    if (!x || x->retired || pg->overflow) return 0;
    if (!w->session[0]) return !x->exclusive ? 3 : !x->cookie_session[0] ? 2 : 1;
    if (x->npages != 1) return 0;
    return strcmp(x->cookie_session, w->session) == 0 ? 3 : !x->cookie_session[0] ? 2 : 1;
}

pool_policy_page_t *pool_policy_idle_for(const pool_policy_t *pp, const pool_policy_waiter_t *w,
                                         int burst) {
    pool_policy_page_t *best = NULL;
    int rank = 0;
    list_each(it, &pp->pages) {
        pool_policy_page_t *pg = PAGE(it);
        if (pg->state != POOL_PAGE_IDLE || pg->burst != burst || !pool_policy_live(pg)) continue;
        int r = pool_policy_suits(pg, w);
        if (r > rank) {
            best = pg;
            rank = r;
        }
    }
    return best;
}

int pool_policy_next_hand_out(const pool_policy_t *pp, pool_policy_page_t **out_pg,
                              pool_policy_waiter_t **out_w) {
    int used = pool_policy_used(pp);
    pool_policy_waiter_t *w = pool_policy_best_waiter(pp, used, -1);
    if (!w) return 0;
    /* A session's waiter that finds none it may take stops the hand-out: it
     * gets one opened (the plan) before runs behind it take what is idle. */
    pool_policy_page_t *pg = pool_policy_idle_for(pp, w, 0);
    if (!pg) return 0;
    /* A browser context held for sessions goes to a session's run of the same
     * priority first: a run without one gets a shared page soon. */
    pool_policy_waiter_t *s = pg->bctx->exclusive && !w->session[0]
                                  ? pool_policy_best_waiter(pp, used, w->priority)
                                  : NULL;
    pool_policy_page_t *spg = s ? pool_policy_idle_for(pp, s, 0) : NULL;
    if (spg) {
        w = s;
        pg = spg;
    }
    *out_pg = pg;
    *out_w = w;
    return 1;
}

void pool_policy_plan(const pool_policy_t *pp, pool_policy_plan_t *plan) {
    memset(plan, 0, sizeof *plan);
    int used = pool_policy_used(pp);
    list_each(it, &pp->waiters) {
        const pool_policy_waiter_t *w = WAITER(it);
        if (w->page) continue;
        int own = w->session[0] != 0;
        if (eligible(pp, w, used + plan->want[0] + plan->want[1]))
            plan->want[own]++;
        else if (w->priority == 0)
            plan->critical[own]++;
    }
    /* Idle pages left are kept from runs without a session only by a
     * session's run ahead of them: they will serve those runs next. */
    int idle = pool_policy_count(pp, POOL_PAGE_IDLE, 0);
    plan->want[0] = plan->want[0] > idle ? plan->want[0] - idle : 0;
    plan->total = pool_policy_count(pp, -1, 0);
}

int pool_policy_to_open(const pool_policy_t *pp, pool_policy_plan_t *plan, int own) {
    plan->creating[own] = pool_policy_creating(pp, 0, own);
    int n = plan->want[own] - plan->creating[own];
    int room = pp->lim.max_pages - plan->total;
    if (n > room) n = room;
    return n > 0 ? n : 0;
}

void pool_policy_opened(pool_policy_plan_t *plan, int own, int burst) {
    plan->creating[own]++;
    if (burst)
        plan->bursting++;
    else
        plan->total++;
}

pool_policy_page_t *pool_policy_room_victim(const pool_policy_t *pp,
                                            const pool_policy_plan_t *plan) {
    if (plan->want[1] <= pool_policy_creating(pp, 0, 1) || plan->total < pp->lim.max_pages)
        return NULL;
    pool_policy_page_t *oldest = NULL;
    list_each(it, &pp->pages) {
        pool_policy_page_t *pg = PAGE(it);
        if (pg->state == POOL_PAGE_IDLE && !pg->burst && pg->bctx && pg->bctx->npages > 1 &&
            (!oldest || pg->idle_since < oldest->idle_since))
            oldest = pg;
    }
    return oldest;
}

int pool_policy_next_burst_hand_out(const pool_policy_t *pp, pool_policy_plan_t *plan,
                                    pool_policy_page_t **out_pg, pool_policy_waiter_t **out_w) {
    if (plan->critical[0] + plan->critical[1] <= 0) return 0;
    list_each(it, &pp->waiters) {
        pool_policy_waiter_t *w = WAITER(it);
        pool_policy_page_t *pg =
            !w->page && w->priority == 0 ? pool_policy_idle_for(pp, w, 1) : NULL;
        if (pg) {
            plan->critical[w->session[0] != 0]--;
            *out_pg = pg;
            *out_w = w;
            return 1;
        }
    }
    return 0;
}

int pool_policy_burst_to_open(const pool_policy_t *pp, pool_policy_plan_t *plan, int own) {
    if (own == 1) plan->bursting = pool_policy_count(pp, -1, 1);
    plan->creating[own] = pool_policy_creating(pp, 1, own);
    int n = plan->critical[own] - plan->creating[own];
    int room = pp->lim.burst - plan->bursting;
    if (n > room) n = room;
    return n > 0 ? n : 0;
}

int pool_policy_warm_to_open(const pool_policy_t *pp, const pool_policy_plan_t *plan) {
    int n = pp->lim.warm - plan->total;
    return n > 0 ? n : 0;
}

/* ---- where pages go ---- */

pool_policy_browser_t *pool_policy_least_loaded(const pool_policy_t *pp) {
    pool_policy_browser_t *best = NULL;
    list_each(it, &pp->browsers) {
        pool_policy_browser_t *b = BROWSER(it);
        if (b->state == POOL_BROWSER_READY && (!best || b->npages < best->npages)) best = b;
    }
    return best;
}

pool_policy_bctx_t *pool_policy_joinable(const pool_policy_t *pp, const pool_policy_browser_t *b) {
    int per = pool_policy_pages_per_bctx(&pp->lim);
    int64_t life = (int64_t)pp->lim.max_uses * per;
    pool_policy_bctx_t *best = NULL;
    list_each(it, &pp->bctxs) {
        pool_policy_bctx_t *x = BCTX(it);
        if (x->browser == b && x->state != POOL_BCTX_CLOSING && !x->exclusive && !x->retired &&
            !x->cookie_session[0] && x->npages < per && x->leases < life &&
            (!best || x->npages > best->npages))
            best = x;
    }
    return best;
}

int pool_policy_jar(const pool_policy_bctx_t *x, const char *session) {
    if (!session) session = "";
    if (strcmp(x->cookie_session, session) == 0) return POOL_JAR_KEEP;
    /* A jar that has served a run is emptied before it changes hands. */
    return (x->leases > 0 ? POOL_JAR_CLEAR : 0) | (session[0] ? POOL_JAR_RESTORE : 0);
}

/* ---- release, idle and recycling ---- */

pool_release_t pool_policy_release(const pool_policy_t *pp, const pool_policy_page_t *pg,
                                   int discard, int lost) {
    if (!pool_policy_live(pg)) return POOL_RELEASE_FREE;
    if (lost) return POOL_RELEASE_CLOSE;
    if (discard || pg->burst || pg->overflow || (pg->bctx && pg->bctx->retired))
        return POOL_RELEASE_DISCARD;
    if (pg->uses >= pp->lim.max_uses) return POOL_RELEASE_RECYCLE;
    return POOL_RELEASE_KEEP;
}

pool_policy_page_t *pool_policy_next_idle_expired(const pool_policy_t *pp, double now, int *total) {
    list_each(it, &pp->pages) {
        pool_policy_page_t *pg = PAGE(it);
        if (pg->state != POOL_PAGE_IDLE) continue;
        if (pg->burst) return pg;
        if (pg->overflow || (pg->bctx && pg->bctx->retired)) {
            (*total)--;
            return pg;
        }
        if (*total > pp->lim.warm && now - pg->idle_since >= pp->lim.idle_timeout) {
            (*total)--;
            return pg;
        }
    }
    return NULL;
}

double pool_policy_idle_deadline(const pool_policy_t *pp) {
    if (pool_policy_count(pp, -1, 0) <= pp->lim.warm) return 0;
    double first = 0;
    list_each(it, &pp->pages) {
        const pool_policy_page_t *pg = PAGE(it);
        if (pg->state != POOL_PAGE_IDLE || pg->burst || pg->overflow) continue;
        double due = pg->idle_since + pp->lim.idle_timeout;
        if (first == 0 || due < first) first = due;
    }
    return first;
}

void pool_policy_timeout_message(char *buf, size_t n, double timeout, const char *trouble, int busy,
                                 int max_pages, int waiting) {
    if (!buf || n == 0) return;
    if (trouble && trouble[0])
        snprintf(buf, n, "no browser context within %gs (%s)", timeout, trouble);
    else
        snprintf(buf, n, "no browser context within %gs (%d busy of %d, %d waiting)", timeout, busy,
                 max_pages, waiting);
}

int pool_policy_reserved(const pool_policy_t *pp) {
    int rsv = pp->lim.reserve_critical + pp->lim.reserve_high;
    int free_pages = pp->lim.max_pages - pool_policy_used(pp);
    return rsv < free_pages ? rsv : free_pages > 0 ? free_pages : 0;
}

/* ---- targets a run opened ---- */

int pool_policy_extra_add(pool_policy_page_t *pg, const char *tid) {
    if (!tid || !tid[0] || strcmp(tid, pg->target) == 0) return 0;
    for (int i = 0; i < pg->nextra; i++)
        if (strcmp(pg->extra[i], tid) == 0) return 0;
    if (pg->nextra == pg->extra_cap && pg->extra_cap < POOL_POLICY_MAX_EXTRA) {
        int cap = pg->extra_cap ? pg->extra_cap * 2 : 16;
        if (cap > POOL_POLICY_MAX_EXTRA) cap = POOL_POLICY_MAX_EXTRA;
        void *grown = realloc(pg->extra, (size_t)cap * sizeof *pg->extra);
        if (grown) {
            pg->extra = grown;
            pg->extra_cap = cap;
        }
    }
    if (pg->nextra == pg->extra_cap) { /* lost track of it: dispose of everything */
        pg->overflow = 1;
        if (pg->bctx) pg->bctx->retired = 1;
        return -1;
    }
    snprintf(pg->extra[pg->nextra++], POOL_POLICY_ID_LEN, "%s", tid);
    return 0;
}

void pool_policy_extra_drop(pool_policy_t *pp, const pool_policy_browser_t *b, const char *tid) {
    if (!tid) return;
    list_each(it, &pp->pages) {
        pool_policy_page_t *pg = PAGE(it);
        for (int i = 0; pg->browser == b && i < pg->nextra; i++)
            if (strcmp(pg->extra[i], tid) == 0) {
                memmove(pg->extra[i], pg->extra[i + 1],
                        (size_t)(pg->nextra - i - 1) * POOL_POLICY_ID_LEN);
                pg->nextra--;
                break;
            }
    }
}

pool_policy_page_t *pool_policy_popup_owner(const pool_policy_t *pp, const pool_policy_bctx_t *x,
                                            const char *opener) {
    pool_policy_page_t *alone = NULL;
    list_each(it, &pp->pages) {
        pool_policy_page_t *pg = PAGE(it);
        if (pg->bctx != x || pg->state == POOL_PAGE_CLOSING || !pg->target[0]) continue;
        if (opener && opener[0]) {
            if (strcmp(pg->target, opener) == 0) return pg;
            for (int i = 0; i < pg->nextra; i++)
                if (strcmp(pg->extra[i], opener) == 0) return pg;
        }
        alone = pg;
    }
    return x->npages == 1 ? alone : NULL;
}
