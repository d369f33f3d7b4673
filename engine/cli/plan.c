/* plan.c — check and plan: opens the engine in plan mode on a virtual clock
 * (the scripts loaded as everywhere, the scheduler in plan mode; every start
 * "succeeds" at once) and reports what it saw. */
#include "plan.h"

#include <cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "core/engine.h"
#include "sched/busiest.h"
#include "sched/sched.h"
#include "store/store.h"
#include "base/units.h"
#include "base/vclock.h"

typedef struct plan_start {
    double at;
    const job_t *job;
} plan_start_t;

typedef struct plan {
    vclock_t clock;
    engine_t *engine;
    sched_t *sched;
    plan_start_t *starts;
    size_t n, cap;
    int oom;
} plan_t;

static void plan_launch(void *ud, sched_start_t *st) {
    plan_t *p = ud;
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 1024;
        plan_start_t *more = realloc(p->starts, cap * sizeof *more);
        if (!more) {
            p->oom = 1;
            sched_done(p->sched, st, "ok", vclock_now(&p->clock));
            return;
        }
        p->starts = more;
        p->cap = cap;
    }
    p->starts[p->n++] = (plan_start_t){vclock_now(&p->clock), st->job};
    sched_done(p->sched, st, "ok", vclock_now(&p->clock));
}

static void plan_cancel(void *ud, sched_start_t *st, const char *why) {}

static void report_stderr(void *ud, const char *line) {
    (void)ud;
    fprintf(stderr, "%s\n", line);
}

/* Opens the engine in plan mode on a virtual clock at o->start. */
static int plan_setup(plan_t *p, const conf_t *conf, char *const *paths, size_t npaths,
                      const plan_opts_t *o) {
    char err[1024] = "";
    memset(p, 0, sizeof *p);
    vclock_init(&p->clock, NULL, 1, o->start);
    engine_opts_t eo = {.mode = ENGINE_PLAN,
                        .clock = &p->clock,
                        .paths = paths,
                        .npaths = npaths,
                        .report = report_stderr,
                        .launcher = {plan_launch, plan_cancel, p},
                        .jitter = o->jitter,
                        .seed = o->seed};
    int rc = engine_open(&p->engine, conf, &eo, err, sizeof err);
    if (rc < 0 && err[0]) fprintf(stderr, "%s\n", err);
    if (rc == 0) p->sched = p->engine->sched;
    return rc;
}

static void plan_teardown(plan_t *p) {
    engine_close(p->engine);
    vclock_close(&p->clock);
    free(p->starts);
}

static void fmt_time(double t, char *buf, size_t len) { units_format_time(t, buf, len); }

int plan_check(const conf_t *conf, char *const *paths, size_t npaths, const plan_opts_t *o) {
    plan_t p;
    if (plan_setup(&p, conf, paths, npaths, o) < 0) {
        plan_teardown(&p);
        return 1;
    }
    const scripts_set_t *set = &p.engine->set;
    cJSON *root = o->json ? cJSON_CreateObject() : NULL;
    cJSON *arr = root ? cJSON_AddArrayToObject(root, "jobs") : NULL;
    if (!o->json)
        printf("%-24s %-34s %-9s %s\n", "JOB", "SCHEDULE", "PRIORITY", "NEXT STARTS (UTC)");
    for (size_t i = 0; i < set->njobs; i++) {
        const job_t *j = set->jobs[i];
        char desc[160], t[3][40];
        double next[3];
        int nn = 0;
        double after = o->start - 0.001;
        for (; nn < 3; nn++) {
            double x = job_next_start(j, after);
            if (x < 0) break;
            next[nn] = x;
            after = x;
        }
        job_describe_schedule(j, desc, sizeof desc);
        if (o->json) {
            cJSON *jo = cJSON_CreateObject();
            cJSON_AddStringToObject(jo, "name", j->name);
            cJSON_AddStringToObject(jo, "file", j->file);
            cJSON_AddNumberToObject(jo, "line", j->line);
            cJSON_AddStringToObject(jo, "priority", job_priority_name(j->priority));
            cJSON_AddStringToObject(jo, "schedule", desc);
            cJSON *nx = cJSON_AddArrayToObject(jo, "next");
            for (int k = 0; k < nn; k++) cJSON_AddItemToArray(nx, cJSON_CreateNumber(next[k]));
            cJSON_AddItemToArray(arr, jo);
        } else {
            for (int k = 0; k < 3; k++) {
                if (k < nn)
                    fmt_time(next[k], t[k], sizeof t[k]);
                else
                    snprintf(t[k], sizeof t[k], "%s", k == 0 ? "-" : "");
            }
            printf("%-24s %-34s %-9s %s  %s  %s\n", j->name, desc, job_priority_name(j->priority),
                   t[0], t[1], t[2]);
        }
    }
    if (root) {
        char *text = cJSON_PrintUnformatted(root);
        if (text) puts(text);
        free(text);
        cJSON_Delete(root);
    }
    int rc = set->errors ? 1 : 0;
    plan_teardown(&p);
    return rc;
}

static int cmp_start(const void *a, const void *b) {
    const plan_start_t *x = a, *y = b;
    if (x->at != y->at) return x->at < y->at ? -1 : 1;
    return strcmp(x->job->name, y->job->name);
}

