/* chrome.h — Chromium processes the engine launches: the command line, a
 * fresh profile directory removed after exit, stderr drained for its whole
 * life, exit detection, and reaping of re-parented renderer zombies. */
#ifndef BATON_CHROME_H
#define BATON_CHROME_H

#include <stdint.h>
#include <uv.h>

typedef struct chrome chrome_t;

typedef struct chrome_opts {
    const char *executable; /* NULL or "": Debian's real binary behind /usr/bin/chromium */
    char *const *args;      /* extra flags (browser.args) */
    int nargs;
    int index; /* browser number, for log lines */
} chrome_opts_t;

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
