/* pool_int.h — between the files of the browser pool: pool.c (public API,
 * waiters, dispatch of pool_policy's decisions), pool_cdp.c (the CDP steps of
 * pages and browser contexts), pool_lease.c (leases), pool_browser.c (browser
 * lifecycle). Not for other modules. */
#ifndef BATON_POOL_INT_H
#define BATON_POOL_INT_H

#include <assert.h>
#include <stdint.h>

#include "chrome.h"
#include "pool.h"
#include "pool_policy.h"

enum { ID_LEN = POOL_POLICY_ID_LEN, SAMPLES = 1024 };
enum { DISPOSE_NO, DISPOSE_RECYCLE, DISPOSE_DISCARD };

#define STEP_TIMEOUT 15.0  /* seconds for one internal CDP step */
#define READY_TIMEOUT 30.0 /* launch → first answer */

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
    vtimer_t beat; /* the next heartbeat (browser.heartbeat) */
    char last_error[512];
} browser_t;

typedef struct bctx bctx_t;
typedef struct pooled_page pooled_page_t;
typedef struct opening opening_t; /* a Target.createTarget of a lease's (pool_lease.c) */

/* A browser context (Target.createBrowserContext): the cookie jar and storage
 * its pages share. It is disposed when its last pooled page goes, and
 * freed once no call of its own is out. */
struct bctx {
    pool_policy_bctx_t pol; /* state, jar, pages, leases */
    pool_t *p;
    browser_t *b;
    int no;                  /* "browser context N" in log lines */
    char id[ID_LEN];         /* "" until created, and once its browser is gone */
    int inflight;            /* its own calls not answered: freeing waits for 0 */
    int downloads;           /* leases of its pages allowing downloads now (0: denied) */
    char download_dir[4200]; /* where they save (in the profile); "" when none */
};

struct pool_lease {
    pooled_page_t *c;
    pool_lease_hooks_t hooks;
    int lost;
    int timed_out; /* a call of the lease got no answer in time: its page may be
                    * hung (an endless script), so it is discarded at release */
};

struct pool_waiter {
    pool_policy_waiter_t pol; /* priority, key, session, the page prepared for it */
    pool_t *p;
    char who[128];
    int downloads; /* its lease may download */
    pool_acquire_cb cb;
    void *ud;
    vtimer_t timeout;
};

/* A pooled page: one page of a browser context, leased one run at a time. */
struct pooled_page {
    pool_policy_page_t pol; /* state, number, uses, targets, its browser context */
    pool_t *p;
    browser_t *b;
    char session[ID_LEN];
    int asked;          /* Target.createTarget sent */
    opening_t *opening; /* a Target.createTarget of the lease's, not answered */
    int pending_steps;  /* parallel steps still out (creation, cleaning) */
    int step_failed;
    int inflight;  /* internal calls not answered: freeing waits for 0 */
    int doomed;    /* free once inflight reaches 0 */
    int dispose;   /* after cleaning: DISPOSE_NO, _RECYCLE or _DISCARD */
    int downloads; /* the lease prepared or out allows downloads: its bctx counts it */
    pool_lease_t lease;
};

struct pool {
    uv_loop_t *loop;
    vclock_t *clock;
    store_t *store;
    const conf_t *conf;
    pool_policy_t pol; /* the lists of browsers, browser contexts, pages, waiters */
    browser_t *browsers;
    int nbrowsers;
    int started, shut;
    chrome_plan_t plan; /* how browsers are launched (pool_start decides, once) */
    vtimer_t kick, tick;
    vtimer_t idle; /* armed for the first idle page to reach idle_timeout */
    unsigned ticks;
    int64_t created_total, reused_total, recycled_total, crashes_total, leases_total;
    int64_t timeouts_total;
    int64_t hangs_total;    /* browsers killed for missing a heartbeat */
    unsigned download_dirs; /* download folders made, for unique names */
    double hung_at;         /* when the last one was */
    char hung[512];         /* and why, for health */
    double samples[SAMPLES];
    size_t nsamples;
    void (*on_acquire)(void *ud, double ms);
    void *on_acquire_ud;
};

/* The pool's struct around a policy struct. */
#define PAGE_OF(pg) list_entry(pg, pooled_page_t, pol)
#define BCTX_OF(px) list_entry(px, bctx_t, pol)
#define WAITER_OF(pw) list_entry(pw, pool_waiter_t, pol)
/* The page, browser context or waiter whose policy part is linked at it. */
#define CTX_AT(it) PAGE_OF(list_entry(it, pool_policy_page_t, link))
#define BCTX_AT(it) BCTX_OF(list_entry(it, pool_policy_bctx_t, link))
#define WAITER_AT(it) WAITER_OF(list_entry(it, pool_policy_waiter_t, link))

