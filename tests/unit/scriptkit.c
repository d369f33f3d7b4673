/* scriptkit.c — see scriptkit.h. */
#include "scriptkit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/log.h"
#include "test.h"

void kit_init(kit_t *k) {
    char err[256];
    memset(k, 0, sizeof *k);
    log_setup(getenv("TEST_LOG") ? LOG_DEBUG : LOG_OFF, 0);
    snprintf(k->dir, sizeof k->dir, "/tmp/baton-test-XXXXXX");
    if (!mkdtemp(k->dir)) abort();
    char lib[300];
    snprintf(lib, sizeof lib, "%s/lib", k->dir);
    mkdir(lib, 0755);
    vclock_init(&k->clock, NULL, 1, 1704067200.0);
    if (store_open(&k->store, ":memory:", 0, err, sizeof err) < 0) {
        fprintf(stderr, "store: %s\n", err);
        abort();
    }
    conf_defaults(&k->conf);
    const char *lua = getenv("BATON_LUA_DIR");
    snprintf(k->conf.lua_dir, sizeof k->conf.lua_dir, "%s", lua ? lua : "lua");
    k->conf.sandbox_memory = 8u << 20;
    k->conf.cpu_slice = 0.2;
    k->host = (script_host_t){.clock = &k->clock,
                              .store = k->store,
                              .lua_dir = k->conf.lua_dir,
                              .memory_limit = k->conf.sandbox_memory,
                              .cpu_slice = k->conf.cpu_slice};
}

void kit_free(kit_t *k) {
    char cmd[300];
    store_close(k->store);
    vclock_close(&k->clock);
    snprintf(cmd, sizeof cmd, "rm -rf %s", k->dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", k->dir);
}

const char *kit_write(kit_t *k, const char *name, const char *text) {
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", k->dir, name);
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    fputs(text, f);
    fclose(f);
    return path;
}

script_t *kit_load(kit_t *k, const char *name, const char *text, char *err, size_t errlen) {
    script_t *s = NULL;
    const char *path = kit_write(k, name, text);
    if (script_load(&s, path, &k->host, err, errlen) < 0) return NULL;
    return s;
}

job_t **kit_jobs(kit_t *k, const char *name, const char *text, size_t *n, char *err,
                 size_t errlen) {
    job_t **jobs = NULL;
    script_t *s = kit_load(k, name, text, err, errlen);
    if (!s) return NULL;
    int rc = job_read_all(s, &k->conf, &jobs, n, err, errlen);
    script_unref(s); /* the jobs hold their own references */
    return rc < 0 ? NULL : jobs;
}

static void on_done(script_co_t *co, script_outcome_t *out, void *ud) {
    kit_t *k = ud;
    (void)co;
    k->done = 1;
    k->co = NULL;
    k->out = *out;
    k->out.result_json = NULL;
    snprintf(k->result, sizeof k->result, "%s", out->result_json ? out->result_json : "");
}

int kit_run(kit_t *k, job_t *j, double max_seconds) {
    script_run_info_t info = {
        .job = j->name, .run_id = 1, .attempt = 1, .scheduled_at = vclock_now(&k->clock)};
    k->done = 0;
    k->co = script_co_start(j->script, j->run_ref, &info, on_done, k);
    return kit_wait(k, max_seconds);
}

int kit_wait(kit_t *k, double max_seconds) {
    double end = vclock_now(&k->clock) + max_seconds;
    while (!k->done) {
        double next = vclock_next_due(&k->clock);
        if (next < 0 || next > end) {
            vclock_advance(&k->clock, end);
            break;
        }
        vclock_advance(&k->clock, next);
    }
    return k->done;
}
