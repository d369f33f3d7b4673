/* pool_policy.h — the browser pool's decisions as a pure module: which waiting
 * run gets which page (priority with aging, reservations, burst, sessions'
 * own browser contexts, making room), which pages to open, dispose or recycle,
 * and the legal state transitions of browsers, browser contexts and pages.
 * It owns the lists of pages, browser contexts and waiters, embedded in the
 * pool's own structs; no libuv, no CDP, no JSON, no clock: time is passed in. */
#ifndef BATON_POOL_POLICY_H
#define BATON_POOL_POLICY_H

#include <stddef.h>
#include <stdint.h>

#include "base/list.h"

/* POOL_POLICY_MAX_EXTRA: targets of a page's runs kept track of; past it the
 * page and its browser context are disposed of, which closes them all. */
enum { POOL_POLICY_ID_LEN = 64, POOL_POLICY_MAX_EXTRA = 1024 };

/* Seconds of waiting worth one priority level (as in the ready queue). */
#define POOL_POLICY_AGING 60.0

typedef enum {
    POOL_BROWSER_IDLE,     /* not launched yet */
    POOL_BROWSER_STARTING, /* launched or connecting, not answered yet */
    POOL_BROWSER_READY,
    POOL_BROWSER_DEAD,  /* exited or disconnected; relaunched after a backoff */
    POOL_BROWSER_CLOSED /* the pool shut down */
} pool_browser_state_t;

typedef enum { POOL_BCTX_CREATING, POOL_BCTX_READY, POOL_BCTX_CLOSING } pool_bctx_state_t;

typedef enum {
    POOL_PAGE_CREATING,  /* its target being opened and attached */
    POOL_PAGE_IDLE,      /* free to hand out */
    POOL_PAGE_PREPARING, /* promised to a waiter: its cookie jar being set */
    POOL_PAGE_LEASED,
    POOL_PAGE_CLEANING, /* between leases: cookies saved, pop-ups closed */
    POOL_PAGE_CLOSING   /* on its way out; never handed out again */
} pool_page_state_t;

/* The pool's keys (browser.*), as numbers. */
typedef struct pool_policy_limits {
    int max_pages; /* max_pages */
    int reserve_critical, reserve_high;
    int burst;          /* temporary pages critical work may open when all are busy */
    int warm;           /* pages kept open even when idle */
    int max_uses;       /* leases a page serves before it is replaced */
    int pages_per_bctx; /* pages_per_context; 0: max_pages */
    double idle_timeout;
} pool_policy_limits_t;

typedef struct pool_policy_browser {
    list_t link;
    pool_browser_state_t state;
    unsigned gen; /* bumped at each launch: pages of an older one are dead */
    int npages;   /* pages on it, closing ones included until freed */
} pool_policy_browser_t;

/* A browser context: the cookie jar its pages share. */
typedef struct pool_policy_bctx {
    list_t link;
    pool_policy_browser_t *browser;
    pool_bctx_state_t state;
    int exclusive; /* no other page may join: a session's, or opened for one */
    int npages;    /* pages in it, closing ones not counted */
    int64_t leases;
    char cookie_session[POOL_POLICY_ID_LEN]; /* whose cookies it holds; "" = anonymous */
    int retired; /* holds targets nobody keeps track of: no page joins or is
                  * handed out again, each is disposed, and so it goes */
} pool_policy_bctx_t;

typedef struct pool_policy_waiter pool_policy_waiter_t;

/* A pooled page, leased one run at a time. */
typedef struct pool_policy_page {
    list_t link;
    pool_policy_browser_t *browser;
    unsigned gen;             /* browser->gen when it was opened */
    pool_policy_bctx_t *bctx; /* NULL once it has left it */
    int no;                   /* numbered from 1 as opened, never reused */
    int burst;                /* temporary: disposed at release */
    pool_page_state_t state;
    int uses;
    double idle_since;
    pool_policy_waiter_t *waiter; /* the waiter it is being prepared for */
    char target[POOL_POLICY_ID_LEN];
    char (*extra)[POOL_POLICY_ID_LEN]; /* targets its runs opened (malloc'd, grown) */
    int nextra, extra_cap;
    int overflow; /* a target past POOL_POLICY_MAX_EXTRA (or out of memory): disposed */
} pool_policy_page_t;

struct pool_policy_waiter {
    list_t link;
    int priority; /* 0 critical … 3 low */
    double since, key;
    char session[POOL_POLICY_ID_LEN]; /* "" for none */
    pool_policy_page_t *page;         /* the page being prepared for it */
};

typedef struct pool_policy {
    pool_policy_limits_t lim;
    list_t browsers, bctxs, pages, waiters;
    int nwaiters;
    int next_page_no, next_bctx_no;
} pool_policy_t;

/* 0 if the limits are usable, else -EINVAL with a message in err (may be
 * NULL): max_pages >= 1, the reservations leave a page for other work, warm
 * <= max_pages, max_uses >= 1, pages_per_bctx 0 or 1..1024, nothing negative. */
