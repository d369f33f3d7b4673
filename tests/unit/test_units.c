/* test_units.c — durations, sizes and times as people write them, the inputs
 * that must be refused, and formatting that reads back to the same value. */
#include <errno.h>
#include <stdint.h>

#include "test.h"
#include "base/units.h"

static double dur(const char *text) {
    double s = -12345;
    if (units_duration(text, &s) < 0) return -1;
    return s;
}

static double when(const char *text) {
    double t = -12345;
    if (units_time(text, &t) < 0) return -1;
    return t;
}

TEST(duration_accepts_every_unit) {
    CHECK_NUM(dur("250ms"), 0.25);
    CHECK_NUM(dur("5s"), 5);
    CHECK_NUM(dur("15m"), 900);
    CHECK_NUM(dur("2h"), 7200);
    CHECK_NUM(dur("1d"), 86400);
    CHECK_NUM(dur("0s"), 0);
}

TEST(duration_accepts_fractions_and_compounds) {
    CHECK_NUM(dur("0.5s"), 0.5);
    CHECK_NUM(dur("1.5h"), 5400);
    CHECK_NUM(dur("1h30m"), 5400);
    CHECK_NUM(dur("1d2h3m4s5ms"), 86400 + 7200 + 180 + 4 + 0.005);
    CHECK_NUM(dur("1m500ms"), 60.5);
    CHECK_NUM(dur("2m1s"), 121);
}

TEST(duration_plain_number_is_seconds) {
    CHECK_NUM(dur("30"), 30);
    CHECK_NUM(dur("1.5"), 1.5);
    CHECK_NUM(dur("0"), 0);
}

TEST(duration_rejects_empty_negative_unknown_unit_and_trailing_garbage) {
    const char *bad[] = {"",     "-5s", "5x",  "5s junk", "s",   " 5s",  "5s ",
                         "5 s",  "+5s", "1e3", "inf",     "nan", "0x10", "5S",
                         "1h30", "h1",  ".",   "5..1s",   "5ss", "1mo",  "5,5s"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        double s = 42;
        int rc = units_duration(bad[i], &s);
        if (rc != -EINVAL) test_fail(__FILE__, __LINE__, "\"%s\" accepted (rc %d)", bad[i], rc);
        CHECK_NUM(s, 42); /* output untouched on error */
    }
    double s;
    CHECK_INT(units_duration(NULL, &s), -EINVAL);
}

TEST(duration_rejects_overflow) {
    char huge[400];
    memset(huge, '9', sizeof huge - 2);
    huge[sizeof huge - 2] = 's';
    huge[sizeof huge - 1] = '\0';
    CHECK_NUM(dur(huge), -1);
    CHECK_NUM(dur("99999999999999d"), -1);
}

TEST(size_accepts_bytes_and_binary_units_in_any_case) {
    size_t b = 0;
    CHECK_INT(units_size("4096", &b), 0);
    CHECK_INT(b, 4096);
    CHECK_INT(units_size("10B", &b), 0);
    CHECK_INT(b, 10);
    CHECK_INT(units_size("512KB", &b), 0);
    CHECK_INT(b, 512 * 1024);
    CHECK_INT(units_size("64MB", &b), 0);
    CHECK_INT(b, 64 * 1024 * 1024);
    CHECK_INT(units_size("2GB", &b), 0);
    CHECK_INT(b, 2ULL * 1024 * 1024 * 1024);
    CHECK_INT(units_size("64mb", &b), 0);
    CHECK_INT(b, 64 * 1024 * 1024);
    CHECK_INT(units_size("1.5kb", &b), 0);
    CHECK_INT(b, 1536);
    CHECK_INT(units_size("0", &b), 0);
    CHECK_INT(b, 0);
}

TEST(size_rejects_bad_units_signs_and_overflow) {
    const char *bad[] = {"",     "MB",    "-1MB",  "64 MB", "64M",
                         "64TB", "64MiB", "64MBx", "1e3",   "99999999999GB"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        size_t b = 7;
        int rc = units_size(bad[i], &b);
        if (rc != -EINVAL) test_fail(__FILE__, __LINE__, "\"%s\" accepted (rc %d)", bad[i], rc);
        CHECK_INT(b, 7);
    }
}

