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

#include "log.h"
#include "spread.h"
#include "units.h"

enum { BACKLOG_MAX = 16 };
static const double AGING = 60.0;          /* seconds waited per priority level gained */
static const double CATCHUP_STAGGER = 1.0; /* seconds between misfire catch-ups */

struct sched_job {
    sched_t *s;
    job_t *job;
    vtimer_t timer;            /* next scheduled start (due + jitter) */
    double next_due;           /* its nominal time */
    vtimer_t catchup;          /* misfire run_once */
    double catchup_due;
    sched_start_t *current;    /* launched */
    sched_start_t *pending;    /* in the ready queue */
    sched_start_t *backlog, *backlog_tail;
    int nbacklog;
    store_job_state_t state;
    int dirty;                 /* state changed since the last sched_save */
    struct sched_job **followers;  /* jobs with `after` = this one */
    size_t nfollowers;
};

struct sched {
    vclock_t *clock;
    store_t *store;
    const conf_t *conf;
    sched_hooks_t hooks;
    uint64_t rng;
    sched_job_t *jobs;
    size_t njobs;
    sched_job_t **by_name;     /* sorted by name, for lookups */
    prioq_t ready;
    vtimer_t dispatch;
    size_t running;
    int64_t next_run_id;       /* without a store */
    int stopped;
    int plan;                  /* read the store, never write it */
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

static sched_job_t *find(const sched_t *s, const char *name) {
    size_t lo = 0, hi = s->njobs;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(name, s->by_name[mid]->job->name);
        if (c == 0) return s->by_name[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
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

int sched_save(sched_t *s) {
    int rc = 0;
    for (size_t i = 0; i < s->njobs; i++) {
        sched_job_t *sj = &s->jobs[i];
        if (!sj->dirty) continue;
        sj->dirty = 0;
        if (!s->store || s->plan) continue;
        if (store_job_put(s->store, sj->job->name, &sj->state) < 0) {
            log_emit(LOG_ERROR, sj->job->name, 0, "cannot save job state: %s",
                     store_errmsg(s->store));
            rc = -EIO;
        }
    }
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
    st->job = j;
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

/* Depth-first search over after/requires edges; 1 when a cycle passes through i. */
static int cycle_from(sched_t *s, size_t i, unsigned char *mark, char *path, size_t len) {
    job_t *j = s->jobs[i].job;
    if (mark[i] == 2) return 0;
    if (mark[i] == 1) {
        snprintf(path, len, "%s", j->name);
        return 1;
    }
    mark[i] = 1;
    for (int e = -1; e < j->nrequires; e++) {
        const char *dep = e < 0 ? j->after : j->requires[e].job;
        if (!dep) continue;
        sched_job_t *d = find(s, dep);
        if (d && cycle_from(s, (size_t)(d - s->jobs), mark, path, len)) {
            size_t used = strlen(path);
            if (used + strlen(j->name) + 5 < len) {
                memmove(path + strlen(j->name) + 4, path, used + 1);
                memcpy(path, j->name, strlen(j->name));
                memcpy(path + strlen(j->name), " -> ", 4);
            }
            return 1;
        }
    }
    mark[i] = 2;
    return 0;
}

int sched_set_jobs(sched_t *s, job_t **jobs, size_t n, char *err, size_t errlen) {
    sched_job_t *list = calloc(n ? n : 1, sizeof *list);
    sched_job_t **names = calloc(n ? n : 1, sizeof *names);
    unsigned char *mark = calloc(n ? n : 1, 1);
    if (!list || !names || !mark) {
        free(list), free(names), free(mark);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        list[i].s = s;
        list[i].job = jobs[i];
        names[i] = &list[i];
    }
    qsort(names, n, sizeof *names, by_name_cmp);
    for (size_t i = 1; i < n; i++) {
        job_t *a = names[i - 1]->job, *b = names[i]->job;
        if (strcmp(a->name, b->name) == 0) {
            snprintf(err, errlen, "%s:%d: job '%s' is already defined at %s:%d", b->file, b->line,
                     b->name, a->file, a->line);
            goto bad;
        }
    }
    free(s->jobs);
    free(s->by_name);
    s->jobs = list;
    s->by_name = names;
    s->njobs = n;
    for (size_t i = 0; i < n; i++) {
        job_t *j = jobs[i];
        if (j->after && !find(s, j->after)) {
            snprintf(err, errlen, "%s:%d: job '%s': after: no job named '%s'", j->file, j->line,
                     j->name, j->after);
            goto unset;
        }
        for (int r = 0; r < j->nrequires; r++) {
            if (!find(s, j->requires[r].job)) {
                snprintf(err, errlen, "%s:%d: job '%s': requires: no job named '%s'", j->file,
                         j->line, j->name, j->requires[r].job);
                goto unset;
            }
        }
    }
    for (size_t i = 0; i < n; i++) {
        char path[512] = "";
        if (cycle_from(s, i, mark, path, sizeof path)) {
            job_t *j = jobs[i];
            snprintf(err, errlen, "%s:%d: job '%s': dependency cycle: %s", j->file, j->line,
                     j->name, path);
            goto unset;
        }
    }
    free(mark);
    for (size_t i = 0; i < n; i++) {
        if (!jobs[i]->after) continue;
        sched_job_t *leader = find(s, jobs[i]->after);
        sched_job_t **more = realloc(leader->followers, (leader->nfollowers + 1) * sizeof *more);
        if (!more) {
            snprintf(err, errlen, "out of memory");
            goto unset;
        }
        leader->followers = more;
        leader->followers[leader->nfollowers++] = &list[i];
    }
    for (size_t i = 0; i < n && s->store; i++) {
        store_job_state_t *st = &list[i].state;
        if (store_job_get(s->store, jobs[i]->name, st) < 0) memset(st, 0, sizeof *st);
        if (s->plan) *st = (store_job_state_t){st->has_offset, st->offset, st->every, 0, 0, 0, 0};
    }
    return 0;
unset:
    for (size_t i = 0; i < n; i++) free(list[i].followers);
    s->jobs = NULL;
    s->by_name = NULL;
    s->njobs = 0;
bad:
    free(list), free(names), free(mark);
    return -EINVAL;
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
            if (!(sj->state.has_offset && sj->state.every == j->every && sj->state.offset == j->offset)) {
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
    for (size_t i = 0; i < s->njobs; i++) {
        sched_job_t *sj = &s->jobs[i];
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
    if (catchups) log_info("%d job(s) missed starts while the engine was down: catching up", catchups);
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
    if (!s->stopped && prioq_len(&s->ready)) dispatch_soon(s);
}

void sched_stop(sched_t *s) {
    if (s->stopped) return;
    s->stopped = 1;
    vtimer_stop(s->clock, &s->dispatch);
    for (size_t i = 0; i < s->njobs; i++) {
        sched_job_t *sj = &s->jobs[i];
        vtimer_stop(s->clock, &sj->timer);
        vtimer_stop(s->clock, &sj->catchup);
        while (sj->backlog) {
            sched_start_t *st = sj->backlog;
            sj->backlog = st->next;
            record_cancel(s, st, "engine shutdown");
            start_free(st);
        }
        sj->backlog_tail = NULL;
        sj->nbacklog = 0;
        if (sj->pending) {
            prioq_remove(&s->ready, &sj->pending->q);
            record_cancel(s, sj->pending, "engine shutdown");
            start_free(sj->pending);
            sj->pending = NULL;
        }
    }
}

size_t sched_running(const sched_t *s) { return s->running; }
size_t sched_queued(const sched_t *s) { return prioq_len(&s->ready); }

void sched_each_running(sched_t *s, void (*fn)(void *ud, sched_start_t *start), void *ud) {
    for (size_t i = 0; i < s->njobs; i++)
        if (s->jobs[i].current) fn(ud, s->jobs[i].current);
}

size_t sched_njobs(const sched_t *s) { return s->njobs; }

static void job_info(const sched_job_t *sj, sched_job_info_t *out) {
    *out = (sched_job_info_t){.job = sj->job,
                              .paused = sj->state.paused,
                              .running = sj->current != NULL,
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
    for (size_t i = 0; i < s->njobs; i++) free(s->jobs[i].followers);
    free(s->jobs);
    free(s->by_name);
    free(s);
}
