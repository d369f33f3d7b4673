/* test_spread.c — offset = "auto": a social-media set spreads to one start per second
 * and two per minute, stability when a job is added, determinism, placement around
 * fixed and cron-like jobs, short and long periods, and the speed of 1,000 jobs. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "sched/spread.h"
#include "test.h"

#define DAY 86400
#define MIN 60
#define HOUR 3600
#define JAN5 1767571200.0 /* 2026-01-05T00:00:00Z, a Monday */

/* Counted here by enumerating every start, independently of spread.c. */
typedef struct tally {
    int max_sec, max_min;
    int at_first_second; /* starts in the horizon's first second */
    long starts;
} tally_t;

static void tally_add(int *sec, int *min, int64_t from, int64_t at, tally_t *t) {
    sec[at - from]++, min[at / 60 - from / 60]++, t->starts++;
}

static tally_t count_starts(const spread_job_t *jobs, size_t n, double day, int64_t len) {
    int64_t from = (int64_t)day, nmin = (from + len) / 60 - from / 60 + 1;
    int *sec = calloc((size_t)len, sizeof *sec), *min = calloc((size_t)nmin, sizeof *min);
    tally_t t = {0, 0, 0, 0};
    if (!sec || !min) abort();
    for (size_t i = 0; i < n; i++) {
        const spread_job_t *j = &jobs[i];
        if (j->every > 0 && j->every == floor(j->every)) {
            int64_t every = (int64_t)j->every, off = (int64_t)j->offset;
            int64_t r = ((from - off) % every + every) % every;
            for (int64_t s = r ? from + every - r : from; s < from + len; s += every)
                tally_add(sec, min, from, s, &t);
        } else if (j->every > 0) { /* fractional period: the k-th start is offset + k × every */
            for (double k = ceil((day - j->offset) / j->every);; k++) {
                double s = j->offset + k * j->every;
                if (s >= day + (double)len) break;
                if (s >= day) tally_add(sec, min, from, (int64_t)floor(s), &t);
            }
        } else if (j->next) {
            for (double s = j->next(j->next_ud, day - 1); s >= 0 && s < day + (double)len;
                 s = j->next(j->next_ud, s))
                tally_add(sec, min, from, (int64_t)s, &t);
        }
    }
    for (int64_t i = 0; i < len; i++)
        if (sec[i] > t.max_sec) t.max_sec = sec[i];
    for (int64_t i = 0; i < nmin; i++)
        if (min[i] > t.max_min) t.max_min = min[i];
    t.at_first_second = sec[0];
    free(sec);
    free(min);
    return t;
}

static double ms_between(const struct timespec *a, const struct timespec *b) {
    return (double)(b->tv_sec - a->tv_sec) * 1e3 + (double)(b->tv_nsec - a->tv_nsec) / 1e6;
}

/* Every placed offset is a whole second in [0, every). */
static int offsets_valid(const spread_job_t *jobs, size_t n) {
    for (size_t i = 0; i < n; i++) {
        const spread_job_t *j = &jobs[i];
        if (j->every <= 0) continue;
        if (!j->fixed || j->offset < 0 || j->offset >= j->every) return 0;
        if (j->offset != floor(j->offset)) return 0;
    }
    return 1;
}

/* A social-media automation set: 16 jobs, periods 5 to 60 minutes. */
static const struct {
    const char *name;
    int minutes;
} social[16] = {
    {"x_mentions_poll", 5},    {"dm_inbox_check", 5},      {"reply_queue_drain", 10},
    {"x_trending_scan", 10},   {"ig_comments_poll", 10},   {"li_notifications", 15},
    {"fb_page_messages", 15},  {"tiktok_comments", 15},    {"scheduled_post_publish", 20},
    {"reddit_inbox", 20},      {"follower_sync", 30},      {"hashtag_research", 30},
    {"engagement_likes", 30},  {"analytics_snapshot", 60}, {"oauth_token_refresh", 60},
    {"competitor_digest", 60},
};

static void social_jobs(spread_job_t *jobs, int fixed_at_zero) {
    for (int i = 0; i < 16; i++)
        jobs[i] = (spread_job_t){.name = social[i].name,
                                 .every = social[i].minutes * MIN,
                                 .offset = 0,
                                 .fixed = fixed_at_zero};
}

