/* test_scripts.c — building the next script set on a reload: unchanged files
 * keep their state and definitions, changed ones get a fresh state, a file
 * that fails keeps its previous version, a change in lib/ reloads every file,
 * removed files are counted, and an unreadable directory loses nothing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/scripts.h"
#include "scriptkit.h"
#include "test.h"

typedef struct errs {
    int n;
    char last[1024];
} errs_t;

static void collect(void *ud, const char *line) {
    errs_t *e = ud;
    e->n++;
    snprintf(e->last, sizeof e->last, "%s", line);
}

static void kit_scripts(kit_t *k) {
    snprintf(k->conf.scripts, sizeof k->conf.scripts, "%s", k->dir);
}

/* The script of `old` loaded from file name (under the kit's dir), or NULL. */
static script_t *script_named(kit_t *k, const scripts_set_t *set, const char *name) {
    char path[600];
    snprintf(path, sizeof path, "%s/%s", k->dir, name);
    for (size_t i = 0; i < set->nscripts; i++)
        if (strcmp(script_path(set->scripts[i]), path) == 0) return set->scripts[i];
    return NULL;
}

static job_t *job_named(const scripts_set_t *set, const char *name) {
    for (size_t i = 0; i < set->njobs; i++)
        if (strcmp(set->jobs[i]->name, name) == 0) return set->jobs[i];
    return NULL;
}

TEST(reload_keeps_unchanged_files_and_loads_changed_ones_fresh) {
    kit_t k;
    errs_t e = {0};
    scripts_set_t a, b;
    scripts_changes_t ch;
    kit_init(&k);
    kit_scripts(&k);
    kit_write(&k, "one.lua", "job 'one' { run = function() end }\n");
    kit_write(&k, "two.lua",
              "job 'two' { run = function() end }\njob 'deux' { run = function() end }\n");
    kit_write(&k, "gone.lua", "job 'gone' { run = function() end }\n");
    kit_write(&k, "x_test.lua", "this is not loaded");
    CHECK_INT(scripts_load(&k.conf, &k.host, NULL, 0, &a, collect, &e), 0);
    CHECK_INT((int)a.nscripts, 3);
    CHECK_INT((int)a.njobs, 4);
    kit_write(&k, "two.lua", "job 'two' { every = '1m', run = function() end }\n");
    unlink(script_path(script_named(&k, &a, "gone.lua")));
    kit_write(&k, "new.lua", "job 'new' { run = function() end }\n");
    CHECK_INT(scripts_update(&k.conf, &k.host, &a, &b, &ch, collect, &e), 0);
    CHECK_INT(e.n, 0);
    CHECK_INT(ch.loaded, 2);
    CHECK_INT(ch.unchanged, 1);
    CHECK_INT(ch.removed, 1);
    CHECK_INT(ch.failed, 0);
    CHECK_INT((int)b.nscripts, 3);
    CHECK_INT((int)b.njobs, 3);
    /* the same state and the same definition objects for the unchanged file */
    CHECK(script_named(&k, &b, "one.lua") == script_named(&k, &a, "one.lua"));
    CHECK(job_named(&b, "one") == job_named(&a, "one"));
    CHECK(script_named(&k, &b, "two.lua") != script_named(&k, &a, "two.lua"));
    CHECK(job_named(&b, "two")->every == 60);
    CHECK(job_named(&b, "deux") == NULL);
    CHECK(job_named(&b, "new") != NULL);
    for (size_t i = 0; i < b.nscripts; i++) {
        const char *p = script_path(b.scripts[i]);
        int kept = strstr(p, "/one.lua") != NULL;
        CHECK_INT(b.how[i], kept ? SCRIPTS_KEPT : SCRIPTS_LOADED);
    }
    /* the old set goes; what the new one shares lives on */
    scripts_free(&a);
    CHECK_STR(job_named(&b, "one")->name, "one");
    scripts_free(&b);
    kit_free(&k);
}

