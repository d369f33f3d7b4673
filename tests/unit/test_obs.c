/* test_obs.c — obs reads a pool it is shown: the pool's figures with
 * browser.max_pages as their ceiling, and zeros with no pool. */
#include <string.h>

#include "base/vclock.h"
#include "browser/pool.h"
#include "conf/conf.h"
#include "obs/obs.h"
#include "test.h"

TEST(obs_watch_pool_reads_the_pool_it_is_shown) {
    conf_t conf;
    vclock_t clock;
    pool_t *pool;
    obs_pool_t f;
    conf_defaults(&conf);
    vclock_init(&clock, NULL, 1, 1700000000);
    CHECK_INT(pool_new(&pool, NULL, &clock, NULL, &conf), 0);
    obs_t *o = obs_new();
    obs_pool(o, &f);
    CHECK_INT(f.pages_max, 0);
    obs_watch_pool(o, pool, 9);
    obs_pool(o, &f);
    CHECK_INT(f.pages_max, 9);
    CHECK_INT(f.pages_busy, 0);
    CHECK_INT(f.acquire_count, 0);
    obs_watch_pool(o, NULL, 0);
    memset(&f, 0xff, sizeof f);
    obs_pool(o, &f);
    CHECK_INT(f.pages_max, 0);
    CHECK_INT(f.browsers, 0);
    obs_free(o);
    pool_free(pool);
    vclock_close(&clock);
}
