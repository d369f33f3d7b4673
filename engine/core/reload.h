/* reload.h — a live reload of the running engine's scripts (the watcher,
 * SIGHUP, POST /api/reload, the console's reload()): loads what changed,
 * hands the scheduler the new set or, on any error, keeps the previous
 * scripts running; keeps the scripts' load state in obs up to date, and
 * answers in JSON. */
#ifndef BATON_RELOAD_H
#define BATON_RELOAD_H

#include <cJSON.h>

#include "engine.h"
#include "obs/obs.h"

/* Reloads e's scripts from conf->scripts; `why` names the cause in the log.
 * quiet: say nothing when no script changed (a watcher event for a file that
 * is not a script). Error lines go to e's report and, when answer is not
 * NULL, into answer, which gets {"reloaded", "error" (when refused),
 * "loaded", "removed", "unchanged", "failed", "jobs", "errors"}. Returns 0
 * when applied or unchanged, -1 when refused, -ESHUTDOWN while the engine
 * stops. */
int reload_apply(engine_t *e, obs_t *obs, const char *why, int quiet, cJSON *answer);

#endif
