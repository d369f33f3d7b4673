/* prioq.h — the ready queue: starts waiting for a free run slot, most urgent
 * priority first, FIFO within a priority, with aging so low priority never
 * starves: a waiting start gains one priority level per `aging` seconds. */
#ifndef BATON_PRIOQ_H
#define BATON_PRIOQ_H

#include <stddef.h>

#include "base/heap.h"

/* Embedded in the caller's struct; key = enqueued_at + level * aging. */
typedef heap_node_t prioq_item_t;

typedef struct prioq {
    heap_t heap;
    double aging;
} prioq_t;

/* Initialises an empty queue; aging > 0 seconds per priority level. */
void prioq_init(prioq_t *q, double aging);

/* Queues item at `level` (0 = most urgent) at time `now`. Returns 0 or -ENOMEM. */
int prioq_push(prioq_t *q, prioq_item_t *item, int level, double now);

/* Removes and returns the most urgent item, or NULL when empty. */
prioq_item_t *prioq_pop(prioq_t *q);

/* Removes a queued item; a no-op when it is not queued. */
void prioq_remove(prioq_t *q, prioq_item_t *item);

static inline size_t prioq_len(const prioq_t *q) { return q->heap.len; }

/* Frees the queue (items belong to the caller). */
void prioq_free(prioq_t *q);

#endif
