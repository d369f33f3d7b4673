/* test_http.c — the pure parts behind the HTTP server: percentiles,
 * histograms, the loop-lag ring, the health status rule, http.listen
 * parsing, route patterns, and obs counters fed through the store's row hook. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "obs/health.h"
#include "http/http.h"
#include "obs/lag.h"
#include "obs/metrics.h"
#include "obs/obs.h"
#include "base/stats.h"
#include "test.h"

TEST(stats_percentile_is_nearest_rank) {
    double v[] = {5, 1, 4, 2, 3, 10, 9, 8, 7, 6};
    CHECK_NUM(stats_percentile(v, 10, 50), 5);
    CHECK_NUM(stats_percentile(v, 10, 95), 10);
    CHECK_NUM(stats_percentile(v, 10, 90), 9);
    CHECK_NUM(stats_percentile(v, 10, 0), 1);
    CHECK_NUM(stats_percentile(v, 10, 100), 10);
    CHECK_NUM(stats_percentile(v, 0, 50), 0);
    double one[] = {42};
    CHECK_NUM(stats_percentile(one, 1, 99), 42);
}

TEST(stats_histogram_buckets_are_cumulative) {
    static const double bounds[] = {1, 5, 10};
    stats_hist_t h;
    stats_hist_init(&h, bounds, 3);
    double obs[] = {0.5, 1, 2, 5, 7, 50};
    for (int i = 0; i < 6; i++) stats_hist_add(&h, obs[i]);
    CHECK_INT(stats_hist_cumulative(&h, 0), 2); /* <= 1, the bound itself included */
    CHECK_INT(stats_hist_cumulative(&h, 1), 4);
    CHECK_INT(stats_hist_cumulative(&h, 2), 5);
    CHECK_INT(h.count, 6);
    CHECK_NUM(h.sum, 65.5);
}

TEST(lag_ring_keeps_the_latest_samples_and_their_max) {
    lag_ring_t r;
    lag_stats_t st;
    memset(&r, 0, sizeof r);
    lag_ring_stats(&r, &st);
    CHECK_INT(st.samples, 0);
    CHECK_NUM(st.max_ms, 0);
    lag_ring_add(&r, 500); /* the oldest, and the largest */
    for (int i = 0; i < LAG_RING - 1; i++) lag_ring_add(&r, i % 100 == 0 ? 20 : 1);
    lag_ring_stats(&r, &st);
    CHECK_INT(st.samples, LAG_RING);
    CHECK_NUM(st.max_ms, 500);
    CHECK_NUM(st.p50_ms, 1);
    lag_ring_add(&r, 2); /* pushes the 500 out */
    lag_ring_stats(&r, &st);
    CHECK_INT(st.samples, LAG_RING);
    CHECK_NUM(st.max_ms, 20);
    CHECK_NUM(st.p99_ms, 2); /* six 20s in 600 samples sit above the 99th percentile */
    lag_ring_add(&r, -3);    /* early ticks count as on time */
    lag_ring_stats(&r, &st);
    CHECK_NUM(st.max_ms, 20);
}

