/* reload.h — bringing scripts/ into the engine: finding the script files,
 * loading each into its own state, reading their job definitions. A file that
 * fails is reported and skipped; the others still load. */
#ifndef BATON_RELOAD_H
#define BATON_RELOAD_H

#include <stddef.h>

#include "conf.h"
#include "job.h"
#include "script.h"

typedef struct reload_set {
    script_t **scripts;
    size_t nscripts;
    job_t **jobs;
    size_t njobs;
    int errors;              /* files or definitions that failed */
} reload_set_t;

/* Called with each error line ("file:line: message"). */
typedef void (*reload_report_fn)(void *ud, const char *line);

/* Loads the given paths (files, or directories whose *.lua files are taken,
 * *_test.lua excluded, in name order); with npaths == 0 loads conf->scripts.
 * A job name defined in two files is an error naming both places; the later
 * definition is dropped. Returns 0 (check set->errors), or a negative code
 * when nothing could be loaded (a missing directory: reported). */
int reload_load(const conf_t *conf, const script_host_t *host, char *const *paths, size_t npaths,
                reload_set_t *set, reload_report_fn report, void *ud);

/* Frees the jobs and drops the loader's references to the scripts. */
void reload_free(reload_set_t *set);

#endif
