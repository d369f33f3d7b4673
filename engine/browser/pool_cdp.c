/* pool_cdp.c — the pool's CDP steps: browser contexts made and disposed,
 * pages opened, attached, prepared for a waiter (cookie jar), cleaned between
 * leases and closed, and the browser's target events routed to them. A
 * page or browser context is never freed while one of its calls is out. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/fs.h"
#include "base/log.h"
#include "pool_int.h"

static void bctx_close(bctx_t *x);
static void created_step(pooled_page_t *c, const cJSON *res, const cdp_error_t *err);
static void target_create(pooled_page_t *c);
static void prep_done(pooled_page_t *c, const cJSON *res, const cdp_error_t *err);

/* ---- internal steps: a page is never freed while one is out ---- */

typedef struct step {
    pooled_page_t *c;
    step_fn fn;
} step_t;

void pool_page_unlink_free(pooled_page_t *c) {
    pool_policy_page_remove(&c->pol);
    free(c);
}

static void on_step(void *ud, const cJSON *result, const cdp_error_t *err) {
    step_t *st = ud;
    pooled_page_t *c = st->c;
    step_fn fn = st->fn;
    free(st);
    c->inflight--;
    if (c->doomed) {
        if (c->inflight == 0) pool_page_unlink_free(c);
        return;
    }
    fn(c, result, err);
}

