/* breaker.c — the breaker state machine and its two windows: a ring of the last N
 * outcomes, or per-second buckets of the last N seconds, each with running totals so
 * a record costs O(1) (a time jump sweeps at most N buckets). */
#include "breaker.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct bucket {
    uint32_t calls, fails;
} bucket_t;

struct breaker {
    breaker_opts_t o;
    breaker_state_t state;
    double opened_at;
    int consecutive;
    int probes_out; /* half-open: admitted, outcome not yet recorded */
    int probes_ok;  /* half-open: probes that succeeded */
    breaker_change_fn on_change;
    void *ud;
    /* window: ring (count) or buckets (time), n slots, stored right after the struct */
    uint8_t *ring;
    bucket_t *buckets;
    int n, pos, len;  /* count: next slot, outcomes held */
    int64_t last_sec; /* time: the newest second the buckets cover */
    uint64_t calls, fails;
};

void breaker_opts_default(breaker_opts_t *o) {
    *o = (breaker_opts_t){.failures = 5,
                          .cooldown = 300,
                          .window_kind = BREAKER_WINDOW_NONE,
                          .min_calls = 10,
                          .failure_rate = 0.5,
                          .probes = 1};
}

static int bad(char *err, size_t errlen, const char *msg) {
    if (err && errlen) snprintf(err, errlen, "breaker: %s", msg);
    return -EINVAL;
}

int breaker_opts_check(const breaker_opts_t *o, char *err, size_t errlen) {
    int windowed = o->window_kind != BREAKER_WINDOW_NONE;
    if (o->failures < 0) return bad(err, errlen, "failures must be >= 0 (0 turns it off)");
    if (!(o->cooldown > 0 && isfinite(o->cooldown)))
        return bad(err, errlen, "cooldown must be a finite number of seconds > 0");
    if (o->probes < 1) return bad(err, errlen, "probes must be >= 1");
    if (!(o->slow_call >= 0 && isfinite(o->slow_call)))
        return bad(err, errlen, "slow_call must be a finite number of seconds >= 0 (0 = off)");
    if (windowed && o->window_kind != BREAKER_WINDOW_COUNT && o->window_kind != BREAKER_WINDOW_TIME)
        return bad(err, errlen, "window_kind must be none, count or time");
    if (o->window_kind == BREAKER_WINDOW_COUNT &&
        (o->window_size < 1 || o->window_size > BREAKER_MAX_COUNT_WINDOW))
        return bad(err, errlen, "window_size must be 1 to 1024 calls for a count window");
    if (o->window_kind == BREAKER_WINDOW_TIME &&
        (o->window_size < 1 || o->window_size > BREAKER_MAX_TIME_WINDOW))
        return bad(err, errlen, "window_size must be 1 to 3600 seconds for a time window");
    if (windowed && !(o->failure_rate > 0 && o->failure_rate <= 1))
        return bad(err, errlen, "failure_rate must be > 0 and <= 1");
    if (windowed && o->min_calls < 1) return bad(err, errlen, "min_calls must be >= 1");
    if (o->window_kind == BREAKER_WINDOW_COUNT && o->min_calls > o->window_size)
        return bad(err, errlen, "min_calls exceeds the count window, so it could never open");
    if (!windowed && o->failures == 0)
        return bad(err, errlen, "failures = 0 and no window: it could never open");
    return 0;
}

int breaker_new(breaker_t **out, const breaker_opts_t *o, char *err, size_t errlen) {
    int rc = breaker_opts_check(o, err, errlen);
    size_t slot = 0, n = 0;
    breaker_t *b;
    *out = NULL;
    if (rc < 0) return rc;
    if (o->window_kind != BREAKER_WINDOW_NONE) {
        n = (size_t)o->window_size;
        slot = o->window_kind == BREAKER_WINDOW_COUNT ? sizeof(uint8_t) : sizeof(bucket_t);
    }
    /* sizeof *b is a multiple of its alignment (8), enough for the bucket array after it */
    b = calloc(1, sizeof *b + n * slot);
    if (!b) return -ENOMEM;
    b->o = *o;
    b->n = (int)n;
    if (o->window_kind == BREAKER_WINDOW_COUNT) b->ring = (uint8_t *)(b + 1);
    if (o->window_kind == BREAKER_WINDOW_TIME) b->buckets = (bucket_t *)(void *)(b + 1);
    *out = b;
    return 0;
}

void breaker_free(breaker_t *b) { free(b); }

void breaker_on_change(breaker_t *b, breaker_change_fn fn, void *ud) {
    b->on_change = fn;
    b->ud = ud;
}

static void window_clear(breaker_t *b) {
    if (b->ring) memset(b->ring, 0, (size_t)b->n);
    if (b->buckets) memset(b->buckets, 0, (size_t)b->n * sizeof *b->buckets);
    b->pos = b->len = 0;
    b->last_sec = 0;
    b->calls = b->fails = 0;
}

