/* test_breaker.c — every transition of the circuit breaker: consecutive failures, the
 * failure rate over count and time windows, slow calls, cooldown, half-open probes,
 * reset, snapshot/restore across a restart, and option validation. */
#include <errno.h>
#include <math.h>

#include "base/breaker.h"
#include "test.h"

static breaker_t *make(const breaker_opts_t *o) {
    breaker_t *b = NULL;
    char err[128] = "";
    int rc = breaker_new(&b, o, err, sizeof err);
    CHECK_STR(err, "");
    CHECK_INT(rc, 0);
    return b;
}

static breaker_opts_t consecutive(int failures, double cooldown, int probes) {
    breaker_opts_t o;
    breaker_opts_default(&o);
    o.failures = failures;
    o.cooldown = cooldown;
    o.probes = probes;
    return o;
}

static breaker_opts_t windowed(breaker_window_t kind, int size, int min_calls, double rate) {
    breaker_opts_t o;
    breaker_opts_default(&o);
    o.failures = 0;
    o.window_kind = kind;
    o.window_size = size;
    o.min_calls = min_calls;
    o.failure_rate = rate;
    return o;
}

static double opened_at(const breaker_t *b) {
    breaker_saved_t s;
    breaker_snapshot(b, &s);
    return s.opened_at;
}

static int failures(const breaker_t *b) {
    breaker_saved_t s;
    breaker_snapshot(b, &s);
    return s.failures;
}

TEST(breaker_consecutive_failures_open_it) {
    breaker_opts_t o = consecutive(3, 60, 1);
    breaker_t *b = make(&o);
    CHECK_INT(breaker_state(b), BREAKER_CLOSED);
    CHECK_INT(breaker_allow(b, 100), 1);
    CHECK_INT(breaker_record(b, 100, 0, 1), 0);
    CHECK_INT(breaker_record(b, 101, 0, 1), 0);
    CHECK_INT(breaker_state(b), BREAKER_CLOSED);
    CHECK_INT(breaker_record(b, 102, 0, 1), 1);
    CHECK_INT(breaker_state(b), BREAKER_OPEN);
    CHECK_NUM(opened_at(b), 102);
    CHECK_INT(failures(b), 3);
    CHECK_INT(breaker_allow(b, 102), 0);
    breaker_free(b);
}

TEST(breaker_successes_reset_the_consecutive_count) {
    breaker_opts_t o = consecutive(3, 60, 1);
    breaker_t *b = make(&o);
    breaker_record(b, 100, 0, 1);
    breaker_record(b, 100, 0, 1);
    CHECK_INT(failures(b), 2);
    CHECK_INT(breaker_record(b, 100, 1, 1), 0);
    CHECK_INT(failures(b), 0);
    breaker_record(b, 100, 0, 1);
    CHECK_INT(breaker_record(b, 100, 0, 1), 0);
    CHECK_INT(breaker_state(b), BREAKER_CLOSED);
    CHECK_INT(breaker_record(b, 100, 0, 1), 1);
    CHECK_INT(breaker_state(b), BREAKER_OPEN);
    breaker_free(b);
}

TEST(breaker_count_window_rate_opens_only_after_min_calls) {
    breaker_opts_t o = windowed(BREAKER_WINDOW_COUNT, 10, 4, 0.5);
    breaker_t *b = make(&o);
    for (int i = 0; i < 3; i++) CHECK_INT(breaker_record(b, 100, 0, 1), 0); /* 3/3, < 4 calls */
    CHECK_INT(breaker_state(b), BREAKER_CLOSED);
    CHECK_INT(breaker_record(b, 100, 1, 1), 1); /* 3/4 */
    CHECK_INT(breaker_state(b), BREAKER_OPEN);
    breaker_free(b);
}

TEST(breaker_count_window_forgets_outcomes_older_than_its_size) {
    breaker_opts_t o = windowed(BREAKER_WINDOW_COUNT, 4, 4, 0.75);
    breaker_t *b = make(&o);
    int outcomes[] = {0, 0, 1, 1, 1, 1, 0, 0}; /* ends O O F F: 2/4, not 4/8 */
    for (int i = 0; i < 8; i++) CHECK_INT(breaker_record(b, 100, outcomes[i], 1), 0);
    CHECK_INT(breaker_record(b, 100, 0, 1), 1); /* O F F F: 3/4 */
    breaker_free(b);
}