TEST(spread_social_set_one_per_second_two_per_minute_over_a_day) {
    spread_job_t jobs[16];
    struct timespec a, b;
    social_jobs(jobs, 0);
    clock_gettime(CLOCK_MONOTONIC, &a);
    CHECK_INT(spread_place(jobs, 16, JAN5), 0);
    clock_gettime(CLOCK_MONOTONIC, &b);
    CHECK(offsets_valid(jobs, 16));
    tally_t t = count_starts(jobs, 16, JAN5, DAY);
    CHECK_INT(t.max_sec, 1);
    CHECK(t.max_min <= 2);
    CHECK_INT(t.starts, 69 * 24);
    for (int i = 0; i < 16; i++)
        printf("    %-24s every %2dm  offset %4.0fs (%dm%02ds)\n", jobs[i].name, social[i].minutes,
               jobs[i].offset, (int)jobs[i].offset / 60, (int)jobs[i].offset % 60);
    printf("    placed in %.2f ms: max per second %d, max per minute %d\n", ms_between(&a, &b),
           t.max_sec, t.max_min);
}

TEST(spread_social_set_fixed_at_zero_all_fire_at_midnight) {
    spread_job_t jobs[16];
    social_jobs(jobs, 1);
    CHECK_INT(spread_place(jobs, 16, JAN5), 0);
    for (int i = 0; i < 16; i++) CHECK_NUM(jobs[i].offset, 0); /* fixed: left alone */
    tally_t t = count_starts(jobs, 16, JAN5, DAY);
    CHECK_INT(t.at_first_second, 16);
    CHECK_INT(t.max_sec, 16);
    CHECK_INT(t.max_min, 16);
}

TEST(spread_adding_a_job_keeps_the_others_and_the_bounds) {
    /* Each job in turn arrives last, after the other 15 were placed and stored. */
    for (int late = 0; late < 16; late++) {
        spread_job_t jobs[16], first[15];
        double kept[15];
        social_jobs(jobs, 0);
        for (int i = 0, k = 0; i < 16; i++)
            if (i != late) first[k++] = jobs[i];
        CHECK_INT(spread_place(first, 15, JAN5), 0);
        for (int i = 0; i < 15; i++) kept[i] = first[i].offset;
        for (int i = 0; i < 15; i++) jobs[i] = first[i]; /* fixed = 1 after placement */
        jobs[15] = (spread_job_t){.name = social[late].name, .every = social[late].minutes * MIN};
        CHECK_INT(spread_place(jobs, 16, JAN5), 0);
        for (int i = 0; i < 15; i++) CHECK_NUM(jobs[i].offset, kept[i]);
        CHECK(offsets_valid(jobs, 16));
        tally_t t = count_starts(jobs, 16, JAN5, DAY);
        if (t.max_sec != 1 || t.max_min > 2)
            printf("    late %s: max per second %d, per minute %d\n", social[late].name, t.max_sec,
                   t.max_min);
        CHECK_INT(t.max_sec, 1);
        CHECK(t.max_min <= 2);
    }
}

TEST(spread_same_input_same_offsets_in_any_order) {
    spread_job_t a[16], b[16], r[16];
    social_jobs(a, 0);
    social_jobs(b, 0);
    social_jobs(r, 0);
    for (int i = 0; i < 8; i++) { /* reversed input order */
        spread_job_t x = r[i];
        r[i] = r[15 - i];
        r[15 - i] = x;
    }
    CHECK_INT(spread_place(a, 16, JAN5), 0);
    CHECK_INT(spread_place(b, 16, JAN5), 0);
    CHECK_INT(spread_place(r, 16, JAN5), 0);
    for (int i = 0; i < 16; i++) {
        CHECK_NUM(a[i].offset, b[i].offset);
        CHECK_STR(r[15 - i].name, a[i].name);
        CHECK_NUM(r[15 - i].offset, a[i].offset);
    }
    /* The phase is against the epoch, so another midnight gives the same offsets. */
    social_jobs(b, 0);
    CHECK_INT(spread_place(b, 16, JAN5 + 3 * DAY), 0);
    for (int i = 0; i < 16; i++) CHECK_NUM(b[i].offset, a[i].offset);
}

