/* test_watch.c — the file watcher on a real loop: a change in scripts/ is
 * told once it has settled, a directory that appears below lib/ is watched
 * from the next scan on, a stopped watcher tells nothing, and closing it
 * leaves uv_loop_close == 0. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <uv.h>

#include "base/fs.h"
#include "base/vclock.h"
#include "core/watch.h"
#include "test.h"

typedef struct fixture {
    uv_loop_t loop;
    watch_t w;
    uv_timer_t step, guard;
    char dir[64];
    int changes;
    double first_change; /* wall seconds after the write */
    double wrote_at;
    int stage;
} fixture_t;

static void write_file(const char *dir, const char *name) {
    char path[300];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (f) {
        fputs("-- changed\n", f);
        fclose(f);
    }
}

static void on_guard(uv_timer_t *t) { uv_stop(t->loop); }

static void on_change(void *ud) {
    fixture_t *f = ud;
    if (!f->changes++) f->first_change = vclock_wall() - f->wrote_at;
    uv_stop(&f->loop);
}

static void on_write(uv_timer_t *t) {
    fixture_t *f = t->data;
    char sub[200];
    f->wrote_at = vclock_wall();
    if (f->stage == 0) {
        write_file(f->dir, "a.lua");
    } else {
        snprintf(sub, sizeof sub, "%s/lib/deep/er", f->dir);
        write_file(sub, "m.lua");
    }
}

static void setup(fixture_t *f) {
    memset(f, 0, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/baton-watch-XXXXXX");
    if (!mkdtemp(f->dir)) abort();
    uv_loop_init(&f->loop);
    uv_timer_init(&f->loop, &f->step);
    uv_timer_init(&f->loop, &f->guard);
    f->step.data = f;
    watch_init(&f->w, &f->loop, f->dir, on_change, f);
    watch_scan(&f->w);
}

/* Runs the loop until a change is told or 3 s have passed. */
static void run_until_change(fixture_t *f, uint64_t write_after_ms) {
    if (write_after_ms) uv_timer_start(&f->step, on_write, write_after_ms, 0);
    uv_timer_start(&f->guard, on_guard, 3000, 0);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    uv_timer_stop(&f->guard);
}

static void teardown(fixture_t *f) {
    watch_close(&f->w);
    uv_close((uv_handle_t *)&f->step, NULL);
    uv_close((uv_handle_t *)&f->guard, NULL);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    CHECK_INT(uv_loop_close(&f->loop), 0);
    fs_remove_tree(f->dir);
}

TEST(watch_tells_a_change_in_scripts_once_it_has_settled) {
    fixture_t f;
    setup(&f);
    run_until_change(&f, 20);
    CHECK_INT(f.changes, 1);
    CHECK(f.first_change >= WATCH_SETTLE_MS / 1000.0 - 0.01);
    teardown(&f);
}

TEST(watch_follows_a_directory_that_appears_below_lib) {
    fixture_t f;
    char sub[200];
    setup(&f);
    snprintf(sub, sizeof sub, "%s/lib", f.dir);
    mkdir(sub, 0755);
    snprintf(sub, sizeof sub, "%s/lib/deep", f.dir);
    mkdir(sub, 0755);
    snprintf(sub, sizeof sub, "%s/lib/deep/er", f.dir);
    mkdir(sub, 0755);
    /* the rescan after a reload finds the new tree and settles once more */
    watch_scan(&f.w);
    run_until_change(&f, 0);
    CHECK_INT(f.changes, 1);
    /* a file written three levels down is seen */
    f.stage = 1;
    run_until_change(&f, 20);
    CHECK_INT(f.changes, 2);
    teardown(&f);
}

TEST(watch_once_stopped_tells_nothing) {
    fixture_t f;
    setup(&f);
    watch_stop(&f.w);
    run_until_change(&f, 20);
    CHECK_INT(f.changes, 0);
    teardown(&f);
}
