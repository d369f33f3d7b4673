/* test_pool_policy.c — the browser pool's rules (docs/engine.md, "Who gets a
 * page" and "Pooled pages and browser contexts"), one test each, on
 * plain numbers and the policy's own lists: no Chromium, no loop. */
#include <errno.h>
#include <string.h>

#include "browser/pool_policy.h"
#include "test.h"

/* One pool's worth of pages, browser contexts and waiters, in static arrays. */
typedef struct fx {
    pool_policy_t pp;
    pool_policy_browser_t b[3];
    pool_policy_bctx_t x[16];
    int nx;
    pool_policy_page_t pg[32];
    int npg;
    pool_policy_waiter_t w[32];
    int nw;
} fx_t;

static fx_t F;

static pool_policy_limits_t lim_default(void) {
    return (pool_policy_limits_t){.max_pages = 4,
                                  .burst = 1,
                                  .warm = 1,
                                  .max_uses = 50,
                                  .pages_per_bctx = 0,
                                  .idle_timeout = 60};
}

static void fx_init(const pool_policy_limits_t *lim, int nbrowsers) {
    memset(&F, 0, sizeof F);
    pool_policy_init(&F.pp, lim);
    for (int i = 0; i < nbrowsers; i++) {
        pool_policy_browser_add(&F.pp, &F.b[i]);
        F.b[i].state = POOL_BROWSER_READY;
        F.b[i].gen = 1;
    }
}

/* A ready browser context on browser bi. */
static pool_policy_bctx_t *fx_bctx(int bi, int exclusive, const char *jar) {
    pool_policy_bctx_t *x = &F.x[F.nx++];
    pool_policy_bctx_add(&F.pp, x, &F.b[bi], exclusive);
    x->state = POOL_BCTX_READY;
    snprintf(x->cookie_session, sizeof x->cookie_session, "%s", jar ? jar : "");
    return x;
}

static pool_policy_page_t *fx_page(pool_policy_bctx_t *x, pool_page_state_t state, int burst,
                                   double idle_since) {
    pool_policy_page_t *pg = &F.pg[F.npg++];
    pool_policy_page_add(&F.pp, pg, (pool_policy_browser_t *)x->browser, x, burst);
    pg->state = state;
    pg->idle_since = idle_since;
    snprintf(pg->target, sizeof pg->target, "T%d", pg->no);
    return pg;
}

static pool_policy_waiter_t *fx_wait(int priority, const char *session, double now) {
    pool_policy_waiter_t *w = &F.w[F.nw++];
    pool_policy_waiter_add(&F.pp, w, priority, session, now);
    return w;
}

/* The next hand-out's waiter, or NULL. */
static pool_policy_waiter_t *next_waiter(pool_policy_page_t **pg) {
    pool_policy_page_t *p = NULL;
    pool_policy_waiter_t *w = NULL;
    if (!pool_policy_next_hand_out(&F.pp, &p, &w)) return NULL;
    if (pg) *pg = p;
    return w;
}

/* ---- Who gets a page ---- */

TEST(waiters_queue_by_priority) {
    pool_policy_limits_t lim = lim_default();
    fx_init(&lim, 1);
    fx_page(fx_bctx(0, 0, ""), POOL_PAGE_IDLE, 0, 0);
    fx_wait(3, "", 100);
    pool_policy_waiter_t *crit = fx_wait(0, "", 100);
    fx_wait(2, "", 100);
    CHECK(next_waiter(NULL) == crit);
}

TEST(waiters_are_fifo_within_a_priority) {
    pool_policy_limits_t lim = lim_default();
    fx_init(&lim, 1);
    fx_page(fx_bctx(0, 0, ""), POOL_PAGE_IDLE, 0, 0);
    pool_policy_waiter_t *first = fx_wait(2, "", 100);
    fx_wait(2, "", 100); /* same instant: the queue order decides */
    fx_wait(2, "", 101);
    CHECK(next_waiter(NULL) == first);
}

TEST(a_minute_of_waiting_is_worth_one_priority_level) {
    pool_policy_limits_t lim = lim_default();
    fx_init(&lim, 1);
    fx_page(fx_bctx(0, 0, ""), POOL_PAGE_IDLE, 0, 0);
    pool_policy_waiter_t *low = fx_wait(3, "", 0);
    CHECK_NUM(low->key, 3 * POOL_POLICY_AGING);
    pool_policy_waiter_t *medium = fx_wait(2, "", 61); /* low has waited over a minute more */
    CHECK(next_waiter(NULL) == low);
    pool_policy_waiter_remove(&F.pp, low);
    pool_policy_waiter_t *low2 = fx_wait(3, "", 2); /* under a minute ahead: medium first */
    CHECK(next_waiter(NULL) == medium);
    (void)low2;
}

TEST(reserve_keeps_max_minus_reserves_for_medium_and_low_work) {
    pool_policy_limits_t lim = lim_default();
    lim.reserve_critical = 1;
    lim.reserve_high = 1;
    fx_init(&lim, 1);
    CHECK_INT(pool_policy_limit(&lim, 0), 4);
    CHECK_INT(pool_policy_limit(&lim, 1), 3);
    CHECK_INT(pool_policy_limit(&lim, 2), 2);
    CHECK_INT(pool_policy_limit(&lim, 3), 2);
    pool_policy_bctx_t *x = fx_bctx(0, 0, "");
    fx_page(x, POOL_PAGE_LEASED, 0, 0);
    fx_page(x, POOL_PAGE_CLEANING, 0, 0); /* cleaning counts as busy */
    fx_page(x, POOL_PAGE_IDLE, 0, 0);
    fx_wait(2, "", 0);
    fx_wait(3, "", 0);
    CHECK(next_waiter(NULL) == NULL); /* 2 busy = max - critical - high: medium, low wait */
    CHECK_INT(pool_policy_reserved(&F.pp), 2);
    pool_policy_waiter_t *high = fx_wait(1, "", 50);
    CHECK(next_waiter(NULL) == high);
}

