/* heap.h — an intrusive binary min-heap ordered by (key, arrival): the timer
 * heap of vclock and the ready queue of prioq. Nodes live in their owners'
 * structs; the heap only holds pointers and each node's slot. */
#ifndef BATON_HEAP_H
#define BATON_HEAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct heap_node {
    double key;   /* smaller first */
    uint64_t seq; /* arrival order: equal keys leave FIFO */
    size_t slot;  /* index in the heap + 1; 0 when not in a heap */
} heap_node_t;

typedef struct heap {
    heap_node_t **v;
    size_t len, cap;
    uint64_t seq;
} heap_t;

/* An empty heap (no allocation until the first push). */
void heap_init(heap_t *h);

/* Inserts n, which must not be in a heap, with `key`. Returns 0 or -ENOMEM. */
int heap_push(heap_t *h, heap_node_t *n, double key);

/* Removes n; a no-op when it is not in a heap. */
void heap_remove(heap_t *h, heap_node_t *n);

/* The smallest node, or NULL when empty. */
static inline heap_node_t *heap_top(const heap_t *h) { return h->len ? h->v[0] : NULL; }

/* Removes and returns the smallest node, or NULL when empty. */
heap_node_t *heap_pop(heap_t *h);

/* Forgets every node (their slots become 0) and frees the array. */
void heap_free(heap_t *h);

#endif
