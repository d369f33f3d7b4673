/* test_reload.c — a live reload of an open engine (core/reload.c): a change
 * is applied and answered in JSON, a set the scheduler refuses leaves the
 * previous scripts running, nothing changed applies nothing, and a stopping
 * engine refuses. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/reload.h"
#include "scriptkit.h"
#include "test.h"

typedef struct fixture {
    kit_t k;
    engine_t *e;
    obs_t *obs;
    int reported;
} fixture_t;

static void count_line(void *ud, const char *line) { ((fixture_t *)ud)->reported++; }

static void open_engine(fixture_t *f, const char *text) {
    char err[1024];
    memset(f, 0, sizeof *f);
    kit_init(&f->k);
    snprintf(f->k.conf.scripts, sizeof f->k.conf.scripts, "%s", f->k.dir);
    kit_write(&f->k, "a.lua", text);
    engine_opts_t o = {.mode = ENGINE_BENCH,
                       .clock = &f->k.clock,
                       .database = ":memory:",
                       .report = count_line,
                       .report_ud = f};
    CHECK_INT(engine_open(&f->e, &f->k.conf, &o, err, sizeof err), 0);
    f->obs = obs_new();
    engine_start(f->e);
}

static void close_engine(fixture_t *f) {
    engine_stop(f->e);
    engine_close(f->e);
    obs_free(f->obs);
    kit_free(&f->k);
}

static double num(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

static int is_true(const cJSON *o, const char *k) {
    return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, k));
}

TEST(reload_apply_hands_the_scheduler_a_changed_set_and_answers) {
    fixture_t f;
    open_engine(&f, "job 'a' { every = '1m', run = function() end }\n");
    kit_write(&f.k, "a.lua",
              "job 'a' { every = '1m', run = function() end }\n"
              "job 'b' { every = '1m', run = function() end }\n");
    cJSON *answer = cJSON_CreateObject();
    CHECK_INT(reload_apply(f.e, f.obs, "test", 0, answer), 0);
    CHECK(is_true(answer, "reloaded"));
    CHECK_NUM(num(answer, "loaded"), 1);
    CHECK_NUM(num(answer, "jobs"), 2);
    CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(answer, "errors")), 0);
    CHECK(cJSON_GetObjectItemCaseSensitive(answer, "error") == NULL);
    CHECK(sched_find(f.e->sched, "b") != NULL);
    CHECK_INT((int)f.e->set.njobs, 2);
    CHECK_INT((int)obs_nscripts(f.obs), 1);
    cJSON_Delete(answer);
    close_engine(&f);
}

TEST(reload_apply_keeps_the_previous_scripts_when_the_scheduler_refuses) {
    fixture_t f;
    open_engine(&f, "job 'a' { every = '1m', run = function() end }\n");
    kit_write(&f.k, "a.lua", "job 'a' { requires = { nope = '1h' }, run = function() end }\n");
    cJSON *answer = cJSON_CreateObject();
    CHECK_INT(reload_apply(f.e, f.obs, "test", 0, answer), -1);
    CHECK(!is_true(answer, "reloaded"));
    CHECK_HAS(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(answer, "error")), "nope");
    const cJSON *errors = cJSON_GetObjectItemCaseSensitive(answer, "errors");
    CHECK_INT(cJSON_GetArraySize(errors), 1);
    CHECK_HAS(cJSON_GetStringValue(cJSON_GetArrayItem(errors, 0)), "reload refused");
    CHECK_INT(f.reported, 1); /* the engine's report heard it too */
    CHECK(sched_find(f.e->sched, "a")->requires == NULL);
    cJSON_Delete(answer);
    close_engine(&f);
}

TEST(reload_apply_with_nothing_changed_applies_nothing) {
    fixture_t f;
    open_engine(&f, "job 'a' { every = '1m', run = function() end }\n");
    cJSON *answer = cJSON_CreateObject();
    CHECK_INT(reload_apply(f.e, f.obs, "test", 1, answer), 0);
    CHECK(!is_true(answer, "reloaded"));
    CHECK_NUM(num(answer, "unchanged"), 1);
    CHECK_NUM(num(answer, "loaded"), 0);
    CHECK_INT(reload_apply(f.e, f.obs, "test", 1, NULL), 0);
    cJSON_Delete(answer);
    close_engine(&f);
}

TEST(reload_apply_refuses_while_the_engine_stops) {
    fixture_t f;
    open_engine(&f, "job 'a' { every = '1m', run = function() end }\n");
    kit_write(&f.k, "a.lua", "job 'b' { every = '1m', run = function() end }\n");
    engine_stop(f.e);
    cJSON *answer = cJSON_CreateObject();
    CHECK_INT(reload_apply(f.e, f.obs, "test", 0, answer), -ESHUTDOWN);
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(answer, "error")),
              "the engine is shutting down");
    CHECK(sched_find(f.e->sched, "a") != NULL);
    cJSON_Delete(answer);
    close_engine(&f);
}