TEST(reserve_critical_is_kept_for_critical_work_only) {
    pool_policy_limits_t lim = lim_default();
    lim.reserve_critical = 1;
    lim.reserve_high = 1;
    fx_init(&lim, 1);
    pool_policy_bctx_t *x = fx_bctx(0, 0, "");
    for (int i = 0; i < 3; i++) fx_page(x, POOL_PAGE_LEASED, 0, 0);
    fx_page(x, POOL_PAGE_IDLE, 0, 0);
    fx_wait(1, "", 0);
    CHECK(next_waiter(NULL) == NULL); /* 3 busy = max - critical: high waits too */
    CHECK_INT(pool_policy_reserved(&F.pp), 1);
    pool_policy_waiter_t *crit = fx_wait(0, "", 50);
    CHECK(next_waiter(NULL) == crit);
}

TEST(reserves_must_leave_one_page_for_other_work) {
    char err[200];
    pool_policy_limits_t lim = lim_default();
    lim.max_pages = 1;
    lim.reserve_critical = 1;
    CHECK_INT(pool_policy_limits_check(&lim, err, sizeof err), -EINVAL);
    CHECK_HAS(err, "leaves none of max_pages (1)");
    lim.reserve_critical = 0; /* `reserve = { critical = 0 }` with one page */
    CHECK_INT(pool_policy_limits_check(&lim, err, sizeof err), 0);
    lim.max_pages = 4;
    lim.reserve_critical = 2;
    lim.reserve_high = 2;
    CHECK_INT(pool_policy_limits_check(&lim, NULL, 0), -EINVAL);
    lim.reserve_high = 1;
    CHECK_INT(pool_policy_limits_check(&lim, NULL, 0), 0);
}

TEST(critical_work_may_burst_when_every_page_is_busy) {
    pool_policy_limits_t lim = lim_default();
    lim.max_pages = 2;
    lim.warm = 0;
    lim.burst = 1;
    fx_init(&lim, 1);
    pool_policy_bctx_t *x = fx_bctx(0, 0, "");
    fx_page(x, POOL_PAGE_LEASED, 0, 0);
    fx_page(x, POOL_PAGE_LEASED, 0, 0);
    fx_wait(2, "", 0); /* medium work just waits */
    pool_policy_plan_t plan;
    pool_policy_plan(&F.pp, &plan);
    CHECK_INT(plan.critical[0] + plan.critical[1], 0);
    for (int own = 1; own >= 0; own--) CHECK_INT(pool_policy_to_open(&F.pp, &plan, own), 0);
    CHECK_INT(pool_policy_burst_to_open(&F.pp, &plan, 1), 0);
    CHECK_INT(pool_policy_burst_to_open(&F.pp, &plan, 0), 0);
    fx_wait(0, "", 1);
    fx_wait(0, "", 2); /* two critical runs, one burst page allowed */
    pool_policy_plan(&F.pp, &plan);
    CHECK_INT(plan.critical[0], 2);
    for (int own = 1; own >= 0; own--) CHECK_INT(pool_policy_to_open(&F.pp, &plan, own), 0);
    CHECK_INT(pool_policy_burst_to_open(&F.pp, &plan, 1), 0);
    CHECK_INT(pool_policy_burst_to_open(&F.pp, &plan, 0), 1);
    pool_policy_opened(&plan, 0, 1);
    CHECK_INT(plan.bursting, 1);
    CHECK_INT(plan.total, 2); /* a burst page is not one of max_pages */
}

TEST(burst_pages_go_to_critical_work_only_and_are_disposed_when_released) {
    pool_policy_limits_t lim = lim_default();
    lim.max_pages = 1;
    fx_init(&lim, 1);
    pool_policy_bctx_t *x = fx_bctx(0, 0, "");
    fx_page(x, POOL_PAGE_LEASED, 0, 0);
    pool_policy_page_t *burst = fx_page(x, POOL_PAGE_IDLE, 1, 0);
    fx_wait(1, "", 0);
    pool_policy_waiter_t *crit = fx_wait(0, "", 5);
    CHECK(next_waiter(NULL) == NULL); /* a burst page is no regular hand-out */
    pool_policy_plan_t plan;
    pool_policy_plan(&F.pp, &plan);
    pool_policy_page_t *pg = NULL;
    pool_policy_waiter_t *w = NULL;
    CHECK(pool_policy_next_burst_hand_out(&F.pp, &plan, &pg, &w));
    CHECK(pg == burst && w == crit);
    burst->uses = 1;
    CHECK_INT(pool_policy_release(&F.pp, burst, 0, 0), POOL_RELEASE_DISCARD);
    int total = 1;
    CHECK(pool_policy_next_idle_expired(&F.pp, 0, &total) == burst); /* idle burst: at once */
}