TEST(reload_keeps_the_previous_version_of_a_file_that_fails) {
    kit_t k;
    errs_t e = {0};
    scripts_set_t a, b, c;
    scripts_changes_t ch;
    kit_init(&k);
    kit_scripts(&k);
    kit_write(&k, "a.lua", "job 'a' { run = function() return 1 end }\n");
    CHECK_INT(scripts_load(&k.conf, &k.host, NULL, 0, &a, collect, &e), 0);
    kit_write(&k, "a.lua", "job 'a' { run = function( end }\n");
    kit_write(&k, "b.lua", "error('top-level failure')\n");
    kit_write(&k, "c.lua", "job 'c' { priority = 'urgent', run = function() end }\n");
    CHECK_INT(scripts_update(&k.conf, &k.host, &a, &b, &ch, collect, &e), 0);
    CHECK_INT(e.n, 3);
    CHECK_HAS(e.last, "c.lua:1: job 'c': unknown priority 'urgent'");
    CHECK_INT(ch.failed, 3);
    CHECK_INT(ch.loaded, 0);
    CHECK_INT((int)b.nscripts, 1);
    CHECK(b.scripts[0] == a.scripts[0]);
    CHECK_INT(b.how[0], SCRIPTS_KEPT_FAILED);
    CHECK(job_named(&b, "a") == job_named(&a, "a"));
    /* still changed on disk: the next reload tries (and reports) it again */
    e.n = 0;
    CHECK_INT(scripts_update(&k.conf, &k.host, &b, &c, &ch, collect, &e), 0);
    CHECK_INT(ch.failed, 3);
    CHECK_INT(e.n, 3);
    scripts_free(&c);
    scripts_free(&b);
    scripts_free(&a);
    kit_free(&k);
}

TEST(reload_of_a_changed_lib_module_loads_every_file_again) {
    kit_t k;
    errs_t e = {0};
    scripts_set_t a, b, c;
    scripts_changes_t ch;
    kit_init(&k);
    kit_scripts(&k);
    kit_write(&k, "lib/word.lua", "return 'hello'\n");
    kit_write(&k, "a.lua",
              "local w = require('word')\njob 'a' { run = function() return w end }\n");
    kit_write(&k, "b.lua", "job 'b' { run = function() end }\n");
    CHECK_INT(scripts_load(&k.conf, &k.host, NULL, 0, &a, collect, &e), 0);
    CHECK_INT(scripts_update(&k.conf, &k.host, &a, &b, &ch, collect, &e), 0);
    CHECK_INT(ch.unchanged, 2); /* nothing changed yet */
    kit_write(&k, "lib/word.lua", "return 'bonjour'\n");
    CHECK_INT(scripts_update(&k.conf, &k.host, &b, &c, &ch, collect, &e), 0);
    CHECK_INT(ch.loaded, 2);
    CHECK_INT(ch.unchanged, 0);
    CHECK(script_named(&k, &c, "a.lua") != script_named(&k, &b, "a.lua"));
    CHECK_INT(e.n, 0);
    scripts_free(&c);
    scripts_free(&b);
    scripts_free(&a);
    kit_free(&k);
}

TEST(reload_of_a_missing_directory_is_reported_and_returns_nothing) {
    kit_t k;
    errs_t e = {0};
    scripts_set_t a, b;
    scripts_changes_t ch;
    kit_init(&k);
    kit_scripts(&k);
    kit_write(&k, "a.lua", "job 'a' { run = function() end }\n");
    CHECK_INT(scripts_load(&k.conf, &k.host, NULL, 0, &a, collect, &e), 0);
    snprintf(k.conf.scripts, sizeof k.conf.scripts, "%s/nope", k.dir);
    CHECK(scripts_update(&k.conf, &k.host, &a, &b, &ch, collect, &e) < 0);
    CHECK_INT(e.n, 1);
    CHECK_HAS(e.last, "nope: cannot read the scripts directory");
    CHECK_INT((int)b.nscripts, 0);
    CHECK_INT((int)a.njobs, 1); /* the current set is untouched */
    scripts_free(&a);
    kit_free(&k);
}
