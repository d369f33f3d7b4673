/* test_job.c — the job DSL: every field read, and each bad definition
 * reported as "file:line: job 'name': field: message". */
#include <lauxlib.h>
#include <stdio.h>
#include <string.h>

#include "scriptkit.h"
#include "test.h"

static void expect_error(const char *text, const char *needle) {
    kit_t k;
    char err[1024] = "";
    size_t n = 0;
    kit_init(&k);
    job_t **jobs = kit_jobs(&k, "a.lua", text, &n, err, sizeof err);
    if (jobs) {
        test_fail(__FILE__, __LINE__, "expected an error containing \"%s\" for:\n%s", needle, text);
        job_free_all(jobs, n);
    } else if (!strstr(err, needle)) {
        test_fail(__FILE__, __LINE__, "error \"%s\" does not contain \"%s\"", err, needle);
    }
    kit_free(&k);
}

TEST(job_reads_every_field) {
    kit_t k;
    char err[1024];
    size_t n;
    kit_init(&k);
    job_t **jobs = kit_jobs(
        &k, "a.lua",
        "job 'discover' { every = '2h', run = function() end }\n"
        "job 'reply' {\n"
        "  every = '60m', offset = '15m', jitter = '30s', priority = 'high',\n"
        "  timeout = '2m', retry = { attempts = 5, base = '2s', max = '1m', jitter = 'equal',\n"
        "  backoff = 'linear' },\n"
        "  breaker = 'twitter', browser = { session = 'account1' },\n"
        "  requires = { discover = '2h' }, after = 'discover', overlap = 'queue',\n"
        "  misfire = 'skip', run = function() end, fallback = function() end,\n"
        "}\n"
        "job 'nightly' { cron = '0 3 * * mon-fri', offset = nil, run = function() end }\n"
        "job 'spread' { every = 300, offset = 'auto', run = function() end }\n",
        &n, err, sizeof err);
    CHECK(jobs != NULL);
    if (!jobs) {
        fprintf(stderr, "%s\n", err);
        kit_free(&k);
        return;
    }
    CHECK_INT(n, 4);
    job_t *r = jobs[1];
    CHECK_STR(r->name, "reply");
    CHECK_INT(r->line, 2);
    CHECK_NUM(r->every, 3600);
    CHECK_NUM(r->offset, 900);
    CHECK_NUM(r->jitter, 30);
    CHECK_INT(r->priority, PRIO_HIGH);
    CHECK_NUM(r->timeout, 120);
    CHECK_INT(r->retry.attempts, 5);
    CHECK_NUM(r->retry.base, 2);
    CHECK_NUM(r->retry.max, 60);
    CHECK_STR(r->retry.jitter, "equal");
    CHECK_STR(r->retry.backoff, "linear");
    CHECK_STR(r->breaker, "twitter");
    CHECK_INT(r->browser, 1);
    CHECK_STR(r->session, "account1");
    CHECK_INT(r->nrequires, 1);
    CHECK_STR(r->requires[0].job, "discover");
    CHECK_NUM(r->requires[0].within, 7200);
    CHECK_STR(r->after, "discover");
    CHECK_INT(r->overlap, OVERLAP_QUEUE);
    CHECK_INT(r->misfire, MISFIRE_SKIP);
    CHECK(r->fallback_ref != LUA_NOREF);
    CHECK_INT(jobs[2]->has_cron, 1);
    CHECK_INT(jobs[3]->offset_auto, 1);
    /* defaults come from engine.conf's defaults */
    CHECK_INT(jobs[0]->priority, PRIO_MEDIUM);
    CHECK_NUM(jobs[0]->timeout, k.conf.default_timeout);
    CHECK_INT(jobs[0]->retry.attempts, k.conf.default_retry.attempts);
    CHECK_INT(jobs[0]->overlap, OVERLAP_SKIP);
    CHECK_INT(jobs[0]->misfire, MISFIRE_RUN_ONCE);
    job_free_all(jobs, n);
    kit_free(&k);
}

