/* sched.c — job timers on the vclock, the overlap / dependency / pause checks
 * each start goes through, misfire handling at start-up, and dispatch from the
 * ready queue. Dispatch always happens from a timer callback (never from
 * inside a Lua call), so a run is never started re-entrantly. */
#include "sched.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "spread.h"
#include "base/units.h"

enum { BACKLOG_MAX = 16 };
static const double AGING = 60.0;          /* seconds waited per priority level gained */
static const double CATCHUP_STAGGER = 1.0; /* seconds between misfire catch-ups */

struct sched_job {
    sched_t *s;
    job_t *job;
    vtimer_t timer;   /* next scheduled start (due + jitter) */
    double next_due;  /* its nominal time */
    vtimer_t catchup; /* misfire run_once */
    double catchup_due;
    sched_start_t *current; /* launched */
    sched_start_t *pending; /* in the ready queue */
    sched_start_t *backlog, *backlog_tail;
    int nbacklog;
    store_job_state_t state;
    int dirty;                    /* state changed since the last sched_save */
    struct sched_job **followers; /* jobs with `after` = this one */
    size_t nfollowers;
    int retired; /* removed by a reload; freed when its run ends */
    struct sched_job *next_retired;
};

struct sched {
    vclock_t *clock;
    store_t *store;
    const conf_t *conf;
    sched_hooks_t hooks;
    uint64_t rng;
    sched_job_t **jobs; /* in definition order */
    size_t njobs;
    sched_job_t **by_name; /* the same, sorted by name, for lookups */
    sched_job_t *retired;  /* removed jobs whose run is still going */
    prioq_t ready;
    vtimer_t dispatch;
    size_t running;
    int64_t next_run_id; /* without a store */
    int started;         /* sched_start was called: a new job set is a reload */
    int stopped;
    int plan; /* read the store, never write it */
    sched_observer_t observer;
};

/* ---- helpers ---- */

static double rand01(sched_t *s) {
    /* xorshift64*: reproducible jitter for a given seed */
    s->rng ^= s->rng >> 12;
    s->rng ^= s->rng << 25;
    s->rng ^= s->rng >> 27;
    return (double)((s->rng * 2685821657736338717ULL) >> 11) / 9007199254740992.0;
}

static int by_name_cmp(const void *a, const void *b) {
    return strcmp((*(sched_job_t *const *)a)->job->name, (*(sched_job_t *const *)b)->job->name);
}

static int name_vs_sj(const void *name, const void *el) {
    return strcmp(name, (*(sched_job_t *const *)el)->job->name);
}

/* The position of name in by_name (n entries sorted by name), or -1. */
static long lookup(sched_job_t *const *by_name, size_t n, const char *name) {
    sched_job_t *const *at = n ? bsearch(name, by_name, n, sizeof *by_name, name_vs_sj) : NULL;
    return at ? (long)(at - by_name) : -1;
}

static sched_job_t *find(const sched_t *s, const char *name) {
    long i = lookup(s->by_name, s->njobs, name);
    return i < 0 ? NULL : s->by_name[i];
}

job_t *sched_find(const sched_t *s, const char *name) {
    sched_job_t *sj = find(s, name);
    return sj ? sj->job : NULL;
}

static int64_t new_run_id(sched_t *s) {
    return s->store && !s->plan ? store_run_id_next(s->store) : ++s->next_run_id;
}

void sched_plan_mode(sched_t *s) { s->plan = 1; }

/* Job state is written in batches by sched_save (one row per changed job per
 * flush), not on every start. */
static void save_state(sched_t *s, sched_job_t *sj) {
    (void)s;
    sj->dirty = 1;
}

static int save_now(sched_t *s, sched_job_t *sj) {
    if (!sj->dirty) return 0;
    sj->dirty = 0;
    if (!s->store || s->plan) return 0;
    if (store_job_put(s->store, sj->job->name, &sj->state) < 0) {
        log_emit(LOG_ERROR, sj->job->name, 0, "cannot save job state: %s", store_errmsg(s->store));
        return -EIO;
    }
    return 0;
}

