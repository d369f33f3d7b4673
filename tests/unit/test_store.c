/* test_store.c — the sqlite store on real files in a fresh temp dir: schema and
 * migrations, runs, kv, job state, batching, open errors that touch nothing,
 * and an out-of-memory sweep through sqlite's allocator. */
#include <errno.h>
#include <ftw.h>
#include <math.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store/store.h"
#include "test.h"

/* ---- temp dirs, files and a second connection ---- */

typedef struct tmp {
    char dir[64];
    char db[128];
} tmp_t;

/* A directory in base (memory-backed /dev/shm for the tests that open
 * thousands of files: their subject is allocation, not the disk). */
static void tmp_init_in(tmp_t *t, const char *base) {
    snprintf(t->dir, sizeof t->dir, "%s/baton-store-XXXXXX", base);
    if (!mkdtemp(t->dir)) {
        if (strcmp(base, "/tmp") != 0) {
            tmp_init_in(t, "/tmp");
            return;
        }
        perror("mkdtemp");
        abort();
    }
    snprintf(t->db, sizeof t->db, "%s/baton.db", t->dir);
}

static void tmp_init(tmp_t *t) { tmp_init_in(t, "/tmp"); }

static int rm_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw) {
    if (type == FTW_DP) chmod(path, 0700);
    return remove(path);
}

static void tmp_done(tmp_t *t) {
    chmod(t->dir, 0700);
    nftw(t->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

static void path_in(char *buf, size_t len, const tmp_t *t, const char *name) {
    snprintf(buf, len, "%s/%s", t->dir, name);
}

static int exists(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0;
}

static void write_file(const char *path, const char *bytes, size_t len) {
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (!f) return;
    CHECK_INT(fwrite(bytes, 1, len, f), len);
    fclose(f);
}

/* The whole file, malloc'd (caller frees); NULL when it cannot be read. */
static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    *len = 0;
    if (!f) return NULL;
    for (;;) {
        char *grown = realloc(buf, *len + 4096);
        if (!grown) break;
        buf = grown;
        size_t n = fread(buf + *len, 1, 4096, f);
        *len += n;
        if (n < 4096) break;
    }
    fclose(f);
    return buf;
}

/* Checks that path still holds exactly len bytes of want. */
static void check_bytes(const char *path, const char *want, size_t len) {
    size_t got_len;
    char *got = read_file(path, &got_len);
    CHECK(got != NULL);
    CHECK_INT(got_len, len);
    CHECK(got && got_len == len && memcmp(got, want, len) == 0);
    free(got);
}

/* One integer from a separate read-only connection; -1 when it fails. */
static int64_t raw_int(const char *path, const char *sql) {
    sqlite3 *db = NULL;
    sqlite3_stmt *st;
    int64_t v = -1;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK) {
        if (sqlite3_step(st) == SQLITE_ROW) v = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
    }
    sqlite3_close(db);
    return v;
}

