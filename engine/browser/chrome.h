/* chrome.h — Chromium processes the engine launches: the command line, a
 * fresh profile directory removed after exit, stderr drained for its whole
 * life, exit detection, and reaping of re-parented renderer zombies. */
#ifndef BATON_CHROME_H
#define BATON_CHROME_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef struct chrome chrome_t;

typedef struct chrome_opts {
    const char *executable; /* NULL or "": Debian's real binary behind /usr/bin/chromium */
    char *const *args;      /* extra flags (browser.args) */
    int nargs;
    int index;   /* browser number, for log lines */
    int as_user; /* 1: run it as uid/gid (the engine is root), supplementary groups
                    none; its profile is theirs, its HOME and XDG dirs inside it */
    unsigned uid, gid;
    int sandbox; /* 1: Chromium's own sandbox on; 0: --no-sandbox */
} chrome_opts_t;

/* How this engine starts its browsers, decided once (chrome_plan): as whom,
 * and whether Chromium's sandbox can be on. */
typedef struct chrome_plan {
    int as_user; /* chrome_opts_t.as_user, uid, gid */
    unsigned uid, gid;
    char user[64];     /* the user browsers run as, for health */
    int sandbox;       /* chrome_opts_t.sandbox */
    char why_off[300]; /* why the sandbox is off; "" when on */
    char error[300];   /* why no browser can start at all (e.g. no such user); "" */
} chrome_plan_t;

/* Decides the plan for browser.user (name; known, uid and gid: what
 * getpwnam said of it). When the engine runs as root, browsers run as that
 * user, unless it is root itself. The sandbox is on unless the browser runs
 * as root, or the kernel does not let its user create the namespaces
 * Chromium's sandbox needs: a child process is forked once to try. */
void chrome_plan(chrome_plan_t *out, const char *name, int known, unsigned uid, unsigned gid);

/* Fires once when the process has exited and its stderr is drained. `tail`
 * holds the last lines it wrote to stderr (may be ""). The chrome_t stays
 * valid until chrome_free. */
typedef void (*chrome_exit_cb)(void *ud, chrome_t *ch, int64_t status, int term_signal,
                               const char *tail);

/* Spawns the browser with its CDP pipe on fds 3 and 4 (cdp_stdio from
 * cdp_pipe_new). Returns 0, or a negative code with a one-line reason in err. */
int chrome_launch(chrome_t **out, uv_loop_t *loop, const chrome_opts_t *opts,
                  uv_stdio_container_t cdp_stdio[2], chrome_exit_cb on_exit, void *ud, char *err,
                  size_t errlen);

int chrome_pid(const chrome_t *ch);

/* The fresh profile directory (--user-data-dir), removed by chrome_free. */
const char *chrome_dir(const chrome_t *ch);

/* The last stderr lines (for "exited before it was ready" messages). */
const char *chrome_stderr_tail(const chrome_t *ch);

/* When the browser runs as another user (as_user) it cannot read the
 * engine's files: chrome_stage copies the file at src (an absolute path)
 * into the profile, under a folder of group's (a page number), keeping its
 * name, and writes the copy's path into out. Without as_user out is src.
 * Returns 0, or -errno with a reason in why. chrome_unstage removes group's
 * copies (the profile's removal removes them all anyway). */
int chrome_stage(chrome_t *ch, int group, const char *src, char *out, size_t len, char *why,
                 size_t whylen);
void chrome_unstage(chrome_t *ch, int group);

/* Sends sig to the browser (a no-op once it has exited). */
void chrome_kill(chrome_t *ch, int sig);

/* Kills the browser if it still runs and frees everything once it has
 * exited: the process handle, the stderr pipe, the profile directory. The
 * exit callback does not fire after this. */
void chrome_free(chrome_t *ch);

/* Makes the engine a child subreaper, so renderer and zygote processes left
 * behind by a dead browser become the engine's children; chrome_reap then
 * collects those zombies without touching the children libuv waits for. */
void chrome_subreaper(void);
int chrome_reap(void);

/* Removes the profile directories in $TMPDIR that engines which no longer
 * run (killed with -9) left behind. Returns how many were removed. */
int chrome_sweep(void);

/* The executable chrome_launch would run with these options. */
const char *chrome_executable(const chrome_opts_t *opts);

#endif
