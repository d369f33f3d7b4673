/* httpstat.h — the figures of the engine's HTTP client (baton.http) for
 * health and metrics: requests that ended, by host and outcome; a histogram
 * of their durations; the durations of the latest requests, for percentiles;
 * and the requests in flight, read from the client. A host is only
 * host[:port] of the URL asked for (never its user, path or query, which may
 * carry secrets); at most HTTPSTAT_MAX_HOSTS hosts are told apart, the rest
 * count as "other". httpstat_add is pure (no clock, no loop), so the table is
 * tested on its own; httpstat_watch feeds it from httpc's observe hook. */
#ifndef BATON_HTTPSTAT_H
#define BATON_HTTPSTAT_H

#include <stddef.h>
#include <stdint.h>

#include "base/stats.h"
#include "net/httpc.h"

enum {
    HTTPSTAT_MAX_HOSTS = 100,
    HTTPSTAT_HOST_LEN = 264, /* a DNS name (253), ":65535" and the NUL */
    HTTPSTAT_RECENT = 1024,  /* durations kept for the percentiles */
    HTTPSTAT_BUCKETS = 18,
};

/* How a request ended, as the figures count it. */
typedef enum {
    HTTPSTAT_OK,       /* an answer with a status below 400 */
    HTTPSTAT_HTTP_4XX, /* an answer 400-499 */
    HTTPSTAT_HTTP_5XX, /* an answer 500 or above */
    HTTPSTAT_NETWORK,  /* no whole answer: DNS, refused, reset, TLS, cut, redirects */
    HTTPSTAT_TIMEOUT,
    HTTPSTAT_LIMIT,   /* the body (or headers) passed their cap */
    HTTPSTAT_REFUSED, /* libcurl refused the request (a redirect to another scheme) */
    HTTPSTAT_OUTCOMES
} httpstat_outcome_t;

/* "ok", "http_4xx", "http_5xx", "network", "timeout", "limit", "refused". */
const char *httpstat_outcome_name(httpstat_outcome_t o);

/* The outcome of a request that ended with o and HTTP status. */
httpstat_outcome_t httpstat_outcome(httpc_outcome_t o, long status);

/* Upper bounds (seconds) of the duration histogram's buckets. */
extern const double httpstat_bounds_s[HTTPSTAT_BUCKETS];

/* host[:port] of url into out (len bytes, NUL-terminated, cut to fit): what
 * follows "scheme://" up to the first '/', '?' or '#', without any
 * "user:password@", in lower case; a byte that is not printable ASCII, a
 * space or '%' is written %XX, so the name is plain text. "" when there is
 * no host. */
void httpstat_host_of(const char *url, char *out, size_t len);

typedef struct httpstat_host {
    char name[HTTPSTAT_HOST_LEN];
    uint64_t requests[HTTPSTAT_OUTCOMES];
} httpstat_host_t;

typedef struct httpstat {
    httpstat_host_t hosts[HTTPSTAT_MAX_HOSTS]; /* in order of first sight */
    size_t nhosts;
    httpstat_host_t other; /* every host past the first HTTPSTAT_MAX_HOSTS, and "" */
    uint64_t total;
    stats_hist_t duration; /* seconds */
    double recent_ms[HTTPSTAT_RECENT];
    size_t nrecent, next;
    httpc_t *client; /* httpstat_watch; NULL: none */
} httpstat_t;

/* An empty table watching no client. */
void httpstat_init(httpstat_t *s);

/* Counts one request to url that ended with outcome and status after ms. */
void httpstat_add(httpstat_t *s, const char *url, httpc_outcome_t outcome, long status, double ms);

/* Makes s the observer of c (replacing any), and stops observing the client
 * watched before; NULL stops. A request cancelled before it ends (its run
 * timed out or was cancelled) is not counted. */
void httpstat_watch(httpstat_t *s, httpc_t *c);

/* Requests in flight on the client watched (0 with none). */
size_t httpstat_inflight(const httpstat_t *s);

/* p50, p95 and p99 (ms) of the latest HTTPSTAT_RECENT durations; zeros
 * before the first request. Returns how many durations they are over. */
size_t httpstat_latency(const httpstat_t *s, double *p50, double *p95, double *p99);

#endif