TEST(a_run_without_a_session_takes_an_idle_page_of_a_shared_browser_context_first) {
    pool_policy_limits_t lim = lim_default();
    fx_init(&lim, 1);
    pool_policy_page_t *other = fx_page(fx_bctx(0, 1, "s"), POOL_PAGE_IDLE, 0, 0);
    pool_policy_page_t *nobody = fx_page(fx_bctx(0, 1, ""), POOL_PAGE_IDLE, 0, 0);
    pool_policy_page_t *shared = fx_page(fx_bctx(0, 0, ""), POOL_PAGE_IDLE, 0, 0);
    pool_policy_waiter_t *w = fx_wait(2, "", 0);
    CHECK_INT(pool_policy_suits(shared, w), 3);
    CHECK_INT(pool_policy_suits(nobody, w), 2);
    CHECK_INT(pool_policy_suits(other, w), 1);
    CHECK(pool_policy_idle_for(&F.pp, w, 0) == shared);
}

TEST(a_session_run_takes_only_a_context_alone_in_its_browser_context) {
    pool_policy_limits_t lim = lim_default();
    fx_init(&lim, 1);
    pool_policy_bctx_t *x = fx_bctx(0, 0, "");
    pool_policy_page_t *a = fx_page(x, POOL_PAGE_IDLE, 0, 0);
    fx_page(x, POOL_PAGE_IDLE, 0, 0);
    pool_policy_waiter_t *w = fx_wait(2, "s", 0);
    CHECK_INT(pool_policy_suits(a, w), 0);
    CHECK(next_waiter(NULL) == NULL);
    /* ... else one is opened for it, in a browser context of its own */
    pool_policy_plan_t plan;
    pool_policy_plan(&F.pp, &plan);
    CHECK_INT(plan.want[1], 1);
    CHECK_INT(pool_policy_to_open(&F.pp, &plan, 1), 1);
    /* alone, a shared one's page would do (its jar is emptied first) */
    fx_init(&lim, 1);
    pool_policy_page_t *alone = fx_page(fx_bctx(0, 0, ""), POOL_PAGE_IDLE, 0, 0);
    w = fx_wait(2, "s", 0);
    CHECK_INT(pool_policy_suits(alone, w), 2);
}

TEST(a_session_run_prefers_the_browser_context_holding_its_cookies) {
    pool_policy_limits_t lim = lim_default();
    fx_init(&lim, 1);
    pool_policy_page_t *other = fx_page(fx_bctx(0, 1, "t"), POOL_PAGE_IDLE, 0, 0);
    pool_policy_page_t *nobody = fx_page(fx_bctx(0, 1, ""), POOL_PAGE_IDLE, 0, 0);
    pool_policy_page_t *own = fx_page(fx_bctx(0, 1, "s"), POOL_PAGE_IDLE, 0, 0);
    pool_policy_waiter_t *w = fx_wait(2, "s", 0);
    CHECK_INT(pool_policy_suits(own, w), 3);
    CHECK_INT(pool_policy_suits(nobody, w), 2);
    CHECK_INT(pool_policy_suits(other, w), 1);
    CHECK(pool_policy_idle_for(&F.pp, w, 0) == own);
}

TEST(a_browser_context_changing_hands_is_cleared_first) {
    pool_policy_limits_t lim = lim_default();
    fx_init(&lim, 1);
    pool_policy_bctx_t *x = fx_bctx(0, 1, "s");
    CHECK_INT(pool_policy_jar(x, "s"), POOL_JAR_KEEP);
    CHECK_INT(pool_policy_jar(x, "t"), POOL_JAR_RESTORE); /* served no run: nothing to clear */
    x->leases = 1;
    CHECK_INT(pool_policy_jar(x, "t"), POOL_JAR_CLEAR | POOL_JAR_RESTORE);
    CHECK_INT(pool_policy_jar(x, ""), POOL_JAR_CLEAR);
    CHECK_INT(pool_policy_jar(x, NULL), POOL_JAR_CLEAR);
    pool_policy_bctx_t *anon = fx_bctx(0, 0, "");
    anon->leases = 5;
    CHECK_INT(pool_policy_jar(anon, ""), POOL_JAR_KEEP);
}

TEST(when_every_page_is_open_an_idle_shared_page_makes_room_for_a_session) {
    pool_policy_limits_t lim = lim_default();
    lim.max_pages = 3;
    fx_init(&lim, 1);
    pool_policy_bctx_t *x = fx_bctx(0, 0, "");
    fx_page(x, POOL_PAGE_IDLE, 0, 20);
    pool_policy_page_t *oldest = fx_page(x, POOL_PAGE_IDLE, 0, 10);
    fx_page(fx_bctx(0, 1, "t"), POOL_PAGE_LEASED, 0, 0);
    fx_wait(2, "s", 30);
    pool_policy_plan_t plan;
    pool_policy_plan(&F.pp, &plan);
    for (int own = 1; own >= 0; own--) CHECK_INT(pool_policy_to_open(&F.pp, &plan, own), 0);
    CHECK(pool_policy_room_victim(&F.pp, &plan) == oldest);
}

TEST(no_page_is_closed_for_a_session_while_one_can_still_be_opened) {
    pool_policy_limits_t lim = lim_default();
    lim.max_pages = 4;
    fx_init(&lim, 1);
    pool_policy_bctx_t *x = fx_bctx(0, 0, "");
    fx_page(x, POOL_PAGE_IDLE, 0, 20);
    fx_page(x, POOL_PAGE_IDLE, 0, 10);
    fx_wait(2, "s", 30);
    pool_policy_plan_t plan;
    pool_policy_plan(&F.pp, &plan);
    CHECK_INT(pool_policy_to_open(&F.pp, &plan, 1), 1);
    pool_policy_opened(&plan, 1, 0);
    fx_page(fx_bctx(0, 1, ""), POOL_PAGE_CREATING, 0, 0);
    CHECK(pool_policy_room_victim(&F.pp, &plan) == NULL);
}

