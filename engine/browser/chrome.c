/* chrome.c — launching Chromium with its CDP pipe on fds 3/4, as an
 * unprivileged user when the engine is root and with its own sandbox where
 * the kernel allows it (chrome_plan), a fresh profile directory per browser
 * (removed once it has exited), stderr kept drained, files staged where
 * the browser can read them, and collection of the renderer zombies a dead
 * browser leaves. */
#include "chrome.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/fs.h"
#include "base/list.h"
#include "base/log.h"

enum { TAIL = 2048, MAX_ARGV = 64 };

struct chrome {
    uv_process_t proc;
    uv_pipe_t err;
    int index;
    int pid;
    int exited, err_eof, reported, freeing, closing, open_handles;
    int64_t status;
    int term_signal;
    chrome_exit_cb on_exit;
    void *ud;
    char dir[256];
    int as_user;      /* it runs as another user: files reach it through uploads/ */
    int uploads_fd;   /* the profile's uploads/ (root's, created before the browser
                       * starts, so the browser's user cannot swap it); -1: none */
    unsigned staged;  /* copies made, naming each one's folder */
    list_t live_link; /* on `live` while libuv waits for it */
    char tail[TAIL];
    size_t tail_len;
};

/* Browsers libuv spawned and still waits for (a list through chrome_t, so
 * no count is too many): chrome_reap must leave their pids alone, and the
 * helpers that carry their profile directory. */
static list_t live = {&live, &live};

static int is_live(int pid) {
    list_each(it, &live) {
        if (list_entry(it, chrome_t, live_link)->pid == pid) return 1;
    }
    return 0;
}

const char *chrome_executable(const chrome_opts_t *opts) {
    if (opts && opts->executable && opts->executable[0]) return opts->executable;
    /* /usr/bin/chromium is a shell wrapper that fails its /dev/shm check here. */
    if (access("/usr/lib/chromium/chromium", X_OK) == 0) return "/usr/lib/chromium/chromium";
    return "/usr/bin/chromium";
}

static void on_handle_closed(uv_handle_t *h) {
    chrome_t *ch = h->data;
    assert(ch->closing && ch->open_handles > 0);
    if (--ch->open_handles > 0) return;
    list_remove(&ch->live_link); /* a no-op unless it never reported its exit */
    if (ch->uploads_fd >= 0) close(ch->uploads_fd);
    fs_remove_tree(ch->dir);
    free(ch);
}

static void close_handles(chrome_t *ch) {
    if (ch->closing) return;
    /* Its handles close only once its exit and the end of stderr are in. */
    assert(ch->exited && ch->err_eof && ch->reported);
    ch->closing = 1;
    ch->open_handles = 2;
    uv_close((uv_handle_t *)&ch->proc, on_handle_closed);
    uv_close((uv_handle_t *)&ch->err, on_handle_closed);
}

/* Both the exit status and the end of stderr are needed before reporting. */
static void maybe_report(chrome_t *ch) {
    if (!ch->exited || !ch->err_eof || ch->reported) return;
    assert(!ch->closing);
    ch->reported = 1;
    if (ch->freeing) {
        close_handles(ch);
        return;
    }
    if (ch->on_exit) ch->on_exit(ch->ud, ch, ch->status, ch->term_signal, ch->tail);
}

static void on_exit_cb(uv_process_t *p, int64_t status, int term_signal) {
    chrome_t *ch = p->data;
    assert(!ch->exited);
    list_remove(&ch->live_link);
    ch->exited = 1;
    ch->status = status;
    ch->term_signal = term_signal;
    maybe_report(ch);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
    static char scratch[4096];
    (void)h;
    (void)suggested;
    *buf = uv_buf_init(scratch, sizeof scratch);
}

