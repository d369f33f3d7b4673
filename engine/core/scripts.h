/* scripts.h — bringing scripts/ into the engine: finding the script files,
 * loading each into its own state, reading their job definitions; and, on a
 * reload, loading again only the files that changed. A file that fails is
 * reported and skipped (on a reload its previous version is kept). */
#ifndef BATON_SCRIPTS_H
#define BATON_SCRIPTS_H

#include <stddef.h>
#include <stdint.h>

#include "conf/conf.h"
#include "sched/job.h"
#include "script/script.h"

enum {
    SCRIPTS_LOADED,     /* loaded by this call */
    SCRIPTS_KEPT,       /* unchanged: kept from the previous set */
    SCRIPTS_KEPT_FAILED /* changed but failed to load: the previous version kept */
};

typedef struct scripts_set {
    script_t **scripts;
    uint64_t *hashes;   /* of each script file's bytes as loaded */
    unsigned char *how; /* each script: SCRIPTS_LOADED, _KEPT or _KEPT_FAILED */
    size_t nscripts;
    job_t **jobs;
    size_t njobs;
    uint64_t lib_hash; /* of scripts/lib/ (modules for require) */
    int errors;        /* files or definitions that failed */
} scripts_set_t;

/* Called with each error line ("file:line: message"). */
typedef void (*scripts_report_fn)(void *ud, const char *line);

/* Loads the given paths (files, or directories whose *.lua files are taken,
 * *_test.lua excluded, in name order); with npaths == 0 loads conf->scripts.
 * A job name defined in two files is an error naming both places; the later
 * definition is dropped. Returns 0 (check set->errors), or a negative code
 * when nothing could be loaded (a missing directory: reported). */
int scripts_load(const conf_t *conf, const script_host_t *host, char *const *paths, size_t npaths,
                 scripts_set_t *set, scripts_report_fn report, void *ud);

/* What a reload found. */
typedef struct scripts_changes {
    int loaded;    /* new or changed files that loaded */
    int failed;    /* new or changed files that did not (a previous version is kept) */
    int removed;   /* files that are gone */
    int unchanged; /* files kept as they were */
} scripts_changes_t;

/* Builds the next set from conf->scripts and the current one, `old`: a file
 * whose bytes are unchanged (and scripts/lib/ too) keeps its state and job
 * definitions; a new or changed file is loaded into a fresh state, and when
 * that fails the error is reported and its previous version kept. Checks
 * across files (duplicate names, dependencies) are the scheduler's. Returns
 * 0, or < 0 when the directory cannot be read (reported; set is empty). */
int scripts_update(const conf_t *conf, const script_host_t *host, const scripts_set_t *old,
                   scripts_set_t *set, scripts_changes_t *changes, scripts_report_fn report,
                   void *ud);

/* Frees the jobs and drops the loader's references to the scripts. */
void scripts_free(scripts_set_t *set);

#endif
