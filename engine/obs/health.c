/* health.c — builds the JSON documents of the HTTP API from live state (the
 * scheduler, breakers, obs counters and the HTTP client's figures, loop lag)
 * and the store (the last hour of
 * runs, last runs, run history). */
#include "health.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/stats.h"

static const double WINDOW = 3600;

const char *health_status_name(health_status_t st) {
    return st == HEALTH_OK ? "ok" : st == HEALTH_DEGRADED ? "degraded" : "failing";
}

#define REASON(...)                                                                                \
    do {                                                                                           \
        if (n < nreasons) snprintf(reasons[n], sizeof reasons[n], __VA_ARGS__);                    \
        n++;                                                                                       \
    } while (0)

health_status_t health_rule(const health_inputs_t *in, char reasons[][160], size_t nreasons,
                            size_t *nout) {
    size_t n = 0;
    health_status_t st = HEALTH_OK;
    if (in->store_error) {
        REASON("the store cannot be read");
        st = HEALTH_FAILING;
    }
    if (in->store_write_error) {
        REASON("the store cannot write: %.120s", in->store_write_error);
        st = HEALTH_FAILING;
    }
    if (in->jobs_with_runs > 0 && in->jobs_all_failed == in->jobs_with_runs) {
        REASON("every run of the last hour failed");
        st = HEALTH_FAILING;
    } else if (in->jobs_all_failed > 0) {
        REASON("%d job(s) failed every run of the last hour", in->jobs_all_failed);
        if (st < HEALTH_DEGRADED) st = HEALTH_DEGRADED;
    }
    if (in->lag_p99_ms > 1000) {
        REASON("event-loop lag p99 is %.0f ms (over 1 s)", in->lag_p99_ms);
        st = HEALTH_FAILING;
    } else if (in->lag_p99_ms > 100) {
        REASON("event-loop lag p99 is %.0f ms (over 100 ms)", in->lag_p99_ms);
        if (st < HEALTH_DEGRADED) st = HEALTH_DEGRADED;
    }
    if (in->jobs_below_90 > in->jobs_all_failed) {
        REASON("%d job(s) succeeded in under 90%% of the last hour's runs",
               in->jobs_below_90 - in->jobs_all_failed);
        if (st < HEALTH_DEGRADED) st = HEALTH_DEGRADED;
    }
    if (in->breakers_open > 0) {
        REASON("%d breaker(s) open or half-open", in->breakers_open);
        if (st < HEALTH_DEGRADED) st = HEALTH_DEGRADED;
    }
    if (in->scripts_failed > 0) {
        REASON("%d script(s) failed to load", in->scripts_failed);
        if (st < HEALTH_DEGRADED) st = HEALTH_DEGRADED;
    }
    if (in->browser_trouble && in->browser_trouble[0]) {
        REASON("%.150s", in->browser_trouble);
        if (st < HEALTH_DEGRADED) st = HEALTH_DEGRADED;
    }
    if (in->pool_waiters > 0 && in->pool_acquire_p95_ms > 5000) {
        REASON("runs wait for browser contexts (acquire p95 %.0f ms)", in->pool_acquire_p95_ms);
        if (st < HEALTH_DEGRADED) st = HEALTH_DEGRADED;
    }
    *nout = n < nreasons ? n : nreasons;
    return st;
}

/* ---- the last hour, per job ---- */

typedef struct window_acc {
    const char *job; /* points into the scheduler's job */
    health_window_t w;
    double *ms; /* durations of started runs */
    size_t nms, capms;
} window_acc_t;

typedef struct windows {
    window_acc_t *acc; /* in the scheduler's name order */
    size_t n;
    int oom;
} windows_t;