int sched_save(sched_t *s) {
    int rc = 0;
    for (size_t i = 0; i < s->njobs; i++)
        if (save_now(s, s->jobs[i]) < 0) rc = -EIO;
    return rc;
}

static void observe_end(sched_t *s, const char *job, int64_t run_id, const char *status,
                        const char *error_kind) {
    if (s->observer.on_end)
        s->observer.on_end(s->observer.ud, job, run_id, status, error_kind, vclock_now(s->clock));
}

static void record_skip(sched_t *s, sched_job_t *sj, double scheduled_at, err_kind_t kind,
                        const char *why) {
    int64_t run_id = new_run_id(s);
    log_emit(LOG_INFO, sj->job->name, run_id, "skipped (%s): %s", err_kind_name(kind), why);
    observe_end(s, sj->job->name, run_id, "skipped", err_kind_name(kind));
    if (!s->store || s->plan) return;
    store_run_t row = {.run_id = run_id,
                       .job = sj->job->name,
                       .attempt = 1,
                       .scheduled_at = scheduled_at,
                       .status = "skipped",
                       .error_kind = err_kind_name(kind),
                       .error = why};
    if (store_run_add(s->store, &row) < 0)
        log_emit(LOG_ERROR, sj->job->name, run_id, "cannot record run: %s", store_errmsg(s->store));
}

static void record_cancel(sched_t *s, sched_start_t *st, const char *why) {
    log_emit(LOG_INFO, st->job->name, st->run_id, "cancelled before it started: %s", why);
    observe_end(s, st->job->name, st->run_id, "cancelled", "cancelled");
    if (!s->store || s->plan) return;
    store_run_t row = {.run_id = st->run_id,
                       .job = st->job->name,
                       .attempt = 1,
                       .scheduled_at = st->scheduled_at,
                       .ended_at = vclock_now(s->clock),
                       .status = "cancelled",
                       .error_kind = "cancelled",
                       .error = why};
    store_run_add(s->store, &row);
}

static void start_free(sched_start_t *st) {
    if (!st) return;
    job_unref(st->job);
    free(st->args_json);
    free(st);
}

/* ---- dispatch ---- */

static void on_dispatch(vtimer_t *t) {
    sched_t *s = t->data;
    size_t limit = (size_t)s->conf->max_concurrent_runs;
    while (!s->stopped && s->running < limit) {
        prioq_item_t *it = prioq_pop(&s->ready);
        if (!it) break;
        sched_start_t *st = (sched_start_t *)it;
        sched_job_t *sj = st->sj;
        sj->pending = NULL;
        sj->current = st;
        st->launched_at = vclock_now(s->clock);
        s->running++;
        if (s->observer.on_start) s->observer.on_start(s->observer.ud, st, vclock_now(s->clock));
        s->hooks.launch(s->hooks.ud, st);
    }
}

static void dispatch_soon(sched_t *s) {
    if (!vtimer_active(&s->dispatch)) {
        s->dispatch.data = s;
        vtimer_start(s->clock, &s->dispatch, vclock_now(s->clock), on_dispatch);
    }
}

static void enqueue(sched_t *s, sched_start_t *st) {
    st->sj->pending = st;
    if (prioq_push(&s->ready, &st->q, (int)st->job->priority, vclock_now(s->clock)) < 0) {
        st->sj->pending = NULL;
        log_emit(LOG_ERROR, st->job->name, st->run_id, "out of memory queueing the start");
        record_cancel(s, st, "out of memory");
        start_free(st);
        return;
    }
    dispatch_soon(s);
}

