/* pool_backend.c — see pool_backend.h. A thin adapter: every operation is
 * one public function of pool.h; the table's leases are the pool's own,
 * its waiters the pool's with the page's callback beside. */
#include "pool_backend.h"

#include <stdlib.h>

/* A wait: the pool's waiter and whom to tell. Freed when it fires or is
 * withdrawn. */
typedef struct pb_wait {
    pool_waiter_t *waiter;
    browser_acquire_cb cb;
    void *ud;
} pb_wait_t;

static void pb_acquired(void *ud, pool_lease_t *lease, err_kind_t kind, const char *message) {
    pb_wait_t w = *(pb_wait_t *)ud;
    free(ud);
    w.cb(w.ud, (browser_lease_t *)lease, kind, message);
}

static browser_waiter_t *pb_acquire(void *self, const browser_ask_t *ask, browser_acquire_cb cb,
                                    void *ud) {
    pb_wait_t *w = malloc(sizeof *w);
    if (!w) return NULL;
    w->cb = cb;
    w->ud = ud;
    w->waiter =
        pool_acquire(self, ask->priority, ask->session, ask->downloads, ask->job, pb_acquired, w);
    if (!w->waiter) {
        free(w);
        return NULL;
    }
    return (browser_waiter_t *)w;
}

static void pb_cancel(void *self, browser_waiter_t *bw) {
    pb_wait_t *w = (pb_wait_t *)bw;
    pool_acquire_cancel(self, w->waiter);
    free(w);
}

static void pb_release(void *self, browser_lease_t *l, int discard) {
    pool_release(self, (pool_lease_t *)l, discard);
}

static int pb_send(void *self, browser_lease_t *l, const char *method, cJSON *params,
                   double timeout, cdp_reply_cb cb, void *ud, uint64_t *id,
                   browser_refusal_t *why) {
    (void)self;
    (void)why;
    return pool_lease_send((pool_lease_t *)l, method, params, timeout, cb, ud, id);
}

static void pb_forget(void *self, browser_lease_t *l, uint64_t id) {
    (void)self;
    pool_lease_forget((pool_lease_t *)l, id);
}

static void pb_set_hooks(void *self, browser_lease_t *l, const browser_hooks_t *hooks) {
    (void)self;
    pool_lease_hooks_t h = {hooks->on_event, hooks->on_lost, hooks->ud};
    pool_lease_set_hooks((pool_lease_t *)l, &h);
}

static void pb_describe(void *self, const browser_lease_t *l, browser_lease_info_t *out) {
    const pool_lease_t *pl = (const pool_lease_t *)l;
    (void)self;
    out->page_no = pool_lease_page_no(pl);
    out->browser_context = pool_lease_browser_context(pl);
    out->uses = pool_lease_uses(pl);
    out->download_dir = pool_lease_download_dir(pl);
}

static void pb_cancel_download(void *self, browser_lease_t *l, const char *guid) {
    (void)self;
    pool_lease_cancel_download((pool_lease_t *)l, guid);
}

static int pb_stage_file(void *self, browser_lease_t *l, const char *path, char *out, size_t len,
                         char *why, size_t whylen) {
    (void)self;
    return pool_lease_stage_file((pool_lease_t *)l, path, out, len, why, whylen);
}

static const browser_backend_ops_t POOL_OPS = {
    .acquire = pb_acquire,
    .cancel = pb_cancel,
    .release = pb_release,
    .send = pb_send,
    .forget = pb_forget,
    .set_hooks = pb_set_hooks,
    .describe = pb_describe,
    .cancel_download = pb_cancel_download,
    .stage_file = pb_stage_file,
};

void pool_backend(pool_t *p, browser_backend_t *out) {
    out->ops = &POOL_OPS;
    out->self = p;
}