/* Keeps the last TAIL bytes of stderr, so an early exit can say why. */
static void on_stderr(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
    chrome_t *ch = s->data;
    if (n < 0) {
        assert(!ch->err_eof);
        uv_read_stop(s);
        ch->err_eof = 1;
        maybe_report(ch);
        return;
    }
    size_t len = (size_t)n;
    if (len >= TAIL) {
        memcpy(ch->tail, buf->base + len - (TAIL - 1), TAIL - 1);
        ch->tail_len = TAIL - 1;
    } else {
        if (ch->tail_len + len >= TAIL) {
            size_t drop = ch->tail_len + len - (TAIL - 1);
            memmove(ch->tail, ch->tail + drop, ch->tail_len - drop);
            ch->tail_len -= drop;
        }
        memcpy(ch->tail + ch->tail_len, buf->base, len);
        ch->tail_len += len;
    }
    ch->tail[ch->tail_len] = 0;
}

/* ---- the plan: as whom, and with Chromium's sandbox or not ---- */

static const char *tmp_dir(void) {
    const char *tmp = getenv("TMPDIR");
    return tmp && tmp[0] ? tmp : "/tmp";
}

/* Runs in a forked child, so only async-signal-safe calls (the engine may
 * have threads): becomes the browser's user, then checks that it can reach
 * dir (where profiles are made) and create the user, PID and network
 * namespaces Chromium's sandbox makes. Reports the step that failed (0:
 * none) and its errno through fd. */
static void probe_child(int fd, const chrome_plan_t *pl, const char *dir) {
    int msg[2] = {0, 0};
    if (pl->as_user && (setgroups(0, NULL) != 0 || setgid(pl->gid) != 0 || setuid(pl->uid) != 0))
        msg[0] = 1;
    else if (access(dir, X_OK) != 0)
        msg[0] = 2;
    else if (unshare(CLONE_NEWUSER) != 0)
        msg[0] = 3;
    else if (unshare(CLONE_NEWPID | CLONE_NEWNET) != 0)
        msg[0] = 4;
    if (msg[0]) msg[1] = errno;
    if (write(fd, msg, sizeof msg) < 0) _exit(1);
    _exit(0);
}

/* Forks probe_child and fills the rest of pl from what it found. */
static void probe(chrome_plan_t *pl) {
    const char *dir = tmp_dir();
    int fds[2], msg[2] = {0, 0};
    if (pipe2(fds, O_CLOEXEC) != 0) {
        snprintf(pl->why_off, sizeof pl->why_off, "cannot test for it (pipe: %s)", strerror(errno));
        return;
    }
    pid_t pid = fork();
    int saved = errno; /* fork's, before close can change it */
    if (pid == 0) {
        close(fds[0]);
        probe_child(fds[1], pl, dir);
    }
    close(fds[1]);
    ssize_t n = -1;
    if (pid > 0) {
        do n = read(fds[0], msg, sizeof msg);
        while (n < 0 && errno == EINTR);
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
        }
    }
    close(fds[0]);
    if (pid < 0 || n != (ssize_t)sizeof msg) {
        snprintf(pl->why_off, sizeof pl->why_off, "cannot test for it (%s)",
                 pid < 0 ? strerror(saved) : "the test process said nothing");
        return;
    }
    const char *e = strerror(msg[1]);
    switch (msg[0]) {
    case 0:
        pl->sandbox = 1;
        break;
    case 1:
        snprintf(pl->error, sizeof pl->error, "cannot run the browser as browser.user '%s': %s",
                 pl->user, e);
        break;
    case 2:
        snprintf(pl->error, sizeof pl->error,
                 "browser.user '%s' cannot reach %s, where browser profiles are made (%s): make "
                 "it searchable by that user, or set TMPDIR to a directory it can reach",
                 pl->user, dir, e);
        break;
    case 3:
        snprintf(pl->why_off, sizeof pl->why_off,
                 "the kernel does not let %s create a user namespace (%s; see "
                 "user.max_user_namespaces and kernel.unprivileged_userns_clone)",
                 pl->user, e);
        break;
    default:
        snprintf(pl->why_off, sizeof pl->why_off,
                 "the kernel does not let %s create PID and network namespaces inside a user "
                 "namespace (%s; an AppArmor or SELinux restriction on user namespaces?)",
                 pl->user, e);
        break;
    }
}

