/* http_fake.h — baton.http in baton test: requests answered from the test's
 * fixtures (t.http:serve) on the virtual clock, never from the network, and
 * a record of every request (t.http:calls). It stands where the client
 * (httpc.h) stands for net/http_lua.c and answers through the same
 * httpc_done_fn with an httpc_result_t, so lua/http.lua turns its answers
 * into responses and errors exactly as it does a real client's: only the
 * transport is fake. Owns its fixtures, its record and every request it has
 * not answered yet. */
#ifndef BATON_HTTP_FAKE_H
#define BATON_HTTP_FAKE_H

#include <stddef.h>
#include <stdint.h>

#include "base/vclock.h"
#include "httpc.h"

typedef struct http_fake http_fake_t;
typedef struct http_fake_req http_fake_req_t;

/* Virtual seconds an answer takes unless its fixture says otherwise (as a
 * fake browser call). */
#define HTTP_FAKE_LATENCY 0.05
/* The least an answer takes: a job asking in a loop moves the clock on, so
 * its run's timeout can end it. */
#define HTTP_FAKE_MIN_DELAY 0.001
/* Requests kept in the record, and the bytes their headers and bodies may
 * take in all; later ones are counted, not kept. */
#define HTTP_FAKE_MAX_CALLS 100000
#define HTTP_FAKE_MAX_KEPT ((size_t)64 << 20)
/* Fixtures a test may serve, and the bytes of their bodies in all. */
#define HTTP_FAKE_MAX_FIXTURES 10000
#define HTTP_FAKE_MAX_SERVED ((size_t)64 << 20)

/* What a pattern answers. */
typedef struct http_fixture {
    const char *method;         /* upper case; NULL: any method */
    int status;                 /* 100-599 */
    const char *const *headers; /* name, value, name, value … (2 * nheaders strings) */
    size_t nheaders;
    const char *body; /* NULL: empty */
    size_t body_len;
    double delay;          /* virtual seconds until the answer (at least HTTP_FAKE_MIN_DELAY);
                            * < 0: HTTP_FAKE_LATENCY */
    httpc_outcome_t error; /* HTTPC_OK: answer; HTTPC_NETWORK, _TIMEOUT, _LIMIT: that failure */
} http_fixture_t;

/* A fake on clock; timeout (seconds, 0: none) and max_bytes (0: no cap) are
 * the defaults a request that names none gets, as the client's conf gives
 * them. Returns 0 and *out, or -ENOMEM. */
int http_fake_new(http_fake_t **out, vclock_t *clock, double timeout, size_t max_bytes);

/* Frees the fake and every request not answered (no callbacks). NULL: no-op. */
void http_fake_free(http_fake_t *f);

/* Serves pattern (an URL, or a prefix when it ends in '*'; "*" alone matches
 * every URL) for fx->method (or any), copying fx. A later serve of the same
 * pattern and method replaces it. A request is answered by the most specific
 * match: an exact URL beats any prefix, a longer prefix a shorter one, and at
 * the same pattern a fixture for the request's method beats one for any.
 * Returns 0, or -EINVAL / -ENOMEM / -ENOSPC with a message in err. */
int http_fake_serve(http_fake_t *f, const char *pattern, const http_fixture_t *fx, char *err,
                    size_t errlen);

/* Who made a request (for the record). */
typedef struct http_fake_who {
    const char *job;
    int64_t run_id;
} http_fake_who_t;

/* As httpc_request, on the virtual clock: records the request, then answers
 * it from its fixture through done, from a timer (never from inside this
 * call): the fixture's answer after its delay; its error after its delay
 * (a "timeout" with no delay at the request's timeout, or never when it has
 * none); `timeout` when the request's timeout (o->timeout, else the
 * default) is shorter than the delay; `limit` when the body passes
 * max_bytes. A request no fixture answers is refused with -ENOENT and
 * "no t.http fixture for METHOD URL" in err, and counted (see
 * http_fake_unanswered). Other refusals: -EINVAL (a method or URL the
 * client would refuse), -ENOMEM. */
int http_fake_request(http_fake_t *f, const httpc_opts_t *o, const http_fake_who_t *who,
                      httpc_done_fn done, void *ud, http_fake_req_t **out, char *err,
                      size_t errlen);

/* Drops a request not answered yet: its done is never called. */
void http_fake_cancel(http_fake_t *f, http_fake_req_t *r);

/* One recorded request; its strings live as long as the fake. */
typedef struct http_fake_call {
    double at; /* virtual time of the request */
    const char *job;
    int64_t run_id;
    const char *method;
    const char *url;
    const char *heads; /* "Name\0value\0" …, as the request sent them */
    size_t heads_len;
    const char *body; /* NULL: the request had none */
    size_t body_len;
} http_fake_call_t;

/* The calls kept, oldest first: how many, and the i-th. */
size_t http_fake_ncalls(const http_fake_t *f);
const http_fake_call_t *http_fake_call(const http_fake_t *f, size_t i);

/* Requests no fixture answered; *first (if not NULL) is set to the first
 * one's "METHOD URL", or NULL when there was none. */
size_t http_fake_unanswered(const http_fake_t *f, const char **first);

#endif