TEST(health_rule_ok_degraded_failing) {
    char why[8][160];
    size_t n;
    health_inputs_t in = {0};
    CHECK_INT(health_rule(&in, why, 8, &n), HEALTH_OK);
    CHECK_INT(n, 0);
    in.jobs_with_runs = 3;
    in.jobs_below_90 = 1;
    CHECK_INT(health_rule(&in, why, 8, &n), HEALTH_DEGRADED);
    CHECK_HAS(why[0], "under 90%");
    in = (health_inputs_t){.jobs_with_runs = 3, .jobs_all_failed = 1, .jobs_below_90 = 1};
    CHECK_INT(health_rule(&in, why, 8, &n), HEALTH_DEGRADED);
    CHECK_INT(n, 1);
    in.jobs_all_failed = in.jobs_below_90 = 3;
    CHECK_INT(health_rule(&in, why, 8, &n), HEALTH_FAILING);
    CHECK_HAS(why[0], "every run");
    in = (health_inputs_t){.breakers_open = 1};
    CHECK_INT(health_rule(&in, why, 8, &n), HEALTH_DEGRADED);
    in = (health_inputs_t){.scripts_failed = 2};
    CHECK_INT(health_rule(&in, why, 8, &n), HEALTH_DEGRADED);
    in = (health_inputs_t){.lag_p99_ms = 150};
    CHECK_INT(health_rule(&in, why, 8, &n), HEALTH_DEGRADED);
    in = (health_inputs_t){.lag_p99_ms = 1500};
    CHECK_INT(health_rule(&in, why, 8, &n), HEALTH_FAILING);
    in = (health_inputs_t){.store_error = 1};
    CHECK_INT(health_rule(&in, why, 8, &n), HEALTH_FAILING);
    in = (health_inputs_t){.pool_waiters = 2, .pool_acquire_p95_ms = 6000};
    CHECK_INT(health_rule(&in, why, 8, &n), HEALTH_DEGRADED);
    in = (health_inputs_t){.browser_trouble = ""};
    CHECK_INT(health_rule(&in, why, 8, &n), HEALTH_OK);
    in = (health_inputs_t){.browser_trouble = "browser 1 was hung: no answer to a heartbeat"};
    CHECK_INT(health_rule(&in, why, 8, &n), HEALTH_DEGRADED);
    CHECK_STR(why[0], "browser 1 was hung: no answer to a heartbeat");
    in = (health_inputs_t){.store_error = 1, .breakers_open = 1, .scripts_failed = 1};
    CHECK_INT(health_rule(&in, why, 2, &n), HEALTH_FAILING);
    CHECK_INT(n, 2); /* capped at the room given */
    CHECK_STR(health_status_name(HEALTH_DEGRADED), "degraded");
}

TEST(http_parse_listen_takes_host_and_port) {
    char host[64];
    int port = -1;
    CHECK_INT(http_parse_listen("127.0.0.1:8080", host, sizeof host, &port), 0);
    CHECK_STR(host, "127.0.0.1");
    CHECK_INT(port, 8080);
    CHECK_INT(http_parse_listen("*:0", host, sizeof host, &port), 0);
    CHECK_STR(host, "");
    CHECK_INT(port, 0);
    CHECK_INT(http_parse_listen(":9000", host, sizeof host, &port), 0);
    CHECK_STR(host, "");
    CHECK_INT(http_parse_listen("127.0.0.1", host, sizeof host, &port), -EINVAL);
    CHECK_INT(http_parse_listen("127.0.0.1:", host, sizeof host, &port), -EINVAL);
    CHECK_INT(http_parse_listen("127.0.0.1:70000", host, sizeof host, &port), -EINVAL);
    CHECK_INT(http_parse_listen("127.0.0.1:80x", host, sizeof host, &port), -EINVAL);
    CHECK_INT(http_parse_listen(NULL, host, sizeof host, &port), -EINVAL);
}

static int events_seen;
static void count_event(void *ud, const char *json) {
    (void)ud;
    if (strstr(json, "\"type\":\"attempt_failed\"")) events_seen++;
}

TEST(http_host_is_ours_takes_loopback_names_and_the_listen_address_only) {
    CHECK(http_host_is_ours("localhost", "127.0.0.1"));
    CHECK(http_host_is_ours("LocalHost:8080", "127.0.0.1"));
    CHECK(http_host_is_ours("127.0.0.1:8080", "127.0.0.1"));
    CHECK(http_host_is_ours("127.9.9.9", ""));
    CHECK(http_host_is_ours("[::1]:8080", "127.0.0.1"));
    CHECK(http_host_is_ours("::1", "127.0.0.1") ==
          0); /* a bare v6 address with a port is ambiguous */
    CHECK(http_host_is_ours("10.1.2.3:8080", "10.1.2.3"));
    CHECK(http_host_is_ours("baton.lan", "baton.lan"));
    CHECK(!http_host_is_ours("10.1.2.3:8080", ""));
    CHECK(!http_host_is_ours("evil.example", "127.0.0.1"));
    CHECK(!http_host_is_ours("evil.example:8080", ""));
    CHECK(!http_host_is_ours("127.0.0.1.evil.example", "127.0.0.1"));
    CHECK(!http_host_is_ours("localhost.evil.example", "127.0.0.1"));
    CHECK(!http_host_is_ours("128.0.0.1", "127.0.0.1"));
    CHECK(!http_host_is_ours("", "127.0.0.1"));
    CHECK(!http_host_is_ours("[::1", "127.0.0.1"));
    CHECK(!http_host_is_ours("[::1]x", "127.0.0.1"));
}