TEST(a_page_alone_goes_to_a_session_before_a_run_without_one_of_the_same_priority) {
    pool_policy_limits_t lim = lim_default();
    fx_init(&lim, 1);
    pool_policy_page_t *alone = fx_page(fx_bctx(0, 1, ""), POOL_PAGE_IDLE, 0, 0);
    fx_wait(2, "", 0);                                /* first in the queue */
    pool_policy_waiter_t *sess = fx_wait(2, "s", 10); /* same priority, later */
    pool_policy_page_t *pg = NULL;
    CHECK(next_waiter(&pg) == sess);
    CHECK(pg == alone);
    /* a session's run of a lower priority does not pass it */
    fx_init(&lim, 1);
    fx_page(fx_bctx(0, 1, ""), POOL_PAGE_IDLE, 0, 0);
    pool_policy_waiter_t *anon = fx_wait(1, "", 0);
    fx_wait(2, "s", 0);
    CHECK(next_waiter(NULL) == anon);
}

TEST(new_pages_go_to_the_ready_browser_with_the_fewest_pages) {
    pool_policy_limits_t lim = lim_default();
    fx_init(&lim, 3);
    pool_policy_bctx_t *x0 = fx_bctx(0, 0, "");
    pool_policy_bctx_t *x1 = fx_bctx(1, 0, "");
    fx_page(x0, POOL_PAGE_IDLE, 0, 0);
    fx_page(x1, POOL_PAGE_IDLE, 0, 0);
    fx_page(x1, POOL_PAGE_IDLE, 0, 0);
    CHECK(pool_policy_least_loaded(&F.pp) == &F.b[2]);
    F.b[2].state = POOL_BROWSER_DEAD;
    CHECK(pool_policy_least_loaded(&F.pp) == &F.b[0]);
    F.b[0].state = POOL_BROWSER_STARTING;
    F.b[1].state = POOL_BROWSER_CLOSED;
    CHECK(pool_policy_least_loaded(&F.pp) == NULL);
}

TEST(no_page_within_acquire_timeout_fails_with_the_reason_when_a_browser_is_down) {
    char msg[300];
    pool_policy_timeout_message(msg, sizeof msg, 30, "browser 1: the browser process exited", 2, 4,
                                3);
    CHECK_STR(msg, "no browser context within 30s (browser 1: the browser process exited)");
    pool_policy_timeout_message(msg, sizeof msg, 2.5, NULL, 4, 4, 3);
    CHECK_STR(msg, "no browser context within 2.5s (4 busy of 4, 3 waiting)");
    pool_policy_timeout_message(msg, sizeof msg, 2.5, "", 1, 4, 0); /* no reason: the counts */
    CHECK_STR(msg, "no browser context within 2.5s (1 busy of 4, 0 waiting)");
    char tiny[8];
    pool_policy_timeout_message(tiny, sizeof tiny, 30, NULL, 0, 1, 0); /* cut, not overrun */
    CHECK_STR(tiny, "no brow");
    pool_policy_timeout_message(NULL, 0, 30, NULL, 0, 1, 0);
}

/* ---- Pooled pages and browser contexts ---- */

TEST(one_lease_is_one_page_reused_lease_after_lease) {
    pool_policy_limits_t lim = lim_default();
    fx_init(&lim, 1);
    pool_policy_page_t *pg = fx_page(fx_bctx(0, 0, ""), POOL_PAGE_LEASED, 0, 0);
    pg->uses = 1;
    CHECK_INT(pool_policy_release(&F.pp, pg, 0, 0), POOL_RELEASE_KEEP);
    pg->state = POOL_PAGE_IDLE;
    pool_policy_waiter_t *w = fx_wait(2, "", 0);
    pool_policy_page_t *got = NULL;
    CHECK(next_waiter(&got) == w);
    CHECK(got == pg);
}

TEST(pages_of_runs_without_a_session_share_a_browser_context_up_to_pages_per_context) {
    pool_policy_limits_t lim = lim_default();
    lim.pages_per_bctx = 2;
    fx_init(&lim, 2);
    pool_policy_bctx_t *x = fx_bctx(0, 0, "");
    fx_page(x, POOL_PAGE_LEASED, 0, 0);
    CHECK(pool_policy_joinable(&F.pp, &F.b[0]) == x);
    CHECK(pool_policy_joinable(&F.pp, &F.b[1]) == NULL); /* another browser's is no use */
    fx_page(x, POOL_PAGE_LEASED, 0, 0);
    CHECK(pool_policy_joinable(&F.pp, &F.b[0]) == NULL);
    /* the fullest one with room is joined */
    lim.pages_per_bctx = 3;
    fx_init(&lim, 1);
    pool_policy_bctx_t *one = fx_bctx(0, 0, "");
    pool_policy_bctx_t *two = fx_bctx(0, 0, "");
    fx_page(one, POOL_PAGE_IDLE, 0, 0);
    fx_page(two, POOL_PAGE_IDLE, 0, 0);
    fx_page(two, POOL_PAGE_IDLE, 0, 0);
    CHECK(pool_policy_joinable(&F.pp, &F.b[0]) == two);
}

TEST(pages_per_context_unset_means_max_contexts) {
    pool_policy_limits_t lim = lim_default();
    lim.max_pages = 7;
    lim.pages_per_bctx = 0;
    CHECK_INT(pool_policy_pages_per_bctx(&lim), 7);
    lim.pages_per_bctx = 1; /* the former pool: a browser context per page */
    CHECK_INT(pool_policy_pages_per_bctx(&lim), 1);
}