static window_acc_t *acc_find(windows_t *ws, const char *job) {
    size_t lo = 0, hi = ws->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(job, ws->acc[mid].job);
        if (c == 0) return &ws->acc[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

static int add_summary(void *ud, const store_run_summary_t *r) {
    windows_t *ws = ud;
    window_acc_t *a = acc_find(ws, r->job);
    if (!a || strcmp(r->status, "skipped") == 0) return 0;
    a->w.runs++;
    if (strcmp(r->status, "ok") == 0)
        a->w.ok++;
    else if (strcmp(r->status, "failed") == 0)
        a->w.failed++;
    else if (strcmp(r->status, "fallback") == 0)
        a->w.fallback++;
    else if (strcmp(r->status, "cancelled") == 0)
        a->w.cancelled++;
    if (r->started_at > 0 && r->ended_at >= r->started_at) {
        if (a->nms == a->capms) {
            size_t cap = a->capms ? a->capms * 2 : 16;
            double *more = realloc(a->ms, cap * sizeof *more);
            if (!more) {
                ws->oom = 1;
                return 1;
            }
            a->ms = more;
            a->capms = cap;
        }
        a->ms[a->nms++] = (r->ended_at - r->started_at) * 1000;
    }
    return 0;
}

/* Fills ws with one accumulator per job (name order). Returns 0 or < 0 when
 * the store could not be read. */
static int windows_read(const health_src_t *src, windows_t *ws) {
    size_t n = sched_njobs(src->sched);
    ws->acc = calloc(n ? n : 1, sizeof *ws->acc);
    ws->n = 0;
    ws->oom = 0;
    if (!ws->acc) return -1;
    for (size_t i = 0; i < n; i++) {
        sched_job_info_t info;
        if (sched_job_info(src->sched, i, &info) == 0) ws->acc[ws->n++].job = info.job->name;
    }
    int rc = src->store
                 ? store_run_summaries(src->store, vclock_now(src->clock) - WINDOW, add_summary, ws)
                 : 0;
    for (size_t i = 0; i < ws->n; i++) {
        window_acc_t *a = &ws->acc[i];
        int finished = a->w.ok + a->w.failed + a->w.fallback;
        a->w.success_rate = finished ? (double)a->w.ok / finished : -1;
        a->w.p50_ms = stats_percentile(a->ms, a->nms, 50);
        a->w.p95_ms = stats_percentile(a->ms, a->nms, 95);
    }
    return rc < 0 || ws->oom ? -1 : 0;
}

static void windows_free(windows_t *ws) {
    for (size_t i = 0; i < ws->n; i++) free(ws->acc[i].ms);
    free(ws->acc);
}

/* ---- pieces ---- */

static void add_time(cJSON *o, const char *key, double t) {
    if (t > 0)
        cJSON_AddNumberToObject(o, key, t);
    else
        cJSON_AddNullToObject(o, key);
}

static void add_str(cJSON *o, const char *key, const char *s) {
    if (s)
        cJSON_AddStringToObject(o, key, s);
    else
        cJSON_AddNullToObject(o, key);
}

static double round1(double v) { return round(v * 10) / 10; }

static const char *job_state(const sched_job_info_t *info) {
    if (info->running) return "running";
    if (info->queued) return "waiting";
    if (info->paused) return "paused";
    return "idle";
}

typedef struct last_run {
    int found;
    char status[16], error_kind[32];
    double at, duration_ms;
} last_run_t;

static int take_last(void *ud, const store_run_t *r) {
    last_run_t *l = ud;
    l->found = 1;
    snprintf(l->status, sizeof l->status, "%s", r->status);
    snprintf(l->error_kind, sizeof l->error_kind, "%s", r->error_kind ? r->error_kind : "");
    l->at = r->ended_at > 0 ? r->ended_at : r->scheduled_at;
    l->duration_ms = r->started_at > 0 && r->ended_at >= r->started_at
                         ? (r->ended_at - r->started_at) * 1000
                         : 0;
    return 1;
}

static cJSON *job_object(const health_src_t *src, const sched_job_info_t *info,
                         const health_window_t *w) {
    const job_t *j = info->job;
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    char sched_text[160];
    job_describe_schedule(j, sched_text, sizeof sched_text);
    cJSON_AddStringToObject(o, "name", j->name);
    cJSON_AddStringToObject(o, "priority", job_priority_name(j->priority));
    cJSON_AddStringToObject(o, "state", job_state(info));
    cJSON_AddBoolToObject(o, "paused", info->paused);
    if (info->running) {
        cJSON *run = cJSON_AddObjectToObject(o, "running");
        cJSON_AddNumberToObject(run, "run_id", (double)info->run_id);
        add_time(run, "since", info->running_since);
    } else {
        cJSON_AddNullToObject(o, "running");
    }
    add_time(o, "next_run_at", info->next_at);
    cJSON_AddStringToObject(o, "schedule", sched_text);
    cJSON_AddStringToObject(o, "file", j->file ? j->file : "");
    last_run_t last = {0};
    if (src->store) store_runs(src->store, j->name, 1, take_last, &last);
    if (last.found) {
        cJSON *lr = cJSON_AddObjectToObject(o, "last_run");
        cJSON_AddStringToObject(lr, "status", last.status);
        add_time(lr, "at", last.at);
        cJSON_AddNumberToObject(lr, "duration_ms", round1(last.duration_ms));
        add_str(lr, "error_kind", last.error_kind[0] ? last.error_kind : NULL);
    } else {
        cJSON_AddNullToObject(o, "last_run");
    }
    cJSON_AddNumberToObject(o, "runs_1h", w ? w->runs : 0);
    if (w && w->success_rate >= 0)
        cJSON_AddNumberToObject(o, "success_rate_1h", round(w->success_rate * 10000) / 10000);
    else
        cJSON_AddNullToObject(o, "success_rate_1h");
    cJSON_AddNumberToObject(o, "p50_ms", w ? round1(w->p50_ms) : 0);
    cJSON_AddNumberToObject(o, "p95_ms", w ? round1(w->p95_ms) : 0);
    return o;
}

/* The jobs array; fills the job-related rule inputs when in != NULL. */
static cJSON *jobs_array(const health_src_t *src, health_inputs_t *in) {
    windows_t ws;
    int rc = windows_read(src, &ws);
    cJSON *arr = cJSON_CreateArray();
    if (in && rc < 0) in->store_error = 1;
    for (size_t i = 0; arr && i < sched_njobs(src->sched); i++) {
        sched_job_info_t info;
        if (sched_job_info(src->sched, i, &info) < 0) continue;
        const health_window_t *w = i < ws.n ? &ws.acc[i].w : NULL;
        cJSON_AddItemToArray(arr, job_object(src, &info, w));
        if (in && w && w->success_rate >= 0) {
            in->jobs_with_runs++;
            if (w->ok == 0) in->jobs_all_failed++;
            if (w->success_rate < 0.9) in->jobs_below_90++;
        }
    }
    windows_free(&ws);
    return arr;
}

static cJSON *pool_object(const obs_pool_t *p) {
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    cJSON_AddNumberToObject(o, "browsers", p->browsers);
    cJSON_AddNumberToObject(o, "browser_contexts", p->browser_contexts);
    cJSON *c = cJSON_AddObjectToObject(o, "pages");
    cJSON_AddNumberToObject(c, "total", p->pages_total);
    cJSON_AddNumberToObject(c, "busy", p->pages_busy);
    cJSON_AddNumberToObject(c, "idle", p->pages_idle);
    cJSON_AddNumberToObject(c, "reserved", p->pages_reserved);
    cJSON_AddNumberToObject(c, "max", p->pages_max);
    cJSON_AddNumberToObject(o, "waiters", p->waiters);
    cJSON_AddNumberToObject(o, "created_total", (double)p->created_total);
    cJSON_AddNumberToObject(o, "reused_total", (double)p->reused_total);
    cJSON_AddNumberToObject(o, "recycled_total", (double)p->recycled_total);
    cJSON_AddNumberToObject(o, "crashes_total", (double)p->crashes_total);
    cJSON_AddNumberToObject(o, "hangs_total", (double)p->hangs_total);
    cJSON_AddNumberToObject(o, "acquire_p95_ms", round1(p->acquire_p95_ms));
    if (p->launched) { /* browsers at browser.endpoints are not the engine's to say */
        cJSON_AddStringToObject(o, "user", p->user);
        cJSON_AddBoolToObject(o, "sandbox", p->sandbox);
        if (!p->sandbox) cJSON_AddStringToObject(o, "sandbox_off", p->sandbox_off);
    }
    return o;
}

typedef struct breaker_walk {
    cJSON *arr;
    int open;
} breaker_walk_t;

static void add_breaker(void *ud, const char *name, breaker_t *b) {
    breaker_walk_t *bw = ud;
    breaker_saved_t s;
    breaker_snapshot(b, &s);
    cJSON *o = cJSON_CreateObject();
    if (!o) return;
    cJSON_AddStringToObject(o, "name", name);
    cJSON_AddStringToObject(o, "state", breaker_state_name(s.state));
    cJSON_AddNumberToObject(o, "failures", s.failures);
    add_time(o, "opened_at", s.opened_at);
    cJSON_AddItemToArray(bw->arr, o);
    if (s.state != BREAKER_CLOSED) bw->open++;
}

/* The breakers array; *open gets how many are not closed. */
static cJSON *breakers_array(const health_src_t *src, int *open) {
    breaker_walk_t bw = {cJSON_CreateArray(), 0};
    if (bw.arr && src->circuits) circuits_each(src->circuits, add_breaker, &bw);
    *open = bw.open;
    return bw.arr;
}

cJSON *health_breakers(const health_src_t *src) {
    int open;
    return breakers_array(src, &open);
}

/* The HTTP client: in flight, requests by host and outcome, latency. */
static cJSON *http_client_object(obs_t *obs) {
    httpstat_t *s = obs_http_client(obs);
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    cJSON_AddNumberToObject(o, "in_flight", (double)httpstat_inflight(s));
    cJSON_AddNumberToObject(o, "requests_total", (double)s->total);
    cJSON *by_host = cJSON_AddObjectToObject(o, "requests");
    for (size_t i = 0; by_host && i <= s->nhosts; i++) {
        const httpstat_host_t *h = i < s->nhosts ? &s->hosts[i] : &s->other;
        uint64_t sum = 0;
        for (int k = 0; k < HTTPSTAT_OUTCOMES; k++) sum += h->requests[k];
        if (i == s->nhosts && sum == 0) break; /* "other" only once it counts */
        cJSON *row = cJSON_AddObjectToObject(by_host, h->name);
        for (int k = 0; row && k < HTTPSTAT_OUTCOMES; k++)
            cJSON_AddNumberToObject(row, httpstat_outcome_name((httpstat_outcome_t)k),
                                    (double)h->requests[k]);
    }
    double p50, p95, p99;
    size_t n = httpstat_latency(s, &p50, &p95, &p99);
    cJSON *lat = cJSON_AddObjectToObject(o, "latency_ms");
    cJSON_AddNumberToObject(lat, "p50", round1(p50));
    cJSON_AddNumberToObject(lat, "p95", round1(p95));
    cJSON_AddNumberToObject(lat, "p99", round1(p99));
    cJSON_AddNumberToObject(lat, "samples", (double)n);
    return o;
}

static cJSON *errors_array(const health_src_t *src) {
    const obs_error_t *errs;
    size_t n = obs_recent_errors(src->obs, &errs);
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 0; arr && i < n; i++) {
        cJSON *o = cJSON_CreateObject();
        if (!o) break;
        add_time(o, "at", errs[i].at);
        cJSON_AddStringToObject(o, "job", errs[i].job);
        cJSON_AddNumberToObject(o, "run_id", (double)errs[i].run_id);
        cJSON_AddStringToObject(o, "kind", errs[i].kind);
        cJSON_AddStringToObject(o, "message", errs[i].message);
        cJSON_AddItemToArray(arr, o);
    }
    return arr;
}

static cJSON *scripts_array(const health_src_t *src, int *failed) {
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 0; arr && i < obs_nscripts(src->obs); i++) {
        const obs_script_t *s = obs_script_at(src->obs, i);
        cJSON *o = cJSON_CreateObject();
        if (!o) break;
        cJSON_AddStringToObject(o, "file", s->file);
        add_time(o, "loaded_at", s->loaded_at);
        cJSON_AddNumberToObject(o, "version", s->version);
        add_str(o, "error", s->error);
        cJSON_AddItemToArray(arr, o);
        if (s->error) (*failed)++;
    }
    return arr;
}

