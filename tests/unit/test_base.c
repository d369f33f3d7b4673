/* test_base.c — the shared pieces of base/: the intrusive list (order, removal
 * while walking, unlinked members) and the removal of a directory tree (depth
 * first, symbolic links removed and never followed), and the log's 16 KB cut with its
 * mark. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/fs.h"
#include "base/list.h"
#include "base/log.h"
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

/* ---- the log ---- */

/* Runs emit with stderr sent to a file; returns what it wrote (static buffer). */
static const char *captured(void (*emit)(void)) {
    static char buf[64 * 1024];
    char path[] = "/tmp/baton-log-XXXXXX";
    int fd = mkstemp(path), saved = dup(STDERR_FILENO);
    CHECK(fd >= 0 && saved >= 0);
    dup2(fd, STDERR_FILENO);
    emit();
    dup2(saved, STDERR_FILENO);
    close(saved);
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    buf[n > 0 ? n : 0] = 0;
    close(fd);
    unlink(path);
    return buf;
}

static char long_msg[20000];

static void emit_long(void) { log_emit(LOG_INFO, "j", 7, "%s", long_msg); }
static void emit_exact(void) { log_emit(LOG_INFO, NULL, 0, "%.*s", LOG_MSG_MAX, long_msg); }

TEST(log_lines_past_16kb_are_cut_with_a_mark_and_never_split_a_character) {
    char want[64];
    memset(long_msg, 'x', sizeof long_msg - 1);
    long_msg[sizeof long_msg - 1] = 0;
    log_setup(LOG_INFO, 0);
    const char *out = captured(emit_long);
    snprintf(want, sizeof want, LOG_TRUNCATED_MARK "%zu bytes in all]\n", sizeof long_msg - 1);
    const char *at = strstr(out, " j run 7: ");
    CHECK(at != NULL);
    if (at) {
        at += strlen(" j run 7: ");
        CHECK_INT(strspn(at, "x"), LOG_MSG_MAX);
        CHECK_STR(at + LOG_MSG_MAX, want);
    }
    /* exactly 16 KB: whole, no mark */
    out = captured(emit_exact);
    CHECK(strstr(out, "truncated") == NULL);
    CHECK_INT(strspn(strstr(out, "info  ") + 6, "x"), LOG_MSG_MAX);
    /* a two-byte character across the cut goes whole to the mark */
    memcpy(long_msg + LOG_MSG_MAX - 1, "\xc3\xa9", 2);
    out = captured(emit_long);
    at = strstr(out, ": ") + 2;
    CHECK_INT(strspn(at, "x"), LOG_MSG_MAX - 1);
    CHECK_HAS(at, "x" LOG_TRUNCATED_MARK);
    /* JSON lines: the same cut, escaped, on one line */
    log_setup(LOG_INFO, 1);
    out = captured(emit_long);
    log_setup(LOG_INFO, 0);
    CHECK(out[0] == '{');
    CHECK_HAS(out, "\"job\":\"j\"");
    CHECK_HAS(out, LOG_TRUNCATED_MARK "19999 bytes in all]\"}\n");
    CHECK(strchr(out, '\n') == out + strlen(out) - 1);
}
