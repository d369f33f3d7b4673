/* loop.h — `baton run`: the engine's one libuv loop with the scheduler, runs,
 * store and scripts on it; SIGINT/SIGTERM drain in-flight runs (bounded by
 * limits.shutdown_timeout) and exit 0. */
#ifndef BATON_LOOP_H
#define BATON_LOOP_H

#include "conf/conf.h"

/* Runs the engine in the foreground until a stop signal; returns the exit
 * code (0 after a clean drain, 1 when the store or scripts cannot start). */
int loop_run(const conf_t *conf);

#endif
