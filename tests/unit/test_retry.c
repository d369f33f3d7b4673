/* test_retry.c — backoff sequences of each growth and jitter mode: exact
 * values for fixed random draws, and bounds. */
#include <math.h>
#include <string.h>

#include "run/retry.h"
#include "test.h"

static conf_retry_t policy(const char *backoff, const char *jitter, double base, double max) {
    conf_retry_t r = {.attempts = 10, .base = base, .max = max};
    strcpy(r.backoff, backoff);
    strcpy(r.jitter, jitter);
    return r;
}

TEST(retry_exponential_doubles_and_caps) {
    conf_retry_t r = policy("exponential", "none", 1, 30);
    double want[] = {1, 2, 4, 8, 16, 30, 30};
    for (int i = 0; i < 7; i++) CHECK_NUM(retry_delay(&r, i + 2, 0, 0.5), want[i]);
}

TEST(retry_linear_and_constant) {
    conf_retry_t lin = policy("linear", "none", 2, 7), con = policy("constant", "none", 3, 30);
    CHECK_NUM(retry_delay(&lin, 2, 0, 0), 2);
    CHECK_NUM(retry_delay(&lin, 3, 0, 0), 4);
    CHECK_NUM(retry_delay(&lin, 4, 0, 0), 6);
    CHECK_NUM(retry_delay(&lin, 5, 0, 0), 7);
    CHECK_NUM(retry_delay(&con, 2, 0, 0.9), 3);
    CHECK_NUM(retry_delay(&con, 9, 0, 0.9), 3);
}

TEST(retry_full_jitter_is_uniform_below_the_backoff) {
    conf_retry_t r = policy("exponential", "full", 1, 30);
    CHECK_NUM(retry_delay(&r, 4, 0, 0.25), 1.0); /* 0.25 * 4 */
    CHECK_NUM(retry_delay(&r, 4, 0, 0), 0);
    CHECK(retry_delay(&r, 4, 0, 0.999999) < 4);
}

TEST(retry_equal_jitter_keeps_half) {
    conf_retry_t r = policy("exponential", "equal", 1, 30);
    CHECK_NUM(retry_delay(&r, 4, 0, 0), 2);
    CHECK_NUM(retry_delay(&r, 4, 0, 0.5), 3);
}

TEST(retry_decorrelated_grows_from_the_previous_delay_and_caps) {
    conf_retry_t r = policy("exponential", "decorrelated", 1, 10);
    CHECK_NUM(retry_delay(&r, 2, 0, 0.5), 2);   /* base + 0.5 * (3*base - base) */
    CHECK_NUM(retry_delay(&r, 3, 2, 0.5), 3.5); /* 1 + 0.5 * (6 - 1) */
    CHECK_NUM(retry_delay(&r, 4, 9, 0.9), 10);  /* capped */
    for (double u = 0; u < 1; u += 0.125) {
        double d = retry_delay(&r, 5, 4, u);
        CHECK(d >= 1 && d <= 10);
    }
}

TEST(retry_budget_allows_the_floor_then_a_share_of_the_calls) {
    retry_budget_t b;
    retry_budget_init(&b, 20, 3, 10);
    /* a burst of failures with few calls: only the floor of retries goes through */
    for (int i = 0; i < 10; i++) retry_budget_call(&b, 100.0);
    int granted = 0;
    for (int i = 0; i < 10; i++) granted += retry_budget_take(&b, 100.5);
    CHECK_INT(granted, 3);
    CHECK_INT(b.refused, 7);
    /* 100 calls in the window: 20 % of them */
    for (int i = 0; i < 90; i++) retry_budget_call(&b, 101.0);
    granted = 0;
    for (int i = 0; i < 50; i++) granted += retry_budget_take(&b, 101.5);
    CHECK_INT(granted, 20 - 3);
}

TEST(retry_budget_forgets_calls_and_retries_past_the_window) {
    retry_budget_t b;
    retry_budget_init(&b, 20, 1, 10);
    for (int i = 0; i < 100; i++) retry_budget_call(&b, 0.0);
    int granted = 0;
    for (int i = 0; i < 100; i++) granted += retry_budget_take(&b, 0.0);
    CHECK_INT(granted, 20);
    CHECK_INT(retry_budget_take(&b, 9.9), 0);  /* still in the window */
    CHECK_INT(retry_budget_take(&b, 10.0), 1); /* second 0 has left it: the floor again */
    CHECK_INT(retry_budget_take(&b, 10.5), 0);
}

TEST(retry_wait_caps_retry_after_at_an_hour_and_ignores_nonsense) {
    CHECK_NUM(retry_wait(2, 7), 7); /* the longer one */
    CHECK_NUM(retry_wait(9, 7), 9);
    CHECK_NUM(retry_wait(2, 1e308), RETRY_AFTER_MAX);         /* not forever */
    CHECK_NUM(retry_wait(2, 86400.0 * 365), RETRY_AFTER_MAX); /* a far HTTP date */
    CHECK_NUM(retry_wait(2, INFINITY), 2);                    /* absent */
    CHECK_NUM(retry_wait(2, -INFINITY), 2);
    CHECK_NUM(retry_wait(2, NAN), 2);
    CHECK_NUM(retry_wait(2, -5), 2);
    CHECK_NUM(retry_wait(2, 0), 2);
    CHECK_NUM(RETRY_AFTER_MAX, 3600);
}