cJSON *health_report(const health_src_t *src) {
    health_inputs_t in = {0};
    obs_pool_t pool;
    lag_stats_t lag = {0};
    double now = vclock_now(src->clock);
    cJSON *doc = cJSON_CreateObject();
    if (!doc) return NULL;
    /* status first in the text; filled in last */
    cJSON *status = cJSON_AddStringToObject(doc, "status", "ok");
    cJSON *reasons = cJSON_AddArrayToObject(doc, "status_reasons");
    cJSON_AddNumberToObject(doc, "uptime_s", floor(now - src->started_at));
    cJSON_AddStringToObject(doc, "version", src->version ? src->version : "");
    cJSON_AddNumberToObject(doc, "now", now);
    cJSON_AddItemToObject(doc, "jobs", jobs_array(src, &in));
    in.store_write_error = src->store ? store_write_error(src->store) : NULL;

    obs_pool(src->obs, &pool);
    cJSON_AddItemToObject(doc, "browser_pool", pool_object(&pool));
    in.pool_waiters = pool.waiters;
    in.pool_acquire_p95_ms = pool.acquire_p95_ms;
    in.browser_trouble = pool.trouble;

    cJSON_AddItemToObject(doc, "breakers", breakers_array(src, &in.breakers_open));
    cJSON_AddItemToObject(doc, "http_client", http_client_object(src->obs));

    cJSON_AddItemToObject(doc, "recent_errors", errors_array(src));
    cJSON_AddItemToObject(doc, "scripts", scripts_array(src, &in.scripts_failed));

    cJSON *runs = cJSON_AddObjectToObject(doc, "runs");
    cJSON_AddNumberToObject(runs, "running", (double)sched_running(src->sched));
    cJSON_AddNumberToObject(runs, "waiting", (double)sched_queued(src->sched));

    if (src->lag) lag_stats(src->lag, &lag);
    cJSON *lo = cJSON_AddObjectToObject(doc, "loop_lag_ms");
    cJSON_AddNumberToObject(lo, "p50", round(lag.p50_ms * 100) / 100);
    cJSON_AddNumberToObject(lo, "p99", round(lag.p99_ms * 100) / 100);
    cJSON_AddNumberToObject(lo, "max", round(lag.max_ms * 100) / 100);
    in.lag_p99_ms = lag.p99_ms;

    char why[8][160];
    size_t nwhy;
    health_status_t st = health_rule(&in, why, 8, &nwhy);
    cJSON_SetValuestring(status, health_status_name(st));
    for (size_t i = 0; i < nwhy; i++) cJSON_AddItemToArray(reasons, cJSON_CreateString(why[i]));
    return doc;
}