TEST(job_next_start_is_clock_aligned_with_offset) {
    kit_t k;
    char err[1024];
    size_t n;
    kit_init(&k);
    job_t **jobs = kit_jobs(&k, "a.lua",
                            "job 'a' { every = '60m', offset = '15m', run = function() end }\n"
                            "job 'b' { cron = '*/5 * * * *', run = function() end }\n"
                            "job 'c' { run = function() end }\n",
                            &n, err, sizeof err);
    CHECK(jobs != NULL);
    if (!jobs) return;
    /* 2024-01-01T00:00:00Z = 1704067200 */
    CHECK_NUM(job_next_start(jobs[0], 1704067200), 1704067200 + 900);
    CHECK_NUM(job_next_start(jobs[0], 1704067200 + 900), 1704067200 + 900 + 3600);
    CHECK_NUM(job_next_start(jobs[0], 1704067200 + 899.5), 1704067200 + 900);
    CHECK_NUM(job_next_start(jobs[2], 1704067200), -1);
    job_free_all(jobs, n);
    kit_free(&k);
}

TEST(job_rejects_unknown_priority_with_file_line_job) {
    expect_error("\n\njob 'reply' { priority = 'urgent', run = function() end }",
                 "a.lua:3: job 'reply': unknown priority 'urgent'");
}

/* A retry.max given below retry.base is an error, not raised behind the
 * author's back; a base alone past the default max takes max with it. */
TEST(job_retry_max_below_base_is_an_error_unless_max_was_left_out) {
    expect_error("job 'x' {\n  retry = { base = '10s', max = '5s' },\n  run = function() end }",
                 "a.lua:1: job 'x': retry.max: 5s is less than retry.base (10s)");
    kit_t k;
    char err[1024];
    size_t n;
    kit_init(&k);
    job_t **jobs = kit_jobs(&k, "a.lua",
                            "job 'a' { retry = { base = '2m' }, run = function() end }\n"
                            "job 'b' { retry = { base = '1s' }, run = function() end }\n",
                            &n, err, sizeof err);
    CHECK(jobs != NULL);
    if (!jobs) return;
    CHECK_NUM(jobs[0]->retry.max, 120);
    CHECK_NUM(jobs[1]->retry.max, k.conf.default_retry.max);
    job_free_all(jobs, n);
    kit_free(&k);
}

TEST(job_rejects_unknown_field) {
    expect_error("job 'x' { evry = '5m', run = function() end }",
                 "a.lua:1: job 'x': unknown field 'evry'");
}

TEST(job_rejects_missing_run) { expect_error("job 'x' { every = '5m' }", "job 'x': run: missing"); }

TEST(job_rejects_bad_durations_and_types) {
    expect_error("job 'x' { every = '5 minutes', run = function() end }",
                 "job 'x': every: bad duration '5 minutes'");
    expect_error("job 'x' { timeout = true, run = function() end }",
                 "job 'x': timeout: expected a duration, got boolean");
    expect_error("job 'x' { every = '5m', jitter = -1, run = function() end }",
                 "job 'x': jitter: must be a duration >= 0");
    expect_error("job 'x' { run = 'go' }", "job 'x': run: expected a function, got string");
    expect_error("job 'x' { retry = { attempts = 0 }, run = function() end }",
                 "retry.attempts: expected an integer");
    expect_error("job 'x' { retry = { jitter = 'lots' }, run = function() end }",
                 "unknown retry.jitter 'lots'");
    expect_error("job 'x' { overlap = 'maybe', run = function() end }", "unknown overlap 'maybe'");
}

TEST(job_rejects_bad_schedules) {
    expect_error("job 'x' { cron = '61 * * * *', run = function() end }",
                 "job 'x': cron: '61 * * * *'");
    expect_error("job 'x' { cron = '* * *', run = function() end }", "job 'x': cron:");
    expect_error("job 'x' { every = '5m', cron = '* * * * *', run = function() end }",
                 "both every and cron");
    expect_error("job 'x' { offset = '1m', run = function() end }",
                 "offset: only applies to an `every` schedule");
    expect_error("job 'x' { every = '5m', offset = '5m', run = function() end }",
                 "offset: 5m is not shorter than every (5m)");
    expect_error("job 'x' { every = '0.5s', run = function() end }", "every: must be at least 1s");
}