TEST(a_session_run_gets_a_browser_context_of_its_own) {
    pool_policy_limits_t lim = lim_default();
    fx_init(&lim, 1);
    pool_policy_bctx_t *own = fx_bctx(0, 1, "");
    fx_page(own, POOL_PAGE_LEASED, 0, 0);
    pool_policy_bctx_t *jar = fx_bctx(0, 0, "s"); /* holds a session's cookies */
    fx_page(jar, POOL_PAGE_LEASED, 0, 0);
    pool_policy_bctx_t *closing = fx_bctx(0, 0, "");
    closing->state = POOL_BCTX_CLOSING;
    CHECK(pool_policy_joinable(&F.pp, &F.b[0]) == NULL);
}

TEST(a_shared_browser_context_is_made_for_its_first_page_and_disposed_with_its_last) {
    pool_policy_limits_t lim = lim_default();
    fx_init(&lim, 1);
    CHECK(pool_policy_joinable(&F.pp, &F.b[0]) == NULL); /* none yet: one is made */
    pool_policy_bctx_t *x = fx_bctx(0, 0, "");
    pool_policy_page_t *a = fx_page(x, POOL_PAGE_IDLE, 0, 0);
    pool_policy_page_t *b = fx_page(x, POOL_PAGE_IDLE, 0, 0);
    CHECK_INT(x->npages, 2);
    CHECK_INT(pool_policy_bctx_leave(a), 0);
    CHECK(a->bctx == NULL);
    CHECK_INT(pool_policy_bctx_leave(a), 0); /* leaving twice is a no-op */
    CHECK_INT(pool_policy_bctx_leave(b), 1); /* the last page out disposes it */
    CHECK_INT(x->npages, 0);
    /* one already closing (its browser died) is not disposed again */
    pool_policy_bctx_t *dead = fx_bctx(0, 0, "");
    pool_policy_page_t *c = fx_page(dead, POOL_PAGE_IDLE, 0, 0);
    dead->state = POOL_BCTX_CLOSING;
    CHECK_INT(pool_policy_bctx_leave(c), 0);
}

TEST(a_shared_browser_context_is_renewed_after_max_uses_times_pages_leases) {
    pool_policy_limits_t lim = lim_default();
    lim.max_uses = 5;
    lim.pages_per_bctx = 2;
    fx_init(&lim, 1);
    pool_policy_bctx_t *x = fx_bctx(0, 0, "");
    fx_page(x, POOL_PAGE_IDLE, 0, 0);
    x->leases = 9;
    CHECK(pool_policy_joinable(&F.pp, &F.b[0]) == x);
    x->leases = 10;
    CHECK(pool_policy_joinable(&F.pp, &F.b[0]) == NULL);
}

TEST(warm_pages_stay_open_others_are_disposed_after_idle_timeout) {
    pool_policy_limits_t lim = lim_default();
    lim.warm = 1;
    lim.idle_timeout = 60;
    fx_init(&lim, 1);
    pool_policy_bctx_t *x = fx_bctx(0, 0, "");
    pool_policy_page_t *a = fx_page(x, POOL_PAGE_IDLE, 0, 0);
    pool_policy_page_t *b = fx_page(x, POOL_PAGE_IDLE, 0, 30);
    pool_policy_page_t *leased = fx_page(x, POOL_PAGE_LEASED, 0, 0);
    int total = pool_policy_count(&F.pp, -1, 0);
    CHECK_INT(total, 3);
    CHECK(pool_policy_idle_deadline(&F.pp) == 60); /* a's, the first idle one */
    CHECK(pool_policy_next_idle_expired(&F.pp, 59.9, &total) == NULL);
    CHECK(pool_policy_next_idle_expired(&F.pp, 90, &total) == a);
    CHECK_INT(total, 2);
    a->state = POOL_PAGE_CLOSING;
    CHECK(pool_policy_next_idle_expired(&F.pp, 90, &total) == b);
    CHECK_INT(total, 1);
    b->state = POOL_PAGE_CLOSING;
    /* down to the warm minimum: the last idle one stays, and no deadline is armed */
    pool_policy_page_t *c = fx_page(x, POOL_PAGE_IDLE, 0, 0);
    (void)c;
    CHECK(pool_policy_next_idle_expired(&F.pp, 1000, &total) == NULL);
    CHECK(pool_policy_idle_deadline(&F.pp) == 60); /* c's, while the leased one counts */
    leased->state = POOL_PAGE_CLOSING;
    CHECK(pool_policy_idle_deadline(&F.pp) == 0);
    /* and the warm minimum is opened even with nobody waiting */
    lim.warm = 2;
    fx_init(&lim, 1);
    pool_policy_plan_t plan;
    pool_policy_plan(&F.pp, &plan);
    CHECK_INT(pool_policy_warm_to_open(&F.pp, &plan), 2);
}

TEST(a_page_is_replaced_after_max_uses_leases) {
    pool_policy_limits_t lim = lim_default();
    lim.max_uses = 3;
    fx_init(&lim, 1);
    pool_policy_page_t *pg = fx_page(fx_bctx(0, 0, ""), POOL_PAGE_LEASED, 0, 0);
    pg->uses = 2;
    CHECK_INT(pool_policy_release(&F.pp, pg, 0, 0), POOL_RELEASE_KEEP);
    pg->uses = 3;
    CHECK_INT(pool_policy_release(&F.pp, pg, 0, 0), POOL_RELEASE_RECYCLE);
}

