/* test_vclock.c — the timer heap on the virtual clock (order, FIFO at equal
 * times, stop, re-arm from callbacks) and the real clock on a libuv loop. */
#include <uv.h>

#include "test.h"
#include "base/vclock.h"

typedef struct rec {
    vtimer_t t;
    int id;
    int *log;
    int *n;
    vclock_t *c;
    double seen_now;
} rec_t;

static void record(vtimer_t *t) {
    rec_t *r = t->data;
    r->log[(*r->n)++] = r->id;
    r->seen_now = vclock_now(r->c);
}

TEST(vclock_virtual_fires_in_due_order_and_moves_the_clock) {
    vclock_t c;
    int log[8], n = 0;
    rec_t r[4];
    double due[4] = {30, 10, 20, 10};
    vclock_init(&c, NULL, 1, 0);
    for (int i = 0; i < 4; i++) {
        r[i] = (rec_t){.id = i, .log = log, .n = &n, .c = &c};
        r[i].t.data = &r[i];
        vtimer_start(&c, &r[i].t, due[i], record);
    }
    CHECK_INT(vclock_advance(&c, 15), 2);
    CHECK_INT(log[0], 1); /* FIFO at equal due times */
    CHECK_INT(log[1], 3);
    CHECK_NUM(vclock_now(&c), 15);
    CHECK_NUM(r[1].seen_now, 10);
    vtimer_stop(&c, &r[0].t);
    CHECK_INT(vclock_advance(&c, 100), 1);
    CHECK_INT(log[2], 2);
    CHECK_NUM(vclock_next_due(&c), -1);
    vclock_close(&c);
}

static void rearm(vtimer_t *t) {
    rec_t *r = t->data;
    record(t);
    if (*r->n < 5) vtimer_start(r->c, t, t->due + 7, rearm);
}

TEST(vclock_virtual_runs_timers_armed_by_callbacks_within_the_window) {
    vclock_t c;
    int log[8], n = 0;
    rec_t r = {.id = 9, .log = log, .n = &n, .c = &c};
    vclock_init(&c, NULL, 1, 1000);
    r.t.data = &r;
    vtimer_start(&c, &r.t, 1001, rearm);
    CHECK_INT(vclock_advance(&c, 1015), 3); /* 1001, 1008, 1015 */
    CHECK(vtimer_active(&r.t));
    CHECK_NUM(r.t.due, 1022);
    vclock_close(&c);
}

static void stop_loop(vtimer_t *t) {
    rec_t *r = t->data;
    record(t);
    vclock_close(r->c);
}

TEST(vclock_real_fires_on_the_loop_and_closes_cleanly) {
    uv_loop_t loop;
    vclock_t c;
    int log[4], n = 0;
    rec_t r = {.id = 1, .log = log, .n = &n, .c = &c};
    uv_loop_init(&loop);
    vclock_init(&c, &loop, 0, 0);
    r.t.data = &r;
    double t0 = vclock_now(&c);
    vtimer_start(&c, &r.t, t0 + 0.05, stop_loop);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_INT(n, 1);
    CHECK(r.seen_now >= t0 + 0.05); /* never early */
    CHECK_INT(uv_loop_close(&loop), 0);
}