TEST(time_parses_iso8601_utc_forms) {
    CHECK_NUM(when("2026-01-05T00:00:00Z"), 1767571200);
    CHECK_NUM(when("2026-01-05T00:00Z"), 1767571200);
    CHECK_NUM(when("2026-01-05"), 1767571200);
    CHECK_NUM(when("2026-01-05t02:30z"), 1767580200);
    CHECK_NUM(when("2024-02-29T12:34:56Z"), 1709210096);
    CHECK_NUM(when("2024-02-29T12:34:56.25Z"), 1709210096.25);
    CHECK_NUM(when("2024-02-29T12:34:56.123456Z"), 1709210096.123456);
    CHECK_NUM(when("1969-12-31T23:59:59Z"), -1 + 0.0); /* the one second before the epoch */
}

TEST(time_applies_numeric_utc_offsets) {
    CHECK_NUM(when("2026-01-05T02:30:00+02:30"), 1767571200);
    CHECK_NUM(when("2026-01-04T19:00:00-05:00"), 1767571200);
}

TEST(time_parses_epoch_seconds) {
    CHECK_NUM(when("1767571200"), 1767571200);
    CHECK_NUM(when("1767571200.5"), 1767571200.5);
    CHECK_NUM(when("0"), 0);
}

TEST(time_rejects_malformed_and_impossible_dates) {
    const char *bad[] = {"",
                         "2026-13-01",
                         "2026-00-10",
                         "2025-02-29",
                         "2026-04-31",
                         "2026-01-05T24:00:00Z",
                         "2026-01-05T12:60:00Z",
                         "2026-01-05T12:00:60Z",
                         "2026-01-05T12:00:00",
                         "2026-01-05T12Z",
                         "2026-01-05T12:00:00.Z",
                         "2026-01-05T12:00:00Zjunk",
                         "2026-1-5",
                         "2026/01/05",
                         "2026-01-05 12:00:00Z",
                         "-5",
                         "12abc",
                         "tomorrow",
                         "2026-01-05T12:00:00+2:00"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        double t = 9;
        int rc = units_time(bad[i], &t);
        if (rc != -EINVAL) test_fail(__FILE__, __LINE__, "\"%s\" accepted (rc %d)", bad[i], rc);
        CHECK_NUM(t, 9);
    }
}

TEST(format_duration_is_compact) {
    char buf[64];
    struct {
        double in;
        const char *out;
    } cases[] = {{0.25, "250ms"},    {5, "5s"},           {900, "15m"},   {7200, "2h"},
                 {5400, "1h30m"},    {172800, "2d"},      {0, "0s"},      {1.5, "1.5s"},
                 {60.25, "1m0.25s"}, {93784, "1d2h3m4s"}, {0.001, "1ms"}, {86401, "1d1s"},
                 {-5, "-5s"},        {0.0005, "0.5ms"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int n = units_format_duration(cases[i].in, buf, sizeof buf);
        CHECK_STR(buf, cases[i].out);
        CHECK_INT(n, strlen(cases[i].out));
    }
}

TEST(format_duration_round_trips_through_parse) {
    const double values[] = {0.25, 1,     59,    60,      61,    3599,       3600,
                             5400, 86399, 86400, 90061.5, 0.001, 123456.789, 7 * 86400};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        char buf[64];
        double back = -1;
        units_format_duration(values[i], buf, sizeof buf);
        CHECK_INT(units_duration(buf, &back), 0);
        CHECK_NUM(back, values[i]);
    }
}

TEST(format_duration_has_snprintf_semantics_on_short_buffers) {
    char buf[4];
    CHECK_INT(units_format_duration(5400, buf, sizeof buf), 5);
    CHECK_STR(buf, "1h3");
    CHECK_INT(units_format_duration(5400, NULL, 0), 5);
}

TEST(format_time_is_iso8601_utc_with_ms_only_when_present) {
    char buf[64];
    CHECK_INT(units_format_time(1767571200, buf, sizeof buf), 20);
    CHECK_STR(buf, "2026-01-05T00:00:00Z");
    units_format_time(1709210096.25, buf, sizeof buf);
    CHECK_STR(buf, "2024-02-29T12:34:56.250Z");
    units_format_time(0, buf, sizeof buf);
    CHECK_STR(buf, "1970-01-01T00:00:00Z");
    units_format_time(-0.5, buf, sizeof buf);
    CHECK_STR(buf, "1969-12-31T23:59:59.500Z");
    units_format_time(1709210096.9996, buf, sizeof buf); /* rounds to the next second */
    CHECK_STR(buf, "2024-02-29T12:34:57Z");
}

TEST(format_time_round_trips_through_parse) {
    const double values[] = {0, 1704067200, 1709210096.25, 1767571200, 4102444799, 951782400};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        char buf[64];
        double back = -1;
        units_format_time(values[i], buf, sizeof buf);
        CHECK_INT(units_time(buf, &back), 0);
        CHECK_NUM(back, values[i]);
    }
}