/* Runs sql on a separate read-write connection (creating the file). */
static void raw_exec(const char *path, const char *sql) {
    sqlite3 *db = NULL;
    CHECK_INT(sqlite3_open(path, &db), SQLITE_OK);
    CHECK_INT(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

static store_t *open_ok(const char *path) {
    store_t *s = NULL;
    char err[256];
    int rc = store_open(&s, path, 0, err, sizeof err);
    if (rc < 0) test_fail(__FILE__, __LINE__, "store_open(%s): %d %s", path, rc, err);
    return s;
}

/* ---- rows ---- */

static store_run_t run_row(int64_t run_id, const char *job, int attempt, const char *status,
                           double ended_at) {
    return (store_run_t){.run_id = run_id,
                         .job = job,
                         .attempt = attempt,
                         .scheduled_at = ended_at ? ended_at - 10 : 0,
                         .started_at = ended_at ? ended_at - 5 : 0,
                         .ended_at = ended_at,
                         .status = status};
}

typedef struct seen {
    int n, stop_after;
    int64_t run_id[32];
    int attempt[32];
    char job[32][32], status[32][16], error_kind[32][16], error[32][64], result[32][64];
    double scheduled_at[32], started_at[32], ended_at[32];
} seen_t;

static void copy_or_null(char *dst, size_t len, const char *src) {
    snprintf(dst, len, "%s", src ? src : "(null)");
}

static int collect(void *ud, const store_run_t *r) {
    seen_t *s = ud;
    int i = s->n++;
    if (i >= 32) return 1;
    s->run_id[i] = r->run_id;
    s->attempt[i] = r->attempt;
    s->scheduled_at[i] = r->scheduled_at;
    s->started_at[i] = r->started_at;
    s->ended_at[i] = r->ended_at;
    copy_or_null(s->job[i], sizeof s->job[i], r->job);
    copy_or_null(s->status[i], sizeof s->status[i], r->status);
    copy_or_null(s->error_kind[i], sizeof s->error_kind[i], r->error_kind);
    copy_or_null(s->error[i], sizeof s->error[i], r->error);
    copy_or_null(s->result[i], sizeof s->result[i], r->result);
    return s->stop_after && s->n >= s->stop_after;
}

static int count_runs(store_t *s, const char *job) {
    seen_t seen = {0};
    CHECK_INT(store_runs(s, job, 0, collect, &seen), 0);
    return seen.n;
}

static void check_kv(store_t *s, const char *key, const char *want) {
    char *json = (char *)"unset";
    CHECK_INT(store_kv_get(s, key, &json), 0);
    if (want)
        CHECK_STR(json, want);
    else
        CHECK(json == NULL);
    free(json);
}

/* ---- schema and reopen ---- */

TEST(store_creates_the_current_schema_in_wal_mode) {
    tmp_t t;
    tmp_init(&t);
    store_t *s = open_ok(t.db);
    CHECK(s != NULL);
    CHECK_INT(store_dirty(s), 0);
    store_close(s);
    CHECK_INT(raw_int(t.db, "PRAGMA user_version"), 5);
    CHECK_INT(raw_int(t.db, "SELECT count(*) FROM pragma_journal_mode WHERE journal_mode = 'wal'"),
              1);
    CHECK_INT(raw_int(t.db, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND "
                            "name IN ('runs', 'kv', 'job_state', 'breakers')"),
              4);
    CHECK_INT(raw_int(t.db, "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND "
                            "name IN ('runs_job_id', 'runs_ended_at')"),
              2);
    /* The columns of docs/design.md §Runs, by name. */
    CHECK_INT(raw_int(t.db, "SELECT count(*) FROM (SELECT id, run_id, job, attempt, scheduled_at,"
                            " started_at, ended_at, status, error_kind, error, result FROM runs)"),
              0);
    CHECK_INT(raw_int(t.db, "SELECT count(*) FROM pragma_index_info('runs_job_id')"), 2);
    tmp_done(&t);
}

TEST(store_migrates_an_empty_file) {
    tmp_t t;
    tmp_init(&t);
    write_file(t.db, "", 0);
    store_t *s = open_ok(t.db);
    CHECK(s != NULL);
    CHECK_INT(store_kv_set(s, "k", "1"), 0);
    store_close(s);
    CHECK_INT(raw_int(t.db, "PRAGMA user_version"), 5);
    CHECK_INT(raw_int(t.db, "SELECT count(*) FROM kv"), 1);
    tmp_done(&t);
}

TEST(store_migrates_v1_to_the_current_schema_keeping_data_and_keeps_breakers) {
    tmp_t t;
    tmp_init(&t);
    store_t *s = open_ok(t.db);
    CHECK_INT(store_kv_set(s, "k", "7"), 0);
    store_close(s);
    /* make it a v1 database again, as the first release wrote it */
    raw_exec(t.db,
             "DROP TABLE breakers; DROP TABLE sessions; DROP TABLE meta; DROP TABLE inflight; "
             "PRAGMA user_version = 1;");
    CHECK_INT(raw_int(t.db, "PRAGMA user_version"), 1);
    s = open_ok(t.db);
    store_breaker_t b = {.state = "open", .opened_at = 1000.5, .failures = 5, .changed_at = 1000.5};
    store_breaker_t back;
    CHECK_INT(store_breaker_get(s, "site", &back), 1);
    CHECK_INT(store_breaker_put(s, "site", &b), 0);
    store_close(s);
    CHECK_INT(raw_int(t.db, "PRAGMA user_version"), 5);
    s = open_ok(t.db);
    CHECK_INT(store_breaker_get(s, "site", &back), 0);
    CHECK_STR(back.state, "open");
    CHECK_NUM(back.opened_at, 1000.5);
    CHECK_INT(back.failures, 5);
    char *v = NULL;
    CHECK_INT(store_kv_get(s, "k", &v), 0);
    CHECK_STR(v, "7");
    free(v);
    store_close(s);
    tmp_done(&t);
}

TEST(store_reopen_keeps_runs_kv_and_job_state) {
    tmp_t t;
    tmp_init(&t);
    store_t *s = open_ok(t.db);
    store_run_t r = run_row(store_run_id_next(s), "discover", 1, "failed", 1000.25);
    r.error_kind = "timeout";
    r.error = "took longer than 2m";
    CHECK_INT(store_run_add(s, &r), 0);
    r.attempt = 2;
    r.status = "ok";
    r.error_kind = r.error = NULL;
    r.result = "{\"found\":3}";
    CHECK_INT(store_run_add(s, &r), 0);
    CHECK_INT(store_kv_set(s, "opportunities", "[1,2,3]"), 0);
    store_job_state_t st = {.has_offset = 1, .offset = 900, .every = 3600, .last_ok = 1000.25};
    CHECK_INT(store_job_put(s, "discover", &st), 0);
    store_close(s);

    s = open_ok(t.db);
    seen_t seen = {0};
    CHECK_INT(store_runs(s, NULL, 0, collect, &seen), 0);
    CHECK_INT(seen.n, 2);
    CHECK_INT(seen.attempt[0], 2);
    CHECK_STR(seen.status[0], "ok");
    CHECK_STR(seen.result[0], "{\"found\":3}");
    CHECK_STR(seen.error_kind[0], "(null)");
    CHECK_INT(seen.attempt[1], 1);
    CHECK_STR(seen.job[1], "discover");
    CHECK_STR(seen.status[1], "failed");
    CHECK_STR(seen.error_kind[1], "timeout");
    CHECK_STR(seen.error[1], "took longer than 2m");
    CHECK_STR(seen.result[1], "(null)");
    CHECK_NUM(seen.ended_at[1], 1000.25);
    CHECK_NUM(seen.started_at[1], 995.25);
    CHECK_NUM(seen.scheduled_at[1], 990.25);
    CHECK_INT(seen.run_id[0], seen.run_id[1]);
    check_kv(s, "opportunities", "[1,2,3]");
    store_job_state_t got;
    CHECK_INT(store_job_get(s, "discover", &got), 0);
    CHECK_INT(got.has_offset, 1);
    CHECK_NUM(got.offset, 900);
    CHECK_NUM(got.last_ok, 1000.25);
    store_close(s);
    tmp_done(&t);
}

TEST(store_memory_database_works_and_close_null_is_a_noop) {
    store_t *s = open_ok(":memory:");
    CHECK(s != NULL);
    store_run_t r = run_row(store_run_id_next(s), "a", 1, "ok", 10);
    CHECK_INT(store_run_add(s, &r), 0);
    CHECK_INT(count_runs(s, "a"), 1);
    CHECK_INT(store_flush(s), 0);
    store_close(s);
    store_close(NULL);
    CHECK_INT(store_dirty(NULL), 0);
    CHECK_INT(store_flush(NULL), 0);
}

/* ---- key/value ---- */

TEST(store_kv_get_set_delete_and_absent_keys) {
    tmp_t t;
    tmp_init(&t);
    store_t *s = open_ok(t.db);
    check_kv(s, "missing", NULL);
    CHECK_INT(store_kv_delete(s, "missing"), 0);
    CHECK_INT(store_kv_set(s, "a", "{\"x\":[1,2]}"), 0);
    check_kv(s, "a", "{\"x\":[1,2]}");
    CHECK_INT(store_kv_set(s, "a", "\"text\""), 0);
    check_kv(s, "a", "\"text\"");
    CHECK_INT(store_kv_set(s, "", "null"), 0); /* the empty key is a key */
    check_kv(s, "", "null");
    CHECK_INT(store_kv_delete(s, "a"), 0);
    check_kv(s, "a", NULL);
    /* Bad input is refused and loses nothing. */
    CHECK_INT(store_kv_set(s, "", "{not json"), -EINVAL);
    CHECK_STR(store_errmsg(s), "the value is not valid JSON: {not json");
    char long_bad[200];
    memset(long_bad, 'x', sizeof long_bad - 1);
    long_bad[sizeof long_bad - 1] = '\0';
    CHECK_INT(store_kv_set(s, "", long_bad), -EINVAL);
    CHECK_INT(strlen(store_errmsg(s)), strlen("the value is not valid JSON: ") + 60 + 3);
    CHECK_HAS(store_errmsg(s), "xxx...");
    check_kv(s, "", "null");
    CHECK_INT(store_kv_set(s, "", NULL), -EINVAL);
    CHECK_INT(store_kv_set(s, NULL, "1"), -EINVAL);
    check_kv(s, "", "null");
    store_close(s);
    s = open_ok(t.db);
    check_kv(s, "", "null");
    check_kv(s, "a", NULL);
    store_close(s);
    tmp_done(&t);
}

TEST(store_kv_incr_counts_and_writes_integers_without_fraction) {
    tmp_t t;
    tmp_init(&t);
    store_t *s = open_ok(t.db);
    double v = -1;
    CHECK_INT(store_kv_incr(s, "n", 1, &v), 0); /* absent counts as 0 */
    CHECK_NUM(v, 1);
    check_kv(s, "n", "1");
    CHECK_INT(store_kv_incr(s, "n", 4, &v), 0);
    CHECK_NUM(v, 5);
    check_kv(s, "n", "5");
    CHECK_INT(store_kv_incr(s, "n", -7, &v), 0);
    check_kv(s, "n", "-2");
    CHECK_INT(store_kv_incr(s, "n", 0.5, &v), 0);
    CHECK_NUM(v, -1.5);
    check_kv(s, "n", "-1.5");
    CHECK_INT(store_kv_incr(s, "n", 1.5, &v), 0);
    check_kv(s, "n", "0");
    CHECK_INT(store_kv_incr(s, "f", 0.1, &v), 0);
    CHECK_INT(store_kv_incr(s, "f", 0.2, &v), 0);
    check_kv(s, "f", "0.30000000000000004");
    /* Stored forms other writers may use: spaces, exponents, a fraction. */
    CHECK_INT(store_kv_set(s, "e", " 2.5e1 "), 0);
    CHECK_INT(store_kv_incr(s, "e", 1, &v), 0);
    CHECK_NUM(v, 26);
    check_kv(s, "e", "26");
    /* Integers past 2^53 stay exact. */
    CHECK_INT(store_kv_set(s, "big", "9007199254740993"), 0);
    CHECK_INT(store_kv_incr(s, "big", 1, &v), 0);
    check_kv(s, "big", "9007199254740994");
    CHECK_INT(store_kv_incr(s, NULL, 1, &v), -EINVAL);
    store_close(s);
    tmp_done(&t);
}

TEST(store_kv_incr_on_a_non_number_is_einval_and_keeps_the_value) {
    tmp_t t;
    tmp_init(&t);
    store_t *s = open_ok(t.db);
    const char *bad[] = {"\"12\"", "{\"n\":1}", "[1]",   "true",
                         "null",   "\"abc\"",   "1e999", "-1e999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        double v = 42;
        CHECK_INT(store_kv_set(s, "k", bad[i]), 0);
        CHECK_INT(store_kv_incr(s, "k", 1, &v), -EINVAL);
        CHECK_NUM(v, 42);
        CHECK(store_errmsg(s)[0] != '\0');
        check_kv(s, "k", bad[i]);
    }
    CHECK_INT(store_kv_set(s, "k", "{\n  \"a\": \"0123456789012345678901234567890123456789\"\n}"),
              0);
    CHECK_INT(store_kv_incr(s, "k", 1, NULL), -EINVAL);
    CHECK_STR(store_errmsg(s), "the value is not a number: {   \"a\": "
                               "\"0123456789012345678901234567890123456789\" }");
    CHECK_INT(store_kv_set(s, "k", "\"abc\""), 0);
    CHECK_INT(store_kv_incr(s, "k", 1, NULL), -EINVAL);
    CHECK_STR(store_errmsg(s), "the value is not a number: \"abc\"");
    /* An increment JSON cannot hold is refused too. */
    CHECK_INT(store_kv_set(s, "n", "1"), 0);
    CHECK_INT(store_kv_incr(s, "n", NAN, NULL), -EINVAL);
    CHECK_INT(store_kv_incr(s, "n", INFINITY, NULL), -EINVAL);
    CHECK_INT(store_kv_set(s, "n", "1.7e308"), 0);
    CHECK_INT(store_kv_incr(s, "n", 1.7e308, NULL), -EINVAL);
    check_kv(s, "n", "1.7e308");
    store_close(s);
    s = open_ok(t.db);
    check_kv(s, "k", "\"abc\"");
    store_close(s);
    tmp_done(&t);
}

/* ---- job state ---- */

TEST(store_job_state_round_trip_and_not_found) {
    tmp_t t;
    tmp_init(&t);
    store_t *s = open_ok(t.db);
    store_job_state_t st;
    memset(&st, 0x5a, sizeof st);
    CHECK_INT(store_job_get(s, "nobody", &st), 1);
    CHECK_INT(st.has_offset, 0);
    CHECK_NUM(st.offset, 0);
    CHECK_NUM(st.last_due, 0);
    CHECK_INT(st.paused, 0);

    store_job_state_t put = {.has_offset = 1,
                             .offset = 0,
                             .every = 60,
                             .last_ok = 1700000000.5,
                             .last_fail = 1700000100.25,
                             .last_due = 1700000200,
                             .paused = 1};
    CHECK_INT(store_job_put(s, "reply", &put), 0);
    CHECK_INT(store_job_get(s, "reply", &st), 0);
    CHECK_INT(st.has_offset, 1);
    CHECK_NUM(st.offset, 0);
    CHECK_NUM(st.every, 60);
    CHECK_NUM(st.last_ok, 1700000000.5);
    CHECK_NUM(st.last_fail, 1700000100.25);
    CHECK_NUM(st.last_due, 1700000200);
    CHECK_INT(st.paused, 1);

    put = (store_job_state_t){.has_offset = 0, .last_ok = 5};
    CHECK_INT(store_job_put(s, "reply", &put), 0);
    store_close(s);
    s = open_ok(t.db);
    CHECK_INT(store_job_get(s, "reply", &st), 0);
    CHECK_INT(st.has_offset, 0);
    CHECK_NUM(st.last_ok, 5);
    CHECK_NUM(st.last_fail, 0);
    CHECK_INT(st.paused, 0);
    CHECK_INT(store_job_get(s, "nobody", &st), 1);
    CHECK_INT(raw_int(t.db, "SELECT count(*) FROM job_state"), 1);
    store_close(s);
    tmp_done(&t);
}

/* ---- runs ---- */

TEST(store_runs_newest_first_with_job_filter_and_limit) {
    tmp_t t;
    tmp_init(&t);
    store_t *s = open_ok(t.db);
    const char *jobs[] = {"a", "b", "a", "c", "a", "b"};
    for (int i = 0; i < 6; i++) {
        store_run_t r = run_row(store_run_id_next(s), jobs[i], 1, "ok", 100 + i);
        CHECK_INT(store_run_add(s, &r), 0);
    }
    seen_t seen = {0};
    CHECK_INT(store_runs(s, NULL, 0, collect, &seen), 0);
    CHECK_INT(seen.n, 6);
    for (int i = 0; i < 6; i++) CHECK_INT(seen.run_id[i], 6 - i);

    memset(&seen, 0, sizeof seen);
    CHECK_INT(store_runs(s, "a", 2, collect, &seen), 0);
    CHECK_INT(seen.n, 2);
    CHECK_INT(seen.run_id[0], 5);
    CHECK_INT(seen.run_id[1], 3);
    CHECK_STR(seen.job[1], "a");

    memset(&seen, 0, sizeof seen);
    CHECK_INT(store_runs(s, "b", -1, collect, &seen), 0);
    CHECK_INT(seen.n, 2);
    CHECK_INT(seen.run_id[0], 6);
    CHECK_INT(count_runs(s, "nobody"), 0);

    /* The callback stops the walk, and the statement is reusable after it. */
    memset(&seen, 0, sizeof seen);
    seen.stop_after = 1;
    CHECK_INT(store_runs(s, NULL, 0, collect, &seen), 0);
    CHECK_INT(seen.n, 1);
    CHECK_INT(count_runs(s, NULL), 6);

    /* Rows without times read back as 0; a row needs a job and a status. */
    store_run_t skipped = {.run_id = store_run_id_next(s),
                           .job = "c",
                           .attempt = 1,
                           .status = "skipped",
                           .error_kind = "overlap"};
    CHECK_INT(store_run_add(s, &skipped), 0);
    memset(&seen, 0, sizeof seen);
    CHECK_INT(store_runs(s, "c", 1, collect, &seen), 0);
    CHECK_NUM(seen.scheduled_at[0], 0);
    CHECK_NUM(seen.ended_at[0], 0);
    CHECK_STR(seen.error_kind[0], "overlap");
    CHECK_INT(raw_int(t.db, "SELECT count(*) FROM runs"), 0); /* still only in the batch */
    store_run_t bad = {.run_id = 1, .status = "ok"};
    CHECK_INT(store_run_add(s, &bad), -EINVAL);
    bad = (store_run_t){.run_id = 1, .job = "a"};
    CHECK_INT(store_run_add(s, &bad), -EINVAL);
    CHECK_INT(count_runs(s, NULL), 7);
    store_close(s);
    tmp_done(&t);
}

typedef struct nest {
    store_t *s;
    int same_rc, other_rc, other_rows, calls;
} nest_t;

static int nested(void *ud, const store_run_t *r) {
    nest_t *n = ud;
    seen_t seen = {0};
    n->calls++;
    n->same_rc = store_runs(n->s, r->job, 0, collect, &seen);
    n->other_rc = store_runs(n->s, NULL, 0, collect, &seen);
    n->other_rows = seen.n;
    store_run_t copy = *r;
    copy.attempt = r->attempt + 1;
    return store_run_add(n->s, &copy) != 0;
}

TEST(store_runs_callback_may_write_and_read_but_not_repeat_its_own_walk) {
    store_t *s = open_ok(":memory:");
    store_run_t r = run_row(store_run_id_next(s), "a", 1, "ok", 10);
    CHECK_INT(store_run_add(s, &r), 0);
    nest_t n = {.s = s};
    CHECK_INT(store_runs(s, "a", 1, nested, &n), 0);
    CHECK_INT(n.calls, 1);
    CHECK_INT(n.same_rc, -EBUSY);
    CHECK_HAS(store_errmsg(s), "in use");
    CHECK_INT(n.other_rc, 0);
    CHECK_INT(n.other_rows, 1);
    CHECK_INT(count_runs(s, "a"), 2);
    store_close(s);
}

TEST(store_run_ids_increase_across_reopen) {
    tmp_t t;
    tmp_init(&t);
    store_t *s = open_ok(t.db);
    CHECK_INT(store_run_id_next(s), 1);
    CHECK_INT(store_run_id_next(s), 2);
    int64_t id = store_run_id_next(s);
    CHECK_INT(id, 3);
    store_run_t r = run_row(id, "a", 1, "ok", 10);
    CHECK_INT(store_run_add(s, &r), 0);
    r.attempt = 2;
    CHECK_INT(store_run_add(s, &r), 0);
    store_close(s);

    s = open_ok(t.db);
    int64_t next = store_run_id_next(s);
    CHECK(next > 3);
    CHECK(store_run_id_next(s) > next);
    store_close(s);

    store_t *ro = NULL;
    char err[256];
    CHECK_INT(store_open(&ro, t.db, 1, err, sizeof err), 0);
    CHECK(ro && store_run_id_next(ro) > 3);
    store_close(ro);
    tmp_done(&t);
}

/* A child that opens the store, starts a run and dies without closing (as
 * kill -9 would): what it committed is all that is left. */
static void crash_mid_run(const char *path, int64_t *id) {
    int ids[2];
    if (pipe(ids) < 0) abort();
    pid_t pid = fork();
    if (pid == 0) {
        store_t *s = NULL;
        char err[256];
        if (store_open(&s, path, 0, err, sizeof err) < 0) _exit(1);
        int64_t run_id = store_run_id_next(s);
        store_run_t r = {
            .run_id = run_id, .job = "a", .attempt = 2, .scheduled_at = 10, .started_at = 11};
        if (store_inflight_begin(s, &r) < 0) _exit(1);
        store_job_put(s, "a", &(store_job_state_t){.paused = 1}); /* batched: lost */
        if (write(ids[1], &run_id, sizeof run_id) != sizeof run_id) _exit(1);
        _exit(0);
    }
    int status = 0;
    CHECK_INT(read(ids[0], id, sizeof *id), sizeof *id);
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    close(ids[0]);
    close(ids[1]);
}

typedef struct crash_rows {
    int n;
    int64_t run_id;
    int attempt;
    char status[16], kind[16];
    double started_at, ended_at;
} crash_rows_t;

static int take_crash_row(void *ud, const store_run_t *r) {
    crash_rows_t *c = ud;
    c->n++;
    c->run_id = r->run_id;
    c->attempt = r->attempt;
    snprintf(c->status, sizeof c->status, "%s", r->status);
    snprintf(c->kind, sizeof c->kind, "%s", r->error_kind ? r->error_kind : "");
    c->started_at = r->started_at;
    c->ended_at = r->ended_at;
    return 0;
}

TEST(store_a_run_in_flight_when_the_engine_died_is_a_crashed_row_and_its_id_is_not_reused) {
    tmp_t t;
    tmp_init(&t);
    store_t *s = open_ok(t.db);
    CHECK_INT(store_run_id_next(s), 1);
    store_close(s);

    int64_t id = 0;
    crash_mid_run(t.db, &id);
    CHECK_INT(id, 2);
    s = open_ok(t.db);
    CHECK_INT(store_recovered(s), 1);
    crash_rows_t c = {0};
    CHECK_INT(store_runs(s, "a", 0, take_crash_row, &c), 0);
    CHECK_INT(c.n, 1);
    CHECK_INT(c.run_id, 2);
    CHECK_INT(c.attempt, 2);
    CHECK_STR(c.status, STORE_CRASHED_STATUS);
    CHECK_STR(c.kind, STORE_CRASHED_KIND);
    CHECK_NUM(c.started_at, 11);
    CHECK(c.ended_at > 11);
    /* The id of the dead run, and any reserved with it, are never handed out again. */
    int64_t next = store_run_id_next(s);
    CHECK(next > 2);
    store_close(s);

    s = open_ok(t.db);
    CHECK_INT(store_recovered(s), 0); /* recorded once */
    CHECK(store_run_id_next(s) > next);
    /* A run that ended leaves no in-flight record. */
    store_run_t r = {.run_id = next + 1, .job = "b", .attempt = 1, .started_at = 5};
    CHECK_INT(store_inflight_begin(s, &r), 0);
    CHECK_INT(raw_int(t.db, "SELECT count(*) FROM inflight"), 1);
    r.status = "ok";
    r.ended_at = 6;
    CHECK_INT(store_run_add(s, &r), 0);
    CHECK_INT(store_inflight_end(s, r.run_id), 0);
    store_close(s);
    CHECK_INT(raw_int(t.db, "SELECT count(*) FROM inflight"), 0);
    tmp_done(&t);
}

TEST(store_a_deleted_database_fails_writes_and_says_why) {
    tmp_t t;
    tmp_init(&t);
    store_t *s = open_ok(t.db);
    CHECK_INT(store_kv_set(s, "k", "1"), 0);
    CHECK(store_write_error(s) == NULL);
    CHECK_INT(store_check(s), 0);
    CHECK_INT(unlink(t.db), 0);
    CHECK(store_check(s) < 0);
    CHECK_HAS(store_write_error(s), "baton.db is gone");
    /* The script's write is refused, and not shown as stored afterwards. */
    CHECK(store_kv_set(s, "k", "2") < 0);
    CHECK_HAS(store_errmsg(s), "is gone");
    check_kv(s, "k", "1");
    /* Batched writes are rolled back with the failed commit. */
    CHECK_INT(store_job_put(s, "j", &(store_job_state_t){.paused = 1}), 0);
    CHECK(store_flush(s) < 0);
    CHECK_INT(store_dirty(s), 0);
    CHECK(store_write_errors(s) >= 3);
    store_close(s);
    tmp_done(&t);
}

TEST(store_a_read_only_database_fails_writes_and_recovers_when_writable) {
    tmp_t t;
    tmp_init(&t);
    store_t *s = open_ok(t.db);
    CHECK_INT(store_kv_set(s, "k", "1"), 0);
    /* An immutable file is read-only even for root; without chattr (or on
     * a file system without it) a non-root user's chmod 0444 does. */
    char cmd[256];
    snprintf(cmd, sizeof cmd, "chattr +i %s 2>/dev/null", t.db);
    if (system(cmd) == 0) {
        CHECK(store_kv_set(s, "k", "2") < 0);
        CHECK_HAS(store_write_error(s), "cannot be written");
        check_kv(s, "k", "1");
        snprintf(cmd, sizeof cmd, "chattr -i %s", t.db);
        CHECK_INT(system(cmd), 0);
    } else if (geteuid() != 0) {
        CHECK_INT(chmod(t.db, 0444), 0);
        CHECK(store_kv_set(s, "k", "2") < 0);
        CHECK_HAS(store_write_error(s), "cannot be written");
        check_kv(s, "k", "1");
        CHECK_INT(chmod(t.db, 0644), 0);
    }
    CHECK_INT(store_kv_set(s, "k", "3"), 0);
    CHECK(store_write_error(s) == NULL);
    store_close(s);
    tmp_done(&t);
}

/* ---- batching ---- */

TEST(store_pending_writes_are_visible_before_flush_and_durable_after) {
    tmp_t t;
    tmp_init(&t);
    store_t *s = open_ok(t.db);
    store_run_t r = run_row(store_run_id_next(s), "a", 1, "ok", 10);
    CHECK_INT(store_dirty(s), 0); /* the id's reservation is committed at once */
    CHECK_INT(store_run_add(s, &r), 0);
    CHECK_INT(store_job_put(s, "k", &(store_job_state_t){.paused = 1}), 0);
    CHECK_INT(store_dirty(s), 1);
    /* This connection sees the batch; another one does not, yet. */
    CHECK_INT(count_runs(s, NULL), 1);
    CHECK_INT(raw_int(t.db, "SELECT count(*) FROM runs"), 0);
    CHECK_INT(raw_int(t.db, "SELECT count(*) FROM job_state"), 0);
    CHECK_INT(store_flush(s), 0);
    CHECK_INT(store_dirty(s), 0);
    CHECK_INT(raw_int(t.db, "SELECT count(*) FROM runs"), 1);
    CHECK_INT(raw_int(t.db, "SELECT count(*) FROM job_state"), 1);
    /* What a script writes is committed before the call returns. */
    CHECK_INT(store_kv_set(s, "k", "1"), 0);
    CHECK_INT(store_dirty(s), 0);
    CHECK_INT(raw_int(t.db, "SELECT count(*) FROM kv"), 1);
    CHECK_INT(store_flush(s), 0); /* nothing pending */

    /* Reads alone open no transaction; close commits what is pending. */
    check_kv(s, "k", "1");
    CHECK_INT(store_dirty(s), 0);
    CHECK_INT(store_kv_set(s, "k", "2"), 0);
    CHECK_INT(store_run_add(s, &r), 0);
    store_close(s);
    CHECK_INT(raw_int(t.db, "SELECT count(*) FROM runs"), 2);
    s = open_ok(t.db);
    check_kv(s, "k", "2");
    store_close(s);
    tmp_done(&t);
}

TEST(store_prune_deletes_old_rows_in_the_batch) {
    tmp_t t;
    tmp_init(&t);
    store_t *s = open_ok(t.db);
    double ended[] = {100, 200, 300, 400};
    for (int i = 0; i < 4; i++) {
        store_run_t r = run_row(i + 1, "a", 1, "ok", ended[i]);
        CHECK_INT(store_run_add(s, &r), 0);
    }
    store_run_t unended = {
        .run_id = 5, .job = "a", .attempt = 1, .scheduled_at = 150, .status = "skipped"};
    CHECK_INT(store_run_add(s, &unended), 0);
    unended = (store_run_t){
        .run_id = 6, .job = "a", .attempt = 1, .scheduled_at = 350, .status = "skipped"};
    CHECK_INT(store_run_add(s, &unended), 0);
    CHECK_INT(store_flush(s), 0);

    int64_t deleted = -1;
    CHECK_INT(store_prune(s, 250, &deleted), 0);
    CHECK_INT(deleted, 3);
    CHECK_INT(store_dirty(s), 1);
    CHECK_INT(raw_int(t.db, "SELECT count(*) FROM runs"), 6); /* not yet committed */
    seen_t seen = {0};
    CHECK_INT(store_runs(s, NULL, 0, collect, &seen), 0);
    CHECK_INT(seen.n, 3);
    CHECK_INT(seen.run_id[0], 6);
    CHECK_INT(seen.run_id[1], 4);
    CHECK_INT(seen.run_id[2], 3);
    CHECK_INT(store_prune(s, 250, NULL), 0);
    CHECK_INT(store_prune(s, 250, &deleted), 0);
    CHECK_INT(deleted, 0);
    CHECK_INT(store_flush(s), 0);
    CHECK_INT(raw_int(t.db, "SELECT count(*) FROM runs"), 3);
    store_close(s);
    tmp_done(&t);
}

TEST(store_run_ids_keep_going_after_every_row_is_pruned) {
    tmp_t t;
    tmp_init(&t);
    store_t *s = open_ok(t.db);
    for (int i = 0; i < 3; i++) {
        store_run_t r = run_row(store_run_id_next(s), "a", 1, "ok", 100 + i);
        CHECK_INT(store_run_add(s, &r), 0);
    }
    CHECK_INT(store_flush(s), 0);
    int64_t deleted = 0;
    CHECK_INT(store_prune(s, 1e12, &deleted), 0);
    CHECK_INT(deleted, 3);
    CHECK_INT(store_flush(s), 0);
    store_close(s);
    s = open_ok(t.db);
    CHECK_INT(raw_int(t.db, "SELECT count(*) FROM runs"), 0);
    CHECK_INT(store_run_id_next(s), 4); /* not 1 again */
    store_close(s);
    /* rows added by id, not through store_run_id_next, count too */
    s = open_ok(t.db);
    store_run_t r = run_row(41, "a", 1, "ok", 100);
    CHECK_INT(store_run_add(s, &r), 0);
    CHECK_INT(store_prune(s, 1e12, NULL), 0);
    CHECK_INT(store_flush(s), 0);
    store_close(s);
    s = open_ok(t.db);
    CHECK_INT(store_run_id_next(s), 42);
    store_close(s);
    tmp_done(&t);
}

/* ---- open errors that leave everything as it was ---- */

/* Waits for one byte on fd. */
static void wait_byte(int fd) {
    char c;
    while (read(fd, &c, 1) < 0 && errno == EINTR) {
    }
}

static void send_byte(int fd) { CHECK_INT(write(fd, "x", 1), 1); }

/* Forks a process that takes the write lock (through the store, or a raw
 * connection running sql), tells us, and holds it until release_lock(). */
static pid_t hold_lock(const char *path, const char *raw_sql, int *release_fd) {
    int ready[2], release[2];
    if (pipe(ready) < 0 || pipe(release) < 0) abort();
    pid_t pid = fork();
    if (pid < 0) abort();
    if (pid == 0) {
        sqlite3 *db = NULL;
        store_t *s = NULL;
        char err[256];
        int ok;
        close(ready[0]);
        close(release[1]);
        if (raw_sql)
            ok = sqlite3_open(path, &db) == SQLITE_OK &&
                 sqlite3_exec(db, raw_sql, NULL, NULL, NULL) == SQLITE_OK;
        else
            ok = store_open(&s, path, 0, err, sizeof err) == 0 &&
                 store_job_put(s, "held", &(store_job_state_t){.paused = 1}) == 0;
        if (write(ready[1], ok ? "y" : "n", 1) != 1) _exit(2);
        wait_byte(release[0]);
        /* The store commits its batch on close; the raw holder rolls back. */
        store_close(s);
        if (db) sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        sqlite3_close(db);
        _exit(ok ? 0 : 1);
    }
    close(ready[1]);
    close(release[0]);
    char c = 'n';
    while (read(ready[0], &c, 1) < 0 && errno == EINTR) {
    }
    CHECK(c == 'y');
    close(ready[0]);
    *release_fd = release[1];
    return pid;
}

static void release_lock(pid_t pid, int fd) {
    int status = 0;
    send_byte(fd);
    close(fd);
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

TEST(store_open_reports_another_baton_holding_the_write_lock) {
    tmp_t t;
    tmp_init(&t);
    store_t *s = open_ok(t.db);
    store_run_t r = run_row(store_run_id_next(s), "a", 1, "ok", 10);
    CHECK_INT(store_run_add(s, &r), 0);
    CHECK_INT(store_kv_set(s, "keep", "42"), 0);
    store_close(s);

    int fd;
    pid_t pid = hold_lock(t.db, NULL, &fd);
    char err[256] = "";
    s = (store_t *)&err; /* must be reset to NULL */
    CHECK_INT(store_open(&s, t.db, 0, err, sizeof err), -EBUSY);
    CHECK(s == NULL);
    CHECK_HAS(err, "baton.db: database is locked (is another baton running?)");
    CHECK(strchr(err, '\n') == NULL);
    /* Readers are not blocked: `baton plan` works next to a running engine. */
    store_t *ro = NULL;
    CHECK_INT(store_open(&ro, t.db, 1, err, sizeof err), 0);
    if (ro) check_kv(ro, "keep", "42");
    store_close(ro);
    release_lock(pid, fd);

    s = open_ok(t.db);
    CHECK_INT(count_runs(s, NULL), 1);
    check_kv(s, "keep", "42");
    store_job_state_t held;
    /* the other baton's batch, committed after ours failed */
    CHECK_INT(store_job_get(s, "held", &held), 0);
    CHECK_INT(held.paused, 1);
    store_close(s);
    tmp_done(&t);
}

TEST(store_open_reports_an_exclusive_lock_on_a_rollback_journal_db) {
    tmp_t t;
    tmp_init(&t);
    write_file(t.db, "", 0);
    int fd;
    pid_t pid = hold_lock(t.db, "BEGIN EXCLUSIVE; CREATE TABLE other (x)", &fd);
    store_t *s = NULL;
    char err[256] = "";
    CHECK_INT(store_open(&s, t.db, 0, err, sizeof err), -EBUSY);
    CHECK_HAS(err, "database is locked (is another baton running?)");
    CHECK_INT(store_open(&s, t.db, 1, err, sizeof err), -EBUSY);
    CHECK_HAS(err, "database is locked");
    release_lock(pid, fd);
    CHECK_INT(raw_int(t.db, "SELECT count(*) FROM sqlite_master"), 0);
    s = open_ok(t.db); /* the holder rolled back: an empty file again */
    store_close(s);
    CHECK_INT(raw_int(t.db, "PRAGMA user_version"), 5);
    tmp_done(&t);
}

TEST(store_open_refuses_a_text_file_and_leaves_its_bytes) {
    tmp_t t;
    tmp_init(&t);
    char wal[160], shm[160];
    snprintf(wal, sizeof wal, "%s-wal", t.db);
    snprintf(shm, sizeof shm, "%s-shm", t.db);
    char big[3000];
    for (size_t i = 0; i < sizeof big; i++) big[i] = "these are my notes\n"[i % 19];
    const char *small = "not sqlite\n";
    struct {
        const char *bytes;
        size_t len;
    } cases[] = {{small, strlen(small)}, {big, sizeof big}};
    for (int i = 0; i < 2; i++) {
        write_file(t.db, cases[i].bytes, cases[i].len);
        for (int ro = 0; ro <= 1; ro++) {
            store_t *s = NULL;
            char err[256] = "";
            CHECK_INT(store_open(&s, t.db, ro, err, sizeof err), -EINVAL);
            CHECK(s == NULL);
            CHECK_HAS(err, "baton.db: file is not a database");
            check_bytes(t.db, cases[i].bytes, cases[i].len);
            CHECK(!exists(wal));
            CHECK(!exists(shm));
        }
    }
    tmp_done(&t);
}

TEST(store_open_reports_missing_and_unwritable_directories) {
    tmp_t t;
    tmp_init(&t);
    char path[256], file[160], dir[160];
    store_t *s = NULL;
    char err[256] = "";

    path_in(dir, sizeof dir, &t, "nope");
    path_in(path, sizeof path, &t, "nope/baton.db");
    CHECK_INT(store_open(&s, path, 0, err, sizeof err), -ENOENT);
    CHECK(s == NULL);
    CHECK_HAS(err, "nope/baton.db: cannot create the database: directory ");
    CHECK_HAS(err, "nope does not exist");
    CHECK(!exists(dir));

    /* A path under a regular file stops root too. */
    path_in(file, sizeof file, &t, "file.txt");
    write_file(file, "keep me\n", 8);
    snprintf(path, sizeof path, "%s/baton.db", file);
    CHECK_INT(store_open(&s, path, 0, err, sizeof err), -ENOTDIR);
    CHECK_HAS(err, "file.txt/baton.db: cannot create or open the database: Not a directory");
    CHECK_INT(store_open(&s, path, 1, err, sizeof err), -ENOTDIR);
    check_bytes(file, "keep me\n", 8);

    /* A directory where the database should be. */
    CHECK_INT(store_open(&s, t.dir, 0, err, sizeof err) < 0, 1);
    CHECK(err[0] != '\0');

    if (geteuid() != 0) {
        path_in(dir, sizeof dir, &t, "ro");
        CHECK_INT(mkdir(dir, 0500), 0);
        path_in(path, sizeof path, &t, "ro/baton.db");
        CHECK_INT(store_open(&s, path, 0, err, sizeof err), -EACCES);
        CHECK_HAS(err, "ro/baton.db: cannot create the database in directory ");
        CHECK_HAS(err, "ro: Permission denied");
        chmod(dir, 0700);

        s = open_ok(t.db);
        store_close(s);
        size_t len;
        char *before = read_file(t.db, &len);
        chmod(t.db, 0444);
        CHECK_INT(store_open(&s, t.db, 0, err, sizeof err), -EACCES);
        CHECK_HAS(err, "baton.db: cannot write the database");
        check_bytes(t.db, before, len);
        free(before);
    }
    tmp_done(&t);
}

TEST(store_open_refuses_a_newer_schema_and_leaves_it_untouched) {
    tmp_t t;
    tmp_init(&t);
    raw_exec(t.db, "CREATE TABLE runs (id INTEGER PRIMARY KEY, future TEXT);"
                   "INSERT INTO runs (future) VALUES ('x'); PRAGMA user_version = 99");
    size_t len;
    char *before = read_file(t.db, &len);
    for (int ro = 0; ro <= 1; ro++) {
        store_t *s = NULL;
        char err[256] = "";
        CHECK_INT(store_open(&s, t.db, ro, err, sizeof err), -ENOTSUP);
        CHECK(s == NULL);
        CHECK_HAS(err, "baton.db: schema version 99 is newer than this build");
        check_bytes(t.db, before, len);
    }
    free(before);
    CHECK_INT(raw_int(t.db, "SELECT count(*) FROM pragma_journal_mode WHERE journal_mode = 'wal'"),
              0);
    tmp_done(&t);
}

TEST(store_open_refuses_a_foreign_database_and_an_unmigrated_read_only_one) {
    tmp_t t;
    tmp_init(&t);
    raw_exec(t.db, "CREATE TABLE photos (id INTEGER PRIMARY KEY);"
                   "INSERT INTO photos DEFAULT VALUES");
    size_t len;
    char *before = read_file(t.db, &len);
    store_t *s = NULL;
    char err[256] = "";
    CHECK_INT(store_open(&s, t.db, 0, err, sizeof err), -EINVAL);
    CHECK_HAS(err, "not a baton database");
    check_bytes(t.db, before, len);
    free(before);

    char empty[160];
    path_in(empty, sizeof empty, &t, "empty.db");
    write_file(empty, "", 0);
    CHECK_INT(store_open(&s, empty, 1, err, sizeof err), -ENOTSUP);
    CHECK_HAS(err, "empty.db: schema version 0 is older");
    check_bytes(empty, "", 0);
    tmp_done(&t);
}

TEST(store_read_only_reads_refuses_writes_and_missing_is_enoent) {
    tmp_t t;
    tmp_init(&t);
    store_t *s = (store_t *)&t;
    char err[256] = "junk";
    CHECK_INT(store_open(&s, t.db, 1, err, sizeof err), -ENOENT);
    CHECK(s == NULL);
    CHECK_STR(err, "");
    CHECK(!exists(t.db));

    s = open_ok(t.db);
    store_run_t r = run_row(store_run_id_next(s), "a", 1, "ok", 10);
    CHECK_INT(store_run_add(s, &r), 0);
    CHECK_INT(store_kv_set(s, "k", "1"), 0);
    store_close(s);

    CHECK_INT(store_open(&s, t.db, 1, err, sizeof err), 0);
    CHECK_INT(count_runs(s, "a"), 1);
    check_kv(s, "k", "1");
    CHECK_INT(store_kv_set(s, "k", "2"), -EROFS);
    CHECK_HAS(store_errmsg(s), "read-only");
    CHECK_INT(store_run_add(s, &r), -EROFS);
    CHECK_INT(store_kv_incr(s, "k", 1, NULL), -EROFS);
    CHECK_INT(store_prune(s, 1e12, NULL), -EROFS);
    store_job_state_t st = {0};
    CHECK_INT(store_job_put(s, "a", &st), -EROFS);
    CHECK_INT(store_dirty(s), 0);
    store_close(s);
    CHECK_INT(raw_int(t.db, "SELECT count(*) FROM runs"), 1);
    CHECK_INT(raw_int(t.db, "SELECT value FROM kv WHERE key = 'k'"), 1);
    tmp_done(&t);
}

/* ---- out of memory ---- */

static sqlite3_mem_methods real_mem;
static long fail_at;     /* fail this allocation and every later one; 0 = never */
static long alloc_count; /* allocations since fail_at was armed */
static long live;        /* blocks handed out and not yet freed */

static void *oom_malloc(int n) {
    if (fail_at && ++alloc_count >= fail_at) return NULL;
    void *p = real_mem.xMalloc(n);
    if (p) live++;
    return p;
}

static void oom_free(void *p) {
    if (p) live--;
    real_mem.xFree(p);
}

static void *oom_realloc(void *p, int n) {
    if (fail_at && ++alloc_count >= fail_at) return NULL;
    return real_mem.xRealloc(p, n);
}

static int oom_size(void *p) { return real_mem.xSize(p); }

static int oom_roundup(int n) { return real_mem.xRoundup(n); }

static int oom_init(void *ud) { return real_mem.xInit(real_mem.pAppData); }

static void oom_shutdown(void *ud) { real_mem.xShutdown(real_mem.pAppData); }

static void oom_install(void) {
    static const sqlite3_mem_methods wrapper = {oom_malloc,  oom_free, oom_realloc,  oom_size,
                                                oom_roundup, oom_init, oom_shutdown, NULL};
    CHECK_INT(sqlite3_shutdown(), SQLITE_OK);
    CHECK_INT(sqlite3_config(SQLITE_CONFIG_GETMALLOC, &real_mem), SQLITE_OK);
    CHECK_INT(sqlite3_config(SQLITE_CONFIG_MALLOC, &wrapper), SQLITE_OK);
    CHECK_INT(sqlite3_initialize(), SQLITE_OK);
}

static int count_cb(void *ud, const store_run_t *r) {
    (*(int *)ud)++;
    return 0;
}

/* One open + write + read + flush + close. Every failure must come back as a
 * negative code with a message. Returns 0 when every step succeeded. */
static int oom_cycle(const char *path, long n) {
    store_t *s = NULL;
    char err[256] = "";
    int rc = store_open(&s, path, 0, err, sizeof err);
    if (rc < 0) {
        if (s != NULL || err[0] == '\0')
            test_fail(__FILE__, __LINE__, "N=%ld: open failed %d without a message", n, rc);
        return rc;
    }
    store_run_t r = run_row(store_run_id_next(s), "oom", 1, "ok", 1000);
    store_job_state_t st = {.has_offset = 1, .offset = 5, .every = 60};
    double v;
    int rows = 0;
    char *json = NULL;
    rc = store_run_add(s, &r);
    if (rc == 0) rc = store_kv_set(s, "doc", "{\"a\":[1,2,3]}");
    if (rc == 0) rc = store_kv_incr(s, "n", 1, &v);
    if (rc == 0) rc = store_job_put(s, "oom", &st);
    if (rc == 0) rc = store_runs(s, NULL, 5, count_cb, &rows);
    if (rc == 0) rc = store_kv_get(s, "doc", &json);
    if (rc == 0) rc = store_job_get(s, "oom", &st);
    if (rc == 0) rc = store_prune(s, 1, NULL);
    free(json);
    if (rc == 0) rc = store_flush(s);
    if (rc > 0 || (rc < 0 && store_errmsg(s)[0] == '\0'))
        test_fail(__FILE__, __LINE__, "N=%ld: step failed %d without a message", n, rc);
    store_close(s);
    return rc < 0 ? rc : 0;
}

static void remove_db(const char *path) {
    char side[200];
    unlink(path);
    snprintf(side, sizeof side, "%s-wal", path);
    unlink(side);
    snprintf(side, sizeof side, "%s-shm", path);
    unlink(side);
}

TEST(store_out_of_memory_sweep_fails_cleanly_at_every_allocation) {
    tmp_t t;
    tmp_init_in(&t, "/dev/shm");
    oom_install();
    remove_db(t.db);
    CHECK_INT(oom_cycle(t.db, 0), 0); /* warm up sqlite's lazily built globals */
    remove_db(t.db);
    long baseline = live;

    /* A fresh file each time: creation and the migrations under failure. */
    long n, failures = 0;
    for (n = 1; n < 100000; n++) {
        alloc_count = 0;
        fail_at = n;
        int rc = oom_cycle(t.db, n);
        fail_at = 0;
        if (live != baseline)
            test_fail(__FILE__, __LINE__, "N=%ld: %ld blocks leaked", n, live - baseline);
        remove_db(t.db);
        if (rc == 0) break;
        failures++;
    }
    CHECK(n < 100000);
    CHECK(failures > 50);
    if (getenv("STORE_OOM_VERBOSE")) fprintf(stderr, "fresh file: %ld failing points\n", failures);

    /* An existing store: whatever fails, what was committed stays readable. */
    store_t *s = open_ok(t.db);
    CHECK_INT(store_kv_set(s, "keep", "42"), 0);
    store_close(s);
    for (n = 1; n < 100000; n++) {
        alloc_count = 0;
        fail_at = n;
        int rc = oom_cycle(t.db, n);
        fail_at = 0;
        if (live != baseline)
            test_fail(__FILE__, __LINE__, "N=%ld: %ld blocks leaked", n, live - baseline);
        s = open_ok(t.db);
        if (s) check_kv(s, "keep", "42");
        store_close(s);
        CHECK_INT(raw_int(t.db, "SELECT count(*) FROM pragma_integrity_check "
                                "WHERE integrity_check = 'ok'"),
                  1);
        if (rc == 0) break;
    }
    CHECK(n < 100000);
    tmp_done(&t);
}

TEST(store_sessions_keep_cookies_across_a_reopen) {
    tmp_t t;
    tmp_init(&t);
    store_t *s = open_ok(t.db);
    char *cookies = (char *)"x";
    CHECK_INT(store_session_get(s, "account1", &cookies), 1);
    CHECK(cookies == NULL);
    CHECK_INT(store_session_put(s, "account1", "[{\"name\":\"a\",\"value\":\"1\"}]", 5.5), 0);
    CHECK_INT(store_session_put(s, "account1", "[{\"name\":\"a\",\"value\":\"2\"}]", 6.5), 0);
    CHECK_INT(store_flush(s), 0);
    store_close(s);
    s = open_ok(t.db);
    CHECK_INT(store_session_get(s, "account1", &cookies), 0);
    CHECK_STR(cookies, "[{\"name\":\"a\",\"value\":\"2\"}]");
    free(cookies);
    CHECK(store_session_get(s, NULL, &cookies) < 0);
    store_close(s);
    tmp_done(&t);
}

/* The one null rule every reader of a run row follows (the HTTP API, t:runs). */
TEST(store_run_fields_name_every_field_in_order_and_null_what_is_missing) {
    static const char *const keys[STORE_RUN_FIELDS] = {
        "run_id",   "job",    "attempt",    "scheduled_at", "started_at",
        "ended_at", "status", "error_kind", "error",        "result"};
    store_field_t f[STORE_RUN_FIELDS];
    store_run_t done = {.run_id = 42,
                        .job = "a",
                        .attempt = 2,
                        .scheduled_at = 100.5,
                        .started_at = 101,
                        .ended_at = 102.25,
                        .status = "failed",
                        .error_kind = "timeout",
                        .error = "took too long",
                        .result = "{\"n\":1}"};
    store_run_fields(&done, f);
    for (int i = 0; i < STORE_RUN_FIELDS; i++) CHECK_STR(f[i].key, keys[i]);
    CHECK_INT(f[0].kind, STORE_FIELD_INT);
    CHECK_INT(f[0].integer, 42);
    CHECK_INT(f[1].kind, STORE_FIELD_TEXT);
    CHECK_STR(f[1].text, "a");
    CHECK_INT(f[2].kind, STORE_FIELD_INT);
    CHECK_INT(f[2].integer, 2);
    CHECK_INT(f[3].kind, STORE_FIELD_TIME);
    CHECK_NUM(f[3].time, 100.5);
    CHECK_INT(f[5].kind, STORE_FIELD_TIME);
    CHECK_NUM(f[5].time, 102.25);
    CHECK_STR(f[6].text, "failed");
    CHECK_STR(f[7].text, "timeout");
    CHECK_STR(f[8].text, "took too long");
    CHECK_INT(f[9].kind, STORE_FIELD_JSON);
    CHECK_STR(f[9].text, "{\"n\":1}");

    /* A skipped start: never started, no error text, no result. */
    store_run_t skipped = {
        .run_id = 7, .job = "b", .attempt = 1, .status = "skipped", .error_kind = "overlap"};
    store_run_fields(&skipped, f);
    for (int i = 3; i <= 5; i++) CHECK_INT(f[i].kind, STORE_FIELD_NULL);
    CHECK_INT(f[6].kind, STORE_FIELD_TEXT);
    CHECK_INT(f[7].kind, STORE_FIELD_TEXT);
    CHECK_INT(f[8].kind, STORE_FIELD_NULL);
    CHECK_INT(f[9].kind, STORE_FIELD_NULL);
}
