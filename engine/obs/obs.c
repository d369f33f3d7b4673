/* obs.c — counters and the event feed behind health, metrics and the
 * dashboard. Fed by the scheduler's observer (starts, ends, pauses), the
 * store's row hook (every attempt: errors, retries, durations) and the
 * breakers' change hook. Events are JSON made with cJSON. */
#include "obs.h"

#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "browser/pool.h"

const double obs_acquire_bounds_ms[OBS_ACQUIRE_BUCKETS] = {1,   5,    10,   25,   50,    100,  250,
                                                           500, 1000, 2500, 5000, 10000, 30000};
const double obs_duration_bounds_s[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
                                        2.5,   5,    10,    30,   60,  120,  300, 600};
const size_t obs_duration_nbounds = sizeof obs_duration_bounds_s / sizeof *obs_duration_bounds_s;

struct obs {
    obs_job_t *jobs; /* sorted by name */
    size_t njobs, capjobs;
    obs_error_t errors[OBS_RECENT_ERRORS]; /* newest first */
    size_t nerrors;
    obs_script_t *scripts;
    size_t nscripts;
    obs_event_fn on_event;
    void *event_ud;
    obs_pool_fn pool;
    void *pool_ud;
    pool_t *watched; /* obs_watch_pool */
    int max_pages;
    uint64_t acquire_buckets[OBS_ACQUIRE_BUCKETS + 1];
    double acquire_sum_ms;
    uint64_t acquire_count;
    sched_t *sched;
    store_t *store;
    circuits_t *circuits;
    httpstat_t http; /* obs_watch_httpc */
};

static const char *const status_names[OBS_STATUS_COUNT] = {"ok", "failed", "fallback", "skipped",
                                                           "cancelled"};

const char *obs_status_name(obs_status_t st) {
    return st < OBS_STATUS_COUNT ? status_names[st] : "unknown";
}

static obs_status_t status_of(const char *name) {
    for (int i = 0; i < OBS_STATUS_COUNT; i++)
        if (name && strcmp(name, status_names[i]) == 0) return (obs_status_t)i;
    return OBS_STATUS_COUNT;
}

obs_t *obs_new(void) {
    obs_t *o = calloc(1, sizeof *o);
    if (o) httpstat_init(&o->http);
    return o;
}