TEST(breaker_time_window_rate_expires_old_buckets) {
    breaker_opts_t o = windowed(BREAKER_WINDOW_TIME, 10, 5, 0.5);
    breaker_t *b = make(&o);
    for (int i = 0; i < 3; i++) CHECK_INT(breaker_record(b, 100.2, 0, 1), 0);
    CHECK_INT(breaker_record(b, 104, 1, 1), 0); /* 3/4, below min_calls */
    /* the window is now seconds 101..110: second 100 left it, 0/2 rather than 3/5 */
    CHECK_INT(breaker_record(b, 110.5, 1, 1), 0);
    CHECK_INT(breaker_record(b, 111, 1, 1), 0);
    CHECK_INT(breaker_record(b, 111, 0, 1), 0);
    CHECK_INT(breaker_record(b, 111, 0, 1), 0);   /* 2/5 */
    CHECK_INT(breaker_record(b, 113.9, 0, 1), 1); /* 3/6 */
    CHECK_INT(breaker_state(b), BREAKER_OPEN);
    breaker_free(b);
}

TEST(breaker_time_window_survives_a_long_gap_and_a_clock_step_back) {
    breaker_opts_t o = windowed(BREAKER_WINDOW_TIME, 60, 3, 1.0);
    breaker_t *b = make(&o);
    breaker_record(b, 1000, 0, 1);
    breaker_record(b, 1000, 0, 1);
    CHECK_INT(breaker_record(b, 90000, 0, 1), 0); /* the gap emptied the window: 1/1 */
    CHECK_INT(breaker_record(b, 89990, 0, 1), 0); /* stepped back: counts as now, 2/2 */
    CHECK_INT(breaker_record(b, 90001, 0, 1), 1); /* 3/3 */
    breaker_free(b);
}

TEST(breaker_slow_successes_count_as_failures) {
    breaker_opts_t o = consecutive(2, 60, 1);
    o.slow_call = 2;
    breaker_t *b = make(&o);
    CHECK_INT(breaker_record(b, 100, 1, 5), 0);
    CHECK_INT(breaker_record(b, 100, 1, 2), 0); /* not slower than slow_call: a success */
    CHECK_INT(failures(b), 0);
    CHECK_INT(breaker_record(b, 100, 1, 2.5), 0);
    CHECK_INT(breaker_record(b, 100, 1, 9), 1);
    CHECK_INT(breaker_state(b), BREAKER_OPEN);
    breaker_free(b);

    o.slow_call = 0;
    b = make(&o);
    for (int i = 0; i < 5; i++) CHECK_INT(breaker_record(b, 100, 1, 1e6), 0);
    CHECK_INT(breaker_state(b), BREAKER_CLOSED);
    breaker_free(b);
}

TEST(breaker_open_fails_fast_until_cooldown) {
    breaker_opts_t o = consecutive(1, 60, 1);
    breaker_t *b = make(&o);
    breaker_record(b, 1000, 0, 1);
    CHECK_INT(breaker_allow(b, 1000), 0);
    CHECK_INT(breaker_allow(b, 1059.9), 0);
    /* a late outcome of a call admitted before it opened changes nothing */
    CHECK_INT(breaker_record(b, 1030, 1, 1), 0);
    CHECK_INT(breaker_state(b), BREAKER_OPEN);
    CHECK_NUM(opened_at(b), 1000);
    CHECK_INT(breaker_allow(b, 1060), 1);
    CHECK_INT(breaker_state(b), BREAKER_HALF_OPEN);
    breaker_free(b);
}

