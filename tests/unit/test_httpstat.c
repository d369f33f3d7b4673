/* test_httpstat.c — the HTTP client's figures: a host is host[:port] only
 * (never user info, path or query), outcomes by status class, at most 100
 * hosts told apart (the rest are "other"), percentiles of the latest
 * durations, and the figures in health and in metrics with their labels
 * escaped. */
#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/vclock.h"
#include "conf/conf.h"
#include "obs/health.h"
#include "obs/httpstat.h"
#include "obs/metrics.h"
#include "obs/obs.h"
#include "test.h"

static const char *host(const char *url) {
    static char buf[HTTPSTAT_HOST_LEN];
    httpstat_host_of(url, buf, sizeof buf);
    return buf;
}

TEST(httpstat_host_is_host_and_port_only) {
    CHECK_STR(host("http://127.0.0.1:8080/api/x?token=s3cret#f"), "127.0.0.1:8080");
    CHECK_STR(host("https://Example.COM/path"), "example.com");
    CHECK_STR(host("https://user:pa55@api.example.com:8443/v1?key=k"), "api.example.com:8443");
    CHECK_STR(host("https://a@b@host.example/x@y"), "host.example");
    CHECK_STR(host("http://host.example?q=1"), "host.example");
    CHECK_STR(host("http://host.example#frag"), "host.example");
    CHECK_STR(host("http://[::1]:9000/"), "[::1]:9000");
    CHECK_STR(host("http://a\"b\\c/"), "a\"b\\c");
    CHECK_STR(host("http://t\tab%/"), "t%09ab%25");
    CHECK_STR(host("http://\xc3\xbc.example/"), "%C3%BC.example");
    CHECK_STR(host("http:///path"), "");
    CHECK_STR(host(NULL), "");
    char small[6];
    httpstat_host_of("http://abcdefgh/", small, sizeof small);
    CHECK_STR(small, "abcde");
    httpstat_host_of("http://abc\x01zz/", small, sizeof small); /* never half an escape */
    CHECK_STR(small, "abc");
}

TEST(httpstat_outcomes_by_status_class) {
    CHECK_INT(httpstat_outcome(HTTPC_OK, 200), HTTPSTAT_OK);
    CHECK_INT(httpstat_outcome(HTTPC_OK, 302), HTTPSTAT_OK);
    CHECK_INT(httpstat_outcome(HTTPC_OK, 399), HTTPSTAT_OK);
    CHECK_INT(httpstat_outcome(HTTPC_OK, 400), HTTPSTAT_HTTP_4XX);
    CHECK_INT(httpstat_outcome(HTTPC_OK, 429), HTTPSTAT_HTTP_4XX);
    CHECK_INT(httpstat_outcome(HTTPC_OK, 500), HTTPSTAT_HTTP_5XX);
    CHECK_INT(httpstat_outcome(HTTPC_OK, 599), HTTPSTAT_HTTP_5XX);
    CHECK_INT(httpstat_outcome(HTTPC_NETWORK, 0), HTTPSTAT_NETWORK);
    CHECK_INT(httpstat_outcome(HTTPC_TIMEOUT, 200), HTTPSTAT_TIMEOUT);
    CHECK_INT(httpstat_outcome(HTTPC_LIMIT, 200), HTTPSTAT_LIMIT);
    CHECK_INT(httpstat_outcome(HTTPC_REFUSED, 0), HTTPSTAT_REFUSED);
    CHECK_STR(httpstat_outcome_name(HTTPSTAT_HTTP_5XX), "http_5xx");
    CHECK_STR(httpstat_outcome_name(HTTPSTAT_REFUSED), "refused");
    CHECK_STR(httpstat_outcome_name(HTTPSTAT_OUTCOMES), "unknown");
}

