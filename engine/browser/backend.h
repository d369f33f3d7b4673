/* backend.h — the browser as page.c sees it: an operations table (lease a
 * page, withdraw a wait, give the page back, send CDP on it, hear its events)
 * and the object behind it. The pool (pool_backend.h), the dry run's fake
 * (fake.h) and the fake's fixtures answered for the pool (fixture_backend.h)
 * each fill one; the page layer knows nothing else. */
#ifndef BATON_BACKEND_H
#define BATON_BACKEND_H

#include <cjson/cJSON.h>
#include <stdint.h>

#include "cdp.h"
#include "script/err.h"

/* A backend's own handles, never dereferenced outside it. */
typedef struct browser_lease browser_lease_t;
typedef struct browser_waiter browser_waiter_t;

/* Who asks for a page: priority 0 critical … 3 low; session "" or NULL for
 * none, else the cookie session to restore; downloads: the lease's page may
 * download (into its download_dir; denied again at the release); job and
 * run_id name the run (log lines, a dry run's record). The strings are only
 * read during acquire. */
typedef struct browser_ask {
    int priority;
    const char *session;
    int downloads;
    const char *job;
    int64_t run_id;
} browser_ask_t;

/* Fires once: with a lease (kind ERR_NONE, message NULL), or with no lease,
 * ERR_POOL_TIMEOUT / ERR_CANCELLED and a message. Never from inside acquire. */
typedef void (*browser_acquire_cb)(void *ud, browser_lease_t *lease, err_kind_t kind,
                                   const char *message);

/* Where a lease's page events go, and who hears that the page or its browser
 * is lost (its pending calls have already failed, or fail just after). */
typedef struct browser_hooks {
    void (*on_event)(void *ud, const char *method, const cJSON *params);
    void (*on_lost)(void *ud, err_kind_t kind, const char *message);
    void *ud;
} browser_hooks_t;

/* What a lease's page is. page_no: its number ("pooled page #N", one per
 * concurrent lease); browser_context: the CDP browserContextId it is in
 * (valid until the release); uses: its lease count, this one included, or 0
 * when the backend does not pool pages (then no reuse is logged);
 * download_dir: where the browser saves the lease's downloads, each as a file
 * named by its guid (Page.downloadWillBegin), "" or NULL when it saves none
 * (none were asked for, or the backend cannot: a fake browser, a remote one). */
typedef struct browser_lease_info {
    int page_no;
    const char *browser_context;
    int uses;
    const char *download_dir;
} browser_lease_info_t;

/* Why a backend refused a call at once, for the script (kind ≠ ERR_NONE). */
typedef struct browser_refusal {
    err_kind_t kind;
    char message[300];
} browser_refusal_t;

typedef struct browser_backend_ops {
    /* Queues a request for a page; NULL when out of memory. */
    browser_waiter_t *(*acquire)(void *self, const browser_ask_t *ask, browser_acquire_cb cb,
                                 void *ud);
    /* Withdraws a waiter whose callback has not fired; it never will. */
    void (*cancel)(void *self, browser_waiter_t *w);
    /* Gives a lease back; discard: the page is disposed rather than reused.
     * Pending calls are dropped without a reply. The lease is invalid after. */
    void (*release)(void *self, browser_lease_t *l, int discard);
    /* Sends a CDP command on the lease's page; params is taken (may be NULL).
     * Returns 0, the reply coming through cb (never from inside, and not
     * after forget or release; cb NULL: none wanted), with *id naming the
     * call (id may be NULL); or fails at once:
     * -EPIPE when the page or its browser is gone, another negative errno,
     * or any negative code with why->kind ≠ ERR_NONE and why->message. */
    int (*send)(void *self, browser_lease_t *l, const char *method, cJSON *params, double timeout,
                cdp_reply_cb cb, void *ud, uint64_t *id, browser_refusal_t *why);
    /* Drops the reply of call id (a cancelled wait); its effects stay. */
    void (*forget)(void *self, browser_lease_t *l, uint64_t id);
    /* Sets where the lease's events and its loss are told (copied). */
    void (*set_hooks)(void *self, browser_lease_t *l, const browser_hooks_t *hooks);
    /* Fills *out with what the lease's page is. */
    void (*describe)(void *self, const browser_lease_t *l, browser_lease_info_t *out);
    /* Stops a download of the lease's page (its guid), whether or not it was
     * allowed; no answer. May be NULL (a backend whose pages never download). */
    void (*cancel_download)(void *self, browser_lease_t *l, const char *guid);
    /* Writes into out the path by which the lease's browser reads the file
     * at path (an absolute path the engine can read), for page:upload; it may
     * be a copy, valid until the release. Returns 0, or a negative errno with
     * a reason in why. NULL: the browser reads path itself. */
    int (*stage_file)(void *self, browser_lease_t *l, const char *path, char *out, size_t len,
                      char *why, size_t whylen);
} browser_backend_ops_t;

/* A backend: its table and the object the table's functions are given. */
typedef struct browser_backend {
    const browser_backend_ops_t *ops;
    void *self;
} browser_backend_t;

#endif