/* Why a job's dependencies are not met, or NULL when they are. */
static const char *unmet_requires(sched_t *s, sched_job_t *sj, double now, char *buf, size_t len) {
    for (int i = 0; i < sj->job->nrequires; i++) {
        const job_require_t *req = &sj->job->requires[i];
        sched_job_t *dep = find(s, req->job);
        double last = dep ? dep->state.last_ok : 0;
        if (last <= 0 || now - last > req->within) {
            char win[32];
            units_format_duration(req->within, win, sizeof win);
            if (last <= 0)
                snprintf(buf, len, "'%s' has not succeeded yet (needed within %s)", req->job, win);
            else
                snprintf(buf, len, "'%s' last succeeded %.0fs ago (needed within %s)", req->job,
                         now - last, win);
            return buf;
        }
    }
    return NULL;
}

/* Every start comes through here: pause, dependencies, overlap, then the queue. */
static void offer(sched_t *s, sched_job_t *sj, double scheduled_at, const char *cause,
                  char *args_json, int manual) {
    char why[256];
    job_t *j = sj->job;
    if (s->stopped) {
        free(args_json);
        return;
    }
    if (sj->state.paused && !manual) {
        record_skip(s, sj, scheduled_at, ERR_PAUSED, "the job is paused");
        free(args_json);
        return;
    }
    /* A plan shows the schedule: it assumes every dependency is met. */
    if (!manual && !s->plan && unmet_requires(s, sj, vclock_now(s->clock), why, sizeof why)) {
        record_skip(s, sj, scheduled_at, ERR_DEPENDENCY, why);
        free(args_json);
        return;
    }
    int busy = sj->current || sj->pending;
    if (busy && j->overlap == OVERLAP_SKIP) {
        record_skip(s, sj, scheduled_at, ERR_OVERLAP, "the previous run is still going");
        free(args_json);
        return;
    }
    if (busy && j->overlap == OVERLAP_QUEUE && sj->nbacklog >= BACKLOG_MAX) {
        record_skip(s, sj, scheduled_at, ERR_OVERLAP, "the queue of waiting runs is full");
        free(args_json);
        return;
    }
    sched_start_t *st = calloc(1, sizeof *st);
    if (!st) {
        log_emit(LOG_ERROR, j->name, 0, "out of memory: start at %.0f lost", scheduled_at);
        free(args_json);
        return;
    }
    st->sj = sj;
    st->job = job_ref(j);
    st->run_id = new_run_id(s);
    st->scheduled_at = scheduled_at;
    st->args_json = args_json;
    st->cause = cause;
    if (busy && j->overlap == OVERLAP_QUEUE) {
        if (sj->backlog_tail)
            sj->backlog_tail->next = st;
        else
            sj->backlog = st;
        sj->backlog_tail = st;
        sj->nbacklog++;
        log_emit(LOG_DEBUG, j->name, st->run_id, "queued behind the running start");
        return;
    }
    if (busy && j->overlap == OVERLAP_REPLACE) {
        if (sj->pending) {
            sched_start_t *old = sj->pending;
            prioq_remove(&s->ready, &old->q);
            sj->pending = NULL;
            record_skip(s, sj, old->scheduled_at, ERR_OVERLAP, "replaced by a newer start");
            start_free(old);
        }
        if (sj->current) s->hooks.cancel(s->hooks.ud, sj->current, "replaced by a newer start");
    }
    enqueue(s, st);
}

/* ---- timers ---- */

static void arm(sched_t *s, sched_job_t *sj, double after);

static void on_job_timer(vtimer_t *t) {
    sched_job_t *sj = t->data;
    sched_t *s = sj->s;
    double due = sj->next_due, now = vclock_now(s->clock);
    sj->state.last_due = due;
    save_state(s, sj);
    offer(s, sj, due, "schedule", NULL, 0);
    /* Late by more than a period (a suspended machine): do not replay the gap. */
    arm(s, sj, now - due > sj->job->jitter + 1.0 ? now : due);
}

static void arm(sched_t *s, sched_job_t *sj, double after) {
    double due = job_next_start(sj->job, after);
    if (due < 0 || s->stopped) return;
    sj->next_due = due;
    sj->timer.data = sj;
    double jitter = sj->job->jitter > 0 ? rand01(s) * sj->job->jitter : 0;
    vtimer_start(s->clock, &sj->timer, due + jitter, on_job_timer);
}

