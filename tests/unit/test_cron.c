/* test_cron.c — cron parsing (fields into bit sets, names, steps, macros, Vixie's
 * day rule), errors naming field and token, and cron_next against epoch values
 * computed with date(1), in UTC and across DST changes in Europe/Berlin. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "sched/cron.h"
#include "test.h"

static void use_tz(const char *tz) {
    setenv("TZ", tz, 1);
    tzset();
}

static uint64_t bits(int lo, int hi, int step) {
    uint64_t b = 0;
    for (int i = lo; i <= hi; i += step) b |= (uint64_t)1 << i;
    return b;
}

/* The next start of expr after `after`, or -2 when expr does not parse. */
static double next_of(const char *expr, double after) {
    cron_t c;
    char err[128];
    if (cron_parse(&c, expr, err, sizeof err) < 0) {
        test_fail(__FILE__, __LINE__, "\"%s\" did not parse: %s", expr, err);
        return -2;
    }
    return cron_next(&c, after);
}

/* Checks the n starts that follow `after`, each computed from the one before. */
static void check_starts(const char *expr, double after, const double *want, int n) {
    for (int i = 0; i < n; i++) {
        double got = next_of(expr, after);
        if (got != want[i])
            test_fail(__FILE__, __LINE__, "\"%s\" after %.1f: start %d is %.0f, expected %.0f",
                      expr, after, i + 1, got, want[i]);
        after = got;
    }
}

/* The error text of an expression that must be refused. */
static const char *error_of(const char *expr) {
    static char err[128];
    cron_t c;
    memset(err, 0, sizeof err);
    int rc = cron_parse(&c, expr, err, sizeof err);
    if (rc != -EINVAL) test_fail(__FILE__, __LINE__, "\"%s\" accepted (rc %d)", expr, rc);
    return err;
}

/* ---- parsing ------------------------------------------------------------- */

TEST(parse_stars_set_every_bit_and_second_zero_for_five_fields) {
    cron_t c;
    CHECK_INT(cron_parse(&c, "* * * * *", NULL, 0), 0);
    CHECK(c.sec == 1);
    CHECK(c.min == bits(0, 59, 1));
    CHECK(c.hour == bits(0, 23, 1));
    CHECK(c.dom == bits(1, 31, 1));
    CHECK(c.mon == bits(1, 12, 1));
    CHECK(c.dow == bits(0, 6, 1));
    CHECK_INT(c.dom_any, 1);
    CHECK_INT(c.dow_any, 1);
}

TEST(parse_steps_from_star_range_and_start_value) {
    cron_t c;
    CHECK_INT(cron_parse(&c, "1-30/2 */5 5/15 */3 0-6/2", NULL, 0), 0);
    CHECK(c.min == bits(1, 29, 2));
    CHECK(c.hour == bits(0, 20, 5));
    CHECK(c.dom == ((1u << 5) | (1u << 20)));
    CHECK(c.mon == ((1u << 1) | (1u << 4) | (1u << 7) | (1u << 10)));
    CHECK(c.dow == bits(0, 6, 2));
}

TEST(parse_lists_and_ranges_combine) {
    cron_t c;
    CHECK_INT(cron_parse(&c, "0,15,30-32 9-17 1,15 * *", NULL, 0), 0);
    CHECK(c.min == (bits(0, 0, 1) | bits(15, 15, 1) | bits(30, 32, 1)));
    CHECK(c.hour == bits(9, 17, 1));
    CHECK(c.dom == ((1u << 1) | (1u << 15)));
    CHECK_INT(c.dom_any, 0);
    CHECK_INT(c.dow_any, 1);
}

TEST(parse_month_and_weekday_names_in_any_case) {
    cron_t a, b;
    CHECK_INT(cron_parse(&a, "0 0 * JAN,mar-May Mon-FRI", NULL, 0), 0);
    CHECK_INT(cron_parse(&b, "0 0 * 1,3-5 1-5", NULL, 0), 0);
    CHECK(a.mon == b.mon && a.mon == ((1u << 1) | bits(3, 5, 1)));
    CHECK(a.dow == b.dow && a.dow == bits(1, 5, 1));
    CHECK_INT(cron_parse(&a, "0 0 * * sun,sat", NULL, 0), 0);
    CHECK(a.dow == ((1u << 0) | (1u << 6)));
}

