/* run.c — a launched start becomes a run: attempt after attempt until one
 * succeeds, the attempts run out, or the error is not retryable; then the
 * fallback if the job has one. Each attempt is one row in the store. */
#include "run.h"

#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "circuit.h"
#include "base/log.h"
#include "retry.h"
#include "base/units.h"

typedef struct run {
    runner_t *r;
    sched_start_t *start;
    job_t *job;
    int attempt;
    double started_at; /* of the current attempt */
    double deadline;
    script_co_t *co;
    vtimer_t deadline_timer, retry_timer;
    double prev_delay;
    int in_fallback;
    int cancelled;
    char cancel_why[128];
    breaker_t *breaker;   /* the job's breaker, NULL when it names none */
    int probing;          /* breaker_allow said yes for the current attempt */
    int page_no;          /* the pooled page the attempt used; 0 = none */
    err_kind_t last_kind; /* the failure the fallback answers */
    char last_error[1024];
} run_t;

static double rand01(runner_t *r) {
    r->rng ^= r->rng >> 12;
    r->rng ^= r->rng << 25;
    r->rng ^= r->rng >> 27;
    return (double)((r->rng * 2685821657736338717ULL) >> 11) / 9007199254740992.0;
}

static void record(run_t *run, const char *status, err_kind_t kind, const char *error,
                   const char *result, double ended_at) {
    runner_t *r = run->r;
    if (!r->store) return;
    store_run_t row = {.run_id = run->start->run_id,
                       .job = run->job->name,
                       .attempt = run->attempt,
                       .scheduled_at = run->start->scheduled_at,
                       .started_at = run->started_at,
                       .ended_at = ended_at,
                       .status = status,
                       .error_kind = kind != ERR_NONE ? err_kind_name(kind) : NULL,
                       .error = error,
                       .result = result};
    if (store_run_add(r->store, &row) < 0)
        log_emit(LOG_ERROR, run->job->name, run->start->run_id, "cannot record the run: %s",
                 store_errmsg(r->store));
}

static void finish(run_t *run, const char *status, double ended_at) {
    runner_t *r = run->r;
    sched_start_t *st = run->start;
    vtimer_stop(r->clock, &run->deadline_timer);
    vtimer_stop(r->clock, &run->retry_timer);
    if (strcmp(status, "ok") == 0 || strcmp(status, "fallback") == 0)
        r->ok_total++;
    else if (strcmp(status, "skipped") != 0)
        r->failed_total++;
    if (r->store && store_inflight_end(r->store, st->run_id) < 0)
        log_emit(LOG_ERROR, run->job->name, st->run_id, "cannot record the end: %s",
                 store_errmsg(r->store));
    st->run = NULL;
    free(run);
    r->live--;
    sched_done(r->sched, st, status, ended_at);
    if (r->live == 0 && r->on_idle) r->on_idle(r);
}

static void attempt_begin(run_t *run);
static void attempt_done(script_co_t *co, script_outcome_t *out, void *ud);

static void on_deadline(vtimer_t *t) {
    run_t *run = t->data;
    char d[32], msg[128];
    units_format_duration(run->job->timeout, d, sizeof d);
    snprintf(msg, sizeof msg, "run exceeded its timeout of %s", d);
    if (run->co) script_co_cancel(run->co, ERR_TIMEOUT, msg);
}

static void on_retry(vtimer_t *t) {
    run_t *run = t->data;
    run->attempt++;
    attempt_begin(run);
}

/* Starts fn (run or fallback) as the current attempt's coroutine. */
static void start_co(run_t *run, int fn_ref, err_kind_t err_kind, const char *err_message) {
    runner_t *r = run->r;
    script_run_info_t info = {
        .job = run->job->name,
        .run_id = run->start->run_id,
        .attempt = run->attempt,
        .scheduled_at = run->start->scheduled_at,
        .deadline = run->deadline,
        .args_json = run->start->args_json,
        .err_kind = err_kind,
        .err_message = err_message,
        .priority = (int)run->job->priority,
        .session = run->job->session,
        .download_max_bytes = run->job->downloads ? run->job->download_max_bytes : 0,
        .download_max_files = run->job->downloads ? run->job->download_max_files : 0};
    run->deadline_timer.data = run;
    vtimer_start(r->clock, &run->deadline_timer, run->deadline, on_deadline);
    script_co_t *co = script_co_start(run->job->script, fn_ref, &info, attempt_done, run);
    if (co) run->co = co; /* NULL: attempt_done already ran and `run` may be gone */
}