void chrome_plan(chrome_plan_t *out, const char *name, int known, unsigned uid, unsigned gid) {
    memset(out, 0, sizeof *out);
    uid_t me = geteuid();
    if (me != 0) {
        /* Not root: the browser runs as the engine's own user. */
        struct passwd *pw = getpwuid(me);
        if (pw)
            snprintf(out->user, sizeof out->user, "%s", pw->pw_name);
        else
            snprintf(out->user, sizeof out->user, "uid %u", (unsigned)me);
        probe(out);
        return;
    }
    snprintf(out->user, sizeof out->user, "%s", name);
    if (!known) {
        snprintf(out->error, sizeof out->error,
                 "browser.user: no user '%s' on this system (the engine runs as root: name an "
                 "unprivileged user for its browsers)",
                 name);
        return;
    }
    if (uid == 0) {
        snprintf(out->why_off, sizeof out->why_off,
                 "the browser runs as root (browser.user = \"%s\")", name);
        return;
    }
    out->as_user = 1;
    out->uid = uid;
    out->gid = gid;
    probe(out);
}

/* Makes ch->dir the browser user's (mode 0700) with a root-owned uploads/
 * inside, kept open: the user owns the profile, so any path into it could
 * be swapped for a link by the time the engine writes there. */
static int give_profile(chrome_t *ch, const chrome_opts_t *opts, char *err, size_t errlen) {
    int dfd = open(ch->dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    int rc = 0;
    if (dfd < 0 || mkdirat(dfd, "uploads", 0755) != 0 ||
        (ch->uploads_fd = openat(dfd, "uploads", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) <
            0 ||
        fchown(dfd, opts->uid, opts->gid) != 0 || fchmod(dfd, 0700) != 0) {
        rc = -errno;
        snprintf(err, errlen, "cannot give the profile directory %s to uid %u: %s", ch->dir,
                 opts->uid, strerror(errno));
    }
    if (dfd >= 0) close(dfd);
    return rc;
}

int chrome_launch(chrome_t **out, uv_loop_t *loop, const chrome_opts_t *opts,
                  uv_stdio_container_t cdp_stdio[2], chrome_exit_cb on_exit, void *ud, char *err,
                  size_t errlen) {
    const char *exe = chrome_executable(opts);
    char dirflag[300];
    const char *argv[MAX_ARGV + 32];
    int argc = 0;
    *out = NULL;
    if (access(exe, X_OK) != 0) {
        snprintf(err, errlen,
                 "browser executable %s: %s (install chromium, or set "
                 "browser.executable)",
                 exe, strerror(errno));
        return -ENOENT;
    }
    chrome_t *ch = calloc(1, sizeof *ch);
    if (!ch) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    list_init(&ch->live_link);
    ch->uploads_fd = -1;
    /* The engine's pid in the name lets a later engine remove what a killed
     * one left behind (chrome_sweep). */
    snprintf(ch->dir, sizeof ch->dir, "%s/baton-chrome-%d-XXXXXX", tmp_dir(), (int)getpid());
    if (!mkdtemp(ch->dir)) {
        int saved = errno;
        snprintf(err, errlen, "cannot create a profile directory in %s: %s", tmp_dir(),
                 strerror(saved));
        free(ch);
        return -saved;
    }
    if (opts->as_user) {
        int rc = give_profile(ch, opts, err, errlen);
        if (rc < 0) {
            if (ch->uploads_fd >= 0) close(ch->uploads_fd);
            fs_remove_tree(ch->dir);
            free(ch);
            return rc;
        }
        ch->as_user = 1;
    }
    snprintf(dirflag, sizeof dirflag, "--user-data-dir=%s", ch->dir);

    /* setpriv keeps the pid (it execs) and makes the kernel kill the browser
     * if the engine dies without closing it. */
    if (access("/usr/bin/setpriv", X_OK) == 0) {
        argv[argc++] = "/usr/bin/setpriv";
        argv[argc++] = "--pdeathsig";
        argv[argc++] = "KILL";
        argv[argc++] = "--";
    }
    argv[argc++] = exe;
    argv[argc++] = "--headless=new";
    if (!opts->sandbox) argv[argc++] = "--no-sandbox";
    argv[argc++] = "--disable-gpu";
    argv[argc++] = "--disable-quic";
    argv[argc++] = "--no-first-run";
    argv[argc++] = "--no-default-browser-check";
    argv[argc++] = "--disable-background-networking";
    argv[argc++] = "--disable-component-update";
    argv[argc++] = "--disable-sync";
    argv[argc++] = "--disable-dev-shm-usage";
    /* Chromium keeps a spare renderer ready for the next navigation; with
     * pages reused lease after lease it is mostly started for nothing.
     * Measured: +25 % runs/s at 4 leases on 2 cores (bench/RESULTS.md). */
    argv[argc++] = "--disable-features=SpareRendererForSitePerProcess";
    argv[argc++] = "--log-level=3";
    argv[argc++] = "--remote-debugging-pipe";
    argv[argc++] = dirflag;
    for (int i = 0; i < opts->nargs && i < MAX_ARGV; i++) argv[argc++] = opts->args[i];
    argv[argc++] = "about:blank";
    argv[argc] = NULL;

    uv_stdio_container_t stdio[5];
    stdio[0].flags = UV_IGNORE;
    stdio[1].flags = UV_IGNORE;
    stdio[2].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
    stdio[2].data.stream = (uv_stream_t *)&ch->err;
    stdio[3] = cdp_stdio[0];
    stdio[4] = cdp_stdio[1];
    uv_pipe_init(loop, &ch->err, 0);
    ch->err.data = ch;
    ch->proc.data = ch;
    ch->index = opts->index;
    ch->on_exit = on_exit;
    ch->ud = ud;

    /* Chromium's own temporary files (its singleton socket directory) go
     * inside the profile, and so does its crash handler's database: it is
     * found under XDG_CONFIG_HOME, not --user-data-dir, and every crashed
     * page would otherwise leave a dump in ~/.config/chromium for good.
     * Removing the profile removes them all. A browser of another user gets
     * its HOME and XDG cache and data dirs there too (the engine's are not
     * its to write). */
    static const char *const moved[] = {
        "TMPDIR=", "XDG_CONFIG_HOME=", "HOME=", "XDG_CACHE_HOME=", "XDG_DATA_HOME="};
    size_t nmoved = opts->as_user ? 5 : 2;
    extern char **environ;
    size_t nenv = 0;
    while (environ[nenv]) nenv++;
    char **env = calloc(nenv + nmoved + 1, sizeof *env);
    char vars[5][320];
    if (!env) {
        snprintf(err, errlen, "out of memory");
        ch->exited = ch->err_eof = ch->reported = 1;
        close_handles(ch);
        return -ENOMEM;
    }
    size_t k = 0;
    for (size_t i = 0; i < nenv; i++) {
        int keep = 1;
        for (size_t m = 0; m < nmoved && keep; m++)
            keep = strncmp(environ[i], moved[m], strlen(moved[m])) != 0;
        if (keep) env[k++] = environ[i];
    }
    for (size_t m = 0; m < nmoved; m++) {
        snprintf(vars[m], sizeof vars[m], "%s%s", moved[m], ch->dir);
        env[k++] = vars[m];
    }
    env[k] = NULL;

    uv_process_options_t po = {.exit_cb = on_exit_cb,
                               .file = argv[0],
                               .args = (char **)argv,
                               .env = env,
                               .stdio = stdio,
                               .stdio_count = 5};
    /* libuv clears the supplementary groups (setgroups(0, NULL)) before
     * setgid and setuid: the browser keeps its user's primary group only. */
    if (opts->as_user) {
        po.flags |= UV_PROCESS_SETUID | UV_PROCESS_SETGID;
        po.uid = (uv_uid_t)opts->uid;
        po.gid = (uv_gid_t)opts->gid;
    }
    int rc = uv_spawn(loop, &ch->proc, &po);
    free(env);
    if (rc < 0) {
        snprintf(err, errlen, "cannot start %s: %s", exe, uv_strerror(rc));
        /* A failed spawn still leaves both handles initialised: close them. */
        ch->exited = ch->err_eof = ch->reported = 1;
        close_handles(ch);
        return rc;
    }
    ch->pid = ch->proc.pid;
    list_push_front(&live, &ch->live_link);
    uv_read_start((uv_stream_t *)&ch->err, on_alloc, on_stderr);
    *out = ch;
    return 0;
}

int chrome_pid(const chrome_t *ch) { return ch->pid; }

const char *chrome_dir(const chrome_t *ch) { return ch->dir; }

const char *chrome_stderr_tail(const chrome_t *ch) { return ch->tail; }

/* Copies what is left of in to out, the kernel's way first. */
static int copy_fd(int in, int out) {
    char buf[65536];
    for (;;) {
        ssize_t n = copy_file_range(in, NULL, out, NULL, 1 << 30, 0);
        if (n == 0) return 0;
        if (n > 0) continue;
        if (errno == EINTR) continue;
        if (errno != EXDEV && errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP)
            return -errno;
        break;
    }
    for (;;) {
        ssize_t n = read(in, buf, sizeof buf);
        if (n == 0) return 0;
        if (n < 0) {
            if (errno == EINTR) continue;
            return -errno;
        }
        for (ssize_t done = 0; done < n;) {
            ssize_t w = write(out, buf + done, (size_t)(n - done));
            if (w < 0 && errno == EINTR) continue;
            if (w < 0) return -errno;
            done += w;
        }
    }
}

/* mkdirat (an existing one is fine) and open it, never through a link. */
static int open_subdir(int dfd, const char *name) {
    if (mkdirat(dfd, name, 0755) != 0 && errno != EEXIST) return -1;
    return openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

int chrome_stage(chrome_t *ch, int group, const char *src, char *out, size_t len, char *why,
                 size_t whylen) {
    const char *base = strrchr(src, '/');
    base = base ? base + 1 : src;
    if (!ch->as_user) {
        snprintf(out, len, "%s", src);
        return 0;
    }
    char gname[32], nname[32];
    snprintf(gname, sizeof gname, "%d", group);
    snprintf(nname, sizeof nname, "%u", ++ch->staged);
    int in = -1, gfd = -1, nfd = -1, fd = -1, rc = 0;
    if (!base[0] || ch->uploads_fd < 0) {
        rc = -EINVAL;
    } else if ((in = open(src, O_RDONLY | O_CLOEXEC)) < 0 ||
               (gfd = open_subdir(ch->uploads_fd, gname)) < 0 ||
               (nfd = open_subdir(gfd, nname)) < 0 ||
               (fd = openat(nfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                            0644)) < 0) {
        rc = -errno;
    } else {
        rc = copy_fd(in, fd);
    }
    if (fd >= 0 && close(fd) != 0 && rc == 0) rc = -errno;
    if (in >= 0) close(in);
    if (nfd >= 0) close(nfd);
    if (gfd >= 0) close(gfd);
    if (rc < 0) {
        snprintf(why, whylen, "cannot copy it where the browser can read it: %s", strerror(-rc));
        return rc;
    }
    snprintf(out, len, "%s/uploads/%s/%s/%s", ch->dir, gname, nname, base);
    return 0;
}

/* Removes name in dfd and, for a directory, all it holds, never through a
 * link. uploads/ is root's: nothing in it changes under the walk. */
static void remove_at(int dfd, const char *name, int depth) {
    if (unlinkat(dfd, name, 0) == 0 || errno != EISDIR || depth > 4) return;
    int sub = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    DIR *d = sub >= 0 ? fdopendir(sub) : NULL;
    if (!d) {
        if (sub >= 0) close(sub);
        return;
    }
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            remove_at(dirfd(d), e->d_name, depth + 1);
    closedir(d);
    unlinkat(dfd, name, AT_REMOVEDIR);
}

void chrome_unstage(chrome_t *ch, int group) {
    char gname[32];
    if (!ch || ch->uploads_fd < 0) return;
    snprintf(gname, sizeof gname, "%d", group);
    remove_at(ch->uploads_fd, gname, 0);
}

void chrome_kill(chrome_t *ch, int sig) {
    if (!ch->exited) uv_process_kill(&ch->proc, sig);
}

void chrome_free(chrome_t *ch) {
    if (!ch || ch->freeing) return;
    assert(!ch->closing);
    ch->freeing = 1;
    if (ch->reported) {
        close_handles(ch);
        return;
    }
    chrome_kill(ch, SIGKILL);
    /* maybe_report closes the handles once the exit and EOF have arrived. */
}

int chrome_sweep(void) {
    const char *tmp = getenv("TMPDIR");
    const char *dir = tmp && tmp[0] ? tmp : "/tmp";
    DIR *d = opendir(dir);
    struct dirent *e;
    int removed = 0;
    if (!d) return 0;
    while ((e = readdir(d))) {
        int pid;
        char path[4096];
        if (sscanf(e->d_name, "baton-chrome-%d-", &pid) != 1 || pid <= 0) continue;
        /* Only when that engine is gone (a live pid, even another program's, is left alone). */
        if (pid == getpid() || kill(pid, 0) == 0 || errno != ESRCH) continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        fs_remove_tree(path);
        removed++;
    }
    closedir(d);
    return removed;
}

void chrome_subreaper(void) { prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); }

/* Reads /proc/PID/NAME (NUL-separated) into buf; returns the length. */
static size_t read_proc(int pid, const char *name, char *buf, size_t cap) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/%s", pid, name);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    size_t n = fread(buf, 1, cap - 1, f);
    fclose(f);
    buf[n] = 0;
    return n;
}

/* A helper of one of this engine's browsers names its profile directory in
 * its command line (renderers, --user-data-dir) or its environment (the
 * crash handlers, TMPDIR and XDG_CONFIG_HOME). Returns 1 when it names one
 * and no browser that still runs owns that directory. */
static int orphaned_helper(int pid, int me) {
    static char blob[65536];
    char mark[48];
    int n = snprintf(mark, sizeof mark, "/baton-chrome-%d-", me);
    for (int part = 0; part < 2; part++) {
        size_t len = read_proc(pid, part ? "environ" : "cmdline", blob, sizeof blob);
        const char *hit = memmem(blob, len, mark, (size_t)n);
        if (!hit) continue;
        list_each(it, &live) {
            const chrome_t *ch = list_entry(it, chrome_t, live_link);
            if (memmem(blob, len, ch->dir, strlen(ch->dir))) return 0;
        }
        return 1;
    }
    return 0;
}

/* Collects zombie children libuv did not spawn (renderers, zygotes and
 * crash handlers of a dead browser, re-parented here), and kills such
 * helpers that outlive their browser: a crash handler that attached to
 * another with ptrace keeps that one unreapable for as long as it lives.
 * Never waitpid(-1): that would steal the statuses libuv waits for.
 * Returns the number reaped or killed. */
int chrome_reap(void) {
    DIR *d = opendir("/proc");
    struct dirent *e;
    int me = getpid(), done = 0;
    if (!d) return 0;
    while ((e = readdir(d))) {
        char buf[512];
        int pid = atoi(e->d_name);
        if (pid <= 0 || is_live(pid)) continue;
        if (!read_proc(pid, "stat", buf, sizeof buf)) continue;
        /* pid (comm) state ppid ...; comm may hold spaces and parens. */
        char *rp = strrchr(buf, ')');
        char state;
        int ppid;
        if (!rp || sscanf(rp + 1, " %c %d", &state, &ppid) != 2 || ppid != me) continue;
        if (state == 'Z') {
            if (waitpid(pid, NULL, WNOHANG) == pid) done++;
        } else if (orphaned_helper(pid, me) && kill(pid, SIGKILL) == 0) {
            done++;
        }
    }
    closedir(d);
    return done;
}