TEST(httpstat_tells_100_hosts_apart_and_counts_the_rest_as_other) {
    static httpstat_t s;
    char url[64];
    httpstat_init(&s);
    for (int i = 0; i < 150; i++) {
        snprintf(url, sizeof url, "http://h%d.example:80/x", i);
        httpstat_add(&s, url, HTTPC_OK, 200, 1);
    }
    httpstat_add(&s, "http://h0.example:80/again", HTTPC_OK, 503, 1);
    httpstat_add(&s, "http://h149.example:80/", HTTPC_TIMEOUT, 0, 1);
    httpstat_add(&s, "http:///nohost", HTTPC_NETWORK, 0, 1);
    CHECK_INT(s.nhosts, HTTPSTAT_MAX_HOSTS);
    CHECK_STR(s.hosts[0].name, "h0.example:80");
    CHECK_INT(s.hosts[0].requests[HTTPSTAT_OK], 1);
    CHECK_INT(s.hosts[0].requests[HTTPSTAT_HTTP_5XX], 1);
    CHECK_STR(s.hosts[99].name, "h99.example:80");
    CHECK_STR(s.other.name, "other");
    CHECK_INT(s.other.requests[HTTPSTAT_OK], 50);
    CHECK_INT(s.other.requests[HTTPSTAT_TIMEOUT], 1);
    CHECK_INT(s.other.requests[HTTPSTAT_NETWORK], 1);
    CHECK_INT(s.total, 153);
    CHECK_INT(s.duration.count, 153);
}

TEST(httpstat_percentiles_of_the_latest_durations) {
    static httpstat_t s;
    double p50, p95, p99;
    httpstat_init(&s);
    CHECK_INT(httpstat_latency(&s, &p50, &p95, &p99), 0);
    CHECK_NUM(p99, 0);
    for (int i = 1; i <= 100; i++) httpstat_add(&s, "http://a/", HTTPC_OK, 200, i);
    CHECK_INT(httpstat_latency(&s, &p50, &p95, &p99), 100);
    CHECK_NUM(p50, 50);
    CHECK_NUM(p95, 95);
    CHECK_NUM(p99, 99);
    /* the oldest leave the ring: HTTPSTAT_RECENT of 1 ms push the 1..100 out */
    for (int i = 0; i < HTTPSTAT_RECENT; i++) httpstat_add(&s, "http://a/", HTTPC_OK, 200, 1);
    CHECK_INT(httpstat_latency(&s, &p50, &p95, &p99), HTTPSTAT_RECENT);
    CHECK_NUM(p99, 1);
    /* the histogram keeps everything, in seconds */
    CHECK_INT(s.duration.count, 100 + HTTPSTAT_RECENT);
    CHECK_INT(stats_hist_cumulative(&s.duration, 3), 1 + HTTPSTAT_RECENT); /* <= 1 ms */
}