static void on_catchup(vtimer_t *t) {
    sched_job_t *sj = t->data;
    offer(sj->s, sj, sj->catchup_due, "misfire", NULL, 0);
}

/* The latest nominal start in (from, to], or -1. */
static double latest_start(const job_t *j, double from, double to) {
    double t = job_next_start(j, from);
    if (t < 0 || t > to) return -1;
    if (!j->has_cron) return j->offset + floor((to - j->offset) / j->every) * j->every;
    for (int i = 0; i < 1000000; i++) {
        double n = cron_next(&j->cron, t);
        if (n < 0 || n > to) break;
        t = n;
    }
    return t;
}

/* ---- public ---- */

int sched_new(sched_t **out, vclock_t *clock, store_t *store, const conf_t *conf,
              sched_hooks_t hooks, uint64_t seed) {
    sched_t *s = calloc(1, sizeof *s);
    if (!s) return -ENOMEM;
    s->clock = clock;
    s->store = store;
    s->conf = conf;
    s->hooks = hooks;
    s->rng = seed ? seed : 0x9E3779B97F4A7C15ULL;
    prioq_init(&s->ready, AGING);
    *out = s;
    return 0;
}

/* ---- job sets ---- */

static int job_name_cmp(const void *a, const void *b) {
    return strcmp((*(job_t *const *)a)->name, (*(job_t *const *)b)->name);
}

/* A job set being checked: its jobs sorted by name, and DFS marks. */
typedef struct check {
    job_t **sorted;
    size_t n;
    unsigned char *mark;
} check_t;

static int name_vs_job(const void *name, const void *el) {
    return strcmp(name, (*(job_t *const *)el)->name);
}

static long check_find(const check_t *c, const char *name) {
    job_t *const *at = c->n ? bsearch(name, c->sorted, c->n, sizeof *c->sorted, name_vs_job) : NULL;
    return at ? (long)(at - c->sorted) : -1;
}

/* Depth-first search over after/requires edges; 1 when a cycle passes through i. */
static int cycle_from(check_t *c, size_t i, char *path, size_t len) {
    job_t *j = c->sorted[i];
    if (c->mark[i] == 2) return 0;
    if (c->mark[i] == 1) {
        snprintf(path, len, "%s", j->name);
        return 1;
    }
    c->mark[i] = 1;
    for (int e = -1; e < j->nrequires; e++) {
        const char *dep = e < 0 ? j->after : j->requires[e].job;
        long d = dep ? check_find(c, dep) : -1;
        if (d >= 0 && cycle_from(c, (size_t)d, path, len)) {
            size_t used = strlen(path), name = strlen(j->name);
            if (used + name + 5 < len) {
                memmove(path + name + 4, path, used + 1);
                memcpy(path, j->name, name);
                memcpy(path + name, " -> ", 4);
            }
            return 1;
        }
    }
    c->mark[i] = 2;
    return 0;
}

/* What must hold across a whole set: unique names, after/requires naming
 * jobs of the set, no dependency cycle. */
static int check_jobs(job_t **jobs, size_t n, char *err, size_t errlen) {
    check_t c = {malloc((n ? n : 1) * sizeof *c.sorted), n, calloc(n ? n : 1, 1)};
    int rc = -EINVAL;
    if (!c.sorted || !c.mark) {
        snprintf(err, errlen, "out of memory");
        rc = -ENOMEM;
        goto out;
    }
    if (n) memcpy(c.sorted, jobs, n * sizeof *jobs);
    qsort(c.sorted, n, sizeof *c.sorted, job_name_cmp);
    for (size_t i = 1; i < n; i++) {
        job_t *a = c.sorted[i - 1], *b = c.sorted[i];
        if (strcmp(a->name, b->name) == 0) {
            snprintf(err, errlen, "%s:%d: job '%s' is already defined at %s:%d", b->file, b->line,
                     b->name, a->file, a->line);
            goto out;
        }
    }
    for (size_t i = 0; i < n; i++) {
        job_t *j = jobs[i];
        if (j->after && check_find(&c, j->after) < 0) {
            snprintf(err, errlen, "%s:%d: job '%s': after: no job named '%s'", j->file, j->line,
                     j->name, j->after);
            goto out;
        }
        for (int r = 0; r < j->nrequires; r++) {
            if (check_find(&c, j->requires[r].job) < 0) {
                snprintf(err, errlen, "%s:%d: job '%s': requires: no job named '%s'", j->file,
                         j->line, j->name, j->requires[r].job);
                goto out;
            }
        }
    }
    for (size_t i = 0; i < n; i++) {
        char path[512] = "";
        if (cycle_from(&c, (size_t)check_find(&c, jobs[i]->name), path, sizeof path)) {
            snprintf(err, errlen, "%s:%d: job '%s': dependency cycle: %s", jobs[i]->file,
                     jobs[i]->line, jobs[i]->name, path);
            goto out;
        }
    }
    rc = 0;
out:
    free(c.sorted);
    free(c.mark);
    return rc;
}

