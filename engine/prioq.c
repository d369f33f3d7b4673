/* prioq.c — a binary min-heap on (key, seq). Aging needs no re-sorting: each
 * item's key is fixed at push as enqueued_at + level * aging, so an item that
 * has waited `aging` seconds ties with one a level more urgent queued now. */
#include "prioq.h"

#include <errno.h>
#include <stdlib.h>

static int before(const prioq_item_t *a, const prioq_item_t *b) {
    return a->key < b->key || (a->key == b->key && a->seq < b->seq);
}

static void put(prioq_t *q, size_t i, prioq_item_t *it) {
    q->heap[i] = it;
    it->slot = i + 1;
}

static void up(prioq_t *q, size_t i) {
    prioq_item_t *it = q->heap[i];
    while (i > 0 && before(it, q->heap[(i - 1) / 2])) {
        put(q, i, q->heap[(i - 1) / 2]);
        i = (i - 1) / 2;
    }
    put(q, i, it);
}

static void down(prioq_t *q, size_t i) {
    prioq_item_t *it = q->heap[i];
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        const prioq_item_t *best = it;
        if (l < q->len && before(q->heap[l], best)) m = l, best = q->heap[l];
        if (r < q->len && before(q->heap[r], best)) m = r;
        if (m == i) break;
        put(q, i, q->heap[m]);
        i = m;
    }
    put(q, i, it);
}

void prioq_init(prioq_t *q, double aging) { *q = (prioq_t){.aging = aging > 0 ? aging : 60}; }

int prioq_push(prioq_t *q, prioq_item_t *item, int level, double now) {
    if (q->len == q->cap) {
        size_t cap = q->cap ? q->cap * 2 : 32;
        prioq_item_t **heap = realloc(q->heap, cap * sizeof *heap);
        if (!heap) return -ENOMEM;
        q->heap = heap;
        q->cap = cap;
    }
    item->key = now + (double)level * q->aging;
    item->seq = q->seq++;
    put(q, q->len++, item);
    up(q, q->len - 1);
    return 0;
}

void prioq_remove(prioq_t *q, prioq_item_t *item) {
    if (!item->slot) return;
    size_t i = item->slot - 1;
    prioq_item_t *last = q->heap[--q->len];
    item->slot = 0;
    if (last == item) return;
    put(q, i, last);
    up(q, i);
    down(q, last->slot - 1);
}

prioq_item_t *prioq_pop(prioq_t *q) {
    if (q->len == 0) return NULL;
    prioq_item_t *top = q->heap[0];
    prioq_remove(q, top);
    return top;
}

void prioq_free(prioq_t *q) {
    for (size_t i = 0; i < q->len; i++) q->heap[i]->slot = 0;
    free(q->heap);
    *q = (prioq_t){.aging = q->aging};
}