static void ring_add(breaker_t *b, int fail) {
    if (b->len == b->n) {
        b->fails -= b->ring[b->pos];
    } else {
        b->len++;
        b->calls++;
    }
    b->ring[b->pos] = (uint8_t)fail;
    b->fails += (unsigned)fail;
    b->pos = b->pos + 1 == b->n ? 0 : b->pos + 1;
}

static bucket_t *bucket_at(breaker_t *b, int64_t sec) {
    int64_t i = sec % b->n;
    return &b->buckets[i < 0 ? i + b->n : i];
}

/* Buckets cover seconds (last_sec - n, last_sec]; moving forward empties the seconds
 * that fall out. A clock that steps back records into the newest bucket. */
static void buckets_add(breaker_t *b, double now, int fail) {
    int64_t sec = (int64_t)floor(now);
    if (b->calls == 0) {
        b->last_sec = sec; /* every bucket is empty: nothing to expire */
    } else if (sec - b->last_sec >= b->n) {
        window_clear(b);
        b->last_sec = sec;
    } else {
        while (b->last_sec < sec) {
            bucket_t *k = bucket_at(b, ++b->last_sec);
            b->calls -= k->calls;
            b->fails -= k->fails;
            *k = (bucket_t){0, 0};
        }
    }
    bucket_t *k = bucket_at(b, b->last_sec);
    k->calls++;
    k->fails += (uint32_t)fail;
    b->calls++;
    b->fails += (unsigned)fail;
}

static int rate_reached(const breaker_t *b) {
    if (b->o.window_kind == BREAKER_WINDOW_NONE || b->calls < (uint64_t)b->o.min_calls) return 0;
    return (double)b->fails / (double)b->calls >= b->o.failure_rate;
}

static int move(breaker_t *b, breaker_state_t to, double now) {
    breaker_state_t from = b->state;
    if (from == to) return 0;
    b->state = to;
    b->probes_out = b->probes_ok = 0;
    if (to == BREAKER_OPEN) b->opened_at = now;
    if (to == BREAKER_CLOSED) {
        b->consecutive = 0;
        window_clear(b);
    }
    if (b->on_change) b->on_change(b->ud, from, to, now);
    return 1;
}

int breaker_allow(breaker_t *b, double now) {
    if (b->state == BREAKER_CLOSED) return 1;
    if (b->state == BREAKER_OPEN) {
        if (now < b->opened_at + b->o.cooldown) return 0;
        move(b, BREAKER_HALF_OPEN, now);
    }
    if (b->probes_out + b->probes_ok >= b->o.probes) return 0;
    b->probes_out++;
    return 1;
}

int breaker_record(breaker_t *b, double now, int ok, double duration) {
    int fail = !ok || (b->o.slow_call > 0 && duration > b->o.slow_call);
    if (b->state == BREAKER_OPEN) return 0;
    if (b->state == BREAKER_HALF_OPEN) {
        if (b->probes_out == 0) return 0;
        b->probes_out--;
        if (fail) {
            b->consecutive++;
            return move(b, BREAKER_OPEN, now);
        }
        if (++b->probes_ok < b->o.probes) return 0;
        return move(b, BREAKER_CLOSED, now);
    }
    b->consecutive = fail ? b->consecutive + 1 : 0;
    if (b->ring) ring_add(b, fail);
    if (b->buckets) buckets_add(b, now, fail);
    if ((b->o.failures > 0 && b->consecutive >= b->o.failures) || rate_reached(b))
        return move(b, BREAKER_OPEN, now);
    return 0;
}

void breaker_cancel(breaker_t *b) {
    if (b->state == BREAKER_HALF_OPEN && b->probes_out > 0) b->probes_out--;
}

int breaker_reset(breaker_t *b, double now) {
    int changed = move(b, BREAKER_CLOSED, now);
    b->consecutive = 0;
    window_clear(b);
    return changed;
}

breaker_state_t breaker_state(const breaker_t *b) { return b->state; }

void breaker_snapshot(const breaker_t *b, breaker_saved_t *out) {
    *out = (breaker_saved_t){b->state, b->opened_at, b->consecutive};
}

int breaker_restore(breaker_t *b, const breaker_saved_t *in, double now) {
    if (in->state != BREAKER_CLOSED && in->state != BREAKER_OPEN && in->state != BREAKER_HALF_OPEN)
        return -EINVAL;
    if (!isfinite(in->opened_at) || in->failures < 0) return -EINVAL;
    b->state = in->state == BREAKER_CLOSED ? BREAKER_CLOSED : BREAKER_OPEN;
    b->opened_at = in->opened_at > now ? now : in->opened_at;
    b->consecutive = in->failures;
    b->probes_out = b->probes_ok = 0;
    window_clear(b);
    return 0;
}

const char *breaker_state_name(breaker_state_t s) {
    switch (s) {
    case BREAKER_CLOSED:
        return "closed";
    case BREAKER_OPEN:
        return "open";
    case BREAKER_HALF_OPEN:
        return "half_open";
    }
    return "unknown";
}