static sched_job_t *sj_new(sched_t *s, job_t *j) {
    sched_job_t *sj = calloc(1, sizeof *sj);
    if (!sj) return NULL;
    sj->s = s;
    sj->job = job_ref(j);
    if (s->store) {
        store_job_state_t *st = &sj->state;
        if (store_job_get(s->store, j->name, st) < 0) memset(st, 0, sizeof *st);
        if (s->plan) *st = (store_job_state_t){st->has_offset, st->offset, st->every, 0, 0, 0, 0};
    }
    return sj;
}

static void sj_free(sched_job_t *sj) {
    free(sj->followers);
    job_unref(sj->job);
    free(sj);
}

/* Drops the starts of sj that have not been launched. */
static void drop_queued(sched_t *s, sched_job_t *sj, const char *why) {
    while (sj->backlog) {
        sched_start_t *st = sj->backlog;
        sj->backlog = st->next;
        record_cancel(s, st, why);
        start_free(st);
    }
    sj->backlog_tail = NULL;
    sj->nbacklog = 0;
    if (sj->pending) {
        prioq_remove(&s->ready, &sj->pending->q);
        record_cancel(s, sj->pending, why);
        start_free(sj->pending);
        sj->pending = NULL;
    }
}

/* A job the new set no longer has: nothing new starts; a run in flight
 * finishes on the old definition, and the job goes when it ends. */
static void retire(sched_t *s, sched_job_t *sj) {
    vtimer_stop(s->clock, &sj->timer);
    vtimer_stop(s->clock, &sj->catchup);
    drop_queued(s, sj, "the job was removed by a reload");
    free(sj->followers);
    sj->followers = NULL;
    sj->nfollowers = 0;
    save_now(s, sj);
    if (sj->current) {
        log_emit(LOG_INFO, sj->job->name, 0,
                 "removed by the reload; its run in flight finishes first");
        sj->retired = 1;
        sj->next_retired = s->retired;
        s->retired = sj;
    } else {
        log_emit(LOG_INFO, sj->job->name, 0, "removed by the reload");
        sj_free(sj);
    }
}

static int same_schedule(const job_t *a, const job_t *b) {
    return a->every == b->every && a->offset == b->offset && a->jitter == b->jitter &&
           a->has_cron == b->has_cron && (!a->has_cron || strcmp(a->cron_text, b->cron_text) == 0);
}

/* Starts not yet launched take the new definition; the launched one keeps its own. */
static void swap_queued(sched_job_t *sj, job_t *j) {
    for (sched_start_t *st = sj->pending; st; st = NULL) {
        job_unref(st->job);
        st->job = job_ref(j);
    }
    for (sched_start_t *st = sj->backlog; st; st = st->next) {
        job_unref(st->job);
        st->job = job_ref(j);
    }
}

/* After a reload: new jobs are armed from now (no misfire catch-up: a reload
 * never causes a stampede), changed schedules re-armed, the rest untouched. */