int pool_policy_limits_check(const pool_policy_limits_t *lim, char *err, size_t errlen);

/* Empty lists under lim (copied). */
void pool_policy_init(pool_policy_t *pp, const pool_policy_limits_t *lim);

/* Pages of runs without a session one browser context takes. */
int pool_policy_pages_per_bctx(const pool_policy_limits_t *lim);

/* How many non-burst pages may be busy for a waiter of this priority to get one. */
int pool_policy_limit(const pool_policy_limits_t *lim, int priority);

/* ---- state transitions (asserted by the pool) ---- */

int pool_policy_browser_may(pool_browser_state_t from, pool_browser_state_t to);
int pool_policy_bctx_may(pool_bctx_state_t from, pool_bctx_state_t to);
int pool_policy_page_may(pool_page_state_t from, pool_page_state_t to);

/* ---- membership ---- */

void pool_policy_browser_add(pool_policy_t *pp, pool_policy_browser_t *b);

/* Links x (zeroed by the caller) as a new browser context of b; returns its
 * number (from 1, for log lines). */
int pool_policy_bctx_add(pool_policy_t *pp, pool_policy_bctx_t *x, pool_policy_browser_t *b,
                         int exclusive);

/* Links pg (zeroed by the caller) as a new page of x on b, CREATING, numbered. */
void pool_policy_page_add(pool_policy_t *pp, pool_policy_page_t *pg, pool_policy_browser_t *b,
                          pool_policy_bctx_t *x, int burst);

/* Takes pg off the list (it is being freed) and frees its list of targets;
 * its browser counts one page less. */
void pool_policy_page_remove(pool_policy_page_t *pg);

/* pg leaves its browser context. 1 when that was the last page of a browser
 * context not yet closing: the caller disposes of it. */
int pool_policy_bctx_leave(pool_policy_page_t *pg);

/* Queues w (zeroed by the caller) at `now`: priority clamped to 0..3, session
 * NULL for none; key = since + priority × aging. */
void pool_policy_waiter_add(pool_policy_t *pp, pool_policy_waiter_t *w, int priority,
                            const char *session, double now);

/* Takes w off the queue and from the page being prepared for it, if any. */
void pool_policy_waiter_remove(pool_policy_t *pp, pool_policy_waiter_t *w);

/* Unpairs pg from the waiter it was being prepared for: that one waits again. */
void pool_policy_unpair(pool_policy_page_t *pg);

/* Pairs pg with w (the pool then prepares pg for w). */
void pool_policy_pair(pool_policy_page_t *pg, pool_policy_waiter_t *w);

/* ---- counts ---- */

/* pg's browser is ready and is the one it was opened in. */
int pool_policy_live(const pool_policy_page_t *pg);

/* Non-burst pages promised, leased or cleaning. */
int pool_policy_used(const pool_policy_t *pp);

/* Pages not closing, of this state (< 0: any) and burst flag. */
int pool_policy_count(const pool_policy_t *pp, int state, int burst);

/* Pages being opened; own: those in a browser context of their own. */
int pool_policy_creating(const pool_policy_t *pp, int burst, int own);

/* Browser contexts not closing. */
int pool_policy_bctx_count(const pool_policy_t *pp);

/* ---- who gets which page ---- */

/* The eligible waiter without a page that comes first (lowest key, FIFO on
 * ties); sessions_upto >= 0: only sessions' waiters of that priority or a
 * higher one. NULL when none. */
pool_policy_waiter_t *pool_policy_best_waiter(const pool_policy_t *pp, int used, int sessions_upto);

/* How well idle pg suits w, 0 not at all: a run without a session takes a
 * page of a shared browser context (3), then one alone held for sessions but
 * holding nobody's cookies (2), then another's (1); a session's run only a
 * page alone in its browser context: its own cookies (3), nobody's (2),
 * another session's (1). */
int pool_policy_suits(const pool_policy_page_t *pg, const pool_policy_waiter_t *w);

/* The live idle page (burst or not) that suits w best, first on ties. */
pool_policy_page_t *pool_policy_idle_for(const pool_policy_t *pp, const pool_policy_waiter_t *w,
                                         int burst);

/* The next hand-out of an idle regular page: 1 with *pg and *w set, 0 when
 * no eligible waiter finds one. Call again after each hand-out. */
int pool_policy_next_hand_out(const pool_policy_t *pp, pool_policy_page_t **pg,
                              pool_policy_waiter_t **w);

/* What one dispatch opens, counted once (so an opening that fails at once is
 * not retried in the same dispatch). */
typedef struct pool_policy_plan {
    int want[2];     /* pages to open for runs without [0] and with [1] a session */
    int critical[2]; /* critical waiters beyond the regular pages: burst */
    int total;       /* regular pages open or opening */
    int creating[2]; /* set by the _to_open calls */
    int bursting;    /* burst pages open or opening */
} pool_policy_plan_t;