/* Whether a failure of this kind says something about the site behind the
 * breaker (a bug in the script or the engine's own limits do not). */
static int counts_against_breaker(err_kind_t kind) {
    switch (kind) {
    case ERR_SCRIPT:
    case ERR_LIMIT:
    case ERR_CANCELLED:
    case ERR_POOL_TIMEOUT:
    case ERR_BREAKER_OPEN:
        return 0;
    default:
        return 1;
    }
}

static void breaker_outcome(run_t *run, const script_outcome_t *out, double now) {
    if (!run->breaker || !run->probing) return;
    run->probing = 0;
    if (!out->ok && !counts_against_breaker(out->kind))
        breaker_cancel(run->breaker);
    else
        breaker_record(run->breaker, now, out->ok, now - run->started_at);
}

/* The durable "in flight" record of the start: a crash before its last row
 * is committed leaves it, and the next open records the run as crashed. */
static void mark_in_flight(run_t *run) {
    runner_t *r = run->r;
    if (!r->store) return;
    store_run_t row = {.run_id = run->start->run_id,
                       .job = run->job->name,
                       .attempt = run->attempt,
                       .scheduled_at = run->start->scheduled_at,
                       .started_at = run->started_at};
    if (store_inflight_begin(r->store, &row) < 0)
        log_emit(LOG_ERROR, run->job->name, run->start->run_id, "cannot record the start: %s",
                 store_errmsg(r->store));
}

static void attempt_begin(run_t *run) {
    run->started_at = vclock_now(run->r->clock);
    mark_in_flight(run);
    if (run->r->budget) retry_budget_call(run->r->budget, run->started_at);
    if (run->breaker) {
        if (!breaker_allow(run->breaker, run->started_at)) {
            /* Fail fast: nothing reaches a site whose breaker is open. */
            script_outcome_t out = {.kind = ERR_BREAKER_OPEN};
            snprintf(out.message, sizeof out.message, "breaker '%s' is open", run->job->breaker);
            attempt_done(NULL, &out, run);
            return;
        }
        run->probing = 1;
    }
    run->deadline = run->started_at + run->job->timeout;
    log_emit(LOG_DEBUG, run->job->name, run->start->run_id, "attempt %d started", run->attempt);
    start_co(run, run->job->run_ref, ERR_NONE, NULL);
}

static void log_end(run_t *run, log_level_t level, const char *what, double ended_at,
                    const char *detail) {
    char took[64];
    double secs = ended_at - run->started_at;
    if (secs < 1)
        snprintf(took, sizeof took, "%.1fms", secs * 1000);
    else if (secs < 60)
        snprintf(took, sizeof took, "%.1fs", secs);
    else
        units_format_duration(secs, took, sizeof took);
    if (run->page_no) {
        size_t n = strlen(took);
        snprintf(took + n, sizeof took - n, " using pooled page #%d", run->page_no);
    }
    if (detail && detail[0])
        log_emit(level, run->job->name, run->start->run_id, "%s in %s (attempt %d): %s", what, took,
                 run->attempt, detail);
    else
        log_emit(level, run->job->name, run->start->run_id, "%s in %s (attempt %d)", what, took,
                 run->attempt);
}