static void rearm(sched_t *s, sched_job_t **list, job_t **was, size_t n) {
    double now = vclock_now(s->clock);
    if (sched_place_offsets(s, 1) < 0)
        log_warn("offset = \"auto\": could not place offsets; new jobs start at offset 0");
    for (size_t i = 0; i < n; i++) {
        sched_job_t *sj = list[i];
        char a[128], b[128];
        job_describe_schedule(sj->job, b, sizeof b);
        if (!was[i]) {
            sj->state.last_due = now;
            save_state(s, sj);
            arm(s, sj, now);
            log_emit(LOG_INFO, sj->job->name, 0, "added by the reload: %s", b);
        } else if (!same_schedule(was[i], sj->job)) {
            job_describe_schedule(was[i], a, sizeof a);
            vtimer_stop(s->clock, &sj->timer);
            arm(s, sj, now);
            log_emit(LOG_INFO, sj->job->name, 0, "schedule changed by the reload: %s (was %s)", b,
                     a);
        }
    }
}

int sched_set_jobs(sched_t *s, job_t **jobs, size_t n, char *err, size_t errlen) {
    size_t m = n ? n : 1;
    int rc = check_jobs(jobs, n, err, errlen);
    if (rc < 0) return rc;
    sched_job_t **list = calloc(m, sizeof *list), **names = calloc(m, sizeof *names);
    job_t **was = calloc(m, sizeof *was);        /* a kept job's definition until now */
    sched_job_t ***fol = calloc(m, sizeof *fol); /* followers, by position in names */
    size_t *nfol = calloc(m, sizeof *nfol);
    if (!list || !names || !was || !fol || !nfol) goto oom;
    for (size_t i = 0; i < n; i++) {
        sched_job_t *old = find(s, jobs[i]->name);
        if (old)
            was[i] = old->job;
        else if (!(old = sj_new(s, jobs[i])))
            goto oom;
        list[i] = names[i] = old;
    }
    /* Kept jobs still carry their old definition, with the same name. */
    qsort(names, n, sizeof *names, by_name_cmp);
    for (size_t i = 0; i < n; i++) {
        if (!jobs[i]->after) continue;
        long at = lookup(names, n, jobs[i]->after);
        sched_job_t **more = realloc(fol[at], (nfol[at] + 1) * sizeof *more);
        if (!more) goto oom;
        fol[at] = more;
        fol[at][nfol[at]++] = list[i];
    }

    /* Nothing can fail from here on. */
    for (size_t i = 0; i < s->njobs; i++) {
        sched_job_t *sj = s->jobs[i];
        long at = lookup(names, n, sj->job->name);
        if (at < 0 || names[at] != sj) retire(s, sj);
    }
    free(s->jobs);
    free(s->by_name);
    s->jobs = list;
    s->by_name = names;
    s->njobs = n;
    for (size_t i = 0; i < n; i++) {
        free(names[i]->followers);
        names[i]->followers = fol[i];
        names[i]->nfollowers = nfol[i];
    }
    for (size_t i = 0; i < n; i++) {
        if (!was[i]) continue;
        list[i]->job = job_ref(jobs[i]);
        swap_queued(list[i], jobs[i]);
    }
    if (s->started) rearm(s, list, was, n);
    for (size_t i = 0; i < n; i++) job_unref(was[i]);
    free(was), free(fol), free(nfol);
    return 0;
oom:
    for (size_t i = 0; list && i < n; i++)
        if (list[i] && !was[i]) sj_free(list[i]);
    for (size_t i = 0; fol && i < n; i++) free(fol[i]);
    free(list), free(names), free(was), free(fol), free(nfol);
    snprintf(err, errlen, "out of memory");
    return -ENOMEM;
}

static double spread_next(const void *ud, double after) { return job_next_start(ud, after); }