TEST(http_path_match_reads_exact_segment_and_folder_patterns) {
    char name[8];
    CHECK(http_path_match("/api/jobs", "/api/jobs", name, sizeof name));
    CHECK_STR(name, "");
    CHECK(!http_path_match("/api/jobs", "/api/jobs/", name, sizeof name));
    CHECK(!http_path_match("/", "/x", name, sizeof name));
    /* one non-empty segment for '*', copied out */
    CHECK(http_path_match("/api/jobs/*/run", "/api/jobs/tick/run", name, sizeof name));
    CHECK_STR(name, "tick");
    CHECK(http_path_match("/api/jobs/*", "/api/jobs/tick", name, sizeof name));
    CHECK_STR(name, "tick");
    CHECK(!http_path_match("/api/jobs/*", "/api/jobs/", name, sizeof name));
    CHECK(!http_path_match("/api/jobs/*", "/api/jobs/tick/run", name, sizeof name));
    CHECK(!http_path_match("/api/jobs/*/run", "/api/jobs//run", name, sizeof name));
    CHECK(!http_path_match("/api/jobs/*/run", "/api/jobs/a/b/run", name, sizeof name));
    CHECK(!http_path_match("/api/jobs/*/run", "/api/jobs/tick/pause", name, sizeof name));
    /* a NAME that does not fit is no match (a 404), never a truncated name */
    CHECK(http_path_match("/j/*", "/j/1234567", name, sizeof name));
    CHECK(!http_path_match("/j/*", "/j/12345678", name, sizeof name));
    /* a folder: itself and everything beneath, not a longer name */
    CHECK(http_path_match("/demo/**", "/demo", name, sizeof name));
    CHECK(http_path_match("/demo/**", "/demo/", name, sizeof name));
    CHECK(http_path_match("/demo/**", "/demo/a/b.css", name, sizeof name));
    CHECK(!http_path_match("/demo/**", "/demox", name, sizeof name));
    CHECK(!http_path_match("/demo/**", "/dem", name, sizeof name));
}

TEST(obs_counts_attempts_errors_and_retries_from_store_rows) {
    store_t *st;
    char err[256];
    CHECK_INT(store_open(&st, ":memory:", 0, err, sizeof err), 0);
    obs_t *o = obs_new();
    obs_attach(o, NULL, st, NULL);
    obs_on_event(o, count_event, NULL);
    store_run_t rows[] = {
        {.run_id = 1,
         .job = "a",
         .attempt = 1,
         .started_at = 10,
         .ended_at = 10.5,
         .status = "failed",
         .error_kind = "network",
         .error = "refused"},
        {.run_id = 1,
         .job = "a",
         .attempt = 2,
         .started_at = 11,
         .ended_at = 11.25,
         .status = "ok"},
        {.run_id = 2,
         .job = "b",
         .attempt = 1,
         .scheduled_at = 12,
         .status = "skipped",
         .error_kind = "overlap"},
    };
    for (int i = 0; i < 3; i++) CHECK_INT(store_run_add(st, &rows[i]), 0);
    CHECK_INT(obs_njobs(o), 2);
    const obs_job_t *a = obs_job(o, 0);
    CHECK_STR(a->name, "a");
    CHECK_INT(a->retries, 1);
    CHECK_INT(a->errors[ERR_NETWORK], 1);
    CHECK_INT(a->duration.count, 2);
    CHECK_NUM(a->duration.sum, 0.75);
    CHECK_INT(obs_job(o, 1)->duration.count, 0); /* a skip never ran */
    const obs_error_t *errs;
    CHECK_INT(obs_recent_errors(o, &errs), 1);
    CHECK_STR(errs[0].kind, "network");
    CHECK_STR(errs[0].message, "refused");
    CHECK_INT(events_seen, 1);
    obs_detach(o);
    obs_free(o);

    /* a new collector starts from the errors already in the store */
    o = obs_new();
    obs_attach(o, NULL, st, NULL);
    CHECK_INT(obs_recent_errors(o, &errs), 1);
    CHECK_STR(errs[0].job, "a");
    obs_detach(o);
    obs_free(o);
    store_close(st);
}

