/* vclock.c — real or virtual time, and the heap of vtimers ordered by due time
 * (heap.c). In real mode one uv_timer is kept armed for the earliest timer. */
#include "vclock.h"

#include <math.h>
#include <stdlib.h>
#include <time.h>

double vclock_wall(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double vclock_now(const vclock_t *c) { return c->is_virtual ? c->virtual_now : vclock_wall(); }

static vtimer_t *first(const vclock_t *c) { return (vtimer_t *)heap_top(&c->timers); }

static void on_uv_timer(uv_timer_t *h);

/* Real mode: keep the uv_timer armed for the earliest timer. */
static void rearm(vclock_t *c) {
    if (c->is_virtual || !c->uv_open) return;
    if (!first(c)) {
        uv_timer_stop(&c->uv);
        return;
    }
    double delay = first(c)->due - vclock_wall();
    uint64_t ms = delay <= 0 ? 0 : (uint64_t)ceil(delay * 1000.0);
    uv_timer_start(&c->uv, on_uv_timer, ms, 0);
}

static void on_uv_timer(uv_timer_t *h) {
    vclock_t *c = h->data;
    /* Fire what is due now; timers armed by callbacks for "now" fire on the
     * next iteration so a callback that re-arms at once cannot starve the loop. */
    double now = vclock_wall();
    uint64_t limit = c->timers.seq;
    /* Never early: libuv's millisecond loop clock can wake us a little before
     * the wall-clock due time; rearm() then waits the remaining moment. */
    vtimer_t *t;
    while ((t = first(c)) && t->due <= now && t->node.seq < limit) {
        heap_remove(&c->timers, &t->node);
        t->cb(t);
    }
    rearm(c);
}

int vclock_init(vclock_t *c, uv_loop_t *loop, int is_virtual, double start) {
    *c = (vclock_t){.loop = loop, .is_virtual = is_virtual, .virtual_now = start};
    heap_init(&c->timers);
    if (!is_virtual && loop) {
        int rc = uv_timer_init(loop, &c->uv);
        if (rc < 0) return rc;
        c->uv.data = c;
        c->uv_open = 1;
    }
    return 0;
}

void vtimer_start(vclock_t *c, vtimer_t *t, double due, vtimer_cb cb) {
    heap_remove(&c->timers, &t->node); /* re-arming moves it */
    t->due = due;
    t->cb = cb;
    if (heap_push(&c->timers, &t->node, due) < 0)
        abort(); /* a timer we cannot arm would silently lose a job */
    if (first(c) == t) rearm(c);
}

void vtimer_stop(vclock_t *c, vtimer_t *t) {
    if (!t->node.slot) return;
    int was_first = first(c) == t;
    heap_remove(&c->timers, &t->node);
    if (was_first) rearm(c);
}

size_t vclock_advance(vclock_t *c, double until) {
    size_t fired = 0;
    vtimer_t *t;
    while ((t = first(c)) && t->due <= until) {
        heap_remove(&c->timers, &t->node);
        if (t->due > c->virtual_now) c->virtual_now = t->due;
        t->cb(t);
        fired++;
    }
    if (until > c->virtual_now) c->virtual_now = until;
    return fired;
}

double vclock_next_due(const vclock_t *c) { return first(c) ? first(c)->due : -1; }

void vclock_close(vclock_t *c) {
    heap_free(&c->timers);
    if (c->uv_open) {
        c->uv_open = 0;
        uv_close((uv_handle_t *)&c->uv, NULL);
    }
}
