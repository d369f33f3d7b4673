/* spread.c — offset = "auto": greedy placement of interval jobs at whole-second
 * phases, scored against per-second and per-minute start counts over one horizon.
 * Owns nothing past a call: the counts live and die inside spread_place. */
#include "spread.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define SPREAD_DAY 86400.0
#define SPREAD_MAX_HORIZON 2147483647.0 /* seconds (68 years) */
#define SPREAD_MAX_STARTS 1e8           /* of one job over the horizon */

/* Starts counted so far, by epoch second and calendar minute, over [start, end). */
typedef struct spread_grid {
    double start, end;
    int64_t base;         /* floor(start): the epoch second of sec[0] */
    int64_t minute_shift; /* base mod 60: second i lies in minute (i + minute_shift) / 60 */
    int64_t limit;        /* ceil(end) - base: whole-second starts lie in sec[0, limit) */
    int whole;            /* start is a whole second */
    size_t nsec, nmin;
    uint32_t *sec, *min;
    uint64_t *cnt, *mom; /* prefix sums of sec[i] and of i * sec[i]: neighbours in O(1) */
    uint64_t max_sec, max_min;
} spread_grid_t;

/* Within the same counts, starts keep away from their neighbours: each start
 * within SPREAD_NEAR seconds weighs (SPREAD_NEAR + 1 - distance), so two starts
 * in one minute land about half a minute apart rather than a second. */
enum { SPREAD_NEAR = 30 };

/* A candidate's cost, compared lexicographically; ties go to the smaller offset. */
typedef struct spread_score {
    uint64_t sec;  /* most starts in one second, this job's included */
    uint64_t min;  /* most starts in one minute, this job's included */
    uint64_t sum;  /* over this job's starts: the starts already in its minute */
    uint64_t near; /* over this job's starts: the weight of other starts nearby */
} spread_score_t;

typedef struct spread_order {
    spread_job_t *job;
    size_t index;
} spread_order_t;

static int spread_is_interval(const spread_job_t *j) { return j->every > 0 && isfinite(j->every); }

static int spread_less(const spread_score_t *a, const spread_score_t *b) {
    if (a->sec != b->sec) return a->sec < b->sec;
    if (a->min != b->min) return a->min < b->min;
    if (a->sum != b->sum) return a->sum < b->sum;
    return a->near < b->near;
}

/* Shortest period first, then by name, then by input position (duplicate names). */
static int spread_cmp_order(const void *pa, const void *pb) {
    const spread_order_t *a = pa, *b = pb;
    if (a->job->every != b->job->every) return a->job->every < b->job->every ? -1 : 1;
    int c = strcmp(a->job->name ? a->job->name : "", b->job->name ? b->job->name : "");
    if (c) return c;
    return a->index < b->index ? -1 : a->index > b->index;
}

/* The k of the first start offset + k * every at or after `from`. */
static double spread_first_k(double every, double offset, double from) {
    double k = ceil((from - offset) / every);
    if (offset + k * every < from) k += 1; /* rounding at exact multiples */
    if (offset + (k - 1) * every >= from) k -= 1;
    return k;
}

static int spread_grid_init(spread_grid_t *g, double start, double len) {
    double end = start + len;
    g->start = start;
    g->end = end;
    g->base = (int64_t)floor(start);
    g->minute_shift = ((g->base % 60) + 60) % 60;
    g->limit = (int64_t)ceil(end) - g->base;
    g->whole = start == floor(start);
    g->nsec = (size_t)g->limit + 1; /* one spare second against rounding */
    g->nmin = (g->nsec - 1 + (size_t)g->minute_shift) / 60 + 1;
    g->max_sec = g->max_min = 0;
    g->sec = calloc(g->nsec, sizeof *g->sec);
    g->min = calloc(g->nmin, sizeof *g->min);
    g->cnt = calloc(g->nsec + 1, sizeof *g->cnt);
    g->mom = calloc(g->nsec + 1, sizeof *g->mom);
    if (!g->sec || !g->min || !g->cnt || !g->mom) {
        free(g->sec), free(g->min), free(g->cnt), free(g->mom);
        return -ENOMEM;
    }
    return 0;
}