TEST(spread_places_around_fixed_jobs) {
    /* Fixed 5-minute jobs at second 0 of each minute of the 5-minute cycle. */
    spread_job_t jobs[7] = {
        {.name = "f0", .every = 300, .offset = 0, .fixed = 1},
        {.name = "f1", .every = 300, .offset = 60, .fixed = 1},
        {.name = "f2", .every = 300, .offset = 120, .fixed = 1},
        {.name = "f3", .every = 300, .offset = 180, .fixed = 1},
        {.name = "f4", .every = 300, .offset = 240, .fixed = 1},
        {.name = "auto_a", .every = 300},
        {.name = "auto_b", .every = 600},
    };
    CHECK_INT(spread_place(jobs, 7, JAN5), 0);
    for (int i = 0; i < 5; i++) {
        CHECK_NUM(jobs[i].offset, 60 * i);
        CHECK_INT(jobs[i].fixed, 1);
    }
    CHECK(offsets_valid(jobs, 7));
    /* every minute is taken once: auto_a lands half a minute from a fixed start */
    CHECK(fmod(jobs[5].offset, 60) >= 25 && fmod(jobs[5].offset, 60) <= 35);
    /* auto_b takes the minutes auto_a left at one start, also half a minute in */
    CHECK(fmod(floor(jobs[6].offset / 60), 5) != fmod(floor(jobs[5].offset / 60), 5));
    CHECK(fmod(jobs[6].offset, 60) >= 25 && fmod(jobs[6].offset, 60) <= 35);
    tally_t t = count_starts(jobs, 7, JAN5, DAY);
    CHECK_INT(t.max_sec, 1);
    CHECK_INT(t.max_min, 2);
}

TEST(spread_prefers_minutes_with_fewer_starts_already) {
    /* Every minute has at least one start either way, so the tie is broken by the
     * starts already there: even minutes hold one each, odd ones only minute 1 of the
     * hour. Second 60 itself is taken: minute 1, half a minute from it. */
    spread_job_t jobs[3] = {
        {.name = "even_minutes", .every = 120, .offset = 0, .fixed = 1},
        {.name = "hourly_at_1m", .every = 3600, .offset = 60, .fixed = 1},
        {.name = "placed", .every = 120},
    };
    CHECK_INT(spread_place(jobs, 3, JAN5), 0);
    CHECK_NUM(floor(jobs[2].offset / 60), 1);
    CHECK(fmod(jobs[2].offset, 60) >= 25 && fmod(jobs[2].offset, 60) <= 35);
    tally_t t = count_starts(jobs, 3, JAN5, DAY);
    CHECK_INT(t.max_sec, 1);
    CHECK_INT(t.max_min, 2);
}

/* A cron-like job: second 0 of every minute. */
static double every_minute_at_0(const void *ud, double after) {
    (void)ud;
    return (floor(after / 60) + 1) * 60;
}

TEST(spread_places_around_a_cron_like_job) {
    spread_job_t jobs[5] = {
        {.name = "cron_each_minute", .fixed = 1, .next = every_minute_at_0},
        {.name = "poll_5m", .every = 300},
        {.name = "poll_10m", .every = 600},
        {.name = "digest_1h", .every = 3600},
        {.name = "report_2h", .every = 7200},
    };
    CHECK_INT(spread_place(jobs, 5, JAN5), 0);
    CHECK_NUM(jobs[0].offset, 0);
    CHECK_NUM(jobs[0].every, 0);
    CHECK(offsets_valid(jobs, 5));
    for (int i = 1; i < 5; i++) CHECK(fmod(jobs[i].offset, 60) != 0); /* not at :00 */
    /* every minute holds one cron start: the job keeps half a minute from them */
    CHECK(fmod(jobs[1].offset, 60) >= 25 && fmod(jobs[1].offset, 60) <= 35);
    tally_t t = count_starts(jobs, 5, JAN5, DAY);
    CHECK_INT(t.max_sec, 1);
    CHECK_INT(t.max_min, 2);
    CHECK_INT(t.starts, 1440 + 288 + 144 + 24 + 12);
}

