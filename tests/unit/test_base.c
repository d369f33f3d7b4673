/* test_base.c — the shared pieces of base/: the intrusive list (order, removal
 * while walking, unlinked members) and the removal of a directory tree (depth
 * first, symbolic links removed and never followed). */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/fs.h"
#include "base/list.h"
#include "test.h"

typedef struct item {
    int v;
    list_t link;
} item_t;

static int values(list_t *head, int *out, int max) {
    int n = 0;
    list_each(it, head) {
        if (n < max) out[n] = list_entry(it, item_t, link)->v;
        n++;
    }
    return n;
}

TEST(list_keeps_insertion_order_at_both_ends) {
    list_t head;
    list_init(&head);
    CHECK(list_empty(&head));
    item_t a = {.v = 1}, b = {.v = 2}, c = {.v = 3};
    list_push_back(&head, &b.link);
    list_push_back(&head, &c.link);
    list_push_front(&head, &a.link);
    int got[4] = {0};
    CHECK_INT(values(&head, got, 4), 3);
    CHECK_INT(got[0], 1);
    CHECK_INT(got[1], 2);
    CHECK_INT(got[2], 3);
    CHECK_INT(list_count(&head), 3);
    CHECK(!list_empty(&head));
}

TEST(list_remove_while_walking_frees_every_element) {
    list_t head;
    list_init(&head);
    for (int i = 0; i < 5; i++) {
        item_t *x = calloc(1, sizeof *x);
        x->v = i;
        list_push_back(&head, &x->link);
    }
    int seen = 0;
    list_each_safe(it, tmp, &head) {
        item_t *x = list_entry(it, item_t, link);
        CHECK_INT(x->v, seen);
        seen++;
        list_remove(it);
        free(x);
    }
    CHECK_INT(seen, 5);
    CHECK(list_empty(&head));
}

TEST(list_removed_member_is_unlinked_and_removing_twice_is_harmless) {
    list_t head;
    list_init(&head);
    item_t a = {.v = 1}, b = {.v = 2};
    list_init(&a.link);
    CHECK(!list_linked(&a.link));
    list_push_back(&head, &a.link);
    list_push_back(&head, &b.link);
    CHECK(list_linked(&a.link));
    list_remove(&a.link);
    CHECK(!list_linked(&a.link));
    list_remove(&a.link);
    int got[2] = {0};
    CHECK_INT(values(&head, got, 2), 1);
    CHECK_INT(got[0], 2);
}

static void touch(const char *path) {
    int fd = open(path, O_CREAT | O_WRONLY, 0600);
    CHECK(fd >= 0);
    if (fd >= 0) close(fd);
}

TEST(fs_remove_tree_removes_everything_below_and_never_follows_links) {
    char root[] = "/tmp/baton-test-fs-XXXXXX", keep[] = "/tmp/baton-test-keep-XXXXXX";
    CHECK(mkdtemp(root) != NULL);
    CHECK(mkdtemp(keep) != NULL);
    char p[256], kept[256];
    snprintf(kept, sizeof kept, "%s/precious", keep);
    touch(kept);
    snprintf(p, sizeof p, "%s/a", root);
    CHECK_INT(mkdir(p, 0700), 0);
    snprintf(p, sizeof p, "%s/a/b", root);
    CHECK_INT(mkdir(p, 0700), 0);
    snprintf(p, sizeof p, "%s/a/b/file", root);
    touch(p);
    snprintf(p, sizeof p, "%s/a/out", root);
    CHECK_INT(symlink(keep, p), 0);
    CHECK_INT(fs_remove_tree(root), 0);
    CHECK(access(root, F_OK) != 0);
    CHECK_INT(access(kept, F_OK), 0);
    unlink(kept);
    rmdir(keep);
}

TEST(fs_remove_tree_of_nothing_is_a_no_op_and_a_missing_dir_an_error) {
    CHECK_INT(fs_remove_tree(""), 0);
    CHECK_INT(fs_remove_tree(NULL), 0);
    CHECK(fs_remove_tree("/tmp/baton-test-fs-does-not-exist") < 0);
}
