/* breaker.h — one circuit breaker as a pure state machine: closed, open, half-open,
 * opened by consecutive failures or by a failure rate over a count or time window.
 * Time is passed in (epoch seconds); nothing here reads a clock or does I/O. */
#ifndef BATON_BREAKER_H
#define BATON_BREAKER_H

#include <stddef.h>

enum { BREAKER_MAX_COUNT_WINDOW = 1024, BREAKER_MAX_TIME_WINDOW = 3600 };

typedef enum { BREAKER_CLOSED, BREAKER_OPEN, BREAKER_HALF_OPEN } breaker_state_t;

typedef enum {
    BREAKER_WINDOW_NONE,  /* only the consecutive-failure rule */
    BREAKER_WINDOW_COUNT, /* the last window_size calls */
    BREAKER_WINDOW_TIME   /* the calls of the last window_size seconds, per-second buckets */
} breaker_window_t;

typedef struct breaker_opts {
    int failures;    /* consecutive failures that open it; 0 = rule off */
    double cooldown; /* seconds open before a probe is let through */
    breaker_window_t window_kind;
    int window_size;     /* calls (<= 1024) or whole seconds (<= 3600) */
    int min_calls;       /* calls in the window before the rate counts */
    double failure_rate; /* opens when failures / calls >= this, in (0, 1] */
    double slow_call;    /* a success slower than this (seconds) fails; 0 = off */
    int probes;          /* calls let through while half-open */
} breaker_opts_t;

/* What survives a restart; the window's contents do not (it starts empty). */
typedef struct breaker_saved {
    breaker_state_t state;
    double opened_at; /* when it last opened; 0 if it never did */
    int failures;     /* consecutive failures */
} breaker_saved_t;

typedef struct breaker breaker_t;

/* Called on every state change, including open -> half_open inside breaker_allow. */
typedef void (*breaker_change_fn)(void *ud, breaker_state_t from, breaker_state_t to, double now);

/* Fills o with the defaults: 5 failures, 300 s cooldown, 1 probe, no window (if one is
 * chosen: min_calls 10, failure_rate 0.5), no slow-call rule. */
void breaker_opts_default(breaker_opts_t *o);

/* Returns 0 if o is usable, else -EINVAL with a one-line message in err (may be NULL). */
int breaker_opts_check(const breaker_opts_t *o, char *err, size_t errlen);

/* Creates a closed breaker into *out, freed with breaker_free; returns 0, -EINVAL (bad
 * options, message in err) or -ENOMEM. The only allocation this module makes. */
int breaker_new(breaker_t **out, const breaker_opts_t *o, char *err, size_t errlen);

/* Frees b; NULL is a no-op. */
void breaker_free(breaker_t *b);

/* Sets the state-change callback (fn NULL removes it); ud is passed back untouched. */
void breaker_on_change(breaker_t *b, breaker_change_fn fn, void *ud);

/* Returns 1 if a call may start now, 0 if it must fail fast with breaker_open. An open
 * breaker turns half-open once now >= opened_at + cooldown; half-open admits up to
 * `probes` calls whose outcomes are not yet recorded. */
int breaker_allow(breaker_t *b, double now);

/* Records the outcome of an admitted call (ok 0/1, duration in seconds); returns 1 if
 * the state changed, else 0. Outcomes arriving while open, or while half-open with no
 * probe outstanding (calls admitted before it opened), are ignored. */
int breaker_record(breaker_t *b, double now, int ok, double duration);

/* An admitted call ended with no verdict (cancelled): frees its half-open probe slot. */
void breaker_cancel(breaker_t *b);

/* Closes b and clears every counter and the window; returns 1 if the state changed. */
int breaker_reset(breaker_t *b, double now);

breaker_state_t breaker_state(const breaker_t *b);

/* Copies what should be persisted (and shown by health: state, failures, opened_at). */
void breaker_snapshot(const breaker_t *b, breaker_saved_t *out);

/* Loads a snapshot into b with an empty window; half-open comes back open (its probes
 * died with the old process) and an opened_at later than now is clamped to now. Returns
 * 0 or -EINVAL for a malformed snapshot (b unchanged). No change callback fires. */
int breaker_restore(breaker_t *b, const breaker_saved_t *in, double now);

/* "closed", "open", "half_open" ("unknown" for anything else). */
const char *breaker_state_name(breaker_state_t s);

#endif