/* The counters of job, created on first sight; NULL when out of memory. */
static obs_job_t *job_of(obs_t *o, const char *name) {
    size_t lo = 0, hi = o->njobs;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(name, o->jobs[mid].name);
        if (c == 0) return &o->jobs[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    if (o->njobs == o->capjobs) {
        size_t cap = o->capjobs ? o->capjobs * 2 : 16;
        obs_job_t *more = realloc(o->jobs, cap * sizeof *more);
        if (!more) return NULL;
        o->jobs = more;
        o->capjobs = cap;
    }
    char *copy = strdup(name);
    if (!copy) return NULL;
    memmove(o->jobs + lo + 1, o->jobs + lo, (o->njobs - lo) * sizeof *o->jobs);
    obs_job_t *j = &o->jobs[lo];
    memset(j, 0, sizeof *j);
    j->name = copy;
    stats_hist_init(&j->duration, obs_duration_bounds_s, obs_duration_nbounds);
    o->njobs++;
    return j;
}

static void emit(obs_t *o, cJSON *ev) {
    if (o->on_event && ev) {
        char *text = cJSON_PrintUnformatted(ev);
        if (text) o->on_event(o->event_ud, text);
        free(text);
    }
    cJSON_Delete(ev);
}

static cJSON *event(const char *type, double at) {
    cJSON *ev = cJSON_CreateObject();
    if (!ev) return NULL;
    cJSON_AddStringToObject(ev, "type", type);
    cJSON_AddNumberToObject(ev, "at", at);
    return ev;
}

static void on_start(void *ud, const sched_start_t *st, double now) {
    obs_t *o = ud;
    if (!o->on_event) return;
    cJSON *ev = event("run_started", now);
    if (!ev) return;
    cJSON_AddStringToObject(ev, "job", st->job->name);
    cJSON_AddNumberToObject(ev, "run_id", (double)st->run_id);
    cJSON_AddNumberToObject(ev, "scheduled_at", st->scheduled_at);
    cJSON_AddStringToObject(ev, "cause", st->cause ? st->cause : "");
    emit(o, ev);
}

static void on_end(void *ud, const char *job, int64_t run_id, const char *status,
                   const char *error_kind, double ended_at) {
    obs_t *o = ud;
    obs_job_t *j = job_of(o, job);
    obs_status_t st = status_of(status);
    if (j && st < OBS_STATUS_COUNT) j->runs[st]++;
    /* a launched run's kind is on its last row, written just before it ends */
    if (!error_kind && j && j->last_kind[0] && st != OBS_OK) error_kind = j->last_kind;
    if (!o->on_event) return;
    cJSON *ev = event("run_ended", ended_at);
    if (!ev) return;
    cJSON_AddStringToObject(ev, "job", job);
    cJSON_AddNumberToObject(ev, "run_id", (double)run_id);
    cJSON_AddStringToObject(ev, "status", status);
    if (error_kind)
        cJSON_AddStringToObject(ev, "error_kind", error_kind);
    else
        cJSON_AddNullToObject(ev, "error_kind");
    emit(o, ev);
}

static void on_pause(void *ud, const char *job, int paused) {
    obs_t *o = ud;
    cJSON *ev = event(paused ? "job_paused" : "job_resumed", 0);
    if (!ev) return;
    cJSON_DeleteItemFromObject(ev, "at");
    cJSON_AddStringToObject(ev, "job", job);
    emit(o, ev);
}

static void add_error(obs_t *o, double at, int64_t run_id, const char *job, const char *kind,
                      const char *message) {
    size_t keep = o->nerrors < OBS_RECENT_ERRORS ? o->nerrors : OBS_RECENT_ERRORS - 1;
    memmove(o->errors + 1, o->errors, keep * sizeof *o->errors);
    obs_error_t *e = &o->errors[0];
    e->at = at;
    e->run_id = run_id;
    snprintf(e->job, sizeof e->job, "%s", job);
    snprintf(e->kind, sizeof e->kind, "%s", kind ? kind : "");
    snprintf(e->message, sizeof e->message, "%s", message ? message : "");
    o->nerrors = keep + 1;
}

static int is_failure(const char *status) {
    return strcmp(status, "failed") == 0 || strcmp(status, "fallback") == 0;
}

static void on_row(void *ud, const store_run_t *r) {
    obs_t *o = ud;
    obs_job_t *j = job_of(o, r->job);
    if (!j) return;
    if (r->attempt > 1 && r->started_at > 0) j->retries++;
    if (r->started_at > 0 && r->ended_at >= r->started_at)
        stats_hist_add(&j->duration, r->ended_at - r->started_at);
    snprintf(j->last_kind, sizeof j->last_kind, "%s", r->error_kind ? r->error_kind : "");
    if (!is_failure(r->status)) return;
    err_kind_t kind;
    if (r->error_kind && err_kind_parse(r->error_kind, &kind) == 0) j->errors[kind]++;
    add_error(o, r->ended_at, r->run_id, r->job, r->error_kind, r->error);
    if (!o->on_event) return;
    cJSON *ev = event("attempt_failed", r->ended_at);
    if (!ev) return;
    cJSON_AddStringToObject(ev, "job", r->job);
    cJSON_AddNumberToObject(ev, "run_id", (double)r->run_id);
    cJSON_AddNumberToObject(ev, "attempt", r->attempt);
    cJSON_AddStringToObject(ev, "kind", r->error_kind ? r->error_kind : "");
    cJSON_AddStringToObject(ev, "message", r->error ? r->error : "");
    emit(o, ev);
}

static void on_breaker(void *ud, const char *name, breaker_state_t from, breaker_state_t to,
                       double now) {
    obs_t *o = ud;
    cJSON *ev = event("breaker", now);
    if (!ev) return;
    cJSON_AddStringToObject(ev, "name", name);
    cJSON_AddStringToObject(ev, "from", breaker_state_name(from));
    cJSON_AddStringToObject(ev, "state", breaker_state_name(to));
    emit(o, ev);
}

static int seed_error(void *ud, const store_run_t *r) {
    obs_t *o = ud;
    /* store_run_errors gives newest first; the ring wants oldest added first */
    if (o->nerrors < OBS_RECENT_ERRORS) {
        obs_error_t *e = &o->errors[o->nerrors++];
        e->at = r->ended_at;
        e->run_id = r->run_id;
        snprintf(e->job, sizeof e->job, "%s", r->job);
        snprintf(e->kind, sizeof e->kind, "%s", r->error_kind ? r->error_kind : "");
        snprintf(e->message, sizeof e->message, "%s", r->error ? r->error : "");
    }
    return 0;
}

void obs_attach(obs_t *o, sched_t *sched, store_t *store, circuits_t *circuits) {
    o->sched = sched;
    o->store = store;
    o->circuits = circuits;
    if (sched) sched_observe(sched, &(sched_observer_t){on_start, on_end, on_pause, o});
    if (store) {
        o->nerrors = 0;
        store_run_errors(store, OBS_RECENT_ERRORS, seed_error, o);
        store_on_run(store, on_row, o);
    }
    if (circuits) circuits_observe(circuits, on_breaker, o);
}

void obs_detach(obs_t *o) {
    if (!o) return;
    if (o->sched) sched_observe(o->sched, NULL);
    if (o->store) store_on_run(o->store, NULL, NULL);
    if (o->circuits) circuits_observe(o->circuits, NULL, NULL);
    httpstat_watch(&o->http, NULL);
    o->sched = NULL;
    o->store = NULL;
    o->circuits = NULL;
}

void obs_free(obs_t *o) {
    if (!o) return;
    for (size_t i = 0; i < o->njobs; i++) free(o->jobs[i].name);
    free(o->jobs);
    for (size_t i = 0; i < o->nscripts; i++) {
        free(o->scripts[i].file);
        free(o->scripts[i].error);
    }
    free(o->scripts);
    free(o);
}

void obs_on_event(obs_t *o, obs_event_fn fn, void *ud) {
    o->on_event = fn;
    o->event_ud = ud;
}

void obs_set_pool(obs_t *o, obs_pool_fn fn, void *ud) {
    o->pool = fn;
    o->pool_ud = ud;
}

void obs_pool(const obs_t *o, obs_pool_t *out) {
    memset(out, 0, sizeof *out);
    if (o->pool) o->pool(o->pool_ud, out);
}

static void on_acquire(void *ud, double ms) {
    obs_t *o = ud;
    size_t b = 0;
    while (b < OBS_ACQUIRE_BUCKETS && ms > obs_acquire_bounds_ms[b]) b++;
    o->acquire_buckets[b]++;
    o->acquire_sum_ms += ms;
    o->acquire_count++;
}

/* The watched pool's figures as health and metrics read them. */
static void read_pool(void *ud, obs_pool_t *out) {
    obs_t *o = ud;
    pool_figures_t f;
    pool_figures(o->watched, &f);
    out->browsers = f.browsers;
    out->pages_total = f.pages;
    out->browser_contexts = f.browser_contexts;
    out->pages_busy = f.busy;
    out->pages_idle = f.idle;
    out->pages_reserved = f.reserved;
    out->pages_max = o->max_pages;
    out->waiters = f.waiters;
    out->created_total = (uint64_t)f.created_total;
    out->reused_total = (uint64_t)f.reused_total;
    out->recycled_total = (uint64_t)f.recycled_total;
    out->crashes_total = (uint64_t)f.crashes_total;
    out->hangs_total = (uint64_t)f.hangs_total;
    out->launched = f.launched;
    snprintf(out->user, sizeof out->user, "%s", f.user);
    out->sandbox = f.sandbox;
    snprintf(out->sandbox_off, sizeof out->sandbox_off, "%s", f.sandbox_off);
    snprintf(out->trouble, sizeof out->trouble, "%.299s", f.trouble);
    out->acquire_p95_ms = f.acquire_p95_ms;
    memcpy(out->acquire_buckets, o->acquire_buckets, sizeof out->acquire_buckets);
    out->acquire_sum_ms = o->acquire_sum_ms;
    out->acquire_count = o->acquire_count;
}

void obs_watch_pool(obs_t *o, pool_t *pool, int max_pages) {
    o->watched = pool;
    o->max_pages = max_pages;
    obs_set_pool(o, pool ? read_pool : NULL, o);
    if (pool) pool_on_acquire(pool, on_acquire, o);
}

void obs_watch_httpc(obs_t *o, httpc_t *client) { httpstat_watch(&o->http, client); }

httpstat_t *obs_http_client(obs_t *o) { return &o->http; }

void obs_script(obs_t *o, const char *file, double at, const char *error) {
    char name[4096];
    if (!file) {
        /* "file:line: message" */
        const char *colon = error ? strchr(error, ':') : NULL;
        size_t n = colon ? (size_t)(colon - error) : 0;
        if (n >= sizeof name) n = sizeof name - 1;
        memcpy(name, error ? error : "", n);
        name[n] = 0;
        file = name;
    }
    obs_script_t *s = NULL;
    for (size_t i = 0; i < o->nscripts; i++)
        if (strcmp(o->scripts[i].file, file) == 0) s = &o->scripts[i];
    if (!s) {
        obs_script_t *more = realloc(o->scripts, (o->nscripts + 1) * sizeof *more);
        if (!more) return;
        o->scripts = more;
        s = &o->scripts[o->nscripts];
        *s = (obs_script_t){.file = strdup(file)};
        if (!s->file) return;
        o->nscripts++;
    }
    free(s->error);
    s->error = error ? strdup(error) : NULL;
    if (!error) {
        s->loaded_at = at;
        s->version++;
    }
}

void obs_script_clear(obs_t *o, const char *file) {
    for (size_t i = 0; i < o->nscripts; i++) {
        if (strcmp(o->scripts[i].file, file) != 0) continue;
        free(o->scripts[i].error);
        o->scripts[i].error = NULL;
    }
}

void obs_reloaded(obs_t *o, double at, int reloaded, int loaded, int removed, int failed,
                  size_t jobs) {
    if (!o->on_event) return;
    cJSON *ev = event("scripts_reloaded", at);
    if (!ev) return;
    cJSON_AddBoolToObject(ev, "reloaded", reloaded);
    cJSON_AddNumberToObject(ev, "loaded", loaded);
    cJSON_AddNumberToObject(ev, "removed", removed);
    cJSON_AddNumberToObject(ev, "failed", failed);
    cJSON_AddNumberToObject(ev, "jobs", (double)jobs);
    emit(o, ev);
}

void obs_script_forget(obs_t *o, const char *file) {
    for (size_t i = 0; i < o->nscripts; i++) {
        if (strcmp(o->scripts[i].file, file) != 0) continue;
        free(o->scripts[i].file);
        free(o->scripts[i].error);
        memmove(&o->scripts[i], &o->scripts[i + 1], (o->nscripts - i - 1) * sizeof *o->scripts);
        o->nscripts--;
        return;
    }
}

size_t obs_njobs(const obs_t *o) { return o->njobs; }
const obs_job_t *obs_job(const obs_t *o, size_t i) { return i < o->njobs ? &o->jobs[i] : NULL; }
size_t obs_nscripts(const obs_t *o) { return o->nscripts; }
const obs_script_t *obs_script_at(const obs_t *o, size_t i) {
    return i < o->nscripts ? &o->scripts[i] : NULL;
}

size_t obs_recent_errors(const obs_t *o, const obs_error_t **out) {
    *out = o->errors;
    return o->nerrors;
}