TEST(a_lease_that_timed_out_crashed_or_lost_its_browser_is_disposed_never_reused) {
    pool_policy_limits_t lim = lim_default();
    fx_init(&lim, 1);
    pool_policy_page_t *pg = fx_page(fx_bctx(0, 0, ""), POOL_PAGE_LEASED, 0, 0);
    pg->uses = 1;
    CHECK_INT(pool_policy_release(&F.pp, pg, 1, 0), POOL_RELEASE_DISCARD); /* timed out */
    CHECK_INT(pool_policy_release(&F.pp, pg, 0, 1), POOL_RELEASE_CLOSE);   /* page crashed */
    F.b[0].gen = 2; /* its browser was relaunched */
    CHECK_INT(pool_policy_release(&F.pp, pg, 0, 0), POOL_RELEASE_FREE);
    /* nor is an idle page of a dead or relaunched browser handed out */
    pool_policy_page_t *idle = fx_page(fx_bctx(0, 0, ""), POOL_PAGE_IDLE, 0, 0);
    idle->gen = 1;
    pool_policy_waiter_t *w = fx_wait(2, "", 0);
    CHECK(pool_policy_idle_for(&F.pp, w, 0) == NULL);
    idle->gen = 2;
    CHECK(pool_policy_idle_for(&F.pp, w, 0) == idle);
    F.b[0].state = POOL_BROWSER_DEAD;
    CHECK(pool_policy_idle_for(&F.pp, w, 0) == NULL);
}

TEST(pop_ups_of_a_run_page_or_of_its_pop_ups_are_closed_with_its_lease) {
    pool_policy_limits_t lim = lim_default();
    fx_init(&lim, 1);
    pool_policy_bctx_t *x = fx_bctx(0, 0, "");
    pool_policy_page_t *a = fx_page(x, POOL_PAGE_LEASED, 0, 0);
    pool_policy_page_t *b = fx_page(x, POOL_PAGE_LEASED, 0, 0);
    CHECK(pool_policy_popup_owner(&F.pp, x, b->target) == b);
    pool_policy_extra_add(a, "P1");
    CHECK_INT(a->nextra, 1);
    CHECK(pool_policy_popup_owner(&F.pp, x, "P1") == a); /* a pop-up of a pop-up */
    pool_policy_extra_drop(&F.pp, &F.b[0], "P1");        /* it closed itself */
    CHECK_INT(a->nextra, 0);
}

TEST(in_a_shared_browser_context_a_target_without_opener_is_left_alone) {
    pool_policy_limits_t lim = lim_default();
    fx_init(&lim, 1);
    pool_policy_bctx_t *x = fx_bctx(0, 0, "");
    pool_policy_page_t *a = fx_page(x, POOL_PAGE_LEASED, 0, 0);
    fx_page(x, POOL_PAGE_LEASED, 0, 0);
    CHECK(pool_policy_popup_owner(&F.pp, x, NULL) == NULL);
    CHECK(pool_policy_popup_owner(&F.pp, x, "") == NULL);
    CHECK(pool_policy_popup_owner(&F.pp, x, "unknown") == NULL);
    /* alone in its browser context, the page owns whatever opens there */
    pool_policy_bctx_t *own = fx_bctx(0, 1, "s");
    pool_policy_page_t *s = fx_page(own, POOL_PAGE_LEASED, 0, 0);
    CHECK(pool_policy_popup_owner(&F.pp, own, NULL) == s);
    (void)a;
}

TEST(pooled_pages_are_numbered_from_one_and_never_reused) {
    pool_policy_limits_t lim = lim_default();
    fx_init(&lim, 1);
    pool_policy_bctx_t *x = fx_bctx(0, 0, "");
    pool_policy_page_t *a = fx_page(x, POOL_PAGE_IDLE, 0, 0);
    pool_policy_page_t *b = fx_page(x, POOL_PAGE_IDLE, 0, 0);
    CHECK_INT(a->no, 1);
    CHECK_INT(b->no, 2);
    pool_policy_page_remove(a);
    CHECK_INT(F.b[0].npages, 1);
    pool_policy_page_t *c = fx_page(x, POOL_PAGE_IDLE, 0, 0);
    CHECK_INT(c->no, 3);
    /* browser contexts too, on their own count ("browser context N") */
    pool_policy_bctx_t y = {0}, z = {0};
    CHECK_INT(pool_policy_bctx_add(&F.pp, &y, &F.b[0], 0), 2);
    CHECK_INT(pool_policy_bctx_add(&F.pp, &z, &F.b[0], 1), 3);
    CHECK(y.browser == &F.b[0] && y.state == POOL_BCTX_CREATING && z.exclusive);
}

/* ---- dispatch bookkeeping ---- */

TEST(idle_pages_left_are_counted_against_runs_without_a_session) {
    pool_policy_limits_t lim = lim_default();
    fx_init(&lim, 1);
    pool_policy_bctx_t *x = fx_bctx(0, 0, "");
    fx_page(x, POOL_PAGE_IDLE, 0, 0);
    fx_wait(2, "s", 0); /* stops the hand-out: the idle page serves the next run */
    fx_wait(2, "", 1);
    fx_wait(2, "", 2);
    pool_policy_plan_t plan;
    pool_policy_plan(&F.pp, &plan);
    CHECK_INT(plan.want[1], 1);
    CHECK_INT(plan.want[0], 1); /* two runs, one idle page */
    CHECK_INT(plan.total, 1);
    CHECK_INT(pool_policy_to_open(&F.pp, &plan, 1), 1);
    pool_policy_opened(&plan, 1, 0);
    CHECK_INT(pool_policy_to_open(&F.pp, &plan, 0), 1);
    /* never beyond max_pages */
    plan.total = 4;
    CHECK_INT(pool_policy_to_open(&F.pp, &plan, 0), 0);
}

