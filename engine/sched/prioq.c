/* prioq.c — the ready queue on heap.c. Aging needs no re-sorting: each item's
 * key is fixed at push as enqueued_at + level * aging, so an item that has
 * waited `aging` seconds ties with one a level more urgent queued now. */
#include "prioq.h"

void prioq_init(prioq_t *q, double aging) {
    heap_init(&q->heap);
    q->aging = aging > 0 ? aging : 60;
}

int prioq_push(prioq_t *q, prioq_item_t *item, int level, double now) {
    return heap_push(&q->heap, item, now + (double)level * q->aging);
}

prioq_item_t *prioq_pop(prioq_t *q) { return heap_pop(&q->heap); }

void prioq_remove(prioq_t *q, prioq_item_t *item) { heap_remove(&q->heap, item); }

void prioq_free(prioq_t *q) { heap_free(&q->heap); }