TEST(breaker_half_open_allows_exactly_probes_calls) {
    breaker_opts_t o = consecutive(1, 60, 3);
    breaker_t *b = make(&o);
    breaker_record(b, 1000, 0, 1);
    CHECK_INT(breaker_allow(b, 1060), 1);
    CHECK_INT(breaker_allow(b, 1060), 1);
    CHECK_INT(breaker_allow(b, 1060), 1);
    CHECK_INT(breaker_allow(b, 1060), 0);
    CHECK_INT(breaker_record(b, 1061, 1, 1), 0); /* 1 of 3 succeeded, 2 in flight */
    CHECK_INT(breaker_state(b), BREAKER_HALF_OPEN);
    CHECK_INT(breaker_allow(b, 1061), 0); /* a success does not admit a 4th probe */
    breaker_cancel(b);                    /* a probe ended with no verdict: its slot frees */
    CHECK_INT(breaker_allow(b, 1062), 1);
    CHECK_INT(breaker_allow(b, 1062), 0);
    breaker_free(b);
}

TEST(breaker_half_open_success_closes) {
    breaker_opts_t o = consecutive(2, 60, 2);
    breaker_t *b = make(&o);
    breaker_record(b, 1000, 0, 1);
    breaker_record(b, 1000, 0, 1);
    CHECK_INT(breaker_allow(b, 1060), 1);
    CHECK_INT(breaker_allow(b, 1060), 1);
    CHECK_INT(breaker_record(b, 1061, 1, 1), 0);
    CHECK_INT(breaker_record(b, 1061, 1, 1), 1);
    CHECK_INT(breaker_state(b), BREAKER_CLOSED);
    CHECK_INT(failures(b), 0);
    CHECK_INT(breaker_allow(b, 1061), 1);
    CHECK_INT(breaker_record(b, 1062, 0, 1), 0); /* the count starts again from zero */
    CHECK_INT(breaker_state(b), BREAKER_CLOSED);
    breaker_free(b);
}

TEST(breaker_half_open_ignores_outcomes_with_no_probe_outstanding) {
    breaker_opts_t o = consecutive(1, 60, 1);
    breaker_t *b = make(&o);
    breaker_record(b, 1000, 0, 1);
    CHECK_INT(breaker_allow(b, 1060), 1);
    breaker_cancel(b);                           /* the probe was cancelled */
    CHECK_INT(breaker_record(b, 1061, 1, 1), 0); /* a straggler from before it opened */
    CHECK_INT(breaker_state(b), BREAKER_HALF_OPEN);
    CHECK_INT(breaker_allow(b, 1062), 1);
    CHECK_INT(breaker_record(b, 1063, 1, 1), 1); /* a real probe closes it */
    CHECK_INT(breaker_state(b), BREAKER_CLOSED);
    breaker_free(b);
}

TEST(breaker_half_open_failure_reopens_with_a_fresh_cooldown) {
    breaker_opts_t o = consecutive(1, 60, 2);
    breaker_t *b = make(&o);
    breaker_record(b, 1000, 0, 1);
    CHECK_INT(breaker_allow(b, 1070), 1);
    CHECK_INT(breaker_allow(b, 1070), 1);
    CHECK_INT(breaker_record(b, 1071, 1, 1), 0);
    CHECK_INT(breaker_record(b, 1075, 0, 1), 1);
    CHECK_INT(breaker_state(b), BREAKER_OPEN);
    CHECK_NUM(opened_at(b), 1075);
    CHECK_INT(breaker_allow(b, 1134.9), 0);
    CHECK_INT(breaker_allow(b, 1135), 1);
    CHECK_INT(breaker_allow(b, 1135), 1); /* a fresh half-open: both probe slots again */
    CHECK_INT(breaker_allow(b, 1135), 0);
    breaker_free(b);
}

TEST(breaker_reset_closes_and_clears_counters) {
    breaker_opts_t o = consecutive(3, 60, 1);
    o.window_kind = BREAKER_WINDOW_COUNT;
    o.window_size = 4;
    o.min_calls = 4;
    breaker_t *b = make(&o);
    breaker_record(b, 100, 0, 1);
    breaker_record(b, 100, 0, 1);
    CHECK_INT(breaker_reset(b, 101), 0); /* already closed: no change to report */
    CHECK_INT(failures(b), 0);
    breaker_record(b, 102, 0, 1);
    CHECK_INT(breaker_record(b, 102, 1, 1), 0); /* 1/2 in the window, not 3/4 */
    CHECK_INT(breaker_state(b), BREAKER_CLOSED);
    for (int i = 0; i < 3; i++) breaker_record(b, 103, 0, 1);
    CHECK_INT(breaker_state(b), BREAKER_OPEN);
    CHECK_INT(breaker_reset(b, 104), 1);
    CHECK_INT(breaker_state(b), BREAKER_CLOSED);
    CHECK_INT(breaker_allow(b, 104), 1);
    CHECK_INT(failures(b), 0);
    breaker_free(b);
}