cJSON *health_jobs(const health_src_t *src) { return jobs_array(src, NULL); }

/* A row of a list carries at most this much of its result's JSON; the single
 * run's answer carries it whole. (An error is at most 1 KB when stored.) */
enum { LIST_RESULT_MAX = 2048 };

/* A row for a list (cut) or for one run (whole): in a list, a result past
 * LIST_RESULT_MAX is null and "truncated": { "result": BYTES } says so. */
static cJSON *run_object(const store_run_t *r, int cut) {
    store_field_t f[STORE_RUN_FIELDS];
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    store_run_fields(r, f);
    for (int i = 0; i < STORE_RUN_FIELDS; i++) {
        cJSON *v = NULL;
        switch (f[i].kind) {
        case STORE_FIELD_INT:
            v = cJSON_CreateNumber((double)f[i].integer);
            break;
        case STORE_FIELD_TIME:
            v = cJSON_CreateNumber(f[i].time);
            break;
        case STORE_FIELD_TEXT:
            v = cJSON_CreateString(f[i].text);
            break;
        case STORE_FIELD_JSON: {
            size_t len = strlen(f[i].text);
            if (!cut || len <= LIST_RESULT_MAX) {
                v = cJSON_Parse(f[i].text);
            } else {
                cJSON *t = cJSON_AddObjectToObject(o, "truncated");
                if (t) cJSON_AddNumberToObject(t, f[i].key, (double)len);
            }
            break;
        }
        case STORE_FIELD_NULL:
            break;
        }
        cJSON_AddItemToObject(o, f[i].key, v ? v : cJSON_CreateNull());
    }
    return o;
}

