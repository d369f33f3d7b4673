/* httpstat.c — the HTTP client's table of hosts and outcomes, its duration
 * histogram and its ring of recent durations; fed by httpc's observe hook. */
#include "httpstat.h"

#include <stdio.h>
#include <string.h>

const double httpstat_bounds_s[HTTPSTAT_BUCKETS] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                                    0.01,   0.025,   0.05,   0.1,   0.25,   0.5,
                                                    1,      2.5,     5,      10,    30,     60};

static const char *const outcome_names[HTTPSTAT_OUTCOMES] = {
    "ok", "http_4xx", "http_5xx", "network", "timeout", "limit", "refused"};

const char *httpstat_outcome_name(httpstat_outcome_t o) {
    return o < HTTPSTAT_OUTCOMES ? outcome_names[o] : "unknown";
}

httpstat_outcome_t httpstat_outcome(httpc_outcome_t o, long status) {
    switch (o) {
    case HTTPC_OK:
        return status >= 500 ? HTTPSTAT_HTTP_5XX : status >= 400 ? HTTPSTAT_HTTP_4XX : HTTPSTAT_OK;
    case HTTPC_NETWORK:
        return HTTPSTAT_NETWORK;
    case HTTPC_TIMEOUT:
        return HTTPSTAT_TIMEOUT;
    case HTTPC_LIMIT:
        return HTTPSTAT_LIMIT;
    case HTTPC_REFUSED:
        return HTTPSTAT_REFUSED;
    }
    return HTTPSTAT_NETWORK;
}

void httpstat_host_of(const char *url, char *out, size_t len) {
    static const char hex[] = "0123456789ABCDEF";
    if (!len) return;
    out[0] = 0;
    if (!url) return;
    const char *p = strstr(url, "://");
    p = p ? p + 3 : url;
    size_t end = strcspn(p, "/?#");
    /* the user info ends at the authority's last '@' */
    for (size_t i = end; i > 0; i--)
        if (p[i - 1] == '@') {
            p += i;
            end -= i;
            break;
        }
    size_t n = 0;
    for (size_t i = 0; i < end; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c > ' ' && c < 0x7f && c != '%') {
            if (n + 1 >= len) break;
            out[n++] = (char)(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
        } else {
            if (n + 3 >= len) break;
            out[n++] = '%';
            out[n++] = hex[c >> 4];
            out[n++] = hex[c & 15];
        }
    }
    out[n] = 0;
}

void httpstat_init(httpstat_t *s) {
    memset(s, 0, sizeof *s);
    strcpy(s->other.name, "other");
    stats_hist_init(&s->duration, httpstat_bounds_s, HTTPSTAT_BUCKETS);
}

/* The row of host: its own, a new one while there is room, else "other". */
static httpstat_host_t *host_row(httpstat_t *s, const char *host) {
    if (!host[0]) return &s->other;
    for (size_t i = 0; i < s->nhosts; i++)
        if (strcmp(s->hosts[i].name, host) == 0) return &s->hosts[i];
    if (s->nhosts == HTTPSTAT_MAX_HOSTS) return &s->other;
    httpstat_host_t *h = &s->hosts[s->nhosts++];
    memset(h, 0, sizeof *h);
    snprintf(h->name, sizeof h->name, "%s", host);
    return h;
}

void httpstat_add(httpstat_t *s, const char *url, httpc_outcome_t outcome, long status, double ms) {
    char host[HTTPSTAT_HOST_LEN];
    httpstat_host_of(url, host, sizeof host);
    host_row(s, host)->requests[httpstat_outcome(outcome, status)]++;
    s->total++;
    if (ms < 0) ms = 0;
    stats_hist_add(&s->duration, ms / 1000);
    s->recent_ms[s->next] = ms;
    s->next = (s->next + 1) % HTTPSTAT_RECENT;
    if (s->nrecent < HTTPSTAT_RECENT) s->nrecent++;
}

/* httpc's observe hook: the URL asked for, not where redirects led. */
static void on_request(void *ud, const httpc_opts_t *o, const httpc_result_t *res) {
    httpstat_add(ud, o->url, res->outcome, res->status, res->ms);
}

void httpstat_watch(httpstat_t *s, httpc_t *c) {
    if (s->client && s->client != c) httpc_observe(s->client, NULL, NULL);
    s->client = c;
    if (c) httpc_observe(c, on_request, s);
}

size_t httpstat_inflight(const httpstat_t *s) { return httpc_inflight(s->client); }

size_t httpstat_latency(const httpstat_t *s, double *p50, double *p95, double *p99) {
    double copy[HTTPSTAT_RECENT];
    memcpy(copy, s->recent_ms, s->nrecent * sizeof *copy);
    /* stats_percentile sorts, so the later calls see a sorted copy */
    *p50 = stats_percentile(copy, s->nrecent, 50);
    *p95 = stats_percentile(copy, s->nrecent, 95);
    *p99 = stats_percentile(copy, s->nrecent, 99);
    return s->nrecent;
}
