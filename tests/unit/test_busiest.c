/* test_busiest.c — the busiest window of start times: half-open windows (starts
 * exactly a span apart are apart), sliding rather than calendar-aligned, any
 * input order, duplicates, the earliest of equal windows, and no starts. */
#include <errno.h>

#include "sched/busiest.h"
#include "test.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

TEST(busiest_of_no_starts_is_zero) {
    busiest_t b = {7, 7};
    CHECK_INT(busiest_find(NULL, 0, 1, &b), 0);
    CHECK_INT(b.count, 0);
    CHECK_NUM(b.from, 0);
}

TEST(busiest_one_start_is_one_from_its_time) {
    const double at[] = {100.5};
    busiest_t b;
    CHECK_INT(busiest_find(at, 1, 60, &b), 0);
    CHECK_INT(b.count, 1);
    CHECK_NUM(b.from, 100.5);
}

TEST(busiest_starts_exactly_a_span_apart_are_in_different_windows) {
    const double sec[] = {10, 11, 12, 13};
    busiest_t b;
    CHECK_INT(busiest_find(sec, N(sec), 1, &b), 0);
    CHECK_INT(b.count, 1);
    CHECK_NUM(b.from, 10);
    const double min[] = {0, 60, 120};
    CHECK_INT(busiest_find(min, N(min), 60, &b), 0);
    CHECK_INT(b.count, 1);
    /* just under a span apart: together */
    const double close[] = {0, 59.999};
    CHECK_INT(busiest_find(close, N(close), 60, &b), 0);
    CHECK_INT(b.count, 2);
}

TEST(busiest_windows_slide_across_calendar_boundaries) {
    /* 0:30 and 1:10 are in different calendar minutes but 40 s apart; 9.9
     * and 10.2 in different calendar seconds but 0.3 s apart. */
    const double min[] = {30, 70};
    busiest_t b;
    CHECK_INT(busiest_find(min, N(min), 60, &b), 0);
    CHECK_INT(b.count, 2);
    CHECK_NUM(b.from, 30);
    const double sec[] = {5, 9.9, 10.2, 20};
    CHECK_INT(busiest_find(sec, N(sec), 1, &b), 0);
    CHECK_INT(b.count, 2);
    CHECK_NUM(b.from, 9.9);
}

TEST(busiest_reads_unsorted_input_and_leaves_it_alone) {
    const double at[] = {300, 5, 161, 4, 162, 3, 163, 164};
    busiest_t b;
    CHECK_INT(busiest_find(at, N(at), 60, &b), 0);
    CHECK_INT(b.count, 4); /* 161..164 (3, 4, 5 are three) */
    CHECK_NUM(b.from, 161);
    CHECK_INT(busiest_find(at, N(at), 1, &b), 0);
    CHECK_INT(b.count, 1);
    CHECK_NUM(b.from, 3);
    CHECK_NUM(at[0], 300);
    CHECK_NUM(at[7], 164);
}

TEST(busiest_counts_duplicates_and_reports_the_earliest_of_equal_windows) {
    const double at[] = {7, 7, 7, 50, 50, 50};
    busiest_t b;
    CHECK_INT(busiest_find(at, N(at), 1, &b), 0);
    CHECK_INT(b.count, 3);
    CHECK_NUM(b.from, 7);
    CHECK_INT(busiest_find(at, N(at), 60, &b), 0);
    CHECK_INT(b.count, 6);
    CHECK_NUM(b.from, 7);
}

TEST(busiest_finds_a_crowd_in_the_middle) {
    const double at[] = {0, 100, 100.2, 100.4, 100.9, 101.0, 200};
    busiest_t b;
    CHECK_INT(busiest_find(at, N(at), 1, &b), 0);
    CHECK_INT(b.count, 4); /* [100, 101): 101.0 is in the next one */
    CHECK_NUM(b.from, 100);
}

TEST(busiest_refuses_a_span_that_is_not_positive) {
    const double at[] = {1, 2};
    busiest_t b;
    CHECK_INT(busiest_find(at, N(at), 0, &b), -EINVAL);
    CHECK_INT(busiest_find(at, N(at), -1, &b), -EINVAL);
}