TEST(job_rejects_duplicate_names_naming_both_places) {
    expect_error("job 'x' { run = function() end }\n\njob 'x' { run = function() end }",
                 "a.lua:3: job 'x' is already defined at");
}

TEST(job_rejects_bad_names_and_specs_at_the_call) {
    expect_error("\njob '' { run = function() end }",
                 "a.lua:2: job name must be a non-empty string");
    expect_error("job 'x' 'y'", "a.lua:1: job 'x': expected a table of fields");
    expect_error("job 'x' { after = 'x', run = function() end }", "a job cannot run after itself");
    expect_error("job 'x' { requires = { y = 'soon' }, run = function() end }",
                 "requires.y: bad duration 'soon'");
}

/* Issue 11: downloads are denied unless the job asks for them, with limits. */
TEST(job_reads_downloads_and_its_limits) {
    kit_t k;
    char err[1024];
    size_t n;
    kit_init(&k);
    job_t **jobs =
        kit_jobs(&k, "a.lua",
                 "job 'none' { browser = true, run = function() end }\n"
                 "job 'on' { browser = true, downloads = true, run = function() end }\n"
                 "job 'set' { browser = true, run = function() end,\n"
                 "  downloads = { max_bytes = '2MB', max_files = 3 } }\n"
                 "job 'bytes' { browser = true, run = function() end,\n"
                 "  downloads = { max_bytes = 1000 } }\n"
                 "job 'off' { browser = true, downloads = false, run = function() end }\n",
                 &n, err, sizeof err);
    CHECK(jobs != NULL);
    if (!jobs) {
        fprintf(stderr, "%s\n", err);
        kit_free(&k);
        return;
    }
    CHECK_INT(jobs[0]->downloads, 0);
    CHECK_INT(jobs[1]->downloads, 1);
    CHECK_INT(jobs[1]->download_max_bytes, JOB_DOWNLOAD_MAX_BYTES);
    CHECK_INT(jobs[1]->download_max_files, JOB_DOWNLOAD_MAX_FILES);
    CHECK_INT(jobs[2]->downloads, 1);
    CHECK_INT(jobs[2]->download_max_bytes, 2 * 1024 * 1024);
    CHECK_INT(jobs[2]->download_max_files, 3);
    CHECK_INT(jobs[3]->download_max_bytes, 1000);
    CHECK_INT(jobs[3]->download_max_files, JOB_DOWNLOAD_MAX_FILES);
    CHECK_INT(jobs[4]->downloads, 0);
    job_free_all(jobs, n);
    kit_free(&k);
}

TEST(job_rejects_bad_downloads_with_file_line) {
    expect_error("\njob 'x' { browser = true, downloads = 'yes', run = function() end }",
                 "a.lua:2: job 'x': downloads: expected true, false or { max_bytes");
    expect_error("job 'x' { downloads = true, run = function() end }",
                 "a.lua:1: job 'x': downloads: only applies to a job with browser = true");
    expect_error("job 'x' { browser = true, downloads = { max_bytes = '5 lots' },"
                 " run = function() end }",
                 "a.lua:1: job 'x': downloads.max_bytes: expected a size > 0");
    expect_error("job 'x' { browser = true, downloads = { max_bytes = 0 }, run = function() end }",
                 "downloads.max_bytes: expected a size > 0");
    expect_error("job 'x' { browser = true, downloads = { max_files = 0 }, run = function() end }",
                 "a.lua:1: job 'x': downloads.max_files: expected an integer from 1 to 1000");
    expect_error(
        "job 'x' { browser = true, downloads = { max_files = 2.5 }, run = function() end }",
        "downloads.max_files: expected an integer");
    expect_error(
        "job 'x' { browser = true, downloads = { size = 1 }, run = function() end }",
        "a.lua:1: job 'x': downloads: unknown field 'size' (expected max_bytes, max_files)");
    expect_error("job 'x' { browser = true, downloads = { 5 }, run = function() end }",
                 "downloads: keys must be names");
}