int sched_place_offsets(sched_t *s, int keep) {
    spread_job_t *sp = calloc(s->njobs ? s->njobs : 1, sizeof *sp);
    size_t n = 0;
    if (!sp) return -ENOMEM;
    for (size_t i = 0; i < s->njobs; i++) {
        sched_job_t *sj = s->by_name[i];
        job_t *j = sj->job;
        if (j->every <= 0 && !j->has_cron) continue;
        spread_job_t *x = &sp[n++];
        x->name = j->name;
        if (j->has_cron) {
            x->fixed = 1;
            x->next = spread_next;
            x->next_ud = j;
        } else {
            x->every = j->every;
            x->offset = j->offset;
            x->fixed = !j->offset_auto;
            if (j->offset_auto && sj->state.has_offset && sj->state.every == j->every) {
                x->offset = sj->state.offset;
                x->fixed = 1;
            }
        }
    }
    double now = vclock_now(s->clock);
    int rc = spread_place(sp, n, floor(now / 86400.0) * 86400.0);
    if (rc == 0) {
        size_t k = 0;
        for (size_t i = 0; i < s->njobs; i++) {
            sched_job_t *sj = s->by_name[i];
            job_t *j = sj->job;
            if (j->every <= 0 && !j->has_cron) continue;
            spread_job_t *x = &sp[k++];
            if (!j->offset_auto) continue;
            j->offset = x->offset;
            if (!(sj->state.has_offset && sj->state.every == j->every &&
                  sj->state.offset == j->offset)) {
                sj->state.has_offset = 1;
                sj->state.offset = j->offset;
                sj->state.every = j->every;
                if (keep) save_state(s, sj);
            }
        }
    }
    free(sp);
    return rc;
}

void sched_start(sched_t *s) {
    /* A start due exactly now is still ahead of us (a plan's window includes its start). */
    double now = nextafter(vclock_now(s->clock), -INFINITY);
    int catchups = 0;
    s->started = 1;
    for (size_t i = 0; i < s->njobs; i++) {
        sched_job_t *sj = s->jobs[i];
        job_t *j = sj->job;
        if (j->every <= 0 && !j->has_cron) continue;
        if (sj->state.last_due > 0 && sj->state.last_due < now) {
            double missed = latest_start(j, sj->state.last_due, now);
            if (missed > 0) {
                sj->state.last_due = missed;
                if (j->misfire == MISFIRE_SKIP) {
                    record_skip(s, sj, missed, ERR_MISFIRE, "missed while the engine was down");
                } else {
                    /* Catch-ups are staggered: a restart never fires everything at once. */
                    sj->catchup_due = missed;
                    sj->catchup.data = sj;
                    vtimer_start(s->clock, &sj->catchup, now + CATCHUP_STAGGER * ++catchups,
                                 on_catchup);
                }
            }
        } else if (sj->state.last_due <= 0) {
            sj->state.last_due = now; /* the schedule is handled from here on */
        }
        save_state(s, sj);
        arm(s, sj, now);
    }
    if (catchups)
        log_info("%d job(s) missed starts while the engine was down: catching up", catchups);
}

int sched_trigger(sched_t *s, const char *job, const char *args_json, char *err, size_t errlen) {
    sched_job_t *sj = find(s, job);
    if (!sj) {
        snprintf(err, errlen, "no job named '%s'", job);
        return -ENOENT;
    }
    if (s->stopped) {
        snprintf(err, errlen, "the engine is shutting down");
        return -ECANCELED;
    }
    char *args = args_json ? strdup(args_json) : NULL;
    if (args_json && !args) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    offer(s, sj, vclock_now(s->clock), "trigger", args, 1);
    return 0;
}

