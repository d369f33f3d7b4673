/* pool.h — the browser context pool: browsers (launched over the pipe or
 * attached over WebSocket), pooled pages — one reused page each, in a
 * browser context (Target.createBrowserContext) that the pages of runs without
 * a cookie session share and a session's page has to itself — leases handed to
 * waiting runs by priority, reservations, burst, warm minimum, idle disposal,
 * recycling, named cookie sessions, and recovery when a browser dies. */
#ifndef BATON_POOL_H
#define BATON_POOL_H

#include <cjson/cJSON.h>
#include <stdint.h>
#include <uv.h>

#include "cdp.h"
#include "conf/conf.h"
#include "script/err.h"
#include "store/store.h"
#include "base/vclock.h"

typedef struct pool pool_t;
typedef struct pool_lease pool_lease_t;
typedef struct pool_waiter pool_waiter_t;

/* What health and metrics show. A page is a pooled page (the
 * unit of a lease); browser_contexts counts the browser contexts they are in. */
typedef struct pool_figures {
    int browsers, browsers_ready;
    int pages, busy, idle, reserved; /* reserved: pages only critical/high may take now */
    int browser_contexts;
    int waiters;
    int64_t created_total, reused_total, recycled_total, crashes_total, leases_total;
    int64_t acquire_timeouts_total;
    int64_t hangs_total;   /* browsers killed (and relaunched) for missing a heartbeat */
    int launched;          /* the pool launches its browsers (no browser.endpoints) and has
                              started: then user and sandbox say how they run */
    char user[64];         /* the user browsers run as */
    int sandbox;           /* Chromium's own sandbox is on */
    char sandbox_off[300]; /* why not, when it is off */
    double acquire_p50_ms, acquire_p95_ms;
    /* Why the browsers are in trouble, for health: the reason of the first one
     * not ready, else the last hang of the last POOL_HUNG_RECENT seconds; "". */
    char trouble[300];
} pool_figures_t;

#define POOL_HUNG_RECENT 600.0

/* Creates a pool from conf.browser; nothing is launched until pool_start.
 * store (may be NULL) keeps named sessions' cookies. Returns 0 or -ENOMEM. */
int pool_new(pool_t **out, uv_loop_t *loop, vclock_t *clock, store_t *store, const conf_t *conf);

/* Launches the browsers (or connects to the endpoints) and opens the warm
 * pages. Failures are logged and retried with backoff. */
void pool_start(pool_t *p);

/* Fires once: with a lease (kind ERR_NONE), or with ERR_POOL_TIMEOUT /
 * ERR_CANCELLED and a message. Never fires from inside pool_acquire. */
typedef void (*pool_acquire_cb)(void *ud, pool_lease_t *lease, err_kind_t kind,
                                const char *message);

/* Queues a request for a page. priority: 0 critical … 3 low; session: ""
 * or NULL for none, else the cookie session to restore; downloads: the
 * lease's browser context saves downloads into pool_lease_download_dir
 * (a launched browser's only) until the release denies them again; who: for
 * log lines. Returns the waiter (for pool_acquire_cancel) or NULL when out of
 * memory. */
pool_waiter_t *pool_acquire(pool_t *p, int priority, const char *session, int downloads,
                            const char *who, pool_acquire_cb cb, void *ud);

/* Withdraws a waiter whose callback has not fired; it never will. */
void pool_acquire_cancel(pool_t *p, pool_waiter_t *w);

/* Gives a lease back. discard: the page is disposed rather than reused
 * (the run timed out, or its page crashed): its page and the targets it opened
 * are closed, and its browser context too when no other page is in it. A
 * lease one of whose calls timed out is disposed so too, discard or not (its
 * page may be stuck in an endless script the run caught the error of). The
 * lease is invalid afterwards. */
void pool_release(pool_t *p, pool_lease_t *l, int discard);

/* Sends a CDP command on the lease's page session (see cdp_send). Fails with
 * -EPIPE when the browser is gone or the page crashed. A target opened with
 * Target.createTarget is the lease's: it is closed at the release. */
int pool_lease_send(pool_lease_t *l, const char *method, cJSON *params, double timeout,
                    cdp_reply_cb cb, void *ud, uint64_t *id);
void pool_lease_forget(pool_lease_t *l, uint64_t id);

/* The path the lease's browser reads the file at path by (for
 * DOM.setFileInputFiles): a copy in its profile when it runs as another
 * user (chrome_stage), removed at the release; else path. Returns 0, or a
 * negative errno with a reason in why. */
int pool_lease_stage_file(pool_lease_t *l, const char *path, char *out, size_t len, char *why,
                          size_t whylen);

/* Where the lease's page events go, and who hears that the page or browser
 * is lost (its pending calls have already failed then). */
typedef struct pool_lease_hooks {
    void (*on_event)(void *ud, const char *method, const cJSON *params);
    void (*on_lost)(void *ud, err_kind_t kind, const char *message);
    void *ud;
} pool_lease_hooks_t;
void pool_lease_set_hooks(pool_lease_t *l, const pool_lease_hooks_t *hooks);

/* The pooled page's number (as in "pooled page #2": one per page, so
 * per concurrent lease) and its lease count. */
int pool_lease_page_no(const pool_lease_t *l);
/* The CDP browserContextId of the lease's page (shared by concurrent leases
 * without a session); "" once the lease is over. Valid until the release. */
const char *pool_lease_browser_context(const pool_lease_t *l);
int pool_lease_uses(const pool_lease_t *l);
/* Where the browser saves the lease's downloads (files named by guid, inside
 * its profile directory), "" when it saves none. Valid until the release,
 * which deletes what is left there. */
const char *pool_lease_download_dir(const pool_lease_t *l);
/* Browser.cancelDownload of guid in the lease's browser context; no answer. */
void pool_lease_cancel_download(pool_lease_t *l, const char *guid);
/* 1 once the page or its browser is lost. */
int pool_lease_lost(const pool_lease_t *l);

void pool_figures(const pool_t *p, pool_figures_t *f);

/* CDP calls in flight on every browser: a lease's, and the pool's own
 * (creating, preparing and cleaning pages, heartbeats). The test kit's real
 * browser lets real time pass while there are any, so no call's virtual
 * timeout fires while Chromium is still answering it. */
size_t pool_pending(const pool_t *p);

/* Calls fn with the wait in milliseconds of every lease handed out (for the
 * acquire-time histogram of the metrics). */
void pool_on_acquire(pool_t *p, void (*fn)(void *ud, double ms), void *ud);

/* Closes every browser and page; waiters fail with ERR_CANCELLED. Leases
 * still out fail their calls; pool_release on them stays valid until
 * pool_free. The loop must run afterwards so processes and handles close. */
void pool_shutdown(pool_t *p);

/* Frees the pool (after pool_shutdown). */
void pool_free(pool_t *p);

#endif