TEST(httpstat_figures_in_health_and_metrics) {
    vclock_t clock;
    store_t *st;
    sched_t *sched;
    conf_t conf;
    char err[256];
    conf_defaults(&conf);
    vclock_init(&clock, NULL, 1, 1700000000);
    CHECK_INT(store_open(&st, ":memory:", 0, err, sizeof err), 0);
    CHECK_INT(sched_new(&sched, &clock, st, &conf, (sched_hooks_t){0}, 1), 0);
    CHECK_INT(sched_set_jobs(sched, NULL, 0, err, sizeof err), 0);
    obs_t *o = obs_new();
    obs_attach(o, sched, st, NULL);
    httpstat_t *s = obs_http_client(o);
    httpstat_add(s, "http://127.0.0.1:5000/a?key=secret", HTTPC_OK, 200, 2);
    httpstat_add(s, "http://127.0.0.1:5000/b", HTTPC_OK, 200, 4);
    httpstat_add(s, "http://127.0.0.1:5000/c", HTTPC_OK, 500, 30);
    httpstat_add(s, "http://127.0.0.1:5000/d", HTTPC_OK, 404, 1);
    httpstat_add(s, "http://we\"ird\\host/", HTTPC_NETWORK, 0, 3000);
    health_src_t src = {.conf = &conf,
                        .clock = &clock,
                        .store = st,
                        .sched = sched,
                        .obs = o,
                        .started_at = 1700000000,
                        .version = "test"};

    size_t len;
    char *text = metrics_render(&src, &len);
    CHECK(text != NULL);
    CHECK_HAS(text, "# TYPE baton_http_client_requests_total counter\n");
    CHECK_HAS(text, "baton_http_client_requests_total{host=\"127.0.0.1:5000\",outcome=\"ok\"} 2\n");
    CHECK_HAS(text,
              "baton_http_client_requests_total{host=\"127.0.0.1:5000\",outcome=\"http_5xx\"} 1\n");
    CHECK_HAS(text,
              "baton_http_client_requests_total{host=\"127.0.0.1:5000\",outcome=\"http_4xx\"} 1\n");
    CHECK_HAS(
        text,
        "baton_http_client_requests_total{host=\"we\\\"ird\\\\host\",outcome=\"network\"} 1\n");
    CHECK(!strstr(text, "outcome=\"timeout\"")); /* only series that counted */
    CHECK(!strstr(text, "secret"));
    CHECK(!strstr(text, "host=\"other\""));
    CHECK_HAS(text, "# TYPE baton_http_client_duration_seconds histogram\n");
    CHECK_HAS(text, "baton_http_client_duration_seconds_bucket{le=\"0.001\"} 1\n");
    CHECK_HAS(text, "baton_http_client_duration_seconds_bucket{le=\"0.005\"} 3\n");
    CHECK_HAS(text, "baton_http_client_duration_seconds_bucket{le=\"0.05\"} 4\n");
    CHECK_HAS(text, "baton_http_client_duration_seconds_bucket{le=\"2.5\"} 4\n");
    CHECK_HAS(text, "baton_http_client_duration_seconds_bucket{le=\"5\"} 5\n");
    CHECK_HAS(text, "baton_http_client_duration_seconds_bucket{le=\"+Inf\"} 5\n");
    CHECK_HAS(text, "baton_http_client_duration_seconds_sum 3.037000\n");
    CHECK_HAS(text, "baton_http_client_duration_seconds_count 5\n");
    CHECK_HAS(text, "# TYPE baton_http_client_in_flight gauge\nbaton_http_client_in_flight 0\n");
    free(text);

    cJSON *doc = health_report(&src);
    cJSON *hc = cJSON_GetObjectItem(doc, "http_client");
    CHECK(cJSON_IsObject(hc));
    CHECK_INT(cJSON_GetObjectItem(hc, "in_flight")->valueint, 0);
    CHECK_INT(cJSON_GetObjectItem(hc, "requests_total")->valueint, 5);
    cJSON *req = cJSON_GetObjectItem(hc, "requests");
    cJSON *local = cJSON_GetObjectItem(req, "127.0.0.1:5000");
    CHECK_INT(cJSON_GetObjectItem(local, "ok")->valueint, 2);
    CHECK_INT(cJSON_GetObjectItem(local, "http_4xx")->valueint, 1);
    CHECK_INT(cJSON_GetObjectItem(local, "http_5xx")->valueint, 1);
    CHECK_INT(cJSON_GetObjectItem(local, "network")->valueint, 0);
    CHECK_INT(cJSON_GetObjectItem(cJSON_GetObjectItem(req, "we\"ird\\host"), "network")->valueint,
              1);
    CHECK(cJSON_GetObjectItem(req, "other") == NULL);
    cJSON *lat = cJSON_GetObjectItem(hc, "latency_ms");
    CHECK_NUM(cJSON_GetObjectItem(lat, "p50")->valuedouble, 4);
    CHECK_NUM(cJSON_GetObjectItem(lat, "p99")->valuedouble, 3000);
    CHECK_INT(cJSON_GetObjectItem(lat, "samples")->valueint, 5);
    cJSON_Delete(doc);

    obs_detach(o);
    obs_free(o);
    sched_free(sched);
    store_close(st);
    vclock_close(&clock);
    conf_free(&conf);
}