/* The busiest second and minute of the plan's starts. Returns 0 or -ENOMEM. */
static int busiest_of(const plan_t *p, busiest_t *sec, busiest_t *min) {
    double *at = p->n ? malloc(p->n * sizeof *at) : NULL;
    if (p->n && !at) return -ENOMEM;
    for (size_t i = 0; i < p->n; i++) at[i] = p->starts[i].at;
    int rc = busiest_find(at, p->n, 1, sec);
    if (rc == 0) rc = busiest_find(at, p->n, 60, min);
    free(at);
    return rc;
}

int plan_print(const conf_t *conf, char *const *paths, size_t npaths, const plan_opts_t *o) {
    plan_t p;
    char a[40], b[40];
    if (plan_setup(&p, conf, paths, npaths, o) < 0) {
        plan_teardown(&p);
        return 1;
    }
    const scripts_set_t *set = &p.engine->set;
    engine_start(p.engine);
    /* The window is [start, end): a start exactly at `end` belongs to the next one. */
    vclock_advance(&p.clock, nextafter(o->end, -INFINITY));
    if (p.oom) {
        fprintf(stderr, "out of memory recording the plan\n");
        plan_teardown(&p);
        return 1;
    }
    if (p.n) qsort(p.starts, p.n, sizeof *p.starts, cmp_start);

    /* Busiest second and minute (sliding windows, as `baton test` counts);
     * collisions = calendar seconds with more than one start. */
    busiest_t most_sec = {0, 0}, most_min = {0, 0};
    size_t ncoll = 0;
    if (busiest_of(&p, &most_sec, &most_min) < 0) {
        fprintf(stderr, "out of memory recording the plan\n");
        plan_teardown(&p);
        return 1;
    }
    for (size_t i = 0, k; i < p.n; i = k) {
        double at = floor(p.starts[i].at);
        for (k = i; k < p.n && floor(p.starts[k].at) == at; k++) {
        }
        if (k - i > 1) ncoll++;
    }

    if (o->json) {
        cJSON *root = cJSON_CreateObject();
        cJSON_AddNumberToObject(root, "start", o->start);
        cJSON_AddNumberToObject(root, "end", o->end);
        cJSON *starts = cJSON_AddArrayToObject(root, "starts");
        for (size_t i = 0; i < p.n; i++) {
            cJSON *s = cJSON_CreateObject();
            cJSON_AddNumberToObject(s, "at", p.starts[i].at);
            cJSON_AddStringToObject(s, "job", p.starts[i].job->name);
            cJSON_AddItemToArray(starts, s);
        }
        cJSON_AddNumberToObject(root, "max_per_second", (double)most_sec.count);
        cJSON_AddNumberToObject(root, "max_per_minute", (double)most_min.count);
        cJSON *coll = cJSON_AddArrayToObject(root, "collisions");
        for (size_t i = 0, k; i < p.n; i = k) {
            double sec = floor(p.starts[i].at);
            for (k = i; k < p.n && floor(p.starts[k].at) == sec; k++) {
            }
            if (k - i < 2) continue;
            cJSON *c = cJSON_CreateObject();
            cJSON_AddNumberToObject(c, "at", sec);
            cJSON *jobs = cJSON_AddArrayToObject(c, "jobs");
            for (size_t m = i; m < k; m++)
                cJSON_AddItemToArray(jobs, cJSON_CreateString(p.starts[m].job->name));
            cJSON_AddItemToArray(coll, c);
        }
        char *text = cJSON_PrintUnformatted(root);
        if (text) puts(text);
        free(text);
        cJSON_Delete(root);
    } else {
        fmt_time(o->start, a, sizeof a);
        fmt_time(o->end, b, sizeof b);
        printf("plan %s .. %s: %zu start(s) of %zu job(s)\n\n", a, b, p.n, set->njobs);
        for (size_t i = 0; i < p.n; i++) {
            fmt_time(p.starts[i].at, a, sizeof a);
            printf("  %s  %s\n", a, p.starts[i].job->name);
        }
        fmt_time(most_sec.from, a, sizeof a);
        fmt_time(most_min.from, b, sizeof b);
        printf("\nmost starts in one second: %zu%s%s\n", most_sec.count, p.n ? " at " : "",
               p.n ? a : "");
        printf("most starts in one minute: %zu%s%s\n", most_min.count, p.n ? " from " : "",
               p.n ? b : "");
        if (ncoll == 0) {
            printf("collisions: none\n");
        } else {
            printf("collisions: %zu second(s) with more than one start\n", ncoll);
            size_t shown = 0;
            for (size_t i = 0, k; i < p.n && shown < 20; i = k) {
                double sec = floor(p.starts[i].at);
                for (k = i; k < p.n && floor(p.starts[k].at) == sec; k++) {
                }
                if (k - i < 2) continue;
                fmt_time(sec, a, sizeof a);
                printf("  %s  %zu jobs:", a, k - i);
                for (size_t m = i; m < k; m++) printf(" %s", p.starts[m].job->name);
                printf("\n");
                shown++;
            }
            if (ncoll > shown) printf("  … and %zu more (see --json)\n", ncoll - shown);
        }
    }
    int rc = set->errors ? 1 : 0;
    plan_teardown(&p);
    return rc;
}