TEST(pool_state_transitions_allow_only_the_lifecycle) {
    CHECK(pool_policy_page_may(POOL_PAGE_CREATING, POOL_PAGE_IDLE));
    CHECK(pool_policy_page_may(POOL_PAGE_IDLE, POOL_PAGE_PREPARING));
    CHECK(pool_policy_page_may(POOL_PAGE_PREPARING, POOL_PAGE_LEASED));
    CHECK(pool_policy_page_may(POOL_PAGE_PREPARING, POOL_PAGE_IDLE));
    CHECK(pool_policy_page_may(POOL_PAGE_LEASED, POOL_PAGE_CLEANING));
    CHECK(pool_policy_page_may(POOL_PAGE_CLEANING, POOL_PAGE_IDLE));
    CHECK(pool_policy_page_may(POOL_PAGE_LEASED, POOL_PAGE_CLOSING));
    CHECK(pool_policy_page_may(POOL_PAGE_CLOSING, POOL_PAGE_CLOSING));
    CHECK(!pool_policy_page_may(POOL_PAGE_IDLE, POOL_PAGE_LEASED)); /* never unprepared */
    CHECK(!pool_policy_page_may(POOL_PAGE_LEASED, POOL_PAGE_IDLE)); /* never uncleaned */
    CHECK(!pool_policy_page_may(POOL_PAGE_CREATING, POOL_PAGE_LEASED));
    CHECK(!pool_policy_page_may(POOL_PAGE_CLOSING, POOL_PAGE_IDLE)); /* closing is final */
    CHECK(!pool_policy_page_may(POOL_PAGE_IDLE, POOL_PAGE_CREATING));
    CHECK(pool_policy_bctx_may(POOL_BCTX_CREATING, POOL_BCTX_READY));
    CHECK(pool_policy_bctx_may(POOL_BCTX_READY, POOL_BCTX_CLOSING));
    CHECK(!pool_policy_bctx_may(POOL_BCTX_CLOSING, POOL_BCTX_READY));
    CHECK(!pool_policy_bctx_may(POOL_BCTX_READY, POOL_BCTX_CREATING));
    CHECK(pool_policy_browser_may(POOL_BROWSER_IDLE, POOL_BROWSER_STARTING));
    CHECK(pool_policy_browser_may(POOL_BROWSER_STARTING, POOL_BROWSER_READY));
    CHECK(pool_policy_browser_may(POOL_BROWSER_READY, POOL_BROWSER_DEAD));
    CHECK(pool_policy_browser_may(POOL_BROWSER_DEAD, POOL_BROWSER_STARTING));
    CHECK(pool_policy_browser_may(POOL_BROWSER_READY, POOL_BROWSER_CLOSED));
    CHECK(!pool_policy_browser_may(POOL_BROWSER_DEAD, POOL_BROWSER_READY));
    CHECK(!pool_policy_browser_may(POOL_BROWSER_READY, POOL_BROWSER_STARTING));
    CHECK(!pool_policy_browser_may(POOL_BROWSER_CLOSED, POOL_BROWSER_STARTING));
    CHECK(!pool_policy_browser_may(POOL_BROWSER_CLOSED, POOL_BROWSER_CLOSED));
    CHECK(!pool_policy_browser_may(POOL_BROWSER_DEAD, POOL_BROWSER_DEAD));
}

/* ---- bad inputs ---- */

TEST(pool_policy_rejects_unusable_limits) {
    char err[200];
    pool_policy_limits_t lim = lim_default();
    CHECK_INT(pool_policy_limits_check(&lim, err, sizeof err), 0);
    lim.max_pages = 0;
    CHECK_INT(pool_policy_limits_check(&lim, err, sizeof err), -EINVAL);
    CHECK_HAS(err, "max_pages");
    lim = lim_default();
    lim.burst = -1;
    CHECK_INT(pool_policy_limits_check(&lim, err, sizeof err), -EINVAL);
    CHECK_HAS(err, "negative");
    lim = lim_default();
    lim.warm = 5;
    CHECK_INT(pool_policy_limits_check(&lim, err, sizeof err), -EINVAL);
    CHECK_HAS(err, "warm");
    lim = lim_default();
    lim.max_uses = 0;
    CHECK_INT(pool_policy_limits_check(&lim, err, sizeof err), -EINVAL);
    CHECK_HAS(err, "max_uses");
    lim = lim_default();
    lim.pages_per_bctx = 1025;
    CHECK_INT(pool_policy_limits_check(&lim, NULL, 0), -EINVAL);
    lim.pages_per_bctx = 1024;
    CHECK_INT(pool_policy_limits_check(&lim, NULL, 0), 0);
}

TEST(pool_policy_clamps_priorities_and_takes_no_session_as_none) {
    pool_policy_limits_t lim = lim_default();
    fx_init(&lim, 1);
    pool_policy_waiter_t *neg = fx_wait(-5, NULL, 10);
    pool_policy_waiter_t *big = fx_wait(9, "", 10);
    CHECK_INT(neg->priority, 0);
    CHECK_STR(neg->session, "");
    CHECK_NUM(neg->key, 10);
    CHECK_INT(big->priority, 3);
    CHECK_NUM(big->key, 10 + 3 * POOL_POLICY_AGING);
    CHECK_INT(F.pp.nwaiters, 2);
    pool_policy_waiter_remove(&F.pp, neg);
    CHECK_INT(F.pp.nwaiters, 1);
    /* a session name longer than the field is cut, not overrun */
    char longname[200];
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = 0;
    pool_policy_waiter_t *w = fx_wait(2, longname, 0);
    CHECK_INT(strlen(w->session), POOL_POLICY_ID_LEN - 1);
}