TEST(parse_weekday_seven_is_sunday) {
    cron_t c;
    CHECK_INT(cron_parse(&c, "0 0 * * 7", NULL, 0), 0);
    CHECK_INT(c.dow, 1);
    CHECK_INT(cron_parse(&c, "0 0 * * 5-7", NULL, 0), 0);
    CHECK(c.dow == ((1u << 0) | (1u << 5) | (1u << 6)));
    CHECK_INT(cron_parse(&c, "0 0 * * 0-7", NULL, 0), 0);
    CHECK(c.dow == bits(0, 6, 1));
}

TEST(parse_six_fields_put_seconds_first) {
    cron_t c;
    CHECK_INT(cron_parse(&c, "*/15 30 2 * * *", NULL, 0), 0);
    CHECK(c.sec == bits(0, 45, 15));
    CHECK(c.min == bits(30, 30, 1));
    CHECK(c.hour == bits(2, 2, 1));
}

TEST(parse_macros_equal_their_expansions) {
    const char *pairs[][2] = {{"@yearly", "0 0 1 1 *"},  {"@annually", "0 0 1 1 *"},
                              {"@monthly", "0 0 1 * *"}, {"@weekly", "0 0 * * 0"},
                              {"@daily", "0 0 * * *"},   {"@midnight", "0 0 * * *"},
                              {"@hourly", "0 * * * *"},  {" @HOURLY ", "0 * * * *"}};
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        cron_t a, b;
        CHECK_INT(cron_parse(&a, pairs[i][0], NULL, 0), 0);
        CHECK_INT(cron_parse(&b, pairs[i][1], NULL, 0), 0);
        if (memcmp(&a, &b, sizeof a) != 0)
            test_fail(__FILE__, __LINE__, "%s differs from %s", pairs[i][0], pairs[i][1]);
    }
}

TEST(parse_day_field_is_star_when_it_begins_with_star_as_in_vixie) {
    cron_t c;
    CHECK_INT(cron_parse(&c, "0 0 */2 * mon", NULL, 0), 0);
    CHECK_INT(c.dom_any, 1);
    CHECK_INT(c.dow_any, 0);
    CHECK_INT(cron_parse(&c, "0 0 1-31/2 * mon", NULL, 0), 0);
    CHECK_INT(c.dom_any, 0);
    CHECK_INT(cron_parse(&c, "0 0 ? * ?", NULL, 0), 0);
    CHECK_INT(c.dom_any, 1);
    CHECK_INT(c.dow_any, 1);
    CHECK(c.dom == bits(1, 31, 1));
}

TEST(parse_accepts_tabs_and_surrounding_blanks) {
    cron_t a, b;
    CHECK_INT(cron_parse(&a, "\t 0\t12  * *\tmon \n", NULL, 0), 0);
    CHECK_INT(cron_parse(&b, "0 12 * * 1", NULL, 0), 0);
    CHECK(a.sec == b.sec && a.min == b.min && a.hour == b.hour && a.dom == b.dom);
    CHECK(a.mon == b.mon && a.dow == b.dow && a.dom_any == b.dom_any && a.dow_any == b.dow_any);
}

/* ---- errors -------------------------------------------------------------- */

TEST(error_empty_expression) {
    CHECK_STR(error_of(""), "cron: empty expression");
    CHECK_STR(error_of("   \t "), "cron: empty expression");
    CHECK_STR(error_of(NULL), "cron: empty expression");
}

TEST(error_wrong_field_count_says_how_many) {
    CHECK_STR(error_of("* * * *"), "cron: expected 5 or 6 fields, got 4");
    CHECK_STR(error_of("* * * * * * *"), "cron: expected 5 or 6 fields, got 7");
    CHECK_STR(error_of("*"), "cron: expected 5 or 6 fields, got 1");
}