/* Recomputes the prefix sums after starts were added. */
static void spread_grid_prefix(spread_grid_t *g) {
    for (size_t i = 0; i < g->nsec; i++) {
        g->cnt[i + 1] = g->cnt[i] + g->sec[i];
        g->mom[i + 1] = g->mom[i] + (uint64_t)i * g->sec[i];
    }
}

/* Sum over seconds i within SPREAD_NEAR of s of (SPREAD_NEAR + 1 - |s - i|) * sec[i]:
 * left of s the weight is (W + 1 - s) + i, right of it (W + 1 + s) - i. */
static inline uint64_t spread_near(const spread_grid_t *g, int64_t s) {
    int64_t w = SPREAD_NEAR, lo = s - w, hi = s + w + 1, n = (int64_t)g->nsec;
    if (lo < 0) lo = 0;
    if (hi > n) hi = n;
    int64_t cl = (int64_t)(g->cnt[s + 1] - g->cnt[lo]), ml = (int64_t)(g->mom[s + 1] - g->mom[lo]);
    int64_t cr = (int64_t)(g->cnt[hi] - g->cnt[s + 1]), mr = (int64_t)(g->mom[hi] - g->mom[s + 1]);
    return (uint64_t)((w + 1 - s) * cl + ml + (w + 1 + s) * cr - mr);
}

static void spread_grid_add(spread_grid_t *g, double t) {
    if (!(t >= g->start && t < g->end)) return;
    int64_t s = (int64_t)(t - (double)g->base);
    if (s < 0 || (size_t)s >= g->nsec) return;
    int64_t m = (s + g->minute_shift) / 60;
    if (++g->sec[s] > g->max_sec) g->max_sec = g->sec[s];
    if (++g->min[m] > g->max_min) g->max_min = g->min[m];
}

static void spread_grid_add_interval(spread_grid_t *g, double every, double offset) {
    if (!isfinite(offset)) return;
    offset = fmod(offset, every); /* exact; keeps k small so k += 1 always moves t */
    for (double k = spread_first_k(every, offset, g->start);; k += 1) {
        double t = offset + k * every;
        if (!(t < g->end)) break;
        spread_grid_add(g, t);
    }
}

static void spread_grid_add_next(spread_grid_t *g, spread_next_fn next, const void *ud) {
    double prev = nextafter(g->start, -INFINITY); /* so a start exactly at g->start counts */
    for (;;) {
        double t = next(ud, prev);
        if (t == -1 || !(t > prev) || !(t < g->end)) break; /* none, not after, or past */
        spread_grid_add(g, t);
        prev = t;
    }
}

/* One candidate's running score, and its own starts so far in the current second
 * and minute: periods under a minute put several starts in one minute. */
typedef struct spread_scan {
    spread_score_t sc;
    int64_t cur_s, cur_m;
    uint64_t run_s, run_m;
} spread_scan_t;

/* Adds a start in second s of the grid; returns 0 once the candidate cannot beat
 * *best (every component only grows as starts are added, and ties lose). `runs` is
 * 0 when starts are at least a minute apart, so none share a second or a minute. */
static inline int spread_scan_add(spread_scan_t *c, const spread_grid_t *g, int64_t s,
                                  const spread_score_t *best, int runs) {
    int64_t m = (int64_t)((uint64_t)(s + g->minute_shift) / 60);
    if (runs) {
        c->run_s = s == c->cur_s ? c->run_s + 1 : 1;
        c->run_m = m == c->cur_m ? c->run_m + 1 : 1;
        c->cur_s = s;
        c->cur_m = m;
    }
    uint64_t in_sec = g->sec[s] + c->run_s, in_min = g->min[m] + c->run_m;
    if (in_sec > c->sc.sec) c->sc.sec = in_sec;
    if (in_min > c->sc.min) c->sc.min = in_min;
    c->sc.sum += g->min[m];
    c->sc.near += spread_near(g, s);
    return spread_less(&c->sc, best);
}

/* Scores a whole period p whose first start is second s of the grid into *out;
 * returns 1 if it beats *best, else 0, stopping early. */
