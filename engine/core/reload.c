/* reload.c — see reload.h. The set loading itself is scripts.c's and the
 * checks across jobs the scheduler's; this file decides what a reload
 * applies, what it tells obs and the log, and what it answers. */
#include "reload.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"

/* The engine's report, and the error lines of this reload kept for its answer. */
typedef struct collect {
    engine_t *e;
    cJSON *errors;
} collect_t;

static void collect(void *ud, const char *line) {
    collect_t *c = ud;
    c->e->report(c->e->report_ud, line);
    cJSON_AddItemToArray(c->errors, cJSON_CreateString(line));
}

int reload_apply(engine_t *e, obs_t *obs, const char *why, int quiet, cJSON *answer) {
    scripts_set_t next;
    scripts_changes_t ch = {0};
    char err[1024] = "", line[1200];
    int rc = -1, applied = 0;
    collect_t c = {e, cJSON_CreateArray()};
    double now = vclock_now(e->clock);
    if (e->stopping) {
        snprintf(err, sizeof err, "the engine is shutting down");
        rc = -ESHUTDOWN;
        goto out;
    }
    if (scripts_update(e->conf, &e->host, &e->set, &next, &ch, collect, &c) < 0) {
        snprintf(err, sizeof err, "cannot read the scripts: the previous scripts keep running");
        goto out;
    }
    if (ch.loaded == 0 && ch.removed == 0) {
        scripts_free(&next);
        if (ch.failed)
            log_info("reload (%s): nothing applied: %d script(s) failed to load (see above)", why,
                     ch.failed);
        else if (!quiet)
            log_info("reload (%s): no script changed", why);
        rc = 0;
        goto out;
    }
    if (sched_set_jobs(e->sched, next.jobs, next.njobs, err, sizeof err) < 0) {
        snprintf(line, sizeof line, "%s (reload refused: the previous scripts keep running)", err);
        collect(&c, line);
        scripts_free(&next);
        goto out;
    }
    for (size_t i = 0; i < e->set.nscripts; i++) {
        const char *path = script_path(e->set.scripts[i]);
        int kept = 0;
        for (size_t k = 0; k < next.nscripts && !kept; k++)
            kept = strcmp(script_path(next.scripts[k]), path) == 0;
        if (!kept) obs_script_forget(obs, path);
    }
    for (size_t i = 0; i < next.nscripts; i++) {
        const char *path = script_path(next.scripts[i]);
        if (next.how[i] == SCRIPTS_LOADED)
            obs_script(obs, path, now, NULL);
        else if (next.how[i] == SCRIPTS_KEPT)
            obs_script_clear(obs, path); /* an error of a refused reload is over */
    }
    scripts_free(&e->set);
    e->set = next;
    engine_warm_browser(e);
    log_info("reloaded (%s): %d script(s) loaded, %d removed, %d unchanged%s; %zu job(s)", why,
             ch.loaded, ch.removed, ch.unchanged,
             ch.failed ? ", and some failed (see above; their previous version runs)" : "",
             e->set.njobs);
    rc = 0;
    applied = 1;
out:
    /* A file that failed and is gone has nothing left to report. */
    for (size_t i = obs_nscripts(obs); i-- > 0;) {
        const obs_script_t *os = obs_script_at(obs, i);
        if (access(os->file, F_OK) != 0 && errno == ENOENT) obs_script_forget(obs, os->file);
    }
    if (ch.loaded || ch.removed || ch.failed)
        obs_reloaded(obs, now, applied, ch.loaded, ch.removed, ch.failed, e->set.njobs);
    if (!answer) {
        cJSON_Delete(c.errors);
        return rc;
    }
    cJSON_AddBoolToObject(answer, "reloaded", applied);
    if (rc < 0) cJSON_AddStringToObject(answer, "error", err);
    cJSON_AddNumberToObject(answer, "loaded", ch.loaded);
    cJSON_AddNumberToObject(answer, "removed", ch.removed);
    cJSON_AddNumberToObject(answer, "unchanged", ch.unchanged);
    cJSON_AddNumberToObject(answer, "failed", ch.failed);
    cJSON_AddNumberToObject(answer, "jobs", (double)e->set.njobs);
    cJSON_AddItemToObject(answer, "errors", c.errors);
    return rc;
}
