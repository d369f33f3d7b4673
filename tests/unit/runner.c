/* runner.c — runs every registered unit test in its own child process with a
 * timeout, so one crash or hang does not hide the rest; ends with
 * "N passed, N failed". Arguments filter tests by substring of file or name. */
#include "test.h"

#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "run/run_lua.h"

typedef struct test_case {
    const char *file;
    const char *name;
    test_fn fn;
} test_case_t;

static test_case_t cases[2048];
static int ncases;
static int failures_in_child;

void test_register(const char *file, const char *name, test_fn fn) {
    if (ncases == (int)(sizeof cases / sizeof cases[0])) abort();
    const char *base = strrchr(file, '/');
    cases[ncases++] = (test_case_t){base ? base + 1 : file, name, fn};
}

void test_fail(const char *file, int line, const char *fmt, ...) {
    va_list ap;
    const char *base = strrchr(file, '/');
    fprintf(stderr, "    %s:%d: ", base ? base + 1 : file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    failures_in_child++;
}

static int cmp_case(const void *a, const void *b) {
    const test_case_t *x = a, *y = b;
    int c = strcmp(x->file, y->file);
    return c ? c : strcmp(x->name, y->name);
}

static int selected(const test_case_t *t, int argc, char **argv) {
    if (argc < 2) return 1;
    for (int i = 1; i < argc; i++)
        if (strstr(t->file, argv[i]) || strstr(t->name, argv[i])) return 1;
    return 0;
}

int main(int argc, char **argv) {
    int passed = 0, failed = 0;
    const char *t = getenv("TEST_TIMEOUT");
    unsigned timeout = t ? (unsigned)atoi(t) : 60;

    run_lua_lend(); /* the engine's start-up, as main() does: baton.breaker, baton.retry */

    signal(SIGPIPE, SIG_IGN);
    qsort(cases, (size_t)ncases, sizeof cases[0], cmp_case);
    for (int i = 0; i < ncases; i++) {
        if (!selected(&cases[i], argc, argv)) continue;
        fflush(stdout);
        fflush(stderr);
        pid_t pid = fork();
        if (pid < 0) {
            perror("fork");
            return 2;
        }
        if (pid == 0) {
            alarm(timeout);
            cases[i].fn();
            fflush(stdout);
            fflush(stderr);
            exit(failures_in_child ? 1 : 0); /* exit, not _exit: LeakSanitizer runs at exit */
        }
        int status = 0;
        while (waitpid(pid, &status, 0) < 0) {
        }
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
            passed++;
            printf("ok   %s %s\n", cases[i].file, cases[i].name);
        } else {
            failed++;
            if (WIFSIGNALED(status))
                printf("FAIL %s %s (signal %d%s)\n", cases[i].file, cases[i].name, WTERMSIG(status),
                       WTERMSIG(status) == SIGALRM ? ": timed out" : "");
            else
                printf("FAIL %s %s\n", cases[i].file, cases[i].name);
        }
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