TEST(spread_ten_second_periods_take_distinct_seconds) {
    spread_job_t jobs[11];
    char names[11][24];
    for (int i = 0; i < 11; i++) {
        snprintf(names[i], sizeof names[i], "tick_%02d", i);
        jobs[i] = (spread_job_t){.name = names[i], .every = 10};
    }
    CHECK_INT(spread_place(jobs, 10, JAN5), 0);
    CHECK(offsets_valid(jobs, 10));
    int seen[10] = {0};
    for (int i = 0; i < 10; i++) seen[(int)jobs[i].offset]++;
    for (int i = 0; i < 10; i++) CHECK_INT(seen[i], 1);
    tally_t t = count_starts(jobs, 10, JAN5, DAY);
    CHECK_INT(t.max_sec, 1);
    CHECK_INT(t.max_min, 60); /* 10 jobs × 6 per minute: unavoidable */

    /* An eleventh has no free second left: two per second somewhere, never more. */
    CHECK_INT(spread_place(jobs, 11, JAN5), 0);
    CHECK(offsets_valid(jobs, 11));
    t = count_starts(jobs, 11, JAN5, DAY);
    CHECK_INT(t.max_sec, 2);
    CHECK_INT(t.max_min, 66);
}

TEST(spread_periods_that_do_not_divide_a_day) {
    /* 7 and 13 minutes meet every 91 minutes whatever the phases, so two per minute
     * somewhere is unavoidable; one per second is not. */
    spread_job_t jobs[4] = {
        {.name = "seven_min_a", .every = 420},
        {.name = "seven_min_b", .every = 420},
        {.name = "thirteen_min", .every = 780},
        {.name = "odd_hours", .every = 5 * HOUR + 17},
    };
    CHECK_INT(spread_place(jobs, 4, JAN5), 0);
    CHECK(offsets_valid(jobs, 4));
    tally_t t = count_starts(jobs, 4, JAN5, DAY);
    CHECK_INT(t.max_sec, 1);
    CHECK_INT(t.max_min, 2);

    /* 7 s jobs take one second in seven; 7 minutes is a multiple of 7 s, so 7-minute
     * jobs fit between them. */
    spread_job_t sevens[4] = {
        {.name = "seven_sec_a", .every = 7},
        {.name = "seven_sec_b", .every = 7},
        {.name = "seven_min_a", .every = 420},
        {.name = "seven_min_b", .every = 420},
    };
    CHECK_INT(spread_place(sevens, 4, JAN5), 0);
    CHECK(offsets_valid(sevens, 4));
    CHECK(sevens[0].offset != sevens[1].offset);
    t = count_starts(sevens, 4, JAN5, DAY);
    CHECK_INT(t.max_sec, 1);

    /* A fractional period: whole-second offsets below it, starts on half seconds. */
    spread_job_t half[2] = {
        {.name = "ninety_and_a_half_a", .every = 90.5},
        {.name = "ninety_and_a_half_b", .every = 90.5},
    };
    CHECK_INT(spread_place(half, 2, JAN5), 0);
    CHECK(offsets_valid(half, 2));
    CHECK(half[0].offset <= 90 && half[1].offset <= 90);
    t = count_starts(half, 2, JAN5, DAY);
    CHECK_INT(t.max_sec, 1);
}

TEST(spread_period_of_36_hours_uses_a_36_hour_horizon) {
    spread_job_t jobs[4] = {
        {.name = "archive_a", .every = 36 * HOUR},
        {.name = "archive_b", .every = 36 * HOUR},
        {.name = "hourly", .every = HOUR, .offset = 0, .fixed = 1},
        {.name = "daily", .every = DAY},
    };
    CHECK_INT(spread_place(jobs, 4, JAN5), 0);
    CHECK(offsets_valid(jobs, 4));
    CHECK(jobs[0].offset != jobs[1].offset);
    /* Each 36 h job starts once in the 36 h horizon, in a minute of its own. */
    tally_t t = count_starts(jobs, 4, JAN5, 36 * HOUR);
    CHECK_INT(t.max_sec, 1);
    CHECK_INT(t.max_min, 1);
    CHECK_INT(t.starts, 36 + 2 + 2);
}

