/* page.h — the browser primitives scripts build their page API on
 * (lua/page.lua): leasing a pooled context for a run, raw CDP calls and the
 * page's events, all yielding the run's coroutine; screenshots to files. */
#ifndef BATON_PAGE_H
#define BATON_PAGE_H

#include <lua.h>

#include "pool.h"
#include "base/vclock.h"

/* What the primitives need; lives as long as every script state using it. */
typedef struct page_env {
    pool_t *pool;      /* NULL: no browser (check, plan) */
    struct fake *fake; /* baton test: the fake browser instead of the pool */
    int busy;          /* pages whose run waits on the browser right now */
    /* baton test --browser real: told of each lease handed to a page, and
     * shown its page's events first (non-zero: consumed). May be NULL. */
    void (*on_lease)(void *ud, pool_lease_t *lease);
    int (*on_event)(void *ud, pool_lease_t *lease, const char *method, const cJSON *params);
    /* Told of each call a run makes; non-zero fails it with *kind and msg. */
    int (*on_send)(void *ud, const char *job, int64_t run_id, const char *method,
                   const cJSON *params, err_kind_t *kind, char *msg, size_t msglen);
    void *hooks_ud;
    vclock_t *clock;
    char files_dir[4096]; /* where screenshot(path) writes */
} page_env_t;

/* A script_host_t.open_prims function; ud is a page_env_t (or NULL). */
void page_open_prims(lua_State *L, void *ud);

#endif
