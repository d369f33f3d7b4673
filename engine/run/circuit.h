/* circuit.h — the engine's named circuit breakers: built from engine.conf's
 * `breakers`, shared by every job (and script) that names one, their state
 * changes logged and kept in the store so an open breaker stays open across a
 * restart. The state machine itself is breaker.c. */
#ifndef BATON_CIRCUIT_H
#define BATON_CIRCUIT_H

#include <stddef.h>

#include "base/breaker.h"
#include "conf/conf.h"
#include "store/store.h"

typedef struct circuits circuits_t;

/* Creates every breaker configured in conf, restoring kept state from store
 * (may be NULL) at time `now`. Returns 0, or -EINVAL with "breakers.NAME: …"
 * in err for bad options, or -ENOMEM. */
int circuits_new(circuits_t **out, const conf_t *conf, store_t *store, double now, char *err,
                 size_t errlen);

/* The breaker called `name`. One that engine.conf does not configure is made
 * on first use (at `now`, restoring kept state) with the defaults (5
 * consecutive failures, 5m cooldown), or with `opts` when given. NULL only
 * when out of memory. */
breaker_t *circuits_get(circuits_t *c, const char *name, const breaker_opts_t *opts, double now);

/* Calls fn for every breaker, in name order (for status and health). */
void circuits_each(circuits_t *c, void (*fn)(void *ud, const char *name, breaker_t *b), void *ud);

/* Calls fn after every state change of any breaker (NULL removes it), once the
 * change is logged and kept. */
typedef void (*circuits_change_fn)(void *ud, const char *name, breaker_state_t from,
                                   breaker_state_t to, double now);
void circuits_observe(circuits_t *c, circuits_change_fn fn, void *ud);

/* The breaker called `name` if one exists (never creates it), else NULL. */
breaker_t *circuits_find(circuits_t *c, const char *name);

/* Closes the named breaker and clears its counters (POST /api/breakers/NAME/reset),
 * keeping the new state in the store. -ENOENT when no breaker has that name. */
int circuits_reset(circuits_t *c, const char *name, double now);

/* Frees every breaker. NULL is a no-op. */
void circuits_free(circuits_t *c);

#endif