TEST(obs_recent_errors_keep_the_newest_ten) {
    obs_t *o = obs_new();
    store_t *st;
    char err[256], msg[32];
    CHECK_INT(store_open(&st, ":memory:", 0, err, sizeof err), 0);
    obs_attach(o, NULL, st, NULL);
    for (int i = 1; i <= 15; i++) {
        snprintf(msg, sizeof msg, "error %d", i);
        store_run_t r = {.run_id = i,
                         .job = "a",
                         .attempt = 1,
                         .started_at = i,
                         .ended_at = i,
                         .status = "failed",
                         .error_kind = "timeout",
                         .error = msg};
        store_run_add(st, &r);
    }
    const obs_error_t *errs;
    CHECK_INT(obs_recent_errors(o, &errs), OBS_RECENT_ERRORS);
    CHECK_STR(errs[0].message, "error 15");
    CHECK_STR(errs[9].message, "error 6");
    obs_detach(o);
    obs_free(o);
    store_close(st);
}

TEST(obs_script_state_tracks_versions_and_errors) {
    obs_t *o = obs_new();
    obs_script(o, "scripts/a.lua", 100, NULL);
    obs_script(o, NULL, 101, "scripts/b.lua:3: unexpected symbol");
    CHECK_INT(obs_nscripts(o), 2);
    CHECK_STR(obs_script_at(o, 1)->file, "scripts/b.lua");
    CHECK_HAS(obs_script_at(o, 1)->error, "unexpected symbol");
    obs_script(o, "scripts/a.lua", 200, NULL);
    CHECK_INT(obs_script_at(o, 0)->version, 2);
    CHECK_NUM(obs_script_at(o, 0)->loaded_at, 200);
    CHECK(obs_script_at(o, 0)->error == NULL);
    obs_pool_t pool;
    obs_pool(o, &pool);
    CHECK_INT(pool.pages_total, 0); /* no pool registered: zeros */
    obs_free(o);
}

static void fake_pool(void *ud, obs_pool_t *out) {
    (void)ud;
    out->browsers = 2;
    out->pages_total = 4;
    out->pages_busy = 3;
    out->pages_idle = 1;
    out->waiters = 5;
    out->created_total = 7;
    out->acquire_buckets[0] = 2;                   /* <= 1 ms */
    out->acquire_buckets[OBS_ACQUIRE_BUCKETS] = 1; /* above every bound */
    out->acquire_count = 3;
    out->acquire_sum_ms = 40000;
    out->acquire_p95_ms = 6000;
}

TEST(a_pool_plugs_into_health_and_metrics_through_its_figures_callback) {
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
    obs_set_pool(o, fake_pool, NULL);
    health_src_t src = {.conf = &conf,
                        .clock = &clock,
                        .store = st,
                        .sched = sched,
                        .obs = o,
                        .started_at = 1700000000 - 90,
                        .version = "test"};

    size_t len;
    char *text = metrics_render(&src, &len);
    CHECK(text != NULL);
    CHECK_INT(strlen(text), len);
    CHECK_HAS(text, "baton_pool_pages{state=\"busy\"} 3\n");
    CHECK_HAS(text, "baton_pool_waiters 5\n");
    CHECK_HAS(text, "baton_pool_pages_created_total 7\n");
    CHECK_HAS(text, "baton_pool_acquire_seconds_bucket{le=\"0.001\"} 2\n");
    CHECK_HAS(text, "baton_pool_acquire_seconds_bucket{le=\"+Inf\"} 3\n");
    CHECK_HAS(text, "baton_pool_acquire_seconds_sum 40.000000\n");
    CHECK_HAS(text, "baton_uptime_seconds 90\n");
    free(text);

    cJSON *doc = health_report(&src);
    cJSON *pool = cJSON_GetObjectItem(doc, "browser_pool");
    CHECK_INT(cJSON_GetObjectItem(cJSON_GetObjectItem(pool, "pages"), "busy")->valueint, 3);
    CHECK_INT(cJSON_GetObjectItem(pool, "browsers")->valueint, 2);
    /* waiters with a slow acquire degrade the engine */
    CHECK_STR(cJSON_GetObjectItem(doc, "status")->valuestring, "degraded");
    CHECK_INT(cJSON_GetObjectItem(doc, "uptime_s")->valueint, 90);
    cJSON_Delete(doc);

    obs_detach(o);
    obs_free(o);
    sched_free(sched);
    store_close(st);
    vclock_close(&clock);
    conf_free(&conf);
}
