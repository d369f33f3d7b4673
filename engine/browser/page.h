/* page.h — the browser primitives scripts build their page API on
 * (lua/page.lua): leasing a page for a run from the browser backend, raw CDP
 * calls and the page's events, all yielding the run's coroutine; screenshots
 * to files. */
#ifndef BATON_PAGE_H
#define BATON_PAGE_H

#include <lua.h>

#include "backend.h"
#include "base/vclock.h"

/* What the primitives need; lives as long as every script state using it. */
typedef struct page_env {
    browser_backend_t browser; /* ops NULL: no browser (check, plan) */
    int busy;                  /* pages whose run waits on the browser right now */
    vclock_t *clock;
    char files_dir[4096];  /* where screenshot(path) writes */
    char upload_dir[4096]; /* JOB/ under it: what a run of JOB may upload (files/ beside
                              engine.conf, also in a dry run); files_dir when empty */
    char *const *schemes;  /* browser.schemes: what pages may load (page_policy_url) */
    int nschemes;
    int raw_any; /* browser.raw_cdp = "any": page:send unchecked (trusted scripts only) */
} page_env_t;

/* A script_host_t.open_prims function; ud is a page_env_t (or NULL). */
void page_open_prims(lua_State *L, void *ud);

#endif