static inline double now_of(pool_t *p) { return vclock_now(p->clock); }

/* The browser context c is in, NULL once it has left it. */
static inline bctx_t *page_bctx(const pooled_page_t *c) {
    return c->pol.bctx ? BCTX_OF(c->pol.bctx) : NULL;
}

/* Every state change goes through these, so an illegal one is caught. */
static inline void browser_set(browser_t *b, pool_browser_state_t to) {
    assert(pool_policy_browser_may(b->pol.state, to));
    b->pol.state = to;
}

static inline void bctx_set(bctx_t *x, pool_bctx_state_t to) {
    assert(pool_policy_bctx_may(x->pol.state, to));
    x->pol.state = to;
}

static inline void page_set(pooled_page_t *c, pool_page_state_t to) {
    assert(pool_policy_page_may(c->pol.state, to));
    c->pol.state = to;
}

static inline const char *str_field(const cJSON *o, const char *name) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* The page's target and browser are the ones it was made in, and up. */
static inline int page_live(const pooled_page_t *c) { return pool_policy_live(&c->pol); }

/* An internal CDP step's answer (err NULL on success). */
typedef void (*step_fn)(pooled_page_t *c, const cJSON *result, const cdp_error_t *err);

/* ---- pool.c ---- */

/* Schedules a dispatch on its own loop turn (never inside the caller's stack). */
void pool_kick(pool_t *p);
/* Takes w off the queue, frees it and fires its callback (a lease with ERR_NONE). */
void pool_waiter_fire(pool_waiter_t *w, pool_lease_t *l, err_kind_t kind, const char *msg);

/* ---- pool_cdp.c ---- */

/* Opens a page (own: in a browser context of its own) on the least loaded
 * ready browser. 0, or a negative code when it could not even start. */
int pool_ctx_create(pool_t *p, int burst, int own);
/* Sets idle c's cookie jar for w, then hands c over to w (pool_hand_over). */
void pool_prepare(pooled_page_t *c, pool_waiter_t *w);
/* Between leases: cookies saved, its runs' targets closed; then idle, or
 * disposed as dispose (DISPOSE_*) says. */
void pool_clean(pooled_page_t *c, int dispose);
/* Closes c for good (recycled: counted as such). */
void pool_page_discard(pooled_page_t *c, int recycled);
/* Frees c now, or once its internal calls have come back. */
void pool_page_free(pooled_page_t *c);
/* c's lease no longer allows downloads (a no-op if it did not): the last
 * such lease of its browser context denies them again and deletes what is
 * left in the download folder. */
void pool_downloads_end(pooled_page_t *c);
/* Browser.cancelDownload of guid in c's browser context; no answer. */
void pool_cancel_download(pooled_page_t *c, const char *guid);
/* Unlinks and frees c; no call of its may be out. */
void pool_page_unlink_free(pooled_page_t *c);
/* Target.closeTarget for one of c's targets; fn hears the answer. */
int pool_close_target(pooled_page_t *c, const char *target, step_fn fn);
/* Records tid as a target c's runs opened (pool_policy_extra_add), saying so
 * the first time there are too many to keep track of. */
void pool_track_target(pooled_page_t *c, const char *tid);
void pool_ignore_step(pooled_page_t *c, const cJSON *res, const cdp_error_t *err);
/* The CDP events of browser ud (a browser_t): targets, crashes, page events. */
void pool_on_cdp_event(void *ud, const char *session, const char *method, const cJSON *params);
/* A call on session of browser ud timed out: a lease there is marked timed_out. */
void pool_on_cdp_timeout(void *ud, const char *session);

/* ---- pool_lease.c ---- */

/* c's preparation is done: its waiter gets the lease (or c is idle again). */
void pool_hand_over(pooled_page_t *c);
/* Tells c's lease it is lost (its pending calls fail with kind). */
void pool_lease_fail(pooled_page_t *c, err_kind_t kind, const char *msg);
/* The same for every live lease on b (all browsers when b is NULL). */
void pool_leases_fail(pool_t *p, browser_t *b, err_kind_t kind, const char *msg);

/* ---- pool_browser.c ---- */

void pool_browser_launch(browser_t *b);
/* b's browser contexts died with it: none takes a page again. */
void pool_bctx_forget(pool_t *p, browser_t *b);
/* The reason of the first browser that is not ready, or NULL. */
const char *pool_browser_trouble(pool_t *p);
/* The first page to free when b goes down (on_b) or the pool shuts down. */
pooled_page_t *pool_first_page(pool_t *p, browser_t *b, int on_b);

#endif