TEST(error_out_of_range_names_field_and_value) {
    CHECK_STR(error_of("0 24 * * *"), "cron field 'hour': 24 out of range 0-23");
    CHECK_STR(error_of("60 * * * *"), "cron field 'minute': 60 out of range 0-59");
    CHECK_STR(error_of("0 0 0 * *"), "cron field 'day-of-month': 0 out of range 1-31");
    CHECK_STR(error_of("0 0 32 * *"), "cron field 'day-of-month': 32 out of range 1-31");
    CHECK_STR(error_of("0 0 * 13 *"), "cron field 'month': 13 out of range 1-12");
    CHECK_STR(error_of("0 0 * * 8"), "cron field 'day-of-week': 8 out of range 0-7");
    CHECK_STR(error_of("60 0 0 * * *"), "cron field 'second': 60 out of range 0-59");
    CHECK_STR(error_of("0 1-99999999999 * * *"),
              "cron field 'hour': 99999999999 out of range 0-23");
}

TEST(error_bad_step) {
    CHECK_STR(error_of("*/0 * * * *"), "cron field 'minute': step 0 out of range 1-60");
    CHECK_STR(error_of("0 */25 * * *"), "cron field 'hour': step 25 out of range 1-24");
    CHECK_STR(error_of("*/x * * * *"), "cron field 'minute': bad step in '*/x'");
    CHECK_STR(error_of("*/ * * * *"), "cron field 'minute': bad step in '*/'");
    CHECK_STR(error_of("*/-1 * * * *"), "cron field 'minute': bad step in '*/-1'");
}

TEST(error_bad_name_or_name_in_wrong_field) {
    CHECK_STR(error_of("0 0 * foo *"), "cron field 'month': unknown name 'foo'");
    CHECK_STR(error_of("0 0 * * funday"), "cron field 'day-of-week': unknown name 'funday'");
    CHECK_STR(error_of("0 0 * mon *"), "cron field 'month': unknown name 'mon'");
    CHECK_STR(error_of("0 jan * * *"), "cron field 'hour': bad value 'jan'");
}

TEST(error_malformed_items) {
    CHECK_STR(error_of("5-2 * * * *"), "cron field 'minute': range '5-2' is backwards");
    CHECK_STR(error_of("1,,2 * * * *"), "cron field 'minute': empty list item in '1,,2'");
    CHECK_STR(error_of("1, * * * *"), "cron field 'minute': empty list item in '1,'");
    CHECK_STR(error_of("5x * * * *"), "cron field 'minute': bad value '5x'");
    CHECK_STR(error_of("1- * * * *"), "cron field 'minute': bad value '1-'");
    CHECK_STR(error_of("1-2-3 * * * *"), "cron field 'minute': bad value '1-2-3'");
    CHECK_STR(error_of("? * * * *"), "cron field 'minute': bad value '?'");
    CHECK_STR(error_of("** * * * *"), "cron field 'minute': bad value '**'");
}

TEST(error_macros) {
    CHECK_STR(error_of("@reboot"), "cron: unknown macro '@reboot'");
    CHECK_STR(error_of("@daily 5"), "cron: macro '@daily' takes no other fields");
}

TEST(error_is_truncated_to_the_buffer_and_leaves_result_untouched) {
    cron_t c = {.min = 42};
    char err[12];
    memset(err, 'x', sizeof err);
    CHECK_INT(cron_parse(&c, "0 24 * * *", err, sizeof err), -EINVAL);
    CHECK_STR(err, "cron field ");
    CHECK_INT(c.min, 42);
    CHECK_INT(cron_parse(&c, "0 24 * * *", NULL, 0), -EINVAL);
}

TEST(error_quotes_at_most_forty_characters_of_a_token) {
    char expr[200], err[200];
    cron_t c;
    memset(expr, '7', 120);
    strcpy(expr + 120, " * * * *");
    CHECK_INT(cron_parse(&c, expr, err, sizeof err), -EINVAL);
    CHECK_HAS(err, "cron field 'minute': 7777777777");
    CHECK(strlen(err) < 100);
}

/* ---- next start, UTC ----------------------------------------------------- */