TEST(pool_policy_with_nothing_to_do_decides_nothing) {
    pool_policy_limits_t lim = lim_default();
    lim.warm = 0;
    fx_init(&lim, 0);
    pool_policy_page_t *pg = NULL;
    pool_policy_waiter_t *w = NULL;
    CHECK(!pool_policy_next_hand_out(&F.pp, &pg, &w));
    CHECK(pool_policy_least_loaded(&F.pp) == NULL); /* no browser at all */
    pool_policy_plan_t plan;
    pool_policy_plan(&F.pp, &plan);
    CHECK(!pool_policy_next_burst_hand_out(&F.pp, &plan, &pg, &w));
    CHECK_INT(pool_policy_to_open(&F.pp, &plan, 0), 0);
    CHECK_INT(pool_policy_burst_to_open(&F.pp, &plan, 1), 0);
    CHECK(pool_policy_room_victim(&F.pp, &plan) == NULL);
    CHECK_INT(pool_policy_warm_to_open(&F.pp, &plan), 0);
    int total = 0;
    CHECK(pool_policy_next_idle_expired(&F.pp, 1e9, &total) == NULL);
    CHECK_INT(pool_policy_reserved(&F.pp), 0);
    CHECK_INT(pool_policy_used(&F.pp), 0);
}

TEST(pool_policy_records_each_target_of_a_run_once_however_many) {
    pool_policy_limits_t lim = lim_default();
    fx_init(&lim, 1);
    pool_policy_page_t *pg = fx_page(fx_bctx(0, 0, ""), POOL_PAGE_LEASED, 0, 0);
    CHECK_INT(pool_policy_extra_add(pg, NULL), 0);
    CHECK_INT(pool_policy_extra_add(pg, ""), 0);
    CHECK_INT(pool_policy_extra_add(pg, pg->target), 0); /* its own page is no extra */
    CHECK_INT(pg->nextra, 0);
    pool_policy_extra_add(pg, "X");
    pool_policy_extra_add(pg, "X");
    CHECK_INT(pg->nextra, 1);
    char tid[16];
    for (int i = 0; i < 40; i++) { /* once at most 16: the rest stayed open */
        snprintf(tid, sizeof tid, "Y%d", i);
        CHECK_INT(pool_policy_extra_add(pg, tid), 0);
    }
    CHECK_INT(pg->nextra, 41);
    CHECK_STR(pg->extra[40], "Y39");
    pool_policy_extra_drop(&F.pp, &F.b[0], NULL);
    pool_policy_extra_drop(&F.pp, &F.b[0], "nope");
    CHECK_INT(pg->nextra, 41);
    pool_policy_extra_drop(&F.pp, &F.b[0], "X");
    CHECK_INT(pg->nextra, 40);
    CHECK_STR(pg->extra[0], "Y0");
    CHECK_INT(pg->overflow, 0);
    CHECK_INT(pool_policy_release(&F.pp, pg, 0, 0), POOL_RELEASE_KEEP); /* all closed then */
    pool_policy_page_remove(pg);
    CHECK(pg->extra == NULL); /* freed with the page */
}

TEST(pool_policy_past_the_most_targets_disposes_the_page_and_its_browser_context) {
    pool_policy_limits_t lim = lim_default();
    fx_init(&lim, 1);
    pool_policy_bctx_t *x = fx_bctx(0, 0, "");
    pool_policy_page_t *pg = fx_page(x, POOL_PAGE_LEASED, 0, 0);
    pool_policy_page_t *other = fx_page(x, POOL_PAGE_LEASED, 0, 0);
    pool_policy_page_t *idle = fx_page(x, POOL_PAGE_IDLE, 0, 0);
    pg->uses = other->uses = 1;
    char tid[16];
    for (int i = 0; i < POOL_POLICY_MAX_EXTRA; i++) {
        snprintf(tid, sizeof tid, "Z%d", i);
        CHECK_INT(pool_policy_extra_add(pg, tid), 0);
    }
    CHECK_INT(pg->nextra, POOL_POLICY_MAX_EXTRA);
    CHECK_INT(x->retired, 0);
    CHECK_INT(pool_policy_release(&F.pp, pg, 0, 0), POOL_RELEASE_KEEP);
    /* One more cannot be kept track of: the page and its browser context go,
     * which closes it with all the others. */
    CHECK_INT(pool_policy_extra_add(pg, "one-too-many"), -1);
    CHECK_INT(pg->nextra, POOL_POLICY_MAX_EXTRA);
    CHECK_INT(pg->overflow, 1);
    CHECK_INT(x->retired, 1);
    CHECK_INT(pool_policy_release(&F.pp, pg, 0, 0), POOL_RELEASE_DISCARD);
    /* The other pages of that browser context are disposed too: at release,
     * at once when idle, and none is handed out or joins it again. */
    CHECK_INT(pool_policy_release(&F.pp, other, 0, 0), POOL_RELEASE_DISCARD);
    pool_policy_waiter_t *w = fx_wait(2, "", 0);
    CHECK(pool_policy_idle_for(&F.pp, w, 0) == NULL);
    CHECK(pool_policy_joinable(&F.pp, &F.b[0]) == NULL);
    int total = pool_policy_count(&F.pp, -1, 0);
    CHECK(pool_policy_next_idle_expired(&F.pp, 0, &total) == idle);
    pool_policy_page_remove(pg);
}