TEST(spread_empty_and_unplaceable_inputs) {
    CHECK_INT(spread_place(NULL, 0, JAN5), 0);
    spread_job_t jobs[3] = {
        {.name = "fixed", .every = 60, .offset = 7, .fixed = 1},
        {.name = "no_schedule"}, /* every 0 and no `next`: neither counted nor placed */
        {.name = "bad_period", .every = NAN},
    };
    CHECK_INT(spread_place(jobs, 3, JAN5), 0);
    CHECK_NUM(jobs[0].offset, 7);
    CHECK_INT(jobs[1].fixed, 0);
    CHECK_INT(jobs[2].fixed, 0);
    spread_job_t one = {.name = "x", .every = 60};
    CHECK_INT(spread_place(&one, 1, NAN), -EINVAL);
    CHECK_INT(one.fixed, 0);
    CHECK_INT(spread_place(&one, 1, JAN5 + 0.5), 0); /* a day that starts mid-second */
    CHECK(offsets_valid(&one, 1));

    /* Rejected before anything changes: too long a horizon, too many starts. */
    spread_job_t bad[2] = {{.name = "ages", .every = 1e10}, {.name = "x", .every = 60}};
    CHECK_INT(spread_place(bad, 2, JAN5), -EINVAL);
    bad[0].every = 1e-4;
    CHECK_INT(spread_place(bad, 2, JAN5), -EINVAL);
    CHECK_INT(bad[1].fixed, 0);

    /* A fixed offset far outside its period still counts, and ends. */
    spread_job_t far[2] = {{.name = "far", .every = 60, .offset = 1e300, .fixed = 1},
                           {.name = "half_second", .every = 0.5}};
    CHECK_INT(spread_place(far, 2, JAN5), 0);
    CHECK_NUM(far[1].offset, 0); /* the only whole second below 0.5 */
}

TEST(spread_duplicate_names_get_distinct_offsets) {
    spread_job_t a[3] = {{.name = "poll", .every = 300},
                         {.name = "poll", .every = 300},
                         {.name = "poll", .every = 300}};
    spread_job_t b[3];
    memcpy(b, a, sizeof a);
    CHECK_INT(spread_place(a, 3, JAN5), 0);
    CHECK_INT(spread_place(b, 3, JAN5), 0);
    CHECK(offsets_valid(a, 3));
    for (int i = 0; i < 3; i++) CHECK_NUM(a[i].offset, b[i].offset);
    CHECK(a[0].offset != a[1].offset && a[1].offset != a[2].offset);
    CHECK(a[0].offset != a[2].offset);
    tally_t t = count_starts(a, 3, JAN5, DAY);
    CHECK_INT(t.max_sec, 1);
    CHECK_INT(t.max_min, 1);
}

TEST(spread_thousand_jobs_place_quickly) {
    static const int periods[] = {10,   30,   60,   120,  300,   600,   900,
                                  1200, 1800, 3600, 7200, 14400, 21600, DAY};
    enum { N = 1000, NP = sizeof periods / sizeof periods[0] };
    spread_job_t *jobs = calloc(N, sizeof *jobs);
    char(*names)[16] = calloc(N, sizeof *names);
    uint32_t seed = 12345;
    if (!jobs || !names) abort();
    for (int i = 0; i < N; i++) {
        seed = seed * 1103515245u + 12345u;
        /* Mostly minutes to hours, a few 10 s and 30 s jobs. */
        int p = periods[(seed >> 16) % NP];
        if (p < 60 && (seed >> 8) % 8) p = 3600;
        snprintf(names[i], sizeof names[i], "job_%04d", i);
        jobs[i] = (spread_job_t){.name = names[i], .every = p};
        if (i % 10 == 0) jobs[i].offset = (seed >> 4) % (unsigned)p, jobs[i].fixed = 1;
    }
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    CHECK_INT(spread_place(jobs, N, JAN5), 0);
    clock_gettime(CLOCK_MONOTONIC, &b);
    CHECK(offsets_valid(jobs, N));
    tally_t t = count_starts(jobs, N, JAN5, DAY);
    printf("    %d jobs (%ld starts a day) placed in %.1f ms: max per second %d, per minute %d\n",
           N, t.starts, ms_between(&a, &b), t.max_sec, t.max_min);
    free(jobs);
    free(names);
}