TEST(breaker_restore_keeps_an_open_breaker_open_until_its_cooldown) {
    breaker_opts_t o = consecutive(2, 300, 1);
    breaker_t *b = make(&o);
    breaker_saved_t saved;
    breaker_record(b, 1000, 0, 1);
    breaker_record(b, 1000, 0, 1);
    breaker_snapshot(b, &saved);
    breaker_free(b); /* the engine stops */

    b = make(&o);
    CHECK_INT(breaker_restore(b, &saved, 1100), 0);
    CHECK_INT(breaker_state(b), BREAKER_OPEN);
    CHECK_INT(failures(b), 2);
    CHECK_INT(breaker_allow(b, 1100), 0);
    CHECK_INT(breaker_allow(b, 1299), 0);
    CHECK_INT(breaker_allow(b, 1300), 1);
    CHECK_INT(breaker_state(b), BREAKER_HALF_OPEN);

    breaker_snapshot(b, &saved); /* half-open: its probes die with the process */
    CHECK_INT(breaker_restore(b, &saved, 1301), 0);
    CHECK_INT(breaker_state(b), BREAKER_OPEN);
    CHECK_INT(breaker_allow(b, 1301), 1);
    breaker_free(b);
}

TEST(breaker_restore_clamps_a_future_opened_at_and_rejects_garbage) {
    breaker_opts_t o = consecutive(2, 300, 1);
    breaker_t *b = make(&o);
    breaker_saved_t future = {BREAKER_OPEN, 1e9, 2}, bad_state = {(breaker_state_t)7, 0, 0},
                    bad_count = {BREAKER_CLOSED, 0, -1};
    CHECK_INT(breaker_restore(b, &bad_state, 100), -EINVAL);
    CHECK_INT(breaker_restore(b, &bad_count, 100), -EINVAL);
    CHECK_INT(breaker_state(b), BREAKER_CLOSED);
    CHECK_INT(breaker_restore(b, &future, 100), 0);
    CHECK_NUM(opened_at(b), 100);
    CHECK_INT(breaker_allow(b, 400), 1);
    breaker_free(b);
}

static breaker_state_t seen[8][2];
static int nseen;

static void note(void *ud, breaker_state_t from, breaker_state_t to, double now) {
    (*(int *)ud)++;
    if (nseen < 8) seen[nseen][0] = from, seen[nseen++][1] = to;
}

TEST(breaker_change_callback_sees_every_transition) {
    breaker_opts_t o = consecutive(1, 10, 1);
    breaker_t *b = make(&o);
    int calls = 0;
    breaker_on_change(b, note, &calls);
    breaker_record(b, 0, 0, 1);  /* closed -> open */
    breaker_allow(b, 10);        /* open -> half_open */
    breaker_record(b, 10, 0, 1); /* half_open -> open */
    breaker_allow(b, 20);        /* open -> half_open */
    breaker_record(b, 21, 1, 1); /* half_open -> closed */
    breaker_record(b, 22, 0, 1); /* closed -> open */
    breaker_reset(b, 23);        /* open -> closed */
    CHECK_INT(calls, 7);
    breaker_state_t want[7][2] = {
        {BREAKER_CLOSED, BREAKER_OPEN},      {BREAKER_OPEN, BREAKER_HALF_OPEN},
        {BREAKER_HALF_OPEN, BREAKER_OPEN},   {BREAKER_OPEN, BREAKER_HALF_OPEN},
        {BREAKER_HALF_OPEN, BREAKER_CLOSED}, {BREAKER_CLOSED, BREAKER_OPEN},
        {BREAKER_OPEN, BREAKER_CLOSED}};
    for (int i = 0; i < 7; i++) {
        CHECK_INT(seen[i][0], want[i][0]);
        CHECK_INT(seen[i][1], want[i][1]);
    }
    breaker_free(b);
}

