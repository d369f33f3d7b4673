/* fake.h — the dry-run fake browser (baton test): leases handed out at once,
 * CDP calls answered on the virtual clock from fixtures the tests serve,
 * failures injected per job, and a record of every call. Its operations
 * table (backend.h) stands where the pool's does for page.c, so lua/page.lua
 * runs unchanged on top of it: error mapping, waits and timeouts are
 * exercised as in a real run. */
#ifndef BATON_FAKE_H
#define BATON_FAKE_H

#include <cjson/cJSON.h>
#include <stdint.h>

#include "backend.h"
#include "cdp.h"
#include "script/err.h"
#include "base/vclock.h"

typedef struct fake fake_t;
typedef struct fake_lease fake_lease_t;

/* Virtual seconds a call takes unless its fixture says otherwise. */
#define FAKE_LATENCY 0.05
/* Calls kept in the record; later ones are counted, not kept. */
#define FAKE_MAX_CALLS 100000

int fake_new(fake_t **out, vclock_t *clock);
/* Frees the fake (every lease must have been released). */
void fake_free(fake_t *f);

/* Serves url (exact, or a prefix when it ends in '*'; "*" alone matches
 * every URL) with a fixture: {status, headers, title, html, error (a net
 * error text), delay (seconds), eval (a list answered in order, the last
 * repeating, and/or expression = value), text ({selector = text}),
 * missing ({selector, ...})}. A later serve of the same url replaces it.
 * Returns 0, or -1 with a message in err. */
int fake_serve(fake_t *f, const char *url, const cJSON *fixture, char *err, size_t len);

/* The fixture served for url, or NULL (baton test --browser real answers
 * the real browser's requests from it). Valid until the next fake_serve. */
const cJSON *fake_fixture(const fake_t *f, const char *url);

/* The next browser call of a run of job fails with kind (once). */
int fake_fail(fake_t *f, const char *job, err_kind_t kind, const char *message);

/* For a real browser (baton test --browser real): takes the failure waiting
 * for job's next call, if any (1, with its kind and message), and records a
 * call as the fake records its own. */
int fake_take_failure(fake_t *f, const char *job, err_kind_t *kind, char *message, size_t len);
void fake_record(fake_t *f, const char *job, int64_t run_id, const char *method,
                 const cJSON *params);

/* The recorded calls, oldest first, as [{at, job, run_id, method, params}],
 * of one job or (job NULL) of all. The caller frees the array. */
cJSON *fake_calls(const fake_t *f, const char *job);
/* Calls made, kept or not. */
uint64_t fake_ncalls(const fake_t *f);

/* A lease for a run of job: cb fires from a timer due now, never from inside. */
typedef void (*fake_acquire_cb)(void *ud, fake_lease_t *lease);
fake_lease_t *fake_acquire(fake_t *f, const char *job, int64_t run_id, fake_acquire_cb cb,
                           void *ud);
/* Ends a lease (pending calls are dropped without a reply). Also withdraws a
 * lease whose acquire callback has not fired. */
void fake_release(fake_lease_t *l);
/* As pool_lease_send: params is taken; the reply comes on the virtual clock. */
int fake_send(fake_lease_t *l, const char *method, cJSON *params, double timeout, cdp_reply_cb cb,
              void *ud, uint64_t *id);
void fake_forget(fake_lease_t *l, uint64_t id);
void fake_set_hooks(fake_lease_t *l, const browser_hooks_t *hooks);
/* The fake page's number (one per lease). */
int fake_lease_page_no(const fake_lease_t *l);

/* Fills *out with the fake's table: acquire, send, forget and release as
 * above; a lease's browser context is "fake" and its uses 0 (not pooled).
 * The fake must outlive every page using it. */
void fake_backend(fake_t *f, browser_backend_t *out);

#endif