static void attempt_done(script_co_t *co, script_outcome_t *out, void *ud) {
    run_t *run = ud;
    runner_t *r = run->r;
    double now = vclock_now(r->clock);
    (void)co;
    run->co = NULL;
    run->page_no = out->page_no;
    vtimer_stop(r->clock, &run->deadline_timer);
    if (!run->in_fallback) breaker_outcome(run, out, now);

    if (run->in_fallback) {
        if (out->ok) {
            record(run, "fallback", run->last_kind, run->last_error, out->result_json, now);
            log_end(run, LOG_WARN, "fell back", now, run->last_error);
            finish(run, "fallback", now);
        } else {
            char msg[1200];
            snprintf(msg, sizeof msg, "fallback failed: %.500s (after: %.500s)", out->message,
                     run->last_error);
            record(run, "failed", out->kind, msg, NULL, now);
            log_end(run, LOG_ERROR, "failed", now, msg);
            finish(run, "failed", now);
        }
        return;
    }
    if (out->ok) {
        record(run, "ok", ERR_NONE, NULL, out->result_json, now);
        log_end(run, LOG_INFO, "ok", now, out->result_json);
        finish(run, "ok", now);
        return;
    }
    if (out->kind == ERR_BREAKER_OPEN && run->attempt == 1) {
        /* Never started: recorded as a skip, as docs/design.md §Runs says. */
        run->started_at = 0;
        record(run, "skipped", ERR_BREAKER_OPEN, out->message, NULL, 0);
        log_emit(LOG_INFO, run->job->name, run->start->run_id, "skipped (breaker_open): %s",
                 out->message);
        finish(run, "skipped", now);
        return;
    }
    if (run->cancelled || out->kind == ERR_CANCELLED) {
        record(run, "cancelled", ERR_CANCELLED, out->message, NULL, now);
        log_end(run, LOG_WARN, "cancelled", now, out->message);
        finish(run, "cancelled", now);
        return;
    }
    int last = run->attempt >= run->job->retry.attempts || !out->retryable;
    if (!last && r->budget && !retry_budget_take(r->budget, now)) {
        /* Fail with the original kind, and say why there was no retry. */
        size_t used = strlen(out->message);
        snprintf(out->message + used, sizeof out->message - used,
                 " (not retried: the engine-wide retry budget is spent)");
        last = 1;
    }
    if (!last) {
        double delay = retry_delay(&run->job->retry, run->attempt + 1, run->prev_delay, rand01(r));
        delay = retry_wait(delay, out->retry_after); /* e.g. 429 Retry-After, capped */
        char d[32], msg[1200];
        run->prev_delay = delay;
        units_format_duration(delay, d, sizeof d);
        record(run, "failed", out->kind, out->message, NULL, now);
        snprintf(msg, sizeof msg, "%s: %s; retrying in %s", err_kind_name(out->kind), out->message,
                 d);
        log_end(run, LOG_WARN, "failed", now, msg);
        run->retry_timer.data = run;
        vtimer_start(r->clock, &run->retry_timer, now + delay, on_retry);
        return;
    }
    if (run->job->fallback_ref != LUA_NOREF) {
        run->in_fallback = 1;
        run->last_kind = out->kind;
        snprintf(run->last_error, sizeof run->last_error, "%s", out->message);
        log_emit(LOG_WARN, run->job->name, run->start->run_id, "%s: %s; running the fallback",
                 err_kind_name(out->kind), out->message);
        run->deadline = now + run->job->timeout; /* the fallback gets its own deadline */
        start_co(run, run->job->fallback_ref, out->kind, out->message);
        return;
    }
    char msg[1200];
    snprintf(msg, sizeof msg, "%s: %s", err_kind_name(out->kind), out->message);
    record(run, "failed", out->kind, out->message, NULL, now);
    log_end(run, LOG_ERROR, "failed", now, msg);
    finish(run, "failed", now);
}

void run_launch(void *ud, sched_start_t *start) {
    runner_t *r = ud;
    run_t *run = calloc(1, sizeof *run);
    if (!run) {
        log_emit(LOG_ERROR, start->job->name, start->run_id, "out of memory: run not started");
        sched_done(r->sched, start, "failed", vclock_now(r->clock));
        return;
    }
    run->r = r;
    run->start = start;
    run->job = start->job;
    run->attempt = 1;
    if (run->job->breaker && r->circuits)
        run->breaker = circuits_get(r->circuits, run->job->breaker, NULL, vclock_now(r->clock));
    start->run = run;
    r->live++;
    log_emit(LOG_DEBUG, run->job->name, start->run_id, "starting (%s)", start->cause);
    attempt_begin(run);
}

void run_cancel(void *ud, sched_start_t *start, const char *why) {
    runner_t *r = ud;
    run_t *run = start->run;
    if (!run || run->cancelled) return;
    run->cancelled = 1;
    snprintf(run->cancel_why, sizeof run->cancel_why, "%s", why);
    if (run->co) {
        script_co_cancel(run->co, ERR_CANCELLED, why);
        return;
    }
    /* Between attempts: nothing is running, just stop waiting. */
    double now = vclock_now(r->clock);
    record(run, "cancelled", ERR_CANCELLED, why, NULL, now);
    log_emit(LOG_WARN, run->job->name, start->run_id, "cancelled: %s", why);
    finish(run, "cancelled", now);
}