static int add_run(void *ud, const store_run_t *r) {
    cJSON_AddItemToArray(ud, run_object(r, 1));
    return 0;
}

static int add_attempt(void *ud, const store_run_t *r) {
    cJSON *o = ud;
    if (!cJSON_GetObjectItemCaseSensitive(o, "run_id")) {
        cJSON_AddNumberToObject(o, "run_id", (double)r->run_id);
        cJSON_AddStringToObject(o, "job", r->job);
    }
    cJSON_AddItemToArray(cJSON_GetObjectItemCaseSensitive(o, "attempts"), run_object(r, 0));
    return 0;
}

cJSON *health_runs(const health_src_t *src, const char *job, int limit) {
    cJSON *arr = cJSON_CreateArray();
    if (arr && src->store && store_runs(src->store, job, limit, add_run, arr) < 0) {
        cJSON_Delete(arr);
        return NULL;
    }
    return arr;
}

cJSON *health_run(const health_src_t *src, int64_t run_id, int *missing) {
    cJSON *o = cJSON_CreateObject();
    *missing = 0;
    if (!o || !cJSON_AddArrayToObject(o, "attempts") || !src->store ||
        store_run_attempts(src->store, run_id, add_attempt, o) < 0) {
        cJSON_Delete(o);
        return NULL;
    }
    if (!cJSON_GetObjectItemCaseSensitive(o, "run_id")) {
        cJSON_Delete(o);
        *missing = 1;
        return NULL;
    }
    return o;
}

cJSON *health_job(const health_src_t *src, const char *name, int runs) {
    sched_job_info_t info;
    if (sched_job_info_by_name(src->sched, name, &info) < 0) return NULL;
    windows_t ws;
    windows_read(src, &ws);
    window_acc_t *acc = acc_find(&ws, name);
    cJSON *o = job_object(src, &info, acc ? &acc->w : NULL);
    windows_free(&ws);
    if (!o) return NULL;
    const job_t *j = info.job;
    add_str(o, "breaker", j->breaker);
    add_str(o, "after", j->after);
    cJSON_AddNumberToObject(o, "timeout_s", j->timeout);
    cJSON_AddNumberToObject(o, "attempts", j->retry.attempts);
    cJSON_AddBoolToObject(o, "browser", j->browser);
    cJSON_AddItemToObject(o, "runs", health_runs(src, name, runs));
    return o;
}