void pool_policy_plan(const pool_policy_t *pp, pool_policy_plan_t *plan);

/* Regular pages of kind own (1: a browser context of its own) to try to open
 * now; record each one opened with pool_policy_opened. */
int pool_policy_to_open(const pool_policy_t *pp, pool_policy_plan_t *plan, int own);
void pool_policy_opened(pool_policy_plan_t *plan, int own, int burst);

/* The idle shared page to close so a session's run can have a page of its
 * own, when every page is open and it waits for one: the one idle longest.
 * NULL when there is no need or none to close. */
pool_policy_page_t *pool_policy_room_victim(const pool_policy_t *pp,
                                            const pool_policy_plan_t *plan);

/* The next idle burst page for a critical waiter (in queue order); 1 with
 * *pg and *w set. */
int pool_policy_next_burst_hand_out(const pool_policy_t *pp, pool_policy_plan_t *plan,
                                    pool_policy_page_t **pg, pool_policy_waiter_t **w);

/* Burst pages of kind own to try to open now (pool_policy_opened, burst 1). */
int pool_policy_burst_to_open(const pool_policy_t *pp, pool_policy_plan_t *plan, int own);

/* Regular pages to try to open for the warm minimum (pool_policy_opened). */
int pool_policy_warm_to_open(const pool_policy_t *pp, const pool_policy_plan_t *plan);

/* ---- where pages go ---- */

/* The ready browser with the fewest pages (first on ties), or NULL. */
pool_policy_browser_t *pool_policy_least_loaded(const pool_policy_t *pp);

/* A browser context of b a new page of a run without a session may join:
 * the anonymous jar, not exclusive, room for another page, and not past its
 * life of max_uses × pages_per_bctx leases; the fullest such. NULL: open one. */
pool_policy_bctx_t *pool_policy_joinable(const pool_policy_t *pp, const pool_policy_browser_t *b);

/* What preparing a page of x for a run of session ("" none) does to its jar. */
enum { POOL_JAR_KEEP = 0, POOL_JAR_CLEAR = 1, POOL_JAR_RESTORE = 2 };
int pool_policy_jar(const pool_policy_bctx_t *x, const char *session);

/* ---- release, idle and recycling ---- */

typedef enum {
    POOL_RELEASE_FREE,    /* its browser is gone: just forget it */
    POOL_RELEASE_CLOSE,   /* its page crashed: close what is left */
    POOL_RELEASE_DISCARD, /* clean, then dispose (burst, or the run failed) */
    POOL_RELEASE_RECYCLE, /* clean, then dispose: max_uses reached */
    POOL_RELEASE_KEEP     /* clean, then idle again */
} pool_release_t;

/* discard: the caller wants it disposed; lost: its page crashed. A page that
 * overflowed, or of a retired browser context, is discarded too. */
pool_release_t pool_policy_release(const pool_policy_t *pp, const pool_policy_page_t *pg,
                                   int discard, int lost);

/* The next idle page to dispose at `now`: burst pages and those of a retired
 * browser context at once, others idle for idle_timeout while more than warm
 * pages are open. *total: regular
 * pages not closing, kept up to date across calls. NULL when none. */
pool_policy_page_t *pool_policy_next_idle_expired(const pool_policy_t *pp, double now, int *total);

/* When the first regular idle page reaches idle_timeout (epoch seconds), while
 * more than warm pages are open; 0 when none will. */
double pool_policy_idle_deadline(const pool_policy_t *pp);

/* Why a waiter got no page within timeout seconds, for its pool_timeout:
 * the reason a browser is down when one is (trouble, may be NULL), else how
 * busy the pool is. Writes at most n bytes to buf (NUL-terminated). */
void pool_policy_timeout_message(char *buf, size_t n, double timeout, const char *trouble, int busy,
                                 int max_pages, int waiting);

/* Pages reserved now: free regular pages only critical/high work may take. */
int pool_policy_reserved(const pool_policy_t *pp);

/* ---- targets a run opened ---- */

/* Records tid as a target of pg's runs (closed before its next lease), once;
 * the list grows as needed. 0, or -1 when tid is past POOL_POLICY_MAX_EXTRA
 * (or memory ran out): then pg overflows and its browser context is retired,
 * so that pg is disposed at its release (as is every other page of that
 * browser context), and disposing the browser context closes what was not
 * recorded. */
int pool_policy_extra_add(pool_policy_page_t *pg, const char *tid);

/* Forgets tid (it closed) on every page of b. */
void pool_policy_extra_drop(pool_policy_t *pp, const pool_policy_browser_t *b, const char *tid);

/* Whose is a new target of x: the page whose own target (or pop-up) is its
 * opener; the opener unknown, the one page of a browser context it does not
 * share; else nobody's (NULL). */
pool_policy_page_t *pool_policy_popup_owner(const pool_policy_t *pp, const pool_policy_bctx_t *x,
                                            const char *opener);

#endif