static int spread_score_whole(const spread_grid_t *g, int64_t p, int64_t s,
                              const spread_score_t *best, spread_score_t *out) {
    spread_scan_t c = {{g->max_sec, g->max_min, 0, 0}, -1, -1, 1, 1};
    if (p >= 60) {
        for (; s < g->limit; s += p)
            if (!spread_scan_add(&c, g, s, best, 0)) return 0;
    } else {
        for (; s < g->limit; s += p)
            if (!spread_scan_add(&c, g, s, best, 1)) return 0;
    }
    *out = c.sc;
    return 1;
}

/* The same for any period and offset o, in floating point. */
static int spread_score_any(const spread_grid_t *g, double every, double o,
                            const spread_score_t *best, spread_score_t *out) {
    spread_scan_t c = {{g->max_sec, g->max_min, 0, 0}, -1, -1, 1, 1};
    for (double k = spread_first_k(every, o, g->start);; k += 1) {
        double t = o + k * every;
        if (!(t < g->end)) break;
        int64_t s = (int64_t)(t - (double)g->base);
        if (s < 0 || (size_t)s >= g->nsec) break;
        if (!spread_scan_add(&c, g, s, best, 1)) return 0;
    }
    *out = c.sc;
    return 1;
}

/* Tries offsets 0, 1, … below `every` and returns the first of the lowest score. */
static double spread_best_offset(const spread_grid_t *g, double every) {
    spread_score_t best = {UINT64_MAX, UINT64_MAX, UINT64_MAX, UINT64_MAX}, sc;
    /* Nothing beats no busier second or minute than now and nobody near its starts. */
    spread_score_t least = {g->max_sec ? g->max_sec : 1, g->max_min ? g->max_min : 1, 0, 0};
    if (g->whole && every == floor(every)) {
        /* Offset o first starts in second (o - base) mod p: one further per offset. */
        int64_t p = (int64_t)every, chosen = 0, s = ((-g->base) % p + p) % p;
        for (int64_t o = 0; o < p; o++, s = s + 1 == p ? 0 : s + 1) {
            if (!spread_score_whole(g, p, s, &best, &sc)) continue;
            best = sc;
            chosen = o;
            if (!spread_less(&least, &best)) break;
        }
        return (double)chosen;
    }
    double chosen = 0;
    for (double o = 0; o < every; o += 1) {
        if (!spread_score_any(g, every, o, &best, &sc)) continue;
        best = sc;
        chosen = o;
        if (!spread_less(&least, &best)) break;
    }
    return chosen;
}

int spread_place(spread_job_t *jobs, size_t n, double day_start) {
    double len = SPREAD_DAY, shortest = INFINITY;
    size_t nauto = 0;
    for (size_t i = 0; i < n; i++) {
        if (!spread_is_interval(&jobs[i])) continue;
        if (jobs[i].every > len) len = jobs[i].every;
        if (jobs[i].every < shortest) shortest = jobs[i].every;
        if (!jobs[i].fixed) nauto++;
    }
    if (!isfinite(day_start) || fabs(day_start) > 1e15) return -EINVAL;
    if (len > SPREAD_MAX_HORIZON || len / shortest > SPREAD_MAX_STARTS) return -EINVAL;
    if (nauto == 0) return 0;

    spread_order_t *order = calloc(nauto, sizeof *order);
    spread_grid_t g;
    if (!order) return -ENOMEM;
    if (spread_grid_init(&g, day_start, len) < 0) {
        free(order);
        return -ENOMEM;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        spread_job_t *j = &jobs[i];
        if (spread_is_interval(j) && !j->fixed)
            order[k++] = (spread_order_t){j, i};
        else if (spread_is_interval(j))
            spread_grid_add_interval(&g, j->every, j->offset);
        else if (j->next)
            spread_grid_add_next(&g, j->next, j->next_ud);
    }
    qsort(order, nauto, sizeof *order, spread_cmp_order);
    for (k = 0; k < nauto; k++) {
        spread_job_t *j = order[k].job;
        spread_grid_prefix(&g);
        j->offset = spread_best_offset(&g, j->every);
        j->fixed = 1;
        spread_grid_add_interval(&g, j->every, j->offset);
    }
    free(g.sec);
    free(g.min);
    free(g.cnt);
    free(g.mom);
    free(order);
    return 0;
}