TEST(next_every_minute_is_the_next_whole_minute_strictly_after) {
    use_tz("UTC");
    CHECK_NUM(next_of("* * * * *", 1704067200), 1704067260); /* 2024-01-01 00:00 -> 00:01 */
    CHECK_NUM(next_of("* * * * *", 1704067200.5), 1704067260);
    CHECK_NUM(next_of("* * * * *", 1704067259.9), 1704067260);
    CHECK_NUM(next_of("* * * * *", 1704067199), 1704067200);
}

TEST(next_every_five_minutes) {
    use_tz("UTC");
    double want[] = {1704067500, 1704067800, 1704068100};
    check_starts("*/5 * * * *", 1704067380, want, 3); /* from 00:03 */
}

TEST(next_range_of_hours_on_weekdays_skips_the_weekend) {
    use_tz("UTC");
    /* Fri 2024-01-05 17:30 -> Mon 2024-01-08 09:00 */
    CHECK_NUM(next_of("0 9-17 * * mon-fri", 1704475800), 1704704400);
}

TEST(next_list_of_hours) {
    use_tz("UTC");
    double want[] = {1704110400, 1704153600};
    check_starts("0 0,12 * * *", 1704067200, want, 2);
}

TEST(next_month_names) {
    use_tz("UTC");
    /* 2024-01-01 00:00 itself is not after; next is Jul 1 */
    CHECK_NUM(next_of("0 0 1 jan,jul *", 1704067200), 1719792000);
}

TEST(next_six_fields_fires_on_seconds) {
    use_tz("UTC");
    CHECK_NUM(next_of("*/10 * * * * *", 1704067205), 1704067210);
    CHECK_NUM(next_of("30 0 0 * * *", 1704067200), 1704067230);
    CHECK_NUM(next_of("30 0 0 * * *", 1704067230), 1704153630);
    CHECK_NUM(next_of("* * * * * *", 1704067200.25), 1704067201);
}

TEST(next_daily_macro_is_next_midnight) {
    use_tz("UTC");
    CHECK_NUM(next_of("@daily", 1704103200), 1704153600); /* 2024-01-01 10:00 -> 01-02 */
}

TEST(next_dom_and_dow_both_restricted_fire_on_either) {
    use_tz("UTC");
    /* From Sun 2024-09-01: Fridays, plus Sun 2024-10-13 for the 13th. */
    double want[] = {1725580800, 1726185600, 1726790400, 1727395200,
                     1728000000, 1728604800, 1728777600, 1729209600};
    check_starts("0 0 13 * fri", 1725148800, want, 8);
}

TEST(next_star_step_day_field_needs_both_days_to_match) {
    use_tz("UTC");
    /* Vixie: "*" + "/2" counts as a star, so odd days that are Mondays: Jan 1, Jan 15. */
    double want[] = {1704067200, 1705276800};
    check_starts("0 0 */2 * mon", 1703980800, want, 2);
    /* Written as a range it is restricted: odd days or Mondays, so Jan 3 follows Jan 1. */
    CHECK_NUM(next_of("0 0 1-31/2 * mon", 1704067200), 1704240000);
}

TEST(next_feb_29_jumps_to_the_next_leap_year) {
    use_tz("UTC");
    CHECK_NUM(next_of("0 0 29 2 *", 1709251200), 1835395200); /* 2024-03-01 -> 2028-02-29 */
    CHECK_NUM(next_of("0 0 29 2 *", 1709164740), 1709164800); /* 2024-02-28 23:59 */
    CHECK_NUM(next_of("0 0 29 2 *", 3981398400), 4233686400); /* 2096-03-01 -> 2104 */
}

TEST(next_impossible_dates_return_minus_one) {
    use_tz("UTC");
    CHECK_NUM(next_of("0 0 30 2 *", 1704067200), -1);
    CHECK_NUM(next_of("0 0 31 4,6,9,11 *", 1704067200), -1);
    CHECK_NUM(next_of("0 0 31 2 *", 1704067200), -1);
}

