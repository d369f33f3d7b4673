/* list.h — the one intrusive doubly linked list of the engine: a list_t is
 * embedded in each element, and a list's head is a list_t that links to
 * itself when empty (circular, so insert and remove need no branches). An
 * element belongs to at most one list through a given member. Header only. */
#ifndef BATON_LIST_H
#define BATON_LIST_H

#include <stddef.h>

typedef struct list {
    struct list *next, *prev;
} list_t;

/* Makes head an empty list; also marks a member as on no list. */
static inline void list_init(list_t *head) { head->next = head->prev = head; }

static inline int list_empty(const list_t *head) { return head->next == head; }

/* Whether a member initialised with list_init (or removed) is on a list. */
static inline int list_linked(const list_t *n) { return n->next != n; }

/* Appends n at the tail of head. n must not be on a list. */
static inline void list_push_back(list_t *head, list_t *n) {
    n->prev = head->prev;
    n->next = head;
    head->prev->next = n;
    head->prev = n;
}

/* Inserts n at the front of head. n must not be on a list. */
static inline void list_push_front(list_t *head, list_t *n) {
    n->next = head->next;
    n->prev = head;
    head->next->prev = n;
    head->next = n;
}

/* Takes n off its list and leaves it unlinked (list_linked is 0); removing an
 * unlinked member is a no-op. */
static inline void list_remove(list_t *n) {
    n->prev->next = n->next;
    n->next->prev = n->prev;
    n->next = n->prev = n;
}

static inline size_t list_count(const list_t *head) {
    size_t n = 0;
    for (const list_t *p = head->next; p != head; p = p->next) n++;
    return n;
}

/* The element of type `type` whose member `member` is the list_t at ptr. */
#define list_entry(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

/* Walks head; it = the current list_t. The _safe form keeps the next link so
 * the body may list_remove (or free) the current element. */
#define list_each(it, head) for (list_t *it = (head)->next; it != (head); it = it->next)
#define list_each_safe(it, tmp, head)                                                              \
    for (list_t *it = (head)->next, *tmp = it->next; it != (head); it = tmp, tmp = it->next)

#endif
