/* pool_lease.c — leases: handed to a waiting run, given back (reused,
 * recycled or disposed as pool_policy says), lost with their page or browser,
 * and the CDP calls a run sends on its page, a target it opens being its own. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "pool_int.h"

static void sample_acquire(pool_t *p, double ms) {
    p->samples[p->nsamples++ % SAMPLES] = ms;
    if (p->on_acquire) p->on_acquire(p->on_acquire_ud, ms);
}

void pool_on_acquire(pool_t *p, void (*fn)(void *ud, double ms), void *ud) {
    p->on_acquire = fn;
    p->on_acquire_ud = ud;
}

void pool_lease_fail(pooled_page_t *c, err_kind_t kind, const char *msg) {
    pool_lease_t *l = &c->lease;
    if (c->pol.state != POOL_PAGE_LEASED || l->lost) return;
    assert(l->c == c); /* a lease out is its page's until the release */
    l->lost = 1;
    /* Either notice may end the run, which releases (and frees) the page:
     * pin it like an internal call until both are done. */
    c->inflight++;
    if (c->b->cdp && c->session[0]) cdp_fail_session(c->b->cdp, c->session, kind, msg);
    if (l->hooks.on_lost) l->hooks.on_lost(l->hooks.ud, kind, msg);
    if (--c->inflight == 0 && c->doomed) pool_page_unlink_free(c);
}

/* Tells every live lease on b (all browsers when b is NULL) that it is lost.
 * Each notice may end a run and release (free) its page: rescan each time. */
void pool_leases_fail(pool_t *p, browser_t *b, err_kind_t kind, const char *msg) {
    for (;;) {
        pooled_page_t *c = NULL;
        list_each(it, &p->pol.pages) {
            pooled_page_t *cand = CTX_AT(it);
            if ((!b || cand->b == b) && cand->pol.state == POOL_PAGE_LEASED && !cand->lease.lost) {
                c = cand;
                break;
            }
        }
        if (!c) return;
        pool_lease_fail(c, kind, msg);
    }
}

void pool_hand_over(pooled_page_t *c) {
    pool_t *p = c->p;
    pool_waiter_t *w = c->pol.waiter ? WAITER_OF(c->pol.waiter) : NULL;
    pool_policy_unpair(&c->pol);
    if (!w) { /* its run went away while the page was being prepared */
        pool_downloads_end(c);
        page_set(c, POOL_PAGE_IDLE);
        c->pol.idle_since = now_of(p);
        pool_kick(p);
        return;
    }
    page_set(c, POOL_PAGE_LEASED);
    assert(c->pol.bctx);
    c->pol.uses++;
    c->pol.bctx->leases++;
    c->lease = (pool_lease_t){.c = c};
    p->leases_total++;
    if (c->pol.uses > 1) p->reused_total++;
    sample_acquire(p, (now_of(p) - w->pol.since) * 1000);
    pool_waiter_fire(w, &c->lease, ERR_NONE, NULL);
}

void pool_release(pool_t *p, pool_lease_t *l, int discard) {
    pooled_page_t *c = l->c;
    if (!c || c->pol.state != POOL_PAGE_LEASED) return;
    assert(l == &c->lease);
    l->c = NULL;
    l->hooks = (pool_lease_hooks_t){0};
    if (c->b->chrome) chrome_unstage(c->b->chrome, c->pol.no); /* its uploads' copies */
    if (l->timed_out && !discard && !l->lost)
        log_info("page #%d discarded: a call of its lease timed out", c->pol.no);
    pool_downloads_end(c); /* before the page leaves its browser context */
    switch (pool_policy_release(&p->pol, &c->pol, discard || l->timed_out, l->lost)) {
    case POOL_RELEASE_FREE:
        pool_page_free(c);
        break;
    case POOL_RELEASE_CLOSE:
        pool_page_discard(c, 0);
        break; /* its page crashed: close what is left */
    case POOL_RELEASE_DISCARD:
        pool_clean(c, DISPOSE_DISCARD);
        break;
    case POOL_RELEASE_RECYCLE:
        log_debug("page #%d recycled after %d uses", c->pol.no, c->pol.uses);
        pool_clean(c, DISPOSE_RECYCLE);
        break;
    case POOL_RELEASE_KEEP:
        pool_clean(c, DISPOSE_NO);
        break;
    }
    pool_kick(p);
}

int pool_lease_stage_file(pool_lease_t *l, const char *path, char *out, size_t len, char *why,
                          size_t whylen) {
    pooled_page_t *c = l->c;
    if (!c || l->lost || !c->b->cdp) {
        snprintf(why, whylen, "the page or its browser is gone");
        return -EPIPE;
    }
    if (!c->b->chrome) { /* at browser.endpoints: it reads the path it is given */
        snprintf(out, len, "%s", path);
        return 0;
    }
    return chrome_stage(c->b->chrome, c->pol.no, path, out, len, why, whylen);
}

/* A Target.createTarget a run sends: the target it opens has no opener to
 * tell whose it is, so its answer says it. */
struct opening {
    pooled_page_t *c;
    int uses;        /* the lease it was sent in */
    uint64_t id;     /* the call, for pool_lease_forget */
    cdp_reply_cb cb; /* NULL once the run no longer waits for it */
    void *ud;
};

static void on_opened(void *ud, const cJSON *result, const cdp_error_t *err) {
    opening_t *o = ud;
    pooled_page_t *c = o->c;
    const char *tid = err ? NULL : str_field(result, "targetId");
    c->opening = NULL;
    if (tid && !c->doomed) {
        if (c->pol.state == POOL_PAGE_LEASED && c->pol.uses == o->uses && !c->lease.lost)
            pool_track_target(c, tid);
        else /* its lease is over */
            pool_close_target(c, tid, pool_ignore_step);
    }
    /* The reply may end the run, which releases c: it stays pinned till after. */
    if (o->cb) o->cb(o->ud, result, err);
    free(o);
    if (--c->inflight == 0 && c->doomed) pool_page_unlink_free(c);
}

int pool_lease_send(pool_lease_t *l, const char *method, cJSON *params, double timeout,
                    cdp_reply_cb cb, void *ud, uint64_t *id) {
    pooled_page_t *c = l->c;
    if (!c || l->lost || !c->b->cdp || !page_live(c)) {
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
    pooled_page_t *c = l->c;
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

int pool_lease_page_no(const pool_lease_t *l) { return l->c ? l->c->pol.no : 0; }

const char *pool_lease_browser_context(const pool_lease_t *l) {
    return l->c && l->c->pol.bctx ? page_bctx(l->c)->id : "";
}

int pool_lease_uses(const pool_lease_t *l) { return l->c ? l->c->pol.uses : 0; }

const char *pool_lease_download_dir(const pool_lease_t *l) {
    bctx_t *x = l->c && l->c->downloads ? page_bctx(l->c) : NULL;
    return x ? x->download_dir : "";
}

void pool_lease_cancel_download(pool_lease_t *l, const char *guid) {
    if (l->c && !l->lost) pool_cancel_download(l->c, guid);
}

int pool_lease_lost(const pool_lease_t *l) { return l->lost || !l->c; }
