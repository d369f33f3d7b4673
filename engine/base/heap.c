/* heap.c — sift up and down over an array of node pointers, keeping each
 * node's slot current so removal from the middle is O(log n). */
#include "heap.h"

#include <errno.h>
#include <stdlib.h>

static int before(const heap_node_t *a, const heap_node_t *b) {
    return a->key < b->key || (a->key == b->key && a->seq < b->seq);
}

static void put(heap_t *h, size_t i, heap_node_t *n) {
    h->v[i] = n;
    n->slot = i + 1;
}

static void up(heap_t *h, size_t i) {
    heap_node_t *n = h->v[i];
    while (i > 0 && before(n, h->v[(i - 1) / 2])) {
        put(h, i, h->v[(i - 1) / 2]);
        i = (i - 1) / 2;
    }
    put(h, i, n);
}

static void down(heap_t *h, size_t i) {
    heap_node_t *n = h->v[i];
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        const heap_node_t *best = n;
        if (l < h->len && before(h->v[l], best)) m = l, best = h->v[l];
        if (r < h->len && before(h->v[r], best)) m = r;
        if (m == i) break;
        put(h, i, h->v[m]);
        i = m;
    }
    put(h, i, n);
}

void heap_init(heap_t *h) { *h = (heap_t){0}; }

int heap_push(heap_t *h, heap_node_t *n, double key) {
    if (h->len == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 32;
        heap_node_t **v = realloc(h->v, cap * sizeof *v);
        if (!v) return -ENOMEM;
        h->v = v;
        h->cap = cap;
    }
    n->key = key;
    n->seq = h->seq++;
    put(h, h->len++, n);
    up(h, h->len - 1);
    return 0;
}

void heap_remove(heap_t *h, heap_node_t *n) {
    if (!n->slot) return;
    size_t i = n->slot - 1;
    heap_node_t *last = h->v[--h->len];
    n->slot = 0;
    if (last == n) return;
    put(h, i, last);
    up(h, i);
    down(h, last->slot - 1);
}

heap_node_t *heap_pop(heap_t *h) {
    heap_node_t *top = heap_top(h);
    if (top) heap_remove(h, top);
    return top;
}

void heap_free(heap_t *h) {
    for (size_t i = 0; i < h->len; i++) h->v[i]->slot = 0;
    free(h->v);
    *h = (heap_t){.seq = h->seq};
}