TEST(breaker_state_names) {
    CHECK_STR(breaker_state_name(BREAKER_CLOSED), "closed");
    CHECK_STR(breaker_state_name(BREAKER_OPEN), "open");
    CHECK_STR(breaker_state_name(BREAKER_HALF_OPEN), "half_open");
    CHECK_STR(breaker_state_name((breaker_state_t)9), "unknown");
}

TEST(breaker_bad_options_are_rejected) {
    struct {
        const char *field;
        double value;
        breaker_window_t kind;
        const char *message;
    } cases[] = {
        {"failures", -1, BREAKER_WINDOW_NONE, "failures must be >= 0"},
        {"failures", 0, BREAKER_WINDOW_NONE, "could never open"},
        {"cooldown", 0, BREAKER_WINDOW_NONE, "cooldown must be"},
        {"cooldown", INFINITY, BREAKER_WINDOW_NONE, "cooldown must be"},
        {"probes", 0, BREAKER_WINDOW_NONE, "probes must be >= 1"},
        {"slow_call", -1, BREAKER_WINDOW_NONE, "slow_call must be"},
        {"window_kind", 5, BREAKER_WINDOW_NONE, "window_kind must be none, count or time"},
        {"window_size", 0, BREAKER_WINDOW_COUNT, "1 to 1024 calls"},
        {"window_size", 1025, BREAKER_WINDOW_COUNT, "1 to 1024 calls"},
        {"window_size", 3601, BREAKER_WINDOW_TIME, "1 to 3600 seconds"},
        {"failure_rate", 0, BREAKER_WINDOW_TIME, "failure_rate must be > 0 and <= 1"},
        {"failure_rate", 1.5, BREAKER_WINDOW_COUNT, "failure_rate must be > 0 and <= 1"},
        {"failure_rate", NAN, BREAKER_WINDOW_COUNT, "failure_rate must be"},
        {"min_calls", 0, BREAKER_WINDOW_TIME, "min_calls must be >= 1"},
        {"min_calls", 11, BREAKER_WINDOW_COUNT, "min_calls exceeds the count window"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        breaker_opts_t o;
        breaker_t *b = (breaker_t *)&o; /* must come back NULL */
        char err[128] = "";
        breaker_opts_default(&o);
        o.window_kind = cases[i].kind;
        o.window_size = 10;
        const char *f = cases[i].field;
        double v = cases[i].value;
        if (!strcmp(f, "failures")) o.failures = (int)v;
        if (!strcmp(f, "cooldown")) o.cooldown = v;
        if (!strcmp(f, "probes")) o.probes = (int)v;
        if (!strcmp(f, "slow_call")) o.slow_call = v;
        if (!strcmp(f, "window_kind")) o.window_kind = (breaker_window_t)v;
        if (!strcmp(f, "window_size")) o.window_size = (int)v;
        if (!strcmp(f, "failure_rate")) o.failure_rate = v;
        if (!strcmp(f, "min_calls")) o.min_calls = (int)v;
        CHECK_INT(breaker_opts_check(&o, err, sizeof err), -EINVAL);
        CHECK_HAS(err, cases[i].message);
        CHECK_HAS(err, "breaker: ");
        CHECK_INT(breaker_new(&b, &o, NULL, 0), -EINVAL);
        CHECK(b == NULL);
    }
    breaker_opts_t o;
    breaker_opts_default(&o);
    CHECK_INT(breaker_opts_check(&o, NULL, 0), 0);
    CHECK_INT(o.failures, 5);
    CHECK_NUM(o.cooldown, 300);
    CHECK_INT(o.probes, 1);
    o.window_kind = BREAKER_WINDOW_TIME;
    o.window_size = 3600;
    o.min_calls = 100000; /* a time window has no upper bound on calls */
    CHECK_INT(breaker_opts_check(&o, NULL, 0), 0);
}
