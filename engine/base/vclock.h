/* vclock.h — the one clock of the engine and the timer heap every wait goes
 * through (job starts, sleeps, run deadlines). Real mode reads the wall clock
 * and drives one uv_timer; virtual mode (baton plan, baton test) jumps from
 * timer to timer instantly, so dry runs exercise the same code as real runs. */
#ifndef BATON_VCLOCK_H
#define BATON_VCLOCK_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "heap.h"

typedef struct vtimer vtimer_t;
typedef void (*vtimer_cb)(vtimer_t *t);

/* A timer embedded in its owner's struct; no allocation. `data` is the owner's. */
struct vtimer {
    heap_node_t node; /* node.key is the due time; equal due times fire FIFO */
    double due;       /* epoch seconds */
    vtimer_cb cb;
    void *data;
};

typedef struct vclock {
    uv_loop_t *loop;
    int is_virtual;
    double virtual_now; /* virtual mode: the current time */
    heap_t timers;
    uv_timer_t uv; /* real mode: armed for the earliest timer */
    int uv_open;
} vclock_t;

/* Initialises a clock. With loop != NULL and is_virtual == 0 the clock is real
 * and owns a uv_timer on loop (close it with vclock_close). Virtual clocks
 * start at `start` and need no loop. Returns 0 or a negative libuv code. */
int vclock_init(vclock_t *c, uv_loop_t *loop, int is_virtual, double start);

/* The current time, epoch seconds with fractions. */
double vclock_now(const vclock_t *c);

/* The wall clock, whatever the mode (for logs and durations of real work). */
double vclock_wall(void);

/* Arms t to call cb at `due` (re-arms it if armed). In real mode a due time in
 * the past fires on the next loop iteration; callbacks never run re-entrantly
 * from vtimer_start. */
void vtimer_start(vclock_t *c, vtimer_t *t, double due, vtimer_cb cb);

/* Disarms t; a no-op when not armed. Safe from any callback. */
void vtimer_stop(vclock_t *c, vtimer_t *t);

/* 1 when t is armed. */
static inline int vtimer_active(const vtimer_t *t) { return t->node.slot != 0; }

/* Virtual mode: fires every timer due at or before `until`, in order, moving
 * the clock to each due time, then sets the clock to `until`. Timers armed by
 * callbacks fire too when due in the window. Returns the number fired. */
size_t vclock_advance(vclock_t *c, double until);

/* The due time of the earliest armed timer, or -1 when none is armed. */
double vclock_next_due(const vclock_t *c);

/* Frees the heap and closes the uv_timer (real mode); the caller must run the
 * loop afterwards for the close to complete. Armed timers are forgotten. */
void vclock_close(vclock_t *c);

#endif
