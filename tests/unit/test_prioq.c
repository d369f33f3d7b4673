/* test_prioq.c — the ready queue: priority order, FIFO within a priority,
 * aging so low priority cannot starve, removal. */
#include "sched/prioq.h"
#include "test.h"

typedef struct item {
    prioq_item_t q;
    int id;
} item_t;

static int pop_id(prioq_t *q) {
    item_t *it = (item_t *)prioq_pop(q);
    return it ? it->id : -1;
}

TEST(prioq_pops_most_urgent_priority_first) {
    prioq_t q;
    item_t it[4] = {{.id = 3}, {.id = 1}, {.id = 0}, {.id = 2}};
    prioq_init(&q, 60);
    prioq_push(&q, &it[0].q, 3, 100);
    prioq_push(&q, &it[1].q, 1, 100);
    prioq_push(&q, &it[2].q, 0, 100);
    prioq_push(&q, &it[3].q, 2, 100);
    CHECK_INT(pop_id(&q), 0);
    CHECK_INT(pop_id(&q), 1);
    CHECK_INT(pop_id(&q), 2);
    CHECK_INT(pop_id(&q), 3);
    CHECK_INT(pop_id(&q), -1);
    prioq_free(&q);
}

TEST(prioq_is_fifo_within_a_priority_even_at_equal_times) {
    prioq_t q;
    item_t it[50];
    prioq_init(&q, 60);
    for (int i = 0; i < 50; i++) {
        it[i].id = i;
        prioq_push(&q, &it[i].q, 2, 500);
    }
    for (int i = 0; i < 50; i++) CHECK_INT(pop_id(&q), i);
    prioq_free(&q);
}

TEST(prioq_ages_low_priority_past_newer_critical_work) {
    prioq_t q;
    item_t low = {.id = 1}, crit = {.id = 2}, crit_late = {.id = 3};
    prioq_init(&q, 60);
    /* low waited 3 levels * 60 s + 1 s before the critical start arrived */
    prioq_push(&q, &low.q, 3, 1000);
    prioq_push(&q, &crit_late.q, 0, 1181);
    /* a critical start queued while low has waited less than that still wins */
    prioq_push(&q, &crit.q, 0, 1100);
    CHECK_INT(pop_id(&q), 2);
    CHECK_INT(pop_id(&q), 1);
    CHECK_INT(pop_id(&q), 3);
    prioq_free(&q);
}

TEST(prioq_remove_keeps_heap_order) {
    prioq_t q;
    item_t it[20];
    prioq_init(&q, 10);
    for (int i = 0; i < 20; i++) {
        it[i].id = i;
        prioq_push(&q, &it[i].q, i % 4, (double)i);
    }
    for (int i = 0; i < 20; i += 3) prioq_remove(&q, &it[i].q);
    prioq_remove(&q, &it[0].q); /* removing twice is a no-op */
    double last = -1;
    int n = 0;
    for (item_t *x; (x = (item_t *)prioq_pop(&q));) {
        CHECK(x->q.key >= last);
        CHECK(x->id % 3 != 0);
        last = x->q.key;
        n++;
    }
    CHECK_INT(n, 13);
    prioq_free(&q);
}