TEST(next_last_day_of_month_transitions) {
    use_tz("UTC");
    CHECK_NUM(next_of("0 0 31 * *", 1706659200), 1711843200);    /* Jan 31 -> Mar 31 */
    CHECK_NUM(next_of("59 23 * * *", 1706745540), 1706831940);   /* Jan 31 23:59 -> Feb 1 */
    CHECK_NUM(next_of("0 0 1 * *", 1706702400), 1706745600);     /* Jan 31 noon -> Feb 1 */
    CHECK_NUM(next_of("0 0 29-31 * *", 1675209600), 1680048000); /* 2023: Feb -> Mar 29 */
    CHECK_NUM(next_of("* * * * *", 1677628740), 1677628800);     /* 2023-02-28 23:59 */
    CHECK_NUM(next_of("0 0 * * *", 1709164740), 1709164800);     /* 2024-02-28 -> 29 */
}

TEST(next_year_rollover) {
    use_tz("UTC");
    CHECK_NUM(next_of("0 0 1 1 *", 1735689599), 1735689600); /* 2024-12-31 23:59:59 */
    CHECK_NUM(next_of("* * * * *", 1735689570), 1735689600);
    CHECK_NUM(next_of("@yearly", 1735689600), 1767225600); /* -> 2026-01-01 */
}

TEST(next_rejects_non_finite_after) {
    use_tz("UTC");
    cron_t c;
    CHECK_INT(cron_parse(&c, "* * * * *", NULL, 0), 0);
    CHECK_NUM(cron_next(&c, INFINITY), -1);
    CHECK_NUM(cron_next(&c, NAN), -1);
    CHECK_NUM(cron_next(&c, 1e300), -1);
}

/* ---- next start across DST changes ------------------------------------- */

TEST(dst_spring_forward_skips_a_time_that_does_not_exist) {
    use_tz("Europe/Berlin");
    /* 2024-03-31 02:30 does not exist: 03-30 02:30 CET -> 04-01 02:30 CEST. */
    CHECK_NUM(next_of("30 2 * * *", 1711762200), 1711931400);
    CHECK_NUM(next_of("30 2 * * *", 1711839600), 1711931400); /* from 03-31 00:00 */
    /* 01:59:30 CET is followed by 03:00 CEST, one real minute later. */
    CHECK_NUM(next_of("* * * * *", 1711846770), 1711846800);
}

TEST(dst_fall_back_fires_a_repeated_time_once) {
    use_tz("Europe/Berlin");
    /* 2024-10-27 02:30 happens twice; only the first (CEST, 00:30Z) fires. */
    double want[] = {1729989000, 1730079000};
    check_starts("30 2 * * *", 1729904400, want, 2);
}

TEST(dst_hourly_across_both_changes_gives_real_epochs) {
    use_tz("Europe/Berlin");
    /* Spring: 01:00 CET, then 03:00 CEST one real hour later. */
    double spring[] = {1711843200, 1711846800, 1711850400};
    check_starts("0 * * * *", 1711841400, spring, 3);
    /* Fall: 01:00 CEST, 02:00 CEST, then 03:00 CET two real hours later (02:00 CET is
     * the repeat). */
    double fall[] = {1729983600, 1729987200, 1729994400};
    check_starts("0 * * * *", 1729981800, fall, 3);
}

TEST(dst_after_inside_the_repeated_hour_resumes_when_it_ends) {
    use_tz("Europe/Berlin");
    /* 01:15Z is 02:15 CET, the second pass; 02:30 and 02:45 already fired in the first
     * pass, so next is 03:00 CET (02:00Z). */
    CHECK_NUM(next_of("*/15 * * * *", 1729991700), 1729994400);
    CHECK_NUM(next_of("* * * * * *", 1729991700), 1729994400);
}

TEST(dst_half_hour_change_in_lord_howe) {
    use_tz("Australia/Lord_Howe");
    /* 2024-10-06 02:00 -> 02:30: 02:15 is skipped that day. */
    CHECK_NUM(next_of("15 2 * * *", 1728056700), 1728227700);
    CHECK_NUM(next_of("*/10 * * * *", 1728142200 - 300), 1728142200); /* 01:55 -> 02:30 */
}
