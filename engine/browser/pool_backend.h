/* pool_backend.h — the browser pool behind the page layer's operations table
 * (backend.h): leases by priority from pooled pages of real Chromium. */
#ifndef BATON_POOL_BACKEND_H
#define BATON_POOL_BACKEND_H

#include "backend.h"
#include "pool.h"

/* Fills *out with the pool's table; the pool must outlive every page using it. */
void pool_backend(pool_t *p, browser_backend_t *out);

#endif