void sched_done(sched_t *s, sched_start_t *st, const char *status, double ended_at) {
    sched_job_t *sj = st->sj;
    if (sj->current == st) {
        sj->current = NULL;
        s->running--;
    }
    if (strcmp(status, "ok") == 0) {
        sj->state.last_ok = ended_at;
    } else if (strcmp(status, "failed") == 0 || strcmp(status, "fallback") == 0) {
        sj->state.last_fail = ended_at;
    }
    save_state(s, sj);
    observe_end(s, sj->job->name, st->run_id, status, NULL);
    if (!s->stopped && strcmp(status, "ok") == 0)
        for (size_t i = 0; i < sj->nfollowers; i++)
            offer(s, sj->followers[i], ended_at, "after", NULL, 0);
    if (!s->stopped && sj->backlog && !sj->pending && !sj->current) {
        sched_start_t *next = sj->backlog;
        sj->backlog = next->next;
        if (!sj->backlog) sj->backlog_tail = NULL;
        sj->nbacklog--;
        next->next = NULL;
        enqueue(s, next);
    }
    start_free(st);
    if (sj->retired && !sj->current) {
        sched_job_t **p = &s->retired;
        while (*p != sj) p = &(*p)->next_retired;
        *p = sj->next_retired;
        save_now(s, sj);
        sj_free(sj);
    }
    if (!s->stopped && prioq_len(&s->ready)) dispatch_soon(s);
}

void sched_stop(sched_t *s) {
    if (s->stopped) return;
    s->stopped = 1;
    vtimer_stop(s->clock, &s->dispatch);
    for (size_t i = 0; i < s->njobs; i++) {
        sched_job_t *sj = s->jobs[i];
        vtimer_stop(s->clock, &sj->timer);
        vtimer_stop(s->clock, &sj->catchup);
        drop_queued(s, sj, "engine shutdown");
    }
}

size_t sched_running(const sched_t *s) { return s->running; }
size_t sched_queued(const sched_t *s) { return prioq_len(&s->ready); }

void sched_each_running(sched_t *s, void (*fn)(void *ud, sched_start_t *start), void *ud) {
    for (size_t i = 0; i < s->njobs; i++)
        if (s->jobs[i]->current) fn(ud, s->jobs[i]->current);
    for (sched_job_t *sj = s->retired, *next; sj; sj = next) {
        next = sj->next_retired; /* fn may end the run, and sj with it */
        fn(ud, sj->current);
    }
}

size_t sched_njobs(const sched_t *s) { return s->njobs; }

static void job_info(const sched_job_t *sj, sched_job_info_t *out) {
    *out = (sched_job_info_t){.job = sj->job,
                              .paused = sj->state.paused,
                              .running = sj->current != NULL,
                              .run_id = sj->current ? sj->current->run_id : 0,
                              .running_since = sj->current ? sj->current->launched_at : 0,
                              .queued = (sj->pending != NULL) + sj->nbacklog,
                              .next_at = vtimer_active(&sj->timer) ? sj->timer.due : 0,
                              .last_ok = sj->state.last_ok,
                              .last_fail = sj->state.last_fail};
}

int sched_job_info(const sched_t *s, size_t i, sched_job_info_t *out) {
    if (i >= s->njobs) return -ENOENT;
    job_info(s->by_name[i], out);
    return 0;
}

int sched_job_info_by_name(const sched_t *s, const char *name, sched_job_info_t *out) {
    sched_job_t *sj = find(s, name);
    if (!sj) return -ENOENT;
    job_info(sj, out);
    return 0;
}

int sched_pause(sched_t *s, const char *name, int on) {
    sched_job_t *sj = find(s, name);
    if (!sj) return -ENOENT;
    on = on != 0;
    if (sj->state.paused == on) return 0;
    sj->state.paused = on;
    save_state(s, sj);
    log_emit(LOG_INFO, sj->job->name, 0, "%s", on ? "paused" : "resumed");
    if (s->observer.on_pause) s->observer.on_pause(s->observer.ud, sj->job->name, on);
    return 1;
}

void sched_observe(sched_t *s, const sched_observer_t *o) {
    s->observer = o ? *o : (sched_observer_t){0};
}

void sched_free(sched_t *s) {
    if (!s) return;
    sched_stop(s);
    sched_save(s);
    prioq_free(&s->ready);
    for (size_t i = 0; i < s->njobs; i++) sj_free(s->jobs[i]);
    while (s->retired) {
        sched_job_t *sj = s->retired;
        s->retired = sj->next_retired;
        sj_free(sj);
    }
    free(s->jobs);
    free(s->by_name);
    free(s);
}
