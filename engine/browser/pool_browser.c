/* pool_browser.c — the browsers' lifecycle: launched over the pipe or
 * attached over WebSocket, ready, watched by a heartbeat (a hung browser is
 * killed), dead (its leases fail with browser_crashed) and relaunched with a
 * backoff of 1 s doubling to 30 s. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/log.h"
#include "pool_int.h"

static void browser_down(browser_t *b, const char *why);

const char *pool_browser_trouble(pool_t *p) {
    for (int i = 0; i < p->nbrowsers; i++)
        if (p->browsers[i].pol.state != POOL_BROWSER_READY && p->browsers[i].last_error[0])
            return p->browsers[i].last_error;
    return NULL;
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

/* The first page of b (any browser when NULL) to free when it goes down
 * (closing ones too, unless on_b) or the pool shuts down: not leased. */
pooled_page_t *pool_first_page(pool_t *p, browser_t *b, int on_b) {
    list_each(it, &p->pol.pages) {
        pooled_page_t *c = CTX_AT(it);
        if (c->pol.state == POOL_PAGE_LEASED) continue;
        if (on_b && (c->b != b || c->pol.state == POOL_PAGE_CLOSING)) continue;
        return c;
    }
    return NULL;
}

/* b's browser contexts died with it: none takes a page again, none is
 * disposed (their ids mean nothing to the next browser). */
void pool_bctx_forget(pool_t *p, browser_t *b) {
    list_each(it, &p->pol.bctxs) {
        bctx_t *x = BCTX_AT(it);
        if (x->b == b) {
            bctx_set(x, POOL_BCTX_CLOSING);
            x->id[0] = 0;
        }
    }
}

static void on_relaunch(vtimer_t *t) { pool_browser_launch(t->data); }

/* ---- heartbeat: Browser.getVersion every browser.heartbeat seconds ---- */

static void beat_later(browser_t *b);

static void on_beat_answer(void *ud, const cJSON *res, const cdp_error_t *err) {
    browser_t *b = ud;
    pool_t *p = b->p;
    (void)res;
    if (b->pol.state != POOL_BROWSER_READY) return; /* gone meanwhile */
    if (err && err->kind == ERR_TIMEOUT) {
        char msg[300];
        snprintf(msg, sizeof msg,
                 "hung: no answer to a heartbeat (Browser.getVersion) within %gs; killed",
                 p->conf->browser.heartbeat);
        p->hangs_total++;
        p->hung_at = now_of(p);
        snprintf(p->hung, sizeof p->hung, "browser %d was %s and relaunched", b->index, msg);
        browser_down(b, msg);
        return;
    }
    beat_later(b); /* an error answered is an answer; a lost connection is on_cdp_close's */
}

static void on_beat(vtimer_t *t) {
    browser_t *b = t->data;
    if (b->pol.state != POOL_BROWSER_READY || !b->cdp) return;
    double hb = b->p->conf->browser.heartbeat;
    if (cdp_send(b->cdp, NULL, "Browser.getVersion", NULL, hb, on_beat_answer, b, NULL) < 0)
        beat_later(b);
}

static void beat_later(browser_t *b) {
    pool_t *p = b->p;
    double hb = p->conf->browser.heartbeat;
    vtimer_stop(p->clock, &b->beat);
    if (hb > 0 && !p->shut) vtimer_start(p->clock, &b->beat, now_of(p) + hb, on_beat);
}

static void browser_down(browser_t *b, const char *why) {
    pool_t *p = b->p;
    if (b->pol.state == POOL_BROWSER_DEAD || b->pol.state == POOL_BROWSER_CLOSED) return;
    int was_ready = b->pol.state == POOL_BROWSER_READY;
    browser_set(b, POOL_BROWSER_DEAD);
    vtimer_stop(p->clock, &b->beat);
    b->pol.gen++;
    snprintf(b->last_error, sizeof b->last_error, "browser %d: %s", b->index, why);
    if (was_ready) p->crashes_total++;
    log_error("browser %d: %s%s", b->index, why,
              was_ready ? "; its runs fail with browser_crashed" : "");
    /* Leases first, so their runs hear it as a crash (with the reason), then
     * every other call still out. */
    pool_leases_fail(p, b, ERR_BROWSER_CRASHED, why);
    pool_bctx_forget(p, b);
    cdp_t *cdp = b->cdp;
    b->cdp = NULL;
    if (cdp) cdp_close(cdp); /* fails every call still out, on any session */
    /* Each ctx_free may free others (and change the list): rescan each time. */
    for (pooled_page_t *c; (c = pool_first_page(p, b, 1));) pool_page_free(c);
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
    pool_kick(p);
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
    beat_later(b);
    pool_kick(p);
}

void pool_browser_launch(browser_t *b) {
    pool_t *p = b->p;
    cdp_hooks_t hooks = {pool_on_cdp_event, on_cdp_close, b, pool_on_cdp_timeout};
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
                           .index = b->index,
                           .as_user = p->plan.as_user,
                           .uid = p->plan.uid,
                           .gid = p->plan.gid,
                           .sandbox = p->plan.sandbox};
        rc = p->plan.error[0] ? -EPERM : cdp_pipe_new(&b->cdp, p->loop, p->clock, &hooks, stdio);
        if (rc == -EPERM) {
            snprintf(err, sizeof err, "%s", p->plan.error);
        } else if (rc == 0) {
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
