/* vclock.c — real or virtual time, and a binary min-heap of vtimers ordered by
 * (due, seq). In real mode one uv_timer is kept armed for the earliest timer. */
#include "vclock.h"

#include <math.h>
#include <stdlib.h>
#include <time.h>

double vclock_wall(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double vclock_now(const vclock_t *c) {
    return c->is_virtual ? c->virtual_now : vclock_wall();
}

static int earlier(const vtimer_t *a, const vtimer_t *b) {
    return a->due < b->due || (a->due == b->due && a->seq < b->seq);
}

static void heap_set(vclock_t *c, size_t i, vtimer_t *t) {
    c->heap[i] = t;
    t->slot = i + 1;
}

static void sift_up(vclock_t *c, size_t i) {
    vtimer_t *t = c->heap[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!earlier(t, c->heap[parent])) break;
        heap_set(c, i, c->heap[parent]);
        i = parent;
    }
    heap_set(c, i, t);
}

static void sift_down(vclock_t *c, size_t i) {
    vtimer_t *t = c->heap[i];
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        const vtimer_t *best = t;
        if (l < c->len && earlier(c->heap[l], best)) m = l, best = c->heap[l];
        if (r < c->len && earlier(c->heap[r], best)) m = r;
        if (m == i) break;
        heap_set(c, i, c->heap[m]);
        i = m;
    }
    heap_set(c, i, t);
}

static void heap_remove(vclock_t *c, vtimer_t *t) {
    size_t i = t->slot - 1;
    vtimer_t *last = c->heap[--c->len];
    t->slot = 0;
    if (last == t) return;
    heap_set(c, i, last);
    sift_up(c, i);
    sift_down(c, last->slot - 1);
}

static void on_uv_timer(uv_timer_t *h);

/* Real mode: keep the uv_timer armed for the earliest timer. */
static void rearm(vclock_t *c) {
    if (c->is_virtual || !c->uv_open) return;
    if (c->len == 0) {
        uv_timer_stop(&c->uv);
        return;
    }
    double delay = c->heap[0]->due - vclock_wall();
    uint64_t ms = delay <= 0 ? 0 : (uint64_t)ceil(delay * 1000.0);
    uv_timer_start(&c->uv, on_uv_timer, ms, 0);
}

static void on_uv_timer(uv_timer_t *h) {
    vclock_t *c = h->data;
    /* Fire what is due now; timers armed by callbacks for "now" fire on the
     * next iteration so a callback that re-arms at once cannot starve the loop. */
    double now = vclock_wall();
    uint64_t limit = c->seq;
    /* Never early: libuv's millisecond loop clock can wake us a little before
     * the wall-clock due time; rearm() then waits the remaining moment. */
    while (c->len > 0 && c->heap[0]->due <= now && c->heap[0]->seq < limit) {
        vtimer_t *t = c->heap[0];
        heap_remove(c, t);
        t->cb(t);
    }
    rearm(c);
}

int vclock_init(vclock_t *c, uv_loop_t *loop, int is_virtual, double start) {
    *c = (vclock_t){.loop = loop, .is_virtual = is_virtual, .virtual_now = start};
    if (!is_virtual && loop) {
        int rc = uv_timer_init(loop, &c->uv);
        if (rc < 0) return rc;
        c->uv.data = c;
        c->uv_open = 1;
    }
    return 0;
}

void vtimer_start(vclock_t *c, vtimer_t *t, double due, vtimer_cb cb) {
    if (t->slot) heap_remove(c, t);
    if (c->len == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 64;
        vtimer_t **heap = realloc(c->heap, cap * sizeof *heap);
        if (!heap) abort(); /* a timer we cannot arm would silently lose a job */
        c->heap = heap;
        c->cap = cap;
    }
    t->due = due;
    t->cb = cb;
    t->seq = c->seq++;
    heap_set(c, c->len++, t);
    sift_up(c, c->len - 1);
    if (c->heap[0] == t) rearm(c);
}

void vtimer_stop(vclock_t *c, vtimer_t *t) {
    if (!t->slot) return;
    int was_first = c->heap[0] == t;
    heap_remove(c, t);
    if (was_first) rearm(c);
}

size_t vclock_advance(vclock_t *c, double until) {
    size_t fired = 0;
    while (c->len > 0 && c->heap[0]->due <= until) {
        vtimer_t *t = c->heap[0];
        heap_remove(c, t);
        if (t->due > c->virtual_now) c->virtual_now = t->due;
        t->cb(t);
        fired++;
    }
    if (until > c->virtual_now) c->virtual_now = until;
    return fired;
}

double vclock_next_due(const vclock_t *c) {
    return c->len ? c->heap[0]->due : -1;
}

void vclock_close(vclock_t *c) {
    for (size_t i = 0; i < c->len; i++) c->heap[i]->slot = 0;
    free(c->heap);
    c->heap = NULL;
    c->len = c->cap = 0;
    if (c->uv_open) {
        c->uv_open = 0;
        uv_close((uv_handle_t *)&c->uv, NULL);
    }
}