/* Sends on the browser session (page = 0) or the page's own session. */
static int step(pooled_page_t *c, int page, const char *method, cJSON *params, step_fn fn) {
    browser_t *b = c->b;
    step_t *st = malloc(sizeof *st);
    if (!st || !b->cdp || !page_live(c)) {
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
int pool_close_target(pooled_page_t *c, const char *target, step_fn fn) {
    cJSON *params = cJSON_CreateObject();
    cJSON_AddStringToObject(params, "targetId", target);
    return step(c, 0, "Target.closeTarget", params, fn);
}

void pool_track_target(pooled_page_t *c, const char *tid) {
    int was = c->pol.overflow;
    if (pool_policy_extra_add(&c->pol, tid) < 0 && !was)
        log_warn("browser %d: page #%d: its runs opened more than %d targets; it and its "
                 "browser context are disposed of at its release",
                 c->b->index, c->pol.no, POOL_POLICY_MAX_EXTRA);
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
static void bctx_leave(pooled_page_t *c) {
    bctx_t *x = page_bctx(c);
    if (!x) return;
    if (pool_policy_bctx_leave(&c->pol))
        bctx_close(x);
    else
        bctx_maybe_free(x);
}

/* The answer to Browser.setDownloadBehavior. */
static void bctx_downloads_denied(bctx_t *x, const cJSON *res, const cdp_error_t *err) {
    (void)res;
    if (err && err->kind != ERR_NONE)
        log_warn("browser %d: browser context %d: downloads could not be denied: %s", x->b->index,
                 x->no, err->message);
    bctx_maybe_free(x);
}

/* The answer to the deny after a lease that allowed downloads. A browser
 * context that may still download serves no other lease: it is retired
 * (each page is disposed at its release or when idle, the context with the
 * last). */
static void bctx_downloads_denied_again(bctx_t *x, const cJSON *res, const cdp_error_t *err) {
    (void)res;
    if (err) {
        log_warn("browser %d: browser context %d: downloads could not be denied: %s; retiring it",
                 x->b->index, x->no, err->message);
        x->pol.retired = 1;
    }
    bctx_maybe_free(x);
}

static void bctx_ignore(bctx_t *x, const cJSON *res, const cdp_error_t *err) {
    (void)res;
    (void)err;
    bctx_maybe_free(x);
}

/* ---- downloads: allowed for a lease, denied again after it ---- */

/* Makes x's download folder inside the profile directory, owned by the
 * profile's owner (the user the browser runs as). 0 or -errno. */
static int downloads_dir(bctx_t *x) {
    browser_t *b = x->b;
    const char *profile = b->chrome ? chrome_dir(b->chrome) : NULL;
    struct stat st;
    if (!profile || stat(profile, &st) != 0) return -ENOENT;
    snprintf(x->download_dir, sizeof x->download_dir, "%s/baton-downloads-%d-%u", profile, x->no,
             ++x->p->download_dirs);
    if (mkdir(x->download_dir, 0700) != 0) {
        int rc = -errno;
        x->download_dir[0] = 0;
        return rc;
    }
    if (st.st_uid != geteuid() && chown(x->download_dir, st.st_uid, st.st_gid) != 0) {
        int rc = -errno;
        rmdir(x->download_dir);
        x->download_dir[0] = 0;
        return rc;
    }
    return 0;
}

/* The lease being prepared on c allows downloads: the first such lease of
 * its browser context allows them there, into a fresh folder, with events
 * (its page hears Page.downloadWillBegin and Page.downloadProgress). A
 * browser not launched here (browser.endpoints) saves none: its folder is
 * another machine's. */
static void downloads_begin(pooled_page_t *c) {
    bctx_t *x = page_bctx(c);
    if (!c->b->chrome || !x || !x->id[0]) return;
    if (x->downloads == 0) {
        int rc = downloads_dir(x);
        if (rc < 0) {
            log_warn("browser %d: browser context %d: no download folder: %s", c->b->index, x->no,
                     strerror(-rc));
            return;
        }
        cJSON *params = cJSON_CreateObject();
        cJSON_AddStringToObject(params, "behavior", "allowAndName");
        cJSON_AddStringToObject(params, "browserContextId", x->id);
        cJSON_AddStringToObject(params, "downloadPath", x->download_dir);
        cJSON_AddBoolToObject(params, "eventsEnabled", 1);
        c->pending_steps++;
        if (step(c, 0, "Browser.setDownloadBehavior", params, prep_done) < 0) {
            c->pending_steps--;
            c->step_failed = 1;
        }
    }
    x->downloads++;
    c->downloads = 1;
}

void pool_downloads_end(pooled_page_t *c) {
    bctx_t *x = page_bctx(c);
    if (!c->downloads) return;
    c->downloads = 0;
    if (!x || --x->downloads > 0) return;
    fs_remove_tree(x->download_dir);
    x->download_dir[0] = 0;
    if (!x->id[0] || x->pol.state == POOL_BCTX_CLOSING) return; /* disposed: nothing to deny */
    cJSON *deny = cJSON_CreateObject();
    cJSON_AddStringToObject(deny, "behavior", "deny");
    cJSON_AddStringToObject(deny, "browserContextId", x->id);
    if (xstep(x, "Browser.setDownloadBehavior", deny, bctx_downloads_denied_again) < 0)
        x->pol.retired = 1;
}

void pool_cancel_download(pooled_page_t *c, const char *guid) {
    bctx_t *x = page_bctx(c);
    if (!x || !x->id[0] || !guid || !guid[0]) return;
    cJSON *params = cJSON_CreateObject();
    cJSON_AddStringToObject(params, "guid", guid);
    cJSON_AddStringToObject(params, "browserContextId", x->id);
    xstep(x, "Browser.cancelDownload", params, bctx_ignore);
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
    if (id) { /* said before its first page opens, whatever the browser's default */
        cJSON *deny = cJSON_CreateObject();
        cJSON_AddStringToObject(deny, "behavior", "deny");
        cJSON_AddStringToObject(deny, "browserContextId", id);
        xstep(x, "Browser.setDownloadBehavior", deny, bctx_downloads_denied);
    }
    /* Each step may free pages (and, but for the pin, x): rescan each time. */
    x->inflight++;
    for (;;) {
        pooled_page_t *c = NULL;
        list_each(it, &p->pol.pages) {
            pooled_page_t *cand = CTX_AT(it);
            if (page_bctx(cand) == x && cand->pol.state == POOL_PAGE_CREATING && !cand->asked) {
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
    /* A remote browser drops our pages when our connection goes. */
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
void pool_page_free(pooled_page_t *c) {
    pool_policy_unpair(&c->pol); /* preparation abandoned: the waiter waits again */
    pool_downloads_end(c);
    bctx_leave(c);
    page_set(c, POOL_PAGE_CLOSING);
    if (c->inflight > 0) {
        c->doomed = 1;
        return;
    }
    pool_page_unlink_free(c);
}

/* ---- preparing a page for a waiter, cleaning it after a lease ---- */

static void prep_done(pooled_page_t *c, const cJSON *res, const cdp_error_t *err) {
    pool_t *p = c->p; /* c may be freed below */
    (void)res;
    if (err) c->step_failed = 1;
    if (--c->pending_steps > 0) return;
    if (c->step_failed) {
        log_warn("browser %d: page #%d could not be prepared; discarding it", c->b->index,
                 c->pol.no);
        pool_page_discard(c, 0);
        pool_kick(p);
        return;
    }
    pool_hand_over(c);
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

/* Makes the page's browser context hold the waiter's cookie session, then
 * hands the page over. A jar changes hands only when c is the one page of
 * its browser context (idle_for sees to it). */
void pool_prepare(pooled_page_t *c, pool_waiter_t *w) {
    pool_t *p = c->p;
    bctx_t *x = page_bctx(c);
    page_set(c, POOL_PAGE_PREPARING);
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
    if (w->downloads) downloads_begin(c);
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

static void clean_done(pooled_page_t *c, const cJSON *res, const cdp_error_t *err) {
    pool_t *p = c->p; /* c may be freed below */
    (void)res;
    if (err) c->step_failed = 1;
    if (--c->pending_steps > 0) return;
    if (c->step_failed || c->dispose != DISPOSE_NO) {
        pool_page_discard(c, c->dispose == DISPOSE_RECYCLE);
    } else {
        page_set(c, POOL_PAGE_IDLE);
        c->pol.idle_since = now_of(p);
    }
    pool_kick(p);
}

/* A pop-up that is already gone (it closed itself) is no failure. */
static void popup_closed(pooled_page_t *c, const cJSON *res, const cdp_error_t *err) {
    clean_done(c, res, err && err->kind == ERR_NONE ? NULL : err);
}

static void cookies_saved(pooled_page_t *c, const cJSON *res, const cdp_error_t *err) {
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
 * then the page is idle again, or disposed as `dispose` says (disposing
 * closes them too). */
void pool_clean(pooled_page_t *c, int dispose) {
    page_set(c, POOL_PAGE_CLEANING);
    c->dispose = dispose;
    c->pending_steps = 1;
    c->step_failed = 0;
    if (c->pol.bctx->cookie_session[0]) {
        cJSON *params = cJSON_CreateObject();
        cJSON_AddStringToObject(params, "browserContextId", page_bctx(c)->id);
        c->pending_steps++;
        if (step(c, 0, "Storage.getCookies", params, cookies_saved) < 0) {
            c->pending_steps--;
            c->step_failed = 1;
        }
    }
    if (dispose == DISPOSE_NO) {
        for (int i = 0; i < c->pol.nextra; i++) {
            c->pending_steps++;
            if (pool_close_target(c, c->pol.extra[i], popup_closed) < 0) c->pending_steps--;
        }
        c->pol.nextra = 0;
    }
    clean_done(c, NULL, NULL);
}

void pool_ignore_step(pooled_page_t *c, const cJSON *res, const cdp_error_t *err) {
    (void)c;
    (void)res;
    (void)err;
}

/* ---- opening and closing pages ---- */

static void page_closed(pooled_page_t *c, const cJSON *res, const cdp_error_t *err) {
    (void)res;
    (void)err;
    pool_page_free(c);
}

/* Closes c for good. Alone in its browser context, c goes with it (disposing
 * closes the page and its pop-ups); else its page and pop-ups are closed and
 * the browser context keeps serving the others. */
void pool_page_discard(pooled_page_t *c, int recycled) {
    pool_t *p = c->p;
    if (recycled) p->recycled_total++;
    pool_policy_unpair(&c->pol);
    pool_downloads_end(c);
    page_set(c, POOL_PAGE_CLOSING);
    if (!c->pol.bctx || c->pol.bctx->npages <= 1 || !c->pol.target[0] || !page_live(c)) {
        pool_page_free(c);
        return;
    }
    bctx_leave(c);
    for (int i = 0; i < c->pol.nextra; i++) pool_close_target(c, c->pol.extra[i], pool_ignore_step);
    c->pol.nextra = 0;
    if (pool_close_target(c, c->pol.target, page_closed) < 0) pool_page_free(c);
}

static void created_step(pooled_page_t *c, const cJSON *res, const cdp_error_t *err) {
    pool_t *p = c->p; /* c may be freed below */
    (void)res;
    if (err) {
        c->step_failed = 1;
        snprintf(c->b->last_error, sizeof c->b->last_error, "browser %d: %s", c->b->index,
                 err->message);
    }
    if (--c->pending_steps > 0) return;
    if (c->step_failed) {
        log_warn("browser %d: could not open page #%d", c->b->index, c->pol.no);
        pool_page_discard(c, 0);
        pool_kick(p);
        return;
    }
    p->created_total++;
    page_set(c, POOL_PAGE_IDLE);
    c->pol.idle_since = now_of(p);
    bctx_t *x = page_bctx(c);
    log_debug("browser %d: page #%d ready (browser context %d, %d page%s)%s", c->b->index,
              c->pol.no, x->no, x->pol.npages, x->pol.npages == 1 ? "" : "s",
              c->pol.burst ? " (burst)" : "");
    pool_kick(p);
}

static void attached(pooled_page_t *c, const cJSON *res, const cdp_error_t *err) {
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

static void target_made(pooled_page_t *c, const cJSON *res, const cdp_error_t *err) {
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
static void target_create(pooled_page_t *c) {
    cJSON *params = cJSON_CreateObject();
    cJSON_AddStringToObject(params, "url", "about:blank");
    cJSON_AddStringToObject(params, "browserContextId", page_bctx(c)->id);
    if (step(c, 0, "Target.createTarget", params, target_made) < 0) {
        c->pending_steps = 1;
        created_step(c, NULL, &(cdp_error_t){ERR_BROWSER_CRASHED, 0, "browser gone"});
    }
}

/* Opens a page: own = 1 puts it in a browser context of its own (for a
 * session's run), else it joins a shared one while there is room. New
 * pages go to the ready browser with the fewest. */
int pool_ctx_create(pool_t *p, int burst, int own) {
    pool_policy_browser_t *pb = pool_policy_least_loaded(&p->pol);
    if (!pb) return -EAGAIN;
    browser_t *b = list_entry(pb, browser_t, pol);
    pooled_page_t *c = calloc(1, sizeof *c);
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

/* ---- the browser's events ---- */

static pooled_page_t *ctx_by_session(pool_t *p, browser_t *b, const char *session) {
    list_each(it, &p->pol.pages) {
        pooled_page_t *c = CTX_AT(it);
        if (c->b == b && c->session[0] && strcmp(c->session, session) == 0) return c;
    }
    return NULL;
}

static pooled_page_t *ctx_by_target(pool_t *p, browser_t *b, const char *target) {
    if (!target) return NULL;
    list_each(it, &p->pol.pages) {
        pooled_page_t *c = CTX_AT(it);
        if (c->b == b && c->pol.target[0] && strcmp(c->pol.target, target) == 0) return c;
    }
    return NULL;
}

static void page_crashed(browser_t *b, pooled_page_t *c) {
    b->p->crashes_total++;
    log_warn("browser %d: the page of page #%d crashed", b->index, c->pol.no);
    if (c->pol.state == POOL_PAGE_LEASED)
        pool_lease_fail(c, ERR_BROWSER_CRASHED, "the page crashed");
    else if (c->pol.state == POOL_PAGE_IDLE)
        pool_page_discard(c, 0);
}

static void on_target_event(browser_t *b, const char *method, const cJSON *params) {
    pool_t *p = b->p;
    const cJSON *info = cJSON_GetObjectItemCaseSensitive(params, "targetInfo");
    if (strcmp(method, "Target.targetCreated") == 0 && info) {
        const char *tid = str_field(info, "targetId");
        bctx_t *x = bctx_by_id(p, b, str_field(info, "browserContextId"));
        /* Whose is it: the page whose page (or pop-up) opened it, else the
         * one page of a browser context it does not share. In a shared one
         * a target without an opener is nobody's (unless a run asked for it:
         * pool_lease_send sees to those). */
        pool_policy_page_t *pg =
            x && tid ? pool_policy_popup_owner(&p->pol, &x->pol, str_field(info, "openerId"))
                     : NULL;
        if (pg) pool_track_target(PAGE_OF(pg), tid);
    } else if (strcmp(method, "Target.targetDestroyed") == 0) {
        pool_policy_extra_drop(&p->pol, &b->pol, str_field(params, "targetId"));
    } else if (strcmp(method, "Target.targetCrashed") == 0) {
        pooled_page_t *c = ctx_by_target(p, b, str_field(params, "targetId"));
        if (c) page_crashed(b, c);
    }
}

void pool_on_cdp_timeout(void *ud, const char *session) {
    browser_t *b = ud;
    pooled_page_t *c = session ? ctx_by_session(b->p, b, session) : NULL;
    if (c && c->pol.state == POOL_PAGE_LEASED) c->lease.timed_out = 1;
}

void pool_on_cdp_event(void *ud, const char *session, const char *method, const cJSON *params) {
    browser_t *b = ud;
    if (!session) {
        on_target_event(b, method, params);
        return;
    }
    pooled_page_t *c = ctx_by_session(b->p, b, session);
    if (!c) return;
    if (strcmp(method, "Inspector.targetCrashed") == 0) {
        page_crashed(b, c);
        return;
    }
    if (c->pol.state == POOL_PAGE_LEASED && c->lease.hooks.on_event)
        c->lease.hooks.on_event(c->lease.hooks.ud, method, params);
}
